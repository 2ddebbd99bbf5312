//! `trace`, `sessions list`, `sessions show`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::analyze::sessions::{self, ResourceRef, SessionReport};
use crate::cli::{ListFormat, ReportFormat, SessionsListArgs, SessionsShowArgs, TraceArgs};
use crate::model::time;
use crate::secrets::redactor::{Counts, Redactor};
use crate::sources::{EventStream, SourceSpec};

use super::export::{filter, read_options, source};
use super::usage;

fn open(spec: &SourceSpec, read: &crate::sources::ReadOptions) -> anyhow::Result<EventStream> {
    spec.open(read).with_context(|| format!("cannot open source {}", spec.describe()))
}

/// The redactor of `--redact…` (key in the default state directory unless given).
fn redactor(args: &crate::cli::RedactArgs) -> anyhow::Result<Redactor> {
    let opts = crate::export::RedactOptions { mode: args.mode(), key: args.redact_key.clone() };
    super::export::redactor(&opts, &crate::checkpoint::default_state_dir())
}

/// `stream` with its events redacted, so prompts, plans and timelines in the output are.
fn redacted(stream: EventStream, r: &Redactor) -> EventStream {
    let r = r.clone();
    Box::new(stream.map(move |rec| {
        rec.map(|mut rec| {
            r.event(&mut rec.event, &mut Counts::new());
            rec
        })
    }))
}

/// How a command found its sessions' events.
enum Read {
    /// By the session tables' indexes, then only these time windows.
    Indexed,
    /// The whole source (files, or sessions the session tables do not know).
    Scan,
}

/// The events of the sessions `ids`: on a database, only the time windows the sessions ran
/// in (found by index); on files, or when a session is not in the session tables, everything.
fn session_events(
    spec: &SourceSpec,
    read: &crate::sources::ReadOptions,
    ids: &BTreeSet<String>,
) -> anyhow::Result<(EventStream, Read)> {
    let spans =
        spec.session_spans(read, ids).with_context(|| format!("session lookup on {} failed", spec.describe()))?;
    match spans {
        Some(spans) if spans.len() == ids.len() => {
            let windows = crate::sources::lookup::windows(&spans, &read.range);
            tracing::debug!(?windows, "reading the sessions' time windows");
            let mut streams = Vec::new();
            for w in windows {
                let mut r = read.clone();
                r.range = w;
                streams.push(open(spec, &r)?);
            }
            Ok((Box::new(streams.into_iter().flatten()), Read::Indexed))
        }
        Some(spans) => {
            tracing::info!(
                known = spans.len(),
                wanted = ids.len(),
                "the session tables do not know every session: reading the whole source"
            );
            Ok((open(spec, read)?, Read::Scan))
        }
        None => Ok((open(spec, read)?, Read::Scan)),
    }
}

fn write_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).context("cannot write to stdout")
}

fn short(t: &crate::model::Timestamp) -> String {
    time::format(t).get(..19).unwrap_or_default().replace('T', " ")
}

