//! Anomaly heuristics against the demo data's planted ground truth (`fixtures/demo/truth.json`):
//! recall 100% of planted anomalies, precision at least 90% per heuristic.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::run;

/// Which truth kinds each heuristic is meant to find.
const COMPATIBLE: &[(&str, &[&str])] = &[
    ("volume_spike", &["volume_spike"]),
    ("off_hours", &["off_hours_burst"]),
    ("first_seen", &["first_seen_ip"]),
    ("failure_burst", &["failure_burst", "hmac_failure_burst"]),
    ("token_outlier", &["token_outlier"]),
    ("service_accounts", &["service_account_provisioning_burst", "unprovisioned_service_account", "scope_widening"]),
    (
        "lifecycle",
        &[
            "session_without_authorization",
            "session_authorized_after_start",
            "session_without_end",
            "session_without_start",
        ],
    ),
    ("stream_gap", &["audit_stream_gap"]),
    ("sanitization", &["secret_in_prompt"]),
];

fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn overlaps(f: &Value, t: &Value) -> bool {
    let Some(w) = t["window"].as_array() else { return false };
    let (a, b) = (w[0].as_str().unwrap(), w[1].as_str().unwrap());
    f["window"]["from"].as_str().unwrap() < b && a < f["window"]["to"].as_str().unwrap()
}

/// The finding points at this planted anomaly: shared session, actor, value, or (for
/// anomalies that name nothing else) an overlapping window.
fn points_at(f: &Value, t: &Value) -> bool {
    let shared = |a: &str, b: &str| strings(f, a).iter().any(|x| strings(t, b).contains(x));
    shared("sessions", "session_ids")
        || t["actor_ids"].as_array().is_some_and(|a| a.iter().any(|x| x == &f["actor"]))
        || shared("values", "values")
        || (t.get("actor_ids").is_none()
            && t.get("session_ids").is_none()
            && t.get("values").is_none()
            && overlaps(f, t))
}

fn compatible(heuristic: &str, kind: &str) -> bool {
    COMPATIBLE.iter().any(|(h, kinds)| *h == heuristic && kinds.contains(&kind))
}

