//! Persistence of the webhook management API (docs/webhooks.md "Management API"): endpoints with
//! their sealed signing secrets, encryption keys (one active per endpoint), and the tenant's
//! view of events and deliveries (list, get, replay, retry).
//!
//! The delivery worker's side of the same tables (claiming with leases, recording attempts) is
//! `deliveries.rs`. Every method here is scoped by `Tenant` (organization and environment):
//! another tenant's objects answer `NotFound`, exactly like ids that were never issued.
//!
//! Activating a key (upload or reactivate) moves the endpoint's `blocked_no_key` deliveries to
//! `pending`, due at once, in the same transaction, so a delivery can never stay blocked while
//! its endpoint has an active key; callers ring the delivery wake-up after it commits.

use std::future::Future;

use idgate_core::{
    Delivery, DeliveryAttempt, DeliveryFilter, DeliveryId, DeliveryStatus, DisabledReason,
    EncryptionKey, EncryptionKeyId, EndpointId, EndpointPatch, Environment, Event, EventFilter,
    EventId, OrgId, Page, PageRequest, PreviousSecret, SealedSecret, SessionId, Subscription,
    Tenant, Timestamp, WebhookEndpoint,
};

use crate::{AnyStore, StoreError, StoreResult};

/// What activating a key changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyActivation {
    /// The key as stored after the change.
    pub key: EncryptionKey,
    /// Deliveries that waited for a key and are now pending (ring the wake-up when non-zero).
    pub unblocked: u64,
}

/// Outcome of [`WebhookStore::replay_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// New deliveries, one per endpoint that receives the event now (possibly none).
    Replayed(Vec<Delivery>),
    /// The event's payload was erased with its session or purged after retention.
    PayloadGone,
}

/// Outcome of [`WebhookStore::retry_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The delivery is pending and due now.
    Retried(Box<Delivery>),
    /// The delivery is in a state that cannot be retried (see [`DeliveryStatus::is_retryable`]).
    NotRetryable(DeliveryStatus),
    /// Its event's payload was erased or purged: there is nothing left to send.
    PayloadGone,
}

/// The tenant-facing webhook operations. Each method is one transaction or one statement.
pub trait WebhookStore: Send + Sync {
    // ---- endpoints -----------------------------------------------------------------------

