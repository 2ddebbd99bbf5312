//! PostgreSQL: GitLab's audit tables, `ai_audit_events`, flow sessions and GitLab's agent
//! workflow tables, read in one `REPEATABLE READ READ ONLY` snapshot, each table page by page in
//! keyset order `(time, key)`, merged into one time-ordered stream in bounded memory
//! ([`super::merge`]).

pub mod lookup;
pub mod setup;
pub mod sql;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, Postgres, Row};

use super::merge::{merge, DbSource, PageFetcher};
use super::{Record, SourceError};
use crate::checkpoint::{Position, Watermarks};
use crate::model::time::Timestamp;
use crate::redact::mask_url;
use crate::sources::tables::{self, ColumnError, KeyType, TableSpec};
use sql::PgSql;

/// Settings of a PostgreSQL read.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Connection URL (`postgres://user:pass@host:5432/db?sslmode=verify-full&sslrootcert=ca.pem`).
    pub url: String,
    /// Schema holding the tables.
    pub schema: String,
    /// Renamed tables: GitLab name → actual name.
    pub renames: HashMap<String, String>,
    /// Rows per page and table.
    pub page_rows: i64,
    /// Only rows at or after this time…
    pub from: Option<Timestamp>,
    /// …and before this one (further capped at `now() - lag`).
    pub to: Option<Timestamp>,
    /// Rows newer than `now() - lag` are left for the next run (late commits).
    pub lag: Duration,
    /// Where each stream left off (exclusive).
    pub resume: Watermarks,
    /// Work on each event where rows are mapped ([`ReadOptions::prepare`](super::ReadOptions)).
    pub prepare: Option<super::Prepare>,
    pub connect_timeout: Duration,
}

impl PgConfig {
    pub fn new(url: &str) -> PgConfig {
        PgConfig {
            url: url.to_string(),
            schema: "public".into(),
            renames: HashMap::new(),
            page_rows: 1_000,
            from: None,
            to: None,
            lag: Duration::from_secs(60),
            resume: Watermarks::new(),
            prepare: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The settings a read with `read` needs.
    pub fn of(url: &str, read: &super::ReadOptions) -> PgConfig {
        let mut cfg = PgConfig::new(url);
        cfg.from = read.range.from;
        cfg.to = read.range.to;
        cfg.lag = read.lag;
        cfg.resume = read.resume.clone();
        cfg.prepare = read.prepare.clone();
        if let Some(schema) = &read.schema {
            cfg.schema = schema.clone();
        }
        cfg.renames = read.renames.clone();
        if read.page_rows > 0 {
            cfg.page_rows = read.page_rows;
        }
        cfg
    }

    /// The tables to read, renamed as configured.
    pub fn tables(&self) -> Vec<TableSpec> {
        tables::renamed(sql::supported, &self.renames)
    }
}

/// Errors from PostgreSQL, with the URL masked.
fn db_error(url: &str, what: &str, e: sqlx::Error) -> SourceError {
    let hint = match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("28P01") => " (wrong user or password)",
        sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => " (no such database)",
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42501") => {
            " (the role may not read this table: GRANT SELECT)"
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => " (is the server running and reachable?)",
        sqlx::Error::Tls(_) => " (check sslmode and sslrootcert)",
        _ => "",
    };
    SourceError::Database { source_url: mask_url(url), message: format!("{what}: {e}{hint}") }
}

/// Connect with the URL's options (TLS per `sslmode`, CA per `sslrootcert`).
pub async fn connect(cfg: &PgConfig) -> Result<PgConnection, SourceError> {
    crate::tls::warn_if_unverified(&cfg.url);
    let opts = PgConnectOptions::from_str(&cfg.url).map_err(|e| db_error(&cfg.url, "invalid connection URL", e))?;
    let opts = opts.application_name("compliance-report");
    match tokio::time::timeout(cfg.connect_timeout, PgConnection::connect_with(&opts)).await {
        Ok(r) => r.map_err(|e| db_error(&cfg.url, "cannot connect", e)),
        Err(_) => Err(SourceError::Database {
            source_url: mask_url(&cfg.url),
            message: format!(
                "cannot connect: no answer within {:?} (is the server running and reachable?)",
                cfg.connect_timeout
            ),
        }),
    }
}

/// Columns of every table in `schema`: table → column names.
pub async fn columns(conn: &mut PgConnection, schema: &str) -> Result<HashMap<String, HashSet<String>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = $1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for row in rows {
        out.entry(row.get(0)).or_default().insert(row.get(1));
    }
    Ok(out)
}

