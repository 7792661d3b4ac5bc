//! Zarr v2 and v3 arrays on a filesystem store, through `zarrs`.
//!
//! Compressed chunks cannot be mapped, so a Zarr volume has no zero-copy
//! view ([`Volume::layout`](crate::Volume::layout) is `None`); a region is read by decoding just
//! the chunks it intersects (for a sharded array, just the sub-chunks) and
//! copying their overlap. Missing chunks read as the fill value.
//!
//! # Decoding each chunk once per walk
//!
//! A Zarr volume is a [`ChunkedVolume`] over a [`ZarrChunks`] source, so a
//! walk over many cells ([`Partition::par_map_cells`] and friends, feature
//! `rayon`) decodes each chunk once, as [`crate::chunked`] describes,
//! as long as the chunks held at one time fit in the memory budget
//! ([`ZarrOptions::cache_bytes`], default from
//! [`MemoryLimits`](crate::MemoryLimits): 1 GiB or an eighth of the memory;
//! beyond it the least recently used chunk is dropped and may be decoded
//! again). Outside a walk nothing is cached.
//!
//! # Arrays that change while open
//!
//! Opening stamps the array's metadata file (`zarr.json`, or `.zarray`
//! for v2) and [`Volume::check_unchanged`](crate::Volume::check_unchanged)
//! compares it again: an array recreated while a walk reads it is an
//! [`Error::Changed`]. Chunk files are not stamped (see there why), so
//! chunks rewritten in place under an unchanged metadata file are not
//! detected.
//!
//! # Refused arrays
//!
//! Data types other than `u8 … f64` (bool, float16, complex, strings, dates,
//! structured types) are refused with [`Error::UnsupportedDType`]; chunk
//! grids other than regular ones with [`Error::InvalidHeader`]. A chunk that
//! does not decode is an [`Error::Decode`] for the reads that touch it.
//!
#![cfg_attr(
    feature = "rayon",
    doc = "[`Partition::par_map_cells`]: crate::Partition::par_map_cells"
)]
#![cfg_attr(
    not(feature = "rayon"),
    doc = "[`Partition::par_map_cells`]: crate#features"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zarrs::array::{
    Array, ArrayBytes, ArrayCreateError, ArrayShardedExt, ArrayShardedReadableExt,
    ArrayShardedReadableExtCache,
};
use zarrs::filesystem::FilesystemStore;

use super::checked_size;
use super::ChunkedVolume;
use crate::chunked::ChunkSource;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::io::FileStamp;

/// Options for opening Zarr arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZarrOptions {
    cache_bytes: usize,
}

impl Default for ZarrOptions {
    fn default() -> Self {
        ZarrOptions {
            cache_bytes: crate::io::MemoryLimits::detect().chunk_cache_bytes(),
        }
    }
}

impl ZarrOptions {
    /// Default options: decoded chunks held during a walk up to
    /// [`MemoryLimits::chunk_cache_bytes`](crate::MemoryLimits::chunk_cache_bytes)
    /// (1 GiB, at most an eighth of the available memory).
    pub fn new() -> Self {
        Self::default()
    }

    /// Most bytes of decoded chunks held at one time during a walk.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Opens the array at `path` (a directory holding `zarr.json` or
    /// `.zarray`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if it is not a directory;
    /// [`Error::InvalidHeader`] naming it if the store or the array's
    /// metadata cannot be opened or read, an extent does not fit in memory
    /// addresses, or the chunk grid is not regular;
    /// [`Error::UnsupportedDType`] for a data type other than `u8 … f64`
    /// (or a fill value `zarrs` cannot hold); [`Error::InvalidLayout`] for
    /// an array without axes, with an extent of 0, or whose shape or chunk
    /// shape has too many bytes to address.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<ZarrVolume> {
        let path = path.as_ref();
        ZarrChunks::open_impl(path, path, "/", self)
    }

    /// Opens the array at `array` (like `"group/array"`) inside the store or
    /// group at `store`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), for the array's directory inside `store`.
    pub fn open_in(&self, store: impl AsRef<Path>, array: &str) -> Result<ZarrVolume> {
        let store = store.as_ref();
        let node = format!("/{}", array.trim_matches('/'));
        ZarrChunks::open_impl(&store.join(array.trim_matches('/')), store, &node, self)
    }
}

/// The chunks of a Zarr v2 or v3 array (for a sharded array, the
/// sub-chunks), decoded by `zarrs`: the [`ChunkSource`] under
/// [`ZarrVolume`].
pub struct ZarrChunks {
    path: PathBuf,
    name: String,
    array: Array<FilesystemStore>,
    shape: Vec<usize>,
    dtype: DType,
    /// The read unit: the chunk, or the sub-chunk of a sharded array.
    unit: Vec<usize>,
    sharded: Option<ArrayShardedReadableExtCache>,
    /// The array's metadata file, stamped before it was read.
    stamp: FileStamp,
}

