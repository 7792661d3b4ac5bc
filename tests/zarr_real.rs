//! Zarr data that no one here wrote: a real volume converted by zarr-python,
//! and the zarr-python 2.18 fixture collection.
//!
//! Runs only when `IMPART_ZARR_REAL_DIR` names a directory prepared by
//! `data-scripts/fetch_zarr_real.py` (otherwise `cargo test` reports its
//! tests as ignored, with that reason; `.ci/run` runs them with
//! `--include-ignored`):
//!
//! ```text
//! python3 -m venv /tmp/zarrvenv
//! /tmp/zarrvenv/bin/pip install -r data-scripts/requirements-zarr.txt
//! /tmp/zarrvenv/bin/python data-scripts/fetch_zarr_real.py target/zarr-real
//! IMPART_ZARR_REAL_DIR=target/zarr-real cargo test --features zarr --test zarr_real
//! ```
//!
//! - The Colin27 template (`ch2better.nii.gz` of Debian's `mricron-data`,
//!   or nibabel's `anatomical.nii` if that cannot be had), written by
//!   zarr-python as v3/zstd, v3 sharded/blosc and v2 F-order blosc: every
//!   cell of a stride-0.5 grid of 64^3 cells must equal zarr-python's
//!   slicing, and the walk must decode each chunk once.
//! - The 173 arrays of `fixture/` in the zarr 2.18.7 sdist: each opens and
//!   reads as zarr-python reads it (whole array and every cell of a
//!   stride-0.5 grid over the first two axes), or is refused with an error
//!   naming it when its dtype is not one impart reads (bool, float16,
//!   strings); arrays under codecs that zarrs has only behind optional
//!   features (zlib, bz2) may do either.
#![cfg(feature = "zarr")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    checksum, chunks_touched, env_dir, field, load_manifest, no_panic, region_of, report, str_of,
    usizes,
};
use impart::{DType, Element, Partition, Region, Volume, ZarrOptions, ZarrVolume};
use serde_json::Value;

const FORMAT: u64 = 1;

/// A number, or one of the strings "NaN", "inf", "-inf" the script writes
/// for what JSON cannot hold.
fn f64_or_nonfinite(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        _ => common::f64_of(v),
    }
}

fn real_dir() -> (PathBuf, Value) {
    let dir = env_dir(
        "IMPART_ZARR_REAL_DIR",
        "run data-scripts/fetch_zarr_real.py DIR",
    );
    let manifest = load_manifest(
        &dir.join("expected.json"),
        FORMAT,
        &format!("run data-scripts/fetch_zarr_real.py {}", dir.display()),
    );
    (dir, manifest)
}

/// Per cell: (index, region, checksum, sum), read by a parallel walk in the
/// stored type.
type CellDigest = (Vec<usize>, Region, u64, f64);

fn walk_digests<V: Volume>(part: &Partition<V>) -> impart::Result<Vec<CellDigest>> {
    impart::dispatch_dtype!(part.volume().dtype(), T => {
        part.par_map_cells::<T, _, _>("...", |cell, view| {
            (
                cell.index(),
                cell.region().clone(),
                checksum(view.iter().map(|&x| x.to_f64())),
                view.iter().map(|&x| x.to_f64()).sum::<f64>(),
            )
        })
    })
}

/// Compares walked digests with the manifest's cells; returns failures.
fn compare_cells(name: &str, got: &[CellDigest], cells: &[Value], exact: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let want: BTreeMap<Vec<usize>, &Value> = cells
        .iter()
        .map(|c| (usizes(field(c, "index")), c))
        .collect();
    if got.len() != want.len() {
        failures.push(format!(
            "{name}: {} cells walked, zarr-python lists {}",
            got.len(),
            want.len()
        ));
    }
    for (index, region, sum_bits, sum) in got {
        let Some(entry) = want.get(index) else {
            failures.push(format!(
                "{name}: cell {index:?} is not in zarr-python's grid"
            ));
            continue;
        };
        let w_region = region_of(entry);
        if region != &w_region {
            failures.push(format!(
                "{name}: cell {index:?} at {region}, zarr-python's at {w_region}"
            ));
            continue;
        }
        let w = str_of(entry, "checksum");
        let g = format!("{sum_bits:016x}");
        if g != w {
            failures.push(format!(
                "{name}: cell {index:?} at {region}: checksum {g}, zarr-python says {w}"
            ));
        }
        let ws = f64_or_nonfinite(field(entry, "sum"));
        let tol = if exact {
            0.0
        } else {
            1e-9 * f64_or_nonfinite(field(entry, "abs_sum")).max(f64::MIN_POSITIVE)
        };
        let same = (sum.is_nan() && ws.is_nan()) || *sum == ws || (sum - ws).abs() <= tol;
        if !same {
            failures.push(format!(
                "{name}: cell {index:?}: sum {sum}, zarr-python says {ws}"
            ));
        }
    }
    failures
}

