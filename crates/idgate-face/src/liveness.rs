//! Active liveness: checks that a [`Burst`] of frames shows one live person performing a
//! [`Challenge`] in order (verify.md "Face and liveness"; thresholds from face-engine.md §7).
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

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::challenge::{Action, Burst, Challenge};
use crate::{Embedding, Face, FaceEngine, FaceError, LANDMARK_COUNT, Point};

/// Thresholds of the liveness decision. Part of the operator's face configuration.
///
/// Defaults come from face-engine.md §7 (yaw, EAR, MAR measured with 68-point landmarks on stills)
/// or, for the pitch proxy and timing, from the geometry and frame rates explained on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessPolicy {
    /// A face is neutral in yaw when `|yaw| < yaw_neutral` (frontal faces measured −0.07…+0.05).
    pub yaw_neutral: f32,
    /// A turn is reached when `|yaw| > yaw_action` with the right sign (turned faces 0.23–0.79).
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
    /// (face-engine.md §3–4); frames of one burst share lighting and camera.
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
            yaw_action: 0.35,
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

/// The pose features of one face, computed from its 68 landmarks (iBUG-300W indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseFeatures {
    /// `(d(nose30, jaw0..2) − d(nose30, jaw14..16)) / sum`, distances averaged over the three jaw
    /// points of each side (face-engine.md §7). Positive when the nose moves towards the image's
    /// right edge, which is the person's own left in an un-mirrored frame.
    pub yaw: f32,
    /// Where the nose tip (30) lies between the eye line and the mouth line, measured along the
    /// face's vertical axis (perpendicular to the eye line): 0 at the eyes, 1 at the mouth corners'
    /// midpoint. The protruding nose tip moves towards the eyes when the head tilts back.
    pub pitch: f32,
    /// Eye aspect ratio (Soukupová & Čech 2016), mean of both eyes:
    /// `(|p2−p6| + |p3−p5|) / (2 |p1−p4|)`.
    pub ear: f32,
    /// Inner-mouth aspect ratio: mean of `|61−67|, |62−66|, |63−65|` over `|60−64|`.
    pub mar: f32,
    /// Eye-line-to-mouth-line distance over the inter-ocular distance; drops when a flat picture is
    /// tilted, which would otherwise shrink the EAR like a blink.
    pub vertical_scale: f32,
}

impl PoseFeatures {
    /// Computes the features, or `None` when the landmarks are degenerate (collapsed eyes or mouth).
    ///
    /// # Errors
    /// [`FaceError::LandmarkCount`] unless there are exactly 68 landmarks.
    pub fn from_landmarks(landmarks: &[Point]) -> Result<Option<Self>, FaceError> {
        let pts: &[Point; LANDMARK_COUNT] =
            landmarks.try_into().map_err(|_| FaceError::LandmarkCount {
                expected: LANDMARK_COUNT,
                found: landmarks.len(),
            })?;
        Ok(Self::compute(pts))
    }

