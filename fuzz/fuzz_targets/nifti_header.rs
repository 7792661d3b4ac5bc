//! NIfTI-1 and NIfTI-2 header parsing from bytes (`NiftiHeader::parse`).
//! Input: the first bytes of a `.nii` or a `.hdr`. A header that parses
//! has a consistent layout: its data size is its shape times its element
//! size, without overflow, and its affine is finite or NaN-free when its
//! inputs are.
#![no_main]

use std::path::Path;

use impart::NiftiHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = NiftiHeader::parse(data, Path::new("fuzz.nii")) else {
        return;
    };
    assert!(
        !header.shape.is_empty() && header.shape.len() <= 7,
        "{:?}",
        header.shape
    );
    assert!(header.shape.iter().all(|&n| n >= 1), "{:?}", header.shape);
    let bytes = header
        .shape
        .iter()
        .try_fold(header.dtype.size(), |n, &e| n.checked_mul(e));
    assert_eq!(
        bytes,
        Some(header.data_bytes()),
        "data bytes of {:?}",
        header.shape
    );
    assert!(header
        .vox_offset
        .checked_add(header.data_bytes() as u64)
        .is_some());
    if header.single_file {
        assert!(header.vox_offset as usize >= header.header_size());
    }
    // every accessor is total
    let _ = (
        header.affine(),
        header.voxel_size(),
        header.scaling(),
        header.sform(),
        header.qform(),
    );
});
