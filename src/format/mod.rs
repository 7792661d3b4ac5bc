//! What readers and writers of a file format share (layer 6): headers,
//! datatype tables and geometry, parsed and built in one place each.
//!
//! - [`nifti`] (feature `nifti` or `fragment`): NIfTI-1/NIfTI-2 headers,
//!   the datatype table, the quaternion form of an affine.
//! - `zarr` (feature `zarr`): Zarr data type names to element types and back.
//!
#![cfg_attr(
    any(feature = "nifti", feature = "fragment"),
    doc = "[`nifti`]: mod@nifti"
)]
#![cfg_attr(
    not(any(feature = "nifti", feature = "fragment")),
    doc = "[`nifti`]: crate#features"
)]

#[cfg(any(feature = "nifti", feature = "fragment"))]
pub mod nifti;
#[cfg(feature = "zarr")]
pub(crate) mod zarr;
