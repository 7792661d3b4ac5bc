//! Open a path, whatever it is: [`open`], [`OpenOptions`] and the
//! [`AnyVolume`] they return; the rules are on [`VolumeFormat`].

use std::fmt;
use std::path::{Path, PathBuf};

use super::{AccessHint, Layout, MapAdvice, MemoryOrder, RawOptions, RawVolume, Volume};
use crate::chunked::{WalkPlan, WalkSession};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::io::CacheLimits;
#[cfg(feature = "image")]
use crate::io::DecodeCache;
#[cfg(feature = "image")]
use crate::volume::{ImageOptions, ImageVolume};
#[cfg(feature = "nifti")]
use crate::volume::{NiftiOptions, NiftiVolume};
#[cfg(feature = "tiff")]
use crate::volume::{TiffOptions, TiffVolume};
#[cfg(feature = "zarr")]
use crate::volume::{ZarrOptions, ZarrVolume};

/// Names of NIfTI files: single files and either half of a pair, gzipped
/// or not.
const NIFTI_SUFFIXES: [&str; 6] = [".nii", ".nii.gz", ".hdr", ".hdr.gz", ".img", ".img.gz"];

/// Names of the 2D images the `image` backend decodes.
const IMAGE_SUFFIXES: [&str; 3] = [".png", ".jpg", ".jpeg"];

/// Names of TIFF files (the `tiff` backend; decoded whole by the `image`
/// backend in a build without it).
const TIFF_SUFFIXES: [&str; 2] = [".tif", ".tiff"];

/// The metadata files that make a directory a Zarr node (v3, v2 array, v2
/// group).
const ZARR_MARKERS: [&str; 3] = ["zarr.json", ".zarray", ".zgroup"];

/// The storage formats [`open`] tells apart, one per backend.
///
/// The format comes from the path, never from a guess at its bytes
/// ([`VolumeFormat::detect`]):
///
/// | path | format |
/// |---|---|
/// | any, when [`OpenOptions::raw`] gives a shape and an element type | [`VolumeFormat::Raw`] |
/// | `*.nii`, `*.nii.gz`, `*.hdr`, `*.hdr.gz`, `*.img`, `*.img.gz` | [`VolumeFormat::Nifti`] |
/// | `*.tif`, `*.tiff` | [`VolumeFormat::Tiff`] |
/// | `*.png`, `*.jpg`, `*.jpeg` | [`VolumeFormat::Image`] |
/// | a directory holding `zarr.json`, `.zarray` or `.zgroup`, or any path when [`OpenOptions::zarr_array`] names an array in it | [`VolumeFormat::Zarr`] |
///
/// The first row that matches wins. Suffixes are compared without regard
/// to ASCII case. A raw file has no
/// header, so it is raw only when its shape and element type are given;
/// anything else is an [`Error::UnknownFormat`] naming the path. A Zarr
/// group opened without naming an array is an [`Error::ZarrGroup`] that
/// lists the group's arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VolumeFormat {
    /// Headerless binary ([`RawVolume`]).
    Raw,
    /// NIfTI-1 or NIfTI-2 (`NiftiVolume`, feature `nifti`).
    Nifti,
    /// A PNG or JPEG image (`ImageVolume`, feature `image`).
    Image,
    /// A TIFF or BigTIFF page (`TiffVolume`, feature `tiff`; without it,
    /// decoded whole as an `ImageVolume` when the `image` feature is on).
    Tiff,
    /// A Zarr v2 or v3 array (`ZarrVolume`, feature `zarr`).
    Zarr,
}

impl VolumeFormat {
    /// The format of `path` from its name, or for a directory from the Zarr
    /// metadata file in it, by the rules in the [type's docs](VolumeFormat).
    /// Never [`Raw`](Self::Raw): a raw file has no name or header to tell it
    /// by. Only a directory is looked at; files are not opened.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] naming `path` when no rule matches.
    pub fn detect(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_name(path)
            .or_else(|| is_zarr_dir(path).then_some(Self::Zarr))
            .or_else(|| is_remote_path(path).then_some(Self::Zarr))
            .ok_or_else(|| Error::UnknownFormat {
                path: path.to_path_buf(),
            })
    }

