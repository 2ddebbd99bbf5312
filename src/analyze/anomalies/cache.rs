//! Rows kept between runs (`anomalies --cache-dir DIR`): what each NDJSON file gave the
//! in-memory store — its rows with their texts, its session starts, the names it told and the
//! secrets found in its prompts — kept as one segment per file, and read back instead of the
//! file while the file is unchanged.
//!
//! A run over a baseline re-reads weeks of logs that did not change since the day before:
//! reading and parsing them is most of a run (`bench/anomalies.sh`: about 90% at 9.1M events);
//! a segment reads back in a fraction of that, each of its texts interned once, not once per row.
//!
//! A segment is used only when all of these hold, else the file is read and, where it can be,
//! its segment written again:
//! - the file is the same: same canonical path, size, modification time (to the nanosecond),
//!   device and inode as when the segment was written, and it did not change while it was read;
//! - the same build wrote it: this program's version and its executable's length and CRC-32
//!   (the rules of reading change between builds: a segment never outlives its build);
//! - its checksum (CRC-32 of every byte before it) holds, and it is of this format;
//! - every row is inside the window asked for (a segment holds all of a file's events: only a
//!   file whose events all fell inside the window of the run that read it gets one).
//!
//! A segment is written while its file is read, in blocks of [`BLOCK`] rows, each with the texts
//! first met in it, its rows (texts as their number in the file), and the session starts, names
//! and secrets of those rows; a footer gives the rows' first and last times and their count. It
//! reads back block by block, so neither a segment nor its rows are ever held whole beside the
//! dataset. Segments are named by a hash of the file's canonical path and written owner-only
//! (they hold actor ids, names and addresses), through a temporary file renamed into place, on a
//! thread of their own; they are not fsynced (a torn segment fails its checksum and the file is
//! read). At the end of a run, segments of files that no longer exist or changed are removed.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::dataset::{Dataset, EventId, Extra, Recording, Row, RowFact, SecretHit, Text, START_NAME};
use super::draft::Start;
use super::store::NameKind;
use crate::analyze::aggregate::AggregateError;
use crate::collections::FastMap;
use crate::collections::FastSet;
use crate::model::{ActorClass, Outcome};
use crate::pack::{Packer, Unpacker};
use crate::range::TimeRange;
use crate::sources::ndjson::{Input, NdjsonSource};
use crate::sources::Prepare;

/// First bytes of a segment.
const MAGIC: &[u8] = b"compliance-report rows\n";
/// Bumped whenever what a segment holds or how changes.
const FORMAT: u32 = 1;
/// Segments' file name extension.
const EXT: &str = "rows";
/// Rows per block (a block is about 3-4 MB).
pub const BLOCK: usize = 1 << 16;
/// Blocks waiting for the writing thread.
const QUEUED: usize = 4;
/// The footer: first and last time, rows, then the checksum.
const FOOTER: usize = 8 + 8 + 8;

/// Why the cache cannot be used (a segment that cannot be used only means its file is read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error(
        "cannot use {path} as the rows cache: {source} (give --cache-dir a directory this user can create and \
         write, or leave the option out)"
    )]
    Dir {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot tell which build of compliance-report this is, which the rows cache needs to keep builds apart: \
         {source} (run without --cache-dir)"
    )]
    Build {
        #[source]
        source: io::Error,
    },
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] AggregateError),
    /// A segment whose checksum held stopped reading back part-way (its rows were being added).
    #[error(
        "the rows cache's segment {segment} stopped reading back part-way ({why}); delete it, or the whole \
         --cache-dir, and run again"
    )]
    Segment { segment: String, why: String },
}

/// A file as it was when read: a segment stands for this exact file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileKey {
    path: String,
    len: u64,
    /// Modification time, nanoseconds since the epoch.
    modified: i64,
    dev: u64,
    ino: u64,
}

impl FileKey {
    /// The key of the file at `path` now; `None` when it cannot be told (the file cannot be
    /// read, or its canonical path is not UTF-8): such a file is read, never cached.
    fn of(path: &Path) -> Option<FileKey> {
        let path = std::fs::canonicalize(path).ok()?;
        let m = std::fs::metadata(&path).ok()?;
        Some(FileKey {
            path: path.to_str()?.to_string(),
            len: m.len(),
            modified: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    fn pack(&self, p: &mut Packer) {
        p.text(&self.path);
        p.u64(self.len);
        p.i64(self.modified);
        p.u64(self.dev);
        p.u64(self.ino);
    }

    fn unpack(r: &mut Unpacker) -> Option<FileKey> {
        Some(FileKey { path: r.text()?.to_string(), len: r.u64()?, modified: r.i64()?, dev: r.u64()?, ino: r.u64()? })
    }
}

/// A segment's header: its format, the build that wrote it and the file it stands for.
fn header(build: &str, key: &FileKey) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT.to_le_bytes());
    let mut p = Packer { out: &mut out };
    p.text(build);
    key.pack(&mut p);
    out
}

/// What [`header`] wrote at the start of `bytes`, and its length; `None` if they do not start
/// with a segment's header.
fn read_header(bytes: &[u8]) -> Option<(u32, &str, FileKey, usize)> {
    let mut r = Unpacker { bytes: bytes.strip_prefix(MAGIC)? };
    let format = r.u32()?;
    let build = r.text()?;
    let key = FileKey::unpack(&mut r)?;
    Some((format, build, key, bytes.len() - r.bytes.len()))
}

/// How much of a run the cache answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Files whose rows came from their segment, and those rows.
    pub files_cached: usize,
    pub rows_cached: usize,
    /// Files read, and of those, how many got a segment written.
    pub files_read: usize,
    pub files_written: usize,
    /// Segments removed at the end (their files gone or changed).
    pub removed: usize,
}

