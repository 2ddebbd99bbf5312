//! Facts taken from an event on a source's worker thread, packed into one buffer for the thread
//! that reads the stream (see [`Prepare::condensing`](crate::sources::Prepare::condensing) for
//! why one buffer): numbers little-endian, texts and blobs after a 4-byte length, an absent
//! text or number marked by its length or flag. The reader borrows its texts from the buffer.
//!
//! The buffers never leave the process: a buffer that does not read back is a bug, and readers
//! answer `None` rather than guess.

use crate::model::Timestamp;

/// The length that marks an absent text or blob.
const ABSENT: u32 = u32::MAX;

/// Appends to a buffer.
pub struct Packer<'a> {
    pub out: &'a mut Vec<u8>,
}

impl Packer<'_> {
    pub fn u8(&mut self, n: u8) {
        self.out.push(n);
    }

    pub fn i64(&mut self, n: i64) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    pub fn u64(&mut self, n: u64) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    /// A value or its absence: a flag byte, then the value as `write` writes it.
    pub fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) {
        self.u8(u8::from(v.is_some()));
        if let Some(v) = v {
            write(self, v);
        }
    }

    pub fn opt_i64(&mut self, n: Option<i64>) {
        self.opt(n, Self::i64);
    }

    /// An instant to the nanosecond.
    pub fn time(&mut self, t: &Timestamp) {
        self.i64(t.timestamp());
        self.out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
    }

    pub fn opt_time(&mut self, t: Option<&Timestamp>) {
        self.opt(t, Self::time);
    }

    pub fn text(&mut self, s: &str) {
        self.blob(s.as_bytes());
    }

    pub fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.out.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }

    pub fn blob(&mut self, b: &[u8]) {
        let len = u32::try_from(b.len()).ok().filter(|n| *n != ABSENT).expect("texts under 4 GiB");
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(b);
    }

    /// A blob written by `write` (its length is filled in after).
    pub fn nested(&mut self, write: impl FnOnce(&mut Packer)) {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        write(&mut Packer { out: self.out });
        let len = u32::try_from(self.out.len() - at - 4).ok().filter(|n| *n != ABSENT).expect("blobs under 4 GiB");
        self.out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

/// Reads what a [`Packer`] wrote, in the same order.
pub struct Unpacker<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Unpacker<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// What [`Packer::opt`] wrote, the value read by `read`.
    pub fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        Some(if self.flag()? { Some(read(self)?) } else { None })
    }

    pub fn opt_i64(&mut self) -> Option<Option<i64>> {
        self.opt(Self::i64)
    }

    pub fn time(&mut self) -> Option<Timestamp> {
        let secs = self.i64()?;
        chrono::DateTime::from_timestamp(secs, self.u32()?)
    }

    pub fn opt_time(&mut self) -> Option<Option<Timestamp>> {
        self.opt(Self::time)
    }

    pub fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.blob()?).ok()
    }

    pub fn opt_text(&mut self) -> Option<Option<&'a str>> {
        match self.opt_blob()? {
            Some(b) => Some(Some(std::str::from_utf8(b).ok()?)),
            None => Some(None),
        }
    }

    pub fn blob(&mut self) -> Option<&'a [u8]> {
        self.opt_blob()?
    }

    pub fn opt_blob(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u32()? {
            ABSENT => Some(None),
            n => Some(Some(self.take(usize::try_from(n).ok()?)?)),
        }
    }

    /// Whether everything was read.
    pub fn done(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_packed_reads_back_in_order() {
        // To the nanosecond (events themselves are kept to the microsecond).
        let t: Timestamp = chrono::DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap();
        let mut out = Vec::new();
        let mut p = Packer { out: &mut out };
        p.u8(7);
        p.i64(-2);
        p.u64(u64::MAX);
        p.opt_i64(None);
        p.opt_i64(Some(1066));
        p.time(&t);
        p.opt_time(None);
        p.text("é");
        p.opt_text(None);
        p.opt_text(Some(""));
        p.nested(|p| p.text("ab"));
        let mut expected = vec![7];
        expected.extend_from_slice(&(-2i64).to_le_bytes());
        expected.extend_from_slice(&[0xFF; 8]);
        expected.extend_from_slice(&[0, 1]);
        expected.extend_from_slice(&1066i64.to_le_bytes());
        expected.extend_from_slice(&t.timestamp().to_le_bytes());
        expected.extend_from_slice(&123_456_789u32.to_le_bytes());
        expected.extend_from_slice(&[0, 2, 0, 0, 0, 0xC3, 0xA9, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        expected.extend_from_slice(&[6, 0, 0, 0, 2, 0, 0, 0, b'a', b'b']);
        assert_eq!(out, expected);

        let mut r = Unpacker { bytes: &out };
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.i64(), Some(-2));
        assert_eq!(r.u64(), Some(u64::MAX));
        assert_eq!(r.opt_i64(), Some(None));
        assert_eq!(r.opt_i64(), Some(Some(1066)));
        assert_eq!(r.time(), Some(t));
        assert_eq!(r.opt_time(), Some(None));
        assert_eq!(r.text(), Some("é"));
        assert_eq!(r.opt_text(), Some(None));
        assert_eq!(r.opt_text(), Some(Some("")));
        let mut nested = Unpacker { bytes: r.blob().unwrap() };
        assert_eq!(nested.text(), Some("ab"));
        assert!(nested.done() && r.done());
    }

    #[test]
    fn what_does_not_read_back_is_none() {
        // Cut short, a flag that is not one, a text that is not UTF-8, an absent text read as present.
        assert_eq!(Unpacker { bytes: &[1, 2, 3] }.i64(), None);
        assert_eq!(Unpacker { bytes: &[2] }.opt_i64(), None);
        assert_eq!(Unpacker { bytes: &[1, 0, 0, 0, 0xFF] }.text(), None);
        assert_eq!(Unpacker { bytes: &[5, 0, 0, 0, b'a'] }.text(), None);
        assert_eq!(Unpacker { bytes: &[0xFF; 4] }.text(), None);
    }
}
