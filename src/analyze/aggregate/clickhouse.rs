//! Aggregations pushed down into ClickHouse: each [`Query`] runs as one `GROUP BY` over the
//! union of the tables' [`Fact`](super::Fact) projections, so only the small answer crosses
//! the network. Each table's projection mirrors what the source makes of its rows
//! ([`crate::sources::tables`]) and what [`Fact::of`](super::Fact::of) reads of the event.

use std::collections::HashMap;

use super::{AggregateError, Bucket, Cell, Query, Table};
use crate::range::TimeRange;
use crate::sources::clickhouse::sql::{ident, string, TimeType};
use crate::sources::clickhouse::{ChConfig, Connection};
use crate::sources::tables::{Mapping, TableSpec, AGENT_SESSION_EVENTS};
use crate::sources::SourceError;

/// A ClickHouse database to aggregate in.
pub struct ClickHouseAggregator {
    conn: Connection,
    facts: String,
    /// The tables the projection reads.
    tables: Vec<String>,
    /// Every table's columns (table → column → type), as read when opening.
    columns: HashMap<String, HashMap<String, String>>,
}

/// What an opened aggregator is made of, for the anomaly store.
pub struct Parts {
    pub conn: Connection,
    /// The projection's SQL.
    pub facts: String,
    /// The tables it reads.
    pub tables: Vec<String>,
    /// Every table's columns (table → column → type).
    pub columns: HashMap<String, HashMap<String, String>>,
}

/// The fact columns of the projection, in order.
pub const FACT_COLUMNS: [&str; 10] = [
    "time",
    "actor",
    "event_name",
    "ip",
    "session",
    "flow_type",
    "outcome",
    "input_tokens",
    "output_tokens",
    "project",
];

/// JSON field extraction (`kind` String or UInt): `JSONExtract*` where the server has it
/// (19.x on), else the simpler `visitParamExtract*` (18.16), which reads the first field of
/// that name.
pub fn json(major: u32, kind: &str, doc: &str, key: &str) -> String {
    let function = if major >= 20 { "JSONExtract" } else { "visitParamExtract" };
    format!("{function}{kind}({doc}, {})", string(key))
}

