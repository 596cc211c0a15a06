use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A point in time, always UTC, with nanosecond precision, between 1677-09-21 and
/// 2262-04-11 (the range of `i64` nanoseconds since the Unix epoch, which is how stores
/// index it). In JSON it is an RFC 3339 string such as `"2026-11-23T17:32:18.5Z"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A string that is not an RFC 3339 timestamp in the supported range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: {why}")]
pub struct ParseTimestampError {
    input: String,
    why: String,
}

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// The system clock, now. Deterministic cores take time as input instead.
    pub fn now() -> Self {
        Timestamp(OffsetDateTime::now_utc())
    }

    /// From nanoseconds since the Unix epoch; every `i64` is in range.
    pub fn from_unix_nanos(nanos: i64) -> Self {
        match OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)) {
            Ok(t) => Timestamp(t),
            // Unreachable: every i64 nanosecond count (±292 years) is inside the range of
            // OffsetDateTime (±9999 years). Saturate rather than panic all the same.
            Err(_) => Timestamp::UNIX_EPOCH,
        }
    }

    /// From whole seconds since the Unix epoch; `None` outside the supported range.
    pub fn from_unix_secs(secs: i64) -> Option<Self> {
        secs.checked_mul(1_000_000_000).map(Self::from_unix_nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> i64 {
        // In range by construction: every way to build a Timestamp checks it.
        i64::try_from(self.0.unix_timestamp_nanos()).unwrap_or(i64::MAX)
    }

    /// Parses RFC 3339 (any offset; converted to UTC).
    pub fn parse_rfc3339(s: &str) -> Result<Self, ParseTimestampError> {
        let err = |why: String| ParseTimestampError {
            input: s.chars().take(64).collect(),
            why,
        };
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| err(e.to_string()))?;
        Self::from_offset_date_time(t).ok_or_else(|| err("outside 1677..2262".into()))
    }

    /// RFC 3339 in UTC (`Z`), with as many fractional digits as needed.
    pub fn to_rfc3339(self) -> String {
        // Formatting a UTC OffsetDateTime between years 1677 and 2262 as RFC 3339 cannot
        // fail (the only failure is a year outside 0..=9999 or an offset with seconds).
        self.0.format(&Rfc3339).unwrap_or_default()
    }

    /// From a `time::OffsetDateTime`; `None` outside the supported range.
    pub fn from_offset_date_time(t: OffsetDateTime) -> Option<Self> {
        i64::try_from(t.unix_timestamp_nanos()).ok()?;
        Some(Timestamp(t.to_offset(UtcOffset::UTC)))
    }

    /// As a `time::OffsetDateTime` in UTC.
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        self.0
    }

    /// `self + d`, or `None` past the supported range.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let n = i64::try_from(d.as_nanos()).ok()?;
        self.unix_nanos().checked_add(n).map(Self::from_unix_nanos)
    }

    /// `self - d`, or `None` before the supported range.
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        let n = i64::try_from(d.as_nanos()).ok()?;
        self.unix_nanos().checked_sub(n).map(Self::from_unix_nanos)
    }

    /// `self - earlier`, or `None` when `earlier` is later than `self`.
    pub fn duration_since(self, earlier: Timestamp) -> Option<Duration> {
        let d = self.unix_nanos().checked_sub(earlier.unix_nanos())?;
        u64::try_from(d).ok().map(Duration::from_nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_in_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-23T18:32:18.123456789+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T17:32:18.123456789Z");
        assert_eq!(Timestamp::from_unix_nanos(t.unix_nanos()), t);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-23T17:32:18.123456789Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn out_of_range_and_garbage_are_errors() {
        assert!(Timestamp::parse_rfc3339("9999-01-01T00:00:00Z").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"2300-01-01T00:00:00Z\"").is_err());
    }

    #[test]
    fn arithmetic() {
        let t = Timestamp::from_unix_secs(100).unwrap();
        let u = t.checked_add(Duration::from_millis(1500)).unwrap();
        assert_eq!(u.duration_since(t), Some(Duration::from_millis(1500)));
        assert_eq!(t.duration_since(u), None);
        assert_eq!(u.checked_sub(Duration::from_millis(1500)), Some(t));
    }
}
