//! Elastic Common Schema (ECS 8.x) documents, one per line.
//!
//! Composite identity maps onto ECS's own split: `user` is the human who initiated the action,
//! `user.effective` the service account it was executed as; without composite identity `user`
//! is the actor. Token usage goes to `gen_ai.usage.*`; the canonical record stays whole under
//! `compliance_report` so nothing is lost.

use serde_json::{json, Map, Value};

use super::Encoder;
use crate::model::catalog::SeverityTable;
use crate::model::{time, Actor, AuditEvent};

/// The ECS version the documents declare.
pub const ECS_VERSION: &str = "8.11.0";

#[derive(Debug, Clone, Default)]
pub struct EcsEncoder {
    pub severity: SeverityTable,
}

fn user(a: &Actor) -> Value {
    let mut u = Map::new();
    if let Some(id) = &a.id {
        u.insert("id".into(), json!(id));
    }
    if let Some(name) = &a.name {
        u.insert("name".into(), json!(name));
    }
    Value::Object(u)
}

/// `event.category` and `event.type` (ECS allowed values) for an event name.
pub fn category_and_type(name: &str) -> (&'static str, &'static str) {
    let has = |s: &str| name.contains(s);
    let category = if has("login") || has("authenticat") || has("hmac") || has("password") || has("signature") {
        "authentication"
    } else if has("member")
        || has("role")
        || has("access_token")
        || has("deploy_token")
        || has("service_account")
        || has("permission")
        || has("access_level")
    {
        "iam"
    } else if name.starts_with("duo_flow_") {
        "session"
    } else if name.starts_with("gitlab.api.") || name.starts_with("webhook.") {
        "web"
    } else {
        "configuration"
    };
    let kind = match name {
        "duo_flow_started" => "start",
        "duo_flow_completed" | "duo_flow_failed" => "end",
        _ if category == "authentication" => "info",
        _ if has("created")
            || has("provisioned")
            || name.starts_with("gitlab.api.create")
            || name.starts_with("gitlab.api.post") =>
        {
            "creation"
        }
        _ if has("deleted") || has("destroyed") || has("removed") => "deletion",
        _ if has("updated") || has("changed") || name == "audit_operation" => "change",
        _ => "info",
    };
    // ECS only allows some types per category; fall back to "info" where a pair is not allowed.
    let kind = match (category, kind) {
        ("session", "creation" | "deletion" | "change") => "info",
        ("web", "creation" | "deletion" | "start" | "end") => "access",
        ("authentication", _) => "info",
        _ => kind,
    };
    (category, kind)
}

impl EcsEncoder {
    pub fn document(&self, ev: &AuditEvent) -> Value {
        let (category, kind) = category_and_type(&ev.event_name);
        let mut event = json!({
            "kind": "event",
            "category": [category],
            "type": [kind],
            "action": ev.event_name,
            "outcome": ev.outcome.as_str(),
            "id": ev.id,
            "severity": self.severity.severity(ev),
            "dataset": "compliance_report.audit",
            "provider": ev.origin.format,
        });
        if let Some(ms) = ev.ai.as_ref().and_then(|a| a.duration_ms) {
            let end = ev.time;
            let start = end - chrono::Duration::milliseconds(ms as i64);
            event["start"] = json!(time::format(&start));
            event["end"] = json!(time::format(&end));
            event["duration"] = json!(ms.saturating_mul(1_000_000));
        }
        let mut doc = json!({
            "@timestamp": time::format(&ev.time),
            "ecs": {"version": ECS_VERSION},
            "event": event,
        });
        if let Some(m) = &ev.message {
            doc["message"] = json!(m);
        }
        let mut u = match &ev.on_behalf_of {
            Some(human) => {
                let mut u = user(human);
                u["effective"] = user(&ev.actor);
                u
            }
            None => user(&ev.actor),
        };
        if let Some(t) = ev.target.as_ref().filter(|t| t.kind.as_deref() == Some("User")) {
            let mut target = Map::new();
            if let Some(id) = &t.id {
                target.insert("id".into(), json!(id));
            }
            if let Some(name) = &t.details {
                target.insert("name".into(), json!(name));
            }
            u["target"] = Value::Object(target);
        }
        if u.as_object().is_some_and(|o| !o.is_empty()) {
            doc["user"] = u;
        }
        let mut related_users: Vec<&str> =
            [ev.actor.id.as_deref(), ev.actor.name.as_deref()].into_iter().flatten().collect();
        if let Some(h) = &ev.on_behalf_of {
            related_users.extend([h.id.as_deref(), h.name.as_deref()].into_iter().flatten());
        }
        related_users.dedup();
        let mut related = json!({});
        if !related_users.is_empty() {
            related["user"] = json!(related_users);
        }
        if let Some(ip) = ev.ip_address.as_deref().filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()) {
            doc["source"] = json!({"ip": ip});
            related["ip"] = json!([ip]);
        }
        if related.as_object().is_some_and(|o| !o.is_empty()) {
            doc["related"] = related;
        }
        if let Some(ai) = &ev.ai {
            let mut gen_ai = Map::new();
            if let Some(p) = &ai.model_provider {
                gen_ai.insert("system".into(), json!(p));
            }
            if let Some(m) = &ai.model_engine {
                gen_ai.insert("request".into(), json!({"model": m}));
            }
            let mut usage = Map::new();
            if let Some(n) = ai.input_tokens {
                usage.insert("input_tokens".into(), json!(n));
            }
            if let Some(n) = ai.output_tokens {
                usage.insert("output_tokens".into(), json!(n));
            }
            if !usage.is_empty() {
                gen_ai.insert("usage".into(), Value::Object(usage));
            }
            if !gen_ai.is_empty() {
                doc["gen_ai"] = Value::Object(gen_ai);
            }
        }
        if let Some(c) = &ev.correlation_id {
            doc["trace"] = json!({"id": c});
        }
        doc["compliance_report"] = serde_json::to_value(ev).expect("events serialize");
        doc
    }
}

