//! Agent sessions as an auditor asks about them: which session made a change, who initiated
//! it, which identity acted, who authorized it, and everything the session did. Works on any
//! source by reading its events (sessions are rebuilt from lifecycle events with
//! [`SessionBuilder`]); a lookup reads the source twice, keeping only the sessions it needs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::collections::{FastMap, FastSet};
use crate::model::session::{FlowSession, FlowSessionResource, SessionBuilder, SessionEvent, SessionStatus};
use crate::model::{time, Actor, AuditEvent, Timestamp};
use crate::pack::{Packer, Unpacker};
use crate::sources::{EventStream, SourceError};

/// A resource to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// `Commit`, `MergeRequest` or `Note`.
    pub kind: &'static str,
    pub id: String,
    /// Only in this project (path or id), when given.
    pub project: Option<String>,
}

impl ResourceRef {
    fn matches(&self, ev: &AuditEvent) -> bool {
        let target = ev.target.as_ref();
        let (kind_detail, id_detail) = (ev.details.str("resource_type"), ev.details.str("resource_id"));
        let kind = target.and_then(|t| t.kind.as_deref()).or(kind_detail.as_deref());
        let id = target.and_then(|t| t.id.as_deref()).or(id_detail.as_deref());
        let same_id = match (self.kind, id) {
            // Abbreviated commit SHAs (7 or more characters) match the full one.
            ("Commit", Some(id)) => self.id.len() >= 7 && id.starts_with(&self.id.to_ascii_lowercase()),
            (_, Some(id)) => id == self.id,
            _ => false,
        };
        let same_kind = kind.is_some_and(|k| k.eq_ignore_ascii_case(self.kind));
        let in_project = self.project.as_ref().is_none_or(|p| {
            ev.scope.as_ref().is_some_and(|s| {
                s.path.as_deref() == Some(p.as_str()) || s.id.map(|i| i.to_string()).as_deref() == Some(p)
            })
        });
        same_kind && same_id && in_project
    }
}

/// One event of a session's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    #[serde(with = "time::serde_ts")]
    pub time: Timestamp,
    pub event: String,
    /// Who acted (name, else id).
    pub actor: String,
    /// What it touched or said, in a few words.
    pub detail: String,
    pub event_id: String,
}

/// Everything about one session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub session: FlowSession,
    pub resources: Vec<FlowSessionResource>,
    /// The human who started it, and the identity that acted (composite identity).
    pub initiated_by: Option<String>,
    pub acted_as: Option<String>,
    pub project_path: Option<String>,
    /// Whether a start event was seen (sessions known only from their resources have none).
    pub has_start: bool,
    /// Integrity problems: missing authorization, authorized after start, no start, no end.
    pub findings: Vec<String>,
    pub timeline: Vec<Step>,
}

