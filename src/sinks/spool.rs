//! The spool: when an output stays down past its retry budget, its batches are written to a
//! bounded local directory (one fsynced file per batch) instead of being lost, the run ends
//! non-zero, and the next run delivers the spool first, in order, before anything new.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use serde_json::json;

use super::{Batch, RecordMeta, Sink, SinkError};
use crate::model::time;

/// Where undeliverable events also go (`--fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fallback {
    Stdout,
    Stderr,
}

/// An output wrapped with a spool directory.
pub struct SpoolingSink {
    inner: Box<dyn Sink>,
    dir: PathBuf,
    max_bytes: u64,
    fallback: Option<Fallback>,
    /// The first delivery error of this run; from then on batches go to the spool.
    failed: Option<String>,
    drained: bool,
    spooled_events: u64,
}

impl SpoolingSink {
    pub fn new(inner: Box<dyn Sink>, dir: PathBuf, max_bytes: u64, fallback: Option<Fallback>) -> SpoolingSink {
        SpoolingSink { inner, dir, max_bytes, fallback, failed: None, drained: false, spooled_events: 0 }
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> SinkError {
        SinkError::Io { action, path: self.dir.display().to_string(), written: 0, source }
    }

    /// Spooled batch files, oldest first.
    fn files(&self) -> Result<Vec<PathBuf>, SinkError> {
        let mut files = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "batch"))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.io("cannot read spool", e)),
        };
        files.sort();
        Ok(files)
    }

    /// Bytes held in the spool.
    pub fn bytes(&self) -> u64 {
        self.files().unwrap_or_default().iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    fn write_spool(&mut self, batch: &Batch) -> Result<(), SinkError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("cannot create spool", e))?;
        let mut body = Vec::with_capacity(batch.bytes() + batch.len() * 64);
        for (record, meta) in batch.records_meta() {
            let line = json!({
                "t": time::format(&meta.time),
                "s": meta.severity,
                "m": meta.msgid(),
                "r": String::from_utf8_lossy(record),
            });
            serde_json::to_writer(&mut body, &line).expect("JSON");
            body.push(b'\n');
        }
        if self.bytes() + body.len() as u64 > self.max_bytes {
            return Err(SinkError::SpoolFull {
                sink: self.inner.name(),
                dir: self.dir.display().to_string(),
                max_bytes: self.max_bytes,
            });
        }
        let next = self.files()?.last().and_then(|p| p.file_stem()?.to_str()?.parse::<u64>().ok()).map_or(1, |n| n + 1);
        let path = self.dir.join(format!("{next:012}.batch"));
        crate::files::write_atomic(&path, &body, crate::files::PRIVATE)
            .map_err(|e| self.io("cannot write spool", e))?;
        self.spooled_events += batch.len() as u64;
        if let Some(fb) = self.fallback {
            let r = match fb {
                Fallback::Stdout => std::io::stdout().lock().write_all(batch.framed()),
                Fallback::Stderr => std::io::stderr().lock().write_all(batch.framed()),
            };
            if let Err(e) = r {
                tracing::warn!("cannot write undeliverable events to the fallback: {e}");
            }
        }
        Ok(())
    }

    fn read_spool(&self, path: &PathBuf) -> Result<Batch, SinkError> {
        let f = File::open(path).map_err(|e| self.io("cannot read spool", e))?;
        let mut batch = Batch::default();
        for line in BufReader::new(f).lines() {
            let line = line.map_err(|e| self.io("cannot read spool", e))?;
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                self.io(
                    "corrupt spool",
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())),
                )
            })?;
            let meta = RecordMeta::new(
                time::parse(v["t"].as_str().unwrap_or("")).unwrap_or_default(),
                v["s"].as_u64().unwrap_or(0) as u8,
                v["m"].as_str().unwrap_or(""),
            );
            let record = v["r"].as_str().unwrap_or("").to_string();
            batch.push_event(meta, |out| out.extend_from_slice(record.as_bytes()));
        }
        Ok(batch)
    }

    /// Deliver what earlier runs spooled, oldest first; stop at the first failure.
    fn drain(&mut self) -> Result<(), SinkError> {
        self.drained = true;
        let files = self.files()?;
        if files.is_empty() {
            return Ok(());
        }
        tracing::info!("{}: delivering {} spooled batch(es) first", self.inner.name(), files.len());
        for path in files {
            let batch = self.read_spool(&path)?;
            self.inner.send(&batch)?;
            std::fs::remove_file(&path).map_err(|e| self.io("cannot remove delivered spool file", e))?;
        }
        Ok(())
    }
}

impl Sink for SpoolingSink {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn retries(&self) -> u64 {
        self.inner.retries()
    }

    fn spool_bytes(&self) -> u64 {
        self.bytes()
    }

    fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if self.failed.is_none() && !self.drained {
            if let Err(e) = self.drain() {
                self.failed = Some(e.to_string());
            }
        }
        if self.failed.is_none() {
            match self.inner.send(batch) {
                Ok(()) => return Ok(()),
                Err(e @ SinkError::Rejected { .. }) => return Err(e),
                Err(e) => self.failed = Some(e.to_string()),
            }
        }
        self.write_spool(batch)?;
        Err(SinkError::Spooled {
            sink: self.inner.name(),
            dir: self.dir.display().to_string(),
            events: self.spooled_events,
            cause: self.failed.clone().unwrap_or_default(),
        })
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if !self.drained {
            self.drain()?;
        }
        Ok(())
    }
}
