//! Zarr v2 and v3 arrays on a filesystem or over a network (`s3://`,
//! `http(s)://`; feature `remote`, [`remote`]), through `zarrs`.
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
//! for v2; for a remote array, its entity tag or modification time) and
//! [`Volume::check_unchanged`](crate::Volume::check_unchanged)
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

mod bounded;
pub mod ome;
#[cfg(feature = "remote")]
pub mod remote;

pub use ome::{OmeAxis, OmeImage, OmeLevel};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zarrs::array::{
    Array, ArrayBytes, ArrayCreateError, ArrayError, ArrayShardedExt, ArrayShardedReadableExt,
    ArrayShardedReadableExtCache,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{ReadableStorageTraits, StorageError};

#[cfg(feature = "remote")]
use remote::{RemoteOptions, RemoteStore};

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
    level: usize,
    #[cfg(feature = "remote")]
    remote: RemoteOptions,
}

impl Default for ZarrOptions {
    fn default() -> Self {
        ZarrOptions {
            cache_bytes: crate::io::MemoryLimits::detect().chunk_cache_bytes(),
            level: 0,
            #[cfg(feature = "remote")]
            remote: RemoteOptions::default(),
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

    /// OME-Zarr: which resolution level of a multiscale image to open, 0
    /// (the default) being full resolution ([`ZarrVolume::ome`] lists
    /// them; CLI `--level`).
    pub fn level(mut self, level: usize) -> Self {
        self.level = level;
        self
    }

    /// How remote stores are reached (retries, timeouts, prefetch).
    #[cfg(feature = "remote")]
    pub fn remote(mut self, options: RemoteOptions) -> Self {
        self.remote = options;
        self
    }

    /// Opens the array at `path`: a directory holding `zarr.json` or
    /// `.zarray`, or (feature `remote`) the URL of one, `s3://bucket/key`
    /// or `http(s)://host/path` (see [`remote`]). An OME-Zarr image group
    /// (NGFF 0.4 or 0.5; a label image too) opens as its
    /// [`level`](Self::level), with its metadata ([`ZarrVolume::ome`]) and
    /// each voxel's world position
    /// ([`Volume::axis_transform`](crate::Volume::axis_transform); see
    /// [`ome`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if it is not a directory (for a URL: no
    /// metadata object there, permission denied, the network);
    /// [`Error::InvalidHeader`] naming it if the store or the array's
    /// metadata cannot be opened or read, an extent does not fit in memory
    /// addresses, or the chunk grid is not regular;
    /// [`Error::UnsupportedDType`] for a data type other than `u8 … f64`
    /// (or a fill value `zarrs` cannot hold); [`Error::InvalidLayout`] for
    /// an array without axes, with an extent of 0, or whose shape or chunk
    /// shape has too many bytes to address. For groups:
    /// [`Error::ZarrGroup`] listing the label images of an OME-Zarr labels
    /// group; [`Error::InvalidHeader`] for a group without multiscale
    /// metadata (naming the array to open in it:
    /// [`open_in`](Self::open_in)), for OME-Zarr metadata that is malformed
    /// (see [`ome`]) or whose axes do not match the level's rank;
    /// [`Error::InvalidArgument`] for a [`level`](Self::level) the image
    /// does not have, or above 0 for an array that is not an OME-Zarr
    /// image.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<ZarrVolume> {
        let path = path.as_ref();
        ZarrChunks::open_node(path, path, "", self)
    }

    /// Opens the array at `array` (like `"group/array"`) inside the store or
    /// group at `store`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), for the array's directory inside `store`.
    pub fn open_in(&self, store: impl AsRef<Path>, array: &str) -> Result<ZarrVolume> {
        let store = store.as_ref();
        let node = array.trim_matches('/');
        let path = match store.to_str().filter(|s| is_remote(s)) {
            Some(url) => PathBuf::from(format!("{}/{node}", url.trim_end_matches('/'))),
            None => store.join(node),
        };
        ZarrChunks::open_node(&path, store, node, self)
    }
}

/// The chunks of a Zarr v2 or v3 array (for a sharded array, the
/// sub-chunks), decoded by `zarrs`: the [`ChunkSource`] under
/// [`ZarrVolume`].
pub struct ZarrChunks {
    path: PathBuf,
    name: String,
    array: Array<dyn ReadableStorageTraits>,
    shape: Vec<usize>,
    dtype: DType,
    /// The read unit: the chunk, or the sub-chunk of a sharded array.
    unit: Vec<usize>,
    sharded: Option<ArrayShardedReadableExtCache>,
    /// A remote sharded array's shard shape and index layout (what a
    /// prefetch of inner chunks needs).
    #[cfg(feature = "remote")]
    shards: Option<(Vec<u64>, Arc<remote::ShardIndex>)>,
    /// The array's metadata, stamped before it was read.
    stamp: Stamp,
    /// The store, for a remote array (prefetch, request counts).
    #[cfg(feature = "remote")]
    remote: Option<Arc<RemoteStore>>,
    /// The OME-Zarr image this array is a level of, and which level.
    ome: Option<(Arc<OmeImage>, usize)>,
}

/// What an open array's metadata was when it was read.
enum Stamp {
    File(FileStamp),
    #[cfg(feature = "remote")]
    Remote {
        key: String,
        version: Option<String>,
    },
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
    pub fn array(&self) -> &Array<dyn ReadableStorageTraits> {
        &self.source().array
    }

