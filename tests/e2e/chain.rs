//! The hash chain: exports carry it, `verify-chain` finds every kind of tampering and where.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::http_server::{Reply, TestServer};
use crate::pg::TestDb;
use crate::util::{run, skip_unless_ci, write, Run};

const WEEK: &str = "2026-10-12..2026-10-14";

fn keys(dir: &Path) -> Option<(String, String)> {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| Command::new("openssl").args(args).output().is_ok_and(|o| o.status.success());
    if !openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("key.pem")]) {
        skip_unless_ci("openssl", ".ci/run installs it");
        return None;
    }
    assert!(openssl(&["pkey", "-in", &p("key.pem"), "-pubout", "-out", &p("pub.pem")]));
    assert!(openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("other.pem")]));
    assert!(openssl(&["pkey", "-in", &p("other.pem"), "-pubout", "-out", &p("other.pub")]));
    Some((p("key.pem"), p("pub.pem")))
}

fn verify(files: &[&Path], extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["verify-chain", "--format", "json"];
    let names: Vec<String> = files.iter().map(|f| f.to_str().unwrap().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    args.extend(extra);
    let r = run(&args);
    let v: Value =
        serde_json::from_str(&r.stdout_text()).unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout_text(), r.stderr));
    (r, v)
}

/// (kind, seq, to, other) of every finding.
fn findings(v: &Value) -> Vec<(String, u64, Option<u64>, Option<u64>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f["kind"].as_str().unwrap().to_string(), f["seq"].as_u64().unwrap(), f["to"].as_u64(), f["other"].as_u64())
        })
        .collect()
}

fn f(kind: &str, seq: u64, to: Option<u64>, other: Option<u64>) -> (String, u64, Option<u64>, Option<u64>) {
    (kind.to_string(), seq, to, other)
}

/// Replace line `n` (1-based) of `lines`.
fn edit(lines: &[String], n: usize, new: String) -> Vec<String> {
    let mut l = lines.to_vec();
    l[n - 1] = new;
    l
}

fn save(path: &Path, lines: &[String]) {
    write(path, &(lines.join("\n") + "\n"));
}

