//! Fault injection against real servers and receivers: an HTTP collector and a RELP syslog
//! receiver that go away mid-export, the PostgreSQL connection cut mid-export, a ClickHouse
//! server killed mid-export, a full spool. Each asserts: every source event delivered at least once across the run and its
//! retry, at most one batch twice, the checkpoint never ahead of delivery, and a non-zero exit
//! with a clear message for the run that could not finish. (SIGKILL mid-run:
//! `postgres::crash_at_any_point…`; two runs of one job: `jobs::a_second_run…`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_server::{Reply, TestServer};
use crate::pg::TestDb;
use crate::util::{run, BIN};

/// Events per batch (the export's default).
const BATCH: usize = 2000;

/// A checkpointed export to `output` (stdout when `None`).
fn export_args(source: &str, state: &Path, format: &str, output: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["export", "--source", source, "--format", format, "--lag", "0", "--checkpoint", "f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--state-dir".to_string(), state.display().to_string()]);
    if let Some(o) = output {
        args.extend(["--output".to_string(), o.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_args(args: &[String]) -> crate::util::Run {
    run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The row id the checkpoint says was delivered last (`ai_audit_events` of `token_usage_rows`).
fn checkpoint_id(state: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(state.join("f.json")).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap();
    let source = v["sources"].as_object()?.values().next()?;
    source["tables"]["ai_audit_events"]["key"][0].as_i64()
}

/// Row ids (`origin.native_id`) of JSON records.
fn json_ids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["origin"]["native_id"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Every id 1..=n at least once, at most one batch of them more than once; the checkpoint
/// after the failed run covers only ids that run delivered.
#[track_caller]
fn assert_delivery(n: i64, first: &[i64], all: &[i64], checkpoint: Option<i64>) {
    let mut counts: BTreeMap<i64, u32> = BTreeMap::new();
    for id in all {
        *counts.entry(*id).or_default() += 1;
    }
    let missing: Vec<i64> = (1..=n).filter(|i| !counts.contains_key(i)).take(5).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}…");
    let repeated = counts.values().filter(|c| **c > 1).count();
    assert!(repeated <= BATCH, "{repeated} events arrived more than once (at most one batch may)");
    if let Some(k) = checkpoint {
        let delivered: BTreeSet<i64> = first.iter().copied().collect();
        let ahead: Vec<i64> = (1..=k).filter(|i| !delivered.contains(i)).take(5).collect();
        assert!(ahead.is_empty(), "the checkpoint ({k}) is ahead of delivery: {ahead:?} were not delivered");
    }
}

#[test]
fn http_collector_going_down_mid_export() {
    let Some(db) = TestDb::new("fault_http") else { return };
    db.token_usage_rows(10_000);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let ok = || Reply::Status(200, "", "");
    // Three batches accepted, then the collector answers 503 (and nothing else that run).
    let server = TestServer::start("/ingest", vec![ok(), ok(), ok(), Reply::Status(503, "", "down")]);
    let args = export_args(&db.url, &st, "json", Some(&server.url), &["--http-retries", "0"]);
    let first = run_args(&args);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("events were spooled for the next run to send first"), "{}", first.stderr);
    let bodies: Vec<String> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 4, "the run stopped at its first refused batch");
    let delivered: Vec<i64> = bodies[..3].iter().flat_map(|b| json_ids(b)).collect();
    let checkpoint = checkpoint_id(&st);
    assert_eq!(checkpoint, delivered.iter().max().copied(), "the checkpoint is at the last delivered batch");
    run_args(&args).ok();
    let accepted: Vec<i64> = server
        .requests()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .flat_map(|(_, r)| json_ids(&r.body))
        .collect();
    assert_delivery(10_000, &delivered, &accepted, checkpoint);
}

/// A RELP receiver that acknowledges `limit` syslog messages (all of them with `None`), then
/// drops the session and stops listening; the acknowledged messages.
fn relp_receiver(listener: std::net::TcpListener, limit: Option<usize>) -> std::thread::JoinHandle<Vec<String>> {
    use compliance_report::sinks::relp::{read_frame, write_frame};
    use std::io::Write;
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        drop(listener);
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        let mut acked = Vec::new();
        while let Ok(f) = read_frame(&mut reader) {
            let mut out = Vec::new();
            match f.command.as_str() {
                "open" => write_frame(&mut out, f.txnr, "rsp", b"200 OK\nrelp_version=0\ncommands=syslog"),
                "syslog" if limit.is_some_and(|n| acked.len() >= n) => break,
                "syslog" => {
                    acked.push(String::from_utf8_lossy(&f.data).into_owned());
                    write_frame(&mut out, f.txnr, "rsp", b"200 OK");
                }
                "close" => {
                    write_frame(&mut out, f.txnr, "rsp", b"");
                    let _ = conn.write_all(&out);
                    break;
                }
                other => panic!("unexpected RELP command {other}"),
            }
            if conn.write_all(&out).is_err() {
                break;
            }
        }
        acked
    })
}

