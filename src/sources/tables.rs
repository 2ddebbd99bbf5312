//! The tables the database sources read, as data: for each, its columns (GitLab's names), its
//! keyset order, and how a row becomes an event. Adding a table is one entry here. Each database
//! source selects a table's columns in the order its [`Mapping`] documents and hands the rows
//! over as [`Columns`], so PostgreSQL and ClickHouse rows of the same data give the same events.

use serde_json::{json, Map, Value};

use crate::checkpoint::Position;
use crate::model::{
    time, Actor, ActorClass, AiContext, AuditEvent, Authorization, Details, Origin, Outcome, Scope, Target,
};
use crate::sources::details;
use crate::sources::normalize::{enrich, GitlabEnvelope};

/// The type of a keyset column after the time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Int,
    Text,
}

/// How rows of a table become events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// `project_/group_/user_/instance_audit_events`: scope column and entity type.
    SplitAudit { scope_col: Option<&'static str>, entity_type: &'static str },
    /// Legacy `audit_events` (`entity_type`/`entity_id`, `created_at` without time zone).
    LegacyAudit,
    /// `ai_audit_events`.
    AiAudit,
    /// `flow_sessions`: one `duo_flow_started` event per row.
    FlowStart,
    /// `flow_sessions` rows with `completed_at`: `duo_flow_completed` / `duo_flow_failed`.
    FlowEnd,
    /// `flow_session_resources` (joined to their session).
    FlowResource,
    /// GitLab's `duo_workflows_workflows`: one `duo_flow_started` event per workflow.
    DuoWorkflow,
    /// GitLab's `duo_workflows_workflow_<kind>s` link tables: resources of a workflow.
    DuoLink { resource_type: &'static str, id_col: &'static str },
    /// GitLab's ClickHouse `agent_platform_sessions` (aggregated from `ai_usage_events`): one
    /// event per session and lifecycle time of event code `code` (see [`AGENT_SESSION_EVENTS`]).
    AgentSession { code: u16 },
}

/// `agent_platform_sessions`: usage event code, its `…_event_at` column, the event it becomes.
pub const AGENT_SESSION_EVENTS: &[(u16, &str, &str)] = &[
    (8, "created_event_at", "duo_flow_created"),
    (9, "started_event_at", "duo_flow_started"),
    (19, "finished_event_at", "duo_flow_completed"),
    (20, "dropped_event_at", "duo_flow_dropped"),
    (21, "stopped_event_at", "duo_flow_stopped"),
    (22, "resumed_event_at", "duo_flow_resumed"),
];

/// Columns of `agent_platform_sessions` (GitLab's ClickHouse schema).
pub const AGENT_SESSION_COLS: &[&str] = &[
    "user_id",
    "namespace_path",
    "project_id",
    "session_id",
    "flow_type",
    "environment",
    "created_event_at",
    "started_event_at",
    "finished_event_at",
    "dropped_event_at",
    "stopped_event_at",
    "resumed_event_at",
];

/// One table (or one event stream of a table) the source reads.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Table name (configurable tables are renamed before use).
    pub table: String,
    /// Name of the stream in checkpoints (the table name, or `table#end` for a second stream).
    pub stream: String,
    pub mapping: Mapping,
    /// The table name events carry in `origin.format` (and their ids derive from), when not the
    /// table's own: replicas of a PostgreSQL table name that table, so an event has one id
    /// whichever database it was read from.
    pub origin: Option<&'static str>,
    /// Time column of the keyset order.
    pub time_col: &'static str,
    /// Whether the time column is `timestamp without time zone` (UTC by convention).
    pub naive_time: bool,
    /// Tie-breaking key columns after the time column.
    pub key: &'static [(&'static str, KeyType)],
    /// Columns that must exist.
    pub required: &'static [&'static str],
    /// Columns used when present (NULL otherwise), with their SQL type for the NULL.
    pub optional: &'static [(&'static str, &'static str)],
}

