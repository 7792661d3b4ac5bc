//! NIfTI-1 and NIfTI-2 headers (layer 6): what the reader and the writers
//! share.
//!
//! [`NiftiHeader::parse`] checks and widens a header read from a file (every
//! field treated as hostile); the writer side builds a NIfTI-1 header for a
//! shape, type, affine and scaling (`nifti1_header`), with the quaternion
//! form of an affine (`QForm`, nibabel's `set_qform`: the nearest rotation,
//! qfac for a flip, shears dropped). The datatype table lives here once.

use std::path::Path;

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::layout::checked_size;

/// Offset of the voxels in the NIfTI-1 files written here (348-byte header
/// plus the 4-byte extension flag).
pub(crate) const NII_VOX_OFFSET: usize = 352;

/// Size of a NIfTI-1 header.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of a NIfTI-2 header.
pub const NIFTI2_HEADER_SIZE: usize = 540;

/// A 4x4 row-major affine: voxel `(i, j, k)` to world millimetres.
pub type Affine = [[f64; 4]; 4];

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
fn dtype_of(code: i16) -> std::result::Result<DType, &'static str> {
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

/// `dim[0..8]` of a NIfTI-1 header for `shape`, or why it has none.
pub(crate) fn nifti_dims(shape: &[usize]) -> std::result::Result<[i16; 8], String> {
    if shape.is_empty() || shape.len() > 7 {
        return Err(format!(
            "NIfTI holds 1 to 7 axes; this shape has {} ({shape:?})",
            shape.len()
        ));
    }
    let mut dim = [1i16; 8];
    dim[0] = shape.len() as i16;
    for (k, &n) in shape.iter().enumerate() {
        dim[k + 1] = i16::try_from(n).map_err(|_| {
            format!("NIfTI-1 extents are at most 32767; this shape has {n} on axis {k}")
        })?;
    }
    Ok(dim)
}

type Mat3 = [[f64; 3]; 3];

/// The identity moved to `start` (its first three axes).
pub(crate) fn translation(start: &[usize]) -> Affine {
    let mut a = [[0.0; 4]; 4];
    for (k, row) in a.iter_mut().enumerate() {
        row[k] = 1.0;
    }
    for (k, &s) in start.iter().take(3).enumerate() {
        a[k][3] = s as f64;
    }
    a
}

/// A 352-byte NIfTI-1 single-file header (348 bytes plus a zero extension
/// flag), little-endian.
pub(crate) fn nifti1_header(
    shape: &[usize],
    dtype: DType,
    affine: &Affine,
    scaling: Option<(f64, f64)>,
    descrip: &str,
) -> std::result::Result<[u8; NII_VOX_OFFSET], String> {
    let dim = nifti_dims(shape)?;
    let mut h = [0u8; NII_VOX_OFFSET];
    let put = |h: &mut [u8; NII_VOX_OFFSET], at: usize, b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
    };
    put(&mut h, 0, &348i32.to_le_bytes());
    h[38] = b'r'; // `regular`, as the NIfTI reference library writes it
    for (k, d) in dim.iter().enumerate() {
        put(&mut h, 40 + 2 * k, &d.to_le_bytes());
    }
    put(&mut h, 70, &nifti_datatype(dtype).to_le_bytes());
    put(&mut h, 72, &((dtype.size() * 8) as i16).to_le_bytes());
    let q = QForm::of(affine);
    let mut pixdim = [1.0f64; 8];
    pixdim[0] = q.qfac;
    pixdim[1..4].copy_from_slice(&q.zooms);
    for (k, p) in pixdim.iter().enumerate() {
        put(&mut h, 76 + 4 * k, &(*p as f32).to_le_bytes());
    }
    put(&mut h, 108, &(NII_VOX_OFFSET as f32).to_le_bytes());
    let (slope, inter) = scaling.unwrap_or((0.0, 0.0));
    put(&mut h, 112, &(slope as f32).to_le_bytes());
    put(&mut h, 116, &(inter as f32).to_le_bytes());
    h[123] = 2; // xyzt_units: millimetres
    let d = descrip.as_bytes();
    put(&mut h, 148, &d[..d.len().min(79)]);
    put(&mut h, 252, &1i16.to_le_bytes()); // qform_code: scanner
    put(&mut h, 254, &1i16.to_le_bytes()); // sform_code: scanner
    for (k, (b, row)) in q.quatern.iter().zip(affine).enumerate() {
        put(&mut h, 256 + 4 * k, &(*b as f32).to_le_bytes());
        put(&mut h, 268 + 4 * k, &(row[3] as f32).to_le_bytes());
    }
    for (r, row) in affine.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(&mut h, 280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
        }
    }
    put(&mut h, 344, b"n+1\0");
    Ok(h)
}

