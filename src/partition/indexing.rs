//! The [`Partition`] type and its indexing: selections of cells resolved
//! against the grid, and their regions in volume axes.

use crate::error::Result;
use crate::grid::{CellBox, Grid, Region};
use crate::selection::IntoSelection;
use crate::volume::Volume;

use super::Selected;

/// A grid of cells laid over a volume.
///
/// ```
/// use impart::{ArrayVolume, Partition};
/// use ndarray::{s, Array3};
///
/// let data = Array3::<u16>::from_shape_fn((100, 80, 60), |(z, y, x)| (z * 10_000 + y * 100 + x) as u16);
/// let part = Partition::builder(ArrayVolume::new(data.view())?)
///     .cell(&[32, 32, 32])
///     .stride(0.5)
///     .build()?;
/// assert_eq!(part.grid().shape(), vec![6, 4, 3]);
/// let cells = part.select(s![1..3, -1])?;
/// assert_eq!(cells.region().start(), &[16, 48, 0]);
/// assert_eq!(cells.region().shape(), &[48, 32, 60]);
/// let owned = cells.to_array_as::<f32>()?;
/// assert_eq!(owned[[0, 0, 0]], data[[16, 48, 0]] as f32);
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug)]
pub struct Partition<V> {
    pub(super) volume: V,
    pub(super) grid: Grid,
    pub(super) axes: Vec<usize>,
    pub(super) channels: Option<(usize, Vec<usize>)>,
}

impl<V: Volume> Partition<V> {
    /// The volume.
    pub fn volume(&self) -> &V {
        &self.volume
    }

    /// Gives the volume back.
    pub fn into_volume(self) -> V {
        self.volume
    }

    /// The grid over the partitioned axes.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The partitioned volume axes, in grid-axis order.
    pub fn axes(&self) -> &[usize] {
        &self.axes
    }

    /// The channel selection: carried axis and kept indices.
    pub fn channels(&self) -> Option<(usize, &[usize])> {
        self.channels.as_ref().map(|(a, l)| (*a, l.as_slice()))
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.grid.len()
    }

    /// Always false: a partition has at least one cell.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The box of cells `selection` names in this partition's grid (what
    /// [`shard_split`](Self::shard_split) splits).
    ///
    /// # Errors
    ///
    /// [`Error::Selection`](crate::Error::Selection) if the selection does
    /// not parse or resolve against the grid.
    pub fn resolve(&self, selection: impl IntoSelection) -> Result<CellBox> {
        Ok(selection.into_selection()?.resolve(self.grid.shape())?)
    }

    /// Resolves a selection of cells (`s![..3, 15..21]`, `"10,-1"`, …).
    ///
    /// # Errors
    ///
    /// [`Error::Selection`](crate::Error::Selection) if the selection does
    /// not parse or convert, or does not resolve against the grid (an index
    /// out of range, an empty range, too many indices; see
    /// [`Selection::resolve`](crate::Selection::resolve)).
    pub fn select(&self, selection: impl IntoSelection) -> Result<Selected<'_, V>> {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
        self.selected(cells)
    }

    /// Every cell: the whole partitioned extent, as one selection (the
    /// whole volume for a [`whole`](Partition::whole) partition).
    ///
    /// # Errors
    ///
    /// As [`selected`](Self::selected); a built partition always has at
    /// least one cell, so only a backend whose layout disagrees with its
    /// shape fails here.
    pub fn all(&self) -> Result<Selected<'_, V>> {
        self.selected(self.grid.all())
    }

    /// One cell by its N-d grid index.
    ///
    /// # Errors
    ///
    /// [`Error::Grid`](crate::Error::Grid) if `index` does not have one
    /// entry per grid axis or an entry is past the last cell of its axis
    /// (see [`Grid::cell_region`]).
    pub fn cell(&self, index: &[usize]) -> Result<Selected<'_, V>> {
        let grid_region = self.grid.cell_region(index)?;
        Ok(Selected {
            partition: self,
            cells: CellBox::new(index.iter().map(|&i| i..i + 1).collect()),
            region: self.volume_region(&grid_region)?,
            session: None,
        })
    }

    /// A box of cells.
    ///
    /// # Errors
    ///
    /// [`Error::Grid`](crate::Error::Grid) if `cells` does not have one
    /// range per grid axis, or a range is empty, inverted or ends past the
    /// last cell (see [`Grid::region`]).
    pub fn selected(&self, cells: CellBox) -> Result<Selected<'_, V>> {
        let grid_region = self.grid.region(&cells)?;
        let region = self.volume_region(&grid_region)?;
        Ok(Selected {
            partition: self,
            cells,
            region,
            session: None,
        })
    }

    /// The single cells of a selection, in C order of their grid indices.
    ///
    /// # Errors
    ///
    /// As [`select`](Self::select): [`Error::Selection`](crate::Error::Selection)
    /// if the selection does not parse or resolve.
    pub fn cells(
        &self,
        selection: impl IntoSelection,
    ) -> Result<impl ExactSizeIterator<Item = Selected<'_, V>> + '_> {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
        let n = cells.len();
        Ok((0..n).map(move |k| self.nth_cell(&cells, k)))
    }

    /// The `k`-th single cell (C order) of a resolved, in-grid box.
    pub(crate) fn nth_cell(&self, cells: &CellBox, k: usize) -> Selected<'_, V> {
        let index = cells
            .unravel(k)
            .unwrap_or_else(|_| vec![0; cells.ranges().len()]);
        let region = self
            .volume_region(&self.grid.cell_region_clamped(&index))
            .unwrap_or_else(|_| Region::full(self.volume.shape()));
        Selected {
            partition: self,
            cells: CellBox::new(index.iter().map(|&i| i..i + 1).collect()),
            region,
            session: None,
        }
    }

    /// Expands a grid region (partitioned axes) to volume axes.
    fn volume_region(&self, grid_region: &Region) -> Result<Region> {
        let shape = self.volume.shape();
        let mut start: Vec<usize> = vec![0; shape.len()];
        let mut ext: Vec<usize> = shape.to_vec();
        for (g, &a) in self.axes.iter().enumerate() {
            start[a] = grid_region.start()[g];
            ext[a] = grid_region.shape()[g];
        }
        if let Some((a, list)) = &self.channels {
            let lo = list.iter().copied().min().unwrap_or(0);
            let hi = list.iter().copied().max().unwrap_or(0);
            start[*a] = lo;
            ext[*a] = hi + 1 - lo;
        }
        Ok(Region::new(start, ext)?)
    }
}
