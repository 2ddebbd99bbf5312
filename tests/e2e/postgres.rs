//! The PostgreSQL source against a real server: GitLab's table shapes, YAML details, keyset
//! pagination, incremental checkpoints, crashes, late rows, missing tables, bad credentials.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::cef_parser;
use crate::pg::TestDb;
use crate::util::{run, Run};

fn export(db: &TestDb, extra: &[&str]) -> Run {
    let mut args = vec!["export", "--source", &db.url, "--format", "json", "--lag", "0"];
    args.extend_from_slice(extra);
    run(&args)
}

fn events(r: &Run) -> Vec<Value> {
    r.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ids(evs: &[Value]) -> Vec<String> {
    evs.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

const AI_DDL: &str = "CREATE TABLE ai_audit_events (id bigint NOT NULL, created_at timestamptz NOT NULL, cloud_event_id uuid NOT NULL, \
    author_id bigint NOT NULL, project_id bigint, namespace_id bigint, event_name text NOT NULL, ip_address inet, workflow_id bigint, details text, \
    CHECK (num_nonnulls(namespace_id, project_id) = 1)) PARTITION BY RANGE (created_at); \
    CREATE TABLE ai_audit_events_a PARTITION OF ai_audit_events FOR VALUES FROM ('2026-01-01') TO ('2026-10-01'); \
    CREATE TABLE ai_audit_events_b PARTITION OF ai_audit_events FOR VALUES FROM ('2026-10-01') TO ('2027-01-01'); \
    CREATE INDEX ON ai_audit_events (created_at, id);";

#[test]
fn demo_database_exports_every_row_once_in_time_order() {
    let Some(db) = TestDb::new("demo") else { return };
    run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
    let rows: i64 = db
        .sql("SELECT (SELECT count(*) FROM project_audit_events) + (SELECT count(*) FROM group_audit_events) + (SELECT count(*) FROM user_audit_events) \
              + (SELECT count(*) FROM instance_audit_events) + (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM ai_audit_events) \
              + (SELECT count(*) FROM flow_sessions) + (SELECT count(*) FROM flow_sessions WHERE completed_at IS NOT NULL) + (SELECT count(*) FROM flow_session_resources)")
        .parse()
        .unwrap();
    let all = export(&db, &[]).ok();
    let evs = events(&all);
    assert_eq!(evs.len() as i64, rows);
    let unique: BTreeSet<String> = ids(&evs).into_iter().collect();
    assert_eq!(unique.len(), evs.len(), "every event has its own id");
    let times: Vec<&str> = evs.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "one time-ordered stream across tables");
    // YAML details from the split tables come out as fields.
    let git = evs
        .iter()
        .find(|e| e["origin"]["format"] == "project_audit_events" && e["event_name"] == "repository_git_operation")
        .unwrap();
    assert_eq!(git["details"]["custom_message"]["protocol"], "ssh", "{git}");
    let legacy = evs.iter().find(|e| e["origin"]["format"] == "audit_events").unwrap();
    assert!(legacy["event_name"].as_str().unwrap().starts_with("authenticated_with_"), "{legacy}");
    assert!(!legacy["details"].as_object().unwrap().contains_key("raw_details"));
    let ip = evs.iter().find_map(|e| e["ip_address"].as_str()).unwrap();
    assert!(!ip.contains('/'), "inet values print as addresses: {ip}");
    // The CEF of the same snapshot parses strictly.
    let cef = run(&["export", "--source", &db.url, "--format", "cef", "--lag", "0", "--event", "duo_flow_*"]).ok();
    for line in cef.lines() {
        cef_parser::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let check = run(&["check", "--source", &db.url]).ok();
    assert!(check.stdout_text().contains("ai_audit_events"), "{}", check.stdout_text());
}

#[test]
fn incremental_runs_lose_and_repeat_nothing() {
    let Some(db) = TestDb::new("incr") else { return };
    run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let full = ids(&events(&export(&db, &[]).ok()));
    // Walk the period in uneven slices, small pages, same checkpoint: each run continues after the last.
    let mut seen = Vec::new();
    for to in ["2026-08-20", "2026-08-21", "2026-09-30", "2026-10-31T12:00:00Z", ""] {
        let range = format!("..{to}");
        let r = export(&db, &["--checkpoint", "walk", "--state-dir", st, "--range", &range, "--page-rows", "700"]).ok();
        seen.extend(ids(&events(&r)));
    }
    let again = export(&db, &["--checkpoint", "walk", "--state-dir", st]).ok();
    assert_eq!(events(&again).len(), 0, "nothing new, nothing repeated");
    assert_eq!(seen.len(), full.len(), "no duplicates and no gaps");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>(), full.iter().collect::<BTreeSet<_>>());
    let state_file: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("walk.json")).unwrap()).unwrap();
    let source = state_file["sources"].as_object().unwrap().keys().next().unwrap().clone();
    assert!(source.starts_with("postgres://"), "{source}");
}

