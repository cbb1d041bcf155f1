//! The test faces of the `testkit` feature, checked with the built-in engine: the person's burst is
//! live for either order of the turns and matches the portrait; a still burst is not live; the other
//! person's burst is live and does not match. Needs the photos of `scripts/fetch-face-models.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;
use common::{engine, models_dir};

use std::sync::OnceLock;

use idgate_face::challenge::{Action, Challenge, Nonce};
use idgate_face::liveness::{LivenessPolicy, LivenessReason};
use idgate_face::testkit::{TestFaces, TestFacesError, turn_policy};
use idgate_face::upload::{MAX_FRAME_BYTES, MAX_UPLOAD_BYTES};
use idgate_face::{FaceEngine, LivenessVerdict, image, match_portrait};

fn faces() -> Option<&'static TestFaces> {
    static FACES: OnceLock<Option<TestFaces>> = OnceLock::new();
    FACES
        .get_or_init(|| match TestFaces::load(&models_dir()) {
            Ok(faces) => Some(faces),
            Err(TestFacesError::Missing { path }) => {
                idgate_testkit::missing(
                    idgate_testkit::Prereq::FaceModels,
                    format!("photo {} not found", path.display()),
                );
                None
            }
            Err(e) => panic!("test photos present but unusable: {e}"),
        })
        .as_ref()
}

const ISSUED: u64 = 1_700_000_000_000;
const NOW: u64 = ISSUED + 9_000;

fn challenge(actions: [Action; 2]) -> Challenge {
    Challenge {
        actions: actions.to_vec(),
        nonce: Nonce([7; 16]),
        issued_at_ms: ISSUED,
        expires_at_ms: ISSUED + 120_000,
    }
}

fn liveness(challenge: &Challenge, burst: &idgate_face::Burst) -> LivenessVerdict {
    engine()
        .unwrap()
        .liveness(challenge, burst, &LivenessPolicy::default())
        .unwrap()
}

/// L2 distance between the verdict's reference embedding and the portrait's face.
fn portrait_distance(faces: &TestFaces, verdict: &LivenessVerdict) -> f32 {
    let portrait = image::decode(&faces.portrait_jpeg().jpeg).unwrap();
    let selfie = verdict.reference_embedding.as_ref().unwrap();
    match_portrait(engine().unwrap(), &portrait, selfie, 0.5)
        .unwrap()
        .similarity
        .distance
}

#[test]
fn the_turn_policy_draws_exactly_the_two_turns() {
    let policy = turn_policy();
    policy.validate().unwrap();
    assert_eq!((policy.min_actions, policy.max_actions), (2, 2));
    assert_eq!(policy.allowed, [Action::TurnLeft, Action::TurnRight]);
}

#[test]
fn the_portrait_is_a_jpeg_of_the_declared_size() {
    let Some(faces) = faces() else { return };
    let portrait = faces.portrait_jpeg();
    let decoded = image::decode(&portrait.jpeg).unwrap();
    assert!(portrait.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
    assert_eq!(
        (u32::from(portrait.width), u32::from(portrait.height)),
        (decoded.width, decoded.height)
    );
    let faces_found = engine().unwrap().detect(&decoded).unwrap();
    assert_eq!(faces_found.len(), 1);
}

#[test]
fn the_person_is_live_for_either_order_and_matches_the_portrait() {
    let Some(faces) = faces() else { return };
    for actions in [
        [Action::TurnLeft, Action::TurnRight],
        [Action::TurnRight, Action::TurnLeft],
    ] {
        let challenge = challenge(actions);
        let burst = faces.live_burst(&challenge, NOW).unwrap();
        assert_eq!(burst.frames.len(), 5);
        let verdict = liveness(&challenge, &burst);
        assert!(verdict.live, "{actions:?}: {:?}", verdict.reasons);
        let done: Vec<Action> = verdict.completed_actions.iter().map(|c| c.action).collect();
        assert_eq!(done, actions);
        let distance = portrait_distance(faces, &verdict);
        eprintln!("{actions:?}: person ↔ portrait {distance:.3}");
        assert!(distance <= 0.5, "{distance}");
    }
}

#[test]
fn the_person_burst_is_refused_for_the_reverse_order() {
    let Some(faces) = faces() else { return };
    let asked = challenge([Action::TurnLeft, Action::TurnRight]);
    let performed = faces
        .live_burst(&challenge([Action::TurnRight, Action::TurnLeft]), NOW)
        .unwrap();
    let verdict = liveness(&asked, &performed);
    let codes: Vec<&str> = verdict.reasons.iter().map(LivenessReason::code).collect();
    assert_eq!(codes, ["challenge_not_followed"]);
}

#[test]
fn a_still_burst_is_not_live() {
    let Some(faces) = faces() else { return };
    let challenge = challenge([Action::TurnLeft, Action::TurnRight]);
    let burst = faces.still_burst(&challenge, NOW).unwrap();
    assert_eq!(burst.frames.len(), 5);
    let verdict = liveness(&challenge, &burst);
    assert!(!verdict.live);
    assert_eq!(
        verdict.reasons[0],
        LivenessReason::DuplicatedFrames {
            frame: 1,
            duplicate_of: 0
        }
    );
}

#[test]
fn the_other_person_is_live_but_does_not_match_the_portrait() {
    let Some(faces) = faces() else { return };
    for actions in [
        [Action::TurnLeft, Action::TurnRight],
        [Action::TurnRight, Action::TurnLeft],
    ] {
        let challenge = challenge(actions);
        let burst = faces.other_person_burst(&challenge, NOW).unwrap();
        let verdict = liveness(&challenge, &burst);
        assert!(verdict.live, "{actions:?}: {:?}", verdict.reasons);
        let distance = portrait_distance(faces, &verdict);
        eprintln!("{actions:?}: other person ↔ portrait {distance:.3}");
        assert!(distance > 0.5, "{distance}");
    }
}

#[test]
fn uploads_are_encoded_images_within_the_caps_with_live_timing() {
    let Some(faces) = faces() else { return };
    let challenge = challenge([Action::TurnRight, Action::TurnLeft]);
    for (name, upload) in [
        ("person", faces.live_upload(&challenge, NOW).unwrap()),
        ("still", faces.still_upload(&challenge, NOW).unwrap()),
        ("other", faces.other_person_upload(&challenge, NOW).unwrap()),
    ] {
        let json = serde_json::to_string(&upload).unwrap();
        eprintln!(
            "{name}: {} frames, {} bytes of JSON",
            upload.frames.len(),
            json.len()
        );
        assert!(json.len() < MAX_UPLOAD_BYTES);
        assert_eq!(upload.nonce, challenge.nonce);
        for frame in &upload.frames {
            assert!(frame.image_base64.len() < MAX_FRAME_BYTES);
            assert!(frame.captured_at_ms > challenge.issued_at_ms);
            assert!(frame.captured_at_ms < NOW);
        }
        let gaps: Vec<u64> = upload
            .frames
            .windows(2)
            .map(|w| w[1].captured_at_ms - w[0].captured_at_ms)
            .collect();
        assert!(gaps.iter().all(|&g| g == gaps[0] && g > 0), "{gaps:?}");
    }
}

#[test]
fn a_challenge_the_photos_cannot_perform_is_an_error() {
    let Some(faces) = faces() else { return };
    let blink = Challenge {
        actions: vec![Action::TurnLeft, Action::Blink],
        ..challenge([Action::TurnLeft, Action::TurnRight])
    };
    assert!(matches!(
        faces.live_burst(&blink, NOW),
        Err(TestFacesError::UnsupportedAction(Action::Blink))
    ));
}
