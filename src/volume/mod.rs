//! Storage backends: where a volume's voxels live.
//!
//! A backend implements [`Volume`]: a shape, an element type, a name for
//! messages, and either addressable memory ([`Volume::layout`]: bytes plus
//! element strides, as for a memory-mapped file or an in-memory array) or a
//! way to read a region into a buffer ([`Volume::read_region`], for compressed
//! formats). Everything above this layer — views, materialization, parallel
//! walks — is written once against this trait.
//!
//! Backends here, each with its [`kind`](Volume::kind):
//!
//! | backend | kind | feature | storage | memory order |
//! |---|---|---|---|---|
//! | [`RawVolume`] | `raw` | | a binary file, memory-mapped (or read with `pread`) | C or F, as [`RawOptions::order`] says |
//! | [`ArrayVolume`] | `memory` | | an ndarray array, borrowed or owned | the array's |
//! | [`NiftiVolume`] | `nifti` | `nifti` | NIfTI-1/2 through the raw path: `.nii` mapped at `vox_offset`, `.hdr`/`.img` pairs, `.gz` decompressed once to a mapped cache file | F (x fastest) |
//! | [`ZarrVolume`] | `zarr` | `zarr` | Zarr v2/v3 chunks, decoded as reads cross them (a [`ChunkedVolume`] over [`ZarrChunks`]) | C (reads come out in C order whatever the order the array is stored in) |
//! | [`TiffVolume`] | `tiff` | `tiff` | a TIFF or BigTIFF page `(height, width, samples)`, its tiles or strips decoded as reads cross them (a [`ChunkedVolume`] over [`TiffChunks`]) | C |
//! | [`ImageVolume`] | `image` | `image` | PNG, JPEG (TIFF without the `tiff` feature) decoded `(height, width, channels)` into memory, or into a mapped temporary or decode-cache file | C |
//! | [`ChunkedVolume`] | the source's | | any [`ChunkSource`](crate::ChunkSource): each chunk decoded once per walk | C |
//!
//! A backend with a [`layout`](Volume::layout) (raw, memory, NIfTI,
//! images) gives zero-copy views; the others are read region by region.
//! Views and materialized arrays keep the volume's memory order; a caller's
//! buffer of the other order is filled through the copy engine's tiled
//! transpose ([`Selected::read_into`](crate::Selected::read_into)).
//!
//! [`open`] opens a path whatever its format ([`OpenOptions`] for the
//! knobs): the backend is chosen by the path's name or directory
//! ([`VolumeFormat::detect`]) and the result is an [`AnyVolume`].
//!
#![cfg_attr(feature = "nifti", doc = "[`NiftiVolume`]: NiftiVolume")]
#![cfg_attr(not(feature = "nifti"), doc = "[`NiftiVolume`]: crate#features")]
#![cfg_attr(feature = "zarr", doc = "[`ZarrVolume`]: ZarrVolume")]
#![cfg_attr(not(feature = "zarr"), doc = "[`ZarrVolume`]: crate#features")]
#![cfg_attr(feature = "zarr", doc = "[`ZarrChunks`]: ZarrChunks")]
#![cfg_attr(not(feature = "zarr"), doc = "[`ZarrChunks`]: crate#features")]
#![cfg_attr(feature = "tiff", doc = "[`TiffVolume`]: TiffVolume")]
#![cfg_attr(not(feature = "tiff"), doc = "[`TiffVolume`]: crate#features")]
#![cfg_attr(feature = "tiff", doc = "[`TiffChunks`]: TiffChunks")]
#![cfg_attr(not(feature = "tiff"), doc = "[`TiffChunks`]: crate#features")]
#![cfg_attr(feature = "image", doc = "[`ImageVolume`]: ImageVolume")]
#![cfg_attr(not(feature = "image"), doc = "[`ImageVolume`]: crate#features")]

