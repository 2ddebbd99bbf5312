//! Compliance reports on the demo data: the planted violations are the exceptions (and nothing
//! else is), outputs are deterministic, the manifest detects changes, event data never runs as
//! script in a browser, and every PDF page renders.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{run, skip_unless_ci, write};

const RANGE: &str = "2026-10-01..2026-10-31";
const AT: &str = "2026-11-01T06:00:00Z";

fn report(dir: &Path, framework: &str, extra: &[&str]) -> Value {
    let out = dir.to_str().unwrap();
    let args = [&["report", "--framework", framework, "--range", RANGE, "--out", out, "--generated-at", AT][..], extra]
        .concat();
    run(&args).ok();
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn truth() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/truth.json")).unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    t["anomalies"].as_array().unwrap().clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map_or_else(Vec::new, |a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
}

/// Whether an exception shows a planted anomaly: shared sessions, a planted value (IP, scope,
/// account) in its text, a planted actor as its subject, or a stream gap in the planted window.
fn shows(e: &Value, t: &Value) -> bool {
    let sessions: BTreeSet<String> = strings(&e["sessions"]).into_iter().collect();
    let text = format!("{} {}", e["subject"].as_str().unwrap(), e["reason"].as_str().unwrap());
    strings(&t["session_ids"]).iter().any(|s| sessions.contains(s))
        || strings(&t["values"]).iter().any(|v| text.contains(v.as_str()))
        || strings(&t["actor_ids"]).iter().any(|a| e["subject"].as_str().unwrap().ends_with(&format!("({a})")))
        || (t["kind"] == "audit_stream_gap"
            && e["time"].as_str().is_some_and(|x| {
                // The detected gap starts at the last event before the outage, up to hours earlier.
                let w = strings(&t["window"]);
                let day = |s: &str| s.get(..10).map(str::to_string);
                w.len() == 2 && day(x) == day(&w[0]) && x < w[1].as_str()
            }))
}

fn exceptions(report: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for c in report["controls"].as_array().unwrap() {
        for k in c["checks"].as_array().unwrap() {
            for e in k["exceptions"].as_array().unwrap() {
                out.push((format!("{} {}", c["id"].as_str().unwrap(), k["check"].as_str().unwrap()), e.clone()));
            }
        }
    }
    out
}

