//! Command-line interface: clap derive structs, shared option groups flattened into subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::encode::Format;
use crate::export::OnError;

const EXPORT_EXAMPLES: &str = "\
Examples:
  # October 2026 (UTC days, both inclusive) from GitLab's audit log, as CEF on stdout
  compliance-report export --source /var/log/gitlab/gitlab-rails/audit_json.log \\
      --format cef --range 2026-10-01..2026-10-31

  # Only agent-flow lifecycle events, as JSON lines, appended to a rotating file
  compliance-report export --source logs/ --format json --event 'duo_flow_*' \\
      --output /var/spool/audit/events.json --rotate-size 100MiB

  # Instants instead of days; pipe into a forwarder
  compliance-report export --format cef \\
      --range 2026-10-01T08:00:00Z..2026-10-01T12:00:00Z | logger -t audit

Exit codes: 0 success, 1 runtime failure (nothing read before it is lost), 2 usage error.";

/// Export audit events and AI-agent flow sessions to SIEM formats and compliance evidence.
#[derive(Debug, Parser)]
#[command(name = "compliance-report", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Logging (always to stderr; stdout carries only data).
#[derive(Debug, Args)]
pub struct LogArgs {
    /// More log output (-v debug, -vv trace). COMPLIANCE_REPORT_LOG (tracing filter syntax) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export events as CEF, JSON, OCSF, ECS or HEC lines to stdout, files, syslog or HTTP.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(Box<ExportArgs>),
    /// Demo data: a realistic organisation's audit trail, generated deterministically.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Database set-up: create the flow-session tables, optionally load the demo data.
    #[command(subcommand)]
    Db(DbCommand),
    /// Show which tables and columns a database source has, rows in range, and read permission.
    Check(CheckArgs),
    /// Aggregate events (counts per actor and hour or day, per event, per flow; token sums; first
    /// sightings; distinct IPs; timelines): inside ClickHouse when the source is ClickHouse,
    /// locally otherwise. One JSON table per line.
    Aggregate(AggregateArgs),
    /// Find unusual AI-agent and audit activity in --range against the --baseline before it:
    /// explained findings tied to the events behind them.
    Anomalies(Box<AnomaliesArgs>),
    /// Which AI-agent session created or changed a commit, merge request or note: the session,
    /// who initiated and who acted, the authorization, and its full timeline.
    Trace(TraceArgs),
    /// AI-agent sessions: list them, or show one with its timeline and integrity findings.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Run one job of the job file now (for system cron, systemd timers, Kubernetes CronJobs).
    /// Exit code 3 when the job is already running elsewhere.
    Run(RunArgs),
    /// Inspect the job file.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Run scheduled jobs until SIGTERM/SIGINT (catches up a missed run once after downtime).
    Schedule(ConfigArgs),
    /// Compliance evidence report (SOC 2, ISO 27001, FedRAMP) for --range: controls evaluated by
    /// automated checks, with exceptions tied to event ids, as HTML, PDF, Markdown, JSON and CSV with
    /// a manifest of hashes. `compliance-report --framework soc2 --range …` is short for this.
    Report(Box<ReportArgs>),
    /// Check a report package against its manifest.json (exit 1 when anything differs).
    Verify(VerifyArgs),
    /// Check exported CEF or JSON files (as a SIEM received them: any order, duplicates allowed)
    /// against their hash chains: gaps, altered, reordered or conflicting events, removed tails
    /// and anchor signatures, with the exact seq numbers (exit 1 on any finding).
    VerifyChain(VerifyChainArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Framework: soc2, iso27001 or fedramp (or one a --template-dir adds).
    #[arg(long, value_name = "NAME")]
    pub framework: String,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Formats to write, comma-separated: html, pdf, md, json, csv.
    #[arg(long, default_value = "html,pdf", value_name = "LIST")]
    pub format: String,
    /// Directory for the package (default: report-FRAMEWORK-FROM).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A copy of report_templates/ to use instead of the bundled templates and control catalogs.
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
    /// Organisation name on the cover.
    #[arg(long, default_value = "", value_name = "NAME")]
    pub org: String,
    /// The generation time printed (RFC 3339; default now): fixed, the same data gives
    /// byte-identical HTML, Markdown, JSON and CSV.
    #[arg(long, value_name = "TIME")]
    pub generated_at: Option<String>,
    /// Seed of the random sample of sessions (default: derived from framework and period).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Sessions in the sample traced end to end.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub sample: usize,
    /// Sessions of the traceability matrix shown in the report itself; beyond, the sampled
    /// ones and those with a finding or without an initiating user. Every session is always
    /// in traceability.csv.
    #[arg(long, default_value_t = crate::report::MATRIX_SHOWN, value_name = "N")]
    pub matrix_rows: usize,
    /// Keep the events here even on ClickHouse (which otherwise answers the heuristics' and
    /// checks' questions itself while the period's events stream by).
    #[arg(long)]
    pub local: bool,
    /// Sign the manifest with this Ed25519 private key (PKCS#8 PEM, e.g. from
    /// `openssl genpkey -algorithm ed25519 -out key.pem`): writes manifest.sig.
    #[arg(long, value_name = "PEM")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub redact: RedactArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The report package (directory holding manifest.json).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Check manifest.sig against this Ed25519 public key (PEM, from `openssl pkey -pubout`).
    #[arg(long, value_name = "PEM")]
    pub pubkey: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyChainArgs {
    /// Exported files (plain or .gz; syslog headers and HEC envelopes are fine).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Check anchor signatures against this Ed25519 public key (PEM); a chain with no anchor
    /// is then a finding too.
    #[arg(long, value_name = "PEM")]
    pub pubkey: Option<PathBuf>,
    /// Output: text or json.
    #[arg(long, default_value = "text", value_name = "text|json")]
    pub format: String,
}

/// Where the job file is.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Job file (default: ./compliance-report.toml, then $XDG_CONFIG_HOME/compliance-report/compliance-report.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Name of the job (a [jobs.NAME] table).
    pub job: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs with their next fire times.
    List(ConfigArgs),
    /// Check the job file and report every problem with its line and key.
    Validate(ConfigArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the flow-session tables (never touches existing GitLab tables); with --with-demo,
    /// also create GitLab-shaped audit tables in an empty database and load the demo data.
    Init(DbInitArgs),
    /// ClickHouse: write (or rewrite) the fact snapshot `compliance_report_facts`: every audit
    /// and session row projected once to plain columns, so `anomalies` runs its questions
    /// without parsing details again. Used while the tables have not changed since; re-run it
    /// from cron after loads. Needs CREATE and INSERT rights in the database.
    Facts(DbFactsArgs),
}

#[derive(Debug, Args)]
pub struct DbFactsArgs {
    /// ClickHouse URL (clickhouse://user:pass@host:8123/db).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub source: String,
    /// ClickHouse database (default: the URL's).
    #[arg(long)]
    pub schema: Option<String>,
}

#[derive(Debug, Args)]
pub struct DbInitArgs {
    /// Database URL (postgres://user:pass@host/db or clickhouse://user:pass@host:8123/db).
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub source: String,
    /// PostgreSQL schema, or ClickHouse database (default: the URL's), to create the tables in.
    #[arg(long)]
    pub schema: Option<String>,
    /// Also create GitLab-shaped audit tables and load the bundled demo data into them.
    #[arg(long)]
    pub with_demo: bool,
}

#[derive(Debug, Args)]
#[group(id = "resource", required = true, multiple = false)]
pub struct TraceTarget {
    /// A commit SHA (7 or more characters).
    #[arg(long, value_name = "SHA", group = "resource")]
    pub commit: Option<String>,
    /// A merge request id.
    #[arg(long, value_name = "ID", group = "resource")]
    pub mr: Option<String>,
    /// A note (comment) id.
    #[arg(long, value_name = "ID", group = "resource")]
    pub note: Option<String>,
}

/// Text for people, JSON for tools, or a self-contained HTML page (to attach to a ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub target: TraceTarget,
    /// Only in this project (path or id).
    #[arg(long, value_name = "PATH")]
    pub project: Option<String>,
    /// GitLab's base URL, to print links to the resources (https://gitlab.example.com).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub redact: RedactArgs,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sessions with status, duration, resources and tokens, oldest first.
    List(SessionsListArgs),
    /// One session: attribution, authorization, timeline, resources, tokens, integrity findings.
    Show(SessionsShowArgs),
}

/// Output of `sessions list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only sessions initiated by this user id.
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// Only sessions in this project (id or path).
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    #[arg(long, value_name = "TYPE")]
    pub flow_type: Option<String>,
    /// started, running, paused, completed or failed.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub redact: RedactArgs,
}

