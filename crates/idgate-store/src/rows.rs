//! Row shapes shared by both backends and their conversion into domain types. Columns are
//! portable: ids and enums as `TEXT`, times as `BIGINT` unix milliseconds, JSON as `TEXT`.

use idgate_core::{
    ApiKey, ApiKeyId, Attempt, AttemptId, AttemptPhase, AttemptStatus, Environment, Event, EventId,
    EventType, FailureCode, Metadata, OrgId, Organization, Scopes, Secret, Session, SessionId,
    SessionStatus, ShareFields, Timestamp, WebhookTarget,
};

use crate::StoreError;

fn ts(ms: i64) -> Result<Timestamp, StoreError> {
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
    "id, session_id, status, failure_code, phase, created_at, updated_at, completed_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub id: String,
    pub session_id: String,
    pub status: String,
    pub failure_code: Option<String>,
    pub phase: String,
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
