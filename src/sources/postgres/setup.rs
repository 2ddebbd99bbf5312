//! `db init`: create the flow-session tables and, with `--with-demo`, GitLab-shaped audit tables
//! loaded with the bundled demo data (audit tables get Ruby-YAML details, as GitLab writes them).

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};

use super::sql::ident;
use crate::model::{AuditEvent, Details, FlowSession, FlowSessionResource};
use crate::sources::demo::{numbered, AiAuditRow};
use crate::sources::SourceError;

pub const FLOW_DDL: &str = include_str!("../../../fixtures/sql/postgres/flow_sessions.sql");
pub const GITLAB_DDL: &str = include_str!("../../../fixtures/sql/postgres/gitlab_audit.sql");

/// Partitioned tables of [`GITLAB_DDL`].
pub const PARTITIONED: &[&str] = &[
    "audit_events",
    "project_audit_events",
    "group_audit_events",
    "user_audit_events",
    "instance_audit_events",
    "ai_audit_events",
];

/// What `db init` did.
#[derive(Debug, Default)]
pub struct InitReport {
    pub created: Vec<String>,
    pub loaded: Vec<(String, u64)>,
}

fn sql_err(what: &str) -> impl Fn(sqlx::Error) -> SourceError + '_ {
    move |e| SourceError::Query(format!("{what}: {e}"))
}

async fn exists(conn: &mut PgConnection, schema: &str, table: &str) -> Result<bool, SourceError> {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2)",
    )
    .bind(schema)
    .bind(table)
    .fetch_one(&mut *conn)
    .await
    .map_err(sql_err("cannot inspect tables"))
}

/// Create the flow tables (and with `demo`, the GitLab-shaped tables, partitions and data).
pub async fn init(conn: &mut PgConnection, schema: &str, demo: Option<&DemoData>) -> Result<InitReport, SourceError> {
    let mut report = InitReport::default();
    let mut tx = conn.begin().await.map_err(sql_err("cannot begin"))?;
    let schema_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_err("cannot inspect schemas"))?;
    if !schema_exists {
        sqlx::query(&format!("CREATE SCHEMA {}", ident(schema)))
            .execute(&mut *tx)
            .await
            .map_err(sql_err("cannot create schema"))?;
    }
    sqlx::query(&format!("SET LOCAL search_path TO {}", ident(schema)))
        .execute(&mut *tx)
        .await
        .map_err(sql_err("cannot set search_path"))?;
    let mut ddl = vec![("flow_sessions", FLOW_DDL)];
    if demo.is_some() {
        ddl.push(("ai_audit_events", GITLAB_DDL));
    }
    for (probe, text) in ddl {
        if !exists(&mut tx, schema, probe).await? {
            report.created.push(probe.to_string());
        }
        sqlx::raw_sql(text).execute(&mut *tx).await.map_err(sql_err("cannot create tables"))?;
    }
    if let Some(demo) = demo {
        for table in PARTITIONED.iter().chain(&["flow_sessions", "flow_session_resources"]) {
            let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", ident(table)))
                .fetch_one(&mut *tx)
                .await
                .map_err(sql_err("cannot inspect tables"))?;
            if any {
                return Err(SourceError::Query(format!(
                    "table {schema}.{table} already has rows: refusing to load demo data into it (use an empty database or schema)"
                )));
            }
        }
        create_partitions(&mut tx, demo).await?;
        report.loaded = load(&mut tx, demo).await?;
    }
    tx.commit().await.map_err(sql_err("cannot commit"))?;
    Ok(report)
}

/// Monthly partitions over the demo period, plus a default partition, and the keyset index.
async fn create_partitions(conn: &mut PgConnection, demo: &DemoData) -> Result<(), SourceError> {
    let months: BTreeSet<(i32, u32)> = demo.events.iter().map(|e| (e.time.year(), e.time.month())).collect();
    for table in PARTITIONED {
        for (y, m) in &months {
            let start = NaiveDate::from_ymd_opt(*y, *m, 1).expect("valid month");
            let end = start.checked_add_months(chrono::Months::new(1)).expect("valid month");
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ('{start}') TO ('{end}')",
                ident(&format!("{table}_{y}{m:02}")),
                ident(table)
            );
            sqlx::query(&sql).execute(&mut *conn).await.map_err(sql_err("cannot create partition"))?;
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT",
            ident(&format!("{table}_default")),
            ident(table)
        );
        sqlx::query(&sql).execute(&mut *conn).await.map_err(sql_err("cannot create partition"))?;
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (created_at, id)",
            ident(&format!("{table}_created_at_id")),
            ident(table)
        );
        sqlx::query(&sql).execute(&mut *conn).await.map_err(sql_err("cannot create index"))?;
    }
    Ok(())
}

