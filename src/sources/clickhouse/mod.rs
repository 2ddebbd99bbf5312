//! ClickHouse: `ai_audit_events`, flow sessions, GitLab's `agent_platform_sessions` and
//! replicated group audit events, read with the official `clickhouse` crate over HTTP(S) with
//! LZ4, each table by one streamed query in keyset order `(time, key)` (resuming after a
//! checkpoint's position), and merged like PostgreSQL's ([`super::merge`]), so the same rows
//! give the same events, byte for byte.
//!
//! Rows come back as `TabSeparated` through the crate's byte cursor rather than as typed
//! `RowBinary` structs: the one format every server version speaks the same way (18.16 has no
//! `RowBinaryWithNamesAndTypes`, so typed reads there would run unvalidated), one row type for
//! every table, and the mapping shared with PostgreSQL column for column ([`TsvRow`]).
//! Statements are sent with `query_raw` and literals inlined with ClickHouse escaping (18.16
//! has no server-side parameters).

pub mod lookup;
pub mod setup;
pub mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::merge::{merge, DbSource, PageFetcher};
use super::tables::{self, ColumnError, Columns, TableSpec};
use super::{Record, SourceError};
use crate::checkpoint::{Position, Watermarks};
use crate::model::time::Timestamp;
use crate::redact::mask_url;

/// Settings of a ClickHouse read.
#[derive(Debug, Clone)]
pub struct ChConfig {
    /// `clickhouse://user:pass@host:8123/db`, `https://…` (TLS) or `http://…`.
    pub url: String,
    /// Database holding the tables (default: the URL's path, else `default`).
    pub database: Option<String>,
    pub renames: HashMap<String, String>,
    pub page_rows: i64,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub lag: Duration,
    pub resume: Watermarks,
    /// Work on each event where rows are mapped ([`ReadOptions::prepare`](super::ReadOptions)).
    pub prepare: Option<super::Prepare>,
}

impl ChConfig {
    pub fn new(url: &str) -> ChConfig {
        ChConfig {
            url: url.to_string(),
            database: None,
            renames: HashMap::new(),
            page_rows: 2_000,
            from: None,
            to: None,
            lag: Duration::from_secs(60),
            resume: Watermarks::new(),
            prepare: None,
        }
    }

    /// The settings a read with `read` needs.
    pub fn of(url: &str, read: &super::ReadOptions) -> ChConfig {
        let mut cfg = ChConfig::new(url);
        cfg.from = read.range.from;
        cfg.to = read.range.to;
        cfg.lag = read.lag;
        cfg.resume = read.resume.clone();
        cfg.prepare = read.prepare.clone();
        cfg.database = read.schema.clone();
        cfg.renames = read.renames.clone();
        if read.page_rows > 0 {
            cfg.page_rows = read.page_rows;
        }
        cfg
    }

    /// The tables ClickHouse holds, renamed as configured.
    pub fn tables(&self) -> Vec<TableSpec> {
        tables::renamed(sql::supported, &self.renames)
    }
}

/// Whether `url` names a ClickHouse server.
pub fn is_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["clickhouse://", "clickhouses://", "http://", "https://"].iter().any(|s| lower.starts_with(s))
}