#[derive(Debug, Args)]
pub struct SessionsShowArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The session id.
    pub session: String,
    /// GitLab's base URL, to print links to the resources.
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub redact: RedactArgs,
}

/// Output of `anomalies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingsFormat {
    /// A readable table.
    Table,
    /// One JSON finding per line.
    Json,
    /// One CEF line per finding (signature anomaly.HEURISTIC), for a SIEM forwarder.
    Cef,
    /// One OCSF 1.8.0 Detection Finding (2004) per line.
    Ocsf,
}

#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Only these heuristics (repeatable): volume_spike, off_hours, first_seen, failure_burst,
    /// token_outlier, service_accounts, lifecycle, stream_gap, sanitization.
    #[arg(long = "heuristic", value_name = "NAME")]
    pub heuristics: Vec<String>,
    /// Output format (table only on stdout; with --output use cef, ocsf or json).
    #[arg(long, value_enum, default_value_t = FindingsFormat::Table)]
    pub format: FindingsFormat,
    /// Read the events and run the heuristics here even on ClickHouse (which otherwise runs
    /// their counts and selections itself).
    #[arg(long)]
    pub local: bool,
    /// Keep what each NDJSON file gave in DIR (created owner-only) and read it from there on
    /// later runs while the file is unchanged: a daily run reads only its new files. Safe to
    /// delete at any time.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How the anomaly heuristics judge (shared by `anomalies` and `report`).
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// How far back before the range the baseline reaches (e.g. 30d, 8w).
    #[arg(long, default_value = "60d", value_parser = parse_duration, value_name = "DURATION")]
    pub baseline: std::time::Duration,
    /// Business hours in --tz, Monday to Friday, as START-END (hours).
    #[arg(long, default_value = "7-20", value_name = "START-END")]
    pub business_hours: String,
    /// Attributes whose first use by an actor is reported (comma-separated): ip, model,
    /// flow_type, event_name, project.
    #[arg(long, default_value = "ip", value_name = "LIST")]
    pub first_seen: String,
    /// A session without an end this long after its last event is reported.
    #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
    pub stuck_after: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Aggregation to run (repeatable; default: all): count-by-actor-hour, count-by-actor-day,
    /// count-by-event, count-by-flow, tokens-by-actor, tokens-by-session, first-seen-ip,
    /// first-seen-project, first-seen-event-name, first-seen-flow-type, distinct-ips-by-actor,
    /// timeline-hour, timeline-day.
    #[arg(long = "query", value_name = "NAME")]
    pub queries: Vec<String>,
    /// Pull the events and aggregate here even when the source could aggregate itself.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where events come from (shared by every command that reads events).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// postgres://user:pass@host:5432/db (TLS per sslmode/sslrootcert),
    /// clickhouse://user:pass@host:8123/db (https:// for TLS), or NDJSON files or directories
    /// (read sorted; `.gz` decompressed) or - for stdin (repeatable). Without it: DATABASE_URL,
    /// else CLICKHOUSE_URL, else the bundled demo data.
    #[arg(long, value_name = "URL|PATH")]
    pub source: Vec<String>,
    /// PostgreSQL schema (default public) or ClickHouse database (default: the URL's) holding the tables.
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Read a table under another name: GITLAB_NAME=ACTUAL_NAME (repeatable).
    #[arg(long = "table", value_name = "NAME=ACTUAL", value_parser = parse_rename)]
    pub tables: Vec<(String, String)>,
    /// Rows fetched per page and table (database sources; 0: 1,000 for PostgreSQL, 5,000 for ClickHouse).
    #[arg(long, value_name = "N", default_value_t = 0, hide = true)]
    pub page_rows: i64,
    /// What to do with a line that cannot be read: stop (after delivering what came before) or skip it.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,
}

