//! The face step of an attempt (docs/verify.md "Face and liveness"): the burst must show one live
//! person performing the server's challenge (`liveness_failed` otherwise), and that person's face
//! must match the DG2 portrait within the configured distance (`selfie_face_mismatch` otherwise).
//!
//! Liveness runs first: a burst that is not live is refused without touching the portrait. The
//! live side of the match is the liveness verdict's reference frame, the most frontal frame with
//! open eyes and a closed mouth (`idgate_face::liveness`), so the face compared with the portrait is
//! the one whose liveness was established. The [`FaceChecks`] record carries statuses, stable
//! reason codes and the match distance only: no image, embedding or landmark.

use emrtd::lds::LdsError;
use idgate_core::FailureCode;
use idgate_face::{Burst, Challenge, FaceConfig, FaceEngine, FaceError, match_portrait};
use serde::{Deserialize, Serialize};

/// The outcome of the face step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceVerdict {
    /// `None` when the person passed; else [`FailureCode::LivenessFailed`] or
    /// [`FailureCode::SelfieFaceMismatch`].
    pub failure: Option<FailureCode>,
    /// What was checked, for the attempt's `checks`.
    pub checks: FaceChecks,
}

/// The face step's part of the attempt's `checks` (docs/verify.md "Document checks": every result
/// is recorded without personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceChecks {
    /// Whether the burst showed one live person performing the challenge.
    pub liveness: LivenessCheck,
    /// Whether that person's face matches the document portrait.
    pub face_match: FaceMatchCheck,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The check ran and passed.
    Pass,
    /// The check ran and failed.
    Fail,
    /// The check did not run (the face match after a failed liveness check).
    NotApplicable,
}

/// The liveness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessCheck {
    /// Pass or fail.
    pub status: CheckStatus,
    /// On failure, the stable code of the first rule the burst broke
    /// (`idgate_face::LivenessReason::code`: `challenge_mismatch`, `duplicated_frames`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The match of the live face against the document portrait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceMatchCheck {
    /// Pass, fail, or not applicable when liveness failed.
    pub status: CheckStatus,
    /// L2 distance between the live face and the portrait, rounded to 3 decimals; absent when the
    /// match did not run or the embeddings were incomparable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<f32>,
    /// The largest distance accepted as a match (`FaceConfig::match_threshold`).
    pub threshold: f32,
}

