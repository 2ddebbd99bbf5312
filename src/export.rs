//! The export pipeline: source → filter → encoder → batches → every sink. A batch is sent when
//! it reaches its event or byte limit, so memory stays bounded whatever the input size; a batch
//! counts as delivered only when every sink acknowledged it.

use std::time::Instant;

use indicatif::ProgressBar;

use crate::chain::Chain;
use crate::checkpoint::{Checkpoint, CheckpointError, Watermarks};
use crate::encode::Encoder;
use crate::model::catalog::glob_match;
use crate::model::catalog::SeverityTable;
use crate::model::AuditEvent;
use crate::range::TimeRange;
use crate::secrets::redactor::{Counts, Redactor};
use crate::sinks::{Batch, RecordMeta, Sink, SinkError};
use crate::sources::{EventStream, SourceError};

/// The hash chain of an export (README, "Hash chain"); `None` in a plan: `--no-chain`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainOptions {
    /// The chain's name (default: the checkpoint's name, else `export`).
    pub id: Option<String>,
    /// Sign anchors with this Ed25519 key (PKCS#8 PEM).
    pub sign_key: Option<std::path::PathBuf>,
    /// With a key: an anchor after every this many events, besides the one at the end of a run.
    pub anchor_every: u64,
}

/// Redaction of an export (README, "Redaction"): the mode and the key file (None: the one in
/// the state directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactOptions {
    pub mode: crate::secrets::redactor::Mode,
    pub key: Option<std::path::PathBuf>,
}

/// Which events to export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub range: TimeRange,
    /// Event names (a trailing `*` matches a prefix); empty means all.
    pub events: Vec<String>,
    /// Scope paths or ids (a trailing `*` matches a prefix, e.g. `acme/payments/*`); empty means all.
    pub projects: Vec<String>,
    /// Actor ids or names, matched against the acting identity and the user it acted for.
    pub actors: Vec<String>,
}

impl Filter {
    pub fn matches(&self, ev: &AuditEvent) -> bool {
        let any = |patterns: &[String], values: &[Option<&str>]| {
            patterns.is_empty() || patterns.iter().any(|p| values.iter().flatten().any(|v| glob_match(p, v)))
        };
        if !self.range.contains(&ev.time) || !any(&self.events, &[Some(&ev.event_name)]) {
            return false;
        }
        let scope_id = ev.scope.as_ref().and_then(|s| s.id).map(|i| i.to_string());
        let behalf = ev.on_behalf_of.as_ref();
        any(&self.projects, &[ev.scope.as_ref().and_then(|s| s.path.as_deref()), scope_id.as_deref()])
            && any(
                &self.actors,
                &[
                    ev.actor.id.as_deref(),
                    ev.actor.name.as_deref(),
                    behalf.and_then(|a| a.id.as_deref()),
                    behalf.and_then(|a| a.name.as_deref()),
                ],
            )
    }
}

/// What to do with a record that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first bad record (after delivering everything read before it).
    #[default]
    Fail,
    /// Count, log and pass over bad records.
    Skip,
}

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub filter: Filter,
    pub on_error: OnError,
    /// A batch is sent at this many events…
    pub batch_events: usize,
    /// …or at this many bytes, whichever comes first.
    pub batch_bytes: usize,
    /// Severities for message-oriented sinks (syslog PRI).
    pub severity: SeverityTable,
    /// Applied to every event before it is encoded (and linked into the chain).
    pub redactor: Redactor,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: Filter::default(),
            on_error: OnError::Fail,
            batch_events: 2000,
            batch_bytes: 1 << 20,
            severity: SeverityTable::default(),
            redactor: Redactor::off(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records read from the source, good or bad.
    pub read: u64,
    /// Events delivered to every sink.
    pub delivered: u64,
    /// Bad records passed over (`--on-error skip`).
    pub skipped: u64,
    /// The run stopped early on SIGTERM/SIGINT (after delivering and checkpointing what it read).
    pub interrupted: bool,
    /// Secrets and personal data replaced, by kind.
    pub redacted: Counts,
}