    /// The store of a remote array (its URL and what it has fetched so
    /// far); `None` for an array on a filesystem.
    #[cfg(feature = "remote")]
    pub fn remote(&self) -> Option<&RemoteStore> {
        self.source().remote.as_deref()
    }

    /// The OME-Zarr image this array is a level of, if it was opened as
    /// one (its levels, axes, labels).
    pub fn ome(&self) -> Option<&OmeImage> {
        self.source().ome.as_ref().map(|(image, _)| &**image)
    }

    /// Which level of [`ome`](Self::ome) this is (0: full resolution).
    pub fn ome_level(&self) -> Option<usize> {
        self.source().ome.as_ref().map(|&(_, level)| level)
    }

    /// Whether the array is sharded (reads then decode sub-chunks).
    pub fn is_sharded(&self) -> bool {
        self.source().sharded.is_some()
    }
}

impl ZarrChunks {
    /// Opens the array at `node` of the store at `store_path` (`path`
    /// names it in messages), or the level of the OME-Zarr image there.
    fn open_node(
        path: &Path,
        store_path: &Path,
        node: &str,
        options: &ZarrOptions,
    ) -> Result<ZarrVolume> {
        let opened = Self::open_store(path, store_path, node, options, None)?;
        let source = match &opened.meta {
            Meta::Group(attrs) => {
                let attrs = attrs.clone();
                Self::open_image(path, store_path, node, options, opened, &attrs)?
            }
            _ if options.level > 0 => {
                return Err(Error::InvalidArgument {
                    what: "level",
                    detail: format!(
                        "{}: level {} asked of a Zarr array, which has one level (levels are those of an OME-Zarr multiscale image or a TIFF pyramid)",
                        path.display(),
                        options.level
                    ),
                })
            }
            _ => Self::open_chunks(path, node, opened)?,
        };
        ChunkedVolume::new(source, options.cache_bytes)
    }

    /// The store at `store_path`, and what the node at `node` is; a remote
    /// store already reached (`reuse`) is asked again rather than opened
    /// anew.
    #[cfg_attr(not(feature = "remote"), allow(unused_variables))]
    fn open_store(
        path: &Path,
        store_path: &Path,
        node: &str,
        options: &ZarrOptions,
        reuse: Option<&Opened>,
    ) -> Result<Opened> {
        let prefix = if node.is_empty() {
            String::new()
        } else {
            format!("{node}/")
        };
        match store_path.to_str().filter(|s| is_remote(s)) {
            #[cfg(feature = "remote")]
            Some(url) => Self::open_remote(
                path,
                url,
                &prefix,
                options,
                reuse.and_then(|o| o.remote.clone()),
            ),
            #[cfg(not(feature = "remote"))]
            Some(_) => Err(Error::FormatNotEnabled {
                path: path.to_path_buf(),
                format: "remote zarr",
                feature: "remote",
            }),
            None => Self::open_local(path, store_path),
        }
    }

