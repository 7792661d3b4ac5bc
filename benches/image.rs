//! 2D images: every 256² cell (all three channels) of an 8192x8192 RGB u8
//! PNG, stride 1.0 and 0.5, against memcpy of the same bytes from the
//! decoded image; and decoding the PNG itself (the cost of opening).
//!
//! The PNG is written once to the system temp dir. `IMPART_BENCH_IMAGE`
//! overrides the edge length.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use impart::{ImageVolume, Volume};

mod common;

fn edge() -> usize {
    std::env::var("IMPART_BENCH_IMAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8192)
}

/// A smooth RGB picture with a little texture, so PNG's filters and
/// deflate work as on a photograph or a slide scan rather than on noise.
fn png_path(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("impart-bench-{n}-rgb.png"));
    if path.exists() {
        return path;
    }
    let img = image::RgbImage::from_fn(n as u32, n as u32, |x, y| {
        let (xf, yf) = (x as f64, y as f64);
        let r = 128.0 + 100.0 * (xf / 300.0).sin() * (yf / 470.0).cos();
        let g = 128.0 + 90.0 * ((xf + yf) / 650.0).sin();
        let b = 96.0 + 60.0 * (yf / 210.0).cos() + ((x ^ y) & 15) as f64;
        image::Rgb([r as u8, g as u8, b as u8])
    });
    let tmp = path.with_extension(format!("{}.png", std::process::id()));
    img.save(&tmp).expect("write bench PNG");
    std::fs::rename(&tmp, &path).expect("rename bench PNG");
    path
}

fn bench_image(c: &mut Criterion) {
    let n = edge();
    let path = png_path(n);
    let mut group = c.benchmark_group(format!("png_{n}_rgb_u8_open"));
    group.throughput(Throughput::Bytes((n * n * 3) as u64));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        b.iter(|| ImageVolume::open(&path).expect("decode"))
    });
    group.finish();

    let volume = ImageVolume::open(&path).expect("decode");
    let bytes = volume.layout().expect("in memory").bytes();
    let pools = common::pools();
    for stride in [1.0, 0.5] {
        let name = format!("png_{n}_rgb_u8_cell256_stride{stride:.1}");
        let (part, total, mut group) = common::cells_group(c, name, &volume, &[256, 256], stride);
        common::memcpy(&mut group, bytes, total, 256 * 256 * 3);
        for (name, pool) in &pools {
            common::walk_as::<u8, _>(&mut group, &part, name, pool);
        }
        group.finish();
    }
}

criterion_group!(benches, bench_image);
criterion_main!(benches);
