//! Prometheus text-format metrics for each run, written atomically to `--metrics-file`
//! (node_exporter textfile-collector convention: a `*.prom` file renamed into place), on success
//! and on failure. `last success` survives failed runs by carrying over the previous value.

use std::fmt::Write as _;
use std::path::Path;

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    /// Source, password masked.
    pub source: String,
    pub format: String,
    pub job: Option<String>,
    pub read: u64,
    pub exported: u64,
    pub skipped: u64,
    pub sinks: Vec<SinkMetrics>,
    pub success: bool,
    pub duration_seconds: f64,
    /// Unix time at the end of the run.
    pub finished: f64,
}

#[derive(Debug, Clone, Default)]
pub struct SinkMetrics {
    pub name: String,
    pub errors: u64,
    pub retries: u64,
    pub spool_bytes: u64,
}

/// Escape a label value (`\\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

const LAST_SUCCESS: &str = "compliance_report_last_success_timestamp_seconds";

/// The previous `last success` value in `text` for `job_labels`, if any.
fn previous_success(text: &str, job_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{LAST_SUCCESS}{{{job_labels}}}")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Render the metrics (`previous`: the file's earlier content, for `last success`).
pub fn render(m: &RunMetrics, previous: &str) -> String {
    let job = label(m.job.as_deref().unwrap_or(""));
    let base = format!("job=\"{job}\",source=\"{}\",format=\"{}\"", label(&m.source), label(&m.format));
    let job_labels = format!("job=\"{job}\"");
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, lines: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in lines {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    gauge(
        "compliance_report_events_read",
        "Records read from the source in the last run.",
        vec![(base.clone(), m.read.to_string())],
    );
    gauge(
        "compliance_report_events_exported",
        "Events delivered to every output in the last run.",
        vec![(base.clone(), m.exported.to_string())],
    );
    gauge(
        "compliance_report_events_skipped",
        "Bad records skipped in the last run (--on-error skip).",
        vec![(base.clone(), m.skipped.to_string())],
    );
    let per_sink = |f: &dyn Fn(&SinkMetrics) -> u64| {
        m.sinks
            .iter()
            .map(|s| (format!("{job_labels},sink=\"{}\"", label(&s.name)), f(s).to_string()))
            .collect::<Vec<_>>()
    };
    gauge("compliance_report_sink_errors", "Delivery failures by output in the last run.", per_sink(&|s| s.errors));
    gauge(
        "compliance_report_sink_retries",
        "Retries (reconnects, re-sent requests) by output in the last run.",
        per_sink(&|s| s.retries),
    );
    gauge("compliance_report_spool_bytes", "Bytes waiting in the spool by output.", per_sink(&|s| s.spool_bytes));
    gauge(
        "compliance_report_run_success",
        "1 if the last run delivered everything, else 0.",
        vec![(job_labels.clone(), u8::from(m.success).to_string())],
    );
    gauge(
        "compliance_report_run_duration_seconds",
        "Wall time of the last run.",
        vec![(job_labels.clone(), format!("{:.3}", m.duration_seconds))],
    );
    gauge(
        "compliance_report_last_run_timestamp_seconds",
        "Unix time the last run ended.",
        vec![(job_labels.clone(), format!("{:.3}", m.finished))],
    );
    let last = if m.success { Some(m.finished) } else { previous_success(previous, &job_labels) };
    if let Some(t) = last {
        gauge(LAST_SUCCESS, "Unix time the last successful run ended.", vec![(job_labels, format!("{t:.3}"))]);
    }
    out
}

/// Write the metrics atomically, readable by all (the textfile collector runs as another user;
/// metrics hold no event data).
pub fn write(path: &Path, m: &RunMetrics) -> std::io::Result<()> {
    let previous = std::fs::read_to_string(path).unwrap_or_default();
    crate::files::write_atomic(path, render(m, &previous).as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_keeps_the_last_success_across_failures() {
        let mut m = RunMetrics {
            source: "postgres://u:***@db/\"x\"".into(),
            format: "cef".into(),
            job: Some("siem".into()),
            read: 10,
            exported: 9,
            skipped: 1,
            sinks: vec![SinkMetrics { name: "syslog+tcp://siem:514".into(), errors: 0, retries: 2, spool_bytes: 0 }],
            success: true,
            duration_seconds: 1.5,
            finished: 1_790_000_000.0,
        };
        let ok = render(&m, "");
        assert!(ok.contains("compliance_report_events_exported{job=\"siem\",source=\"postgres://u:***@db/\\\"x\\\"\",format=\"cef\"} 9\n"), "{ok}");
        assert!(ok.contains("compliance_report_sink_retries{job=\"siem\",sink=\"syslog+tcp://siem:514\"} 2\n"));
        assert!(ok.contains("compliance_report_last_success_timestamp_seconds{job=\"siem\"} 1790000000.000\n"));
        m.success = false;
        m.finished = 1_790_000_100.0;
        let failed = render(&m, &ok);
        assert!(failed.contains("compliance_report_run_success{job=\"siem\"} 0\n"));
        assert!(
            failed.contains("compliance_report_last_success_timestamp_seconds{job=\"siem\"} 1790000000.000\n"),
            "{failed}"
        );
    }
}
