//! TIFF and BigTIFF images, read tile by tile or strip by strip: the second
//! [`ChunkSource`] (after Zarr) under [`ChunkedVolume`].
//!
//! Opening reads the file's directories only (the `tiff` crate parses the
//! image file directory of the page, including its offset tables, which
//! are bounded by the file's size), so it costs the same for a 300² image
//! and a 200000² slide. A read decodes only the tiles or strips it
//! touches; a walk over many cells plans its decodes so each tile is
//! decoded once per pass (see [`crate::chunked`]).
//!
//! A page has shape `(height, width, samples)`: always a sample axis, even
//! for one sample, so gray and RGB images partition alike (the `(height,
//! width)` cells of [`ImagePartition`]).
//! Tiles are chunks of `(tile_length, tile_width, samples)`, strips of
//! `(rows_per_strip, width, samples)`; a planar image (`PlanarConfiguration`
//! 2) stores each sample in chunks of its own, `(…, …, 1)`.
//!
//! Read: classic TIFF and BigTIFF, either byte order; unsigned, signed and
//! floating-point samples of 8, 16, 32 and 64 bits, any number per pixel,
//! chunky or planar; compression none, LZW, deflate (8 and 32946),
//! PackBits, JPEG (7), zstd (50000) and WebP (50001), with predictors 2
//! and 3 (decoded by the `tiff` crate). Other compressions, and samples of
//! other widths (1-bit, 12-bit, f16), are typed errors that name the code
//! and the page: [`Error::Unsupported`], [`Error::UnsupportedDType`].
//!
//! ```
//! # #[cfg(feature = "image")] {
//! use impart::{Partition, TiffVolume, Volume};
//!
//! // a small tiled TIFF, written here with the `image` crate's encoder
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.tif");
//! let pixels = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 7]));
//! pixels.save(&path)?;
//!
//! let tiff = TiffVolume::open(&path)?;
//! assert_eq!(tiff.shape(), &[30, 40, 3]); // (height, width, samples)
//! let part = Partition::builder(&tiff).cell(&[16, 16]).build()?;
//! let cell = part.cell(&[1, 2])?.to_array::<u8>()?;
//! assert_eq!(cell[[0, 0, 0]], 32); // x of column 32
//! assert_eq!(cell[[0, 0, 1]], 16); // y of row 16
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    feature = "image",
    doc = "[`ImagePartition`]: crate::original::ImagePartition"
)]
#![cfg_attr(not(feature = "image"), doc = "[`ImagePartition`]: crate#features")]

use std::fs::File;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tiff::decoder::{Decoder, Limits};
use tiff::tags::Tag;
use tiff::TiffError;

use super::ChunkedVolume;
use crate::chunked::ChunkSource;
use crate::dtype::DType;
use crate::error::{Error, Result};

type TiffDecoder = Decoder<BufReader<File>>;

/// Options for opening TIFF files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiffOptions {
    page: usize,
    cache_bytes: usize,
}

impl Default for TiffOptions {
    fn default() -> Self {
        TiffOptions {
            page: 0,
            cache_bytes: crate::io::MemoryLimits::detect().chunk_cache_bytes(),
        }
    }
}

impl TiffOptions {
    /// Default options: the first page; decoded tiles held during a walk up
    /// to [`MemoryLimits::chunk_cache_bytes`](crate::MemoryLimits::chunk_cache_bytes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Which page (image file directory, counted from 0) to open.
    pub fn page(mut self, page: usize) -> Self {
        self.page = page;
        self
    }

    /// Most bytes of decoded tiles or strips held at one time during a walk.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Opens the page of the TIFF file at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if it cannot be opened or read;
    /// [`Error::InvalidHeader`] if it is not a TIFF file, its directories
    /// are malformed or point past its end, or the page does not exist;
    /// [`Error::Unsupported`] for a compression, sample layout or
    /// photometric interpretation this backend does not read (naming the
    /// code and the page); [`Error::UnsupportedDType`] for samples of
    /// another width or format (1-bit, 12-bit, f16, complex);
    /// [`Error::InvalidLayout`] if the image or a tile has too many bytes
    /// to address.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<TiffVolume> {
        let source = TiffChunks::open(path.as_ref(), self.page)?;
        ChunkedVolume::new(source, self.cache_bytes)
    }
}

