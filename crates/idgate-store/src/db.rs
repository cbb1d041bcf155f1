//! The one place where the shared SQL meets a driver.
//!
//! Both backends accept the same SQL text (`$n` placeholders, row-value comparisons, `RETURNING`);
//! only the lock clauses differ ([`Dialect`]). So every store operation is written once, as
//! ordinary non-generic code, against the small [`Query`] builder here, and the driver is chosen
//! per query by matching on the connection ([`On`]): one branch per statement, invisible next to
//! the statement's round trip, and rows decode with each driver's own decoder (unlike `sqlx::Any`,
//! which converts every value of every row). The alternative, generic code over
//! `sqlx::Database`, would repeat a dozen `Encode`/`Type`/`Executor` bounds on every function
//! that runs SQL; dispatching at the 43 operations instead (the previous shape) forwarded each
//! one by hand. Where the backends differ in *how* rather than *what* (SQLite's inline point
//! reads and group commit, PostgreSQL's `LISTEN`), `sqlite.rs` and `postgres.rs` hold the step.

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{
    Arguments as _, AssertSqlSafe, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection,
};

use crate::changes::{Change, Changes, Pending};

/// The connection pool of the backend the store runs on. Public for tests and tools that read a
/// table directly; the store's operations never need it.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The words of SQL the two backends spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Locks the rows a read-modify-write step read. SQLite needs none: write transactions start
    /// with `BEGIN IMMEDIATE`, which takes the database's only write lock up front.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// [`Self::for_update`], skipping rows another transaction holds, so that nodes claiming
    /// work at once take disjoint batches.
    pub(crate) fn for_update_skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A write transaction. It carries what it changed ([`Pending`]), announced once the commit
/// succeeded (`changes.rs`): on PostgreSQL by `pg_notify` inside the transaction, so every node
/// hears of the change exactly when it becomes visible; on SQLite to this process's subscribers.
pub(crate) struct Tx {
    conn: TxConn,
    pending: Pending,
}

enum TxConn {
    Sqlite {
        // Declared first so it is dropped (rolled back) before the writer lock is released.
        tx: sqlx::Transaction<'static, Sqlite>,
        /// This process's writer lock (see `sqlite.rs`), held until the transaction ends; `None`
        /// when the caller holds it for a whole group of transactions.
        _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
        changes: Changes,
    },
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn sqlite(
        tx: sqlx::Transaction<'static, Sqlite>,
        writer: Option<tokio::sync::OwnedMutexGuard<()>>,
        changes: Changes,
    ) -> Self {
        Self {
            conn: TxConn::Sqlite {
                tx,
                _writer: writer,
                changes,
            },
            pending: Pending::default(),
        }
    }

