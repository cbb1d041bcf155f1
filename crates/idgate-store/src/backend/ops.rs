// The one implementation of `Store`, compiled once per backend: `sqlite.rs` and `postgres.rs`
// each define `Db`, `Conn`, `This`, `FOR_UPDATE`, `SKIP_LOCKED` and `This::begin_write`, then
// `include!` this file. The SQL text is shared (both dialects accept `$n` placeholders, row-value
// comparisons and `RETURNING`); the lock clauses are the only dialect words, so the two backends
// cannot drift apart. Where the backends differ in how, not what, each defines the step:
// `read_api_key_by_hash` and `read_session` (the request path's point reads) and
// `try_create_session` (one transaction per create, or SQLite's group commit).

use idgate_core::idempotency::IDEMPOTENCY_TTL_SECS;
use idgate_core::{
    ApiKey, ApiKeyHash, ApiKeyId, ApiKeyPatch, Attempt, AttemptId, DeliveryId, Event, FailureCode,
    KeyAudience, Limit,
    OrgId,
    Organization, Page, PageRequest, Session, SessionFilter, SessionId, SessionStatus, Tenant,
    Timestamp, TransitionError,
};
use sqlx::AssertSqlSafe;

use crate::rows::{
    API_KEY_COLUMNS, ATTEMPT_COLUMNS, ApiKeyRow, AttemptRow, CursorRow, EVENT_COLUMNS, EventRow,
    IdempotencyRow, OrganizationRow, SESSION_COLUMNS, SessionRow, json_text, scopes_json,
};
use crate::changes::Change;
use crate::{CreateOutcome, NewIdempotencyRecord, Store, StoreError, StoreResult};

/// Authentication records a key's use at most this often, so reads do not become writes.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;
/// Overdue sessions expired per transaction when a list finds some.
const LIST_EXPIRY_BATCH: u32 = 500;

/// The point reads of every authenticated request: the key by its hash, then the session by id
/// within the tenant. Each backend runs them its fastest way (`read_api_key_by_hash`,
/// `read_session`); the text is the same for both.
static API_KEY_BY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1")
});
static SESSION_BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND org_id = $2 AND environment = $3")
});

fn sql(text: String) -> AssertSqlSafe<String> {
    AssertSqlSafe(text)
}

/// One bound value of a dynamically assembled query.
enum Bind {
    Text(String),
    Int(i64),
}

/// Runs a dynamically assembled `SELECT` of `R` with its binds.
async fn fetch_all_bound<R>(pool: &sqlx::Pool<Db>, text: String, binds: Vec<Bind>) -> StoreResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    let mut query = sqlx::query_as::<_, R>(sql(text));
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
        };
    }
    Ok(query.fetch_all(pool).await?)
}

/// A page of one tenant's rows of `table`, newest first, with optional filters: the shape of
/// every list of the API (docs/api.md "Pagination"). The cursor is the `(created_at, id)` of the
/// `starting_after` row, looked up within the same tenant (so another tenant's id is
/// `CursorNotFound`, like an unknown one), and the page over-fetches one row to learn `has_more`.
/// With the `(org_id, environment, created_at DESC, id DESC)` indexes a page costs O(limit),
/// whatever the table's size.
struct TenantPage {
    table: &'static str,
    tenant: Tenant,
    clauses: String,
    binds: Vec<Bind>,
}

impl TenantPage {
    fn new(table: &'static str, tenant: &Tenant) -> Self {
        Self {
            table,
            tenant: tenant.clone(),
            clauses: String::from("org_id = $1 AND environment = $2"),
            binds: vec![
                Bind::Text(tenant.org_id.to_string()),
                Bind::Text(tenant.environment.as_str().to_owned()),
            ],
        }
    }

    /// Adds `AND <column> <op> $n` for a present value.
    fn filter(&mut self, column: &str, op: &str, value: Option<Bind>) -> &mut Self {
        if let Some(value) = value {
            self.binds.push(value);
            let n = self.binds.len();
            self.clauses.push_str(&format!(" AND {column} {op} ${n}"));
        }
        self
    }