/// How a page's chunks are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    tiled: bool,
    planar: bool,
    /// Chunk rows and columns of the page (strips: one column).
    down: u64,
    across: u64,
}

/// The tiles or strips of one TIFF page, decoded by the `tiff` crate: the
/// [`ChunkSource`] under [`TiffVolume`].
pub struct TiffChunks {
    path: PathBuf,
    name: String,
    page: usize,
    shape: Vec<usize>,
    chunk: Vec<usize>,
    dtype: DType,
    compression: u16,
    /// JPEG-compressed YCbCr, which the decoder leaves as YCbCr.
    ycbcr_jpeg: bool,
    grid: Grid,
    file_len: u64,
    /// Decoders positioned at the page, one per thread that decodes at
    /// once (a decoder reads through a `&mut` file handle).
    pool: Mutex<Vec<TiffDecoder>>,
}

impl std::fmt::Debug for TiffChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiffChunks")
            .field("path", &self.path)
            .field("page", &self.page)
            .field("shape", &self.shape)
            .field("chunk", &self.chunk)
            .field("dtype", &self.dtype)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// A page of a TIFF file; see the [module docs](self).
pub type TiffVolume = ChunkedVolume<TiffChunks>;

impl ChunkedVolume<TiffChunks> {
    /// Opens the first page of the TIFF file at `path`.
    ///
    /// # Errors
    ///
    /// As [`TiffOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        TiffOptions::default().open(path)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.source().path
    }

    /// The page this volume is (counted from 0).
    pub fn page(&self) -> usize {
        self.source().page
    }

    /// The shape of a tile, or of a strip (`(rows_per_strip, width,
    /// samples)`; one sample for a planar image).
    pub fn chunk_shape(&self) -> &[usize] {
        &self.source().chunk
    }

    /// Whether the page is stored in tiles (else in strips).
    pub fn is_tiled(&self) -> bool {
        self.source().grid.tiled
    }

    /// Whether each sample is stored in chunks of its own
    /// (`PlanarConfiguration` 2).
    pub fn is_planar(&self) -> bool {
        self.source().grid.planar
    }

    /// The TIFF compression code and its name (`(5, "LZW")`).
    pub fn compression(&self) -> (u16, &'static str) {
        let c = self.source().compression;
        (c, compression_name(c))
    }
}

/// The name of a TIFF compression code.
fn compression_name(code: u16) -> &'static str {
    match code {
        1 => "none",
        2 => "CCITT RLE",
        3 => "CCITT fax 3",
        4 => "CCITT fax 4",
        5 => "LZW",
        6 => "old-style JPEG",
        7 => "JPEG",
        8 | 32946 => "deflate",
        32773 => "PackBits",
        34887 => "LERC",
        34925 => "LZMA",
        34933 => "PNG",
        34934 => "JPEG XR",
        50000 | 34926 => "zstd",
        50001 | 34927 => "WebP",
        50002 | 52546 => "JPEG XL",
        33003 | 33005 | 34712 => "JPEG 2000",
        _ => "unknown",
    }
}

/// Compressions the `tiff` crate decodes with the features enabled here.
fn compression_supported(code: u16) -> bool {
    matches!(code, 1 | 5 | 7 | 8 | 32946 | 32773 | 50000 | 50001)
}

