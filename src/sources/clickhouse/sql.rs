//! The SQL the ClickHouse source runs: for each table of [`crate::sources::tables`] it reads, the
//! same columns in the same order as PostgreSQL's, time columns as microseconds since the epoch.

use std::collections::HashMap;

use crate::checkpoint::Position;
use crate::model::time::Timestamp;
use crate::sources::tables::{KeyType, Mapping, TableSpec, FLOW_OPTIONAL};

/// Whether ClickHouse holds this table: AI audit events, flow sessions, GitLab's session
/// aggregate, and replicas of PostgreSQL audit tables (GitLab keeps the others in PostgreSQL only).
pub fn supported(spec: &TableSpec) -> bool {
    match spec.mapping {
        Mapping::AiAudit
        | Mapping::FlowStart
        | Mapping::FlowEnd
        | Mapping::FlowResource
        | Mapping::AgentSession { .. } => true,
        Mapping::SplitAudit { .. } => spec.origin.is_some(),
        _ => false,
    }
}

/// Quote an identifier: `` `name` ``.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// Quote a string literal: `'text'` with `\` and `'` escaped.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// How a time column is stored, which decides how it is selected and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeType {
    /// `DateTime64(p)`: current releases, as GitLab creates its tables.
    DateTime64,
    /// `DateTime`: whole seconds.
    DateTime,
    /// An integer of microseconds since the epoch: servers without `DateTime64` (before 20.1,
    /// e.g. Debian's 18.16), where the test tables store times this way.
    Micros,
}

impl TimeType {
    /// From a column type as `system.columns` gives it.
    pub fn of(column_type: &str) -> Option<TimeType> {
        let t = column_type.strip_prefix("Nullable(").and_then(|t| t.strip_suffix(')')).unwrap_or(column_type);
        if t.starts_with("DateTime64") {
            Some(TimeType::DateTime64)
        } else if t.starts_with("DateTime") {
            Some(TimeType::DateTime)
        } else if matches!(t, "Int64" | "UInt64") {
            Some(TimeType::Micros)
        } else {
            None
        }
    }

    /// The time inside an `AggregateFunction(anyIf, …)` state column: Nullable(DateTime64) as
    /// GitLab creates them, Int64 microseconds on servers without DateTime64.
    pub fn of_state(column_type: &str) -> Option<TimeType> {
        if column_type.contains("DateTime64") {
            Some(TimeType::DateTime64)
        } else if column_type.contains("DateTime") {
            Some(TimeType::DateTime)
        } else if column_type.contains("Int64") {
            Some(TimeType::Micros)
        } else {
            None
        }
    }

    /// The column as microseconds since the epoch.
    pub fn micros(self, expr: &str) -> String {
        match self {
            // toUnixTimestamp64Micro exists from 20.5 on, as DateTime64 columns practically do.
            TimeType::DateTime64 => format!("toUnixTimestamp64Micro({expr})"),
            TimeType::DateTime => format!("toInt64(toUInt32({expr})) * 1000000"),
            TimeType::Micros => format!("toInt64({expr})"),
        }
    }

    /// A literal comparable with the column. `DateTime` holds whole seconds: a bound with a
    /// fraction is rounded up, which keeps `>=` and `<` exact for whole-second values.
    pub fn literal(self, t: Timestamp) -> String {
        match self {
            TimeType::DateTime64 => {
                format!("toDateTime64('{}', 6, 'UTC')", t.format("%Y-%m-%d %H:%M:%S%.6f"))
            }
            TimeType::DateTime => {
                let micros = t.timestamp_micros();
                format!(
                    "toDateTime({}, 'UTC')",
                    micros.div_euclid(1_000_000) + i64::from(micros.rem_euclid(1_000_000) > 0)
                )
            }
            TimeType::Micros => t.timestamp_micros().to_string(),
        }
    }
}

/// Where the time bounds of the read go inside a subquery of `from`.
const WINDOW: &str = "\u{1}WINDOW\u{1}";

/// A table's page query, prepared once; [`PageSql::render`] fills in cursor, bounds and limit.
#[derive(Debug, Clone)]
pub struct PageSql {
    select: String,
    from: String,
    time_col: String,
    time: TimeType,
    settings: &'static str,
    not_null: bool,
    /// A deletion flag to leave rows out by (replicated tables).
    deleted: Option<String>,
    /// A condition every selected row meets (sessions: the lifecycle time is set).
    having: Option<String>,
}

