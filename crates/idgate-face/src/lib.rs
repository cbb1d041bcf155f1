//! Face detection, face comparison and active liveness for idgate.
//!
//! This crate owns the [`FaceEngine`] abstraction and the types every engine shares: an RGB
//! [`Image`], detected [`Face`]s with 68 landmarks (iBUG-300W order), [`Embedding`]s and their
//! [`Similarity`]. Two engines implement it:
//! - the built-in engine (`builtin`, pure Rust on the MIT-licensed `@vladmandic/face-api` weights),
//! - [`http_engine::HttpEngine`], a client for an operator's own matcher (protocol in the README).
//!
//! Active liveness ([`liveness`], [`challenge`]) is pure logic over any engine: a random challenge of
//! head poses, blinks and mouth openings, answered by a burst of frames (docs/verify.md "Face and
//! liveness"); a burst travels from the phone as a [`BurstUpload`] ([`upload`]). The crate does no
//! I/O besides reading model files from a configured directory (the default weights are compiled
//! in, [`models`]), the HTTP engine's calls and, in the `testkit` feature, reading the test photos
//! (the `testkit` module). The trait is synchronous because all of it is CPU work: the server calls it from
//! `spawn_blocking`.

pub mod align;
pub mod builtin;
pub mod challenge;
pub mod config;
pub mod detector;
pub mod embedding;
mod error;
pub mod http_engine;
pub mod image;
pub mod landmarks;
pub mod liveness;
pub mod matching;
pub mod models;
pub mod nn;
mod pose;
mod quality;
mod replay;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod upload;

pub use builtin::BuiltinEngine;
pub use challenge::{Action, Burst, Challenge, ChallengePolicy, Frame, Nonce};
pub use config::{EngineConfig, FaceConfig, load_engine};
pub use error::FaceError;
pub use http_engine::HttpEngine;
pub use liveness::{LivenessPolicy, LivenessReason, LivenessVerdict};
pub use matching::{PortraitMatch, match_portrait};
pub use upload::{BurstUpload, EncodedFrame, FrameUpload};

/// Largest image side accepted anywhere in this crate: caps allocations made from untrusted sizes.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Number of landmarks every engine reports per face (the iBUG-300W 68-point scheme).
pub const LANDMARK_COUNT: usize = 68;

/// A decoded image: 8-bit RGB, row-major, no padding between rows.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, R then G then B for each pixel.
    pub rgb: Vec<u8>,
}

impl Image {
    /// Wraps an RGB8 buffer after checking that its length matches the dimensions.
    ///
    /// # Errors
    /// [`FaceError::ImageDimensions`] for an empty or oversized image,
    /// [`FaceError::ImageBufferMismatch`] when the buffer length is wrong.
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, FaceError> {
        let image = Self { width, height, rgb };
        image.validate()?;
        Ok(image)
    }

    /// Checks the invariants of [`Image::new`] on an image built from public fields.
    ///
    /// # Errors
    /// As [`Image::new`].
    pub fn validate(&self) -> Result<(), FaceError> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
            return Err(FaceError::ImageDimensions {
                width,
                height,
                max: MAX_IMAGE_SIDE,
            });
        }
        let expected = u64::from(width) * u64::from(height) * 3;
        if u64::try_from(self.rgb.len()).ok() != Some(expected) {
            return Err(FaceError::ImageBufferMismatch {
                width,
                height,
                expected,
                actual: self.rgb.len(),
            });
        }
        Ok(())
    }

    /// The RGB triple at `(x, y)`, or `None` outside the image.
    #[must_use]
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let idx = (usize::try_from(y).ok()? * usize::try_from(self.width).ok()?
            + usize::try_from(x).ok()?)
            * 3;
        match self.rgb.get(idx..idx + 3)? {
            &[r, g, b] => Some([r, g, b]),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Image {
    /// Never prints pixels: an image of a face is personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgb", &format_args!("<{} bytes>", self.rgb.len()))
            .finish()
    }
}

/// A point in image pixel coordinates (origin top-left, x to the right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Horizontal coordinate in pixels.
    pub x: f32,
    /// Vertical coordinate in pixels.
    pub y: f32,
}

