//! `/v1/verify/…`: the end-user flow (docs/verify.md "HTTP surface"). The browser hands the
//! flow to a phone; the phone binds the attempt, uploads what it read from the chip and a burst
//! of selfie frames, and the person consents; every check runs here, in `idgate-verify`, off the
//! async runtime.
//!
//! Handlers parse, authenticate the attempt's bearer token, run the checks and let the store
//! write the verdict under the session's row lock: a cancel or an expiry that lands while a
//! check runs wins, and the check's result is discarded (`410`). Every artifact a later step
//! needs is in the attempt's vault, sealed under a key derived from the token, so any node can
//! serve any step.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use idgate_core::api_key::Environment;
use idgate_core::{
    AttemptId, AttemptPhase, AttemptStatus, ClientProgress, ErrorCode, FailureCode, Scope, Session,
    SessionId, SessionStatus, ShareFields, Timestamp, TransitionError,
};
use idgate_face::Challenge;
use idgate_face::upload::BurstUpload;
use idgate_store::{MobileAttempt, PublicStatus, StepOutcome, StepRecord, StoreError};
use idgate_verify::document::{DocumentUpload, Freshness, PendingChipAuth};
use idgate_verify::vault::{AttemptToken, Vault, VaultKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::Data;
use crate::error::{ApiError, Resource};
use crate::extract::{
    DOCUMENT_BODY_BYTES, LIVENESS_BODY_BYTES, parse_json, require_json_content_type,
};
use crate::routes::sessions::session_id;
use crate::state::AppState;
use crate::status_hub::{RECONNECT_HINT, RenderedStatus, StatusStream};
use crate::telemetry::{VERIFICATIONS, VERIFY_STEP_DURATION};
use idgate_core::Error as DomainError;
use idgate_core::session::MAX_TRIES;

/// How long a handoff token may wait for its first call (docs/verify.md: 5 minutes).
pub const HANDOFF_TTL_SECS: i64 = 300;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handoff))
        .routes(routes!(status))
        .routes(routes!(events))
        .routes(routes!(end_user_cancel))
        .routes(routes!(hello))
        .routes(routes!(phase))
        .routes(routes!(chip_authentication))
        .routes(routes!(document_failure))
        .routes(routes!(liveness_challenge))
        .routes(routes!(consent))
        // The two uploads get the larger limits of `extract::body_limit` (inner layers win).
        .merge(
            OpenApiRouter::new()
                .routes(routes!(document))
                .layer(DefaultBodyLimit::max(DOCUMENT_BODY_BYTES)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(liveness))
                .layer(DefaultBodyLimit::max(LIVENESS_BODY_BYTES)),
        )
}

// ---- wire types ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffIn {
    /// The session's `cancel_token` (from the verification URL). Not needed when the request
    /// carries an integrator API key of the session's organization with `sessions:write`.
    pub cancel_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffOut {
    #[schema(pattern = r"^va_[A-Za-z0-9]{64}$")]
    pub attempt_id: String,
    /// Bearer token of the mobile API for this attempt; shown once.
    pub token: String,
    /// The token's first call (`hello`) must come before this time.
    #[schema(value_type = String, format = DateTime)]
    pub token_expires_at: Timestamp,
    /// `idgate://verify?d=<payload>`, for the QR code and app links.
    pub deep_link: String,
    /// base64url of `{"v":1,"server","attempt_id","token"}`.
    pub payload: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    pub cancel_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    #[schema(value_type = String)]
    pub status: SessionStatus,
    /// The step the newest attempt waits for (`handoff`, `document`, `liveness`, `consent`,
    /// `done`), null before the first handoff.
    #[schema(value_type = Option<String>)]
    pub phase: Option<AttemptPhase>,
    /// What the phone last reported doing.
    #[schema(value_type = Option<String>)]
    pub progress: Option<ClientProgress>,
    pub nfc_tries_left: u8,
    pub liveness_tries_left: u8,
    /// `redirect_url?session_id=…` once the session is terminal and has a redirect URL.
    pub redirect_url: Option<String>,
}

