//! What the heuristics ask of the data, so the same heuristic runs over events read into memory
//! ([`Dataset`](super::Dataset)) or inside ClickHouse ([`super::clickhouse`]), where only the
//! small answers and the evidence rows leave the server.
//!
//! Three kinds of question: counts grouped by a few [`Key`]s ([`Store::group`]); the rows
//! matching [`Filter`]s ([`Store::rows`], for evidence and the few rows some heuristics look at
//! one by one); and two summaries — agent sessions ([`Store::sessions`]) and secrets in prompts
//! ([`Store::secrets`]). Rows are addressed by index; [`Store::row`] gives one.

use chrono::{Datelike, TimeZone, Timelike, Weekday};

use super::dataset::{ts, Row, SecretHit, Text};
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
    /// One of these sessions.
    Sessions(Vec<String>),
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
    /// Someone or something acted: not a webhook delivery or a poll cycle.
    Acting,
    /// A session start authorized for at least one of these scopes.
    AnyScope(Vec<String>),
    /// A resource (commit, merge request, note, …) of a session.
    Resources,
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Row) -> bool {
        let name = r.fact.name;
        match self {
            Filter::Principal(p) => r.principal() == p,
            Filter::Actor(a) => *r.fact.actor == **a,
            Filter::Sessions(list) => list.iter().any(|s| *r.fact.session == **s),
            Filter::ServiceAccount => r.fact.class == ActorClass::ServiceAccount,
            Filter::OffHours(tz, start, end) => {
                let local = local_time(*tz, r.time());
                let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
                weekend || local.hour() < *start || local.hour() >= *end
            }
            Filter::LocalDay(tz, day) => local_time(*tz, r.time()).date().to_string() == *day,
            Filter::Attr(a, v) => a.of(r) == v,
            Filter::Tokens => r.tokens() > 0,
            Filter::Failures => name.has(NameKind::FLOW_FAILED) || is_auth_failure(r),
            Filter::Provisioning => name.has(NameKind::PROVISIONING),
            Filter::Starts => name.has(NameKind::START),
            Filter::Acting => !matches!(r.fact.class, ActorClass::WebhookEvent | ActorClass::PollCycle),
            Filter::AnyScope(set) => {
                r.extra().scopes.split(super::dataset::SCOPE_SEP).any(|s| !s.is_empty() && set.iter().any(|x| x == s))
            }
            Filter::Resources => name.has(NameKind::RESOURCE),
        }
    }
}

/// The wall-clock time in `tz` at `t` (UTC microseconds). The zone's offset is looked up once
/// per UTC hour on each thread, not for every row (chrono_tz's search of the zone's transitions
/// on each of millions of rows was a third of `off_hours`): an hour that starts and ends on one
/// offset has it throughout (no zone changes its offset twice within an hour); any other hour,
/// one with a transition, is converted instant by instant.
pub fn local_time(tz: chrono_tz::Tz, t: i64) -> chrono::NaiveDateTime {
    use crate::analyze::aggregate::Bucket;
    use chrono::Offset;
    thread_local! {
        /// The zone and UTC hour (its start) last asked on this thread, and its one offset
        /// (seconds) if any.
        static LAST: std::cell::Cell<Option<(chrono_tz::Tz, i64, Option<i32>)>> = const { std::cell::Cell::new(None) };
    }
    let offset_at = |us: i64| tz.offset_from_utc_datetime(&ts(us).naive_utc()).fix().local_minus_utc();
    let hour = Bucket::Hour.start(t);
    let offset = LAST.with(|last| match last.get() {
        Some((z, h, offset)) if z == tz && h == hour => offset,
        _ => {
            let (start, end) = (offset_at(hour), offset_at(hour.saturating_add(Bucket::Hour.micros() - 1)));
            let offset = (start == end).then_some(start);
            last.set(Some((tz, hour, offset)));
            offset
        }
    });
    let offset = offset.unwrap_or_else(|| offset_at(t));
    ts(t).naive_utc() + chrono::Duration::seconds(i64::from(offset))
}

/// A failed sign-in, signature or HMAC check.
pub fn is_auth_failure(r: &Row) -> bool {
    let name = r.fact.name;
    name.has(NameKind::AUTH) && (super::Dataset::failed(r) || name.has(NameKind::SAYS_FAILED))
}

/// What the filters ask of an event's name, answered once for each distinct name when a row is
/// kept ([`NameKind::of`]) instead of for every row of every question: the substring searches of
/// [`Filter::Failures`] over the millions of rows of the baseline and range were a fifth of the
/// heuristics' time (`perf`). The same conditions are spelled in SQL for ClickHouse
/// (`clickhouse::filter_sql`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameKind(u8);

impl NameKind {
    /// `duo_flow_failed`.
    pub const FLOW_FAILED: NameKind = NameKind(1);
    /// A sign-in, authentication, HMAC or signature check.
    pub const AUTH: NameKind = NameKind(1 << 1);
    /// The name says it failed.
    pub const SAYS_FAILED: NameKind = NameKind(1 << 2);
    /// A service account was provisioned ([`is_provisioning`](super::service_accounts::is_provisioning)).
    pub const PROVISIONING: NameKind = NameKind(1 << 3);
    /// `duo_flow_started`.
    pub const START: NameKind = NameKind(1 << 4);
    /// A session's resource (`duo_flow_resource_…`).
    pub const RESOURCE: NameKind = NameKind(1 << 5);

