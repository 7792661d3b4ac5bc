//! A grid bound to a volume: lazy selections, zero-copy views and
//! materialization.
//!
//! A [`Partition`] lays a [`Grid`] over some axes of a [`Volume`] (by default
//! the first K axes when K cell extents are given); the other axes — channels,
//! time — are carried whole, optionally with an index list on one of them
//! (the original's `channels=(0, 1, 2)`).
//!
//! Indexing returns a [`Selected`]: nothing is read until it is asked for
//! a [`view`](Selected::view) (zero copy, borrowing the volume's memory), an
//! owned array ([`to_array`](Selected::to_array), or
//! [`to_array_as`](Selected::to_array_as) with a cast), or to fill a caller's
//! buffer ([`read_into`](Selected::read_into)).
//!
//! Overlapping cells alias the same voxels, so views are shared (read-only)
//! only.

#[cfg(feature = "rayon")]
mod parallel;

use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, Dimension, IxDyn, ShapeBuilder, Slice};

use crate::chunked::WalkSession;
use crate::dtype::Element;
use crate::error::{Error, NotZeroCopyReason, Result};
use crate::grid::{CellBox, Edge, Grid, PadMode, PerAxis, Region, Spacing};
use crate::layout::{gather, strides_like, AxisMap, Dest};
use crate::selection::IntoSelection;
use crate::volume::{Layout, MemoryOrder, Volume};

/// Builder for a [`Partition`].
#[derive(Debug)]
pub struct PartitionBuilder<V> {
    volume: V,
    cell: Option<Vec<usize>>,
    spacing: Spacing,
    edge: Edge,
    axes: Option<Vec<usize>>,
    channels: Option<(Option<usize>, Vec<usize>)>,
}

impl<V: Volume> PartitionBuilder<V> {
    /// Cell extent per partitioned axis (required).
    pub fn cell(mut self, cell: &[usize]) -> Self {
        self.cell = Some(cell.to_vec());
        self
    }

    /// Relative stride, one for all partitioned axes or one per axis
    /// (default 1.0).
    pub fn stride(mut self, stride: impl Into<PerAxis<f64>>) -> Self {
        self.spacing = Spacing::Stride(stride.into());
        self
    }

    /// Absolute step in voxels, one for all partitioned axes or one per axis.
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

    /// Which volume axes are partitioned, in grid-axis order (default: the
    /// first K axes for K cell extents).
    pub fn axes(mut self, axes: &[usize]) -> Self {
        self.axes = Some(axes.to_vec());
        self
    }

    /// Keeps only these indices, in this order, of the last carried axis
    /// (the channel axis of a `(height, width, channels)` image).
    pub fn channels(mut self, channels: &[usize]) -> Self {
        self.channels = Some((None, channels.to_vec()));
        self
    }

    /// Keeps only these indices, in this order, of carried axis `axis`.
    pub fn channels_on(mut self, axis: usize, channels: &[usize]) -> Self {
        self.channels = Some((Some(axis), channels.to_vec()));
        self
    }

