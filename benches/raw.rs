//! Materialize every cell of a 512³ u16 raw volume (64³ cells, stride 1.0
//! and 0.5) against a memcpy of the same bytes from the same mapping.
//!
//! The volume is written once to the system temp dir (256 MiB) and read
//! through the page cache. `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use impart::{DType, RawOptions, Volume};

mod common;

fn bench_raw(c: &mut Criterion) {
    let n = common::bench_n();
    let path = common::raw_volume(n);
    let volume = RawOptions::new(&[n, n, n], DType::U16)
        .open(&path)
        .expect("open");
    let bytes = volume.layout().expect("mapped").bytes();
    let pools = common::pools();

    for stride in [1.0, 0.5] {
        let name = format!("raw_{n}cube_u16_cell64_stride{stride:.1}");
        let (part, total, mut group) = common::cells_group(c, name, &volume, &[64, 64, 64], stride);
        let cell_bytes = 64 * 64 * 64 * 2;

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
