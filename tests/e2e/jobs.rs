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
