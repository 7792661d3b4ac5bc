//! Raw binary volumes, memory-mapped.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use super::{checked_size, Layout, MemoryOrder, Volume};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};

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

    /// Checks the file against the options and memory-maps its data.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<RawVolume> {
        RawVolume::open(path, self)
    }
}

/// A raw binary file, memory-mapped read-only.
///
/// Opening checks that the file holds `offset + voxels * size` bytes before
/// mapping, so a short file is an [`Error::Truncated`], not a crash.
///
/// # The file must not change while it is mapped
///
/// The mapping shows the file's current bytes. If another process rewrites
/// the file, views change under the program; if it truncates the file, a
/// read of a page past the new end raises `SIGBUS` and the process dies.
/// Do not modify or truncate a file while a `RawVolume` of it is alive.
#[derive(Debug)]
pub struct RawVolume {
    path: PathBuf,
    name: String,
    options: RawOptions,
    strides: Vec<usize>,
    map: Mmap,
}

impl RawVolume {
    /// Opens `path` as described by `options`.
    pub fn open(path: impl AsRef<Path>, options: &RawOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let name = path.display().to_string();
        let (_, nbytes) = checked_size(&name, &options.shape, options.dtype)?;
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
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
        // SAFETY: the mapping is read-only and covers `offset..offset + nbytes`,
        // which lies inside the file as checked just above (memmap2 itself only
        // checks `offset <= len`). Mapping is unsafe because another process may
        // change or truncate the file while it is mapped; that contract is
        // documented on `RawVolume` and passed on to the caller.
        let map = unsafe {
            MmapOptions::new()
                .offset(options.offset)
                .len(nbytes)
                .map(&file)
        }
        .map_err(|e| Error::io(&path, e))?;
        Ok(RawVolume {
            strides: options.order.strides(&options.shape),
            path,
            name,
            options: options.clone(),
            map,
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

    /// Gives the kernel an access-pattern hint for the whole mapping.
    #[cfg(unix)]
    pub fn advise(&self, advice: memmap2::Advice) -> Result<()> {
        self.map
            .advise(advice)
            .map_err(|e| Error::io(&self.path, e))
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
        Layout::new(
            &self.map,
            &self.options.shape,
            &self.strides,
            self.options.dtype,
            self.options.byte_order,
        )
        .ok()
    }

    fn kind(&self) -> &'static str {
        "raw"
    }
}
