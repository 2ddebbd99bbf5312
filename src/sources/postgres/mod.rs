//! PostgreSQL: GitLab's audit tables, `ai_audit_events`, flow sessions and GitLab's agent
//! workflow tables, read in one `REPEATABLE READ READ ONLY` snapshot, each table page by page in
//! keyset order `(time, key)`, merged into one time-ordered stream in bounded memory.

pub mod setup;
pub mod tables;

use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, Postgres, Row};

use super::{Record, SourceError};
use crate::checkpoint::{Position, Watermarks};
use crate::model::time::Timestamp;
use crate::redact::mask_url;
use tables::{KeyType, TableSpec};

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
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The tables to read, renamed as configured.
    pub fn tables(&self) -> Vec<TableSpec> {
        tables::catalog()
            .into_iter()
            .map(|mut t| {
                if let Some(actual) = self.renames.get(&t.table) {
                    t.stream = t.stream.replacen(&t.table, actual, 1);
                    t.table = actual.clone();
                }
                t
            })
            .collect()
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

struct Stream {
    spec: TableSpec,
    sql_first: String,
    sql_next: String,
    cursor: Option<Position>,
    buf: VecDeque<Record>,
    done: bool,
    name: Arc<str>,
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

/// The far past and future used when the range is open (PostgreSQL accepts both).
fn bounds(from: Option<Timestamp>, to: Timestamp) -> (Timestamp, Timestamp) {
    (from.unwrap_or(chrono::DateTime::UNIX_EPOCH), to)
}

async fn fetch_page(
    conn: &mut PgConnection,
    s: &mut Stream,
    from: Timestamp,
    to: Timestamp,
    rows: i64,
) -> Result<Vec<PgRow>, sqlx::Error> {
    let sql = if s.cursor.is_some() { &s.sql_next } else { &s.sql_first };
    let mut q = sqlx::query(sql);
    if let Some(pos) = &s.cursor {
        q = bind_cursor(q, &s.spec, pos);
    }
    q = if s.spec.naive_time { q.bind(from.naive_utc()).bind(to.naive_utc()) } else { q.bind(from).bind(to) };
    q.bind(rows).fetch_all(&mut *conn).await
}

type Mapped = Result<(Vec<Record>, Vec<String>), sqlx::Error>;

/// Turn rows into records (the costliest step of a PostgreSQL export: mostly parsing
/// `details`); warnings about unparseable details are returned, not logged.
fn map_rows(spec: &TableSpec, name: &Arc<str>, rows: &[PgRow]) -> Mapped {
    let mut notes = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let pos = spec.position(row)?;
        let event = spec.event(row, &mut |msg| notes.push(msg))?;
        out.push(Record { event: Box::new(event), position: Some((name.clone(), pos)) });
    }
    Ok((out, notes))
}

/// A second thread that maps half of each large page while the reader maps the other half.
/// One long-lived thread (not one per page) keeps the allocator's per-thread caches warm.
struct Mapper {
    tx: SyncSender<(TableSpec, Arc<str>, Vec<PgRow>)>,
    rx: Receiver<Mapped>,
}

impl Mapper {
    fn start() -> std::io::Result<Mapper> {
        let (tx, work) = sync_channel::<(TableSpec, Arc<str>, Vec<PgRow>)>(1);
        let (done, rx) = sync_channel(1);
        std::thread::Builder::new().name("postgres-mapper".into()).spawn(move || {
            for (spec, name, rows) in work {
                if done.send(map_rows(&spec, &name, &rows)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Mapper { tx, rx })
    }

    /// Map a page, order kept, splitting large pages between this thread and the worker.
    fn map(&self, spec: &TableSpec, name: &Arc<str>, mut rows: Vec<PgRow>) -> Mapped {
        if rows.len() < 256 {
            return map_rows(spec, name, &rows);
        }
        let second = rows.split_off(rows.len() / 2);
        if self.tx.send((spec.clone(), name.clone(), second)).is_err() {
            unreachable!("the mapping thread lives as long as the mapper");
        }
        let first = map_rows(spec, name, &rows);
        let second = self.rx.recv().expect("the mapping thread answers every page");
        let (mut records, mut notes) = first?;
        let (more, more_notes) = second?;
        records.extend(more);
        notes.extend(more_notes);
        Ok((records, notes))
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
    if !skipped.is_empty() {
        tracing::warn!("schema {}: {}; reading the others", cfg.schema, skipped.join("; "));
    }
    tracing::info!(tables = specs.len(), until = %crate::model::time::format(&upper), "reading PostgreSQL snapshot");
    let mut streams: Vec<Stream> = specs
        .into_iter()
        .map(|spec| {
            let have = cols.get(&spec.table).cloned().unwrap_or_default();
            let present = |c: &str| have.contains(c);
            Stream {
                sql_first: spec.page_sql(&cfg.schema, &present, false),
                sql_next: spec.page_sql(&cfg.schema, &present, true),
                cursor: cfg.resume.get(&spec.stream).cloned(),
                buf: VecDeque::new(),
                done: false,
                name: Arc::from(spec.stream.as_str()),
                spec,
            }
        })
        .collect();
    let (from, to) = bounds(cfg.from, upper);
    let mapper = Mapper::start().map_err(|e| SourceError::Io { path: "postgres mapping thread".into(), source: e })?;
    let mut chunk = Vec::with_capacity(1024);
    let mut warnings = 0u64;
    loop {
        // Refill empty buffers, then take the earliest head.
        for s in streams.iter_mut() {
            if s.buf.is_empty() && !s.done {
                let rows = fetch_page(&mut conn, s, from, to, cfg.page_rows)
                    .await
                    .map_err(err(&format!("cannot read {}", s.spec.table)))?;
                s.done = (rows.len() as i64) < cfg.page_rows;
                let (records, notes) = mapper
                    .map(&s.spec, &s.name, rows)
                    .map_err(err(&format!("unexpected column types in {}", s.spec.table)))?;
                for note in notes {
                    warnings += 1;
                    if warnings <= 10 {
                        tracing::warn!("{note}");
                    }
                }
                if let Some((_, pos)) = records.last().and_then(|r| r.position.as_ref()) {
                    s.cursor = Some(pos.clone());
                }
                s.buf.extend(records);
            }
        }
        let next = streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.buf.front().and_then(|r| r.position.as_ref()).map(|(_, p)| (p.time, i)))
            .min();
        let Some((_, i)) = next else { break };
        let rec = streams[i].buf.pop_front().expect("front exists");
        chunk.push(Ok(rec));
        if chunk.len() >= 1024 && tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(1024))).is_err() {
            return Ok(()); // the consumer stopped
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    if warnings > 10 {
        tracing::warn!("{warnings} rows in all had details kept verbatim");
    }
    let _ = sqlx::query("COMMIT").execute(&mut conn).await;
    let _ = conn.close().await;
    Ok(())
}

/// The PostgreSQL source as an iterator: a background thread runs the queries and hands
/// chunks over a bounded channel (at most a few chunks in flight).
pub struct PgSource {
    rx: Receiver<Vec<Result<Record, SourceError>>>,
    current: std::vec::IntoIter<Result<Record, SourceError>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PgSource {
    pub fn start(cfg: PgConfig) -> Result<PgSource, SourceError> {
        let (tx, rx) = sync_channel(4);
        let handle = std::thread::Builder::new()
            .name("postgres-source".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(vec![Err(SourceError::Io { path: "tokio runtime".into(), source: e })]);
                        return;
                    }
                };
                if let Err(e) = rt.block_on(produce(cfg, tx.clone())) {
                    let _ = tx.send(vec![Err(e)]);
                }
            })
            .map_err(|e| SourceError::Io { path: "postgres reader thread".into(), source: e })?;
        Ok(PgSource { rx, current: Vec::new().into_iter(), handle: Some(handle) })
    }
}

impl Iterator for PgSource {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk.into_iter(),
                Err(_) => {
                    if let Some(h) = self.handle.take() {
                        let _ = h.join();
                    }
                    return None;
                }
            }
        }
    }
}

/// Run a future on a fresh single-threaded runtime (for the short database commands).
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f))
}
