//! Open Cybersecurity Schema Framework (OCSF 1.8.0) events, one per line.
//!
//! Each event gets one class from [`RULES`] (first matching name pattern wins):
//! Authentication (3002) for sign-ins and webhook HMAC validation, Account Change (3001) for
//! account and service-account lifecycle, Entity Management (3004) for flow-session lifecycle
//! (pause and resume are Suspend and Resume) and configuration changes, API Activity (6003)
//! for what agents did through the API and git. `type_uid` is `class_uid × 100 + activity_id`.
//! Model name, provider and token counts use the `ai_operation` profile (`ai_model`,
//! `message_context`), which OCSF defines for API Activity; on other classes they stay in
//! `unmapped`. Everything the class has no attribute for goes to `unmapped`, so documents
//! validate against the official schema (`tests/ocsf/validate.py`) and lose nothing.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::Encoder;
use crate::chain::Chain;
use crate::model::catalog::SeverityTable;
use crate::model::{time, Actor, ActorClass, AuditEvent, Outcome};

/// The OCSF schema version the events declare (`metadata.version`).
pub const OCSF_VERSION: &str = "1.8.0";

/// The OCSF event classes this encoder produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    AccountChange,
    Authentication,
    EntityManagement,
    ApiActivity,
}

impl Class {
    pub fn uid(self) -> u32 {
        match self {
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::EntityManagement => 3004,
            Class::ApiActivity => 6003,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::EntityManagement => "Entity Management",
            Class::ApiActivity => "API Activity",
        }
    }

    fn category(self) -> (u32, &'static str) {
        match self {
            Class::ApiActivity => (6, "Application Activity"),
            _ => (3, "Identity & Access Management"),
        }
    }

    /// The class's activity for a normalized verb (`None`: the class has no such activity).
    fn activity(self, verb: Verb) -> Option<(u8, &'static str)> {
        use Verb::*;
        Some(match (self, verb) {
            (_, Create) => (1, "Create"),
            (Class::AccountChange, Delete) => (6, "Delete"),
            (Class::Authentication, _) => return None,
            (_, Read) => (2, "Read"),
            (_, Update) => (3, "Update"),
            (_, Delete) => (4, "Delete"),
            (Class::AccountChange, Enable) => (2, "Enable"),
            (Class::AccountChange, Disable) => (5, "Disable"),
            (Class::EntityManagement, Enable) => (8, "Enable"),
            (Class::EntityManagement, Disable) => (9, "Disable"),
            _ => return None,
        })
    }
}

/// How an event's activity is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// A fixed activity id and caption.
    Fixed(u8, &'static str),
    /// From the verb in the event name (`…_created` → Create, `update_…` → Update, …).
    FromName,
    /// `repository_git_operation`: Read for fetches and clones, Update for pushes.
    GitOperation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Read,
    Update,
    Delete,
    Enable,
    Disable,
}

