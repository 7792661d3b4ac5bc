//! A job split over workers with `--shard K/N` (and `--shard auto` from a
//! Slurm array's or a Kubernetes Indexed Job's variables): the shards of
//! a fragmentation, run at the same time into one directory and merged by
//! `impart merge`, leave the bytes one run leaves, also when a shard is
//! killed and resumed; the per-shard `stats` lines are those of one run,
//! split; what is wrong is refused with a message.

#[path = "common/kill.rs"]
mod kill;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use kill::{ok, spawn_and_kill, Rng};
use serde_json::Value;

/// A 96 x 80 x 72 `u16` raw volume of a position hash.
fn volume(dir: &Path) -> PathBuf {
    let path = dir.join("vol.u16.raw");
    let (nz, ny, nx) = (96usize, 80usize, 72usize);
    let mut bytes = Vec::with_capacity(nz * ny * nx * 2);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let v = ((z * 7919 + y * 104729 + x * 1299709) % 65521) as u16;
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn args(vol: &Path, rest: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        vol.to_str().unwrap(),
        "--shape",
        "96,80,72",
        "--dtype",
        "u16",
        "--cell",
        "24,20,30",
        "--stride",
        "0.5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

fn impart(args: &[String]) -> std::process::Output {
    kill::impart(args)
}

fn fragment_args(vol: &Path, out: &Path, format: &str, extra: &[&str]) -> Vec<String> {
    let mut rest = vec![
        "--out",
        out.to_str().unwrap(),
        "--format",
        format,
        "--quiet",
    ];
    rest.extend_from_slice(extra);
    let mut a = vec!["fragment".to_string()];
    a.extend(args(vol, &rest));
    a
}

/// Every file under `dir` (relative path, bytes).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn shards_run_at_once_and_merged_leave_the_bytes_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    for format in ["npy", "nii", "zarr"] {
        let whole = tmp.path().join(format!("whole-{format}"));
        ok(&impart(&fragment_args(&vol, &whole, format, &[])));
        let reference = tree(&whole);
        for n in [1usize, 2, 3, 5] {
            let out = tmp.path().join(format!("{format}-{n}"));
            // every shard at the same time, into one directory
            let shards: Vec<String> = (0..n).map(|k| format!("{k}/{n}")).collect();
            let children: Vec<Child> = shards
                .iter()
                .map(|s| spawn(&fragment_args(&vol, &out, format, &["--shard", s])))
                .collect();
            for c in children {
                let o = c.wait_with_output().unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            }
            if n > 1 {
                assert!(!out.join("manifest.jsonl").exists());
                let merged = ok(&impart(&[
                    "merge".into(),
                    out.to_str().unwrap().into(),
                    "--json".into(),
                ]));
                let m: Value = serde_json::from_str(merged.trim()).unwrap();
                assert_eq!(m["shards"], n);
                let lines = std::fs::read_to_string(whole.join("manifest.jsonl")).unwrap();
                assert_eq!(m["cells"], lines.lines().count());
            }
            assert!(
                tree(&out) == reference,
                "{format}, {n} shards: the merged directory differs from one run's"
            );
        }
    }
}

#[test]
fn a_killed_shard_resumes_and_the_merge_matches_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let whole = tmp.path().join("whole");
    let t0 = std::time::Instant::now();
    ok(&impart(&fragment_args(&vol, &whole, "nii", &[])));
    let measured = t0.elapsed();
    let reference = tree(&whole);
    let mut rng = Rng(0x5ead);
    let mut interrupted = 0;
    for i in 0..6 {
        let out = tmp.path().join(format!("k{i}"));
        // shards 0 and 2 run through; shard 1 is killed, then resumed
        for k in [0, 2] {
            ok(&impart(&fragment_args(
                &vol,
                &out,
                "nii",
                &["--shard", &format!("{k}/3")],
            )));
        }
        let delay = rng.moment(measured / 3);
        let killed = fragment_args(&vol, &out, "nii", &["--shard", "1/3"]);
        interrupted += usize::from(spawn_and_kill(&killed, delay));
        // the merge refuses while shard 1 has not finished
        if !out.join("manifest.shard-1-of-3.jsonl").exists() {
            let o = impart(&["merge".into(), out.to_str().unwrap().into()]);
            assert!(!o.status.success());
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(e.contains("shard 1 of 3 has not finished"), "{e}");
        }
        ok(&impart(&fragment_args(
            &vol,
            &out,
            "nii",
            &["--shard", "1/3", "--resume"],
        )));
        ok(&impart(&["merge".into(), out.to_str().unwrap().into()]));
        assert!(tree(&out) == reference, "kill #{i} after {delay:?}");
    }
    eprintln!("shard 1/3 killed mid-run in {interrupted} of 6 runs");
}

