//! JSON lines: the canonical record, fields in documented order, one object per line.
//!
//! Written by hand, byte for byte what `serde_json` writes for the record's `Serialize` (the
//! test `writes_what_serde_json_writes` holds the two together on every event of the demo data
//! and on generated ones): every record of a JSON export and every record a report's hash chain
//! links passes here, and `serde_json` looks up each byte of each text in an escape table, where
//! texts are almost never escaped (`perf`: 5% of a report's CPU serializing its chain's records).

use super::Encoder;
use crate::model::canonical::plain_prefix;
use crate::model::{time, Actor, AiContext, AuditEvent, Authorization, Origin, Scope, Target};

/// Writes the canonical record as compact JSON; reads back losslessly through the NDJSON source.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEncoder;

impl Encoder for JsonEncoder {
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        // Every field named: a field added to the record fails to compile here until written.
        let AuditEvent {
            schema,
            id,
            time,
            event_name,
            category,
            outcome,
            actor,
            on_behalf_of,
            scope,
            target,
            ip_address,
            message,
            correlation_id,
            ai,
            origin,
            details,
        } = ev;
        let mut o = Object::open(out);
        o.text("schema", schema);
        o.text("id", id);
        o.text("time", &time::format(time));
        o.text("event_name", event_name);
        o.opt_text("category", category);
        o.text("outcome", outcome.as_str());
        o.object("actor", |out| write_actor(actor, out));
        if let Some(helper) = on_behalf_of {
            o.object("on_behalf_of", |out| write_actor(helper, out));
        }
        if let Some(Scope { kind, id, path }) = scope {
            o.object("scope", |out| {
                let mut o = Object::open(out);
                o.text("type", kind);
                o.opt_number("id", *id);
                o.opt_text("path", path);
                o.close();
            });
        }
        if let Some(Target { kind, id, details }) = target {
            o.object("target", |out| {
                let mut o = Object::open(out);
                o.opt_text("type", kind);
                o.opt_text("id", id);
                o.opt_text("details", details);
                o.close();
            });
        }
        o.opt_text("ip_address", ip_address);
        o.opt_text("message", message);
        o.opt_text("correlation_id", correlation_id);
        if let Some(ai) = ai {
            o.object("ai", |out| write_ai(ai, out));
        }
        let Origin { format, native_id } = origin;
        o.object("origin", |out| {
            let mut o = Object::open(out);
            o.text("format", format);
            o.opt_text("native_id", native_id);
            o.close();
        });
        if !details.is_empty() {
            // Canonical JSON already: written as it stands.
            o.key("details");
            o.out.extend_from_slice(details.as_json().as_bytes());
        }
        o.close();
    }
}

fn write_actor(Actor { id, name, class }: &Actor, out: &mut Vec<u8>) {
    let mut o = Object::open(out);
    o.opt_text("id", id);
    o.opt_text("name", name);
    o.text("class", class.as_str());
    o.close();
}

fn write_ai(ai: &AiContext, out: &mut Vec<u8>) {
    let AiContext {
        session_id,
        flow_type,
        agent_name,
        workflow_id,
        cloud_event_id,
        model_provider,
        model_engine,
        input_tokens,
        output_tokens,
        duration_ms,
        authorization,
    } = ai;
    let mut o = Object::open(out);
    o.opt_text("session_id", session_id);
    o.opt_text("flow_type", flow_type);
    o.opt_text("agent_name", agent_name);
    o.opt_number("workflow_id", *workflow_id);
    o.opt_text("cloud_event_id", cloud_event_id);
    o.opt_text("model_provider", model_provider);
    o.opt_text("model_engine", model_engine);
    o.opt_number("input_tokens", *input_tokens);
    o.opt_number("output_tokens", *output_tokens);
    o.opt_number("duration_ms", *duration_ms);
    if let Some(Authorization { verified_at, method, scopes }) = authorization {
        o.object("authorization", |out| {
            let mut o = Object::open(out);
            if let Some(at) = verified_at {
                o.text("verified_at", &time::format(at));
            }
            o.opt_text("method", method);
            if !scopes.is_empty() {
                o.key("scopes");
                o.out.push(b'[');
                for (i, scope) in scopes.iter().enumerate() {
                    if i > 0 {
                        o.out.push(b',');
                    }
                    text(o.out, scope);
                }
                o.out.push(b']');
            }
            o.close();
        });
    }
    o.close();
}

