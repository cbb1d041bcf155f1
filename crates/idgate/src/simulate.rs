//! `idgate simulate`: the project's own mobile client, playing the phone against a running server
//! with a factory passport and the test faces (docs/verify.md "Test passports and the simulator").
//!
//! It walks the mobile API as an app would — handoff, hello, progress reports, the
//! chip-authentication relay, the document upload, the liveness challenge and burst, consent — and
//! prints each step: its name, the HTTP status, the verdict and the round-trip time. Each failure
//! outcome is produced by its real cause (a broken check digit, a tampered data group, a chip whose
//! keys do not match DG14/DG15, a photo held up to the camera, someone else's face), never by
//! asking the server for a verdict.
//!
//! Test-mode sessions only: the server trusts the factory's fixed CSCAs and draws liveness
//! challenges the test photos can answer (turns) for `kk_test_` sessions. Nothing personal is
//! printed: the factory holder is fictitious, and the output shows verdicts and codes only.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};
use emrtd::testkit::{Failure, TestPassport};
use idgate_face::challenge::Challenge;
use idgate_face::testkit::{TestFaces, TestPortrait};
use idgate_face::upload::BurstUpload;
use reqwest::Url;
use serde_json::{Value, json};

use crate::mobile_client::{
    ApiError, Handoff, HandoffAuth, Hello, MobileClient, Phase, Reply, Verdict,
};
use crate::phone::{self, Face, load_faces, photos_dir};

/// The server a bare session id is looked for on.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// Tries of each kind a session allows before it fails (docs/verify.md "Tries and outcomes").
const MAX_TRIES: usize = 3;

/// Play the phone against a running server (test-mode sessions).
#[derive(Debug, Args)]
#[command(after_help = OUTCOMES_HELP)]
pub struct SimulateArgs {
    /// The session: its verification URL (`…/verify/vs_…?cancel_token=…`, which authorizes the
    /// handoff) or a bare `vs_…` id (then an integrator key authorizes it: --api-key).
    #[arg(long, value_name = "URL|vs_ID")]
    pub session: String,
    /// The server (default: the verification URL's origin, else http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// An integrator key of the session's organization (scope sessions:write), for a bare id.
    #[arg(long, env = "IDGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The outcome to play.
    #[arg(long, value_enum, default_value_t = Outcome::Succeeded)]
    pub outcome: Outcome,
    /// The test photos (default: $IDGATE_FACE_MODELS/photos, else ./.face-models/photos).
    #[arg(long, value_name = "DIR")]
    pub photos: Option<PathBuf>,
    /// One JSON object per line and step instead of the human-readable lines.
    #[arg(long)]
    pub json: bool,
}

const OUTCOMES_HELP: &str = "\
Outcomes (--outcome):
  succeeded                                 a genuine passport with active and chip authentication, a live face, consent
  document_data_invalid                     a wrong MRZ check digit (3 tries, a new handoff each)
  document_authenticity_failed              DG2 changed after the SOD was signed
  document_active_authentication_failed     DG15 holds a key other than the chip's
  document_chip_authentication_failed       DG14 holds a chip-authentication key other than the chip's
  document_anti_cloning_attestation_failed  a chip with neither active nor chip authentication
                                            (fails only where clone_detection = required)
  liveness_failed                           a photo held up to the camera (3 tries)
  selfie_face_mismatch                      someone else's live face (3 tries)
  cancel                                    the person cancels after the document; the next call gets 410

The test photos come from scripts/fetch-face-models.sh.";

/// What the simulated person and passport do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
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
    /// The session's `failure_code` this outcome ends in.
    fn failure_code(self) -> Option<&'static str> {
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

    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// The factory switch that produces this outcome's document failure.
    fn document_failure(self) -> Option<Failure> {
        match self {
            Self::DocumentDataInvalid => Some(Failure::BadMrzCheckDigit),
            // Not `WrongCsca`: its DSC is issued by the factory's real CSCA, which test mode trusts.
            Self::DocumentAuthenticityFailed => Some(Failure::TamperedDg(2)),
            Self::DocumentActiveAuthenticationFailed => Some(Failure::WrongAaKey),
            Self::DocumentChipAuthenticationFailed => Some(Failure::WrongCaKey),
            _ => None,
        }
    }

    fn is_document_failure(self) -> bool {
        self.document_failure().is_some() || self == Self::DocumentAntiCloningAttestationFailed
    }
}

