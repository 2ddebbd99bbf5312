//! The bad-input corpus (`fixtures/bad/cases.toml`): every case is run through the binary and
//! must end in a clear error naming file, line and field, or in safe output — CEF that an
//! independent parser reads back with no forged key, one syslog message per event, HTML
//! where markup from the data stays text. Never a panic.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::cef_parser;
use crate::util::run;

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    text: Option<String>,
    generate: Option<String>,
    expect: String,
    error: Option<String>,
    skipped_ok: Option<usize>,
    events: Option<usize>,
    msg: Option<String>,
    name_is: Option<String>,
    #[serde(default)]
    json: BTreeMap<String, Value>,
    #[serde(default)]
    cef_absent: BTreeMap<String, String>,
    #[serde(default)]
    html_absent: Vec<String>,
    #[serde(default)]
    same_ids: bool,
}

/// Every extension key the CEF encoder writes (README, "CEF mapping"), and the chain's.
const CEF_KEYS: &[&str] = &[
    "act",
    "c6a2",
    "c6a2Label",
    "cat",
    "cn1",
    "cn1Label",
    "cn2",
    "cn2Label",
    "cn3",
    "cn3Label",
    "cs1",
    "cs1Label",
    "cs2",
    "cs2Label",
    "cs3",
    "cs3Label",
    "cs4",
    "cs4Label",
    "cs5",
    "cs5Label",
    "cs6",
    "cs6Label",
    "duid",
    "duser",
    "end",
    "externalId",
    "flexString1",
    "flexString1Label",
    "flexString2",
    "flexString2Label",
    "msg",
    "outcome",
    "reason",
    "rt",
    "src",
    "start",
    "suid",
    "suser",
    "flexNumber1",
    "flexNumber1Label",
    "ComplianceReportChainId",
    "ComplianceReportChainHash",
];

const LINE: &str = r#"{"time":"2026-10-01T10:00:00Z","author_id":1,"event_name":"x""#;

/// Write the case's input into `dir`; its path.
fn input(case: &Case, dir: &Path) -> PathBuf {
    let path = dir.join("in.ndjson");
    let bytes: Vec<u8> = match (case.text.as_deref(), case.generate.as_deref()) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some("non_utf8")) => {
            [&LINE.as_bytes()[..LINE.len() - 1], b",\"custom_message\":\"ok \xff\xfe\"}\n"].concat()
        }
        (None, Some("deep_nesting")) => {
            format!("{LINE},\"d\":{}{}}}\n", "[".repeat(100_000), "]".repeat(100_000)).into()
        }
        (None, Some("binary")) => (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
        (None, Some("huge_line")) => {
            let good = format!("{LINE}}}\n");
            format!("{good}{LINE},\"m\":\"{}\"}}\n{good}", "a".repeat(64 << 20)).into()
        }
        (None, Some("big_field")) => format!("{LINE},\"custom_message\":\"{}\"}}\n", "x".repeat(10 << 20)).into(),
        (None, Some("long_event_name")) => {
            format!(r#"{{"time":"2026-10-01T10:00:00Z","author_id":1,"event_name":"{}|"}}"#, "n".repeat(10_000)).into()
        }
        (None, Some("truncated_gzip")) => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            for i in 0..5000 {
                std::io::Write::write_all(&mut gz, format!("{LINE},\"target_id\":\"{i}\"}}\n").as_bytes()).unwrap();
            }
            let full = gz.finish().unwrap();
            let gz_path = dir.join("in.ndjson.gz");
            std::fs::write(&gz_path, &full[..full.len() / 2]).unwrap();
            return gz_path;
        }
        other => panic!("{}: unknown input {other:?}", case.name),
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

fn export(src: &Path, format: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["export", "--source", src.to_str().unwrap(), "--format", format];
    args.extend_from_slice(extra);
    run(&args)
}

/// Receive one octet-counted syslog TCP connection; the messages, split by their counts.
fn syslog_frames(src: &Path, events: usize) -> Vec<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut bytes = Vec::new();
        conn.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let url = format!("syslog+tcp://127.0.0.1:{port}");
    export(src, "cef", &["--output", &url]).ok();
    let bytes = receiver.join().unwrap();
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ').expect("octet count");
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().expect("a number");
        frames.push(String::from_utf8_lossy(&rest[sp + 1..sp + 1 + len]).into_owned());
        rest = &rest[sp + 1 + len..];
    }
    assert_eq!(frames.len(), events, "one syslog message per event");
    frames
}

