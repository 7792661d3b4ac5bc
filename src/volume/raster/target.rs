//! Where decoded pixels go: a buffer in memory ([`Buffer`]) or a
//! decode-cache file ([`PixelFile`]: the 64-byte header, then the pixels in
//! row order and native byte order), written row by row or through a
//! writable mapping whose pages are released while a decoder fills it
//! ([`fill_mapped`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::dtype::DType;
use crate::error::{Error, Result};

/// First bytes of a decode-cache file; then height, width and channels as
/// little-endian u64, the dtype's name padded with zeros to 16 bytes, and
/// pixels from byte [`CACHE_HEADER`] in native byte order.
pub(super) const CACHE_MAGIC: &[u8; 16] = b"impart-pixels-1\n";

/// Bytes before the pixels in a decode-cache file.
pub(super) const CACHE_HEADER: usize = 64;

/// The shape and sample type of a decoded image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub dtype: DType,
}

impl Shape {
    /// Bytes of one decoded row, `None` if they overflow.
    pub fn row_bytes(&self) -> Option<usize> {
        self.width
            .checked_mul(self.channels)?
            .checked_mul(self.dtype.size())
    }

    /// Bytes of the decoded image, `None` if they overflow `usize`.
    pub fn bytes(&self) -> Option<usize> {
        self.row_bytes()?.checked_mul(self.height)
    }

    /// `(height, width, channels)`.
    pub fn dims(&self) -> [usize; 3] {
        [self.height, self.width, self.channels]
    }

    /// The header of a decode-cache file holding this image.
    pub fn cache_header(&self) -> [u8; CACHE_HEADER] {
        let mut header = [0u8; CACHE_HEADER];
        header[..16].copy_from_slice(CACHE_MAGIC);
        for (k, &n) in self.dims().iter().enumerate() {
            header[16 + 8 * k..24 + 8 * k].copy_from_slice(&(n as u64).to_le_bytes());
        }
        let name = self.dtype.name().as_bytes();
        header[40..40 + name.len()].copy_from_slice(name);
        header
    }
}

/// Decoded samples in memory.
#[derive(Debug)]
pub(super) enum Buffer {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl Buffer {
    /// A zeroed buffer for `shape` (`u8` or `u16` samples), from the
    /// allocator's zeroed pages (untouched pages cost no memory until the
    /// decoder writes them).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] naming `path` if the memory cannot be had;
    /// [`Error::UnsupportedDType`] for another sample type.
    pub fn zeroed(path: &Path, shape: &Shape) -> Result<Self> {
        let too_large = || Error::TooLarge {
            volume: path.display().to_string(),
            shape: shape.dims().to_vec(),
        };
        let samples = shape
            .bytes()
            .ok_or_else(too_large)?
            .checked_div(shape.dtype.size())
            .unwrap_or(0);
        match shape.dtype {
            DType::U8 => bytemuck::allocation::try_zeroed_vec(samples)
                .map(Buffer::U8)
                .map_err(|()| too_large()),
            DType::U16 => bytemuck::allocation::try_zeroed_vec(samples)
                .map(Buffer::U16)
                .map_err(|()| too_large()),
            other => Err(Error::UnsupportedDType {
                path: path.to_path_buf(),
                name: format!("{other} samples"),
            }),
        }
    }

    /// The samples as bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Buffer::U8(v) => v,
            Buffer::U16(v) => bytemuck::cast_slice_mut(v),
        }
    }
}

/// Turns big-endian 16-bit samples (PNG's) into native ones, in place.
pub(super) fn be16_to_native(bytes: &mut [u8]) {
    if cfg!(target_endian = "big") {
        return;
    }
    for pair in bytes.chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
}

/// A decode-cache file being written, from its header on: pixels are
/// appended in row order ([`write`](Self::write)) or written through a
/// mapping of the whole file ([`map`](Self::map)).
pub(super) struct PixelFile<'a> {
    writer: &'a mut BufWriter<File>,
    path: &'a Path,
    shape: Shape,
    durable: bool,
}

impl<'a> PixelFile<'a> {
    /// Writes the header of `shape` to `writer`, a new file at `path`;
    /// `durable` when the file is synced once written (a persistent cache
    /// file), so that [`unmap`](Self::unmap) flushes a mapping first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if the header cannot be written.
    pub fn new(
        writer: &'a mut BufWriter<File>,
        path: &'a Path,
        shape: Shape,
        durable: bool,
    ) -> Result<Self> {
        writer
            .write_all(&shape.cache_header())
            .map_err(|e| Error::io(path, e))?;
        Ok(PixelFile {
            writer,
            path,
            shape,
            durable,
        })
    }

    /// Ends writing through a [`map`](Self::map)ping: flushes it to the
    /// file first when the file is durable (the file's `fsync` alone does
    /// not cover writes through a mapping on every system).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if the flush fails.
    pub fn unmap(&self, map: MmapMut) -> Result<()> {
        if self.durable {
            map.flush().map_err(|e| Error::io(self.path, e))?;
        }
        Ok(())
    }

