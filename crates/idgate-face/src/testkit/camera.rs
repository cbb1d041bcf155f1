//! The test faces as a camera: a YUV4MPEG2 video that Chromium's fake capture device plays
//! (`--use-file-for-fake-video-capture`), so the hosted page's "finish on this device" step can be
//! tested in a real browser with the same pictures [`TestFaces::live_upload`] sends.
//!
//! # The timing contract with the page
//!
//! The video shows five segments, each one picture held still (times from the video's start,
//! which is when the page opens the camera: Chromium's file capture starts at frame 0 on every
//! open and loops at the end):
//!
//! | segment (ms)  | picture                      | the page captures at |
//! |---------------|------------------------------|----------------------|
//! | 0 – 1600      | neutral view 0               | ~1000 ms             |
//! | 1600 – 2800   | the first action (a turn)    | ~2200 ms             |
//! | 2800 – 4000   | neutral view 1               | ~3400 ms             |
//! | 4000 – 5200   | the second action            | ~4600 ms             |
//! | 5200 – 7000   | neutral view 2               | ~5800 ms             |
//!
//! Measured with Chromium 156 (`tests/camera_video.rs`, grabbing a frame every ~110 ms): the
//! video's time 0 is when `getUserMedia` resolves, the picture changes were seen 0–130 ms after
//! the boundaries above, and the first frame is drawable ~90 ms after the camera opened. So a page
//! should time its captures from `getUserMedia` resolving.
//!
//! Each capture lies at least 0.6 s from a segment boundary, so a page that captures within
//! ±0.5 s of those times ([`CAMERA_CAPTURES_MS`]) sends exactly the five pictures of a live
//! burst, in order: neutral, first action, neutral, second action, neutral. Every frame is
//! [`CAMERA_SIDE`] px square; a picture is centred on a neutral grey and, if larger, scaled down
//! to fit (the person's pictures are at most 480 px, so theirs keep every pixel).
//!
//! # Format
//!
//! YUV4MPEG2 (the `y4m` format of the MJPEG tools and of Chromium's
//! `media/capture/video/file_video_capture_device.cc`): a text header
//! `YUV4MPEG2 W480 H480 F10:1 Ip A1:1 C420jpeg`, then per frame `FRAME\n` and the planar 4:2:0
//! samples (Y at full size, then Cb and Cr at half size in each direction). Colours are converted
//! with ITU-R BT.601 at limited ("studio") range, Y 16–235, which is how Chromium reads an
//! untagged I420 capture frame.

use std::io::Write as _;
use std::path::Path;

use super::{Performer, TestFaces, TestFacesError};
use crate::Image;
use crate::challenge::Action;
use crate::image;

/// Width and height of every frame of the camera video.
pub const CAMERA_SIDE: u32 = 480;
/// Frames per second of the camera video.
pub const CAMERA_FPS: u32 = 10;
/// The end of each of the five segments, in ms from the video's start (see the module docs);
/// the last is the video's length.
pub const CAMERA_SEGMENT_ENDS_MS: [u64; 5] = [1600, 2800, 4000, 5200, 7000];
/// When the page is expected to capture each of the five frames of its burst, in ms after the
/// camera starts (±0.5 s keeps each inside its segment).
pub const CAMERA_CAPTURES_MS: [u64; 5] = [1000, 2200, 3400, 4600, 5800];

/// The grey around a picture smaller than the frame (RGB).
const LETTERBOX: u8 = 128;

/// A camera video written by [`TestFaces::write_camera_video`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraVideo {
    /// Frame width in pixels ([`CAMERA_SIDE`]).
    pub width: u32,
    /// Frame height in pixels ([`CAMERA_SIDE`]).
    pub height: u32,
    /// Frames per second ([`CAMERA_FPS`]).
    pub fps: u32,
    /// The number of frames (the video lasts the last segment end).
    pub frames: u32,
}

