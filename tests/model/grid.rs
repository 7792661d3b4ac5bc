//! The reference model of the grid arithmetic and of selection
//! resolution, written straight from DESIGN.md (and the Python `impart`
//! 0.0.5 formulas), not from the crate's code. Shared by
//! `tests/grid_model.rs` (property tests) and the `grid_model` fuzz target
//! (`fuzz/`), which include it by path.

use std::ops::Range;

use impart::{AxisIndex, Edge};

/// One axis of the model grid.
#[derive(Debug, Clone, Copy)]
pub struct ModelAxis {
    pub dim: usize,
    pub cell: usize,
    pub step: f64,
}

impl ModelAxis {
    /// `n = 1 + ceil(max(0, dim - cell) / step)`, then the documented
    /// deviation: a last cell starting at or past `dim` is dropped.
    pub fn n(&self) -> usize {
        let excess = if self.dim > self.cell {
            (self.dim - self.cell) as f64
        } else {
            0.0
        };
        let mut n = 1 + (excess / self.step).ceil() as usize;
        if n > 1 {
            let last_start = ((n - 1) as f64 * self.step).ceil();
            if last_start >= self.dim as f64 {
                n -= 1;
            }
        }
        n
    }

    /// Voxel range of the cells `a..b` (half-open, `a < b <= n`).
    pub fn span(&self, a: usize, b: usize, edge: Edge) -> Range<usize> {
        let start_of = |i: usize| (i as f64 * self.step).ceil() as usize;
        let start = start_of(a);
        let stop = (self.cell as f64 + (b - 1) as f64 * self.step).ceil() as usize;
        match edge {
            // the original's formula
            Edge::Clip => start..stop.min(self.dim),
            // full-size cells: each cell is [start, start + cell), the last
            // one moved inward so it ends at the volume's end
            Edge::Shift => {
                if self.cell > self.dim {
                    0..self.dim
                } else {
                    let limit = self.dim - self.cell;
                    start.min(limit)..start_of(b - 1).min(limit) + self.cell
                }
            }
            Edge::Pad(_) => start..start_of(b - 1) + self.cell,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub axes: Vec<ModelAxis>,
    pub edge: Edge,
}

impl Model {
    pub fn shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.n()).collect()
    }

    pub fn region(&self, cells: &[Range<usize>]) -> Vec<Range<usize>> {
        self.axes
            .iter()
            .zip(cells)
            .map(|(a, r)| a.span(r.start, r.end, self.edge))
            .collect()
    }
}

/// The model's resolution of a selection (NumPy's rules, except that empty
/// ranges and out-of-range integers are errors). `None` is an error.
pub fn model_resolve(items: &[AxisIndex], shape: &[usize]) -> Option<Vec<Range<usize>>> {
    let ellipses = items
        .iter()
        .filter(|i| matches!(i, AxisIndex::Ellipsis))
        .count();
    if ellipses > 1 {
        return None;
    }
    let given = items.len() - ellipses;
    if given > shape.len() {
        return None;
    }
    // expand `...`, then pad with full axes
    let mut full: Vec<AxisIndex> = Vec::new();
    for it in items {
        match it {
            AxisIndex::Ellipsis => {
                for _ in 0..shape.len() - given {
                    full.push(AxisIndex::Full);
                }
            }
            other => full.push(*other),
        }
    }
    while full.len() < shape.len() {
        full.push(AxisIndex::Full);
    }
    let mut out = Vec::new();
    for (it, &n) in full.iter().zip(shape) {
        let n = n as i64;
        match *it {
            AxisIndex::Full | AxisIndex::Ellipsis => out.push(0..n as usize),
            AxisIndex::Index(i) => {
                let i = i as i64;
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return None;
                }
                out.push(j as usize..j as usize + 1);
            }
            AxisIndex::Range { start, stop } => {
                let norm = |v: i64| -> i64 {
                    let v = if v < 0 { v + n } else { v };
                    v.clamp(0, n)
                };
                let s = start.map(|v| norm(v as i64)).unwrap_or(0);
                let e = stop.map(|v| norm(v as i64)).unwrap_or(n);
                if s >= e {
                    return None;
                }
                out.push(s as usize..e as usize);
            }
        }
    }
    Some(out)
}

pub fn to_text(items: &[AxisIndex]) -> String {
    items
        .iter()
        .map(|it| match it {
            AxisIndex::Index(i) => i.to_string(),
            AxisIndex::Range { start, stop } => format!(
                "{}:{}",
                start.map(|v| v.to_string()).unwrap_or_default(),
                stop.map(|v| v.to_string()).unwrap_or_default()
            ),
            AxisIndex::Full => ":".into(),
            AxisIndex::Ellipsis => "...".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