/// Which events (shared by commands that filter).
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// FROM..TO: days (2026-10-01..2026-10-31, both inclusive) or RFC 3339 instants, either end may be
    /// empty; or today, yesterday, last-7d, last-30d, last-month, last-quarter, month-to-date.
    #[arg(long, value_name = "FROM..TO")]
    pub range: Option<String>,
    /// Time zone for day ranges (IANA name).
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub tz: String,
    /// Only these event names (repeatable; a trailing * matches a prefix, e.g. 'duo_flow_*').
    #[arg(long = "event", value_name = "NAME")]
    pub events: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Write Prometheus metrics of the run here (textfile-collector format, atomic), on success and failure.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Export incrementally: continue after where the last run with this checkpoint name stopped
    /// (database sources); the checkpoint moves only after the output acknowledged delivery.
    #[arg(long, value_name = "NAME")]
    pub checkpoint: Option<String>,
    /// Directory for checkpoint state (default: $XDG_STATE_HOME/compliance-report).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Leave rows newer than now minus this for the next run, so rows committed late with an
    /// older timestamp are not skipped (e.g. 60s, 5m, 0).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lag: std::time::Duration,
    /// Override the default severity of event names: NAME=N (0-10; NAME may end in *). Repeatable.
    #[arg(long = "severity", value_name = "NAME=N")]
    pub severities: Vec<String>,
    #[command(flatten)]
    pub cef: CefArgs,
    #[command(flatten)]
    pub hec: HecArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub redact: RedactArgs,
}

