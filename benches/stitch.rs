//! The blending core: every 64³ cell of a 192³ grid at stride 0.5 (125
//! cells) with 4 channels of f32 stitched with Gaussian weights, single
//! threaded, into a sink that keeps nothing (so the bench measures the
//! accumulation, the weight sums and the normalization), against a memcpy
//! of the same output bytes (`4 × 192³` f32 copied once) and against the
//! predictions' bytes copied once (what any stitcher must at least read).
//! `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use impart::grid::{Edge, Grid};
use impart::stitch::{Blend, StitchOptions, Stitcher};
use impart::Region;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

const C: usize = 4;
const CELL: usize = 64;

fn bench(c: &mut Criterion) {
    let n = std::env::var("IMPART_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(192usize);
    let grid = Grid::builder(&[n, n, n])
        .cell(&[CELL, CELL, CELL])
        .stride(0.5)
        .edge(Edge::Shift)
        .build()
        .expect("grid");
    let prediction = ArrayD::from_shape_fn(IxDyn(&[C, CELL, CELL, CELL]), |i| {
        (i[0] + i[1] * 3 + i[2] * 5 + i[3] * 7) as f32 / 100.0
    });
    let out_bytes = C * n * n * n * 4;
    let in_bytes = grid.len() * prediction.len() * 4;
    let mut group = c.benchmark_group(format!("stitch_{n}cube_cell{CELL}_stride05_{C}ch"));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(out_bytes as u64));
    for blend in [Blend::gaussian(), Blend::Mean, Blend::Crop] {
        group.bench_function(format!("{}_1_thread", blend.name()), |b| {
            let sink = |_: &Region, v: ArrayViewD<'_, f32>| {
                black_box(v.as_ptr());
                Ok(())
            };
            b.iter(|| {
                let s = Stitcher::<f32>::new(&grid, C, &StitchOptions::new(blend.clone()), &sink)
                    .expect("stitcher");
                for cell in s.plan() {
                    s.add(&cell, prediction.view()).expect("add");
                }
                black_box(s.finish().expect("finish"));
            })
        });
    }
    group.bench_function("memcpy_of_the_output_bytes", |b| {
        let src = vec![1u8; out_bytes];
        let mut dst = vec![0u8; out_bytes];
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    group.bench_function("memcpy_of_the_prediction_bytes", |b| {
        let src = vec![1u8; in_bytes];
        let mut dst = vec![0u8; out_bytes.min(in_bytes)];
        b.iter(|| {
            for chunk in black_box(&src).chunks(dst.len()) {
                dst[..chunk.len()].copy_from_slice(chunk);
            }
            black_box(&dst);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