/// One event of `GET /v1/verify/session/{id}/events` as the stream's fields (the shape OpenAPI
/// 3.2 and Schemathesis give an item of a `text/event-stream`). Documentation only: the stream
/// is written by axum's SSE encoder (`crate::status_hub`).
#[derive(Debug, ToSchema)]
pub struct StatusEventOut {
    /// `status`; absent in a block that carries only the `retry` hint.
    #[schema(pattern = "^status$")]
    pub event: Option<String>,
    /// The status's version: what `Last-Event-ID` sends back on reconnect.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub id: Option<String>,
    /// The status object of `GET /v1/verify/session/{id}/status` (`StatusOut`) as JSON text,
    /// without the envelope.
    pub data: Option<String>,
    /// Milliseconds a client should wait before reconnecting.
    pub retry: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HelloIn {
    /// A stable identifier the app chose for this device (1 to 128 printable characters).
    pub device_id: String,
    pub app_version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HelloOut {
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub session_id: String,
    #[schema(pattern = r"^va_[A-Za-z0-9]{64}$")]
    pub attempt_id: String,
    #[schema(value_type = String)]
    pub environment: Environment,
    #[schema(value_type = String)]
    pub phase: AttemptPhase,
    /// The share request: claim keys with `required` and `reason`.
    #[schema(value_type = Object)]
    pub share_fields: ShareFields,
    pub required_checks: RequiredChecks,
    /// base64 of the 8-byte challenge for INTERNAL AUTHENTICATE (ICAO 9303-11 §6.1).
    pub active_authentication_challenge: String,
    pub chip_authentication: ChipAuthenticationOffer,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequiredChecks {
    /// `required`, `when_supported` or `off`.
    #[schema(value_type = String)]
    pub clone_detection: idgate_verify::document::CloneDetection,
    pub allow_expired_documents: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChipAuthenticationOffer {
    /// The server plays the terminal of chip authentication through
    /// `POST /v1/verify/attempts/{id}/chip-authentication` (see that route).
    pub supported: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseIn {
    /// `mrz_scanning`, `nfc_reading`, `selfie_capturing` or `reviewing_consent`.
    pub phase: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChipAuthIn {
    /// DG14 as read from the chip (base64).
    pub dg14: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentIn {
    pub com: Option<String>,
    pub dg1: String,
    pub dg2: String,
    pub sod: String,
    pub dg14: Option<String>,
    pub dg15: Option<String>,
    pub card_security: Option<String>,
    /// The chip's answer to INTERNAL AUTHENTICATE over the hello's challenge.
    pub aa_signature: Option<String>,
    /// The chip's complete response to the chip-authentication probe.
    pub ca_response: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentFailureIn {
    /// Why the chip could not be read (for the client's logs; at most 200 characters, no
    /// personal data).
    pub reason: String,
    /// The client's id of this report: a retry with the same id counts once.
    pub report_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentIn {
    pub selected_field_keys: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentOut {
    #[schema(value_type = String)]
    pub status: SessionStatus,
    pub redirect_url: Option<String>,
}

/// The verdict of a step (docs/verify.md "HTTP surface").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerdictOut {
    /// `accepted` or `rejected`.
    pub verdict: String,
    #[schema(value_type = Option<String>)]
    pub failure_code: Option<FailureCode>,
    pub nfc_tries_left: u8,
    pub liveness_tries_left: u8,
    /// Whether the session ended with this verdict.
    pub terminal: bool,
    /// After a rejected document that leaves tries: a fresh active-authentication challenge
    /// (base64) for the next read, since each challenge is answered once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_authentication_challenge: Option<String>,
}

/// The recorded verdict of an attempt's last step, with the keyed digest of its upload.
#[derive(Debug, Serialize, Deserialize)]
struct LastVerdict {
    step: String,
    digest: String,
    verdict: VerdictOut,
}

// ---- helpers ---------------------------------------------------------------------------------

fn attempt_id(raw: &str) -> Result<AttemptId, ApiError> {
    AttemptId::parse(raw).map_err(|_| ApiError::new(ErrorCode::InvalidAttemptId))
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::from_store(error, Resource::Session)
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(text).map_err(|_| {
        ApiError::invalid_request(format!("Invalid `{field}`: must be standard base64."))
    })
}

fn b64_opt(field: &str, text: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    text.map(|t| b64(field, t)).transpose()
}

/// What the store keeps of an attempt token: its keyed hash.
fn token_hash(state: &AppState, token: &AttemptToken) -> String {
    state.secrets.keyed_hash("attempt token", token.expose())
}

/// The per-key limiter of the integrator API, keyed here by the attempt or session the request
/// names: one phone or page cannot flood the server (docs/api.md, rate limits).
pub(crate) fn rate_limit(state: &AppState, key: &str) -> Result<(), ApiError> {
    state
        .limiter
        .check(key)
        .map_err(|wait| ApiError::rate_limited(crate::rate_limit::retry_after_secs(wait)))
}

fn tries_left(used: u8) -> u8 {
    MAX_TRIES.saturating_sub(used)
}

fn verdict_of(session: &Session, failure: Option<FailureCode>) -> VerdictOut {
    VerdictOut {
        verdict: if failure.is_none() {
            "accepted"
        } else {
            "rejected"
        }
        .to_owned(),
        failure_code: failure,
        nfc_tries_left: tries_left(session.nfc_tries_used),
        liveness_tries_left: tries_left(session.liveness_tries_used),
        terminal: session.status.is_terminal(),
        active_authentication_challenge: None,
    }
}

/// The JSON body of a step, after the content-type check.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    require_json_content_type(headers)?;
    parse_json(body)
}

/// The caller of an attempt route: the attempt its bearer token names, checked against the path.
struct Caller {
    token: AttemptToken,
    mobile: MobileAttempt,
}

impl Caller {
    async fn authenticate(
        state: &AppState,
        headers: &HeaderMap,
        raw_id: &str,
    ) -> Result<Self, ApiError> {
        let id = attempt_id(raw_id)?;
        rate_limit(state, id.as_str())?;
        let invalid = || ApiError::new(ErrorCode::InvalidAttemptToken);
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| AttemptToken::parse(t.trim()))
            .ok_or_else(invalid)?;
        let mobile = match state
            .store
            .attempt_by_token(&token_hash(state, &token))
            .await
        {
            Ok(mobile) => mobile,
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(other) => return Err(store_error(other)),
        };
        if mobile.attempt.id != id {
            return Err(invalid());
        }
        Ok(Self { token, mobile })
    }

    /// The attempt may take a step now: its session is live and this is its open attempt, and a
    /// token not used yet is within its first-use window. A finished session answers with how it
    /// ended, whatever the attempt's state. Checked after [`Caller::recorded`], so a retry of
    /// the step that ended the session still gets its verdict.
    async fn ensure_open(&self, state: &AppState) -> Result<(), ApiError> {
        let mobile = &self.mobile;
        let now = state.clock.now();
        if mobile.session.status.is_terminal() {
            return Err(TransitionError::Terminal(mobile.session.status)
                .to_error()
                .into());
        }
        if mobile.session.is_overdue(now) {
            // Persist the expiry (and its webhook) before answering, as reads do.
            state
                .store
                .session_by_id_applying_expiry(&mobile.session.id, now)
                .await
                .map_err(store_error)?;
            return Err(TransitionError::Overdue.to_error().into());
        }
        if mobile.attempt.status != AttemptStatus::InProgress {
            return Err(ApiError::new(ErrorCode::AttemptClosed));
        }
        if let Some(until) = mobile.token_expires_at
            && now > until
        {
            return Err(ApiError::new(ErrorCode::HandoffTokenExpired));
        }
        Ok(())
    }

    fn key(&self) -> VaultKey {
        self.token.vault_key(&self.mobile.attempt.id)
    }

    fn vault(&self) -> Result<Vault, ApiError> {
        let sealed = self
            .mobile
            .vault
            .as_deref()
            .ok_or_else(|| ApiError::new(ErrorCode::PhaseOutOfOrder))?;
        Vault::open(sealed, &self.key(), &self.mobile.attempt.id)
            .map_err(|e| ApiError::internal(&e))
    }

    fn seal(&self, vault: &Vault) -> Result<String, ApiError> {
        vault
            .seal(&self.key(), &self.mobile.attempt.id)
            .map_err(|e| ApiError::internal(&e))
    }

    /// Writes a new vault without a transition (chip authentication started, a liveness
    /// challenge issued), under the same guards as a step's verdict.
    async fn save_vault(&self, state: &AppState, vault: &Vault) -> Result<(), ApiError> {
        let record = StepRecord {
            vault: Some(self.seal(vault)?),
            ..StepRecord::default()
        };
        state
            .store
            .record_step(
                &self.mobile.attempt.id,
                self.mobile.vault_version,
                StepOutcome::Unchanged,
                record,
                |_| None,
                state.clock.now(),
            )
            .await
            .map(drop)
            .map_err(store_error)
    }

    /// The step may run now: the attempt waits for `phase`.
    fn expect_phase(&self, phase: AttemptPhase) -> Result<(), ApiError> {
        if self.mobile.attempt.phase == phase {
            Ok(())
        } else {
            Err(TransitionError::WrongPhase {
                expected: phase,
                actual: self.mobile.attempt.phase,
            }
            .to_error()
            .into())
        }
    }

    /// The recorded verdict when `digest` repeats the last upload of `step`.
    fn recorded(&self, step: &str, digest: &str) -> Option<VerdictOut> {
        let last: LastVerdict = serde_json::from_str(self.mobile.last_verdict.as_deref()?).ok()?;
        (last.step == step && last.digest == digest).then_some(last.verdict)
    }
}

/// Looks up the recorded verdict of a racing step that committed first.
async fn raced(
    state: &AppState,
    caller: &Caller,
    step: &str,
    digest: &str,
) -> Result<Response, ApiError> {
    let fresh = state
        .store
        .attempt_by_token(&token_hash(state, &caller.token))
        .await
        .map_err(store_error)?;
    let again = Caller {
        token: caller.token.clone(),
        mobile: fresh,
    };
    match again.recorded(step, digest) {
        Some(verdict) => Ok(Data::new(verdict).into_response()),
        None => Err(store_error(StoreError::StepRaced)),
    }
}

/// The record of a step's verdict; `None` only if it cannot be encoded, and then a retry is
/// simply checked again.
fn last_verdict(step: &str, digest: &str, verdict: &VerdictOut) -> Option<String> {
    serde_json::to_string(&LastVerdict {
        step: step.to_owned(),
        digest: digest.to_owned(),
        verdict: verdict.clone(),
    })
    .ok()
}

fn observe_step(step: &'static str, started: Instant) {
    metrics::histogram!(VERIFY_STEP_DURATION, "step" => step)
        .record(started.elapsed().as_secs_f64());
}

fn observe_outcome(session: &Session) {
    match session.status {
        SessionStatus::Succeeded => {
            metrics::counter!(VERIFICATIONS, "outcome" => "succeeded", "failure_code" => "")
                .increment(1);
        }
        SessionStatus::Failed => {
            let code = session.failure_code.map_or("", FailureCode::as_str);
            metrics::counter!(VERIFICATIONS, "outcome" => "failed", "failure_code" => code)
                .increment(1);
        }
        _ => {}
    }
}

// ---- browser routes --------------------------------------------------------------------------

/// Starts an attempt for a phone: a new attempt with its bearer token (usable for 5 minutes
/// until its first call) and the deep link for the QR code. An older open attempt is closed.
#[utoipa::path(post, path = "/v1/verify/session/{id}/handoff", operation_id = "handoffSession", tag = "Verification", security(()),
    summary = "Hand the flow to a phone",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The session.")),
    request_body(content = HandoffIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The new attempt and its token.", body = Data<HandoffOut>),
        (status = 429, description = "Too many requests for this session."),
        (status = 400, description = "Malformed session ID or body."),
        (status = 403, description = "Wrong cancel token, or an API key without `sessions:write`."),
        (status = 404, description = "Session not found."),
        (status = 410, description = "The session has ended.")))]
pub async fn handoff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Data<HandoffOut>, ApiError> {
    let id = session_id(&id)?;
    rate_limit(&state, id.as_str())?;
    let now = state.clock.now();
    let input: HandoffIn = json_body(&headers, &body)?;
    let session = state
        .store
        .session_by_id_applying_expiry(&id, now)
        .await
        .map_err(store_error)?;
    authorize_handoff(&state, &headers, &session, input.cancel_token.as_deref()).await?;
    Ok(Data::new(issue_handoff(&state, &id, now).await?))
}

/// A new attempt of the session and its bearer token, the older open attempt closed: the part of
/// a handoff after its authorization, shared by the route, the hosted page and the server's
/// test-mode simulation ([`crate::simulation`]), so an attempt is issued one way whoever asks.
/// The store refuses a session that has ended (`410`).
pub(crate) async fn issue_handoff(
    state: &AppState,
    id: &SessionId,
    now: Timestamp,
) -> Result<HandoffOut, ApiError> {
    let token = AttemptToken::generate();
    let hash = token_hash(state, &token);
    let expires = now.plus_seconds(HANDOFF_TTL_SECS);
    let (_, attempt) = state
        .store
        .hand_off(id, &hash, expires, now)
        .await
        .map_err(store_error)?;
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::json!({
            "v": 1,
            "server": &*state.public_url,
            "attempt_id": attempt.id.as_str(),
            "token": token.expose(),
        })
        .to_string(),
    );
    Ok(HandoffOut {
        attempt_id: attempt.id.to_string(),
        token: token.expose().to_owned(),
        token_expires_at: expires,
        deep_link: format!("idgate://verify?d={payload}"),
        payload,
    })
}

/// The browser proves it holds the verification URL (its cancel token); an integrator may
/// instead hand off with an API key of the session's organization and mode.
async fn authorize_handoff(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    cancel_token: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(token) = cancel_token {
        return if session.cancel_token_matches(token) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::InvalidCancelToken))
        };
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::from(DomainError::with_message(
            ErrorCode::InvalidCancelToken,
            "A handoff needs the session's `cancel_token` or an API key.",
        )));
    }
    let key = crate::auth::api_key(state, headers).await?;
    if key.org_id != session.org_id || key.environment != session.environment {
        return Err(ApiError::from(idgate_core::Error::session_not_found()));
    }
    if !key.allows(Scope::SessionsWrite) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    Ok(())
}

