//! Timestamps: UTC with microsecond precision, one text form, lenient parsing of source forms.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A point in time as the model keeps it: UTC, truncated to whole microseconds.
pub type Timestamp = DateTime<Utc>;

/// The one text form used everywhere the tool writes a time: RFC 3339, six fraction digits, `Z`.
pub fn format(t: &Timestamp) -> String {
    if (0..=9999).contains(&chrono::Datelike::year(t)) {
        // chrono's RFC 3339 writer (every event's time is written: the pattern below is parsed
        // on every call).
        return t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    }
    // Outside RFC 3339's years the pattern writes what the tool always wrote.
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Truncate (never round) to whole microseconds, the precision of PostgreSQL and of the model.
pub fn to_micros(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(6)
}

/// Parse the timestamp forms audit sources write:
/// RFC 3339 (`2026-10-01T12:00:00.123Z`, any offset), GitLab's Ruby form
/// (`2026-10-01 12:00:00.123 UTC` / `+0000`), and zone-less forms, which are taken as UTC
/// (GitLab stores `audit_events.created_at` without a zone, in UTC).
pub fn parse(text: &str) -> Option<Timestamp> {
    // Years 0000–9999 only: what RFC 3339 (and so [`format`]) can write back.
    parse_any(text).filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
}

fn parse_any(text: &str) -> Option<Timestamp> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(to_micros(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S%.f %:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(to_micros(t.with_timezone(&Utc)));
        }
    }
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(to_micros(t.and_utc()));
        }
    }
    None
}

/// Milliseconds since the Unix epoch, as CEF's `rt`, `start` and `end` want them.
pub fn epoch_millis(t: &Timestamp) -> i64 {
    t.timestamp_millis()
}

/// serde adapter: a [`Timestamp`] in the tool's text form.
pub mod serde_ts {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}")))
    }
}

/// serde adapter: an optional [`Timestamp`] in the tool's text form.
pub mod serde_ts_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => {
                parse(&text).map(Some).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_years_rfc_3339_can_write_back() {
        // Found by fuzzing: an offset moved a year-0 time into year -1, which `format` wrote
        // as "-0001-…" and nothing could read back.
        assert_eq!(super::parse("0000-01-01T00:00:00+05:00"), None);
        assert_eq!(super::parse("9999-12-31T23:00:00-02:00"), None);
        let t = super::parse("0000-01-01T05:00:00+05:00").unwrap();
        assert_eq!(super::parse(&super::format(&t)), Some(t));
    }

    use super::*;

    #[test]
    fn parses_source_forms_to_the_same_instant() {
        let want = "2026-10-01T12:00:00.123456Z";
        for text in [
            "2026-10-01T12:00:00.123456Z",
            "2026-10-01T14:00:00.123456+02:00",
            "2026-10-01 12:00:00.123456 UTC",
            "2026-10-01 12:00:00.123456 +0000",
            "2026-10-01 12:00:00.123456",
            "2026-10-01T12:00:00.1234569Z",
        ] {
            assert_eq!(format(&parse(text).unwrap()), want, "{text}");
        }
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn formats_as_chrono_writes_the_pattern() {
        let chrono_text = |t: &Timestamp| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut us: i64 = -62_167_219_200_000_000; // 0000-01-01
        let step = 7_919_999_999_937; // about 92 days and an odd number of microseconds
        while us < 253_402_300_800_000_000 {
            let t = DateTime::from_timestamp_micros(us).unwrap();
            assert_eq!(format(&t), chrono_text(&t));
            us += step;
        }
        let leap = NaiveDateTime::parse_from_str("2016-12-31 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap();
        let leap = chrono::Timelike::with_nanosecond(&leap.and_utc(), 1_500_000_000).unwrap();
        for t in [leap, DateTime::from_timestamp(-62_167_219_201, 0).unwrap(), DateTime::<Utc>::MAX_UTC] {
            assert_eq!(format(&t), chrono_text(&t));
        }
        assert_eq!(format(&leap), "2016-12-31T23:59:60.500000Z");
    }

    #[test]
    fn formats_whole_seconds_with_six_digits() {
        let t = parse("2018-10-17T17:38:22Z").unwrap();
        assert_eq!(format(&t), "2018-10-17T17:38:22.000000Z");
        assert_eq!(epoch_millis(&t), 1_539_797_902_000);
    }
}