impl Point {
    /// Euclidean distance to `other`.
    #[must_use]
    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// The midpoint between `self` and `other`.
    #[must_use]
    pub fn midpoint(self, other: Point) -> Point {
        Point {
            x: (self.x + other.x) / 2.0,
            y: (self.y + other.y) / 2.0,
        }
    }
}

/// An axis-aligned box in image pixel coordinates; `(x, y)` is the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// Image-quality measurements of one detected face, used to gate matches on poor input
/// (docs/face-engine.md "Match threshold" suggests a face-size and quality gate next to the
/// distance threshold).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    /// Face size: the larger side of the face box, in pixels.
    pub face_size_px: f32,
    /// Focus measure of the face region (variance of the Laplacian on luma); higher is sharper.
    pub sharpness: f32,
    /// Mean luma of the face region in `[0, 255]`.
    pub brightness: f32,
}

/// One detected face.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Where the face is.
    pub bbox: BoundingBox,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// The 68 landmarks in iBUG-300W order: jaw 0–16, brows 17–26, nose 27–35, eyes 36–47,
    /// mouth 48–67. Engines must return exactly [`LANDMARK_COUNT`] points.
    pub landmarks: Vec<Point>,
    /// Quality measurements of the face region.
    pub quality: Quality,
}

/// A face descriptor; faces of the same person lie close together in L2 distance
/// (128 dimensions for the built-in dlib ResNet).
#[derive(Clone, PartialEq)]
pub struct Embedding(pub Vec<f32>);

impl std::fmt::Debug for Embedding {
    /// Prints only the dimension: an embedding is biometric data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding(<{} dims>)", self.0.len())
    }
}

/// How alike two faces are.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Similarity {
    /// A presentation score in `[0, 1]`, `1 - distance / 2` clamped: embeddings are close to unit
    /// length, so distances lie in `[0, 2]`. Decisions use [`Similarity::distance`].
    pub score: f32,
    /// L2 distance between the embeddings; same person below the configured match threshold
    /// (default 0.5, docs/face-engine.md "Match threshold"). `f32::INFINITY` when the embeddings
    /// are incomparable.
    pub distance: f32,
}

impl Similarity {
    /// Compares two embeddings by L2 distance, the metric the dlib ResNet was trained for.
    ///
    /// Embeddings of different dimension, or containing non-finite values, never match: the
    /// distance is `f32::INFINITY` and the score 0.
    #[must_use]
    pub fn l2(a: &Embedding, b: &Embedding) -> Self {
        if a.0.len() != b.0.len() || a.0.is_empty() {
            return Self {
                score: 0.0,
                distance: f32::INFINITY,
            };
        }
        let sum: f32 = a.0.iter().zip(&b.0).map(|(x, y)| (x - y) * (x - y)).sum();
        let distance = sum.sqrt();
        if !distance.is_finite() {
            return Self {
                score: 0.0,
                distance: f32::INFINITY,
            };
        }
        Self {
            score: (1.0 - distance / 2.0).clamp(0.0, 1.0),
            distance,
        }
    }
}

/// A face detector plus descriptor extractor.
///
/// Implementations are CPU-bound and synchronous; they must be shareable between worker threads.
pub trait FaceEngine: Send + Sync {
    /// Finds every face in `image`, each with its 68 landmarks.
    ///
    /// # Errors
    /// A malformed image or an engine failure; finding no face is `Ok(vec![])`.
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError>;

    /// Computes the descriptor of `face`, which was detected in `image`.
    ///
    /// # Errors
    /// A face without 68 landmarks, a malformed image or an engine failure.
    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError>;

    /// Compares two descriptors; the default is L2 distance ([`Similarity::l2`]).
    fn compare(&self, a: &Embedding, b: &Embedding) -> Similarity {
        Similarity::l2(a, b)
    }

    /// Judges whether `burst` shows one live person performing `challenge`; the default runs
    /// [`liveness::evaluate`] over this engine's detection and embeddings. An engine may override it,
    /// for example to batch frames.
    ///
    /// # Errors
    /// A malformed challenge, burst or policy, or an engine failure; a burst that is not live is
    /// `Ok` with [`LivenessVerdict::live`] false.
    fn liveness(
        &self,
        challenge: &Challenge,
        burst: &Burst,
        policy: &LivenessPolicy,
    ) -> Result<LivenessVerdict, FaceError> {
        liveness::evaluate(self, challenge, burst, policy)
    }
}
