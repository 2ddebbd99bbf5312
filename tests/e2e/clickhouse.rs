//! The ClickHouse source against a real server: `TEST_CLICKHOUSE_URL` (default
//! `clickhouse://default@127.0.0.1:8123/default`; `.ci/run` installs and starts Debian's
//! ClickHouse). Each test works in its own database, dropped afterwards. Without a server the
//! tests are skipped, except under `CI=true`, where they fail.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::pg::TestDb;
use crate::util::{run, run_with_stdin};

pub struct TestCh {
    /// `clickhouse://…/DATABASE` for this test's database.
    pub url: String,
    http: String,
    name: String,
}

fn server() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "clickhouse://default@127.0.0.1:8123/default".into())
}

/// `http://host:port` of a `clickhouse://[user@]host:port/db` URL (the tests' server has no password).
fn http_base(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    format!("http://{}", authority.rsplit('@').next().unwrap())
}

impl TestCh {
    /// A new empty database, or `None` (skip) when no server answers outside CI.
    pub fn new(tag: &str) -> Option<TestCh> {
        static N: AtomicU32 = AtomicU32::new(0);
        let http = http_base(&server());
        if let Err(e) = ureq::get(&format!("{http}/ping")).call() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("ClickHouse is required under CI=true but is not reachable at {http}: {e}");
            }
            eprintln!("skipping: no ClickHouse at {http}: {e}");
            return None;
        }
        let name = format!("cr_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let base = server().rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        let ch = TestCh { url: format!("{base}/{name}"), http, name };
        ch.sql(&format!("CREATE DATABASE {}", ch.name));
        Some(ch)
    }

    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        match ureq::post(&format!("{}/", self.http)).send_string(sql) {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(_, r)) => panic!("SQL failed: {}\n{sql}", r.into_string().unwrap_or_default()),
            Err(e) => panic!("SQL failed: {e}\n{sql}"),
        }
    }
}

