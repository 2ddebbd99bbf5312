//! Off-hours activity: an actor's burst of events outside business hours (weekends, or before/
//! after the configured hours in the configured time zone) well beyond what they do off-hours
//! in the baseline: a day counts when its off-hours events exceed max(50, 5 × the actor's
//! baseline 95th percentile of off-hours events per active day). False positives: on-call work,
//! people in other time zones (set `--tz`), planned weekend migrations.

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Timelike, Weekday};

use super::dataset::ts;
use super::{quantile, Draft, Heuristic, Input};

pub struct OffHours;

const MIN_COUNT: usize = 50;

impl Heuristic for OffHours {
    fn name(&self) -> &'static str {
        "off_hours"
    }

    fn description(&self) -> &'static str {
        "bursts of activity at night or on weekends beyond the actor's usual off-hours work"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let s = input.settings;
        let (start, end) = s.business_hours;
        // (actor, local day) → rows outside business hours.
        let mut base: BTreeMap<(&str, chrono::NaiveDate), usize> = BTreeMap::new();
        let mut now: BTreeMap<(&str, chrono::NaiveDate), Vec<usize>> = BTreeMap::new();
        for (i, r) in input.data.rows.iter().enumerate() {
            let t = ts(r.time());
            let local = s.tz.from_utc_datetime(&t.naive_utc());
            let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
            if !weekend && local.hour() >= start && local.hour() < end {
                continue;
            }
            let key = (r.principal(), local.date_naive());
            if input.baseline.contains(&t) {
                *base.entry(key).or_default() += 1;
            } else if input.range.contains(&t) {
                now.entry(key).or_default().push(i);
            }
        }
        let mut per_actor: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for ((a, _), n) in base {
            per_actor.entry(a).or_default().push(n as f64);
        }
        let mut out = Vec::new();
        for ((actor, day), rows) in now {
            if actor.is_empty() {
                continue;
            }
            let p95 = per_actor.get_mut(actor).map_or(0.0, |v| quantile(v, 0.95));
            let threshold = (MIN_COUNT as f64).max(5.0 * p95);
            if (rows.len() as f64) <= threshold {
                continue;
            }
            out.push(Draft {
                severity: 5,
                actor: actor.to_string(),
                value: format!("{} events outside business hours on {day}", rows.len()),
                threshold: format!(
                    "business hours {start:02}:00–{end:02}:00 {} Mon–Fri; baseline p95 {p95:.0} off-hours events/day; threshold {threshold:.0}",
                    s.tz
                ),
                explanation: format!(
                    "This actor was busy outside working hours on {day}, far more than they usually are."
                ),
                rows,
                ..Draft::default()
            });
        }
        out
    }
}