/// Name pattern (`*` at either end matches any text) → class and activity; first match wins.
const RULES: &[(&str, Class, Activity)] = &[
    ("webhook.hmac_validation", Class::Authentication, Activity::Fixed(99, "HMAC Validation")),
    ("authenticated_with_*", Class::Authentication, Activity::Fixed(1, "Logon")),
    ("login_failed_*", Class::Authentication, Activity::Fixed(1, "Logon")),
    ("omniauth_login_failed", Class::Authentication, Activity::Fixed(1, "Logon")),
    ("user_authenticated_using_job_token", Class::Authentication, Activity::Fixed(1, "Logon")),
    ("user_impersonation", Class::Authentication, Activity::Fixed(7, "Account Switch")),
    ("*service_account_provisioned", Class::AccountChange, Activity::Fixed(1, "Create")),
    ("user_provisioned_by_scim", Class::AccountChange, Activity::Fixed(1, "Create")),
    ("user_password_updated", Class::AccountChange, Activity::Fixed(3, "Password Change")),
    ("password_reset_*", Class::AccountChange, Activity::Fixed(4, "Password Reset")),
    ("user_activate", Class::AccountChange, Activity::Fixed(2, "Enable")),
    ("user_deactivate", Class::AccountChange, Activity::Fixed(5, "Disable")),
    ("user_destroyed", Class::AccountChange, Activity::Fixed(6, "Delete")),
    ("user_blocked", Class::AccountChange, Activity::Fixed(9, "Lock")),
    ("user_access_locked", Class::AccountChange, Activity::Fixed(9, "Lock")),
    ("user_unblocked", Class::AccountChange, Activity::Fixed(12, "Unlock")),
    ("user_access_unlocked", Class::AccountChange, Activity::Fixed(12, "Unlock")),
    ("user_enable_two_factor", Class::AccountChange, Activity::Fixed(10, "MFA Factor Enable")),
    ("user_disable_two_factor", Class::AccountChange, Activity::Fixed(11, "MFA Factor Disable")),
    ("custom_admin_role_assigned_to_user", Class::AccountChange, Activity::Fixed(7, "Attach Policy")),
    ("custom_admin_role_unassigned_from_user", Class::AccountChange, Activity::Fixed(8, "Detach Policy")),
    ("user_*", Class::AccountChange, Activity::FromName),
    ("*service_account_*", Class::AccountChange, Activity::FromName),
    ("duo_flow_resource_created", Class::ApiActivity, Activity::Fixed(1, "Create")),
    ("duo_flow_token_usage", Class::ApiActivity, Activity::Fixed(99, "Model Usage")),
    ("duo_flow_started", Class::EntityManagement, Activity::Fixed(1, "Create")),
    ("duo_flow_plan_generated", Class::EntityManagement, Activity::Fixed(3, "Update")),
    ("duo_flow_paused", Class::EntityManagement, Activity::Fixed(12, "Suspend")),
    ("duo_flow_resumed", Class::EntityManagement, Activity::Fixed(13, "Resume")),
    ("duo_flow_completed", Class::EntityManagement, Activity::Fixed(11, "Deactivate")),
    ("duo_flow_failed", Class::EntityManagement, Activity::Fixed(11, "Deactivate")),
    ("duo_flow_dropped", Class::EntityManagement, Activity::Fixed(11, "Deactivate")),
    ("duo_flow_stopped", Class::EntityManagement, Activity::Fixed(11, "Deactivate")),
    ("duo_flow_*", Class::EntityManagement, Activity::FromName),
    ("gitlab.api.*", Class::ApiActivity, Activity::FromName),
    ("git.push", Class::ApiActivity, Activity::Fixed(3, "Update")),
    ("git.*", Class::ApiActivity, Activity::FromName),
    ("approval_gate.decision", Class::ApiActivity, Activity::Fixed(99, "Approval Decision")),
    ("repository_git_operation", Class::ApiActivity, Activity::GitOperation),
    ("*", Class::EntityManagement, Activity::FromName),
];

/// `pattern` matches `name`; a `*` at the start or end of the pattern matches any text.
fn wildcard(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => name.contains(&rest[..rest.len() - 1]),
        (Some(suffix), _) => name.ends_with(suffix),
        (None, Some(prefix)) => name.starts_with(prefix),
        (None, None) => name == pattern,
    }
}

/// The verb in an event name, looked up word by word (`.` and `_` separate words).
fn verb(name: &str) -> Option<Verb> {
    name.split(['.', '_']).find_map(|word| {
        Some(match word {
            "create" | "created" | "add" | "added" | "post" | "provisioned" | "new" => Verb::Create,
            "get" | "list" | "read" | "viewed" | "fetch" | "download" | "downloaded" | "exported" => Verb::Read,
            "update" | "updated" | "change" | "changed" | "edit" | "edited" | "put" | "patch" | "merge" | "merged"
            | "assigned" | "unassigned" | "operation" | "approved" | "rejected" | "transferred" => Verb::Update,
            "delete" | "deleted" | "destroy" | "destroyed" | "remove" | "removed" => Verb::Delete,
            "enable" | "enabled" | "activate" | "activated" => Verb::Enable,
            "disable" | "disabled" | "deactivate" | "deactivated" => Verb::Disable,
            _ => return None,
        })
    })
}

