//! TIFF and BigTIFF images: pages and stacks of pages, pyramid levels,
//! GeoTIFF georeference; uncompressed data mapped in place, anything else
//! read tile by tile or strip by strip as the second
//! [`ChunkSource`](crate::ChunkSource) (after Zarr) under a
//! [`ChunkedVolume`].
//!
//! **Lazy open.** Opening walks the file's directories (each page's own
//! entries; the offset tables only of the pages opened), so it costs the
//! same for a 300² image and a 200000² slide. A read decodes only the
//! tiles or strips it touches; a walk over many cells plans its decodes so
//! each tile is decoded once per pass (see [`crate::chunked`]).
//!
//! **Zero copy where the bytes allow it.** An uncompressed image whose
//! samples lie in the file in one evenly strided run (one strip, or strips
//! back to back; the pages of a stack evenly spaced, as ImageJ, tifffile
//! and many scanners write them) is a [`RawVolume`] over the file, mapped
//! and viewed in place like a raw file ([`TiffVolume::is_mapped`]); with
//! [`TiffOptions::mmap`]`(false)` it is read with positioned reads.
//!
//! **Shapes.** A page is `(height, width, samples)`: always a sample
//! axis, even for one sample, so gray and RGB images partition alike (the
//! `(height, width)` cells of [`ImagePartition`]). By default the first
//! page and the pages after it of the same shape, type and tiling form a
//! stack, `(pages, height, width, samples)`; when the first page's
//! ImageDescription is OME-XML (its `DimensionOrder` and sizes) or an
//! ImageJ hyperstack's (`channels`, `slices`, `frames`), the pages axis is
//! split into those axes, slowest first, with axes of one extent left out
//! ([`TiffVolume::axes`]: `TZCYXS`, `ZYXS`, …). ImageJ's files of one
//! directory whose `images` planes follow each other are mapped as the
//! stack they are. [`TiffOptions::page`] opens one page alone.
//!
//! **Pyramids.** Reduced-resolution levels are the SubIFDs of the first
//! page (OME-TIFF, libvips with `subifd`, tifffile) or, without SubIFDs,
//! the reduced-resolution pages of the main chain (`NewSubfileType` 1,
//! libvips's default); [`TiffVolume::levels`] lists them and
//! [`TiffOptions::level`] opens one (0 = full resolution).
//!
//! **GeoTIFF.** `ModelTransformationTag`, or `ModelTiepointTag` with
//! `ModelPixelScaleTag`, gives the pixel-to-world affine
//! ([`Volume::affine`] over the (rows, columns) axes, so each cell has a
//! [`world_origin`](crate::Selected::world_origin)); `PixelIsPoint`
//! rasters are shifted by half a pixel as GDAL does. The tags are kept
//! ([`TiffVolume::geo`], [`GeoTiff::window`]) so tiles written from a
//! window carry their own georeference.
//!
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

mod chunks;
mod geo;
/// GeoTIFF tag numbers, for writers.
#[cfg(feature = "fragment")]
pub(crate) mod geo_tags {
    pub(crate) use super::geo::{
        GEO_ASCII_PARAMS, GEO_DOUBLE_PARAMS, GEO_KEY_DIRECTORY, MODEL_PIXEL_SCALE, MODEL_TIEPOINT,
        MODEL_TRANSFORMATION,
    };
}
mod ifd;
mod series;

use std::path::{Path, PathBuf};

pub use chunks::TiffChunks;
pub use geo::{GeoTiff, RasterType};

use self::ifd::{decoder_at, read_ifd, walk_pages, Header, Ifd, TiffDecoder};
use self::series::Series;
use super::{AccessHint, ChunkedVolume, Layout, MapAdvice, RawOptions, RawVolume, Volume};
use crate::chunked::{WalkPlan, WalkSession};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::io::FileStamp;

/// Options for opening TIFF files: which page or stack, which level of a
/// pyramid, the budget of decoded tiles, and whether to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiffOptions {
    page: Option<usize>,
    level: usize,
    cache_bytes: usize,
    mmap: bool,
    advice: MapAdvice,
}

impl Default for TiffOptions {
    fn default() -> Self {
        TiffOptions {
            page: None,
            level: 0,
            cache_bytes: crate::io::MemoryLimits::detect().chunk_cache_bytes(),
            mmap: true,
            advice: MapAdvice::default(),
        }
    }
}

