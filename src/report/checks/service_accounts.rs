//! Every service account that acted in the period was provisioned through a recorded
//! `duo_service_account_provisioned` (or `…service_account…_created`) event, or is listed in
//! the control's `known` parameter (accounts provisioned before the records begin) (SOC 2
//! CC6.2, ISO A.8.2, AC-2(4)).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Check, CheckResult, Exception, Params, Table};
use crate::analyze::anomalies::dataset::ts;
use crate::analyze::anomalies::store::{Filter, Key};
use crate::report::evidence::Evidence;

pub struct ServiceAccounts;

impl Check for ServiceAccounts {
    fn name(&self) -> &'static str {
        "service_accounts"
    }

    fn rule(&self) -> &'static str {
        "Every service account that acted in the period has a provisioning event in the records (or is listed as known)."
    }

    fn params(&self) -> &'static [&'static str] {
        &["known"]
    }

    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult {
        let known: Vec<&str> = params
            .get("known")
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
        // Service account → how many events of the period it acted in.
        let acted: BTreeMap<String, u64> = ev
            .store
            .group(&[Key::Actor], &[Filter::ServiceAccount], &ev.period)
            .into_iter()
            .filter(|g| !g.text(0).is_empty())
            .map(|g| (g.text(0).to_string(), g.count))
            .collect();
        ev.store.names_for(&acted.keys().cloned().collect::<Vec<_>>());
        let mut table = Table::new(&["service account", "name", "events in the period", "provisioning"]);
        let mut exceptions = Vec::new();
        for (id, count) in &acted {
            let id = id.as_str();
            let name = ev.store.name_of(id);
            let known_ids = &ev.settings.provisioned;
            let provisioned = known_ids.contains(id) || (!name.is_empty() && known_ids.contains(&name));
            let listed = known.iter().any(|k| *k == id || *k == name);
            let state = if provisioned {
                "recorded"
            } else if listed {
                "known (listed)"
            } else {
                "NONE"
            };
            table.row([id.to_string(), name.clone(), count.to_string(), state.to_string()]);
            if !provisioned && !listed {
                // An account acting all month is millions of events: the first ones and the
                // sessions (listed up to the same cap) are asked for, not every row.
                let filters = [Filter::Actor(id.to_string()), Filter::ServiceAccount];
                let max = ev.settings.max_event_ids;
                let rows = ev.store.first_rows(&filters, &ev.period, max);
                let sessions: Vec<String> = ev
                    .store
                    .group(&[Key::Session], &filters, &ev.period)
                    .iter()
                    .map(|g| g.text(0).to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                let in_sessions = match sessions.len() {
                    0 => String::new(),
                    1 => " in 1 session".to_string(),
                    n => format!(" in {n} sessions"),
                };
                exceptions.push(Exception {
                    subject: if name.is_empty() { id.to_string() } else { format!("{name} ({id})") },
                    reason: format!("acted {count} times{in_sessions} in the period with no provisioning event"),
                    time: rows.first().map(|(_, r)| ts(r.time())),
                    sessions: sessions.into_iter().take(max).collect(),
                    event_ids: rows.iter().map(|(_, r)| r.id.to_string()).collect(),
                    event_count: *count,
                });
            }
        }
        let summary = format!(
            "{} service accounts acted in the period; {} of them have no provisioning event.",
            acted.len(),
            exceptions.len()
        );
        CheckResult::from_exceptions(self, acted.len() as u64, summary, table, exceptions)
    }
}
