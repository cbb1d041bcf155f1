//! Row shapes shared by both backends and their conversion into domain types. Columns are
//! portable: ids and enums as `TEXT`, times as `BIGINT` unix milliseconds, JSON as `TEXT`.

use idgate_core::{
    ApiKey, ApiKeyId, Attempt, AttemptId, AttemptPhase, AttemptStatus, Delivery, DeliveryAttempt,
    DeliveryId, DeliveryStatus, DisabledReason, EncryptionKey, EncryptionKeyId, EndpointId,
    Environment, Event, EventId, EventType, FailureCode, Metadata, OrgId, Organization,
    PreviousSecret, Scopes, SealedSecret, Secret, Session, SessionId, SessionStatus, ShareFields,
    Subscription, Timestamp, WebhookEndpoint, WebhookTarget,
};

use crate::StoreError;

pub(crate) fn ts(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_ms(ms).ok_or(StoreError::Corrupt("timestamp out of range"))
}

fn opt_ts(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(ts).transpose()
}

fn env(s: &str) -> Result<Environment, StoreError> {
    Environment::parse(s).ok_or(StoreError::Corrupt("environment"))
}

fn failure(s: Option<&str>) -> Result<Option<FailureCode>, StoreError> {
    s.map(|s| FailureCode::parse(s).ok_or(StoreError::Corrupt("failure_code")))
        .transpose()
}

fn tries(n: i64) -> Result<u8, StoreError> {
    u8::try_from(n).map_err(|_| StoreError::Corrupt("tries"))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl OrganizationRow {
    pub fn into_domain(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: OrgId::parse(&self.id).map_err(|_| StoreError::Corrupt("organization id"))?,
            name: self.name,
            created_at: ts(self.created_at)?,
        })
    }
}

pub(crate) const API_KEY_COLUMNS: &str = "id, org_id, name, environment, scopes, enabled, key_prefix, created_at, updated_at, last_used_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub environment: String,
    pub scopes: String,
    pub enabled: bool,
    pub key_prefix: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

impl ApiKeyRow {
    pub fn into_domain(self) -> Result<ApiKey, StoreError> {
        let scopes: Scopes =
            serde_json::from_str(&self.scopes).map_err(|_| StoreError::Corrupt("scopes"))?;
        Ok(ApiKey {
            id: ApiKeyId::parse(&self.id).map_err(|_| StoreError::Corrupt("api key id"))?,
            org_id: OrgId::parse(&self.org_id)
                .map_err(|_| StoreError::Corrupt("organization id"))?,
            name: self.name,
            environment: env(&self.environment)?,
            scopes,
            enabled: self.enabled,
            key_prefix: self.key_prefix,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            last_used_at: opt_ts(self.last_used_at)?,
        })
    }
}

pub(crate) fn scopes_json(scopes: &Scopes) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) const SESSION_COLUMNS: &str = "id, org_id, environment, status, failure_code, nfc_tries_used, \
     liveness_tries_used, contract_version, share_fields, redirect_url, webhook_endpoint_id, metadata, \
     cancel_token, expires_at, completed_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub org_id: String,
    pub environment: String,
    pub status: String,
    pub failure_code: Option<String>,
    pub nfc_tries_used: i64,
    pub liveness_tries_used: i64,
    pub contract_version: i64,
    pub share_fields: String,
    pub redirect_url: Option<String>,
    pub webhook_endpoint_id: String,
    pub metadata: String,
    pub cancel_token: String,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SessionRow {
    pub fn into_domain(self) -> Result<Session, StoreError> {
        let share_fields: ShareFields = serde_json::from_str(&self.share_fields)
            .map_err(|_| StoreError::Corrupt("share_fields"))?;
        let metadata: Metadata =
            serde_json::from_str(&self.metadata).map_err(|_| StoreError::Corrupt("metadata"))?;
        let target_json: serde_json::Value = serde_json::from_str(&self.webhook_endpoint_id)
            .map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))?;
        Ok(Session {
            id: SessionId::parse(&self.id).map_err(|_| StoreError::Corrupt("session id"))?,
            org_id: OrgId::parse(&self.org_id)
                .map_err(|_| StoreError::Corrupt("organization id"))?,
            environment: env(&self.environment)?,
            status: SessionStatus::parse(&self.status)
                .ok_or(StoreError::Corrupt("session status"))?,
            failure_code: failure(self.failure_code.as_deref())?,
            nfc_tries_used: tries(self.nfc_tries_used)?,
            liveness_tries_used: tries(self.liveness_tries_used)?,
            contract_version: u32::try_from(self.contract_version)
                .map_err(|_| StoreError::Corrupt("contract_version"))?,
            share_fields,
            redirect_url: self.redirect_url,
            webhook_endpoint_id: WebhookTarget::from_json(&target_json)
                .map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))?,
            metadata,
            cancel_token: Secret::new(self.cancel_token),
            expires_at: ts(self.expires_at)?,
            completed_at: opt_ts(self.completed_at)?,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

