//! The inverse of gather: a C-order buffer written into a mutable layout.
//!
//! Writers (an output volume over a writable mapping, a stitcher's
//! finished region) hand a region's voxels as C-order native bytes; the
//! scatter writes them at their place in the destination's strides and byte
//! order. A [`LayoutMut`] refuses strides under which two indices share an
//! element (as `image`'s `has_aliased_samples` does for flat samples): a
//! write through such a layout would silently overwrite itself.

use super::MemoryOrder;
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;

/// Writable voxels: like [`Layout`](super::Layout), over a mutable byte
/// slice, with strides checked to be free of aliasing.
#[derive(Debug)]
pub struct LayoutMut<'a> {
    bytes: &'a mut [u8],
    shape: Vec<usize>,
    strides: Vec<usize>,
    dtype: DType,
    byte_order: ByteOrder,
}

fn invalid(detail: String) -> Error {
    Error::InvalidLayout {
        volume: "<layout>".into(),
        detail,
    }
}

impl<'a> LayoutMut<'a> {
    /// Describes `bytes` as a writable array of `shape` with element
    /// `strides`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] if the rank of `strides` is not that of
    /// `shape`, if the last element does not fit in `bytes`, or if two
    /// indices would address the same element (a stride of 0 on an axis
    /// longer than 1, or strides that overlap).
    pub fn new(
        bytes: &'a mut [u8],
        shape: &[usize],
        strides: &[usize],
        dtype: DType,
        byte_order: ByteOrder,
    ) -> Result<Self> {
        // bounds: the read-only check
        super::Layout::new(bytes, shape, strides, dtype, byte_order)?;
        let mut axes: Vec<usize> = (0..shape.len()).filter(|&k| shape[k] > 1).collect();
        axes.sort_by_key(|&k| strides[k]);
        let mut span = 1usize; // elements covered by the axes so far
        for &k in &axes {
            if strides[k] < span {
                return Err(invalid(format!(
                    "strides {strides:?} for shape {shape:?} alias: axis {k} (stride {}) \
                     overlaps the axes inside it",
                    strides[k]
                )));
            }
            span = strides[k].saturating_mul(shape[k]);
        }
        Ok(LayoutMut {
            bytes,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            dtype,
            byte_order,
        })
    }

    /// A contiguous writable array of `shape` in `order`.
    ///
    /// # Errors
    ///
    /// As [`LayoutMut::new`].
    pub fn contiguous(
        bytes: &'a mut [u8],
        shape: &[usize],
        order: MemoryOrder,
        dtype: DType,
        byte_order: ByteOrder,
    ) -> Result<Self> {
        let strides = order.strides(shape);
        Self::new(bytes, shape, &strides, dtype, byte_order)
    }

