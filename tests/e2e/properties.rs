//! Property tests: whatever text an event carries, the CEF record parses (strictly) back to the
//! same values, cut only at the spec limits; the JSON record reads back to the same event.

use compliance_report::encode::cef::{CefConfig, CefEncoder};
use compliance_report::encode::json::JsonEncoder;
use compliance_report::encode::Encoder;
use compliance_report::model::catalog::SeverityTable;
use compliance_report::model::{time, Actor, ActorClass, AuditEvent, Origin, Scope};
use proptest::prelude::*;

use crate::cef_parser;

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Text biased towards the characters CEF must escape.
fn nasty() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::any(),
            2 => proptest::sample::select(vec!['\\', '|', '=', '\r', '\n', ' ', 'é', '日', '=']),
        ],
        1..80,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn event(name: String, actor: String, message: String, path: String) -> AuditEvent {
    let mut ev = AuditEvent::new(
        time::parse("2026-10-01T00:00:00.000001Z").unwrap(),
        name,
        Actor { id: Some("1".into()), name: Some(actor), class: ActorClass::User },
        Origin { format: "prop".into(), native_id: Some("1".into()) },
    );
    ev.assign_id("");
    ev.message = Some(message);
    ev.scope = Some(Scope { kind: "Project".into(), id: Some(1), path: Some(path) });
    ev
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cef_round_trips_through_a_strict_parser(name in nasty(), actor in nasty(), message in nasty(), path in nasty()) {
        // A value that is only spaces cannot be told from the separator: the encoder still writes
        // it, and the parser must still accept the record.
        let ev = event(name.clone(), actor.clone(), message.clone(), path.clone());
        let mut out = Vec::new();
        CefEncoder::new(CefConfig::default(), SeverityTable::default()).encode(&ev, &mut out);
        let line = String::from_utf8(out).unwrap();
        let cef = cef_parser::parse(&line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
        prop_assert_eq!(&cef.signature, &cut(&name, 1023).replace(['\r', '\n'], " "));
        prop_assert_eq!(cef.get("act"), Some(cut(&name, 63)));
        prop_assert_eq!(cef.get("suser"), Some(cut(&actor, 1023)));
        prop_assert_eq!(cef.get("msg"), Some(cut(&message, 1023)));
        prop_assert_eq!(cef.get("cs4"), Some(cut(&path, 4000)));
    }

    #[test]
    fn json_round_trips(name in nasty(), actor in nasty(), message in nasty(), path in nasty()) {
        let ev = event(name, actor, message, path);
        let mut out = Vec::new();
        JsonEncoder.encode(&ev, &mut out);
        prop_assert!(!out.contains(&b'\n'));
        let back: AuditEvent = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(back, ev);
    }
}
