//! What the tool knows about event names: GitLab's catalog of audit event types (category and
//! description) and the default severity table, which users can override.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{AuditEvent, Outcome};

/// GitLab's audit event types plus the agent-platform lifecycle events (name, category, description).
const EVENT_TYPES: &str = include_str!("event_types.tsv");

struct EventType {
    category: &'static str,
    description: &'static str,
}

fn event_types() -> &'static HashMap<&'static str, EventType> {
    static TABLE: OnceLock<HashMap<&'static str, EventType>> = OnceLock::new();
    TABLE.get_or_init(|| {
        EVENT_TYPES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let mut cols = l.splitn(3, '\t');
                let name = cols.next()?;
                let category = cols.next()?;
                let description = cols.next().unwrap_or("");
                Some((name, EventType { category, description }))
            })
            .collect()
    })
}

/// The category of an event name: GitLab's own for known audit event types; for agent
/// service actions (`gitlab.api.*`, `webhook.*`, `git.*`, `approval_gate.*`) a derived one.
pub fn category(event_name: &str) -> Option<&'static str> {
    if let Some(t) = event_types().get(event_name) {
        return Some(t.category);
    }
    let prefixes = [
        ("gitlab.api.", "agent_api"),
        ("webhook.", "agent_webhook"),
        ("git.", "agent_git"),
        ("approval_gate.", "agent_approval"),
        ("duo_flow_", "duo_agent_platform"),
    ];
    prefixes.iter().find(|(p, _)| event_name.starts_with(p)).map(|(_, c)| *c)
}

/// A human-readable name for an event: GitLab's description when the type is known,
/// otherwise the event name with separators turned into spaces.
pub fn display_name(event_name: &str) -> std::borrow::Cow<'static, str> {
    match event_types().get(event_name) {
        Some(t) if !t.description.is_empty() => std::borrow::Cow::Borrowed(t.description),
        _ => std::borrow::Cow::Owned(event_name.replace(['_', '.'], " ")),
    }
}

/// Default severities (0–10, CEF scale). Evaluated top to bottom; the first rule that matches
/// wins. Documented in README ("Severity"); users override per event name with `--severity`.
pub const DEFAULT_SEVERITY_RULES: &[(&str, u8)] = &[
    ("authentication or signature failure", 8),
    ("audit logging configuration removed or disabled", 8),
    ("service account provisioning, tokens, membership, roles, access levels", 7),
    ("any other failure (including duo_flow_failed)", 6),
    ("agent writes: resources created, git pushes, API writes, approval decisions", 4),
    ("successful authentication", 2),
    ("everything else", 3),
];

/// The severity table in force: the defaults plus user overrides. Results are cached per
/// event name and outcome (the category, the rules' other input, follows from the name).
#[derive(Debug, Default)]
pub struct SeverityTable {
    overrides: Vec<(String, u8)>,
    cache: std::sync::Mutex<HashMap<String, [Option<u8>; 3]>>,
}

impl Clone for SeverityTable {
    fn clone(&self) -> Self {
        SeverityTable { overrides: self.overrides.clone(), cache: Default::default() }
    }
}

/// A `--severity` override that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeverityError {
    /// The text is not `NAME=N`.
    #[error("severity override {0:?} is not NAME=N (for example duo_flow_failed=9)")]
    Syntax(String),
    /// The number is not 0 to 10.
    #[error("severity override {0:?}: the severity must be a whole number from 0 to 10")]
    Range(String),
}

impl SeverityTable {
    /// Add an override `NAME=N`; `NAME` may end in `*` to match a prefix.
    pub fn add_override(&mut self, spec: &str) -> Result<(), SeverityError> {
        let (name, level) = spec
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| SeverityError::Syntax(spec.to_string()))?;
        let level: u8 =
            level.trim().parse().ok().filter(|l| *l <= 10).ok_or_else(|| SeverityError::Range(spec.to_string()))?;
        self.overrides.push((name.trim().to_string(), level));
        self.cache.lock().expect("severity cache").clear();
        Ok(())
    }

    /// The severity of an event: the last matching override, else the default rules.
    pub fn severity(&self, ev: &AuditEvent) -> u8 {
        let slot = ev.outcome as usize;
        let mut cache = self.cache.lock().expect("severity cache");
        if let Some(level) = cache.get(ev.event_name.as_str()).and_then(|levels| levels[slot]) {
            return level;
        }
        let level = self.compute(ev);
        if cache.len() < 100_000 {
            cache.entry(ev.event_name.clone()).or_default()[slot] = Some(level);
        }
        level
    }

    fn compute(&self, ev: &AuditEvent) -> u8 {
        let name = ev.event_name.as_str();
        if let Some((_, level)) = self.overrides.iter().rev().find(|(pat, _)| glob_match(pat, name)) {
            return *level;
        }
        default_severity(ev)
    }
}