impl TiffOptions {
    /// Default options: the first page, with the pages after it that share
    /// its shape and type as a stack; full resolution; decoded tiles held
    /// during a walk up to
    /// [`MemoryLimits::chunk_cache_bytes`](crate::MemoryLimits::chunk_cache_bytes);
    /// uncompressed data memory-mapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens one page (image file directory of the main chain, counted
    /// from 0) as a 2D image `(height, width, samples)`, not the stack.
    pub fn page(mut self, page: usize) -> Self {
        self.page = Some(page);
        self
    }

    /// Which resolution level to open: 0 (the default) is full
    /// resolution, 1 the first reduced one, … (SubIFDs of the page, or
    /// reduced-resolution pages after it); see [`TiffVolume::levels`].
    pub fn level(mut self, level: usize) -> Self {
        self.level = level;
        self
    }

    /// Most bytes of decoded tiles or strips held at one time during a walk.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Whether uncompressed data laid out in one evenly strided run is
    /// memory-mapped (default `true`); with `false` it is read with
    /// positioned reads, as [`RawOptions::mmap`] says.
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }

    /// The `madvise` hints walks give mapped data (default
    /// [`MapAdvice::Auto`]).
    pub fn advice(mut self, advice: MapAdvice) -> Self {
        self.advice = advice;
        self
    }

    /// Opens the TIFF file at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if it cannot be opened or read (the
    /// first page's ImageDescription included: one past the end of a
    /// truncated file is an error, not a stack without its axes);
    /// [`Error::InvalidHeader`] if it is not a TIFF file, its directories
    /// are malformed, loop or point past its end, a chunk lies past its
    /// end, or the page does not exist; [`Error::InvalidArgument`] for a
    /// level the image does not have; [`Error::Unsupported`] for a
    /// compression, sample layout or photometric interpretation this
    /// backend does not read (naming the code and the page);
    /// [`Error::UnsupportedDType`] for samples of another width or format
    /// (1-bit, 12-bit, f16, complex); [`Error::InvalidLayout`] if the
    /// image or a tile has too many bytes to address.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<TiffVolume> {
        TiffVolume::open_with(path.as_ref(), self)
    }
}

/// One resolution level of a TIFF image, as [`TiffVolume::levels`] lists
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TiffLevel {
    /// The shape the level opens with.
    pub shape: Vec<usize>,
    /// Its tiles' or strips' shape (`(rows, columns, samples)`).
    pub chunk_shape: Vec<usize>,
    /// Whether it is stored in tiles (else in strips).
    pub tiled: bool,
    /// Its TIFF compression code.
    pub compression: u16,
    /// Where it is stored: `"page 0"`, `"pages 0-4"`, `"page 3"`,
    /// `"SubIFD 1 of page 0"`.
    pub stored: String,
}

/// A TIFF or BigTIFF image: one page, or a stack of pages, at one
/// resolution level; see the [module docs](self).
#[derive(Debug)]
pub struct TiffVolume {
    data: Data,
    info: Info,
}

#[derive(Debug)]
enum Data {
    /// Uncompressed samples in one evenly strided run, mapped.
    Mapped(RawVolume),
    /// Tiles or strips decoded as reads cross them.
    Chunked(ChunkedVolume<TiffChunks>),
}

#[derive(Debug)]
struct Info {
    path: PathBuf,
    page: Option<usize>,
    pages: usize,
    level: usize,
    levels: Vec<TiffLevel>,
    axes: String,
    series: Option<&'static str>,
    chunk: Vec<usize>,
    tiled: bool,
    planar: bool,
    compression: u16,
    geo: Option<GeoTiff>,
    affine: Option<[[f64; 4]; 4]>,
    /// The file when it was opened.
    stamp: FileStamp,
}

/// Where a resolution level is stored.
#[derive(Debug, Clone, Copy)]
enum LevelAt {
    /// The page or stack itself.
    Base,
    /// SubIFD `i` of each page.
    SubIfd(usize),
    /// A reduced-resolution page of the main chain.
    Page(usize),
}

