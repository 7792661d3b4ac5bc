//! Input files that change while a walk reads them: truncated, rewritten
//! in place (same size, new bytes, a new modification time), replaced by a
//! rename (another inode at the path) or removed; and left alone.
//!
//! Through the library, the moment of the change is chosen by a callback
//! inside the walk (a `par_map_cells` closure on a one-thread pool, so the
//! cells read after it are known; a fragmentation progress hook), or by
//! calling [`Volume::check_unchanged`] around the change. Through the
//! binary, the process is stopped (`SIGSTOP`) once its walk is under way
//! (its first cell file or journal line is there) and only if it is still
//! short of its end (cells left to write), the file is changed, and the
//! process continued: nothing depends on how fast the machine is. A run
//! that got past its walk before it could be stopped is started again with
//! a longer walk.
//!
//! Modification times are set explicitly (`File::set_modified`), so no
//! case depends on the file system's clock granularity, and every expected
//! message is derived from the times, sizes and inodes set here.
//!
//! Truncating a *mapped* input raises `SIGBUS`, which would kill the test
//! process: that case runs through the binary only (here, and in
//! `tests/cli.rs`: the message and exit status 135). The binary's tests
//! read `/proc` and so run on Linux only; the library's need Unix (inodes).
#![cfg(all(unix, feature = "fragment"))]

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use impart::{DType, Error, Partition, RawOptions, Volume};

// ---------------------------------------------------------------------------
// Changing a file

