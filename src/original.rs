//! The original `impart`'s 2D API, in Rust: an image partitioned into a grid
//! of `(height, width)` cells.
//!
//! It is a thin layer over [`Partition`]: the two image axes are
//! partitioned, the channel axis is carried (with the original's `channels`
//! selection), and everything else — views, materialization, stats,
//! fragmentation — is the N-dimensional code. Any 2D volume works too
//! (a raw, NIfTI or Zarr array of shape `(height, width)` or
//! `(height, width, channels)`), through [`ImagePartition::from_volume`].
//!
//! ```no_run
//! use impart::original::ImagePartition;
//! use ndarray::s;
//!
//! // Python: img = ImagePartition("image.png", cell_shape=(128, 128), stride=0.5, channels=(0, 1, 2))
//! let img = ImagePartition::new("image.png", (128, 128), 0.5, &[0, 1, 2])?;
//! println!("{:?} {:?}", img.shape(), img.step_size()); // (16, 29) (64.0, 64.0) for 1920x1080
//! let column = img.select(s![.., 0])?;               // img[:, 0]
//! let block = img.select(s![..3, 15..21])?;          // img[:3, 15:21]
//! let pixels = img.select(s![..10, -1])?.to_array::<u8>()?; // img[:10, -1].numpy()
//! let (left, top, width, height) = img.subregion(s![10, -1])?; // compute_image_subregion(10, -1)
//! # let _ = (column, block, pixels, left, top, width, height);
//! # Ok::<(), impart::Error>(())
//! ```

use std::path::Path;

use crate::error::{Error, Result};
use crate::grid::{Edge, PerAxis};
use crate::partition::{Partition, Selected};
use crate::selection::IntoSelection;
use crate::volume::{AnyVolume, OpenOptions, Volume};

/// An image (or any 2D volume) with a grid of cells over its two image axes.
#[derive(Debug)]
pub struct ImagePartition<V = AnyVolume> {
    part: Partition<V>,
}

impl ImagePartition<AnyVolume> {
    /// Opens a PNG, JPEG or TIFF with cells of `(height, width)`, a stride
    /// (one for both axes or `(y, x)`), keeping the given channels in order
    /// (the original's `channels=(0, 1, 2)`). A TIFF's first page at full
    /// resolution is the image, as pyvips opens it, read tile by tile (or
    /// mapped); [`with_options`](Self::with_options) opens another page or
    /// pyramid level.
    ///
    /// # Errors
    ///
    /// As [`crate::open`] for the file; [`Error::InvalidPartition`]
    /// if `channels` is empty or names a channel the image does not have;
    /// [`Error::Grid`] for a cell extent of 0, a stride that is not a finite
    /// number above 0 or a stride list that is not one or two values.
    pub fn new(
        path: impl AsRef<Path>,
        cell_shape: (usize, usize),
        stride: impl Into<PerAxis<f64>>,
        channels: &[usize],
    ) -> Result<Self> {
        Self::with_options(
            path,
            &OpenOptions::new(),
            cell_shape,
            stride,
            Some(channels),
        )
    }

    /// Opens an image keeping all its channels.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn open(
        path: impl AsRef<Path>,
        cell_shape: (usize, usize),
        stride: impl Into<PerAxis<f64>>,
    ) -> Result<Self> {
        Self::with_options(path, &OpenOptions::new(), cell_shape, stride, None)
    }

    /// Opens an image with `options`: a page of a TIFF stack
    /// ([`OpenOptions::page`]), a level of a pyramid
    /// ([`OpenOptions::level`]), a decode cache. A TIFF opens as one page,
    /// page 0 unless the options name another.
    ///
    /// ```no_run
    /// use impart::original::ImagePartition;
    /// use impart::OpenOptions;
    ///
    /// // level 2 of a pyramidal slide, in 512² cells
    /// let slide = ImagePartition::with_options(
    ///     "slide.tif",
    ///     &OpenOptions::new().level(2),
    ///     (512, 512),
    ///     1.0,
    ///     None,
    /// )?;
    /// # let _ = slide;
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_options(
        path: impl AsRef<Path>,
        options: &OpenOptions,
        cell_shape: (usize, usize),
        stride: impl Into<PerAxis<f64>>,
        channels: Option<&[usize]>,
    ) -> Result<Self> {
        let options = options.clone().single_page();
        Self::from_volume(options.open(path)?, cell_shape, stride, channels)
    }
}

