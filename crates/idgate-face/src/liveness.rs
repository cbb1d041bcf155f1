//! Active liveness: checks that a [`Burst`] of frames shows one live person performing a
//! [`Challenge`] in order (docs/verify.md "Face and liveness"; thresholds from
//! docs/face-engine.md "Liveness").
//!
//! # What it checks
//! 1. **Binding and timing** (no model needed): the burst carries the challenge's nonce and arrives
//!    before the challenge expires; capture timestamps increase, respect a minimum and maximum gap and
//!    a total duration window, and lie within the challenge's lifetime (allowing for phone clock
//!    skew); optional frame counters increase. Refusals: `challenge_mismatch`, `challenge_expired`,
//!    `implausible_timing`.
//! 2. **No replayed frames**: two frames with the same pixels, or the same 16×16 luma thumbnail after
//!    brightness/contrast normalisation (a re-encoded or re-exposed copy), are `duplicated_frames`.
//!    A camera never delivers the same frame twice: sensor noise and the person's motion change it.
//! 3. **One face per frame**: `no_face` / `multiple_faces`, with the frame index.
//! 4. **The actions, in order**: each frame's 68 landmarks give four pose features ([`PoseFeatures`]).
//!    Per action a hysteresis tracker sees neutral → action → neutral; the completed actions must match
//!    the challenge in order (`challenge_not_followed`, with the step). Blinks are involuntary, so a
//!    blink outside its step is ignored, not a violation; actions not in the challenge are ignored.
//! 5. **Identity continuity**: embeddings of the first, middle and last frame and of the peak frame of
//!    every completed action must all lie within `identity_max_distance` of the most frontal frame
//!    (`identity_changed`). That frame's embedding is returned for the passport-portrait match.
//!
//! # What it resists, and what it does not
//! It resists a printed photo or a screen held up to the camera: a flat picture turned or tilted
//! changes its projection uniformly, so the nose never moves relative to the jaw (yaw proxy) and the
//! nose tip never moves relative to the eye–mouth line (pitch proxy) the way a 3D head does; it cannot
//! open its mouth either. It resists a replayed single image (duplicate detection, no motion), a
//! pre-recorded video of the person or of someone else (the random order of actions must be followed,
//! and a swap of faces breaks identity continuity), and the replay of an earlier burst (a new nonce
//! and action order per challenge, timestamps inside the challenge's lifetime).
//!
//! It does **not** resist a deepfake injected into the camera stream or a live puppeteered 3D
//! rendering of the person's face, which can perform any challenge; a determined attacker can also
//! add noise to defeat the duplicate check. Against those, the phone's device attestation must vouch
//! that the frames come from the physical camera and sign the nonce with them. This module does not
//! check image-level presentation-attack cues (moiré, screen glare, paper texture).

use serde::{Deserialize, Serialize};

use crate::challenge::{Action, Burst, Challenge};
pub use crate::pose::PoseFeatures;
use crate::pose::{Baseline, match_challenge, reference_frame, track_actions};
use crate::replay::{binding_and_timing, duplicated_frames};
use crate::{Embedding, Face, FaceEngine, FaceError};

