//! Sources whose voxels come in decoded chunks (layer 7): Zarr chunks today,
//! TIFF tiles and strips and remote objects next.
//!
//! A backend implements [`ChunkSource`] (a regular chunk grid, an element
//! type, "decode this chunk", optionally "these chunks come next"), and
//! [`ChunkedVolume`](crate::ChunkedVolume) (in the volume layer above)
//! turns it into a [`Volume`](crate::Volume): a region is read by decoding
//! the chunks it touches and copying their overlap through the layout
//! layer's copy engine.
//!
//! # Each chunk decoded once per walk
//!
//! Overlapping cells and cells that do not line up with chunks share
//! chunks. A walk hands its [`WalkPlan`] (the regions it will read, in
//! batches) to [`Volume::begin_walk`](crate::Volume::begin_walk); a chunked volume answers with a
//! [`WalkSession`] that owns a chunk cache of its own: it counts
//! how many of the plan's reads need each chunk, keeps a decoded chunk while
//! a later read needs it and drops it after its last read, within a byte
//! budget (least recently used beyond it). Two walks over one volume at the
//! same time have two sessions and never reset each other. As the first
//! batch starts, and at each batch boundary for the next batch, the session
//! tells the source which chunks that batch needs and how many bytes the
//! budget leaves beside the decoded chunks held
//! ([`ChunkSource::prefetch`]). Outside a walk nothing is cached.

mod cache;
mod plan;

pub use plan::{chunks_of, WalkPlan, WalkSession};

pub(crate) use cache::ChunkCache;

use crate::dtype::DType;
use crate::error::Result;

/// Chunks of a volume, decoded one at a time.
pub trait ChunkSource: Send + Sync {
    /// A name for messages (the file's path or URL).
    fn name(&self) -> &str;

    /// Extent per axis of the whole volume.
    fn shape(&self) -> &[usize];

    /// Element type of the decoded chunks.
    fn dtype(&self) -> DType;

    /// Extent per axis of every chunk (a regular grid; edge chunks are
    /// decoded at full size).
    fn chunk_shape(&self) -> &[usize];

    /// Decodes chunk `index` (its position in the chunk grid) to C-order,
    /// native-endian elements of [`dtype`](Self::dtype), the chunk's full
    /// shape (elements past the volume's end hold the fill value).
    ///
    /// # Errors
    ///
    /// A typed error naming the source and the chunk ([`Error::Decode`](crate::Error::Decode) for
    /// data that does not decode, [`Error::Io`](crate::Error::Io) for storage).
    fn decode(&self, index: &[u64]) -> Result<Vec<u8>>;

    /// These chunks are needed next, in this order: a source that fetches
    /// over a network may start fetching them, holding at most `budget`
    /// bytes of fetched, not yet decoded data (what the walk's memory
    /// budget leaves beside its decoded chunks; in-flight requests count
    /// at their expected size). Default: nothing.
    fn prefetch(&self, chunks: &[Vec<u64>], budget: usize) {
        let _ = (chunks, budget);
    }

    /// A walk has ended: a source that fetched ahead may drop what it
    /// fetched and no read took. Default: nothing.
    fn walk_ended(&self) {}

    /// The voxel-to-world map of each axis, if the source has one
    /// ([`Volume::axis_transform`](crate::Volume::axis_transform) of a
    /// chunked volume). Default: `None`.
    fn axis_transform(&self) -> Option<&crate::volume::AxisTransform> {
        None
    }

    /// Whether the files the source reads are still the ones it opened;
    /// what [`Volume::check_unchanged`](crate::Volume::check_unchanged)
    /// of a chunked volume asks. Default: `Ok(())` (nothing stamped).
    ///
    /// # Errors
    ///
    /// [`Error::Changed`](crate::Error::Changed) naming a file that
    /// changed, [`Error::Io`](crate::Error::Io) naming one that cannot be
    /// looked at.
    fn check_unchanged(&self) -> Result<()> {
        Ok(())
    }

    /// Short description of the backend (`"zarr"`, `"tiff"`, …).
    fn kind(&self) -> &'static str;
}
