//! Materialization: a selection copied out of the volume — into an owned
//! array (of the stored type, cast, or scaled), into a caller's array or
//! vector — through the gather engine, with padding and channel lists.

use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, Dimension, IxDyn, ShapeBuilder};

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::grid::{Edge, PadMode, Region};
use crate::layout::{gather, strides_like, AxisMap, Dest};
use crate::volume::{Layout, MemoryOrder, Volume};

use super::selected::Session;
use super::{Partition, Selected};

impl<V: Volume> Partition<V> {
    /// The padding of an [`Edge::Pad`] grid, `None` for the other edge
    /// policies.
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

/// `v * slope + inter` as nibabel computes it: multiplied only by a slope
/// other than 1 and added to only an intercept other than 0 (so -0.0 stays
/// -0.0 under `(1, 0)`).
fn scaled(mut v: f64, slope: f64, inter: f64) -> f64 {
    if slope != 1.0 {
        v *= slope;
    }
    if inter != 0.0 {
        v += inter;
    }
    v
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

impl<V: Volume> Selected<'_, V> {
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

    /// Whether the volume's last axis is carried (not partitioned): the
    /// channel axis of an image, for example.
    fn last_axis_carried(&self) -> bool {
        let n = self.partition.volume.shape().len();
        n > 0 && !self.partition.axes.contains(&(n - 1))
    }

    /// Reads stored voxels of `region`, through the walk's session when
    /// this selection belongs to a walk.
    fn read_stored(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        match self.session {
            Some(Session(session)) => session.read_region(region, out),
            None => self.partition.volume.read_region(region, out),
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

    /// Materializes into an owned array of the stored type `T`. The array
    /// has the volume's memory order (C or F), which ndarray records in its
    /// strides.
    ///
    /// # Errors
    ///
    /// [`Error::DTypeMismatch`] if `T` is not the stored type (use
    /// [`to_array_as`](Self::to_array_as) to convert); otherwise as
    /// [`to_array_as`](Self::to_array_as).
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
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the selection's elements as `U` do not fit in
    /// memory or cannot be allocated; for a backend without addressable
    /// memory, the error of its read ([`Error::Io`] for a raw or NIfTI file
    /// opened without mapping, [`Error::Decode`] for a Zarr chunk that does
    /// not decode); [`Error::InvalidLayout`] if the backend's layout
    /// disagrees with its shape or type (a backend bug).
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
    ///
    /// `dst` has the selection's [`shape`](Self::shape), or that shape with
    /// axes of extent 1 added or left out (a `(1, 64, 64, 64)` slot for a
    /// `(64, 64, 64)` cell), or, for a selection whose last axis is carried
    /// (channels), that axis moved to the front (a channel-first `(C, 64,
    /// 64)` slot for a `(64, 64, C)` cell). An exact match is tried first.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `dst` has none of those shapes; otherwise
    /// as [`to_array_as`](Self::to_array_as).
    pub fn read_into<U: Element, D: Dimension>(
        &self,
        mut dst: ArrayViewMut<'_, U, D>,
    ) -> Result<()> {
        let shape = self.shape();
        let Some(axis_of) = destination_axes(&shape, dst.shape(), self.last_axis_carried()) else {
            return Err(Error::ShapeMismatch {
                expected: shape,
                found: dst.shape().to_vec(),
            });
        };
        let dst_strides: Option<Vec<usize>> = dst
            .strides()
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect();
        // the destination's stride for each selection axis (0 where the
        // selection's axis has extent 1 and no counterpart)
        let strides: Option<Vec<usize>> =
            dst_strides.map(|ds| axis_of.iter().map(|a| a.map_or(0, |d| ds[d])).collect());
        let exact = dst.shape() == shape.as_slice();
        match (strides, dst.as_slice_memory_order_mut()) {
            (Some(strides), Some(data)) => self.gather_into(data, &strides),
            _ if !exact => {
                // a strided destination of another shape: through an owned
                // copy laid out like it
                let owned = self.to_array_as::<U>()?;
                let mut staged = ArrayD::<U>::from_elem(IxDyn(dst.shape()), U::default());
                for (k, v) in owned.indexed_iter() {
                    let mut ix = vec![0usize; staged.ndim()];
                    for (a, d) in axis_of.iter().enumerate() {
                        if let Some(d) = d {
                            ix[*d] = k[a];
                        }
                    }
                    staged[IxDyn(&ix)] = *v;
                }
                for (out, v) in dst.iter_mut().zip(staged.iter()) {
                    *out = *v;
                }
                Ok(())
            }
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

    /// Materializes as `U` with the volume's intensity scaling applied:
    /// `stored * slope + intercept`, computed in `f64` (nibabel's
    /// `get_fdata`). Without scaling this is [`to_array_as`](Self::to_array_as).
    /// Padding constants are stored values and are scaled too.
    ///
    /// # Errors
    ///
    /// As [`to_array_as`](Self::to_array_as).
    pub fn to_array_scaled<U: Element>(&self) -> Result<ArrayD<U>> {
        let Some((slope, inter)) = self.partition.volume.scaling() else {
            return self.to_array_as::<U>();
        };
        let stored = self.to_array_as::<f64>()?;
        Ok(stored.mapv(|v| U::from_f64(scaled(v, slope, inter))))
    }

    /// [`read_into`](Self::read_into) with the volume's intensity scaling
    /// applied, as [`to_array_scaled`](Self::to_array_scaled) computes it
    /// (`stored * slope + intercept` in `f64`, then converted to `U`): the
    /// same values, written into a caller's array (a batch slot of
    /// Hounsfield units or of a scanner's floating-point scale). Without
    /// scaling this is `read_into`.
    ///
    /// For an `f64` destination, or `f32` from a stored type that `f32`
    /// holds exactly (8- and 16-bit integers, `f32`), the stored values are
    /// read into `dst` and scaled in place; otherwise they go through one
    /// `f64` copy of the selection.
    ///
    /// # Errors
    ///
    /// As [`read_into`](Self::read_into); [`Error::TooLarge`] if the `f64`
    /// copy cannot be allocated.
    pub fn read_into_scaled<U: Element, D: Dimension>(
        &self,
        mut dst: ArrayViewMut<'_, U, D>,
    ) -> Result<()> {
        let Some((slope, inter)) = self.partition.volume.scaling() else {
            return self.read_into(dst);
        };
        let scale = |v: f64| scaled(v, slope, inter);
        use crate::dtype::DType;
        let stored = self.partition.volume.dtype();
        let exact = match U::DTYPE {
            DType::F64 => true,
            DType::F32 => matches!(
                stored,
                DType::U8 | DType::I8 | DType::U16 | DType::I16 | DType::F32
            ),
            _ => false,
        };
        if exact {
            self.read_into(dst.view_mut())?;
            dst.map_inplace(|v| *v = U::from_f64(scale(v.to_f64())));
            return Ok(());
        }
        let n = dst.len();
        let mut data = try_vec::<f64>(n, self.partition.volume.name())?;
        data.resize(n, 0.0);
        let mut staged = ndarray::Array::from_shape_vec(dst.raw_dim(), data).map_err(|e| {
            Error::InvalidLayout {
                volume: self.partition.volume.name().to_string(),
                detail: format!("staging layout: {e}"),
            }
        })?;
        self.read_into(staged.view_mut())?;
        ndarray::Zip::from(&mut dst)
            .and(&staged)
            .for_each(|d, &v| *d = U::from_f64(scale(v)));
        Ok(())
    }

    /// Materializes into a caller's vector, reusing its allocation: on return
    /// `buf` holds the selection in the volume's memory order, and the
    /// returned view (shape and strides) describes it.
    ///
    /// # Errors
    ///
    /// As [`to_array_as`](Self::to_array_as) ([`Error::TooLarge`] if `buf`
    /// cannot grow to the selection's size).
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

/// For each axis of a selection of `shape`, the axis of a destination of
/// `dst` it is written along (`None` for a selection axis of extent 1 that
/// the destination leaves out), or `None` if `dst` is not one of the shapes
/// [`Selected::read_into`] takes: the same shape, the same with axes of
/// extent 1 added or removed, or (when `channels_last`) the last axis moved
/// to the front, with the same freedom about unit axes.
fn destination_axes(
    shape: &[usize],
    dst: &[usize],
    channels_last: bool,
) -> Option<Vec<Option<usize>>> {
    if dst == shape {
        return Some((0..shape.len()).map(Some).collect());
    }
    // match the axes of extent > 1 in order, in the selection's order or
    // with its last axis first
    let mut orders: Vec<Vec<usize>> = vec![(0..shape.len()).collect()];
    if channels_last && shape.len() > 1 {
        let last = shape.len() - 1;
        orders.push(std::iter::once(last).chain(0..last).collect());
    }
    for order in orders {
        let mut axis_of = vec![None; shape.len()];
        let mut d = 0usize;
        let mut ok = true;
        for &a in &order {
            if shape[a] == 1 {
                continue;
            }
            while d < dst.len() && dst[d] == 1 {
                d += 1;
            }
            if d < dst.len() && dst[d] == shape[a] {
                axis_of[a] = Some(d);
                d += 1;
            } else {
                ok = false;
                break;
            }
        }
        if ok && dst[d.min(dst.len())..].iter().all(|&n| n == 1) {
            return Some(axis_of);
        }
    }
    None
}
