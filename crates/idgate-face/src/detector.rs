//! The tiny face detector of `@vladmandic/face-api` (`tiny_face_detector_model`): a Tiny-YOLOv2
//! with depthwise-separable convolutions and a single class.
//!
//! Architecture (face-api `src/tinyYolov2/TinyYolov2Base.ts`, `runMobilenet` with
//! `isFirstLayerConv2d`): 3×3 conv "valid" 3→16 + leaky ReLU, then five separable 3×3 blocks
//! 16→32→64→128→256→512 (each zero-padded by one, + bias + leaky ReLU), with 2×2 max pools of
//! stride 2 ("same") between them and one of stride 1 after the last, and a 1×1 conv to
//! 5 anchors × (x, y, w, h, score). The input is the image padded to a square at the bottom/right
//! with black, resized to `input_size` (a multiple of 32), minus the mean RGB, divided by 255.
//! Boxes decode as in YOLOv2: centre = (cell + σ(t)) / cells, size = e^t · anchor / cells; then
//! greedy non-maximum suppression at IoU 0.4.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use crate::FaceError;
use crate::image::{Region, sample_region};
use crate::models::ModelSource;
use crate::nn::weights::Weights;
use crate::nn::{Conv, Padding, SeparableConv, Tensor, inference, leaky_relu, max_pool};
use crate::{BoundingBox, Image};

/// Manifest name of the model.
pub const MODEL_NAME: &str = "tiny_face_detector_model";

/// YOLO anchor sizes in grid cells (face-api `src/tinyFaceDetector/const.ts`).
const ANCHORS: [(f32, f32); 5] = [
    (1.603_231, 2.094_468),
    (6.041_143, 7.080_126),
    (2.882_459, 3.518_061),
    (4.266_906, 5.178_857),
    (9.041_765, 10.663_08),
];
/// Mean RGB subtracted before scaling by 1/255 (face-api `MEAN_RGB`).
const MEAN_RGB: [f32; 3] = [117.001, 114.697, 97.404];
/// Overlap above which the weaker of two boxes is suppressed (face-api `IOU_THRESHOLD`).
const IOU_THRESHOLD: f32 = 0.4;

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorOptions {
    /// Network input side in pixels; a multiple of 32 between 128 and 1024. 416 is face-api's
    /// default; larger finds smaller faces at quadratic cost.
    pub input_size: usize,
    /// Minimum detection score in `[0, 1]` (face-api's default 0.5).
    pub min_score: f32,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            input_size: 416,
            min_score: 0.5,
        }
    }
}

/// One detection in image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The face box, clipped to the image.
    pub bbox: BoundingBox,
    /// Sigmoid of the objectness output.
    pub score: f32,
}

/// The loaded detector network.
pub struct TinyFaceDetector {
    conv0: Conv,
    blocks: [SeparableConv; 5],
    head: Conv,
}

impl TinyFaceDetector {
    /// Loads `tiny_face_detector_model` from `source`.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] / [`FaceError::ModelInvalid`].
    pub fn load(source: ModelSource<'_>) -> Result<Self, FaceError> {
        let mut w = Weights::load(source, MODEL_NAME)?;
        let conv0 = w.conv("conv0", 3, 3, 16)?;
        let blocks = [
            w.separable("conv1", 16, 32)?,
            w.separable("conv2", 32, 64)?,
            w.separable("conv3", 64, 128)?,
            w.separable("conv4", 128, 256)?,
            w.separable("conv5", 256, 512)?,
        ];
        let head = w.conv("conv8", 1, 512, 25)?;
        w.finish()?;
        Ok(Self {
            conv0,
            blocks,
            head,
        })
    }

    /// Finds faces in `image`.
    ///
    /// # Errors
    /// [`FaceError::Inference`] for invalid options; image errors from [`Image::validate`].
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn detect(
        &self,
        image: &Image,
        options: &DetectorOptions,
    ) -> Result<Vec<Detection>, FaceError> {
        image.validate()?;
        let size = options.input_size;
        if !size.is_multiple_of(32) || !(128..=1024).contains(&size) {
            return Err(inference(
                "detector input size must be a multiple of 32 in 128..=1024",
            ));
        }
        let (w, h) = (image.width as f32, image.height as f32);
        let scale = size as f32 / w.max(h);
        let out_w = ((w * scale).round() as usize).clamp(1, size);
        let out_h = ((h * scale).round() as usize).clamp(1, size);
        let whole = Region {
            x: 0.0,
            y: 0.0,
            width: w,
            height: h,
        };
        let input = sample_region(
            image, whole, out_w, out_h, size, size, 0, 0, MEAN_RGB, 255.0,
        );
        let grid = self.forward(&input)?;
        let mut found = decode_grid(&grid, size as f32, options.min_score);
        // Back from network-input pixels to image pixels; the image occupies the top-left of the
        // square input, so only the scale changes.
        for d in &mut found {
            d.bbox = clip(
                BoundingBox {
                    x: d.bbox.x / scale,
                    y: d.bbox.y / scale,
                    width: d.bbox.width / scale,
                    height: d.bbox.height / scale,
                },
                w,
                h,
            );
        }
        found.retain(|d| d.bbox.width >= 1.0 && d.bbox.height >= 1.0);
        Ok(non_max_suppression(found, IOU_THRESHOLD))
    }

