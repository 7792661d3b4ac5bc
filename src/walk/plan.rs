//! The plan of a walk: the grid axes in the volume's memory order, the
//! batches of cells, and the [`WalkPlan`] given to
//! [`Volume::begin_walk`].

use std::ops::Range;

use crate::chunked::{WalkPlan, WalkSession};
use crate::grid::CellBox;
use crate::partition::{Partition, Selected};
use crate::volume::Volume;

/// A walk's batches hold at least this many cells per rayon thread, so the
/// wait at the end of a batch is short next to the batch.
const MIN_CELLS_PER_THREAD: usize = 16;

/// A walk over a box of cells in the volume's memory order, cut into
/// batches of consecutive positions in that order.
pub(super) struct Batches<'a, V> {
    partition: &'a Partition<V>,
    cells: &'a CellBox,
    /// Grid axes from outermost to innermost in memory.
    order: Vec<usize>,
    ranges: Vec<Range<usize>>,
}

impl<'a, V: Volume> Batches<'a, V> {
    /// Plans a walk over `cells` of `partition`.
    pub(super) fn new(partition: &'a Partition<V>, cells: &'a CellBox) -> Self {
        let order = memory_order(partition);
        let ranges = batch_ranges(cells, &order);
        Batches {
            partition,
            cells,
            order,
            ranges,
        }
    }

    /// The partition walked.
    pub(super) fn partition(&self) -> &'a Partition<V> {
        self.partition
    }

    /// The batches, as ranges of positions in walk order.
    pub(super) fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// The `k`-th cell of the walk, with its C-order position in the box
    /// (where its result goes).
    pub(super) fn cell(&self, k: usize) -> (usize, Selected<'a, V>) {
        let ranges = self.cells.ranges();
        let mut index = vec![0usize; ranges.len()];
        let mut rest = k;
        for &g in self.order.iter().rev() {
            let n = ranges[g].len().max(1);
            index[g] = ranges[g].start + rest % n;
            rest /= n;
        }
        let c = self.cells.ravel(&index).unwrap_or(k);
        (c, self.partition.nth_cell(self.cells, c))
    }

    /// Hands the walk's plan (the stored regions its cells read, batch by
    /// batch) to a volume without addressable memory, which may answer
    /// with a session of its own (a chunked volume: each chunk decoded
    /// once per walk). Only the cells whose C-order position passes
    /// `include` are planned.
    pub(super) fn begin_walk(
        &self,
        include: &(dyn Fn(usize) -> bool + Sync),
    ) -> Option<Box<dyn WalkSession + 'a>> {
        let volume = self.partition.volume();
        if volume.layout().is_some() {
            return None;
        }
        let mut plan = WalkPlan::new();
        for range in &self.ranges {
            plan.push_batch(range.clone().filter_map(|k| {
                let (c, cell) = self.cell(k);
                include(c).then(|| cell.read_bounds()).flatten()
            }));
        }
        volume.begin_walk(&plan)
    }
}

/// Grid axes from outermost to innermost in the volume's memory: walks
/// vary fastest the grid axis over the volume's fastest axis, so cells
/// that follow each other are neighbours in memory (for an F-order NIfTI
/// this is the reverse of C order, and 1.9x faster to walk).
fn memory_order<V: Volume>(partition: &Partition<V>) -> Vec<usize> {
    let axes = partition.axes();
    let mut order: Vec<usize> = (0..axes.len()).collect();
    if let Some(layout) = partition.volume().layout() {
        let strides = layout.strides();
        order.sort_by_key(|&g| std::cmp::Reverse(strides[axes[g]]));
    }
    order
}

/// Splits a walk in memory order into batches of whole slabs (cells
/// sharing an index on the outermost grid axis in memory), with enough
/// cells per batch to keep every thread busy.
fn batch_ranges(cells: &CellBox, order: &[usize]) -> Vec<Range<usize>> {
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
