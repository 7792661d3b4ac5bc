//! The grid: pure arithmetic over shapes, no I/O.
//!
//! For each partitioned axis with volume extent `dim`, cell extent `cell` and
//! step `step` (`cell * stride`, a float), exactly as the Python `impart`
//! computes it:
//!
//! - cells on the axis: `n = 1 + ceil(max(0, dim - cell) / step)`;
//! - cell `i` starts at `ceil(i * step)`;
//! - the cells `a..b` span `ceil(a * step)` to `ceil(cell + (b - 1) * step)`,
//!   clipped to `dim` under [`Edge::Clip`].
//!
//! The arithmetic is done in `f64` in the same order as the original, so the
//! rare rounding cases (`10 * (37 * 0.9) = 333.00000000000006`, whose ceiling is 334)
//! come out the same.
//!
//! One deliberate difference: the formula can count a last cell that starts
//! at or past the end of the volume (with a stride above 1, or with
//! `cell * (1 - stride) < 1`, e.g. dim 10, cell 1, stride 0.7 gives 14 cells
//! of which the last is empty), and the original then returns an empty or
//! negative-width region. Such a cell is not counted here, so every cell holds
//! at least one voxel.
//!
//! # Edge policies
//!
//! - [`Edge::Clip`] (the default, the original's): border cells are cut at the
//!   volume's end and may be smaller than the cell shape.
//! - [`Edge::Shift`]: the same number of cells, but a cell that would cross
//!   the end is moved inward to end at the volume's end, so every cell has the
//!   full cell shape (TorchIO's `GridSampler` and MONAI's `GridPatch` place
//!   their last patch this way). Where the cell is larger than the volume it
//!   cannot be shifted: the one cell on that axis is clipped to the volume.
//! - [`Edge::Pad`]: cells keep their start and their full size; the part
//!   outside the volume is filled at materialization by the [`PadMode`]. Where
//!   the cell is larger than the volume there is one cell, starting at 0 and
//!   padded at the end (as MONAI's sliding window pads a small image up to the
//!   window size).

mod cells;
mod error;
mod region;

pub use cells::{CellBox, CellIter};
pub use error::GridError;
pub use region::Region;

/// How the values outside the volume are made for [`Edge::Pad`] cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// A constant, converted to the output type with `as`.
    Constant(f64),
    /// The nearest voxel on the border (NumPy's `edge`).
    Edge,
    /// Mirror without repeating the border voxel (NumPy's and PyTorch's
    /// `reflect`: `d c b | a b c d | c b a`), repeated as often as needed.
    Reflect,
}

impl Default for PadMode {
    fn default() -> Self {
        PadMode::Constant(0.0)
    }
}

/// What happens to cells that cross the end of the volume.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Edge {
    /// Cut at the end of the volume (the original's behaviour).
    #[default]
    Clip,
    /// Moved inward so every cell has the full size.
    Shift,
    /// Full size, filled outside the volume.
    Pad(PadMode),
}

impl Edge {
    /// `"clip"`, `"shift"` or `"pad"`.
    pub fn name(&self) -> &'static str {
        match self {
            Edge::Clip => "clip",
            Edge::Shift => "shift",
            Edge::Pad(_) => "pad",
        }
    }
}

/// One value for every axis, or one per axis.
#[derive(Debug, Clone, PartialEq)]
pub enum PerAxis<T> {
    /// The same value on every axis.
    All(T),
    /// One value per axis.
    Each(Vec<T>),
}

impl<T: Clone> PerAxis<T> {
    fn expand(&self, ndim: usize, what: &'static str) -> Result<Vec<T>, GridError> {
        match self {
            PerAxis::All(v) => Ok(vec![v.clone(); ndim]),
            PerAxis::Each(v) if v.len() == ndim => Ok(v.clone()),
            PerAxis::Each(v) if v.len() == 1 => Ok(vec![v[0].clone(); ndim]),
            PerAxis::Each(v) => Err(GridError::RankMismatch {
                what,
                expected: ndim,
                found: v.len(),
            }),
        }
    }
}

impl From<f64> for PerAxis<f64> {
    fn from(v: f64) -> Self {
        PerAxis::All(v)
    }
}
impl From<Vec<f64>> for PerAxis<f64> {
    fn from(v: Vec<f64>) -> Self {
        PerAxis::Each(v)
    }
}
impl From<&[f64]> for PerAxis<f64> {
    fn from(v: &[f64]) -> Self {
        PerAxis::Each(v.to_vec())
    }
}
impl From<(f64, f64)> for PerAxis<f64> {
    fn from(v: (f64, f64)) -> Self {
        PerAxis::Each(vec![v.0, v.1])
    }
}
impl<const N: usize> From<[f64; N]> for PerAxis<f64> {
    fn from(v: [f64; N]) -> Self {
        PerAxis::Each(v.to_vec())
    }
}