/// The whole array as one cell, against the manifest's `full` entry.
fn check_full<V: Volume>(name: &str, vol: V, full: &Value, exact: bool) -> Vec<String> {
    let shape = vol.shape().to_vec();
    let part = match Partition::builder(vol).cell(&shape).build() {
        Ok(p) => p,
        Err(e) => return vec![format!("{name}: whole-array partition failed: {e}")],
    };
    let mut entry = full.clone();
    entry["index"] = Value::from(vec![0u64; shape.len()]);
    match walk_digests(&part) {
        Ok(got) => compare_cells(&format!("{name} (whole array)"), &got, &[entry], exact),
        Err(e) => vec![format!("{name}: reading the whole array failed: {e}")],
    }
}

// ---------------------------------------------------------------------------

/// Every cell of a stride-0.5 grid over the Colin27 template, in three Zarr
/// layouts, equals zarr-python's slicing; each walk decodes each chunk once.
#[test]
#[ignore = "needs IMPART_ZARR_REAL_DIR: run data-scripts/fetch_zarr_real.py DIR first, then run with --include-ignored"]
fn real_volume_cells_equal_zarr_python() {
    let (dir, manifest) = real_dir();
    let volumes = field(&manifest, "volumes").as_array().expect("volumes");
    if volumes.is_empty() {
        eprintln!(
            "no converted real volume in {} (its source was unavailable)",
            dir.display()
        );
        return;
    }
    let mut failures = Vec::new();
    for v in volumes {
        let name = str_of(v, "name");
        let path = dir.join(str_of(v, "path"));
        let vol = match no_panic(name, || ZarrVolume::open(&path)) {
            Ok(Ok(vol)) => vol,
            Ok(Err(e)) => {
                failures.push(format!("{name}: open failed: {e}"));
                continue;
            }
            Err(p) => {
                failures.push(p);
                continue;
            }
        };
        let dtype: DType = str_of(v, "dtype").parse().expect("dtype");
        assert_eq!(
            vol.shape(),
            usizes(field(v, "shape")).as_slice(),
            "{name}: shape"
        );
        assert_eq!(vol.dtype(), dtype, "{name}: dtype");
        let cell = usizes(field(v, "cell"));
        let stride = f64_or_nonfinite(field(v, "stride"));
        let part = Partition::builder(vol)
            .cell(&cell)
            .stride(stride)
            .build()
            .expect("partition");
        assert_eq!(
            part.grid().shape(),
            usizes(field(v, "grid_shape")),
            "{name}: grid shape"
        );
        let cells = field(v, "cells").as_array().expect("cells");
        let unit = part.volume().chunk_shape().to_vec();
        let touched = chunks_touched(cells, &unit);
        part.volume().reset_decoded_chunks();
        let t = std::time::Instant::now();
        let got = match no_panic(name, || walk_digests(&part)) {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                failures.push(format!("{name}: walk failed: {e}"));
                continue;
            }
            Err(p) => {
                failures.push(p);
                continue;
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let decodes = part.volume().decoded_chunks();
        eprintln!(
            "{name}: {} cells of {cell:?} in {secs:.1} s; {decodes} decodes for {} chunks of \
             {unit:?}",
            got.len(),
            touched.len()
        );
        failures.extend(compare_cells(name, &got, cells, !dtype.is_float()));
        if decodes != touched.len() as u64 {
            failures.push(format!(
                "{name}: the walk decoded {decodes} chunks; the cells touch {} (each should be \
                 decoded once)",
                touched.len()
            ));
        }
        failures.extend(check_full(
            name,
            part.into_volume(),
            field(v, "full"),
            !dtype.is_float(),
        ));
    }
    report("on the real volume", failures);
}

/// With a cache budget of a few chunks, a walk still reads the right values
/// (chunks beyond the budget are decoded again, never wrong).
#[test]
#[ignore = "needs IMPART_ZARR_REAL_DIR: run data-scripts/fetch_zarr_real.py DIR first, then run with --include-ignored"]
fn real_volume_with_a_small_cache_budget() {
    let (dir, manifest) = real_dir();
    let volumes = field(&manifest, "volumes").as_array().expect("volumes");
    let Some(v) = volumes.first() else {
        return;
    };
    let name = str_of(v, "name");
    let path = dir.join(str_of(v, "path"));
    let vol = ZarrOptions::new()
        .cache_bytes(4 << 20)
        .open(&path)
        .expect("open");
    let dtype = vol.dtype();
    let cell = usizes(field(v, "cell"));
    let part = Partition::builder(vol)
        .cell(&cell)
        .stride(f64_or_nonfinite(field(v, "stride")))
        .build()
        .expect("partition");
    part.volume().reset_decoded_chunks();
    let got = walk_digests(&part).expect("walk");
    let cells = field(v, "cells").as_array().expect("cells");
    let unit = part.volume().chunk_shape().to_vec();
    let touched = chunks_touched(cells, &unit);
    let decodes = part.volume().decoded_chunks();
    eprintln!(
        "{name} with a 4 MiB budget: {decodes} decodes for {} chunks",
        touched.len()
    );
    let failures = compare_cells(name, &got, cells, !dtype.is_float());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(decodes >= touched.len() as u64);
}

/// The zarr 2.18 fixture collection: every array opens and reads as
/// zarr-python reads it, or is refused with an error that names it.
#[test]
#[ignore = "needs IMPART_ZARR_REAL_DIR: run data-scripts/fetch_zarr_real.py DIR first, then run with --include-ignored"]
fn zarr218_fixture_collection() {
    let (dir, manifest) = real_dir();
    let z218 = field(&manifest, "zarr218");
    if z218.is_null() {
        eprintln!(
            "no zarr 2.18 fixture collection in {} (the sdist was unavailable)",
            dir.display()
        );
        return;
    }
    let root = dir.join(str_of(z218, "root"));
    let arrays = field(z218, "arrays").as_array().expect("arrays");
    assert!(arrays.len() > 100, "too few arrays in the collection");
    let mut failures = Vec::new();
    let mut read = 0;
    let mut refused = 0;
    let mut optional_refused = BTreeMap::<String, usize>::new();
    // one refusal message per kind, for the log
    let mut messages = BTreeMap::<String, String>::new();
    for a in arrays {
        let rel = str_of(a, "path");
        let path = root.join(rel);
        let expect = str_of(a, "expect");
        let what = format!(
            "{rel} ({} {}, {})",
            field(a, "zarr_dtype"),
            str_of(a, "order"),
            field(a, "compressor")
        );
        let opened = match no_panic(&what, || ZarrVolume::open(&path)) {
            Ok(r) => r,
            Err(p) => {
                failures.push(p);
                continue;
            }
        };
        let vol = match (opened, expect) {
            (Err(e), "refuse") | (Err(e), "either") => {
                if !e.to_string().contains(&path.display().to_string()) {
                    failures.push(format!("{what}: the error does not name the array: {e}"));
                }
                let kind = if expect == "either" {
                    format!("codec {}", field(a, "compressor"))
                } else {
                    format!("dtype {}", field(a, "zarr_dtype"))
                };
                messages.entry(kind).or_insert_with(|| e.to_string());
                if expect == "either" {
                    *optional_refused
                        .entry(format!("{}", field(a, "compressor")))
                        .or_default() += 1;
                }
                refused += 1;
                continue;
            }
            (Err(e), _) => {
                failures.push(format!("{what}: open failed: {e}"));
                continue;
            }
            (Ok(vol), "refuse") => {
                failures.push(format!(
                    "{what}: opened as {} {:?}; {} so it must be refused",
                    vol.dtype(),
                    vol.shape(),
                    str_of(a, "why")
                ));
                continue;
            }
            (Ok(vol), _) => vol,
        };
        let Some(full) = a.get("full") else {
            failures.push(format!(
                "{what}: opened, but zarr-python cannot read it: {}",
                a.get("zarr_python_error").unwrap_or(&Value::Null)
            ));
            continue;
        };
        let dtype: DType = str_of(a, "dtype").parse().expect("dtype");
        if vol.dtype() != dtype || vol.shape() != usizes(field(a, "shape")).as_slice() {
            failures.push(format!(
                "{what}: {} {:?}, zarr-python says {dtype} {:?}",
                vol.dtype(),
                vol.shape(),
                field(a, "shape")
            ));
            continue;
        }
        let exact = !dtype.is_float();
        let part = match Partition::builder(vol)
            .cell(&usizes(field(a, "cell")))
            .stride(f64_or_nonfinite(field(a, "stride")))
            .build()
        {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{what}: partition failed: {e}"));
                continue;
            }
        };
        match no_panic(&what, || walk_digests(&part)) {
            Ok(Ok(got)) => failures.extend(compare_cells(
                &what,
                &got,
                field(a, "cells").as_array().expect("cells"),
                exact,
            )),
            Ok(Err(e)) => failures.push(format!("{what}: walk failed: {e}")),
            Err(p) => failures.push(p),
        }
        match no_panic(&what, || check_full(&what, part.into_volume(), full, exact)) {
            Ok(f) => failures.extend(f),
            Err(p) => failures.push(p),
        }
        read += 1;
    }
    // An array inside the collection's group hierarchy, by store + path.
    for rel in ["3/4", "nested", "flat"] {
        if let Some(a) = arrays.iter().find(|a| str_of(a, "path") == rel) {
            match ZarrVolume::open_in(&root, rel) {
                Ok(vol) => failures.extend(check_full(
                    &format!("open_in(root, {rel:?})"),
                    vol,
                    field(a, "full"),
                    true,
                )),
                Err(e) => failures.push(format!("open_in(root, {rel:?}) failed: {e}")),
            }
        }
    }
    for (kind, msg) in &messages {
        eprintln!("refused ({kind}): {msg}");
    }
    eprintln!(
        "zarr 2.18 fixture collection: {} arrays, {read} read as zarr-python reads them, \
         {refused} refused (of which under optional codecs: {optional_refused:?})",
        arrays.len()
    );
    report("on the zarr 2.18 fixture collection", failures);
}
