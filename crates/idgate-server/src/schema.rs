//! Wire types of the integrator API with their OpenAPI schemas (utoipa), so `/openapi.json` is
//! generated from the very structs that are serialised. Domain values (statuses, share fields,
//! timestamps) keep their idgate-core serialisation; the `value_type`s here only describe it.

use std::collections::BTreeMap;

use idgate_core::{
    ApiKey, Attempt, AttemptPhase, AttemptStatus, Environment, FailureCode, Metadata, Scopes,
    Session, SessionStatus, ShareFields, Timestamp, WebhookTarget,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::envelope::Pagination;

/// The status of the verification session.
#[derive(ToSchema)]
#[schema(as = SessionStatus)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatusSchema {
    Created,
    InProgress,
    Succeeded,
    Failed,
    Expired,
    Cancelled,
}

/// Terminal failure code when status='failed'. Null in any other state.
#[derive(ToSchema)]
#[schema(as = FailureCode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum FailureCodeSchema {
    DocumentAuthenticityFailed,
    DocumentActiveAuthenticationFailed,
    DocumentChipAuthenticationFailed,
    DocumentAntiCloningAttestationFailed,
    DocumentDataInvalid,
    LivenessFailed,
    SelfieFaceMismatch,
}

/// Status of an attempt.
#[derive(ToSchema)]
#[schema(as = AttemptStatus)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatusSchema {
    InProgress,
    Succeeded,
    Failed,
    Cancelled,
}

/// Where an attempt is in the end-user flow.
#[derive(ToSchema)]
#[schema(as = AttemptPhase)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum AttemptPhaseSchema {
    Handoff,
    Document,
    Liveness,
    Consent,
    Done,
}

/// Whether this field came from defaults or the integrator's request.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum ShareSourceSchema {
    Default,
    Rc,
}

/// One entry of the effective share contract.
#[derive(ToSchema)]
#[schema(as = ShareField)]
#[allow(dead_code)]
pub struct ShareFieldSchema {
    /// Whether this field must always be shared.
    required: bool,
    /// Reason shown to the user for this field.
    reason: String,
    /// Whether the field came from defaults or RC request.
    source: ShareSourceSchema,
}

fn webhook_endpoint_schema() -> Schema {
    let string = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^whe_[A-Za-z0-9]{64}$"))
    };
    Schema::OneOf(
        OneOfBuilder::new()
            .item(string())
            .item(ArrayBuilder::new().items(string()).min_items(Some(1)).max_items(Some(16)))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "The webhook endpoint or endpoint list selected for this session, or null when events fan out to all enabled subscribed endpoints.",
            ))
            .build(),
    )
}

fn null_schema() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build())
}

/// A verification session (seed 002 fields, plus `metadata`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionOut {
    /// The ID of the verification session.
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[schema(value_type = SessionStatusSchema)]
    pub status: SessionStatus,
    #[schema(value_type = Option<FailureCodeSchema>, required = true)]
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
    #[schema(value_type = BTreeMap<String, ShareFieldSchema>)]
    pub share_fields: ShareFields,
    /// The URL to redirect to after the verification session is completed, if provided by the integrator.
    #[schema(required = true)]
    pub redirect_url: Option<String>,
    #[schema(schema_with = webhook_endpoint_schema)]
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
    /// `with_cancel_token` only for the create response (api.md). Takes the session by value:
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
    #[schema(value_type = AttemptStatusSchema)]
    pub status: AttemptStatus,
    #[schema(value_type = Option<FailureCodeSchema>, required = true)]
    pub failure_code: Option<FailureCode>,
    #[schema(value_type = AttemptPhaseSchema)]
    pub phase: AttemptPhase,
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
            created_at: a.created_at,
            updated_at: a.updated_at,
            completed_at: a.completed_at,
        }
    }
}

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyOut {
    pub id: String,
    pub name: String,
    /// `live` or `test`; test keys see only test-mode objects.
    #[schema(value_type = String, pattern = "^(live|test)$")]
    pub environment: Environment,
    /// Granted scopes.
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    pub enabled: bool,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
}

impl From<&ApiKey> for ApiKeyOut {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            environment: k.environment,
            scopes: k.scopes.clone(),
            enabled: k.enabled,
            key_prefix: k.key_prefix.clone(),
            created_at: k.created_at,
            updated_at: k.updated_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A newly created API key: the only response that ever contains `key`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyCreated)]
pub struct ApiKeyCreatedOut {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The secret key (`kk_live_…` or `kk_test_…`). Shown once; store it now.
    pub key: String,
}

/// Body of `POST /v1/sessions` (documentation of the accepted JSON; parsing is idgate-core's).
#[derive(ToSchema)]
#[schema(as = CreateSession)]
#[allow(dead_code)]
pub struct CreateSessionIn {
    /// Absolute https URL (or http to localhost/loopback), at most 2048 characters.
    redirect_url: Option<String>,
    /// Map claim key → {required, reason}.
    share_fields: Option<BTreeMap<String, ShareFieldInSchema>>,
    #[schema(schema_with = webhook_endpoint_schema)]
    webhook_endpoint_id: Option<String>,
    /// Seconds until `expires_at`, 300..86400, default 3600.
    #[schema(minimum = 300, maximum = 86400)]
    expires_in: Option<u32>,
    /// Up to 20 string keys (≤ 40 chars) to string values (≤ 500 chars).
    metadata: Option<BTreeMap<String, String>>,
}

/// A requested share-contract entry.
#[derive(ToSchema)]
#[schema(as = ShareFieldRequest)]
#[allow(dead_code)]
pub struct ShareFieldInSchema {
    required: bool,
    /// 1..200 characters after trimming.
    reason: String,
}

/// The error object.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorObject {
    /// The error code.
    code: String,
    /// The error message.
    message: String,
    /// A hint to help the user fix the error.
    hint: String,
    /// A link to the documentation for the error.
    docs: String,
}

/// `{"data": null, "error": {…}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    #[schema(schema_with = null_schema)]
    data: (),
    error: ErrorObject,
}

/// An error of a list endpoint: pagination carries the effective limit.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListErrorEnvelope {
    #[schema(schema_with = null_schema)]
    data: (),
    error: ErrorObject,
    pagination: Pagination,
}

macro_rules! envelope_schema {
    ($name:ident, $data:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: $data,
            #[schema(schema_with = null_schema)]
            error: (),
        }
    };
    ($name:ident, $data:ty, $doc:literal, paginated) => {
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: Vec<$data>,
            #[schema(schema_with = null_schema)]
            error: (),
            pagination: Pagination,
        }
    };
}

envelope_schema!(SessionEnvelope, SessionOut, "One session.");
envelope_schema!(
    SessionListEnvelope,
    SessionOut,
    "A page of sessions, newest first.",
    paginated
);
envelope_schema!(
    AttemptListEnvelope,
    AttemptOut,
    "A page of attempts, oldest first.",
    paginated
);
envelope_schema!(ApiKeyEnvelope, ApiKeyOut, "One API key.");
envelope_schema!(
    ApiKeyCreatedEnvelope,
    ApiKeyCreatedOut,
    "A new API key with its secret."
);
envelope_schema!(
    ApiKeyListEnvelope,
    ApiKeyOut,
    "A page of API keys.",
    paginated
);
