//! The stitcher against a dense reference written from the formulas (not
//! from the library's code), and its promises: the same bits in any order
//! on any number of threads, `crop` writing each voxel once from the cell
//! with the nearest centre, the mean of a constant being that constant.

use std::sync::atomic::{AtomicU32, Ordering};

use impart::grid::{Edge, Grid};
use impart::output::ArrayOutput;
use impart::stitch::{Blend, ChannelAxis, OutputSink, Reduce, StitchOptions, Stitcher};
use impart::{DType, PadMode, Region};
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use rayon::prelude::*;

/// A deterministic prediction: channel `c` of voxel `v` of cell `k`.
fn value(k: usize, c: usize, v: &[usize]) -> f32 {
    let mut h = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c as u64 * 7919);
    for &x in v {
        h = h.rotate_left(13) ^ (x as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    }
    ((h >> 40) % 1000) as f32 / 100.0 - 5.0
}

/// The prediction of cell `index` (shape `(C, *region)`), voxels in cell
/// coordinates.
fn prediction(grid: &Grid, index: &[usize], channels: usize) -> ArrayD<f32> {
    let region = grid.cell_region(index).unwrap();
    let k = grid.ravel(index).unwrap();
    let mut shape = vec![channels];
    shape.extend_from_slice(region.shape());
    ArrayD::from_shape_fn(IxDyn(&shape), |i| {
        let i = i.slice();
        value(k, i[0], &i[1..])
    })
}

/// The weight of voxel `i` of a full cell of `shape`, from the formulas.
fn weight(blend: &Blend, shape: &[usize], i: &[usize]) -> f64 {
    match blend {
        Blend::Mean | Blend::Crop => 1.0,
        Blend::Hann => shape
            .iter()
            .zip(i)
            .map(|(&n, &i)| {
                0.5 * (1.0 - (2.0 * std::f64::consts::PI * (i + 1) as f64 / (n + 1) as f64).cos())
            })
            .product(),
        Blend::Gaussian { sigma_scale } => {
            let g = |n: usize, i: usize, s: f64| {
                let sigma = s * n as f64;
                let x = i as f64 - (n as f64 - 1.0) / 2.0;
                (-x * x / (2.0 * sigma * sigma)).exp()
            };
            let s = sigma_scale[0];
            let w: f64 = shape.iter().zip(i).map(|(&n, &i)| g(n, i, s)).product();
            // MONAI 1.6: floored, not divided by the maximum
            w.max(1e-3)
        }
    }
}

/// The blended output `(C, *volume)` in f64, cell by cell over the whole
/// volume.
fn dense_reference(grid: &Grid, blend: &Blend, channels: usize) -> ArrayD<f64> {
    let vol = grid.volume_shape().to_vec();
    let mut shape = vec![channels];
    shape.extend_from_slice(&vol);
    let mut sum = ArrayD::<f64>::zeros(IxDyn(&shape));
    let mut wsum = ArrayD::<f64>::zeros(IxDyn(&vol));
    for index in grid.cells() {
        let region = grid.cell_region(&index).unwrap();
        let p = prediction(grid, &index, channels);
        for (i, _) in ndarray::ArrayD::<u8>::zeros(IxDyn(region.shape())).indexed_iter() {
            let i = i.slice().to_vec();
            let v: Vec<usize> = i.iter().zip(region.start()).map(|(a, b)| a + b).collect();
            if v.iter().zip(&vol).any(|(a, b)| a >= b) {
                continue; // padding
            }
            let w = weight(blend, grid.cell_shape(), &i);
            wsum[IxDyn(&v)] += w;
            for c in 0..channels {
                let mut pi = vec![c];
                pi.extend_from_slice(&i);
                let mut si = vec![c];
                si.extend_from_slice(&v);
                sum[IxDyn(&si)] += w * f64::from(p[IxDyn(&pi)]);
            }
        }
    }
    for (mut ch, _) in sum.outer_iter_mut().zip(0..) {
        ch.zip_mut_with(&wsum, |s, &w| *s = if w > 0.0 { *s / w } else { 0.0 });
    }
    sum
}

