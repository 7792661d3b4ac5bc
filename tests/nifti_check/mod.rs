//! Checks shared by `tests/nifti_fixtures.rs` (committed fixtures written by
//! nibabel) and `tests/nifti_real.rs` (real files, fetched at test setup):
//! one NIfTI file against what nibabel read in it, as described by
//! `data-scripts/nifti_crosscheck.py`.
//!
//! Stored values are compared bit for bit through the checksum of
//! `data-scripts/make_raw_fixtures.py` (no hashing crate needed). Scaled
//! values (`get_fdata()`) are compared bit for bit as well ([`Tol::exact`]),
//! or, for real files, with a relative tolerance on the digest's sums
//! ([`Tol::real`]) when the checksum differs.
//!
//! The checksum, the JSON accessors and the checks of stored values in the
//! stored type and of zero-copy views are those of `tests/common/mod.rs`,
//! which every crate that declares `mod nifti_check;` declares as
//! `mod common;` too.

use std::path::Path;

use impart::{DType, Error, NiftiOptions, Partition, Selected, Volume};
use ndarray::ArrayD;
use serde_json::Value;

use crate::common::{
    check_owned, check_view, checksum, close, f64_of, f64s, field, str_of, usizes,
};

/// The 4x4 affine of a manifest entry.
pub fn affine_of(v: &Value) -> [[f64; 4]; 4] {
    let rows = v.as_array().expect("affine rows");
    assert_eq!(rows.len(), 4, "affine has {} rows", rows.len());
    let mut a = [[0.0; 4]; 4];
    for (i, row) in rows.iter().enumerate() {
        let r = f64s(row);
        assert_eq!(r.len(), 4, "affine row has {} entries", r.len());
        a[i].copy_from_slice(&r);
    }
    a
}

// ---------------------------------------------------------------------------
// Tolerances

/// How closely impart must match nibabel.
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    /// Scaled values: checksum must match (bit for bit), or else only the
    /// sums within `scaled_rel` (relative to the absolute sum).
    pub scaled_exact: bool,
    pub scaled_rel: f64,
    /// Affine entries and world origins: `|got - want| <= geom * (1 + |want|)`.
    pub geom: f64,
    /// Also materialize each cell in its stored type (`to_array::<T>()`)
    /// and compare it with the `f64` copy.
    pub typed: bool,
}

impl Tol {
    /// Committed fixtures: scaled values bit for bit (nibabel computes
    /// `stored as f64 * slope + inter` in float64, two roundings), geometry
    /// to 1e-9 (nibabel's qform goes through long double).
    #[allow(dead_code)] // nifti_fixtures only
    pub fn exact() -> Tol {
        Tol {
            scaled_exact: true,
            scaled_rel: 1e-12,
            geom: 1e-9,
            typed: true,
        }
    }

    /// Real files: scaled values to 1e-6 relative, geometry to 1e-6.
    #[allow(dead_code)] // nifti_real only
    pub fn real() -> Tol {
        Tol {
            scaled_exact: false,
            scaled_rel: 1e-6,
            geom: 1e-6,
            typed: true,
        }
    }
}

fn geom_ok(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * (1.0 + want.abs())
}

// ---------------------------------------------------------------------------
// Digests

