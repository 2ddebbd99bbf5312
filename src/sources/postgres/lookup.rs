//! Index lookups on PostgreSQL for `trace` and `sessions show` ([`crate::sources::lookup`]),
//! and the indexes they (and time-ordered exports) rely on, for `check` to warn about.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::sql::ident;
use super::{connect, db_error, PgConfig};
use crate::model::time::Timestamp;
use crate::sources::lookup::{combine, type_variants, IdMatch, Span};
use crate::sources::tables::{Mapping, TableSpec};
use crate::sources::SourceError;

/// The readable tables of the source, by mapping.
struct Tables {
    schema: String,
    specs: Vec<TableSpec>,
    cols: HashMap<String, HashSet<String>>,
}

impl Tables {
    async fn load(conn: &mut PgConnection, cfg: &PgConfig) -> Result<Tables, SourceError> {
        let cols = super::columns(conn, &cfg.schema).await.map_err(|e| db_error(&cfg.url, "cannot list tables", e))?;
        let (specs, _) = super::usable(cfg.tables(), &cols);
        Ok(Tables { schema: cfg.schema.clone(), specs, cols })
    }

    fn find(&self, pick: impl Fn(&Mapping) -> bool) -> Option<&TableSpec> {
        self.specs.iter().find(|s| pick(&s.mapping))
    }

    fn name(&self, spec: &TableSpec) -> String {
        format!("{}.{}", ident(&self.schema), ident(&spec.table))
    }

    fn has(&self, spec: &TableSpec, col: &str) -> bool {
        self.cols.get(&spec.table).is_some_and(|c| c.contains(col))
    }
}

/// The type of a column (`uuid`, `text`, …: `pg_type.typname`).
async fn column_type(conn: &mut PgConnection, schema: &str, table: &str, col: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT udt_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
    )
    .bind(schema)
    .bind(table)
    .bind(col)
    .fetch_optional(conn)
    .await
    .map(Option::unwrap_or_default)
}

/// Rows of `sql`, whose `$1` is compared with a column of type `udt`: bound as that type so the
/// column's index applies (a `uuid` column against `uuid[]`, not its text cast against `text[]`).
/// Ids that cannot be values of the type match nothing and are left out.
async fn by_ids(
    conn: &mut PgConnection,
    sql: &str,
    udt: &str,
    ids: &BTreeSet<String>,
) -> Result<Vec<PgRow>, sqlx::Error> {
    match udt {
        "uuid" => {
            let ids: Vec<uuid::Uuid> = ids.iter().filter_map(|i| uuid::Uuid::parse_str(i).ok()).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sqlx::query(&sql.replace("$1", "$1::uuid[]")).bind(ids).fetch_all(conn).await
        }
        "int8" | "int4" | "int2" => {
            let ids: Vec<i64> = ids.iter().filter_map(|i| i.parse().ok()).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sqlx::query(&sql.replace("$1", "$1::bigint[]")).bind(ids).fetch_all(conn).await
        }
        _ => {
            let ids: Vec<String> = ids.iter().cloned().collect();
            sqlx::query(&sql.replace("$1", "$1::text[]")).bind(ids).fetch_all(conn).await
        }
    }
}