/// Stitches every cell of `grid` in `order` (cell indices) on `threads`
/// threads into memory: `(C, *volume)` f32.
fn stitch(
    grid: &Grid,
    blend: &Blend,
    channels: usize,
    order: &[Vec<usize>],
    threads: usize,
) -> ArrayD<f32> {
    // (C, *volume), or the volume's shape for one channel (no channel axis)
    let (out_shape, dtype) = Reduce::None
        .output(grid.volume_shape(), channels, ChannelAxis::First, None)
        .unwrap();
    let out = ArrayOutput::new(&out_shape, dtype).unwrap();
    let sink = OutputSink::new(out, Reduce::None, channels, ChannelAxis::First).unwrap();
    {
        let options = StitchOptions::new(blend.clone());
        let s = Stitcher::<f32>::new(grid, channels, &options, &sink).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            order.par_iter().for_each(|index| {
                s.add(index, prediction(grid, index, channels).view())
                    .unwrap();
            })
        });
        s.finish().unwrap();
    }
    let mut shape = vec![channels];
    shape.extend_from_slice(grid.volume_shape());
    sink.into_output()
        .into_array::<f32>()
        .unwrap()
        .into_shape_with_order(IxDyn(&shape))
        .unwrap()
}

fn grid_strategy() -> impl Strategy<Value = (Grid, Blend, usize)> {
    (1usize..=3)
        .prop_flat_map(|nd| {
            (
                prop::collection::vec(4usize..24, nd),
                prop::collection::vec(1usize..12, nd),
                prop::collection::vec(0.3f64..1.4, nd),
                0usize..3,
                0usize..3,
                1usize..4,
            )
        })
        .prop_map(|(vol, cell, stride, edge, blend, channels)| {
            let edge = [Edge::Clip, Edge::Shift, Edge::Pad(PadMode::default())][edge];
            let blend = [Blend::Mean, Blend::gaussian(), Blend::Hann][blend].clone();
            let grid = Grid::builder(&vol)
                .cell(&cell)
                .stride(stride)
                .edge(edge)
                .build()
                .unwrap();
            (grid, blend, channels)
        })
}

