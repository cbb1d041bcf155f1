//! The webhook delivery worker (docs/webhooks.md "Delivery guarantees"): claims due deliveries from
//! the outbox under a lease, renders each event, encrypts it to the endpoint's active key, signs
//! it with the endpoint's secret(s), sends it through the SSRF-guarded client and records what
//! happened. Runs in every node beside the expiry sweeper; the store's leases keep nodes from
//! sending the same delivery at once.
//!
//! Why this shape (and not a periodic job that sends a few deliveries a minute): the store
//! announces every commit that makes deliveries due (`idgate_store::changes`; on PostgreSQL to
//! every node), so a first attempt leaves within milliseconds, and a short fallback poll picks up
//! retries and missed announcements. Sends run concurrently under a global
//! limit and a per-endpoint limit, so one slow receiver cannot starve the others. Outcomes are
//! recorded in batches (one transaction for many attempts), which keeps a single SQLite writer
//! far above 1,000 deliveries a second. A send keeps its endpoint slot until its outcome is
//! committed, so after a crash at most `per_endpoint_concurrency` sends per endpoint can be
//! repeated: the ones whose outcome was not yet written.
//!
//! Erasure (docs/api.md "Erase") is final for deliveries too: right before a request leaves, the
//! worker asks the store whether the delivery is still `pending` and leased to it, and marks it
//! on the wire in the same write ([`Store::begin_sends`](idgate_store::Store::begin_sends), batched like the outcomes). An
//! erase cancels every claimed delivery of its session in one transaction, so each is either
//! marked before the erase (and the erase waits for it, see [`wait_for_sends`]) or refused after.
//! A request already on the wire cannot be recalled; the erase therefore returns only once it
//! ended, which takes at most the 15 s whole-request timeout.
//!
//! Nothing readable is stored: the JWE is made at send time and dropped after the attempt. Logs
//! carry delivery, event and endpoint ids only, never bodies or secrets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idgate_core::{DeliveryId, EndpointId, Timestamp};
use idgate_store::deliveries::{
    AttemptOutcome, AttemptRecord, AttemptResult, ClaimedDelivery, DEFAULT_DISABLE_AFTER_MS,
    Recorded,
};
use idgate_webhook::backoff::{Decision, RetrySchedule};
use idgate_webhook::delivery::AttemptReport;
use idgate_webhook::keys::RecipientKey;
use idgate_webhook::ssrf::{SsrfError, SsrfPolicy};
use idgate_webhook::{Event as WireEvent, WebhookSecret};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::state::AppState;

/// Deliveries sent (2xx), by outcome label `succeeded|retried|failed`.
pub const WEBHOOK_DELIVERIES: &str = "idgate_webhook_deliveries_total";
/// Latency of delivery attempts that got a response or failed on the network, in seconds.
pub const WEBHOOK_ATTEMPT_DURATION: &str = "idgate_webhook_attempt_duration_seconds";
/// Claimed deliveries not sent because their session was erased (or their lease was lost) after
/// the claim.
pub const WEBHOOK_SENDS_WITHHELD: &str = "idgate_webhook_sends_withheld_total";
/// Endpoints disabled after 3 days of continuous failure.
pub const WEBHOOK_ENDPOINTS_DISABLED: &str = "idgate_webhook_endpoints_disabled_total";

/// `user-agent` of every delivery (docs/webhooks.md "Wire format").
pub const USER_AGENT: &str = concat!("idgate-webhooks/", env!("CARGO_PKG_VERSION"));