impl TiffVolume {
    /// Opens the TIFF file at `path` with default [`TiffOptions`]: the
    /// first page, as a stack with the pages that share its shape.
    ///
    /// # Errors
    ///
    /// As [`TiffOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        TiffOptions::default().open(path)
    }

    fn open_with(path: &Path, options: &TiffOptions) -> Result<Self> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail,
        };
        // stamped before anything is read from it
        let stamp = FileStamp::of(path)?;
        let file_len = stamp.len();
        let header = Header::read(path)?;
        let mut main = decoder_at(path, header, None, file_len, "page 0")?;
        let (pages, description, chain_error) = walk_pages(&mut main, path)?;

        // the pages of level 0, and the axes they form
        let mut series_source = None;
        let mut images = None;
        let (base_pages, lead): (Vec<usize>, Vec<(char, usize)>) = match options.page {
            Some(p) if p < pages.len() => (vec![p], Vec::new()),
            Some(p) => {
                return Err(chain_error.unwrap_or_else(|| {
                    invalid(format!("the file has no page {p} (it has {})", pages.len()))
                }))
            }
            None => {
                let first = &pages[0];
                let run = 1 + pages[1..]
                    .iter()
                    .take_while(|q| !q.reduced() && q.same_geometry(first))
                    .count();
                if run == pages.len() {
                    // the stack may go on past a directory that does not read
                    if let Some(e) = chain_error {
                        return Err(e);
                    }
                }
                let series = description
                    .as_deref()
                    .and_then(|d| Series::from_description(d, first.samples));
                match series {
                    Some(s) if s.pages() > 1 && s.pages() <= run => {
                        series_source = Some(s.source);
                        ((0..s.pages()).collect(), s.axes)
                    }
                    Some(s) if run == 1 && s.images.is_some_and(|n| n > 1 && n == s.pages()) => {
                        // ImageJ's files over 4 GiB: one directory, the
                        // planes back to back after the first
                        series_source = Some(s.source);
                        images = s.images;
                        (vec![0], s.axes)
                    }
                    _ if run > 1 => ((0..run).collect(), vec![('I', run)]),
                    _ => (vec![0], Vec::new()),
                }
            }
        };
        let base = pages[base_pages[0]].clone();

        // the levels: SubIFDs of the (first) page, else reduced pages after it
        let mut level_at = vec![LevelAt::Base];
        let mut level_ifds = vec![base.clone()];
        if !base.subifds.is_empty() {
            for (i, &ptr) in base.subifds.iter().enumerate() {
                let label = format!("SubIFD {i} of page {}", base_pages[0]);
                match read_ifd(&mut main, ptr, path, &label) {
                    Ok((_, ifd)) => {
                        level_at.push(LevelAt::SubIfd(i));
                        level_ifds.push(ifd);
                    }
                    Err(_) => break,
                }
            }
        } else if images.is_none() {
            let after = base_pages.last().map_or(0, |&p| p + 1);
            let single = lead.is_empty();
            for (idx, q) in pages.iter().enumerate().skip(after) {
                // a level has its own sample type (libvips writes the
                // reduced pages of a float image without SampleFormat)
                if single && q.reduced() && q.samples == base.samples {
                    level_at.push(LevelAt::Page(idx));
                    level_ifds.push(q.clone());
                }
            }
        }
        let lead_extents: Vec<usize> = lead.iter().map(|a| a.1).collect();
        let stored_base = match base_pages.as_slice() {
            [p] => format!("page {p}"),
            ps => format!("pages {}-{}", ps[0], ps[ps.len() - 1]),
        };
        let levels: Vec<TiffLevel> = level_at
            .iter()
            .zip(&level_ifds)
            .map(|(at, ifd)| {
                let mut shape = lead_extents.clone();
                if matches!(at, LevelAt::Page(_)) {
                    shape.clear();
                }
                shape.extend([
                    ifd.height as usize,
                    ifd.width as usize,
                    ifd.samples as usize,
                ]);
                TiffLevel {
                    shape,
                    chunk_shape: ifd.chunk_shape().to_vec(),
                    tiled: ifd.tiled,
                    compression: ifd.compression,
                    stored: match at {
                        LevelAt::Base => stored_base.clone(),
                        LevelAt::SubIfd(i) => format!("SubIFD {i} of {stored_base}"),
                        LevelAt::Page(p) => format!("page {p}"),
                    },
                }
            })
            .collect();
        let Some(&at) = level_at.get(options.level) else {
            return Err(Error::InvalidArgument {
                what: "level",
                detail: format!(
                    "{} has no level {} (its levels are 0 to {})",
                    path.display(),
                    options.level,
                    level_at.len() - 1
                ),
            });
        };

        // the directory of each plane of the level
        let planes: Vec<(u64, String)> = match at {
            LevelAt::Base => base_pages
                .iter()
                .map(|&p| (pages[p].ptr, format!("page {p}")))
                .collect(),
            LevelAt::SubIfd(i) => base_pages
                .iter()
                .map(|&p| {
                    pages[p]
                        .subifds
                        .get(i)
                        .map(|&ptr| (ptr, format!("SubIFD {i} of page {p}")))
                        .ok_or_else(|| invalid(format!("page {p} has no SubIFD {i}")))
                })
                .collect::<Result<_>>()?,
            LevelAt::Page(p) => vec![(pages[p].ptr, format!("page {p}"))],
        };
        let lead = if matches!(at, LevelAt::Page(_)) {
            Vec::new()
        } else {
            lead
        };
        let lead_extents: Vec<usize> = lead.iter().map(|a| a.1).collect();
        let first_label = planes[0].1.clone();
        let mut first: Option<Ifd> = None;
        let mut first_dir = None;
        let mut runs = Vec::with_capacity(planes.len());
        let mut stored = Vec::new();
        for (ptr, label) in &planes {
            let (dir, ifd) = read_ifd(&mut main, *ptr, path, label)?;
            if let Some(f) = &first {
                if !f.same_geometry(&ifd) {
                    return Err(invalid(format!(
                        "{label} differs in shape, type or tiling from {first_label}"
                    )));
                }
            }
            check_compression(path, &ifd, label)?;
            let dtype = ifd.dtype(path, label)?;
            let (offsets, counts) = ifd.tables(&mut main, &dir, path, label, file_len)?;
            runs.push(contiguous(&ifd, dtype, &offsets, &counts));
            stored.push(counts);
            if first.is_none() {
                first = Some(ifd);
                first_dir = Some(dir);
            }
        }
        let first = first.ok_or_else(|| invalid("no page to open".into()))?;
        let dtype = first.dtype(path, &first_label)?;

        // the affine of the level, in the volume's axis order
        let (geo, affine) = {
            // the georeference is the first page's (a level's directory
            // does not carry it); read again only for a reduced level
            let base_ptr = pages[base_pages[0]].ptr;
            let dir = match first_dir {
                Some(d) if first.ptr == base_ptr => d,
                _ => read_ifd(&mut main, base_ptr, path, &stored_base)?.0,
            };
            let geo = geo::GeoTiff::read(&mut main, &dir);
            let affine = geo.as_ref().and_then(|g| g.affine()).and_then(|m| {
                let sx = base.width as f64 / first.width as f64;
                let sy = base.height as f64 / first.height as f64;
                volume_affine(&m, lead.len(), sx, sy)
            });
            (geo, affine)
        };

        let mut axes: String = lead.iter().map(|a| a.0).collect();
        axes.push_str("YXS");
        let info = Info {
            path: path.to_path_buf(),
            page: options.page,
            pages: pages.len(),
            level: options.level,
            levels,
            axes,
            series: series_source,
            chunk: {
                let mut c = vec![1; lead.len()];
                c.extend(first.chunk_shape());
                c
            },
            tiled: first.tiled,
            planar: first.planar,
            compression: first.compression,
            geo,
            affine,
            stamp,
        };

        // mapped when every plane is one evenly strided run, planes evenly
        // spaced
        let mapped = mapping(&first, dtype, &runs, &lead_extents, images, file_len);
        if let Some((offset, strides)) = mapped {
            let mut shape = lead_extents.clone();
            shape.extend([
                first.height as usize,
                first.width as usize,
                first.samples as usize,
            ]);
            let raw = RawOptions::new(&shape, dtype)
                .byte_order(header.byte_order())
                .offset(offset)
                .strides(&strides)
                .mmap(options.mmap)
                .advice(options.advice)
                .open(path)?;
            return Ok(TiffVolume {
                data: Data::Mapped(raw),
                info,
            });
        }
        if images.is_some() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "an ImageJ stack of {} images in one directory whose planes do not follow the first, uncompressed, inside the file ({file_len} bytes)",
                    images.unwrap_or(0)
                ),
            });
        }
        // the decoder that walked the directories is still at the first
        // page (reading a directory does not move it): reused for its chunks
        let decoder: TiffDecoder = if pages.first().map(|p| p.ptr) == Some(first.ptr) {
            main
        } else {
            decoder_at(path, header, Some(first.ptr), file_len, &first_label)?
        };
        let ptrs = planes.iter().map(|p| p.0).collect();
        let source = TiffChunks::new(
            path,
            header,
            file_len,
            &first,
            dtype,
            &lead_extents,
            ptrs,
            stored,
            decoder,
        )?;
        Ok(TiffVolume {
            data: Data::Chunked(ChunkedVolume::new(source, options.cache_bytes)?),
            info,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.info.path
    }

    /// The page opened alone ([`TiffOptions::page`]), or `None` for the
    /// first page with the stack it starts.
    pub fn page(&self) -> Option<usize> {
        self.info.page
    }

    /// Pages (directories of the main chain) in the file.
    pub fn pages(&self) -> usize {
        self.info.pages
    }

    /// The resolution level opened (0 = full resolution).
    pub fn level(&self) -> usize {
        self.info.level
    }

    /// Every resolution level of the page or stack, full resolution first.
    pub fn levels(&self) -> &[TiffLevel] {
        &self.info.levels
    }

    /// The axes, named as tifffile names them: the stack's (`T` time,
    /// `Z` depth, `C` channel stored as pages, `I` a sequence of pages),
    /// then `YXS` (rows, columns, samples).
    pub fn axes(&self) -> &str {
        &self.info.axes
    }

    /// What named the stack's axes: `"OME-XML"`, `"ImageJ"`, or `None`.
    pub fn axes_from(&self) -> Option<&'static str> {
        self.info.series
    }

    /// The shape of a tile, or of a strip (`(…, rows_per_strip, width,
    /// samples)`; one sample for a planar image, 1 on the stack's axes).
    pub fn chunk_shape(&self) -> &[usize] {
        &self.info.chunk
    }

    /// Whether the image is stored in tiles (else in strips).
    pub fn is_tiled(&self) -> bool {
        self.info.tiled
    }

    /// Whether each sample is stored in chunks of its own
    /// (`PlanarConfiguration` 2).
    pub fn is_planar(&self) -> bool {
        self.info.planar
    }

    /// The TIFF compression code and its name (`(5, "LZW")`).
    pub fn compression(&self) -> (u16, &'static str) {
        let c = self.info.compression;
        (c, compression_name(c))
    }

    /// Whether the samples are memory-mapped in place (uncompressed, in one
    /// evenly strided run: zero-copy views) rather than decoded chunk by
    /// chunk.
    pub fn is_mapped(&self) -> bool {
        matches!(&self.data, Data::Mapped(r) if r.is_mapped())
    }

    /// Whether the samples are read through the raw path (mapped, or with
    /// positioned reads under [`TiffOptions::mmap`]`(false)`) rather than
    /// decoded.
    pub fn is_raw(&self) -> bool {
        matches!(self.data, Data::Mapped(_))
    }

    /// Tiles or strips decoded since the volume was opened (0 when the
    /// samples are read through the raw path); see
    /// [`ChunkedVolume::decoded_chunks`].
    pub fn decoded_chunks(&self) -> u64 {
        match &self.data {
            Data::Mapped(_) => 0,
            Data::Chunked(v) => v.decoded_chunks(),
        }
    }

    /// The GeoTIFF georeference of the first page, if it has one.
    pub fn geo(&self) -> Option<&GeoTiff> {
        self.info.geo.as_ref()
    }

    fn inner(&self) -> &dyn Volume {
        match &self.data {
            Data::Mapped(v) => v,
            Data::Chunked(v) => v,
        }
    }
}

