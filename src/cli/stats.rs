//! Per-cell statistics, computed on the materialized voxels.

use impart::Element;

/// Min, max, sum and count of a cell's voxels (NaNs are skipped by min and
/// max and propagate into the sum, as in NumPy's `nanmin` and `sum`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellStats {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: usize,
}

impl CellStats {
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

const LANES: usize = 8;

/// Statistics of a slice, with independent lanes so the loop vectorizes.
pub fn stats_of<T: Element>(data: &[T]) -> CellStats {
    let mut mins = [f64::INFINITY; LANES];
    let mut maxs = [f64::NEG_INFINITY; LANES];
    let mut sums = [0.0f64; LANES];
    let chunks = data.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            let v = c[l].to_f64();
            mins[l] = mins[l].min(v);
            maxs[l] = maxs[l].max(v);
            sums[l] += v;
        }
    }
    for (l, x) in rest.iter().enumerate() {
        let v = x.to_f64();
        mins[l] = mins[l].min(v);
        maxs[l] = maxs[l].max(v);
        sums[l] += v;
    }
    CellStats {
        min: mins.iter().copied().fold(f64::INFINITY, f64::min),
        max: maxs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sum: sums.iter().sum(),
        count: data.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small() {
        let s = stats_of(&[3u16, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]);
        assert_eq!((s.min, s.max, s.sum, s.count), (1.0, 9.0, 44.0, 11));
        let f = stats_of(&[1.0f32, f32::NAN, -2.0]);
        assert_eq!((f.min, f.max), (-2.0, 1.0));
        assert!(f.sum.is_nan());
    }
}