/// Deliveries claimed per store call at most.
const MAX_CLAIM_BATCH: u32 = 256;
/// Outcomes recorded per transaction at most.
const MAX_RECORD_BATCH: usize = 512;
/// Under a backlog the worker claims again only once `1/REFILL_DIVISOR` of its slots are free.
/// Claiming for each slot a finished send frees would cost one write transaction per delivery,
/// which on SQLite (one writer, an fsync per commit) competes with the outcome recorder and
/// caps throughput far below what the receiver takes.
const REFILL_DIVISOR: usize = 4;
/// A delivery is sent only if its lease outlives the whole-request timeout by this much, so a
/// lease can never run out while its request is in flight (which would let a second worker send).
const LEASE_SAFETY: Duration = Duration::from_secs(5);
/// The shortest lease the worker can work with: the whole-request timeout, [`LEASE_SAFETY`] and
/// 5 s for a claimed delivery to wait for a slot of its endpoint. With a lease of just timeout +
/// safety (20 s) no delivery could ever start (the check in `deliver` needs a remaining lease
/// above that), and every claim would be handed back unsent, over and over.
pub const MIN_LEASE: Duration =
    Duration::from_secs(idgate_webhook::ssrf::TOTAL_TIMEOUT.as_secs() + LEASE_SAFETY.as_secs() + 5);
/// How long shutdown waits for in-flight sends before abandoning them to lease expiry.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How often expired payloads are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The worker's tunables (from [`crate::Config`]).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Sends in flight at once in this node.
    pub concurrency: usize,
    /// Sends in flight at once to one endpoint.
    pub per_endpoint_concurrency: usize,
    /// Fallback poll: retries and other nodes' events are found at least this often.
    pub poll_interval: Duration,
    /// How long a claim is exclusive; must exceed the 15 s request timeout.
    pub lease: Duration,
    pub retry: RetrySchedule,
    /// Event payloads are blanked this long after creation once all deliveries are final.
    pub retention: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_endpoint_concurrency: 8,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            retry: RetrySchedule::default(),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] SsrfError),
}

struct Ctx {
    state: AppState,
    settings: DeliverySettings,
    owner: String,
    client: reqwest::Client,
    policy: SsrfPolicy,
    per_endpoint: Mutex<HashMap<EndpointId, Arc<Semaphore>>>,
    results: mpsc::UnboundedSender<Sent>,
    gate: mpsc::UnboundedSender<GateRequest>,
}

impl Ctx {
    fn endpoint_limit(&self, id: &EndpointId) -> Arc<Semaphore> {
        let mut map = self
            .per_endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget idle endpoints now and then so the map does not grow with every endpoint ever seen.
        if map.len() > 4096 {
            let full = self.settings.per_endpoint_concurrency;
            map.retain(|_, s| s.available_permits() < full);
        }
        map.entry(id.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_endpoint_concurrency)))
            .clone()
    }
}

/// A unique lease owner for this process and worker.
fn owner_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        idgate_core::id::random_alphanumeric(16)
    )
}

