//! Where events come from. Each source is one file here and yields one stream of
//! [`AuditEvent`](crate::model::AuditEvent)s; [`SourceSpec`] picks the source from `--source`.

pub mod clickhouse;
pub mod demo;
pub mod details;
pub mod lookup;
pub mod merge;
pub mod ndjson;
pub mod normalize;
pub mod object;
pub mod postgres;
pub mod shapes;
pub mod summary;
pub mod tables;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::checkpoint::Position;
use crate::model::AuditEvent;
use summary::Summary;

/// One event and, for sources that support incremental export, where it sits in its table.
#[derive(Debug, Clone)]
pub struct Record {
    /// Boxed: events are moved several times between buffers and threads (776 bytes unboxed).
    pub event: Box<AuditEvent>,
    /// Table (stream) name and keyset position; `None` for sources without checkpoints.
    pub position: Option<(Arc<str>, Position)>,
    /// What [`ReadOptions::prepare`] made of the event, in the source's worker thread (for a
    /// [bundling](Prepare::bundling) work, of one or more events: see [`Prepare::frames`]).
    pub prepared: Option<Vec<u8>>,
}

/// Work a reader wants done on each event in the source's own worker threads — those that
/// parse lines or map rows — right after the event is built, while it is still in that core's
/// cache and on as many cores as the source uses; the bytes returned ride with the record as
/// [`Record::prepared`]. The report encodes the period's events for its chain head this way:
/// read on another thread, every text of an event is a cache miss first.
#[derive(Clone)]
pub struct Prepare {
    work: Arc<PrepareFn>,
    /// Whether the bytes stand for the event ([`Prepare::condensing`]).
    condense: bool,
    /// Which events the reader needs whole ([`Prepare::needing`]); all when `None`.
    needed: Option<Needed>,
    /// The work as it appends to a buffer, for a source that bundles ([`Prepare::bundling`]).
    bundle: Option<Arc<BundleFn>>,
    /// The work on what an event says, for a source that can tell it without building the
    /// event ([`Prepare::bundling_summaries`]).
    summarize: Option<Arc<SummaryFn>>,
}

/// The events a reader needs whole: those of a window, and outside it those whose line passes
/// a test of its bytes.
#[derive(Clone, Copy)]
struct Needed {
    within: crate::range::TimeRange,
    outside: fn(&[u8]) -> bool,
}

/// The work of a [`Prepare`]: bytes for an event, or none.
type PrepareFn = dyn Fn(&AuditEvent) -> Option<Vec<u8>> + Send + Sync;

/// The work of a [bundling](Prepare::bundling) [`Prepare`]: an event's bytes appended to a
/// buffer; whether it had any.
type BundleFn = dyn Fn(&AuditEvent, &mut Vec<u8>) -> bool + Send + Sync;

/// The work of a [`Prepare::bundling_summaries`]: bytes for what an event says, appended.
type SummaryFn = dyn Fn(&Summary, &mut Vec<u8>) -> bool + Send + Sync;

impl Prepare {
    pub fn new(f: impl Fn(&AuditEvent) -> Option<Vec<u8>> + Send + Sync + 'static) -> Prepare {
        Prepare { work: Arc::new(f), condense: false, needed: None, bundle: None, summarize: None }
    }

    /// Work whose bytes are all the reader needs of an event: the worker drops the event once it
    /// has them, and the record keeps a [hollow](AuditEvent::hollow) event beside them — its time
    /// and id, which a database source's merge orders by; without bytes, those alone (the reader
    /// skips the record). An event's texts — some twenty allocations — are then freed by the
    /// thread that allocated them: freed by the reader's thread instead, each goes through the
    /// allocator's cross-thread list, which both threads pay for (`Dataset::prepare`: the
    /// anomalies' rows; `Evidence::prepare`: what a report keeps of each event).
    pub fn condensing(f: impl Fn(&AuditEvent) -> Option<Vec<u8>> + Send + Sync + 'static) -> Prepare {
        Prepare { work: Arc::new(f), condense: true, needed: None, bundle: None, summarize: None }
    }

