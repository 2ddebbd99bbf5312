//! The bundled demo data (`fixtures/demo/events/*.gz`, made by `compliance-report demo generate
//! --gzip`), compiled into the binary so the tool works with no `--source` anywhere it is installed.

use super::ndjson::Input;

const FILES: [(&str, &[u8]); 3] = [
    ("agent_audit.log", include_bytes!("../../fixtures/demo/events/agent_audit.log.gz")),
    ("audit_events_stream.ndjson", include_bytes!("../../fixtures/demo/events/audit_events_stream.ndjson.gz")),
    ("audit_json.log", include_bytes!("../../fixtures/demo/events/audit_json.log.gz")),
];

/// The embedded event files, in the order a directory read would give them.
pub fn inputs() -> Vec<Input> {
    FILES.iter().map(|(name, gz)| Input::Embedded { name, gz }).collect()
}