impl std::fmt::Debug for ZarrChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrChunks")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// A Zarr v2 or v3 array; see the [module docs](self).
pub type ZarrVolume = ChunkedVolume<ZarrChunks>;

impl ChunkedVolume<ZarrChunks> {
    /// Opens the array at `path` with default options.
    ///
    /// # Errors
    ///
    /// As [`ZarrOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        ZarrOptions::default().open(path)
    }

    /// Opens the array `array` inside the store or group at `store`.
    ///
    /// # Errors
    ///
    /// As [`ZarrOptions::open`].
    pub fn open_in(store: impl AsRef<Path>, array: &str) -> Result<Self> {
        ZarrOptions::default().open_in(store, array)
    }

    /// The read unit: the chunk shape, or the sub-chunk shape of a sharded
    /// array.
    pub fn chunk_shape(&self) -> &[usize] {
        &self.source().unit
    }

    /// The array's path.
    pub fn path(&self) -> &Path {
        &self.source().path
    }

    /// The `zarrs` array, for metadata (codecs, fill value, version).
    pub fn array(&self) -> &Array<FilesystemStore> {
        &self.source().array
    }

    /// Whether the array is sharded (reads then decode sub-chunks).
    pub fn is_sharded(&self) -> bool {
        self.source().sharded.is_some()
    }
}

impl ZarrChunks {
    fn open_impl(
        path: &Path,
        store_path: &Path,
        node: &str,
        options: &ZarrOptions,
    ) -> Result<ZarrVolume> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail,
        };
        if !path.is_dir() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a Zarr array directory"),
            ));
        }
        // the metadata file zarrs reads (v3 first, as it looks), stamped
        // before it is read; with neither, opening fails below
        let meta = ["zarr.json", ".zarray"]
            .iter()
            .map(|m| path.join(m))
            .find(|m| m.is_file())
            .unwrap_or_else(|| path.join("zarr.json"));
        let stamp = FileStamp::of(&meta);
        refuse_unsupported_type(&meta)?;
        let store = FilesystemStore::new(store_path).map_err(|e| invalid(format!("store: {e}")))?;
        let array = Array::open(Arc::new(store), node).map_err(|e| match e {
            // types zarrs has no plugin for (strings, structured, bytes,
            // some dates), or whose fill value it cannot hold
            ArrayCreateError::DataTypeCreateError(_)
            | ArrayCreateError::InvalidFillValue { .. }
            | ArrayCreateError::InvalidFillValueMetadata { .. } => Error::UnsupportedDType {
                path: path.to_path_buf(),
                name: e.to_string(),
            },
            e => invalid(format!("cannot open array: {e}")),
        })?;
        let data_type = array.data_type();
        let dtype = [
            zarrs::plugin::ZarrVersion::V3,
            zarrs::plugin::ZarrVersion::V2,
        ]
        .iter()
        .filter_map(|v| zarrs::plugin::ExtensionName::name(data_type, *v))
        .find_map(|n| crate::format::zarr::dtype_from_name(&n))
        .ok_or_else(|| Error::UnsupportedDType {
            path: path.to_path_buf(),
            name: data_type.to_string(),
        })?;
        let shape: Vec<usize> = array
            .shape()
            .iter()
            .map(|&n| {
                usize::try_from(n)
                    .map_err(|_| invalid(format!("extent {n} does not fit in memory addresses")))
            })
            .collect::<Result<_>>()?;
        let name = path.display().to_string();
        checked_size(&name, &shape, dtype)?;
        let sharded = array.is_sharded() && array.effective_subchunk_shape().is_some();
        let unit_shape = if sharded {
            array
                .effective_subchunk_shape()
                .map(|s| s.iter().map(|n| n.get()).collect::<Vec<u64>>())
        } else {
            array
                .chunk_shape(&vec![0; shape.len()])
                .ok()
                .map(|s| s.iter().map(|n| n.get()).collect::<Vec<u64>>())
        };
        let unit: Vec<usize> = unit_shape
            .ok_or_else(|| invalid("the chunk grid is not regular".into()))?
            .iter()
            .map(|&n| {
                usize::try_from(n).map_err(|_| invalid(format!("chunk extent {n} is too large")))
            })
            .collect::<Result<_>>()?;
        // zarrs checks the inner chunk shape of a sharding codec against
        // the array's rank only when it builds the grid of inner chunks,
        // with a panic (zarrs 0.23.14)
        if unit.len() != shape.len() {
            return Err(invalid(format!(
                "the {} is of rank {}, the array of rank {}",
                if sharded {
                    "sharding codec's chunk_shape"
                } else {
                    "chunk shape"
                },
                unit.len(),
                shape.len()
            )));
        }
        // A regular grid: every chunk has the first one's shape.
        if !sharded {
            let last: Vec<u64> = array
                .chunk_grid_shape()
                .iter()
                .map(|n| n.saturating_sub(1))
                .collect();
            let last_shape = array
                .chunk_shape(&last)
                .map_err(|e| invalid(format!("chunk grid: {e}")))?;
            if last_shape
                .iter()
                .map(|n| n.get() as usize)
                .ne(unit.iter().copied())
            {
                return Err(invalid("the chunk grid is not regular".into()));
            }
        }
        checked_size(&name, &unit, dtype)?;
        let cache_ext = sharded.then(|| ArrayShardedReadableExtCache::new(&array));
        let source = ZarrChunks {
            path: path.to_path_buf(),
            name,
            array,
            shape,
            dtype,
            unit,
            sharded: cache_ext,
            stamp: stamp?,
        };
        ChunkedVolume::new(source, options.cache_bytes)
    }
}

