//! `impart demo`: a Shepp-Logan phantom written as a raw file, partitioned,
//! with its grid and a few cell statistics, and commands to try next.

use std::path::Path;

use impart::{DType, Error, Partition, RawOptions, Result};

use super::grid::print_grid;
use super::phantom::shepp_logan;
use super::stats::compute_stats;
use super::text::{human_bytes, join};

/// Writes a `size`³ phantom to `dir` (default: the system temp dir) and
/// shows its grid of `cell`³ cells at `stride` and a few cells' statistics.
pub fn run(size: usize, dir: Option<&Path>, cell: usize, stride: f64) -> Result<()> {
    if !(1..=1024).contains(&size) || cell == 0 {
        return Err(Error::InvalidArgument {
            what: "demo",
            detail: "--size must be in 1..=1024 and --cell at least 1".into(),
        });
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("shepp_logan_{size}.u16.raw"));
    println!("Making a {size}^3 Shepp-Logan phantom (u16, C order, axes z, y, x) ...");
    let voxels = shepp_logan(size);
    let tmp = path.with_extension("raw.tmp");
    std::fs::write(&tmp, bytemuck::cast_slice::<u16, u8>(&voxels))
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    println!(
        "Wrote {} ({})",
        path.display(),
        human_bytes((voxels.len() * 2) as u64)
    );
    println!();
    let volume = RawOptions::new(&[size, size, size], DType::U16).open(&path)?;
    let part = Partition::builder(volume)
        .cell(&[cell, cell, cell])
        .stride(stride)
        .build()?;
    print_grid(&part);
    println!();
    let rows = compute_stats(&part, "...", impart::Shard::whole(), false)?;
    let mid = part
        .grid()
        .shape()
        .iter()
        .map(|n| n / 2)
        .collect::<Vec<_>>();
    println!("A few cells (the first, the centre, the last):");
    println!(
        "{:<12} {:<16} {:<12} {:>8} {:>8} {:>10}",
        "index", "start", "shape", "min", "max", "mean"
    );
    for r in rows.iter().filter(|r| {
        r.index.iter().all(|&i| i == 0)
            || r.index == mid
            || Some(&r.index) == rows.last().map(|l| &l.index)
    }) {
        println!(
            "{:<12} {:<16} {:<12} {:>8} {:>8} {:>10.2}",
            join(&r.index, ","),
            join(&r.start, ","),
            join(&r.shape, "x"),
            r.stats.min,
            r.stats.max,
            r.stats.mean()
        );
    }
    let brightest = rows
        .iter()
        .max_by(|a, b| a.stats.mean().total_cmp(&b.stats.mean()));
    if let Some(b) = brightest {
        println!(
            "Brightest cell on average: {} (mean {:.2})",
            join(&b.index, ","),
            b.stats.mean()
        );
    }
    let shape = format!("{size},{size},{size}");
    let p = path.display();
    println!();
    println!("Try next:");
    println!("  impart info {p} --shape {shape} --dtype u16");
    println!("  impart region {p} --shape {shape} --dtype u16 --cell {cell},{cell},{cell} --stride {stride} --select ':2,1,-1'");
    println!("  impart stats {p} --shape {shape} --dtype u16 --cell {cell},{cell},{cell} --stride {stride} --json");
    Ok(())
}
