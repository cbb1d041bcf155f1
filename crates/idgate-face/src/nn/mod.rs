//! The small set of neural-network operators the built-in face engine needs, in plain Rust.
//!
//! Owns the [`Tensor`] type (one image, channels-last "HWC" like TensorFlow's NHWC with N = 1, so
//! the TF.js weight layouts of `@vladmandic/face-api` apply unchanged) and the operators of the three
//! networks: convolution (im2col + `matrixmultiply::sgemm`), depthwise and pointwise convolution,
//! max and average pooling, ReLU / leaky ReLU, element-wise add, per-channel affine, and the fully
//! connected layer. Padding follows TensorFlow's definitions of `"same"` and `"valid"`, because the
//! weights were trained (or converted) under them; an off-by-one in padding shifts every feature map.
//!
//! Shapes are checked where a tensor meets a weight, and a mismatch is a [`FaceError::Inference`],
//! never a panic. This module knows nothing about faces; the networks live in `detector`,
//! `landmarks` and `embedding`.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

pub mod weights;

use crate::FaceError;

/// A single feature map of `height × width × channels` values, channels fastest.
#[derive(Clone)]
pub struct Tensor {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels per pixel.
    pub channels: usize,
    /// `height * width * channels` values, row-major, channels-last.
    pub data: Vec<f32>,
}

impl std::fmt::Debug for Tensor {
    /// Shapes only: a feature map is derived from a face.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({}x{}x{})",
            self.height, self.width, self.channels
        )
    }
}

impl Tensor {
    /// A tensor of zeros.
    #[must_use]
    pub fn zeros(height: usize, width: usize, channels: usize) -> Self {
        Self {
            height,
            width,
            channels,
            data: vec![0.0; height * width * channels],
        }
    }

    /// Wraps `data`, checking its length against the shape.
    ///
    /// # Errors
    /// [`FaceError::Inference`] when the length does not match.
    pub fn from_vec(
        height: usize,
        width: usize,
        channels: usize,
        data: Vec<f32>,
    ) -> Result<Self, FaceError> {
        if height
            .checked_mul(width)
            .and_then(|v| v.checked_mul(channels))
            != Some(data.len())
        {
            return Err(inference("tensor data does not match its shape"));
        }
        Ok(Self {
            height,
            width,
            channels,
            data,
        })
    }
}

/// How a convolution or pool treats the borders, in TensorFlow's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`; the missing rows/columns are split with the extra one
    /// after (bottom/right), as TensorFlow does.
    Same,
    /// No padding: output size `floor((in - k) / stride) + 1`.
    Valid,
    /// A fixed number of zero rows/columns on every side, then `Valid` (the tiny detector's
    /// `tf.pad(x, 1)` before its 3×3 convolutions).
    Explicit(usize),
}

/// Output size and leading pad of one spatial axis.
fn axis_geometry(
    input: usize,
    k: usize,
    stride: usize,
    padding: Padding,
) -> Result<(usize, usize), FaceError> {
    if stride == 0 || k == 0 {
        return Err(inference("zero kernel or stride"));
    }
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = ((out.saturating_sub(1)) * stride + k).saturating_sub(input);
            Ok((out, needed / 2))
        }
        Padding::Valid => {
            if input < k {
                return Err(inference("input smaller than kernel"));
            }
            Ok(((input - k) / stride + 1, 0))
        }
        Padding::Explicit(p) => {
            let padded = input + 2 * p;
            if padded < k {
                return Err(inference("input smaller than kernel"));
            }
            Ok(((padded - k) / stride + 1, p))
        }
    }
}

pub(crate) fn inference(reason: &str) -> FaceError {
    FaceError::Inference {
        reason: reason.to_owned(),
    }
}

/// Inner dimension up to which [`matmul`] uses its own loop rather than sgemm.
const SMALL_K: usize = 32;

