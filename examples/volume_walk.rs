//! Open a NIfTI file or a Zarr array, partition it with overlap, and print
//! per-cell statistics and world origins.
//!
//! `cargo run --example volume_walk [PATH] [CELL]` (default: a NIfTI file
//! from the test fixtures: gzipped, big-endian, scaled, 4D; cells of 2).

use impart::{NiftiVolume, Partition, Volume, ZarrVolume};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nifti/gz_i16_4d_scaled_be.nii.gz"
        )
        .into()
    });
    let cell: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(2);

    let volume: Box<dyn Volume> = if std::path::Path::new(&path).is_dir() {
        Box::new(ZarrVolume::open(&path)?)
    } else {
        Box::new(NiftiVolume::open(&path)?)
    };
    println!(
        "{path}: {:?} {} ({})",
        volume.shape(),
        volume.dtype(),
        volume.kind()
    );
    let k = volume.shape().len().min(3);
    let part = Partition::builder(volume)
        .cell(&vec![cell; k])
        .stride(0.5)
        .build()?;
    println!("grid {:?}, {} cells", part.grid().shape(), part.len());

    // every cell in parallel, materialized (scaled where the file says so)
    let rows = part.par_map_cells::<f64, _, _>("...", |c, v| {
        let (min, max) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (c.index(), c.world_origin(), min, max, mean)
    })?;
    let scaling = part.volume().scaling();
    for (index, world, min, max, mean) in rows.iter().take(12) {
        let (min, max, mean) = match scaling {
            Some((s, i)) => (min * s + i, max * s + i, mean * s + i),
            None => (*min, *max, *mean),
        };
        let world = world.map(|w| format!("({:.1}, {:.1}, {:.1}) mm", w[0], w[1], w[2]));
        println!(
            "{index:?} at {}: min {min:.2} max {max:.2} mean {mean:.2}",
            world.unwrap_or_else(|| "-".into())
        );
    }
    if rows.len() > 12 {
        println!("... {} more cells", rows.len() - 12);
    }
    Ok(())
}