impl PageSql {
    /// `have` are the table's columns and types; `all` every table's (for joins).
    pub fn new(
        spec: &TableSpec,
        database: &str,
        have: &HashMap<String, String>,
        all: &HashMap<String, HashMap<String, String>>,
    ) -> Result<PageSql, String> {
        let time_of = |table: &HashMap<String, String>, col: &str| -> Result<TimeType, String> {
            let ty = table.get(col).map(String::as_str).unwrap_or("");
            TimeType::of(ty).ok_or_else(|| {
                format!(
                    "column {}.{col} has type {ty:?}; expected DateTime64, DateTime or Int64 microseconds",
                    spec.table
                )
            })
        };
        let t = |c: &str| format!("t.{}", ident(c));
        let tm = |c: &str| -> Result<String, String> { Ok(time_of(have, c)?.micros(&t(c))) };
        let opt = |c: &str| if have.contains_key(c) { t(c) } else { "NULL".to_string() };
        let table = format!("{}.{}", ident(database), ident(&spec.table));
        let mut from = format!("{table} AS t");
        let mut settings = "";
        let mut time_col = t(spec.time_col);
        let mut time = None;
        let mut deleted = None;
        let mut having = None;
        let cols: Vec<String> = match spec.mapping {
            Mapping::SplitAudit { scope_col, entity_type } => {
                // ReplacingMergeTree: FINAL gives each row's last version; deleted rows are left out.
                from = format!("{table} AS t FINAL");
                deleted = ["deleted", "_siphon_deleted"].into_iter().find(|c| have.contains_key(*c)).map(t);
                // GitLab's ClickHouse columns default to '' and 0 where PostgreSQL has NULL.
                let text = |c: &str| format!("nullIf({}, '')", t(c));
                vec![
                    t("id"),
                    tm("created_at")?,
                    t("author_id"),
                    text("event_name"),
                    text("details"),
                    text("ip_address"),
                    text("author_name"),
                    text("entity_path"),
                    text("target_details"),
                    text("target_type"),
                    format!("nullIf({}, 0)", t("target_id")),
                    scope_col.map_or("NULL".into(), t),
                    string(entity_type),
                ]
            }
            Mapping::AgentSession { .. } => {
                // One row per session: merge the aggregate states, then page over the chosen time.
                let col = spec.time_col;
                let ty = have.get(col).map(String::as_str).unwrap_or("");
                time = Some(TimeType::of_state(ty).ok_or_else(|| {
                    format!("column {}.{col} has type {ty:?}; expected an anyIf state of a time", spec.table)
                })?);
                from = format!(
                    "(SELECT session_id, user_id, project_id, namespace_path, flow_type, environment, anyIfMerge({}) AS at \
                     FROM {table} GROUP BY session_id, user_id, project_id, namespace_path, flow_type, environment) AS t",
                    ident(col)
                );
                time_col = "t.at".into();
                let micros = time.expect("set above").micros("t.at");
                // An unset time merges to NULL, or to 0 where the state drops Nullable (18.16).
                having = Some(format!("{micros} > 0"));
                vec![
                    t("session_id"),
                    t("user_id"),
                    t("project_id"),
                    t("namespace_path"),
                    t("flow_type"),
                    t("environment"),
                    micros,
                ]
            }
            Mapping::AiAudit => vec![
                t("id"),
                tm("created_at")?,
                format!("toString({})", t("cloud_event_id")),
                t("author_id"),
                t("project_id"),
                t("namespace_id"),
                t("event_name"),
                t("ip_address"),
                t("workflow_id"),
                t("details"),
            ],
            Mapping::FlowStart | Mapping::FlowEnd => {
                let mut v = vec![
                    format!("toString({})", t("session_id")),
                    t("user_id"),
                    t("project_id"),
                    t("flow_type"),
                    t("input_prompt"),
                    t("input_context"),
                    tm("started_at")?,
                    tm("completed_at")?,
                    t("status"),
                    tm("authorization_verified_at")?,
                    t("authorization_method"),
                    t("authorized_scopes"),
                    t("plan_summary"),
                    t("decisions_log"),
                ];
                v.extend(FLOW_OPTIONAL.iter().map(|(c, _)| opt(c)));
                v
            }
            Mapping::FlowResource => {
                let sessions = "flow_sessions";
                let joined = if all.contains_key(sessions) {
                    // Only the sessions of the resources in the window ([`WINDOW`], filled in by
                    // `render`): the right side of a join is read whole, and `flow_sessions`
                    // grows with every session ever run.
                    from = format!(
                        "{from} ANY LEFT JOIN (SELECT toString(session_id) AS s_session_id, user_id AS s_user_id, \
                         project_id AS s_project_id, flow_type AS s_flow_type FROM {db}.{} \
                         WHERE toString(session_id) IN (SELECT toString(flow_session_id) FROM {table} WHERE {WINDOW})) AS s \
                         ON s.s_session_id = t.flow_session_id",
                        ident(sessions),
                        db = ident(database),
                    );
                    // Unmatched rows get NULLs, not the types' defaults (as in PostgreSQL).
                    settings = " SETTINGS join_use_nulls = 1";
                    ["s.s_user_id", "s.s_project_id", "s.s_flow_type"].map(String::from)
                } else {
                    ["NULL", "NULL", "NULL"].map(String::from)
                };
                let mut v = vec![
                    format!("toString({})", t("flow_session_id")),
                    t("resource_type"),
                    t("resource_id"),
                    t("action"),
                    tm("created_at")?,
                ];
                v.extend(joined);
                v.push("NULL".into());
                v
            }
            other => return Err(format!("table {} ({other:?}) is not read from ClickHouse", spec.table)),
        };
        let time = match time {
            Some(t) => t,
            None => time_of(have, spec.time_col)?,
        };
        Ok(PageSql {
            select: cols.join(", "),
            from,
            time_col,
            time,
            settings,
            not_null: matches!(spec.mapping, Mapping::FlowEnd | Mapping::AgentSession { .. }),
            deleted,
            having,
        })
    }

