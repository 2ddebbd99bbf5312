//! Every resource an agent created in the period (commit, merge request, note, …) belongs to a
//! session that started and was authorized before it began (SOC 2 CC8.1, ISO A.8.32, CM-3).

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, CheckResult, Params, Table};
use crate::analyze::anomalies::lifecycle::Problem;
use crate::report::evidence::Evidence;

pub struct ChangeManagement;

impl Check for ChangeManagement {
    fn name(&self) -> &'static str {
        "change_management"
    }

    fn rule(&self) -> &'static str {
        "Every resource an AI agent created in the period belongs to a session that started and was authorized at or before its start."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0u64;
        for s in &ev.sessions {
            for r in s.resources.iter().filter(|r| ev.period.contains(&r.created_at)) {
                *kinds.entry(r.resource_type.clone()).or_default() += 1;
                total += 1;
            }
        }
        let mut table = Table::new(&["resource type", "created or modified in the period"]);
        for (k, n) in &kinds {
            table.row([k.clone(), n.to_string()]);
        }
        // Resources of sessions without a start or an authorization in time.
        let mut exceptions =
            super::lifecycle::exceptions(ev, &[Problem::NoStart, Problem::NoAuthorization, Problem::AuthorizedLate]);
        let with_resources: BTreeSet<&str> = ev
            .sessions
            .iter()
            .filter(|s| s.resources.iter().any(|r| ev.period.contains(&r.created_at)))
            .map(|s| s.session.session_id.as_str())
            .collect();
        exceptions.retain(|e| e.sessions.iter().any(|s| with_resources.contains(s.as_str())));
        for e in &mut exceptions {
            let n: usize = ev
                .sessions
                .iter()
                .filter(|s| e.sessions.contains(&s.session.session_id))
                .map(|s| s.resources.len())
                .sum();
            e.reason = format!("{n} resource(s) from a session with a problem: {}", e.reason);
        }
        let summary = format!(
            "{total} resources created or modified by agent sessions in the period; {} session(s) with resources lack a start or a timely authorization.",
            exceptions.len()
        );
        CheckResult::from_exceptions(self, total, summary, table, exceptions)
    }
}
