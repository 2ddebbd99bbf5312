//! `anomalies`: read the baseline and the range once, run the heuristics, print the findings.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::analyze::anomalies::cache::RowCache;
use crate::analyze::anomalies::clickhouse::ClickHouseStore;
use crate::analyze::anomalies::store::Store;
use crate::analyze::anomalies::{self, first_seen::Attr, Dataset, Finding, Settings, Window, HEURISTICS};
use crate::cli::{AnomaliesArgs, DetectArgs, FindingsFormat};
use crate::range::TimeRange;
use crate::redact::mask_url;
use crate::sources::{clickhouse::ChConfig, SourceSpec};

use super::export::{filter, read_options, source};
use super::usage;

/// The heuristics' settings from the command line.
pub fn settings(args: &DetectArgs, tz: &str) -> anyhow::Result<Settings> {
    let tz = crate::range::parse_tz(tz).map_err(usage)?;
    let hours = args
        .business_hours
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))
        .filter(|(a, b)| a < b && *b <= 24)
        .ok_or_else(|| usage(format!("--business-hours {:?} is not START-END, e.g. 8-18", args.business_hours)))?;
    let first_seen = args
        .first_seen
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Attr::parse(s.trim()).ok_or_else(|| {
                usage(format!("--first-seen: {s:?} is not one of ip, model, flow_type, event_name, project"))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stuck_after = chrono::Duration::from_std(args.stuck_after).map_err(|_| usage("--stuck-after is too long"))?;
    Ok(Settings { business_hours: hours, tz, first_seen, stuck_after, ..Settings::default() })
}

/// The store that answers the heuristics inside the ClickHouse database `read` names.
pub fn open_store(
    url: &str,
    read: &crate::sources::ReadOptions,
) -> Result<ClickHouseStore, crate::analyze::aggregate::AggregateError> {
    let mut cfg = ChConfig::new(url);
    cfg.database = read.schema.clone();
    cfg.renames = read.renames.clone();
    ClickHouseStore::open(&cfg)
}

pub fn run(args: &AnomaliesArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    if !args.filter.events.is_empty() {
        return Err(usage("anomalies looks at all events; --event is for export"));
    }
    for h in &args.heuristics {
        if !HEURISTICS.iter().any(|k| k.name() == h) {
            let names: Vec<&str> = HEURISTICS.iter().map(|k| k.name()).collect();
            return Err(usage(format!("unknown heuristic {h:?}; use one of: {}", names.join(", "))));
        }
    }
    let settings = settings(&args.detect, &args.filter.tz)?;
    let Some(from) = filter.range.from else {
        return Err(usage("anomalies needs a --range with a start (e.g. --range last-7d)"));
    };
    let to = filter.range.to.unwrap_or_else(chrono::Utc::now);
    let baseline_len = chrono::Duration::from_std(args.detect.baseline).map_err(|_| usage("--baseline is too long"))?;
    let range = Window { from, to };
    let baseline = Window { from: from - baseline_len, to: from };
    let spec = source(&args.source.source)?;
    let mut read = read_options(&args.source, &filter);
    read.range = TimeRange { from: Some(baseline.from), to: Some(to) };
    let started = std::time::Instant::now();
    let findings = match &spec {
        SourceSpec::ClickHouse(url) if !args.local => {
            let failed = || format!("anomaly detection in {} failed", mask_url(url));
            let store = open_store(url, &read).with_context(failed)?;
            tracing::info!("running the heuristics inside ClickHouse");
            let findings = anomalies::detect(&store, range, baseline, &settings, &args.heuristics);
            if let Some(e) = store.failure() {
                return Err(anyhow::Error::new(e).context(failed()));
            }
            findings
        }
        _ => {
            let data = read_dataset(&spec, read, args.cache_dir.as_deref())?;
            tracing::info!(events = data.rows.len(), sessions = data.sessions.len(), "read baseline and range");
            anomalies::detect(&data, range, baseline, &settings, &args.heuristics)
        }
    };
    tracing::info!(
        findings = findings.len(),
        seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
        "anomaly detection finished"
    );
    if !args.out.output.is_empty() {
        return deliver(args, &findings);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.format == FindingsFormat::Table {
        out.write_all(table(&findings).as_bytes()).context("cannot write to stdout")?;
    } else {
        for f in &findings {
            let mut line = Vec::new();
            encode(args.format, f, &mut line);
            line.push(b'\n');
            out.write_all(&line).context("cannot write to stdout")?;
        }
    }
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The events of `read.range` in memory: NDJSON files through the rows cache in `cache_dir`
/// when one is given ([`RowCache`]), every other source read whole.
fn read_dataset(
    spec: &SourceSpec,
    mut read: crate::sources::ReadOptions,
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<Dataset> {
    let work = Dataset::prepare(read.range);
    let failed = || format!("cannot read {}", spec.describe());
    match (spec, cache_dir) {
        (SourceSpec::Files(paths), Some(dir)) => {
            let mut cache = RowCache::open(dir)?;
            let inputs = crate::sources::ndjson::expand(paths).context("cannot open the source")?;
            let bar = crate::logging::progress("events read");
            let data = cache.read(inputs, &read.range, &work, |n| bar.set_position(n as u64)).with_context(failed)?;
            bar.finish_and_clear();
            cache.finish();
            let s = cache.stats;
            tracing::info!(
                files_from_cache = s.files_cached,
                events_from_cache = s.rows_cached,
                files_read = s.files_read,
                segments_written = s.files_written,
                segments_removed = s.removed,
                cache = %dir.display(),
                "rows cache"
            );
            Ok(data)
        }
        _ => {
            if cache_dir.is_some() {
                tracing::info!("--cache-dir keeps rows of NDJSON files only; this source is read whole");
            }
            read.prepare = Some(work);
            let stream = spec.open(&read).context("cannot open the source")?;
            let progress = crate::logging::progress("events read");
            Dataset::read(crate::logging::counted(stream, progress), &read.range).with_context(failed)
        }
    }
}

/// One finding as a record of `format` (not `table`), without a newline.
fn encode(format: FindingsFormat, f: &Finding, out: &mut Vec<u8>) {
    match format {
        FindingsFormat::Cef => crate::encode::findings::cef(f, &crate::encode::cef::CefConfig::default(), out),
        FindingsFormat::Ocsf => {
            serde_json::to_writer(out, &crate::encode::findings::ocsf(f)).expect("JSON values serialize")
        }
        FindingsFormat::Json | FindingsFormat::Table => serde_json::to_writer(out, f).expect("findings serialize"),
    }
}

/// Send the findings to the `--output`s (files, syslog, HTTP collectors) as one batch, as
/// `export` would: every output must acknowledge it; a network output that stays down spools it.
fn deliver(args: &AnomaliesArgs, findings: &[Finding]) -> anyhow::Result<ExitCode> {
    if args.format == FindingsFormat::Table {
        return Err(usage("--output needs --format cef, ocsf or json (the table is for terminals)"));
    }
    let configs = super::export::sink_configs(&args.out)?;
    let spool_root = args.out.spool_dir.clone().unwrap_or_else(|| crate::checkpoint::default_state_dir().join("spool"));
    let mut sinks = super::export::build_sinks(&configs, &spool_root, args.out.spool_max, args.out.fallback)?;
    let mut batch = crate::sinks::Batch::default();
    for f in findings {
        let meta = crate::sinks::RecordMeta::new(f.window.from, f.severity, &format!("anomaly.{}", f.heuristic));
        batch.push_event(meta, |out| encode(args.format, f, out));
    }
    for sink in &mut sinks {
        if !batch.is_empty() {
            sink.send(&batch).with_context(|| format!("cannot deliver the findings to {}", sink.name()))?;
        }
        sink.finish().with_context(|| format!("cannot deliver the findings to {}", sink.name()))?;
        tracing::info!(output = %sink.name(), findings = batch.len(), "findings delivered");
    }
    Ok(ExitCode::SUCCESS)
}

/// Findings as a table for people: one block per finding.
pub fn table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No anomalies found.\n".into();
    }
    let mut s = String::new();
    for f in findings {
        let who = match (f.actor.as_str(), f.actor_name.as_str()) {
            ("", _) => "-".to_string(),
            (a, "") => a.to_string(),
            (a, n) => format!("{n} ({a})"),
        };
        s.push_str(&format!(
            "{}  {:<16} sev {:>2}  {}\n",
            crate::model::time::format(&f.window.from).get(..16).unwrap_or_default().replace('T', " "),
            f.heuristic,
            f.severity,
            who
        ));
        s.push_str(&format!("    {}\n    {}; {}\n", f.explanation, f.value, f.threshold));
        let shown: Vec<&str> = f.event_ids.iter().take(3).map(String::as_str).collect();
        let more = f.event_count.saturating_sub(shown.len());
        if f.event_count > 0 {
            s.push_str(&format!(
                "    {} event(s): {}{}\n",
                f.event_count,
                shown.join(" "),
                if more > 0 { format!(" (+{more} more)") } else { String::new() }
            ));
        }
        s.push_str(&format!("    finding {}\n\n", f.id));
    }
    s.push_str(&format!("{} finding(s)\n", findings.len()));
    s
}