pub use crate::sources::demo::DemoData;

/// A details map as GitLab stores it: a YAML-serialized Ruby hash with symbol keys.
/// Scalars are written as YAML double-quoted strings (JSON-compatible), nested values in flow style.
pub fn ruby_yaml(details: &Details) -> String {
    let mut out = String::from("---\n");
    for (k, raw) in details.iter_raw() {
        out.push(':');
        out.push_str(&k);
        out.push(':');
        if raw != "null" {
            out.push(' ');
            out.push_str(raw);
        }
        out.push('\n');
    }
    out
}

#[derive(Default)]
struct AuditRows {
    ids: Vec<i64>,
    times: Vec<chrono::DateTime<chrono::Utc>>,
    scope: Vec<i64>,
    authors: Vec<i64>,
    target_ids: Vec<Option<i64>>,
    names: Vec<Option<String>>,
    details: Vec<Option<String>>,
    ips: Vec<Option<String>>,
    author_names: Vec<Option<String>>,
    paths: Vec<Option<String>>,
    target_details: Vec<Option<String>>,
    target_types: Vec<Option<String>>,
    entity_types: Vec<String>,
}

impl AuditRows {
    fn push(&mut self, id: i64, ev: &AuditEvent, details: String) {
        let target = ev.target.clone().unwrap_or_default();
        self.ids.push(id);
        self.times.push(ev.time);
        self.scope.push(ev.scope.as_ref().and_then(|s| s.id).unwrap_or(0));
        self.authors.push(ev.actor.id.as_deref().and_then(|i| i.parse().ok()).unwrap_or(0));
        self.target_ids.push(target.id.as_deref().and_then(|i| i.parse().ok()));
        self.names.push(Some(ev.event_name.clone()));
        self.details.push(Some(details));
        self.ips.push(ev.ip_address.clone());
        self.author_names.push(ev.actor.name.clone());
        self.paths.push(ev.scope.as_ref().and_then(|s| s.path.clone()));
        self.target_details.push(target.details);
        self.target_types.push(target.kind);
        self.entity_types.push(ev.scope.as_ref().map(|s| s.kind.clone()).unwrap_or_else(|| "Instance".into()));
    }

    /// Insert the rows into a split table (`scope_col` holds the scope id; none for instance
    /// events) or, with `legacy`, into `audit_events` (entity columns, no event_name, naive time).
    async fn insert(
        &self,
        conn: &mut PgConnection,
        table: &str,
        scope_col: Option<&str>,
        legacy: bool,
    ) -> Result<u64, SourceError> {
        let naive: Vec<chrono::NaiveDateTime> = self.times.iter().map(|t| t.naive_utc()).collect();
        let mut cols = vec![("id", "bigint[]"), ("created_at", if legacy { "timestamp[]" } else { "timestamptz[]" })];
        if let Some(c) = scope_col {
            cols.push((c, "bigint[]"));
        }
        if legacy {
            cols.push(("entity_type", "text[]"));
        }
        cols.extend([("author_id", "bigint[]"), ("target_id", "bigint[]")]);
        if !legacy {
            cols.push(("event_name", "text[]"));
        }
        cols.extend([
            ("details", "text[]"),
            ("ip_address", "inet[]"),
            ("author_name", "text[]"),
            ("entity_path", "text[]"),
            ("target_details", "text[]"),
            ("target_type", "text[]"),
        ]);
        let names: Vec<String> = cols.iter().map(|(c, _)| ident(c)).collect();
        let params: Vec<String> = cols.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}", i + 1)).collect();
        let sql =
            format!("INSERT INTO {} ({}) SELECT * FROM UNNEST({})", ident(table), names.join(", "), params.join(", "));
        let mut q = sqlx::query(&sql).bind(&self.ids);
        q = if legacy { q.bind(&naive) } else { q.bind(&self.times) };
        if scope_col.is_some() {
            q = q.bind(&self.scope);
        }
        if legacy {
            q = q.bind(&self.entity_types);
        }
        q = q.bind(&self.authors).bind(&self.target_ids);
        if !legacy {
            q = q.bind(&self.names);
        }
        let r = q
            .bind(&self.details)
            .bind(&self.ips)
            .bind(&self.author_names)
            .bind(&self.paths)
            .bind(&self.target_details)
            .bind(&self.target_types)
            .execute(&mut *conn)
            .await
            .map_err(sql_err("cannot load demo audit events"))?;
        Ok(r.rows_affected())
    }
}

