//! Every agent session that started in the period has an authorization verified at or before
//! its start (SOC 2 CC6.1, ISO A.5.15).

use std::collections::BTreeMap;

use super::{Check, CheckResult, Params, Table};
use crate::analyze::anomalies::lifecycle::Problem;
use crate::report::evidence::Evidence;

pub struct Authorization;

impl Check for Authorization {
    fn name(&self) -> &'static str {
        "authorization"
    }

    fn rule(&self) -> &'static str {
        "Every agent session that started in the period has an authorization record verified at or before its start."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let started: Vec<_> = ev.period_sessions().filter(|s| s.has_start).collect();
        let mut methods: BTreeMap<String, u64> = BTreeMap::new();
        for s in &started {
            let m = match (&s.session.authorization_verified_at, &s.session.authorization_method) {
                (None, _) => "none recorded".to_string(),
                (Some(_), m) => m.clone().unwrap_or_else(|| "unknown method".into()),
            };
            *methods.entry(m).or_default() += 1;
        }
        let mut table = Table::new(&["authorization method", "sessions"]);
        for (m, n) in &methods {
            table.row([m.clone(), n.to_string()]);
        }
        let exceptions = super::lifecycle::exceptions(ev, &[Problem::NoAuthorization, Problem::AuthorizedLate]);
        let summary = format!(
            "{} sessions started in the period; {} without an authorization record or authorized after the start.",
            started.len(),
            exceptions.len()
        );
        CheckResult::from_exceptions(self, started.len() as u64, summary, table, exceptions)
    }
}
