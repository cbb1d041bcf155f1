//! The webhook delivery queue (docs/webhooks.md "Delivery guarantees"): the outbox rows written by
//! `events::fan_out` inside every event's transaction, and the operations the delivery worker
//! runs on them — claim due deliveries under a lease, record what an attempt did, give leases
//! back, unblock deliveries when a key appears, and purge old payloads.
//!
//! Why leases rather than a status `sending`: a worker that crashes mid-send leaves a row whose
//! lease simply expires, after which any worker claims it again. Nothing has to notice the crash,
//! so a delivery is delayed by at most one lease period but never stranded (a `sending` status
//! would leave rows stuck after a restart). Claiming is `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so nodes take disjoint batches without waiting on each other, and one
//! `BEGIN IMMEDIATE` writer on SQLite. An attempt is recorded only while its lease is still held
//! (`lease_owner` guard), so a worker that lost its lease cannot overwrite the newer owner's
//! result.
//!
//! Costs: a claim is O(log n + batch) through `(status, next_attempt_at)`; recording a batch of
//! k outcomes is one transaction of O(k log n) writes.
//!
//! The tenant's view of the same rows (list, get, retry) is here too: one aggregate, one module.

use idgate_core::{
    Delivery, DeliveryFilter, DeliveryId, DeliveryStatus, EncryptionKeyId, EndpointId, Event,
    EventId, Page, PageRequest, SessionId, Tenant, Timestamp,
};

use crate::changes::Change;
use crate::db::{On, Pool, Tx, query};
use crate::page::TenantPage;
use crate::rows::{AttemptRecordRow, DELIVERY_COLUMNS, DeliveryRow, EventRow, ts};
use crate::{Store, StoreError, StoreResult};

/// Default retention of event payloads once all their deliveries are final (7 days).
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3_600_000;
/// An endpoint failing without a single success for this long is disabled
/// (docs/webhooks.md "Delivery guarantees").
pub const DEFAULT_DISABLE_AFTER_MS: i64 = 3 * 24 * 3_600_000;
/// `disabled_reason` of an endpoint disabled by continuous failure.
pub const DISABLED_REASON_FAILING: &str = "failing";

/// Where a claimed delivery goes: the endpoint's URL and its sealed signing secrets (opened by
/// the server with its key-encryption key; the store never sees them in the clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEndpoint {
    pub id: EndpointId,
    pub url: String,
    pub secret_sealed: String,
    /// The secret replaced by the last rotation, still signing until `previous_secret_expires_at`.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
}

/// The endpoint's active encryption key at claim time (public material only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKey {
    pub id: EncryptionKeyId,
    /// The integrator's `kid`; the JWE header carries it, else the key id.
    pub kid: Option<String>,
    /// The RSA public key as a JWK (`kty`, `n`, `e`).
    pub jwk: String,
}

/// One delivery a worker holds the lease of, with everything needed to render, encrypt, sign
/// and send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    /// Attempts made before this one.
    pub attempt_count: u32,
    /// Where the retry window (3 days) counts from: the delivery's creation, or the manual
    /// retry or key release that last made it due, so such a delivery gets a whole window.
    pub retry_window_start: Timestamp,
    pub lease_expires_at: Timestamp,
    pub event: Event,
    /// The claims of a succeeded session, sealed by the server (see the `events.sealed_claims`
    /// column); the worker opens them only to encrypt them to the integrator's key.
    pub sealed_claims: Option<String>,
    /// The share contract version of the session (payload `metadata.contract_version`).
    pub contract_version: u32,
    pub endpoint: DeliveryEndpoint,
    pub key: DeliveryKey,
}

/// What one attempt did, as kept in `webhook_delivery_attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub started_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// At most the first 1 KiB of the response body, lossily decoded.
    pub response_body: Option<String>,
    /// A stable label (`timeout`, `connect`, `refused`, `dns`, …), never a message with data.
    pub error_kind: Option<String>,
}

/// What the attempt means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: `succeeded`.
    Succeeded,
    /// Retryable: stays `pending`, due again at this time.
    RetryAt(Timestamp),
    /// Not worth retrying, or the retry window is exhausted: `failed`.
    Failed,
}

/// One outcome to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub record: AttemptRecord,
    pub outcome: AttemptOutcome,
}