impl Drop for TestCh {
    fn drop(&mut self) {
        let _ = ureq::post(&format!("{}/", self.http)).send_string(&format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

fn export(url: &str, format: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["export", "--source", url, "--format", format, "--lag", "0"];
    args.extend_from_slice(extra);
    run(&args)
}

fn json_lines(r: &crate::util::Run) -> Vec<Value> {
    r.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const CH_TABLES: [&str; 3] = ["ai_audit_events", "flow_sessions", "flow_session_resources"];
/// Origins both databases give: the shared tables, and group audit events (PostgreSQL's
/// `group_audit_events`, ClickHouse's `hierarchy_audit_events` replica of it).
const SHARED: [&str; 4] = ["ai_audit_events", "flow_sessions", "flow_session_resources", "group_audit_events"];

fn shared_lines(r: &crate::util::Run) -> Vec<u8> {
    r.lines()
        .iter()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            SHARED.contains(&v["origin"]["format"].as_str().unwrap())
        })
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

#[test]
fn exports_match_postgres_byte_for_byte() {
    let Some(ch) = TestCh::new("match") else { return };
    let Some(pg) = TestDb::new("chmatch") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    run(&["db", "init", "--source", &pg.url, "--with-demo"]).ok();
    // PostgreSQL also holds user, project and instance audit tables; compare what both have
    // (without the chain, whose seqs count the other tables too).
    let from_ch = shared_lines(&export(&ch.url, "json", &["--no-chain"]).ok());
    let from_pg = shared_lines(&export(&pg.url, "json", &["--no-chain"]).ok());
    assert_eq!(from_ch.iter().filter(|b| **b == b'\n').count(), 44_148, "every demo row of the shared tables");
    assert!(from_ch == from_pg, "ClickHouse and PostgreSQL exports differ");
    // And the CEF of both is the same bytes.
    let cef_ch = run_with_stdin(&["export", "--source", "-", "--format", "cef"], &from_ch).ok();
    let cef_pg = run_with_stdin(&["export", "--source", "-", "--format", "cef"], &from_pg).ok();
    assert!(cef_ch.stdout == cef_pg.stdout, "CEF differs");
    // A range selects the same slice from both.
    let range = ["--range", "2026-09-01..2026-09-07", "--no-chain"];
    let a = shared_lines(&export(&ch.url, "json", &range).ok());
    let b = shared_lines(&export(&pg.url, "json", &range).ok());
    assert!(!b.is_empty());
    assert!(a == b, "the same range differs");
}

#[test]
fn incremental_runs_lose_and_repeat_nothing() {
    let Some(ch) = TestCh::new("incr") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let ids = |r: &crate::util::Run| -> Vec<String> {
        json_lines(r).iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    let full = ids(&export(&ch.url, "json", &[]).ok());
    let mut seen = Vec::new();
    for to in ["2026-08-20", "2026-08-21", "2026-09-30", "2026-10-31T12:00:00Z", ""] {
        let range = format!("..{to}");
        let r = export(
            &ch.url,
            "json",
            &["--checkpoint", "walk", "--state-dir", st, "--range", &range, "--page-rows", "700"],
        )
        .ok();
        seen.extend(ids(&r));
    }
    assert_eq!(seen.len(), full.len(), "no duplicates and no gaps");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>(), full.iter().collect::<BTreeSet<_>>());
    let again = export(&ch.url, "json", &["--checkpoint", "walk", "--state-dir", st]).ok();
    assert_eq!(again.lines().len(), 0, "nothing new, nothing repeated");
    // Rows that arrive later, some sharing the last row's time, come with the next run only.
    let last: String =
        ch.sql(&format!("SELECT max(created_at) FROM {}.ai_audit_events", ch.url.rsplit('/').next().unwrap()));
    let last: i64 = last.trim().parse().unwrap();
    let db = ch.url.rsplit('/').next().unwrap();
    ch.sql(&format!(
        "INSERT INTO {db}.ai_audit_events (id, created_at, cloud_event_id, author_id, project_id, namespace_id, event_name, ip_address, workflow_id, details) VALUES \
         (900001, {last}, '00000000-0000-0000-0000-000000900001', 1, 7, NULL, 'duo_flow_token_usage', '10.0.0.1', NULL, '{{\"input_tokens\":1}}'), \
         (900002, {}, '00000000-0000-0000-0000-000000900002', 1, 7, NULL, 'duo_flow_token_usage', NULL, NULL, '{{}}')",
        last + 1
    ));
    let new = export(&ch.url, "json", &["--checkpoint", "walk", "--state-dir", st]).ok();
    let native: Vec<String> =
        json_lines(&new).iter().map(|e| e["origin"]["native_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(native, ["900001", "900002"]);
    let state_file: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("walk.json")).unwrap()).unwrap();
    let source = state_file["sources"].as_object().unwrap().keys().next().unwrap().clone();
    assert!(source.starts_with("clickhouse://"), "{source}");
}

#[test]
fn values_round_trip_column_by_column() {
    let Some(ch) = TestCh::new("odd") else { return };
    run(&["db", "init", "--source", &ch.url]).ok();
    let db = ch.url.rsplit('/').next().unwrap();
    // Tabs, newlines, backslashes, quotes and non-ASCII in text; quotes in arrays; NULLs.
    ch.sql(&format!(
        "INSERT INTO {db}.flow_sessions FORMAT JSONEachRow \
         {{\"session_id\":\"s-1\",\"user_id\":42,\"service_account_id\":5001,\"project_id\":null,\"flow_type\":\"fix\\tit\",\
         \"input_prompt\":\"line 1\\nline 2 \\\\ 'q' \\\"dq\\\" Zoë\",\"input_context\":\"{{\\\"k\\\":[1,\\\"x\\\"]}}\",\
         \"started_at\":1790856000123456,\"completed_at\":1790856060000001,\"status\":\"failed\",\
         \"authorization_verified_at\":null,\"authorization_method\":\"oauth\",\"authorized_scopes\":[\"a'b\",\"c\\\\d\",\"e]f\"],\
         \"plan_summary\":null,\"decisions_log\":null,\"input_tokens\":7,\"output_tokens\":null,\"model_provider\":\"anthropic\",\
         \"model_engine\":null,\"correlation_id\":\"c-1\"}}"
    ));
    let out = export(&ch.url, "json", &[]).ok();
    let ev = json_lines(&out);
    assert_eq!(ev.len(), 2, "{}", out.stdout_text());
    let start = &ev[0];
    assert_eq!(start["event_name"], "duo_flow_started");
    assert_eq!(start["time"], "2026-10-01T12:00:00.123456Z");
    assert_eq!(start["actor"]["id"], "5001");
    assert_eq!(start["on_behalf_of"]["id"], "42");
    assert_eq!(start["details"]["input_prompt"], "line 1\nline 2 \\ 'q' \"dq\" Zoë");
    assert_eq!(start["details"]["input_context"], serde_json::json!({"k": [1, "x"]}));
    assert_eq!(start["details"]["flow_type"], "fix\tit");
    assert_eq!(start["ai"]["authorization"]["scopes"], serde_json::json!(["a'b", "c\\d", "e]f"]));
    assert_eq!(start["ai"]["authorization"]["method"], "oauth");
    assert!(start.get("scope").is_none());
    let end = &ev[1];
    assert_eq!(end["event_name"], "duo_flow_failed");
    assert_eq!(end["time"], "2026-10-01T12:01:00.000001Z");
    assert_eq!(end["outcome"], "failure");
    assert_eq!(end["ai"]["input_tokens"], 7);
    assert!(end["ai"].get("output_tokens").is_none());
    assert_eq!(end["ai"]["duration_ms"], 59_876);
    assert_eq!(end["correlation_id"], "c-1");
}

#[test]
fn errors_name_the_problem_and_hide_the_password() {
    let Some(ch) = TestCh::new("err") else { return };
    let base = http_base(&ch.url).replace("http://", "");
    let wrong = format!("clickhouse://nobody:s3cret-pw@{base}/default");
    let r = export(&wrong, "json", &[]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("s3cret-pw"), "{}", r.stderr);
    assert!(r.stderr.contains("nobody:***@"), "{}", r.stderr);
    assert!(r.stderr.contains("wrong user or password"), "{}", r.stderr);
    let missing = format!("clickhouse://default@{base}/no_such_db_here");
    let r = export(&missing, "json", &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no database \"no_such_db_here\""), "{}", r.stderr);
    let closed = "clickhouse://default@127.0.0.1:1/default";
    let r = export(closed, "json", &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("is the server running"), "{}", r.stderr);
    // check reports the tables of an empty database as missing, once each.
    let r = run(&["check", "--source", &ch.url]).ok();
    let text = r.stdout_text();
    for t in CH_TABLES {
        assert_eq!(text.lines().filter(|l| l.starts_with(t)).count(), 1, "{text}");
    }
    assert!(text.contains("not found"), "{text}");
}

#[test]
fn agent_sessions_and_replicated_audit_events() {
    let Some(ch) = TestCh::new("gl") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    let db = ch.url.rsplit('/').next().unwrap().to_string();
    let events = json_lines(&export(&ch.url, "json", &[]).ok());
    let count = |format: &str, name: &str| {
        events.iter().filter(|e| e["origin"]["format"] == format && e["event_name"] == name).count()
    };
    let sessions: usize = ch.sql(&format!("SELECT count() FROM {db}.flow_sessions")).trim().parse().unwrap();
    let completed: usize =
        ch.sql(&format!("SELECT count() FROM {db}.flow_sessions WHERE status = 'completed'")).trim().parse().unwrap();
    let failed: usize =
        ch.sql(&format!("SELECT count() FROM {db}.flow_sessions WHERE status = 'failed'")).trim().parse().unwrap();
    assert_eq!(count("agent_platform_sessions", "duo_flow_created"), sessions);
    assert_eq!(count("agent_platform_sessions", "duo_flow_started"), sessions);
    assert_eq!(count("agent_platform_sessions", "duo_flow_completed"), completed);
    assert_eq!(count("agent_platform_sessions", "duo_flow_dropped"), failed);
    assert_eq!(count("agent_platform_sessions", "duo_flow_stopped"), 0, "no unset time becomes an event");
    let dropped = events
        .iter()
        .find(|e| e["origin"]["format"] == "agent_platform_sessions" && e["event_name"] == "duo_flow_dropped")
        .unwrap();
    assert_eq!(dropped["outcome"], "failure");
    assert_eq!(dropped["actor"]["class"], "user");
    assert!(dropped["ai"]["session_id"].as_str().unwrap().parse::<u64>().is_ok());
    // Time order across all streams.
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");

    // The replica: a newer version of a row replaces it, a deleted version removes it.
    let groups = |events: &[Value]| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["origin"]["format"] == "group_audit_events")
            .map(|e| {
                (e["origin"]["native_id"].as_str().unwrap().to_string(), e["event_name"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let before = groups(&events);
    assert_eq!(before.len(), 36);
    let (first, second) = (&before[0].0, &before[1].0);
    for (id, name, deleted) in [(first, "renamed_event", 0), (second, "whatever", 1)] {
        ch.sql(&format!(
            "INSERT INTO {db}.hierarchy_audit_events SELECT traversal_path, id, group_id, author_id, target_id, '{name}', \
             details, ip_address, author_name, entity_path, target_details, target_type, created_at, version + 1, {deleted} \
             FROM {db}.hierarchy_audit_events WHERE id = {id}"
        ));
    }
    let after = groups(&json_lines(&export(&ch.url, "json", &[]).ok()));
    assert_eq!(after.len(), 35);
    assert!(after.contains(&(first.clone(), "renamed_event".into())));
    assert!(!after.iter().any(|(id, _)| id == second));
}

#[test]
fn pushed_down_and_local_aggregations_agree() {
    let Some(ch) = TestCh::new("agg") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    for range in [None, Some("2026-09-01..2026-09-14")] {
        let mut args = vec!["aggregate", "--source", &ch.url];
        if let Some(r) = range {
            args.extend(["--range", r]);
        }
        let pushed = run(&args).ok();
        args.push("--local");
        let local = run(&args).ok();
        let tables = json_lines(&pushed);
        assert_eq!(tables.len(), 13, "every aggregation");
        for t in &tables {
            assert!(!t["rows"].as_array().unwrap().is_empty(), "{} is empty", t["query"]);
        }
        assert!(pushed.stdout == local.stdout, "push-down and local differ for range {range:?}");
    }
    // Counts add up to the export.
    let exported = export(&ch.url, "json", &[]).ok().lines().len() as i64;
    let by_event = json_lines(&run(&["aggregate", "--source", &ch.url, "--query", "count-by-event"]).ok());
    let total: i64 = by_event[0]["rows"].as_array().unwrap().iter().map(|r| r[1].as_i64().unwrap()).sum();
    assert_eq!(total, exported);
}

#[test]
fn anomalies_are_the_same_from_clickhouse_and_from_its_export() {
    let Some(ch) = TestCh::new("anom") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    std::fs::write(&file, export(&ch.url, "json", &[]).ok().stdout).unwrap();
    let args = ["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "60d", "--format", "json", "--source"];
    let from_ch = run(&[&args[..], &[ch.url.as_str()]].concat()).ok();
    let from_file = run(&[&args[..], &[file.to_str().unwrap()]].concat()).ok();
    assert!(!from_ch.lines().is_empty());
    assert!(from_ch.stdout == from_file.stdout, "findings differ between ClickHouse and the same events from a file");
}

#[test]
fn anomalies_pushed_down_equal_anomalies_computed_here() {
    let Some(ch) = TestCh::new("anom_push") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    // Every key and filter the heuristics use: all first-seen attributes, local days in a
    // time zone with a half-hour offset, a short range.
    let runs: Vec<Vec<&str>> = [
        &["--range", "2026-10-01..2026-10-31", "--first-seen", "ip,model,flow_type,event_name,project"][..],
        &["--range", "2026-10-10..2026-10-24", "--tz", "Asia/Kolkata", "--business-hours", "9-17", "--baseline", "30d"],
    ]
    .iter()
    .map(|extra| [&["anomalies", "--format", "json", "--source", ch.url.as_str()][..], extra].concat())
    .collect();
    let mut pushed = Vec::new();
    for args in &runs {
        let found = run(args).ok();
        let here = run(&[&args[..], &["--local"]].concat()).ok();
        assert!(found.lines().len() > 5, "{:?}", found.lines());
        assert!(found.stdout == here.stdout, "findings differ between push-down and --local for {args:?}");
        pushed.push(found.stdout);
    }
    // From the fact snapshot: the same findings; stale once a table changes (then the tables
    // are read again, with a warning), fresh again after `db facts`.
    let facts = run(&["db", "facts", "--source", &ch.url]).ok();
    assert!(facts.stderr.contains("wrote compliance_report_facts rows="), "{}", facts.stderr);
    for (args, before) in runs.iter().zip(&pushed) {
        let snap = run(args).ok();
        assert!(snap.stderr.contains("reading the fact snapshot"), "{}", snap.stderr);
        assert!(&snap.stdout == before, "findings differ between the snapshot and the tables for {args:?}");
    }
    let args = &runs[0];
    let db = ch.url.rsplit('/').next().unwrap();
    ch.sql(&format!(
        "INSERT INTO {db}.ai_audit_events (id, created_at, author_id, event_name, details) \
         SELECT 99999999, created_at, author_id, event_name, details FROM {db}.ai_audit_events LIMIT 1"
    ));
    let stale = run(args).ok();
    assert!(stale.stderr.contains("older than the tables"), "{}", stale.stderr);
    assert!(!stale.stderr.contains("reading the fact snapshot"));
}

#[test]
fn session_tokens_across_the_baseline_edges_agree_from_the_tables_the_snapshot_and_here() {
    let Some(ch) = TestCh::new("tok_edges") else { return };
    run(&["db", "init", "--source", &ch.url]).ok();
    let db = ch.url.rsplit('/').next().unwrap();
    // Baseline 2026-09-29..10-01 (the day before the range, two days): 24 sessions wholly inside
    // with 100 tokens each; three crossing its edges, of which only the rows inside count: 5,000
    // of `edge-from` (100,000 before), 6,000 of `edge-to` (100,000 in the range: the outlier), 7
    // of `edge-both` (1,000 before and 1,000 after).
    let us = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_micros();
    let mut rows = vec![
        ("edge-from", "2026-09-28T23:50:00Z", 100_000),
        ("edge-from", "2026-09-29T00:10:00Z", 5_000),
        ("edge-to", "2026-09-30T23:50:00Z", 6_000),
        ("edge-to", "2026-10-01T00:10:00Z", 100_000),
        ("edge-both", "2026-09-28T22:00:00Z", 1_000),
        ("edge-both", "2026-09-30T12:00:00Z", 7),
        ("edge-both", "2026-10-01T01:00:00Z", 1_000),
    ]
    .into_iter()
    .map(|(s, t, n)| (s.to_string(), us(t), n))
    .collect::<Vec<_>>();
    for i in 0..24 {
        let t = us("2026-09-29T01:00:00Z") + i * 7_200_000_000;
        rows.extend([(format!("inside-{i}"), t, 60), (format!("inside-{i}"), t + 60_000_000, 40)]);
    }
    let values: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (session, t, n))| {
            format!(
                "({i}, {t}, 'ev-{i}', 5000, 7, NULL, 'duo_flow_token_usage', '10.0.0.1', NULL, \
                 '{{\"session_id\":\"{session}\",\"input_tokens\":{n},\"output_tokens\":0,\"user\":{{\"id\":1000,\"username\":\"u\"}}}}')"
            )
        })
        .collect();
    ch.sql(&format!(
        "INSERT INTO {db}.ai_audit_events (id, created_at, cloud_event_id, author_id, project_id, namespace_id, \
         event_name, ip_address, workflow_id, details) VALUES {}",
        values.join(", ")
    ));
    let args = [
        "anomalies",
        "--format",
        "json",
        "--heuristic",
        "token_outlier",
        "--range",
        "2026-10-01..2026-10-02",
        "--baseline",
        "2d",
        "--source",
        ch.url.as_str(),
    ];
    let tables = run(&args).ok();
    let findings: Vec<Value> = tables.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 27 baseline sessions: 7, 24 × 100, 5,000, 6,000 — median 100, p99 6,000.
    assert_eq!(findings.len(), 1, "{:?}", tables.lines());
    assert_eq!(findings[0]["value"], "100000 tokens in one session");
    assert_eq!(findings[0]["threshold"], "baseline sessions: median 100, p99 6000; threshold 18000");
    run(&["db", "facts", "--source", &ch.url]).ok();
    let snap = run(&args).ok();
    assert!(snap.stderr.contains("reading the fact snapshot"), "{}", snap.stderr);
    assert!(snap.stdout == tables.stdout, "findings differ between the snapshot and the tables");
    let here = run(&[&args[..], &["--local"]].concat()).ok();
    assert!(here.stdout == tables.stdout, "findings differ between push-down and --local");
}