/// Thresholds of the liveness decision. Part of the operator's face configuration.
///
/// Defaults come from docs/face-engine.md "Liveness" (yaw, EAR, MAR measured with 68-point
/// landmarks on stills) or, for the pitch proxy and timing, from the geometry and frame rates
/// explained on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessPolicy {
    /// A face is neutral in yaw when `|yaw| < yaw_neutral`. With the built-in landmarks, the 16
    /// frontal faces of the held-out photos measure −0.128…+0.116 and their 4 slight turns
    /// +0.169…+0.211 (docs/face-engine.md "Yaw on held-out photos"); 0.15 lies midway. obama3.jpg,
    /// a slight turn, measures ±0.20.
    pub yaw_neutral: f32,
    /// A turn is reached when `|yaw| > yaw_action` with the right sign. Set for the built-in
    /// (face-api) landmarks, whose far-side jaw contour is less extreme than dlib's: the clear
    /// three-quarter turn of obama2.jpg measures −0.32 (dlib: −0.45) and its mirror +0.34; the
    /// three turned faces of the held-out photos measure −0.317, +0.311 and +0.315.
    pub yaw_action: f32,
    /// Pitch is neutral when the pitch proxy is within this of the burst's median. A 3D head model
    /// (nose tip 2.5 cm in front of the eye–mouth plane) moves the proxy by about 0.04 at 10°.
    pub pitch_neutral: f32,
    /// Look up / down is reached when the proxy moves this far from the median (about 20°).
    pub pitch_action: f32,
    /// Eyes count as closed when the eye aspect ratio drops below this fraction of the burst's
    /// baseline (median EAR of the yaw-neutral frames).
    pub blink_closed_ratio: f32,
    /// Eyes count as open again above this fraction of the baseline (hysteresis).
    pub blink_open_ratio: f32,
    /// Longest closure accepted as a blink, in milliseconds; longer is eyes held shut.
    pub blink_max_ms: u64,
    /// The mouth is open above this mouth aspect ratio (measured open 0.38–0.45).
    pub mouth_open: f32,
    /// The mouth is closed again below this ratio (measured closed 0.02–0.07).
    pub mouth_closed: f32,
    /// Largest L2 embedding distance between a key frame and the reference frame of the burst.
    /// Same-person pairs of different photos measured 0.20–0.53, different people ≥ 0.56
    /// (docs/face-engine.md "Match threshold"); frames of one burst share lighting and camera.
    pub identity_max_distance: f32,
    /// Smallest gap between consecutive capture timestamps (ms): 20 ms is 50 frames per second.
    pub min_frame_gap_ms: u64,
    /// Largest gap between consecutive capture timestamps (ms): a longer gap could hide a swap.
    pub max_frame_gap_ms: u64,
    /// Shortest plausible burst (ms): a person cannot perform two actions faster.
    pub min_duration_ms: u64,
    /// Longest accepted burst (ms).
    pub max_duration_ms: u64,
    /// Tolerated difference between the phone's clock and the server's (ms).
    pub max_clock_skew_ms: u64,
    /// Two frames are duplicates when their normalised 16×16 luma thumbnails differ by less than
    /// this mean absolute value (in standard deviations of the thumbnail).
    pub duplicate_max_mean_diff: f32,
    /// Threads used to run face detection over the frames (at least 1).
    pub threads: usize,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        Self {
            yaw_neutral: 0.15,
            yaw_action: 0.28,
            pitch_neutral: 0.04,
            pitch_action: 0.08,
            blink_closed_ratio: 0.6,
            blink_open_ratio: 0.8,
            blink_max_ms: 1500,
            mouth_open: 0.3,
            mouth_closed: 0.15,
            identity_max_distance: 0.55,
            min_frame_gap_ms: 20,
            max_frame_gap_ms: 1500,
            min_duration_ms: 500,
            max_duration_ms: 30_000,
            max_clock_skew_ms: 60_000,
            duplicate_max_mean_diff: 0.004,
            threads: 2,
        }
    }
}

impl LivenessPolicy {
    /// Checks that the thresholds are consistent (every hysteresis band has its release below its
    /// trigger).
    ///
    /// # Errors
    /// [`FaceError::InvalidPolicy`] naming the violated constraint.
    pub fn validate(&self) -> Result<(), FaceError> {
        let invalid = |reason| Err(FaceError::InvalidPolicy { reason });
        let finite = [
            self.yaw_neutral,
            self.yaw_action,
            self.pitch_neutral,
            self.pitch_action,
            self.blink_closed_ratio,
            self.blink_open_ratio,
            self.mouth_open,
            self.mouth_closed,
            self.identity_max_distance,
            self.duplicate_max_mean_diff,
        ];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return invalid("liveness thresholds must be finite and non-negative");
        }
        if self.yaw_neutral >= self.yaw_action {
            return invalid("yaw_neutral must be below yaw_action");
        }
        if self.pitch_neutral >= self.pitch_action {
            return invalid("pitch_neutral must be below pitch_action");
        }
        if self.blink_closed_ratio >= self.blink_open_ratio {
            return invalid("blink_closed_ratio must be below blink_open_ratio");
        }
        if self.mouth_closed >= self.mouth_open {
            return invalid("mouth_closed must be below mouth_open");
        }
        if self.min_frame_gap_ms > self.max_frame_gap_ms {
            return invalid("min_frame_gap_ms must not exceed max_frame_gap_ms");
        }
        if self.min_duration_ms > self.max_duration_ms {
            return invalid("min_duration_ms must not exceed max_duration_ms");
        }
        if self.threads == 0 {
            return invalid("threads must be at least 1");
        }
        Ok(())
    }
}

