//! The outcome-driven simulation: the phone of a test-mode session, played against a server's
//! mobile API with a factory passport and the test faces (docs/verify.md "Test passports and the
//! simulator"). `idgate simulate` runs it against any server and prints each step; the server
//! runs it against its own API for the hosted page's "simulate a passport" buttons.
//!
//! It walks the mobile API as an app would — handoff, hello, progress reports, the
//! chip-authentication relay, the document upload, the liveness challenge and burst, consent — and
//! reports each step to a [`Reporter`]. Each failure outcome is produced by its real cause (a
//! broken check digit, a tampered data group, a chip whose keys do not match DG14/DG15, a photo
//! held up to the camera, someone else's face), never by asking the server for a verdict, so every
//! check, store write, event and webhook on the way is the real one.
//!
//! Test-mode sessions only: the server trusts the factory's fixed CSCAs and draws liveness
//! challenges the test photos can answer (turns) for `kk_test_` sessions. Nothing personal is
//! reported: the factory holder is fictitious, and the steps carry verdicts and codes only.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use emrtd::testkit::{Failure, TestPassport};
use idgate_face::challenge::Challenge;
use idgate_face::testkit::{TestFaces, TestPortrait};

use crate::client::{
    ApiError, ClientError, Handoff, HandoffAuth, Hello, MobileClient, Phase, Reply, SessionStatus,
    StepRefused, Verdict,
};
use crate::device::{self, DeviceError, Face};

/// Tries of each kind a session allows before it fails (docs/verify.md "Tries and outcomes").
pub const MAX_TRIES: usize = 3;

/// What the simulated person and passport do. The snake_case names ([`Outcome::as_str`]) are
/// stable: the command line's `--outcome` values and the hosted page's form values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum Outcome {
    /// A genuine passport and face, consent to every requested field.
    Succeeded,
    /// A wrong MRZ check digit.
    DocumentDataInvalid,
    /// DG2 tampered with after signing.
    DocumentAuthenticityFailed,
    /// DG15 not the chip's key.
    DocumentActiveAuthenticationFailed,
    /// DG14 not the chip's key.
    DocumentChipAuthenticationFailed,
    /// No active or chip authentication (needs clone_detection = required).
    DocumentAntiCloningAttestationFailed,
    /// A still photo instead of a live face.
    LivenessFailed,
    /// Someone else's face.
    SelfieFaceMismatch,
    /// The person cancels.
    Cancel,
}

impl Outcome {
    /// Every outcome, success first, then the failures in the order of the flow, then cancel.
    pub const ALL: [Self; 9] = [
        Self::Succeeded,
        Self::DocumentDataInvalid,
        Self::DocumentAuthenticityFailed,
        Self::DocumentActiveAuthenticationFailed,
        Self::DocumentChipAuthenticationFailed,
        Self::DocumentAntiCloningAttestationFailed,
        Self::LivenessFailed,
        Self::SelfieFaceMismatch,
        Self::Cancel,
    ];