#[test]
fn planted_violations_are_the_exceptions_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let r = report(&dir.path().join("soc2"), "soc2", &["--format", "json"]);
    assert_eq!(r["schema"], "compliance-report.report.v2");
    // Under --matrix-rows, the report shows the whole matrix: traceability.csv's sessions.
    let csv = std::fs::read_to_string(dir.path().join("soc2/traceability.csv")).unwrap();
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(matrix_ids(&r), ids);
    assert_eq!(r["traceability_sessions"], ids.len());
    let found = exceptions(&r);
    let truth = truth();
    for t in &truth {
        assert!(
            found.iter().any(|(_, e)| shows(e, t)),
            "planted {} ({}) is not an exception",
            t["kind"],
            t["description"]
        );
    }
    for (check, e) in &found {
        assert!(truth.iter().any(|t| shows(e, t)), "{check}: exception not planted: {e}");
        assert!(e["event_count"].as_u64().unwrap() == 0 || !e["event_ids"].as_array().unwrap().is_empty(), "{e}");
    }
    // Controls the data satisfies, and what the demo cannot show.
    let fedramp = report(&dir.path().join("fedramp"), "fedramp", &["--format", "json"]);
    let status = |id: &str| {
        fedramp["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("AU-3"), "satisfied");
    assert_eq!(status("AU-8"), "satisfied");
    assert_eq!(status("AU-11"), "insufficient_evidence", "90 days of demo data cannot show a year");
    assert_eq!(status("AU-5"), "exception");
    let iso = report(&dir.path().join("iso"), "iso27001", &["--format", "json"]);
    let a815 = iso["controls"].as_array().unwrap().iter().find(|c| c["id"] == "A.8.15").unwrap();
    assert!(strings(&a815["aliases"]).contains(&"A.12.4.1".to_string()));
    for (_, e) in exceptions(&iso).iter().chain(exceptions(&fedramp).iter()) {
        assert!(truth.iter().any(|t| shows(e, t)), "exception not planted: {e}");
    }
}

fn matrix_ids(r: &Value) -> Vec<&str> {
    r["traceability"]["rows"].as_array().unwrap().iter().map(|row| row[0].as_str().unwrap()).collect()
}

#[test]
fn over_matrix_rows_the_report_shows_the_sample_and_the_earliest_problems_and_the_csv_all() {
    let dir = tempfile::tempdir().unwrap();
    let r = report(dir.path(), "soc2", &["--format", "json,html", "--matrix-rows", "8"]);
    let csv = std::fs::read_to_string(dir.path().join("traceability.csv")).unwrap();
    let all: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(r["traceability_sessions"], all.len());
    assert!(all.len() > 1000, "the demo month has over a thousand sessions");
    // What the matrix shows of a session with a problem (every such row has an integrity
    // finding or no initiating user; columns: session, started, flow, initiated by, acted as,
    // authorized, method, scopes, resources, status).
    let problem = |row: &[&str]| {
        row[3] == "UNKNOWN"
            || row[5] == "NONE"
            || row[5] > row[1]
            || (["running", "started", "paused"].contains(&row[9]) && !row[8].is_empty())
    };
    let shown = matrix_ids(&r);
    assert_eq!(shown.len(), 8);
    let sampled: Vec<&str> =
        r["sample"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap()).collect();
    assert_eq!(sampled.len(), 5);
    assert!(sampled.iter().all(|s| shown.contains(s)), "{sampled:?} not all in {shown:?}");
    let at = |id: &str| all.iter().position(|row| row[0] == id).unwrap();
    let positions: Vec<usize> = shown.iter().map(|s| at(s)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in the matrix's order");
    let flagged: Vec<usize> = shown.iter().filter(|s| !sampled.contains(s)).map(|s| at(s)).collect();
    assert_eq!(flagged.len(), 3);
    assert!(flagged.iter().all(|&i| problem(&all[i])), "{:?}", flagged.iter().map(|&i| &all[i]).collect::<Vec<_>>());
    let last = *flagged.last().unwrap();
    let earlier: Vec<usize> = (0..last).filter(|&i| problem(&all[i]) && !sampled.contains(&all[i][0])).collect();
    assert!(earlier.iter().all(|i| flagged.contains(i)), "the earliest with problems: {earlier:?} vs {flagged:?}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains(&format!("Of {} sessions, the 8 shown here", all.len())));
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["files"].as_array().unwrap().iter().find(|f| f["name"] == "traceability.csv").unwrap();
    assert_eq!(entry["bytes"], csv.len());
}

#[test]
fn outputs_are_deterministic_and_the_manifest_detects_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let all = ["--format", "html,md,json,csv", "--org", "Acme Corp"];
    report(&a, "soc2", &all);
    report(&b, "soc2", &all);
    for f in ["report.html", "report.md", "report.json", "evidence.csv", "traceability.csv", "manifest.json"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs between runs");
    }
    // The checked-in sample is what this build produces.
    let sample = dir.path().join("sample");
    let args = [
        "report",
        "--framework",
        "soc2",
        "--range",
        "2026-10-12..2026-10-18",
        "--format",
        "html,md,csv",
        "--out",
        sample.to_str().unwrap(),
        "--generated-at",
        AT,
        "--org",
        "Acme Corp (demo data)",
        // Relative, as in examples/README.md (tests run in the package root).
        "--redact-key",
        "examples/demo-redact.key",
    ];
    run(&args).ok();
    let examples = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/soc2"));
    for f in ["report.html", "report.md", "evidence.csv", "traceability.csv", "manifest.json"] {
        assert!(
            std::fs::read(sample.join(f)).unwrap() == std::fs::read(examples.join(f)).unwrap(),
            "examples/soc2/{f} is stale: regenerate examples/ with the command in examples/README.md"
        );
    }
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("Acme Corp") && html.contains("<svg") && html.contains("CC8.1"));
    let csv = std::fs::read_to_string(a.join("evidence.csv")).unwrap();
    assert!(
        csv.starts_with("control,control_status,check,check_status,row,subject,reason,time,event_count,event_ids\n")
    );
    assert!(csv.lines().any(|l| l.starts_with("CC6.1,exception,authorization,exception,exception,")));
    let ok = run(&["verify", a.to_str().unwrap()]).ok().stdout_text();
    assert!(ok.starts_with("OK: 5 files match"), "{ok}");
    // One byte changed is found, and named.
    let mut md = std::fs::read(a.join("report.md")).unwrap();
    md[10] ^= 1;
    std::fs::write(a.join("report.md"), md).unwrap();
    let bad = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(bad.code, 1);
    assert!(bad.stdout_text().starts_with("MODIFIED: report.md: SHA-256"), "{}", bad.stdout_text());
    // A catalog the user edits: unknown keys are errors naming the file and key.
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("soc2")).unwrap();
    write(
        &templates.join("soc2/controls.toml"),
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/report_templates/soc2/controls.toml"))
            .unwrap()
            .replace("[[control]]\nid = \"CC6.2\"", "[[control]]\nowner = \"x\"\nid = \"CC6.2\""),
    );
    let e = run(&["report", "--framework", "soc2", "--range", RANGE, "--template-dir", templates.to_str().unwrap()]);
    assert_eq!(e.code, 2);
    assert!(e.stderr.contains("controls.toml") && e.stderr.contains("owner"), "{}", e.stderr);
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[test]
fn event_data_never_runs_as_script_in_the_html() {
    let dir = tempfile::tempdir().unwrap();
    // Three days of demo events plus a service account whose name is a script.
    let events = run(&["export", "--format", "json", "--range", "2026-10-01..2026-10-04"]).ok();
    let mut text = String::from_utf8(events.stdout).unwrap();
    let evil = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">";
    let ev = serde_json::json!({
        "schema": "compliance-report.event.v1", "id": "evil0000000000000000000000000001",
        "time": "2026-10-02T12:00:00Z", "event_name": "gitlab.api.create_commit", "outcome": "success",
        "actor": {"id": "9999", "name": evil, "class": "service_account"},
        "scope": {"type": "Project", "id": 1, "path": "acme/x"}, "origin": {"format": "agent_audit"}, "details": {}
    });
    text.push_str(&format!("{ev}\n"));
    let src = dir.path().join("events.ndjson");
    std::fs::write(&src, text).unwrap();
    let out = dir.path().join("r");
    run(&[
        "report",
        "--framework",
        "soc2",
        "--range",
        "2026-10-01..2026-10-04",
        "--source",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "html,md",
    ])
    .ok();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("&lt;script&gt;document.title="), "the name is shown as text");
    assert!(!html.contains("<script>") && !html.contains("<img"), "no markup from event data");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("&lt;script&gt;") && !md.contains("<script>"));
    let Some(browser) = chromium() else {
        return skip_unless_ci("chromium", ".ci/run installs Debian's chromium");
    };
    let url = format!("file://{}", out.join("report.html").display());
    let shot = dir.path().join("shot.png");
    let common =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=3000"];
    let dom = Command::new(browser).args(common).arg("--dump-dom").arg(&url).output().unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<title>SOC 2 evidence"), "{}", &dom[..dom.len().min(500)]);
    assert!(!dom.contains("PWNED</title>") && !dom.contains("<title>PWNED"), "a script from event data ran");
    assert!(dom.contains("&lt;script&gt;document.title="));
    let status = Command::new(browser)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "screenshot is empty");
}

