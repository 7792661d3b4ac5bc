//! The decode cache's limits: least-recently-used eviction under a cap,
//! the age limit, what eviction never removes, and `clean`. Every time
//! that matters is set explicitly (far apart, or far from now), so nothing
//! depends on the clock's granularity, the time zone or the machine's
//! speed. Limits are always given explicitly: the environment variables
//! are tested through the program (tests/cli.rs).
#![cfg(all(feature = "image", feature = "nifti"))]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use impart::io::cache::STALE_TEMP_AGE;
use impart::{CacheLimits, DecodeCache, ImageVolume, OpenOptions, Partition, Volume};

/// A fixed instant long ago: 2001-09-09T01:46:40Z.
fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("set the mtime of {}: {e}", path.display()));
}

/// A file of `bytes` zeros named `name` in the cache, last used at `t`.
fn put(cache: &DecodeCache, name: &str, bytes: usize, t: SystemTime) -> PathBuf {
    std::fs::create_dir_all(cache.dir()).unwrap();
    let path = cache.dir().join(name);
    std::fs::write(&path, vec![0u8; bytes]).unwrap();
    set_mtime(&path, t);
    path
}

fn names(cache: &DecodeCache) -> Vec<String> {
    cache.entries().unwrap().iter().map(|e| e.name()).collect()
}

fn capped(dir: &Path, bytes: u64) -> DecodeCache {
    DecodeCache::new(dir).with_limits(CacheLimits::unlimited().max_bytes(Some(bytes)))
}

/// An 8 x 8 RGB PNG (a 256-byte cache file: 64 header + 192 pixels).
fn png(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let path = dir.join(name);
    image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8, y as u8, seed]))
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    path
}

const PNG_CACHE_BYTES: u64 = 64 + 8 * 8 * 3;

#[test]
fn eviction_removes_least_recently_used_first_until_under_the_cap() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = capped(scratch.path(), 2500);
    // written out of order: the order is the use time's, not the name's
    put(&cache, "000000000000000c-c.nii", 1000, t0() + 3 * HOUR);
    put(&cache, "000000000000000a-a.nii", 1000, t0() + HOUR);
    put(&cache, "000000000000000d-d.nii", 1000, t0() + 4 * HOUR);
    put(&cache, "000000000000000b-b.nii", 1000, t0() + 2 * HOUR);
    assert_eq!(
        names(&cache),
        [
            "000000000000000a-a.nii",
            "000000000000000b-b.nii",
            "000000000000000c-c.nii",
            "000000000000000d-d.nii"
        ]
    );
    let cleaned = cache.evict(None).unwrap();
    let removed: Vec<String> = cleaned.removed().iter().map(|e| e.name()).collect();
    assert_eq!(
        removed,
        ["000000000000000a-a.nii", "000000000000000b-b.nii"]
    );
    assert_eq!(cleaned.bytes_freed(), 2000);
    assert!(cleaned.failed().is_empty());
    assert_eq!(
        names(&cache),
        ["000000000000000c-c.nii", "000000000000000d-d.nii"]
    );
    // under the cap already: nothing more goes
    assert!(cache.evict(None).unwrap().removed().is_empty());
    // a cap of exactly the total keeps everything
    assert!(capped(scratch.path(), 2000)
        .evict(None)
        .unwrap()
        .removed()
        .is_empty());
}

#[test]
fn the_age_limit_removes_old_files_under_the_cap() {
    let scratch = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let cache = DecodeCache::new(scratch.path()).with_limits(
        CacheLimits::new()
            .max_bytes(Some(1 << 40))
            .max_age(Some(7 * DAY)),
    );
    put(&cache, "000000000000000a-old.nii", 10, now - 30 * DAY);
    put(&cache, "000000000000000b-new.nii", 10, now - HOUR);
    let cleaned = cache.evict(None).unwrap();
    assert_eq!(cleaned.removed().len(), 1);
    assert_eq!(names(&cache), ["000000000000000b-new.nii"]);
}

#[test]
fn the_file_just_written_survives_a_cap_below_its_size() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = capped(scratch.path(), 0);
    put(&cache, "000000000000000a-old.png.pixels", 4096, t0());
    let source = png(scratch.path(), "pic.png", 1);
    let volume = ImageVolume::open_cached_in(&source, &cache).unwrap();
    assert!(volume.is_cached());
    let left = cache.entries().unwrap();
    assert_eq!(left.len(), 1, "{:?}", names(&cache));
    assert!(left[0].name().ends_with("-pic.png.pixels"));
    assert_eq!(left[0].bytes(), PNG_CACHE_BYTES);
    let decoded = ImageVolume::open(&source).unwrap();
    let part = |v: &ImageVolume| {
        Partition::builder(v)
            .cell(&[8, 8])
            .build()
            .unwrap()
            .cell(&[0, 0])
            .unwrap()
            .to_array::<u8>()
            .unwrap()
    };
    assert_eq!(part(&volume), part(&decoded));
}

#[test]
fn a_gzipped_nifti_through_open_options_keeps_its_copy_and_evicts_the_rest() {
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("vol.nii.gz");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nifti/gz_u16.nii.gz"),
        &source,
    )
    .unwrap();
    let dir = scratch.path().join("c");
    let cache = DecodeCache::new(&dir);
    put(&cache, "000000000000000a-old.nii", 4096, t0());
    let options = OpenOptions::new()
        .cache_dir(&dir)
        .cache_limits(CacheLimits::new().max_bytes(Some(0)));
    let volume = options.open(&source).unwrap();
    assert!(volume.is_mapped());
    let left = names(&cache);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with("-vol.nii"), "{left:?}");
    // and opening again reuses it
    let again = options.open(&source).unwrap();
    assert_eq!(again.shape(), volume.shape());
    assert_eq!(names(&cache), left);
}

