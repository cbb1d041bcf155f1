//! `/v1/sessions…`: create, list, get, cancel, erase and list attempts (api.md "Sessions",
//! seeds 000, 002, 004).
//!
//! Handlers parse and authorize, call the domain (idgate-core) and the store, and let
//! [`ApiError`] map every failure; no session rule is decided here.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idgate_core::{
    CreateSessionRequest, ErrorCode, IdempotencyKey, Limit, PageRequest, RequestFingerprint, Scope,
    Session, SessionFilter, SessionId, SessionStatus,
};
use idgate_store::{CreateOutcome, NewIdempotencyRecord, Store};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::ApiError;
use crate::extract::{ApiQuery, parse_json, require_json_content_type};
use crate::schema::{AttemptOut, SessionOut};
use crate::state::AppState;
use crate::telemetry::{SESSIONS_CANCELLED, SESSIONS_CREATED};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /v1/sessions`.
#[utoipa::path(post, path = "/v1/sessions", tag = "Sessions", summary = "Create a session",
    request_body(content = crate::schema::CreateSessionIn, description = "Optional; every field is optional."),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for 24 h when repeated with the same body.")),
    responses(
        (status = 200, description = "The new session, including `cancel_token`.", body = crate::schema::SessionEnvelope),
        (status = 400, description = "Invalid request or share contract.", body = crate::schema::ErrorEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ErrorEnvelope),
        (status = 403, description = "The key lacks `sessions:write`.", body = crate::schema::ErrorEnvelope),
        (status = 409, description = "`Idempotency-Key` reused with a different body.", body = crate::schema::ErrorEnvelope),
        (status = 500, description = "Internal server error.", body = crate::schema::ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require(Scope::SessionsWrite)?;
    let tenant = auth.tenant();
    let idempotency = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            // A non-ASCII value fails the same rule as an empty one.
            let key = value.to_str().unwrap_or_default();
            Some((
                IdempotencyKey::parse(key)?,
                RequestFingerprint::of("POST", "/v1/sessions", &body),
            ))
        }
    };
    let request: CreateSessionRequest = if body.is_empty() {
        CreateSessionRequest::default()
    } else {
        require_json_content_type(&headers)?;
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid_request(
                "Invalid request body: must be a JSON object.",
            ));
        }
        parse_json(&body)?
    };
    let spec = request.validate()?;
    let session = Session::create(&tenant, spec, state.clock.now());
    let body = serde_json::to_string(&Data::new(SessionOut::new(
        session.clone(),
        &state.public_url,
        true,
    )))
    .map_err(|e| ApiError::internal(&e))?;
    let record = idempotency.map(|(key, fingerprint)| NewIdempotencyRecord {
        key,
        fingerprint,
        response_body: body.clone(),
        created_at: session.created_at,
    });
    // The store checks and records the key in the same transaction as the insert, so two
    // concurrent requests with one key create one session and both get its response.
    let body = match state
        .store
        .create_session(&session, record.as_ref())
        .await
        .map_err(ApiError::from_session_store)?
    {
        CreateOutcome::Created => {
            metrics::counter!(SESSIONS_CREATED).increment(1);
            body
        }
        CreateOutcome::Replayed { response_body } => response_body,
    };
    Ok(json_response(StatusCode::OK, body))
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Query of `GET /v1/sessions` (seed 004); values are checked one by one so each error names its parameter.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsQuery {
    /// Filter sessions by status.
    #[param(value_type = Option<crate::schema::SessionStatusSchema>)]
    status: Option<String>,
    /// Return sessions created at or after this ISO 8601 timestamp.
    #[param(value_type = Option<String>, format = DateTime)]
    created_from: Option<String>,
    /// Return sessions created at or before this ISO 8601 timestamp.
    #[param(value_type = Option<String>, format = DateTime)]
    created_to: Option<String>,
    /// Maximum number of sessions to return. Defaults to 10 if not specified.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Cursor of the last item from the previous page. When provided, the next page of results will be returned.
    #[param(value_type = Option<String>, pattern = r"^vs_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// `GET /v1/sessions`.
#[utoipa::path(get, path = "/v1/sessions", tag = "Sessions", summary = "List all sessions", params(ListSessionsQuery),
    responses(
        (status = 200, description = "Successful operation. Returns a list of verification sessions for the organization.", body = crate::schema::SessionListEnvelope),
        (status = 400, description = "Invalid query parameter.", body = crate::schema::ListErrorEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ListErrorEnvelope),
        (status = 500, description = "Internal server error.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListSessionsQuery>,
) -> Result<Page<SessionOut>, ApiError> {
    auth.require(Scope::SessionsRead)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let filter = SessionFilter::from_query(
        query.status.as_deref(),
        query.created_from.as_deref(),
        query.created_to.as_deref(),
    )?;
    let starting_after = query
        .starting_after
        .as_deref()
        .map(parse_cursor)
        .transpose()?;
    let page = state
        .store
        .list_sessions(
            &auth.tenant(),
            &filter,
            &PageRequest {
                limit,
                starting_after,
            },
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_session_store)?;
    let items = page
        .items
        .into_iter()
        .map(|session| SessionOut::new(session, &state.public_url, false))
        .collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |session: &SessionOut| session.id.clone(),
    ))
}

fn parse_cursor(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::invalid_request("Invalid `starting_after`: must be a session ID (vs_ followed by 64 letters and digits)."))
}

/// A session id from the path: anything not matching `^vs_[A-Za-z0-9]{64}$` is
/// `400 INVALID_SESSION_ID`, never a 404.
fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::new(ErrorCode::InvalidSessionId))
}

/// `GET /v1/sessions/{id}`.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "Sessions", summary = "Get a session by ID",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to retrieve (e.g. vs_...).")),
    responses(
        (status = 200, description = "Successful operation.", body = crate::schema::SessionEnvelope),
        (status = 400, description = "Malformed session ID.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "Session not found.", body = crate::schema::ErrorEnvelope),
        (status = 500, description = "Internal server error.", body = crate::schema::ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<SessionOut>, ApiError> {
    auth.require(Scope::SessionsRead)?;
    let id = session_id(&id)?;
    let session = state
        .store
        .get_session(&auth.tenant(), &id, state.clock.now())
        .await
        .map_err(ApiError::from_session_store)?;
    Ok(Data::new(SessionOut::new(
        session,
        &state.public_url,
        false,
    )))
}

/// `POST /v1/sessions/{id}/cancel`.
#[utoipa::path(post, path = "/v1/sessions/{id}/cancel", tag = "Sessions", summary = "Cancel a session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to cancel (e.g. vs_...).")),
    responses(
        (status = 204, description = "Session cancelled."),
        (status = 400, description = "Malformed session ID.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "Session not found.", body = crate::schema::ErrorEnvelope),
        (status = 500, description = "Internal server error.", body = crate::schema::ErrorEnvelope)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::SessionsWrite)?;
    let id = session_id(&id)?;
    let now = state.clock.now();
    let session = state
        .store
        .cancel_session(&auth.tenant(), &id, now)
        .await
        .map_err(ApiError::from_session_store)?;
    // `now` is this call's instant: a session cancelled at it was cancelled by this call.
    if session.status == SessionStatus::Cancelled && session.completed_at == Some(now) {
        metrics::counter!(SESSIONS_CANCELLED).increment(1);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/sessions/{id}`.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "Sessions", summary = "Erase a terminal session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to erase.")),
    responses(
        (status = 204, description = "Session, attempts and event payloads erased."),
        (status = 400, description = "Malformed session ID.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "Session not found.", body = crate::schema::ErrorEnvelope),
        (status = 409, description = "The session is not terminal; cancel it first.", body = crate::schema::ErrorEnvelope)))]