#[test]
fn every_pdf_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    // The short form of the main job (no subcommand), with the default formats.
    run(&["-q", "--framework", "fedramp", "--range", RANGE, "--out", out.to_str().unwrap(), "--generated-at", AT]).ok();
    let pdf = out.join("report.pdf");
    let Ok(info) = Command::new("pdfinfo").arg(&pdf).output() else {
        return skip_unless_ci("pdfinfo/pdftoppm", ".ci/run installs poppler-utils");
    };
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    let pages: usize = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!(pages > 10, "{info}");
    let png = dir.path().join("page");
    let r = Command::new("pdftoppm").args(["-png", "-r", "20"]).arg(&pdf).arg(&png).output().unwrap();
    assert!(r.status.success() && r.stderr.is_empty(), "{}", String::from_utf8_lossy(&r.stderr));
    let rendered = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("page"));
    assert_eq!(rendered.count(), pages);
    // Real text with the embedded font, headings of every control.
    let text = Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for id in ["AU-2", "AU-3(1)", "AC-2(4)", "CM-3", "Traceability matrix", "Page 1 of"] {
        assert!(text.contains(id), "{id} missing from the PDF text");
    }
    let fonts = Command::new("pdffonts").arg(&pdf).output().unwrap();
    let fonts = String::from_utf8_lossy(&fonts.stdout).to_string();
    assert!(fonts.lines().skip(2).all(|l| l.contains("TrueType") && l.contains(" yes ")), "fonts embedded: {fonts}");
    assert!(fonts.lines().count() >= 4, "{fonts}");
    // The HTML of the same run is there too (default formats: html and pdf).
    assert!(out.join("report.html").exists() && out.join("manifest.json").exists());
}

