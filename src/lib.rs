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
//! ## The map of the crate
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
//!    order, and the copy engine: gather into a caller's buffer, scatter
//!    into a writable layout.
//! 6. [`io`]: atomic writes under one temporary-name policy, the decode
//!    cache, [`MemoryLimits`] (every memory budget).
//! 7. [`format`](mod@format): what readers and writers share — NIfTI headers and the
//!    datatype table, Zarr data type names.
//! 8. [`chunked`]: sources that come in decoded chunks ([`ChunkSource`]),
//!    the chunk cache, a walk's [`WalkPlan`] and [`WalkSession`].
//! 9. [`volume`]: the input backends behind [`Volume`] — raw (mapped or
//!    read), in-memory, NIfTI, images, Zarr, and [`ChunkedVolume`] over any
//!    chunk source (each chunk decoded once per walk, one cache per walk) —
//!    and [`open`], which opens a path whatever its format ([`OpenOptions`],
//!    [`AnyVolume`]).
//! 10. [`output`]: the mirror of `volume` — [`output::OutputVolume`] with
//!     raw, NIfTI and Zarr outputs.
//! 11. [`partition`]: a grid bound to a volume — lazy selections, zero-copy
//!     views, materialization (owned, cast, into a caller's buffer), world
//!     coordinates.
//! 12. `walk` (feature `rayon`): parallel walks over a partition's cells —
//!     memory-order batches, madvise hints for mapped files, the rayon
//!     adapter behind `Partition::par_cells` and its siblings.
//! 13. `sink` (feature `rayon`): what a walk feeds, behind one trait
//!     (`sink::CellSink`); `fragment` (every cell to its own file,
//!     resumable) is one sink.
//! 14. `original` (feature `image`): the original Python impart's 2D API
//!     over the same partition.
//!
//! The `impart` program (`src/cli/`) uses only this public API.
//!
//! ## Features
//!
//! - `rayon` (default): parallel iteration over cells.
//! - `nifti` (default): NIfTI-1/NIfTI-2 volumes.
//! - `image` (default): PNG, TIFF and JPEG images, and the original's 2D
//!   API ([`original::ImagePartition`]).
//! - `zarr` (default): Zarr v2/v3 arrays through `zarrs` (chunked, compressed,
//!   sharded).
//! - `fragment` (default): writing every cell to its own file with a
//!   manifest ([`fragment`]).
//! - `cli` (default): the `impart` command-line program.

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
pub use io::MemoryLimits;
pub use layout::{Layout, LayoutMut, MemoryOrder};
pub use partition::{Partition, PartitionBuilder, Selected};
pub use selection::{AxisIndex, IntoSelection, Selection};
#[cfg(feature = "fragment")]
pub use sink::fragment;
#[cfg(feature = "image")]
pub use volume::ImageVolume;
pub use volume::{
    open, AccessHint, AnyVolume, ArrayVolume, ChunkedVolume, MapAdvice, OpenOptions, RawOptions,
    RawVolume, Volume, VolumeFormat,
};
#[cfg(feature = "nifti")]
pub use volume::{NiftiHeader, NiftiOptions, NiftiVolume};
#[cfg(feature = "zarr")]
pub use volume::{ZarrOptions, ZarrVolume};

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
