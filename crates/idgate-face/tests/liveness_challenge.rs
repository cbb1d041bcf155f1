//! Challenge issuing: random, distinct, ordered actions with a fresh nonce, stored as JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::collections::HashSet;
use std::convert::Infallible;

use idgate_face::FaceError;
use idgate_face::Image;
use idgate_face::challenge::{
    Action, Burst, Challenge, ChallengePolicy, Frame, MAX_BURST_FRAMES, Nonce,
};
use rand_core::{TryCryptoRng, TryRng};

/// A deterministic xorshift generator; test-only, marked crypto so it can stand in for the OS RNG.
struct TestRng(u64);

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.try_next_u64().map(|v| (v >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for TestRng {}

/// A random source that always fails, like an unavailable OS entropy source.
struct BrokenRng;

impl TryRng for BrokenRng {
    type Error = std::io::Error;
    fn try_next_u32(&mut self) -> Result<u32, std::io::Error> {
        Err(std::io::Error::other("entropy unavailable"))
    }
    fn try_next_u64(&mut self) -> Result<u64, std::io::Error> {
        Err(std::io::Error::other("entropy unavailable"))
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), std::io::Error> {
        Err(std::io::Error::other("entropy unavailable"))
    }
}
impl TryCryptoRng for BrokenRng {}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn a_challenge_has_distinct_actions_within_the_policy_bounds() {
    let mut rng = TestRng(0x1234_5678_9abc_def1);
    let policy = ChallengePolicy::default();
    for _ in 0..500 {
        let c = Challenge::random(&mut rng, &policy, NOW).unwrap();
        assert!((2..=3).contains(&c.actions.len()), "{:?}", c.actions);
        assert_eq!(
            c.actions.iter().collect::<HashSet<_>>().len(),
            c.actions.len()
        );
        assert!(c.actions.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(c.issued_at_ms, NOW);
        assert_eq!(c.expires_at_ms, NOW + 120_000);
    }
}

#[test]
fn every_ordered_selection_can_be_drawn() {
    let mut rng = TestRng(42);
    let policy = ChallengePolicy {
        min_actions: 2,
        max_actions: 2,
        allowed: vec![Action::TurnLeft, Action::TurnRight, Action::Blink],
        ..ChallengePolicy::default()
    };
    let seen: HashSet<Vec<Action>> = (0..600)
        .map(|_| Challenge::random(&mut rng, &policy, NOW).unwrap().actions)
        .collect();
    assert_eq!(seen.len(), 6, "all 3×2 ordered pairs: {seen:?}");
}

#[test]
fn each_challenge_has_a_fresh_nonce() {
    let mut rng = TestRng(7);
    let policy = ChallengePolicy::default();
    let nonces: HashSet<Nonce> = (0..200)
        .map(|_| Challenge::random(&mut rng, &policy, NOW).unwrap().nonce)
        .collect();
    assert_eq!(nonces.len(), 200);
}

#[test]
fn a_failing_random_source_is_an_error_not_a_panic() {
    let err = Challenge::random(&mut BrokenRng, &ChallengePolicy::default(), NOW).unwrap_err();
    assert!(matches!(err, FaceError::Randomness));
}

#[test]
fn a_challenge_round_trips_through_json_with_snake_case_actions_and_hex_nonce() {
    let c = Challenge {
        actions: vec![Action::TurnLeft, Action::OpenMouth, Action::LookDown],
        nonce: Nonce([0xab; 16]),
        issued_at_ms: NOW,
        expires_at_ms: NOW + 1000,
    };
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "actions": ["turn_left", "open_mouth", "look_down"],
            "nonce": "abababababababababababababababab",
            "issued_at_ms": NOW,
            "expires_at_ms": NOW + 1000,
        })
    );
    assert_eq!(serde_json::from_value::<Challenge>(json).unwrap(), c);
}

#[test]
fn a_stored_challenge_with_a_malformed_nonce_is_rejected() {
    let json = serde_json::json!({"actions": ["blink", "turn_left"], "nonce": "abcd", "issued_at_ms": 1, "expires_at_ms": 2});
    assert!(serde_json::from_value::<Challenge>(json).is_err());
}

#[test]
fn a_challenge_with_repeated_or_too_few_actions_is_invalid() {
    let base = Challenge {
        actions: vec![],
        nonce: Nonce([1; 16]),
        issued_at_ms: NOW,
        expires_at_ms: NOW + 1,
    };
    let repeated = Challenge {
        actions: vec![Action::Blink, Action::Blink],
        ..base.clone()
    };
    assert!(matches!(
        repeated.validate(),
        Err(FaceError::InvalidPolicy { .. })
    ));
    let single = Challenge {
        actions: vec![Action::Blink],
        ..base.clone()
    };
    assert!(single.validate().is_err());
    let expired = Challenge {
        actions: vec![Action::Blink, Action::LookUp],
        expires_at_ms: NOW,
        ..base
    };
    assert!(expired.validate().is_err());
}

#[test]
fn an_unusable_challenge_policy_is_rejected() {
    let mut rng = TestRng(3);
    let too_few = ChallengePolicy {
        min_actions: 1,
        ..ChallengePolicy::default()
    };
    assert!(Challenge::random(&mut rng, &too_few, NOW).is_err());
    let too_many = ChallengePolicy {
        max_actions: 4,
        allowed: vec![Action::Blink, Action::TurnLeft, Action::TurnRight],
        ..ChallengePolicy::default()
    };
    assert!(Challenge::random(&mut rng, &too_many, NOW).is_err());
    let repeated = ChallengePolicy {
        allowed: vec![Action::Blink, Action::Blink, Action::TurnLeft],
        ..ChallengePolicy::default()
    };
    assert!(repeated.validate().is_err());
}

#[test]
fn a_burst_checks_its_frame_count_and_images() {
    let frame = |i: u64| Frame {
        image: Image::new(2, 2, vec![i as u8; 12]).unwrap(),
        captured_at_ms: i,
        sequence: None,
    };
    assert!(Burst::new(Nonce([0; 16]), 0, (0..4).map(frame).collect()).is_ok());
    assert!(Burst::new(Nonce([0; 16]), 0, (0..3).map(frame).collect()).is_err());
    assert!(
        Burst::new(
            Nonce([0; 16]),
            0,
            (0..MAX_BURST_FRAMES as u64 + 1).map(frame).collect()
        )
        .is_err()
    );
    let mut frames: Vec<Frame> = (0..4).map(frame).collect();
    frames[2].image.rgb.pop();
    let err = Burst::new(Nonce([0; 16]), 0, frames).unwrap_err();
    assert!(matches!(
        err,
        FaceError::ImageBufferMismatch {
            expected: 12,
            actual: 11,
            ..
        }
    ));
}
