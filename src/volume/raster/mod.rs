//! 2D images: PNG and JPEG of any size, as a volume of shape
//! `(height, width, channels)`.
//!
//! 8-bit images become `u8` volumes, 16-bit ones `u16`; gray has 1
//! channel, gray+alpha 2, RGB 3, RGBA 4 (palette PNGs are expanded to RGB,
//! or RGBA with a `tRNS` chunk; 1-, 2- and 4-bit gray is scaled to 8 bits;
//! CMYK and YCCK JPEGs are converted to RGB: the pixels the `image` crate
//! decoded). Grids, selections, views, stats and fragmentation are the
//! N-dimensional ones: a 2D image is the single-slice case.
//!
//! PNG is decoded by the `png` crate, JPEG by `zune-jpeg` (the decoders
//! behind `image`, with its settings); TIFF, when the `tiff` feature is
//! off, by the `image` crate, into memory.
//!
//! # Where the pixels go
//!
//! A PNG or JPEG cannot be read in place, so it is decoded once when it is
//! opened ([`ImageVolume::storage`] says where the pixels went):
//!
//! - **into memory** ([`ImageStorage::Memory`]) when its decoded pixels
//!   take at most [`ImageOptions::in_memory_max`]: by default
//!   [`DEFAULT_IN_MEMORY_MAX`] (256 MiB), at most half of the memory
//!   available ([`MemoryLimits::decode_in_memory_bytes`]), or what the
//!   environment variable [`ENV_IN_MEMORY_MAX`]
//!   (`IMPART_DECODE_IN_MEMORY_MAX`: `512M`, `4G`, `0`, or `none` for no
//!   limit) says;
//! - **into a temporary cache file** ([`ImageStorage::Temporary`]) when it
//!   is larger and no cache is given: a file in `<temp dir>/impart-cache/`
//!   (the system temp directory, `TMPDIR` on Unix, or
//!   [`ImageOptions::temp_dir`]) under the cache's temporary name
//!   `.<name>.pixels.<pid>-<nonce>-<n>.impart-tmp`, readable by its owner only,
//!   memory-mapped, and removed: on Unix as soon as it is mapped (its disk
//!   space returns when the volume is dropped, even if the process is
//!   killed), elsewhere when the volume is dropped. It is not synced and
//!   not reused by later opens; the leftover of a crash during the decode
//!   is removed by the cache's eviction a day later (see
//!   [`crate::io::cache`]). **Disk cost while open: one uncompressed copy
//!   of the pixels.** Where the temp directory is a RAM-backed `tmpfs`,
//!   point `TMPDIR` or the cache elsewhere;
//! - **into the decode cache** ([`ImageStorage::Cache`]) when one is given
//!   ([`ImageVolume::open_cached`], [`ImageOptions::cache`],
//!   `OpenOptions::cache_dir`, the CLI's `--cache-dir`), whatever the
//!   size: a file in `<cache dir>/impart-cache/` named by the source's path,
//!   size and modification time, written atomically and synced, mapped on
//!   this and every later open while the source is unchanged, and removed
//!   again when the cache outgrows its limits (least recently used first;
//!   see [`crate::io::cache`] and [`ImageVolume::open_cached_in`]). **Disk
//!   cost: one uncompressed copy of the pixels** (plus a 64-byte header).
//!
//! Decoding into a file keeps resident memory bounded whatever the image's
//! size: a non-interlaced PNG is decoded row by row into a batch of about
//! 4 MiB that is appended to the file; an interlaced PNG and a JPEG are
//! decoded straight into a writable mapping of the file while, on Linux, a
//! helper thread releases the mapping's pages from the resident set every
//! 50 ms (they stay in the page cache; the kernel writes them back).
//! Progressive JPEGs are the exception: `zune-jpeg` holds their DCT
//! coefficients in memory (2 bytes per sample) while it decodes.
//!
//! Decoding is most of the cost of reading a large PNG (about 0.45 s for an
//! 8192x8192 RGB image here, against 0.02 s to materialize all its 256²
//! cells): a program that opens the same large image again and again
//! should give a cache directory.
//!
//! # Limits and errors
//!
//! No fixed allocation limit refuses a valid image. Hostile headers are
//! caught before anything is allocated: a PNG's chunks are walked first
//! (a chunk past the end of the file is [`Error::Truncated`]) and its
//! header must not claim more pixels than its compressed data can hold
//! (deflate expands at most 1032 times); a JPEG must reach its end-of-image
//! marker ([`Error::Truncated`] otherwise) and have at least one bit per
//! 8x8 block. Either is [`Error::InvalidHeader`] otherwise. A decoded copy
//! that would not fit on its file system is
//! [`Error::InsufficientSpace`], checked (`statvfs`) before writing. Corrupt
//! image data is [`Error::Decode`] with the decoder's error as its source;
//! a coding the decoders do not support (arithmetic or 12-bit JPEG) is
//! [`Error::Unsupported`].
//!
//! The source is memory-mapped while a JPEG is decoded, and a decode-cache
//! file while the volume is open: as for [`RawVolume`], they must not be
//! truncated by another process meanwhile (a read past the new end raises
//! `SIGBUS`).