pub async fn erase(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::SessionsWrite)?;
    let id = session_id(&id)?;
    state
        .store
        .erase_session(&auth.tenant(), &id, state.clock.now())
        .await
        .map_err(ApiError::from_session_store)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/sessions/{id}/attempts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAttemptsQuery {
    /// Maximum number of attempts to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last attempt of the previous page.
    #[param(value_type = Option<String>, pattern = r"^va_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// `GET /v1/sessions/{id}/attempts`.
#[utoipa::path(get, path = "/v1/sessions/{id}/attempts", tag = "Sessions", summary = "List the attempts of a session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session."), ListAttemptsQuery),
    responses(
        (status = 200, description = "Attempts, oldest first.", body = crate::schema::AttemptListEnvelope),
        (status = 400, description = "Malformed session ID or query.", body = crate::schema::ListErrorEnvelope),
        (status = 404, description = "Session not found.", body = crate::schema::ListErrorEnvelope)))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListAttemptsQuery>,
) -> Result<Page<AttemptOut>, ApiError> {
    auth.require(Scope::SessionsRead)?;
    let id = session_id(&id)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = query
        .starting_after
        .as_deref()
        .map(|raw| {
            idgate_core::AttemptId::parse(raw)
                .map_err(|_| ApiError::invalid_request("Invalid `starting_after`: must be an attempt ID (va_ followed by 64 letters and digits)."))
        })
        .transpose()?;
    let page = state
        .store
        .list_attempts(
            &auth.tenant(),
            &id,
            &PageRequest {
                limit,
                starting_after,
            },
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_session_store)?;
    let items: Vec<AttemptOut> = page.items.iter().map(AttemptOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |attempt: &AttemptOut| attempt.id.clone(),
    ))
}
