//! Any text in an event's name, actor, message and scope: the CEF record parses back, with an
//! independent strict parser, to the same values (cut only at the spec's limits) and holds no
//! other key.
#![no_main]

#[path = "../../tests/e2e/cef_parser.rs"]
#[allow(dead_code)]
mod cef_parser;

use compliance_report::encode::cef::{CefConfig, CefEncoder};
use compliance_report::encode::Encoder;
use compliance_report::model::catalog::SeverityTable;
use compliance_report::model::{time, Actor, ActorClass, AuditEvent, Origin, Scope};
use libfuzzer_sys::fuzz_target;

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\u{1}');
    let (name, actor, message, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut ev = AuditEvent::new(
        time::parse("2026-10-01T00:00:00.000001Z").unwrap(),
        name.clone(),
        Actor { id: Some("1".into()), name: Some(actor.clone()), class: ActorClass::User },
        Origin { format: "fuzz".into(), native_id: Some("1".into()) },
    );
    ev.assign_id("");
    ev.message = Some(message.clone());
    ev.scope = Some(Scope { kind: "Project".into(), id: Some(1), path: Some(path.clone()) });
    let mut out = Vec::new();
    CefEncoder::new(CefConfig::default(), SeverityTable::default()).encode(&ev, &mut out);
    let line = String::from_utf8(out).expect("CEF is UTF-8");
    let cef = cef_parser::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let empty_or = |v: &str| if v.is_empty() { None } else { Some(v.to_string()) };
    assert_eq!(cef.signature, cut(&name, 1023).replace(['\r', '\n'], " "));
    if !name.is_empty() {
        assert_eq!(cef.get("act").map(str::to_string), empty_or(cut(&name, 63)));
    }
    if !actor.is_empty() {
        assert_eq!(cef.get("suser"), Some(cut(&actor, 1023)));
    }
    if !message.is_empty() {
        assert_eq!(cef.get("msg"), Some(cut(&message, 1023)));
    }
    if !path.is_empty() {
        assert_eq!(cef.get("cs4"), Some(cut(&path, 4000)));
    }
});