mod jpeg;
mod png;
mod target;

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::Array3;

use self::jpeg::JpegImage;
use self::png::PngImage;
use self::target::{
    check_space, write_temp, Buffer, PixelFile, Shape, TempFile, CACHE_HEADER, CACHE_MAGIC,
};
use super::{AccessHint, ArrayVolume, Layout, RawOptions, RawVolume, Volume};
use crate::dtype::{ByteOrder, DType, Element};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::io::{DecodeCache, FileStamp, MemoryLimits};

/// The environment variable that sets the default
/// [`ImageOptions::in_memory_max`]: a byte count as
/// [`parse_bytes`](crate::io::cache::parse_bytes) reads it (`512M`, `4G`,
/// `0` to decode every image to a file) or `none` (every image in memory).
pub const ENV_IN_MEMORY_MAX: &str = "IMPART_DECODE_IN_MEMORY_MAX";

/// The default [`ImageOptions::in_memory_max`], 256 MiB (at most half of
/// the memory available: [`MemoryLimits::decode_in_memory_bytes`], which
/// says why).
pub const DEFAULT_IN_MEMORY_MAX: u64 = MemoryLimits::DECODE_IN_MEMORY_DEFAULT;

/// A decoded 2D image, shape `(height, width, channels)`; see the
/// [module docs](self).
#[derive(Debug)]
pub struct ImageVolume {
    name: String,
    pixels: Pixels,
    storage: ImageStorage,
    /// The source file, stamped before it was read (see
    /// [`Volume::check_unchanged`]).
    stamp: FileStamp,
    /// Removes a temporary cache file once `pixels` (its mapping, declared
    /// before it and so dropped first) is gone; `None` on Unix, where the
    /// file is removed as soon as it is mapped.
    _temporary: Option<TempFile>,
}

