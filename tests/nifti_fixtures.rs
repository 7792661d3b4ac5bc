//! NIfTI files written by nibabel, read back through impart.
//!
//! `data-scripts/make_nifti_fixtures.py` writes the committed set in
//! `tests/data/nifti` (every supported dtype, big endian, 1-D to 5-D,
//! scaling, extensions, NIfTI-2, `.hdr/.img` pairs, gzip, sform / qform /
//! neither, misaligning `vox_offset`s) and `cases.json`: per file what
//! nibabel reads (shape, dtype, affine, scaling, and per cell of a stride-0.5
//! grid the region, digests of the stored and the scaled values, and the
//! world origin), plus files impart must refuse (RGB24, complex, …) and
//! hand-made hostile headers.
//!
//! The checks are in `tests/nifti_check/mod.rs`, shared with
//! `tests/nifti_real.rs`, and in `tests/common/mod.rs`, shared with the
//! other fixture tests.

mod common;
mod nifti_check;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use common::{field, load_manifest, report, str_of, strings, usizes};
use impart::{NiftiOptions, NiftiVolume, Partition, Volume};
use nifti_check::{check_volume, file_name, names_file, options, Tol};
use serde_json::Value;

const FORMAT: u64 = 1;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nifti")
}

fn manifest() -> Value {
    load_manifest(
        &dir().join("cases.json"),
        FORMAT,
        "generate it with data-scripts/make_nifti_fixtures.py",
    )
}

fn cases(kind: &str) -> Vec<Value> {
    field(&manifest(), "cases")
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| str_of(c, "kind") == kind)
        .cloned()
        .collect()
}

fn is_quirk(c: &Value) -> bool {
    c.get("quirk").is_some()
}

/// Every valid fixture, through every path that names it (`.hdr` and `.img`
/// of a pair), mapped and with `mmap(false)`.
#[test]
fn valid_fixtures_match_nibabel() {
    let cache = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let mut n = 0;
    for case in cases("valid").iter().filter(|c| !is_quirk(c)) {
        let name = str_of(case, "name");
        let opens = strings(field(case, "open"));
        for (k, p) in opens.iter().enumerate() {
            let path = dir().join(p);
            failures.extend(check_volume(
                &format!("{name} ({p})"),
                &path,
                case,
                &options(cache.path(), true),
                true,
                Tol::exact(),
            ));
            if k == 0 {
                failures.extend(check_volume(
                    &format!("{name} ({p}, mmap(false))"),
                    &path,
                    case,
                    &options(cache.path(), false),
                    false,
                    Tol::exact(),
                ));
            }
            n += 1;
        }
    }
    report("checking the NIfTI fixtures", failures);
    eprintln!("checked {n} NIfTI fixture paths against nibabel");
}

/// Headers that nibabel repairs when it loads them (qfac 0, negative or
/// zero pixdim, an undefined sform code): impart must read them as nibabel
/// does. Kept apart from the other fixtures because these follow nibabel's
/// choices rather than the NIfTI standard's letter.
#[test]
fn header_repairs_match_nibabel() {
    let cache = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for case in cases("valid").iter().filter(|c| is_quirk(c)) {
        let name = str_of(case, "name");
        let p = &strings(field(case, "open"))[0];
        let quirk = str_of(case, "quirk");
        failures.extend(
            check_volume(
                name,
                &dir().join(p),
                case,
                &options(cache.path(), true),
                true,
                Tol::exact(),
            )
            .into_iter()
            .map(|f| format!("{f} [{quirk}]")),
        );
    }
    report("checking header repairs", failures);
}

// ---------------------------------------------------------------------------
// Files impart must refuse

/// What happened to a file impart should refuse.
enum Outcome {
    /// `open` failed with this message.
    OpenError(String, bool),
    /// `open` succeeded, partitioning or reading failed.
    LateError(String),
    /// Everything succeeded.
    Opened(Vec<usize>),
}