/// The digest of a cell's values, computed here as the script does.
#[derive(Debug, Clone)]
pub struct Digest {
    pub checksum: u64,
    pub nonfinite: u64,
    pub negzero: u64,
    pub sum: f64,
    pub abs_sum: f64,
    pub wsum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Digest {
    pub fn of(arr: &ArrayD<f64>) -> Digest {
        // `iter()` walks the logical (C) order whatever the memory order.
        let mut d = Digest {
            checksum: checksum(arr.iter()),
            nonfinite: 0,
            negzero: 0,
            sum: 0.0,
            abs_sum: 0.0,
            wsum: 0.0,
            min: None,
            max: None,
        };
        for (k, &v) in arr.iter().enumerate() {
            if !v.is_finite() {
                d.nonfinite += 1;
                continue;
            }
            if v == 0.0 && v.is_sign_negative() {
                d.negzero += 1;
            }
            d.sum += v;
            d.abs_sum += v.abs();
            d.wsum += ((k % 7) + 1) as f64 * v;
            d.min = Some(d.min.map_or(v, |m: f64| m.min(v)));
            d.max = Some(d.max.map_or(v, |m: f64| m.max(v)));
        }
        d
    }
}

fn want_hex(want: &Value) -> u64 {
    u64::from_str_radix(str_of(want, "checksum"), 16).expect("checksum is 16 hex digits")
}

/// Compares a computed digest with the JSON one: `Ok` if the checksums are
/// equal, or (when `rel` is given) the sums agree within `rel`.
fn compare_digest(got: &Digest, want: &Value, rel: Option<f64>) -> Result<(), String> {
    let want_sum = want.get("sum").and_then(Value::as_f64);
    let want_abs = want.get("abs_sum").and_then(Value::as_f64).unwrap_or(0.0);
    let want_nonfinite = want.get("nonfinite").and_then(Value::as_u64).unwrap_or(0);
    if got.checksum == want_hex(want) {
        return Ok(());
    }
    let summary = format!(
        "checksum {:016x} (nibabel {}), sum {:?} (nibabel {:?}), abs_sum {:?} (nibabel {}), \
         non-finite {} (nibabel {want_nonfinite})",
        got.checksum,
        str_of(want, "checksum"),
        got.sum,
        want_sum,
        got.abs_sum,
        want_abs,
        got.nonfinite
    );
    let want_negzero = want.get("negzero").and_then(Value::as_u64).unwrap_or(0);
    let summary = if got.negzero != want_negzero {
        format!(
            "{summary}, -0.0 values {} (nibabel {want_negzero})",
            got.negzero
        )
    } else {
        summary
    };
    let Some(rel) = rel else {
        return Err(summary);
    };
    let scale = want_abs.max(f64::MIN_POSITIVE);
    let mut bad = Vec::new();
    if got.nonfinite != want_nonfinite {
        bad.push("non-finite count");
    }
    let near = |g: f64, w: Option<f64>, s: f64| w.is_some_and(|w| (g - w).abs() <= rel * s);
    if !near(got.sum, want_sum, scale) {
        bad.push("sum");
    }
    if !near(got.abs_sum, Some(want_abs), scale) {
        bad.push("abs_sum");
    }
    if let Some(w) = want.get("wsum") {
        if !near(got.wsum, w.as_f64(), 7.0 * scale) {
            bad.push("wsum");
        }
    }
    for (key, g) in [("min", got.min), ("max", got.max)] {
        if let Some(w) = want.get(key) {
            let ok = match (g, w.as_f64()) {
                (Some(g), Some(w)) => (g - w).abs() <= rel * w.abs().max(scale * 1e-3),
                (None, None) => w.is_null(),
                _ => false,
            };
            if !ok {
                bad.push(key);
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} differ beyond {rel:e}: {summary}",
            bad.join(", ")
        ))
    }
}

// ---------------------------------------------------------------------------
// Opening

/// Options for the tests: gz caches go to `cache` (a temp dir), never to the
/// system's.
pub fn options(cache: &Path, mmap: bool) -> NiftiOptions {
    NiftiOptions::new().cache_dir(cache).mmap(mmap)
}

/// The last path component, the part an error must name.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The error message names one of `names`.
pub fn names_file(e: &Error, names: &[String]) -> bool {
    let msg = e.to_string();
    names.iter().any(|n| msg.contains(n.as_str()))
}

// ---------------------------------------------------------------------------
// One valid file

