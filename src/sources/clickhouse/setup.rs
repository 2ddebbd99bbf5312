//! `db init` and `check` for ClickHouse: create the flow and AI audit tables
//! (`fixtures/sql/clickhouse/`) and, with `--with-demo`, load the bundled demo data, the same
//! rows PostgreSQL gets; report what the source can read.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::sql::{ident, TimeType};
use super::{ChConfig, Connection};
use crate::model::time::Timestamp;
use crate::model::SessionStatus;
use crate::sources::demo::{numbered, AiAuditRow, DemoData};
use crate::sources::postgres::setup::{ruby_yaml, InitReport, TableCheck};
use crate::sources::SourceError;

pub const DDL: &str = include_str!("../../../fixtures/sql/clickhouse/flow_tables.sql");
/// GitLab-shaped tables created (and loaded) with `--with-demo`.
pub const GITLAB_DDL: &str = include_str!("../../../fixtures/sql/clickhouse/gitlab_tables.sql");

/// The tables [`DDL`] creates.
pub const TABLES: &[&str] = &["ai_audit_events", "flow_sessions", "flow_session_resources"];
/// The tables [`GITLAB_DDL`] creates and the demo fills.
pub const GITLAB_TABLES: &[&str] = &["hierarchy_audit_events", "agent_platform_sessions"];

/// How this server stores times in the tables `db init` creates.
pub fn time_type(conn: &Connection) -> TimeType {
    // DateTime64 arrived in 20.1; older servers get Int64 microseconds.
    if conn.major() >= 20 {
        TimeType::DateTime64
    } else {
        TimeType::Micros
    }
}

