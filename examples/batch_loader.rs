//! A training/inference-style loader: fill a preallocated batch
//! `(B, 32, 32, 32)` of f32 from cells in parallel, without allocating per
//! cell — the pattern a deep-learning pipeline uses.
//!
//! `cargo run --release --example batch_loader`

use impart::{ArrayVolume, Edge, Partition};
use ndarray::{Array3, Array4, Axis};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // any volume works; a made-up 100^3 u16 scan keeps the example self-contained
    let scan = Array3::<u16>::from_shape_fn((100, 100, 100), |(z, y, x)| {
        ((z * 31 + y * 17 + x * 7) % 4096) as u16
    });
    let volume = ArrayVolume::new(scan.view())?;
    // shifted border cells are full size, as a network expects
    let part = Partition::builder(volume)
        .cell(&[32, 32, 32])
        .stride(0.5)
        .edge(Edge::Shift)
        .build()?;
    let cells: Vec<_> = part.cells("...")?.collect();
    println!("{} cells of 32^3", cells.len());

    const B: usize = 16;
    let mut batch = Array4::<f32>::zeros((B, 32, 32, 32)); // allocated once
    let mut batches = 0;
    for chunk in cells.chunks(B) {
        // each slot is filled in place from its cell, in parallel; u16 -> f32 on the way
        let slots: Vec<_> = batch.axis_iter_mut(Axis(0)).collect();
        slots
            .into_par_iter()
            .zip(chunk.par_iter())
            .try_for_each(|(slot, cell)| cell.read_into(slot))?;
        // ... a model would consume batch.slice(s![..chunk.len(), ..]) here ...
        let mean = batch.iter().take(chunk.len() * 32 * 32 * 32).sum::<f32>()
            / (chunk.len() * 32 * 32 * 32) as f32;
        batches += 1;
        if batches <= 3 {
            println!("batch {batches}: {} cells, mean {mean:.1}", chunk.len());
        }
    }
    println!("{batches} batches");
    Ok(())
}