/// What recording one outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written; `endpoint_disabled` when this failure completed 3 days of continuous failure.
    Done { endpoint_disabled: bool },
    /// The lease had expired and another worker owns the delivery now: nothing was written.
    LeaseLost,
}

/// Outcome of [`Store::retry_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The delivery is pending and due now.
    Retried(Box<Delivery>),
    /// The delivery is in a state that cannot be retried (see [`DeliveryStatus::is_retryable`]).
    NotRetryable(DeliveryStatus),
    /// Its event's payload was erased or purged: there is nothing left to send.
    PayloadGone,
}

#[derive(Debug, sqlx::FromRow)]
struct ClaimRow {
    d_id: String,
    d_attempt_count: i64,
    d_retry_window_start: i64,
    d_lease_expires_at: i64,
    #[sqlx(flatten)]
    event: EventRow,
    ev_sealed_claims: Option<String>,
    e_id: String,
    e_url: String,
    e_secret_sealed: String,
    e_previous_secret_sealed: Option<String>,
    e_previous_secret_expires_at: Option<i64>,
    k_id: Option<String>,
    k_kid: Option<String>,
    k_jwk: Option<String>,
    s_contract_version: Option<i64>,
}

impl ClaimRow {
    fn into_domain(self, key: DeliveryKey) -> StoreResult<ClaimedDelivery> {
        Ok(ClaimedDelivery {
            id: DeliveryId::parse(&self.d_id).map_err(|_| StoreError::Corrupt("delivery id"))?,
            attempt_count: u32::try_from(self.d_attempt_count)
                .map_err(|_| StoreError::Corrupt("attempt count"))?,
            retry_window_start: ts(self.d_retry_window_start)?,
            lease_expires_at: ts(self.d_lease_expires_at)?,
            event: self.event.into_domain()?,
            sealed_claims: self.ev_sealed_claims,
            // An erased session cancels its deliveries, so the session is normally there;
            // version 1 is the only contract version so far.
            contract_version: self
                .s_contract_version
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1),
            endpoint: DeliveryEndpoint {
                id: EndpointId::parse(&self.e_id)
                    .map_err(|_| StoreError::Corrupt("endpoint id"))?,
                url: self.e_url,
                secret_sealed: self.e_secret_sealed,
                previous_secret_sealed: self.e_previous_secret_sealed,
                previous_secret_expires_at: self
                    .e_previous_secret_expires_at
                    .map(ts)
                    .transpose()?,
            },
            key,
        })
    }
}

/// Erasure (docs/api.md "Erase"): the session's deliveries not yet sent are `cancelled`, so
/// nothing about an erased session leaves the server afterwards. A claimed delivery is
/// cancelled too: its worker asks [`Store::begin_sends`] before sending and is
/// refused. A delivery whose request is already on the wire (`sending_since` set by that
/// call, which commits before or after this statement, never across it) keeps its lease until
/// its worker clears it with the outcome; those are returned, so the erase can wait for them.
/// A mark whose lease has run out belongs to a worker that died: its request is over.
pub(crate) async fn cancel_session_deliveries(
    tx: &mut Tx,
    session_id: &SessionId,
    now: Timestamp,
) -> StoreResult<Vec<DeliveryId>> {
    let on_wire = "sending_since IS NOT NULL AND lease_expires_at > $1";
    let rows: Vec<(String, bool)> = query(format!(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, \
         lease_owner = CASE WHEN {on_wire} THEN lease_owner ELSE NULL END, \
         lease_expires_at = CASE WHEN {on_wire} THEN lease_expires_at ELSE NULL END, \
         sending_since = CASE WHEN {on_wire} THEN sending_since ELSE NULL END, \
         completed_at = $1, updated_at = $1 \
         WHERE session_id = $2 AND status IN ('pending', 'blocked_no_key') \
         RETURNING id, sending_since IS NOT NULL"
    ))
    .bind(now.unix_ms())
    .bind(session_id.as_str())
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .filter(|(_, sending)| *sending)
        .map(|(id, _)| DeliveryId::parse(&id).map_err(|_| StoreError::Corrupt("delivery id")))
        .collect()
}

