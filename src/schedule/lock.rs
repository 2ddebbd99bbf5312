//! One run per job at a time, across processes: an exclusive `flock` on a file in the state
//! directory. The kernel drops the lock when the holder exits, however it exits, so a killed
//! run never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
    pub path: PathBuf,
}

/// Errors taking a job lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process runs the job.
    #[error("job {job} is already running (lock {path} is held by another process)")]
    Busy { job: String, path: String },
    /// The lock file could not be created.
    #[error("cannot lock job {job} with {path}: {source}")]
    Io {
        job: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Take the lock of `job` under `state_dir/locks/`, without waiting.
pub fn try_lock(state_dir: &Path, job: &str) -> Result<JobLock, LockError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{job}.lock"));
    let io = |source| LockError::Io { job: job.to_string(), path: path.display().to_string(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o640).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError::Busy { job: job.to_string(), path: path.display().to_string() })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for people looking at the file; the lock itself is the flock.
    let _ = file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id()));
    Ok(JobLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path(), "export").unwrap();
        let err = try_lock(dir.path(), "export").unwrap_err();
        assert!(err.to_string().starts_with("job export is already running"), "{err}");
        assert!(try_lock(dir.path(), "other").is_ok());
        drop(first);
        assert!(try_lock(dir.path(), "export").is_ok());
    }
}