    /// Checks everything against the volume and builds the partition.
    pub fn build(self) -> Result<Partition<V>> {
        let shape = self.volume.shape().to_vec();
        let invalid = |detail: String| Error::InvalidPartition {
            volume: self.volume.name().to_string(),
            detail,
        };
        let cell = self
            .cell
            .clone()
            .ok_or_else(|| invalid("no cell shape given".into()))?;
        let axes = match &self.axes {
            Some(a) => a.clone(),
            None if cell.len() <= shape.len() => (0..cell.len()).collect(),
            None => {
                return Err(invalid(format!(
                    "{} cell extents for a volume with {} axes",
                    cell.len(),
                    shape.len()
                )))
            }
        };
        if axes.len() != cell.len() {
            return Err(invalid(format!(
                "{} partitioned axes but {} cell extents",
                axes.len(),
                cell.len()
            )));
        }
        for (i, &a) in axes.iter().enumerate() {
            if a >= shape.len() {
                return Err(invalid(format!(
                    "axis {a} does not exist; the volume has {} axes",
                    shape.len()
                )));
            }
            if axes[..i].contains(&a) {
                return Err(invalid(format!("axis {a} is listed twice")));
            }
        }
        let dims: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        let grid = Grid::builder(&dims)
            .cell(&cell)
            .spacing(self.spacing.clone())
            .edge(self.edge)
            .build()?;
        let channels = match &self.channels {
            None => None,
            Some((axis, list)) => {
                let axis = match axis {
                    Some(a) => *a,
                    None => (0..shape.len())
                        .rev()
                        .find(|a| !axes.contains(a))
                        .ok_or_else(|| {
                            invalid("channels given but every axis is partitioned".into())
                        })?,
                };
                if axis >= shape.len() || axes.contains(&axis) {
                    return Err(invalid(format!(
                        "channel axis {axis} is not a carried axis"
                    )));
                }
                if list.is_empty() {
                    return Err(invalid("the channel list is empty".into()));
                }
                if let Some(&c) = list.iter().find(|&&c| c >= shape[axis]) {
                    return Err(invalid(format!(
                        "channel {c} does not exist; axis {axis} has {} entries",
                        shape[axis]
                    )));
                }
                Some((axis, list.clone()))
            }
        };
        Ok(Partition {
            volume: self.volume,
            grid,
            axes,
            channels,
        })
    }
}

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
    volume: V,
    grid: Grid,
    axes: Vec<usize>,
    channels: Option<(usize, Vec<usize>)>,
}

impl<V: Volume> Partition<V> {
    /// Starts a partition of `volume`.
    pub fn builder(volume: V) -> PartitionBuilder<V> {
        PartitionBuilder {
            volume,
            cell: None,
            spacing: Spacing::default(),
            edge: Edge::default(),
            axes: None,
            channels: None,
        }
    }

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

    /// Resolves a selection of cells (`s![..3, 15..21]`, `"10,-1"`, …).
    pub fn select(&self, selection: impl IntoSelection) -> Result<Selected<'_, V>> {
        let cells = selection.into_selection()?.resolve(self.grid.shape())?;
        self.selected(cells)
    }

    /// One cell by its N-d grid index.
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

    fn pad_mode(&self) -> Option<PadMode> {
        match self.grid.edge() {
            Edge::Pad(m) => Some(m),
            _ => None,
        }
    }
}

/// The bounding box of the source voxels some maps read (`None` when
/// every output is fill).
fn bounds_of(maps: &[AxisMap]) -> Result<Option<Region>> {
    let mut lo = Vec::with_capacity(maps.len());
    let mut ext = Vec::with_capacity(maps.len());
    for m in maps {
        let a = m.iter().flatten().copied().min();
        let b = m.iter().flatten().copied().max();
        match (a, b) {
            (Some(a), Some(b)) => {
                lo.push(a);
                ext.push(b + 1 - a);
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(Region::new(lo, ext)?))
}

/// An empty vector with room for `n` elements, or an error instead of an
/// aborting allocation failure.
fn try_vec<T>(n: usize, volume: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::TooLarge {
        volume: volume.to_string(),
        shape: vec![n],
    })?;
    Ok(v)
}

fn reflect(i: usize, dim: usize) -> usize {
    if dim == 1 {
        return 0;
    }
    let period = 2 * (dim - 1);
    let r = i % period;
    if r < dim {
        r
    } else {
        period - r
    }
}

/// A lazy selection of cells: its region, and ways to read it.
#[derive(Debug)]
pub struct Selected<'p, V> {
    partition: &'p Partition<V>,
    cells: CellBox,
    region: Region,
    /// The walk this selection belongs to, whose session serves its reads.
    session: Option<Session<'p>>,
}

/// A walk's session, as a selection holds it.
#[derive(Clone, Copy)]
struct Session<'p>(&'p dyn WalkSession);

