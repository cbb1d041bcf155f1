//! The expiry sweeper: moves sessions past `expires_at` to `expired` even when nobody reads
//! them, so the `verification.session.expired` event is written on time (docs/api.md "Session
//! lifecycle"). Reads apply the same rule on their own; the sweeper only makes it timely.
//!
//! Runs in every node; the store's `expire_overdue` is a conditional update, so two nodes
//! sweeping at once expire each session exactly once.

use std::sync::Arc;
use std::time::Duration;

use idgate_core::Clock;
use tokio::sync::watch;

use crate::rate_limit::KeyRateLimiter;
use crate::state::SharedStore;
use crate::telemetry::SESSIONS_EXPIRED;

/// Sessions expired per store call; a backlog is drained over consecutive ticks without
/// holding one long transaction.
pub const SWEEP_BATCH: u32 = 500;

/// Ticks between forgetting idle rate-limit buckets (about a minute at the default interval).
const LIMITER_CLEANUP_EVERY: u32 = 60;

/// Runs until `shutdown` flips to true; the sleep between ticks ends early on shutdown.
pub async fn run(
    store: SharedStore,
    clock: Arc<dyn Clock>,
    limiter: Arc<KeyRateLimiter>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        match store.expire_overdue(clock.now(), SWEEP_BATCH).await {
            Ok(0) => {}
            Ok(expired) => {
                metrics::counter!(SESSIONS_EXPIRED).increment(u64::try_from(expired).unwrap_or(0));
                tracing::info!(expired, "expired overdue sessions");
                // A full batch means more are waiting: go again without sleeping.
                if expired >= SWEEP_BATCH as usize {
                    continue;
                }
            }
            Err(error) => tracing::warn!(%error, "expiry sweep failed; retrying next tick"),
        }
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(LIMITER_CLEANUP_EVERY) {
            limiter.forget_idle();
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}