/// `c[m×n] = a[m×k] · b[k×n]` (+ `c` when `accumulate`), all row-major.
#[allow(unsafe_code, reason = "matrixmultiply's sgemm takes raw pointers")]
fn matmul(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) -> Result<(), FaceError> {
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        return Err(inference("matrix dimensions disagree"));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k <= SMALL_K {
        // Thin products (first layers, pointwise convs on few channels): sgemm's packing costs
        // more than it saves; a row-times-matrix loop vectorises over `n` instead.
        for (a_row, c_row) in a.chunks_exact(k.max(1)).zip(c.chunks_exact_mut(n)) {
            if !accumulate {
                c_row.fill(0.0);
            }
            for (av, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                for (cv, bv) in c_row.iter_mut().zip(b_row) {
                    *cv += av * bv;
                }
            }
        }
        return Ok(());
    }
    let (Ok(rsa), Ok(rsb), Ok(rsc)) = (isize::try_from(k), isize::try_from(n), isize::try_from(n))
    else {
        return Err(inference("matrix too large"));
    };
    let beta = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the slices hold exactly m×k, k×n and m×n elements (checked above), laid out
    // row-major with the given row strides and unit column strides, so every index sgemm
    // computes, `row * rs + col` with row < rows and col < cols, is inside its slice; `c` is
    // borrowed mutably and so aliases neither `a` nor `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            1,
            b.as_ptr(),
            rsb,
            1,
            beta,
            c.as_mut_ptr(),
            rsc,
            1,
        );
    }
    Ok(())
}

/// A dense convolution's parameters: filters in TF layout `[kh, kw, in, out]` and one bias per
/// output channel.
#[derive(Clone)]
pub struct Conv {
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// `kh * kw * cin * cout` values.
    pub filters: Vec<f32>,
    /// `cout` values.
    pub bias: Vec<f32>,
}

impl Conv {
    /// Runs the convolution: im2col into `[out_pixels, kh*kw*cin]`, then one sgemm with the
    /// filters, which in TF's HWIO layout already are the `[kh*kw*cin, cout]` matrix.
    ///
    /// # Errors
    /// [`FaceError::Inference`] on a channel mismatch or an input smaller than the kernel.
    pub fn forward(
        &self,
        x: &Tensor,
        stride: usize,
        padding: Padding,
    ) -> Result<Tensor, FaceError> {
        if x.channels != self.cin {
            return Err(inference(
                "convolution input channels disagree with filters",
            ));
        }
        if self.filters.len() != self.kh * self.kw * self.cin * self.cout
            || self.bias.len() != self.cout
        {
            return Err(inference(
                "convolution parameters disagree with their shape",
            ));
        }
        let (oh, pad_top) = axis_geometry(x.height, self.kh, stride, padding)?;
        let (ow, pad_left) = axis_geometry(x.width, self.kw, stride, padding)?;
        let kcols = self.kh * self.kw * self.cin;
        let mut out = Tensor::zeros(oh, ow, self.cout);
        for chunk in out.data.chunks_exact_mut(self.cout) {
            chunk.copy_from_slice(&self.bias);
        }
        if self.kh == 1 && self.kw == 1 && stride == 1 && pad_top == 0 && pad_left == 0 {
            matmul(
                &x.data,
                &self.filters,
                &mut out.data,
                oh * ow,
                kcols,
                self.cout,
                true,
            )?;
            return Ok(out);
        }
        // Process output rows in bands so the im2col buffer stays a few megabytes.
        let band_rows = (1 << 20) / (ow * kcols).max(1);
        let band_rows = band_rows.clamp(1, oh.max(1));
        let mut cols = vec![0.0f32; band_rows * ow * kcols];
        let mut oy0 = 0;
        while oy0 < oh {
            let rows = band_rows.min(oh - oy0);
            let buf = &mut cols[..rows * ow * kcols];
            im2col(
                x, buf, oy0, rows, ow, self.kh, self.kw, stride, pad_top, pad_left,
            );
            let dst = &mut out.data[oy0 * ow * self.cout..(oy0 + rows) * ow * self.cout];
            matmul(buf, &self.filters, dst, rows * ow, kcols, self.cout, true)?;
            oy0 += rows;
        }
        Ok(out)
    }
}

