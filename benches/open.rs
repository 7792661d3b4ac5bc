//! Lazy open: a 100 GiB sparse raw file is opened (length check, mapping)
//! and a 64³ grid built over it without touching its data, in the same time
//! as a 1 GiB one. The resident memory each open adds is printed.
//!
//! The sparse files take no disk space; they are made in the system temp
//! dir and removed at the end.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use impart::{DType, Partition, RawOptions};

/// Resident memory of this process in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A sparse file of `gib` GiB: u16 voxels, 2048 x 2048 x (gib * 128).
fn sparse(gib: u64) -> (PathBuf, [usize; 3]) {
    let path = std::env::temp_dir().join(format!("impart-bench-sparse-{gib}GiB.raw"));
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(gib << 30).expect("set_len");
    (path, [gib as usize * 128, 2048, 2048])
}

fn open_and_grid(path: &PathBuf, shape: &[usize; 3]) -> usize {
    let volume = RawOptions::new(shape, DType::U16).open(path).expect("open");
    let part = Partition::builder(volume)
        .cell(&[64, 64, 64])
        .build()
        .expect("grid");
    part.len()
}

fn bench_open(c: &mut Criterion) {
    let mut group = c.benchmark_group("lazy_open_raw_u16_cell64");
    let mut files = Vec::new();
    for gib in [1u64, 100] {
        let (path, shape) = sparse(gib);
        let before = rss_kib();
        let kept: Vec<_> = (0..16)
            .map(|_| {
                RawOptions::new(&shape, DType::U16)
                    .open(&path)
                    .expect("open")
            })
            .collect();
        eprintln!(
            "{gib} GiB sparse file {shape:?}: {} cells of 64³; 16 open volumes add {} KiB resident",
            open_and_grid(&path, &shape),
            rss_kib().saturating_sub(before)
        );
        drop(kept);
        group.bench_function(
            BenchmarkId::new("open_and_grid", format!("{gib}GiB")),
            |b| b.iter(|| black_box(open_and_grid(&path, &shape))),
        );
        files.push(path);
    }
    group.finish();
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

criterion_group!(benches, bench_open);
criterion_main!(benches);
