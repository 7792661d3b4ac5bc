//! Errors of the grid arithmetic.

/// Errors of the pure grid arithmetic ([`crate::grid`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GridError {
    /// Two lists that must have one entry per axis differ in length.
    #[error("{what} has {found} entries but the grid has {expected} axes")]
    RankMismatch {
        /// Which list (`"cell shape"`, `"stride"`, …).
        what: &'static str,
        /// Number of axes the grid has.
        expected: usize,
        /// Number of entries given.
        found: usize,
    },
    /// A grid needs at least one axis.
    #[error("a grid needs at least one axis")]
    NoAxes,
    /// A volume or cell extent of zero.
    #[error("{what} extent on axis {axis} is 0; every extent must be at least 1")]
    ZeroExtent {
        /// `"volume"` or `"cell"`.
        what: &'static str,
        /// The axis.
        axis: usize,
    },
    /// A stride that is not a finite number greater than 0.
    #[error("stride on axis {axis} is {value}; it must be a finite number greater than 0")]
    InvalidStride {
        /// The axis.
        axis: usize,
        /// The value given.
        value: f64,
    },
    /// A step that is not a finite number greater than 0.
    #[error("step on axis {axis} is {value}; it must be a finite number of voxels greater than 0")]
    InvalidStep {
        /// The axis.
        axis: usize,
        /// The value given.
        value: f64,
    },
    /// The grid would have more cells than can be counted.
    #[error("axis {axis} would have {count} cells; the step is too small for the volume")]
    TooManyCells {
        /// The axis.
        axis: usize,
        /// The number of cells the formula gives.
        count: f64,
    },
    /// A cell index outside the grid.
    #[error("cell index {index} is out of range for axis {axis} with {len} cells")]
    CellOutOfRange {
        /// The axis.
        axis: usize,
        /// The index given.
        index: usize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A volume or cell extent beyond 2^53 (where `f64` arithmetic is no
    /// longer exact).
    #[error("{what} extent {value} on axis {axis} is larger than 2^53")]
    ExtentTooLarge {
        /// `"volume"` or `"cell"`.
        what: &'static str,
        /// The axis.
        axis: usize,
        /// The extent given.
        value: usize,
    },
    /// A region whose end does not fit in `usize`.
    #[error("region start {start} plus extent {extent} on axis {axis} overflows")]
    RegionOverflow {
        /// The axis.
        axis: usize,
        /// The start.
        start: usize,
        /// The extent.
        extent: usize,
    },
    /// An empty or inverted range of cells.
    #[error("empty or inverted cell range {start}..{end} on axis {axis}")]
    EmptyCellRange {
        /// The axis.
        axis: usize,
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
    },
    /// A linear (flat) cell index outside the grid.
    #[error("linear cell index {index} is out of range for a grid of {len} cells")]
    LinearOutOfRange {
        /// The index given.
        index: usize,
        /// Number of cells in the grid.
        len: usize,
    },
}