    /// `created_from`/`created_to` as inclusive bounds.
    fn created_between(&mut self, from: Option<Timestamp>, to: Option<Timestamp>) -> &mut Self {
        self.filter("created_at", ">=", from.map(|t| Bind::Int(t.unix_ms())))
            .filter("created_at", "<=", to.map(|t| Bind::Int(t.unix_ms())))
    }

    /// Starts after the row `id` of the same tenant.
    async fn after(&mut self, pool: &sqlx::Pool<Db>, id: Option<&str>) -> StoreResult<()> {
        let Some(id) = id else { return Ok(()) };
        let cursor = sqlx::query_as::<_, CursorRow>(sql(format!(
            "SELECT created_at, id FROM {} WHERE id = $1 AND org_id = $2 AND environment = $3",
            self.table
        )))
        .bind(id)
        .bind(self.tenant.org_id.as_str())
        .bind(self.tenant.environment.as_str())
        .fetch_optional(pool)
        .await?;
        let (at, id) = cursor_or_error(cursor)?;
        self.binds.push(Bind::Int(at));
        self.binds.push(Bind::Text(id));
        let (a, b) = (self.binds.len() - 1, self.binds.len());
        self.clauses.push_str(&format!(" AND (created_at, id) < (${a}, ${b})"));
        Ok(())
    }

    /// The rows of the page plus one, if there is a next page.
    async fn fetch<R>(mut self, pool: &sqlx::Pool<Db>, columns: &str, limit: Limit) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        self.binds.push(Bind::Int(i64::from(limit.get()) + 1));
        let text = format!(
            "SELECT {columns} FROM {} WHERE {} ORDER BY created_at DESC, id DESC LIMIT ${}",
            self.table,
            self.clauses,
            self.binds.len()
        );
        fetch_all_bound(pool, text, self.binds).await
    }
}


async fn fetch_session_for_update(
    conn: &mut Conn,
    tenant: Option<&Tenant>,
    id: &SessionId,
) -> StoreResult<Option<Session>> {
    let row = match tenant {
        Some(t) => {
            sqlx::query_as::<_, SessionRow>(sql(format!("{}{FOR_UPDATE}", *SESSION_BY_ID)))
            .bind(id.as_str())
            .bind(t.org_id.as_str())
            .bind(t.environment.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as::<_, SessionRow>(sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1{FOR_UPDATE}"
            )))
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.map(SessionRow::into_domain).transpose()
}

async fn fetch_attempt(
    conn: &mut Conn,
    id: &AttemptId,
    lock: bool,
) -> StoreResult<Option<Attempt>> {
    let lock = if lock { FOR_UPDATE } else { "" };
    sqlx::query_as::<_, AttemptRow>(sql(format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1{lock}"
    )))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .map(AttemptRow::into_domain)
    .transpose()
}

/// Writes the mutable columns of `session`, only if the stored status is still `expected`: the
/// guard that keeps a racing writer from overwriting a state it did not see.
async fn save_session_state(
    conn: &mut Conn,
    session: &Session,
    expected: SessionStatus,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE sessions SET status = $1, failure_code = $2, nfc_tries_used = $3, liveness_tries_used = $4, \
         completed_at = $5, updated_at = $6 WHERE id = $7 AND status = $8",
    )
    .bind(session.status.as_str())
    .bind(session.failure_code.map(|c| c.as_str()))
    .bind(i64::from(session.nfc_tries_used))
    .bind(i64::from(session.liveness_tries_used))
    .bind(session.completed_at.map(Timestamp::unix_ms))
    .bind(session.updated_at.unix_ms())
    .bind(session.id.as_str())
    .bind(expected.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict("session changed concurrently"))
    }
}