/// How far apart cells start.
#[derive(Debug, Clone, PartialEq)]
pub enum Spacing {
    /// Relative to the cell extent: `step = cell * stride`. Overlap is
    /// `1 - stride`.
    Stride(PerAxis<f64>),
    /// In voxels.
    Step(PerAxis<f64>),
}

impl Default for Spacing {
    fn default() -> Self {
        Spacing::Stride(PerAxis::All(1.0))
    }
}

/// One axis of a grid.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AxisGrid {
    dim: usize,
    cell: usize,
    step: f64,
    n: usize,
}

/// Largest cell count per axis; keeps `i * step` exact in `f64`.
const MAX_CELLS: f64 = (1u64 << 52) as f64;

/// Largest volume or cell extent: `f64` holds every integer up to 2^53, so
/// the formulas stay exact.
const MAX_EXTENT: u64 = 1 << 53;

impl AxisGrid {
    fn new(axis: usize, dim: usize, cell: usize, step: f64) -> Result<Self, GridError> {
        let count = 1.0 + (dim.saturating_sub(cell) as f64 / step).ceil();
        if count.is_nan() || count > MAX_CELLS {
            return Err(GridError::TooManyCells { axis, count });
        }
        let mut n = count as usize;
        // With a stride above 1 the last counted cell can start at or past the
        // end; it would hold no voxel (see the module docs).
        if n > 1 && ((n - 1) as f64 * step).ceil() >= dim as f64 {
            n -= 1;
        }
        Ok(AxisGrid { dim, cell, step, n })
    }

    fn start(&self, i: usize) -> usize {
        (i as f64 * self.step).ceil() as usize
    }

    fn stop(&self, last: usize) -> usize {
        (self.cell as f64 + last as f64 * self.step).ceil() as usize
    }

    /// Start and extent of the cells `a..b` (`a < b <= n`).
    fn span(&self, a: usize, b: usize, edge: Edge) -> (usize, usize) {
        let start = self.start(a);
        match edge {
            // the original's formula, float rounding included
            Edge::Clip => (start, self.stop(b - 1).min(self.dim) - start),
            Edge::Shift if self.cell > self.dim => (0, self.dim),
            // Shift and Pad promise full-size cells: the end is the last
            // cell's start plus the cell extent, never a rounded float.
            Edge::Shift => {
                let limit = self.dim - self.cell;
                let s = start.min(limit);
                (s, self.start(b - 1).min(limit) + self.cell - s)
            }
            Edge::Pad(_) => (start, self.start(b - 1) + self.cell - start),
        }
    }
}

/// A virtual grid of fixed-size, possibly overlapping cells over a volume
/// shape.
///
/// ```
/// use impart::grid::Grid;
///
/// // The original README's example: a 1080 x 1920 image, 128 x 128 cells,
/// // half-overlapping.
/// let grid = Grid::builder(&[1080, 1920]).cell(&[128, 128]).stride(0.5).build()?;
/// assert_eq!(grid.shape(), vec![16, 29]);
/// assert_eq!(grid.step(), vec![64.0, 64.0]);
/// let r = grid.cell_region(&[10, 28])?;
/// assert_eq!((r.start(), r.shape()), (&[640, 1792][..], &[128, 128][..]));
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    axes: Vec<AxisGrid>,
    edge: Edge,
    len: usize,
    volume: Vec<usize>,
    cell: Vec<usize>,
    step: Vec<f64>,
    shape: Vec<usize>,
}

/// Builder for a [`Grid`]: volume shape, cell shape, spacing and edge policy.
#[derive(Debug, Clone)]
pub struct GridBuilder {
    volume: Vec<usize>,
    cell: Option<Vec<usize>>,
    spacing: Spacing,
    edge: Edge,
}

impl GridBuilder {
    /// Cell extent per axis.
    pub fn cell(mut self, cell: &[usize]) -> Self {
        self.cell = Some(cell.to_vec());
        self
    }

    /// Relative stride: one value for all axes or one per axis
    /// (`step = cell * stride`; default 1.0, no overlap).
    pub fn stride(mut self, stride: impl Into<PerAxis<f64>>) -> Self {
        self.spacing = Spacing::Stride(stride.into());
        self
    }

