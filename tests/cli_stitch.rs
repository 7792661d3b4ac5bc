//! `impart stitch` end to end, through the binary: runs killed with SIGKILL
//! at many moments and resumed, byte for byte against an uninterrupted run,
//! for every output kind; resuming a complete output or another job;
//! predictions from a directory of `.npy` files (against the built-in
//! synthetic predictor, computed here with the library's
//! `impart::stitch::synthetic`), and every way such a directory can be
//! wrong, each refused before anything is written; Zarr chunks written
//! exactly once; a NIfTI source's affine carried to the output.
//!
//! The volume is a 48 x 40 x 36 f32 raw file written here, with 16³ cells
//! at stride 0.5: a grid of 5 x 4 x 4 = 80 cells, the last ones along the
//! third axis clipped to 12. Nothing asserts a time: the kill schedule is
//! spread over the measured duration of an uninterrupted run, and the
//! counts of kills that landed mid-run are printed (`--nocapture`) and only
//! required to be a fraction of them.
//!
//! Expected bytes of `.raw` outputs are compared with values read through
//! the library (native-endian), so the file runs on little-endian hosts;
//! the kills need Unix signals.
#![cfg(all(feature = "cli", feature = "fragment", unix, target_endian = "little"))]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use impart::output::{NiftiOutputOptions, OutputVolume};
use impart::{DType, Region, Volume};
use ndarray::{ArrayD, Axis, IxDyn, ShapeBuilder};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde_json::Value;

#[path = "common/kill.rs"]
mod kill;
use kill::{fresh, impart, listing, ok, remove, spawn_and_kill, text, tree, Counts};

// ---------------------------------------------------------------------------
// The volume, the grid and running the binary

const SHAPE: [usize; 3] = [48, 40, 36];
const VOXELS: usize = 48 * 40 * 36;
/// The grid flags every command here is given (the raw flags apart).
const GRID: [&str; 4] = ["--cell", "16,16,16", "--stride", "0.5"];
const RAW: [&str; 4] = ["--shape", "48,40,36", "--dtype", "f32"];
/// Cells of the grid: 5 x 4 x 4.
const CELLS: usize = 80;

/// Multiples of 1/16 from -10.125 to 12 (exact in f32, and the cell means
/// of both signs, so the argmax of the synthetic channels varies).
fn voxel(z: usize, y: usize, x: usize) -> f32 {
    let n =
        ((z * 37 + y * 11 + x * 5) % 97) as i64 + 4 * (z as i64 - 20) - 2 * (x as i64 - 18) - 48;
    n as f32 / 16.0
}

/// The volume's voxels, C order.
fn voxels() -> Vec<f32> {
    let mut v = Vec::with_capacity(VOXELS);
    for z in 0..SHAPE[0] {
        for y in 0..SHAPE[1] {
            for x in 0..SHAPE[2] {
                v.push(voxel(z, y, x));
            }
        }
    }
    v
}