fn step(ev: &AuditEvent) -> Step {
    let actor = ev.actor.name.clone().or_else(|| ev.actor.id.clone()).unwrap_or_default();
    let detail = match &ev.target {
        Some(t) => [t.kind.as_deref(), t.id.as_deref(), t.details.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        None => ev.message.clone().unwrap_or_default(),
    };
    Step { time: ev.time, event: ev.event_name.clone(), actor, detail, event_id: ev.id.clone() }
}

/// Integrity findings for one session (the same rules as the `lifecycle` heuristic).
pub fn integrity(s: &FlowSession, has_start: bool, resources: usize) -> Vec<String> {
    let mut out = Vec::new();
    if !has_start {
        out.push("no start event: resources were recorded for a session that never started".into());
    } else if s.authorization_verified_at.is_none() {
        out.push("no authorization record (authorization_verified_at is missing)".into());
    } else if s.authorization_verified_at.is_some_and(|a| a > s.started_at) {
        out.push("authorized after the session started".into());
    }
    if matches!(s.status, SessionStatus::Running | SessionStatus::Started | SessionStatus::Paused) && resources > 0 {
        out.push(format!("no completed or failed event (status {})", s.status.as_str()));
    }
    out
}

/// Sessions that created or modified `resource`.
pub fn find(stream: EventStream, resource: &ResourceRef) -> Result<(BTreeSet<String>, u64), SourceError> {
    let mut found = BTreeSet::new();
    let mut scanned = 0;
    for rec in stream {
        let ev = rec?.event;
        scanned += 1;
        if let Some(s) = ev.ai.as_ref().and_then(|a| a.session_id.as_ref()) {
            if resource.matches(&ev) {
                found.insert(s.clone());
            }
        }
    }
    Ok((found, scanned))
}

/// What a [`Collector`] takes from any event: the names it tells, its project's path, and what
/// it tells its session. Read in one place ([`Seen::of`]), so that a source's worker thread can
/// read it and hand it on [packed](Seen::pack).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<'a> {
    /// `(id, name)` of the actor and of the user it acted for, when the event gives both.
    pub names: [Option<(&'a str, &'a str)>; 2],
    /// The id and path of its scope, when it gives both.
    pub path: Option<(i64, &'a str)>,
    pub session: Option<SessionEvent<'a>>,
}

impl<'a> Seen<'a> {
    pub fn of(ev: &'a AuditEvent) -> Seen<'a> {
        let name = |a: &'a Actor| Some((a.id.as_deref()?, a.name.as_deref()?));
        Seen {
            names: [name(&ev.actor), ev.on_behalf_of.as_ref().and_then(name)],
            path: ev.scope.as_ref().and_then(|s| Some((s.id?, s.path.as_deref()?))),
            session: SessionEvent::of(ev),
        }
    }

    /// Appends what [`Seen::unpack`] reads back.
    pub fn pack(&self, p: &mut Packer) {
        for name in self.names {
            p.opt(name, |p, (id, name)| {
                p.text(id);
                p.text(name);
            });
        }
        p.opt(self.path, |p, (id, path)| {
            p.i64(id);
            p.text(path);
        });
        p.opt(self.session.as_ref(), |p, s| s.pack(p));
    }

    pub fn unpack(r: &mut Unpacker<'a>) -> Option<Seen<'a>> {
        let name = |r: &mut Unpacker<'a>| Some((r.text()?, r.text()?));
        let names = [r.opt(name)?, r.opt(name)?];
        let path = r.opt(|r| Some((r.i64()?, r.text()?)))?;
        let session = r.opt(SessionEvent::unpack)?;
        Some(Seen { names, path, session })
    }
}

/// Builds [`SessionReport`]s from events fed one at a time (any order).
#[derive(Default)]
pub struct Collector {
    ids: Option<BTreeSet<String>>,
    timelines: bool,
    builder: SessionBuilder,
    steps: BTreeMap<String, Vec<Step>>,
    // Looked up for every event read (foldhash: see `crate::collections`).
    started: FastSet<String>,
    names: FastMap<String, String>,
    paths: FastMap<i64, String>,
}

impl Collector {
    /// Reports of the sessions `ids` with their timelines, or of every session without
    /// timelines (`None`).
    pub fn new(ids: Option<&BTreeSet<String>>) -> Collector {
        Collector { ids: ids.cloned(), timelines: ids.is_some(), ..Collector::default() }
    }

    /// Reports of every session without what the sessions were asked and decided (prompt,
    /// context, plan, decisions): the traceability matrix of a report, in less memory.
    pub fn summaries() -> Collector {
        Collector { builder: SessionBuilder::summaries(), ..Collector::default() }
    }

    /// Keep every session's timeline too.
    pub fn with_timelines(mut self) -> Collector {
        self.timelines = true;
        self
    }

    pub fn add(&mut self, ev: &AuditEvent) {
        if let Some(sid) = self.take(&Seen::of(ev)) {
            self.builder.content(ev);
            if self.timelines {
                self.steps.entry(sid.to_string()).or_default().push(step(ev));
            }
        }
    }

    /// What a summary needs of an event (see [`Collector::summaries`]); the id of its session,
    /// when that is collected.
    pub fn take<'s>(&mut self, seen: &Seen<'s>) -> Option<&'s str> {
        for (id, name) in seen.names.iter().flatten() {
            if !self.names.contains_key(*id) {
                self.names.insert(id.to_string(), name.to_string());
            }
        }
        if let Some((id, path)) = seen.path {
            self.paths.entry(id).or_insert_with(|| path.to_string());
        }
        let ev = seen.session.as_ref()?;
        let sid = ev.session_id;
        if self.ids.as_ref().is_some_and(|ids| !ids.contains(sid)) {
            return None;
        }
        if ev.event_name == "duo_flow_started" && !self.started.contains(sid) {
            self.started.insert(sid.to_string());
        }
        self.builder.take(ev);
        Some(sid)
    }

    /// The reports, in order of start time and id.
    pub fn finish(self) -> Vec<SessionReport> {
        self.finish_where(|_, _| true)
    }

    /// [`Collector::finish`], of the sessions for which `keep(started_at, resources)` holds.
    pub fn finish_where(self, keep: impl Fn(Timestamp, &[FlowSessionResource]) -> bool) -> Vec<SessionReport> {
        let Collector { builder, mut steps, started, names, paths, .. } = self;
        let mut out: Vec<SessionReport> = builder
            .finish_where(keep)
            .into_iter()
            .map(|(session, resources)| {
                let name = |id: String| names.get(&id).map_or(id.clone(), |n| format!("{n} ({id})"));
                let mut timeline = steps.remove(&session.session_id).unwrap_or_default();
                timeline.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
                let findings = integrity(&session, started.contains(&session.session_id), resources.len());
                SessionReport {
                    initiated_by: (session.user_id != 0).then(|| name(session.user_id.to_string())),
                    acted_as: session.service_account_id.map(|s| name(s.to_string())),
                    project_path: session.project_id.and_then(|p| paths.get(&p).cloned()),
                    has_start: started.contains(&session.session_id),
                    findings,
                    timeline,
                    resources,
                    session,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (a.session.started_at, &a.session.session_id).cmp(&(b.session.started_at, &b.session.session_id))
        });
        out
    }
}

/// Full reports of the sessions `ids` (all sessions when `ids` is `None`, without timelines).
pub fn reports(stream: EventStream, ids: Option<&BTreeSet<String>>) -> Result<Vec<SessionReport>, SourceError> {
    let mut c = Collector::new(ids);
    for rec in stream {
        c.add(&rec?.event);
    }
    Ok(c.finish())
}

/// A web link to a resource on a GitLab instance, when the project path is known.
pub fn link(base: &str, project: &str, kind: &str, id: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    match kind {
        "Commit" => Some(format!("{base}/{project}/-/commit/{id}")),
        "MergeRequest" => Some(format!("{base}/{project}/-/merge_requests/{id}")),
        "Issue" | "WorkItem" => Some(format!("{base}/{project}/-/issues/{id}")),
        "Pipeline" => Some(format!("{base}/{project}/-/pipelines/{id}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(
            link("https://gitlab.example.com/", "acme/api", "Commit", "abc1234").as_deref(),
            Some("https://gitlab.example.com/acme/api/-/commit/abc1234")
        );
        assert_eq!(link("https://g", "a/b", "Note", "1"), None);
    }
}