/// What the writing thread is given.
enum Msg {
    /// A segment begins: where it goes, its header.
    Begin(PathBuf, Vec<u8>),
    Block(Block),
    /// The segment ends: with its footer, kept; without, dropped.
    End(Option<Vec<u8>>),
}

/// The segments of one directory, for one run.
pub struct RowCache {
    dir: PathBuf,
    /// This build ([`RowCache::open`]).
    build: String,
    /// Segments used or written in this run (not removed at the end).
    used: FastSet<PathBuf>,
    writer: Option<(SyncSender<Msg>, JoinHandle<usize>)>,
    /// Buffers of blocks written, handed back for the next blocks (their pages already mapped).
    spare: Option<Receiver<Vec<u8>>>,
    pub stats: CacheStats,
}

/// A block's bytes in two buffers, written one after the other: what precedes its rows, and its
/// rows (encoded first, while the texts first met in them are noted).
struct Block {
    head: Vec<u8>,
    rows: Vec<u8>,
}

/// What came of looking for a file's segment.
#[derive(Debug, PartialEq, Eq)]
enum Loaded {
    /// Its rows were added.
    Rows(usize),
    /// It cannot be used, and why; nothing was added.
    Miss(&'static str),
}

impl RowCache {
    /// The cache in `dir` (created, owner-only, if missing).
    pub fn open(dir: &Path) -> Result<RowCache, CacheError> {
        let dir_err = |source| CacheError::Dir { path: dir.display().to_string(), source };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| tempfile::tempfile_in(dir).map(drop))
            .map_err(dir_err)?;
        let build = build().map_err(|source| CacheError::Build { source })?;
        Ok(RowCache {
            dir: dir.to_path_buf(),
            build,
            used: FastSet::default(),
            writer: None,
            spare: None,
            stats: CacheStats::default(),
        })
    }

    /// Where the segment of the file at `path` (canonical) is kept.
    fn segment_path(&self, path: &str) -> PathBuf {
        let digest = Sha256::digest(path.as_bytes());
        self.dir.join(format!("{}.{EXT}", hex::encode(&digest[..16])))
    }

    /// Read every input into a dataset: each file from its segment where one can be used, else
    /// read (and its segment written where it can be); `progress` is told the rows kept so far.
    pub fn read(
        &mut self,
        inputs: Vec<Input>,
        within: &TimeRange,
        work: &Prepare,
        mut progress: impl FnMut(usize),
    ) -> Result<Dataset, CacheError> {
        let mut d = Dataset::default();
        for input in inputs {
            let key = match &input {
                Input::File(path) => FileKey::of(path),
                _ => None,
            };
            let segment = key.as_ref().map(|k| self.segment_path(&k.path));
            if let (Some(key), Some(segment)) = (&key, &segment) {
                match self.load(segment, key, within, &mut d)? {
                    Loaded::Rows(rows) => {
                        tracing::debug!(file = %key.path, rows, "rows from the cache");
                        self.used.insert(segment.clone());
                        self.stats.files_cached += 1;
                        self.stats.rows_cached += rows;
                        progress(d.rows.len());
                        continue;
                    }
                    Loaded::Miss(why) => tracing::debug!(file = %key.path, why, "reading the file"),
                }
            }
            self.stats.files_read += 1;
            d.record();
            let mut encoder = match (&key, segment) {
                (Some(key), Some(segment)) if self.send(Msg::Begin(segment.clone(), header(&self.build, key))) => {
                    Some((Encoder::new(&d), segment))
                }
                _ => None,
            };
            let stream = Box::new(NdjsonSource::new(vec![input]).prepare(Some(work.clone())));
            let all = d.read_more(stream, within, |d, all| {
                progress(d.rows.len());
                if !all && encoder.take().is_some() {
                    // An event outside the window: the file gets no segment.
                    self.send(Msg::End(None));
                }
                if let Some((e, _)) = encoder.as_mut().filter(|(e, _)| d.rows.len() - e.rows >= BLOCK) {
                    let block =
                        e.block(d, d.recording.as_ref().expect("recording since the file began"), self.buffers());
                    self.send(Msg::Block(block));
                }
            })?;
            // Kept only for a file read whole, inside the window, unchanged since it was opened.
            let whole = all && key.as_ref().is_some_and(|k| FileKey::of(Path::new(&k.path)).as_ref() == Some(k));
            let recording = d.recording.take().expect("recording since the file began");
            if let Some((mut e, segment)) = encoder {
                let end = whole.then(|| {
                    let block = e.block(&d, &recording, self.buffers());
                    self.send(Msg::Block(block));
                    self.used.insert(segment);
                    e.footer()
                });
                self.send(Msg::End(end));
            }
        }
        Ok(d)
    }

    /// Two empty buffers for a block: written ones handed back, else new.
    fn buffers(&mut self) -> Block {
        let spare = || {
            let mut buf = self.spare.as_ref().and_then(|r| r.try_recv().ok()).unwrap_or_default();
            buf.clear();
            buf
        };
        Block { head: spare(), rows: spare() }
    }