/// Everything impart must agree with nibabel on, for the `entry` of one file
/// opened at `path` with `opts` (`mapped`: whether `opts` maps the file, as
/// opposed to `mmap(false)`). Returns the failures, each prefixed with
/// `label`.
pub fn check_volume(
    label: &str,
    path: &Path,
    entry: &Value,
    opts: &NiftiOptions,
    mapped: bool,
    tol: Tol,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |msg: String| failures.push(format!("{label}: {msg}"));
    let vol = match opts.open(path) {
        Ok(v) => v,
        Err(e) => {
            fail(format!("open failed: {e}"));
            return failures;
        }
    };

    // header and volume properties
    let shape = usizes(field(entry, "shape"));
    if vol.shape() != shape.as_slice() {
        fail(format!("shape {:?}, nibabel {shape:?}", vol.shape()));
        return failures;
    }
    let dtype = str_of(entry, "dtype");
    if vol.dtype().name() != dtype {
        fail(format!("dtype {}, nibabel {dtype}", vol.dtype()));
        return failures;
    }
    let h = vol.header();
    let int = |key: &str| field(entry, key).as_i64().expect("an integer");
    if i64::from(h.version) != int("version") {
        fail(format!("version {}, file {}", h.version, int("version")));
    }
    if i64::from(h.datatype) != int("datatype") {
        fail(format!("datatype {}, file {}", h.datatype, int("datatype")));
    }
    if h.vox_offset as f64 != f64_of(field(entry, "vox_offset")) {
        fail(format!(
            "vox_offset {}, file {}",
            h.vox_offset,
            field(entry, "vox_offset")
        ));
    }
    // the stored header fields, or the ones nibabel repairs them to
    let repaired = entry.get("repaired");
    let either = |key: &str, got: i64| {
        got == int(key)
            || repaired
                .and_then(|r| r.get(key))
                .and_then(Value::as_i64)
                .is_some_and(|r| r == got)
    };
    if !either("sform_code", i64::from(h.sform_code))
        || !either("qform_code", i64::from(h.qform_code))
    {
        fail(format!(
            "sform_code/qform_code {}/{}, file {}/{} (nibabel's repairs: {})",
            h.sform_code,
            h.qform_code,
            int("sform_code"),
            int("qform_code"),
            repaired.map_or("none".to_string(), |r| r.to_string())
        ));
    }
    let same_pixdim = |want: &[f64]| h.pixdim.iter().zip(want).all(|(&g, &w)| close(g, w));
    let pixdim = f64s(field(entry, "pixdim"));
    let repaired_pixdim = repaired.and_then(|r| r.get("pixdim")).map(f64s);
    if !same_pixdim(&pixdim) && !repaired_pixdim.as_deref().is_some_and(same_pixdim) {
        fail(format!(
            "pixdim {:?}, file {pixdim:?} (nibabel's repair: {repaired_pixdim:?})",
            h.pixdim
        ));
    }
    let compressed = field(entry, "compressed").as_bool().expect("compressed");
    if vol.is_cached() != compressed {
        fail(format!(
            "is_cached() is {}, the data is {}compressed",
            vol.is_cached(),
            if compressed { "" } else { "not " }
        ));
    }
    match (mapped, vol.layout().is_some()) {
        (true, false) => fail("layout() is None for a mapped file".into()),
        (false, true) => fail("layout() is Some with mmap(false)".into()),
        _ => {}
    }

    // scaling: nibabel's get_slope_inter of the stored header
    let want_scaling = match field(entry, "scaling") {
        Value::Null => None,
        v => {
            let s = f64s(v);
            Some((s[0], s[1]))
        }
    };
    let scaling_ok = match (vol.scaling(), want_scaling) {
        (None, None) => true,
        (Some((s, i)), Some((ws, wi))) => close(s, ws) && close(i, wi),
        _ => false,
    };
    if !scaling_ok {
        fail(format!(
            "scaling() {:?}, nibabel get_slope_inter {want_scaling:?}",
            vol.scaling()
        ));
    }

    // affine: nibabel's img.affine
    let want_affine = affine_of(field(entry, "affine"));
    let affine = vol.affine();
    match affine {
        None => fail("affine() is None".into()),
        Some(a) => {
            let ok = (0..4).all(|i| (0..4).all(|j| geom_ok(a[i][j], want_affine[i][j], tol.geom)));
            if !ok {
                fail(format!(
                    "affine {a:?}, nibabel {want_affine:?} (sform_code {}, qform_code {})",
                    h.sform_code, h.qform_code
                ));
            }
        }
    }

    // zero copy exactly when the bytes allow it
    let stored_type = vol.dtype();
    let native = stored_type.size() == 1
        || (str_of(entry, "byte_order") == "little") == cfg!(target_endian = "little");
    let aligned = h.vox_offset % stored_type.size() as u64 == 0;
    let zero_copy = mapped && native && aligned;

    // the grid
    let cell = usizes(field(entry, "cell"));
    let stride = f64_of(field(entry, "stride"));
    let part = match Partition::builder(&vol).cell(&cell).stride(stride).build() {
        Ok(p) => p,
        Err(e) => {
            fail(format!("partition with cell {cell:?} failed: {e}"));
            return failures;
        }
    };
    let grid_shape = usizes(field(entry, "grid_shape"));
    if part.grid().shape() != grid_shape.as_slice() {
        fail(format!(
            "grid shape {:?}, expected {grid_shape:?}",
            part.grid().shape()
        ));
        return failures;
    }
    let cells = field(entry, "cells").as_array().expect("cells");
    let iter = match part.cells("...") {
        Ok(it) => it,
        Err(e) => {
            fail(format!("cells(\"...\") failed: {e}"));
            return failures;
        }
    };
    if iter.len() != cells.len() {
        fail(format!(
            "{} cells, nibabel's grid lists {}",
            iter.len(),
            cells.len()
        ));
        return failures;
    }
    let mut first_affine_failure = true;
    let mut cell_failures = 0;
    for (sel, want) in iter.zip(cells) {
        let index = usizes(field(want, "index"));
        let item = format!("cell {index:?}");
        if sel.index() != index {
            fail(format!(
                "{item}: cells() yields {:?} here (order differs)",
                sel.index()
            ));
            break;
        }
        let start = usizes(field(want, "start"));
        let ext = usizes(field(want, "shape"));
        if sel.region().start() != start.as_slice() || sel.region().shape() != ext.as_slice() {
            fail(format!(
                "{item}: region start {:?} shape {:?}, expected {start:?} {ext:?}",
                sel.region().start(),
                sel.region().shape()
            ));
            continue;
        }
        if let Err(m) = check_cell_values(&sel, stored_type, want, tol) {
            cell_failures += 1;
            if cell_failures <= MAX_CELL_FAILURES {
                fail(format!("{item}: {m}"));
            }
        }
        // zero-copy view
        if let Err(m) = check_view(&sel, stored_type, zero_copy, None) {
            fail(format!("{item}: {m}"));
        }
        // world coordinates
        let want_origin = f64s(field(want, "world_origin"));
        match sel.world_origin() {
            None => fail(format!("{item}: world_origin() is None")),
            Some(o) => {
                if !(0..3).all(|k| geom_ok(o[k], want_origin[k], tol.geom)) {
                    fail(format!(
                        "{item}: world origin {o:?}, nibabel affine @ start = {want_origin:?}"
                    ));
                }
            }
        }
        if let (Some(ca), Some(va)) = (sel.affine(), affine) {
            // the volume's affine, translated to the cell's start voxel
            let rot_ok = (0..4).all(|i| (0..3).all(|j| ca[i][j] == va[i][j]));
            let trans_ok =
                (0..3).all(|i| geom_ok(ca[i][3], want_origin[i], tol.geom)) && ca[3][3] == 1.0;
            if !(rot_ok && trans_ok) && first_affine_failure {
                first_affine_failure = false;
                fail(format!(
                    "{item}: cell affine {ca:?}: expected the volume's linear part and \
                     translation {want_origin:?}"
                ));
            }
        } else if affine.is_some() {
            fail(format!("{item}: affine() is None"));
        }
    }
    if cell_failures > MAX_CELL_FAILURES {
        failures.push(format!(
            "{label}: {} more cells whose values differ",
            cell_failures - MAX_CELL_FAILURES
        ));
    }
    failures
}

