//! Shared normalization from source fields to the model: GitLab envelopes, agent-platform
//! details (session, tokens, authorization, composite identity), outcome and message.
//! Every source (NDJSON shapes, PostgreSQL, ClickHouse) goes through here, so the same row gives
//! the same event whichever source it was read from.

use std::borrow::Cow;

use serde_json::Value;

use crate::model::{
    time, value_i64, value_text, Actor, ActorClass, AuditEvent, Authorization, Details, Fields, Origin, Outcome, Scope,
    Target,
};

/// The envelope columns GitLab stores for every audit event, whichever table or log carried it.
#[derive(Debug, Default, Clone)]
pub struct GitlabEnvelope {
    pub time: Option<time::Timestamp>,
    pub event_name: Option<String>,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub entity_path: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_details: Option<String>,
    pub ip_address: Option<String>,
}

impl GitlabEnvelope {
    /// Build the event. `details` is the source's details hash (already parsed);
    /// `origin` says where it came from. The caller assigns the id.
    pub fn into_event(self, origin: Origin, details: Details) -> Result<AuditEvent, String> {
        let time = self.time.ok_or("no timestamp (expected created_at or time)")?;
        let event_name = self
            .event_name
            .or_else(|| details.text("event_name"))
            .filter(|n| !n.is_empty())
            // GitLab's name for audit events recorded without a specific type.
            .unwrap_or_else(|| "audit_operation".to_string());
        let author_name = self.author_name.or_else(|| details.text("author_name"));
        let class = author_class(&details, self.author_id);
        let actor = Actor { id: self.author_id.map(|i| i.to_string()), name: author_name, class };
        let mut ev = AuditEvent::new(time, event_name, actor, origin);
        ev.scope = self.entity_type.map(|kind| Scope {
            kind,
            id: self.entity_id,
            path: self.entity_path.or_else(|| details.text("entity_path")),
        });
        let target = Target {
            kind: self.target_type.or_else(|| details.text("target_type")),
            id: self.target_id.or_else(|| details.text("target_id")),
            details: self.target_details.or_else(|| details.text("target_details")),
        };
        if target != Target::default() {
            ev.target = Some(target);
        }
        ev.ip_address = self.ip_address.or_else(|| details.text("ip_address")).filter(|s| !s.is_empty());
        ev.details = details;
        enrich(&mut ev);
        Ok(ev)
    }
}

/// A GitLab author's class: the details' `author_class`, else what GitLab's reserved author
/// ids stand for, else a user (an author of no id: unknown).
pub fn author_class<D: Fields + ?Sized>(details: &D, author_id: Option<i64>) -> ActorClass {
    details
        .str("author_class")
        .map(|c| ActorClass::from_source(&c))
        .filter(|c| *c != ActorClass::Unknown)
        .or_else(|| author_id.and_then(ActorClass::from_gitlab_author_id))
        .unwrap_or(if author_id.is_some() { ActorClass::User } else { ActorClass::Unknown })
}

fn text<D: Fields + ?Sized>(details: &D, key: &str) -> Option<String> {
    text_ref(details, key).map(Cow::into_owned)
}

fn first_text<D: Fields + ?Sized>(details: &D, keys: &[&str]) -> Option<String> {
    first_text_ref(details, keys).map(Cow::into_owned)
}

/// A detail as text ([`Details::text_ref`]), unless empty.
pub fn text_ref<'d, D: Fields + ?Sized>(details: &'d D, key: &str) -> Option<Cow<'d, str>> {
    details.text_ref(key).filter(|s| !s.is_empty())
}

/// The first of `keys` that holds a text ([`text_ref`]).
pub fn first_text_ref<'d, D: Fields + ?Sized>(details: &'d D, keys: &[&str]) -> Option<Cow<'d, str>> {
    keys.iter().find_map(|k| text_ref(details, k))
}

/// The outcome of an event that names none itself: the details' `outcome`, else a failure when
/// its name says so, else a success (GitLab records audit events for actions that happened).
pub fn outcome_of<D: Fields + ?Sized>(d: &D, event_name: &str) -> Outcome {
    match d.str("outcome").as_deref() {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ if event_name.contains("fail") => Outcome::Failure,
        _ => Outcome::Success,
    }
}

