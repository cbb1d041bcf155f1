//! The wire form of a liveness burst: what the phone app or the hosted page uploads as JSON to the
//! liveness route (docs/verify.md "Face and liveness"), and its decoding into a [`Burst`].
//!
//! ```json
//! {"nonce": "<32 hex digits>",
//!  "frames": [{"image_base64": "<JPEG or PNG>", "captured_at_ms": 1700000003000, "sequence": 0}, …]}
//! ```
//!
//! Frames travel encoded (JPEG from a camera, PNG accepted), never as raw RGB: a raw 1080p frame is
//! 6 MB. Decoding is bounded before any work is done: at most [`MAX_UPLOAD_FRAMES`] frames, each at
//! most [`MAX_FRAME_BYTES`] encoded and [`FRAME_LIMITS`] decoded, [`MAX_UPLOAD_BYTES`] in all. The
//! HTTP layer's body limit must sit above the base64 size of [`MAX_UPLOAD_BYTES`] for these checks to
//! be the ones that answer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::FaceError;
use crate::challenge::{Burst, Frame, Nonce};
use crate::image::{DecodeLimits, ImageFormat, decode_within, sniff};

/// Most frames one upload may carry: two or three actions, each from and back to a neutral pose,
/// need 5 to 7 key frames; 12 leaves room for in-between frames and bounds the decoding work.
pub const MAX_UPLOAD_FRAMES: usize = 12;
/// Largest encoded frame: a 1080p camera JPEG is well under 1 MB; a PNG of the same size can be
/// two.
pub const MAX_FRAME_BYTES: usize = 2 * 1024 * 1024;
/// Largest sum of the encoded frames of one upload.
pub const MAX_UPLOAD_BYTES: usize = 12 * 1024 * 1024;
/// Largest decoded frame: 1920 pixels a side and 1080p's pixel count (≈ 6 MB of RGB), so twelve
/// decoded frames stay under 75 MB. The engines scale frames down to a few hundred pixels anyway.
pub const FRAME_LIMITS: DecodeLimits = DecodeLimits {
    max_side: 1920,
    max_pixels: 1920 * 1080,
};

/// A burst as uploaded: the challenge's nonce and the encoded frames in capture order.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstUpload {
    /// The nonce of the challenge answered, as 32 lowercase hex digits.
    pub nonce: Nonce,
    /// The frames, in capture order.
    pub frames: Vec<FrameUpload>,
}

/// One uploaded frame.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameUpload {
    /// The JPEG or PNG bytes, standard base64 (RFC 4648 §4, padded).
    pub image_base64: String,
    /// When the phone captured the frame, Unix milliseconds on the phone's clock.
    pub captured_at_ms: u64,
    /// The camera's frame counter, if the client has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

/// One frame before upload: its encoded bytes and capture metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// JPEG or PNG bytes.
    pub bytes: Vec<u8>,
    /// When the frame was captured, Unix milliseconds on the capturing device's clock.
    pub captured_at_ms: u64,
    /// The camera's frame counter, if any.
    pub sequence: Option<u64>,
}

impl std::fmt::Debug for BurstUpload {
    /// Prints the frame count only: the frames are selfies, personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurstUpload")
            .field("nonce", &self.nonce)
            .field("frames", &format_args!("<{} frames>", self.frames.len()))
            .finish()
    }
}

impl std::fmt::Debug for FrameUpload {
    /// Never prints the image.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameUpload")
            .field(
                "image_base64",
                &format_args!("<{} chars>", self.image_base64.len()),
            )
            .field("captured_at_ms", &self.captured_at_ms)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl std::fmt::Debug for EncodedFrame {
    /// Never prints the image.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("captured_at_ms", &self.captured_at_ms)
            .field("sequence", &self.sequence)
            .finish()
    }
}

/// Characters of padded base64 for `bytes` bytes.
const fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

impl BurstUpload {
    /// The upload of `frames` answering the challenge with `nonce`.
    #[must_use]
    pub fn encode(nonce: Nonce, frames: &[EncodedFrame]) -> Self {
        Self {
            nonce,
            frames: frames
                .iter()
                .map(|frame| FrameUpload {
                    image_base64: STANDARD.encode(&frame.bytes),
                    captured_at_ms: frame.captured_at_ms,
                    sequence: frame.sequence,
                })
                .collect(),
        }
    }

    /// Decodes the frames into a [`Burst`] received by the server at `received_at_ms` (server
    /// clock). The size caps are checked on every frame before the first is decoded.
    ///
    /// # Errors
    /// [`FaceError::InvalidBurst`] for too many or too few frames, a frame over a size cap, a frame
    /// that is not base64, or one that is neither JPEG nor PNG; the image errors of
    /// [`crate::image::decode`] (including [`FaceError::ImageDimensions`] beyond
    /// [`FRAME_LIMITS`]) for a frame that does not decode.
    pub fn decode(&self, received_at_ms: u64) -> Result<Burst, FaceError> {
        let invalid = |reason| Err(FaceError::InvalidBurst { reason });
        if self.frames.len() > MAX_UPLOAD_FRAMES {
            return invalid("too many frames in the upload");
        }
        let mut total = 0usize;
        for frame in &self.frames {
            let chars = frame.image_base64.len();
            if chars > base64_len(MAX_FRAME_BYTES) {
                return invalid("a frame is larger than the per-frame cap");
            }
            total = total.saturating_add(chars);
        }
        if total > base64_len(MAX_UPLOAD_BYTES) {
            return invalid("the frames are larger than the upload cap");
        }
        let mut frames = Vec::with_capacity(self.frames.len());
        for upload in &self.frames {
            let Ok(bytes) = STANDARD.decode(&upload.image_base64) else {
                return invalid("a frame is not valid base64");
            };
            if !matches!(sniff(&bytes), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
                return invalid("a frame is neither JPEG nor PNG");
            }
            frames.push(Frame {
                image: decode_within(&bytes, FRAME_LIMITS)?,
                captured_at_ms: upload.captured_at_ms,
                sequence: upload.sequence,
            });
        }
        Burst::new(self.nonce, received_at_ms, frames)
    }
}