    /// The level `options` names of the OME-Zarr image whose group
    /// attributes are `attrs`.
    fn open_image(
        path: &Path,
        store_path: &Path,
        node: &str,
        options: &ZarrOptions,
        group: Opened,
        attrs: &serde_json::Value,
    ) -> Result<ZarrChunks> {
        let mut image = match ome::read_group(path, attrs)? {
            ome::GroupKind::Image(image) => image,
            ome::GroupKind::Labels(names) => {
                return Err(Error::ZarrGroup {
                    path: path.to_path_buf(),
                    arrays: names,
                })
            }
            ome::GroupKind::Other(what) => {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: format!(
                        "a Zarr group, not an array{}: name an array inside it",
                        what.map(|w| format!(" but {w}")).unwrap_or_default()
                    ),
                })
            }
        };
        let child = |sub: &str| -> (PathBuf, String) {
            let node = [node, sub]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            let path = match path.to_str().filter(|s| is_remote(s)) {
                Some(url) => PathBuf::from(format!("{}/{sub}", url.trim_end_matches('/'))),
                None => path.join(sub),
            };
            (path, node)
        };
        // the image's labels group, if it has one
        if !image.is_label {
            let (labels_path, labels_node) = child("labels");
            if let Ok(labels) = Self::open_store(
                &labels_path,
                store_path,
                &labels_node,
                options,
                Some(&group),
            ) {
                if let Meta::Group(attrs) = &labels.meta {
                    image.labels = ome::labels_of(attrs);
                }
            }
        }
        // every level's shape, from its metadata
        for (k, level) in image.levels.iter_mut().enumerate() {
            if k == options.level {
                continue;
            }
            let (level_path, level_node) = child(&level.path);
            if let Ok(Opened {
                meta: Meta::Array(bytes, _),
                ..
            }) = Self::open_store(&level_path, store_path, &level_node, options, Some(&group))
            {
                level.shape = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|m| serde_json::from_value(m.get("shape")?.clone()).ok());
            }
        }
        let levels = image.levels.len();
        let Some(level) = image.levels.get(options.level) else {
            return Err(Error::InvalidArgument {
                what: "level",
                detail: format!(
                    "{}: the OME-Zarr image has {levels} level{} (0 to {}), not {}",
                    path.display(),
                    if levels == 1 { "" } else { "s" },
                    levels - 1,
                    options.level
                ),
            });
        };
        let (level_path, level_node) = child(&level.path);
        let opened = Self::open_store(&level_path, store_path, &level_node, options, Some(&group))?;
        if matches!(opened.meta, Meta::Group(_)) {
            return Err(Error::InvalidHeader {
                path: level_path,
                detail: "an OME-Zarr level that is a group, not an array".into(),
            });
        }
        let mut chunks = Self::open_chunks(&level_path, &level_node, opened)?;
        if image.axes.len() != chunks.shape.len() {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!(
                    "OME-Zarr metadata: {} axes for level {} ({}), an array of rank {}",
                    image.axes.len(),
                    options.level,
                    level.path,
                    chunks.shape.len()
                ),
            });
        }
        let shape = chunks.shape.iter().map(|&n| n as u64).collect();
        image.levels[options.level].shape = Some(shape);
        chunks.ome = Some((Arc::from(image), options.level));
        Ok(chunks)
    }

    /// The array in an opened store.
    fn open_chunks(path: &Path, node: &str, opened: Opened) -> Result<ZarrChunks> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail,
        };
        let Opened {
            store,
            stamp,
            meta,
            #[cfg(feature = "remote")]
            remote,
        } = opened;
        if let Meta::Array(bytes, v2) = &meta {
            refuse_unsupported_type(path, bytes, *v2)?;
        }
        // the metadata already read (one GET for a remote array, not two)
        // when it parses; else zarrs reads it and says what is wrong
        let parsed = match &meta {
            Meta::Array(bytes, _) => {
                serde_json::from_slice::<zarrs::metadata::ArrayMetadata>(bytes).ok()
            }
            _ => None,
        };
        let node_path = format!("/{node}");
        let opened = match parsed {
            Some(m) => Array::new_with_metadata(store, &node_path, m),
            None => Array::open(store, &node_path),
        };
        let array = opened.map_err(|e| match e {
            // types zarrs has no plugin for (strings, structured, bytes,
            // some dates), or whose fill value it cannot hold
            ArrayCreateError::DataTypeCreateError(_)
            | ArrayCreateError::InvalidFillValue { .. }
            | ArrayCreateError::InvalidFillValueMetadata { .. } => Error::UnsupportedDType {
                path: path.to_path_buf(),
                name: e.to_string(),
            },
            ArrayCreateError::StorageError(StorageError::IOError(io)) => {
                Error::io(path, std::io::Error::new(io.kind(), io))
            }
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
        // zstd frames bounded by what a chunk (a shard) can hold before
        // zarrs sizes its buffer by them (see `bounded`)
        let mentions_zstd = serde_json::to_string(array.metadata())
            .map(|m| m.contains("zstd"))
            .unwrap_or(true);
        let array = if mentions_zstd {
            let grid_chunk: u64 = array
                .chunk_shape(&vec![0; shape.len()])
                .map(|s| s.iter().map(|n| n.get()).product())
                .unwrap_or(u64::MAX);
            let limit =
                bounded::ZstdBounded::limit_for(grid_chunk.saturating_mul(dtype.size() as u64));
            let inner = array.storage();
            array.with_storage::<dyn ReadableStorageTraits>(Arc::new(bounded::ZstdBounded {
                inner,
                limit,
            }))
        } else {
            array
        };
        let cache_ext = sharded.then(|| ArrayShardedReadableExtCache::new(&array));
        #[cfg(feature = "remote")]
        let shards = match (&remote, &cache_ext) {
            (Some(_), Some(cache)) if cache.array_is_exclusively_sharded() => {
                let inner: Vec<u64> = unit.iter().map(|&n| n as u64).collect();
                let shard = array
                    .chunk_shape(&vec![0; shape.len()])
                    .ok()
                    .map(|s| s.iter().map(|n| n.get()).collect::<Vec<u64>>());
                let codecs = serde_json::to_value(array.metadata())
                    .ok()
                    .and_then(|m| m.get("codecs").cloned());
                shard.zip(codecs).and_then(|(shard, codecs)| {
                    remote::ShardIndex::of_codecs(&codecs, &shard, &inner)
                        .map(|index| (shard, Arc::new(index)))
                })
            }
            _ => None,
        };
        #[cfg(feature = "remote")]
        if let (Some(remote), Some((_, layout))) = (&remote, &shards) {
            // the keys of this array's shards start with its path
            let node = array.path().as_str().trim_matches('/');
            let prefix = if node.is_empty() {
                String::new()
            } else {
                format!("{node}/")
            };
            remote.register_shards(&prefix, layout.clone());
        }
        Ok(ZarrChunks {
            path: path.to_path_buf(),
            name,
            array,
            shape,
            dtype,
            unit,
            sharded: cache_ext,
            #[cfg(feature = "remote")]
            shards,
            stamp: stamp?,
            #[cfg(feature = "remote")]
            remote,
            ome: None,
        })
    }
}

