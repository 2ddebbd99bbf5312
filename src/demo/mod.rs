//! The deterministic demo-data generator: a realistic organisation's 90-day audit trail in the
//! three NDJSON shapes the tool reads, the flow-session tables, and a ground-truth file of the
//! suspicious patterns planted in it. Same seed and scale → byte-identical files.

mod org;
mod plant;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::time::{self, Timestamp};
use crate::model::{FlowSession, FlowSessionResource, SessionStatus};
use org::{ServiceAccount, User, PROJECTS};

/// Generator settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub scale: f64,
    /// Last day of the period.
    pub end: NaiveDate,
    pub days: u32,
    pub gzip: bool,
}

/// What was written.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub sessions: u64,
    pub resources: u64,
    pub users: usize,
    pub service_accounts: usize,
    pub projects: usize,
    pub anomalies: usize,
}

/// Errors writing the demo dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The output directory or a file in it could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The scale is not a positive number.
    #[error("scale must be a positive number (got {0})")]
    Scale(f64),
}

/// The event files, one per record shape.
pub const EVENT_FILES: [&str; 3] = ["agent_audit.log", "audit_events_stream.ndjson", "audit_json.log"];
const AGENT: usize = 0;
const STREAM: usize = 1;
const LOG: usize = 2;

/// What every event of one session shares.
struct FlowCtx {
    author: (i64, &'static str, &'static str),
    entity: (&'static str, i64, &'static str),
    common: Value,
    workflow_id: i64,
    flow_type: &'static str,
}

struct Pending {
    t: Timestamp,
    seq: u64,
    file: usize,
    line: String,
}

/// One planted anomaly in the ground truth.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Anomaly {
    pub kind: &'static str,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actor_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub session_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Plan of one flow session.
#[derive(Clone)]
pub(crate) struct SessionPlan {
    pub user: usize,
    pub sa: &'static ServiceAccount,
    pub project: usize,
    pub start: Timestamp,
    pub auth: Auth,
    pub prompt: Option<String>,
    pub extra_scopes: Vec<&'static str>,
    pub end: End,
    pub token_factor: u64,
    pub emit_start: bool,
    pub session_id: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    Verified,
    Missing,
    Late,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Natural,
    Fail,
    Stuck,
}

pub(crate) struct Gen {
    rng: ChaCha8Rng,
    cfg: Config,
    users: Vec<User>,
    pending: Vec<Pending>,
    seq: u64,
    stream_id: u64,
    workflow_id: i64,
    mr_iid: u64,
    note_id: u64,
    sessions: Vec<(FlowSession, Vec<FlowSessionResource>)>,
    anomalies: Vec<Anomaly>,
    /// No events inside this window (planted logging outage).
    gap: (Timestamp, Timestamp),
    events: u64,
}

fn ts(date: NaiveDate, secs: i64) -> Timestamp {
    date.and_time(NaiveTime::MIN).and_utc() + Duration::seconds(secs)
}