pub(crate) const ATTEMPT_COLUMNS: &str =
    "id, session_id, status, failure_code, phase, checks, created_at, updated_at, completed_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub id: String,
    pub session_id: String,
    pub status: String,
    pub failure_code: Option<String>,
    pub phase: String,
    pub checks: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

impl AttemptRow {
    pub fn into_domain(self) -> Result<Attempt, StoreError> {
        Ok(Attempt {
            id: AttemptId::parse(&self.id).map_err(|_| StoreError::Corrupt("attempt id"))?,
            session_id: SessionId::parse(&self.session_id)
                .map_err(|_| StoreError::Corrupt("session id"))?,
            status: AttemptStatus::parse(&self.status)
                .ok_or(StoreError::Corrupt("attempt status"))?,
            failure_code: failure(self.failure_code.as_deref())?,
            phase: AttemptPhase::parse(&self.phase).ok_or(StoreError::Corrupt("attempt phase"))?,
            checks: serde_json::from_str(&self.checks)
                .map_err(|_| StoreError::Corrupt("attempt checks"))?,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            completed_at: opt_ts(self.completed_at)?,
        })
    }
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, org_id, environment, session_id, attempt_id, type, created_at, data";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: String,
    pub org_id: String,
    pub environment: String,
    pub session_id: String,
    pub attempt_id: Option<String>,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub created_at: i64,
    pub data: String,
}

