//! NDJSON audit logs: files, directories (sorted, gzip transparently) and stdin, read line by
//! line in constant memory; the bundled demo data is the same reader over embedded bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::Value;

use super::{shapes, Location, SourceError};
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

    fn open(&self) -> Result<Box<dyn BufRead + Send>, SourceError> {
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

/// Streams events from a list of inputs, one after the other.
pub struct NdjsonSource {
    inputs: std::vec::IntoIter<Input>,
    current: Option<(String, Box<dyn BufRead + Send>)>,
    line_no: u64,
    buf: Vec<u8>,
}

impl NdjsonSource {
    pub fn new(inputs: Vec<Input>) -> NdjsonSource {
        NdjsonSource { inputs: inputs.into_iter(), current: None, line_no: 0, buf: Vec::with_capacity(4096) }
    }

    /// Open the files named on the command line.
    pub fn from_paths(paths: &[PathBuf]) -> Result<NdjsonSource, SourceError> {
        Ok(NdjsonSource::new(expand(paths)?))
    }

    fn parse_line(&self, file: &str) -> Result<Option<AuditEvent>, SourceError> {
        let location = || Location { file: file.to_string(), line: self.line_no };
        let mut bytes = trim_ascii(&self.buf);
        if self.line_no == 1 {
            // A byte order mark some Windows tools write at the start of a file.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| SourceError::Malformed {
            location: location(),
            reason: format!("not valid UTF-8 (first bad byte at column {})", e.valid_up_to() + 1),
        })?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SourceError::Malformed { location: location(), reason: format!("invalid JSON: {e}") })?;
        let Value::Object(obj) = value else {
            return Err(SourceError::Malformed { location: location(), reason: "not a JSON object".into() });
        };
        // Chain anchors in a read-back export vouch for the chain; they are not events.
        if obj.get("schema").and_then(Value::as_str) == Some(crate::chain::ANCHOR_SCHEMA) {
            return Ok(None);
        }
        shapes::recognize(obj).map(Some).map_err(|reason| SourceError::Malformed { location: location(), reason })
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

impl Iterator for NdjsonSource {
    type Item = Result<AuditEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                let input = self.inputs.next()?;
                tracing::debug!(input = %input.name(), "reading");
                match input.open() {
                    Ok(reader) => self.current = Some((input.name(), reader)),
                    Err(e) => return Some(Err(e)),
                }
                self.line_no = 0;
            }
            let (name, reader) = self.current.as_mut().expect("set above");
            self.buf.clear();
            let read = reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => {
                    self.line_no += 1;
                    let name = name.clone();
                    if self.buf.len() > MAX_LINE {
                        // Skip the rest of the over-long line so the next read starts on a new line.
                        let (_, reader) = self.current.as_mut().expect("set above");
                        let mut sink = Vec::new();
                        loop {
                            sink.clear();
                            match reader.by_ref().take(1 << 20).read_until(b'\n', &mut sink) {
                                Ok(0) => break,
                                Ok(_) if sink.ends_with(b"\n") => break,
                                Ok(_) => continue,
                                Err(_) => break,
                            }
                        }
                        return Some(Err(SourceError::Malformed {
                            location: Location { file: name, line: self.line_no },
                            reason: format!("line longer than {MAX_LINE} bytes"),
                        }));
                    }
                    match self.parse_line(&name) {
                        Ok(None) => continue,
                        Ok(Some(ev)) => return Some(Ok(ev)),
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(source) => {
                    // e.g. a truncated .gz: say how far the file was good.
                    let path = format!("{name} after line {}", self.line_no);
                    self.current = None;
                    return Some(Err(SourceError::Io { path, source }));
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
        assert_eq!(results[3].as_ref().unwrap().actor.id.as_deref(), Some("2"));
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
            .map(|r| r.unwrap().actor.id.unwrap())
            .collect();
        assert_eq!(ids, ["1", "2"]);
    }
}
