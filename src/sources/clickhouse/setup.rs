//! `db init` and `check` for ClickHouse: create the flow and AI audit tables
//! (`fixtures/sql/clickhouse/`) and, with `--with-demo`, load the bundled demo data, the same
//! rows PostgreSQL gets; report what the source can read.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::sql::{ident, TimeType};
use super::{ChConfig, Connection};
use crate::model::time::Timestamp;
use crate::sources::demo::{numbered, AiAuditRow, DemoData};
use crate::sources::postgres::setup::{InitReport, TableCheck};
use crate::sources::SourceError;

pub const DDL: &str = include_str!("../../../fixtures/sql/clickhouse/flow_tables.sql");

/// The tables [`DDL`] creates.
pub const TABLES: &[&str] = &["ai_audit_events", "flow_sessions", "flow_session_resources"];

/// How this server stores times in the tables `db init` creates.
pub fn time_type(conn: &Connection) -> TimeType {
    // DateTime64 arrived in 20.1; older servers get Int64 microseconds.
    if conn.major() >= 20 {
        TimeType::DateTime64
    } else {
        TimeType::Micros
    }
}

/// The DDL for this server, statement by statement.
pub fn statements(database: &str, time: TimeType) -> Vec<String> {
    let time_sql = match time {
        TimeType::DateTime64 => "DateTime64(6, 'UTC')",
        TimeType::DateTime => "DateTime('UTC')",
        TimeType::Micros => "Int64",
    };
    DDL.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("{db}", &ident(database)).replace("{time}", time_sql))
        .collect()
}

