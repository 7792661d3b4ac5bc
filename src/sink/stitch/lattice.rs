//! The output cut into regions, and the plan order of the cells.
//!
//! Along each axis the output is cut into intervals; a region is a product
//! of intervals, one per axis. The cells that contribute to a region form a
//! box of cells (per axis a contiguous range: starts ascend and every cell
//! has the same length), so a region knows in advance how many cells it
//! waits for, and is finished once they have all been added.
//!
//! By default the intervals are the natural ones (between consecutive cell
//! starts and ends, where the set of covering cells is constant), merged up
//! to a few voxels so that a dense grid does not make a region per voxel;
//! a Zarr output asks for regular intervals (its chunks) instead.

use std::ops::Range;

use super::axes::AxisCells;
use crate::error::{Error, Result};
use crate::grid::{Grid, Region};

/// Natural intervals narrower than this are merged with their neighbours.
const MIN_INTERVAL: usize = 8;

/// One axis of the lattice.
#[derive(Debug, Clone)]
pub(super) struct LatticeAxis {
    /// Where each cell starts (may pass the end under `Edge::Pad`).
    pub(super) starts: Vec<usize>,
    /// The voxels of `0..extent` each cell contributes to (covered, or for
    /// `crop` owned).
    pub(super) contributes: Vec<Range<usize>>,
    /// Interval boundaries: `0 = b[0] < b[1] < … < b[m] = extent`.
    pub(super) bounds: Vec<usize>,
    /// Per interval, the cells that contribute to it.
    pub(super) cells: Vec<Range<usize>>,
}

impl LatticeAxis {
    /// The intervals a cell's contribution touches (for a `crop` cell that
    /// owns nothing, the interval where it sits).
    pub(super) fn intervals_of(&self, cell: usize) -> Range<usize> {
        let r = &self.contributes[cell];
        if r.is_empty() {
            let k = (self.bounds.partition_point(|&b| b <= r.start) - 1).min(self.len() - 1);
            return k..k + 1;
        }
        let lo = self.bounds.partition_point(|&b| b <= r.start) - 1;
        let hi = self.bounds.partition_point(|&b| b < r.end);
        lo..hi
    }

    /// Number of intervals.
    pub(super) fn len(&self) -> usize {
        self.bounds.len() - 1
    }
}

/// How the output is cut into regions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Blocks {
    /// Between consecutive cell starts and ends (merged to at least 8
    /// voxels): regions finish as early as the grid allows (the default).
    #[default]
    Natural,
    /// Regular blocks of this shape per grid axis (a Zarr output's chunks),
    /// so each block is finished, and written, exactly once, whole.
    Regular(Vec<usize>),
}

/// The regions of a stitch over a grid, and the plan order of its cells.
#[derive(Debug, Clone)]
pub(super) struct Lattice {
    pub(super) axes: Vec<LatticeAxis>,
    pub(super) cell: Vec<usize>,
    /// Grid axes, outermost first, in the plan order.
    pub(super) order: Vec<usize>,
    /// Regions per axis (C order of region ids).
    pub(super) shape: Vec<usize>,
}