/// Which tables can be read, and the reason for each that cannot.
pub fn usable(tables: Vec<TableSpec>, cols: &HashMap<String, HashSet<String>>) -> (Vec<TableSpec>, Vec<String>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for t in tables {
        match cols.get(&t.table) {
            None => skipped.push(format!("table {} not found", t.table)),
            Some(have) => {
                let missing: Vec<&str> = t.required.iter().copied().filter(|c| !have.contains(*c)).collect();
                if missing.is_empty() {
                    ok.push(t);
                } else if !skipped.iter().any(|s: &String| s.starts_with(&format!("table {} ", t.table))) {
                    skipped.push(format!("table {} lacks column(s) {}", t.table, missing.join(", ")));
                }
            }
        }
    }
    skipped.dedup();
    (ok, skipped)
}

/// Pages of the snapshot's tables: each table's first-page and next-page SQL.
struct PgPager<'c> {
    conn: &'c mut PgConnection,
    url: String,
    specs: Vec<TableSpec>,
    sql: Vec<(String, String)>,
    from: Timestamp,
    to: Timestamp,
}

fn bind_cursor<'q>(
    mut q: Query<'q, Postgres, PgArguments>,
    spec: &TableSpec,
    pos: &Position,
) -> Query<'q, Postgres, PgArguments> {
    q = if spec.naive_time { q.bind(pos.time.naive_utc()) } else { q.bind(pos.time) };
    for (v, (_, ty)) in pos.key.iter().zip(spec.key) {
        q = match ty {
            KeyType::Int => q.bind(v.as_i64()),
            KeyType::Text => q.bind(v.as_str().map(str::to_string)),
        };
    }
    q
}

impl PageFetcher for PgPager<'_> {
    type Row = PgRow;

    async fn fetch(&mut self, stream: usize, cursor: Option<&Position>, rows: i64) -> Result<Vec<PgRow>, SourceError> {
        let spec = &self.specs[stream];
        let (first, next) = &self.sql[stream];
        let mut q = sqlx::query(if cursor.is_some() { next } else { first });
        if let Some(pos) = cursor {
            q = bind_cursor(q, spec, pos);
        }
        q = if spec.naive_time {
            q.bind(self.from.naive_utc()).bind(self.to.naive_utc())
        } else {
            q.bind(self.from).bind(self.to)
        };
        q.bind(rows)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(|e| db_error(&self.url, &format!("cannot read {}", spec.table), e))
    }
}

/// Read everything in range and send it, in time order, through `tx` in chunks.
async fn produce(cfg: PgConfig, tx: SyncSender<Vec<Result<Record, SourceError>>>) -> Result<(), SourceError> {
    let err = |what: &str| {
        let url = cfg.url.clone();
        let what = what.to_string();
        move |e: sqlx::Error| db_error(&url, &what, e)
    };
    let mut conn = connect(&cfg).await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(err("cannot start a read-only snapshot"))?;
    let now: Timestamp =
        sqlx::query_scalar("SELECT now()").fetch_one(&mut conn).await.map_err(err("cannot read the server time"))?;
    let lag = chrono::Duration::from_std(cfg.lag).unwrap_or(chrono::Duration::zero());
    let upper = match cfg.to {
        Some(to) if to < now - lag => to,
        _ => now - lag,
    };
    let cols = columns(&mut conn, &cfg.schema).await.map_err(err("cannot list tables"))?;
    let (specs, skipped) = usable(cfg.tables(), &cols);
    if specs.is_empty() {
        return Err(crate::sources::SourceError::no_tables(&cfg.url, &format!("schema {:?}", cfg.schema)));
    }
    if !skipped.is_empty() {
        tracing::warn!("schema {}: {}; reading the others", cfg.schema, skipped.join("; "));
    }
    tracing::info!(tables = specs.len(), until = %crate::model::time::format(&upper), "reading PostgreSQL snapshot");
    let sql = specs
        .iter()
        .map(|spec| {
            let have = cols.get(&spec.table).cloned().unwrap_or_default();
            let present = |c: &str| have.contains(c);
            (spec.page_sql(&cfg.schema, &present, false), spec.page_sql(&cfg.schema, &present, true))
        })
        .collect();
    let tables = specs.iter().map(|s| (s.clone(), cfg.resume.get(&s.stream).cloned())).collect();
    let (from, to) = (cfg.from.unwrap_or(chrono::DateTime::UNIX_EPOCH), upper);
    let mut pager = PgPager { conn: &mut conn, url: cfg.url.clone(), specs, sql, from, to };
    let url = cfg.url.clone();
    let describe = |table: &str, e: ColumnError| SourceError::Database {
        source_url: mask_url(&url),
        message: format!("unexpected column types in {table}: {e}"),
    };
    merge(&mut pager, tables, cfg.page_rows, cfg.prepare.clone(), &tx, &describe).await?;
    let _ = sqlx::query("COMMIT").execute(&mut conn).await;
    let _ = conn.close().await;
    Ok(())
}

/// The PostgreSQL source: one snapshot read on a background thread.
pub fn open(cfg: PgConfig) -> Result<DbSource, SourceError> {
    DbSource::start("postgres-source", move |tx| produce(cfg, tx))
}

/// Run a future on a fresh single-threaded runtime (for the short database commands).
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f))
}
