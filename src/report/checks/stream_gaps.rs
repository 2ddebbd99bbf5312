//! The audit stream has no interval without events where the baseline predicts many (a
//! possible logging outage; NIST AU-5, ISO A.8.15).

use super::{finding_exceptions, Check, CheckResult, Params, Table};
use crate::report::evidence::Evidence;

pub struct StreamGaps;

impl Check for StreamGaps {
    fn name(&self) -> &'static str {
        "stream_gaps"
    }

    fn rule(&self) -> &'static str {
        "No hour of the period is empty of audit events where the baseline predicts many."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let hours = (ev.period.to - ev.period.from).num_hours().max(0) as u64;
        let days = ev.stats.per_day.len();
        let mut table = Table::new(&["measure", "value"]);
        table.row(["hours in the period", &hours.to_string()]);
        table.row(["days with events", &days.to_string()]);
        table.row(["events", &ev.stats.events.to_string()]);
        let exceptions = finding_exceptions(ev, &["stream_gap"]);
        let summary = format!("{hours} hours examined; {} interval(s) without the expected events.", exceptions.len());
        CheckResult::from_exceptions(self, hours, summary, table, exceptions)
    }
}
