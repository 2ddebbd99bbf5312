//! Record shapes found in NDJSON audit logs, recognized line by line: GitLab's
//! `audit_json.log`, GitLab streaming audit event payloads, agent audit log entries, and this
//! tool's own JSON export (read back losslessly).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::normalize::{self, enrich, GitlabEnvelope};
use super::object::Object;
use super::summary::{self, Authorized, Named, Summary};
use crate::model::fields::Val;
use crate::model::{
    time, value_text, Actor, ActorClass, AuditEvent, Details, Fields, Origin, Outcome, Scope, Target, SCHEMA,
};

/// Turn one parsed JSON object, written as `line`, into an event, or say why it cannot be one.
pub fn recognize(obj: &mut Object, line: &str) -> Result<AuditEvent, String> {
    let shape = Shape::of(obj).ok_or_else(|| {
        "unrecognized record: expected a GitLab audit_json.log line, a GitLab streaming audit event, an agent \
         audit entry or a compliance-report JSON export line"
            .to_string()
    })?;
    let build = match shape {
        Shape::Export => return export(obj),
        Shape::AgentAudit => agent_audit,
        Shape::GitlabStreaming => gitlab_streaming,
        Shape::GitlabAuditLog => gitlab_audit_log,
    };
    let content = content(obj, line).map_err(invalid)?;
    let mut ev = build(obj)?;
    ev.assign_id(&content);
    Ok(ev)
}

/// A line of this tool's JSON export, read back as it was written.
fn export(obj: &mut Object) -> Result<AuditEvent, String> {
    // The hash chain belongs to the export, not to the event (a re-export links anew).
    for k in ["chain_id", "chain_seq", "chain_hash"] {
        obj.remove(k);
    }
    serde_json::from_value(Value::Object(obj.to_map().map_err(invalid)?))
        .map_err(|e| format!("invalid {SCHEMA} record: {e}"))
}

/// The shapes a line can have, told apart by their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// This tool's JSON export.
    Export,
    AgentAudit,
    GitlabStreaming,
    GitlabAuditLog,
}

impl Shape {
    fn of(obj: &Object) -> Option<Shape> {
        let is_str = |k: &str| obj.get(k).is_some_and(Val::is_string);
        Some(if obj.get("schema").and_then(Val::as_str) == Some(SCHEMA) {
            Shape::Export
        } else if obj.get("event_type").and_then(Val::as_str) == Some("audit") && is_str("action") {
            Shape::AgentAudit
        } else if is_str("event_type") && (obj.details_is_object() || is_str("id")) {
            Shape::GitlabStreaming
        } else if obj.contains_key("author_id") && (obj.contains_key("time") || obj.contains_key("created_at")) {
            Shape::GitlabAuditLog
        } else {
            return None;
        })
    }

    /// The keys that may hold the time, in the order they are looked at (the first that is not
    /// null holds it).
    fn time_keys(self) -> &'static [&'static str] {
        match self {
            Shape::Export => &["time"],
            Shape::AgentAudit => &["timestamp"],
            Shape::GitlabStreaming | Shape::GitlabAuditLog => &["created_at", "time"],
        }
    }
}

/// When the event `obj` would become happened, read without building the event; `None` when
/// only [`recognize`] can tell (no known shape, no time, a time that is not valid: the error is
/// its to report).
pub fn time_of(obj: &Object) -> Option<time::Timestamp> {
    let keys = Shape::of(obj)?.time_keys();
    keys.iter().find_map(|k| obj.get(k).filter(|v| !v.is_null()))?.as_str().and_then(time::parse)
}

/// What the event `obj` (written as `line`) would become says ([`Summary`]), read without
/// building the event, for the usual line of each GitLab and agent log: `None` for any other
/// line, and wherever [`recognize`] would fail or read the line another way: build its event
/// instead. The details a summary hands on are the line's object itself, read as details are
/// ([`Object::leave_envelope`]), or the nested `details` the line's reader took in its pass.
pub fn summarize<'o>(obj: &'o mut Object<'_>, line: &str) -> Option<Summary<'o>> {
    match Shape::of(obj)? {
        Shape::GitlabStreaming => streaming_summary(obj),
        Shape::GitlabAuditLog => audit_log_summary(obj, line),
        Shape::AgentAudit => agent_audit_summary(obj, line),
        Shape::Export => None,
    }
}

/// What identifies the record `obj`, written as `line`, when it carries no id of its own: its
/// canonical text (sorted keys, compact); empty when it does (every shape takes its own id from
/// a non-empty `id`; writing the text costs as much as parsing it, so only when needed).
fn content<'w>(obj: &Object, line: &'w str) -> Result<Cow<'w, str>, serde_json::Error> {
    match text_of(obj.get("id")) {
        Some(_) => Ok(Cow::Borrowed("")),
        None => obj.canonical(line),
    }
}

/// The id [`recognize`] assigns the event of `obj`, written as `line`, of source format `format`.
fn id_of(obj: &Object, line: &str, format: &str) -> Option<String> {
    Some(AuditEvent::id_of(format, text_of(obj.get("id")).as_deref(), &content(obj, line).ok()?))
}

/// The slots of the GitLab envelope (what [`take_envelope`] takes, but `time`, and the source's
/// `id`) with the event's name under `name_key`.
fn gitlab_envelope(name_key: &str) -> u32 {
    Object::slots_of(&[
        "author_id",
        "author_name",
        "created_at",
        "entity_id",
        "entity_path",
        "entity_type",
        "id",
        "ip_address",
        "target_details",
        "target_id",
        "target_type",
        name_key,
    ])
}