/// Redaction of secrets and personal data in what leaves the tool (README, "Redaction").
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Redact prompts, inputs, plans and decision logs (the default; the flag only says so).
    #[arg(long, conflicts_with_all = ["redact_all", "no_redact"])]
    pub redact: bool,
    /// Redact every free-text field: all details, messages, target details, actor and user names.
    #[arg(long, conflicts_with = "no_redact")]
    pub redact_all: bool,
    /// Redact nothing: secrets and personal data in prompts then reach every output.
    #[arg(long)]
    pub no_redact: bool,
    /// Key of the replacements' hashes (a file of 16 bytes or more; default: STATE_DIR/redact.key,
    /// created on first use). The same key gives the same [REDACTED:KIND:HASH] for a secret.
    #[arg(long, value_name = "FILE", conflicts_with = "no_redact")]
    pub redact_key: Option<PathBuf>,
}

impl RedactArgs {
    pub fn mode(&self) -> crate::secrets::redactor::Mode {
        use crate::secrets::redactor::Mode;
        match (self.redact_all, self.no_redact) {
            (true, _) => Mode::All,
            (_, true) => Mode::Off,
            _ => Mode::Prompts,
        }
    }
}

/// The hash chain every exported record carries (README, "Hash chain").
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Leave out the hash chain (chain_seq, chain_hash): the SIEM's copy can then no longer be
    /// shown to be complete and unaltered.
    #[arg(long)]
    pub no_chain: bool,
    /// Name of the chain (default: the --checkpoint name, else "export").
    #[arg(long, value_name = "NAME", conflicts_with = "no_chain")]
    pub chain_id: Option<String>,
    /// Sign chain anchors with this Ed25519 private key (PEM, `openssl genpkey -algorithm ed25519`):
    /// one at the end of the run, sent with the events and appended to STATE_DIR/anchors/CHAIN.ndjson.
    #[arg(long, value_name = "PEM", conflicts_with = "no_chain")]
    pub sign_key: Option<PathBuf>,
    /// With --sign-key: also an anchor after every N events.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "sign_key")]
    pub anchor_every: u64,
}

impl ChainArgs {
    pub fn options(&self) -> Option<crate::export::ChainOptions> {
        (!self.no_chain).then(|| crate::export::ChainOptions {
            id: self.chain_id.clone(),
            sign_key: self.sign_key.clone(),
            anchor_every: self.anchor_every,
        })
    }
}