impl Lattice {
    /// The lattice of `grid`; `crop` counts only the cells that own voxels.
    pub(super) fn new(
        grid: &Grid,
        crop: bool,
        blocks: &Blocks,
        order: Option<&[usize]>,
    ) -> Result<Lattice> {
        let nd = grid.ndim();
        let extents = grid.volume_shape().to_vec();
        let cell = grid.cell_shape().to_vec();
        if let Blocks::Regular(b) = blocks {
            if b.len() != nd || b.contains(&0) {
                return Err(Error::InvalidArgument {
                    what: "stitch blocks",
                    detail: format!("block shape {b:?} for a grid of {nd} axes"),
                });
            }
        }
        let mut axes = Vec::with_capacity(nd);
        for a in 0..nd {
            let n = grid.shape()[a];
            let mut index = vec![0usize; nd];
            let mut starts = Vec::with_capacity(n);
            let mut covered = Vec::with_capacity(n);
            for i in 0..n {
                index[a] = i;
                let r = grid.cell_region(&index)?;
                let s = r.start()[a];
                starts.push(s);
                covered.push(s.min(extents[a])..(s + r.shape()[a]).min(extents[a]));
            }
            let contributes = if crop {
                let full = AxisCells::new(
                    starts.iter().map(|&s| s as i64).collect(),
                    cell[a],
                    extents[a],
                );
                // a clipped cell owns only what it covers; a cell that owns
                // nothing sits where its neighbours' parts meet (so each
                // region's cells stay a contiguous range, and it still
                // counts, with nothing to add, for the regions there)
                let mut at = 0;
                full.owned()
                    .into_iter()
                    .zip(&covered)
                    .map(|(o, c)| {
                        let r = o.start.max(c.start)..o.end.min(c.end);
                        if r.is_empty() {
                            at..at
                        } else {
                            at = r.end;
                            r
                        }
                    })
                    .collect()
            } else {
                covered
            };
            let bounds = match blocks {
                Blocks::Natural => natural_bounds(&contributes, extents[a]),
                Blocks::Regular(b) => (0..extents[a].div_ceil(b[a]))
                    .map(|k| k * b[a])
                    .chain(std::iter::once(extents[a]))
                    .collect(),
            };
            let cells = bounds
                .windows(2)
                .map(|w| contributing(&contributes, w[0]..w[1], extents[a]))
                .collect();
            axes.push(LatticeAxis {
                starts,
                contributes,
                bounds,
                cells,
            });
        }
        let order = match order {
            Some(o) => {
                let mut sorted = o.to_vec();
                sorted.sort_unstable();
                if sorted != (0..nd).collect::<Vec<_>>() {
                    return Err(Error::InvalidArgument {
                        what: "stitch order",
                        detail: format!("{o:?} is not an order of the {nd} grid axes"),
                    });
                }
                o.to_vec()
            }
            None => best_order(grid),
        };
        let shape = axes.iter().map(LatticeAxis::len).collect();
        Ok(Lattice {
            axes,
            cell,
            order,
            shape,
        })
    }

    /// Number of regions.
    pub(super) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The N-d index of region `id` (C order).
    pub(super) fn unravel(&self, mut id: usize) -> Vec<usize> {
        let mut index = vec![0; self.shape.len()];
        for a in (0..self.shape.len()).rev() {
            index[a] = id % self.shape[a];
            id /= self.shape[a];
        }
        index
    }

    /// The id of the region at `index`.
    pub(super) fn ravel(&self, index: &[usize]) -> usize {
        index
            .iter()
            .zip(&self.shape)
            .fold(0, |acc, (&i, &n)| acc * n + i)
    }

    /// The voxels of region `index`.
    pub(super) fn region(&self, index: &[usize]) -> Region {
        let (start, shape) = self
            .axes
            .iter()
            .zip(index)
            .map(|(ax, &k)| (ax.bounds[k], ax.bounds[k + 1] - ax.bounds[k]))
            .unzip();
        Region::from_parts(start, shape)
    }

    /// The cells contributing to region `index`, per axis.
    pub(super) fn cells_of(&self, index: &[usize]) -> Vec<Range<usize>> {
        self.axes
            .iter()
            .zip(index)
            .map(|(ax, &k)| ax.cells[k].clone())
            .collect()
    }

    /// The regions a cell contributes to, per axis (empty on some axis if
    /// it contributes to none: a `crop` cell that owns nothing).
    pub(super) fn regions_of(&self, cell: &[usize]) -> Vec<Range<usize>> {
        self.axes
            .iter()
            .zip(cell)
            .map(|(ax, &i)| ax.intervals_of(i))
            .collect()
    }

    /// The position of `cell` among the cells of `box_` in plan order.
    pub(super) fn rank(&self, cell: &[usize], box_: &[Range<usize>]) -> usize {
        self.order
            .iter()
            .fold(0, |acc, &a| acc * box_[a].len() + (cell[a] - box_[a].start))
    }