    /// Extent per axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Element strides per axis.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Stored element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Stored byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// Writes `src`, the voxels of `region` as C-order native-endian
    /// elements of [`dtype`](Self::dtype), at their place; the bytes are
    /// swapped when the layout stores the other byte order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] if `region` is not inside the layout or
    /// `src` is not exactly the region's bytes.
    pub fn write_region(&mut self, region: &Region, src: &[u8]) -> Result<()> {
        if region.ndim() != self.shape.len() || !region.is_within(&self.shape) {
            return Err(invalid(format!(
                "region {region} is outside the layout {:?}",
                self.shape
            )));
        }
        let size = self.dtype.size();
        let expected = region.voxels().and_then(|n| n.checked_mul(size));
        if expected != Some(src.len()) {
            return Err(invalid(format!(
                "{} bytes given for region {region} of {}",
                src.len(),
                self.dtype
            )));
        }
        if src.is_empty() {
            return Ok(());
        }
        let ndim = self.shape.len();
        let rshape = region.shape();
        let src_strides = MemoryOrder::C.strides(rshape);
        // the innermost loop runs along the destination's smallest stride
        let inner = (0..ndim)
            .filter(|&k| rshape[k] > 1)
            .min_by_key(|&k| (self.strides[k], std::cmp::Reverse(k)))
            .unwrap_or(ndim - 1);
        let swap = size > 1 && !self.byte_order.is_native();
        let contiguous = self.strides[inner] == 1 && src_strides[inner] == 1 && !swap;
        let n_inner = rshape[inner];
        let mut idx = vec![0usize; ndim];
        loop {
            let s0: usize = (0..ndim).map(|k| idx[k] * src_strides[k]).sum();
            let d0: usize = (0..ndim)
                .map(|k| (region.start()[k] + idx[k]) * self.strides[k])
                .sum();
            if contiguous {
                let (s, d) = (s0 * size, d0 * size);
                let len = n_inner * size;
                self.bytes[d..d + len].copy_from_slice(&src[s..s + len]);
            } else {
                for i in 0..n_inner {
                    let s = (s0 + i * src_strides[inner]) * size;
                    let d = (d0 + i * self.strides[inner]) * size;
                    let out = &mut self.bytes[d..d + size];
                    out.copy_from_slice(&src[s..s + size]);
                    if swap {
                        out.reverse();
                    }
                }
            }
            // odometer over the other axes
            let mut k = ndim;
            loop {
                if k == 0 {
                    return Ok(());
                }
                k -= 1;
                if k == inner {
                    continue;
                }
                idx[k] += 1;
                if idx[k] < rshape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn read_back(bytes: &[u8], shape: &[usize], strides: &[usize], bo: ByteOrder) -> Vec<u16> {
        let layout = Layout::new(bytes, shape, strides, DType::U16, bo).unwrap();
        let region = Region::new(vec![0; shape.len()], shape.to_vec()).unwrap();
        let mut out = vec![0u8; region.voxels().unwrap() * 2];
        crate::layout::read_region_bytes("<test>", &layout, &region, &mut out).unwrap();
        out.chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }

    /// Writing every region of a small grid of regions into C, F and
    /// byte-swapped layouts and reading back through gather gives the
    /// reference array.
    #[test]
    fn scatter_inverts_gather() {
        let shape = [4usize, 3, 5];
        let reference: Vec<u16> = (0..60u16).map(|v| v * 7 + 1).collect();
        for order in [MemoryOrder::C, MemoryOrder::F] {
            for bo in [ByteOrder::Little, ByteOrder::Big] {
                let mut bytes = vec![0u8; 120];
                let strides = order.strides(&shape);
                let mut dst = LayoutMut::new(&mut bytes, &shape, &strides, DType::U16, bo).unwrap();
                for (start, ext) in [
                    ([0, 0, 0], [2, 3, 5]),
                    ([2, 0, 0], [2, 1, 5]),
                    ([2, 1, 0], [2, 2, 3]),
                    ([2, 1, 3], [2, 2, 2]),
                ] {
                    let region = Region::new(start.to_vec(), ext.to_vec()).unwrap();
                    let mut src = Vec::new();
                    for i in 0..ext[0] {
                        for j in 0..ext[1] {
                            for k in 0..ext[2] {
                                let flat = ((start[0] + i) * 3 + start[1] + j) * 5 + start[2] + k;
                                src.extend_from_slice(&reference[flat].to_ne_bytes());
                            }
                        }
                    }
                    dst.write_region(&region, &src).unwrap();
                }
                assert_eq!(read_back(&bytes, &shape, &strides, bo), reference);
            }
        }
    }

    #[test]
    fn aliased_and_bad_writes_are_refused() {
        let mut bytes = vec![0u8; 64];
        // stride 0 on an axis of 2
        assert!(
            LayoutMut::new(&mut bytes, &[2, 4], &[0, 1], DType::U8, ByteOrder::native()).is_err()
        );
        // rows of 4 elements 2 apart overlap
        assert!(
            LayoutMut::new(&mut bytes, &[3, 4], &[2, 1], DType::U8, ByteOrder::native()).is_err()
        );
        // padding between rows is fine
        let mut ok =
            LayoutMut::new(&mut bytes, &[3, 4], &[6, 1], DType::U8, ByteOrder::native()).unwrap();
        let r = Region::new(vec![1, 1], vec![2, 2]).unwrap();
        assert!(ok.write_region(&r, &[1, 2, 3]).is_err());
        let outside = Region::new(vec![2, 3], vec![2, 2]).unwrap();
        assert!(ok.write_region(&outside, &[1, 2, 3, 4]).is_err());
        ok.write_region(&r, &[1, 2, 3, 4]).unwrap();
        assert_eq!(&bytes[6..14], &[0, 1, 2, 0, 0, 0, 0, 3]);
    }
}