    /// Inserts a new endpoint (built by [`WebhookEndpoint::new`], secret already sealed).
    fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
    ) -> impl Future<Output = StoreResult<WebhookEndpoint>> + Send;
    /// Newest first, keyset-paginated on `(created_at DESC, id DESC)`.
    fn list_endpoints(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EndpointId>,
    ) -> impl Future<Output = StoreResult<Page<WebhookEndpoint>>> + Send;
    /// Applies the present fields. Enabling an endpoint clears `disabled_reason`,
    /// `disabled_at` and `failing_since`, so an auto-disabled endpoint starts afresh.
    fn update_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<WebhookEndpoint>> + Send;
    /// Deletes the endpoint with its keys and deliveries (and their attempts).
    fn delete_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Makes `new_secret` current; the current one becomes the previous, signing until
    /// `previous_expires_at`. A previous secret still in its overlap is dropped.
    fn rotate_endpoint_secret(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        new_secret: &SealedSecret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<WebhookEndpoint>> + Send;

    // ---- encryption keys ------------------------------------------------------------------

    /// Stores a key for an endpoint of the tenant (`NotFound` otherwise). If `key.active`, the
    /// endpoint's other keys are deactivated and its blocked deliveries unblocked.
    fn add_key(
        &self,
        tenant: &Tenant,
        key: &EncryptionKey,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<KeyActivation>> + Send;
    /// The endpoint's keys, newest first, keyset-paginated.
    fn list_keys(
        &self,
        tenant: &Tenant,
        endpoint: &EndpointId,
        page: &PageRequest<EncryptionKeyId>,
    ) -> impl Future<Output = StoreResult<Page<EncryptionKey>>> + Send;
    /// Activates (deactivating the others, unblocking deliveries) or deactivates one key.
    /// Idempotent. `NotFound` when the endpoint is not the tenant's or the key not the
    /// endpoint's.
    fn set_key_active(
        &self,
        tenant: &Tenant,
        endpoint: &EndpointId,
        key: &EncryptionKeyId,
        active: bool,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<KeyActivation>> + Send;
    /// The endpoint's active key, if any (for the delivery worker; no tenant: endpoint ids
    /// come from the delivery rows).
    fn active_key(
        &self,
        endpoint: &EndpointId,
    ) -> impl Future<Output = StoreResult<Option<EncryptionKey>>> + Send;

    // ---- events ----------------------------------------------------------------------------

    /// The tenant's events, newest first, keyset-paginated on `(created_at DESC, id DESC)`.
    fn list_events(
        &self,
        tenant: &Tenant,
        filter: &EventFilter,
        page: &PageRequest<EventId>,
    ) -> impl Future<Output = StoreResult<Page<Event>>> + Send;
    fn get_event(
        &self,
        tenant: &Tenant,
        id: &EventId,
    ) -> impl Future<Output = StoreResult<Event>> + Send;
    /// New deliveries of the event, by the same routing rule as the outbox fan-out of a new
    /// event (one function serves both): the endpoints the session names, else every endpoint
    /// of the tenant, in both cases only enabled ones subscribed to the type; `pending` due now
    /// with an active key, else `blocked_no_key`.
    fn replay_event(
        &self,
        tenant: &Tenant,
        id: &EventId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<ReplayOutcome>> + Send;

    // ---- deliveries ------------------------------------------------------------------------

    /// The tenant's deliveries with their attempts, newest first, keyset-paginated.
    fn list_deliveries(
        &self,
        tenant: &Tenant,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> impl Future<Output = StoreResult<Page<Delivery>>> + Send;
    fn get_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<Delivery>> + Send;
    /// A `failed` or `pending` delivery becomes `pending`, due now, with a new 3-day retry
    /// window from now (attempt numbers continue).
    fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<RetryOutcome>> + Send;
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

impl WebhookStore for AnyStore {
    async fn create_endpoint(&self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        dispatch!(self, s => s.create_endpoint(endpoint))
    }
    async fn get_endpoint(&self, tenant: &Tenant, id: &EndpointId) -> StoreResult<WebhookEndpoint> {
        dispatch!(self, s => s.get_endpoint(tenant, id))
    }
    async fn list_endpoints(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EndpointId>,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        dispatch!(self, s => s.list_endpoints(tenant, page))
    }
    async fn update_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> StoreResult<WebhookEndpoint> {
        dispatch!(self, s => s.update_endpoint(tenant, id, patch, now))
    }
    async fn delete_endpoint(&self, tenant: &Tenant, id: &EndpointId) -> StoreResult<()> {
        dispatch!(self, s => s.delete_endpoint(tenant, id))
    }
    async fn rotate_endpoint_secret(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        new_secret: &SealedSecret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<WebhookEndpoint> {
        dispatch!(self, s => s.rotate_endpoint_secret(tenant, id, new_secret, previous_expires_at, now))
    }
    async fn add_key(
        &self,
        tenant: &Tenant,
        key: &EncryptionKey,
        now: Timestamp,
    ) -> StoreResult<KeyActivation> {
        dispatch!(self, s => s.add_key(tenant, key, now))
    }
    async fn list_keys(
        &self,
        tenant: &Tenant,
        endpoint: &EndpointId,
        page: &PageRequest<EncryptionKeyId>,
    ) -> StoreResult<Page<EncryptionKey>> {
        dispatch!(self, s => s.list_keys(tenant, endpoint, page))
    }
    async fn set_key_active(
        &self,
        tenant: &Tenant,
        endpoint: &EndpointId,
        key: &EncryptionKeyId,
        active: bool,
        now: Timestamp,
    ) -> StoreResult<KeyActivation> {
        dispatch!(self, s => s.set_key_active(tenant, endpoint, key, active, now))
    }
    async fn active_key(&self, endpoint: &EndpointId) -> StoreResult<Option<EncryptionKey>> {
        dispatch!(self, s => s.active_key(endpoint))
    }
    async fn list_events(
        &self,
        tenant: &Tenant,
        filter: &EventFilter,
        page: &PageRequest<EventId>,
    ) -> StoreResult<Page<Event>> {
        dispatch!(self, s => s.list_events(tenant, filter, page))
    }
    async fn get_event(&self, tenant: &Tenant, id: &EventId) -> StoreResult<Event> {
        dispatch!(self, s => s.get_event(tenant, id))
    }
    async fn replay_event(
        &self,
        tenant: &Tenant,
        id: &EventId,
        now: Timestamp,
    ) -> StoreResult<ReplayOutcome> {
        dispatch!(self, s => s.replay_event(tenant, id, now))
    }
    async fn list_deliveries(
        &self,
        tenant: &Tenant,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> StoreResult<Page<Delivery>> {
        dispatch!(self, s => s.list_deliveries(tenant, filter, page))
    }
    async fn get_delivery(&self, tenant: &Tenant, id: &DeliveryId) -> StoreResult<Delivery> {
        dispatch!(self, s => s.get_delivery(tenant, id))
    }
    async fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: Timestamp,
    ) -> StoreResult<RetryOutcome> {
        dispatch!(self, s => s.retry_delivery(tenant, id, now))
    }
}

// ---- rows ------------------------------------------------------------------------------------

fn ts(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_unix_ms(ms).ok_or(StoreError::Corrupt("timestamp out of range"))
}

fn opt_ts(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(ts).transpose()
}

fn env(s: &str) -> Result<Environment, StoreError> {
    Environment::parse(s).ok_or(StoreError::Corrupt("environment"))
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
