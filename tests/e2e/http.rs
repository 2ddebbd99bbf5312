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
