//! The events of the baseline and range, read once: a compact row per event, per-session
//! summaries, and the secrets found in prompt text.

use std::borrow::Cow;

use super::draft::{Draft, Start};
use super::store::{group_rows, group_rows_each, Filter, Group, GroupRef, Having, Key, NameKind, SessionSummary};
use crate::analyze::aggregate::AggregateError;
use crate::collections::{FastMap, FastSet};
use crate::model::{ActorClass, AuditEvent, Outcome};
use crate::range::TimeRange;
use crate::sources::{EventStream, Prepare};

/// Text shared by every row that holds the same value (actors, event names, IPs, sessions,
/// … repeat across millions of events). A thin pointer: 8 bytes where `Arc<str>` takes 16,
/// and a row holds ten of them — the rows are most of a dataset's memory. One allocation holds
/// the count, the length and the bytes (`arcstr`), so reading a text (interning compares one
/// for every field of every row) is one pointer away, not two as through `Arc<Box<str>>`.
///
/// A dataset holds each distinct text once, and every empty text is one static value: among the
/// texts of one dataset, the same pointer means the same text ([`Text::same`]), which grouping
/// uses to count rows without reading their texts.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(arcstr::ArcStr);

/// The one empty text (no allocation; cloning it counts nothing).
static EMPTY: Text = EMPTY_TEXT;
const EMPTY_TEXT: Text = Text(arcstr::ArcStr::new());

impl Text {
    /// Whether both are the same allocation: for texts of one dataset, whether they are equal.
    pub fn same(&self, other: &Text) -> bool {
        arcstr::ArcStr::ptr_eq(&self.0, &other.0)
    }

    /// Whether the text is empty, told from the pointer (without reading the text).
    pub fn is_blank(&self) -> bool {
        self.same(&EMPTY)
    }

    /// The empty text.
    pub fn empty() -> &'static Text {
        &EMPTY
    }

    /// The allocation's address, which stands for the text among the texts of one dataset.
    pub fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// How many references to the text there are now (at least the rows holding it; `None` for
    /// the empty text, which counts none).
    pub fn references(&self) -> Option<usize> {
        arcstr::ArcStr::strong_count(&self.0)
    }
}

impl Default for Text {
    fn default() -> Text {
        EMPTY.clone()
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        if s.is_empty() {
            EMPTY.clone()
        } else {
            Text(arcstr::ArcStr::from(s))
        }
    }
}

/// An event's id: the 32 lowercase hex digits this tool derives as their 16 bytes (a third of
/// the room of the text and no allocation of its own), any other id as text. Compares and
/// prints as the text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum EventId {
    Hex([u8; 16]),
    Other(Text),
}

impl EventId {
    pub fn new(id: &str) -> EventId {
        // The length first: most other ids are told apart without reading them.
        match <&[u8; 32]>::try_from(id.as_bytes()) {
            Ok(digits) => lower_hex(digits).map_or_else(|| EventId::Other(Text::from(id)), EventId::Hex),
            Err(_) => EventId::Other(Text::from(id)),
        }
    }

    /// The id's text, to `f` (no allocation).
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            EventId::Hex(bytes) => {
                let mut text = [0u8; 32];
                hex::encode_to_slice(bytes, &mut text).expect("32 digits for 16 bytes");
                f(std::str::from_utf8(&text).expect("hex digits are ASCII"))
            }
            EventId::Other(text) => f(text),
        }
    }
}

/// Lowercase hex digit → its value; 16 for any other byte (uppercase digits would not print back
/// as they came).
const HEX_VALUE: [u8; 256] = {
    let mut table = [16u8; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The 16 bytes 32 lowercase hex digits spell. Every event of a report passes here on the
/// thread keeping the rows: one table lookup per digit, the check for a stray byte once at the
/// end (the `hex` crate's decoder, a match per digit and an early return, was 1.7% of a report's
/// CPU by `perf`).
fn lower_hex(digits: &[u8; 32]) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    let mut stray = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
        stray |= hi | lo;
        *byte = ((hi & 15) << 4) | (lo & 15);
    }
    (stray < 16).then_some(bytes)
}

