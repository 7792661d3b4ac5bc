//! Every crash the fuzz targets (`fuzz/`) found, as a test: the minimized
//! input is committed under `tests/data/fuzz/<target>/`, and each test runs
//! the check that failed on it, so the fix stays fixed without the fuzzer.
//! `fuzz/README.md` has the campaign's table.

use std::path::{Path, PathBuf};

use impart::{AxisIndex, Selection};

fn input(target: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "data",
        "fuzz",
        target,
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()))
}

/// `selection`: `":\n:"` (a `::` with whitespace inside) parsed to
/// `Range { start: None, stop: None }` while `":"` parses to `Full`, so a
/// selection printed and parsed again was another value. The parser now
/// gives every spelling of the whole axis as `Full`.
#[test]
fn selection_whole_axis_has_one_spelling() {
    let data = input("selection", "whole-axis-spellings");
    // the target's layout: rank byte, one extent byte per axis, the text
    let rank = 1 + data[0] as usize % 4;
    let text = std::str::from_utf8(&data[1 + rank..]).unwrap();
    assert_eq!(text, ":\n:");
    let parsed: Selection = text.parse().unwrap();
    assert_eq!(parsed.items(), &[AxisIndex::Full]);
    for spelling in [":", "::", "..", " : ", ": :", ":\t:", "..=-1"] {
        let s: Selection = spelling.parse().unwrap();
        assert_eq!(s.items(), &[AxisIndex::Full], "{spelling:?}");
    }
    // a half-open range keeps its form
    let s: Selection = "2:".parse().unwrap();
    assert_eq!(
        s.items(),
        &[AxisIndex::Range {
            start: Some(2),
            stop: None
        }]
    );
}

/// `grid_model`: a 4-axis grid of steps of 1/64 voxel over extents near
/// 4096 has about 2^71 cells. The grid refuses it as `TooManyCells` (a
/// typed error, as documented) rather than overflowing; the harness had
/// assumed every such grid builds, and now expects this refusal exactly
/// when the model's cell count overflows `usize`.
#[test]
fn grid_model_too_many_cells_is_a_typed_error() {
    let data = input("grid_model", "too-many-cells");
    assert!(!data.is_empty());
    let grid = impart::Grid::builder(&[3851, 4096, 4096, 4096])
        .cell(&[346, 256, 53, 136])
        .step(1.0 / 64.0)
        .build();
    assert!(
        matches!(grid, Err(impart::GridError::TooManyCells { .. })),
        "{grid:?}"
    );
    // one axis fewer fits: 1 + (dim - cell) * 64 cells per axis
    let grid = impart::Grid::builder(&[3851, 4096, 4096])
        .cell(&[346, 256, 53])
        .step(1.0 / 64.0)
        .build()
        .unwrap();
    assert_eq!(grid.shape(), &[1 + 3505 * 64, 1 + 3840 * 64, 1 + 4043 * 64]);
}

