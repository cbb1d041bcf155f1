//! idgate-store: persistence of the domain of `idgate-core` on SQLite or PostgreSQL.
//!
//! Owns the schema (`migrations/sqlite`, `migrations/postgres`, same version numbers and names),
//! the [`Store`] trait and its two implementations, and the `events` table that the webhook worker
//! reads as a transactional outbox. It does not decide transitions: every state change calls the
//! state machine of `idgate-core` and writes the new state and the events it returned in one
//! transaction.
//!
//! Why a trait with `impl Future + Send` returns plus the [`AnyStore`] enum rather than
//! `dyn Store`: the set of backends is closed (two), so static dispatch through one enum costs no
//! boxing per call and no extra crate, while the trait keeps both implementations honest to one
//! signature and lets tests run the same behaviour against each.
//!
//! Tenant isolation: every query on tenant data carries `org_id` (and `environment` for
//! sessions) in its `WHERE` clause; there is no method that reads a tenant's objects without them,
//! except the verify-flow methods addressed by unguessable session or attempt ids and the global
//! expiry sweep.
//!
//! Costs (n = rows in the table): create is one short transaction of O(log n) inserts; get,
//! cancel and erase are O(log n) primary-key seeks; a list page is O(log n + limit) through the
//! `(org_id, environment, created_at DESC, id DESC)` index whatever the page number, because
//! pagination is by keyset, never by offset; `expire_overdue` is O(log n + batch) through
//! `(status, expires_at)`.

use std::future::Future;

use idgate_core::{
    ApiKey, ApiKeyHash, ApiKeyId, ApiKeyPatch, Attempt, AttemptId, DeliveryId, Event, FailureCode,
    IdempotencyKey, KeyAudience, OrgId, Organization, Page, PageRequest, RequestFingerprint,
    Session, SessionFilter, SessionId, Tenant, Timestamp,
};

pub mod changes;
pub mod deliveries;
pub mod error;
mod key_cache;
pub mod postgres;
mod rows;
pub mod sqlite;
pub mod webhooks;

pub use changes::{Change, Subscription};
pub use deliveries::DeliveryQueue;
pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use webhooks::{KeyActivation, ReplayOutcome, RetryOutcome, WebhookStore};

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// What the create of a session remembers under an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdempotencyRecord {
    pub key: IdempotencyKey,
    pub fingerprint: RequestFingerprint,
    /// The exact response body sent for the first request, replayed byte for byte.
    pub response_body: String,
    /// Usually the session's `created_at`; the record is honoured for 24 h from it.
    pub created_at: Timestamp,
}

/// Outcome of [`Store::create_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The session was inserted (and the idempotency record, if any).
    Created,
    /// The same key and fingerprint were seen within 24 h: nothing was inserted; answer with the
    /// stored body.
    Replayed { response_body: String },
}

/// Every persistence operation of idgate. Each method is one database transaction (or a single
/// statement), so a crash never leaves half a change or a change without its event.
pub trait Store: Send + Sync {
    /// Readiness: the database answers a trivial query.
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    // ---- organizations -------------------------------------------------------------------

