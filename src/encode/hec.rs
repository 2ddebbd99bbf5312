//! Splunk HTTP Event Collector envelopes, one per line:
//! `{"time":EPOCH.FRACTION,"host","source","sourcetype","index","event":{…},"fields":{…}}`.
//! The event is the canonical JSON record, or an OCSF event (`--format hec-ocsf`); `fields`
//! holds a few indexed fields for searching.

use std::io::Write;

use serde_json::json;

use super::json::JsonEncoder;
use super::ocsf::OcsfEncoder;
use super::Encoder;
use crate::chain::{Anchor, Chain};
use crate::model::catalog::SeverityTable;
use crate::model::AuditEvent;

/// Envelope metadata (`--hec-host`, `--hec-source`, `--hec-sourcetype`, `--hec-index`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecConfig {
    pub host: String,
    pub source: String,
    /// Default: `compliance-report:json`, or `compliance-report:ocsf` around OCSF events.
    pub sourcetype: Option<String>,
    pub index: Option<String>,
}

impl Default for HecConfig {
    fn default() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
        HecConfig { host, source: "compliance-report".into(), sourcetype: None, index: None }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HecEncoder {
    pub config: HecConfig,
    pub severity: SeverityTable,
    /// Wrap OCSF events instead of the canonical record.
    pub ocsf: Option<OcsfEncoder>,
}

impl HecEncoder {
    /// The envelope around the event `event` writes; `fields` for events only.
    fn envelope(
        &self,
        time: &crate::model::Timestamp,
        sourcetype: Option<&str>,
        out: &mut Vec<u8>,
        event: impl FnOnce(&mut Vec<u8>),
        fields: Option<&AuditEvent>,
    ) {
        let c = &self.config;
        let micros = time.timestamp_micros();
        // Epoch seconds with a six-digit fraction, written exactly (no float rounding).
        let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
        write!(out, "{{\"time\":{secs}.{frac:06},\"host\":").expect("Vec write");
        serde_json::to_writer(&mut *out, &c.host).expect("string");
        out.extend_from_slice(b",\"source\":");
        serde_json::to_writer(&mut *out, &c.source).expect("string");
        out.extend_from_slice(b",\"sourcetype\":");
        let sourcetype = match (sourcetype, &c.sourcetype, &self.ocsf) {
            (Some(s), _, _) => s,
            (None, Some(s), _) => s.as_str(),
            (None, None, Some(_)) => "compliance-report:ocsf",
            (None, None, None) => "compliance-report:json",
        };
        serde_json::to_writer(&mut *out, sourcetype).expect("string");
        if let Some(index) = &c.index {
            out.extend_from_slice(b",\"index\":");
            serde_json::to_writer(&mut *out, index).expect("string");
        }
        out.extend_from_slice(b",\"event\":");
        event(out);
        let Some(ev) = fields else {
            out.push(b'}');
            return;
        };
        let mut fields = json!({
            "event_id": ev.id,
            "event_name": ev.event_name,
            "outcome": ev.outcome.as_str(),
            "severity": self.severity.severity(ev),
        });
        if let Some(id) = &ev.actor.id {
            fields["actor_id"] = json!(id);
        }
        if let Some(id) = ev.on_behalf_of.as_ref().and_then(|a| a.id.as_ref()) {
            fields["on_behalf_of_id"] = json!(id);
        }
        if let Some(s) = ev.ai.as_ref().and_then(|a| a.session_id.as_ref()) {
            fields["session_id"] = json!(s);
        }
        out.extend_from_slice(b",\"fields\":");
        serde_json::to_writer(&mut *out, &fields).expect("JSON values serialize");
        out.push(b'}');
    }
}

impl Encoder for HecEncoder {
    fn encode(&self, ev: &AuditEvent, out: &mut Vec<u8>) {
        let event = |out: &mut Vec<u8>| match &self.ocsf {
            Some(ocsf) => ocsf.encode(ev, out),
            None => JsonEncoder.encode(ev, out),
        };
        self.envelope(&ev.time, None, out, event, Some(ev));
    }

    /// The chain covers the event (what Splunk keeps as `_raw`), not the envelope.
    fn encode_chained(&self, ev: &AuditEvent, chain: &mut Chain, out: &mut Vec<u8>) {
        let event = |out: &mut Vec<u8>| match &self.ocsf {
            Some(ocsf) => ocsf.encode_chained(ev, chain, out),
            None => JsonEncoder.encode_chained(ev, chain, out),
        };
        self.envelope(&ev.time, None, out, event, Some(ev));
    }

    fn encode_anchor(&self, anchor: &Anchor, out: &mut Vec<u8>) {
        self.envelope(&anchor.time, Some("compliance-report:anchor"), out, |out| anchor.write_json(out), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{time, Actor, ActorClass, Origin};

    #[test]
    fn exact_envelope() {
        let mut ev = AuditEvent::new(
            time::parse("2026-10-01T12:00:00.000123Z").unwrap(),
            "duo_flow_started".into(),
            Actor { id: Some("5001".into()), name: None, class: ActorClass::ServiceAccount },
            Origin { format: "t".into(), native_id: Some("1".into()) },
        );
        ev.assign_id("");
        let enc = HecEncoder {
            config: HecConfig {
                host: "gl".into(),
                source: "cr".into(),
                sourcetype: Some("cr:json".into()),
                index: Some("audit".into()),
            },
            severity: SeverityTable::default(),
            ocsf: None,
        };
        let mut out = Vec::new();
        enc.encode(&ev, &mut out);
        let text = String::from_utf8(out).unwrap();
        let event = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"time\":1790856000.000123,\"host\":\"gl\",\"source\":\"cr\",\"sourcetype\":\"cr:json\",\"index\":\"audit\",\"event\":{event},\
                 \"fields\":{{\"actor_id\":\"5001\",\"event_id\":\"{}\",\"event_name\":\"duo_flow_started\",\"outcome\":\"unknown\",\"severity\":3}}}}",
                ev.id
            )
        );
    }

    #[test]
    fn wraps_ocsf_with_its_own_sourcetype() {
        let ev = AuditEvent::new(
            time::parse("2026-10-01T12:00:00Z").unwrap(),
            "duo_flow_started".into(),
            Actor { id: Some("5001".into()), name: None, class: ActorClass::ServiceAccount },
            Origin { format: "t".into(), native_id: Some("1".into()) },
        );
        let ocsf = OcsfEncoder::default();
        let enc = HecEncoder { ocsf: Some(ocsf.clone()), ..HecEncoder::default() };
        let mut out = Vec::new();
        enc.encode(&ev, &mut out);
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["sourcetype"], "compliance-report:ocsf");
        assert_eq!(doc["event"], ocsf.document(&ev));
    }
}