    /// Appends pixel bytes (whole rows, native byte order).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|e| Error::io(self.path, e))
    }

    /// A writable shared mapping of the whole file, header included (the
    /// pixels start at [`CACHE_HEADER`]), after setting its length. Nothing
    /// may be appended with [`write`](Self::write) after this.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if it cannot be flushed, reopened,
    /// sized or mapped; [`Error::TooLarge`] if its size does not fit in
    /// memory addresses.
    pub fn map(&mut self) -> Result<MmapMut> {
        let io = |e| Error::io(self.path, e);
        self.writer.flush().map_err(io)?;
        let total = self
            .shape
            .bytes()
            .and_then(|n| n.checked_add(CACHE_HEADER))
            .ok_or_else(|| Error::TooLarge {
                volume: self.path.display().to_string(),
                shape: self.shape.dims().to_vec(),
            })?;
        // the writer's handle is write-only; a shared mapping needs one
        // that can read as well
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path)
            .map_err(io)?;
        file.set_len(total as u64).map_err(io)?;
        // SAFETY: memmap2's `map_mut` is unsafe because the mapping aliases
        // the file: if another process wrote or truncated it, our slices
        // would change under us or a page past the new end would raise
        // SIGBUS. This file is one this process just created under a
        // unique temporary name (`io::temp_path`, pid, nonce and counter) in the
        // decode cache's directory, which no other writer uses; the only
        // other actor there, eviction, removes stale temporary files (which
        // leaves an open mapping intact on Unix) and never truncates one.
        // Its length was set just above to cover the whole mapping.
        unsafe { MmapOptions::new().len(total).map_mut(&file) }.map_err(io)
    }
}

/// Runs `decode` on the pixel bytes of `map` (a [`PixelFile::map`]),
/// while on Linux a helper thread drops the mapping's pages (and those of
/// `input`, a read-only mapping the decoder reads) from this process's
/// resident set every few milliseconds: the pages stay in the page cache
/// (dirty ones are written back by the kernel as usual), so the decoder's
/// writes are kept, but resident memory stays bounded whatever the size
/// of the image.
pub(super) fn fill_mapped<R>(
    map: &mut MmapMut,
    input: Option<&Mmap>,
    decode: impl FnOnce(&mut [u8]) -> R,
) -> R {
    let output = (map.as_mut_ptr() as usize, map.len());
    let input = input.map(|m| (m.as_ptr() as usize, m.len()));
    // SAFETY: both ranges are whole shared file mappings made by memmap2
    // (`map_mut` and `map` use MAP_SHARED), borrowed for this whole call,
    // so they stay mapped until `releasing` returns.
    unsafe { releasing([Some(output), input], || decode(&mut map[CACHE_HEADER..])) }
}

/// Runs `read` while on Linux a helper thread drops the pages of `input`
/// (a read-only shared mapping `read` reads) from this process's resident
/// set every few milliseconds, as [`fill_mapped`] does.
pub(super) fn read_mapped<R>(input: &Mmap, read: impl FnOnce() -> R) -> R {
    let range = (input.as_ptr() as usize, input.len());
    // SAFETY: `input` is a whole shared file mapping made by memmap2,
    // borrowed for this whole call.
    unsafe { releasing([Some(range), None], read) }
}

/// Runs `work` while a helper thread calls `madvise(MADV_DONTNEED)` on
/// each of `ranges` (address, length) every [`RELEASE_EVERY_MS`] (Linux,
/// when the ranges add up to at least [`RELEASE_ABOVE`]; otherwise it only
/// runs `work`).
///
/// # Safety
///
/// Each range must be one whole page-aligned shared (MAP_SHARED) file
/// mapping that stays mapped until this function returns.
unsafe fn releasing<R>(ranges: [Option<(usize, usize)>; 2], work: impl FnOnce() -> R) -> R {
    #[cfg(target_os = "linux")]
    {
        use std::sync::mpsc;
        let mapped: usize = ranges.iter().flatten().map(|&(_, len)| len).sum();
        if mapped < RELEASE_ABOVE {
            // resident memory is bounded by the mappings' size already: a
            // helper thread would cost more than it saves
            return work();
        }
        use std::time::Duration;
        std::thread::scope(|scope| {
            let (done, wait) = mpsc::channel::<()>();
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    wait.recv_timeout(Duration::from_millis(RELEASE_EVERY_MS))
                {
                    for (addr, len) in ranges.into_iter().flatten() {
                        // SAFETY: by this function's contract the range is
                        // a whole page-aligned shared file mapping that
                        // stays mapped until the scope (which joins this
                        // thread) ends. For such mappings Linux documents
                        // that MADV_DONTNEED only drops the pages from
                        // this process's page tables: later accesses see
                        // "the up-to-date contents of the underlying
                        // mapped file", i.e. the page cache, which holds
                        // every write made so far (a dirty page's state
                        // moves to the page cache when its table entry is
                        // zapped). So no byte `work` wrote or will read
                        // changes, concurrently or not; it only takes a
                        // minor fault on its next touch of a dropped page.
                        // The call reads or writes no memory itself; its
                        // result is a hint's and is ignored.
                        unsafe {
                            libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
                        }
                    }
                }
            });
            let result = work();
            drop(done);
            result
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ranges;
        work()
    }
}

