//! Every liveness rule proven with a scripted engine: each frame's image carries an id, and the
//! engine answers with landmarks synthesised for a wanted pose and an embedding per person.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
mod common;

use common::{
    CLOSED, DOWN, HALF_LEFT, LEFT, MOUTH, NEUTRAL, Pose, RIGHT, UP, frame_image, frame_index,
    landmarks,
};
use idgate_face::liveness::{LivenessPolicy, LivenessReason, PoseFeatures, TimingIssue, evaluate};
use idgate_face::{BoundingBox, Embedding, Face, FaceEngine, FaceError, Image, Point, Quality};

#[derive(Clone, Copy, Debug)]
enum Shot {
    Face(Pose),
    Person(Pose, usize),
    NoFace,
    Faces(usize),
}

fn face(pose: Pose) -> Face {
    Face {
        bbox: BoundingBox {
            x: 15.0,
            y: 35.0,
            width: 70.0,
            height: 70.0,
        },
        score: 0.9,
        landmarks: landmarks(pose),
        quality: Quality {
            face_size_px: 70.0,
            sharpness: 100.0,
            brightness: 120.0,
        },
    }
}

struct Scripted {
    shots: Vec<Shot>,
    detect_calls: AtomicUsize,
}

impl Scripted {
    fn new(shots: &[Shot]) -> Self {
        Self {
            shots: shots.to_vec(),
            detect_calls: AtomicUsize::new(0),
        }
    }
    fn shot(&self, image: &Image) -> Shot {
        self.shots[frame_index(image)]
    }
}

impl FaceEngine for Scripted {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        self.detect_calls.fetch_add(1, Ordering::SeqCst);
        Ok(match self.shot(image) {
            Shot::Face(pose) | Shot::Person(pose, _) => vec![face(pose)],
            Shot::NoFace => vec![],
            Shot::Faces(n) => vec![face(NEUTRAL); n],
        })
    }
    fn embed(&self, image: &Image, _face: &Face) -> Result<Embedding, FaceError> {
        let person = match self.shot(image) {
            Shot::Person(_, p) => p,
            _ => 0,
        };
        let mut v = vec![0.0; 128];
        v[person] = 1.0;
        Ok(Embedding(v))
    }
}

const ISSUED: u64 = 1_700_000_000_000;
const NONCE: Nonce = Nonce([7; 16]);

fn challenge(actions: &[Action]) -> Challenge {
    Challenge {
        actions: actions.to_vec(),
        nonce: NONCE,
        issued_at_ms: ISSUED,
        expires_at_ms: ISSUED + 120_000,
    }
}

/// Frames 200 ms apart starting 2 s after the challenge, received 500 ms after the last one.
fn burst(count: usize) -> Burst {
    let frames: Vec<Frame> = (0..count)
        .map(|i| Frame {
            image: frame_image(i),
            captured_at_ms: ISSUED + 2_000 + 200 * i as u64,
            sequence: None,
        })
        .collect();
    let received = frames.last().unwrap().captured_at_ms + 500;
    Burst {
        nonce: NONCE,
        received_at_ms: received,
        frames,
    }
}

fn run(actions: &[Action], shots: &[Shot]) -> idgate_face::LivenessVerdict {
    run_burst(actions, shots, burst(shots.len()))
}

fn run_burst(actions: &[Action], shots: &[Shot], burst: Burst) -> idgate_face::LivenessVerdict {
    let engine = Scripted::new(shots);
    evaluate(
        &engine,
        &challenge(actions),
        &burst,
        &LivenessPolicy::default(),
    )
    .unwrap()
}

fn faces(poses: &[Pose]) -> Vec<Shot> {
    poses.iter().map(|&p| Shot::Face(p)).collect()
}

fn codes(verdict: &idgate_face::LivenessVerdict) -> Vec<&'static str> {
    verdict.reasons.iter().map(LivenessReason::code).collect()
}

use Action::{Blink, LookDown, LookUp, OpenMouth, TurnLeft, TurnRight};