/// Row ids of CEF syslog messages (`token_usage_rows` gives row i `input_tokens` i: `cn1`).
fn cef_ids(messages: &[String]) -> Vec<i64> {
    messages.iter().filter_map(|m| m.split(" cn1=").nth(1)?.split(' ').next()?.parse().ok()).collect()
}

#[test]
fn relp_receiver_going_away_mid_export() {
    let Some(db) = TestDb::new("fault_relp") else { return };
    db.token_usage_rows(10_000);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The receiver takes a batch and a half, then goes away (session and port).
    let receiver = relp_receiver(listener, Some(3000));
    let url = format!("syslog+relp://127.0.0.1:{port}");
    let args = export_args(&db.url, &st, "cef", Some(&url), &[]);
    let first = run_args(&args);
    let delivered = cef_ids(&receiver.join().unwrap());
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("events were spooled"), "{}", first.stderr);
    assert_eq!(delivered.len(), 3000);
    let checkpoint = checkpoint_id(&st);
    assert_eq!(checkpoint, Some(2000), "the checkpoint is at the last batch acknowledged whole");
    // Back on the same port: the spool first, then the rest from the checkpoint.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let receiver = relp_receiver(listener, None);
    run_args(&args).ok();
    let all: Vec<i64> = delivered.iter().copied().chain(cef_ids(&receiver.join().unwrap())).collect();
    assert_delivery(10_000, &delivered, &all, checkpoint);
}

#[test]
fn postgres_connection_cut_mid_export() {
    let Some(db) = TestDb::new("fault_pg") else { return };
    db.token_usage_rows(200_000);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let out = dir.path().join("out.json");
    let args = export_args(&db.url, &st, "json", out.to_str(), &[]);
    let child = Command::new(BIN).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) < 1_000_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "the export did not start");
        std::thread::sleep(Duration::from_millis(2));
    }
    // What a server restart looks like to the client: its connection is terminated.
    let name = db.url.rsplit('/').next().unwrap();
    db.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'compliance-report'"
    ));
    let first = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("export stopped after delivering"), "{stderr}");
    assert!(stderr.contains("terminat") || stderr.contains("connection"), "says why: {stderr}");
    let delivered = json_ids(&std::fs::read_to_string(&out).unwrap());
    assert!(delivered.len() < 200_000, "cut mid-export");
    let checkpoint = checkpoint_id(&st);
    run_args(&args).ok();
    let all = json_ids(&std::fs::read_to_string(&out).unwrap());
    assert_delivery(200_000, &delivered, &all, checkpoint);
}

#[test]
fn a_full_spool_stops_the_run_and_loses_nothing() {
    let Some(db) = TestDb::new("fault_full") else { return };
    db.token_usage_rows(5000);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let server = TestServer::start("/ingest", vec![Reply::Status(503, "", "down")]);
    let args = export_args(&db.url, &st, "json", Some(&server.url), &["--http-retries", "0", "--spool-max", "64KiB"]);
    let first = run_args(&args);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(
        first.stderr.contains("spool") && first.stderr.contains("full"),
        "says the spool is full: {}",
        first.stderr
    );
    assert_eq!(checkpoint_id(&st), None, "nothing delivered, no checkpoint");
    run_args(&args).ok();
    let accepted: Vec<i64> = server.requests().into_iter().skip(1).flat_map(|r| json_ids(&r.body)).collect();
    assert_delivery(5000, &[], &accepted, None);
    assert_eq!(accepted.len(), 5000, "nothing was spooled, so nothing arrives twice");
}

/// A ClickHouse server of this test alone (the shared one cannot be stopped under the other
/// tests): its own ports and data directory, started and killed at will.
struct PrivateClickHouse {
    dir: tempfile::TempDir,
    http_port: u16,
    child: Option<std::process::Child>,
}