impl Ord for EventId {
    fn cmp(&self, other: &EventId) -> std::cmp::Ordering {
        match (self, other) {
            // Bytes order as their lowercase hex digits do.
            (EventId::Hex(a), EventId::Hex(b)) => a.cmp(b),
            _ => self.with_text(|a| other.with_text(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &EventId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_text(|t| f.write_str(t))
    }
}

impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_text(|t| std::fmt::Debug::fmt(t, f))
    }
}

/// Rows in chunks of a fixed size: growing never moves what is stored (a `Vec` of millions of
/// rows copies them all, into freshly zeroed pages, each time it doubles).
///
/// Rows come as their sources give them: each file or table in time order, one after the
/// other. Where time goes back a new run starts ([`Rows::runs`]); within a run the rows of a
/// window are found by binary search, so a question about the baseline does not visit the
/// rows of the range (nor one about a day the other eighty-nine), only each run's two ends.
#[derive(Debug, Default)]
pub struct Rows {
    chunks: Vec<Vec<Row>>,
    len: usize,
    /// Where each run of rows in time order after the first starts.
    runs: Vec<usize>,
    /// Too many runs to be worth searching (rows given in no order): windows are scanned.
    unordered: bool,
}

const CHUNK: usize = 1 << 16;

/// More runs than one per this many rows: the rows are scanned instead.
const ROWS_PER_RUN: usize = 64;

impl Rows {
    pub fn push(&mut self, row: Row) {
        if let Some(last) = self.len.checked_sub(1).map(|i| self[i].time()) {
            if row.time() < last && !self.unordered {
                self.runs.push(self.len);
                if self.runs.len() > 16 && self.runs.len() * ROWS_PER_RUN > self.len {
                    self.unordered = true;
                    self.runs = Vec::new();
                }
            }
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed above").push(row);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Row> + '_ {
        self.chunks.iter().flatten()
    }

    /// The runs of rows in time order, as index ranges, in index order.
    fn runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let starts = std::iter::once(0).chain(self.runs.iter().copied());
        let ends = self.runs.iter().copied().chain(std::iter::once(self.len));
        starts.zip(ends).map(|(start, end)| start..end)
    }

    /// The first index in `run` (a run in time order) whose row is at or after `t`.
    fn first_at(&self, run: &std::ops::Range<usize>, t: i64) -> usize {
        let (mut lo, mut hi) = (run.start, run.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self[mid].time() < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The index ranges holding the rows within `[from, to)` (microseconds), in index order;
    /// with the rows in no order, all of them (the caller checks the time).
    fn ranges_within(&self, from: i64, to: i64) -> Vec<std::ops::Range<usize>> {
        if self.unordered {
            return std::iter::once(0..self.len).collect();
        }
        self.runs().map(|run| self.first_at(&run, from)..self.first_at(&run, to)).filter(|r| !r.is_empty()).collect()
    }

    /// The indexes of the rows within `[from, to)`, in index order (see [`Rows::ranges_within`]).
    pub fn within(&self, from: i64, to: i64) -> impl Iterator<Item = usize> + '_ {
        self.ranges_within(from, to).into_iter().flatten()
    }

    /// The rows within `[from, to)`, in index order (see [`Rows::ranges_within`]).
    pub fn rows_within(&self, from: i64, to: i64) -> impl Iterator<Item = &Row> + '_ {
        self.ranges_within(from, to).into_iter().flat_map(move |r| self.slices(r)).flatten()
    }

