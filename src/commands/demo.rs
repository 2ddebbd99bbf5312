//! `compliance-report demo generate`.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::GenerateArgs;
use crate::demo::{self, Config};

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config { seed: args.seed, scale: args.scale, end: args.end, days: 90, gzip: args.gzip };
    let summary = demo::generate(&cfg, &args.out)
        .with_context(|| format!("cannot generate demo data in {}", args.out.display()))?;
    tracing::info!(
        events = summary.events,
        sessions = summary.sessions,
        resources = summary.resources,
        users = summary.users,
        anomalies = summary.anomalies,
        "demo data written to {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