mod chunked;
mod memory;
#[cfg(feature = "nifti")]
pub mod nifti;
mod open;
#[cfg(feature = "image")]
pub mod raster;
mod raw;
#[cfg(feature = "tiff")]
pub mod tiff;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use chunked::ChunkedVolume;
pub use memory::ArrayVolume;
#[cfg(feature = "nifti")]
pub use nifti::{NiftiHeader, NiftiOptions, NiftiVolume};
pub use open::{open, AnyVolume, OpenOptions, VolumeFormat};
#[cfg(feature = "image")]
pub use raster::{ImageOptions, ImageStorage, ImageVolume};
pub use raw::{MapAdvice, RawOptions, RawVolume};
#[cfg(feature = "tiff")]
pub use tiff::{GeoTiff, RasterType, TiffChunks, TiffLevel, TiffOptions, TiffVolume};
#[cfg(feature = "remote")]
pub use zarr::remote::{RemoteOptions, RemoteStats, RemoteStore};
#[cfg(feature = "zarr")]
pub use zarr::{is_remote, OmeAxis, OmeImage, OmeLevel, ZarrChunks, ZarrOptions, ZarrVolume};

use std::ops::Range;

pub(crate) use crate::layout::checked_size;
pub use crate::layout::{Layout, MemoryOrder};

use crate::chunked::{WalkPlan, WalkSession};
use crate::dtype::DType;
use crate::error::{Error, NotZeroCopyReason, Result};
use crate::grid::Region;

/// What a walk over cells tells a volume about the bytes of its layout; see
/// [`Volume::hint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessHint {
    /// The walk reads these bytes soon.
    WillNeed(Range<usize>),
    /// No later read of the walk touches these bytes.
    DontNeed(Range<usize>),
}

/// A voxel-to-world map axis by axis: `world[a] = index[a] * scale[a] +
/// translation[a]`, in each axis's unit (OME-Zarr's `coordinateTransformations`
/// of a level: its scale, then its translation, then those of the whole
/// multiscale image). Voxel centres are at whole indices, as in NIfTI.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisTransform {
    /// Per axis, world units per voxel.
    pub scale: Vec<f64>,
    /// Per axis, the world coordinate of index 0.
    pub translation: Vec<f64>,
}

impl AxisTransform {
    /// The identity over `rank` axes.
    pub fn identity(rank: usize) -> Self {
        AxisTransform {
            scale: vec![1.0; rank],
            translation: vec![0.0; rank],
        }
    }

    /// The world coordinates of voxel `index` (one per axis of the
    /// transform; missing indices are 0).
    pub fn world(&self, index: &[usize]) -> Vec<f64> {
        self.scale
            .iter()
            .zip(&self.translation)
            .enumerate()
            .map(|(a, (s, t))| t + s * index.get(a).copied().unwrap_or(0) as f64)
            .collect()
    }

    /// This transform followed by `then` (NGFF's order: a dataset's
    /// transforms, then the multiscale image's).
    pub fn then(&self, then: &AxisTransform) -> AxisTransform {
        AxisTransform {
            scale: self
                .scale
                .iter()
                .zip(&then.scale)
                .map(|(a, b)| a * b)
                .collect(),
            translation: self
                .translation
                .iter()
                .zip(&then.scale)
                .zip(&then.translation)
                .map(|((t, s), u)| t * s + u)
                .collect(),
        }
    }
}

/// A volume: a shape, an element type, and access to its voxels.
///
/// Implement either [`layout`](Volume::layout) (addressable memory: views
/// and the fast copy path come for free) or
/// [`read_region`](Volume::read_region) (anything else).
pub trait Volume: Send + Sync {
    /// A name for messages: the file's path, or `<memory>`.
    fn name(&self) -> &str;

    /// Extent per axis.
    fn shape(&self) -> &[usize];

    /// Stored element type.
    fn dtype(&self) -> DType;