    /// Every cell of a box in plan order.
    pub(super) fn plan_of(&self, box_: &[Range<usize>]) -> Vec<Vec<usize>> {
        box_in_order(box_, &self.order)
    }

    /// The voxels cell `cell` contributes to inside `region` (volume
    /// coordinates per axis; empty if none).
    pub(super) fn overlap(&self, cell: &[usize], region: &Region) -> Vec<Range<usize>> {
        self.axes
            .iter()
            .zip(cell)
            .enumerate()
            .map(|(a, (ax, &i))| {
                let c = &ax.contributes[i];
                let r = region.range(a);
                c.start.max(r.start)..c.end.min(r.end).max(c.start.max(r.start))
            })
            .collect()
    }

    /// The peak accumulator voxels (times channels) of adding every cell in
    /// plan order, one at a time: regions are allocated at their first cell
    /// and freed after their last.
    pub(super) fn planned_peak_voxels(&self) -> u128 {
        let mut remaining: Vec<u64> = (0..self.len())
            .map(|id| {
                let idx = self.unravel(id);
                self.cells_of(&idx).iter().map(|r| r.len() as u64).product()
            })
            .collect();
        let mut live: u128 = 0;
        let mut peak: u128 = 0;
        let grid_box: Vec<Range<usize>> = self.axes.iter().map(|a| 0..a.starts.len()).collect();
        for cell in self.plan_of(&grid_box) {
            let regions = self.regions_of(&cell);
            for r in self.plan_of_regions(&regions) {
                let id = self.ravel(&r);
                let region = self.region(&r);
                let cells: usize = self.cells_of(&r).iter().map(|c| c.len()).product();
                let voxels = region.voxels().unwrap_or(0) as u128;
                if remaining[id] as usize == cells {
                    live += voxels;
                    peak = peak.max(live);
                }
                remaining[id] -= 1;
                if remaining[id] == 0 {
                    live -= voxels;
                }
            }
        }
        peak
    }

    /// Every region of a box of regions (C order).
    pub(super) fn plan_of_regions(&self, box_: &[Range<usize>]) -> Vec<Vec<usize>> {
        let c_order: Vec<usize> = (0..box_.len()).collect();
        box_in_order(box_, &c_order)
    }
}

/// Every index of a box, the axes varying in `order` (the last fastest).
fn box_in_order(box_: &[Range<usize>], order: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = box_.iter().map(|r| r.len()).product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let mut index: Vec<usize> = box_.iter().map(|r| r.start).collect();
    loop {
        out.push(index.clone());
        let mut k = order.len();
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            let a = order[k];
            index[a] += 1;
            if index[a] < box_[a].end {
                break;
            }
            index[a] = box_[a].start;
        }
    }
}

/// Boundaries between consecutive cell starts and ends, merged so that no
/// interval is narrower than [`MIN_INTERVAL`] (unless the axis is).
fn natural_bounds(contributes: &[Range<usize>], extent: usize) -> Vec<usize> {
    let mut points: Vec<usize> = contributes
        .iter()
        .flat_map(|r| [r.start, r.end])
        .chain([0, extent])
        .filter(|&p| p <= extent)
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut bounds = vec![0];
    for &p in &points[1..] {
        let last = bounds[bounds.len() - 1];
        if p - last >= MIN_INTERVAL || p == extent {
            bounds.push(p);
        }
    }
    // a narrow last interval joins the one before it
    let m = bounds.len();
    if m > 2 && bounds[m - 1] - bounds[m - 2] < MIN_INTERVAL {
        bounds.remove(m - 2);
    }
    bounds
}