/// Opens `path`, partitions every axis and reads every cell, catching panics.
fn try_everything(path: &Path, opts: &NiftiOptions) -> std::thread::Result<Outcome> {
    // the error may name the file opened or its partner (`x.img` for `x.hdr`)
    let file = file_name(path);
    let stem = file.split('.').next().unwrap_or_default().to_string();
    let names = vec![file, stem];
    catch_unwind(AssertUnwindSafe(|| {
        let vol = match opts.open(path) {
            Ok(v) => v,
            Err(e) => return Outcome::OpenError(e.to_string(), names_file(&e, &names)),
        };
        let cell: Vec<usize> = vol.shape().iter().map(|&n| n.clamp(1, 4)).collect();
        let part = match Partition::builder(&vol).cell(&cell).stride(0.5).build() {
            Ok(p) => p,
            Err(e) => return Outcome::LateError(e.to_string()),
        };
        let read = part.cells("...").and_then(|cells| {
            for sel in cells {
                sel.to_array_as::<f64>()?;
                sel.to_array_scaled::<f64>()?;
            }
            Ok(())
        });
        match read {
            Ok(()) => Outcome::Opened(vol.shape().to_vec()),
            Err(e) => Outcome::LateError(e.to_string()),
        }
    }))
}

fn check_refused(case: &Value, cache: &Path, failures: &mut Vec<String>) {
    let name = str_of(case, "name");
    let why = str_of(case, "why");
    let path = dir().join(str_of(case, "file"));
    let must = str_of(case, "must");
    for mmap in [true, false] {
        let label = format!("{name} ({why}, mmap {mmap})");
        match (must, try_everything(&path, &options(cache, mmap))) {
            (_, Err(_)) => failures.push(format!("{label}: PANICKED")),
            ("error", Ok(Outcome::OpenError(_, true))) => {}
            // an empty volume may open and fail when partitioned
            ("error", Ok(Outcome::LateError(_))) if name == "bad_dim_zero" => {}
            ("error", Ok(Outcome::OpenError(msg, false))) => {
                failures.push(format!("{label}: the error does not name the file: {msg}"))
            }
            ("error", Ok(Outcome::LateError(msg))) => failures.push(format!(
                "{label}: opened; the error came only when reading: {msg}"
            )),
            ("error", Ok(Outcome::Opened(shape))) => failures.push(format!(
                "{label}: opened and read without error (shape {shape:?})"
            )),
            ("no_panic", Ok(outcome)) => {
                if mmap {
                    let what = match outcome {
                        Outcome::OpenError(m, _) => format!("refused: {m}"),
                        Outcome::LateError(m) => format!("opened, then: {m}"),
                        Outcome::Opened(s) => format!("read, shape {s:?}"),
                    };
                    eprintln!("{name} ({why}): {what}");
                }
            }
            (other, _) => panic!("unknown \"must\": {other}"),
        }
    }
}

/// Every case of `kind` (at least `min` of them) refused as `check_refused`
/// demands.
fn check_all_refused(kind: &str, min: usize, what: &str) {
    let cache = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let cases = cases(kind);
    assert!(cases.len() >= min);
    for case in &cases {
        check_refused(case, cache.path(), &mut failures);
    }
    report(what, failures);
}

/// Data types impart does not support: a typed error naming the file.
#[test]
fn refused_types_give_errors() {
    check_all_refused("refused", 5, "refusing unsupported types");
}

/// Hand-made hostile headers: an error naming the file, never a panic.
#[test]
fn hostile_headers_give_errors() {
    check_all_refused("hostile", 30, "on hostile headers");
}

// ---------------------------------------------------------------------------
// Truncated files

/// The prefix lengths tried for a file of `n` bytes: all of them for small
/// files; for larger ones every length through the headers and the first
/// data, then a stride, then the last 24.
fn prefix_lengths(n: usize) -> Vec<usize> {
    if n <= 1200 {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..=700).collect();
    v.extend((701..n - 24).step_by(7));
    v.extend(n - 24..n);
    v
}

