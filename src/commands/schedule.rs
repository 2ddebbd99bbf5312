//! `schedule`: the long-running scheduler. Runs due jobs in their time zones, catches up a
//! missed run at most once per job after downtime, adds jitter, and stops gracefully on
//! SIGTERM/SIGINT (the running export delivers its batch and saves its checkpoint; exit 0).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};

use super::jobs::{load, run_job};
use super::usage;
use crate::cli::ConfigArgs;
use crate::config::Job;
use crate::model::time;
use crate::shutdown;

fn state_path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join("jobs").join(format!("{job}.json"))
}

/// The scheduled time of the job's last run, if one was recorded.
fn last_fire(state_dir: &Path, job: &str) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(state_path(state_dir, job)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    time::parse(v["last_fire"].as_str()?)
}

fn record_fire(state_dir: &Path, job: &str, at: DateTime<Utc>) -> std::io::Result<()> {
    let text = format!("{{\"last_fire\":\"{}\"}}\n", time::format(&at));
    crate::files::write_atomic(&state_path(state_dir, job), text.as_bytes(), crate::files::PRIVATE)
}

/// Sleep until `until` or a stop request, in short steps; `false` when stopped.
fn sleep_until(until: DateTime<Utc>) -> bool {
    loop {
        if shutdown::requested() {
            return false;
        }
        let left = until - Utc::now();
        if left <= chrono::Duration::zero() {
            return true;
        }
        std::thread::sleep(left.to_std().unwrap_or_default().min(Duration::from_millis(200)));
    }
}

fn run_logged(file: &crate::config::JobFile, job: &Job, why: &str) {
    tracing::info!(job = %job.name, "{why}");
    match run_job(file, job) {
        Ok(_) => tracing::info!(job = %job.name, "run finished"),
        Err(e) => tracing::error!(job = %job.name, "run failed: {e:#}"),
    }
}

pub fn run(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let file = load(args)?;
    let jobs: Vec<&Job> = file.jobs.iter().filter(|j| j.schedule.is_some()).collect();
    if jobs.is_empty() {
        return Err(usage(format!("no job in {} has a schedule", file.path.display())));
    }
    let state = file.state_dir.clone().unwrap_or_else(crate::checkpoint::default_state_dir);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    let now = Utc::now();
    let mut next: Vec<DateTime<Utc>> = Vec::new();
    for job in &jobs {
        let schedule = job.schedule.as_ref().expect("filtered");
        let due = schedule.last_at_or_before(now);
        match (last_fire(&state, &job.name), due) {
            // Downtime: at least one fire time passed unrun. Catch up once, not once per miss.
            (Some(last), Some(due)) if last < due => {
                run_logged(
                    &file,
                    job,
                    &format!("catching up the run due at {} (missed while not running)", time::format(&due)),
                );
                record_fire(&state, &job.name, due)?;
            }
            (None, Some(due)) => record_fire(&state, &job.name, due)?,
            _ => {}
        }
        next.push(schedule.next_after(Utc::now()).unwrap_or(DateTime::<Utc>::MAX_UTC));
        tracing::info!(job = %job.name, next = %time::format(&next[next.len() - 1]), "scheduled");
    }
    while !shutdown::requested() {
        let (i, &due) = next.iter().enumerate().min_by_key(|(_, t)| **t).expect("at least one job");
        if !sleep_until(due) {
            break;
        }
        let job = jobs[i];
        if !job.jitter.is_zero() {
            let delay = rng.gen_range(0..=job.jitter.as_millis() as u64);
            if !sleep_until(Utc::now() + chrono::Duration::milliseconds(delay as i64)) {
                break;
            }
        }
        run_logged(&file, job, &format!("running the run due at {}", time::format(&due)));
        record_fire(&state, &job.name, due)?;
        let schedule = job.schedule.as_ref().expect("filtered");
        next[i] = schedule.next_after(due.max(Utc::now())).unwrap_or(DateTime::<Utc>::MAX_UTC);
    }
    tracing::info!("stop requested: scheduler exiting");
    Ok(ExitCode::SUCCESS)
}
