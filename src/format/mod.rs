//! What readers and writers of a file format share (layer 6): headers,
//! datatype tables and geometry, parsed and built in one place each.
//!
//! - [`nifti`]: NIfTI-1/NIfTI-2 headers, the datatype table, the
//!   quaternion form of an affine.
//! - `zarr` (feature `zarr`): Zarr data type names to element types and back.

#[cfg(any(feature = "nifti", feature = "fragment"))]
pub mod nifti;
#[cfg(feature = "zarr")]
pub(crate) mod zarr;