#[test]
fn shard_stats_are_one_runs_lines_split() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let lines = |extra: &[&str], env: &[(&str, &str)]| -> (Vec<Value>, Value) {
        let mut a = vec!["stats".to_string()];
        a.extend(args(&vol, &[&["--json"], extra].concat()));
        let o = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(&a)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = ok(&o);
        let mut v: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let summary = v.pop().unwrap();
        (v, summary)
    };
    let (all, whole) = lines(&[], &[]);
    let n = 4;
    let mut got = Vec::new();
    let (mut sum, mut count, mut cells) = (0.0, 0, 0);
    let (mut min, mut max) = (f64::MAX, f64::MIN);
    for k in 0..n {
        // a Slurm array task, as sbatch --array=10-16:2 sets it
        let id = (10 + 2 * k).to_string();
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", id.as_str()),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_MAX", "16"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        let (part, summary) = lines(&["--shard", "auto"], &slurm);
        assert_eq!(
            (summary["shard"].as_u64(), summary["shards"].as_u64()),
            (Some(k as u64), Some(n as u64))
        );
        // the same part from a Kubernetes completion index
        let k8s = [
            ("JOB_COMPLETION_INDEX", &*k.to_string()),
            ("IMPART_SHARDS", "4"),
        ];
        let (again, _) = lines(&["--shard", "auto"], &k8s);
        assert_eq!(part, again);
        sum += summary["sum"].as_f64().unwrap();
        count += summary["count"].as_u64().unwrap();
        cells += summary["cells"].as_u64().unwrap();
        min = min.min(summary["min"].as_f64().unwrap());
        max = max.max(summary["max"].as_f64().unwrap());
        got.extend(part);
    }
    // every line of one run, once
    let key = |v: &Value| v["index"].to_string();
    got.sort_by_key(key);
    let mut all_sorted = all.clone();
    all_sorted.sort_by_key(key);
    assert_eq!(got, all_sorted);
    // the summaries combine into one run's
    assert_eq!(sum, whole["sum"].as_f64().unwrap());
    assert_eq!(count, whole["count"].as_u64().unwrap());
    assert_eq!(cells, whole["cells"].as_u64().unwrap());
    assert_eq!(min, whole["min"].as_f64().unwrap());
    assert_eq!(max, whole["max"].as_f64().unwrap());
}

#[test]
fn wrong_shards_are_refused_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let fails = |a: Vec<String>, env: &[(&str, &str)], says: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_impart"))
            .args(&a)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{a:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(says), "{a:?}: {e}");
    };
    let stats = |extra: &[&str]| {
        let mut a = vec!["stats".to_string()];
        a.extend(args(&vol, extra));
        a
    };
    fails(stats(&["--shard", "4/4"]), &[], "below the count");
    fails(stats(&["--shard", "two"]), &[], "K/N");
    fails(stats(&["--shard", "auto"]), &[], "SLURM_ARRAY_TASK_ID");
    fails(
        stats(&["--shard", "auto"]),
        &[("JOB_COMPLETION_INDEX", "1")],
        "IMPART_SHARDS",
    );
    fails(stats(&["--shards", "4"]), &[], "--shard auto");
    // a merge of nothing, and of a directory missing a cell's file
    let out = tmp.path().join("cells");
    std::fs::create_dir(&out).unwrap();
    fails(
        vec!["merge".into(), out.to_str().unwrap().into()],
        &[],
        "nothing to merge",
    );
    for k in 0..2 {
        ok(&impart(&fragment_args(
            &vol,
            &out,
            "npy",
            &["--shard", &format!("{k}/2")],
        )));
    }
    std::fs::remove_file(out.join("cell_0_0_0.npy")).unwrap();
    fails(
        vec!["merge".into(), out.to_str().unwrap().into()],
        &[],
        "cell_0_0_0.npy",
    );
}

fn stitch_args(vol: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut rest = vec![
        "--synthetic",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--chunks",
        "16,16,16",
        "--quiet",
    ];
    rest.extend_from_slice(extra);
    let mut a = vec!["stitch".to_string()];
    a.extend(args(vol, &rest));
    a
}

