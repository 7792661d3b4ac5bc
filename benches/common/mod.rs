//! Pieces shared by the benches: the memcpy baseline and the parallel walk.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use impart::{Element, Partition, Volume};
use rayon::ThreadPool;

/// One- and two-thread pools, named for the benchmark ids.
#[allow(dead_code)]
pub fn pools() -> [(&'static str, ThreadPool); 2] {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("pool")
    };
    [("1thread", pool(1)), ("2threads", pool(2))]
}

/// `volume` partitioned into `cell`s at `stride`, the bytes all its cells
/// deliver, and a benchmark group `name` (10 samples) whose throughput is
/// those bytes.
#[allow(dead_code)]
pub fn cells_group<'c, V: Volume>(
    c: &'c mut Criterion,
    name: String,
    volume: V,
    cell: &[usize],
    stride: f64,
) -> (Partition<V>, usize, BenchmarkGroup<'c, WallTime>) {
    let part = Partition::builder(volume)
        .cell(cell)
        .stride(stride)
        .build()
        .expect("partition");
    let total: usize = part.cells("...").expect("cells").map(|c| c.nbytes()).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    (part, total, group)
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

/// Materializes every cell as u16 with `par_for_each_cell` in `pool`.
#[allow(dead_code)]
pub fn walk<V: Volume>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    part: &Partition<V>,
    name: &str,
    pool: &ThreadPool,
) {
    walk_as::<u16, V>(group, part, name, pool)
}

/// Materializes every cell as `T` with `par_for_each_cell` in `pool`.
#[allow(dead_code)]
pub fn walk_as<T: Element, V: Volume>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    part: &Partition<V>,
    name: &str,
    pool: &ThreadPool,
) {
    group.bench_function(BenchmarkId::new("impart_par", name), |b| {
        b.iter(|| {
            pool.install(|| {
                part.par_for_each_cell::<T, _>("...", |_, v| {
                    black_box(v);
                })
                .expect("walk")
            })
        })
    });
}

/// The same number of bytes as `total`, memcpy'd from a fresh in-memory
/// buffer of `source_bytes` (for backends without a mapping to copy from).
#[allow(dead_code)]
pub fn memcpy_from_memory(
    group: &mut BenchmarkGroup<'_, WallTime>,
    source_bytes: usize,
    total: usize,
    cell_bytes: usize,
) {
    let source: Vec<u8> = (0..source_bytes).map(|i| ((i * 31) >> 3) as u8).collect();
    memcpy(group, &source, total, cell_bytes);
}

/// The volume's edge length: `IMPART_BENCH_N`, or 512.
#[allow(dead_code)]
pub fn bench_n() -> usize {
    std::env::var("IMPART_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// An n³ u16 raw volume in the temp dir (C order, little-endian), written
/// once and reused.
#[allow(dead_code)]
pub fn raw_volume(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("impart-bench-{n}-u16.raw"));
    let want = (n * n * n * 2) as u64;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(want) {
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
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