/// Why an export stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The source failed; everything read before the failure was delivered.
    #[error("export stopped after delivering {delivered} events, everything read before the failure")]
    Source {
        delivered: u64,
        #[source]
        source: SourceError,
    },
    /// A sink failed.
    #[error("delivery to {sink} failed; {delivered} events were delivered")]
    Sink {
        sink: String,
        delivered: u64,
        #[source]
        source: SinkError,
    },
    /// An output was down: its undelivered events went to the spool and the checkpoint stopped
    /// moving; the next run delivers the spool first.
    #[error("{spooled} events were spooled for the next run to send first: {reason}; {delivered} were delivered, and the checkpoint did not move")]
    Spooled { delivered: u64, spooled: u64, reason: String },
    /// A signed chain anchor could not be appended to the local anchor log.
    #[error("cannot write the chain anchor log: {0}")]
    Anchor(#[source] std::io::Error),
    /// Events were delivered but the checkpoint could not be written; the next run re-sends them.
    #[error("{delivered} events were delivered but the checkpoint was not saved (they will be sent again)")]
    Checkpoint {
        delivered: u64,
        #[source]
        source: CheckpointError,
    },
}

struct Pipeline<'a> {
    encoder: &'a dyn Encoder,
    sinks: &'a mut [Box<dyn Sink>],
    checkpoint: Option<&'a mut Checkpoint>,
    chain: Option<&'a mut Chain>,
    batch: Batch,
    /// Positions read since the last acknowledged batch (delivered or filtered out).
    pending: Watermarks,
    stats: Stats,
    /// Set once an output spooled: the first reason; the checkpoint no longer moves.
    spooling: Option<String>,
    spooled: u64,
}