    /// The rows of `range` as slices of their chunks.
    fn slices(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &[Row]> + '_ {
        let (first, last) = (range.start / CHUNK, range.end.div_ceil(CHUNK));
        (first..last).map(move |c| {
            let base = c * CHUNK;
            let from = range.start.max(base) - base;
            let to = range.end.min(base + CHUNK) - base;
            &self.chunks[c][from..to]
        })
    }
}

impl std::ops::Index<usize> for Rows {
    type Output = Row;
    fn index(&self, i: usize) -> &Row {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// An event's aggregation facts ([`Fact`]) with interned text (its tokens are the row's
/// [`Extra`]).
#[derive(Debug, Clone)]
pub struct RowFact {
    pub time: i64,
    pub actor: Text,
    pub event_name: Text,
    pub ip: Text,
    pub session: Text,
    pub flow_type: Text,
    pub outcome: Outcome,
    /// The actor's kind (here, not in [`Row`]: it fits beside the outcome).
    pub class: ActorClass,
    /// What the event's name is to the filters (beside the outcome too).
    pub name: NameKind,
    pub project: Text,
}

/// One event, as the heuristics need it (104 bytes: millions of them are most of a dataset's
/// memory).
#[derive(Debug, Clone)]
pub struct Row {
    pub id: EventId,
    pub fact: RowFact,
    /// The human the actor acted for (id, else name).
    pub on_behalf_of: Text,
    /// What only some events say ([`Row::extra`]).
    extra: Option<Box<Extra>>,
}

/// What only some events say — model calls their tokens and model, session starts their
/// scopes, provisioning events the account provisioned (a fifth of the events of
/// `bench/anomalies.sh`) — beside the row instead of in every row: 32 bytes less for each of
/// the others (about 240 MB less at 9.1M events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `provider/engine` of the model, when the event names one.
    pub model: Text,
    /// The scopes a session start was authorized for, joined by [`SCOPE_SEP`].
    pub scopes: Text,
    /// The target's id where a heuristic reads it: the account a provisioning event provisioned.
    /// Other events' targets (their own merge requests, notes, commits: 1.6M of the 4.5M
    /// distinct texts at `bench/anomalies.sh`'s scale 150, read by nothing) are not kept.
    pub target: Text,
}

impl Default for Extra {
    fn default() -> Extra {
        Extra::NONE.clone()
    }
}

impl Extra {
    /// What events that say none of it have.
    const NONE: &'static Extra =
        &Extra { input_tokens: 0, output_tokens: 0, model: EMPTY_TEXT, scopes: EMPTY_TEXT, target: EMPTY_TEXT };
}

/// Joins a row's scopes.
pub const SCOPE_SEP: char = '\u{1f}';

/// What the store keeps of an event as a row, for [`Dataset::push_row`]: from an event
/// ([`Draft`]) or computed by a database (scopes joined by [`SCOPE_SEP`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowParts<'a> {
    pub time: i64,
    pub id: &'a str,
    pub actor: &'a str,
    pub event_name: &'a str,
    pub ip: &'a str,
    pub session: &'a str,
    pub flow_type: &'a str,
    pub outcome: Outcome,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub project: Cow<'a, str>,
    pub class: ActorClass,
    pub on_behalf_of: &'a str,
    /// `provider/engine`, or the engine alone.
    pub model: Cow<'a, str>,
    pub target: &'a str,
    pub scopes: Cow<'a, str>,
}

/// What the events say about one agent session, kept while reading: only what
/// [`SessionSummary`] reports, as flags, counts and rows (a dataset holds hundreds of thousands
/// of these: 522,017 at `bench/anomalies.sh`'s scale 150).
///
/// [`SessionSummary`]: super::store::SessionSummary
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The start event's row.
    pub start: Option<u32>,
    /// When its authorization was verified, if recorded; whether any authorization was.
    pub authorized_at: Option<i64>,
    pub authorized: bool,
    /// Whether the start record can hold an authorization at all: GitLab's ClickHouse
    /// session aggregate (`agent_platform_sessions`) has no authorization columns.
    pub authorization_recorded: bool,
    /// Completed, failed, stopped or dropped.
    pub ended: bool,
    /// Paused and not resumed since.
    pub paused: bool,
    /// Resources created, and the first one's row.
    pub resources: u32,
    pub first_resource: Option<u32>,
    /// The times of its earliest and latest rows (kept as rows come: reading them back from
    /// the rows is a random access each).
    pub first: i64,
    pub last: i64,
    /// Every row of the session (as `u32`: half the room of an index, for millions of rows).
    pub rows: Vec<u32>,
}

impl Session {
    /// What the event at `row`, named `name` at `time`, tells of its session (`start`: what it
    /// says of an authorization, read from session starts).
    fn note(&mut self, row: u32, time: i64, name: &str, start: &Start) {
        self.rows.push(row);
        (self.first, self.last) = (self.first.min(time), self.last.max(time));
        match name {
            START_NAME => {
                self.start.get_or_insert(row);
                self.authorization_recorded |= start.recorded;
                if start.authorized {
                    self.authorized = true;
                    self.authorized_at = start.authorized_at;
                }
            }
            "duo_flow_completed" | "duo_flow_failed" | "duo_flow_stopped" | "duo_flow_dropped" => self.ended = true,
            "duo_flow_paused" => self.paused = true,
            "duo_flow_resumed" => self.paused = false,
            name if name.starts_with("duo_flow_resource_") => {
                self.resources += 1;
                self.first_resource.get_or_insert(row);
            }
            _ => {}
        }
    }
}