/// The modification time every input gets before it is opened, and the one
/// a rewrite gives it; as the error prints them.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_600_000_000, 250_000_000)
}
fn t1() -> SystemTime {
    t0() + Duration::from_secs(5)
}
const T0_TEXT: &str = "1600000000.250000000";
const T1_TEXT: &str = "1600000005.250000000";
/// The detail of a file rewritten in place from `t0` to `t1`.
fn rewritten_detail() -> String {
    format!("modification time {T0_TEXT} -> {T1_TEXT}")
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Rewrites `path` in place, without truncating it: every byte inverted,
/// the same size, modification time `t1`.
fn rewrite_in_place(path: &Path) {
    let old = std::fs::read(path).unwrap();
    let new: Vec<u8> = old.iter().map(|b| !b).collect();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.write_all_at(&new, 0).unwrap();
    file.set_modified(t1()).unwrap();
}

/// Puts another file at `path` by a rename: every byte inverted, the same
/// size and modification time, so only its inode differs. Returns the
/// detail the check gives.
fn replace_by_rename(path: &Path) -> String {
    let old = std::fs::metadata(path).unwrap();
    let bytes: Vec<u8> = std::fs::read(path).unwrap().iter().map(|b| !b).collect();
    let tmp = path.with_file_name("replacement.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    set_mtime(&tmp, old.modified().unwrap());
    let new_ino = std::fs::metadata(&tmp).unwrap().ino();
    std::fs::rename(&tmp, path).unwrap();
    format!(
        "replaced by another file (inode {} -> {new_ino})",
        old.ino()
    )
}

/// The path and detail of an [`Error::Changed`].
fn changed<T: std::fmt::Debug>(r: impart::Result<T>) -> (PathBuf, String) {
    match r {
        Err(Error::Changed { path, detail }) => (path, detail),
        other => panic!("expected Error::Changed, got {other:?}"),
    }
}

fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let dst = dir.join(src.file_name().unwrap());
    if src.is_dir() {
        copy_dir(&src, &dst);
    } else {
        std::fs::copy(&src, &dst).unwrap();
        set_mtime(&dst, t0());
    }
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
            set_mtime(&to, t0());
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Walks over a raw file, through the library

/// The raw test volume: 64 x 48 u16, C order, value 3y + 5x + 1 (at most
/// 425, so no inverted value, 65110 or more, passes for an original).
const SHAPE: [usize; 2] = [64, 48];
/// Cells of 8 whole rows: 8 cells, each one contiguous run of the file.
const CELL: [usize; 2] = [8, 48];
const CELL_BYTES: u64 = 8 * 48 * 2;

fn value(y: usize, x: usize) -> u16 {
    (3 * y + 5 * x + 1) as u16
}

fn raw_file(dir: &Path) -> PathBuf {
    let path = dir.join("vol.u16");
    let mut bytes = Vec::new();
    for y in 0..SHAPE[0] {
        for x in 0..SHAPE[1] {
            bytes.extend(value(y, x).to_le_bytes());
        }
    }
    std::fs::write(&path, bytes).unwrap();
    set_mtime(&path, t0());
    path
}

/// The values of cell `k` (rows 8k..8k+8), as stored (`inverted`: after
/// [`rewrite_in_place`] or [`replace_by_rename`]).
fn cell_values(k: usize, inverted: bool) -> Vec<u16> {
    let mut v = Vec::new();
    for y in 8 * k..8 * k + 8 {
        for x in 0..SHAPE[1] {
            // a byte-wise inversion of a little-endian u16 is its bitwise not
            v.push(if inverted { !value(y, x) } else { value(y, x) });
        }
    }
    v
}

/// A cell's row of the grid and its values, as a walk read them.
type Seen = (usize, Vec<u16>);

/// Walks every cell of `volume` with `par_map_cells` on one thread, calling
/// `change` once, after the first cell's voxels are read; returns the walk's
/// result and the cells in the order they were read, with their values.
fn walk_changing<V: Volume>(
    volume: V,
    change: impl Fn() + Sync + Send,
) -> (impart::Result<Vec<u64>>, Vec<Seen>) {
    let part = Partition::builder(volume).cell(&CELL).build().unwrap();
    let seen = Mutex::new(Vec::new());
    let once = std::sync::Once::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let result = pool.install(|| {
        part.par_map_cells::<u16, _, _>("...", |cell, view| {
            let values: Vec<u16> = view.iter().copied().collect();
            let sum = values.iter().map(|&v| u64::from(v)).sum();
            seen.lock().unwrap().push((cell.index()[0], values));
            once.call_once(&change);
            sum
        })
    });
    (result, seen.into_inner().unwrap())
}

#[test]
fn unchanged_raw_walks_end_well() {
    let dir = tempfile::tempdir().unwrap();
    let path = raw_file(dir.path());
    for mmap in [true, false] {
        let volume = RawOptions::new(&SHAPE, DType::U16)
            .mmap(mmap)
            .open(&path)
            .unwrap();
        let (result, seen) = walk_changing(&volume, || {});
        let sums = result.unwrap();
        let want: Vec<u64> = (0..8)
            .map(|k| cell_values(k, false).iter().map(|&v| u64::from(v)).sum())
            .collect();
        assert_eq!(sums, want, "mmap {mmap}");
        assert_eq!(seen.len(), 8);
        // reading the file (its access time) is no change
        volume.check_unchanged().unwrap();
    }
}

#[test]
fn raw_rewritten_in_place_mid_walk_fails_the_walk() {
    for mmap in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = raw_file(dir.path());
        let volume = RawOptions::new(&SHAPE, DType::U16)
            .mmap(mmap)
            .open(&path)
            .unwrap();
        let (result, seen) = walk_changing(&volume, || rewrite_in_place(&path));
        let (p, detail) = changed(result);
        assert_eq!(
            (p.as_path(), detail.as_str()),
            (path.as_path(), &*rewritten_detail())
        );
        // what the error guards against: the walk read both versions (the
        // first cell before the rewrite, the other seven after it, through
        // the mapping as through pread)
        assert_eq!(seen.len(), 8, "mmap {mmap}");
        for (n, (k, values)) in seen.iter().enumerate() {
            assert_eq!(values, &cell_values(*k, n > 0), "mmap {mmap}: cell {k}");
        }
        // the stamp stays the one taken at open; a new open takes a new one
        assert!(matches!(
            volume.check_unchanged(),
            Err(Error::Changed { .. })
        ));
        let again = RawOptions::new(&SHAPE, DType::U16)
            .mmap(mmap)
            .open(&path)
            .unwrap();
        again.check_unchanged().unwrap();
    }
}

#[test]
fn raw_truncated_mid_walk_with_pread_is_a_truncated_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = raw_file(dir.path());
    let volume = RawOptions::new(&SHAPE, DType::U16)
        .mmap(false)
        .open(&path)
        .unwrap();
    let (result, seen) = walk_changing(&volume, || {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10)
            .unwrap()
    });
    // one thread walks the rows in order: cell 0 read, the file cut to 10
    // bytes, and the read of cell 1 (bytes up to 2 cells) fails
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0], (0, cell_values(0, false)));
    match result {
        Err(Error::Truncated {
            path: p,
            needed,
            actual,
        }) => assert_eq!((p, needed, actual), (path.clone(), 2 * CELL_BYTES, 10)),
        other => panic!("expected Error::Truncated, got {other:?}"),
    }
    let message = volume.check_unchanged().unwrap_err().to_string();
    assert!(
        message.contains(&format!("size {} -> 10 bytes", 8 * CELL_BYTES)),
        "{message}"
    );
}

