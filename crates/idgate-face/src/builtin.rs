//! The built-in [`FaceEngine`]: face-api's tiny detector and 68-point landmark net, dlib-style
//! alignment and dlib's ResNet, all in-process and in plain Rust
//! (docs/face-engine.md "Why plain Rust").
//!
//! `detect` = detector → landmarks → [`Quality::measure`] per face; `embed` = 150×150 chip from the landmarks →
//! ResNet; `compare` is the trait's L2 distance ([`crate::Similarity::l2`]). The measured
//! calibration on the registry test photos (tests/accuracy_builtin.rs) puts same-person pairs
//! below ~0.5 and different people above ~0.6, as docs/face-engine.md "Match threshold" reports.
//!
//! The weights are compiled in ([`BuiltinEngine::embedded`], see [`crate::models`]) or read from a
//! directory ([`BuiltinEngine::load`]). The engine is immutable once built; share one behind an
//! `Arc` across worker threads (≈ 30 MB of float weights).

use std::path::Path;

use crate::detector::{DetectorOptions, TinyFaceDetector};
use crate::embedding::FaceRecognitionNet;
use crate::landmarks::LandmarkNet;
use crate::models::ModelSource;
use crate::{Embedding, Face, FaceEngine, FaceError, Image, LANDMARK_COUNT, Quality};

/// The pure-Rust face engine.
pub struct BuiltinEngine {
    detector: TinyFaceDetector,
    landmarks: LandmarkNet,
    recognition: FaceRecognitionNet,
    options: DetectorOptions,
}

impl std::fmt::Debug for BuiltinEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinEngine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BuiltinEngine {
    /// Builds the engine on the weights compiled into the binary (the vendored
    /// `crates/idgate-face/weights/`), with default detector options. Needs no file at run time.
    ///
    /// # Errors
    /// [`FaceError::ModelInvalid`] only if the vendored files were replaced by something that is not
    /// the expected network (a test checks their sha256).
    pub fn embedded() -> Result<Self, FaceError> {
        Self::from_source(ModelSource::Embedded)
    }

    /// Loads the three networks from `models_dir`, which holds the six
    /// [`crate::models::MODEL_FILES`], with default detector options.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] naming a missing file, [`FaceError::ModelInvalid`] for a file
    /// that is not the expected network.
    pub fn load(models_dir: &Path) -> Result<Self, FaceError> {
        Self::from_source(ModelSource::Dir(models_dir))
    }

    /// Loads the three networks from `source`, with default detector options.
    ///
    /// # Errors
    /// As [`BuiltinEngine::load`].
    pub fn from_source(source: ModelSource<'_>) -> Result<Self, FaceError> {
        source.check()?;
        Ok(Self {
            detector: TinyFaceDetector::load(source)?,
            landmarks: LandmarkNet::load(source)?,
            recognition: FaceRecognitionNet::load(source)?,
            options: DetectorOptions::default(),
        })
    }

    /// Replaces the detector options (input size, minimum score).
    ///
    /// # Errors
    /// [`FaceError::Config`] for an input size that is not a multiple of 32 in 128..=1024 or a
    /// score outside `[0, 1]`.
    pub fn with_detector_options(mut self, options: DetectorOptions) -> Result<Self, FaceError> {
        if !options.input_size.is_multiple_of(32) || !(128..=1024).contains(&options.input_size) {
            return Err(FaceError::Config {
                reason: "detector input size must be a multiple of 32 in 128..=1024".into(),
            });
        }
        if !(0.0..=1.0).contains(&options.min_score) {
            return Err(FaceError::Config {
                reason: "detector minimum score must lie in [0, 1]".into(),
            });
        }
        self.options = options;
        Ok(self)
    }

    /// The detector options in use.
    #[must_use]
    pub fn detector_options(&self) -> DetectorOptions {
        self.options
    }
}

impl FaceEngine for BuiltinEngine {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        let detections = self.detector.detect(image, &self.options)?;
        let mut faces = Vec::with_capacity(detections.len());
        for d in detections {
            let landmarks = self.landmarks.predict(image, &d.bbox)?;
            let quality = Quality::measure(image, &d.bbox);
            faces.push(Face {
                bbox: d.bbox,
                score: d.score,
                landmarks,
                quality,
            });
        }
        Ok(faces)
    }

    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError> {
        image.validate()?;
        if face.landmarks.len() != LANDMARK_COUNT {
            return Err(FaceError::LandmarkCount {
                expected: LANDMARK_COUNT,
                found: face.landmarks.len(),
            });
        }
        self.recognition.embed(image, &face.landmarks)
    }
}