/// The parts of a ClickHouse URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http(s)://host:port`, no credentials.
    pub base: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, SourceError> {
        let bad = |why: &str| SourceError::Database {
            source_url: mask_url(url),
            message: format!("not a usable ClickHouse URL: {why} (clickhouse://user:password@host:8123/database)"),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let http = match scheme.to_ascii_lowercase().as_str() {
            "clickhouse" | "http" => "http",
            "clickhouses" | "https" => "https",
            _ => return Err(bad("the scheme must be clickhouse, clickhouses, http or https")),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let decode = |s: &str| percent_decode(s).ok_or_else(|| bad("bad %-escape in the user or password"));
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
                None => (Some(decode(u)?), None),
            },
            None => (None, None),
        };
        let host = if host.contains(':') || host.starts_with('[') {
            host.to_string()
        } else {
            format!("{host}:{}", if http == "https" { 8443 } else { 8123 })
        };
        let database = path.trim_matches('/');
        Ok(Endpoint {
            base: format!("{http}://{host}"),
            user,
            password,
            database: if database.is_empty() { "default".into() } else { database.to_string() },
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A connection to one server and database, with what the reader learned about it.
#[derive(Clone)]
pub struct Connection {
    client: clickhouse::Client,
    url: String,
    pub database: String,
    /// `version()`, e.g. `18.16.1` or `24.8.4.13`.
    pub version: String,
    /// Whether queries run with `readonly=2` (not where the user's profile forbids changing it).
    pub readonly: bool,
}

impl Connection {
    /// A client for `url` and `database`; nothing is sent yet.
    pub async fn connect(url: &str, database: &str) -> Result<Connection, SourceError> {
        let ep = Endpoint::parse(url)?;
        let mut client = clickhouse::Client::default()
            .with_url(&ep.base)
            .with_compression(clickhouse::Compression::Lz4)
            .with_database(database);
        if let Some(u) = &ep.user {
            client = client.with_user(u);
        }
        if let Some(p) = &ep.password {
            client = client.with_password(p);
        }
        Ok(Connection {
            client,
            url: url.to_string(),
            database: database.to_string(),
            version: String::new(),
            readonly: true,
        })
    }

    /// Connect, read the server version and make sure the database exists. Queries run with
    /// `readonly=2` unless the user's profile is already read-only (then the setting may not be
    /// changed, and need not be).
    pub async fn open(url: &str, database: Option<&str>) -> Result<Connection, SourceError> {
        crate::tls::warn_if_unverified(url);
        let database = match database {
            Some(d) => d.to_string(),
            None => Endpoint::parse(url)?.database,
        };
        // The database's existence is checked below, with a message that says so.
        let mut conn = Connection::connect(url, "default").await?;
        let version = match conn.text("SELECT version()").await {
            Ok(v) => v,
            Err(e) if e.to_string().contains("readonly") => {
                conn.readonly = false;
                conn.text("SELECT version()").await?
            }
            Err(e) => return Err(e),
        };
        let exists =
            conn.text(&format!("SELECT count() FROM system.databases WHERE name = {}", sql::string(&database))).await?;
        if exists.trim() == "0" {
            return Err(SourceError::Database {
                source_url: mask_url(url),
                message: format!(
                    "no database {database:?} on the server (name it in the URL path: …:8123/DATABASE, or create it with db init)"
                ),
            });
        }
        let readonly = conn.readonly;
        let mut conn = Connection::connect(url, &database).await?;
        conn.version = version.trim().to_string();
        conn.readonly = readonly;
        Ok(conn)
    }

    /// The server's major version (18 for 18.16.1).
    pub fn major(&self) -> u32 {
        self.version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
    }

    pub(crate) fn query(&self, sql: &str) -> clickhouse::query::Query {
        let q = self.client.query_raw(sql);
        if self.readonly {
            q.with_setting("readonly", "2")
        } else {
            q
        }
    }

    /// Run a statement that returns nothing (DDL, inserts of literal rows).
    pub async fn execute(&self, sql: &str) -> Result<(), SourceError> {
        self.client.query_raw(sql).execute().await.map_err(|e| self.error("statement failed", e))
    }

    /// Insert `body` (rows in `format`) into `table`.
    pub async fn insert(&self, table: &str, format: &str, body: Vec<u8>) -> Result<(), SourceError> {
        let sql = format!("INSERT INTO {}.{} FORMAT {format}", sql::ident(&self.database), sql::ident(table));
        let mut insert = self.client.insert_formatted_with(sql);
        insert.send(body.into()).await.map_err(|e| self.error(&format!("cannot insert into {table}"), e))?;
        insert.end().await.map_err(|e| self.error(&format!("cannot insert into {table}"), e))
    }

    /// The whole `TabSeparated` result of a query, as text.
    pub async fn text(&self, sql: &str) -> Result<String, SourceError> {
        let bytes = self.bytes(sql).await?;
        String::from_utf8(bytes).map_err(|_| SourceError::Database {
            source_url: mask_url(&self.url),
            message: "the server answered with text that is not UTF-8".into(),
        })
    }

    async fn bytes(&self, sql: &str) -> Result<Vec<u8>, SourceError> {
        let mut cursor = self.query(sql).fetch_bytes("TabSeparated").map_err(|e| self.error("query failed", e))?;
        let mut out = Vec::new();
        while let Some(chunk) = cursor.next().await.map_err(|e| self.error("query failed", e))? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Each row of a query, as it streams in (the answer is never held whole).
    pub async fn for_each_row(&self, sql: &str, mut each: impl FnMut(TsvRow)) -> Result<(), SourceError> {
        let mut cursor = self.query(sql).fetch_bytes("TabSeparated").map_err(|e| self.error("query failed", e))?;
        let mut pending: Vec<u8> = Vec::new();
        let unreadable = || SourceError::Database {
            source_url: mask_url(&self.url),
            message: "the server answered with text that is not UTF-8".into(),
        };
        while let Some(chunk) = cursor.next().await.map_err(|e| self.error("query failed", e))? {
            pending.extend_from_slice(&chunk);
            let Some(end) = pending.iter().rposition(|b| *b == b'\n') else { continue };
            let rest = pending.split_off(end + 1);
            for r in TsvRow::parse_all(&pending).map_err(|_| unreadable())? {
                each(r);
            }
            pending = rest;
        }
        for r in TsvRow::parse_all(&pending).map_err(|_| unreadable())? {
            each(r);
        }
        Ok(())
    }

    /// Rows of a query, parsed.
    pub async fn rows(&self, sql: &str) -> Result<Vec<TsvRow>, SourceError> {
        let bytes = self.bytes(sql).await?;
        TsvRow::parse_all(&bytes).map_err(|e| SourceError::Database {
            source_url: mask_url(&self.url),
            message: format!("unreadable answer: {e}"),
        })
    }

    /// Columns of every table in the database: table → column name → type.
    pub async fn columns(&self) -> Result<HashMap<String, HashMap<String, String>>, SourceError> {
        let rows = self
            .rows(&format!(
                "SELECT table, name, type FROM system.columns WHERE database = {}",
                sql::string(&self.database)
            ))
            .await?;
        let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
        for r in rows {
            let (Some(t), Some(c), Some(ty)) = (r.get(0), r.get(1), r.get(2)) else { continue };
            out.entry(t).or_default().insert(c, ty);
        }
        Ok(out)
    }

    /// The error of a failed request: what failed, the server's words, a hint, no password.
    pub(crate) fn error(&self, what: &str, e: clickhouse::error::Error) -> SourceError {
        let text = e.to_string();
        let hint = if text.contains("Code: 516") || text.contains("Code: 192") || text.contains("Code: 193") {
            " (wrong user or password)"
        } else if text.contains("Code: 81") {
            " (no such database)"
        } else if text.contains("Code: 497") || text.contains("Code: 164") {
            " (the user may not do this: GRANT SELECT, or use a user allowed to)"
        } else if matches!(e, clickhouse::error::Error::Network(_)) {
            " (is the server running and reachable at this host and HTTP port?)"
        } else {
            ""
        };
        let text = match &self.client_password() {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
            _ => text,
        };
        SourceError::Database { source_url: mask_url(&self.url), message: format!("{what}: {text}{hint}") }
    }

    fn client_password(&self) -> Option<String> {
        Endpoint::parse(&self.url).ok().and_then(|e| e.password)
    }
}

/// One `TabSeparated` row, fields as sent. Scalars are unescaped when read; arrays are not
/// TSV-escaped by the server (they are written in their quoted text form), so they are parsed
/// from the raw field. The line is kept whole with where each field ends (two allocations a
/// row, not one per field: millions of rows stream through a report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvRow {
    line: String,
    /// The end of each field in `line` (the next starts one byte, a tab, after).
    ends: Vec<usize>,
}

impl TsvRow {
    /// A row from one line of the answer (without its newline).
    pub fn new(line: &str) -> TsvRow {
        let mut ends: Vec<usize> = line.match_indices('\t').map(|(i, _)| i).collect();
        ends.push(line.len());
        TsvRow { line: line.to_string(), ends }
    }

    /// How many fields it has.
    pub fn fields(&self) -> usize {
        self.ends.len()
    }

    /// Field `i`, unescaped; `None` for NULL or a missing field.
    pub fn get(&self, i: usize) -> Option<String> {
        self.field(i).and_then(unescape)
    }

    /// Field `i` as sent.
    fn field(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        Some(&self.line[start..end])
    }

    /// Parse a whole `TabSeparated` answer.
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<TsvRow>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        Ok(text.split_terminator('\n').map(TsvRow::new).collect())
    }

    fn raw(&self, i: usize) -> Result<Option<&str>, ColumnError> {
        match self.field(i) {
            Some("\\N") => Ok(None),
            Some(f) => Ok(Some(f)),
            None => Err(ColumnError::Type { index: i, message: format!("the row has only {} columns", self.fields()) }),
        }
    }
}

/// Undo `TabSeparated` escaping; `\N` is NULL.
fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    if !field.contains('\\') {
        return Some(field.to_string());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

/// Parse a ClickHouse array of strings as text: `['a','b\'c']`.
fn parse_array(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some('\'') => {}
            Some(_) => return None,
        }
        let mut s = String::new();
        loop {
            match chars.next()? {
                '\'' => break,
                '\\' => match chars.next()? {
                    't' => s.push('\t'),
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    '0' => s.push('\0'),
                    other => s.push(other),
                },
                c => s.push(c),
            }
        }
        out.push(s);
    }
}

impl Columns for TsvRow {
    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError> {
        self.raw(i)?
            .map(|v| v.parse().map_err(|e| ColumnError::Type { index: i, message: format!("{v:?}: {e}") }))
            .transpose()
    }

    fn text(&self, i: usize) -> Result<Option<String>, ColumnError> {
        Ok(self.raw(i)?.and_then(unescape))
    }

    /// Time columns are selected as microseconds since the epoch ([`sql::TimeType::micros`]).
    fn time(&self, i: usize) -> Result<Option<Timestamp>, ColumnError> {
        let Some(micros) = self.int(i)? else { return Ok(None) };
        chrono::DateTime::from_timestamp_micros(micros)
            .map(Some)
            .ok_or(ColumnError::Type { index: i, message: format!("{micros} µs is out of range") })
    }

    fn texts(&self, i: usize) -> Result<Option<Vec<String>>, ColumnError> {
        self.raw(i)?
            .map(|v| parse_array(v).ok_or(ColumnError::Type { index: i, message: format!("{v:?} is not an array") }))
            .transpose()
    }
}

/// Which tables can be read, and why each other one cannot (reported once per table).
pub fn usable(
    tables: Vec<TableSpec>,
    cols: &HashMap<String, HashMap<String, String>>,
) -> (Vec<TableSpec>, Vec<String>) {
    let names: HashMap<String, HashSet<String>> =
        cols.iter().map(|(t, c)| (t.clone(), c.keys().cloned().collect())).collect();
    super::postgres::usable(tables, &names)
}

/// One query per table, its answer read as it streams: ClickHouse sorts (or, on current
/// releases, reads in key order) and sends; the reader takes a page of rows whenever the merge
/// needs them, and TCP flow control holds the rest back, so memory stays bounded. Keyset pages
/// of separate queries would re-scan the table from the cursor on for every page on servers
/// without read-in-order (18.16), quadratic in the row count.
struct ChPager {
    conn: Connection,
    specs: Vec<TableSpec>,
    sql: Vec<sql::PageSql>,
    open: Vec<Option<OpenQuery>>,
    from: Timestamp,
    to: Timestamp,
}

struct OpenQuery {
    cursor: clickhouse::query::BytesCursor,
    /// Bytes after the last complete line.
    partial: Vec<u8>,
    eof: bool,
}

impl ChPager {
    fn table_error(&self, stream: usize, e: SourceError) -> SourceError {
        match e {
            SourceError::Database { source_url, message } => SourceError::Database {
                source_url,
                message: format!("cannot read {}: {message}", self.specs[stream].table),
            },
            other => other,
        }
    }
}

impl PageFetcher for ChPager {
    type Row = TsvRow;

    async fn fetch(&mut self, stream: usize, cursor: Option<&Position>, rows: i64) -> Result<Vec<TsvRow>, SourceError> {
        if self.open[stream].is_none() {
            let text = self.sql[stream].render(&self.specs[stream], cursor, self.from, self.to, None);
            let bytes = self
                .conn
                .query(&text)
                .fetch_bytes("TabSeparated")
                .map_err(|e| self.conn.error("query failed", e))
                .map_err(|e| self.table_error(stream, e))?;
            self.open[stream] = Some(OpenQuery { cursor: bytes, partial: Vec::new(), eof: false });
        }
        let want = usize::try_from(rows).unwrap_or(usize::MAX).max(1);
        let mut out = Vec::with_capacity(want.min(10_000));
        loop {
            let q = self.open[stream].as_mut().expect("opened above");
            // Complete lines already received.
            let mut start = 0;
            while out.len() < want {
                let Some(nl) = q.partial[start..].iter().position(|b| *b == b'\n') else { break };
                let line = &q.partial[start..start + nl];
                let text = std::str::from_utf8(line).map_err(|_| SourceError::Database {
                    source_url: mask_url(&self.conn.url),
                    message: format!("cannot read {}: the answer is not UTF-8", self.specs[stream].table),
                })?;
                out.push(TsvRow::new(text));
                start += nl + 1;
            }
            q.partial.drain(..start);
            if out.len() >= want || q.eof {
                return Ok(out);
            }
            match q.cursor.next().await {
                Ok(Some(chunk)) => q.partial.extend_from_slice(&chunk),
                Ok(None) => q.eof = true,
                Err(e) => {
                    let e = self.conn.error("query failed", e);
                    return Err(self.table_error(stream, e));
                }
            }
        }
    }
}

async fn produce(cfg: ChConfig, tx: SyncSender<Vec<Result<Record, SourceError>>>) -> Result<(), SourceError> {
    let conn = Connection::open(&cfg.url, cfg.database.as_deref()).await?;
    // ClickHouse has no snapshot across queries: the upper bound (server time − lag) keeps
    // rows inserted during the run for the next one, as PostgreSQL's snapshot does.
    let now = conn.text("SELECT toUInt32(now())").await?;
    let now = now.trim().parse::<i64>().ok().and_then(|s| chrono::DateTime::from_timestamp(s, 0)).ok_or_else(|| {
        SourceError::Database { source_url: mask_url(&cfg.url), message: format!("unreadable server time {now:?}") }
    })?;
    let lag = chrono::Duration::from_std(cfg.lag).unwrap_or(chrono::Duration::zero());
    let upper = match cfg.to {
        Some(to) if to < now - lag => to,
        _ => now - lag,
    };
    let cols = conn.columns().await?;
    let (mut specs, skipped) = usable(cfg.tables(), &cols);
    // The hierarchy view and the siphon replica hold the same group audit events.
    if specs.iter().any(|s| s.table == "hierarchy_audit_events") {
        specs.retain(|s| !s.table.starts_with("siphon_"));
    }
    if specs.is_empty() {
        return Err(SourceError::no_tables(&cfg.url, &format!("database {:?}", conn.database)));
    }
    if !skipped.is_empty() {
        tracing::warn!("database {}: {}; reading the others", conn.database, skipped.join("; "));
    }
    tracing::info!(
        tables = specs.len(),
        version = %conn.version,
        until = %crate::model::time::format(&upper),
        "reading ClickHouse"
    );
    let mut page_sql = Vec::new();
    for spec in &specs {
        let have = cols.get(&spec.table).cloned().unwrap_or_default();
        page_sql.push(
            sql::PageSql::new(spec, &conn.database, &have, &cols)
                .map_err(|message| SourceError::Database { source_url: mask_url(&cfg.url), message })?,
        );
    }
    let tables = specs.iter().map(|s| (s.clone(), cfg.resume.get(&s.stream).cloned())).collect();
    let from = cfg.from.unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let open = specs.iter().map(|_| None).collect();
    let mut pager = ChPager { conn, specs, sql: page_sql, open, from, to: upper };
    let url = cfg.url.clone();
    let describe = |table: &str, e: ColumnError| SourceError::Database {
        source_url: mask_url(&url),
        message: format!("unexpected column values in {table}: {e}"),
    };
    merge(&mut pager, tables, cfg.page_rows, cfg.prepare.clone(), &tx, &describe).await
}

/// The ClickHouse source, read on a background thread.
pub fn open(cfg: ChConfig) -> Result<DbSource, SourceError> {
    DbSource::start("clickhouse-source", move |tx| produce(cfg, tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ep = Endpoint::parse("clickhouse://reader:p%40ss@ch.example:9000/gitlab_ch").unwrap();
        assert_eq!(ep.base, "http://ch.example:9000");
        assert_eq!((ep.user.as_deref(), ep.password.as_deref()), (Some("reader"), Some("p@ss")));
        assert_eq!(ep.database, "gitlab_ch");
        let ep = Endpoint::parse("https://ch.example/").unwrap();
        assert_eq!((ep.base.as_str(), ep.database.as_str()), ("https://ch.example:8443", "default"));
        let e = Endpoint::parse("clickhouse://u:secret@/db").unwrap_err().to_string();
        assert!(e.contains("no host") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn tab_separated_rows_and_arrays() {
        let rows = TsvRow::parse_all(b"1\ta\\tb\\\\c\t\\N\t['x\\'y','z\\\\t']\n2\t\t\\N\t[]\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text(1).unwrap(), Some("a\tb\\c".to_string()));
        assert_eq!(rows[0].text(2).unwrap(), None);
        assert_eq!(rows[0].int(0).unwrap(), Some(1));
        assert_eq!(rows[0].texts(3).unwrap(), Some(vec!["x'y".to_string(), "z\\t".to_string()]));
        assert_eq!(rows[1].texts(3).unwrap(), Some(vec![]));
        assert_eq!(rows[1].text(1).unwrap(), Some(String::new()));
        assert_eq!(rows[1].int(2).unwrap(), None);
        assert!(rows[1].int(1).is_err());
        assert!(rows[1].int(9).is_err());
        // Empty fields at either end; an empty line is one empty field.
        let row = TsvRow::new("\ta\t");
        assert_eq!(
            (row.fields(), row.field(0), row.field(1), row.field(2), row.field(3)),
            (3, Some(""), Some("a"), Some(""), None)
        );
        assert_eq!((TsvRow::new("").fields(), TsvRow::new("").get(0)), (1, Some(String::new())));
        assert_eq!(TsvRow::new("x\t\\N").get(1), None);
    }
}
