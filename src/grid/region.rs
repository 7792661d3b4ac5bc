//! A box of voxels: start and extent per axis.

use std::fmt;
use std::ops::Range;

use super::GridError;

/// A box of voxels: a start and a shape per axis.
///
/// Regions of [`Edge::Pad`](super::Edge::Pad) grids may extend past the volume's end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region {
    pub(super) start: Vec<usize>,
    pub(super) shape: Vec<usize>,
}

impl Region {
    /// A region from its start and shape, which must have the same length and
    /// whose ends must not overflow `usize`.
    ///
    /// # Errors
    ///
    /// [`GridError::RankMismatch`] if `start` and `shape` differ in length,
    /// [`GridError::RegionOverflow`] if `start + shape` overflows `usize` on
    /// an axis.
    pub fn new(start: Vec<usize>, shape: Vec<usize>) -> Result<Self, GridError> {
        if start.len() != shape.len() {
            return Err(GridError::RankMismatch {
                what: "region shape",
                expected: start.len(),
                found: shape.len(),
            });
        }
        for (axis, (&start, &extent)) in start.iter().zip(&shape).enumerate() {
            if start.checked_add(extent).is_none() {
                return Err(GridError::RegionOverflow {
                    axis,
                    start,
                    extent,
                });
            }
        }
        Ok(Region { start, shape })
    }

    /// A region whose ends are known not to overflow (built from a grid's
    /// bounds inside a volume).
    #[cfg_attr(not(feature = "rayon"), allow(dead_code))]
    pub(crate) fn from_parts(start: Vec<usize>, shape: Vec<usize>) -> Self {
        debug_assert_eq!(start.len(), shape.len());
        Region { start, shape }
    }

    /// The region covering a whole volume of `shape`.
    pub fn full(shape: &[usize]) -> Self {
        Region {
            start: vec![0; shape.len()],
            shape: shape.to_vec(),
        }
    }

    /// First voxel, per axis.
    pub fn start(&self) -> &[usize] {
        &self.start
    }

    /// Extent, per axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// One past the last voxel, per axis.
    pub fn end(&self) -> Vec<usize> {
        self.start
            .iter()
            .zip(&self.shape)
            .map(|(s, n)| s + n)
            .collect()
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.start.len()
    }

    /// Number of voxels, or `None` if it overflows `usize`.
    pub fn voxels(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n))
    }

    /// The `start..end` range on one axis.
    ///
    /// # Panics
    ///
    /// If `axis >= self.ndim()`.
    pub fn range(&self, axis: usize) -> Range<usize> {
        self.start[axis]..self.start[axis] + self.shape[axis]
    }

    /// Whether the region lies inside a volume of `shape`.
    pub fn is_within(&self, shape: &[usize]) -> bool {
        shape.len() == self.ndim() && self.end().iter().zip(shape).all(|(e, d)| e <= d)
    }

    /// The part of the region inside a volume of `shape` (`None` if nothing
    /// is inside or the ranks differ).
    pub fn clip_to(&self, shape: &[usize]) -> Option<Region> {
        if shape.len() != self.ndim() {
            return None;
        }
        let mut start = Vec::with_capacity(self.ndim());
        let mut ext = Vec::with_capacity(self.ndim());
        for ((&s, &n), &d) in self.start.iter().zip(&self.shape).zip(shape) {
            let e = (s + n).min(d);
            if s >= e {
                return None;
            }
            start.push(s);
            ext.push(e - s);
        }
        Some(Region { start, shape: ext })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, r) in (0..self.ndim()).map(|a| self.range(a)).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}..{}", r.start, r.end)?;
        }
        f.write_str("]")
    }
}