fn plan(grid: &Grid) -> Vec<Vec<usize>> {
    grid.cells().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_the_dense_reference((grid, blend, channels) in grid_strategy()) {
        let got = stitch(&grid, &blend, channels, &plan(&grid), 1);
        let want = dense_reference(&grid, &blend, channels);
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((f64::from(*g) - w).abs() <= 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }

    #[test]
    fn any_order_on_any_threads_gives_the_same_bits(
        (grid, blend, channels) in grid_strategy(),
        seed in any::<u64>(),
        threads in 1usize..4,
    ) {
        let blend = if seed % 4 == 0 { Blend::Crop } else { blend };
        let s = Stitcher::<f32>::new(&grid, channels, &StitchOptions::new(blend.clone()), &|_: &Region, _: ndarray::ArrayViewD<'_, f32>| Ok(())).unwrap();
        let in_plan = s.plan();
        drop(s);
        let reference = stitch(&grid, &blend, channels, &in_plan, 1);
        let mut shuffled = in_plan.clone();
        // Fisher-Yates with a small LCG
        let mut r = seed | 1;
        for i in (1..shuffled.len()).rev() {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (r >> 33) as usize % (i + 1));
        }
        let got = stitch(&grid, &blend, channels, &shuffled, threads);
        prop_assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn crop_writes_each_voxel_once_from_the_nearest_centre((grid, _, _) in grid_strategy()) {
        let vol = grid.volume_shape().to_vec();
        let n: usize = vol.iter().product();
        let writes: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        let owner: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(u32::MAX)).collect();
        let strides: Vec<usize> = (0..vol.len()).map(|a| vol[a + 1..].iter().product()).collect();
        let sink = |region: &Region, values: ndarray::ArrayViewD<'_, f32>| {
            for (i, &v) in values.index_axis(ndarray::Axis(0), 0).indexed_iter() {
                let lin: usize = i.slice().iter().zip(region.start()).zip(&strides).map(|((a, b), s)| (a + b) * s).sum();
                writes[lin].fetch_add(1, Ordering::Relaxed);
                owner[lin].store(v as u32, Ordering::Relaxed);
            }
            Ok(())
        };
        let s = Stitcher::<f32>::new(&grid, 1, &StitchOptions::new(Blend::Crop), &sink).unwrap();
        for index in s.plan() {
            let region = grid.cell_region(&index).unwrap();
            let k = grid.ravel(&index).unwrap() as f32;
            s.add(&index, ArrayD::from_elem(IxDyn(region.shape()), k).view()).unwrap();
        }
        s.finish().unwrap();
        // brute force: per axis the covering cell with the nearest full-cell centre, ties lower
        let axis_owner = |a: usize, v: usize| -> Option<usize> {
            let mut best: Option<(f64, usize)> = None;
            for i in 0..grid.shape()[a] {
                let mut idx = vec![0; vol.len()];
                idx[a] = i;
                let r = grid.cell_region(&idx).unwrap();
                let (s, len) = (r.start()[a], r.shape()[a]);
                if v < s || v >= s + len {
                    continue;
                }
                let d = (v as f64 - (s as f64 + (grid.cell_shape()[a] as f64 - 1.0) / 2.0)).abs();
                if best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, i));
                }
            }
            best.map(|(_, i)| i)
        };
        for lin in 0..n {
            let v: Vec<usize> = strides.iter().zip(&vol).map(|(s, e)| lin / s % e).collect();
            prop_assert_eq!(writes[lin].load(Ordering::Relaxed), 1, "voxel {:?}", v);
            let idx: Option<Vec<usize>> = v.iter().enumerate().map(|(a, &x)| axis_owner(a, x)).collect();
            let got = owner[lin].load(Ordering::Relaxed);
            match idx {
                Some(idx) => prop_assert_eq!(got, grid.ravel(&idx).unwrap() as u32, "voxel {:?}", v),
                None => prop_assert_eq!(got, 0, "uncovered voxel {:?}", v),
            }
        }
    }
}

#[test]
fn the_mean_of_a_constant_is_that_constant_everywhere() {
    for edge in [Edge::Clip, Edge::Shift, Edge::Pad(PadMode::default())] {
        let grid = Grid::builder(&[30, 17, 9])
            .cell(&[8, 6, 9])
            .stride(0.37)
            .edge(edge)
            .build()
            .unwrap();
        let out = ArrayOutput::new(&[30, 17, 9], DType::F32).unwrap();
        let sink = OutputSink::new(out, Reduce::None, 1, ChannelAxis::First).unwrap();
        {
            let s =
                Stitcher::<f32>::new(&grid, 1, &StitchOptions::new(Blend::Mean), &sink).unwrap();
            for index in s.plan() {
                let r = grid.cell_region(&index).unwrap();
                s.add(&index, ArrayD::from_elem(IxDyn(r.shape()), 2.75f32).view())
                    .unwrap();
            }
            s.finish().unwrap();
        }
        let a = sink.into_output().into_array::<f32>().unwrap();
        assert!(a.iter().all(|&v| v == 2.75), "{edge:?}");
    }
}