/// Runs until `shutdown` flips to true; then stops claiming, lets in-flight sends finish for a
/// moment, records their outcomes and gives back every lease it still holds.
pub async fn run(
    state: AppState,
    settings: DeliverySettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    let policy = if state.allow_private_webhooks {
        SsrfPolicy::PERMISSIVE
    } else {
        SsrfPolicy::STRICT
    };
    let client = idgate_webhook::ssrf::build_client(policy, USER_AGENT)?;
    let (results, results_rx) = mpsc::unbounded_channel();
    let (gate, gate_rx) = mpsc::unbounded_channel();
    let owner = owner_id();
    let ctx = Arc::new(Ctx {
        state: state.clone(),
        settings: settings.clone(),
        owner: owner.clone(),
        client,
        policy,
        per_endpoint: Mutex::new(HashMap::new()),
        results,
        gate,
    });
    let recorder = tokio::spawn(record_loop(state.clone(), owner.clone(), results_rx));
    let gatekeeper = tokio::spawn(gate_loop(state.clone(), owner.clone(), gate_rx));
    let global = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let freed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let mut last_purge: Option<Instant> = None;
    // Whether the last claim filled every slot it asked for: more is probably due.
    let mut backlog = false;
    // Commits that make deliveries due wake the loop, on this node and (PostgreSQL) every other
    // one; the poll interval is only the fallback for announcements that were missed.
    let mut changes = match state.store.subscribe().await {
        Ok(changes) => Some(changes),
        Err(error) => {
            tracing::warn!(%error, "cannot subscribe to committed changes; polling only");
            None
        }
    };

    loop {
        if *shutdown.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(Instant::now());
            purge(&state, &settings).await;
        }
        let free = global.available_permits();
        // Without a backlog any free slot is claimed for at once, so a new event leaves
        // immediately; under one, slots are refilled in batches (see `REFILL_DIVISOR`).
        let floor = if backlog {
            (settings.concurrency / REFILL_DIVISOR).clamp(1, MAX_CLAIM_BATCH as usize)
        } else {
            1
        };
        if free < floor {
            tokio::select! {
                _ = freed.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let want = u32::try_from(free)
            .unwrap_or(MAX_CLAIM_BATCH)
            .min(MAX_CLAIM_BATCH);
        // The claim below sees every change announced so far.
        if let Some(changes) = changes.as_mut() {
            changes.skip_announced();
        }
        let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
        let claimed = match state
            .store
            .claim_due(&owner, state.clock.now(), lease_ms, want)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming webhook deliveries failed; retrying");
                Vec::new()
            }
        };
        let claimed_at = Instant::now();
        let got = claimed.len();
        backlog = got > 0 && got == want as usize;
        for delivery in claimed {
            let Ok(permit) = global.clone().try_acquire_owned() else {
                // Cannot happen (only this loop takes permits); the lease returns it anyway.
                let _ = state.store.release_lease(&owner, &delivery.id).await;
                continue;
            };
            let ctx = ctx.clone();
            let freed = freed.clone();
            tasks.spawn(async move {
                deliver(&ctx, delivery, claimed_at).await;
                drop(permit);
                freed.notify_one();
            });
        }
        if got < want as usize {
            // Caught up: sleep until a commit makes deliveries due, the poll interval passes or
            // shutdown.
            let due = async {
                match changes.as_mut() {
                    Some(changes) => changes.deliveries_due().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = due => {}
                _ = tokio::time::sleep(settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    // Shutdown: let in-flight sends finish briefly, then abandon the rest to their leases.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    drop(ctx);
    if let Err(error) = recorder.await {
        tracing::warn!(%error, "webhook outcome recorder ended abnormally");
    }
    if let Err(error) = gatekeeper.await {
        tracing::warn!(%error, "webhook send gate ended abnormally");
    }
    match state.store.release_leases(&owner).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "released webhook delivery leases"),
        Err(error) => tracing::warn!(%error, "releasing webhook delivery leases failed"),
    }
    Ok(())
}

async fn purge(state: &AppState, settings: &DeliverySettings) {
    let retention = i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX);
    match state
        .store
        .purge_payloads(state.clock.now(), retention)
        .await
    {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged event payloads past retention"),
        Err(error) => tracing::warn!(%error, "purging event payloads failed"),
    }
}

/// An attempt's outcome on its way to the recorder, with the endpoint slot it still holds: the
/// slot is freed only once the outcome is committed, so the sends a crash can make us repeat
/// never exceed the endpoint's concurrency.
struct Sent {
    result: AttemptResult,
    endpoint_slot: OwnedSemaphorePermit,
}

/// Records outcomes in batches until every sender is gone. A batch that cannot be written is
/// retried a few times; if the database stays away the deliveries' leases expire and they are
/// sent again (at-least-once).
async fn record_loop(state: AppState, owner: String, mut rx: mpsc::UnboundedReceiver<Sent>) {
    let mut sent = Vec::with_capacity(MAX_RECORD_BATCH);
    while rx.recv_many(&mut sent, MAX_RECORD_BATCH).await > 0 {
        let (batch, endpoint_slots): (Vec<_>, Vec<_>) =
            sent.drain(..).map(|s| (s.result, s.endpoint_slot)).unzip();
        let mut tries = 0;
        let recorded = loop {
            match state
                .store
                .record_attempts(&owner, state.clock.now(), DEFAULT_DISABLE_AFTER_MS, &batch)
                .await
            {
                Ok(recorded) => break Some(recorded),
                Err(error) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(%error, "recording webhook attempts failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(error) => {
                    tracing::error!(%error, "recording webhook attempts failed; leases will expire");
                    break None;
                }
            }
        };
        for (result, recorded) in batch.iter().zip(recorded.unwrap_or_default()) {
            match recorded {
                Recorded::Done {
                    endpoint_disabled: true,
                } => {
                    metrics::counter!(WEBHOOK_ENDPOINTS_DISABLED).increment(1);
                    tracing::warn!(
                        notice = "webhook.endpoint.disabled",
                        endpoint_id = %result.endpoint_id,
                        reason = "failing",
                        "webhook endpoint disabled after 3 days of continuous failure"
                    );
                }
                Recorded::Done { .. } => {}
                Recorded::LeaseLost => tracing::warn!(
                    delivery_id = %result.delivery_id,
                    "webhook delivery lease lost before its outcome was recorded"
                ),
            }
        }
        drop(endpoint_slots);
    }
}

/// A delivery about to be sent, waiting for the store's word ([`Store::begin_sends`](idgate_store::Store::begin_sends)).
struct GateRequest {
    id: DeliveryId,
    reply: oneshot::Sender<bool>,
}

/// Answers [`GateRequest`]s in batches, one write transaction for all that are waiting, so the
/// check before each send costs SQLite's single writer as little as the outcomes do. If the
/// store cannot be asked, nothing is sent: the worker gives the leases back and the deliveries
/// are claimed again.
async fn gate_loop(state: AppState, owner: String, mut rx: mpsc::UnboundedReceiver<GateRequest>) {
    let mut waiting = Vec::with_capacity(MAX_RECORD_BATCH);
    while rx.recv_many(&mut waiting, MAX_RECORD_BATCH).await > 0 {
        let ids: Vec<DeliveryId> = waiting.iter().map(|r| r.id.clone()).collect();
        let allowed = match state
            .store
            .begin_sends(&owner, state.clock.now(), &ids)
            .await
        {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::warn!(%error, "marking webhook deliveries as sending failed; they wait");
                vec![false; ids.len()]
            }
        };
        for (request, allowed) in waiting.drain(..).zip(allowed) {
            let _ = request.reply.send(allowed);
        }
    }
}