fn ms(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Gen {
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("{:x}", self.rng.gen_range(0..16u8))).collect()
    }

    fn uuid(&mut self) -> String {
        let mut b: [u8; 16] = self.rng.gen();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// Move times inside (or just before) the planted outage to after it.
    fn avoid_gap(&self, t: Timestamp) -> Timestamp {
        let (g0, g1) = self.gap;
        let lead = Duration::hours(2);
        if t >= g0 - lead && t < g1 {
            g1 + (t - (g0 - lead))
        } else {
            t
        }
    }

    fn emit(&mut self, t: Timestamp, file: usize, value: Value) {
        assert!(t < self.gap.0 || t >= self.gap.1, "demo generator put an event inside the planted outage");
        self.seq += 1;
        self.events += 1;
        self.pending.push(Pending { t, seq: self.seq, file, line: value.to_string() });
    }

    /// A line of GitLab's audit_json.log.
    fn log_event(
        &mut self,
        t: Timestamp,
        author: (i64, &str),
        entity: (&str, i64, &str),
        event: &str,
        ip: &str,
        extra: Value,
    ) {
        let mut obj = json!({
            "severity": "INFO", "time": ms(&t), "correlation_id": self.hex(26),
            "author_id": author.0, "author_name": author.1,
            "entity_type": entity.0, "entity_id": entity.1, "entity_path": entity.2,
            "event_name": event, "ip_address": ip,
        });
        merge(&mut obj, extra);
        self.emit(t, LOG, obj);
    }

    /// A GitLab streaming audit event payload.
    #[allow(clippy::too_many_arguments)]
    fn stream_event(
        &mut self,
        t: Timestamp,
        author: (i64, &str, &str),
        entity: (&str, i64, &str),
        event: &str,
        target: (&str, String, String),
        ip: Option<&str>,
        details: Value,
    ) {
        self.stream_id += 1;
        let mut d = json!({
            "author_name": author.1, "author_class": author.2,
            "target_type": target.0, "target_id": target.1, "target_details": target.2,
            "entity_path": entity.2,
        });
        if let Some(ip) = ip {
            d["ip_address"] = json!(ip);
        }
        merge(&mut d, details);
        let mut obj = json!({
            "id": self.stream_id.to_string(), "author_id": author.0, "author_name": author.1,
            "entity_id": entity.1, "entity_type": entity.0, "entity_path": entity.2,
            "target_type": target.0, "target_id": target.1, "target_details": target.2,
            "created_at": ms(&t), "event_type": event, "details": d,
        });
        if let Some(ip) = ip {
            obj["ip_address"] = json!(ip);
        }
        self.emit(t, STREAM, obj);
    }

    /// An agent service's audit log entry.
    #[allow(clippy::too_many_arguments)]
    fn agent_event(
        &mut self,
        t: Timestamp,
        action: &str,
        actor_type: &str,
        target: Value,
        outcome: &str,
        correlation: &str,
        extra: Value,
    ) {
        let actor_id = format!("{}-{}", if actor_type == "poll_cycle" { "poll" } else { "evt" }, self.hex(12));
        let mut obj = json!({
            "timestamp": time::format(&t), "event_type": "audit", "action": action,
            "actor": {"type": actor_type, "id": actor_id}, "target": target,
            "outcome": outcome, "correlation_id": correlation, "service": "duo-agent-runner",
        });
        merge(&mut obj, extra);
        self.emit(t, AGENT, obj);
    }

    /// A lifecycle event of one session: the session's common details plus `extra`, with a
    /// fresh `cloud_event_id`, as a streaming payload.
    fn flow_event(
        &mut self,
        t: Timestamp,
        ctx: &FlowCtx,
        event: &str,
        target: Option<(&str, String, String)>,
        ip: Option<&str>,
        extra: Value,
    ) {
        let mut d = ctx.common.clone();
        merge(&mut d, extra);
        d["cloud_event_id"] = json!(self.uuid());
        let target = target
            .unwrap_or_else(|| ("Ai::DuoWorkflows::Workflow", ctx.workflow_id.to_string(), ctx.flow_type.to_string()));
        self.stream_event(t, ctx.author, ctx.entity, event, target, ip, d);
    }

    fn user_time(&mut self, date: NaiveDate, u: usize) -> Timestamp {
        let start = self.users[u].start_hour as i64 * 3600;
        let t = ts(date, start + self.rng.gen_range(0..9 * 3600));
        self.avoid_gap(t)
    }

    fn day(&mut self, date: NaiveDate) {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let scale = self.cfg.scale;
        for u in 0..self.users.len() {
            let activity = self.users[u].activity;
            let p_active = if weekend { 0.06 } else { (0.55 + activity * 0.25).min(0.95) };
            if !self.rng.gen_bool(p_active) {
                continue;
            }
            let first = ts(date, self.users[u].start_hour as i64 * 3600 + self.rng.gen_range(0..1800));
            let t = self.avoid_gap(first);
            self.sign_in(t, u, None);
            let sessions = poisson(&mut self.rng, activity * 0.55 * scale);
            for _ in 0..sessions {
                let start = self.user_time(date, u);
                let plan = self.natural_plan(u, start);
                self.session(plan);
            }
            let misc = poisson(&mut self.rng, activity * 2.6 * scale);
            for _ in 0..misc {
                let t = self.user_time(date, u);
                self.misc_event(t, u);
            }
        }
        // CI deploy keys pulling code, around the clock.
        for _ in 0..poisson(&mut self.rng, if weekend { 6.0 } else { 18.0 } * scale) {
            let secs = self.rng.gen_range(0..86_400);
            let t = self.avoid_gap(ts(date, secs));
            let p = &PROJECTS[self.rng.gen_range(0..PROJECTS.len())];
            self.stream_event(
                t,
                (-3, "ci-deploy-key", "DeployKey"),
                ("Project", p.id, p.path),
                "repository_git_operation",
                ("Project", p.id.to_string(), p.path.to_string()),
                Some("10.0.8.15"),
                json!({"custom_message": {"protocol": "ssh", "action": "git-upload-pack"}}),
            );
        }
        // Occasional mistyped passwords.
        for _ in 0..poisson(&mut self.rng, 1.5) {
            let u = self.rng.gen_range(0..self.users.len());
            let t = self.user_time(date, u);
            let name = self.users[u].username.clone();
            let ip = self.users[u].ips[0].clone();
            self.log_event(
                t,
                (-1, &name),
                ("User", self.users[u].id, &name),
                "login_failed_with_standard_authentication",
                &ip,
                json!({"author_class": "Gitlab::Audit::UnauthenticatedAuthor", "custom_message": "Failed to login with STANDARD authentication", "failed_login": "STANDARD"}),
            );
        }
    }

    fn sign_in(&mut self, t: Timestamp, u: usize, ip: Option<&str>) {
        let user = &self.users[u];
        let (id, name, username) = (user.id, user.name.clone(), user.username.clone());
        let ip = ip.map(str::to_string).unwrap_or_else(|| user.ips[self.rng.gen_range(0..user.ips.len())].clone());
        let (event, with) = if self.rng.gen_bool(0.7) {
            ("authenticated_with_two_factor", "two-factor")
        } else {
            ("authenticated_with_password", "standard")
        };
        self.log_event(
            t,
            (id, &name),
            ("User", id, &username),
            event,
            &ip,
            json!({"with": with, "target_id": id, "target_type": "User", "target_details": username}),
        );
    }

    fn misc_event(&mut self, t: Timestamp, u: usize) {
        let user = &self.users[u];
        let (id, name, admin) = (user.id, user.name.clone(), user.admin);
        let p = &PROJECTS[user.projects[self.rng.gen_range(0..user.projects.len())]];
        let ip = user.ips[0].clone();
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=44 => {
                let action = if self.rng.gen_bool(0.6) { "git-upload-pack" } else { "git-receive-pack" };
                self.stream_event(
                    t,
                    (id, &name, "User"),
                    ("Project", p.id, p.path),
                    "repository_git_operation",
                    ("Project", p.id.to_string(), p.path.to_string()),
                    Some(&ip),
                    json!({"custom_message": {"protocol": "http", "action": action}}),
                );
            }
            45..=74 => {
                self.mr_iid += 1;
                let iid = self.mr_iid;
                self.log_event(t, (id, &name), ("Project", p.id, p.path), "merge_request_approval_operation", &ip,
                    json!({"target_type": "MergeRequest", "target_id": iid, "target_details": format!("!{iid}"), "custom_message": "Approved merge request"}));
            }
            75..=84 => {
                self.log_event(t, (id, &name), ("Project", p.id, p.path), "protected_branch_updated", &ip,
                    json!({"target_type": "ProtectedBranch", "target_id": p.id * 10, "target_details": "main", "custom_message": "Changed push access levels"}));
            }
            85..=91 => {
                self.log_event(t, (id, &name), ("Project", p.id, p.path), "ci_variable_created", &ip,
                    json!({"target_type": "Ci::Variable", "target_details": "DEPLOY_REGION", "custom_message": "Added ci variable"}));
            }
            92..=95 => {
                let token_name = format!("token-{}", self.hex(6));
                self.log_event(t, (id, &name), ("User", id, &name), "personal_access_token_created", &ip,
                    json!({"target_type": "PersonalAccessToken", "target_details": token_name, "custom_message": "Created personal access token with scopes read_api"}));
            }
            _ if admin => {
                let other = self.rng.gen_range(0..self.users.len());
                let (oid, oname) = (self.users[other].id, self.users[other].username.clone());
                let group = org::GROUPS.iter().find(|g| g.0 == p.group_id).expect("project group exists");
                self.log_event(t, (id, &name), ("Group", group.0, group.1), "member_updated", &ip,
                    json!({"target_type": "User", "target_id": oid, "target_details": oname, "change": "access_level", "from": "Developer", "to": "Maintainer"}));
            }
            _ => {
                self.log_event(t, (id, &name), ("Project", p.id, p.path), "project_default_branch_updated", &ip,
                    json!({"target_type": "Project", "target_id": p.id, "target_details": p.path, "change": "default branch", "from": "master", "to": "main"}));
            }
        }
    }

    pub(crate) fn natural_plan(&mut self, u: usize, start: Timestamp) -> SessionPlan {
        let k = org::weighted(&mut self.rng, org::FLOW_WEIGHTS.iter().copied());
        let projects = &self.users[u].projects;
        let project = projects[self.rng.gen_range(0..projects.len())];
        let end = if self.rng.gen_bool(0.07) { End::Fail } else { End::Natural };
        SessionPlan {
            user: u,
            sa: &org::SERVICE_ACCOUNTS[k],
            project,
            start,
            auth: Auth::Verified,
            prompt: None,
            extra_scopes: Vec::new(),
            end,
            token_factor: 1,
            emit_start: true,
            session_id: None,
        }
    }

    fn prompt(&mut self, flow: &str, project: &str) -> String {
        let n = self.rng.gen_range(100..2000);
        match flow {
            "software_development" => [
                "Implement issue #{n}: add retries with backoff to the webhook client",
                "Refactor the {p} config loader and add unit tests",
                "Add pagination to the list endpoint described in issue #{n}",
            ][self.rng.gen_range(0..3)],
            "code_review" => [
                "Review merge request !{n} in {p} for correctness and security",
                "Review !{n}: check error handling and test coverage",
            ][self.rng.gen_range(0..2)],
            "fix_pipeline" => {
                ["Fix the failing test:unit job in pipeline #{n} of {p}", "Pipeline #{n} fails on lint; fix it"]
                    [self.rng.gen_range(0..2)]
            }
            "convert_to_gitlab_ci" => "Convert the Jenkinsfile of {p} to .gitlab-ci.yml",
            _ => "Create a merge request that resolves issue #{n} in {p}",
        }
        .replace("{n}", &n.to_string())
        .replace("{p}", project)
    }

    /// Emit one session's lifecycle, its agent-service entries, and its table rows.
    pub(crate) fn session(&mut self, plan: SessionPlan) -> String {
        let user = &self.users[plan.user];
        let (uid, uname) = (user.id, user.username.clone());
        let user_ip = user.ips[0].clone();
        let p = &PROJECTS[plan.project];
        let sa = plan.sa;
        let session_id = plan.session_id.clone().unwrap_or_else(|| self.uuid());
        let correlation = self.hex(32);
        self.workflow_id += 1;
        let workflow_id = self.workflow_id;
        let m = org::weighted(&mut self.rng, org::MODELS.iter().map(|m| m.2));
        let (provider, engine) = (org::MODELS[m].0, org::MODELS[m].1);
        let prompt = plan.prompt.clone().unwrap_or_else(|| self.prompt(sa.flow_type, p.path));
        let mut scopes: Vec<&str> = org::BASE_SCOPES.to_vec();
        scopes.extend(plan.extra_scopes.iter().copied());
        let author = (sa.id, sa.username, "User");
        let entity = ("Project", p.id, p.path);
        let common = json!({
            "session_id": session_id, "flow_type": sa.flow_type, "workflow_id": workflow_id,
            "user": {"id": uid, "username": uname}, "author_user_type": "service_account",
            "composite_identity": true, "correlation_id": correlation,
        });
        let ctx = FlowCtx { author, entity, common, workflow_id, flow_type: sa.flow_type };
        let mut t = plan.start;
        let verified_at = match plan.auth {
            Auth::Verified => Some(t - Duration::milliseconds(self.rng.gen_range(800..20_000))),
            Auth::Missing => None,
            Auth::Late => Some(t + Duration::seconds(self.rng.gen_range(120..900))),
        };
        let method = if self.rng.gen_bool(0.9) { "oauth_composite_identity" } else { "personal_access_token" };
        let webhook_triggered = matches!(sa.flow_type, "code_review" | "fix_pipeline");
        if webhook_triggered && plan.emit_start {
            self.agent_event(
                t - Duration::milliseconds(400),
                "webhook.hmac_validation",
                "webhook_event",
                json!({"resource_type": "webhook", "resource_id": format!("hook-{}", p.id), "project": p.path}),
                "success",
                &correlation,
                json!({"source_ip": "10.0.0.5"}),
            );
        }
        if plan.emit_start {
            let mut start = json!({
                "project": p.path, "input_summary": prompt, "model_provider": provider, "model_engine": engine,
            });
            if let Some(v) = verified_at {
                start["authorization_verified_at"] = json!(time::format(&v));
                start["authorization_method"] = json!(method);
                start["authorized_scopes"] = json!(scopes);
            }
            self.flow_event(t, &ctx, "duo_flow_started", None, Some(&user_ip), start);
        }
        let steps = self.rng.gen_range(3..7);
        let plan_steps: Vec<String> = (1..=steps)
            .map(|i| {
                format!(
                    "step {i}: {}",
                    [
                        "read the code",
                        "run the tests",
                        "edit files",
                        "write tests",
                        "open a merge request",
                        "summarize"
                    ][(i - 1) % 6]
                )
            })
            .collect();
        t += Duration::seconds(self.rng.gen_range(8..40));
        self.flow_event(
            t,
            &ctx,
            "duo_flow_plan_generated",
            None,
            None,
            json!({"plan_steps": plan_steps, "estimated_actions": steps + 2}),
        );
        let mut status = SessionStatus::Running;
        if plan.end == End::Natural && self.rng.gen_bool(0.08) {
            t += Duration::seconds(self.rng.gen_range(10..60));
            self.flow_event(
                t,
                &ctx,
                "duo_flow_paused",
                None,
                None,
                json!({"paused_at": time::format(&t), "paused_at_step": 2}),
            );
            t += Duration::seconds(self.rng.gen_range(300..3600));
            self.flow_event(t, &ctx, "duo_flow_resumed", None, None, json!({"resumed_at": time::format(&t)}));
        }
        // Resources.
        let kinds: Vec<&str> = match sa.flow_type {
            "software_development" => {
                let c = self.rng.gen_range(1..=3);
                let mut v = vec!["Commit"; c];
                v.push("MergeRequest");
                v
            }
            "code_review" => vec!["Note"; self.rng.gen_range(2..=5)],
            "fix_pipeline" => vec!["Commit", "Note"],
            "convert_to_gitlab_ci" => vec!["Commit", "MergeRequest"],
            _ => vec!["Commit", "MergeRequest", "Note"],
        };
        let n_created = if plan.end == End::Fail { self.rng.gen_range(0..kinds.len()) } else { kinds.len() };
        let mut resources = Vec::new();
        let mut decisions = Vec::new();
        let branch = format!("duo/{}-{}", sa.flow_type.replace('_', "-"), &session_id[..8]);
        for kind in kinds.iter().take(n_created) {
            t += Duration::seconds(self.rng.gen_range(20..200));
            let (rid, api) = match *kind {
                "Commit" => (self.hex(40), "gitlab.api.create_commit"),
                "MergeRequest" => {
                    self.mr_iid += 1;
                    (self.mr_iid.to_string(), "gitlab.api.create_merge_request")
                }
                _ => {
                    self.note_id += 1;
                    (self.note_id.to_string(), "gitlab.api.post_mr_note")
                }
            };
            self.agent_event(
                t - Duration::milliseconds(300),
                api,
                if webhook_triggered { "webhook_event" } else { "poll_cycle" },
                json!({"resource_type": kind, "resource_id": rid, "project": p.path, "project_id": p.id}),
                "success",
                &correlation,
                json!({"session_id": session_id}),
            );
            if *kind == "Commit" {
                self.agent_event(
                    t - Duration::milliseconds(100),
                    "git.push",
                    "poll_cycle",
                    json!({"resource_type": "branch", "project": p.path, "branch": branch, "commit_sha": rid}),
                    "success",
                    &correlation,
                    json!({"repo": p.path, "branch": branch, "commit_sha": rid, "session_id": session_id}),
                );
            }
            if *kind == "MergeRequest" && p.path.starts_with("acme/payments") {
                let at = t + Duration::seconds(2);
                decisions.push(json!({"at": time::format(&at), "event": "approval_gate.decision", "decision": "approval_required"}));
                self.agent_event(
                    at,
                    "approval_gate.decision",
                    "admin_action",
                    json!({"resource_type": "MergeRequest", "resource_id": rid, "project": p.path}),
                    "success",
                    &correlation,
                    json!({"decision": "approval_required", "required_approvals": 2, "session_id": session_id}),
                );
            }
            self.flow_event(
                t,
                &ctx,
                "duo_flow_resource_created",
                Some((kind, rid.clone(), format!("{kind} {rid}"))),
                None,
                json!({"resource_type": kind, "resource_id": rid, "action": "created"}),
            );
            resources.push(FlowSessionResource {
                flow_session_id: session_id.clone(),
                resource_type: kind.to_string(),
                resource_id: rid,
                action: "created".into(),
                created_at: t,
            });
        }
        // Token usage, reported one to three times.
        let (mut tin, mut tout) = (0u64, 0u64);
        for _ in 0..self.rng.gen_range(1..=3) {
            t += Duration::seconds(self.rng.gen_range(5..30));
            let i = self.rng.gen_range(1_500..14_000) * plan.token_factor;
            let o = self.rng.gen_range(150..2_200) * plan.token_factor;
            tin += i;
            tout += o;
            self.flow_event(t, &ctx, "duo_flow_token_usage", None, None,
                json!({"agent_name": format!("{}_agent", sa.flow_type), "input_tokens": i, "output_tokens": o, "model_provider": provider, "model_engine": engine}));
        }
        t += Duration::seconds(self.rng.gen_range(5..60));
        let duration = (t - plan.start).num_milliseconds() as f64 / 1000.0;
        let completed_at = match plan.end {
            End::Natural => {
                status = SessionStatus::Completed;
                self.flow_event(
                    t,
                    &ctx,
                    "duo_flow_completed",
                    None,
                    None,
                    json!({"resources_created": resources.len(), "duration": duration}),
                );
                Some(t)
            }
            End::Fail => {
                status = SessionStatus::Failed;
                let (cat, code, msg) = [
                    ("tool_error", "E_TOOL_EXEC", "Tool run_command exited with status 1"),
                    ("model_error", "E_MODEL_TIMEOUT", "Model request timed out after 120s"),
                    (
                        "permission_denied",
                        "E_FORBIDDEN",
                        "403 Forbidden: insufficient scope for push to protected branch",
                    ),
                ][self.rng.gen_range(0..3)];
                let failed_at_step = self.rng.gen_range(1..=steps);
                self.flow_event(t, &ctx, "duo_flow_failed", None, None,
                    json!({"error_category": cat, "error_code": code, "error_message": msg, "failed_at_step": failed_at_step, "resources_created_before_failure": resources.len()}));
                Some(t)
            }
            End::Stuck => None,
        };
        self.sessions.push((
            FlowSession {
                session_id: session_id.clone(),
                user_id: uid,
                project_id: Some(p.id),
                service_account_id: Some(sa.id),
                flow_type: sa.flow_type.to_string(),
                input_prompt: Some(prompt),
                input_context: Some(json!({"project": p.path, "branch": branch})),
                started_at: plan.start,
                completed_at,
                status,
                authorization_verified_at: verified_at,
                authorization_method: verified_at.map(|_| method.to_string()),
                authorized_scopes: if verified_at.is_some() {
                    scopes.iter().map(|s| s.to_string()).collect()
                } else {
                    Vec::new()
                },
                plan_summary: Some(plan_steps.join("; ")),
                decisions_log: (!decisions.is_empty()).then_some(Value::Array(decisions)),
                input_tokens: tin,
                output_tokens: tout,
                model_provider: Some(provider.to_string()),
                model_engine: Some(engine.to_string()),
                correlation_id: Some(correlation),
            },
            resources,
        ));
        session_id
    }

    fn provision(&mut self, t: Timestamp, admin: usize, sa: &ServiceAccount) {
        let (aid, aname) = (self.users[admin].id, self.users[admin].name.clone());
        let ip = self.users[admin].ips[0].clone();
        self.stream_event(t, (aid, &aname, "User"), ("Group", 11, "acme"), "duo_service_account_provisioned",
            ("User", sa.id.to_string(), sa.username.to_string()), Some(&ip),
            json!({"service_account_username": sa.username, "service_account_id": sa.id, "composite_identity": true,
                   "provisioned_by_group": "acme", "item_id": sa.item_id, "item_type": "flow", "item_name": sa.item_name,
                   "foundational_flow_reference": sa.flow_type, "item_consumer_id": sa.item_id + 1000, "access_level": "developer"}));
    }

    /// Write out every pending event earlier than `before`, in time order.
    fn drain(
        &mut self,
        before: Option<Timestamp>,
        files: &mut [BufWriter<Box<dyn Write>>],
        paths: &[PathBuf],
    ) -> Result<(), DemoError> {
        self.pending.sort_by_key(|p| (p.t, p.seq));
        let cut = before.map_or(self.pending.len(), |b| self.pending.partition_point(|p| p.t < b));
        for p in self.pending.drain(..cut) {
            let f = &mut files[p.file];
            f.write_all(p.line.as_bytes())
                .and_then(|_| f.write_all(b"\n"))
                .map_err(|source| DemoError::Io { path: paths[p.file].display().to_string(), source })?;
        }
        Ok(())
    }
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(e)) = (target, extra) {
        for (k, v) in e {
            t.insert(k, v);
        }
    }
}

