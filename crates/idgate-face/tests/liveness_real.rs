//! Liveness with the built-in engine on real photos (docs/face-engine.md "Liveness"): a head-turn
//! burst is built from stills of one person, Obama frontal and turned, plus mirrored copies that
//! turn the other way. Needs the weights and photos of `scripts/fetch-face-models.sh`; skips with a
//! message when they are absent.
//!
//! Detections and embeddings are memoised per distinct image (the engine is deterministic), so the
//! bursts below, which share frames, cost each model run once even in a debug build.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::models_dir;

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
use idgate_face::image::{self, Region};
use idgate_face::liveness::{LivenessPolicy, LivenessReason, PoseFeatures, evaluate};
use idgate_face::{BuiltinEngine, Embedding, Face, FaceEngine, FaceError, Image, LivenessVerdict};

/// The built-in engine with memoised answers.
struct Memo {
    engine: BuiltinEngine,
    faces: Mutex<HashMap<u64, Vec<Face>>>,
    embeddings: Mutex<HashMap<u64, Embedding>>,
}

fn key(image: &Image) -> u64 {
    let mut h = DefaultHasher::new();
    (image.width, image.height, &image.rgb).hash(&mut h);
    h.finish()
}

impl FaceEngine for Memo {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        if let Some(faces) = self.faces.lock().unwrap().get(&key(image)) {
            return Ok(faces.clone());
        }
        let faces = self.engine.detect(image)?;
        self.faces.lock().unwrap().insert(key(image), faces.clone());
        Ok(faces)
    }
    fn embed(&self, image: &Image, face: &Face) -> Result<Embedding, FaceError> {
        if let Some(e) = self.embeddings.lock().unwrap().get(&key(image)) {
            return Ok(e.clone());
        }
        let e = self.engine.embed(image, face)?;
        self.embeddings
            .lock()
            .unwrap()
            .insert(key(image), e.clone());
        Ok(e)
    }
}

/// The frames used below, scaled to at most 480 px like a phone's burst frames (at 640 px the
/// detector misses the mirrored obama2.jpg).
struct Photos {
    frontal: Image,
    frontal_mirrored: Image,
    frontal_cropped: Image,
    turned: Image,
    turned_mirrored: Image,
    other_person: Image,
}

fn load_photo(name: &str) -> Option<Image> {
    let path = models_dir().join("photos").join(name);
    let Ok(bytes) = std::fs::read(&path) else {
        idgate_testkit::missing(
            idgate_testkit::Prereq::FaceModels,
            format!("photo {} not found", path.display()),
        );
        return None;
    };
    let img = image::decode(&bytes).expect("registry photo decodes");
    let scale = 480.0 / img.width.max(img.height) as f32;
    let (w, h) = (
        (img.width as f32 * scale).round() as u32,
        (img.height as f32 * scale).round() as u32,
    );
    Some(image::resize(&img, w, h).expect("resize"))
}

fn fixture() -> Option<&'static (Memo, Photos)> {
    static FIXTURE: OnceLock<Option<(Memo, Photos)>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let engine = BuiltinEngine::embedded().expect("vendored weights load");
            let frontal = load_photo("obama.jpg")?;
            let turned = load_photo("obama2.jpg")?;
            let inset = Region {
                x: frontal.width as f32 * 0.04,
                y: frontal.height as f32 * 0.04,
                width: frontal.width as f32 * 0.92,
                height: frontal.height as f32 * 0.92,
            };
            let photos = Photos {
                frontal_mirrored: image::mirror(&frontal),
                frontal_cropped: image::crop(&frontal, inset).expect("crop"),
                turned_mirrored: image::mirror(&turned),
                other_person: load_photo("biden.jpg")?,
                frontal,
                turned,
            };
            let memo = Memo {
                engine,
                faces: Mutex::default(),
                embeddings: Mutex::default(),
            };
            Some((memo, photos))
        })
        .as_ref()
}

const ISSUED: u64 = 1_700_000_000_000;

fn run(actions: &[Action], frames: &[&Image]) -> LivenessVerdict {
    let (memo, _) = fixture().unwrap();
    let nonce = Nonce([9; 16]);
    let challenge = Challenge {
        actions: actions.to_vec(),
        nonce,
        issued_at_ms: ISSUED,
        expires_at_ms: ISSUED + 60_000,
    };
    let frames: Vec<Frame> = frames
        .iter()
        .enumerate()
        .map(|(i, image)| Frame {
            image: (*image).clone(),
            captured_at_ms: ISSUED + 3_000 + 250 * i as u64,
            sequence: Some(i as u64),
        })
        .collect();
    let burst = Burst::new(nonce, ISSUED + 8_000, frames).unwrap();
    evaluate(memo, &challenge, &burst, &LivenessPolicy::default()).unwrap()
}

