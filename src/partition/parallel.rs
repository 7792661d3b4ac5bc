//! Parallel walks over cells with rayon.

use ndarray::ArrayViewD;
use rayon::prelude::*;

use super::{Partition, Selected};
use crate::chunked::{WalkPlan, WalkSession};
use crate::dtype::Element;
use crate::error::Result;
use crate::grid::CellBox;
use crate::selection::IntoSelection;
use crate::volume::{AccessHint, Layout, Volume};

/// A walk's batches hold at least this many cells per rayon thread, so the
/// wait at the end of a batch is short next to the batch.
const MIN_CELLS_PER_THREAD: usize = 16;

/// The bytes of `layout` that `region` touches, first to last.
fn byte_span(layout: &Layout<'_>, region: &crate::grid::Region) -> Option<std::ops::Range<usize>> {
    let size = layout.dtype().size();
    let mut lo = 0usize;
    let mut hi = 0usize;
    for ((&s, &n), &st) in region
        .start()
        .iter()
        .zip(region.shape())
        .zip(layout.strides())
    {
        lo = lo.checked_add(s.checked_mul(st)?)?;
        hi = hi.checked_add((s + n.checked_sub(1)?).checked_mul(st)?)?;
    }
    Some(lo * size..(hi + 1) * size)
}

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
    pub fn par_cells(
        &self,
        selection: impl IntoSelection,
    ) -> Result<impl IndexedParallelIterator<Item = Selected<'_, V>> + '_> {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
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
    pub fn par_map_cells<U, R, F>(&self, selection: impl IntoSelection, f: F) -> Result<Vec<R>>
    where
        U: Element,
        R: Send,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) -> R + Sync + Send,
    {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
        let mut out = self.walk::<U, _, _>(&cells, &|_| true, |cell, buf| {
            let view = cell.read_into_vec(buf)?;
            Ok(f(cell, view))
        })?;
        out.sort_unstable_by_key(|(c, _)| *c);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// The parallel walk under every `par_*_cells` method and fragmentation:
    /// the cells of `cells` whose C-order position passes `include`, visited
    /// in memory order in batches (see [`batches`](Self::batches)), each
    /// handed to `f` with a buffer reused within its rayon job. Returns the
    /// results with their C-order positions, in walk order.
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
        let order = self.memory_order();
        let ranges = self.batch_ranges(cells, &order);
        let session = self.begin_walk(cells, &order, &ranges, include);
        let session = session.as_deref();
        let mut out = Vec::with_capacity(cells.len());
        for (b, batch) in self.hinted(cells, &order, ranges).enumerate() {
            if let Some(s) = session {
                s.batch_started(b);
            }
            out.extend(
                batch
                    .into_par_iter()
                    .filter_map(|k| {
                        let (c, cell) = self.cell_in_order(cells, &order, k);
                        include(c).then(|| (c, cell.in_session(session)))
                    })
                    .map_init(Vec::<U>::new, |buf, (c, cell)| Ok((c, f(&cell, buf)?)))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        Ok(out)
    }

    /// Hands the walk's plan (the stored regions its cells read, batch by
    /// batch) to a volume without addressable memory, which may answer
    /// with a session of its own (a chunked volume: each chunk decoded
    /// once per walk).
    fn begin_walk(
        &self,
        cells: &CellBox,
        order: &[usize],
        ranges: &[std::ops::Range<usize>],
        include: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Box<dyn WalkSession + '_>> {
        if self.volume().layout().is_some() {
            return None;
        }
        let mut plan = WalkPlan::new();
        for range in ranges {
            plan.push_batch(range.clone().filter_map(|k| {
                let (c, cell) = self.cell_in_order(cells, order, k);
                include(c).then(|| cell.read_bounds()).flatten()
            }));
        }
        self.volume().begin_walk(&plan)
    }

    /// Like [`par_map_cells`](Self::par_map_cells) without results.
    pub fn par_for_each_cell<U, F>(&self, selection: impl IntoSelection, f: F) -> Result<()>
    where
        U: Element,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) + Sync + Send,
    {
        self.par_map_cells(selection, f).map(|_| ())
    }

    /// Splits a walk in memory order into batches of whole slabs (cells
    /// sharing an index on the outermost grid axis in memory), with enough
    /// cells per batch to keep every thread busy.
    fn batch_ranges(&self, cells: &CellBox, order: &[usize]) -> Vec<std::ops::Range<usize>> {
        let n = cells.len();
        let slabs = order.first().map_or(1, |&g| cells.ranges()[g].len().max(1));
        let per_slab = (n / slabs).max(1);
        let wanted = MIN_CELLS_PER_THREAD * rayon::current_num_threads();
        let per_batch = per_slab * wanted.div_ceil(per_slab).max(1);
        (0..n)
            .step_by(per_batch)
            .map(|s| s..(s + per_batch).min(n))
            .collect()
    }

    /// The batches of a walk, in order; for a volume with a layout the
    /// iterator tells it, through [`Volume::hint`], which bytes the next
    /// batch reads before this one starts, and which bytes no later batch
    /// reads once this one is done.
    fn hinted<'a>(
        &'a self,
        cells: &'a CellBox,
        order: &'a [usize],
        ranges: Vec<std::ops::Range<usize>>,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let layout = self.volume.layout();
        let span = move |range: &std::ops::Range<usize>| -> Option<std::ops::Range<usize>> {
            let layout = layout.as_ref()?;
            let first = self
                .cell_in_order(cells, order, range.start)
                .1
                .read_bounds()?;
            let last = self
                .cell_in_order(cells, order, range.end.checked_sub(1)?)
                .1
                .read_bounds()?;
            let (a, b) = (byte_span(layout, &first)?, byte_span(layout, &last)?);
            Some(a.start.min(b.start)..a.end.max(b.end))
        };
        let spans: Vec<_> = ranges.iter().map(span).collect();
        if let Some(Some(s)) = spans.first() {
            self.volume.hint(AccessHint::WillNeed(s.clone()));
        }
        let mut released = 0usize;
        let mut b = 0usize;
        std::iter::from_fn(move || {
            // after batch b-1: release what no later batch reads
            if b > 0 {
                let next = spans.get(b).cloned().flatten();
                let upto = match (&next, &spans[b - 1]) {
                    (Some(next), _) => next.start,
                    (None, Some(prev)) if b == spans.len() => prev.end,
                    _ => released,
                };
                if upto > released {
                    self.volume.hint(AccessHint::DontNeed(released..upto));
                    released = upto;
                }
            }
            let range = ranges.get(b)?.clone();
            if let Some(Some(ahead)) = spans.get(b + 1) {
                self.volume.hint(AccessHint::WillNeed(ahead.clone()));
            }
            b += 1;
            Some(range)
        })
    }

    /// Grid axes from outermost to innermost in the volume's memory: walks
    /// vary fastest the grid axis over the volume's fastest axis, so cells
    /// that follow each other are neighbours in memory (for an F-order NIfTI
    /// this is the reverse of C order, and 1.9x faster to walk).
    fn memory_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.axes.len()).collect();
        if let Some(layout) = self.volume.layout() {
            let strides = layout.strides();
            order.sort_by_key(|&g| std::cmp::Reverse(strides[self.axes[g]]));
        }
        order
    }

    /// The `k`-th cell of a walk in `order`, with its C-order position in
    /// the box (where its result goes).
    fn cell_in_order(
        &self,
        cells: &CellBox,
        order: &[usize],
        k: usize,
    ) -> (usize, Selected<'_, V>) {
        let ranges = cells.ranges();
        let mut index = vec![0usize; ranges.len()];
        let mut rest = k;
        for &g in order.iter().rev() {
            let n = ranges[g].len().max(1);
            index[g] = ranges[g].start + rest % n;
            rest /= n;
        }
        let c = cells.ravel(&index).unwrap_or(k);
        (c, self.nth_cell(cells, c))
    }
}
