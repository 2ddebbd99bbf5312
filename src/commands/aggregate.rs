//! `aggregate`: run aggregations where the data is (ClickHouse) or here (everything else).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::analyze::aggregate::{clickhouse::ClickHouseAggregator, local, Query, Table};
use crate::cli::AggregateArgs;
use crate::redact::mask_url;
use crate::sources::{clickhouse::ChConfig, SourceSpec};

use super::export::{filter, read_options, source};
use super::usage;

pub fn run(args: &AggregateArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    if !args.filter.events.is_empty() {
        return Err(usage("aggregate works on all events of the range; --event is for export"));
    }
    let queries: Vec<Query> = if args.queries.is_empty() {
        Query::ALL.to_vec()
    } else {
        args.queries.iter().map(|q| Query::parse(q).map_err(usage)).collect::<Result<_, _>>()?
    };
    let spec = source(&args.source.source)?;
    let read = read_options(&args.source, &filter);
    let started = std::time::Instant::now();
    let tables: Vec<Table> = match &spec {
        SourceSpec::ClickHouse(url) if !args.local => {
            let mut cfg = ChConfig::new(url);
            cfg.database = read.schema.clone();
            cfg.renames = read.renames.clone();
            crate::sources::postgres::block_on(async {
                let agg = ClickHouseAggregator::open(&cfg).await?;
                agg.aggregate(&queries, &read.range).await
            })?
            .with_context(|| format!("aggregation in {} failed", mask_url(url)))?
        }
        _ => {
            let facts = local::Facts::from_stream(spec.open(&read).context("cannot open the source")?, &read.range)
                .with_context(|| format!("cannot read {}", spec.describe()))?;
            tracing::info!(events = facts.len(), "aggregating locally");
            local::aggregate(facts, &queries, &read.range)?
        }
    };
    tracing::info!(seconds = format!("{:.3}", started.elapsed().as_secs_f64()), "aggregated");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for t in &tables {
        serde_json::to_writer(&mut out, t).context("cannot write to stdout")?;
        out.write_all(b"\n").context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
