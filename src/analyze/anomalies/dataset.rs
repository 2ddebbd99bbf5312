//! The events of the baseline and range, read once: a compact row per event, per-session
//! summaries, and the secrets found in prompt text.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::analyze::aggregate::{local, AggregateError, Fact, Query, Table};
use crate::model::{ActorClass, AuditEvent, Outcome};
use crate::range::TimeRange;
use crate::sources::EventStream;

/// One event, as the heuristics need it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub fact: Fact,
    pub class: ActorClass,
    /// The human the actor acted for (id, else name).
    pub on_behalf_of: String,
    /// `provider/engine` of the model, when the event names one.
    pub model: String,
    /// The target's id (e.g. the provisioned service account).
    pub target: String,
}

/// What the events say about one agent session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub id: String,
    /// The start event's row.
    pub start: Option<usize>,
    /// When its authorization was verified, if recorded; whether any authorization was.
    pub authorized_at: Option<i64>,
    pub authorized: bool,
    pub scopes: Vec<String>,
    /// Completed or failed.
    pub end: Option<usize>,
    pub resources: Vec<usize>,
    pub paused: Option<usize>,
    /// Every row of the session.
    pub rows: Vec<usize>,
}

/// Secrets or personal data found in an event's prompt text.
#[derive(Debug, Clone)]
pub struct SecretHit {
    pub row: usize,
    /// Kinds found (`gitlab_token`, `email`, …), sorted, no repeats.
    pub kinds: Vec<&'static str>,
    /// The detail keys they were found in.
    pub fields: Vec<String>,
}

/// Detail keys holding free text written by people or agents.
pub const TEXT_KEYS: &[&str] =
    &["input_prompt", "input_summary", "input_context", "goal", "prompt", "plan_summary", "decisions_log"];

#[derive(Debug, Default)]
pub struct Dataset {
    pub rows: Vec<Row>,
    pub sessions: BTreeMap<String, Session>,
    pub secrets: Vec<SecretHit>,
    names: HashMap<String, String>,
}

impl Dataset {
    /// Read the stream's events within `within` (baseline and range together).
    pub fn read(stream: EventStream, within: &TimeRange) -> Result<Dataset, AggregateError> {
        let mut d = Dataset::default();
        for rec in stream {
            let rec = rec?;
            if within.contains(&rec.event.time) {
                d.push(&rec.event);
            }
        }
        Ok(d)
    }

    pub fn push(&mut self, ev: &AuditEvent) {
        let i = self.rows.len();
        let fact = Fact::of(ev);
        if let (Some(id), Some(name)) = (&ev.actor.id, &ev.actor.name) {
            if ev.actor.class != ActorClass::Unauthenticated {
                self.names.entry(id.clone()).or_insert_with(|| name.clone());
            }
        }
        if let Some(h) = &ev.on_behalf_of {
            if let (Some(id), Some(name)) = (&h.id, &h.name) {
                self.names.entry(id.clone()).or_insert_with(|| name.clone());
            }
        }
        let ai = ev.ai.as_ref();
        let model = match (ai.and_then(|a| a.model_provider.as_deref()), ai.and_then(|a| a.model_engine.as_deref())) {
            (Some(p), Some(e)) => format!("{p}/{e}"),
            (None, Some(e)) => e.to_string(),
            _ => String::new(),
        };
        let on_behalf_of =
            ev.on_behalf_of.as_ref().and_then(|h| h.id.clone().or_else(|| h.name.clone())).unwrap_or_default();
        if !fact.session.is_empty() {
            let s = self
                .sessions
                .entry(fact.session.clone())
                .or_insert_with(|| Session { id: fact.session.clone(), ..Session::default() });
            s.rows.push(i);
            match ev.event_name.as_str() {
                "duo_flow_started" => {
                    s.start.get_or_insert(i);
                    if let Some(a) = ai.and_then(|a| a.authorization.as_ref()) {
                        s.authorized = true;
                        s.authorized_at = a.verified_at.map(|t| t.timestamp_micros());
                        s.scopes = a.scopes.clone();
                    }
                }
                "duo_flow_completed" | "duo_flow_failed" | "duo_flow_stopped" | "duo_flow_dropped" => {
                    s.end.get_or_insert(i);
                }
                "duo_flow_paused" => s.paused = Some(i),
                "duo_flow_resumed" => s.paused = None,
                name if name.starts_with("duo_flow_resource_") => s.resources.push(i),
                _ => {}
            }
        }
        let mut kinds = Vec::new();
        let mut fields = Vec::new();
        for key in TEXT_KEYS {
            let text = match ev.details.get(*key) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => continue,
                Some(other) => other.to_string(),
            };
            let found = crate::secrets::scan(&text);
            if !found.is_empty() {
                kinds.extend(found.iter().map(|m| m.kind.as_str()));
                fields.push(key.to_string());
            }
        }
        if !kinds.is_empty() {
            kinds.sort();
            kinds.dedup();
            self.secrets.push(SecretHit { row: i, kinds, fields });
        }
        self.rows.push(Row {
            id: ev.id.clone(),
            fact,
            class: ev.actor.class,
            on_behalf_of,
            model,
            target: ev.target.as_ref().and_then(|t| t.id.clone()).unwrap_or_default(),
        });
    }

    /// The display name of an actor id, when any event gave one.
    pub fn name_of(&self, actor: &str) -> String {
        self.names.get(actor).cloned().unwrap_or_default()
    }

    /// Aggregations over the rows within `window` (polars), for the counting heuristics. The
    /// `actor` column is the principal: the human an agent acted for, else the actor.
    pub fn aggregate(&self, queries: &[Query], window: &super::Window) -> Vec<Table> {
        let mut facts = local::Facts::default();
        for r in &self.rows {
            if window.contains(&ts(r.fact.time)) {
                let mut f = r.fact.clone();
                f.actor = r.principal().to_string();
                facts.push(f);
            }
        }
        let range = TimeRange { from: Some(window.from), to: Some(window.to) };
        local::aggregate(facts, queries, &range).expect("aggregations over in-memory columns succeed")
    }

    /// Whether an outcome is a failure.
    pub fn failed(row: &Row) -> bool {
        row.fact.outcome == Outcome::Failure.as_str()
    }
}

/// A timestamp from microseconds.
pub fn ts(us: i64) -> crate::model::Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl Row {
    pub fn time(&self) -> i64 {
        self.fact.time
    }

    /// Whom the event is about: the human an agent acted for, else the actor; empty for
    /// unauthenticated requests (GitLab gives them all one id, which is nobody's baseline).
    pub fn principal(&self) -> &str {
        if !self.on_behalf_of.is_empty() {
            &self.on_behalf_of
        } else if self.class == ActorClass::Unauthenticated {
            ""
        } else {
            &self.fact.actor
        }
    }
}
