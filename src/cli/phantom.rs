//! The 3D modified Shepp-Logan phantom (Toft's modification, as in the
//! usual `phantom3d`), made here so the demo needs no input file.

/// Intensity, semi-axes (a, b, c), centre (x, y, z), rotation about z in degrees.
type Ellipsoid = (f64, [f64; 3], [f64; 3], f64);

const ELLIPSOIDS: [Ellipsoid; 10] = [
    (1.0, [0.6900, 0.920, 0.810], [0.0, 0.0, 0.0], 0.0),
    (-0.8, [0.6624, 0.874, 0.780], [0.0, -0.0184, 0.0], 0.0),
    (-0.2, [0.1100, 0.310, 0.220], [0.22, 0.0, 0.0], -18.0),
    (-0.2, [0.1600, 0.410, 0.280], [-0.22, 0.0, 0.0], 18.0),
    (0.1, [0.2100, 0.250, 0.410], [0.0, 0.35, -0.15], 0.0),
    (0.1, [0.0460, 0.046, 0.050], [0.0, 0.1, 0.25], 0.0),
    (0.1, [0.0460, 0.046, 0.050], [0.0, -0.1, 0.25], 0.0),
    (0.1, [0.0460, 0.023, 0.050], [-0.08, -0.605, 0.0], 0.0),
    (0.1, [0.0230, 0.023, 0.020], [0.0, -0.606, 0.0], 0.0),
    (0.1, [0.0230, 0.046, 0.020], [0.06, -0.605, 0.0], 0.0),
];

/// An `n`³ phantom in C order, axes (z, y, x), values scaled to u16
/// (intensity 1.0 = 1000).
pub fn shepp_logan(n: usize) -> Vec<u16> {
    let coord = |i: usize| -> f64 {
        if n == 1 {
            0.0
        } else {
            -1.0 + 2.0 * i as f64 / (n - 1) as f64
        }
    };
    // (ellipsoid, cos phi, sin phi)
    let prepared: Vec<(Ellipsoid, f64, f64)> = ELLIPSOIDS
        .iter()
        .map(|e| {
            let (s, co) = e.3.to_radians().sin_cos();
            (*e, co, s)
        })
        .collect();
    let mut out = Vec::with_capacity(n * n * n);
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let (px, py, pz) = (coord(x), coord(y), coord(z));
                let mut v = 0.0;
                for ((a, ax, c, _), co, s) in &prepared {
                    let (dx, dy, dz) = (px - c[0], py - c[1], pz - c[2]);
                    let rx = co * dx + s * dy;
                    let ry = -s * dx + co * dy;
                    let q = (rx / ax[0]).powi(2) + (ry / ax[1]).powi(2) + (dz / ax[2]).powi(2);
                    if q <= 1.0 {
                        v += a;
                    }
                }
                out.push((v.max(0.0) * 1000.0).round() as u16);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn centre_and_corner() {
        let n = 33;
        let p = super::shepp_logan(n);
        assert_eq!(p.len(), n * n * n);
        // corner is outside the head, the centre is brain (1.0 - 0.8 = 0.2)
        assert_eq!(p[0], 0);
        let c = p[(n / 2) * n * n + (n / 2) * n + n / 2];
        assert_eq!(c, 200);
    }
}