    /// The voxels as addressable memory, if the backend has them.
    fn layout(&self) -> Option<Layout<'_>> {
        None
    }

    /// Reads `region` (inside the volume) into `out` as C-order, native-endian
    /// elements of [`dtype`](Volume::dtype); `out` holds exactly the region's
    /// bytes. The default reads from [`layout`](Volume::layout).
    ///
    /// # Errors
    ///
    /// The default: [`Error::NotZeroCopy`] if the backend has no
    /// [`layout`](Volume::layout) (such a backend must implement this
    /// method), [`Error::InvalidLayout`] if `region` is not inside the
    /// volume or `out` is not exactly its bytes, [`Error::TooLarge`] if a
    /// staging buffer (for an `out` not aligned for the type) cannot be
    /// allocated. Backends that read or decode add their own
    /// ([`Error::Io`], [`Error::Decode`]).
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        let layout = self.layout().ok_or_else(|| Error::NotZeroCopy {
            volume: self.name().to_string(),
            reason: NotZeroCopyReason::NotAddressable,
        })?;
        crate::layout::read_region_bytes(self.name(), &layout, region, out)
    }

    /// The voxel-to-world affine (4x4, row-major, millimetres), for formats
    /// that have one.
    fn affine(&self) -> Option<[[f64; 4]; 4]> {
        None
    }

    /// The voxel-to-world map of each axis, for formats that give one
    /// per axis (an OME-Zarr level) rather than an
    /// [`affine`](Volume::affine).
    fn axis_transform(&self) -> Option<&AxisTransform> {
        None
    }

    /// Intensity scaling `(slope, intercept)` that
    /// [`to_array_scaled`](crate::Selected::to_array_scaled) applies.
    fn scaling(&self) -> Option<(f64, f64)> {
        None
    }

    /// The extent per axis of the units the volume is stored and decoded
    /// in (Zarr chunks or sub-chunks, TIFF tiles or strips), for a volume
    /// read chunk by chunk; `None` for addressable memory (a mapped file)
    /// and backends without chunks. The split of a job into shards groups
    /// cells by the chunks they touch ([`Partition::shard_split`]).
    ///
    /// [`Partition::shard_split`]: crate::Partition::shard_split
    fn chunk_shape(&self) -> Option<&[usize]> {
        None
    }

    /// Starts a walk over the regions of `plan`: a volume that decodes
    /// chunks returns a [`WalkSession`] that serves the walk's reads,
    /// decoding each chunk once and keeping it exactly as long as a later
    /// read of the plan needs it (see [`crate::chunked`]). The session ends
    /// when it is dropped. Default: `None` (reads go to
    /// [`read_region`](Volume::read_region)).
    fn begin_walk<'a>(&'a self, plan: &WalkPlan) -> Option<Box<dyn WalkSession + 'a>> {
        let _ = plan;
        None
    }

    /// Tells a volume with a [`layout`](Volume::layout) which of its bytes
    /// a walk needs next or no longer needs, so a memory-mapped file can
    /// ask the kernel to read ahead or to unmap pages behind the walk
    /// (`madvise`). Ranges are byte offsets into
    /// [`Layout::bytes`]. A hint never changes what is read. Default:
    /// nothing.
    fn hint(&self, hint: AccessHint) {
        let _ = hint;
    }

    /// Checks that the files the volume reads are still the ones it
    /// opened: each was stamped when the volume was opened (size,
    /// modification time to the nanosecond, device and inode), and this
    /// looks at each path again, one `stat` per file. Every parallel walk
    /// ([`Partition::par_map_cells`] and the walks built on it:
    /// `par_for_each_cell`, `sink::feed`, fragmentation; feature `rayon`)
    /// calls it when its last cell is done and returns its
    /// error instead of the walk's results, so an input that another
    /// process changed under the walk makes the walk fail rather than
    /// finish with data that mixes two versions of the file. Call it
    /// yourself after reads that are not such a walk (the cells of
    /// [`Partition::cells`](crate::Partition::cells) or `par_cells`,
    /// single selections).
    ///
    /// What each change gives, for a file read through a mapping (the
    /// default for raw, NIfTI and uncompressed TIFF) and with positioned
    /// reads (`mmap(false)`, CLI `--no-mmap`):
    ///
    /// | change during a walk | mapped | positioned reads |
    /// |---|---|---|
    /// | truncated | a read past the new end raises `SIGBUS`, which kills the process (the `impart` program reports it and exits with status 135) | the read fails: [`Error::Truncated`] naming the file, its new size and the offset the read needed |
    /// | rewritten in place (new bytes, new modification time) | the walk ends with [`Error::Changed`]: `modification time a -> b` (and `size a -> b bytes` if it changed) | the same |
    /// | replaced by a rename (another file at the path) | reads go on in the file that was opened; the walk ends with [`Error::Changed`]: `replaced by another file (inode a -> b)` | the same |
    /// | removed | as replaced, ending with [`Error::Changed`]: `removed: no file is at this path now` | the same |
    /// | unchanged | `Ok(())` | `Ok(())` |
    ///
    /// What is stamped, per backend: raw, the file (the `fstat` of the
    /// file as it is opened); NIfTI, the header and the data file (one for
    /// a `.nii`), for a gzipped file the `.gz` source and not its
    /// decompressed cache copy (which only this crate writes, atomically);
    /// TIFF, the file; PNG and JPEG, the source file (its pixels are
    /// decoded when the volume is opened, so a change after that changes
    /// nothing that is read, but the volume no longer describes the file
    /// at its path); Zarr, the array's metadata file (`zarr.json`, or
    /// `.zarray` for v2). Zarr chunk files are not stamped: an array may
    /// have millions, read one by one as a walk reaches them, so stamping
    /// them when the array is opened would make opening cost as much as
    /// listing the array; and a chunk rewritten before the walk reads it
    /// leaves no trace in a stat taken afterwards. A writer that rewrites
    /// an array's chunks in place during a walk is not detected; one that
    /// recreates the array (new metadata) is. In-memory volumes have no
    /// files: the default is `Ok(())`.
    ///
    /// A rewrite that keeps both the size and the modification time (a
    /// tool that sets the time back, or a rewrite within one tick of a
    /// coarse file-system clock of a file last written in the same tick)
    /// is not detected: only hashing the contents would tell.
    ///
    /// # Errors
    ///
    /// [`Error::Changed`] naming the first file that changed and saying
    /// what changed; [`Error::Io`] naming a file whose metadata cannot be
    /// read for another reason than its absence.
    ///
    #[cfg_attr(
        feature = "rayon",
        doc = "[`Partition::par_map_cells`]: crate::Partition::par_map_cells"
    )]
    #[cfg_attr(
        not(feature = "rayon"),
        doc = "[`Partition::par_map_cells`]: crate#features"
    )]
    fn check_unchanged(&self) -> Result<()> {
        Ok(())
    }

    /// Short description of the backend (`"raw"`, `"memory"`, …).
    fn kind(&self) -> &'static str;
}

