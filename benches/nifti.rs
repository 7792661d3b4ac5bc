//! NIfTI: every 64³ cell of a 512³ u16 `.nii` (the raw path at
//! `vox_offset`) against memcpy of the same bytes; and a 512³ `.nii.gz`:
//! time to the first cell when the cache must be built, and when it is warm,
//! and every cell through the warm cache.
//!
//! Files are written once to the system temp dir (256 MiB + the gzip).
//! `IMPART_BENCH_N` overrides the edge length.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use impart::{NiftiOptions, NiftiVolume, Partition, Volume};

mod common;

/// A minimal little-endian NIfTI-1 header for an n³ u16 volume at 352.
fn header(n: usize) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dims: [i16; 8] = [3, n as i16, n as i16, n as i16, 1, 1, 1, 1];
    for (k, d) in dims.iter().enumerate() {
        h[40 + 2 * k..42 + 2 * k].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&512i16.to_le_bytes()); // datatype u16
    h[72..74].copy_from_slice(&16i16.to_le_bytes()); // bitpix
    for k in 0..8 {
        h[76 + 4 * k..80 + 4 * k].copy_from_slice(&1f32.to_le_bytes()); // pixdim
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes()); // vox_offset
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

fn write_volume(path: &Path, n: usize, gz: bool) {
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).expect("create");
    let mut out: Box<dyn Write> = if gz {
        Box::new(flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    out.write_all(&header(n)).expect("write");
    let row: Vec<u8> = (0..n)
        .flat_map(|x| ((x * 7) as u16).to_le_bytes())
        .collect();
    for z in 0..n * n {
        let mut r = row.clone();
        r[0] = z as u8;
        out.write_all(&r).expect("write");
    }
    drop(out);
    std::fs::rename(&tmp, path).expect("rename");
}

fn file(n: usize, gz: bool) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "impart-bench-{n}-u16.nii{}",
        if gz { ".gz" } else { "" }
    ));
    if !path.exists() {
        write_volume(&path, n, gz);
    }
    path
}

/// Every cell of `volume` at stride 1.0 and 0.5, next to memcpy.
fn walk_all(c: &mut Criterion, volume: &NiftiVolume, label: &str) {
    let n = volume.shape()[0];
    let bytes = volume.layout().expect("mapped").bytes();
    let pools = common::pools();
    for stride in [1.0, 0.5] {
        let name = format!("{label}_{n}cube_u16_cell64_stride{stride:.1}");
        let (part, total, mut group) = common::cells_group(c, name, volume, &[64, 64, 64], stride);
        let cell_bytes = 64 * 64 * 64 * 2;
        common::memcpy(&mut group, bytes, total, cell_bytes);
        for (name, pool) in &pools {
            common::walk(&mut group, &part, name, pool);
        }
        group.finish();
    }
}

fn bench_nifti(c: &mut Criterion) {
    let n = common::bench_n();
    let volume = NiftiVolume::open(file(n, false)).expect("open");
    walk_all(c, &volume, "nifti");

    let gz = file(n, true);
    let cache = std::env::temp_dir().join("impart-bench-cache");
    let mut group = c.benchmark_group(format!("nifti_gz_{n}cube_u16"));
    group.sample_size(10);
    group.throughput(Throughput::Bytes((n * n * n * 2) as u64));
    let first_cell = |v: NiftiVolume| {
        let part = Partition::builder(v)
            .cell(&[64, 64, 64])
            .build()
            .expect("partition");
        black_box(
            part.cell(&[0, 0, 0])
                .expect("cell")
                .to_array::<u16>()
                .expect("read"),
        );
    };
    group.bench_function("first_cell_cold_cache", |b| {
        b.iter(|| {
            let _ = std::fs::remove_dir_all(&cache);
            first_cell(
                NiftiOptions::new()
                    .cache_dir(&cache)
                    .open(&gz)
                    .expect("open"),
            );
        })
    });
    group.bench_function("first_cell_warm_cache", |b| {
        b.iter(|| {
            first_cell(
                NiftiOptions::new()
                    .cache_dir(&cache)
                    .open(&gz)
                    .expect("open"),
            )
        })
    });
    group.finish();

    // every cell through the warm cache: the same mapped path as a .nii
    let volume = NiftiOptions::new()
        .cache_dir(&cache)
        .open(&gz)
        .expect("open");
    assert!(volume.is_cached());
    walk_all(c, &volume, "nifti_gz_warm");
}

criterion_group!(benches, bench_nifti);
criterion_main!(benches);