impl TiffChunks {
    fn open(path: &Path, page: usize) -> Result<Self> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail,
        };
        let file_len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let mut decoder = new_decoder(path, page, file_len)?;
        let tag = |d: &mut TiffDecoder, t: Tag| -> Result<Option<u64>> {
            d.find_tag_unsigned::<u64>(t)
                .map_err(|e| tiff_error(path, page, &format!("tag {t:?}"), e))
        };
        let width = tag(&mut decoder, Tag::ImageWidth)?
            .ok_or_else(|| invalid(format!("page {page} has no ImageWidth")))?;
        let height = tag(&mut decoder, Tag::ImageLength)?
            .ok_or_else(|| invalid(format!("page {page} has no ImageLength")))?;
        if width == 0 || height == 0 {
            return Err(invalid(format!("page {page} is {width}x{height} pixels")));
        }
        let samples = tag(&mut decoder, Tag::SamplesPerPixel)?.unwrap_or(1);
        if samples == 0 {
            return Err(invalid(format!("page {page} has 0 samples per pixel")));
        }
        let bits = decoder
            .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
            .map_err(|e| tiff_error(path, page, "tag BitsPerSample", e))?
            .unwrap_or_else(|| vec![1]);
        let formats = decoder
            .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
            .map_err(|e| tiff_error(path, page, "tag SampleFormat", e))?
            .unwrap_or_else(|| vec![1]);
        let (Some(&b), Some(&f)) = (bits.first(), formats.first()) else {
            return Err(invalid(format!(
                "page {page}: empty BitsPerSample or SampleFormat"
            )));
        };
        if bits.iter().any(|&x| x != b) || formats.iter().any(|&x| x != f) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "TIFF samples of mixed types (BitsPerSample {bits:?}, SampleFormat {formats:?}) in page {page}"
                ),
            });
        }
        let dtype = match (f, b) {
            (1, 8) => DType::U8,
            (1, 16) => DType::U16,
            (1, 32) => DType::U32,
            (1, 64) => DType::U64,
            (2, 8) => DType::I8,
            (2, 16) => DType::I16,
            (2, 32) => DType::I32,
            (2, 64) => DType::I64,
            (3, 32) => DType::F32,
            (3, 64) => DType::F64,
            _ => {
                let kind = match f {
                    1 => "unsigned",
                    2 => "signed",
                    3 => "floating-point",
                    4 => "undefined",
                    5 => "complex signed",
                    6 => "complex floating-point",
                    _ => "unknown",
                };
                return Err(Error::UnsupportedDType {
                    path: path.to_path_buf(),
                    name: format!(
                        "{b}-bit {kind} samples (TIFF BitsPerSample {b}, SampleFormat {f}) in page {page}"
                    ),
                });
            }
        };
        let compression = tag(&mut decoder, Tag::Compression)?.unwrap_or(1);
        let compression = u16::try_from(compression)
            .map_err(|_| invalid(format!("page {page}: compression {compression}")))?;
        if !compression_supported(compression) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "TIFF compression {compression} ({}) in page {page}",
                    compression_name(compression)
                ),
            });
        }
        let planar = match tag(&mut decoder, Tag::PlanarConfiguration)?.unwrap_or(1) {
            1 => false,
            2 => samples > 1,
            p => return Err(invalid(format!("page {page}: PlanarConfiguration {p}"))),
        };
        let tile = (
            tag(&mut decoder, Tag::TileWidth)?,
            tag(&mut decoder, Tag::TileLength)?,
        );
        let (tiled, chunk_h, chunk_w) = match tile {
            (Some(tw), Some(th)) => {
                if tw == 0 || th == 0 {
                    return Err(invalid(format!("page {page}: tiles of {tw}x{th} pixels")));
                }
                (true, th, tw)
            }
            (None, None) => {
                let rows = tag(&mut decoder, Tag::RowsPerStrip)?
                    .unwrap_or(height)
                    .clamp(1, height);
                (false, rows, width)
            }
            _ => {
                return Err(invalid(format!(
                    "page {page} has one of TileWidth and TileLength but not the other"
                )))
            }
        };
        let down = height.div_ceil(chunk_h);
        let across = width.div_ceil(chunk_w);
        let planes = if planar { samples } else { 1 };
        // the offsets table must name every chunk
        let count = down
            .checked_mul(across)
            .and_then(|n| n.checked_mul(planes))
            .filter(|&n| n <= u64::from(u32::MAX))
            .ok_or_else(|| invalid(format!("page {page}: too many tiles or strips")))?;
        let offsets_tag = if tiled {
            Tag::TileOffsets
        } else {
            Tag::StripOffsets
        };
        let offsets = decoder
            .find_tag_unsigned_vec::<u64>(offsets_tag)
            .map_err(|e| tiff_error(path, page, "the chunk offsets", e))?
            .unwrap_or_default();
        if (offsets.len() as u64) < count {
            return Err(invalid(format!(
                "page {page}: {} chunk offsets for {count} {}",
                offsets.len(),
                if tiled { "tiles" } else { "strips" }
            )));
        }
        let counts_tag = if tiled {
            Tag::TileByteCounts
        } else {
            Tag::StripByteCounts
        };
        let counts = decoder
            .find_tag_unsigned_vec::<u64>(counts_tag)
            .map_err(|e| tiff_error(path, page, "the chunk byte counts", e))?
            .unwrap_or_default();
        if (counts.len() as u64) < count {
            return Err(invalid(format!(
                "page {page}: {} chunk byte counts for {count} {}",
                counts.len(),
                if tiled { "tiles" } else { "strips" }
            )));
        }
        // every chunk inside the file (a hostile or truncated file says
        // so now, not as a short read later)
        let count_usize = count as usize;
        if let Some((i, (o, n))) = offsets
            .iter()
            .zip(&counts)
            .take(count_usize)
            .enumerate()
            .find(|(_, (&o, &n))| o.checked_add(n).is_none_or(|end| end > file_len))
        {
            return Err(invalid(format!(
                "page {page}: {} {i} at offset {o} with {n} bytes ends past the end of the file ({file_len} bytes)",
                if tiled { "tile" } else { "strip" }
            )));
        }
        let ycbcr_jpeg = compression == 7
            && samples == 3
            && dtype == DType::U8
            && tag(&mut decoder, Tag::PhotometricInterpretation)? == Some(6);
        let to_usize = |v: u64, what: &str| {
            usize::try_from(v).map_err(|_| invalid(format!("page {page}: {what} {v}")))
        };
        let shape = vec![
            to_usize(height, "height")?,
            to_usize(width, "width")?,
            to_usize(samples, "samples per pixel")?,
        ];
        let chunk = vec![
            to_usize(chunk_h, "chunk height")?,
            to_usize(chunk_w, "chunk width")?,
            if planar { 1 } else { shape[2] },
        ];
        let name = path.display().to_string();
        crate::layout::checked_size(&name, &shape, dtype)?;
        crate::layout::checked_size(&name, &chunk, dtype)?;
        Ok(TiffChunks {
            path: path.to_path_buf(),
            name,
            page,
            shape,
            chunk,
            dtype,
            compression,
            ycbcr_jpeg,
            grid: Grid {
                tiled,
                planar,
                down,
                across,
            },
            file_len,
            pool: Mutex::new(vec![decoder]),
        })
    }

    fn take_decoder(&self) -> Result<TiffDecoder> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(d) => Ok(d),
            None => new_decoder(&self.path, self.page, self.file_len),
        }
    }

    fn give_back(&self, decoder: TiffDecoder) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(decoder);
        }
    }
}

