//! Parsing NIfTI-1 and NIfTI-2 headers.

use std::path::Path;

use super::{dtype_of, Affine, NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::layout::checked_size;

/// The fields of a NIfTI-1 or NIfTI-2 header that locate, type, scale and
/// place the voxels, checked and widened to 64 bits.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// 1 or 2.
    pub version: u8,
    /// `dim[1..=dim[0]]`: x, y, z, t, ….
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
    /// The NIfTI `datatype` code.
    pub datatype: i16,
    /// Byte order of the header and data.
    pub byte_order: ByteOrder,
    /// Byte offset of the voxels in the data file.
    pub vox_offset: u64,
    /// `scl_slope`.
    pub scl_slope: f64,
    /// `scl_inter`.
    pub scl_inter: f64,
    /// `pixdim[0..8]` (`pixdim[0]` is qfac).
    pub pixdim: [f64; 8],
    /// `qform_code`.
    pub qform_code: i32,
    /// `sform_code`.
    pub sform_code: i32,
    /// `quatern_b`, `quatern_c`, `quatern_d`.
    pub quatern: [f64; 3],
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    pub qoffset: [f64; 3],
    /// `srow_x`, `srow_y`, `srow_z`.
    pub srow: [[f64; 4]; 3],
    /// Whether the magic says single file (`n+1`/`n+2`) rather than a pair.
    pub single_file: bool,
}