    /// Absolute step in voxels, one value for all axes or one per axis.
    pub fn step(mut self, step: impl Into<PerAxis<f64>>) -> Self {
        self.spacing = Spacing::Step(step.into());
        self
    }

    /// Stride or step.
    pub fn spacing(mut self, spacing: Spacing) -> Self {
        self.spacing = spacing;
        self
    }

    /// Edge policy (default [`Edge::Clip`]).
    pub fn edge(mut self, edge: Edge) -> Self {
        self.edge = edge;
        self
    }

    /// Checks every value and computes the grid.
    ///
    /// # Errors
    ///
    /// [`GridError::NoAxes`] for an empty volume shape;
    /// [`GridError::RankMismatch`] if the cell shape does not have one entry
    /// per axis, or a stride or step list has neither one value nor one per
    /// axis;
    /// [`GridError::InvalidStride`] or [`GridError::InvalidStep`] for a
    /// stride or step that is not a finite number above 0 (`InvalidStep`
    /// also when `cell * stride` overflows to infinity);
    /// [`GridError::ZeroExtent`] for a volume or cell extent of 0;
    /// [`GridError::ExtentTooLarge`] for one above 2^53;
    /// [`GridError::TooManyCells`] if an axis would have more than 2^52
    /// cells or the grid more than `usize::MAX`.
    pub fn build(self) -> Result<Grid, GridError> {
        let ndim = self.volume.len();
        if ndim == 0 {
            return Err(GridError::NoAxes);
        }
        let cell = self.cell.unwrap_or_else(|| self.volume.clone());
        if cell.len() != ndim {
            return Err(GridError::RankMismatch {
                what: "cell shape",
                expected: ndim,
                found: cell.len(),
            });
        }
        let steps = match &self.spacing {
            Spacing::Stride(s) => {
                let s = s.expand(ndim, "stride")?;
                let mut steps = Vec::with_capacity(ndim);
                for (axis, (&st, &c)) in s.iter().zip(&cell).enumerate() {
                    if !(st.is_finite() && st > 0.0) {
                        return Err(GridError::InvalidStride { axis, value: st });
                    }
                    steps.push(c as f64 * st);
                }
                steps
            }
            Spacing::Step(s) => {
                let s = s.expand(ndim, "step")?;
                for (axis, &st) in s.iter().enumerate() {
                    if !(st.is_finite() && st > 0.0) {
                        return Err(GridError::InvalidStep { axis, value: st });
                    }
                }
                s
            }
        };
        let mut axes = Vec::with_capacity(ndim);
        let mut len = 1usize;
        for axis in 0..ndim {
            let (dim, c) = (self.volume[axis], cell[axis]);
            if dim == 0 {
                return Err(GridError::ZeroExtent {
                    what: "volume",
                    axis,
                });
            }
            if c == 0 {
                return Err(GridError::ZeroExtent { what: "cell", axis });
            }
            for (what, value) in [("volume", dim), ("cell", c)] {
                if value as u64 > MAX_EXTENT {
                    return Err(GridError::ExtentTooLarge { what, axis, value });
                }
            }
            if !steps[axis].is_finite() {
                return Err(GridError::InvalidStep {
                    axis,
                    value: steps[axis],
                });
            }
            let a = AxisGrid::new(axis, dim, c, steps[axis])?;
            len = len.checked_mul(a.n).ok_or(GridError::TooManyCells {
                axis,
                count: len as f64 * a.n as f64,
            })?;
            axes.push(a);
        }
        Ok(Grid {
            volume: axes.iter().map(|a| a.dim).collect(),
            cell: axes.iter().map(|a| a.cell).collect(),
            step: axes.iter().map(|a| a.step).collect(),
            shape: axes.iter().map(|a| a.n).collect(),
            axes,
            edge: self.edge,
            len,
        })
    }
}

impl Grid {
    /// Starts a grid over a volume of the given shape. Without `.cell(..)`
    /// the single cell is the whole volume.
    pub fn builder(volume_shape: &[usize]) -> GridBuilder {
        GridBuilder {
            volume: volume_shape.to_vec(),
            cell: None,
            spacing: Spacing::default(),
            edge: Edge::default(),
        }
    }

    /// A grid with a relative stride and the default edge policy.
    ///
    /// # Errors
    ///
    /// As [`GridBuilder::build`].
    pub fn new(
        volume_shape: &[usize],
        cell_shape: &[usize],
        stride: impl Into<PerAxis<f64>>,
    ) -> Result<Self, GridError> {
        Grid::builder(volume_shape)
            .cell(cell_shape)
            .stride(stride)
            .build()
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.axes.len()
    }