/// Fills `buf` with the patches of output rows `oy0..oy0+rows`; out-of-image taps are zero.
#[allow(clippy::too_many_arguments)]
fn im2col(
    x: &Tensor,
    buf: &mut [f32],
    oy0: usize,
    rows: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad_top: usize,
    pad_left: usize,
) {
    let c = x.channels;
    let patch = kh * kw * c;
    for r in 0..rows {
        let oy = oy0 + r;
        for ox in 0..ow {
            let dst = &mut buf[(r * ow + ox) * patch..(r * ow + ox + 1) * patch];
            for ky in 0..kh {
                let iy = (oy * stride + ky).wrapping_sub(pad_top);
                let row = &mut dst[ky * kw * c..(ky + 1) * kw * c];
                if iy >= x.height {
                    row.fill(0.0);
                    continue;
                }
                let ix0 = (ox * stride).wrapping_sub(pad_left);
                if ox * stride >= pad_left && ix0 + kw <= x.width {
                    // Interior: the kw taps of this kernel row are contiguous in the input.
                    let src = (iy * x.width + ix0) * c;
                    row.copy_from_slice(&x.data[src..src + kw * c]);
                    continue;
                }
                for kx in 0..kw {
                    let ix = (ox * stride + kx).wrapping_sub(pad_left);
                    let tap = &mut row[kx * c..(kx + 1) * c];
                    if ix >= x.width {
                        tap.fill(0.0);
                    } else {
                        let src = (iy * x.width + ix) * c;
                        tap.copy_from_slice(&x.data[src..src + c]);
                    }
                }
            }
        }
    }
}

/// A depthwise-separable convolution: a per-channel 3×3 (or k×k) filter `[kh, kw, c, 1]`, then a
/// pointwise `[1, 1, c, out]` filter and a bias (TF `separableConv2d` + `add`).
#[derive(Clone)]
pub struct SeparableConv {
    /// Kernel height of the depthwise filter.
    pub kh: usize,
    /// Kernel width of the depthwise filter.
    pub kw: usize,
    /// Channels in.
    pub cin: usize,
    /// Channels out.
    pub cout: usize,
    /// `kh * kw * cin` depthwise values.
    pub depthwise: Vec<f32>,
    /// `cin * cout` pointwise values.
    pub pointwise: Vec<f32>,
    /// `cout` values.
    pub bias: Vec<f32>,
}

impl SeparableConv {
    /// Depthwise then pointwise convolution plus bias.
    ///
    /// # Errors
    /// [`FaceError::Inference`] on a shape mismatch.
    pub fn forward(
        &self,
        x: &Tensor,
        stride: usize,
        padding: Padding,
    ) -> Result<Tensor, FaceError> {
        if x.channels != self.cin
            || self.pointwise.len() != self.cin * self.cout
            || self.bias.len() != self.cout
        {
            return Err(inference(
                "separable convolution parameters disagree with their shape",
            ));
        }
        let dw = depthwise(x, &self.depthwise, self.kh, self.kw, stride, padding)?;
        let mut out = Tensor::zeros(dw.height, dw.width, self.cout);
        for chunk in out.data.chunks_exact_mut(self.cout) {
            chunk.copy_from_slice(&self.bias);
        }
        matmul(
            &dw.data,
            &self.pointwise,
            &mut out.data,
            dw.height * dw.width,
            self.cin,
            self.cout,
            true,
        )?;
        Ok(out)
    }
}