    /// Hand the writing thread a message (started on the first); whether it took it.
    fn send(&mut self, msg: Msg) -> bool {
        if self.writer.is_none() {
            let (tx, rx) = sync_channel::<Msg>(QUEUED);
            let (back, spare) = std::sync::mpsc::channel();
            self.spare = Some(spare);
            match std::thread::Builder::new().name("rows-cache-writer".into()).spawn(move || write_segments(rx, back)) {
                Ok(thread) => self.writer = Some((tx, thread)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start writing the rows cache");
                    return false;
                }
            }
        }
        self.writer.as_ref().is_some_and(|(tx, _)| tx.send(msg).is_ok())
    }

    /// Replay the segment at `path` of the file `key` into `d`, if it can be used.
    fn load(&self, path: &Path, key: &FileKey, within: &TimeRange, d: &mut Dataset) -> Result<Loaded, CacheError> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Miss("no segment")),
            Err(_) => return Ok(Loaded::Miss("segment unreadable")),
        };
        let Some(found) = check(&mut f, &self.build, key, within).ok().flatten() else {
            return Ok(Loaded::Miss("segment damaged or not one"));
        };
        let (start, rows) = match found {
            Ok(found) => found,
            Err(why) => return Ok(Loaded::Miss(why)),
        };
        let broken = |why: String| CacheError::Segment { segment: path.display().to_string(), why };
        let replayed = replay(&mut f, start, d).map_err(|e| broken(e.to_string()))?;
        if replayed != rows {
            return Err(broken(format!("{replayed} rows where its footer says {rows}")));
        }
        Ok(Loaded::Rows(rows))
    }

    /// Wait for the segments to be written, then remove those whose files are gone or changed.
    pub fn finish(&mut self) {
        if let Some((tx, thread)) = self.writer.take() {
            drop(tx);
            self.stats.files_written = thread.join().unwrap_or(0);
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|e| e != EXT) || self.used.contains(&path) {
                continue;
            }
            if stale(&path) && std::fs::remove_file(&path).is_ok() {
                self.stats.removed += 1;
            }
        }
    }
}

impl Drop for RowCache {
    /// A run that failed part-way: the segment being written is dropped with its thread.
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.writer.take() {
            drop(tx);
            thread.join().ok();
        }
    }
}

/// Whether the segment open in `f` can be used for the file `key` within `within` (checksum
/// included): where its blocks start and how many rows it holds, or why not. `Ok(None)`: it is
/// no segment or too short to be one.
#[allow(clippy::type_complexity)]
fn check(
    f: &mut File,
    build: &str,
    key: &FileKey,
    within: &TimeRange,
) -> io::Result<Option<Result<(u64, usize), &'static str>>> {
    let len = f.metadata()?.len();
    let mut head = vec![0; usize::try_from(len.min(64 << 10)).unwrap_or(0)];
    f.read_exact(&mut head)?;
    let Some((format, was_build, was, start)) = read_header(&head) else { return Ok(None) };
    if format != FORMAT || was_build != build {
        return Ok(Some(Err("segment of another build")));
    }
    if was != *key {
        return Ok(Some(Err("file changed since its segment was written")));
    }
    let Some(end) = len.checked_sub((FOOTER + 4) as u64).filter(|end| *end >= start as u64) else { return Ok(None) };
    f.seek(SeekFrom::Start(end))?;
    let mut footer = [0u8; FOOTER + 4];
    f.read_exact(&mut footer)?;
    let mut r = Unpacker { bytes: &footer };
    let (first, last, rows, crc) = (r.i64(), r.i64(), r.u64(), r.u32());
    let (Some(first), Some(last), Some(rows), Some(crc)) = (first, last, rows, crc) else { return Ok(None) };
    if rows > 0 && !inside(within, first, last) {
        return Ok(Some(Err("file's events reach outside the window")));
    }
    // The checksum, over every byte before it, read once before any row is added.
    f.seek(SeekFrom::Start(0))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    let mut left = len - 4;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        f.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    if hasher.finalize() != crc {
        return Ok(Some(Err("segment damaged (checksum)")));
    }
    Ok(Some(Ok((start as u64, usize::try_from(rows).unwrap_or(usize::MAX)))))
}

/// Add the blocks of the segment open in `f`, from `start`, to `d`; the rows added.
fn replay(f: &mut File, start: u64, d: &mut Dataset) -> io::Result<usize> {
    f.seek(SeekFrom::Start(start))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut file = FileTexts { from: d.rows.len(), ..FileTexts::default() };
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len == 0 {
            return Ok(d.rows.len() - file.from);
        }
        buf.resize(len, 0);
        r.read_exact(&mut buf)?;
        file.block(&buf, d).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a block does not read back"))?;
    }
}

/// This build: the program's version, and its executable's length and CRC-32 (read once a run,
/// some 20 ms: a rebuilt binary of the same length and modification time, as reproducible builds
/// make, is another build).
fn build() -> io::Result<String> {
    let mut exe = File::open(std::env::current_exe()?)?;
    let (mut crc, mut len) = (crc32fast::Hasher::new(), 0u64);
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = exe.read(&mut buf)?;
        if n == 0 {
            return Ok(format!("{} {len} {:08x}", env!("CARGO_PKG_VERSION"), crc.finalize()));
        }
        crc.update(&buf[..n]);
        len += n as u64;
    }
}

/// Whether `[first, last]` (microseconds: each row's time, truncated) lies inside `within` for
/// every instant those rows' events can have had.
fn inside(within: &TimeRange, first: i64, last: i64) -> bool {
    let from_ok = within.from.is_none_or(|from| super::dataset::ts(first) >= from);
    let to_ok = within.to.is_none_or(|to| super::dataset::ts(last.saturating_add(1)) <= to);
    from_ok && to_ok
}