/// Every prefix of every file of every valid fixture opens with an error
/// that names a file, or opens and reads exactly what nibabel reads; it
/// never panics.
#[test]
fn truncated_prefixes_fail_cleanly() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let mut tried = 0usize;
    let mut opened = 0usize;
    for case in cases("valid").iter().filter(|c| !is_quirk(c)) {
        let name = str_of(case, "name");
        let opens = strings(field(case, "open"));
        let truncate = strings(field(case, "truncate"));
        let files: BTreeSet<String> = opens.iter().chain(&truncate).cloned().collect();
        for victim in &truncate {
            let bytes = std::fs::read(dir().join(victim)).expect("fixture");
            let mut case_failures = 0;
            for len in prefix_lengths(bytes.len()) {
                tried += 1;
                let sub = scratch.path().join(format!("{name}-{victim}-{len}"));
                std::fs::create_dir_all(&sub).expect("mkdir");
                for f in &files {
                    if f == victim {
                        std::fs::write(sub.join(f), &bytes[..len]).expect("write prefix");
                    } else {
                        std::fs::copy(dir().join(f), sub.join(f)).expect("copy");
                    }
                }
                let path = sub.join(&opens[0]);
                let cache = sub.join("cache");
                let names = vec![victim.clone(), opens[0].clone()];
                let label = format!("{name}: {victim} cut to {len} of {} bytes", bytes.len());
                let result = catch_unwind(AssertUnwindSafe(|| {
                    match options(&cache, true).open(&path) {
                        Err(e) => Err((e.to_string(), names_file(&e, &names))),
                        Ok(_) => Ok(check_volume(
                            &label,
                            &path,
                            case,
                            &options(&cache, true),
                            true,
                            Tol::exact(),
                        )),
                    }
                }));
                let failure = match result {
                    Err(_) => Some(format!("{label}: PANICKED")),
                    Ok(Err((_, true))) => None,
                    Ok(Err((msg, false))) => {
                        Some(format!("{label}: the error does not name the file: {msg}"))
                    }
                    Ok(Ok(f)) if f.is_empty() => {
                        opened += 1;
                        None
                    }
                    Ok(Ok(f)) => Some(format!(
                        "{label}: opened, but reads differ from nibabel: {}",
                        f.join("; ")
                    )),
                };
                if let Some(f) = failure {
                    case_failures += 1;
                    if case_failures <= 3 {
                        failures.push(f);
                    } else if case_failures == 4 {
                        failures.push(format!("{name}: {victim}: more failures not listed"));
                    }
                }
                let _ = std::fs::remove_dir_all(&sub);
            }
        }
    }
    eprintln!("{tried} truncated prefixes tried, {opened} opened and read correctly");
    report("on truncated prefixes", failures);
}

// ---------------------------------------------------------------------------
// The gzip cache

/// A `.nii.gz` decompresses once into the cache directory; an unchanged
/// source reuses the cache file, a changed one gets a new one.
#[test]
fn gz_cache_is_reused_and_follows_the_source() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let cache = scratch.path().join("cache");
    let src = scratch.path().join("vol.nii.gz");
    std::fs::copy(dir().join("gz_u16.nii.gz"), &src).expect("copy");
    let opts = options(&cache, true);
    let a = opts.open(&src).expect("open");
    assert!(a.is_cached());
    let first = a.cache_path().expect("a cache path").to_path_buf();
    assert!(
        first.starts_with(&cache),
        "{} not under {}",
        first.display(),
        cache.display()
    );
    // an old use time of its own, whatever the file system's clock
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
    std::fs::File::options()
        .write(true)
        .open(&first)
        .and_then(|f| f.set_modified(long_ago))
        .expect("set the cache file's mtime");
    let meta = std::fs::metadata(&first).expect("the cache file exists");
    let b = opts.open(&src).expect("open again");
    assert_eq!(
        b.cache_path(),
        Some(first.as_path()),
        "the cache was not reused"
    );
    let again = std::fs::metadata(&first).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(again.ino(), meta.ino(), "the cache file was rewritten");
    }
    // the reuse is recorded in the modification time (for LRU eviction)
    assert_ne!(
        again.modified().unwrap(),
        long_ago,
        "the reuse was not recorded"
    );
    drop((a, b));

    // another volume under the same name: a new cache file, the new values
    std::fs::copy(dir().join("gz_i16_4d_scaled_be.nii.gz"), &src).expect("copy");
    // a timestamp of its own, whatever the file system's clock granularity
    std::fs::File::options()
        .write(true)
        .open(&src)
        .and_then(|f| {
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30))
        })
        .expect("set the mtime");
    let m = manifest();
    let case = field(&m, "cases")
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some("gz_i16_4d_scaled_be"))
        .expect("gz_i16_4d_scaled_be in cases.json");
    let failures = check_volume("replaced source", &src, case, &opts, true, Tol::exact());
    report("in the gz cache", failures);
    let c = opts.open(&src).expect("open the replaced source");
    assert_ne!(c.cache_path(), Some(first.as_path()));
}