/// The name of a session's start event, the one event whose [`Start`] a session reads.
pub const START_NAME: &str = "duo_flow_started";

/// What a dataset notes while the rows of one file are read, for the rows cache
/// ([`cache`](super::cache)): what the rows themselves do not hold.
#[derive(Debug, Default)]
pub struct Recording {
    /// The first row and secret of the file.
    pub rows_from: usize,
    pub secrets_from: usize,
    /// Session starts (by row, counted from the file's first) and what they say.
    pub starts: Vec<(u32, Start)>,
    /// Each actor id's first name in the file, in the order met.
    pub names: Vec<(String, String)>,
    named: FastSet<String>,
}

/// Secrets or personal data found in an event's prompt text.
#[derive(Debug, Clone)]
pub struct SecretHit {
    pub row: usize,
    /// Kinds found (`gitlab_token`, `email`, …), sorted, no repeats.
    pub kinds: Vec<&'static str>,
    /// The detail keys they were found in.
    pub fields: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Dataset {
    pub rows: Rows,
    /// Sessions by id (looked up for every row: hashed, not ordered).
    pub sessions: FastMap<Text, Session>,
    pub secrets: Vec<SecretHit>,
    names: FastMap<String, String>,
    interned: FastSet<Text>,
    /// The event names met ([`Dataset::intern_name`]).
    event_names: FastMap<Text, NameKind>,
    /// What the file being read gives beside its rows, while the rows cache wants it.
    pub recording: Option<Recording>,
}

impl Dataset {
    /// Read the stream's events within `within` (baseline and range together). A stream opened
    /// with [`Dataset::prepare`] brings events as their [`Draft`]s' bytes, one or more to a
    /// record; others, as events.
    pub fn read(stream: EventStream, within: &TimeRange) -> Result<Dataset, AggregateError> {
        let mut d = Dataset::default();
        d.read_more(stream, within, |_, _| {})?;
        Ok(d)
    }

    /// [`Dataset::read`] into this dataset, `each` told of every record and whether every event
    /// so far was within `within`; whether every event of the stream was (none left out).
    pub fn read_more(
        &mut self,
        stream: EventStream,
        within: &TimeRange,
        mut each: impl FnMut(&Dataset, bool),
    ) -> Result<bool, AggregateError> {
        let mut all = true;
        for rec in stream {
            let rec = rec?;
            if !within.contains(&rec.event.time) {
                all = false;
                each(self, all);
                continue;
            }
            match rec.prepared.as_deref() {
                Some(bytes) => {
                    for draft in Prepare::frames(bytes) {
                        self.push_draft(Draft::decode(draft).expect("a draft reads back"));
                    }
                }
                None => self.push(&rec.event),
            }
            each(self, all);
        }
        Ok(all)
    }

    /// The work for a source read by [`Dataset::read`] ([`ReadOptions::prepare`]): each event of
    /// `within` as its [`Draft`]'s bytes, made and dropped in the source's worker threads (see
    /// the [`draft`](super::draft) module for why).
    ///
    /// [`ReadOptions::prepare`]: crate::sources::ReadOptions::prepare
    pub fn prepare(within: TimeRange) -> Prepare {
        Prepare::bundling_summaries(move |s, out| {
            let keep = within.contains(&s.time);
            if keep {
                Draft::of(s).encode_into(out);
            }
            keep
        })
        .needing(within, |_| false)
    }

    pub(super) fn intern(&mut self, s: &str) -> Text {
        if s.is_empty() {
            return Text::default();
        }
        if let Some(t) = self.interned.get(s) {
            return t.clone();
        }
        let t = Text::from(s);
        self.interned.insert(t.clone());
        t
    }

    /// Room for `n` more distinct texts.
    pub(super) fn reserve_texts(&mut self, n: usize) {
        self.interned.reserve(n);
    }

    /// An event name, interned, and what it is ([`NameKind`]): from a table of the few hundred
    /// names, looked up instead of the table of every text.
    pub(super) fn intern_name(&mut self, s: &str) -> (Text, NameKind) {
        if let Some((t, named)) = self.event_names.get_key_value(s) {
            return (t.clone(), *named);
        }
        let (t, named) = (self.intern(s), NameKind::of(s));
        self.event_names.insert(t.clone(), named);
        (t, named)
    }