    fn compute(p: &[Point; LANDMARK_COUNT]) -> Option<Self> {
        let nose = p[30];
        let side = |idx: [usize; 3]| idx.iter().map(|&i| nose.distance(p[i])).sum::<f32>() / 3.0;
        let (near_left, near_right) = (side([0, 1, 2]), side([14, 15, 16]));
        let jaw_sum = near_left + near_right;

        let centroid = |range: std::ops::Range<usize>| {
            let n = range.len() as f32;
            let (sx, sy) = range.fold((0.0, 0.0), |(sx, sy), i| (sx + p[i].x, sy + p[i].y));
            Point {
                x: sx / n,
                y: sy / n,
            }
        };
        let (eye_r, eye_l) = (centroid(36..42), centroid(42..48));
        let eye_mid = eye_r.midpoint(eye_l);
        let inter_ocular = eye_r.distance(eye_l);
        let mouth_mid = p[48].midpoint(p[54]);
        // Face "down" axis: the eye line rotated by +90° in image coordinates (y grows downwards).
        let (ex, ey) = (eye_l.x - eye_r.x, eye_l.y - eye_r.y);
        let (dx, dy) = (-ey / inter_ocular, ex / inter_ocular);
        let along = |q: Point| (q.x - eye_mid.x) * dx + (q.y - eye_mid.y) * dy;
        let mouth_depth = along(mouth_mid);

        let ear_of = |e: [usize; 6]| {
            let width = p[e[0]].distance(p[e[3]]);
            (p[e[1]].distance(p[e[5]]) + p[e[2]].distance(p[e[4]])) / (2.0 * width)
        };
        let ear = (ear_of([36, 37, 38, 39, 40, 41]) + ear_of([42, 43, 44, 45, 46, 47])) / 2.0;
        let mouth_width = p[60].distance(p[64]);
        let mar = (p[61].distance(p[67]) + p[62].distance(p[66]) + p[63].distance(p[65]))
            / (3.0 * mouth_width);

        let min_len = 1e-3;
        if jaw_sum < min_len
            || inter_ocular < min_len
            || mouth_depth < min_len
            || mouth_width < min_len
        {
            return None;
        }
        let features = Self {
            yaw: (near_left - near_right) / jaw_sum,
            pitch: along(nose) / mouth_depth,
            ear,
            mar,
            vertical_scale: mouth_depth / inter_ocular,
        };
        let all_finite = [
            features.yaw,
            features.pitch,
            features.ear,
            features.mar,
            features.vertical_scale,
        ]
        .iter()
        .all(|v| v.is_finite());
        all_finite.then_some(features)
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

fn binding_and_timing(
    challenge: &Challenge,
    burst: &Burst,
    policy: &LivenessPolicy,
) -> Vec<LivenessReason> {
    let mut reasons = Vec::new();
    if burst.nonce != challenge.nonce {
        reasons.push(LivenessReason::ChallengeMismatch);
    }
    if burst.received_at_ms > challenge.expires_at_ms {
        reasons.push(LivenessReason::ChallengeExpired);
    }
    let timing = |frame, issue| LivenessReason::ImplausibleTiming { frame, issue };
    let frames = &burst.frames;
    let last = frames.len().saturating_sub(1);
    for (i, pair) in frames.windows(2).enumerate() {
        let (prev, next) = (&pair[0], &pair[1]);
        let frame = i + 1;
        match next.captured_at_ms.checked_sub(prev.captured_at_ms) {
            None | Some(0) => reasons.push(timing(frame, TimingIssue::NotMonotonic)),
            Some(gap) if gap < policy.min_frame_gap_ms => {
                reasons.push(timing(frame, TimingIssue::GapTooShort))
            }
            Some(gap) if gap > policy.max_frame_gap_ms => {
                reasons.push(timing(frame, TimingIssue::GapTooLong))
            }
            Some(_) => {}
        }
        match (prev.sequence, next.sequence) {
            (Some(a), Some(b)) if b <= a => {
                reasons.push(timing(frame, TimingIssue::SequenceNotIncreasing))
            }
            (Some(_), None) | (None, Some(_)) => {
                reasons.push(timing(frame, TimingIssue::SequenceInconsistent))
            }
            _ => {}
        }
    }
    if let (Some(first), Some(end)) = (frames.first(), frames.last()) {
        let duration = end.captured_at_ms.saturating_sub(first.captured_at_ms);
        if duration < policy.min_duration_ms {
            reasons.push(timing(last, TimingIssue::DurationTooShort));
        } else if duration > policy.max_duration_ms {
            reasons.push(timing(last, TimingIssue::DurationTooLong));
        }
        if first
            .captured_at_ms
            .saturating_add(policy.max_clock_skew_ms)
            < challenge.issued_at_ms
        {
            reasons.push(timing(0, TimingIssue::BeforeChallenge));
        }
        if end.captured_at_ms
            > burst
                .received_at_ms
                .saturating_add(policy.max_clock_skew_ms)
        {
            reasons.push(timing(last, TimingIssue::AfterReceipt));
        }
    }
    reasons
}

/// Side of the luma thumbnail used to find replayed frames.
const THUMB: usize = 16;

struct FrameFingerprint {
    exact: u64,
    dims: (u32, u32),
    thumb: [f32; THUMB * THUMB],
}

impl FrameFingerprint {
    fn of(image: &crate::Image) -> Self {
        let mut hasher = DefaultHasher::new();
        (image.width, image.height).hash(&mut hasher);
        image.rgb.hash(&mut hasher);
        let (w, h) = (image.width as usize, image.height as usize);
        let mut sums = [0f64; THUMB * THUMB];
        let mut counts = [0u32; THUMB * THUMB];
        for (row_index, row) in image.rgb.chunks_exact(w * 3).enumerate() {
            let by = row_index * THUMB / h;
            for (x, px) in row.chunks_exact(3).enumerate() {
                let bx = x * THUMB / w;
                let luma =
                    0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]);
                let cell = by * THUMB + bx;
                if let (Some(sum), Some(count)) = (sums.get_mut(cell), counts.get_mut(cell)) {
                    *sum += luma;
                    *count += 1;
                }
            }
        }
        let mut thumb = [0f32; THUMB * THUMB];
        for ((t, s), c) in thumb.iter_mut().zip(sums).zip(counts) {
            *t = if c == 0 {
                0.0
            } else {
                (s / f64::from(c)) as f32
            };
        }
        // Normalise brightness and contrast so a re-exposed copy still matches.
        let n = thumb.len() as f32;
        let mean = thumb.iter().sum::<f32>() / n;
        let std = (thumb.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
        let scale = if std > 1e-3 { 1.0 / std } else { 1.0 };
        thumb.iter_mut().for_each(|v| *v = (*v - mean) * scale);
        Self {
            exact: hasher.finish(),
            dims: (image.width, image.height),
            thumb,
        }
    }

    fn repeats(&self, earlier: &Self, max_mean_diff: f32) -> bool {
        if self.exact == earlier.exact {
            return true;
        }
        if self.dims != earlier.dims {
            return false;
        }
        let diff: f32 = self
            .thumb
            .iter()
            .zip(&earlier.thumb)
            .map(|(a, b)| (a - b).abs())
            .sum();
        diff / (THUMB * THUMB) as f32 <= max_mean_diff
    }
}

fn duplicated_frames(burst: &Burst, policy: &LivenessPolicy) -> Vec<LivenessReason> {
    let prints: Vec<FrameFingerprint> = burst
        .frames
        .iter()
        .map(|f| FrameFingerprint::of(&f.image))
        .collect();
    prints
        .iter()
        .enumerate()
        .filter_map(|(frame, print)| {
            prints[..frame]
                .iter()
                .position(|earlier| print.repeats(earlier, policy.duplicate_max_mean_diff))
                .map(|duplicate_of| LivenessReason::DuplicatedFrames {
                    frame,
                    duplicate_of,
                })
        })
        .collect()
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

/// Per-burst reference values: blink and pitch are judged relative to the person's own face.
struct Baseline {
    ear: f32,
    pitch: f32,
    vertical_scale: f32,
}

impl Baseline {
    fn of(features: &[Option<PoseFeatures>], policy: &LivenessPolicy) -> Self {
        let usable: Vec<&PoseFeatures> = features.iter().flatten().collect();
        let frontal: Vec<&PoseFeatures> = usable
            .iter()
            .copied()
            .filter(|f| f.yaw.abs() < policy.yaw_neutral)
            .collect();
        // Turned faces foreshorten the eyes, so the EAR baseline prefers frontal frames.
        let ear_source = if frontal.is_empty() {
            &usable
        } else {
            &frontal
        };
        Self {
            ear: median(ear_source.iter().map(|f| f.ear)),
            pitch: median(usable.iter().map(|f| f.pitch)),
            vertical_scale: median(ear_source.iter().map(|f| f.vertical_scale)),
        }
    }
}

fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut v: Vec<f32> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Where a frame stands for one action.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    Neutral,
    /// Beyond the action threshold, with the strength used to choose the peak frame.
    Active(f32),
    Between,
}

fn signal(action: Action, f: &PoseFeatures, base: &Baseline, policy: &LivenessPolicy) -> Signal {
    let band = |value: f32, action_at: f32, neutral_below: f32| {
        if value >= action_at {
            Signal::Active(value)
        } else if value <= neutral_below {
            Signal::Neutral
        } else {
            Signal::Between
        }
    };
    let pitch_delta = f.pitch - base.pitch;
    match action {
        Action::TurnLeft => band(f.yaw, policy.yaw_action, policy.yaw_neutral),
        Action::TurnRight => band(-f.yaw, policy.yaw_action, policy.yaw_neutral),
        Action::LookUp => band(-pitch_delta, policy.pitch_action, policy.pitch_neutral),
        Action::LookDown => band(pitch_delta, policy.pitch_action, policy.pitch_neutral),
        Action::OpenMouth => band(f.mar, policy.mouth_open, policy.mouth_closed),
        Action::Blink => {
            if base.ear <= 0.0 {
                return Signal::Between;
            }
            let closure = 1.0 - f.ear / base.ear;
            let squashed = f.vertical_scale < 0.85 * base.vertical_scale;
            if closure >= 1.0 - policy.blink_closed_ratio && !squashed {
                Signal::Active(closure)
            } else if closure <= 1.0 - policy.blink_open_ratio {
                Signal::Neutral
            } else {
                Signal::Between
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Tracker {
    /// No neutral frame seen yet: an action must start from neutral.
    Unarmed,
    Armed,
    Active {
        start: usize,
        peak: usize,
        strength: f32,
    },
}

/// Runs one hysteresis tracker per action over the frames and returns the completed actions,
/// ordered by the frame where they completed.
fn track_actions(
    features: &[Option<PoseFeatures>],
    base: &Baseline,
    timestamps: &[u64],
    policy: &LivenessPolicy,
) -> Vec<CompletedAction> {
    let mut events = Vec::new();
    for action in Action::ALL {
        let mut state = Tracker::Unarmed;
        for (frame, f) in features.iter().enumerate() {
            let Some(f) = f else { continue };
            state = match (state, signal(action, f, base, policy)) {
                (Tracker::Unarmed | Tracker::Armed, Signal::Neutral) => Tracker::Armed,
                (Tracker::Armed, Signal::Active(strength)) => Tracker::Active {
                    start: frame,
                    peak: frame,
                    strength,
                },
                (
                    Tracker::Active {
                        start,
                        peak,
                        strength,
                    },
                    Signal::Active(s),
                ) => {
                    if s > strength {
                        Tracker::Active {
                            start,
                            peak: frame,
                            strength: s,
                        }
                    } else {
                        Tracker::Active {
                            start,
                            peak,
                            strength,
                        }
                    }
                }
                (Tracker::Active { start, peak, .. }, Signal::Neutral) => {
                    let held_ms = match (timestamps.get(frame), timestamps.get(start)) {
                        (Some(end), Some(begin)) => end.saturating_sub(*begin),
                        _ => u64::MAX,
                    };
                    if action != Action::Blink || held_ms <= policy.blink_max_ms {
                        events.push(CompletedAction {
                            action,
                            start_frame: start,
                            end_frame: frame,
                            peak_frame: peak,
                        });
                    }
                    Tracker::Armed
                }
                (unchanged, _) => unchanged,
            };
        }
    }
    events.sort_by_key(|e| (e.end_frame, e.start_frame));
    events
}

/// Matches completed actions against the challenge order.
fn match_challenge(
    expected: &[Action],
    events: &[CompletedAction],
) -> (Vec<CompletedAction>, Option<LivenessReason>) {
    let mut matched = Vec::with_capacity(expected.len());
    for event in events {
        let Some(&want) = expected.get(matched.len()) else {
            break;
        };
        if event.action == want {
            matched.push(*event);
        } else if event.action != Action::Blink && expected.contains(&event.action) {
            let reason = LivenessReason::ChallengeNotFollowed {
                step: matched.len(),
                expected: want,
                observed: Some(event.action),
                frame: Some(event.end_frame),
            };
            return (matched, Some(reason));
        }
    }
    let reason = expected
        .get(matched.len())
        .map(|&want| LivenessReason::ChallengeNotFollowed {
            step: matched.len(),
            expected: want,
            observed: None,
            frame: None,
        });
    (matched, reason)
}

/// The most frontal frame with open eyes and a closed mouth (falling back to the most frontal).
fn reference_frame(
    features: &[Option<PoseFeatures>],
    base: &Baseline,
    policy: &LivenessPolicy,
) -> Option<usize> {
    let frontality = |f: &PoseFeatures| f.yaw.abs() + (f.pitch - base.pitch).abs();
    let best = |strict: bool| {
        features
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
            .filter(|(_, f)| {
                !strict
                    || (f.ear >= policy.blink_open_ratio * base.ear && f.mar <= policy.mouth_closed)
            })
            .min_by(|(_, a), (_, b)| frontality(a).total_cmp(&frontality(b)))
            .map(|(i, _)| i)
    };
    best(true).or_else(|| best(false))
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
