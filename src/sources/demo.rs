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

const SESSIONS: &[u8] = include_bytes!("../../fixtures/demo/tables/flow_sessions.ndjson.gz");
const RESOURCES: &[u8] = include_bytes!("../../fixtures/demo/tables/flow_session_resources.ndjson.gz");

/// The embedded session tables (`flow_sessions`, `flow_session_resources`).
pub fn tables() -> std::io::Result<(Vec<crate::model::FlowSession>, Vec<crate::model::FlowSessionResource>)> {
    fn rows<T: serde::de::DeserializeOwned>(gz: &[u8]) -> std::io::Result<Vec<T>> {
        use std::io::BufRead;
        let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gz));
        reader.lines().map(|l| serde_json::from_str(&l?).map_err(std::io::Error::other)).collect()
    }
    Ok((rows(SESSIONS)?, rows(RESOURCES)?))
}