#[test]
fn burst_performing_the_challenge_in_order_is_live() {
    let shots = faces(&[
        NEUTRAL, NEUTRAL, HALF_LEFT, LEFT, NEUTRAL, CLOSED, NEUTRAL, MOUTH, NEUTRAL,
    ]);
    let verdict = run(&[TurnLeft, Blink, OpenMouth], &shots);
    assert!(verdict.live, "{:?}", verdict.reasons);
    let done: Vec<Action> = verdict.completed_actions.iter().map(|c| c.action).collect();
    assert_eq!(done, [TurnLeft, Blink, OpenMouth]);
    assert_eq!(verdict.completed_actions[0].peak_frame, 3);
    assert_eq!(verdict.reference_frame, Some(0));
    assert!(verdict.reference_embedding.is_some());
}

#[test]
fn look_up_and_look_down_are_read_from_the_pitch_proxy() {
    let shots = faces(&[NEUTRAL, UP, NEUTRAL, NEUTRAL, DOWN, NEUTRAL]);
    let verdict = run(&[LookUp, LookDown], &shots);
    assert!(verdict.live, "{:?}", verdict.reasons);
}

#[test]
fn actions_in_reverse_order_do_not_follow_the_challenge() {
    let shots = faces(&[NEUTRAL, RIGHT, NEUTRAL, LEFT, NEUTRAL]);
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert!(!verdict.live);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::ChallengeNotFollowed {
            step: 0,
            expected: TurnLeft,
            observed: Some(TurnRight),
            frame: Some(2)
        }]
    );
}

#[test]
fn repeating_an_action_before_the_next_step_does_not_follow_the_challenge() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert_eq!(codes(&verdict), ["challenge_not_followed"]);
}

#[test]
fn a_step_never_performed_is_reported_with_its_index() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, NEUTRAL]);
    let verdict = run(&[TurnLeft, OpenMouth], &shots);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::ChallengeNotFollowed {
            step: 1,
            expected: OpenMouth,
            observed: None,
            frame: None
        }]
    );
    assert_eq!(verdict.completed_actions.len(), 1);
}

#[test]
fn an_action_must_return_to_neutral_to_count() {
    let shots = faces(&[NEUTRAL, MOUTH, NEUTRAL, LEFT, LEFT]);
    let verdict = run(&[OpenMouth, TurnLeft], &shots);
    assert_eq!(codes(&verdict), ["challenge_not_followed"]);
}

#[test]
fn an_action_must_start_from_neutral_to_count() {
    let shots = faces(&[LEFT, NEUTRAL, MOUTH, NEUTRAL]);
    let verdict = run(&[TurnLeft, OpenMouth], &shots);
    assert!(matches!(
        verdict.reasons[..],
        [LivenessReason::ChallengeNotFollowed { step: 0, .. }]
    ));
}

#[test]
fn an_intermediate_pose_neither_completes_nor_releases_a_turn() {
    let shots = faces(&[NEUTRAL, HALF_LEFT, NEUTRAL, MOUTH, NEUTRAL]);
    let verdict = run(&[TurnLeft, OpenMouth], &shots);
    assert!(!verdict.live);
}