    /// The format a file name's suffix says, if it says one.
    fn from_name(path: &Path) -> Option<Self> {
        if has_suffix(path, &NIFTI_SUFFIXES) {
            Some(Self::Nifti)
        } else if has_suffix(path, &TIFF_SUFFIXES) {
            Some(Self::Tiff)
        } else if has_suffix(path, &IMAGE_SUFFIXES) {
            Some(Self::Image)
        } else {
            None
        }
    }

    /// The format's name, the same as the [`Volume::kind`] of its volumes:
    /// `"raw"`, `"nifti"`, `"image"`, `"tiff"` or `"zarr"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Nifti => "nifti",
            Self::Image => "image",
            Self::Tiff => "tiff",
            Self::Zarr => "zarr",
        }
    }

    /// The cargo feature the format's backend needs (`None` for raw, which
    /// is always there).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Raw => None,
            Self::Nifti => Some("nifti"),
            Self::Image => Some("image"),
            Self::Tiff => Some("tiff"),
            Self::Zarr => Some("zarr"),
        }
    }

    /// Whether this build of the crate reads the format.
    pub fn is_enabled(self) -> bool {
        match self {
            Self::Raw => true,
            Self::Nifti => cfg!(feature = "nifti"),
            Self::Image => cfg!(feature = "image"),
            Self::Tiff => cfg!(any(feature = "tiff", feature = "image")),
            Self::Zarr => cfg!(feature = "zarr"),
        }
    }
}

impl fmt::Display for VolumeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the file name ends with one of `suffixes` (ASCII case ignored).
fn has_suffix(path: &Path, suffixes: &[&str]) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    suffixes.iter().any(|ext| name.ends_with(ext))
}

/// `s3://…` and `http(s)://…`: a remote Zarr array (feature `remote`).
pub(crate) fn is_remote_path(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        ["s3://", "http://", "https://"].iter().any(|s| {
            p.len() > s.len() && p.is_char_boundary(s.len()) && p[..s.len()].eq_ignore_ascii_case(s)
        })
    })
}

fn is_zarr_dir(path: &Path) -> bool {
    ZARR_MARKERS.iter().any(|m| path.join(m).is_file())
}

/// How [`open`] reads a path: the raw layout for headerless files, and the
/// options of each backend. Each setter names the formats it applies to;
/// the others ignore it.
///
/// ```no_run
/// use impart::{ByteOrder, DType, MapAdvice, OpenOptions};
///
/// // a headerless big-endian CT volume after a 512-byte preamble
/// let ct = OpenOptions::new()
///     .raw(&[512, 512, 300], DType::I16)
///     .byte_order(ByteOrder::Big)
///     .offset(512)
///     .open("ct.bin")?;
/// // one array of a Zarr group, with 256 MiB of decoded chunks per walk
/// let level = OpenOptions::new()
///     .zarr_array("raw/0")
///     .chunk_cache_bytes(256 << 20)
///     .open("sample.zarr")?;
/// // a gzipped NIfTI decompressed to a chosen directory, read with pread
/// let t1 = OpenOptions::new()
///     .cache_dir("/scratch/cache")
///     .mmap(false)
///     .advice(MapAdvice::Off)
///     .open("t1.nii.gz")?;
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    raw: Option<(Vec<usize>, DType)>,
    byte_order: ByteOrder,
    order: MemoryOrder,
    offset: u64,
    mmap: bool,
    advice: MapAdvice,
    cache_dir: Option<PathBuf>,
    cache_limits: Option<CacheLimits>,
    zarr_array: Option<String>,
    chunk_cache_bytes: Option<usize>,
    page: Option<usize>,
    level: usize,
    decode_in_memory_max: Option<u64>,
    #[cfg(feature = "remote")]
    remote: Option<super::RemoteOptions>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            raw: None,
            byte_order: ByteOrder::Little,
            order: MemoryOrder::C,
            offset: 0,
            mmap: true,
            advice: MapAdvice::default(),
            cache_dir: None,
            cache_limits: None,
            zarr_array: None,
            chunk_cache_bytes: None,
            page: None,
            level: 0,
            decode_in_memory_max: None,
            #[cfg(feature = "remote")]
            remote: None,
        }
    }
}