fn check_ok(case: &Case, src: &Path, dir: &Path) {
    let n = case.events.unwrap_or_else(|| panic!("{}: ok cases state their events", case.name));
    let cef = export(src, "cef", &[]).ok();
    let lines = cef.lines();
    assert_eq!(lines.len(), n, "{}: CEF records", case.name);
    let mut parsed = Vec::new();
    for line in &lines {
        let c = cef_parser::parse(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", case.name));
        for k in c.keys() {
            assert!(CEF_KEYS.contains(&k), "{}: forged or unknown key {k:?} in {line}", case.name);
        }
        for (k, v) in &case.cef_absent {
            assert_ne!(c.get(k), Some(v.as_str()), "{}: {k}={v} forged", case.name);
        }
        parsed.push(c);
    }
    if let Some(msg) = &case.msg {
        assert_eq!(parsed[0].get("msg"), Some(msg.as_str()), "{}: msg round trip", case.name);
    }
    if let Some(name) = &case.name_is {
        assert_eq!(&parsed[0].signature, name, "{}: the event name in the header", case.name);
    }
    let json = export(src, "json", &["--no-chain"]).ok();
    let records: Vec<Value> = json.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), n, "{}: JSON records", case.name);
    for (pointer, want) in &case.json {
        assert_eq!(records[0].pointer(pointer), Some(want), "{}: {pointer}", case.name);
    }
    if case.same_ids {
        assert!(records.windows(2).all(|w| w[0]["id"] == w[1]["id"]), "{}: identical lines, one id", case.name);
    }
    let frames = syslog_frames(src, n);
    for (frame, line) in frames.iter().zip(&lines) {
        assert!(frame.starts_with('<') && frame.ends_with(line.as_str()), "{}: syslog frame {frame}", case.name);
    }
    if !case.html_absent.is_empty() {
        let out = dir.join("report");
        let r = crate::util::soc2_october(&out, &["--format", "html,md", "--source", src.to_str().unwrap()]).ok();
        assert!(r.stderr.is_empty() || !r.stderr.contains("panicked"));
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        let session = run(&["sessions", "show", "s-bad", "--format", "html", "--source", src.to_str().unwrap()]).ok();
        let session_html = session.stdout_text();
        for bad in &case.html_absent {
            assert!(!html.contains(bad.as_str()), "{}: {bad:?} in the report HTML", case.name);
            assert!(!session_html.contains(bad.as_str()), "{}: {bad:?} in the session HTML", case.name);
        }
        // The values are there, as text: the check above looked at rendered data.
        assert!(
            session_html.contains("&lt;") || session_html.contains("&quot;") || session_html.contains("&#"),
            "{}: nothing escaped in {session_html}",
            case.name
        );
    }
}