/// The quaternion form of an affine: the rotation closest to its 3x3 part
/// with the voxel sizes divided out (nibabel's `set_qform`: a negative
/// determinant becomes qfac -1, shears are dropped).
pub(crate) struct QForm {
    pub(crate) quatern: [f64; 3],
    pub(crate) qfac: f64,
    pub(crate) zooms: [f64; 3],
}

impl QForm {
    pub(crate) fn of(a: &Affine) -> Self {
        let mut r: Mat3 = [[0.0; 3]; 3];
        let mut zooms = [1.0; 3];
        for j in 0..3 {
            let z = (0..3).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt();
            if z > 0.0 && z.is_finite() {
                zooms[j] = z;
                for i in 0..3 {
                    r[i][j] = a[i][j] / z;
                }
            } else {
                r[j][j] = 1.0;
            }
        }
        let mut qfac = 1.0;
        if det(&r) < 0.0 {
            qfac = -1.0;
            for row in &mut r {
                row[2] = -row[2];
            }
        }
        let rot =
            nearest_rotation(&r).unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let [_, b, c, d] = quaternion(&rot);
        QForm {
            quatern: [b, c, d],
            qfac,
            zooms,
        }
    }
}

fn det(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// The orthogonal polar factor of `m` (the nearest rotation for a positive
/// determinant), by Newton's iteration `X <- (X + X^-T) / 2`.
fn nearest_rotation(m: &Mat3) -> Option<Mat3> {
    let mut x = *m;
    for _ in 0..100 {
        let d = det(&x);
        // also refuses NaN
        if d.abs().partial_cmp(&1e-12) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        // X^-T = cofactor(X) / det
        let mut next = [[0.0; 3]; 3];
        let mut change = 0.0f64;
        for i in 0..3 {
            for j in 0..3 {
                let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
                let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
                let cof = x[i1][j1] * x[i2][j2] - x[i1][j2] * x[i2][j1];
                next[i][j] = 0.5 * (x[i][j] + cof / d);
                change = change.max((next[i][j] - x[i][j]).abs());
            }
        }
        x = next;
        if change < 1e-15 {
            break;
        }
    }
    x.iter().flatten().all(|v| v.is_finite()).then_some(x)
}

/// The unit quaternion `[a, b, c, d]` (`a >= 0`) of a rotation matrix
/// (the NIfTI reference library's `nifti_mat44_to_quatern`).
fn quaternion(r: &Mat3) -> [f64; 4] {
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace = r11 + r22 + r33 + 1.0;
    let (mut a, mut b, mut c, mut d);
    if trace > 0.5 {
        a = 0.5 * trace.sqrt();
        b = 0.25 * (r32 - r23) / a;
        c = 0.25 * (r13 - r31) / a;
        d = 0.25 * (r21 - r12) / a;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            a = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            a = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            a = 0.25 * (r21 - r12) / d;
        }
        if a < 0.0 {
            (a, b, c, d) = (-a, -b, -c, -d);
        }
    }
    [a, b, c, d]
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

    #[test]
    fn qform_of_rotations_and_flips() {
        // 90 degrees about z, voxel sizes 2, 3, 4, x flipped
        let a: Affine = [
            [0.0, -3.0, 0.0, 1.0],
            [-2.0, 0.0, 0.0, 2.0],
            [0.0, 0.0, 4.0, 3.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let q = QForm::of(&a);
        assert_eq!(q.zooms, [2.0, 3.0, 4.0]);
        assert_eq!(q.qfac, -1.0);
        // rebuild as the NIfTI reader does and compare
        let [b, c, d] = q.quatern;
        let w = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [
                w * w + b * b - c * c - d * d,
                2.0 * (b * c - w * d),
                2.0 * (b * d + w * c),
            ],
            [
                2.0 * (b * c + w * d),
                w * w + c * c - b * b - d * d,
                2.0 * (c * d - w * b),
            ],
            [
                2.0 * (b * d - w * c),
                2.0 * (c * d + w * b),
                w * w + d * d - c * c - b * b,
            ],
        ];
        let zoom = [2.0, 3.0, 4.0 * q.qfac];
        for i in 0..3 {
            for j in 0..3 {
                assert!((r[i][j] * zoom[j] - a[i][j]).abs() < 1e-12, "{i} {j}");
            }
        }
        // a degenerate affine still gives a header
        let q = QForm::of(&[[0.0; 4]; 4]);
        assert_eq!((q.quatern, q.qfac, q.zooms), ([0.0; 3], 1.0, [1.0; 3]));
    }

    #[test]
    fn nifti_dims_are_checked() {
        assert!(nifti_dims(&[]).is_err());
        assert!(nifti_dims(&[1; 8]).is_err());
        assert!(nifti_dims(&[32768, 2]).is_err());
        assert_eq!(nifti_dims(&[4, 5]).unwrap(), [2, 4, 5, 1, 1, 1, 1, 1]);
    }
}
