//! 2D images (PNG, TIFF, JPEG) decoded with the `image` crate into an
//! in-memory volume of shape `(height, width, channels)`.
//!
//! 8-bit images become `u8` volumes, 16-bit ones `u16`, float ones `f32`;
//! gray has 1 channel, gray+alpha 2, RGB 3, RGBA 4. The decoded pixels are an
//! [`ArrayVolume`], so grids, selections, views, stats and fragmentation are
//! the N-dimensional ones: a 2D image is the single-slice case. The `image`
//! crate's default allocation limit (512 MiB) applies; a larger image is an
//! error naming the file, not an abort.
//!
//! # The decode cache
//!
//! Decoding is most of the cost of reading a large PNG (about 0.45 s for an
//! 8192x8192 RGB image here, against 0.02 s to materialize all its 256²
//! cells). [`ImageVolume::open_cached`] decodes once into a file in
//! `<cache dir>/impart-cache/` and memory-maps it from then on, as the NIfTI
//! backend does for `.nii.gz`: **disk cost, one uncompressed copy of the
//! pixels** (plus a 64-byte header), named by the source's path, size and
//! modification time, written atomically, and removed again when the cache
//! outgrows its limits (least recently used first; see [`crate::io::cache`]
//! and [`ImageVolume::open_cached_in`]).

use std::io::Write;
use std::path::Path;

use ndarray::Array3;

use super::{AccessHint, ArrayVolume, Layout, RawOptions, RawVolume, Volume};
use crate::dtype::{ByteOrder, DType, Element};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::io::DecodeCache;