/// Which timing rule a burst broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingIssue {
    /// A capture timestamp is not after the previous one.
    NotMonotonic,
    /// Two frames are closer together than `min_frame_gap_ms`.
    GapTooShort,
    /// Two frames are further apart than `max_frame_gap_ms`.
    GapTooLong,
    /// The whole burst is shorter than `min_duration_ms`.
    DurationTooShort,
    /// The whole burst is longer than `max_duration_ms`.
    DurationTooLong,
    /// A frame was captured before the challenge was issued.
    BeforeChallenge,
    /// A frame claims a capture time after the server received the burst.
    AfterReceipt,
    /// Some frames carry a sequence number and others do not.
    SequenceInconsistent,
    /// A frame's sequence number is not above the previous one.
    SequenceNotIncreasing,
}

/// Why a burst is not accepted as live. Serialised with a stable snake_case `code`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LivenessReason {
    /// The burst's nonce is not the challenge's.
    ChallengeMismatch,
    /// The burst arrived after the challenge expired.
    ChallengeExpired,
    /// A frame shows no face.
    NoFace {
        /// Index of the frame in the burst.
        frame: usize,
    },
    /// A frame shows more than one face.
    MultipleFaces {
        /// Index of the frame in the burst.
        frame: usize,
        /// Faces found.
        count: usize,
    },
    /// The actions were not performed as asked.
    ChallengeNotFollowed {
        /// Index in the challenge of the first step not satisfied.
        step: usize,
        /// The action that step asks for.
        expected: Action,
        /// The challenge action performed instead, if any (`None`: the step was never performed).
        observed: Option<Action>,
        /// The frame where `observed` completed.
        frame: Option<usize>,
    },
    /// A key frame shows a different person from the reference frame.
    IdentityChanged {
        /// The key frame furthest from the reference.
        frame: usize,
        /// The reference (most frontal) frame.
        reference_frame: usize,
    },
    /// The capture timing is not that of a live camera answering this challenge.
    ImplausibleTiming {
        /// The offending frame (for whole-burst issues, the last frame).
        frame: usize,
        /// The rule broken.
        issue: TimingIssue,
    },
    /// A frame repeats an earlier frame.
    DuplicatedFrames {
        /// The repeating frame.
        frame: usize,
        /// The earlier frame it repeats.
        duplicate_of: usize,
    },
}

impl LivenessReason {
    /// The stable machine-readable code of this reason.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            LivenessReason::ChallengeMismatch => "challenge_mismatch",
            LivenessReason::ChallengeExpired => "challenge_expired",
            LivenessReason::NoFace { .. } => "no_face",
            LivenessReason::MultipleFaces { .. } => "multiple_faces",
            LivenessReason::ChallengeNotFollowed { .. } => "challenge_not_followed",
            LivenessReason::IdentityChanged { .. } => "identity_changed",
            LivenessReason::ImplausibleTiming { .. } => "implausible_timing",
            LivenessReason::DuplicatedFrames { .. } => "duplicated_frames",
        }
    }
}

/// One challenge action seen in the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompletedAction {
    /// The action.
    pub action: Action,
    /// First frame beyond the action threshold.
    pub start_frame: usize,
    /// Frame where the pose was neutral again.
    pub end_frame: usize,
    /// Frame with the strongest expression of the action.
    pub peak_frame: usize,
}

/// The outcome of a liveness evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct LivenessVerdict {
    /// True only when `reasons` is empty.
    pub live: bool,
    /// Every rule the burst broke, in the order checked.
    pub reasons: Vec<LivenessReason>,
    /// The challenge actions matched, in challenge order.
    pub completed_actions: Vec<CompletedAction>,
    /// Index of the most frontal frame with open eyes and closed mouth, once faces were found.
    pub reference_frame: Option<usize>,
    /// Embedding of the reference frame, for the match against the passport portrait.
    pub reference_embedding: Option<Embedding>,
}

impl LivenessVerdict {
    fn refused(reasons: Vec<LivenessReason>) -> Self {
        Self {
            live: false,
            reasons,
            completed_actions: Vec::new(),
            reference_frame: None,
            reference_embedding: None,
        }
    }
}

