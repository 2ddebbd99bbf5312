//! Off-hours activity: an actor's burst of events outside business hours (weekends, or before/
//! after the configured hours in the configured time zone) well beyond what they do off-hours
//! in the baseline: a day counts when its off-hours events exceed max(50, 5 × the actor's
//! baseline 95th percentile of off-hours events per active day). False positives: on-call work,
//! people in other time zones (set `--tz`), planned weekend migrations.

use std::collections::{BTreeMap, BTreeSet};

use super::store::{Filter, Having, Key};
use super::{quantile, Draft, Heuristic, Input, Window};

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
        let keys = [Key::Principal, Key::LocalDay(s.tz)];
        let off = [Filter::OffHours(s.tz, start, end)];
        // The range's days first, of the actors who could cross the threshold at all (more
        // than MIN_COUNT off-hours events in the range); then the baseline of only those.
        let mut now = Vec::new();
        // An actor judged has more than MIN_COUNT events (off hours, in the range).
        let rarest = MIN_COUNT as u64 + 1;
        let busy = |_: &str, _, rows| rows > MIN_COUNT as u64;
        input.data.group_each(&keys, &off, &input.range, Having::new(&busy).none_rarer_than(rarest), &mut |g| {
            if g.count > MIN_COUNT as u64 {
                now.push((g.text(0).into_owned(), g.text(1).into_owned(), g.count));
            }
        });
        let candidates: BTreeSet<&str> = now.iter().map(|(actor, _, _)| actor.as_str()).collect();
        let mut per_actor: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let candidate = |actor: &str, _, _| candidates.contains(actor);
        input.data.group_each(
            &keys,
            &off,
            &input.baseline,
            Having::new(&candidate).none_rarer_than(rarest),
            &mut |g| {
                per_actor.entry(g.text(0).into_owned()).or_default().push(g.count as f64);
            },
        );
        let mut out = Vec::new();
        for (actor, day, count) in &now {
            let (actor, day, count) = (actor.as_str(), day.as_str(), *count);
            if actor.is_empty() {
                continue;
            }
            let p95 = per_actor.get_mut(actor).map_or(0.0, |v| quantile(v, 0.95));
            let threshold = (MIN_COUNT as f64).max(5.0 * p95);
            if (count as f64) <= threshold {
                continue;
            }
            let filters =
                [Filter::Principal(actor.to_string()), off[0].clone(), Filter::LocalDay(s.tz, day.to_string())];
            let rows = input.data.rows(&filters, &around(day, &input.range));
            out.push(Draft {
                severity: 5,
                actor: actor.to_string(),
                value: format!("{count} events outside business hours on {day}"),
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

/// The part of `range` that holds calendar day `day` (`YYYY-MM-DD`) in every time zone: from a
/// day before it to a day after it in UTC (zones are within 14 hours of it). The evidence is
/// looked for there, the day itself told by its filter, instead of in the whole range.
fn around(day: &str, range: &Window) -> Window {
    let Ok(date) = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") else { return *range };
    let start = date.and_time(chrono::NaiveTime::MIN).and_utc() - chrono::Duration::days(1);
    let from = range.from.max(start);
    Window { from, to: range.to.min(start + chrono::Duration::days(3)).max(from) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_looked_for_around_the_day_within_the_range() {
        let t = |s: &str| crate::model::time::parse(s).unwrap();
        let range = Window { from: t("2026-10-01T00:00:00Z"), to: t("2026-11-01T00:00:00Z") };
        let w = around("2026-10-15", &range);
        assert_eq!((w.from, w.to), (t("2026-10-14T00:00:00Z"), t("2026-10-17T00:00:00Z")));
        // At the range's ends the window stays inside it.
        let w = around("2026-10-01", &range);
        assert_eq!((w.from, w.to), (t("2026-10-01T00:00:00Z"), t("2026-10-03T00:00:00Z")));
        let w = around("2026-10-31", &range);
        assert_eq!((w.from, w.to), (t("2026-10-30T00:00:00Z"), t("2026-11-01T00:00:00Z")));
        // A day outside the range gives an empty window; a text that is no day, the range.
        let w = around("2026-12-25", &range);
        assert_eq!((w.from, w.to), (t("2026-12-24T00:00:00Z"), t("2026-12-24T00:00:00Z")));
        assert_eq!(around("15 Oct", &range), range);
    }
}
