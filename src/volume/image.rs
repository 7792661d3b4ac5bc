//! 2D images (PNG, TIFF, JPEG) decoded with the `image` crate into an
//! in-memory volume of shape `(height, width, channels)`.
//!
//! 8-bit images become `u8` volumes, 16-bit ones `u16`, float ones `f32`;
//! gray has 1 channel, gray+alpha 2, RGB 3, RGBA 4. The decoded pixels are an
//! [`ArrayVolume`], so grids, selections, views, stats and fragmentation are
//! the N-dimensional ones: a 2D image is the single-slice case. The `image`
//! crate's default allocation limit (512 MiB) applies; a larger image is an
//! error naming the file, not an abort.

use std::path::Path;

use ndarray::Array3;

use super::{ArrayVolume, Layout, Volume};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::grid::Region;

/// A decoded 2D image, shape `(height, width, channels)`.
#[derive(Debug)]
pub struct ImageVolume {
    name: String,
    pixels: Pixels,
}

#[derive(Debug)]
enum Pixels {
    U8(ArrayVolume<'static, u8>),
    U16(ArrayVolume<'static, u16>),
    F32(ArrayVolume<'static, f32>),
}

fn to_volume<T: Element>(
    path: &Path,
    width: u32,
    height: u32,
    channels: usize,
    raw: Vec<T>,
) -> Result<ArrayVolume<'static, T>> {
    let shape = (height as usize, width as usize, channels);
    let array = Array3::from_shape_vec(shape, raw).map_err(|e| Error::InvalidHeader {
        path: path.to_path_buf(),
        detail: format!("decoded pixels do not fill {shape:?}: {e}"),
    })?;
    ArrayVolume::new(array)
}

impl ImageVolume {
    /// Decodes the image at `path` (format guessed from its content).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        use ::image::DynamicImage as D;
        let path = path.as_ref();
        let decode_error = |e: ::image::ImageError| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("cannot decode the image: {e}"),
        };
        let reader = ::image::ImageReader::open(path)
            .map_err(|e| Error::io(path, e))?
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))?;
        let img = reader.decode().map_err(decode_error)?;
        let (w, h) = (img.width(), img.height());
        let pixels = match img {
            D::ImageLuma8(b) => Pixels::U8(to_volume(path, w, h, 1, b.into_raw())?),
            D::ImageLumaA8(b) => Pixels::U8(to_volume(path, w, h, 2, b.into_raw())?),
            D::ImageRgb8(b) => Pixels::U8(to_volume(path, w, h, 3, b.into_raw())?),
            D::ImageRgba8(b) => Pixels::U8(to_volume(path, w, h, 4, b.into_raw())?),
            D::ImageLuma16(b) => Pixels::U16(to_volume(path, w, h, 1, b.into_raw())?),
            D::ImageLumaA16(b) => Pixels::U16(to_volume(path, w, h, 2, b.into_raw())?),
            D::ImageRgb16(b) => Pixels::U16(to_volume(path, w, h, 3, b.into_raw())?),
            D::ImageRgba16(b) => Pixels::U16(to_volume(path, w, h, 4, b.into_raw())?),
            D::ImageRgb32F(b) => Pixels::F32(to_volume(path, w, h, 3, b.into_raw())?),
            D::ImageRgba32F(b) => Pixels::F32(to_volume(path, w, h, 4, b.into_raw())?),
            other => {
                return Err(Error::UnsupportedDType {
                    path: path.to_path_buf(),
                    name: format!("{:?} pixels", other.color()),
                })
            }
        };
        Ok(ImageVolume {
            name: path.display().to_string(),
            pixels,
        })
    }

    fn inner(&self) -> &dyn Volume {
        match &self.pixels {
            Pixels::U8(v) => v,
            Pixels::U16(v) => v,
            Pixels::F32(v) => v,
        }
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.inner().shape()[0]
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.inner().shape()[1]
    }

    /// Number of channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    pub fn channels(&self) -> usize {
        self.inner().shape()[2]
    }
}

impl Volume for ImageVolume {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        self.inner().shape()
    }

    fn dtype(&self) -> DType {
        self.inner().dtype()
    }

    fn layout(&self) -> Option<Layout<'_>> {
        self.inner().layout()
    }

    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        self.inner().read_region(region, out)
    }

    fn kind(&self) -> &'static str {
        "image"
    }
}