/// Opening the default way (no options) works too, and an uncompressed
/// file is not cached.
#[test]
fn default_open() {
    let v = NiftiVolume::open(dir().join("i16_3d.nii")).expect("open");
    assert!(!v.is_cached());
    assert!(v.cache_path().is_none());
    assert_eq!(v.shape(), &[5, 7, 3]);
    let v = NiftiVolume::open(dir().join("pair_i16.img")).expect("open a pair by its .img");
    assert_eq!(v.header().version, 1);
}

// ---------------------------------------------------------------------------
// The set covers what the issue asks for

#[test]
fn fixture_set_covers_the_matrix() {
    let valid = cases("valid");
    let plain: Vec<&Value> = valid.iter().filter(|c| !is_quirk(c)).collect();
    let has = |pred: &dyn Fn(&Value) -> bool, what: &str| {
        assert!(plain.iter().any(|c| pred(c)), "no fixture with {what}");
    };
    for d in impart::DType::ALL {
        has(&|c| str_of(c, "dtype") == d.name(), d.name());
        if d.size() > 1 {
            has(
                &|c| str_of(c, "dtype") == d.name() && str_of(c, "byte_order") == "little",
                &format!("little-endian {d}"),
            );
        }
    }
    has(&|c| str_of(c, "byte_order") == "big", "big-endian data");
    for ndim in 1..=5 {
        has(
            &|c| usizes(field(c, "shape")).len() == ndim,
            &format!("{ndim}-D data"),
        );
    }
    let int = |c: &Value, k: &str| field(c, k).as_i64().unwrap();
    has(&|c| int(c, "version") == 2, "NIfTI-2");
    has(
        &|c| int(c, "vox_offset") > 352 && int(c, "version") == 1,
        "an extension",
    );
    has(
        &|c| int(c, "vox_offset") % 2 == 1 && str_of(c, "dtype") == "i16",
        "a misaligning vox_offset",
    );
    has(
        &|c| int(c, "sform_code") > 0 && int(c, "qform_code") == 0,
        "sform only",
    );
    has(
        &|c| int(c, "sform_code") == 0 && int(c, "qform_code") > 0,
        "qform only",
    );
    has(
        &|c| int(c, "sform_code") == 0 && int(c, "qform_code") == 0,
        "neither form",
    );
    has(&|c| field(c, "scaling").is_null(), "no scaling");
    has(
        &|c| {
            field(c, "scaling")
                .as_array()
                .is_some_and(|s| s[0].as_f64() == Some(0.30000001192092896))
        },
        "the float32 slope 0.3",
    );
    has(&|c| field(c, "compressed").as_bool() == Some(true), "gzip");
    has(
        &|c| {
            strings(field(c, "open"))
                .iter()
                .any(|p| p.ends_with(".hdr"))
        },
        "a .hdr/.img pair",
    );
    has(
        &|c| {
            strings(field(c, "open"))
                .iter()
                .any(|p| p.ends_with(".img.gz"))
        },
        "an .img.gz",
    );
    let cells: usize = plain
        .iter()
        .map(|c| field(c, "cells").as_array().unwrap().len())
        .sum();
    assert!(cells >= 300, "only {cells} cells");
    // the set stays small
    let total: u64 = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 400 * 1024, "tests/data/nifti holds {total} bytes");
}