    /// The volume's extent per axis.
    pub fn volume_shape(&self) -> &[usize] {
        &self.volume
    }

    /// The cell extent per axis.
    pub fn cell_shape(&self) -> &[usize] {
        &self.cell
    }

    /// The step between cell starts per axis, in voxels (a float; the
    /// original's `step_size`).
    pub fn step(&self) -> &[f64] {
        &self.step
    }

    /// Number of cells per axis (the original's `shape`).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Total number of cells.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a grid has at least one cell.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The edge policy.
    pub fn edge(&self) -> Edge {
        self.edge
    }

    /// The box of all cells.
    pub fn all(&self) -> CellBox {
        CellBox {
            ranges: self.axes.iter().map(|a| 0..a.n).collect(),
        }
    }

    /// The region of one cell, by N-d index.
    ///
    /// # Errors
    ///
    /// [`GridError::RankMismatch`] if `index` does not have one entry per
    /// grid axis, [`GridError::CellOutOfRange`] if an entry is past the
    /// last cell of its axis.
    pub fn cell_region(&self, index: &[usize]) -> Result<Region, GridError> {
        if index.len() != self.ndim() {
            return Err(GridError::RankMismatch {
                what: "cell index",
                expected: self.ndim(),
                found: index.len(),
            });
        }
        for (axis, (&i, a)) in index.iter().zip(&self.axes).enumerate() {
            if i >= a.n {
                return Err(GridError::CellOutOfRange {
                    axis,
                    index: i,
                    len: a.n,
                });
            }
        }
        let ranges = index.iter().map(|&i| i..i + 1).collect();
        self.region(&CellBox { ranges })
    }

    /// The region (bounding box) of a box of cells.
    ///
    /// # Errors
    ///
    /// [`GridError::RankMismatch`] if `cells` does not have one range per
    /// grid axis, [`GridError::EmptyCellRange`] for an empty or inverted
    /// range, [`GridError::CellOutOfRange`] for a range that ends past the
    /// last cell of its axis.
    pub fn region(&self, cells: &CellBox) -> Result<Region, GridError> {
        if cells.ranges().len() != self.ndim() {
            return Err(GridError::RankMismatch {
                what: "cell index",
                expected: self.ndim(),
                found: cells.ranges().len(),
            });
        }
        let mut start = Vec::with_capacity(self.ndim());
        let mut shape = Vec::with_capacity(self.ndim());
        for (axis, (a, r)) in self.axes.iter().zip(cells.ranges()).enumerate() {
            if r.start >= r.end {
                return Err(GridError::EmptyCellRange {
                    axis,
                    start: r.start,
                    end: r.end,
                });
            }
            if r.end > a.n {
                return Err(GridError::CellOutOfRange {
                    axis,
                    index: r.end - 1,
                    len: a.n,
                });
            }
            let (s, n) = a.span(r.start, r.end, self.edge);
            start.push(s);
            shape.push(n);
        }
        Ok(Region { start, shape })
    }

    /// The region of a cell whose index is known to be inside the grid
    /// (indices past the end are clamped to the last cell; never fails).
    pub(crate) fn cell_region_clamped(&self, index: &[usize]) -> Region {
        let (start, shape) = self
            .axes
            .iter()
            .zip(index.iter().chain(std::iter::repeat(&0)))
            .map(|(a, &i)| {
                let i = i.min(a.n - 1);
                a.span(i, i + 1, self.edge)
            })
            .unzip();
        Region { start, shape }
    }

    /// The C-order (last axis fastest) linear index of a cell.
    ///
    /// # Errors
    ///
    /// [`GridError::RankMismatch`] if `index` does not have one entry per
    /// grid axis, [`GridError::CellOutOfRange`] if an entry is past the
    /// last cell of its axis.
    pub fn ravel(&self, index: &[usize]) -> Result<usize, GridError> {
        self.all().ravel(index)
    }

    /// The N-d index of the cell with C-order linear index `linear`.
    ///
    /// # Errors
    ///
    /// [`GridError::LinearOutOfRange`] if `linear` is not below
    /// [`len`](Self::len).
    pub fn unravel(&self, linear: usize) -> Result<Vec<usize>, GridError> {
        self.all().unravel(linear)
    }

