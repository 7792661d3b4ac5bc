//! Accumulators in a mapped scratch file, so a stitch fits any memory
//! limit: the kernel writes the dirty pages back to disk under memory
//! pressure instead of the process running out of memory, and the pages of
//! a finished region are given back (a hole punched in the file).

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::MmapRaw;

use crate::error::{Error, Result};

/// Page size the offsets are aligned to (a multiple of every Linux page
/// size in use is not needed: punching fewer bytes is harmless).
const PAGE: u64 = 4096;

/// One sparse scratch file holding every region's accumulator at its own
/// page-aligned offset.
pub(super) struct Scratch<A> {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    /// Byte offset of each region's accumulator (one more at the end).
    offsets: Vec<u64>,
    _element: PhantomData<A>,
}

impl<A> std::fmt::Debug for Scratch<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("path", &self.path)
            .field("bytes", &self.offsets.last())
            .finish_non_exhaustive()
    }
}

impl<A: bytemuck::Pod> Scratch<A> {
    /// A scratch file in `dir` for regions of `lens` elements each. The
    /// file is unlinked at once (it vanishes with the process, even a
    /// killed one) and sparse: only what is written takes disk.
    pub(super) fn new(dir: &Path, lens: impl Iterator<Item = usize>) -> Result<Self> {
        let size = std::mem::size_of::<A>() as u64;
        let mut offsets = vec![0u64];
        for n in lens {
            let last = offsets[offsets.len() - 1];
            let end = (n as u64)
                .checked_mul(size)
                .and_then(|b| b.checked_add(last))
                .map(|e| e.div_ceil(PAGE) * PAGE)
                .ok_or_else(|| Error::InvalidArgument {
                    what: "--scratch",
                    detail: "the accumulators overflow a file offset".into(),
                })?;
            offsets.push(end);
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".impart-stitch-{}-{n}.scratch", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let _ = std::fs::remove_file(&path);
        let total = offsets[offsets.len() - 1].max(PAGE);
        file.set_len(total).map_err(|e| Error::io(&path, e))?;
        let map = MmapRaw::map_raw(&file).map_err(|e| Error::io(&path, e))?;
        Ok(Scratch {
            path,
            file,
            map,
            offsets,
            _element: PhantomData,
        })
    }

    /// The accumulator of region `id`, zero until written.
    ///
    /// # Safety
    ///
    /// The caller holds exclusive access to region `id` (its lock, or its
    /// accumulator taken out of the shared state) for as long as the slice
    /// lives, and calls this at most once at a time per region.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn slice(&self, id: usize) -> &mut [A] {
        let start = self.offsets[id];
        let len = (self.offsets[id + 1] - start) / std::mem::size_of::<A>() as u64;
        // SAFETY: `start .. start + len · size` lies inside the mapping (the
        // file was sized to the last offset, and every region's range lies
        // below the next region's page-aligned offset, so regions never
        // overlap); `start` is a multiple of 4096 and the mapping is
        // page-aligned, so the pointer is aligned for `A` (at most 8
        // bytes); any bit pattern is a valid `A` (`Pod`); and the caller
        // guarantees no other reference to this range exists meanwhile.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.map.as_mut_ptr().add(start as usize).cast::<A>(),
                len as usize,
            )
        }
    }

    /// Reserves the disk blocks of region `id`'s accumulator before it is
    /// first written, so a full file system is an [`Error::Io`] naming the
    /// scratch file (`ENOSPC`) rather than a SIGBUS, which kills the
    /// process, on a write through the mapping. Where the file system
    /// cannot reserve blocks, nothing is reserved.
    ///
    /// # Errors
    ///
    /// As above.
    pub(super) fn reserve(&self, id: usize) -> Result<()> {
        let start = self.offsets[id];
        let len = self.offsets[id + 1] - start;
        if len == 0 {
            return Ok(());
        }
        loop {
            // SAFETY: fallocate on our own descriptor, mode 0 (allocate,
            // keeping what the range holds), with a range inside the file;
            // no memory is read or written.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    0,
                    start as libc::off_t,
                    len as libc::off_t,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => return Ok(()),
                _ => return Err(Error::io(&self.path, e)),
            }
        }
    }

    /// Gives the pages of region `id` back (a hole punched in the file:
    /// its disk blocks and page cache are freed, and it reads as zeros).
    /// Where the file system cannot punch holes the pages simply stay
    /// until written back and reclaimed.
    /// Returns whether the hole was punched.
    pub(super) fn release(&self, id: usize) -> bool {
        let start = self.offsets[id];
        let len = self.offsets[id + 1] - start;
        if len == 0 {
            return true;
        }
        // SAFETY: fallocate on our own descriptor with a range inside the
        // file; no memory is touched (the kernel drops the mapped pages of
        // the range, which no one references any more: the region is done).
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                start as libc::off_t,
                len as libc::off_t,
            )
        };
        r == 0
    }

    /// The number of elements region `id` holds room for.
    #[cfg(test)]
    fn len_of(&self, id: usize) -> usize {
        ((self.offsets[id + 1] - self.offsets[id]) / std::mem::size_of::<A>() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_disjoint_zeroed_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let s = Scratch::<f32>::new(dir.path(), [10usize, 3000, 1].into_iter()).unwrap();
        assert!(s.len_of(0) >= 10 && s.len_of(1) >= 3000);
        // SAFETY: one slice at a time, nothing else uses the scratch
        let a = unsafe { s.slice(1) };
        assert!(a.iter().all(|&v| v == 0.0));
        a[2999] = 5.0;
        // SAFETY: as above
        assert_eq!(unsafe { s.slice(1) }[2999], 5.0);
        if s.release(1) {
            // SAFETY: as above
            assert_eq!(unsafe { s.slice(1) }[2999], 0.0);
        }
        // the file is already gone from the directory
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
