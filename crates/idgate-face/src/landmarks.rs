//! The 68-point face landmark network of `@vladmandic/face-api` (`face_landmark_68_model`).
//!
//! Architecture (face-api `src/faceFeatureExtractor/FaceFeatureExtractor.ts`, `denseBlock.ts`,
//! `src/faceLandmarkNet/`): four "dense blocks" of 32, 64, 128 and 256 channels, each a stride-2
//! convolution (a plain 3×3 conv in the first block, separable in the others) followed by three
//! separable 3×3 convs whose inputs are the ReLU of the running sum of the previous outputs; then a
//! 7×7 average pool and a fully connected layer 256 → 136 giving (x, y) of 68 points relative to
//! the input square. Input: the face box cropped from the image, centred on a black square,
//! resized to 112×112, minus the mean RGB [122.782, 117.001, 104.298], divided by 255. Point order
//! is iBUG-300W's (jaw 0–16, brows 17–26, nose 27–35, eyes 36–47, mouth 48–67).

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use crate::image::{Region, sample_region};
use crate::models::ModelSource;
use crate::nn::weights::Weights;
use crate::nn::{
    Conv, Padding, SeparableConv, Tensor, add_assign, avg_pool, dense, inference, relu,
};
use crate::{BoundingBox, FaceError, Image, LANDMARK_COUNT, Point};

/// Manifest name of the model.
pub const MODEL_NAME: &str = "face_landmark_68_model";
/// Network input side.
pub const INPUT_SIZE: usize = 112;
/// Mean RGB of the face-api feature extractors (the dlib ResNet's mean too).
const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

struct DenseBlock {
    first: First,
    rest: [SeparableConv; 3],
}

enum First {
    Conv(Conv),
    Separable(SeparableConv),
}

impl DenseBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor, FaceError> {
        let mut out1 = match &self.first {
            First::Conv(c) => c.forward(x, 2, Padding::Same)?,
            First::Separable(s) => s.forward(x, 2, Padding::Same)?,
        };
        relu(&mut out1);
        // running = out1 + out2 + … ; each later conv sees relu(running).
        let mut running = out1;
        for (i, conv) in self.rest.iter().enumerate() {
            let mut input = running.clone();
            if i > 0 {
                relu(&mut input);
            }
            let out = conv.forward(&input, 1, Padding::Same)?;
            add_assign(&mut running, &out)?;
        }
        relu(&mut running);
        Ok(running)
    }
}

/// The loaded landmark network.
pub struct LandmarkNet {
    blocks: [DenseBlock; 4],
    fc_weights: Vec<f32>,
    fc_bias: Vec<f32>,
}

impl LandmarkNet {
    /// Loads `face_landmark_68_model` from `source`.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] / [`FaceError::ModelInvalid`].
    pub fn load(source: ModelSource<'_>) -> Result<Self, FaceError> {
        let mut w = Weights::load(source, MODEL_NAME)?;
        let block = |w: &mut Weights,
                     name: &str,
                     cin: usize,
                     cout: usize,
                     first_conv: bool|
         -> Result<DenseBlock, FaceError> {
            let first = if first_conv {
                First::Conv(w.conv(&format!("{name}/conv0"), 3, cin, cout)?)
            } else {
                First::Separable(w.separable(&format!("{name}/conv0"), cin, cout)?)
            };
            Ok(DenseBlock {
                first,
                rest: [
                    w.separable(&format!("{name}/conv1"), cout, cout)?,
                    w.separable(&format!("{name}/conv2"), cout, cout)?,
                    w.separable(&format!("{name}/conv3"), cout, cout)?,
                ],
            })
        };
        let blocks = [
            block(&mut w, "dense0", 3, 32, true)?,
            block(&mut w, "dense1", 32, 64, false)?,
            block(&mut w, "dense2", 64, 128, false)?,
            block(&mut w, "dense3", 128, 256, false)?,
        ];
        let fc_weights = w.take("fc/weights", &[256, LANDMARK_COUNT * 2])?;
        let fc_bias = w.take("fc/bias", &[LANDMARK_COUNT * 2])?;
        w.finish()?;
        Ok(Self {
            blocks,
            fc_weights,
            fc_bias,
        })
    }

    /// The 68 landmarks of the face in `bbox`, in image pixels.
    ///
    /// # Errors
    /// [`FaceError::Inference`] when the box lies outside the image or the output is not finite.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn predict(&self, image: &Image, bbox: &BoundingBox) -> Result<Vec<Point>, FaceError> {
        let (crop, input) = face_input(image, bbox)?;
        let mut x = input;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let pooled = avg_pool(&x, 7, 2, Padding::Valid)?;
        let out = dense(
            &pooled.data,
            &self.fc_weights,
            Some(&self.fc_bias),
            LANDMARK_COUNT * 2,
        )?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(inference("landmark output is not finite"));
        }
        // Output is relative to the square the crop was centred on.
        let side = crop.width.max(crop.height);
        let (pad_x, pad_y) = centre_padding(crop.width, crop.height);
        Ok(out
            .chunks_exact(2)
            .map(|p| Point {
                x: crop.x + p[0] * side - pad_x,
                y: crop.y + p[1] * side - pad_y,
            })
            .collect())
    }
}

/// Leading padding when a `w × h` crop is centred on a square (the remainder of an odd
/// difference goes after, as in face-api's `padToSquare(…, isCenterImage = true)`).
fn centre_padding(w: f32, h: f32) -> (f32, f32) {
    let diff = (w - h).abs();
    let lead = diff - (diff * 0.5).round();
    if w < h { (lead, 0.0) } else { (0.0, lead) }
}

/// Crops the whole-pixel box (clipped to the image) and builds the 112×112 network input.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(crate) fn face_input(image: &Image, bbox: &BoundingBox) -> Result<(Region, Tensor), FaceError> {
    let (w, h) = (image.width as f32, image.height as f32);
    let x0 = bbox.x.floor().clamp(0.0, w);
    let y0 = bbox.y.floor().clamp(0.0, h);
    let x1 = (bbox.x + bbox.width).ceil().clamp(0.0, w);
    let y1 = (bbox.y + bbox.height).ceil().clamp(0.0, h);
    if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
        return Err(inference("face box lies outside the image"));
    }
    let crop = Region {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    };
    let side = crop.width.max(crop.height);
    let scale = INPUT_SIZE as f32 / side;
    let out_w = ((crop.width * scale).round() as usize).clamp(1, INPUT_SIZE);
    let out_h = ((crop.height * scale).round() as usize).clamp(1, INPUT_SIZE);
    let (pad_x, pad_y) = centre_padding(crop.width, crop.height);
    let dst_x = ((pad_x * scale).round() as usize).min(INPUT_SIZE - out_w);
    let dst_y = ((pad_y * scale).round() as usize).min(INPUT_SIZE - out_h);
    let input = sample_region(
        image, crop, out_w, out_h, INPUT_SIZE, INPUT_SIZE, dst_x, dst_y, MEAN_RGB, 255.0,
    );
    Ok((crop, input))
}