    /// The query: rows after `cursor`, within `[from, to)`, in keyset order, at most `rows`.
    pub fn render(
        &self,
        spec: &TableSpec,
        cursor: Option<&Position>,
        from: Timestamp,
        to: Timestamp,
        rows: Option<i64>,
    ) -> String {
        let time = if self.not_null { format!("assumeNotNull({})", self.time_col) } else { self.time_col.clone() };
        let key_cols: Vec<String> = std::iter::once(time.clone())
            .chain(spec.key.iter().map(|(c, ty)| match ty {
                KeyType::Int => format!("t.{}", ident(c)),
                KeyType::Text => format!("toString(t.{})", ident(c)),
            }))
            .collect();
        let mut conds = Vec::new();
        if self.not_null {
            conds.push(format!("{} IS NOT NULL", self.time_col));
        }
        if let Some(d) = &self.deleted {
            conds.push(format!("{d} = 0"));
        }
        conds.extend(self.having.clone());
        if let Some(pos) = cursor {
            let values: Vec<String> = std::iter::once(self.time.literal(pos.time))
                .chain(pos.key.iter().zip(spec.key).map(|(v, (_, ty))| match ty {
                    KeyType::Int => v.as_i64().unwrap_or(i64::MIN).to_string(),
                    KeyType::Text => string(v.as_str().unwrap_or("")),
                }))
                .collect();
            conds.push(format!("({}) > ({})", key_cols.join(", "), values.join(", ")));
            // The same bound on the time alone, which the primary key index can use.
            conds.push(format!("{time} >= {}", self.time.literal(pos.time)));
        }
        conds.push(format!("{time} >= {}", self.time.literal(from)));
        conds.push(format!("{time} < {}", self.time.literal(to)));
        let limit = rows.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let c = ident(spec.time_col);
        let window = format!("{c} >= {} AND {c} < {}", self.time.literal(from), self.time.literal(to));
        format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {}{limit}{}",
            self.select,
            self.from.replace(WINDOW, &window),
            conds.join(" AND "),
            key_cols.join(", "),
            self.settings
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time;
    use crate::sources::tables::catalog;

    fn columns(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect()
    }

    #[test]
    fn ai_audit_page_on_an_old_server() {
        let spec = catalog().into_iter().find(|t| t.table == "ai_audit_events").unwrap();
        let have = columns(&[
            ("id", "Int64"),
            ("created_at", "Int64"),
            ("cloud_event_id", "String"),
            ("author_id", "Int64"),
            ("project_id", "Nullable(Int64)"),
            ("namespace_id", "Nullable(Int64)"),
            ("event_name", "String"),
            ("ip_address", "Nullable(String)"),
            ("workflow_id", "Nullable(Int64)"),
            ("details", "String"),
        ]);
        let sql = PageSql::new(&spec, "gl", &have, &HashMap::new()).unwrap();
        let from = time::parse("2026-10-01T00:00:00Z").unwrap();
        let to = time::parse("2026-11-01T00:00:00Z").unwrap();
        let cursor = Position { time: time::parse("2026-10-05T01:02:03.000004Z").unwrap(), key: vec![42.into()] };
        assert_eq!(
            sql.render(&spec, Some(&cursor), from, to, Some(100)),
            "SELECT t.`id`, toInt64(t.`created_at`), toString(t.`cloud_event_id`), t.`author_id`, t.`project_id`, \
             t.`namespace_id`, t.`event_name`, t.`ip_address`, t.`workflow_id`, t.`details` FROM `gl`.`ai_audit_events` AS t \
             WHERE (t.`created_at`, t.`id`) > (1791162123000004, 42) AND t.`created_at` >= 1791162123000004 \
             AND t.`created_at` >= 1790812800000000 \
             AND t.`created_at` < 1793491200000000 ORDER BY t.`created_at`, t.`id` LIMIT 100"
        );
    }

    #[test]
    fn time_literals_per_type() {
        let t = time::parse("2026-10-01T12:00:00.5Z").unwrap();
        assert_eq!(TimeType::DateTime64.literal(t), "toDateTime64('2026-10-01 12:00:00.500000', 6, 'UTC')");
        assert_eq!(TimeType::DateTime.literal(t), "toDateTime(1790856001, 'UTC')");
        assert_eq!(TimeType::of("Nullable(DateTime64(6, 'UTC'))"), Some(TimeType::DateTime64));
        assert_eq!(TimeType::of("DateTime('UTC')"), Some(TimeType::DateTime));
        assert_eq!(TimeType::of("String"), None);
        assert_eq!(string("a'b\\c"), "'a\\'b\\\\c'");
    }
}
