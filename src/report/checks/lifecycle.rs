//! Every session that created resources ended (completed or failed) within the stuck limit,
//! and every resource belongs to a session that started (SOC 2 CC8.1, ISO A.8.32, CM-3).

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, CheckResult, Exception, Params, Table};
use crate::analyze::anomalies::first_seen::Attr;
use crate::analyze::anomalies::lifecycle::Problem;
use crate::analyze::anomalies::store::{Filter, Key};
use crate::report::evidence::Evidence;

pub struct Lifecycle;

/// The lifecycle problems of the period's sessions of the given kinds, as exceptions. Three
/// checks ask; the sessions were examined once per report, by the lifecycle heuristic (on
/// ClickHouse, a heavy question).
pub fn exceptions(ev: &Evidence, kinds: &[Problem]) -> Vec<Exception> {
    let input = ev.input();
    input
        .lifecycle
        .of(&input)
        .iter()
        .filter(|(p, _)| kinds.contains(p))
        .map(|(_, d)| Exception::of_finding(&d.clone().finish("lifecycle", &*ev.store, ev.settings.max_event_ids)))
        .collect()
}

impl Check for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn rule(&self) -> &'static str {
        "Every agent session that created resources completed or failed within the stuck limit, and every resource belongs to a session with a start event."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let sessions: Vec<_> = ev.period_sessions().collect();
        let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &sessions {
            *by_status.entry(s.session.status.as_str()).or_default() += 1;
        }
        let paused_ever: BTreeSet<String> = ev
            .store
            .group(&[Key::Session], &[Filter::Attr(Attr::EventName, "duo_flow_paused".into())], &ev.whole())
            .iter()
            .map(|g| g.text(0).to_string())
            .collect();
        let paused = sessions.iter().filter(|s| paused_ever.contains(&s.session.session_id)).count();
        let mut table = Table::new(&["status at the end of the data", "sessions"]);
        for (k, n) in &by_status {
            table.row([k.to_string(), n.to_string()]);
        }
        let exceptions = exceptions(ev, &[Problem::NoEnd, Problem::NoStart]);
        let stuck = ev.settings.stuck_after.num_hours();
        let summary = format!(
            "{} sessions in the period{}; {} never ended within {stuck} h or have resources but no start.",
            sessions.len(),
            if paused > 0 { format!(" ({paused} paused at some point)") } else { String::new() },
            exceptions.len()
        );
        CheckResult::from_exceptions(self, sessions.len() as u64, summary, table, exceptions)
    }
}
