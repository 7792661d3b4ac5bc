//! Raw binary volumes, memory-mapped.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use super::{checked_size, AccessHint, Layout, MemoryOrder, Volume};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::io::FileStamp;

/// How to read a raw binary file: shape, element type, byte order, memory
/// order and the offset of the first voxel.
///
/// ```no_run
/// use impart::{ByteOrder, DType, MemoryOrder, RawOptions};
///
/// let volume = RawOptions::new(&[512, 512, 512], DType::U16)
///     .byte_order(ByteOrder::Big)
///     .order(MemoryOrder::F)
///     .offset(352)
///     .open("ct.img")?;
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RawOptions {
    shape: Vec<usize>,
    dtype: DType,
    byte_order: ByteOrder,
    order: MemoryOrder,
    offset: u64,
    strides: Option<Vec<usize>>,
    mmap: bool,
    advice: MapAdvice,
}

/// Which `madvise` hints a memory-mapped volume follows when a parallel walk
/// ([`Partition::par_map_cells`] and friends, feature `rayon`) announces
/// the bytes it needs next and the bytes it is done with ([`AccessHint`]).
///
/// Walks go through the file in slabs, in memory order. `Ahead` asks the
/// kernel to start reading the next slab while this one is copied
/// (`MADV_WILLNEED`), which matters when the file is not in the page cache.
/// `AheadRelease` also unmaps the pages behind the walk (`MADV_DONTNEED`):
/// they stay in the page cache (clean, reclaimable) but leave the process's
/// resident set, so a walk over a volume larger than RAM, or than a memory
/// cgroup's limit, keeps a resident set of a few slabs. The price is that a
/// second walk over the same volume faults every page in again, so it is
/// for single passes over volumes that do not fit, not for training loops
/// that walk a cached volume once per epoch. Releasing also costs the
/// unmapping itself: on a 512³ u16 file in the page cache, one walk took
/// 45 ms without it and 55 ms with it (`impart stats`, one thread).
///
/// `Auto`, the default, reads ahead and releases behind only when the
/// mapping is larger than a quarter of the memory the process may use: the
/// physical memory or, on Linux, its memory cgroup's limit if lower.
///
#[cfg_attr(
    feature = "rayon",
    doc = "[`Partition::par_map_cells`]: crate::Partition::par_map_cells"
)]
#[cfg_attr(
    not(feature = "rayon"),
    doc = "[`Partition::par_map_cells`]: crate#features"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MapAdvice {
    /// No hints: the kernel's default read-ahead.
    Off,
    /// Read ahead of the walk.
    Ahead,
    /// Read ahead and unmap behind the walk.
    AheadRelease,
    /// Read ahead; release behind when the mapping is large next to the
    /// memory available (the default).
    #[default]
    Auto,
}

impl RawOptions {
    /// Options for a file of `shape` elements of `dtype`, little-endian,
    /// C order, starting at byte 0.
    pub fn new(shape: &[usize], dtype: DType) -> Self {
        RawOptions {
            shape: shape.to_vec(),
            dtype,
            byte_order: ByteOrder::Little,
            order: MemoryOrder::C,
            offset: 0,
            strides: None,
            mmap: true,
            advice: MapAdvice::default(),
        }
    }

    /// Byte order of the stored elements (default little).
    pub fn byte_order(mut self, byte_order: ByteOrder) -> Self {
        self.byte_order = byte_order;
        self
    }

    /// Memory order of the axes (default C).
    pub fn order(mut self, order: MemoryOrder) -> Self {
        self.order = order;
        self
    }

    /// Byte offset of the first voxel (a header's size; default 0).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Element strides of the axes, for data that is not one contiguous C-
    /// or F-order run: the element at index `(i0, i1, …)` is at byte
    /// `offset + (i0 * strides[0] + i1 * strides[1] + …) * dtype.size()`
    /// (the planes of a TIFF stack with directories between them, or the
    /// sample planes of a planar TIFF page). Default: the strides of
    /// [`order`](Self::order). Views over the mapping keep these strides.
    pub fn strides(mut self, strides: &[usize]) -> Self {
        self.strides = Some(strides.to_vec());
        self
    }