macro_rules! forward_volume {
    ($($ty:ty),*) => {$(
        impl<V: Volume + ?Sized> Volume for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn shape(&self) -> &[usize] {
                (**self).shape()
            }
            fn dtype(&self) -> DType {
                (**self).dtype()
            }
            fn layout(&self) -> Option<Layout<'_>> {
                (**self).layout()
            }
            fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
                (**self).read_region(region, out)
            }
            fn affine(&self) -> Option<[[f64; 4]; 4]> {
                (**self).affine()
            }
            fn axis_transform(&self) -> Option<&AxisTransform> {
                (**self).axis_transform()
            }
            fn scaling(&self) -> Option<(f64, f64)> {
                (**self).scaling()
            }
            fn chunk_shape(&self) -> Option<&[usize]> {
                (**self).chunk_shape()
            }
            fn begin_walk<'a>(&'a self, plan: &WalkPlan) -> Option<Box<dyn WalkSession + 'a>> {
                (**self).begin_walk(plan)
            }
            fn hint(&self, hint: AccessHint) {
                (**self).hint(hint)
            }
            fn check_unchanged(&self) -> Result<()> {
                (**self).check_unchanged()
            }
            fn kind(&self) -> &'static str {
                (**self).kind()
            }
        }
    )*};
}

forward_volume!(&V, Box<V>, std::sync::Arc<V>);
