//! NIfTI-1 outputs, `.nii` and `.nii.gz`.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;

use super::raw::{RawOutput, RawOutputOptions};
use super::OutputVolume;
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::format::nifti::{nifti1_header, translation, Affine};
use crate::grid::Region;
use crate::layout::MemoryOrder;
use crate::volume::Volume;

/// Options of a NIfTI-1 output: shape, type, affine, scaling and a
/// description.
///
/// [`like`](Self::like) takes them from a source volume (a NIfTI file's
/// shape, affine and scaling), so a result written with them overlays the
/// source in any viewer.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiOutputOptions {
    shape: Vec<usize>,
    dtype: DType,
    affine: Option<Affine>,
    scaling: Option<(f64, f64)>,
    descrip: String,
    resumable: Option<bool>,
}

impl NiftiOutputOptions {
    /// An output of `shape` and `dtype` with the identity affine and no
    /// scaling.
    pub fn new(shape: &[usize], dtype: DType) -> Self {
        NiftiOutputOptions {
            shape: shape.to_vec(),
            dtype,
            affine: None,
            scaling: None,
            descrip: "written by impart".into(),
            resumable: None,
        }
    }

    /// The shape, type, affine and scaling of `source`.
    pub fn like(source: &(impl Volume + ?Sized)) -> Self {
        NiftiOutputOptions {
            shape: source.shape().to_vec(),
            dtype: source.dtype(),
            affine: source.affine(),
            scaling: source.scaling(),
            descrip: "written by impart".into(),
            resumable: None,
        }
    }

    /// The element type. A type other than the current one drops the
    /// scaling (a source's slope does not apply to, say, float
    /// probabilities); set it again with [`scaling`](Self::scaling) after
    /// this call if it should.
    pub fn dtype(mut self, dtype: DType) -> Self {
        if dtype != self.dtype {
            self.scaling = None;
        }
        self.dtype = dtype;
        self
    }

    /// The shape (for example the source's with a trailing class axis).
    pub fn shape(mut self, shape: &[usize]) -> Self {
        self.shape = shape.to_vec();
        self
    }

    /// The voxel-to-world affine (written as sform and qform).
    pub fn affine(mut self, affine: Affine) -> Self {
        self.affine = Some(affine);
        self
    }

    /// `scl_slope`, `scl_inter`, or `None`.
    pub fn scaling(mut self, scaling: Option<(f64, f64)>) -> Self {
        self.scaling = scaling;
        self
    }

    /// A resumable output (see [`RawOutputOptions::resumable`]): a stable
    /// temporary name, kept when dropped unfinished, reopened with `resume`.
    /// A `.nii.gz` is compressed through a second stable name
    /// (`.<name>.resumable-gz.impart-tmp`), which the next run overwrites if
    /// a killed one left it.
    pub fn resumable(mut self, resume: bool) -> Self {
        self.resumable = Some(resume);
        self
    }

    /// The header's `descrip` (at most 79 bytes are kept).
    pub fn descrip(mut self, text: &str) -> Self {
        self.descrip = text.to_string();
        self
    }

    /// Creates the output at `path`: `.nii` (or anything else) is written
    /// in place through a writable mapping; `.nii.gz` is written
    /// uncompressed under a temporary name and compressed into `path` by
    /// [`OutputVolume::finish`], streaming.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a shape NIfTI-1 cannot hold (more than
    /// 7 axes, an extent above 32767); as [`RawOutputOptions::create`]
    /// otherwise.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<NiftiOutput> {
        let path = path.as_ref();
        let affine = self.affine.unwrap_or_else(|| translation(&[]));
        let header = nifti1_header(
            &self.shape,
            self.dtype,
            &affine,
            self.scaling,
            &self.descrip,
        )
        .map_err(|detail| Error::InvalidArgument {
            what: "NIfTI output",
            detail: format!("{}: {detail}", path.display()),
        })?;
        let mut raw = RawOutputOptions::new(&self.shape, self.dtype)
            .order(MemoryOrder::F)
            .byte_order(ByteOrder::Little)
            .header(header.to_vec());
        if let Some(resume) = self.resumable {
            raw = raw.resumable(resume);
        }
        let raw = raw.create(path)?;
        let gz = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".gz"));
        Ok(NiftiOutput {
            raw,
            gz,
            resumable: self.resumable.is_some(),
        })
    }
}

/// A NIfTI-1 output; see [`NiftiOutputOptions`].
#[derive(Debug)]
pub struct NiftiOutput {
    raw: RawOutput,
    gz: bool,
    /// Compressed through a stable temporary name (a killed run's is
    /// overwritten by the next, not left behind).
    resumable: bool,
}

impl NiftiOutput {
    /// Whether a resumable output reopened an earlier run's temporary file.
    pub fn resumed(&self) -> bool {
        self.raw.resumed()
    }
}

impl OutputVolume for NiftiOutput {
    fn name(&self) -> &str {
        self.raw.name()
    }

    fn shape(&self) -> &[usize] {
        self.raw.shape()
    }

    fn dtype(&self) -> DType {
        self.raw.dtype()
    }

    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()> {
        self.raw.write_region(region, data)
    }

    fn finish(&self) -> Result<()> {
        if !self.gz {
            return self.raw.finish();
        }
        let resumable = self.resumable;
        self.raw.finish_with(|tmp, path| {
            let gz_tmp = if resumable {
                crate::io::resumable_temp_path_for(path, "resumable-gz")
            } else {
                crate::io::temp_path(path)
            };
            crate::io::write_atomic_via(path, &gz_tmp, true, |w, out| {
                let mut src = std::fs::File::open(tmp).map_err(|e| Error::io(tmp, e))?;
                let mut enc = GzEncoder::new(w, flate2::Compression::new(6));
                std::io::copy(&mut src, &mut enc).map_err(|e| Error::io(out, e))?;
                enc.finish()
                    .and_then(|w| w.flush())
                    .map_err(|e| Error::io(out, e))
            })?;
            std::fs::remove_file(tmp).map_err(|e| Error::io(tmp, e))
        })
    }
}