#[test]
fn every_kind_of_tampering_is_detected_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let Some((key, pubkey)) = keys(dir.path()) else { return };
    let state = dir.path().join("state");
    let out = dir.path().join("events.json");
    run(&[
        "export",
        "--range",
        WEEK,
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--sign-key",
        &key,
        "--anchor-every",
        "500",
    ])
    .ok();
    let lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
    let anchor_lines: Vec<usize> = (1..=lines.len())
        .filter(|&n| lines[n - 1].starts_with("{\"schema\":\"compliance-report.chain-anchor.v1\""))
        .collect();
    let events = lines.len() - anchor_lines.len();
    assert!(events > 1500, "{events}");
    assert_eq!(anchor_lines.len(), events / 500 + 1, "every 500 events and at the end");
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!((first["chain_id"].as_str(), first["chain_seq"].as_u64()), (Some("export"), Some(1)));
    let local = state.join("anchors/export.ndjson");
    let logged = std::fs::read_to_string(&local).unwrap();
    assert_eq!(logged.lines().count(), anchor_lines.len(), "anchors are also kept locally");

    // Intact, shuffled, with duplicates from an at-least-once retry: no finding.
    let (r, v) = verify(&[&out], &["--pubkey", &pubkey]);
    assert_eq!(r.code, 0, "{v}");
    assert_eq!(v["chains"][0]["verified"].as_u64(), Some(events as u64));
    let mut shuffled: Vec<String> = lines.iter().rev().cloned().collect();
    shuffled.extend(lines[100..300].iter().cloned());
    let shuffled_path = dir.path().join("shuffled.json");
    save(&shuffled_path, &shuffled);
    let (r, v) = verify(&[&shuffled_path], &["--pubkey", &pubkey]);
    assert_eq!(r.code, 0, "{v}");
    assert_eq!(v["chains"][0]["duplicates"].as_u64(), Some(200));

    // Line n holds seq n until the first anchor line.
    let seq_line = |seq: usize| seq;
    let t = dir.path().join("tampered.json");
    let check = |lines: &[String], extra: &[&Path]| {
        save(&t, lines);
        let mut files = vec![t.as_path()];
        files.extend(extra);
        let (r, v) = verify(&files, &["--pubkey", &pubkey]);
        assert_eq!(r.code, 1, "{v}");
        (findings(&v), v)
    };

    // Delete one event.
    let mut deleted = lines.clone();
    deleted.remove(seq_line(42) - 1);
    assert_eq!(check(&deleted, &[]).0, [f("removed", 42, Some(42), None)]);

    // Edit a field.
    let edited = edit(&lines, 77, lines[76].replacen("\"event_name\":\"", "\"event_name\":\"x", 1));
    let (got, v) = check(&edited, &[]);
    assert_eq!(got, [f("altered", 77, None, None)], "{v}");
    assert!(v["findings"][0]["message"].as_str().unwrap().contains("tampered.json:77"), "{v}");

    // Swap two events in the trail (their chain fields stay where they were).
    let split = |l: &str| {
        let at = l.rfind(",\"chain_id\":").unwrap();
        (l[..at].to_string(), l[at..].to_string())
    };
    let ((a_body, a_chain), (b_body, b_chain)) = (split(&lines[9]), split(&lines[10]));
    let swapped = edit(&edit(&lines, 10, format!("{b_body}{a_chain}")), 11, format!("{a_body}{b_chain}"));
    assert_eq!(check(&swapped, &[]).0, [f("reordered", 10, None, Some(11)), f("reordered", 11, None, Some(10))]);

    // Truncate the tail (the final anchor with it): the local anchor log still vouches for it.
    let last_seq = events as u64;
    let cut = lines.len() - 31; // 30 events and the final anchor
    let truncated = lines[..cut].to_vec();
    save(&t, &truncated);
    let (r, _) = verify(&[&t], &["--pubkey", &pubkey]);
    assert_eq!(r.code, 0, "without the anchor log the cut is invisible, as README says");
    assert_eq!(check(&truncated, &[&local]).0, [f("truncated", last_seq - 29, Some(last_seq), None)]);

    // Forge an anchor: move it forward to claim a head it did not sign.
    let n = anchor_lines[0];
    let forged = edit(&lines, n, lines[n - 1].replacen("\"chain_seq\":500,", "\"chain_seq\":501,", 1));
    let (got, v) = check(&forged, &[]);
    assert_eq!(got, [f("anchor_signature", 501, None, None)], "{v}");
    // An anchor signed by another key.
    let (r, v) = verify(&[&out], &["--pubkey", &key.replace("key.pem", "other.pub")]);
    assert_eq!(r.code, 1, "{v}");
    let kinds: std::collections::BTreeSet<String> = findings(&v).into_iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["anchor_signature".to_string(), "no_anchor".to_string()].into(), "{v}");
}