/// Refuses a compression the `tiff` crate does not decode here.
fn check_compression(path: &Path, ifd: &Ifd, label: &str) -> Result<()> {
    if compression_supported(ifd.compression) {
        return Ok(());
    }
    Err(Error::Unsupported {
        path: path.to_path_buf(),
        what: format!(
            "TIFF compression {} ({}) in {label}",
            ifd.compression,
            compression_name(ifd.compression)
        ),
    })
}

/// Where an uncompressed plane's samples start and how far apart its
/// sample planes are (planar pages), if its chunks lie back to back in
/// one evenly strided run: `(offset, sample_plane_stride)` in bytes.
fn contiguous(ifd: &Ifd, dtype: DType, offsets: &[u64], counts: &[u64]) -> Option<(u64, u64)> {
    let plain_ycbcr = ifd.photometric != Some(6) || ifd.subsampling == (1, 1);
    let (down, across, planes) = ifd.chunk_grid();
    if ifd.compression != 1 || ifd.predictor > 1 || !plain_ycbcr || across != 1 {
        return None;
    }
    let size = dtype.size() as u64;
    let spp = ifd.chunk_samples();
    let row = ifd.chunk_w.checked_mul(spp)?.checked_mul(size)?;
    let chunk = row.checked_mul(ifd.chunk_h)?;
    // the last row of a chunk need not be padded to the chunk's width
    let last_row = ifd.width.checked_mul(spp)?.checked_mul(size)?;
    let base = *offsets.first()?;
    let plane_stride = if planes > 1 {
        offsets.get(down as usize)?.checked_sub(base)?
    } else {
        0
    };
    for k in 0..planes {
        let start = base.checked_add(k.checked_mul(plane_stride)?)?;
        for i in 0..down {
            let at = usize::try_from(k * down + i).ok()?;
            let rows = ifd.chunk_h.min(ifd.height - i * ifd.chunk_h);
            let need = (rows - 1) * row + last_row;
            if offsets[at] != start.checked_add(i.checked_mul(chunk)?)? || counts[at] < need {
                return None;
            }
        }
    }
    Some((base, plane_stride))
}