#[test]
fn scratch_f64_and_regular_blocks_agree() {
    let grid = Grid::builder(&[40, 33])
        .cell(&[16, 12])
        .stride(0.5)
        .build()
        .unwrap();
    let order = plan(&grid);
    let heap = stitch(&grid, &Blend::gaussian(), 3, &order, 2);
    // scratch
    let dir = tempfile::tempdir().unwrap();
    let out = ArrayOutput::new(&[3, 40, 33], DType::F32).unwrap();
    let sink = OutputSink::new(out, Reduce::None, 3, ChannelAxis::First).unwrap();
    {
        let options = StitchOptions::new(Blend::gaussian())
            .scratch(Some(dir.path().to_path_buf()))
            .blocks(impart::stitch::Blocks::Regular(vec![7, 9]));
        let s = Stitcher::<f32>::new(&grid, 3, &options, &sink).unwrap();
        for index in s.plan() {
            s.add(&index, prediction(&grid, &index, 3).view()).unwrap();
        }
        let report = s.finish().unwrap();
        assert_eq!(report.finished, report.regions);
    }
    let scratch = sink.into_output().into_array::<f32>().unwrap();
    for (a, b) in scratch.iter().zip(heap.iter()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
    // f64 accumulation: within f32 rounding of the f32 one
    let out = ArrayOutput::new(&[3, 40, 33], DType::F32).unwrap();
    let sink = OutputSink::new(out, Reduce::None, 3, ChannelAxis::First).unwrap();
    {
        let s =
            Stitcher::<f64>::new(&grid, 3, &StitchOptions::new(Blend::gaussian()), &sink).unwrap();
        for index in s.plan() {
            s.add(&index, prediction(&grid, &index, 3).view()).unwrap();
        }
        s.finish().unwrap();
    }
    let f64s = sink.into_output().into_array::<f32>().unwrap();
    for (a, b) in f64s.iter().zip(heap.iter()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
}

#[test]
fn wrong_shapes_twice_added_and_missing_cells_are_errors() {
    let grid = Grid::builder(&[20, 20])
        .cell(&[8, 8])
        .stride(0.5)
        .build()
        .unwrap();
    let sink = |_: &Region, _: ndarray::ArrayViewD<'_, f32>| Ok(());
    let s = Stitcher::<f32>::new(&grid, 2, &StitchOptions::default(), &sink).unwrap();
    let bad = ArrayD::<f32>::zeros(IxDyn(&[2, 8, 7]));
    let e = s.add(&[0, 0], bad.view()).unwrap_err().to_string();
    assert!(e.contains("[0, 0]") && e.contains("(2, 8, 8)"), "{e}");
    let one = ArrayD::<f32>::zeros(IxDyn(&[8, 8]));
    assert!(s.add(&[0, 0], one.view()).is_err(), "one channel for two");
    let scalar = ArrayD::<f32>::zeros(IxDyn(&[]));
    assert!(s.add(&[0, 0], scalar.view()).is_err(), "a 0-d prediction");
    let deep = ArrayD::<f32>::zeros(IxDyn(&[2, 8, 8, 1]));
    assert!(s.add(&[0, 0], deep.view()).is_err(), "an extra axis");
    let ok = ArrayD::<f32>::zeros(IxDyn(&[2, 8, 8]));
    s.add(&[0, 0], ok.view()).unwrap();
    let e = s.add(&[0, 0], ok.view()).unwrap_err().to_string();
    assert!(e.contains("twice"), "{e}");
    let e = s.finish().unwrap_err().to_string();
    assert!(e.contains("waits for cell"), "{e}");
    assert!(s.add(&[9, 0], ok.view()).is_err());
}

#[test]
fn a_failed_region_keeps_the_stitch_from_finishing() {
    let grid = Grid::builder(&[40, 40])
        .cell(&[8, 8])
        .stride(0.5)
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let sink = |_: &Region, _: ndarray::ArrayViewD<'_, f32>| {
        if calls.fetch_add(1, Ordering::Relaxed) == 2 {
            Err(impart::Error::InvalidArgument {
                what: "test",
                detail: "the disk is full".into(),
            })
        } else {
            Ok(())
        }
    };
    let s = Stitcher::<f32>::new(&grid, 1, &StitchOptions::default(), &sink).unwrap();
    let mut failed = false;
    for index in s.plan() {
        let r = grid.cell_region(&index).unwrap();
        if s.add(&index, ArrayD::<f32>::zeros(IxDyn(r.shape())).view())
            .is_err()
        {
            failed = true;
            break;
        }
    }
    assert!(failed);
    let e = s.finish().unwrap_err().to_string();
    assert!(e.contains("incomplete"), "{e}");
    assert!(s.run(|_| Ok(()), &|_, _| {}).is_err());
    // a Gaussian sigma that is not positive is refused up front
    let bad = StitchOptions::new(Blend::Gaussian {
        sigma_scale: vec![0.0],
    });
    assert!(Stitcher::<f32>::new(&grid, 1, &bad, &sink).is_err());
}
