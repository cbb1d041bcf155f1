//! `/v1/sessions…`: create, list, get, cancel, erase and list attempts (docs/api.md "Sessions",
//! seeds 000, 002, 004).
//!
//! Handlers parse and authorize, call the domain (idgate-core) and the store, and let
//! [`ApiError`] map every failure; no session rule is decided here.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idgate_core::{
    Attempt, AttemptId, AttemptPhase, AttemptStatus, CreateSessionRequest, ErrorCode, FailureCode,
    IdempotencyKey, Limit, Metadata, PageRequest, RequestFingerprint, Scope, Session,
    SessionFilter, SessionId, SessionStatus, ShareFields, Timestamp, WebhookTarget,
};
use idgate_store::{CreateOutcome, NewIdempotencyRecord};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::{ApiQuery, parse_json, require_json_content_type};
use crate::openapi::{nullable_string_enum, string_enum};
use crate::routes::cursor;
use crate::state::AppState;
use crate::telemetry::{SESSIONS_CANCELLED, SESSIONS_CREATED};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, erase))
        .routes(routes!(cancel))
        .routes(routes!(attempts))
}

// ---- wire types ------------------------------------------------------------------------------

/// A verification session (seed 002 fields, plus `metadata`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionOut {
    /// The ID of the verification session.
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[schema(schema_with = session_status_schema)]
    pub status: SessionStatus,
    #[schema(schema_with = failure_code_schema, required = true)]
    pub failure_code: Option<FailureCode>,
    /// Number of NFC chip-read failures the session has consumed. The session terminalizes on the 3rd failure.
    #[schema(minimum = 0, maximum = 3)]
    pub nfc_tries_used: u8,
    /// Number of liveness check failures the session has consumed. The session terminalizes on the 3rd failure.
    #[schema(minimum = 0, maximum = 3)]
    pub liveness_tries_used: u8,
    /// Version of the session share contract.
    pub contract_version: u32,
    /// Effective normalized share fields used by this session.
    #[schema(schema_with = share_fields_schema)]
    pub share_fields: ShareFields,
    /// The URL to redirect to after the verification session is completed, if provided by the integrator.
    #[schema(required = true)]
    pub redirect_url: Option<String>,
    #[schema(schema_with = webhook_target_schema, required = true)]
    pub webhook_endpoint_id: WebhookTarget,
    /// The URL that the platform should send the user to in order to complete the verification.
    /// Includes the one-shot `cancel_token` as a query parameter.
    pub verification_url: String,
    /// One-shot token the hosted page passes back when the person cancels. Returned only on session creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_token: Option<String>,
    /// Integrator data: up to 20 string keys to string values.
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    /// The expiration time of the verification session.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// The time the session reached a terminal state, or null if not yet terminal.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<Timestamp>,
    /// The time the verification session was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The time the verification session was last updated.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl SessionOut {
    /// `with_cancel_token` only for the create response (docs/api.md "Create"). Takes the session by value:
    /// its share contract and metadata move into the response instead of being copied.
    pub fn new(session: Session, public_url: &str, with_cancel_token: bool) -> Self {
        let token = session.cancel_token.expose();
        Self {
            id: session.id.to_string(),
            status: session.status,
            failure_code: session.failure_code,
            nfc_tries_used: session.nfc_tries_used,
            liveness_tries_used: session.liveness_tries_used,
            contract_version: session.contract_version,
            verification_url: format!("{public_url}/verify/{}?cancel_token={token}", session.id),
            cancel_token: with_cancel_token.then(|| token.clone()),
            share_fields: session.share_fields,
            redirect_url: session.redirect_url,
            webhook_endpoint_id: session.webhook_endpoint_id,
            metadata: session.metadata,
            expires_at: session.expires_at,
            completed_at: session.completed_at,
            created_at: session.created_at,
            updated_at: session.updated_at,
        }
    }
}

/// One end-user try inside a session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptOut {
    #[schema(pattern = r"^va_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub session_id: String,
    #[schema(schema_with = attempt_status_schema)]
    pub status: AttemptStatus,
    #[schema(schema_with = failure_code_schema, required = true)]
    pub failure_code: Option<FailureCode>,
    #[schema(schema_with = attempt_phase_schema)]
    pub phase: AttemptPhase,
    /// The result of every check run so far (`document`, `face`, `chip_read`): status, reason,
    /// algorithms, the document signer's subject and country. Never personal data.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<Timestamp>,
}

impl From<&Attempt> for AttemptOut {
    fn from(a: &Attempt) -> Self {
        Self {
            id: a.id.to_string(),
            session_id: a.session_id.to_string(),
            status: a.status,
            failure_code: a.failure_code,
            phase: a.phase,
            checks: a.checks.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            completed_at: a.completed_at,
        }
    }
}

/// Body of `POST /v1/sessions`: idgate-core's request, which reads each field as raw JSON so
/// every rule answers with its own message; its schema is written here, next to the handler.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct CreateSessionBody(CreateSessionRequest);

