//! Helpers shared by `tests/tiff_fixtures.rs`, `tests/tiff_extra.rs` and
//! `tests/tiff_corrupt.rs`: the
//! cases of `tests/data/tiff/cases.json` (written by
//! `data-scripts/make_tiff_fixtures.py`; see its README), their expected
//! bytes, and the comparison of a region read by impart with the expected
//! array cut to that region.
//!
//! Each test crate uses only part of it: the items not every crate uses
//! carry `#[allow(dead_code)]`.

use std::path::{Path, PathBuf};

use impart::Volume;
use serde_json::Value;

#[allow(dead_code)]
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiff")
}

pub fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let doc: Value = serde_json::from_str(&text).expect("cases.json parses");
    doc["cases"].as_array().expect("cases").clone()
}

#[allow(dead_code)]
pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("an array of numbers: {v}"))
        .iter()
        .map(|x| x.as_u64().expect("a whole number") as usize)
        .collect()
}

/// One page of a valid case as impart presents it: `(height, width,
/// samples)`, its expected bytes (little-endian, C order) and the
/// tolerance of a lossy case.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct PageCase {
    /// `case` or `case page p`.
    pub label: String,
    pub file: String,
    pub page: usize,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub expected: Vec<u8>,
    pub tolerance: Option<f64>,
}

/// The pages of a case (one, or every page of a stack).
#[allow(dead_code)]
pub fn pages_of(case: &Value) -> Vec<PageCase> {
    let name = case["name"].as_str().expect("name");
    let file = case["file"].as_str().expect("file").to_string();
    let dtype = case["dtype"].as_str().expect("dtype").to_string();
    let shape = usizes(&case["shape"]);
    let expected = std::fs::read(dir().join(case["expected"].as_str().expect("expected")))
        .expect("expected bytes");
    // the recorded error of the encoder's own decoder, plus 2
    let tolerance = case["lossy"]
        .as_bool()
        .unwrap_or(false)
        .then(|| case["max_abs_error"].as_f64().unwrap_or(4.0) + 2.0);
    match case["page"].as_u64() {
        Some(p) => vec![PageCase {
            label: name.to_string(),
            file,
            page: p as usize,
            shape,
            dtype,
            expected,
            tolerance,
        }],
        None => {
            let per = expected.len() / shape[0];
            (0..shape[0])
                .map(|p| PageCase {
                    label: format!("{name} page {p}"),
                    file: file.clone(),
                    page: p,
                    shape: shape[1..].to_vec(),
                    dtype: dtype.clone(),
                    expected: expected[p * per..(p + 1) * per].to_vec(),
                    tolerance,
                })
                .collect()
        }
    }
}

/// Element `i` of little-endian bytes as `(bits, value)`.
fn element(bytes: &[u8], size: usize, float: bool, signed: bool, i: usize) -> (u64, f64) {
    let mut b = [0u8; 8];
    b[..size].copy_from_slice(&bytes[i * size..(i + 1) * size]);
    let bits = u64::from_le_bytes(b);
    let value = match (float, size, signed) {
        (true, 4, _) => f32::from_bits(bits as u32) as f64,
        (true, _, _) => f64::from_bits(bits),
        (false, _, true) => {
            let shift = 64 - 8 * size as u32;
            (((bits << shift) as i64) >> shift) as f64
        }
        (false, _, false) => bits as f64,
    };
    (bits, value)
}