impl OpenOptions {
    /// Default options: formats detected by name, files memory-mapped with
    /// [`MapAdvice::Auto`], gzipped NIfTI decompressed to the system temp
    /// directory, images decoded in memory (or, beyond 256 MiB, into a
    /// temporary cache file), Zarr chunk budget from
    /// [`MemoryLimits`](crate::MemoryLimits).
    pub fn new() -> Self {
        Self::default()
    }

    /// Raw: read the path as headerless binary of `shape` elements of
    /// `dtype`, whatever its name (little-endian, C order, from byte 0
    /// unless [`byte_order`](Self::byte_order), [`order`](Self::order) and
    /// [`offset`](Self::offset) say otherwise).
    pub fn raw(mut self, shape: &[usize], dtype: DType) -> Self {
        self.raw = Some((shape.to_vec(), dtype));
        self
    }

    /// Raw: byte order of the stored elements (default little). Headers
    /// say it for the other formats.
    pub fn byte_order(mut self, byte_order: ByteOrder) -> Self {
        self.byte_order = byte_order;
        self
    }

    /// Raw: memory order of the axes (default C).
    pub fn order(mut self, order: MemoryOrder) -> Self {
        self.order = order;
        self
    }

    /// Raw: byte offset of the first voxel (default 0).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Raw, NIfTI and uncompressed TIFF: memory-map the data (default) or read it with
    /// positioned reads; see [`RawOptions::mmap`].
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }

    /// Raw and NIfTI: the `madvise` hints walks give mapped data (default
    /// [`MapAdvice::Auto`]).
    pub fn advice(mut self, advice: MapAdvice) -> Self {
        self.advice = advice;
        self
    }

    /// NIfTI and images: the decode cache directory (an `impart-cache`
    /// subdirectory is made in it). Gzipped NIfTI files are decompressed
    /// there (default: the system temp directory); PNG and JPEG images
    /// are decoded there once and memory-mapped on later opens (default:
    /// decoded on every open, in memory or, when larger than
    /// [`decode_in_memory_max`](Self::decode_in_memory_max), into a
    /// temporary cache file; see `ImageOptions`).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// NIfTI and images: the decode cache's size cap and age limit,
    /// applied (least recently used files first) after a new cache file is
    /// written; see [`crate::io::cache`]. Default:
    /// [`CacheLimits::from_env`] — a 20 GiB cap unless
    /// `IMPART_CACHE_MAX_BYTES` or `IMPART_CACHE_MAX_AGE` say otherwise.
    pub fn cache_limits(mut self, limits: CacheLimits) -> Self {
        self.cache_limits = Some(limits);
        self
    }

    /// Zarr: the array's path inside the store or group given to
    /// [`open`](Self::open) (like `"raw/0"`). A path that is not named as
    /// NIfTI or an image is then opened as Zarr.
    pub fn zarr_array(mut self, array: impl Into<String>) -> Self {
        self.zarr_array = Some(array.into());
        self
    }

    /// Zarr: most bytes of decoded chunks a walk holds at one time (default
    /// [`MemoryLimits::chunk_cache_bytes`](crate::MemoryLimits::chunk_cache_bytes));
    /// see `ZarrOptions::cache_bytes`.
    pub fn chunk_cache_bytes(mut self, bytes: usize) -> Self {
        self.chunk_cache_bytes = Some(bytes);
        self
    }

    /// Remote Zarr: how the store is reached (retries, timeout, prefetch);
    /// see `ZarrOptions::remote`.
    #[cfg(feature = "remote")]
    pub fn remote(mut self, options: super::RemoteOptions) -> Self {
        self.remote = Some(options);
        self
    }

    /// PNG and JPEG without a [`cache_dir`](Self::cache_dir): images whose
    /// decoded pixels take more than `bytes` are decoded into a temporary
    /// cache file and mapped instead of into memory (default:
    /// `ImageOptions::default_in_memory_max`, 256 MiB, at most half the
    /// memory, or the environment variable `IMPART_DECODE_IN_MEMORY_MAX`).
    pub fn decode_in_memory_max(mut self, bytes: u64) -> Self {
        self.decode_in_memory_max = Some(bytes);
        self
    }

    /// TIFF: open one page (image file directory, from 0) as a 2D image
    /// (CLI `--page`). Default: the first page, with the pages after it
    /// that share its shape and type as a stack (`TiffOptions::page`).
    pub fn page(mut self, page: usize) -> Self {
        self.page = Some(page);
        self
    }

    /// TIFF: page 0 alone unless [`page`](Self::page) named another (the
    /// 2D image of the original API).
    #[cfg(feature = "image")]
    pub(crate) fn single_page(mut self) -> Self {
        self.page.get_or_insert(0);
        self
    }

    /// TIFF and OME-Zarr: which resolution level of a pyramid or
    /// multiscale image to open, 0 (the default) being full resolution (CLI
    /// `--level`; `TiffOptions::level`, `ZarrOptions::level`).
    pub fn level(mut self, level: usize) -> Self {
        self.level = level;
        self
    }

    /// The format [`open`](Self::open) reads `path` as: raw when
    /// [`raw`](Self::raw) was given, else by name, else Zarr when
    /// [`zarr_array`](Self::zarr_array) was given or `path` is a Zarr
    /// directory.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] naming `path` when no rule matches.
    pub fn format(&self, path: impl AsRef<Path>) -> Result<VolumeFormat> {
        let path = path.as_ref();
        if self.raw.is_some() {
            return Ok(VolumeFormat::Raw);
        }
        match VolumeFormat::from_name(path) {
            Some(format) => Ok(format),
            None if self.zarr_array.is_some() => Ok(VolumeFormat::Zarr),
            None => VolumeFormat::detect(path),
        }
    }

    /// Opens `path` with the backend of its [`format`](Self::format).
    /// Opening reads headers and metadata only (a gzipped NIfTI is
    /// decompressed to the cache, an image decoded, unless cached), never
    /// the voxels of a mapped or chunked volume.
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownFormat`] when the format cannot be told;
    /// - [`Error::FormatNotEnabled`] when this build leaves the format's
    ///   backend out;
    /// - [`Error::ZarrGroup`] for a Zarr group without
    ///   [`zarr_array`](Self::zarr_array);
    /// - otherwise the backend's errors, each naming the file:
    ///   [`RawOptions::open`], `NiftiOptions::open`, `ImageOptions::open`,
    ///   `TiffOptions::open`, `ZarrOptions::open`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<AnyVolume> {
        let path = path.as_ref();
        if let Some((shape, dtype)) = &self.raw {
            return RawOptions::new(shape, *dtype)
                .byte_order(self.byte_order)
                .order(self.order)
                .offset(self.offset)
                .mmap(self.mmap)
                .advice(self.advice)
                .open(path)
                .map(AnyVolume::Raw);
        }
        match self.format(path)? {
            VolumeFormat::Nifti => self.open_nifti(path),
            VolumeFormat::Image => self.open_image(path),
            VolumeFormat::Tiff => self.open_tiff(path),
            VolumeFormat::Zarr => self.open_zarr(path),
            // `format` gives Raw only with `self.raw`, handled above
            VolumeFormat::Raw => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    #[cfg(feature = "nifti")]
    fn open_nifti(&self, path: &Path) -> Result<AnyVolume> {
        let mut options = NiftiOptions::new().mmap(self.mmap).advice(self.advice);
        if let Some(dir) = &self.cache_dir {
            options = options.cache_dir(dir);
        }
        if let Some(limits) = self.cache_limits {
            options = options.cache_limits(limits);
        }
        options.open(path).map(AnyVolume::Nifti)
    }

    #[cfg(not(feature = "nifti"))]
    fn open_nifti(&self, path: &Path) -> Result<AnyVolume> {
        Err(not_enabled(path, VolumeFormat::Nifti))
    }

    #[cfg(feature = "image")]
    fn open_image(&self, path: &Path) -> Result<AnyVolume> {
        let mut options = ImageOptions::new();
        if let Some(dir) = &self.cache_dir {
            let mut cache = DecodeCache::new(dir);
            if let Some(limits) = self.cache_limits {
                cache = cache.with_limits(limits);
            }
            options = options.cache(cache);
        }
        if let Some(bytes) = self.decode_in_memory_max {
            options = options.in_memory_max(bytes);
        }
        options.open(path).map(AnyVolume::Image)
    }

    #[cfg(not(feature = "image"))]
    fn open_image(&self, path: &Path) -> Result<AnyVolume> {
        Err(not_enabled(path, VolumeFormat::Image))
    }

    #[cfg(feature = "tiff")]
    fn open_tiff(&self, path: &Path) -> Result<AnyVolume> {
        let mut options = TiffOptions::new()
            .level(self.level)
            .mmap(self.mmap)
            .advice(self.advice);
        if let Some(page) = self.page {
            options = options.page(page);
        }
        if let Some(bytes) = self.chunk_cache_bytes {
            options = options.cache_bytes(bytes);
        }
        options.open(path).map(AnyVolume::Tiff)
    }

    /// Without the `tiff` backend, the first page decoded whole by `image`.
    #[cfg(not(feature = "tiff"))]
    fn open_tiff(&self, path: &Path) -> Result<AnyVolume> {
        if self.page.unwrap_or(0) == 0 && self.level == 0 && cfg!(feature = "image") {
            self.open_image(path)
        } else {
            Err(not_enabled(path, VolumeFormat::Tiff))
        }
    }

    #[cfg(feature = "zarr")]
    fn open_zarr(&self, path: &Path) -> Result<AnyVolume> {
        let mut options = ZarrOptions::new().level(self.level);
        if let Some(bytes) = self.chunk_cache_bytes {
            options = options.cache_bytes(bytes);
        }
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            options = options.remote(remote.clone());
        }
        match &self.zarr_array {
            Some(array) => options.open_in(path, array),
            // a group is only looked at once opening it as an array failed
            None if is_remote_path(path) => options.open(path),
            None => options.open(path).map_err(|e| match group_arrays(path) {
                Some(arrays) => Error::ZarrGroup {
                    path: path.to_path_buf(),
                    arrays,
                },
                None => e,
            }),
        }
        .map(AnyVolume::Zarr)
    }

    #[cfg(not(feature = "zarr"))]
    fn open_zarr(&self, path: &Path) -> Result<AnyVolume> {
        Err(not_enabled(path, VolumeFormat::Zarr))
    }
}

#[cfg(not(all(feature = "nifti", feature = "image", feature = "zarr")))]
fn not_enabled(path: &Path, format: VolumeFormat) -> Error {
    Error::FormatNotEnabled {
        path: path.to_path_buf(),
        format: format.name(),
        feature: format.feature().unwrap_or_default(),
    }
}

/// The arrays of the Zarr group at `path` (in it and its subgroups, as
/// sorted paths relative to it), or `None` when `path` is no group.
#[cfg(feature = "zarr")]
fn group_arrays(path: &Path) -> Option<Vec<String>> {
    use zarrs::node::NodeMetadata;
    let store = zarrs::filesystem::FilesystemStore::new(path).ok()?;
    let group = zarrs::group::Group::open(std::sync::Arc::new(store), "/").ok()?;
    let mut arrays: Vec<String> = group
        .traverse()
        .map(|nodes| {
            nodes
                .into_iter()
                .filter(|(_, meta)| matches!(meta, NodeMetadata::Array(_)))
                .map(|(node, _)| node.as_str().trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    arrays.sort();
    Some(arrays)
}

/// Opens `path` with default [`OpenOptions`]: NIfTI, image or Zarr array by
/// its name or directory (the rules are on [`VolumeFormat`]).
///
/// ```no_run
/// use impart::{Partition, Volume};
///
/// let volume = impart::open("t1.nii.gz")?;
/// println!("{} {:?} {}", volume.format(), volume.shape(), volume.dtype());
/// let part = Partition::builder(volume).cell(&[64, 64, 64]).build()?;
/// # Ok::<(), impart::Error>(())
/// ```
///
/// A raw file has no header to tell it by:
///
/// ```
/// use impart::{DType, OpenOptions, Volume, VolumeFormat};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("slab.u16");
/// std::fs::write(&path, [0u8; 2 * 3 * 4 * 2])?;
///
/// // no header: the name says nothing, so the shape and type must be given
/// let err = impart::open(&path).unwrap_err();
/// assert!(matches!(err, impart::Error::UnknownFormat { .. }));
///
/// let volume = OpenOptions::new().raw(&[2, 3, 4], DType::U16).open(&path)?;
/// assert_eq!(volume.format(), VolumeFormat::Raw);
/// assert_eq!((volume.shape(), volume.dtype()), (&[2, 3, 4][..], DType::U16));
///
/// assert_eq!(VolumeFormat::detect("t1.nii.gz")?, VolumeFormat::Nifti);
/// assert_eq!(VolumeFormat::detect("slide.TIFF")?, VolumeFormat::Tiff);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`OpenOptions::open`]; a raw file is an [`Error::UnknownFormat`]
/// (give its shape and type with [`OpenOptions::raw`]).
pub fn open(path: impl AsRef<Path>) -> Result<AnyVolume> {
    OpenOptions::new().open(path)
}

