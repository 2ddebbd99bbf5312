//! The events of the baseline and range, read once: a compact row per event, per-session
//! summaries, and the secrets found in prompt text.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::store::{group_rows, Filter, Group, Key, SessionSummary};
use crate::analyze::aggregate::{AggregateError, Fact};
use crate::model::{ActorClass, AuditEvent, Outcome};
use crate::range::TimeRange;
use crate::sources::EventStream;

/// Text shared by every row that holds the same value (actors, event names, IPs, sessions,
/// … repeat across millions of events).
pub type Text = Arc<str>;

/// An event's aggregation facts ([`Fact`]) with interned text.
#[derive(Debug, Clone)]
pub struct RowFact {
    pub time: i64,
    pub actor: Text,
    pub event_name: Text,
    pub ip: Text,
    pub session: Text,
    pub flow_type: Text,
    pub outcome: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub project: Text,
}

impl RowFact {
    pub fn to_fact(&self) -> Fact {
        Fact {
            time: self.time,
            actor: self.actor.to_string(),
            event_name: self.event_name.to_string(),
            ip: self.ip.to_string(),
            session: self.session.to_string(),
            flow_type: self.flow_type.to_string(),
            outcome: self.outcome,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            project: self.project.to_string(),
        }
    }
}

/// One event, as the heuristics need it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Box<str>,
    pub fact: RowFact,
    pub class: ActorClass,
    /// The human the actor acted for (id, else name).
    pub on_behalf_of: Text,
    /// `provider/engine` of the model, when the event names one.
    pub model: Text,
    /// The target's id (e.g. the provisioned service account).
    pub target: Text,
    /// The scopes a session start was authorized for, joined by [`SCOPE_SEP`].
    pub scopes: Text,
}

/// Joins a row's scopes.
pub const SCOPE_SEP: char = '\u{1f}';

/// What a database says of an event, for [`Dataset::push_row`] (scopes joined by
/// [`SCOPE_SEP`]).
pub struct RowParts {
    pub time: i64,
    pub id: String,
    pub actor: String,
    pub event_name: String,
    pub ip: String,
    pub session: String,
    pub flow_type: String,
    /// An [`Outcome::as_str`].
    pub outcome: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub project: String,
    pub class: ActorClass,
    pub on_behalf_of: String,
    pub model: String,
    pub target: String,
    pub scopes: String,
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
    /// Whether the start record can hold an authorization at all: GitLab's ClickHouse
    /// session aggregate (`agent_platform_sessions`) has no authorization columns.
    pub authorization_recorded: bool,
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

#[derive(Debug, Default)]
pub struct Dataset {
    pub rows: Vec<Row>,
    /// Sessions by id (looked up for every row: hashed, not ordered).
    pub sessions: HashMap<Text, Session>,
    pub secrets: Vec<SecretHit>,
    names: HashMap<String, String>,
    interned: HashSet<Text>,
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

    fn intern(&mut self, s: &str) -> Text {
        if let Some(t) = self.interned.get(s) {
            return t.clone();
        }
        let t: Text = Arc::from(s);
        self.interned.insert(t.clone());
        t
    }

