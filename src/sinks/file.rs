//! A local file: appended to, fsynced before a batch is acknowledged, optionally rotated by size
//! (`PATH` → `PATH.1` → … → `PATH.N`, oldest dropped). Created with mode 0640.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Batch, Sink, SinkError};

/// Size-based rotation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a record would take the file past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` … `PATH.keep`).
    pub keep: u32,
}

pub struct FileSink {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Option<Rotation>,
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

impl FileSink {
    pub fn new(path: PathBuf, rotation: Option<Rotation>) -> Result<FileSink, SinkError> {
        let io = |action, source| SinkError::Io { action, path: path.display().to_string(), written: 0, source };
        let file = open(&path).map_err(|e| io("cannot open", e))?;
        let size = file.metadata().map_err(|e| io("cannot stat", e))?.len();
        Ok(FileSink { path, file, size, rotation })
    }

    fn io_error(&self, action: &'static str, written: usize, source: std::io::Error) -> SinkError {
        SinkError::Io { action, path: self.path.display().to_string(), written, source }
    }

    /// Shift `PATH.k` → `PATH.k+1`, `PATH` → `PATH.1`, and start a new `PATH`.
    fn rotate(&mut self, keep: u32, written: usize) -> Result<(), SinkError> {
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", self.path.display()));
        let result = (|| {
            self.file.sync_all()?;
            match std::fs::remove_file(numbered(keep)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            for k in (1..keep).rev() {
                if numbered(k).exists() {
                    std::fs::rename(numbered(k), numbered(k + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
            self.file = open(&self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        result.map_err(|e| self.io_error("cannot rotate", written, e))?;
        self.size = 0;
        tracing::info!(path = %self.path.display(), "rotated output file");
        Ok(())
    }

    fn write_records(&mut self, batch: &Batch, range: std::ops::Range<usize>) -> Result<(), SinkError> {
        let data = batch.framed_range(range.clone());
        self.file.write_all(data).map_err(|e| self.io_error("cannot write", range.start, e))?;
        self.size += data.len() as u64;
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        match self.rotation {
            None => self.write_records(batch, 0..batch.len())?,
            Some(Rotation { max_bytes, keep }) => {
                // Write runs of records that fit; rotate between them. A single record larger
                // than the limit gets a file of its own.
                let mut start = 0;
                while start < batch.len() {
                    let mut end = start;
                    let mut bytes = 0u64;
                    while end < batch.len() {
                        let len = batch.framed_range(end..end + 1).len() as u64;
                        if self.size + bytes + len > max_bytes && (self.size + bytes > 0) {
                            break;
                        }
                        bytes += len;
                        end += 1;
                    }
                    if end == start {
                        self.rotate(keep, start)?;
                        continue;
                    }
                    self.write_records(batch, start..end)?;
                    start = end;
                }
            }
        }
        self.file.sync_data().map_err(|e| self.io_error("cannot fsync", 0, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: &[&str]) -> Batch {
        let mut b = Batch::default();
        for r in records {
            b.push_with(|o| o.extend_from_slice(r.as_bytes()));
        }
        b
    }

    #[test]
    fn appends_and_rotates_at_record_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.cef");
        std::fs::write(&path, "old\n").unwrap();
        let mut sink = FileSink::new(path.clone(), Some(Rotation { max_bytes: 10, keep: 2 })).unwrap();
        sink.send(&batch(&["aaaa", "bbbb", "cccc"])).unwrap();
        sink.send(&batch(&["dddddddddddddddd", "e"])).unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "e\n");
        assert_eq!(read(&dir.path().join("out.cef.1")), "dddddddddddddddd\n");
        assert_eq!(read(&dir.path().join("out.cef.2")), "bbbb\ncccc\n");
        assert!(!dir.path().join("out.cef.3").exists(), "only `keep` rotated files stay");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o027, 0, "no group write, nothing for others");
    }
}
