//! AI-agent flow sessions and the resources they created, and their reconstruction from the
//! lifecycle events when a source has no session table.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::time::{self, Timestamp};
use super::{value_text, Actor, ActorClass, AuditEvent};
use crate::pack::{Packer, Unpacker};

/// Lifecycle state of a flow session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Started,
    Running,
    Paused,
    Completed,
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Started => "started",
            SessionStatus::Running => "running",
            SessionStatus::Paused => "paused",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
        }
    }
}

/// One AI-agent flow session (the `flow_sessions` contract; see README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSession {
    pub session_id: String,
    /// The human who initiated the session.
    pub user_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<i64>,
    /// The service account acting for the user (composite identity), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_id: Option<i64>,
    pub flow_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_context: Option<Value>,
    #[serde(with = "time::serde_ts")]
    pub started_at: Timestamp,
    #[serde(default, with = "time::serde_ts_opt", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    pub status: SessionStatus,
    #[serde(default, with = "time::serde_ts_opt", skip_serializing_if = "Option::is_none")]
    pub authorization_verified_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions_log: Option<Value>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// A resource (commit, merge request, note, …) a session created or modified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSessionResource {
    pub flow_session_id: String,
    /// `Commit`, `MergeRequest`, `Note`, `Pipeline`, `WorkItem`, …
    pub resource_type: String,
    pub resource_id: String,
    /// `created` or `modified`.
    pub action: String,
    #[serde(with = "time::serde_ts")]
    pub created_at: Timestamp,
}

/// What a session's summary takes from one of its events ([`SessionBuilder::take`]), read in one
/// place ([`SessionEvent::of`]) so that a source's worker thread can read it and hand it on
/// [packed](SessionEvent::pack) (the report does: see `report::condensed`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent<'a> {
    pub session_id: &'a str,
    pub event_name: &'a str,
    pub time: Timestamp,
    pub flow_type: Option<&'a str>,
    /// The human: the id of the user the event acted for, else its details' `user_id`.
    pub user_id: Option<i64>,
    /// The acting identity, when a service account acted for a user.
    pub service_account_id: Option<i64>,
    /// The project the event is in.
    pub project_id: Option<i64>,
    /// What a start records of its authorization.
    pub authorization: Option<SessionAuthorization<'a>>,
    /// What a `duo_flow_resource_created` event created (with both type and id).
    pub resource: Option<SessionResource<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionAuthorization<'a> {
    pub verified_at: Option<Timestamp>,
    pub method: Option<&'a str>,
    pub scopes: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionResource<'a> {
    pub kind: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub action: Option<Cow<'a, str>>,
}