/// Why the face step could not reach a verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceCheckError {
    /// The engine failed (an HTTP matcher unreachable, a malformed challenge or policy, an
    /// inference error): nobody's fault, retry later.
    #[error("the face engine failed: {0}")]
    Engine(#[source] FaceError),
    /// The engine judged the burst live without naming the frame to compare with the portrait.
    #[error("the face engine's live verdict has no reference embedding")]
    NoReference,
    /// The portrait of the document cannot be used. The caller decides what that means for the
    /// attempt (a problem of the document's data, not of the person's selfie).
    #[error("the document portrait cannot be used: {0}")]
    Portrait(#[source] PortraitError),
}

/// What is wrong with the document portrait. Messages name formats and sizes, never content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortraitError {
    /// DG2 does not parse or holds no portrait.
    #[error("DG2 does not parse: {0}")]
    Dg2(#[source] LdsError),
    /// The primary portrait does not decode.
    #[error("the portrait image does not decode: {0}")]
    Image(#[source] FaceError),
    /// The engine finds no face in the portrait.
    #[error("no face found in the portrait")]
    NoFace,
}

/// Runs liveness on `burst` against `challenge`, then matches its reference frame with the primary
/// portrait of `dg2` (the raw EF.DG2 bytes).
///
/// # Errors
/// [`FaceCheckError::Engine`] when the engine fails, [`FaceCheckError::NoReference`] for an engine
/// that reports a live burst without its reference embedding, [`FaceCheckError::Portrait`] when the
/// portrait (read only after a live verdict) cannot be parsed, decoded or has no face. A burst that
/// is not live or does not match is not an error: it is a [`FaceVerdict`] with a failure code.
pub fn check_face(
    engine: &dyn FaceEngine,
    config: &FaceConfig,
    challenge: &Challenge,
    burst: &Burst,
    dg2: &[u8],
) -> Result<FaceVerdict, FaceCheckError> {
    let threshold = config.match_threshold;
    let verdict = engine
        .liveness(challenge, burst, &config.liveness)
        .map_err(FaceCheckError::Engine)?;
    if !verdict.live {
        return Ok(FaceVerdict {
            failure: Some(FailureCode::LivenessFailed),
            checks: FaceChecks {
                liveness: LivenessCheck {
                    status: CheckStatus::Fail,
                    reason: verdict.reasons.first().map(|r| r.code().to_owned()),
                },
                face_match: FaceMatchCheck {
                    status: CheckStatus::NotApplicable,
                    distance: None,
                    threshold,
                },
            },
        });
    }
    let selfie = verdict
        .reference_embedding
        .as_ref()
        .ok_or(FaceCheckError::NoReference)?;

    let portrait = emrtd::lds::dg2::parse(dg2)
        .map_err(|e| FaceCheckError::Portrait(PortraitError::Dg2(e)))?
        .into_primary();
    let portrait = idgate_face::image::decode(&portrait.data)
        .map_err(|e| FaceCheckError::Portrait(PortraitError::Image(e)))?;
    let compared = match match_portrait(engine, &portrait, selfie, threshold) {
        Ok(compared) => compared,
        Err(FaceError::NoFaceInPortrait) => {
            return Err(FaceCheckError::Portrait(PortraitError::NoFace));
        }
        Err(e) => return Err(FaceCheckError::Engine(e)),
    };
    let matched = config.is_match(&compared.similarity);
    Ok(FaceVerdict {
        failure: (!matched).then_some(FailureCode::SelfieFaceMismatch),
        checks: FaceChecks {
            liveness: LivenessCheck {
                status: CheckStatus::Pass,
                reason: None,
            },
            face_match: FaceMatchCheck {
                status: if matched {
                    CheckStatus::Pass
                } else {
                    CheckStatus::Fail
                },
                distance: rounded(compared.similarity.distance),
                threshold,
            },
        },
    })
}

/// `distance` to 3 decimals, the precision the threshold is set with; `None` when not finite
/// (JSON has no infinity).
fn rounded(distance: f32) -> Option<f32> {
    distance
        .is_finite()
        .then(|| (distance * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use idgate_face::BuiltinEngine;
    use idgate_face::challenge::{Action, Nonce};
    use idgate_face::models::{DEFAULT_MODELS_DIR, MODELS_ENV};
    use idgate_face::testkit::{TestFaces, TestFacesError};

    use super::*;

    fn engine() -> &'static BuiltinEngine {
        static ENGINE: OnceLock<BuiltinEngine> = OnceLock::new();
        ENGINE.get_or_init(|| BuiltinEngine::embedded().unwrap())
    }

    /// The test faces from `$IDGATE_FACE_MODELS/photos`, else `.face-models/photos` at the
    /// workspace root; `None` (a counted skip, a failure under CI) when they are not fetched.
    fn faces() -> Option<&'static TestFaces> {
        static FACES: OnceLock<Option<TestFaces>> = OnceLock::new();
        FACES
            .get_or_init(|| {
                let dir = std::env::var_os(MODELS_ENV).map_or_else(
                    || idgate_testkit::workspace_root().join(DEFAULT_MODELS_DIR),
                    PathBuf::from,
                );
                match TestFaces::load(&dir) {
                    Ok(faces) => Some(faces),
                    Err(TestFacesError::Missing { path }) => {
                        idgate_testkit::missing(
                            idgate_testkit::Prereq::FaceModels,
                            format!("photo {} not found", path.display()),
                        );
                        None
                    }
                    Err(e) => panic!("test photos present but unusable: {e}"),
                }
            })
            .as_ref()
    }

    const ISSUED: u64 = 1_700_000_000_000;
    const NOW: u64 = ISSUED + 8_000;

    fn challenge() -> Challenge {
        Challenge {
            actions: vec![Action::TurnRight, Action::TurnLeft],
            nonce: Nonce([3; 16]),
            issued_at_ms: ISSUED,
            expires_at_ms: ISSUED + 120_000,
        }
    }

    fn dg2(faces: &TestFaces) -> Vec<u8> {
        let portrait = faces.portrait_jpeg();
        emrtd::testkit::lds::dg2(&portrait.jpeg, portrait.width, portrait.height)
    }

    fn check(burst: &Burst, dg2: &[u8]) -> Result<FaceVerdict, FaceCheckError> {
        check_face(engine(), &FaceConfig::default(), &challenge(), burst, dg2)
    }

    #[test]
    fn the_live_person_matching_the_portrait_is_accepted() {
        let Some(faces) = faces() else { return };
        let burst = faces.live_burst(&challenge(), NOW).unwrap();
        let verdict = check(&burst, &dg2(faces)).unwrap();
        assert_eq!(verdict.failure, None, "{verdict:?}");
        assert_eq!(verdict.checks.liveness.status, CheckStatus::Pass);
        assert_eq!(verdict.checks.face_match.status, CheckStatus::Pass);
        let distance = verdict.checks.face_match.distance.unwrap();
        assert!((0.0..=0.5).contains(&distance), "{distance}");
        assert_eq!(verdict.checks.face_match.threshold, 0.5);
    }

    #[test]
    fn a_still_burst_fails_liveness_and_skips_the_match() {
        let Some(faces) = faces() else { return };
        let burst = faces.still_burst(&challenge(), NOW).unwrap();
        let verdict = check(&burst, &dg2(faces)).unwrap();
        assert_eq!(verdict.failure, Some(FailureCode::LivenessFailed));
        assert_eq!(
            verdict.checks.liveness,
            LivenessCheck {
                status: CheckStatus::Fail,
                reason: Some("duplicated_frames".into())
            }
        );
        assert_eq!(
            verdict.checks.face_match,
            FaceMatchCheck {
                status: CheckStatus::NotApplicable,
                distance: None,
                threshold: 0.5
            }
        );
    }

    #[test]
    fn another_live_person_is_a_face_mismatch() {
        let Some(faces) = faces() else { return };
        let burst = faces.other_person_burst(&challenge(), NOW).unwrap();
        let verdict = check(&burst, &dg2(faces)).unwrap();
        assert_eq!(verdict.failure, Some(FailureCode::SelfieFaceMismatch));
        assert_eq!(verdict.checks.liveness.status, CheckStatus::Pass);
        assert_eq!(verdict.checks.face_match.status, CheckStatus::Fail);
        assert!(verdict.checks.face_match.distance.unwrap() > 0.5);
    }

    #[test]
    fn a_burst_for_another_challenge_fails_liveness() {
        let Some(faces) = faces() else { return };
        let mut burst = faces.live_burst(&challenge(), NOW).unwrap();
        burst.nonce = Nonce([4; 16]);
        let verdict = check(&burst, &dg2(faces)).unwrap();
        assert_eq!(verdict.failure, Some(FailureCode::LivenessFailed));
        assert_eq!(
            verdict.checks.liveness.reason.as_deref(),
            Some("challenge_mismatch")
        );
    }

    #[test]
    fn an_unusable_portrait_is_an_error_for_the_caller() {
        let Some(faces) = faces() else { return };
        let burst = faces.live_burst(&challenge(), NOW).unwrap();
        assert!(matches!(
            check(&burst, b"\x75\x03\x7f\x61\x00"),
            Err(FaceCheckError::Portrait(PortraitError::Dg2(_)))
        ));
        let truncated = &faces.portrait_jpeg().jpeg[..2_000];
        let broken = emrtd::testkit::lds::dg2(truncated, 910, 1137);
        assert!(matches!(
            check(&burst, &broken),
            Err(FaceCheckError::Portrait(PortraitError::Image(_)))
        ));
        let blank = emrtd::testkit::jpeg::placeholder_portrait(12, 16);
        assert!(matches!(
            check(&burst, &emrtd::testkit::lds::dg2(&blank, 96, 128)),
            Err(FaceCheckError::Portrait(PortraitError::NoFace))
        ));
    }

    #[test]
    fn the_checks_record_serialises_without_biometric_data() {
        let checks = FaceChecks {
            liveness: LivenessCheck {
                status: CheckStatus::Pass,
                reason: None,
            },
            face_match: FaceMatchCheck {
                status: CheckStatus::Fail,
                distance: rounded(0.612_345),
                threshold: 0.5,
            },
        };
        let json = serde_json::to_string(&checks).unwrap();
        assert_eq!(
            json,
            r#"{"liveness":{"status":"pass"},"face_match":{"status":"fail","distance":0.612,"threshold":0.5}}"#
        );
        let back: FaceChecks = serde_json::from_str(&json).unwrap();
        assert_eq!(back, checks);
        assert_eq!(rounded(f32::INFINITY), None);
        assert_eq!(rounded(f32::NAN), None);
    }
}