/// Runs the simulation; an error when the session did not reach the asked outcome.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(simulate(args))
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.session, args.server.as_deref())?;
    let handoff_auth = match (&target.cancel_token, &args.api_key) {
        (Some(token), _) => HandoffAuth::CancelToken(token.clone()),
        (None, Some(key)) => HandoffAuth::ApiKey(key.clone()),
        (None, None) => bail!(
            "a bare session id needs an integrator key for the handoff: pass --api-key or set \
             IDGATE_API_KEY, or pass the session's verification URL"
        ),
    };
    let client = MobileClient::new(&target.server)?;
    let faces = load_faces(&photos_dir(args.photos.clone()))?;
    let passport = build_passport(args.outcome, faces.portrait_jpeg())?;
    let out = Printer { json: args.json };
    out.note(&format!(
        "simulating `{}` on {} for session {}",
        args.outcome.name(),
        client.base(),
        target.session_id
    ));
    let sim = Simulation {
        client,
        out,
        session_id: target.session_id.clone(),
        handoff_auth,
        device_id: phone::device_id("idgate-simulate"),
        passport,
        faces,
    };

    let result = match args.outcome {
        Outcome::Succeeded => sim.succeed().await,
        Outcome::Cancel => {
            let token = match &target.cancel_token {
                Some(token) => token.clone(),
                None => {
                    let key = args.api_key.as_deref().unwrap_or_default();
                    integrator_cancel_token(&target.server, key, &target.session_id).await?
                }
            };
            sim.cancel(&token).await
        }
        outcome if outcome.is_document_failure() => sim.fail_document(outcome).await,
        outcome => sim.fail_liveness(outcome).await,
    };
    let status = sim.final_status().await;
    result.and(status)
}

/// The session, its server and the browser's cancel token when the URL carried one.
pub(crate) struct Target {
    pub session_id: String,
    pub server: Url,
    pub cancel_token: Option<String>,
}

impl Target {
    pub(crate) fn parse(session: &str, server: Option<&str>) -> anyhow::Result<Self> {
        let (session_id, origin, cancel_token) = if session.contains("://") {
            let url = Url::parse(session).context("--session is not a URL")?;
            let id = url
                .path_segments()
                .and_then(|mut segments| segments.find(|s| s.starts_with("vs_")))
                .ok_or_else(|| anyhow!("--session: the URL names no session (`…/verify/vs_…`)"))?
                .to_owned();
            let token = url
                .query_pairs()
                .find(|(name, _)| name == "cancel_token")
                .map(|(_, value)| value.into_owned());
            let mut origin = url;
            origin.set_path("/");
            origin.set_query(None);
            origin.set_fragment(None);
            (id, Some(origin), token)
        } else {
            (session.to_owned(), None, None)
        };
        let valid = session_id.strip_prefix("vs_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !valid {
            bail!("--session: `{session_id}` is not a session id (`vs_…`)");
        }
        let server = match (server, origin) {
            (Some(server), _) => Url::parse(server).context("--server is not a URL")?,
            (None, Some(origin)) => origin,
            (None, None) => Url::parse(DEFAULT_SERVER).context("the default server URL")?,
        };
        Ok(Self {
            session_id,
            server,
            cancel_token,
        })
    }
}

/// The factory passport for `outcome` ([`phone::passport`]): both chip protocols unless the
/// outcome is the anti-cloning failure, the outcome's failure switched on.
pub(crate) fn build_passport(
    outcome: Outcome,
    portrait: &TestPortrait,
) -> anyhow::Result<TestPassport> {
    phone::passport(
        portrait,
        outcome != Outcome::DocumentAntiCloningAttestationFailed,
        outcome.document_failure(),
    )
}

