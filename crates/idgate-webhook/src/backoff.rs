//! The retry policy of delivery (docs/webhooks.md "Delivery guarantees") as pure functions: how an
//! attempt's result is classified, and when the next attempt is due. No clock and no RNG of
//! its own: the caller passes the elapsed time and a random source, so the schedule is
//! deterministic under test.
//!
//! Delays use "full jitter" (uniform over `[0, min(cap, base·2^(n-1))]`, as in the AWS
//! architecture note "Exponential Backoff and Jitter"), which spreads retries of many failed
//! deliveries so a receiver that comes back is not hit by all of them at once.

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// The result of one attempt, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP response arrived with this status.
    Status(u16),
    /// Resolving, connecting, TLS or reading failed.
    Network,
    /// The connect or total timeout elapsed.
    Timeout,
    /// The SSRF guard refused the destination (its URL, or every address its name resolves to).
    Refused,
}

/// What an attempt's result means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: done.
    Delivered,
    /// 408, 429, 5xx, network errors and timeouts: try again later.
    Retry,
    /// Any other status (other 4xx such as 400 or 410, and 3xx since redirects are not
    /// followed): the receiver said no, retrying cannot help.
    Permanent,
    /// The destination is one the server does not deliver to: the destination, not the moment,
    /// is wrong, so retrying for three days would only repeat the refusal.
    Refused,
}

/// Classifies an attempt's result.
pub fn classify(result: AttemptResult) -> Class {
    match result {
        AttemptResult::Status(200..=299) => Class::Delivered,
        AttemptResult::Status(408 | 429 | 500..=599) => Class::Retry,
        AttemptResult::Status(_) => Class::Permanent,
        AttemptResult::Network | AttemptResult::Timeout => Class::Retry,
        AttemptResult::Refused => Class::Refused,
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Schedule the next attempt after this delay.
    RetryIn(Duration),
    /// Mark the delivery failed.
    GiveUp(GiveUpReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The receiver answered with a status that is not worth retrying.
    Permanent,
    /// The next attempt would fall after the retry window.
    WindowExhausted,
    /// The SSRF guard refused the destination.
    Refused,
}

/// The retry schedule; configurable, with the defaults of docs/webhooks.md "Delivery guarantees".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Largest delay between two attempts.
    pub cap: Duration,
    /// No attempt is scheduled later than this after the first one.
    pub window: Duration,
    /// Smallest delay, so full jitter never produces an immediate hammering retry.
    pub floor: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(10 * 3600),
            window: Duration::from_secs(3 * 24 * 3600),
            floor: Duration::from_secs(1),
        }
    }
}

impl RetrySchedule {
    /// Upper bound of the delay after the `failed_attempts`-th failure (1-based):
    /// `min(cap, base · 2^(failed_attempts-1))`.
    pub fn ceiling(&self, failed_attempts: u32) -> Duration {
        let doublings = failed_attempts.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let millis = u64::try_from(self.base.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        Duration::from_millis(millis).min(self.cap)
    }

    /// The delay before the next attempt: full jitter under [`Self::ceiling`], at least
    /// [`Self::floor`], and never earlier than the receiver's `Retry-After`; at most `cap`.
    pub fn next_delay<R: rand_core::Rng + ?Sized>(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let ceiling = u64::try_from(self.ceiling(failed_attempts).as_millis()).unwrap_or(u64::MAX);
        // Uniform in [0, ceiling] by multiply-and-shift (no modulo bias worth the name).
        let jittered = (u128::from(rng.next_u64()) * (u128::from(ceiling) + 1)) >> 64;
        let jittered = Duration::from_millis(u64::try_from(jittered).unwrap_or(ceiling));
        let delay = jittered
            .max(self.floor)
            .max(retry_after.unwrap_or_default());
        delay.min(self.cap)
    }

    /// Decides after an attempt. `failed_attempts` counts this one if it failed;
    /// `since_first_attempt` is the time from the first attempt to now.
    pub fn decide<R: rand_core::Rng + ?Sized>(
        &self,
        result: AttemptResult,
        failed_attempts: u32,
        since_first_attempt: Duration,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Decision {
        match classify(result) {
            Class::Delivered => Decision::Delivered,
            Class::Permanent => Decision::GiveUp(GiveUpReason::Permanent),
            Class::Refused => Decision::GiveUp(GiveUpReason::Refused),
            Class::Retry => {
                let delay = self.next_delay(failed_attempts, retry_after, rng);
                if since_first_attempt.saturating_add(delay) > self.window {
                    Decision::GiveUp(GiveUpReason::WindowExhausted)
                } else {
                    Decision::RetryIn(delay)
                }
            }
        }
    }
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in the
/// preferred IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), relative to `now`. A date in
/// the past means "now". Anything else is ignored (`None`), as the header is advisory.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    if value.len() > 64 {
        return None;
    }
    let imf_fixdate = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, imf_fixdate)
        .ok()?
        .assume_utc();
    let delta = at - now;
    Some(if delta.is_negative() {
        Duration::ZERO
    } else {
        delta.unsigned_abs()
    })
}

#[cfg(test)]
#[path = "backoff_test.rs"]
mod tests;
