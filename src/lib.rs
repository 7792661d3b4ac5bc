//! # impart — image and volume partitioning
//!
//! `impart` lays a virtual N-dimensional grid of fixed-size, possibly
//! overlapping cells over an image or volume of any size, and lets a program
//! index that grid like a NumPy array. Nothing is read until a selection is
//! materialized: volumes stay on disk, memory-mapped, and a selection of cells
//! is a zero-copy strided [`ndarray`] view into the file.
//!
//! ```
//! use impart::{ArrayVolume, Partition};
//! use ndarray::{s, Array3};
//!
//! // A 1080 x 1920 RGB image, 128 x 128 cells overlapping by half
//! // (the original Python impart's README example).
//! let image = Array3::<u8>::zeros((1080, 1920, 3));
//! let part = Partition::builder(ArrayVolume::new(image.view())?)
//!     .cell(&[128, 128])
//!     .stride(0.5)
//!     .build()?;
//! assert_eq!(part.grid().shape(), vec![16, 29]);
//! assert_eq!(part.grid().step(), vec![64.0, 64.0]);
//! assert_eq!(part.select(s![.., 0])?.region().shape(), &[1080, 128, 3]);
//! assert_eq!(part.select(s![..3, 15..21])?.region().shape(), &[256, 448, 3]);
//! let cell = part.select(s![10, -1])?;
//! assert_eq!(cell.region().start(), &[640, 1792, 0]);
//! let view = cell.view::<u8>()?; // zero copy
//! assert_eq!(view.shape(), &[128, 128, 3]);
//! # Ok::<(), impart::Error>(())
//! ```
//!
//! ## Files: NIfTI and Zarr
//!
//! [`open`] opens a path whatever its format (by its name, or the
//! directory's metadata for Zarr; raw files say what they hold through
//! [`OpenOptions`]) and returns an [`AnyVolume`]. Here a small NIfTI file is
//! written with the crate's own output and opened again: a `.nii` is mapped
//! at its `vox_offset`, so a cell is a zero-copy view into the file, with the
//! file's axes (x, y, z) in its own memory order (F: x fastest).
//!
//! ```
//! # #[cfg(feature = "nifti")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use impart::output::{NiftiOutputOptions, OutputVolume};
//! use impart::{DType, Partition, Region, Volume};
//! use ndarray::{s, Array3};
//!
//! let data = Array3::<u16>::from_shape_fn((20, 16, 12), |(x, y, z)| (x + 20 * y + 320 * z) as u16);
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("scan.nii");
//! let out = NiftiOutputOptions::new(&[20, 16, 12], DType::U16).create(&path)?;
//! // an output takes C-order, native-endian elements, whatever its own order
//! let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_ne_bytes()).collect();
//! out.write_region(&Region::new(vec![0, 0, 0], vec![20, 16, 12])?, &bytes)?;
//! out.finish()?;
//!
//! let volume = impart::open(&path)?; // header checked, file mapped, no voxel read
//! assert_eq!((volume.kind(), volume.shape()), ("nifti", &[20usize, 16, 12][..]));
//! let part = Partition::builder(volume).cell(&[8, 8, 8]).stride(0.5).build()?;
//! let cell = part.select(s![1, 2, 0])?;
//! let view = cell.view::<u16>()?; // zero copy, F-order strides
//! assert_eq!(view, data.slice(s![4..12, 8..16, 0..8]).into_dyn());
//! assert_eq!(view.strides(), &[1, 20, 320]);
//! assert_eq!(cell.world_origin(), Some([4.0, 8.0, 0.0])); // the identity affine
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "nifti"))]
//! # fn main() {}
//! ```
//!
//! A Zarr array is compressed: a cell has no zero-copy view, and
//! materializing it decodes just the chunks it crosses (a walk over many
//! cells decodes each chunk once; see [`ZarrVolume`]).
//!
//! ```
//! # #[cfg(feature = "zarr")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use impart::output::{OutputVolume, ZarrOutput};
//! use impart::{DType, Partition, Region, Volume};
//! use ndarray::{s, Array3};
//!
//! let data = Array3::<f32>::from_shape_fn((24, 24, 24), |(z, y, x)| (576 * z + 24 * y + x) as f32);
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("scan.zarr");
//! // Zarr v3, 16^3 chunks, zstd
//! let out = ZarrOutput::create(&path, &[24, 24, 24], &[16, 16, 16], DType::F32)?;
//! let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_ne_bytes()).collect();
//! out.write_region(&Region::new(vec![0, 0, 0], vec![24, 24, 24])?, &bytes)?;
//! out.finish()?;
//!
//! let volume = impart::open(&path)?; // reads zarr.json only
//! assert_eq!((volume.kind(), volume.shape()), ("zarr", &[24usize, 24, 24][..]));
//! let part = Partition::builder(volume).cell(&[12, 12, 12]).build()?;
//! let cell = part.select(s![1, 0, 1])?;
//! assert!(matches!(cell.view::<f32>(), Err(impart::Error::NotZeroCopy { .. })));
//! let owned = cell.to_array::<f32>()?; // decodes the chunks the cell crosses
//! assert_eq!(owned, data.slice(s![12..24, 0..12, 12..24]).into_dyn());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "zarr"))]
//! # fn main() {}
//! ```
//!
//! ## Backends and outputs
//!
//! | input | type | feature | a cell as a view |
//! |---|---|---|---|
//! | raw binary file, C or F order, either byte order | [`RawVolume`] ([`RawOptions`]) | | zero copy into the mapping (native byte order, aligned); `pread` with `mmap(false)` |
//! | memory: an ndarray array, borrowed or owned | [`ArrayVolume`] | | zero copy |
//! | NIfTI-1/2: `.nii`, `.nii.gz`, `.hdr`/`.img` | [`NiftiVolume`] | `nifti` | zero copy into the mapping (a `.gz` is decompressed once to a cache file, then mapped) |
//! | Zarr v2/v3 (chunked, compressed, sharded) | [`ZarrVolume`] | `zarr` | none: the chunks a read crosses are decoded |
//! | TIFF and BigTIFF (tiled or striped, compressed, planar, any page) | [`TiffVolume`] | `tiff` | none: the tiles or strips a read crosses are decoded |
//! | raster images: PNG, JPEG (and TIFF without the `tiff` feature) | [`ImageVolume`] | `image` | zero copy into the decoded pixels (or a mapped decode cache) |
//! | any source of decoded chunks | [`ChunkedVolume`] over a [`ChunkSource`] | | none: chunks decoded once per walk |
//!
//! Outputs, the mirror ([`output`]): [`RawOutput`](output::RawOutput),
//! [`ArrayOutput`](output::ArrayOutput) (memory), [`NiftiOutput`]
//! (feature `nifti`, `.nii` and `.nii.gz`) and [`ZarrOutput`] (feature
//! `zarr`, Zarr v3).
//!
//! ## Layers: the map of the crate
//!
//! Each layer is a module and imports only the layers above it in this list
//! (the grid does no I/O); the crate-wide [`Error`] sits after the pure
//! layers, which have error types of their own.
//!
//! 1. [`grid`]: pure arithmetic — grid shape, cell and selection regions,
//!    edge policies, C-order cell iteration; [`Region`] and [`CellBox`].
//! 2. [`selection`]: NumPy-style indexing (`s![..3, 15..21]`, `"10,-1"`).
//! 3. [`dtype`]: runtime element types, byte order, conversions.
//! 4. [`error`]: the crate-wide [`Error`], wrapping the layers' errors.
//! 5. [`layout`]: addressable voxels ([`Layout`], [`LayoutMut`]), memory
//!    order, and the copy engine: gather into a caller's buffer (either
//!    memory order into either), scatter into a writable layout.
//! 6. [`io`]: atomic writes under one temporary-name policy, the decode
//!    cache ([`DecodeCache`], kept under [`CacheLimits`] by
//!    least-recently-used eviction), [`MemoryLimits`] (every memory budget).
//! 7. [`format`](mod@format): what readers and writers share — NIfTI headers and the
//!    datatype table, Zarr data type names.
//! 8. [`chunked`]: sources that come in decoded chunks ([`ChunkSource`]),
//!    the chunk cache, a walk's [`WalkPlan`] and [`WalkSession`].
//! 9. [`volume`]: the input backends behind [`Volume`] — raw
//!    ([`RawVolume`]: mapped or read), memory ([`ArrayVolume`]), NIfTI
//!    ([`NiftiVolume`], feature `nifti`), Zarr ([`ZarrVolume`], feature
//!    `zarr`), TIFF tile by tile ([`TiffVolume`], feature `tiff`), raster
//!    images PNG/JPEG ([`ImageVolume`], feature
//!    `image`), and chunked ([`ChunkedVolume`] over any chunk source: each
//!    chunk decoded once per walk, one cache per walk) — and [`open`],
//!    which opens a path whatever its format ([`OpenOptions`],
//!    [`AnyVolume`]).
//! 10. [`output`]: the mirror of `volume` — [`output::OutputVolume`] with
//!     raw, memory, NIfTI and Zarr outputs.
//! 11. [`partition`]: a grid bound to a volume — lazy selections, zero-copy
//!     views, materialization (owned, cast, into a caller's buffer such as
//!     a batch slot), world coordinates.
//! 12. `walk` (feature `rayon`): parallel walks over a partition's cells —
//!     memory-order batches, madvise hints for mapped files, the rayon
//!     adapter behind [`Partition::par_map_cells`] and its siblings.
//! 13. [`sink`] (feature `rayon`): what a walk feeds, behind one trait
//!     (`sink::CellSink`); [`fragment`] (every cell to its own file,
//!     resumable) is one sink; [`stitch`] puts per-cell predictions back
//!     into one output, blended and reduced region by region in bounded
//!     memory, resumable.
//! 14. [`original`] (feature `image`): the original Python impart's 2D API
//!     over the same partition.
//!
//! The `impart` program (`src/cli/`) uses only this public API.
//!
//! ## Features
//!
//! All default; each adds one backend or capability (on docs.rs every
//! feature-gated item carries its feature's badge).
//!
//! - `rayon`: parallel iteration over cells
//!   ([`Partition::par_map_cells`], [`sink`]).
//! - `nifti`: NIfTI-1/NIfTI-2 volumes ([`NiftiVolume`], [`NiftiOutput`]).
//! - `zarr`: Zarr v2/v3 arrays through `zarrs` (chunked, compressed,
//!   sharded; [`ZarrVolume`], [`ZarrOutput`]).
//! - `tiff`: TIFF and BigTIFF pages read tile by tile or strip by strip
//!   through the `tiff` crate ([`TiffVolume`]).
//! - `image`: PNG and JPEG images of any size, through the `png` crate
//!   and `zune-jpeg` (TIFF through the `image` crate when `tiff` is off;
//!   [`ImageVolume`], [`ImageOptions`]), and the original's 2D API
//!   ([`original::ImagePartition`]).
//! - `fragment` (implies `rayon`): writing every cell to its own file with
//!   a manifest ([`fragment`]).
//! - `cli`: the `impart` command-line program (implies all the above; a
//!   library leaves it out).
//!
//! Without a feature, a link above to what it adds leads back to this list.
//!
// Links to feature-gated items: the item with its feature, the Features
// list without it (so the docs build warning-free in every configuration).
#![cfg_attr(feature = "nifti", doc = "[`NiftiVolume`]: crate::NiftiVolume")]
#![cfg_attr(not(feature = "nifti"), doc = "[`NiftiVolume`]: crate#features")]
#![cfg_attr(feature = "nifti", doc = "[`NiftiOutput`]: crate::output::NiftiOutput")]
#![cfg_attr(not(feature = "nifti"), doc = "[`NiftiOutput`]: crate#features")]
#![cfg_attr(feature = "zarr", doc = "[`ZarrVolume`]: crate::ZarrVolume")]
#![cfg_attr(not(feature = "zarr"), doc = "[`ZarrVolume`]: crate#features")]
#![cfg_attr(feature = "zarr", doc = "[`ZarrOutput`]: crate::output::ZarrOutput")]
#![cfg_attr(not(feature = "zarr"), doc = "[`ZarrOutput`]: crate#features")]
#![cfg_attr(feature = "tiff", doc = "[`TiffVolume`]: crate::TiffVolume")]
#![cfg_attr(not(feature = "tiff"), doc = "[`TiffVolume`]: crate#features")]
#![cfg_attr(feature = "image", doc = "[`ImageVolume`]: crate::ImageVolume")]
#![cfg_attr(not(feature = "image"), doc = "[`ImageVolume`]: crate#features")]
#![cfg_attr(feature = "image", doc = "[`ImageOptions`]: crate::ImageOptions")]
#![cfg_attr(not(feature = "image"), doc = "[`ImageOptions`]: crate#features")]
#![cfg_attr(feature = "image", doc = "[`original`]: mod@crate::original")]
#![cfg_attr(not(feature = "image"), doc = "[`original`]: crate#features")]
#![cfg_attr(
    feature = "image",
    doc = "[`original::ImagePartition`]: crate::original::ImagePartition"
)]
#![cfg_attr(
    not(feature = "image"),
    doc = "[`original::ImagePartition`]: crate#features"
)]
#![cfg_attr(feature = "rayon", doc = "[`sink`]: mod@crate::sink")]
#![cfg_attr(not(feature = "rayon"), doc = "[`sink`]: crate#features")]
#![cfg_attr(
    feature = "rayon",
    doc = "[`Partition::par_map_cells`]: crate::Partition::par_map_cells"
)]
#![cfg_attr(
    not(feature = "rayon"),
    doc = "[`Partition::par_map_cells`]: crate#features"
)]
#![cfg_attr(feature = "rayon", doc = "[`stitch`]: mod@crate::stitch")]
#![cfg_attr(not(feature = "rayon"), doc = "[`stitch`]: crate#features")]
#![cfg_attr(feature = "fragment", doc = "[`fragment`]: mod@crate::fragment")]
#![cfg_attr(not(feature = "fragment"), doc = "[`fragment`]: crate#features")]
// docs.rs (nightly, `--cfg docsrs`): a badge on every feature-gated item,
// derived from its `#[cfg]`; stable builds never see the attribute
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::missing_errors_doc)]

