//! Building NIfTI-1 headers.

use super::{nifti_datatype, Affine, NII_VOX_OFFSET};
use crate::dtype::DType;

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