impl ZarrChunks {
    /// Inner chunks (`chunks`, positions in the inner chunks' grid) by
    /// the shard of `shard` elements that holds them: each shard's key and
    /// its inner chunks' positions (C order within the shard), shards in
    /// the order their first inner chunk comes.
    #[cfg(feature = "remote")]
    fn by_shard(&self, chunks: &[Vec<u64>], shard: &[u64]) -> Vec<(String, Vec<usize>)> {
        let mut order: Vec<(String, Vec<usize>)> = Vec::new();
        let mut at: std::collections::HashMap<Vec<u64>, usize> = Default::default();
        for c in chunks {
            let mut outer = Vec::with_capacity(c.len());
            let mut linear = 0u64;
            for ((&i, &u), &s) in c.iter().zip(&self.unit).zip(shard) {
                let first = i * u as u64;
                let per = s / u as u64;
                outer.push(first / s);
                linear = linear * per + (first % s) / u as u64;
            }
            let k = *at.entry(outer.clone()).or_insert_with(|| {
                order.push((self.array.chunk_key(&outer).to_string(), Vec::new()));
                order.len() - 1
            });
            order[k].1.push(linear as usize);
        }
        order
    }

    /// A filesystem store: the metadata file stamped before it is read.
    fn open_local(path: &Path, store_path: &Path) -> Result<Opened> {
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
        // before it is read; with neither, opening fails in zarrs
        let meta = ["zarr.json", ".zarray"]
            .iter()
            .map(|m| path.join(m))
            .find(|m| m.is_file())
            .unwrap_or_else(|| path.join("zarr.json"));
        // an error here is given after zarrs's own (no metadata at all)
        let stamp = FileStamp::of(&meta).map(Stamp::File);
        let v2 = meta.file_name().is_some_and(|n| n == ".zarray");
        let meta = match std::fs::read(&meta).ok() {
            Some(bytes) => Meta::of(bytes, v2),
            // a v2 group: its attributes, if it has any
            None if path.join(".zgroup").is_file() => Meta::Group(
                std::fs::read(path.join(".zattrs"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default(),
            ),
            None => Meta::None,
        };
        let store = FilesystemStore::new(store_path).map_err(|e| invalid(format!("store: {e}")))?;
        Ok(Opened {
            store: Arc::new(store),
            stamp,
            meta,
            #[cfg(feature = "remote")]
            remote: None,
        })
    }

    /// A remote store: the metadata object's version (entity tag) taken
    /// before it is read; no metadata object at all is a not-found error
    /// naming the URL.
    #[cfg(feature = "remote")]
    fn open_remote(
        path: &Path,
        url: &str,
        prefix: &str,
        options: &ZarrOptions,
        reuse: Option<Arc<RemoteStore>>,
    ) -> Result<Opened> {
        let store = match reuse {
            Some(store) => store,
            None => Arc::new(RemoteStore::open(url, &options.remote)?),
        };
        let mut found = None;
        // a v2 group's .zattrs is asked for only when there is no array
        for name in ["zarr.json", ".zarray", ".zattrs", ".zgroup"] {
            let key = format!("{prefix}{name}");
            if let Some((bytes, version)) = store.get_object(&key)? {
                found = Some((key, version, bytes.to_vec(), name));
                break;
            }
        }
        let Some((key, version, bytes, name)) = found else {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no zarr.json or .zarray (nor a v2 group's .zgroup) at {}",
                        store.key_url(prefix)
                    ),
                ),
            ));
        };
        let meta = match name {
            ".zattrs" | ".zgroup" => {
                Meta::Group(serde_json::from_slice(&bytes).unwrap_or_default())
            }
            _ => Meta::of(bytes, name == ".zarray"),
        };
        Ok(Opened {
            store: store.clone(),
            stamp: Ok(Stamp::Remote { key, version }),
            meta,
            remote: Some(store),
        })
    }
}

