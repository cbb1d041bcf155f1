//! The end-user verification flow (docs/verify.md "HTTP surface"): handoff, the device's hello,
//! each step's verdict, consent, the public status and the end-user cancel.
//!
//! Every write locks the session row, re-reads the attempt, expires an overdue session (and
//! commits only that), then lets `idgate-core` decide the transition and writes its result with
//! the events in one transaction. A step's write is also guarded by the attempt's vault version,
//! so of two racing uploads for the same step only one is recorded; the other is told
//! [`StoreError::StepRaced`] and answers from what the first recorded.

use idgate_core::{
    Attempt, AttemptId, AttemptPhase, ClientProgress, Event, FailureCode, Session, SessionId,
    Timestamp, TransitionError,
};
use subtle::ConstantTimeEq;

use crate::db::{Tx, query};
use crate::events::insert_events;
use crate::rows::{ATTEMPT_COLUMNS, AttemptRow, ts};
use crate::sessions::{
    close_open_attempts, expire_if_overdue, fetch_attempt, fetch_session_for_update,
    insert_attempt, save_attempt, save_session_state,
};
use crate::{Store, StoreError, StoreResult};

/// An attempt as its mobile client sees it, with the flow's private columns.
#[derive(Debug, Clone)]
pub struct MobileAttempt {
    pub session: Session,
    pub attempt: Attempt,
    /// Until when the token may make its first call (`hello`); `None` once used.
    pub token_expires_at: Option<Timestamp>,
    /// Keyed hash of the device id that said hello.
    pub device_hash: Option<String>,
    pub progress: Option<ClientProgress>,
    /// The sealed vault; `None` before hello and after the attempt ended.
    pub vault: Option<String>,
    /// Bumped by every write of a step: the guard against racing steps.
    pub vault_version: i64,
    /// The last step's recorded verdict (see the migration's comment); opaque to the store.
    pub last_verdict: Option<String>,
}

/// What a step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The check of phase `from` passed; the attempt moves on.
    Passed { from: AttemptPhase },
    /// A check rejected the upload with this code: a try is used.
    Failed(FailureCode),
    /// Nothing moves; only the vault changes (for example chip authentication was started).
    Unchanged,
}