#[test]
fn cef_and_hec_records_carry_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["cef", "hec", "ocsf", "ecs"] {
        let out = dir.path().join(format!("e.{format}"));
        run(&["export", "--range", WEEK, "--format", format, "--output", out.to_str().unwrap()]).ok();
        let (r, v) = verify(&[&out], &[]);
        assert_eq!(r.code, 0, "{format}: {v}");
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        assert_eq!(v["chains"][0]["verified"].as_u64(), Some(lines.len() as u64), "{format}");
        // Change one digit a third of the way into the record (inside what the chain covers).
        let l = &lines[5];
        let at = l.len() / 3 + l[l.len() / 3..].find(|c: char| c.is_ascii_digit()).unwrap();
        let digit = if &l[at..=at] == "7" { "8" } else { "7" };
        lines[5] = format!("{}{digit}{}", &l[..at], &l[at + 1..]);
        save(&out, &lines);
        let (r, v) = verify(&[&out], &[]);
        assert_eq!((r.code, findings(&v)), (1, vec![f("altered", 6, None, None)]), "{format}");
    }
    // Without the chain, nothing to verify is an error, not a pass.
    let plain = dir.path().join("plain.cef");
    run(&["export", "--range", WEEK, "--format", "cef", "--no-chain", "--output", plain.to_str().unwrap()]).ok();
    let r = run(&["verify-chain", plain.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no record in these files carries a hash chain"), "{}", r.stderr);
}

#[test]
fn the_chain_continues_across_runs_and_a_spooled_redelivery() {
    let Some(db) = TestDb::new("chain") else { return };
    run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let st = st.to_str().unwrap();
    // Two runs of one checkpoint into one file: one chain, seq 1..N without a break.
    let out = dir.path().join("siem.cef");
    for to in ["2026-10-05", "2026-10-09"] {
        run(&[
            "export",
            "--source",
            &db.url,
            "--range",
            &format!("2026-10-01..{to}"),
            "--format",
            "cef",
            "--lag",
            "0",
            "--checkpoint",
            "siem",
            "--state-dir",
            st,
            "--output",
            out.to_str().unwrap(),
        ])
        .ok();
    }
    let (r, v) = verify(&[&out], &[]);
    assert_eq!(r.code, 0, "{v}");
    let lines = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    let c = &v["chains"][0];
    assert_eq!(
        (c["chain"].as_str(), c["first_seq"].as_u64(), c["last_seq"].as_u64()),
        (Some("siem"), Some(1), Some(lines))
    );
    assert_eq!(c["verified"].as_u64(), Some(lines));

    // A collector down for a run: the events are spooled and the checkpoint stays; the next run
    // sends the spool, then reads the same events again with the same chain fields.
    let server = TestServer::start("/ingest", vec![Reply::Status(503, "", "")]);
    let args = |range: &str| {
        let mut a: Vec<String> = [
            "export",
            "--source",
            &db.url,
            "--range",
            range,
            "--format",
            "json",
            "--lag",
            "0",
            "--checkpoint",
            "hec",
            "--state-dir",
            st,
            "--output",
            &server.url,
            "--http-retries",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--spool-dir".to_string(), dir.path().join("spool").to_str().unwrap().to_string()]);
        a
    };
    let first = args("2026-10-01..2026-10-03");
    let r = run(&first.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let second = args("2026-10-01..2026-10-04");
    run(&second.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    let received = dir.path().join("received.json");
    let bodies: Vec<String> = server.requests().iter().skip(1).map(|r| r.body.trim_end().to_string() + "\n").collect();
    write(&received, &bodies.concat());
    let (r, v) = verify(&[&received], &[]);
    assert_eq!(r.code, 0, "{v}");
    let c = &v["chains"][0];
    assert!(c["duplicates"].as_u64().unwrap() > 100, "the spooled events came twice, identical: {v}");
    assert_eq!(c["first_seq"].as_u64(), Some(1));
}

#[test]
fn the_report_manifest_holds_the_chain_head_of_its_period() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    run(&["report", "--framework", "soc2", "--range", WEEK, "--format", "json", "--out", out.to_str().unwrap()]).ok();
    let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let chain = &m["chain"];
    let cmd = chain["reproduce"].as_str().unwrap();
    assert_eq!(
        cmd,
        "compliance-report export --range 2026-10-12T00:00:00.000000Z..2026-10-15T00:00:00.000000Z --format json"
    );
    let args: Vec<&str> = cmd.split(' ').skip(1).collect();
    let export = run(&args).ok();
    let lines = export.lines();
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(chain["chain_seq"].as_u64(), Some(lines.len() as u64));
    assert_eq!((&chain["chain_hash"], &chain["chain_id"]), (&last["chain_hash"], &last["chain_id"]));
}
