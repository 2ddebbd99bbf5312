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
    /// Export events as CEF or JSON lines to stdout or a file.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Demo data: a realistic organisation's audit trail, generated deterministically.
    #[command(subcommand)]
    Demo(DemoCommand),
}

/// Where events come from (shared by every command that reads events).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// NDJSON files or directories (read sorted; `.gz` decompressed) or - for stdin. Repeatable.
    /// Without it, the bundled demo data is used.
    #[arg(long, value_name = "PATH")]
    pub source: Vec<String>,
    /// What to do with a line that cannot be read: stop (after delivering what came before) or skip it.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,
}

/// Which events (shared by commands that filter).
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// FROM..TO: days (2026-10-01..2026-10-31, both inclusive) or RFC 3339 instants; either end may be empty.
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
    /// Append to this file (fsynced per batch) instead of writing to stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Rotate the output file before it would exceed this size (e.g. 500MiB, 1GB, 1048576).
    #[arg(long, value_name = "SIZE", requires = "output", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Rotated files to keep (PATH.1 … PATH.N).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "rotate_size")]
    pub rotate_keep: u32,
    /// Override the default severity of event names: NAME=N (0-10; NAME may end in *). Repeatable.
    #[arg(long = "severity", value_name = "NAME=N")]
    pub severities: Vec<String>,
    #[command(flatten)]
    pub cef: CefArgs,
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
