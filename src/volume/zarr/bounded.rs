//! A storage adapter that refuses zstd frames claiming more bytes than a
//! chunk of their array can hold, before `zarrs` decodes them.
//!
//! `zarrs` 0.23.14 decodes a zstd chunk into a buffer of the size the
//! frame's header claims (`zstd::bulk::Decompressor::upper_bound`), not
//! the size the chunk must have: a 23-byte chunk claiming 2 EB aborted the
//! process on the failed allocation (the `zarr_chunk` fuzz target,
//! `tests/data/fuzz/zarr_chunk/zstd-frame-claims-2-exabytes`). This
//! adapter sits between `zarrs` and the store of an array whose codecs
//! name zstd and checks every value it reads that starts with the zstd
//! magic number against the same bound `zarrs` will use.

use std::sync::Arc;

use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

/// The first four bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// `inner`, with every zstd frame it returns bounded to `limit` decoded
/// bytes.
pub(super) struct ZstdBounded {
    pub(super) inner: Arc<dyn ReadableStorageTraits>,
    pub(super) limit: u64,
}

impl ZstdBounded {
    /// A chunk of `chunk_bytes` decoded bytes: its zstd stage decodes to
    /// the chunk, or to the chunk under a few small codecs (a checksum, a
    /// shard's index): twice the chunk and 1 MiB are never reached by a
    /// valid frame.
    pub(super) fn limit_for(chunk_bytes: u64) -> u64 {
        chunk_bytes.saturating_mul(2).saturating_add(1 << 20)
    }

    fn check(&self, key: &StoreKey, bytes: Bytes) -> Result<Bytes, StorageError> {
        if bytes.starts_with(&ZSTD_MAGIC) {
            if let Some(claimed) = zstd::bulk::Decompressor::upper_bound(&bytes) {
                if claimed as u64 > self.limit {
                    return Err(StorageError::Other(format!(
                        "{key}: a zstd frame claiming {claimed} decoded bytes, more than a chunk of \
                         this array can hold ({} at most): damaged or hostile",
                        self.limit
                    )));
                }
            }
        }
        Ok(bytes)
    }

    fn check_maybe(&self, key: &StoreKey, bytes: MaybeBytes) -> Result<MaybeBytes, StorageError> {
        bytes.map(|b| self.check(key, b)).transpose()
    }
}

impl ReadableStorageTraits for ZstdBounded {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        let bytes = self.inner.get(key)?;
        self.check_maybe(key, bytes)
    }

    fn get_partial(&self, key: &StoreKey, range: ByteRange) -> Result<MaybeBytes, StorageError> {
        let bytes = self.inner.get_partial(key, range)?;
        self.check_maybe(key, bytes)
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let Some(parts) = self.inner.get_partial_many(key, ranges)? else {
            return Ok(None);
        };
        let key = key.clone();
        Ok(Some(Box::new(
            parts.map(move |part| part.and_then(|b| self.check(&key, b))),
        )))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}