/// The class of an event and its activity (id, caption).
pub fn classify(ev: &AuditEvent) -> (Class, u8, &'static str) {
    let name = ev.event_name.as_str();
    let (_, class, activity) =
        RULES.iter().find(|(pattern, _, _)| wildcard(pattern, name)).expect("the last rule matches every name");
    let (id, caption) = match activity {
        Activity::Fixed(id, caption) => (*id, *caption),
        Activity::GitOperation => {
            let pushed = ev.message.as_deref().is_some_and(|m| m.contains("receive-pack"))
                || ev.details.raw("custom_message").is_some_and(|m| m.contains("receive-pack"));
            if pushed {
                (3, "Update")
            } else {
                (2, "Read")
            }
        }
        Activity::FromName => verb(name).and_then(|v| class.activity(v)).unwrap_or((99, "Other")),
    };
    (*class, id, caption)
}

/// OCSF `severity_id` for a 0–10 severity: 0–2 Informational, 3 Low, 4–6 Medium, 7–8 High, 9–10 Critical.
pub fn severity_id(level: u8) -> (u8, &'static str) {
    match level {
        0..=2 => (1, "Informational"),
        3 => (2, "Low"),
        4..=6 => (3, "Medium"),
        7..=8 => (4, "High"),
        _ => (5, "Critical"),
    }
}

/// OCSF `user.type_id` (and the source's own word in `type` where OCSF has none).
fn user_type(class: ActorClass) -> (u8, &'static str) {
    match class {
        ActorClass::User => (1, "User"),
        ActorClass::AdminAction => (2, "Admin"),
        ActorClass::System => (3, "System"),
        ActorClass::ServiceAccount | ActorClass::ProjectBot => (4, "Service"),
        ActorClass::Unknown => (0, "Unknown"),
        other => (99, other.as_str()),
    }
}

fn user(a: &Actor) -> Value {
    let (type_id, kind) = user_type(a.class);
    let mut u = json!({"type_id": type_id, "type": kind});
    if let Some(id) = &a.id {
        u["uid"] = json!(id);
    }
    if let Some(name) = &a.name {
        u["name"] = json!(name);
    }
    if a.id.is_none() && a.name.is_none() {
        u["name"] = json!("unknown");
    }
    u
}

/// The product that logged the event: the agent service for agent logs, else GitLab.
fn product(ev: &AuditEvent) -> Value {
    match ev.origin.format.as_str() {
        "agent_audit" => json!({"name": service_name(ev).as_deref().unwrap_or("agent service")}),
        _ => json!({"name": "GitLab", "vendor_name": "GitLab"}),
    }
}

fn service_name(ev: &AuditEvent) -> Option<Cow<'_, str>> {
    ev.details.str("service")
}

/// `{type, uid, name}` for the event's target, as a resource or managed entity.
fn target_object(ev: &AuditEvent) -> Option<Map<String, Value>> {
    let t = ev.target.as_ref()?;
    let mut o = Map::new();
    if let Some(k) = &t.kind {
        o.insert("type".into(), json!(k));
    }
    if let Some(id) = &t.id {
        o.insert("uid".into(), json!(id));
    }
    if let Some(d) = &t.details {
        o.insert("name".into(), json!(d));
    }
    (o.contains_key("uid") || o.contains_key("name")).then_some(o)
}

fn scope_object(ev: &AuditEvent) -> Option<Map<String, Value>> {
    let s = ev.scope.as_ref()?;
    let mut o = Map::new();
    o.insert("type".into(), json!(s.kind));
    if let Some(id) = s.id {
        o.insert("uid".into(), json!(id.to_string()));
    }
    if let Some(p) = &s.path {
        o.insert("name".into(), json!(p));
    }
    (o.len() > 1).then_some(o)
}

/// The account an Account Change or Authentication event is about: the target user, else the
/// user scope, else the actor.
fn subject_user(ev: &AuditEvent, class: Class) -> Value {
    if let Some(t) = ev.target.as_ref().filter(|t| t.kind.as_deref() == Some("User")) {
        let service = class == Class::AccountChange && ev.event_name.contains("service_account");
        let actor = Actor {
            id: t.id.clone(),
            name: t.details.clone(),
            class: if service { ActorClass::ServiceAccount } else { ActorClass::User },
        };
        return user(&actor);
    }
    if class == Class::AccountChange {
        if let Some(s) = ev.scope.as_ref().filter(|s| s.kind == "User") {
            let actor = Actor { id: s.id.map(|i| i.to_string()), name: s.path.clone(), class: ActorClass::User };
            return user(&actor);
        }
    }
    user(&ev.actor)
}

#[derive(Debug, Clone, Default)]
pub struct OcsfEncoder {
    pub severity: SeverityTable,
}

