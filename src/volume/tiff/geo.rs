//! GeoTIFF: the pixel-to-world affine of `ModelTransformationTag`, or of
//! `ModelTiepointTag` with `ModelPixelScaleTag`, and the GeoKeys that name
//! the coordinate reference system, kept verbatim so a tile written from a
//! window of the image carries them too.

use tiff::decoder::ifd::Value;
use tiff::tags::Tag;
use tiff::Directory;

use super::ifd::{guarded, TiffDecoder};

/// Tag numbers of GeoTIFF 1.1.
pub(crate) const MODEL_PIXEL_SCALE: u16 = 33550;
pub(crate) const MODEL_TIEPOINT: u16 = 33922;
pub(crate) const MODEL_TRANSFORMATION: u16 = 34264;
pub(crate) const GEO_KEY_DIRECTORY: u16 = 34735;
pub(crate) const GEO_DOUBLE_PARAMS: u16 = 34736;
pub(crate) const GEO_ASCII_PARAMS: u16 = 34737;

/// `GTRasterTypeGeoKey`.
const RASTER_TYPE_KEY: u16 = 1025;

/// What a GeoTIFF pixel's coordinates name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RasterType {
    /// The affine maps a pixel's corner (`PixelIsArea`, GeoTIFF's default).
    PixelIsArea,
    /// The tags map a pixel's centre (`PixelIsPoint`); the affine here is
    /// shifted by half a pixel to map corners, as GDAL (and so rasterio
    /// and QGIS) does by default.
    PixelIsPoint,
}

/// The georeference of a GeoTIFF page.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoTiff {
    /// `ModelPixelScaleTag`: `(ScaleX, ScaleY, ScaleZ)`.
    pub pixel_scale: Option<Vec<f64>>,
    /// `ModelTiepointTag`: `(I, J, K, X, Y, Z)` per tiepoint.
    pub tiepoints: Option<Vec<f64>>,
    /// `ModelTransformationTag`: a 4x4 matrix, row-major.
    pub transformation: Option<Vec<f64>>,
    /// `GeoKeyDirectoryTag`, verbatim.
    pub geo_keys: Option<Vec<u16>>,
    /// `GeoDoubleParamsTag`, verbatim.
    pub geo_doubles: Option<Vec<f64>>,
    /// `GeoAsciiParamsTag`, verbatim.
    pub geo_ascii: Option<String>,
    /// `GTRasterTypeGeoKey`.
    pub raster_type: RasterType,
}

impl GeoTiff {
    /// The GeoTIFF tags of `dir`, or `None` if it has neither a
    /// transformation nor a tiepoint.
    pub(super) fn read(decoder: &mut TiffDecoder, dir: &Directory) -> Option<GeoTiff> {
        let mut value = |code: u16| -> Option<Value> {
            let mut tags = decoder.read_directory_tags(dir);
            guarded(|| tags.find_tag(Tag::Unknown(code)))?.ok()?
        };
        let doubles = |v: Option<Value>| v.and_then(|v| v.into_f64_vec().ok());
        let pixel_scale = doubles(value(MODEL_PIXEL_SCALE));
        let tiepoints = doubles(value(MODEL_TIEPOINT));
        let transformation = doubles(value(MODEL_TRANSFORMATION)).filter(|t| t.len() == 16);
        if tiepoints.is_none() && transformation.is_none() {
            return None;
        }
        let geo_keys = value(GEO_KEY_DIRECTORY).and_then(|v| v.into_u16_vec().ok());
        let geo_doubles = doubles(value(GEO_DOUBLE_PARAMS));
        let geo_ascii = value(GEO_ASCII_PARAMS).and_then(|v| v.into_string().ok());
        let raster_type = match geo_keys
            .as_deref()
            .and_then(|k| key_value(k, RASTER_TYPE_KEY))
        {
            Some(2) => RasterType::PixelIsPoint,
            _ => RasterType::PixelIsArea,
        };
        Some(GeoTiff {
            pixel_scale,
            tiepoints,
            transformation,
            geo_keys,
            geo_doubles,
            geo_ascii,
            raster_type,
        })
    }

    /// The affine from pixel `(col, row)` corners to world coordinates,
    /// GDAL's order: `x = a·col + b·row + c`, `y = d·col + e·row + f`,
    /// and `z = g·col + h·row + i` (0 unless a transformation says
    /// otherwise), as `[[a, b, c], [d, e, f], [g, h, i]]`. `None` when the
    /// tags give no single affine (several tiepoints without a scale:
    /// ground control points).
    pub fn affine(&self) -> Option<[[f64; 3]; 3]> {
        let mut m = if let Some(t) = &self.transformation {
            [[t[0], t[1], t[3]], [t[4], t[5], t[7]], [t[8], t[9], t[11]]]
        } else {
            let tp = self.tiepoints.as_deref()?;
            let s = self.pixel_scale.as_deref()?;
            if tp.len() < 6 || s.len() < 2 {
                return None;
            }
            let (i, j, k, x, y, z) = (tp[0], tp[1], tp[2], tp[3], tp[4], tp[5]);
            let sz = s.get(2).copied().unwrap_or(0.0);
            [
                [s[0], 0.0, x - i * s[0]],
                [0.0, -s[1], y + j * s[1]],
                [0.0, 0.0, z - k * sz],
            ]
        };
        if self.raster_type == RasterType::PixelIsPoint {
            for row in &mut m {
                row[2] -= 0.5 * (row[0] + row[1]);
            }
        }
        m.iter().flatten().all(|v| v.is_finite()).then_some(m)
    }