/// A Poisson-distributed count (Knuth's method; fine for the small means used here).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let x = mean + mean.sqrt() * (rng.gen::<f64>() * 2.0 - 1.0) * 1.7;
        return x.max(0.0).round() as u32;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn create(path: &Path, gzip: bool) -> Result<BufWriter<Box<dyn Write>>, DemoError> {
    let f = File::create(path).map_err(|source| DemoError::Io { path: path.display().to_string(), source })?;
    let w: Box<dyn Write> =
        if gzip { Box::new(flate2::GzBuilder::new().write(f, flate2::Compression::best())) } else { Box::new(f) };
    Ok(BufWriter::with_capacity(1 << 20, w))
}

fn write_json_lines<T: Serialize>(path: &Path, rows: impl Iterator<Item = T>, gzip: bool) -> Result<(), DemoError> {
    let io = |source| DemoError::Io { path: path.display().to_string(), source };
    let mut w = create(path, gzip)?;
    for row in rows {
        serde_json::to_writer(&mut w, &row).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.into_inner().map_err(|e| io(e.into_error()))?.flush().map_err(io)
}

/// Generate the dataset into `out`: `events/` (three shapes), `tables/` (sessions, resources),
/// `truth.json`.
pub fn generate(cfg: &Config, out: &Path) -> Result<Summary, DemoError> {
    if !(cfg.scale > 0.0 && cfg.scale.is_finite()) {
        return Err(DemoError::Scale(cfg.scale));
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DemoError::Io { path, source }
    };
    let events_dir = out.join("events");
    let tables_dir = out.join("tables");
    for d in [&events_dir, &tables_dir] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let suffix = if cfg.gzip { ".gz" } else { "" };
    let paths: Vec<PathBuf> = EVENT_FILES.iter().map(|f| events_dir.join(format!("{f}{suffix}"))).collect();
    // Remove the other variant so a directory never holds both plain and compressed copies.
    for f in EVENT_FILES {
        let other = events_dir.join(if cfg.gzip { f.to_string() } else { format!("{f}.gz") });
        let _ = std::fs::remove_file(other);
    }
    let mut files = paths.iter().map(|p| create(p, cfg.gzip)).collect::<Result<Vec<_>, _>>()?;

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let users = org::users(&mut rng, 120);
    let period_start = cfg.end - Duration::days(cfg.days as i64 - 1);
    let gap_day = plant::weekday_on_or_after(period_start + Duration::days(cfg.days as i64 * 2 / 3));
    let gap = (ts(gap_day, 9 * 3600), ts(gap_day, 16 * 3600));
    let mut g = Gen {
        rng,
        cfg: cfg.clone(),
        users,
        pending: Vec::new(),
        seq: 0,
        stream_id: 0,
        workflow_id: 0,
        mr_iid: 0,
        note_id: 0,
        sessions: Vec::new(),
        anomalies: Vec::new(),
        gap,
        events: 0,
    };
    let progress = crate::logging::progress("days generated");
    for day in 0..cfg.days {
        let date = period_start + Duration::days(day as i64);
        if day < org::SERVICE_ACCOUNTS.len() as u32 {
            let t = ts(date, 8 * 3600 + 600);
            g.provision(t, 0, &org::SERVICE_ACCOUNTS[day as usize]);
        }
        g.day(date);
        plant::on_day(&mut g, date);
        let next = ts(date + Duration::days(1), 0);
        g.drain(Some(next), &mut files, &paths)?;
        progress.inc(1);
    }
    g.drain(None, &mut files, &paths)?;
    progress.finish_and_clear();
    for (f, p) in files.into_iter().zip(&paths) {
        f.into_inner()
            .map_err(|e| DemoError::Io { path: p.display().to_string(), source: e.into_error() })?
            .flush()
            .map_err(io(p))?;
    }
    g.anomalies.push(Anomaly {
        kind: "audit_stream_gap",
        description: "No audit events at all for seven weekday business hours (a logging outage)".into(),
        window: Some((time::format(&gap.0), time::format(&gap.1))),
        ..Anomaly::default()
    });

    g.sessions.sort_by(|a, b| (a.0.started_at, &a.0.session_id).cmp(&(b.0.started_at, &b.0.session_id)));
    let resources = g.sessions.iter().map(|s| s.1.len() as u64).sum();
    write_json_lines(
        &tables_dir.join(format!("flow_sessions.ndjson{suffix}")),
        g.sessions.iter().map(|s| &s.0),
        cfg.gzip,
    )?;
    write_json_lines(
        &tables_dir.join(format!("flow_session_resources.ndjson{suffix}")),
        g.sessions.iter().flat_map(|s| s.1.iter()),
        cfg.gzip,
    )?;
    let summary = Summary {
        events: g.events,
        sessions: g.sessions.len() as u64,
        resources,
        users: g.users.len(),
        service_accounts: org::SERVICE_ACCOUNTS.len() + 1,
        projects: PROJECTS.len(),
        anomalies: g.anomalies.len(),
    };
    let truth = json!({
        "generator": {"seed": cfg.seed, "scale": cfg.scale, "days": cfg.days,
                      "from": time::format(&ts(period_start, 0)), "to": time::format(&ts(cfg.end + Duration::days(1), 0))},
        "summary": &summary,
        "anomalies": &g.anomalies,
    });
    let truth_path = out.join("truth.json");
    let mut text = serde_json::to_string_pretty(&truth).expect("truth serializes");
    text.push('\n');
    std::fs::write(&truth_path, text).map_err(io(&truth_path))?;
    Ok(summary)
}
