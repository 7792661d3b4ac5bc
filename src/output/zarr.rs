//! Zarr v3 (or v2) outputs written chunk by chunk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use zarrs::array::codec::bytes_to_bytes::zstd::ZstdCodec;
use zarrs::array::{Array, ArrayBuilder, ArrayBytes, ArrayMetadataOptions, ArraySubset, FillValue};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::ReadableWritableStorageTraits;

/// The store of an output: a directory, or (feature `remote`) an object store.
type Store = dyn ReadableWritableStorageTraits;

use super::{check_write, finished, OutputVolume};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::layout::checked_size;

/// zstd level of Zarr output (zstd's own default).
const ZSTD_LEVEL: i32 = 3;

/// A Zarr v3 output (regular chunks, zstd, fill value 0), written under a
/// temporary directory beside its path and renamed there by
/// [`OutputVolume::finish`].
///
/// A write that covers part of a chunk reads, merges and rewrites it; writes
/// are serialized, so two writes into one chunk never race. Chunk-aligned
/// regions are the fast path (a stitcher's finished output chunks).
pub struct ZarrOutput {
    path: PathBuf,
    tmp: PathBuf,
    name: String,
    shape: Vec<usize>,
    dtype: DType,
    array: Mutex<Array<Store>>,
    /// For an output in an object store: where it is (no temporary name,
    /// no rename: its metadata is written last, by `finish`).
    #[cfg(feature = "remote")]
    remote: Option<Arc<crate::volume::RemoteStore>>,
    done: AtomicBool,
    chunks: Vec<usize>,
    chunk_writes: AtomicU64,
    resumable: bool,
    resumed: bool,
    /// The shard of a stitch split over workers that this output writes
    /// (then `tmp` is `path`: every worker writes into the array in place).
    shard: Option<crate::Shard>,
}

impl std::fmt::Debug for ZarrOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrOutput")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

impl ZarrOutput {
    /// Creates a Zarr v3 array of `shape`, `chunks` and `dtype` for `path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] for an empty or zero shape or chunk shape of
    /// another rank, [`Error::Io`] / [`Error::Write`] if the store cannot be
    /// made.
    pub fn create(
        path: impl AsRef<Path>,
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
    ) -> Result<Self> {
        Self::make(path.as_ref(), shape, chunks, dtype, None, 3, None)
    }

