//! Faults, through the binary: `impart fragment` killed with SIGKILL at
//! many moments and resumed, for every cell format; `impart fragment` and
//! `impart stitch` running out of disk space, then resumed once there is
//! room.
//!
//! The kill tests (the kills of `impart stitch` are in `cli_stitch.rs`)
//! compare every resumed directory with an uninterrupted run's, file by
//! file (`manifest.jsonl` and `grid.json` included, Zarr directories
//! walked), and check after every kill what a reader may trust: each cell
//! under its final name complete and identical, the manifest only beside
//! every cell. Nothing asserts a time: the kills fall at seeded random
//! moments over the measured duration of an uninterrupted run, and the
//! counts of kills that landed mid-run are printed (`--nocapture`) and only
//! required to be a fraction of them.
//!
//! The disk-full tests mount a small tmpfs (root with CAP_SYS_ADMIN, as
//! here and in CI) sized so the run fails partway, then remount it bigger,
//! which keeps what the failed run left, and resume. Where mounting is not
//! permitted they fall back to a limit on the size of each file the child
//! writes (RLIMIT_FSIZE, SIGXFSZ ignored, so a write past it fails with
//! EFBIG), which fails a run at its largest file, and say so on stderr.
//!
//! Every expected output is an uninterrupted run of the same binary, so the
//! file runs on hosts of either byte order; it needs Unix signals.
#![cfg(all(feature = "cli", unix))]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use impart::fragment::{GRID, MANIFEST};
use serde_json::Value;

#[path = "common/kill.rs"]
mod kill;
use kill::{dirs, fresh, is_temp, listing, ok, spawn_and_kill, text, tree, Counts, Rng};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `n` values of `bytes_per` bytes each, value k being
/// `f(k)`'s low bytes, little-endian.
fn write_values(path: &Path, n: usize, bytes_per: usize, f: impl Fn(u64) -> u64) {
    let mut bytes = Vec::with_capacity(n * bytes_per);
    for k in 0..n as u64 {
        bytes.extend_from_slice(&f(k).to_le_bytes()[..bytes_per]);
    }
    std::fs::write(path, bytes).unwrap();
}

/// A well-mixed 64-bit value of `k` (SplitMix64's finalizer): the voxels
/// of every volume here, so each cell's bytes are its own and no cell
/// compresses to nothing.
fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// The fragmentations: one per cell format

/// A fragmentation: its format, and the input and grid flags of a volume
/// the format takes. Every grid is clipped at its far edges (cells of
/// three sizes), and long enough (hundreds of cells) that kills land
/// mid-run.
struct Case {
    format: &'static str,
    input: Vec<String>,
}

/// The volumes in `dir` (written once) and the fragmentation of each
/// format: a 44³ u16 volume in 16³ cells at stride 0.5 (5³ = 125 cells,
/// the last along each axis 12 wide) for npy, nii and raw, at stride 1 for
/// Zarr (3³ = 27 cells, slower to encode; a Zarr cell is a directory of
/// two files); a 170 x 170 RGB u8 image (a carried channel axis) in 32²
/// cells at stride 0.5 (10² = 100, the last 10 wide) for PNG; a 250 x 250
/// u16 image in 32² cells at stride 0.5 (15² = 225, the last 26 wide) for
/// TIFF. Each takes some tens of milliseconds in a debug build.
fn cases(dir: &Path) -> Vec<Case> {
    let vol = dir.join("vol.raw");
    if !vol.exists() {
        write_values(&vol, 44 * 44 * 44, 2, mix);
        write_values(&dir.join("rgb.raw"), 170 * 170 * 3, 1, mix);
        write_values(&dir.join("gray.raw"), 250 * 250, 2, mix);
    }
    let flags = |path: &str, rest: &[&str]| -> Vec<String> {
        std::iter::once(s(&dir.join(path)).to_string())
            .chain(rest.iter().map(|a| a.to_string()))
            .collect()
    };
    let cube = |stride| {
        flags(
            "vol.raw",
            &[
                "--shape", "44,44,44", "--dtype", "u16", "--cell", "16,16,16", "--stride", stride,
            ],
        )
    };
    vec![
        Case {
            format: "npy",
            input: cube("0.5"),
        },
        Case {
            format: "nii",
            input: cube("0.5"),
        },
        Case {
            format: "raw",
            input: cube("0.5"),
        },
        Case {
            format: "zarr",
            input: cube("1"),
        },
        Case {
            format: "png",
            input: flags(
                "rgb.raw",
                &[
                    "--shape",
                    "170,170,3",
                    "--dtype",
                    "u8",
                    "--axes",
                    "0,1",
                    "--cell",
                    "32,32",
                    "--stride",
                    "0.5",
                ],
            ),
        },
        Case {
            format: "tiff",
            input: flags(
                "gray.raw",
                &[
                    "--shape", "250,250", "--dtype", "u16", "--cell", "32,32", "--stride", "0.5",
                ],
            ),
        },
    ]
}