pub mod chunked;
pub mod dtype;
pub mod error;
pub mod format;
pub mod grid;
pub mod io;
pub mod layout;
#[cfg(feature = "image")]
pub mod original;
pub mod output;
pub mod partition;
pub mod selection;
#[cfg(feature = "rayon")]
pub mod sink;
pub mod volume;
#[cfg(feature = "rayon")]
mod walk;

pub use chunked::{ChunkSource, WalkPlan, WalkSession};
pub use dtype::{ByteOrder, DType, Element};
pub use error::{Error, GridError, NotZeroCopyReason, Result, SelectionError};
pub use grid::{CellBox, Edge, Grid, PadMode, PerAxis, Region, Spacing};
pub use io::{CacheLimits, DecodeCache, MemoryLimits};
pub use layout::{Layout, LayoutMut, MemoryOrder};
pub use partition::{Partition, PartitionBuilder, Selected, Shard, ShardSplit};
pub use selection::{AxisIndex, IntoSelection, Selection};
#[cfg(feature = "fragment")]
pub use sink::fragment;
#[cfg(feature = "rayon")]
pub use sink::stitch;
pub use volume::{
    open, AccessHint, AnyVolume, ArrayVolume, AxisTransform, ChunkedVolume, MapAdvice, OpenOptions,
    RawOptions, RawVolume, Volume, VolumeFormat,
};
#[cfg(feature = "tiff")]
pub use volume::{GeoTiff, RasterType, TiffLevel, TiffOptions, TiffVolume};
#[cfg(feature = "image")]
pub use volume::{ImageOptions, ImageStorage, ImageVolume};
#[cfg(feature = "nifti")]
pub use volume::{NiftiHeader, NiftiOptions, NiftiVolume};
#[cfg(feature = "zarr")]
pub use volume::{OmeAxis, OmeImage, OmeLevel, ZarrOptions, ZarrVolume};
#[cfg(feature = "remote")]
pub use volume::{RemoteOptions, RemoteStats, RemoteStore};

/// The README's examples, run as doctests. They use the backends of the
/// default features, so they run when those are on.
#[cfg(all(
    doctest,
    feature = "rayon",
    feature = "nifti",
    feature = "zarr",
    feature = "image"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