    /// Like [`create`](Self::create), resumable: under a stable temporary
    /// name (`.<name>.resumable.impart-tmp`) kept when the output is dropped
    /// unfinished; with `resume`, an existing one of the same shape, chunks
    /// and type is reopened with the chunks it holds
    /// ([`resumed`](Self::resumed) says so). Whoever resumes must know which
    /// chunks are complete (a stitch's journal).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn create_resumable(
        path: impl AsRef<Path>,
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
        resume: bool,
    ) -> Result<Self> {
        Self::create_resumable_as(path, shape, chunks, dtype, resume, 3, None)
    }

    /// Like [`create_resumable`](Self::create_resumable), as a Zarr
    /// `zarr_format` (3, or 2: a `.zarray` with the zstd compressor, C
    /// order, `/` separating chunk indices, as the OME-Zarr 0.4 images of
    /// the `ome-zarr` package are), with the axes' `dimension_names` (v3
    /// only: NGFF 0.5 wants them to be the axes' names).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create); [`Error::InvalidArgument`] for a
    /// format other than 2 or 3, or dimension names of another rank.
    pub fn create_resumable_as(
        path: impl AsRef<Path>,
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
        resume: bool,
        zarr_format: u8,
        dimension_names: Option<&[String]>,
    ) -> Result<Self> {
        if dimension_names.is_some_and(|d| d.len() != shape.len()) {
            return Err(Error::InvalidArgument {
                what: "dimension names",
                detail: format!("{dimension_names:?} for an output of shape {shape:?}"),
            });
        }
        if !matches!(zarr_format, 2 | 3) {
            return Err(Error::InvalidArgument {
                what: "zarr format",
                detail: format!("{zarr_format}: Zarr outputs are format 2 or 3"),
            });
        }
        Self::make(
            path.as_ref(),
            shape,
            chunks,
            dtype,
            Some(resume),
            zarr_format,
            dimension_names,
        )
    }

    fn make(
        path: &Path,
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
        resumable: Option<bool>,
        zarr_format: u8,
        dimension_names: Option<&[String]>,
    ) -> Result<Self> {
        let name = path.display().to_string();
        checked_size(&name, shape, dtype)?;
        checked_size(&name, chunks, dtype)?;
        if chunks.len() != shape.len() {
            return Err(Error::InvalidLayout {
                volume: name,
                detail: format!("chunk shape {chunks:?} for an output of shape {shape:?}"),
            });
        }
        #[cfg(feature = "remote")]
        if crate::volume::is_remote(&path.to_string_lossy()) {
            let layout = (shape, chunks, dtype, zarr_format, dimension_names);
            return Self::make_remote(path, layout, resumable);
        }
        let tmp = match resumable {
            None => crate::io::temp_path(path),
            Some(_) => crate::io::resumable_temp_path(path),
        };
        let meta = if zarr_format == 2 {
            ".zarray"
        } else {
            "zarr.json"
        };
        if resumable == Some(true) && tmp.join(meta).is_file() {
            let reopened = FilesystemStore::new(&tmp)
                .map_err(|e| Error::write(&tmp, e))
                .and_then(|store| {
                    let store: Arc<Store> = Arc::new(store);
                    Array::open(store, "/").map_err(|e| Error::write(&tmp, e))
                });
            if let Ok(array) = reopened {
                let same = array.shape() == shape.iter().map(|&n| n as u64).collect::<Vec<_>>()
                    && array.data_type() == &crate::format::zarr::data_type(dtype)
                    && array
                        .chunk_grid_shape()
                        .iter()
                        .zip(shape.iter().zip(chunks))
                        .all(|(&g, (&n, &c))| g == n.div_ceil(c) as u64)
                    && array.chunk_shape(&vec![0; shape.len()]).is_ok_and(|c| {
                        c.iter()
                            .map(|n| n.get() as usize)
                            .eq(chunks.iter().copied())
                    });
                if same {
                    let resumed = (path.to_path_buf(), tmp, name, array);
                    return Ok(ZarrOutput::new(resumed, shape, chunks, dtype, true, true));
                }
            }
        }
        if resumable.is_some() {
            crate::io::remove_if_exists(&tmp)?;
        }
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let made = (|| {
            let store: Arc<Store> =
                Arc::new(FilesystemStore::new(&tmp).map_err(|e| Error::write(&tmp, e))?);
            let layout = (shape, chunks, dtype, zarr_format, dimension_names);
            let array = build_array(store, layout, &tmp)?;
            store_metadata(&array, &tmp)?;
            Ok(array)
        })();
        let array = match made {
            Ok(a) => a,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let made = (path.to_path_buf(), tmp, name, array);
        Ok(ZarrOutput::new(
            made,
            shape,
            chunks,
            dtype,
            resumable.is_some(),
            false,
        ))
    }

    /// One worker's share of an output written by `shard.count()` workers
    /// at once (a stitch split with
    /// [`StitchOptions::shard`](crate::stitch::StitchOptions::shard)):
    /// every worker opens the array at `path` in place (none removes it),
    /// its metadata written whole (through a rename) and the same for
    /// all; each writes the chunks of its own regions. `finish` leaves the
    /// marker [`shard_done_path`](Self::shard_done_path) beside the array;
    /// [`merge_shards`](Self::merge_shards) checks that every worker left
    /// one. An array already at `path` with other metadata is refused.
    /// With `resume`, the chunks there are kept for the worker's journal
    /// to skip.
    ///
    /// # Errors
    ///
    /// As [`create_resumable_as`](Self::create_resumable_as);
    /// [`Error::InvalidArgument`] for an object store's URL, or if `path`
    /// holds an array of another shape, chunking or type.
    #[allow(clippy::too_many_arguments)]
    pub fn create_shard(
        path: impl AsRef<Path>,
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
        zarr_format: u8,
        dimension_names: Option<&[String]>,
        shard: crate::Shard,
        resume: bool,
    ) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        if crate::volume::is_remote(&name) {
            return Err(Error::InvalidArgument {
                what: "shard",
                detail: format!("{name}: a sharded stitch writes to a local or shared file system"),
            });
        }
        checked_size(&name, shape, dtype)?;
        checked_size(&name, chunks, dtype)?;
        if chunks.len() != shape.len() || !matches!(zarr_format, 2 | 3) {
            return Err(Error::InvalidLayout {
                volume: name,
                detail: format!(
                    "chunk shape {chunks:?} for an output of shape {shape:?} (Zarr {zarr_format})"
                ),
            });
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        if !resume {
            // this worker starts its share again: until it finishes, a
            // merge must not count it as done
            crate::io::remove_if_exists(&Self::shard_done_path(path, shard))?;
        }
        let layout = (shape, chunks, dtype, zarr_format, dimension_names);
        // the metadata, written by zarrs into a directory of this worker's
        // own, then renamed into the array: whole, and the same bytes as a
        // single stitch's
        let staged = crate::io::temp_path(path);
        let staging = (|| {
            std::fs::create_dir(&staged).map_err(|e| Error::io(&staged, e))?;
            let store: Arc<Store> =
                Arc::new(FilesystemStore::new(&staged).map_err(|e| Error::write(&staged, e))?);
            let array = build_array(store, layout, &staged)?;
            store_metadata(&array, &staged)?;
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&staged).map_err(|e| Error::io(&staged, e))? {
                let entry = entry.map_err(|e| Error::io(&staged, e))?;
                if entry.path().is_file() {
                    files.push(entry.file_name());
                }
            }
            let mut resumed = resume;
            for f in &files {
                let ours = std::fs::read(staged.join(f)).map_err(|e| Error::io(&staged, e))?;
                match std::fs::read(path.join(f)) {
                    Ok(theirs) if theirs == ours => continue,
                    Ok(_) => {
                        return Err(Error::InvalidArgument {
                            what: "shard",
                            detail: format!(
                                "{} holds another array (its {} differs from this stitch's): remove it or write elsewhere",
                                path.display(),
                                f.to_string_lossy()
                            ),
                        })
                    }
                    Err(_) => {
                        resumed = false;
                        std::fs::rename(staged.join(f), path.join(f))
                            .map_err(|e| Error::io(path.join(f), e))?;
                    }
                }
            }
            Ok(resumed)
        })();
        let _ = crate::io::remove_if_exists(&staged);
        let resumed = staging?;
        let store: Arc<Store> =
            Arc::new(FilesystemStore::new(path).map_err(|e| Error::write(path, e))?);
        let array = build_array(store, layout, path)?;
        let made = (path.to_path_buf(), path.to_path_buf(), name, array);
        let mut out = ZarrOutput::new(made, shape, chunks, dtype, true, resumed);
        out.shard = Some(shard);
        Ok(out)
    }

    /// The marker a worker of a sharded output leaves when its share is
    /// written: `.<name>.shard-K-of-N.impart-done` beside the array.
    pub fn shard_done_path(path: impl AsRef<Path>, shard: crate::Shard) -> PathBuf {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(
            ".{name}.shard-{}-of-{}.impart-done",
            shard.index(),
            shard.count()
        ))
    }

    /// After every worker of a sharded output: checks that each of the
    /// `N` workers left its marker ([`shard_done_path`](Self::shard_done_path);
    /// `N` from the markers) and removes them. Returns `N`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `path` if there is no marker, the
    /// markers disagree on `N`, or a worker has not finished;
    /// [`Error::Io`] if the directory cannot be listed or a marker removed.
    pub fn merge_shards(path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let refuse = |detail: String| Error::InvalidArgument {
            what: "merge",
            detail: format!("{}: {detail}", path.display()),
        };
        let prefix = format!(".{name}.shard-");
        let mut found: Vec<(usize, usize, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&parent).map_err(|e| Error::io(&parent, e))? {
            let entry = entry.map_err(|e| Error::io(&parent, e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = file
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".impart-done"))
            else {
                continue;
            };
            if let Some((k, n)) = rest.split_once("-of-") {
                if let (Ok(k), Ok(n)) = (k.parse::<usize>(), n.parse::<usize>()) {
                    found.push((k, n, entry.path()));
                }
            }
        }
        let Some(&(_, n, _)) = found.first() else {
            return Err(refuse(
                "no worker of a sharded stitch has finished here (no .<name>.shard-K-of-N.impart-done beside it)".into(),
            ));
        };
        if found.iter().any(|f| f.1 != n) {
            return Err(refuse("markers of different shard counts".into()));
        }
        let missing: Vec<String> = (0..n)
            .filter(|k| !found.iter().any(|f| f.0 == *k))
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(refuse(format!(
                "shard {} of {n} has not finished",
                missing.join(", ")
            )));
        }
        for (_, _, p) in found {
            crate::io::remove_if_exists(&p)?;
        }
        Ok(n)
    }

    /// An output in an object store (`s3://`, `http(s)://`): chunks put as
    /// they are written, the metadata last (by `finish`), so a reader never
    /// sees an incomplete array; not resumable.
    #[cfg(feature = "remote")]
    fn make_remote(path: &Path, layout: Layout<'_>, resumable: Option<bool>) -> Result<Self> {
        let (shape, chunks, dtype, _, _) = layout;
        let url = path.to_string_lossy().to_string();
        if resumable == Some(true) {
            return Err(Error::InvalidArgument {
                what: "resume",
                detail: format!("{url}: resuming a write into an object store is not done yet"),
            });
        }
        let store = Arc::new(crate::volume::RemoteStore::open(
            &url,
            &crate::volume::RemoteOptions::default(),
        )?);
        let dyn_store: Arc<Store> = store.clone();
        let array = build_array(dyn_store, layout, path)?;
        let made = (path.to_path_buf(), path.to_path_buf(), url, array);
        let mut out = ZarrOutput::new(made, shape, chunks, dtype, false, false);
        out.remote = Some(store);
        Ok(out)
    }

    /// What an output in an object store has sent (`None` on a
    /// filesystem).
    #[cfg(feature = "remote")]
    pub fn remote_stats(&self) -> Option<crate::volume::RemoteStats> {
        self.remote.as_ref().map(|r| r.stats())
    }

    /// The output over an open array: (final path, temporary path, name,
    /// array).
    fn new(
        (path, tmp, name, array): (PathBuf, PathBuf, String, Array<Store>),
        shape: &[usize],
        chunks: &[usize],
        dtype: DType,
        resumable: bool,
        resumed: bool,
    ) -> Self {
        ZarrOutput {
            path,
            tmp,
            name,
            shape: shape.to_vec(),
            dtype,
            array: Mutex::new(array),
            #[cfg(feature = "remote")]
            remote: None,
            done: AtomicBool::new(false),
            chunks: chunks.to_vec(),
            chunk_writes: AtomicU64::new(0),
            resumable,
            resumed,
            shard: None,
        }
    }

    /// Whether a resumable output reopened an earlier run's chunks.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The number of chunk writes so far (each chunk a write touches counts
    /// once per write): a stitch writes each chunk exactly once.
    pub fn chunk_writes(&self) -> u64 {
        self.chunk_writes.load(Ordering::Relaxed)
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ZarrOutput {
    /// The indices of the chunk `region` is, whole (clipped at the array's
    /// end), if it is one.
    fn whole_chunk(&self, region: &Region) -> Option<Vec<u64>> {
        (0..region.ndim())
            .map(|k| {
                let r = region.range(k);
                let c = self.chunks[k];
                (r.start % c == 0 && r.end == (r.start + c).min(self.shape[k]) && !r.is_empty())
                    .then_some((r.start / c) as u64)
            })
            .collect()
    }
}

/// Shape, chunk shape, type, Zarr format and dimension names of an output.
type Layout<'a> = (&'a [usize], &'a [usize], DType, u8, Option<&'a [String]>);

