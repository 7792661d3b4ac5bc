//! Hostile TIFF files built here byte by byte: each is a typed error (or,
//! where the file is readable, the right values), opened with bounded
//! allocation and in bounded time, never a panic.
#![cfg(feature = "tiff")]

use impart::{Error, TiffOptions, Volume};

/// A classic little-endian TIFF of one or more directories. Each entry is
/// `(tag, type, count, value)`: `value` is inline when it fits in 4 bytes,
/// else the offset of data appended by the caller. Types: 3 SHORT, 4 LONG,
/// 2 ASCII.
struct Tiff {
    bytes: Vec<u8>,
}

impl Tiff {
    fn new() -> Tiff {
        let mut bytes = b"II".to_vec();
        bytes.extend(42u16.to_le_bytes());
        bytes.extend(8u32.to_le_bytes());
        Tiff { bytes }
    }

    /// Appends a directory at the current end (the header or the previous
    /// directory must point here) whose next pointer is `next`.
    fn ifd(mut self, entries: &[(u16, u16, u32, u32)], next: u32) -> Tiff {
        let mut e = entries.to_vec();
        e.sort_by_key(|x| x.0);
        self.bytes.extend((e.len() as u16).to_le_bytes());
        for (tag, ty, count, value) in e {
            self.bytes.extend(tag.to_le_bytes());
            self.bytes.extend(ty.to_le_bytes());
            self.bytes.extend(count.to_le_bytes());
            if ty == 3 && count == 1 {
                self.bytes.extend((value as u16).to_le_bytes());
                self.bytes.extend([0, 0]);
            } else {
                self.bytes.extend(value.to_le_bytes());
            }
        }
        self.bytes.extend(next.to_le_bytes());
        self
    }

    fn pad(mut self, n: usize) -> Tiff {
        self.bytes.extend(std::iter::repeat_n(0u8, n));
        self
    }

    fn write(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.bytes).expect("write");
        path
    }
}

/// The entries of a gray u8 image `w` x `h` in strips of `rps` rows, one
/// strip at `offset` of `count` bytes (tables of one entry).
fn gray(w: u32, h: u32, rps: u32, offset: u32, count: u32) -> Vec<(u16, u16, u32, u32)> {
    vec![
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, offset),
        (277, 3, 1, 1),
        (278, 4, 1, rps),
        (279, 4, 1, count),
    ]
}

/// Opens `path` with `options`, reads its first voxel, and turns a panic
/// into a failure naming the case.
fn outcome(name: &str, path: &std::path::Path, options: TiffOptions) -> impart::Result<Vec<u8>> {
    let r = std::panic::catch_unwind(|| {
        let v = options.open(path)?;
        let region = impart::Region::new(vec![0; v.shape().len()], vec![1; v.shape().len()])?;
        let mut out = vec![0u8; v.dtype().size()];
        v.read_region(&region, &mut out)?;
        Ok(out)
    });
    r.unwrap_or_else(|_| panic!("{name}: panicked"))
}

