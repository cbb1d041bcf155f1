//! Storage errors. Database details stay in the `source` chain for logs and never reach an API
//! message: the HTTP layer maps everything unexpected to the opaque 500.

use idgate_core::TransitionError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object for this tenant (another tenant's objects are reported the same way).
    #[error("not found")]
    NotFound,
    /// Erase of a session that is still `created` or `in_progress`.
    #[error("the session is not in a terminal state")]
    SessionNotTerminal,
    /// The idempotency key was used within 24 h for a request with another fingerprint.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// A `webhook_endpoint_id` named an endpoint this organization does not have.
    #[error("webhook endpoint not found")]
    WebhookEndpointNotFound,
    /// `starting_after` does not name an item of the list being paged.
    #[error("pagination cursor not found")]
    CursorNotFound,
    /// A uniqueness rule was violated (for example an organization id or key hash that exists).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// `hello` from a device other than the one the attempt is bound to.
    #[error("the attempt is bound to another device")]
    DeviceMismatch,
    /// Another step of the same attempt committed since the caller read it (the vault version
    /// moved): the caller re-reads and answers from what that step recorded.
    #[error("another step of the attempt committed first")]
    StepRaced,
    /// End-user cancel with a token other than the session's.
    #[error("wrong cancel token")]
    CancelTokenMismatch,
    /// End-user cancel of a session that already ended (the token is one-shot).
    #[error("the session already ended")]
    AlreadyEnded,
    /// The state machine refused the change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A stored value that the domain cannot represent (bad enum text, out-of-range time).
    #[error("stored data is invalid: {0}")]
    Corrupt(&'static str),
    #[error("invalid database URL")]
    InvalidUrl,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The SQLite transaction that carried a group of creates failed; each create of the group
    /// gets this (see `sqlite/group_commit.rs`).
    #[error("database error")]
    GroupCommit(#[source] std::sync::Arc<sqlx::Error>),
    /// A synchronous read of the SQLite backend failed (see `sqlite::Readers`).
    #[error("database read error")]
    SqliteRead(#[source] rusqlite::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::SqliteRead(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(e)
    }
}

impl StoreError {
    /// Whether the database refused a row because of a unique constraint.
    pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
        matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}
