//! Face alignment: the 150×150 "face chip" the dlib ResNet was trained on.
//!
//! dlib's `get_face_chip_details(shape, 150, 0.25)` maps 33 of the 68 landmarks (nose 27–35,
//! eyes 36–47, outer and upper mouth 48–54 and 60–64; jaw, brows and lower lip are ignored) onto a
//! mean-face template by the least-squares similarity transform, and `extract_image_chip` samples
//! the chip bilinearly. The embedding is only as good as this alignment, so it reproduces dlib's
//! choice of points, template and padding exactly.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use crate::image::bilinear;
use crate::nn::{Tensor, inference};
use crate::{FaceError, Image, LANDMARK_COUNT, Point};

/// Side of the aligned chip in pixels.
pub const CHIP_SIZE: usize = 150;
/// Border around the template, as a fraction of the template size (dlib's
/// `compute_face_descriptor` default).
pub const CHIP_PADDING: f32 = 0.25;

/// Mean positions of landmarks 17–67 in a unit square: data from dlib 19.24
/// `dlib/image_transforms/interpolation.h` (`get_face_chip_details`), © Davis E. King, distributed
/// under the Boost Software License 1.0. Reproducing the numbers keeps our chips identical to the
/// ones the ResNet was trained on.
const MEAN_FACE_X: [f32; 51] = [
    0.000_213_256,
    0.075_262_2,
    0.181_13,
    0.290_77,
    0.393_397,
    0.586_856,
    0.689_483,
    0.799_124,
    0.904_991,
    0.980_04,
    0.490_127,
    0.490_127,
    0.490_127,
    0.490_127,
    0.366_88,
    0.426_036,
    0.490_127,
    0.554_217,
    0.613_373,
    0.121_737,
    0.187_122,
    0.265_825,
    0.334_606,
    0.260_918,
    0.182_743,
    0.645_647,
    0.714_428,
    0.793_132,
    0.858_516,
    0.797_51,
    0.719_335,
    0.254_149,
    0.340_985,
    0.428_858,
    0.490_127,
    0.551_395,
    0.639_268,
    0.726_104,
    0.642_159,
    0.556_721,
    0.490_127,
    0.423_532,
    0.338_094,
    0.290_379,
    0.428_096,
    0.490_127,
    0.552_157,
    0.689_874,
    0.553_364,
    0.490_127,
    0.426_89,
];
/// See [`MEAN_FACE_X`].
const MEAN_FACE_Y: [f32; 51] = [
    0.106_454,
    0.038_915,
    0.018_748_2,
    0.034_489_1,
    0.077_390_6,
    0.077_390_6,
    0.034_489_1,
    0.018_748_2,
    0.038_915,
    0.106_454,
    0.203_352,
    0.307_009,
    0.409_805,
    0.515_625,
    0.587_326,
    0.609_345,
    0.628_106,
    0.609_345,
    0.587_326,
    0.216_423,
    0.178_758,
    0.179_852,
    0.231_733,
    0.245_099,
    0.244_077,
    0.231_733,
    0.179_852,
    0.178_758,
    0.216_423,
    0.244_077,
    0.245_099,
    0.780_233,
    0.745_405,
    0.727_388,
    0.742_578,
    0.727_388,
    0.745_405,
    0.780_233,
    0.864_805,
    0.902_192,
    0.909_281,
    0.902_192,
    0.864_805,
    0.784_792,
    0.778_746,
    0.785_343,
    0.778_746,
    0.784_792,
    0.824_182,
    0.831_803,
    0.824_182,
];

/// Whether dlib uses landmark `i` (17..68) for alignment: not the brows, not the lower lip.
fn used(i: usize) -> bool {
    !((17..=26).contains(&i) || (55..=59).contains(&i) || (65..=67).contains(&i))
}

/// A similarity transform `p ↦ [a −b; b a]·p + t` (rotation, uniform scale, translation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity2d {
    a: f32,
    b: f32,
    tx: f32,
    ty: f32,
}

impl Similarity2d {
    /// Applies the transform.
    #[must_use]
    pub fn apply(&self, p: Point) -> Point {
        Point {
            x: self.a * p.x - self.b * p.y + self.tx,
            y: self.b * p.x + self.a * p.y + self.ty,
        }
    }

    /// The scale factor `√(a² + b²)`.
    #[must_use]
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }
}

/// Least-squares similarity transform taking `from[i]` to `to[i]` (closed form of the linear
/// problem in (a, b, tx, ty); equals Umeyama's solution without reflection).
///
/// # Errors
/// [`FaceError::Inference`] for fewer than two points or degenerate (coincident) input.
pub fn fit_similarity(from: &[Point], to: &[Point]) -> Result<Similarity2d, FaceError> {
    if from.len() != to.len() || from.len() < 2 {
        return Err(inference("similarity fit needs two or more point pairs"));
    }
    #[allow(clippy::cast_precision_loss)]
    let n = from.len() as f64;
    let mean = |ps: &[Point]| {
        let (sx, sy) = ps.iter().fold((0.0f64, 0.0f64), |(x, y), p| {
            (x + f64::from(p.x), y + f64::from(p.y))
        });
        (sx / n, sy / n)
    };
    let (fx, fy) = mean(from);
    let (tx, ty) = mean(to);
    let (mut sxx, mut sab, mut sba) = (0.0f64, 0.0f64, 0.0f64);
    for (f, t) in from.iter().zip(to) {
        let (u, v) = (f64::from(f.x) - fx, f64::from(f.y) - fy);
        let (x, y) = (f64::from(t.x) - tx, f64::from(t.y) - ty);
        sxx += u * u + v * v;
        sab += u * x + v * y;
        sba += u * y - v * x;
    }
    if sxx.is_nan() || sxx <= 1e-9 {
        return Err(inference("similarity fit on coincident points"));
    }
    let a = sab / sxx;
    let b = sba / sxx;
    #[allow(clippy::cast_possible_truncation)]
    let t = Similarity2d {
        a: a as f32,
        b: b as f32,
        tx: (tx - (a * fx - b * fy)) as f32,
        ty: (ty - (b * fx + a * fy)) as f32,
    };
    if ![t.a, t.b, t.tx, t.ty].iter().all(|v| v.is_finite()) {
        return Err(inference("similarity fit is not finite"));
    }
    Ok(t)
}

