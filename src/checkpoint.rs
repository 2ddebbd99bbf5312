//! The durable watermark of incremental exports: per checkpoint name, per source, per table,
//! the key of the last row delivered. Written atomically (temp file, fsync, rename, fsync of the
//! directory) and only after every sink acknowledged the rows up to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::Head;
use crate::model::time::{self, Timestamp};

/// Where a row sits in its table's keyset order: the time column and the tie-breaking key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(with = "time::serde_ts")]
    pub time: Timestamp,
    /// The remaining key columns (ids), as JSON numbers or strings.
    pub key: Vec<Value>,
}

/// Watermarks of one source: table (stream) name → last delivered position.
pub type Watermarks = BTreeMap<String, Position>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    /// Source (password masked) → watermarks.
    sources: BTreeMap<String, SourceState>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SourceState {
    #[serde(with = "time::serde_ts_opt", default)]
    updated_at: Option<Timestamp>,
    tables: Watermarks,
    /// The hash chain's last delivered link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<Head>,
}

/// Errors reading or writing checkpoint state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The state file or directory could not be read or written.
    #[error("checkpoint state {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid; it is never overwritten in that case.
    #[error("checkpoint state {path} is corrupt ({reason}); move it away to start over from the range start")]
    Corrupt { path: String, reason: String },
    /// The name cannot be a file name.
    #[error("checkpoint name {0:?} must be letters, digits, '-', '_' or '.' (not starting with '.')")]
    BadName(String),
}

/// One named checkpoint for one source.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    source_key: String,
    state: StateFile,
}

/// The default state directory: `$XDG_STATE_HOME/compliance-report`, else
/// `~/.local/state/compliance-report`.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("compliance-report");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/compliance-report")
}

impl Checkpoint {
    /// Open (or start) checkpoint `name` under `dir` for the source identified by `source_key`
    /// (a masked URL: the same database reached with another password is the same source).
    pub fn open(dir: &Path, name: &str, source_key: &str) -> Result<Checkpoint, CheckpointError> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(CheckpointError::BadName(name.to_string()));
        }
        let path = dir.join(format!("{name}.json"));
        let io = |source| CheckpointError::Io { path: path.display().to_string(), source };
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CheckpointError::Corrupt { path: path.display().to_string(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile { version: 1, ..Default::default() },
            Err(e) => return Err(io(e)),
        };
        Ok(Checkpoint { path, source_key: source_key.to_string(), state })
    }

    /// The watermarks stored for this source.
    pub fn watermarks(&self) -> Watermarks {
        self.state.sources.get(&self.source_key).map(|s| s.tables.clone()).unwrap_or_default()
    }

    /// The hash chain's last delivered link for this source.
    pub fn chain(&self) -> Option<Head> {
        self.state.sources.get(&self.source_key).and_then(|s| s.chain.clone())
    }

    /// Record `positions` (and the chain's `head`) as delivered and write the state durably.
    pub fn commit(&mut self, positions: &Watermarks, head: Option<&Head>) -> Result<(), CheckpointError> {
        let stored = self.state.sources.get(&self.source_key).and_then(|s| s.chain.as_ref());
        let new_head = head.is_some_and(|h| Some(h) != stored);
        if positions.is_empty() && !new_head {
            return Ok(());
        }
        let entry = self.state.sources.entry(self.source_key.clone()).or_default();
        if let Some(h) = head {
            entry.chain = Some(h.clone());
        }
        for (table, pos) in positions {
            entry.tables.insert(table.clone(), pos.clone());
        }
        entry.updated_at = Some(time::to_micros(chrono::Utc::now()));
        self.write()
    }

    fn write(&self) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io { path: self.path.display().to_string(), source };
        let mut text = serde_json::to_vec_pretty(&self.state).expect("state serializes");
        text.push(b'\n');
        crate::files::write_atomic(&self.path, &text, crate::files::PRIVATE).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_durably_and_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let pos = |s: &str, id: i64| Position { time: time::parse(s).unwrap(), key: vec![id.into()] };
        let mut a = Checkpoint::open(dir.path(), "hourly", "postgres://u:***@h/db").unwrap();
        assert!(a.watermarks().is_empty());
        let head = Head { id: "hourly".into(), seq: 3, hash: "ab".repeat(32) };
        a.commit(&Watermarks::from([("ai_audit_events".to_string(), pos("2026-10-01T00:00:00Z", 7))]), Some(&head))
            .unwrap();
        let b = Checkpoint::open(dir.path(), "hourly", "postgres://u:***@h/db").unwrap();
        assert_eq!(b.watermarks()["ai_audit_events"], pos("2026-10-01T00:00:00Z", 7));
        assert_eq!(b.chain(), Some(head));
        let other = Checkpoint::open(dir.path(), "hourly", "postgres://u:***@other/db").unwrap();
        assert!(other.watermarks().is_empty());
        assert!(matches!(Checkpoint::open(dir.path(), "../x", "s"), Err(CheckpointError::BadName(_))));
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(matches!(Checkpoint::open(dir.path(), "bad", "s"), Err(CheckpointError::Corrupt { .. })));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty());
    }
}