/// The actor's class, given what the details say: a user (or an actor of no known class) is a
/// service account when the details say so, or when it acted for someone under composite
/// identity (`acting_for`: whether [`on_behalf_of`] names someone).
pub fn class_of<D: Fields + ?Sized>(class: ActorClass, d: &D, acting_for: bool) -> ActorClass {
    let service_account = || {
        text_ref(d, "author_user_type").as_deref() == Some("service_account")
            || d.bool("composite_identity") == Some(true) && acting_for
    };
    match class {
        ActorClass::User | ActorClass::Unknown if service_account() => ActorClass::ServiceAccount,
        other => other,
    }
}

/// Fill the typed views (message, outcome, correlation id, AI context, on-behalf-of user)
/// from `details`. Never removes anything from `details`.
pub fn enrich(ev: &mut AuditEvent) {
    let d = &ev.details;
    if ev.message.is_none() {
        ev.message = match d.raw("custom_message") {
            Some(object) if object.starts_with('{') => Some(object.to_string()),
            Some(_) => {
                d.str("custom_message").filter(|s| !s.is_empty()).map(Cow::into_owned).or_else(|| change_message(d))
            }
            None => change_message(d),
        };
    }
    if ev.outcome == Outcome::Unknown {
        ev.outcome = outcome_of(d, &ev.event_name);
    }
    if ev.correlation_id.is_none() {
        ev.correlation_id = text(d, "correlation_id");
    }
    if ev.on_behalf_of.is_none() {
        ev.on_behalf_of = on_behalf_of(d);
    }
    ev.actor.class = class_of(ev.actor.class, d, ev.on_behalf_of.is_some());
    let ai = ai_context(d);
    if !ai.is_empty() {
        let mut ai = ai;
        if let Some(existing) = ev.ai.take() {
            // Fields the source set explicitly (columns) win over details.
            ai = merge(existing, ai);
        }
        ev.ai = Some(ai);
    }
}

fn merge(primary: crate::model::AiContext, extra: crate::model::AiContext) -> crate::model::AiContext {
    crate::model::AiContext {
        session_id: primary.session_id.or(extra.session_id),
        flow_type: primary.flow_type.or(extra.flow_type),
        agent_name: primary.agent_name.or(extra.agent_name),
        workflow_id: primary.workflow_id.or(extra.workflow_id),
        cloud_event_id: primary.cloud_event_id.or(extra.cloud_event_id),
        model_provider: primary.model_provider.or(extra.model_provider),
        model_engine: primary.model_engine.or(extra.model_engine),
        input_tokens: primary.input_tokens.or(extra.input_tokens),
        output_tokens: primary.output_tokens.or(extra.output_tokens),
        duration_ms: primary.duration_ms.or(extra.duration_ms),
        authorization: primary.authorization.or(extra.authorization),
    }
}

/// GitLab's legacy change records (`change`/`from`/`to`, `add`, `remove`) as its UI words them.
fn change_message(d: &Details) -> Option<String> {
    if let Some(change) = text(d, "change") {
        let from = text(d, "from").unwrap_or_default();
        let to = text(d, "to").unwrap_or_default();
        return Some(format!("Changed {change} from {from} to {to}"));
    }
    if let Some(added) = text(d, "add") {
        return Some(format!("Added {added}"));
    }
    text(d, "remove").map(|removed| format!("Removed {removed}"))
}

/// The human a service account acted for: `user` (object, id or name), `on_behalf_of`, or
/// `user_id`/`scoped_user_id` in the details.
pub fn on_behalf_of<D: Fields + ?Sized>(d: &D) -> Option<Actor> {
    let from_value = |v: &Value| -> Option<Actor> {
        match v {
            Value::Object(o) => user(o.get("id"), o.get("username"), o.get("name")),
            Value::Number(_) => {
                Some(Actor { id: value_i64(v).map(|i| i.to_string()), name: None, class: ActorClass::User })
            }
            Value::String(s) if !s.is_empty() => {
                Some(Actor { id: None, name: Some(s.clone()), class: ActorClass::User })
            }
            _ => None,
        }
    };
    for key in ["on_behalf_of", "user"] {
        let actor = match d.raw(key).and_then(|raw| user_object(&raw)) {
            Some(actor) => actor,
            None => d.get(key).as_ref().and_then(from_value),
        };
        if actor.is_some() {
            return actor;
        }
    }
    let id = ["scoped_user_id", "user_id"].iter().find_map(|k| d.i64(k))?;
    Some(Actor { id: Some(id.to_string()), name: text(d, "username"), class: ActorClass::User })
}

