//! Timestamps: UTC with microsecond precision, one text form, lenient parsing of source forms.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A point in time as the model keeps it: UTC, truncated to whole microseconds.
pub type Timestamp = DateTime<Utc>;

/// The one text form used everywhere the tool writes a time: RFC 3339, six fraction digits, `Z`.
pub fn format(t: &Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    // Written by hand: every event's time is written, and chrono's writers interpret a pattern
    // (or go through `fmt`) on every call.
    if (0..=9999).contains(&year) && nanos < 1_000_000_000 {
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, nanos / 1000);
        return b.iter().map(|&c| char::from(c)).collect();
    }
    // Leap seconds, and outside RFC 3339's years: the pattern writes what the tool always wrote.
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
    if let Some(t) = parse_utc(s.as_bytes()) {
        return Some(t);
    }
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

/// The form nearly every record writes, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read without
/// chrono's general RFC 3339 parser (a tenth of a parser thread's time went to it); `None` for
/// anything else, including what that parser would refuse (the caller then asks it).
fn parse_utc(b: &[u8]) -> Option<Timestamp> {
    let (&b'Z', b) = b.split_last()? else { return None };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let nanos = match &b[19..] {
        [] => 0,
        // Up to nine digits, as chrono reads them (more are read by chrono, and truncated).
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    // Second 60 (a leap second) is chrono's to read.
    let second = num(17..19).filter(|s| *s < 60)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, second, nanos)?;
    Some(to_micros(date.and_time(time).and_utc()))
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

    /// The fast path reads what chrono reads, to the same instant, and leaves the rest to it.
    #[test]
    fn the_usual_form_reads_as_chrono_reads_it() {
        let chrono_reads = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| to_micros(t.with_timezone(&Utc)));
        let cases = [
            "2026-10-01T12:00:00Z",
            "2026-10-01T12:00:00.1Z",
            "2026-10-01T12:00:00.123456789Z",
            "2026-10-01T12:00:00.1234567891Z",
            "2026-10-01T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-10-01T24:00:00Z",
            "2026-10-01T12:00:00.Z",
            "2026-10-01t12:00:00z",
            "2026-10-01T12:00:00+00:00",
            "+2026-10-01T12:00:00Z",
            "2026-1-01T12:00:00Z",
            "0000-01-01T00:00:00Z",
        ];
        for s in cases {
            if let Some(t) = parse_utc(s.as_bytes()) {
                assert_eq!(Some(t), chrono_reads(s), "{s}");
            }
            assert_eq!(parse(s), chrono_reads(s).filter(|t| (0..=9999).contains(&chrono::Datelike::year(t))), "{s}");
        }
        assert!(parse_utc(b"2026-10-01T12:00:00.123456Z").is_some());
        assert!(parse_utc(b"2026-10-01T23:59:60Z").is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_usual_text_reads_as_chrono_reads_it(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, sec in 0u32..62,
            frac in proptest::option::of("[0-9]{1,10}"),
        ) {
            let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{}Z", frac.map(|f| format!(".{f}")).unwrap_or_default());
            let chrono_reads = DateTime::parse_from_rfc3339(&s).ok().map(|t| to_micros(t.with_timezone(&Utc)));
            proptest::prop_assert_eq!(parse(&s), chrono_reads, "{}", s);
        }
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