    /// Whether to memory-map the file (default `true`). With `false` the
    /// file is read with positioned reads (`pread`) on demand: no zero-copy
    /// views, but a file that is truncated while open gives an
    /// [`Error::Truncated`] instead of `SIGBUS`, and network file systems
    /// that map poorly are read efficiently. A file rewritten while open is
    /// caught either way by [`Volume::check_unchanged`].
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }

    /// The `madvise` hints walks give a mapped file (default
    /// [`MapAdvice::Auto`]).
    pub fn advice(mut self, advice: MapAdvice) -> Self {
        self.advice = advice;
        self
    }

    /// Checks the file against the options and memory-maps its data.
    ///
    /// # Errors
    ///
    /// As [`RawVolume::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<RawVolume> {
        RawVolume::open(path, self)
    }
}

/// A raw binary file, memory-mapped read-only (or read on demand, see
/// [`RawOptions::mmap`]).
///
/// Opening checks that the file holds `offset + voxels * size` bytes before
/// mapping, so a short file is an [`Error::Truncated`], not a crash.
///
/// # The file must not change while it is mapped
///
/// A mapping aliases the file. If another process rewrites the file while a
/// `RawVolume` is alive, the bytes behind views and copies change (formally
/// undefined behaviour); if it truncates the file, the next read of a page
/// past the new end raises `SIGBUS` and the process dies. Do not modify or
/// truncate a file while it is open here, or open it with
/// `RawOptions::mmap(false)`, which reads with `pread` and reports a
/// truncated file as an [`Error::Truncated`].
///
/// Opening stamps the file (size, modification time, device and inode,
/// from the `fstat` of the file opened), and
/// [`check_unchanged`](Volume::check_unchanged), which every parallel walk
/// calls when it ends, compares the path against it: a file rewritten in
/// place, replaced by a rename or removed while the volume was open is an
/// [`Error::Changed`] then, mapped or not. A file replaced by a rename
/// goes on being read from the file that was opened (its mapping or its
/// descriptor).
#[derive(Debug)]
pub struct RawVolume {
    path: PathBuf,
    name: String,
    options: RawOptions,
    strides: Vec<usize>,
    data: Data,
    /// The file when it was opened.
    stamp: FileStamp,
    /// Whether `MapAdvice::Auto` releases, decided at the first release.
    auto_release: std::sync::OnceLock<bool>,
}

#[derive(Debug)]
enum Data {
    Mapped(Mmap),
    File(File),
}

impl RawVolume {
    /// Opens `path` as described by `options`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] for a shape without axes or with an extent
    /// of 0, one whose voxels or bytes do not fit in memory addresses, or
    /// an offset plus data bytes that overflows; [`Error::Io`] naming the
    /// file if it cannot be opened, its length read, or mapped;
    /// [`Error::Truncated`] if the file is shorter than the offset plus the
    /// shape's bytes.
    pub fn open(path: impl AsRef<Path>, options: &RawOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let (_, contiguous) = checked_size(&name, &options.shape, options.dtype)?;
        let strides = match &options.strides {
            None => options.order.strides(&options.shape),
            Some(s) => s.clone(),
        };
        let nbytes = match &options.strides {
            None => contiguous,
            Some(_) => spanned_bytes(&options.shape, &strides, options.dtype).ok_or_else(|| {
                Error::InvalidLayout {
                    volume: name.clone(),
                    detail: format!(
                        "strides {strides:?} do not fit shape {:?} of {} in memory addresses",
                        options.shape, options.dtype
                    ),
                }
            })?,
        };
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        let stamp = FileStamp::from_metadata(&path, &meta);
        let len = meta.len();
        let needed =
            options
                .offset
                .checked_add(nbytes as u64)
                .ok_or_else(|| Error::InvalidLayout {
                    volume: name.clone(),
                    detail: format!(
                        "offset {} plus {nbytes} data bytes overflows",
                        options.offset
                    ),
                })?;
        if needed > len {
            return Err(Error::Truncated {
                path,
                needed,
                actual: len,
            });
        }
        let data = if options.mmap {
            // SAFETY: memmap2's `map` is unsafe because the slice it returns
            // aliases the file: another process could rewrite the file under
            // our shared references, or truncate it so that a read raises
            // SIGBUS. No process can rule that out for a file it does not
            // own; like every mmap-based reader (ripgrep's searcher, numpy's
            // memmap) we accept it for read-only data files and state the
            // contract on `RawVolume`, with `RawOptions::mmap(false)` as the
            // safe alternative. What this code does guarantee: the mapping is
            // read-only and covers `offset..offset + nbytes`, which lies
            // inside the file as checked just above (memmap2 itself only
            // checks `offset <= len`), so every index the layout allows is
            // backed by the file when it is mapped.
            let map = unsafe {
                MmapOptions::new()
                    .offset(options.offset)
                    .len(nbytes)
                    .map(&file)
            }
            .map_err(|e| Error::io(&path, e))?;
            Data::Mapped(map)
        } else {
            Data::File(file)
        };
        Ok(RawVolume {
            strides,
            path,
            name,
            options: options.clone(),
            data,
            stamp,
            auto_release: std::sync::OnceLock::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the file was opened with.
    pub fn options(&self) -> &RawOptions {
        &self.options
    }

    /// Byte offset of the first voxel in the file.
    pub fn offset(&self) -> u64 {
        self.options.offset
    }

    /// Stored byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.options.byte_order
    }

    /// Memory order of the axes.
    pub fn order(&self) -> MemoryOrder {
        self.options.order
    }

    /// Whether the data is memory-mapped.
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, Data::Mapped(_))
    }

