//! What the heuristics ask of the data, so the same heuristic runs over events read into memory
//! ([`Dataset`](super::Dataset)) or inside ClickHouse ([`super::clickhouse`]), where only the
//! small answers and the evidence rows leave the server.
//!
//! Three kinds of question: counts grouped by a few [`Key`]s ([`Store::group`]); the rows
//! matching [`Filter`]s ([`Store::rows`], for evidence and the few rows some heuristics look at
//! one by one); and two summaries — agent sessions ([`Store::sessions`]) and secrets in prompts
//! ([`Store::secrets`]). Rows are addressed by index; [`Store::row`] gives one.

use chrono::{Datelike, TimeZone, Timelike, Weekday};

use super::dataset::{ts, Row, SecretHit};
use super::first_seen::Attr;
use super::Window;
use crate::analyze::aggregate::Cell;
use crate::model::ActorClass;

/// What a count is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The human an agent acted for, else the actor ([`Row::principal`]).
    Principal,
    /// The actor's id (else name).
    Actor,
    /// The UTC day (its start in microseconds).
    Day,
    /// The UTC hour (its start in microseconds).
    Hour,
    /// The calendar day in a time zone (`YYYY-MM-DD`).
    LocalDay(chrono_tz::Tz),
    Session,
    Attr(Attr),
    /// Each scope a session start was authorized for (a start counts once per scope).
    Scope,
}

/// A condition on rows; a list of them must all hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Principal(String),
    Actor(String),
    Session(String),
    /// The actor is a service account.
    ServiceAccount,
    /// Outside business hours `[start, end)` Monday–Friday in the time zone.
    OffHours(chrono_tz::Tz, u32, u32),
    /// On this calendar day (`YYYY-MM-DD`) in the time zone.
    LocalDay(chrono_tz::Tz, String),
    /// The attribute has this value.
    Attr(Attr, String),
    /// The event reports model tokens.
    Tokens,
    /// A failed agent flow, or a failed sign-in, signature or HMAC check.
    Failures,
    /// A service account was provisioned.
    Provisioning,
    /// An agent session started.
    Starts,
    /// A session start authorized for at least one of these scopes.
    AnyScope(Vec<String>),
    /// A resource (commit, merge request, note, …) of a session.
    Resources,
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Row) -> bool {
        let name = &*r.fact.event_name;
        match self {
            Filter::Principal(p) => r.principal() == p,
            Filter::Actor(a) => *r.fact.actor == **a,
            Filter::Session(s) => *r.fact.session == **s,
            Filter::ServiceAccount => r.class == ActorClass::ServiceAccount,
            Filter::OffHours(tz, start, end) => {
                let local = tz.from_utc_datetime(&ts(r.time()).naive_utc());
                let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
                weekend || local.hour() < *start || local.hour() >= *end
            }
            Filter::LocalDay(tz, day) => {
                tz.from_utc_datetime(&ts(r.time()).naive_utc()).date_naive().to_string() == *day
            }
            Filter::Attr(a, v) => a.of(r) == v,
            Filter::Tokens => r.fact.input_tokens + r.fact.output_tokens > 0,
            Filter::Failures => name == "duo_flow_failed" || is_auth_failure(r),
            Filter::Provisioning => super::service_accounts::is_provisioning(name),
            Filter::Starts => name == "duo_flow_started",
            Filter::AnyScope(set) => {
                r.scopes.split(super::dataset::SCOPE_SEP).any(|s| !s.is_empty() && set.iter().any(|x| x == s))
            }
            Filter::Resources => name.starts_with("duo_flow_resource_"),
        }
    }
}

/// A failed sign-in, signature or HMAC check.
pub fn is_auth_failure(r: &Row) -> bool {
    let n = &*r.fact.event_name;
    let auth = n.contains("login") || n.contains("authenticat") || n.contains("hmac") || n.contains("signature");
    auth && (super::Dataset::failed(r) || n.contains("failed"))
}

impl Key {
    /// The key's values for `r` (one, except [`Key::Scope`]: one per scope).
    pub fn of(&self, r: &Row) -> Vec<Cell> {
        let text = |s: &str| vec![Cell::Text(s.to_string())];
        match self {
            Key::Principal => text(r.principal()),
            Key::Actor => text(&r.fact.actor),
            Key::Day => vec![Cell::Int(crate::analyze::aggregate::Bucket::Day.start(r.time()))],
            Key::Hour => vec![Cell::Int(crate::analyze::aggregate::Bucket::Hour.start(r.time()))],
            Key::LocalDay(tz) => text(&tz.from_utc_datetime(&ts(r.time()).naive_utc()).date_naive().to_string()),
            Key::Session => text(&r.fact.session),
            Key::Attr(a) => text(a.of(r)),
            Key::Scope => r
                .scopes
                .split(super::dataset::SCOPE_SEP)
                .filter(|s| !s.is_empty())
                .map(|s| Cell::Text(s.into()))
                .collect(),
        }
    }
}