/// Load the demo data: `duo_flow_*` events into `ai_audit_events` (JSON details), other GitLab
/// events into the split tables by scope (Ruby-YAML details; sign-ins of the first 30 days
/// into the legacy `audit_events`), sessions and resources into the flow tables.
/// Agent-service log entries stay logs (they have no GitLab table).
async fn load(conn: &mut PgConnection, demo: &DemoData) -> Result<Vec<(String, u64)>, SourceError> {
    let first = demo.events.iter().map(|e| e.time).min();
    let legacy_until = first.map(|t| t + chrono::Duration::days(30));
    let mut split: std::collections::BTreeMap<&str, AuditRows> = Default::default();
    let mut legacy = AuditRows::default();
    let (
        mut ai_ids,
        mut ai_times,
        mut ai_cloud,
        mut ai_authors,
        mut ai_projects,
        mut ai_namespaces,
        mut ai_names,
        mut ai_ips,
        mut ai_workflows,
        mut ai_details,
    ) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut next_id = 0i64;
    for (id, ev) in numbered(&demo.events) {
        next_id = id;
        if let Some(row) = AiAuditRow::of(id, ev) {
            ai_ids.push(row.id);
            ai_times.push(row.created_at);
            ai_cloud.push(uuid::Uuid::parse_str(&row.cloud_event_id).expect("demo cloud event ids are UUIDs"));
            ai_authors.push(row.author_id);
            ai_projects.push(row.project_id);
            ai_namespaces.push(row.namespace_id);
            ai_names.push(row.event_name);
            ai_ips.push(row.ip_address);
            ai_workflows.push(row.workflow_id);
            ai_details.push(row.details);
            continue;
        }
        let yaml = ruby_yaml(&ev.details);
        let kind = ev.scope.as_ref().map(|s| s.kind.as_str()).unwrap_or("Instance");
        if ev.origin.format == "gitlab_audit_log"
            && legacy_until.is_some_and(|u| ev.time < u)
            && ev.event_name.starts_with("authenticated_with_")
        {
            // The legacy table has no event_name column: GitLab keeps it in the details.
            let mut d = ev.details.clone();
            d.insert("event_name", Value::String(ev.event_name.clone()));
            legacy.push(next_id, ev, ruby_yaml(&d));
            continue;
        }
        let table = match kind {
            "Project" => "project_audit_events",
            "Group" => "group_audit_events",
            "User" => "user_audit_events",
            _ => "instance_audit_events",
        };
        split.entry(table).or_default().push(next_id, ev, yaml);
    }
    let mut loaded = Vec::new();
    for (table, rows) in &split {
        let scope_col = match *table {
            "project_audit_events" => Some("project_id"),
            "group_audit_events" => Some("group_id"),
            "user_audit_events" => Some("user_id"),
            _ => None,
        };
        loaded.push((table.to_string(), rows.insert(conn, table, scope_col, false).await?));
    }
    loaded.push(("audit_events".into(), legacy.insert(conn, "audit_events", Some("entity_id"), true).await?));
    let r = sqlx::query(
        "INSERT INTO ai_audit_events (id, created_at, cloud_event_id, author_id, project_id, namespace_id, event_name, ip_address, workflow_id, details) \
         SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::inet[], $9::bigint[], $10::text[])",
    )
    .bind(&ai_ids)
    .bind(&ai_times)
    .bind(&ai_cloud)
    .bind(&ai_authors)
    .bind(&ai_projects)
    .bind(&ai_namespaces)
    .bind(&ai_names)
    .bind(&ai_ips)
    .bind(&ai_workflows)
    .bind(&ai_details)
    .execute(&mut *conn)
    .await
    .map_err(sql_err("cannot load demo AI audit events"))?;
    loaded.push(("ai_audit_events".into(), r.rows_affected()));
    for (seq, max) in [("audit_events_id_seq", next_id), ("ai_audit_events_id_seq", next_id)] {
        sqlx::query("SELECT setval($1, $2)")
            .bind(seq)
            .bind(max.max(1))
            .execute(&mut *conn)
            .await
            .map_err(sql_err("cannot set sequence"))?;
    }
    loaded.push(("flow_sessions".into(), load_sessions(conn, &demo.sessions).await?));
    loaded.push(("flow_session_resources".into(), load_resources(conn, &demo.resources).await?));
    Ok(loaded)
}