    /// [Condensing](Prepare::condensing) work that appends each event's bytes to a buffer
    /// (returning whether it had any), so that a source reading in batches (NDJSON files) can
    /// put those of consecutive events in one record: the bytes of each event, framed by their
    /// length ([`Prepare::frames`] reads them), back to back in [`Record::prepared`], the
    /// record's event [hollow](AuditEvent::hollow) at the earliest of their times. Errors, and
    /// hollow the events not needed whole ([`Prepare::needing`]) and those without bytes, stay
    /// in their place between bundles. Other sources give every event its own record, its
    /// bytes framed the same way.
    ///
    /// Per event a record cost a boxed hollow event and a buffer, both freed by the reading
    /// thread (mimalloc hands each such free back to the allocating thread): at
    /// `bench/anomalies.sh`'s scale, 27M cross-thread frees.
    pub fn bundling(f: impl Fn(&AuditEvent, &mut Vec<u8>) -> bool + Send + Sync + 'static) -> Prepare {
        let bundle: Arc<BundleFn> = Arc::new(f);
        let each = bundle.clone();
        Prepare {
            work: Arc::new(move |ev| {
                let mut out = Vec::new();
                frame(&mut out, |out| each(ev, out)).then_some(out)
            }),
            condense: true,
            needed: None,
            bundle: Some(bundle),
            summarize: None,
        }
    }

    /// [Bundling](Prepare::bundling) work that reads only what an event says ([`Summary`]): a
    /// source that can tell it from a record without building the event (the usual line of a
    /// GitLab streaming audit log) does so; for any other record, the event is built and
    /// summarized ([`Summary::of_event`]).
    pub fn bundling_summaries(f: impl Fn(&Summary, &mut Vec<u8>) -> bool + Send + Sync + 'static) -> Prepare {
        let summarize: Arc<SummaryFn> = Arc::new(f);
        let each = summarize.clone();
        Prepare { summarize: Some(summarize), ..Prepare::bundling(move |ev, out| each(&Summary::of_event(ev), out)) }
    }

    /// What appends the framed bytes of what an event says to a buffer (whether it had any),
    /// when the work reads summaries ([`Prepare::bundling_summaries`]).
    pub fn summary_bundler(&self) -> Option<impl Fn(&Summary, &mut Vec<u8>) -> bool + '_> {
        let f = self.summarize.as_ref()?;
        Some(move |summary: &Summary, out: &mut Vec<u8>| frame(out, |out| f(summary, out)))
    }

    /// Whether the work is [bundling](Prepare::bundling).
    pub fn bundles(&self) -> bool {
        self.bundle.is_some()
    }

    /// Append `ev`'s framed bytes to `out`, when the work is [bundling](Prepare::bundling);
    /// `None` for other work.
    pub fn bundle_into(&self, ev: &AuditEvent, out: &mut Vec<u8>) -> Option<bool> {
        let bundle = self.bundle.as_ref()?;
        Some(frame(out, |out| bundle(ev, out)))
    }

    /// The events' bytes in what a [bundling](Prepare::bundling) work's source left in a
    /// record; an ill-framed tail (which no source writes) ends them.
    pub fn frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest = bytes;
        std::iter::from_fn(move || {
            let (len, after) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (frame, after) = (after.get(..len)?, &after[len..]);
            rest = after;
            Some(frame)
        })
    }

    /// Only the events `within` the range are needed whole, and outside it those whose line
    /// `outside` accepts (a test of the line's bytes, which must accept every line the reader
    /// needs: it runs before the line is read). A source that can tell an event's time before
    /// building it (NDJSON files, which hold whatever history they hold) yields each other
    /// event [hollow](AuditEvent::hollow) — its time only, with no id and no bytes — and skips
    /// building it: its line is checked for JSON syntax, shape and time, not field by field.
    pub fn needing(self, within: crate::range::TimeRange, outside: fn(&[u8]) -> bool) -> Prepare {
        Prepare { needed: Some(Needed { within, outside }), ..self }
    }

    /// Whether some events are not needed whole ([`Prepare::needing`]).
    pub fn skips(&self) -> bool {
        self.needed.is_some()
    }

    /// Whether the event at `time`, written as `line`, is needed whole.
    pub fn needs(&self, time: &crate::model::Timestamp, line: &[u8]) -> bool {
        self.needed.is_none_or(|n| n.within.contains(time) || (n.outside)(line))
    }

    /// `ev` as a record, with what the work made of it (when there is work).
    pub fn record(work: Option<&Prepare>, event: AuditEvent, position: Option<(Arc<str>, Position)>) -> Record {
        let prepared = work.and_then(|w| (w.work)(&event));
        let event = match work {
            Some(w) if w.condense => AuditEvent { id: event.id, ..AuditEvent::hollow(event.time) },
            _ => event,
        };
        Record { event: Box::new(event), position, prepared }
    }
}