impl OcsfEncoder {
    pub fn document(&self, ev: &AuditEvent) -> Value {
        let (class, activity_id, activity_name) = classify(ev);
        let (category_uid, category_name) = class.category();
        let (severity_id, severity) = severity_id(self.severity.severity(ev));
        let (status_id, status) = match ev.outcome {
            Outcome::Success => (1, "Success"),
            Outcome::Failure => (2, "Failure"),
            Outcome::Unknown => (0, "Unknown"),
        };
        let mut metadata = json!({
            "version": OCSF_VERSION,
            "product": product(ev),
            "uid": ev.id,
            "event_code": ev.event_name,
            "log_name": ev.origin.format,
            "original_time": time::format(&ev.time),
        });
        if let Some(n) = &ev.origin.native_id {
            metadata["original_event_uid"] = json!(n);
        }
        if let Some(c) = &ev.correlation_id {
            metadata["correlation_uid"] = json!(c);
        }
        let mut doc = json!({
            "class_uid": class.uid(),
            "class_name": class.name(),
            "category_uid": category_uid,
            "category_name": category_name,
            "activity_id": activity_id,
            "activity_name": activity_name,
            "type_uid": class.uid() * 100 + u32::from(activity_id),
            "type_name": format!("{}: {activity_name}", class.name()),
            "severity_id": severity_id,
            "severity": severity,
            "status_id": status_id,
            "status": status,
            "time": ev.time.timestamp_millis(),
        });
        let mut unmapped = Map::new();

        // Actor: the human principal (composite identity) or the actor itself as `user`; an
        // agent's service account as the application it acted through.
        let mut actor = Map::new();
        match &ev.on_behalf_of {
            Some(human) => {
                actor.insert("user".into(), user(human));
                if let Some(id) = &ev.actor.id {
                    actor.insert("app_uid".into(), json!(id));
                }
                actor.insert("app_name".into(), json!(ev.actor.name.as_deref().unwrap_or("unknown")));
            }
            None => {
                actor.insert("user".into(), user(&ev.actor));
                if let Some(s) = service_name(ev) {
                    actor.insert("app_name".into(), json!(s));
                }
            }
        }
        if let Some(s) = ev.ai.as_ref().and_then(|a| a.session_id.as_ref()) {
            actor.insert("session".into(), json!({"uid": s}));
        }
        if let Some(d) = ev.details.str("decision") {
            actor.insert("authorizations".into(), json!([{"decision": d}]));
        }
        doc["actor"] = Value::Object(actor);

        let ip = ev.ip_address.as_deref().filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        match ip {
            Some(ip) => doc["src_endpoint"] = json!({"ip": ip}),
            None if class == Class::ApiActivity => {
                let service = service_name(ev);
                let name = service.as_deref().unwrap_or(if ev.origin.format == "agent_audit" {
                    "agent service"
                } else {
                    "GitLab"
                });
                doc["src_endpoint"] = json!({"name": name});
            }
            None => {}
        }
        if let (Some(raw), None) = (ev.ip_address.as_deref(), ip) {
            unmapped.insert("ip_address".into(), json!(raw));
        }
        if let Some(m) = &ev.message {
            doc["message"] = json!(m);
        }

        match class {
            Class::ApiActivity => {
                let operation = ev.event_name.strip_prefix("gitlab.api.").unwrap_or(&ev.event_name);
                let mut api = json!({"operation": operation});
                api["service"] = json!({"name": if ev.event_name.starts_with("git.") { "git" } else { "GitLab API" }});
                if let Some(c) = &ev.correlation_id {
                    api["request"] = json!({"uid": c});
                }
                doc["api"] = api;
                let resources: Vec<Value> =
                    [target_object(ev), scope_object(ev)].into_iter().flatten().map(Value::Object).collect();
                if !resources.is_empty() {
                    doc["resources"] = json!(resources);
                }
            }
            Class::EntityManagement => {
                let mut entity = target_object(ev)
                    .or_else(|| scope_object(ev))
                    .unwrap_or_else(|| Map::from_iter([("name".to_string(), json!(ev.event_name))]));
                let type_id = match entity.get("type").and_then(Value::as_str) {
                    Some("User") => 2,
                    Some("Group") => 3,
                    _ => 99,
                };
                entity.insert("type_id".into(), json!(type_id));
                doc["entity"] = Value::Object(entity);
                if let Some(s) = scope_object(ev) {
                    unmapped.insert("scope".into(), Value::Object(s));
                }
            }
            Class::AccountChange | Class::Authentication => {
                doc["user"] = subject_user(ev, class);
                if let Some(s) = scope_object(ev) {
                    unmapped.insert("scope".into(), Value::Object(s));
                }
            }
        }
        if class == Class::Authentication {
            let name = ev.event_name.as_str();
            if name == "webhook.hmac_validation" {
                doc["auth_protocol_id"] = json!(99);
                doc["auth_protocol"] = json!("HMAC");
                doc["service"] = json!({"name": service_name(ev).as_deref().unwrap_or("webhook receiver")});
            } else {
                doc["service"] = json!({"name": "GitLab"});
                if let Some(method) = name.strip_prefix("authenticated_with_") {
                    let (id, protocol) = match method {
                        "ldap" => (12, "LDAP"),
                        "group_saml" => (5, "SAML"),
                        "oauth" => (6, "OAUTH 2.0"),
                        other => (99, other),
                    };
                    doc["auth_protocol_id"] = json!(id);
                    doc["auth_protocol"] = json!(protocol);
                    doc["is_mfa"] = json!(matches!(method, "two_factor" | "webauthn"));
                }
            }
        }
        if let Some(t) = ev.target.as_ref().filter(|_| class != Class::ApiActivity && class != Class::EntityManagement)
        {
            unmapped.insert("target".into(), serde_json::to_value(t).expect("targets serialize"));
        }

        if let Some(ai) = &ev.ai {
            let mut rest = serde_json::to_value(ai).expect("AI context serializes");
            let rest_map = rest.as_object_mut().expect("AI context is an object");
            if class == Class::ApiActivity {
                if let Some(model) = &ai.model_engine {
                    let provider = ai.model_provider.as_deref().unwrap_or("unknown");
                    doc["ai_model"] = json!({"name": model, "ai_provider": provider});
                    rest_map.remove("model_engine");
                    rest_map.remove("model_provider");
                }
                // The agent's turn: who ran it (the agent, else the flow), in which session, at what cost.
                let mut context = Map::new();
                if let Some(n) = ai.input_tokens {
                    context.insert("prompt_tokens".into(), json!(n));
                }
                if let Some(n) = ai.output_tokens {
                    context.insert("completion_tokens".into(), json!(n));
                }
                if !context.is_empty() || ai.agent_name.is_some() {
                    if ai.input_tokens.is_some() || ai.output_tokens.is_some() {
                        let total = ai.input_tokens.unwrap_or(0) + ai.output_tokens.unwrap_or(0);
                        context.insert("total_tokens".into(), json!(total));
                    }
                    let agent = ai.agent_name.as_deref().or(ai.flow_type.as_deref()).unwrap_or("agent");
                    context.insert("service".into(), json!({"name": agent}));
                    context.insert("ai_role_id".into(), json!(4));
                    context.insert("ai_role".into(), json!("Agent"));
                    if let Some(s) = &ai.session_id {
                        context.insert("uid".into(), json!(s));
                    }
                    doc["message_context"] = Value::Object(context);
                    for key in ["input_tokens", "output_tokens", "agent_name"] {
                        rest_map.remove(key);
                    }
                }
                if doc.get("ai_model").is_some() || doc.get("message_context").is_some() {
                    metadata["profiles"] = json!(["ai_operation"]);
                }
            }
            if let Some(ms) = ai.duration_ms {
                let end = ev.time.timestamp_millis();
                doc["duration"] = json!(ms);
                doc["start_time"] = json!(end - ms as i64);
                doc["end_time"] = json!(end);
                rest_map.remove("duration_ms");
            }
            rest_map.remove("session_id");
            if !rest_map.is_empty() {
                unmapped.insert("ai".into(), rest);
            }
        }
        if let Some(c) = &ev.category {
            unmapped.insert("category".into(), json!(c));
        }
        if ev.on_behalf_of.is_some() {
            unmapped.insert("actor_class".into(), json!(ev.actor.class.as_str()));
        }
        if !ev.details.is_empty() {
            unmapped.insert("details".into(), Value::Object(ev.details.to_map()));
        }
        doc["metadata"] = metadata;
        if !unmapped.is_empty() {
            doc["unmapped"] = Value::Object(unmapped);
        }
        doc
    }
}