/// First bytes of a decode-cache file; then height, width and channels as
/// little-endian u64, the dtype's name padded with zeros to 16 bytes, and
/// pixels from byte [`CACHE_HEADER`] in native byte order.
const CACHE_MAGIC: &[u8; 16] = b"impart-pixels-1\n";
const CACHE_HEADER: usize = 64;

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
    /// The decode cache, memory-mapped.
    Mapped(RawVolume),
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
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if it cannot be opened or its first
    /// bytes read; [`Error::InvalidHeader`] naming it if the format is not
    /// recognised or the image does not decode (a decoder's read error, or
    /// an image larger than
    /// [`MemoryLimits::decode_bytes`](crate::MemoryLimits::decode_bytes),
    /// included); [`Error::UnsupportedDType`] for pixels other than gray,
    /// gray+alpha, RGB or RGBA of `u8` or `u16`, or RGB or RGBA of `f32`;
    /// [`Error::InvalidLayout`] for an image of width or height 0.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        use ::image::DynamicImage as D;
        let path = path.as_ref();
        let decode_error = |e: ::image::ImageError| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("cannot decode the image: {e}"),
        };
        let mut reader = ::image::ImageReader::open(path)
            .map_err(|e| Error::io(path, e))?
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))?;
        // the decode's budget comes from the machine, not from `image`'s
        // fixed 512 MiB default (which refuses a valid 16000² RGB PNG)
        let mut limits = ::image::Limits::default();
        limits.max_alloc = Some(crate::io::MemoryLimits::detect().decode_bytes());
        reader.limits(limits);
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

    /// Like [`open`](Self::open), through the decode cache in
    /// `<cache_dir>/impart-cache/` (see the [module docs](self)) under the
    /// limits of [`CacheLimits::from_env`](crate::CacheLimits::from_env):
    /// [`open_cached_in`](Self::open_cached_in) with
    /// [`DecodeCache::new`]`(cache_dir)`.
    ///
    /// # Errors
    ///
    /// As [`open_cached_in`](Self::open_cached_in).
    pub fn open_cached(path: impl AsRef<Path>, cache_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_cached_in(path, &DecodeCache::new(cache_dir))
    }

    /// Like [`open`](Self::open), through `cache`: the first call decodes
    /// and writes a cache file (then removes the least recently used files
    /// beyond the cache's limits), later calls map it without decoding
    /// while the source is unchanged (and mark it as used).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the source if its metadata cannot be read, the
    /// cache directory if it cannot be made, or the cache file if it cannot
    /// be written or renamed into place; as [`open`](Self::open) when the
    /// image is decoded; [`Error::InvalidHeader`] naming the cache file if
    /// the copy just written does not map back. A cache file that is
    /// missing, stale or incomplete is not an error: the image is decoded
    /// again. Nor is a failed eviction (see [`crate::io::cache`]).
    pub fn open_cached_in(path: impl AsRef<Path>, cache: &DecodeCache) -> Result<Self> {
        let path = path.as_ref();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = cache.target(path, CACHE_MAGIC, &format!("{file_name}.pixels"))?;
        if let Some(volume) = Self::map_cache(path, &target)? {
            DecodeCache::touch(&target);
            return Ok(volume);
        }
        let decoded = Self::open(path)?;
        cache.write(&target, |w, tmp| {
            let mut header = [0u8; CACHE_HEADER];
            header[..16].copy_from_slice(CACHE_MAGIC);
            for (k, &n) in decoded.shape().iter().enumerate() {
                header[16 + 8 * k..24 + 8 * k].copy_from_slice(&(n as u64).to_le_bytes());
            }
            let name = decoded.dtype().name().as_bytes();
            header[40..40 + name.len()].copy_from_slice(name);
            let bytes: &[u8] = match &decoded.pixels {
                Pixels::U8(v) => bytemuck::cast_slice(v.array().as_slice().unwrap_or_default()),
                Pixels::U16(v) => bytemuck::cast_slice(v.array().as_slice().unwrap_or_default()),
                Pixels::F32(v) => bytemuck::cast_slice(v.array().as_slice().unwrap_or_default()),
                Pixels::Mapped(v) => v.layout().map(|l| l.bytes()).unwrap_or_default(),
            };
            w.write_all(&header).map_err(|e| Error::io(tmp, e))?;
            w.write_all(bytes).map_err(|e| Error::io(tmp, e))
        })?;
        match Self::map_cache(path, &target)? {
            Some(volume) => Ok(volume),
            // another process evicted the copy just written: the pixels
            // are in memory anyway
            None if !target.exists() => Ok(decoded),
            None => Err(Error::InvalidHeader {
                path: target.clone(),
                detail: "the decode cache just written does not read back".into(),
            }),
        }
    }

    /// Maps a complete decode-cache file, or `None` if there is none (or it
    /// is not one this version wrote, or not complete).
    fn map_cache(source: &Path, cache: &Path) -> Result<Option<Self>> {
        let Ok(mut file) = std::fs::File::open(cache) else {
            return Ok(None);
        };
        let mut header = [0u8; CACHE_HEADER];
        if std::io::Read::read_exact(&mut file, &mut header).is_err()
            || &header[..16] != CACHE_MAGIC
        {
            return Ok(None);
        }
        let dim = |k: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[16 + 8 * k..24 + 8 * k]);
            usize::try_from(u64::from_le_bytes(b)).ok()
        };
        let name = String::from_utf8_lossy(&header[40..56]);
        let (Some(h), Some(w), Some(c), Ok(dtype)) = (
            dim(0),
            dim(1),
            dim(2),
            name.trim_end_matches('\0').parse::<DType>(),
        ) else {
            return Ok(None);
        };
        let options = RawOptions::new(&[h, w, c], dtype)
            .byte_order(ByteOrder::native())
            .offset(CACHE_HEADER as u64);
        match RawVolume::open(cache, &options) {
            Ok(raw)
                if std::fs::metadata(cache).map(|m| m.len()).ok()
                    == Some(CACHE_HEADER as u64 + (h * w * c * dtype.size()) as u64) =>
            {
                Ok(Some(ImageVolume {
                    name: source.display().to_string(),
                    pixels: Pixels::Mapped(raw),
                }))
            }
            _ => Ok(None),
        }
    }

    /// Whether the pixels come from the decode cache (memory-mapped) rather
    /// than from decoding into memory.
    pub fn is_cached(&self) -> bool {
        matches!(self.pixels, Pixels::Mapped(_))
    }

    fn inner(&self) -> &dyn Volume {
        match &self.pixels {
            Pixels::U8(v) => v,
            Pixels::U16(v) => v,
            Pixels::F32(v) => v,
            Pixels::Mapped(v) => v,
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

    fn hint(&self, hint: AccessHint) {
        self.inner().hint(hint)
    }

    fn kind(&self) -> &'static str {
        "image"
    }
}