    pub fn push(&mut self, ev: &AuditEvent) {
        self.push_draft(Draft::of(&crate::sources::summary::Summary::of_event(ev)));
    }

    /// Keep an event's row, the names it tells, its session's state and its secrets.
    pub fn push_draft(&mut self, ev: Draft) {
        let i = self.rows.len();
        for (id, name) in ev.names.iter().flatten() {
            self.name(id, name);
        }
        let r = &ev.row;
        self.note_session(i, r.session, r.time, r.event_name, &ev.start);
        if let Some(rec) = &mut self.recording {
            if r.event_name == START_NAME {
                rec.starts.push((u32::try_from(i - rec.rows_from).expect("fewer than 2^32 rows"), ev.start));
            }
        }
        if let Some((kinds, fields)) = ev.secrets {
            self.secrets.push(SecretHit { row: i, kinds, fields });
        }
        self.push_row(&ev.row);
    }

    /// The name an event gives an actor id (the first given is kept).
    pub(super) fn name(&mut self, id: &str, name: &str) {
        if !self.names.contains_key(id) {
            self.names.insert(id.to_string(), name.to_string());
        }
        if let Some(rec) = &mut self.recording {
            if !rec.named.contains(id) {
                rec.named.insert(id.to_string());
                rec.names.push((id.to_string(), name.to_string()));
            }
        }
    }

    /// What the event of row `i` tells of its session, if it has one.
    pub(super) fn note_session(&mut self, i: usize, session: &str, time: i64, name: &str, start: &Start) {
        if session.is_empty() {
            return;
        }
        let row = u32::try_from(i).expect("fewer than 2^32 rows in memory");
        // One lookup for a session seen before (most rows of the millions of a session index).
        match self.sessions.get_mut(session) {
            Some(s) => s.note(row, time, name, start),
            None => {
                let id = self.intern(session);
                let mut s = Session { first: time, last: time, ..Session::default() };
                s.note(row, time, name, start);
                self.sessions.insert(id, s);
            }
        }
    }

    /// Start noting what the next file gives beside its rows ([`Recording`]).
    pub fn record(&mut self) {
        self.recording =
            Some(Recording { rows_from: self.rows.len(), secrets_from: self.secrets.len(), ..Recording::default() });
    }

    /// Keep a row read elsewhere (a database computed its fields); returns its index.
    pub fn push_row(&mut self, p: &RowParts) -> usize {
        let (event_name, name) = self.intern_name(p.event_name);
        let fact = RowFact {
            time: p.time,
            actor: self.intern(p.actor),
            event_name,
            name,
            ip: self.intern(p.ip),
            session: self.intern(p.session),
            flow_type: self.intern(p.flow_type),
            outcome: p.outcome,
            class: p.class,
            project: self.intern(&p.project),
        };
        let extra = Extra {
            input_tokens: p.input_tokens,
            output_tokens: p.output_tokens,
            model: self.intern(&p.model),
            scopes: self.intern(&p.scopes),
            target: if name.has(NameKind::PROVISIONING) { self.intern(p.target) } else { Text::default() },
        };
        let row = Row::new(EventId::new(p.id), fact, self.intern(p.on_behalf_of), extra);
        self.rows.push(row);
        self.rows.len() - 1
    }

    /// The rows within `window` passing every filter.
    fn passing<'a>(&'a self, filters: &'a [Filter], window: &super::Window) -> impl Iterator<Item = &'a Row> + 'a {
        let (from, to) = window.micros();
        self.rows
            .rows_within(from, to)
            .filter(move |r| (from..to).contains(&r.time()) && filters.iter().all(|f| f.matches(r)))
    }

    /// The display name of an actor id, when any event gave one.
    pub fn name_of(&self, actor: &str) -> String {
        self.names.get(actor).cloned().unwrap_or_default()
    }

    /// Whether an outcome is a failure.
    pub fn failed(row: &Row) -> bool {
        row.fact.outcome == Outcome::Failure
    }
}