/// Whether the store lets `delivery` be sent now (see [`gate_loop`]).
async fn may_send(ctx: &Ctx, id: &DeliveryId) -> bool {
    let (reply, answer) = oneshot::channel();
    if ctx
        .gate
        .send(GateRequest {
            id: id.clone(),
            reply,
        })
        .is_err()
    {
        return false;
    }
    answer.await.unwrap_or(false)
}

/// Waits until none of `deliveries` (returned by an erase: their requests were on the wire when
/// it committed) is still being sent, so that when `DELETE /v1/sessions/{id}` answers, no request
/// about the session is in transit. Bounded: a request ends within the whole-request timeout,
/// after which its mark can only be stale (its worker died; the lease runs out).
pub async fn wait_for_sends(state: &AppState, deliveries: &[DeliveryId]) {
    if deliveries.is_empty() {
        return;
    }
    let deadline = Instant::now() + idgate_webhook::ssrf::TOTAL_TIMEOUT + Duration::from_secs(1);
    let mut pause = Duration::from_millis(5);
    loop {
        match state.store.count_sending(deliveries).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "checking webhook sends of an erased session failed")
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                count = deliveries.len(),
                "webhook sends of an erased session still marked after the request timeout"
            );
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Sends one claimed delivery under the per-endpoint limit and queues its outcome.
async fn deliver(ctx: &Ctx, delivery: ClaimedDelivery, claimed_at: Instant) {
    let limit = ctx.endpoint_limit(&delivery.endpoint.id);
    let Ok(endpoint_slot) = limit.acquire_owned().await else {
        return;
    };
    let budget = idgate_webhook::ssrf::TOTAL_TIMEOUT + LEASE_SAFETY;
    if claimed_at.elapsed() + budget > ctx.settings.lease {
        // Waited too long behind this endpoint's other sends: give the delivery back rather
        // than risk its lease running out mid-request.
        if let Err(error) = ctx
            .state
            .store
            .release_lease(&ctx.owner, &delivery.id)
            .await
        {
            tracing::warn!(%error, delivery_id = %delivery.id, "releasing a webhook lease failed");
        }
        return;
    }
    if !may_send(ctx, &delivery.id).await {
        // Erased after the claim (or the lease was lost): nothing about it may leave now.
        metrics::counter!(WEBHOOK_SENDS_WITHHELD).increment(1);
        tracing::info!(delivery_id = %delivery.id, "webhook delivery withheld: cancelled after its claim");
        if let Err(error) = ctx
            .state
            .store
            .release_lease(&ctx.owner, &delivery.id)
            .await
        {
            tracing::warn!(%error, delivery_id = %delivery.id, "releasing a webhook lease failed");
        }
        return;
    }
    let result = attempt(ctx, &delivery).await;
    let label = match result.outcome {
        AttemptOutcome::Succeeded => "succeeded",
        AttemptOutcome::RetryAt(_) => "retried",
        AttemptOutcome::Failed => "failed",
    };
    metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => label).increment(1);
    tracing::info!(
        delivery_id = %delivery.id,
        event_id = %delivery.event.id,
        endpoint_id = %delivery.endpoint.id,
        status = ?result.record.status_code,
        error_kind = result.record.error_kind.as_deref().unwrap_or(""),
        outcome = label,
        "webhook attempt"
    );
    // The receiver is gone only during shutdown after all senders were dropped.
    let _ = ctx.results.send(Sent {
        result,
        endpoint_slot,
    });
}

