//! JSON lines: the canonical record, fields in documented order, one object per line.

use super::Encoder;
use crate::model::AuditEvent;

/// Writes the canonical record as compact JSON; reads back losslessly through the NDJSON source.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEncoder;

impl Encoder for JsonEncoder {
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        serde_json::to_writer(out, ev).expect("an event always serializes: all map keys are strings");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{time, Actor, ActorClass, Origin};

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
}