impl Encoder for EcsEncoder {
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        serde_json::to_writer(out, &self.document(ev)).expect("JSON values serialize");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorClass, AiContext, Origin, Outcome};

    #[test]
    fn composite_identity_and_tokens() {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T12:00:00Z").unwrap(),
            "duo_flow_completed".into(),
            Actor { id: Some("5001".into()), name: Some("duo-developer-sa".into()), class: ActorClass::ServiceAccount },
            Origin { format: "ai_audit_events".into(), native_id: Some("9".into()) },
        );
        ev.assign_id("");
        ev.outcome = Outcome::Success;
        ev.on_behalf_of = Some(Actor { id: Some("42".into()), name: Some("alice".into()), class: ActorClass::User });
        ev.ip_address = Some("192.0.2.4".into());
        ev.ai = Some(AiContext {
            input_tokens: Some(10),
            output_tokens: Some(2),
            duration_ms: Some(1500),
            model_provider: Some("anthropic".into()),
            ..Default::default()
        });
        let doc = EcsEncoder::default().document(&ev);
        assert_eq!(doc["user"]["id"], "42");
        assert_eq!(doc["user"]["effective"]["name"], "duo-developer-sa");
        assert_eq!(doc["event"]["category"], json!(["session"]));
        assert_eq!(doc["event"]["type"], json!(["end"]));
        assert_eq!(doc["event"]["start"], "2026-10-01T11:59:58.500000Z");
        assert_eq!(doc["event"]["duration"], 1_500_000_000u64);
        assert_eq!(doc["gen_ai"]["usage"]["input_tokens"], 10);
        assert_eq!(doc["related"]["user"], json!(["5001", "duo-developer-sa", "42", "alice"]));
        assert_eq!(doc["source"]["ip"], "192.0.2.4");
        assert_eq!(doc["compliance_report"]["id"], ev.id);
        let mut out = Vec::new();
        EcsEncoder::default().encode(&ev, &mut out);
        assert!(!out.contains(&b'\n'));
        assert!(
            out.starts_with(b"{\"@timestamp\":\"2026-10-01T12:00:00.000000Z\""),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn categories() {
        assert_eq!(category_and_type("login_failed_with_standard_authentication"), ("authentication", "info"));
        assert_eq!(category_and_type("member_created"), ("iam", "creation"));
        assert_eq!(category_and_type("duo_flow_started"), ("session", "start"));
        assert_eq!(category_and_type("gitlab.api.post_mr_note"), ("web", "access"));
        assert_eq!(category_and_type("protected_branch_updated"), ("configuration", "change"));
    }
}