/// The kinds of secret or personal data in an event's prompt texts (`(detail key, text)`), sorted
/// and without repeats, and the keys they were found in; `None` when there are none. Secrets as
/// written count, and so do an export's redaction marks (they keep the kind).
pub fn prompt_secrets<'a>(
    texts: impl Iterator<Item = (&'static str, Cow<'a, str>)>,
) -> Option<(Vec<&'static str>, Vec<String>)> {
    let mut kinds = Vec::new();
    let mut fields = Vec::new();
    for (key, text) in texts {
        let found = crate::secrets::scan(&text).into_iter().map(|m| m.kind).chain(crate::secrets::marks(&text));
        let before = kinds.len();
        kinds.extend(found.map(|k| k.as_str()));
        if kinds.len() > before {
            fields.push(key.to_string());
        }
    }
    (!kinds.is_empty()).then(|| {
        kinds.sort();
        kinds.dedup();
        (kinds, fields)
    })
}

/// A timestamp from microseconds.
pub fn ts(us: i64) -> crate::model::Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl Row {
    /// A row of these parts (what only some events say kept beside it when it says any).
    pub fn new(id: EventId, fact: RowFact, on_behalf_of: Text, extra: Extra) -> Row {
        Row { id, fact, on_behalf_of, extra: (extra != *Extra::NONE).then(|| Box::new(extra)) }
    }

    pub fn time(&self) -> i64 {
        self.fact.time
    }

    /// Whether the event says any of what only some say ([`Extra`]).
    pub fn says_more(&self) -> bool {
        self.extra.is_some()
    }

    /// What only some events say (none of it, for the others).
    pub fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(Extra::NONE)
    }

    /// The model tokens the event reports, in and out.
    pub fn tokens(&self) -> u64 {
        let e = self.extra();
        e.input_tokens + e.output_tokens
    }

    /// Whom the event is about: the human an agent acted for, else the actor; empty for
    /// unauthenticated requests (GitLab gives them all one id, which is nobody's baseline).
    pub fn principal(&self) -> &str {
        self.principal_text()
    }

    /// [`Row::principal`] as the row's text (told without reading the texts).
    pub fn principal_text(&self) -> &Text {
        if !self.on_behalf_of.is_blank() {
            &self.on_behalf_of
        } else if self.fact.class == ActorClass::Unauthenticated {
            Text::empty()
        } else {
            &self.fact.actor
        }
    }
}

impl super::store::Store for Dataset {
    fn row(&self, i: usize) -> Row {
        self.rows[i].clone()
    }

    fn rows(&self, filters: &[Filter], window: &super::Window) -> Vec<usize> {
        let (from, to) = window.micros();
        // A principal asked for is one of the rows' texts, or no row's: rows are told by its
        // address before any text of theirs is read.
        let principal = filters.iter().find_map(|f| match f {
            Filter::Principal(p) if p.is_empty() => Some(Some(Text::default())),
            Filter::Principal(p) => Some(self.interned.get(p.as_str()).cloned()),
            _ => None,
        });
        if let Some(None) = principal {
            return Vec::new();
        }
        let principal = principal.flatten();
        let pass = |i: &usize, filters: &[&Filter]| {
            let r = &self.rows[*i];
            (from..to).contains(&r.time())
                && principal.as_ref().is_none_or(|p| r.principal_text().same(p))
                && filters.iter().all(|f| f.matches(r))
        };
        // A session's rows are indexed: the index answers the session filter, the rows the others
        // (matching each row against a list of thousands of sessions again would be quadratic).
        let (by_session, rest): (Vec<&Filter>, Vec<&Filter>) =
            filters.iter().partition(|f| matches!(f, Filter::Sessions(_)));
        if let Some(Filter::Sessions(ids)) = by_session.first() {
            let mut out: Vec<usize> = ids
                .iter()
                .filter_map(|id| self.sessions.get(id.as_str()))
                .flat_map(|s| s.rows.iter().map(|i| *i as usize))
                .collect();
            out.sort_unstable();
            out.dedup();
            let also: Vec<&Filter> = rest.into_iter().chain(by_session.into_iter().skip(1)).collect();
            out.retain(|i| pass(i, &also));
            return out;
        }
        self.rows.within(from, to).filter(|i| pass(i, &rest)).collect()
    }

    fn group(&self, keys: &[Key], filters: &[Filter], window: &super::Window) -> Vec<Group> {
        group_rows(self.passing(filters, window), keys)
    }

    fn group_each(
        &self,
        keys: &[Key],
        filters: &[Filter],
        window: &super::Window,
        having: Having,
        each: &mut dyn FnMut(GroupRef),
    ) {
        group_rows_each(self.passing(filters, window), keys, Some(having), each)
    }

