//! dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1`, CC0), as quantised
//! to uint8 in `@vladmandic/face-api`'s `face_recognition_model`.
//!
//! Architecture (dlib `dnn_face_recognition_ex.cpp` `anet_type`; face-api
//! `src/faceRecognitionNet/`): 7×7/2 conv 3→32 "valid" → 3×3/2 max pool "valid" → residual blocks
//! 32×3, 64 (down) + 64×3, 128 (down) + 128×2, 256 (down) + 256×2, 256 (down) → global mean →
//! fully connected 256 → 128 without bias. Every conv is followed by dlib's per-channel affine
//! layer (batch-norm folded to scale + shift); stride-1 convs pad "same", stride-2 convs are
//! "valid". A down block's shortcut is a 2×2/2 average pool of its input, zero-padded to the
//! block's channel count and, where the strided conv came out one pixel smaller, the conv output is
//! zero-padded at the bottom/right to the pool's size. Input: the 150×150 chip as
//! (rgb − [122.782, 117.001, 104.298]) / 256, dlib's `input_rgb_image_sized` normalisation.
//!
//! The output is not normalised; dlib's metric is plain L2 distance, same person below ~0.6.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use crate::align::{CHIP_SIZE, extract_chip};
use crate::models::ModelSource;
use crate::nn::weights::Weights;
use crate::nn::{
    Conv, Padding, Tensor, add_assign, avg_pool, channel_affine, dense, global_mean, inference,
    max_pool, relu,
};
use crate::{Embedding, FaceError, Image, Point};

/// Manifest name of the model.
pub const MODEL_NAME: &str = "face_recognition_model";
/// Embedding dimension.
pub const EMBEDDING_DIM: usize = 128;
/// dlib's input normalisation.
const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];
const INPUT_DIV: f32 = 256.0;

/// A conv followed by dlib's affine (scale) layer.
struct ConvAffine {
    conv: Conv,
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl ConvAffine {
    fn load(
        w: &mut Weights,
        prefix: &str,
        k: usize,
        cin: usize,
        cout: usize,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            conv: w.conv(&format!("{prefix}/conv"), k, cin, cout)?,
            scale: w.take(&format!("{prefix}/scale/weights"), &[cout])?,
            shift: w.take(&format!("{prefix}/scale/biases"), &[cout])?,
        })
    }

    fn forward(&self, x: &Tensor, down: bool, with_relu: bool) -> Result<Tensor, FaceError> {
        let mut out = if down {
            self.conv.forward(x, 2, Padding::Valid)?
        } else {
            self.conv.forward(x, 1, Padding::Same)?
        };
        channel_affine(&mut out, &self.scale, &self.shift)?;
        if with_relu {
            relu(&mut out);
        }
        Ok(out)
    }
}

struct Residual {
    conv1: ConvAffine,
    conv2: ConvAffine,
    down: bool,
}