/// Whether `got` (native-endian, C order, the region `start` + `ext` of an
/// array of `full` shape) equals the expected little-endian array cut to
/// that region: bit for bit, or within `tolerance`. `Err` says where not.
#[allow(dead_code)]
pub fn compare(
    got: &[u8],
    expected: &[u8],
    full: &[usize],
    start: &[usize],
    ext: &[usize],
    dtype: &str,
    tolerance: Option<f64>,
) -> Result<(), String> {
    let size = impart::DType::from_name(dtype).expect("dtype").size();
    let (float, signed) = (dtype.starts_with('f'), dtype.starts_with('i'));
    let n: usize = ext.iter().product();
    if got.len() != n * size {
        return Err(format!("{} bytes for {n} elements", got.len()));
    }
    if tolerance.is_none()
        && cfg!(target_endian = "little")
        && rows_equal(got, expected, full, start, ext, size)
    {
        return Ok(());
    }
    let mut worst = 0.0f64;
    let mut idx = vec![0usize; ext.len()];
    for k in 0..n {
        let mut rest = k;
        for a in (0..ext.len()).rev() {
            idx[a] = rest % ext[a];
            rest /= ext[a];
        }
        let mut flat = 0usize;
        let mut stride = 1usize;
        for a in (0..ext.len()).rev() {
            flat += (start[a] + idx[a]) * stride;
            stride *= full[a];
        }
        let mut g = got[k * size..(k + 1) * size].to_vec();
        if cfg!(target_endian = "big") {
            g.reverse();
        }
        let (gb, gv) = element(&g, size, float, signed, 0);
        let (eb, ev) = element(expected, size, float, signed, flat);
        match tolerance {
            None if gb != eb => {
                return Err(format!(
                    "element {idx:?} is {gv} (bits {gb:#x}), expected {ev} (bits {eb:#x})"
                ))
            }
            Some(_) => worst = worst.max((gv - ev).abs()),
            None => {}
        }
    }
    match tolerance {
        Some(t) if worst > t => Err(format!("off by up to {worst}, more than {t}")),
        _ => Ok(()),
    }
}

/// Whether each innermost run of the region equals the expected bytes (a
/// fast path for exact comparisons on little-endian machines).
fn rows_equal(
    got: &[u8],
    expected: &[u8],
    full: &[usize],
    start: &[usize],
    ext: &[usize],
    size: usize,
) -> bool {
    if start.iter().all(|&s| s == 0) && ext == full {
        return got == expected;
    }
    let Some(last) = ext.len().checked_sub(1) else {
        return got == expected;
    };
    let run = ext[last] * size;
    let rows: usize = ext[..last].iter().product();
    let mut idx = vec![0usize; last];
    for r in 0..rows {
        let mut rest = r;
        for a in (0..last).rev() {
            idx[a] = rest % ext[a];
            rest /= ext[a];
        }
        let mut flat = start[last];
        let mut stride = full[last];
        for a in (0..last).rev() {
            flat += (start[a] + idx[a]) * stride;
            stride *= full[a];
        }
        let want = expected.get(flat * size..flat * size + run);
        if want != Some(&got[r * run..(r + 1) * run]) {
            return false;
        }
    }
    true
}

/// Reads `start` + `ext` of `volume` as native bytes.
#[allow(dead_code)]
pub fn read(volume: &impl Volume, start: &[usize], ext: &[usize]) -> impart::Result<Vec<u8>> {
    let region = impart::Region::new(start.to_vec(), ext.to_vec())?;
    let n: usize = ext.iter().product::<usize>() * volume.dtype().size();
    let mut out = vec![0u8; n];
    volume.read_region(&region, &mut out)?;
    Ok(out)
}

/// Reads all of `volume` and compares it with `page`'s expectation.
#[allow(dead_code)]
pub fn check_whole(volume: &impl Volume, page: &PageCase) -> Result<(), String> {
    if volume.shape() != page.shape.as_slice() || volume.dtype().name() != page.dtype {
        return Err(format!(
            "shape {:?} {}, expected {:?} {}",
            volume.shape(),
            volume.dtype(),
            page.shape,
            page.dtype
        ));
    }
    let zero = vec![0; page.shape.len()];
    let bytes = read(volume, &zero, &page.shape).map_err(|e| format!("read failed: {e}"))?;
    compare(
        &bytes,
        &page.expected,
        &page.shape,
        &zero,
        &page.shape,
        &page.dtype,
        page.tolerance,
    )
}
