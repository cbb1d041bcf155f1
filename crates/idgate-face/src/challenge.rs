//! Liveness challenges: what the server asks the person to do, and the burst of frames that answers.
//!
//! A [`Challenge`] is issued by the server (docs/verify.md "Face and liveness": "a server-chosen
//! random challenge") and stored with the attempt; it is an ordered sequence of distinct
//! [`Action`]s, a random 16-byte nonce and a validity window on the server clock. The phone answers
//! with a [`Burst`] of camera frames carrying the same nonce. This module only builds and checks
//! the shapes; whether the frames really perform the actions is [`crate::liveness`].
//!
//! The nonce makes each challenge instance unique: a burst submitted against another challenge is
//! refused, and device attestation on the phone is expected to sign the nonce together with the
//! frames so that a burst cannot be re-labelled. The server must also use each challenge once.

use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};

use crate::{FaceError, Image};

/// Fewest frames a burst may hold: one neutral frame around a single action is not enough.
pub const MIN_BURST_FRAMES: usize = 4;
/// Most frames a burst may hold: bounds the CPU spent on one untrusted submission.
pub const MAX_BURST_FRAMES: usize = 32;

/// One thing the person is asked to do, in their own frame of reference.
///
/// Turns are named from the person's point of view: `turn_left` means they turn their head to
/// their own left, which in a raw (un-mirrored) front-camera frame moves the nose towards the
/// image's right edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Turn the head to the person's own left, then back.
    TurnLeft,
    /// Turn the head to the person's own right, then back.
    TurnRight,
    /// Tilt the head back (look up), then back.
    LookUp,
    /// Tilt the head forward (look down), then back.
    LookDown,
    /// Close and reopen both eyes.
    Blink,
    /// Open the mouth, then close it.
    OpenMouth,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 6] = [
        Action::TurnLeft,
        Action::TurnRight,
        Action::LookUp,
        Action::LookDown,
        Action::Blink,
        Action::OpenMouth,
    ];

    /// The stable snake_case code used on the wire and in logs.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Action::TurnLeft => "turn_left",
            Action::TurnRight => "turn_right",
            Action::LookUp => "look_up",
            Action::LookDown => "look_down",
            Action::Blink => "blink",
            Action::OpenMouth => "open_mouth",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A 16-byte random value identifying one challenge instance; serialised as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce(pub [u8; 16]);

impl Serialize for Nonce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text.as_bytes(), &mut bytes)
            .map_err(|_| serde::de::Error::custom("nonce must be 32 hex digits"))?;
        Ok(Nonce(bytes))
    }
}

/// How challenges are drawn. Part of the operator's face configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChallengePolicy {
    /// Fewest actions per challenge (at least 2, so that order is part of the answer).
    pub min_actions: usize,
    /// Most actions per challenge.
    pub max_actions: usize,
    /// How long a challenge may be answered, in milliseconds after issue.
    pub validity_ms: u64,
    /// The actions that may be drawn. An operator can drop, for example, the pitch actions.
    pub allowed: Vec<Action>,
}

impl Default for ChallengePolicy {
    fn default() -> Self {
        Self {
            min_actions: 2,
            max_actions: 3,
            validity_ms: 120_000,
            allowed: Action::ALL.to_vec(),
        }
    }
}

impl ChallengePolicy {
    /// Checks that a challenge can be drawn under this policy.
    ///
    /// # Errors
    /// [`FaceError::InvalidPolicy`] naming the violated constraint.
    pub fn validate(&self) -> Result<(), FaceError> {
        let invalid = |reason| Err(FaceError::InvalidPolicy { reason });
        if self.min_actions < 2 {
            return invalid("challenge min_actions must be at least 2");
        }
        if self.max_actions < self.min_actions {
            return invalid("challenge max_actions must not be below min_actions");
        }
        if !all_distinct(&self.allowed) {
            return invalid("challenge allowed actions must be distinct");
        }
        if self.allowed.len() < self.max_actions {
            return invalid("challenge max_actions exceeds the number of allowed actions");
        }
        if self.validity_ms == 0 {
            return invalid("challenge validity_ms must be positive");
        }
        Ok(())
    }
}

/// What the person must do, issued and stored by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// The actions, to be performed in this order, each from and back to a neutral pose.
    pub actions: Vec<Action>,
    /// Identifies this challenge instance; the burst must carry it.
    pub nonce: Nonce,
    /// Server time of issue, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Server time after which no burst is accepted, Unix milliseconds.
    pub expires_at_ms: u64,
}

