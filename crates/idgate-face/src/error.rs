//! The one error type of the face layer ([`FaceError`]).
//!
//! Every engine (built-in or HTTP) and the liveness evaluator report through it, so the server maps
//! a single enum to its outcomes. Messages never carry image bytes, landmark coordinates, embeddings
//! or anything else derived from a person's face: only sizes, counts, file names of model weights,
//! HTTP status codes and short static reasons. A liveness *refusal* is not an error (it is a
//! [`crate::liveness::LivenessVerdict`] with `live == false`); errors mean the check could not run.

use std::path::PathBuf;

/// Why a face operation could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The pixel buffer does not match the declared dimensions (RGB8 needs `width * height * 3` bytes).
    #[error("image buffer holds {actual} bytes but {width}x{height} RGB8 needs {expected}")]
    ImageBufferMismatch {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// Bytes an RGB8 buffer of that size needs.
        expected: u64,
        /// Bytes actually supplied.
        actual: usize,
    },
    /// The image is empty or larger than the engine accepts (a cap on untrusted allocations).
    #[error(
        "image dimensions {width}x{height} are outside the accepted range (1..={max} per side)"
    )]
    ImageDimensions {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// Largest accepted side.
        max: u32,
    },
    /// The encoded image is in a format the decoder does not handle.
    #[error("unsupported image format")]
    UnsupportedImageFormat,
    /// The encoded image could not be decoded.
    #[error("image could not be decoded: {reason}")]
    ImageDecode {
        /// A short reason from the decoder (never pixel data).
        reason: String,
    },
    /// A face passed to [`crate::FaceEngine::embed`] does not carry the 68 landmarks the alignment needs.
    #[error("face has {found} landmarks, {expected} are required")]
    LandmarkCount {
        /// Landmarks required (68, iBUG-300W order).
        expected: usize,
        /// Landmarks present.
        found: usize,
    },
    /// Two embeddings or a model output do not have the expected dimension.
    #[error("embedding has dimension {found}, expected {expected}")]
    EmbeddingDimension {
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
    /// The model directory or one of its files is missing.
    #[error("face model file not found: {path}")]
    ModelNotFound {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// A model file exists but cannot be used (bad manifest, wrong tensor sizes, I/O error).
    #[error("face model file {file} is unusable: {reason}")]
    ModelInvalid {
        /// Name of the offending file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A numerical step of an engine failed (shape mismatch, non-finite output).
    #[error("face inference failed: {reason}")]
    Inference {
        /// What went wrong.
        reason: String,
    },
    /// No face was found in the document portrait, so it cannot be compared with the selfie.
    #[error("no face found in the document portrait")]
    NoFaceInPortrait,
    /// The liveness burst is malformed (too few or too many frames, bad sequence numbers).
    #[error("liveness burst rejected: {reason}")]
    InvalidBurst {
        /// What is wrong with the burst.
        reason: &'static str,
    },
    /// The liveness policy or challenge parameters are inconsistent.
    #[error("invalid liveness policy: {reason}")]
    InvalidPolicy {
        /// Which constraint is violated.
        reason: &'static str,
    },
    /// The operating system's random source failed while issuing a challenge.
    #[error("random source failed")]
    Randomness,
    /// The face configuration is invalid (bad URL, zero timeout, unknown engine).
    #[error("invalid face configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The external matcher could not be reached (connection refused, DNS, TLS).
    #[error("face matcher at {endpoint} unreachable: {reason}")]
    HttpTransport {
        /// The path called (`/detect` or `/embed`), never a query string.
        endpoint: &'static str,
        /// The transport error.
        reason: String,
    },
    /// The external matcher did not answer within the configured timeout.
    #[error("face matcher at {endpoint} timed out after {timeout_ms} ms")]
    HttpTimeout {
        /// The path called.
        endpoint: &'static str,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// The external matcher answered with a non-success HTTP status.
    #[error("face matcher at {endpoint} answered HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    HttpStatus {
        /// The path called.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The machine-readable `error.code` from the body, if the matcher sent one.
        code: Option<String>,
    },
    /// The external matcher answered 2xx with a body that does not follow the protocol.
    #[error("face matcher at {endpoint} sent a malformed response: {reason}")]
    HttpMalformed {
        /// The path called.
        endpoint: &'static str,
        /// Which part of the protocol is violated.
        reason: String,
    },
}
