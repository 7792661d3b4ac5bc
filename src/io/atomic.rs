//! Files and directories that appear whole or not at all, under one
//! temporary-name policy.
//!
//! Everything is written under a temporary name beside its target,
//! `.<name>.<pid>-<nonce>-<n>.impart-tmp` (unique per process and write, so
//! concurrent writers, even in other processes, never share one), optionally
//! synced, then renamed over the target. A reader never sees a partial file
//! under a final name; a killed writer leaves only names that
//! [`is_temp_name`] recognises, which a resuming run removes.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The suffix of every temporary name.
pub(crate) const TMP_SUFFIX: &str = ".impart-tmp";

/// A number drawn once per process from the OS's randomness (through the
/// standard library's hash keys): process ids repeat across machines and
/// containers (every pod's first process is 1), so temporary names of
/// workers sharing a directory need more than the pid.
fn process_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    })
}

/// A fresh temporary path beside `target`:
/// `.<name>.<pid>-<nonce>-<n>.impart-tmp`, unique per process (even across
/// machines writing one shared directory) and write.
pub(crate) fn temp_path(target: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(
        ".{name}.{}-{:016x}-{n}{TMP_SUFFIX}",
        std::process::id(),
        process_nonce()
    ))
}

/// The stable temporary path of a resumable output of `target`
/// (`.<name>.resumable.impart-tmp`): the same in every run, so a resumed
/// run finds what a killed one wrote.
pub(crate) fn resumable_temp_path(target: &Path) -> PathBuf {
    resumable_temp_path_for(target, "resumable")
}

/// Another stable temporary path of a resumable output of `target`
/// (`.<name>.<tag>.impart-tmp`), for a second file it writes (a `.nii.gz`
/// compressed from its resumable temporary file).
pub(crate) fn resumable_temp_path_for(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{tag}{TMP_SUFFIX}"))
}

/// The name of the target a temporary name of [`temp_path`] stands for
/// (`cell_1.npy` for `.cell_1.npy.4242-9f3a0c1d2b4e5f60-7.impart-tmp`).
#[cfg_attr(not(feature = "fragment"), allow(dead_code))]
pub(crate) fn temp_target(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let (target, tag) = inner.rsplit_once('.')?;
    let parts: Vec<&str> = tag.split('-').collect();
    let [pid, nonce, n] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n) && nonce.len() == 16 && nonce.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(target)
}

/// Whether a directory entry's name is one of [`temp_path`]'s.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TMP_SUFFIX)
}

/// Writes `target` through `write`, given a buffered writer on a temporary
/// file and that file's path (for error messages); then syncs it if `sync`
/// and renames it to `target`. On error the temporary file is removed.
/// Returns the file's size.
#[cfg_attr(
    not(any(feature = "fragment", feature = "nifti", feature = "image")),
    allow(dead_code)
)]
pub(crate) fn write_atomic(
    target: &Path,
    sync: bool,
    write: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<u64> {
    write_atomic_via(target, &temp_path(target), sync, write)
}

/// [`write_atomic`] through the temporary path `tmp` (truncated if it
/// exists): a stable one, which a killed run leaves for the next to reuse.
pub(crate) fn write_atomic_via(
    target: &Path,
    tmp: &Path,
    sync: bool,
    write: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<u64> {
    let tmp = tmp.to_path_buf();
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w, &tmp)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        if sync {
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        let len = file.metadata().map_err(|e| Error::io(&tmp, e))?.len();
        drop(file);
        fs::rename(&tmp, target).map_err(|e| Error::io(target, e))?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes the directory `target` through `write`, given a temporary
/// directory to fill, and a rename; returns the bytes of the files in it.
#[cfg_attr(not(all(feature = "fragment", feature = "zarr")), allow(dead_code))]
pub(crate) fn write_dir_atomic(
    target: &Path,
    sync: bool,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<u64> {
    let tmp = temp_path(target);
    let result = (|| {
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        write(&tmp)?;
        let bytes = tree_bytes(&tmp, sync)?;
        // a rename cannot replace a non-empty directory
        remove_if_exists(target)?;
        fs::rename(&tmp, target).map_err(|e| Error::io(target, e))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = remove_if_exists(&tmp);
    }
    result
}

/// Removes a file or a directory tree; a missing one is not an error.
#[cfg_attr(not(feature = "fragment"), allow(dead_code))]
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Total size of the files under `path`, flushing each (and each
/// directory) to disk when `sync`.
#[cfg_attr(not(all(feature = "fragment", feature = "zarr")), allow(dead_code))]
fn tree_bytes(path: &Path, sync: bool) -> Result<u64> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        if sync {
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(path, e))?;
        }
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        total += tree_bytes(&entry.path(), sync)?;
    }
    if sync {
        sync_dir(path)?;
    }
    Ok(total)
}

/// Flushes a directory's entries to disk (where directories can be opened
/// for it; not on Windows).
#[cfg_attr(not(feature = "fragment"), allow(dead_code))]
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_all().map_err(|e| Error::io(path, e)),
        Err(_) if cfg!(windows) => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let a = temp_path(Path::new("/x/cell_0.npy"));
        let b = temp_path(Path::new("/x/cell_0.npy"));
        assert_ne!(a, b);
        for p in [&a, &b] {
            assert_eq!(p.parent(), Some(Path::new("/x")));
            assert!(is_temp_name(&p.file_name().unwrap().to_string_lossy()));
        }
        assert!(!is_temp_name("cell_0.npy"));
    }

    #[test]
    fn failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.bin");
        let r = write_atomic(&target, false, |_, p| {
            Err(Error::InvalidArgument {
                what: "test",
                detail: p.display().to_string(),
            })
        });
        assert!(r.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let n = write_atomic(&target, true, |w, _| {
            std::io::Write::write_all(w, b"abc").map_err(|e| Error::io("f", e))
        })
        .unwrap();
        assert_eq!((n, fs::read(&target).unwrap()), (3, b"abc".to_vec()));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

#[cfg(test)]
mod temp_name_tests {
    use super::*;

    #[test]
    fn temporary_names_say_their_target() {
        let t = temp_path(Path::new("/d/cell_1_2.npy"));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(is_temp_name(&name), "{name}");
        assert_eq!(temp_target(&name), Some("cell_1_2.npy"));
        assert_ne!(t, temp_path(Path::new("/d/cell_1_2.npy")));
        assert_eq!(temp_target(".cell.npy.12-7.impart-tmp"), None);
        assert_eq!(temp_target("cell.npy"), None);
    }
}