/// Writes the volume as a little-endian f32 raw file `vol.raw` in `dir`.
fn raw_volume(dir: &Path) -> PathBuf {
    let path = dir.join("vol.raw");
    let bytes: Vec<u8> = voxels().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `impart stitch VOL <raw flags> <grid flags> --out OUT --quiet --json EXTRA`
/// (no raw flags for a NIfTI source).
fn stitch_args(vol: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["stitch".into(), s(vol).into()];
    if vol.extension().is_some_and(|e| e == "raw") {
        v.extend(RAW.iter().map(|a| a.to_string()));
    }
    v.extend(GRID.iter().map(|a| a.to_string()));
    v.extend(["--out", s(out), "--quiet", "--json"].map(String::from));
    v.extend(extra.iter().map(|a| a.to_string()));
    v
}

/// The JSON summary of a stitch that must succeed.
fn ok_json(out: &Output) -> Value {
    let o = ok(out);
    serde_json::from_str(&o).unwrap_or_else(|e| panic!("{e}: {o}"))
}

/// Runs a stitch that must succeed; its JSON summary.
fn stitch(vol: &Path, out: &Path, extra: &[&str]) -> Value {
    ok_json(&impart(&stitch_args(vol, out, extra)))
}

/// Every voxel of a volume opened by the library, as native-endian bytes
/// of its type (C order of its logical axes), with its shape and type.
fn read_all(path: &Path) -> (Vec<usize>, DType, Vec<u8>) {
    let vol = impart::open(path).unwrap();
    let shape = vol.shape().to_vec();
    let dtype = vol.dtype();
    let mut bytes = vec![0u8; shape.iter().product::<usize>() * dtype.size()];
    vol.read_region(&Region::full(&shape), &mut bytes).unwrap();
    (shape, dtype, bytes)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The first index of the largest value (the argmax of `impart stitch`).
fn argmax(values: &[f32]) -> u8 {
    let mut best = 0;
    for (k, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = k;
        }
    }
    best as u8
}

// ---------------------------------------------------------------------------
// 1. Killed at many moments and resumed, for every output kind

/// An uninterrupted run into `ref/out.EXT`, then `kills` runs into their
/// own directories, each killed after a delay spread over the reference
/// run's duration (from 0 to twice it), some of the resumed runs killed
/// again, then resumed by a run that must succeed: each must end
/// byte-identical to the reference, with nothing beside it.
fn kill_and_resume(ext: &str, extra: &[&str], kills: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    let name = format!("out.{ext}");
    let reference_dir = fresh(tmp.path(), "ref");
    let reference_out = reference_dir.join(&name);
    let t0 = Instant::now();
    let summary = stitch(&vol, &reference_out, extra);
    let duration = t0.elapsed();
    assert_eq!(summary["resumed_regions"], 0);
    let reference = tree(&reference_out);
    assert_eq!(listing(&reference_dir), vec![name.clone()]);

    let mut counts = Counts::default();
    for i in 0..kills {
        let dir = fresh(tmp.path(), &format!("k{i}"));
        let out = dir.join(&name);
        let plain = stitch_args(&vol, &out, extra);
        let mut resume = plain.clone();
        resume.push("--resume".into());
        // 0, then evenly up to 0.8 of the reference's duration (a run under
        // less load than the reference was is faster), then past its end
        let delay = match i {
            0 => Duration::ZERO,
            _ if i + 2 < kills => duration.mul_f64(0.8 * i as f64 / (kills - 3) as f64),
            _ if i + 2 == kills => duration.mul_f64(1.5),
            _ => duration.mul_f64(2.0),
        };
        // odd runs start with --resume and nothing to resume
        let first = if i % 2 == 1 { &resume } else { &plain };
        let interrupted = spawn_and_kill(first, delay);
        counts.kills += 1;
        counts.interrupted += usize::from(interrupted);
        let check_no_partial = |out: &Path| {
            // never a partial output under the final name
            if out.exists() {
                assert!(tree(out) == reference, "{ext} #{i}: a partial output");
            }
            // beside it, only its journal and temporary files
            let own = format!(".{name}.");
            for n in listing(&dir) {
                assert!(
                    n == name
                        || (n.starts_with(&own)
                            && (n.ends_with(".impart-tmp") || n.ends_with(".impart-journal"))),
                    "{ext} #{i}: a killed run left {n}"
                );
            }
        };
        check_no_partial(&out);
        if i % 3 == 1 {
            // the resumed run killed too, at another moment
            let again = spawn_and_kill(&resume, duration.mul_f64(((i * 7) % 10) as f64 / 10.0));
            counts.resume_kills += 1;
            counts.resume_interrupted += usize::from(again);
            check_no_partial(&out);
        }
        let stdout = ok(&impart(&resume));
        if stdout.contains("nothing to resume") {
            counts.complete += 1;
        } else {
            let j: Value = serde_json::from_str(&stdout).unwrap();
            let resumed = j["resumed_regions"].as_u64().unwrap();
            assert!(resumed <= j["regions"].as_u64().unwrap());
            counts.resumed_some += usize::from(resumed > 0);
        }
        if !interrupted {
            assert!(
                stdout.contains("nothing to resume"),
                "{ext} #{i}: a finished run resumed: {stdout}"
            );
        }
        assert!(
            tree(&out) == reference,
            "{ext} #{i} (killed after {delay:?}): resumed output differs from an uninterrupted run"
        );
        assert_eq!(
            listing(&dir),
            vec![name.clone()],
            "{ext} #{i}: stray files beside the output"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    counts.print(ext, duration, None);
    counts.check(ext);
}

/// The workload of the kill tests: 3 channels, one thread (about 0.15 s
/// for `.raw` in a debug build, 0.6 s for `.nii.gz`, which compresses).
const KILL_FLAGS: [&str; 4] = ["--synthetic", "3", "--threads", "1"];

#[test]
fn killed_raw_resumes_to_the_same_bytes() {
    kill_and_resume("raw", &KILL_FLAGS, 20);
}

#[test]
fn killed_nii_resumes_to_the_same_bytes() {
    kill_and_resume("nii", &KILL_FLAGS, 20);
}

#[test]
fn killed_nii_gz_resumes_to_the_same_bytes() {
    kill_and_resume("nii.gz", &KILL_FLAGS, 20);
}

#[test]
fn killed_zarr_resumes_to_the_same_bytes() {
    kill_and_resume("zarr", &KILL_FLAGS, 20);
}

// ---------------------------------------------------------------------------
// 2. Resuming a complete output, nothing, or another job

/// The journal of a stitch into `out`.
fn journal_of(out: &Path) -> PathBuf {
    let name = out.file_name().unwrap().to_string_lossy();
    out.with_file_name(format!(".{name}.impart-journal"))
}

/// The regions a journal lists (its complete lines after the job's).
fn journal_regions(journal: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |p| p + 1)];
    complete
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("r ")?.parse().ok())
        .collect()
}