#[test]
fn hostile_sizes_and_tables_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    // header (8) + one directory of 9 entries (2 + 108 + 4 = 114): data at 122
    let data = 122;
    let cases: Vec<(&str, Tiff)> = vec![
        // 2^32 - 1 pixels a side with 16 bytes of data: one strip of 2^64 bytes
        (
            "huge_strip",
            Tiff::new()
                .ifd(&gray(u32::MAX, u32::MAX, u32::MAX, data, 16), 0)
                .pad(16),
        ),
        // the same in strips of one row: 2^32 strips, a table of one entry
        (
            "huge_strips",
            Tiff::new()
                .ifd(&gray(u32::MAX, u32::MAX, 1, data, 16), 0)
                .pad(16),
        ),
        // a table that claims a billion entries in a 200-byte file
        (
            "billion_strips",
            Tiff::new()
                .ifd(
                    &[
                        (256, 4, 1, 100),
                        (257, 4, 1, 1_000_000_000),
                        (258, 3, 1, 8),
                        (259, 3, 1, 1),
                        (262, 3, 1, 1),
                        (273, 4, 1_000_000_000, data),
                        (277, 3, 1, 1),
                        (278, 4, 1, 1),
                        (279, 4, 1_000_000_000, data),
                    ],
                    0,
                )
                .pad(64),
        ),
        // a strip past the end of the file
        (
            "strip_past_end",
            Tiff::new().ifd(&gray(4, 4, 4, 1 << 20, 16), 0).pad(16),
        ),
        // a byte count that wraps the offset
        (
            "count_wraps",
            Tiff::new().ifd(&gray(4, 4, 4, data, u32::MAX), 0).pad(16),
        ),
        // a billion tiles of 16² in a tiny file
        (
            "billion_tiles",
            Tiff::new()
                .ifd(
                    &[
                        (256, 4, 1, 16 * 40_000),
                        (257, 4, 1, 16 * 40_000),
                        (258, 3, 1, 8),
                        (259, 3, 1, 8),
                        (262, 3, 1, 1),
                        (277, 3, 1, 1),
                        (322, 3, 1, 16),
                        (323, 3, 1, 16),
                        (324, 4, 1, data),
                        (325, 4, 1, 8),
                    ],
                    0,
                )
                .pad(16),
        ),
    ];
    for (name, tiff) in &cases {
        let path = tiff.write(dir.path(), &format!("{name}.tif"));
        match outcome(name, &path, TiffOptions::new()) {
            Ok(v) => panic!("{name}: read {v:?} without an error"),
            Err(e) => {
                let text = e.to_string();
                eprintln!("{name}: {text}");
                assert!(text.contains(&format!("{name}.tif")), "{name}: {text}");
                assert!(
                    !matches!(e, Error::Io { .. }),
                    "{name}: an I/O error for a malformed file: {text}"
                );
            }
        }
    }
}

#[test]
fn directory_loops_end_the_stack_with_an_error_and_pages_before_still_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    // page 0 at 8 (114 bytes) points to page 1 at 122, which points back to 8
    let data = 8 + 114 * 2;
    let tiff = Tiff::new()
        .ifd(&gray(4, 4, 4, data, 16), 122)
        .ifd(&gray(4, 4, 4, data, 16), 8)
        .pad(16);
    let path = tiff.write(dir.path(), "loop.tif");
    let err = outcome("loop", &path, TiffOptions::new()).expect_err("a loop");
    assert!(err.to_string().contains("loops back"), "{err}");
    // each page alone is a fine image
    for p in 0..2 {
        let v = outcome("loop page", &path, TiffOptions::new().page(p)).expect("page opens");
        assert_eq!(v, vec![0]);
    }
    // a directory that points to itself
    let tiff = Tiff::new().ifd(&gray(4, 4, 4, 122, 16), 8).pad(16);
    let path = tiff.write(dir.path(), "self.tif");
    assert!(outcome("self", &path, TiffOptions::new()).is_err());
    // (the `tiff` crate refuses a directory that names itself as next even
    // for page 0 alone: an error, never a hang)
    let _ = outcome("self", &path, TiffOptions::new().page(0));
}

/// A first directory past the end of the file (the header is all there
/// is), or cut inside its entries: an invalid header that says the file
/// ends inside it, not the bare I/O error "failed to fill whole buffer".
#[test]
fn a_directory_past_the_end_of_the_file_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = Tiff::new().ifd(&gray(4, 4, 4, 8 + 114, 16), 0).pad(16);
    let whole = std::fs::read(whole.write(dir.path(), "whole.tif")).expect("read");
    for (name, bytes) in [
        ("header-only.tif", whole[..8].to_vec()),
        ("cut-entries.tif", whole[..40].to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        let err = outcome(name, &path, TiffOptions::new()).expect_err("cut");
        let msg = err.to_string();
        assert!(matches!(err, Error::InvalidHeader { .. }), "{msg}");
        assert!(
            msg.contains(name) && msg.contains("page 0") && msg.contains("ends inside it"),
            "{msg}"
        );
    }
}

