//! Audit records are kept for the required time (parameter `days`, default 365; NIST AU-11,
//! ISO A.8.15): the oldest record the source holds is at least that old at the end of the
//! period. A shorter history is insufficient evidence, not an exception: the deployment or the
//! source may simply be younger.

use super::{param_f64, Check, CheckResult, Params, Status, Table};
use crate::model::time;
use crate::report::evidence::Evidence;

pub struct Retention;

impl Check for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn rule(&self) -> &'static str {
        "The source holds records at least as old as the retention requirement, counted back from the end of the period."
    }

    fn params(&self) -> &'static [&'static str] {
        &["days"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let days = param_f64(params, "days", 365.0).max(0.0) as i64;
        let needed = ev.period.to - chrono::TimeDelta::days(days);
        let mut table = Table::new(&["measure", "value"]);
        table.row(["required retention".to_string(), format!("{days} days")]);
        table.row(["records needed back to".to_string(), time::format(&needed)]);
        let oldest = ev.earliest.map_or_else(|| "none".to_string(), |t| time::format(&t));
        table.row(["oldest record in the source".to_string(), oldest.clone()]);
        let mut r = CheckResult::from_exceptions(self, 1, String::new(), table, Vec::new());
        match ev.earliest {
            Some(t) if t <= needed => {
                r.summary = format!("The oldest record ({oldest}) is older than the {days}-day requirement.");
            }
            Some(t) => {
                r.status = Status::InsufficientEvidence;
                r.summary = format!(
                    "The oldest record ({oldest}) covers {} of the {days} days required: the source does not show {days} days of retention.",
                    (ev.period.to - t).num_days()
                );
            }
            None => {
                r.status = Status::InsufficientEvidence;
                r.summary = "The source holds no records.".into();
            }
        }
        r
    }
}