#[test]
fn reports_run_on_postgres_and_clickhouse() {
    let check = |url: &str, dir: &Path| {
        let r = report(dir, "soc2", &["--format", "json,csv", "--source", url]);
        let auth = r["controls"][0]["checks"][0].clone();
        assert_eq!(auth["check"], "authorization");
        assert_eq!(auth["exceptions"].as_array().unwrap().len(), 7, "{auth}");
        assert!(r["summary"]["sessions"].as_u64().unwrap() > 1000);
    };
    let dir = tempfile::tempdir().unwrap();
    if let Some(db) = crate::pg::TestDb::new("report") {
        run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
        check(&db.url, &dir.path().join("pg"));
    }
    if let Some(ch) = crate::clickhouse::TestCh::new("report") {
        run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
        check(&ch.url, &dir.path().join("ch"));
        // Questions answered by ClickHouse (from the tables, then from the fact snapshot) give
        // the package the events kept here give, byte for byte.
        let all = ["--format", "json,csv,md,html", "--source", ch.url.as_str()];
        let files = ["report.json", "evidence.csv", "traceability.csv", "report.md", "report.html", "manifest.json"];
        let here = dir.path().join("ch-local");
        report(&here, "fedramp", &[&all[..], &["--local"]].concat());
        for (name, snapshot) in [("ch-tables", false), ("ch-snapshot", true)] {
            let out = dir.path().join(name);
            if snapshot {
                run(&["db", "facts", "--source", &ch.url]).ok();
            } else {
                let db = ch.url.rsplit('/').next().unwrap();
                ch.sql(&format!("DROP TABLE IF EXISTS {db}.compliance_report_facts_state"));
            }
            report(&out, "fedramp", &all);
            for f in files {
                let (a, b) = (std::fs::read(here.join(f)).unwrap(), std::fs::read(out.join(f)).unwrap());
                assert!(a == b, "{f} differs between --local and push-down ({name})");
            }
        }
        // A period that begins inside a session whose last resource comes after: pushed down,
        // only the period is streamed, from that session's start (found by asking the server),
        // so it keeps its start and authorization as when everything is read.
        let db = ch.url.rsplit('/').next().unwrap();
        let mid: i64 = ch
            .sql(&format!(
                "SELECT intDiv(started_at + last, 2) AS mid FROM (SELECT session_id, started_at FROM {db}.flow_sessions \
                 WHERE started_at >= 1791936000000000) ANY INNER JOIN (SELECT flow_session_id AS session_id, \
                 max(created_at) AS last FROM {db}.flow_session_resources GROUP BY flow_session_id) USING session_id \
                 WHERE last - started_at > 120000000 ORDER BY mid LIMIT 1"
            ))
            .trim()
            .parse()
            .unwrap();
        let from =
            chrono::DateTime::from_timestamp_micros(mid).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let range = format!("{from}..2026-10-31");
        let dir_path = |d: &str| dir.path().join(d).to_str().unwrap().to_string();
        let split = |d: &str, local: &[&str]| {
            let out = dir_path(d);
            let base = ["report", "--framework", "soc2", "--range", &range, "--format", "json", "--generated-at", AT];
            run(&[&base[..], &["--source", &ch.url, "--out", &out], local].concat()).ok();
            (
                std::fs::read(format!("{out}/report.json")).unwrap(),
                std::fs::read(format!("{out}/traceability.csv")).unwrap(),
            )
        };
        assert!(split("split-local", &["--local"]) == split("split-pushed", &[]), "a split session is read whole");
    }
}

