//! Sliding-window inference, the whole loop in Rust: open a NIfTI scan,
//! partition it into half-overlapping cells shifted inside the volume, run
//! a small "model" on each cell, and stitch the predictions back with
//! Gaussian blending into a label map that overlays the scan.
//!
//! The model is a 3 x 3 x 3 box smoothing followed by a soft threshold: two
//! channels, background and foreground (`sigmoid((smooth - t) / w)`), as a
//! segmentation network's softmax would give. The stitcher blends the
//! channels where cells overlap, takes the argmax as each region finishes
//! and writes `u8` labels into a NIfTI with the scan's affine; nothing the
//! size of the volume times the channels is ever held in memory.
//!
//! `cargo run --release --example sliding_window [SCAN.nii] [LABELS.nii]`
//! (without arguments: a 96 x 80 x 64 phantom, a bright ellipsoid in noise,
//! written to the temp dir first).

use std::path::PathBuf;

use impart::output::{NiftiOutputOptions, OutputVolume};
use impart::stitch::{Blend, ChannelAxis, OutputSink, Reduce, StitchOptions, Stitcher};
use impart::{DType, Edge, Partition, Region, Volume};
use ndarray::{Array3, ArrayD, Axis, Ix3, Zip};

fn main() -> impart::Result<()> {
    let mut args = std::env::args().skip(1);
    let scan = match args.next() {
        Some(p) => PathBuf::from(p),
        None => phantom()?,
    };
    let labels = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("impart-sliding-window-labels.nii"));

    let volume = impart::open(&scan)?;
    println!(
        "{}: {:?} {}",
        scan.display(),
        volume.shape(),
        volume.dtype()
    );
    let part = Partition::builder(volume)
        .cell(&[32, 32, 32])
        .stride(0.5)
        .edge(Edge::Shift)
        .build()?;
    let threshold = 100.0f32;

    // u8 labels, the scan's affine and spatial shape
    let out = NiftiOutputOptions::like(part.volume())
        .shape(part.grid().volume_shape())
        .dtype(DType::U8)
        .create(&labels)?;
    let sink = OutputSink::new(out, Reduce::Argmax, 2, ChannelAxis::Last)?;
    let report = {
        let stitcher = Stitcher::<f32>::new(
            part.grid(),
            2,
            &StitchOptions::new(Blend::gaussian()),
            &sink,
        )?;
        // the cells in plan order, on every core
        stitcher.run(
            |cell| {
                let voxels = part.cell(cell)?.to_array_as::<f32>()?;
                let prediction = model(voxels, threshold);
                stitcher.add(cell, prediction.view())
            },
            &|_, _| {},
        )?;
        stitcher.finish()?
    };
    println!(
        "{} cells stitched into {} regions; accumulators peaked at {:.1} MiB",
        report.cells_added,
        report.regions,
        report.peak_accumulator_bytes as f64 / (1 << 20) as f64
    );

    // look at the result: the label map overlays the scan
    let written = impart::open(&labels)?;
    assert_eq!(written.affine(), part.volume().affine());
    let whole = Partition::whole(written)?;
    let labels_u8 = whole.all()?.to_array::<u8>()?;
    let foreground = labels_u8.iter().filter(|&&l| l == 1).count();
    println!(
        "{}: {} of {} voxels labelled foreground",
        labels.display(),
        foreground,
        labels_u8.len()
    );
    Ok(())
}

/// Box smoothing (3 voxels per axis, clamped at the cell's border), then
/// `(background, foreground)` as `(1 - f, f)`, `f = sigmoid((s - t) / 10)`.
fn model(voxels: ArrayD<f32>, t: f32) -> ArrayD<f32> {
    let v = voxels
        .into_dimensionality::<Ix3>()
        .expect("a 3-D scan gives 3-D cells");
    let mut s = v.as_standard_layout().into_owned();
    for axis in 0..3 {
        s = box3(&s, Axis(axis));
    }
    let (x, y, z) = s.dim();
    let mut p = ndarray::Array4::<f32>::zeros((2, x, y, z));
    Zip::from(p.index_axis_mut(Axis(0), 1))
        .and(&s)
        .for_each(|f, &s| *f = 1.0 / (1.0 + (-(s - t) / 10.0).exp()));
    let fg = p.index_axis(Axis(0), 1).to_owned();
    Zip::from(p.index_axis_mut(Axis(0), 0))
        .and(&fg)
        .for_each(|b, &f| *b = 1.0 - f);
    p.into_dyn()
}

/// The mean of each voxel and its two neighbours along `axis`.
fn box3(a: &Array3<f32>, axis: Axis) -> Array3<f32> {
    let n = a.len_of(axis);
    let mut out = a.clone();
    for i in 0..n {
        let lo = a.index_axis(axis, i.saturating_sub(1));
        let mid = a.index_axis(axis, i);
        let hi = a.index_axis(axis, (i + 1).min(n - 1));
        Zip::from(out.index_axis_mut(axis, i))
            .and(&lo)
            .and(&mid)
            .and(&hi)
            .for_each(|o, &l, &m, &h| *o = (l + m + h) / 3.0);
    }
    out
}

/// A 96 x 80 x 64 f32 phantom: an ellipsoid of 200 in a background of 20,
/// with a deterministic ripple, voxels of 1 x 1 x 2 mm.
fn phantom() -> impart::Result<PathBuf> {
    let shape = [96usize, 80, 64];
    let path = std::env::temp_dir().join("impart-sliding-window-scan.nii");
    let mut affine = [[0.0; 4]; 4];
    affine[0][0] = 1.0;
    affine[1][1] = 1.0;
    affine[2][2] = 2.0;
    affine[3][3] = 1.0;
    affine[0][3] = -48.0;
    let out = NiftiOutputOptions::new(&shape, DType::F32)
        .affine(affine)
        .create(&path)?;
    let v = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(x, y, z)| {
        let (dx, dy, dz) = (
            (x as f32 - 48.0) / 30.0,
            (y as f32 - 40.0) / 22.0,
            (z as f32 - 30.0) / 18.0,
        );
        let inside = dx * dx + dy * dy + dz * dz <= 1.0;
        let ripple = 15.0 * ((x * 7 + y * 3 + z * 5) % 11) as f32 / 11.0;
        if inside {
            200.0 + ripple
        } else {
            20.0 + ripple
        }
    });
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_ne_bytes()).collect();
    out.write_region(&Region::full(&shape), &bytes)?;
    out.finish()?;
    Ok(path)
}
