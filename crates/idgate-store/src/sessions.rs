//! Sessions and their attempts: create (with idempotency), read, list, cancel, erase, expiry,
//! and the verify flow's transitions. Every state change runs the state machine of `idgate-core`
//! on the locked row and writes the new state, the attempt and the events it returned in one
//! transaction, guarded by the status it read (`save_session_state`); the writers of session
//! state and attempts announce the session's change with the commit (`changes.rs`).

use std::sync::LazyLock;

use idgate_core::idempotency::IDEMPOTENCY_TTL_SECS;
use idgate_core::{
    Attempt, AttemptId, DeliveryId, Page, PageRequest, Session, SessionFilter, SessionId,
    SessionStatus, Tenant, Timestamp, TransitionError,
};

use crate::changes::Change;
use crate::db::{Tx, query};
use crate::events::insert_events;
use crate::page::{TenantPage, cursor_or_error};
use crate::rows::{
    ATTEMPT_COLUMNS, AttemptRow, CursorRow, IdempotencyRow, SESSION_COLUMNS, SessionRow, json_text,
};
use crate::{CreateOutcome, NewIdempotencyRecord, Store, StoreError, StoreResult};

/// Overdue sessions expired per transaction when a list finds some.
const LIST_EXPIRY_BATCH: u32 = 500;

pub(crate) static SESSION_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND org_id = $2 AND environment = $3"
    )
});

pub(crate) async fn fetch_session_for_update(
    tx: &mut Tx,
    tenant: Option<&Tenant>,
    id: &SessionId,
) -> StoreResult<Option<Session>> {
    let row = match tenant {
        Some(t) => {
            query(format!("{}{}", *SESSION_BY_ID, tx.dialect().for_update()))
                .bind(id.as_str())
                .bind(t.org_id.as_str())
                .bind(t.environment.as_str())
                .fetch_optional::<SessionRow>(&mut *tx)
                .await?
        }
        None => {
            query(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1{}",
                tx.dialect().for_update()
            ))
            .bind(id.as_str())
            .fetch_optional::<SessionRow>(&mut *tx)
            .await?
        }
    };
    row.map(SessionRow::into_domain).transpose()
}

pub(crate) async fn fetch_attempt(
    tx: &mut Tx,
    id: &AttemptId,
    lock: bool,
) -> StoreResult<Option<Attempt>> {
    let lock = if lock { tx.dialect().for_update() } else { "" };
    query(format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1{lock}"
    ))
    .bind(id.as_str())
    .fetch_optional::<AttemptRow>(&mut *tx)
    .await?
    .map(AttemptRow::into_domain)
    .transpose()
}