#[test]
fn an_involuntary_blink_outside_its_step_is_ignored() {
    let shots = faces(&[NEUTRAL, CLOSED, NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert!(verdict.live, "{:?}", verdict.reasons);
}

#[test]
fn actions_outside_the_challenge_are_ignored() {
    let shots = faces(&[NEUTRAL, MOUTH, NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert!(verdict.live, "{:?}", verdict.reasons);
}

#[test]
fn a_blink_is_judged_against_the_bursts_own_eye_baseline() {
    let narrow = Pose {
        ear: 0.18,
        ..NEUTRAL
    };
    let narrow_closed = Pose {
        ear: 0.09,
        ..NEUTRAL
    };
    let shots = faces(&[narrow, narrow, narrow_closed, narrow, MOUTH, narrow]);
    assert!(run(&[Blink, OpenMouth], &shots).live);

    let wide = Pose {
        ear: 0.34,
        ..NEUTRAL
    };
    let squint = Pose {
        ear: 0.25,
        ..NEUTRAL
    };
    let shots = faces(&[wide, wide, squint, wide, MOUTH, wide]);
    assert_eq!(
        codes(&run(&[Blink, OpenMouth], &shots)),
        ["challenge_not_followed"]
    );
}

#[test]
fn eyes_held_shut_longer_than_a_blink_do_not_count() {
    let mut shots = vec![Shot::Face(NEUTRAL), Shot::Face(NEUTRAL)];
    shots.extend([Shot::Face(CLOSED); 12]);
    shots.extend([Shot::Face(NEUTRAL), Shot::Face(MOUTH), Shot::Face(NEUTRAL)]);
    let verdict = run(&[Blink, OpenMouth], &shots);
    assert!(matches!(
        verdict.reasons[..],
        [LivenessReason::ChallengeNotFollowed {
            step: 0,
            expected: Blink,
            ..
        }]
    ));
}

#[test]
fn a_frame_without_a_face_is_refused_with_its_index() {
    let mut shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    shots[2] = Shot::NoFace;
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert_eq!(verdict.reasons, [LivenessReason::NoFace { frame: 2 }]);
    assert!(verdict.reference_embedding.is_none());
}

#[test]
fn a_frame_with_two_faces_is_refused_with_its_index() {
    let mut shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    shots[4] = Shot::Faces(2);
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::MultipleFaces { frame: 4, count: 2 }]
    );
}

#[test]
fn another_person_at_an_action_peak_changes_identity() {
    let shots = vec![
        Shot::Face(NEUTRAL),
        Shot::Face(NEUTRAL),
        Shot::Person(LEFT, 1),
        Shot::Face(NEUTRAL),
        Shot::Face(RIGHT),
        Shot::Face(NEUTRAL),
    ];
    let verdict = run(&[TurnLeft, TurnRight], &shots);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::IdentityChanged {
            frame: 2,
            reference_frame: 0
        }]
    );
}

#[test]
fn another_person_in_the_last_frame_changes_identity() {
    let mut shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL, NEUTRAL]);
    shots[5] = Shot::Person(NEUTRAL, 3);
    assert_eq!(
        codes(&run(&[TurnLeft, TurnRight], &shots)),
        ["identity_changed"]
    );
}

#[test]
fn order_and_identity_failures_are_reported_together() {
    let shots = vec![
        Shot::Face(NEUTRAL),
        Shot::Face(RIGHT),
        Shot::Face(NEUTRAL),
        Shot::Face(LEFT),
        Shot::Person(NEUTRAL, 2),
    ];
    assert_eq!(
        codes(&run(&[TurnLeft, TurnRight], &shots)),
        ["challenge_not_followed", "identity_changed"]
    );
}

#[test]
fn a_repeated_frame_is_a_duplicate_and_costs_no_detection() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let mut b = burst(shots.len());
    b.frames[3].image = b.frames[1].image.clone();
    let engine = Scripted::new(&shots);
    let verdict = evaluate(
        &engine,
        &challenge(&[TurnLeft, TurnRight]),
        &b,
        &LivenessPolicy::default(),
    )
    .unwrap();
    assert_eq!(
        verdict.reasons,
        [LivenessReason::DuplicatedFrames {
            frame: 3,
            duplicate_of: 1
        }]
    );
    assert_eq!(engine.detect_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_re_exposed_copy_of_a_frame_is_a_duplicate() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let mut b = burst(shots.len());
    let mut copy = b.frames[0].image.clone();
    // Brighter and with more contrast, keeping the id pixel so the script is unchanged.
    for v in copy.rgb.iter_mut().skip(3) {
        *v = (u16::from(*v) * 9 / 10 + 20).min(255) as u8;
    }
    copy.rgb[0] = 0;
    copy.rgb[1] = 4;
    b.frames[4].image = copy;
    let verdict = run_burst(&[TurnLeft, TurnRight], &shots, b);
    assert_eq!(
        verdict.reasons,
        [LivenessReason::DuplicatedFrames {
            frame: 4,
            duplicate_of: 0
        }]
    );
}