const AUDIT_COLS: &[&str] = &[
    "id",
    "created_at",
    "author_id",
    "event_name",
    "details",
    "ip_address",
    "author_name",
    "entity_path",
    "target_details",
    "target_type",
    "target_id",
];
const FLOW_REQUIRED: &[&str] = &[
    "session_id",
    "user_id",
    "project_id",
    "flow_type",
    "input_prompt",
    "input_context",
    "started_at",
    "completed_at",
    "status",
    "authorization_verified_at",
    "authorization_method",
    "authorized_scopes",
    "plan_summary",
    "decisions_log",
];
pub const FLOW_OPTIONAL: &[(&str, &str)] = &[
    ("service_account_id", "bigint"),
    ("input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("model_provider", "text"),
    ("model_engine", "text"),
    ("correlation_id", "text"),
];
const ID_KEY: &[(&str, KeyType)] = &[("id", KeyType::Int)];

/// Every table the source knows, under GitLab's names.
pub fn catalog() -> Vec<TableSpec> {
    let split = |table: &str, scope_col: Option<&'static str>, entity_type: &'static str| TableSpec {
        table: table.to_string(),
        stream: table.to_string(),
        mapping: Mapping::SplitAudit { scope_col, entity_type },
        origin: None,
        time_col: "created_at",
        naive_time: false,
        key: ID_KEY,
        required: AUDIT_COLS,
        optional: &[],
    };
    let link =
        |table: &str, resource_type: &'static str, id_col: &'static str, required: &'static [&'static str]| TableSpec {
            table: table.to_string(),
            stream: table.to_string(),
            mapping: Mapping::DuoLink { resource_type, id_col },
            origin: None,
            time_col: "created_at",
            naive_time: false,
            key: ID_KEY,
            required,
            optional: &[],
        };
    let mut specs = vec![
        split("project_audit_events", Some("project_id"), "Project"),
        split("group_audit_events", Some("group_id"), "Group"),
        split("user_audit_events", Some("user_id"), "User"),
        split("instance_audit_events", None, "Instance"),
        TableSpec {
            table: "audit_events".into(),
            stream: "audit_events".into(),
            mapping: Mapping::LegacyAudit,
            origin: None,
            time_col: "created_at",
            naive_time: true,
            key: ID_KEY,
            required: &[
                "id",
                "created_at",
                "author_id",
                "entity_id",
                "entity_type",
                "details",
                "ip_address",
                "author_name",
                "entity_path",
                "target_details",
                "target_type",
                "target_id",
            ],
            optional: &[],
        },
        TableSpec {
            table: "ai_audit_events".into(),
            stream: "ai_audit_events".into(),
            mapping: Mapping::AiAudit,
            origin: None,
            time_col: "created_at",
            naive_time: false,
            key: ID_KEY,
            required: &[
                "id",
                "created_at",
                "cloud_event_id",
                "author_id",
                "project_id",
                "namespace_id",
                "event_name",
                "ip_address",
                "workflow_id",
                "details",
            ],
            optional: &[],
        },
        TableSpec {
            table: "flow_sessions".into(),
            stream: "flow_sessions".into(),
            mapping: Mapping::FlowStart,
            origin: None,
            time_col: "started_at",
            naive_time: false,
            key: &[("session_id", KeyType::Text)],
            required: FLOW_REQUIRED,
            optional: FLOW_OPTIONAL,
        },
        TableSpec {
            table: "flow_sessions".into(),
            stream: "flow_sessions#end".into(),
            mapping: Mapping::FlowEnd,
            origin: None,
            time_col: "completed_at",
            naive_time: false,
            key: &[("session_id", KeyType::Text)],
            required: FLOW_REQUIRED,
            optional: FLOW_OPTIONAL,
        },
        TableSpec {
            table: "flow_session_resources".into(),
            stream: "flow_session_resources".into(),
            mapping: Mapping::FlowResource,
            origin: None,
            time_col: "created_at",
            naive_time: false,
            key: &[
                ("flow_session_id", KeyType::Text),
                ("resource_type", KeyType::Text),
                ("resource_id", KeyType::Text),
                ("action", KeyType::Text),
            ],
            required: &["flow_session_id", "resource_type", "resource_id", "action", "created_at"],
            optional: &[],
        },
        TableSpec {
            table: "duo_workflows_workflows".into(),
            stream: "duo_workflows_workflows".into(),
            mapping: Mapping::DuoWorkflow,
            origin: None,
            time_col: "created_at",
            naive_time: false,
            key: ID_KEY,
            required: &[
                "id",
                "user_id",
                "project_id",
                "namespace_id",
                "created_at",
                "status",
                "goal",
                "workflow_definition",
            ],
            optional: &[
                ("service_account_id", "bigint"),
                ("tool_call_approvals", "jsonb"),
                ("title", "text"),
                ("summary", "text"),
            ],
        },
        link(
            "duo_workflows_workflow_merge_requests",
            "MergeRequest",
            "merge_request_id",
            &["id", "workflow_id", "merge_request_id", "project_id", "namespace_id", "created_at"],
        ),
        link(
            "duo_workflows_workflow_notes",
            "Note",
            "note_id",
            &["id", "workflow_id", "note_id", "project_id", "namespace_id", "created_at"],
        ),
        link(
            "duo_workflows_workflow_pipelines",
            "Pipeline",
            "pipeline_id",
            &["id", "workflow_id", "pipeline_id", "project_id", "namespace_id", "created_at"],
        ),
        link(
            "duo_workflows_workflow_work_items",
            "WorkItem",
            "work_item_id",
            &["id", "workflow_id", "work_item_id", "project_id", "namespace_id", "created_at"],
        ),
    ];
    // ClickHouse: group audit events as replicated from PostgreSQL (`siphon_…`) and as GitLab's
    // hierarchy view of them; both carry PostgreSQL's ids, so their events keep PostgreSQL's
    // origin (and ids). A database with both is read from `hierarchy_audit_events` only.
    for table in ["hierarchy_audit_events", "siphon_group_audit_events"] {
        let mut t = split(table, Some("group_id"), "Group");
        t.origin = Some("group_audit_events");
        specs.push(t);
    }
    for (code, col, _) in AGENT_SESSION_EVENTS {
        specs.push(TableSpec {
            table: "agent_platform_sessions".into(),
            stream: format!("agent_platform_sessions#{code}"),
            mapping: Mapping::AgentSession { code: *code },
            origin: None,
            time_col: col,
            naive_time: false,
            key: &[("session_id", KeyType::Int)],
            required: AGENT_SESSION_COLS,
            optional: &[],
        });
    }
    specs
}