#[test]
fn a_stitch_split_over_workers_writes_the_bytes_of_one_stitch() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let one = tmp.path().join("one.zarr");
    let single: Value =
        serde_json::from_str(ok(&impart(&stitch_args(&vol, &one, &["--json"]))).trim()).unwrap();
    let cells = single["cells"].as_u64().unwrap();
    let reference = tree(&one);
    for n in [2usize, 3, 4] {
        let out = tmp.path().join(format!("sharded-{n}.zarr"));
        let children: Vec<Child> = (0..n)
            .map(|k| {
                let s = format!("{k}/{n}");
                let mut c = Command::new(env!("CARGO_BIN_EXE_impart"));
                c.args(stitch_args(&vol, &out, &["--shard", &s, "--json"]))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        let mut added = 0;
        let mut foreign = 0;
        for c in children {
            let o = c.wait_with_output().unwrap();
            let text = ok(&o);
            let v: Value = serde_json::from_str(text.trim()).unwrap();
            added += v["cells_added"].as_u64().unwrap();
            foreign += v["foreign_regions"].as_u64().unwrap();
            assert_eq!(v["shards"], n);
        }
        let regions = 6 * 5 * 5; // 96 x 80 x 72 in 16^3 chunks
                                 // each region written by exactly one worker
        assert_eq!(foreign, (n as u64 - 1) * regions);
        let merged = ok(&impart(&["merge".into(), out.to_str().unwrap().into()]));
        assert!(
            merged.contains(&format!("all {n} shards finished")),
            "{merged}"
        );
        assert!(
            tree(&out) == reference,
            "{n} shards: the output differs from one stitch's"
        );
        // cells on the faces between the workers' blocks are computed twice
        assert!(
            added >= cells && added < n as u64 * cells,
            "{added} of {cells}"
        );
        eprintln!(
            "{n} shards: {added} cells computed for {cells} ({:.0} % recomputed)",
            100.0 * (added as f64 / cells as f64 - 1.0)
        );
    }
}

#[test]
fn a_killed_stitch_shard_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let one = tmp.path().join("one.zarr");
    let t0 = std::time::Instant::now();
    ok(&impart(&stitch_args(&vol, &one, &[])));
    let measured = t0.elapsed();
    let reference = tree(&one);
    let mut rng = Rng(0x57c4);
    for i in 0..4 {
        let out = tmp.path().join(format!("k{i}.zarr"));
        ok(&impart(&stitch_args(&vol, &out, &["--shard", "0/2"])));
        let delay = rng.moment(measured / 2);
        spawn_and_kill(&stitch_args(&vol, &out, &["--shard", "1/2"]), delay);
        let done = out.with_file_name(format!(".k{i}.zarr.shard-1-of-2.impart-done"));
        if !done.exists() {
            let o = impart(&["merge".into(), out.to_str().unwrap().into()]);
            assert!(!o.status.success());
            assert!(String::from_utf8_lossy(&o.stderr).contains("shard 1 of 2 has not finished"));
        }
        ok(&impart(&stitch_args(
            &vol,
            &out,
            &["--shard", "1/2", "--resume"],
        )));
        ok(&impart(&["merge".into(), out.to_str().unwrap().into()]));
        assert!(tree(&out) == reference, "kill #{i} after {delay:?}");
        // nothing left beside the array: no journal, no marker
        let beside: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".k{i}.zarr")))
            .collect();
        assert!(beside.is_empty(), "{beside:?}");
    }
}

#[test]
fn a_sharded_stitch_needs_a_local_zarr_output() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let nii = tmp.path().join("out.nii");
    let o = impart(&stitch_args(&vol, &nii, &["--shard", "0/2"]));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(".zarr output"), "{e}");
    // an output holding another array is refused, not overwritten
    let out = tmp.path().join("other.zarr");
    ok(&impart(&stitch_args(&vol, &out, &["--shard", "0/2"])));
    let mut other = stitch_args(&vol, &out, &["--shard", "1/2"]);
    let at = other.iter().position(|a| a == "3").unwrap();
    other[at] = "2".into(); // two channels, not three
    let o = impart(&other);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("holds another array"), "{e}");
}

#[test]
fn a_merge_sees_stale_and_mismatched_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let out = tmp.path().join("cells");
    // shard 1 of another grid (another stride) in the same directory
    ok(&impart(&fragment_args(
        &vol,
        &out,
        "npy",
        &["--shard", "0/2"],
    )));
    let mut other = fragment_args(&vol, &out, "npy", &["--shard", "1/2"]);
    let at = other.iter().position(|a| a == "0.5").unwrap();
    other[at] = "0.75".into();
    ok(&impart(&other));
    let o = impart(&["merge".into(), out.to_str().unwrap().into()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("another grid"), "{e}");
    // a single run into the directory clears the partial manifests: a
    // merge then has nothing to take for its cells
    ok(&impart(&fragment_args(&vol, &out, "npy", &[])));
    let partial: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("manifest.shard-")
        })
        .collect();
    assert!(partial.is_empty());
    let o = impart(&["merge".into(), out.to_str().unwrap().into()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("merged already, or a single run's"));
}

#[test]
fn a_restarted_stitch_shard_is_not_done_until_it_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let vol = volume(tmp.path());
    let out = tmp.path().join("seg.zarr");
    ok(&impart(&stitch_args(&vol, &out, &["--shard", "0/2"])));
    let t0 = std::time::Instant::now();
    ok(&impart(&stitch_args(&vol, &out, &["--shard", "1/2"])));
    let took = t0.elapsed();
    let marker = tmp.path().join(".seg.zarr.shard-1-of-2.impart-done");
    assert!(marker.exists());
    // shard 1 started again (not resumed) and killed halfway: its old
    // marker is gone, so the merge refuses
    let again = stitch_args(&vol, &out, &["--shard", "1/2"]);
    if spawn_and_kill(&again, took / 2) {
        assert!(!marker.exists(), "a killed restart left the old marker");
        let o = impart(&["merge".into(), out.to_str().unwrap().into()]);
        assert!(!o.status.success());
        // and a single-process resume is refused: the shards resume theirs
        let o = impart(&stitch_args(&vol, &out, &["--resume"]));
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("--shard K/N --resume"), "{e}");
    }
}