impl Case {
    /// `impart fragment INPUT --format F --out OUT --quiet --threads N`,
    /// with `--resume` if asked.
    fn args(&self, out: &Path, threads: usize, resume: bool) -> Vec<String> {
        let mut v = vec!["fragment".to_string()];
        v.extend(self.input.iter().cloned());
        let threads = threads.to_string();
        v.extend(
            [
                "--format",
                self.format,
                "--out",
                s(out),
                "--quiet",
                "--threads",
                &threads,
            ]
            .map(String::from),
        );
        if resume {
            v.push("--resume".into());
        }
        v
    }

    /// Two uninterrupted runs into `out` (one thread; the first warms the
    /// page cache): the files and directories they write (the same), and
    /// the shorter one's duration.
    fn reference(&self, out: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>, Duration) {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let _ = std::fs::remove_dir_all(out);
            let t0 = Instant::now();
            let (written, done) = written_and_done(&ok(&kill::impart(&self.args(out, 1, false))));
            let duration = t0.elapsed();
            assert_eq!(done, 0);
            let files = tree(out);
            assert_eq!(manifest_files(&files).len(), written, "{}", self.format);
            assert!(files.contains_key(GRID));
            runs.push((files, dirs(out), duration));
        }
        let (files, subdirs, d1) = runs.remove(0);
        let (again, again_dirs, d2) = runs.remove(0);
        assert!(
            files == again && subdirs == again_dirs,
            "{}: two runs differ",
            self.format
        );
        (files, subdirs, d1.min(d2))
    }
}

/// The cells written and found done, from a fragment's summary line
/// ("343 cells (300 written, 43 already done) as npy to ...").
fn written_and_done(stdout: &str) -> (usize, usize) {
    let inside = stdout
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    let number = |part: &str| -> usize { part.split_whitespace().next().unwrap().parse().unwrap() };
    let mut parts = inside.split(", ");
    let written = number(parts.next().unwrap());
    let done = parts.next().map_or(0, number);
    (written, done)
}