/// A volume of any backend, as [`open`] returns it. It is a [`Volume`]
/// (every method goes to the backend); match on it for the backend's own
/// accessors (a NIfTI header, Zarr metadata, a raw file's byte order).
#[derive(Debug)]
#[non_exhaustive]
// One value per opened file, moved a handful of times (into a partition):
// boxing the larger variants would save nothing that matters and make
// matching on them unlike matching on the others.
#[allow(clippy::large_enum_variant)]
pub enum AnyVolume {
    /// A raw binary file.
    Raw(RawVolume),
    /// A NIfTI-1 or NIfTI-2 file or pair.
    #[cfg(feature = "nifti")]
    Nifti(NiftiVolume),
    /// A decoded PNG, TIFF or JPEG image.
    #[cfg(feature = "image")]
    Image(ImageVolume),
    /// A page of a TIFF or BigTIFF file, read tile by tile.
    #[cfg(feature = "tiff")]
    Tiff(TiffVolume),
    /// A Zarr v2 or v3 array.
    #[cfg(feature = "zarr")]
    Zarr(ZarrVolume),
}

/// `$body` with `$v` bound to the backend volume, whatever the variant.
macro_rules! each_backend {
    ($self:expr, $v:ident => $body:expr) => {
        match $self {
            AnyVolume::Raw($v) => $body,
            #[cfg(feature = "nifti")]
            AnyVolume::Nifti($v) => $body,
            #[cfg(feature = "image")]
            AnyVolume::Image($v) => $body,
            #[cfg(feature = "tiff")]
            AnyVolume::Tiff($v) => $body,
            #[cfg(feature = "zarr")]
            AnyVolume::Zarr($v) => $body,
        }
    };
}