/// `zarr_metadata`: a v2 array of dtype `"<U000…0709551615"` (a string of
/// 709,551,615 UTF-32 characters per element) made the fuzzer run out of
/// memory: zarrs builds an array's fill value at open, 2.8 GB of it here,
/// before impart could refuse the type. impart now reads the metadata's
/// type first and refuses every type it does not read (strings, bytes,
/// structured, v3 types with a configuration) as `UnsupportedDType`
/// naming the key, without zarrs allocating anything.
#[cfg(feature = "zarr")]
#[test]
fn zarr_huge_string_dtype_is_refused_before_zarrs_opens_it() {
    let data = input("zarr_metadata", "huge-string-dtype");
    // the target's layout: selector byte (odd: v2 .zarray), the metadata
    assert_eq!(data[0] % 2, 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".zarray"), &data[1..]).unwrap();
    let e = impart::ZarrVolume::open(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::UnsupportedDType { .. }), "{msg}");
    assert!(msg.contains("Zarr dtype \"<U0000"), "{msg}");

    // the same in metadata with a byte that is not UTF-8 elsewhere (the
    // target's second find: the check had skipped what it could not parse
    // as UTF-8, while zarrs reads it)
    let data = input("zarr_metadata", "huge-string-dtype-not-utf8");
    assert!(std::str::from_utf8(&data[1..]).is_err());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".zarray"), &data[1..]).unwrap();
    let e = impart::ZarrVolume::open(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::UnsupportedDType { .. }), "{msg}");
    assert!(msg.contains("Zarr dtype \"<U0000"), "{msg}");

    // the v3 form: a fixed-length type of a huge length
    let dir = tempfile::tempdir().unwrap();
    let meta = r#"{"zarr_format":3,"node_type":"array","shape":[4],"data_type":{"name":"fixed_length_utf32","configuration":{"length_bytes":4000000000}},"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},"chunk_key_encoding":{"name":"default"},"fill_value":"","codecs":[{"name":"bytes"}]}"#;
    std::fs::write(dir.path().join("zarr.json"), meta).unwrap();
    let e = impart::ZarrVolume::open(dir.path()).unwrap_err();
    assert!(matches!(e, impart::Error::UnsupportedDType { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("Zarr data_type {") && msg.contains("fixed_length_utf32"),
        "{msg}"
    );
}

/// `png`: a PLTE chunk of 59 bytes (not a whole number of RGB entries)
/// made the `png` crate (0.18.1) panic with a slice index out of range
/// while expanding the palette, in the middle of impart's decode. impart's
/// chunk scan now refuses such a palette first (the PNG spec's rule:
/// 1 to 256 entries of 3 bytes) as `InvalidHeader` naming the file.
#[cfg(feature = "image")]
#[test]
fn png_palette_of_a_partial_entry_is_refused() {
    let data = input("png", "plte-not-multiple-of-3");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    std::fs::write(&path, &data).unwrap();
    for options in [
        impart::ImageOptions::new().in_memory_max(u64::MAX),
        impart::ImageOptions::new()
            .in_memory_max(0)
            .temp_dir(dir.path()),
    ] {
        let e = options.open(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, impart::Error::InvalidHeader { .. }), "{msg}");
        assert!(
            msg.contains("x.png") && msg.contains("PLTE chunk at offset 33 holds 59 bytes"),
            "{msg}"
        );
    }
}

/// `zarr_metadata`: a v3 array of shape `[9, 40, 7]` whose
/// `sharding_indexed` codec gives its inner chunks a `chunk_shape` of one
/// axis. zarrs (0.23.14) opens such an array and panics when it builds the
/// grid of inner chunks ("the subchunk grid dimensionality is already
/// confirmed to match"), which impart did at open. impart now checks the
/// inner chunk shape's rank first: `InvalidHeader` naming the array.
#[cfg(feature = "zarr")]
#[test]
fn zarr_sharding_inner_chunks_of_another_rank_are_refused() {
    let data = input("zarr_metadata", "sharding-inner-chunk-of-another-rank");
    // the target's layout: selector byte (even: v3 zarr.json), the metadata
    assert_eq!(data[0] % 2, 0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zarr.json"), &data[1..]).unwrap();
    let e = impart::ZarrVolume::open(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::InvalidHeader { .. }), "{msg}");
    assert!(
        msg.contains("the sharding codec's chunk_shape is of rank 1, the array of rank 3"),
        "{msg}"
    );
}