#[test]
fn equal_timestamps_across_page_boundaries_and_partitions() {
    let Some(db) = TestDb::new("ties") else { return };
    db.sql(AI_DDL);
    // 50 rows sharing one timestamp, 50 sharing another in the next partition.
    db.sql("INSERT INTO ai_audit_events SELECT i, CASE WHEN i <= 50 THEN '2026-09-30 23:59:59.999999+00'::timestamptz ELSE '2026-10-01 00:00:00+00' END, \
            gen_random_uuid(), 1, 7, NULL, 'duo_flow_started', '192.0.2.1', i, '{\"session_id\":\"s' || i || '\"}' FROM generate_series(1, 100) i");
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        // Page size 7 puts page boundaries inside the runs of equal timestamps.
        let r = export(&db, &["--checkpoint", "c", "--state-dir", st, "--page-rows", "7"]).ok();
        got.extend(events(&r).iter().map(|e| e["origin"]["native_id"].as_str().unwrap().parse::<i64>().unwrap()));
        db.sql("SELECT 1");
    }
    assert_eq!(got, (1..=100).collect::<Vec<i64>>());
}

#[test]
fn yaml_json_and_odd_values() {
    let Some(db) = TestDb::new("odd") else { return };
    db.sql("CREATE TABLE project_audit_events (id bigint NOT NULL, created_at timestamptz NOT NULL, project_id bigint NOT NULL, author_id bigint NOT NULL, \
            target_id bigint, event_name text, details text, ip_address inet, author_name text, entity_path text, target_details text, target_type text)");
    let long = "ü".repeat(5496); // 5,500 characters with "grp/"
    let yaml = "---\n:author_name: Zoë | admin\n:custom_message: \"Changed = setting\\r\\nnext line\"\n:target_id: 12\n:nested:\n  :k: :sym\n";
    db.sql(&format!(
        "INSERT INTO project_audit_events VALUES \
         (1, '2026-10-01T10:00:00.123456Z', 7, 42, 12, 'project_feature_updated', $y${yaml}$y$, '2001:db8::7', 'Zoë | admin', 'grp/{long}', NULL, 'Project'), \
         (2, '2026-10-01T10:00:01Z', 7, 42, NULL, NULL, '{{\"event_name\":\"json_event\",\"custom_message\":\"from json\"}}', NULL, NULL, NULL, NULL, NULL), \
         (3, '2026-10-01T10:00:02Z', 7, 42, NULL, 'broken_details', '{{not: [valid', NULL, NULL, NULL, NULL, NULL), \
         (4, '2026-10-01T10:00:03Z', 7, -3, NULL, 'nulls', NULL, NULL, NULL, NULL, NULL, NULL)"
    ));
    let r = export(&db, &[]).ok();
    let evs = events(&r);
    assert_eq!(evs.len(), 4);
    assert_eq!(evs[0]["time"], "2026-10-01T10:00:00.123456Z");
    assert_eq!(evs[0]["message"], "Changed = setting\r\nnext line");
    assert_eq!(evs[0]["details"]["nested"]["k"], "sym");
    assert_eq!(evs[0]["ip_address"], "2001:db8::7");
    assert_eq!(evs[0]["scope"]["path"].as_str().unwrap().chars().count(), 5500);
    assert_eq!(evs[1]["event_name"], "json_event");
    assert_eq!(evs[1]["message"], "from json");
    assert_eq!(evs[2]["details"]["raw_details"], "{not: [valid");
    assert!(r.stderr.contains("details kept verbatim"), "{}", r.stderr);
    assert_eq!(evs[3]["actor"]["class"], "deploy_key");
    let cef = run(&["export", "--source", &db.url, "--format", "cef", "--lag", "0"]).ok();
    let first = cef_parser::parse(&cef.lines()[0]).unwrap();
    assert_eq!(first.get("suser"), Some("Zoë | admin"));
    assert_eq!(first.get("msg"), Some("Changed = setting\r\nnext line"));
    assert_eq!(first.get("c6a2"), Some("2001:db8::7"));
}

