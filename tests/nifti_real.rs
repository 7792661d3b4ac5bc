//! Real NIfTI files that no one here wrote, checked against nibabel.
//!
//! Runs only when `IMPART_NIFTI_REAL_DIR` names a directory prepared by
//!
//! ```text
//! python3 data-scripts/fetch_nifti_real.py DIR     # nibabel and dipy wheels, mricron-data
//! python3 data-scripts/nifti_crosscheck.py DIR     # writes DIR/expected.json
//! ```
//!
//! (CI does this; see `.ci/run`). A plain `cargo test` lists the test as
//! ignored, with that reason, and needs no Python and no network.
//!
//! For every file nibabel reads, every cell of a stride-0.5 grid (at most
//! about 200 per file) must hold nibabel's stored values bit for bit and its
//! `get_fdata()` values to a relative 1e-6, and each cell's world origin must
//! equal nibabel's affine applied to the cell's start voxel to 1e-6. Files
//! nibabel cannot read, or whose data type impart refuses, must give an
//! error that names the file.

mod common;
mod nifti_check;

use std::time::Instant;

use common::{env_dir, field, load_manifest, str_of};
use nifti_check::{check_volume, file_name, names_file, options, Tol};

const FORMAT: u64 = 1;

#[test]
#[ignore = "needs IMPART_NIFTI_REAL_DIR: run data-scripts/fetch_nifti_real.py DIR \
              and data-scripts/nifti_crosscheck.py DIR first, then run with --include-ignored"]
fn real_files_match_nibabel() {
    let dir = env_dir(
        "IMPART_NIFTI_REAL_DIR",
        "run data-scripts/fetch_nifti_real.py DIR and data-scripts/nifti_crosscheck.py DIR",
    );
    let path = dir.join("expected.json");
    let manifest = load_manifest(
        &path,
        FORMAT,
        &format!("run data-scripts/nifti_crosscheck.py {}", dir.display()),
    );
    let files = field(&manifest, "files").as_array().expect("files");
    assert!(!files.is_empty(), "{}: no files", path.display());

    let cache = tempfile::tempdir().expect("temp dir");
    let opts = options(cache.path(), true);
    let mut failures: Vec<String> = Vec::new();
    let mut failed_files = Vec::new();
    let (mut ok, mut refused, mut skipped, mut cells) = (0, 0, 0, 0);
    for entry in files {
        let rel = str_of(entry, "file");
        let file = dir.join(rel);
        let started = Instant::now();
        let before = failures.len();
        match str_of(entry, "expect") {
            "ok" => {
                failures.extend(check_volume(rel, &file, entry, &opts, true, Tol::real()));
                ok += 1;
                cells += field(entry, "cells").as_array().map_or(0, Vec::len);
            }
            "error" => {
                let why = str_of(entry, "why");
                match opts.open(&file) {
                    Ok(v) => failures.push(format!(
                        "{rel}: opened (shape {:?}, {}), but nibabel/impart's rules say \
                         it must fail: {why}",
                        impart::Volume::shape(&v),
                        impart::Volume::dtype(&v)
                    )),
                    Err(e) if !names_file(&e, &[file_name(&file)]) => {
                        failures.push(format!("{rel}: the error does not name the file: {e}"))
                    }
                    Err(e) => eprintln!("refused {rel} ({why}): {e}"),
                }
                refused += 1;
            }
            "skip" => {
                eprintln!("skipped {rel}: {}", str_of(entry, "why"));
                skipped += 1;
            }
            other => panic!("{rel}: unknown expect {other:?}"),
        }
        let status = if failures.len() > before {
            failed_files.push(rel.to_string());
            "FAILED"
        } else {
            "ok"
        };
        eprintln!(
            "{status:>6}  {rel} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "real NIfTI files: {ok} read ({cells} cells), {refused} refused as expected, \
         {skipped} skipped, {} failed",
        failed_files.len()
    );
    // keep the message readable: at most 5 failures per file
    let mut shown = Vec::new();
    for f in &failed_files {
        let mine: Vec<&String> = failures
            .iter()
            .filter(|m| m.starts_with(&format!("{f}:")))
            .collect();
        shown.extend(mine.iter().take(5).map(|m| m.to_string()));
        if mine.len() > 5 {
            shown.push(format!("{f}: {} more failures", mine.len() - 5));
        }
    }
    assert!(
        failures.is_empty(),
        "{} real file(s) disagree with nibabel ({}):\n  {}",
        failed_files.len(),
        failed_files.join(", "),
        shown.join("\n  ")
    );
}