/// Evaluates a burst against its challenge.
///
/// Runs the cheap checks first and stops after any stage that refused, so that an obviously bad
/// burst costs no model time: binding and timing and duplicates, then face detection, then the
/// action sequence and identity continuity (both reported together).
///
/// # Errors
/// A malformed challenge, burst or policy, or an engine failure. A burst that is merely not live
/// is `Ok` with `live == false`.
pub fn evaluate<E: FaceEngine + ?Sized>(
    engine: &E,
    challenge: &Challenge,
    burst: &Burst,
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict, FaceError> {
    challenge.validate()?;
    burst.validate()?;
    policy.validate()?;

    let mut reasons = binding_and_timing(challenge, burst, policy);
    reasons.extend(duplicated_frames(burst, policy));
    if !reasons.is_empty() {
        return Ok(LivenessVerdict::refused(reasons));
    }

    let faces = detect_all(engine, burst, policy.threads)?;
    let mut single = Vec::with_capacity(faces.len());
    for (frame, found) in faces.into_iter().enumerate() {
        match found.len() {
            0 => reasons.push(LivenessReason::NoFace { frame }),
            1 => single.extend(found),
            count => reasons.push(LivenessReason::MultipleFaces { frame, count }),
        }
    }
    if !reasons.is_empty() {
        return Ok(LivenessVerdict::refused(reasons));
    }

    let features = single
        .iter()
        .map(|face| PoseFeatures::from_landmarks(&face.landmarks))
        .collect::<Result<Vec<_>, _>>()?;
    let baseline = Baseline::of(&features, policy);
    let timestamps: Vec<u64> = burst.frames.iter().map(|f| f.captured_at_ms).collect();
    let events = track_actions(&features, &baseline, &timestamps, policy);
    let (completed_actions, order_reason) = match_challenge(&challenge.actions, &events);
    reasons.extend(order_reason);

    let reference_frame = reference_frame(&features, &baseline, policy);
    let reference_embedding = match reference_frame {
        Some(reference) => {
            let (embedding, identity_reason) = identity_continuity(
                engine,
                burst,
                &single,
                reference,
                &completed_actions,
                policy,
            )?;
            reasons.extend(identity_reason);
            Some(embedding)
        }
        // No frame had usable landmarks, so no action can have been performed either.
        None => None,
    };
    Ok(LivenessVerdict {
        live: reasons.is_empty(),
        reasons,
        completed_actions,
        reference_frame,
        reference_embedding,
    })
}

/// Detects faces on every frame, spread over up to `threads` scoped threads.
fn detect_all<E: FaceEngine + ?Sized>(
    engine: &E,
    burst: &Burst,
    threads: usize,
) -> Result<Vec<Vec<Face>>, FaceError> {
    let frames = &burst.frames;
    let threads = threads.clamp(1, frames.len().max(1));
    if threads == 1 {
        return frames.iter().map(|f| engine.detect(&f.image)).collect();
    }
    let chunk = frames.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = frames
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| engine.detect(&f.image))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(frames.len());
        for handle in handles {
            let part = handle.join().map_err(|_| FaceError::Inference {
                reason: "face detection thread panicked".into(),
            })?;
            for result in part {
                all.push(result?);
            }
        }
        Ok(all)
    })
}

fn identity_continuity<E: FaceEngine + ?Sized>(
    engine: &E,
    burst: &Burst,
    faces: &[Face],
    reference: usize,
    completed: &[CompletedAction],
    policy: &LivenessPolicy,
) -> Result<(Embedding, Option<LivenessReason>), FaceError> {
    let embed = |i: usize| -> Result<Embedding, FaceError> {
        match (burst.frames.get(i), faces.get(i)) {
            (Some(frame), Some(face)) => engine.embed(&frame.image, face),
            _ => Err(FaceError::InvalidBurst {
                reason: "frame index out of range",
            }),
        }
    };
    let n = burst.frames.len();
    let mut keys = vec![0, n / 2, n - 1];
    keys.extend(completed.iter().map(|c| c.peak_frame));
    keys.sort_unstable();
    keys.dedup();
    keys.retain(|&k| k != reference);

    let reference_embedding = embed(reference)?;
    let mut worst: Option<(usize, f32)> = None;
    for key in keys {
        let distance = engine.compare(&reference_embedding, &embed(key)?).distance;
        let changed = distance.is_nan() || distance > policy.identity_max_distance;
        if changed && worst.is_none_or(|(_, d)| distance > d) {
            worst = Some((key, distance));
        }
    }
    let reason = worst.map(|(frame, _)| LivenessReason::IdentityChanged {
        frame,
        reference_frame: reference,
    });
    Ok((reference_embedding, reason))
}