/// What a step writes besides its transition.
#[derive(Debug, Clone, Default)]
pub struct StepRecord {
    /// Merged into the attempt's `checks` under this key (`document`, `face`).
    pub checks: Option<(&'static str, serde_json::Value)>,
    /// The new sealed vault, when the step changed it.
    pub vault: Option<String>,
}

/// The public status of a session (`GET /v1/verify/session/{id}/status`): its newest attempt
/// and what the phone last reported.
#[derive(Debug, Clone)]
pub struct PublicStatus {
    pub session: Session,
    pub attempt: Option<Attempt>,
    pub progress: Option<ClientProgress>,
}

const FLOW_COLUMNS: &str =
    "token_expires_at, device_hash, progress, vault, vault_version, last_verdict";

#[derive(Debug, sqlx::FromRow)]
struct FlowRow {
    #[sqlx(flatten)]
    attempt: AttemptRow,
    token_expires_at: Option<i64>,
    device_hash: Option<String>,
    progress: Option<String>,
    vault: Option<String>,
    vault_version: i64,
    last_verdict: Option<String>,
}

impl FlowRow {
    fn into_mobile(self, session: Session) -> StoreResult<MobileAttempt> {
        Ok(MobileAttempt {
            session,
            attempt: self.attempt.into_domain()?,
            token_expires_at: self.token_expires_at.map(ts).transpose()?,
            device_hash: self.device_hash,
            progress: progress(self.progress.as_deref())?,
            vault: self.vault,
            vault_version: self.vault_version,
            last_verdict: self.last_verdict,
        })
    }
}

fn progress(text: Option<&str>) -> StoreResult<Option<ClientProgress>> {
    text.map(|p| ClientProgress::parse(p).ok_or(StoreError::Corrupt("attempt progress")))
        .transpose()
}

async fn fetch_flow_row(tx: &mut Tx, id: &AttemptId) -> StoreResult<FlowRow> {
    query(format!(
        "SELECT {ATTEMPT_COLUMNS}, {FLOW_COLUMNS} FROM attempts WHERE id = $1{}",
        tx.dialect().for_update()
    ))
    .bind(id.as_str())
    .fetch_optional::<FlowRow>(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Opens a write transaction with the attempt's session locked and the attempt re-read under
/// that lock. An overdue session is expired and committed, and the caller gets `Overdue`.
async fn lock_attempt(
    store: &Store,
    attempt_id: &AttemptId,
    now: Timestamp,
) -> StoreResult<(Tx, Session, FlowRow)> {
    let mut tx = store.begin_write().await?;
    let probe = fetch_attempt(&mut tx, attempt_id, false)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut session = fetch_session_for_update(&mut tx, None, &probe.session_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expire_if_overdue(&mut tx, &mut session, now).await? {
        tx.commit().await?;
        return Err(TransitionError::Overdue.into());
    }
    let row = fetch_flow_row(&mut tx, attempt_id).await?;
    Ok((tx, session, row))
}

/// Runs one transition of the state machine on the attempt's session and persists it with
/// its events (the attempt's flow columns are the caller's).
async fn attempt_step<F>(
    store: &Store,
    attempt_id: &AttemptId,
    now: Timestamp,
    step: F,
) -> StoreResult<(Session, Attempt)>
where
    F: FnOnce(&mut Session, &mut Attempt) -> Result<Vec<Event>, TransitionError> + Send,
{
    let (mut tx, mut session, row) = lock_attempt(store, attempt_id, now).await?;
    let mut attempt = row.attempt.into_domain()?;
    let before = session.status;
    let events = step(&mut session, &mut attempt)?;
    save_session_state(&mut tx, &session, before).await?;
    save_attempt(&mut tx, &attempt).await?;
    insert_events(&mut tx, &events).await?;
    tx.commit().await?;
    Ok((session, attempt))
}

impl Store {
    /// A device starts an attempt and binds it at once (hand-off and hello in one step, for
    /// tools and tests that have no separate device); an older open attempt is closed.
    pub async fn start_attempt(
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

    /// The browser hands the flow to a phone: a new attempt whose bearer token is known by its
    /// keyed hash only, usable for a first call until `token_expires_at`. Older open attempts
    /// of the session are closed (docs/verify.md: a new handoff replaces an older attempt).
    pub async fn hand_off(
        &self,
        session_id: &SessionId,
        token_hash: &str,
        token_expires_at: Timestamp,
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
        let attempt = session.hand_off(now)?;
        close_open_attempts(&mut tx, &session.id, now).await?;
        insert_attempt(&mut tx, &attempt).await?;
        query("UPDATE attempts SET token_hash = $1, token_expires_at = $2 WHERE id = $3")
            .bind(token_hash)
            .bind(token_expires_at.unix_ms())
            .bind(attempt.id.as_str())
            .execute(&mut tx)
            .await?;
        save_session_state(&mut tx, &session, before).await?;
        tx.commit().await?;
        Ok((session, attempt))
    }

    /// The attempt whose bearer token has this keyed hash, with its session as stored (the
    /// caller applies expiry through the state machine's checks).
    pub async fn attempt_by_token(&self, token_hash: &str) -> StoreResult<MobileAttempt> {
        let row = query(format!(
            "SELECT {ATTEMPT_COLUMNS}, {FLOW_COLUMNS} FROM attempts WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional::<FlowRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let session_id = SessionId::parse(&row.attempt.session_id)
            .map_err(|_| StoreError::Corrupt("session id"))?;
        let session = query(format!(
            "SELECT {} FROM sessions WHERE id = $1",
            crate::rows::SESSION_COLUMNS
        ))
        .bind(session_id.as_str())
        .fetch_optional::<crate::rows::SessionRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()?;
        row.into_mobile(session)
    }

    /// `hello`: binds the attempt to the device (its keyed hash) and stores the first vault
    /// (the server's fresh challenges); the session becomes `in_progress`. A repeated hello from
    /// the same device returns the attempt unchanged; from another device it is refused.
    pub async fn bind_attempt(
        &self,
        attempt_id: &AttemptId,
        device_hash: &str,
        app_version: &str,
        vault: &str,
        now: Timestamp,
    ) -> StoreResult<MobileAttempt> {
        let (mut tx, mut session, row) = lock_attempt(self, attempt_id, now).await?;
        match row.device_hash.as_deref() {
            Some(bound) if bool::from(bound.as_bytes().ct_eq(device_hash.as_bytes())) => {
                tx.commit().await?;
                return row.into_mobile(session);
            }
            Some(_) => return Err(StoreError::DeviceMismatch),
            None => {}
        }
        let mut attempt = row.attempt.into_domain()?;
        let before = session.status;
        let events = session.bind(&mut attempt, now)?;
        save_session_state(&mut tx, &session, before).await?;
        save_attempt(&mut tx, &attempt).await?;
        query(
            "UPDATE attempts SET device_hash = $1, app_version = $2, vault = $3, token_expires_at = NULL, \
             vault_version = vault_version + 1 WHERE id = $4",
        )
        .bind(device_hash)
        .bind(app_version)
        .bind(vault)
        .bind(attempt_id.as_str())
        .execute(&mut tx)
        .await?;
        insert_events(&mut tx, &events).await?;
        let row = fetch_flow_row(&mut tx, attempt_id).await?;
        tx.commit().await?;
        row.into_mobile(session)
    }

    /// Records what the phone reports doing, for the browser's progress display.
    pub async fn set_progress(
        &self,
        attempt_id: &AttemptId,
        progress: ClientProgress,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (mut tx, session, row) = lock_attempt(self, attempt_id, now).await?;
        session.check_step(&row.attempt.into_domain()?, now)?;
        query("UPDATE attempts SET progress = $1, updated_at = $2 WHERE id = $3")
            .bind(progress.as_str())
            .bind(now.unix_ms())
            .bind(attempt_id.as_str())
            .execute(&mut tx)
            .await?;
        tx.note(crate::Change::Session(session.id.clone()));
        tx.commit().await?;
        Ok(())
    }

    /// Persists a step's verdict: the transition it decided, its checks, the new vault and the
    /// recorded verdict, only if no other step committed since the caller read `vault_version`.
    /// `last_verdict` renders the verdict to record from the session as this transition left it.
    pub async fn record_step(
        &self,
        attempt_id: &AttemptId,
        expected_version: i64,
        outcome: StepOutcome,
        record: StepRecord,
        last_verdict: impl FnOnce(&Session) -> Option<String> + Send,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        let (mut tx, mut session, row) = lock_attempt(self, attempt_id, now).await?;
        if row.vault_version != expected_version {
            return Err(StoreError::StepRaced);
        }
        let mut attempt = row.attempt.into_domain()?;
        let before = session.status;
        let events = match outcome {
            StepOutcome::Passed { from } => {
                session.advance(&mut attempt, from, now)?;
                Vec::new()
            }
            StepOutcome::Failed(code) => session.record_failure(&mut attempt, code, now)?,
            StepOutcome::Unchanged => {
                session.check_step(&attempt, now)?;
                Vec::new()
            }
        };
        if let (Some((key, value)), Some(map)) = (record.checks, attempt.checks.as_object_mut()) {
            map.insert(key.to_owned(), value);
        }
        save_session_state(&mut tx, &session, before).await?;
        save_attempt(&mut tx, &attempt).await?;
        write_flow_columns(
            &mut tx,
            &attempt,
            record.vault.as_deref(),
            last_verdict(&session).as_deref(),
        )
        .await?;
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok((session, attempt))
    }

    /// Consent after every check passed: the session succeeds; its event carries the selected
    /// keys, and the claims sealed by the caller ride with it until the webhook worker
    /// encrypts them to the integrator's key.
    pub async fn consent(
        &self,
        attempt_id: &AttemptId,
        expected_version: i64,
        selected_field_keys: &[String],
        seal_claims: impl FnOnce(&Event) -> String + Send,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        let (mut tx, mut session, row) = lock_attempt(self, attempt_id, now).await?;
        if row.vault_version != expected_version {
            return Err(StoreError::StepRaced);
        }
        let mut attempt = row.attempt.into_domain()?;
        let before = session.status;
        let events = session.succeed(&mut attempt, selected_field_keys, now)?;
        save_session_state(&mut tx, &session, before).await?;
        save_attempt(&mut tx, &attempt).await?;
        write_flow_columns(&mut tx, &attempt, None, None).await?;
        insert_events(&mut tx, &events).await?;
        if let Some(event) = events
            .iter()
            .find(|e| e.event_type == idgate_core::EventType::SessionSucceeded)
        {
            query("UPDATE events SET sealed_claims = $1 WHERE id = $2")
                .bind(seal_claims(event))
                .bind(event.id.as_str())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok((session, attempt))
    }

    /// A check rejected the attempt with `code` (see [`Session::record_failure`]), outside the
    /// mobile flow's guards (tools and tests).
    pub async fn record_attempt_failure(
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

    /// Moves an attempt past a passed step (see [`Session::advance`]), outside the mobile flow's
    /// guards (tools and tests).
    pub async fn advance_attempt(
        &self,
        attempt_id: &AttemptId,
        from: AttemptPhase,
        now: Timestamp,
    ) -> StoreResult<(Session, Attempt)> {
        attempt_step(self, attempt_id, now, |session, attempt| {
            session.advance(attempt, from, now).map(|()| Vec::new())
        })
        .await
    }

    /// All checks passed and the person consented (see [`Session::succeed`]), outside the
    /// mobile flow's guards (tools and tests).
    pub async fn complete_attempt(
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

    /// The session's public status and its newest attempt. An overdue session is expired
    /// first, so the page never shows a stale status.
    pub async fn public_status(
        &self,
        session_id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<PublicStatus> {
        let session = self.session_by_id_applying_expiry(session_id, now).await?;
        let row = query(format!(
            "SELECT {ATTEMPT_COLUMNS}, {FLOW_COLUMNS} FROM attempts WHERE session_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(session_id.as_str())
        .fetch_optional::<FlowRow>(&self.pool)
        .await?;
        let (attempt, progress) = match row {
            Some(row) => {
                let progress = progress(row.progress.as_deref())?;
                (Some(row.attempt.into_domain()?), progress)
            }
            None => (None, None),
        };
        Ok(PublicStatus {
            session,
            attempt,
            progress,
        })
    }

    /// The session by id alone (the end-user routes carry no tenant), expiring it if overdue.
    pub async fn session_by_id_applying_expiry(
        &self,
        session_id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Session> {
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, None, session_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        expire_if_overdue(&mut tx, &mut session, now).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The end-user cancel (`POST /v1/verify/session/{id}/cancel`): the one-shot token is
    /// compared in constant time; a session already ended answers [`StoreError::AlreadyEnded`].
    pub async fn cancel_by_end_user(
        &self,
        session_id: &SessionId,
        cancel_token: &str,
        now: Timestamp,
    ) -> StoreResult<Session> {
        let mut tx = self.begin_write().await?;
        let mut session = fetch_session_for_update(&mut tx, None, session_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !session.cancel_token_matches(cancel_token) {
            return Err(StoreError::CancelTokenMismatch);
        }
        if expire_if_overdue(&mut tx, &mut session, now).await? {
            tx.commit().await?;
            return Err(StoreError::AlreadyEnded);
        }
        let before = session.status;
        let events = match session.cancel(now) {
            Ok(events) => events,
            Err(TransitionError::Terminal(_)) => return Err(StoreError::AlreadyEnded),
            Err(other) => return Err(other.into()),
        };
        save_session_state(&mut tx, &session, before).await?;
        close_open_attempts(&mut tx, &session.id, now).await?;
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(session)
    }
}

async fn write_flow_columns(
    tx: &mut Tx,
    attempt: &Attempt,
    vault: Option<&str>,
    last_verdict: Option<&str>,
) -> StoreResult<()> {
    query(
        "UPDATE attempts SET vault = CASE WHEN status = 'in_progress' THEN COALESCE($1, vault) ELSE NULL END, \
         last_verdict = COALESCE($2, last_verdict), vault_version = vault_version + 1 WHERE id = $3",
    )
    .bind(vault)
    .bind(last_verdict)
    .bind(attempt.id.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
