//! Writing state and output files: atomically (a reader never sees half a file) and with an
//! explicit mode, never the umask's default (README, "Security").

use std::io::Write;
use std::path::Path;

/// Mode of reports, checkpoints, schedule state, anchors and spool files: owner read-write,
/// group read (e.g. an `audit` group of the SIEM forwarder), nobody else.
pub const PRIVATE: u32 = 0o640;

/// Write `bytes` to `path` through a temporary file in the same directory (fsynced, created
/// with `mode`), renamed into place; the directory is fsynced too.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, mode, |w| w.write_all(bytes))
}

/// [`write_atomic`] with the contents streamed by `fill` into a buffered writer, so a large
/// file is never held whole; on an error the temporary file is removed.
pub fn write_atomic_with<T>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, mode);
    let f = open.open(&tmp)?;
    let written = (|| {
        // An older temporary file of this process keeps its mode: set it.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
        let out = fill(&mut w)?;
        w.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
        Ok(out)
    })();
    let out = match written {
        Ok(out) => out,
        Err(e) => {
            std::fs::remove_file(&tmp).ok();
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_atomically_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        super::write_atomic(&path, b"one", super::PRIVATE).unwrap();
        super::write_atomic(&path, b"two", super::PRIVATE).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }

    #[test]
    fn a_failed_stream_leaves_the_old_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("matrix.csv");
        super::write_atomic(&path, b"old", super::PRIVATE).unwrap();
        let n = super::write_atomic_with(&path, super::PRIVATE, |w| w.write_all(b"new").map(|()| 3)).unwrap();
        assert_eq!((n, std::fs::read(&path).unwrap()), (3, b"new".to_vec()));
        let failed = super::write_atomic_with(&path, super::PRIVATE, |w| {
            w.write_all(b"half")?;
            Err::<(), _>(std::io::Error::other("source failed"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "source failed");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
