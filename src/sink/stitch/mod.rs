//! Stitching: per-cell results (a network's logits, a filter's output) put
//! back into one output volume, blended where cells overlap, in bounded
//! memory (feature `rayon`).
//!
//! A [`Stitcher`] is bound to a grid. It takes one cell's prediction at a
//! time ([`add`](Stitcher::add)) or a batch ([`add_batch`](Stitcher::add_batch)),
//! from any thread, in any order, as a view it does not keep, of any element
//! type, with `C` channels first: shape `(C, *cell)`. Per voxel it computes
//! `sum(w · p) / sum(w)` over the cells that cover it, with the weights of
//! a [`Blend`]; under [`Blend::Crop`] each voxel comes from one cell only.
//!
//! ```
//! use impart::grid::Grid;
//! use impart::output::{ArrayOutput, OutputVolume};
//! use impart::stitch::{Blend, ChannelAxis, OutputSink, Reduce, StitchOptions, Stitcher};
//! use ndarray::ArrayD;
//!
//! // 2 channels over a 20 x 20 image, cells of 8 x 8 at half overlap
//! let grid = Grid::builder(&[20, 20]).cell(&[8, 8]).stride(0.5).build()?;
//! let (shape, dtype) = Reduce::Argmax.output(&[20, 20], 2, ChannelAxis::First, None)?;
//! let sink = OutputSink::new(ArrayOutput::new(&shape, dtype)?, Reduce::Argmax, 2, ChannelAxis::First)?;
//! let out = {
//!     let stitcher = Stitcher::<f32>::new(&grid, 2, &StitchOptions::new(Blend::gaussian()), &sink)?;
//!     for cell in stitcher.plan() {
//!         let region = grid.cell_region(&cell)?;
//!         // a "model": channel 1 wins left of column 10
//!         let p = ArrayD::from_shape_fn(vec![2, region.shape()[0], region.shape()[1]], |i| {
//!             let col = region.start()[1] + i[2];
//!             if (i[0] == 1) == (col < 10) { 1.0f32 } else { 0.0 }
//!         });
//!         stitcher.add(&cell, p.view())?;
//!     }
//!     stitcher.finish()?;
//!     sink
//! };
//! let labels = out.into_output().into_array::<u8>()?;
//! assert_eq!(labels[[5, 9]], 1);
//! assert_eq!(labels[[5, 10]], 0);
//! # Ok::<(), impart::Error>(())
//! ```
//!
//! # Regions, the plan order and memory
//!
//! The output is cut into regions ([`Blocks`]): by default between
//! consecutive cell starts and ends, where the set of covering cells is
//! constant; for a Zarr output, its chunks. A region knows in advance which
//! cells contribute to it. Its accumulator (`C` sums per voxel, `f32` or
//! `f64`: [`Accumulator`]) is allocated when its first contribution comes
//! and, as soon as its last one is in, the region is normalized by its
//! weight sum (computed then from the grid, never stored as a volume), handed
//! to a [`RegionSink`] (an [`OutputSink`] reduces it with [`Reduce`] and
//! writes it; a closure gets the values) and freed.
//!
//! The *plan order* ([`Stitcher::plan`]) walks the grid along one axis at a
//! time, outermost first ([`Stitcher::order`]). Added in that order, the
//! regions open at once are about the overlap behind the current row of
//! cells: for a walk whose outer axis is `a`, about
//! `C · 4 bytes · (cell_a − step_a) · (product of the other extents)` plus
//! one row of cells (`C · 4 · cell_a · cell_b · (product of the extents
//! after b)`), plus the predictions in flight (threads · `C · 4 · cell
//! voxels`, and with several threads a few contributions waiting for
//! their turn). The default order puts outermost the axis whose overlap is the
//! smallest share of its extent, which makes that bound smallest;
//! [`Stitcher::planned_peak_bytes`] gives the exact peak of the
//! accumulators for the grid. [`Stitcher::run`] feeds the plan to the
//! workers of the current rayon pool in order. Other orders give the same
//! result and cost more memory (up to the whole output).
//!
//! With a scratch directory ([`StitchOptions::scratch`]) the accumulators
//! live in a sparse mapped file instead: the kernel writes them back to
//! disk under memory pressure, so the volume's size no longer bounds the
//! memory a stitch needs (what stays in memory: the predictions in flight,
//! the contributions waiting for their turn and the working buffers of the
//! few regions being finished); finished regions are punched out of the
//! file.
//!
//! # Exactly the same result, whatever the order
//!
//! Each region adds its cells' contributions in plan order: one that
//! arrives before its turn (another thread was faster, or the caller's
//! order differs) waits, as `w · p` over its overlap with the region, until
//! the ones before it are in. The weight sum is added in the same order.
//! So the output is bit-for-bit the same for any number of threads and any
//! order of [`add`](Stitcher::add) calls.
//!
//! # Resuming
//!
//! With a journal ([`StitchOptions::journal`]) every written region is
//! recorded; a resumed stitch of the same job skips those regions, and
//! [`Stitcher::needed`] says which cells still contribute to unfinished
//! ones. Every region's values depend on its own cells only, so the output
//! is byte-identical to an uninterrupted run.

mod axes;
mod journal;
mod lattice;
mod reduce;
mod scratch;
mod stitcher;
mod synthetic;
mod weights;

pub use axes::AxisCells;
pub use journal::Journal;
pub use lattice::Blocks;
pub use reduce::{ChannelAxis, OutputSink, Reduce};
pub use stitcher::{Accumulator, RegionSink, StitchOptions, StitchReport, Stitcher};
pub use synthetic::{synthetic, synthetic_into, SyntheticBuffers};
pub use weights::{Blend, CellWeights, GAUSSIAN_FLOOR};
