//! PNG headers and decoding (`ImageVolume`, the `png` crate, row by row):
//! opening decodes the image; a hostile header is refused before it
//! allocates. Decoding into memory and into a mapped temporary file (the
//! path of images above the in-memory limit) must give the same pixels.
//! Input: the file.
#![no_main]

use impart::ImageOptions;
use impart_fuzz::{assert_same_reads, read_some, scratch, write_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = write_file("x.png", data);
    image_target(&path);
});

fn image_target(path: &std::path::Path) {
    let memory = ImageOptions::new().in_memory_max(u64::MAX).open(path);
    let mapped = ImageOptions::new()
        .in_memory_max(0)
        .temp_dir(scratch())
        .open(path);
    match (memory, mapped) {
        (Ok(a), Ok(b)) => {
            assert_same_reads(&a, &b);
            read_some(&a);
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
            panic!("decodes in memory or to a file, but not both: {e}")
        }
    }
}
