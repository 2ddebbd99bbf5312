//! Secret hygiene: passwords and tokens never appear in any output, even at the most verbose
//! log level and on failure; unverified database connections are said; state and output files
//! are not world-readable.

use std::os::unix::fs::PermissionsExt;

use crate::http_server::{Reply, TestServer};
use crate::util::run;

#[track_caller]
fn assert_hidden(secret: &str, r: &crate::util::Run) {
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(!r.stderr.contains(secret), "{secret} in stderr:\n{}", r.stderr);
    assert!(!stdout.contains(secret), "{secret} in stdout");
}

#[test]
fn database_passwords_never_reach_the_output() {
    // PostgreSQL: a role that needs a password, given a wrong one.
    if crate::pg::password_role_configured() {
        let base = crate::pg::admin_url();
        let host = base.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
        let url = format!("postgres://cr_pw_test:Wr0ng-PG-Secret@{host}/postgres");
        let r = run(&["-vv", "export", "--source", &url, "--format", "cef"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("cr_pw_test:***@"), "{}", r.stderr);
        assert_hidden("Wr0ng-PG-Secret", &r);
    }
    // ClickHouse: the password in the URL and as a query parameter.
    if let Some(ch) = crate::clickhouse::TestCh::new("secret") {
        let rest = ch.url.split_once("://").unwrap().1;
        for url in [
            format!("clickhouse://default:Wr0ng-CH-Secret@{}", rest.rsplit('@').next().unwrap()),
            format!("{}?password=Wr0ng-CH-Secret", ch.url),
        ] {
            let r = run(&["-vv", "export", "--source", &url, "--format", "json"]);
            assert_eq!(r.code, 1, "{}", r.stderr);
            assert_hidden("Wr0ng-CH-Secret", &r);
        }
    }
    // An unreachable remote database: the warning about unverified TLS, no password.
    let url = "postgres://audit:Remote-Secret@db.invalid:5432/gitlab?connect_timeout=2";
    let r = run(&["export", "--source", url, "--format", "cef"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the PostgreSQL server db.invalid is not verified (sslmode=prefer)"), "{}", r.stderr);
    assert_hidden("Remote-Secret", &r);
}

#[test]
fn http_tokens_never_reach_the_output() {
    let server =
        TestServer::start("/services/collector/event", vec![Reply::Status(403, "", "{\"text\":\"Invalid token\"}")]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&[
        "-vv",
        "export",
        "--format",
        "hec",
        "--event",
        "duo_flow_failed",
        "--output",
        &server.url,
        "--http-header",
        "Authorization: Splunk HEC-Token-5ecret",
        "--http-retries",
        "0",
        "--spool-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("403"), "{}", r.stderr);
    assert_hidden("HEC-Token-5ecret", &r);
    let got = server.requests();
    assert_eq!(got[0].header("Authorization"), Some("Splunk HEC-Token-5ecret"), "the token was sent");
}

#[test]
fn state_and_output_files_are_not_world_readable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = dir.path().join("events.json");
    let src = dir.path().join("audit.log");
    std::fs::write(
        &src,
        "{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":1,\"event_name\":\"x\",\"input_prompt\":\"hi\"}\n",
    )
    .unwrap();
    run(&[
        "export",
        "--source",
        src.to_str().unwrap(),
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .ok();
    let report = dir.path().join("report");
    crate::util::soc2_october(&report, &["--format", "html,md,json,csv"]).ok();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o640);
    assert_eq!(mode(&state.join("redact.key")), 0o600);
    for f in std::fs::read_dir(&report).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o640, "{}", f.display());
    }
}
