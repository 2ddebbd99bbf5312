//! Findings of the anomaly heuristics for the period (parameter `heuristics`: which ones;
//! default all), each an exception with its explanation and events (SOC 2 CC7.2/CC7.3,
//! ISO A.8.16, AU-6).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{finding_exceptions, Check, CheckResult, Params, Table};
use crate::analyze::anomalies::HEURISTICS;
use crate::report::evidence::Evidence;

pub struct Anomalies;

impl Check for Anomalies {
    fn name(&self) -> &'static str {
        "anomalies"
    }

    fn rule(&self) -> &'static str {
        "The period shows no anomaly the heuristics detect against the baseline before it."
    }

    fn params(&self) -> &'static [&'static str] {
        &["heuristics"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let names: Vec<&str> = match params.get("heuristics").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(Value::as_str).collect(),
            None => HEURISTICS.iter().map(|h| h.name()).collect(),
        };
        let mut per: BTreeMap<&str, u64> = names.iter().map(|n| (*n, 0)).collect();
        for f in &ev.findings {
            if let Some(n) = per.get_mut(f.heuristic) {
                *n += 1;
            }
        }
        let mut table = Table::new(&["heuristic", "what it looks for", "findings"]);
        for (name, n) in &per {
            let what = HEURISTICS.iter().find(|h| h.name() == *name).map_or("", |h| h.description());
            table.row([name.to_string(), what.to_string(), n.to_string()]);
        }
        let exceptions = finding_exceptions(ev, &names);
        let summary = format!(
            "{} heuristic(s) over {} events of the period against a baseline of {} days: {} finding(s).",
            names.len(),
            ev.stats.events,
            (ev.baseline.to - ev.baseline.from).num_days(),
            exceptions.len()
        );
        CheckResult::from_exceptions(self, ev.stats.events, summary, table, exceptions)
    }
}