impl TestFaces {
    /// Writes to `path` a camera video of the person performing `actions` (two turns, drawn from
    /// [`super::turn_policy`]): the pictures of [`TestFaces::live_upload`], timed as the module
    /// documentation says. A page capturing at [`CAMERA_CAPTURES_MS`] sends a burst that passes
    /// liveness and matches [`TestFaces::portrait_jpeg`].
    ///
    /// # Errors
    /// [`TestFacesError::UnsupportedAction`] for an action other than a turn,
    /// [`TestFacesError::Write`] when the file cannot be written.
    pub fn write_camera_video(
        &self,
        actions: &[Action],
        path: &Path,
    ) -> Result<CameraVideo, TestFacesError> {
        write_video(&self.person, actions, path)
    }

    /// [`TestFaces::write_camera_video`] for the other person: a live burst that does not match
    /// the portrait.
    ///
    /// # Errors
    /// As [`TestFaces::write_camera_video`].
    pub fn write_other_person_camera_video(
        &self,
        actions: &[Action],
        path: &Path,
    ) -> Result<CameraVideo, TestFacesError> {
        write_video(&self.other, actions, path)
    }
}

fn write_video(
    performer: &Performer,
    actions: &[Action],
    path: &Path,
) -> Result<CameraVideo, TestFacesError> {
    let pictures = performer
        .frames(actions)?
        .into_iter()
        .map(|encoded| Ok(to_yuv420(&letterboxed(&image::decode(encoded)?)?)))
        .collect::<Result<Vec<Vec<u8>>, TestFacesError>>()?;
    let ms_per_frame = 1000 / u64::from(CAMERA_FPS);
    let total_ms = CAMERA_SEGMENT_ENDS_MS.last().copied().unwrap_or(0);
    let frames = u32::try_from(total_ms / ms_per_frame).unwrap_or(u32::MAX);

    let failed = |source| TestFacesError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    writeln!(
        out,
        "YUV4MPEG2 W{CAMERA_SIDE} H{CAMERA_SIDE} F{CAMERA_FPS}:1 Ip A1:1 C420jpeg"
    )
    .map_err(failed)?;
    for frame in 0..u64::from(frames) {
        let start = frame * ms_per_frame;
        let segment = CAMERA_SEGMENT_ENDS_MS
            .iter()
            .position(|&end| start < end)
            .unwrap_or(CAMERA_SEGMENT_ENDS_MS.len() - 1);
        // A challenge of fewer actions has fewer pictures: the last one holds.
        let picture = pictures
            .get(segment)
            .or_else(|| pictures.last())
            .ok_or(TestFacesError::UnsupportedAction(Action::TurnLeft))?;
        out.write_all(b"FRAME\n").map_err(failed)?;
        out.write_all(picture).map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    Ok(CameraVideo {
        width: CAMERA_SIDE,
        height: CAMERA_SIDE,
        fps: CAMERA_FPS,
        frames,
    })
}

/// `picture` centred on a [`CAMERA_SIDE`] square of grey, scaled down first if it is larger.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "pixel sizes of a photo, far inside u32"
)]
fn letterboxed(picture: &Image) -> Result<Image, TestFacesError> {
    let side = CAMERA_SIDE;
    let fitted;
    let picture = if picture.width > side || picture.height > side {
        let scale = side as f32 / picture.width.max(picture.height) as f32;
        let width = ((picture.width as f32 * scale).round() as u32).clamp(1, side);
        let height = ((picture.height as f32 * scale).round() as u32).clamp(1, side);
        fitted = image::resize(picture, width, height)?;
        &fitted
    } else {
        picture
    };
    let (x0, y0) = ((side - picture.width) / 2, (side - picture.height) / 2);
    let side = side as usize;
    let mut rgb = vec![LETTERBOX; side * side * 3];
    let row_bytes = picture.width as usize * 3;
    for (y, row) in picture.rgb.chunks_exact(row_bytes).enumerate() {
        let at = ((y0 as usize + y) * side + x0 as usize) * 3;
        if let Some(target) = rgb.get_mut(at..at + row_bytes) {
            target.copy_from_slice(row);
        }
    }
    Ok(Image::new(CAMERA_SIDE, CAMERA_SIDE, rgb)?)
}