/// The tables a database holds (`keep`), under the names the user gave (`--table GITLAB=ACTUAL`).
pub fn renamed(
    keep: impl Fn(&TableSpec) -> bool,
    renames: &std::collections::HashMap<String, String>,
) -> Vec<TableSpec> {
    catalog()
        .into_iter()
        .filter(|t| keep(t))
        .map(|mut t| {
            if let Some(actual) = renames.get(&t.table) {
                t.stream = t.stream.replacen(&t.table, actual, 1);
                t.table = actual.clone();
            }
            t
        })
        .collect()
}

impl TableSpec {
    /// `origin.format` of this table's events.
    pub fn origin_format(&self) -> String {
        self.origin.map_or_else(|| self.table.clone(), str::to_string)
    }

    /// The position of a row (its time column and key), read from the row.
    pub fn position<R: Columns + ?Sized>(&self, row: &R) -> Result<Position, ColumnError> {
        let time = row.time_req(self.time_index())?;
        let key = match self.mapping {
            Mapping::FlowStart | Mapping::FlowEnd => vec![json!(row.text_req(0)?)],
            Mapping::FlowResource => (0..4).map(|i| row.text_req(i).map(Value::String)).collect::<Result<_, _>>()?,
            _ => vec![json!(row.int_req(0)?)],
        };
        Ok(Position { time, key })
    }

    /// Where the keyset time column sits in the selected columns.
    pub fn time_index(&self) -> usize {
        match self.mapping {
            Mapping::SplitAudit { .. } | Mapping::AiAudit | Mapping::LegacyAudit => 1,
            Mapping::FlowStart => 6,
            Mapping::FlowEnd => 7,
            Mapping::FlowResource => 4,
            Mapping::DuoWorkflow => 4,
            Mapping::DuoLink { .. } => 5,
            Mapping::AgentSession { .. } => 6,
        }
    }

