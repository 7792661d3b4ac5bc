//! Blending weights of one cell: `mean` (constant), `gaussian` (MONAI's
//! `compute_importance_map`) and `hann` (TorchIO's `hann` mode), computed in
//! `f32` as those tools compute them, so blended results match theirs
//! within float rounding.

/// How the predictions of overlapping cells are blended: per voxel
/// `sum(w · p) / sum(w)` over the cells that cover it, or (`Crop`) no
/// blending at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Blend {
    /// Constant weights: the mean of the covering cells' predictions.
    Mean,
    /// Separable `exp(-x² / (2σ²))` per axis, `x` measured from the cell's
    /// exact centre (`(n - 1) / 2`), `σ = sigma_scale · n` per axis (one
    /// value for every axis, or one per partitioned axis; MONAI's default
    /// 0.125); the product (in `f32`, axis by axis) raised to at least
    /// `1e-3`, as MONAI 1.6's `compute_importance_map` does (it does not
    /// divide by the maximum: for even cell extents the peak is below 1).
    Gaussian {
        /// `σ / n` per axis (one value: every axis).
        sigma_scale: Vec<f64>,
    },
    /// Per axis `0.5 · (1 - cos(2π (i + 1) / (n + 1)))`, `i = 0..n`, as
    /// TorchIO's `hann` mode; the product over axes.
    Hann,
    /// No blending: each voxel comes from the cell whose centre is nearest
    /// (per axis; ties to the lower cell index), written once.
    Crop,
}

impl Blend {
    /// MONAI's default Gaussian (`sigma_scale = 0.125` on every axis).
    pub fn gaussian() -> Blend {
        Blend::Gaussian {
            sigma_scale: vec![0.125],
        }
    }

    /// The name the command line uses (`mean`, `gaussian`, `hann`, `crop`).
    pub fn name(&self) -> &'static str {
        match self {
            Blend::Mean => "mean",
            Blend::Gaussian { .. } => "gaussian",
            Blend::Hann => "hann",
            Blend::Crop => "crop",
        }
    }
}

/// Smallest Gaussian weight (MONAI raises lower ones to it).
pub const GAUSSIAN_FLOOR: f32 = 1e-3;

/// The weights of a full cell of `shape`: per-axis profiles and, for the
/// Gaussian, the floor applied to their product.
#[derive(Debug, Clone, PartialEq)]
pub struct CellWeights {
    profiles: Vec<Vec<f32>>,
    /// The least weight (Gaussian: [`GAUSSIAN_FLOOR`]), else 0.
    floor: f32,
}

impl CellWeights {
    /// The weights of `blend` over a cell of `shape` (`Crop` weighs every
    /// voxel 1: a cell's voxels are either written or not).
    pub fn new(blend: &Blend, shape: &[usize]) -> CellWeights {
        let profiles: Vec<Vec<f32>> = shape
            .iter()
            .enumerate()
            .map(|(a, &n)| match blend {
                Blend::Mean | Blend::Crop => vec![1.0; n],
                Blend::Hann => hann(n),
                Blend::Gaussian { sigma_scale } => {
                    let s = sigma_scale
                        .get(a)
                        .or(sigma_scale.last())
                        .copied()
                        .unwrap_or(0.125);
                    gaussian(n, s)
                }
            })
            .collect();
        let floor = match blend {
            Blend::Gaussian { .. } => GAUSSIAN_FLOOR,
            _ => 0.0,
        };
        CellWeights { profiles, floor }
    }

    /// The per-axis profiles (before the Gaussian's floor).
    pub fn profiles(&self) -> &[Vec<f32>] {
        &self.profiles
    }

    /// The weight of voxel `index` of the full cell.
    pub fn at(&self, index: &[usize]) -> f32 {
        let mut w = 1.0f32;
        for (p, &i) in self.profiles.iter().zip(index) {
            w *= p[i];
        }
        w.max(self.floor)
    }
}

/// MONAI's 1-D Gaussian: `exp(x² / (-2 σ²))` for `x` from `-(n - 1) / 2`
/// to `(n - 1) / 2` in steps of 1, `σ = scale · n`; the argument in `f32`
/// as torch computes it, the exponential in `f64` rounded to `f32` (what
/// torch's `f32` `exp` gives for these arguments, and the same on every
/// machine, unlike a libm's `expf`).
fn gaussian(n: usize, scale: f64) -> Vec<f32> {
    let sigma = scale * n as f64;
    let denom = (-2.0 * sigma * sigma) as f32;
    (0..n)
        .map(|i| {
            let x = i as f32 - (n as f32 - 1.0) / 2.0;
            f64::from(x * x / denom).exp() as f32
        })
        .collect()
}

/// TorchIO's Hann profile: `0.5 · (1 - cos(2π (i + 1) / (n + 1)))`.
fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = 2.0 * std::f64::consts::PI * (i as f64 + 1.0) / (n as f64 + 1.0);
            (0.5 * (1.0 - t.cos())) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_profiles_follow_the_formula_and_peak_at_the_centre() {
        // n = 8, sigma = 1: x = -3.5 .. 3.5
        let g = gaussian(8, 0.125);
        assert_eq!(g.len(), 8);
        for (i, &v) in g.iter().enumerate() {
            let x = i as f64 - 3.5;
            let want = (-x * x / 2.0).exp();
            assert!((f64::from(v) - want).abs() < 1e-6, "{i}: {v} vs {want}");
        }
        assert_eq!(g[3], g[4]);
        // odd n: the centre is 1
        assert_eq!(gaussian(9, 0.125)[4], 1.0);
    }

    #[test]
    fn gaussian_weights_are_floored_as_monai() {
        let w = CellWeights::new(&Blend::gaussian(), &[9, 9, 9]);
        assert_eq!(w.at(&[4, 4, 4]), 1.0);
        // a corner of a 9³ cell (sigma 1.125): exp(-16 / 2.53125)³ < 1e-3
        assert_eq!(w.at(&[0, 0, 0]), GAUSSIAN_FLOOR);
        // even sides: not divided by the maximum (MONAI 1.6), the peak is
        // exp(-0.25 / 2)² for sigma 1
        let even = CellWeights::new(&Blend::gaussian(), &[8, 8]);
        let peak = (-0.125f64).exp() as f32;
        assert_eq!(even.at(&[3, 4]), peak * peak);
        // per-axis sigma
        let per = CellWeights::new(
            &Blend::Gaussian {
                sigma_scale: vec![0.125, 0.5],
            },
            &[8, 8],
        );
        assert!(per.at(&[3, 0]) > per.at(&[0, 3]));
    }

    #[test]
    fn hann_is_torchio_s_window() {
        let h = hann(3);
        // 0.5 (1 - cos(2π k / 4)), k = 1, 2, 3
        assert!((h[0] - 0.5).abs() < 1e-7);
        assert!((h[1] - 1.0).abs() < 1e-7);
        assert!((h[2] - 0.5).abs() < 1e-7);
        assert!(hann(16).iter().all(|&v| v > 0.0 && v <= 1.0));
    }

    #[test]
    fn mean_and_crop_weigh_every_voxel_alike() {
        for b in [Blend::Mean, Blend::Crop] {
            let w = CellWeights::new(&b, &[4, 5]);
            assert_eq!(w.at(&[0, 0]), 1.0);
            assert_eq!(w.at(&[3, 4]), 1.0);
        }
        assert_eq!(Blend::gaussian().name(), "gaussian");
    }
}