impl<'a> SessionEvent<'a> {
    /// What `ev` tells its session; `None` for events without a session id.
    pub fn of(ev: &'a AuditEvent) -> Option<SessionEvent<'a>> {
        let ai = ev.ai.as_ref()?;
        let session_id = ai.session_id.as_deref()?;
        let behalf = ev.on_behalf_of.as_ref();
        let id = |a: &Actor| a.id.as_deref().and_then(|i| i.parse().ok());
        let name = ev.event_name.as_str();
        Some(SessionEvent {
            session_id,
            event_name: name,
            time: ev.time,
            flow_type: ai.flow_type.as_deref(),
            user_id: behalf.and_then(id).or_else(|| ev.details.i64("user_id")),
            service_account_id: behalf
                .filter(|_| ev.actor.class == ActorClass::ServiceAccount)
                .and_then(|_| id(&ev.actor)),
            project_id: ev.scope.as_ref().filter(|s| s.kind == "Project").and_then(|s| s.id),
            authorization: ai.authorization.as_ref().filter(|_| name == "duo_flow_started").map(|a| {
                SessionAuthorization {
                    verified_at: a.verified_at,
                    method: a.method.as_deref(),
                    scopes: a.scopes.iter().map(String::as_str).collect(),
                }
            }),
            resource: (name == "duo_flow_resource_created")
                .then(|| {
                    Some(SessionResource {
                        kind: ev.details.text_ref("resource_type")?,
                        id: ev.details.text_ref("resource_id")?,
                        action: ev.details.text_ref("action"),
                    })
                })
                .flatten(),
        })
    }

    /// Appends what [`SessionEvent::unpack`] reads back.
    pub fn pack(&self, p: &mut Packer) {
        p.text(self.session_id);
        p.text(self.event_name);
        p.time(&self.time);
        p.opt_text(self.flow_type);
        p.opt_i64(self.user_id);
        p.opt_i64(self.service_account_id);
        p.opt_i64(self.project_id);
        p.opt(self.authorization.as_ref(), |p, a| {
            p.opt_time(a.verified_at.as_ref());
            p.opt_text(a.method);
            p.u64(a.scopes.len() as u64);
            a.scopes.iter().for_each(|s| p.text(s));
        });
        p.opt(self.resource.as_ref(), |p, r| {
            p.text(&r.kind);
            p.text(&r.id);
            p.opt_text(r.action.as_deref());
        });
    }

    pub fn unpack(r: &mut Unpacker<'a>) -> Option<SessionEvent<'a>> {
        Some(SessionEvent {
            session_id: r.text()?,
            event_name: r.text()?,
            time: r.time()?,
            flow_type: r.opt_text()?,
            user_id: r.opt_i64()?,
            service_account_id: r.opt_i64()?,
            project_id: r.opt_i64()?,
            authorization: r.opt(|r| {
                Some(SessionAuthorization {
                    verified_at: r.opt_time()?,
                    method: r.opt_text()?,
                    scopes: (0..r.u64()?).map(|_| r.text()).collect::<Option<_>>()?,
                })
            })?,
            resource: r.opt(|r| {
                Some(SessionResource {
                    kind: Cow::Borrowed(r.text()?),
                    id: Cow::Borrowed(r.text()?),
                    action: r.opt_text()?.map(Cow::Borrowed),
                })
            })?,
        })
    }
}

/// Builds sessions from lifecycle events (`duo_flow_*`), in any order, for sources with no
/// session table. Memory grows with the number of sessions, not of events.
#[derive(Debug, Default)]
pub struct SessionBuilder {
    /// Boxed: growing a table of a million sessions moved every one of them (and touched fresh
    /// memory for all of them) at each doubling; a pointer is all a rehash moves now.
    sessions: crate::collections::FastMap<String, Box<Partial>>,
    /// Keep only who, when, authorization, status and resources: not what the session was
    /// asked and decided (prompt, context, plan, decisions), which are most of a session's
    /// memory and which a traceability matrix does not show.
    summaries: bool,
}

#[derive(Debug, Default)]
struct Partial {
    started: Option<Timestamp>,
    first_seen: Option<Timestamp>,
    user_id: Option<i64>,
    project_id: Option<i64>,
    service_account_id: Option<i64>,
    flow_type: Option<String>,
    terminal: Option<(Timestamp, SessionStatus)>,
    paused: Option<Timestamp>,
    resumed: Option<Timestamp>,
    authorization_verified_at: Option<Timestamp>,
    authorization_method: Option<String>,
    authorized_scopes: Vec<String>,
    resources: Vec<FlowSessionResource>,
    /// Any event after the start was seen (plan, resources, tokens, pause).
    progressed: bool,
    /// Boxed: summaries leave it out, and a million sessions would each carry its room.
    content: Option<Box<Content>>,
}

/// What a session was asked and decided, and what it used.
#[derive(Debug, Default)]
struct Content {
    input_prompt: Option<String>,
    input_context: Option<Value>,
    plan_summary: Option<String>,
    decisions: Vec<Value>,
    input_tokens: u64,
    output_tokens: u64,
    model_provider: Option<String>,
    model_engine: Option<String>,
    correlation_id: Option<String>,
}

fn detail(ev: &AuditEvent, key: &str) -> Option<Value> {
    ev.details.get(key).filter(|v| !v.is_null())
}

fn detail_text(ev: &AuditEvent, key: &str) -> Option<String> {
    ev.details.text(key)
}

impl SessionBuilder {
    /// A builder that keeps summaries only (see the field).
    pub fn summaries() -> SessionBuilder {
        SessionBuilder { summaries: true, ..SessionBuilder::default() }
    }

    /// Take one event into account; events without a session id are ignored.
    pub fn add(&mut self, ev: &AuditEvent) {
        if let Some(seen) = SessionEvent::of(ev) {
            self.take(&seen);
            self.content(ev);
        }
    }

    /// What a summary keeps of one of a session's events (the part of [`SessionBuilder::add`]
    /// that does not need the event itself).
    pub fn take(&mut self, ev: &SessionEvent) {
        let session_id = ev.session_id;
        // Looked up before inserting: most events belong to a session already seen, and an
        // owned key would cost an allocation each.
        if !self.sessions.contains_key(session_id) {
            self.sessions.insert(session_id.to_string(), Box::default());
        }
        let p = self.sessions.get_mut(session_id).expect("inserted above");
        p.first_seen = Some(p.first_seen.map_or(ev.time, |t| t.min(ev.time)));
        if p.flow_type.is_none() {
            p.flow_type = ev.flow_type.map(str::to_string);
        }
        p.user_id = p.user_id.or(ev.user_id);
        p.service_account_id = p.service_account_id.or(ev.service_account_id);
        p.project_id = p.project_id.or(ev.project_id);
        if ev.event_name != "duo_flow_started" {
            p.progressed = true;
        }
        match ev.event_name {
            "duo_flow_started" => {
                p.started = Some(ev.time);
                if let Some(auth) = &ev.authorization {
                    p.authorization_verified_at = auth.verified_at;
                    p.authorization_method = auth.method.map(str::to_string);
                    p.authorized_scopes = auth.scopes.iter().map(|s| s.to_string()).collect();
                }
            }
            "duo_flow_paused" => p.paused = Some(ev.time),
            "duo_flow_resumed" => p.resumed = Some(ev.time),
            "duo_flow_completed" => p.terminal = Some((ev.time, SessionStatus::Completed)),
            "duo_flow_failed" => p.terminal = Some((ev.time, SessionStatus::Failed)),
            _ => {}
        }
        if let Some(r) = &ev.resource {
            p.resources.push(FlowSessionResource {
                flow_session_id: session_id.to_string(),
                resource_type: r.kind.to_string(),
                resource_id: r.id.to_string(),
                action: r.action.as_deref().unwrap_or("created").to_string(),
                created_at: ev.time,
            });
        }
    }

    /// What a session was asked and decided, and what it used, from one of its events (already
    /// [taken](SessionBuilder::take)); nothing for summaries.
    pub fn content(&mut self, ev: &AuditEvent) {
        if self.summaries {
            return;
        }
        let Some(ai) = &ev.ai else { return };
        let Some(p) = ai.session_id.as_deref().and_then(|id| self.sessions.get_mut(id)) else { return };
        let c = p.content.get_or_insert_with(Box::default);
        if c.correlation_id.is_none() {
            c.correlation_id = ev.correlation_id.clone();
        }
        match ev.event_name.as_str() {
            "duo_flow_started" => {
                c.input_prompt = detail_text(ev, "input_summary").or_else(|| detail_text(ev, "input_prompt"));
                c.input_context = detail(ev, "input_context");
            }
            "duo_flow_plan_generated" => {
                c.plan_summary = detail_text(ev, "plan_summary").or_else(|| {
                    detail(ev, "plan_steps").map(|steps| match steps {
                        Value::Array(items) => items.iter().filter_map(value_text).collect::<Vec<_>>().join("; "),
                        other => value_text(&other).unwrap_or_default(),
                    })
                });
            }
            _ => {}
        }
        if let Some(d) = detail(ev, "decision") {
            c.decisions.push(serde_json::json!({"at": time::format(&ev.time), "event": ev.event_name, "decision": d}));
        }
        c.input_tokens += ai.input_tokens.unwrap_or(0);
        c.output_tokens += ai.output_tokens.unwrap_or(0);
        if ai.model_provider.is_some() {
            c.model_provider = ai.model_provider.clone();
        }
        if ai.model_engine.is_some() {
            c.model_engine = ai.model_engine.clone();
        }
    }

    /// The sessions seen, ordered by session id, with their resources in time order.
    /// A session whose start event is missing starts at its first event and keeps status
    /// `running` (or its terminal state): the gap stays visible to integrity checks.
    pub fn finish(self) -> Vec<(FlowSession, Vec<FlowSessionResource>)> {
        self.finish_where(|_, _| true)
    }

    /// [`SessionBuilder::finish`], of the sessions for which `keep(started_at, resources)`
    /// holds (the others are dropped before they are built).
    pub fn finish_where(
        self,
        keep: impl Fn(Timestamp, &[FlowSessionResource]) -> bool,
    ) -> Vec<(FlowSession, Vec<FlowSessionResource>)> {
        let mut sessions: Vec<(String, Box<Partial>)> = self
            .sessions
            .into_iter()
            .filter(|(_, p)| p.started.or(p.first_seen).is_some_and(|t| keep(t, &p.resources)))
            .collect();
        sessions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sessions
            .into_iter()
            .filter_map(|(id, p)| {
                let started_at = p.started.or(p.first_seen)?;
                let status = match (p.terminal, p.paused, p.resumed) {
                    (Some((_, s)), _, _) => s,
                    (None, Some(paused), resumed) if resumed.is_none_or(|r| r < paused) => SessionStatus::Paused,
                    (None, _, _) if p.progressed => SessionStatus::Running,
                    _ => SessionStatus::Started,
                };
                let mut resources = p.resources;
                resources.sort_by(|a, b| (a.created_at, &a.resource_id).cmp(&(b.created_at, &b.resource_id)));
                let c = p.content.map(|c| *c).unwrap_or_default();
                let session = FlowSession {
                    session_id: id,
                    user_id: p.user_id.unwrap_or(0),
                    project_id: p.project_id,
                    service_account_id: p.service_account_id,
                    flow_type: p.flow_type.unwrap_or_default(),
                    input_prompt: c.input_prompt,
                    input_context: c.input_context,
                    started_at,
                    completed_at: p.terminal.map(|(t, _)| t),
                    status,
                    authorization_verified_at: p.authorization_verified_at,
                    authorization_method: p.authorization_method,
                    authorized_scopes: p.authorized_scopes,
                    plan_summary: c.plan_summary,
                    decisions_log: (!c.decisions.is_empty()).then_some(Value::Array(c.decisions)),
                    input_tokens: c.input_tokens,
                    output_tokens: c.output_tokens,
                    model_provider: c.model_provider,
                    model_engine: c.model_engine,
                    correlation_id: c.correlation_id,
                };
                Some((session, resources))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, AiContext, AuditEvent, Details, Origin};

    fn event(at: &str, name: &str, details: Value) -> AuditEvent {
        let mut ev = AuditEvent::new(
            time::parse(at).unwrap(),
            name.into(),
            Actor { id: Some("7".into()), ..Actor::default() },
            Origin { format: "test".into(), native_id: None },
        );
        ev.ai =
            Some(AiContext { session_id: Some("s-1".into()), flow_type: Some("fix".into()), ..AiContext::default() });
        ev.details = Details::from_map(details.as_object().unwrap());
        ev
    }

    #[test]
    fn summaries_keep_who_when_and_what_was_created_but_not_what_was_asked() {
        let events = [
            event(
                "2026-10-01T09:00:00Z",
                "duo_flow_started",
                serde_json::json!({"input_prompt": "fix it", "user_id": 7}),
            ),
            event(
                "2026-10-01T09:01:00Z",
                "duo_flow_plan_generated",
                serde_json::json!({"plan_summary": "edit", "decision": "go"}),
            ),
            event(
                "2026-10-01T09:02:00Z",
                "duo_flow_resource_created",
                serde_json::json!({"resource_type": "Commit", "resource_id": "abc1234"}),
            ),
        ];
        let build = |mut b: SessionBuilder| {
            events.iter().for_each(|e| b.add(e));
            b.finish().pop().unwrap()
        };
        let (full, full_resources) = build(SessionBuilder::default());
        let (lean, lean_resources) = build(SessionBuilder::summaries());
        assert_eq!(full.input_prompt.as_deref(), Some("fix it"));
        assert_eq!(full.plan_summary.as_deref(), Some("edit"));
        assert!(full.decisions_log.is_some());
        assert_eq!((lean.input_prompt, lean.plan_summary, lean.decisions_log), (None, None, None));
        assert_eq!(lean_resources, full_resources);
        assert_eq!(
            (lean.session_id, lean.user_id, lean.flow_type, lean.started_at, lean.status),
            (full.session_id, full.user_id, full.flow_type, full.started_at, full.status)
        );
    }
}