    /// Turn a row into an event. `warn` receives details that could not be parsed.
    pub fn event<R: Columns + ?Sized>(&self, row: &R, warn: &mut dyn FnMut(String)) -> Result<AuditEvent, ColumnError> {
        let mut details_of = |text: Option<String>, id: &dyn std::fmt::Display| -> Details {
            let (map, why) = details::parse_or_raw(text.as_deref().unwrap_or(""));
            if let Some(why) = why {
                warn(format!("{} row {id}: details kept verbatim in {}: {why}", self.table, details::RAW_KEY));
            }
            map
        };
        let origin = |native: String| Origin { format: self.origin_format(), native_id: Some(native) };
        let ev = match self.mapping {
            Mapping::SplitAudit { .. } | Mapping::LegacyAudit => {
                let id = row.int_req(0)?;
                let details = details_of(row.text(4)?, &id);
                let env = GitlabEnvelope {
                    time: Some(row.time_req(1)?),
                    event_name: row.text(3)?,
                    author_id: Some(row.int_req(2)?),
                    author_name: row.text(6)?,
                    entity_type: Some(row.text_req(12)?),
                    entity_id: row.int(11)?,
                    entity_path: row.text(7)?,
                    target_type: row.text(9)?,
                    target_id: row.int(10)?.map(|i| i.to_string()),
                    target_details: row.text(8)?,
                    ip_address: row.text(5)?,
                };
                finish(env.into_event(origin(id.to_string()), details))
            }
            Mapping::AiAudit => {
                let id = row.int_req(0)?;
                let details = details_of(row.text(9)?, &id);
                let project = row.int(4)?;
                let namespace = row.int(5)?;
                let (entity_type, entity_id) = match (project, namespace) {
                    (Some(p), _) => (Some("Project".to_string()), Some(p)),
                    (None, Some(n)) => (Some("Namespace".to_string()), Some(n)),
                    _ => (None, None),
                };
                let env = GitlabEnvelope {
                    time: Some(row.time_req(1)?),
                    event_name: Some(row.text_req(6)?),
                    author_id: Some(row.int_req(3)?),
                    entity_type,
                    entity_id,
                    ip_address: row.text(7)?,
                    ..GitlabEnvelope::default()
                };
                let mut ev = finish(env.into_event(origin(id.to_string()), details));
                let ai = ev.ai_mut();
                ai.cloud_event_id = row.text(2)?;
                if let Some(w) = row.int(8)? {
                    ai.workflow_id = Some(w);
                }
                ev
            }
            Mapping::FlowStart | Mapping::FlowEnd => flow_event(self, row)?,
            Mapping::FlowResource => {
                let session = row.text_req(0)?;
                let kind = row.text_req(1)?;
                let rid = row.text_req(2)?;
                let action = row.text_req(3)?;
                let user = row.int(5)?;
                let name = if action == "created" { "duo_flow_resource_created" } else { "duo_flow_resource_modified" };
                let native = format!("{session}/{kind}/{rid}/{action}");
                let mut ev = AuditEvent::new(row.time_req(4)?, name.into(), Actor::default(), origin(native.clone()));
                ev.on_behalf_of = user.map(|u| Actor { id: Some(u.to_string()), name: None, class: ActorClass::User });
                ev.scope = row.int(6)?.map(|p| Scope { kind: "Project".into(), id: Some(p), path: None });
                ev.target = Some(Target { kind: Some(kind.clone()), id: Some(rid.clone()), details: None });
                ev.outcome = Outcome::Success;
                ev.ai = Some(AiContext {
                    session_id: Some(session.clone()),
                    flow_type: row.text(7)?,
                    ..AiContext::default()
                });
                ev.details = Details::from_map(&Map::from_iter([
                    ("session_id".to_string(), json!(session)),
                    ("resource_type".to_string(), json!(kind)),
                    ("resource_id".to_string(), json!(rid)),
                    ("action".to_string(), json!(action)),
                ]));
                ev.assign_id("");
                ev
            }
            Mapping::DuoWorkflow => {
                let id = row.int_req(0)?;
                let user = row.int_req(1)?;
                let sa = row.int(8)?;
                let status = row.int_req(5)? as i32;
                let flow_type = row.text_req(7)?;
                let mut ev = AuditEvent::new(
                    row.time_req(4)?,
                    "duo_flow_started".into(),
                    Actor::default(),
                    origin(id.to_string()),
                );
                set_identity(&mut ev, user, sa);
                ev.scope = scope_of(row.int(2)?, row.int(3)?);
                ev.outcome = Outcome::Success;
                ev.ai = Some(AiContext {
                    session_id: Some(id.to_string()),
                    workflow_id: Some(id),
                    flow_type: Some(flow_type.clone()),
                    ..AiContext::default()
                });
                let mut d = Map::new();
                d.insert("workflow_id".into(), json!(id));
                d.insert("flow_type".into(), json!(flow_type));
                d.insert("status".into(), json!(status));
                d.insert("status_name".into(), json!(workflow_status(status)));
                d.insert("user_id".into(), json!(user));
                if let Some(goal) = row.text(6)? {
                    d.insert("input_prompt".into(), json!(goal));
                }
                if let Some(a) = row.text(9)? {
                    d.insert("tool_call_approvals".into(), serde_json::from_str(&a).unwrap_or(Value::String(a)));
                }
                for (key, idx) in [("title", 10), ("summary", 11)] {
                    if let Some(v) = row.text(idx)? {
                        d.insert(key.into(), json!(v));
                    }
                }
                ev.details = Details::from_map(&d);
                ev.assign_id("");
                ev
            }
            Mapping::DuoLink { resource_type, .. } => {
                let id = row.int_req(0)?;
                let workflow = row.int_req(1)?;
                let rid = row.int_req(2)?;
                let mut ev = AuditEvent::new(
                    row.time_req(5)?,
                    "duo_flow_resource_created".into(),
                    Actor::default(),
                    origin(id.to_string()),
                );
                ev.scope = scope_of(row.int(3)?, row.int(4)?);
                ev.target = Some(Target { kind: Some(resource_type.into()), id: Some(rid.to_string()), details: None });
                ev.outcome = Outcome::Success;
                ev.ai = Some(AiContext {
                    session_id: Some(workflow.to_string()),
                    workflow_id: Some(workflow),
                    ..AiContext::default()
                });
                ev.details = Details::from_map(&Map::from_iter([
                    ("workflow_id".to_string(), json!(workflow)),
                    ("resource_type".to_string(), json!(resource_type)),
                    ("resource_id".to_string(), json!(rid.to_string())),
                    ("action".to_string(), json!("created")),
                ]));
                ev.assign_id("");
                ev
            }
            Mapping::AgentSession { code } => {
                // Columns: session_id, user_id, project_id, namespace_path, flow_type, environment, time.
                let session = row.int_req(0)?;
                let user = row.int_req(1)?;
                let name = AGENT_SESSION_EVENTS.iter().find(|(c, ..)| *c == code).map_or("duo_flow_event", |e| e.2);
                let mut ev = AuditEvent::new(
                    row.time_req(6)?,
                    name.into(),
                    Actor { id: Some(user.to_string()), name: None, class: ActorClass::User },
                    origin(format!("{session}/{code}")),
                );
                let namespace = row.text(3)?.filter(|p| !p.is_empty());
                ev.scope =
                    row.int(2)?.filter(|p| *p != 0).map(|p| Scope { kind: "Project".into(), id: Some(p), path: None });
                ev.outcome = if code == 20 { Outcome::Failure } else { Outcome::Success };
                let flow_type = row.text(4)?.filter(|f| !f.is_empty());
                ev.ai = Some(AiContext {
                    session_id: Some(session.to_string()),
                    workflow_id: Some(session),
                    flow_type: flow_type.clone(),
                    ..AiContext::default()
                });
                let mut d = Map::new();
                d.insert("session_id".into(), json!(session));
                d.insert("user_id".into(), json!(user));
                d.insert("event_code".into(), json!(code));
                if let Some(f) = flow_type {
                    d.insert("flow_type".into(), json!(f));
                }
                if let Some(n) = namespace {
                    d.insert("namespace_path".into(), json!(n));
                }
                if let Some(e) = row.text(5)?.filter(|e| !e.is_empty()) {
                    d.insert("environment".into(), json!(e));
                }
                ev.details = Details::from_map(&d);
                ev.assign_id("");
                ev
            }
        };
        Ok(ev)
    }
}

