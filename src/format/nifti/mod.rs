//! NIfTI-1 and NIfTI-2 (layer 6): what the reader and the writers share.
//!
//! - `read` (feature `nifti`): [`NiftiHeader::parse`] checks and widens a
//!   header read from a file, every field treated as hostile.
//! - `write`: a NIfTI-1 header for a shape, type, affine and scaling, with
//!   the quaternion form of an affine (nibabel's `set_qform`: the nearest
//!   rotation, qfac for a flip, shears dropped).
//! - here: the datatype table, both ways, once.
//!
#![cfg_attr(feature = "nifti", doc = "[`NiftiHeader::parse`]: NiftiHeader::parse")]
#![cfg_attr(not(feature = "nifti"), doc = "[`NiftiHeader::parse`]: crate#features")]

#[cfg(feature = "nifti")]
mod read;
mod write;

use crate::dtype::DType;

#[cfg(feature = "nifti")]
pub(crate) use read::invalid;
#[cfg(feature = "nifti")]
pub use read::NiftiHeader;
#[allow(unused_imports)]
pub(crate) use write::{nifti1_header, nifti_dims, translation, QForm};

/// Offset of the voxels in the NIfTI-1 files written here (348-byte header
/// plus the 4-byte extension flag).
pub(crate) const NII_VOX_OFFSET: usize = 352;

/// Size of a NIfTI-1 header.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of a NIfTI-2 header.
pub const NIFTI2_HEADER_SIZE: usize = 540;

/// A 4x4 row-major affine: voxel `(i, j, k)` to world millimetres.
pub type Affine = [[f64; 4]; 4];

/// The element type of a NIfTI `datatype` code, or what the code is when
/// this crate does not read it.
#[cfg_attr(not(feature = "nifti"), allow(dead_code))]
pub(crate) fn dtype_of(code: i16) -> std::result::Result<DType, &'static str> {
    Ok(match code {
        2 => DType::U8,
        4 => DType::I16,
        8 => DType::I32,
        16 => DType::F32,
        64 => DType::F64,
        256 => DType::I8,
        512 => DType::U16,
        768 => DType::U32,
        1024 => DType::I64,
        1280 => DType::U64,
        0 => return Err("unknown"),
        1 => return Err("binary"),
        32 => return Err("complex64"),
        128 => return Err("RGB24"),
        1536 => return Err("float128"),
        1792 => return Err("complex128"),
        2048 => return Err("complex256"),
        2304 => return Err("RGBA32"),
        _ => return Err("not a NIfTI type"),
    })
}

/// The NIfTI `datatype` code of a type.
pub(crate) fn nifti_datatype(dtype: DType) -> i16 {
    match dtype {
        DType::U8 => 2,
        DType::I16 => 4,
        DType::I32 => 8,
        DType::F32 => 16,
        DType::F64 => 64,
        DType::I8 => 256,
        DType::U16 => 512,
        DType::U32 => 768,
        DType::I64 => 1024,
        DType::U64 => 1280,
    }
}
