//! Timestamps: millisecond precision, RFC 3339 UTC on the wire.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time, truncated to whole milliseconds so that every backend stores it exactly.
pub fn now() -> DateTime<Utc> {
    // Straight from the system clock to milliseconds: `Utc::now()` would build a calendar date
    // only for it to be thrown away and built again.
    let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    };
    from_millis(ms)
}

/// A timestamp from milliseconds since the Unix epoch (clamped to chrono's range).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The timestamp that a change made at `now` records, given the task's previous `lastUpdatedAt`.
///
/// It is strictly later than `previous`, so `lastUpdatedAt` doubles as the task's version:
/// a waiter that saw one value is woken by any change, even two in the same millisecond.
pub fn next_update(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let floor = previous.timestamp_millis().saturating_add(1);
    from_millis(now.timestamp_millis().max(floor))
}

/// Serde format for `DateTime<Utc>`: RFC 3339, UTC, milliseconds, `Z` suffix.
pub mod rfc3339 {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialises as `2025-11-25T10:00:00.000Z`.
    pub fn serialize<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Accepts any RFC 3339 timestamp and converts it to UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_update_is_strictly_later() {
        let t = from_millis(1_000);
        assert_eq!(next_update(t, from_millis(500)), from_millis(1_001));
        assert_eq!(next_update(t, from_millis(1_000)), from_millis(1_001));
        assert_eq!(next_update(t, from_millis(2_000)), from_millis(2_000));
    }

    #[test]
    fn now_has_whole_milliseconds() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000_000, 0);
    }

    #[test]
    fn now_agrees_with_chrono() {
        let before = Utc::now().timestamp_millis();
        let ours = now().timestamp_millis();
        let after = Utc::now().timestamp_millis();
        assert!(
            before <= ours && ours <= after,
            "{before} <= {ours} <= {after}"
        );
    }
}
