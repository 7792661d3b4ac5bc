//! Quickstart: write a small raw volume, partition it with overlap, view a
//! cell without copying, materialize cells (cast to f32, into a batch), and
//! walk every cell in parallel.
//!
//! Run with `cargo run --example quickstart`.

use impart::{DType, Edge, Partition, RawOptions};
use ndarray::{s, Array, Axis};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A 96 x 80 x 70 u16 volume, C order, written as a raw file.
    let shape = [96usize, 80, 70];
    let data = Array::from_shape_fn(shape, |(z, y, x)| (z * 7 + y * 3 + x) as u16);
    let dir = std::env::temp_dir().join("impart-quickstart");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("volume.u16.raw");
    std::fs::write(
        &path,
        bytemuck::cast_slice::<u16, u8>(data.as_slice().ok_or("not contiguous")?),
    )?;

    // Open it memory-mapped (nothing is read yet) and lay a grid of
    // 32^3 cells with 50 % overlap over it.
    let volume = RawOptions::new(&shape, DType::U16).open(&path)?;
    let part = Partition::builder(&volume)
        .cell(&[32, 32, 32])
        .stride(0.5)
        .build()?;
    println!(
        "grid shape {:?}, step {:?}, {} cells",
        part.grid().shape(),
        part.grid().step(),
        part.len()
    );

    // Select like NumPy; a selection is lazy until asked for voxels.
    let cell = part.select(s![1, 2, -1])?;
    println!(
        "cell [1, 2, -1]: start {:?}, shape {:?}",
        cell.region().start(),
        cell.region().shape()
    );

    // Zero copy: a strided view straight into the mapping.
    let view = cell.view::<u16>()?;
    // (the last cell on the x axis is clipped: 48..70)
    assert_eq!(view, data.slice(s![16..48, 32..64, 48..70]).into_dyn());

    // Materialize with a cast, e.g. for a network that wants f32.
    let as_f32 = cell.to_array_as::<f32>()?;
    println!("cell mean as f32: {:.2}", as_f32.mean().unwrap_or(f32::NAN));

    // Fill a preallocated batch (B, 32, 32, 32) without allocating per cell.
    // A network wants full-size cells: shift the border cells inward.
    let shifted = Partition::builder(&volume)
        .cell(&[32, 32, 32])
        .stride(0.5)
        .edge(Edge::Shift)
        .build()?;
    let mut batch = Array::<f32, _>::zeros((4, 32, 32, 32));
    for (slot, cell) in shifted.cells(s![0, 0, ..])?.enumerate() {
        cell.read_into(batch.index_axis_mut(Axis(0), slot))?;
    }
    println!("batch sum: {}", batch.sum());

    // Walk every cell in parallel, each worker reusing one buffer.
    let means = part.par_map_cells::<u16, _, _>("...", |_, v| {
        v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
    })?;
    println!(
        "{} cell means, first {:.2}, last {:.2}",
        means.len(),
        means[0],
        means[means.len() - 1]
    );
    Ok(())
}
