//! World coordinates of a selection: the volume's affine with the
//! selection's start folded in.

use crate::volume::Volume;

use super::Selected;

impl<V: Volume> Selected<'_, V> {
    /// The volume's affine with this selection's start folded in: voxel
    /// `(i, j, k)` of the selection maps to world millimetres, so a cell
    /// written as its own file overlays the source in a viewer.
    pub fn affine(&self) -> Option<[[f64; 4]; 4]> {
        let mut a = self.partition.volume.affine()?;
        let o = self.start_ijk();
        for row in a.iter_mut().take(3) {
            row[3] += row[0] * o[0] + row[1] * o[1] + row[2] * o[2];
        }
        Some(a)
    }

    /// World position (millimetres) of the selection's first voxel.
    pub fn world_origin(&self) -> Option<[f64; 3]> {
        let a = self.affine()?;
        Some([a[0][3], a[1][3], a[2][3]])
    }

    /// World coordinates of the selection's first voxel, whatever map the
    /// volume has: the three of its [`affine`](Self::affine) (x, y, z in
    /// millimetres: NIfTI), or one per volume axis in the axes' units from
    /// its [`axis_transform`](crate::Volume::axis_transform) (an OME-Zarr
    /// level). This is what the command line prints as `world_origin`.
    pub fn world_start(&self) -> Option<Vec<f64>> {
        if let Some(w) = self.world_origin() {
            return Some(w.to_vec());
        }
        let t = self.partition.volume.axis_transform()?;
        Some(t.world(self.region.start()))
    }

    /// The start on the first three volume axes (missing axes are 0).
    fn start_ijk(&self) -> [f64; 3] {
        let mut o = [0.0; 3];
        for (slot, &s) in o.iter_mut().zip(self.region.start()) {
            *slot = s as f64;
        }
        o
    }
}