async fn load_sessions(conn: &mut PgConnection, sessions: &[FlowSession]) -> Result<u64, SourceError> {
    let mut n = 0;
    for chunk in sessions.chunks(2000) {
        let col = |f: &dyn Fn(&FlowSession) -> Option<String>| chunk.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<uuid::Uuid> =
            chunk.iter().map(|s| uuid::Uuid::parse_str(&s.session_id).unwrap_or_default()).collect();
        let users: Vec<i64> = chunk.iter().map(|s| s.user_id).collect();
        let projects: Vec<Option<i64>> = chunk.iter().map(|s| s.project_id).collect();
        let sas: Vec<Option<i64>> = chunk.iter().map(|s| s.service_account_id).collect();
        let started: Vec<_> = chunk.iter().map(|s| s.started_at).collect();
        let completed: Vec<_> = chunk.iter().map(|s| s.completed_at).collect();
        let verified: Vec<_> = chunk.iter().map(|s| s.authorization_verified_at).collect();
        // Arrays of arrays cannot be bound; scopes travel as JSON and are unpacked in SQL.
        let scopes: Vec<String> =
            chunk.iter().map(|s| serde_json::to_string(&s.authorized_scopes).expect("strings")).collect();
        let tin: Vec<i64> = chunk.iter().map(|s| s.input_tokens as i64).collect();
        let tout: Vec<i64> = chunk.iter().map(|s| s.output_tokens as i64).collect();
        let r = sqlx::query(
            "INSERT INTO flow_sessions (session_id, user_id, project_id, flow_type, input_prompt, input_context, started_at, completed_at, status, \
             authorization_verified_at, authorization_method, authorized_scopes, plan_summary, decisions_log, service_account_id, input_tokens, output_tokens, \
             model_provider, model_engine, correlation_id) \
             SELECT u.id, u.usr, u.project, u.flow, u.prompt, u.ctx::jsonb, u.started, u.completed, u.status, u.verified, u.method, \
             CASE WHEN u.scopes = '[]' THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.scopes::jsonb)) END, u.plan, u.decisions::jsonb, u.sa, u.tin, u.tout, u.provider, u.engine, u.corr \
             FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::timestamptz[], \
             $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[]) \
             AS u(id, usr, project, flow, prompt, ctx, started, completed, status, verified, method, scopes, plan, decisions, sa, tin, tout, provider, engine, corr)",
        )
        .bind(&ids)
        .bind(&users)
        .bind(&projects)
        .bind(col(&|s| Some(s.flow_type.clone())))
        .bind(col(&|s| s.input_prompt.clone()))
        .bind(col(&|s| s.input_context.as_ref().map(Value::to_string)))
        .bind(&started)
        .bind(&completed)
        .bind(col(&|s| Some(s.status.as_str().to_string())))
        .bind(&verified)
        .bind(col(&|s| s.authorization_method.clone()))
        .bind(&scopes)
        .bind(col(&|s| s.plan_summary.clone()))
        .bind(col(&|s| s.decisions_log.as_ref().map(Value::to_string)))
        .bind(&sas)
        .bind(&tin)
        .bind(&tout)
        .bind(col(&|s| s.model_provider.clone()))
        .bind(col(&|s| s.model_engine.clone()))
        .bind(col(&|s| s.correlation_id.clone()))
        .execute(&mut *conn)
        .await
        .map_err(sql_err("cannot load demo sessions"))?;
        n += r.rows_affected();
    }
    Ok(n)
}

