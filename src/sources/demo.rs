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

/// The demo dataset as rows to load into a database (`db init --with-demo`).
pub struct DemoData {
    pub events: Vec<crate::model::AuditEvent>,
    pub sessions: Vec<crate::model::FlowSession>,
    pub resources: Vec<crate::model::FlowSessionResource>,
}

/// The GitLab-side demo events with the row ids every database gets: agent-service log entries
/// stay logs (they have no GitLab table); the others are numbered 1, 2, … in order.
pub fn numbered(events: &[crate::model::AuditEvent]) -> impl Iterator<Item = (i64, &crate::model::AuditEvent)> {
    events.iter().filter(|e| e.origin.format != "agent_audit").zip(1i64..).map(|(e, id)| (id, e))
}

/// One `ai_audit_events` row of the demo data, the same for PostgreSQL and ClickHouse.
#[derive(Debug, Clone, PartialEq)]
pub struct AiAuditRow {
    pub id: i64,
    pub created_at: crate::model::Timestamp,
    pub cloud_event_id: String,
    pub author_id: i64,
    pub project_id: Option<i64>,
    pub namespace_id: Option<i64>,
    pub event_name: String,
    pub ip_address: Option<String>,
    pub workflow_id: Option<i64>,
    /// JSON text, with the author name and entity path kept (the table has no columns for them).
    pub details: String,
}

impl AiAuditRow {
    /// The row for an agent-platform event (`duo_flow_*`), `None` for other events.
    pub fn of(id: i64, ev: &crate::model::AuditEvent) -> Option<AiAuditRow> {
        if !ev.event_name.starts_with("duo_flow_") {
            return None;
        }
        let ai = ev.ai.clone().unwrap_or_default();
        let scope = ev.scope.clone().unwrap_or_default();
        let is_project = scope.kind == "Project";
        let mut d = ev.details.to_map();
        if let Some(name) = &ev.actor.name {
            d.entry("author_name").or_insert(serde_json::Value::String(name.clone()));
        }
        if let Some(path) = &scope.path {
            d.entry("entity_path").or_insert(serde_json::Value::String(path.clone()));
        }
        let cloud = ai.cloud_event_id.as_deref().and_then(|c| uuid::Uuid::parse_str(c).ok());
        Some(AiAuditRow {
            id,
            created_at: ev.time,
            cloud_event_id: cloud.unwrap_or_else(|| uuid::Uuid::from_u128(id as u128)).to_string(),
            author_id: ev.actor.id.as_deref().and_then(|i| i.parse::<i64>().ok()).unwrap_or(0),
            project_id: if is_project { scope.id } else { None },
            namespace_id: if is_project { None } else { Some(scope.id.unwrap_or(0)) },
            event_name: ev.event_name.clone(),
            ip_address: ev.ip_address.clone(),
            workflow_id: ai.workflow_id,
            details: serde_json::Value::Object(d).to_string(),
        })
    }
}