#[test]
fn signed_packages_verify_with_the_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| Command::new("openssl").args(args).output().is_ok_and(|o| o.status.success());
    if !openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("key.pem")]) {
        return skip_unless_ci("openssl", ".ci/run installs it");
    }
    assert!(openssl(&["pkey", "-in", &p("key.pem"), "-pubout", "-out", &p("pub.pem")]));
    assert!(openssl(&["genpkey", "-algorithm", "ed25519", "-out", &p("other.pem")]));
    assert!(openssl(&["pkey", "-in", &p("other.pem"), "-pubout", "-out", &p("other.pub")]));
    let out = dir.path().join("r");
    let r = report(&out, "fedramp", &["--format", "json,csv", "--sign-key", &p("key.pem")]);
    let au9 = r["controls"].as_array().unwrap().iter().find(|c| c["id"] == "AU-9").unwrap();
    assert_eq!(au9["status"], "satisfied", "signed: protection is evidenced");
    let ok = run(&["verify", out.to_str().unwrap(), "--pubkey", &p("pub.pem")]).ok().stdout_text();
    assert!(ok.contains("signature valid"), "{ok}");
    // The signature is plain Ed25519 over manifest.json: OpenSSL checks it too.
    assert!(openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &p("pub.pem"),
        "-rawin",
        "-in",
        out.join("manifest.json").to_str().unwrap(),
        "-sigfile",
        out.join("manifest.sig").to_str().unwrap(),
    ]));
    let wrong = run(&["verify", out.to_str().unwrap(), "--pubkey", &p("other.pub")]);
    assert_eq!(wrong.code, 1);
    assert!(wrong.stdout_text().contains("manifest.sig: not a valid signature"), "{}", wrong.stdout_text());
    // Whoever edits a file and rewrites its hash in the manifest still breaks the signature.
    let csv = out.join("evidence.csv");
    let forged = std::fs::read_to_string(&csv).unwrap().replacen("exception", "satisfied", 1);
    std::fs::write(&csv, &forged).unwrap();
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&manifest).unwrap();
    let old = m["files"].as_array().unwrap().iter().find(|f| f["name"] == "evidence.csv").unwrap()["sha256"].clone();
    let new = {
        use sha2::Digest;
        sha2::Sha256::digest(forged.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    std::fs::write(out.join("manifest.json"), manifest.replace(old.as_str().unwrap(), &new)).unwrap();
    assert_eq!(run(&["verify", out.to_str().unwrap()]).code, 0, "hashes alone cannot tell");
    let caught = run(&["verify", out.to_str().unwrap(), "--pubkey", &p("pub.pem")]);
    assert_eq!(caught.code, 1, "{}", caught.stdout_text());
    // A bad key is a usage error naming what to do.
    let bad = run(&["report", "--framework", "soc2", "--range", RANGE, "--sign-key", &p("pub.pem")]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("openssl genpkey"), "{}", bad.stderr);
}
