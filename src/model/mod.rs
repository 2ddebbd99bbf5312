//! The canonical records: one [`AuditEvent`] shape for every source, plus flow sessions.
//!
//! Sources map what they read onto these types; encoders only ever see these types. Typed fields
//! are normalized *views*; `details` keeps everything the source carried beyond the envelope, so
//! nothing is lost (see README, "JSON field reference").

pub mod canonical;
pub mod catalog;
pub mod details;
pub mod fields;
pub mod session;
pub mod time;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use details::Details;
pub use fields::Fields;
pub use session::{FlowSession, FlowSessionResource, SessionStatus};
pub use time::Timestamp;

/// The value of `schema` in every exported JSON record; readers use it to recognize the export.
pub const SCHEMA: &str = "compliance-report.event.v1";

/// One audit event, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Always [`SCHEMA`]; marks the record as this tool's canonical form.
    pub schema: String,
    /// Stable event id (32 hex digits), derived from the source's own id or content.
    pub id: String,
    /// When the event happened (UTC, microseconds).
    #[serde(with = "time::serde_ts")]
    pub time: Timestamp,
    /// GitLab event name (`event_name` / `event_type`), or the agent action (`gitlab.api.post_mr_note`).
    pub event_name: String,
    /// Category from GitLab's audit event type catalog, or derived from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Whether the action succeeded.
    #[serde(default)]
    pub outcome: Outcome,
    /// The identity that performed the action (for AI agents: the service account acting).
    pub actor: Actor,
    /// The human the actor acted for (composite identity); `None` when the actor acted for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Actor>,
    /// Where the event happened: project, group, user, instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// What was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Client IP address as the source recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Human-readable message (GitLab `custom_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Request correlation id tying the event to others of the same request or session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// AI-agent context: session, flow, model, tokens, authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiContext>,
    /// Where the record came from.
    pub origin: Origin,
    /// Everything else the source carried, verbatim (keys sorted).
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// Success, failure, or not recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    #[default]
    Unknown,
}

impl Outcome {
    /// The outcome [`Outcome::as_str`] names (`unknown` for any other text).
    pub fn named(name: &str) -> Outcome {
        match name {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure,
            _ => Outcome::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Who performed an action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Source id as text: GitLab user ids (negative for deploy keys and other non-users), agent ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name or username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What kind of identity this is.
    #[serde(default)]
    pub class: ActorClass,
}

/// The kind of identity behind an actor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorClass {
    User,
    ServiceAccount,
    DeployKey,
    DeployToken,
    CiRunner,
    ProjectBot,
    Unauthenticated,
    /// An agent service reacting to a webhook delivery.
    WebhookEvent,
    /// An agent service acting on its own polling schedule.
    PollCycle,
    /// An administrator acting through the agent service.
    AdminAction,
    System,
    #[default]
    Unknown,
}

impl ActorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorClass::User => "user",
            ActorClass::ServiceAccount => "service_account",
            ActorClass::DeployKey => "deploy_key",
            ActorClass::DeployToken => "deploy_token",
            ActorClass::CiRunner => "ci_runner",
            ActorClass::ProjectBot => "project_bot",
            ActorClass::Unauthenticated => "unauthenticated",
            ActorClass::WebhookEvent => "webhook_event",
            ActorClass::PollCycle => "poll_cycle",
            ActorClass::AdminAction => "admin_action",
            ActorClass::System => "system",
            ActorClass::Unknown => "unknown",
        }
    }

    /// Map GitLab's `author_class` (or an agent's `actor.type`) onto a class.
    pub fn from_source(name: &str) -> ActorClass {
        match name {
            "User" | "user" => ActorClass::User,
            "ServiceAccount" | "service_account" => ActorClass::ServiceAccount,
            "DeployKey" | "Gitlab::Audit::DeployKeyAuthor" | "deploy_key" => ActorClass::DeployKey,
            "DeployToken" | "Gitlab::Audit::DeployTokenAuthor" | "deploy_token" => ActorClass::DeployToken,
            "Gitlab::Audit::CiRunnerTokenAuthor" | "ci_runner" => ActorClass::CiRunner,
            "Gitlab::Audit::UnauthenticatedAuthor" | "unauthenticated" => ActorClass::Unauthenticated,
            "project_bot" => ActorClass::ProjectBot,
            "webhook_event" => ActorClass::WebhookEvent,
            "poll_cycle" => ActorClass::PollCycle,
            "admin_action" => ActorClass::AdminAction,
            "system" => ActorClass::System,
            _ => ActorClass::Unknown,
        }
    }

    /// GitLab's fixed negative author ids for authors that are not users
    /// (`Gitlab::Audit::NullAuthor` and its subclasses).
    pub fn from_gitlab_author_id(id: i64) -> Option<ActorClass> {
        match id {
            -1 => Some(ActorClass::Unauthenticated),
            -2 => Some(ActorClass::DeployToken),
            -3 => Some(ActorClass::DeployKey),
            -4 => Some(ActorClass::CiRunner),
            _ => None,
        }
    }
}

/// The entity an event is scoped to (GitLab's `entity_type`/`entity_id`/`entity_path`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// `Project`, `Group`, `User`, `Instance` (GitLab's spelling is kept).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Full path, e.g. `acme/payments/api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What an event acted on (GitLab's `target_type`/`target_id`/`target_details`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// AI-agent context, extracted from the event's details (see [`AiContext::from_details`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// GitLab `ai_audit_events.workflow_id` / `duo_workflows_workflows.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<i64>,
    /// GitLab `ai_audit_events.cloud_event_id` (UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Session duration on completion, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

