//! Storage backends: where a volume's voxels live.
//!
//! A backend implements [`Volume`]: a shape, an element type, a name for
//! messages, and either addressable memory ([`Volume::layout`]: bytes plus
//! element strides, as for a memory-mapped file or an in-memory array) or a
//! way to read a region into a buffer ([`Volume::read_region`], for compressed
//! formats). Everything above this layer — views, materialization, parallel
//! walks — is written once against this trait.
//!
//! Backends here: [`RawVolume`] (a memory-mapped binary file),
//! [`ArrayVolume`] (an ndarray array, borrowed or owned) and, with the
//! `nifti` feature, `NiftiVolume` (NIfTI-1/2 through the raw path).

#[cfg(any(feature = "nifti", feature = "image"))]
mod cache;
#[cfg(feature = "image")]
pub mod image;
mod memory;
#[cfg(feature = "nifti")]
pub mod nifti;
mod raw;
#[cfg(feature = "zarr")]
pub mod zarr;

#[cfg(feature = "image")]
pub use image::ImageVolume;
pub use memory::ArrayVolume;
#[cfg(feature = "nifti")]
pub use nifti::{NiftiHeader, NiftiOptions, NiftiVolume};
pub use raw::{MapAdvice, RawOptions, RawVolume};
#[cfg(feature = "zarr")]
pub use zarr::{ZarrOptions, ZarrVolume};

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, NotZeroCopyReason, Result};
use crate::grid::Region;

/// Memory order of a volume's axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemoryOrder {
    /// Row-major: the last axis is contiguous (NumPy's default).
    #[default]
    C,
    /// Column-major: the first axis is contiguous (NIfTI, Fortran, MATLAB).
    F,
}

impl MemoryOrder {
    /// Element strides of a contiguous array of `shape` in this order.
    pub fn strides(self, shape: &[usize]) -> Vec<usize> {
        let mut strides = vec![0; shape.len()];
        let mut acc = 1usize;
        let mut assign = |i: usize| {
            strides[i] = acc;
            acc = acc.saturating_mul(shape[i]);
        };
        match self {
            MemoryOrder::C => (0..shape.len()).rev().for_each(&mut assign),
            MemoryOrder::F => (0..shape.len()).for_each(&mut assign),
        }
        strides
    }

    /// `"C"` or `"F"`.
    pub fn name(self) -> &'static str {
        match self {
            MemoryOrder::C => "C",
            MemoryOrder::F => "F",
        }
    }
}

impl fmt::Display for MemoryOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MemoryOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "C" | "c" | "row-major" => Ok(MemoryOrder::C),
            "F" | "f" | "column-major" | "fortran" => Ok(MemoryOrder::F),
            _ => Err(Error::InvalidArgument {
                what: "memory order",
                detail: format!("{s:?} is not C or F"),
            }),
        }
    }
}

/// Addressable voxels: a byte slice holding the element at index
/// `(i0, i1, …)` at byte `(i0 * strides[0] + i1 * strides[1] + …) * dtype.size()`.
///
/// Built with [`Layout::new`], which checks that every index of `shape`
/// lands inside `bytes`; the copy engine and views rely on that check.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    bytes: &'a [u8],
    shape: &'a [usize],
    strides: &'a [usize],
    dtype: DType,
    byte_order: ByteOrder,
}

impl<'a> Layout<'a> {
    /// Describes `bytes` as an array of `shape` with element `strides`
    /// (non-negative), checking that the last element fits.
    pub fn new(
        bytes: &'a [u8],
        shape: &'a [usize],
        strides: &'a [usize],
        dtype: DType,
        byte_order: ByteOrder,
    ) -> Result<Self> {
        let invalid = |detail: String| Error::InvalidLayout {
            volume: "<layout>".into(),
            detail,
        };
        if strides.len() != shape.len() {
            return Err(invalid(format!(
                "{} strides for a shape of {} axes",
                strides.len(),
                shape.len()
            )));
        }
        if !shape.contains(&0) {
            let last = shape
                .iter()
                .zip(strides)
                .try_fold(0usize, |acc, (&n, &st)| {
                    (n - 1).checked_mul(st).and_then(|v| acc.checked_add(v))
                });
            let needed = last
                .and_then(|l| l.checked_add(1))
                .and_then(|l| l.checked_mul(dtype.size()));
            match needed {
                Some(n) if n <= bytes.len() => {}
                _ => {
                    return Err(invalid(format!(
                        "shape {shape:?} with strides {strides:?} of {dtype} needs more than the {} bytes given",
                        bytes.len()
                    )))
                }
            }
        }
        Ok(Layout {
            bytes,
            shape,
            strides,
            dtype,
            byte_order,
        })
    }

    /// The voxel bytes, starting with the element at the origin.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Extent per axis.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// Element strides per axis.
    pub fn strides(&self) -> &'a [usize] {
        self.strides
    }

    /// Stored element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Stored byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// Why this memory cannot be viewed as `[T]`, if it cannot.
    pub fn zero_copy_obstacle(&self, requested: DType, align: usize) -> Option<NotZeroCopyReason> {
        if requested != self.dtype {
            return Some(NotZeroCopyReason::DType {
                stored: self.dtype,
                requested,
            });
        }
        if self.dtype.size() > 1 && !self.byte_order.is_native() {
            return Some(NotZeroCopyReason::ForeignByteOrder);
        }
        if (self.bytes.as_ptr() as usize) % align != 0 {
            return Some(NotZeroCopyReason::Misaligned { align });
        }
        None
    }
}