impl AnyVolume {
    /// The backend's format.
    pub fn format(&self) -> VolumeFormat {
        match self {
            AnyVolume::Raw(_) => VolumeFormat::Raw,
            #[cfg(feature = "nifti")]
            AnyVolume::Nifti(_) => VolumeFormat::Nifti,
            #[cfg(feature = "image")]
            AnyVolume::Image(_) => VolumeFormat::Image,
            #[cfg(feature = "tiff")]
            AnyVolume::Tiff(_) => VolumeFormat::Tiff,
            #[cfg(feature = "zarr")]
            AnyVolume::Zarr(_) => VolumeFormat::Zarr,
        }
    }

    /// Chunks (Zarr chunks, TIFF tiles or strips) decoded since the volume
    /// was opened, for the backends that decode chunks; `None` for the
    /// others.
    pub fn decoded_chunks(&self) -> Option<u64> {
        match self {
            #[cfg(feature = "tiff")]
            AnyVolume::Tiff(v) if !v.is_raw() => Some(v.decoded_chunks()),
            #[cfg(feature = "zarr")]
            AnyVolume::Zarr(v) => Some(v.decoded_chunks()),
            _ => None,
        }
    }

    /// Whether the voxels are a memory-mapped file: a raw or NIfTI file
    /// opened with [`mmap`](OpenOptions::mmap), a decompressed `.nii.gz`,
    /// an image's decode cache. `false` for voxels decoded into memory, read
    /// with positioned reads or decoded chunk by chunk.
    pub fn is_mapped(&self) -> bool {
        match self {
            AnyVolume::Raw(v) => v.is_mapped(),
            #[cfg(feature = "nifti")]
            AnyVolume::Nifti(v) => v.raw().is_mapped(),
            #[cfg(feature = "image")]
            AnyVolume::Image(v) => v.is_cached(),
            #[cfg(feature = "tiff")]
            AnyVolume::Tiff(v) => v.is_mapped(),
            #[cfg(feature = "zarr")]
            AnyVolume::Zarr(_) => false,
        }
    }
}

