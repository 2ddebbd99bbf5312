//! `db init` and `check`.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{CheckArgs, DbFactsArgs, DbInitArgs};
use crate::redact::mask_url;
use crate::sources::clickhouse;
use crate::sources::postgres::{self, setup, PgConfig};
use crate::sources::{ndjson, SourceSpec};

use super::{export::filter, usage};

fn not_a_database(spec: &SourceSpec) -> anyhow::Error {
    usage(format!("this command needs a database --source (postgres://… or clickhouse://…), not {}", spec.describe()))
}

pub fn init(args: &DbInitArgs) -> anyhow::Result<ExitCode> {
    let spec = SourceSpec::parse(std::slice::from_ref(&args.source)).map_err(usage)?;
    let demo = if args.with_demo {
        let events: Vec<_> = ndjson::NdjsonSource::new(crate::sources::demo::inputs())
            .map(|r| r.map(|rec| *rec.event))
            .collect::<Result<_, _>>()
            .context("cannot read the bundled demo data")?;
        let (sessions, resources) = crate::sources::demo::tables().context("cannot read the bundled demo tables")?;
        Some(setup::DemoData { events, sessions, resources })
    } else {
        None
    };
    let (report, place) = match &spec {
        SourceSpec::Postgres(url) => {
            let cfg = PgConfig::new(url);
            let schema = args.schema.clone().unwrap_or_else(|| "public".into());
            let report = postgres::block_on(async {
                let mut conn = postgres::connect(&cfg).await?;
                setup::init(&mut conn, &schema, demo.as_ref()).await
            })?
            .with_context(|| format!("db init on {} failed", mask_url(url)))?;
            (report, format!("schema {schema}"))
        }
        SourceSpec::ClickHouse(url) => {
            let report = postgres::block_on(clickhouse::setup::init(url, args.schema.as_deref(), demo.as_ref()))?
                .with_context(|| format!("db init on {} failed", mask_url(url)))?;
            (report, "ClickHouse".to_string())
        }
        other => return Err(not_a_database(other)),
    };
    for table in &report.created {
        tracing::info!("created {table} and its companion tables ({place})");
    }
    for (table, rows) in &report.loaded {
        tracing::info!("loaded {rows} rows into {table} ({place})");
    }
    if report.created.is_empty() && report.loaded.is_empty() {
        tracing::info!("tables already present; nothing to do");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn facts(args: &DbFactsArgs) -> anyhow::Result<ExitCode> {
    let spec = SourceSpec::parse(std::slice::from_ref(&args.source)).map_err(usage)?;
    let SourceSpec::ClickHouse(url) = &spec else {
        return Err(usage(format!("db facts needs a clickhouse://… --source, not {}", spec.describe())));
    };
    let mut cfg = clickhouse::ChConfig::new(url);
    cfg.database = args.schema.clone();
    let started = std::time::Instant::now();
    let rows = postgres::block_on(crate::analyze::anomalies::clickhouse::build_facts(&cfg))?
        .with_context(|| format!("cannot write the fact snapshot in {}", mask_url(url)))?;
    tracing::info!(
        rows,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "wrote {}",
        crate::analyze::anomalies::clickhouse::FACTS_TABLE
    );
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let spec = super::export::source(&args.source.source)?;
    let read = super::export::read_options(&args.source, &filter);
    let mut warnings = Vec::new();
    let checks = match &spec {
        SourceSpec::Postgres(url) => {
            let cfg = PgConfig::of(url, &read);
            postgres::block_on(async {
                let mut conn = postgres::connect(&cfg).await?;
                let checks = setup::check(&mut conn, &cfg).await?;
                warnings = postgres::lookup::index_warnings(&mut conn, &cfg).await?;
                Ok::<_, crate::sources::SourceError>(checks)
            })?
            .with_context(|| format!("check on {} failed", mask_url(url)))?
        }
        SourceSpec::ClickHouse(url) => {
            let cfg = clickhouse::ChConfig::of(url, &read);
            let (conn, checks) = postgres::block_on(clickhouse::setup::check(&cfg))?
                .with_context(|| format!("check on {} failed", mask_url(url)))?;
            tracing::info!("ClickHouse {} database {}", conn.version, conn.database);
            checks
        }
        other => return Err(not_a_database(other)),
    };
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&checks).expect("serializes");
        out.push('\n');
    } else {
        out.push_str(&format!("{:<40} {:<8} {:<9} {:>12}  notes\n", "table", "found", "readable", "rows"));
        for c in &checks {
            let rows = c.rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
            let notes = if !c.found {
                "not found: skipped by exports".to_string()
            } else if !c.missing.is_empty() {
                format!("missing column(s): {}", c.missing.join(", "))
            } else if !c.readable {
                "no SELECT privilege".to_string()
            } else {
                format!("{} columns", c.columns.len())
            };
            out.push_str(&format!(
                "{:<40} {:<8} {:<9} {:>12}  {notes}\n",
                c.table,
                if c.found { "yes" } else { "no" },
                if c.readable { "yes" } else { "no" },
                rows
            ));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if !args.json && !warnings.is_empty() {
        out.push_str(&format!("\n{} missing index(es): reads that need them scan the table instead\n", warnings.len()));
        for w in &warnings {
            out.push_str(&format!("  {w}\n"));
        }
    }
    use std::io::Write;
    std::io::stdout().write_all(out.as_bytes()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
