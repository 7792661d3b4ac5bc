//! NIfTI-1 and NIfTI-2 volumes: `.nii`, `.nii.gz`, `.hdr/.img` pairs and
//! their gzipped forms.
//!
//! The header is parsed (NIfTI-1 through the `nifti` crate, NIfTI-2 here,
//! since that crate reads NIfTI-1 only), every field that sizes or places
//! data is checked, and the voxels are read through the raw backend: an
//! uncompressed file is memory-mapped at `vox_offset` and viewed in place,
//! exactly like a raw file in Fortran order (axes x, y, z, t, … as nibabel
//! presents them).
//!
//! # Gzipped files and the cache
//!
//! A gzip stream cannot be mapped, and decompressing a large volume into
//! memory defeats the point. A `.nii.gz` (or `.img.gz`) is decompressed once,
//! streaming with a 1 MiB buffer whatever the volume's size, into a cache
//! file, which is then mapped. **Disk cost: one uncompressed copy of the
//! volume** (header, extensions and voxels), in
//! `<cache dir>/impart-cache/` (the cache dir defaults to the system temp
//! directory; see [`NiftiOptions::cache_dir`]). The cache file is named by a
//! hash of the source's path, size and modification time, so a changed
//! source gets a new cache file and an unchanged one reuses it. It is
//! written under a temporary name and renamed when complete, so a crash
//! never leaves a partial file that a later run trusts. The cache is kept
//! under a size cap (20 GiB by default) by removing the least recently used
//! files after each new one is written; see [`crate::io::cache`] for the
//! limits, the `IMPART_CACHE_MAX_BYTES` and `IMPART_CACHE_MAX_AGE`
//! environment variables and [`NiftiOptions::cache_limits`].
//!
//! # Files that change while open
//!
//! Opening stamps the header file and the data file (one stamp for a
//! `.nii`; for a gzipped file, the `.gz` source, not its cache copy) before
//! reading them, and [`Volume::check_unchanged`] compares them again; see
//! there for what each change gives.
//!
//! # Intensity scaling and world coordinates
//!
//! Views and plain materialization show stored values. `scl_slope` and
//! `scl_inter` are applied on request
//! ([`Selected::to_array_scaled`](crate::Selected::to_array_scaled)), as
//! nibabel's `get_fdata` does: a slope of 0 or not finite means no scaling.
//! The voxel-to-world affine is the sform if `sform_code != 0`, else the
//! qform if `qform_code != 0`, else the base affine from `pixdim` (nibabel's
//! order, and nibabel's formulas). Like nibabel's loader, the header is
//! repaired first: zero or negative voxel sizes, a qfac other than ±1 and
//! undefined transform codes (see [`NiftiHeader::parse`]).
//!
//! # Refused types
//!
//! Binary (1), complex (32, 1792, 2048), RGB24 (128), RGBA32 (2304) and
//! float128 (1536) data are refused with [`Error::UnsupportedDType`].

use std::path::{Path, PathBuf};

mod files;

use crate::io::{CacheLimits, DecodeCache, FileStamp};
use files::{cached, locate, read_prefix};

use super::{AccessHint, Layout, MapAdvice, MemoryOrder, RawOptions, RawVolume, Volume};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::nifti::invalid;
pub use crate::format::nifti::{Affine, NiftiHeader, NIFTI1_HEADER_SIZE, NIFTI2_HEADER_SIZE};
use crate::grid::Region;

/// Options for opening NIfTI files.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiOptions {
    cache_dir: Option<PathBuf>,
    cache_limits: Option<CacheLimits>,
    mmap: bool,
    advice: MapAdvice,
}

impl Default for NiftiOptions {
    fn default() -> Self {
        NiftiOptions {
            cache_dir: None,
            cache_limits: None,
            mmap: true,
            advice: MapAdvice::default(),
        }
    }
}

impl NiftiOptions {
    /// Default options: memory-mapped, cache in the system temp directory
    /// under the limits of [`CacheLimits::from_env`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Where gzipped files are decompressed to (a subdirectory
    /// `impart-cache` is made there).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The decode cache's size cap and age limit, applied after a gzipped
    /// file is decompressed into it (default: [`CacheLimits::from_env`],
    /// the defaults where the environment sets nothing or something that
    /// does not parse).
    pub fn cache_limits(mut self, limits: CacheLimits) -> Self {
        self.cache_limits = Some(limits);
        self
    }

    /// Memory-map the data (default) or read it with positioned reads
    /// (see [`RawOptions::mmap`]).
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }

    /// The `madvise` hints walks give the mapped data (see [`MapAdvice`];
    /// default [`MapAdvice::Auto`]).
    pub fn advice(mut self, advice: MapAdvice) -> Self {
        self.advice = advice;
        self
    }

    /// Opens a `.nii`, `.nii.gz`, `.hdr`/`.img` (either name of the pair)
    /// or gzipped pair file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if it cannot be opened, read or mapped
    /// or, gzipped, does not decompress (a corrupt stream, or one whose
    /// CRC-32 or length does not match its data; for a pair, naming the
    /// given file if its other half is missing), or naming the cache
    /// directory or file if the decompressed copy cannot be written;
    /// [`Error::InvalidHeader`]
    /// for a header [`NiftiHeader::parse`] refuses (a file shorter than its
    /// header included) or a magic that does not match the files (a
    /// single-file magic on a pair, or the reverse);
    /// [`Error::UnsupportedDType`] for a refused datatype;
    /// [`Error::InvalidLayout`] for a shape too large to address;
    /// [`Error::Truncated`] naming the data file if it is shorter than
    /// `vox_offset` plus the voxels (for a gzipped file, its decompressed
    /// stream).
    pub fn open(&self, path: impl AsRef<Path>) -> Result<NiftiVolume> {
        NiftiVolume::open_with(path.as_ref(), self)
    }
}

