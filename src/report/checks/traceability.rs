//! Every agent session of the period is attributed: the human who initiated it, the identity
//! that acted, and the resources it created (FedRAMP AU-3, SOC 2 CC6.1). The full matrix is
//! a section of the report of its own.

use super::{percent, Check, CheckResult, Exception, Params, Table};
use crate::report::evidence::Evidence;

pub struct Traceability;

impl Check for Traceability {
    fn name(&self) -> &'static str {
        "traceability"
    }

    fn rule(&self) -> &'static str {
        "Every agent session of the period names the human who initiated it."
    }

    fn evaluate(&self, ev: &Evidence, _: &Params) -> CheckResult {
        let sessions: Vec<_> = ev.period_sessions().collect();
        let n = sessions.len() as u64;
        let count = |f: &dyn Fn(&&crate::analyze::sessions::SessionReport) -> bool| {
            sessions.iter().filter(|s| f(s)).count() as u64
        };
        let user = count(&|s| s.initiated_by.is_some());
        let acted = count(&|s| s.acted_as.is_some());
        let authorized = count(&|s| s.session.authorization_verified_at.is_some());
        let with_resources = count(&|s| !s.resources.is_empty());
        let mut table = Table::new(&["link", "sessions", "share"]);
        table.row(["initiating user", &user.to_string(), &percent(user, n)]);
        table.row(["acting identity (service account)", &acted.to_string(), &percent(acted, n)]);
        table.row(["authorization record", &authorized.to_string(), &percent(authorized, n)]);
        table.row(["resources created", &with_resources.to_string(), &percent(with_resources, n)]);
        let without: Vec<_> = sessions.iter().filter(|s| s.initiated_by.is_none()).collect();
        let ids: Vec<String> = without.iter().map(|s| s.session.session_id.clone()).collect();
        let rows = ev.session_rows(&ids);
        let exceptions: Vec<Exception> = without
            .iter()
            .map(|s| {
                let rows = rows.get(&s.session.session_id).map_or(&[][..], Vec::as_slice);
                Exception {
                    subject: s.session.session_id.clone(),
                    reason: "no initiating user recorded for the session".into(),
                    time: Some(s.session.started_at),
                    sessions: vec![s.session.session_id.clone()],
                    event_ids: rows.iter().take(ev.settings.max_event_ids).map(|(_, r)| r.id.to_string()).collect(),
                    event_count: rows.len() as u64,
                }
            })
            .collect();
        let summary = format!(
            "{n} sessions: {} with an initiating user, {} with an acting service account, {} with an authorization record.",
            percent(user, n),
            percent(acted, n),
            percent(authorized, n)
        );
        CheckResult::from_exceptions(self, n, summary, table, exceptions)
    }
}
