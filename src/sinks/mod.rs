//! Where encoded records go. One file per sink behind [`Sink`]; a sink acknowledges a batch only
//! when it is delivered as far as that sink can promise (written, flushed, fsynced, …).

pub mod file;
pub mod http;
pub mod relp;
pub mod spool;
pub mod stdout;
pub mod syslog;

use crate::model::time::Timestamp;

/// What message-oriented sinks (syslog) need to know about a record besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta {
    pub time: Timestamp,
    /// Severity 0–10 (the CEF scale of the severity table).
    pub severity: u8,
    /// Event name, cut to 32 printable ASCII bytes (syslog's MSGID).
    msgid: [u8; 32],
    msgid_len: u8,
}

impl RecordMeta {
    pub fn new(time: Timestamp, severity: u8, event_name: &str) -> RecordMeta {
        let mut msgid = [0u8; 32];
        let mut len = 0;
        for b in event_name.bytes().filter(|b| (33..=126).contains(b)).take(32) {
            msgid[len] = b;
            len += 1;
        }
        RecordMeta { time, severity, msgid, msgid_len: len as u8 }
    }

    /// The MSGID (`-` when the name has no printable ASCII).
    pub fn msgid(&self) -> &str {
        match self.msgid_len {
            0 => "-",
            n => std::str::from_utf8(&self.msgid[..n as usize]).expect("printable ASCII"),
        }
    }
}

/// Encoded records, in order, each followed by a newline (encoders never emit one inside a
/// record). Newline-framed sinks write [`Batch::framed`] as is; message-oriented sinks take
/// [`Batch::records`].
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    /// End offset (after the newline) of each record.
    ends: Vec<usize>,
    meta: Vec<RecordMeta>,
}

impl Batch {
    /// Append one record produced by `encode` (which writes into the given buffer).
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.push_event(RecordMeta::new(chrono::DateTime::UNIX_EPOCH, 0, ""), encode);
    }

    /// Append one record with what message-oriented sinks need to know about its event.
    pub fn push_event(&mut self, meta: RecordMeta, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.buf);
        self.buf.push(b'\n');
        self.ends.push(self.buf.len());
        self.meta.push(meta);
    }

    /// Each record without its newline, with its metadata.
    pub fn records_meta(&self) -> impl Iterator<Item = (&[u8], &RecordMeta)> + '_ {
        self.records().zip(self.meta.iter())
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held, newlines included.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// All records, newline-terminated, as one buffer.
    pub fn framed(&self) -> &[u8] {
        &self.buf
    }

    /// Each record without its newline.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let rec = &self.buf[start..end - 1];
            start = end;
            rec
        })
    }

    /// How many whole records lie within the first `bytes` bytes of [`Batch::framed`].
    pub fn records_within(&self, bytes: usize) -> usize {
        self.ends.partition_point(|&end| end <= bytes)
    }

    /// The framed bytes of records `range`.
    pub fn framed_range(&self, range: std::ops::Range<usize>) -> &[u8] {
        let start = if range.start == 0 { 0 } else { self.ends[range.start - 1] };
        let end = if range.end == 0 { 0 } else { self.ends[range.end - 1] };
        &self.buf[start..end]
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.meta.clear();
    }
}

/// Delivers batches.
pub trait Sink: Send {
    /// A short name for messages (`stdout`, `file /var/log/x.cef`).
    fn name(&self) -> String;
    /// Deliver every record of `batch`; `Ok` is the acknowledgement.
    fn send(&mut self, batch: &Batch) -> Result<(), SinkError>;
    /// Retries made so far (reconnects, re-sent requests), for the metrics.
    fn retries(&self) -> u64 {
        0
    }
    /// Bytes waiting in this output's spool.
    fn spool_bytes(&self) -> u64 {
        0
    }
    /// Called once at the end of a run that read nothing new, so spooled batches still go out.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Errors from delivering records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The reader of a pipe went away; `written` records of the failing batch got through.
    #[error("the reader closed the pipe ({written} records of the current batch were written)")]
    Closed { written: usize },
    /// The receiver refused the data for good (HTTP 4xx other than 429, a failed `_bulk` item).
    #[error("{sink} refused the batch with status {status}: {body}")]
    Rejected { sink: String, status: u16, body: String },
    /// The output is down: the batch went to the spool; the run goes on spooling and ends non-zero.
    #[error("{sink} is down ({cause}); spooling to {dir}")]
    Spooled { sink: String, dir: String, events: u64, cause: String },
    /// The spool has no room left.
    #[error("{sink} is down and its spool {dir} is full ({max_bytes} bytes): stopping without reading further")]
    SpoolFull { sink: String, dir: String, max_bytes: u64 },
    /// Transient failures went on past the retry budget.
    #[error("{sink} still failing after {attempts} attempts (last: {last})")]
    Exhausted { sink: String, attempts: u32, last: String },
    /// Writing, syncing or rotating failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        written: usize,
        #[source]
        source: std::io::Error,
    },
}

impl SinkError {
    /// Records of the failing batch that were delivered before the failure.
    pub fn written(&self) -> usize {
        match self {
            SinkError::Closed { written } | SinkError::Io { written, .. } => *written,
            SinkError::Rejected { .. }
            | SinkError::Exhausted { .. }
            | SinkError::Spooled { .. }
            | SinkError::SpoolFull { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_tracks_record_boundaries() {
        let mut b = Batch::default();
        b.push_with(|o| o.extend_from_slice(b"one"));
        b.push_with(|o| o.extend_from_slice(b"two"));
        assert_eq!(b.framed(), b"one\ntwo\n");
        assert_eq!(b.records().collect::<Vec<_>>(), [b"one", b"two"]);
        assert_eq!((b.records_within(3), b.records_within(4), b.records_within(8)), (0, 1, 2));
        assert_eq!(b.framed_range(1..2), b"two\n");
    }
}
