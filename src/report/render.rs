//! The report's formats: HTML and Markdown from tera templates (`report_templates/report.*.tera`,
//! overridable with `--template-dir`; autoescaping on for HTML), JSON from the model, CSV of
//! the evidence rows per control.

use std::path::Path;

use super::{chart, Report};
use crate::analyze::sessions::SessionReport;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Html,
    Markdown,
    Json,
    Csv,
    Pdf,
}

impl Format {
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("html", Format::Html),
        ("pdf", Format::Pdf),
        ("md", Format::Markdown),
        ("json", Format::Json),
        ("csv", Format::Csv),
    ];

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, f)| *f)
    }

    /// The file this format is written to.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Html => "report.html",
            Format::Markdown => "report.md",
            Format::Json => "report.json",
            Format::Csv => "evidence.csv",
            Format::Pdf => "report.pdf",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("cannot read template {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

const HTML: &str = include_str!("../../report_templates/report.html.tera");
const MARKDOWN: &str = include_str!("../../report_templates/report.md.tera");

fn template(dir: Option<&Path>, name: &str, bundled: &'static str) -> Result<String, RenderError> {
    if let Some(dir) = dir {
        let path = dir.join(name);
        if path.exists() {
            return std::fs::read_to_string(&path)
                .map_err(|source| RenderError::Io { path: path.display().to_string(), source });
        }
    }
    Ok(bundled.to_string())
}

/// Full error chain of a tera error (its top level says only "failed to render").
fn chain(e: &tera::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn render_tera(name: &'static str, text: &str, report: &Report, escape: bool) -> Result<String, RenderError> {
    let err = |e: tera::Error| RenderError::Template { name: name.to_string(), message: chain(&e) };
    let mut tera = tera::Tera::default();
    tera.register_filter("md", md_filter);
    tera.add_raw_template(name, text).map_err(err)?;
    if escape {
        tera.autoescape_on(vec![name]);
    } else {
        tera.autoescape_on(vec![]);
    }
    let mut ctx = tera::Context::from_serialize(report).map_err(err)?;
    let c = &report.charts;
    ctx.insert("chart_events", &chart::columns("Audit events per day (UTC)", &c.events_per_day, "#2f5d8a"));
    ctx.insert("chart_exceptions", &chart::columns("Exceptions per day (UTC)", &c.exceptions_per_day, "#a33"));
    ctx.insert("chart_status", &chart::bars("Agent sessions by status", &c.sessions_by_status, "#2f5d8a"));
    ctx.insert("chart_flows", &chart::bars("Agent sessions by flow type", &c.sessions_by_flow, "#4a7f4a"));
    tera.render(name, &ctx).map_err(err)
}

/// Text from event data made inert in Markdown: no table breaks, no inline HTML, no line breaks.
pub fn md_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '|' => o.push_str("\\|"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '`' => o.push_str("\\`"),
            '*' | '_' | '[' | ']' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn md_filter(v: &tera::Value, _: &std::collections::HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match v {
        tera::Value::String(s) => md_escape(s),
        other => md_escape(&other.to_string()),
    }))
}

/// Render `report` as `format`.
pub fn render(report: &Report, format: Format, template_dir: Option<&Path>) -> Result<Vec<u8>, RenderError> {
    Ok(match format {
        Format::Html => {
            render_tera("report.html.tera", &template(template_dir, "report.html.tera", HTML)?, report, true)?
                .into_bytes()
        }
        Format::Markdown => {
            render_tera("report.md.tera", &template(template_dir, "report.md.tera", MARKDOWN)?, report, false)?
                .into_bytes()
        }
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(report).expect("reports serialize");
            v.push(b'\n');
            v
        }
        Format::Csv => csv(report).into_bytes(),
        Format::Pdf => super::pdf::render(report),
    })
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-`, `@` is prefixed with `'` so
/// spreadsheets do not run event data as a formula (a lone `-`, "none", is no formula).
fn field(v: &str) -> String {
    let v = if v.len() > 1 && v.starts_with(['=', '+', '-', '@']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The whole traceability matrix ([`super::MATRIX_FILE`]), one row per session, as a stream.
pub fn matrix_csv<'a>(
    sessions: impl Iterator<Item = &'a SessionReport>,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    w.write_all(record(super::MATRIX_COLUMNS.iter().copied()).as_bytes())?;
    for s in sessions {
        w.write_all(record(super::matrix_row(s).iter().map(String::as_str)).as_bytes())?;
    }
    Ok(())
}

/// One CSV line of `cells`.
fn record<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    cells.map(field).collect::<Vec<_>>().join(",") + "\n"
}

/// One row per check (its result) and one per exception, for every control.
pub fn csv(report: &Report) -> String {
    let mut o =
        String::from("control,control_status,check,check_status,row,subject,reason,time,event_count,event_ids\n");
    for c in &report.controls {
        for r in &c.checks {
            let line = |row: &str, subject: &str, reason: &str, time: &str, count: String, ids: &str| {
                record(
                    [&c.id, c.status.key(), &r.check, r.status.key(), row, subject, reason, time, &count, ids]
                        .into_iter(),
                )
            };
            o.push_str(&line("result", "", &r.summary, "", r.population.to_string(), ""));
            for e in &r.exceptions {
                let t = e.time.as_ref().map(crate::model::time::format).unwrap_or_default();
                o.push_str(&line(
                    "exception",
                    &e.subject,
                    &e.reason,
                    &t,
                    e.event_count.to_string(),
                    &e.event_ids.join(" "),
                ));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("-"), "-");
    }

    #[test]
    fn the_matrix_streams_one_quoted_row_per_session() {
        let session = serde_json::from_value(serde_json::json!({
            "session_id": "s-1", "user_id": 7, "flow_type": "fix_pipeline",
            "started_at": "2026-10-01T09:30:00Z", "status": "completed",
            "authorization_verified_at": "2026-10-01T09:29:59Z", "authorization_method": "oauth",
            "authorized_scopes": ["api", "read_repository"]
        }))
        .unwrap();
        let resource = |kind: &str, id: &str| crate::model::session::FlowSessionResource {
            flow_session_id: "s-1".into(),
            resource_type: kind.into(),
            resource_id: id.into(),
            action: "created".into(),
            created_at: crate::model::time::parse("2026-10-01T09:31:00Z").unwrap(),
        };
        let s = SessionReport {
            session,
            resources: vec![resource("Commit", "abc1234"), resource("Note", "5")],
            initiated_by: Some("Ada, Lovelace (7)".into()),
            acted_as: None,
            project_path: None,
            has_start: true,
            findings: vec![],
            timeline: vec![],
        };
        let mut out = Vec::new();
        matrix_csv([&s].into_iter(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "session,started (UTC),flow,initiated by,acted as,authorized (UTC),method,scopes,resources,status\n\
             s-1,2026-10-01 09:30:00,fix_pipeline,\"Ada, Lovelace (7)\",-,2026-10-01 09:29:59,oauth,api read_repository,Commit abc1234; Note 5,completed\n"
        );
    }

    #[test]
    fn markdown_escaping_is_inert() {
        assert_eq!(
            md_escape("a|b <script>x</script> *y* `z`\nw"),
            "a\\|b &lt;script&gt;x&lt;/script&gt; \\*y\\* \\`z\\` w"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("MD"), Some(Format::Markdown));
        assert_eq!(Format::parse("pdf"), Some(Format::Pdf));
        assert_eq!(Format::parse("docx"), None);
    }
}