/// The array of an output in `store` (its metadata not yet stored); `at`
/// names it in errors.
fn build_array(store: Arc<Store>, layout: Layout<'_>, at: &Path) -> Result<Array<Store>> {
    let (shape, chunks, dtype, zarr_format, dimension_names) = layout;
    if zarr_format == 2 {
        return Array::new_with_metadata(store, "/", v2_metadata(shape, chunks, dtype)?)
            .map_err(|e| Error::write(at, e));
    }
    let mut builder = ArrayBuilder::new(
        shape.iter().map(|&n| n as u64).collect::<Vec<u64>>(),
        chunks.iter().map(|&n| n as u64).collect::<Vec<u64>>(),
        crate::format::zarr::data_type(dtype),
        FillValue::from(vec![0u8; dtype.size()]),
    );
    builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(ZSTD_LEVEL, false))]);
    if let Some(names) = dimension_names {
        builder.dimension_names(Some(names.to_vec()));
    }
    builder.build(store, "/").map_err(|e| Error::write(at, e))
}

/// Stores an output's metadata, without a zarrs version stamp (the output
/// depends on the data only).
fn store_metadata(array: &Array<Store>, at: &Path) -> Result<()> {
    array
        .store_metadata_opt(&ArrayMetadataOptions::default().with_include_zarrs_metadata(false))
        .map_err(|e| Error::write(at, e))
}