/// One session for people, at most 80 columns (long values wrap onto their own lines).
pub fn render(r: &SessionReport, gitlab_url: Option<&str>) -> String {
    let s = &r.session;
    let mut o = String::new();
    o.push_str(&format!("Session {}\n", s.session_id));
    o.push_str(&format!("  flow          {}\n", s.flow_type));
    o.push_str(&format!("  status        {}\n", s.status.as_str()));
    o.push_str(&format!("  started       {} UTC\n", short(&s.started_at)));
    if let Some(end) = &s.completed_at {
        o.push_str(&format!("  ended         {} UTC ({} s)\n", short(end), (*end - s.started_at).num_seconds()));
    }
    o.push_str(&format!(
        "  project       {}\n",
        r.project_path.clone().or(s.project_id.map(|p| p.to_string())).unwrap_or("-".into())
    ));
    o.push_str("Attribution\n");
    o.push_str(&format!("  initiated by  {}\n", r.initiated_by.as_deref().unwrap_or("unknown")));
    o.push_str(&format!("  acted as      {}\n", r.acted_as.as_deref().unwrap_or("the user (no service account)")));
    match (&s.authorization_verified_at, &s.authorization_method) {
        (Some(at), method) => o.push_str(&format!(
            "  authorized    {} UTC via {}\n  scopes        {}\n",
            short(at),
            method.as_deref().unwrap_or("unknown method"),
            if s.authorized_scopes.is_empty() { "-".into() } else { s.authorized_scopes.join(", ") }
        )),
        (None, _) => o.push_str("  authorized    NO AUTHORIZATION RECORD\n"),
    }
    if let Some(p) = &s.input_prompt {
        o.push_str(&format!("  input         {}\n", cut(p, 64)));
    }
    if let Some(p) = &s.plan_summary {
        o.push_str(&format!("  plan          {}\n", cut(p, 64)));
    }
    o.push_str(&format!("  tokens        {} in, {} out\n", s.input_tokens, s.output_tokens));
    if !r.findings.is_empty() {
        o.push_str("Integrity findings\n");
        for f in &r.findings {
            o.push_str(&format!("  ! {f}\n"));
        }
    }
    o.push_str(&format!("Resources ({})\n", r.resources.len()));
    for res in &r.resources {
        o.push_str(&format!(
            "  {} {} {} {}\n",
            short(&res.created_at),
            res.action,
            res.resource_type,
            cut(&res.resource_id, 40)
        ));
        if let (Some(base), Some(project)) = (gitlab_url, r.project_path.as_deref()) {
            if let Some(url) = sessions::link(base, project, &res.resource_type, &res.resource_id) {
                o.push_str(&format!("    {url}\n"));
            }
        }
    }
    if !r.timeline.is_empty() {
        o.push_str(&format!("Timeline ({} events)\n", r.timeline.len()));
        for st in &r.timeline {
            o.push_str(&format!(
                "  {} {}\n",
                short(&st.time),
                cut(&format!("{} {} {}", st.event, st.actor, st.detail), 58)
            ));
        }
    }
    o
}

/// HTML text and attribute values (`&`, `<`, `>`, `"`, `'` and `/`, as the report templates).
fn escape(s: &str) -> String {
    tera::escape_html(s)
}

/// Sessions as one self-contained HTML page: attribution, findings, resources, timeline.
pub fn render_html(title: &str, reports: &[SessionReport], gitlab_url: Option<&str>) -> String {
    let mut o = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}\
         .finding{{color:#a00;font-weight:bold}}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    for r in reports {
        let s = &r.session;
        let row = |k: &str, v: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v));
        o.push_str(&format!("<h2>Session {}</h2>\n<table>\n", escape(&s.session_id)));
        o.push_str(&row("flow", &s.flow_type));
        o.push_str(&row("status", s.status.as_str()));
        o.push_str(&row("started (UTC)", &short(&s.started_at)));
        if let Some(end) = &s.completed_at {
            o.push_str(&row("ended (UTC)", &short(end)));
        }
        o.push_str(&row(
            "project",
            &r.project_path.clone().or(s.project_id.map(|p| p.to_string())).unwrap_or_default(),
        ));
        o.push_str(&row("initiated by", r.initiated_by.as_deref().unwrap_or("unknown")));
        o.push_str(&row("acted as", r.acted_as.as_deref().unwrap_or("the user")));
        let auth = match &s.authorization_verified_at {
            Some(at) => {
                format!("{} UTC via {}", short(at), s.authorization_method.as_deref().unwrap_or("unknown method"))
            }
            None => "NO AUTHORIZATION RECORD".into(),
        };
        o.push_str(&row("authorized", &auth));
        o.push_str(&row("scopes", &s.authorized_scopes.join(", ")));
        if let Some(p) = &s.input_prompt {
            o.push_str(&row("input", p));
        }
        if let Some(p) = &s.plan_summary {
            o.push_str(&row("plan", p));
        }
        o.push_str(&row("tokens", &format!("{} in, {} out", s.input_tokens, s.output_tokens)));
        o.push_str("</table>\n");
        for f in &r.findings {
            o.push_str(&format!("<p class=\"finding\">Integrity finding: {}</p>\n", escape(f)));
        }
        o.push_str("<h3>Resources</h3>\n<table><tr><th>time (UTC)</th><th>action</th><th>type</th><th>id</th></tr>\n");
        for res in &r.resources {
            let id = match (gitlab_url, r.project_path.as_deref()) {
                (Some(base), Some(project)) => sessions::link(base, project, &res.resource_type, &res.resource_id)
                    .map(|u| format!("<a href=\"{}\">{}</a>", escape(&u), escape(&res.resource_id)))
                    .unwrap_or_else(|| escape(&res.resource_id)),
                _ => escape(&res.resource_id),
            };
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{id}</td></tr>\n",
                short(&res.created_at),
                escape(&res.action),
                escape(&res.resource_type)
            ));
        }
        o.push_str("</table>\n<h3>Timeline</h3>\n<table><tr><th>time (UTC)</th><th>event</th><th>actor</th><th>detail</th><th>event id</th></tr>\n");
        for st in &r.timeline {
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                short(&st.time),
                escape(&st.event),
                escape(&st.actor),
                escape(&st.detail),
                escape(&st.event_id)
            ));
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body></html>\n");
    o
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