/// What [`on_behalf_of`] takes of a `user` object (most agent events carry one), read without
/// building the object; `None` where it is read whole instead: not an object, a field given
/// twice.
fn user_object(raw: &str) -> Option<Option<Actor>> {
    #[derive(serde::Deserialize)]
    struct User {
        id: Option<Value>,
        username: Option<Value>,
        name: Option<Value>,
    }
    if !raw.starts_with('{') {
        return None;
    }
    let u: User = serde_json::from_str(raw).ok()?;
    Some(user(u.id.as_ref(), u.username.as_ref(), u.name.as_ref()))
}

/// The user a `user` object names: its id (a number or numeric text), its username or else its
/// name; `None` when it gives neither.
fn user(id: Option<&Value>, username: Option<&Value>, name: Option<&Value>) -> Option<Actor> {
    let id = id.and_then(value_i64).map(|i| i.to_string());
    let name = [username, name].into_iter().find_map(|v| v.and_then(value_text));
    (id.is_some() || name.is_some()).then_some(Actor { id, name, class: ActorClass::User })
}

pub fn u64_of<D: Fields + ?Sized>(d: &D, key: &str) -> Option<u64> {
    d.i64(key).and_then(|i| u64::try_from(i).ok())
}

/// The scopes an agent was authorized for: a JSON array, or a comma/space separated string.
fn scopes(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(value_text).collect(),
        Value::String(s) => {
            s.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_string).collect()
        }
        _ => Vec::new(),
    }
}

/// The detail keys of [`AiContext`](crate::model::AiContext)'s texts, the first holding a text
/// winning (read where an event is not built: `shapes::summarize`).
pub const SESSION_KEYS: [&str; 2] = ["session_id", "flow_session_id"];
pub const FLOW_TYPE_KEYS: [&str; 2] = ["flow_type", "workflow_definition"];
pub const MODEL_PROVIDER_KEY: &str = "model_provider";
pub const MODEL_ENGINE_KEYS: [&str; 2] = ["model_engine", "model_name"];

/// The authorization the details record: when it was verified, how, and the scopes; `None`
/// when they record none of it.
pub fn authorization<D: Fields + ?Sized>(d: &D) -> Option<Authorization> {
    let verified_at = text(d, "authorization_verified_at").and_then(|t| time::parse(&t));
    let method = text(d, "authorization_method");
    let scope_list = d.get("authorized_scopes").as_ref().map(scopes).unwrap_or_default();
    (verified_at.is_some() || method.is_some() || !scope_list.is_empty()).then_some(Authorization {
        verified_at,
        method,
        scopes: scope_list,
    })
}

