//! The event categories the organization decided to log are present in the period (NIST AU-2,
//! AU-12, ISO A.8.15). Parameter `categories`: the categories required (default: sign-ins
//! (`system_access`), and agent sessions (`duo_agent_platform`)).

use serde_json::Value;

use super::{Check, CheckResult, Exception, Params, Table};
use crate::report::evidence::Evidence;

pub struct EventCoverage;

/// Categories required unless the control says otherwise.
pub const DEFAULT_CATEGORIES: &[&str] = &["system_access", "duo_agent_platform"];

impl Check for EventCoverage {
    fn name(&self) -> &'static str {
        "event_coverage"
    }

    fn rule(&self) -> &'static str {
        "Each required event category has records in the period."
    }

    fn params(&self) -> &'static [&'static str] {
        &["categories"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let required: Vec<String> = match params.get("categories").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
            None => DEFAULT_CATEGORIES.iter().map(|c| c.to_string()).collect(),
        };
        let mut table = Table::new(&["category", "records", "required"]);
        for (cat, n) in &ev.stats.categories {
            table.row([cat.clone(), n.to_string(), if required.contains(cat) { "yes" } else { "" }.to_string()]);
        }
        let mut exceptions = Vec::new();
        for cat in &required {
            if !ev.stats.categories.contains_key(cat) {
                table.row([cat.clone(), "0".to_string(), "yes".to_string()]);
                exceptions.push(Exception {
                    subject: cat.clone(),
                    reason: format!("no {cat} records in the period"),
                    time: None,
                    sessions: Vec::new(),
                    event_ids: Vec::new(),
                    event_count: 0,
                });
            }
        }
        let summary = format!(
            "{} categories present; {} of {} required categories missing.",
            ev.stats.categories.len(),
            exceptions.len(),
            required.len()
        );
        CheckResult::from_exceptions(self, required.len() as u64, summary, table, exceptions)
    }
}