impl Volume for AnyVolume {
    fn name(&self) -> &str {
        each_backend!(self, v => v.name())
    }
    fn shape(&self) -> &[usize] {
        each_backend!(self, v => v.shape())
    }
    fn dtype(&self) -> DType {
        each_backend!(self, v => v.dtype())
    }
    fn layout(&self) -> Option<Layout<'_>> {
        each_backend!(self, v => v.layout())
    }
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        each_backend!(self, v => v.read_region(region, out))
    }
    fn affine(&self) -> Option<[[f64; 4]; 4]> {
        each_backend!(self, v => v.affine())
    }
    fn axis_transform(&self) -> Option<&super::AxisTransform> {
        each_backend!(self, v => v.axis_transform())
    }
    fn scaling(&self) -> Option<(f64, f64)> {
        each_backend!(self, v => v.scaling())
    }
    fn chunk_shape(&self) -> Option<&[usize]> {
        each_backend!(self, v => Volume::chunk_shape(v))
    }
    fn begin_walk<'a>(&'a self, plan: &WalkPlan) -> Option<Box<dyn WalkSession + 'a>> {
        each_backend!(self, v => v.begin_walk(plan))
    }
    fn hint(&self, hint: AccessHint) {
        each_backend!(self, v => v.hint(hint))
    }
    fn check_unchanged(&self) -> Result<()> {
        each_backend!(self, v => v.check_unchanged())
    }
    fn kind(&self) -> &'static str {
        each_backend!(self, v => v.kind())
    }
}

