//! Zarr v2 and v3 arrays on a filesystem store, through `zarrs`.
//!
//! Compressed chunks cannot be mapped, so a Zarr volume has no zero-copy
//! view ([`Volume::layout`] is `None`); a region is read by decoding just
//! the chunks it intersects (for a sharded array, just the sub-chunks) and
//! copying their overlap. Missing chunks read as the fill value.
//!
//! # Decoding each chunk once per walk
//!
//! Overlapping cells (stride below 1) and cells that do not line up with
//! chunks share chunks, so per-cell reads decode the same chunk many times.
//! A walk over many cells ([`Partition::par_map_cells`](crate::Partition::par_map_cells)
//! and friends) announces its reads first ([`Volume::prepare_walk`]): the
//! volume counts how many reads need each chunk, keeps a decoded chunk while
//! a later read still needs it, and drops it after its last read. Each chunk
//! is then decoded once per walk, as long as the chunks held at one time fit
//! in the memory budget ([`ZarrOptions::cache_bytes`], default from
//! [`MemoryLimits`](crate::MemoryLimits): 1 GiB or an eighth of the memory; beyond
//! it the least recently used chunk is dropped and may be decoded again).
//! Outside a walk nothing is cached.
//!
//! # Refused arrays
//!
//! Data types other than `u8 … f64` (bool, float16, complex, strings, dates,
//! structured types) are refused with [`Error::UnsupportedDType`]; chunk
//! grids other than regular ones with [`Error::InvalidHeader`]. A chunk that
//! does not decode is an [`Error::Decode`] for the reads that touch it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use zarrs::array::{
    Array, ArrayBytes, ArrayShardedExt, ArrayShardedReadableExt, ArrayShardedReadableExtCache,
};
use zarrs::filesystem::FilesystemStore;

use super::{checked_size, Layout, MemoryOrder, Volume};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::layout::copy_box;

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
    pub fn open(&self, path: impl AsRef<Path>) -> Result<ZarrVolume> {
        let path = path.as_ref();
        ZarrVolume::open_impl(path, path, "/", self)
    }

    /// Opens the array at `array` (like `"group/array"`) inside the store or
    /// group at `store`.
    pub fn open_in(&self, store: impl AsRef<Path>, array: &str) -> Result<ZarrVolume> {
        let store = store.as_ref();
        let node = format!("/{}", array.trim_matches('/'));
        ZarrVolume::open_impl(&store.join(array.trim_matches('/')), store, &node, self)
    }
}

/// A decoded chunk, shared by the reads that need it.
type Decoded = Arc<OnceLock<std::result::Result<Arc<Vec<u8>>, String>>>;

#[derive(Default)]
struct Cache {
    /// Decoded (or being decoded) chunks.
    chunks: HashMap<Vec<u64>, Decoded>,
    /// Reads still to come per chunk, during a walk.
    pending: HashMap<Vec<u64>, usize>,
    /// Use order for eviction beyond the budget: chunk -> last use tick.
    last_use: HashMap<Vec<u64>, u64>,
    tick: u64,
    bytes: usize,
    walking: bool,
}

impl Cache {
    /// Drops a held chunk and its bytes from the account.
    fn forget(&mut self, unit: &[u64]) {
        self.last_use.remove(unit);
        if let Some(d) = self.chunks.remove(unit) {
            let n = d
                .get()
                .and_then(|r| r.as_ref().ok())
                .map(|b| b.len())
                .unwrap_or(0);
            self.bytes = self.bytes.saturating_sub(n);
        }
    }
}

/// A Zarr v2 or v3 array; see the [module docs](self).
pub struct ZarrVolume {
    path: PathBuf,
    name: String,
    array: Array<FilesystemStore>,
    shape: Vec<usize>,
    dtype: DType,
    /// The read unit: the chunk, or the sub-chunk of a sharded array.
    unit: Vec<usize>,
    sharded: Option<ArrayShardedReadableExtCache>,
    options: ZarrOptions,
    decodes: AtomicU64,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for ZarrVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrVolume")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

fn dtype_from_name(name: &str) -> Option<DType> {
    Some(match name {
        "uint8" | "|u1" | "<u1" | ">u1" => DType::U8,
        "int8" | "|i1" | "<i1" | ">i1" => DType::I8,
        "uint16" | "<u2" | ">u2" => DType::U16,
        "int16" | "<i2" | ">i2" => DType::I16,
        "uint32" | "<u4" | ">u4" => DType::U32,
        "int32" | "<i4" | ">i4" => DType::I32,
        "uint64" | "<u8" | ">u8" => DType::U64,
        "int64" | "<i8" | ">i8" => DType::I64,
        "float32" | "<f4" | ">f4" => DType::F32,
        "float64" | "<f8" | ">f8" => DType::F64,
        _ => return None,
    })
}

impl ZarrVolume {
    /// Opens the array at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        ZarrOptions::default().open(path)
    }