#[test]
fn raw_replaced_or_removed_mid_walk_reads_on_from_the_opened_file() {
    for mmap in [true, false] {
        for remove in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = raw_file(dir.path());
            let volume = RawOptions::new(&SHAPE, DType::U16)
                .mmap(mmap)
                .open(&path)
                .unwrap();
            let want = Mutex::new(String::new());
            let (result, seen) = walk_changing(&volume, || {
                *want.lock().unwrap() = if remove {
                    std::fs::remove_file(&path).unwrap();
                    "removed: no file is at this path now".into()
                } else {
                    replace_by_rename(&path)
                };
            });
            let case = format!("mmap {mmap}, remove {remove}");
            let (p, detail) = changed(result);
            assert_eq!(p, path, "{case}");
            assert_eq!(detail, *want.lock().unwrap(), "{case}");
            // every cell, the seven read after the change too, holds the
            // values of the file that was opened
            assert_eq!(seen.len(), 8, "{case}");
            for (k, values) in &seen {
                assert_eq!(values, &cell_values(*k, false), "{case}: cell {k}");
            }
        }
    }
}

/// A fragmentation whose input is rewritten after its first cell file is
/// written ends with the error and writes no manifest.
#[test]
fn fragmentation_of_a_changed_input_writes_no_manifest() {
    use impart::fragment::{Format, FragmentEvent, FragmentOptions, ProgressHook, GRID, MANIFEST};
    let dir = tempfile::tempdir().unwrap();
    let path = raw_file(dir.path());
    let volume = RawOptions::new(&SHAPE, DType::U16).open(&path).unwrap();
    let part = Partition::builder(&volume).cell(&CELL).build().unwrap();
    let out = dir.path().join("cells");
    let once = std::sync::Once::new();
    let hook = {
        let path = path.clone();
        ProgressHook::new(move |event| {
            if let FragmentEvent::CellWritten { .. } = event {
                once.call_once(|| rewrite_in_place(&path));
            }
        })
    };
    let result = FragmentOptions::new(&out)
        .format(Format::Raw)
        .progress(Some(hook))
        .fragment(&part, "...");
    let (p, detail) = changed(result);
    assert_eq!((p, detail), (path.clone(), rewritten_detail()));
    assert!(!out.join(MANIFEST).exists());
    assert!(out.join(GRID).exists());

    // the same, unchanged, from a new open: complete
    let volume = RawOptions::new(&SHAPE, DType::U16).open(&path).unwrap();
    let part = Partition::builder(&volume).cell(&CELL).build().unwrap();
    let report = FragmentOptions::new(&out)
        .format(Format::Raw)
        .fragment(&part, "...")
        .unwrap();
    assert_eq!(report.cells, 8);
    assert!(out.join(MANIFEST).exists());
}

// ---------------------------------------------------------------------------
// 2. What each backend stamps

/// `volume` is unchanged; after `change`, its check names `path` with
/// `detail`.
fn check_after(volume: &impl Volume, change: impl FnOnce(), path: &Path, detail: &str) {
    volume.check_unchanged().unwrap();
    change();
    let (p, d) = changed(volume.check_unchanged());
    assert_eq!(
        (p.as_path(), d.as_str()),
        (path, detail),
        "{}",
        volume.name()
    );
}