#[derive(Debug)]
enum Pixels {
    U8(ArrayVolume<'static, u8>),
    U16(ArrayVolume<'static, u16>),
    F32(ArrayVolume<'static, f32>),
    /// A decode-cache file, memory-mapped.
    Mapped(RawVolume),
}

/// Where an [`ImageVolume`]'s pixels are; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageStorage {
    /// Decoded into memory.
    Memory,
    /// Memory-mapped from a file of the decode cache, which later opens of
    /// the unchanged source map again.
    Cache {
        /// The cache file.
        path: PathBuf,
    },
    /// Memory-mapped from a temporary cache file, because the decoded
    /// image is larger than the most decoded in memory and no cache was
    /// given. The file is removed when the volume is dropped (on Unix,
    /// already when it was mapped; its space returns when the volume is
    /// dropped).
    Temporary {
        /// The file (on Unix already removed: the name is for messages).
        path: PathBuf,
        /// The [`ImageOptions::in_memory_max`] the image exceeded.
        in_memory_max: u64,
    },
}

impl ImageStorage {
    /// A sentence for people: where the pixels are and why.
    pub fn describe(&self) -> String {
        match self {
            ImageStorage::Memory => "decoded in memory".into(),
            ImageStorage::Cache { path } => {
                format!("memory-mapped from the decode cache {}", path.display())
            }
            ImageStorage::Temporary {
                path,
                in_memory_max,
            } => format!(
                "decoded to the temporary cache file {} (memory-mapped; larger than the \
                 {} decoded in memory, {ENV_IN_MEMORY_MAX}; removed when closed; \
                 --cache-dir keeps a copy for later runs)",
                path.display(),
                bytes_text(*in_memory_max)
            ),
        }
    }
}

/// `256 MiB`, `1 GiB` or `1000 bytes`.
fn bytes_text(n: u64) -> String {
    match n {
        0 => "0 bytes".into(),
        n if n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

fn to_volume<T: Element>(
    path: &Path,
    shape: &Shape,
    raw: Vec<T>,
) -> Result<ArrayVolume<'static, T>> {
    let dims = (shape.height, shape.width, shape.channels);
    let array = Array3::from_shape_vec(dims, raw).map_err(|e| Error::InvalidLayout {
        volume: path.display().to_string(),
        detail: format!("decoded pixels do not fill {dims:?}: {e}"),
    })?;
    ArrayVolume::new(array)
}

/// How [`ImageOptions::open`] decodes: the cache to use, the most decoded
/// into memory without one, and where temporary cache files go; see the
/// [module docs](self).
///
/// ```no_run
/// use impart::{DecodeCache, ImageOptions, ImageStorage};
///
/// // a whole-slide PNG: decoded once into /scratch/impart-cache, mapped after
/// let slide = ImageOptions::new()
///     .cache(DecodeCache::new("/scratch"))
///     .open("slide.png")?;
/// // anything above 256 MiB goes to a temporary file on /scratch
/// let tile = ImageOptions::new()
///     .in_memory_max(256 << 20)
///     .temp_dir("/scratch")
///     .open("tile.jpg")?;
/// if let ImageStorage::Temporary { path, .. } = tile.storage() {
///     println!("decoded to {}", path.display());
/// }
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOptions {
    cache: Option<DecodeCache>,
    in_memory_max: Option<u64>,
    temp_dir: Option<PathBuf>,
}

impl ImageOptions {
    /// No cache, the default in-memory limit ([`default_in_memory_max`](Self::default_in_memory_max)),
    /// temporary cache files in the system temp directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode through `cache` (whatever the image's size): see
    /// [`ImageVolume::open_cached_in`].
    pub fn cache(mut self, cache: DecodeCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Without a cache, images whose decoded pixels take more than `bytes`
    /// go to a temporary cache file instead of memory (`0`: every image;
    /// `u64::MAX`: none). Default: [`default_in_memory_max`](Self::default_in_memory_max).
    pub fn in_memory_max(mut self, bytes: u64) -> Self {
        self.in_memory_max = Some(bytes);
        self
    }

    /// The directory in whose `impart-cache` subdirectory temporary cache
    /// files go (default: [`std::env::temp_dir`]).
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// The in-memory limit when none is given: [`ENV_IN_MEMORY_MAX`] where
    /// it is set and parses, else [`DEFAULT_IN_MEMORY_MAX`] capped at half
    /// the available memory ([`MemoryLimits::decode_in_memory_bytes`]).
    pub fn default_in_memory_max() -> u64 {
        Self::in_memory_max_from_env()
            .ok()
            .flatten()
            .unwrap_or_else(|| MemoryLimits::detect().decode_in_memory_bytes())
    }

    /// The limit [`ENV_IN_MEMORY_MAX`] sets: `None` when unset or empty,
    /// `u64::MAX` for `none`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the variable if its value does
    /// not parse or is not Unicode.
    pub fn in_memory_max_from_env() -> Result<Option<u64>> {
        let text = match std::env::var(ENV_IN_MEMORY_MAX) {
            Ok(t) if t.trim().is_empty() => return Ok(None),
            Ok(t) => t,
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(Error::InvalidArgument {
                    what: ENV_IN_MEMORY_MAX,
                    detail: format!("{v:?} is not Unicode"),
                })
            }
        };
        if matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "none" | "unlimited" | "off"
        ) {
            return Ok(Some(u64::MAX));
        }
        crate::io::cache::parse_bytes(&text)
            .map(Some)
            .map_err(|e| match e {
                Error::InvalidArgument { detail, .. } => Error::InvalidArgument {
                    what: ENV_IN_MEMORY_MAX,
                    detail,
                },
                e => e,
            })
    }

    /// The in-memory limit these options apply.
    pub fn effective_in_memory_max(&self) -> u64 {
        self.in_memory_max
            .unwrap_or_else(Self::default_in_memory_max)
    }

    /// Decodes the image at `path` (format told by its first bytes) where
    /// these options say; see the [module docs](self).
    ///
    /// # Errors
    ///
    /// - [`Error::Io`] naming the file if it cannot be opened or read, or
    ///   naming a cache file or directory that cannot be made, written or
    ///   mapped;
    /// - [`Error::Truncated`] for a PNG or JPEG that ends early;
    /// - [`Error::InvalidHeader`] for a file in no format these decoders
    ///   know, a malformed header, or one claiming more pixels than the
    ///   file can hold;
    /// - [`Error::Decode`] for image data that does not decode (the
    ///   decoder's error is the source);
    /// - [`Error::Unsupported`] for a coding the decoders do not support;
    /// - [`Error::UnsupportedDType`] for pixels (of a TIFF decoded by
    ///   `image`) other than gray, gray+alpha, RGB or RGBA of `u8` or
    ///   `u16`, or RGB or RGBA of `f32`;
    /// - [`Error::TooLarge`] if memory for the decoded pixels (or a
    ///   decoder's working memory) cannot be had;
    /// - [`Error::InsufficientSpace`] if the decoded copy does not fit on
    ///   the file system of the cache or temp directory.
    ///
    /// Through a cache, as [`ImageVolume::open_cached_in`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<ImageVolume> {
        let path = path.as_ref();
        // stamped before anything is read from it
        let stamp = FileStamp::of(path)?;
        self.open_stamped(path, stamp)
    }

    fn open_stamped(&self, path: &Path, stamp: FileStamp) -> Result<ImageVolume> {
        if let Some(cache) = &self.cache {
            return self.open_through(path, cache, stamp);
        }
        let decoder = Decoder::open(path)?;
        let shape = decoder.shape();
        let bytes = shape.bytes().unwrap_or(usize::MAX) as u64;
        let in_memory_max = self.effective_in_memory_max();
        if bytes <= in_memory_max || !decoder.streams() {
            return Ok(ImageVolume {
                name: path.display().to_string(),
                pixels: decoder.into_memory(path)?,
                storage: ImageStorage::Memory,
                stamp,
                _temporary: None,
            });
        }
        let parent = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = DecodeCache::new(parent).dir().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        check_space(path, &dir, bytes.saturating_add(CACHE_HEADER as u64))?;
        let tmp = write_temp(&dir, &cache_name(path), |w, tmp| {
            decoder.into_file(&mut PixelFile::new(w, tmp, shape, false)?)
        })?;
        let guard = TempFile { path: tmp.clone() };
        let raw = map_cache(&tmp)?.ok_or_else(|| Error::InvalidHeader {
            path: tmp.clone(),
            detail: "the temporary cache file just written does not read back".into(),
        })?;
        // the mapping holds the pixels now; on Unix the name can go at
        // once, so that nothing is left behind whatever ends the process
        #[cfg(unix)]
        let guard = {
            drop(guard);
            None
        };
        #[cfg(not(unix))]
        let guard = Some(guard);
        Ok(ImageVolume {
            name: path.display().to_string(),
            pixels: Pixels::Mapped(raw),
            storage: ImageStorage::Temporary {
                path: tmp,
                in_memory_max,
            },
            stamp,
            _temporary: guard,
        })
    }

    fn open_through(
        &self,
        path: &Path,
        cache: &DecodeCache,
        stamp: FileStamp,
    ) -> Result<ImageVolume> {
        let target = cache.target(path, CACHE_MAGIC, &cache_name(path))?;
        let cached = |raw, stamp| ImageVolume {
            name: path.display().to_string(),
            pixels: Pixels::Mapped(raw),
            storage: ImageStorage::Cache {
                path: target.clone(),
            },
            stamp,
            _temporary: None,
        };
        if let Some(raw) = map_cache(&target)? {
            DecodeCache::touch(&target);
            return Ok(cached(raw, stamp));
        }
        let decoder = Decoder::open(path)?;
        let shape = decoder.shape();
        let bytes = shape.bytes().unwrap_or(usize::MAX) as u64;
        check_space(path, cache.dir(), bytes.saturating_add(CACHE_HEADER as u64))?;
        cache.write(&target, |w, tmp| {
            decoder.into_file(&mut PixelFile::new(w, tmp, shape, true)?)
        })?;
        match map_cache(&target)? {
            Some(raw) => Ok(cached(raw, stamp)),
            // another process evicted the copy just written: decode again,
            // without the cache
            None if !target.exists() => ImageOptions {
                cache: None,
                ..self.clone()
            }
            .open_stamped(path, stamp),
            None => Err(Error::InvalidHeader {
                path: target.clone(),
                detail: "the decode cache just written does not read back".into(),
            }),
        }
    }
}

/// The name of `path`'s decode-cache file (after the cache's key).
fn cache_name(path: &Path) -> String {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{file_name}.pixels")
}

/// An image whose header has been read, by its decoder.
enum Decoder {
    Png(Box<PngImage>),
    Jpeg(JpegImage),
    /// Another format (TIFF), decoded whole by the `image` crate.
    Decoded(Shape, Pixels),
}

impl Decoder {
    /// Opens `path` with the decoder its first bytes call for.
    fn open(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut magic = [0u8; 8];
        let mut n = 0;
        while n < magic.len() {
            match file.read(&mut magic[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        let magic = &magic[..n];
        if png::is_png(magic) {
            PngImage::open(path, file).map(|d| Decoder::Png(Box::new(d)))
        } else if jpeg::is_jpeg(magic) {
            JpegImage::open(path, &file).map(Decoder::Jpeg)
        } else {
            drop(file);
            decode_with_image(path)
        }
    }

    fn shape(&self) -> Shape {
        match self {
            Decoder::Png(d) => d.shape(),
            Decoder::Jpeg(d) => d.shape(),
            Decoder::Decoded(shape, _) => *shape,
        }
    }

    /// Whether the decoder can write a file without the whole image in
    /// memory first.
    fn streams(&self) -> bool {
        !matches!(self, Decoder::Decoded(..))
    }

    fn into_memory(self, path: &Path) -> Result<Pixels> {
        let (shape, buffer) = match self {
            Decoder::Png(d) => (d.shape(), d.decode_to_memory()?),
            Decoder::Jpeg(d) => (d.shape(), d.decode_to_memory()?),
            Decoder::Decoded(_, pixels) => return Ok(pixels),
        };
        Ok(match buffer {
            Buffer::U8(v) => Pixels::U8(to_volume(path, &shape, v)?),
            Buffer::U16(v) => Pixels::U16(to_volume(path, &shape, v)?),
        })
    }

    fn into_file(self, out: &mut PixelFile<'_>) -> Result<()> {
        match self {
            Decoder::Png(d) => d.decode_to_file(out),
            Decoder::Jpeg(d) => d.decode_to_file(out),
            Decoder::Decoded(_, pixels) => {
                let bytes: &[u8] = match &pixels {
                    Pixels::U8(v) => bytemuck::cast_slice(v.array().as_slice().unwrap_or_default()),
                    Pixels::U16(v) => {
                        bytemuck::cast_slice(v.array().as_slice().unwrap_or_default())
                    }
                    Pixels::F32(v) => {
                        bytemuck::cast_slice(v.array().as_slice().unwrap_or_default())
                    }
                    Pixels::Mapped(v) => v.layout().map(|l| l.bytes()).unwrap_or_default(),
                };
                out.write(bytes)
            }
        }
    }
}

/// Decodes a file in another format (TIFF without the `tiff` feature) into
/// memory with the `image` crate, under the machine's decode budget
/// ([`MemoryLimits::decode_bytes`]).
fn decode_with_image(path: &Path) -> Result<Decoder> {
    use ::image::DynamicImage as D;
    let mut reader = ::image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    match reader.format() {
        None => {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: "not a PNG, JPEG or TIFF image (unknown first bytes)".into(),
            })
        }
        // guessed from the file's name alone (the first bytes were not
        // PNG's signature or JPEG's SOI): never decoded without this
        // module's checks of PNG and JPEG headers
        Some(format @ (::image::ImageFormat::Png | ::image::ImageFormat::Jpeg)) => {
            let (name, start) = if format == ::image::ImageFormat::Png {
                ("PNG", "the PNG signature")
            } else {
                ("JPEG", "the start-of-image marker FF D8")
            };
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!("named like a {name} image, but its first bytes are not {start}"),
            });
        }
        Some(_) => {}
    }
    let budget = MemoryLimits::detect().decode_bytes();
    let mut limits = ::image::Limits::default();
    limits.max_alloc = Some(budget);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| image_error(path, e, budget))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let shape = |channels, dtype| Shape {
        height: h,
        width: w,
        channels,
        dtype,
    };
    macro_rules! decoded {
        ($variant:ident, $c:expr, $dtype:expr, $buf:expr) => {{
            let s = shape($c, $dtype);
            Decoder::Decoded(s, Pixels::$variant(to_volume(path, &s, $buf.into_raw())?))
        }};
    }
    Ok(match img {
        D::ImageLuma8(b) => decoded!(U8, 1, DType::U8, b),
        D::ImageLumaA8(b) => decoded!(U8, 2, DType::U8, b),
        D::ImageRgb8(b) => decoded!(U8, 3, DType::U8, b),
        D::ImageRgba8(b) => decoded!(U8, 4, DType::U8, b),
        D::ImageLuma16(b) => decoded!(U16, 1, DType::U16, b),
        D::ImageLumaA16(b) => decoded!(U16, 2, DType::U16, b),
        D::ImageRgb16(b) => decoded!(U16, 3, DType::U16, b),
        D::ImageRgba16(b) => decoded!(U16, 4, DType::U16, b),
        D::ImageRgb32F(b) => decoded!(F32, 3, DType::F32, b),
        D::ImageRgba32F(b) => decoded!(F32, 4, DType::F32, b),
        other => {
            return Err(Error::UnsupportedDType {
                path: path.to_path_buf(),
                name: format!("{:?} pixels", other.color()),
            })
        }
    })
}

