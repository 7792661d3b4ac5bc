//! The grid model and the expected values the suite compares against.

#![allow(unused_imports)]

use std::fmt::Write as _;
use std::ops::Range;

use impart::{
    CellBox, DType, Edge, Element, Error, NotZeroCopyReason, PadMode, Partition, PerAxis, Region,
    Selected, Spacing, Volume,
};
use ndarray::{ArrayD, ArrayViewD, Axis, Dimension, IxDyn, ShapeBuilder, Slice};

use super::*;

// ---------------------------------------------------------------------------
// The grid model of src/grid.rs's module docs, recomputed here

pub(super) struct AxisModel {
    pub(super) dim: usize,
    pub(super) cell: usize,
    pub(super) step: f64,
    pub(super) n: usize,
}

impl AxisModel {
    pub(super) fn new(dim: usize, cell: usize, step: f64) -> AxisModel {
        // n = 1 + ceil(max(0, dim - cell) / step), without a last cell that
        // starts at or past the end
        let mut n = 1 + (dim.saturating_sub(cell) as f64 / step).ceil() as usize;
        if n > 1 && ((n - 1) as f64 * step).ceil() >= dim as f64 {
            n -= 1;
        }
        AxisModel { dim, cell, step, n }
    }

    pub(super) fn start(&self, i: usize) -> usize {
        (i as f64 * self.step).ceil() as usize
    }

    /// The span of cells `a..b`.
    pub(super) fn span(&self, cells: &Range<usize>, edge: Edge) -> Range<usize> {
        let (a, last) = (cells.start, cells.end - 1);
        match edge {
            Edge::Clip => {
                let end = (self.cell as f64 + last as f64 * self.step).ceil() as usize;
                self.start(a)..end.min(self.dim)
            }
            Edge::Shift if self.cell > self.dim => 0..self.dim,
            Edge::Shift => {
                let limit = self.dim - self.cell;
                self.start(a).min(limit)..self.start(last).min(limit) + self.cell
            }
            Edge::Pad(_) => self.start(a)..self.start(last) + self.cell,
        }
    }
}

/// One grid of the suite.
#[derive(Debug, Clone)]
pub(super) struct GridSpec {
    pub(super) label: String,
    /// Partitioned volume axes, in grid-axis order.
    pub(super) axes: Vec<usize>,
    pub(super) cell: Vec<usize>,
    pub(super) spacing: Spacing,
    pub(super) edge: Edge,
}

impl GridSpec {
    pub(super) fn steps(&self) -> Vec<f64> {
        let k = self.cell.len();
        let per = |p: &PerAxis<f64>| -> Vec<f64> {
            match p {
                PerAxis::All(v) => vec![*v; k],
                PerAxis::Each(v) => v.clone(),
            }
        };
        match &self.spacing {
            Spacing::Stride(s) => per(s)
                .iter()
                .zip(&self.cell)
                .map(|(s, &c)| c as f64 * s)
                .collect(),
            Spacing::Step(s) => per(s),
        }
    }

    pub(super) fn model(&self, shape: &[usize]) -> Vec<AxisModel> {
        self.axes
            .iter()
            .zip(&self.cell)
            .zip(self.steps())
            .map(|((&a, &c), s)| AxisModel::new(shape[a], c, s))
            .collect()
    }

    pub(super) fn build<'v, V: Volume>(
        &self,
        volume: &'v V,
        channels: Option<&[usize]>,
    ) -> impart::Result<Partition<&'v V>> {
        let mut b = Partition::builder(volume)
            .cell(&self.cell)
            .spacing(self.spacing.clone())
            .edge(self.edge)
            .axes(&self.axes);
        if let Some(list) = channels {
            b = b.channels(list);
        }
        b.build()
    }
}

/// A cell extent that does not divide `d` (where one exists), about half
/// of it.
pub(super) fn non_dividing(d: usize) -> usize {
    if d < 3 {
        return d.max(1);
    }
    (2..=d / 2 + 1)
        .rev()
        .find(|c| d % c != 0)
        .unwrap_or(d / 2 + 1)
}

pub(super) fn cycle(values: &[f64], k: usize) -> PerAxis<f64> {
    PerAxis::Each((0..k).map(|i| values[i % values.len()]).collect())
}

