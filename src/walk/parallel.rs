//! The rayon adapter: a partition's cells as a parallel iterator, and the
//! batched walk under the `par_*_cells` methods and fragmentation.

use ndarray::ArrayViewD;
use rayon::prelude::*;

use super::hints::hinted;
use super::plan::Batches;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::grid::CellBox;
use crate::partition::{Partition, Selected};
use crate::selection::IntoSelection;
use crate::volume::Volume;

impl<V: Volume> Partition<V> {
    /// The single cells of a selection as a rayon parallel iterator, each a
    /// lazy [`Selected`] to view or materialize in the worker.
    ///
    /// ```
    /// use impart::{ArrayVolume, Partition};
    /// use ndarray::Array3;
    /// use rayon::prelude::*;
    ///
    /// let data = Array3::<u8>::ones((64, 64, 64));
    /// let part = Partition::builder(ArrayVolume::new(data.view())?).cell(&[16, 16, 16]).build()?;
    /// let total: u64 = part
    ///     .par_cells("...")?
    ///     .map(|cell| cell.view::<u8>().map(|v| v.iter().map(|&x| x as u64).sum::<u64>()))
    ///     .sum::<Result<u64, _>>()?;
    /// assert_eq!(total, 64 * 64 * 64);
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Selection`](crate::Error::Selection) if the selection does
    /// not parse or resolve against the grid. Each cell's view or
    /// materialization has its own errors.
    pub fn par_cells(
        &self,
        selection: impl IntoSelection,
    ) -> Result<impl IndexedParallelIterator<Item = Selected<'_, V>> + '_> {
        let cells = selection.into_selection()?.resolve(self.grid().shape())?;
        let n = cells.len();
        Ok((0..n)
            .into_par_iter()
            .map(move |k| self.nth_cell(&cells, k)))
    }

    /// Materializes every cell of a selection in parallel as `U` and maps
    /// it with `f`, returning the results in C order of the cells (the walk
    /// itself follows the volume's memory order).
    ///
    /// Voxel buffers are reused from cell to cell within each rayon job
    /// (`map_init`), so cells are not allocated one by one (only a few small
    /// index vectors are); `f` sees the cell and a view of its voxels that
    /// lives until `f` returns.
    ///
    /// # Iterating the view: memory order
    ///
    /// The view is contiguous and has the volume's memory order: C for raw
    /// C-order files, memory arrays in C order, Zarr and images; **F for
    /// NIfTI** (x fastest) and F-order raw files. `v.iter()` visits elements
    /// in logical (C) order, so on an F-order view it strides through memory
    /// at every step: in one run (64³ u16 cells of a 256³ F-order volume, one
    /// thread) an `iter()` sum took about 55 ms against 6 ms for the same sum
    /// in memory order, the walk's copy included. For a reduction that does
    /// not depend on the order (sum, min, max, histogram), read memory order:
    /// `v.as_slice_memory_order()` (always `Some` for this view) as a plain
    /// slice, or `v.fold(..)`, `v.sum()` and `ndarray::Zip`, which follow
    /// memory order by themselves. Use `iter()` (or `indexed_iter()`) only
    /// where the position of an element matters. The same holds for
    /// [`par_for_each_cell`](Self::par_for_each_cell) and for views from
    /// [`par_cells`](Self::par_cells).
    ///
    /// ```
    /// use impart::{ArrayVolume, Partition};
    /// use ndarray::{Array3, ShapeBuilder};
    ///
    /// // F order, as a NIfTI volume is mapped
    /// let data = Array3::<u16>::from_shape_fn((64, 64, 64).f(), |(x, y, z)| (x + y + z) as u16);
    /// let part = Partition::builder(ArrayVolume::new(data.view())?)
    ///     .cell(&[32, 32, 32])
    ///     .build()?;
    /// let sums = part.par_map_cells::<u16, _, _>("...", |_, v| {
    ///     // front to back through the cell's buffer (not `v.iter()`: strided)
    ///     let voxels = v.as_slice_memory_order().expect("a cell's buffer is contiguous");
    ///     voxels.iter().map(|&x| u64::from(x)).sum::<u64>()
    /// })?;
    /// // `fold` follows memory order too
    /// let maxima = part.par_map_cells::<u16, _, _>("...", |_, v| v.fold(0, |m, &x| m.max(x)))?;
    /// assert_eq!(sums.iter().sum::<u64>(), data.iter().map(|&x| u64::from(x)).sum::<u64>());
    /// assert_eq!(maxima[7], 189); // the last cell (C order of the grid), voxel (63, 63, 63)
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Selection`](crate::Error::Selection) if the selection does
    /// not parse or resolve against the grid; otherwise the first error of
    /// a cell's materialization, as
    /// [`read_into_vec`](Selected::read_into_vec) (the walk stops; cells in
    /// flight finish); after the last cell,
    /// [`Error::Changed`](crate::Error::Changed) if a file of the volume
    /// changed while it was open (see
    /// [`Volume::check_unchanged`], called once per walk: one `stat` per
    /// file).
    pub fn par_map_cells<U, R, F>(&self, selection: impl IntoSelection, f: F) -> Result<Vec<R>>
    where
        U: Element,
        R: Send,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) -> R + Sync + Send,
    {
        self.par_map_cells_where(selection, |_| true, f)
    }

    /// [`par_map_cells`](Self::par_map_cells) over the cells of `shard`
    /// only ([`shard_split`](Self::shard_split) of the selection): the
    /// results of those cells, in C order. One worker of a job split
    /// `shard.count()` ways runs this with its own `shard`.
    ///
    /// ```
    /// use impart::{ArrayVolume, Partition, Shard};
    /// use ndarray::Array2;
    ///
    /// let data = Array2::<u8>::ones((64, 64));
    /// let part = Partition::builder(ArrayVolume::new(data.view())?).cell(&[16, 16]).build()?;
    /// let mut total = 0;
    /// for k in 0..3 {
    ///     let sums = part.par_map_shard_cells::<u8, _, _>("...", Shard::new(k, 3)?, |_, v| v.len())?;
    ///     total += sums.iter().sum::<usize>();
    /// }
    /// assert_eq!(total, 64 * 64);
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`par_map_cells`](Self::par_map_cells) and
    /// [`shard_split`](Self::shard_split).
    pub fn par_map_shard_cells<U, R, F>(
        &self,
        selection: impl IntoSelection,
        shard: crate::Shard,
        f: F,
    ) -> Result<Vec<R>>
    where
        U: Element,
        R: Send,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) -> R + Sync + Send,
    {
        let cells = selection.into_selection()?.resolve(self.grid().shape())?;
        let split = if shard.count() > 1 {
            Some(self.shard_split(&cells, shard.count())?)
        } else {
            None
        };
        self.par_map_cells_where(
            &cells,
            |c| split.as_ref().is_none_or(|s| s.owner(c) == shard.index()),
            f,
        )
    }

    /// [`par_map_cells`](Self::par_map_cells) over the cells of the
    /// selection whose C-order position `c` in it passes `include(c)`
    /// (the cells a scheduler of your own gave this worker): one walk,
    /// each chunk they share decoded once; their results in C order.
    ///
    /// # Errors
    ///
    /// As [`par_map_cells`](Self::par_map_cells).
    pub fn par_map_cells_where<U, R, F, I>(
        &self,
        selection: impl IntoSelection,
        include: I,
        f: F,
    ) -> Result<Vec<R>>
    where
        U: Element,
        R: Send,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) -> R + Sync + Send,
        I: Fn(usize) -> bool + Sync,
    {
        let cells = selection.into_selection()?.resolve(self.grid().shape())?;
        let mut out = self.walk::<U, _, _>(&cells, &include, |cell, buf| {
            let view = cell.read_into_vec(buf)?;
            Ok(f(cell, view))
        })?;
        out.sort_unstable_by_key(|(c, _)| *c);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// Like [`par_map_cells`](Self::par_map_cells) without results.
    ///
    /// # Errors
    ///
    /// As [`par_map_cells`](Self::par_map_cells).
    pub fn par_for_each_cell<U, F>(&self, selection: impl IntoSelection, f: F) -> Result<()>
    where
        U: Element,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) + Sync + Send,
    {
        self.par_map_cells(selection, f).map(|_| ())
    }

    /// The parallel walk under every `par_*_cells` method and fragmentation:
    /// the cells of `cells` whose C-order position passes `include`, visited
    /// in memory order in batches (see `walk::plan`), each handed to `f`
    /// with a buffer reused within its rayon job. Returns the results with
    /// their C-order positions, in walk order, once the volume's files are
    /// found unchanged ([`Volume::check_unchanged`]).
    pub(crate) fn walk<U, R, F>(
        &self,
        cells: &CellBox,
        include: &(dyn Fn(usize) -> bool + Sync),
        f: F,
    ) -> Result<Vec<(usize, R)>>
    where
        U: Element,
        R: Send,
        F: Fn(&Selected<'_, V>, &mut Vec<U>) -> Result<R> + Sync + Send,
    {
        // the results' room first: a grid of 10^18 cells is an error here,
        // not an abort in the planning below
        let mut out = Vec::new();
        out.try_reserve_exact(cells.len())
            .map_err(|_| Error::TooManyCells {
                volume: self.volume().name().to_string(),
                cells: cells.len(),
            })?;
        let plan = Batches::new(self, cells);
        let session = plan.begin_walk(include);
        let session = session.as_deref();
        for (b, batch) in hinted(&plan).enumerate() {
            if let Some(s) = session {
                s.batch_started(b);
            }
            out.extend(
                batch
                    .into_par_iter()
                    .filter_map(|k| {
                        let (c, cell) = plan.cell(k);
                        include(c).then(|| (c, cell.in_session(session)))
                    })
                    .map_init(Vec::<U>::new, |buf, (c, cell)| Ok((c, f(&cell, buf)?)))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        // results read from a file that changed under the walk may mix
        // its two versions: an error, not a silent success
        self.volume().check_unchanged()?;
        Ok(out)
    }
}