    /// Every cell's N-d index, in C order.
    pub fn cells(&self) -> CellIter {
        self.all().iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_readme_example() {
        let g = Grid::new(&[1080, 1920], &[128, 128], 0.5).unwrap();
        assert_eq!(g.shape(), vec![16, 29]);
        assert_eq!(g.step(), vec![64.0, 64.0]);
        let col0 = g.region(&CellBox::new(vec![0..16, 0..1])).unwrap();
        assert_eq!(col0.shape(), &[1080, 128]);
        let r = g.region(&CellBox::new(vec![0..3, 15..21])).unwrap();
        assert_eq!(r.shape(), &[256, 448]);
        let c = g.cell_region(&[10, 28]).unwrap();
        assert_eq!(c.start(), &[640, 1792]);
        assert_eq!(c.shape(), &[128, 128]);
    }

    #[test]
    fn float_rounding_matches_python() {
        // Python: math.ceil(10 * (37 * 0.9)) == 334, since 10 * 33.3 == 333.00000000000006
        let g = Grid::new(&[1000], &[37], 0.9).unwrap();
        assert_eq!(g.cell_region(&[10]).unwrap().start(), &[334]);
    }

    #[test]
    fn edges() {
        let clip = Grid::new(&[10], &[4], 1.0).unwrap();
        assert_eq!(clip.shape(), vec![3]);
        assert_eq!(clip.cell_region(&[2]).unwrap().range(0), 8..10);
        let shift = Grid::builder(&[10])
            .cell(&[4])
            .edge(Edge::Shift)
            .build()
            .unwrap();
        assert_eq!(shift.cell_region(&[2]).unwrap().range(0), 6..10);
        let pad = Grid::builder(&[10])
            .cell(&[4])
            .edge(Edge::Pad(PadMode::Edge))
            .build()
            .unwrap();
        assert_eq!(pad.cell_region(&[2]).unwrap().range(0), 8..12);
        // cell larger than the volume
        for (edge, want) in [
            (Edge::Clip, 0..3),
            (Edge::Shift, 0..3),
            (Edge::Pad(PadMode::default()), 0..8),
        ] {
            let g = Grid::builder(&[3]).cell(&[8]).edge(edge).build().unwrap();
            assert_eq!(g.shape(), vec![1]);
            assert_eq!(g.cell_region(&[0]).unwrap().range(0), want);
        }
    }

    #[test]
    fn stride_above_one_drops_empty_last_cell() {
        // original: n = 1 + ceil(8 / 10) = 2, second cell starts at 10 == dim
        let g = Grid::new(&[10], &[2], 5.0).unwrap();
        assert_eq!(g.shape(), vec![1]);
        let g = Grid::new(&[11], &[2], 5.0).unwrap();
        assert_eq!(g.shape(), vec![2]);
        assert_eq!(g.cell_region(&[1]).unwrap().range(0), 10..11);
    }

    #[test]
    fn ravel_unravel() {
        let g = Grid::new(&[10, 20, 30], &[3, 4, 5], 1.0).unwrap();
        assert_eq!(g.shape(), vec![4, 5, 6]);
        for (k, idx) in g.cells().enumerate() {
            assert_eq!(g.ravel(&idx).unwrap(), k);
            assert_eq!(g.unravel(k).unwrap(), idx);
        }
        assert_eq!(g.cells().len(), 120);
        assert!(g.unravel(120).is_err());
    }

    #[test]
    fn bad_values() {
        assert!(matches!(
            Grid::new(&[10], &[2], 0.0),
            Err(GridError::InvalidStride { .. })
        ));
        assert!(Grid::new(&[10], &[2], -1.0).is_err());
        assert!(Grid::new(&[10], &[2], f64::NAN).is_err());
        assert!(Grid::new(&[10], &[2], f64::INFINITY).is_err());
        assert!(Grid::new(&[10], &[0], 1.0).is_err());
        assert!(Grid::new(&[0], &[1], 1.0).is_err());
        assert!(Grid::new(&[10, 10], &[2], 1.0).is_err());
        assert!(Grid::new(&[], &[], 1.0).is_err());
        assert!(Grid::builder(&[usize::MAX])
            .cell(&[1])
            .step(1e-300)
            .build()
            .is_err());
        assert!(Grid::new(&[usize::MAX, usize::MAX], &[1, 1], 1.0).is_err());
        assert!(matches!(
            Grid::new(&[10], &[4], 1e308),
            Err(GridError::InvalidStep { .. })
        ));
        assert!(matches!(
            Grid::new(&[1 << 60], &[4], 1.0),
            Err(GridError::ExtentTooLarge { .. })
        ));
        let g = Grid::new(&[10], &[2], 1.0).unwrap();
        assert!(matches!(
            g.cell_region(&[usize::MAX]),
            Err(GridError::CellOutOfRange { .. })
        ));
        assert!(CellBox::new(vec![0..usize::MAX, 0..usize::MAX])
            .ravel(&[2, 0])
            .is_err());
    }
}