    pub(crate) fn postgres(tx: sqlx::Transaction<'static, Postgres>) -> Self {
        Self {
            conn: TxConn::Postgres(tx),
            pending: Pending::default(),
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.conn {
            TxConn::Sqlite { .. } => Dialect::Sqlite,
            TxConn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Remembers a change to announce after the commit.
    pub(crate) fn note(&mut self, change: Change) {
        self.pending.note(change);
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self.conn {
            TxConn::Sqlite {
                tx,
                _writer,
                changes,
            } => {
                tx.commit().await?;
                drop(_writer);
                self.pending.publish(&changes);
                Ok(())
            }
            TxConn::Postgres(mut tx) => {
                if !self.pending.is_empty() {
                    self.pending.notify_in(&mut tx).await?;
                }
                tx.commit().await
            }
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.conn {
            TxConn::Sqlite { tx, .. } => tx.rollback().await,
            TxConn::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Where a query runs: the pool (one statement, autocommit) or a transaction's connection.
pub(crate) enum On<'c> {
    SqlitePool(&'c sqlx::SqlitePool),
    PgPool(&'c sqlx::PgPool),
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl<'c> From<&'c Pool> for On<'c> {
    fn from(pool: &'c Pool) -> Self {
        match pool {
            Pool::Sqlite(p) => Self::SqlitePool(p),
            Pool::Postgres(p) => Self::PgPool(p),
        }
    }
}

impl<'c> From<&'c mut Tx> for On<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        match &mut tx.conn {
            TxConn::Sqlite { tx, .. } => Self::Sqlite(tx),
            TxConn::Postgres(tx) => Self::Postgres(tx),
        }
    }
}

/// A row type both drivers can decode (every `#[derive(sqlx::FromRow)]` struct of the crate and
/// tuples of plain columns).
pub(crate) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<R> Row for R where R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// One bound value. The schema is portable (ids, enums and JSON as text, times as BIGINT
/// milliseconds, flags as booleans), so these four kinds are all a statement binds.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Str(Option<&'a str>),
    String(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Self::Str(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Str(v)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Self::Str(Some(v))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Self::String(Some(v))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Self::String(v)
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(Some(v))
    }
}
impl From<Option<bool>> for Arg<'_> {
    fn from(v: Option<bool>) -> Self {
        Self::Bool(v)
    }
}

/// A statement and its bound values, run by [`Query::execute`] or a `fetch_*`.
#[must_use = "a query does nothing until it is executed or fetched"]
pub(crate) struct Query<'a> {
    text: Cow<'static, str>,
    args: Vec<Arg<'a>>,
}

/// A statement of fixed text, or one assembled at run time from the crate's own constants and
/// placeholders (never from input: values are always bound).
pub(crate) fn query<'a>(text: impl Into<Cow<'static, str>>) -> Query<'a> {
    Query {
        text: text.into(),
        args: Vec::new(),
    }
}

macro_rules! encode_all {
    ($db:ty, $args:expr) => {{
        let mut out = <$db as sqlx::Database>::Arguments::default();
        for arg in $args {
            match arg {
                Arg::Str(v) => out.add(v),
                Arg::String(v) => out.add(v),
                Arg::Int(v) => out.add(v),
                Arg::Bool(v) => out.add(v),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        out
    }};
}

impl<'a> Query<'a> {
    /// Binds the next `$n`.
    pub(crate) fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Binds each of `values` in turn (an `IN (…)` list).
    pub(crate) fn bind_all<V: Into<Arg<'a>>>(
        mut self,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.args.extend(values.into_iter().map(Into::into));
        self
    }

    fn sqlite(
        self,
    ) -> sqlx::Result<(
        AssertSqlSafe<Cow<'static, str>>,
        sqlx::sqlite::SqliteArguments,
    )> {
        Ok((AssertSqlSafe(self.text), encode_all!(Sqlite, self.args)))
    }

    fn postgres(
        self,
    ) -> sqlx::Result<(
        AssertSqlSafe<Cow<'static, str>>,
        sqlx::postgres::PgArguments,
    )> {
        Ok((AssertSqlSafe(self.text), encode_all!(Postgres, self.args)))
    }

    /// Runs the statement; returns how many rows it changed.
    pub(crate) async fn execute<'c>(self, on: impl Into<On<'c>>) -> sqlx::Result<u64> {
        Ok(match on.into() {
            On::SqlitePool(p) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_with(text, args)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            On::Sqlite(c) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_with(text, args)
                    .execute(c)
                    .await?
                    .rows_affected()
            }
            On::PgPool(p) => {
                let (text, args) = self.postgres()?;
                sqlx::query_with(text, args)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            On::Postgres(c) => {
                let (text, args) = self.postgres()?;
                sqlx::query_with(text, args)
                    .execute(c)
                    .await?
                    .rows_affected()
            }
        })
    }

    pub(crate) async fn fetch_optional<'c, R: Row>(
        self,
        on: impl Into<On<'c>>,
    ) -> sqlx::Result<Option<R>> {
        match on.into() {
            On::SqlitePool(p) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_as_with(text, args).fetch_optional(p).await
            }
            On::Sqlite(c) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_as_with(text, args).fetch_optional(c).await
            }
            On::PgPool(p) => {
                let (text, args) = self.postgres()?;
                sqlx::query_as_with(text, args).fetch_optional(p).await
            }
            On::Postgres(c) => {
                let (text, args) = self.postgres()?;
                sqlx::query_as_with(text, args).fetch_optional(c).await
            }
        }
    }

    pub(crate) async fn fetch_all<'c, R: Row>(self, on: impl Into<On<'c>>) -> sqlx::Result<Vec<R>> {
        match on.into() {
            On::SqlitePool(p) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_as_with(text, args).fetch_all(p).await
            }
            On::Sqlite(c) => {
                let (text, args) = self.sqlite()?;
                sqlx::query_as_with(text, args).fetch_all(c).await
            }
            On::PgPool(p) => {
                let (text, args) = self.postgres()?;
                sqlx::query_as_with(text, args).fetch_all(p).await
            }
            On::Postgres(c) => {
                let (text, args) = self.postgres()?;
                sqlx::query_as_with(text, args).fetch_all(c).await
            }
        }
    }

    pub(crate) async fn fetch_one<'c, R: Row>(self, on: impl Into<On<'c>>) -> sqlx::Result<R> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}