fn timing_reasons(edit: impl FnOnce(&mut Burst)) -> Vec<LivenessReason> {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let mut b = burst(shots.len());
    edit(&mut b);
    run_burst(&[TurnLeft, TurnRight], &shots, b).reasons
}

fn timing(frame: usize, issue: TimingIssue) -> LivenessReason {
    LivenessReason::ImplausibleTiming { frame, issue }
}

#[test]
fn timestamps_going_backwards_are_implausible() {
    let reasons = timing_reasons(|b| b.frames[2].captured_at_ms = b.frames[1].captured_at_ms - 10);
    assert!(
        reasons.contains(&timing(2, TimingIssue::NotMonotonic)),
        "{reasons:?}"
    );
}

#[test]
fn frames_closer_than_the_minimum_gap_are_implausible() {
    let reasons = timing_reasons(|b| b.frames[3].captured_at_ms = b.frames[2].captured_at_ms + 5);
    assert!(
        reasons.contains(&timing(3, TimingIssue::GapTooShort)),
        "{reasons:?}"
    );
}

#[test]
fn a_gap_longer_than_the_maximum_is_implausible() {
    let reasons = timing_reasons(|b| {
        for f in &mut b.frames[3..] {
            f.captured_at_ms += 5_000;
        }
        b.received_at_ms += 5_000;
    });
    assert_eq!(reasons, [timing(3, TimingIssue::GapTooLong)]);
}

#[test]
fn a_burst_shorter_than_a_person_can_act_is_implausible() {
    let reasons = timing_reasons(|b| {
        for (i, f) in b.frames.iter_mut().enumerate() {
            f.captured_at_ms = ISSUED + 2_000 + 30 * i as u64;
        }
    });
    assert_eq!(reasons, [timing(4, TimingIssue::DurationTooShort)]);
}

#[test]
fn frames_captured_before_the_challenge_are_implausible() {
    let reasons = timing_reasons(|b| {
        for f in &mut b.frames {
            f.captured_at_ms -= 3_600_000;
        }
    });
    assert_eq!(reasons, [timing(0, TimingIssue::BeforeChallenge)]);
}

#[test]
fn frames_captured_after_receipt_are_implausible() {
    let reasons = timing_reasons(|b| b.received_at_ms -= 120_000);
    assert_eq!(reasons, [timing(4, TimingIssue::AfterReceipt)]);
}

#[test]
fn sequence_numbers_must_increase_and_be_on_every_frame() {
    let increasing = timing_reasons(|b| {
        b.frames
            .iter_mut()
            .enumerate()
            .for_each(|(i, f)| f.sequence = Some(10 + 2 * i as u64))
    });
    assert!(increasing.is_empty(), "{increasing:?}");
    let repeated = timing_reasons(|b| {
        b.frames
            .iter_mut()
            .enumerate()
            .for_each(|(i, f)| f.sequence = Some(10 + i as u64));
        b.frames[2].sequence = Some(11);
    });
    assert_eq!(repeated, [timing(2, TimingIssue::SequenceNotIncreasing)]);
    let partial = timing_reasons(|b| b.frames[0].sequence = Some(1));
    assert_eq!(partial, [timing(1, TimingIssue::SequenceInconsistent)]);
}

#[test]
fn a_burst_for_another_challenge_is_refused() {
    let reasons = timing_reasons(|b| b.nonce = Nonce([8; 16]));
    assert_eq!(reasons, [LivenessReason::ChallengeMismatch]);
}

#[test]
fn a_burst_received_after_expiry_is_refused() {
    let reasons = timing_reasons(|b| b.received_at_ms = ISSUED + 120_001);
    assert_eq!(reasons, [LivenessReason::ChallengeExpired]);
}

