//! Where encoded records go. One file per sink behind [`Sink`]; a sink acknowledges a batch only
//! when it is delivered as far as that sink can promise (written, flushed, fsynced, …).

pub mod file;
pub mod stdout;

/// Encoded records, in order, each followed by a newline (encoders never emit one inside a
/// record). Newline-framed sinks write [`Batch::framed`] as is; message-oriented sinks take
/// [`Batch::records`].
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    /// End offset (after the newline) of each record.
    ends: Vec<usize>,
}

impl Batch {
    /// Append one record produced by `encode` (which writes into the given buffer).
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        encode(&mut self.buf);
        self.buf.push(b'\n');
        self.ends.push(self.buf.len());
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
    }
}

/// Delivers batches.
pub trait Sink: Send {
    /// A short name for messages (`stdout`, `file /var/log/x.cef`).
    fn name(&self) -> String;
    /// Deliver every record of `batch`; `Ok` is the acknowledgement.
    fn send(&mut self, batch: &Batch) -> Result<(), SinkError>;
}

/// Errors from delivering records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The reader of a pipe went away; `written` records of the failing batch got through.
    #[error("the reader closed the pipe ({written} records of the current batch were written)")]
    Closed { written: usize },
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
