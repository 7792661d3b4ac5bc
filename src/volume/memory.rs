//! In-memory volumes: ndarray arrays, borrowed or owned.

use ndarray::{CowArray, Dimension, IxDyn};

use super::{checked_size, Layout, Volume};
use crate::dtype::{ByteOrder, DType, Element};
use crate::error::Result;

/// An ndarray array used as a volume, zero copy.
///
/// Borrowed views and owned arrays are both accepted. Arrays that are
/// contiguous in memory with non-negative strides, in any axis order (C, F
/// or permuted), are used in place; anything else (a strided slice, negative
/// strides) is copied once into C order when the volume is made.
///
/// ```
/// use impart::{ArrayVolume, Partition};
/// use ndarray::{s, Array3};
///
/// let data = Array3::<u8>::from_shape_fn((1080, 1920, 3), |(y, x, c)| (y + x + c) as u8);
/// let part = Partition::builder(ArrayVolume::new(data.view())?)
///     .cell(&[128, 128])
///     .stride(0.5)
///     .build()?;
/// let cell = part.select(s![10, -1])?;
/// assert_eq!(cell.region().start(), &[640, 1792, 0]);
/// assert_eq!(cell.view::<u8>()?, data.slice(s![640..768, 1792..1920, ..]).into_dyn());
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArrayVolume<'a, T: Element> {
    array: CowArray<'a, T, IxDyn>,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

impl<'a, T: Element> ArrayVolume<'a, T> {
    /// Wraps an array (a view, an owned array, or a `CowArray`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`](crate::Error::InvalidLayout) for an array
    /// without axes (0-dimensional) or with an axis of extent 0.
    pub fn new<D: Dimension>(array: impl Into<CowArray<'a, T, D>>) -> Result<Self> {
        let array: CowArray<'a, T, IxDyn> = array.into().into_dyn();
        let shape = array.shape().to_vec();
        checked_size("<memory>", &shape, T::DTYPE)?;
        let usable =
            array.as_slice_memory_order().is_some() && array.strides().iter().all(|&s| s >= 0);
        let array = if usable {
            array
        } else {
            CowArray::from(array.as_standard_layout().into_owned())
        };
        let strides = array.strides().iter().map(|&s| s as usize).collect();
        Ok(ArrayVolume {
            array,
            shape,
            strides,
        })
    }

    /// The wrapped array.
    pub fn array(&self) -> &CowArray<'a, T, IxDyn> {
        &self.array
    }
}

impl<T: Element> Volume for ArrayVolume<'_, T> {
    fn name(&self) -> &str {
        "<memory>"
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        T::DTYPE
    }

    fn layout(&self) -> Option<Layout<'_>> {
        let slice = self.array.as_slice_memory_order()?;
        Layout::new(
            bytemuck::cast_slice(slice),
            &self.shape,
            &self.strides,
            T::DTYPE,
            ByteOrder::native(),
        )
        .ok()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