/// `tiff`, replaying the corpus under AddressSanitizer: a 345-byte file
/// claiming a 1,031,976,210 x 37 RGB image in one WebP-compressed strip.
/// impart allocated the strip's 114 GB (lazily zeroed pages, or "cannot be
/// allocated" where the kernel refuses; an abort under the sanitizer)
/// before the decoder could find the WebP data short. WebP decodes to at
/// most 16384 x 16384 RGBA pixels, and zstd to at most 32768 times its
/// size, so such a chunk is now refused before any allocation, as the
/// other bounded codecs' were.
#[cfg(feature = "tiff")]
#[test]
fn tiff_webp_strip_larger_than_webp_can_decode_is_refused_before_allocating() {
    use impart::Volume;
    let data = input("tiff", "webp-strip-of-114-gb");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tif");
    std::fs::write(&path, &data).unwrap();
    let v = impart::TiffOptions::new().open(&path).unwrap();
    assert_eq!(v.shape(), &[37, 1_031_976_210, 3]);
    assert_eq!(v.compression(), (50001, "WebP"));
    let region = impart::Region::new(vec![0; 3], vec![1, 1, 3]).unwrap();
    let mut out = [0u8; 3];
    let e = v.read_region(&region, &mut out).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::Decode { .. }), "{msg}");
    assert!(
        msg.contains("stored bytes decode to at most 1073741824, not the 114549359310"),
        "{msg}"
    );
}

/// `jpeg`: a 142-byte file whose SOI marker is followed by stray bytes
/// (`FF D8 49 49 ...`), then a progressive frame of 65470 x 55250 pixels.
/// impart took a JPEG to start `FF D8 FF`, so this file went to the
/// `image` crate instead (which guessed JPEG from the name `x.jpg`), and
/// its lenient decoder allocated 7 GB of coefficients for 27 s before
/// failing: the fuzzer's out-of-memory. A file starting with SOI now goes
/// through impart's JPEG checks, which refuse it at once: it has no
/// end-of-image marker, and with one its frame has more 8x8 blocks than
/// the file has bits. And the `image` fallback never decodes
/// a PNG or JPEG it recognised by the file's name alone.
#[cfg(feature = "image")]
#[test]
fn jpeg_stray_bytes_after_soi_get_the_jpeg_header_checks() {
    let data = input("jpeg", "stray-bytes-after-soi-claim-3-gigapixels");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jpg");
    std::fs::write(&path, &data).unwrap();
    // the file has no end-of-image marker
    let e = impart::ImageVolume::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::Truncated { .. }), "{msg}");
    assert!(msg.contains("x.jpg") && msg.contains("142 bytes"), "{msg}");
    // with one, the frame is refused
    let mut ended = data.clone();
    ended.extend_from_slice(&[0xFF, 0xD9]);
    std::fs::write(&path, &ended).unwrap();
    let e = impart::ImageVolume::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, impart::Error::InvalidHeader { .. }), "{msg}");
    assert!(
        msg.contains("x.jpg") && msg.contains("claims 65470 x 55250 pixels"),
        "{msg}"
    );
    // named like a JPEG or PNG without its signature: refused by name
    for (name, what) in [("y.jpg", "FF D8"), ("y.png", "PNG signature")] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"neither signature: the name alone").unwrap();
        let e = impart::ImageVolume::open(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, impart::Error::InvalidHeader { .. }), "{msg}");
        assert!(msg.contains(name) && msg.contains(what), "{msg}");
    }
}

/// The other side of the fix above: a valid JPEG with stray bytes between
/// SOI and its first marker (which lenient decoders skip) reads the very
/// pixels of the same file without them, baseline and progressive.
#[cfg(feature = "image")]
#[test]
fn jpeg_stray_bytes_after_soi_are_skipped_as_a_lenient_decoder_does() {
    use impart::{Region, Volume};
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "jpeg_rgb_420.jpg",
        "jpeg_rgb_progressive.jpg",
        "jpeg_gray.jpg",
    ] {
        let good: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "images", name]
            .iter()
            .collect();
        let bytes = std::fs::read(&good).unwrap();
        assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "{name}");
        let mut stray = bytes[..2].to_vec();
        stray.extend_from_slice(b"II*\0 stray");
        stray.extend_from_slice(&bytes[2..]);
        let path = dir.path().join(name);
        std::fs::write(&path, &stray).unwrap();
        let read = |p: &Path| {
            let v = impart::ImageVolume::open(p).unwrap();
            let region = Region::new(vec![0; v.shape().len()], v.shape().to_vec()).unwrap();
            let mut out = vec![0u8; region.voxels().unwrap() * v.dtype().size()];
            v.read_region(&region, &mut out).unwrap();
            (v.shape().to_vec(), out)
        };
        let (shape, pixels) = read(&good);
        assert!(pixels.iter().any(|&b| b != 0), "{name}");
        assert_eq!(read(&path), (shape, pixels), "{name}");
    }
}