    /// Inserts an organization; `Conflict` if the id exists.
    fn create_organization(
        &self,
        org: &Organization,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_organization(
        &self,
        id: &OrgId,
    ) -> impl Future<Output = StoreResult<Organization>> + Send;
    /// All organizations, oldest first (operator CLI; not exposed over HTTP).
    fn list_organizations(&self) -> impl Future<Output = StoreResult<Vec<Organization>>> + Send;

    // ---- API keys ------------------------------------------------------------------------

    /// Stores a key record with the keyed hash of its secret (never the secret).
    fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &ApiKeyHash,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The keys of `audience` (its organization, and for a test-mode caller only test keys),
    /// newest first, keyset-paginated on `(created_at, id)`. Get, update and delete answer
    /// `NotFound` for a key outside the audience, as for one never issued.
    fn list_api_keys(
        &self,
        audience: &KeyAudience,
        page: &PageRequest<ApiKeyId>,
    ) -> impl Future<Output = StoreResult<Page<ApiKey>>> + Send;
    fn get_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
    ) -> impl Future<Output = StoreResult<ApiKey>> + Send;
    /// Applies the present fields of `patch`; returns the updated key.
    fn update_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
        patch: &ApiKeyPatch,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<ApiKey>> + Send;
    fn delete_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The key with this hash, enabled or not (the caller answers 401 for a disabled key), and
    /// records its use at most once a minute so that authentication is not a write per request.
    /// Answers from a cache of recently read keys: a change made through this store is seen by
    /// the next call, one made by another node or process within a second (`key_cache.rs`).
    fn authenticate_api_key(
        &self,
        hash: &ApiKeyHash,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<ApiKey>>> + Send;

    // ---- sessions ------------------------------------------------------------------------

    /// Inserts a new session (built by [`Session::create`]) in one short transaction, together
    /// with the idempotency record if given. Named webhook endpoints must exist for the
    /// organization (`WebhookEndpointNotFound`). A live record with the same key answers
    /// `Replayed` (same fingerprint) or `IdempotencyKeyReused` (different one).
    fn create_session(
        &self,
        session: &Session,
        idempotency: Option<&NewIdempotencyRecord>,
    ) -> impl Future<Output = StoreResult<CreateOutcome>> + Send;
    /// The session; a non-terminal session past `expires_at` is first persisted as `expired`
    /// with its event, so reads never show a stale status.
    fn get_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Session>> + Send;
    /// Newest first, keyset-paginated on `(created_at DESC, id DESC)`; overdue sessions of the
    /// tenant are expired (with events) before the page is read.
    fn list_sessions(
        &self,
        tenant: &Tenant,
        filter: &SessionFilter,
        page: &PageRequest<SessionId>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Page<Session>>> + Send;
    /// `created | in_progress → cancelled` (or `expired` if already overdue), closing the open
    /// attempt and writing the event in the same transaction. A terminal session is returned
    /// unchanged without an event; a cancel racing a completion never overwrites the terminal
    /// state. Returns the session as it is after the call.
    fn cancel_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Session>> + Send;
    /// Data-subject erasure of a terminal session: deletes the session and its attempts,
    /// blanks the payload of its events and cancels its unsent deliveries, claimed ones included;
    /// `SessionNotTerminal` otherwise. Returns the deliveries whose request was already on the
    /// wire (see `DeliveryQueue::begin_sends`): they cannot be recalled, and the caller waits for
    /// them with `DeliveryQueue::count_sending` before it reports the erase done.
    fn erase_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<DeliveryId>>> + Send;
    /// The session's attempts, oldest first, keyset-paginated on `(created_at, id)`;
    /// `NotFound` if the session is not the tenant's. Applies expiry like `get_session`.
    fn list_attempts(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
        page: &PageRequest<AttemptId>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Page<Attempt>>> + Send;
    /// The session's events, oldest first.
    fn list_session_events(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
    ) -> impl Future<Output = StoreResult<Vec<Event>>> + Send;

    /// The sweeper: expires up to `batch` overdue sessions (all tenants) with their events;
    /// returns how many. Safe to run on several nodes at once.
    fn expire_overdue(
        &self,
        now: Timestamp,
        batch: u32,
    ) -> impl Future<Output = StoreResult<usize>> + Send;

    // ---- end-user flow (addressed by unguessable ids, no tenant) ----------------------------

    /// A device starts an attempt; an older open attempt of the session is closed.
    fn start_attempt(
        &self,
        session_id: &SessionId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<(Session, Attempt)>> + Send;
    /// A check rejected the attempt with `code` (see [`Session::record_failure`]).
    fn record_attempt_failure(
        &self,
        attempt_id: &AttemptId,
        code: FailureCode,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<(Session, Attempt)>> + Send;
    /// All checks passed and the person consented (see [`Session::succeed`]).
    fn complete_attempt(
        &self,
        attempt_id: &AttemptId,
        selected_field_keys: &[String],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<(Session, Attempt)>> + Send;
}

/// The store the server holds: one of the two backends, chosen by the database URL.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// `sqlite://<path>` (or `sqlite:<path>`) opens or creates a SQLite file; `postgres://…` or
    /// `postgresql://…` connects to PostgreSQL. Migrations run before this returns.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url).await?))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Ok(Self::Sqlite(
                SqliteStore::open(std::path::Path::new(path)).await?,
            ))
        } else {
            Err(StoreError::InvalidUrl)
        }
    }

    /// Closes every connection of the backend; later operations fail.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }

    /// The changes committed from now on (see `changes.rs`): on PostgreSQL by every node on the
    /// database, on SQLite by this process.
    pub async fn subscribe(&self) -> StoreResult<Subscription> {
        match self {
            Self::Sqlite(s) => s.subscribe().await,
            Self::Postgres(s) => s.subscribe().await,
        }
    }

    /// The clock that ages the cache of authenticated keys (the server passes its own, so tests
    /// that drive time drive the cache too).
    pub fn use_clock(&self, clock: std::sync::Arc<dyn idgate_core::Clock>) {
        match self {
            Self::Sqlite(s) => s.use_clock(clock),
            Self::Postgres(s) => s.use_clock(clock),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn ping(&self) -> StoreResult<()> {
        dispatch!(self, s => s.ping())
    }
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        dispatch!(self, s => s.create_organization(org))
    }
    async fn get_organization(&self, id: &OrgId) -> StoreResult<Organization> {
        dispatch!(self, s => s.get_organization(id))
    }
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        dispatch!(self, s => s.list_organizations())
    }
    async fn create_api_key(&self, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        dispatch!(self, s => s.create_api_key(key, hash))
    }
    async fn list_api_keys(
        &self,
        audience: &KeyAudience,
        page: &PageRequest<ApiKeyId>,
    ) -> StoreResult<Page<ApiKey>> {
        dispatch!(self, s => s.list_api_keys(audience, page))
    }
    async fn get_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<ApiKey> {
        dispatch!(self, s => s.get_api_key(audience, id))
    }
    async fn update_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
        patch: &ApiKeyPatch,
        now: Timestamp,
    ) -> StoreResult<ApiKey> {
        dispatch!(self, s => s.update_api_key(audience, id, patch, now))
    }
    async fn delete_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<()> {
        dispatch!(self, s => s.delete_api_key(audience, id))
    }
    async fn authenticate_api_key(
        &self,
        hash: &ApiKeyHash,
        now: Timestamp,
    ) -> StoreResult<Option<ApiKey>> {
        dispatch!(self, s => s.authenticate_api_key(hash, now))
    }
    async fn create_session(
        &self,
        session: &Session,
        idempotency: Option<&NewIdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        dispatch!(self, s => s.create_session(session, idempotency))
    }
    async fn get_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Session> {
        dispatch!(self, s => s.get_session(tenant, id, now))
    }
    async fn list_sessions(
        &self,
        tenant: &Tenant,
        filter: &SessionFilter,
        page: &PageRequest<SessionId>,
        now: Timestamp,
    ) -> StoreResult<Page<Session>> {
        dispatch!(self, s => s.list_sessions(tenant, filter, page, now))
    }
    async fn cancel_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Session> {
        dispatch!(self, s => s.cancel_session(tenant, id, now))
    }
    async fn erase_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>> {
        dispatch!(self, s => s.erase_session(tenant, id, now))
    }
    async fn list_attempts(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
        page: &PageRequest<AttemptId>,
        now: Timestamp,
    ) -> StoreResult<Page<Attempt>> {
        dispatch!(self, s => s.list_attempts(tenant, session_id, page, now))
    }
    async fn list_session_events(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
    ) -> StoreResult<Vec<Event>> {
        dispatch!(self, s => s.list_session_events(tenant, session_id))
    }
    async fn expire_overdue(&self, now: Timestamp, batch: u32) -> StoreResult<usize> {
        dispatch!(self, s => s.expire_overdue(now, batch))
    }
    async fn start_attempt(
        &self,
        session_id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        dispatch!(self, s => s.start_attempt(session_id, now))
    }
    async fn record_attempt_failure(
        &self,
        attempt_id: &AttemptId,
        code: FailureCode,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        dispatch!(self, s => s.record_attempt_failure(attempt_id, code, now))
    }
    async fn complete_attempt(
        &self,
        attempt_id: &AttemptId,
        selected_field_keys: &[String],
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        dispatch!(self, s => s.complete_attempt(attempt_id, selected_field_keys, now))
    }
}