/// Depthwise convolution with multiplier 1: each channel convolved with its own `kh × kw` filter.
fn depthwise(
    x: &Tensor,
    filters: &[f32],
    kh: usize,
    kw: usize,
    stride: usize,
    padding: Padding,
) -> Result<Tensor, FaceError> {
    let c = x.channels;
    if filters.len() != kh * kw * c {
        return Err(inference(
            "depthwise filter size disagrees with input channels",
        ));
    }
    let (oh, pad_top) = axis_geometry(x.height, kh, stride, padding)?;
    let (ow, pad_left) = axis_geometry(x.width, kw, stride, padding)?;
    let mut out = Tensor::zeros(oh, ow, c);
    for oy in 0..oh {
        for ox in 0..ow {
            let dst = &mut out.data[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            for ky in 0..kh {
                let iy = (oy * stride + ky).wrapping_sub(pad_top);
                if iy >= x.height {
                    continue;
                }
                for kx in 0..kw {
                    let ix = (ox * stride + kx).wrapping_sub(pad_left);
                    if ix >= x.width {
                        continue;
                    }
                    let src = &x.data[(iy * x.width + ix) * c..(iy * x.width + ix + 1) * c];
                    let f = &filters[(ky * kw + kx) * c..(ky * kw + kx + 1) * c];
                    for ((d, s), w) in dst.iter_mut().zip(src).zip(f) {
                        *d += s * w;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Max pooling; TF "same" padding ignores the padded taps (they count as −∞).
///
/// # Errors
/// [`FaceError::Inference`] for an input smaller than the window under `Valid`.
pub fn max_pool(
    x: &Tensor,
    k: usize,
    stride: usize,
    padding: Padding,
) -> Result<Tensor, FaceError> {
    pool(x, k, stride, padding, true)
}

/// Average pooling over the taps inside the input (TF excludes padding from the count).
///
/// # Errors
/// As [`max_pool`].
pub fn avg_pool(
    x: &Tensor,
    k: usize,
    stride: usize,
    padding: Padding,
) -> Result<Tensor, FaceError> {
    pool(x, k, stride, padding, false)
}

fn pool(
    x: &Tensor,
    k: usize,
    stride: usize,
    padding: Padding,
    is_max: bool,
) -> Result<Tensor, FaceError> {
    let c = x.channels;
    let (oh, pad_top) = axis_geometry(x.height, k, stride, padding)?;
    let (ow, pad_left) = axis_geometry(x.width, k, stride, padding)?;
    let mut out = Tensor::zeros(oh, ow, c);
    let init = if is_max { f32::NEG_INFINITY } else { 0.0 };
    for oy in 0..oh {
        for ox in 0..ow {
            let dst = &mut out.data[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            dst.fill(init);
            let mut count = 0u32;
            for ky in 0..k {
                let iy = (oy * stride + ky).wrapping_sub(pad_top);
                if iy >= x.height {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * stride + kx).wrapping_sub(pad_left);
                    if ix >= x.width {
                        continue;
                    }
                    count += 1;
                    let src = &x.data[(iy * x.width + ix) * c..(iy * x.width + ix + 1) * c];
                    if is_max {
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d = d.max(*s);
                        }
                    } else {
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
            if count == 0 {
                dst.fill(0.0);
            } else if !is_max {
                #[allow(clippy::cast_precision_loss)]
                let inv = 1.0 / count as f32;
                for d in dst.iter_mut() {
                    *d *= inv;
                }
            }
        }
    }
    Ok(out)
}

/// `max(x, 0)` in place.
pub fn relu(x: &mut Tensor) {
    for v in &mut x.data {
        *v = v.max(0.0);
    }
}

/// Leaky ReLU with slope 0.1 for negative inputs, as Tiny-YOLOv2 uses.
pub fn leaky_relu(x: &mut Tensor) {
    for v in &mut x.data {
        if *v < 0.0 {
            *v *= 0.1;
        }
    }
}

/// `a += b` element-wise.
///
/// # Errors
/// [`FaceError::Inference`] when the shapes differ.
pub fn add_assign(a: &mut Tensor, b: &Tensor) -> Result<(), FaceError> {
    if a.height != b.height || a.width != b.width || a.channels != b.channels {
        return Err(inference("element-wise add of different shapes"));
    }
    for (x, y) in a.data.iter_mut().zip(&b.data) {
        *x += y;
    }
    Ok(())
}

/// Per-channel `x * scale + offset` (dlib's affine layer that replaced batch-norm).
///
/// # Errors
/// [`FaceError::Inference`] when the vectors do not have one value per channel.
pub fn channel_affine(x: &mut Tensor, scale: &[f32], offset: &[f32]) -> Result<(), FaceError> {
    if scale.len() != x.channels || offset.len() != x.channels {
        return Err(inference("affine parameters disagree with channels"));
    }
    for px in x.data.chunks_exact_mut(x.channels) {
        for ((v, s), o) in px.iter_mut().zip(scale).zip(offset) {
            *v = *v * s + o;
        }
    }
    Ok(())
}

/// Fully connected layer: `x[in] · weights[in × out] (+ bias)`.
///
/// # Errors
/// [`FaceError::Inference`] on a size mismatch.
pub fn dense(
    x: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out_len: usize,
) -> Result<Vec<f32>, FaceError> {
    let mut out = match bias {
        Some(b) if b.len() == out_len => b.to_vec(),
        Some(_) => return Err(inference("dense bias disagrees with output size")),
        None => vec![0.0; out_len],
    };
    matmul(x, weights, &mut out, 1, x.len(), out_len, true)?;
    Ok(out)
}

/// Mean over all pixels, one value per channel.
#[must_use]
pub fn global_mean(x: &Tensor) -> Vec<f32> {
    let mut sum = vec![0.0f32; x.channels];
    if x.channels == 0 {
        return sum;
    }
    for px in x.data.chunks_exact(x.channels) {
        for (s, v) in sum.iter_mut().zip(px) {
            *s += v;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = (x.height * x.width).max(1) as f32;
    for s in &mut sum {
        *s /= n;
    }
    sum
}

#[cfg(test)]
#[path = "ops_test.rs"]
mod tests;