/// `bytes` framed as a [bundling](Prepare::bundling) work's source frames an event's.
pub fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    frame(&mut out, |out| {
        out.extend_from_slice(bytes);
        true
    });
    out
}

/// Append what `write` appends to `out`, after its length; nothing when it says it wrote none.
fn frame(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if !write(out) {
        out.truncate(at);
        return false;
    }
    let len = u32::try_from(out.len() - at - 4).expect("an event's bytes under 4 GiB");
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    true
}

impl Record {
    /// The record of an event not needed whole ([`Prepare::needing`]).
    pub fn hollow(time: crate::model::Timestamp) -> Record {
        Record { event: Box::new(AuditEvent::hollow(time)), position: None, prepared: None }
    }
}

impl fmt::Debug for Prepare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prepare(..)")
    }
}

/// A stream of records, or of per-record errors the caller may skip.
pub type EventStream = Box<dyn Iterator<Item = Result<Record, SourceError>> + Send>;

/// A file and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Errors from reading a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A file, directory or stream could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A directory given as a source holds no files.
    #[error("directory {0} holds no files to read (hidden files and subdirectories are not read)")]
    EmptyDirectory(String),
    /// One record could not be read; the others may still be.
    #[error("{location}: {reason}")]
    Malformed { location: Location, reason: String },
    /// The `--source` names a kind of source this build cannot read.
    #[error("unsupported source {0}: give a postgres:// or clickhouse:// URL, a file, a directory or - for stdin")]
    Unsupported(String),
    /// A database could not be reached or read (the URL is shown with its password masked).
    #[error("{source_url}: {message}")]
    Database { source_url: String, message: String },
    /// A statement failed on a connection already open (the caller names the database).
    #[error("{0}")]
    Query(String),
}

impl SourceError {
    /// The schema or database (`place`) holds none of the tables the tool reads.
    pub fn no_tables(url: &str, place: &str) -> SourceError {
        SourceError::Database {
            source_url: crate::redact::mask_url(url),
            message: format!(
                "{place} holds none of the tables compliance-report reads (audit_events, ai_audit_events, \
                 flow_sessions, GitLab's group/project audit and Duo workflow tables, …); check --schema and \
                 --table GITLAB=ACTUAL, or run `compliance-report check --source …`"
            ),
        }
    }

    /// Whether the error concerns one record only (so `--on-error skip` may pass over it).
    pub fn is_record_error(&self) -> bool {
        matches!(self, SourceError::Malformed { .. })
    }
}

/// What `--source` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// No `--source`: the demo data compiled into the binary.
    Demo,
    /// NDJSON files, directories and `-`.
    Files(Vec<PathBuf>),
    /// A PostgreSQL database (`postgres://` or `postgresql://`).
    Postgres(String),
    /// A ClickHouse database (`clickhouse://`, `clickhouses://`, `http(s)://`).
    ClickHouse(String),
}

/// How to read a source: database sources take every setting, file sources only `prepare`.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub range: crate::range::TimeRange,
    /// Leave rows newer than `now - lag` for the next run.
    pub lag: std::time::Duration,
    /// Where each table left off (from a checkpoint).
    pub resume: crate::checkpoint::Watermarks,
    /// Schema of the tables.
    pub schema: Option<String>,
    /// GitLab table name → actual name.
    pub renames: std::collections::HashMap<String, String>,
    /// Rows per page and table (0: the default).
    pub page_rows: i64,
    /// Work on each event in the source's worker threads (also for file sources).
    pub prepare: Option<Prepare>,
}

