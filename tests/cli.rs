//! The command-line contract: flags, JSON keys and exit codes.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn impart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .output()
        .expect("run impart")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// A 1080 x 1920 x 3 u8 image, C order, value (y + 2x + c) mod 256.
fn image(dir: &Path) -> PathBuf {
    let path = dir.join("image.raw");
    let mut data = Vec::with_capacity(1080 * 1920 * 3);
    for y in 0..1080usize {
        for x in 0..1920usize {
            for c in 0..3usize {
                data.push((y + 2 * x + c) as u8);
            }
        }
    }
    std::fs::write(&path, data).unwrap();
    path
}

const RAW: [&str; 4] = ["--shape", "1080,1920,3", "--dtype", "u8"];

fn with_raw<'a>(path: &'a str, cmd: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd, path];
    v.extend_from_slice(&RAW);
    v.extend_from_slice(rest);
    v
}

#[test]
fn grid_json_keys_and_worked_example() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path());
    let p = p.to_str().unwrap();
    let g = stdout_json(&impart(&with_raw(
        p,
        "grid",
        &["--cell", "128,128", "--stride", "0.5", "--json"],
    )));
    assert_eq!(g["volume_shape"], serde_json::json!([1080, 1920, 3]));
    assert_eq!(g["cell_shape"], serde_json::json!([128, 128]));
    assert_eq!(g["step"], serde_json::json!([64.0, 64.0]));
    assert_eq!(g["grid_shape"], serde_json::json!([16, 29]));
    assert_eq!(g["cells"], 464);

    for (sel, start, shape) in [
        ("...,0", [0, 0, 0], [1080, 128, 3]),
        (":3,15:21", [0, 960, 0], [256, 448, 3]),
        ("10,-1", [640, 1792, 0], [128, 128, 3]),
    ] {
        let r = stdout_json(&impart(&with_raw(
            p,
            "region",
            &[
                "--cell", "128,128", "--stride", "0.5", "--select", sel, "--json",
            ],
        )));
        assert_eq!(r["start"], serde_json::json!(start), "{sel}");
        assert_eq!(r["shape"], serde_json::json!(shape), "{sel}");
    }
}

