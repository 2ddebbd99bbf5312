//! `export`: CEF exactness against an independent parser, JSON round trip, errors, sinks.

use serde_json::Value;

use crate::cef_parser::{self, Cef};
use crate::util::{demo_json, run, run_with_stdin, write};

/// Cut like the spec's limits: at most `max` bytes, never inside a character.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn epoch_ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

/// Every field the CEF line carries equals the canonical record's field.
fn assert_cef_matches(cef: &Cef, ev: &Value) {
    let id = ev["id"].as_str().unwrap();
    let name = ev["event_name"].as_str().unwrap();
    assert_eq!((cef.vendor.as_str(), cef.product.as_str()), ("GitLab", "compliance-report"));
    assert_eq!(cef.signature, cut(&name.replace(['\r', '\n'], " "), 1023), "{id}");
    assert_eq!(cef.get("externalId"), Some(id));
    assert_eq!(cef.get("rt").unwrap(), epoch_ms(ev["time"].as_str().unwrap()).to_string());
    assert_eq!(cef.get("act"), Some(cut(name, 63)));
    assert_eq!(cef.get("outcome"), ev["outcome"].as_str());
    assert_eq!(cef.get("cat"), text(ev, &["category"]));
    assert_eq!(cef.get("suser"), text(ev, &["actor", "name"]).map(|s| cut(s, 1023)));
    assert_eq!(cef.get("suid"), text(ev, &["actor", "id"]).map(|s| cut(s, 1023)));
    assert_eq!(cef.get("msg"), text(ev, &["message"]).filter(|s| !s.is_empty()).map(|s| cut(s, 1023)));
    assert_eq!(cef.get("cs1"), text(ev, &["ai", "session_id"]));
    assert_eq!(cef.get("cs2"), text(ev, &["ai", "flow_type"]));
    assert_eq!(cef.get("cs3"), text(ev, &["correlation_id"]));
    assert_eq!(cef.get("cs4"), text(ev, &["scope", "path"]).map(|s| cut(s, 4000)));
    assert_eq!(cef.get("cs5"), text(ev, &["ai", "authorization", "method"]));
    assert_eq!(cef.get("cs6"), text(ev, &["on_behalf_of", "id"]));
    let num = |p: &[&str]| {
        let mut cur = ev;
        for k in p {
            cur = cur.get(*k)?;
        }
        cur.as_u64().map(|n| n.to_string())
    };
    assert_eq!(cef.get("cn1").map(str::to_string), num(&["ai", "input_tokens"]));
    assert_eq!(cef.get("cn2").map(str::to_string), num(&["ai", "output_tokens"]));
    assert_eq!(cef.get("cn3").map(str::to_string), num(&["ai", "duration_ms"]));
    let ip = text(ev, &["ip_address"]);
    assert_eq!(cef.get("src").or(cef.get("c6a2")), ip.filter(|i| i.parse::<std::net::IpAddr>().is_ok()));
}

#[test]
fn every_demo_cef_line_parses_strictly_and_matches_the_record() {
    let cef = run(&["export", "--format", "cef"]).ok();
    let lines = cef.lines();
    let records = demo_json();
    assert!(records.len() >= 50_000, "demo data has {} events", records.len());
    assert_eq!(lines.len(), records.len());
    for (line, ev) in lines.iter().zip(records) {
        let parsed = cef_parser::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_cef_matches(&parsed, ev);
    }
}

#[test]
fn hostile_values_survive_cef_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.log");
    let nasty_name = "Eve | admin \\ =x\r\nCEF:0|Fake|Forged|1|x|y|10|suser=root";
    let nasty_msg = "line1\nline2\r\nkey=value suser=root \\ | pipe ünïcödé 日本 \\";
    let nasty_path = format!("gr/{}", "ü".repeat(3000));
    let line = serde_json::json!({
        "time": "2026-10-05T10:00:00.123456Z", "author_id": 7, "author_name": nasty_name,
        "entity_type": "Project", "entity_id": 3, "entity_path": nasty_path,
        "event_name": "custom|event\\name=x\nnext", "custom_message": nasty_msg, "ip_address": "192.0.2.1",
    });
    write(&path, &format!("{line}\n"));
    let out = run(&["export", "--format", "cef", "--source", path.to_str().unwrap()]).ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "one event stays one line: {lines:?}");
    let cef = cef_parser::parse(&lines[0]).unwrap();
    assert_eq!(cef.signature, "custom|event\\name=x next");
    assert_eq!(cef.get("suser"), Some(nasty_name));
    assert_eq!(cef.get("msg"), Some(nasty_msg));
    assert_eq!(cef.get("act"), Some("custom|event\\name=x\nnext"));
    assert_eq!(cef.get("cs4"), Some(cut(&nasty_path, 4000)));
    assert_eq!(cef.get("cs4").unwrap().len(), 3999, "cut on a character boundary");
    assert_eq!(cef.get("src"), Some("192.0.2.1"));
    let keys = cef.keys();
    assert!(!keys.contains(&"duser"), "no forged keys: {keys:?}");
    assert_eq!(keys.iter().filter(|k| **k == "suser").count(), 1);
    // The same line through JSON and back gives the same CEF.
    let json = run(&["export", "--format", "json", "--source", path.to_str().unwrap()]).ok();
    let again = run_with_stdin(&["export", "--format", "cef", "--source", "-"], &json.stdout).ok();
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn json_export_reads_back_into_an_identical_export() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(&["export", "--format", "json"]).ok();
    let path = dir.path().join("export.json");
    std::fs::write(&path, &first.stdout).unwrap();
    let second = run(&["export", "--format", "json", "--source", path.to_str().unwrap()]).ok();
    assert!(second.stdout == first.stdout, "JSON export does not read back identically");
    let cef_a = run(&["export", "--format", "cef"]).ok();
    let cef_b = run(&["export", "--format", "cef", "--source", path.to_str().unwrap()]).ok();
    assert!(cef_a.stdout == cef_b.stdout, "CEF from the read-back export differs");
}

