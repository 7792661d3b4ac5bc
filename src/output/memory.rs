//! An output in memory.

use std::sync::Mutex;

use ndarray::ArrayD;

use super::{check_write, OutputVolume};
use crate::dtype::{ByteOrder, DType, Element};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::layout::{checked_size, LayoutMut, MemoryOrder};

/// An output held in memory (C order), for tests and small results.
#[derive(Debug)]
pub struct ArrayOutput {
    shape: Vec<usize>,
    dtype: DType,
    bytes: Mutex<Vec<u8>>,
}

impl ArrayOutput {
    /// A zero-filled output of `shape` and `dtype`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] for an empty or zero-extent shape,
    /// [`Error::TooLarge`] if the bytes cannot be allocated.
    pub fn new(shape: &[usize], dtype: DType) -> Result<Self> {
        let (_, nbytes) = checked_size("<memory>", shape, dtype)?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(nbytes)
            .map_err(|_| Error::TooLarge {
                volume: "<memory>".into(),
                shape: shape.to_vec(),
            })?;
        bytes.resize(nbytes, 0);
        Ok(ArrayOutput {
            shape: shape.to_vec(),
            dtype,
            bytes: Mutex::new(bytes),
        })
    }

    /// The voxels as an array of `T`.
    ///
    /// # Errors
    ///
    /// [`Error::DTypeMismatch`] if `T` is not the output's type.
    pub fn into_array<T: Element>(self) -> Result<ArrayD<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch {
                volume: "<memory>".into(),
                stored: self.dtype,
                requested: T::DTYPE,
            });
        }
        let bytes = self.bytes.into_inner().unwrap_or_else(|e| e.into_inner());
        let values: Vec<T> = bytes
            .chunks_exact(T::DTYPE.size())
            .map(|c| bytemuck::pod_read_unaligned(c))
            .collect();
        ArrayD::from_shape_vec(self.shape, values).map_err(|e| Error::InvalidLayout {
            volume: "<memory>".into(),
            detail: e.to_string(),
        })
    }
}

impl OutputVolume for ArrayOutput {
    fn name(&self) -> &str {
        "<memory>"
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()> {
        check_write("<memory>", &self.shape, self.dtype, region, data)?;
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        LayoutMut::contiguous(
            &mut bytes,
            &self.shape,
            MemoryOrder::C,
            self.dtype,
            ByteOrder::native(),
        )?
        .write_region(region, data)
    }

    fn finish(&self) -> Result<()> {
        Ok(())
    }
}
