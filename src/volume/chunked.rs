//! A [`ChunkSource`] as a [`Volume`]: regions are read by decoding the
//! chunks they touch; a walk gets a session with a chunk cache of its own
//! (see [`crate::chunked`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::Volume;
use crate::chunked::{chunks_of, ChunkCache, ChunkSource, WalkPlan, WalkSession};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::layout::{checked_size, copy_box, Layout, MemoryOrder};

/// A [`ChunkSource`] as a [`Volume`]; see [`crate::chunked`].
#[derive(Debug)]
pub struct ChunkedVolume<S> {
    source: S,
    cache_bytes: usize,
    decodes: AtomicU64,
}

type Chunk = Arc<Vec<u8>>;

#[allow(clippy::ptr_arg)] // a weigher is `fn(&V)`, here `V = Vec<u8>`
fn weigh(v: &Vec<u8>) -> usize {
    v.len()
}

impl<S: ChunkSource> ChunkedVolume<S> {
    /// A volume over `source` whose walks hold at most about `cache_bytes`
    /// of decoded chunks at a time.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] if the shape or the chunk shape is empty,
    /// has a zero extent, or their bytes overflow.
    pub fn new(source: S, cache_bytes: usize) -> Result<Self> {
        checked_size(source.name(), source.shape(), source.dtype())?;
        checked_size(source.name(), source.chunk_shape(), source.dtype())?;
        if source.chunk_shape().len() != source.shape().len() {
            return Err(Error::InvalidLayout {
                volume: source.name().to_string(),
                detail: format!(
                    "chunk shape {:?} for a volume of shape {:?}",
                    source.chunk_shape(),
                    source.shape()
                ),
            });
        }
        Ok(ChunkedVolume {
            source,
            cache_bytes,
            decodes: AtomicU64::new(0),
        })
    }

    /// The chunk source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Chunk decodes since the volume was made (all walks and reads).
    pub fn decoded_chunks(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Resets the decode counter.
    pub fn reset_decoded_chunks(&self) {
        self.decodes.store(0, Ordering::Relaxed);
    }

    /// Decodes one chunk and checks its size.
    fn decode(&self, index: &[u64]) -> Result<Chunk> {
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let bytes = self.source.decode(index)?;
        let want = self
            .source
            .chunk_shape()
            .iter()
            .product::<usize>()
            .checked_mul(self.source.dtype().size());
        if want != Some(bytes.len()) {
            return Err(Error::Decode {
                path: self.source.name().into(),
                chunk: index.to_vec(),
                detail: format!("decoded to {} bytes, not the chunk's size", bytes.len()),
                source: None,
            });
        }
        Ok(Arc::new(bytes))
    }

    /// Reads `region` into `out`, getting each chunk from `chunk`.
    fn read_with(
        &self,
        region: &Region,
        out: &mut [u8],
        mut chunk: impl FnMut(&[u64]) -> Result<Chunk>,
    ) -> Result<()> {
        let shape = self.source.shape();
        let dtype = self.source.dtype();
        let invalid = |detail: String| Error::InvalidLayout {
            volume: self.source.name().to_string(),
            detail,
        };
        if region.ndim() != shape.len() || !region.is_within(shape) {
            return Err(invalid(format!(
                "region {region} is outside the volume {shape:?}"
            )));
        }
        let expected = region.voxels().and_then(|n| n.checked_mul(dtype.size()));
        if expected != Some(out.len()) {
            return Err(invalid(format!(
                "buffer of {} bytes for region {region}",
                out.len()
            )));
        }
        if (out.as_ptr() as usize) % dtype.size() != 0 {
            // the copy engine writes typed elements: stage through an
            // aligned buffer
            let mut staged: Vec<u64> = Vec::new();
            staged
                .try_reserve_exact(out.len().div_ceil(8))
                .map_err(|_| Error::TooLarge {
                    volume: self.source.name().to_string(),
                    shape: region.shape().to_vec(),
                })?;
            staged.resize(out.len().div_ceil(8), 0);
            let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut staged)[..out.len()];
            self.read_with(region, bytes, chunk)?;
            out.copy_from_slice(bytes);
            return Ok(());
        }
        let unit = self.source.chunk_shape();
        let ustrides = MemoryOrder::C.strides(unit);
        for idx in chunks_of(region, unit) {
            let bytes = chunk(&idx)?;
            let origin: Vec<usize> = idx
                .iter()
                .zip(unit)
                .map(|(&i, &u)| i as usize * u)
                .collect();
            let lo: Vec<usize> = (0..shape.len())
                .map(|k| origin[k].max(region.start()[k]))
                .collect();
            let ext: Vec<usize> = (0..shape.len())
                .map(|k| (origin[k] + unit[k]).min(region.range(k).end) - lo[k])
                .collect();
            let src_at: Vec<usize> = lo.iter().zip(&origin).map(|(a, o)| a - o).collect();
            let dst_at: Vec<usize> = lo.iter().zip(region.start()).map(|(a, s)| a - s).collect();
            let layout = Layout::new(&bytes, unit, &ustrides, dtype, ByteOrder::native())?;
            let copied = copy_box(&layout, &src_at, &ext, out, region.shape(), &dst_at);
            debug_assert!(copied, "out was checked to be aligned");
        }
        Ok(())
    }
}