/// Why a delivery could not even be attempted: recorded as a final failure with this kind, since
/// retrying the same stored data cannot succeed.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("the event cannot be rendered")]
    Render,
    #[error("the endpoint's key cannot be used")]
    Key,
    #[error("the endpoint's signing secret cannot be opened")]
    Secret,
    #[error("the payload cannot be encrypted")]
    Encrypt,
    #[error("the headers cannot be built")]
    Headers,
}

impl PrepareError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Render => "render",
            Self::Key => "key",
            Self::Secret => "secret",
            Self::Encrypt => "encrypt",
            Self::Headers => "headers",
        }
    }
}

/// The typed wire event for a stored event (docs/webhooks.md "Event types", payload), validated by
/// idgate-webhook's parser so the server can only send what receivers can read. `claims` are the
/// opened sealed claims of a succeeded session, placed in its `data`.
pub fn render(
    delivery: &ClaimedDelivery,
    claims: Option<serde_json::Value>,
) -> Result<WireEvent, serde_json::Error> {
    let e = &delivery.event;
    let mut data = e.data.clone();
    if let (Some(claims), Some(map)) = (claims, data.as_object_mut()) {
        map.insert("claims".into(), claims);
    }
    let mut metadata = serde_json::json!({
        "verification_session_id": e.session_id.as_str(),
        "contract_version": delivery.contract_version,
        "environment": e.environment.as_str(),
    });
    if let (Some(attempt), Some(map)) = (&e.attempt_id, metadata.as_object_mut()) {
        map.insert(
            "verification_attempt_id".into(),
            serde_json::Value::String(attempt.to_string()),
        );
    }
    serde_json::from_value(serde_json::json!({
        "id": e.id.as_str(),
        "type": e.event_type.as_str(),
        "created_at": e.created_at.to_rfc3339(),
        "data": data,
        "metadata": metadata,
    }))
}

