//! Records carry UTC timestamps, in order within each stream as the source holds them (NIST
//! AU-8, ISO A.8.15 / A.12.4.4). Records without a readable timestamp never reach the report
//! (the source rejects them); going back by less than a second is tolerated jitter.

use super::{Check, CheckResult, Exception, Params, Table};
use crate::report::evidence::{Evidence, ORDER_TOLERANCE};

pub struct Timestamps;

impl Check for Timestamps {
    fn name(&self) -> &'static str {
        "timestamps"
    }

    fn rule(&self) -> &'static str {
        "Every record has a UTC timestamp, and no record goes back in time within its stream by more than the tolerance."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let s = &ev.stats;
        let mut table = Table::new(&["measure", "value"]);
        table.row(["records in the period".to_string(), s.events.to_string()]);
        table.row(["streams".to_string(), s.streams.iter().cloned().collect::<Vec<_>>().join(", ")]);
        table.row(["time zone of stored timestamps".to_string(), "UTC (normalized on reading)".to_string()]);
        table.row(["tolerance".to_string(), format!("{} s", ORDER_TOLERANCE.num_seconds())]);
        table.row(["records out of order".to_string(), s.out_of_order.count.to_string()]);
        let mut exceptions = Vec::new();
        if s.out_of_order.count > 0 {
            exceptions.push(Exception {
                subject: "audit records".into(),
                reason: format!(
                    "{} records are older than a record before them in the same stream",
                    s.out_of_order.count
                ),
                time: None,
                sessions: Vec::new(),
                event_ids: s.out_of_order.ids.clone(),
                event_count: s.out_of_order.count,
            });
        }
        let summary =
            format!("{} records in {} stream(s); {} out of order.", s.events, s.streams.len(), s.out_of_order.count);
        CheckResult::from_exceptions(self, s.events, summary, table, exceptions)
    }
}