    fn sessions(&self, window: &super::Window) -> Vec<SessionSummary> {
        let mut out = Vec::new();
        for (id, s) in &self.sessions {
            let (first, last) = (s.first, s.last);
            if !window.contains_micros(first)
                && !window.contains_micros(last)
                && s.start.is_none_or(|i| !window.contains_micros(self.rows[i as usize].time()))
            {
                continue;
            }
            out.push(SessionSummary {
                id: id.to_string(),
                start: s.start.map(|i| i as usize),
                authorization_recorded: s.authorization_recorded,
                authorized: s.authorized,
                authorized_at: s.authorized_at,
                ended: s.ended,
                paused: s.paused,
                resources: s.resources as usize,
                first_resource: s.first_resource.map(|i| i as usize),
                first,
                last,
            });
        }
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn secrets(&self, window: &super::Window) -> Vec<SecretHit> {
        self.secrets.iter().filter(|h| window.contains_micros(self.rows[h.row].time())).cloned().collect()
    }

    fn name_of(&self, actor: &str) -> String {
        Dataset::name_of(self, actor)
    }

    fn workers(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_stays_small() {
        // Seven texts as thin pointers, the outcome as a byte, the id's 16 bytes in the row, what
        // few events say behind one pointer: 104 bytes a row and no allocation for the id (224
        // bytes and a 32-byte id with `Arc<str>`, the outcome's name and the id as text; 136 with
        // tokens, model, scopes and target in every row), which is most of a dataset's memory.
        assert_eq!(std::mem::size_of::<Text>(), 8);
        assert_eq!(std::mem::size_of::<EventId>(), 24);
        assert_eq!(std::mem::size_of::<Row>(), 104);
        // A session: flags, counts, its span and 32-bit rows; its list of rows is the only
        // allocation.
        assert_eq!(std::mem::size_of::<Session>(), 80);
    }

    #[test]
    fn event_ids_keep_their_text_and_its_order() {
        let texts = [
            "0123456789abcdef0123456789abcdef",
            "ffffffffffffffffffffffffffffffff",
            "00000000000000000000000000000000",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef0",
            "42",
            "",
            "évènement",
            "0123456789abcdef0123456789abcdé",
        ];
        let ids: Vec<EventId> = texts.iter().map(|t| EventId::new(t)).collect();
        let hex: Vec<bool> = ids.iter().map(|i| matches!(i, EventId::Hex(_))).collect();
        assert_eq!(hex, [true, true, true, false, false, false, false, false, false, false, false]);
        for (id, text) in ids.iter().zip(texts) {
            assert_eq!(id.to_string(), text);
            assert_eq!(format!("{id:?}"), format!("{text:?}"));
        }
        for (a, ta) in ids.iter().zip(texts) {
            for (b, tb) in ids.iter().zip(texts) {
                assert_eq!(a.cmp(b), ta.cmp(tb), "{ta} vs {tb}");
                assert_eq!(a == b, ta == tb);
            }
        }
    }

    /// A user's row with no session, model, scope or tokens.
    fn plain<'a>(time: i64, id: &'a str, actor: &'a str, event_name: &'a str, outcome: Outcome) -> RowParts<'a> {
        RowParts { time, id, actor, event_name, outcome, class: ActorClass::User, ..RowParts::default() }
    }

    /// Rows at `times`, the actor of each the index modulo 5.
    fn dataset_at(times: &[i64]) -> Dataset {
        let mut d = Dataset::default();
        for (i, t) in times.iter().enumerate() {
            let (id, actor) = (format!("{i:032x}"), format!("user-{}", i % 5));
            d.push_row(&plain(*t, &id, &actor, "push", Outcome::Success));
        }
        d
    }

