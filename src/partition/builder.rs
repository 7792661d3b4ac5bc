//! [`PartitionBuilder`]: the knobs of a partition, checked against the
//! volume once, in [`build`](PartitionBuilder::build).

use crate::error::{Error, Result};
use crate::grid::{Edge, Grid, PerAxis, Spacing};
use crate::volume::Volume;

use super::Partition;

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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPartition`] naming the volume if no cell shape was
    /// given, there are more cell extents than volume axes (or not one per
    /// [`axes`](Self::axes) entry), a partitioned axis does not exist or is
    /// listed twice, or the channel selection is invalid (no carried axis
    /// left for it, a channel axis that is partitioned or does not exist,
    /// an empty list, a channel past the axis's end); [`Error::Grid`] for
    /// what the grid refuses (an empty cell shape, a cell extent of 0, a
    /// stride or step that is not a finite number above 0, a stride or step
    /// list of the wrong length, too many cells; see
    /// [`GridBuilder::build`](crate::grid::GridBuilder::build)).
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

impl<V: Volume> Partition<V> {
    /// The whole volume as one cell, for reading all of it:
    /// `Partition::whole(&volume)?.all()?.to_array_as::<f32>()?` (or a
    /// view, [`read_into`](crate::Selected::read_into) a caller's array,
    /// scaled reads, stats: everything a selection does).
    ///
    /// ```
    /// use impart::{ArrayVolume, Partition};
    /// use ndarray::Array3;
    ///
    /// let data = Array3::<u16>::from_shape_fn((4, 5, 6), |(z, y, x)| (z * 100 + y * 10 + x) as u16);
    /// let volume = ArrayVolume::new(data.view())?;
    /// let whole = Partition::whole(&volume)?;
    /// let floats = whole.all()?.to_array_as::<f32>()?;
    /// assert_eq!(floats.shape(), &[4, 5, 6]);
    /// assert_eq!(floats[[3, 4, 5]], 345.0);
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Grid`] for a volume without axes (a volume never has an
    /// axis of extent 0, so nothing else fails).
    pub fn whole(volume: V) -> Result<Partition<V>> {
        let shape = volume.shape().to_vec();
        Partition::builder(volume).cell(&shape).build()
    }

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
}
