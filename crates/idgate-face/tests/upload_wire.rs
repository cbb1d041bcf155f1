//! The wire form of a burst (`upload.rs`): JSON shape, round trip, and the caps that bound the work
//! an untrusted upload can cause.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use idgate_face::challenge::Nonce;
use idgate_face::upload::{FRAME_LIMITS, MAX_FRAME_BYTES, MAX_UPLOAD_FRAMES};
use idgate_face::{BurstUpload, EncodedFrame, FaceError, FrameUpload};

/// A `width × height` PNG whose pixels depend on `seed`.
fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let rgb: Vec<u8> = (0..width * height * 3)
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&rgb).unwrap();
    writer.finish().unwrap();
    out
}

fn frames(count: usize) -> Vec<EncodedFrame> {
    (0..count)
        .map(|i| EncodedFrame {
            bytes: png(8, 6, i as u8 + 1),
            captured_at_ms: 1_000 + 300 * i as u64,
            sequence: Some(i as u64),
        })
        .collect()
}

const NONCE: Nonce = Nonce([0xab; 16]);

#[test]
fn an_upload_round_trips_through_json_into_a_burst() {
    let upload = BurstUpload::encode(NONCE, &frames(5));
    let json = serde_json::to_value(&upload).unwrap();
    assert_eq!(json["nonce"], "ab".repeat(16));
    assert_eq!(json["frames"][1]["captured_at_ms"], 1_300);
    assert_eq!(json["frames"][1]["sequence"], 1);
    assert!(
        json["frames"][1]["image_base64"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo")
    );

    let back: BurstUpload = serde_json::from_value(json).unwrap();
    assert_eq!(back, upload);
    let burst = back.decode(9_000).unwrap();
    assert_eq!(burst.nonce, NONCE);
    assert_eq!(burst.received_at_ms, 9_000);
    assert_eq!(burst.frames.len(), 5);
    assert_eq!(
        (burst.frames[2].image.width, burst.frames[2].image.height),
        (8, 6)
    );
    assert_eq!(burst.frames[2].captured_at_ms, 1_600);
    assert_eq!(burst.frames[2].sequence, Some(2));
    assert_ne!(burst.frames[1].image, burst.frames[2].image);
}

#[test]
fn the_sequence_is_optional_and_unknown_fields_are_refused() {
    let json = serde_json::json!({
        "nonce": "00".repeat(16),
        "frames": [{"image_base64": "", "captured_at_ms": 5}],
    });
    let upload: BurstUpload = serde_json::from_value(json).unwrap();
    assert_eq!(upload.frames[0].sequence, None);
    assert!(!serde_json::to_string(&upload).unwrap().contains("sequence"));

    let extra = serde_json::json!({
        "nonce": "00".repeat(16),
        "frames": [{"image_base64": "", "captured_at_ms": 5, "rgb": []}],
    });
    assert!(serde_json::from_value::<BurstUpload>(extra).is_err());
    let short_nonce = serde_json::json!({"nonce": "00", "frames": []});
    assert!(serde_json::from_value::<BurstUpload>(short_nonce).is_err());
}

fn decode_error(upload: &BurstUpload) -> FaceError {
    upload.decode(9_000).expect_err("upload must be refused")
}

#[test]
fn frame_counts_outside_the_bounds_are_refused() {
    let many = BurstUpload::encode(NONCE, &frames(MAX_UPLOAD_FRAMES + 1));
    assert!(matches!(
        decode_error(&many),
        FaceError::InvalidBurst { reason } if reason.contains("too many")
    ));
    BurstUpload::encode(NONCE, &frames(MAX_UPLOAD_FRAMES))
        .decode(9_000)
        .unwrap();
    let few = BurstUpload::encode(NONCE, &frames(3));
    assert!(matches!(decode_error(&few), FaceError::InvalidBurst { .. }));
}

#[test]
fn an_oversized_frame_is_refused_before_decoding() {
    let mut upload = BurstUpload::encode(NONCE, &frames(5));
    // Not even base64: the size check must answer first.
    upload.frames[3].image_base64 = "!".repeat(MAX_FRAME_BYTES / 3 * 4 + 8);
    assert!(matches!(
        decode_error(&upload),
        FaceError::InvalidBurst { reason } if reason.contains("cap")
    ));
}

#[test]
fn frames_that_are_not_base64_jpeg_or_png_are_refused() {
    let mut upload = BurstUpload::encode(NONCE, &frames(5));
    upload.frames[0].image_base64 = "not base64!".into();
    assert!(matches!(
        decode_error(&upload),
        FaceError::InvalidBurst { reason } if reason.contains("base64")
    ));

    let mut frames = frames(5);
    // A JPEG 2000 codestream header: a portrait format, not a camera frame format.
    frames[1].bytes = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 0, 0, 0];
    assert!(matches!(
        decode_error(&BurstUpload::encode(NONCE, &frames)),
        FaceError::InvalidBurst { reason } if reason.contains("neither JPEG nor PNG")
    ));
    frames[1].bytes = b"GIF89a".to_vec();
    assert!(matches!(
        decode_error(&BurstUpload::encode(NONCE, &frames)),
        FaceError::InvalidBurst { .. }
    ));
}

#[test]
fn a_frame_larger_than_the_frame_limits_is_refused() {
    let mut frames = frames(5);
    frames[4].bytes = png(FRAME_LIMITS.max_side + 1, 2, 1);
    assert!(matches!(
        decode_error(&BurstUpload::encode(NONCE, &frames)),
        FaceError::ImageDimensions { max, .. } if max == FRAME_LIMITS.max_side
    ));
    // Within each side but over the pixel count.
    frames[4].bytes = png(1920, 1081, 1);
    assert!(matches!(
        decode_error(&BurstUpload::encode(NONCE, &frames)),
        FaceError::ImageDimensions { .. }
    ));
}

#[test]
fn debug_output_never_shows_the_frames() {
    let upload = BurstUpload::encode(NONCE, &frames(4));
    let text = format!("{upload:?} {:?} {:?}", upload.frames[0], frames(1)[0]);
    assert!(!text.contains(&upload.frames[0].image_base64), "{text}");
    assert!(text.contains("<4 frames>"), "{text}");
    let frame = FrameUpload {
        image_base64: "QUJD".into(),
        captured_at_ms: 1,
        sequence: None,
    };
    assert!(!format!("{frame:?}").contains("QUJD"));
}