impl From<RawVolume> for AnyVolume {
    fn from(v: RawVolume) -> Self {
        AnyVolume::Raw(v)
    }
}

#[cfg(feature = "nifti")]
impl From<NiftiVolume> for AnyVolume {
    fn from(v: NiftiVolume) -> Self {
        AnyVolume::Nifti(v)
    }
}

#[cfg(feature = "image")]
impl From<ImageVolume> for AnyVolume {
    fn from(v: ImageVolume) -> Self {
        AnyVolume::Image(v)
    }
}

#[cfg(feature = "tiff")]
impl From<TiffVolume> for AnyVolume {
    fn from(v: TiffVolume) -> Self {
        AnyVolume::Tiff(v)
    }
}

#[cfg(feature = "zarr")]
impl From<ZarrVolume> for AnyVolume {
    fn from(v: ZarrVolume) -> Self {
        AnyVolume::Zarr(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, format) in [
            ("a.nii", VolumeFormat::Nifti),
            ("a.NII.GZ", VolumeFormat::Nifti),
            ("dir/a.hdr", VolumeFormat::Nifti),
            ("a.hdr.gz", VolumeFormat::Nifti),
            ("a.img", VolumeFormat::Nifti),
            ("a.img.gz", VolumeFormat::Nifti),
            ("a.png", VolumeFormat::Image),
            ("a.Tif", VolumeFormat::Tiff),
            ("a.tiff", VolumeFormat::Tiff),
            ("a.jpg", VolumeFormat::Image),
            ("a.JPEG", VolumeFormat::Image),
        ] {
            assert_eq!(VolumeFormat::detect(name).ok(), Some(format), "{name}");
        }
        for name in ["a.raw", "a.nii.bz2", "a.png.gz", "nii", "", "/"] {
            match VolumeFormat::detect(name) {
                Err(Error::UnknownFormat { path }) => assert_eq!(path, Path::new(name)),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn raw_wins_and_zarr_array_picks_zarr() {
        let raw = OpenOptions::new().raw(&[2], DType::U8);
        assert_eq!(raw.format("a.nii").ok(), Some(VolumeFormat::Raw));
        let zarr = OpenOptions::new().zarr_array("x/y");
        assert_eq!(zarr.format("store").ok(), Some(VolumeFormat::Zarr));
        // a NIfTI or image name still wins over the array path
        assert_eq!(zarr.format("a.nii").ok(), Some(VolumeFormat::Nifti));
    }
}
