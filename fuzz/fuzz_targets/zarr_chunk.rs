//! Zarr chunk decoding: the metadata of one of the committed fixture arrays
//! (written by zarr-python; v2 and v3, every codec they use), and the
//! input as the bytes of its first chunk (for the sharded array, its first
//! shard). Reads of what the chunk covers either fail with a typed error or
//! give values; reads of other chunks (absent) give the fill value.
//! Input: a selector byte picking the array, then the chunk bytes.
#![no_main]

use impart::{Volume, ZarrVolume};
use impart_fuzz::{fresh_dir, read_some, split_selector, write_file};
use libfuzzer_sys::fuzz_target;

macro_rules! fixture {
    ($dir:literal, $file:literal) => {
        (
            $file,
            include_bytes!(concat!("../../tests/data/zarr/", $dir, "/", $file)) as &[u8],
        )
    };
}

/// (metadata file name, metadata) of each array.
const ARRAYS: [(&str, &[u8]); 12] = [
    fixture!("v2_u16_le_zstd_c_dot", ".zarray"),
    fixture!("v2_f32_blosc_f_slash", ".zarray"),
    fixture!("v2_u32_be_blosc_c_dot", ".zarray"),
    fixture!("v2_i16_gzip_c_slash", ".zarray"),
    fixture!("v2_i64_be_none_c_slash", ".zarray"),
    fixture!("v2_u8_4d_channels_f", ".zarray"),
    fixture!("v3_f32_zstd_crc32c_2d", "zarr.json"),
    fixture!("v3_f64_gzip_3d", "zarr.json"),
    fixture!("v3_f32_sharded_3d", "zarr.json"),
    fixture!("v3_i32_missing_fill_2d", "zarr.json"),
    fixture!("v3_f32_sharded_missing_fill", "zarr.json"),
    fixture!("v3_i16_gzip_2d", "zarr.json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, chunk)) = split_selector(data) else {
        return;
    };
    let (name, metadata) = ARRAYS[selector as usize % ARRAYS.len()];
    let dir = fresh_dir("chunk.zarr");
    write_file(&format!("chunk.zarr/{name}"), metadata);
    let volume = ZarrVolume::open(&dir).expect("a fixture's metadata opens");
    let zeros = vec![0u64; volume.shape().len()];
    let key = volume.array().chunk_key(&zeros);
    write_file(&format!("chunk.zarr/{}", key.as_str()), chunk);
    read_some(&volume);
});
