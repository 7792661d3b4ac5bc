//! Zarr v2 and v3 array metadata: opening an array directory whose metadata
//! is the input, then reading it (no chunk is stored, so every read is the
//! fill value, or an error). Input: a selector byte (even: v3 `zarr.json`;
//! odd: v2 `.zarray`), then the metadata.
#![no_main]

use impart::{Volume, ZarrVolume};
use impart_fuzz::{fresh_dir, read_some, split_selector, write_file};
use libfuzzer_sys::fuzz_target;

/// Reads are skipped for arrays whose one chunk is larger than this: zarrs
/// allocates a whole chunk to decode one, and the harness must not need
/// gigabytes for a 100-byte input (a limit of the harness, not the library).
const MAX_CHUNK_BYTES: usize = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((selector, metadata)) = split_selector(data) else {
        return;
    };
    let dir = fresh_dir("meta.zarr");
    let name = if selector % 2 == 0 {
        "zarr.json"
    } else {
        ".zarray"
    };
    write_file(&format!("meta.zarr/{name}"), metadata);
    let Ok(volume) = ZarrVolume::open(&dir) else {
        return;
    };
    assert!(!volume.shape().is_empty() && !volume.shape().contains(&0));
    let chunk = volume
        .chunk_shape()
        .iter()
        .try_fold(volume.dtype().size(), |n, &e| n.checked_mul(e));
    if chunk.is_some_and(|n| n <= MAX_CHUNK_BYTES) {
        read_some(&volume);
    }
});
