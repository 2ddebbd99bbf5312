//! Compliance evidence reports: a framework's controls ([`catalog`]) evaluated by automated
//! checks ([`checks`]) over evidence read once from the source ([`evidence`]), rendered as
//! HTML, Markdown, JSON and CSV ([`render`]) with a manifest of hashes ([`manifest`]).

pub mod catalog;
pub mod chart;
pub mod checks;
pub mod condensed;
pub mod evidence;
pub mod manifest;
pub mod pdf;
pub mod render;

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::analyze::anomalies::store::{Filter, Key};
use crate::analyze::anomalies::{Finding, Window};
use crate::analyze::sessions::SessionReport;
use crate::model::time::{self, Timestamp};
use catalog::Catalog;
use checks::{CheckResult, Status, Table};
use evidence::Evidence;

/// The report's JSON schema name; bumped on incompatible changes.
pub const SCHEMA: &str = "compliance-report.report.v2";

/// The whole traceability matrix, one row per session of the period, written with every
/// package as a stream (a month can hold hundreds of thousands of sessions).
pub const MATRIX_FILE: &str = "traceability.csv";

/// By default, at most this many sessions of the matrix are in the report itself (HTML, JSON;
/// the PDF shows the first 400 of them): `--matrix-rows`.
pub const MATRIX_SHOWN: usize = 5_000;

pub const MATRIX_COLUMNS: [&str; 10] = [
    "session",
    "started (UTC)",
    "flow",
    "initiated by",
    "acted as",
    "authorized (UTC)",
    "method",
    "scopes",
    "resources",
    "status",
];

/// One session's row of the traceability matrix.
pub fn matrix_row(s: &SessionReport) -> [String; 10] {
    let x = &s.session;
    [
        x.session_id.clone(),
        short(&x.started_at),
        x.flow_type.clone(),
        s.initiated_by.clone().unwrap_or_else(|| "UNKNOWN".into()),
        s.acted_as.clone().unwrap_or_else(|| "-".into()),
        x.authorization_verified_at.as_ref().map_or("NONE".into(), short),
        x.authorization_method.clone().unwrap_or_default(),
        x.authorized_scopes.join(" "),
        s.resources.iter().map(|r| format!("{} {}", r.resource_type, r.resource_id)).collect::<Vec<_>>().join("; "),
        x.status.as_str().to_string(),
    ]
}

/// The sessions of the matrix the report itself shows, in order of start: all of them when
/// there are at most `max`; else the sampled ones and, up to `max` in all, the earliest with
/// an integrity finding or without an initiating user.
fn shown<'a>(sessions: &[&'a SessionReport], sample: &[SampleSession], max: usize) -> Vec<&'a SessionReport> {
    if sessions.len() <= max {
        return sessions.to_vec();
    }
    let sampled: std::collections::BTreeSet<&str> = sample.iter().map(|s| s.session_id.as_str()).collect();
    let mut room = max.saturating_sub(sampled.len());
    sessions
        .iter()
        .filter(|s| {
            if sampled.contains(s.session.session_id.as_str()) {
                return true;
            }
            let flagged = !s.findings.is_empty() || s.initiated_by.is_none();
            let keep = flagged && room > 0;
            room -= usize::from(keep);
            keep
        })
        .copied()
        .collect()
}

/// One control, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub objective: String,
    pub exception_rule: String,
    pub aliases: Vec<String>,
    /// The worst of its checks: exception, else insufficient evidence, else satisfied.
    pub status: Status,
    pub status_label: &'static str,
    pub checks: Vec<CheckResult>,
    pub exception_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub controls: usize,
    pub satisfied: usize,
    pub exceptions: usize,
    pub insufficient_evidence: usize,
    pub events: u64,
    pub sessions: usize,
    pub resources: usize,
    pub findings: usize,
}

/// One step of a sampled session's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct SampleStep {
    #[serde(with = "time::serde_ts")]
    pub time: Timestamp,
    pub event: String,
    pub actor: String,
    pub event_id: String,
}

/// A session picked at random (seeded) for an auditor to trace end to end.
#[derive(Debug, Clone, Serialize)]
pub struct SampleSession {
    pub session_id: String,
    pub flow_type: String,
    #[serde(with = "time::serde_ts")]
    pub started_at: Timestamp,
    pub status: String,
    pub initiated_by: String,
    pub acted_as: String,
    pub authorization: String,
    pub resources: Vec<String>,
    pub findings: Vec<String>,
    pub timeline: Vec<SampleStep>,
}

/// Data series for the charts.
#[derive(Debug, Clone, Serialize)]
pub struct Charts {
    pub events_per_day: Vec<(String, u64)>,
    pub sessions_by_status: Vec<(String, u64)>,
    pub sessions_by_flow: Vec<(String, u64)>,
    pub exceptions_per_day: Vec<(String, u64)>,
}

