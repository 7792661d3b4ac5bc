//! Materialize every cell of a 512³ u16 raw volume (64³ cells, stride 1.0
//! and 0.5) against a memcpy of the same bytes from the same mapping.
//!
//! The volume is written once to the system temp dir (256 MiB) and read
//! through the page cache. `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use impart::{DType, Partition, RawOptions, Volume};

mod common;

fn volume_path(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("impart-bench-{n}-u16.raw"));
    let want = (n * n * n * 2) as u64;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(want) {
        let tmp = path.with_extension("tmp");
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create bench volume"));
        let row: Vec<u8> = (0..n)
            .flat_map(|x| ((x * 7) as u16).to_le_bytes())
            .collect();
        for _ in 0..n * n {
            f.write_all(&row).expect("write bench volume");
        }
        f.into_inner().expect("flush").sync_all().ok();
        std::fs::rename(&tmp, &path).expect("rename bench volume");
    }
    path
}

fn bench_raw(c: &mut Criterion) {
    let n: usize = std::env::var("IMPART_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let path = volume_path(n);
    let volume = RawOptions::new(&[n, n, n], DType::U16)
        .open(&path)
        .expect("open");
    let bytes = volume.layout().expect("mapped").bytes();
    let pools = common::pools();

    for stride in [1.0, 0.5] {
        let part = Partition::builder(&volume)
            .cell(&[64, 64, 64])
            .stride(stride)
            .build()
            .expect("partition");
        let total: usize = part.cells("...").expect("cells").map(|c| c.nbytes()).sum();
        let cell_bytes = 64 * 64 * 64 * 2;
        let mut group = c.benchmark_group(format!("raw_{n}cube_u16_cell64_stride{stride:.1}"));
        group.throughput(Throughput::Bytes(total as u64));
        group.sample_size(10);

        // Baseline: the same number of bytes from the same mapping.
        common::memcpy(&mut group, bytes, total, cell_bytes);

        // One thread, one reused buffer (the batch-filling pattern).
        group.bench_function(BenchmarkId::new("impart_read_into", "1thread"), |b| {
            let mut buf: Vec<u16> = Vec::new();
            b.iter(|| {
                for cell in part.cells("...").expect("cells") {
                    let v = cell.read_into_vec(&mut buf).expect("read");
                    black_box(v);
                }
            })
        });

        // One thread, a fresh owned array per cell.
        group.bench_function(BenchmarkId::new("impart_to_array", "1thread"), |b| {
            b.iter(|| {
                for cell in part.cells("...").expect("cells") {
                    black_box(cell.to_array::<u16>().expect("read"));
                }
            })
        });

        for (name, pool) in &pools {
            common::walk(&mut group, &part, name, pool);
        }
        group.finish();
    }
}

criterion_group!(benches, bench_raw);
criterion_main!(benches);