/// [`summarize`] for the usual line of a GitLab streaming audit log: the envelope, an `id`,
/// and `details` an object (not a key beyond the envelope, a time under `time`, an empty
/// `event_type`, a value that is not what its field takes).
fn streaming_summary<'o>(obj: &'o mut Object<'_>) -> Option<Summary<'o>> {
    static ENVELOPE: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| gitlab_envelope("event_type"));
    if !obj.only(*ENVELOPE) {
        return None;
    }
    obj.read_details()?;
    let obj: &'o Object = obj;
    let details = obj.details_read()?;
    let event_name = obj.get("event_type")?.as_str().filter(|s| !s.is_empty())?;
    let time = time::parse(obj.get("created_at")?.as_str()?)?;
    let native_id = text_of(obj.get("id"))?;
    let author_id = i64_of(obj.get("author_id"))?;
    let entity_id = i64_of(obj.get("entity_id"))?;
    // As `GitlabEnvelope::into_event` and `enrich` read them.
    let or_detail = |key: &str| text_of(obj.get(key)).or_else(|| details.text_ref(key));
    let helper = normalize::on_behalf_of(details);
    let class = normalize::author_class(details, author_id);
    let project = text_of(obj.get("entity_type"))
        .map(|kind| summary::project(&kind, entity_id, or_detail("entity_path")))
        .unwrap_or_default();
    Some(Summary {
        id: Cow::Owned(AuditEvent::id_of("gitlab_streaming", Some(&native_id), "")),
        event_name: Cow::Borrowed(event_name),
        actor_id: author_id.map(|i| Cow::Owned(i.to_string())),
        actor_name: or_detail("author_name"),
        class: normalize::class_of(class, details, helper.is_some()),
        on_behalf_of: helper.map(|h| Named { id: h.id.map(Cow::Owned), name: h.name.map(Cow::Owned) }),
        ip: or_detail("ip_address").filter(|s| !s.is_empty()),
        outcome: normalize::outcome_of(details, event_name),
        project,
        target_id: or_detail("target_id"),
        ..from_details(time, details)
    })
}

/// [`summarize`] for a line of GitLab's `audit_json.log` without a nested `details`: its keys
/// beyond the envelope are the details.
fn audit_log_summary<'o>(obj: &'o mut Object<'_>, line: &str) -> Option<Summary<'o>> {
    static ENVELOPE: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| gitlab_envelope("event_name"));
    static TIME: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| Object::slots_of(&["time"]));
    if obj.contains_key("details") {
        return None;
    }
    // As `take_time` reads them: `time` is the envelope's only when `created_at` holds no time.
    let (time, time_key) = match obj.get("created_at").filter(|v| !v.is_null()) {
        Some(at) => (at, 0),
        None => (obj.get("time").filter(|v| !v.is_null())?, *TIME),
    };
    let time = time::parse(time.as_str()?)?;
    let author_id = i64_of(obj.get("author_id"))?;
    let entity_id = i64_of(obj.get("entity_id"))?;
    let id = id_of(obj, line, "gitlab_audit_log")?;
    let obj: &'o Object = obj.leave_envelope(*ENVELOPE | time_key);
    let event_name = text_of(obj.get("event_name")).unwrap_or(Cow::Borrowed("audit_operation"));
    let helper = normalize::on_behalf_of(obj);
    let class = normalize::author_class(obj, author_id);
    let project = text_of(obj.get("entity_type"))
        .map(|kind| summary::project(&kind, entity_id, text_of(obj.get("entity_path"))))
        .unwrap_or_default();
    Some(Summary {
        id: Cow::Owned(id),
        actor_id: author_id.map(|i| Cow::Owned(i.to_string())),
        actor_name: text_of(obj.get("author_name")),
        class: normalize::class_of(class, obj, helper.is_some()),
        on_behalf_of: helper.map(|h| Named { id: h.id.map(Cow::Owned), name: h.name.map(Cow::Owned) }),
        ip: text_of(obj.get("ip_address")),
        outcome: normalize::outcome_of(obj, &event_name),
        event_name,
        project,
        target_id: text_of(obj.get("target_id")),
        ..from_details(time, obj)
    })
}

/// [`summarize`] for an agent service's audit log entry whose `actor` and `target` are objects
/// (or the actor null or missing): its keys but the time, action, actor, outcome, correlation
/// id and id are the details.
fn agent_audit_summary<'o>(obj: &'o mut Object<'_>, line: &str) -> Option<Summary<'o>> {
    static ENVELOPE: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| {
        Object::slots_of(&["timestamp", "event_type", "action", "actor", "outcome", "correlation_id", "id"])
    });
    let time = time::parse(obj.get("timestamp")?.as_str()?)?;
    text_of(obj.get("action"))?;
    // As `agent_audit` reads them.
    let actor = match (obj.written("actor"), obj.get("actor").filter(|v| !v.is_null())) {
        (Some(raw), _) => agent_actor(raw).ok()?,
        (None, None) => Actor::default(),
        (None, Some(_)) => return None,
    };
    let (target, scope) = match obj.written("target") {
        Some(raw) => agent_target(raw).ok()?,
        None => (Target::default(), None),
    };
    let id = id_of(obj, line, "agent_audit")?;
    let obj: &'o Object = obj.leave_envelope(*ENVELOPE);
    let event_name = text_of(obj.get("action"))?;
    let project = Cow::Owned(summary::project_of(scope.as_ref()).into_owned());
    let helper = normalize::on_behalf_of(obj);
    let outcome = match agent_outcome(obj.get("outcome").and_then(Val::as_str)) {
        Outcome::Unknown => normalize::outcome_of(obj, &event_name),
        said => said,
    };
    Some(Summary {
        id: Cow::Owned(id),
        actor_id: actor.id.map(Cow::Owned),
        actor_name: actor.name.map(Cow::Owned),
        class: normalize::class_of(actor.class, obj, helper.is_some()),
        on_behalf_of: helper.map(|h| Named { id: h.id.map(Cow::Owned), name: h.name.map(Cow::Owned) }),
        ip: obj.get("source_ip").and_then(Val::text),
        outcome,
        event_name,
        project,
        target_id: target.id.map(Cow::Owned),
        ..from_details(time, obj)
    })
}