/// The public status of a session, for the hosted page: no personal data.
#[utoipa::path(get, path = "/v1/verify/session/{id}/status", operation_id = "verificationStatus", tag = "Verification", security(()),
    summary = "Public status of a session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The session.")),
    responses(
        (status = 200, description = "The status.", body = Data<StatusOut>),
        (status = 429, description = "Too many requests for this session."),
        (status = 400, description = "Malformed session ID."),
        (status = 404, description = "Session not found.")))]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Data<StatusOut>, ApiError> {
    let id = session_id(&id)?;
    rate_limit(&state, id.as_str())?;
    let status = state
        .store
        .public_status(&id, state.clock.now())
        .await
        .map_err(store_error)?;
    Ok(Data::new(status_out(&status)))
}

/// The public status as the page sees it, from `status` and in every event of `events`.
pub fn status_out(status: &PublicStatus) -> StatusOut {
    let session = &status.session;
    let redirect_url = session
        .status
        .is_terminal()
        .then(|| {
            session
                .redirect_url
                .as_deref()
                .map(|url| redirect_with_id(url, &session.id))
        })
        .flatten();
    StatusOut {
        status: session.status,
        phase: status.attempt.as_ref().map(|a| a.phase),
        progress: status.progress,
        nfc_tries_left: tries_left(session.nfc_tries_used),
        liveness_tries_left: tries_left(session.liveness_tries_used),
        redirect_url,
    }
}

