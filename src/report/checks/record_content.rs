//! Audit records of the period say who, what, when, where and with what outcome, in at least
//! the share the control requires (parameter `min_share`, default 0.99; NIST AU-3, ISO A.5.28).

use super::{param_f64, percent, Check, CheckResult, Exception, Params, Status, Table};
use crate::report::evidence::Evidence;

pub struct RecordContent;

impl Check for RecordContent {
    fn name(&self) -> &'static str {
        "record_content"
    }

    fn rule(&self) -> &'static str {
        "At least the required share of the period's audit records say who acted, what happened, when, where (scope or address) and with what outcome."
    }

    fn params(&self) -> &'static [&'static str] {
        &["min_share"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let min = param_f64(params, "min_share", 0.99);
        let c = &ev.stats.content;
        let n = ev.stats.events;
        let mut table = Table::new(&["part of the record", "records with it", "share"]);
        for (name, v) in [
            ("who (actor)", c.who),
            ("what (event)", c.what),
            ("when (timestamp)", c.when),
            ("where (scope or address)", c.r#where),
            ("outcome", c.outcome),
            ("all five", c.complete),
        ] {
            table.row([name.to_string(), v.to_string(), percent(v, n)]);
        }
        let share = if n == 0 { 0.0 } else { c.complete as f64 / n as f64 };
        let mut exceptions = Vec::new();
        if n > 0 && share < min {
            exceptions.push(Exception {
                subject: "audit records".into(),
                reason: format!(
                    "{} of {n} records lack part of the required content ({} complete, {:.1}% required)",
                    c.incomplete.count,
                    percent(c.complete, n),
                    min * 100.0
                ),
                time: None,
                sessions: Vec::new(),
                event_ids: c.incomplete.ids.clone(),
                event_count: c.incomplete.count,
            });
        }
        let summary = format!(
            "{} of {n} records ({}) carry all five parts; required {:.1}%. Incomplete records: {}.",
            c.complete,
            percent(c.complete, n),
            min * 100.0,
            c.incomplete.count
        );
        let mut r = CheckResult::from_exceptions(self, n, summary, table, exceptions);
        if n == 0 {
            r.status = Status::InsufficientEvidence;
            r.summary = "No audit records in the period.".into();
        }
        r
    }
}
