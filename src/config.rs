//! The job file (TOML): named export and report jobs with schedules. Validation does no I/O
//! beyond reading secrets, checks every key, and reports every problem with its line and key.
//!
//! ```toml
//! state_dir = "/var/lib/compliance-report"
//!
//! [jobs.siem]
//! kind = "export"
//! source = "${DATABASE_URL}"
//! format = "cef"
//! schedule = "*/15 * * * *"
//! checkpoint = "siem"
//! [[jobs.siem.sinks]]
//! type = "file"
//! path = "/var/spool/audit/events.cef"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use toml_edit::{Document, Item, Table, Value};

use crate::cli::{parse_duration, parse_size};
use crate::encode::Format;
use crate::schedule::cron::Schedule;
use crate::sinks::file::Rotation;

/// A validated job file.
#[derive(Debug, Clone)]
pub struct JobFile {
    pub path: PathBuf,
    pub state_dir: Option<PathBuf>,
    pub jobs: Vec<Job>,
}

/// One named job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// When the built-in scheduler runs it (`None`: only `run JOB`).
    pub schedule: Option<Schedule>,
    pub timezone: Tz,
    /// Extra attempts after a failed run (the scheduler's retry budget).
    pub retries: u32,
    /// Random delay before a scheduled run, up to this long.
    pub jitter: Duration,
    pub action: Action,
}

/// What a job does.
#[derive(Debug, Clone)]
pub enum Action {
    Export(ExportJob),
    Report(ReportJob),
}

/// An export job.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// Source URL or paths (secrets already filled in; never log it unmasked).
    pub source: Vec<String>,
    pub schema: Option<String>,
    pub format: Format,
    pub range: Option<String>,
    pub events: Vec<String>,
    pub projects: Vec<String>,
    pub actors: Vec<String>,
    pub checkpoint: Option<String>,
    pub lag: Duration,
    pub severities: Vec<String>,
    pub sinks: Vec<SinkConfig>,
    pub metrics_file: Option<PathBuf>,
    /// The hash chain (None: `chain = false`).
    pub chain: Option<crate::export::ChainOptions>,
    /// `redact = "prompts" | "all" | "off"`, `redact_key`.
    pub redact: crate::export::RedactOptions,
}

/// Where an export job delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    Stdout,
    File { path: PathBuf, rotation: Option<Rotation> },
    Syslog(crate::sinks::syslog::SyslogConfig),
    Http(crate::sinks::http::HttpConfig),
}

/// A report job.
#[derive(Debug, Clone)]
pub struct ReportJob {
    /// Source URL or paths (secrets already filled in; never log it unmasked).
    pub source: Vec<String>,
    pub schema: Option<String>,
    pub framework: String,
    pub range: String,
    /// Each run writes its package into `output_dir/FRAMEWORK-FROM` (the period's first day).
    pub output_dir: PathBuf,
    pub formats: Vec<String>,
    pub org: String,
    pub sign_key: Option<PathBuf>,
    pub baseline: Option<Duration>,
    pub redact: crate::export::RedactOptions,
}

/// One problem in a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// Why a job file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read job file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// No job file was given or found.
    #[error("no job file: pass --config PATH, or create ./compliance-report.toml or {0}")]
    NotFound(String),
    /// The file has problems; all of them are listed.
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  line {}: {}: {}", p.line, p.key, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid { path: String, problems: Vec<Problem> },
}

/// The job file used when `--config` is not given: `./compliance-report.toml`, else
/// `$XDG_CONFIG_HOME/compliance-report/compliance-report.toml` (or `~/.config/…`).
pub fn default_path() -> Result<PathBuf, ConfigError> {
    let local = PathBuf::from("compliance-report.toml");
    if local.exists() {
        return Ok(local);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    let global = base.join("compliance-report").join("compliance-report.toml");
    if global.exists() {
        Ok(global)
    } else {
        Err(ConfigError::NotFound(global.display().to_string()))
    }
}

/// Read and validate a job file.
pub fn load(path: &Path) -> Result<JobFile, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
    parse(path, &text, &|name| std::env::var(name).ok())
}

