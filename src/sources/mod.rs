//! Where events come from. Each source is one file here and yields one stream of
//! [`AuditEvent`](crate::model::AuditEvent)s; [`SourceSpec`] picks the source from `--source`.

pub mod demo;
pub mod ndjson;
pub mod normalize;
pub mod shapes;

use std::fmt;
use std::path::PathBuf;

use crate::model::AuditEvent;

/// A stream of events, or of per-record errors the caller may skip.
pub type EventStream = Box<dyn Iterator<Item = Result<AuditEvent, SourceError>> + Send>;

/// A file and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Errors from reading a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A file, directory or stream could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A directory given as a source holds no files.
    #[error("directory {0} holds no files to read (hidden files and subdirectories are not read)")]
    EmptyDirectory(String),
    /// One record could not be read; the others may still be.
    #[error("{location}: {reason}")]
    Malformed { location: Location, reason: String },
    /// The `--source` names a kind of source this build cannot read.
    #[error("unsupported source {0}: give a file, a directory or - for stdin")]
    Unsupported(String),
}

impl SourceError {
    /// Whether the error concerns one record only (so `--on-error skip` may pass over it).
    pub fn is_record_error(&self) -> bool {
        matches!(self, SourceError::Malformed { .. })
    }
}

/// What `--source` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// No `--source`: the demo data compiled into the binary.
    Demo,
    /// NDJSON files, directories and `-`.
    Files(Vec<PathBuf>),
}

impl SourceSpec {
    /// Classify the `--source` values (empty: the demo data).
    pub fn parse(values: &[String]) -> Result<SourceSpec, SourceError> {
        if values.is_empty() {
            return Ok(SourceSpec::Demo);
        }
        if let Some(url) = values.iter().find(|v| !ndjson::is_path(v)) {
            return Err(SourceError::Unsupported(crate::redact::mask_url(url)));
        }
        Ok(SourceSpec::Files(values.iter().map(PathBuf::from).collect()))
    }

    /// A description safe for logs (passwords masked).
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::Demo => "bundled demo data".to_string(),
            SourceSpec::Files(paths) => paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        }
    }

    /// Open the source as one event stream.
    pub fn open(&self) -> Result<EventStream, SourceError> {
        Ok(match self {
            SourceSpec::Demo => Box::new(ndjson::NdjsonSource::new(demo::inputs())),
            SourceSpec::Files(paths) => Box::new(ndjson::NdjsonSource::from_paths(paths)?),
        })
    }
}
