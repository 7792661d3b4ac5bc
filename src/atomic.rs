//! Files that appear whole or not at all: written under a temporary name,
//! optionally synced, then renamed over the target. Used by the decode
//! caches (`.nii.gz`, images) and by fragmentation.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `target` through `write`, given a buffered writer on `tmp` and
/// `tmp`'s path (for error messages); then syncs it if `sync`, and renames it
/// to `target`. On error the temporary file is removed. Returns the file's
/// size.
pub(crate) fn write_atomic(
    target: &Path,
    tmp: &Path,
    sync: bool,
    write: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<u64> {
    let result = (|| {
        let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w, tmp)?;
        let file = w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
        if sync {
            file.sync_all().map_err(|e| Error::io(tmp, e))?;
        }
        let len = file.metadata().map_err(|e| Error::io(tmp, e))?.len();
        drop(file);
        std::fs::rename(tmp, target).map_err(|e| Error::io(target, e))?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}