/// A summary of what `details` say of a session, model, tokens and authorization, at `time`
/// (the rest for the caller to say).
fn from_details<'o, D: Fields + 'o>(time: time::Timestamp, details: &'o D) -> Summary<'o> {
    Summary {
        time: time::to_micros(time),
        id: Cow::Borrowed(""),
        event_name: Cow::Borrowed(""),
        actor_id: None,
        actor_name: None,
        class: ActorClass::Unknown,
        on_behalf_of: None,
        ip: None,
        outcome: Outcome::Unknown,
        project: Cow::Borrowed(""),
        target_id: None,
        session: normalize::first_text_ref(details, &normalize::SESSION_KEYS),
        flow_type: normalize::first_text_ref(details, &normalize::FLOW_TYPE_KEYS),
        model_provider: normalize::text_ref(details, normalize::MODEL_PROVIDER_KEY),
        model_engine: normalize::first_text_ref(details, &normalize::MODEL_ENGINE_KEYS),
        input_tokens: normalize::u64_of(details, "input_tokens"),
        output_tokens: normalize::u64_of(details, "output_tokens"),
        authorization: normalize::authorization(details)
            .map(|a| Authorized { verified_at: a.verified_at, scopes: Cow::Owned(a.scopes) }),
        authorization_recorded: true,
        details: details as &dyn Fields,
    }
}

/// A value as [`take_text`] takes it, borrowed.
fn text_of(v: Option<Val<'_>>) -> Option<Cow<'_, str>> {
    v?.text().filter(|s| !s.is_empty())
}

/// A value as an integer ([`take_i64`]): `Some(None)` for none or `null`, `None` for a value
/// that is not one.
fn i64_of(v: Option<Val<'_>>) -> Option<Option<i64>> {
    match v {
        None => Some(None),
        Some(v) if v.is_null() => Some(None),
        Some(v) => v.i64().map(Some),
    }
}

fn take_text(obj: &mut Object, key: &str) -> Option<String> {
    match obj.remove(key)? {
        Value::String(s) => Some(s),
        other => value_text(&other),
    }
    .filter(|s| !s.is_empty())
}

fn take_i64(obj: &mut Object, key: &str) -> Result<Option<i64>, String> {
    let v = obj.remove(key);
    i64_of(v.as_ref().map(Val::from))
        .ok_or_else(|| format!("field {key:?} is not an integer: {}", v.unwrap_or_default()))
}

fn take_time(obj: &mut Object, keys: &[&str]) -> Result<Option<time::Timestamp>, String> {
    for key in keys {
        // A null is no value: the next key may hold the time.
        if let Some(v) = obj.remove(key).filter(|v| !v.is_null()) {
            let text = v.as_str().ok_or_else(|| format!("field {key:?} is not a timestamp string: {v}"))?;
            return time::parse(text)
                .map(Some)
                .ok_or_else(|| format!("field {key:?} is not a valid timestamp: {text:?}"));
        }
    }
    Ok(None)
}

/// Take the GitLab envelope columns out of `obj`, leaving the rest.
fn take_envelope(obj: &mut Object, name_keys: &[&str]) -> Result<GitlabEnvelope, String> {
    Ok(GitlabEnvelope {
        time: take_time(obj, Shape::GitlabAuditLog.time_keys())?,
        event_name: name_keys.iter().find_map(|k| take_text(obj, k)),
        author_id: take_i64(obj, "author_id")?,
        author_name: take_text(obj, "author_name"),
        entity_type: take_text(obj, "entity_type"),
        entity_id: take_i64(obj, "entity_id")?,
        entity_path: take_text(obj, "entity_path"),
        target_type: take_text(obj, "target_type"),
        target_id: take_text(obj, "target_id"),
        target_details: take_text(obj, "target_details"),
        ip_address: take_text(obj, "ip_address"),
    })
}

/// A line of GitLab's `log/audit_json.log`: a flat object whose non-envelope keys are the details.
fn gitlab_audit_log(obj: &mut Object) -> Result<AuditEvent, String> {
    let envelope = take_envelope(obj, &["event_name"])?;
    let native_id = take_text(obj, "id");
    let details = match obj.take_details() {
        // The usual line: flat, its remaining keys are the details as they stand.
        Some("null") | None => obj.to_details().map_err(invalid)?,
        Some(nested) => {
            let mut details = match parse_value(nested)? {
                Value::Object(d) => d,
                other => Map::from_iter([("details".to_string(), other)]),
            };
            for (k, v) in obj.to_map().map_err(invalid)? {
                details.entry(k).or_insert(v);
            }
            Details::from_map(&details)
        }
    };
    envelope.into_event(Origin { format: "gitlab_audit_log".into(), native_id }, details)
}

/// A GitLab streaming audit event payload (`id` is a string, `details` nested, `event_type`).
fn gitlab_streaming(obj: &mut Object) -> Result<AuditEvent, String> {
    let envelope = take_envelope(obj, &["event_type", "event_name"])?;
    let native_id = take_text(obj, "id");
    let origin = Origin { format: "gitlab_streaming".into(), native_id };
    // The usual payload: the envelope was all there was beside the details.
    if obj.only_details() {
        if let Some(details) = obj.take_details_object() {
            return envelope.into_event(origin, details.map_err(invalid)?);
        }
    }
    let mut details = match obj.take_details().map(parse_value).transpose()? {
        Some(Value::Object(d)) => d,
        Some(Value::Null) | None => Map::new(),
        Some(other) => return Err(format!("field \"details\" is not an object: {other}")),
    };
    // Keep payload keys beyond the documented envelope; a clash with a detail keeps both.
    for (k, v) in obj.to_map().map_err(invalid)? {
        match details.get(&k) {
            Some(existing) if *existing != v => {
                details.insert(format!("payload_{k}"), v);
            }
            _ => {
                details.insert(k, v);
            }
        }
    }
    envelope.into_event(origin, Details::from_map(&details))
}

/// A value the line's parser delimited (valid JSON, but maybe nested deeper than is read).
fn parse_value(raw: &str) -> Result<Value, String> {
    serde_json::from_str(raw).map_err(invalid)
}

/// JSON the line's parser delimited but no value can be read from (nested too deep).
fn invalid(e: serde_json::Error) -> String {
    format!("invalid JSON: {e}")
}

/// An agent service's audit log entry:
/// `{"timestamp","event_type":"audit","action","actor":{"type","id"},"target":{…},"outcome",…}`.
fn agent_audit(obj: &mut Object) -> Result<AuditEvent, String> {
    let time = take_time(obj, Shape::AgentAudit.time_keys())?.ok_or("no \"timestamp\"")?;
    obj.remove("event_type");
    let action = take_text(obj, "action").ok_or("empty \"action\"")?;
    // The actor and target objects are read as details are (the same values: texts as
    // `value_text` gives them, the last of a key given twice), without a tree.
    let actor = match obj.take_written("actor") {
        Some(raw) => agent_actor(raw)?,
        None => match obj.remove("actor") {
            None | Some(Value::Null) => Actor::default(),
            Some(other) => return Err(format!("field \"actor\" is not an object: {other}")),
        },
    };
    let outcome = agent_outcome(obj.remove("outcome").as_ref().and_then(Value::as_str));
    let correlation_id = take_text(obj, "correlation_id");
    let mut ev =
        AuditEvent::new(time, action, actor, Origin { format: "agent_audit".into(), native_id: take_text(obj, "id") });
    ev.outcome = outcome;
    ev.correlation_id = correlation_id;
    if let Some(raw) = obj.written("target") {
        let (target, scope) = agent_target(raw)?;
        (ev.target, ev.scope) = (Some(target), scope);
    }
    let text = |key: &str| obj.get(key).and_then(Val::text).map(Cow::into_owned);
    ev.ip_address = text("source_ip");
    ev.message = text("error").or_else(|| text("rejection_reason"));
    ev.details = obj.to_details().map_err(invalid)?;
    enrich(&mut ev);
    Ok(ev)
}

/// An agent audit entry's `actor` object, as written, as the event's actor.
fn agent_actor(raw: &str) -> Result<Actor, String> {
    let a = Details::from_json(raw).map_err(invalid)?;
    Ok(Actor {
        id: a.text("id"),
        name: a.text("name"),
        class: a.str("type").map(|t| ActorClass::from_source(&t)).unwrap_or_default(),
    })
}

/// An agent audit entry's `target` object, as written: the event's target and, when the target
/// names its project, the event's scope.
fn agent_target(raw: &str) -> Result<(Target, Option<Scope>), String> {
    let t = Details::from_json(raw).map_err(invalid)?;
    let get = |k: &str| t.text(k);
    let target = Target {
        kind: get("resource_type"),
        id: ["resource_id", "id", "iid", "commit_sha"].iter().find_map(|k| get(k)),
        details: ["title", "branch", "path"].iter().find_map(|k| get(k)),
    };
    let scope =
        get("project").map(|project| Scope { kind: "Project".into(), id: t.i64("project_id"), path: Some(project) });
    Ok((target, scope))
}

/// The outcome an agent audit entry's `outcome` says (unknown for any other value: its action's
/// name tells then).
fn agent_outcome(said: Option<&str>) -> Outcome {
    match said {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AuditEvent, String> {
        let super::super::object::Line::Object(mut obj) = serde_json::from_str(line).unwrap() else {
            panic!("not an object: {line}")
        };
        recognize(&mut obj, line)
    }

    #[test]
    fn gitlab_audit_json_log_line() {
        let ev = parse(r#"{"severity":"INFO","time":"2018-10-17T17:38:22.523Z","author_id":3,"entity_id":2,"entity_type":"Project","change":"visibility","from":"Private","to":"Public","author_name":"John Doe4","target_id":2,"target_type":"Project","target_details":"namespace2/project2"}"#).unwrap();
        assert_eq!(ev.event_name, "audit_operation");
        assert_eq!(time::format(&ev.time), "2018-10-17T17:38:22.523000Z");
        assert_eq!(ev.actor, Actor { id: Some("3".into()), name: Some("John Doe4".into()), class: ActorClass::User });
        assert_eq!(ev.scope, Some(Scope { kind: "Project".into(), id: Some(2), path: None }));
        assert_eq!(ev.target.as_ref().unwrap().details.as_deref(), Some("namespace2/project2"));
        assert_eq!(ev.message.as_deref(), Some("Changed visibility from Private to Public"));
        assert_eq!(ev.details.as_json(), r#"{"change":"visibility","from":"Private","severity":"INFO","to":"Public"}"#);
        assert_eq!(ev.origin.format, "gitlab_audit_log");
    }

    #[test]
    fn gitlab_streaming_payload() {
        let ev = parse(r#"{"id":"1","author_id":-3,"entity_id":29,"entity_type":"Project","details":{"author_name":"deploy-key-name","author_class":"DeployKey","target_id":29,"target_type":"Project","target_details":"example-project","custom_message":{"protocol":"ssh","action":"git-upload-pack"},"ip_address":"127.0.0.1","entity_path":"example-group/example-project"},"ip_address":"127.0.0.1","author_name":"deploy-key-name","entity_path":"example-group/example-project","target_details":"example-project","created_at":"2022-07-26T05:43:53.662Z","target_type":"Project","target_id":29,"event_type":"repository_git_operation"}"#).unwrap();
        assert_eq!(ev.event_name, "repository_git_operation");
        assert_eq!(ev.actor.class, ActorClass::DeployKey);
        assert_eq!(ev.actor.id.as_deref(), Some("-3"));
        assert_eq!(ev.ip_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(ev.message.as_deref(), Some(r#"{"action":"git-upload-pack","protocol":"ssh"}"#));
        assert_eq!(ev.origin.native_id.as_deref(), Some("1"));
        assert_eq!(ev.scope.unwrap().path.as_deref(), Some("example-group/example-project"));
    }

    #[test]
    fn agent_audit_entry() {
        let ev = parse(r#"{"timestamp":"2026-10-01T10:00:00.000001Z","event_type":"audit","action":"webhook.hmac_validation","actor":{"type":"webhook_event","id":"evt-9"},"target":{"resource_type":"webhook","resource_id":"hook-1"},"outcome":"failure","rejection_reason":"signature mismatch","source_ip":"203.0.113.9","correlation_id":"c-1","service":"agent"}"#).unwrap();
        assert_eq!(ev.event_name, "webhook.hmac_validation");
        assert_eq!(ev.actor.class, ActorClass::WebhookEvent);
        assert_eq!(ev.outcome, Outcome::Failure);
        assert_eq!(ev.message.as_deref(), Some("signature mismatch"));
        assert_eq!(ev.ip_address.as_deref(), Some("203.0.113.9"));
        assert_eq!(ev.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(ev.category.as_deref(), Some("agent_webhook"));
    }

    /// The actor's and target's fields are read as values (numbers and escaped texts alike, the
    /// last of a field given twice), and the target stays in the details as written canonically.
    #[test]
    fn agent_audit_actor_and_target_fields() {
        let ev = parse(r#"{"timestamp":"2026-10-01T10:00:00Z","event_type":"audit","action":"a","actor":{"id":7,"type":"user","id":"u\u0031","name":null},"target":{"title":"t\"q","resource_id":5,"project":"g/p","project_id":"12"},"id":"e1"}"#).unwrap();
        assert_eq!(ev.actor, Actor { id: Some("u1".into()), name: None, class: ActorClass::User });
        let target = ev.target.as_ref().unwrap();
        assert_eq!(
            (target.id.as_deref(), target.details.as_deref(), target.kind.as_deref()),
            (Some("5"), Some("t\"q"), None)
        );
        assert_eq!(ev.scope, Some(Scope { kind: "Project".into(), id: Some(12), path: Some("g/p".into()) }));
        assert_eq!(
            ev.details.as_json(),
            r#"{"target":{"project":"g/p","project_id":"12","resource_id":5,"title":"t\"q"}}"#
        );
        assert_eq!(
            parse(r#"{"timestamp":"2026-10-01T10:00:00Z","event_type":"audit","action":"a","actor":[1]}"#).unwrap_err(),
            "field \"actor\" is not an object: [1]"
        );
        let nobody = parse(
            r#"{"timestamp":"2026-10-01T10:00:00Z","event_type":"audit","action":"a","actor":null,"target":"t"}"#,
        )
        .unwrap();
        assert_eq!((nobody.actor, nobody.target), (Actor::default(), None));
    }

    #[test]
    fn records_without_an_id_are_named_by_their_content_however_spelled() {
        // Canonical (keys in order, compact): the line is the content, as it stands.
        let canonical = r#"{"action":"git.push","actor":{"id":"poll-1","type":"poll_cycle"},"event_type":"audit","n":-3,"timestamp":"2026-10-01T10:00:00Z"}"#;
        let spelled = [
            r#"{"timestamp":"2026-10-01T10:00:00Z","event_type":"audit","action":"git.push","actor":{"type":"poll_cycle","id":"poll-1"},"n":-3}"#,
            r#"{ "action": "git.push", "actor": {"id": "poll-1", "type": "poll_cycle"}, "event_type": "audit", "n": -3, "timestamp": "2026-10-01T10:00:00Z" }"#,
            r#"{"action":"git\u002epush","actor":{"id":"poll-1","type":"poll_cycle"},"event_type":"audit","n":-3,"timestamp":"2026-10-01T10:00:00Z"}"#,
        ];
        let id = parse(canonical).unwrap().id;
        // SHA-256 of "content\0" and the canonical text, its first 16 bytes.
        assert_eq!(id, "9c33cdcf5db5e17647b68f4e9a7fc2c0");
        for line in spelled {
            assert_eq!(parse(line).unwrap().id, id, "{line}");
        }
        assert_ne!(parse(&canonical.replace("-3", "-4")).unwrap().id, id);
    }

    #[test]
    fn own_export_reads_back_identically() {
        let ev = parse(r#"{"time":"2026-10-01T00:00:00Z","author_id":1,"event_name":"x"}"#).unwrap();
        let line = serde_json::to_string(&ev).unwrap();
        assert_eq!(parse(&line).unwrap(), ev);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            parse(r#"{"time":"soon","author_id":1}"#).unwrap_err(),
            "field \"time\" is not a valid timestamp: \"soon\""
        );
        assert_eq!(
            parse(r#"{"time":"2026-10-01T00:00:00Z","author_id":"x"}"#).unwrap_err(),
            "field \"author_id\" is not an integer: \"x\""
        );
        assert!(parse(r#"{"hello":1}"#).unwrap_err().starts_with("unrecognized record"));
    }

    fn object(line: &str) -> Object<'_> {
        let super::super::object::Line::Object(obj) = serde_json::from_str(line).unwrap() else {
            panic!("not an object: {line}")
        };
        obj
    }

    fn glance(line: &str) -> Object<'_> {
        let super::super::object::Glance(super::super::object::Line::Object(obj)) = serde_json::from_str(line).unwrap()
        else {
            panic!("not an object: {line}")
        };
        obj
    }

    /// The time read ahead is the event's, for every shape and each of its time keys.
    #[test]
    fn the_time_read_ahead_is_the_events() {
        let export =
            serde_json::to_string(&parse(r#"{"time":"2026-10-03T04:05:06.7Z","author_id":1}"#).unwrap()).unwrap();
        for line in [
            r#"{"time":"2026-10-01T00:00:00.1234567Z","author_id":1,"event_name":"x"}"#,
            r#"{"created_at":"2026-10-01 12:00:00.5 +0200","time":"2026-10-09T00:00:00Z","author_id":1}"#,
            r#"{"created_at":null,"time":"2026-10-09T00:00:00Z","author_id":1}"#,
            r#"{"id":"1","event_type":"x","created_at":"2022-07-26T05:43:53.662Z","details":{},"author_id":1}"#,
            r#"{"event_type":"x","details":{"time":"2020-01-01T00:00:00Z"},"time":"2022-07-26T05:43:53Z","author_id":1}"#,
            r#"{"timestamp":"2026-10-01T10:00:00.000001Z","event_type":"audit","action":"a","time":"2020-01-01T00:00:00Z"}"#,
            &export,
        ] {
            let ahead = time_of(&object(line)).unwrap_or_else(|| panic!("no time read ahead: {line}"));
            assert_eq!(ahead, parse(line).unwrap().time, "{line}");
            assert_eq!(time_of(&glance(line)), Some(ahead), "{line}");
        }
        // What only recognizing the line can tell, it is left to tell.
        for line in [
            r#"{"time":"soon","author_id":1}"#,
            r#"{"time":7,"author_id":1}"#,
            r#"{"time":null,"author_id":1}"#,
            r#"{"timestamp":"2026-10-01T10:00:00Z","author_id":1}"#,
            r#"{"hello":1,"time":"2026-10-01T00:00:00Z"}"#,
        ] {
            assert_eq!(time_of(&object(line)), None, "{line}");
            assert_eq!(time_of(&glance(line)), None, "{line}");
            assert!(parse(line).is_err(), "{line}");
        }
    }

    /// [`summarize`] on `line`, held to the event [`recognize`] builds of it: the same summary,
    /// and never one of a line that is no event. Whether it summarized the line.
    fn summarizes_as_recognized(line: &str) -> bool {
        // As the parser reads it (in one pass, which reads details as it goes).
        let Ok(super::super::object::Line::Object(mut obj)) = super::super::object::Line::read(line) else {
            panic!("not an object: {line}")
        };
        let Some(summary) = summarize(&mut obj, line) else {
            // Left to be built, the object is as it was read.
            assert_eq!(recognize(&mut obj, line), parse(line), "{line}");
            return false;
        };
        let ev = parse(line).unwrap_or_else(|e| panic!("summarized a line that is no event ({e}): {line}"));
        assert_eq!(summary, crate::sources::summary::Summary::of_event(&ev), "{line}");
        true
    }

    /// Every line of the demo data reads as its event says, summarized without building it.
    #[test]
    fn summaries_of_the_demo_data_are_what_its_events_say() {
        for input in crate::sources::demo::inputs() {
            let crate::sources::ndjson::Input::Embedded { name, .. } = input else { unreachable!("demo data") };
            let (mut lines, mut taken) = (0, 0);
            for line in std::io::BufRead::lines(input.open().unwrap()) {
                let line = line.unwrap();
                lines += 1;
                taken += usize::from(summarizes_as_recognized(&line));
            }
            assert!(lines > 1000, "{name}");
            assert_eq!(taken, lines, "{name}");
        }
    }

    type Field = (&'static str, proptest::strategy::BoxedStrategy<Option<Value>>);

    /// A field that is there or not, holding one of `choices`.
    fn maybe(choices: Vec<Value>) -> proptest::strategy::BoxedStrategy<Option<Value>> {
        use proptest::prelude::*;
        prop_oneof![Just(None), values(choices)].boxed()
    }

    /// A field that is there, holding one of `choices`.
    fn values(choices: Vec<Value>) -> proptest::strategy::BoxedStrategy<Option<Value>> {
        use proptest::prelude::*;
        proptest::sample::select(choices).prop_map(Some).boxed()
    }

    /// A field that is there now and then (keys that send a line to be built).
    fn rarely(choices: Vec<Value>) -> proptest::strategy::BoxedStrategy<Option<Value>> {
        use proptest::prelude::*;
        prop_oneof![6 => Just(None), 1 => values(choices)].boxed()
    }

    /// The fields of `spec` that are there, with their values.
    fn fields(spec: Vec<Field>) -> impl proptest::strategy::Strategy<Value = Vec<(String, Value)>> {
        use proptest::prelude::*;
        let (keys, strategies): (Vec<_>, Vec<_>) = spec.into_iter().unzip();
        strategies.prop_map(move |values| {
            keys.iter().zip(values).filter_map(|(k, v)| Some((k.to_string(), v?))).collect::<Vec<(String, Value)>>()
        })
    }

    /// What details say of the actor, the human it acted for, the session, model, tokens,
    /// authorization and prompts, in every form each may take (and some it may not).
    fn detail_fields() -> Vec<Field> {
        use serde_json::json;
        vec![
            ("author_class", maybe(vec![json!("User"), json!("DeployKey"), json!("Robot"), json!(5)])),
            ("author_name", maybe(vec![json!("From details"), json!(null)])),
            ("author_user_type", maybe(vec![json!("service_account"), json!("human")])),
            ("composite_identity", maybe(vec![json!(true), json!(false), json!("true")])),
            (
                "user",
                maybe(vec![
                    json!({"id": 1037, "username": "liam"}),
                    json!({"id": "12", "name": "Mia"}),
                    json!({"username": "only"}),
                    json!({}),
                    json!(5),
                    json!("someone"),
                    json!(null),
                ]),
            ),
            ("on_behalf_of", maybe(vec![json!(8), json!({"id": 9})])),
            ("user_id", maybe(vec![json!(31), json!("32")])),
            ("username", maybe(vec![json!("uname")])),
            ("outcome", maybe(vec![json!("success"), json!("failure"), json!("other")])),
            ("session_id", maybe(vec![json!("s-1"), json!(""), json!(4)])),
            ("flow_session_id", maybe(vec![json!("s-2")])),
            ("flow_type", maybe(vec![json!("code_review"), json!("")])),
            ("workflow_definition", maybe(vec![json!("chat")])),
            ("model_provider", maybe(vec![json!("anthropic"), json!("")])),
            ("model_engine", maybe(vec![json!("claude"), json!(null)])),
            ("model_name", maybe(vec![json!("name")])),
            ("input_tokens", maybe(vec![json!(5), json!("6"), json!(-1), json!(1.5), json!(1e3)])),
            ("output_tokens", maybe(vec![json!(7)])),
            ("authorization_verified_at", maybe(vec![json!("2026-10-01T09:59:59Z"), json!("never")])),
            ("authorization_method", maybe(vec![json!("oauth"), json!("")])),
            ("authorized_scopes", maybe(vec![json!(["api", "read"]), json!("api, read"), json!([]), json!(5)])),
            ("target_id", maybe(vec![json!("from-details"), json!(3)])),
            ("ip_address", maybe(vec![json!("10.9.9.9")])),
            ("entity_path", maybe(vec![json!("acme/from-details")])),
            ("input_prompt", maybe(vec![json!("use glpat-abcdefghijklmnopqrst"), json!("quoted \"x\"")])),
            ("goal", maybe(vec![json!("mail ann@example.com"), json!(7)])),
            ("duration", maybe(vec![json!(1.5)])),
        ]
    }

    /// Lines of `line`, `cases` of them: whatever [`summarize`] takes, it reads as the event
    /// says ([`summarizes_as_recognized`]); how many it took.
    fn summarized_of_any(cases: u32, line: impl proptest::strategy::Strategy<Value = String>) -> usize {
        let taken = std::cell::Cell::new(0);
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config::with_cases(cases));
        runner
            .run(&line, |line| {
                taken.set(taken.get() + usize::from(summarizes_as_recognized(&line)));
                Ok(())
            })
            .unwrap();
        taken.get()
    }

    /// Lines of every mix of envelope fields and details, spelled in every form a field may take
    /// (and some it may not): whatever `summarize` takes, it reads as the event says.
    #[test]
    fn summaries_of_any_streaming_line_are_what_its_events_say() {
        use proptest::prelude::*;
        use serde_json::json;
        let envelope = vec![
            (
                "author_id",
                maybe(vec![json!(null), json!(-1), json!(-3), json!(42), json!("42"), json!("x"), json!(1.5)]),
            ),
            ("author_name", maybe(vec![json!(""), json!("Ann"), json!(5)])),
            (
                "created_at",
                prop_oneof![
                    4 => values(vec![json!("2026-10-01T10:00:00.1234567Z")]),
                    1 => maybe(vec![json!(null), json!("soon"), json!(5)])
                ]
                .boxed(),
            ),
            ("time", rarely(vec![json!("2026-10-02T00:00:00Z")])),
            ("entity_type", maybe(vec![json!("Project"), json!("Group"), json!("")])),
            ("entity_id", maybe(vec![json!(7), json!("7"), json!("x"), json!(null)])),
            ("entity_path", maybe(vec![json!("acme/app"), json!("")])),
            ("target_id", maybe(vec![json!(9), json!("9"), json!("")])),
            ("target_type", maybe(vec![json!("Project")])),
            ("ip_address", maybe(vec![json!(""), json!("10.0.0.1")])),
            ("event_type", values(vec![json!("push"), json!("duo_flow_failed"), json!(""), json!(3)])),
            ("event_name", rarely(vec![json!("named")])),
            (
                "id",
                prop_oneof![3 => values(vec![json!("77")]), 1 => maybe(vec![json!(""), json!(78), json!(null)])]
                    .boxed(),
            ),
            ("outcome", rarely(vec![json!("failure")])),
            ("other", rarely(vec![json!(1)])),
        ];
        // Details as sources mostly write them, in key order (which the line's reader reads in its pass).
        let details = prop_oneof![
            8 => fields(detail_fields()).prop_map(|d| serde_json::to_string(&d.into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap()),
            1 => proptest::sample::select(vec!["null".to_string(), "5".into(), r#"{"b":1,"a":2}"#.into()]),
        ];
        let line = (fields(envelope), proptest::option::weighted(0.9, details)).prop_map(|(envelope, details)| {
            let line = Value::Object(envelope.into_iter().collect()).to_string();
            match details {
                Some(d) => format!(r#"{{"details":{d},{}"#, &line[1..]),
                None => line,
            }
        });
        let taken = summarized_of_any(4000, line);
        assert!(taken > 100, "summarized {taken} of 4000 lines");
    }

    /// A flat line of `envelope` and `details` fields (in key order, as GitLab and the agent
    /// services write them, or not), now and then with a nested `details` too.
    fn flat_line(envelope: Vec<Field>) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let nested = proptest::option::weighted(0.1, proptest::sample::select(vec!["null", "{}", r#"{"x":1}"#, "5"]));
        (fields(envelope), fields(detail_fields()), nested, any::<bool>()).prop_map(
            |(envelope, details, nested, sorted)| {
                let mut entries: Vec<_> = envelope.into_iter().chain(details).collect();
                if sorted {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                let mut line = entries
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                    .chain(nested.map(|d| format!(r#""details":{d}"#)))
                    .collect::<Vec<_>>()
                    .join(",");
                line.insert(0, '{');
                line.push('}');
                line
            },
        )
    }

    /// Lines of `audit_json.log` of every mix of envelope fields and details: whatever
    /// `summarize` takes, it reads as the event says.
    #[test]
    fn summaries_of_any_audit_log_line_are_what_its_events_say() {
        use proptest::prelude::*;
        use serde_json::json;
        let envelope = vec![
            ("author_id", values(vec![json!(-1), json!(42), json!("42"), json!(null), json!("x")])),
            ("author_name", maybe(vec![json!(""), json!("Ann"), json!(5)])),
            (
                "created_at",
                prop_oneof![
                    2 => Just(None),
                    2 => values(vec![json!("2026-10-01 12:00:00.5 +0200")]),
                    1 => values(vec![json!(null), json!("soon"), json!(5)])
                ]
                .boxed(),
            ),
            (
                "time",
                prop_oneof![
                    4 => values(vec![json!("2026-10-01T10:00:00.1234567Z")]),
                    1 => maybe(vec![json!(null), json!("later")])
                ]
                .boxed(),
            ),
            ("event_name", maybe(vec![json!("user_created"), json!("login_failed_with_otp"), json!(""), json!(3)])),
            ("entity_type", maybe(vec![json!("Project"), json!("User"), json!("")])),
            ("entity_id", maybe(vec![json!(7), json!("7"), json!(null), json!(1e2)])),
            ("entity_path", maybe(vec![json!("acme/app"), json!("")])),
            ("target_id", maybe(vec![json!(9), json!("9"), json!("")])),
            ("target_type", maybe(vec![json!("User")])),
            ("target_details", maybe(vec![json!("!724")])),
            ("ip_address", maybe(vec![json!(""), json!("10.0.0.1")])),
            ("id", rarely(vec![json!("77"), json!(""), json!(78)])),
            ("correlation_id", maybe(vec![json!("c0ffee")])),
            ("custom_message", maybe(vec![json!("Approved"), json!({"b": 1})])),
            ("severity", maybe(vec![json!("INFO")])),
            ("action", rarely(vec![json!("x"), json!({"y": 1})])),
            ("error", rarely(vec![json!(null), json!(5)])),
        ];
        let taken = summarized_of_any(4000, flat_line(envelope));
        assert!(taken > 1000, "summarized {taken} of 4000 lines");
    }

    /// Agent audit entries of every mix of fields, actors and targets: whatever `summarize`
    /// takes, it reads as the event says.
    #[test]
    fn summaries_of_any_agent_audit_entry_are_what_its_events_say() {
        use proptest::prelude::*;
        use serde_json::json;
        let envelope = vec![
            ("event_type", values(vec![json!("audit")])),
            (
                "timestamp",
                prop_oneof![
                    6 => values(vec![json!("2026-10-01T10:00:00.000001Z")]),
                    1 => maybe(vec![json!(null), json!("soon"), json!(5)])
                ]
                .boxed(),
            ),
            ("action", values(vec![json!("git.push"), json!("gitlab.api.auth_failed"), json!("")])),
            (
                "actor",
                maybe(vec![
                    json!({"id": "poll-1", "type": "poll_cycle"}),
                    json!({"id": 5, "name": "runner", "type": "service_account"}),
                    json!({"type": "user", "id": "u", "id": "v"}),
                    json!({}),
                    json!(null),
                    json!("someone"),
                ]),
            ),
            (
                "target",
                maybe(vec![
                    json!({"project": "acme/app", "project_id": 112, "resource_id": "399", "resource_type": "Note"}),
                    json!({"project": "acme/app", "project_id": "x", "commit_sha": "abc", "iid": 4}),
                    json!({"branch": "b", "id": ""}),
                    json!({"project": "", "resource_id": null}),
                    json!("a string"),
                    json!(null),
                ]),
            ),
            ("outcome", maybe(vec![json!("success"), json!("failure"), json!("other"), json!(1)])),
            ("correlation_id", maybe(vec![json!("c0ffee"), json!("")])),
            ("id", rarely(vec![json!("e-1"), json!(""), json!(9)])),
            ("source_ip", maybe(vec![json!("10.0.0.9"), json!(""), json!(7)])),
            ("error", maybe(vec![json!("rate limited")])),
            ("rejection_reason", rarely(vec![json!("policy")])),
            ("service", maybe(vec![json!("duo-agent-runner")])),
        ];
        let taken = summarized_of_any(4000, flat_line(envelope));
        assert!(taken > 1000, "summarized {taken} of 4000 lines");
    }

    /// Lines as not every writer writes them — spaced, escaped, keys given twice, values not in
    /// their canonical spelling — read as their events say, summarized or not.
    #[test]
    fn flat_lines_in_unusual_forms_read_as_their_events() {
        for (line, summarized) in [
            (r#"{ "author_id" : 5 , "time" : "2026-10-01T00:00:00Z" , "with" : "two-factor" }"#, true),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","session_id":"a","session_id":"b"}"#, true),
            (
                r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","input_prompt":"key \u0067lpat-abcdefghijklmnopqrst"}"#,
                true,
            ),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","input_tokens":1.0E2,"output_tokens":"  3 "}"#, true),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","outcome":"failure","outcome":"success"}"#, true),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","user":{"id":1,"username":"a","id":2}}"#, true),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","model\u005fprovider":"anthropic"}"#, true),
            (r#"{"author_id":5,"time":"2026-10-01T00:00:00Z","ip_address":"1.2.3.4","ip_address":null}"#, true),
            (r#"{"author_id":5,"created_at":"2026-10-01T00:00:00Z","time":"bad","details":null}"#, false),
            (
                r#"{"timestamp":"2026-10-01T00:00:00Z","event_type":"audit","action":"a","actor":{"id":"x"},"actor":null}"#,
                true,
            ),
            (
                r#"{"timestamp":"2026-10-01T00:00:00Z","event_type":"audit","action":"a","target":{"project":"p","project_id":"7 "}}"#,
                true,
            ),
            (
                r#"{"timestamp":"2026-10-01T00:00:00Z","event_type":"audit","action":"a","outcome":"failure","authorized_scopes":"api read"}"#,
                true,
            ),
            (r#"{"timestamp":"2026-10-01T00:00:00Z","event_type":"audit","action":"a","actor":[1]}"#, false),
        ] {
            assert_eq!(summarizes_as_recognized(line), summarized, "{line}");
        }
    }
}