/// DDL text for this server, statement by statement (`--` comments dropped).
pub fn statements(ddl: &str, database: &str, time: TimeType, major: u32) -> Vec<String> {
    let time_sql = match time {
        TimeType::DateTime64 => "DateTime64(6, 'UTC')",
        TimeType::DateTime => "DateTime('UTC')",
        TimeType::Micros => "Int64",
    };
    let state_time = if major >= 20 { format!("Nullable({time_sql})") } else { time_sql.to_string() };
    // Bool arrived in 22.3, ReplacingMergeTree's is_deleted argument in 23.2 (used from 24 on).
    let boolean = if major >= 23 { "Bool" } else { "UInt8" };
    let replacing = if major >= 24 { "version, deleted" } else { "version" };
    ddl.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("{db}", &ident(database))
                .replace("{state_time}", &state_time)
                .replace("{time}", time_sql)
                .replace("{bool}", boolean)
                .replace("{replacing}", replacing)
        })
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
    for stmt in statements(DDL, &database, time, conn.major()) {
        conn.execute(&stmt).await?;
    }
    let Some(demo) = demo else { return Ok(report) };
    for table in GITLAB_TABLES {
        if !before.contains_key(*table) {
            report.created.push(table.to_string());
        }
    }
    for stmt in statements(GITLAB_DDL, &database, time, conn.major()) {
        conn.execute(&stmt).await?;
    }
    for table in TABLES.iter().chain(GITLAB_TABLES) {
        let n = conn.text(&format!("SELECT count() FROM {}.{}", ident(&database), ident(table))).await?;
        if n.trim() != "0" {
            return Err(SourceError::Query(format!(
                "table {database}.{table} already has rows: refusing to load demo data into it (use an empty database)"
            )));
        }
    }
    let mut ai = Vec::new();
    let mut groups = Vec::new();
    for (id, ev) in numbered(&demo.events) {
        let scope = ev.scope.clone().unwrap_or_default();
        if scope.kind == "Group" && !ev.event_name.starts_with("duo_flow_") {
            // As GitLab replicates group_audit_events: same ids, Ruby-YAML details, '' for NULL.
            let target = ev.target.clone().unwrap_or_default();
            let group = scope.id.unwrap_or(0);
            groups.push(json!({
                "traversal_path": format!("{group}/"),
                "id": id,
                "group_id": group,
                "author_id": ev.actor.id.as_deref().and_then(|i| i.parse::<i64>().ok()).unwrap_or(0),
                "target_id": target.id.as_deref().and_then(|i| i.parse::<i64>().ok()).unwrap_or(0),
                "event_name": ev.event_name,
                "details": ruby_yaml(&ev.details),
                "ip_address": ev.ip_address.clone().unwrap_or_default(),
                "author_name": ev.actor.name.clone().unwrap_or_default(),
                "entity_path": scope.path.clone().unwrap_or_default(),
                "target_details": target.details.unwrap_or_default(),
                "target_type": target.kind.unwrap_or_default(),
                "created_at": time_value(time, &ev.time),
                "version": time_value(time, &ev.time),
                "deleted": 0,
            }));
        }
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
    // GitLab fills agent_platform_sessions from ai_usage_events through a materialized view;
    // the demo stages the same usage events and aggregates them the same way.
    let mut usage = Vec::new();
    for (n, s) in demo.sessions.iter().enumerate() {
        let mut push = |event: u16, at: &Timestamp| {
            usage.push(json!({
                "user_id": s.user_id,
                "namespace_path": format!("{}/", s.project_id.unwrap_or(0)),
                "project_id": s.project_id.unwrap_or(0),
                "session_id": n + 1,
                "flow_type": s.flow_type,
                "environment": "production",
                "event": event,
                "timestamp": time_value(time, at),
            }))
        };
        push(8, &s.started_at);
        push(9, &s.started_at);
        match (s.status, &s.completed_at) {
            (SessionStatus::Completed, Some(at)) => push(19, at),
            (SessionStatus::Failed, Some(at)) => push(20, at),
            _ => {}
        }
    }
    let usage_rows = usage.len();
    for (table, rows) in [
        ("ai_audit_events", ai),
        ("flow_sessions", sessions),
        ("flow_session_resources", resources),
        ("hierarchy_audit_events", groups),
        ("agent_sessions_load", usage),
    ] {
        for chunk in rows.chunks(20_000) {
            let mut body = Vec::new();
            for row in chunk {
                serde_json::to_writer(&mut body, row).expect("JSON values serialize");
                body.push(b'\n');
            }
            conn.insert(table, "JSONEachRow", body).await?;
        }
        if table != "agent_sessions_load" {
            report.loaded.push((table.to_string(), rows.len() as u64));
        }
    }
    let db = ident(&database);
    let states: Vec<String> = crate::sources::tables::AGENT_SESSION_EVENTS
        .iter()
        .map(|(code, col, _)| format!("anyIfState(toNullable(timestamp), event = {code}) AS {col}"))
        .collect();
    conn.execute(&format!(
        "INSERT INTO {db}.agent_platform_sessions SELECT user_id, namespace_path, project_id, session_id, flow_type, \
         environment, toUInt16(2026) AS session_year, {} FROM {db}.agent_sessions_load \
         GROUP BY user_id, namespace_path, project_id, session_id, flow_type, environment",
        states.join(", ")
    ))
    .await?;
    conn.execute(&format!("DROP TABLE {db}.agent_sessions_load")).await?;
    report.loaded.push(("agent_platform_sessions".into(), demo.sessions.len() as u64));
    tracing::debug!(usage_rows, "agent sessions aggregated from usage events");
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
        let mut check = TableCheck::new(&spec, have.map(|h| h.keys()));
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
        let old = statements(DDL, "gl test", TimeType::Micros, 18);
        assert_eq!(old.len(), 3);
        assert!(old[0].starts_with("CREATE TABLE IF NOT EXISTS `gl test`.ai_audit_events"), "{}", old[0]);
        assert!(old[1].contains("completed_at Nullable(Int64)"), "{}", old[1]);
        let new = statements(DDL, "gl", TimeType::DateTime64, 24);
        assert!(new[2].contains("created_at DateTime64(6, 'UTC')"), "{}", new[2]);
        assert!(!new.iter().any(|s| s.contains('{')));
        let gitlab = statements(GITLAB_DDL, "gl", TimeType::Micros, 18);
        assert!(gitlab[1].contains("AggregateFunction(anyIf, Int64, UInt8)"), "{}", gitlab[1]);
        assert!(gitlab[0].contains("ReplacingMergeTree(version)") && gitlab[0].contains("deleted UInt8"));
        let gitlab = statements(GITLAB_DDL, "gl", TimeType::DateTime64, 24);
        assert!(gitlab[1].contains("AggregateFunction(anyIf, Nullable(DateTime64(6, 'UTC')), UInt8)"));
        assert!(gitlab[0].contains("ReplacingMergeTree(version, deleted)") && gitlab[0].contains("deleted Bool"));
    }
}
