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

use idgate_core::{ApiKeyHash, SessionId, Tenant};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::changes::Changes;
use crate::db::Tx;
use crate::rows::{ApiKeyRow, SessionRow};
use crate::{CreateOutcome, NewIdempotencyRecord, StoreResult};

mod group_commit;

pub use group_commit::CREATE_GROUP_SIZE;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// What the SQLite backend keeps beside its pool.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    /// Queues this process's write transactions (see [`Sqlite::begin_write`]).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The point reads of the request path (see [`Readers`]).
    readers: Arc<Readers>,
    /// Session creates, committed in groups (see `sqlite/group_commit.rs`).
    creates: group_commit::CreateQueue,
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
    /// Set by [`Sqlite::close`]; reads then fail as the closed pool's queries do.
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
    ) -> StoreResult<T> {
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
fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
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
fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
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

impl Sqlite {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub(crate) async fn open(path: &Path, changes: Changes) -> StoreResult<Self> {
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
            creates: group_commit::CreateQueue::start(pool.clone(), writer.clone(), changes),
            pool,
            writer,
            readers: Arc::new(Readers::new(path)),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection; later operations fail with `PoolClosed`.
    pub(crate) async fn close(&self) {
        self.readers.close();
        self.pool.close().await;
    }

    /// A write transaction that holds this process's writer lock until it ends.
    ///
    /// Why the lock: SQLite admits one writer at a time. A second `BEGIN IMMEDIATE` meets
    /// `SQLITE_BUSY`, and the busy handler sleeps (1, 2, 5, 10, … ms) and polls rather than being
    /// woken when the lock frees. Under the webhook worker's load (claims and outcome batches back
    /// to back, next to API writes) those sleeps stalled the claim loop and capped deliveries per
    /// second. Waiting on an async mutex hands the database to the next writer the moment the
    /// previous transaction ends. Other processes on the same file (the CLI) still meet the busy
    /// timeout.
    pub(crate) async fn begin_write(&self, changes: &Changes) -> Result<Tx, sqlx::Error> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Tx::sqlite(tx, Some(writer), changes.clone()))
    }

    pub(crate) async fn create_session(
        &self,
        session: &idgate_core::Session,
        idempotency: Option<&NewIdempotencyRecord>,
    ) -> StoreResult<Option<CreateOutcome>> {
        self.creates.create(session, idempotency).await
    }

    pub(crate) fn read_api_key_by_hash(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKeyRow>> {
        use rusqlite::OptionalExtension;
        self.readers.with(|conn| {
            conn.prepare_cached(&crate::orgs::API_KEY_BY_HASH)?
                .query_row([hash.as_str()], api_key_row)
                .optional()
        })
    }

    pub(crate) fn read_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
    ) -> StoreResult<Option<SessionRow>> {
        use rusqlite::OptionalExtension;
        self.readers.with(|conn| {
            conn.prepare_cached(&crate::sessions::SESSION_BY_ID)?
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