/// [`status_out`] as an event of the stream: its JSON, and as its version (the event `id`) a
/// SHA-256 of that JSON, truncated to 128 bits. A plain digest is enough: the status carries no
/// personal data and the client sees all of it anyway, so the id reveals nothing and needs no
/// key; and being a function of the status alone, equal statuses get equal ids on every node,
/// which is what lets a browser resume on any node with `Last-Event-ID`.
pub fn render_status(status: &PublicStatus) -> Result<RenderedStatus, serde_json::Error> {
    use sha2::Digest as _;
    let json = serde_json::to_string(&status_out(status))?;
    let digest = sha2::Sha256::digest(json.as_bytes());
    Ok(RenderedStatus {
        version: hex::encode(digest.get(..16).unwrap_or_default()),
        terminal: status.session.status.is_terminal(),
        json,
    })
}

/// The public status as a Server-Sent Events stream, for the hosted page's `EventSource`
/// (docs/verify.md "Status stream"): the current status first, then one `status` event per
/// change, heartbeat comments every `sse_heartbeat_secs`, and the end of the stream after the
/// terminal status. `Last-Event-ID` resumes: the status is sent again only if it changed.
#[utoipa::path(get, path = "/v1/verify/session/{id}/events", operation_id = "verificationEvents", tag = "Verification", security(()),
    summary = "Stream the public status of a session",
    params(
        ("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The session."),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received (sent by `EventSource` when it reconnects): the current status is sent only if it differs.")),
    responses(
        (status = 200, description = "`text/event-stream`: `status` events (`id` = the status's version, `data` = the status object of `GET …/status`, bare), heartbeat comments, a `retry` hint. Ends after the terminal status.", body = StatusEventOut, content_type = "text/event-stream"),
        (status = 204, description = "The session has ended and `Last-Event-ID` is its final status: nothing more will come."),
        (status = 429, description = "Too many requests for this session (`RATE_LIMITED`), or too many open streams for it or on this server (`TOO_MANY_STREAMS`)."),
        (status = 400, description = "Malformed session ID."),
        (status = 404, description = "Session not found.")))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    rate_limit(&state, id.as_str())?;
    // The slot before the read: a change committed after the read wakes the stream.
    let slot = state
        .status_hub
        .open(&id)
        .map_err(|refusal| refusal.to_api_error(state.status_hub.settings()))?;
    let status = state
        .store
        .public_status(&id, state.clock.now())
        .await
        .map_err(store_error)?;
    let current = render_status(&status).map_err(|e| ApiError::internal(&e))?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|known| known.trim() == current.version);
    if resumed && current.terminal {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let first = if resumed {
        Event::default()
    } else {
        current.event()
    }
    .retry(RECONNECT_HINT);
    let stream = StatusStream::new(
        state.clone(),
        id,
        slot,
        render_status,
        first,
        Some(current.version),
        current.terminal,
    );
    Ok((
        // Proxies that buffer responses (nginx) would hold the events back.
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        Sse::new(stream.into_stream()),
    )
        .into_response())
}