/// The cells whose contribution meets `interval`, or that own nothing and
/// sit in it (contiguous: both ends of the contributions ascend).
fn contributing(
    contributes: &[Range<usize>],
    interval: Range<usize>,
    extent: usize,
) -> Range<usize> {
    // both predicates are monotone along the cells (their parts ascend), so
    // the cells that meet the interval are found by two binary searches
    let before = |r: &Range<usize>| {
        if r.is_empty() {
            r.start < interval.start
        } else {
            r.end <= interval.start
        }
    };
    let after = |r: &Range<usize>| {
        if r.is_empty() {
            r.start >= interval.end && !(r.start == extent && interval.end == extent)
        } else {
            r.start >= interval.end
        }
    };
    let lo = contributes.partition_point(before);
    let hi = contributes.partition_point(|r| !after(r));
    lo..hi.max(lo)
}

/// Grid axes ordered for the smallest accumulator: the outer axis is the
/// one whose overlap is the smallest share of its extent (`(cell - step) /
/// extent`), since about `(cell - step) · (the other extents)` voxels stay
/// unfinished behind a walk along it (none for an axis of one cell); ties
/// keep the lower axis first.
fn best_order(grid: &Grid) -> Vec<usize> {
    let mut order: Vec<usize> = (0..grid.ndim()).collect();
    let share = |a: usize| {
        if grid.shape()[a] == 1 {
            return 0.0;
        }
        let overlap = (grid.cell_shape()[a] as f64 - grid.step()[a]).max(0.0);
        overlap / grid.volume_shape()[a] as f64
    };
    order.sort_by(|&a, &b| share(a).total_cmp(&share(b)).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Edge;

    #[test]
    fn half_overlap_intervals_follow_the_steps() {
        let grid = Grid::builder(&[40, 20])
            .cell(&[16, 20])
            .stride(0.5)
            .build()
            .unwrap();
        let l = Lattice::new(&grid, false, &Blocks::Natural, None).unwrap();
        assert_eq!(l.axes[0].bounds, vec![0, 8, 16, 24, 32, 40]);
        assert_eq!(l.axes[0].cells[0], 0..1);
        assert_eq!(l.axes[0].cells[1], 0..2);
        assert_eq!(l.axes[1].bounds, vec![0, 20]);
        // cell 1 starts at 8: intervals 1 and 2
        assert_eq!(l.axes[0].intervals_of(1), 1..3);
        // axis 1 has no overlap: it is outermost
        assert_eq!(l.order, vec![1, 0]);
    }

    #[test]
    fn ranks_follow_the_plan_order() {
        let grid = Grid::builder(&[32, 32])
            .cell(&[16, 16])
            .stride(0.5)
            .build()
            .unwrap();
        let l = Lattice::new(&grid, false, &Blocks::Natural, Some(&[1, 0])).unwrap();
        let b = vec![1..3, 2..4];
        let plan = l.plan_of(&b);
        assert_eq!(plan, vec![vec![1, 2], vec![2, 2], vec![1, 3], vec![2, 3]]);
        for (k, c) in plan.iter().enumerate() {
            assert_eq!(l.rank(c, &b), k);
        }
    }

    #[test]
    fn the_planned_peak_is_the_overlap_slab_plus_a_row() {
        // 64 x 64, cells 16 with step 8: outer axis 0
        let grid = Grid::builder(&[64, 64])
            .cell(&[16, 16])
            .stride(0.5)
            .build()
            .unwrap();
        let l = Lattice::new(&grid, false, &Blocks::Natural, None).unwrap();
        let peak = l.planned_peak_voxels();
        // at least (cell - step) x extent, at most a cell's rows
        assert!(peak >= 8 * 64, "{peak}");
        assert!(peak <= 16 * 64 + 8 * 16, "{peak}");
    }

    #[test]
    fn regular_blocks_and_pad_cells() {
        let grid = Grid::builder(&[30])
            .cell(&[16])
            .edge(Edge::Pad(Default::default()))
            .build()
            .unwrap();
        let l = Lattice::new(&grid, false, &Blocks::Regular(vec![8]), None).unwrap();
        assert_eq!(l.axes[0].bounds, vec![0, 8, 16, 24, 30]);
        assert_eq!(l.axes[0].contributes, vec![0..16, 16..30]);
        assert_eq!(l.axes[0].cells[3], 1..2);
    }
}
