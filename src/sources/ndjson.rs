//! NDJSON audit logs: files, directories (sorted, gzip transparently) and stdin, read line by
//! line in constant memory; the bundled demo data is the same reader over embedded bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

use super::object::{Glance, Line, Object};
use super::{shapes, Location, Prepare, Record, SourceError};
use crate::model::AuditEvent;

/// Longest line accepted (bytes); longer lines are reported, not buffered without bound.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// One input to read.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file on disk (`.gz` is decompressed).
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// Bytes compiled into the binary (the demo data), gzip-compressed.
    Embedded { name: &'static str, gz: &'static [u8] },
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
            Input::Embedded { name, .. } => format!("<demo>/{name}"),
        }
    }

    /// The input's lines as bytes (decompressed when gzip), buffered.
    pub fn open(&self) -> Result<Box<dyn BufRead + Send>, SourceError> {
        let io_err = |source| SourceError::Io { path: self.name(), source };
        Ok(match self {
            Input::File(p) => {
                let f = File::open(p).map_err(io_err)?;
                if p.extension().is_some_and(|e| e == "gz") {
                    Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(BufReader::new(f))))
                } else {
                    Box::new(BufReader::with_capacity(256 * 1024, f))
                }
            }
            Input::Stdin => Box::new(BufReader::with_capacity(256 * 1024, io::stdin())),
            Input::Embedded { gz, .. } => Box::new(BufReader::new(MultiGzDecoder::new(*gz))),
        })
    }
}

/// Expand paths into inputs: `-` is stdin, a directory contributes its regular, non-hidden
/// files sorted by name (not recursive), a file is itself.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Input>, SourceError> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let meta =
            std::fs::metadata(path).map_err(|source| SourceError::Io { path: path.display().to_string(), source })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            let entries = std::fs::read_dir(path)
                .map_err(|source| SourceError::Io { path: path.display().to_string(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| SourceError::Io { path: path.display().to_string(), source })?;
                let p = entry.path();
                let hidden = p.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
                if !hidden && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(SourceError::EmptyDirectory(path.display().to_string()));
            }
            inputs.extend(files.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(path.to_path_buf()));
        }
    }
    Ok(inputs)
}

/// Streams events from a list of inputs, one after the other, in order.
///
/// A reader thread decompresses and splits lines into batches; parser threads turn the batches
/// into events (parsing JSON is most of the cost); the iterator hands them out in input order.
/// Batches go to the parsers in turn and come back in the same turn, so no reordering is needed,
/// and every channel is bounded: memory stays a few batches per thread whatever the input size.
/// The threads start on the first `next()` and stop when the source is dropped.
pub struct NdjsonSource {
    inputs: Option<Vec<Input>>,
    parsers: Vec<Parser>,
    reader: Option<JoinHandle<()>>,
    turn: usize,
    current: std::vec::IntoIter<Result<Record, SourceError>>,
    /// Done on each event by the parser that built it.
    work: Option<Prepare>,
}

/// Lines of one or more files, in order: `text` holds them back to back.
struct Batch {
    text: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    fn new() -> Batch {
        Batch { text: Vec::with_capacity(BATCH_BYTES + 4096), items: Vec::with_capacity(BATCH_LINES) }
    }
}

enum Item {
    /// The line ending at `end` in the batch's text (it starts where the previous one ended).
    Line { file: Arc<str>, line: u64, end: usize },
    /// Reading failed here (a file that cannot be opened, an over-long line, a truncated gzip).
    Failed(SourceError),
}

/// Lines per batch, and bytes: large enough that handing a batch over costs nothing next to
/// parsing it, small enough that the few in flight per thread stay small.
const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 256 << 10;

/// Batches waiting for each parser, and parsed batches waiting to be taken from it. Batches
/// take turns, so with one each, a parser slower on its batch than the other on its own held up
/// the reader and the other parser (both waiting on a full queue) while the iterator waited on
/// it: a core stood idle a tenth of the time on two cores.
const QUEUED: usize = 4;

/// Events come back boxed, as [`Record`]s: a parser allocates each once, and the thread taking
/// them from the source moves only pointers.
type Parsed = Vec<Result<Record, SourceError>>;

