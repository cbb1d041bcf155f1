//! Per-API-key rate limiting: one GCRA token bucket per key id (governor), so one noisy
//! integrator key cannot starve the others and the limit follows the credential, not the IP.
//!
//! Rejections carry how long until the next request would be admitted, which the HTTP layer
//! turns into `Retry-After` (RFC 9110 §10.2.3, whole seconds, rounded up).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Token buckets keyed by API key id.
pub struct KeyRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for KeyRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRateLimiter")
            .field("tracked_keys", &self.limiter.len())
            .finish()
    }
}

impl KeyRateLimiter {
    /// `per_second` sustained requests with bursts of up to `burst`; zero values are raised to 1
    /// (configuration validation rejects them earlier).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one request for `key_id`, or says how long to wait.
    pub fn check(&self, key_id: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key_id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets buckets that are full again, so memory stays bounded by recently active keys.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// `Retry-After` value for a wait: whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_is_told_to_wait() {
        let limiter = KeyRateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check("key_a").is_ok());
        }
        let wait = limiter.check("key_a").expect_err("burst exhausted");
        assert!(wait <= Duration::from_secs(1));
    }

    #[test]
    fn keys_have_independent_buckets() {
        let limiter = KeyRateLimiter::new(1, 1);
        assert!(limiter.check("key_a").is_ok());
        assert!(limiter.check("key_a").is_err());
        assert!(limiter.check("key_b").is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
