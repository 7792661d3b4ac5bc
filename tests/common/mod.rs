//! Helpers shared by the fixture tests (`numpy_fixtures`, `zarr_fixtures`,
//! `zarr_real`, `nifti_fixtures` and `nifti_real`, the last two through
//! `tests/nifti_check/mod.rs`): the checksum of
//! `data-scripts/make_raw_fixtures.py`, accessors for the JSON manifests the
//! scripts write, and the checks of grids, regions and cell contents that
//! more than one format's tests make.
//!
//! The conformance suite every backend passes is the submodule
//! [`conformance`] (`tests/common/conformance.rs`), run by
//! `tests/conformance.rs`.
//!
//! Every test crate compiles this module on its own and uses only part of
//! it: the items not every crate uses carry `#[allow(dead_code)]`.

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use impart::{DType, Element, Error, Partition, Region, Selected, Volume};
use ndarray::ArrayD;
use serde_json::Value;

pub mod conformance;

// ---------------------------------------------------------------------------
// The checksum

/// The checksum of `make_raw_fixtures.py`: SplitMix64's finalizer over
/// `bits(v[k]) + (k + 1) * 0x9E3779B97F4A7C15`, summed mod 2^64, `k` running
/// over the values in C order.
pub fn checksum<I>(values: I) -> u64
where
    I: IntoIterator,
    I::Item: Borrow<f64>,
{
    values.into_iter().enumerate().fold(0u64, |acc, (k, v)| {
        let mut x = v
            .borrow()
            .to_bits()
            .wrapping_add((k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        acc.wrapping_add(x)
    })
}

#[test]
fn checksum_matches_the_script() {
    // np.array([0.0, 1.0, -2.5]) through make_raw_fixtures.checksum
    assert_eq!(
        format!("{:016x}", checksum([0.0, 1.0, -2.5].iter())),
        "257f9e0692573d53"
    );
    assert_eq!(
        checksum([0.0, 1.0, -2.5]),
        checksum([0.0, 1.0, -2.5].iter())
    );
}

// ---------------------------------------------------------------------------
// JSON accessors: each panics with the value it did not expect.

pub fn field<'v>(v: &'v Value, key: &str) -> &'v Value {
    v.get(key)
        .unwrap_or_else(|| panic!("manifest entry lacks {key:?}: {v}"))
}

pub fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(|x| {
            x.as_u64()
                .unwrap_or_else(|| panic!("expected an unsigned integer, found {x}"))
                as usize
        })
        .collect()
}

pub fn f64_of(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

/// An array of numbers.
#[allow(dead_code)]
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(f64_of)
        .collect()
}

/// An array of numbers, or one number (as a one-element vector).
#[allow(dead_code)]
pub fn f64s_or_one(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().map(f64_of).collect(),
        _ => vec![f64_of(v)],
    }
}

/// An array of strings.
#[allow(dead_code)]
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// The region of a manifest entry with `start` and `shape`.
#[allow(dead_code)]
pub fn region_of(entry: &Value) -> Region {
    Region::new(usizes(field(entry, "start")), usizes(field(entry, "shape")))
        .expect("a valid region in the manifest")
}

/// Whether two floats parsed from / computed for JSON are equal up to the
/// last bit or two (serde_json's default float parser may be one ulp off).
#[allow(dead_code)]
pub fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

// ---------------------------------------------------------------------------
// Manifests and reports

/// Reads the manifest at `path` and checks its `format`; `how` says how to
/// make the file when it is missing.
#[allow(dead_code)]
pub fn load_manifest(path: &Path, format: u64, how: &str) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} ({how})", path.display()));
    let manifest: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    assert_eq!(
        manifest.get("format").and_then(Value::as_u64),
        Some(format),
        "{}: unknown manifest format",
        path.display()
    );
    manifest
}

/// The directory the environment variable `var` names. The tests that call
/// this are `#[ignore = "needs ..."]`, so a plain `cargo test` lists them as
/// ignored with the command that makes their data; run with
/// `--include-ignored` (as `.ci/run` does) they check that data, and
/// without the variable they fail here, saying how to make the directory,
/// rather than pass without checking anything.
#[allow(dead_code)]
pub fn env_dir(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!("{var} is not set: {how}, then set {var} to that directory"),
    }
}

/// Fails the test with every failure listed, if there are any.
#[allow(dead_code)]
pub fn report(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failures {what}:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Runs `f`, turning a panic into a failure message (the library must never
/// panic, whatever the input).
#[allow(dead_code)]
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{what} PANICKED: {msg}")
    })
}

// ---------------------------------------------------------------------------
// Chunks