impl Encoder for OcsfEncoder {
    /// `unmapped` is always present and always last, so a hash chain's members can go at its
    /// end (OCSF classes allow no other extra attribute).
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        let mut doc = self.document(ev);
        let unmapped = doc.as_object_mut().and_then(|d| d.remove("unmapped")).unwrap_or_else(|| json!({}));
        serde_json::to_writer(&mut *out, &doc).expect("JSON values serialize");
        out.pop();
        out.extend_from_slice(b",\"unmapped\":");
        serde_json::to_writer(&mut *out, &unmapped).expect("JSON values serialize");
        out.push(b'}');
    }

    fn encode_chained(&self, ev: &AuditEvent, chain: &mut Chain, out: &mut Vec<u8>) {
        let start = out.len();
        self.encode(ev, out);
        chain.seal_json(out, start, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AiContext, Origin, Scope, Target};

    fn event(name: &str, actor: Actor) -> AuditEvent {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T12:00:00.123456Z").unwrap(),
            name.into(),
            actor,
            Origin { format: "gitlab_streaming".into(), native_id: Some("7".into()) },
        );
        ev.assign_id("");
        ev.outcome = Outcome::Success;
        ev
    }

    fn sa() -> Actor {
        Actor { id: Some("5001".into()), name: Some("duo-developer-sa".into()), class: ActorClass::ServiceAccount }
    }

    #[test]
    fn classes_and_activities_follow_the_rules() {
        let cases = [
            ("authenticated_with_password", 3002, 1),
            ("login_failed_with_standard_authentication", 3002, 1),
            ("webhook.hmac_validation", 3002, 99),
            ("duo_service_account_provisioned", 3001, 1),
            ("user_blocked", 3001, 9),
            ("user_email_address_updated", 3001, 3),
            ("duo_flow_started", 3004, 1),
            ("duo_flow_paused", 3004, 12),
            ("duo_flow_resumed", 3004, 13),
            ("duo_flow_completed", 3004, 11),
            ("duo_flow_resource_created", 6003, 1),
            ("gitlab.api.create_commit", 6003, 1),
            ("gitlab.api.get_issue", 6003, 2),
            ("gitlab.api.post_mr_note", 6003, 1),
            ("git.push", 6003, 3),
            ("repository_git_operation", 6003, 2),
            ("ci_variable_created", 3004, 1),
            ("protected_branch_updated", 3004, 3),
            ("audit_event_streaming_destination_deleted", 3004, 4),
            ("something_unheard_of", 3004, 99),
        ];
        for (name, class, activity) in cases {
            let (c, a, _) = classify(&event(name, sa()));
            assert_eq!((name, c.uid(), a), (name, class, activity));
        }
        let mut push = event("repository_git_operation", sa());
        push.message = Some("{\"action\":\"git-receive-pack\",\"protocol\":\"ssh\"}".into());
        assert_eq!(classify(&push).1, 3);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "x"));
        assert!(wildcard("user_*", "user_blocked"));
        assert!(!wildcard("user_*", "xuser_blocked"));
        assert!(wildcard("*_provisioned", "duo_service_account_provisioned"));
        assert!(wildcard("*service_account_*", "a_service_account_b"));
        assert!(!wildcard("git.push", "git.push2"));
    }

    #[test]
    fn token_usage_is_api_activity_with_the_ai_profile() {
        let mut ev = event("duo_flow_token_usage", sa());
        ev.on_behalf_of = Some(Actor { id: Some("42".into()), name: Some("alice".into()), class: ActorClass::User });
        ev.scope = Some(Scope { kind: "Project".into(), id: Some(101), path: Some("acme/api".into()) });
        ev.correlation_id = Some("c0ffee".into());
        ev.ai = Some(AiContext {
            session_id: Some("s-1".into()),
            agent_name: Some("issue_agent".into()),
            model_provider: Some("anthropic".into()),
            model_engine: Some("claude-sonnet-4-5".into()),
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Default::default()
        });
        let doc = OcsfEncoder::default().encode_to_string(&ev);
        assert_eq!(
            doc,
            format!(
                "{{\"activity_id\":99,\"activity_name\":\"Model Usage\",\
                 \"actor\":{{\"app_name\":\"duo-developer-sa\",\"app_uid\":\"5001\",\"session\":{{\"uid\":\"s-1\"}},\
                 \"user\":{{\"name\":\"alice\",\"type\":\"User\",\"type_id\":1,\"uid\":\"42\"}}}},\
                 \"ai_model\":{{\"ai_provider\":\"anthropic\",\"name\":\"claude-sonnet-4-5\"}},\
                 \"api\":{{\"operation\":\"duo_flow_token_usage\",\"request\":{{\"uid\":\"c0ffee\"}},\"service\":{{\"name\":\"GitLab API\"}}}},\
                 \"category_name\":\"Application Activity\",\"category_uid\":6,\"class_name\":\"API Activity\",\"class_uid\":6003,\
                 \"message_context\":{{\"ai_role\":\"Agent\",\"ai_role_id\":4,\"completion_tokens\":5,\"prompt_tokens\":10,\
                 \"service\":{{\"name\":\"issue_agent\"}},\"total_tokens\":15,\"uid\":\"s-1\"}},\
                 \"metadata\":{{\"correlation_uid\":\"c0ffee\",\"event_code\":\"duo_flow_token_usage\",\"log_name\":\"gitlab_streaming\",\
                 \"original_event_uid\":\"7\",\"original_time\":\"2026-10-01T12:00:00.123456Z\",\"product\":{{\"name\":\"GitLab\",\"vendor_name\":\"GitLab\"}},\
                 \"profiles\":[\"ai_operation\"],\"uid\":\"{id}\",\"version\":\"1.8.0\"}},\
                 \"resources\":[{{\"name\":\"acme/api\",\"type\":\"Project\",\"uid\":\"101\"}}],\
                 \"severity\":\"Low\",\"severity_id\":2,\"src_endpoint\":{{\"name\":\"GitLab\"}},\"status\":\"Success\",\"status_id\":1,\
                 \"time\":1790856000123,\"type_name\":\"API Activity: Model Usage\",\"type_uid\":600399,\
                 \"unmapped\":{{\"actor_class\":\"service_account\",\"category\":\"duo_agent_platform\"}}}}",
                id = ev.id
            )
        );
    }

    #[test]
    fn provisioning_names_the_service_account_as_the_changed_user() {
        let mut ev = event(
            "duo_service_account_provisioned",
            Actor { id: Some("1001".into()), name: Some("Ada".into()), class: ActorClass::User },
        );
        ev.target = Some(Target {
            kind: Some("User".into()),
            id: Some("5001".into()),
            details: Some("duo-developer-sa".into()),
        });
        let doc = OcsfEncoder::default().document(&ev);
        assert_eq!(doc["type_uid"], json!(300101));
        assert_eq!(doc["user"], json!({"name": "duo-developer-sa", "type": "Service", "type_id": 4, "uid": "5001"}));
        assert_eq!(doc["actor"]["user"]["name"], json!("Ada"));
        assert_eq!(doc["severity_id"], json!(4));
        assert!(doc.get("src_endpoint").is_none());
    }

    #[test]
    fn pause_is_suspend_on_the_workflow_entity() {
        let mut ev = event("duo_flow_paused", sa());
        ev.target = Some(Target {
            kind: Some("Ai::DuoWorkflows::Workflow".into()),
            id: Some("28".into()),
            details: Some("code_review".into()),
        });
        ev.ip_address = Some("not an ip".into());
        let doc = OcsfEncoder::default().document(&ev);
        assert_eq!(doc["type_uid"], json!(300412));
        assert_eq!(
            doc["entity"],
            json!({"name": "code_review", "type": "Ai::DuoWorkflows::Workflow", "type_id": 99, "uid": "28"})
        );
        assert_eq!(doc["unmapped"]["ip_address"], json!("not an ip"));
    }

    #[test]
    fn severity_scale() {
        assert_eq!([0, 2, 3, 4, 6, 7, 8, 9, 10].map(|l| severity_id(l).0), [1, 1, 2, 3, 3, 4, 4, 5, 5]);
    }

    impl OcsfEncoder {
        fn encode_to_string(&self, ev: &AuditEvent) -> String {
            let mut out = Vec::new();
            self.encode(ev, &mut out);
            String::from_utf8(out).unwrap()
        }
    }
}