/// Runs `args` and kills it as soon as its journal lists `regions`
/// regions (mid-run, so a resume has regions to reuse); returns the
/// regions listed. Starts again from nothing if the run ended first or
/// `accept` refuses the regions listed when it was killed (it went on too
/// far on a loaded machine).
fn kill_after_regions(
    args: &[String],
    out: &Path,
    regions: usize,
    accept: impl Fn(&[usize]) -> bool,
) -> Vec<usize> {
    let journal = journal_of(out);
    let temp = impart::output::resumable_temp_path(out);
    for _ in 0..10 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        loop {
            let lines = std::fs::read(&journal)
                .map(|t| t.iter().filter(|&&b| b == b'\n').count())
                .unwrap_or(0);
            // the job line, then one line per region
            if lines > regions || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no journal");
        }
        child.kill().unwrap();
        let killed = child.wait().unwrap().signal() == Some(libc::SIGKILL);
        let done = journal_regions(&journal);
        if killed && !out.exists() && done.len() >= regions && accept(&done) {
            assert!(temp.exists());
            return done;
        }
        // again, from nothing
        remove(out);
        remove(&journal);
        remove(&temp);
    }
    panic!("every run ended before it was killed with {regions} regions in its journal");
}

#[test]
fn resume_of_a_complete_output_of_nothing_and_of_another_job() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    let flags = ["--synthetic", "4", "--threads", "1"];

    // a complete output: nothing to resume, left as it is
    let dir = fresh(tmp.path(), "complete");
    let out = dir.join("out.raw");
    stitch(&vol, &out, &flags);
    let reference = std::fs::read(&out).unwrap();
    let modified = std::fs::metadata(&out).unwrap().modified().unwrap();
    let mut resume = stitch_args(&vol, &out, &flags);
    resume.push("--resume".into());
    let o = ok(&impart(&resume));
    assert!(o.contains("nothing to resume"), "{o}");
    assert_eq!(std::fs::read(&out).unwrap(), reference);
    assert_eq!(
        std::fs::metadata(&out).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(listing(&dir), ["out.raw"]);
    // killed between the rename and the journal's removal: the journal goes
    std::fs::write(journal_of(&out), "{}\nr 0\n").unwrap();
    let o = ok(&impart(&resume));
    assert!(o.contains("nothing to resume"), "{o}");
    assert_eq!(std::fs::read(&out).unwrap(), reference);
    assert_eq!(listing(&dir), ["out.raw"]);

    // --resume with no earlier run: the whole output
    let dir = fresh(tmp.path(), "nothing");
    let out = dir.join("out.raw");
    let mut args = stitch_args(&vol, &out, &flags);
    args.push("--resume".into());
    let j = ok_json(&impart(&args));
    assert_eq!(j["resumed_regions"], 0);
    assert_eq!(j["cells_added"], CELLS);
    assert_eq!(std::fs::read(&out).unwrap(), reference);
    assert_eq!(listing(&dir), ["out.raw"]);

    // killed mid-run, resumed with the same flags: the journal is trusted.
    // The plan walks axis 0 outermost; its 6 slabs of regions have 20 each,
    // and once the first two are written the 16 cells of the first row
    // along axis 0 contribute to nothing left
    let dir = fresh(tmp.path(), "same");
    let out = dir.join("out.raw");
    kill_after_regions(&stitch_args(&vol, &out, &flags), &out, 45, |d| {
        d.len() < 120
    });
    let mut args = stitch_args(&vol, &out, &flags);
    args.push("--resume".into());
    let j = ok_json(&impart(&args));
    let resumed = j["resumed_regions"].as_u64().unwrap();
    assert_eq!(j["regions"], 120);
    assert!((45..120).contains(&resumed), "{j}");
    assert!(
        j["cells_added"].as_u64().unwrap() <= (CELLS - 16) as u64,
        "{j}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), reference);
    assert_eq!(listing(&dir), ["out.raw"]);

    // killed mid-run, resumed with other flags: the journal is not trusted,
    // the output is that of a fresh run with the new flags
    let cases: [(&str, &[&str]); 4] = [
        ("raw", &["--blend", "mean"]),
        ("raw", &["--accumulate", "f64"]),
        ("nii", &["--sigma-scale", "0.25"]),
        ("zarr", &["--chunks", "16,20,12"]),
    ];
    for (k, (ext, other)) in cases.into_iter().enumerate() {
        let name = format!("out.{ext}");
        let fresh_dir = fresh(tmp.path(), &format!("fresh{k}"));
        let mut new_flags = flags.to_vec();
        new_flags.extend_from_slice(other);
        stitch(&vol, &fresh_dir.join(&name), &new_flags);
        let expected = tree(&fresh_dir.join(&name));
        let dir = fresh(tmp.path(), &format!("other{k}"));
        let out = dir.join(&name);
        kill_after_regions(&stitch_args(&vol, &out, &flags), &out, 2, |_| true);
        let mut args = stitch_args(&vol, &out, &new_flags);
        args.push("--resume".into());
        let j = ok_json(&impart(&args));
        assert_eq!(j["resumed_regions"], 0, "{other:?}: {j}");
        assert_eq!(j["cells_added"], CELLS, "{other:?}");
        assert!(
            tree(&out) == expected,
            "{other:?}: a resume with other flags differs from a fresh run with them"
        );
        assert!(
            tree(&out) != tree(&tmp.path().join("complete/out.raw")) || ext != "raw",
            "{other:?} changes nothing"
        );
        assert_eq!(listing(&dir), [name]);
    }
}

// ---------------------------------------------------------------------------
// 3. Predictions from a directory

/// `impart fragment` of the volume into `dir` (npy), with the grid flags
/// (or `grid`); its manifest's lines.
fn fragment(vol: &Path, dir: &Path, grid: &[&str]) -> Vec<Value> {
    let mut args = vec!["fragment", s(vol)];
    args.extend_from_slice(&RAW);
    args.extend_from_slice(grid);
    args.extend_from_slice(&["--out", s(dir), "--quiet"]);
    ok(&impart(&args));
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The cells of a fragment directory: file name and voxels as f32.
fn cells(frag: &Path, manifest: &[Value]) -> Vec<(String, ArrayD<f32>)> {
    manifest
        .iter()
        .map(|line| {
            let file = line["file"].as_str().unwrap().to_string();
            let a =
                ArrayD::<f32>::read_npy(std::fs::File::open(frag.join(&file)).unwrap()).unwrap();
            let shape: Vec<usize> = line["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(a.shape(), &shape[..]);
            (file, a)
        })
        .collect()
}

fn write_npy<A: ndarray_npy::WritableElement>(path: &Path, a: &ArrayD<A>) {
    a.write_npy(std::fs::File::create(path).unwrap()).unwrap();
}

/// A directory of one prediction per cell, `make` giving each from the
/// cell's voxels.
fn predictions<F: Fn(&Path, &ArrayD<f32>)>(
    parent: &Path,
    name: &str,
    cells: &[(String, ArrayD<f32>)],
    make: F,
) -> PathBuf {
    let dir = fresh(parent, name);
    for (file, v) in cells {
        make(&dir.join(file), v);
    }
    dir
}

/// The synthetic prediction of a cell, as `impart stitch --synthetic`
/// makes it.
fn synthetic(v: &ArrayD<f32>, channels: usize) -> ArrayD<f32> {
    impart::stitch::synthetic(v.view(), &[0, 1, 2], channels)
}

#[test]
fn predictions_directory_equals_the_synthetic_predictor() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    let frag = tmp.path().join("frag");
    let manifest = fragment(&vol, &frag, &GRID);
    assert_eq!(manifest.len(), CELLS);
    let cells = cells(&frag, &manifest);
    let out = fresh(tmp.path(), "out");

    // f32 (C, *cell), with the fragment's grid.json beside them
    let f32_dir = predictions(tmp.path(), "f32", &cells, |p, v| {
        write_npy(p, &synthetic(v, 3))
    });
    std::fs::copy(frag.join("grid.json"), f32_dir.join("grid.json")).unwrap();
    for ext in ["raw", "nii", "zarr"] {
        let a = out.join(format!("files.{ext}"));
        let b = out.join(format!("synthetic.{ext}"));
        let j = stitch(&vol, &a, &["--predictions", s(&f32_dir)]);
        assert_eq!(j["channels"], 3);
        assert_eq!(j["cells_added"], CELLS);
        stitch(&vol, &b, &["--synthetic", "3"]);
        assert!(
            tree(&a) == tree(&b),
            "{ext}: files differ from --synthetic 3"
        );
    }
    let reference = std::fs::read(out.join("synthetic.raw")).unwrap();

    // f64 files: the f32 values exactly, so the same output (f32 sums)
    let f64_dir = predictions(tmp.path(), "f64", &cells, |p, v| {
        write_npy(p, &synthetic(v, 3).mapv(f64::from))
    });
    let a = out.join("f64.raw");
    stitch(&vol, &a, &["--predictions", s(&f64_dir)]);
    assert_eq!(std::fs::read(&a).unwrap(), reference);

    // Fortran order
    let fortran_dir = predictions(tmp.path(), "fortran", &cells, |p, v| {
        let c = synthetic(v, 3);
        let mut f = ArrayD::<f32>::zeros(IxDyn(c.shape()).f());
        f.assign(&c);
        write_npy(p, &f);
    });
    let first = std::fs::read(fortran_dir.join(&cells[0].0)).unwrap();
    assert!(
        String::from_utf8_lossy(&first[..128]).contains("'fortran_order': True"),
        "not written in Fortran order"
    );
    let a = out.join("fortran.raw");
    stitch(&vol, &a, &["--predictions", s(&fortran_dir)]);
    assert_eq!(std::fs::read(&a).unwrap(), reference);

    // one channel without its axis: (*cell)
    let c1_dir = predictions(tmp.path(), "c1", &cells, |p, v| {
        write_npy(p, &synthetic(v, 1).index_axis_move(Axis(0), 0))
    });
    let a = out.join("c1.raw");
    let b = out.join("c1-synthetic.raw");
    let j = stitch(&vol, &a, &["--predictions", s(&c1_dir)]);
    assert_eq!(j["channels"], 1);
    assert_eq!(j["shape"], serde_json::json!(SHAPE));
    stitch(&vol, &b, &["--synthetic", "1"]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // the fragment itself is a one-channel prediction
    let a = out.join("frag.raw");
    let j = stitch(&vol, &a, &["--predictions", s(&frag), "--blend", "mean"]);
    assert_eq!(j["channels"], 1);
    let values = f32s(&std::fs::read(&a).unwrap());
    let expected = voxels();
    assert!(values == expected, "a stitch of the cells themselves");

    // u8 constant 7 in 2 channels: the mean blend gives 7 everywhere, the
    // argmax of equal channels 0
    let u8_dir = predictions(tmp.path(), "u8", &cells, |p, v| {
        let mut shape = vec![2];
        shape.extend_from_slice(v.shape());
        write_npy(p, &ArrayD::<u8>::from_elem(IxDyn(&shape), 7));
    });
    let a = out.join("u8.raw");
    let j = stitch(&vol, &a, &["--predictions", s(&u8_dir), "--blend", "mean"]);
    assert_eq!(j["shape"], serde_json::json!([2, 48, 40, 36]));
    assert_eq!(j["dtype"], "f32");
    let values = f32s(&std::fs::read(&a).unwrap());
    assert_eq!(values.len(), 2 * VOXELS);
    assert!(values.iter().all(|&v| v == 7.0));
    let a = out.join("u8-labels.nii");
    let j = stitch(
        &vol,
        &a,
        &["--predictions", s(&u8_dir), "--reduce", "argmax"],
    );
    assert_eq!(j["dtype"], "u8");
    let (shape, dtype, bytes) = read_all(&a);
    assert_eq!((shape, dtype), (SHAPE.to_vec(), DType::U8));
    assert!(bytes.iter().all(|&b| b == 0));
}

// ---------------------------------------------------------------------------
// 4. A predictions directory that is wrong: refused before anything is
// written

/// An `.npy` file written by hand: format 1.0, `descr`, C order.
fn npy_by_hand(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + dict + '\n', a multiple of 64
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_wrong_predictions_directory_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    let frag = tmp.path().join("frag");
    let manifest = fragment(&vol, &frag, &GRID);
    let cells = cells(&frag, &manifest);
    let good = predictions(tmp.path(), "good", &cells, |p, v| {
        write_npy(p, &synthetic(v, 2))
    });
    std::fs::copy(frag.join("grid.json"), good.join("grid.json")).unwrap();
    let other_grid = tmp.path().join("frag-other");
    fragment(
        &vol,
        &other_grid,
        &["--cell", "16,16,16", "--stride", "0.75"],
    );
    // cell (1, 2, 3): 16 x 16 x 12, the last along the third axis
    const VICTIM: &str = "cell_1_2_3.npy";
    assert!(good.join(VICTIM).exists());
    let victim_shape = [2, 16, 16, 12];

    let reference = tmp.path().join("reference.raw");
    stitch(&vol, &reference, &["--synthetic", "2"]);

    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, &str, Damage)> = vec![
        (
            "a missing file",
            VICTIM,
            Box::new(|d: &Path| std::fs::remove_file(d.join(VICTIM)).unwrap()),
        ),
        (
            "a misnamed file",
            VICTIM,
            Box::new(|d: &Path| {
                std::fs::rename(d.join(VICTIM), d.join("cell_01_02_03.npy")).unwrap()
            }),
        ),
        (
            "a file of the wrong shape",
            VICTIM,
            Box::new(|d: &Path| {
                write_npy(
                    &d.join(VICTIM),
                    &ArrayD::<f32>::zeros(IxDyn(&[2, 16, 16, 11])),
                )
            }),
        ),
        (
            "a file with another channel count",
            VICTIM,
            Box::new(|d: &Path| {
                write_npy(
                    &d.join(VICTIM),
                    &ArrayD::<f32>::zeros(IxDyn(&[3, 16, 16, 12])),
                )
            }),
        ),
        (
            "a file that is not npy",
            VICTIM,
            Box::new(|d: &Path| std::fs::write(d.join(VICTIM), b"not a numpy file").unwrap()),
        ),
        (
            "float16",
            VICTIM,
            Box::new(move |d: &Path| {
                let n: usize = victim_shape.iter().product();
                npy_by_hand(&d.join(VICTIM), "<f2", &victim_shape, &vec![0u8; 2 * n])
            }),
        ),
        (
            "a truncated file",
            VICTIM,
            Box::new(move |d: &Path| {
                let n: usize = victim_shape.iter().product();
                npy_by_hand(&d.join(VICTIM), "<f4", &victim_shape, &vec![0u8; 4 * n - 4])
            }),
        ),
        (
            "a file with bytes past its data",
            VICTIM,
            Box::new(move |d: &Path| {
                let n: usize = victim_shape.iter().product();
                npy_by_hand(&d.join(VICTIM), "<f4", &victim_shape, &vec![0u8; 4 * n + 4])
            }),
        ),
        (
            "a grid.json of another grid",
            "grid.json",
            Box::new(|d: &Path| {
                std::fs::copy(d.join("../frag-other/grid.json"), d.join("grid.json")).unwrap();
            }),
        ),
        (
            "a grid.json that is not JSON",
            "grid.json",
            Box::new(|d: &Path| {
                std::fs::write(d.join("grid.json"), "{\"volume_shape\": [4").unwrap()
            }),
        ),
    ];
    for (what, file, damage) in &cases {
        let dir = tmp.path().join("damaged");
        copy_dir(&good, &dir);
        damage(&dir);
        for ext in ["raw", "nii", "nii.gz", "zarr"] {
            for resume in [false, true] {
                let out_dir = fresh(tmp.path(), "out");
                let out = out_dir.join(format!("out.{ext}"));
                let mut args = stitch_args(&vol, &out, &["--predictions", s(&dir)]);
                if resume {
                    args.push("--resume".into());
                }
                let o = impart(&args);
                let (_, err) = text(&o);
                assert!(
                    !o.status.success() && o.status.code().is_some_and(|c| c != 0),
                    "{what} ({ext}): {}",
                    o.status
                );
                assert!(err.contains(file), "{what} ({ext}): {err}");
                assert!(!out.exists(), "{what} ({ext}): the output exists");
                assert!(
                    listing(&out_dir).is_empty(),
                    "{what} ({ext}): {:?} written",
                    listing(&out_dir)
                );
            }
        }
        if *what == "float16" {
            let o = impart(&stitch_args(
                &vol,
                &tmp.path().join("x.raw"),
                &["--predictions", s(&dir)],
            ));
            assert!(text(&o).1.contains("f2"), "{}", text(&o).1);
        }
    }

    // extra files are fine
    let dir = tmp.path().join("extra");
    copy_dir(&good, &dir);
    std::fs::write(dir.join("notes.txt"), "extra").unwrap();
    write_npy(
        &dir.join("cell_9_9_9.npy"),
        &ArrayD::<f32>::zeros(IxDyn(&[1])),
    );
    let out = tmp.path().join("extra.raw");
    stitch(&vol, &out, &["--predictions", s(&dir)]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&reference).unwrap()
    );
}

// ---------------------------------------------------------------------------
// 5. Zarr: each chunk written once, the same values as the raw output

#[test]
fn zarr_chunks_are_written_exactly_once_and_hold_the_raw_values() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    for (chunks, extra) in [
        (None, &["--synthetic", "3"][..]),
        (Some([16, 20, 12]), &["--synthetic", "3"][..]),
        (
            Some([7, 40, 36]),
            &["--synthetic", "3", "--threads", "2"][..],
        ),
        (
            Some([10, 9, 8]),
            &["--synthetic", "3", "--reduce", "argmax"][..],
        ),
        (
            Some([48, 40, 36]),
            &["--synthetic", "1", "--blend", "crop"][..],
        ),
    ] {
        let zarr = tmp.path().join("out.zarr");
        let raw = tmp.path().join("out.raw");
        let mut flags = extra.to_vec();
        let chunk_text;
        if let Some(c) = chunks {
            chunk_text = format!("{},{},{}", c[0], c[1], c[2]);
            flags.extend_from_slice(&["--chunks", &chunk_text]);
        }
        let j = stitch(&vol, &zarr, &flags);
        // the default: the step (8), at least 16
        let c = chunks.unwrap_or([16, 16, 16]);
        let expected: usize = SHAPE.iter().zip(c).map(|(&n, c)| n.div_ceil(c)).product();
        assert_eq!(j["chunk_writes"], expected, "{flags:?}: {j}");
        assert_eq!(j["regions"], expected, "{flags:?}");

        let raw_flags: Vec<&str> = extra.to_vec();
        let jr = stitch(&vol, &raw, &raw_flags);
        assert_eq!(jr["chunk_writes"], Value::Null);
        assert_eq!(jr["shape"], j["shape"]);
        let (shape, dtype, bytes) = read_all(&zarr);
        let expected_shape: Vec<usize> = serde_json::from_value(j["shape"].clone()).unwrap();
        assert_eq!(shape, expected_shape);
        assert_eq!(dtype.name(), j["dtype"].as_str().unwrap());
        let raw_bytes = std::fs::read(&raw).unwrap();
        assert!(
            bytes == raw_bytes,
            "{flags:?}: the Zarr output differs from the raw one"
        );
        // a file per chunk, but for the chunks of zeros only (the fill
        // value: not stored)
        let chunk_files = tree(&zarr).keys().filter(|k| *k != "zarr.json").count();
        let nonzero = nonzero_chunks(&raw_bytes, &shape, &c, dtype.size());
        assert_eq!(chunk_files, nonzero, "{flags:?}");
        assert!(nonzero > 0);
        remove(&zarr);
    }
}