/// Drops the pages of `map` (a read-only shared mapping of a file) before
/// byte `upto` from this process's resident set (Linux, mappings of at
/// least [`RELEASE_ABOVE`]; elsewhere nothing): a reader that has gone past them keeps resident memory
/// bounded. They stay in the page cache; a later read faults them back.
pub(super) fn release_read(map: &Mmap, upto: usize) {
    let len = upto.min(map.len());
    if len > 0 && map.len() >= RELEASE_ABOVE {
        // SAFETY: `map.as_ptr()..+len` lies inside one live mapping made
        // by memmap2 (page-aligned start, as madvise needs; it stays
        // mapped while `map` is borrowed here). It is a shared file
        // mapping (memmap2's `map` uses MAP_SHARED), for which Linux
        // documents that after MADV_DONTNEED accesses see the up-to-date
        // contents of the file again: no byte any reference into the
        // mapping can observe changes. The call itself reads or writes no
        // memory; its result is a hint's and is ignored.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::madvise(map.as_ptr() as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// Mappings smaller than this (together) are not released: their pages
/// are little resident memory, and releasing them costs a thread and a
/// TLB flush per image (opening many small JPEG tiles, say).
const RELEASE_ABOVE: usize = 32 << 20;

/// How often [`fill_mapped`] releases pages: a decoder writes some tens of
/// MB in this time.
#[cfg(target_os = "linux")]
const RELEASE_EVERY_MS: u64 = 50;

/// Fails with [`Error::InsufficientSpace`] if `dir`'s file system has
/// fewer than `needed` bytes free for this process (`statvfs`'s
/// `f_bavail`); passes where that cannot be told.
///
/// # Errors
///
/// As above.
pub(super) fn check_space(source: &Path, dir: &Path, needed: u64) -> Result<()> {
    match free_space(dir) {
        Some(available) if available < needed => Err(Error::InsufficientSpace {
            path: source.to_path_buf(),
            dir: dir.to_path_buf(),
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero `statvfs` is a valid value of this plain C
    // struct of integers, and it is only read after statvfs filled it.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call
    // and `stats` is a valid, writable `statvfs`.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let (blocks, size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    blocks.checked_mul(size)
}

#[cfg(not(unix))]
fn free_space(_dir: &Path) -> Option<u64> {
    None
}

/// A temporary cache file that is removed when dropped (on Unix it is
/// removed as soon as it is mapped, so this finds nothing to remove).
#[derive(Debug)]
pub(super) struct TempFile {
    pub path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates a temporary cache file for `name` in `dir` (made if missing):
/// the decode cache's temporary name (`.<name>.<pid>-<nonce>-<n>.impart-tmp`, so
/// the leftover of a crash is removed by the cache's eviction a day
/// later), readable by this user only; writes it through `fill`, unsynced,
/// and returns its path. On error the file is removed.
///
/// # Errors
///
/// [`Error::Io`] naming the directory or the file; `fill`'s errors.
pub(super) fn write_temp(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = crate::io::temp_path(&dir.join(name));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
    let result = (|| {
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        fill(&mut writer, &path)?;
        writer
            .into_inner()
            .map(drop)
            .map_err(|e| Error::io(&path, e.into_error()))
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_count_bytes_or_overflow() {
        let s = Shape {
            height: 3,
            width: 5,
            channels: 4,
            dtype: DType::U16,
        };
        assert_eq!((s.row_bytes(), s.bytes()), (Some(40), Some(120)));
        let huge = Shape {
            height: usize::MAX / 2,
            width: usize::MAX / 2,
            channels: 3,
            dtype: DType::U8,
        };
        assert_eq!(huge.bytes(), None);
        let header = s.cache_header();
        assert_eq!(&header[..16], CACHE_MAGIC);
        assert_eq!(header[16], 3);
        assert_eq!(header[24], 5);
        assert_eq!(header[32], 4);
        assert_eq!(&header[40..43], b"u16");
    }

    #[test]
    fn big_endian_samples_turn_native() {
        let mut b = [0x12, 0x34, 0xab, 0xcd];
        be16_to_native(&mut b);
        let native: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(native, [0x1234, 0xabcd]);
    }

    #[cfg(unix)]
    #[test]
    fn a_copy_larger_than_the_free_space_is_refused() {
        let dir = std::env::temp_dir();
        let e = check_space(Path::new("big.png"), &dir, u64::MAX).unwrap_err();
        match &e {
            Error::InsufficientSpace {
                path,
                needed,
                available,
                ..
            } => {
                assert_eq!((path.as_path(), *needed), (Path::new("big.png"), u64::MAX));
                assert!(*available < u64::MAX);
            }
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains("big.png") && text.contains("free"), "{text}");
        assert!(check_space(Path::new("small.png"), &dir, 1).is_ok());
    }
}