// A session's state is a cache: a panic in a reader leaves at most an empty
// slot or a count too high (the chunk is then dropped later or decoded
// again), never a wrong value, so a selection stays unwind safe.
impl std::panic::UnwindSafe for Session<'_> {}
impl std::panic::RefUnwindSafe for Session<'_> {}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WalkSession")
    }
}

impl<V> Clone for Selected<'_, V> {
    fn clone(&self) -> Self {
        Selected {
            partition: self.partition,
            cells: self.cells.clone(),
            region: self.region.clone(),
            session: self.session,
        }
    }
}

impl<'p, V: Volume> Selected<'p, V> {
    /// The selected cells.
    pub fn cells(&self) -> &CellBox {
        &self.cells
    }

    /// The grid index of the first selected cell (the cell, for a single one).
    pub fn index(&self) -> Vec<usize> {
        self.cells.ranges().iter().map(|r| r.start).collect()
    }

    /// The bounding box in volume axes (carried axes span the volume, or the
    /// selected channels). Under [`Edge::Pad`] it may reach past the volume.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Shape of the materialized array (the region's shape, with the channel
    /// axis as long as the channel list).
    pub fn shape(&self) -> Vec<usize> {
        let mut s = self.region.shape().to_vec();
        if let Some((a, list)) = &self.partition.channels {
            s[*a] = list.len();
        }
        s
    }

    /// Number of elements (saturating at `usize::MAX` for absurd padded
    /// cells; materialization reports those as an error).
    pub fn len(&self) -> usize {
        self.shape()
            .iter()
            .fold(1usize, |a, &n| a.saturating_mul(n))
    }

    /// Whether the selection holds no element (never, for a valid grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of bytes the selection holds in the stored type.
    pub fn nbytes(&self) -> usize {
        self.len()
            .saturating_mul(self.partition.volume.dtype().size())
    }

    /// Number of output elements, checked to fit in memory as `U`.
    fn checked_len<U>(&self) -> Result<usize> {
        let shape = self.shape();
        shape
            .iter()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .filter(|n| {
                n.checked_mul(std::mem::size_of::<U>())
                    .is_some_and(|b| b <= isize::MAX as usize)
            })
            .ok_or_else(|| Error::TooLarge {
                volume: self.partition.volume.name().to_string(),
                shape,
            })
    }

    fn not_zero_copy(&self, reason: NotZeroCopyReason) -> Error {
        Error::NotZeroCopy {
            volume: self.partition.volume.name().to_string(),
            reason,
        }
    }

