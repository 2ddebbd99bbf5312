//! `run JOB`, `jobs list`, `jobs validate`: the job file at the command line.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::export::{execute, severity_table, Plan};
use super::{usage, UsageError};
use crate::cli::{ConfigArgs, RunArgs};
use crate::config::{self, Action, ExportJob, Job, JobFile};
use crate::encode::{cef::CefConfig, EncoderConfig};
use crate::export::{Filter, OnError};
use crate::range::TimeRange;
use crate::schedule::lock;
use crate::sources::{ReadOptions, SourceSpec};

/// Load the job file named by `--config` or found in the default places.
pub fn load(args: &ConfigArgs) -> anyhow::Result<JobFile> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => config::default_path().map_err(usage)?,
    };
    config::load(&path).map_err(|e| match e {
        config::ConfigError::Invalid { .. } => usage(e),
        other => anyhow::Error::new(other),
    })
}

/// The export a job describes, ranges evaluated now in the job's time zone.
pub fn export_plan(file: &JobFile, job: &Job, e: &ExportJob) -> anyhow::Result<Plan> {
    let range = match &e.range {
        Some(text) => TimeRange::parse(text, job.timezone).map_err(usage)?,
        None => TimeRange::default(),
    };
    let filter = Filter { range, events: e.events.clone(), projects: e.projects.clone(), actors: e.actors.clone() };
    let spec = SourceSpec::parse(&e.source).map_err(usage)?;
    let encoder = EncoderConfig {
        format: e.format,
        cef: CefConfig::default(),
        hec: crate::encode::hec::HecConfig::default(),
        severity: severity_table(&e.severities)?,
    };
    let read = ReadOptions { range, lag: e.lag, schema: e.schema.clone(), ..ReadOptions::default() };
    Ok(Plan {
        spec,
        filter,
        encoder,
        sinks: e.sinks.clone(),
        read,
        on_error: OnError::Fail,
        checkpoint: e.checkpoint.clone(),
        state_dir: file.state_dir.clone(),
        metrics_file: e.metrics_file.clone(),
        job: Some(job.name.clone()),
        spool_dir: None,
        spool_max: 1 << 30,
        fallback: None,
        chain: e.chain.clone(),
        redact: e.redact.clone(),
    })
}

/// The `report` command line a report job stands for: its relative range resolved now, in the
/// job's time zone; the package in `output_dir/FRAMEWORK-FROM`.
fn report_args(file: &JobFile, job: &Job, r: &config::ReportJob) -> anyhow::Result<crate::cli::ReportArgs> {
    use crate::cli::{DetectArgs, FilterArgs, ReportArgs, SourceArgs};
    let range = TimeRange::parse(&r.range, job.timezone).map_err(usage)?;
    let from = range.from.map(|f| f.with_timezone(&job.timezone).format("%Y-%m-%d").to_string()).unwrap_or_default();
    Ok(ReportArgs {
        framework: r.framework.clone(),
        source: SourceArgs {
            source: r.source.clone(),
            schema: r.schema.clone(),
            tables: Vec::new(),
            page_rows: 0,
            on_error: OnError::Fail,
        },
        filter: FilterArgs { range: Some(r.range.clone()), tz: job.timezone.name().to_string(), events: Vec::new() },
        detect: DetectArgs {
            baseline: r.baseline.unwrap_or(Duration::from_secs(60 * 86_400)),
            business_hours: "7-20".into(),
            first_seen: "ip".into(),
            stuck_after: Duration::from_secs(24 * 3600),
        },
        format: if r.formats.is_empty() { "html,pdf".into() } else { r.formats.join(",") },
        out: Some(r.output_dir.join(format!("{}-{from}", r.framework))),
        template_dir: None,
        org: r.org.clone(),
        generated_at: None,
        seed: None,
        sample: 5,
        matrix_rows: crate::report::MATRIX_SHOWN,
        local: false,
        sign_key: r.sign_key.clone(),
        redact: redact_args(file, &r.redact)?,
    })
}

/// The report's redaction flags: the key of the job file's state directory unless one is
/// named, so its chain head matches what the file's export jobs send.
fn redact_args(file: &JobFile, r: &crate::export::RedactOptions) -> anyhow::Result<crate::cli::RedactArgs> {
    use crate::secrets::redactor::{Mode, Redactor};
    let state = file.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
    let key = match (&r.key, r.mode) {
        (_, Mode::Off) => None,
        (Some(k), _) => Some(k.clone()),
        (None, mode) => Redactor::open(mode, None, &state).map_err(usage)?.key_path().map(Into::into),
    };
    Ok(crate::cli::RedactArgs {
        redact: false,
        redact_all: r.mode == Mode::All,
        no_redact: r.mode == Mode::Off,
        redact_key: key,
    })
}

/// Run a job once, holding its lock, retrying failures within its retry budget.
pub fn run_job(file: &JobFile, job: &Job) -> anyhow::Result<ExitCode> {
    let state = file.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
    let _lock = lock::try_lock(&state, &job.name)?;
    let mut attempt = 0;
    loop {
        let result = match &job.action {
            Action::Export(e) => export_plan(file, job, e).and_then(execute),
            Action::Report(r) => report_args(file, job, r).and_then(|a| super::report::run(&a)),
        };
        match result {
            Ok(code) => return Ok(code),
            Err(e) if attempt < job.retries && e.downcast_ref::<UsageError>().is_none() => {
                attempt += 1;
                let wait = Duration::from_secs((1u64 << attempt.min(6)).min(60));
                tracing::warn!("job {} failed ({e:#}); retry {attempt} of {} in {wait:?}", job.name, job.retries);
                std::thread::sleep(wait);
            }
            Err(e) => return Err(e.context(format!("job {} failed", job.name))),
        }
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let file = load(&args.config)?;
    let job = file.jobs.iter().find(|j| j.name == args.job).ok_or_else(|| {
        let names: Vec<&str> = file.jobs.iter().map(|j| j.name.as_str()).collect();
        usage(format!("no job {:?} in {}; jobs: {}", args.job, file.path.display(), names.join(", ")))
    })?;
    run_job(&file, job)
}

pub fn validate(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let file = load(args)?;
    println!("{}: {} job(s), no problems", file.path.display(), file.jobs.len());
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let file = load(args)?;
    let now = chrono::Utc::now();
    let mut out =
        format!("{:<24} {:<7} {:<18} {:<20} {:<22} next (local)\n", "job", "kind", "schedule", "zone", "next (UTC)");
    for job in &file.jobs {
        let kind = match job.action {
            Action::Export(_) => "export",
            Action::Report(_) => "report",
        };
        let (schedule, next_utc, next_local) = match &job.schedule {
            Some(s) => match s.next_after(now) {
                Some(t) => (
                    s.text().to_string(),
                    t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    t.with_timezone(&job.timezone).format("%Y-%m-%d %H:%M %Z").to_string(),
                ),
                None => (s.text().to_string(), "never".into(), String::new()),
            },
            None => ("(run only)".into(), "-".into(), String::new()),
        };
        out.push_str(&format!(
            "{:<24} {:<7} {:<18} {:<20} {:<22} {next_local}\n",
            job.name,
            kind,
            schedule,
            job.timezone.name(),
            next_utc
        ));
    }
    use std::io::Write;
    std::io::stdout().write_all(out.as_bytes()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