/// Indices of the chunks (read units of shape `unit`) that `region` touches.
#[allow(dead_code)]
pub fn chunks_of(region: &Region, unit: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for ((&s, &n), &u) in region.start().iter().zip(region.shape()).zip(unit) {
        out = out
            .into_iter()
            .flat_map(|p: Vec<usize>| {
                (s / u..(s + n).div_ceil(u)).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    out
}

/// The distinct chunks of shape `unit` that the manifest's `cells` touch.
#[allow(dead_code)]
pub fn chunks_touched(cells: &[Value], unit: &[usize]) -> BTreeSet<Vec<usize>> {
    cells
        .iter()
        .flat_map(|c| chunks_of(&region_of(c), unit))
        .collect()
}

// ---------------------------------------------------------------------------
// Stored values

#[allow(dead_code)]
pub fn same_bits(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The owned array of the stored type `dtype` (`to_array::<T>()`), as `f64`.
#[allow(dead_code)]
pub fn owned_as_f64<V: Volume>(sel: &Selected<'_, V>, dtype: DType) -> impart::Result<ArrayD<f64>> {
    impart::dispatch_dtype!(dtype, T => { sel.to_array::<T>().map(|a| a.mapv(|x| x.to_f64())) })
}

/// The owned array of the stored type holds the values of `arr`, the
/// selection as `to_array_as::<f64>()`.
#[allow(dead_code)]
pub fn check_owned<V: Volume>(
    sel: &Selected<'_, V>,
    dtype: DType,
    arr: &ArrayD<f64>,
) -> Result<(), String> {
    match owned_as_f64(sel, dtype) {
        Ok(t) if same_bits(&t, arr) => Ok(()),
        Ok(_) => Err("to_array::<stored type>() differs from to_array_as::<f64>()".into()),
        Err(e) => Err(format!("to_array::<stored type>() failed: {e}")),
    }
}

const UNEXPECTED_VIEW: &str = "view() succeeded over foreign-endian, misaligned, unmapped \
                               or encoded bytes (expected NotZeroCopy)";

/// The zero-copy view exists exactly when `zero_copy` (else it fails with
/// `NotZeroCopy`), and then holds the values of `arr`, when given.
#[allow(dead_code)]
pub fn check_view<V: Volume>(
    sel: &Selected<'_, V>,
    dtype: DType,
    zero_copy: bool,
    arr: Option<&ArrayD<f64>>,
) -> Result<(), String> {
    // whether the view holds `arr`'s values, when there is `arr`
    let view = impart::dispatch_dtype!(dtype, T => {
        sel.view::<T>().map(|v| arr.map(|a| same_bits(&v.mapv(|x| x.to_f64()), a)))
    });
    match (zero_copy, view) {
        (true, Ok(Some(false))) => {
            Err("the zero-copy view differs from to_array_as::<f64>()".into())
        }
        (true, Ok(_)) => Ok(()),
        (true, Err(e)) => Err(format!("view() failed: {e}")),
        (false, Ok(_)) => Err(UNEXPECTED_VIEW.into()),
        (false, Err(Error::NotZeroCopy { .. })) => Ok(()),
        (false, Err(e)) => Err(format!("view() failed with {e}, expected NotZeroCopy")),
    }
}

// ---------------------------------------------------------------------------
// Checks against a manifest of NumPy's or zarr-python's digests

/// Names the source of the expected values, the case and the item checked
/// in every failure.
#[allow(dead_code)]
pub struct Ctx<'a> {
    /// Who computed the expected values ("NumPy", "zarr-python").
    pub source: &'a str,
    pub case: &'a str,
    pub item: String,
}

#[allow(dead_code)]
impl<'a> Ctx<'a> {
    /// The context of a whole case (no item yet).
    pub fn new(source: &'a str, case: &'a str) -> Ctx<'a> {
        Ctx {
            source,
            case,
            item: String::new(),
        }
    }

    pub fn fail(&self, msg: impl std::fmt::Display) -> String {
        if self.item.is_empty() {
            format!("{}: {msg}", self.case)
        } else {
            format!("{} {}: {msg}", self.case, self.item)
        }
    }
}

/// The grid's shape and step against the entry's `grid_shape` and `step`;
/// `false` when the shape differs (every cell would differ too).
#[allow(dead_code)]
pub fn check_grid<V: Volume>(
    ctx: &Ctx<'_>,
    part: &Partition<V>,
    entry: &Value,
    failures: &mut Vec<String>,
) -> bool {
    let grid_shape = usizes(field(entry, "grid_shape"));
    if part.grid().shape() != grid_shape {
        failures.push(ctx.fail(format!(
            "grid shape {:?}, {} expects {grid_shape:?}",
            part.grid().shape(),
            ctx.source
        )));
        return false;
    }
    let step = f64s_or_one(field(entry, "step"));
    let got = part.grid().step();
    if got.len() != step.len() || got.iter().zip(&step).any(|(a, b)| !close(*a, *b)) {
        failures.push(ctx.fail(format!("step {got:?}, {} expects {step:?}", ctx.source)));
    }
    true
}

/// The grid has as many cells as the complete listing `cells`, and
/// `cells("...")` walks them in its order.
#[allow(dead_code)]
pub fn check_listing<V: Volume>(
    ctx: &Ctx<'_>,
    part: &Partition<V>,
    cells: &[Value],
    failures: &mut Vec<String>,
) {
    if part.len() != cells.len() {
        failures.push(ctx.fail(format!(
            "{} cells in the grid, {} lists {}",
            part.len(),
            ctx.source,
            cells.len()
        )));
    }
    match part.cells("...") {
        Ok(iter) => {
            for (k, (sel, entry)) in iter.zip(cells).enumerate() {
                let index = usizes(field(entry, "index"));
                let region = region_of(entry);
                if sel.index() != index || sel.region() != &region {
                    failures.push(ctx.fail(format!(
                        "cells() item {k} is {:?} at {}, {} lists {index:?} at {region}",
                        sel.index(),
                        sel.region(),
                        ctx.source
                    )));
                    break;
                }
            }
        }
        Err(e) => failures.push(ctx.fail(format!("cells(\"...\") failed: {e}"))),
    }
}

/// The shape and digest of `arr` (as `f64`) against a manifest entry: sum,
/// absolute sum, min, max, first and last value (exact for integer data,
/// else up to rounding) and the checksum.
#[allow(dead_code)]
pub fn check_content(
    ctx: &Ctx<'_>,
    exact: bool,
    arr: &ArrayD<f64>,
    entry: &Value,
    failures: &mut Vec<String>,
) {
    let shape = usizes(field(entry, "shape"));
    if arr.shape() != shape.as_slice() {
        failures.push(ctx.fail(format!(
            "materialized shape {:?}, {} expects {shape:?}",
            arr.shape(),
            ctx.source
        )));
        return;
    }
    // `iter()` walks the logical (C) order whatever the memory order.
    let mut sum = 0.0f64;
    let mut abs_sum = 0.0f64;
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for &x in arr.iter() {
        sum += x;
        abs_sum += x.abs();
        min = min.min(x);
        max = max.max(x);
    }
    let first = arr.iter().next().copied().unwrap_or(f64::NAN);
    let last = arr.iter().last().copied().unwrap_or(f64::NAN);

    let want = |key: &str| f64_of(field(entry, key));
    let want_abs = want("abs_sum");
    // Integer data is exact in f64 in any summation order (the scripts keep
    // every partial sum below 2^53); float sums differ only by rounding.
    let sum_ok = |got: f64, w: f64| {
        if exact {
            got == w
        } else {
            (got - w).abs() <= 1e-9 * want_abs.max(f64::MIN_POSITIVE)
        }
    };
    let value_ok = |got: f64, w: f64| if exact { got == w } else { close(got, w) };
    for (key, got, ok) in [
        ("sum", sum, sum_ok(sum, want("sum"))),
        ("abs_sum", abs_sum, sum_ok(abs_sum, want_abs)),
        ("min", min, value_ok(min, want("min"))),
        ("max", max, value_ok(max, want("max"))),
        ("first", first, value_ok(first, want("first"))),
        ("last", last, value_ok(last, want("last"))),
    ] {
        if !ok {
            failures.push(ctx.fail(format!(
                "{key} is {got:?}, {} says {}",
                ctx.source,
                want(key)
            )));
        }
    }
    let got = format!("{:016x}", checksum(arr.iter()));
    let want = str_of(entry, "checksum");
    if got != want {
        failures.push(ctx.fail(format!(
            "checksum {got}, {} says {want} (the values differ or are out of place)",
            ctx.source
        )));
    }
}

/// Region, content, materialization in the stored type `dtype` and the
/// zero-copy view (which must exist exactly when `zero_copy`) of one
/// selection, against its manifest entry.
#[allow(dead_code)]
pub fn check_selected<V: Volume>(
    ctx: &Ctx<'_>,
    sel: &Selected<'_, V>,
    dtype: DType,
    zero_copy: bool,
    entry: &Value,
    failures: &mut Vec<String>,
) {
    let want = region_of(entry);
    if sel.region() != &want {
        failures.push(ctx.fail(format!(
            "region {}, {} expects {want}",
            sel.region(),
            ctx.source
        )));
        return;
    }
    let arr = match sel.to_array_as::<f64>() {
        Ok(a) => a,
        Err(e) => {
            failures.push(ctx.fail(format!("to_array_as::<f64>() failed: {e}")));
            return;
        }
    };
    check_content(ctx, !dtype.is_float(), &arr, entry, failures);
    if let Err(m) = check_owned(sel, dtype, &arr) {
        failures.push(ctx.fail(m));
    }
    if let Err(m) = check_view(sel, dtype, zero_copy, Some(&arr)) {
        failures.push(ctx.fail(m));
    }
}

/// Runs the `impart` program with `args`, which must succeed, and returns
/// the first JSON value it prints (a `--json` line, or one object).
#[allow(dead_code)]
pub fn impart_json(args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .output()
        .expect("impart runs");
    assert!(
        out.status.success(),
        "impart {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .next()
        .expect("a JSON value")
        .expect("JSON")
}

/// Copies the directory tree `from` to `to` (created).
#[allow(dead_code)]
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (p, q) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &q);
        } else {
            std::fs::copy(&p, &q).expect("copy");
        }
    }
}