#[test]
fn stats_lines_match_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = image(dir.path());
    let p = p.to_str().unwrap();
    let out = impart(&with_raw(
        p,
        "stats",
        &[
            "--cell",
            "128,128",
            "--select",
            "0:2,-1",
            "--threads",
            "2",
            "--json",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // cell (0, 14): rows 0..128, columns 1792..1920, all channels
    let c = &lines[0];
    assert_eq!(c["index"], serde_json::json!([0, 14]));
    assert_eq!(c["start"], serde_json::json!([0, 1792, 0]));
    assert_eq!(c["shape"], serde_json::json!([128, 128, 3]));
    let (mut sum, mut min, mut max) = (0u64, u8::MAX, 0u8);
    for y in 0..128usize {
        for x in 1792..1920usize {
            for ch in 0..3usize {
                let v = (y + 2 * x + ch) as u8;
                sum += v as u64;
                min = min.min(v);
                max = max.max(v);
            }
        }
    }
    assert_eq!(c["sum"].as_f64().unwrap(), sum as f64);
    assert_eq!(c["min"].as_f64().unwrap(), min as f64);
    assert_eq!(c["max"].as_f64().unwrap(), max as f64);
    assert_eq!(
        c["mean"].as_f64().unwrap(),
        sum as f64 / (128.0 * 128.0 * 3.0)
    );
    let summary = &lines[2];
    assert_eq!(summary["cells"], 2);
    assert_eq!(summary["bytes"], 2 * 128 * 128 * 3);
    assert_eq!(summary["threads"], 2);
    assert!(summary["gb_per_s"].as_f64().unwrap() > 0.0);
    let cell_sums: f64 = lines[..2].iter().map(|l| l["sum"].as_f64().unwrap()).sum();
    assert_eq!(summary["sum"].as_f64().unwrap(), cell_sums);
}

#[test]
fn info_reports_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.raw");
    std::fs::write(&path, vec![0u8; 7 + 4 * 5 * 6 * 2]).unwrap();
    let p = path.to_str().unwrap();
    let base = [
        "info", p, "--shape", "4,5,6", "--dtype", "u16", "--order", "F", "--json",
    ];
    let i = stdout_json(&impart(&base));
    assert_eq!(i["shape"], serde_json::json!([4, 5, 6]));
    assert_eq!(i["dtype"], "u16");
    assert_eq!(i["order"], "F");
    assert_eq!(i["zero_copy"], true);
    let mut odd = base.to_vec();
    odd.extend(["--offset", "7"]);
    let i = stdout_json(&impart(&odd));
    assert_eq!(i["zero_copy"], false);
    let mut big = base.to_vec();
    big.extend(["--byte-order", "big"]);
    assert_eq!(stdout_json(&impart(&big))["byte_order"], "big");
}

#[test]
fn errors_exit_nonzero_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.raw");
    std::fs::write(&path, vec![0u8; 100]).unwrap();
    let p = path.to_str().unwrap();
    let out = impart(&["info", p, "--shape", "10,10", "--dtype", "u16"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("short.raw") && err.contains("truncated"),
        "{err}"
    );

    let ok = ["--shape", "10,10", "--dtype", "u8", "--cell", "3,3"];
    for (extra, needle) in [
        (vec!["--stride", "0"], "stride"),
        (vec!["--stride", "-1"], "stride"),
        (vec!["--stride", "NaN"], "stride"),
        (vec!["--select", "4"], "out of bounds"),
        (vec!["--select", "2:1"], "empty"),
        (vec!["--select", "1,2,3"], "too many"),
    ] {
        let mut args = vec!["region", p];
        args.extend_from_slice(&ok);
        if !extra.contains(&"--select") {
            args.extend(["--select", "0"]);
        }
        args.extend(extra.iter().copied());
        let out = impart(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = impart(&[
        "info",
        "/nonexistent/x.raw",
        "--shape",
        "1",
        "--dtype",
        "u8",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.raw"));
    let out = impart(&["info", p]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shape"));
}

#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = impart(&[
        "demo",
        "--size",
        "32",
        "--cell",
        "8",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("grid shape:   7 x 7 x 7"), "{text}");
    assert!(dir.path().join("shepp_logan_32.u16.raw").exists());
}

#[test]
fn dtype_byte_order_mark_and_pad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("be.raw");
    let vals: Vec<u8> = (0u16..24).flat_map(|v| (v * 300).to_be_bytes()).collect();
    std::fs::write(&path, vals).unwrap();
    let p = path.to_str().unwrap();
    let stats = |extra: &[&str]| {
        let mut args = vec!["stats", p, "--shape", "4,6", "--cell", "4,6", "--json"];
        args.extend_from_slice(extra);
        impart(&args)
    };
    // '>u2' and --byte-order big agree, and read the true values
    for extra in [
        &["--dtype", ">u2"][..],
        &["--dtype", "u16", "--byte-order", "big"][..],
    ] {
        let out = stats(extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first: Value = serde_json::from_str(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first["max"].as_f64().unwrap(), 23.0 * 300.0);
        assert_eq!(
            first["sum"].as_f64().unwrap(),
            300.0 * (0..24).sum::<u32>() as f64
        );
    }
    let out = stats(&["--dtype", ">u2", "--byte-order", "little"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--byte-order"));
    let out = stats(&["--dtype", "u16", "--pad-mode", "edge"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--edge pad"));
    let out = stats(&[
        "--dtype",
        "u16",
        "--edge",
        "pad",
        "--pad-mode",
        "reflect",
        "--pad-value",
        "3",
    ]);
    assert!(!out.status.success());
}

/// A mapped input truncated while `impart` reads it: the process reports
/// it (SIGBUS handler) instead of dying without a word. The sparse 256 MiB
/// input in 4^3 cells takes seconds to walk; the file is truncated as soon
/// as `/proc/PID/maps` shows it mapped.
#[cfg(target_os = "linux")]
#[test]
fn truncated_while_mapped_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.raw");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(256 * 512 * 1024 * 2)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_impart"))
        .args([
            "stats",
            path.to_str().unwrap(),
            "--shape",
            "256,512,1024",
            "--dtype",
            "u16",
            "--cell",
            "4,4,4",
            "--threads",
            "1",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // truncate once the file is mapped (not after a fixed delay, which a
    // slow or loaded machine may not have reached)
    let maps = format!("/proc/{}/maps", child.id());
    let name = path.to_string_lossy().into_owned();
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&name)) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "impart never mapped {name}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(135), "{err}");
    assert!(err.contains("SIGBUS") && err.contains("--no-mmap"), "{err}");
}

/// A PNG through the decode cache: `info` says whether it is mapped, and
/// `stats` gives the same cells with and without the cache.
#[test]
fn png_decode_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (90u32, 130u32);
    let png = dir.path().join("pic.png");
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]))
        .save(&png)
        .unwrap();
    let png = png.to_str().unwrap();
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let info = stdout_json(&impart(&["info", png, "--json"]));
    assert_eq!(
        (info["mapped"].as_bool(), info["cached"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(info["shape"], serde_json::json!([90, 130, 3]));
    let stats = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["stats", png, "--cell", "32,32", "--stride", "0.5", "--json"];
        args.extend_from_slice(extra);
        let out = impart(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        // every line but the summary, whose timings differ
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[..lines.len() - 1].to_vec()
    };
    let plain = stats(&[]);
    // ceil((90 - 32) / 16) + 1 = 5 rows, ceil((130 - 32) / 16) + 1 = 8 columns
    assert_eq!(plain.len(), 5 * 8);
    assert_eq!(stats(&["--cache-dir", cache]), plain); // decodes, writes the cache
    assert_eq!(stats(&["--cache-dir", cache]), plain); // maps the cache
    let info = stdout_json(&impart(&["info", png, "--cache-dir", cache, "--json"]));
    assert_eq!(
        (info["mapped"].as_bool(), info["cached"].as_bool()),
        (Some(true), Some(true))
    );
}

/// A PNG larger than the in-memory limit (set low with
/// IMPART_DECODE_IN_MEMORY_MAX): `info` says it went to a temporary cache
/// file in TMPDIR and where, `stats` reads the same cells as in memory, and
/// nothing is left in TMPDIR afterwards; a bad value of the variable is a
/// warning.
#[test]
fn png_larger_than_the_in_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let png = dir.path().join("big.png");
    image::RgbImage::from_fn(70, 50, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]))
        .save(&png)
        .unwrap();
    let png = png.to_str().unwrap();
    let t = tmp.to_str().unwrap();
    let small = [("IMPART_DECODE_IN_MEMORY_MAX", "4K"), ("TMPDIR", t)];
    let info = stdout_json(&impart_env(&["info", png, "--json"], &small));
    assert_eq!(
        (
            info["mapped"].as_bool(),
            info["cached"].as_bool(),
            info["temporary"].as_bool()
        ),
        (Some(true), Some(true), Some(true))
    );
    let file = info["cache_file"].as_str().unwrap();
    assert!(file.starts_with(t), "{file}");
    assert!(
        info["storage"]
            .as_str()
            .unwrap()
            .contains("temporary cache file"),
        "{info}"
    );
    let text = impart_env(&["info", png], &small);
    assert!(String::from_utf8_lossy(&text.stdout).contains("temporary cache file"));
    let stats = |env: &[(&str, &str)]| -> Vec<String> {
        let out = impart_env(&["stats", png, "--cell", "16,16", "--json"], env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[..lines.len() - 1].to_vec()
    };
    assert_eq!(stats(&small), stats(&[("TMPDIR", t)]));
    let left: Vec<_> = std::fs::read_dir(tmp.join("impart-cache"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // in memory below the limit
    let info = stdout_json(&impart_env(&["info", png, "--json"], &[("TMPDIR", t)]));
    assert_eq!(
        (info["cached"].as_bool(), info["temporary"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(info["cache_file"], Value::Null);
    let out = impart_env(
        &["info", png, "--json"],
        &[("IMPART_DECODE_IN_MEMORY_MAX", "lots"), ("TMPDIR", t)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IMPART_DECODE_IN_MEMORY_MAX"), "{err}");
    assert_eq!(stdout_json(&out)["cached"], false);
}

/// A 16 x 16 x 8 u8 raw volume with `extra` bytes after it.
fn small_raw(dir: &Path, extra: usize) -> PathBuf {
    let path = dir.join("vol.raw");
    let data: Vec<u8> = (0..16 * 16 * 8 + extra).map(|i| i as u8).collect();
    std::fs::write(&path, data).unwrap();
    path
}

const SMALL: [&str; 4] = ["--shape", "16,16,8", "--dtype", "u8"];

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn partial_cell_shape_notes_the_carried_axes() {
    let dir = tempfile::tempdir().unwrap();
    let p = small_raw(dir.path(), 0);
    let p = p.to_str().unwrap();
    let run = |cmd: &str, rest: &[&str]| {
        let mut v = vec![cmd, p];
        v.extend_from_slice(&SMALL);
        v.extend_from_slice(rest);
        impart(&v)
    };

    let out = run("grid", &["--cell", "8,8", "--json"]);
    let err = stderr(&out);
    assert!(err.contains("note:"), "{err}");
    assert!(err.contains("carrying axis 2 (extent 8) whole"), "{err}");
    assert!(err.contains("--axes"), "{err}");
    assert_eq!(stdout_json(&out)["carried_axes"], serde_json::json!([2]));

    let out = run("region", &["--cell", "8,8", "--select", "0,0", "--json"]);
    assert!(stderr(&out).contains("carrying axis 2"));
    assert_eq!(stdout_json(&out)["carried_axes"], serde_json::json!([2]));

    let out = run("stats", &["--cell", "8", "--json"]);
    let err = stderr(&out);
    assert!(
        err.contains("carrying axes 1 (extent 16), 2 (extent 8)"),
        "{err}"
    );
    assert!(out.status.success(), "{err}");
    let last = String::from_utf8(out.stdout).unwrap();
    let summary: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"], true);
    assert_eq!(summary["carried_axes"], serde_json::json!([1, 2]));

    // --axes says it: no note, the key still tells.
    let out = run("grid", &["--cell", "8,8", "--axes", "1,2", "--json"]);
    assert!(!stderr(&out).contains("note"), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["carried_axes"], serde_json::json!([0]));

    // Every axis partitioned: nothing carried, nothing said.
    let out = run("grid", &["--cell", "8,8,8", "--json"]);
    assert!(!stderr(&out).contains("note"), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["carried_axes"], serde_json::json!([]));
}

#[test]
fn image_with_two_cell_extents_has_no_note() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("pic.png");
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 0]))
        .save(&png)
        .unwrap();
    let out = impart(&["grid", png.to_str().unwrap(), "--cell", "16,16", "--json"]);
    assert!(!stderr(&out).contains("note"), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["carried_axes"], serde_json::json!([2]));
}

#[test]
fn raw_file_longer_than_its_shape_warns() {
    let dir = tempfile::tempdir().unwrap();
    let p = small_raw(dir.path(), 10);
    let p = p.to_str().unwrap();
    let mut args = vec!["grid", p];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(&["--cell", "8,8,8", "--json"]);
    let out = impart(&args);
    let err = stderr(&out);
    assert!(err.contains("warning:"), "{err}");
    assert!(err.contains(p), "{err}");
    assert!(err.contains("2058 bytes"), "{err}");
    assert!(err.contains("cover 2048 bytes"), "{err}");
    stdout_json(&out);

    // With an offset covering the extra bytes: no warning.
    args.extend_from_slice(&["--offset", "10"]);
    let err = stderr(&impart(&args));
    assert!(!err.contains("warning"), "{err}");

    // Exactly the right length: no warning.
    let exact = small_raw(dir.path(), 0);
    let mut args = vec!["info", exact.to_str().unwrap()];
    args.extend_from_slice(&SMALL);
    let err = stderr(&impart(&args));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn help_names_every_format() {
    let out = impart(&["grid", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "raw",
        "--shape",
        "--dtype",
        ".nii",
        ".nii.gz",
        ".hdr/.img",
        "Zarr v2",
        "v3",
        "--array",
        "PNG",
        "TIFF",
        "JPEG",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

/// `impart` with the cache's environment variables cleared, then `env` set.
fn impart_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_impart"));
    cmd.args(args)
        .env_remove("IMPART_CACHE_MAX_BYTES")
        .env_remove("IMPART_CACHE_MAX_AGE")
        .env_remove("IMPART_DECODE_IN_MEMORY_MAX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run impart")
}

/// A file of `bytes` zeros in `<dir>/impart-cache/`, last used at `t`.
fn cache_file(dir: &Path, name: &str, bytes: usize, t: std::time::SystemTime) -> PathBuf {
    let cache = dir.join("impart-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let path = cache.join(name);
    std::fs::write(&path, vec![0u8; bytes]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(t))
        .unwrap();
    path
}

/// 2001-09-09T01:46:40Z plus `hours`.
fn at(hours: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000 + 3600 * hours)
}

fn cache_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("impart-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cache_list_prints_files_and_total() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // least recently used first, whatever the names say
    cache_file(dir.path(), "00000000000000bb-b.nii", 2000, at(0));
    cache_file(dir.path(), "00000000000000aa-a.png.pixels", 1000, at(1));
    cache_file(
        dir.path(),
        ".00000000000000cc-c.nii.77-0.impart-tmp",
        5,
        at(2),
    );
    cache_file(dir.path(), "notes.txt", 10, at(0));

    let out = impart_env(&["cache", "list", "--cache-dir", d], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].ends_with("impart-cache"), "{text}");
    assert!(lines[2].contains("2.0 KiB") && lines[2].contains("2001-09-09 01:46:40"));
    assert!(lines[2].ends_with("00000000000000bb-b.nii"), "{text}");
    assert!(lines[3].contains("1000 B") && lines[3].contains("2001-09-09 02:46:40"));
    assert!(
        lines[3].ends_with("00000000000000aa-a.png.pixels"),
        "{text}"
    );
    assert!(lines[4].ends_with("impart-tmp (temporary)"), "{text}");
    assert!(
        lines[5].starts_with("3 files, 2.9 KiB (3005 bytes); cap 20.0 GiB"),
        "{text}"
    );
    assert!(!text.contains("notes.txt"));

    let j = stdout_json(&impart_env(
        &["cache", "--cache-dir", d, "list", "--json"],
        &[],
    ));
    assert!(j["dir"].as_str().unwrap().ends_with("impart-cache"));
    assert_eq!(
        (j["count"].as_u64(), j["total_bytes"].as_u64()),
        (Some(3), Some(3005))
    );
    assert_eq!(j["max_bytes"].as_u64(), Some(20 << 30));
    assert!(j["max_age_seconds"].is_null());
    let files = j["files"].as_array().unwrap();
    assert_eq!(files[0]["name"], "00000000000000bb-b.nii");
    assert_eq!(files[0]["bytes"], 2000);
    assert_eq!(files[0]["last_used"], "2001-09-09T01:46:40Z");
    assert_eq!(files[0]["last_used_unix"], 1_000_000_000u64);
    assert_eq!(files[0]["temporary"], false);
    assert!(files[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("00000000000000bb-b.nii"));
    assert_eq!(files[1]["name"], "00000000000000aa-a.png.pixels");
    assert_eq!(files[2]["temporary"], true);

    // a cache that does not exist lists nothing
    let empty = dir.path().join("nothing-here");
    let j = stdout_json(&impart_env(
        &[
            "cache",
            "list",
            "--json",
            "--cache-dir",
            empty.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(
        (j["count"].as_u64(), j["total_bytes"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn cache_clean_older_than_removes_only_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    cache_file(dir.path(), "000000000000000a-old.nii", 300, now - 10 * day);
    cache_file(
        dir.path(),
        "000000000000000b-older.nii",
        200,
        now - 30 * day,
    );
    cache_file(
        dir.path(),
        "000000000000000c-recent.nii",
        100,
        now - day / 24,
    );

    let out = impart_env(
        &["cache", "clean", "--cache-dir", d, "--older-than", "7d"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("removed 000000000000000b-older.nii (200 B)"),
        "{text}"
    );
    assert!(
        text.contains("removed 000000000000000a-old.nii (300 B)"),
        "{text}"
    );
    assert!(text.contains("removed 2 files"), "{text}");
    assert!(text.contains("freed 500 B (500 bytes)"), "{text}");
    assert!(
        text.contains("kept 1 file (100 B), used within the last 1w"),
        "{text}"
    );
    assert_eq!(cache_names(dir.path()), ["000000000000000c-recent.nii"]);

    // in other units, and as JSON
    cache_file(
        dir.path(),
        "000000000000000d-two-hours.nii",
        50,
        now - day / 12,
    );
    let j = stdout_json(&impart_env(
        &[
            "cache",
            "clean",
            "--cache-dir",
            d,
            "--older-than",
            "90m",
            "--json",
        ],
        &[],
    ));
    assert_eq!(j["older_than_seconds"], 5400);
    assert_eq!(j["removed_count"], 1);
    assert_eq!(j["bytes_freed"], 50);
    assert_eq!(j["removed"][0]["name"], "000000000000000d-two-hours.nii");
    assert_eq!(
        (j["kept_count"].as_u64(), j["kept_bytes"].as_u64()),
        (Some(1), Some(100))
    );
    assert_eq!(j["failed"], serde_json::json!([]));
    for plain_seconds in ["86400", "1w", "2w"] {
        let out = impart_env(
            &[
                "cache",
                "clean",
                "--cache-dir",
                d,
                "--older-than",
                plain_seconds,
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(cache_names(dir.path()), ["000000000000000c-recent.nii"]);
    }
}

#[test]
fn cache_clean_removes_everything_but_live_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let now = std::time::SystemTime::now();
    let hour = std::time::Duration::from_secs(3600);
    cache_file(dir.path(), "000000000000000a-a.nii", 1024, now);
    cache_file(dir.path(), "000000000000000b-b.nii", 1024, at(0));
    let live = ".000000000000000c-c.nii.4242-0.impart-tmp";
    cache_file(dir.path(), live, 7, now - hour);
    let stale = ".000000000000000d-d.nii.4243-0.impart-tmp";
    cache_file(dir.path(), stale, 9, now - 48 * hour);
    cache_file(dir.path(), "notes.txt", 3, at(0));
    let out = impart_env(&["cache", "clean", "--cache-dir", d], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("removed 3 files"), "{text}");
    assert!(text.contains("freed 2.0 KiB (2057 bytes)"), "{text}");
    assert!(
        text.contains("kept 1 file (7 B); 1 being written"),
        "{text}"
    );
    assert_eq!(cache_names(dir.path()), [live, "notes.txt"]);
    let out = impart_env(&["cache", "clean", "--cache-dir", d], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to remove"));
}

#[test]
fn cache_bad_duration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let kept = cache_file(dir.path(), "000000000000000a-a.nii", 10, at(0));
    for bad in ["7x", "1.5d", "-3d", "d", ""] {
        let out = impart_env(
            &["cache", "clean", "--cache-dir", d, "--older-than", bad],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = stderr(&out);
        assert!(err.contains("--older-than"), "{err}");
        assert!(err.contains("not a duration"), "{err}");
        assert!(err.contains("30m, 12h, 7d, 2w"), "{err}");
        assert!(kept.exists());
    }
}

#[test]
fn cache_environment_sets_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let list = |env: &[(&str, &str)]| {
        let out = impart_env(&["cache", "list", "--cache-dir", d, "--json"], env);
        (stdout_json(&out), stderr(&out))
    };
    let (j, _) = list(&[
        ("IMPART_CACHE_MAX_BYTES", "5G"),
        ("IMPART_CACHE_MAX_AGE", "2w"),
    ]);
    assert_eq!(j["max_bytes"].as_u64(), Some(5 << 30));
    assert_eq!(j["max_age_seconds"].as_u64(), Some(14 * 86_400));
    let (j, _) = list(&[("IMPART_CACHE_MAX_BYTES", "none")]);
    assert!(j["max_bytes"].is_null());
    let (j, err) = list(&[("IMPART_CACHE_MAX_BYTES", "lots")]);
    assert_eq!(j["max_bytes"].as_u64(), Some(20 << 30));
    assert!(
        err.contains("IMPART_CACHE_MAX_BYTES") && err.contains("\"lots\""),
        "{err}"
    );

    // a cap of 0 keeps only the copy just written
    cache_file(dir.path(), "000000000000000a-old.png.pixels", 4096, at(0));
    let png = dir.path().join("pic.png");
    image::RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8, y as u8, 0]))
        .save_with_format(&png, image::ImageFormat::Png)
        .unwrap();
    let out = impart_env(
        &["info", png.to_str().unwrap(), "--cache-dir", d, "--json"],
        &[("IMPART_CACHE_MAX_BYTES", "0")],
    );
    let info = stdout_json(&out);
    assert_eq!(info["cached"], true);
    let names = cache_names(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-pic.png.pixels"), "{names:?}");
}

/// `--page` opens one page of a TIFF stack through the TIFF backend: the
/// stats of the whole page equal those of tifffile's array for that page
/// (`tests/data/tiff/u16_stack5.expected`, little-endian u16, 5 x 37 x 53).
#[test]
fn tiff_page_flag_reads_that_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiff");
    let expected = std::fs::read(dir.join("u16_stack5.expected")).expect("expected");
    let page = 37 * 53 * 2;
    let tif = dir.join("u16_stack5.tif");
    for p in [0usize, 3, 4] {
        let values: Vec<u16> = expected[p * page..(p + 1) * page]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let out = impart(&[
            "stats",
            tif.to_str().unwrap(),
            "--page",
            &p.to_string(),
            "--cell",
            "37,53",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // one line per cell, then the summary
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.lines().next().expect("a cell")).expect("JSON");
        let min = *values.iter().min().unwrap() as f64;
        let max = *values.iter().max().unwrap() as f64;
        let sum: f64 = values.iter().map(|&x| x as f64).sum();
        assert_eq!(v["min"].as_f64(), Some(min), "page {p}");
        assert_eq!(v["max"].as_f64(), Some(max), "page {p}");
        assert_eq!(v["sum"].as_f64(), Some(sum), "page {p}");
        assert_eq!(v["shape"], serde_json::json!([37, 53, 1]), "page {p}");
    }
    // a page the file does not have is an error naming it
    let out = impart(&["info", tif.to_str().unwrap(), "--page", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no page 5"), "{err}");
}

#[test]
fn tiff_info_lists_stack_axes_levels_and_georeference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiff");
    let info = |file: &str, extra: &[&str]| -> Value {
        let path = dir.join(file);
        let mut args = vec!["info", path.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = impart(&args);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    // the stack, as ImageJ's metadata names its axes, mapped in place
    let v = info("imagej_u16_zcyx.tif", &[]);
    assert_eq!(v["shape"], serde_json::json!([2, 3, 37, 53, 1]));
    assert_eq!(v["axes"], "ZCYXS");
    assert_eq!(v["pages"], 6);
    assert_eq!(v["mapped"], true);
    assert_eq!(v["zero_copy"], true);
    // a pyramid's levels, and --level opens one
    let v = info("pyramid_u8_rgb_subifds.tif", &[]);
    let shapes: Vec<&Value> = v["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| &l["shape"])
        .collect();
    assert_eq!(
        shapes,
        [
            &serde_json::json!([64, 80, 3]),
            &serde_json::json!([32, 40, 3]),
            &serde_json::json!([16, 20, 3])
        ]
    );
    let v = info("pyramid_u8_rgb_subifds.tif", &["--level", "2"]);
    assert_eq!(v["shape"], serde_json::json!([16, 20, 3]));
    assert_eq!(v["level"], 2);
    let out = impart(&[
        "info",
        dir.join("pyramid_u8_rgb_subifds.tif").to_str().unwrap(),
        "--level",
        "3",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no level 3"));
    // a GeoTIFF's affine, and each cell's world origin in stats
    let v = info("geotiff_u16_scale_tiepoint.tif", &[]);
    assert_eq!(
        v["affine"][0],
        serde_json::json!([0.0, 0.5, 0.0, 99.25]),
        "x = 0.5 col + 99.25"
    );
    assert_eq!(v["georeference"]["raster_type"], "PixelIsArea");
    let out = impart(&[
        "stats",
        dir.join("geotiff_u16_scale_tiepoint.tif").to_str().unwrap(),
        "--cell",
        "16,16",
        "--json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let second: Value = serde_json::from_str(text.lines().nth(1).expect("cell [0, 1]")).unwrap();
    assert_eq!(second["start"], serde_json::json!([0, 16, 0]));
    // column 16: x = 99.25 + 8; row 0: y = 201.5
    assert_eq!(
        second["world_origin"],
        serde_json::json!([107.25, 201.5, 0.0])
    );
}
