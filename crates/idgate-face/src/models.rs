//! Where the built-in engine's weights live and how to tell they are all there.
//!
//! The weights are not part of the crate: `scripts/fetch-face-models.sh` unpacks them from npm
//! `@vladmandic/face-api` 1.7.15 (MIT; the recognition ResNet is dlib's CC0 model) into a directory,
//! `./.face-models` by default or `$IDGATE_FACE_MODELS`. Nothing is downloaded at run time.

use std::path::{Path, PathBuf};

use crate::FaceError;

/// Environment variable naming the model directory.
pub const MODELS_ENV: &str = "IDGATE_FACE_MODELS";
/// Default model directory, relative to the working directory.
pub const DEFAULT_MODELS_DIR: &str = ".face-models";

/// Every file [`crate::BuiltinEngine::load`] reads.
pub const MODEL_FILES: [&str; 6] = [
    "tiny_face_detector_model-weights_manifest.json",
    "tiny_face_detector_model.bin",
    "face_landmark_68_model-weights_manifest.json",
    "face_landmark_68_model.bin",
    "face_recognition_model-weights_manifest.json",
    "face_recognition_model.bin",
];

/// The model directory from `$IDGATE_FACE_MODELS`, else [`DEFAULT_MODELS_DIR`].
#[must_use]
pub fn models_dir_from_env() -> PathBuf {
    std::env::var_os(MODELS_ENV).map_or_else(|| PathBuf::from(DEFAULT_MODELS_DIR), PathBuf::from)
}

/// Checks that every model file exists, so a missing download is reported by file name before
/// any parsing starts.
///
/// # Errors
/// [`FaceError::ModelNotFound`] for the first missing file.
pub fn check_models_dir(dir: &Path) -> Result<(), FaceError> {
    for name in MODEL_FILES {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(FaceError::ModelNotFound { path });
        }
    }
    Ok(())
}