/// `redirect_url?session_id=…` (or `&session_id=…` when the URL has a query already).
pub fn redirect_with_id(url: &str, id: &SessionId) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}session_id={id}")
}

/// The person cancels from the hosted page or the app with the one-shot cancel token.
#[utoipa::path(post, path = "/v1/verify/session/{id}/cancel", operation_id = "endUserCancel", tag = "Verification", security(()),
    summary = "Cancel as the person being verified",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The session.")),
    request_body(content = CancelIn, content_type = "application/json"),
    responses(
        (status = 204, description = "Cancelled."),
        (status = 429, description = "Too many requests for this session."),
        (status = 400, description = "Malformed session ID or body."),
        (status = 403, description = "Wrong cancel token."),
        (status = 404, description = "Session not found."),
        (status = 409, description = "The session already ended."),
        (status = 410, description = "The session has ended.")))]
pub async fn end_user_cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = session_id(&id)?;
    rate_limit(&state, id.as_str())?;
    let input: CancelIn = json_body(&headers, &body)?;
    state
        .store
        .cancel_by_end_user(&id, &input.cancel_token, state.clock.now())
        .await
        .map_err(store_error)?;
    metrics::counter!(crate::telemetry::SESSIONS_CANCELLED).increment(1);
    Ok(StatusCode::NO_CONTENT)
}

// ---- mobile routes ---------------------------------------------------------------------------

/// Binds the attempt to the device; the session becomes `in_progress`. Returns the share
/// request, the document policy and a fresh active-authentication challenge.
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/hello", operation_id = "attemptHello", tag = "Verification", security(("attemptToken" = [])),
    summary = "Bind the attempt to this device",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = HelloIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The attempt's share request and challenges.", body = Data<HelloOut>),
        (status = 400, description = "Malformed attempt ID or body."),
        (status = 409, description = "Attempt closed, or bound to another device.")))]
pub async fn hello(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Data<HelloOut>, ApiError> {
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    caller.ensure_open(&state).await?;
    let input: HelloIn = json_body(&headers, &body)?;
    let valid = |s: &str, max| {
        !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    if !valid(&input.device_id, 128) {
        return Err(ApiError::invalid_request(
            "Invalid `device_id`: must be 1 to 128 printable characters.",
        ));
    }
    if !valid(&input.app_version, 64) {
        return Err(ApiError::invalid_request(
            "Invalid `app_version`: must be 1 to 64 printable characters.",
        ));
    }
    let device_hash = state.secrets.keyed_hash("device id", &input.device_id);
    let challenge = emrtd::active::Challenge::issue().map_err(|e| ApiError::internal(&e))?;
    let mut vault = Vault::default();
    vault.aa_challenge = Some(challenge.to_vault_bytes().to_vec());
    let sealed = caller.seal(&vault)?;
    let mobile = state
        .store
        .bind_attempt(
            &caller.mobile.attempt.id,
            &device_hash,
            &input.app_version,
            &sealed,
            state.clock.now(),
        )
        .await
        .map_err(store_error)?;
    let bound = Caller {
        token: caller.token,
        mobile,
    };
    // A repeated hello returns the challenge issued first (the vault as stored).
    let stored = bound.vault()?;
    let aa = stored
        .aa_challenge
        .as_deref()
        .map(|bytes| STANDARD.encode(bytes))
        .unwrap_or_default();
    let session = &bound.mobile.session;
    Ok(Data::new(HelloOut {
        session_id: session.id.to_string(),
        attempt_id: bound.mobile.attempt.id.to_string(),
        environment: session.environment,
        phase: bound.mobile.attempt.phase,
        share_fields: session.share_fields.clone(),
        required_checks: RequiredChecks {
            clone_detection: state.verification.policy.clone_detection,
            allow_expired_documents: state.verification.policy.allow_expired_documents,
        },
        active_authentication_challenge: aa,
        chip_authentication: ChipAuthenticationOffer { supported: true },
    }))
}

/// What the phone is doing, shown to the browser.
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/phase", operation_id = "attemptPhase", tag = "Verification", security(("attemptToken" = [])),
    summary = "Report progress",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = PhaseIn, content_type = "application/json"),
    responses(
        (status = 204, description = "Recorded."),
        (status = 400, description = "Malformed attempt ID or body."),
        (status = 409, description = "Attempt closed or not bound yet.")))]