/// The signing secrets in effect: the current one, plus the previous one while the rotation
/// overlap lasts (docs/webhooks.md "Endpoints": 24 h).
fn signing_secrets(
    ctx: &Ctx,
    delivery: &ClaimedDelivery,
    now: Timestamp,
) -> Result<Vec<WebhookSecret>, PrepareError> {
    let endpoint = &delivery.endpoint;
    let open = |sealed: &str| {
        ctx.state
            .secrets
            .open_signing_secret(&endpoint.id, sealed)
            .map_err(|_| PrepareError::Secret)
    };
    let mut secrets = vec![open(&endpoint.secret_sealed)?];
    if let (Some(previous), Some(until)) = (
        &endpoint.previous_secret_sealed,
        endpoint.previous_secret_expires_at,
    ) && until > now
    {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}

fn prepare(
    ctx: &Ctx,
    delivery: &ClaimedDelivery,
    now: Timestamp,
) -> Result<(http::HeaderMap, String), PrepareError> {
    let claims = match &delivery.sealed_claims {
        None => None,
        Some(sealed) => {
            let plain = ctx
                .state
                .secrets
                .open_claims(&delivery.event.id, sealed)
                .map_err(|_| PrepareError::Secret)?;
            Some(serde_json::from_slice(&plain).map_err(|_| PrepareError::Render)?)
        }
    };
    let event = render(delivery, claims).map_err(|_| PrepareError::Render)?;
    let kid = delivery
        .key
        .kid
        .clone()
        .unwrap_or_else(|| delivery.key.id.to_string());
    let key = RecipientKey::from_jwk(delivery.key.jwk.as_bytes())
        .and_then(|k| k.with_kid(kid))
        .map_err(|_| PrepareError::Key)?;
    let body = idgate_webhook::delivery::seal(&event, &key).map_err(|_| PrepareError::Encrypt)?;
    let secrets = signing_secrets(ctx, delivery, now)?;
    let headers = idgate_webhook::delivery::headers(
        &secrets,
        delivery.event.id.as_str(),
        now.unix_ms().div_euclid(1000),
        &body,
        USER_AGENT,
    )
    .map_err(|_| PrepareError::Headers)?;
    Ok((headers, body))
}

/// One attempt, from rendering to the decision.
async fn attempt(ctx: &Ctx, delivery: &ClaimedDelivery) -> AttemptResult {
    let now = ctx.state.clock.now();
    let mut record = AttemptRecord {
        started_at: now,
        status_code: None,
        latency_ms: 0,
        response_body: None,
        error_kind: None,
    };
    let (headers, body) = match prepare(ctx, delivery, now) {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(delivery_id = %delivery.id, endpoint_id = %delivery.endpoint.id, %error, "webhook delivery cannot be prepared");
            record.error_kind = Some(error.kind().to_owned());
            return AttemptResult {
                delivery_id: delivery.id.clone(),
                endpoint_id: delivery.endpoint.id.clone(),
                record,
                outcome: AttemptOutcome::Failed,
            };
        }
    };
    let report: AttemptReport = idgate_webhook::delivery::send(
        &ctx.client,
        &ctx.policy,
        &delivery.endpoint.url,
        headers,
        body,
    )
    .await;
    metrics::histogram!(WEBHOOK_ATTEMPT_DURATION).record(report.latency.as_secs_f64());
    record.status_code = report.status;
    record.latency_ms = u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX);
    record.response_body = (!report.response_prefix.is_empty())
        .then(|| String::from_utf8_lossy(&report.response_prefix).into_owned());
    // One `refused` for every SSRF refusal (AttemptError::kind says why); the retry schedule
    // gives such a delivery up at once.
    record.error_kind = report.error.as_ref().map(|e| e.kind().to_owned());

    // From the delivery's creation, or from the manual retry or key release that last made
    // it due: each of those gets a whole window.
    let since_first = Duration::from_millis(
        u64::try_from(now.unix_ms() - delivery.retry_window_start.unix_ms()).unwrap_or(0),
    );
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let decision = ctx.settings.retry.decide(
        report.result(),
        delivery.attempt_count.saturating_add(1),
        since_first,
        report.retry_after,
        &mut rng,
    );
    let outcome = match decision {
        Decision::Delivered => AttemptOutcome::Succeeded,
        Decision::RetryIn(delay) => AttemptOutcome::RetryAt(
            now.plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        ),
        Decision::GiveUp(_) => AttemptOutcome::Failed,
    };
    AttemptResult {
        delivery_id: delivery.id.clone(),
        endpoint_id: delivery.endpoint.id.clone(),
        record,
        outcome,
    }
}
