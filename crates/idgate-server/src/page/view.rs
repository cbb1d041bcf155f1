//! What the hosted page shows, as data for its templates (`templates/verify/*.html`, compiled in
//! and escaped by askama): the open flow, an ended session and the problems a person can meet.
//! No personal data ever reaches a view: a session's page shows its share request and status,
//! never what was read from the passport.

use std::sync::OnceLock;

use askama::Template;
use axum::http::StatusCode;
use idgate_core::session::MAX_TRIES;
use idgate_core::share::{ShareSource, age_gate_threshold};
use idgate_core::{AttemptPhase, ClientProgress, Environment, Session, SessionStatus};
use idgate_store::PublicStatus;
use serde_json::json;

use super::i18n::Messages;
use super::qr;
use crate::routes::verify::{HandoffOut, StatusOut, redirect_with_id, status_out};
use crate::simulation;
use crate::state::AppServices;

/// The page's script and style, built into the binary and linked with a digest of their bytes.
pub(super) struct Assets {
    css: &'static str,
    js: &'static str,
    pub css_url: String,
    pub js_url: String,
}

impl Assets {
    pub fn get() -> &'static Self {
        static ASSETS: OnceLock<Assets> = OnceLock::new();
        ASSETS.get_or_init(|| {
            let css = include_str!("assets/verify.css");
            let js = include_str!("assets/verify.js");
            Self {
                css,
                js,
                css_url: format!("assets/verify.css?v={}", digest(css)),
                js_url: format!("assets/verify.js?v={}", digest(js)),
            }
        })
    }

    /// The content type and bytes of an asset by file name.
    pub fn by_name(&self, name: &str) -> Option<(&'static str, &'static str)> {
        match name {
            "verify.css" => Some(("text/css; charset=utf-8", self.css)),
            "verify.js" => Some(("text/javascript; charset=utf-8", self.js)),
            _ => None,
        }
    }
}

/// FNV-1a (64 bit) of an asset, as a cache buster: it only has to change when the bytes do.
fn digest(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A page a person can land on instead of the flow.
#[derive(Debug)]
pub(super) enum Problem {
    /// No such session, or not a session id at all.
    NotFound,
    /// The link lacks its cancel token, or carries a wrong one.
    Forbidden,
    /// The session's rate limit.
    Busy,
    /// A failure of ours.
    Error,
    /// Test mode: the simulation could not start, for the reason given.
    Simulation { status: StatusCode, message: String },
}

#[derive(Template)]
#[template(path = "verify/problem.html")]
struct ProblemPage<'a> {
    t: &'a Messages,
    assets: &'static Assets,
    heading: &'a str,
    text: &'a str,
}

pub(super) fn problem(t: &Messages, problem: Problem) -> (StatusCode, String) {
    let (status, key, reason) = match problem {
        Problem::NotFound => (StatusCode::NOT_FOUND, "problem.not_found", None),
        Problem::Forbidden => (StatusCode::FORBIDDEN, "problem.forbidden", None),
        Problem::Busy => (StatusCode::TOO_MANY_REQUESTS, "problem.busy", None),
        Problem::Error => (StatusCode::INTERNAL_SERVER_ERROR, "problem.error", None),
        Problem::Simulation { status, message } => (status, "problem.simulation", Some(message)),
    };
    let heading = format!("{key}.heading");
    let text = t.fmt(
        &format!("{key}.text"),
        &[("reason", reason.as_deref().unwrap_or_default())],
    );
    render(
        status,
        &ProblemPage {
            t,
            assets: Assets::get(),
            heading: t.get(&heading),
            text: &text,
        },
    )
}

#[derive(Template)]
#[template(path = "verify/ended.html")]
struct EndedPage<'a> {
    t: &'a Messages,
    assets: &'static Assets,
    heading: &'a str,
    detail: Option<&'a str>,
    redirect: Option<String>,
    /// For the script, which takes the person back after a moment.
    config_json: Option<String>,
}