/// The facts of one table's rows, with the fact columns in order:
/// `time, actor, event_name, ip, session, flow_type, outcome, input_tokens, output_tokens, project`;
/// with `rows`, followed by what the anomaly heuristics keep of each event
/// ([`crate::analyze::anomalies::clickhouse::ROW_COLUMNS`]).
fn projection(
    spec: &TableSpec,
    database: &str,
    have: &HashMap<String, String>,
    all: &HashMap<String, HashMap<String, String>>,
    major: u32,
    rows: bool,
) -> Option<String> {
    let table = format!("{}.{}", ident(database), ident(&spec.table));
    let time = |c: &str| have.get(c).and_then(|t| TimeType::of(t)).map(|t| t.micros(&ident(c)));
    let text = |c: &str| format!("ifNull(toString({}), '')", ident(c));
    let cols: [String; 10];
    let from;
    let mut filter = String::new();
    match spec.mapping {
        Mapping::AiAudit => {
            let d = "ifNull(details, '')";
            let session = format!(
                "if({s} != '', {s}, {f})",
                s = json(major, "String", d, "session_id"),
                f = json(major, "String", d, "flow_session_id")
            );
            let flow = format!(
                "if({s} != '', {s}, {f})",
                s = json(major, "String", d, "flow_type"),
                f = json(major, "String", d, "workflow_definition")
            );
            let outcome = format!(
                "multiIf({o} = 'success', 'success', {o} = 'failure', 'failure', position(event_name, 'fail') > 0, 'failure', 'success')",
                o = json(major, "String", d, "outcome")
            );
            cols = [
                time("created_at")?,
                "toString(author_id)".into(),
                "event_name".into(),
                text("ip_address"),
                session,
                flow,
                outcome,
                json(major, "UInt", d, "input_tokens"),
                json(major, "UInt", d, "output_tokens"),
                "ifNull(toString(project_id), '')".into(),
            ];
            from = table;
        }
        Mapping::FlowStart | Mapping::FlowEnd => {
            let start = spec.mapping == Mapping::FlowStart;
            let actor = if have.contains_key("service_account_id") {
                "toString(ifNull(service_account_id, user_id))"
            } else {
                "toString(user_id)"
            };
            let tokens = |c: &str| {
                if !start && have.contains_key(c) {
                    format!("toUInt64(ifNull({c}, 0))")
                } else {
                    "toUInt64(0)".into()
                }
            };
            let (name, outcome) = if start {
                ("'duo_flow_started'".to_string(), "'success'".to_string())
            } else {
                (
                    "if(status = 'failed', 'duo_flow_failed', 'duo_flow_completed')".to_string(),
                    "if(status = 'failed', 'failure', 'success')".to_string(),
                )
            };
            cols = [
                time(spec.time_col)?,
                actor.into(),
                name,
                "''".into(),
                "toString(session_id)".into(),
                "flow_type".into(),
                outcome,
                tokens("input_tokens"),
                tokens("output_tokens"),
                "ifNull(toString(project_id), '')".into(),
            ];
            from = table;
            if !start {
                filter = format!(" WHERE {} IS NOT NULL", ident(spec.time_col));
            }
        }
        Mapping::FlowResource => {
            let joined = all.contains_key("flow_sessions");
            // Unmatched rows get the columns' defaults: '' for the flow type, NULL for the
            // (Nullable) project, as the source's NULLs become empty facts.
            let (flow, project) =
                if joined { ("s_flow_type", "ifNull(toString(s_project_id), '')") } else { ("''", "''") };
            cols = [
                time("created_at")?,
                "''".into(),
                "if(action = 'created', 'duo_flow_resource_created', 'duo_flow_resource_modified')".into(),
                "''".into(),
                "toString(flow_session_id)".into(),
                flow.into(),
                "'success'".into(),
                "toUInt64(0)".into(),
                "toUInt64(0)".into(),
                project.into(),
            ];
            from = if joined {
                format!(
                    "{table} ANY LEFT JOIN (SELECT toString(session_id) AS flow_session_id, flow_type AS s_flow_type, \
                     project_id AS s_project_id, toString(user_id) AS s_user FROM {}.{}) USING flow_session_id",
                    ident(database),
                    ident("flow_sessions")
                )
            } else {
                table
            };
        }
        Mapping::AgentSession { code } => {
            let name = AGENT_SESSION_EVENTS.iter().find(|(c, ..)| *c == code)?.2;
            let tt = TimeType::of_state(have.get(spec.time_col)?)?;
            let micros = tt.micros("at");
            cols = [
                micros.clone(),
                "toString(user_id)".into(),
                string(name),
                "''".into(),
                "toString(session_id)".into(),
                "flow_type".into(),
                string(if code == 20 { "failure" } else { "success" }),
                "toUInt64(0)".into(),
                "toUInt64(0)".into(),
                "if(project_id != 0, toString(project_id), '')".into(),
            ];
            from = format!(
                "(SELECT session_id, user_id, project_id, flow_type, anyIfMerge({}) AS at FROM {table} \
                 GROUP BY session_id, user_id, project_id, namespace_path, flow_type, environment)",
                ident(spec.time_col)
            );
            filter = format!(" WHERE {micros} > 0");
        }
        Mapping::SplitAudit { .. } => {
            let deleted = ["deleted", "_siphon_deleted"].into_iter().find(|c| have.contains_key(*c));
            cols = [
                time("created_at")?,
                "toString(author_id)".into(),
                "event_name".into(),
                "ip_address".into(),
                "''".into(),
                "''".into(),
                "if(position(event_name, 'fail') > 0, 'failure', 'success')".into(),
                "toUInt64(0)".into(),
                "toUInt64(0)".into(),
                "''".into(),
            ];
            from = format!("{table} FINAL");
            if let Some(d) = deleted {
                filter = format!(" WHERE {} = 0", ident(d));
            }
        }
        _ => return None,
    }
    let names = FACT_COLUMNS;
    // No fact column is Nullable (18.16 cannot UNION Nullable with plain columns).
    let mut select: Vec<String> = cols.iter().zip(names).map(|(e, n)| format!("assumeNotNull({e}) AS {n}")).collect();
    if rows {
        use crate::analyze::anomalies::clickhouse::{row_columns, ROW_COLUMNS};
        // A resource's human is its session's user (the join), or nobody without sessions.
        let session_user = if all.contains_key("flow_sessions") { "s_user" } else { "''" };
        let extra = row_columns(spec, have, major, &cols[1], session_user)?;
        select.extend(extra.iter().zip(ROW_COLUMNS).map(|(e, n)| format!("assumeNotNull({e}) AS {n}")));
    }
    Some(format!("SELECT {} FROM {from}{filter}", select.join(", ")))
}

impl ClickHouseAggregator {
    /// Connect and prepare the fact projection of every table present.
    pub async fn open(cfg: &ChConfig) -> Result<ClickHouseAggregator, SourceError> {
        Self::open_with(cfg, false).await
    }

    /// As [`open`](Self::open), with the anomaly heuristics' row columns in the projection.
    pub async fn open_rows(cfg: &ChConfig) -> Result<ClickHouseAggregator, SourceError> {
        Self::open_with(cfg, true).await
    }

