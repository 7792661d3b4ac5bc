//! Output volumes (layer 9), the mirror of [`crate::volume`]: where results
//! go.
//!
//! An [`OutputVolume`] has a shape and an element type and takes regions of
//! C-order, native-endian elements ([`write_region`](OutputVolume::write_region)),
//! from any thread; [`finish`](OutputVolume::finish) completes it. Until
//! then the output lives under a temporary name beside its path
//! ([`crate::io`]'s policy), so a crash never leaves a file that looks
//! complete.
//!
//! | output | type | how |
//! |---|---|---|
//! | raw binary | [`RawOutput`] | a writable mapping of the file, C or F order, either byte order |
//! | NIfTI `.nii` / `.nii.gz` | [`NiftiOutput`] (feature `nifti`) | a NIfTI-1 header (affine, scaling, optionally taken from a source volume so the result overlays it), then voxels through a writable mapping; `.nii.gz` is compressed on `finish`, streaming |
//! | Zarr v3 (or v2) | [`ZarrOutput`] (feature `zarr`) | chunks written by `zarrs` (zstd), a region at a time |
//! | OME-Zarr label image | [`OmeLabels`] (feature `zarr`) | a [`ZarrOutput`] at `<image>/labels/<name>/0`, then the NGFF metadata that makes viewers draw it over the image |
//! | memory | [`ArrayOutput`] | a buffer, taken back as an ndarray array |
//!
//! ```
//! use impart::output::{ArrayOutput, OutputVolume};
//! use impart::{DType, Region};
//!
//! let out = ArrayOutput::new(&[2, 3], DType::U16)?;
//! let row: Vec<u8> = [1u16, 2, 3].iter().flat_map(|v| v.to_ne_bytes()).collect();
//! out.write_region(&Region::new(vec![1, 0], vec![1, 3])?, &row)?;
//! out.finish()?;
//! assert_eq!(out.into_array::<u16>()?, ndarray::arr2(&[[0, 0, 0], [1, 2, 3]]).into_dyn());
//! # Ok::<(), impart::Error>(())
//! ```
//!
#![cfg_attr(feature = "nifti", doc = "[`NiftiOutput`]: NiftiOutput")]
#![cfg_attr(not(feature = "nifti"), doc = "[`NiftiOutput`]: crate#features")]
#![cfg_attr(feature = "zarr", doc = "[`ZarrOutput`]: ZarrOutput")]
#![cfg_attr(feature = "zarr", doc = "[`OmeLabels`]: OmeLabels")]
#![cfg_attr(not(feature = "zarr"), doc = "[`OmeLabels`]: crate#features")]
#![cfg_attr(not(feature = "zarr"), doc = "[`ZarrOutput`]: crate#features")]

mod memory;
#[cfg(feature = "nifti")]
mod nifti;
#[cfg(feature = "zarr")]
mod ome;
mod raw;
#[cfg(feature = "zarr")]
mod zarr;

pub use memory::ArrayOutput;
#[cfg(feature = "nifti")]
pub use nifti::{NiftiOutput, NiftiOutputOptions};
#[cfg(feature = "zarr")]
pub use ome::OmeLabels;
pub use raw::{RawOutput, RawOutputOptions};
#[cfg(feature = "zarr")]
pub use zarr::ZarrOutput;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::grid::Region;

/// Where a resumable output of `target` lives until it is finished
/// (`.<name>.resumable.impart-tmp` beside it; see
/// [`RawOutputOptions::resumable`]): while it exists, the output is
/// unfinished.
pub fn resumable_temp_path(target: &std::path::Path) -> std::path::PathBuf {
    crate::io::resumable_temp_path(target)
}

/// A volume that results are written into; see the [module docs](self).
pub trait OutputVolume: Send + Sync {
    /// A name for messages: the final path, or `<memory>`.
    fn name(&self) -> &str;

    /// Extent per axis.
    fn shape(&self) -> &[usize];

    /// Element type of the output.
    fn dtype(&self) -> DType;

    /// Writes `data`, the voxels of `region` as C-order, native-endian
    /// elements of [`dtype`](OutputVolume::dtype). Calls may come from many
    /// threads; regions written twice hold the last write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] for a region outside the output or a buffer
    /// that is not the region's bytes; the writer's error ([`Error::Io`],
    /// [`Error::Write`]) otherwise.
    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()>;

    /// Completes the output: flushes it, writes what goes last (metadata,
    /// compression) and renames it to its final path. Later writes are
    /// errors; a second `finish` does nothing.
    ///
    /// # Errors
    ///
    /// The writer's error ([`Error::Io`], [`Error::Write`]).
    fn finish(&self) -> Result<()>;
}

/// Checks a write against an output's shape and type.
pub(crate) fn check_write(
    name: &str,
    shape: &[usize],
    dtype: DType,
    region: &Region,
    data: &[u8],
) -> Result<()> {
    let invalid = |detail: String| Error::InvalidLayout {
        volume: name.to_string(),
        detail,
    };
    if region.ndim() != shape.len() || !region.is_within(shape) {
        return Err(invalid(format!(
            "region {region} is outside the output {shape:?}"
        )));
    }
    if region.voxels().and_then(|n| n.checked_mul(dtype.size())) != Some(data.len()) {
        return Err(invalid(format!(
            "{} bytes given for region {region} of {dtype}",
            data.len()
        )));
    }
    Ok(())
}

/// The error of a write after [`OutputVolume::finish`].
pub(crate) fn finished(name: &str) -> Error {
    Error::InvalidArgument {
        what: "output",
        detail: format!("{name} is finished; it takes no more writes"),
    }
}