#[cfg(feature = "nifti")]
#[test]
fn nifti_stamps_the_header_and_data_files_and_gz_sources() {
    let dir = tempfile::tempdir().unwrap();
    // a .nii, mapped and read with pread
    let nii = copy_fixture("nifti/u16_3d.nii", dir.path());
    for mmap in [true, false] {
        set_mtime(&nii, t0());
        let v = impart::OpenOptions::new().mmap(mmap).open(&nii).unwrap();
        check_after(&v, || rewrite_in_place(&nii), &nii, &rewritten_detail());
        rewrite_in_place(&nii); // back to the fixture's bytes
    }

    // a pair: either file
    let hdr = copy_fixture("nifti/pair_i16.hdr", dir.path());
    let img = copy_fixture("nifti/pair_i16.img", dir.path());
    let v = impart::open(&hdr).unwrap();
    check_after(&v, || rewrite_in_place(&img), &img, &rewritten_detail());
    let v = impart::open(&img).unwrap();
    check_after(&v, || rewrite_in_place(&hdr), &hdr, &rewritten_detail());

    // a .nii.gz: the source, not the decompressed copy the voxels are
    // mapped from
    let gz = copy_fixture("nifti/gz_u16.nii.gz", dir.path());
    let cache = dir.path().join("cache");
    let v = impart::NiftiOptions::new()
        .cache_dir(&cache)
        .open(&gz)
        .unwrap();
    let copy = v.cache_path().unwrap().to_path_buf();
    // another process decoding the same source renames its copy over this
    // one (same bytes): not a change of the input
    replace_by_rename(&copy);
    rewrite_in_place(&copy); // back to the decoded bytes, under a new inode
    v.check_unchanged().unwrap();
    let detail = format!("size {} -> 3 bytes", std::fs::metadata(&gz).unwrap().len());
    check_after(
        &v,
        || {
            std::fs::write(&gz, b"gz!").unwrap();
            set_mtime(&gz, t0());
        },
        &gz,
        &detail,
    );
}

#[cfg(feature = "tiff")]
#[test]
fn tiff_stamps_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u16> = (0..40 * 30).map(|i| (i * 7 % 1000) as u16).collect();
    for (name, deflate) in [("plain.tif", false), ("deflate.tif", true)] {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut encoder = tiff::encoder::TiffEncoder::new(file).unwrap();
        if deflate {
            encoder = encoder.with_compression(tiff::encoder::Compression::Deflate(
                tiff::encoder::DeflateLevel::Fast,
            ));
        }
        encoder
            .write_image::<tiff::encoder::colortype::Gray16>(40, 30, &pixels)
            .unwrap();
        set_mtime(&path, t0());
        let v = impart::TiffVolume::open(&path).unwrap();
        assert_eq!(v.is_raw(), !deflate);
        check_after(&v, || rewrite_in_place(&path), &path, &rewritten_detail());
    }
}

#[cfg(feature = "image")]
#[test]
fn png_stamps_its_source_whatever_holds_the_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pic.png");
    image::RgbImage::from_fn(30, 20, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(&path)
        .unwrap();
    set_mtime(&path, t0());
    // decoded into memory, and into the decode cache
    let in_memory = impart::ImageVolume::open(&path).unwrap();
    let cached = impart::ImageVolume::open_cached(&path, dir.path().join("cache")).unwrap();
    assert!(!in_memory.is_cached() && cached.is_cached());
    let detail = replace_by_rename(&path);
    for v in [&in_memory, &cached] {
        let (p, d) = changed(v.check_unchanged());
        assert_eq!((p, d.as_str()), (path.clone(), detail.as_str()));
    }
}

#[cfg(feature = "zarr")]
#[test]
fn zarr_stamps_its_metadata_file_not_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    for (name, meta, chunk) in [
        ("zarr/v3_u8_zstd_2d", "zarr.json", "c/0/0"),
        ("zarr/v2_u8_blosc_c_dot", ".zarray", "0.0"),
    ] {
        let array = copy_fixture(name, dir.path());
        let v = impart::open(&array).unwrap();
        // a chunk rewritten in place (here: garbage, a new time) is not
        // seen: chunk files are not stamped
        let chunk = array.join(chunk);
        assert!(chunk.is_file(), "{}", chunk.display());
        rewrite_in_place(&chunk);
        v.check_unchanged().unwrap();
        // the metadata rewritten (same bytes, a new time) is
        let meta = array.join(meta);
        check_after(&v, || set_mtime(&meta, t1()), &meta, &rewritten_detail());
    }
}