impl PrivateClickHouse {
    fn start() -> Option<PrivateClickHouse> {
        let bin =
            ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].into_iter().find(|p| Path::new(p).exists());
        let Some(_) = bin else {
            crate::util::skip_unless_ci("clickhouse-server", ".ci/run installs it");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (http_port, tcp_port) = (port(), port());
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n<logger><level>warning</level><log>{d}/log</log><errorlog>{d}/err</errorlog></logger>\n\
                 <http_port>{http_port}</http_port><tcp_port>{tcp_port}</tcp_port><listen_host>127.0.0.1</listen_host>\n\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/files/</user_files_path>\n\
                 <format_schema_path>{d}/schemas/</format_schema_path>\n\
                 <users_config>/etc/clickhouse-server/users.xml</users_config><default_profile>default</default_profile>\n\
                 <default_database>default</default_database><mark_cache_size>104857600</mark_cache_size>\n</yandex>\n"
            ),
        )
        .unwrap();
        let mut ch = PrivateClickHouse { dir, http_port, child: None };
        ch.run();
        Some(ch)
    }

    /// Start the server (again) and wait until it answers.
    fn run(&mut self) {
        let config = self.dir.path().join("config.xml");
        let bin =
            ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].into_iter().find(|p| Path::new(p).exists());
        let child = Command::new(bin.unwrap())
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while ureq::get(&format!("http://127.0.0.1:{}/ping", self.http_port)).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the private ClickHouse did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn sql(&self, sql: &str) {
        ureq::post(&format!("http://127.0.0.1:{}/", self.http_port)).send_string(sql).unwrap();
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn clickhouse_server_killed_mid_export() {
    let Some(mut ch) = PrivateClickHouse::start() else { return };
    ch.sql("CREATE DATABASE faults");
    ch.sql(
        "CREATE TABLE faults.ai_audit_events (id Int64, created_at DateTime, cloud_event_id String, author_id Int64, \
         project_id Nullable(Int64), namespace_id Nullable(Int64), event_name String, ip_address Nullable(String), \
         workflow_id Nullable(Int64), details Nullable(String)) ENGINE = MergeTree ORDER BY (created_at, id)",
    );
    ch.sql(
        "INSERT INTO faults.ai_audit_events SELECT number + 1, toDateTime('2026-10-01 00:00:00') + number, \
         toString(number), 7, 1, NULL, 'duo_flow_token_usage', '10.0.0.1', NULL, \
         concat('{\"input_tokens\":', toString(number + 1), '}') FROM system.numbers LIMIT 200000",
    );
    let url = format!("clickhouse://default@127.0.0.1:{}/faults", ch.http_port);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let args = export_args(&url, &st, "json", None, &[]);
    // Read a little of stdout and stop: the export stalls with its query open; then the server dies.
    let mut child = Command::new(BIN).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    for _ in 0..10 {
        std::io::BufRead::read_line(&mut stdout, &mut text).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    ch.kill();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    let first = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("export stopped after delivering"), "{stderr}");
    let delivered = json_ids(&text);
    assert!(delivered.len() < 200_000, "cut mid-export after {}", delivered.len());
    let checkpoint = checkpoint_id(&st);
    ch.run();
    let second = run_args(&args).ok();
    let all: Vec<i64> = delivered.iter().copied().chain(json_ids(&second.stdout_text())).collect();
    assert_delivery(200_000, &delivered, &all, checkpoint);
}

/// The spool's disk itself full (a 16 KiB tmpfs): the run stops with the system's reason, the
/// checkpoint stays, and the next run with room and a collector delivers everything once.
/// Needs `mount` (root); without it the test says so and passes (the spool's own size limit is
/// tested above).
#[test]
fn a_full_spool_disk_stops_the_run_and_loses_nothing() {
    let Some(db) = TestDb::new("fault_enospc") else { return };
    db.token_usage_rows(5000);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"]).arg(&spool).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot mount a small tmpfs (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&spool);
    let st = dir.path().join("state");
    let server = TestServer::start("/ingest", vec![Reply::Status(503, "", "down")]);
    let spool_arg = spool.display().to_string();
    let args =
        export_args(&db.url, &st, "json", Some(&server.url), &["--http-retries", "0", "--spool-dir", &spool_arg]);
    let first = run_args(&args);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("No space left on device"), "says why: {}", first.stderr);
    assert_eq!(checkpoint_id(&st), None, "nothing delivered, no checkpoint");
    run_args(&args).ok();
    let accepted: Vec<i64> = server.requests().into_iter().skip(1).flat_map(|r| json_ids(&r.body)).collect();
    assert_delivery(5000, &[], &accepted, None);
    assert_eq!(accepted.len(), 5000, "nothing was spooled, so nothing arrives twice");
}