/// AI-agent fields from a details hash (documented in README, "Recognized detail keys").
pub fn ai_context(d: &Details) -> crate::model::AiContext {
    let authorization = authorization(d);
    // `duration` is in seconds (fractions allowed); `duration_ms` wins when both are present.
    let duration_ms = u64_of(d, "duration_ms").or_else(|| {
        d.get("duration")
            .and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as u64)
    });
    crate::model::AiContext {
        session_id: first_text(d, &SESSION_KEYS),
        flow_type: first_text(d, &FLOW_TYPE_KEYS),
        agent_name: text(d, "agent_name"),
        workflow_id: d.i64("workflow_id"),
        cloud_event_id: text(d, "cloud_event_id"),
        model_provider: text(d, MODEL_PROVIDER_KEY),
        model_engine: first_text(d, &MODEL_ENGINE_KEYS),
        input_tokens: u64_of(d, "input_tokens"),
        output_tokens: u64_of(d, "output_tokens"),
        duration_ms,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details(v: Value) -> Details {
        Details::from_map(v.as_object().unwrap())
    }

    #[test]
    fn flow_start_details_become_ai_context_and_composite_identity() {
        let env = GitlabEnvelope {
            time: time::parse("2026-10-01T09:00:00Z"),
            event_name: Some("duo_flow_started".into()),
            author_id: Some(9001),
            author_name: Some("duo-developer-sa".into()),
            entity_type: Some("Project".into()),
            entity_id: Some(7),
            entity_path: Some("acme/api".into()),
            ..Default::default()
        };
        let d = details(json!({
            "author_user_type": "service_account",
            "session_id": "6f1c", "flow_type": "software_development",
            "user": {"id": 42, "username": "alice"},
            "authorization_verified_at": "2026-10-01T08:59:59.5Z",
            "authorization_method": "oauth", "authorized_scopes": "api, read_repository",
            "input_summary": "fix the build"
        }));
        let ev = env.into_event(Origin { format: "t".into(), native_id: None }, d).unwrap();
        assert_eq!(ev.actor.class, ActorClass::ServiceAccount);
        assert_eq!(ev.on_behalf_of.as_ref().unwrap().id.as_deref(), Some("42"));
        assert_eq!(ev.on_behalf_of.as_ref().unwrap().name.as_deref(), Some("alice"));
        let ai = ev.ai.unwrap();
        assert_eq!(ai.session_id.as_deref(), Some("6f1c"));
        let auth = ai.authorization.unwrap();
        assert_eq!(auth.scopes, vec!["api", "read_repository"]);
        assert_eq!(time::format(&auth.verified_at.unwrap()), "2026-10-01T08:59:59.500000Z");
        assert_eq!(ev.outcome, Outcome::Success);
        assert_eq!(ev.details.len(), 8, "details keep every source key");
    }

    #[test]
    fn the_user_acted_for_is_read_in_every_form() {
        let who = |v: Value| on_behalf_of(&details(v)).map(|a| (a.id, a.name));
        let pair = |id: Option<&str>, name: Option<&str>| Some((id.map(String::from), name.map(String::from)));
        assert_eq!(who(json!({"user": {"id": 42, "username": "alice"}})), pair(Some("42"), Some("alice")));
        assert_eq!(who(json!({"user": {"id": " 7 ", "name": "Bob"}})), pair(Some("7"), Some("Bob")));
        assert_eq!(who(json!({"user": {"username": 12, "name": "x"}})), pair(None, Some("12")));
        assert_eq!(who(json!({"user": {"id": 1.5, "username": null, "name": "n"}})), pair(None, Some("n")));
        assert_eq!(who(json!({"user": {"id": 3, "x": {"username": "deep"}}})), pair(Some("3"), None));
        assert_eq!(who(json!({"user": 42})), pair(Some("42"), None));
        assert_eq!(who(json!({"user": "carol"})), pair(None, Some("carol")));
        assert_eq!(who(json!({"on_behalf_of": {"id": 1}, "user": {"id": 2}})), pair(Some("1"), None));
        assert_eq!(who(json!({"on_behalf_of": {}, "user": {"id": 2}})), pair(Some("2"), None));
        assert_eq!(
            who(json!({"on_behalf_of": "", "user": null, "user_id": 9, "username": "u"})),
            pair(Some("9"), Some("u"))
        );
        assert_eq!(who(json!({"user": [1], "scoped_user_id": "5"})), pair(Some("5"), None));
        assert_eq!(who(json!({"user": true})), None);
        // A field given twice: the object is read whole, the last one counts (serde_json's map).
        let twice = Details::from_json(r#"{"user":{"id":1,"username":"a","id":2}}"#).unwrap();
        assert_eq!(on_behalf_of(&twice).map(|a| (a.id, a.name)), pair(Some("2"), Some("a")));
        let spaced = Details::from_json(r#"{"user": { "name" : "b" , "id" : "4" } }"#).unwrap();
        assert_eq!(on_behalf_of(&spaced).map(|a| (a.id, a.name)), pair(Some("4"), Some("b")));
    }

    #[test]
    fn legacy_change_records_get_gitlab_wording() {
        let d = details(json!({"change": "visibility", "from": "Private", "to": "Public"}));
        assert_eq!(change_message(&d).unwrap(), "Changed visibility from Private to Public");
    }

    #[test]
    fn duration_seconds_become_milliseconds() {
        assert_eq!(ai_context(&details(json!({"duration": 1.5}))).duration_ms, Some(1500));
        assert_eq!(ai_context(&details(json!({"duration": -1}))).duration_ms, None);
    }
}