#[test]
fn malformed_line_names_file_and_line_and_loses_nothing_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit_json.log");
    write(
        &path,
        concat!(
            r#"{"time":"2026-10-01T00:00:00Z","author_id":1,"event_name":"a"}"#,
            "\n",
            r#"{"time":"2026-10-01T00:00:01Z","author_id":2,"event_name":"b"}"#,
            "\n",
            r#"{"time":"2026-10-01T00:00:02Z","author_id":3,"event_name":"c""#,
            "\n",
            r#"{"time":"2026-10-01T00:00:03Z","author_id":4,"event_name":"d"}"#,
            "\n",
        ),
    );
    let p = path.to_str().unwrap();
    let fail = run(&["export", "--format", "json", "--source", p]);
    assert_eq!(fail.code, 1, "{}", fail.stderr);
    assert!(fail.stderr.contains(&format!("{p}:3: invalid JSON")), "{}", fail.stderr);
    assert!(fail.stderr.contains("after delivering 2 events"), "{}", fail.stderr);
    let names: Vec<String> = fail
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);

    let skip = run(&["export", "--format", "json", "--source", p, "--on-error", "skip"]).ok();
    assert_eq!(skip.lines().len(), 3);
    assert!(
        skip.stderr.contains(&format!("{p}:3")) && skip.stderr.contains("1 bad records were skipped"),
        "{}",
        skip.stderr
    );
}

