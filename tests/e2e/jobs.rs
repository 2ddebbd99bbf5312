//! The job file from the command line: validation, `run JOB`, locking between processes.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::{run, BIN};

fn job_file(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("compliance-report.toml");
    std::fs::write(&path, format!("state_dir = \"{}\"\n{body}", dir.join("state").display())).unwrap();
    path.display().to_string()
}

#[test]
fn invalid_job_files_list_every_problem_with_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = job_file(
        dir.path(),
        "[jobs.a]\nkind = \"export\"\nformat = \"yaml\"\nsource = \"x.log\"\nschedule = \"0 25 * * *\"\n\n[jobs.b]\nkind = \"export\"\nsource = \"y\"\nformat = \"cef\"\nsinks = [{ type = \"carrier-pigeon\" }]\ncolour = 1\n",
    );
    let r = run(&["jobs", "validate", "--config", &cfg]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for want in [
        "line 4: jobs.a.format:",
        "line 6: jobs.a.schedule:",
        "line 12: jobs.b.sinks[0].type:",
        "line 13: jobs.b.colour: unknown key",
    ] {
        assert!(r.stderr.contains(want), "missing {want:?} in:\n{}", r.stderr);
    }
}

#[test]
fn run_executes_an_export_job_and_list_shows_next_fire_times() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let cfg = job_file(
        dir.path(),
        &format!(
            "[jobs.flows]\nkind = \"export\"\nsource = \"${{CR_TEST_SOURCE}}\"\nformat = \"json\"\nevents = [\"duo_flow_failed\"]\nactors = [\"1013\"]\nschedule = \"0 9 * * 1-5\"\ntimezone = \"Europe/Berlin\"\n[[jobs.flows.sinks]]\ntype = \"file\"\npath = \"{}\"\n",
            out.display()
        ),
    );
    let demo = dir.path().join("demo");
    run(&["demo", "generate", "--out", demo.to_str().unwrap(), "--scale", "0.2"]).ok();
    let status = Command::new(BIN)
        .args(["run", "flows", "--config", &cfg])
        .env("CR_TEST_SOURCE", demo.join("events"))
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event_name"], "duo_flow_failed");
        assert_eq!(v["on_behalf_of"]["id"], "1013", "actor filter matches the user behind the service account");
    }
    let list = Command::new(BIN).args(["jobs", "list", "--config", &cfg]).env("CR_TEST_SOURCE", "x").output().unwrap();
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains("flows") && text.contains("0 9 * * 1-5") && text.contains("Europe/Berlin"), "{text}");
    let missing = run(&["run", "nope", "--config", &cfg]);
    assert_eq!(missing.code, 2);
}

#[test]
fn run_executes_a_report_job() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    run(&["demo", "generate", "--out", demo.to_str().unwrap(), "--scale", "0.2"]).ok();
    let reports = dir.path().join("reports");
    let cfg = job_file(
        dir.path(),
        &format!(
            "[jobs.soc2-week]\nkind = \"report\"\nsource = \"{}\"\nframework = \"soc2\"\nrange = \"2026-10-12..2026-10-18\"\noutput_dir = \"{}\"\nformats = [\"json\", \"csv\"]\norg = \"Acme\"\nschedule = \"@monthly\"\n",
            demo.join("events").display(),
            reports.display()
        ),
    );
    let r = run(&["run", "soc2-week", "--config", &cfg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let package = reports.join("soc2-2026-10-12");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(package.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["framework"], "soc2");
    assert_eq!(report["meta"]["organisation"], "Acme");
    assert!(package.join("evidence.csv").exists() && package.join("traceability.csv").exists());
    let verify = run(&["verify", package.to_str().unwrap()]).ok().stdout_text();
    assert!(verify.starts_with("OK: 3 files"), "{verify}");
    // A report job needs a source like an export job.
    let bad = job_file(dir.path(), "[jobs.r]\nkind = \"report\"\nframework = \"soc2\"\noutput_dir = \"x\"\n");
    let r = run(&["jobs", "validate", "--config", &bad]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("jobs.r: missing key \"source\""), "{}", r.stderr);
}

#[test]
fn a_second_run_of_the_same_job_exits_3_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = job_file(
        dir.path(),
        "[jobs.slow]\nkind = \"export\"\nsource = \"-\"\nformat = \"json\"\n[[jobs.slow.sinks]]\ntype = \"stdout\"\n",
    );
    // The first run reads stdin, which stays open: it holds the lock until we close it.
    let mut first = Command::new(BIN)
        .args(["run", "slow", "--config", &cfg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = dir.path().join("state/locks/slow.lock");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&lock).map(|s| s.trim().is_empty()).unwrap_or(true)
        && started.elapsed().as_secs() < 20
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = run(&["run", "slow", "--config", &cfg]);
    assert_eq!(second.code, 3, "{}", second.stderr);
    assert!(second.stderr.contains("job slow is already running"), "{}", second.stderr);
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b"{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":1}\n").unwrap();
    drop(stdin);
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    // Once the first run is gone, the lock is free again (no stale lock).
    let third = Command::new(BIN).args(["run", "slow", "--config", &cfg]).stdin(Stdio::null()).output().unwrap();
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
}

