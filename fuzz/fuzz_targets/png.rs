//! PNG headers and decoding (`ImageVolume`, the `png` crate, row by row):
//! opening decodes the image; a hostile header is refused before it
//! allocates. Decoding into memory and into a mapped temporary file (the
//! path of images above the in-memory limit) must give the same pixels
//! (`impart_fuzz::image_target`). Input: the file.
#![no_main]

use impart_fuzz::{image_target, write_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_target(&write_file("x.png", data));
});
