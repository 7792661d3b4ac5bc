//! Helpers of the tests that kill `impart` with SIGKILL at many moments and
//! resume it (`tests/cli_stitch.rs`, `tests/cli_faults.rs`): running the
//! binary and killing it after a delay, a seeded schedule of kill moments,
//! the counts of kills that landed mid-run, and whole directory trees to
//! compare byte for byte.
//!
//! Included with `#[path = "common/kill.rs"] mod kill;` (not through
//! `common/mod.rs`, so the crates that use these compile nothing else);
//! not every crate uses every item, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs `impart` with `args` to the end.
pub fn impart<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .output()
        .expect("run impart")
}

/// Stdout and stderr of a run, as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Stdout of a run that must succeed.
pub fn ok(out: &Output) -> String {
    let (o, e) = text(out);
    assert!(out.status.success(), "status {}: {e}{o}", out.status);
    o
}

/// Spawns `impart` with `args`, waits `delay`, SIGKILLs it; whether the
/// kill ended it (it had not exited by itself: it was interrupted). A run
/// that ends by itself must succeed.
pub fn spawn_and_kill(args: &[String], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL; nothing if it has exited
    let out = child.wait_with_output().unwrap();
    let status = out.status;
    let interrupted = status.signal() == Some(libc::SIGKILL);
    assert!(
        interrupted || status.success(),
        "a run that was not killed failed: {status}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(running || !interrupted);
    interrupted
}

/// SplitMix64: a small seeded generator, so a schedule of kill moments is
/// the same in every run of a test (the moments the kills land at are not:
/// they depend on the machine's speed and load).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A moment in [0, `upto`).
    pub fn moment(&mut self, upto: Duration) -> Duration {
        upto.mul_f64(self.unit())
    }
}

/// What a series of kills and resumes did, printed to stderr (visible with
/// `--nocapture`); only a fraction of the kills is required to land mid-run
/// (nothing here asserts a time).
#[derive(Debug, Default)]
pub struct Counts {
    /// Kills of a first run.
    pub kills: usize,
    /// ... of which landed before the run ended.
    pub interrupted: usize,
    /// Kills of a resumed run.
    pub resume_kills: usize,
    pub resume_interrupted: usize,
    /// Final resumes that found work done by a killed run (and work left).
    pub resumed_some: usize,
    /// Final resumes that found the output complete.
    pub complete: usize,
}

impl Counts {
    /// Prints the counts for `what`, with the duration of the
    /// uninterrupted run the kills were spread over.
    pub fn print(&self, what: &str, reference: Duration, seed: Option<u64>) {
        let seed = seed.map_or(String::new(), |s| format!(", seed {s:#x}"));
        eprintln!(
            "{what}: reference run {reference:.2?}{seed}; {} kills, {} mid-run; {} kills of resumed runs, {} mid-run; {} resumes reused the work of a killed run, {} found it complete",
            self.kills,
            self.interrupted,
            self.resume_kills,
            self.resume_interrupted,
            self.resumed_some,
            self.complete
        );
    }

    /// At least a quarter of the kills landed mid-run, and at least one
    /// resume had work of a killed run to reuse.
    pub fn check(&self, what: &str) {
        assert!(
            self.interrupted >= self.kills / 4,
            "{what}: only {} of {} kills landed mid-run",
            self.interrupted,
            self.kills
        );
        assert!(
            self.resumed_some >= 1,
            "{what}: no kill left work to resume"
        );
    }
}

/// Every file under `path` (the path itself if it is a file, keyed ""), by
/// relative path, with its bytes.
pub fn tree(path: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if path.is_dir() {
        walk(path, path, &mut out);
    } else {
        out.insert(String::new(), std::fs::read(path).unwrap());
    }
    out
}

/// Every directory under `dir`, by relative path (the empty ones too,
/// which [`tree`] does not show).
pub fn dirs(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Removes a file or a directory tree, if there.
pub fn remove(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
}

/// The names in `dir`, sorted (hidden ones included).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh empty directory `name` in `parent`.
pub fn fresh(parent: &Path, name: &str) -> PathBuf {
    let d = parent.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether a name is one of the temporary names `impart` writes under
/// (`.<name>.<pid>-<n>.impart-tmp`, `.<name>.resumable.impart-tmp`).
pub fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".impart-tmp")
}
