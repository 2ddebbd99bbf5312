//! Service accounts: provisioning bursts (3 or more service accounts provisioned by one actor
//! within 10 minutes), service accounts that act without ever having been provisioned in the
//! data, and scope widening (an agent session authorized with scopes the initiating user never
//! had in the baseline and fewer than 1% of baseline sessions had). False positives: bulk
//! onboarding, service accounts provisioned before the baseline window (widen `--baseline`),
//! a new flow that legitimately needs more scopes.

use std::collections::{BTreeMap, BTreeSet};

use super::dataset::ts;
use super::failures::densest;
use super::{Draft, Heuristic, Input};
use crate::model::ActorClass;

pub struct ServiceAccounts;

const BURST: usize = 3;
const BURST_WINDOW: i64 = 600_000_000;

/// Whether an event provisions a service account.
pub fn is_provisioning(name: &str) -> bool {
    name.contains("service_account") && (name.ends_with("_provisioned") || name.ends_with("_created"))
}

impl Heuristic for ServiceAccounts {
    fn name(&self) -> &'static str {
        "service_accounts"
    }

    fn description(&self) -> &'static str {
        "service-account provisioning bursts, unprovisioned service accounts acting, sessions with widened scopes"
    }

    fn run(&self, input: &Input) -> Vec<Draft> {
        let data = input.data;
        let mut out = Vec::new();
        // Provisioning bursts, and every account ever provisioned.
        let mut provisioned: BTreeSet<&str> = BTreeSet::new();
        let mut by_actor: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in data.rows.iter().enumerate() {
            if is_provisioning(&r.fact.event_name) {
                provisioned.insert(&r.target);
                if input.range.contains(&ts(r.time())) {
                    by_actor.entry(r.principal()).or_default().push(i);
                }
            }
        }
        for (actor, rows) in by_actor {
            let times: Vec<(i64, usize)> = rows.iter().map(|i| (data.rows[*i].time(), *i)).collect();
            let (n, lo, hi) = densest(&times, BURST_WINDOW);
            if n < BURST {
                continue;
            }
            let rows: Vec<usize> = times[lo..hi].iter().map(|(_, i)| *i).collect();
            out.push(Draft {
                severity: 7,
                actor: actor.to_string(),
                value: format!("{} service accounts provisioned within 10 minutes", rows.len()),
                threshold: format!("{BURST} or more within 10 minutes"),
                explanation: format!("This actor created {} service accounts in a few minutes.", rows.len()),
                values: rows.iter().map(|i| data.rows[*i].target.to_string()).collect(),
                rows,
                ..Draft::default()
            });
        }
        // Service accounts acting in the range without a provisioning event.
        let mut acting: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in data.rows.iter().enumerate() {
            if r.class == ActorClass::ServiceAccount && input.range.contains(&ts(r.time())) && !r.fact.actor.is_empty()
            {
                acting.entry(&r.fact.actor).or_default().push(i);
            }
        }
        let known = &input.settings.provisioned;
        if !provisioned.is_empty() || !known.is_empty() {
            for (sa, rows) in acting {
                if provisioned.contains(sa) || known.contains(sa) {
                    continue;
                }
                out.push(Draft {
                    severity: 8,
                    actor: sa.to_string(),
                    value: format!("{} events by an unprovisioned service account", rows.len()),
                    threshold: "no provisioning event for this account in baseline or range".into(),
                    explanation: "A service account acted for users although nobody is recorded provisioning it."
                        .into(),
                    values: vec![sa.to_string()],
                    rows,
                    ..Draft::default()
                });
            }
        }
        // Scope widening.
        let mut own: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut global: BTreeMap<&str, usize> = BTreeMap::new();
        let mut base_sessions = 0usize;
        for s in data.sessions.values() {
            let Some(start) = s.start else { continue };
            let r = &data.rows[start];
            if input.baseline.contains(&ts(r.time())) {
                base_sessions += 1;
                for scope in &s.scopes {
                    own.entry(r.principal()).or_default().insert(scope);
                    *global.entry(scope).or_default() += 1;
                }
            }
        }
        for s in data.sessions.values() {
            let Some(start) = s.start else { continue };
            let r = &data.rows[start];
            if !input.range.contains(&ts(r.time())) {
                continue;
            }
            let mine = own.get(r.principal());
            let wider: Vec<String> = s
                .scopes
                .iter()
                .filter(|sc| mine.is_none_or(|m| !m.contains(sc.as_str())))
                .filter(|sc| (global.get(sc.as_str()).copied().unwrap_or(0) as f64) < 0.01 * base_sessions as f64)
                .cloned()
                .collect();
            if wider.is_empty() || base_sessions == 0 {
                continue;
            }
            out.push(Draft {
                severity: 7,
                actor: r.principal().to_string(),
                value: format!("scopes {}", wider.join(", ")),
                threshold: "scopes this user never had in the baseline and fewer than 1% of baseline sessions had"
                    .into(),
                explanation: format!(
                    "An agent session was authorized with unusual extra permissions: {}.",
                    wider.join(", ")
                ),
                values: wider,
                sessions: vec![s.id.to_string()],
                rows: vec![start],
                ..Draft::default()
            });
        }
        out
    }
}