impl ToSchema for CreateSessionBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateSession")
    }
}

impl PartialSchema for CreateSessionBody {
    fn schema() -> RefOr<Schema> {
        use idgate_core::create::{EXPIRES_IN_RANGE, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS};
        let metadata = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .max_properties(Some(MAX_METADATA_KEYS))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(idgate_core::create::MAX_METADATA_KEY_CHARS)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_METADATA_VALUE_CHARS)),
            ))
            .description(Some(
                "Up to 20 keys of 1 to 40 characters to string values of at most 500 characters.",
            ));
        ObjectBuilder::new()
            .description(Some("Every field is optional."))
            .property("redirect_url", crate::openapi::redirect_url_schema())
            .property("share_fields", share_fields_request_schema())
            .property("webhook_endpoint_id", webhook_target_schema())
            .property(
                "expires_in",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                    .minimum(Some(*EXPIRES_IN_RANGE.start()))
                    .maximum(Some(*EXPIRES_IN_RANGE.end()))
                    .description(Some("Seconds until `expires_at`; default 3600.")),
            )
            .property("metadata", metadata)
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
            .into()
    }
}

fn session_status_schema() -> Schema {
    string_enum(
        SessionStatus::ALL.iter().map(|s| s.as_str()),
        "The status of the verification session.",
    )
}

fn failure_code_schema() -> Schema {
    nullable_string_enum(
        FailureCode::ALL.iter().map(|c| c.as_str()),
        "Terminal failure code when status='failed'. Null in any other state.",
    )
}

fn attempt_status_schema() -> Schema {
    string_enum(
        AttemptStatus::ALL.iter().map(|s| s.as_str()),
        "Status of an attempt.",
    )
}

fn attempt_phase_schema() -> Schema {
    string_enum(
        AttemptPhase::ALL.iter().map(|p| p.as_str()),
        "Where an attempt is in the end-user flow.",
    )
}

/// The effective contract: claim key → `{required, reason, source}`.
fn share_fields_schema() -> Schema {
    let entry = ObjectBuilder::new()
        .property(
            "required",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("Whether this field must always be shared.")),
        )
        .required("required")
        .property(
            "reason",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Reason shown to the user for this field.")),
        )
        .required("reason")
        .property(
            "source",
            string_enum(
                ["default", "rc"],
                "Whether the field came from defaults or the integrator's request.",
            ),
        )
        .required("source");
    Schema::Object(
        ObjectBuilder::new()
            .additional_properties(Some(entry))
            .description(Some(
                "Effective normalized share fields used by this session.",
            ))
            .build(),
    )
}

/// The requested contract: claim key → `{required, reason}` (docs/api.md "Share contract").
fn share_fields_request_schema() -> Schema {
    use idgate_core::share::{MAX_REASON_CHARS, MAX_SHARE_FIELDS, STATIC_CLAIMS};
    let entry = ObjectBuilder::new()
        .property("required", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("required")
        .property(
            "reason",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"\S"))
                .max_length(Some(MAX_REASON_CHARS))
                .description(Some(
                    "1 to 200 characters once trimmed and inner whitespace collapsed.",
                )),
        )
        .required("reason")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
    let claims: Vec<&str> = STATIC_CLAIMS.iter().map(|(key, _)| *key).collect();
    Schema::Object(
        ObjectBuilder::new()
            .max_properties(Some(MAX_SHARE_FIELDS))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!(
                        "^(?:{}|age_over_(?:1[2-9]|[2-9][0-9]|1[0-2][0-9]|130))$",
                        claims.join("|")
                    ))),
            ))
            .additional_properties(Some(entry))
            .description(Some(
                "Map of claim key to `{required, reason}`; omitted means the default contract. \
                 At most one age gate (`age_over_<N>`, N in 12..130), never together with `date_of_birth`.",
            ))
            .build(),
    )
}

/// `webhook_endpoint_id`: one endpoint, a list of 1–16 distinct endpoints, or null.
fn webhook_target_schema() -> Schema {
    let id = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^whe_[A-Za-z0-9]{64}$"))
    };
    Schema::OneOf(
        OneOfBuilder::new()
            .item(id())
            .item(
                ArrayBuilder::new()
                    .items(id())
                    .min_items(Some(1))
                    .max_items(Some(idgate_core::create::MAX_WEBHOOK_ENDPOINTS))
                    .unique_items(true),
            )
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "The webhook endpoint or endpoint list selected for this session, or null when events fan out to all enabled subscribed endpoints.",
            ))
            .build(),
    )
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /v1/sessions`.
#[utoipa::path(post, path = "/v1/sessions", operation_id = "createSession", tag = "Sessions", summary = "Create a session",
    request_body(content = Option<CreateSessionBody>, description = "Optional; every field is optional."),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
        description = "Replays the first response for 24 h when repeated with the same body.")),
    responses(
        (status = 200, description = "The new session, including `cancel_token`.", body = Data<SessionOut>),
        (status = 400, description = "Invalid request or share contract, or a named webhook endpoint that does not exist."),
        (status = 409, description = "`Idempotency-Key` reused with a different body.")))]
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
        parse_json::<CreateSessionBody>(&body)?.0
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
        .map_err(|e| ApiError::from_store(e, Resource::Session))?
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
    #[param(schema_with = session_status_schema)]
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
    /// A well-formed ID that names no session of this list is `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^vs_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// `GET /v1/sessions`.
