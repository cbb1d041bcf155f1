//! Where the built-in engine's weights come from.
//!
//! The weights are vendored in `crates/idgate-face/weights/` (npm `@vladmandic/face-api` 1.7.15,
//! MIT, its licence beside them; the recognition ResNet is dlib's CC0 model; provenance and sha256
//! in that directory's README) and compiled into the binary, so `idgate serve` needs no model
//! directory and nothing is downloaded at run time ([`ModelSource::Embedded`], the default). An
//! operator may still point the engine at a directory holding the same six files
//! ([`ModelSource::Dir`], `models_dir` in the face configuration).
//!
//! `$IDGATE_FACE_MODELS` ([`models_dir_from_env`]) names the directory `scripts/fetch-face-models.sh`
//! fills with the test photos (`photos/`); the tests and benchmarks read them from there.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::FaceError;

/// Environment variable naming the directory of the test photos (and of weights loaded from disk
/// by tests and benchmarks).
pub const MODELS_ENV: &str = "IDGATE_FACE_MODELS";
/// Default of [`MODELS_ENV`], relative to the working directory.
pub const DEFAULT_MODELS_DIR: &str = ".face-models";

/// Every file the built-in engine reads, from either source.
pub const MODEL_FILES: [&str; 6] = [
    "tiny_face_detector_model-weights_manifest.json",
    "tiny_face_detector_model.bin",
    "face_landmark_68_model-weights_manifest.json",
    "face_landmark_68_model.bin",
    "face_recognition_model-weights_manifest.json",
    "face_recognition_model.bin",
];

/// The vendored files, in [`MODEL_FILES`] order, as compiled into the binary (≈ 7 MB).
static EMBEDDED: [(&str, &[u8]); 6] = [
    (
        "tiny_face_detector_model-weights_manifest.json",
        include_bytes!("../weights/tiny_face_detector_model-weights_manifest.json"),
    ),
    (
        "tiny_face_detector_model.bin",
        include_bytes!("../weights/tiny_face_detector_model.bin"),
    ),
    (
        "face_landmark_68_model-weights_manifest.json",
        include_bytes!("../weights/face_landmark_68_model-weights_manifest.json"),
    ),
    (
        "face_landmark_68_model.bin",
        include_bytes!("../weights/face_landmark_68_model.bin"),
    ),
    (
        "face_recognition_model-weights_manifest.json",
        include_bytes!("../weights/face_recognition_model-weights_manifest.json"),
    ),
    (
        "face_recognition_model.bin",
        include_bytes!("../weights/face_recognition_model.bin"),
    ),
];

/// The vendored copy of one of [`MODEL_FILES`], as compiled in; `None` for any other name.
#[must_use]
pub fn embedded_file(name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}

/// Where the built-in engine reads its weight files from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource<'a> {
    /// The vendored weights compiled into the binary.
    Embedded,
    /// A directory holding the six [`MODEL_FILES`].
    Dir(&'a Path),
}

impl ModelSource<'_> {
    /// Reads the model file `name`, refusing one larger than `cap` bytes before reading it.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] for a missing file, [`FaceError::ModelInvalid`] for one over the
    /// cap or unreadable.
    pub(crate) fn read(&self, name: &str, cap: u64) -> Result<Cow<'static, [u8]>, FaceError> {
        let too_large = |len: u64| FaceError::ModelInvalid {
            file: name.to_owned(),
            reason: format!("file is {len} bytes, more than the cap of {cap}"),
        };
        match self {
            ModelSource::Embedded => {
                let bytes = embedded_file(name).ok_or_else(|| FaceError::ModelNotFound {
                    path: PathBuf::from(name),
                })?;
                let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                if len > cap {
                    return Err(too_large(len));
                }
                Ok(Cow::Borrowed(bytes))
            }
            ModelSource::Dir(dir) => {
                let path = dir.join(name);
                let meta = std::fs::metadata(&path)
                    .map_err(|_| FaceError::ModelNotFound { path: path.clone() })?;
                if meta.len() > cap {
                    return Err(too_large(meta.len()));
                }
                std::fs::read(&path)
                    .map(Cow::Owned)
                    .map_err(|e| FaceError::ModelInvalid {
                        file: name.to_owned(),
                        reason: format!("read failed: {e}"),
                    })
            }
        }
    }

    /// Checks that every model file exists, so a missing file is reported by name before any
    /// parsing starts.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] for the first missing file.
    pub fn check(&self) -> Result<(), FaceError> {
        match self {
            ModelSource::Embedded => Ok(()),
            ModelSource::Dir(dir) => check_models_dir(dir),
        }
    }
}

/// The directory from `$IDGATE_FACE_MODELS`, else [`DEFAULT_MODELS_DIR`].
#[must_use]
pub fn models_dir_from_env() -> PathBuf {
    std::env::var_os(MODELS_ENV).map_or_else(|| PathBuf::from(DEFAULT_MODELS_DIR), PathBuf::from)
}

/// Checks that every model file exists in `dir`.
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
