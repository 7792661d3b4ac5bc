//! What a walk feeds (layer 12), behind one trait: a [`CellSink`] is told
//! the selection first (and answers which cells it still needs), then gets
//! each cell from the walk's workers, then finishes; [`feed`] drives a
//! parallel walk into it. [`fragment`] (feature `fragment`) is one sink:
//! every cell to its own file, resumable, with a manifest. [`stitch`] puts
//! per-cell results back into one output volume: blended, reduced region by
//! region as each is final, in bounded memory, resumable.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use impart::sink::{feed, CellSink};
//! use impart::{ArrayVolume, CellBox, Partition, Selected, Volume};
//! use ndarray::Array2;
//!
//! /// Sums every cell's voxels.
//! struct Sum(AtomicU64);
//!
//! impl<V: Volume> CellSink<V> for Sum {
//!     type Element = u8;
//!     fn begin(&self, cells: &CellBox) -> impart::Result<Vec<bool>> {
//!         Ok(vec![true; cells.len()])
//!     }
//!     fn cell(&self, cell: &Selected<'_, V>, buf: &mut Vec<u8>) -> impart::Result<()> {
//!         let view = cell.read_into_vec(buf)?;
//!         self.0.fetch_add(view.iter().map(|&v| v as u64).sum(), Ordering::Relaxed);
//!         Ok(())
//!     }
//!     fn finish(&self) -> impart::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! let data = Array2::<u8>::ones((64, 64));
//! let part = Partition::builder(ArrayVolume::new(data.view())?).cell(&[16, 16]).build()?;
//! let sum = Sum(AtomicU64::new(0));
//! feed(&part, "...", &sum)?;
//! assert_eq!(sum.0.into_inner(), 64 * 64);
//! # Ok::<(), impart::Error>(())
//! ```
//!
#![cfg_attr(feature = "fragment", doc = "[`fragment`]: mod@fragment")]
#![cfg_attr(not(feature = "fragment"), doc = "[`fragment`]: crate#features")]

#[cfg(feature = "fragment")]
pub mod fragment;
pub mod stitch;

use crate::dtype::Element;
use crate::error::Result;
use crate::grid::CellBox;
use crate::partition::{Partition, Selected};
use crate::selection::IntoSelection;
use crate::volume::Volume;

/// The consumer of a walk over cells: see the [module docs](self).
pub trait CellSink<V: Volume>: Sync {
    /// The element type cells are materialized as.
    type Element: Element;

    /// Before the walk, with the selected cells: whether to visit each one
    /// (by its C-order position in `cells`), for example `false` for cells a
    /// resumed run already finished.
    ///
    /// # Errors
    ///
    /// Whatever stops the run before it starts.
    fn begin(&self, cells: &CellBox) -> Result<Vec<bool>>;

    /// One cell, from a worker thread, in the walk's order (not C order);
    /// `buf` is a buffer reused from cell to cell within the worker.
    ///
    /// # Errors
    ///
    /// An error stops the walk (cells in flight finish) and is returned by
    /// [`feed`]; [`finish`](Self::finish) is not called.
    fn cell(&self, cell: &Selected<'_, V>, buf: &mut Vec<Self::Element>) -> Result<()>;

    /// After every visited cell.
    ///
    /// # Errors
    ///
    /// The sink's own (writing what goes last).
    fn finish(&self) -> Result<()>;
}

/// Walks the cells of `selection` in parallel (the walk of
/// [`Partition::par_map_cells`]) and feeds them to `sink`.
///
/// # Errors
///
/// A selection error, or the first error of the sink or of a read; after
/// the last cell, [`Error::Changed`](crate::Error::Changed) if a file of
/// the volume changed while it was open
/// ([`Volume::check_unchanged`]), and then the sink's
/// [`finish`](CellSink::finish) is not called.
pub fn feed<V: Volume, S: CellSink<V>>(
    part: &Partition<V>,
    selection: impl IntoSelection,
    sink: &S,
) -> Result<()> {
    let cells = selection.into_selection()?.resolve(part.grid().shape())?;
    let visit = sink.begin(&cells)?;
    part.walk::<S::Element, _, _>(
        &cells,
        &|k| visit.get(k).copied().unwrap_or(false),
        |cell, buf| sink.cell(cell, buf),
    )?;
    sink.finish()
}
