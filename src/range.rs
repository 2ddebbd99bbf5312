//! Time ranges from the command line: `2026-10-01..2026-10-31` (whole days, inclusive, in a
//! time zone), RFC 3339 instants (`2026-10-01T00:00:00Z..2026-10-01T12:00:00Z`), or open ends.
//! A range is half-open: `from <= t < to`. Relative ranges for scheduled jobs —
//! `today`, `yesterday`, `last-7d`, `last-30d`, `last-month`, `last-quarter`, `month-to-date` —
//! are whole days in the zone, computed from the current time.

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
    /// No `..` separator and not a relative range.
    #[error("range {0:?} has no \"..\"; write FROM..TO (e.g. 2026-10-01..2026-10-31) or one of today, yesterday, last-7d, last-30d, last-month, last-quarter, month-to-date")]
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

/// A relative range at `now` in `tz`, if `text` names one.
pub fn relative(text: &str, tz: Tz, now: Timestamp) -> Option<TimeRange> {
    use chrono::{Datelike, Months};
    let today = now.with_timezone(&tz).date_naive();
    let day = |d: NaiveDate| Some(start_of_day(d, tz));
    let month_start = today.with_day(1)?;
    let quarter_start = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1)?;
    let (from, to) = match text {
        "today" => (day(today), Some(now)),
        "yesterday" => (day(today.pred_opt()?), day(today)),
        "last-7d" => (day(today.checked_sub_days(Days::new(7))?), day(today)),
        "last-30d" => (day(today.checked_sub_days(Days::new(30))?), day(today)),
        "month-to-date" => (day(month_start), Some(now)),
        "last-month" => (day(month_start.checked_sub_months(Months::new(1))?), day(month_start)),
        "last-quarter" => (day(quarter_start.checked_sub_months(Months::new(3))?), day(quarter_start)),
        _ => return None,
    };
    Some(TimeRange { from, to })
}

impl TimeRange {
    /// Parse `FROM..TO` (dates are whole days in `tz`, both ends inclusive) or a relative range
    /// (see [`relative`]) at the current time.
    pub fn parse(text: &str, tz: Tz) -> Result<TimeRange, RangeError> {
        TimeRange::parse_at(text, tz, time::to_micros(chrono::Utc::now()))
    }

    /// [`TimeRange::parse`] with an explicit current time.
    pub fn parse_at(text: &str, tz: Tz, now: Timestamp) -> Result<TimeRange, RangeError> {
        if let Some(range) = relative(text.trim(), tz, now) {
            return Ok(range);
        }
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
    fn relative_ranges_are_whole_days_in_the_zone() {
        let now = time::parse("2026-11-23T10:30:00Z").unwrap();
        let at = |text: &str, tz: Tz| TimeRange::parse_at(text, tz, now).unwrap().to_string();
        assert_eq!(at("yesterday", Tz::UTC), "2026-11-22T00:00:00.000000Z..2026-11-23T00:00:00.000000Z");
        assert_eq!(at("last-7d", Tz::UTC), "2026-11-16T00:00:00.000000Z..2026-11-23T00:00:00.000000Z");
        assert_eq!(at("last-month", Tz::UTC), "2026-10-01T00:00:00.000000Z..2026-11-01T00:00:00.000000Z");
        assert_eq!(at("last-quarter", Tz::UTC), "2026-07-01T00:00:00.000000Z..2026-10-01T00:00:00.000000Z");
        assert_eq!(at("month-to-date", Tz::UTC), "2026-11-01T00:00:00.000000Z..2026-11-23T10:30:00.000000Z");
        let berlin = parse_tz("Europe/Berlin").unwrap();
        // October in Berlin starts at UTC+2 and ends at UTC+1.
        assert_eq!(at("last-month", berlin), "2026-09-30T22:00:00.000000Z..2026-10-31T23:00:00.000000Z");
        let january = time::parse("2027-01-15T00:00:00Z").unwrap();
        assert_eq!(
            TimeRange::parse_at("last-quarter", Tz::UTC, january).unwrap().to_string(),
            "2026-10-01T00:00:00.000000Z..2027-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            TimeRange::parse_at("last-month", Tz::UTC, january).unwrap().to_string(),
            "2026-12-01T00:00:00.000000Z..2027-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn errors_explain_the_expected_form() {
        assert!(TimeRange::parse("2026-10-01", Tz::UTC).unwrap_err().to_string().starts_with(
            "range \"2026-10-01\" has no \"..\"; write FROM..TO (e.g. 2026-10-01..2026-10-31) or one of today"
        ));
        assert!(matches!(TimeRange::parse("2026-10-31..2026-10-01", Tz::UTC), Err(RangeError::Reversed(_))));
        assert!(matches!(TimeRange::parse("oct..", Tz::UTC), Err(RangeError::BadEnd(_))));
        assert!(matches!(parse_tz("Mars/Base"), Err(RangeError::BadZone(_))));
    }
}
