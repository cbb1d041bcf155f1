//! The built-in engine on real photos: model loading, detection counts, landmark geometry,
//! JPEG 2000 portraits and hostile input. Needs the weights and photos of
//! `scripts/fetch-face-models.sh`; the tests that need them skip with a message when absent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::{engine, models_dir};

use std::process::Command;

use idgate_face::image;
use idgate_face::{BuiltinEngine, Face, FaceEngine, FaceError, Image, Point};

fn photo_bytes(name: &str) -> Option<Vec<u8>> {
    let path = models_dir().join("photos").join(name);
    let bytes = std::fs::read(&path);
    if bytes.is_err() {
        idgate_testkit::missing(
            idgate_testkit::Prereq::FaceModels,
            format!("photo {} not found", path.display()),
        );
    }
    bytes.ok()
}

fn photo(name: &str) -> Option<Image> {
    photo_bytes(name).map(|b| image::decode(&b).expect("registry photo decodes"))
}

fn mean(points: &[Point]) -> Point {
    let n = points.len() as f32;
    Point {
        x: points.iter().map(|p| p.x).sum::<f32>() / n,
        y: points.iter().map(|p| p.y).sum::<f32>() / n,
    }
}

#[test]
fn loading_from_a_directory_without_models_names_the_missing_file() {
    let dir = std::env::temp_dir().join("idgate-face-no-models");
    std::fs::create_dir_all(&dir).unwrap();
    match BuiltinEngine::load(&dir) {
        Err(FaceError::ModelNotFound { path }) => assert!(path.starts_with(&dir)),
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
}

#[test]
fn single_portraits_have_exactly_one_face() {
    let Some(engine) = engine() else { return };
    for name in [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "32bit.png",
    ] {
        let Some(img) = photo(name) else { return };
        let faces = engine.detect(&img).unwrap();
        eprintln!(
            "{name}: {} face(s), scores {:?}",
            faces.len(),
            faces.iter().map(|f| f.score).collect::<Vec<_>>()
        );
        assert_eq!(faces.len(), 1, "{name}");
        let f = &faces[0];
        assert_eq!(f.landmarks.len(), 68);
        assert!(
            f.quality.face_size_px > 150.0,
            "{name}: face size {}",
            f.quality.face_size_px
        );
        assert!(
            f.quality.sharpness > 0.0 && f.quality.brightness > 20.0,
            "{name}: {:?}",
            f.quality
        );
    }
}

#[test]
fn group_photos_have_the_expected_face_counts() {
    let Some(engine) = engine() else { return };
    // Counts agreed by dlib's HOG detector and this detector (docs/face-engine.md "Test photos").
    for (name, expected) in [
        ("sample2.jpg", 1),
        ("sample3.jpg", 3),
        ("sample4.jpg", 3),
        ("sample5.jpg", 5),
    ] {
        let Some(img) = photo(name) else { return };
        let faces = engine.detect(&img).unwrap();
        eprintln!("{name}: {} face(s)", faces.len());
        assert_eq!(faces.len(), expected, "{name}");
    }
}

#[test]
fn landmarks_lie_on_the_face_in_anatomical_order() {
    let Some(engine) = engine() else { return };
    let Some(img) = photo("obama.jpg") else {
        return;
    };
    let face = &engine.detect(&img).unwrap()[0];
    let l = &face.landmarks;
    let right_eye = mean(&l[36..42]); // subject's right eye: image left
    let left_eye = mean(&l[42..48]);
    let nose_tip = l[30];
    let mouth = mean(&l[48..68]);
    let chin = l[8];
    assert!(
        right_eye.x < nose_tip.x && nose_tip.x < left_eye.x,
        "eyes {right_eye:?} {left_eye:?} nose {nose_tip:?}"
    );
    assert!(right_eye.y < nose_tip.y && left_eye.y < nose_tip.y);
    assert!(nose_tip.y < mouth.y && mouth.y < chin.y);
    let b = face.bbox;
    let margin = 0.25 * b.width.max(b.height);
    for p in l {
        assert!(
            p.x > b.x - margin
                && p.x < b.x + b.width + margin
                && p.y > b.y - margin
                && p.y < b.y + b.height + margin
        );
    }
    let inter_ocular = right_eye.distance(left_eye);
    assert!(
        inter_ocular > 0.25 * b.width && inter_ocular < 0.6 * b.width,
        "inter-ocular {inter_ocular}"
    );
}

#[test]
fn landmarks_of_a_mirrored_photo_mirror_the_originals() {
    let Some(engine) = engine() else { return };
    let Some(img) = photo("obama.jpg") else {
        return;
    };
    let a = &engine.detect(&img).unwrap()[0];
    let b = &engine.detect(&image::mirror(&img)).unwrap()[0];
    let w = img.width as f32;
    // iBUG order is anatomical: point 30 (nose tip) and 8 (chin) map to themselves.
    for i in [8, 30, 51, 57] {
        let (p, q) = (a.landmarks[i], b.landmarks[i]);
        let err = Point { x: w - q.x, y: q.y }.distance(p);
        assert!(err < 0.05 * a.bbox.width, "point {i}: {err} px apart");
    }
}

#[test]
fn an_image_without_a_face_gives_no_detections() {
    let Some(engine) = engine() else { return };
    // A smooth colour gradient.
    let (w, h) = (320u32, 240u32);
    let rgb = (0..w * h)
        .flat_map(|i| [(i % w) as u8, (i / w) as u8, 128])
        .collect();
    let faces = engine.detect(&Image::new(w, h, rgb).unwrap()).unwrap();
    assert!(
        faces.is_empty(),
        "found {} faces in a gradient",
        faces.len()
    );
}

#[test]
fn embed_rejects_a_face_without_68_landmarks() {
    let Some(engine) = engine() else { return };
    let Some(img) = photo("obama.jpg") else {
        return;
    };
    let mut face: Face = engine.detect(&img).unwrap().remove(0);
    face.landmarks.truncate(5);
    assert!(matches!(
        engine.embed(&img, &face),
        Err(FaceError::LandmarkCount { found: 5, .. })
    ));
}

/// Writes `img` as binary PPM, the simplest input `opj_compress` takes.
fn write_ppm(img: &Image, path: &std::path::Path) {
    let mut bytes = format!("P6\n{} {}\n255\n", img.width, img.height).into_bytes();
    bytes.extend_from_slice(&img.rgb);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_jpeg2000_portrait_matches_the_jpeg_of_the_same_photo() {
    let Some(engine) = engine() else { return };
    let Some(img) = photo("obama.jpg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ppm = dir.path().join("portrait.ppm");
    let jp2 = dir.path().join("portrait.jp2");
    write_ppm(&img, &ppm);
    // Lossy, 30:1, as passport chips store portraits in a few kilobytes.
    let status = Command::new("opj_compress")
        .args([
            "-i",
            ppm.to_str().unwrap(),
            "-o",
            jp2.to_str().unwrap(),
            "-r",
            "30",
        ])
        .output();
    match status {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "opj_compress failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            idgate_testkit::missing(
                idgate_testkit::Prereq::OpenJpeg,
                "opj_compress not installed",
            );
            return;
        }
    }
    let bytes = std::fs::read(&jp2).unwrap();
    assert_eq!(image::sniff(&bytes), Some(image::ImageFormat::Jpeg2000));
    let decoded = image::decode(&bytes).unwrap();
    assert_eq!((decoded.width, decoded.height), (img.width, img.height));
    let a = &engine.detect(&img).unwrap()[0];
    let b = &engine.detect(&decoded).unwrap()[0];
    let d = engine
        .compare(
            &engine.embed(&img, a).unwrap(),
            &engine.embed(&decoded, b).unwrap(),
        )
        .distance;
    eprintln!(
        "obama.jpg vs its JPEG 2000 re-encoding ({} bytes): distance {d:.3}",
        bytes.len()
    );
    assert!(d < 0.15, "JPEG 2000 portrait drifted by {d}");
}

#[test]
fn a_truncated_jpeg_is_an_error() {
    let Some(bytes) = photo_bytes("obama.jpg") else {
        return;
    };
    for cut in [10, 200, bytes.len() / 3] {
        let r = image::decode(&bytes[..cut]);
        assert!(r.is_err(), "truncated at {cut} decoded to {r:?}");
    }
}

/// CRC-32 (ISO 3309) as PNG chunks use it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header declares `w × h` RGB8, followed by a tiny (invalid) IDAT.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn a_png_declaring_huge_dimensions_is_rejected_before_allocation() {
    for (w, h) in [(100_000, 100_000), (8193, 10), (8000, 8000)] {
        let r = image::decode(&png_header_only(w, h));
        assert!(
            matches!(r, Err(FaceError::ImageDimensions { .. })),
            "{w}x{h}: {r:?}"
        );
    }
}

