//! Small-block transposes for the tiled gather: `dst[c * ds + r] =
//! src[r * ss + c]` over a `rows x cols` block, in square register blocks
//! (8 x 4 for 1- and 2-byte elements, 4 x 4 for 4-byte, 2 x 2 for 8-byte)
//! with SSE2 unpack instructions on x86-64, element by element elsewhere
//! and for the ragged edges.
//!
//! Each kernel checks once that its corner of whole blocks lies inside both
//! slices, then loads and stores unchecked within it (bounds checks in the
//! 16-byte loads and stores measured about 12 % of a 64³ u16 transpose).

use bytemuck::Pod;

/// Writes the transpose of the `rows x cols` block of `src` (row stride
/// `ss`) into `dst` (row stride `ds`): `dst[c * ds + r] = src[r * ss + c]`.
///
/// Both blocks must lie inside their slices (`(rows - 1) * ss + cols <=
/// src.len()` and `(cols - 1) * ds + rows <= dst.len()`); out-of-bounds
/// indices panic like any slice index, they are never read or written.
pub(super) fn transpose<T: Pod>(
    src: &[T],
    ss: usize,
    dst: &mut [T],
    ds: usize,
    rows: usize,
    cols: usize,
) {
    let size = std::mem::size_of::<T>();
    transpose_bytes(
        bytemuck::cast_slice(src),
        ss * size,
        bytemuck::cast_slice_mut(dst),
        ds * size,
        (rows, cols),
        size,
    );
}

/// [`transpose`] on the bytes of elements of `size` bytes: `ss` and `ds`
/// are row strides in bytes, `block` is `(rows, cols)` in elements. The
/// rows need no alignment (a NIfTI file's voxels start after its header).
pub(super) fn transpose_bytes(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    block: (usize, usize),
    size: usize,
) {
    let (rows, cols) = block;
    if rows == 0 || cols == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    let done = blocks(src, ss, dst, ds, block, size);
    #[cfg(not(target_arch = "x86_64"))]
    let done = (0, 0);
    // element by element, the part outside the corner of whole blocks
    for r in 0..rows {
        let from = if r < done.0 { done.1 } else { 0 };
        for c in from..cols {
            let (s, d) = (r * ss + c * size, c * ds + r * size);
            dst[d..d + size].copy_from_slice(&src[s..s + size]);
        }
    }
}

/// Transposes the largest corner of whole register blocks with SSE2;
/// returns its size.
#[cfg(target_arch = "x86_64")]
fn blocks(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    (rows, cols): (usize, usize),
    size: usize,
) -> (usize, usize) {
    // (source rows, destination rows) per register block
    let (kr, kc) = match size {
        1 | 2 => (8, 4),
        4 => (4, 4),
        8 => (2, 2),
        _ => return (0, 0),
    };
    let done = (rows / kr * kr, cols / kc * kc);
    if done.0 == 0 || done.1 == 0 {
        return done;
    }
    // SAFETY: the kernels' only requirement is SSE2, which is part of the
    // x86-64 baseline (every CPU this compiles for has it); each checks the
    // corner against both slices itself.
    let copied = unsafe {
        match size {
            1 => sse2::blocks_u8(src, ss, dst, ds, done),
            2 => sse2::blocks_u16(src, ss, dst, ds, done),
            4 => sse2::blocks_u32(src, ss, dst, ds, done),
            _ => sse2::blocks_u64(src, ss, dst, ds, done),
        }
    };
    if copied {
        done
    } else {
        (0, 0)
    }
}