/// The transform from chip pixels to image pixels for a face with these 68 landmarks.
///
/// # Errors
/// [`FaceError::LandmarkCount`] unless there are exactly 68 points; [`FaceError::Inference`]
/// for degenerate landmarks.
#[allow(clippy::cast_precision_loss)]
pub fn chip_transform(landmarks: &[Point]) -> Result<Similarity2d, FaceError> {
    if landmarks.len() != LANDMARK_COUNT {
        return Err(FaceError::LandmarkCount {
            expected: LANDMARK_COUNT,
            found: landmarks.len(),
        });
    }
    let size = CHIP_SIZE as f32;
    let mut chip = Vec::with_capacity(33);
    let mut img = Vec::with_capacity(33);
    for (i, p) in landmarks.iter().enumerate().skip(17) {
        if !used(i) {
            continue;
        }
        let (mx, my) = (MEAN_FACE_X[i - 17], MEAN_FACE_Y[i - 17]);
        chip.push(Point {
            x: (CHIP_PADDING + mx) / (2.0 * CHIP_PADDING + 1.0) * size,
            y: (CHIP_PADDING + my) / (2.0 * CHIP_PADDING + 1.0) * size,
        });
        img.push(*p);
    }
    if img.iter().any(|p| !(p.x.is_finite() && p.y.is_finite())) {
        return Err(inference("landmarks are not finite"));
    }
    fit_similarity(&chip, &img)
}

/// Extracts the aligned 150×150 chip as a float tensor of `(rgb - mean) / div`.
///
/// When the face is larger than the chip, each chip pixel averages a k×k grid of bilinear taps over
/// its footprint (k = the scale, at most 8), as dlib downsamples before sampling big faces; without
/// it, large selfies alias and their embeddings drift.
///
/// # Errors
/// As [`chip_transform`].
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn extract_chip(
    image: &Image,
    landmarks: &[Point],
    mean: [f32; 3],
    div: f32,
) -> Result<Tensor, FaceError> {
    let t = chip_transform(landmarks)?;
    let taps = (t.scale().ceil() as usize).clamp(1, 8);
    let weight = 1.0 / (taps * taps) as f32;
    let mut out = Tensor::zeros(CHIP_SIZE, CHIP_SIZE, 3);
    for y in 0..CHIP_SIZE {
        for x in 0..CHIP_SIZE {
            let mut acc = [0.0f32; 3];
            for j in 0..taps {
                for i in 0..taps {
                    let p = t.apply(Point {
                        x: x as f32 + (i as f32 + 0.5) / taps as f32 - 0.5,
                        y: y as f32 + (j as f32 + 0.5) / taps as f32 - 0.5,
                    });
                    let v = sample_or_black(image, p);
                    for c in 0..3 {
                        acc[c] += v[c];
                    }
                }
            }
            let dst = &mut out.data[(y * CHIP_SIZE + x) * 3..(y * CHIP_SIZE + x) * 3 + 3];
            for c in 0..3 {
                dst[c] = (acc[c] * weight - mean[c]) / div;
            }
        }
    }
    Ok(out)
}

/// Bilinear sample, black outside the image (dlib's chip extraction leaves outside pixels zero).
#[allow(clippy::cast_precision_loss)]
fn sample_or_black(image: &Image, p: Point) -> [f32; 3] {
    let (w, h) = (image.width as f32, image.height as f32);
    if p.x < -0.5 || p.y < -0.5 || p.x > w - 0.5 || p.y > h - 0.5 {
        return [0.0; 3];
    }
    bilinear(image, p.x, p.y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity2d {
            a: 1.5 * 0.3f32.cos(),
            b: 1.5 * 0.3f32.sin(),
            tx: 12.0,
            ty: -4.0,
        };
        let from: Vec<Point> = (0..10)
            .map(|i| Point {
                x: (i * 7 % 5) as f32,
                y: (i * 3 % 7) as f32,
            })
            .collect();
        let to: Vec<Point> = from.iter().map(|p| truth.apply(*p)).collect();
        let fit = fit_similarity(&from, &to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let q = fit.apply(*f);
            assert!((q.x - t.x).abs() < 1e-3 && (q.y - t.y).abs() < 1e-3);
        }
    }

    #[test]
    fn coincident_points_are_an_error() {
        let p = vec![Point { x: 1.0, y: 1.0 }; 5];
        assert!(fit_similarity(&p, &p).is_err());
    }

    #[test]
    fn alignment_uses_dlibs_33_points() {
        assert_eq!((17..68).filter(|&i| used(i)).count(), 33);
    }

    #[test]
    fn wrong_landmark_count_is_rejected() {
        let pts = vec![Point::default(); 5];
        assert!(matches!(
            chip_transform(&pts),
            Err(FaceError::LandmarkCount { found: 5, .. })
        ));
    }
}