pub async fn phase(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    caller.ensure_open(&state).await?;
    let input: PhaseIn = json_body(&headers, &body)?;
    let progress = ClientProgress::parse(&input.phase).ok_or_else(|| {
        ApiError::invalid_request(
            "Invalid `phase`: must be one of mrz_scanning, nfc_reading, selfie_capturing, reviewing_consent.",
        )
    })?;
    state
        .store
        .set_progress(&caller.mobile.attempt.id, progress, state.clock.now())
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts chip authentication with the uploaded DG14: the server generates the ephemeral key and
/// returns the APDUs the phone relays to the chip (ICAO 9303-11 §6.2).
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/chip-authentication", operation_id = "attemptChipAuthentication", tag = "Verification", security(("attemptToken" = [])),
    summary = "Start chip authentication",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = ChipAuthIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The APDUs to relay.", body = Object),
        (status = 400, description = "Malformed attempt ID, body or DG14."),
        (status = 409, description = "Not in the document step.")))]
pub async fn chip_authentication(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    caller.ensure_open(&state).await?;
    caller.expect_phase(AttemptPhase::Document)?;
    let input: ChipAuthIn = json_body(&headers, &body)?;
    let dg14 = b64("dg14", &input.dg14)?;
    let started = Instant::now();
    let dg14_for_check = dg14.clone();
    let (session_bytes, instructions) = tokio::task::spawn_blocking(move || {
        idgate_verify::document::start_chip_authentication(&dg14_for_check)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::invalid_request(format!("Invalid `dg14`: {e}.")))?;
    let mut vault = caller.vault()?;
    vault.chip_auth_session = Some(session_bytes.to_vec());
    vault.chip_auth_dg14 = Some(dg14);
    caller.save_vault(&state, &vault).await?;
    observe_step("chip_authentication", started);
    Ok(Data::new(instructions).into_response())
}

/// The chip's files and proofs: the document checks run in order and the first failure decides
/// the verdict (docs/verify.md "Document checks").
#[utoipa::path(put, path = "/v1/verify/attempts/{id}/document", operation_id = "attemptDocument", tag = "Verification", security(("attemptToken" = [])),
    summary = "Upload the chip's files",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = DocumentIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict.", body = Data<VerdictOut>),
        (status = 400, description = "Malformed attempt ID or body."),
        (status = 409, description = "Not in the document step.")))]
pub async fn document(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    let input: DocumentIn = json_body(&headers, &body)?;
    let upload = DocumentUpload {
        com: b64_opt("com", input.com.as_deref())?,
        dg1: b64("dg1", &input.dg1)?,
        dg2: b64("dg2", &input.dg2)?,
        sod: b64("sod", &input.sod)?,
        dg14: b64_opt("dg14", input.dg14.as_deref())?,
        dg15: b64_opt("dg15", input.dg15.as_deref())?,
        card_security: b64_opt("card_security", input.card_security.as_deref())?,
        aa_signature: b64_opt("aa_signature", input.aa_signature.as_deref())?,
        ca_response: b64_opt("ca_response", input.ca_response.as_deref())?,
    };
    let digest = caller.key().upload_digest(
        "document",
        &idgate_verify::document::document_digest(&upload),
    );
    if let Some(verdict) = caller.recorded("document", &digest) {
        return Ok(Data::new(verdict).into_response());
    }
    caller.ensure_open(&state).await?;
    caller.expect_phase(AttemptPhase::Document)?;
    let mut vault = caller.vault()?;
    let challenge = vault
        .aa_challenge
        .as_deref()
        .map(emrtd::active::Challenge::restore)
        .transpose()
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::PhaseOutOfOrder))?;
    let chip_auth = match (&vault.chip_auth_session, &vault.chip_auth_dg14) {
        (Some(bytes), Some(dg14)) if upload.dg14.as_ref() == Some(dg14) => {
            Some(PendingChipAuth::from_vault_bytes(bytes).map_err(|e| ApiError::internal(&e))?)
        }
        _ => None,
    };
    let trust = state
        .verification
        .trust(&state.store, caller.mobile.session.environment)
        .await
        .map_err(store_error)?;
    let policy = state.verification.policy;
    let at = state.clock.now().to_offset_date_time();
    let (upload, verdict) = tokio::task::spawn_blocking(move || {
        let verdict = idgate_verify::document::check_document(
            &upload,
            &trust,
            &policy,
            Freshness {
                aa_challenge: challenge,
                chip_auth,
            },
            at,
        );
        (upload, verdict)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    // Each challenge and chip-authentication session answers once.
    vault.chip_auth_session = None;
    vault.chip_auth_dg14 = None;
    let mut next_challenge = None;
    let outcome = match verdict.failure {
        None => {
            vault.aa_challenge = None;
            vault.dg1 = Some(upload.dg1.clone());
            vault.dg2 = Some(upload.dg2.clone());
            StepOutcome::Passed {
                from: AttemptPhase::Document,
            }
        }
        Some(code) => {
            let fresh = emrtd::active::Challenge::issue().map_err(|e| ApiError::internal(&e))?;
            vault.aa_challenge = Some(fresh.to_vault_bytes().to_vec());
            next_challenge = Some(STANDARD.encode(fresh.bytes()));
            StepOutcome::Failed(code)
        }
    };
    let checks = serde_json::to_value(&verdict.checks).map_err(|e| ApiError::internal(&e))?;
    finish_step(
        &state,
        &caller,
        "document",
        &digest,
        outcome,
        checks,
        &vault,
        verdict.failure,
        next_challenge,
        started,
    )
    .await
}

/// Writes a step's verdict and answers with it; a racing step that committed first answers
/// instead, and a session that ended meanwhile wins (`410`).
#[allow(clippy::too_many_arguments, reason = "one step's complete result")]
async fn finish_step(
    state: &AppState,
    caller: &Caller,
    step: &'static str,
    digest: &str,
    outcome: StepOutcome,
    checks: serde_json::Value,
    vault: &Vault,
    failure: Option<FailureCode>,
    next_challenge: Option<String>,
    started: Instant,
) -> Result<Response, ApiError> {
    // The verdict as the committed transition leaves the session; recorded in the same
    // transaction and returned.
    let verdict_for = |session: &Session| {
        let mut verdict = verdict_of(session, failure);
        if !verdict.terminal {
            verdict.active_authentication_challenge = next_challenge.clone();
        }
        verdict
    };
    let record = StepRecord {
        checks: Some((check_key(step), checks)),
        vault: Some(caller.seal(vault)?),
    };
    let written = state
        .store
        .record_step(
            &caller.mobile.attempt.id,
            caller.mobile.vault_version,
            outcome,
            record,
            |session| last_verdict(step, digest, &verdict_for(session)),
            state.clock.now(),
        )
        .await;
    let (session, _) = match written {
        Ok(done) => done,
        Err(StoreError::StepRaced) => return raced(state, caller, step, digest).await,
        Err(other) => return Err(store_error(other)),
    };
    observe_step(step, started);
    observe_outcome(&session);
    Ok(Data::new(verdict_for(&session)).into_response())
}

fn check_key(step: &str) -> &'static str {
    match step {
        "liveness" => "face",
        "document_failure" => "chip_read",
        _ => "document",
    }
}