/// An `image` crate error as what happened.
fn image_error(path: &Path, e: ::image::ImageError, budget: u64) -> Error {
    use ::image::ImageError as E;
    match e {
        E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: "the file ends inside the image (it was truncated, or an offset in its \
                     header points past its end)"
                .into(),
        },
        E::IoError(e) => Error::io(path, e),
        E::Unsupported(u) => Error::Unsupported {
            path: path.to_path_buf(),
            what: u.to_string(),
        },
        E::Limits(l) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "image beyond the {budget} bytes of this machine's decode budget ({l}); \
                 TIFF is read tile by tile with the `tiff` feature"
            ),
        },
        other => Error::Decode {
            path: path.to_path_buf(),
            chunk: Vec::new(),
            detail: other.to_string(),
            source: Some(Box::new(other)),
        },
    }
}

/// Maps a complete decode-cache file, or `None` if there is none (or it is
/// not one this version wrote, or not complete).
fn map_cache(cache: &Path) -> Result<Option<RawVolume>> {
    let Ok(mut file) = std::fs::File::open(cache) else {
        return Ok(None);
    };
    let mut header = [0u8; CACHE_HEADER];
    if file.read_exact(&mut header).is_err() || &header[..16] != CACHE_MAGIC {
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
    let expected = h
        .checked_mul(w)
        .and_then(|n| n.checked_mul(c))
        .and_then(|n| n.checked_mul(dtype.size()))
        .and_then(|n| (n as u64).checked_add(CACHE_HEADER as u64));
    let len = file.metadata().map(|m| m.len()).ok();
    if expected.is_none() || len != expected {
        return Ok(None);
    }
    drop(file);
    let options = RawOptions::new(&[h, w, c], dtype)
        .byte_order(ByteOrder::native())
        .offset(CACHE_HEADER as u64);
    Ok(RawVolume::open(cache, &options).ok())
}

impl ImageVolume {
    /// Decodes the image at `path` (format told by its first bytes) with
    /// [`ImageOptions::new`]: into memory, or, when larger than the
    /// in-memory limit (256 MiB by default), into a temporary cache file
    /// that is mapped (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// As [`ImageOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        ImageOptions::new().open(path)
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

    /// Like [`open`](Self::open), through `cache` whatever the image's
    /// size: the first call decodes straight into a cache file (then
    /// removes the least recently used files beyond the cache's limits),
    /// later calls map it without decoding while the source is unchanged
    /// (and mark it as used).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the source if its metadata cannot be read, the
    /// cache directory if it cannot be made, or the cache file if it cannot
    /// be written, mapped or renamed into place; as [`ImageOptions::open`]
    /// when the image is decoded ([`Error::InsufficientSpace`] if the copy
    /// does not fit on the cache's file system); [`Error::InvalidHeader`]
    /// naming the cache file if the copy just written does not map back. A
    /// cache file that is missing, stale or incomplete is not an error: the
    /// image is decoded again. Nor is a failed eviction (see
    /// [`crate::io::cache`]).
    pub fn open_cached_in(path: impl AsRef<Path>, cache: &DecodeCache) -> Result<Self> {
        ImageOptions::new().cache(cache.clone()).open(path)
    }

    /// Where the pixels are: in memory, in the decode cache or in a
    /// temporary cache file.
    pub fn storage(&self) -> &ImageStorage {
        &self.storage
    }

    /// Whether the pixels are memory-mapped from a decode-cache file (the
    /// decode cache's or a temporary one) rather than decoded into memory.
    pub fn is_cached(&self) -> bool {
        matches!(self.pixels, Pixels::Mapped(_))
    }

    /// The decode-cache file the pixels are mapped from (a temporary one is
    /// already removed on Unix), if any.
    pub fn cache_path(&self) -> Option<&Path> {
        match &self.storage {
            ImageStorage::Memory => None,
            ImageStorage::Cache { path } | ImageStorage::Temporary { path, .. } => Some(path),
        }
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

    /// The source file (not a cache copy: the pixels were decoded from
    /// the source when the volume was opened).
    fn check_unchanged(&self) -> Result<()> {
        self.stamp.check()
    }

    fn kind(&self) -> &'static str {
        "image"
    }
}
