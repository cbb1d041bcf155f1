//! idgate-store: persistence of the domain of `idgate-core` on SQLite or PostgreSQL.
//!
//! Owns the schema (`migrations/sqlite`, `migrations/postgres`, same version numbers and names)
//! and the `events` table that the webhook worker reads as a transactional outbox. It does not
//! decide transitions: every state change calls the state machine of `idgate-core` and writes the
//! new state and the events it returned in one transaction.
//!
//! One type, [`Store`], with one method per operation, grouped by aggregate: `orgs.rs`
//! (organizations and API keys), `sessions.rs` (sessions, attempts, expiry), `events.rs` (the
//! outbox and the tenant's view of events), `endpoints.rs` (webhook endpoints and their keys),
//! `deliveries.rs` (the delivery queue and the tenant's view of deliveries), `trust.rs` (the
//! operator's CSCA certificates and CRLs, not per tenant). Each operation is
//! written once, in SQL both backends accept, through `db.rs`; adding one is one edit there, plus
//! one in `sqlite.rs` or `postgres.rs` only where the backends truly differ (see `db.rs` for why
//! this shape). Each method is one database transaction (or a single statement), so a crash never
//! leaves half a change or a change without its event.
//!
//! Tenant isolation: every query on tenant data carries `org_id` (and `environment` for
//! sessions) in its `WHERE` clause; there is no method that reads a tenant's objects without them,
//! except the verify-flow methods addressed by unguessable session or attempt ids, the delivery
//! worker's queue and the global expiry sweep.
//!
//! Costs (n = rows in the table): create is one short transaction of O(log n) inserts; get,
//! cancel and erase are O(log n) primary-key seeks; a list page is O(log n + limit) through the
//! `(org_id, environment, created_at DESC, id DESC)` index whatever the page number, because
//! pagination is by keyset, never by offset; `expire_overdue` is O(log n + batch) through
//! `(status, expires_at)`.

use std::sync::Arc;

use idgate_core::{ApiKeyHash, IdempotencyKey, RequestFingerprint, SessionId, Tenant, Timestamp};

pub mod changes;
mod db;
pub mod deliveries;
mod endpoints;
pub mod error;
mod events;
mod flow;
mod key_cache;
mod orgs;
mod page;
mod postgres;
mod rows;
mod sessions;
pub mod sqlite;
mod trust;

pub use changes::{Change, Subscription};
pub use db::Pool;
pub use deliveries::{
    AttemptOutcome, AttemptRecord, AttemptResult, ClaimedDelivery, DeliveryEndpoint, DeliveryKey,
    Recorded, RetryOutcome,
};
pub use endpoints::KeyActivation;
pub use error::StoreError;
pub use events::ReplayOutcome;
pub use flow::{MobileAttempt, PublicStatus, StepOutcome, StepRecord};
pub use trust::{
    AnchorSource, NewTrustAnchor, NewTrustCrl, RemovedTrustEntry, TrustAnchor, TrustCrl,
    TrustImport, TrustMaterial,
};

use changes::Changes;
use db::Tx;
use key_cache::KeyCache;

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

/// The store on one of the two backends, chosen by the database URL. Cheap to clone (handles to
/// one pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: db::Pool,
    backend: Backend,
    /// Recently authenticated keys (see `key_cache.rs`).
    keys: Arc<KeyCache>,
    /// Announces committed changes to this process's subscribers (see `changes.rs`).
    changes: Changes,
}