/// Whether the segment at `path` is one whose file is gone or changed (a segment of this
/// program it cannot read counts too; a file not starting as a segment does not).
fn stale(path: &Path) -> bool {
    let mut head = vec![0; 64 << 10];
    let Ok(n) = File::open(path).and_then(|mut f| f.read(&mut head)) else { return false };
    if !head[..n].starts_with(MAGIC) {
        return false;
    }
    read_header(&head[..n]).is_none_or(|(_, _, was, _)| FileKey::of(Path::new(&was.path)).as_ref() != Some(&was))
}

/// The writing thread: each segment into a temporary file in its directory, renamed into place
/// at its end (not fsynced), blocks' buffers handed `back`; the segments written.
fn write_segments(rx: Receiver<Msg>, back: std::sync::mpsc::Sender<Vec<u8>>) -> usize {
    struct Open {
        path: PathBuf,
        out: BufWriter<tempfile::NamedTempFile>,
        crc: crc32fast::Hasher,
    }
    impl Open {
        fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.crc.update(bytes);
            self.out.write_all(bytes)
        }
    }
    let begin = |path: PathBuf, header: &[u8]| -> io::Result<Open> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".segment")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        let mut open = Open { path, out: BufWriter::with_capacity(1 << 20, tmp), crc: crc32fast::Hasher::new() };
        open.put(header)?;
        Ok(open)
    };
    let end = |mut open: Open, footer: &[u8]| -> io::Result<()> {
        open.put(&0u32.to_le_bytes())?;
        open.put(footer)?;
        let crc = open.crc.clone().finalize();
        open.out.write_all(&crc.to_le_bytes())?;
        open.out.into_inner().map_err(io::IntoInnerError::into_error)?.persist(&open.path).map_err(|e| e.error)?;
        Ok(())
    };
    let warn = |path: &Path, e: io::Error| {
        tracing::warn!(segment = %path.display(), error = %e, "cannot write to the rows cache; the file is read next time");
    };
    let (mut open, mut written) = (None::<Open>, 0);
    for msg in rx {
        match msg {
            Msg::Begin(path, header) => {
                open = begin(path.clone(), &header).map_err(|e| warn(&path, e)).ok();
            }
            Msg::Block(Block { head, rows }) => {
                if let Some(o) = open.as_mut() {
                    let len = u32::try_from(head.len() + rows.len()).expect("blocks under 4 GiB");
                    let put = o.put(&len.to_le_bytes()).and_then(|()| o.put(&head)).and_then(|()| o.put(&rows));
                    if let Err(e) = put {
                        warn(&o.path, e);
                        open = None;
                    }
                }
                back.send(head).ok();
                back.send(rows).ok();
            }
            Msg::End(footer) => {
                if let (Some(o), Some(footer)) = (open.take(), footer) {
                    let path = o.path.clone();
                    match end(o, &footer) {
                        Ok(()) => written += 1,
                        Err(e) => warn(&path, e),
                    }
                }
            }
        }
    }
    written
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).expect("fewer than 2^32 in a segment").to_le_bytes());
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Unknown => 2,
    }
}

const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Unknown];

fn class_code(c: ActorClass) -> u8 {
    match c {
        ActorClass::User => 0,
        ActorClass::ServiceAccount => 1,
        ActorClass::DeployKey => 2,
        ActorClass::DeployToken => 3,
        ActorClass::CiRunner => 4,
        ActorClass::ProjectBot => 5,
        ActorClass::Unauthenticated => 6,
        ActorClass::WebhookEvent => 7,
        ActorClass::PollCycle => 8,
        ActorClass::AdminAction => 9,
        ActorClass::System => 10,
        ActorClass::Unknown => 11,
    }
}

const CLASSES: [ActorClass; 12] = [
    ActorClass::User,
    ActorClass::ServiceAccount,
    ActorClass::DeployKey,
    ActorClass::DeployToken,
    ActorClass::CiRunner,
    ActorClass::ProjectBot,
    ActorClass::Unauthenticated,
    ActorClass::WebhookEvent,
    ActorClass::PollCycle,
    ActorClass::AdminAction,
    ActorClass::System,
    ActorClass::Unknown,
];

/// Flags of a row's encoding.
const HEX_ID: u8 = 1;
const EXTRA: u8 = 2;

/// A file's segment while the file is read: how far its blocks got, and the number of each
/// text met in it (by the text's address in the dataset).
struct Encoder {
    numbers: FastMap<usize, u32>,
    /// The next row, session start, name and secret to write (indexes in the dataset and its
    /// recording).
    rows: usize,
    starts: usize,
    names: usize,
    secrets: usize,
    first: i64,
    last: i64,
    /// The file's first row.
    from: usize,
}

impl Encoder {
    fn new(d: &Dataset) -> Encoder {
        let (rows, secrets) = (d.rows.len(), d.secrets.len());
        Encoder {
            numbers: FastMap::default(),
            rows,
            starts: 0,
            names: 0,
            secrets,
            first: i64::MAX,
            last: i64::MIN,
            from: rows,
        }
    }