struct Checker<'a> {
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

const JOB_KEYS: &[&str] = &["kind", "schedule", "timezone", "retries", "jitter"];
const EXPORT_KEYS: &[&str] = &[
    "source",
    "password_file",
    "schema",
    "format",
    "range",
    "events",
    "projects",
    "actors",
    "checkpoint",
    "lag",
    "severity",
    "sinks",
    "metrics_file",
    "chain",
    "chain_id",
    "sign_key",
    "anchor_every",
    "redact",
    "redact_key",
];
const REPORT_KEYS: &[&str] = &[
    "source",
    "password_file",
    "schema",
    "framework",
    "range",
    "output_dir",
    "formats",
    "org",
    "sign_key",
    "baseline",
    "redact",
    "redact_key",
];
const FRAMEWORKS: &[&str] = &["soc2", "iso27001", "fedramp"];
const REPORT_FORMATS: &[&str] = &["html", "pdf", "md", "json", "csv"];

impl Checker<'_> {
    fn line(&self, span: Option<std::ops::Range<usize>>) -> usize {
        span.map_or(0, |s| self.text[..s.start.min(self.text.len())].matches('\n').count() + 1)
    }

    fn problem(&mut self, span: Option<std::ops::Range<usize>>, key: &str, message: impl Into<String>) {
        let line = self.line(span);
        self.problems.push(Problem { line, key: key.to_string(), message: message.into() });
    }

    fn span_of(table: &Table, key: &str) -> Option<std::ops::Range<usize>> {
        table.key(key).and_then(|k| k.span()).or_else(|| table.get(key).and_then(Item::span))
    }

    fn string(&mut self, table: &Table, path: &str, key: &str) -> Option<String> {
        let item = table.get(key)?;
        match item.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.problem(Self::span_of(table, key), &format!("{path}.{key}"), "must be a string");
                None
            }
        }
    }

    fn strings(&mut self, table: &Table, path: &str, key: &str) -> Vec<String> {
        let Some(item) = table.get(key) else { return Vec::new() };
        match item.as_array() {
            Some(arr) if arr.iter().all(|v| v.as_str().is_some()) => {
                arr.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            _ => {
                self.problem(Self::span_of(table, key), &format!("{path}.{key}"), "must be a list of strings");
                Vec::new()
            }
        }
    }

    /// `${VAR}` references replaced by the environment's values (problems recorded).
    fn expand(&mut self, table: &Table, path: &str, key: &str, value: &str) -> String {
        match expand_vars(value, self.env) {
            Ok(text) => text,
            Err(message) => {
                self.problem(Self::span_of(table, key), &format!("{path}.{key}"), message);
                String::new()
            }
        }
    }

    fn unknown_keys(&mut self, table: &Table, path: &str, allowed: &[&[&str]]) {
        for (key, _) in table.iter() {
            if !allowed.iter().any(|set| set.contains(&key)) {
                let known: Vec<&str> = allowed.iter().flat_map(|s| s.iter().copied()).collect();
                self.problem(
                    Self::span_of(table, key),
                    &format!("{path}.{key}"),
                    format!("unknown key (known: {})", known.join(", ")),
                );
            }
        }
    }

    fn job(&mut self, name: &str, table: &Table) -> Option<Job> {
        let path = format!("jobs.{name}");
        let header = table.span();
        let kind = self.string(table, &path, "kind");
        let action_keys: &[&str] = match kind.as_deref() {
            Some("export") => EXPORT_KEYS,
            Some("report") => REPORT_KEYS,
            Some(other) => {
                self.problem(
                    Self::span_of(table, "kind"),
                    &format!("{path}.kind"),
                    format!("{other:?} is not a job kind; use \"export\" or \"report\""),
                );
                &[]
            }
            None => {
                if !table.contains_key("kind") {
                    self.problem(header.clone(), &path, "missing key \"kind\" (\"export\" or \"report\")");
                }
                &[]
            }
        };
        if kind.as_deref().is_some_and(|k| k == "export" || k == "report") {
            self.unknown_keys(table, &path, &[JOB_KEYS, action_keys]);
        }
        let timezone = match self.string(table, &path, "timezone") {
            None => Tz::UTC,
            Some(tz) => tz.parse().unwrap_or_else(|_| {
                self.problem(
                    Self::span_of(table, "timezone"),
                    &format!("{path}.timezone"),
                    format!("unknown time zone {tz:?}; use an IANA name such as UTC or Europe/Berlin"),
                );
                Tz::UTC
            }),
        };
        let schedule = self.string(table, &path, "schedule").and_then(|s| {
            Schedule::parse(&s, timezone)
                .map_err(|e| self.problem(Self::span_of(table, "schedule"), &format!("{path}.schedule"), e))
                .ok()
        });
        let retries = match table.get("retries") {
            None => 0,
            Some(item) => match item.as_integer().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    self.problem(
                        Self::span_of(table, "retries"),
                        &format!("{path}.retries"),
                        "must be a whole number ≥ 0",
                    );
                    0
                }
            },
        };
        let duration = |c: &mut Self, key: &str, default: Duration| match c.string(table, &path, key) {
            None => default,
            Some(text) => parse_duration(&text).unwrap_or_else(|e| {
                c.problem(Self::span_of(table, key), &format!("{path}.{key}"), e);
                default
            }),
        };
        let jitter = duration(self, "jitter", Duration::ZERO);
        let action = match kind.as_deref() {
            Some("export") => {
                let lag = duration(self, "lag", Duration::from_secs(60));
                Action::Export(self.export(name, table, lag)?)
            }
            Some("report") => Action::Report(self.report(name, table)?),
            _ => return None,
        };
        Some(Job { name: name.to_string(), schedule, timezone, retries, jitter, action })
    }

    /// `source` (a URL with `${VAR}`s filled in, or paths) and `password_file`.
    fn source(&mut self, table: &Table, path: &str) -> Vec<String> {
        let path = path.to_string();
        let mut source = match table.get("source") {
            None => {
                self.problem(
                    table.span(),
                    &path,
                    "missing key \"source\" (a postgres:// URL, ${DATABASE_URL}, or paths)",
                );
                Vec::new()
            }
            Some(item) if item.as_str().is_some() => {
                let raw = item.as_str().unwrap_or_default().to_string();
                vec![self.expand(table, &path, "source", &raw)]
            }
            Some(_) => self.strings(table, &path, "source"),
        };
        if let Some(file) = self.string(table, &path, "password_file") {
            match std::fs::read_to_string(&file) {
                Ok(secret) => match source.first().map(|s| with_password(s, secret.trim_end_matches(['\n', '\r']))) {
                    Some(Some(url)) => source[0] = url,
                    _ => self.problem(
                        Self::span_of(table, "password_file"),
                        &format!("{path}.password_file"),
                        "needs a source URL with a user name (postgres://user@host/db)",
                    ),
                },
                Err(e) => self.problem(
                    Self::span_of(table, "password_file"),
                    &format!("{path}.password_file"),
                    format!("cannot read {file}: {e}"),
                ),
            }
        }
        source
    }

    fn export(&mut self, name: &str, table: &Table, lag: Duration) -> Option<ExportJob> {
        let path = format!("jobs.{name}");
        let source = self.source(table, &path);
        let format = match self.string(table, &path, "format").as_deref().map(Format::parse) {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                self.problem(Self::span_of(table, "format"), &format!("{path}.format"), e);
                Format::Json
            }
            None => {
                self.problem(table.span(), &path, format!("missing key \"format\" ({})", Format::names()));
                Format::Json
            }
        };
        let range = self.string(table, &path, "range");
        if let Some(r) = &range {
            if let Err(e) = crate::range::TimeRange::parse(r, Tz::UTC) {
                self.problem(Self::span_of(table, "range"), &format!("{path}.range"), e.to_string());
            }
        }
        let severities = self.strings(table, &path, "severity");
        for s in &severities {
            if let Err(e) = crate::model::catalog::SeverityTable::default().add_override(s) {
                self.problem(Self::span_of(table, "severity"), &format!("{path}.severity"), e.to_string());
            }
        }
        let sinks = self.sinks(table, &path);
        let chain = self.chain(table, &path);
        let redact = self.redact(table, &path);
        Some(ExportJob {
            source,
            schema: self.string(table, &path, "schema"),
            format,
            range,
            events: self.strings(table, &path, "events"),
            projects: self.strings(table, &path, "projects"),
            actors: self.strings(table, &path, "actors"),
            checkpoint: self.string(table, &path, "checkpoint"),
            lag,
            severities,
            sinks,
            metrics_file: self.string(table, &path, "metrics_file").map(PathBuf::from),
            chain,
            redact,
        })
    }

    /// `redact` ("prompts", the default; "all"; "off") and `redact_key`.
    fn redact(&mut self, table: &Table, path: &str) -> crate::export::RedactOptions {
        use crate::secrets::redactor::Mode;
        let mode = self.string(table, path, "redact").map_or(Mode::Prompts, |m| {
            Mode::parse(&m).unwrap_or_else(|| {
                self.problem(
                    Self::span_of(table, "redact"),
                    &format!("{path}.redact"),
                    format!("{m:?} is not a redaction mode; use \"prompts\", \"all\" or \"off\""),
                );
                Mode::Prompts
            })
        });
        let key = self.string(table, path, "redact_key").map(PathBuf::from);
        crate::export::RedactOptions { mode, key }
    }

    /// `chain` (default true), `chain_id`, `sign_key`, `anchor_every`.
    fn chain(&mut self, table: &Table, path: &str) -> Option<crate::export::ChainOptions> {
        let enabled = match table.get("chain") {
            None => true,
            Some(item) => item.as_bool().unwrap_or_else(|| {
                self.problem(Self::span_of(table, "chain"), &format!("{path}.chain"), "must be true or false");
                true
            }),
        };
        let id = self.string(table, path, "chain_id");
        if let Some(id) = id.as_deref().filter(|id| !crate::chain::valid_id(id)) {
            self.problem(
                Self::span_of(table, "chain_id"),
                &format!("{path}.chain_id"),
                format!("{id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"),
            );
        }
        let anchor_every = match table.get("anchor_every") {
            None => 0,
            Some(item) => item.as_integer().and_then(|n| u64::try_from(n).ok()).unwrap_or_else(|| {
                self.problem(
                    Self::span_of(table, "anchor_every"),
                    &format!("{path}.anchor_every"),
                    "must be a whole number ≥ 0",
                );
                0
            }),
        };
        let sign_key = self.string(table, path, "sign_key").map(PathBuf::from);
        enabled.then_some(crate::export::ChainOptions { id, sign_key, anchor_every })
    }

    fn sinks(&mut self, table: &Table, path: &str) -> Vec<SinkConfig> {
        let tables: Vec<(Table, Option<std::ops::Range<usize>>)> = match table.get("sinks") {
            None => return vec![SinkConfig::Stdout],
            Some(Item::ArrayOfTables(a)) => a.iter().map(|t| (t.clone(), t.span())).collect(),
            Some(Item::Value(Value::Array(a))) if a.iter().all(|v| v.as_inline_table().is_some()) => {
                a.iter().filter_map(|v| v.as_inline_table()).map(|t| (t.clone().into_table(), t.span())).collect()
            }
            Some(_) => {
                self.problem(
                    Self::span_of(table, "sinks"),
                    &format!("{path}.sinks"),
                    "must be [[…sinks]] tables with a type",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, (t, span)) in tables.iter().enumerate() {
            let spath = format!("{path}.sinks[{i}]");
            let kind = self.string(t, &spath, "type");
            match kind.as_deref() {
                Some("stdout") => {
                    self.unknown_keys(t, &spath, &[&["type"]]);
                    out.push(SinkConfig::Stdout);
                }
                Some("file") => {
                    self.unknown_keys(t, &spath, &[&["type", "path", "rotate_size", "rotate_keep"]]);
                    let Some(p) = self.string(t, &spath, "path") else {
                        self.problem(span.clone(), &spath, "a file sink needs \"path\"");
                        continue;
                    };
                    let rotation = self.string(t, &spath, "rotate_size").and_then(|size| match parse_size(&size) {
                        Ok(max_bytes) => Some(Rotation { max_bytes, keep: 5 }),
                        Err(e) => {
                            self.problem(Self::span_of(t, "rotate_size"), &format!("{spath}.rotate_size"), e);
                            None
                        }
                    });
                    let keep = t.get("rotate_keep").and_then(Item::as_integer).and_then(|n| u32::try_from(n).ok());
                    let rotation = rotation.map(|r| Rotation { keep: keep.unwrap_or(r.keep), ..r });
                    out.push(SinkConfig::File { path: PathBuf::from(p), rotation });
                }
                Some("syslog") => {
                    self.unknown_keys(t, &spath, &[&["type", "url"]]);
                    match self.string(t, &spath, "url").map(|u| crate::sinks::syslog::SyslogConfig::parse(&u)) {
                        Some(Ok(cfg)) => out.push(SinkConfig::Syslog(cfg)),
                        Some(Err(e)) => self.problem(Self::span_of(t, "url"), &format!("{spath}.url"), e.to_string()),
                        None => {
                            self.problem(span.clone(), &spath, "a syslog sink needs \"url\" (syslog+tcp://HOST:PORT)")
                        }
                    }
                }
                Some("http") => {
                    self.unknown_keys(
                        t,
                        &spath,
                        &[&["type", "url", "format", "index", "headers", "gzip", "ca", "retries", "timeout"]],
                    );
                    if let Some(cfg) = self.http_sink(t, &spath) {
                        out.push(SinkConfig::Http(cfg));
                    }
                }
                Some(other) => self.problem(
                    Self::span_of(t, "type"),
                    &format!("{spath}.type"),
                    format!("{other:?} is not a sink type; use stdout, file, syslog or http"),
                ),
                None => self.problem(span.clone(), &spath, "missing key \"type\""),
            }
        }
        out
    }

    /// `type = "http"`: url, format (lines|bulk), index, headers (a table; `${VAR}` allowed),
    /// gzip, ca, retries, timeout.
    fn http_sink(&mut self, t: &Table, spath: &str) -> Option<crate::sinks::http::HttpConfig> {
        use crate::sinks::http::{BodyFormat, HttpConfig};
        let Some(url) = self.string(t, spath, "url") else {
            self.problem(t.span(), spath, "an http sink needs \"url\"");
            return None;
        };
        let mut cfg = HttpConfig::new(&url);
        match self.string(t, spath, "format").as_deref() {
            None | Some("lines") => {}
            Some("bulk") => {
                cfg.body = BodyFormat::Bulk {
                    index: self.string(t, spath, "index").unwrap_or_else(|| "compliance-report".into()),
                }
            }
            Some(other) => self.problem(
                Self::span_of(t, "format"),
                &format!("{spath}.format"),
                format!("{other:?}: use lines or bulk"),
            ),
        }
        if let Some(item) = t.get("headers") {
            match item.as_table_like() {
                Some(h) => {
                    for (k, v) in h.iter() {
                        match v.as_str() {
                            Some(v) => {
                                let v = self.expand(t, spath, "headers", v);
                                cfg.headers.push((k.to_string(), v));
                            }
                            None => self.problem(
                                Self::span_of(t, "headers"),
                                &format!("{spath}.headers.{k}"),
                                "must be a string",
                            ),
                        }
                    }
                    if cfg.headers.len() > 20 {
                        self.problem(Self::span_of(t, "headers"), &format!("{spath}.headers"), "at most 20 headers");
                    }
                }
                None => self.problem(
                    Self::span_of(t, "headers"),
                    &format!("{spath}.headers"),
                    "must be a table of NAME = \"value\"",
                ),
            }
        }
        cfg.gzip = t.get("gzip").and_then(Item::as_bool).unwrap_or(false);
        cfg.tls.ca_file = self.string(t, spath, "ca");
        if let Some(n) = t.get("retries").and_then(Item::as_integer).and_then(|n| u32::try_from(n).ok()) {
            cfg.attempts = n + 1;
        }
        if let Some(text) = self.string(t, spath, "timeout") {
            match parse_duration(&text) {
                Ok(d) => cfg.timeout = d,
                Err(e) => self.problem(Self::span_of(t, "timeout"), &format!("{spath}.timeout"), e),
            }
        }
        Some(cfg)
    }

    fn report(&mut self, name: &str, table: &Table) -> Option<ReportJob> {
        let path = format!("jobs.{name}");
        let framework = self.string(table, &path, "framework").unwrap_or_else(|| {
            self.problem(table.span(), &path, "missing key \"framework\" (soc2, iso27001 or fedramp)");
            String::new()
        });
        if !framework.is_empty() && !FRAMEWORKS.contains(&framework.as_str()) {
            self.problem(
                Self::span_of(table, "framework"),
                &format!("{path}.framework"),
                format!("{framework:?} is not a framework; use soc2, iso27001 or fedramp"),
            );
        }
        let range = self.string(table, &path, "range").unwrap_or_else(|| "last-month".to_string());
        if let Err(e) = crate::range::TimeRange::parse(&range, Tz::UTC) {
            self.problem(Self::span_of(table, "range"), &format!("{path}.range"), e.to_string());
        }
        let output_dir = self.string(table, &path, "output_dir").map(PathBuf::from).unwrap_or_else(|| {
            self.problem(table.span(), &path, "missing key \"output_dir\"");
            PathBuf::new()
        });
        let formats = self.strings(table, &path, "formats");
        for f in &formats {
            if !REPORT_FORMATS.contains(&f.as_str()) {
                self.problem(
                    Self::span_of(table, "formats"),
                    &format!("{path}.formats"),
                    format!("{f:?} is not a report format; use html, pdf, md, json or csv"),
                );
            }
        }
        let source = self.source(table, &path);
        let schema = self.string(table, &path, "schema");
        let org = self.string(table, &path, "org").unwrap_or_default();
        let sign_key = self.string(table, &path, "sign_key").map(PathBuf::from);
        let baseline = self.string(table, &path, "baseline").and_then(|b| match parse_duration(&b) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(Self::span_of(table, "baseline"), &format!("{path}.baseline"), e);
                None
            }
        });
        let redact = self.redact(table, &path);
        Some(ReportJob { source, schema, framework, range, output_dir, formats, org, sign_key, baseline, redact })
    }
}