/// A store opened, before `zarrs` opens the array in it.
struct Opened {
    store: Arc<dyn ReadableStorageTraits>,
    stamp: Result<Stamp>,
    meta: Meta,
    #[cfg(feature = "remote")]
    remote: Option<Arc<RemoteStore>>,
}

/// What a node's metadata says it is.
enum Meta {
    /// An array: its metadata's bytes, and whether they are v2's `.zarray`.
    Array(Vec<u8>, bool),
    /// A group: its attributes (`{}` if it has none).
    Group(serde_json::Value),
    /// No metadata found (left to `zarrs` to report).
    None,
}

impl Meta {
    /// A `zarr.json` (or `.zarray`): a group's gives its attributes.
    fn of(bytes: Vec<u8>, v2: bool) -> Meta {
        if !v2 {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if value.get("node_type").and_then(|n| n.as_str()) == Some("group") {
                    return Meta::Group(value.get("attributes").cloned().unwrap_or_default());
                }
            }
        }
        Meta::Array(bytes, v2)
    }
}

/// Whether `text` names a remote store (`s3://`, `http://`, `https://`),
/// opened with feature `remote`.
pub fn is_remote(text: &str) -> bool {
    crate::volume::open::is_remote_path(Path::new(text))
}

/// The storage error inside a `zarrs` error, as an I/O error keeping it as
/// the cause: a failed fetch is [`Error::Io`], not a decode error. A store
/// value that ends early (a truncated shard, a short answer) is the
/// chunk's data at fault: left to the caller's [`Error::Decode`].
fn storage_cause(e: &ArrayError) -> Option<std::io::Error> {
    let storage = match e {
        ArrayError::StorageError(s) => s,
        ArrayError::CodecError(zarrs::array::CodecError::StorageError(s)) => s,
        _ => return None,
    };
    match storage {
        StorageError::IOError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            Some(std::io::Error::new(io.kind(), io.clone()))
        }
        _ => None,
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
        let undecodable = |e: Box<dyn std::error::Error + Send + Sync>| Error::Decode {
            path: self.path.clone(),
            chunk: idx.to_vec(),
            detail: e.to_string(),
            source: Some(e),
        };
        let failed = |e: ArrayError| match storage_cause(&e) {
            Some(io) => Error::io(&self.path, io),
            None => undecodable(Box::new(e)),
        };
        let bytes: ArrayBytes<'static> = match &self.sharded {
            Some(cache) => self
                .array
                .retrieve_subchunk_opt(cache, idx, &zarrs::array::CodecOptions::default())
                .map_err(failed)?,
            None => self.array.retrieve_chunk(idx).map_err(failed)?,
        };
        let raw = bytes.into_fixed().map_err(|e| undecodable(Box::new(e)))?;
        Ok(raw.into_owned())
    }

    /// Chunks of a remote array, fetched ahead on the I/O threads
    /// ([`RemoteStore::prefetch`]): whole chunks, or for a sharded array
    /// the shard indexes, then the inner chunks' byte ranges.
    fn prefetch(&self, chunks: &[Vec<u64>], budget: usize) {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            match (&self.sharded, &self.shards) {
                (None, _) => {
                    let each = self.unit.iter().product::<usize>() * self.dtype.size();
                    remote.prefetch(
                        chunks.iter().map(|c| self.array.chunk_key(c).to_string()),
                        each,
                        budget,
                    );
                }
                (Some(_), Some((shard, layout))) => {
                    remote.prefetch_shards(self.by_shard(chunks, shard), layout, budget);
                }
                (Some(_), None) => {}
            }
        }
        let _ = (chunks, budget);
    }

    fn axis_transform(&self) -> Option<&crate::volume::AxisTransform> {
        let (image, level) = self.ome.as_ref()?;
        image.levels.get(*level).map(|l| &l.transform)
    }

    fn walk_ended(&self) {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            remote.forget_prefetched();
        }
    }

    /// The array's metadata file (or object).
    fn check_unchanged(&self) -> Result<()> {
        match &self.stamp {
            Stamp::File(stamp) => stamp.check(),
            #[cfg(feature = "remote")]
            Stamp::Remote { key, version } => {
                let Some(remote) = &self.remote else {
                    return Ok(());
                };
                let now = remote.version_of(key)?;
                if version.is_some() && &now != version {
                    return Err(Error::Changed {
                        path: remote.key_url(key).into(),
                        detail: format!(
                            "its version was {} when it was opened, it is {} now",
                            version.as_deref().unwrap_or("none"),
                            now.as_deref().unwrap_or("gone")
                        ),
                    });
                }
                Ok(())
            }
        }
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
fn refuse_unsupported_type(path: &Path, text: &[u8], v2: bool) -> Result<()> {
    // lossily: zarrs reads metadata whose strings hold bytes that are not
    // UTF-8 (a second find of the fuzz target), so this check must too
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&String::from_utf8_lossy(text))
    else {
        return Ok(());
    };
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
            path: path.to_path_buf(),
            name: format!("Zarr {key} {shown}"),
        })
    }
}
