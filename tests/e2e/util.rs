//! Helpers: run the binary, capture its output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_compliance-report");

/// A state directory of this test process, so default checkpoints and spools never land in
/// the real home directory.
pub fn state_home() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir")).path()
}

pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    pub fn lines(&self) -> Vec<String> {
        self.stdout_text().lines().map(str::to_string).collect()
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "exit code; stderr:\n{}", self.stderr);
        self
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run the binary with `args`, stdin closed.
pub fn run(args: &[&str]) -> Run {
    finish(
        Command::new(BIN)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("XDG_STATE_HOME", state_home())
            .stdin(Stdio::null())
            .output()
            .expect("binary runs"),
    )
}

/// Run the binary with `args`, feeding `input` on stdin.
pub fn run_with_stdin(args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("XDG_STATE_HOME", state_home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("binary finishes");
    writer.join().unwrap();
    finish(out)
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("test file written");
}

/// `report --framework soc2 --range 2026-10-01..2026-10-31 --out OUT` with `extra` options.
pub fn soc2_october(out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["report", "--framework", "soc2", "--range", "2026-10-01..2026-10-31"];
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    run(&args)
}

/// The demo export as JSON lines (prompts redacted, as by default), parsed (cached per test binary).
pub fn demo_json() -> &'static [serde_json::Value] {
    static CACHE: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| export_demo(&[]))
}

/// The demo events as the source holds them (`--no-redact`), parsed (cached per test binary).
pub fn demo_raw_json() -> &'static [serde_json::Value] {
    static CACHE: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| export_demo(&["--no-redact"]))
}

fn export_demo(extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["export", "--format", "json", "--no-chain"];
    args.extend_from_slice(extra);
    run(&args).ok().lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A test's external tool is missing: fail under `CI=true` (CI installs it, `hint` says how),
/// else note that the test is skipped.
#[track_caller]
pub fn skip_unless_ci(what: &str, hint: &str) {
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{what} is required under CI=true ({hint})");
    eprintln!("skipping: {what} not available");
}