impl AiContext {
    pub fn is_empty(&self) -> bool {
        *self == AiContext::default()
    }
}

/// Who authorized an agent session, how, and for what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, with = "time::serde_ts_opt", skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Provenance of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The shape read: `gitlab_audit_log`, `gitlab_streaming`, `agent_audit`, or a table name.
    pub format: String,
    /// The source's own id for the record, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_id: Option<String>,
}

impl AuditEvent {
    /// A new event with the stable id already derived from `origin` (or `content` when the
    /// source has no id of its own). `content` is the record's canonical JSON text.
    pub fn new(time: Timestamp, event_name: String, actor: Actor, origin: Origin) -> AuditEvent {
        AuditEvent {
            schema: SCHEMA.to_string(),
            category: catalog::category(&event_name).map(str::to_string),
            event_name,
            actor,
            origin,
            ..AuditEvent::hollow(time::to_micros(time))
        }
    }

    /// An event that says only when it happened, allocating nothing: what a
    /// [condensing](crate::sources::Prepare::condensing) source leaves of an event in its record
    /// (with its id).
    pub fn hollow(time: Timestamp) -> AuditEvent {
        AuditEvent {
            schema: String::new(),
            id: String::new(),
            time,
            event_name: String::new(),
            category: None,
            outcome: Outcome::Unknown,
            actor: Actor::default(),
            on_behalf_of: None,
            scope: None,
            target: None,
            ip_address: None,
            message: None,
            correlation_id: None,
            ai: None,
            origin: Origin::default(),
            details: Details::new(),
        }
    }

    /// Derive the stable id: from `origin.format` + `origin.native_id` when the source has an id,
    /// else from `content` (the source record's canonical text). Two byte-identical source
    /// records without ids therefore share an id, which is what a de-duplicating receiver wants.
    pub fn assign_id(&mut self, content: &str) {
        self.id = AuditEvent::id_of(&self.origin.format, self.origin.native_id.as_deref(), content);
    }

    /// The id [`AuditEvent::assign_id`] derives for an event of source format `format` with the
    /// source's id `native_id`, else with the canonical text `content`.
    pub fn id_of(format: &str, native_id: Option<&str>, content: &str) -> String {
        let mut h = Sha256::new();
        match native_id {
            Some(native) => {
                h.update(format.as_bytes());
                h.update([0]);
                h.update(native.as_bytes());
            }
            None => {
                h.update(b"content\0");
                h.update(content.as_bytes());
            }
        }
        let digest = h.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(32);
        for b in &digest[..16] {
            id.push(HEX[(b >> 4) as usize] as char);
            id.push(HEX[(b & 15) as usize] as char);
        }
        id
    }

    /// The AI context, created on first use.
    pub fn ai_mut(&mut self) -> &mut AiContext {
        self.ai.get_or_insert_with(AiContext::default)
    }
}

/// Render a JSON scalar as text the way a person would write it (strings unquoted).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// A JSON value as an integer, accepting numbers and numeric strings.
pub fn value_i64(v: &Value) -> Option<i64> {
    match v {
        // A float only when it is a whole number i64 holds exactly (`1e3`), never truncated
        // (`1.5`) or clamped (`18446744073709551616`).
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditEvent {
        let t = time::parse("2026-10-01T12:00:00.5Z").unwrap();
        let mut ev = AuditEvent::new(
            t,
            "duo_flow_started".into(),
            Actor { id: Some("9001".into()), name: Some("duo-sa".into()), class: ActorClass::ServiceAccount },
            Origin { format: "ai_audit_events".into(), native_id: Some("42".into()) },
        );
        ev.assign_id("");
        ev
    }

    #[test]
    fn id_comes_from_native_id_when_present() {
        let ev = sample();
        assert_eq!(ev.id.len(), 32);
        let mut other = sample();
        other.message = Some("different content, same native id".into());
        other.assign_id("whatever");
        assert_eq!(ev.id, other.id);
        other.origin.native_id = None;
        other.assign_id("{\"a\":1}");
        assert_ne!(ev.id, other.id);
    }

    #[test]
    fn serializes_in_documented_order_without_empty_fields() {
        let ev = sample();
        let json = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"schema\":\"compliance-report.event.v1\",\"id\":\"{}\",\"time\":\"2026-10-01T12:00:00.500000Z\",\
                 \"event_name\":\"duo_flow_started\",\"category\":\"duo_agent_platform\",\"outcome\":\"unknown\",\
                 \"actor\":{{\"id\":\"9001\",\"name\":\"duo-sa\",\"class\":\"service_account\"}},\
                 \"origin\":{{\"format\":\"ai_audit_events\",\"native_id\":\"42\"}}}}",
                ev.id
            )
        );
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn gitlab_negative_author_ids_name_their_class() {
        assert_eq!(ActorClass::from_gitlab_author_id(-3), Some(ActorClass::DeployKey));
        assert_eq!(ActorClass::from_gitlab_author_id(42), None);
        assert_eq!(ActorClass::from_source("DeployKey"), ActorClass::DeployKey);
    }
}