/// Cells with differing values listed per volume (the rest are counted).
const MAX_CELL_FAILURES: usize = 3;

/// Stored values (f64 and stored type) and scaled values of one cell.
pub fn check_cell_values<V: Volume>(
    sel: &Selected<'_, V>,
    stored_type: DType,
    want: &Value,
    tol: Tol,
) -> Result<(), String> {
    let stored = sel
        .to_array_as::<f64>()
        .map_err(|e| format!("to_array_as::<f64>() failed: {e}"))?;
    let shape = usizes(field(want, "shape"));
    if stored.shape() != shape.as_slice() {
        return Err(format!(
            "materialized shape {:?}, expected {shape:?}",
            stored.shape()
        ));
    }
    let want_stored = field(want, "stored");
    compare_digest(&Digest::of(&stored), want_stored, None)
        .map_err(|m| format!("stored values differ from nibabel's: {m}"))?;
    if tol.typed {
        check_owned(sel, stored_type, &stored)?;
    }
    let scaled = sel
        .to_array_scaled::<f64>()
        .map_err(|e| format!("to_array_scaled::<f64>() failed: {e}"))?;
    let want_scaled = match field(want, "scaled") {
        Value::String(s) if s == "same" => want_stored,
        v => v,
    };
    let got = Digest::of(&scaled);
    if let Err(m) = compare_digest(&got, want_scaled, None) {
        if tol.scaled_exact {
            let near = compare_digest(&got, want_scaled, Some(tol.scaled_rel)).is_ok();
            return Err(format!(
                "scaled values differ from nibabel's get_fdata(){}: {m}",
                if near {
                    " only by rounding or signs of zero (nibabel: float64 `stored * slope`, \
                     skipped when slope == 1, then `+ inter`, skipped when inter == 0)"
                } else {
                    ""
                }
            ));
        }
        compare_digest(&got, want_scaled, Some(tol.scaled_rel))
            .map_err(|m| format!("scaled values differ from nibabel's get_fdata(): {m}"))?;
    }
    Ok(())
}