    /// Gives the kernel an access-pattern hint for the whole mapping (no-op
    /// when the file is not mapped).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if the kernel refuses the advice.
    #[cfg(unix)]
    pub fn advise(&self, advice: memmap2::Advice) -> Result<()> {
        match &self.data {
            Data::Mapped(map) => map.advise(advice).map_err(|e| Error::io(&self.path, e)),
            Data::File(_) => Ok(()),
        }
    }

    /// Reads a region with positioned reads: one read per contiguous run of
    /// the file (runs merge across axes the region spans whole), into a
    /// buffer in file order, then one conversion pass into `out`.
    fn read_file_region(&self, file: &File, region: &Region, out: &mut [u8]) -> Result<()> {
        let shape = &self.options.shape;
        let ndim = shape.len();
        let size = self.options.dtype.size();
        if !region.is_within(shape) {
            return Err(Error::InvalidLayout {
                volume: self.name.clone(),
                detail: format!("region {region} is outside the volume {shape:?}"),
            });
        }
        let nbytes = region
            .voxels()
            .and_then(|n| n.checked_mul(size))
            .ok_or_else(|| Error::TooLarge {
                volume: self.name.clone(),
                shape: region.shape().to_vec(),
            })?;
        // axes from the file's fastest to its slowest
        let mut order: Vec<usize> = match self.options.order {
            MemoryOrder::C => (0..ndim).rev().collect(),
            MemoryOrder::F => (0..ndim).collect(),
        };
        order.sort_by_key(|&k| self.strides[k]);
        let rshape = region.shape();
        // one read per run: runs merge across an axis the region spans
        // whole if the next axis follows it without a gap
        let unit = self.strides[order[0]] == 1;
        let (mut run, mut j) = if unit { (rshape[order[0]], 1) } else { (1, 0) };
        while unit
            && j < ndim
            && rshape[order[j - 1]] == shape[order[j - 1]]
            && self.strides[order[j]] == self.strides[order[j - 1]] * shape[order[j - 1]]
        {
            run *= rshape[order[j]];
            j += 1;
        }
        let outer = &order[j..];
        // the buffer holds the region contiguously, in the file's order
        let mut buf_strides = vec![0usize; ndim];
        let mut acc = 1usize;
        for &k in &order {
            buf_strides[k] = acc;
            acc *= rshape[k];
        }
        let mut buf: Vec<u8> = Vec::new();
        buf.try_reserve_exact(nbytes).map_err(|_| Error::TooLarge {
            volume: self.name.clone(),
            shape: rshape.to_vec(),
        })?;
        buf.resize(nbytes, 0);
        let origin: usize = (0..ndim).map(|k| region.start()[k] * self.strides[k]).sum();
        let mut idx = vec![0usize; outer.len()];
        loop {
            let file_el = origin
                + outer
                    .iter()
                    .zip(&idx)
                    .map(|(&k, &i)| i * self.strides[k])
                    .sum::<usize>();
            let buf_el: usize = outer
                .iter()
                .zip(&idx)
                .map(|(&k, &i)| i * buf_strides[k])
                .sum();
            let pos = self.options.offset + (file_el * size) as u64;
            read_at(file, &mut buf[buf_el * size..(buf_el + run) * size], pos)
                .map_err(|e| self.read_error(file, pos + (run * size) as u64, e))?;
            let mut k = 0;
            loop {
                if k == outer.len() {
                    let layout = Layout::new(
                        &buf,
                        rshape,
                        &buf_strides,
                        self.options.dtype,
                        self.options.byte_order,
                    )?;
                    return crate::layout::read_region_bytes(
                        &self.name,
                        &layout,
                        &Region::full(rshape),
                        out,
                    );
                }
                idx[k] += 1;
                if idx[k] < rshape[outer[k]] {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    /// The error of a positioned read that needed the file's bytes up to
    /// `needed`: [`Error::Truncated`] with the file's length now when the
    /// read ended early (the file was cut short after it was opened), the
    /// I/O error otherwise.
    fn read_error(&self, file: &File, needed: u64, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            if let Ok(meta) = file.metadata() {
                return Error::Truncated {
                    path: self.path.clone(),
                    needed,
                    actual: meta.len(),
                };
            }
        }
        Error::io(&self.path, e)
    }
}

/// Bytes from the first element to the end of the last of an array of
/// `shape` with element `strides` (`None` on overflow).
fn spanned_bytes(shape: &[usize], strides: &[usize], dtype: DType) -> Option<usize> {
    if strides.len() != shape.len() {
        return None;
    }
    shape
        .iter()
        .zip(strides)
        .try_fold(0usize, |acc, (&n, &st)| {
            n.checked_sub(1)?.checked_mul(st)?.checked_add(acc)
        })?
        .checked_add(1)?
        .checked_mul(dtype.size())
}

/// Reads exactly `buf.len()` bytes at `pos`.
pub(super) fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, pos)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.seek_read(&mut buf[done..], pos + done as u64)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(buf)
    }
}