pub(crate) fn invalid(path: &Path, detail: impl Into<String>) -> Error {
    Error::InvalidHeader {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Maps a NIfTI datatype code to a [`DType`], or names the refused type.
/// Reads fixed-size little- or big-endian fields from header bytes.
struct Fields<'a> {
    bytes: &'a [u8],
    order: ByteOrder,
}

impl Fields<'_> {
    fn take<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.bytes[at..at + N]);
        if self.order == ByteOrder::Big {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.take(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.take(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.take(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.take(at))
    }
}

impl NiftiHeader {
    /// Parses and checks a header from the first bytes of a file (at least
    /// 348 for NIfTI-1, 540 for NIfTI-2). `path` names the file in errors.
    ///
    /// Repairs as nibabel's loader does: `pixdim[1..=3]` of 0 become 1 and
    /// negative ones their absolute value, a qfac (`pixdim[0]`) other than
    /// ±1 becomes 1, and sform/qform codes outside 0..=5 become 0.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] naming `path` if `bytes` are fewer than 4 or
    /// than the header needs, `sizeof_hdr` is neither 348 nor 540 (in either
    /// byte order), the `nifti` crate refuses a NIfTI-1 header, the magic is
    /// not `n+1`/`ni1` (`n+2`/`ni2`), `dim[0]` is not 1 to 7 or an extent is
    /// below 1, or `vox_offset` is negative, fractional or not finite, lies
    /// inside the header of a single file, or overflows when the data bytes
    /// are added; [`Error::UnsupportedDType`] for a datatype this crate does
    /// not read (binary, complex, RGB, float128, or an unknown code);
    /// [`Error::InvalidLayout`] if the shape has more voxels or bytes than
    /// memory can address.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        if bytes.len() < 4 {
            return Err(invalid(
                path,
                format!("{} bytes is too short for a NIfTI header", bytes.len()),
            ));
        }
        let first = [bytes[0], bytes[1], bytes[2], bytes[3]];
        let (le, be) = (i32::from_le_bytes(first), i32::from_be_bytes(first));
        let size_of = |n: usize| n as i32;
        if le == size_of(NIFTI1_HEADER_SIZE) || be == size_of(NIFTI1_HEADER_SIZE) {
            Self::parse1(bytes, path)
        } else if le == size_of(NIFTI2_HEADER_SIZE) || be == size_of(NIFTI2_HEADER_SIZE) {
            let order = if le == size_of(NIFTI2_HEADER_SIZE) {
                ByteOrder::Little
            } else {
                ByteOrder::Big
            };
            Self::parse2(bytes, path, order)
        } else {
            Err(invalid(
                path,
                format!("sizeof_hdr is {le} (byte-swapped {be}), neither 348 (NIfTI-1) nor 540 (NIfTI-2)"),
            ))
        }
    }

    fn parse1(bytes: &[u8], path: &Path) -> Result<Self> {
        if bytes.len() < NIFTI1_HEADER_SIZE {
            return Err(invalid(
                path,
                format!("NIfTI-1 header truncated at {} of 348 bytes", bytes.len()),
            ));
        }
        let h = nifti::NiftiHeader::from_reader(&bytes[..NIFTI1_HEADER_SIZE])
            .map_err(|e| invalid(path, format!("NIfTI-1 header: {e}")))?;
        let single_file = match &h.magic {
            b"n+1\0" => true,
            b"ni1\0" => false,
            m => {
                return Err(invalid(
                    path,
                    format!("magic {m:?} is neither \"n+1\" nor \"ni1\""),
                ))
            }
        };
        let byte_order = match h.endianness {
            nifti::Endianness::Little => ByteOrder::Little,
            nifti::Endianness::Big => ByteOrder::Big,
        };
        let ndim = h.dim[0] as usize;
        // NIfTI-1 dims are signed 16-bit; the nifti crate stores them as u16
        let dims: Vec<i64> = h.dim[1..].iter().map(|&d| d as i16 as i64).collect();
        let shape = check_dims(path, ndim as i64, &dims)?;
        let vox = h.vox_offset;
        if !vox.is_finite() || vox < 0.0 || vox.fract() != 0.0 || vox > (1u64 << 53) as f32 {
            return Err(invalid(
                path,
                format!("vox_offset {vox} is not a whole, non-negative byte offset"),
            ));
        }
        let f = |v: f32| v as f64;
        let header = NiftiHeader {
            version: 1,
            shape,
            dtype: DType::U8,
            datatype: h.datatype,
            byte_order,
            vox_offset: vox as u64,
            scl_slope: f(h.scl_slope),
            scl_inter: f(h.scl_inter),
            pixdim: h.pixdim.map(f),
            qform_code: h.qform_code as i32,
            sform_code: h.sform_code as i32,
            quatern: [f(h.quatern_b), f(h.quatern_c), f(h.quatern_d)],
            qoffset: [f(h.quatern_x), f(h.quatern_y), f(h.quatern_z)],
            srow: [h.srow_x.map(f), h.srow_y.map(f), h.srow_z.map(f)],
            single_file,
        };
        header.finish(path)
    }

    fn parse2(bytes: &[u8], path: &Path, order: ByteOrder) -> Result<Self> {
        if bytes.len() < NIFTI2_HEADER_SIZE {
            return Err(invalid(
                path,
                format!("NIfTI-2 header truncated at {} of 540 bytes", bytes.len()),
            ));
        }
        let single_file = match &bytes[4..8] {
            b"n+2\0" => true,
            b"ni2\0" => false,
            m => {
                return Err(invalid(
                    path,
                    format!("magic {m:?} is neither \"n+2\" nor \"ni2\""),
                ))
            }
        };
        let r = Fields { bytes, order };
        let ndim = r.i64(16);
        let dims: Vec<i64> = (1..8).map(|k| r.i64(16 + 8 * k)).collect();
        let shape = check_dims(path, ndim, &dims)?;
        let vox = r.i64(168);
        let vox_offset = u64::try_from(vox)
            .map_err(|_| invalid(path, format!("vox_offset {vox} is negative")))?;
        let mut pixdim = [0f64; 8];
        for (k, p) in pixdim.iter_mut().enumerate() {
            *p = r.f64(104 + 8 * k);
        }
        let row = |at: usize| [r.f64(at), r.f64(at + 8), r.f64(at + 16), r.f64(at + 24)];
        let header = NiftiHeader {
            version: 2,
            shape,
            dtype: DType::U8,
            datatype: r.i16(12),
            byte_order: order,
            vox_offset,
            scl_slope: r.f64(176),
            scl_inter: r.f64(184),
            pixdim,
            qform_code: r.i32(344),
            sform_code: r.i32(348),
            quatern: [r.f64(352), r.f64(360), r.f64(368)],
            qoffset: [r.f64(376), r.f64(384), r.f64(392)],
            srow: [row(400), row(432), row(464)],
            single_file,
        };
        header.finish(path)
    }

    /// Checks the type and the sizes that place the data, and repairs the
    /// fields nibabel repairs when it loads a header (`check_fix`), so the
    /// affine and voxel size agree with nibabel's: `pixdim[1..=3]` of 0
    /// becomes 1 and negative ones their absolute value, a qfac other than
    /// -1 or 1 becomes 1, and an sform or qform code outside 0..=5 becomes 0.
    fn finish(mut self, path: &Path) -> Result<Self> {
        for p in &mut self.pixdim[1..4] {
            if *p == 0.0 {
                *p = 1.0;
            } else if *p < 0.0 {
                *p = -*p;
            }
        }
        if self.pixdim[0] != 1.0 && self.pixdim[0] != -1.0 {
            self.pixdim[0] = 1.0;
        }
        for code in [&mut self.sform_code, &mut self.qform_code] {
            if !(0..=5).contains(code) {
                *code = 0;
            }
        }
        self.dtype = dtype_of(self.datatype).map_err(|name| Error::UnsupportedDType {
            path: path.to_path_buf(),
            name: format!("{name} (NIfTI datatype {})", self.datatype),
        })?;
        let header_size = self.header_size() as u64;
        if self.single_file && self.vox_offset < header_size {
            return Err(invalid(
                path,
                format!(
                    "vox_offset {} lies inside the {header_size}-byte header",
                    self.vox_offset
                ),
            ));
        }
        let (_, nbytes) = checked_size(&path.display().to_string(), &self.shape, self.dtype)?;
        self.vox_offset.checked_add(nbytes as u64).ok_or_else(|| {
            invalid(
                path,
                format!(
                    "vox_offset {} plus {nbytes} data bytes overflows",
                    self.vox_offset
                ),
            )
        })?;
        Ok(self)
    }

    /// 348 or 540.
    pub fn header_size(&self) -> usize {
        if self.version == 1 {
            NIFTI1_HEADER_SIZE
        } else {
            NIFTI2_HEADER_SIZE
        }
    }

    /// Bytes of voxel data.
    pub fn data_bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }

    /// Voxel size along x, y, z, … (`pixdim[1..=ndim]`).
    pub fn voxel_size(&self) -> Vec<f64> {
        self.pixdim[1..=self.shape.len()].to_vec()
    }

    /// `(slope, intercept)`, or `None` when the slope is 0 or not finite
    /// (nibabel's `get_slope_inter`); a non-finite intercept counts as 0.
    pub fn scaling(&self) -> Option<(f64, f64)> {
        let (s, i) = (self.scl_slope, self.scl_inter);
        if s == 0.0 || !s.is_finite() {
            return None;
        }
        Some((s, if i.is_finite() { i } else { 0.0 }))
    }

    /// The sform: rows `srow_x`, `srow_y`, `srow_z`.
    pub fn sform(&self) -> Affine {
        [
            self.srow[0],
            self.srow[1],
            self.srow[2],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// The qform, from the quaternion, `pixdim` and `qfac` (nibabel's
    /// `get_qform`; a qfac other than -1 counts as 1).
    pub fn qform(&self) -> Affine {
        let [b, c, d] = self.quatern;
        let w2 = 1.0 - (b * b + c * c + d * d);
        let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
        let r = quat_to_mat([a, b, c, d]);
        let qfac = if self.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        let zoom = [self.pixdim[1], self.pixdim[2], self.pixdim[3] * qfac];
        let mut out = [[0.0; 4]; 4];
        for i in 0..3 {
            for j in 0..3 {
                out[i][j] = r[i][j] * zoom[j];
            }
            out[i][3] = self.qoffset[i];
        }
        out[3] = [0.0, 0.0, 0.0, 1.0];
        out
    }

    /// The affine of an Analyze header: voxel sizes with x flipped, origin at
    /// the volume's centre (nibabel's `get_base_affine`).
    pub fn base_affine(&self) -> Affine {
        let ndim = self.shape.len();
        let mut shape = [1.0f64; 3];
        let mut zooms = [1.0f64; 3];
        for k in 0..ndim.min(3) {
            shape[k] = self.shape[k] as f64;
            zooms[k] = self.pixdim[k + 1];
        }
        zooms[0] = -zooms[0];
        let mut out = [[0.0; 4]; 4];
        for k in 0..3 {
            out[k][k] = zooms[k];
            out[k][3] = -((shape[k] - 1.0) / 2.0) * zooms[k];
        }
        out[3][3] = 1.0;
        out
    }

    /// The voxel-to-world affine nibabel reports (`img.affine`): sform if
    /// `sform_code != 0`, else qform if `qform_code != 0`, else the base
    /// affine.
    pub fn affine(&self) -> Affine {
        if self.sform_code != 0 {
            self.sform()
        } else if self.qform_code != 0 {
            self.qform()
        } else {
            self.base_affine()
        }
    }
}

fn check_dims(path: &Path, ndim: i64, dims: &[i64]) -> Result<Vec<usize>> {
    if !(1..=7).contains(&ndim) {
        return Err(invalid(
            path,
            format!("dim[0] is {ndim}; it must be 1 to 7"),
        ));
    }
    dims[..ndim as usize]
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            usize::try_from(d).ok().filter(|&d| d >= 1).ok_or_else(|| {
                invalid(
                    path,
                    format!("dim[{}] is {d}; every extent must be at least 1", k + 1),
                )
            })
        })
        .collect()
}