/// A NIfTI-1 or NIfTI-2 volume; see the [module docs](self).
///
/// ```no_run
/// use impart::{NiftiVolume, Partition, Volume};
///
/// let volume = NiftiVolume::open("t1.nii.gz")?;
/// println!("{:?} {} voxel size {:?}", volume.shape(), volume.dtype(), volume.header().voxel_size());
/// let part = Partition::builder(volume).cell(&[64, 64, 64]).stride(0.5).build()?;
/// for cell in part.cells("...")? {
///     let mm = cell.world_origin().unwrap_or_default();
///     let values = cell.to_array_scaled::<f32>()?;
///     println!("{:?} at {mm:?} mm: {} voxels", cell.index(), values.len());
/// }
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug)]
pub struct NiftiVolume {
    path: PathBuf,
    name: String,
    header: NiftiHeader,
    data_path: PathBuf,
    cache: Option<PathBuf>,
    raw: RawVolume,
    /// The header file and, for a pair, the data file, stamped before
    /// they were read (the sources, for gzipped files).
    stamps: Vec<FileStamp>,
}

impl NiftiVolume {
    /// Opens a NIfTI file with default [`NiftiOptions`].
    ///
    /// # Errors
    ///
    /// As [`NiftiOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), &NiftiOptions::default())
    }

    fn open_with(path: &Path, options: &NiftiOptions) -> Result<Self> {
        // stamped before anything is read from it
        let mut stamps = vec![FileStamp::of(path)?];
        let files = locate(path)?;
        // the other file of a pair
        let other = if files.header == path {
            &files.data
        } else {
            &files.header
        };
        if other != path {
            stamps.push(FileStamp::of(other)?);
        }
        let prefix = read_prefix(&files.header, files.header_gz, NIFTI2_HEADER_SIZE)?;
        let header = NiftiHeader::parse(&prefix, &files.header)?;
        let pair = files.header != files.data;
        if pair == header.single_file {
            let magic = if header.single_file {
                "single-file"
            } else {
                "pair"
            };
            let layout = if pair {
                "a .hdr/.img pair"
            } else {
                "a single file"
            };
            return Err(invalid(
                &files.header,
                format!("the magic says {magic} but the file is {layout}"),
            ));
        }
        let needed = header.vox_offset + header.data_bytes() as u64;
        let (cache, raw) = if files.data_gz {
            let mut cache =
                DecodeCache::new(options.cache_dir.clone().unwrap_or_else(std::env::temp_dir));
            if let Some(limits) = options.cache_limits {
                cache = cache.with_limits(limits);
            }
            // the prefix of the data file checks a reused cache copy
            let data_prefix = if pair {
                read_prefix(&files.data, true, 64)?
            } else {
                prefix.clone()
            };
            let data_prefix = &data_prefix[..data_prefix.len().min(needed as usize)];
            let mut c = cached(&files.data, needed, data_prefix, &cache)?;
            let raw = match Self::open_raw(&header, options, &c) {
                // another process evicted the copy between its lookup and
                // its mapping: decompress it again, once
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    c = cached(&files.data, needed, data_prefix, &cache)?;
                    Self::open_raw(&header, options, &c)?
                }
                r => r?,
            };
            (Some(c), raw)
        } else {
            let raw = Self::open_raw(&header, options, &files.data)?;
            (None, raw)
        };
        Ok(NiftiVolume {
            name: path.display().to_string(),
            path: path.to_path_buf(),
            header,
            data_path: files.data,
            cache,
            raw,
            stamps,
        })
    }

    /// The voxels of `header` in `data`, through the raw backend.
    fn open_raw(header: &NiftiHeader, options: &NiftiOptions, data: &Path) -> Result<RawVolume> {
        RawOptions::new(&header.shape, header.dtype)
            .order(MemoryOrder::F)
            .byte_order(header.byte_order)
            .offset(header.vox_offset)
            .mmap(options.mmap)
            .advice(options.advice)
            .open(data)
    }

    /// The checked header.
    pub fn header(&self) -> &NiftiHeader {
        &self.header
    }

    /// The path the volume was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file holding the voxels (the `.img` of a pair).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Whether the voxels are read from a decompressed cache copy.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The cache copy, for gzipped sources.
    pub fn cache_path(&self) -> Option<&Path> {
        self.cache.as_deref()
    }

    /// The raw backend the voxels are read through.
    pub fn raw(&self) -> &RawVolume {
        &self.raw
    }
}

impl Volume for NiftiVolume {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    fn dtype(&self) -> DType {
        self.header.dtype
    }

    fn layout(&self) -> Option<Layout<'_>> {
        self.raw.layout()
    }

    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        self.raw.read_region(region, out)
    }

    fn affine(&self) -> Option<Affine> {
        Some(self.header.affine())
    }

    fn scaling(&self) -> Option<(f64, f64)> {
        self.header.scaling()
    }

    fn hint(&self, hint: AccessHint) {
        self.raw.hint(hint)
    }

    /// The header and data files (the `.gz` sources, not the cache copy
    /// the voxels are mapped from).
    fn check_unchanged(&self) -> Result<()> {
        self.stamps.iter().try_for_each(FileStamp::check)
    }

    fn kind(&self) -> &'static str {
        "nifti"
    }
}