/// The chunks of a C-order array of `shape` (a channel axis first, whole
/// in every chunk, if it has one more axis than `chunk`) holding a byte
/// that is not 0.
fn nonzero_chunks(bytes: &[u8], shape: &[usize], chunk: &[usize], size: usize) -> usize {
    let spatial = &shape[shape.len() - 3..];
    let channels: usize = shape[..shape.len() - 3].iter().product();
    let grid: Vec<usize> = spatial
        .iter()
        .zip(chunk)
        .map(|(&n, &c)| n.div_ceil(c))
        .collect();
    let mut nonzero = std::collections::BTreeSet::new();
    for ch in 0..channels {
        for z in 0..spatial[0] {
            for y in 0..spatial[1] {
                for x in 0..spatial[2] {
                    let at = (((ch * spatial[0] + z) * spatial[1] + y) * spatial[2] + x) * size;
                    if bytes[at..at + size].iter().any(|&b| b != 0) {
                        nonzero.insert((z / chunk[0], y / chunk[1], x / chunk[2]));
                    }
                }
            }
        }
    }
    assert!(nonzero.len() <= grid.iter().product());
    nonzero.len()
}

/// A killed run can leave a chunk file half written; the resumed run
/// rewrites it (its region is not in the journal), edge chunks too, which
/// are smaller than the chunk shape, and must not read it back.
#[test]
fn zarr_resume_rewrites_a_half_written_edge_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = raw_volume(tmp.path());
    let flags = ["--synthetic", "3", "--threads", "1"];
    let reference = tmp.path().join("ref.zarr");
    stitch(&vol, &reference, &flags);
    let dir = fresh(tmp.path(), "killed");
    let out = dir.join("out.zarr");
    // 27 chunks of 16³: kill after 3, far from the last one, (0, 2, 2, 2):
    // 16 x 8 x 4 voxels of the array
    kill_after_regions(&stitch_args(&vol, &out, &flags), &out, 3, |d| {
        !d.contains(&26)
    });
    let store = impart::output::resumable_temp_path(&out);
    assert!(store.join("zarr.json").is_file());
    let last = store.join("c/0/2/2/2");
    std::fs::create_dir_all(last.parent().unwrap()).unwrap();
    // the first bytes of a zstd frame, cut short
    std::fs::write(&last, [0x28, 0xb5, 0x2f, 0xfd, 0x00]).unwrap();
    let mut args = stitch_args(&vol, &out, &flags);
    args.push("--resume".into());
    let j = ok_json(&impart(&args));
    assert!(j["resumed_regions"].as_u64().unwrap() >= 3, "{j}");
    assert!(tree(&out) == tree(&reference));
    assert_eq!(listing(&dir), ["out.zarr"]);
}