async fn load_resources(conn: &mut PgConnection, resources: &[FlowSessionResource]) -> Result<u64, SourceError> {
    let mut n = 0;
    for chunk in resources.chunks(5000) {
        let ids: Vec<uuid::Uuid> =
            chunk.iter().map(|r| uuid::Uuid::parse_str(&r.flow_session_id).unwrap_or_default()).collect();
        let kinds: Vec<&str> = chunk.iter().map(|r| r.resource_type.as_str()).collect();
        let rids: Vec<&str> = chunk.iter().map(|r| r.resource_id.as_str()).collect();
        let actions: Vec<&str> = chunk.iter().map(|r| r.action.as_str()).collect();
        let times: Vec<_> = chunk.iter().map(|r| r.created_at).collect();
        let r = sqlx::query(
            "INSERT INTO flow_session_resources (flow_session_id, resource_type, resource_id, action, created_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])",
        )
        .bind(&ids)
        .bind(&kinds)
        .bind(&rids)
        .bind(&actions)
        .bind(&times)
        .execute(&mut *conn)
        .await
        .map_err(sql_err("cannot load demo resources"))?;
        n += r.rows_affected();
    }
    Ok(n)
}

/// `check`: per table, whether it was found, its columns, rows in range and read permission.
pub async fn check(conn: &mut PgConnection, cfg: &super::PgConfig) -> Result<Vec<TableCheck>, SourceError> {
    let cols = super::columns(conn, &cfg.schema).await.map_err(sql_err("cannot list tables"))?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for spec in cfg.tables() {
        if !seen.insert(spec.table.clone()) {
            continue;
        }
        let mut check = TableCheck::new(&spec, cols.get(&spec.table).map(|h| h.iter()));
        if check.found {
            let readable: bool =
                sqlx::query("SELECT has_table_privilege(format('%I.%I', $1::text, $2::text), 'SELECT')")
                    .bind(&cfg.schema)
                    .bind(&spec.table)
                    .fetch_one(&mut *conn)
                    .await
                    .map(|r| r.get::<bool, _>(0))
                    .unwrap_or(false);
            check.readable = readable;
            if readable && check.missing.is_empty() {
                let time = ident(spec.time_col);
                let from = cfg.from.unwrap_or(chrono::DateTime::UNIX_EPOCH);
                let to = cfg.to.unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::days(36500));
                let cast = if spec.naive_time { "timestamp" } else { "timestamptz" };
                let sql = format!(
                    "SELECT count(*) FROM {}.{} WHERE {time} >= $1::{cast} AND {time} < $2::{cast}",
                    ident(&cfg.schema),
                    ident(&spec.table)
                );
                let q = sqlx::query_scalar::<_, i64>(&sql);
                let q =
                    if spec.naive_time { q.bind(from.naive_utc()).bind(to.naive_utc()) } else { q.bind(from).bind(to) };
                check.rows = q.fetch_one(&mut *conn).await.ok();
            }
        }
        out.push(check);
    }
    Ok(out)
}

/// One line of `check`.
#[derive(Debug, serde::Serialize)]
pub struct TableCheck {
    pub table: String,
    pub found: bool,
    pub readable: bool,
    pub missing: Vec<String>,
    pub rows: Option<i64>,
    pub columns: Vec<String>,
}

impl TableCheck {
    /// What the table's `columns` (`None`: no such table) say; readability and rows are
    /// filled in by the database's own check.
    pub fn new<'a>(
        spec: &crate::sources::tables::TableSpec,
        columns: Option<impl Iterator<Item = &'a String>>,
    ) -> TableCheck {
        let columns: Option<BTreeSet<String>> = columns.map(|c| c.cloned().collect());
        let missing = spec
            .required
            .iter()
            .filter(|c| columns.as_ref().is_none_or(|h| !h.contains(**c)))
            .map(|c| c.to_string())
            .collect();
        TableCheck {
            table: spec.table.clone(),
            found: columns.is_some(),
            readable: false,
            missing,
            rows: None,
            columns: columns.map(|c| c.into_iter().collect()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_yaml_round_trips_through_the_details_parser() {
        let d = Details::from_json(r#"{"a":"x: \"y\"\n","b":null,"c":{"k":[1,"two"]},"d":1.5,"e":":sym"}"#).unwrap();
        let text = ruby_yaml(&d);
        assert_eq!(text, "---\n:a: \"x: \\\"y\\\"\\n\"\n:b:\n:c: {\"k\":[1,\"two\"]}\n:d: 1.5\n:e: \":sym\"\n");
        assert_eq!(crate::sources::details::parse(&text).unwrap(), d);
    }
}
