//! Pieces shared by the benches: the memcpy baseline and the parallel walk.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use impart::{Partition, Volume};
use rayon::ThreadPool;

/// One- and two-thread pools, named for the benchmark ids.
pub fn pools() -> [(&'static str, ThreadPool); 2] {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("pool")
    };
    [("1thread", pool(1)), ("2threads", pool(2))]
}

/// The baseline: `total` bytes memcpy'd cell-sized piece by piece from
/// `bytes` (wrapping around) into one reused buffer of `cell_bytes`.
#[allow(dead_code)]
pub fn memcpy(
    group: &mut BenchmarkGroup<'_, WallTime>,
    bytes: &[u8],
    total: usize,
    cell_bytes: usize,
) {
    group.bench_function("memcpy", |b| {
        let mut dst = vec![0u8; cell_bytes];
        b.iter(|| {
            let (mut off, mut left) = (0usize, total);
            while left > 0 {
                let k = left.min(cell_bytes);
                if off + k > bytes.len() {
                    off = 0;
                }
                dst[..k].copy_from_slice(&bytes[off..off + k]);
                black_box(&dst);
                off += k;
                left -= k;
            }
        })
    });
}

/// Materializes every cell with `par_for_each_cell` in `pool`.
pub fn walk<V: Volume>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    part: &Partition<V>,
    name: &str,
    pool: &ThreadPool,
) {
    group.bench_function(BenchmarkId::new("impart_par", name), |b| {
        b.iter(|| {
            pool.install(|| {
                part.par_for_each_cell::<u16, _>("...", |_, v| {
                    black_box(v);
                })
                .expect("walk")
            })
        })
    });
}
