//! Record shapes found in NDJSON audit logs, recognized line by line: GitLab's
//! `audit_json.log`, GitLab streaming audit event payloads, agent audit log entries, and this
//! tool's own JSON export (read back losslessly).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::normalize::{enrich, GitlabEnvelope};
use super::object::Object;
use crate::model::{
    time, value_i64, value_text, Actor, ActorClass, AuditEvent, Details, Origin, Outcome, Scope, Target, SCHEMA,
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
    // The canonical text (sorted keys, compact) identifies records that carry no id of their own
    // (every shape takes its own id from a non-empty `id`; writing the text costs as much as
    // parsing it, so only when needed).
    let content = match obj.get("id").and_then(value_text).filter(|s| !s.is_empty()) {
        Some(_) => Cow::Borrowed(""),
        None => obj.canonical(line).map_err(invalid)?,
    };
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
        let is_str = |k: &str| obj.get(k).is_some_and(Value::is_string);
        Some(if obj.get("schema").and_then(Value::as_str) == Some(SCHEMA) {
            Shape::Export
        } else if obj.get("event_type").and_then(Value::as_str) == Some("audit") && is_str("action") {
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

fn take_text(obj: &mut Object, key: &str) -> Option<String> {
    match obj.remove(key)? {
        Value::String(s) => Some(s),
        other => value_text(&other),
    }
    .filter(|s| !s.is_empty())
}

fn take_i64(obj: &mut Object, key: &str) -> Result<Option<i64>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value_i64(&v).map(Some).ok_or_else(|| format!("field {key:?} is not an integer: {v}")),
    }
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
        Some(raw) => {
            let a = Details::from_json(raw).map_err(invalid)?;
            Actor {
                id: a.text("id"),
                name: a.text("name"),
                class: a.str("type").map(|t| ActorClass::from_source(&t)).unwrap_or_default(),
            }
        }
        None => match obj.remove("actor") {
            None | Some(Value::Null) => Actor::default(),
            Some(other) => return Err(format!("field \"actor\" is not an object: {other}")),
        },
    };
    let outcome = match obj.remove("outcome").as_ref().and_then(Value::as_str) {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let correlation_id = take_text(obj, "correlation_id");
    let mut ev =
        AuditEvent::new(time, action, actor, Origin { format: "agent_audit".into(), native_id: take_text(obj, "id") });
    ev.outcome = outcome;
    ev.correlation_id = correlation_id;
    if let Some(raw) = obj.written("target") {
        let t = Details::from_json(raw).map_err(invalid)?;
        let get = |k: &str| t.text(k);
        ev.target = Some(Target {
            kind: get("resource_type"),
            id: ["resource_id", "id", "iid", "commit_sha"].iter().find_map(|k| get(k)),
            details: ["title", "branch", "path"].iter().find_map(|k| get(k)),
        });
        if let Some(project) = get("project") {
            ev.scope = Some(Scope { kind: "Project".into(), id: t.i64("project_id"), path: Some(project) });
        }
    }
    ev.ip_address = obj.get("source_ip").and_then(value_text);
    ev.message = obj.get("error").and_then(value_text).or_else(|| obj.get("rejection_reason").and_then(value_text));
    ev.details = obj.to_details().map_err(invalid)?;
    enrich(&mut ev);
    Ok(ev)
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
}
