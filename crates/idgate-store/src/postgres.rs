//! The PostgreSQL backend, for several server nodes sharing one database. Read-modify-write steps
//! lock the session row (`SELECT … FOR UPDATE`); the expiry sweeper claims rows with
//! `FOR UPDATE SKIP LOCKED` so nodes sweeping at once take disjoint batches. The SQL stays within
//! what PostgreSQL-wire distributed databases accept (no advisory locks outside the migrator,
//! explicit BIGINT, no sequences).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, Pool, Postgres, Transaction};

type Db = Postgres;
type Conn = PgConnection;
type This = PgStore;
type Tx = PgTx;

const FOR_UPDATE: &str = " FOR UPDATE";
const SKIP_LOCKED: &str = " SKIP LOCKED";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool<Db>,
    /// Recently authenticated keys (see `key_cache.rs`).
    keys: std::sync::Arc<crate::key_cache::KeyCache>,
    /// Rebroadcasts what the `LISTEN` connection hears (see `changes.rs`).
    changes: crate::changes::Changes,
    /// The `LISTEN` connection, opened by the first subscriber.
    listening: std::sync::Arc<tokio::sync::OnceCell<crate::changes::PgListening>>,
}

/// A write transaction that announces what it changed: `pg_notify` runs inside it just before
/// `COMMIT`, so every node hears of the change exactly when it becomes visible.
struct PgTx {
    tx: Transaction<'static, Db>,
    pending: crate::changes::Pending,
}

impl PgTx {
    fn note(&mut self, change: crate::changes::Change) {
        self.pending.note(change);
    }

    async fn commit(mut self) -> Result<(), sqlx::Error> {
        if !self.pending.is_empty() {
            self.pending.notify_in(&mut self.tx).await?;
        }
        self.tx.commit().await
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for PgTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, crate::StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|_| crate::StoreError::InvalidUrl)?;
        Self::connect_with(options).await
    }

    /// Connects with prepared options (tests use a per-test `search_path`) and applies migrations.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, crate::StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            keys: Default::default(),
            changes: Default::default(),
            listening: Default::default(),
        })
    }

    /// The changes committed from now on by any node on this database (see `changes.rs`).
    pub async fn subscribe(&self) -> crate::StoreResult<crate::changes::Subscription> {
        // Subscribe before listening starts, so nothing heard in between is lost.
        let subscription = self.changes.subscribe();
        self.listening
            .get_or_try_init(|| {
                crate::changes::PgListening::start(&self.pool, self.changes.clone())
            })
            .await?;
        Ok(subscription)
    }

    /// Announces a change committed outside a [`PgTx`] (a single statement on the pool).
    async fn announce(&self, change: crate::changes::Change) -> crate::StoreResult<()> {
        crate::changes::notify_one(&self.pool, &change).await?;
        Ok(())
    }

    /// The connection pool, for components that own further tables (the webhook worker).
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    /// Ages cached keys by `clock` (see `key_cache.rs`).
    pub fn use_clock(&self, clock: std::sync::Arc<dyn idgate_core::Clock>) {
        self.keys.use_clock(clock);
    }

    /// Closes every connection; later operations fail with `PoolClosed`.
    pub async fn close(&self) {
        if let Some(listening) = self.listening.get() {
            listening.stop().await;
        }
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<PgTx, sqlx::Error> {
        Ok(PgTx {
            tx: self.pool.begin().await?,
            pending: Default::default(),
        })
    }

    /// One transaction per create: PostgreSQL already flushes the commits of concurrent
    /// transactions together.
    async fn try_create_session(
        &self,
        session: &idgate_core::Session,
        idempotency: Option<&crate::NewIdempotencyRecord>,
    ) -> crate::StoreResult<Option<crate::CreateOutcome>> {
        let mut tx = self.begin_write().await?;
        let outcome = create_session_in(&mut tx, session, idempotency).await?;
        if matches!(outcome, Some(crate::CreateOutcome::Created)) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }

    async fn read_api_key_by_hash(
        &self,
        hash: &idgate_core::ApiKeyHash,
    ) -> crate::StoreResult<Option<crate::rows::ApiKeyRow>> {
        Ok(sqlx::query_as(sql(API_KEY_BY_HASH.clone()))
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn read_session(
        &self,
        tenant: &idgate_core::Tenant,
        id: &idgate_core::SessionId,
    ) -> crate::StoreResult<Option<crate::rows::SessionRow>> {
        Ok(sqlx::query_as(sql(SESSION_BY_ID.clone()))
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }
}

include!("backend/ops.rs");
include!("backend/deliveries.rs");
include!("backend/webhooks.rs");
