//! `trace` and `sessions` on the demo data, from files, PostgreSQL and ClickHouse.

use serde_json::Value;

use crate::util::{demo_json, run};

/// A commit an agent session created in the demo data, and that session.
fn demo_commit() -> (String, String) {
    let ev = demo_json()
        .iter()
        .find(|e| e["event_name"] == "duo_flow_resource_created" && e["target"]["type"] == "Commit")
        .unwrap();
    (ev["target"]["id"].as_str().unwrap().to_string(), ev["ai"]["session_id"].as_str().unwrap().to_string())
}

fn check_trace(source: &[&str], sha: &str, session: &str) {
    let json = run(&[&["trace", "--commit", sha, "--format", "json"][..], source].concat()).ok();
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{doc}");
    assert_eq!(sessions[0]["session"]["session_id"], session);
    assert!(sessions[0]["initiated_by"].as_str().is_some_and(|u| !u.is_empty()), "{doc}");
    assert!(sessions[0]["resources"].as_array().unwrap().iter().any(|r| r["resource_id"] == sha));
}

#[test]
fn a_commit_is_traced_to_its_session_and_user() {
    let (sha, session) = demo_commit();
    check_trace(&[], &sha, &session);
    // An abbreviated SHA, the human-readable answer, links, 80 columns.
    let text = run(&["trace", "--commit", &sha[..10], "--gitlab-url", "https://gitlab.example.com"]).ok().stdout_text();
    assert!(text.contains(&session), "{text}");
    assert!(text.contains("initiated by") && text.contains("acted as") && text.contains("authorized"), "{text}");
    assert!(text.contains(&format!("/-/commit/{sha}")), "{text}");
    for line in text.lines().filter(|l| !l.trim_start().starts_with("https://")) {
        assert!(line.chars().count() <= 80, "longer than 80 columns: {line:?}");
    }
    // A resource no session touched is an answer, not an error.
    let none = run(&["trace", "--commit", "0000000000000000000000000000000000000000"]).ok().stdout_text();
    assert!(none.starts_with("No AI agent session created or modified Commit"), "{none}");
    let bad = run(&["trace", "--commit", "xyz"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn a_session_without_authorization_shows_the_finding() {
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/truth.json")).unwrap(),
    )
    .unwrap();
    let planted =
        truth["anomalies"].as_array().unwrap().iter().find(|a| a["kind"] == "session_without_authorization").unwrap();
    let id = planted["session_ids"][0].as_str().unwrap();
    let text = run(&["sessions", "show", id]).ok().stdout_text();
    assert!(text.contains("NO AUTHORIZATION RECORD"), "{text}");
    assert!(text.contains("! no authorization record"), "{text}");
    let json: Value = serde_json::from_slice(&run(&["sessions", "show", id, "--format", "json"]).ok().stdout).unwrap();
    assert_eq!(json["session"]["session_id"], id);
    assert!(json["timeline"].as_array().unwrap().len() > 1);
    let html = run(&["sessions", "show", id, "--format", "html"]).ok().stdout_text();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("NO AUTHORIZATION RECORD"), "{html}");
    assert!(html.contains("Integrity finding") && html.trim_end().ends_with("</html>"));
    let missing = run(&["sessions", "show", "no-such-session"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("no session no-such-session"), "{}", missing.stderr);
}

#[test]
fn sessions_list_filters_and_formats() {
    let csv = run(&[
        "sessions",
        "list",
        "--format",
        "csv",
        "--flow-type",
        "fix_pipeline",
        "--range",
        "2026-10-01..2026-10-31",
    ])
    .ok()
    .stdout_text();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("session_id,started_at,status"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r.split(',').nth(4) == Some("fix_pipeline") && r.split(',').nth(1).unwrap().starts_with("2026-10")));
    let json = run(&[
        "sessions",
        "list",
        "--format",
        "json",
        "--flow-type",
        "fix_pipeline",
        "--range",
        "2026-10-01..2026-10-31",
    ])
    .ok();
    assert_eq!(json.lines().len(), rows.len());
    let failed = run(&["sessions", "list", "--format", "json", "--status", "failed"]).ok();
    assert!(failed.lines().iter().all(|l| l.contains("\"status\":\"failed\"")));
    let table = run(&["sessions", "list", "--range", "2026-10-01..2026-10-02"]).ok().stdout_text();
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
}

/// `(time, event)` of a session's `duo_flow_*` steps (the events every source kind holds).
fn flow_steps(doc: &Value) -> std::collections::BTreeSet<(String, String)> {
    doc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["event"].as_str().unwrap().starts_with("duo_flow_"))
        .map(|st| (st["time"].as_str().unwrap().to_string(), st["event"].as_str().unwrap().to_string()))
        .collect()
}

/// On a database: trace and show look sessions up by index, read only the sessions' time
/// windows, and give the timeline the files give.
fn check_database(url: &str, sha: &str, session: &str) {
    check_trace(&["--source", url], sha, session);
    let doc: Value = serde_json::from_slice(
        &run(&["trace", "--commit", &sha[..9], "--format", "json", "--source", url]).ok().stdout,
    )
    .unwrap();
    assert_eq!(doc["lookup"], "index", "{doc}");
    let none = run(&["trace", "--mr", "999999", "--source", url]).ok().stdout_text();
    assert!(none.contains("No AI agent session created or modified MergeRequest 999999"), "{none}");
    let files: Value =
        serde_json::from_slice(&run(&["sessions", "show", session, "--format", "json"]).ok().stdout).unwrap();
    let db: Value =
        serde_json::from_slice(&run(&["sessions", "show", session, "--format", "json", "--source", url]).ok().stdout)
            .unwrap();
    let (want, got) = (flow_steps(&files), flow_steps(&db));
    assert!(want.len() >= 3 && want.is_subset(&got), "files: {want:?}\ndatabase: {got:?}");
    assert_eq!(db["session"]["status"], files["session"]["status"]);
    let missing = run(&["sessions", "show", "00000000-0000-0000-0000-000000000000", "--source", url]);
    assert_ne!(missing.code, 0, "{}", missing.stdout_text());
}

#[test]
fn trace_works_on_postgres_and_clickhouse() {
    let (sha, session) = demo_commit();
    if let Some(db) = crate::pg::TestDb::new("trace") {
        run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
        check_database(&db.url, &sha, &session);
        // The indexes lookups rely on are there; `check` names one that is not.
        let check = run(&["check", "--source", &db.url]).ok().stdout_text();
        assert!(!check.contains("missing index"), "{check}");
        db.sql("DROP INDEX flow_session_resources_resource");
        let check = run(&["check", "--source", &db.url]).ok().stdout_text();
        assert!(
            check.contains("flow_session_resources: no index on (resource_type, resource_id)")
                && check.contains("CREATE INDEX ON \"flow_session_resources\" (resource_type, resource_id)"),
            "{check}"
        );
    }
    if let Some(ch) = crate::clickhouse::TestCh::new("trace") {
        run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
        check_database(&ch.url, &sha, &session);
    }
}