// ---------------------------------------------------------------------------
// 6. A NIfTI source's affine is carried to the output

#[test]
fn nifti_output_carries_the_source_affine() {
    let tmp = tempfile::tempdir().unwrap();
    let raw_vol = raw_volume(tmp.path());
    // every entry a float32 (the header stores them so)
    let affine = [
        [0.0, -1.25, 0.0, 30.5],
        [0.75, 0.0, 0.0, -12.0],
        [0.0, 0.0, 2.5, 7.25],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let src = tmp.path().join("src.nii");
    let o = NiftiOutputOptions::new(&SHAPE, DType::F32)
        .affine(affine)
        .create(&src)
        .unwrap();
    let bytes: Vec<u8> = voxels().iter().flat_map(|v| v.to_ne_bytes()).collect();
    o.write_region(&Region::full(&SHAPE), &bytes).unwrap();
    o.finish().unwrap();
    let source_affine = impart::open(&src).unwrap().affine().unwrap();
    assert_eq!(source_affine, affine);

    // the blended channels from the raw volume, channels first
    let raw = tmp.path().join("channels.raw");
    stitch(&raw_vol, &raw, &["--synthetic", "3"]);
    let channels = f32s(&std::fs::read(&raw).unwrap());

    for ext in ["nii", "nii.gz"] {
        let out = tmp.path().join(format!("labels.{ext}"));
        let j = stitch(&src, &out, &["--synthetic", "3", "--reduce", "argmax"]);
        assert_eq!(j["dtype"], "u8");
        let labels = impart::open(&out).unwrap();
        assert_eq!(labels.affine(), Some(affine), "{ext}");
        assert_eq!(labels.shape(), SHAPE, "{ext}");
        assert_eq!(labels.dtype(), DType::U8, "{ext}");
        let (_, _, got) = read_all(&out);
        let expected: Vec<u8> = (0..VOXELS)
            .map(|v| argmax(&[channels[v], channels[VOXELS + v], channels[2 * VOXELS + v]]))
            .collect();
        assert!(
            got == expected,
            "{ext}: labels are not the argmax of the channels"
        );
        assert!(expected.iter().any(|&l| l != expected[0]), "one label only");
    }

    // the channels themselves: last, the same values
    let out = tmp.path().join("channels.nii");
    stitch(&src, &out, &["--synthetic", "3"]);
    let (shape, dtype, got) = read_all(&out);
    assert_eq!((shape, dtype), (vec![48, 40, 36, 3], DType::F32));
    assert_eq!(impart::open(&out).unwrap().affine(), Some(affine));
    let got: Vec<f32> = got
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
        .collect();
    for v in 0..VOXELS {
        for c in 0..3 {
            assert_eq!(got[v * 3 + c], channels[c * VOXELS + v]);
        }
    }
}