fn sigterm(child: &std::process::Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn scheduler_catches_up_a_missed_run_once_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.log");
    std::fs::write(
        &src,
        "{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":1}\n{\"time\":\"2026-10-01T00:00:01Z\",\"author_id\":2}\n",
    )
    .unwrap();
    let out = dir.path().join("out.json");
    let cfg = job_file(
        dir.path(),
        &format!(
            "[jobs.yearly]\nkind = \"export\"\nsource = \"{}\"\nformat = \"json\"\nschedule = \"0 0 1 1 *\"\n[[jobs.yearly.sinks]]\ntype = \"file\"\npath = \"{}\"\n",
            src.display(),
            out.display()
        ),
    );
    // The last run was recorded long before the last fire time (New Year): one catch-up run.
    let state = dir.path().join("state/jobs");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("yearly.json"), "{\"last_fire\":\"2020-01-01T00:00:00.000000Z\"}\n").unwrap();
    let child = Command::new(BIN).args(["schedule", "--config", &cfg]).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&out).map(|s| s.lines().count()).unwrap_or(0) < 2 && started.elapsed().as_secs() < 20
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    sigterm(&child);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(stderr.contains("catching up"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2, "one catch-up run, not one per missed year");
    let recorded = std::fs::read_to_string(state.join("yearly.json")).unwrap();
    assert!(!recorded.contains("2020-"), "the catch-up is recorded: {recorded}");
}

#[test]
fn sigterm_mid_export_keeps_the_checkpoint_at_the_last_delivered_event() {
    let Some(db) = crate::pg::TestDb::new("sigterm") else { return };
    db.token_usage_rows(80000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let cfg = job_file(
        dir.path(),
        &format!(
            "[jobs.pg]\nkind = \"export\"\nsource = \"{}\"\nformat = \"json\"\ncheckpoint = \"pg\"\nlag = \"0\"\n[[jobs.pg.sinks]]\ntype = \"file\"\npath = \"{}\"\n",
            db.url,
            out.display()
        ),
    );
    let child = Command::new(BIN).args(["run", "pg", "--config", &cfg]).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) < 1_000_000 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sigterm(&child);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "graceful stop exits 0: {stderr}");
    let ids = |text: &str| -> Vec<i64> {
        text.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["origin"]["native_id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let first = ids(&std::fs::read_to_string(&out).unwrap());
    assert!(!first.is_empty() && first.len() < 80000, "stopped mid-run after {} events: {stderr}", first.len());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/pg.json")).unwrap()).unwrap();
    let source = state["sources"].as_object().unwrap().values().next().unwrap();
    assert_eq!(
        source["tables"]["ai_audit_events"]["key"][0].as_i64(),
        first.last().copied(),
        "checkpoint = last delivered event"
    );
    let second = Command::new(BIN).args(["run", "pg", "--config", &cfg]).output().unwrap();
    assert!(second.status.success());
    let all = ids(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(all, (1..=80000).collect::<Vec<i64>>(), "nothing lost, nothing repeated");
}

#[test]
fn the_example_job_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/compliance-report.toml");
    let dir = tempfile::tempdir().unwrap();
    let secret = std::path::Path::new("/run/secrets/audit_reader_password");
    // password_file must exist to validate; point the example at a temporary copy of it.
    let text = std::fs::read_to_string(path).unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let text = text.replace(secret.to_str().unwrap(), pw.to_str().unwrap());
    let cfg = dir.path().join("jobs.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .args(["jobs", "list", "--config", cfg.to_str().unwrap()])
        .env("DATABASE_URL", "postgres://reader@db/gitlab")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for job in ["siem-export", "agent-digest", "soc2-monthly"] {
        assert!(stdout.contains(job), "{stdout}");
    }
    assert!(!stdout.contains("s3cret") && !String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}
