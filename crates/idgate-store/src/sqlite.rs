//! The SQLite backend: one file in WAL mode, `synchronous = FULL` so that an acknowledged commit
//! survives power loss (WAL with NORMAL may lose the last transactions), foreign keys on, and a
//! busy timeout so concurrent writers wait instead of failing. Write transactions start with
//! `BEGIN IMMEDIATE`: they take the single write lock up front, which serialises read-modify-write
//! steps (the SQLite counterpart of `SELECT … FOR UPDATE`) and avoids `SQLITE_BUSY` on upgrade.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, SqliteConnection, Transaction};

type Db = Sqlite;
type Conn = SqliteConnection;
type This = SqliteStore;

/// Row locks are implied by `BEGIN IMMEDIATE`; SQLite has no lock clause.
const FOR_UPDATE: &str = "";
const SKIP_LOCKED: &str = "";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The store on an embedded SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool<Db>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, crate::StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for components that own further tables (the webhook worker).
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

include!("backend/ops.rs");
include!("backend/deliveries.rs");
include!("backend/webhooks.rs");
