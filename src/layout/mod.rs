//! Addressable voxels and the copy engine: layer 4, below every backend
//! and the partition.
//!
//! A [`Layout`] describes bytes plus element strides, checked once; the
//! gather engine (`gather`) copies any strided layout into a caller's typed
//! buffer (casts, padding, channel lists), and its inverse, scatter
//! (`scatter`), writes a C-order buffer into a mutable layout, refusing
//! strides under which two indices would share an element. Backends (raw,
//! NIfTI, decoded chunks) and the partition above them all copy through
//! here. This module imports only [`crate::dtype`], [`crate::grid`] and the
//! crate's error type.

mod gather;
mod scatter;
mod transpose;

use std::fmt;
use std::str::FromStr;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, NotZeroCopyReason, Result};

pub(crate) use gather::{copy_box, gather, read_region_bytes, strides_like, AxisMap, Dest};
pub use scatter::LayoutMut;

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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] if `strides` and `shape` differ in length,
    /// or if the last element (for a shape without a zero extent) does not
    /// fit in `bytes` or its offset overflows `usize`.
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
