//! The PNG and JPEG backend against files written by other tools:
//! `tests/data/images/`, from `data-scripts/make_image_fixtures.py` (see
//! its README): PNGs of every color type and bit depth (palettes, `tRNS`,
//! Adam7, every filter, split `IDAT`) written by the script's own encoder
//! and checked there against libvips; JPEGs written by libjpeg-turbo.
//!
//! Every valid case is opened three ways (decoded into memory, into a
//! temporary cache file, into the decode cache) and must read the
//! expectation: bit for bit for PNG; for JPEG bit for bit what the `image`
//! crate decodes (the decoder impart replaced) and within the recorded
//! error of libjpeg-turbo's decode. Every damaged or hostile case must give
//! the recorded error, whichever way it is opened, and leave no file
//! behind.
#![cfg(feature = "image")]

use std::path::{Path, PathBuf};

use impart::{DecodeCache, Error, ImageOptions, ImageStorage, ImageVolume, Region, Volume};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/images")
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let doc: Value = serde_json::from_str(&text).expect("cases.json parses");
    doc["cases"].as_array().expect("cases").clone()
}

/// The whole volume's samples, widened to `u32`.
fn samples(vol: &ImageVolume) -> Vec<u32> {
    let shape = vol.shape().to_vec();
    let region = Region::new(vec![0; 3], shape.clone()).unwrap();
    let size = vol.dtype().size();
    let mut bytes = vec![0u8; shape.iter().product::<usize>() * size];
    vol.read_region(&region, &mut bytes).unwrap();
    match size {
        1 => bytes.iter().map(|&b| b as u32).collect(),
        _ => bytes
            .chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]) as u32)
            .collect(),
    }
}

/// The expectation file's samples (little-endian), widened to `u32`.
fn expected(case: &Value) -> Option<Vec<u32>> {
    let name = case["expected"].as_str()?;
    let bytes = std::fs::read(dir().join(name)).expect("expected file");
    Some(match case["dtype"].as_str() {
        Some("u16") => bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
            .collect(),
        _ => bytes.iter().map(|&b| b as u32).collect(),
    })
}

/// What the `image` crate decodes, widened to `u32`.
fn image_crate(path: &Path) -> (Vec<usize>, Vec<u32>) {
    let img = image::open(path).expect("image decodes the fixture");
    let c = img.color().channel_count() as usize;
    let shape = vec![img.height() as usize, img.width() as usize, c];
    let values = match img.color().bytes_per_pixel() as usize / c {
        1 => img.as_bytes().iter().map(|&b| b as u32).collect(),
        _ => img
            .as_bytes()
            .chunks_exact(2)
            .map(|p| u16::from_ne_bytes([p[0], p[1]]) as u32)
            .collect(),
    };
    (shape, values)
}