/// Attaches their attempts (oldest first) to `deliveries`: one query for the whole page.
async fn with_attempts(pool: &Pool, rows: Vec<DeliveryRow>) -> StoreResult<Vec<Delivery>> {
    let mut deliveries = rows
        .into_iter()
        .map(DeliveryRow::into_domain)
        .collect::<StoreResult<Vec<_>>>()?;
    if deliveries.is_empty() {
        return Ok(deliveries);
    }
    let placeholders: Vec<String> = (1..=deliveries.len()).map(|n| format!("${n}")).collect();
    let text = format!(
        "SELECT delivery_id, attempt, started_at, status_code, latency_ms, response_body, error_kind \
         FROM webhook_delivery_attempts WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
        placeholders.join(", ")
    );
    let attempts: Vec<AttemptRecordRow> = query(text)
        .bind_all(deliveries.iter().map(|d| d.id.to_string()))
        .fetch_all(pool)
        .await?;
    for row in attempts {
        let owner = row.delivery_id.clone();
        let attempt = row.into_domain()?;
        if let Some(d) = deliveries.iter_mut().find(|d| d.id.as_str() == owner) {
            d.attempts.push(attempt);
        }
    }
    Ok(deliveries)
}

pub(crate) async fn fetch_delivery_row<'c>(
    on: impl Into<On<'c>>,
    tenant: &Tenant,
    id: &DeliveryId,
) -> StoreResult<Option<DeliveryRow>> {
    Ok(query(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND org_id = $2 AND environment = $3"
    ))
    .bind(id.as_str())
    .bind(tenant.org_id.as_str())
    .bind(tenant.environment.as_str())
    .fetch_optional::<DeliveryRow>(on)
    .await?)
}

