//! Helpers shared by impart's fuzz targets: files in a scratch directory in
//! memory (`/dev/shm` where there is one), and bounded reads that drive a
//! volume's decoding without letting a hostile shape make the harness
//! itself allocate gigabytes.
//!
//! What a target checks, beyond "no panic, no hang, no memory error":
//! every `Err` is one of impart's typed errors (it cannot be otherwise, the
//! API returns `impart::Error`), a region read twice gives the same bytes,
//! and where a file can be read both mapped and with positioned reads the
//! two agree byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use impart::{ImageOptions, Region, Volume};

/// At most this many bytes are read from a volume per region.
pub const MAX_READ_BYTES: usize = 1 << 16;

/// The scratch directory of this process: `/dev/shm/impart-fuzz-<pid>`, or
/// under the system's temporary directory without `/dev/shm`.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        allow_caught_panics();
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("impart-fuzz-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("the fuzz scratch directory can be created");
        dir
    })
}

/// Replaces libFuzzer's panic hook (which aborts at once, before any
/// unwinding) with one that prints only: impart catches the panics of some
/// third-party decoders (zune-jpeg, the `tiff` crate) and returns a typed
/// error, which is correct behaviour, not a crash. A panic that is not
/// caught still reaches `fuzz_target!`'s own guard, which aborts.
fn allow_caught_panics() {
    std::panic::set_hook(Box::new(|info| eprintln!("panic (caught or not): {info}")));
}

/// Writes `bytes` to `name` in the scratch directory (creating parent
/// directories) and returns its path.
pub fn write_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("scratch subdirectories can be created");
    }
    fs::write(&path, bytes).expect("scratch files can be written");
    path
}

/// A fresh, empty directory `name` in the scratch directory.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directories can be created");
    dir
}

/// Regions worth reading in a volume of `shape`: the first corner, the
/// last voxel and a box in the middle, each shrunk to at most
/// [`MAX_READ_BYTES`] of elements of `size` bytes.
pub fn probe_regions(shape: &[usize], size: usize) -> Vec<Region> {
    probe_regions_within(shape, size, MAX_READ_BYTES)
}

/// [`probe_regions`] with at most `bytes` per region.
pub fn probe_regions_within(shape: &[usize], size: usize, bytes: usize) -> Vec<Region> {
    if shape.is_empty() || shape.contains(&0) {
        return Vec::new();
    }
    let budget = (bytes / size.max(1)).max(1);
    // extents from the last (fastest in C order) axis outward
    let mut extent = vec![1usize; shape.len()];
    let mut left = budget;
    for a in (0..shape.len()).rev() {
        extent[a] = shape[a].min(left).max(1);
        left = (left / extent[a]).max(1);
    }
    let corner = Region::new(vec![0; shape.len()], extent.clone());
    let last = Region::new(shape.iter().map(|&n| n - 1).collect(), vec![1; shape.len()]);
    let middle = Region::new(
        shape
            .iter()
            .zip(&extent)
            .map(|(&n, &e)| (n - e) / 2)
            .collect(),
        extent,
    );
    [corner, last, middle].into_iter().flatten().collect()
}

/// Reads each of `regions` from `volume` (typed errors are fine) and, for
/// those that read, checks that a second read gives the same bytes.
/// Returns the bytes of each region that read.
pub fn read_regions<V: Volume + ?Sized>(volume: &V, regions: &[Region]) -> Vec<Option<Vec<u8>>> {
    let size = volume.dtype().size();
    regions
        .iter()
        .map(|region| {
            let n = region.voxels()? * size;
            let mut out = vec![0u8; n];
            volume.read_region(region, &mut out).ok()?;
            let mut again = vec![0u8; n];
            let second = volume.read_region(region, &mut again);
            assert!(
                second.is_ok() && again == out,
                "{}: a region that read once reads differently the second time ({:?}): {second:?}",
                volume.name(),
                region
            );
            Some(out)
        })
        .collect()
}

/// Reads the probe regions of `volume`: see [`read_regions`].
pub fn read_some<V: Volume + ?Sized>(volume: &V) -> Vec<Option<Vec<u8>>> {
    let regions = probe_regions(volume.shape(), volume.dtype().size());
    read_regions(volume, &regions)
}

/// The same file read mapped (`a`) and with positioned reads (`b`): the
/// same shape, type and, for every probe region both read, the same bytes.
pub fn assert_same_reads<A: Volume + ?Sized, B: Volume + ?Sized>(a: &A, b: &B) {
    assert_eq!(
        a.shape(),
        b.shape(),
        "{}: shape differs with --no-mmap",
        a.name()
    );
    assert_eq!(
        a.dtype(),
        b.dtype(),
        "{}: dtype differs with --no-mmap",
        a.name()
    );
    let regions = probe_regions(a.shape(), a.dtype().size());
    let (ra, rb) = (read_regions(a, &regions), read_regions(b, &regions));
    for ((x, y), region) in ra.iter().zip(&rb).zip(&regions) {
        if let (Some(x), Some(y)) = (x, y) {
            assert!(
                x == y,
                "{}: {region:?} reads differently mapped and not",
                a.name()
            );
        }
    }
}

/// The bytes after a one-byte selector: `(selector, rest)`.
pub fn split_selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(&s, rest)| (s, rest))
}

/// The PNG and JPEG targets' check: the image at `path` decoded into memory
/// and into a mapped temporary file (the path of images above the
/// in-memory limit) both open, or neither, with the same pixels.
pub fn image_target(path: &Path) {
    let memory = ImageOptions::new().in_memory_max(u64::MAX).open(path);
    let mapped = ImageOptions::new().in_memory_max(0).temp_dir(scratch()).open(path);
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