/// Sessions linked to a resource: `flow_session_resources` by `(resource_type, resource_id)`,
/// GitLab's workflow link tables by the resource id.
pub async fn sessions_touching(cfg: &PgConfig, kind: &str, id: &str) -> Result<BTreeSet<String>, SourceError> {
    let mut conn = connect(cfg).await?;
    let err = |e| db_error(&cfg.url, "session lookup failed", e);
    let tables = Tables::load(&mut conn, cfg).await?;
    let mut out = BTreeSet::new();
    if let Some(res) = tables.find(|m| *m == Mapping::FlowResource) {
        let (cond, bounds) = match IdMatch::of(kind, id) {
            IdMatch::Exact(id) => ("resource_id = $2".to_string(), vec![id]),
            IdMatch::Prefix { prefix, upper } => {
                // The range uses the (resource_type, resource_id) index; `left` keeps it exact
                // whatever the collation.
                (
                    "resource_id >= $2 AND resource_id < $3 AND left(resource_id, length($2)) = $2".into(),
                    vec![prefix, upper],
                )
            }
        };
        let sql = format!(
            "SELECT DISTINCT flow_session_id::text FROM {} WHERE resource_type = ANY($1) AND {cond}",
            tables.name(res)
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql).bind(type_variants(kind));
        for b in bounds {
            q = q.bind(b);
        }
        out.extend(q.fetch_all(&mut conn).await.map_err(err)?);
    }
    if let Ok(num) = id.parse::<i64>() {
        for link in tables
            .specs
            .iter()
            .filter(|s| matches!(s.mapping, Mapping::DuoLink { resource_type, .. } if resource_type == kind))
        {
            let Mapping::DuoLink { id_col, .. } = link.mapping else { continue };
            let sql =
                format!("SELECT DISTINCT workflow_id::text FROM {} WHERE {} = $1", tables.name(link), ident(id_col));
            out.extend(sqlx::query_scalar::<_, String>(&sql).bind(num).fetch_all(&mut conn).await.map_err(err)?);
        }
    }
    let _ = sqlx::Connection::close(conn).await;
    Ok(out)
}

/// When each session ran: `flow_sessions` by its key, the session's resources, GitLab's
/// workflows by id.
pub async fn session_spans(cfg: &PgConfig, ids: &BTreeSet<String>) -> Result<Vec<Span>, SourceError> {
    let mut conn = connect(cfg).await?;
    let err = |e| db_error(&cfg.url, "session lookup failed", e);
    let tables = Tables::load(&mut conn, cfg).await?;
    let mut parts = Vec::new();
    let span = |row: &PgRow, open_when_null: bool| -> Result<Option<Span>, sqlx::Error> {
        let session: String = row.try_get(0)?;
        let from: Option<Timestamp> = row.try_get(1)?;
        let to: Option<Timestamp> = row.try_get(2)?;
        Ok(from.map(|from| Span { session, from, to: if open_when_null { to } else { Some(to.unwrap_or(from)) } }))
    };
    if let Some(s) = tables.find(|m| *m == Mapping::FlowStart) {
        let udt = column_type(&mut conn, &tables.schema, &s.table, "session_id").await.map_err(err)?;
        let sql = format!(
            "SELECT session_id::text, started_at, completed_at FROM {} WHERE session_id = ANY($1)",
            tables.name(s)
        );
        for row in by_ids(&mut conn, &sql, &udt, ids).await.map_err(err)? {
            parts.extend(span(&row, true).map_err(err)?);
        }
    }
    if let Some(r) = tables.find(|m| *m == Mapping::FlowResource) {
        let udt = column_type(&mut conn, &tables.schema, &r.table, "flow_session_id").await.map_err(err)?;
        let sql = format!(
            "SELECT flow_session_id::text, min(created_at), max(created_at) FROM {} WHERE flow_session_id = ANY($1) GROUP BY 1",
            tables.name(r)
        );
        for row in by_ids(&mut conn, &sql, &udt, ids).await.map_err(err)? {
            parts.extend(span(&row, false).map_err(err)?);
        }
    }
    if let Some(w) = tables.find(|m| *m == Mapping::DuoWorkflow) {
        // GitLab's workflows have `updated_at`; without it a workflow's end is unknown.
        let end = if tables.has(w, "updated_at") { "updated_at" } else { "NULL::timestamptz" };
        let sql = format!("SELECT id::text, created_at, {end} FROM {} WHERE id = ANY($1)", tables.name(w));
        for row in by_ids(&mut conn, &sql, "int8", ids).await.map_err(err)? {
            parts.extend(span(&row, true).map_err(err)?);
        }
    }
    let _ = sqlx::Connection::close(conn).await;
    Ok(combine(parts))
}