/// The file names the manifest of a fragment directory lists.
fn manifest_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let text = std::str::from_utf8(&files[MANIFEST]).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["file"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The first component of a relative path: the entry of the output
/// directory it is in.
fn top(rel: &str) -> &str {
    rel.split('/').next().unwrap()
}

/// What a fragment run that ended early (killed, or failed) may leave in
/// `out`: the manifest only beside every cell and nothing else, the
/// whole directory then identical to the uninterrupted run's; otherwise
/// entries under temporary names and entries under final names, each of
/// which (a file, or a Zarr cell's directory with everything in it) is
/// the reference's, byte for byte. Returns the cells under final names.
fn check_interrupted(
    out: &Path,
    reference: &BTreeMap<String, Vec<u8>>,
    reference_dirs: &BTreeSet<String>,
    what: &str,
) -> usize {
    if !out.exists() {
        return 0;
    }
    let files = tree(out);
    let subdirs = dirs(out);
    if files.contains_key(MANIFEST) {
        assert!(
            files == *reference && subdirs == *reference_dirs,
            "{what}: a manifest, but the directory differs from an uninterrupted run's"
        );
        return manifest_files(reference).len();
    }
    let mut finals: BTreeSet<&str> = files.keys().map(|k| top(k)).collect();
    finals.extend(subdirs.iter().map(|d| top(d)));
    finals.retain(|name| !is_temp(name));
    for name in &finals {
        let under = |k: &&String| top(k) == *name;
        let got: Vec<_> = files.iter().filter(|(k, _)| under(k)).collect();
        let want: Vec<_> = reference.iter().filter(|(k, _)| under(k)).collect();
        assert!(
            !want.is_empty(),
            "{what}: {name} is not in an uninterrupted run's output"
        );
        assert!(
            got == want,
            "{what}: {name} is under its final name but not complete"
        );
        let got: Vec<_> = subdirs.iter().filter(under).collect();
        let want: Vec<_> = reference_dirs.iter().filter(under).collect();
        assert_eq!(got, want, "{what}: {name}'s directories");
    }
    finals.iter().filter(|n| n.starts_with("cell_")).count()
}

// ---------------------------------------------------------------------------
// 1. Fragment runs killed at many moments and resumed, for every format

/// Kills of each format (at least 20, as issue 14 asks).
const KILLS: usize = 20;

/// An uninterrupted run, then `KILLS` runs into their own directories,
/// each killed at a seeded random moment within the uninterrupted run's
/// duration (the first at once, the last two past its end; a run that
/// ended before its kill bounds the duration of the next), every third
/// resumed run killed again (within the share of that duration its
/// remaining cells take), then resumed by a run that must succeed. Runs
/// alternate between one and two threads and (odd ones) start with
/// `--resume` and nothing to resume.
fn kill_and_resume(format: &str, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let case = cases(tmp.path())
        .into_iter()
        .find(|c| c.format == format)
        .unwrap();
    let (reference, reference_dirs, measured) = case.reference(&tmp.path().join("ref"));
    let mut duration = measured;
    let cells = manifest_files(&reference).len();
    let mut rng = Rng(seed);
    let mut counts = Counts::default();
    for i in 0..KILLS {
        let out = tmp.path().join(format!("k{i}"));
        let threads = 1 + i % 2;
        let delay = match i {
            0 => Duration::ZERO,
            _ if i + 2 < KILLS => rng.moment(duration),
            _ => duration.mul_f64(1.5 + (i + 2 - KILLS) as f64 / 2.0),
        };
        let interrupted = spawn_and_kill(&case.args(&out, threads, i % 2 == 1), delay);
        counts.kills += 1;
        counts.interrupted += usize::from(interrupted);
        if !interrupted && i + 2 < KILLS {
            // it ended within `delay`: the machine is less loaded than
            // when the reference ran, so later kills come sooner
            duration = duration.min(delay);
        }
        let what = format!("{format} #{i} (killed after {delay:.2?})");
        let before = check_interrupted(&out, &reference, &reference_dirs, &what);
        let mut finished = before;
        if i % 3 == 1 {
            let delay = rng.moment(duration.mul_f64(1.0 - before as f64 / cells as f64));
            let again = spawn_and_kill(&case.args(&out, 3 - threads, true), delay);
            counts.resume_kills += 1;
            counts.resume_interrupted += usize::from(again);
            let what = format!("{what}, resumed and killed after {delay:.2?}");
            finished = check_interrupted(&out, &reference, &reference_dirs, &what);
            assert!(finished >= before, "{what}: finished cells were lost");
        }
        let (written, done) = written_and_done(&ok(&kill::impart(&case.args(&out, threads, true))));
        assert_eq!(written + done, cells, "{what}");
        // every cell under its final name (all complete) is skipped
        assert_eq!(done, finished, "{what}: cells skipped");
        if !interrupted {
            assert_eq!(written, 0, "{what}: a finished run resumed");
        }
        if written == 0 {
            counts.complete += 1;
        } else if done > 0 {
            counts.resumed_some += 1;
        }
        assert!(
            tree(&out) == reference,
            "{what}: resumed output differs from an uninterrupted run's"
        );
        assert_eq!(dirs(&out), reference_dirs, "{what}: stray directories");
        std::fs::remove_dir_all(&out).unwrap();
    }
    counts.print(&format!("fragment {format}"), measured, Some(seed));
    if duration < measured {
        eprintln!("fragment {format}: a run took at most {duration:.2?}");
    }
    counts.check(format);
}

#[test]
fn killed_npy_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("npy", 0x6e7079);
}

#[test]
fn killed_nii_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("nii", 0x6e6969);
}

#[test]
fn killed_raw_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("raw", 0x726177);
}

#[test]
fn killed_zarr_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("zarr", 0x7a617272);
}

#[test]
fn killed_png_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("png", 0x706e67);
}

#[test]
fn killed_tiff_fragment_resumes_to_the_same_bytes() {
    kill_and_resume("tiff", 0x74696666);
}

// ---------------------------------------------------------------------------
// 2. Out of disk space

/// The page size: the unit a tmpfs allocates in.
fn page() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// Pages the files of `files` take on a tmpfs (a page at least each).
fn pages(files: &BTreeMap<String, Vec<u8>>) -> u64 {
    files
        .values()
        .map(|b| (b.len() as u64).div_ceil(page()).max(1))
        .sum()
}