impl Store {
    /// Claims up to `limit` due `pending` deliveries of enabled endpoints whose lease is free or
    /// expired, oldest due first, leasing them to `owner` until `now + lease_ms`. A pending
    /// delivery whose endpoint has no active key any more becomes `blocked_no_key` instead.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = self.begin_write().await?;
        let lease_until = now.unix_ms().saturating_add(lease_ms);
        let ids: Vec<(String,)> = query(format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = $2, sending_since = NULL WHERE id IN (\
             SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
             AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $3) \
             AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.enabled) \
             ORDER BY d.next_attempt_at LIMIT $4{}) RETURNING id",
                tx.dialect().for_update_skip_locked()
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now.unix_ms())
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let placeholders = (0..ids.len())
            .map(|i| format!("${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "SELECT d.id AS d_id, d.attempt_count AS d_attempt_count, \
             COALESCE(d.retry_window_start, d.created_at) AS d_retry_window_start, \
             d.lease_expires_at AS d_lease_expires_at, \
             ev.id AS id, ev.org_id AS org_id, ev.environment AS environment, ev.session_id AS session_id, \
             ev.attempt_id AS attempt_id, ev.type AS type, ev.created_at AS created_at, ev.data AS data, \
             ev.sealed_claims AS ev_sealed_claims, \
             e.id AS e_id, e.url AS e_url, e.secret_sealed AS e_secret_sealed, \
             e.previous_secret_sealed AS e_previous_secret_sealed, \
             e.previous_secret_expires_at AS e_previous_secret_expires_at, \
             k.id AS k_id, k.kid AS k_kid, k.jwk AS k_jwk, s.contract_version AS s_contract_version \
             FROM webhook_deliveries d \
             JOIN events ev ON ev.id = d.event_id \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             LEFT JOIN webhook_keys k ON k.endpoint_id = d.endpoint_id AND k.active \
             LEFT JOIN sessions s ON s.id = d.session_id \
             WHERE d.id IN ({placeholders}) ORDER BY d.next_attempt_at, d.id"
        );
        let rows: Vec<ClaimRow> = query(text)
            .bind_all(ids.iter().map(|(id,)| id.as_str()))
            .fetch_all(&mut tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for mut row in rows {
            let key = match (row.k_id.take(), row.k_jwk.take()) {
                (Some(id), Some(jwk)) => DeliveryKey {
                    id: EncryptionKeyId::parse(&id).map_err(|_| StoreError::Corrupt("key id"))?,
                    kid: row.k_kid.take(),
                    jwk,
                },
                _ => {
                    // The active key was deactivated after the fan-out: wait for a new one.
                    query(
                        "UPDATE webhook_deliveries SET status = 'blocked_no_key', lease_owner = NULL, \
                         lease_expires_at = NULL, updated_at = $1 WHERE id = $2",
                    )
                    .bind(now.unix_ms())
                    .bind(row.d_id.as_str())
                    .execute(&mut tx)
                    .await?;
                    continue;
                }
            };
            claimed.push(row.into_domain(key)?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records attempts in one transaction: an attempt row each, the delivery's status,
    /// `attempt_count`, `next_attempt_at`, `last_error`, lease cleared; the endpoint's
    /// `failing_since` (cleared by a success, started by a failure) and, once it is older than
    /// `disable_after_ms`, the endpoint disabled with reason `failing`. Results are in input order.
    pub async fn record_attempts(
        &self,
        owner: &str,
        now: Timestamp,
        disable_after_ms: i64,
        results: &[AttemptResult],
    ) -> StoreResult<Vec<Recorded>> {
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            let (status, next, completed) = match r.outcome {
                AttemptOutcome::Succeeded => ("succeeded", None, Some(now.unix_ms())),
                AttemptOutcome::RetryAt(at) => ("pending", Some(at.unix_ms()), None),
                AttemptOutcome::Failed => ("failed", None, Some(now.unix_ms())),
            };
            let last_error = match (r.outcome, &r.record.error_kind, r.record.status_code) {
                (AttemptOutcome::Succeeded, _, _) => None,
                (_, Some(kind), _) => Some(kind.clone()),
                (_, None, Some(code)) => Some(format!("http_{code}")),
                (_, None, None) => None,
            };
            let updated: Option<(i64,)> = query(
                "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, completed_at = $3, \
                 attempt_count = attempt_count + 1, last_error = $4, lease_owner = NULL, \
                 lease_expires_at = NULL, sending_since = NULL, updated_at = $5 \
                 WHERE id = $6 AND lease_owner = $7 AND status = 'pending' RETURNING attempt_count",
            )
            .bind(status)
            .bind(next)
            .bind(completed)
            .bind(last_error.as_deref())
            .bind(now.unix_ms())
            .bind(r.delivery_id.as_str())
            .bind(owner)
            .fetch_optional(&mut tx)
            .await?;
            let Some((attempt,)) = updated else {
                // Cancelled by an erase while on the wire (the erase waits for this), or the
                // lease ran out: give back whatever is still ours.
                query(
                    "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, \
                     sending_since = NULL WHERE id = $1 AND lease_owner = $2",
                )
                .bind(r.delivery_id.as_str())
                .bind(owner)
                .execute(&mut tx)
                .await?;
                out.push(Recorded::LeaseLost);
                continue;
            };
            query(
                "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, status_code, \
                 latency_ms, response_body, error_kind) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(r.delivery_id.as_str())
            .bind(attempt)
            .bind(r.record.started_at.unix_ms())
            .bind(r.record.status_code.map(i64::from))
            .bind(i64::try_from(r.record.latency_ms).unwrap_or(i64::MAX))
            .bind(r.record.response_body.as_deref())
            .bind(r.record.error_kind.as_deref())
            .execute(&mut tx)
            .await?;
            let mut endpoint_disabled = false;
            if r.outcome == AttemptOutcome::Succeeded {
                // Conditional, so the common case takes no row lock on the endpoint.
                query(
                    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                )
                .bind(r.endpoint_id.as_str())
                .execute(&mut tx)
                .await?;
            } else {
                query(
                    "UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL",
                )
                .bind(now.unix_ms())
                .bind(r.endpoint_id.as_str())
                .execute(&mut tx)
                .await?;
                let disabled = query(
                    "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, \
                     updated_at = $2 WHERE id = $3 AND enabled AND failing_since <= $4",
                )
                .bind(DISABLED_REASON_FAILING)
                .bind(now.unix_ms())
                .bind(r.endpoint_id.as_str())
                .bind(now.unix_ms().saturating_sub(disable_after_ms))
                .execute(&mut tx)
                .await?;
                endpoint_disabled = disabled > 0;
            }
            out.push(Recorded::Done { endpoint_disabled });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The last word before a request leaves (docs/webhooks.md "Delivery guarantees"): marks
    /// each delivery of `ids` that is still `pending` and leased to `owner` as on the wire since
    /// `now`, in one write transaction, and answers in input order whether it may be sent. A
    /// delivery cancelled by an erase after it was claimed answers `false`; one marked here is
    /// seen by a later erase, which waits until [`Self::record_attempts`] (or a release) clears
    /// the mark. So no request about a session starts after its erase committed.
    pub async fn begin_sends(
        &self,
        owner: &str,
        now: Timestamp,
        ids: &[DeliveryId],
    ) -> StoreResult<Vec<bool>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (0..ids.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        // A write transaction, so that it commits wholly before or after an erase's cancel.
        let mut tx = self.begin_write().await?;
        let allowed: std::collections::HashSet<String> = query(format!(
            "UPDATE webhook_deliveries SET sending_since = $1 \
             WHERE lease_owner = $2 AND status = 'pending' AND id IN ({placeholders}) RETURNING id"
        ))
        .bind(now.unix_ms())
        .bind(owner)
        .bind_all(ids.iter().map(DeliveryId::as_str))
        .fetch_all::<(String,)>(&mut tx)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        tx.commit().await?;
        Ok(ids.iter().map(|id| allowed.contains(id.as_str())).collect())
    }

    /// How many of `ids` are still marked on the wire by [`Self::begin_sends`].
    pub async fn count_sending(&self, ids: &[DeliveryId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let placeholders = (0..ids.len())
            .map(|i| format!("${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let (n,): (i64,) = query(format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE sending_since IS NOT NULL AND id IN ({placeholders})"
        ))
        .bind_all(ids.iter().map(DeliveryId::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Gives back one lease without an attempt (the worker chose not to send it yet).
    pub async fn release_lease(&self, owner: &str, id: &DeliveryId) -> StoreResult<()> {
        query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, sending_since = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id.as_str())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives back every lease of `owner` (graceful shutdown), so other nodes need not wait for
    /// expiry. Returns how many.
    pub async fn release_leases(&self, owner: &str) -> StoreResult<u64> {
        let done = query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, sending_since = NULL \
             WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done)
    }

    /// The tenant's deliveries with their attempts, newest first, keyset-paginated.
    pub async fn list_deliveries(
        &self,
        tenant: &Tenant,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> StoreResult<Page<Delivery>> {
        let mut list = TenantPage::new("webhook_deliveries", tenant);
        list.filter(
            "endpoint_id",
            "=",
            filter.endpoint_id.as_ref().map(EndpointId::to_string),
        )
        .filter(
            "event_id",
            "=",
            filter.event_id.as_ref().map(EventId::to_string),
        )
        .filter("status", "=", filter.status.map(|s| s.as_str()));
        list.after(
            &self.pool,
            page.starting_after.as_ref().map(DeliveryId::as_str),
        )
        .await?;
        let mut rows: Vec<DeliveryRow> =
            list.fetch(&self.pool, DELIVERY_COLUMNS, page.limit).await?;
        let has_more = rows.len() > usize::try_from(page.limit.get()).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(page.limit.get()).unwrap_or(usize::MAX));
        let items = with_attempts(&self.pool, rows).await?;
        Ok(Page { items, has_more })
    }

    pub async fn get_delivery(&self, tenant: &Tenant, id: &DeliveryId) -> StoreResult<Delivery> {
        let row = fetch_delivery_row(&self.pool, tenant, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        with_attempts(&self.pool, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// A `failed` or `pending` delivery becomes `pending`, due now, with a new 3-day retry
    /// window from now (attempt numbers continue).
    pub async fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: Timestamp,
    ) -> StoreResult<RetryOutcome> {
        let mut tx = self.begin_write().await?;
        let current = fetch_delivery_row(&mut tx, tenant, id)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()?;
        if !current.status.is_retryable() {
            tx.rollback().await?;
            return Ok(RetryOutcome::NotRetryable(current.status));
        }
        if !crate::events::payload_present(&mut tx, current.event_id.as_str()).await? {
            tx.rollback().await?;
            return Ok(RetryOutcome::PayloadGone);
        }
        // Guarded by status, so a worker's outcome recorded meanwhile (succeeded) is not
        // overwritten; a lease in progress is left alone and the worker finishes its send.
        // A new retry window starts now: counted from creation, an old failed delivery would
        // fail again on its first error.
        let done = query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, completed_at = NULL, \
             retry_window_start = $1, updated_at = $1 WHERE id = $2 AND org_id = $3 AND environment = $4 AND status IN ('failed', 'pending')",
        )
        .bind(now.unix_ms())
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .execute(&mut tx)
        .await?;
        if done == 0 {
            tx.rollback().await?;
            return Ok(RetryOutcome::NotRetryable(current.status));
        }
        tx.note(Change::Deliveries);
        tx.commit().await?;
        let delivery = self.get_delivery(tenant, id).await?;
        Ok(RetryOutcome::Retried(Box::new(delivery)))
    }
}