    /// A zero-copy view of the selection, borrowing the volume's memory.
    ///
    /// Fails with [`Error::NotZeroCopy`] when `T` is not the stored type, the
    /// bytes are in the other byte order or misaligned, the backend has no
    /// addressable memory, the selection needs padding, or the channel list
    /// is not evenly spaced and ascending. Materialization works in all
    /// those cases.
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'p, T>> {
        let volume = &self.partition.volume;
        let layout = volume
            .layout()
            .ok_or_else(|| self.not_zero_copy(NotZeroCopyReason::NotAddressable))?;
        if let Some(reason) = layout.zero_copy_obstacle(T::DTYPE, std::mem::align_of::<T>()) {
            return Err(self.not_zero_copy(reason));
        }
        if !self.region.is_within(volume.shape()) {
            return Err(self.not_zero_copy(NotZeroCopyReason::Padded));
        }
        let mut steps = vec![1isize; volume.shape().len()];
        if let Some((a, list)) = &self.partition.channels {
            let step = if list.len() > 1 {
                list[1] as isize - list[0] as isize
            } else {
                1
            };
            // evenly spaced, ascending or descending (BGR -> RGB): a strided slice
            let even = step != 0
                && list
                    .windows(2)
                    .all(|w| w[1] as isize - w[0] as isize == step);
            if !even {
                return Err(self.not_zero_copy(NotZeroCopyReason::ChannelGather));
            }
            steps[*a] = step;
        }
        let slice: &'p [T] = bytemuck::try_cast_slice(layout.bytes()).map_err(|_| {
            self.not_zero_copy(NotZeroCopyReason::Misaligned {
                align: std::mem::align_of::<T>(),
            })
        })?;
        let full = ArrayView::from_shape(
            IxDyn(volume.shape()).strides(IxDyn(layout.strides())),
            slice,
        )
        .map_err(|e| Error::InvalidLayout {
            volume: volume.name().to_string(),
            detail: format!("strides {:?} do not fit the data: {e}", layout.strides()),
        })?;
        let mut view = full;
        view.slice_each_axis_inplace(|ad| {
            let r = self.region.range(ad.axis.index());
            Slice::new(
                r.start as isize,
                Some(r.end as isize),
                steps[ad.axis.index()],
            )
        });
        Ok(view)
    }

    fn maps(&self) -> Result<Vec<AxisMap>> {
        let shape = self.partition.volume.shape();
        let pad = self.partition.pad_mode();
        let mut maps = Vec::with_capacity(shape.len());
        for (a, &dim) in shape.iter().enumerate() {
            if let Some((ca, list)) = &self.partition.channels {
                if *ca == a {
                    maps.push(list.iter().map(|&c| Some(c)).collect());
                    continue;
                }
            }
            let range = self.region.range(a);
            let mut map: AxisMap = try_vec(range.len(), self.partition.volume.name())?;
            map.extend(range.map(|i| {
                if i < dim {
                    Some(i)
                } else {
                    match pad {
                        Some(PadMode::Edge) => Some(dim - 1),
                        Some(PadMode::Reflect) => Some(reflect(i, dim)),
                        _ => None,
                    }
                }
            }));
            maps.push(map);
        }
        Ok(maps)
    }

    /// The box of stored voxels materializing this selection reads (its
    /// region clipped to the volume, or wider for reflect padding).
    #[cfg_attr(not(feature = "rayon"), allow(dead_code))]
    pub(crate) fn read_bounds(&self) -> Option<Region> {
        self.maps().ok().and_then(|m| bounds_of(&m).ok().flatten())
    }

    /// The constant of constant padding, converted to the stored type first
    /// and then to `U`, so materializing as `U` equals materializing as the
    /// stored type and casting (as `np.pad(...).astype(U)` would).
    fn fill<U: Element>(&self) -> U {
        match self.partition.pad_mode() {
            Some(PadMode::Constant(v)) => {
                crate::dispatch_dtype!(self.partition.volume.dtype(), T => {
                    let stored = [T::from_f64(v)];
                    let mut out = [U::default()];
                    U::convert_from(T::run(&stored), &mut out);
                    out[0]
                })
            }
            _ => U::default(),
        }
    }

    /// Reads stored voxels of `region`, through the walk's session when
    /// this selection belongs to a walk.
    fn read_stored(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        match self.session {
            Some(Session(session)) => session.read_region(region, out),
            None => self.partition.volume.read_region(region, out),
        }
    }

    /// The same selection, read through a walk's `session`.
    #[cfg_attr(not(feature = "rayon"), allow(dead_code))]
    pub(crate) fn in_session<'s>(self, session: Option<&'s dyn WalkSession>) -> Selected<'s, V>
    where
        'p: 's,
    {
        Selected {
            partition: self.partition,
            cells: self.cells,
            region: self.region,
            session: session.map(Session),
        }
    }

    /// Copies the selection into `data` laid out with `strides`.
    fn gather_into<U: Element>(&self, data: &mut [U], strides: &[usize]) -> Result<()> {
        let volume = &self.partition.volume;
        let maps = self.maps()?;
        let fill = self.fill::<U>();
        if let Some(layout) = volume.layout() {
            if layout.shape() != volume.shape() || layout.dtype() != volume.dtype() {
                return Err(Error::InvalidLayout {
                    volume: volume.name().to_string(),
                    detail: format!(
                        "the layout describes {:?} of {} but the volume is {:?} of {}",
                        layout.shape(),
                        layout.dtype(),
                        volume.shape(),
                        volume.dtype()
                    ),
                });
            }
            gather(&layout, &maps, Dest { data, strides }, fill);
            return Ok(());
        }
        // No addressable memory: read the bounding box of the voxels the
        // maps touch, then gather from that buffer.
        let Some(region) = bounds_of(&maps)? else {
            // every output is fill
            data.fill(fill);
            return Ok(());
        };
        let (lo, ext) = (region.start().to_vec(), region.shape().to_vec());
        // The common case needs no staging buffer: the stored type, the
        // cell's own box with nothing filled or reordered, a C-order output.
        let identity = maps
            .iter()
            .zip(&lo)
            .all(|(m, &l)| m.iter().enumerate().all(|(i, v)| *v == Some(l + i)));
        if identity
            && U::DTYPE == volume.dtype()
            && strides == MemoryOrder::C.strides(&ext).as_slice()
        {
            return self.read_stored(&region, bytemuck::cast_slice_mut(data));
        }
        let dtype = volume.dtype();
        let nbytes = region
            .voxels()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| Error::InvalidLayout {
                volume: volume.name().to_string(),
                detail: format!("region {region} is too large to read"),
            })?;
        let mut buf: Vec<u8> = try_vec(nbytes, volume.name())?;
        buf.resize(nbytes, 0);
        self.read_stored(&region, &mut buf)?;
        let rebased: Vec<AxisMap> = maps
            .iter()
            .zip(&lo)
            .map(|(m, &l)| m.iter().map(|v| v.map(|v| v - l)).collect())
            .collect();
        let strides_src = MemoryOrder::C.strides(&ext);
        let src = Layout::new(
            &buf,
            &ext,
            &strides_src,
            dtype,
            crate::dtype::ByteOrder::native(),
        )?;
        gather(&src, &rebased, Dest { data, strides }, fill);
        Ok(())
    }

    /// Strides for an owned output: the volume's axis order (C for C data,
    /// F for F data), so the copy reads and writes front to back.
    fn owned_strides(&self, shape: &[usize]) -> Vec<usize> {
        match self.partition.volume.layout() {
            Some(l) => strides_like(l.strides(), shape),
            None => MemoryOrder::C.strides(shape),
        }
    }

    /// Materializes into an owned array of the stored type `T`.
    ///
    /// Fails with [`Error::DTypeMismatch`] if `T` is not the stored type; use
    /// [`to_array_as`](Self::to_array_as) to convert. The array has the
    /// volume's memory order (C or F), which ndarray records in its strides.
    pub fn to_array<T: Element>(&self) -> Result<ArrayD<T>> {
        let stored = self.partition.volume.dtype();
        if stored != T::DTYPE {
            return Err(Error::DTypeMismatch {
                volume: self.partition.volume.name().to_string(),
                stored,
                requested: T::DTYPE,
            });
        }
        self.to_array_as::<T>()
    }

    /// Materializes into an owned array of `U`, converting each element with
    /// `as` (e.g. `u16` to `f32`). Foreign byte order and misalignment are
    /// handled here.
    pub fn to_array_as<U: Element>(&self) -> Result<ArrayD<U>> {
        let n = self.checked_len::<U>()?;
        let shape = self.shape();
        let strides = self.owned_strides(&shape);
        let mut data = try_vec(n, self.partition.volume.name())?;
        data.resize(n, U::default());
        self.gather_into(&mut data, &strides)?;
        ArrayD::from_shape_vec(IxDyn(&shape).strides(IxDyn(&strides)), data).map_err(|e| {
            Error::InvalidLayout {
                volume: self.partition.volume.name().to_string(),
                detail: format!("output layout: {e}"),
            }
        })
    }

    /// Materializes into a caller's array (for example one slot of a batch,
    /// `batch.index_axis_mut(Axis(0), i)`), converting to `U`. When `dst` is
    /// contiguous in memory the voxels are written straight into it (no
    /// intermediate array); otherwise they go through one owned copy.
    pub fn read_into<U: Element, D: Dimension>(
        &self,
        mut dst: ArrayViewMut<'_, U, D>,
    ) -> Result<()> {
        let shape = self.shape();
        if dst.shape() != shape.as_slice() {
            return Err(Error::ShapeMismatch {
                expected: shape,
                found: dst.shape().to_vec(),
            });
        }
        let strides: Option<Vec<usize>> = dst
            .strides()
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect();
        match (strides, dst.as_slice_memory_order_mut()) {
            (Some(strides), Some(data)) => self.gather_into(data, &strides),
            _ => {
                let owned = self.to_array_as::<U>()?;
                dst.assign(&owned.into_dimensionality::<D>().map_err(|e| {
                    Error::InvalidLayout {
                        volume: self.partition.volume.name().to_string(),
                        detail: format!("destination dimensionality: {e}"),
                    }
                })?);
                Ok(())
            }
        }
    }

    /// The volume's affine with this selection's start folded in: voxel
    /// `(i, j, k)` of the selection maps to world millimetres, so a cell
    /// written as its own file overlays the source in a viewer.
    pub fn affine(&self) -> Option<[[f64; 4]; 4]> {
        let mut a = self.partition.volume.affine()?;
        let o = self.start_ijk();
        for row in a.iter_mut().take(3) {
            row[3] += row[0] * o[0] + row[1] * o[1] + row[2] * o[2];
        }
        Some(a)
    }

    /// World position (millimetres) of the selection's first voxel.
    pub fn world_origin(&self) -> Option<[f64; 3]> {
        let a = self.affine()?;
        Some([a[0][3], a[1][3], a[2][3]])
    }

    /// The start on the first three volume axes (missing axes are 0).
    fn start_ijk(&self) -> [f64; 3] {
        let mut o = [0.0; 3];
        for (slot, &s) in o.iter_mut().zip(self.region.start()) {
            *slot = s as f64;
        }
        o
    }

    /// Materializes as `U` with the volume's intensity scaling applied:
    /// `stored * slope + intercept`, computed in `f64` (nibabel's
    /// `get_fdata`). Without scaling this is [`to_array_as`](Self::to_array_as).
    /// Padding constants are stored values and are scaled too.
    pub fn to_array_scaled<U: Element>(&self) -> Result<ArrayD<U>> {
        let Some((slope, inter)) = self.partition.volume.scaling() else {
            return self.to_array_as::<U>();
        };
        let stored = self.to_array_as::<f64>()?;
        // as nibabel: multiply only by a slope other than 1 and add only an
        // intercept other than 0 (so -0.0 stays -0.0 under (1, 0))
        Ok(stored.mapv(|mut v| {
            if slope != 1.0 {
                v *= slope;
            }
            if inter != 0.0 {
                v += inter;
            }
            U::from_f64(v)
        }))
    }

    /// Materializes into a caller's vector, reusing its allocation: on return
    /// `buf` holds the selection in the volume's memory order, and the
    /// returned view (shape and strides) describes it.
    pub fn read_into_vec<'b, U: Element>(&self, buf: &'b mut Vec<U>) -> Result<ArrayViewD<'b, U>> {
        let n = self.checked_len::<U>()?;
        let shape = self.shape();
        let strides = self.owned_strides(&shape);
        // every element is overwritten: only grow, never clear
        buf.truncate(n);
        buf.try_reserve(n - buf.len())
            .map_err(|_| Error::TooLarge {
                volume: self.partition.volume.name().to_string(),
                shape: shape.clone(),
            })?;
        buf.resize(n, U::default());
        self.gather_into(buf, &strides)?;
        ArrayView::from_shape(IxDyn(&shape).strides(IxDyn(&strides)), buf.as_slice()).map_err(|e| {
            Error::InvalidLayout {
                volume: self.partition.volume.name().to_string(),
                detail: format!("output layout: {e}"),
            }
        })
    }
}