/// A directory where writes run out of room: a tmpfs mounted there, or
/// (where mounting is not permitted) a plain directory whose runs may
/// write no file above a size limit. Unmounted when dropped, even when a
/// test fails.
struct Cramped {
    /// The mount point, or the plain directory.
    dir: PathBuf,
    /// The size limit of each file (no tmpfs), until `make_room`.
    file_limit: Option<u64>,
    mounted: bool,
    _tmp: tempfile::TempDir,
}

impl Cramped {
    /// A tmpfs of `bytes` (rounded up to pages), else a directory whose
    /// runs may write no file above `file_limit` bytes.
    fn new(bytes: u64, file_limit: u64) -> Cramped {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cramped");
        std::fs::create_dir(&dir).unwrap();
        match mount_tmpfs(&dir, bytes, false) {
            Ok(()) => {
                eprintln!("disk full by a tmpfs of {bytes} bytes");
                Cramped {
                    dir,
                    file_limit: None,
                    mounted: true,
                    _tmp: tmp,
                }
            }
            Err(e) => {
                eprintln!(
                    "cannot mount a tmpfs ({e}): disk full emulated by RLIMIT_FSIZE = {file_limit} bytes"
                );
                Cramped {
                    dir,
                    file_limit: Some(file_limit),
                    mounted: false,
                    _tmp: tmp,
                }
            }
        }
    }