/// A decoder positioned at `page`, its limits sized by the file (no table
/// of the file can be longer than the file; decoded chunks are allocated
/// here, not by the decoder).
fn new_decoder(path: &Path, page: usize, file_len: u64) -> Result<TiffDecoder> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let bounded = usize::try_from(file_len).unwrap_or(usize::MAX);
    let mut limits = Limits::unlimited();
    limits.ifd_value_size = bounded;
    let result = catch_unwind(AssertUnwindSafe(
        || -> std::result::Result<TiffDecoder, TiffError> {
            let mut d = Decoder::new(BufReader::new(file))?.with_limits(limits);
            if page > 0 {
                d.seek_to_image(page)?;
            }
            Ok(d)
        },
    ));
    match result {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(tiff_error(path, page, "the file's directories", e)),
        Err(_) => Err(Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("page {page}: the TIFF decoder failed on the file's directories"),
        }),
    }
}

/// A `tiff` error while reading `what` of `page`, as this crate's error.
fn tiff_error(path: &Path, page: usize, what: &str, e: TiffError) -> Error {
    match e {
        TiffError::IoError(io) => Error::io(path, io),
        TiffError::UnsupportedError(u) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("TIFF feature in page {page} ({what}): {u}"),
        },
        TiffError::FormatError(tiff::TiffFormatError::ImageFileDirectoryNotFound) => {
            Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!("the file has no page {page}"),
            }
        }
        e => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("page {page}, {what}: {e}"),
        },
    }
}

impl ChunkSource for TiffChunks {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn chunk_shape(&self) -> &[usize] {
        &self.chunk
    }