#[test]
fn every_case_errs_clearly_or_encodes_safely() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bad/cases.toml");
    let corpus: Corpus = toml_edit::de::from_str(&std::fs::read_to_string(path).unwrap()).expect("cases.toml parses");
    assert!(corpus.case.len() >= 40, "the corpus has {} cases", corpus.case.len());
    let mut names = std::collections::BTreeSet::new();
    for case in &corpus.case {
        assert!(names.insert(&case.name), "duplicate case {}", case.name);
        let dir = tempfile::tempdir().unwrap();
        let src = input(case, dir.path());
        match case.expect.as_str() {
            "error" => {
                let want = case.error.as_deref().unwrap_or_else(|| panic!("{}: error cases state it", case.name));
                let r = export(&src, "cef", &[]);
                assert_eq!(r.code, 1, "{}: exit code; stderr: {}", case.name, r.stderr);
                assert!(r.stderr.contains(want), "{}: wanted {want:?} in: {}", case.name, r.stderr);
                assert!(!r.stderr.contains("panicked"), "{}: {}", case.name, r.stderr);
                let skip = export(&src, "cef", &["--on-error", "skip"]);
                if let Some(n) = case.skipped_ok {
                    assert_eq!(skip.code, 0, "{}: --on-error skip: {}", case.name, skip.stderr);
                    assert_eq!(skip.lines().len(), n, "{}: delivered with --on-error skip", case.name);
                    assert!(skip.stderr.contains("bad records were skipped"), "{}: {}", case.name, skip.stderr);
                }
                assert!(!skip.stderr.contains("panicked"), "{}: {}", case.name, skip.stderr);
            }
            "ok" => check_ok(case, &src, dir.path()),
            other => panic!("{}: expect {other:?}", case.name),
        }
    }
}

/// GitLab's tables and the flow-session tables with the demo data; the names of those tables.
fn gitlab_tables(db: &crate::pg::TestDb) -> String {
    run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
    db.sql(
        "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
    )
}

/// GitLab's tables and the flow-session tables, empty.
fn empty_gitlab_tables(db: &crate::pg::TestDb) {
    let tables = gitlab_tables(db);
    db.sql(&format!("TRUNCATE {tables}"));
}

/// A row in every table `db init` creates with NULL in every nullable column (the NOT NULL
/// ones keep the values of a demo row, so check constraints hold): every table still exports,
/// and the CEF is clean.
#[test]
fn postgres_nulls_in_every_nullable_column() {
    let Some(db) = crate::pg::TestDb::new("nulls") else { return };
    let tables = gitlab_tables(&db);
    let mut rows: Vec<(String, Vec<String>, String)> = Vec::new();
    for table in tables.split(", ") {
        let required = db.sql(&format!(
            "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}' AND is_nullable = 'NO' AND column_default IS NULL"
        ));
        let cols: Vec<String> = required.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
        let literals: Vec<String> = cols.iter().map(|c| format!("quote_nullable({c}::text)")).collect();
        let values = db.sql(&format!("SELECT concat_ws(', ', {}) FROM {table} LIMIT 1", literals.join(", ")));
        if !values.is_empty() {
            rows.push((table.to_string(), cols, values));
        }
    }
    let filled: Vec<&str> = rows.iter().map(|(t, ..)| t.as_str()).collect();
    assert!(filled.len() >= 6, "the demo fills most tables: {filled:?} of {tables}");
    db.sql(&format!("TRUNCATE {tables}"));
    for (table, cols, values) in &rows {
        let insert = |cols: &str, values: &str| db.try_sql(&format!("INSERT INTO {table} ({cols}) VALUES ({values})"));
        if let Err(e) = insert(&cols.join(", "), values) {
            // GitLab's "one scope" check: exactly one of project_id / namespace_id.
            assert!(e.contains("one_scope"), "{table}: {e}");
            insert(&format!("{}, project_id", cols.join(", ")), &format!("{values}, 1")).unwrap();
        }
    }
    let cef = run(&["export", "--source", &db.url, "--format", "cef", "--lag", "0"]).ok();
    let lines = cef.lines();
    assert!(lines.len() >= rows.len(), "{} events from {} rows", lines.len(), rows.len());
    for line in &lines {
        let c = cef_parser::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(c.keys().iter().all(|k| CEF_KEYS.contains(k)), "{line}");
    }
    let json = run(&["export", "--source", &db.url, "--format", "json", "--lag", "0"]).ok();
    assert_eq!(json.lines().len(), lines.len());
}

