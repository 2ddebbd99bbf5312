//! Audit stream gaps (NIST AU-5): hours of the range with no events at all where the baseline
//! predicts many — the same weekday and hour was never silent in the baseline weeks and held 10
//! events or more on average. Consecutive silent hours make one finding. A silent stretch usually means a logging
//! or export outage, not a quiet office. False positives: holidays, planned maintenance.

use std::collections::BTreeMap;

use chrono::{Datelike, Timelike};

use super::dataset::ts;
use super::store::Key;
use super::{Draft, Heuristic, Input, Window};
use crate::analyze::aggregate::Bucket;

pub struct StreamGaps;

const MIN_EXPECTED: f64 = 10.0;

impl Heuristic for StreamGaps {
    fn name(&self) -> &'static str {
        "stream_gap"
    }

    fn description(&self) -> &'static str {
        "hours without any audit event where the baseline predicts many (a logging outage)"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let hour = Bucket::Hour.micros();
        // Events per hour of a window, every hour of it (empty ones 0).
        let timeline = |w: &Window| -> Vec<(i64, i64)> {
            let seen: BTreeMap<i64, i64> =
                input.data.group(&[Key::Hour], &[], w).into_iter().map(|g| (g.int(0), g.count as i64)).collect();
            let (first, last) =
                (Bucket::Hour.start(w.from.timestamp_micros()), Bucket::Hour.start(w.to.timestamp_micros() - 1));
            (0..)
                .map(|i| first + i * hour)
                .take_while(|h| *h <= last)
                .map(|h| (h, seen.get(&h).copied().unwrap_or(0)))
                .collect()
        };
        let slot = |us: i64| {
            let t = ts(us);
            (t.weekday().num_days_from_monday(), t.hour())
        };
        // Per weekday and hour: total, weeks seen, and the quietest week.
        let mut expected: BTreeMap<(u32, u32), (f64, f64, i64)> = BTreeMap::new();
        for (h, n) in timeline(&input.baseline) {
            let e = expected.entry(slot(h)).or_insert((0.0, 0.0, i64::MAX));
            e.0 += n as f64;
            e.1 += 1.0;
            e.2 = e.2.min(n);
        }
        let mut silent: Vec<(i64, f64)> = Vec::new();
        for (h, n) in timeline(&input.range) {
            if n == 0 {
                let (mean, quietest) = expected.get(&slot(h)).map_or((0.0, 0), |(sum, n, min)| (sum / n, *min));
                if mean >= MIN_EXPECTED && quietest > 0 {
                    silent.push((h, mean));
                }
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < silent.len() {
            let mut j = i + 1;
            while j < silent.len() && silent[j].0 == silent[j - 1].0 + hour {
                j += 1;
            }
            let (from, to) = (silent[i].0, silent[j - 1].0 + hour);
            let predicted: f64 = silent[i..j].iter().map(|(_, m)| m).sum();
            out.push(Draft {
                severity: 8,
                window: Some(Window::from_micros(from, to)),
                value: format!("0 events in {} hour(s)", j - i),
                threshold: format!("baseline predicts about {predicted:.0} events in those hours"),
                explanation: format!(
                    "No audit events at all were recorded for {} hour(s) when usually there are many: a possible logging outage.",
                    j - i
                ),
                ..Draft::default()
            });
            i = j;
        }
        out
    }
}