impl<S: ChunkSource> Volume for ChunkedVolume<S> {
    fn name(&self) -> &str {
        self.source.name()
    }

    fn shape(&self) -> &[usize] {
        self.source.shape()
    }

    fn dtype(&self) -> DType {
        self.source.dtype()
    }

    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        self.read_with(region, out, |idx| self.decode(idx))
    }

    fn begin_walk<'a>(&'a self, plan: &WalkPlan) -> Option<Box<dyn WalkSession + 'a>> {
        let pending = plan.chunk_readers(self.source.shape(), self.source.chunk_shape());
        let batches = (0..plan.batch_count())
            .map(|b| plan.batch(b).to_vec())
            .collect();
        Some(Box::new(ChunkWalk {
            volume: self,
            cache: Mutex::new(ChunkCache::new(self.cache_bytes, weigh, pending)),
            batches,
        }))
    }

    fn axis_transform(&self) -> Option<&super::AxisTransform> {
        self.source.axis_transform()
    }

    fn chunk_shape(&self) -> Option<&[usize]> {
        Some(self.source.chunk_shape())
    }

    fn check_unchanged(&self) -> Result<()> {
        self.source.check_unchanged()
    }

    fn kind(&self) -> &'static str {
        self.source.kind()
    }
}

/// One walk's reads over a chunked volume, with a cache of its own.
struct ChunkWalk<'a, S: ChunkSource> {
    volume: &'a ChunkedVolume<S>,
    cache: Mutex<ChunkCache<Vec<u64>, Vec<u8>>>,
    batches: Vec<Vec<Region>>,
}

impl<S: ChunkSource> Drop for ChunkWalk<'_, S> {
    fn drop(&mut self) {
        self.volume.source.walk_ended();
    }
}

impl<S: ChunkSource> ChunkWalk<'_, S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChunkCache<Vec<u64>, Vec<u8>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The chunk from this walk's cache, decoded by its first reader.
    fn chunk(&self, idx: &[u64]) -> Result<Chunk> {
        let key = idx.to_vec();
        let slot = self.lock().slot(&key);
        let mut held = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bytes) = held.as_ref() {
            return Ok(bytes.clone());
        }
        match self.volume.decode(idx) {
            Ok(bytes) => {
                *held = Some(bytes.clone());
                drop(held);
                self.lock().admit(&key, &bytes);
                Ok(bytes)
            }
            Err(e) => {
                // a failure is not kept: the error goes to this reader, and
                // a later reader tries again
                drop(held);
                self.lock().forget(&key);
                Err(e)
            }
        }
    }
}

impl<S: ChunkSource> WalkSession for ChunkWalk<'_, S> {
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        let result = self.volume.read_with(region, out, |idx| self.chunk(idx));
        let mut cache = self.lock();
        if region.is_within(self.volume.shape()) {
            for idx in chunks_of(region, self.volume.source.chunk_shape()) {
                cache.read_done(&idx);
            }
        }
        result
    }

    fn batch_started(&self, b: usize) {
        // the first batch is fetched ahead as it starts, each next one
        // while the one before is read
        if b == 0 {
            self.prefetch_batch(0);
        }
        self.prefetch_batch(b + 1);
    }
}

impl<S: ChunkSource> ChunkWalk<'_, S> {
    /// Tells the source which chunks batch `b` reads, in the order of its
    /// regions, and what the budget leaves for them beside the decoded
    /// chunks held.
    fn prefetch_batch(&self, b: usize) {
        let Some(batch) = self.batches.get(b) else {
            return;
        };
        let unit = self.volume.source.chunk_shape();
        let mut seen = BTreeSet::new();
        let chunks: Vec<Vec<u64>> = batch
            .iter()
            .flat_map(|r| chunks_of(r, unit))
            .filter(|c| seen.insert(c.clone()))
            .collect();
        if !chunks.is_empty() {
            let held = self.lock().bytes();
            let budget = self.volume.cache_bytes.saturating_sub(held);
            self.volume.source.prefetch(&chunks, budget);
        }
    }
}