struct Parser {
    rx: Receiver<Parsed>,
    thread: Option<JoinHandle<()>>,
}

impl NdjsonSource {
    pub fn new(inputs: Vec<Input>) -> NdjsonSource {
        NdjsonSource {
            inputs: Some(inputs),
            parsers: Vec::new(),
            reader: None,
            turn: 0,
            current: Vec::new().into_iter(),
            work: None,
        }
    }

    /// Have the parsers do `work` on each event they build ([`ReadOptions::prepare`](super::ReadOptions)).
    pub fn prepare(mut self, work: Option<Prepare>) -> NdjsonSource {
        self.work = work;
        self
    }

    /// Open the files named on the command line.
    pub fn from_paths(paths: &[PathBuf]) -> Result<NdjsonSource, SourceError> {
        Ok(NdjsonSource::new(expand(paths)?))
    }

    fn start(&mut self, inputs: Vec<Input>) -> std::io::Result<()> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut batches = Vec::new();
        for i in 0..workers {
            let (tx, work) = sync_channel::<Batch>(QUEUED);
            let (done, rx) = sync_channel::<Parsed>(QUEUED);
            let prepare = self.work.clone();
            let thread = std::thread::Builder::new().name(format!("ndjson-parser-{i}")).spawn(move || {
                for batch in work {
                    if done.send(parse_batch(batch, prepare.as_ref())).is_err() {
                        break;
                    }
                }
            })?;
            batches.push(tx);
            self.parsers.push(Parser { rx, thread: Some(thread) });
        }
        let reader =
            std::thread::Builder::new().name("ndjson-reader".into()).spawn(move || read_batches(inputs, &batches))?;
        self.reader = Some(reader);
        Ok(())
    }
}

/// Read every input's lines into batches, handed to the parsers in turn.
fn read_batches(inputs: Vec<Input>, parsers: &[SyncSender<Batch>]) {
    let mut turn = 0;
    let mut batch = Batch::new();
    let mut send = |batch: &mut Batch| {
        let full = std::mem::replace(batch, Batch::new());
        let ok = parsers[turn % parsers.len()].send(full).is_ok();
        turn += 1;
        ok
    };
    for input in inputs {
        tracing::debug!(input = %input.name(), "reading");
        let file: Arc<str> = Arc::from(input.name());
        let mut reader = match input.open() {
            Ok(reader) => reader,
            Err(e) => {
                batch.items.push(Item::Failed(e));
                continue;
            }
        };
        let mut line = 0;
        loop {
            let start = batch.text.len();
            let read = reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut batch.text);
            match read {
                Ok(0) => break,
                Ok(n) => {
                    line += 1;
                    if n > MAX_LINE {
                        batch.text.truncate(start);
                        skip_line(&mut reader);
                        batch.items.push(Item::Failed(SourceError::Malformed {
                            location: Location { file: file.to_string(), line },
                            reason: format!("line longer than {MAX_LINE} bytes"),
                        }));
                    } else {
                        batch.items.push(Item::Line { file: file.clone(), line, end: batch.text.len() });
                    }
                }
                Err(source) => {
                    // e.g. a truncated .gz: say how far the file was good.
                    batch.text.truncate(start);
                    let path = format!("{file} after line {line}");
                    batch.items.push(Item::Failed(SourceError::Io { path, source }));
                    break;
                }
            }
            if (batch.items.len() >= BATCH_LINES || batch.text.len() >= BATCH_BYTES) && !send(&mut batch) {
                return;
            }
        }
    }
    if !batch.items.is_empty() {
        send(&mut batch);
    }
}

/// Skip the rest of an over-long line so the next read starts on a new line.
fn skip_line(reader: &mut Box<dyn BufRead + Send>) {
    let mut sink = Vec::new();
    loop {
        sink.clear();
        match reader.by_ref().take(1 << 20).read_until(b'\n', &mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) if sink.ends_with(b"\n") => break,
            Ok(_) => continue,
        }
    }
}