#[test]
fn missing_tables_are_reported_once_and_the_rest_exported() {
    let Some(db) = TestDb::new("missing") else { return };
    db.sql(AI_DDL);
    db.sql("INSERT INTO ai_audit_events VALUES (1, '2026-10-01Z', gen_random_uuid(), 1, 7, NULL, 'duo_flow_started', NULL, NULL, NULL)");
    let r = export(&db, &[]).ok();
    assert_eq!(events(&r).len(), 1);
    assert_eq!(r.stderr.matches("project_audit_events not found").count(), 1, "{}", r.stderr);
    let check = run(&["check", "--source", &db.url]).ok();
    assert!(check.stdout_text().lines().any(|l| l.starts_with("project_audit_events") && l.contains("not found")));
}

#[test]
fn late_rows_within_the_lag_are_not_skipped() {
    let Some(db) = TestDb::new("lag") else { return };
    db.sql(AI_DDL.replace("'2027-01-01'", "MAXVALUE").as_str());
    db.sql("INSERT INTO ai_audit_events VALUES (1, now() - interval '1 hour', gen_random_uuid(), 1, 7, NULL, 'early', NULL, NULL, NULL)");
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let lagged = |db: &TestDb| {
        run(&["export", "--source", &db.url, "--format", "json", "--lag", "3s", "--checkpoint", "l", "--state-dir", st])
            .ok()
    };
    let first = events(&lagged(&db));
    assert_eq!(first.len(), 1);
    // A row stamped just now but committed after the first run, as a slow transaction would.
    db.sql("INSERT INTO ai_audit_events VALUES (2, now() - interval '1 second', gen_random_uuid(), 1, 7, NULL, 'late', NULL, NULL, NULL)");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let second = events(&lagged(&db));
    assert_eq!(second.iter().map(|e| e["event_name"].as_str().unwrap()).collect::<Vec<_>>(), ["late"]);
}

#[test]
fn crash_at_any_point_resends_at_most_the_unacknowledged_batch() {
    let Some(db) = TestDb::new("crash") else { return };
    db.token_usage_rows(60000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let st = dir.path().join("state");
    let args = |out: &Path| {
        vec![
            "export".to_string(),
            "--source".into(),
            db.url.clone(),
            "--format".into(),
            "json".into(),
            "--lag".into(),
            "0".into(),
            "--checkpoint".into(),
            "k".into(),
            "--state-dir".into(),
            st.display().to_string(),
            "--output".into(),
            out.display().to_string(),
        ]
    };
    // Kill -9 the first run after it has delivered part of the export.
    let mut child = std::process::Command::new(crate::util::BIN)
        .args(args(&out))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) < 2_000_000 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first_len = std::fs::read_to_string(&out).unwrap().lines().count();
    assert!(first_len > 0 && first_len < 60000, "killed mid-run after {first_len} events");
    let r = run(&args(&out).iter().map(String::as_str).collect::<Vec<_>>()).ok();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut counts: BTreeMap<i64, u32> = BTreeMap::new();
    for line in text.lines() {
        // A kill can cut the last line of the first run short; that record is re-sent whole.
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        *counts.entry(v["origin"]["native_id"].as_str().unwrap().parse().unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 60000, "every row delivered; {}", r.stderr);
    let dups = counts.values().filter(|c| **c > 1).count();
    assert!(dups <= 2000, "re-sent at most one batch, got {dups} duplicates");
}

#[test]
fn bad_credentials_and_hosts_never_show_the_password() {
    let Some(db) = TestDb::new("auth") else { return };
    let base = crate::pg::admin_url();
    let host = base.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let r = run(&[
        "export",
        "--format",
        "cef",
        "--source",
        &format!("postgres://nobody_here:Sup3rS3cret@{host}/{}", db.url.rsplit('/').next().unwrap()),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("Sup3rS3cret"), "{}", r.stderr);
    assert!(r.stderr.contains("nobody_here:***@"), "{}", r.stderr);
    let r = run(&["export", "--format", "cef", "--source", "postgres://u:Sup3rS3cret@127.0.0.1:1/db"]);
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("Sup3rS3cret") && r.stderr.contains("is the server running"), "{}", r.stderr);
    let r = run(&[
        "export",
        "--format",
        "cef",
        "--source",
        &format!("postgres://postgres:Sup3rS3cret@{host}/no_such_db_here"),
    ]);
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("Sup3rS3cret"), "{}", r.stderr);
    // With password authentication for a role (set up by .ci/run), a wrong password is named as such.
    if crate::pg::password_role_configured() {
        let r = run(&[
            "export",
            "--format",
            "cef",
            "--source",
            &format!("postgres://cr_pw_test:wrong-Sup3rS3cret@{host}/postgres"),
        ]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("wrong user or password") && !r.stderr.contains("Sup3rS3cret"), "{}", r.stderr);
    }
}

