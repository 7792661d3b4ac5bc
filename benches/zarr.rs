//! Zarr: every cell of a 512³ u16 array in 64³ chunks, zstd (zarr-python's
//! default codec) and uncompressed, stride 1.0 and 0.5, against decoding
//! every chunk once (the floor) and against memcpy of the same bytes. The
//! arrays are written once to the system temp dir with zarrs.
//! `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use impart::ZarrVolume;
use rayon::prelude::*;
use zarrs::array::codec::bytes_to_bytes::zstd::ZstdCodec;
use zarrs::array::{data_type, ArrayBuilder, ArrayBytes, ArraySubset};
use zarrs::filesystem::FilesystemStore;

mod common;

fn array_path(n: usize, zstd: bool) -> PathBuf {
    let codec = if zstd { "zstd" } else { "raw" };
    let path = std::env::temp_dir().join(format!("impart-bench-{n}-u16-{codec}-v3.zarr"));
    if path.join("zarr.json").exists() {
        return path;
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let store = Arc::new(FilesystemStore::new(&tmp).expect("store"));
    let shape = vec![n as u64; 3];
    let mut builder = ArrayBuilder::new(shape, [64u64, 64, 64], data_type::uint16(), 0u16);
    if zstd {
        builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(0, false))]);
    }
    let array = builder.build(store, "/").expect("array");
    array.store_metadata().expect("metadata");
    // CT-like values: a smooth field plus 6 bits of noise, so zstd works
    // as hard as on real scans (about 1.6x here), not on a constant
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for z in 0..n as u64 {
        let plane: Vec<u16> = (0..n * n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let (y, x) = ((i / n) as f64, (i % n) as f64);
                let smooth = 1000.0
                    + 400.0 * ((x / 37.0).sin() + (y / 53.0).cos() + (z as f64 / 41.0).sin());
                smooth as u16 + (state & 63) as u16
            })
            .collect();
        let subset = ArraySubset::new_with_ranges(&[z..z + 1, 0..n as u64, 0..n as u64]);
        array
            .store_array_subset(&subset, plane.as_slice())
            .expect("store");
    }
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

fn bench_zarr(c: &mut Criterion) {
    for zstd in [true, false] {
        bench_codec(c, zstd);
    }
}

fn bench_codec(c: &mut Criterion, zstd: bool) {
    let n = common::bench_n();
    let path = array_path(n, zstd);
    let codec = if zstd { "zstd" } else { "raw" };
    let volume = ZarrVolume::open(&path).expect("open");
    let chunks: Vec<Vec<u64>> = {
        let g = (n as u64).div_ceil(64);
        (0..g)
            .flat_map(|z| (0..g).flat_map(move |y| (0..g).map(move |x| vec![z, y, x])))
            .collect()
    };
    let pools = common::pools();
    for stride in [1.0, 0.5] {
        let name = format!("zarr_{codec}_{n}cube_u16_cell64_stride{stride:.1}");
        let (part, total, mut group) = common::cells_group(c, name, &volume, &[64, 64, 64], stride);
        common::memcpy_from_memory(&mut group, n * n * n * 2, total, 64 * 64 * 64 * 2);
        for (name, pool) in &pools {
            group.bench_function(BenchmarkId::new("decode_every_chunk_once", name), |b| {
                b.iter(|| {
                    pool.install(|| {
                        chunks.par_iter().for_each(|idx| {
                            let bytes: ArrayBytes<'static> =
                                volume.array().retrieve_chunk(idx).expect("chunk");
                            black_box(bytes);
                        })
                    })
                })
            });
            common::walk(&mut group, &part, name, pool);
        }
        volume.reset_decoded_chunks();
        part.par_for_each_cell::<u16, _>("...", |_, v| {
            black_box(v);
        })
        .expect("par");
        eprintln!(
            "{codec} stride {stride}: {} cells, {} chunk decodes per pass ({} chunks)",
            part.len(),
            volume.decoded_chunks(),
            chunks.len()
        );
        group.finish();
    }
}

criterion_group!(benches, bench_zarr);
criterion_main!(benches);