    fn forward(&self, input: &Tensor) -> Result<Tensor, FaceError> {
        let mut x = self.conv0.forward(input, 1, Padding::Valid)?;
        leaky_relu(&mut x);
        for (i, block) in self.blocks.iter().enumerate() {
            x = max_pool(&x, 2, 2, Padding::Same)?;
            x = block.forward(&x, 1, Padding::Explicit(1))?;
            leaky_relu(&mut x);
            if i == self.blocks.len() - 1 {
                x = max_pool(&x, 2, 1, Padding::Same)?;
            }
        }
        self.head.forward(&x, 1, Padding::Valid)
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Decodes the `cells × cells × 25` output into boxes in input pixels.
#[allow(clippy::cast_precision_loss)]
fn decode_grid(grid: &Tensor, input_size: f32, min_score: f32) -> Vec<Detection> {
    let cells = grid.width as f32;
    let mut out = Vec::new();
    if grid.channels != ANCHORS.len() * 5 {
        return out;
    }
    for (cell, v) in grid.data.chunks_exact(grid.channels).enumerate() {
        let row = (cell / grid.width) as f32;
        let col = (cell % grid.width) as f32;
        for (a, (aw, ah)) in ANCHORS.iter().enumerate() {
            let t = &v[a * 5..a * 5 + 5];
            let score = sigmoid(t[4]);
            if score < min_score || !score.is_finite() {
                continue;
            }
            let cx = (col + sigmoid(t[0])) / cells;
            let cy = (row + sigmoid(t[1])) / cells;
            let bw = t[2].exp() * aw / cells;
            let bh = t[3].exp() * ah / cells;
            if !(bw.is_finite() && bh.is_finite()) {
                continue;
            }
            out.push(Detection {
                bbox: BoundingBox {
                    x: (cx - bw / 2.0) * input_size,
                    y: (cy - bh / 2.0) * input_size,
                    width: bw * input_size,
                    height: bh * input_size,
                },
                score,
            });
        }
    }
    out
}

fn clip(b: BoundingBox, w: f32, h: f32) -> BoundingBox {
    let x0 = b.x.clamp(0.0, w);
    let y0 = b.y.clamp(0.0, h);
    let x1 = (b.x + b.width).clamp(0.0, w);
    let y1 = (b.y + b.height).clamp(0.0, h);
    BoundingBox {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

/// Intersection over union of two boxes.
#[must_use]
pub fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let ix = ((a.x + a.width).min(b.x + b.width) - a.x.max(b.x)).max(0.0);
    let iy = ((a.y + a.height).min(b.y + b.height) - a.y.max(b.y)).max(0.0);
    let inter = ix * iy;
    let union = a.width * a.height + b.width * b.height - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy NMS: keep the best-scoring box, drop those overlapping it by more than `threshold`.
#[must_use]
pub fn non_max_suppression(mut boxes: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in boxes {
        if kept.iter().all(|k| iou(&k.bbox, &d.bbox) <= threshold) {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            bbox: BoundingBox {
                x,
                y: 0.0,
                width: 10.0,
                height: 10.0,
            },
            score,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_all_disjoint_ones() {
        let kept = non_max_suppression(vec![det(0.0, 0.6), det(1.0, 0.9), det(50.0, 0.7)], 0.4);
        assert_eq!(kept.len(), 2);
        assert!((kept[0].score - 0.9).abs() < 1e-6);
        assert!((kept[1].bbox.x - 50.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_is_zero() {
        assert!((iou(&det(0.0, 1.0).bbox, &det(0.0, 1.0).bbox) - 1.0).abs() < 1e-6);
        assert!(iou(&det(0.0, 1.0).bbox, &det(20.0, 1.0).bbox).abs() < 1e-6);
    }
}
