//! compliance-report: audit events and AI-agent flow sessions → SIEM feeds and compliance evidence.
//!
//! The modules follow the pipeline: [`sources`] → [`model`] → [`encode`] → [`sinks`], driven by
//! [`export`]; [`commands`] is the command-line edge.

pub mod analyze;
pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod collections;
pub mod commands;
pub mod config;
pub mod demo;
pub mod encode;
pub mod export;
pub mod files;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pack;
pub mod range;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod secrets;
pub mod shutdown;
pub mod signing;
pub mod sinks;
pub mod sources;
pub mod tls;

use std::process::ExitCode;

pub use commands::UsageError;

/// Run one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Export(args) => commands::export::run(&args),
        cli::Command::Demo(cli::DemoCommand::Generate(args)) => commands::demo::generate(&args),
        cli::Command::Db(cli::DbCommand::Init(args)) => commands::db::init(&args),
        cli::Command::Db(cli::DbCommand::Facts(args)) => commands::db::facts(&args),
        cli::Command::Check(args) => commands::db::check(&args),
        cli::Command::Aggregate(args) => commands::aggregate::run(&args),
        cli::Command::Anomalies(args) => commands::anomalies::run(&args),
        cli::Command::Trace(args) => commands::sessions::trace(&args),
        cli::Command::Sessions(cli::SessionsCommand::List(args)) => commands::sessions::list(&args),
        cli::Command::Sessions(cli::SessionsCommand::Show(args)) => commands::sessions::show(&args),
        cli::Command::Run(args) => commands::jobs::run(&args),
        cli::Command::Jobs(cli::JobsCommand::List(args)) => commands::jobs::list(&args),
        cli::Command::Jobs(cli::JobsCommand::Validate(args)) => commands::jobs::validate(&args),
        cli::Command::Schedule(args) => commands::schedule::run(&args),
        cli::Command::Report(args) => commands::report::run_and_exit(&args),
        cli::Command::Verify(args) => commands::report::verify(&args),
        cli::Command::VerifyChain(args) => commands::chain::verify(&args),
    }
}