impl SourceSpec {
    /// Classify the `--source` values (empty: the demo data).
    pub fn parse(values: &[String]) -> Result<SourceSpec, SourceError> {
        if values.is_empty() {
            return Ok(SourceSpec::Demo);
        }
        if let Some(url) = values.iter().find(|v| !ndjson::is_path(v)) {
            let lower = url.to_ascii_lowercase();
            if (lower.starts_with("postgres://") || lower.starts_with("postgresql://")) && values.len() == 1 {
                return Ok(SourceSpec::Postgres(url.clone()));
            }
            if clickhouse::is_url(url) && values.len() == 1 {
                return Ok(SourceSpec::ClickHouse(url.clone()));
            }
            return Err(SourceError::Unsupported(crate::redact::mask_url(url)));
        }
        Ok(SourceSpec::Files(values.iter().map(PathBuf::from).collect()))
    }

    /// A description safe for logs (passwords masked).
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::Demo => "bundled demo data".to_string(),
            SourceSpec::Files(paths) => paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            SourceSpec::Postgres(url) | SourceSpec::ClickHouse(url) => crate::redact::mask_url(url),
        }
    }

    /// Whether the source can resume from a checkpoint.
    pub fn supports_checkpoints(&self) -> bool {
        matches!(self, SourceSpec::Postgres(_) | SourceSpec::ClickHouse(_))
    }

    /// Open the source as one event stream.
    pub fn open(&self, read: &ReadOptions) -> Result<EventStream, SourceError> {
        Ok(match self {
            SourceSpec::Postgres(url) => Box::new(postgres::open(postgres::PgConfig::of(url, read))?),
            SourceSpec::ClickHouse(url) => Box::new(clickhouse::open(clickhouse::ChConfig::of(url, read))?),
            SourceSpec::Demo => Box::new(ndjson::NdjsonSource::new(demo::inputs()).prepare(read.prepare.clone())),
            SourceSpec::Files(paths) => {
                Box::new(ndjson::NdjsonSource::from_paths(paths)?.prepare(read.prepare.clone()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> crate::model::Timestamp {
        crate::model::time::parse(t).unwrap()
    }

    /// A bundling work: the event name's bytes, for events named other than "skip".
    fn names() -> Prepare {
        Prepare::bundling(|ev, out| {
            out.extend_from_slice(ev.event_name.as_bytes());
            ev.event_name != "skip"
        })
    }

    fn event(name: &str) -> AuditEvent {
        AuditEvent { event_name: name.into(), ..AuditEvent::hollow(at("2026-10-01T00:00:00Z")) }
    }

    #[test]
    fn bundled_bytes_are_framed_by_their_length() {
        let work = names();
        let mut out = Vec::new();
        assert_eq!(work.bundle_into(&event("ab"), &mut out), Some(true));
        assert_eq!(work.bundle_into(&event("skip"), &mut out), Some(false));
        assert_eq!(work.bundle_into(&event(""), &mut out), Some(true));
        assert_eq!(work.bundle_into(&event("cde"), &mut out), Some(true));
        assert_eq!(out, b"\x02\0\0\0ab\0\0\0\0\x03\0\0\0cde");
        assert_eq!(Prepare::frames(&out).collect::<Vec<_>>(), [&b"ab"[..], b"", b"cde"]);
        // A tail cut short ends the frames (no source writes one).
        assert_eq!(Prepare::frames(&out[..out.len() - 1]).count(), 2);
        assert_eq!(Prepare::frames(&out[..3]).count(), 0);
        assert_eq!(framed(b"cde"), b"\x03\0\0\0cde");
        // A source that does not bundle gives each event its own record, framed the same way.
        let rec = Prepare::record(Some(&work), event("ab"), None);
        assert_eq!(rec.prepared.as_deref(), Some(&b"\x02\0\0\0ab"[..]));
        assert_eq!(*rec.event, AuditEvent::hollow(at("2026-10-01T00:00:00Z")));
        assert_eq!(Prepare::record(Some(&work), event("skip"), None).prepared, None);
        // Other work does not bundle.
        let each = Prepare::condensing(|ev| Some(ev.event_name.clone().into_bytes()));
        assert!(!each.bundles() && work.bundles());
        assert_eq!(each.bundle_into(&event("ab"), &mut out), None);
    }
}
