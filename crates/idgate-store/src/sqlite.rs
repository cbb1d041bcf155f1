//! The SQLite backend: one file in WAL mode, `synchronous = FULL` so that an acknowledged commit
//! survives power loss (WAL with NORMAL may lose the last transactions), foreign keys on, and a
//! busy timeout so concurrent writers wait instead of failing. Write transactions start with
//! `BEGIN IMMEDIATE`: they take the single write lock up front, which serialises read-modify-write
//! steps (the SQLite counterpart of `SELECT … FOR UPDATE`) and avoids `SQLITE_BUSY` on upgrade.
//!
//! Two hot paths are specialised, each documented where it lives: the point reads of every
//! request run on synchronous connections outside the sqlx pool ([`Readers`]), and session
//! creates commit in groups (`sqlite/group_commit.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, SqliteConnection, Transaction};

mod group_commit;

pub use group_commit::CREATE_GROUP_SIZE;

type Db = Sqlite;
type Conn = SqliteConnection;
type This = SqliteStore;
type Tx = WriteTx;

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
    /// The point reads of the request path (see [`Readers`]).
    readers: Arc<Readers>,
    /// Recently authenticated keys (see `key_cache.rs`).
    keys: Arc<crate::key_cache::KeyCache>,
    /// Session creates, committed in groups (see `sqlite/group_commit.rs`).
    creates: group_commit::CreateQueue,
    /// Announces committed changes to this process (see `changes.rs`).
    changes: crate::changes::Changes,
}

/// Connections that run the point reads of every authenticated request (the key by its hash,
/// the session by its id) synchronously, on the calling thread.
///
/// Why: sqlx runs each SQLite connection on its own worker thread, so every query is two
/// cross-thread hand-offs (request out, rows back), each a futex wake and a context switch. On
/// the 2-core reference machine that cost ≈ 40 µs per query, more than the whole HTTP stack,
/// while the B-tree seek itself takes a few µs. A primary-key or unique-index seek on a WAL database
/// never waits for the writer (readers see the last committed snapshot), so running it inline
/// blocks the async worker for about as long as rendering the response does. Writes and scans
/// stay on the sqlx pool.
///
/// Connections are opened on demand and kept for reuse; at most as many exist as threads read
/// at once, since no read awaits while it holds one.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Set by [`SqliteStore::close`]; reads then fail as the closed pool's queries do.
    closed: AtomicBool,
}

impl Readers {
    /// Connections kept idle; more are opened when more threads read at once, then closed.
    const KEEP: usize = 16;
    const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Reads only, whatever a caller passes.
        conn.pragma_update(None, "query_only", true)?;
        // A WAL reader waits only while another process holds the file exclusively (recovery
        // after a crash, or the last connection closing); this wait blocks an async worker, so
        // it is short, and a read still busy after it fails instead.
        conn.busy_timeout(Self::BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and returns the connection for reuse.
    fn with<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> crate::StoreResult<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed.into());
        }
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < Self::KEEP && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
        Ok(result?)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// An `ApiKeyRow` from a row of [`API_KEY_COLUMNS`], by position: looking columns up by name
/// cost more than the seek (a test checks the positions against the column list).
fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::rows::ApiKeyRow> {
    Ok(crate::rows::ApiKeyRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        name: r.get(2)?,
        environment: r.get(3)?,
        scopes: r.get(4)?,
        enabled: r.get(5)?,
        key_prefix: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        last_used_at: r.get(9)?,
    })
}

