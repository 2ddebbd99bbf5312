//! Anomaly findings for the SIEM: CEF lines and OCSF Detection Finding (2004) events.

use serde_json::{json, Value};

use super::cef::{self, custom, CefConfig, Custom, Extension, STRING_MAX};
use super::ocsf::{severity_id, OCSF_VERSION};
use crate::analyze::anomalies::Finding;
use crate::model::time;

/// The labelled CEF keys of findings (their own set: findings are not audit events).
pub const SESSIONS: Custom = custom("cs1", "cs1Label", "sessionIds", 4000);
pub const VALUE: Custom = custom("cs2", "cs2Label", "measuredValue", 4000);
pub const THRESHOLD: Custom = custom("cs3", "cs3Label", "threshold", 4000);
pub const EVENT_IDS: Custom = custom("cs4", "cs4Label", "eventIds", 4000);
pub const VALUES: Custom = custom("cs5", "cs5Label", "values", 4000);
pub const ON_BEHALF_OF: Custom = custom("cs6", "cs6Label", "onBehalfOfUserIds", 4000);
pub const EVENT_COUNT: Custom = custom("cn1", "cn1Label", "eventCount", 0);

/// One CEF line (no newline): signature `anomaly.HEURISTIC`, name the explanation.
pub fn cef(f: &Finding, config: &CefConfig, out: &mut Vec<u8>) {
    cef::header(out, config, &format!("anomaly.{}", f.heuristic), &f.explanation, f.severity);
    let mut x = Extension::new(out);
    x.number("rt", time::epoch_millis(&f.window.from));
    x.number("start", time::epoch_millis(&f.window.from));
    x.number("end", time::epoch_millis(&f.window.to));
    x.pair("externalId", 40, &f.id);
    x.pair("cat", STRING_MAX, "anomaly");
    x.pair("act", STRING_MAX, f.heuristic);
    x.pair("suid", STRING_MAX, &f.actor);
    x.pair("suser", STRING_MAX, &f.actor_name);
    x.pair("msg", STRING_MAX, &f.explanation);
    x.labelled(VALUE, Some(&f.value));
    x.labelled(THRESHOLD, Some(&f.threshold));
    x.labelled(SESSIONS, Some(&f.sessions.join(",")));
    x.labelled(VALUES, Some(&f.values.join(",")));
    x.labelled(ON_BEHALF_OF, Some(&f.on_behalf_of.join(",")));
    x.labelled(EVENT_IDS, Some(&f.event_ids.join(",")));
    x.labelled_number(EVENT_COUNT, Some(f.event_count as u64));
}

/// An OCSF 1.8.0 Detection Finding: `finding_info` names the heuristic (analytic, type
/// Statistical or Rule) and lists the related events by id; the actor, sessions and values are
/// evidence; the rest is in `unmapped`.
pub fn ocsf(f: &Finding) -> Value {
    let (sev_id, sev) = severity_id(f.severity);
    let statistical =
        matches!(f.heuristic, "volume_spike" | "off_hours" | "token_outlier" | "stream_gap" | "failure_burst");
    let mut info = json!({
        "uid": f.id,
        "title": f.explanation,
        "desc": format!("{}; {}", f.value, f.threshold),
        "types": [f.heuristic],
        "analytic": {
            "name": f.heuristic,
            "type_id": if statistical { 3 } else { 1 },
            "type": if statistical { "Statistical" } else { "Rule" },
        },
        "first_seen_time": f.window.from.timestamp_millis(),
        "last_seen_time": f.window.to.timestamp_millis(),
        "related_events_count": f.event_count,
        "product": {"name": "compliance-report", "vendor_name": "compliance-report", "version": env!("CARGO_PKG_VERSION")},
    });
    if !f.event_ids.is_empty() {
        info["related_events"] = Value::Array(f.event_ids.iter().map(|id| json!({"uid": id})).collect());
    }
    let mut doc = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": sev_id,
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "time": f.window.from.timestamp_millis(),
        "start_time": f.window.from.timestamp_millis(),
        "end_time": f.window.to.timestamp_millis(),
        "message": f.explanation,
        "finding_info": info,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.id,
            "product": {"name": "compliance-report", "vendor_name": "compliance-report", "version": env!("CARGO_PKG_VERSION")},
            "event_code": format!("anomaly.{}", f.heuristic),
        },
    });
    let mut evidence = serde_json::Map::new();
    if !f.actor.is_empty() {
        let mut user = json!({"uid": f.actor});
        if !f.actor_name.is_empty() {
            user["name"] = json!(f.actor_name);
        }
        evidence.insert("actor".into(), json!({"user": user}));
    }
    if !evidence.is_empty() {
        doc["evidences"] = json!([Value::Object(evidence)]);
    }
    let mut unmapped = serde_json::Map::new();
    for (k, v) in [("sessions", &f.sessions), ("values", &f.values), ("on_behalf_of", &f.on_behalf_of)] {
        if !v.is_empty() {
            unmapped.insert(k.into(), json!(v));
        }
    }
    unmapped.insert("measured_value".into(), json!(f.value));
    unmapped.insert("threshold".into(), json!(f.threshold));
    doc["unmapped"] = Value::Object(unmapped);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::anomalies::Window;

    fn finding() -> Finding {
        Finding {
            id: "0123456789abcdef".into(),
            heuristic: "sanitization",
            severity: 8,
            actor: "1008".into(),
            actor_name: "hana|x=y".into(),
            on_behalf_of: vec![],
            window: Window::from_micros(1_790_856_000_000_000, 1_790_856_000_000_001),
            value: "gitlab_token in input_summary".into(),
            threshold: "none may appear".into(),
            explanation: "Someone put a secret credential into an agent's instructions.".into(),
            sessions: vec!["s-1".into()],
            values: vec!["gitlab_token".into()],
            event_ids: vec!["e1".into()],
            event_count: 1,
        }
    }

    #[test]
    fn cef_line() {
        let mut out = Vec::new();
        cef(&finding(), &CefConfig::default(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "CEF:0|GitLab|compliance-report|{}|anomaly.sanitization|Someone put a secret credential into an agent's instructions.|8|\
                 rt=1790856000000 start=1790856000000 end=1790856000000 externalId=0123456789abcdef cat=anomaly act=sanitization \
                 suid=1008 suser=hana|x\\=y msg=Someone put a secret credential into an agent's instructions. \
                 cs2=gitlab_token in input_summary cs2Label=measuredValue cs3=none may appear cs3Label=threshold \
                 cs1=s-1 cs1Label=sessionIds cs5=gitlab_token cs5Label=values cs4=e1 cs4Label=eventIds cn1=1 cn1Label=eventCount",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn ocsf_detection_finding() {
        let doc = ocsf(&finding());
        assert_eq!(doc["type_uid"], 200401);
        assert_eq!(doc["finding_info"]["related_events"], json!([{"uid": "e1"}]));
        assert_eq!(doc["evidences"][0]["actor"]["user"]["uid"], "1008");
        assert_eq!(doc["severity_id"], 4);
    }
}