    pub fn into_parts(self) -> Parts {
        Parts { conn: self.conn, facts: self.facts, tables: self.tables, columns: self.columns }
    }

    async fn open_with(cfg: &ChConfig, rows: bool) -> Result<ClickHouseAggregator, SourceError> {
        let conn = Connection::open(&cfg.url, cfg.database.as_deref()).await?;
        let cols = conn.columns().await?;
        let (mut specs, skipped) = crate::sources::clickhouse::usable(cfg.tables(), &cols);
        if specs.iter().any(|s| s.table == "hierarchy_audit_events") {
            specs.retain(|s| !s.table.starts_with("siphon_"));
        }
        if !skipped.is_empty() {
            tracing::debug!("aggregating without: {}", skipped.join("; "));
        }
        let major = conn.major();
        let mut tables = Vec::new();
        let mut parts: Vec<String> = Vec::new();
        for s in &specs {
            if let Some(p) = cols.get(&s.table).and_then(|have| projection(s, &conn.database, have, &cols, major, rows))
            {
                parts.push(p);
                tables.push(s.table.clone());
            }
        }
        tables.sort();
        tables.dedup();
        let facts = if parts.is_empty() {
            "SELECT toInt64(0) AS time, '' AS actor, '' AS event_name, '' AS ip, '' AS session, '' AS flow_type, \
             'success' AS outcome, toUInt64(0) AS input_tokens, toUInt64(0) AS output_tokens, '' AS project LIMIT 0"
                .to_string()
        } else {
            parts.join(" UNION ALL ")
        };
        Ok(ClickHouseAggregator { conn, facts, tables, columns: cols })
    }

    /// The SQL of a query over the facts within `range`.
    pub fn sql(&self, q: Query, range: &TimeRange) -> String {
        let mut conds = Vec::new();
        if let Some(f) = range.from {
            conds.push(format!("time >= {}", f.timestamp_micros()));
        }
        if let Some(t) = range.to {
            conds.push(format!("time < {}", t.timestamp_micros()));
        }
        let bucket = |b: Bucket| format!("intDiv(time, {m}) * {m}", m = b.micros());
        let (select, extra, group) = match q {
            Query::CountByActor(b) => (format!("actor, {} AS bucket, count()", bucket(b)), None, "actor, bucket"),
            Query::CountByEventName => ("event_name, count()".into(), None, "event_name"),
            Query::CountByFlow => ("flow_type, outcome, count()".into(), Some("flow_type != ''"), "flow_type, outcome"),
            Query::TokensByActor => (
                "actor, sum(input_tokens), sum(output_tokens)".into(),
                Some("(input_tokens > 0 OR output_tokens > 0)"),
                "actor",
            ),
            Query::TokensBySession => (
                "session, sum(input_tokens), sum(output_tokens)".into(),
                Some("(input_tokens > 0 OR output_tokens > 0) AND session != ''"),
                "session",
            ),
            Query::FirstSeen(a) => {
                let c = a.column();
                (format!("actor, {c} AS value, min(time)"), None, "actor, value")
            }
            Query::DistinctIpsByActor => ("actor, uniqExact(ip)".into(), Some("ip != ''"), "actor"),
            Query::Timeline(b) => (format!("{} AS bucket, count()", bucket(b)), None, "bucket"),
        };
        if let Query::FirstSeen(a) = q {
            conds.push(format!("{} != ''", a.column()));
        }
        conds.extend(extra.map(str::to_string));
        let filter = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        format!("SELECT {select} FROM ({}){filter} GROUP BY {group}", self.facts)
    }

    /// Answer `queries` within `range`, one `GROUP BY` each.
    pub async fn aggregate(&self, queries: &[Query], range: &TimeRange) -> Result<Vec<Table>, AggregateError> {
        let mut out = Vec::new();
        for q in queries {
            let rows = self.conn.rows(&self.sql(*q, range)).await?;
            let text_cols = match q {
                Query::CountByActor(_) | Query::TokensByActor | Query::DistinctIpsByActor => 1,
                Query::CountByEventName | Query::TokensBySession => 1,
                Query::CountByFlow | Query::FirstSeen(_) => 2,
                Query::Timeline(_) => 0,
            };
            let mut cells = Vec::with_capacity(rows.len());
            for r in rows {
                let mut row = Vec::with_capacity(r.fields());
                for i in 0..r.fields() {
                    let v = r.get(i).unwrap_or_default();
                    row.push(if i < text_cols {
                        Cell::Text(v)
                    } else {
                        Cell::Int(v.parse().map_err(|_| {
                            AggregateError::Engine(format!("ClickHouse answered {v:?} where a number belongs"))
                        })?)
                    });
                }
                cells.push(row);
            }
            out.push(Table::new(*q, cells, range));
        }
        Ok(out)
    }
}