#[test]
fn a_png_declaring_zero_size_is_an_error() {
    assert!(image::decode(&png_header_only(0, 10)).is_err());
    assert!(image::decode(&png_header_only(10, 0)).is_err());
}

#[test]
fn a_jpeg_declaring_huge_dimensions_is_an_error() {
    let Some(mut bytes) = photo_bytes("obama.jpg") else {
        return;
    };
    // Walk the marker segments from SOI to the main image's frame header (SOF0..SOF2:
    // FF C0..C2, length, precision, height, width); an EXIF thumbnail inside APP1 is skipped.
    let mut pos = 2;
    let sof = loop {
        assert_eq!(bytes[pos], 0xFF, "marker expected at {pos}");
        let marker = bytes[pos + 1];
        if (0xC0..=0xC2).contains(&marker) {
            break pos;
        }
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        pos += 2 + len;
    };
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]); // 60000 x 60000
    assert!(image::decode(&bytes).is_err());
}

#[test]
fn an_empty_or_inconsistent_image_is_rejected_by_the_engine() {
    let Some(engine) = engine() else { return };
    let empty = Image {
        width: 0,
        height: 0,
        rgb: Vec::new(),
    };
    assert!(matches!(
        engine.detect(&empty),
        Err(FaceError::ImageDimensions { .. })
    ));
    let short = Image {
        width: 10,
        height: 10,
        rgb: vec![0; 10],
    };
    assert!(matches!(
        engine.detect(&short),
        Err(FaceError::ImageBufferMismatch { .. })
    ));
}

#[test]
fn tiny_images_are_handled_without_error() {
    let Some(engine) = engine() else { return };
    for (w, h) in [(1, 1), (1, 300), (300, 1), (31, 17)] {
        let img = Image::new(w, h, vec![200; (w * h * 3) as usize]).unwrap();
        assert!(engine.detect(&img).unwrap().is_empty());
    }
}