impl Pipeline<'_> {
    /// Send the batch to every sink; once all acknowledged, move the checkpoint.
    fn flush(&mut self) -> Result<(), ExportError> {
        if !self.batch.is_empty() {
            let mut spooled = false;
            for sink in self.sinks.iter_mut() {
                match sink.send(&self.batch) {
                    Ok(()) => {}
                    Err(e @ SinkError::Spooled { .. }) => {
                        spooled = true;
                        if self.spooling.is_none() {
                            tracing::error!("{e}");
                            self.spooling = Some(e.to_string());
                        }
                    }
                    Err(source) => {
                        let delivered = self.stats.delivered + source.written() as u64;
                        return Err(ExportError::Sink { sink: sink.name(), delivered, source });
                    }
                }
            }
            if spooled {
                self.spooled += self.batch.len() as u64;
            } else {
                self.stats.delivered += self.batch.len() as u64;
            }
            self.batch.clear();
        }
        if self.spooling.is_some() {
            self.pending.clear();
            return Ok(());
        }
        if let Some(cp) = self.checkpoint.as_deref_mut() {
            let head = self.chain.as_deref().and_then(Chain::head);
            cp.commit(&self.pending, head.as_ref())
                .map_err(|source| ExportError::Checkpoint { delivered: self.stats.delivered, source })?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Add the record of `ev` (with the chain's next link, and an anchor when one is due).
    fn push(&mut self, ev: &AuditEvent, severity: u8) -> Result<(), ExportError> {
        let meta = RecordMeta::new(ev.time, severity, &ev.event_name);
        let encoder = self.encoder;
        match self.chain.as_deref_mut() {
            Some(chain) => self.batch.push_event(meta, |out| encoder.encode_chained(ev, chain, out)),
            None => self.batch.push_event(meta, |out| encoder.encode(ev, out)),
        }
        self.anchor(false)
    }

    /// Add a signed anchor for the chain head, if one is due (`at_end`: the run's last).
    fn anchor(&mut self, at_end: bool) -> Result<(), ExportError> {
        let Some(chain) = self.chain.as_deref() else { return Ok(()) };
        if let Some(a) = chain.anchor(at_end).map_err(ExportError::Anchor)? {
            let encoder = self.encoder;
            self.batch.push_event(RecordMeta::new(a.time, 1, crate::chain::CEF_ANCHOR_NAME), |out| {
                encoder.encode_anchor(&a, out)
            });
        }
        Ok(())
    }
}

/// Run one export to completion; with a `chain`, every record carries its next link.
pub fn run(
    events: EventStream,
    encoder: &dyn Encoder,
    sinks: &mut [Box<dyn Sink>],
    checkpoint: Option<&mut Checkpoint>,
    chain: Option<&mut Chain>,
    opts: &Options,
    progress: &ProgressBar,
) -> Result<Stats, ExportError> {
    let started = Instant::now();
    let mut p = Pipeline {
        encoder,
        sinks,
        checkpoint,
        chain,
        batch: Batch::default(),
        pending: Watermarks::new(),
        stats: Stats::default(),
        spooling: None,
        spooled: 0,
    };
    for item in events {
        if crate::shutdown::requested() {
            p.stats.interrupted = true;
            tracing::warn!("stop requested: delivering the current batch and saving the checkpoint");
            break;
        }
        p.stats.read += 1;
        match item {
            Ok(record) => {
                if let Some((table, pos)) = record.position {
                    match p.pending.get_mut(&*table) {
                        Some(slot) => *slot = pos,
                        None => {
                            p.pending.insert(table.to_string(), pos);
                        }
                    }
                }
                let mut ev = record.event;
                if !opts.filter.matches(&ev) {
                    continue;
                }
                opts.redactor.event(&mut ev, &mut p.stats.redacted);
                p.push(&ev, opts.severity.severity(&ev))?;
                if p.batch.len() >= opts.batch_events || p.batch.bytes() >= opts.batch_bytes {
                    p.flush()?;
                    progress.set_position(p.stats.delivered);
                    // A checkpointed source still holds the rows after the checkpoint: stop at
                    // the first spooled batch, so the next run sends that batch and continues
                    // from the checkpoint (at most one batch twice). Other sources cannot be
                    // read again: everything they hold goes to the spool.
                    if p.spooling.is_some() && p.checkpoint.is_some() {
                        break;
                    }
                }
            }
            Err(e) if e.is_record_error() && opts.on_error == OnError::Skip => {
                p.stats.skipped += 1;
                if p.stats.skipped <= 10 {
                    tracing::warn!("skipping bad record: {e}");
                } else if p.stats.skipped == 11 {
                    tracing::warn!("more bad records; only their count is reported from here on");
                }
            }
            Err(source) => {
                p.flush()?;
                return Err(ExportError::Source { delivered: p.stats.delivered, source });
            }
        }
    }
    p.anchor(true)?;
    p.flush()?;
    for sink in p.sinks.iter_mut() {
        if let Err(source) = sink.finish() {
            return Err(ExportError::Sink { sink: sink.name(), delivered: p.stats.delivered, source });
        }
    }
    progress.finish_and_clear();
    if let Some(reason) = p.spooling.take() {
        return Err(ExportError::Spooled { delivered: p.stats.delivered, spooled: p.spooled, reason });
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        read = p.stats.read,
        delivered = p.stats.delivered,
        skipped = p.stats.skipped,
        seconds = format!("{secs:.3}"),
        "export finished"
    );
    if p.stats.skipped > 0 {
        tracing::warn!("{} bad records were skipped (--on-error skip)", p.stats.skipped);
    }
    if !p.stats.redacted.is_empty() {
        let kinds: Vec<String> = p.stats.redacted.iter().map(|(k, n)| format!("{} {n}", k.as_str())).collect();
        tracing::info!(
            "redacted {} secrets or pieces of personal data ({})",
            p.stats.redacted.values().sum::<u64>(),
            kinds.join(", ")
        );
    }
    Ok(p.stats)
}