    /// The block of what `d` read since the last block: the texts first met, the session starts,
    /// names and secrets, then the rows.
    fn block(&mut self, d: &Dataset, rec: &Recording, buffers: Block) -> Block {
        let rows = self.rows..d.rows.len();
        let mut new: Vec<&Text> = Vec::new();
        let Block { head: mut out, rows: mut body } = buffers;
        body.reserve(rows.len() * 48);
        for i in rows.clone() {
            let row = &d.rows[i];
            let f = &row.fact;
            (self.first, self.last) = (self.first.min(f.time), self.last.max(f.time));
            body.extend_from_slice(&f.time.to_le_bytes());
            let hex = matches!(row.id, EventId::Hex(_));
            body.push(if hex { HEX_ID } else { 0 } | if row.says_more() { EXTRA } else { 0 });
            body.push(outcome_code(f.outcome));
            body.push(class_code(f.class));
            match &row.id {
                EventId::Hex(bytes) => body.extend_from_slice(bytes),
                EventId::Other(text) => Packer { out: &mut body }.text(text),
            }
            for t in [&f.actor, &f.event_name, &f.ip, &f.session, &f.flow_type, &f.project, &row.on_behalf_of] {
                number(&mut self.numbers, &mut new, &mut body, t);
            }
            if row.says_more() {
                let extra = row.extra();
                for t in [&extra.model, &extra.scopes, &extra.target] {
                    number(&mut self.numbers, &mut new, &mut body, t);
                }
                body.extend_from_slice(&extra.input_tokens.to_le_bytes());
                body.extend_from_slice(&extra.output_tokens.to_le_bytes());
            }
        }
        let texts: usize = new.iter().map(|t| 4 + t.len()).sum();
        out.reserve(4 + texts + 64);
        put_u32(&mut out, new.len());
        for t in new {
            Packer { out: &mut out }.text(t);
        }
        let starts = &rec.starts[self.starts..];
        put_u32(&mut out, starts.len());
        for (row, start) in starts {
            put_u32(&mut out, *row as usize);
            out.push(start.bits());
            out.extend_from_slice(&start.authorized_at.unwrap_or(0).to_le_bytes());
        }
        let names = &rec.names[self.names..];
        put_u32(&mut out, names.len());
        for (id, name) in names {
            let mut p = Packer { out: &mut out };
            p.text(id);
            p.text(name);
        }
        let secrets = &d.secrets[self.secrets..];
        put_u32(&mut out, secrets.len());
        for hit in secrets {
            put_u32(&mut out, hit.row - self.from);
            put_u32(&mut out, hit.kinds.len());
            for kind in &hit.kinds {
                Packer { out: &mut out }.text(kind);
            }
            put_u32(&mut out, hit.fields.len());
            for field in &hit.fields {
                Packer { out: &mut out }.text(field);
            }
        }
        put_u32(&mut out, rows.len());
        (self.rows, self.starts, self.names, self.secrets) =
            (d.rows.len(), rec.starts.len(), rec.names.len(), d.secrets.len());
        Block { head: out, rows: body }
    }

    /// The footer: the rows' first and last times and how many there are.
    fn footer(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOOTER);
        let mut p = Packer { out: &mut out };
        p.i64(self.first);
        p.i64(self.last);
        p.u64((self.rows - self.from) as u64);
        out
    }
}

/// Write the number of `t` in the file to `body`, numbering it (and noting it `new`) if first met.
fn number<'d>(numbers: &mut FastMap<usize, u32>, new: &mut Vec<&'d Text>, body: &mut Vec<u8>, t: &'d Text) {
    let next = u32::try_from(numbers.len()).expect("fewer than 2^32 texts in a file");
    let n = *numbers.entry(t.addr()).or_insert(next);
    if n == next {
        new.push(t);
    }
    body.extend_from_slice(&n.to_le_bytes());
}

/// A segment being read back: its texts so far, interned in the dataset, and what each event
/// name among them is.
#[derive(Default)]
struct FileTexts {
    texts: Vec<Text>,
    kinds: FastMap<u32, NameKind>,
    /// The file's first row in the dataset.
    from: usize,
}

impl FileTexts {
    /// Add one block to `d` as reading its rows from the file did (`None`: it does not read
    /// back).
    fn block(&mut self, bytes: &[u8], d: &mut Dataset) -> Option<()> {
        let mut r = Unpacker { bytes };
        let n = r.u32()? as usize;
        d.reserve_texts(n);
        self.texts.reserve(n);
        for _ in 0..n {
            self.texts.push(d.intern(r.text()?));
        }
        let n = r.u32()? as usize;
        let mut starts = Vec::with_capacity(n);
        for _ in 0..n {
            let row = r.u32()? as usize;
            let (flags, at) = (r.u8()?, r.i64()?);
            let start = Start::from_bits(flags, at);
            starts.push((self.from + row, start));
        }
        for _ in 0..r.u32()? {
            let (id, name) = (r.text()?, r.text()?);
            d.name(id, name);
        }
        for _ in 0..r.u32()? {
            let row = self.from + r.u32()? as usize;
            let kinds = (0..r.u32()?)
                .map(|_| crate::secrets::Kind::parse(r.text()?).map(crate::secrets::Kind::as_str))
                .collect::<Option<Vec<_>>>()?;
            let fields = (0..r.u32()?).map(|_| r.text().map(str::to_string)).collect::<Option<Vec<_>>>()?;
            d.secrets.push(SecretHit { row, kinds, fields });
        }
        let n = r.u32()? as usize;
        // Rows of a session, by the session's number: each session looked up once per block.
        let mut in_sessions: Vec<(u32, u32)> = Vec::new();
        let first = d.rows.len();
        for k in 0..n {
            let (row, session) = self.row(&mut r, d)?;
            if !row.fact.session.is_blank() {
                in_sessions.push((session, u32::try_from(k).ok()?));
            }
            d.rows.push(row);
        }
        in_sessions.sort_unstable();
        for group in in_sessions.chunk_by(|a, b| a.0 == b.0) {
            let session = self.text(group[0].0)?;
            for (_, k) in group {
                let i = first + *k as usize;
                let row = &d.rows[i];
                let (time, name) = (row.time(), row.fact.event_name.clone());
                let start = match &*name {
                    // In row order, as written.
                    START_NAME => starts
                        .binary_search_by_key(&i, |(at, _)| *at)
                        .map_or_else(|_| Start::default(), |at| starts[at].1),
                    _ => Start::default(),
                };
                d.note_session(i, &session, time, &name, &start);
            }
        }
        r.done().then_some(())
    }