async fn save_attempt(conn: &mut Conn, attempt: &Attempt) -> StoreResult<()> {
    sqlx::query(
        "UPDATE attempts SET status = $1, failure_code = $2, phase = $3, updated_at = $4, completed_at = $5 WHERE id = $6",
    )
    .bind(attempt.status.as_str())
    .bind(attempt.failure_code.map(|c| c.as_str()))
    .bind(attempt.phase.as_str())
    .bind(attempt.updated_at.unix_ms())
    .bind(attempt.completed_at.map(Timestamp::unix_ms))
    .bind(attempt.id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_attempt(conn: &mut Conn, attempt: &Attempt) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attempts (id, session_id, status, failure_code, phase, created_at, updated_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(attempt.id.as_str())
    .bind(attempt.session_id.as_str())
    .bind(attempt.status.as_str())
    .bind(attempt.failure_code.map(|c| c.as_str()))
    .bind(attempt.phase.as_str())
    .bind(attempt.created_at.unix_ms())
    .bind(attempt.updated_at.unix_ms())
    .bind(attempt.completed_at.map(Timestamp::unix_ms))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes the session's open attempts as `cancelled` (session cancelled or expired, or replaced
/// by a newer attempt); mirrors [`Attempt::close_cancelled`].
async fn close_open_attempts(
    conn: &mut Conn,
    session_id: &SessionId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE attempts SET status = 'cancelled', phase = 'done', completed_at = $1, updated_at = $1 \
         WHERE session_id = $2 AND status = 'in_progress'",
    )
    .bind(now.unix_ms())
    .bind(session_id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The outbox write. Every event of the system passes here, inside the transaction of its state
/// change, together with its webhook delivery rows (`delivery_queue::fan_out`), so a crash can
/// neither lose a delivery nor produce one for a change that did not commit.
async fn insert_events(tx: &mut Tx, events: &[Event]) -> StoreResult<()> {
    for (seq, e) in (0_i64..).zip(events) {
        sqlx::query(
            "INSERT INTO events (id, org_id, environment, session_id, attempt_id, type, created_at, data, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id.as_str())
        .bind(e.org_id.as_str())
        .bind(e.environment.as_str())
        .bind(e.session_id.as_str())
        .bind(e.attempt_id.as_ref().map(AttemptId::as_str))
        .bind(e.event_type.as_str())
        .bind(e.created_at.unix_ms())
        .bind(json_text(&e.data))
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        tx.note(Change::Session(e.session_id.clone()));
    }
    delivery_queue::fan_out(tx, events).await
}

/// Expires `session` if it is overdue, writing state, attempts and event. Returns whether it did.
async fn expire_if_overdue(
    tx: &mut Tx,
    session: &mut Session,
    now: Timestamp,
) -> StoreResult<bool> {
    if !session.is_overdue(now) {
        return Ok(false);
    }
    let before = session.status;
    let events = session.expire(now)?;
    save_session_state(tx, session, before).await?;
    close_open_attempts(tx, &session.id, now).await?;
    insert_events(tx, &events).await?;
    Ok(true)
}

/// Loads, for update, the overdue sessions matching an optional tenant and expires them.
async fn expire_batch(
    tx: &mut Tx,
    tenant: Option<&Tenant>,
    now: Timestamp,
    batch: u32,
) -> StoreResult<usize> {
    let rows = match tenant {
        Some(t) => {
            sqlx::query_as::<_, SessionRow>(sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE status IN ('created', 'in_progress') \
                 AND expires_at <= $1 AND org_id = $2 AND environment = $3 LIMIT $4{FOR_UPDATE}{SKIP_LOCKED}"
            )))
            .bind(now.unix_ms())
            .bind(t.org_id.as_str())
            .bind(t.environment.as_str())
            .bind(i64::from(batch))
            .fetch_all(&mut **tx)
            .await?
        }
        None => {
            sqlx::query_as::<_, SessionRow>(sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE status IN ('created', 'in_progress') \
                 AND expires_at <= $1 LIMIT $2{FOR_UPDATE}{SKIP_LOCKED}"
            )))
            .bind(now.unix_ms())
            .bind(i64::from(batch))
            .fetch_all(&mut **tx)
            .await?
        }
    };
    let mut expired = 0;
    for row in rows {
        let mut session = row.into_domain()?;
        if expire_if_overdue(tx, &mut session, now).await? {
            expired += 1;
        }
    }
    Ok(expired)
}

/// The statements of a create, inside a write transaction the caller owns and ends: inserts the
/// session and its idempotency record, or finds the record to replay. Only `Created` wrote
/// anything to keep; on any other outcome the caller rolls back what this did. `Ok(None)` when a
/// concurrent request inserted the same idempotency key first (the caller retries and then finds
/// that record).
async fn create_session_in(
    tx: &mut Conn,
    session: &Session,
    idempotency: Option<&NewIdempotencyRecord>,
) -> StoreResult<Option<CreateOutcome>> {
    if let Some(rec) = idempotency {
        let existing = sqlx::query_as::<_, IdempotencyRow>(sql(format!(
            "SELECT fingerprint, response_body, created_at FROM idempotency_keys \
             WHERE org_id = $1 AND environment = $2 AND idem_key = $3{FOR_UPDATE}"
        )))
        .bind(session.org_id.as_str())
        .bind(session.environment.as_str())
        .bind(rec.key.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            let live_until = existing
                .created_at
                .saturating_add(IDEMPOTENCY_TTL_SECS * 1000);
            if rec.created_at.unix_ms() < live_until {
                return if existing.fingerprint == rec.fingerprint.as_str() {
                    Ok(Some(CreateOutcome::Replayed {
                        response_body: existing.response_body,
                    }))
                } else {
                    Err(StoreError::IdempotencyKeyReused)
                };
            }
            sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND environment = $2 AND idem_key = $3")
                .bind(session.org_id.as_str())
                .bind(session.environment.as_str())
                .bind(rec.key.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    for endpoint in session.webhook_endpoint_id.endpoint_ids() {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3",
        )
        .bind(endpoint.as_str())
        .bind(session.org_id.as_str())
        .bind(session.environment.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(StoreError::WebhookEndpointNotFound);
        }
    }
    sqlx::query(
        "INSERT INTO sessions (id, org_id, environment, status, failure_code, nfc_tries_used, liveness_tries_used, \
         contract_version, share_fields, redirect_url, webhook_endpoint_id, metadata, cancel_token, expires_at, \
         completed_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(session.id.as_str())
    .bind(session.org_id.as_str())
    .bind(session.environment.as_str())
    .bind(session.status.as_str())
    .bind(session.failure_code.map(|c| c.as_str()))
    .bind(i64::from(session.nfc_tries_used))
    .bind(i64::from(session.liveness_tries_used))
    .bind(i64::from(session.contract_version))
    .bind(json_text(&session.share_fields))
    .bind(session.redirect_url.as_deref())
    .bind(json_text(&session.webhook_endpoint_id))
    .bind(json_text(&session.metadata))
    .bind(session.cancel_token.expose().as_str())
    .bind(session.expires_at.unix_ms())
    .bind(session.completed_at.map(Timestamp::unix_ms))
    .bind(session.created_at.unix_ms())
    .bind(session.updated_at.unix_ms())
    .execute(&mut *tx)
    .await
    .map_err(|e| if StoreError::is_unique_violation(&e) { StoreError::Conflict("session id exists") } else { e.into() })?;
    if let Some(rec) = idempotency {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (org_id, environment, idem_key, fingerprint, response_body, session_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.org_id.as_str())
        .bind(session.environment.as_str())
        .bind(rec.key.as_str())
        .bind(rec.fingerprint.as_str())
        .bind(rec.response_body.as_str())
        .bind(session.id.as_str())
        .bind(rec.created_at.unix_ms())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if StoreError::is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(CreateOutcome::Created))
}

/// Runs one verify-flow transition on the attempt's session: lock the session, re-read the
/// attempt, expire an overdue session (committing that) or apply `step` and persist its result.
async fn attempt_step<F>(
    store: &This,
    attempt_id: &AttemptId,
    now: Timestamp,
    step: F,
) -> StoreResult<(Session, Attempt)>
where
    F: FnOnce(&mut Session, &mut Attempt) -> Result<Vec<Event>, TransitionError> + Send,
{
    let mut tx = store.begin_write().await?;
    let probe = fetch_attempt(&mut tx, attempt_id, false)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut session = fetch_session_for_update(&mut tx, None, &probe.session_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut attempt = fetch_attempt(&mut tx, attempt_id, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expire_if_overdue(&mut tx, &mut session, now).await? {
        tx.commit().await?;
        return Err(TransitionError::Overdue.into());
    }
    let before = session.status;
    let events = step(&mut session, &mut attempt)?;
    save_session_state(&mut tx, &session, before).await?;
    save_attempt(&mut tx, &attempt).await?;
    insert_events(&mut tx, &events).await?;
    tx.commit().await?;
    Ok((session, attempt))
}

/// The audience's environments as the two values of an `environment IN ($a, $b)` clause (the
/// single environment twice when there is one), so the SQL text is the same for every caller.
fn audience_environments(audience: &KeyAudience) -> (&'static str, &'static str) {
    let envs = audience.environments();
    let first = envs.first().map_or("", |e| e.as_str());
    let last = envs.last().map_or("", |e| e.as_str());
    (first, last)
}

/// `(created_at, id)` of the cursor item, `CursorNotFound` if it is not in the list.
fn cursor_or_error(row: Option<CursorRow>) -> StoreResult<(i64, String)> {
    row.map(|r| (r.created_at, r.id))
        .ok_or(StoreError::CursorNotFound)
}

impl Store for This {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(org.created_at.unix_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if StoreError::is_unique_violation(&e) {
                    StoreError::Conflict("organization exists")
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    async fn get_organization(&self, id: &OrgId) -> StoreResult<Organization> {
        sqlx::query_as::<_, OrganizationRow>(
            "SELECT id, name, created_at FROM organizations WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        sqlx::query_as::<_, OrganizationRow>(
            "SELECT id, name, created_at FROM organizations ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OrganizationRow::into_domain)
        .collect()
    }

    async fn create_api_key(&self, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, name, environment, scopes, enabled, key_hash, key_prefix, created_at, \
             updated_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(key.id.as_str())
        .bind(key.org_id.as_str())
        .bind(key.name.as_str())
        .bind(key.environment.as_str())
        .bind(scopes_json(&key.scopes))
        .bind(key.enabled)
        .bind(hash.as_str())
        .bind(key.key_prefix.as_str())
        .bind(key.created_at.unix_ms())
        .bind(key.updated_at.unix_ms())
        .bind(key.last_used_at.map(Timestamp::unix_ms))
        .execute(&self.pool)
        .await
        .map_err(|e| if StoreError::is_unique_violation(&e) { StoreError::Conflict("api key exists") } else { e.into() })?;
        Ok(())
    }

    async fn list_api_keys(
        &self,
        audience: &KeyAudience,
        page: &PageRequest<ApiKeyId>,
    ) -> StoreResult<Page<ApiKey>> {
        let fetch = i64::from(page.limit.get()) + 1;
        let (env_a, env_b) = audience_environments(audience);
        let rows = match &page.starting_after {
            None => {
                sqlx::query_as::<_, ApiKeyRow>(sql(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                )))
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            Some(after) => {
                let cursor = sqlx::query_as::<_, CursorRow>(
                    "SELECT created_at, id FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4",
                )
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(after.as_str())
                .fetch_optional(&self.pool)
                .await?;
                let (at, id) = cursor_or_error(cursor)?;
                sqlx::query_as::<_, ApiKeyRow>(sql(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) \
                     AND (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT $6"
                )))
                .bind(audience.org_id.as_str())
                .bind(env_a)
                .bind(env_b)
                .bind(at)
                .bind(id)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let keys = rows
            .into_iter()
            .map(ApiKeyRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(keys, page.limit))
    }

    async fn get_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<ApiKey> {
        let (env_a, env_b) = audience_environments(audience);
        sqlx::query_as::<_, ApiKeyRow>(sql(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4"
        )))
        .bind(audience.org_id.as_str())
        .bind(env_a)
        .bind(env_b)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    async fn update_api_key(
        &self,
        audience: &KeyAudience,
        id: &ApiKeyId,
        patch: &ApiKeyPatch,
        now: Timestamp,
    ) -> StoreResult<ApiKey> {
        let (env_a, env_b) = audience_environments(audience);
        let updated = sqlx::query_as::<_, ApiKeyRow>(sql(format!(
            "UPDATE api_keys SET name = COALESCE($1, name), scopes = COALESCE($2, scopes), \
             enabled = COALESCE($3, enabled), updated_at = $4 \
             WHERE org_id = $5 AND environment IN ($6, $7) AND id = $8 RETURNING {API_KEY_COLUMNS}"
        )))
        .bind(patch.name.as_deref())
        .bind(patch.scopes.as_ref().map(scopes_json))
        .bind(patch.enabled)
        .bind(now.unix_ms())
        .bind(audience.org_id.as_str())
        .bind(env_a)
        .bind(env_b)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await;
        self.keys.clear();
        updated?.ok_or(StoreError::NotFound)?.into_domain()
    }

    async fn delete_api_key(&self, audience: &KeyAudience, id: &ApiKeyId) -> StoreResult<()> {
        let (env_a, env_b) = audience_environments(audience);
        let done = sqlx::query(
            "DELETE FROM api_keys WHERE org_id = $1 AND environment IN ($2, $3) AND id = $4",
        )
        .bind(audience.org_id.as_str())
        .bind(env_a)
        .bind(env_b)
        .bind(id.as_str())
        .execute(&self.pool)
        .await;
        self.keys.clear();
        if done?.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn authenticate_api_key(
        &self,
        hash: &ApiKeyHash,
        now: Timestamp,
    ) -> StoreResult<Option<ApiKey>> {
        let read_started = self.keys.generation();
        let (key, cached) = match self.keys.get(hash) {
            Some(key) => (key, true),
            None => match self.read_api_key_by_hash(hash).await? {
                Some(row) => (row.into_domain()?, false),
                None => return Ok(None),
            },
        };
        let stale = key
            .last_used_at
            .is_none_or(|t| t.unix_ms() < now.unix_ms() - LAST_USED_GRANULARITY_MS);
        if !(key.enabled && stale) {
            if !cached {
                self.keys.insert(read_started, hash.clone(), key.clone());
            }
            return Ok(Some(key));
        }
        // Record the use and cache the row as the database has it after the write, never the
        // copy in hand: that copy may be a cached one another node has since changed or deleted.
        let recorded = sqlx::query_as::<_, ApiKeyRow>(sql(format!(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3) RETURNING {API_KEY_COLUMNS}"
        )))
        .bind(now.unix_ms())
        .bind(key.id.as_str())
        .bind(now.unix_ms() - LAST_USED_GRANULARITY_MS)
        .fetch_optional(&self.pool)
        .await?;
        // No row: the key is gone, or another node recorded a use within the minute; the
        // database's current row (if any) decides.
        let row = match recorded {
            Some(row) => Some(row),
            None => self.read_api_key_by_hash(hash).await?,
        };
        let Some(row) = row else {
            self.keys.remove(hash);
            return Ok(None);
        };
        let key = row.into_domain()?;
        self.keys.insert(read_started, hash.clone(), key.clone());
        Ok(Some(key))
    }

    async fn create_session(
        &self,
        session: &Session,
        idempotency: Option<&NewIdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        // A second pass only happens when a concurrent request with the same key committed
        // between our lookup and our insert; the second pass then finds its record.
        for _ in 0..2 {
            if let Some(outcome) = self.try_create_session(session, idempotency).await? {
                return Ok(outcome);
            }
        }
        Err(StoreError::Conflict("idempotency key contended"))
    }

    async fn get_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Session> {
        let session = self
            .read_session(tenant, id)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()?;
        if !session.is_overdue(now) {
            return Ok(session);
        }
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, Some(tenant), id)
            .await?
            .ok_or(StoreError::NotFound)?;
        expire_if_overdue(&mut tx, &mut session, now).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn list_sessions(
        &self,
        tenant: &Tenant,
        filter: &SessionFilter,
        page: &PageRequest<SessionId>,
        now: Timestamp,
    ) -> StoreResult<Page<Session>> {
        // Reads never show a stale status: expire the tenant's overdue sessions first. The probe
        // is a read through (status, expires_at) that finds nothing when the sweeper keeps up.
        loop {
            let overdue: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM sessions WHERE status IN ('created', 'in_progress') AND expires_at <= $1 \
                 AND org_id = $2 AND environment = $3 LIMIT 1",
            )
            .bind(now.unix_ms())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .fetch_optional(&self.pool)
            .await?;
            if overdue.is_none() {
                break;
            }
            let mut tx = self.begin_write().await?;
            let n = expire_batch(&mut tx, Some(tenant), now, LIST_EXPIRY_BATCH).await?;
            tx.commit().await?;
            if n == 0 {
                break;
            }
        }

        let mut query = TenantPage::new("sessions", tenant);
        query
            .filter("status", "=", filter.status.map(|s| Bind::Text(s.as_str().to_owned())))
            .created_between(filter.created_from, filter.created_to);
        query
            .after(&self.pool, page.starting_after.as_ref().map(SessionId::as_str))
            .await?;
        let sessions = query
            .fetch::<SessionRow>(&self.pool, SESSION_COLUMNS, page.limit)
            .await?
            .into_iter()
            .map(SessionRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(sessions, page.limit))
    }

    async fn cancel_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Session> {
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, Some(tenant), id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let before = session.status;
        match session.cancel(now) {
            Ok(events) => {
                save_session_state(&mut tx, &session, before).await?;
                close_open_attempts(&mut tx, &session.id, now).await?;
                insert_events(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(session)
            }
            Err(TransitionError::Terminal(_)) => {
                tx.rollback().await?;
                Ok(session)
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn erase_session(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>> {
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, Some(tenant), id)
            .await?
            .ok_or(StoreError::NotFound)?;
        expire_if_overdue(&mut tx, &mut session, now).await?;
        if !session.status.is_terminal() {
            tx.rollback().await?;
            return Err(StoreError::SessionNotTerminal);
        }
        sqlx::query("DELETE FROM attempts WHERE session_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let on_wire = delivery_queue::cancel_session_deliveries(&mut tx, id, now).await?;
        sqlx::query(
            "UPDATE events SET data = '{}', erased_at = $1 WHERE session_id = $2 AND org_id = $3",
        )
        .bind(now.unix_ms())
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE session_id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(on_wire)
    }

    async fn list_attempts(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
        page: &PageRequest<AttemptId>,
        now: Timestamp,
    ) -> StoreResult<Page<Attempt>> {
        // Through get_session so that an overdue session's open attempt is closed first.
        self.get_session(tenant, session_id, now).await?;
        let fetch = i64::from(page.limit.get()) + 1;
        let rows = match &page.starting_after {
            None => {
                sqlx::query_as::<_, AttemptRow>(sql(format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE session_id = $1 ORDER BY created_at, id LIMIT $2"
                )))
                .bind(session_id.as_str())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            Some(after) => {
                let cursor = sqlx::query_as::<_, CursorRow>("SELECT created_at, id FROM attempts WHERE session_id = $1 AND id = $2")
                    .bind(session_id.as_str())
                    .bind(after.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                let (at, id) = cursor_or_error(cursor)?;
                sqlx::query_as::<_, AttemptRow>(sql(format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE session_id = $1 AND (created_at, id) > ($2, $3) \
                     ORDER BY created_at, id LIMIT $4"
                )))
                .bind(session_id.as_str())
                .bind(at)
                .bind(id)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let attempts = rows
            .into_iter()
            .map(AttemptRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(attempts, page.limit))
    }

    async fn list_session_events(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
    ) -> StoreResult<Vec<Event>> {
        sqlx::query_as::<_, EventRow>(sql(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE session_id = $1 AND org_id = $2 AND environment = $3 \
             ORDER BY created_at, seq, id"
        )))
        .bind(session_id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(EventRow::into_domain)
        .collect()
    }

    async fn expire_overdue(&self, now: Timestamp, batch: u32) -> StoreResult<usize> {
        let mut tx = self.begin_write().await?;
        let n = expire_batch(&mut tx, None, now, batch).await?;
        // Idempotency records older than 24 h are dead weight; the sweeper owns their removal.
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now.unix_ms() - IDEMPOTENCY_TTL_SECS * 1000)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn start_attempt(
        &self,
        session_id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, None, session_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if expire_if_overdue(&mut tx, &mut session, now).await? {
            tx.commit().await?;
            return Err(TransitionError::Overdue.into());
        }
        let before = session.status;
        let (attempt, events) = session.start_attempt(now)?;
        close_open_attempts(&mut tx, &session.id, now).await?;
        insert_attempt(&mut tx, &attempt).await?;
        save_session_state(&mut tx, &session, before).await?;
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok((session, attempt))
    }

    async fn record_attempt_failure(
        &self,
        attempt_id: &AttemptId,
        code: FailureCode,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        attempt_step(self, attempt_id, now, |session, attempt| {
            session.record_failure(attempt, code, now)
        })
        .await
    }

    async fn complete_attempt(
        &self,
        attempt_id: &AttemptId,
        selected_field_keys: &[String],
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        attempt_step(self, attempt_id, now, |session, attempt| {
            session.succeed(attempt, selected_field_keys, now)
        })
        .await
    }
}
