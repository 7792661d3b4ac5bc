//! [`Selected`], a lazy selection of cells, and its zero-copy views.

use ndarray::{ArrayView, ArrayViewD, IxDyn, ShapeBuilder, Slice};

use crate::chunked::WalkSession;
use crate::dtype::Element;
use crate::error::{Error, NotZeroCopyReason, Result};
use crate::grid::{CellBox, Region};
use crate::volume::Volume;

use super::Partition;

/// A lazy selection of cells: its region, and ways to read it.
#[derive(Debug)]
pub struct Selected<'p, V> {
    pub(super) partition: &'p Partition<V>,
    pub(super) cells: CellBox,
    pub(super) region: Region,
    /// The walk this selection belongs to, whose session serves its reads.
    pub(super) session: Option<Session<'p>>,
}

/// A walk's session, as a selection holds it.
#[derive(Clone, Copy)]
pub(super) struct Session<'p>(pub(super) &'p dyn WalkSession);

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
    /// selected channels). Under [`Edge::Pad`](crate::Edge::Pad) it may
    /// reach past the volume.
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

    fn not_zero_copy(&self, reason: NotZeroCopyReason) -> Error {
        Error::NotZeroCopy {
            volume: self.partition.volume.name().to_string(),
            reason,
        }
    }

    /// A zero-copy view of the selection, borrowing the volume's memory.
    /// Materialization works wherever a view is refused.
    ///
    /// # Errors
    ///
    /// [`Error::NotZeroCopy`] naming the volume and the reason when the
    /// backend has no addressable memory, `T` is not the stored type, the
    /// bytes are in the other byte order or not aligned for `T`, the
    /// selection reaches past the volume (padding), or the channel list is
    /// not evenly spaced (ascending or descending); [`Error::InvalidLayout`]
    /// if the backend's strides do not fit its bytes (a backend bug).
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
}
