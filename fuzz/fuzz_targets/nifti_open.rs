//! Opening NIfTI files and reading them, mapped and with positioned reads,
//! which must agree. Input: a selector byte, then the file.
//!
//! | selector % 4 | written as |
//! |---|---|
//! | 0 | `x.nii` |
//! | 1 | `x.nii.gz` (the bytes as given: a gzip stream) |
//! | 2 | `x.hdr` (the first 348 bytes, or 540 for a NIfTI-2 size field) + `x.img` (the rest) |
//! | 3 | `x.nii.gz`, the bytes gzip-compressed here (so header mutations reach the parser through the gzip path) |
#![no_main]

use std::io::Write;

use impart::{NiftiOptions, Volume};
use impart_fuzz::{assert_same_reads, fresh_dir, read_some, split_selector, write_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = split_selector(data) else {
        return;
    };
    let path = match selector % 4 {
        0 => write_file("x.nii", bytes),
        1 => write_file("x.nii.gz", bytes),
        2 => {
            let first = bytes.get(..4).map(|b| [b[0], b[1], b[2], b[3]]);
            let size = match first {
                Some(b) if i32::from_le_bytes(b) == 540 || i32::from_be_bytes(b) == 540 => 540,
                _ => 348,
            };
            let split = size.min(bytes.len());
            write_file("x.img", &bytes[split..]);
            write_file("x.hdr", &bytes[..split])
        }
        _ => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(bytes).expect("gzip into memory");
            write_file("x.nii.gz", &gz.finish().expect("gzip into memory"))
        }
    };
    // a fresh decode cache for each input: a shared one would grow by a
    // file per distinct .nii.gz the fuzzer makes
    let cache = fresh_dir("nifti-cache");
    let mapped = NiftiOptions::new().mmap(true).cache_dir(&cache).open(&path);
    let pread = NiftiOptions::new()
        .mmap(false)
        .cache_dir(&cache)
        .open(&path);
    match (&mapped, &pread) {
        (Ok(a), Ok(b)) => {
            assert_eq!(format!("{:?}", a.header()), format!("{:?}", b.header()));
            assert_same_reads(a, b);
            let _ = (a.affine(), a.scaling());
        }
        (Ok(v), Err(e)) | (Err(e), Ok(v)) => {
            panic!(
                "{}: opens one way ({:?}) but not the other: {e}",
                path.display(),
                v.shape()
            )
        }
        (Err(_), Err(_)) => {}
    }
    if let Ok(v) = &mapped {
        read_some(v);
    }
});