#[test]
fn burst_size_is_bounded() {
    let engine = Scripted::new(&[Shot::Face(NEUTRAL); 40]);
    let c = challenge(&[TurnLeft, TurnRight]);
    let policy = LivenessPolicy::default();
    let err = evaluate(&engine, &c, &burst(3), &policy).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::InvalidBurst {
                reason: "too few frames"
            }
        ),
        "{err}"
    );
    let err = evaluate(&engine, &c, &burst(33), &policy).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::InvalidBurst {
                reason: "too many frames"
            }
        ),
        "{err}"
    );
}

#[test]
fn detection_on_several_threads_gives_the_same_verdict() {
    let shots = faces(&[
        NEUTRAL, NEUTRAL, LEFT, NEUTRAL, CLOSED, NEUTRAL, MOUTH, NEUTRAL, NEUTRAL,
    ]);
    let c = challenge(&[TurnLeft, Blink, OpenMouth]);
    let b = burst(shots.len());
    let verdicts: Vec<_> = [1, 2, 4]
        .into_iter()
        .map(|threads| {
            let policy = LivenessPolicy {
                threads,
                ..LivenessPolicy::default()
            };
            evaluate(&Scripted::new(&shots), &c, &b, &policy).unwrap()
        })
        .collect();
    assert!(verdicts[0].live);
    assert!(verdicts.iter().all(|v| *v == verdicts[0]));
}

#[test]
fn an_inconsistent_policy_is_an_error() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let policy = LivenessPolicy {
        yaw_neutral: 0.5,
        yaw_action: 0.3,
        ..LivenessPolicy::default()
    };
    let err = evaluate(
        &Scripted::new(&shots),
        &challenge(&[TurnLeft, TurnRight]),
        &burst(5),
        &policy,
    )
    .unwrap_err();
    assert!(matches!(err, FaceError::InvalidPolicy { .. }));
}

#[test]
fn the_trait_method_runs_the_same_evaluation() {
    let shots = faces(&[NEUTRAL, LEFT, NEUTRAL, RIGHT, NEUTRAL]);
    let engine: &dyn FaceEngine = &Scripted::new(&shots);
    let verdict = engine
        .liveness(
            &challenge(&[TurnLeft, TurnRight]),
            &burst(5),
            &LivenessPolicy::default(),
        )
        .unwrap();
    assert!(verdict.live);
}

#[test]
fn pose_features_follow_the_documented_formulas() {
    let f = PoseFeatures::from_landmarks(&landmarks(Pose {
        yaw: 0.4,
        pitch: 0.5,
        ear: 0.3,
        mar: 0.4,
    }))
    .unwrap()
    .unwrap();
    assert!((f.yaw - 0.4).abs() < 1e-3);
    assert!((f.pitch - 0.5).abs() < 1e-4);
    assert!((f.ear - 0.3).abs() < 1e-4);
    assert!((f.mar - 0.4).abs() < 1e-4);
    assert!((f.vertical_scale - 1.5).abs() < 1e-4);
}

#[test]
fn pose_features_need_exactly_68_landmarks() {
    let err = PoseFeatures::from_landmarks(&[Point::default(); 5]).unwrap_err();
    assert!(matches!(
        err,
        FaceError::LandmarkCount {
            expected: 68,
            found: 5
        }
    ));
}

#[test]
fn collapsed_landmarks_have_no_features() {
    assert_eq!(
        PoseFeatures::from_landmarks(&[Point::default(); 68]).unwrap(),
        None
    );
}

#[test]
fn reasons_serialise_with_snake_case_codes() {
    let json = serde_json::to_value(LivenessReason::ChallengeNotFollowed {
        step: 1,
        expected: TurnLeft,
        observed: Some(TurnRight),
        frame: Some(4),
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"code": "challenge_not_followed", "step": 1, "expected": "turn_left", "observed": "turn_right", "frame": 4})
    );
    let json = serde_json::to_value(timing(2, TimingIssue::GapTooShort)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"code": "implausible_timing", "frame": 2, "issue": "gap_too_short"})
    );
}