    /// What the error of a write that found no room says.
    fn no_room(&self) -> &'static str {
        if self.mounted {
            "No space left on device"
        } else {
            "File too large"
        }
    }

    /// Runs `impart` with `args` in the cramped conditions.
    fn run(&self, args: &[String]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_impart"));
        command.args(args);
        if let Some(limit) = self.file_limit {
            // SAFETY: the closure runs in the forked child before exec;
            // it calls only setrlimit(2) and signal(2), which are
            // async-signal-safe, allocates nothing and reads only its
            // own copy of `limit`. An ignored SIGXFSZ stays ignored
            // across exec, so a write past the limit fails with EFBIG
            // instead of killing the child.
            unsafe {
                command.pre_exec(move || {
                    let rl = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        command.output().expect("run impart")
    }

    /// Room at last: the tmpfs remounted at `bytes` (what the failed run
    /// left stays), or no more size limit.
    fn make_room(&mut self, bytes: u64) {
        if self.mounted {
            mount_tmpfs(&self.dir, bytes, true).expect("remount the tmpfs bigger");
        }
        self.file_limit = None;
    }
}

impl Drop for Cramped {
    fn drop(&mut self) {
        if self.mounted {
            let c = std::ffi::CString::new(s(&self.dir)).unwrap();
            // SAFETY: `c` is a NUL-terminated path that outlives the call.
            // MNT_DETACH unmounts even if a killed child still holds it.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Mounts a tmpfs of `bytes` on `dir` (or remounts it at that size,
/// keeping its files). Linux only; elsewhere an error, and the callers
/// fall back to a file size limit.
fn mount_tmpfs(dir: &Path, bytes: u64, remount: bool) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let target = std::ffi::CString::new(s(dir)).unwrap();
        let data = std::ffi::CString::new(format!("size={bytes}")).unwrap();
        let flags = if remount { libc::MS_REMOUNT } else { 0 };
        // SAFETY: every pointer is a NUL-terminated string that outlives
        // the call; the kernel only reads them.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dir, bytes, remount);
        Err(std::io::Error::other("no tmpfs mounts here"))
    }
}

/// A run that must fail (not crash) for want of room, saying so and
/// naming a file under `dir`; its stderr.
fn check_no_room(o: &Output, cramped: &Cramped, dir: &Path, what: &str) -> String {
    let (out, err) = text(o);
    assert!(
        o.status.code().is_some_and(|c| c != 0),
        "{what}: status {} (want an error exit): {err}{out}",
        o.status
    );
    assert!(
        err.contains(cramped.no_room()),
        "{what}: the error does not say {:?}: {err}",
        cramped.no_room()
    );
    assert!(
        err.contains(&format!("{}/", dir.display())),
        "{what}: the error names no file in {}: {err}",
        dir.display()
    );
    err
}

#[test]
fn a_full_disk_fails_a_fragment_clearly_and_a_resume_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, case) in cases(tmp.path()).into_iter().enumerate() {
        let format = case.format;
        let (reference, reference_dirs, _) =
            case.reference(&tmp.path().join(format!("ref-{format}")));
        let cells = manifest_files(&reference).len();
        // half the room the cells take; without a tmpfs, room for every
        // cell's file but not the manifest where that is larger (it is
        // written last), else not for the largest cells (the first)
        let bytes = pages(&reference) / 2 * page();
        let largest = reference
            .iter()
            .filter(|(k, _)| *k != MANIFEST)
            .map(|(_, b)| b.len() as u64)
            .max()
            .unwrap();
        let manifest_last = reference[MANIFEST].len() as u64 > largest;
        let limit = if manifest_last { largest } else { largest - 1 };
        let mut cramped = Cramped::new(bytes, limit);
        let out = cramped.dir.join("cells");
        let threads = 1 + k % 2;
        let what = format!("fragment {format} on {threads} threads");
        let o = cramped.run(&case.args(&out, threads, false));
        let err = check_no_room(&o, &cramped, &out, &what);
        assert!(
            err.contains("cell_") || err.contains(MANIFEST),
            "{what}: {err}"
        );
        assert!(!out.join(MANIFEST).exists(), "{what}: a manifest");
        let finished = check_interrupted(&out, &reference, &reference_dirs, &what);
        let temps: Vec<String> = listing(&out).into_iter().filter(|n| is_temp(n)).collect();
        assert!(temps.is_empty(), "{what}: the failed run left {temps:?}");
        if cramped.mounted {
            assert!(finished < cells, "{what}");
        }

        cramped.make_room(2 * pages(&reference) * page());
        let (written, done) = written_and_done(&ok(&cramped.run(&case.args(&out, threads, true))));
        assert_eq!((written, done), (cells - finished, finished), "{what}");
        if cramped.mounted || manifest_last {
            assert!(done > 0, "{what}: the run failed before any cell");
        }
        assert!(
            tree(&out) == reference,
            "{what}: resumed output differs from an uninterrupted run's"
        );
        assert_eq!(dirs(&out), reference_dirs, "{what}: stray directories");
        eprintln!("{what}: failed with {finished} of {cells} cells written; resumed");
    }
}

/// The stitch volume: 48 x 40 x 36 f32 in [-1, 1), in 16³ cells at stride
/// 0.5 (5 x 4 x 4 cells, 120 output regions).
fn stitch_volume(dir: &Path) -> PathBuf {
    let path = dir.join("stitch.raw");
    write_values(&path, 48 * 40 * 36, 4, |k| {
        u64::from(((mix(k) >> 40) as f32 / (1u64 << 23) as f32 - 1.0).to_bits())
    });
    path
}

fn stitch_args(vol: &Path, out: &Path, resume: bool) -> Vec<String> {
    let mut v: Vec<String> = [
        "stitch",
        s(vol),
        "--shape",
        "48,40,36",
        "--dtype",
        "f32",
        "--cell",
        "16,16,16",
        "--stride",
        "0.5",
        "--synthetic",
        "3",
        "--threads",
        "1",
        "--out",
        s(out),
        "--quiet",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    if resume {
        v.push("--resume".into());
    }
    v
}

/// A stitch out of room: `.raw` and `.nii` outputs reserve their blocks
/// first, so they fail at once and leave nothing; `.nii.gz` is compressed
/// at the end from an uncompressed temporary file, given room for that and
/// half the compressed file, so it fails after every region is done;
/// `.zarr`, given half the room of its chunks, fails partway through them.
/// Then, given room, `--resume` completes each, byte-identical to an
/// uninterrupted run, trusting only what its journal lists.
#[test]
fn a_full_disk_fails_a_stitch_clearly_and_a_resume_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = stitch_volume(tmp.path());
    let mut nii_pages = 0;
    for ext in ["raw", "nii", "nii.gz", "zarr"] {
        let name = format!("out.{ext}");
        let reference_out = fresh(tmp.path(), &format!("ref-{ext}")).join(&name);
        ok(&kill::impart(&stitch_args(&vol, &reference_out, false)));
        let reference = tree(&reference_out);
        let bytes = match ext {
            "nii" => {
                nii_pages = pages(&reference);
                nii_pages / 2 * page()
            }
            // the uncompressed file (the same as .nii's), the journal
            "nii.gz" => (nii_pages + 2 + pages(&reference) / 2) * page(),
            _ => (pages(&reference) / 2 + 1) * page(),
        };
        let largest = reference.values().map(|b| b.len() as u64).max().unwrap();
        let mut cramped = Cramped::new(bytes, largest - 1);
        let out = cramped.dir.join(&name);
        let what = format!("stitch {ext}");
        let o = cramped.run(&stitch_args(&vol, &out, false));
        let err = check_no_room(&o, &cramped, &cramped.dir, &what);
        assert!(err.contains(&name), "{what}: {err}");
        assert!(!out.exists(), "{what}: the output exists");
        let left = listing(&cramped.dir);
        let resumable = [
            format!(".{name}.impart-journal"),
            format!(".{name}.resumable.impart-tmp"),
        ];
        assert!(
            left.iter().all(|n| resumable.contains(n)),
            "{what}: the failed run left {left:?}"
        );
        if matches!(ext, "raw" | "nii") {
            assert!(left.is_empty(), "{what}: the failed run left {left:?}");
        }
        // chunks a failed write may have left short (not in the journal)
        let store = cramped.dir.join(&resumable[1]);
        let short = if ext == "zarr" && store.is_dir() {
            tree(&store)
                .iter()
                .filter(|(k, v)| reference.get(*k) != Some(v))
                .count()
        } else {
            0
        };

        cramped.make_room(4 * pages(&reference) * page() + (1 << 20));
        let o = ok(&cramped.run(&stitch_args(&vol, &out, true)));
        let j: Value = serde_json::from_str(&o).unwrap();
        let resumed = j["resumed_regions"].as_u64().unwrap();
        let regions = j["regions"].as_u64().unwrap();
        if cramped.mounted {
            match ext {
                "nii.gz" => assert_eq!(resumed, regions, "{what}: {j}"),
                "zarr" => assert!(0 < resumed && resumed < regions, "{what}: {j}"),
                _ => assert_eq!(resumed, 0, "{what}: {j}"),
            }
        }
        assert!(
            tree(&out) == reference,
            "{what}: resumed output differs from an uninterrupted run's"
        );
        assert_eq!(listing(&cramped.dir), [name], "{what}: stray files");
        eprintln!(
            "{what}: failed; resumed {resumed} of {regions} regions ({short} chunk files differing from the reference's left by the failed run)"
        );
    }
}

/// A stitch whose `--scratch` file (the accumulators, mapped) runs out of
/// room: each region's blocks are reserved before it is first written, so
/// the run fails partway, naming the scratch file, not killed by a SIGBUS;
/// the resume completes it. The output (argmax labels, u8) is elsewhere;
/// without a tmpfs, the file size limit lets it be written but not the
/// scratch file (3 f32 channels per voxel), which fails at once.
#[test]
fn a_full_scratch_disk_fails_a_stitch_clearly_and_a_resume_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = stitch_volume(tmp.path());
    let stitch = |out: &Path, resume, scratch: Option<&Path>| {
        let mut a = stitch_args(&vol, out, resume);
        a.extend(["--reduce".into(), "argmax".into()]);
        if let Some(dir) = scratch {
            a.extend(["--scratch".into(), s(dir).to_string()]);
        }
        a
    };
    let reference_out = fresh(tmp.path(), "ref").join("out.raw");
    let j: Value =
        serde_json::from_str(&ok(&kill::impart(&stitch(&reference_out, false, None)))).unwrap();
    let reference = std::fs::read(&reference_out).unwrap();
    // half the most accumulator bytes live at once
    let peak = j["planned_peak_bytes"].as_u64().unwrap();
    let mut cramped = Cramped::new(peak / 2 / page() * page(), reference.len() as u64);
    let out_dir = fresh(tmp.path(), "out");
    let out = out_dir.join("out.raw");
    let scratch = cramped.dir.clone();
    let o = cramped.run(&stitch(&out, false, Some(&scratch)));
    let err = check_no_room(&o, &cramped, &cramped.dir, "stitch --scratch");
    assert!(err.contains(".scratch"), "{err}");
    assert!(!out.exists());
    cramped.make_room(4 * peak + (1 << 20));
    let j: Value =
        serde_json::from_str(&ok(&cramped.run(&stitch(&out, true, Some(&scratch))))).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == reference,
        "stitch --scratch: resumed output differs from an uninterrupted run's"
    );
    assert_eq!(listing(&out_dir), ["out.raw"]);
    assert!(listing(&cramped.dir).is_empty());
    if cramped.mounted {
        assert!(j["resumed_regions"].as_u64().unwrap() > 0, "{j}");
    }
    eprintln!(
        "stitch --scratch: failed; resumed {} of {} regions",
        j["resumed_regions"], j["regions"]
    );
}
