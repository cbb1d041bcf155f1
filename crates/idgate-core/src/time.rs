//! Timestamps as unix milliseconds, rendered as RFC 3339 UTC with milliseconds
//! (`2025-01-01T00:00:00.000Z`, api.md "Conventions").
//!
//! Milliseconds are the precision of the wire format, so storage uses the same integer and a value
//! read back compares equal to the value written. The domain never reads a clock: callers pass
//! `now`, obtained at the edge from a [`Clock`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// 0001-01-01T00:00:00.000Z in unix milliseconds.
const MIN_MS: i64 = -62_135_596_800_000;
/// 9999-12-31T23:59:59.999Z in unix milliseconds.
const MAX_MS: i64 = 253_402_300_799_999;

/// An instant with millisecond precision, within years 1..=9999 so that it always formats as
/// RFC 3339.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The text is not an RFC 3339 date-time, or lies outside years 1..=9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time")]
pub struct InvalidTimestamp;

impl Timestamp {
    /// `None` outside years 1..=9999.
    pub fn from_unix_ms(ms: i64) -> Option<Self> {
        (MIN_MS..=MAX_MS).contains(&ms).then_some(Self(ms))
    }

    pub fn unix_ms(self) -> i64 {
        self.0
    }

    /// RFC 3339 with `Z` or a numeric offset; sub-millisecond digits are truncated toward the past.
    pub fn parse_rfc3339(s: &str) -> Result<Self, InvalidTimestamp> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| InvalidTimestamp)?;
        let ms = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(ms)
            .ok()
            .and_then(Self::from_unix_ms)
            .ok_or(InvalidTimestamp)
    }

    /// This instant plus `secs` seconds, saturating at the representable range.
    pub fn plus_seconds(self, secs: i64) -> Self {
        Self(
            self.0
                .saturating_add(secs.saturating_mul(1000))
                .clamp(MIN_MS, MAX_MS),
        )
    }

    /// This instant plus `ms` milliseconds, saturating at the representable range.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms).clamp(MIN_MS, MAX_MS))
    }

    /// `2025-01-01T00:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.millisecond()
            ),
            // Unreachable: the constructor keeps the value within years 1..=9999.
            Err(_) => write!(f, "@{}ms", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Where `now` comes from. The server uses [`SystemClock`]; tests pass fixed instants.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The wall clock of the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(MAX_MS))
            .unwrap_or(0);
        Timestamp(ms.clamp(MIN_MS, MAX_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            Timestamp::from_unix_ms(1_735_689_600_000)
                .unwrap()
                .to_string(),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(1_735_689_600_042)
                .unwrap()
                .to_string(),
            "2025-01-01T00:00:00.042Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(0).unwrap().to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_z_and_offsets() {
        let z = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
        assert_eq!(z.unix_ms(), 1_735_689_600_000);
        let off = Timestamp::parse_rfc3339("2025-01-01T01:00:00+01:00").unwrap();
        assert_eq!(off, z);
        let frac = Timestamp::parse_rfc3339("2025-01-01T00:00:00.123456Z").unwrap();
        assert_eq!(frac.unix_ms(), 1_735_689_600_123);
    }

    #[test]
    fn rejects_non_rfc3339_text() {
        for s in [
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-02-29T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    #[test]
    fn rejects_out_of_range_millis() {
        assert!(Timestamp::from_unix_ms(i64::MAX).is_none());
        assert!(Timestamp::from_unix_ms(MAX_MS).is_some());
    }

    #[test]
    fn round_trips_through_format_and_parse() {
        let t = Timestamp::from_unix_ms(1_764_180_000_123).unwrap();
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn plus_seconds_saturates() {
        let t = Timestamp::from_unix_ms(MAX_MS - 10).unwrap();
        assert_eq!(t.plus_seconds(3600).unix_ms(), MAX_MS);
    }
}
