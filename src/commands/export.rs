//! `compliance-report export`.

use std::process::ExitCode;

use anyhow::Context;

use crate::checkpoint::Checkpoint;
use crate::cli::{ExportArgs, FilterArgs, SourceArgs};
use crate::encode::{cef::CefConfig, EncoderConfig};
use crate::export::{self, Filter, Options};
use crate::model::catalog::SeverityTable;
use crate::range::{parse_tz, TimeRange};
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
    Ok(Filter { range, events: args.events.clone() })
}

/// Resolve `--source` (or `DATABASE_URL`) and say on stderr when the demo data is used.
pub fn source(values: &[String]) -> anyhow::Result<SourceSpec> {
    let from_env: Vec<String>;
    let values = if values.is_empty() {
        from_env = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()).into_iter().collect();
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

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let mut severity = SeverityTable::default();
    for spec in &args.severities {
        severity.add_override(spec).map_err(usage)?;
    }
    let encoder = EncoderConfig {
        format: args.format,
        cef: CefConfig {
            vendor: args.cef.cef_vendor.clone(),
            product: args.cef.cef_product.clone(),
            version: args.cef.cef_version.clone().unwrap_or_else(|| CefConfig::default().version),
        },
        severity,
    }
    .build();
    let spec = source(&args.source.source)?;
    let mut sinks: Vec<Box<dyn Sink>> = vec![match &args.output {
        Some(path) => {
            let rotation = args.rotate_size.map(|max_bytes| Rotation { max_bytes, keep: args.rotate_keep });
            Box::new(FileSink::new(path.clone(), rotation).context("cannot use --output")?)
        }
        None => Box::new(StdoutSink::new().context("cannot use stdout")?),
    }];
    let mut read = read_options(&args.source, &filter);
    read.lag = args.lag;
    let mut checkpoint = match &args.checkpoint {
        Some(name) => {
            if !spec.supports_checkpoints() {
                return Err(usage("--checkpoint needs a database --source (files have no stable row positions)"));
            }
            let dir = args.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
            let cp = Checkpoint::open(&dir, name, &spec.describe())?;
            read.resume = cp.watermarks();
            tracing::info!(checkpoint = %name, tables = read.resume.len(), "resuming after the stored watermarks");
            Some(cp)
        }
        None => None,
    };
    let events = spec.open(&read).with_context(|| format!("cannot open source {}", spec.describe()))?;
    tracing::debug!(source = %spec.describe(), range = %filter.range, "export starting");
    let opts = Options { filter, on_error: args.source.on_error, ..Options::default() };
    let progress = crate::logging::progress("events delivered");
    export::run(events, encoder.as_ref(), &mut sinks, checkpoint.as_mut(), &opts, &progress)?;
    Ok(ExitCode::SUCCESS)
}