/// The chip could not be read: uses an NFC try (the third unreadable chip fails the session
/// with `document_data_invalid`).
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/document/failure", operation_id = "attemptDocumentFailure", tag = "Verification", security(("attemptToken" = [])),
    summary = "Report an unreadable chip",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = DocumentFailureIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict.", body = Data<VerdictOut>),
        (status = 400, description = "Malformed attempt ID or body."),
        (status = 409, description = "Not in the document step.")))]
pub async fn document_failure(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    let input: DocumentFailureIn = json_body(&headers, &body)?;
    if input.reason.chars().count() > 200 {
        return Err(ApiError::invalid_request(
            "Invalid `reason`: must be at most 200 characters.",
        ));
    }
    // Without a report id every report counts; with one, a retry of it does not.
    let digest = match &input.report_id {
        Some(report) => caller
            .key()
            .upload_digest("document_failure", report.as_bytes()),
        None => caller.key().upload_digest(
            "document_failure",
            idgate_core::id::random_alphanumeric(32).as_bytes(),
        ),
    };
    if let Some(verdict) = caller.recorded("document_failure", &digest) {
        return Ok(Data::new(verdict).into_response());
    }
    caller.ensure_open(&state).await?;
    caller.expect_phase(AttemptPhase::Document)?;
    let vault = caller.vault()?;
    finish_step(
        &state,
        &caller,
        "document_failure",
        &digest,
        StepOutcome::Failed(FailureCode::DocumentDataInvalid),
        serde_json::json!({"status": "unreadable"}),
        &vault,
        Some(FailureCode::DocumentDataInvalid),
        None,
        started,
    )
    .await
}

/// A fresh liveness challenge (a random sequence of head poses and expressions); the burst that
/// answers it must arrive before it expires.
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/liveness/challenge", operation_id = "attemptLivenessChallenge", tag = "Verification", security(("attemptToken" = [])),
    summary = "Get a liveness challenge",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    responses(
        (status = 200, description = "The challenge.", body = Object),
        (status = 400, description = "Malformed attempt ID."),
        (status = 409, description = "Not in the liveness step.")))]
pub async fn liveness_challenge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    caller.ensure_open(&state).await?;
    caller.expect_phase(AttemptPhase::Liveness)?;
    let policy = state
        .verification
        .challenge_policy(caller.mobile.session.environment);
    let now_ms = u64::try_from(state.clock.now().unix_ms()).unwrap_or(0);
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    getrandom::fill(&mut [0u8; 1]).map_err(|e| ApiError::internal(&e))?;
    let challenge =
        Challenge::random(&mut rng, &policy, now_ms).map_err(|e| ApiError::internal(&e))?;
    let mut vault = caller.vault()?;
    vault.face_challenge =
        Some(serde_json::to_value(&challenge).map_err(|e| ApiError::internal(&e))?);
    caller.save_vault(&state, &vault).await?;
    Ok(Data::new(challenge).into_response())
}

/// The selfie burst answering the challenge: liveness first, then the match with the DG2
/// portrait (docs/verify.md "Face and liveness").
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/liveness", operation_id = "attemptLiveness", tag = "Verification", security(("attemptToken" = [])),
    summary = "Upload the selfie burst",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = Object, content_type = "application/json", description = "`{nonce, frames: [{image_base64, captured_at_ms, sequence?}]}`"),
    responses(
        (status = 200, description = "The verdict.", body = Data<VerdictOut>),
        (status = 400, description = "Malformed attempt ID, body or frames."),
        (status = 409, description = "Not in the liveness step, or no challenge requested."),
        (status = 503, description = "The face engine could not run; no try was used.")))]