fn parse_batch(batch: Batch, work: Option<&Prepare>) -> Parsed {
    let mut out = Vec::with_capacity(batch.items.len());
    let mut bundle = Bundle::default();
    if work.is_some_and(Prepare::bundles) {
        // Room for most batches' bytes: grown from nothing, the buffer was copied at each doubling.
        bundle.bytes.reserve(batch.items.len() * BUNDLED_BYTES);
    }
    let mut start = 0;
    for item in batch.items {
        match item {
            Item::Line { file, line, end } => {
                let read = parse_line(&batch.text[start..end], &file, line, work, &mut bundle.bytes);
                start = end;
                match read {
                    Ok(None) => {}
                    Ok(Some(LineRead::Bundled(time))) => {
                        bundle.earliest = Some(bundle.earliest.map_or(time, |e| e.min(time)));
                    }
                    // Its time alone, in its place (a report's retention counts it).
                    Ok(Some(LineRead::Hollow(time))) => bundle.then(&mut out, Ok(Record::hollow(time))),
                    Ok(Some(LineRead::Event(ev))) => out.push(Ok(Prepare::record(work, ev, None))),
                    Err(e) => bundle.then(&mut out, Err(e)),
                }
            }
            Item::Failed(e) => bundle.then(&mut out, Err(e)),
        }
    }
    bundle.flush(&mut out);
    out
}

/// Bytes to expect a bundling work to make of an event (the anomalies' drafts of the demo data:
/// 252 on average, 390 at most).
const BUNDLED_BYTES: usize = 320;

/// The bytes of consecutive events for a bundling work ([`Prepare::bundling`]), and the
/// earliest of their times.
#[derive(Default)]
struct Bundle {
    earliest: Option<crate::model::Timestamp>,
    bytes: Vec<u8>,
}

impl Bundle {
    /// End the bundle, then put `item` after it (something in its place between bundles).
    fn then(&mut self, out: &mut Parsed, item: Result<Record, SourceError>) {
        self.flush(out);
        out.push(item);
    }

    /// End the bundle as a record, if it holds any event.
    fn flush(&mut self, out: &mut Parsed) {
        if let Some(time) = self.earliest.take() {
            let prepared = Some(std::mem::take(&mut self.bytes));
            out.push(Ok(Record { event: Box::new(AuditEvent::hollow(time)), position: None, prepared }));
        }
    }
}

/// What a line is to the reader: an event, one not needed whole ([`Prepare::needing`]) or
/// without bytes for a bundling work, or one whose bytes the work bundled.
// On the parser's stack for one line: boxing the event would cost an allocation a line.
#[allow(clippy::large_enum_variant)]
enum LineRead {
    Event(AuditEvent),
    Hollow(crate::model::Timestamp),
    /// Its bytes appended to the bundle ([`Prepare::bundling`]), from the event or from what the
    /// line says without building it ([`Prepare::bundling_summaries`]).
    Bundled(crate::model::Timestamp),
}

impl LineRead {
    /// What a line is once a bundling work appended its bytes, or said it has none.
    fn bundled(time: crate::model::Timestamp, had_bytes: bool) -> LineRead {
        if had_bytes {
            LineRead::Bundled(time)
        } else {
            LineRead::Hollow(time)
        }
    }
}

