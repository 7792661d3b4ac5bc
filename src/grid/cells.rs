//! Boxes of grid cells and their iteration.

use std::ops::Range;

use super::GridError;

/// A box of cells: a half-open range of cell indices per grid axis, as a
/// resolved selection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CellBox {
    pub(super) ranges: Vec<Range<usize>>,
}

impl CellBox {
    /// A box from its ranges (not checked against any grid).
    pub fn new(ranges: Vec<Range<usize>>) -> Self {
        CellBox { ranges }
    }

    /// The range per axis.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// Number of cells per axis.
    pub fn shape(&self) -> Vec<usize> {
        self.ranges.iter().map(|r| r.len()).collect()
    }

    /// Number of cells in the box (saturating).
    pub fn len(&self) -> usize {
        self.ranges
            .iter()
            .fold(1usize, |a, r| a.saturating_mul(r.len()))
    }

    /// Whether the box holds no cell.
    pub fn is_empty(&self) -> bool {
        self.ranges.iter().any(|r| r.is_empty())
    }

    /// The position of a cell within the box in C order.
    ///
    /// # Errors
    ///
    /// [`GridError::RankMismatch`] if `index` does not have one entry per
    /// axis of the box, [`GridError::CellOutOfRange`] if an entry is outside
    /// its axis's range, [`GridError::TooManyCells`] if the position does
    /// not fit in `usize` (a box of more than `usize::MAX` cells).
    pub fn ravel(&self, index: &[usize]) -> Result<usize, GridError> {
        if index.len() != self.ranges.len() {
            return Err(GridError::RankMismatch {
                what: "cell index",
                expected: self.ranges.len(),
                found: index.len(),
            });
        }
        let mut linear = 0usize;
        for (axis, (&i, r)) in index.iter().zip(&self.ranges).enumerate() {
            if !r.contains(&i) {
                return Err(GridError::CellOutOfRange {
                    axis,
                    index: i,
                    len: r.end,
                });
            }
            linear = linear
                .checked_mul(r.len())
                .and_then(|l| l.checked_add(i - r.start))
                .ok_or(GridError::TooManyCells {
                    axis,
                    count: linear as f64 * r.len() as f64,
                })?;
        }
        Ok(linear)
    }

    /// The cell at C-order position `linear` within the box.
    ///
    /// # Errors
    ///
    /// [`GridError::LinearOutOfRange`] if `linear` is not below the number
    /// of cells in the box (always, for an empty box).
    pub fn unravel(&self, linear: usize) -> Result<Vec<usize>, GridError> {
        let len = self.len();
        if linear >= len || self.is_empty() {
            return Err(GridError::LinearOutOfRange { index: linear, len });
        }
        let mut index = vec![0; self.ranges.len()];
        let mut rest = linear;
        for (slot, r) in index.iter_mut().zip(&self.ranges).rev() {
            *slot = r.start + rest % r.len();
            rest /= r.len();
        }
        Ok(index)
    }

    /// The cells of the box in C order.
    pub fn iter(&self) -> CellIter {
        CellIter {
            cells: self.clone(),
            front: 0,
            back: if self.is_empty() { 0 } else { self.len() },
        }
    }
}

impl IntoIterator for &CellBox {
    type Item = Vec<usize>;
    type IntoIter = CellIter;
    fn into_iter(self) -> CellIter {
        self.iter()
    }
}

/// Iterator over the N-d indices of a [`CellBox`] in C order.
#[derive(Debug, Clone)]
pub struct CellIter {
    cells: CellBox,
    front: usize,
    back: usize,
}

impl Iterator for CellIter {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        if self.front >= self.back {
            return None;
        }
        let i = self.cells.unravel(self.front).ok();
        self.front += 1;
        i
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for CellIter {
    fn next_back(&mut self) -> Option<Vec<usize>> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.cells.unravel(self.back).ok()
    }
}

impl ExactSizeIterator for CellIter {}