impl Volume for RawVolume {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.options.shape
    }

    fn dtype(&self) -> DType {
        self.options.dtype
    }

    fn layout(&self) -> Option<Layout<'_>> {
        let Data::Mapped(map) = &self.data else {
            return None;
        };
        Layout::new(
            map,
            &self.options.shape,
            &self.strides,
            self.options.dtype,
            self.options.byte_order,
        )
        .ok()
    }

    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        match &self.data {
            Data::File(file) => self.read_file_region(file, region, out),
            Data::Mapped(_) => match self.layout() {
                Some(layout) => crate::layout::read_region_bytes(&self.name, &layout, region, out),
                None => Err(Error::InvalidLayout {
                    volume: self.name.clone(),
                    detail: "the mapping does not match the shape".into(),
                }),
            },
        }
    }

    fn hint(&self, hint: AccessHint) {
        #[cfg(unix)]
        if let Data::Mapped(map) = &self.data {
            let advice = match self.options.advice {
                MapAdvice::Auto => {
                    let large = *self.auto_release.get_or_init(|| {
                        map.len() as u64 > crate::io::MemoryLimits::detect().release_behind_above()
                    });
                    if large {
                        MapAdvice::AheadRelease
                    } else {
                        MapAdvice::Ahead
                    }
                }
                advice => advice,
            };
            advise_map(map, advice, hint);
        }
        #[cfg(not(unix))]
        let _ = hint;
    }

    fn check_unchanged(&self) -> Result<()> {
        self.stamp.check()
    }

    fn kind(&self) -> &'static str {
        "raw"
    }
}

/// Follows `hint` on `map` as `advice` allows. Hints are best effort: a
/// kernel that refuses one changes nothing that is read, so errors are
/// ignored.
#[cfg(unix)]
fn advise_map(map: &Mmap, advice: MapAdvice, hint: AccessHint) {
    let clamp = |r: std::ops::Range<usize>| r.start.min(map.len())..r.end.min(map.len());
    match (advice, hint) {
        (MapAdvice::Ahead | MapAdvice::AheadRelease, AccessHint::WillNeed(r)) => {
            let r = clamp(r);
            if !r.is_empty() {
                let _ = map.advise_range(memmap2::Advice::WillNeed, r.start, r.len());
            }
        }
        (MapAdvice::AheadRelease, AccessHint::DontNeed(r)) => {
            // Only whole pages inside the range: a page that straddles its
            // end still holds bytes a later read wants.
            let page = page_size();
            let base = map.as_ptr() as usize;
            let r = clamp(r);
            let start = (base + r.start).next_multiple_of(page) - base;
            let end = ((base + r.end) / page * page).saturating_sub(base);
            if start < end {
                // SAFETY: `MADV_DONTNEED` is unchecked in memmap2 because on
                // a private or anonymous mapping it discards the contents.
                // This mapping is a read-only shared mapping of a file
                // (`MmapOptions::map`): the kernel only drops the page-table
                // entries, and the next access faults the same bytes back in
                // from the page cache or the file, so every slice and view
                // over the mapping keeps reading the same values. The range
                // is inside the mapping (clamped above) and page-aligned.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
        _ => {}
    }
}

#[cfg(unix)]
fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}
