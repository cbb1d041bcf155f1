//! The SQLite backend: one file in WAL mode, `synchronous = FULL` so that an acknowledged commit
//! survives power loss (WAL with NORMAL may lose the last transactions), foreign keys on, and a
//! busy timeout so concurrent writers wait instead of failing. Write transactions start with
//! `BEGIN IMMEDIATE`: they take the single write lock up front, which serialises read-modify-write
//! steps (the SQLite counterpart of `SELECT … FOR UPDATE`) and avoids `SQLITE_BUSY` on upgrade.

use std::path::Path;
use std::sync::Arc;
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
    /// Queues this process's write transactions (see [`WriteTx`]).
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction that holds the store's in-process writer lock until it ends. It derefs
/// to the connection, and commits or rolls back like the `sqlx` transaction it wraps, so the
/// shared backend code uses it exactly like PostgreSQL's plain transaction.
///
/// Why: SQLite admits one writer at a time. A second `BEGIN IMMEDIATE` meets `SQLITE_BUSY`,
/// and the busy handler sleeps (1, 2, 5, 10, … ms) and polls rather than being woken when the
/// lock frees. Under the webhook worker's load (claims and outcome batches back to back, next
/// to API writes) those sleeps stalled the claim loop and capped deliveries per second. Waiting
/// on an async mutex hands the database to the next writer the moment the previous transaction
/// ends. Other processes on the same file (the CLI) still meet the busy timeout.
struct WriteTx {
    // Declared first so it is dropped (rolled back) before the lock is released.
    tx: Transaction<'static, Db>,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
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
        Ok(Self {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The connection pool, for components that own further tables (the webhook worker).
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            _writer: writer,
        })
    }
}

include!("backend/ops.rs");
include!("backend/deliveries.rs");
include!("backend/webhooks.rs");
