//! Automated checks: each a rule over the [`Evidence`] with a result — satisfied, exception or
//! insufficient evidence — and the rows behind it. One module per check, all behind [`Check`];
//! controls (`report_templates/<framework>/controls.toml`) name the checks that evidence them.

pub mod ai_record_content;
pub mod anomalies;
pub mod authorization;
pub mod change_management;
pub mod event_coverage;
pub mod lifecycle;
pub mod protection;
pub mod record_content;
pub mod retention;
pub mod sanitization;
pub mod service_accounts;
pub mod stream_gaps;
pub mod timestamps;
pub mod traceability;

use serde::Serialize;
use serde_json::{Map, Value};

use super::evidence::Evidence;
use crate::analyze::anomalies::Finding;
use crate::model::time::{self, Timestamp};

/// The outcome of a check or a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Satisfied,
    InsufficientEvidence,
    Exception,
}

impl Status {
    /// As JSON and CSV spell it.
    pub fn key(self) -> &'static str {
        match self {
            Status::Satisfied => "satisfied",
            Status::InsufficientEvidence => "insufficient_evidence",
            Status::Exception => "exception",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Satisfied => "Satisfied",
            Status::InsufficientEvidence => "Insufficient evidence",
            Status::Exception => "Exception",
        }
    }
}

/// One exception: what, why, and the events that show it.
#[derive(Debug, Clone, Serialize)]
pub struct Exception {
    /// Who or what it is about (a session, an actor, a service account, an interval).
    pub subject: String,
    pub reason: String,
    #[serde(with = "time::serde_ts_opt")]
    pub time: Option<Timestamp>,
    pub sessions: Vec<String>,
    pub event_ids: Vec<String>,
    pub event_count: u64,
}

impl Exception {
    /// An exception from an anomaly finding.
    pub fn of_finding(f: &Finding) -> Exception {
        let who = match (f.actor_name.as_str(), f.actor.as_str()) {
            ("", "") => f.values.join(", "),
            ("", id) => id.to_string(),
            (name, id) => format!("{name} ({id})"),
        };
        Exception {
            subject: if who.is_empty() { f.heuristic.to_string() } else { who },
            reason: format!("{} {} ({}; {})", f.explanation, f.value, f.threshold, f.heuristic),
            time: Some(f.window.from),
            sessions: f.sessions.clone(),
            event_ids: f.event_ids.clone(),
            event_count: f.event_count as u64,
        }
    }
}

/// Evidence rows: a small table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = impl ToString>) {
        self.rows.push(cells.into_iter().map(|c| c.to_string()).collect());
    }
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: String,
    /// The rule, one sentence.
    pub rule: String,
    pub status: Status,
    /// What was measured, one or two sentences with the numbers.
    pub summary: String,
    /// How many items the rule was applied to (sessions, events, accounts, …).
    pub population: u64,
    pub evidence: Table,
    pub exceptions: Vec<Exception>,
}

impl CheckResult {
    /// A result whose status follows from its exceptions (none: satisfied).
    pub fn from_exceptions(
        check: &dyn Check,
        population: u64,
        summary: String,
        evidence: Table,
        mut exceptions: Vec<Exception>,
    ) -> CheckResult {
        exceptions.sort_by(|a, b| (a.time, &a.subject, &a.reason).cmp(&(b.time, &b.subject, &b.reason)));
        let status = if exceptions.is_empty() { Status::Satisfied } else { Status::Exception };
        CheckResult {
            check: check.name().into(),
            rule: check.rule().into(),
            status,
            summary,
            population,
            evidence,
            exceptions,
        }
    }
}

/// Parameters of a check as the control catalog gives them.
pub type Params = Map<String, Value>;

/// One automated check.
pub trait Check: Sync {
    /// Its name in control catalogs.
    fn name(&self) -> &'static str;
    /// The rule, for the report and README.
    fn rule(&self) -> &'static str;
    /// Parameters it accepts (others are an error in the catalog).
    fn params(&self) -> &'static [&'static str] {
        &[]
    }
    fn evaluate(&self, ev: &Evidence, params: &Params) -> CheckResult;
}

/// Every check.
pub const CHECKS: &[&dyn Check] = &[
    &authorization::Authorization,
    &traceability::Traceability,
    &lifecycle::Lifecycle,
    &change_management::ChangeManagement,
    &service_accounts::ServiceAccounts,
    &sanitization::Sanitization,
    &anomalies::Anomalies,
    &stream_gaps::StreamGaps,
    &record_content::RecordContent,
    &ai_record_content::AiRecordContent,
    &timestamps::Timestamps,
    &retention::Retention,
    &event_coverage::EventCoverage,
    &protection::Protection,
];

pub fn find(name: &str) -> Option<&'static dyn Check> {
    CHECKS.iter().copied().find(|c| c.name() == name)
}

/// A number as a share: `99.2%`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// A float parameter, or its default.
pub fn param_f64(params: &Params, key: &str, default: f64) -> f64 {
    params.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// Findings of the named heuristics for the period, as exceptions.
pub fn finding_exceptions(ev: &Evidence, heuristics: &[&str]) -> Vec<Exception> {
    ev.findings.iter().filter(|f| heuristics.contains(&f.heuristic)).map(Exception::of_finding).collect()
}
