//! What the database sources share: each table is read page by page in keyset order
//! `(time, key)`, rows become records on two threads, and the tables' streams are merged into
//! one time-ordered stream in bounded memory, handed to the pipeline over a bounded channel.
//! A database source supplies only [`PageFetcher`]: how to fetch the next page of a table.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::tables::{ColumnError, Columns, TableSpec};
use super::{Prepare, Record, SourceError};
use crate::checkpoint::Position;

/// Fetches pages of the tables being merged.
pub trait PageFetcher {
    type Row: Columns + Send + 'static;

    /// Rows of table `stream` after `cursor` (from the start of the range without one), in
    /// keyset order, at most `rows` of them.
    fn fetch(
        &mut self,
        stream: usize,
        cursor: Option<&Position>,
        rows: i64,
    ) -> impl Future<Output = Result<Vec<Self::Row>, SourceError>>;
}

type Mapped = Result<(Vec<Record>, Vec<String>), ColumnError>;
type Chunk = Vec<Result<Record, SourceError>>;

/// Turn rows into records (the costliest step of a database export: mostly parsing
/// `details`); warnings about unparseable details are returned, not logged.
fn map_rows<R: Columns>(spec: &TableSpec, name: &Arc<str>, rows: &[R], work: Option<&Prepare>) -> Mapped {
    let mut notes = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let pos = spec.position(row)?;
        let event = spec.event(row, &mut |msg| notes.push(msg))?;
        out.push(Prepare::record(work, event, Some((name.clone(), pos))));
    }
    Ok((out, notes))
}

/// A second thread that maps half of each large page while the reader maps the other half.
/// One long-lived thread (not one per page) keeps the allocator's per-thread caches warm.
struct Mapper<R> {
    tx: SyncSender<(TableSpec, Arc<str>, Vec<R>)>,
    rx: Receiver<Mapped>,
    work: Option<Prepare>,
}

impl<R: Columns + Send + 'static> Mapper<R> {
    fn start(work: Option<Prepare>) -> std::io::Result<Mapper<R>> {
        let (tx, pages) = sync_channel::<(TableSpec, Arc<str>, Vec<R>)>(1);
        let (done, rx) = sync_channel(1);
        let theirs = work.clone();
        std::thread::Builder::new().name("row-mapper".into()).spawn(move || {
            for (spec, name, rows) in pages {
                if done.send(map_rows(&spec, &name, &rows, theirs.as_ref())).is_err() {
                    break;
                }
            }
        })?;
        Ok(Mapper { tx, rx, work })
    }

    /// Map a page, order kept, splitting large pages between this thread and the worker.
    fn map(&self, spec: &TableSpec, name: &Arc<str>, mut rows: Vec<R>) -> Mapped {
        if rows.len() < 256 {
            return map_rows(spec, name, &rows, self.work.as_ref());
        }
        let second = rows.split_off(rows.len() / 2);
        if self.tx.send((spec.clone(), name.clone(), second)).is_err() {
            unreachable!("the mapping thread lives as long as the mapper");
        }
        let first = map_rows(spec, name, &rows, self.work.as_ref());
        let second = self.rx.recv().expect("the mapping thread answers every page");
        let (mut records, mut notes) = first?;
        let (more, more_notes) = second?;
        records.extend(more);
        notes.extend(more_notes);
        Ok((records, notes))
    }
}

struct Stream {
    spec: TableSpec,
    cursor: Option<Position>,
    buf: VecDeque<Record>,
    done: bool,
    name: Arc<str>,
}

/// Read every table through `fetcher`, starting after each one's resume position, and send
/// the merged records in time order through `tx` in chunks; `work` is done on each record
/// where its row is mapped. `describe_error` turns a row that does not fit its mapping into an
/// error naming the database.
pub async fn merge<F: PageFetcher>(
    fetcher: &mut F,
    tables: Vec<(TableSpec, Option<Position>)>,
    page_rows: i64,
    work: Option<Prepare>,
    tx: &SyncSender<Chunk>,
    describe_error: &dyn Fn(&str, ColumnError) -> SourceError,
) -> Result<(), SourceError> {
    let mut streams: Vec<Stream> = tables
        .into_iter()
        .map(|(spec, cursor)| Stream {
            cursor,
            buf: VecDeque::new(),
            done: false,
            name: Arc::from(spec.stream.as_str()),
            spec,
        })
        .collect();
    let mapper =
        Mapper::<F::Row>::start(work).map_err(|e| SourceError::Io { path: "row mapping thread".into(), source: e })?;
    let mut chunk = Vec::with_capacity(1024);
    let mut warnings = 0u64;
    loop {
        // Refill empty buffers, then take the earliest head.
        for (i, s) in streams.iter_mut().enumerate() {
            if s.buf.is_empty() && !s.done {
                let rows = fetcher.fetch(i, s.cursor.as_ref(), page_rows).await?;
                s.done = (rows.len() as i64) < page_rows;
                let (records, notes) =
                    mapper.map(&s.spec, &s.name, rows).map_err(|e| describe_error(&s.spec.table, e))?;
                for note in notes {
                    warnings += 1;
                    if warnings <= 10 {
                        tracing::warn!("{note}");
                    }
                }
                if let Some((_, pos)) = records.last().and_then(|r| r.position.as_ref()) {
                    s.cursor = Some(pos.clone());
                }
                s.buf.extend(records);
            }
        }
        // Ties in time go by event id: the same rows merge in the same order whatever the
        // database and its table order (each table's own order is kept: only heads compete).
        let next = streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let r = s.buf.front()?;
                r.position.as_ref().map(|(_, p)| (p.time, r.event.id.as_str(), i))
            })
            .min();
        let Some((.., i)) = next else { break };
        let rec = streams[i].buf.pop_front().expect("front exists");
        chunk.push(Ok(rec));
        if chunk.len() >= 1024 && tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(1024))).is_err() {
            return Ok(()); // the consumer stopped
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    if warnings > 10 {
        tracing::warn!("{warnings} rows in all had details kept verbatim");
    }
    Ok(())
}

/// A database source as an iterator: a background thread runs `produce` on its own runtime
/// and hands chunks over a bounded channel (at most a few chunks in flight).
pub struct DbSource {
    rx: Receiver<Chunk>,
    current: std::vec::IntoIter<Result<Record, SourceError>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl DbSource {
    pub fn start<P, Fut>(thread_name: &str, produce: P) -> Result<DbSource, SourceError>
    where
        P: FnOnce(SyncSender<Chunk>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SourceError>>,
    {
        let (tx, rx) = sync_channel(4);
        let handle = std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(vec![Err(SourceError::Io { path: "tokio runtime".into(), source: e })]);
                        return;
                    }
                };
                if let Err(e) = rt.block_on(produce(tx.clone())) {
                    let _ = tx.send(vec![Err(e)]);
                }
            })
            .map_err(|e| SourceError::Io { path: format!("{thread_name} thread"), source: e })?;
        Ok(DbSource { rx, current: Vec::new().into_iter(), handle: Some(handle) })
    }
}

impl Iterator for DbSource {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk.into_iter(),
                Err(_) => {
                    if let Some(h) = self.handle.take() {
                        let _ = h.join();
                    }
                    return None;
                }
            }
        }
    }
}