/// A walk over a chunked volume (Zarr, read through a walk session) whose
/// array is recreated mid-walk fails the same way.
#[cfg(feature = "zarr")]
#[test]
fn zarr_walk_fails_when_its_array_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let array = copy_fixture("zarr/v3_u8_zstd_2d", dir.path());
    let meta = array.join("zarr.json");
    let v = impart::ZarrVolume::open(&array).unwrap();
    let part = Partition::builder(&v).cell(&[4, 4]).build().unwrap();
    let once = std::sync::Once::new();
    let result = part.par_map_cells::<u8, _, _>("...", |_, view| {
        once.call_once(|| {
            replace_by_rename(&meta);
        });
        view.len()
    });
    let (p, detail) = changed(result);
    assert_eq!(p, meta);
    assert!(
        detail.starts_with("replaced by another file (inode "),
        "{detail}"
    );
}

#[test]
fn memory_volumes_have_nothing_to_check() {
    let data = ndarray::Array2::<u8>::zeros((4, 4));
    impart::ArrayVolume::new(data.view())
        .unwrap()
        .check_unchanged()
        .unwrap();
}

/// What the check costs: one `stat` per file. Printed (`--nocapture`),
/// not asserted.
#[test]
fn the_check_is_one_stat() {
    let dir = tempfile::tempdir().unwrap();
    let path = raw_file(dir.path());
    let volume = RawOptions::new(&SHAPE, DType::U16).open(&path).unwrap();
    let n = 10_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        volume.check_unchanged().unwrap();
    }
    let per = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::fs::metadata(&path).unwrap();
    }
    println!(
        "check_unchanged: {per:?} per call; std::fs::metadata alone: {:?}",
        t.elapsed() / n
    );
}

// ---------------------------------------------------------------------------
// 3. Through the binary

#[cfg(all(feature = "cli", target_os = "linux"))]
mod cli {
    use super::*;
    use std::process::{Child, Command, Output, Stdio};

    /// A raw u8 input of `rows` x 256, value (7y + 3x) mod 251, at time t0.
    fn input(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("in.u8");
        let mut bytes = Vec::with_capacity(rows * 256);
        for y in 0..rows {
            for x in 0..256 {
                bytes.push(((7 * y + 3 * x) % 251) as u8);
            }
        }
        std::fs::write(&path, bytes).unwrap();
        set_mtime(&path, t0());
        path
    }