    /// The text numbered `n` in the file.
    fn text(&self, n: u32) -> Option<Text> {
        self.texts.get(n as usize).cloned()
    }

    /// One row, and its session's number.
    fn row(&mut self, r: &mut Unpacker, d: &mut Dataset) -> Option<(Row, u32)> {
        let time = r.i64()?;
        let [flags, outcome, class] = *r.take(3)? else { return None };
        let id = if flags & HEX_ID != 0 {
            EventId::Hex(r.take(16)?.try_into().ok()?)
        } else {
            EventId::Other(Text::from(r.text()?))
        };
        let mut numbers = [0u32; 10];
        let texts = if flags & EXTRA != 0 { 10 } else { 7 };
        for n in &mut numbers[..texts] {
            *n = r.u32()?;
        }
        let name_number = numbers[1];
        let event_name = self.text(name_number)?;
        let name = *self.kinds.entry(name_number).or_insert_with(|| d.intern_name(&event_name).1);
        let fact = RowFact {
            time,
            actor: self.text(numbers[0])?,
            event_name,
            ip: self.text(numbers[2])?,
            session: self.text(numbers[3])?,
            flow_type: self.text(numbers[4])?,
            outcome: *OUTCOMES.get(usize::from(outcome))?,
            class: *CLASSES.get(usize::from(class))?,
            name,
            project: self.text(numbers[5])?,
        };
        let on_behalf_of = self.text(numbers[6])?;
        let extra = if flags & EXTRA != 0 {
            Extra {
                model: self.text(numbers[7])?,
                scopes: self.text(numbers[8])?,
                target: self.text(numbers[9])?,
                input_tokens: r.u64()?,
                output_tokens: r.u64()?,
            }
        } else {
            Extra::default()
        };
        Some((Row::new(id, fact, on_behalf_of, extra), numbers[3]))
    }
}
#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::analyze::anomalies::dataset::RowParts;
    use crate::analyze::anomalies::draft::Draft;
    use crate::analyze::anomalies::store::Store;

    const HOUR: i64 = 3_600_000_000;
    /// 2026-10-02T00:00:00Z in microseconds.
    const DAY: i64 = 1_790_899_200_000_000;

    fn parts<'a>(time: i64, id: &'a str, actor: &'a str, event_name: &'a str, session: &'a str) -> RowParts<'a> {
        RowParts {
            time,
            id,
            actor,
            event_name,
            session,
            outcome: Outcome::Success,
            class: ActorClass::User,
            ..RowParts::default()
        }
    }

    fn draft(row: RowParts<'static>) -> Draft<'static> {
        Draft { row, names: [None, None], start: Start::default(), secrets: None }
    }

    /// A session started for a user by a service account (authorized, a secret in its prompt),
    /// one of its resources, an event with a non-hex id, one with tokens and a model, one
    /// provisioning an account — each pair of texts shared where events share them.
    fn events() -> Vec<Draft<'static>> {
        let start = Draft {
            row: RowParts {
                on_behalf_of: "1066",
                scopes: Cow::Borrowed("api\u{1f}read_repository"),
                flow_type: "fix_pipeline",
                ip: "10.0.0.1",
                class: ActorClass::ServiceAccount,
                ..parts(DAY, "0123456789abcdef0123456789abcdef", "5001", START_NAME, "s-1")
            },
            names: [Some(("5001", "duo-sa")), Some(("1066", "priya"))],
            start: Start { recorded: true, authorized: true, authorized_at: Some(DAY - 1_000_000) },
            secrets: Some((vec!["gitlab_token"], vec!["input_prompt".to_string()])),
        };
        let resource = draft(RowParts {
            flow_type: "fix_pipeline",
            project: Cow::Borrowed("acme/api"),
            ..parts(DAY + HOUR, "0123456789abcdef0123456789abcdf0", "5001", "duo_flow_resource_commit", "s-1")
        });
        let other_id = draft(RowParts {
            outcome: Outcome::Failure,
            class: ActorClass::Unauthenticated,
            ..parts(DAY + 2 * HOUR, "audit-42", "-1", "user_login_failed", "")
        });
        let tokens = draft(RowParts {
            input_tokens: 4665,
            output_tokens: 1427,
            model: Cow::Borrowed("anthropic/claude"),
            ..parts(DAY + 3 * HOUR, "0123456789abcdef0123456789abcdf1", "1066", "duo_chat_completion", "s-2")
        });
        let provisioning = Draft {
            names: [Some(("1", "root")), None],
            ..draft(RowParts {
                target: "7001",
                ..parts(DAY + 4 * HOUR, "0123456789abcdef0123456789abcdf2", "1", "service_account_created", "")
            })
        };
        vec![start, resource, other_id, tokens, provisioning]
    }

    /// What a dataset holds, as text (rows, sessions by id, names, secrets).
    fn holds(d: &Dataset) -> String {
        let sessions: std::collections::BTreeMap<String, String> =
            d.sessions.iter().map(|(id, s)| (id.to_string(), format!("{s:?}"))).collect();
        let names: Vec<String> = ["5001", "1066", "1", "-1"].iter().map(|id| d.name_of(id)).collect();
        format!("{:?}\n{sessions:?}\n{names:?}\n{:?}", d.rows.iter().collect::<Vec<_>>(), d.secrets)
    }

    fn key() -> FileKey {
        FileKey { path: "/var/log/gitlab/audit_json.log.1".into(), len: 10, modified: 7, dev: 1, ino: 2 }
    }

    /// Read the events after the first as one file, its segment written to `path` for `key` by
    /// `build` in blocks ending after each of `splits` of its rows (and at its end); the dataset.
    fn written(path: &Path, build: &str, key: &FileKey, events: &[Draft<'static>], splits: &[usize]) -> Dataset {
        let mut d = Dataset::default();
        d.push_draft(events[0].clone());
        d.record();
        let mut e = Encoder::new(&d);
        let (tx, rx) = sync_channel(64);
        tx.send(Msg::Begin(path.to_path_buf(), header(build, key))).unwrap();
        for (k, ev) in events[1..].iter().enumerate() {
            d.push_draft(ev.clone());
            if splits.contains(&(k + 1)) {
                tx.send(Msg::Block(e.block(&d, d.recording.as_ref().unwrap(), empty()))).unwrap();
            }
        }
        let rec = d.recording.take().unwrap();
        tx.send(Msg::Block(e.block(&d, &rec, empty()))).unwrap();
        tx.send(Msg::End(Some(e.footer()))).unwrap();
        drop(tx);
        let (back, spare) = std::sync::mpsc::channel();
        assert_eq!(write_segments(rx, back), 1);
        assert_eq!(spare.try_iter().count(), 2 * (splits.len() + 1), "every buffer handed back");
        d
    }

    fn empty() -> Block {
        Block { head: Vec::new(), rows: Vec::new() }
    }

    /// A block's bytes as written.
    fn bytes(b: Block) -> Vec<u8> {
        [b.head, b.rows].concat()
    }

    /// The rows of the segment at `path` for `key`, replayed after those of `first`.
    fn replayed(path: &Path, key: &FileKey, first: &Draft<'static>) -> Dataset {
        let mut d = Dataset::default();
        d.push_draft(first.clone());
        let mut f = File::open(path).unwrap();
        let (start, rows) = check(&mut f, "build 1", key, &TimeRange::default()).unwrap().unwrap().unwrap();
        assert_eq!(replay(&mut f, start, &mut d).unwrap(), rows);
        d
    }

    #[test]
    fn a_segment_reads_back_as_reading_its_file_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.rows");
        let mut events = events();
        // The file's first event starts the session again: the authorization it gives is the one kept.
        events
            .insert(1, Draft { start: Start { authorized_at: Some(DAY - 5), ..events[0].start }, ..events[0].clone() });
        for splits in [&[][..], &[1, 3], &[1, 2, 3, 4]] {
            let read = written(&path, "build 1", &key(), &events, splits);
            let replayed = replayed(&path, &key(), &events[0]);
            assert_eq!(holds(&replayed), holds(&read), "blocks after {splits:?}");
            // The texts are the dataset's: rows of both files share them.
            assert!(replayed.rows[0].fact.actor.same(&replayed.rows[1].fact.actor));
            let s = &replayed.sessions["s-1"];
            assert_eq!(
                (s.start, s.authorized_at, s.resources, &s.rows[..]),
                (Some(0), Some(DAY - 5), 1, &[0, 1, 2][..])
            );
            assert_eq!(replayed.secrets.iter().map(|h| h.row).collect::<Vec<_>>(), [0, 1]);
            assert_eq!(replayed.rows[3].id.to_string(), "audit-42");
            assert_eq!((replayed.rows[4].tokens(), &*replayed.rows[4].extra().model), (6092, "anthropic/claude"));
            assert_eq!(&*replayed.rows[5].extra().target, "7001");
            assert_eq!(Store::name_of(&replayed, "1"), "root");
        }
    }

    #[test]
    fn a_block_is_the_texts_first_met_then_rows_of_numbers() {
        let plain = draft(parts(DAY, "0123456789abcdef0123456789abcdef", "5001", "duo_flow_stopped", "s-1"));
        let mut d = Dataset::default();
        d.push_draft(plain.clone());
        d.record();
        let mut e = Encoder::new(&d);
        d.push_draft(plain.clone());
        let row = |expected: &mut Vec<u8>| {
            expected.extend_from_slice(&DAY.to_le_bytes());
            expected.extend_from_slice(&[HEX_ID, 0, 0]);
            expected.extend_from_slice(&hex::decode("0123456789abcdef0123456789abcdef").unwrap());
            for n in [0u32, 1, 2, 3, 2, 2, 2] {
                expected.extend_from_slice(&n.to_le_bytes());
            }
        };
        // Texts: actor, event name, the empty text (ip, flow type, project, on behalf of), session;
        // no session starts, names or secrets; one row.
        let mut expected = 4u32.to_le_bytes().to_vec();
        for t in ["5001", "duo_flow_stopped", "", "s-1"] {
            Packer { out: &mut expected }.text(t);
        }
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        row(&mut expected);
        assert_eq!(bytes(e.block(&d, d.recording.as_ref().unwrap(), empty())), expected);
        // The next block has no new texts: its row is numbers only.
        d.push_draft(plain);
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        row(&mut expected);
        assert_eq!(bytes(e.block(&d, d.recording.as_ref().unwrap(), empty())), expected);
        let mut footer = DAY.to_le_bytes().to_vec();
        footer.extend_from_slice(&DAY.to_le_bytes());
        footer.extend_from_slice(&2u64.to_le_bytes());
        assert_eq!(e.footer(), footer);
    }

    #[test]
    fn codes_of_outcomes_and_classes_read_back() {
        for o in OUTCOMES {
            assert_eq!(OUTCOMES[usize::from(outcome_code(o))], o);
        }
        for c in CLASSES {
            assert_eq!(CLASSES[usize::from(class_code(c))], c);
        }
    }

    #[test]
    fn windows_hold_a_file_only_with_every_instant_of_its_rows() {
        let at = |us: i64| Some(super::super::dataset::ts(us));
        let within = TimeRange { from: at(DAY), to: at(DAY + HOUR) };
        assert!(inside(&within, DAY, DAY + HOUR - 1));
        // A row at the window's last microsecond may be of an event nanoseconds after it.
        let within_ns = TimeRange { to: Some(at(DAY + HOUR).unwrap() - chrono::Duration::nanoseconds(1)), ..within };
        assert!(!inside(&within_ns, DAY, DAY + HOUR - 1));
        assert!(!inside(&within, DAY - 1, DAY + 5));
        assert!(!inside(&within, DAY, DAY + HOUR));
        assert!(inside(&TimeRange::default(), i64::MIN / 2, i64::MAX / 2));
    }

    #[test]
    fn a_segment_stands_for_its_file_unchanged_whole_and_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.log");
        std::fs::write(&file, "lines\n").unwrap();
        let key = FileKey::of(&file).unwrap();
        let cache = RowCache::open(&dir.path().join("cache")).unwrap();
        let segment = cache.segment_path(&key.path);
        let mut events = events();
        events.insert(0, draft(parts(DAY, "0123456789abcdef0123456789abcde0", "5001", "user_created", "")));
        let read = written(&segment, &cache.build, &key, &events, &[2]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&segment).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("cache")).unwrap().permissions().mode() & 0o777, 0o700);
        let all = TimeRange::default();
        let load = |cache: &RowCache, within: &TimeRange| {
            let mut d = Dataset::default();
            d.push_draft(events[0].clone());
            let loaded = cache.load(&segment, &FileKey::of(&file).unwrap(), within, &mut d).unwrap();
            (loaded, d.rows.len())
        };
        assert_eq!(load(&cache, &all), (Loaded::Rows(5), 6));
        let mut d = Dataset::default();
        d.push_draft(events[0].clone());
        cache.load(&segment, &key, &all, &mut d).unwrap();
        assert_eq!(holds(&d), holds(&read));
        // A window the file's events reach outside of.
        let at = |us: i64| Some(super::super::dataset::ts(us));
        let after = TimeRange { from: at(DAY + 1), to: None };
        assert_eq!(load(&cache, &after), (Loaded::Miss("file's events reach outside the window"), 1));
        // Another build.
        let mut other = RowCache::open(&dir.path().join("cache")).unwrap();
        other.build = "other".into();
        assert_eq!(load(&other, &all), (Loaded::Miss("segment of another build"), 1));
        // A damaged segment.
        let good = std::fs::read(&segment).unwrap();
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 1;
        std::fs::write(&segment, &bad).unwrap();
        assert_eq!(load(&cache, &all), (Loaded::Miss("segment damaged (checksum)"), 1));
        std::fs::write(&segment, &good[..good.len() - 3]).unwrap();
        assert_eq!(load(&cache, &all).0, Loaded::Miss("segment damaged (checksum)"));
        std::fs::write(&segment, &good[..10]).unwrap();
        assert_eq!(load(&cache, &all).0, Loaded::Miss("segment damaged or not one"));
        // A block that does not read back behind a checksum that holds: rows may have been added,
        // so the run stops and says what to do.
        let (tx, rx) = sync_channel(8);
        tx.send(Msg::Begin(segment.clone(), header(&cache.build, &key))).unwrap();
        tx.send(Msg::Block(Block { head: vec![0, 0, 0, 0], rows: vec![9] })).unwrap();
        tx.send(Msg::End(Some(vec![0; FOOTER]))).unwrap();
        drop(tx);
        write_segments(rx, std::sync::mpsc::channel().0);
        let mut d = Dataset::default();
        let e = cache.load(&segment, &key, &all, &mut d).unwrap_err().to_string();
        assert!(e.contains("stopped reading back") && e.contains("delete it"), "{e}");
        std::fs::write(&segment, &good).unwrap();
        // The file touched since.
        let f = std::fs::File::options().write(true).open(&file).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(load(&cache, &all).0, Loaded::Miss("file changed since its segment was written"));
        // Left at the end of a run that did not use it: its file changed, it goes; a file that is
        // not a segment stays.
        std::fs::write(dir.path().join("cache/notes.rows"), "mine").unwrap();
        let mut next = RowCache::open(&dir.path().join("cache")).unwrap();
        next.finish();
        assert_eq!(next.stats.removed, 1);
        assert!(!segment.exists() && dir.path().join("cache/notes.rows").exists());
    }
}