#[test]
fn planted_anomalies_are_found_with_high_precision() {
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/truth.json")).unwrap(),
    )
    .unwrap();
    let truth = truth["anomalies"].as_array().unwrap();
    let out = run(&["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "60d", "--format", "json"]).ok();
    let findings: Vec<Value> = out.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Recall: every planted anomaly is found by a heuristic meant for it.
    let mut missed = Vec::new();
    let mut found_by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for t in truth {
        let kind = t["kind"].as_str().unwrap();
        let hit = findings.iter().any(|f| compatible(f["heuristic"].as_str().unwrap(), kind) && points_at(f, t));
        let e = found_by.entry(kind).or_default();
        e.0 += 1;
        e.1 += usize::from(hit);
        if !hit {
            missed.push(kind);
        }
    }
    // Precision: a finding is right when a planted anomaly explains it — one it is meant for, or
    // another one of the same actor at the same time (a burst of sessions is also a volume spike).
    let mut per_heuristic: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in &findings {
        let h = f["heuristic"].as_str().unwrap();
        let right = truth.iter().any(|t| {
            (compatible(h, t["kind"].as_str().unwrap()) && points_at(f, t))
                || (t["actor_ids"].as_array().is_some_and(|a| a.iter().any(|x| x == &f["actor"])) && overlaps(f, t))
        });
        let e = per_heuristic.entry(h).or_default();
        e.0 += 1;
        e.1 += usize::from(right);
        if !right {
            wrong.push(format!("{h}: {} {}", f["actor"], f["value"]));
        }
    }
    eprintln!("| heuristic | findings | explained by a planted anomaly | precision |");
    for (h, (n, ok)) in &per_heuristic {
        eprintln!("| {h} | {n} | {ok} | {:.0}% |", 100.0 * *ok as f64 / *n as f64);
    }
    eprintln!("| planted kind | planted | found | recall |");
    for (k, (n, ok)) in &found_by {
        eprintln!("| {k} | {n} | {ok} | {:.0}% |", 100.0 * *ok as f64 / *n as f64);
    }
    assert!(missed.is_empty(), "planted anomalies missed: {missed:?}");
    for (h, (n, ok)) in &per_heuristic {
        assert!(*ok as f64 >= 0.9 * *n as f64, "{h}: precision {ok}/{n} below 90%; wrong: {wrong:?}");
    }
    assert!(COMPATIBLE.iter().all(|(h, _)| per_heuristic.contains_key(h)), "every heuristic finds something");
    // Findings are deterministic: same input, same ids in the same order.
    let again = run(&["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "60d", "--format", "json"]).ok();
    assert!(again.stdout == out.stdout);
    // Every finding is tied to events, and the explanation is a sentence.
    for f in &findings {
        assert!(f["event_count"].as_u64().unwrap() > 0 || f["heuristic"] == "stream_gap", "{f}");
        assert!(f["event_ids"].as_array().unwrap().len() <= 20);
        assert!(f["explanation"].as_str().unwrap().ends_with('.'), "{f}");
    }
}

#[test]
fn table_output_and_usage_errors() {
    let out =
        run(&["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "30d", "--heuristic", "sanitization"])
            .ok();
    let text = out.stdout_text();
    assert!(text.contains("sanitization"), "{text}");
    assert!(text.contains("gitlab_token") || text.contains("personal data") || text.contains("secret"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 160), "{text}");
    let r = run(&["anomalies", "--range", "2026-10-01..2026-10-31", "--heuristic", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("volume_spike"), "{}", r.stderr);
    let r = run(&["anomalies"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--range"), "{}", r.stderr);
}

#[test]
fn findings_as_cef_and_ocsf_for_the_siem() {
    let args = ["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "60d", "--format"];
    let json = run(&[&args[..], &["json"]].concat()).ok();
    let findings: Vec<Value> = json.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cef = run(&[&args[..], &["cef"]].concat()).ok();
    assert_eq!(cef.lines().len(), findings.len());
    for (line, f) in cef.lines().iter().zip(&findings) {
        let c = crate::cef_parser::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(c.get("externalId"), f["id"].as_str());
        assert_eq!(c.signature, format!("anomaly.{}", f["heuristic"].as_str().unwrap()));
        assert_eq!(c.get("cn1"), Some(f["event_count"].to_string().as_str()));
    }
    let ocsf = run(&[&args[..], &["ocsf"]].concat()).ok();
    assert_eq!(ocsf.lines().len(), findings.len());
    if let Some(python) = crate::ocsf::python() {
        let summary = crate::ocsf::validate(&python, &ocsf.stdout);
        assert_eq!(summary["classes"]["2004"], serde_json::json!(findings.len()));
    }
}

#[test]
fn findings_go_to_outputs_like_exports() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("findings.cef");
    let args = ["anomalies", "--range", "2026-10-01..2026-10-31", "--baseline", "60d", "--heuristic", "lifecycle"];
    let stdout = run(&[&args[..], &["--format", "cef"]].concat()).ok();
    run(&[&args[..], &["--format", "cef", "--output", file.to_str().unwrap()]].concat()).ok();
    assert_eq!(std::fs::read(&file).unwrap(), stdout.stdout);
    assert!(!stdout.stdout.is_empty());
    let r = run(&[&args[..], &["--output", file.to_str().unwrap()]].concat());
    assert_eq!(r.code, 2, "the table cannot go to an output");
    assert!(r.stderr.contains("--format cef, ocsf or json"), "{}", r.stderr);
}

#[test]
fn a_rows_cache_gives_the_same_findings_and_reads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir(&events).unwrap();
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/events")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, events.join(f.file_name().unwrap())).unwrap();
    }
    let cache = dir.path().join("cache");
    let (events, cache_dir) = (events.to_str().unwrap(), cache.to_str().unwrap());
    let range = ["anomalies", "--source", events, "--range", "2026-10-01..2026-10-31", "--format", "json"];
    let args = |baseline: &'static str, cached: bool| {
        let mut a = [&range[..], &["--baseline", baseline]].concat();
        if cached {
            a.extend(["--cache-dir", cache_dir]);
        }
        a
    };
    let plain = run(&args("60d", false)).ok();
    assert!(!plain.stdout.is_empty());
    // Stats of a cached run: files from the cache, files read, segments written and removed.
    let cached = |baseline: &'static str| {
        let r = run(&args(baseline, true)).ok();
        let stat = |key: &str| -> usize {
            let at = r.stderr.find(&format!("{key}=")).unwrap_or_else(|| panic!("{key} in {}", r.stderr));
            r.stderr[at + key.len() + 1..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
        };
        let stats = ["files_from_cache", "files_read", "segments_written", "segments_removed"].map(stat);
        (r.stdout, stats)
    };
    // First run: every file read, a segment written for each (all of their events are inside
    // the 60-day baseline and the range); then every file from its segment.
    assert_eq!(cached("60d"), (plain.stdout.clone(), [0, 3, 3, 0]));
    assert_eq!(cached("60d"), (plain.stdout.clone(), [3, 0, 0, 0]));
    let mut segments: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    segments.sort();
    assert_eq!(segments.len(), 3);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&segments[0]).unwrap().permissions().mode() & 0o777, 0o600);
    // A file touched is read again; a damaged segment is read past.
    let touched = std::fs::File::options().write(true).open(format!("{events}/audit_json.log.gz")).unwrap();
    touched.set_modified(std::time::SystemTime::now()).unwrap();
    assert_eq!(cached("60d"), (plain.stdout.clone(), [2, 1, 1, 0]));
    let mut bytes = std::fs::read(&segments[1]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segments[1], bytes).unwrap();
    assert_eq!(cached("60d"), (plain.stdout.clone(), [2, 1, 1, 0]));
    // A shorter baseline: the files reach outside it, so they are read and none is written.
    let shorter = run(&args("30d", false)).ok();
    assert_eq!(cached("30d"), (shorter.stdout, [0, 3, 0, 0]));
    // A file gone: its segment goes at the end of the next run.
    std::fs::remove_file(format!("{events}/agent_audit.log.gz")).unwrap();
    let without = run(&args("60d", false)).ok();
    assert_eq!(cached("60d"), (without.stdout, [2, 0, 0, 1]));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    // A directory that cannot be the cache says so.
    let r = run(&[&args("60d", false)[..], &["--cache-dir", &format!("{events}/audit_json.log.gz")]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot use") && r.stderr.contains("--cache-dir"), "{}", r.stderr);
}