    /// What the name `n` is.
    pub fn of(n: &str) -> NameKind {
        let auth = n.contains("login") || n.contains("authenticat") || n.contains("hmac") || n.contains("signature");
        let bit = |what: NameKind, is: bool| if is { what.0 } else { 0 };
        NameKind(
            bit(NameKind::FLOW_FAILED, n == "duo_flow_failed")
                | bit(NameKind::AUTH, auth)
                | bit(NameKind::SAYS_FAILED, n.contains("failed"))
                | bit(NameKind::PROVISIONING, super::service_accounts::is_provisioning(n))
                | bit(NameKind::START, n == "duo_flow_started")
                | bit(NameKind::RESOURCE, n.starts_with("duo_flow_resource_")),
        )
    }

    pub fn has(self, what: NameKind) -> bool {
        self.0 & what.0 != 0
    }
}

/// Which values of a grouping's first key [`Store::group_each`] hands on (SQL's `HAVING`, over
/// the first key): asked once per value — as text, "" for a number — with its number of groups
/// and of rows. The heuristics keep the actors with enough history out of hundreds of
/// thousands (poll cycles, one day each): a store in memory leaves the others out before
/// sorting the groups, most of the work, and — told that no value rarer than some number of
/// rows is kept ([`Having::none_rarer_than`]) — before counting them.
#[derive(Clone, Copy)]
pub struct Having<'h> {
    keep: &'h dyn Fn(&str, usize, u64) -> bool,
    /// No value with fewer rows than this in the whole store is kept.
    rarest: u64,
}

impl<'h> Having<'h> {
    /// The values `keep` accepts, given their number of groups and of rows.
    pub fn new(keep: &'h dyn Fn(&str, usize, u64) -> bool) -> Having<'h> {
        Having { keep, rarest: 0 }
    }

    /// The same, saying that it accepts no value with fewer than `n` rows in the whole store (in
    /// any window, whatever the filters): true of a count threshold on the grouping's own rows
    /// or groups (`days >= 5`), and of a list of values each known to have that many. A store in
    /// memory then leaves out, before counting, the rows of values it can tell are rarer (a
    /// text referenced fewer than `n` times): principal × day's two million poll cycles of one
    /// row each at `bench/anomalies.sh`'s scale 150. Builds with debug assertions check the claim.
    pub fn none_rarer_than(self, n: u64) -> Having<'h> {
        Having { rarest: n, ..self }
    }

    pub fn keeps(&self, value: &str, groups: usize, rows: u64) -> bool {
        (self.keep)(value, groups, rows)
    }