    /// The tags of a window of the image whose top-left pixel is pixel
    /// `(row, col)` of this one: the same coordinate reference system and
    /// pixel size, the affine moved to the window (a tiepoint at the
    /// window's first pixel, or the transformation's translation). `None`
    /// without an affine.
    pub fn window(&self, row: f64, col: f64) -> Option<GeoTiff> {
        let m = self.affine()?;
        // back from corners to what the raster type names
        let (r, c) = match self.raster_type {
            RasterType::PixelIsArea => (row, col),
            RasterType::PixelIsPoint => (row + 0.5, col + 0.5),
        };
        let at = |k: usize| m[k][0] * c + m[k][1] * r + m[k][2];
        let mut out = self.clone();
        if out.transformation.is_some() || m[0][1] != 0.0 || m[1][0] != 0.0 {
            let mut t = vec![0.0; 16];
            for k in 0..3 {
                t[4 * k] = m[k][0];
                t[4 * k + 1] = m[k][1];
                t[4 * k + 3] = at(k);
            }
            if let Some(src) = &self.transformation {
                t[2] = src[2];
                t[6] = src[6];
                t[10] = src[10];
            }
            t[15] = 1.0;
            out.transformation = Some(t);
            out.tiepoints = None;
            out.pixel_scale = None;
        } else {
            out.tiepoints = Some(vec![0.0, 0.0, 0.0, at(0), at(1), at(2)]);
            out.pixel_scale = Some(vec![
                m[0][0],
                -m[1][1],
                self.pixel_scale
                    .as_ref()
                    .and_then(|s| s.get(2).copied())
                    .unwrap_or(0.0),
            ]);
        }
        Some(out)
    }
}

/// The value of `key` in a GeoKeyDirectory, if stored inline.
fn key_value(keys: &[u16], key: u16) -> Option<u16> {
    let n = usize::from(*keys.get(3)?);
    keys.get(4..)?
        .chunks_exact(4)
        .take(n)
        .find(|e| e[0] == key && e[1] == 0)
        .map(|e| e[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiepoint(raster_type: RasterType) -> GeoTiff {
        GeoTiff {
            pixel_scale: Some(vec![0.5, 0.25, 0.0]),
            tiepoints: Some(vec![2.0, 4.0, 0.0, 100.25, 200.5, 0.0]),
            transformation: None,
            geo_keys: None,
            geo_doubles: None,
            geo_ascii: None,
            raster_type,
        }
    }

    #[test]
    fn a_tiepoint_and_scale_give_gdal_s_affine() {
        // GDAL: x0 = 100.25 - 2 * 0.5, y0 = 200.5 + 4 * 0.25
        let m = tiepoint(RasterType::PixelIsArea).affine().expect("affine");
        assert_eq!(m[0], [0.5, 0.0, 99.25]);
        assert_eq!(m[1], [0.0, -0.25, 201.5]);
        // a point raster's corners are half a pixel up and left
        let p = tiepoint(RasterType::PixelIsPoint).affine().expect("affine");
        assert_eq!(p[0][2], 99.0);
        assert_eq!(p[1][2], 201.625);
    }

    #[test]
    fn a_window_keeps_its_place_in_the_world() {
        for rt in [RasterType::PixelIsArea, RasterType::PixelIsPoint] {
            let g = tiepoint(rt);
            let m = g.affine().expect("affine");
            let w = g
                .window(8.0, 16.0)
                .expect("window")
                .affine()
                .expect("affine");
            assert_eq!(w[0][2], m[0][0] * 16.0 + m[0][2]);
            assert_eq!(w[1][2], m[1][1] * 8.0 + m[1][2]);
            assert_eq!((w[0][0], w[1][1]), (m[0][0], m[1][1]));
        }
    }

    #[test]
    fn raster_type_is_read_from_the_key_directory() {
        let keys = [1, 1, 0, 2, 1024, 0, 1, 1, 1025, 0, 1, 2];
        assert_eq!(key_value(&keys, 1025), Some(2));
        assert_eq!(key_value(&keys, 3072), None);
        assert_eq!(key_value(&[1, 1], 1025), None);
    }
}