/// Writes the mutable columns of `session`, only if the stored status is still `expected`: the
/// guard that keeps a racing writer from overwriting a state it did not see.
///
/// This helper and the three attempt writers below announce [`Change::Session`] with the
/// transaction: they are the only statements that change what the public status shows (besides
/// the phone's progress, `flow.rs`), so no transition can forget to wake the session's status
/// streams (docs/verify.md "Status stream").
pub(crate) async fn save_session_state(
    tx: &mut Tx,
    session: &Session,
    expected: SessionStatus,
) -> StoreResult<()> {
    let done = query(
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
    .execute(&mut *tx)
    .await?;
    if done == 1 {
        tx.note(Change::Session(session.id.clone()));
        Ok(())
    } else {
        Err(StoreError::Conflict("session changed concurrently"))
    }
}

/// Writes the mutable columns of `attempt`. An attempt that ended loses its vault in the same
/// statement (docs/verify.md "Privacy": wiped when the attempt ends).
pub(crate) async fn save_attempt(tx: &mut Tx, attempt: &Attempt) -> StoreResult<()> {
    query(
        "UPDATE attempts SET status = $1, failure_code = $2, phase = $3, checks = $4, updated_at = $5, completed_at = $6, \
         vault = CASE WHEN $1 = 'in_progress' THEN vault ELSE NULL END WHERE id = $7",
    )
    .bind(attempt.status.as_str())
    .bind(attempt.failure_code.map(|c| c.as_str()))
    .bind(attempt.phase.as_str())
    .bind(json_text(&attempt.checks))
    .bind(attempt.updated_at.unix_ms())
    .bind(attempt.completed_at.map(Timestamp::unix_ms))
    .bind(attempt.id.as_str())
    .execute(&mut *tx)
    .await?;
    tx.note(Change::Session(attempt.session_id.clone()));
    Ok(())
}

pub(crate) async fn insert_attempt(tx: &mut Tx, attempt: &Attempt) -> StoreResult<()> {
    query(
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
    .execute(&mut *tx)
    .await?;
    tx.note(Change::Session(attempt.session_id.clone()));
    Ok(())
}

/// Closes the session's open attempts as `cancelled` (session cancelled or expired, or replaced
/// by a newer attempt); mirrors [`Attempt::close_cancelled`].
pub(crate) async fn close_open_attempts(
    tx: &mut Tx,
    session_id: &SessionId,
    now: Timestamp,
) -> StoreResult<()> {
    query(
        "UPDATE attempts SET status = 'cancelled', phase = 'done', completed_at = $1, updated_at = $1, vault = NULL \
         WHERE session_id = $2 AND status = 'in_progress'",
    )
    .bind(now.unix_ms())
    .bind(session_id.as_str())
    .execute(&mut *tx)
    .await?;
    tx.note(Change::Session(session_id.clone()));
    Ok(())
}

/// Expires `session` if it is overdue, writing state, attempts and event. Returns whether it did.
pub(crate) async fn expire_if_overdue(
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
    let skip_locked = tx.dialect().for_update_skip_locked();
    let rows =
        match tenant {
            Some(t) => query(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE status IN ('created', 'in_progress') \
                 AND expires_at <= $1 AND org_id = $2 AND environment = $3 LIMIT $4{skip_locked}"
            ))
            .bind(now.unix_ms())
            .bind(t.org_id.as_str())
            .bind(t.environment.as_str())
            .bind(i64::from(batch))
            .fetch_all::<SessionRow>(&mut *tx)
            .await?,
            None => query(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE status IN ('created', 'in_progress') \
                 AND expires_at <= $1 LIMIT $2{skip_locked}"
            ))
            .bind(now.unix_ms())
            .bind(i64::from(batch))
            .fetch_all::<SessionRow>(&mut *tx)
            .await?,
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
pub(crate) async fn create_session_in(
    tx: &mut Tx,
    session: &Session,
    idempotency: Option<&NewIdempotencyRecord>,
) -> StoreResult<Option<CreateOutcome>> {
    if let Some(rec) = idempotency {
        let existing = query(format!(
            "SELECT fingerprint, response_body, created_at FROM idempotency_keys \
             WHERE org_id = $1 AND environment = $2 AND idem_key = $3{}",
            tx.dialect().for_update()
        ))
        .bind(session.org_id.as_str())
        .bind(session.environment.as_str())
        .bind(rec.key.as_str())
        .fetch_optional::<IdempotencyRow>(&mut *tx)
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
            query("DELETE FROM idempotency_keys WHERE org_id = $1 AND environment = $2 AND idem_key = $3")
                .bind(session.org_id.as_str())
                .bind(session.environment.as_str())
                .bind(rec.key.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    for endpoint in session.webhook_endpoint_id.endpoint_ids() {
        let found: Option<(String,)> = query(
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
    query(
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
        let inserted = query(
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

impl Store {
    /// Inserts a new session (built by [`Session::create`]) in one short transaction, together
    /// with the idempotency record if given. Named webhook endpoints must exist for the
    /// organization (`WebhookEndpointNotFound`). A live record with the same key answers
    /// `Replayed` (same fingerprint) or `IdempotencyKeyReused` (different one).
    pub async fn create_session(
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

    /// The session; a non-terminal session past `expires_at` is first persisted as `expired`
    /// with its event, so reads never show a stale status.
    pub async fn get_session(
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

    /// Newest first, keyset-paginated on `(created_at DESC, id DESC)`; overdue sessions of the
    /// tenant are expired (with events) before the page is read.
    pub async fn list_sessions(
        &self,
        tenant: &Tenant,
        filter: &SessionFilter,
        page: &PageRequest<SessionId>,
        now: Timestamp,
    ) -> StoreResult<Page<Session>> {
        // Reads never show a stale status: expire the tenant's overdue sessions first. The probe
        // is a read through (status, expires_at) that finds nothing when the sweeper keeps up.
        loop {
            let overdue: Option<(String,)> = query(
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

        let mut list = TenantPage::new("sessions", tenant);
        list.filter("status", "=", filter.status.map(|s| s.as_str()))
            .created_between(filter.created_from, filter.created_to);
        list.after(
            &self.pool,
            page.starting_after.as_ref().map(SessionId::as_str),
        )
        .await?;
        let sessions = list
            .fetch::<SessionRow>(&self.pool, SESSION_COLUMNS, page.limit)
            .await?
            .into_iter()
            .map(SessionRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(sessions, page.limit))
    }

    /// `created | in_progress → cancelled` (or `expired` if already overdue), closing the open
    /// attempt and writing the event in the same transaction. A terminal session is returned
    /// unchanged without an event; a cancel racing a completion never overwrites the terminal
    /// state. Returns the session as it is after the call.
    pub async fn cancel_session(
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

    /// Data-subject erasure of a terminal session: deletes the session and its attempts,
    /// blanks the payload of its events and cancels its unsent deliveries, claimed ones included;
    /// `SessionNotTerminal` otherwise. Returns the deliveries whose request was already on the
    /// wire (see `Store::begin_sends`): they cannot be recalled, and the caller waits for
    /// them with `Store::count_sending` before it reports the erase done.
    pub async fn erase_session(
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
        query("DELETE FROM attempts WHERE session_id = $1")
            .bind(id.as_str())
            .execute(&mut tx)
            .await?;
        let on_wire = crate::deliveries::cancel_session_deliveries(&mut tx, id, now).await?;
        query(
            "UPDATE events SET data = '{}', sealed_claims = NULL, erased_at = $1 WHERE session_id = $2 AND org_id = $3",
        )
        .bind(now.unix_ms())
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .execute(&mut tx)
        .await?;
        query("DELETE FROM idempotency_keys WHERE session_id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .execute(&mut tx)
            .await?;
        query("DELETE FROM sessions WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(on_wire)
    }

    /// The session's attempts, oldest first, keyset-paginated on `(created_at, id)`;
    /// `NotFound` if the session is not the tenant's. Applies expiry like `get_session`.
    pub async fn list_attempts(
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
                query(format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE session_id = $1 ORDER BY created_at, id LIMIT $2"
                ))
                .bind(session_id.as_str())
                .bind(fetch)
                .fetch_all::<AttemptRow>(&self.pool)
                .await?
            }
            Some(after) => {
                let cursor = query("SELECT created_at, id FROM attempts WHERE session_id = $1 AND id = $2")
                    .bind(session_id.as_str())
                    .bind(after.as_str())
                    .fetch_optional::<CursorRow>(&self.pool)
                    .await?;
                let (at, id) = cursor_or_error(cursor)?;
                query(format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE session_id = $1 AND (created_at, id) > ($2, $3) \
                     ORDER BY created_at, id LIMIT $4"
                ))
                .bind(session_id.as_str())
                .bind(at)
                .bind(id)
                .bind(fetch)
                .fetch_all::<AttemptRow>(&self.pool)
                .await?
            }
        };
        let attempts = rows
            .into_iter()
            .map(AttemptRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(attempts, page.limit))
    }

    /// The sweeper: expires up to `batch` overdue sessions (all tenants) with their events;
    /// returns how many. Safe to run on several nodes at once.
    pub async fn expire_overdue(&self, now: Timestamp, batch: u32) -> StoreResult<usize> {
        let mut tx = self.begin_write().await?;
        let n = expire_batch(&mut tx, None, now, batch).await?;
        // Idempotency records older than 24 h are dead weight; the sweeper owns their removal.
        query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now.unix_ms() - IDEMPOTENCY_TTL_SECS * 1000)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}
