//! `compliance-report export`.

use std::process::ExitCode;

use anyhow::Context;

use crate::chain::Chain;
use crate::checkpoint::Checkpoint;
use crate::cli::{ExportArgs, FilterArgs, OutputArgs, SourceArgs};
use crate::config::SinkConfig;
use crate::encode::{cef::CefConfig, EncoderConfig};
use crate::export::{self, Filter, Options};
use crate::model::catalog::SeverityTable;
use crate::range::{parse_tz, TimeRange};
use crate::secrets::redactor::{Mode, Redactor};
use crate::sinks::{
    file::{FileSink, Rotation},
    stdout::StdoutSink,
    Sink,
};
use crate::sources::{ReadOptions, SourceSpec};

use super::usage;

/// Build the event filter from `--range`, `--tz`, `--event`.
pub fn filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let tz = parse_tz(&args.tz).map_err(usage)?;
    let range = match &args.range {
        Some(text) => TimeRange::parse(text, tz).map_err(usage)?,
        None => TimeRange::default(),
    };
    Ok(Filter { range, events: args.events.clone(), ..Filter::default() })
}

/// Resolve `--source` (or `DATABASE_URL`, else `CLICKHOUSE_URL`) and say on stderr when the
/// demo data is used.
pub fn source(values: &[String]) -> anyhow::Result<SourceSpec> {
    let from_env: Vec<String>;
    let values = if values.is_empty() {
        from_env = ["DATABASE_URL", "CLICKHOUSE_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|v| !v.is_empty()))
            .into_iter()
            .collect();
        &from_env[..]
    } else {
        values
    };
    let spec = SourceSpec::parse(values).map_err(usage)?;
    if spec == SourceSpec::Demo {
        tracing::info!("no --source given: using the bundled demo data (see `compliance-report demo generate`)");
    }
    Ok(spec)
}

/// Database read options from the shared source and filter options.
pub fn read_options(args: &SourceArgs, filter: &Filter) -> ReadOptions {
    ReadOptions {
        range: filter.range,
        schema: args.schema.clone(),
        renames: args.tables.iter().cloned().collect(),
        page_rows: args.page_rows,
        ..ReadOptions::default()
    }
}

/// Everything an export run needs, from the command line or from a job.
pub struct Plan {
    pub spec: SourceSpec,
    pub filter: Filter,
    pub encoder: EncoderConfig,
    pub sinks: Vec<SinkConfig>,
    pub read: ReadOptions,
    pub on_error: crate::export::OnError,
    pub checkpoint: Option<String>,
    pub state_dir: Option<std::path::PathBuf>,
    /// Write Prometheus metrics here at the end of the run (success or failure).
    pub metrics_file: Option<std::path::PathBuf>,
    /// Job name, for the metrics' `job` label.
    pub job: Option<String>,
    /// Spool settings for network outputs: directory (None: STATE_DIR/spool), size limit, fallback.
    pub spool_dir: Option<std::path::PathBuf>,
    pub spool_max: u64,
    pub fallback: Option<crate::sinks::spool::Fallback>,
    /// The hash chain (None: `--no-chain`).
    pub chain: Option<crate::export::ChainOptions>,
    pub redact: crate::export::RedactOptions,
}

/// Severity overrides as a table (usage error on a bad one).
pub fn severity_table(specs: &[String]) -> anyhow::Result<SeverityTable> {
    let mut severity = SeverityTable::default();
    for spec in specs {
        severity.add_override(spec).map_err(usage)?;
    }
    Ok(severity)
}

/// Run one export to the end.
/// Open the outputs; network outputs spool to `spool_root/NAME` when they stay down.
pub fn build_sinks(
    configs: &[SinkConfig],
    spool_root: &std::path::Path,
    spool_max: u64,
    fallback: Option<crate::sinks::spool::Fallback>,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    for sink in configs {
        let network = matches!(sink, SinkConfig::Http(_) | SinkConfig::Syslog(_));
        let built: Box<dyn Sink> = match sink {
            SinkConfig::File { path, rotation } => {
                Box::new(FileSink::new(path.clone(), *rotation).context("cannot use the output file")?)
            }
            SinkConfig::Stdout => Box::new(StdoutSink::new().context("cannot use stdout")?),
            SinkConfig::Http(cfg) => Box::new(
                crate::sinks::http::HttpSink::new(cfg.clone())
                    .map_err(|e| anyhow::anyhow!("cannot use the HTTP output: {e}"))?,
            ),
            SinkConfig::Syslog(cfg) => Box::new(
                crate::sinks::syslog::SyslogSink::new(cfg.clone())
                    .map_err(|e| anyhow::anyhow!("cannot use the syslog output: {e}"))?,
            ),
        };
        sinks.push(if network {
            // One spool directory per output, named after it (password masked, path-safe).
            let key: String = built
                .name()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
                .collect();
            Box::new(crate::sinks::spool::SpoolingSink::new(built, spool_root.join(key), spool_max, fallback))
        } else {
            built
        });
    }
    Ok(sinks)
}

/// The outputs `--output` names (stdout when none).
pub fn sink_configs(out: &OutputArgs) -> anyhow::Result<Vec<SinkConfig>> {
    let mut sinks = Vec::new();
    for output in &out.output {
        sinks.push(if output.starts_with("syslog+") {
            SinkConfig::Syslog(crate::sinks::syslog::SyslogConfig::parse(output).map_err(usage)?)
        } else if output.starts_with("http://") || output.starts_with("https://") {
            SinkConfig::Http(http_config(out, output)?)
        } else {
            SinkConfig::File {
                path: output.into(),
                rotation: out.rotate_size.map(|max_bytes| Rotation { max_bytes, keep: out.rotate_keep }),
            }
        });
    }
    if sinks.is_empty() {
        sinks.push(SinkConfig::Stdout);
    }
    Ok(sinks)
}

pub fn execute(mut plan: Plan) -> anyhow::Result<ExitCode> {
    let encoder = plan.encoder.build();
    let spool_root = plan
        .spool_dir
        .clone()
        .unwrap_or_else(|| plan.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir).join("spool"));
    let mut sinks = build_sinks(&plan.sinks, &spool_root, plan.spool_max, plan.fallback)?;
    let spec = &plan.spec;
    let mut checkpoint = match &plan.checkpoint {
        Some(name) => {
            if !spec.supports_checkpoints() {
                return Err(usage("--checkpoint needs a database --source (files have no stable row positions)"));
            }
            let dir = plan.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
            let cp = Checkpoint::open(&dir, name, &spec.describe())?;
            plan.read.resume = cp.watermarks();
            tracing::info!(checkpoint = %name, tables = plan.read.resume.len(), "resuming after the stored watermarks");
            Some(cp)
        }
        None => None,
    };
    let mut chain = match &plan.chain {
        Some(o) => Some(start_chain(o, &plan, checkpoint.as_ref())?),
        None => {
            tracing::warn!("--no-chain: records carry no hash chain, so tampering in the SIEM's copy cannot be shown");
            None
        }
    };
    let state_dir = plan.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
    let redactor = redactor(&plan.redact, &state_dir)?;
    let events = spec.open(&plan.read).with_context(|| format!("cannot open source {}", spec.describe()))?;
    tracing::debug!(source = %spec.describe(), range = %plan.filter.range, "export starting");
    let opts = Options {
        filter: plan.filter.clone(),
        on_error: plan.on_error,
        severity: plan.encoder.severity.clone(),
        redactor,
        ..Options::default()
    };
    let progress = crate::logging::progress("events delivered");
    let has_checkpoint = checkpoint.is_some();
    let started = std::time::Instant::now();
    let result =
        export::run(events, encoder.as_ref(), &mut sinks, checkpoint.as_mut(), chain.as_mut(), &opts, &progress);
    if let Some(path) = &plan.metrics_file {
        let m = run_metrics(&plan, &result, &sinks, started.elapsed().as_secs_f64());
        if let Err(e) = crate::metrics::write(path, &m) {
            tracing::warn!("cannot write metrics to {}: {e}", path.display());
        }
    }
    let stats = result?;
    if stats.interrupted && !has_checkpoint {
        anyhow::bail!("interrupted after delivering {} events: the export is incomplete", stats.delivered);
    }
    if stats.interrupted {
        tracing::info!(
            "stopped after delivering {} events; the checkpoint is saved and the next run continues from it",
            stats.delivered
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The redactor of `opts` (its key in `state_dir` unless given); `--no-redact` is said loudly.
pub fn redactor(opts: &crate::export::RedactOptions, state_dir: &std::path::Path) -> anyhow::Result<Redactor> {
    if opts.mode == Mode::Off {
        tracing::warn!("--no-redact: secrets and personal data in prompts, plans and decision logs go out as they are");
    }
    Redactor::open(opts.mode, opts.key.as_deref(), state_dir).map_err(usage)
}

/// The chain of this run: named after the checkpoint (whose head it continues) unless named.
fn start_chain(o: &crate::export::ChainOptions, plan: &Plan, checkpoint: Option<&Checkpoint>) -> anyhow::Result<Chain> {
    let id = o.id.clone().or_else(|| plan.checkpoint.clone()).unwrap_or_else(|| crate::chain::DEFAULT_ID.to_string());
    let state_dir = plan.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
    let signer = match &o.sign_key {
        Some(path) => Some(crate::chain::Signer {
            key: crate::signing::signing_key(path).map_err(usage)?,
            every: o.anchor_every,
            log: Some(state_dir.join("anchors").join(format!("{id}.ndjson"))),
        }),
        None => None,
    };
    let head = checkpoint.and_then(Checkpoint::chain);
    let chain = Chain::start(&id, head.as_ref(), signer).map_err(usage)?;
    tracing::debug!(chain = %id, seq = head.map_or(0, |h| h.seq), "hash chain");
    Ok(chain)
}

/// Replace `${VAR}` with the environment's value (a usage error when unset).
pub fn expand_env(text: &str) -> anyhow::Result<String> {
    crate::config::expand_vars(text, &|name| std::env::var(name).ok()).map_err(|e| usage(format!("{e} (in {text:?})")))
}

fn http_config(out: &OutputArgs, url: &str) -> anyhow::Result<crate::sinks::http::HttpConfig> {
    use crate::sinks::http::{BodyFormat, HttpConfig};
    let mut cfg = HttpConfig::new(url);
    cfg.body = match out.http_format.as_str() {
        "lines" => BodyFormat::Lines,
        "bulk" => BodyFormat::Bulk { index: out.bulk_index.clone() },
        other => return Err(usage(format!("--http-format {other:?}: use lines or bulk"))),
    };
    for h in &out.http_headers {
        let (name, value) =
            h.split_once(':').ok_or_else(|| usage(format!("--http-header {h:?} is not 'Name: value'")))?;
        cfg.headers.push((name.trim().to_string(), expand_env(value.trim())?));
    }
    if cfg.headers.len() > 20 {
        return Err(usage("at most 20 --http-header options"));
    }
    cfg.gzip = out.http_gzip;
    cfg.attempts = out.http_retries + 1;
    cfg.timeout = out.http_timeout;
    cfg.tls.ca_file = out.http_ca.clone();
    Ok(cfg)
}

/// The metrics of a finished (or failed) run.
fn run_metrics(
    plan: &Plan,
    result: &Result<export::Stats, export::ExportError>,
    sinks: &[Box<dyn Sink>],
    seconds: f64,
) -> crate::metrics::RunMetrics {
    use crate::export::ExportError;
    let (read, exported, skipped, success, failed_sink) = match result {
        Ok(s) => (s.read, s.delivered, s.skipped, !s.interrupted || plan.checkpoint.is_some(), None),
        Err(ExportError::Sink { sink, delivered, .. }) => (0, *delivered, 0, false, Some(sink.clone())),
        Err(ExportError::Source { delivered, .. })
        | Err(ExportError::Checkpoint { delivered, .. })
        | Err(ExportError::Spooled { delivered, .. }) => (0, *delivered, 0, false, None),
        Err(ExportError::Anchor(_)) => (0, 0, 0, false, None),
    };
    crate::metrics::RunMetrics {
        source: plan.spec.describe(),
        format: format!("{:?}", plan.encoder.format).to_lowercase(),
        job: plan.job.clone(),
        read,
        exported,
        skipped,
        sinks: sinks
            .iter()
            .map(|s| crate::metrics::SinkMetrics {
                name: s.name(),
                errors: u64::from(failed_sink.as_deref() == Some(s.name().as_str()) || s.spool_bytes() > 0),
                retries: s.retries(),
                spool_bytes: s.spool_bytes(),
            })
            .collect(),
        success,
        duration_seconds: seconds,
        finished: chrono::Utc::now().timestamp_micros() as f64 / 1e6,
    }
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let encoder = EncoderConfig {
        format: args.format,
        cef: CefConfig {
            vendor: args.cef.cef_vendor.clone(),
            product: args.cef.cef_product.clone(),
            version: args.cef.cef_version.clone().unwrap_or_else(|| CefConfig::default().version),
        },
        hec: crate::encode::hec::HecConfig {
            host: args.hec.hec_host.clone().unwrap_or_else(|| crate::encode::hec::HecConfig::default().host),
            source: args.hec.hec_source.clone(),
            sourcetype: args.hec.hec_sourcetype.clone(),
            index: args.hec.hec_index.clone(),
        },
        severity: severity_table(&args.severities)?,
    };
    let spec = source(&args.source.source)?;
    let sinks = sink_configs(&args.out)?;
    let mut read = read_options(&args.source, &filter);
    read.lag = args.lag;
    execute(Plan {
        spec,
        filter,
        encoder,
        sinks,
        read,
        on_error: args.source.on_error,
        checkpoint: args.checkpoint.clone(),
        state_dir: args.state_dir.clone(),
        metrics_file: args.metrics_file.clone(),
        job: None,
        spool_dir: args.out.spool_dir.clone(),
        spool_max: args.out.spool_max,
        fallback: args.out.fallback,
        chain: args.chain.options(),
        redact: crate::export::RedactOptions { mode: args.redact.mode(), key: args.redact.redact_key.clone() },
    })
}