    pub fn push(&mut self, ev: &AuditEvent) {
        let i = self.rows.len();
        let f = Fact::of(ev);
        if let (Some(id), Some(name)) = (&ev.actor.id, &ev.actor.name) {
            if ev.actor.class != ActorClass::Unauthenticated && !self.names.contains_key(id) {
                self.names.insert(id.clone(), name.clone());
            }
        }
        if let Some(h) = &ev.on_behalf_of {
            if let (Some(id), Some(name)) = (&h.id, &h.name) {
                if !self.names.contains_key(id) {
                    self.names.insert(id.clone(), name.clone());
                }
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
        if !f.session.is_empty() {
            if !self.sessions.contains_key(f.session.as_str()) {
                let id = self.intern(&f.session);
                self.sessions.insert(id, Session { id: f.session.clone(), ..Session::default() });
            }
            let s = self.sessions.get_mut(f.session.as_str()).expect("inserted above");
            s.rows.push(i);
            match ev.event_name.as_str() {
                "duo_flow_started" => {
                    s.start.get_or_insert(i);
                    s.authorization_recorded |= ev.origin.format != "agent_platform_sessions";
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
        let prompts = crate::secrets::PROMPT_KEYS.iter().filter_map(|key| match ev.details.get(*key) {
            Some(Value::String(s)) => Some((*key, s.clone())),
            Some(Value::Null) | None => None,
            Some(other) => Some((*key, other.to_string())),
        });
        if let Some((kinds, fields)) = prompt_secrets(prompts) {
            self.secrets.push(SecretHit { row: i, kinds, fields });
        }
        let target = ev.target.as_ref().and_then(|t| t.id.as_deref()).unwrap_or_default();
        let scopes = ai
            .and_then(|a| a.authorization.as_ref())
            .map(|a| a.scopes.join(&SCOPE_SEP.to_string()))
            .unwrap_or_default();
        self.push_row(RowParts {
            time: f.time,
            id: ev.id.clone(),
            actor: f.actor,
            event_name: f.event_name,
            ip: f.ip,
            session: f.session,
            flow_type: f.flow_type,
            outcome: f.outcome,
            input_tokens: f.input_tokens,
            output_tokens: f.output_tokens,
            project: f.project,
            class: ev.actor.class,
            on_behalf_of,
            model,
            target: target.to_string(),
            scopes,
        });
    }

    /// Keep a row read elsewhere (a database computed its fields); returns its index.
    pub fn push_row(&mut self, p: RowParts) -> usize {
        let fact = RowFact {
            time: p.time,
            actor: self.intern(&p.actor),
            event_name: self.intern(&p.event_name),
            ip: self.intern(&p.ip),
            session: self.intern(&p.session),
            flow_type: self.intern(&p.flow_type),
            outcome: p.outcome,
            input_tokens: p.input_tokens,
            output_tokens: p.output_tokens,
            project: self.intern(&p.project),
        };
        let row = Row {
            id: p.id.into(),
            fact,
            class: p.class,
            on_behalf_of: self.intern(&p.on_behalf_of),
            model: self.intern(&p.model),
            target: self.intern(&p.target),
            scopes: self.intern(&p.scopes),
        };
        self.rows.push(row);
        self.rows.len() - 1
    }

    /// The display name of an actor id, when any event gave one.
    pub fn name_of(&self, actor: &str) -> String {
        self.names.get(actor).cloned().unwrap_or_default()
    }

    /// Whether an outcome is a failure.
    pub fn failed(row: &Row) -> bool {
        row.fact.outcome == Outcome::Failure.as_str()
    }
}

/// The kinds of secret or personal data in an event's prompt texts (`(detail key, text)`), sorted
/// and without repeats, and the keys they were found in; `None` when there are none. Secrets as
/// written count, and so do an export's redaction marks (they keep the kind).
pub fn prompt_secrets(texts: impl Iterator<Item = (&'static str, String)>) -> Option<(Vec<&'static str>, Vec<String>)> {
    let mut kinds = Vec::new();
    let mut fields = Vec::new();
    for (key, text) in texts {
        let found = crate::secrets::scan(&text).into_iter().map(|m| m.kind).chain(crate::secrets::marks(&text));
        let before = kinds.len();
        kinds.extend(found.map(|k| k.as_str()));
        if kinds.len() > before {
            fields.push(key.to_string());
        }
    }
    (!kinds.is_empty()).then(|| {
        kinds.sort();
        kinds.dedup();
        (kinds, fields)
    })
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

impl super::store::Store for Dataset {
    fn row(&self, i: usize) -> Row {
        self.rows[i].clone()
    }

    fn rows(&self, filters: &[Filter], window: &super::Window) -> Vec<usize> {
        let (from, to) = window.micros();
        let pass = |i: &usize, filters: &[&Filter]| {
            let r = &self.rows[*i];
            (from..to).contains(&r.time()) && filters.iter().all(|f| f.matches(r))
        };
        // A session's rows are indexed: the index answers the session filter, the rows the others
        // (matching each row against a list of thousands of sessions again would be quadratic).
        let (by_session, rest): (Vec<&Filter>, Vec<&Filter>) =
            filters.iter().partition(|f| matches!(f, Filter::Sessions(_)));
        if let Some(Filter::Sessions(ids)) = by_session.first() {
            let mut out: Vec<usize> = ids
                .iter()
                .filter_map(|id| self.sessions.get(id.as_str()))
                .flat_map(|s| s.rows.iter().copied())
                .collect();
            out.sort_unstable();
            out.dedup();
            let also: Vec<&Filter> = rest.into_iter().chain(by_session.into_iter().skip(1)).collect();
            out.retain(|i| pass(i, &also));
            return out;
        }
        (0..self.rows.len()).filter(|i| pass(i, &rest)).collect()
    }

    fn group(&self, keys: &[Key], filters: &[Filter], window: &super::Window) -> Vec<Group> {
        let (from, to) = window.micros();
        let rows = self.rows.iter().filter(|r| (from..to).contains(&r.time()) && filters.iter().all(|f| f.matches(r)));
        group_rows(rows, keys)
    }

    fn sessions(&self, window: &super::Window) -> Vec<SessionSummary> {
        let mut out = Vec::new();
        for s in self.sessions.values() {
            let times = s.rows.iter().map(|i| self.rows[*i].time());
            let (first, last) = (times.clone().min().unwrap_or(0), times.max().unwrap_or(0));
            if !window.contains_micros(first)
                && !window.contains_micros(last)
                && s.start.is_none_or(|i| !window.contains_micros(self.rows[i].time()))
            {
                continue;
            }
            out.push(SessionSummary {
                id: s.id.clone(),
                start: s.start,
                authorization_recorded: s.authorization_recorded,
                authorized: s.authorized,
                authorized_at: s.authorized_at,
                ended: s.end.is_some(),
                paused: s.paused.is_some(),
                resources: s.resources.len(),
                first_resource: s.resources.first().copied(),
                first,
                last,
            });
        }
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn secrets(&self, window: &super::Window) -> Vec<SecretHit> {
        self.secrets.iter().filter(|h| window.contains_micros(self.rows[h.row].time())).cloned().collect()
    }

    fn name_of(&self, actor: &str) -> String {
        Dataset::name_of(self, actor)
    }
}
