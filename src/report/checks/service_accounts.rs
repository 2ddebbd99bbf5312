//! Every service account that acted in the period was provisioned through a recorded
//! `duo_service_account_provisioned` (or `…service_account…_created`) event, or is listed in
//! the control's `known` parameter (accounts provisioned before the records begin) (SOC 2
//! CC6.2, ISO A.8.2, AC-2(4)).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Check, CheckResult, Exception, Params, Table};
use crate::model::ActorClass;
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
        // Service account → rows of the period where it acted.
        let mut acted: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in ev.data.rows.iter().enumerate() {
            if r.class == ActorClass::ServiceAccount
                && !r.fact.actor.is_empty()
                && ev.period.contains(&crate::analyze::anomalies::dataset::ts(r.time()))
            {
                acted.entry(&r.fact.actor).or_default().push(i);
            }
        }
        let mut table = Table::new(&["service account", "name", "events in the period", "provisioning"]);
        let mut exceptions = Vec::new();
        for (id, rows) in &acted {
            let name = ev.data.name_of(id);
            let provisioned = ev.provisioned.contains(*id) || (!name.is_empty() && ev.provisioned.contains(&name));
            let listed = known.iter().any(|k| k == id || *k == name);
            let state = if provisioned {
                "recorded"
            } else if listed {
                "known (listed)"
            } else {
                "NONE"
            };
            table.row([id.to_string(), name.clone(), rows.len().to_string(), state.to_string()]);
            if !provisioned && !listed {
                let first = rows[0];
                exceptions.push(Exception {
                    subject: if name.is_empty() { id.to_string() } else { format!("{name} ({id})") },
                    reason: format!("acted {} times in the period with no provisioning event", rows.len()),
                    time: Some(crate::analyze::anomalies::dataset::ts(ev.data.rows[first].time())),
                    sessions: {
                        let mut s: Vec<String> = rows
                            .iter()
                            .map(|i| ev.data.rows[*i].fact.session.to_string())
                            .filter(|s| !s.is_empty())
                            .collect();
                        s.sort();
                        s.dedup();
                        s
                    },
                    event_ids: rows
                        .iter()
                        .take(ev.settings.max_event_ids)
                        .map(|i| ev.data.rows[*i].id.to_string())
                        .collect(),
                    event_count: rows.len() as u64,
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
