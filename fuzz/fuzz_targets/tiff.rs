//! TIFF and BigTIFF: the directory chain, tags, stacks, pyramids and
//! GeoTIFF keys at open, then tile and strip decoding through reads, mapped
//! and with positioned reads (which must agree). Every page and level is
//! opened too. Input: the file.
#![no_main]

use impart::{TiffOptions, Volume};
use impart_fuzz::{assert_same_reads, read_some, write_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = write_file("x.tif", data);
    let mapped = TiffOptions::new().mmap(true).open(&path);
    let pread = TiffOptions::new().mmap(false).open(&path);
    let volume = match (mapped, pread) {
        (Ok(a), Ok(b)) => {
            assert_same_reads(&a, &b);
            a
        }
        (Err(_), Err(_)) => return,
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => panic!("opens mapped or not, but not both: {e}"),
    };
    let _ = (volume.affine(), volume.axes(), volume.geo());
    let (pages, levels) = (volume.pages().min(4), volume.levels().len().min(4));
    for page in 1..pages {
        if let Ok(v) = TiffOptions::new().page(page).open(&path) {
            read_some(&v);
        }
    }
    for level in 1..levels {
        if let Ok(v) = TiffOptions::new().level(level).open(&path) {
            read_some(&v);
        }
    }
});
