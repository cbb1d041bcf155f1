#![allow(clippy::unwrap_used)]

use std::time::Duration;

use time::macros::datetime;

use super::*;

/// A deterministic stand-in RNG returning one fixed value, so a test can pin the jitter to
/// the bottom (0) or the top (u64::MAX) of its range.
struct Fixed(u64);

impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0 as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(self.0 as u8);
        Ok(())
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn two_hundreds_are_delivered() {
    for status in [200, 201, 202, 204, 299] {
        assert_eq!(classify(AttemptResult::Status(status)), Class::Delivered);
    }
}

#[test]
fn timeouts_throttling_server_errors_and_network_errors_are_retried() {
    for status in [408, 429, 500, 502, 503, 504, 599] {
        assert_eq!(
            classify(AttemptResult::Status(status)),
            Class::Retry,
            "{status}"
        );
    }
    assert_eq!(classify(AttemptResult::Network), Class::Retry);
    assert_eq!(classify(AttemptResult::Timeout), Class::Retry);
}

#[test]
fn a_refused_destination_gives_up_at_once_inside_the_window() {
    let decision = RetrySchedule::default().decide(
        AttemptResult::Refused,
        1,
        Duration::ZERO,
        None,
        &mut Fixed(0),
    );
    assert_eq!(decision, Decision::GiveUp(GiveUpReason::Refused));
}

#[test]
fn other_client_errors_and_redirects_fail_permanently() {
    for status in [301, 302, 400, 401, 403, 404, 410, 413, 422] {
        assert_eq!(
            classify(AttemptResult::Status(status)),
            Class::Permanent,
            "{status}"
        );
    }
}

#[test]
fn ceiling_doubles_from_five_seconds_and_stops_at_ten_hours() {
    let s = RetrySchedule::default();
    assert_eq!(s.ceiling(1), S(5));
    assert_eq!(s.ceiling(2), S(10));
    assert_eq!(s.ceiling(3), S(20));
    assert_eq!(s.ceiling(13), S(5 * 4096));
    assert_eq!(s.ceiling(14), S(36_000));
    assert_eq!(s.ceiling(u32::MAX), S(36_000));
}

#[test]
fn full_jitter_spans_floor_to_ceiling() {
    let s = RetrySchedule::default();
    assert_eq!(s.next_delay(4, None, &mut Fixed(0)), S(1));
    assert_eq!(s.next_delay(4, None, &mut Fixed(u64::MAX)), S(40));
    let mid = s.next_delay(4, None, &mut Fixed(u64::MAX / 2));
    assert!(mid > S(19) && mid < S(21), "{mid:?}");
}

#[test]
fn jitter_from_a_real_rng_stays_within_bounds() {
    let s = RetrySchedule::default();
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    for attempt in 1..30 {
        let d = s.next_delay(attempt, None, &mut rng);
        assert!(
            d >= s.floor && d <= s.ceiling(attempt).max(s.floor),
            "{attempt}: {d:?}"
        );
    }
}

#[test]
fn retry_after_is_honoured_as_a_minimum() {
    let s = RetrySchedule::default();
    assert_eq!(s.next_delay(1, Some(S(120)), &mut Fixed(u64::MAX)), S(120));
    assert_eq!(
        s.next_delay(20, Some(S(120)), &mut Fixed(u64::MAX)),
        S(36_000)
    );
}

#[test]
fn retry_after_beyond_the_cap_is_capped() {
    let s = RetrySchedule::default();
    assert_eq!(s.next_delay(1, Some(S(86_400)), &mut Fixed(0)), S(36_000));
}

#[test]
fn decide_gives_up_when_the_next_attempt_would_pass_three_days() {
    let s = RetrySchedule::default();
    let three_days = S(3 * 86_400);
    let almost = three_days - S(30);
    let decision = s.decide(
        AttemptResult::Status(503),
        20,
        almost,
        None,
        &mut Fixed(u64::MAX),
    );
    assert_eq!(decision, Decision::GiveUp(GiveUpReason::WindowExhausted));
    let decision = s.decide(AttemptResult::Status(503), 20, almost, None, &mut Fixed(0));
    assert_eq!(decision, Decision::RetryIn(S(1)));
}

#[test]
fn decide_follows_the_classification() {
    let s = RetrySchedule::default();
    let mut rng = Fixed(0);
    assert_eq!(
        s.decide(AttemptResult::Status(204), 0, S(0), None, &mut rng),
        Decision::Delivered
    );
    assert_eq!(
        s.decide(AttemptResult::Status(410), 1, S(0), None, &mut rng),
        Decision::GiveUp(GiveUpReason::Permanent)
    );
    assert_eq!(
        s.decide(AttemptResult::Timeout, 1, S(0), Some(S(7)), &mut rng),
        Decision::RetryIn(S(7))
    );
}

#[test]
fn retry_after_parses_delay_seconds() {
    let now = datetime!(2026-11-22 02:00 UTC);
    assert_eq!(parse_retry_after("120", now), Some(S(120)));
    assert_eq!(parse_retry_after(" 0 ", now), Some(S(0)));
}

#[test]
fn retry_after_parses_an_http_date() {
    let now = datetime!(2026-11-22 02:00 UTC);
    assert_eq!(
        parse_retry_after("Sun, 22 Nov 2026 02:01:30 GMT", now),
        Some(S(90))
    );
    assert_eq!(
        parse_retry_after("Sun, 22 Nov 2026 01:00:00 GMT", now),
        Some(S(0))
    );
}

#[test]
fn retry_after_ignores_nonsense() {
    let now = datetime!(2026-11-22 02:00 UTC);
    for value in [
        "",
        "-5",
        "1.5",
        "soon",
        "99999999999999999999",
        "Sun, 32 Nov 2026 02:01:30 GMT",
    ] {
        assert_eq!(parse_retry_after(value, now), None, "{value:?}");
    }
}