impl EventRow {
    pub fn into_domain(self) -> Result<Event, StoreError> {
        Ok(Event {
            id: EventId::parse(&self.id).map_err(|_| StoreError::Corrupt("event id"))?,
            org_id: OrgId::parse(&self.org_id)
                .map_err(|_| StoreError::Corrupt("organization id"))?,
            environment: env(&self.environment)?,
            session_id: SessionId::parse(&self.session_id)
                .map_err(|_| StoreError::Corrupt("session id"))?,
            attempt_id: self
                .attempt_id
                .map(|a| AttemptId::parse(&a).map_err(|_| StoreError::Corrupt("attempt id")))
                .transpose()?,
            event_type: EventType::parse(&self.event_type)
                .ok_or(StoreError::Corrupt("event type"))?,
            created_at: ts(self.created_at)?,
            data: serde_json::from_str(&self.data)
                .map_err(|_| StoreError::Corrupt("event data"))?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    pub fingerprint: String,
    pub response_body: String,
    pub created_at: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CursorRow {
    pub created_at: i64,
    pub id: String,
}

fn org(s: &str) -> Result<OrgId, StoreError> {
    OrgId::parse(s).map_err(|_| StoreError::Corrupt("organization id"))
}

pub(crate) const ENDPOINT_COLUMNS: &str = "id, org_id, environment, url, description, enabled, \
     subscribed_event_types, secret_sealed, previous_secret_sealed, previous_secret_expires_at, \
     failing_since, disabled_reason, disabled_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EndpointRow {
    pub id: String,
    pub org_id: String,
    pub environment: String,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub subscribed_event_types: String,
    pub secret_sealed: String,
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EndpointRow {
    pub fn into_domain(self) -> Result<WebhookEndpoint, StoreError> {
        let previous_secret = match (self.previous_secret_sealed, self.previous_secret_expires_at) {
            (Some(sealed), Some(expires)) => Some(PreviousSecret {
                sealed: SealedSecret::new(sealed),
                expires_at: ts(expires)?,
            }),
            _ => None,
        };
        Ok(WebhookEndpoint {
            id: EndpointId::parse(&self.id).map_err(|_| StoreError::Corrupt("endpoint id"))?,
            org_id: org(&self.org_id)?,
            environment: env(&self.environment)?,
            url: self.url,
            description: self.description,
            enabled: self.enabled,
            subscription: Subscription::from_stored(&self.subscribed_event_types)
                .ok_or(StoreError::Corrupt("subscribed_event_types"))?,
            secret_sealed: SealedSecret::new(self.secret_sealed),
            previous_secret,
            failing_since: opt_ts(self.failing_since)?,
            disabled_reason: self
                .disabled_reason
                .map(|r| DisabledReason::parse(&r).ok_or(StoreError::Corrupt("disabled_reason")))
                .transpose()?,
            disabled_at: opt_ts(self.disabled_at)?,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

pub(crate) const KEY_COLUMNS: &str =
    "id, endpoint_id, org_id, kid, jwk, bits, active, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub kid: Option<String>,
    pub jwk: String,
    pub bits: i64,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl KeyRow {
    pub fn into_domain(self) -> Result<EncryptionKey, StoreError> {
        Ok(EncryptionKey {
            id: EncryptionKeyId::parse(&self.id).map_err(|_| StoreError::Corrupt("key id"))?,
            endpoint_id: EndpointId::parse(&self.endpoint_id)
                .map_err(|_| StoreError::Corrupt("endpoint id"))?,
            org_id: org(&self.org_id)?,
            kid: self.kid,
            jwk: serde_json::from_str(&self.jwk).map_err(|_| StoreError::Corrupt("jwk"))?,
            bits: u32::try_from(self.bits).map_err(|_| StoreError::Corrupt("bits"))?,
            active: self.active,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
        })
    }
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, org_id, environment, event_id, endpoint_id, session_id, \
     status, attempt_count, next_attempt_at, last_error, created_at, updated_at, completed_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub org_id: String,
    pub environment: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub session_id: String,
    pub status: String,
    pub attempt_count: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

impl DeliveryRow {
    /// The delivery without its attempts (the caller attaches them).
    pub fn into_domain(self) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            id: DeliveryId::parse(&self.id).map_err(|_| StoreError::Corrupt("delivery id"))?,
            org_id: org(&self.org_id)?,
            environment: env(&self.environment)?,
            event_id: EventId::parse(&self.event_id)
                .map_err(|_| StoreError::Corrupt("event id"))?,
            endpoint_id: EndpointId::parse(&self.endpoint_id)
                .map_err(|_| StoreError::Corrupt("endpoint id"))?,
            session_id: SessionId::parse(&self.session_id)
                .map_err(|_| StoreError::Corrupt("session id"))?,
            status: DeliveryStatus::parse(&self.status)
                .ok_or(StoreError::Corrupt("delivery status"))?,
            attempt_count: u32::try_from(self.attempt_count)
                .map_err(|_| StoreError::Corrupt("attempt_count"))?,
            next_attempt_at: opt_ts(self.next_attempt_at)?,
            last_error: self.last_error,
            created_at: ts(self.created_at)?,
            updated_at: ts(self.updated_at)?,
            completed_at: opt_ts(self.completed_at)?,
            attempts: Vec::new(),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRecordRow {
    pub delivery_id: String,
    pub attempt: i64,
    pub started_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
}

impl AttemptRecordRow {
    pub fn into_domain(self) -> Result<DeliveryAttempt, StoreError> {
        Ok(DeliveryAttempt {
            attempt: u32::try_from(self.attempt).map_err(|_| StoreError::Corrupt("attempt"))?,
            started_at: ts(self.started_at)?,
            status_code: self
                .status_code
                .map(|c| u16::try_from(c).map_err(|_| StoreError::Corrupt("status_code")))
                .transpose()?,
            latency_ms: u64::try_from(self.latency_ms)
                .map_err(|_| StoreError::Corrupt("latency_ms"))?,
            response_body: self.response_body,
            error_kind: self.error_kind,
        })
    }
}