    #[test]
    fn only_rows_that_say_more_hold_more() {
        let mut d = Dataset::default();
        // A merge request's own id as its target is not kept; a provisioned account's is.
        let mut push = plain(1, "a", "user-1", "push", Outcome::Success);
        push.target = "merge_request-77";
        let plain_row = d.push_row(&push);
        let mut provisioned = plain(4, "d", "user-1", "service_account_provisioned", Outcome::Success);
        provisioned.target = "sa-9";
        let provisioned = d.push_row(&provisioned);
        assert_eq!(&*d.rows[provisioned].extra().target, "sa-9");
        assert_eq!(d.rows[provisioned].tokens(), 0);
        let mut call = plain(2, "b", "user-1", "model_call", Outcome::Success);
        (call.input_tokens, call.output_tokens, call.model) = (7, 5, "anthropic/claude".into());
        let call = d.push_row(&call);
        let mut start = plain(3, "c", "user-1", "duo_flow_started", Outcome::Success);
        start.scopes = "api\u{1f}read_repository".into();
        let start = d.push_row(&start);
        assert!(d.rows[plain_row].extra.is_none());
        assert_eq!(d.rows[plain_row].extra(), Extra::NONE);
        assert_eq!(d.rows[plain_row].tokens(), 0);
        let e = d.rows[call].extra();
        assert_eq!((e.input_tokens, e.output_tokens, &*e.model, &*e.scopes), (7, 5, "anthropic/claude", ""));
        assert_eq!(d.rows[call].tokens(), 12);
        let e = d.rows[start].extra();
        assert_eq!((e.input_tokens, &*e.model, &*e.scopes), (0, "", "api\u{1f}read_repository"));
        assert!(e.model.is_blank());
    }

    #[test]
    fn windows_find_the_rows_of_every_run_and_of_rows_in_no_order() {
        use crate::analyze::anomalies::store::Store;
        // Three sources in time order one after the other (across chunk boundaries), with ties
        // and a source that starts before the previous one ended; then the same times shuffled.
        let mut ordered: Vec<i64> = (0..CHUNK as i64 + 500).map(|i| i / 3).collect();
        ordered.extend((0..40_000).map(|i| 5_000 + i / 2));
        ordered.extend((0..30_000).map(|i| 20_000 - i / 400));
        let mut shuffled = ordered.clone();
        let mut x = 7u64;
        for i in (1..shuffled.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (x >> 33) as usize % (i + 1));
        }
        for (times, runs) in [(&ordered, 2 + 74), (&shuffled, 0)] {
            let d = dataset_at(times);
            // The descending source is a run per step back, still few enough to search.
            assert_eq!((d.rows.runs.len(), d.rows.unordered), (runs, runs == 0), "{}", times.len());
            for (from, to) in [(0, 1), (0, 30_000), (5_000, 5_001), (9_999, 20_001), (21_000, 22_000), (-5, 3)] {
                let window = crate::analyze::anomalies::Window::from_micros(from, to);
                let expected: Vec<usize> = (0..times.len()).filter(|i| (from..to).contains(&times[*i])).collect();
                assert_eq!(d.rows(&[], &window), expected, "{from}..{to}");
                let only = [Filter::Principal("user-3".into())];
                let mine: Vec<usize> = expected.iter().copied().filter(|i| i % 5 == 3).collect();
                assert_eq!(d.rows(&only, &window), mine, "{from}..{to}");
                let counted: u64 = d.group(&[Key::Actor], &[], &window).iter().map(|g| g.count).sum();
                assert_eq!(counted, expected.len() as u64, "{from}..{to}");
            }
            let all = crate::analyze::anomalies::Window::from_micros(0, 30_000);
            assert!(d.rows(&[Filter::Principal("nobody".into())], &all).is_empty());
        }
    }

    #[test]
    fn rows_span_chunks_and_keep_their_order_and_texts() {
        let mut d = Dataset::default();
        let n = CHUNK + 3;
        for i in 0..n {
            let id = format!("{i:032x}");
            let actor = format!("user-{}", i % 7);
            let row = plain(i as i64, &id, &actor, "duo_flow_started", Outcome::Failure);
            assert_eq!(d.push_row(&row), i);
        }
        assert_eq!(d.rows.len(), n);
        assert_eq!(d.rows.iter().count(), n);
        let last = &d.rows[n - 1];
        assert_eq!(
            (last.time(), last.id.to_string(), &*last.fact.actor),
            ((n - 1) as i64, "00000000000000000000000000010002".to_string(), "user-4")
        );
        assert!(Dataset::failed(last));
        // Equal texts are one allocation.
        assert!(arcstr::ArcStr::ptr_eq(&d.rows[0].fact.actor.0, &d.rows[7].fact.actor.0));
        assert!(d.rows.iter().map(|r| r.time()).eq(0..n as i64));
    }
}
