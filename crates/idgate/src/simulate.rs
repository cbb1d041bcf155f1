//! `idgate simulate`: the project's own mobile client, playing the phone against a running server
//! with a factory passport and the test faces (docs/verify.md "Test passports and the simulator").
//!
//! The phone and its walk through the mobile API are `idgate_phone::simulation`, which the server
//! also runs for the hosted page's test-mode buttons; this command finds the session and its
//! server, authorizes the handoff (the URL's cancel token or an integrator key) and prints each
//! step: its name, the HTTP status, the verdict and the round-trip time, as lines or as one JSON
//! object per line. Nothing personal is printed: the factory holder is fictitious, and the output
//! shows verdicts and codes only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use idgate_face::testkit::TestFaces;
use idgate_phone::client::{HandoffAuth, MobileClient};
use idgate_phone::device::{self, DeviceError};
use idgate_phone::simulation::{ApiHandoffs, Reporter, Step};
use idgate_phone::{Outcome, Simulation};
use reqwest::Url;
use serde_json::{Value, json};

/// The server a bare session id is looked for on.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

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
    let faces = load_faces(&device::photos_dir(args.photos.clone()))?;
    let passport = args.outcome.passport(faces.portrait_jpeg())?;
    let out = Printer { json: args.json };
    out.note(&format!(
        "simulating `{}` on {} for session {}",
        args.outcome,
        client.base(),
        target.session_id
    ));
    let sim = Simulation {
        handoffs: ApiHandoffs {
            client: client.clone(),
            session_id: target.session_id.clone(),
            auth: handoff_auth,
        },
        client,
        report: out,
        session_id: target.session_id.clone(),
        device_id: device::device_id("idgate-simulate"),
        passport,
        faces: Some(Arc::new(faces)),
    };

    let cancel_token = match (args.outcome, &target.cancel_token) {
        (Outcome::Cancel, None) => {
            let key = args.api_key.as_deref().unwrap_or_default();
            Some(integrator_cancel_token(&target.server, key, &target.session_id).await?)
        }
        (_, token) => token.clone(),
    };
    let result = sim.play(args.outcome, cancel_token.as_deref()).await;
    let status = sim.final_status().await.map(|status| {
        if sim.report.json {
            println!("{}", json!({ "session": status }));
        } else {
            println!(
                "# session {}: {}{}",
                sim.session_id,
                status.status,
                status
                    .redirect_url
                    .map(|u| format!(", redirect to {u}"))
                    .unwrap_or_default()
            );
        }
    });
    Ok(result.and(status)?)
}

/// The test faces from `dir`; a missing directory names every way to provide it.
pub(crate) fn load_faces(dir: &Path) -> anyhow::Result<TestFaces> {
    device::load_faces(dir).map_err(|e| match e {
        DeviceError::NoPhotos { dir } => anyhow!(
            "the test photos are not in {}: run scripts/fetch-face-models.sh (it fills \
             .face-models/photos; or set IDGATE_FACE_MODELS, or pass --photos DIR)",
            dir.display()
        ),
        other => other.into(),
    })
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
    let response = idgate_phone::client::http_client()?
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

impl Reporter for Printer {
    fn note(&self, text: &str) {
        if self.json {
            println!("{}", json!({ "note": text }));
        } else {
            println!("# {text}");
        }
    }

    fn step(&self, step: Step<'_>) {
        let elapsed_ms = step.elapsed.as_millis();
        if self.json {
            let mut line = json!({
                "step": step.name,
                "status": step.status,
                "elapsed_ms": u64::try_from(elapsed_ms).unwrap_or(u64::MAX),
            });
            if let Some(map) = line.as_object_mut() {
                let mut put = |key: &str, value: Option<String>| {
                    if let Some(value) = value {
                        map.insert(key.to_owned(), Value::String(value));
                    }
                };
                put("verdict", step.verdict);
                put("failure_code", step.failure_code);
                put("error", step.error.map(str::to_owned));
                put("note", step.note);
            }
            println!("{line}");
        } else {
            let outcome = match (step.error, &step.verdict, &step.failure_code) {
                (Some(code), _, _) => format!("error {code}"),
                (None, Some(v), Some(code)) => format!("{v} {code}"),
                (None, Some(v), None) => v.clone(),
                (None, None, _) => "ok".to_owned(),
            };
            let note = step.note.map(|n| format!("  ({n})")).unwrap_or_default();
            println!(
                "{:<24} {:>3}  {outcome:<48} {elapsed_ms:>6} ms{note}",
                step.name, step.status
            );
        }
    }

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
}