#[test]
fn range_and_event_filters() {
    let all = demo_json();
    let october = run(&["export", "--format", "json", "--range", "2026-10-01..2026-10-31"]).ok();
    let want = all.iter().filter(|e| e["time"].as_str().unwrap().starts_with("2026-10")).count();
    assert!(want > 0 && want < all.len());
    assert_eq!(october.lines().len(), want);
    let flows =
        run(&["export", "--format", "json", "--event", "duo_flow_*", "--event", "webhook.hmac_validation"]).ok();
    let want = all
        .iter()
        .filter(|e| {
            let n = e["event_name"].as_str().unwrap();
            n.starts_with("duo_flow_") || n == "webhook.hmac_validation"
        })
        .count();
    assert_eq!(flows.lines().len(), want);
    let berlin =
        run(&["export", "--format", "json", "--range", "2026-10-01..2026-10-01", "--tz", "Europe/Berlin"]).ok();
    for l in berlin.lines() {
        let t = serde_json::from_str::<Value>(&l).unwrap()["time"].as_str().unwrap().to_string();
        assert!(t.as_str() >= "2026-09-30T22:00:00" && t.as_str() < "2026-10-01T22:00:00", "{t}");
    }
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let r = run(&["export", "--format", "cef", "--range", "2026-10-31..2026-10-01"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("ends before it starts"), "{}", r.stderr);
    let r = run(&["export", "--format", "cef", "--tz", "Mars/Olympus"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("IANA name"), "{}", r.stderr);
    let r = run(&["export", "--format", "xml"]);
    assert_eq!(r.code, 2);
    let r = run(&["export", "--format", "cef", "--source", "mysql://app:hunter2@db/gitlab"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("hunter2"), "password leaked: {}", r.stderr);
    assert!(r.stderr.contains("mysql://app:***@db/gitlab"), "{}", r.stderr);
    let help = run(&["export", "--help"]).ok();
    assert!(help.stdout_text().contains("--range 2026-10-01..2026-10-31"));
    assert!(help.stdout_text().contains("Exit codes"));
}

#[test]
fn missing_source_is_a_runtime_error() {
    let r = run(&["export", "--format", "cef", "--source", "/nonexistent/audit.log"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read /nonexistent/audit.log"), "{}", r.stderr);
}

#[test]
fn closed_pipe_fails_and_says_how_many_events_were_written() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::util::BIN)
        .args(["export", "--format", "cef"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("CEF:0|"));
    drop(reader);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("delivery to stdout failed;") && stderr.contains("events were delivered"), "{stderr}");
    assert!(stderr.contains("the reader closed the pipe"), "{stderr}");
}

#[test]
fn file_output_appends_fsyncs_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.cef");
    let o = out.to_str().unwrap();
    let stdout = run(&["export", "--format", "cef", "--event", "duo_flow_started"]).ok();
    let r = run(&["export", "--format", "cef", "--event", "duo_flow_started", "--output", o]).ok();
    assert!(r.stdout.is_empty(), "nothing on stdout when writing a file");
    assert_eq!(std::fs::read(&out).unwrap(), stdout.stdout);
    run(&["export", "--format", "cef", "--event", "duo_flow_started", "--output", o]).ok();
    assert_eq!(std::fs::read(&out).unwrap().len(), stdout.stdout.len() * 2, "appends");

    let rot = dir.path().join("rot.cef");
    run(&[
        "export",
        "--format",
        "cef",
        "--event",
        "duo_flow_started",
        "--output",
        rot.to_str().unwrap(),
        "--rotate-size",
        "100KiB",
        "--rotate-keep",
        "3",
    ])
    .ok();
    let mut total = Vec::new();
    for suffix in [".3", ".2", ".1", ""] {
        let p = format!("{}{suffix}", rot.display());
        let data = std::fs::read(&p).unwrap_or_else(|_| panic!("{p} exists"));
        assert!(data.len() <= 100 * 1024, "{p} is {} bytes", data.len());
        total.extend(data);
    }
    let tail = &stdout.stdout[stdout.stdout.len() - total.len()..];
    assert!(total == tail, "rotated files hold the newest records in order");
}

#[test]
fn demo_default_is_announced_on_stderr_only() {
    let r = run(&["export", "--format", "json", "--event", "duo_service_account_provisioned"]).ok();
    assert!(r.stderr.contains("using the bundled demo data"));
    for l in r.lines() {
        let v: Value = serde_json::from_str(&l).expect("stdout holds only data");
        assert_eq!(v["event_name"], "duo_service_account_provisioned");
    }
}

#[test]
fn ecs_and_hec_carry_the_canonical_record() {
    let json = demo_json();
    let ecs = run(&["export", "--format", "ecs", "--no-chain"]).ok().lines();
    let hec = run(&["export", "--format", "hec", "--hec-host", "gitlab-1", "--hec-index", "audit", "--no-chain"])
        .ok()
        .lines();
    assert_eq!((ecs.len(), hec.len()), (json.len(), json.len()));
    for ((e, h), j) in ecs.iter().zip(&hec).zip(json) {
        let e: Value = serde_json::from_str(e).unwrap();
        let raw = h;
        let h: Value = serde_json::from_str(h).unwrap();
        assert_eq!(&e["compliance_report"], j);
        assert_eq!(&h["event"], j);
        assert_eq!(e["@timestamp"], j["time"]);
        assert_eq!(e["event"]["id"], j["id"]);
        assert_eq!(e["event"]["outcome"], j["outcome"]);
        assert_eq!((h["host"].as_str(), h["index"].as_str()), (Some("gitlab-1"), Some("audit")));
        let micros = chrono::DateTime::parse_from_rfc3339(j["time"].as_str().unwrap()).unwrap().timestamp_micros();
        assert!(raw.starts_with(&format!("{{\"time\":{}.{:06},", micros / 1_000_000, micros % 1_000_000)), "{raw}");
        if let Some(human) = j.get("on_behalf_of") {
            assert_eq!(e["user"]["id"], human["id"], "ECS user is the human, user.effective the service account");
            assert_eq!(e["user"]["effective"]["id"], j["actor"]["id"]);
        }
    }
}

#[test]
fn local_aggregation_of_the_demo_adds_up() {
    let tables: Vec<Value> = run(&[
        "aggregate",
        "--query",
        "count-by-event",
        "--query",
        "timeline-day",
        "--range",
        "2026-09-01..2026-09-30",
    ])
    .ok()
    .lines()
    .iter()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let sum =
        |t: &Value, col: usize| -> i64 { t["rows"].as_array().unwrap().iter().map(|r| r[col].as_i64().unwrap()).sum() };
    let exported = run(&["export", "--format", "json", "--range", "2026-09-01..2026-09-30"]).ok().lines().len() as i64;
    assert_eq!(sum(&tables[0], 1), exported);
    assert_eq!(sum(&tables[1], 1), exported);
    assert_eq!(tables[1]["rows"].as_array().unwrap().len(), 30, "a bucket for every day, empty ones too");
    let bad = run(&["aggregate", "--query", "count-by-nothing"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("count-by-actor-hour"), "{}", bad.stderr);
}