/// The grids of the suite over the first `k` axes of `shape`.
pub(super) fn grid_specs(shape: &[usize], k: usize) -> Vec<GridSpec> {
    let axes: Vec<usize> = (0..k).collect();
    let cell: Vec<usize> = shape[..k].iter().map(|&d| non_dividing(d)).collect();
    let spec = |label: &str, cell: &[usize], spacing: Spacing, edge: Edge| GridSpec {
        label: label.to_string(),
        axes: axes.clone(),
        cell: cell.to_vec(),
        spacing,
        edge,
    };
    let stride = |s: f64| Spacing::Stride(PerAxis::All(s));
    let mut big = cell.clone();
    big[0] = shape[0] + 2;
    let mut huge = cell.clone();
    huge[0] = 2 * shape[0] + 1;
    let mut specs = vec![
        spec("clip, stride 1", &cell, stride(1.0), Edge::Clip),
        spec("clip, stride 0.5", &cell, stride(0.5), Edge::Clip),
        spec(
            "clip, per-axis strides",
            &cell,
            Spacing::Stride(cycle(&[0.5, 1.0, 0.75, 0.3], k)),
            Edge::Clip,
        ),
        spec(
            "clip, per-axis steps",
            &cell,
            Spacing::Step(cycle(&[2.0, 1.5, 3.0, 1.0], k)),
            Edge::Clip,
        ),
        spec(
            "clip, axis-0 cell past the volume",
            &big,
            stride(0.5),
            Edge::Clip,
        ),
        spec("shift, stride 0.5", &cell, stride(0.5), Edge::Shift),
        spec(
            "shift, per-axis strides",
            &cell,
            Spacing::Stride(cycle(&[1.0, 0.75, 0.5], k)),
            Edge::Shift,
        ),
        spec(
            "shift, axis-0 cell past the volume",
            &big,
            stride(1.0),
            Edge::Shift,
        ),
        spec(
            "pad constant 7, stride 1",
            &cell,
            stride(1.0),
            Edge::Pad(PadMode::Constant(7.0)),
        ),
        spec(
            "pad constant -3.5, stride 0.75",
            &cell,
            stride(0.75),
            Edge::Pad(PadMode::Constant(-3.5)),
        ),
        spec(
            "pad edge, stride 0.5",
            &cell,
            stride(0.5),
            Edge::Pad(PadMode::Edge),
        ),
        spec(
            "pad reflect, stride 0.5",
            &cell,
            stride(0.5),
            Edge::Pad(PadMode::Reflect),
        ),
        spec(
            "pad reflect, axis-0 cell over twice the volume",
            &huge,
            stride(1.0),
            Edge::Pad(PadMode::Reflect),
        ),
    ];
    if k >= 2 {
        specs.push(GridSpec {
            label: "clip, stride 0.5, last grid axis carried".into(),
            axes: (0..k - 1).collect(),
            cell: cell[..k - 1].to_vec(),
            spacing: stride(0.5),
            edge: Edge::Clip,
        });
        let rev: Vec<usize> = (0..k).rev().collect();
        specs.push(GridSpec {
            label: "pad edge, grid axes in reverse order".into(),
            cell: rev.iter().map(|&a| non_dividing(shape[a])).collect(),
            axes: rev,
            spacing: Spacing::Stride(cycle(&[0.5, 1.0], k)),
            edge: Edge::Pad(PadMode::Edge),
        });
    }
    specs
}

// ---------------------------------------------------------------------------
// Expected values

/// NumPy's `np.pad(.., mode="reflect")` indices past the end of an axis of
/// `dim` values, up to `len`: mirror the last `dim - 1` values about the last
/// one, again and again; a single value is repeated.
pub(super) fn numpy_reflect_indices(dim: usize, len: usize) -> Vec<usize> {
    let mut ext: Vec<usize> = (0..dim).collect();
    if dim == 1 {
        ext.resize(len.max(1), 0);
        return ext;
    }
    while ext.len() < len {
        let last = ext.len() - 1;
        let chunk = (dim - 1).min(len - ext.len());
        for k in 1..=chunk {
            ext.push(ext[last - k]);
        }
    }
    ext
}

/// The reference's values for a region (which may reach past the end under
/// padding), with the channel list applied on `channels`' axis.
pub(super) fn expected_block<T: Voxel>(
    reference: &ArrayD<T>,
    region: &[Range<usize>],
    pad: Option<PadMode>,
    channels: Option<(usize, &[usize])>,
) -> ArrayD<T> {
    let maps: Vec<Vec<Option<usize>>> = region
        .iter()
        .zip(reference.shape())
        .enumerate()
        .map(|(a, (r, &dim))| {
            if let Some((ca, list)) = channels {
                if ca == a {
                    return list.iter().map(|&c| Some(c)).collect();
                }
            }
            let table = numpy_reflect_indices(dim, r.end);
            r.clone()
                .map(|i| match (i < dim, pad) {
                    (true, _) => Some(i),
                    (false, Some(PadMode::Edge)) => Some(dim - 1),
                    (false, Some(PadMode::Reflect)) => Some(table[i]),
                    (false, _) => None,
                })
                .collect()
        })
        .collect();
    // the constant is converted to the stored type (np.pad on the stored
    // array, then astype)
    let fill = match pad {
        Some(PadMode::Constant(v)) => T::from_f64_as(v),
        _ => T::default(),
    };
    let shape: Vec<usize> = maps.iter().map(|m| m.len()).collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let src: Option<Vec<usize>> = (0..shape.len()).map(|a| maps[a][idx[a]]).collect();
        match src {
            Some(s) => reference[IxDyn(&s)],
            None => fill,
        }
    })
}