fn time_value(time: TimeType, t: &Timestamp) -> Value {
    match time {
        TimeType::Micros => json!(t.timestamp_micros()),
        _ => json!(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
    }
}

/// Create the database (if missing) and the tables; with `demo`, load it into empty tables.
pub async fn init(url: &str, database: Option<&str>, demo: Option<&DemoData>) -> Result<InitReport, SourceError> {
    let ep = super::Endpoint::parse(url)?;
    let database = database.map(str::to_string).unwrap_or(ep.database.clone());
    let admin = Connection::connect(url, "default").await?;
    admin.execute(&format!("CREATE DATABASE IF NOT EXISTS {}", ident(&database))).await?;
    let conn = Connection::open(url, Some(&database)).await?;
    let time = time_type(&conn);
    let before = conn.columns().await?;
    let mut report = InitReport::default();
    for table in TABLES {
        if !before.contains_key(*table) {
            report.created.push(table.to_string());
        }
    }
    for stmt in statements(&database, time) {
        conn.execute(&stmt).await?;
    }
    let Some(demo) = demo else { return Ok(report) };
    for table in TABLES {
        let n = conn.text(&format!("SELECT count() FROM {}.{}", ident(&database), ident(table))).await?;
        if n.trim() != "0" {
            return Err(SourceError::Query(format!(
                "table {database}.{table} already has rows: refusing to load demo data into it (use an empty database)"
            )));
        }
    }
    let mut ai = Vec::new();
    for (id, ev) in numbered(&demo.events) {
        if let Some(r) = AiAuditRow::of(id, ev) {
            ai.push(json!({
                "id": r.id,
                "created_at": time_value(time, &r.created_at),
                "cloud_event_id": r.cloud_event_id,
                "author_id": r.author_id,
                "project_id": r.project_id,
                "namespace_id": r.namespace_id,
                "event_name": r.event_name,
                "ip_address": r.ip_address,
                "workflow_id": r.workflow_id,
                "details": r.details,
            }));
        }
    }
    let sessions: Vec<Value> = demo
        .sessions
        .iter()
        .map(|s| {
            json!({
                "session_id": s.session_id,
                "user_id": s.user_id,
                "service_account_id": s.service_account_id,
                "project_id": s.project_id,
                "flow_type": s.flow_type,
                "input_prompt": s.input_prompt,
                "input_context": s.input_context.as_ref().map(Value::to_string),
                "started_at": time_value(time, &s.started_at),
                "completed_at": s.completed_at.as_ref().map(|t| time_value(time, t)),
                "status": s.status.as_str(),
                "authorization_verified_at": s.authorization_verified_at.as_ref().map(|t| time_value(time, t)),
                "authorization_method": s.authorization_method,
                "authorized_scopes": s.authorized_scopes,
                "plan_summary": s.plan_summary,
                "decisions_log": s.decisions_log.as_ref().map(Value::to_string),
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "model_provider": s.model_provider,
                "model_engine": s.model_engine,
                "correlation_id": s.correlation_id,
            })
        })
        .collect();
    let resources: Vec<Value> = demo
        .resources
        .iter()
        .map(|r| {
            json!({
                "flow_session_id": r.flow_session_id,
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "action": r.action,
                "created_at": time_value(time, &r.created_at),
            })
        })
        .collect();
    for (table, rows) in [("ai_audit_events", ai), ("flow_sessions", sessions), ("flow_session_resources", resources)] {
        for chunk in rows.chunks(20_000) {
            let mut body = Vec::new();
            for row in chunk {
                serde_json::to_writer(&mut body, row).expect("JSON values serialize");
                body.push(b'\n');
            }
            conn.insert(table, "JSONEachRow", body).await?;
        }
        report.loaded.push((table.to_string(), rows.len() as u64));
    }
    Ok(report)
}

/// `check`: per table, whether it was found, its columns, rows in range and read permission.
pub async fn check(cfg: &ChConfig) -> Result<(Connection, Vec<TableCheck>), SourceError> {
    let conn = Connection::open(&cfg.url, cfg.database.as_deref()).await?;
    let cols = conn.columns().await?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for spec in cfg.tables() {
        if !seen.insert(spec.table.clone()) {
            continue;
        }
        let have = cols.get(&spec.table);
        let missing: Vec<String> =
            spec.required.iter().filter(|c| have.is_none_or(|h| !h.contains_key(**c))).map(|c| c.to_string()).collect();
        let mut check = TableCheck {
            table: spec.table.clone(),
            found: have.is_some(),
            missing,
            readable: false,
            rows: None,
            columns: have.map(|h| h.keys().cloned().collect::<BTreeSet<_>>().into_iter().collect()).unwrap_or_default(),
        };
        if let Some(have) = have.filter(|_| check.missing.is_empty()) {
            let time = have.get(spec.time_col).and_then(|t| TimeType::of(t));
            let range = match (time, cfg.from, cfg.to) {
                (Some(tt), from, to) => {
                    let col = ident(spec.time_col);
                    let mut conds = Vec::new();
                    if let Some(f) = from {
                        conds.push(format!("{col} >= {}", tt.literal(f)));
                    }
                    if let Some(t) = to {
                        conds.push(format!("{col} < {}", tt.literal(t)));
                    }
                    if conds.is_empty() {
                        String::new()
                    } else {
                        format!(" WHERE {}", conds.join(" AND "))
                    }
                }
                (None, ..) => String::new(),
            };
            let sql = format!("SELECT count() FROM {}.{}{range}", ident(&conn.database), ident(&spec.table));
            if let Ok(n) = conn.text(&sql).await {
                check.readable = true;
                check.rows = n.trim().parse().ok();
            }
        }
        out.push(check);
    }
    Ok((conn, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_per_server_generation() {
        let old = statements("gl test", TimeType::Micros);
        assert_eq!(old.len(), 3);
        assert!(old[0].starts_with("CREATE TABLE IF NOT EXISTS `gl test`.ai_audit_events"), "{}", old[0]);
        assert!(old[1].contains("completed_at Nullable(Int64)"), "{}", old[1]);
        let new = statements("gl", TimeType::DateTime64);
        assert!(new[2].contains("created_at DateTime64(6, 'UTC')"), "{}", new[2]);
        assert!(!new.iter().any(|s| s.contains('{')));
    }
}