pub async fn liveness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    let digest = caller.key().upload_digest("liveness", &body);
    if let Some(verdict) = caller.recorded("liveness", &digest) {
        return Ok(Data::new(verdict).into_response());
    }
    caller.ensure_open(&state).await?;
    caller.expect_phase(AttemptPhase::Liveness)?;
    let upload: BurstUpload = json_body(&headers, &body)?;
    let mut vault = caller.vault()?;
    let challenge: Challenge = vault
        .face_challenge
        .clone()
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| {
            ApiError::from(
                DomainError::with_message(
                    ErrorCode::PhaseOutOfOrder,
                    "No liveness challenge is open for this attempt.",
                )
                .hint("Request one with POST …/liveness/challenge, then upload the burst."),
            )
        })?;
    let dg2 = vault
        .dg2
        .clone()
        .ok_or_else(|| ApiError::new(ErrorCode::PhaseOutOfOrder))?;
    let received_ms = u64::try_from(state.clock.now().unix_ms()).unwrap_or(0);
    let engine = state.verification.engine.clone();
    let config = state.verification.face.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let burst = upload.decode(received_ms).map_err(Err)?;
        idgate_verify::face::check_face(engine.as_ref(), &config, &challenge, &burst, &dg2)
            .map_err(Ok)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let verdict = match checked {
        Ok(verdict) => verdict,
        Err(Err(invalid)) => {
            return Err(ApiError::invalid_request(format!(
                "Invalid burst: {invalid}."
            )));
        }
        Err(Ok(engine_failure)) => {
            tracing::warn!(error = %engine_failure, "face check could not run");
            return Err(ApiError::new(ErrorCode::FaceEngineUnavailable));
        }
    };
    // The challenge is answered once, whatever the verdict.
    vault.face_challenge = None;
    let outcome = match verdict.failure {
        None => StepOutcome::Passed {
            from: AttemptPhase::Liveness,
        },
        Some(code) => StepOutcome::Failed(code),
    };
    let checks = serde_json::to_value(&verdict.checks).map_err(|e| ApiError::internal(&e))?;
    finish_step(
        &state,
        &caller,
        "liveness",
        &digest,
        outcome,
        checks,
        &vault,
        verdict.failure,
        None,
        started,
    )
    .await
}

/// The person's consent: must include every required field; the session succeeds and its
/// webhook carries exactly the selected claims.
#[utoipa::path(post, path = "/v1/verify/attempts/{id}/consent", operation_id = "attemptConsent", tag = "Verification", security(("attemptToken" = [])),
    summary = "Consent to share the selected fields",
    params(("id" = String, Path, pattern = r"^va_[A-Za-z0-9]{64}$", description = "The attempt.")),
    request_body(content = ConsentIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The session succeeded.", body = Data<ConsentOut>),
        (status = 400, description = "Malformed attempt ID or body, a required field missing, or a field not requested."),
        (status = 409, description = "The checks have not all passed.")))]
pub async fn consent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Data<ConsentOut>, ApiError> {
    let started = Instant::now();
    let caller = Caller::authenticate(&state, &headers, &id).await?;
    // A consent retried after its answer was lost: the session already succeeded with it.
    if caller.mobile.attempt.status == AttemptStatus::Succeeded {
        return Ok(Data::new(consent_out(&caller.mobile.session)));
    }
    caller.ensure_open(&state).await?;
    let input: ConsentIn = json_body(&headers, &body)?;
    caller.expect_phase(AttemptPhase::Consent)?;
    let session = &caller.mobile.session;
    session
        .share_fields
        .validate_selection(&input.selected_field_keys)
        .map_err(|e| {
            let code = match e {
                idgate_core::share::SelectionError::RequiredMissing(_) => {
                    ErrorCode::RequiredFieldNotSelected
                }
                _ => ErrorCode::FieldNotRequested,
            };
            ApiError::from(DomainError::with_message(code, format!("{e}.")))
        })?;
    let vault = caller.vault()?;
    let (dg1, dg2) = match (vault.dg1.clone(), vault.dg2.clone()) {
        (Some(dg1), Some(dg2)) => (dg1, dg2),
        _ => return Err(ApiError::new(ErrorCode::PhaseOutOfOrder)),
    };
    let share = session.share_fields.clone();
    let selected = input.selected_field_keys.clone();
    let org = session.org_id.clone();
    let key = state.secrets.document_id.clone();
    let today = state.clock.now().to_offset_date_time().date();
    let claims = tokio::task::spawn_blocking(move || {
        idgate_verify::claims::build_claims(
            &dg1,
            &dg2,
            &share,
            &selected,
            &org,
            key.expose(),
            today,
        )
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    let claims_json =
        zeroize::Zeroizing::new(serde_json::to_vec(&claims).map_err(|e| ApiError::internal(&e))?);
    drop(claims);
    let secrets = state.secrets.clone();
    let (session, _) = state
        .store
        .consent(
            &caller.mobile.attempt.id,
            caller.mobile.vault_version,
            &input.selected_field_keys,
            move |event| secrets.seal_claims(&event.id, &claims_json),
            state.clock.now(),
        )
        .await
        .map_err(store_error)?;
    observe_step("consent", started);
    observe_outcome(&session);
    Ok(Data::new(consent_out(&session)))
}

fn consent_out(session: &Session) -> ConsentOut {
    ConsentOut {
        status: session.status,
        redirect_url: session
            .redirect_url
            .as_deref()
            .map(|url| redirect_with_id(url, &session.id)),
    }
}
