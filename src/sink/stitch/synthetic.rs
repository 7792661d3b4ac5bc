//! The built-in deterministic predictor of `impart stitch --synthetic C`,
//! for benchmarks and demos, defined exactly so anyone can reproduce it.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// The synthetic `channels`-channel prediction of one cell.
///
/// `cell` holds the cell's voxels as `f32` (as materialized: padding
/// included), with its axes in volume order; `partitioned` lists the volume
/// axes of the grid, in grid order (a partition's `axes()`), the other axes
/// being carried. Then, exactly:
///
/// - `v` is the voxel value; with a carried axis, the `f32` mean over it
///   (`ndarray`'s `mean_axis`: the sum in index order divided by the
///   count); with several, the same over each in turn, highest axis first;
/// - `x = v / (1 + |v|)` in `f32`;
/// - `m` is the mean of `x` over the cell, summed in `f64` in C order of
///   the grid axes, divided by the voxel count, then rounded to `f32`;
/// - channel `c` (0-based) is `s_c · x + k_c · m` in `f32`, where `s_c` and
///   `k_c` are `sin(c + 1)` and `cos(c + 1)` evaluated in `f64` and rounded
///   to `f32` (so every correct math library gives the same values).
///
/// The result has shape `(channels, *cell)` with the cell's axes in grid
/// order, C order.
pub fn synthetic(cell: ArrayViewD<'_, f32>, partitioned: &[usize], channels: usize) -> ArrayD<f32> {
    let mut buf = SyntheticBuffers::default();
    let shape = synthetic_into(cell, partitioned, channels, &mut buf)
        .shape()
        .to_vec();
    ArrayD::from_shape_vec(IxDyn(&shape), buf.out).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
}

/// The buffers of [`synthetic_into`], reused from cell to cell.
#[derive(Debug, Default)]
pub struct SyntheticBuffers {
    x: Vec<f32>,
    out: Vec<f32>,
}

/// [`synthetic`] into buffers reused from cell to cell (no allocation or
/// zeroing per cell); the prediction is a view of them.
pub fn synthetic_into<'b>(
    cell: ArrayViewD<'_, f32>,
    partitioned: &[usize],
    channels: usize,
    buf: &'b mut SyntheticBuffers,
) -> ArrayViewD<'b, f32> {
    // mean over the carried axes, highest first so the indices stay valid
    let mut carried: Vec<usize> = (0..cell.ndim())
        .filter(|a| !partitioned.contains(a))
        .collect();
    carried.sort_unstable_by(|a, b| b.cmp(a));
    let mut reduced: Option<ArrayD<f32>> = None;
    for a in carried {
        let v = reduced.as_ref().map_or(cell.view(), |r| r.view());
        reduced = Some(v.mean_axis(Axis(a)).unwrap_or_else(|| v.to_owned()));
    }
    let v = reduced.as_ref().map_or(cell.view(), |r| r.view());
    // the remaining axes are the partitioned ones in volume order: to grid order
    let mut sorted = partitioned.to_vec();
    sorted.sort_unstable();
    let perm: Vec<usize> = partitioned
        .iter()
        .map(|a| sorted.iter().position(|s| s == a).unwrap_or(0))
        .collect();
    let v = if perm.len() == v.ndim() {
        v.permuted_axes(IxDyn(&perm))
    } else {
        v
    };
    let shape = v.shape().to_vec();
    let n = v.len();
    // x in C order of the grid axes (a copy that follows the source's
    // layout, not an element-by-element walk of a strided view)
    let x = &mut buf.x;
    x.clear();
    match v.as_slice() {
        Some(s) => x.extend_from_slice(s),
        None => {
            x.resize(n, 0.0);
            if let Ok(mut xv) = ndarray::ArrayViewMutD::from_shape(IxDyn(&shape), &mut x[..]) {
                xv.assign(&v);
            }
        }
    }
    for x in x.iter_mut() {
        *x /= 1.0 + x.abs();
    }
    let m = if n == 0 {
        0.0
    } else {
        (x.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64) as f32
    };
    let out = &mut buf.out;
    out.clear();
    out.reserve(n * channels);
    for c in 0..channels {
        let s = ((c + 1) as f64).sin() as f32;
        let k = ((c + 1) as f64).cos() as f32;
        let km = k * m;
        out.extend(x.iter().map(|&x| s * x + km));
    }
    let mut full = vec![channels];
    full.extend_from_slice(&shape);
    // the shape holds exactly the values pushed: the fallback is never taken
    match ArrayViewD::from_shape(IxDyn(&full), &out[..]) {
        Ok(v) => v,
        Err(_) => ndarray::ArrayView1::from(&out[..0]).into_dyn(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn follows_its_definition() {
        let cell = arr2(&[[0.0f32, 1.0], [-3.0, 7.0]]).into_dyn();
        let p = synthetic(cell.view(), &[0, 1], 3);
        assert_eq!(p.shape(), &[3, 2, 2]);
        let x = [0.0f32, 0.5, -0.75, 0.875];
        let m = ((0.0 + 0.5 - 0.75 + 0.875) / 4.0) as f32;
        for c in 0..3 {
            let s = ((c + 1) as f64).sin() as f32;
            let k = ((c + 1) as f64).cos() as f32;
            for (i, &xi) in x.iter().enumerate() {
                assert_eq!(p[[c, i / 2, i % 2]], s * xi + k * m);
            }
        }
    }

    #[test]
    fn carried_axes_are_averaged_and_grid_order_kept() {
        // (2, 3, 2): axes 0 and 1 partitioned in the order [1, 0], axis 2 carried
        let cell = ArrayD::from_shape_fn(IxDyn(&[2, 3, 2]), |i| (i[0] * 10 + i[1] + i[2]) as f32);
        let p = synthetic(cell.view(), &[1, 0], 1);
        assert_eq!(p.shape(), &[1, 3, 2]);
        let v = (10 + 2) as f32 + 0.5; // voxel (1, 2): mean of 12 and 13
        let x = v / (1.0 + v);
        let s = 1f64.sin() as f32;
        let k = 1f64.cos() as f32;
        let mean = {
            let xs: Vec<f64> = (0..3)
                .flat_map(|j| (0..2).map(move |i| ((i * 10 + j) as f32 + 0.5) as f64))
                .map(|v| f64::from(v as f32 / (1.0 + v as f32)))
                .collect();
            (xs.iter().sum::<f64>() / 6.0) as f32
        };
        assert_eq!(p[[0, 2, 1]], s * x + k * mean);
    }
}