    fn decode(&self, index: &[u64]) -> Result<Vec<u8>> {
        let fail = |detail: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
            Error::Decode {
                path: self.path.clone(),
                chunk: index.to_vec(),
                detail,
                source,
            }
        };
        let &[r, c, k] = index else {
            return Err(fail(format!("a chunk index of {} axes", index.len()), None));
        };
        let g = self.grid;
        if r >= g.down || c >= g.across || k >= self.shape[2].div_ceil(self.chunk[2]) as u64 {
            return Err(fail("outside the chunk grid".into(), None));
        }
        let chunk_index = u32::try_from(k * g.down * g.across + r * g.across + c)
            .map_err(|_| fail("outside the chunk grid".into(), None))?;
        let (ch, cw, cs) = (self.chunk[0], self.chunk[1], self.chunk[2]);
        // the data the decoder writes: the chunk without the padding past
        // the image's right and bottom edges
        let (r, c) = (r as usize, c as usize);
        let dh = ch.min(self.shape[0] - r * ch);
        let dw = cw.min(self.shape[1] - c * cw);
        let size = self.dtype.size();
        let full_row = cw * cs * size;
        let mut decoder = self.take_decoder()?;
        let read = catch_unwind(AssertUnwindSafe(|| {
            // the decoder's own idea of the chunk's data: a tile of a
            // planar image past the first plane is decoded whole
            let (w, h) = decoder.chunk_data_dimensions(chunk_index);
            let (w, h) = (w as usize, h as usize);
            if w < dw || h < dh || w > cw || h > ch {
                return Err(format!(
                    "the decoder gives {w}x{h} pixels for a chunk of {dw}x{dh} (at most {cw}x{ch})"
                ));
            }
            // one buffer of the full chunk; the data is decoded into its
            // front and spread to full rows below
            let mut buf = try_bytes(ch * full_row).ok_or_else(|| {
                format!("{} bytes for the chunk cannot be allocated", ch * full_row)
            })?;
            decoder
                .read_chunk_bytes(chunk_index, &mut buf[..h * w * cs * size])
                .map_err(|e| match &e {
                    TiffError::UnsupportedError(u) => format!("unsupported: {u}"),
                    e => e.to_string(),
                })?;
            Ok((buf, w, h))
        }));
        let (mut data, w, h) = match read {
            Ok(Ok(v)) => {
                self.give_back(decoder);
                v
            }
            Ok(Err(detail)) => return Err(fail(detail, None)),
            Err(_) => return Err(fail("the TIFF decoder failed on this chunk".into(), None)),
        };
        let src_row = w * cs * size;
        if self.ycbcr_jpeg {
            ycbcr_to_rgb(&mut data[..h * src_row]);
        }
        if dw < cw {
            // rows of `w` pixels to rows of `cw`, last first (a row only
            // moves forward), and the fill value, 0, past the right edge
            // (also over the padding a whole decoded tile brings)
            let row = dw * cs * size;
            for y in (0..dh).rev() {
                data.copy_within(y * src_row..y * src_row + row, y * full_row);
                data[y * full_row + row..(y + 1) * full_row].fill(0);
            }
        }
        // and below the bottom edge
        data[dh * full_row..].fill(0);
        Ok(data)
    }

    fn kind(&self) -> &'static str {
        "tiff"
    }
}

/// JPEG's YCbCr (JFIF, full range) to RGB in place, rounded as libjpeg's
/// integer conversion rounds, for JPEG-compressed TIFF pages stored as
/// YCbCr (`PhotometricInterpretation` 6), which libtiff readers present
/// as RGB.
fn ycbcr_to_rgb(pixels: &mut [u8]) {
    for px in pixels.chunks_exact_mut(3) {
        let y = f64::from(px[0]);
        let cb = f64::from(px[1]) - 128.0;
        let cr = f64::from(px[2]) - 128.0;
        let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        px[0] = clamp(y + 1.402 * cr);
        px[1] = clamp(y - 0.344_136 * cb - 0.714_136 * cr);
        px[2] = clamp(y + 1.772 * cb);
    }
}

/// `n` zero bytes, or `None` if they cannot be allocated.
fn try_bytes(n: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, 0);
    Some(v)
}