#[test]
fn a_reuse_counts_as_a_use() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("c");
    // room for two image copies
    let cache = capped(&dir, 2 * PNG_CACHE_BYTES);
    let [a, b, c] = ["a.png", "b.png", "c.png"].map(|n| png(scratch.path(), n, n.as_bytes()[0]));
    ImageVolume::open_cached_in(&a, &cache).unwrap();
    ImageVolume::open_cached_in(&b, &cache).unwrap();
    let copy = |name: &str| {
        cache
            .entries()
            .unwrap()
            .into_iter()
            .find(|e| e.name().ends_with(&format!("-{name}.pixels")))
            .map(|e| e.path().to_path_buf())
    };
    // a was written long before b ...
    set_mtime(&copy("a.png").unwrap(), t0());
    set_mtime(&copy("b.png").unwrap(), t0() + HOUR);
    // ... but is reused after it
    assert!(ImageVolume::open_cached_in(&a, &cache).unwrap().is_cached());
    let a_used = std::fs::metadata(copy("a.png").unwrap())
        .unwrap()
        .modified()
        .unwrap();
    assert!(a_used > t0() + HOUR, "the reuse was not recorded");
    // a third copy evicts the least recently used one: b
    ImageVolume::open_cached_in(&c, &cache).unwrap();
    assert!(copy("a.png").is_some() && copy("c.png").is_some());
    assert!(copy("b.png").is_none(), "{:?}", names(&cache));
}

#[test]
fn temporary_files_of_live_writers_survive_stale_ones_go() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = capped(scratch.path(), 0);
    let now = SystemTime::now();
    let live = ".0123456789abcdef-x.nii.4242-0.impart-tmp";
    let stale = ".0123456789abcdef-y.nii.4243-7.impart-tmp";
    put(&cache, live, 1 << 20, now - HOUR);
    put(&cache, stale, 1 << 20, now - STALE_TEMP_AGE - DAY);
    put(&cache, "000000000000000a-done.nii", 10, t0());
    let entries = cache.entries().unwrap();
    assert_eq!(
        entries.iter().filter(|e| e.is_temporary()).count(),
        2,
        "{entries:?}"
    );
    let cleaned = cache.evict(None).unwrap();
    let mut removed: Vec<String> = cleaned.removed().iter().map(|e| e.name()).collect();
    removed.sort();
    assert_eq!(removed, [stale, "000000000000000a-done.nii"]);
    assert_eq!(names(&cache), [live]);
    // clean leaves it too
    assert!(cache.clean(None).unwrap().removed().is_empty());
    assert_eq!(names(&cache), [live]);
}

#[test]
fn clean_removes_everything_or_only_what_is_older() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = DecodeCache::new(scratch.path()).with_limits(CacheLimits::unlimited());
    let now = SystemTime::now();
    put(&cache, "000000000000000a-old.nii", 300, now - 10 * DAY);
    put(&cache, "000000000000000b-older.nii", 200, now - 30 * DAY);
    put(&cache, "000000000000000c-recent.nii", 100, now - HOUR);
    let cleaned = cache.clean(Some(7 * DAY)).unwrap();
    let removed: Vec<String> = cleaned.removed().iter().map(|e| e.name()).collect();
    assert_eq!(
        removed,
        ["000000000000000b-older.nii", "000000000000000a-old.nii"]
    );
    assert_eq!(cleaned.bytes_freed(), 500);
    assert_eq!(cleaned.kept().len(), 1);
    assert_eq!(names(&cache), ["000000000000000c-recent.nii"]);
    let cleaned = cache.clean(None).unwrap();
    assert_eq!(cleaned.bytes_freed(), 100);
    assert!(names(&cache).is_empty());
    // a cache that was never made is empty, not an error
    let none = DecodeCache::new(scratch.path().join("missing"));
    assert!(none.entries().unwrap().is_empty());
    assert!(none.clean(None).unwrap().removed().is_empty());
    assert!(none.evict(None).unwrap().removed().is_empty());
}

#[test]
fn files_that_are_not_the_caches_are_left_alone() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = capped(scratch.path(), 0);
    put(&cache, "notes.txt", 10, t0());
    put(&cache, "0123456789ABCDEF-upper.nii", 10, t0());
    std::fs::create_dir_all(cache.dir().join("0123456789abcdef-a-directory")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        scratch.path().join("elsewhere"),
        cache.dir().join("0123456789abcdef-link.nii"),
    )
    .unwrap();
    assert!(cache.entries().unwrap().is_empty());
    cache.evict(None).unwrap();
    cache.clean(None).unwrap();
    assert_eq!(
        std::fs::read_dir(cache.dir()).unwrap().count(),
        3 + cfg!(unix) as usize
    );
}

/// On Unix an unlinked file lives on while it is mapped: evicting a cache
/// file a volume maps leaves the volume readable.
#[cfg(unix)]
#[test]
fn evicting_a_mapped_copy_leaves_its_volume_readable() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = capped(&scratch.path().join("c"), 0);
    let source = png(scratch.path(), "pic.png", 9);
    let volume = ImageVolume::open_cached_in(&source, &cache).unwrap();
    assert!(volume.is_cached());
    let cleaned = cache.clean(None).unwrap();
    assert_eq!(cleaned.removed().len(), 1);
    let pixels = Partition::builder(&volume)
        .cell(&[8, 8])
        .build()
        .unwrap()
        .cell(&[0, 0])
        .unwrap()
        .to_array::<u8>()
        .unwrap();
    assert_eq!(pixels[[3, 5, 0]], 5);
    assert_eq!(pixels[[3, 5, 2]], 9);
}