fn shape_of(case: &Value) -> Vec<usize> {
    case["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// The three ways of opening: into memory, into a temporary cache file
/// (in `tmp`), into the decode cache (in `cache`).
fn open_all(
    path: &Path,
    tmp: &Path,
    cache: &Path,
) -> Vec<(&'static str, Result<ImageVolume, Error>)> {
    vec![
        (
            "memory",
            ImageOptions::new().in_memory_max(u64::MAX).open(path),
        ),
        (
            "temporary",
            ImageOptions::new()
                .in_memory_max(0)
                .temp_dir(tmp)
                .open(path),
        ),
        (
            "cache",
            ImageVolume::open_cached_in(path, &DecodeCache::new(cache)),
        ),
    ]
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(read) => read.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn valid_fixtures_read_their_expectation_every_way() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    let cache = work.path().join("cache");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["kind"] == "valid") {
        let name = case["name"].as_str().unwrap();
        let path = dir().join(case["file"].as_str().unwrap());
        let shape = shape_of(case);
        let want = expected(case);
        let (reference_shape, reference) = image_crate(&path);
        assert_eq!(reference_shape, shape, "{name}: the image crate's shape");
        for (how, vol) in open_all(&path, &tmp, &cache) {
            let vol = match vol {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{name} ({how}): {e}"));
                    continue;
                }
            };
            assert_eq!(vol.shape(), &shape[..], "{name} ({how})");
            assert_eq!(
                vol.dtype().name(),
                case["dtype"].as_str().unwrap(),
                "{name} ({how})"
            );
            let storage_ok = match (how, vol.storage()) {
                ("memory", ImageStorage::Memory) => true,
                ("temporary", ImageStorage::Temporary { path, .. }) => {
                    path.starts_with(tmp.join("impart-cache"))
                }
                ("cache", ImageStorage::Cache { path }) => path.starts_with(&cache),
                _ => false,
            };
            assert!(storage_ok, "{name} ({how}): {:?}", vol.storage());
            let got = samples(&vol);
            // the decoder impart replaced, bit for bit
            if got != reference {
                failures.push(format!("{name} ({how}): differs from the image crate"));
            }
            match (&want, case["lossy"].as_bool().unwrap()) {
                (Some(want), false) if &got != want => {
                    failures.push(format!("{name} ({how}): differs from the expectation"))
                }
                (Some(want), true) => {
                    let worst = got
                        .iter()
                        .zip(want)
                        .map(|(&a, &b)| a.abs_diff(b))
                        .max()
                        .unwrap_or(0);
                    let allowed = case["max_abs_error"].as_u64().unwrap() as u32;
                    if worst > allowed {
                        failures.push(format!(
                            "{name} ({how}): {worst} from libjpeg-turbo's decode, more than {allowed}"
                        ));
                    }
                }
                _ => {}
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 3 * 55, "{checked}");
    // temporary cache files are gone once their volumes are
    assert_eq!(files_in(&tmp.join("impart-cache")), Vec::<PathBuf>::new());
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Truncated { .. } => "Truncated",
        Error::InvalidHeader { .. } => "InvalidHeader",
        Error::Decode { .. } => "Decode",
        Error::Unsupported { .. } => "Unsupported",
        Error::Io { .. } => "Io",
        Error::TooLarge { .. } => "TooLarge",
        Error::InsufficientSpace { .. } => "InsufficientSpace",
        _ => "other",
    }
}

#[test]
fn damaged_and_hostile_fixtures_are_their_typed_error() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    let cache = work.path().join("cache");
    let mut failures = Vec::new();
    for case in cases().iter().filter(|c| c["kind"] == "bad") {
        let name = case["name"].as_str().unwrap();
        let file = case["file"].as_str().unwrap();
        let path = dir().join(file);
        let want = case["error"].as_str().unwrap();
        for (how, result) in open_all(&path, &tmp, &cache) {
            match result {
                Ok(v) => failures.push(format!("{name} ({how}): opened as {:?}", v.shape())),
                Err(e) => {
                    let text = e.to_string();
                    if kind(&e) != want || !text.contains(file) {
                        failures.push(format!("{name} ({how}): {} {text}", kind(&e)));
                    }
                    // a decoder's refusal is not "invalid header"
                    if want != "InvalidHeader" && text.contains("invalid header") {
                        failures.push(format!("{name} ({how}): {text}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // nothing was left behind: no temporary file, no cache file
    assert_eq!(files_in(&tmp.join("impart-cache")), Vec::<PathBuf>::new());
    let left: Vec<_> = files_in(&cache.join("impart-cache"));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn hostile_header_messages_say_what_was_claimed() {
    let e = ImageVolume::open(dir().join("bad_huge_header.png")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("2147483647 x 2147483647") && text.contains("compressed"),
        "{text}"
    );
    let e = ImageVolume::open(dir().join("bad_huge_header.jpg")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("65535 x 65535"), "{text}");
    let e = ImageVolume::open(dir().join("bad_truncated_idat.png")).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // the decoder's own error is kept as the source
    let e = ImageVolume::open(dir().join("bad_zlib.png")).unwrap_err();
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    assert!(e.to_string().contains("cannot decode the image"), "{e}");
}

/// Every prefix of a valid PNG and JPEG is a typed error (never a panic,
/// never a gray-filled image), or, for a PNG cut only before its `IEND`
/// chunk, the whole image.
#[test]
fn every_truncated_prefix_is_an_error() {
    let work = tempfile::tempdir().unwrap();
    for (file, complete_before) in [("rgb8_adam7.png", 12), ("jpeg_rgb_420.jpg", 0)] {
        let bytes = std::fs::read(dir().join(file)).unwrap();
        let whole = samples(&ImageVolume::open(dir().join(file)).unwrap());
        let cut = work.path().join(file);
        for n in 0..bytes.len() {
            std::fs::write(&cut, &bytes[..n]).unwrap();
            match ImageVolume::open(&cut) {
                Ok(v) => assert!(
                    n + complete_before == bytes.len() && samples(&v) == whole,
                    "{file}: the first {n} bytes open"
                ),
                Err(e) => {
                    if n >= 8 {
                        assert!(matches!(e, Error::Truncated { .. }), "{file} [..{n}]: {e}");
                    }
                }
            }
        }
    }
}

/// An image larger than the in-memory limit goes to a temporary cache file
/// (removed at once on Unix, and in any case once the volume is dropped)
/// and reads what the in-memory decode reads, zero copy included.
#[test]
fn larger_than_the_in_memory_limit_goes_to_a_temporary_file() {
    let work = tempfile::tempdir().unwrap();
    for file in [
        "rgb16.png",
        "rgba8_adam7.png",
        "jpeg_rgb_444.jpg",
        "palette4_trns.png",
    ] {
        let path = dir().join(file);
        let memory = ImageVolume::open(&path).unwrap();
        assert_eq!(memory.storage(), &ImageStorage::Memory);
        let bytes = (memory.shape().iter().product::<usize>() * memory.dtype().size()) as u64;
        // at the limit: memory; one byte over it: a file
        let at = ImageOptions::new()
            .in_memory_max(bytes)
            .temp_dir(work.path());
        assert!(!at.open(&path).unwrap().is_cached());
        let over = ImageOptions::new()
            .in_memory_max(bytes - 1)
            .temp_dir(work.path())
            .open(&path)
            .unwrap();
        assert!(over.is_cached());
        let ImageStorage::Temporary {
            path: tmp,
            in_memory_max,
        } = over.storage().clone()
        else {
            panic!("{file}: {:?}", over.storage());
        };
        assert_eq!(in_memory_max, bytes - 1);
        assert!(over.storage().describe().contains("temporary cache file"));
        assert_eq!(over.cache_path(), Some(tmp.as_path()));
        if cfg!(unix) {
            assert!(!tmp.exists(), "{tmp:?} is removed once mapped");
        }
        assert_eq!(samples(&over), samples(&memory), "{file}");
        let part = impart::Partition::builder(&over)
            .cell(&[8, 8])
            .build()
            .unwrap();
        let cell = part.cell(&[1, 2]).unwrap();
        assert_eq!(
            cell.to_array_as::<f64>().unwrap(),
            impart::Partition::builder(&memory)
                .cell(&[8, 8])
                .build()
                .unwrap()
                .cell(&[1, 2])
                .unwrap()
                .to_array_as::<f64>()
                .unwrap()
        );
        drop(over);
        assert!(!tmp.exists());
    }
    assert_eq!(
        files_in(&work.path().join("impart-cache")),
        Vec::<PathBuf>::new()
    );
}
