//! The webhook delivery queue (docs/webhooks.md "Delivery guarantees"): the outbox rows written by
//! [`fan_out`](crate) inside every event's transaction, and the operations the delivery worker
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

use std::future::Future;

use idgate_core::{DeliveryId, EncryptionKeyId, EndpointId, Event, Timestamp};

use crate::{AnyStore, StoreResult};

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

/// The delivery worker's view of the outbox. Implemented by both backends and [`AnyStore`].
pub trait DeliveryQueue: Send + Sync {
    /// Claims up to `limit` due `pending` deliveries of enabled endpoints whose lease is free or
    /// expired, oldest due first, leasing them to `owner` until `now + lease_ms`. A pending
    /// delivery whose endpoint has no active key any more becomes `blocked_no_key` instead.
    fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ClaimedDelivery>>> + Send;

    /// Records attempts in one transaction: an attempt row each, the delivery's status,
    /// `attempt_count`, `next_attempt_at`, `last_error`, lease cleared; the endpoint's
    /// `failing_since` (cleared by a success, started by a failure) and, once it is older than
    /// `disable_after_ms`, the endpoint disabled with reason `failing`. Results are in input order.
    fn record_attempts(
        &self,
        owner: &str,
        now: Timestamp,
        disable_after_ms: i64,
        results: &[AttemptResult],
    ) -> impl Future<Output = StoreResult<Vec<Recorded>>> + Send;

    /// The last word before a request leaves (docs/webhooks.md "Delivery guarantees"): marks
    /// each delivery of `ids` that is still `pending` and leased to `owner` as on the wire since
    /// `now`, in one write transaction, and answers in input order whether it may be sent. A
    /// delivery cancelled by an erase after it was claimed answers `false`; one marked here is
    /// seen by a later erase, which waits until [`Self::record_attempts`] (or a release) clears
    /// the mark. So no request about a session starts after its erase committed.
    fn begin_sends(
        &self,
        owner: &str,
        now: Timestamp,
        ids: &[DeliveryId],
    ) -> impl Future<Output = StoreResult<Vec<bool>>> + Send;

    /// How many of `ids` are still marked on the wire by [`Self::begin_sends`].
    fn count_sending(&self, ids: &[DeliveryId]) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Gives back one lease without an attempt (the worker chose not to send it yet).
    fn release_lease(
        &self,
        owner: &str,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Gives back every lease of `owner` (graceful shutdown), so other nodes need not wait for
    /// expiry. Returns how many.
    fn release_leases(&self, owner: &str) -> impl Future<Output = StoreResult<u64>> + Send;

    /// `blocked_no_key → pending` (due now) for the endpoint's deliveries, after a key became
    /// active. Returns how many.
    fn unblock_endpoint(
        &self,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Blanks the `data` of events older than `retention_ms` whose deliveries are all final
    /// (`succeeded`, `failed`, `cancelled`) and sets `purged_at`. Returns how many.
    fn purge_payloads(
        &self,
        now: Timestamp,
        retention_ms: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            AnyStore::Postgres($s) => $call.await,
        }
    };
}

impl DeliveryQueue for AnyStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        dispatch!(self, s => s.claim_due(owner, now, lease_ms, limit))
    }
    async fn record_attempts(
        &self,
        owner: &str,
        now: Timestamp,
        disable_after_ms: i64,
        results: &[AttemptResult],
    ) -> StoreResult<Vec<Recorded>> {
        dispatch!(self, s => s.record_attempts(owner, now, disable_after_ms, results))
    }
    async fn begin_sends(
        &self,
        owner: &str,
        now: Timestamp,
        ids: &[DeliveryId],
    ) -> StoreResult<Vec<bool>> {
        dispatch!(self, s => s.begin_sends(owner, now, ids))
    }
    async fn count_sending(&self, ids: &[DeliveryId]) -> StoreResult<u64> {
        dispatch!(self, s => s.count_sending(ids))
    }
    async fn release_lease(&self, owner: &str, id: &DeliveryId) -> StoreResult<()> {
        dispatch!(self, s => s.release_lease(owner, id))
    }
    async fn release_leases(&self, owner: &str) -> StoreResult<u64> {
        dispatch!(self, s => s.release_leases(owner))
    }
    async fn unblock_endpoint(&self, endpoint: &EndpointId, now: Timestamp) -> StoreResult<u64> {
        dispatch!(self, s => s.unblock_endpoint(endpoint, now))
    }
    async fn purge_payloads(&self, now: Timestamp, retention_ms: i64) -> StoreResult<u64> {
        dispatch!(self, s => s.purge_payloads(now, retention_ms))
    }
}
