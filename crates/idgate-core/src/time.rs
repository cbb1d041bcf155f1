//! Timestamps as unix milliseconds, rendered as RFC 3339 UTC with milliseconds
//! (`2025-01-01T00:00:00.000Z`, docs/docs/api.md "Conventions").
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

    /// The same instant as a `time` value, for the passport checks (certificate validity,
    /// document expiry) and the claims (the verification day).
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        // Years 1..=9999 are within `time`'s range, so the conversion cannot fail.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `2025-01-01T00:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

/// Length of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const RFC3339_LEN: usize = 24;

impl Timestamp {
    /// The RFC 3339 text, computed by hand: every session in every response carries four
    /// timestamps, and going through a calendar library and `write!` padding was about 3 % of
    /// the CPU of a session read. Civil date from days since 1970 after H. Hinnant,
    /// "chrono-Compatible Low-Level Date Algorithms" (`civil_from_days`), proleptic Gregorian
    /// like RFC 3339; the tests hold it to the `time` crate over the whole range.
    fn rfc3339_bytes(self) -> [u8; RFC3339_LEN] {
        const MS_PER_DAY: i64 = 86_400_000;
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms_of_day = self.0.rem_euclid(MS_PER_DAY);
        // Shift the epoch to 0000-03-01 so that leap days end each 400-year era.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);

        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for slot in out.iter_mut().skip(at).take(width).rev() {
                // `value` is non-negative and below 10^width for every field: a digit.
                *slot = b'0' + u8::try_from(value % 10).unwrap_or(0);
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, ms_of_day / 3_600_000);
        put(14, 2, ms_of_day / 60_000 % 60);
        put(17, 2, ms_of_day / 1_000 % 60);
        put(20, 3, ms_of_day % 1_000);
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.rfc3339_bytes();
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.rfc3339_bytes();
        let text = std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
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
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place the wall clock is read"
    )]
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
    use proptest::prelude::*;

    use super::*;

    /// The formatting this module had before it was written by hand, as the oracle.
    fn via_time_crate(t: Timestamp) -> String {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000).unwrap();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    proptest! {
        #[test]
        fn formatting_agrees_with_the_time_crate_over_the_whole_range(ms in MIN_MS..=MAX_MS) {
            let t = Timestamp::from_unix_ms(ms).unwrap();
            prop_assert_eq!(t.to_string(), via_time_crate(t));
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Ok(t));
        }
    }

    #[test]
    fn formatting_is_exact_at_the_edges_of_the_range_and_of_leap_days() {
        for ms in [
            MIN_MS,
            MAX_MS,
            -1,
            0,
            951_782_400_000, // 2000-02-29, a leap day of a century divisible by 400
            951_868_799_999, // its last millisecond
            -2_203_891_200_000, // 1900-03-01, the day after 1900-02-28 (no leap day)
            4_107_542_400_000, // 2100-03-01
        ] {
            let t = Timestamp::from_unix_ms(ms).unwrap();
            assert_eq!(t.to_string(), via_time_crate(t), "{ms}");
        }
    }

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