    /// The stable name: `succeeded`, the session's `failure_code` for a failure, `cancel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Cancel => "cancel",
            failure => failure.failure_code().unwrap_or_default(),
        }
    }

    /// The outcome named `name` ([`Outcome::as_str`]); `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// The session's `failure_code` this outcome ends in.
    pub fn failure_code(self) -> Option<&'static str> {
        Some(match self {
            Self::DocumentDataInvalid => "document_data_invalid",
            Self::DocumentAuthenticityFailed => "document_authenticity_failed",
            Self::DocumentActiveAuthenticationFailed => "document_active_authentication_failed",
            Self::DocumentChipAuthenticationFailed => "document_chip_authentication_failed",
            Self::DocumentAntiCloningAttestationFailed => {
                "document_anti_cloning_attestation_failed"
            }
            Self::LivenessFailed => "liveness_failed",
            Self::SelfieFaceMismatch => "selfie_face_mismatch",
            Self::Succeeded | Self::Cancel => return None,
        })
    }

    /// The factory switch that produces this outcome's document failure.
    pub fn document_failure(self) -> Option<Failure> {
        match self {
            Self::DocumentDataInvalid => Some(Failure::BadMrzCheckDigit),
            // Not `WrongCsca`: its DSC is issued by the factory's real CSCA, which test mode trusts.
            Self::DocumentAuthenticityFailed => Some(Failure::TamperedDg(2)),
            Self::DocumentActiveAuthenticationFailed => Some(Failure::WrongAaKey),
            Self::DocumentChipAuthenticationFailed => Some(Failure::WrongCaKey),
            _ => None,
        }
    }

    /// The session ends at the document step.
    pub fn is_document_failure(self) -> bool {
        self.document_failure().is_some() || self == Self::DocumentAntiCloningAttestationFailed
    }

    /// The run reaches the face step, so it needs the test photos (`scripts/fetch-face-models.sh`);
    /// the others play with the factory's placeholder portrait ([`device::placeholder_portrait`]).
    pub fn needs_faces(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::LivenessFailed | Self::SelfieFaceMismatch
        )
    }

    /// The factory passport for this outcome ([`device::passport`]): both chip protocols unless
    /// it is the anti-cloning failure, its document failure switched on, `portrait` in DG2.
    ///
    /// # Errors
    /// When the factory refuses the combination.
    pub fn passport(self, portrait: &TestPortrait) -> Result<TestPassport, DeviceError> {
        device::passport(
            portrait,
            self != Self::DocumentAntiCloningAttestationFailed,
            self.document_failure(),
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a simulation did not reach its outcome.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// A call got no answer (transport, an undocumented body).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused a step with its error envelope.
    #[error(transparent)]
    Refused(#[from] StepRefused),
    /// The simulated phone could not do its part (the virtual chip, the test faces).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The server's answers led elsewhere than the outcome (a verdict other than the expected
    /// one, a session that did not fail after its tries, a clone-detection policy that accepts
    /// the chip).
    #[error("{0}")]
    Unexpected(String),
}

/// One exchange with the server as reported: the step's name, the HTTP status, the round-trip
/// time, the verdict or the server's error code, and a remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    pub name: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    pub verdict: Option<String>,
    pub failure_code: Option<String>,
    /// The server's error code when it refused the step (its message is then the note).
    pub error: Option<&'a str>,
    pub note: Option<String>,
}

/// Where the steps go: the command line prints them, the server logs them.
pub trait Reporter {
    /// A remark outside the steps (the run's start, a mode the outcome cannot reach).
    fn note(&self, text: &str);
    /// One exchange with the server.
    fn step(&self, step: Step<'_>);
    /// A step the simulated phone performs locally (the virtual chip), timed like the others.
    fn local(&self, name: &str, elapsed: Duration, note: &str);
}

/// Where each attempt comes from: the session's handoff. Over the API for a client elsewhere
/// ([`ApiHandoffs`]); the server hands off in-process, through the function its route calls.
pub trait Handoffs {
    /// A new attempt of the session and its token, as the handoff route answers.
    fn handoff(&self) -> impl Future<Output = Result<Reply<Handoff>, ClientError>>;
}

/// Handoffs over `POST /v1/verify/session/{id}/handoff`, authorized by the session's cancel
/// token or an integrator key.
pub struct ApiHandoffs {
    pub client: MobileClient,
    pub session_id: String,
    pub auth: HandoffAuth,
}

impl Handoffs for ApiHandoffs {
    fn handoff(&self) -> impl Future<Output = Result<Reply<Handoff>, ClientError>> {
        self.client.handoff(&self.session_id, &self.auth)
    }
}

/// What a step's line says beyond its status and time.
#[derive(Default)]
struct Detail {
    verdict: Option<String>,
    failure_code: Option<String>,
    note: Option<String>,
}

impl Detail {
    fn note(note: impl Into<String>) -> Self {
        Self {
            note: Some(note.into()),
            ..Self::default()
        }
    }

    fn verdict(v: &Verdict) -> Self {
        Self {
            verdict: Some(v.verdict.clone()),
            failure_code: v.failure_code.clone(),
            note: Some(format!(
                "nfc tries left {}, liveness tries left {}{}",
                v.nfc_tries_left,
                v.liveness_tries_left,
                if v.terminal { ", terminal" } else { "" }
            )),
        }
    }
}

/// One run against one session: the phone (client, device id, passport, faces), where its
/// attempts come from, and where its steps go.
pub struct Simulation<H, R> {
    pub client: MobileClient,
    pub handoffs: H,
    pub report: R,
    pub session_id: String,
    /// The device the attempts bind to at hello ([`device::device_id`]).
    pub device_id: String,
    /// The outcome's passport ([`Outcome::passport`]).
    pub passport: TestPassport,
    /// The test faces; needed by the outcomes that reach the face step
    /// ([`Outcome::needs_faces`]).
    pub faces: Option<Arc<TestFaces>>,
}

impl<H: Handoffs, R: Reporter> Simulation<H, R> {
    /// Plays `outcome`; `cancel_token` is the session's, for [`Outcome::Cancel`].
    ///
    /// # Errors
    /// When the session did not reach the outcome.
    pub async fn play(
        &self,
        outcome: Outcome,
        cancel_token: Option<&str>,
    ) -> Result<(), SimulationError> {
        match outcome {
            Outcome::Succeeded => self.succeed().await,
            Outcome::Cancel => {
                let token = cancel_token.ok_or_else(|| {
                    SimulationError::Unexpected(
                        "`cancel` needs the session's cancel token".to_owned(),
                    )
                })?;
                self.cancel(token).await
            }
            outcome if outcome.is_document_failure() => self.fail_document(outcome).await,
            outcome => self.fail_liveness(outcome).await,
        }
    }

    /// Reports the step of one exchange: its status and time, and `detail` of its data or the
    /// server's error.
    fn step<T>(&self, name: &str, reply: &Reply<T>, detail: impl FnOnce(&T) -> Detail) {
        let (detail, error) = match &reply.result {
            Ok(data) => (detail(data), None),
            Err(e) => (Detail::note(e.message.clone()), Some(e)),
        };
        self.report.step(Step {
            name,
            status: reply.status,
            elapsed: reply.elapsed,
            verdict: detail.verdict,
            failure_code: detail.failure_code,
            error: error.map(|e: &ApiError| e.code.as_str()),
            note: detail.note,
        });
    }

    /// The success path: document, liveness, consent to every requested field.
    async fn succeed(&self) -> Result<(), SimulationError> {
        let (attempt, hello, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            return Err(unexpected(format!(
                "the document was rejected ({}); a genuine test passport should pass — does the \
                 server run the session in test mode (a kk_test_ key)?",
                verdict.failure_code.as_deref().unwrap_or("no code")
            )));
        }
        self.phase(&attempt, Phase::SelfieCapturing).await?;
        let verdict = self.liveness(&attempt, Face::Live).await?;
        if !verdict.accepted() {
            return Err(unexpected(format!(
                "the live face was rejected ({})",
                verdict.failure_code.as_deref().unwrap_or("no code")
            )));
        }
        self.phase(&attempt, Phase::ReviewingConsent).await?;
        let keys: Vec<String> = hello.share_fields.keys().cloned().collect();
        let reply = self.client.consent(&attempt, &keys).await?;
        self.step("consent", &reply, |c| {
            Detail::note(format!(
                "{} field(s) shared, status {}{}",
                keys.len(),
                c.status,
                c.redirect_url
                    .as_ref()
                    .map(|u| format!(", redirect to {u}"))
                    .unwrap_or_default()
            ))
        });
        let consent = reply.into_data("consent")?;
        if consent.status != "succeeded" {
            return Err(unexpected(format!(
                "consent left the session {}",
                consent.status
            )));
        }
        Ok(())
    }

    /// A document failure, repeated with a new handoff per try until the session fails.
    async fn fail_document(&self, outcome: Outcome) -> Result<(), SimulationError> {
        let expected = outcome.failure_code().unwrap_or_default();
        for _ in 0..MAX_TRIES {
            let (_, hello, verdict) = self.document_attempt().await?;
            if verdict.accepted() {
                if outcome == Outcome::DocumentAntiCloningAttestationFailed {
                    return Err(unexpected(format!(
                        "the server accepted a chip without active or chip authentication: its \
                         clone_detection is `{}`; this outcome needs clone_detection = required",
                        hello.required_checks.clone_detection
                    )));
                }
                return Err(unexpected(format!(
                    "the server accepted the document that should fail with {expected}"
                )));
            }
            if verdict.failure_code.as_deref() != Some(expected) {
                return Err(unexpected(format!(
                    "expected {expected}, the server answered {}",
                    verdict.failure_code.as_deref().unwrap_or("no code")
                )));
            }
            if verdict.terminal {
                return Ok(());
            }
        }
        Err(unexpected(format!(
            "the session did not fail after {MAX_TRIES} rejected documents"
        )))
    }

    /// A liveness failure: a genuine document, then bad bursts on fresh challenges until the
    /// session fails.
    async fn fail_liveness(&self, outcome: Outcome) -> Result<(), SimulationError> {
        let expected = outcome.failure_code().unwrap_or_default();
        let face = if outcome == Outcome::LivenessFailed {
            Face::Still
        } else {
            Face::OtherPerson
        };
        let (attempt, _, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            return Err(unexpected(format!(
                "the document was rejected ({}) before the face step",
                verdict.failure_code.as_deref().unwrap_or("no code")
            )));
        }
        self.phase(&attempt, Phase::SelfieCapturing).await?;
        for _ in 0..MAX_TRIES {
            let verdict = self.liveness(&attempt, face).await?;
            if verdict.accepted() {
                return Err(unexpected(format!(
                    "the server accepted the burst that should fail with {expected}"
                )));
            }
            if verdict.failure_code.as_deref() != Some(expected) {
                return Err(unexpected(format!(
                    "expected {expected}, the server answered {}",
                    verdict.failure_code.as_deref().unwrap_or("no code")
                )));
            }
            if verdict.terminal {
                return Ok(());
            }
        }
        Err(unexpected(format!(
            "the session did not fail after {MAX_TRIES} rejected bursts"
        )))
    }

    /// The person cancels after the document was accepted; the next call must get `410`.
    async fn cancel(&self, cancel_token: &str) -> Result<(), SimulationError> {
        let (attempt, _, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            return Err(unexpected(format!(
                "the document was rejected ({})",
                verdict.failure_code.as_deref().unwrap_or("no code")
            )));
        }
        let reply = self.client.cancel(&self.session_id, cancel_token).await?;
        self.step("cancel", &reply, |()| Detail::note("the person cancelled"));
        reply.into_data("cancel")?;
        let reply = self.client.liveness_challenge(&attempt).await?;
        self.step("liveness/challenge", &reply, |_| Detail::default());
        match reply.result {
            Err(ApiError { code, .. }) if reply.status == 410 && code == "SESSION_CANCELLED" => {
                Ok(())
            }
            Err(e) => Err(unexpected(format!(
                "after the cancel, expected 410 SESSION_CANCELLED, got {} {}",
                reply.status, e.code
            ))),
            Ok(_) => Err(unexpected(
                "after the cancel, the server still issued a liveness challenge",
            )),
        }
    }

    /// The session's public status, reported as the step `status`.
    ///
    /// # Errors
    /// When it cannot be read.
    pub async fn final_status(&self) -> Result<SessionStatus, SimulationError> {
        let reply = self.client.status(&self.session_id).await?;
        self.step("status", &reply, |s| Detail {
            verdict: Some(s.status.clone()),
            note: s.phase.clone().map(|p| format!("phase {p}")),
            ..Detail::default()
        });
        Ok(reply.into_data("status")?)
    }

    /// One document try on a new attempt: handoff, hello, progress, the chip's active
    /// authentication answer, the chip-authentication relay, the upload.
    async fn document_attempt(&self) -> Result<(Handoff, Hello, Verdict), SimulationError> {
        let reply = self.handoffs.handoff().await?;
        self.step("handoff", &reply, |h| {
            Detail::note(format!(
                "attempt {}, token valid until {}",
                h.attempt_id,
                h.token_expires_at.as_deref().unwrap_or("?")
            ))
        });
        let attempt = reply.into_data("handoff")?;

        let reply = self
            .client
            .hello(&attempt, &self.device_id, env!("CARGO_PKG_VERSION"))
            .await?;
        self.step("hello", &reply, |h| {
            Detail::note(format!(
                "{} mode, phase {}, clone_detection {}, expired documents {}, chip \
                 authentication {}",
                h.environment,
                h.phase,
                h.required_checks.clone_detection,
                if h.required_checks.allow_expired_documents {
                    "allowed"
                } else {
                    "refused"
                },
                if h.chip_authentication.supported {
                    "supported"
                } else {
                    "not supported"
                }
            ))
        });
        let hello = reply.into_data("hello")?;
        if hello.session_id != self.session_id || hello.attempt_id != attempt.attempt_id {
            return Err(unexpected("hello answered for another session or attempt"));
        }
        if hello.environment != "test" {
            self.report.note(
                "the session is a live-mode session: its server does not trust the factory's CSCA",
            );
        }

        self.phase(&attempt, Phase::MrzScanning).await?;
        self.phase(&attempt, Phase::NfcReading).await?;

        let mut upload = device::document_upload(&self.passport);
        if self.passport.chip.supports_active_authentication() {
            let started = Instant::now();
            let signature = device::internal_authenticate(
                &self.passport,
                &hello.active_authentication_challenge,
            )?;
            self.report.local(
                "internal-authenticate",
                started.elapsed(),
                "the chip signed hello's challenge",
            );
            upload.aa_signature = Some(signature);
        }
        if let (Some(dg14), true, true) = (
            self.passport.dg14.as_deref(),
            self.passport.chip.supports_chip_authentication(),
            hello.chip_authentication.supported,
        ) {
            let reply = self.client.chip_authentication(&attempt, dg14).await?;
            self.step("chip-authentication", &reply, |i| {
                Detail::note(if i.general_authenticate_apdu.is_some() {
                    "relay MSE:Set AT, General Authenticate, protected READ BINARY"
                } else {
                    "relay MSE:Set KAT, protected READ BINARY"
                })
            });
            let instructions = reply.into_data("chip-authentication")?;
            let started = Instant::now();
            let response = device::chip_authenticate(&self.passport, instructions)?;
            self.report.local(
                "chip relay",
                started.elapsed(),
                &format!("the chip answered with {} bytes", response.len()),
            );
            upload.ca_response = Some(response);
        }

        let reply = self.client.document(&attempt, &upload).await?;
        self.step("document", &reply, Detail::verdict);
        let verdict = reply.into_data("document")?;
        Ok((attempt, hello, verdict))
    }

    async fn phase(&self, attempt: &Handoff, phase: Phase) -> Result<(), SimulationError> {
        let name = serde_json::to_value(phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let reply = self.client.phase(attempt, phase).await?;
        self.step(&format!("phase {name}"), &reply, |()| Detail::default());
        Ok(reply.into_data("phase")?)
    }

    /// A fresh challenge and the burst `face` answers it with.
    async fn liveness(&self, attempt: &Handoff, face: Face) -> Result<Verdict, SimulationError> {
        let faces = self.faces.as_deref().ok_or_else(|| {
            unexpected("the face step needs the test photos: run scripts/fetch-face-models.sh")
        })?;
        let reply = self.client.liveness_challenge(attempt).await?;
        self.step("liveness/challenge", &reply, |c| {
            let actions: Vec<String> = c
                .actions
                .iter()
                .map(|a| {
                    serde_json::to_value(a)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            Detail::note(actions.join(", "))
        });
        let challenge: Challenge = reply.into_data("liveness/challenge")?.into();
        let burst = device::burst(faces, &challenge, face, device::now_ms())?;
        let reply = self.client.liveness(attempt, &burst).await?;
        self.step("liveness", &reply, Detail::verdict);
        Ok(reply.into_data("liveness")?)
    }
}

fn unexpected(message: impl Into<String>) -> SimulationError {
    SimulationError::Unexpected(message.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn every_failure_outcome_is_named_by_its_failure_code() {
        for outcome in Outcome::ALL {
            let expected = !matches!(outcome, Outcome::Succeeded | Outcome::Cancel);
            assert_eq!(outcome.failure_code().is_some(), expected, "{outcome:?}");
            if let Some(code) = outcome.failure_code() {
                assert_eq!(outcome.as_str(), code, "the name is the code");
            }
        }
    }

    #[test]
    fn every_name_parses_back_and_nothing_else_does() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        for other in ["", "Succeeded", "failed", "cancelled", "succeeded "] {
            assert_eq!(Outcome::parse(other), None, "{other:?}");
        }
        let mut names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Outcome::ALL.len(), "names are distinct");
    }

    #[cfg(feature = "clap")]
    #[test]
    fn the_command_line_values_are_the_names() {
        use clap::ValueEnum as _;
        assert_eq!(Outcome::value_variants(), Outcome::ALL.as_slice());
        for outcome in Outcome::ALL {
            let value = outcome.to_possible_value().unwrap();
            assert_eq!(value.get_name(), outcome.as_str());
        }
    }

    #[test]
    fn only_the_outcomes_that_reach_the_face_step_need_the_photos() {
        let needing: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.needs_faces())
            .collect();
        assert_eq!(
            needing,
            [
                Outcome::Succeeded,
                Outcome::LivenessFailed,
                Outcome::SelfieFaceMismatch
            ]
        );
        assert!(needing.iter().all(|o| !o.is_document_failure()));
    }

    #[test]
    fn the_success_passport_has_both_chip_protocols() {
        let passport = Outcome::Succeeded
            .passport(&device::placeholder_portrait())
            .unwrap();
        assert!(passport.chip.supports_active_authentication());
        assert!(passport.chip.supports_chip_authentication());
        assert!(passport.dg14.is_some() && passport.dg15.is_some());
        assert!(passport.failures.is_empty());
    }

    #[test]
    fn the_anti_cloning_passport_has_neither_protocol() {
        let passport = Outcome::DocumentAntiCloningAttestationFailed
            .passport(&device::placeholder_portrait())
            .unwrap();
        assert!(!passport.chip.supports_active_authentication());
        assert!(!passport.chip.supports_chip_authentication());
        assert!(passport.dg14.is_none() && passport.dg15.is_none());
    }

    #[test]
    fn each_document_failure_is_built_into_the_passport() {
        for outcome in Outcome::ALL {
            let passport = outcome.passport(&device::placeholder_portrait()).unwrap();
            assert_eq!(
                passport.failures,
                outcome.document_failure().into_iter().collect::<Vec<_>>(),
                "{outcome:?}"
            );
        }
    }
}
