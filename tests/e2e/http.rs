//! The HTTP sink against a scripted collector: retries, Retry-After, resets, slow answers,
//! permanent 4xx, headers and gzip, `_bulk` partial failures.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_server::{Reply, TestServer};
use crate::util::{run, BIN};

const EVENTS: &[&str] = &["--event", "duo_service_account_provisioned", "--event", "duo_flow_paused"];

fn expected_ids() -> Vec<String> {
    let mut args = vec!["export", "--format", "json"];
    args.extend_from_slice(EVENTS);
    run(&args)
        .ok()
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

/// Ids of the documents the server received (skipping `_bulk` action lines), with counts.
fn received(server: &TestServer, bulk: bool) -> BTreeMap<String, u32> {
    let mut ids = BTreeMap::new();
    for r in server.requests() {
        for (i, line) in r.body.lines().enumerate() {
            if bulk && i % 2 == 0 {
                assert!(line.starts_with("{\"create\":{\"_index\":\"audit\"}}"), "{line}");
                continue;
            }
            let v: Value = serde_json::from_str(line).unwrap();
            let id = v["id"].as_str().or(v["event"]["id"].as_str()).unwrap().to_string();
            *ids.entry(id).or_default() += 1;
        }
    }
    ids
}

fn export(url: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["export", "--format", "json", "--output", url];
    args.extend_from_slice(EVENTS);
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn retries_500_429_resets_and_slow_answers_then_delivers_everything() {
    let server = TestServer::start(
        "/ingest",
        vec![
            Reply::Status(500, "", "oops"),
            Reply::Status(429, "Retry-After: 1\r\n", "slow down"),
            Reply::Reset,
            Reply::Slow(Duration::from_secs(3)),
        ],
    );
    let started = Instant::now();
    let r = export(&server.url, &["--http-timeout", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    let want = expected_ids();
    let got = received(&server, false);
    for id in &want {
        assert!(got.contains_key(id), "event {id} delivered");
    }
    assert_eq!(server.requests().len(), 5, "four failures, then success");
    assert!(r.stderr.contains("HTTP 500") && r.stderr.contains("HTTP 429"), "{}", r.stderr);
}

#[test]
fn permanent_client_errors_fail_at_once_with_the_body() {
    let server = TestServer::start("/ingest", vec![Reply::Status(403, "", "{\"text\":\"Invalid token\",\"code\":4}")]);
    let r = export(&server.url, &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("refused the batch with status 403: {\"text\":\"Invalid token\",\"code\":4}"),
        "{}",
        r.stderr
    );
    assert_eq!(server.requests().len(), 1, "4xx is not retried");
}

#[test]
fn retry_budget_exhausted_is_a_clear_failure() {
    let server = TestServer::start(
        "/ingest",
        vec![Reply::Status(503, "", ""), Reply::Status(503, "", ""), Reply::Status(503, "", "")],
    );
    let r = export(&server.url, &["--http-retries", "1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("still failing after 2 attempts (last: HTTP 503)"), "{}", r.stderr);
}

#[test]
fn headers_tokens_from_the_environment_and_gzip() {
    let server = TestServer::start("/services/collector/event", vec![]);
    let out = Command::new(BIN)
        .args(["export", "--format", "hec", "--output", &server.url, "--http-gzip"])
        .args([
            "--http-header",
            "Authorization: Splunk ${CR_HEC_TOKEN}",
            "--http-header",
            "X-Verification-Token: ${CR_VERIFY}",
        ])
        .args(EVENTS)
        .env("CR_HEC_TOKEN", "11111111-2222-3333-4444-555555555555")
        .env("CR_VERIFY", "v3rify")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("11111111-2222"), "token never logged");
    let reqs = server.requests();
    assert_eq!(reqs[0].header("Authorization"), Some("Splunk 11111111-2222-3333-4444-555555555555"));
    assert_eq!(reqs[0].header("X-Verification-Token"), Some("v3rify"));
    assert_eq!(reqs[0].header("Content-Encoding"), Some("gzip"));
    assert_eq!(received(&server, false).len(), expected_ids().len());
}

#[test]
fn bulk_partial_failures_resend_only_the_failed_items() {
    let server = TestServer::start("/_bulk", vec![Reply::BulkPartial]);
    let r = export(&server.url, &["--http-format", "bulk", "--bulk-index", "audit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = expected_ids();
    // Documents the collector accepted: all of the first request but every third item (which it
    // answered with 429), and everything in the retry.
    let reqs = server.requests();
    let docs = |body: &str| -> Vec<String> {
        body.lines()
            .skip(1)
            .step_by(2)
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut created: BTreeMap<String, u32> = BTreeMap::new();
    for (i, id) in docs(&reqs[0].body).into_iter().enumerate() {
        if i % 3 != 0 {
            *created.entry(id).or_default() += 1;
        }
    }
    for id in docs(&reqs[1].body) {
        *created.entry(id).or_default() += 1;
    }
    assert_eq!(created.keys().cloned().collect::<Vec<_>>(), {
        let mut w = want.clone();
        w.sort();
        w
    });
    assert!(created.values().all(|n| *n == 1), "each document created once: only failed items were re-sent");
    assert!(received(&server, true).len() == want.len());
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].body.lines().count() / 2,
        want.len().div_ceil(3),
        "the retry carries only the third that failed"
    );
}

fn ids_in(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .flat_map(|r| {
            r.body
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn collector_down_for_a_whole_run_spools_and_the_next_run_delivers_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    // One collector: down for the first run (after the first failed request the run spools
    // without asking again), back for the second. Spools are kept per output URL.
    let server = TestServer::start("/ingest", vec![Reply::Status(503, "", "")]);
    let (down, up) = (&server, &server);
    let lines: String = (0..5000)
        .map(|i| format!("{{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":{i},\"event_name\":\"e\"}}\n"))
        .collect();
    // stdin cannot be read twice: only the spool can save these events.
    let first = crate::util::run_with_stdin(
        &[
            "export",
            "--source",
            "-",
            "--format",
            "json",
            "--output",
            &down.url,
            "--http-retries",
            "0",
            "--spool-dir",
            spool.to_str().unwrap(),
            "--fallback",
            "stderr",
        ],
        lines.as_bytes(),
    );
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("5000 events were spooled for the next run to send first"), "{}", first.stderr);
    assert_eq!(
        first.stderr.matches("\"event_name\":\"e\"").count(),
        5000,
        "--fallback stderr got every undeliverable event"
    );
    assert_eq!(server.requests().len(), 1);
    let second = crate::util::run_with_stdin(
        &["export", "--source", "-", "--format", "json", "--output", &up.url, "--spool-dir", spool.to_str().unwrap()],
        b"{\"time\":\"2026-10-02T00:00:00Z\",\"author_id\":99999,\"event_name\":\"new\"}\n",
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    let got = ids_in(up);
    assert_eq!(got.len(), 2000 + 5001, "the refused first batch, then the spool, then the new event");
    let last: Value = serde_json::from_str(up.requests().last().unwrap().body.lines().last().unwrap()).unwrap();
    assert_eq!(last["event_name"], "new", "spooled events go first, in order");
    let leftover: Vec<_> = walk(&spool);
    assert!(leftover.is_empty(), "the delivered spool is removed: {leftover:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn spooling_never_moves_the_checkpoint() {
    let Some(db) = crate::pg::TestDb::new("spool") else { return };
    db.token_usage_rows(3000);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let server = TestServer::start("/ingest", vec![Reply::Status(503, "", "")]);
    let (down, up) = (&server, &server);
    let args = |url: &str| {
        vec![
            "export".to_string(),
            "--source".into(),
            db.url.clone(),
            "--format".into(),
            "json".into(),
            "--lag".into(),
            "0".into(),
            "--checkpoint".into(),
            "c".into(),
            "--state-dir".into(),
            st.display().to_string(),
            "--output".into(),
            url.to_string(),
            "--http-retries".into(),
            "0".into(),
        ]
    };
    let first = run(&args(&down.url).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(!st.join("c.json").exists(), "no checkpoint while the output is down");
    run(&args(&up.url).iter().map(String::as_str).collect::<Vec<_>>()).ok();
    let refused = up.requests()[0].body.lines().count(); // the first request, refused
    let got: Vec<String> = ids_in(up).into_iter().skip(refused).collect();
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 3000, "every row delivered");
    // The run stopped at its first spooled batch; the next sent that batch, then everything
    // from the unmoved checkpoint: at least once, at most one batch twice.
    assert!(first.stderr.contains(&format!("{refused} events were spooled")), "{}", first.stderr);
    assert!(refused < 3000, "stopped reading at the first spooled batch");
    assert_eq!(got.len(), 3000 + refused);
    assert!(st.join("c.json").exists());
}
