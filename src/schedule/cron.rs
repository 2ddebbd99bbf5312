//! Crontab schedules: 5 fields (`min hour dom month dow`, 0 or 7 = Sunday), an optional leading
//! seconds field, `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, evaluated in a time zone.
//!
//! Uses `croner` (crontab semantics) rather than the `cron` crate, whose weekday numbers start at
//! 1 = Sunday (`0 9 * * 1-5` would run Sunday to Thursday there) and which rejects 5-field lines.
//! Around daylight-saving changes a local time that does not exist fires at the first valid time
//! after the gap, and a local time that occurs twice fires once.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    /// Parse a crontab line for `tz`.
    pub fn parse(text: &str, tz: Tz) -> Result<Schedule, String> {
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(text).map_err(|e| {
            format!("{text:?} is not a crontab schedule ({e}); write 5 fields like \"*/15 * * * *\" or \"0 9 * * 1-5\", or @hourly/@daily/@weekly/@monthly")
        })?;
        Ok(Schedule { text: text.to_string(), cron, tz })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t.with_timezone(&self.tz), false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The last fire time at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t.with_timezone(&self.tz), true).ok().map(|d| d.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(s: &Schedule, from: &str, n: usize) -> Vec<DateTime<Utc>> {
        let mut t = utc(from);
        (0..n)
            .map(|_| {
                t = s.next_after(t).unwrap();
                t
            })
            .collect()
    }

    #[test]
    fn weekdays_one_to_five_are_monday_to_friday() {
        let s = Schedule::parse("0 9 * * 1-5", Tz::UTC).unwrap();
        let days: Vec<Weekday> = fires(&s, "2026-11-22T12:00:00Z", 7).iter().map(|t| t.weekday()).collect();
        assert_eq!(
            days,
            [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Mon, Weekday::Tue]
        );
        let sunday = Schedule::parse("0 9 * * 0", Tz::UTC).unwrap();
        let seven = Schedule::parse("0 9 * * 7", Tz::UTC).unwrap();
        assert_eq!(fires(&sunday, "2026-11-23T00:00:00Z", 2), fires(&seven, "2026-11-23T00:00:00Z", 2));
        assert_eq!(fires(&sunday, "2026-11-23T00:00:00Z", 1)[0], utc("2026-11-29T09:00:00Z"));
    }

    #[test]
    fn macros_and_seconds() {
        let s = Schedule::parse("@monthly", Tz::UTC).unwrap();
        assert_eq!(fires(&s, "2026-11-23T00:00:00Z", 1)[0], utc("2026-12-01T00:00:00Z"));
        let s = Schedule::parse("30 */15 * * * *", Tz::UTC).unwrap();
        assert_eq!(fires(&s, "2026-11-23T00:00:00Z", 2), [utc("2026-11-23T00:00:30Z"), utc("2026-11-23T00:15:30Z")]);
        assert!(Schedule::parse("61 * * * *", Tz::UTC).unwrap_err().contains("not a crontab schedule"));
        assert!(Schedule::parse("every day", Tz::UTC).is_err());
    }

    #[test]
    fn month_ends_and_february_29() {
        let s = Schedule::parse("0 0 31 * *", Tz::UTC).unwrap();
        let months: Vec<u32> = fires(&s, "2026-11-01T00:00:00Z", 4).iter().map(|t| t.month()).collect();
        assert_eq!(months, [12, 1, 3, 5], "months without a 31st are skipped");
        let s = Schedule::parse("0 12 29 2 *", Tz::UTC).unwrap();
        assert_eq!(fires(&s, "2026-01-01T00:00:00Z", 2), [utc("2028-02-29T12:00:00Z"), utc("2032-02-29T12:00:00Z")]);
    }

    #[test]
    fn daylight_saving_changes_in_a_named_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::parse("0 9 * * *", berlin).unwrap();
        // 09:00 local is 07:00 UTC in summer and 08:00 UTC in winter (DST ended 2026-10-25).
        assert_eq!(fires(&s, "2026-10-24T00:00:00Z", 2), [utc("2026-10-24T07:00:00Z"), utc("2026-10-25T08:00:00Z")]);
        // 02:30 does not exist on 2026-03-29 (clocks jump 02:00 → 03:00): it fires once that day.
        let s = Schedule::parse("30 2 * * *", berlin).unwrap();
        let spring = fires(&s, "2026-03-28T12:00:00Z", 2);
        assert_eq!(
            spring[0].with_timezone(&berlin).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        assert_eq!(spring[1], berlin.with_ymd_and_hms(2026, 3, 30, 2, 30, 0).unwrap().with_timezone(&Utc));
        // 02:30 occurs twice on 2026-10-25: it fires once.
        let autumn = fires(&s, "2026-10-24T12:00:00Z", 2);
        assert_eq!(
            autumn[0].with_timezone(&berlin).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        );
        assert_eq!(
            autumn[1].with_timezone(&berlin).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 10, 26).unwrap()
        );
    }

    #[test]
    fn last_fire_for_catch_up() {
        let s = Schedule::parse("0 * * * *", Tz::UTC).unwrap();
        assert_eq!(s.last_at_or_before(utc("2026-11-23T10:59:59Z")), Some(utc("2026-11-23T10:00:00Z")));
        assert_eq!(s.last_at_or_before(utc("2026-11-23T11:00:00Z")), Some(utc("2026-11-23T11:00:00Z")));
    }
}
