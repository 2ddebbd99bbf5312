//! Time ranges from the command line: `2026-10-01..2026-10-31` (whole days, inclusive, in a
//! time zone), RFC 3339 instants (`2026-10-01T00:00:00Z..2026-10-01T12:00:00Z`), or open ends.
//! A range is half-open: `from <= t < to`.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::time::{self, Timestamp};

/// A half-open time range; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// A range that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeError {
    /// No `..` separator.
    #[error("range {0:?} has no \"..\"; write FROM..TO, e.g. 2026-10-01..2026-10-31")]
    NoSeparator(String),
    /// One end is neither a date nor an RFC 3339 instant.
    #[error("{0:?} is neither a date (2026-10-01) nor an RFC 3339 instant (2026-10-01T00:00:00Z)")]
    BadEnd(String),
    /// The range ends before it starts.
    #[error("range {0:?} ends before it starts")]
    Reversed(String),
    /// The time zone is unknown.
    #[error("unknown time zone {0:?}; use an IANA name such as UTC or Europe/Berlin")]
    BadZone(String),
}

/// Parse `--tz`.
pub fn parse_tz(name: &str) -> Result<Tz, RangeError> {
    name.parse().map_err(|_| RangeError::BadZone(name.to_string()))
}

/// The first instant of `date` in `tz` (midnight, or the first valid time after a DST gap).
fn start_of_day(date: NaiveDate, tz: Tz) -> Timestamp {
    let mut t = date.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(d) => return d.with_timezone(&Utc),
            LocalResult::Ambiguous(early, _) => return early.with_timezone(&Utc),
            LocalResult::None => t += chrono::Duration::minutes(30),
        }
    }
    date.and_time(NaiveTime::MIN).and_utc()
}

fn parse_end(text: &str, tz: Tz, is_end: bool) -> Result<Option<Timestamp>, RangeError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if is_end {
            date.checked_add_days(Days::new(1)).ok_or_else(|| RangeError::BadEnd(text.into()))?
        } else {
            date
        };
        return Ok(Some(start_of_day(day, tz)));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(time::to_micros(t.with_timezone(&Utc))))
        .map_err(|_| RangeError::BadEnd(text.to_string()))
}

impl TimeRange {
    /// Parse `FROM..TO`; dates are whole days in `tz`, both ends inclusive.
    pub fn parse(text: &str, tz: Tz) -> Result<TimeRange, RangeError> {
        let (a, b) = text.split_once("..").ok_or_else(|| RangeError::NoSeparator(text.to_string()))?;
        let range = TimeRange { from: parse_end(a, tz, false)?, to: parse_end(b, tz, true)? };
        if let (Some(f), Some(t)) = (range.from, range.to) {
            if t <= f {
                return Err(RangeError::Reversed(text.to_string()));
            }
        }
        Ok(range)
    }

    pub fn contains(&self, t: &Timestamp) -> bool {
        self.from.is_none_or(|f| *t >= f) && self.to.is_none_or(|e| *t < e)
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |t: &Option<Timestamp>| t.as_ref().map(time::format).unwrap_or_default();
        write!(f, "{}..{}", end(&self.from), end(&self.to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_inclusive_in_utc_and_in_a_zone() {
        let r = TimeRange::parse("2026-10-01..2026-10-31", Tz::UTC).unwrap();
        assert_eq!(r.to_string(), "2026-10-01T00:00:00.000000Z..2026-11-01T00:00:00.000000Z");
        let r = TimeRange::parse("2026-10-01..2026-10-31", parse_tz("Europe/Berlin").unwrap()).unwrap();
        // Berlin is UTC+2 on Oct 1 and UTC+1 from Oct 25 (end of DST).
        assert_eq!(r.to_string(), "2026-09-30T22:00:00.000000Z..2026-10-31T23:00:00.000000Z");
    }

    #[test]
    fn instants_and_open_ends() {
        let r = TimeRange::parse("2026-10-01T10:00:00+02:00..", Tz::UTC).unwrap();
        assert_eq!(r.to_string(), "2026-10-01T08:00:00.000000Z..");
        assert!(r.contains(&time::parse("2026-10-01T08:00:00Z").unwrap()));
        assert!(!r.contains(&time::parse("2026-10-01T07:59:59.999999Z").unwrap()));
        let r = TimeRange::parse("..2026-10-01", Tz::UTC).unwrap();
        assert!(!r.contains(&time::parse("2026-10-02T00:00:00Z").unwrap()));
    }

    #[test]
    fn errors_explain_the_expected_form() {
        assert_eq!(
            TimeRange::parse("2026-10-01", Tz::UTC).unwrap_err().to_string(),
            "range \"2026-10-01\" has no \"..\"; write FROM..TO, e.g. 2026-10-01..2026-10-31"
        );
        assert!(matches!(TimeRange::parse("2026-10-31..2026-10-01", Tz::UTC), Err(RangeError::Reversed(_))));
        assert!(matches!(TimeRange::parse("oct..", Tz::UTC), Err(RangeError::BadEnd(_))));
        assert!(matches!(parse_tz("Mars/Base"), Err(RangeError::BadZone(_))));
    }
}