    /// Cells of 4 x 8 voxels: a run has `rows / 4 * 32` of them.
    const CELL: &str = "4,8";

    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) S ...": the state follows the last ')'
        stat[stat.rfind(')')? + 1..].trim_start().chars().next()
    }

    fn signal(child: &Child, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: kill(2) with the pid of a child this test spawned and has
        // not waited for (so the pid is not reused).
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Runs `impart args`; once `progress()` (cells done, cells in all)
    /// shows at least one cell done, stops the process, and if at least two
    /// cells are still to come (one thread: at most one in flight, so at
    /// least one is read after the change), runs `change` and continues
    /// it. `None` when the run got too far before it was stopped (or
    /// ended): the caller tries a longer one.
    fn change_mid_walk(
        args: &[String],
        progress: impl Fn() -> (usize, usize),
        change: impl FnOnce(),
    ) -> Option<Output> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while progress().0 == 0 {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "failed before its first cell: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "no cell after 120 s"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        signal(&child, libc::SIGSTOP);
        loop {
            match state(child.id()) {
                Some('T' | 't') => break,
                // it ended between the look at its progress and the signal
                Some('Z' | 'X') | None => {
                    child.wait().unwrap();
                    return None;
                }
                _ => std::thread::sleep(Duration::from_micros(100)),
            }
        }
        let (done, total) = progress();
        if done + 2 > total {
            println!("{}: stopped at {done} of {total}: too late", args[0]);
            signal(&child, libc::SIGCONT);
            child.wait().unwrap();
            return None;
        }
        println!("{}: stopped at {done} of {total}", args[0]);
        change();
        signal(&child, libc::SIGCONT);
        Some(child.wait_with_output().unwrap())
    }

    /// Cell files (`.raw`, not temporary) in `out`.
    fn cells_written(out: &Path) -> usize {
        std::fs::read_dir(out).map_or(0, |entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    !name.starts_with('.') && name.ends_with(".raw")
                })
                .count()
        })
    }

    fn fragment_args(input: &Path, rows: usize, out: &Path, no_mmap: bool) -> Vec<String> {
        let mut v: Vec<String> = [
            "fragment",
            input.to_str().unwrap(),
            "--shape",
            &format!("{rows},256"),
            "--dtype",
            "u8",
            "--cell",
            CELL,
            "--format",
            "raw",
            "--threads",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if no_mmap {
            v.push("--no-mmap".into());
        }
        v
    }

    /// A fragmentation of a fresh input with `change` mid-walk, from 128
    /// rows (1024 cells) up, doubling until a run is caught mid-walk.
    /// Returns the run's output, the input, the output directory and the
    /// rows.
    fn fragment_changed(
        dir: &Path,
        no_mmap: bool,
        change: impl Fn(&Path),
    ) -> (Output, PathBuf, PathBuf, usize) {
        for attempt in 0..8 {
            let rows = 128 << attempt;
            let input = input(dir, rows);
            let out = dir.join(format!("cells-{attempt}"));
            let total = rows / 4 * 32;
            let args = fragment_args(&input, rows, &out, no_mmap);
            if let Some(o) =
                change_mid_walk(&args, || (cells_written(&out), total), || change(&input))
            {
                return (o, input, out, rows);
            }
        }
        panic!("no run was caught mid-walk");
    }

    fn failed_with(out: &Output, needle: &str) -> String {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{err}");
        err
    }

    /// The cell files in `out` by whether they hold the input's old values
    /// or its inverted ones: (old, inverted).
    fn cell_versions(out: &Path, rows: usize) -> (usize, usize) {
        use impart::fragment::{cell_file_name, Format};
        let grid = [rows / 4, 32];
        let (mut old, mut new) = (0, 0);
        for i in 0..grid[0] {
            for j in 0..grid[1] {
                let Ok(bytes) =
                    std::fs::read(out.join(cell_file_name(&grid, &[i, j], Format::Raw)))
                else {
                    continue;
                };
                let want: Vec<u8> = (4 * i..4 * i + 4)
                    .flat_map(|y| (8 * j..8 * j + 8).map(move |x| ((7 * y + 3 * x) % 251) as u8))
                    .collect();
                let inverted: Vec<u8> = want.iter().map(|b| !b).collect();
                if bytes == want {
                    old += 1;
                } else if bytes == inverted {
                    new += 1;
                } else {
                    panic!("cell ({i}, {j}) holds neither version");
                }
            }
        }
        (old, new)
    }

    #[test]
    fn unchanged_input_fragments_completely() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 128;
        let input = input(dir.path(), rows);
        let out = dir.path().join("cells");
        let o = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(fragment_args(&input, rows, &out, false))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.join(impart::fragment::MANIFEST).exists());
        assert_eq!(cell_versions(&out, rows), (1024, 0));
    }

    #[test]
    fn rewritten_in_place_fails_mapped_or_not() {
        for no_mmap in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (o, input, out, rows) = fragment_changed(dir.path(), no_mmap, rewrite_in_place);
            let needle = format!(
                "impart: error: {}: the file changed while it was open ({})",
                input.display(),
                rewritten_detail()
            );
            failed_with(&o, &needle);
            assert!(!out.join(impart::fragment::MANIFEST).exists());
            // every cell written, of both versions: what a silent success
            // would have left
            let (old, new) = cell_versions(&out, rows);
            assert_eq!(old + new, rows / 4 * 32, "no-mmap {no_mmap}");
            assert!(
                old >= 1 && new >= 1,
                "no-mmap {no_mmap}: {old} old, {new} new"
            );
        }
    }

    #[test]
    fn replaced_by_rename_fails_and_reads_on_from_the_old_file() {
        for no_mmap in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let detail = Mutex::new(String::new());
            let (o, input, out, rows) = fragment_changed(dir.path(), no_mmap, |p| {
                *detail.lock().unwrap() = replace_by_rename(p)
            });
            let needle = format!(
                "impart: error: {}: the file changed while it was open ({})",
                input.display(),
                detail.lock().unwrap()
            );
            failed_with(&o, &needle);
            assert!(!out.join(impart::fragment::MANIFEST).exists());
            // every cell written, those read after the rename too, from the
            // old file
            let (old, new) = cell_versions(&out, rows);
            assert_eq!((old, new), (rows / 4 * 32, 0), "no-mmap {no_mmap}");
        }
    }

    /// The mapped case, stopped mid-walk like the others (`tests/cli.rs`
    /// has it with `stats` on a large sparse file).
    #[test]
    fn truncated_while_mapped_is_sigbus() {
        let dir = tempfile::tempdir().unwrap();
        let (o, _, out, _) = fragment_changed(dir.path(), false, |p| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(0)
                .unwrap()
        });
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(135), "{err}");
        assert!(
            err.contains("impart: error: a memory-mapped input file was truncated or replaced while it was being read (SIGBUS)")
                && err.contains("--no-mmap"),
            "{err}"
        );
        assert!(!out.join(impart::fragment::MANIFEST).exists());
    }

    #[test]
    fn truncated_with_no_mmap_is_a_truncated_error() {
        let dir = tempfile::tempdir().unwrap();
        let (o, input, out, _) = fragment_changed(dir.path(), true, |p| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(0)
                .unwrap()
        });
        let err = failed_with(
            &o,
            &format!("impart: error: {}: file is truncated", input.display()),
        );
        assert!(err.contains("but the file has 0 bytes"), "{err}");
        assert!(!out.join(impart::fragment::MANIFEST).exists());
    }

    /// Region lines in a stitch journal (after the job's line).
    fn journal_regions(journal: &Path) -> usize {
        std::fs::read_to_string(journal)
            .map_or(0, |t| t.lines().filter(|l| l.starts_with("r ")).count())
    }

    fn stitch_args(input: &Path, rows: usize, out: &Path) -> Vec<String> {
        [
            "stitch",
            input.to_str().unwrap(),
            "--shape",
            &format!("{rows},256"),
            "--dtype",
            "u8",
            "--cell",
            CELL,
            "--synthetic",
            "1",
            "--threads",
            "1",
            "--quiet",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// A stitch whose input is rewritten mid-walk fails before its output
    /// is renamed into place.
    #[test]
    fn stitch_of_a_rewritten_input_is_not_completed() {
        let dir = tempfile::tempdir().unwrap();
        for attempt in 0..8 {
            let rows = 128 << attempt;
            let input = input(dir.path(), rows);
            // the regions of the stitch, from an unchanged run
            let reference = dir.path().join(format!("ref-{attempt}.raw"));
            let o = Command::new(env!("CARGO_BIN_EXE_impart"))
                .args(stitch_args(&input, rows, &reference))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let regions = summary["regions"].as_u64().unwrap() as usize;
            assert!(reference.exists());

            let out = dir.path().join(format!("out-{attempt}.raw"));
            let journal = out.with_file_name(format!(".out-{attempt}.raw.impart-journal"));
            let args = stitch_args(&input, rows, &out);
            let Some(o) = change_mid_walk(
                &args,
                || (journal_regions(&journal), regions),
                || rewrite_in_place(&input),
            ) else {
                continue;
            };
            let needle = format!(
                "impart: error: {}: the file changed while it was open ({})",
                input.display(),
                rewritten_detail()
            );
            failed_with(&o, &needle);
            assert!(!out.exists(), "the output was completed");
            assert!(journal.exists());
            return;
        }
        panic!("no run was caught mid-walk");
    }
}