fn parse_line(
    line: &[u8],
    file: &str,
    line_no: u64,
    work: Option<&Prepare>,
    bundle: &mut Vec<u8>,
) -> Result<Option<LineRead>, SourceError> {
    let location = || Location { file: file.to_string(), line: line_no };
    let mut bytes = line.trim_ascii();
    if line_no == 1 {
        // A byte order mark some Windows tools write at the start of a file.
        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    // SIMD: every byte of the input passes here. Where the line is not UTF-8, the standard
    // library's check says where.
    let text = simdutf8::basic::from_utf8(bytes).map_err(|_| {
        let bad = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
        SourceError::Malformed {
            location: location(),
            reason: format!("not valid UTF-8 (first bad byte at column {})", bad + 1),
        }
    })?;
    if let Some(work) = work.filter(|w| w.skips()) {
        // A line that seems not to be needed whole is glanced at to be sure: its time as its shape
        // reads it (the bytes may show a nested key's), nothing else built.
        if time_hint(bytes).is_some_and(|t| !work.needs(&t, bytes)) {
            if let Ok(Glance(Line::Object(obj))) = Glance::read(text) {
                if let Some(time) = shapes::time_of(&obj).filter(|t| !work.needs(t, bytes)) {
                    return Ok(Some(LineRead::Hollow(time)));
                }
            }
        }
    }
    let mut obj = Object::default();
    let is_object = Line::read_into(text, &mut obj)
        .map_err(|e| SourceError::Malformed { location: location(), reason: format!("invalid JSON: {e}") })?;
    if !is_object {
        return Err(SourceError::Malformed { location: location(), reason: "not a JSON object".into() });
    }
    // Chain anchors in a read-back export vouch for the chain; they are not events.
    if obj.get("schema").and_then(crate::model::fields::Val::as_str) == Some(crate::chain::ANCHOR_SCHEMA) {
        return Ok(None);
    }
    if let Some(bundle_summary) = work.and_then(Prepare::summary_bundler) {
        if let Some(summary) = shapes::summarize(&mut obj, text) {
            return Ok(Some(LineRead::bundled(summary.time, bundle_summary(&summary, bundle))));
        }
    }
    let ev =
        shapes::recognize(&mut obj, text).map_err(|reason| SourceError::Malformed { location: location(), reason })?;
    Ok(Some(match work.and_then(|w| w.bundle_into(&ev, bundle)) {
        Some(had) => LineRead::bundled(ev.time, had),
        None => LineRead::Event(ev),
    }))
}

/// The time a line seems to hold, from its bytes: the text that follows the first key
/// `"created_at"`, `"time"` or `"timestamp"` (spaces around the colon allowed), wherever it is
/// — a hint: nested objects may hold such keys.
fn time_hint(line: &[u8]) -> Option<crate::model::Timestamp> {
    use memchr::memmem::Finder;
    static KEYS: std::sync::LazyLock<[Finder<'static>; 3]> =
        std::sync::LazyLock::new(|| [&b"\"created_at\""[..], b"\"time\"", b"\"timestamp\""].map(Finder::new));
    let value = KEYS.iter().find_map(|k| {
        k.find_iter(line).find_map(|at| {
            let after = &line[at + k.needle().len()..];
            let after = after.trim_ascii_start().strip_prefix(b":")?;
            after.trim_ascii_start().strip_prefix(b"\"")
        })
    })?;
    let text = &value[..memchr::memchr(b'"', value)?];
    crate::model::time::parse(std::str::from_utf8(text).ok()?)
}

impl Iterator for NdjsonSource {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(inputs) = self.inputs.take() {
            let first = inputs.first().map_or_else(String::new, Input::name);
            if let Err(source) = self.start(inputs) {
                // Without threads there is nothing to read with (the system is out of them).
                self.parsers.clear();
                return Some(Err(SourceError::Io { path: format!("{first} (starting the reading threads)"), source }));
            }
        }
        if self.parsers.is_empty() {
            return None;
        }
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            let n = self.parsers.len();
            let parser = &mut self.parsers[self.turn % n];
            match parser.rx.recv() {
                Ok(parsed) => {
                    self.turn += 1;
                    self.current = parsed.into_iter();
                }
                Err(_) => {
                    // The reader is done and this parser has parsed its last batch — unless one
                    // of them panicked, which must not pass for the end of the input.
                    for thread in [parser.thread.take(), self.reader.take()].into_iter().flatten() {
                        if let Err(panic) = thread.join() {
                            std::panic::resume_unwind(panic);
                        }
                    }
                    return None;
                }
            }
        }
    }
}