/// How the session ended, and the way back to the integrator: a link, which the page's script
/// follows after a moment. Not a `<meta>` refresh: a timed refresh the person cannot stop or
/// extend fails WCAG 2.2 SC 2.2.1 (axe's `meta-refresh`), so without script the link is the way.
pub(super) fn ended(t: &Messages, session: &Session) -> (StatusCode, String) {
    let heading = format!("status.{}", session.status.as_str());
    let detail = session
        .failure_code
        .map(|code| format!("failure.{}", code.as_str()));
    let redirect = session
        .redirect_url
        .as_deref()
        .map(|url| redirect_with_id(url, &session.id));
    let config_json = redirect
        .as_ref()
        .map(|url| script_json(&json!({"ended": true, "redirect_url": url})));
    render(
        StatusCode::OK,
        &EndedPage {
            t,
            assets: Assets::get(),
            heading: t.get(&heading),
            detail: detail.as_deref().map(|key| t.get(key)),
            redirect,
            config_json,
        },
    )
}

/// One entry of the share request.
struct Field {
    key: String,
    label: String,
    required: bool,
    /// The integrator's own words; the catalog's default reasons are not shown, the label says
    /// as much in the person's language.
    reason: Option<String>,
}

/// A test-mode outcome the page offers; one this server cannot play is shown disabled.
struct OutcomeChoice {
    value: &'static str,
    label: String,
    playable: bool,
}

/// The QR code and app link of a fresh handoff.
struct HandoffView {
    qr_svg: String,
    deep_link: String,
    expires_text: String,
}

#[derive(Template)]
#[template(path = "verify/open.html")]
struct OpenPage<'a> {
    t: &'a Messages,
    assets: &'static Assets,
    session_id: &'a str,
    cancel_token: &'a str,
    fields: Vec<Field>,
    handoff: Option<HandoffView>,
    status_text: String,
    tries_text: Option<String>,
    test_mode: bool,
    outcomes: Vec<OutcomeChoice>,
    config_json: String,
}