/// What each backend keeps beyond its pool.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl Store {
    /// `sqlite://<path>` (or `sqlite:<path>`) opens or creates a SQLite file; `postgres://…` or
    /// `postgresql://…` connects to PostgreSQL. Migrations run before this returns.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options: sqlx::postgres::PgConnectOptions =
                url.parse().map_err(|_| StoreError::InvalidUrl)?;
            Self::connect_postgres(options).await
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(std::path::Path::new(path)).await
        } else {
            Err(StoreError::InvalidUrl)
        }
    }

    /// Opens (creating if missing) the SQLite database file at `path` and applies migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> StoreResult<Self> {
        let changes = Changes::default();
        let sqlite = sqlite::Sqlite::open(path, changes.clone()).await?;
        Ok(Self::new(
            db::Pool::Sqlite(sqlite.pool().clone()),
            Backend::Sqlite(sqlite),
            changes,
        ))
    }

    /// Connects to PostgreSQL with prepared options (tests use a per-test `search_path`) and
    /// applies migrations.
    pub async fn connect_postgres(options: sqlx::postgres::PgConnectOptions) -> StoreResult<Self> {
        let postgres = postgres::Postgres::connect(options).await?;
        Ok(Self::new(
            db::Pool::Postgres(postgres.pool().clone()),
            Backend::Postgres(postgres),
            Changes::default(),
        ))
    }

    fn new(pool: db::Pool, backend: Backend, changes: Changes) -> Self {
        Self {
            pool,
            backend,
            keys: Arc::default(),
            changes,
        }
    }

    /// The backend's connection pool, for tests and tools that read a table directly.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection of the backend; later operations fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }

    /// The changes committed from now on (see `changes.rs`): on PostgreSQL by every node on the
    /// database, on SQLite by this process.
    pub async fn subscribe(&self) -> StoreResult<Subscription> {
        // Subscribe before listening starts, so nothing heard in between is lost.
        let subscription = self.changes.subscribe();
        if let Backend::Postgres(p) = &self.backend {
            p.listen(&self.changes).await?;
        }
        Ok(subscription)
    }

    /// The clock that ages the cache of authenticated keys (the server passes its own, so tests
    /// that drive time drive the cache too).
    pub fn use_clock(&self, clock: Arc<dyn idgate_core::Clock>) {
        self.keys.use_clock(clock);
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> StoreResult<()> {
        db::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ---- the steps each backend takes its own way ------------------------------------------

    /// Starts a write transaction (SQLite: queued on this process's writer lock, then
    /// `BEGIN IMMEDIATE`; PostgreSQL: a plain transaction).
    pub(crate) async fn begin_write(&self) -> StoreResult<Tx> {
        Ok(match &self.backend {
            Backend::Sqlite(s) => s.begin_write(&self.changes).await?,
            Backend::Postgres(p) => p.begin_write().await?,
        })
    }

    /// Announces a change committed by a single statement outside a [`Tx`].
    pub(crate) async fn announce(&self, change: Change) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(_) => self.changes.publish(change),
            Backend::Postgres(p) => p.notify(&change).await?,
        }
        Ok(())
    }

    /// The key with this hash: the first point read of every authenticated request.
    pub(crate) async fn read_api_key_by_hash(
        &self,
        hash: &ApiKeyHash,
    ) -> StoreResult<Option<rows::ApiKeyRow>> {
        match &self.backend {
            Backend::Sqlite(s) => s.read_api_key_by_hash(hash),
            Backend::Postgres(_) => Ok(db::query(orgs::API_KEY_BY_HASH.as_str())
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await?),
        }
    }

    /// The session by id within the tenant: the second point read of most requests.
    pub(crate) async fn read_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
    ) -> StoreResult<Option<rows::SessionRow>> {
        match &self.backend {
            Backend::Sqlite(s) => s.read_session(tenant, id),
            Backend::Postgres(_) => Ok(db::query(sessions::SESSION_BY_ID.as_str())
                .bind(id.as_str())
                .bind(tenant.org_id.as_str())
                .bind(tenant.environment.as_str())
                .fetch_optional(&self.pool)
                .await?),
        }
    }

    /// One attempt at a create: SQLite commits creates in groups (`sqlite/group_commit.rs`);
    /// PostgreSQL runs one transaction per create, since it already flushes the commits of
    /// concurrent transactions together. `None` as [`sessions::create_session_in`] answers it.
    pub(crate) async fn try_create_session(
        &self,
        session: &idgate_core::Session,
        idempotency: Option<&NewIdempotencyRecord>,
    ) -> StoreResult<Option<CreateOutcome>> {
        if let Backend::Sqlite(s) = &self.backend {
            return s.create_session(session, idempotency).await;
        }
        let mut tx = self.begin_write().await?;
        let outcome = sessions::create_session_in(&mut tx, session, idempotency).await?;
        if matches!(outcome, Some(CreateOutcome::Created)) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }
}
