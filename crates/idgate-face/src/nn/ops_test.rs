//! Operator tests against direct definitions (TensorFlow semantics for padding).

use super::*;

fn ramp(h: usize, w: usize, c: usize) -> Tensor {
    #[allow(clippy::cast_precision_loss)]
    let data = (0..h * w * c)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    Tensor::from_vec(h, w, c, data).unwrap()
}

/// Direct convolution over TF-padded input.
fn naive_conv(x: &Tensor, conv: &Conv, stride: usize, padding: Padding) -> Tensor {
    let (oh, pt) = axis_geometry(x.height, conv.kh, stride, padding).unwrap();
    let (ow, pl) = axis_geometry(x.width, conv.kw, stride, padding).unwrap();
    let mut out = Tensor::zeros(oh, ow, conv.cout);
    for oy in 0..oh {
        for ox in 0..ow {
            for co in 0..conv.cout {
                let mut acc = conv.bias[co];
                for ky in 0..conv.kh {
                    for kx in 0..conv.kw {
                        let iy = (oy * stride + ky) as isize - pt as isize;
                        let ix = (ox * stride + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy as usize >= x.height || ix as usize >= x.width {
                            continue;
                        }
                        for ci in 0..conv.cin {
                            let v =
                                x.data[((iy as usize) * x.width + ix as usize) * x.channels + ci];
                            let w = conv.filters
                                [((ky * conv.kw + kx) * conv.cin + ci) * conv.cout + co];
                            acc += v * w;
                        }
                    }
                }
                out.data[(oy * ow + ox) * conv.cout + co] = acc;
            }
        }
    }
    out
}

fn close(a: &Tensor, b: &Tensor) {
    assert_eq!(
        (a.height, a.width, a.channels),
        (b.height, b.width, b.channels)
    );
    for (x, y) in a.data.iter().zip(&b.data) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

fn conv(k: usize, cin: usize, cout: usize) -> Conv {
    let w = ramp(k, k, cin * cout);
    Conv {
        kh: k,
        kw: k,
        cin,
        cout,
        filters: w.data,
        bias: (0..cout).map(|i| i as f32 * 0.1).collect(),
    }
}

#[test]
fn same_padding_puts_the_odd_pad_after() {
    // TF: in 112, k 3, s 2 -> out 56, total pad 1, before 0.
    assert_eq!(axis_geometry(112, 3, 2, Padding::Same).unwrap(), (56, 0));
    // in 7, k 3, s 1 -> out 7, pad 1 before.
    assert_eq!(axis_geometry(7, 3, 1, Padding::Same).unwrap(), (7, 1));
    // in 207, k 2, s 2 -> out 104.
    assert_eq!(axis_geometry(207, 2, 2, Padding::Same).unwrap().0, 104);
    // dlib ResNet: 150 -> 72 after 7x7/2 valid.
    assert_eq!(axis_geometry(150, 7, 2, Padding::Valid).unwrap(), (72, 0));
}

#[test]
fn im2col_convolution_matches_direct_convolution() {
    let x = ramp(9, 7, 3);
    for (k, stride, padding) in [
        (3, 1, Padding::Same),
        (3, 2, Padding::Same),
        (3, 2, Padding::Valid),
        (7, 2, Padding::Valid),
        (1, 1, Padding::Valid),
        (3, 1, Padding::Explicit(1)),
    ] {
        let c = conv(k, 3, 5);
        close(
            &c.forward(&x, stride, padding).unwrap(),
            &naive_conv(&x, &c, stride, padding),
        );
    }
}

#[test]
fn separable_convolution_equals_depthwise_then_pointwise() {
    let x = ramp(6, 5, 4);
    let sep = SeparableConv {
        kh: 3,
        kw: 3,
        cin: 4,
        cout: 2,
        depthwise: ramp(3, 3, 4).data,
        pointwise: ramp(1, 1, 8).data,
        bias: vec![0.5, -0.5],
    };
    let got = sep.forward(&x, 2, Padding::Same).unwrap();
    // Depthwise as a dense conv with a block-diagonal filter, then 1x1.
    let mut dense_dw = vec![0.0; 9 * 4 * 4];
    for tap in 0..9 {
        for c in 0..4 {
            dense_dw[(tap * 4 + c) * 4 + c] = sep.depthwise[tap * 4 + c];
        }
    }
    let dw = Conv {
        kh: 3,
        kw: 3,
        cin: 4,
        cout: 4,
        filters: dense_dw,
        bias: vec![0.0; 4],
    };
    let mid = naive_conv(&x, &dw, 2, Padding::Same);
    let pw = Conv {
        kh: 1,
        kw: 1,
        cin: 4,
        cout: 2,
        filters: sep.pointwise.clone(),
        bias: sep.bias.clone(),
    };
    close(&got, &naive_conv(&mid, &pw, 1, Padding::Valid));
}

#[test]
fn max_pool_same_ignores_padding_and_avg_pool_averages() {
    let x = Tensor::from_vec(
        3,
        3,
        1,
        vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0],
    )
    .unwrap();
    let m = max_pool(&x, 2, 2, Padding::Same).unwrap();
    assert_eq!(m.data, vec![-1.0, -3.0, -7.0, -9.0]);
    let a = avg_pool(&x, 2, 2, Padding::Valid).unwrap();
    assert_eq!(a.data, vec![-3.0]);
}

#[test]
fn shape_mismatch_is_an_error_not_a_panic() {
    let x = ramp(4, 4, 2);
    assert!(conv(3, 3, 4).forward(&x, 1, Padding::Same).is_err());
    assert!(conv(7, 2, 4).forward(&x, 1, Padding::Valid).is_err());
    assert!(dense(&[1.0, 2.0], &[1.0; 3], None, 2).is_err());
}