    /// Opens the array `array` inside the store or group at `store`.
    pub fn open_in(store: impl AsRef<Path>, array: &str) -> Result<Self> {
        ZarrOptions::default().open_in(store, array)
    }

    fn open_impl(
        path: &Path,
        store_path: &Path,
        node: &str,
        options: &ZarrOptions,
    ) -> Result<Self> {
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
        let store = FilesystemStore::new(store_path).map_err(|e| invalid(format!("store: {e}")))?;
        let array = Array::open(Arc::new(store), node).map_err(|e| {
            let text = e.to_string();
            // zarrs names types it has no plugin for (strings,
            // structured, bytes, some dates): unsupported types
            if text.contains("data type")
                && (text.contains("not supported") || text.contains("fill value"))
            {
                Error::UnsupportedDType {
                    path: path.to_path_buf(),
                    name: text,
                }
            } else {
                invalid(format!("cannot open array: {text}"))
            }
        })?;
        let data_type = array.data_type();
        let dtype = [
            zarrs::plugin::ZarrVersion::V3,
            zarrs::plugin::ZarrVersion::V2,
        ]
        .iter()
        .filter_map(|v| zarrs::plugin::ExtensionName::name(data_type, *v))
        .find_map(|n| dtype_from_name(&n))
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
        Ok(ZarrVolume {
            path: path.to_path_buf(),
            name,
            array,
            shape,
            dtype,
            unit,
            sharded: cache_ext,
            options: options.clone(),
            decodes: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The read unit: the chunk shape, or the sub-chunk shape of a sharded
    /// array.
    pub fn chunk_shape(&self) -> &[usize] {
        &self.unit
    }

    /// The array's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `zarrs` array, for metadata (codecs, fill value, version).
    pub fn array(&self) -> &Array<FilesystemStore> {
        &self.array
    }

    /// Whether the array is sharded (reads then decode sub-chunks).
    pub fn is_sharded(&self) -> bool {
        self.sharded.is_some()
    }

    /// Chunk (or sub-chunk) decodes since the volume was opened.
    pub fn decoded_chunks(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Resets the decode counter.
    pub fn reset_decoded_chunks(&self) {
        self.decodes.store(0, Ordering::Relaxed);
    }

    /// Indices of the read units a region touches, in C order.
    fn units_of(&self, region: &Region) -> Vec<Vec<u64>> {
        let ranges: Vec<std::ops::Range<u64>> = (0..self.shape.len())
            .map(|k| {
                let r = region.range(k);
                let u = self.unit[k];
                (r.start / u) as u64..r.end.div_ceil(u) as u64
            })
            .collect();
        let mut out = Vec::new();
        let mut idx: Vec<u64> = ranges.iter().map(|r| r.start).collect();
        if ranges.iter().any(|r| r.is_empty()) {
            return out;
        }
        loop {
            out.push(idx.clone());
            let mut k = idx.len();
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < ranges[k].end {
                    break;
                }
                idx[k] = ranges[k].start;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decodes one read unit (C order, native bytes of the unit's full
    /// shape; edge units are full size, past-the-end elements are fill).
    fn decode(&self, idx: &[u64]) -> std::result::Result<Arc<Vec<u8>>, String> {
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let bytes: ArrayBytes<'static> = match &self.sharded {
            Some(cache) => self
                .array
                .retrieve_subchunk_opt(cache, idx, &zarrs::array::CodecOptions::default())
                .map_err(|e| e.to_string())?,
            None => self.array.retrieve_chunk(idx).map_err(|e| e.to_string())?,
        };
        let raw = bytes.into_fixed().map_err(|e| e.to_string())?;
        Ok(Arc::new(raw.into_owned()))
    }

    /// The decoded unit, from the walk cache or freshly decoded.
    fn unit_bytes(&self, idx: &[u64]) -> Result<Arc<Vec<u8>>> {
        let slot = {
            let mut c = self.lock();
            if !c.walking {
                None
            } else {
                c.tick += 1;
                let tick = c.tick;
                c.last_use.insert(idx.to_vec(), tick);
                Some(c.chunks.entry(idx.to_vec()).or_default().clone())
            }
        };
        let mut decoded_here = false;
        let result = match &slot {
            Some(cell) => cell
                .get_or_init(|| {
                    decoded_here = true;
                    self.decode(idx)
                })
                .clone(),
            None => self.decode(idx),
        };
        let bytes = result.map_err(|detail| Error::Decode {
            path: self.path.clone(),
            chunk: idx.to_vec(),
            detail,
        })?;
        if decoded_here {
            // only a new decode adds to the bytes held
            self.account(bytes.len());
        }
        Ok(bytes)
    }

    /// Counts a newly held chunk against the budget, evicting the least
    /// recently used unpinned chunks beyond it.
    fn account(&self, len: usize) {
        let mut c = self.lock();
        c.bytes = c.bytes.saturating_add(len);
        while c.bytes > self.options.cache_bytes && c.chunks.len() > 1 {
            let victim = c
                .last_use
                .iter()
                .min_by_key(|(_, &t)| t)
                .map(|(k, _)| k.clone());
            let Some(v) = victim else { break };
            c.forget(&v);
        }
    }

    /// After a read during a walk: drop the chunks no later read needs.
    fn release(&self, units: &[Vec<u64>]) {
        let mut c = self.lock();
        if !c.walking {
            return;
        }
        for u in units {
            let left = match c.pending.get_mut(u) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n
                }
                None => 0,
            };
            if left == 0 {
                c.pending.remove(u);
                c.forget(u);
            }
        }
    }
}

impl Volume for ZarrVolume {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        let size = self.dtype.size();
        if !region.is_within(&self.shape) {
            return Err(Error::InvalidLayout {
                volume: self.name.clone(),
                detail: format!("region {region} is outside the volume {:?}", self.shape),
            });
        }
        let expected = region.voxels().and_then(|n| n.checked_mul(size));
        if expected != Some(out.len()) {
            return Err(Error::InvalidLayout {
                volume: self.name.clone(),
                detail: format!("buffer of {} bytes for region {region}", out.len()),
            });
        }
        let units = self.units_of(region);
        let rstrides = MemoryOrder::C.strides(region.shape());
        let ustrides = MemoryOrder::C.strides(&self.unit);
        for idx in &units {
            let bytes = self.unit_bytes(idx)?;
            // the unit's voxels inside the region
            let origin: Vec<usize> = idx
                .iter()
                .zip(&self.unit)
                .map(|(&i, &u)| i as usize * u)
                .collect();
            let lo: Vec<usize> = (0..self.shape.len())
                .map(|k| origin[k].max(region.start()[k]))
                .collect();
            let hi: Vec<usize> = (0..self.shape.len())
                .map(|k| (origin[k] + self.unit[k]).min(region.range(k).end))
                .collect();
            let ext: Vec<usize> = lo.iter().zip(&hi).map(|(a, b)| b - a).collect();
            if Some(bytes.len()) != self.unit.iter().product::<usize>().checked_mul(size) {
                return Err(Error::Decode {
                    path: self.path.clone(),
                    chunk: idx.clone(),
                    detail: format!("decoded to {} bytes, not the chunk's size", bytes.len()),
                });
            }
            let src_at: Vec<usize> = lo.iter().zip(&origin).map(|(a, o)| a - o).collect();
            let dst_at: Vec<usize> = lo.iter().zip(region.start()).map(|(a, s)| a - s).collect();
            // the decoded unit as a layout: the copy engine's runs and
            // prefetch, or (for a misaligned `out`) run by run
            let layout = Layout::new(
                &bytes,
                &self.unit,
                &ustrides,
                self.dtype,
                ByteOrder::native(),
            )?;
            if !copy_box(&layout, &src_at, &ext, out, region.shape(), &dst_at) {
                copy_block(
                    &bytes, &ustrides, &src_at, out, &rstrides, &dst_at, &ext, size,
                );
            }
        }
        self.release(&units);
        Ok(())
    }

    fn prepare_walk(&self, regions: &mut dyn Iterator<Item = Region>) {
        let mut pending: HashMap<Vec<u64>, usize> = HashMap::new();
        for r in regions {
            if r.is_within(&self.shape) {
                for u in self.units_of(&r) {
                    *pending.entry(u).or_default() += 1;
                }
            }
        }
        let mut c = self.lock();
        *c = Cache {
            pending,
            walking: true,
            ..Cache::default()
        };
    }

    fn finish_walk(&self) {
        *self.lock() = Cache::default();
    }

    fn kind(&self) -> &'static str {
        "zarr"
    }
}

/// Copies a box of `ext` elements from C-order `src` (at `src_at`) to
/// C-order `dst` (at `dst_at`), one contiguous last-axis run at a time.
#[allow(clippy::too_many_arguments)]
fn copy_block(
    src: &[u8],
    src_strides: &[usize],
    src_at: &[usize],
    dst: &mut [u8],
    dst_strides: &[usize],
    dst_at: &[usize],
    ext: &[usize],
    size: usize,
) {
    let n = ext.len();
    if ext.contains(&0) {
        return;
    }
    let run = ext[n - 1] * size;
    let mut idx = vec![0usize; n - 1];
    loop {
        let s: usize = (0..n)
            .map(|k| (src_at[k] + if k < n - 1 { idx[k] } else { 0 }) * src_strides[k])
            .sum::<usize>()
            * size;
        let d: usize = (0..n)
            .map(|k| (dst_at[k] + if k < n - 1 { idx[k] } else { 0 }) * dst_strides[k])
            .sum::<usize>()
            * size;
        dst[d..d + run].copy_from_slice(&src[s..s + run]);
        let mut k = n - 1;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < ext[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}
