//! A training/inference-style loader: fill a preallocated batch of f32 from
//! cells in parallel, without allocating per cell — the pattern a
//! deep-learning pipeline uses — and the memory orders it meets.
//!
//! - **Volumes.** NIfTI volumes are F-order (x fastest, as the file stores
//!   them), and so are raw files opened with `.order(F)`; raw C-order
//!   files, Zarr arrays (as read), images and C-order arrays are C-order.
//! - **Batches.** `Array5::<f32>::zeros((B, 1, X, Y, Z))` is C-order, and
//!   each slot `batch.index_axis_mut(Axis(0), i)` is one contiguous C-order
//!   `(1, X, Y, Z)` block (`read_into` takes the channel axis of extent 1).
//! - **Fills.** `read_into` writes a slot of either order straight from the
//!   volume: into the volume's own order run by run, the fastest fill; into
//!   the other order (an F-order NIfTI into that C-order batch) through the
//!   copy engine's tiled transpose, which costs more (`cargo bench --bench
//!   orders` measures both).
//! - **The same-order fill for a NIfTI walk.** A `(B, Z, Y, X)` C-order
//!   batch: each slot, `.reversed_axes()`, is an F-order `(X, Y, Z)` block,
//!   so the copy runs in the file's order; the batch holds every cell with
//!   its axes reversed, which the model must expect.
//! - **To avoid.** `Array4::zeros((B, X, Y, Z).f())`: the batch axis is the
//!   fastest, so a slot is strided and each cell goes through an owned copy
//!   first.
//!
//! The example writes one 128³ u16 scan as a NIfTI file, walks it and the
//! same voxels as a C-order array in memory, and times every fill.
//!
//! `cargo run --release --example batch_loader`

use std::time::{Duration, Instant};

use impart::output::{NiftiOutputOptions, OutputVolume};
use impart::{ArrayVolume, DType, Edge, Partition, Region, Selected, Volume};
use ndarray::{s, Array, Array3, Array4, Array5, Axis, RemoveAxis, ShapeBuilder};
use rayon::prelude::*;

const N: usize = 128;
const CELL: usize = 32;
const B: usize = 16;

/// Fills `batch` from every cell, `B` cells at a time, each slot in
/// parallel and converted to f32 on the way; with `reversed`, each slot's
/// axes are reversed first. Returns the number of batches.
fn fill<V: Volume, D: RemoveAxis>(
    cells: &[Selected<'_, V>],
    batch: &mut Array<f32, D>,
    reversed: bool,
) -> impart::Result<usize> {
    let mut batches = 0;
    for chunk in cells.chunks(B) {
        let slots: Vec<_> = batch.axis_iter_mut(Axis(0)).collect();
        slots
            .into_par_iter()
            .zip(chunk.par_iter())
            .try_for_each(|(slot, cell)| {
                let slot = if reversed { slot.reversed_axes() } else { slot };
                cell.read_into(slot)
            })?;
        // ... a model would consume the first chunk.len() slots here ...
        batches += 1;
    }
    Ok(batches)
}

/// The fastest of five passes of `pass`.
fn best(mut pass: impl FnMut() -> impart::Result<usize>) -> impart::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        pass()?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // a made-up scan keeps the example self-contained; axes (x, y, z)
    let scan = Array3::<u16>::from_shape_fn((N, N, N), |(x, y, z)| {
        ((x * 7 + y * 17 + z * 31) % 4096) as u16
    });
    let dir = std::env::temp_dir().join(format!("impart-batch-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("scan.nii");
    let out = NiftiOutputOptions::new(&[N, N, N], DType::U16).create(&path)?;
    // an output takes C-order voxels; the file stores them in F order
    let bytes: Vec<u8> = scan.iter().flat_map(|v| v.to_ne_bytes()).collect();
    out.write_region(&Region::new(vec![0; 3], vec![N; 3])?, &bytes)?;
    out.finish()?;

    let in_memory = ArrayVolume::new(scan.view())?;
    let nifti = impart::open(&path)?; // mapped
    let volumes: [(&str, &dyn Volume); 2] =
        [("C-order array", &in_memory), ("F-order NIfTI", &nifti)];
    for (name, volume) in volumes {
        // shifted border cells are full size, as a network expects
        let part = Partition::builder(volume)
            .cell(&[CELL; 3])
            .stride(0.5)
            .edge(Edge::Shift)
            .build()?;
        let cells: Vec<_> = part.cells("...")?.collect();
        println!(
            "{name}: {} cells of {CELL}^3 in batches of {B}",
            cells.len()
        );

        // allocated once each, reused for every batch
        let mut bcxyz = Array5::<f32>::zeros((B, 1, CELL, CELL, CELL));
        let mut bzyx = Array4::<f32>::zeros((B, CELL, CELL, CELL));
        let mut strided = Array4::<f32>::zeros((B, CELL, CELL, CELL).f());
        let fills = [
            (
                "(B, 1, x, y, z) C batch, C slots",
                best(|| fill(&cells, &mut bcxyz, false))?,
            ),
            (
                "(B, z, y, x) C batch, slots reversed to F",
                best(|| fill(&cells, &mut bzyx, true))?,
            ),
            (
                "(B, x, y, z) F batch, strided slots",
                best(|| fill(&cells, &mut strided, false))?,
            ),
        ];
        for (layout, t) in fills {
            println!("  {layout:<42} {:7.2} ms per pass", t.as_secs_f64() * 1e3);
        }

        // the three layouts hold the same voxels (here: the last batch's
        // first cell), and so does the cell itself
        let last = &cells[(cells.len() - 1) / B * B];
        let expected = last.to_array_as::<f32>()?;
        let c_slot = bcxyz.slice(s![0, 0, .., .., ..]);
        assert_eq!(c_slot, expected.view().into_dimensionality()?);
        assert_eq!(bzyx.index_axis(Axis(0), 0).reversed_axes(), c_slot);
        assert_eq!(strided.index_axis(Axis(0), 0), c_slot);
        println!(
            "  slot 0 of the last batch: mean {:.1}",
            c_slot.mean().unwrap_or(0.0)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