    /// Whether the value of a text key whose text is `t` is one no group is kept of: it has
    /// fewer rows in all than [`Having::none_rarer_than`] said (each row holding it holds a
    /// reference, so it has no more rows than references).
    fn rules_out(&self, t: &Text) -> bool {
        self.rarest > 1 && t.references().is_some_and(|n| (n as u64) < self.rarest)
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

/// A group of [`Store::group_each`], its key values borrowed (from the rows, in memory).
pub struct GroupRef<'a> {
    keys: [Kv<'a>; MAX_KEYS],
    pub count: u64,
    pub tokens: u64,
}

impl<'a> GroupRef<'a> {
    fn of(g: &'a Group) -> GroupRef<'a> {
        let mut keys = std::array::from_fn(|_| Kv::None);
        for (k, cell) in keys.iter_mut().zip(&g.keys) {
            *k = match cell {
                Cell::Text(s) => Kv::Str(s),
                Cell::Int(n) => Kv::Int(*n),
            };
        }
        GroupRef { keys, count: g.count, tokens: g.tokens }
    }

    /// Key `i` as text ("" when it is a number), as [`Group::text`].
    pub fn text(&self, i: usize) -> std::borrow::Cow<'a, str> {
        self.keys[i].text()
    }

    /// Key `i` as a number (0 when it is text), as [`Group::int`].
    pub fn int(&self, i: usize) -> i64 {
        match self.keys[i] {
            Kv::Int(n) => n,
            _ => 0,
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
    /// The first `n` rows (in order of time and id) within `window` passing every filter.
    fn first_rows(&self, filters: &[Filter], window: &Window, n: usize) -> Vec<(usize, Row)> {
        let mut rows: Vec<(usize, Row)> = self.rows(filters, window).into_iter().map(|i| (i, self.row(i))).collect();
        sort_in_order(&mut rows);
        rows.truncate(n);
        rows
    }
    /// Counts of the rows within `window` passing every filter, grouped by `keys`, sorted.
    fn group(&self, keys: &[Key], filters: &[Filter], window: &Window) -> Vec<Group>;
    /// The groups of [`Store::group`], in its order, handed to `each` one at a time and
    /// borrowed: a caller that keeps only part of each group never holds them all, and copies
    /// only the texts it keeps (principal × day is hundreds of thousands of groups, most of them
    /// one poll cycle's, which no heuristic keeps). Only the groups whose first key's value
    /// `having` accepts are handed on (see [`Having`]).
    fn group_each(
        &self,
        keys: &[Key],
        filters: &[Filter],
        window: &Window,
        having: Having,
        each: &mut dyn FnMut(GroupRef),
    ) {
        let groups = self.group(keys, filters, window);
        // Sorted: the groups of a first key's value are next to each other.
        for run in groups.chunk_by(|a, b| a.keys.first() == b.keys.first()) {
            let first = if run[0].keys.is_empty() { "" } else { run[0].text(0) };
            if having.keeps(first, run.len(), run.iter().map(|g| g.count).sum()) {
                run.iter().for_each(|g| each(GroupRef::of(g)));
            }
        }
    }
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
    /// Where to start reading to see every event of the sessions that have events at or after
    /// `at` (microseconds) within `window`: the first event of the earliest session with events
    /// both before `at` and from it on, else `at`. A store that cannot tell says `window.from`.
    fn whole_sessions_from(&self, _at: i64, window: &Window) -> i64 {
        window.from.timestamp_micros()
    }
    /// Secrets or personal data in the prompt text of events within `window`.
    fn secrets(&self, window: &Window) -> Vec<SecretHit>;
    /// The display name of an actor id, when any event gave one.
    fn name_of(&self, actor: &str) -> String;
    /// How many questions it answers at once to advantage: a store in memory uses every core;
    /// a database answers one at a time (each of its questions already uses the server's cores).
    fn workers(&self) -> usize {
        1
    }
    /// Say which actors [`Store::name_of`] will be asked about (a store may look them up at once).
    fn names_for(&self, _actors: &[String]) {}
    /// The first question that failed, once (a store that cannot fail has none): the answers
    /// since then were empty and must not be reported.
    fn failure(&self) -> Option<crate::sources::SourceError> {
        None
    }
}

/// A key value borrowed from a row, as a group hands it over and while groups are sorted
/// (24 bytes). While counting, a value is a number instead (see [`Key::slot`]).
#[derive(Clone)]
enum Kv<'a> {
    None,
    /// One of the rows' texts.
    Text(&'a Text),
    Str(&'a str),
    Int(i64),
    /// A calendar day, which becomes its text (`YYYY-MM-DD`).
    Date(chrono::NaiveDate),
}

impl<'a> Kv<'a> {
    /// The order of the cells they become ([`Cell`]: numbers before texts); `None` first.
    fn cmp_as_cell(&self, other: &Kv) -> std::cmp::Ordering {
        let rank = |k: &Kv| match k {
            Kv::None => 0,
            Kv::Int(_) => 1,
            Kv::Text(_) | Kv::Str(_) | Kv::Date(_) => 2,
        };
        let four_digits = |d: &chrono::NaiveDate| (0..=9999).contains(&d.year());
        match (self, other) {
            (Kv::Int(a), Kv::Int(b)) => a.cmp(b),
            (Kv::Text(a), Kv::Text(b)) => (***a).cmp(&***b),
            (Kv::Str(a), Kv::Str(b)) => a.cmp(b),
            // Their texts sort as the days do while years have four digits.
            (Kv::Date(a), Kv::Date(b)) if four_digits(a) && four_digits(b) => a.cmp(b),
            (Kv::Text(_) | Kv::Str(_) | Kv::Date(_), Kv::Text(_) | Kv::Str(_) | Kv::Date(_)) => {
                self.text().cmp(&other.text())
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// A text's first 16 bytes as a number (zeros after its end): texts whose numbers differ
    /// order as them; equal numbers say nothing. 0 for other values.
    fn prefix(&self) -> u128 {
        let bytes = match self {
            Kv::Text(t) => t.as_bytes(),
            Kv::Str(s) => s.as_bytes(),
            Kv::None | Kv::Int(_) | Kv::Date(_) => return 0,
        };
        let mut head = [0u8; 16];
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        u128::from_be_bytes(head)
    }

    /// The value as text, borrowed from the rows where it is theirs.
    fn text(&self) -> std::borrow::Cow<'a, str> {
        match *self {
            Kv::Text(t) => std::borrow::Cow::Borrowed(t),
            Kv::Str(s) => std::borrow::Cow::Borrowed(s),
            Kv::Date(d) => std::borrow::Cow::Owned(d.to_string()),
            Kv::None | Kv::Int(_) => std::borrow::Cow::Borrowed(""),
        }
    }

    fn cell(self) -> Option<Cell> {
        match self {
            Kv::None => None,
            Kv::Text(t) => Some(Cell::Text(t.to_string())),
            Kv::Str(s) => Some(Cell::Text(s.to_string())),
            Kv::Int(n) => Some(Cell::Int(n)),
            Kv::Date(d) => Some(Cell::Text(d.to_string())),
        }
    }
}

impl Key {
    /// The key's value for `r` as one number while counting (not for [`Key::Scope`], whose
    /// values are numbered as they come): a text by its address — the rows grouped are those of
    /// one dataset, whose equal texts are one allocation (see [`Text`]), so counting never reads
    /// a text, only sorting the groups does; a time bucket by its start; a calendar day by its
    /// number ([`Key::value`] turns each back).
    fn slot(&self, r: &Row) -> u64 {
        use crate::analyze::aggregate::Bucket;
        match self {
            Key::Day => Bucket::Day.start(r.time()) as u64,
            Key::Hour => Bucket::Hour.start(r.time()) as u64,
            Key::LocalDay(tz) => local_time(*tz, r.time()).date().num_days_from_ce() as i64 as u64,
            Key::Scope => 0,
            Key::Principal | Key::Actor | Key::Session | Key::Attr(_) => self.text(r).addr() as u64,
        }
    }

    /// Whether its values are texts.
    fn is_text(&self) -> bool {
        !matches!(self, Key::Day | Key::Hour | Key::LocalDay(_))
    }

    /// The row's text a text key counts by.
    fn text<'a>(&self, r: &'a Row) -> &'a Text {
        match self {
            Key::Principal => r.principal_text(),
            Key::Actor => &r.fact.actor,
            Key::Session => &r.fact.session,
            Key::Attr(a) => a.text_of(r),
            Key::Day | Key::Hour | Key::LocalDay(_) | Key::Scope => Text::empty(),
        }
    }

    /// The value whose [`Key::slot`] is `slot`, taken from `r` (a row of its group) where it is
    /// a text; a scope from the grouping's `scopes`.
    fn value<'a>(&self, slot: u64, r: &'a Row, scopes: &[&'a str]) -> Kv<'a> {
        match self {
            Key::Day | Key::Hour => Kv::Int(slot as i64),
            Key::LocalDay(_) => {
                Kv::Date(chrono::NaiveDate::from_num_days_from_ce_opt(slot as i64 as i32).expect("a day's own number"))
            }
            Key::Scope => Kv::Str(scopes[slot as usize]),
            Key::Principal | Key::Actor | Key::Session | Key::Attr(_) => Kv::Text(self.text(r)),
        }
    }
}

/// At most this many keys per group.
const MAX_KEYS: usize = 3;

/// The rows `indexes` of `data`, earliest first; ties by event id, so every store gives the same
/// order.
pub fn in_order(data: &dyn Store, indexes: impl IntoIterator<Item = usize>) -> Vec<(usize, Row)> {
    let mut rows: Vec<(usize, Row)> = indexes.into_iter().map(|i| (i, data.row(i))).collect();
    sort_in_order(&mut rows);
    rows
}

/// Sort rows earliest first, ties by event id (the order of [`in_order`]).
fn sort_in_order(rows: &mut [(usize, Row)]) {
    rows.sort_by(|a, b| (a.1.time(), &a.1.id).cmp(&(b.1.time(), &b.1.id)));
}

/// Group rows locally (the in-memory store's [`Store::group`]): keys are borrowed from the rows
/// while counting (no text is copied per row).
pub fn group_rows<'a>(rows: impl Iterator<Item = &'a Row>, keys: &[Key]) -> Vec<Group> {
    let mut out = Vec::new();
    group_rows_each(rows, keys, None, &mut |g| {
        let keys = g.keys.into_iter().filter_map(Kv::cell).collect();
        out.push(Group { keys, count: g.count, tokens: g.tokens })
    });
    out
}

/// [`group_rows`], each group whose first key `having` accepts (all without) handed to `each`
/// in order, borrowed (the in-memory [`Store::group_each`]).
pub fn group_rows_each<'a>(
    rows: impl Iterator<Item = &'a Row>,
    keys: &[Key],
    having: Option<Having>,
    each: &mut dyn FnMut(GroupRef<'a>),
) {
    // One map entry per group (hundreds of thousands for principal × day): an entry's key is as
    // wide as the grouping, not as the widest grouping.
    match keys.len() {
        0 | 1 => group_by::<1>(rows, keys, having, each),
        2 => group_by::<2>(rows, keys, having, each),
        3 => group_by::<3>(rows, keys, having, each),
        n => panic!("at most {MAX_KEYS} keys, not {n}"),
    }
}

/// A group while counting: a row of it (its texts are read from there), its count and tokens.
#[derive(Clone, Copy)]
struct Tally<'a> {
    row: &'a Row,
    count: u64,
    tokens: u64,
}

/// A group while sorting: its texts' [`Kv::prefix`]es, its key's slots, its tally.
type Counted<'a, const N: usize> = ([u128; N], [u64; N], Tally<'a>);

fn group_by<'a, const N: usize>(
    rows: impl Iterator<Item = &'a Row>,
    keys: &[Key],
    having: Option<Having>,
    each: &mut dyn FnMut(GroupRef<'a>),
) {
    // A map entry is 40 bytes for two keys (a key of numbers, a row, two counts): groupings of
    // millions of rows make millions of groups (principal × day: one per poll cycle), and
    // entries of the values themselves took 64.
    let mut m: crate::collections::FastMap<[u64; N], Tally<'a>> = Default::default();
    // The rows of values `having` rules out unseen, counted only to check its claim.
    let mut ruled_out: crate::collections::FastMap<[u64; N], Tally<'a>> = Default::default();
    // The scopes met, numbered in order (a scope is part of a text: no address stands for it).
    let (mut scopes, mut scope_ids) = (Vec::<&'a str>::new(), crate::collections::FastMap::<&'a str, u64>::default());
    let scope = keys.iter().position(|k| *k == Key::Scope);
    let first_text = keys.first().filter(|k| k.is_text());
    for r in rows {
        let into = match (having, first_text) {
            (Some(h), Some(k)) if h.rules_out(k.text(r)) => {
                if !cfg!(debug_assertions) {
                    continue;
                }
                &mut ruled_out
            }
            _ => &mut m,
        };
        let mut key = [0u64; N];
        for (i, k) in keys.iter().enumerate() {
            key[i] = k.slot(r);
        }
        let tokens = r.tokens();
        let mut add = |key: [u64; N]| {
            let e = into.entry(key).or_insert(Tally { row: r, count: 0, tokens: 0 });
            e.count += 1;
            e.tokens += tokens;
        };
        match scope {
            None => add(key),
            Some(i) => {
                for s in r.extra().scopes.split(super::dataset::SCOPE_SEP).filter(|s| !s.is_empty()) {
                    key[i] = *scope_ids.entry(s).or_insert_with(|| {
                        scopes.push(s);
                        scopes.len() as u64 - 1
                    });
                    add(key);
                }
            }
        }
    }
    drop(scope_ids);
    if let Some(having) = having {
        // Each value of the first key asked once, with its groups and rows; the groups of the
        // values refused are gone before anything is sorted (or any text read for it).
        let first = |slot: u64, row: &'a Row| keys.first().map_or(Kv::None, |k| k.value(slot, row, &scopes)).text();
        for (slot, (groups, rows, row)) in firsts(&ruled_out) {
            assert!(
                !having.keeps(&first(slot, row), groups, rows),
                "a having kept a value rarer than it said it keeps"
            );
        }
        let kept: crate::collections::FastSet<u64> = firsts(&m)
            .into_iter()
            .filter(|(slot, (groups, rows, row))| having.keeps(&first(*slot, row), *groups, *rows))
            .map(|(slot, _)| slot)
            .collect();
        m.retain(|key, _| kept.contains(&key[0]));
    }
    let value = |c: usize, g: &Counted<'a, N>| keys[c].value(g.1[c], g.2.row, &scopes);
    // Sorted with the map already freed, in the order of the cells the keys become. The first
    // 16 bytes of each text are taken once, in a pass over the groups, and order most pairs
    // (hundreds of thousands of groups, one per poll cycle or principal and day): comparing
    // whole texts for every comparison of the sort read them from all over memory.
    let mut counted: Vec<Counted<'a, N>> = m
        .into_iter()
        .map(|(key, tally)| {
            let prefixes =
                std::array::from_fn(|c| keys.get(c).map_or(0, |k| k.value(key[c], tally.row, &scopes).prefix()));
            (prefixes, key, tally)
        })
        .collect();
    tracing::trace!(?keys, groups = counted.len(), "grouped");
    counted.sort_unstable_by(|a, b| {
        for (c, key) in keys.iter().enumerate() {
            // Equal slots are equal values (one text is one allocation, one scope one number);
            // texts whose prefixes differ are ordered without reading them (nor their rows).
            if a.1[c] == b.1[c] {
                continue;
            }
            let o = match (a.0[c], b.0[c]) {
                (p, q) if p != q && key.is_text() => p.cmp(&q),
                _ => value(c, a).cmp_as_cell(&value(c, b)),
            };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    for g in &counted {
        // Every key asked for has a value: they fill the first slots, as in `Group::keys`.
        let keys = std::array::from_fn(|c| if c < keys.len() { value(c, g) } else { Kv::None });
        each(GroupRef { keys, count: g.2.count, tokens: g.2.tokens });
    }
}

/// Each value of the first key of the groups `m`: its number of groups, its rows, and a row of it.
fn firsts<'a, const N: usize>(
    m: &crate::collections::FastMap<[u64; N], Tally<'a>>,
) -> crate::collections::FastMap<u64, (usize, u64, &'a Row)> {
    let mut firsts: crate::collections::FastMap<u64, (usize, u64, &'a Row)> = Default::default();
    for (key, tally) in m {
        let e = firsts.entry(key[0]).or_insert((0, 0, tally.row));
        (e.0, e.1) = (e.0 + 1, e.1 + tally.count);
    }
    firsts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::anomalies::dataset::{Dataset, RowParts};

    fn row(d: &mut Dataset, time: &str, principal: &str, scopes: &str, tokens: u64) -> usize {
        let t = crate::model::time::parse(time).unwrap().timestamp_micros();
        d.push_row(&RowParts {
            time: t,
            id: &format!("id-{time}"),
            actor: "sa",
            event_name: "duo_flow_started",
            ip: "",
            session: "",
            flow_type: "",
            outcome: crate::model::Outcome::Success,
            input_tokens: tokens,
            output_tokens: 0,
            project: "".into(),
            class: ActorClass::ServiceAccount,
            on_behalf_of: principal,
            model: "".into(),
            target: "",
            scopes: scopes.replace(',', &super::super::dataset::SCOPE_SEP.to_string()).into(),
        })
    }

    #[test]
    fn local_times_are_chrono_tzs_also_across_transitions() {
        let us = |s: &str| crate::model::time::parse(s).unwrap().timestamp_micros();
        // Berlin leaves summer time at 01:00 UTC on 2026-10-25; Lord Howe moves by half an hour
        // (02:00 local on 2026-10-04, 15:30 UTC the day before: within a UTC hour); Kathmandu is
        // +05:45 all year.
        let zones =
            [chrono_tz::Europe::Berlin, chrono_tz::Australia::Lord_Howe, chrono_tz::Asia::Kathmandu, chrono_tz::UTC];
        let mut times = vec![
            us("2026-10-25T00:59:59.999999Z"),
            us("2026-10-25T01:00:00Z"),
            us("2026-10-03T15:29:59.999999Z"),
            us("2026-10-03T15:30:00Z"),
        ];
        times.extend((0..2000).map(|i| us("2026-10-02T00:00:00Z") + i * 1_337_000_000));
        for tz in zones {
            // In order and back and forth: the hour kept from the row before is not always the row's.
            for t in times.iter().chain(times.iter().rev()) {
                assert_eq!(local_time(tz, *t), tz.from_utc_datetime(&ts(*t).naive_utc()).naive_local(), "{tz} {t}");
            }
        }
        assert_eq!(
            local_time(chrono_tz::Europe::Berlin, us("2026-10-25T00:59:59Z")).to_string(),
            "2026-10-25 02:59:59"
        );
        assert_eq!(
            local_time(chrono_tz::Europe::Berlin, us("2026-10-25T01:00:00Z")).to_string(),
            "2026-10-25 02:00:00"
        );
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(local_time(lord_howe, us("2026-10-03T15:29:59Z")).to_string(), "2026-10-04 01:59:59");
        assert_eq!(local_time(lord_howe, us("2026-10-03T15:30:00Z")).to_string(), "2026-10-04 02:30:00");
    }

    #[test]
    fn names_are_told_once_as_the_filters_read_them() {
        let all = [
            NameKind::FLOW_FAILED,
            NameKind::AUTH,
            NameKind::SAYS_FAILED,
            NameKind::PROVISIONING,
            NameKind::START,
            NameKind::RESOURCE,
        ];
        let is = |n: &str| all.iter().map(|w| NameKind::of(n).has(*w)).collect::<Vec<_>>();
        for (name, expected) in [
            ("duo_flow_failed", [true, false, true, false, false, false]),
            ("duo_flow_started", [false, false, false, false, true, false]),
            ("duo_flow_resource_commit", [false, false, false, false, false, true]),
            ("user_resource_duo_flow_resource_x", [false, false, false, false, false, false]),
            ("login_failed_with_otp_authentication", [false, true, true, false, false, false]),
            ("user_authenticated", [false, true, false, false, false, false]),
            ("webhook.hmac_validation", [false, true, false, false, false, false]),
            ("signature_verification_failed", [false, true, true, false, false, false]),
            ("service_account_provisioned", [false, false, false, true, false, false]),
            ("group_service_account_created", [false, false, false, true, false, false]),
            ("service_account_deleted", [false, false, false, false, false, false]),
            ("", [false; 6]),
        ] {
            assert_eq!(is(name), expected, "{name}");
        }
    }

    #[test]
    fn failures_are_failed_flows_and_failed_sign_ins() {
        let mut d = Dataset::default();
        let mut push = |name: &str, outcome| {
            d.push_row(&RowParts { event_name: name, outcome, ..RowParts::default() });
        };
        use crate::model::Outcome::{Failure, Success};
        push("duo_flow_failed", Success);
        push("user_authenticated", Failure);
        push("login_failed", Success);
        push("user_authenticated", Success);
        push("duo_flow_completed", Failure);
        let failing: Vec<bool> = (0..5).map(|i| Filter::Failures.matches(&d.rows[i])).collect();
        assert_eq!(failing, [true, true, true, false, false]);
        assert!(!is_auth_failure(&d.rows[0]) && is_auth_failure(&d.rows[1]));
    }

    #[test]
    fn a_key_value_stays_small() {
        assert_eq!(std::mem::size_of::<Kv>(), 24);
    }

    #[test]
    fn days_sort_as_their_texts() {
        let day = |y, m, d| Kv::Date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let days =
            [day(-1, 12, 31), day(0, 1, 1), day(999, 5, 5), day(2026, 10, 4), day(9999, 12, 31), day(10000, 1, 1)];
        for a in &days {
            for b in &days {
                assert_eq!(a.cmp_as_cell(b), a.text().cmp(&b.text()), "{} {}", a.text(), b.text());
            }
        }
    }

    #[test]
    fn groups_come_out_in_the_order_of_their_cells() {
        let mut d = Dataset::default();
        let mut expected: std::collections::BTreeMap<Vec<Cell>, (u64, u64)> = Default::default();
        // Principals whose text order differs from their numeric order, days across months.
        for (i, (principal, day)) in
            [("9", 3), ("10", 1), ("9", 1), ("B", 2), ("10", 1), ("abc", 30), ("9", 3), ("10", 12)].iter().enumerate()
        {
            let time = format!("2026-10-{day:02}T0{}:00:00Z", i % 10);
            row(&mut d, &time, principal, "", i as u64);
            let start = crate::model::time::parse(&format!("2026-10-{day:02}T00:00:00Z")).unwrap().timestamp_micros();
            let e = expected.entry(vec![Cell::Text(principal.to_string()), Cell::Int(start)]).or_default();
            e.0 += 1;
            e.1 += i as u64;
        }
        let expected: Vec<Group> =
            expected.into_iter().map(|(keys, (count, tokens))| Group { keys, count, tokens }).collect();
        assert_eq!(group_rows(d.rows.iter(), &[Key::Principal, Key::Day]), expected);
    }

    /// A store that answers `group_each` as the trait does, from `group` (as ClickHouse's).
    struct Grouping<'a>(&'a Dataset);

    impl Store for Grouping<'_> {
        fn row(&self, i: usize) -> Row {
            self.0.row(i)
        }
        fn rows(&self, filters: &[Filter], window: &Window) -> Vec<usize> {
            self.0.rows(filters, window)
        }
        fn group(&self, keys: &[Key], filters: &[Filter], window: &Window) -> Vec<Group> {
            self.0.group(keys, filters, window)
        }
        fn sessions(&self, window: &Window) -> Vec<SessionSummary> {
            self.0.sessions(window)
        }
        fn secrets(&self, window: &Window) -> Vec<crate::analyze::anomalies::dataset::SecretHit> {
            self.0.secrets(window)
        }
        fn name_of(&self, actor: &str) -> String {
            self.0.name_of(actor)
        }
    }

    /// A value is ruled out unseen when its text has fewer references than the rarest kept.
    #[test]
    fn values_rarer_than_a_having_keeps_are_ruled_out_by_their_references() {
        let keep_all = |_: &str, _, _| true;
        let having = Having::new(&keep_all).none_rarer_than(3);
        let t = Text::from("poll-1");
        assert!(having.rules_out(&t));
        let held = [t.clone(), t.clone()];
        assert!(!having.rules_out(&t), "three references");
        drop(held);
        assert!(having.rules_out(&t));
        assert!(!Having::new(&keep_all).rules_out(&t), "nothing said");
        assert!(!Having::new(&keep_all).none_rarer_than(1).rules_out(&t));
        assert!(!having.rules_out(Text::empty()), "the empty text counts no references");
    }

    /// A having that keeps a value rarer than it said it keeps is caught where assertions are on.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a having kept a value rarer than it said it keeps")]
    fn a_having_wrong_about_the_rarest_it_keeps_is_caught() {
        let mut d = Dataset::default();
        for p in ["a", "b", "b"] {
            row(&mut d, "2026-10-01T00:00:00Z", p, "", 1);
        }
        let day = |d: &str| crate::model::time::parse(d).unwrap().timestamp_micros();
        let window = Window::from_micros(day("2026-10-01T00:00:00Z"), day("2026-10-02T00:00:00Z"));
        let keep_all = |_: &str, _, _| true;
        d.group_each(&[Key::Principal], &[], &window, Having::new(&keep_all).none_rarer_than(3), &mut |_| {});
    }

    #[test]
    fn having_leaves_out_the_first_keys_it_refuses_in_memory_as_from_groups() {
        let mut d = Dataset::default();
        for (principal, day, hour) in
            [("a", 1, 1), ("b", 1, 2), ("a", 2, 3), ("c", 3, 4), ("a", 2, 5), ("b", 4, 6), ("", 5, 7), ("c", 3, 8)]
        {
            row(&mut d, &format!("2026-10-{day:02}T{hour:02}:00:00Z"), principal, "", 1);
        }
        let day = |d: u32| crate::model::time::parse(&format!("2026-10-{d:02}T00:00:00Z")).unwrap().timestamp_micros();
        let window = Window::from_micros(day(1), day(31));
        let each = |store: &dyn Store, having: Having| {
            let mut out = Vec::new();
            store.group_each(&[Key::Principal, Key::Day], &[], &window, having, &mut |g| {
                out.push((g.text(0).into_owned(), g.int(1), g.count));
            });
            out
        };
        let (a, b, c) = ([("a", 1, 1), ("a", 2, 2)], [("b", 1, 1), ("b", 4, 1)], [("c", 3, 2)]);
        // (principal, day of October, events) of each group handed on.
        type Groups<'a> = Vec<(&'a str, u32, u64)>;
        let cases: [(Having, Groups); 6] = [
            // Two days or more: a (days 1, 2), b (1, 4); not c (two events on one day).
            (Having::new(&|_, groups, _| groups >= 2), [&a[..], &b].concat()),
            // Two events or more: a, b, c.
            (Having::new(&|_, _, rows| rows >= 2), [&a[..], &b, &c].concat()),
            // The same, said so: the rows of rarer values are left out unseen.
            (Having::new(&|_, _, rows| rows >= 2).none_rarer_than(2), [&a[..], &b, &c].concat()),
            (Having::new(&|_, _, rows| rows >= 3).none_rarer_than(3), a.to_vec()),
            // Without a principal of its own, a row is its actor's ("sa").
            (Having::new(&|p, _, _| p == "sa" || p == "c"), [&c[..], &[("sa", 5, 1)]].concat()),
            (Having::new(&|_, _, _| false), vec![]),
        ];
        for (having, expected) in cases {
            let expected: Vec<(String, i64, u64)> =
                expected.iter().map(|(p, d, n)| (p.to_string(), day(*d), *n)).collect();
            assert_eq!(each(&d, having), expected);
            assert_eq!(each(&Grouping(&d), having), expected);
        }
        // b and c (two rows each: three references with the table of texts) are left out
        // unseen, a (three rows) is counted.
        let three = Having::new(&|_, _, rows| rows >= 3).none_rarer_than(4);
        assert_eq!(each(&d, three), a.iter().map(|(p, d, n)| (p.to_string(), day(*d), *n)).collect::<Vec<_>>());
        // A first key of numbers is asked about as "".
        let days: Vec<i64> = group_rows(d.rows.iter(), &[Key::Day, Key::Principal]).iter().map(|g| g.int(0)).collect();
        let asked = |store: &dyn Store| {
            let seen = std::sync::Mutex::new(Vec::new());
            store.group_each(
                &[Key::Day, Key::Principal],
                &[],
                &window,
                Having::new(&|v, groups, rows| {
                    seen.lock().unwrap().push((v.to_string(), groups, rows));
                    true
                }),
                &mut |_| {},
            );
            let mut seen = seen.into_inner().unwrap();
            seen.sort();
            seen
        };
        assert_eq!(asked(&d), asked(&Grouping(&d)));
        assert_eq!(asked(&d).len(), {
            let mut d = days.clone();
            d.dedup();
            d.len()
        });
        assert!(asked(&d).iter().all(|(v, _, _)| v.is_empty()));
    }

    #[test]
    fn texts_alike_in_their_first_bytes_and_scopes_order_as_texts() {
        let mut d = Dataset::default();
        let long = |n: u32| format!("poll-cycle-0000000-{n}");
        for (n, scopes) in [(10, "write,api"), (2, "api"), (10, "api"), (1, "read_api"), (2, "")] {
            row(&mut d, "2026-10-03T08:00:00Z", &long(n), scopes, u64::from(n));
        }
        let t = |s: &str| Cell::Text(s.into());
        let principals: Vec<(Cell, u64)> =
            group_rows(d.rows.iter(), &[Key::Principal]).into_iter().map(|g| (g.keys[0].clone(), g.count)).collect();
        assert_eq!(principals, vec![(t(&long(1)), 1), (t(&long(10)), 2), (t(&long(2)), 2)]);
        let g = group_rows(d.rows.iter(), &[Key::Scope, Key::Principal]);
        let keys: Vec<(String, String, u64, u64)> =
            g.iter().map(|g| (g.text(0).to_string(), g.text(1).to_string(), g.count, g.tokens)).collect();
        assert_eq!(
            keys,
            vec![
                ("api".into(), long(10), 2, 20),
                ("api".into(), long(2), 1, 2),
                ("read_api".into(), long(1), 1, 1),
                ("write".into(), long(10), 1, 10),
            ]
        );
    }

    #[test]
    fn groups_by_principal_scope_and_local_day() {
        let mut d = Dataset::default();
        row(&mut d, "2026-10-03T18:40:00Z", "7", "api,read_repository", 10);
        row(&mut d, "2026-10-03T19:00:00Z", "7", "api", 5);
        row(&mut d, "2026-10-03T08:00:00Z", "8", "", 1);
        let t = |s: &str| Cell::Text(s.into());
        let g = group_rows(d.rows.iter(), &[Key::Principal, Key::Scope]);
        assert_eq!(
            g,
            vec![
                Group { keys: vec![t("7"), t("api")], count: 2, tokens: 15 },
                Group { keys: vec![t("7"), t("read_repository")], count: 1, tokens: 10 },
            ]
        );
        // 18:40 UTC is 00:10 the next day in Kolkata (+05:30), 19:00 is 00:30.
        let kolkata = chrono_tz::Asia::Kolkata;
        let g = group_rows(d.rows.iter(), &[Key::LocalDay(kolkata)]);
        assert_eq!(
            g,
            vec![
                Group { keys: vec![t("2026-10-03")], count: 1, tokens: 1 },
                Group { keys: vec![t("2026-10-04")], count: 2, tokens: 15 },
            ]
        );
        let off = Filter::OffHours(kolkata, 9, 17);
        let passing: Vec<bool> = d.rows.iter().map(|r| off.matches(r)).collect();
        // 00:10 and 00:30 on a Sunday in Kolkata; 13:30 on a Saturday.
        assert_eq!(passing, vec![true, true, true]);
        // A Monday noon is within business hours; Saturday morning is not.
        let monday = row(&mut d, "2026-10-05T12:00:00Z", "8", "", 0);
        let utc = Filter::OffHours(chrono_tz::UTC, 7, 20);
        assert!(!utc.matches(&d.rows[monday]));
        assert!(utc.matches(&d.rows[2]));
        assert!(Filter::LocalDay(kolkata, "2026-10-04".into()).matches(&d.rows[0]));
        assert!(Filter::AnyScope(vec!["read_repository".into()]).matches(&d.rows[0]));
        assert!(!Filter::AnyScope(vec!["read_repository".into()]).matches(&d.rows[1]));
        assert_eq!(group_rows(d.rows.iter(), &[]), vec![Group { keys: vec![], count: 4, tokens: 16 }]);
    }
}