/// The oldest record of any table (each `min` answered by the table's time index).
pub async fn earliest(cfg: &PgConfig) -> Result<Option<Timestamp>, SourceError> {
    let mut conn = connect(cfg).await?;
    let tables = Tables::load(&mut conn, cfg).await?;
    let mut out: Option<Timestamp> = None;
    for spec in &tables.specs {
        let cast = if spec.naive_time { "timestamp" } else { "timestamptz" };
        let col = ident(spec.time_col);
        let sql = if spec.naive_time {
            format!("SELECT (min({col}) AT TIME ZONE 'UTC') FROM {}", tables.name(spec))
        } else {
            format!("SELECT min({col})::{cast} FROM {}", tables.name(spec))
        };
        let t: Option<Timestamp> = sqlx::query_scalar(&sql)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| db_error(&cfg.url, &format!("cannot read the oldest row of {}", spec.table), e))?;
        if let Some(t) = t {
            out = Some(out.map_or(t, |o| o.min(t)));
        }
    }
    let _ = sqlx::Connection::close(conn).await;
    Ok(out)
}

/// The indexes lookups and time-ordered reads use, and a warning for each one missing: a
/// table without them is read by a scan (correct, but slow on large tables).
pub async fn index_warnings(conn: &mut PgConnection, cfg: &PgConfig) -> Result<Vec<String>, SourceError> {
    let tables = Tables::load(conn, cfg).await?;
    let rows = sqlx::query(
        "SELECT c.relname::text, array_agg(a.attname::text ORDER BY k.ord)
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE n.nspname = $1
         GROUP BY i.indexrelid, c.relname",
    )
    .bind(&cfg.schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db_error(&cfg.url, "cannot list indexes", e))?;
    let mut indexes: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for row in rows {
        indexes.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(missing(&tables.specs, &indexes))
}

/// Per table, the leading columns an index must have, and why.
fn wanted(spec: &TableSpec) -> Vec<(Vec<&'static str>, &'static str)> {
    let mut out = vec![(vec![spec.time_col], "time-ordered reads (exports, session windows)")];
    match spec.mapping {
        Mapping::FlowStart => out.push((vec!["session_id"], "sessions show, trace")),
        Mapping::FlowResource => {
            out.push((vec!["resource_type", "resource_id"], "trace (resource → session)"));
            out.push((vec!["flow_session_id"], "sessions show, trace (a session's resources)"));
        }
        Mapping::DuoWorkflow => out.push((vec!["id"], "sessions show, trace")),
        Mapping::DuoLink { id_col, .. } => out.push((vec![id_col], "trace (resource → workflow)")),
        Mapping::FlowEnd => out.clear(), // `flow_sessions` once, under FlowStart (its end index is optional).
        _ => {}
    }
    out
}

fn missing(specs: &[TableSpec], indexes: &HashMap<String, Vec<Vec<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    for spec in specs {
        for (cols, why) in wanted(spec) {
            let have = indexes.get(&spec.table).is_some_and(|ixs| {
                ixs.iter().any(|ix| ix.len() >= cols.len() && ix.iter().zip(&cols).all(|(a, b)| a == b))
            });
            if !have {
                out.push(format!(
                    "{}: no index on ({}), used by {why}; a large table is scanned instead: CREATE INDEX ON {} ({})",
                    spec.table,
                    cols.join(", "),
                    ident(&spec.table),
                    cols.join(", ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_indexes_are_named_with_the_statement_that_fixes_them() {
        let specs: Vec<TableSpec> = crate::sources::tables::catalog()
            .into_iter()
            .filter(|s| s.table == "flow_session_resources" || s.table == "flow_sessions")
            .collect();
        let mut ix: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ix.insert("flow_sessions".into(), vec![v(&["session_id"]), v(&["started_at", "session_id"])]);
        ix.insert("flow_session_resources".into(), vec![v(&["created_at", "flow_session_id"]), v(&["resource_id"])]);
        assert_eq!(
            missing(&specs, &ix),
            [
                "flow_session_resources: no index on (resource_type, resource_id), used by trace (resource → session); a large table is scanned instead: CREATE INDEX ON \"flow_session_resources\" (resource_type, resource_id)",
                "flow_session_resources: no index on (flow_session_id), used by sessions show, trace (a session's resources); a large table is scanned instead: CREATE INDEX ON \"flow_session_resources\" (flow_session_id)",
            ]
        );
        ix.get_mut("flow_session_resources")
            .unwrap()
            .extend([v(&["resource_type", "resource_id", "x"]), v(&["flow_session_id"])]);
        assert!(missing(&specs, &ix).is_empty());
    }
}