/// A `SessionRow` from a row of [`SESSION_COLUMNS`], by position (see [`api_key_row`]).
fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::rows::SessionRow> {
    Ok(crate::rows::SessionRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        environment: r.get(2)?,
        status: r.get(3)?,
        failure_code: r.get(4)?,
        nfc_tries_used: r.get(5)?,
        liveness_tries_used: r.get(6)?,
        contract_version: r.get(7)?,
        share_fields: r.get(8)?,
        redirect_url: r.get(9)?,
        webhook_endpoint_id: r.get(10)?,
        metadata: r.get(11)?,
        cancel_token: r.get(12)?,
        expires_at: r.get(13)?,
        completed_at: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
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
///
/// It also carries what the transaction changed ([`crate::changes::Pending`]), announced to
/// this process's subscribers once the commit succeeded.
struct WriteTx {
    // Declared first so it is dropped (rolled back) before the lock is released.
    tx: Transaction<'static, Db>,
    _writer: tokio::sync::OwnedMutexGuard<()>,
    pending: crate::changes::Pending,
    changes: crate::changes::Changes,
}

impl WriteTx {
    fn note(&mut self, change: crate::changes::Change) {
        self.pending.note(change);
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        drop(self._writer);
        self.pending.publish(&self.changes);
        Ok(())
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
            // A connection to a local file cannot go stale; the default ping before every
            // checkout is one more round trip to the connection's worker thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        Ok(Self {
            creates: group_commit::CreateQueue::start(pool.clone(), writer.clone()),
            pool,
            writer,
            readers: Arc::new(Readers::new(path)),
            keys: Arc::default(),
            changes: Default::default(),
        })
    }

    /// The changes committed through this store from now on (see `changes.rs`).
    pub async fn subscribe(&self) -> crate::StoreResult<crate::changes::Subscription> {
        Ok(self.changes.subscribe())
    }

    /// Announces a change committed outside a [`WriteTx`] (a single statement on the pool).
    async fn announce(&self, change: crate::changes::Change) -> crate::StoreResult<()> {
        self.changes.publish(change);
        Ok(())
    }

    /// The connection pool, for components that own further tables (the webhook worker).
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    /// Ages cached keys by `clock` (see `key_cache.rs`).
    pub fn use_clock(&self, clock: Arc<dyn idgate_core::Clock>) {
        self.keys.use_clock(clock);
    }

    /// Closes every connection; later operations fail with `PoolClosed`.
    pub async fn close(&self) {
        self.readers.close();
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            _writer: writer,
            pending: Default::default(),
            changes: self.changes.clone(),
        })
    }

    async fn try_create_session(
        &self,
        session: &idgate_core::Session,
        idempotency: Option<&crate::NewIdempotencyRecord>,
    ) -> crate::StoreResult<Option<crate::CreateOutcome>> {
        self.creates.create(session, idempotency).await
    }

    async fn read_api_key_by_hash(
        &self,
        hash: &ApiKeyHash,
    ) -> crate::StoreResult<Option<crate::rows::ApiKeyRow>> {
        use rusqlite::OptionalExtension;
        self.readers.with(|conn| {
            conn.prepare_cached(&API_KEY_BY_HASH)?
                .query_row([hash.as_str()], api_key_row)
                .optional()
        })
    }

    async fn read_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
    ) -> crate::StoreResult<Option<crate::rows::SessionRow>> {
        use rusqlite::OptionalExtension;
        self.readers.with(|conn| {
            conn.prepare_cached(&SESSION_BY_ID)?
                .query_row(
                    [
                        id.as_str(),
                        tenant.org_id.as_str(),
                        tenant.environment.as_str(),
                    ],
                    session_row,
                )
                .optional()
        })
    }
}

include!("backend/ops.rs");
include!("backend/deliveries.rs");
include!("backend/webhooks.rs");

#[cfg(test)]
mod tests {
    /// The positions `api_key_row` and `session_row` read are the columns' places in the
    /// shared column lists.
    #[test]
    fn the_positional_row_readers_match_the_column_lists() {
        let columns = |list: &str| {
            list.split(',')
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            columns(crate::rows::API_KEY_COLUMNS),
            [
                "id",
                "org_id",
                "name",
                "environment",
                "scopes",
                "enabled",
                "key_prefix",
                "created_at",
                "updated_at",
                "last_used_at",
            ]
        );
        assert_eq!(
            columns(crate::rows::SESSION_COLUMNS),
            [
                "id",
                "org_id",
                "environment",
                "status",
                "failure_code",
                "nfc_tries_used",
                "liveness_tries_used",
                "contract_version",
                "share_fields",
                "redirect_url",
                "webhook_endpoint_id",
                "metadata",
                "cancel_token",
                "expires_at",
                "completed_at",
                "created_at",
                "updated_at",
            ]
        );
    }
}