fn finish(result: Result<AuditEvent, String>) -> AuditEvent {
    let mut ev = result.expect("database rows always carry a time");
    ev.assign_id("");
    ev
}

fn scope_of(project: Option<i64>, namespace: Option<i64>) -> Option<Scope> {
    match (project, namespace) {
        (Some(p), _) => Some(Scope { kind: "Project".into(), id: Some(p), path: None }),
        (None, Some(n)) => Some(Scope { kind: "Namespace".into(), id: Some(n), path: None }),
        _ => None,
    }
}

/// The actor is the service account when one acted for the user (composite identity).
fn set_identity(ev: &mut AuditEvent, user: i64, service_account: Option<i64>) {
    let user_actor = Actor { id: Some(user.to_string()), name: None, class: ActorClass::User };
    match service_account {
        Some(sa) => {
            ev.actor = Actor { id: Some(sa.to_string()), name: None, class: ActorClass::ServiceAccount };
            ev.on_behalf_of = Some(user_actor);
        }
        None => ev.actor = user_actor,
    }
}

/// GitLab's `Ai::DuoWorkflows::Workflow` status values.
pub fn workflow_status(status: i32) -> &'static str {
    match status {
        0 => "created",
        1 => "running",
        2 => "paused",
        3 => "finished",
        4 => "failed",
        5 => "stopped",
        6 => "input_required",
        7 => "plan_approval_required",
        8 => "tool_call_approval_required",
        _ => "unknown",
    }
}

