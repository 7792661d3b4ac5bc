//! Decoded copies of files that cannot be mapped (gzipped NIfTI, PNG, TIFF
//! and JPEG images), kept on disk so that they can be.
//!
//! A cache file lives in `<dir>/impart-cache/` under a name that hashes the
//! source's canonical path, size and modification time (plus what the
//! caller adds), so a changed source gets a new file and an unchanged one
//! reuses it. Files are written under a temporary name, synced and renamed,
//! so a crash never leaves a partial file that a later run trusts. Nothing
//! removes cache files; deleting the directory reclaims the space.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the cache copy of `source` goes: `<dir>/impart-cache/<key>-<name>`,
/// with `salt` folded into the key. Makes the directory.
pub(crate) fn cache_path(source: &Path, dir: &Path, salt: &[u8], name: &str) -> Result<PathBuf> {
    let meta = std::fs::metadata(source).map_err(|e| Error::io(source, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let key = fnv1a(&[
        canonical.as_os_str().to_string_lossy().as_bytes(),
        &meta.len().to_le_bytes(),
        &mtime.to_le_bytes(),
        salt,
    ]);
    let dir = dir.join("impart-cache");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir.join(format!("{key:016x}-{name}")))
}

/// Writes `target` through `fill`, atomically and synced (see
/// [`super::atomic`]).
pub(crate) fn write_atomic(
    target: &Path,
    fill: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<()> {
    super::atomic::write_atomic(target, true, fill).map(|_| ())
}

/// FNV-1a over the parts, each followed by a separator byte.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