impl<V: Volume> ImagePartition<V> {
    /// Partitions a 2D volume: shape `(height, width)` or
    /// `(height, width, channels)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPartition`] naming the volume if it does not have 2
    /// or 3 axes, if `channels` is given for a volume of 2 axes, or if
    /// `channels` is empty or names a channel the volume does not have;
    /// [`Error::Grid`] for a cell extent of 0, a stride that is not a finite
    /// number above 0 or a stride list that is not one or two values (see
    /// [`PartitionBuilder::build`](crate::PartitionBuilder::build)).
    pub fn from_volume(
        volume: V,
        cell_shape: (usize, usize),
        stride: impl Into<PerAxis<f64>>,
        channels: Option<&[usize]>,
    ) -> Result<Self> {
        let ndim = volume.shape().len();
        let name = volume.name().to_string();
        if !(2..=3).contains(&ndim) {
            return Err(Error::InvalidPartition {
                volume: name,
                detail: format!(
                    "an image has shape (height, width) or (height, width, channels), not {:?}",
                    volume.shape()
                ),
            });
        }
        let mut b = Partition::builder(volume)
            .cell(&[cell_shape.0, cell_shape.1])
            .stride(stride);
        if let Some(c) = channels {
            if ndim == 2 {
                return Err(Error::InvalidPartition {
                    volume: name,
                    detail: "channels given for an image without a channel axis".into(),
                });
            }
            b = b.channels(c);
        }
        Ok(ImagePartition { part: b.build()? })
    }

    /// The same grid (cells, steps, channels) with another edge policy:
    /// [`Edge::Shift`] moves the last row and column of cells inward so
    /// every cell has the full `cell_shape` (what a network's fixed input
    /// wants), [`Edge::Pad`] fills the part past the image. The default,
    /// as in the original, is [`Edge::Clip`]: border cells are cut at the
    /// image's edge.
    ///
    /// ```
    /// use impart::original::ImagePartition;
    /// use impart::{ArrayVolume, Edge, PadMode};
    /// use ndarray::{s, Array3};
    ///
    /// let pixels = Array3::<u8>::from_elem((100, 150, 3), 7);
    /// let image = ImagePartition::from_volume(ArrayVolume::new(pixels.view())?, (64, 64), 1.0, None)?;
    /// assert_eq!(image.select(s![1, 2])?.shape(), vec![36, 22, 3]); // clipped
    /// let shifted = image.with_edge(Edge::Shift)?;
    /// assert_eq!(shifted.select(s![1, 2])?.shape(), vec![64, 64, 3]);
    /// assert_eq!(shifted.subregion(s![1, 2])?, (86, 36, 64, 64)); // (left, top, width, height)
    /// let padded = shifted.with_edge(Edge::Pad(PadMode::Constant(0.0)))?;
    /// let corner = padded.select(s![1, 2])?.to_array::<u8>()?;
    /// assert_eq!((corner[[35, 21, 0]], corner[[36, 22, 0]]), (7, 0));
    /// # Ok::<(), impart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_volume`](Self::from_volume) (the grid is rebuilt; it was
    /// valid, so this fails only for a backend whose shape changed).
    pub fn with_edge(self, edge: Edge) -> Result<Self> {
        let grid = self.part.grid();
        let cell = grid.cell_shape().to_vec();
        let step = grid.step().to_vec();
        let channels = self.part.channels().map(|(_, list)| list.to_vec());
        let mut b = Partition::builder(self.part.into_volume())
            .cell(&cell)
            .step(PerAxis::Each(step))
            .edge(edge);
        if let Some(c) = &channels {
            b = b.channels(c);
        }
        Ok(ImagePartition { part: b.build()? })
    }

    /// The edge policy of the grid ([`Edge::Clip`] unless
    /// [`with_edge`](Self::with_edge) chose another).
    pub fn edge(&self) -> Edge {
        self.part.grid().edge()
    }

    /// Number of cells `(rows, columns)` (the original's `shape`).
    pub fn shape(&self) -> (usize, usize) {
        let s = self.part.grid().shape();
        (s[0], s[1])
    }

    /// Step between cells `(y, x)` in pixels (the original's `step_size`).
    pub fn step_size(&self) -> (f64, f64) {
        let s = self.part.grid().step();
        (s[0], s[1])
    }

    /// Cell shape `(height, width)`.
    pub fn cell_shape(&self) -> (usize, usize) {
        let s = self.part.grid().cell_shape();
        (s[0], s[1])
    }

    /// Image shape `(height, width)` (the original's `image_shape`).
    pub fn image_shape(&self) -> (usize, usize) {
        let s = self.part.volume().shape();
        (s[0], s[1])
    }

    /// The kept channels.
    pub fn channels(&self) -> Option<&[usize]> {
        self.part.channels().map(|(_, c)| c)
    }

    /// Selects cells like the original's `img[y, x]`: `s![.., 0]`,
    /// `s![..3, 15..21]`, `"10,-1"`.
    ///
    /// # Errors
    ///
    /// As [`Partition::select`]: [`Error::Selection`] if the selection does
    /// not parse or resolve against the grid.
    pub fn select(&self, selection: impl IntoSelection) -> Result<Selected<'_, V>> {
        self.part.select(selection)
    }

    /// The selection's bounding box as `(left, top, width, height)` (the
    /// original's `compute_image_subregion`).
    ///
    /// # Errors
    ///
    /// As [`select`](Self::select).
    pub fn subregion(&self, selection: impl IntoSelection) -> Result<(usize, usize, usize, usize)> {
        let sel = self.part.select(selection)?;
        let r = sel.region();
        Ok((r.start()[1], r.start()[0], r.shape()[1], r.shape()[0]))
    }

    /// The underlying N-dimensional partition.
    pub fn partition(&self) -> &Partition<V> {
        &self.part
    }
}