/// Who and what the report is for.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub organisation: String,
    #[serde(with = "time::serde_ts")]
    pub generated_at: Timestamp,
    pub tool_version: String,
    /// The source, password masked.
    pub source: String,
    pub sample_seed: u64,
}

/// The whole report, as JSON gives it (`compliance-report.report.v2`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub framework: String,
    pub framework_name: String,
    pub title: String,
    pub description: String,
    pub period: Window,
    pub period_text: String,
    pub baseline: Window,
    pub meta: Meta,
    pub summary: Summary,
    pub population: Table,
    pub controls: Vec<ControlResult>,
    /// Session → initiating user → acting identity → authorization → resources.
    /// Every session of the period when there are at most `--matrix-rows` ([`MATRIX_SHOWN`] by
    /// default); else the sessions an auditor looks at first (see [`shown`]). The whole matrix
    /// is [`MATRIX_FILE`].
    pub traceability: Table,
    /// Sessions of the period: the rows of the whole matrix.
    pub traceability_sessions: usize,
    pub sample: Vec<SampleSession>,
    pub anomalies: Vec<Finding>,
    pub charts: Charts,
    pub methodology: Vec<String>,
}

/// Evaluate `catalog` over `ev`.
pub fn build(catalog: &Catalog, ev: &Evidence, meta: Meta, sample_size: usize, matrix_rows: usize) -> Report {
    let controls: Vec<ControlResult> = catalog
        .controls
        .iter()
        .map(|c| {
            let results: Vec<CheckResult> = c
                .checks
                .iter()
                .map(|r| checks::find(&r.check).expect("catalogs are validated on load").evaluate(ev, &r.params))
                .collect();
            let status = results.iter().map(|r| r.status).max().unwrap_or(Status::InsufficientEvidence);
            ControlResult {
                id: c.id.clone(),
                title: c.title.clone(),
                objective: c.objective.clone(),
                exception_rule: c.exception.clone(),
                aliases: c.aliases.clone(),
                status,
                status_label: status.label(),
                exception_count: results.iter().map(|r| r.exceptions.len()).sum(),
                checks: results,
            }
        })
        .collect();
    let sessions: Vec<_> = ev.period_sessions().collect();
    let resources: usize = sessions.iter().map(|s| s.resources.len()).sum();
    let count = |s: Status| controls.iter().filter(|c| c.status == s).count();
    let summary = Summary {
        controls: controls.len(),
        satisfied: count(Status::Satisfied),
        exceptions: count(Status::Exception),
        insufficient_evidence: count(Status::InsufficientEvidence),
        events: ev.stats.events,
        sessions: sessions.len(),
        resources,
        findings: ev.findings.len(),
    };
    let mut population = Table::new(&["population", "count"]);
    let actors = ev
        .store
        .group(&[Key::Principal], &[Filter::Acting], &ev.period)
        .iter()
        .filter(|g| !g.text(0).is_empty())
        .count();
    for (k, v) in [
        ("audit events in the period", ev.stats.events as usize),
        ("agent-lifecycle events", ev.stats.ai.events as usize),
        ("people and accounts who acted", actors),
        ("agent sessions started", sessions.iter().filter(|s| s.has_start).count()),
        ("resources created or modified by agents", resources),
        ("service accounts that acted", ev.stats.service_accounts.len()),
        ("anomaly findings", ev.findings.len()),
    ] {
        population.row([k.to_string(), v.to_string()]);
    }
    let sample = sample(ev, &sessions, meta.sample_seed, sample_size);
    let mut traceability = Table::new(&MATRIX_COLUMNS);
    for s in shown(&sessions, &sample, matrix_rows) {
        traceability.row(matrix_row(s));
    }
    let charts = charts(ev, &sessions, &controls);
    Report {
        schema: SCHEMA,
        framework: catalog.framework.clone(),
        framework_name: catalog.name.clone(),
        title: catalog.title.clone(),
        description: catalog.description.clone(),
        period: ev.period,
        period_text: ev.period_text(),
        baseline: ev.baseline,
        meta,
        summary,
        population,
        controls,
        traceability,
        traceability_sessions: sessions.len(),
        sample,
        anomalies: ev.findings.clone(),
        charts,
        methodology: methodology(ev),
    }
}

fn evidence_ts(us: i64) -> Timestamp {
    crate::analyze::anomalies::dataset::ts(us)
}

