//! Parallel walks over cells with rayon.

use ndarray::ArrayViewD;
use rayon::prelude::*;

use super::{Partition, Selected};
use crate::dtype::Element;
use crate::error::Result;
use crate::grid::CellBox;
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
        let _walk = Walk::new(self, &cells);
        let order = self.memory_order();
        let mut out: Vec<(usize, R)> = (0..cells.len())
            .into_par_iter()
            .map_init(Vec::<U>::new, |buf, k| {
                let (c, cell) = self.cell_in_order(&cells, &order, k);
                let view = cell.read_into_vec(buf)?;
                Ok((c, f(&cell, view)))
            })
            .collect::<Result<_>>()?;
        out.sort_unstable_by_key(|(c, _)| *c);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// Like [`par_map_cells`](Self::par_map_cells) without results.
    pub fn par_for_each_cell<U, F>(&self, selection: impl IntoSelection, f: F) -> Result<()>
    where
        U: Element,
        F: Fn(&Selected<'_, V>, ArrayViewD<'_, U>) + Sync + Send,
    {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
        let _walk = Walk::new(self, &cells);
        let order = self.memory_order();
        (0..cells.len())
            .into_par_iter()
            .map_init(Vec::<U>::new, |buf, k| {
                let (_, cell) = self.cell_in_order(&cells, &order, k);
                let view = cell.read_into_vec(buf)?;
                f(&cell, view);
                Ok(())
            })
            .collect()
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

/// Announces a walk to the volume for its lifetime (backends without
/// addressable memory use it to decode each chunk once).
struct Walk<'p, V: Volume> {
    volume: Option<&'p V>,
}

impl<'p, V: Volume> Walk<'p, V> {
    fn new(part: &'p Partition<V>, cells: &CellBox) -> Self {
        if part.volume().layout().is_some() {
            return Walk { volume: None };
        }
        let regions: Vec<_> = (0..cells.len())
            .filter_map(|k| part.nth_cell(cells, k).read_bounds())
            .collect();
        part.volume().prepare_walk(&mut regions.into_iter());
        Walk {
            volume: Some(part.volume()),
        }
    }
}

impl<V: Volume> Drop for Walk<'_, V> {
    fn drop(&mut self) {
        if let Some(v) = self.volume {
            v.finish_walk();
        }
    }
}
