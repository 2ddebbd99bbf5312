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
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, mode);
    let mut f = open.open(&tmp)?;
    // An older temporary file of this process keeps its mode: set it.
    #[cfg(unix)]
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    f.write_all(bytes).and_then(|_| f.sync_all())?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all())
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
}