/// The session's cancel token, from its verification URL as the integrator API returns it.
async fn integrator_cancel_token(
    server: &Url,
    key: &str,
    session_id: &str,
) -> anyhow::Result<String> {
    if key.is_empty() {
        bail!("`cancel` needs the session's cancel token: pass the verification URL as --session");
    }
    let url = server
        .join(&format!("v1/sessions/{session_id}"))
        .context("the session URL")?;
    let response = crate::mobile_client::http_client()?
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .context("GET /v1/sessions/{id}")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("GET /v1/sessions/{id}: not JSON")?;
    if !status.is_success() {
        bail!(
            "GET /v1/sessions/{{id}} answered {status}: {}",
            body.pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
    }
    let verification_url = body
        .pointer("/data/verification_url")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the session has no verification_url"))?;
    Target::parse(verification_url, Some(server.as_str()))?
        .cancel_token
        .ok_or_else(|| anyhow!("the session's verification URL carries no cancel token"))
}

/// Prints the steps: human-readable lines, or one JSON object per line.
struct Printer {
    json: bool,
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

impl Printer {
    fn note(&self, text: &str) {
        if self.json {
            println!("{}", json!({ "note": text }));
        } else {
            println!("# {text}");
        }
    }

    fn step<T>(&self, step: &str, reply: &Reply<T>, detail: impl FnOnce(&T) -> Detail) {
        let elapsed_ms = reply.elapsed.as_millis();
        let (detail, error) = match &reply.result {
            Ok(data) => (detail(data), None),
            Err(e) => (Detail::note(e.message.clone()), Some(e)),
        };
        if self.json {
            let mut line = json!({
                "step": step,
                "status": reply.status,
                "elapsed_ms": u64::try_from(elapsed_ms).unwrap_or(u64::MAX),
            });
            if let Some(map) = line.as_object_mut() {
                let mut put = |key: &str, value: Option<String>| {
                    if let Some(value) = value {
                        map.insert(key.to_owned(), Value::String(value));
                    }
                };
                put("verdict", detail.verdict);
                put("failure_code", detail.failure_code);
                put("error", error.map(|e| e.code.clone()));
                put("note", detail.note);
            }
            println!("{line}");
        } else {
            let outcome = match (error, &detail.verdict, &detail.failure_code) {
                (Some(e), _, _) => format!("error {}", e.code),
                (None, Some(v), Some(code)) => format!("{v} {code}"),
                (None, Some(v), None) => v.clone(),
                (None, None, _) => "ok".to_owned(),
            };
            let note = detail.note.map(|n| format!("  ({n})")).unwrap_or_default();
            println!(
                "{step:<24} {:>3}  {outcome:<48} {elapsed_ms:>6} ms{note}",
                reply.status
            );
        }
    }

    /// A step the simulated phone performs locally (the virtual chip), timed like the others.
    fn local(&self, step: &str, elapsed: Duration, note: &str) {
        let elapsed_ms = elapsed.as_millis();
        if self.json {
            println!(
                "{}",
                json!({"step": step, "local": true, "elapsed_ms": u64::try_from(elapsed_ms).unwrap_or(u64::MAX), "note": note})
            );
        } else {
            println!("{step:<24}   -  {note:<48} {elapsed_ms:>6} ms");
        }
    }
}

/// One run against one session.
struct Simulation {
    client: MobileClient,
    out: Printer,
    session_id: String,
    handoff_auth: HandoffAuth,
    device_id: String,
    passport: TestPassport,
    faces: TestFaces,
}

impl Simulation {
    /// The success path: document, liveness, consent to every requested field.
    async fn succeed(&self) -> anyhow::Result<()> {
        let (attempt, hello, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            bail!(
                "the document was rejected ({}); a genuine test passport should pass — does the \
                 server run the session in test mode (a kk_test_ key)?",
                verdict.failure_code.as_deref().unwrap_or("no code")
            );
        }
        self.phase(&attempt, Phase::SelfieCapturing).await?;
        let verdict = self.liveness(&attempt, Face::Live).await?;
        if !verdict.accepted() {
            bail!(
                "the live face was rejected ({})",
                verdict.failure_code.as_deref().unwrap_or("no code")
            );
        }
        self.phase(&attempt, Phase::ReviewingConsent).await?;
        let keys: Vec<String> = hello.share_fields.keys().cloned().collect();
        let reply = self.client.consent(&attempt, &keys).await?;
        self.out.step("consent", &reply, |c| {
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
            bail!("consent left the session {}", consent.status);
        }
        Ok(())
    }

    /// A document failure, repeated with a new handoff per try until the session fails.
    async fn fail_document(&self, outcome: Outcome) -> anyhow::Result<()> {
        let expected = outcome.failure_code().unwrap_or_default();
        for _ in 0..MAX_TRIES {
            let (_, hello, verdict) = self.document_attempt().await?;
            if verdict.accepted() {
                if outcome == Outcome::DocumentAntiCloningAttestationFailed {
                    bail!(
                        "the server accepted a chip without active or chip authentication: its \
                         clone_detection is `{}`; this outcome needs clone_detection = required",
                        hello.required_checks.clone_detection
                    );
                }
                bail!("the server accepted the document that should fail with {expected}");
            }
            if verdict.failure_code.as_deref() != Some(expected) {
                bail!(
                    "expected {expected}, the server answered {}",
                    verdict.failure_code.as_deref().unwrap_or("no code")
                );
            }
            if verdict.terminal {
                return Ok(());
            }
        }
        bail!("the session did not fail after {MAX_TRIES} rejected documents")
    }

    /// A liveness failure: a genuine document, then bad bursts on fresh challenges until the
    /// session fails.
    async fn fail_liveness(&self, outcome: Outcome) -> anyhow::Result<()> {
        let expected = outcome.failure_code().unwrap_or_default();
        let face = if outcome == Outcome::LivenessFailed {
            Face::Still
        } else {
            Face::OtherPerson
        };
        let (attempt, _, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            bail!(
                "the document was rejected ({}) before the face step",
                verdict.failure_code.as_deref().unwrap_or("no code")
            );
        }
        self.phase(&attempt, Phase::SelfieCapturing).await?;
        for _ in 0..MAX_TRIES {
            let verdict = self.liveness(&attempt, face).await?;
            if verdict.accepted() {
                bail!("the server accepted the burst that should fail with {expected}");
            }
            if verdict.failure_code.as_deref() != Some(expected) {
                bail!(
                    "expected {expected}, the server answered {}",
                    verdict.failure_code.as_deref().unwrap_or("no code")
                );
            }
            if verdict.terminal {
                return Ok(());
            }
        }
        bail!("the session did not fail after {MAX_TRIES} rejected bursts")
    }

    /// The person cancels after the document was accepted; the next call must get `410`.
    async fn cancel(&self, cancel_token: &str) -> anyhow::Result<()> {
        let (attempt, _, verdict) = self.document_attempt().await?;
        if !verdict.accepted() {
            bail!(
                "the document was rejected ({})",
                verdict.failure_code.as_deref().unwrap_or("no code")
            );
        }
        let reply = self.client.cancel(&self.session_id, cancel_token).await?;
        self.out
            .step("cancel", &reply, |()| Detail::note("the person cancelled"));
        reply.into_data("cancel")?;
        let reply = self.client.liveness_challenge(&attempt).await?;
        self.out
            .step("liveness/challenge", &reply, |_| Detail::default());
        match reply.result {
            Err(ApiError { code, .. }) if reply.status == 410 && code == "SESSION_CANCELLED" => {
                Ok(())
            }
            Err(e) => bail!(
                "after the cancel, expected 410 SESSION_CANCELLED, got {} {}",
                reply.status,
                e.code
            ),
            Ok(_) => bail!("after the cancel, the server still issued a liveness challenge"),
        }
    }

    /// Prints the session's public status; an error if it cannot be read.
    async fn final_status(&self) -> anyhow::Result<()> {
        let reply = self.client.status(&self.session_id).await?;
        self.out.step("status", &reply, |s| Detail {
            verdict: Some(s.status.clone()),
            note: s.phase.clone().map(|p| format!("phase {p}")),
            ..Detail::default()
        });
        let status = reply.into_data("status")?;
        if self.out.json {
            println!("{}", json!({ "session": status }));
        } else {
            println!(
                "# session {}: {}{}",
                self.session_id,
                status.status,
                status
                    .redirect_url
                    .map(|u| format!(", redirect to {u}"))
                    .unwrap_or_default()
            );
        }
        Ok(())
    }

    /// One document try on a new attempt: handoff, hello, progress, the chip's active
    /// authentication answer, the chip-authentication relay, the upload.
    async fn document_attempt(&self) -> anyhow::Result<(Handoff, Hello, Verdict)> {
        let reply = self
            .client
            .handoff(&self.session_id, &self.handoff_auth)
            .await?;
        self.out.step("handoff", &reply, |h| {
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
        self.out.step("hello", &reply, |h| {
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
            bail!("hello answered for another session or attempt");
        }
        if hello.environment != "test" {
            self.out.note(
                "the session is a live-mode session: its server does not trust the factory's CSCA",
            );
        }

        self.phase(&attempt, Phase::MrzScanning).await?;
        self.phase(&attempt, Phase::NfcReading).await?;

        let mut upload = phone::document_upload(&self.passport);
        if self.passport.chip.supports_active_authentication() {
            let started = std::time::Instant::now();
            let signature = phone::internal_authenticate(
                &self.passport,
                &hello.active_authentication_challenge,
            )?;
            self.out.local(
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
            self.out.step("chip-authentication", &reply, |i| {
                Detail::note(if i.general_authenticate_apdu.is_some() {
                    "relay MSE:Set AT, General Authenticate, protected READ BINARY"
                } else {
                    "relay MSE:Set KAT, protected READ BINARY"
                })
            });
            let instructions = reply.into_data("chip-authentication")?;
            let started = std::time::Instant::now();
            let response = phone::chip_authenticate(&self.passport, instructions)?;
            self.out.local(
                "chip relay",
                started.elapsed(),
                &format!("the chip answered with {} bytes", response.len()),
            );
            upload.ca_response = Some(response);
        }

        let reply = self.client.document(&attempt, &upload).await?;
        self.out.step("document", &reply, Detail::verdict);
        let verdict = reply.into_data("document")?;
        Ok((attempt, hello, verdict))
    }

    async fn phase(&self, attempt: &Handoff, phase: Phase) -> anyhow::Result<()> {
        let name = serde_json::to_value(phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let reply = self.client.phase(attempt, phase).await?;
        self.out
            .step(&format!("phase {name}"), &reply, |()| Detail::default());
        reply.into_data("phase")
    }

    /// A fresh challenge and the burst `face` answers it with.
    async fn liveness(&self, attempt: &Handoff, face: Face) -> anyhow::Result<Verdict> {
        let reply = self.client.liveness_challenge(attempt).await?;
        self.out.step("liveness/challenge", &reply, |c| {
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
        let burst = self.burst(&challenge, face)?;
        let reply = self.client.liveness(attempt, &burst).await?;
        self.out.step("liveness", &reply, Detail::verdict);
        reply.into_data("liveness")
    }

    fn burst(&self, challenge: &Challenge, face: Face) -> anyhow::Result<BurstUpload> {
        phone::burst(&self.faces, challenge, face, phone::now_ms())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn a_verification_url_gives_the_session_its_origin_and_cancel_token() {
        let target = Target::parse(
            "https://id.example.org:8443/verify/vs_abc123?cancel_token=tok9",
            None,
        )
        .unwrap();
        assert_eq!(target.session_id, "vs_abc123");
        assert_eq!(target.server.as_str(), "https://id.example.org:8443/");
        assert_eq!(target.cancel_token.as_deref(), Some("tok9"));
    }

    #[test]
    fn a_bare_id_uses_the_default_server_unless_told() {
        let target = Target::parse("vs_abc", None).unwrap();
        assert_eq!(target.server.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(target.cancel_token, None);
        let target = Target::parse("vs_abc", Some("http://10.0.0.2:9000")).unwrap();
        assert_eq!(target.server.as_str(), "http://10.0.0.2:9000/");
    }

    #[test]
    fn a_session_id_is_checked_before_it_goes_into_a_path() {
        for bad in ["abc", "vs_", "vs_../x", "https://h/verify/x"] {
            assert!(Target::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_failure_outcome_names_a_failure_code() {
        for outcome in Outcome::value_variants() {
            let expected = !matches!(outcome, Outcome::Succeeded | Outcome::Cancel);
            assert_eq!(outcome.failure_code().is_some(), expected, "{outcome:?}");
            if let Some(code) = outcome.failure_code() {
                assert_eq!(outcome.name(), code, "the flag value is the code");
            }
        }
    }

    fn placeholder() -> TestPortrait {
        TestPortrait {
            jpeg: emrtd::testkit::jpeg::placeholder_portrait(12, 16),
            width: 96,
            height: 128,
        }
    }

    #[test]
    fn the_success_passport_has_both_chip_protocols() {
        let passport = build_passport(Outcome::Succeeded, &placeholder()).unwrap();
        assert!(passport.chip.supports_active_authentication());
        assert!(passport.chip.supports_chip_authentication());
        assert!(passport.dg14.is_some() && passport.dg15.is_some());
        assert!(passport.failures.is_empty());
    }

    #[test]
    fn the_anti_cloning_passport_has_neither_protocol() {
        let passport = build_passport(
            Outcome::DocumentAntiCloningAttestationFailed,
            &placeholder(),
        )
        .unwrap();
        assert!(!passport.chip.supports_active_authentication());
        assert!(!passport.chip.supports_chip_authentication());
        assert!(passport.dg14.is_none() && passport.dg15.is_none());
    }

    #[test]
    fn each_document_failure_is_built_into_the_passport() {
        for outcome in Outcome::value_variants() {
            let passport = build_passport(*outcome, &placeholder()).unwrap();
            assert_eq!(
                passport.failures,
                outcome.document_failure().into_iter().collect::<Vec<_>>(),
                "{outcome:?}"
            );
        }
    }
}
