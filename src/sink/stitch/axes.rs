//! The grid along one axis, as stitching needs it: where each cell starts,
//! which cells cover a voxel, and (for `crop`) which voxels each cell owns.

use std::ops::Range;

/// The cells of a grid along one axis: cell `i` covers voxels
/// `starts[i] .. starts[i] + cell` (a start may be negative, or the end
/// past the volume, under `Edge::Pad`; what lies outside `0..extent` is
/// dropped when written back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxisCells {
    starts: Vec<i64>,
    cell: usize,
    extent: usize,
}

impl AxisCells {
    /// Cells of `cell` voxels starting at `starts` (ascending) over an axis
    /// of `extent` voxels.
    pub fn new(starts: Vec<i64>, cell: usize, extent: usize) -> AxisCells {
        AxisCells {
            starts,
            cell,
            extent,
        }
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The cells that cover voxel `v` (a range: starts ascend and every cell
    /// has the same length).
    pub fn covering(&self, v: usize) -> Range<usize> {
        let v = v as i64;
        let n = self.cell as i64;
        // first cell whose end is past v, first cell whose start is past v
        let lo = self.starts.partition_point(|&s| s + n <= v);
        let hi = self.starts.partition_point(|&s| s <= v);
        lo..hi.max(lo)
    }

    /// `crop`: the voxels of `0..extent` each cell owns, the cells whose
    /// exact centre (`start + (cell - 1) / 2`) is nearest, ties to the lower
    /// cell; every voxel covered by some cell is owned by exactly one.
    pub fn owned(&self) -> Vec<Range<usize>> {
        let mut owned = vec![0..0; self.len()];
        let mut v = 0;
        while v < self.extent {
            let covering = self.covering(v);
            if covering.is_empty() {
                v += 1;
                continue;
            }
            // twice the distance to a centre, in integers: |2v - (2s + n - 1)|
            let twice = |i: usize| {
                (2 * v as i64 - (2 * self.starts[i] + self.cell as i64 - 1)).unsigned_abs()
            };
            let best = covering
                .clone()
                .min_by_key(|&i| (twice(i), i))
                .unwrap_or(covering.start);
            let r = &mut owned[best];
            if r.start == r.end {
                *r = v..v + 1;
            } else {
                r.end = v + 1;
            }
            v += 1;
        }
        owned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_half_overlap_grid_splits_the_overlaps_at_the_middle() {
        // 4 cells of 8, step 4, over 20 voxels: starts 0, 4, 8, 12
        let a = AxisCells::new(vec![0, 4, 8, 12], 8, 20);
        assert_eq!(a.covering(0), 0..1);
        assert_eq!(a.covering(5), 0..2);
        assert_eq!(a.covering(19), 3..4);
        // centres 3.5, 7.5, 11.5, 15.5: voxel 5 is 1.5 from cell 0 and 2.5 from cell 1
        assert_eq!(a.owned(), vec![0..6, 6..10, 10..14, 14..20]);
    }

    #[test]
    fn ties_go_to_the_lower_cell() {
        // cells of 3 at 0 and 2: centres 1 and 3, voxel 2 is 1 from both
        let a = AxisCells::new(vec![0, 2], 3, 5);
        assert_eq!(a.owned(), vec![0..3, 3..5]);
    }

    #[test]
    fn padded_cells_own_only_what_is_inside() {
        // cells of 4 at -2 and 2: voxels 0 and 1 only in the first
        let a = AxisCells::new(vec![-2, 2], 4, 5);
        assert_eq!(a.covering(0), 0..1);
        assert_eq!(a.owned(), vec![0..2, 2..5]);
    }

    proptest! {
        #[test]
        fn every_covered_voxel_is_owned_once_by_a_covering_nearest_cell(
            cell in 1usize..12,
            step in 1usize..12,
            count in 1usize..8,
            shift in -3i64..3,
        ) {
            let starts: Vec<i64> = (0..count).map(|i| shift + (i * step) as i64).collect();
            let extent = (starts[count - 1] + cell as i64).max(1) as usize;
            let a = AxisCells::new(starts.clone(), cell, extent);
            let owned = a.owned();
            for v in 0..extent {
                let covering: Vec<usize> = (0..count)
                    .filter(|&i| starts[i] <= v as i64 && (v as i64) < starts[i] + cell as i64)
                    .collect();
                prop_assert_eq!(a.covering(v), match (covering.first(), covering.last()) {
                    (Some(&f), Some(&l)) => f..l + 1,
                    _ => a.covering(v),
                });
                let owners: Vec<usize> = (0..count).filter(|&i| owned[i].contains(&v)).collect();
                if covering.is_empty() {
                    prop_assert!(owners.is_empty());
                    continue;
                }
                prop_assert_eq!(owners.len(), 1, "voxel {}", v);
                let o = owners[0];
                prop_assert!(covering.contains(&o));
                // no covering cell is strictly nearer, none as near with a lower index
                let d = |i: usize| (2.0 * v as f64 - (2 * starts[i] + cell as i64 - 1) as f64).abs();
                for &i in &covering {
                    prop_assert!(d(i) > d(o) || (d(i) == d(o) && i >= o));
                }
            }
        }
    }
}