/// Replace `${VAR}` references in `text` with `env`'s values (used by job files and by
/// command-line options that carry secrets, such as `--http-header`).
pub fn expand_vars(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| "unclosed ${…} reference".to_string())?;
        let name = &rest[start + 2..start + end];
        out.push_str(&env(name).ok_or_else(|| format!("environment variable {name} is not set"))?);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Put `password` into `url`'s user info (`postgres://user@host` → `postgres://user:pw@host`).
fn with_password(url: &str, password: &str) -> Option<String> {
    let scheme_end = url.find("://")? + 3;
    let at = url[scheme_end..].find('@')? + scheme_end;
    let user = url[scheme_end..at].split(':').next()?;
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Some(format!("{}{user}:{encoded}{}", &url[..scheme_end], &url[at..]))
}

/// Validate job file text (`env` resolves `${VAR}` references).
pub fn parse(path: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<JobFile, ConfigError> {
    let invalid = |problems| ConfigError::Invalid { path: path.display().to_string(), problems };
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            return Err(invalid(vec![Problem {
                line,
                key: "(syntax)".into(),
                message: e.message().trim().to_string(),
            }]));
        }
    };
    let mut c = Checker { text, env, problems: Vec::new() };
    let root = doc.as_table();
    c.unknown_keys(root, "(top level)", &[&["state_dir", "jobs"]]);
    let state_dir = c.string(root, "(top level)", "state_dir").map(PathBuf::from);
    let mut jobs = Vec::new();
    match root.get("jobs") {
        None => c.problem(Some(0..0), "jobs", "no jobs: add a [jobs.NAME] table"),
        Some(Item::Table(t)) => {
            for (name, item) in t.iter() {
                let valid_name =
                    !name.is_empty() && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
                if !valid_name {
                    c.problem(
                        Checker::span_of(t, name),
                        &format!("jobs.{name}"),
                        "job names are letters, digits, '-' and '_'",
                    );
                }
                match item.as_table() {
                    Some(job) => jobs.extend(c.job(name, job)),
                    None => {
                        c.problem(Checker::span_of(t, name), &format!("jobs.{name}"), "must be a [jobs.NAME] table")
                    }
                }
            }
        }
        Some(_) => c.problem(Checker::span_of(root, "jobs"), "jobs", "must be a table of [jobs.NAME] tables"),
    }
    if c.problems.is_empty() {
        Ok(JobFile { path: path.to_path_buf(), state_dir, jobs })
    } else {
        c.problems.sort_by_key(|p| p.line);
        Err(invalid(c.problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "DATABASE_URL").then(|| "postgres://reader@db/gitlab".to_string())
    }

    const GOOD: &str = r#"
state_dir = "/tmp/state"

[jobs.siem]
kind = "export"
source = "${DATABASE_URL}"
format = "cef"
schedule = "*/15 * * * *"
timezone = "Europe/Berlin"
checkpoint = "siem"
lag = "2m"
events = ["duo_flow_*"]
retries = 2
jitter = "30s"
sign_key = "/etc/compliance-report/chain.pem"
anchor_every = 10000

[[jobs.siem.sinks]]
type = "file"
path = "/var/spool/audit/events.cef"
rotate_size = "100MiB"

[[jobs.siem.sinks]]
type = "stdout"

[[jobs.siem.sinks]]
type = "syslog"
url = "syslog+tls://siem.internal:6514?ca=/etc/ssl/siem-ca.pem"

[jobs.monthly-soc2]
kind = "report"
source = "${DATABASE_URL}"
framework = "soc2"
range = "last-month"
output_dir = "/srv/reports"
schedule = "@monthly"
"#;

    #[test]
    fn a_good_file() {
        let f = parse(Path::new("jobs.toml"), GOOD, &env).unwrap();
        assert_eq!(f.state_dir, Some(PathBuf::from("/tmp/state")));
        assert_eq!(f.jobs.len(), 2);
        let siem = &f.jobs[0];
        assert_eq!(siem.retries, 2);
        assert_eq!(siem.jitter, Duration::from_secs(30));
        let Action::Export(e) = &siem.action else { panic!() };
        assert_eq!(e.source, ["postgres://reader@db/gitlab"]);
        assert_eq!(e.lag, Duration::from_secs(120));
        let chain = crate::export::ChainOptions {
            id: None,
            sign_key: Some("/etc/compliance-report/chain.pem".into()),
            anchor_every: 10000,
        };
        assert_eq!(e.chain, Some(chain));
        assert_eq!(
            e.sinks[0],
            SinkConfig::File {
                path: "/var/spool/audit/events.cef".into(),
                rotation: Some(Rotation { max_bytes: 100 << 20, keep: 5 })
            }
        );
        assert_eq!(e.sinks[1], SinkConfig::Stdout);
        let SinkConfig::Syslog(syslog) = &e.sinks[2] else { panic!("{:?}", e.sinks[2]) };
        assert_eq!(
            (syslog.host.as_str(), syslog.port, syslog.tls.ca_file.as_deref()),
            ("siem.internal", 6514, Some("/etc/ssl/siem-ca.pem"))
        );
        assert_eq!(siem.schedule.as_ref().unwrap().tz().name(), "Europe/Berlin");
    }

    #[test]
    fn every_problem_names_its_line_and_key() {
        let text = r#"
[jobs.a]
kind = "export"
source = "${NOPE}"
format = "xml"
schedule = "every hour"
colour = "blue"

[[jobs.a.sinks]]
type = "kafka"

[jobs.b]
kind = "report"
framework = "pci"
output_dir = "/x"
timezone = "Mars/Base"
"#;
        let err = parse(Path::new("jobs.toml"), text, &env).unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else { panic!("{err}") };
        let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            got,
            [
                (4, "jobs.a.source"),
                (5, "jobs.a.format"),
                (6, "jobs.a.schedule"),
                (7, "jobs.a.colour"),
                (10, "jobs.a.sinks[0].type"),
                (12, "jobs.b"),
                (14, "jobs.b.framework"),
                (16, "jobs.b.timezone"),
            ],
            "{err}"
        );
        assert!(err.to_string().contains("line 4: jobs.a.source: environment variable NOPE is not set"), "{err}");
        assert!(err.to_string().contains("line 7: jobs.a.colour: unknown key"), "{err}");
    }

    #[test]
    fn http_sinks_take_headers_from_the_environment() {
        let text = "[jobs.x]\nkind = \"export\"\nformat = \"hec\"\nsource = \"a.log\"\n[[jobs.x.sinks]]\ntype = \"http\"\nurl = \"https://splunk:8088/services/collector/event\"\nheaders = { Authorization = \"Splunk ${DATABASE_URL}\" }\ngzip = true\nretries = 2\n";
        let f = parse(Path::new("j.toml"), text, &env).unwrap();
        let Action::Export(e) = &f.jobs[0].action else { panic!() };
        let SinkConfig::Http(h) = &e.sinks[0] else { panic!("{:?}", e.sinks) };
        assert_eq!(h.headers, [("Authorization".to_string(), "Splunk postgres://reader@db/gitlab".to_string())]);
        assert!(h.gzip);
        assert_eq!(h.attempts, 3);
    }

    #[test]
    fn redaction_modes_and_keys() {
        use crate::secrets::redactor::Mode;
        let text = "[jobs.a]\nkind = \"export\"\nformat = \"json\"\nsource = \"a.log\"\nredact = \"all\"\nredact_key = \"/etc/cr/redact.key\"\n\n[jobs.b]\nkind = \"export\"\nformat = \"json\"\nsource = \"a.log\"\n";
        let f = parse(Path::new("j.toml"), text, &env).unwrap();
        let Action::Export(a) = &f.jobs[0].action else { panic!() };
        assert_eq!(a.redact, crate::export::RedactOptions { mode: Mode::All, key: Some("/etc/cr/redact.key".into()) });
        let Action::Export(b) = &f.jobs[1].action else { panic!() };
        assert_eq!(b.redact, crate::export::RedactOptions::default(), "prompts, with the state directory's key");
        let err = parse(Path::new("j.toml"), &text.replace("\"all\"", "\"some\""), &env).unwrap_err().to_string();
        assert!(
            err.contains(
                "line 5: jobs.a.redact: \"some\" is not a redaction mode; use \"prompts\", \"all\" or \"off\""
            ),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = parse(Path::new("j.toml"), "[jobs.a]\nkind = \n", &env).unwrap_err();
        assert!(err.to_string().contains("line 2: (syntax)"), "{err}");
    }

    #[test]
    fn password_file_goes_into_the_url_and_never_inline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "p@ss word\n").unwrap();
        let text = format!("[jobs.x]\nkind = \"export\"\nformat = \"json\"\nsource = \"postgres://reader@db/gitlab\"\npassword_file = \"{}\"\n", secret.display());
        let f = parse(Path::new("j.toml"), &text, &env).unwrap();
        let Action::Export(e) = &f.jobs[0].action else { panic!() };
        assert_eq!(e.source, ["postgres://reader:p%40ss%20word@db/gitlab"]);
    }
}