/// The register kernels, on bytes: `ss` and `ds` are row strides in bytes,
/// `done` the corner (in elements) of whole blocks to transpose. Each
/// checks that the corner lies inside both slices and copies nothing (and
/// returns `false`) when it does not; inside, loads and stores are
/// unchecked, every one within that corner.
///
/// They walk destination rows outermost, so each group of destination rows
/// is written front to back before the next: the rows are usually a power
/// of two apart (a 64³ slot's planes), and rows revisited later would have
/// been evicted by their cache-set neighbours in between.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cvtsi32_si128, _mm_loadl_epi64, _mm_loadu_si128, _mm_storel_epi64, _mm_storeu_si128,
        _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi16, _mm_unpacklo_epi32,
        _mm_unpacklo_epi64, _mm_unpacklo_epi8,
    };

    /// Whether the `done` corner of elements of `size` bytes lies inside
    /// both slices: the last source row ends by `(done.0 - 1) * ss + done.1
    /// * size` and the last destination row by `(done.1 - 1) * ds + done.0
    /// * size`. Every load and store of the kernels ends within these.
    fn fits(s: &[u8], ss: usize, d: &[u8], ds: usize, done: (usize, usize), size: usize) -> bool {
        let end = |rows: usize, stride: usize, cols: usize| {
            (rows.checked_sub(1)?)
                .checked_mul(stride)?
                .checked_add(cols.checked_mul(size)?)
        };
        matches!(end(done.0, ss, done.1), Some(e) if e <= s.len())
            && matches!(end(done.1, ds, done.0), Some(e) if e <= d.len())
    }

    /// Eight source rows by four destination rows: the low halves of the
    /// classic 8 x 8 unpack network. Four destination rows at a time, not
    /// eight: eight rows a power of two apart share one set of an 8-way
    /// L1 and evict each other before they are complete (measured 15x
    /// slower into a 64³ slot).
    #[target_feature(enable = "sse2")]
    pub(super) fn blocks_u16(
        s: &[u8],
        ss: usize,
        d: &mut [u8],
        ds: usize,
        done: (usize, usize),
    ) -> bool {
        if !fits(s, ss, d, ds, done, 2) {
            return false;
        }
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        for c0 in (0..done.1).step_by(4) {
            for r0 in (0..done.0).step_by(8) {
                // SAFETY: r0 + 8 <= done.0 and c0 + 4 <= done.1, so each
                // 8-byte load (columns c0..c0 + 4 of a row r0 + r) ends by
                // (done.0 - 1) * ss + done.1 * 2 and each 16-byte store
                // (elements r0..r0 + 8 of a row c0 + k) by (done.1 - 1) * ds
                // + done.0 * 2, both inside their slices (`fits`). The
                // intrinsics are unaligned loads and stores.
                unsafe {
                    let row = |r: usize| _mm_loadl_epi64(sp.add((r0 + r) * ss + c0 * 2).cast());
                    // pairs of rows interleaved: a0 b0 a1 b1 a2 b2 a3 b3
                    let ab = _mm_unpacklo_epi16(row(0), row(1));
                    let ce = _mm_unpacklo_epi16(row(2), row(3));
                    let fg = _mm_unpacklo_epi16(row(4), row(5));
                    let hi = _mm_unpacklo_epi16(row(6), row(7));
                    // columns 2k, 2k + 1 of the first four rows, then the last four
                    let q = [_mm_unpacklo_epi32(ab, ce), _mm_unpackhi_epi32(ab, ce)];
                    let p = [_mm_unpacklo_epi32(fg, hi), _mm_unpackhi_epi32(fg, hi)];
                    for k in 0..2 {
                        let at = dp.add((c0 + 2 * k) * ds + r0 * 2);
                        _mm_storeu_si128(at.cast(), _mm_unpacklo_epi64(q[k], p[k]));
                        _mm_storeu_si128(at.add(ds).cast(), _mm_unpackhi_epi64(q[k], p[k]));
                    }
                }
            }
        }
        true
    }

    /// Four by four 4-byte elements.
    #[target_feature(enable = "sse2")]
    pub(super) fn blocks_u32(
        s: &[u8],
        ss: usize,
        d: &mut [u8],
        ds: usize,
        done: (usize, usize),
    ) -> bool {
        if !fits(s, ss, d, ds, done, 4) {
            return false;
        }
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        for c0 in (0..done.1).step_by(4) {
            for r0 in (0..done.0).step_by(4) {
                // SAFETY: r0 + 4 <= done.0 and c0 + 4 <= done.1, so each
                // 16-byte load ends by (done.0 - 1) * ss + done.1 * 4 and each
                // 16-byte store by (done.1 - 1) * ds + done.0 * 4, inside
                // their slices (`fits`); unaligned loads and stores.
                unsafe {
                    let row = |r: usize| _mm_loadu_si128(sp.add((r0 + r) * ss + c0 * 4).cast());
                    let (a, b, c, e) = (row(0), row(1), row(2), row(3));
                    let (ab_lo, ab_hi) = (_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
                    let (ce_lo, ce_hi) = (_mm_unpacklo_epi32(c, e), _mm_unpackhi_epi32(c, e));
                    let at = dp.add(c0 * ds + r0 * 4);
                    _mm_storeu_si128(at.cast(), _mm_unpacklo_epi64(ab_lo, ce_lo));
                    _mm_storeu_si128(at.add(ds).cast(), _mm_unpackhi_epi64(ab_lo, ce_lo));
                    _mm_storeu_si128(at.add(2 * ds).cast(), _mm_unpacklo_epi64(ab_hi, ce_hi));
                    _mm_storeu_si128(at.add(3 * ds).cast(), _mm_unpackhi_epi64(ab_hi, ce_hi));
                }
            }
        }
        true
    }

    /// Eight source rows by four destination rows (see [`blocks_u16`]).
    #[target_feature(enable = "sse2")]
    pub(super) fn blocks_u8(
        s: &[u8],
        ss: usize,
        d: &mut [u8],
        ds: usize,
        done: (usize, usize),
    ) -> bool {
        if !fits(s, ss, d, ds, done, 1) {
            return false;
        }
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        for c0 in (0..done.1).step_by(4) {
            for r0 in (0..done.0).step_by(8) {
                // SAFETY: r0 + 8 <= done.0 and c0 + 4 <= done.1, so each
                // 4-byte load ends by (done.0 - 1) * ss + done.1 and each
                // 8-byte store by (done.1 - 1) * ds + done.0, inside their
                // slices (`fits`); `read_unaligned` and the 8-byte store
                // need no alignment.
                unsafe {
                    let row = |r: usize| {
                        let word = sp.add((r0 + r) * ss + c0).cast::<i32>().read_unaligned();
                        _mm_cvtsi32_si128(word)
                    };
                    // a0 b0 a1 b1 a2 b2 a3 b3
                    let ab = _mm_unpacklo_epi8(row(0), row(1));
                    let ce = _mm_unpacklo_epi8(row(2), row(3));
                    let fg = _mm_unpacklo_epi8(row(4), row(5));
                    let hi = _mm_unpacklo_epi8(row(6), row(7));
                    // a0 b0 c0 d0 a1 b1 c1 d1 a2 … d3
                    let l = _mm_unpacklo_epi16(ab, ce);
                    let h = _mm_unpacklo_epi16(fg, hi);
                    // two whole columns per register
                    for (k, pair) in [_mm_unpacklo_epi32(l, h), _mm_unpackhi_epi32(l, h)]
                        .into_iter()
                        .enumerate()
                    {
                        let at = dp.add((c0 + 2 * k) * ds + r0);
                        _mm_storel_epi64(at.cast(), pair);
                        _mm_storel_epi64(at.add(ds).cast(), _mm_unpackhi_epi64(pair, pair));
                    }
                }
            }
        }
        true
    }

    /// Two by two 8-byte elements.
    #[target_feature(enable = "sse2")]
    pub(super) fn blocks_u64(
        s: &[u8],
        ss: usize,
        d: &mut [u8],
        ds: usize,
        done: (usize, usize),
    ) -> bool {
        if !fits(s, ss, d, ds, done, 8) {
            return false;
        }
        let (sp, dp) = (s.as_ptr(), d.as_mut_ptr());
        for c0 in (0..done.1).step_by(2) {
            for r0 in (0..done.0).step_by(2) {
                // SAFETY: r0 + 2 <= done.0 and c0 + 2 <= done.1, so each
                // 16-byte load ends by (done.0 - 1) * ss + done.1 * 8 and each
                // 16-byte store by (done.1 - 1) * ds + done.0 * 8, inside
                // their slices (`fits`); unaligned loads and stores.
                unsafe {
                    let a = _mm_loadu_si128(sp.add(r0 * ss + c0 * 8).cast());
                    let b = _mm_loadu_si128(sp.add((r0 + 1) * ss + c0 * 8).cast());
                    let at = dp.add(c0 * ds + r0 * 8);
                    _mm_storeu_si128(at.cast(), _mm_unpacklo_epi64(a, b));
                    _mm_storeu_si128(at.add(ds).cast(), _mm_unpackhi_epi64(a, b));
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Pod + PartialEq + std::fmt::Debug>(make: impl Fn(usize) -> T) {
        for rows in 0..20 {
            for cols in 0..20 {
                let (ss, ds) = (cols + 3, rows + 5);
                let src: Vec<T> = (0..rows * ss).map(&make).collect();
                let mut dst = vec![make(usize::MAX >> 8); cols * ds];
                let before = dst.clone();
                transpose(&src, ss, &mut dst, ds, rows, cols);
                // the same through bytes that start at an odd address
                let size = std::mem::size_of::<T>();
                let mut odd = vec![0u8; 1 + src.len() * size];
                odd[1..].copy_from_slice(bytemuck::cast_slice(&src));
                let mut odd_dst = vec![0u8; 1 + dst.len() * size];
                odd_dst[1..].copy_from_slice(bytemuck::cast_slice(&before));
                transpose_bytes(
                    &odd[1..],
                    ss * size,
                    &mut odd_dst[1..],
                    ds * size,
                    (rows, cols),
                    size,
                );
                assert_eq!(&odd_dst[1..], bytemuck::cast_slice::<T, u8>(&dst));
                for c in 0..cols {
                    for r in 0..ds {
                        let want = if r < rows {
                            src[r * ss + c]
                        } else {
                            make(usize::MAX >> 8)
                        };
                        assert_eq!(dst[c * ds + r], want, "{rows}x{cols} at ({r}, {c})");
                    }
                }
            }
        }
    }

    #[test]
    fn every_element_size_and_ragged_edges() {
        check(|i| i as u8);
        check(|i| (i as u16).wrapping_mul(40503));
        check(|i| (i as u32).wrapping_mul(2654435761) as f32);
        check(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        check(|i| [i as u8, (i >> 8) as u8, 7]);
    }
}