/// Where records go (shared by `export` and `anomalies`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Where to deliver instead of stdout (repeatable: every output must acknowledge a batch):
    /// a file path (appended, fsynced per batch), syslog+tcp|tls|udp://HOST:PORT (RFC 5424;
    /// ?framing=octet|lf&facility=N&hostname=NAME), or an http(s):// collector URL (see --http-*).
    #[arg(long, short, value_name = "PATH|URL")]
    pub output: Vec<String>,
    /// HTTP outputs: body framing — lines (NDJSON; with --format hec, a Splunk HEC body) or bulk (Elastic _bulk).
    #[arg(long, value_name = "lines|bulk", default_value = "lines")]
    pub http_format: String,
    /// HTTP outputs with --http-format bulk: the index (or data stream) to create documents in.
    #[arg(long, value_name = "NAME", default_value = "compliance-report")]
    pub bulk_index: String,
    /// HTTP outputs: a header 'Name: value' (repeatable, at most 20); ${VAR} in the value is read from the
    /// environment, e.g. 'Authorization: Splunk ${HEC_TOKEN}', so tokens stay off the command line.
    #[arg(long = "http-header", value_name = "NAME: VALUE")]
    pub http_headers: Vec<String>,
    /// HTTP outputs: gzip the request bodies.
    #[arg(long)]
    pub http_gzip: bool,
    /// HTTP outputs: retries of a batch after 429, 5xx, timeouts or resets (exponential backoff with jitter).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub http_retries: u32,
    /// HTTP outputs: time allowed for one request.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub http_timeout: std::time::Duration,
    /// HTTP outputs: PEM file of the CA to trust for https:// (default: Mozilla's roots).
    #[arg(long, value_name = "FILE")]
    pub http_ca: Option<String>,
    /// Rotate output files before they would exceed this size (e.g. 500MiB, 1GB, 1048576).
    #[arg(long, value_name = "SIZE", requires = "output", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Rotated files to keep (PATH.1 … PATH.N).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "rotate_size")]
    pub rotate_keep: u32,
    /// Spool directory for syslog and HTTP outputs that stay down past their retries (default:
    /// STATE_DIR/spool); the next run delivers the spool first, in order.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Largest spool per output.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub spool_max: u64,
    /// Also write undeliverable events here (in addition to the spool).
    #[arg(long, value_enum, value_name = "stdout|stderr")]
    pub fallback: Option<crate::sinks::spool::Fallback>,
}

/// Splunk HEC envelope fields (`--format hec` and `hec-ocsf`).
#[derive(Debug, Args)]
pub struct HecArgs {
    /// HEC `host` (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub hec_host: Option<String>,
    /// HEC `source`.
    #[arg(long, default_value = "compliance-report", value_name = "TEXT")]
    pub hec_source: String,
    /// HEC `sourcetype` (default: compliance-report:json, or compliance-report:ocsf with --format hec-ocsf).
    #[arg(long, value_name = "TEXT")]
    pub hec_sourcetype: Option<String>,
    /// HEC `index` (default: the token's default index).
    #[arg(long, value_name = "NAME")]
    pub hec_index: Option<String>,
}

/// CEF header identity.
#[derive(Debug, Args)]
pub struct CefArgs {
    /// CEF Device Vendor.
    #[arg(long, default_value = "GitLab", value_name = "TEXT")]
    pub cef_vendor: String,
    /// CEF Device Product.
    #[arg(long, default_value = "compliance-report", value_name = "TEXT")]
    pub cef_product: String,
    /// CEF Device Version (default: this tool's version).
    #[arg(long, value_name = "TEXT")]
    pub cef_version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write a demo dataset: events (three log shapes), sessions, resources and ground truth.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output directory (created; existing files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Random seed; the same seed and scale give byte-identical output.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Volume multiplier (1 ≈ 55k events over 90 days; users and projects stay the same).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Last day of the 90-day period (UTC).
    #[arg(long, default_value = "2026-10-31", value_name = "DATE")]
    pub end: chrono::NaiveDate,
    /// Write the event files gzip-compressed (`.gz`).
    #[arg(long)]
    pub gzip: bool,
}

/// Parse `GITLAB_NAME=ACTUAL_NAME`.
pub fn parse_rename(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("{text:?} is not NAME=ACTUAL, e.g. ai_audit_events=ai_audit_events_copy")),
    }
}

/// Parse durations like `90s`, `5m`, `2h`, `1d`, `0`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a duration like 60s, 5m or 1h"))?;
    let secs = match unit {
        "" if n == 0 => 0,
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?} is not a duration like 60s, 5m or 1h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// Parse sizes like `1048576`, `500KiB`, `100MiB`, `1GB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a size like 100MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}; use B, KB, KiB, MB, MiB, GB or GiB")),
    };
    n.checked_mul(mult).filter(|n| *n > 0).ok_or_else(|| format!("{text:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").unwrap_err().contains("unknown size unit"));
    }
}