/// The offset and element strides that map a level whose planes are the
/// runs of [`contiguous`] (every plane's), stacked along `lead`, or
/// `images` planes back to back after the first's (ImageJ); `None` if the
/// planes are not evenly spaced or a stride is not a whole number of
/// elements.
fn mapping(
    first: &Ifd,
    dtype: DType,
    runs: &[Option<(u64, u64)>],
    lead: &[usize],
    images: Option<usize>,
    file_len: u64,
) -> Option<(u64, Vec<usize>)> {
    let size = dtype.size() as u64;
    let runs: Vec<(u64, u64)> = runs.iter().copied().collect::<Option<_>>()?;
    let (base, sample_stride) = *runs.first()?;
    if runs.iter().any(|r| r.1 != sample_stride) {
        return None;
    }
    let spp = first.chunk_samples();
    let row = first.chunk_w.checked_mul(spp)?;
    let plane_bytes = {
        let per_plane = row.checked_mul(first.height)?.checked_mul(size)?;
        if first.planar {
            sample_stride
                .checked_mul(first.samples - 1)?
                .checked_add(per_plane)?
        } else {
            per_plane
        }
    };
    let page_stride = match (images, runs.get(1)) {
        (Some(n), _) => {
            // ImageJ: planes back to back, all inside the file
            let end = base.checked_add(plane_bytes.checked_mul(n as u64)?)?;
            if end > file_len {
                return None;
            }
            plane_bytes
        }
        (None, Some(second)) => second.0.checked_sub(base)?,
        (None, None) => 0,
    };
    if images.is_none()
        && runs.iter().enumerate().any(|(p, r)| {
            Some(r.0)
                != (p as u64)
                    .checked_mul(page_stride)
                    .and_then(|o| o.checked_add(base))
        })
    {
        return None;
    }
    if page_stride % size != 0 || sample_stride % size != 0 {
        return None;
    }
    let el = |b: u64| usize::try_from(b / size).ok();
    let mut strides = vec![0usize; lead.len()];
    let mut acc = el(page_stride)?;
    for (s, &n) in strides.iter_mut().zip(lead).rev() {
        *s = acc;
        acc = acc.checked_mul(n)?;
    }
    strides.push(usize::try_from(row).ok()?);
    strides.push(usize::try_from(spp).ok()?);
    strides.push(if first.planar { el(sample_stride)? } else { 1 });
    Some((base, strides))
}

