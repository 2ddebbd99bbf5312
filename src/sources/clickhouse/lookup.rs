//! Lookups on ClickHouse for `trace` and `sessions show` ([`crate::sources::lookup`]). The
//! flow tables are sorted by time, so these filters read the id columns in full; ClickHouse
//! reads one column of millions of rows in milliseconds, and the session's events are then
//! read by the time key of each table.

use std::collections::{BTreeSet, HashMap};

use super::sql::{ident, string, TimeType};
use super::{usable, ChConfig, Connection, TsvRow};
use crate::model::time::Timestamp;
use crate::sources::lookup::{combine, type_variants, IdMatch, Span};
use crate::sources::tables::{Columns, Mapping, TableSpec};
use crate::sources::SourceError;

struct Tables {
    conn: Connection,
    specs: Vec<TableSpec>,
    cols: HashMap<String, HashMap<String, String>>,
}

impl Tables {
    async fn load(cfg: &ChConfig) -> Result<Tables, SourceError> {
        let conn = Connection::open(&cfg.url, cfg.database.as_deref()).await?;
        let cols = conn.columns().await?;
        let (specs, _) = usable(cfg.tables(), &cols);
        Ok(Tables { conn, specs, cols })
    }

    fn find(&self, pick: impl Fn(&Mapping) -> bool) -> Option<&TableSpec> {
        self.specs.iter().find(|s| pick(&s.mapping))
    }

    fn name(&self, spec: &TableSpec) -> String {
        format!("{}.{}", ident(&self.conn.database), ident(&spec.table))
    }

    /// A time column of `spec` as microseconds since the epoch.
    fn micros(&self, spec: &TableSpec, col: &str) -> Result<String, SourceError> {
        let ty =
            self.cols.get(&spec.table).and_then(|c| c.get(col)).and_then(|t| TimeType::of(t)).ok_or_else(|| {
                SourceError::Query(format!(
                    "{}.{col} is not a time column (DateTime64, DateTime or Int64 µs)",
                    spec.table
                ))
            })?;
        Ok(ty.micros(&ident(col)))
    }
}

fn list(values: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    values.into_iter().map(|v| string(v.as_ref())).collect::<Vec<_>>().join(", ")
}

/// Sessions linked to a resource in `flow_session_resources`.
pub async fn sessions_touching(cfg: &ChConfig, kind: &str, id: &str) -> Result<BTreeSet<String>, SourceError> {
    let tables = Tables::load(cfg).await?;
    let Some(res) = tables.find(|m| *m == Mapping::FlowResource) else { return Ok(BTreeSet::new()) };
    let cond = match IdMatch::of(kind, id) {
        IdMatch::Exact(id) => format!("resource_id = {}", string(&id)),
        IdMatch::Prefix { prefix, .. } => format!("startsWith(resource_id, {})", string(&prefix)),
    };
    let sql = format!(
        "SELECT DISTINCT flow_session_id FROM {} WHERE resource_type IN ({}) AND {cond}",
        tables.name(res),
        list(type_variants(kind))
    );
    let rows = tables.conn.rows(&sql).await?;
    Ok(rows.iter().filter_map(|r| r.text(0).ok().flatten()).collect())
}

/// When each session ran: `flow_sessions` and the session's resources.
pub async fn session_spans(cfg: &ChConfig, ids: &BTreeSet<String>) -> Result<Vec<Span>, SourceError> {
    let tables = Tables::load(cfg).await?;
    let mut parts = Vec::new();
    let span = |row: &TsvRow, open_when_null: bool| -> Result<Option<Span>, SourceError> {
        let bad = |e| SourceError::Query(format!("unexpected session lookup answer: {e}"));
        let session = row.text(0).map_err(bad)?.unwrap_or_default();
        let from: Option<Timestamp> = row.time(1).map_err(bad)?;
        let to: Option<Timestamp> = row.time(2).map_err(bad)?;
        Ok(from.map(|from| Span { session, from, to: if open_when_null { to } else { Some(to.unwrap_or(from)) } }))
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(s) = tables.find(|m| *m == Mapping::FlowStart) {
        let sql = format!(
            "SELECT session_id, {}, {} FROM {} WHERE session_id IN ({})",
            tables.micros(s, "started_at")?,
            tables.micros(s, "completed_at")?,
            tables.name(s),
            list(ids)
        );
        for row in tables.conn.rows(&sql).await? {
            parts.extend(span(&row, true)?);
        }
    }
    if let Some(r) = tables.find(|m| *m == Mapping::FlowResource) {
        let t = tables.micros(r, "created_at")?;
        let sql = format!(
            "SELECT flow_session_id, min({t}), max({t}) FROM {} WHERE flow_session_id IN ({}) GROUP BY flow_session_id",
            tables.name(r),
            list(ids)
        );
        for row in tables.conn.rows(&sql).await? {
            parts.extend(span(&row, false)?);
        }
    }
    Ok(combine(parts))
}

/// The oldest record of any table.
pub async fn earliest(cfg: &ChConfig) -> Result<Option<Timestamp>, SourceError> {
    let tables = Tables::load(cfg).await?;
    let mut out: Option<Timestamp> = None;
    for spec in &tables.specs {
        // GitLab's session aggregate keeps its times in aggregate states: its sessions also
        // appear in the event tables.
        if matches!(spec.mapping, Mapping::AgentSession { .. }) {
            continue;
        }
        let t = tables.micros(spec, spec.time_col)?;
        let sql = format!("SELECT min({t}) FROM {} WHERE {t} > 0", tables.name(spec));
        let rows = tables.conn.rows(&sql).await?;
        // An empty table answers 0 (or NULL): no row.
        if let Some(t) = rows.first().and_then(|r| r.time(0).ok().flatten()).filter(|t| t.timestamp_micros() > 0) {
            out = Some(out.map_or(t, |o| o.min(t)));
        }
    }
    Ok(out)
}
