//! Liveness never panics, whatever an engine or a client sends: arbitrary landmarks (including
//! non-finite and collapsed ones), embeddings of any dimension, face counts, timestamps and frame
//! counters. Every outcome is a verdict or an error, and `live` is true only without reasons.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use common::{frame_image, frame_index};
use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
use idgate_face::liveness::{LivenessPolicy, PoseFeatures, evaluate};
use idgate_face::{BoundingBox, Embedding, Face, FaceEngine, FaceError, Image, Point, Quality};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Shot {
    faces: usize,
    landmarks: Vec<Point>,
    embedding: Vec<f32>,
}

struct Scripted(Vec<Shot>);

impl FaceEngine for Scripted {
    fn detect(&self, image: &Image) -> Result<Vec<Face>, FaceError> {
        let shot = &self.0[frame_index(image)];
        let face = Face {
            bbox: BoundingBox {
                x: 0.0,
                y: 0.0,
                width: 10.0,
                height: 10.0,
            },
            score: 0.5,
            landmarks: shot.landmarks.clone(),
            quality: Quality::default(),
        };
        Ok(vec![face; shot.faces])
    }
    fn embed(&self, image: &Image, _: &Face) -> Result<Embedding, FaceError> {
        Ok(Embedding(self.0[frame_index(image)].embedding.clone()))
    }
}

fn coordinate() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => 0.0f32..200.0,
        1 => Just(0.0f32),
        1 => prop::num::f32::ANY,
    ]
}

fn landmarks() -> impl Strategy<Value = Vec<Point>> {
    prop_oneof![
        9 => prop::collection::vec((coordinate(), coordinate()).prop_map(|(x, y)| Point { x, y }), 68),
        1 => prop::collection::vec((coordinate(), coordinate()).prop_map(|(x, y)| Point { x, y }), 0..80),
    ]
}

fn shot() -> impl Strategy<Value = Shot> {
    (
        prop_oneof![8 => Just(1usize), 1 => Just(0usize), 1 => Just(2usize)],
        landmarks(),
        prop::collection::vec(
            prop_oneof![9 => -1.0f32..1.0, 1 => prop::num::f32::ANY],
            0..4,
        ),
    )
        .prop_map(|(faces, landmarks, embedding)| Shot {
            faces,
            landmarks,
            embedding,
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop::sample::select(Action::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pose_features_are_finite_or_absent(points in landmarks()) {
        match PoseFeatures::from_landmarks(&points) {
            Ok(Some(f)) => prop_assert!([f.yaw, f.pitch, f.ear, f.mar, f.vertical_scale].iter().all(|v| v.is_finite())),
            Ok(None) => {}
            Err(e) => {
                let landmark_count = matches!(e, FaceError::LandmarkCount { .. });
                prop_assert!(landmark_count);
            }
        }
    }

    #[test]
    fn evaluation_never_panics_and_live_means_no_reasons(
        shots in prop::collection::vec(shot(), 4..10),
        gaps in prop::collection::vec(0u64..400, 10),
        sequences in prop::option::of(prop::collection::vec(0u64..20, 10)),
        (first, second) in (action(), action()).prop_filter("distinct", |(a, b)| a != b),
        threads in 1usize..3,
    ) {
        let issued = 1_700_000_000_000u64;
        let mut at = issued + 1_000;
        let frames: Vec<Frame> = (0..shots.len())
            .map(|i| {
                at += gaps[i];
                Frame { image: frame_image(i), captured_at_ms: at, sequence: sequences.as_ref().map(|s| s[i]) }
            })
            .collect();
        let nonce = Nonce([3; 16]);
        let challenge = Challenge { actions: vec![first, second], nonce, issued_at_ms: issued, expires_at_ms: issued + 60_000 };
        let burst = Burst { nonce, received_at_ms: at + 100, frames };
        let policy = LivenessPolicy { threads, ..LivenessPolicy::default() };
        match evaluate(&Scripted(shots), &challenge, &burst, &policy) {
            Ok(verdict) => prop_assert_eq!(verdict.live, verdict.reasons.is_empty()),
            Err(e) => {
                let landmark_count = matches!(e, FaceError::LandmarkCount { .. });
                prop_assert!(landmark_count, "{}", e);
            }
        }
    }
}