#[test]
fn an_imagej_stack_claiming_more_planes_than_the_file_holds_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let description = b"ImageJ=1.54f\nimages=1000000\nslices=1000000\n\0";
    // directory of 10 entries: 2 + 120 + 4 = 126 bytes; description, then data
    let text_at = 8 + 126;
    let data = text_at + description.len() as u32;
    let mut entries = gray(4, 4, 4, data, 16);
    entries.push((270, 2, description.len() as u32, text_at));
    let mut tiff = Tiff::new().ifd(&entries, 0);
    tiff.bytes.extend_from_slice(description);
    let tiff = tiff.pad(16 * 3);
    let path = tiff.write(dir.path(), "imagej.tif");
    let err = outcome("imagej", &path, TiffOptions::new()).expect_err("refused");
    assert!(
        matches!(err, Error::Unsupported { .. }) && err.to_string().contains("1000000 images"),
        "{err}"
    );
    // with images=4 the four planes are there: mapped as a stack
    // the same length, so the data offset stays
    let mut description4 = b"ImageJ=1.54f\nimages=4\nslices=4\n".to_vec();
    description4.resize(description.len(), 0);
    let mut tiff = Tiff::new().ifd(&entries, 0);
    tiff.bytes.extend_from_slice(&description4);
    tiff.bytes.extend((0..64u8).collect::<Vec<_>>());
    let path = tiff.write(dir.path(), "imagej4.tif");
    let v = TiffOptions::new().open(&path).expect("opens");
    assert_eq!(v.shape(), &[4, 4, 4, 1]);
    assert!(v.is_mapped());
    assert_eq!(v.axes(), "ZYXS");
    let mut all = vec![0u8; 64];
    v.read_region(&impart::Region::full(v.shape()), &mut all)
        .expect("read");
    assert_eq!(all, (0..64u8).collect::<Vec<_>>());
}

/// A tiled, deflate-compressed u16 TIFF of `w` x `h` pixels of `samples`
/// (1 or 2) samples, planar or not, in tiles of `tw` x `th`, whose pixel
/// `(y, x)` holds `value(y, x, sample)`. Each tile stores its `th` rows of
/// `tw` pixels, padding included, as writers do; with `whole` false only
/// the rows inside the image (all a reader needs: a tile gigabytes tall
/// over a small image cannot be stored whole).
#[allow(clippy::too_many_arguments)]
fn tiled_u16(
    (w, h): (u32, u32),
    samples: u32,
    planar: bool,
    (tw, th): (u32, u32),
    whole: bool,
    value: impl Fn(u32, u32, u32) -> u16,
) -> Tiff {
    use std::io::Write;
    let planes = if planar { samples } else { 1 };
    let per_pixel = samples / planes;
    let (down, across) = (h.div_ceil(th), w.div_ceil(tw));
    let mut stored = Vec::new();
    for p in 0..planes {
        for ty in 0..down {
            for tx in 0..across {
                let rows = if whole { th } else { th.min(h - ty * th) };
                let mut tile = vec![0u8; (rows * tw * per_pixel * 2) as usize];
                for r in 0..rows.min(h - ty * th) {
                    for c in 0..tw.min(w - tx * tw) {
                        for k in 0..per_pixel {
                            let v = value(ty * th + r, tx * tw + c, p + k);
                            let at = (((r * tw + c) * per_pixel + k) * 2) as usize;
                            tile[at..at + 2].copy_from_slice(&v.to_le_bytes());
                        }
                    }
                }
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                z.write_all(&tile).unwrap();
                stored.push(z.finish().unwrap());
            }
        }
    }
    let n = stored.len() as u32;
    // the directory (11 entries) at 8, then the tables (if more than one
    // tile), then the tiles
    let tables = 8 + 2 + 11 * 12 + 4;
    let mut at = tables + if n > 1 { 8 * n } else { 0 };
    let mut offsets = Vec::new();
    for s in &stored {
        offsets.push(at);
        at += s.len() as u32;
    }
    let counts: Vec<u32> = stored.iter().map(|s| s.len() as u32).collect();
    let (offset_value, count_value) = if n == 1 {
        (offsets[0], counts[0])
    } else {
        (tables, tables + 4 * n)
    };
    let mut tiff = Tiff::new().ifd(
        &[
            (256, 4, 1, w),
            (257, 4, 1, h),
            // BitsPerSample: one SHORT per sample, inline
            (
                258,
                3,
                samples,
                if samples == 1 { 16 } else { 16 | (16 << 16) },
            ),
            (259, 3, 1, 8),
            (262, 3, 1, 1),
            (277, 3, 1, samples),
            (284, 3, 1, if planar { 2 } else { 1 }),
            (322, 4, 1, tw),
            (323, 4, 1, th),
            (324, 4, n, offset_value),
            (325, 4, n, count_value),
        ],
        0,
    );
    if n > 1 {
        for v in offsets.iter().chain(&counts) {
            tiff.bytes.extend(v.to_le_bytes());
        }
    }
    for s in &stored {
        tiff.bytes.extend(s);
    }
    tiff
}