/// What a walk over cells tells a volume about the bytes of its layout; see
/// [`Volume::hint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessHint {
    /// The walk reads these bytes soon.
    WillNeed(Range<usize>),
    /// No later read of the walk touches these bytes.
    DontNeed(Range<usize>),
}

/// A volume: a shape, an element type, and access to its voxels.
///
/// Implement either [`layout`](Volume::layout) (addressable memory: views
/// and the fast copy path come for free) or
/// [`read_region`](Volume::read_region) (anything else).
pub trait Volume: Send + Sync {
    /// A name for messages: the file's path, or `<memory>`.
    fn name(&self) -> &str;

    /// Extent per axis.
    fn shape(&self) -> &[usize];

    /// Stored element type.
    fn dtype(&self) -> DType;

    /// The voxels as addressable memory, if the backend has them.
    fn layout(&self) -> Option<Layout<'_>> {
        None
    }

    /// Reads `region` (inside the volume) into `out` as C-order, native-endian
    /// elements of [`dtype`](Volume::dtype); `out` holds exactly the region's
    /// bytes. The default reads from [`layout`](Volume::layout).
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        let layout = self.layout().ok_or_else(|| Error::NotZeroCopy {
            volume: self.name().to_string(),
            reason: NotZeroCopyReason::NotAddressable,
        })?;
        crate::partition::copy::read_region_bytes(self.name(), &layout, region, out)
    }

    /// The voxel-to-world affine (4x4, row-major, millimetres), for formats
    /// that have one.
    fn affine(&self) -> Option<[[f64; 4]; 4]> {
        None
    }

    /// Intensity scaling `(slope, intercept)` that
    /// [`to_array_scaled`](crate::Selected::to_array_scaled) applies.
    fn scaling(&self) -> Option<(f64, f64)> {
        None
    }

    /// Announces a walk: the regions [`read_region`](Volume::read_region)
    /// is about to be asked for (in roughly this order; parallel walks read
    /// them concurrently), so a backend that decodes chunks can keep each
    /// one exactly as long as a later read needs it. Default: nothing.
    fn prepare_walk(&self, regions: &mut dyn Iterator<Item = Region>) {
        let _ = regions;
    }

    /// Ends a walk announced by [`prepare_walk`](Volume::prepare_walk):
    /// drop whatever was kept for it. Default: nothing.
    fn finish_walk(&self) {}

    /// Tells a volume with a [`layout`](Volume::layout) which of its bytes
    /// a walk needs next or no longer needs, so a memory-mapped file can
    /// ask the kernel to read ahead or to unmap pages behind the walk
    /// (`madvise`). Ranges are byte offsets into
    /// [`Layout::bytes`]. A hint never changes what is read. Default:
    /// nothing.
    fn hint(&self, hint: AccessHint) {
        let _ = hint;
    }

    /// Short description of the backend (`"raw"`, `"memory"`, …).
    fn kind(&self) -> &'static str;
}

macro_rules! forward_volume {
    ($($ty:ty),*) => {$(
        impl<V: Volume + ?Sized> Volume for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn shape(&self) -> &[usize] {
                (**self).shape()
            }
            fn dtype(&self) -> DType {
                (**self).dtype()
            }
            fn layout(&self) -> Option<Layout<'_>> {
                (**self).layout()
            }
            fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
                (**self).read_region(region, out)
            }
            fn affine(&self) -> Option<[[f64; 4]; 4]> {
                (**self).affine()
            }
            fn scaling(&self) -> Option<(f64, f64)> {
                (**self).scaling()
            }
            fn prepare_walk(&self, regions: &mut dyn Iterator<Item = Region>) {
                (**self).prepare_walk(regions)
            }
            fn finish_walk(&self) {
                (**self).finish_walk()
            }
            fn hint(&self, hint: AccessHint) {
                (**self).hint(hint)
            }
            fn kind(&self) -> &'static str {
                (**self).kind()
            }
        }
    )*};
}

forward_volume!(&V, Box<V>, std::sync::Arc<V>);

/// Checked number of voxels and bytes of a shape.
pub(crate) fn checked_size(volume: &str, shape: &[usize], dtype: DType) -> Result<(usize, usize)> {
    let invalid = |detail: String| Error::InvalidLayout {
        volume: volume.to_string(),
        detail,
    };
    if shape.is_empty() {
        return Err(invalid("the shape has no axes".into()));
    }
    if let Some(axis) = shape.iter().position(|&n| n == 0) {
        return Err(invalid(format!(
            "axis {axis} of shape {shape:?} has extent 0"
        )));
    }
    let voxels = shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| invalid(format!("shape {shape:?} has too many voxels")))?;
    let bytes = voxels
        .checked_mul(dtype.size())
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| invalid(format!("shape {shape:?} of {dtype} has too many bytes")))?;
    Ok((voxels, bytes))
}
