//! The PostgreSQL backend, for several server nodes sharing one database. Read-modify-write steps
//! lock the session row (`SELECT … FOR UPDATE`); the expiry sweeper claims rows with
//! `FOR UPDATE SKIP LOCKED` so nodes sweeping at once take disjoint batches. The SQL stays within
//! what PostgreSQL-wire distributed databases accept (no advisory locks outside the migrator,
//! explicit BIGINT, no sequences).

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreResult;
use crate::changes::{Change, Changes, PgListening};
use crate::db::Tx;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What the PostgreSQL backend keeps beside its pool.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    pool: PgPool,
    /// The `LISTEN` connection, opened by the first subscriber (see `changes.rs`).
    listening: std::sync::Arc<tokio::sync::OnceCell<PgListening>>,
}

impl Postgres {
    /// Connects with `options` and applies migrations.
    pub(crate) async fn connect(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            listening: Default::default(),
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts rebroadcasting what the `LISTEN` connection hears to `changes`, once.
    pub(crate) async fn listen(&self, changes: &Changes) -> StoreResult<()> {
        self.listening
            .get_or_try_init(|| PgListening::start(&self.pool, changes.clone()))
            .await?;
        Ok(())
    }

    /// `pg_notify` of a change committed by a single statement outside a transaction.
    pub(crate) async fn notify(&self, change: &Change) -> StoreResult<()> {
        crate::changes::notify_one(&self.pool, change).await?;
        Ok(())
    }

    /// Closes every connection; later operations fail with `PoolClosed`.
    pub(crate) async fn close(&self) {
        if let Some(listening) = self.listening.get() {
            listening.stop().await;
        }
        self.pool.close().await;
    }

    pub(crate) async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx::postgres(self.pool.begin().await?))
    }
}