/// Whether a path names an NDJSON input (anything that is not a database URL).
pub fn is_path(spec: &str) -> bool {
    !spec.contains("://") || Path::new(spec).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reports_file_and_line_and_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = File::create(&path).unwrap();
        writeln!(f, r#"{{"time":"2026-10-01T00:00:00Z","author_id":1}}"#).unwrap();
        writeln!(f).unwrap();
        writeln!(f, r#"{{"time":"2026-10-01T00:00:00Z","author_id":1"#).unwrap();
        f.write_all(b"{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":1,\"x\":\"\xff\"}\n").unwrap();
        write!(f, r#"{{"time":"2026-10-02T00:00:00Z","author_id":2}}"#).unwrap();
        drop(f);
        let results: Vec<_> = NdjsonSource::from_paths(&[dir.path().to_path_buf()]).unwrap().collect();
        assert_eq!(results.len(), 4);
        assert!(results[0].is_ok());
        let file = path.display().to_string();
        assert_eq!(
            results[1].as_ref().unwrap_err().to_string(),
            format!("{file}:3: invalid JSON: EOF while parsing an object at line 1 column 44")
        );
        assert_eq!(
            results[2].as_ref().unwrap_err().to_string(),
            format!("{file}:4: not valid UTF-8 (first bad byte at column 51)")
        );
        assert_eq!(results[3].as_ref().unwrap().event.actor.id.as_deref(), Some("2"));
    }

    #[test]
    fn many_batches_come_back_in_input_order_with_errors_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let line = |n: usize| format!("{{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":{n}}}\n");
        // Three files of 5,000 lines: several batches each, spread over the parsers in turn.
        for f in 0..3 {
            let mut text = String::new();
            for i in 0..5000 {
                text.push_str(&if f == 1 && i == 4320 { "{oops\n".to_string() } else { line(f * 5000 + i) });
            }
            std::fs::write(dir.path().join(format!("{f}.log")), text).unwrap();
        }
        let results: Vec<_> = NdjsonSource::from_paths(&[dir.path().to_path_buf()]).unwrap().collect();
        assert_eq!(results.len(), 15000);
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(r) => assert_eq!(r.event.actor.id.as_deref(), Some(i.to_string().as_str())),
                Err(e) => {
                    assert_eq!(i, 9320);
                    assert!(
                        e.to_string().ends_with("1.log:4321: invalid JSON: key must be a string at line 1 column 2"),
                        "{e}"
                    );
                }
            }
        }
        // Dropping a source part-way stops its threads without waiting for the rest.
        let mut source = NdjsonSource::from_paths(&[dir.path().to_path_buf()]).unwrap();
        assert!(source.next().unwrap().is_ok());
        drop(source);
    }

    /// A source told which events are needed whole yields the others hollow, in their place,
    /// without recognizing their fields; lines it cannot read at all still fail.
    #[test]
    fn events_not_needed_whole_come_hollow() {
        let at = |t: &str| crate::model::time::parse(t).unwrap();
        let october =
            crate::range::TimeRange { from: Some(at("2026-10-01T00:00:00Z")), to: Some(at("2026-11-01T00:00:00Z")) };
        let lines = [
            r#"{"time":"2026-09-30T23:59:59.999999Z","author_id":1,"event_name":"x"}"#,
            r#"{"time":"2026-10-01T00:00:00Z","author_id":2,"event_name":"x"}"#,
            r#"{"time":"2026-09-01T00:00:00Z","author_id":3,"event_name":"service_account_created"}"#,
            // Outside, its author is not read; inside, it would fail.
            r#"{"time":"2026-11-01T00:00:00Z","author_id":"four","event_name":"x"}"#,
            r#"{"time":"2026-08-01T00:00:00Z","author_id":5"#,
            r#"{"time":"2026-08-01T00:00:00Z","author_id":"six","event_name":"service_account_created"}"#,
            // Its bytes show a nested time first: its own is read before it is passed over.
            r#"{"id":"9","event_type":"x","details":{"created_at":"2026-08-01T00:00:00Z"},"created_at":"2026-10-05T00:00:00Z","author_id":7}"#,
            r#"{"unit":"time", "time" : "2026-08-01T00:00:00Z", "author_id": "eight"}"#,
        ];
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), lines.join("\n")).unwrap();
        let work = Prepare::new(|ev| Some(ev.id.as_bytes().to_vec()))
            .needing(october, crate::analyze::anomalies::service_accounts::may_provision);
        let results: Vec<_> =
            NdjsonSource::from_paths(&[dir.path().to_path_buf()]).unwrap().prepare(Some(work)).collect();
        let rec = |i: usize| results[i].as_ref().unwrap();
        assert_eq!(*rec(0).event, crate::model::AuditEvent::hollow(at("2026-09-30T23:59:59.999999Z")));
        assert_eq!(rec(0).prepared, None);
        for i in [1, 2] {
            assert_eq!(rec(i).event.actor.id.as_deref(), Some((i + 1).to_string().as_str()));
            assert_eq!(rec(i).prepared.as_deref(), Some(rec(i).event.id.as_bytes()));
        }
        assert_eq!(rec(3).event.id, "");
        assert_eq!(rec(3).event.time, at("2026-11-01T00:00:00Z"));
        let file = dir.path().join("a.log").display().to_string();
        let err = |i: usize| results[i].as_ref().unwrap_err().to_string();
        assert_eq!(err(4), format!("{file}:5: invalid JSON: EOF while parsing an object at line 1 column 44"));
        assert_eq!(err(5), format!("{file}:6: field \"author_id\" is not an integer: \"six\""));
        assert_eq!(rec(6).event.actor.id.as_deref(), Some("7"));
        assert_eq!(rec(7).event.id, "", "spaced as some writers space it");
        assert_eq!(results.len(), 8);
    }

    /// A bundling work's events come several to a record, in order, with errors in their place
    /// and, hollow, the events not needed whole and those it had no bytes for.
    #[test]
    fn bundling_work_gets_the_events_of_a_batch_in_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..600 {
            let time = if i % 100 == 7 { "2026-09-01T00:00:00Z" } else { "2026-10-01T00:00:00Z" };
            text.push_str(&match i {
                300 => "{oops\n".to_string(),
                _ => format!("{{\"time\":\"{time}\",\"author_id\":{i},\"event_name\":\"n{i}\"}}\n"),
            });
        }
        std::fs::write(dir.path().join("a.log"), text).unwrap();
        let at = |t: &str| crate::model::time::parse(t).unwrap();
        let october =
            crate::range::TimeRange { from: Some(at("2026-10-01T00:00:00Z")), to: Some(at("2026-11-01T00:00:00Z")) };
        let work = Prepare::bundling(|ev, out| {
            out.extend_from_slice(ev.actor.id.as_deref().unwrap().as_bytes());
            ev.event_name != "n5"
        })
        .needing(october, |_| false);
        let results: Vec<_> =
            NdjsonSource::from_paths(&[dir.path().to_path_buf()]).unwrap().prepare(Some(work)).collect();
        // What came, in order: an event's number (from its bytes), a hollow event, an error.
        let mut seen = Vec::new();
        for r in &results {
            match r {
                Ok(rec) if rec.prepared.is_none() => {
                    let time = if seen.len() == 5 { "2026-10-01T00:00:00Z" } else { "2026-09-01T00:00:00Z" };
                    assert_eq!(*rec.event, AuditEvent::hollow(at(time)));
                    seen.push("-".to_string());
                }
                Ok(rec) => {
                    let frames: Vec<_> = Prepare::frames(rec.prepared.as_deref().unwrap())
                        .map(|f| std::str::from_utf8(f).unwrap().to_string())
                        .collect();
                    assert!(!frames.is_empty());
                    // The earliest time of its events (here, all the same).
                    assert_eq!(*rec.event, AuditEvent::hollow(at("2026-10-01T00:00:00Z")));
                    seen.extend(frames);
                }
                Err(e) => {
                    assert!(e
                        .to_string()
                        .ends_with("a.log:301: invalid JSON: key must be a string at line 1 column 2"));
                    seen.push("E".to_string());
                }
            }
        }
        let wanted: Vec<String> = (0..600)
            .map(|i| match i {
                300 => "E".to_string(),
                i if i % 100 == 7 || i == 5 => "-".to_string(),
                i => i.to_string(),
            })
            .collect();
        assert_eq!(seen, wanted);
        // Fewer records than events: a batch's events share one, up to a hollow event or an error.
        assert!(results.len() < 20, "{} records", results.len());
    }

    #[test]
    fn reads_gzip_and_sorts_directory_entries() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: u32| format!("{{\"time\":\"2026-10-01T00:00:00Z\",\"author_id\":{id}}}\n");
        std::fs::write(dir.path().join("b.log"), line(2)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(line(1).as_bytes()).unwrap();
        std::fs::write(dir.path().join("a.log.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join(".hidden"), "garbage").unwrap();
        let ids: Vec<_> = NdjsonSource::from_paths(&[dir.path().to_path_buf()])
            .unwrap()
            .map(|r| r.unwrap().event.actor.id.unwrap())
            .collect();
        assert_eq!(ids, ["1", "2"]);
    }
}