/// The `.zarray` of a v2 output: little-endian `dtype`, zstd, fill 0.
fn v2_metadata(
    shape: &[usize],
    chunks: &[usize],
    dtype: DType,
) -> Result<zarrs::metadata::ArrayMetadata> {
    let code = match dtype {
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::U16 => "<u2",
        DType::I16 => "<i2",
        DType::U32 => "<u4",
        DType::I32 => "<i4",
        DType::U64 => "<u8",
        DType::I64 => "<i8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    };
    let meta = serde_json::json!({
        "zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": code,
        "compressor": {"id": "zstd", "level": ZSTD_LEVEL}, "fill_value": 0,
        "order": "C", "filters": null, "dimension_separator": "/",
    });
    serde_json::from_value::<zarrs::metadata::v2::ArrayMetadataV2>(meta)
        .map(zarrs::metadata::ArrayMetadata::V2)
        .map_err(|e| Error::InvalidLayout {
            volume: "zarr v2 output".into(),
            detail: e.to_string(),
        })
}

/// `data` (C order, `shape`) in a zero-filled C-order block of `chunk`, or
/// `None` if it fills it already.
fn pad_to_chunk(data: &[u8], shape: &[usize], chunk: &[usize], size: usize) -> Option<Vec<u8>> {
    if shape == chunk {
        return None;
    }
    let n = shape.len();
    let row = shape[n - 1] * size;
    let mut strides = vec![size; n];
    for k in (0..n - 1).rev() {
        strides[k] = strides[k + 1] * chunk[k + 1];
    }
    let mut out = vec![0u8; chunk.iter().product::<usize>() * size];
    let rows: usize = shape[..n - 1].iter().product();
    let mut index = vec![0usize; n];
    for r in 0..rows {
        let at: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out[at..at + row].copy_from_slice(&data[r * row..(r + 1) * row]);
        for k in (0..n - 1).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    Some(out)
}

impl OutputVolume for ZarrOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()> {
        check_write(&self.name, &self.shape, self.dtype, region, data)?;
        if self.done.load(Ordering::Acquire) {
            return Err(finished(&self.name));
        }
        let subset = ArraySubset::new_with_ranges(
            &(0..region.ndim())
                .map(|k| {
                    let r = region.range(k);
                    r.start as u64..r.end as u64
                })
                .collect::<Vec<_>>(),
        );
        let touched: u64 = (0..region.ndim())
            .map(|k| {
                let r = region.range(k);
                let c = self.chunks[k];
                if r.is_empty() {
                    0
                } else {
                    ((r.end - 1) / c - r.start / c + 1) as u64
                }
            })
            .product();
        self.chunk_writes.fetch_add(touched, Ordering::Relaxed);
        let array = self.array.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(indices) = self.whole_chunk(region) {
            // one whole chunk (clipped at the array's end): stored as that
            // chunk, padded with the fill value. zarrs would merge a clipped
            // one into the chunk read back, which fails on a chunk file a
            // killed run left half written (and a resumed stitch rewrites
            // exactly those).
            let padded = pad_to_chunk(data, region.shape(), &self.chunks, self.dtype.size());
            let bytes = padded.as_deref().unwrap_or(data);
            return array
                .store_chunk(&indices, ArrayBytes::from(bytes))
                .map_err(|e| Error::write(&self.tmp, e));
        }
        array
            .store_array_subset(&subset, ArrayBytes::from(data))
            .map_err(|e| Error::write(&self.tmp, e))
    }

    fn finish(&self) -> Result<()> {
        let array = self.array.lock().unwrap_or_else(|e| e.into_inner());
        if self.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            // the metadata last: the array appears complete or not at all
            return store_metadata(&array, &self.path);
        }
        drop(array);
        if let Some(shard) = self.shard {
            // this worker's chunks are in place: say so beside the array
            let marker = Self::shard_done_path(&self.path, shard);
            return crate::io::write_atomic(&marker, false, |_, _| Ok(())).map(|_| ());
        }
        crate::io::remove_if_exists(&self.path)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for ZarrOutput {
    /// An output dropped before `finish` leaves nothing behind.
    fn drop(&mut self) {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            // chunks put without metadata: no reader sees them as an array
            return;
        }
        if self.shard.is_some() {
            // the other workers' chunks are in it: never removed
            return;
        }
        if !self.done.load(Ordering::Acquire) && !self.resumable {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