/// An object being written: a comma before every member but the first.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// A member's key (the record's keys need no escaping).
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        text(self.out, value);
    }

    fn opt_text(&mut self, key: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.text(key, value);
        }
    }

    fn opt_number(&mut self, key: &str, value: Option<impl itoa::Integer>) {
        if let Some(n) = value {
            self.key(key);
            self.out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
    }

    fn object(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.key(key);
        write(self.out);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes: a quote, a backslash and control
/// characters (the short forms where JSON has one, `\u00XX` in lowercase hex otherwise);
/// nothing else.
fn text(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    loop {
        let plain = plain_prefix(rest);
        out.extend_from_slice(&rest[..plain]);
        let Some((&byte, after)) = rest[plain..].split_first() else { break };
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 15)],
                ]);
            }
        }
        rest = after;
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorClass, Details, Outcome};

    #[test]
    fn one_line_with_escaped_control_characters() {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T00:00:00Z").unwrap(),
            "x".into(),
            Actor { id: Some("1".into()), name: Some("a\nb".into()), class: ActorClass::User },
            Origin { format: "f".into(), native_id: Some("1".into()) },
        );
        ev.assign_id("");
        let mut out = Vec::new();
        JsonEncoder.encode(&ev, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(
            text,
            format!(
                "{{\"schema\":\"compliance-report.event.v1\",\"id\":\"{}\",\"time\":\"2026-10-01T00:00:00.000000Z\",\
                 \"event_name\":\"x\",\"outcome\":\"unknown\",\"actor\":{{\"id\":\"1\",\"name\":\"a\\nb\",\"class\":\"user\"}},\
                 \"origin\":{{\"format\":\"f\",\"native_id\":\"1\"}}}}",
                ev.id
            )
        );
    }

    fn serde(ev: &AuditEvent) -> String {
        serde_json::to_string(ev).unwrap()
    }

    fn written(ev: &AuditEvent) -> String {
        let mut out = Vec::new();
        JsonEncoder.encode(ev, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Byte for byte what `serde_json` writes for the record, on every event of the demo data and
    /// on one with every field set, texts empty or needing every kind of escape.
    #[test]
    fn writes_what_serde_json_writes() {
        let mut n = 0;
        for rec in crate::sources::ndjson::NdjsonSource::new(crate::sources::demo::inputs()) {
            let ev = rec.unwrap().event;
            assert_eq!(written(&ev), serde(&ev));
            n += 1;
        }
        assert!(n > 60_000, "{n}");
        let odd = "\"q\" \\ \u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f} é € 😀 </script> /";
        let text = |s: &str| Some(s.to_string());
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T00:00:00.123456Z").unwrap(),
            odd.into(),
            Actor { id: text(""), name: text(odd), class: ActorClass::ServiceAccount },
            Origin { format: odd.into(), native_id: text("") },
        );
        ev.assign_id("");
        ev.outcome = Outcome::Failure;
        ev.on_behalf_of = Some(Actor { id: None, name: None, class: ActorClass::Unknown });
        ev.scope = Some(Scope { kind: String::new(), id: Some(i64::MIN), path: text(odd) });
        ev.target = Some(Target::default());
        ev.ip_address = text("::1");
        ev.message = text(odd);
        ev.correlation_id = text("");
        ev.ai = Some(AiContext {
            session_id: text(odd),
            flow_type: text("f"),
            agent_name: text("a"),
            workflow_id: Some(-1),
            cloud_event_id: text("c"),
            model_provider: text("p"),
            model_engine: text("e"),
            input_tokens: Some(u64::MAX),
            output_tokens: Some(0),
            duration_ms: Some(12),
            authorization: Some(Authorization {
                verified_at: time::parse("1970-01-01T00:00:00Z"),
                method: text(odd),
                scopes: vec![odd.into(), String::new(), "api".into()],
            }),
        });
        ev.details = Details::from_map(
            serde_json::json!({"k": odd, "n": [1, 2.5, null, {"z": true}], "e\"": {}}).as_object().unwrap(),
        );
        assert_eq!(written(&ev), serde(&ev));
        // Absent where serde_json leaves them out: an authorization with nothing, an empty target.
        ev.ai = Some(AiContext { authorization: Some(Authorization::default()), ..AiContext::default() });
        ev.details = Details::new();
        ev.category = text("auth");
        assert_eq!(written(&ev), serde(&ev));
        assert!(written(&ev).contains(r#""target":{},"#));
    }

    proptest::proptest! {
        /// Any text is escaped as `serde_json` escapes it.
        #[test]
        fn texts_are_escaped_as_serde_json_escapes_them(s in "[\\x00-\\x20\"\\\\a-z\u{7f}-\u{a0}é😀]{0,40}") {
            let mut out = Vec::new();
            text(&mut out, &s);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }
}
