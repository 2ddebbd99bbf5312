//! Delivery to a real rsyslog: every event arrives once, byte-exact, over TCP (octet counting
//! and LF framing) and UDP.

use crate::rsyslog::{Rsyslog, TestPki};
use crate::util::run;

/// The MSG part of a received RFC 5424 message, after checking its header.
fn msg(received: &str) -> &str {
    assert!(received.starts_with('<'), "{received}");
    let mut parts = received.splitn(8, ' ');
    let pri = parts.next().unwrap();
    assert!(pri.ends_with(">1"), "{received}");
    let fields: Vec<&str> = (0..6).map(|_| parts.next().unwrap()).collect();
    assert_eq!(fields[2], "compliance-report");
    assert_eq!(fields[5], "-", "no structured data");
    parts.next().unwrap_or("")
}

fn expect_exact(r: &Rsyslog, url: &str, args: &[&str]) {
    let mut export = vec!["export", "--format", "cef"];
    export.extend_from_slice(args);
    let want = run(&export).ok().lines();
    let mut send = export.clone();
    send.extend_from_slice(&["--output", url]);
    let sent = run(&send).ok();
    assert!(sent.stdout.is_empty());
    let got = r.received(want.len());
    assert_eq!(got.len(), want.len(), "every event once");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(msg(g), w, "byte-exact");
    }
}

#[test]
fn tcp_octet_counted() {
    let Some(r) = Rsyslog::start() else { return };
    let url = format!("syslog+tcp://127.0.0.1:{}", r.tcp_port);
    expect_exact(&r, &url, &["--event", "duo_flow_failed", "--event", "webhook.hmac_validation"]);
}

#[test]
fn tcp_lf_framing() {
    let Some(r) = Rsyslog::start() else { return };
    let url = format!("syslog+tcp://127.0.0.1:{}?framing=lf", r.tcp_port);
    expect_exact(&r, &url, &["--event", "duo_service_account_provisioned", "--event", "duo_flow_paused"]);
}

#[test]
fn udp_one_message_per_datagram() {
    let Some(r) = Rsyslog::start() else { return };
    let url = format!("syslog+udp://127.0.0.1:{}", r.udp_port);
    expect_exact(
        &r,
        &url,
        &["--event", "duo_service_account_provisioned", "--event", "login_failed_with_standard_authentication"],
    );
}

#[test]
fn relp_every_message_acknowledged() {
    let Some(r) = Rsyslog::start() else { return };
    let url = format!("syslog+relp://127.0.0.1:{}", r.relp_port);
    expect_exact(
        &r,
        &url,
        &["--event", "duo_flow_failed", "--event", "duo_flow_paused", "--event", "duo_flow_resumed"],
    );
}

#[test]
fn ten_thousand_event_burst_and_multi_line_values() {
    let Some(r) = Rsyslog::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("burst.log");
    let mut text = String::new();
    for i in 0..10_000 {
        let line = serde_json::json!({"time": "2026-10-01T00:00:00Z", "author_id": i, "event_name": "burst", "custom_message": format!("line one\nline two {i}\r\nthree")});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(&src, text).unwrap();
    let url = format!("syslog+tcp://127.0.0.1:{}", r.tcp_port);
    expect_exact(&r, &url, &["--source", src.to_str().unwrap()]);
    let got = r.received(10_000);
    assert!(got[0].contains("msg=line one\\nline two 0\\r\\nthree"), "{}", got[0]);
}

#[test]
fn receiver_down_fails_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = run(&[
        "export",
        "--format",
        "cef",
        "--event",
        "duo_flow_failed",
        "--output",
        &format!("syslog+tcp://127.0.0.1:{port}"),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("syslog+tcp://127.0.0.1:{port} is down (cannot deliver to syslog+tcp://127.0.0.1:{port}: Connection refused")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("events were spooled for the next run to send first"), "{}", r.stderr);
}

#[test]
fn tls_with_the_right_ca_and_refused_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "good");
    let Some(r) = Rsyslog::start_tls(&pki) else { return };
    let url = format!("syslog+tls://127.0.0.1:{}?ca={}", r.tcp_port, pki.ca.display());
    expect_exact(&r, &url, &["--event", "duo_flow_failed"]);
    let send = |url: String| run(&["export", "--format", "cef", "--event", "duo_flow_completed", "--output", &url]);
    let other = TestPki::new(dir.path(), "other");
    let bad = send(format!("syslog+tls://127.0.0.1:{}?ca={}", r.tcp_port, other.ca.display()));
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("certificate"), "{}", bad.stderr);
    // Server-name verification is on: the certificate is for localhost/127.0.0.1, not for this name.
    let wrong_name =
        send(format!("syslog+tls://127.0.0.1:{}?ca={}&server_name=siem.example", r.tcp_port, pki.ca.display()));
    assert_eq!(wrong_name.code, 1, "{}", wrong_name.stderr);
}

#[test]
fn metrics_file_on_success_and_on_failure() {
    let Some(r) = Rsyslog::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("compliance-report.prom");
    let p = prom.to_str().unwrap();
    let url = format!("syslog+tcp://127.0.0.1:{}", r.tcp_port);
    run(&["export", "--format", "cef", "--event", "duo_flow_failed", "--output", &url, "--metrics-file", p]).ok();
    let ok = std::fs::read_to_string(&prom).unwrap();
    assert!(ok.contains("compliance_report_run_success{job=\"\"} 1"), "{ok}");
    assert!(ok.contains(&format!("compliance_report_sink_errors{{job=\"\",sink=\"{url}\"}} 0")), "{ok}");
    let exported: u64 = ok
        .lines()
        .find(|l| l.starts_with("compliance_report_events_exported{"))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(exported > 0);
    let last_success =
        ok.lines().find(|l| l.starts_with("compliance_report_last_success_timestamp_seconds")).unwrap().to_string();
    drop(r);
    let down = run(&["export", "--format", "cef", "--event", "duo_flow_failed", "--output", &url, "--metrics-file", p]);
    assert_eq!(down.code, 1);
    let failed = std::fs::read_to_string(&prom).unwrap();
    assert!(failed.contains("compliance_report_run_success{job=\"\"} 0"), "{failed}");
    assert!(failed.contains(&format!("compliance_report_sink_errors{{job=\"\",sink=\"{url}\"}} 1")), "{failed}");
    assert!(failed.contains(&format!("compliance_report_sink_retries{{job=\"\",sink=\"{url}\"}} 4")), "{failed}");
    assert!(failed.contains(&last_success), "the last success survives a failed run");
}