impl Residual {
    fn load(
        w: &mut Weights,
        prefix: &str,
        cin: usize,
        cout: usize,
        down: bool,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            conv1: ConvAffine::load(w, &format!("{prefix}/conv1"), 3, cin, cout)?,
            conv2: ConvAffine::load(w, &format!("{prefix}/conv2"), 3, cout, cout)?,
            down,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, FaceError> {
        let out = self.conv1.forward(x, self.down, true)?;
        let mut out = self.conv2.forward(&out, false, false)?;
        if self.down {
            let pooled = avg_pool(x, 2, 2, Padding::Valid)?;
            let mut sum = pad_to(&out, pooled.height, pooled.width)?;
            add_channels_prefix(&mut sum, &pooled)?;
            out = sum;
        } else {
            add_assign(&mut out, x)?;
        }
        relu(&mut out);
        Ok(out)
    }
}

/// Zero-pads `x` at the bottom/right to `h × w`.
fn pad_to(x: &Tensor, h: usize, w: usize) -> Result<Tensor, FaceError> {
    if x.height > h || x.width > w {
        return Err(inference("residual branch larger than its shortcut"));
    }
    let mut out = Tensor::zeros(h, w, x.channels);
    let c = x.channels;
    for y in 0..x.height {
        let src = &x.data[y * x.width * c..(y + 1) * x.width * c];
        out.data[y * w * c..y * w * c + x.width * c].copy_from_slice(src);
    }
    Ok(out)
}

/// `a[.., ..c_b] += b`: the shortcut's channels, the rest padded with zeros.
fn add_channels_prefix(a: &mut Tensor, b: &Tensor) -> Result<(), FaceError> {
    if a.height != b.height || a.width != b.width || b.channels > a.channels {
        return Err(inference("shortcut shape disagrees with residual branch"));
    }
    for (pa, pb) in a
        .data
        .chunks_exact_mut(a.channels)
        .zip(b.data.chunks_exact(b.channels.max(1)))
    {
        for (x, y) in pa.iter_mut().zip(pb) {
            *x += y;
        }
    }
    Ok(())
}

/// The loaded ResNet.
pub struct FaceRecognitionNet {
    stem: ConvAffine,
    blocks: Vec<Residual>,
    fc: Vec<f32>,
}

impl FaceRecognitionNet {
    /// Loads `face_recognition_model` from `source`.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] / [`FaceError::ModelInvalid`].
    pub fn load(source: ModelSource<'_>) -> Result<Self, FaceError> {
        let mut w = Weights::load(source, MODEL_NAME)?;
        let stem = ConvAffine::load(&mut w, "conv32_down", 7, 3, 32)?;
        let layout: [(&str, usize, usize, bool); 14] = [
            ("conv32_1", 32, 32, false),
            ("conv32_2", 32, 32, false),
            ("conv32_3", 32, 32, false),
            ("conv64_down", 32, 64, true),
            ("conv64_1", 64, 64, false),
            ("conv64_2", 64, 64, false),
            ("conv64_3", 64, 64, false),
            ("conv128_down", 64, 128, true),
            ("conv128_1", 128, 128, false),
            ("conv128_2", 128, 128, false),
            ("conv256_down", 128, 256, true),
            ("conv256_1", 256, 256, false),
            ("conv256_2", 256, 256, false),
            ("conv256_down_out", 256, 256, true),
        ];
        let blocks = layout
            .iter()
            .map(|&(name, cin, cout, down)| Residual::load(&mut w, name, cin, cout, down))
            .collect::<Result<Vec<_>, _>>()?;
        let fc = w.take("fc", &[256, EMBEDDING_DIM])?;
        w.finish()?;
        Ok(Self { stem, blocks, fc })
    }

    /// The descriptor of an aligned chip given as `(rgb − mean) / 256`.
    ///
    /// # Errors
    /// [`FaceError::Inference`] on a wrong chip size or non-finite output.
    pub fn forward_chip(&self, chip: &Tensor) -> Result<Embedding, FaceError> {
        if chip.height != CHIP_SIZE || chip.width != CHIP_SIZE || chip.channels != 3 {
            return Err(inference("face chip must be 150x150x3"));
        }
        let x = self.stem.forward(chip, true, true)?;
        let mut x = max_pool(&x, 3, 2, Padding::Valid)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let pooled = global_mean(&x);
        let out = dense(&pooled, &self.fc, None, EMBEDDING_DIM)?;
        if out.iter().any(|v| !v.is_finite()) {
            return Err(inference("embedding is not finite"));
        }
        Ok(Embedding(out))
    }

    /// Aligns the face with these landmarks and computes its descriptor.
    ///
    /// # Errors
    /// As [`extract_chip`] and [`FaceRecognitionNet::forward_chip`].
    pub fn embed(&self, image: &Image, landmarks: &[Point]) -> Result<Embedding, FaceError> {
        let chip = extract_chip(image, landmarks, MEAN_RGB, INPUT_DIV)?;
        self.forward_chip(&chip)
    }
}