/// Rotation matrix of a quaternion `[w, x, y, z]` (nibabel's `quat2mat`).
fn quat_to_mat(q: [f64; 4]) -> [[f64; 3]; 3] {
    let [w, x, y, z] = q;
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_identity_and_flip() {
        let mut h = NiftiHeader {
            version: 1,
            shape: vec![4, 5, 6],
            dtype: DType::I16,
            datatype: 4,
            byte_order: ByteOrder::Little,
            vox_offset: 352,
            scl_slope: 0.0,
            scl_inter: 0.0,
            pixdim: [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0],
            qform_code: 1,
            sform_code: 0,
            quatern: [0.0, 0.0, 0.0],
            qoffset: [10.0, 20.0, 30.0],
            srow: [[0.0; 4]; 3],
            single_file: true,
        };
        assert_eq!(
            h.affine(),
            [
                [2.0, 0.0, 0.0, 10.0],
                [0.0, 3.0, 0.0, 20.0],
                [0.0, 0.0, 4.0, 30.0],
                [0.0, 0.0, 0.0, 1.0]
            ]
        );
        h.pixdim[0] = -1.0;
        assert_eq!(h.affine()[2][2], -4.0);
        // 180 degrees about z: b=c=0, d=1 -> diag(-1, -1, 1)
        h.pixdim[0] = 1.0;
        h.quatern = [0.0, 0.0, 1.0];
        let a = h.affine();
        assert_eq!((a[0][0], a[1][1], a[2][2]), (-2.0, -3.0, 4.0));
        // neither form: nibabel's base affine
        h.qform_code = 0;
        assert_eq!(
            h.affine(),
            [
                [-2.0, 0.0, 0.0, 3.0],
                [0.0, 3.0, 0.0, -6.0],
                [0.0, 0.0, 4.0, -10.0],
                [0.0, 0.0, 0.0, 1.0]
            ]
        );
        assert_eq!(h.scaling(), None);
        h.scl_slope = f64::NAN;
        assert_eq!(h.scaling(), None);
        h.scl_slope = 2.0;
        h.scl_inter = -1.0;
        assert_eq!(h.scaling(), Some((2.0, -1.0)));
    }

    #[test]
    fn short_and_foreign_headers() {
        let p = Path::new("x.nii");
        assert!(NiftiHeader::parse(&[], p).is_err());
        assert!(NiftiHeader::parse(&[1, 2, 3, 4, 5], p).is_err());
        let mut b = vec![0u8; 348];
        b[..4].copy_from_slice(&348i32.to_le_bytes());
        assert!(NiftiHeader::parse(&b[..100], p).is_err());
        // zero dim[0]
        assert!(NiftiHeader::parse(&b, p).is_err());
    }
}