/// GDAL's 2D affine (`x = a·col + b·row + c`) of a level `sx`, `sy` times
/// coarser than the first page, as a volume affine over the first three
/// axes (`lead` axes of the stack, then rows and columns): `None` if rows
/// and columns are not both among the first three axes.
fn volume_affine(m: &[[f64; 3]; 3], lead: usize, sx: f64, sy: f64) -> Option<[[f64; 4]; 4]> {
    let (row, col) = (lead, lead + 1);
    if col >= 3 {
        return None;
    }
    let mut a = [[0.0; 4]; 4];
    for k in 0..3 {
        a[k][col] = m[k][0] * sx;
        a[k][row] = m[k][1] * sy;
        a[k][3] = m[k][2];
    }
    a[3][3] = 1.0;
    Some(a)
}

impl Volume for TiffVolume {
    fn name(&self) -> &str {
        self.inner().name()
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

    fn affine(&self) -> Option<[[f64; 4]; 4]> {
        self.info.affine
    }

    fn begin_walk<'a>(&'a self, plan: &WalkPlan) -> Option<Box<dyn WalkSession + 'a>> {
        self.inner().begin_walk(plan)
    }

    fn chunk_shape(&self) -> Option<&[usize]> {
        self.inner().chunk_shape()
    }

    fn hint(&self, hint: AccessHint) {
        self.inner().hint(hint)
    }

    fn check_unchanged(&self) -> Result<()> {
        self.info.stamp.check()
    }

    fn kind(&self) -> &'static str {
        "tiff"
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