fn flow_event<R: Columns + ?Sized>(spec: &TableSpec, row: &R) -> Result<AuditEvent, ColumnError> {
    let session = row.text_req(0)?;
    let user = row.int_req(1)?;
    let project = row.int(2)?;
    let flow_type = row.text_req(3)?;
    let started = row.time_req(6)?;
    let completed = row.time(7)?;
    let status = row.text_req(8)?;
    let sa = row.int(14)?;
    let start = spec.mapping == Mapping::FlowStart;
    let (name, at, outcome, suffix) = if start {
        ("duo_flow_started", started, Outcome::Success, "started")
    } else if status == "failed" {
        ("duo_flow_failed", completed.unwrap_or(started), Outcome::Failure, "ended")
    } else {
        ("duo_flow_completed", completed.unwrap_or(started), Outcome::Success, "ended")
    };
    let mut ev = AuditEvent::new(
        at,
        name.into(),
        Actor::default(),
        Origin { format: spec.origin_format(), native_id: Some(format!("{session}/{suffix}")) },
    );
    set_identity(&mut ev, user, sa);
    ev.scope = project.map(|p| Scope { kind: "Project".into(), id: Some(p), path: None });
    ev.outcome = outcome;
    ev.correlation_id = row.text(19)?;
    let mut ai = AiContext {
        session_id: Some(session.clone()),
        flow_type: Some(flow_type.clone()),
        model_provider: row.text(17)?,
        model_engine: row.text(18)?,
        ..AiContext::default()
    };
    let mut d = Map::new();
    d.insert("session_id".into(), json!(session));
    d.insert("flow_type".into(), json!(flow_type));
    d.insert("status".into(), json!(status));
    d.insert("user_id".into(), json!(user));
    if start {
        let verified = row.time(9)?;
        let method = row.text(10)?;
        let scopes = row.texts(11)?;
        if verified.is_some() || method.is_some() || scopes.as_ref().is_some_and(|s| !s.is_empty()) {
            ai.authorization =
                Some(Authorization { verified_at: verified, method, scopes: scopes.unwrap_or_default() });
        }
        for (key, idx) in [("input_prompt", 4), ("plan_summary", 12)] {
            if let Some(v) = row.text(idx)? {
                d.insert(key.into(), json!(v));
            }
        }
        for (key, idx) in [("input_context", 5), ("decisions_log", 13)] {
            if let Some(v) = row.text(idx)? {
                d.insert(key.into(), serde_json::from_str(&v).unwrap_or(Value::String(v)));
            }
        }
    } else {
        let tin = row.int(15)?;
        let tout = row.int(16)?;
        ai.input_tokens = tin.and_then(|n| u64::try_from(n).ok());
        ai.output_tokens = tout.and_then(|n| u64::try_from(n).ok());
        ai.duration_ms = completed.and_then(|c| u64::try_from((c - started).num_milliseconds()).ok());
    }
    ev.ai = Some(ai);
    ev.details = Details::from_map(&d);
    enrich(&mut ev);
    ev.assign_id("");
    Ok(ev)
}

/// Typed access to the columns of one selected row, whatever the database.
pub trait Columns {
    /// An integer column (any width), or `None` for NULL.
    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError>;
    /// A text column (UUIDs and JSON selected as text), or `None` for NULL.
    fn text(&self, i: usize) -> Result<Option<String>, ColumnError>;
    /// A time column (UTC, microseconds), or `None` for NULL.
    fn time(&self, i: usize) -> Result<Option<time::Timestamp>, ColumnError>;
    /// An array of text, or `None` for NULL.
    fn texts(&self, i: usize) -> Result<Option<Vec<String>>, ColumnError>;

    fn int_req(&self, i: usize) -> Result<i64, ColumnError> {
        self.int(i)?.ok_or(ColumnError::Null(i))
    }
    fn text_req(&self, i: usize) -> Result<String, ColumnError> {
        self.text(i)?.ok_or(ColumnError::Null(i))
    }
    fn time_req(&self, i: usize) -> Result<time::Timestamp, ColumnError> {
        self.time(i)?.ok_or(ColumnError::Null(i))
    }
}

/// A selected column did not hold what its mapping expects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    /// NULL where the mapping needs a value.
    #[error("column {0} is NULL")]
    Null(usize),
    /// A value of another type, or text that does not parse.
    #[error("column {index}: {message}")]
    Type { index: usize, message: String },
}
