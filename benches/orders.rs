//! Batch fills across memory orders: every 64³ cell of a 256³ u16 volume
//! (C or F order, in memory) read into the slots of a batch of 16 (slot
//! after slot, as a loader fills it; 16 MiB of f32, more than a core's
//! cache) of the same order or of the other order, as the stored type and
//! cast to f32 (a network's batch). The other order goes through the copy engine's tiled transpose;
//! the same order is the run-by-run copy it is measured against.
//! `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use impart::{ArrayVolume, Element, Partition, Volume};
use ndarray::{Array3, ShapeBuilder};

mod common;

/// Slots per batch.
const B: usize = 16;

fn fill<T: Element, V: Volume>(part: &Partition<V>, batch: &mut [Array3<T>]) {
    for (k, cell) in part.cells("...").expect("cells").enumerate() {
        let slot = &mut batch[k % B];
        cell.read_into(slot.view_mut()).expect("read_into");
        black_box(&slot);
    }
}

fn bench(c: &mut Criterion) {
    let n = std::env::var("IMPART_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256usize);
    let values = |(z, y, x): (usize, usize, usize)| (z * 7 + y * 3 + x) as u16;
    let c_data = Array3::<u16>::from_shape_fn((n, n, n), values);
    let f_data = Array3::<u16>::from_shape_fn((n, n, n).f(), values);
    for (vol_order, data) in [("F", &f_data), ("C", &c_data)] {
        let name = format!("batch_fill_{n}cube_u16_{vol_order}order_cell64");
        let volume = ArrayVolume::new(data.view()).expect("volume");
        let (part, _total, mut group) = common::cells_group(c, name, volume, &[64, 64, 64], 1.0);
        for slot_order in ["C", "F"] {
            let kind = if slot_order == vol_order {
                "same"
            } else {
                "other"
            };
            let shape = |f: bool| {
                if f {
                    (64, 64, 64).f()
                } else {
                    (64, 64, 64).set_f(false)
                }
            };
            group.bench_function(format!("u16_into_{slot_order}_slot_{kind}_order"), |b| {
                let mut batch: Vec<_> = (0..B)
                    .map(|_| Array3::<u16>::zeros(shape(slot_order == "F")))
                    .collect();
                b.iter(|| fill(&part, &mut batch))
            });
            group.bench_function(format!("f32_into_{slot_order}_slot_{kind}_order"), |b| {
                let mut batch: Vec<_> = (0..B)
                    .map(|_| Array3::<f32>::zeros(shape(slot_order == "F")))
                    .collect();
                b.iter(|| fill(&part, &mut batch))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