/// An even-sized RGB image as planar Y, Cb, Cr (4:2:0, each chroma sample the mean of a 2×2
/// block), ITU-R BT.601 limited range.
fn to_yuv420(image: &Image) -> Vec<u8> {
    let (width, height) = (image.width as usize, image.height as usize);
    let pixel = |x: usize, y: usize| {
        let at = (y * width + x) * 3;
        match image.rgb.get(at..at + 3) {
            Some(&[r, g, b]) => [f32::from(r), f32::from(g), f32::from(b)],
            _ => [0.0; 3],
        }
    };
    let mut out = Vec::with_capacity(width * height * 3 / 2);
    for y in 0..height {
        for x in 0..width {
            let [r, g, b] = pixel(x, y);
            out.push(sample(
                16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
            ));
        }
    }
    let (mut cb, mut cr) = (Vec::new(), Vec::new());
    for y in (0..height).step_by(2) {
        for x in (0..width).step_by(2) {
            let mut sum = [0.0f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = pixel((x + dx).min(width - 1), (y + dy).min(height - 1));
                for (s, v) in sum.iter_mut().zip(p) {
                    *s += v / 4.0;
                }
            }
            let [r, g, b] = sum;
            cb.push(sample(
                128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
            ));
            cr.push(sample(
                128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
            ));
        }
    }
    out.extend(cb);
    out.extend(cr);
    out
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 0..=255 first"
)]
fn sample(value: f32) -> u8 {
    value.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_picture_is_centred_on_grey_unscaled() {
        let picture = Image::new(2, 2, vec![255; 12]).unwrap();
        let framed = letterboxed(&picture).unwrap();
        assert_eq!((framed.width, framed.height), (CAMERA_SIDE, CAMERA_SIDE));
        let at = |x: usize, y: usize| framed.rgb[(y * CAMERA_SIDE as usize + x) * 3];
        assert_eq!(
            (at(239, 239), at(240, 240), at(238, 238), at(241, 241)),
            (255, 255, 128, 128)
        );
    }

    #[test]
    fn a_large_picture_is_scaled_to_fit() {
        let picture = Image::new(960, 480, vec![0; 960 * 480 * 3]).unwrap();
        let framed = letterboxed(&picture).unwrap();
        let at = |x: usize, y: usize| framed.rgb[(y * CAMERA_SIDE as usize + x) * 3];
        // 480 × 240 centred: rows 120..360 black, grey above and below.
        assert_eq!(
            (at(0, 119), at(0, 120), at(479, 359), at(0, 360)),
            (128, 0, 0, 128)
        );
    }

    #[test]
    fn bt601_limited_range_maps_black_white_and_grey() {
        let image = Image::new(
            2,
            2,
            [[0, 0, 0], [255, 255, 255], [128, 128, 128], [128, 128, 128]].concat(),
        )
        .unwrap();
        let yuv = to_yuv420(&image);
        assert_eq!(yuv.len(), 6);
        assert_eq!(&yuv[..4], [16, 235, 126, 126]);
        // One chroma sample of a colourless block: no colour.
        assert_eq!(&yuv[4..], [128, 128]);
    }

    #[test]
    fn the_captures_fall_mid_segment() {
        let mut start = 0;
        for (end, capture) in CAMERA_SEGMENT_ENDS_MS.into_iter().zip(CAMERA_CAPTURES_MS) {
            assert!(
                capture >= start + 500 && capture + 500 <= end,
                "{capture} in {start}..{end}"
            );
            start = end;
        }
    }
}