/// Every pixel of `path` as u16, read as one region.
fn read_all_u16(path: &std::path::Path) -> impart::Result<Vec<u16>> {
    let v = TiffOptions::new().open(path)?;
    let region = impart::Region::new(vec![0; v.shape().len()], v.shape().to_vec())?;
    let mut out = vec![0u8; v.shape().iter().product::<usize>() * 2];
    v.read_region(&region, &mut out)?;
    Ok(out
        .chunks_exact(2)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .collect())
}

fn pixel(y: u32, x: u32, s: u32) -> u16 {
    (y * 1000 + x * 7 + s * 30000) as u16
}

fn pixels(w: u32, h: u32, samples: u32) -> Vec<u16> {
    (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| (0..samples).map(move |s| pixel(y, x, s))))
        .collect()
}

/// Tiles far larger than the image along one axis or both (valid TIFF:
/// tile sizes need only be multiples of 16), stored whole with their
/// padding: the chunk is cut to the image where it is alone along an
/// axis, and the pixels are right, for chunky images (whose decoder gives
/// the image's part of a tile) and a planar one (whose decoder gives the
/// second sample's tiles whole, padding included).
#[test]
fn tiles_far_larger_than_the_image_read_their_pixels() {
    let dir = tempfile::tempdir().unwrap();
    for (size, tile) in [((30, 20), (65536, 32)), ((40, 20), (16, 65536))] {
        for (samples, planar) in [(1u32, false), (2, false), (2, true)] {
            let name = format!("tile-{tile:?}-{samples}-{planar}.tif");
            let path = tiled_u16(size, samples, planar, tile, true, pixel).write(dir.path(), &name);
            let v = TiffOptions::new().open(&path).unwrap();
            // `info`'s tile is the file's
            let per_pixel = if planar { 1 } else { samples as usize };
            assert_eq!(
                v.chunk_shape(),
                &[tile.1 as usize, tile.0 as usize, per_pixel],
                "{name}"
            );
            let got = read_all_u16(&path).unwrap();
            assert_eq!(got, pixels(size.0, size.1, samples), "{name}");
        }
    }
}

/// The `tiff` fuzz target's find, replaying its corpus under
/// AddressSanitizer: an image tiled 16 pixels wide and hundreds of
/// millions of rows tall made the chunk decoder allocate each tile with
/// its padding (tens of gigabytes: lazily zeroed pages that cost nothing
/// where the kernel overcommits, "cannot be allocated" where it does not,
/// an abort under the sanitizer), though the image is 53 x 37. A chunk
/// alone along an axis is now cut to the image. This rebuilds the find's
/// geometry (the fuzzed input itself was not kept) with tiles that hold
/// only the image's rows, and reads it in a child process limited to
/// 4 GiB of address space, where the old 29 GB allocation fails.
#[test]
fn a_tile_gigabytes_tall_over_a_small_image_is_not_allocated_whole() {
    use std::os::unix::process::CommandExt;
    const LIMIT: u64 = 4 << 30;
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "huge_tile_child", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("IMPART_TEST_HUGE_TILE_CHILD", "1")
        .env("RAYON_NUM_THREADS", "2");
    // SAFETY: the closure runs in the forked child before exec; it calls
    // only setrlimit(2), which is async-signal-safe, and allocates
    // nothing.
    unsafe {
        command.pre_exec(|| {
            let rl = libc::rlimit {
                rlim_cur: LIMIT as libc::rlim_t,
                rlim_max: LIMIT as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("huge tile: read"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child of the test above (does nothing unless run by it).
#[test]
fn huge_tile_child() {
    if std::env::var_os("IMPART_TEST_HUGE_TILE_CHILD").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (size, tile) = ((53, 37), (16, 905_969_680));
    let path = tiled_u16(size, 1, false, tile, false, pixel).write(dir.path(), "x.tif");
    let v = TiffOptions::new().open(&path).unwrap();
    assert_eq!(v.chunk_shape(), &[905_969_680, 16, 1]);
    assert_eq!(read_all_u16(&path).unwrap(), pixels(53, 37, 1));
    println!("huge tile: read");
}