/// One group of a count: its key values, the number of rows and their model tokens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub keys: Vec<Cell>,
    pub count: u64,
    pub tokens: u64,
}

impl Group {
    /// Key `i` as text ("" when it is a number).
    pub fn text(&self, i: usize) -> &str {
        match &self.keys[i] {
            Cell::Text(s) => s,
            Cell::Int(_) => "",
        }
    }

    /// Key `i` as a number (0 when it is text).
    pub fn int(&self, i: usize) -> i64 {
        match &self.keys[i] {
            Cell::Int(n) => *n,
            Cell::Text(_) => 0,
        }
    }
}

/// What the events say about one agent session, for the lifecycle checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    /// The start event's row.
    pub start: Option<usize>,
    /// Whether the start record can hold an authorization at all (GitLab's ClickHouse session
    /// aggregate cannot).
    pub authorization_recorded: bool,
    /// Whether any authorization was recorded, and when it was verified.
    pub authorized: bool,
    pub authorized_at: Option<i64>,
    /// Completed, failed, stopped or dropped.
    pub ended: bool,
    /// Paused and not resumed since.
    pub paused: bool,
    pub resources: usize,
    /// The first resource's row (its principal speaks for a session without a start).
    pub first_resource: Option<usize>,
    /// The times of the first and last event.
    pub first: i64,
    pub last: i64,
}

/// Where heuristics get their data. Implementations must answer alike for the same events
/// (a test runs every heuristic both ways).
pub trait Store: Sync {
    /// Row `i`, as returned by [`Store::rows`], [`Store::sessions`] or [`Store::secrets`].
    fn row(&self, i: usize) -> Row;
    /// The rows within `window` passing every filter, in no particular order.
    fn rows(&self, filters: &[Filter], window: &Window) -> Vec<usize>;
    /// Counts of the rows within `window` passing every filter, grouped by `keys`, sorted.
    fn group(&self, keys: &[Key], filters: &[Filter], window: &Window) -> Vec<Group>;
    /// The groups of [`Store::group`] with more than `min_tokens` tokens.
    fn group_above(&self, keys: &[Key], filters: &[Filter], window: &Window, min_tokens: u64) -> Vec<Group> {
        let mut groups = self.group(keys, filters, window);
        groups.retain(|g| g.tokens > min_tokens);
        groups
    }
    /// The tokens of each group by `key` (empty key values left out), in no order.
    fn tokens(&self, key: Key, filters: &[Filter], window: &Window) -> Vec<u64> {
        let groups = self.group(&[key], filters, window);
        groups
            .into_iter()
            .filter(|g| g.keys.first().is_some_and(|k| k != &Cell::Text(String::new())))
            .map(|g| g.tokens)
            .collect()
    }
    /// Sessions whose events touch `window` and that may break a lifecycle rule: started in
    /// `window` without a timely authorization, or without a start or an end. A store may
    /// return more (the rules are checked again); sorted by id.
    fn sessions(&self, window: &Window) -> Vec<SessionSummary>;
    /// Secrets or personal data in the prompt text of events within `window`.
    fn secrets(&self, window: &Window) -> Vec<SecretHit>;
    /// The display name of an actor id, when any event gave one.
    fn name_of(&self, actor: &str) -> String;
}

/// Group rows locally (the in-memory store's [`Store::group`]).
pub fn group_rows<'a>(rows: impl Iterator<Item = &'a Row>, keys: &[Key]) -> Vec<Group> {
    let mut m: std::collections::HashMap<Vec<Cell>, (u64, u64)> = std::collections::HashMap::new();
    for r in rows {
        let mut combos: Vec<Vec<Cell>> = vec![Vec::with_capacity(keys.len())];
        for k in keys {
            let values = k.of(r);
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .collect();
        }
        for c in combos {
            let e = m.entry(c).or_default();
            e.0 += 1;
            e.1 += r.fact.input_tokens + r.fact.output_tokens;
        }
    }
    let mut out: Vec<Group> = m.into_iter().map(|(keys, (count, tokens))| Group { keys, count, tokens }).collect();
    out.sort();
    out
}