pub fn trace(args: &TraceArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let t = &args.target;
    let (kind, id) = match (&t.commit, &t.mr, &t.note) {
        (Some(c), _, _) if c.len() >= 7 && c.chars().all(|c| c.is_ascii_hexdigit()) => ("Commit", c.clone()),
        (Some(c), _, _) => return Err(usage(format!("--commit {c:?} is not a SHA of 7 or more hex digits"))),
        (_, Some(m), _) => ("MergeRequest", m.clone()),
        (_, _, Some(n)) => ("Note", n.clone()),
        _ => return Err(usage("give --commit, --mr or --note")),
    };
    let resource = ResourceRef { kind, id: id.clone(), project: args.project.clone() };
    let redactor = redactor(&args.redact)?;
    let spec = source(&args.source.source)?;
    let read = read_options(&args.source, &filter);
    // Candidates by index where the source has them; their events then confirm the link (and
    // the project) exactly as a scan would.
    let candidates = spec
        .sessions_touching(&read, kind, &id)
        .with_context(|| format!("session lookup on {} failed", spec.describe()))?;
    let (found, scanned, how, kept) = match candidates {
        None => {
            let (found, n) = sessions::find(open(&spec, &read)?, &resource)?;
            (found, n, Read::Scan, None)
        }
        Some(c) if c.is_empty() => (c, 0, Read::Indexed, None),
        Some(c) => match session_events(&spec, &read, &c)? {
            // The candidates' windows are small: keep their events for the reports.
            (events, Read::Indexed) => {
                let events: Vec<_> = events.collect::<Result<_, _>>()?;
                let again = || -> EventStream { Box::new(events.clone().into_iter().map(Ok)) };
                let (found, n) = sessions::find(again(), &resource)?;
                (found, n, Read::Indexed, Some(again()))
            }
            (events, Read::Scan) => {
                let (found, n) = sessions::find(events, &resource)?;
                (found, n, Read::Scan, None)
            }
        },
    };
    let reports = match (found.is_empty(), kept) {
        (true, _) => Vec::new(),
        (false, Some(events)) => sessions::reports(redacted(events, &redactor), Some(&found))?,
        (false, None) => sessions::reports(redacted(session_events(&spec, &read, &found)?.0, &redactor), Some(&found))?,
    };
    let searched = match how {
        Read::Scan => format!("{scanned} events searched"),
        Read::Indexed => "looked up in the session tables".to_string(),
    };
    match args.format {
        ReportFormat::Json => {
            let doc = serde_json::json!({
                "resource": {"type": kind, "id": id, "project": args.project},
                "sessions": reports,
                "events_searched": scanned,
                "lookup": match how { Read::Scan => "scan", Read::Indexed => "index" },
            });
            write_out(&format!("{doc}\n"))?;
        }
        ReportFormat::Html => write_out(&render_html(&format!("{kind} {id}"), &reports, args.gitlab_url.as_deref()))?,
        ReportFormat::Text if reports.is_empty() => write_out(&format!(
            "No AI agent session created or modified {kind} {id} ({searched}{}).\n",
            filter.range.from.map_or(String::new(), |_| format!(", range {}", filter.range))
        ))?,
        ReportFormat::Text => {
            let mut text = format!("{kind} {id} was created or modified by {} AI agent session(s).\n\n", reports.len());
            for r in &reports {
                text.push_str(&render(r, args.gitlab_url.as_deref()));
                text.push('\n');
            }
            write_out(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(args: &SessionsShowArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let spec = source(&args.source.source)?;
    let read = read_options(&args.source, &filter);
    let ids = BTreeSet::from([args.session.clone()]);
    let r = redactor(&args.redact)?;
    let reports = sessions::reports(redacted(session_events(&spec, &read, &ids)?.0, &r), Some(&ids))?;
    let Some(r) = reports.first() else {
        anyhow::bail!("no session {} in {} (check the id and --range)", args.session, spec.describe());
    };
    match args.format {
        ReportFormat::Json => write_out(&format!("{}\n", serde_json::to_string(r).expect("reports serialize")))?,
        ReportFormat::Text => write_out(&render(r, args.gitlab_url.as_deref()))?,
        ReportFormat::Html => write_out(&render_html(
            &format!("Session {}", args.session),
            std::slice::from_ref(r),
            args.gitlab_url.as_deref(),
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: &SessionsListArgs) -> anyhow::Result<ExitCode> {
    let filter = filter(&args.filter)?;
    let spec = source(&args.source.source)?;
    let read = read_options(&args.source, &filter);
    let r = redactor(&args.redact)?;
    let mut reports = sessions::reports(redacted(open(&spec, &read)?, &r), None)?;
    reports.retain(|r| {
        let s = &r.session;
        args.user.as_ref().is_none_or(|u| s.user_id.to_string() == *u)
            && args.flow_type.as_ref().is_none_or(|f| s.flow_type == *f)
            && args.status.as_ref().is_none_or(|st| s.status.as_str() == st)
            && args.project.as_ref().is_none_or(|p| {
                s.project_id.map(|i| i.to_string()).as_ref() == Some(p) || r.project_path.as_ref() == Some(p)
            })
            && filter.range.contains(&s.started_at)
    });
    let mut out = String::new();
    match args.format {
        ListFormat::Json => {
            for r in &reports {
                let mut v = serde_json::to_value(&r.session).expect("sessions serialize");
                v["resources"] = serde_json::json!(r.resources.len());
                v["findings"] = serde_json::json!(r.findings);
                out.push_str(&format!("{v}\n"));
            }
        }
        ListFormat::Csv => {
            out.push_str("session_id,started_at,status,duration_s,flow_type,user_id,service_account_id,project,resources,input_tokens,output_tokens,findings\n");
            for r in &reports {
                let s = &r.session;
                let q = |v: &str| {
                    if v.contains([',', '"', '\n']) {
                        format!("\"{}\"", v.replace('"', "\"\""))
                    } else {
                        v.to_string()
                    }
                };
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    q(&s.session_id),
                    time::format(&s.started_at),
                    s.status.as_str(),
                    s.completed_at.map(|e| (e - s.started_at).num_seconds().to_string()).unwrap_or_default(),
                    q(&s.flow_type),
                    s.user_id,
                    s.service_account_id.map(|i| i.to_string()).unwrap_or_default(),
                    q(&r.project_path.clone().or(s.project_id.map(|p| p.to_string())).unwrap_or_default()),
                    r.resources.len(),
                    s.input_tokens,
                    s.output_tokens,
                    r.findings.len()
                ));
            }
        }
        ListFormat::Table => {
            out.push_str(&format!(
                "{:<19} {:<9} {:>6} {:<20} {:>6} {:>4} {:>8}\n",
                "started (UTC)", "status", "secs", "flow", "user", "res", "tokens"
            ));
            for r in &reports {
                let s = &r.session;
                out.push_str(&format!(
                    "{:<19} {:<9} {:>6} {:<20} {:>6} {:>4} {:>8}{}\n",
                    short(&s.started_at),
                    s.status.as_str(),
                    s.completed_at.map(|e| (e - s.started_at).num_seconds().to_string()).unwrap_or("-".into()),
                    cut(&s.flow_type, 20),
                    s.user_id,
                    r.resources.len(),
                    s.input_tokens + s.output_tokens,
                    if r.findings.is_empty() { "" } else { " !" }
                ));
                out.push_str(&format!("  {}\n", s.session_id));
            }
            out.push_str(&format!("{} session(s); ! = integrity findings (sessions show ID)\n", reports.len()));
        }
    }
    write_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped() {
        assert_eq!(
            super::escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#x27;b&#x27;&lt;&#x2F;script&gt;"
        );
        assert_eq!(super::cut("abcdef", 4), "abc…");
    }
}