/// A YAML bomb and a document that is not a hash in GitLab's `details` column: kept verbatim
/// (with a warning naming the row), never expanded.
#[test]
fn postgres_yaml_bombs_in_details_stay_verbatim() {
    let Some(db) = crate::pg::TestDb::new("yaml") else { return };
    empty_gitlab_tables(&db);
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    for (id, details) in [(1, bomb), (2, "- just\n- a list\n"), (3, ":event_name: ok\n:nested:\n  :k: v\n")] {
        db.sql(&format!(
            "INSERT INTO audit_events (id, author_id, entity_id, entity_type, details, created_at) \
             VALUES ({id}, 1, 1, 'Project', $d${details}$d$, '2026-10-01 10:00:0{id}')"
        ));
    }
    let r = run(&["export", "--source", &db.url, "--format", "json", "--no-chain", "--lag", "0"]).ok();
    let events: Vec<Value> = r.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["details"]["raw_details"], bomb, "the bomb is kept as text");
    assert!(r.stderr.contains("audit_events row 1: details kept verbatim in raw_details"), "{}", r.stderr);
    assert!(r.stderr.contains("100000"), "the node budget is named: {}", r.stderr);
    assert_eq!(events[1]["details"]["raw_details"], "- just\n- a list\n");
    assert_eq!(events[2]["details"]["nested"]["k"], "v");
}

/// SQL metacharacters in filters, schema and table names change nothing in the database: the
/// filters are applied to events (or bound), identifiers are quoted and must name tables the
/// catalog lists.
#[test]
fn sql_metacharacters_in_cli_arguments_change_nothing() {
    let Some(db) = crate::pg::TestDb::new("inject") else { return };
    run(&["db", "init", "--source", &db.url, "--with-demo"]).ok();
    let count = || db.sql("SELECT (SELECT count(*) FROM audit_events) || '/' || (SELECT count(*) FROM flow_sessions)");
    let before = count();
    let evil = "x'; DROP TABLE audit_events; --";
    let r = run(&["export", "--source", &db.url, "--format", "json", "--event", evil, "--lag", "0"]).ok();
    assert!(r.stdout.is_empty(), "no event has that name");
    let r =
        run(&["export", "--source", &db.url, "--format", "json", "--schema", "public\"; DROP TABLE audit_events; --"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("public\\\"; DROP TABLE audit_events; --") || r.stderr.contains("no tables"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "export",
        "--source",
        &db.url,
        "--format",
        "json",
        "--lag",
        "0",
        "--table",
        "audit_events=audit_events\"; DROP TABLE flow_sessions; --",
    ]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for who in ["--actor", "--project"] {
        let t = run(&[
            "sessions",
            "list",
            "--source",
            &db.url,
            "--format",
            "json",
            if who == "--actor" { "--user" } else { "--project" },
            evil,
        ]);
        assert_eq!(t.code, 0, "{}", t.stderr);
    }
    let t = run(&["trace", "--source", &db.url, "--mr", evil, "--format", "json"]).ok();
    assert!(t.stdout_text().contains("\"sessions\":[]"), "{}", t.stdout_text());
    assert_eq!(count(), before, "the tables are intact");
}

/// The same on ClickHouse: a database name with backticks and a statement is quoted and
/// refused; the data stays.
#[test]
fn clickhouse_identifiers_are_quoted() {
    let Some(ch) = crate::clickhouse::TestCh::new("inject") else { return };
    run(&["db", "init", "--source", &ch.url, "--with-demo"]).ok();
    let db = ch.url.rsplit('/').next().unwrap().to_string();
    let count = || ch.sql(&format!("SELECT count() FROM {db}.flow_sessions"));
    let before = count();
    let evil = format!("{db}`; DROP TABLE x.flow_sessions; --");
    let r = run(&["export", "--source", &ch.url, "--format", "json", "--schema", &evil]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("DROP TABLE x.flow_sessions"), "the name is shown as given: {}", r.stderr);
    let r = run(&["export", "--source", &ch.url, "--format", "json", "--lag", "0", "--event", "x' OR 1=1 --"]).ok();
    assert!(r.stdout.is_empty());
    assert_eq!(count(), before);
}