impl ChunkSource for ZarrChunks {
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
        &self.unit
    }

    fn decode(&self, idx: &[u64]) -> Result<Vec<u8>> {
        fn failed<'a, E: std::error::Error + Send + Sync + 'static>(
            path: &'a Path,
            idx: &'a [u64],
        ) -> impl FnOnce(E) -> Error + 'a {
            move |e| Error::Decode {
                path: path.to_path_buf(),
                chunk: idx.to_vec(),
                detail: e.to_string(),
                source: Some(Box::new(e)),
            }
        }
        let bytes: ArrayBytes<'static> = match &self.sharded {
            Some(cache) => self
                .array
                .retrieve_subchunk_opt(cache, idx, &zarrs::array::CodecOptions::default())
                .map_err(failed(&self.path, idx))?,
            None => self
                .array
                .retrieve_chunk(idx)
                .map_err(failed(&self.path, idx))?,
        };
        let raw = bytes.into_fixed().map_err(failed(&self.path, idx))?;
        Ok(raw.into_owned())
    }

    /// The array's metadata file.
    fn check_unchanged(&self) -> Result<()> {
        self.stamp.check()
    }

    fn kind(&self) -> &'static str {
        "zarr"
    }
}

/// Refuses an array whose metadata names a data type this crate does not
/// read (anything but 8- to 64-bit integers and 32- and 64-bit floats)
/// before `zarrs` opens it: `zarrs` builds the fill value of any type it
/// knows at open, so a hostile string type (`"<U709551615"`, found by the
/// `zarr_metadata` fuzz target, or a v3 `fixed_length_utf32` of a huge
/// length) would allocate gigabytes before the type could be refused.
/// Metadata that is not JSON, or has no type key, is left to `zarrs` to
/// report.
fn refuse_unsupported_type(meta: &Path) -> Result<()> {
    let Ok(text) = std::fs::read(meta) else {
        return Ok(());
    };
    // lossily: zarrs reads metadata whose strings hold bytes that are not
    // UTF-8 (a second find of the fuzz target), so this check must too
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&String::from_utf8_lossy(&text))
    else {
        return Ok(());
    };
    let v2 = meta.file_name().is_some_and(|n| n == ".zarray");
    let key = if v2 { "dtype" } else { "data_type" };
    let Some(data_type) = value.get(key) else {
        return Ok(());
    };
    let supported = match data_type.as_str() {
        Some(name) if v2 => {
            // NumPy's type string: an optional byte order, kind, size
            let code = name.strip_prefix(['<', '>', '|']).unwrap_or(name);
            matches!(
                code,
                "u1" | "i1" | "u2" | "i2" | "u4" | "i4" | "u8" | "i8" | "f4" | "f8"
            )
        }
        Some(name) => crate::format::zarr::dtype_from_name(name).is_some(),
        // a structured v2 type, or a v3 type with a configuration
        None => false,
    };
    if supported {
        Ok(())
    } else {
        let mut shown: String = data_type.to_string().chars().take(200).collect();
        if shown.len() < data_type.to_string().len() {
            shown.push_str("...");
        }
        Err(Error::UnsupportedDType {
            path: meta.parent().unwrap_or(meta).to_path_buf(),
            name: format!("Zarr {key} {shown}"),
        })
    }
}