/// `pattern` equals `name`, or ends in `*` and is a prefix of it.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn default_severity(ev: &AuditEvent) -> u8 {
    let name = ev.event_name.as_str();
    let has = |needle: &str| name.contains(needle);
    let failed = ev.outcome == Outcome::Failure;
    let auth_related = has("login") || has("authenticat") || has("password") || has("hmac") || has("signature");
    if (auth_related && (failed || has("failed"))) || name.starts_with("login_failed") {
        return 8;
    }
    if ev.category.as_deref() == Some("audit_events")
        && (has("deleted") || has("destroyed") || has("removed") || has("disabled"))
    {
        return 8;
    }
    if has("service_account")
        || has("access_token")
        || has("deploy_token")
        || has("member")
        || has("role")
        || has("access_level")
        || has("admin")
        || has("permission")
    {
        return 7;
    }
    if failed || has("failed") {
        return 6;
    }
    if name == "duo_flow_resource_created"
        || name.starts_with("git.")
        || name.starts_with("approval_gate.")
        || ["post_", "create_", "update_", "delete_", "merge_"]
            .iter()
            .any(|verb| name.strip_prefix("gitlab.api.").is_some_and(|rest| rest.starts_with(verb)))
    {
        return 4;
    }
    if name.starts_with("authenticated_with_") {
        return 2;
    }
    3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{time, Actor, Origin};

    fn ev(name: &str, outcome: Outcome) -> AuditEvent {
        let mut e = AuditEvent::new(
            time::parse("2026-10-01T00:00:00Z").unwrap(),
            name.to_string(),
            Actor::default(),
            Origin::default(),
        );
        e.outcome = outcome;
        e
    }

    #[test]
    fn knows_gitlab_categories_and_agent_prefixes() {
        assert_eq!(category("member_created"), Some("compliance_management"));
        assert_eq!(category("gitlab.api.post_mr_note"), Some("agent_api"));
        assert_eq!(category("duo_flow_failed"), Some("duo_agent_platform"));
        assert_eq!(category("no_such_event"), None);
        assert_eq!(display_name("no_such.event"), "no such event");
    }

    #[test]
    fn default_table_orders_by_risk() {
        let t = SeverityTable::default();
        assert_eq!(t.severity(&ev("webhook.hmac_validation", Outcome::Failure)), 8);
        assert_eq!(t.severity(&ev("login_failed_with_standard_authentication", Outcome::Unknown)), 8);
        assert_eq!(t.severity(&ev("duo_service_account_provisioned", Outcome::Success)), 7);
        assert_eq!(t.severity(&ev("duo_flow_failed", Outcome::Failure)), 6);
        assert_eq!(t.severity(&ev("duo_flow_resource_created", Outcome::Success)), 4);
        assert_eq!(t.severity(&ev("gitlab.api.post_mr_note", Outcome::Success)), 4);
        assert_eq!(t.severity(&ev("gitlab.api.get_issue", Outcome::Success)), 3);
        assert_eq!(t.severity(&ev("authenticated_with_password", Outcome::Success)), 2);
        assert_eq!(t.severity(&ev("duo_flow_started", Outcome::Success)), 3);
    }

    #[test]
    fn overrides_win_last_first() {
        let mut t = SeverityTable::default();
        t.add_override("duo_flow_*=5").unwrap();
        t.add_override("duo_flow_failed=9").unwrap();
        assert_eq!(t.severity(&ev("duo_flow_failed", Outcome::Failure)), 9);
        assert_eq!(t.severity(&ev("duo_flow_started", Outcome::Success)), 5);
        assert_eq!(
            t.add_override("x=11").unwrap_err().to_string(),
            "severity override \"x=11\": the severity must be a whole number from 0 to 10"
        );
        assert!(matches!(t.add_override("=3"), Err(SeverityError::Syntax(_))));
    }
}