/// The flow of an open session. `handoff` is the attempt issued for this page view, if any.
pub(super) fn open(
    state: &AppServices,
    t: &Messages,
    status: &PublicStatus,
    handoff: Option<&HandoffOut>,
) -> Result<(StatusCode, String), qr::QrError> {
    let session = &status.session;
    // The status as the stream sends it: the page's first rendering and the script's start.
    let public = status_out(status);
    let mut fields: Vec<Field> = session
        .share_fields
        .0
        .iter()
        .map(|(key, entry)| Field {
            key: key.clone(),
            label: field_label(t, key),
            required: entry.required,
            reason: (entry.source == ShareSource::Rc)
                .then(|| t.fmt("share.reason", &[("reason", &entry.reason)])),
        })
        .collect();
    // Required first: what the person cannot decline is what they must see before starting.
    fields.sort_by_key(|field| !field.required);
    let handoff_view = handoff
        .map(|h| {
            Ok::<_, qr::QrError>(HandoffView {
                qr_svg: qr::svg(&h.deep_link, t.get("phone.qr_label"))?,
                deep_link: h.deep_link.clone(),
                expires_text: t.fmt("phone.expires", &[("time", &clock_time(h))]),
            })
        })
        .transpose()?;
    let config = json!({
        "session_id": session.id.as_str(),
        "status": &public,
        "attempt_id": handoff.map(|h| h.attempt_id.as_str())
            .or(status.attempt.as_ref().map(|a| a.id.as_str())),
        "token": handoff.map(|h| h.token.as_str()),
        "token_expires_at_ms": handoff.map(|h| h.token_expires_at.unix_ms()),
        "fields": fields.iter().map(|f| json!({"key": f.key, "required": f.required})).collect::<Vec<_>>(),
        "messages": t
            .with_prefix("status.")
            .chain(t.with_prefix("progress."))
            .chain(t.with_prefix("failure."))
            .chain(t.with_prefix("camera."))
            .chain(t.with_prefix("consent."))
            .chain(t.with_prefix("phone.connected"))
            .map(|(key, text)| (key.to_owned(), serde_json::Value::from(text)))
            .collect::<serde_json::Map<_, _>>(),
    });
    let outcomes = if session.environment == Environment::Test {
        simulation::outcomes(state)
            .into_iter()
            .map(|(outcome, playable)| OutcomeChoice {
                value: outcome.as_str(),
                label: t
                    .get(&format!("test.outcome.{}", outcome.as_str()))
                    .to_owned(),
                playable,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(
        StatusCode::OK,
        &OpenPage {
            t,
            assets: Assets::get(),
            session_id: session.id.as_str(),
            cancel_token: session.cancel_token.expose(),
            fields,
            handoff: handoff_view,
            status_text: status_text(t, public.status, public.phase, public.progress),
            tries_text: tries_text(t, &public),
            test_mode: session.environment == Environment::Test,
            outcomes,
            config_json: script_json(&config),
        },
    ))
}

/// When the handoff's code stops working, as `HH:MM` (UTC).
fn clock_time(handoff: &HandoffOut) -> String {
    let time = handoff.token_expires_at.to_offset_date_time().time();
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// The tries left, once any was used (the same line `verify.js` writes on updates).
fn tries_text(t: &Messages, status: &StatusOut) -> Option<String> {
    let untouched = status.nfc_tries_left == MAX_TRIES && status.liveness_tries_left == MAX_TRIES;
    (!untouched).then(|| {
        t.fmt(
            "status.tries",
            &[
                ("nfc", &status.nfc_tries_left.to_string()),
                ("liveness", &status.liveness_tries_left.to_string()),
            ],
        )
    })
}

/// What the person reads as the status. The phone's progress report is shown while it belongs
/// to the step the attempt is in (a report from an earlier step is stale). `verify.js` repeats
/// this rule for live updates.
fn status_text(
    t: &Messages,
    status: SessionStatus,
    phase: Option<AttemptPhase>,
    progress: Option<ClientProgress>,
) -> String {
    if status.is_terminal() {
        return t.get(&format!("status.{}", status.as_str())).to_owned();
    }
    let progress_phase = progress.map(|p| match p {
        ClientProgress::MrzScanning | ClientProgress::NfcReading => AttemptPhase::Document,
        ClientProgress::SelfieCapturing => AttemptPhase::Liveness,
        ClientProgress::ReviewingConsent => AttemptPhase::Consent,
    });
    if let Some(progress) = progress
        && progress_phase == phase
    {
        return t.get(&format!("progress.{}", progress.as_str())).to_owned();
    }
    let key = match phase {
        None | Some(AttemptPhase::Handoff) => "status.created",
        Some(AttemptPhase::Document) => "status.document",
        Some(AttemptPhase::Liveness) => "status.liveness",
        Some(AttemptPhase::Consent) => "status.consent",
        Some(AttemptPhase::Done) => "status.done",
    };
    t.get(key).to_owned()
}

/// The label of a claim key in the person's language.
fn field_label(t: &Messages, key: &str) -> String {
    if let Ok(Some(n)) = age_gate_threshold(key) {
        return t.fmt("field.age_over", &[("n", &n.to_string())]);
    }
    let message_key = format!("field.{key}");
    let label = t.get(&message_key);
    if label == message_key {
        key.to_owned()
    } else {
        label.to_owned()
    }
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped as JSON
/// escapes, so no value can close the element or open a comment (HTML §4.12.1.3).
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn render(status: StatusCode, template: &impl Template) -> (StatusCode, String) {
    match template.render() {
        Ok(html) => (status, html),
        Err(error) => {
            tracing::error!(%error, "hosted page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>This page could not be shown.</p>"
                    .to_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::Locale;

    #[test]
    fn script_json_cannot_close_its_element() {
        let json = script_json(&json!({"x": "</script><!--&"}));
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back["x"], "</script><!--&");
    }

    #[test]
    fn a_progress_report_of_an_earlier_step_is_not_shown() {
        let t = Locale::En.messages();
        let now = status_text(
            t,
            SessionStatus::InProgress,
            Some(AttemptPhase::Document),
            Some(ClientProgress::NfcReading),
        );
        assert_eq!(now, t.get("progress.nfc_reading"));
        let stale = status_text(
            t,
            SessionStatus::InProgress,
            Some(AttemptPhase::Liveness),
            Some(ClientProgress::NfcReading),
        );
        assert_eq!(stale, t.get("status.liveness"));
    }

    #[test]
    fn every_claim_key_has_a_label_in_every_language() {
        for locale in Locale::ALL {
            let t = locale.messages();
            for (key, _) in idgate_core::share::STATIC_CLAIMS {
                assert_ne!(field_label(t, key), key, "{}: {key}", locale.tag());
            }
            assert!(field_label(t, "age_over_18").contains("18"));
        }
    }
}
