//! The SQL the PostgreSQL source runs for each table of [`crate::sources::tables`], and typed
//! access to its rows.

use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::model::time;
use crate::sources::tables::{ColumnError, Columns, KeyType, Mapping, TableSpec, FLOW_OPTIONAL};

/// Quote an identifier for SQL (`"name"`, inner quotes doubled).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether PostgreSQL holds this table: not GitLab's ClickHouse-only tables (the session
/// aggregate, and replicas of PostgreSQL tables, which name their origin).
pub fn supported(spec: &TableSpec) -> bool {
    spec.origin.is_none() && !matches!(spec.mapping, Mapping::AgentSession { .. })
}

/// How each [`TableSpec`] is selected in PostgreSQL.
pub trait PgSql {
    fn select_list(&self, present: &dyn Fn(&str) -> bool) -> String;
    fn page_sql(&self, schema: &str, present: &dyn Fn(&str) -> bool, has_cursor: bool) -> String;
}

impl PgSql for TableSpec {
    /// The SELECT list: every column this mapping reads, in a fixed order, `NULL` for optional
    /// columns the table lacks.
    fn select_list(&self, present: &dyn Fn(&str) -> bool) -> String {
        let t = "t.";
        let opt = |col: &str, ty: &str| if present(col) { format!("{t}{}", ident(col)) } else { format!("NULL::{ty}") };
        let cols: Vec<String> = match self.mapping {
            // Both audit layouts select the same columns in the same order (see `audit_event`).
            Mapping::SplitAudit { scope_col, entity_type } => vec![
                "t.id".into(),
                "t.created_at".into(),
                "t.author_id".into(),
                "t.event_name".into(),
                "t.details".into(),
                "abbrev(t.ip_address)".into(),
                "t.author_name".into(),
                "t.entity_path".into(),
                "t.target_details".into(),
                "t.target_type".into(),
                "t.target_id".into(),
                scope_col.map_or("NULL::bigint".into(), |c| format!("t.{}", ident(c))),
                format!("'{entity_type}'::text"),
            ],
            Mapping::LegacyAudit => vec![
                "t.id",
                "t.created_at",
                "t.author_id",
                "NULL::text",
                "t.details",
                "abbrev(t.ip_address)",
                "t.author_name",
                "t.entity_path",
                "t.target_details",
                "t.target_type",
                "t.target_id",
                "t.entity_id",
                "t.entity_type::text",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            Mapping::AiAudit => vec![
                "t.id",
                "t.created_at",
                "t.cloud_event_id::text",
                "t.author_id",
                "t.project_id",
                "t.namespace_id",
                "t.event_name",
                "abbrev(t.ip_address)",
                "t.workflow_id",
                "t.details",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            Mapping::FlowStart | Mapping::FlowEnd => {
                let mut v: Vec<String> = vec![
                    "t.session_id::text",
                    "t.user_id",
                    "t.project_id",
                    "t.flow_type",
                    "t.input_prompt",
                    "t.input_context::text",
                    "t.started_at",
                    "t.completed_at",
                    "t.status",
                    "t.authorization_verified_at",
                    "t.authorization_method",
                    "t.authorized_scopes",
                    "t.plan_summary",
                    "t.decisions_log::text",
                ]
                .into_iter()
                .map(String::from)
                .collect();
                v.extend(FLOW_OPTIONAL.iter().map(|(c, ty)| opt(c, ty)));
                v
            }
            Mapping::FlowResource => {
                vec!["t.flow_session_id::text", "t.resource_type", "t.resource_id", "t.action", "t.created_at"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            }
            Mapping::DuoWorkflow => {
                let mut v: Vec<String> = vec![
                    "t.id",
                    "t.user_id",
                    "t.project_id",
                    "t.namespace_id",
                    "t.created_at",
                    "t.status::int",
                    "t.goal",
                    "t.workflow_definition",
                ]
                .into_iter()
                .map(String::from)
                .collect();
                v.push(opt("service_account_id", "bigint"));
                v.push(if present("tool_call_approvals") {
                    "t.tool_call_approvals::text".into()
                } else {
                    "NULL::text".into()
                });
                v.push(opt("title", "text"));
                v.push(opt("summary", "text"));
                v
            }
            Mapping::AgentSession { .. } => unreachable!("ClickHouse-only tables are filtered out by `supported`"),
            Mapping::DuoLink { id_col, .. } => {
                vec![
                    "t.id".into(),
                    "t.workflow_id".into(),
                    format!("t.{}", ident(id_col)),
                    "t.project_id".into(),
                    "t.namespace_id".into(),
                    "t.created_at".into(),
                ]
            }
        };
        cols.join(", ")
    }

    /// The page query: rows after the cursor (`$1` time, `$2…` key), within `[from, to)`
    /// (the next two parameters), in keyset order, at most the last parameter rows.
    fn page_sql(&self, schema: &str, present: &dyn Fn(&str) -> bool, has_cursor: bool) -> String {
        let table = format!("{}.{}", ident(schema), ident(&self.table));
        let time = format!("t.{}", ident(self.time_col));
        let key_cols: Vec<String> =
            std::iter::once(time.clone()).chain(self.key.iter().map(|(c, _)| format!("t.{}", ident(c)))).collect();
        let mut n = 0;
        let mut param = || {
            n += 1;
            format!("${n}")
        };
        let ts_type = if self.naive_time { "timestamp" } else { "timestamptz" };
        let mut conds = Vec::new();
        if has_cursor {
            let params: Vec<String> = std::iter::once(format!("{}::{ts_type}", param()))
                .chain(
                    self.key
                        .iter()
                        .map(|(_, ty)| format!("{}::{}", param(), if *ty == KeyType::Int { "bigint" } else { "text" })),
                )
                .collect();
            let lhs: Vec<String> = key_cols
                .iter()
                .enumerate()
                .map(
                    |(i, c)| if i > 0 && self.key[i - 1].1 == KeyType::Text { format!("{c}::text") } else { c.clone() },
                )
                .collect();
            conds.push(format!("({}) > ({})", lhs.join(", "), params.join(", ")));
        }
        conds.push(format!("{time} >= {}::{ts_type}", param()));
        conds.push(format!("{time} < {}::{ts_type}", param()));
        if self.mapping == Mapping::FlowEnd {
            conds.push(format!("{time} IS NOT NULL"));
        }
        let order: Vec<String> = key_cols
            .iter()
            .enumerate()
            .map(|(i, c)| if i > 0 && self.key[i - 1].1 == KeyType::Text { format!("{c}::text") } else { c.clone() })
            .collect();
        let (from, join_cols) = match self.mapping {
            Mapping::FlowResource => (
                format!(
                    "{table} t LEFT JOIN {}.{} s ON s.session_id = t.flow_session_id",
                    ident(schema),
                    ident("flow_sessions")
                ),
                ", s.user_id, s.project_id, s.flow_type, NULL::bigint".to_string(),
            ),
            _ => (format!("{table} t"), String::new()),
        };
        format!(
            "SELECT {}{join_cols} FROM {from} WHERE {} ORDER BY {} LIMIT {}",
            self.select_list(present),
            conds.join(" AND "),
            order.join(", "),
            param()
        )
    }
}

fn type_error(index: usize, e: sqlx::Error) -> ColumnError {
    ColumnError::Type { index, message: e.to_string() }
}

impl Columns for PgRow {
    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError> {
        match self.try_get::<Option<i64>, _>(i) {
            Ok(v) => Ok(v),
            Err(_) => self.try_get::<Option<i32>, _>(i).map(|v| v.map(i64::from)).map_err(|e| type_error(i, e)),
        }
    }

    fn text(&self, i: usize) -> Result<Option<String>, ColumnError> {
        self.try_get(i).map_err(|e| type_error(i, e))
    }

    fn time(&self, i: usize) -> Result<Option<time::Timestamp>, ColumnError> {
        match self.try_get::<Option<time::Timestamp>, _>(i) {
            Ok(v) => Ok(v),
            // `timestamp without time zone` (legacy audit_events): UTC by convention.
            Err(_) => self
                .try_get::<Option<chrono::NaiveDateTime>, _>(i)
                .map(|v| v.map(|t| t.and_utc()))
                .map_err(|e| type_error(i, e)),
        }
    }

    fn texts(&self, i: usize) -> Result<Option<Vec<String>>, ColumnError> {
        self.try_get(i).map_err(|e| type_error(i, e))
    }
}