#[utoipa::path(get, path = "/v1/sessions", operation_id = "listSessions", tag = "Sessions", summary = "List all sessions", params(ListSessionsQuery),
    responses(
        (status = 200, description = "Successful operation. Returns a list of verification sessions for the organization.", body = Page<SessionOut>),
        (status = 404, description = "`starting_after` names no session of this list.")))]
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
    let starting_after = cursor(
        query.starting_after.as_deref(),
        SessionId::parse,
        "a session ID (vs_ followed by 64 letters and digits)",
    )?;
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
        .map_err(|e| ApiError::from_store(e, Resource::Session))?;
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

/// A session id from the path: anything not matching `^vs_[A-Za-z0-9]{64}$` is
/// `400 INVALID_SESSION_ID`, never a 404.
/// The `{id}` of a session route: `400 INVALID_SESSION_ID` unless it has the id's shape.
pub(crate) fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::new(ErrorCode::InvalidSessionId))
}

/// `GET /v1/sessions/{id}`.
#[utoipa::path(get, path = "/v1/sessions/{id}", operation_id = "getSession", tag = "Sessions", summary = "Get a session by ID",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to retrieve (e.g. vs_...).")),
    responses(
        (status = 200, description = "Successful operation.", body = Data<SessionOut>),
        (status = 400, description = "Malformed session ID."),
        (status = 404, description = "Session not found.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Session))?;
    Ok(Data::new(SessionOut::new(
        session,
        &state.public_url,
        false,
    )))
}

/// `POST /v1/sessions/{id}/cancel`.
#[utoipa::path(post, path = "/v1/sessions/{id}/cancel", operation_id = "cancelSession", tag = "Sessions", summary = "Cancel a session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to cancel (e.g. vs_...).")),
    responses(
        (status = 204, description = "Session cancelled."),
        (status = 400, description = "Malformed session ID."),
        (status = 404, description = "Session not found.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Session))?;
    // `now` is this call's instant: a session cancelled at it was cancelled by this call.
    if session.status == SessionStatus::Cancelled && session.completed_at == Some(now) {
        metrics::counter!(SESSIONS_CANCELLED).increment(1);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/sessions/{id}`.
#[utoipa::path(delete, path = "/v1/sessions/{id}", operation_id = "eraseSession", tag = "Sessions", summary = "Erase a terminal session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session to erase.")),
    responses(
        (status = 204, description = "Session, attempts and event payloads erased."),
        (status = 400, description = "Malformed session ID."),
        (status = 404, description = "Session not found."),
        (status = 409, description = "The session is not terminal; cancel it first.")))]
pub async fn erase(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::SessionsWrite)?;
    let id = session_id(&id)?;
    let on_wire = state
        .store
        .erase_session(&auth.tenant(), &id, state.clock.now())
        .await
        .map_err(|e| ApiError::from_store(e, Resource::Session))?;
    // Requests about the session already on the wire cannot be recalled: answer once they ended,
    // so nothing about it arrives anywhere after this response (docs/api.md "Erase").
    crate::delivery::wait_for_sends(&state, &on_wire).await;
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
    /// ID of the last attempt of the previous page; one that names no attempt of this session
    /// is `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^va_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// `GET /v1/sessions/{id}/attempts`.
#[utoipa::path(get, path = "/v1/sessions/{id}/attempts", operation_id = "listAttempts", tag = "Sessions", summary = "List the attempts of a session",
    params(("id" = String, Path, pattern = r"^vs_[A-Za-z0-9]{64}$", description = "The ID of the verification session."), ListAttemptsQuery),
    responses(
        (status = 200, description = "Attempts, oldest first.", body = Page<AttemptOut>),
        (status = 400, description = "Malformed session ID or query."),
        (status = 404, description = "Session not found, or `starting_after` names no attempt of it.")))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListAttemptsQuery>,
) -> Result<Page<AttemptOut>, ApiError> {
    auth.require(Scope::SessionsRead)?;
    let id = session_id(&id)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        AttemptId::parse,
        "an attempt ID (va_ followed by 64 letters and digits)",
    )?;
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
        .map_err(|e| ApiError::from_store(e, Resource::Session))?;
    let items: Vec<AttemptOut> = page.items.iter().map(AttemptOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |attempt: &AttemptOut| attempt.id.clone(),
    ))
}
