//! The action state machine of active liveness: landmark pose features, per-burst baselines,
//! one hysteresis tracker per action, and the match of completed actions against the challenge
//! order. Pure functions over landmarks; the engine and the burst's pixels are not touched here.

#![allow(
    clippy::indexing_slicing,
    reason = "numeric kernel: every index is within a buffer sized when the image or tensor is built"
)]

use crate::challenge::Action;
use crate::liveness::{CompletedAction, LivenessPolicy, LivenessReason};
use crate::{FaceError, LANDMARK_COUNT, Point};

/// The pose features of one face, computed from its 68 landmarks (iBUG-300W indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseFeatures {
    /// `(d(nose30, jaw0..2) − d(nose30, jaw14..16)) / sum`, distances averaged over the three jaw
    /// points of each side (docs/face-engine.md "Liveness"). Positive when the nose moves towards
    /// the image's right edge, which is the person's own left in an un-mirrored frame.
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

/// Per-burst reference values: blink and pitch are judged relative to the person's own face.
pub(crate) struct Baseline {
    ear: f32,
    pitch: f32,
    vertical_scale: f32,
}

impl Baseline {
    pub(crate) fn of(features: &[Option<PoseFeatures>], policy: &LivenessPolicy) -> Self {
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
pub(crate) fn track_actions(
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
pub(crate) fn match_challenge(
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
pub(crate) fn reference_frame(
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
