//! What an event says that the anomalies' rows read — who, what, when, the session, model,
//! tokens and authorization — borrowed from the event ([`Summary::of_event`]) or, for the usual
//! line of a GitLab streaming audit log, of GitLab's `audit_json.log` and of an agent service's
//! audit log, straight from the line without building the event
//! ([`shapes::summarize`](super::shapes::summarize)); the details it reads are then the line's
//! own object ([`Fields`]), not a copy.
//!
//! Building an event for each of millions of lines (some thirty texts allocated, copied and
//! freed, its message, correlation id and whole AI context looked up) was about half of the
//! parser threads' time in `anomalies`, which keeps a few texts of each. A summary holds the same
//! values as the event built from the line would: the tests in `shapes` hold the two to each
//! other on every line of the demo data and on generated lines of each shape.

use std::borrow::Cow;

use crate::model::{ActorClass, AuditEvent, Fields, Outcome, Scope, Timestamp};

/// See the module documentation. Texts are as the event holds them (`None` where it holds none).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary<'a> {
    pub time: Timestamp,
    pub id: Cow<'a, str>,
    pub event_name: Cow<'a, str>,
    pub actor_id: Option<Cow<'a, str>>,
    pub actor_name: Option<Cow<'a, str>>,
    pub class: ActorClass,
    /// The human the actor acted for.
    pub on_behalf_of: Option<Named<'a>>,
    pub ip: Option<Cow<'a, str>>,
    pub outcome: Outcome,
    /// The project as facts name it: a project scope's id, else its path; empty for other scopes.
    pub project: Cow<'a, str>,
    pub target_id: Option<Cow<'a, str>>,
    pub session: Option<Cow<'a, str>>,
    pub flow_type: Option<Cow<'a, str>>,
    pub model_provider: Option<Cow<'a, str>>,
    pub model_engine: Option<Cow<'a, str>>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub authorization: Option<Authorized<'a>>,
    /// Whether the record can hold an authorization at all: GitLab's ClickHouse session
    /// aggregate (`agent_platform_sessions`) has no authorization columns.
    pub authorization_recorded: bool,
    /// The event's details (the prompts are read from them): the event's, or the line's keys
    /// beside its envelope.
    pub details: &'a dyn Fields,
}

/// Someone, by id and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named<'a> {
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
}

/// An authorization recorded with the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorized<'a> {
    pub verified_at: Option<Timestamp>,
    pub scopes: Cow<'a, [String]>,
}

impl<'a> Summary<'a> {
    /// What `ev` says.
    pub fn of_event(ev: &'a AuditEvent) -> Summary<'a> {
        let text = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        let ai = ev.ai.as_ref();
        let ai_text = |f: fn(&'a crate::model::AiContext) -> &'a Option<String>| ai.and_then(|a| text(f(a)));
        Summary {
            time: ev.time,
            id: Cow::Borrowed(&ev.id),
            event_name: Cow::Borrowed(&ev.event_name),
            actor_id: text(&ev.actor.id),
            actor_name: text(&ev.actor.name),
            class: ev.actor.class,
            on_behalf_of: ev.on_behalf_of.as_ref().map(|h| Named { id: text(&h.id), name: text(&h.name) }),
            ip: text(&ev.ip_address),
            outcome: ev.outcome,
            project: project_of(ev.scope.as_ref()),
            target_id: ev.target.as_ref().and_then(|t| text(&t.id)),
            session: ai_text(|a| &a.session_id),
            flow_type: ai_text(|a| &a.flow_type),
            model_provider: ai_text(|a| &a.model_provider),
            model_engine: ai_text(|a| &a.model_engine),
            input_tokens: ai.and_then(|a| a.input_tokens),
            output_tokens: ai.and_then(|a| a.output_tokens),
            authorization: ai
                .and_then(|a| a.authorization.as_ref())
                .map(|a| Authorized { verified_at: a.verified_at, scopes: Cow::Borrowed(&a.scopes) }),
            authorization_recorded: ev.origin.format != "agent_platform_sessions",
            details: &ev.details,
        }
    }

    /// The actor as facts name it: its id, else its name.
    pub fn actor(&self) -> &str {
        self.actor_id.as_deref().or(self.actor_name.as_deref()).unwrap_or_default()
    }
}

/// [`project`] of an event's scope (empty without one).
pub fn project_of(scope: Option<&Scope>) -> Cow<'_, str> {
    match scope {
        Some(s) => project(&s.kind, s.id, s.path.as_deref().map(Cow::Borrowed)),
        None => Cow::Borrowed(""),
    }
}

/// The project as facts name it, of a scope of `kind`, `id` and `path`: a project's id, else its
/// path; empty for other scopes ([`Fact::project_of`](crate::analyze::aggregate::Fact::project_of)
/// reads an event's scope so).
pub fn project<'a>(kind: &str, id: Option<i64>, path: Option<Cow<'a, str>>) -> Cow<'a, str> {
    match (kind, id) {
        ("Project", Some(id)) => Cow::Owned(id.to_string()),
        ("Project", None) => path.unwrap_or_default(),
        _ => Cow::Borrowed(""),
    }
}
