//! Checks of a burst that need no model: binding to the challenge (nonce, expiry), plausible
//! capture timing, and replayed frames (exact or re-exposed copies). They run first so that an
//! obviously forged burst costs no detection time.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::challenge::{Burst, Challenge};
use crate::liveness::{LivenessPolicy, LivenessReason, TimingIssue};

pub(crate) fn binding_and_timing(
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

pub(crate) fn duplicated_frames(burst: &Burst, policy: &LivenessPolicy) -> Vec<LivenessReason> {
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