impl Challenge {
    /// Draws a random challenge: between `min_actions` and `max_actions` distinct actions from the
    /// allowed set in a uniformly random order, and a fresh nonce.
    ///
    /// Time is a parameter so that the caller's clock (and tests) decide it.
    ///
    /// # Errors
    /// [`FaceError::InvalidPolicy`] for an unusable policy, [`FaceError::Randomness`] when the
    /// random source fails.
    pub fn random<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        policy: &ChallengePolicy,
        now_ms: u64,
    ) -> Result<Self, FaceError> {
        policy.validate()?;
        let span = policy.max_actions - policy.min_actions;
        let count = policy.min_actions + uniform_below(rng, span + 1)?;
        // A partial Fisher–Yates shuffle: the first `count` entries are a uniform random
        // ordered selection, so actions are distinct and never repeat back to back.
        let mut pool = policy.allowed.clone();
        for i in 0..count {
            let j = i + uniform_below(rng, pool.len() - i)?;
            pool.swap(i, j);
        }
        pool.truncate(count);
        let mut nonce = [0u8; 16];
        rng.try_fill_bytes(&mut nonce)
            .map_err(|_| FaceError::Randomness)?;
        let challenge = Self {
            actions: pool,
            nonce: Nonce(nonce),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(policy.validity_ms),
        };
        challenge.validate()?;
        Ok(challenge)
    }

    /// Checks the invariants of a challenge read back from storage.
    ///
    /// # Errors
    /// [`FaceError::InvalidPolicy`] when there are fewer than two actions, repeated actions, or an
    /// empty validity window.
    pub fn validate(&self) -> Result<(), FaceError> {
        if self.actions.len() < 2 || self.actions.len() > Action::ALL.len() {
            return Err(FaceError::InvalidPolicy {
                reason: "a challenge needs 2 to 6 actions",
            });
        }
        if !all_distinct(&self.actions) {
            return Err(FaceError::InvalidPolicy {
                reason: "challenge actions must be distinct",
            });
        }
        if self.expires_at_ms <= self.issued_at_ms {
            return Err(FaceError::InvalidPolicy {
                reason: "challenge expires before it is issued",
            });
        }
        Ok(())
    }
}

/// One camera frame of a burst.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The decoded frame: raw, un-mirrored camera orientation.
    pub image: Image,
    /// When the phone captured it, Unix milliseconds on the phone's clock.
    pub captured_at_ms: u64,
    /// The camera's frame counter, if the client sends one; must then increase strictly.
    pub sequence: Option<u64>,
}

/// The answer to a challenge: frames in capture order.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The nonce of the challenge this burst answers.
    pub nonce: Nonce,
    /// When the server received the burst, Unix milliseconds on the server clock.
    pub received_at_ms: u64,
    /// The frames, [`MIN_BURST_FRAMES`]`..=`[`MAX_BURST_FRAMES`] of them.
    pub frames: Vec<Frame>,
}

impl Burst {
    /// Builds a burst after checking its frame count and images.
    ///
    /// # Errors
    /// As [`Burst::validate`].
    pub fn new(nonce: Nonce, received_at_ms: u64, frames: Vec<Frame>) -> Result<Self, FaceError> {
        let burst = Self {
            nonce,
            received_at_ms,
            frames,
        };
        burst.validate()?;
        Ok(burst)
    }

    /// Checks the frame count bounds and every image buffer.
    ///
    /// # Errors
    /// [`FaceError::InvalidBurst`] for too few or too many frames, or an image error.
    pub fn validate(&self) -> Result<(), FaceError> {
        if self.frames.len() < MIN_BURST_FRAMES {
            return Err(FaceError::InvalidBurst {
                reason: "too few frames",
            });
        }
        if self.frames.len() > MAX_BURST_FRAMES {
            return Err(FaceError::InvalidBurst {
                reason: "too many frames",
            });
        }
        self.frames
            .iter()
            .try_for_each(|frame| frame.image.validate())
    }
}

fn all_distinct(actions: &[Action]) -> bool {
    actions
        .iter()
        .enumerate()
        .all(|(i, a)| !actions.iter().skip(i + 1).any(|b| a == b))
}

/// A uniform integer in `0..n` by rejection sampling (no modulo bias); `n` is small here.
fn uniform_below<R: TryCryptoRng + ?Sized>(rng: &mut R, n: usize) -> Result<usize, FaceError> {
    let n32 = u32::try_from(n).map_err(|_| FaceError::InvalidPolicy {
        reason: "too many actions",
    })?;
    if n32 == 0 {
        return Err(FaceError::InvalidPolicy {
            reason: "empty action pool",
        });
    }
    let zone = u32::MAX - (u32::MAX % n32);
    loop {
        let x = rng.try_next_u32().map_err(|_| FaceError::Randomness)?;
        if x < zone {
            return usize::try_from(x % n32).map_err(|_| FaceError::Randomness);
        }
    }
}