/// The turn bursts: neutral, turned, neutral, mirrored turn, neutral; all distinct frames.
fn turn_frames(p: &Photos) -> [&Image; 5] {
    [
        &p.frontal,
        &p.turned,
        &p.frontal_mirrored,
        &p.turned_mirrored,
        &p.frontal_cropped,
    ]
}

/// Which way obama2.jpg turns, read from the engine's landmarks (its mirror turns the other way).
fn turned_photo_action(memo: &Memo, p: &Photos) -> (Action, Action) {
    let yaw = |image: &Image| {
        let faces = memo.detect(image).unwrap();
        assert_eq!(faces.len(), 1, "one face expected");
        PoseFeatures::from_landmarks(&faces[0].landmarks)
            .unwrap()
            .unwrap()
            .yaw
    };
    let (frontal, turned, mirrored) = (yaw(&p.frontal), yaw(&p.turned), yaw(&p.turned_mirrored));
    eprintln!("yaw: frontal {frontal:+.3}, obama2 {turned:+.3}, mirrored obama2 {mirrored:+.3}");
    let policy = LivenessPolicy::default();
    assert!(frontal.abs() < policy.yaw_neutral);
    assert!(turned.abs() > policy.yaw_action && mirrored.abs() > policy.yaw_action);
    assert!(
        turned.signum() != mirrored.signum(),
        "a mirror flips the yaw sign"
    );
    if turned < 0.0 {
        (Action::TurnRight, Action::TurnLeft)
    } else {
        (Action::TurnLeft, Action::TurnRight)
    }
}

#[test]
fn a_turn_burst_of_real_photos_answers_the_matching_challenge() {
    let Some((memo, p)) = fixture() else { return };
    let (first, second) = turned_photo_action(memo, p);
    let verdict = run(&[first, second], &turn_frames(p));
    assert!(verdict.live, "{:?}", verdict.reasons);
    let done: Vec<Action> = verdict.completed_actions.iter().map(|c| c.action).collect();
    assert_eq!(done, [first, second]);
    assert!(
        matches!(verdict.reference_frame, Some(0 | 2 | 4)),
        "{:?}",
        verdict.reference_frame
    );
    assert_eq!(verdict.reference_embedding.map(|e| e.0.len()), Some(128));
}

#[test]
fn the_same_burst_is_refused_for_the_reverse_order() {
    let Some((memo, p)) = fixture() else { return };
    let (first, second) = turned_photo_action(memo, p);
    let verdict = run(&[second, first], &turn_frames(p));
    assert_eq!(
        verdict.reasons,
        [LivenessReason::ChallengeNotFollowed {
            step: 0,
            expected: second,
            observed: Some(first),
            frame: Some(2)
        }]
    );
}

#[test]
fn a_frame_of_another_person_changes_identity() {
    let Some((memo, p)) = fixture() else { return };
    let (first, second) = turned_photo_action(memo, p);
    let [a, b, c, d, e] = turn_frames(p);
    // The challenge is complete by frame 4; the last frame, always a key frame, is someone else.
    let verdict = run(&[first, second], &[a, b, c, d, e, &p.other_person]);
    let codes: Vec<&str> = verdict.reasons.iter().map(LivenessReason::code).collect();
    assert_eq!(codes, ["identity_changed"], "{:?}", verdict.reasons);
}

#[test]
fn a_repeated_real_frame_is_a_duplicate() {
    let Some((memo, p)) = fixture() else { return };
    let (first, second) = turned_photo_action(memo, p);
    let mut frames = turn_frames(p);
    frames[2] = &p.frontal;
    let verdict = run(&[first, second], &frames);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::DuplicatedFrames {
            frame: 2,
            duplicate_of: 0
        }]
    );
}

#[test]
fn distinct_neutral_views_of_one_photo_are_not_duplicates_and_stay_within_identity_distance() {
    let Some((memo, p)) = fixture() else { return };
    let embed = |image: &Image| {
        let faces = memo.detect(image).unwrap();
        memo.embed(image, &faces[0]).unwrap()
    };
    let reference = embed(&p.frontal);
    for (name, image) in [
        ("mirrored", &p.frontal_mirrored),
        ("cropped", &p.frontal_cropped),
        ("obama2", &p.turned),
        ("obama2 mirrored", &p.turned_mirrored),
    ] {
        let d = memo.compare(&reference, &embed(image)).distance;
        eprintln!("distance obama.jpg ↔ {name}: {d:.3}");
        assert!(
            d <= LivenessPolicy::default().identity_max_distance,
            "{name}: {d}"
        );
    }
    let other = memo.compare(&reference, &embed(&p.other_person)).distance;
    eprintln!("distance obama.jpg ↔ biden.jpg: {other:.3}");
    assert!(other > LivenessPolicy::default().identity_max_distance);
}