/// `2026-10-01 09:30:00`.
pub fn short(t: &Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn sample(ev: &Evidence, sessions: &[&SessionReport], seed: u64, n: usize) -> Vec<SampleSession> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut picked: Vec<&&SessionReport> = sessions.choose_multiple(&mut rng, n).collect();
    picked.sort_by(|a, b| {
        (a.session.started_at, &a.session.session_id).cmp(&(b.session.started_at, &b.session.session_id))
    });
    let ids: Vec<String> = picked.iter().map(|s| s.session.session_id.clone()).collect();
    let rows = ev.session_rows(&ids);
    let mut actors: Vec<String> = rows.values().flatten().map(|(_, r)| r.fact.actor.to_string()).collect();
    actors.sort();
    actors.dedup();
    ev.store.names_for(&actors);
    picked
        .into_iter()
        .map(|s| {
            let x = &s.session;
            let timeline = rows
                .get(&x.session_id)
                .into_iter()
                .flatten()
                .map(|(_, r)| {
                    let name = ev.store.name_of(&r.fact.actor);
                    SampleStep {
                        time: evidence_ts(r.time()),
                        event: r.fact.event_name.to_string(),
                        actor: if name.is_empty() { r.fact.actor.to_string() } else { name },
                        event_id: r.id.to_string(),
                    }
                })
                .collect();
            SampleSession {
                session_id: x.session_id.clone(),
                flow_type: x.flow_type.clone(),
                started_at: x.started_at,
                status: x.status.as_str().into(),
                initiated_by: s.initiated_by.clone().unwrap_or_else(|| "UNKNOWN".into()),
                acted_as: s.acted_as.clone().unwrap_or_else(|| "-".into()),
                authorization: match &x.authorization_verified_at {
                    Some(at) => format!(
                        "{} UTC via {} (scopes: {})",
                        short(at),
                        x.authorization_method.as_deref().unwrap_or("unknown method"),
                        x.authorized_scopes.join(", ")
                    ),
                    None => "NONE RECORDED".into(),
                },
                resources: s
                    .resources
                    .iter()
                    .map(|r| format!("{} {} {}", r.action, r.resource_type, r.resource_id))
                    .collect(),
                findings: s.findings.clone(),
                timeline,
            }
        })
        .collect()
}

fn charts(ev: &Evidence, sessions: &[&SessionReport], controls: &[ControlResult]) -> Charts {
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut flow: BTreeMap<String, u64> = BTreeMap::new();
    for s in sessions {
        *status.entry(s.session.status.as_str().into()).or_default() += 1;
        *flow.entry(s.session.flow_type.clone()).or_default() += 1;
    }
    // Every day of the period, so gaps show.
    let mut days: BTreeMap<String, u64> = BTreeMap::new();
    let mut d = ev.period.from;
    while d < ev.period.to {
        days.insert(d.format("%Y-%m-%d").to_string(), 0);
        d += chrono::TimeDelta::days(1);
    }
    let mut exc = days.clone();
    for (day, n) in &ev.stats.per_day {
        days.insert(day.clone(), *n);
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in controls {
        for r in &c.checks {
            for e in &r.exceptions {
                if let Some(t) = e.time {
                    if seen.insert((r.check.clone(), e.subject.clone(), t)) {
                        *exc.entry(t.format("%Y-%m-%d").to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut flow: Vec<(String, u64)> = flow.into_iter().collect();
    flow.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Charts {
        events_per_day: days.into_iter().collect(),
        sessions_by_status: status.into_iter().collect(),
        sessions_by_flow: flow,
        exceptions_per_day: exc.into_iter().collect(),
    }
}

fn methodology(ev: &Evidence) -> Vec<String> {
    vec![
        format!(
            "Period under review: {} (UTC). The events of the period and of a {}-day baseline before it were read once from the source; every number in this report is computed from those events and nothing else.",
            ev.period_text(),
            (ev.baseline.to - ev.baseline.from).num_days()
        ),
        "Each control is evidenced by automated checks. A check is satisfied when no item breaks its rule, an exception when at least one does (each exception lists the events that show it), and insufficient evidence when the data cannot show the rule either way. A control takes the worst result of its checks.".into(),
        "Attribution chain: a change (commit, merge request, note) is linked to the agent session whose resource record names it; the session to the human who initiated it (composite identity: the user the agent acted for); to the identity that acted (the service account); to the authorization recorded for the session (verified at, method, scopes). The traceability matrix (traceability.csv) lists every link for every session of the period.".into(),
        "Anomalies are found by explainable heuristics comparing the period with the baseline (volume, hours, first-seen origins, failure bursts, token use, service accounts, lifecycle, stream gaps, secrets in prompts). Each finding states what was measured, the threshold it crossed and the events behind it.".into(),
        "The sample of sessions is drawn with a seeded random generator (the seed is printed on the cover): running the report again on the same data gives the same sample, so an auditor can re-perform the trace.".into(),
        "Integrity: manifest.json holds the SHA-256 of every file of this package and of the canonical evidence (report.json); `compliance-report verify DIR` recomputes them.".into(),
    ]
}
