//! Fragment a 512³ u16 raw volume (64³ cells, stride 1.0, npy) against
//! copying the same bytes with `cp`, in one group.
//!
//! The volume (256 MiB) is the one `benches/raw.rs` writes to the system
//! temp dir; it is read through the page cache. Both sides write into the
//! temp dir: `cp` one 256 MiB file (GNU cp copies in the kernel with
//! `copy_file_range`), the fragmentation 512 files of 512 KiB (plus npy
//! headers and the manifest) through temporary names and renames, from a
//! memory-mapped source. Neither flushes to disk (`sync(false)`; `cp` does
//! not either).
//!
//! Every iteration starts from the same state, untimed: the previous
//! output removed and a `sync`, so neither side pays for the kernel's
//! writeback of earlier iterations or for freeing the files it replaces
//! (replacing 512 files costs the fragmentation about 80 ms more than
//! truncating one costs `cp`). `IMPART_BENCH_N` overrides the edge length,
//! `IMPART_BENCH_OUT` the directory both sides write into (default: the
//! temp dir; `/dev/shm` takes the file system out of the comparison).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use impart::fragment::{Format, FragmentOptions};
use impart::{DType, Partition, RawOptions};

mod common;

fn cp(src: &Path, dst: &Path) {
    let status = Command::new("cp")
        .arg(src)
        .arg(dst)
        .status()
        .expect("run cp");
    assert!(status.success(), "cp failed: {status}");
}

/// Times `iters` runs of `f`, each after removing `output` and a `sync`,
/// which are not timed.
fn settled(iters: u64, output: &Path, mut f: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if output.is_dir() {
            std::fs::remove_dir_all(output).expect("remove the previous output");
        } else if output.exists() {
            std::fs::remove_file(output).expect("remove the previous output");
        }
        let status = Command::new("sync").status().expect("run sync");
        assert!(status.success(), "sync failed: {status}");
        let t0 = Instant::now();
        f();
        total += t0.elapsed();
    }
    total
}

fn bench_fragment(c: &mut Criterion) {
    let n = common::bench_n();
    let path = common::raw_volume(n);
    let volume = RawOptions::new(&[n, n, n], DType::U16)
        .open(&path)
        .expect("open");
    let part = Partition::builder(&volume)
        .cell(&[64, 64, 64])
        .build()
        .expect("partition");
    let total = (n * n * n * 2) as u64;
    let tmp = std::env::var_os("IMPART_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let cp_dst = tmp.join(format!("impart-bench-fragment-cp-{n}.raw"));
    let out = tmp.join(format!("impart-bench-fragment-{n}-npy"));

    let mut group = c.benchmark_group(format!("fragment_{n}cube_u16_cell64_npy"));
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    // Baseline: the same bytes, one file, by cp.
    group.bench_function("cp", |b| {
        b.iter_custom(|iters| settled(iters, &cp_dst, || cp(&path, &cp_dst)))
    });

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1];
    if threads > 1 {
        counts.push(threads);
    }
    for t in counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("pool");
        group.bench_function(
            BenchmarkId::new("impart_fragment", format!("{t}threads")),
            |b| {
                b.iter_custom(|iters| {
                    settled(iters, &out, || {
                        pool.install(|| {
                            FragmentOptions::new(&out)
                                .format(Format::Npy)
                                .fragment(&part, "...")
                                .expect("fragment")
                        });
                    })
                })
            },
        );
    }
    group.finish();
    let _ = std::fs::remove_file(&cp_dst);
    let _ = std::fs::remove_dir_all(&out);
}

criterion_group!(benches, bench_fragment);
criterion_main!(benches);
