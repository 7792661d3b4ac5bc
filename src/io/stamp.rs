//! What an input file was when a volume opened it, to tell later whether
//! it changed: [`FileStamp`].
//!
//! A stamp holds the file's size, its modification time (to the
//! nanosecond, as the file system records it) and, on Unix, its identity
//! (device and inode). [`FileStamp::check`] looks at the path again (one
//! `stat`) and compares all three. This catches a file truncated or
//! extended, rewritten in place (a new modification time), and replaced by
//! a rename or removed (another inode, or none, at the path). It cannot
//! catch a rewrite that keeps the size and the modification time (a tool
//! that restores the time, or a rewrite within one tick of a coarse file
//! system clock when the file was also written in that tick): only hashing
//! the contents would, which costs a read of the whole file.

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// A file's size, modification time and identity at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    /// (device, inode) on Unix; `None` elsewhere.
    id: Option<(u64, u64)>,
}

impl FileStamp {
    /// The stamp of the file at `path` now (`stat`, following symlinks as
    /// opening it does).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if its metadata cannot be read.
    #[cfg_attr(
        not(any(
            feature = "nifti",
            feature = "tiff",
            feature = "image",
            feature = "zarr"
        )),
        allow(dead_code)
    )]
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::from_metadata(path, &meta))
    }

    /// The stamp of `path` from metadata already read (the `fstat` of the
    /// file just opened).
    pub(crate) fn from_metadata(path: &Path, meta: &Metadata) -> Self {
        FileStamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
            id: identity(meta),
        }
    }

    /// The file's size when stamped.
    #[cfg_attr(not(feature = "tiff"), allow(dead_code))]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file at the stamp's path is still the one stamped: same
    /// identity, size and modification time.
    ///
    /// # Errors
    ///
    /// [`Error::Changed`] naming the path and saying what changed: the size
    /// (`size 4096 -> 2048 bytes`), the modification time, `replaced by
    /// another file` (another inode at the path), or `removed`;
    /// [`Error::Io`] naming it if its metadata cannot be read for another
    /// reason than its absence.
    pub(crate) fn check(&self) -> Result<()> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.changed("removed: no file is at this path now".into()))
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let now = Self::from_metadata(&self.path, &meta);
        let mut what = Vec::new();
        if now.id != self.id {
            what.push(match (self.id, now.id) {
                (Some((d0, i0)), Some((d1, i1))) if d0 == d1 => {
                    format!("replaced by another file (inode {i0} -> {i1})")
                }
                (Some((d0, i0)), Some((d1, i1))) => format!(
                    "replaced by another file (device {d0} inode {i0} -> device {d1} inode {i1})"
                ),
                _ => "replaced by another file".into(),
            });
        }
        if now.len != self.len {
            what.push(format!("size {} -> {} bytes", self.len, now.len));
        }
        if now.modified != self.modified {
            what.push(format!(
                "modification time {} -> {}",
                time_text(self.modified),
                time_text(now.modified)
            ));
        }
        if what.is_empty() {
            Ok(())
        } else {
            Err(self.changed(what.join(", ")))
        }
    }

    fn changed(&self, detail: String) -> Error {
        Error::Changed {
            path: self.path.clone(),
            detail,
        }
    }
}

#[cfg(unix)]
fn identity(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &Metadata) -> Option<(u64, u64)> {
    None
}

/// A modification time as seconds since 1970 with nanoseconds
/// (`1700000000.123456789`), or `unknown`.
fn time_text(t: Option<SystemTime>) -> String {
    match t.map(|t| t.duration_since(UNIX_EPOCH)) {
        Some(Ok(d)) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Some(Err(e)) => format!("-{:.9}", e.duration().as_secs_f64()),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn changed(r: Result<()>) -> String {
        match r {
            Err(Error::Changed { detail, .. }) => detail,
            other => panic!("expected Error::Changed, got {other:?}"),
        }
    }

    #[test]
    fn each_change_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 64]).unwrap();
        let t0 = UNIX_EPOCH + Duration::new(1_600_000_000, 5);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(t0).unwrap();
        drop(file);
        let stamp = FileStamp::of(&path).unwrap();
        assert_eq!(stamp.len(), 64);
        stamp.check().unwrap();

        // same size, new bytes, another time
        std::fs::write(&path, [2u8; 64]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(t0 + Duration::from_secs(7)).unwrap();
        drop(file);
        assert_eq!(
            changed(stamp.check()),
            "modification time 1600000000.000000005 -> 1600000007.000000005"
        );

        // shorter, time put back
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_len(10).unwrap();
        file.set_modified(t0).unwrap();
        drop(file);
        assert_eq!(changed(stamp.check()), "size 64 -> 10 bytes");

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            changed(stamp.check()),
            "removed: no file is at this path now"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_rename_over_the_path_is_a_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let other = dir.path().join("g");
        std::fs::write(&path, [1u8; 8]).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t0)
            .unwrap();
        let stamp = FileStamp::of(&path).unwrap();
        // same size and time: only the inode tells
        std::fs::write(&other, [1u8; 8]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(t0)
            .unwrap();
        std::fs::rename(&other, &path).unwrap();
        let detail = changed(stamp.check());
        assert!(
            detail.starts_with("replaced by another file (inode "),
            "{detail}"
        );
        assert!(!detail.contains("size") && !detail.contains("time"));
    }
}