/// `jpeg`: a damaged baseline stream on which zune-jpeg 0.5.15 panics in
/// its AVX2 4x4 IDCT (`Option::unwrap()` on `None`, `idct/avx2.rs:376`).
/// impart catches the decoder's panic: opening the file is a `Decode`
/// error naming it, in memory and through a mapped decode file alike.
#[cfg(feature = "image")]
#[test]
fn jpeg_decoder_panic_is_a_decode_error() {
    let data = input("jpeg", "zune-idct-4x4-panic");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jpg");
    std::fs::write(&path, &data).unwrap();
    for in_memory_max in [u64::MAX, 0] {
        let e = impart::ImageOptions::new()
            .in_memory_max(in_memory_max)
            .temp_dir(dir.path())
            .open(&path)
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, impart::Error::Decode { .. }), "{msg}");
        assert!(msg.contains("x.jpg") && msg.contains("zune-jpeg"), "{msg}");
    }
}

/// `zarr_chunk`: a 23-byte first chunk of `v2_u16_le_zstd_c_dot` (a zstd
/// frame whose header claims 2,271,784,537,032,008,250 decoded bytes).
/// zarrs 0.23.14 sizes its decode buffer by that claim, and the failed
/// allocation aborted the process. impart bounds every zstd frame it hands
/// to zarrs by what a chunk of the array can hold: reading the chunk is a
/// `Decode` error naming the chunk; the other chunks (missing: the fill
/// value) still read.
#[cfg(feature = "zarr")]
#[test]
fn zarr_zstd_frame_claiming_more_than_a_chunk_is_refused_before_decoding() {
    use impart::{Region, Volume, ZarrVolume};
    let data = input("zarr_chunk", "zstd-frame-claims-2-exabytes");
    // the target's input: a selector byte (0: the first array), the chunk
    assert_eq!(data[0], 0);
    let fixture: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/data/zarr/v2_u16_le_zstd_c_dot",
    ]
    .iter()
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("a.zarr");
    std::fs::create_dir(&array).unwrap();
    std::fs::copy(fixture.join(".zarray"), array.join(".zarray")).unwrap();
    let volume = ZarrVolume::open(&array).unwrap();
    let zeros = vec![0u64; volume.shape().len()];
    let key = volume.array().chunk_key(&zeros);
    std::fs::write(array.join(key.as_str()), &data[1..]).unwrap();
    let chunk = volume.chunk_shape().to_vec();
    let first = Region::new(vec![0; chunk.len()], chunk.clone()).unwrap();
    let mut out = vec![0u8; first.voxels().unwrap() * 2];
    let e = volume.read_region(&first, &mut out).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, impart::Error::Decode { ref chunk, .. } if chunk == &zeros),
        "{msg}"
    );
    assert!(
        msg.contains("zstd frame claiming 2271784537032008250"),
        "{msg}"
    );
    // the last chunk is missing: the fill value
    let shape = volume.shape().to_vec();
    let last = Region::new(
        shape
            .iter()
            .zip(&chunk)
            .map(|(&n, &c)| (n - 1) / c * c)
            .collect(),
        shape
            .iter()
            .zip(&chunk)
            .map(|(&n, &c)| n - (n - 1) / c * c)
            .collect(),
    )
    .unwrap();
    if last.start() != first.start() {
        let mut out = vec![0u8; last.voxels().unwrap() * 2];
        volume.read_region(&last, &mut out).unwrap();
    }
}
