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
        // unique temporary name (`io::temp_path`, pid and counter) in the
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
    #[cfg(target_os = "linux")]
    {
        use std::sync::mpsc;
        use std::time::Duration;
        let output = (map.as_mut_ptr() as usize, map.len());
        let input = input.map(|m| (m.as_ptr() as usize, m.len()));
        std::thread::scope(|scope| {
            let (done, wait) = mpsc::channel::<()>();
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    wait.recv_timeout(Duration::from_millis(RELEASE_EVERY_MS))
                {
                    for (addr, len) in [Some(output), input].into_iter().flatten() {
                        // SAFETY: `addr..addr + len` is one whole mapping
                        // made by memmap2 (page-aligned, as madvise needs)
                        // that stays mapped until this scope ends: `map`
                        // and `input` are borrowed for the whole call, and
                        // the scope joins this thread before returning.
                        // Both are shared file mappings (memmap2's `map`
                        // and `map_mut` use MAP_SHARED), for which Linux
                        // documents that MADV_DONTNEED only drops the
                        // pages from this process's page tables: later
                        // accesses see "the up-to-date contents of the
                        // underlying mapped file", i.e. the page cache,
                        // which holds every write made so far (a dirty
                        // page's state moves to the page cache when its
                        // table entry is zapped). So no byte the decoder
                        // wrote or will read changes, concurrently or
                        // not; the decoder only takes a minor fault on
                        // its next touch of a dropped page. The call
                        // reads or writes no memory itself; its result
                        // is a hint's and is ignored.
                        unsafe {
                            libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
                        }
                    }
                }
            });
            let result = decode(&mut map[CACHE_HEADER..]);
            drop(done);
            result
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = input;
        decode(&mut map[CACHE_HEADER..])
    }
}

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
/// the decode cache's temporary name (`.<name>.<pid>-<n>.impart-tmp`, so
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