#[test]
fn tls_verify_full_with_a_ca_file() {
    let Some(_db) = TestDb::new("tls") else { return };
    let Ok(ca) = std::env::var("TEST_PG_CA") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "TEST_PG_CA must be set under CI=true (see .ci/run)"
        );
        eprintln!("skipping: TEST_PG_CA not set");
        return;
    };
    let admin = crate::pg::admin_url();
    let userinfo = admin.trim_start_matches("postgres://").split('@').next().unwrap().to_string();
    let url = |host: &str, ca: &str| {
        format!("postgres://{userinfo}@{host}:5432/postgres?sslmode=verify-full&sslrootcert={ca}")
    };
    let ok = run(&["check", "--source", &url("localhost", &ca)]);
    assert_eq!(ok.code, 0, "verify-full with the right CA connects: {}", ok.stderr);
    // A CA unrelated to the server's.
    let dir = tempfile::tempdir().unwrap();
    let other = crate::rsyslog::TestPki::new(dir.path(), "other");
    let bad = run(&["check", "--source", &url("localhost", other.ca.to_str().unwrap())]);
    assert_eq!(bad.code, 1, "a server certificate from another CA is refused");
    assert!(bad.stderr.contains("sslmode"), "{}", bad.stderr);
}

#[test]
fn gitlab_agent_workflow_tables_map_onto_sessions() {
    let Some(db) = TestDb::new("duo") else { return };
    // Columns and types as in GitLab's db/structure.sql (the subset the tool reads, plus defaults).
    db.sql(
        "CREATE TABLE duo_workflows_workflows (id bigint NOT NULL, user_id bigint NOT NULL, project_id bigint, created_at timestamptz NOT NULL, \
         updated_at timestamptz NOT NULL, status smallint DEFAULT 0 NOT NULL, goal text, workflow_definition text DEFAULT 'software_development' NOT NULL, \
         namespace_id bigint, service_account_id bigint, tool_call_approvals jsonb DEFAULT '{}' NOT NULL, summary text, title text); \
         CREATE TABLE duo_workflows_workflow_merge_requests (id bigint NOT NULL, workflow_id bigint NOT NULL, merge_request_id bigint NOT NULL, \
         project_id bigint, namespace_id bigint, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, link_type smallint NOT NULL); \
         INSERT INTO duo_workflows_workflows VALUES (77, 42, 7, '2026-10-01T09:00:00Z', '2026-10-01T09:10:00Z', 3, 'Fix the flaky test', \
         'fix_pipeline', NULL, 5003, '{\"run_command\": \"approved\"}', NULL, 'Fix flaky'); \
         INSERT INTO duo_workflows_workflow_merge_requests VALUES (1, 77, 555, 7, NULL, '2026-10-01T09:05:00Z', '2026-10-01T09:05:00Z', 1);",
    );
    let evs = events(&export(&db, &[]).ok());
    assert_eq!(evs.len(), 2);
    let start = &evs[0];
    assert_eq!(start["event_name"], "duo_flow_started");
    assert_eq!(start["actor"]["id"], "5003");
    assert_eq!(start["actor"]["class"], "service_account");
    assert_eq!(start["on_behalf_of"]["id"], "42");
    assert_eq!(start["ai"]["flow_type"], "fix_pipeline");
    assert_eq!(start["details"]["status_name"], "finished");
    assert_eq!(start["details"]["input_prompt"], "Fix the flaky test");
    assert_eq!(start["details"]["tool_call_approvals"]["run_command"], "approved");
    let mr = &evs[1];
    assert_eq!(mr["event_name"], "duo_flow_resource_created");
    assert_eq!(mr["target"]["type"], "MergeRequest");
    assert_eq!(mr["target"]["id"], "555");
    assert_eq!(mr["ai"]["session_id"], "77");
}
