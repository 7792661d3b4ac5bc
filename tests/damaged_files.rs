//! Damaged copies of every committed fixture, of every format (issue 14):
//! truncated prefixes and flipped bytes must give a typed [`Error`] or
//! exactly the values the intact file holds — never a panic, and never
//! wrong numbers where the codec can tell.
//!
//! # The fixtures
//!
//! Found by walking `tests/data` ([`discover`]), so a new fixture is covered
//! without naming it here:
//!
//! | files | opened as |
//! |---|---|
//! | `*.raw` | raw, with the shape, type, order, offset and byte order its directory's `cases.json` records (`cases` or `inputs`); a `.raw` without a record fails the test |
//! | `*.nii`, `*.nii.gz`, `*.hdr`, `*.hdr.gz` | NIfTI, by that name; the `.img` / `.img.gz` beside a header is damaged with it (its own open path is the header's) |
//! | `*.png`, `*.jpg`, `*.jpeg` | images |
//! | `*.tif`, `*.tiff` | TIFF, the default open (page 0 and the pages stacked with it) |
//! | a directory with `zarr.json`, `.zarray` or `.zgroup` | a Zarr node: its metadata files and its chunk files (not those of the nodes inside it, which are fixtures of their own); a group opens as [`Error::ZarrGroup`] |
//!
//! Skipped, and why: `*.json` and `*.md` (manifests and notes the tests
//! read, not inputs of [`impart::open`]), `*.expected` (the values a
//! fixture must read, raw bytes without a format), `*.npy` (expected
//! outputs of `impart stitch`, read by its tests through `ndarray-npy`;
//! `impart::open` reads no `.npy`), and everything under `tests/data/fuzz/`
//! (inputs of the fuzz targets in their own layouts, replayed by
//! `tests/fuzz_regressions.rs` and CI's fuzz smoke). Any other file fails
//! [`every_fixture_is_classified`], so it gets a rule here.
//!
//! The reference is the intact fixture as impart reads it (every block of
//! the volume, see below); that those values are right is what each
//! format's fixture tests check against the writing tools (`nifti_fixtures`,
//! `zarr_fixtures`, `tiff_fixtures`, `image_fixtures`, `numpy_fixtures`).
//! A fixture impart refuses whole (the `bad_*` and `refused_*` sets) is a
//! reference too: its damaged copies must be refused as well.
//!
//! A volume is read in blocks: the read unit of a chunked volume (a Zarr
//! chunk or sub-chunk, a TIFF tile or strip of one page), else the whole
//! volume. An error from a chunked volume's block must be an
//! [`Error::Decode`] naming that block's chunk index and the file.
//!
//! # Truncation
//!
//! Each file of a fixture (for Zarr: each metadata and each chunk file, the
//! rest intact) is cut to each of a set of lengths ([`prefix_lengths`],
//! [`Cuts`]): every length of a file up to [`SMALL_FILE`] bytes (128 for a
//! Zarr file); for a larger one every length through its header, a byte
//! either side of each structure boundary the format records (TIFF IFDs,
//! tag values, strips and tiles from `cases.json`; PNG chunks; JPEG
//! markers and scans; NIfTI `vox_offset`), [`SPREAD`] lengths spread
//! evenly and the last [`TAIL`]. Each prefix either
//!
//! - fails to open with one of [`OPEN_ERRORS`] naming the file, or
//! - opens as the intact file's shape and type, and every block reads
//!   either one of [`READ_ERRORS`] or exactly the intact file's bytes.
//!
//! A missing Zarr chunk reads as the fill value (the format says so), but a
//! present, truncated chunk file must not: an empty or short chunk file that
//! reads as anything but the intact chunk's values is a failure like any
//! other. A cut Zarr chunk file can reach only its own chunk (or its
//! shard's sub-chunks): those blocks are read, and an error must name one
//! of them; the other chunk files are untouched. Opening a Zarr array reads
//! its metadata only, so for a chunk file of an unsharded array the volume
//! is opened once before the cuts (and again for the empty file); a sharded
//! array's volume keeps the shard indexes it has read, so it is opened for
//! each cut.
//!
//! # Corruption
//!
//! Bytes inside each stored chunk, tile, strip or compressed stream (at
//! most [`CHUNKS_PER_FILE`] of a file's, spread evenly) are flipped (XOR
//! with a non-zero byte) at [`FLIPS`] positions drawn from a seeded
//! generator (SplitMix64 seeded by the fixture's name), one flip per trial,
//! and every block the flip can reach is read (all of a TIFF's; a Zarr
//! chunk file's own). A block then reads the original values, or a
//! [`READ_ERRORS`] error naming it (for a chunked volume, an
//! [`Error::Decode`] with the block's chunk index and the file), or — only
//! where the codec has no integrity check — other values. At most the one
//! chunk holding the flipped byte may change (for a shard, its sub-chunks).
//! Whole-stream formats (PNG, JPEG, `.gz` NIfTI) are decoded when opened: a
//! flip there is an open error naming the file, or the original values, or
//! (JPEG only) other values.
//!
//! | codec | integrity check | a flip inside the data gives |
//! |---|---|---|
//! | gzip: Zarr `gzip` (v2, v3), `.nii.gz`, `.hdr.gz`, `.img.gz` | CRC-32 and length (ISIZE) of the stream | an error or the original values |
//! | zlib: TIFF deflate (8, 32946) | Adler-32 of the stream | an error or the original values |
//! | Zarr v3 `crc32c` | CRC-32C of the encoded chunk | an error or the original values |
//! | a shard's index with `crc32c` (`index_codecs`) | CRC-32C of the index | an error or the original values (the sub-chunks: their own codecs) |
//! | zstd with the frame's checksum flag | XXH64 of the content (low 32 bits) | an error or the original values |
//! | zstd without it (zarr-python's, numcodecs' and tifffile's default) | none: frame and block sizes only | anything typed; other values possible |
//! | blosc (lz4, zstd inside) | none: header sizes only | anything typed; other values possible |
//! | none: Zarr `bytes` alone, v2 without compressor, uncompressed TIFF | none | other values |
//! | TIFF LZW, PackBits | none (LZW's end code, PackBits' run lengths) | anything typed; other values possible |
//! | TIFF JPEG and WebP, JPEG files | none | anything typed; other values possible |
//! | PNG `IDAT` | CRC-32 of every chunk | an error or the original values |
//!
//! A codec with a check that returns other values is a failure
//! ("wrong values silently"); each flip's outcome is counted per codec
//! and printed.
//!
//! Each trial catches panics (a panic is a failure naming the file and the
//! damage). Counts and times per format are printed with `--nocapture`;
//! `DAMAGED_ONLY=<part of a fixture's name>` runs the fixtures whose name
//! holds it, `DAMAGED_TIMES=1` prints each fixture's time.
#![cfg(all(
    feature = "nifti",
    feature = "zarr",
    feature = "tiff",
    feature = "image"
))]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{no_panic, report};
use impart::{AnyVolume, ByteOrder, DType, Error, MemoryOrder, OpenOptions, Region, Volume};
use serde_json::Value;

/// Files up to this size are cut at every length.
const SMALL_FILE: usize = 1536;
/// Lengths spread evenly over a larger file.
const SPREAD: usize = 48;
/// The last lengths of a larger file (a trailer: a gzip CRC, PNG's IEND,
/// JPEG's EOI).
const TAIL: usize = 12;
/// Bytes either side of a structure boundary.
const AROUND: usize = 1;
/// Flips per chunk, tile, strip or stream.
const FLIPS: usize = 3;
/// At most this many chunks of one file are flipped (spread evenly).
const CHUNKS_PER_FILE: usize = 8;

/// The errors a damaged file may give when opened. `Truncated`: a header or
/// the data it describes ends early; `InvalidHeader`: a cut or flipped
/// header that no longer parses (a Zarr metadata file cut inside its JSON);
/// `Decode`: a whole-image or gzip stream that does not decode; `Io`: a
/// read or decompression that fails (a cut gzip stream); the refusals a
/// damaged header may lead to (`Unsupported`, `UnsupportedDType`,
/// `InvalidLayout`, `ZarrGroup` for a group).
const OPEN_ERRORS: &[&str] = &[
    "Truncated",
    "InvalidHeader",
    "Decode",
    "Io",
    "Unsupported",
    "UnsupportedDType",
    "InvalidLayout",
    "ZarrGroup",
];

/// The errors a block of an opened damaged file may give when read: a
/// chunk that does not decode (`Decode`, the only one allowed for a block
/// of a chunked volume), one that ends past the end of the file
/// (`Truncated`), a read that fails (`Io`: a file read without mapping).
const READ_ERRORS: &[&str] = &["Decode", "Truncated", "Io"];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

// ---------------------------------------------------------------------------
// Discovery

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    Raw,
    Nifti,
    Image,
    Tiff,
    Zarr,
}

/// One fixture: the files that make it (relative to `root`, copied
/// together into a scratch directory), the path to open, the options.
#[derive(Debug, Clone)]
struct Fixture {
    format: Format,
    /// For messages: the path opened, relative to `tests/data`.
    name: String,
    root: PathBuf,
    files: Vec<PathBuf>,
    open: PathBuf,
    options: OpenOptions,
}

/// What `discover` found: the fixtures, and the files it skipped with why.
struct Found {
    fixtures: Vec<Fixture>,
    skipped: Vec<(PathBuf, &'static str)>,
    unknown: Vec<PathBuf>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read tests/data")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn lower_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_zarr_node(dir: &Path) -> bool {
    ["zarr.json", ".zarray", ".zgroup"]
        .iter()
        .any(|m| dir.join(m).is_file())
}

/// The Zarr node a file belongs to: the nearest ancestor directory that is
/// a node.
fn zarr_node_of(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|d| is_zarr_node(d))
        .map(Path::to_path_buf)
}

/// Every object in the `cases` and `inputs` arrays of a directory's
/// `cases.json`.
fn records(dir: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(dir.join("cases.json")) else {
        return Vec::new();
    };
    let doc: Value = serde_json::from_str(&text).expect("cases.json parses");
    ["cases", "inputs"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect()
}

fn record_of<'a>(records: &'a [Value], file: &str) -> Option<&'a Value> {
    records
        .iter()
        .find(|r| r.get("file").and_then(Value::as_str) == Some(file))
}

/// The raw layout a `cases.json` record gives.
fn raw_options(rec: &Value) -> Option<OpenOptions> {
    let shape: Vec<usize> = rec
        .get("shape")?
        .as_array()?
        .iter()
        .map(|v| v.as_u64().map(|n| n as usize))
        .collect::<Option<_>>()?;
    let dt = rec.get("dtype")?.as_str()?;
    let dtype = DType::from_name(dt)?;
    let byte_order = match rec.get("byte_order").and_then(Value::as_str) {
        Some(b) => ByteOrder::from_name(b)?,
        None if dt.starts_with('>') => ByteOrder::Big,
        None => ByteOrder::Little,
    };
    let order = match rec.get("order").and_then(Value::as_str) {
        Some("F") => MemoryOrder::F,
        _ => MemoryOrder::C,
    };
    let offset = rec.get("offset").and_then(Value::as_u64).unwrap_or(0);
    Some(
        OpenOptions::new()
            .raw(&shape, dtype)
            .byte_order(byte_order)
            .order(order)
            .offset(offset),
    )
}

fn single(format: Format, file: &Path, options: OpenOptions) -> Fixture {
    let root = file.parent().expect("parent").to_path_buf();
    let name = PathBuf::from(file.file_name().expect("name"));
    Fixture {
        format,
        name: rel(file),
        root,
        files: vec![name.clone()],
        open: name,
        options,
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(data_dir())
        .unwrap_or(p)
        .display()
        .to_string()
}

fn discover() -> Found {
    let mut files = Vec::new();
    walk(&data_dir(), &mut files);
    let mut fixtures = Vec::new();
    let mut skipped = Vec::new();
    let mut unknown = Vec::new();
    let mut zarr_nodes: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut records_of: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    for f in &files {
        let name = lower_name(f);
        let dir = f.parent().expect("parent").to_path_buf();
        if let Some(node) = zarr_node_of(f) {
            zarr_nodes.entry(node).or_default().push(f.clone());
            continue;
        }
        let ends = |s: &str| name.ends_with(s);
        if f.starts_with(data_dir().join("fuzz")) {
            skipped.push((
                f.clone(),
                "a fuzz target's input (tests/fuzz_regressions.rs), in that target's layout",
            ));
        } else if ends(".json") || ends(".md") {
            skipped.push((f.clone(), "a manifest or notes, read by the tests"));
        } else if ends(".expected") {
            skipped.push((f.clone(), "expected values, raw bytes without a format"));
        } else if ends(".npy") {
            skipped.push((
                f.clone(),
                "an expected stitch output; impart::open reads no .npy",
            ));
        } else if ends(".raw") {
            let recs = records_of
                .entry(dir.clone())
                .or_insert_with(|| records(&dir));
            let file_name = f.file_name().unwrap().to_string_lossy().to_string();
            match record_of(recs, &file_name).and_then(raw_options) {
                Some(opts) => fixtures.push(single(Format::Raw, f, opts)),
                None => unknown.push(f.clone()),
            }
        } else if ends(".nii") || ends(".nii.gz") || ends(".hdr") || ends(".hdr.gz") {
            let mut fx = single(Format::Nifti, f, OpenOptions::new());
            let fname = f.file_name().unwrap().to_string_lossy().to_string();
            let stem = fname
                .strip_suffix(".gz")
                .unwrap_or(&fname)
                .strip_suffix(".hdr");
            if let Some(stem) = stem {
                for partner in [format!("{stem}.img"), format!("{stem}.img.gz")] {
                    if dir.join(&partner).is_file() {
                        fx.files.push(PathBuf::from(partner));
                    }
                }
            }
            fixtures.push(fx);
        } else if ends(".img") || ends(".img.gz") {
            let fname = f.file_name().unwrap().to_string_lossy().to_string();
            let stem = fname
                .strip_suffix(".gz")
                .unwrap_or(&fname)
                .strip_suffix(".img")
                .unwrap_or_default()
                .to_string();
            let has_header = [".hdr", ".hdr.gz"]
                .iter()
                .any(|s| dir.join(format!("{stem}{s}")).is_file());
            if has_header {
                skipped.push((f.clone(), "damaged with its header's fixture"));
            } else {
                fixtures.push(single(Format::Nifti, f, OpenOptions::new()));
            }
        } else if ends(".png") || ends(".jpg") || ends(".jpeg") {
            fixtures.push(single(Format::Image, f, OpenOptions::new()));
        } else if ends(".tif") || ends(".tiff") {
            fixtures.push(single(Format::Tiff, f, OpenOptions::new()));
        } else {
            unknown.push(f.clone());
        }
    }
    for (node, node_files) in zarr_nodes {
        // staged with the store it belongs to: the outermost node above it,
        // under its own name (which the errors name)
        let top = node
            .ancestors()
            .take_while(|d| is_zarr_node(d))
            .last()
            .unwrap_or(&node);
        let root = top.parent().expect("parent").to_path_buf();
        fixtures.push(Fixture {
            format: Format::Zarr,
            name: rel(&node),
            files: node_files
                .iter()
                .map(|f| f.strip_prefix(&root).unwrap().to_path_buf())
                .collect(),
            open: node.strip_prefix(&root).unwrap().to_path_buf(),
            root,
            options: OpenOptions::new(),
        });
    }
    Found {
        fixtures,
        skipped,
        unknown,
    }
}

/// The fixtures of `format` (those whose name contains `DAMAGED_ONLY`, if
/// that is set: for looking at one fixture).
fn fixtures_of(format: Format) -> Vec<Fixture> {
    let only = std::env::var("DAMAGED_ONLY").unwrap_or_default();
    discover()
        .fixtures
        .into_iter()
        .filter(|f| f.format == format && f.name.contains(&only))
        .collect()
}

/// Every file under `tests/data` is a fixture's or skipped for a stated
/// reason: a new kind of file needs a rule in [`discover`].
#[test]
fn every_fixture_is_classified() {
    let found = discover();
    assert!(
        found.unknown.is_empty(),
        "files under tests/data that no rule of damaged_files.rs covers \
         (a .raw needs a cases.json record with its shape and dtype): {:?}",
        found.unknown
    );
    let mut by_format: BTreeMap<Format, usize> = BTreeMap::new();
    for f in &found.fixtures {
        *by_format.entry(f.format).or_default() += 1;
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, why) in &found.skipped {
        *reasons.entry(why).or_default() += 1;
    }
    eprintln!("fixtures per format: {by_format:?}; skipped: {reasons:?}");
    // every format is there, and the sets are not empty by mistake
    for (format, at_least) in [
        (Format::Raw, 20),
        (Format::Nifti, 80),
        (Format::Image, 50),
        (Format::Tiff, 60),
        (Format::Zarr, 45),
    ] {
        let n = by_format.get(&format).copied().unwrap_or(0);
        assert!(n >= at_least, "only {n} {format:?} fixtures");
    }
}

// ---------------------------------------------------------------------------
// Scratch copies

/// A fixture's files copied into a directory of their own.
struct Staged {
    dir: tempfile::TempDir,
    /// The intact bytes of each file, by relative path.
    bytes: BTreeMap<PathBuf, Vec<u8>>,
}

impl Staged {
    fn new(fx: &Fixture) -> Staged {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut bytes = BTreeMap::new();
        for f in &fx.files {
            let b = std::fs::read(fx.root.join(f)).expect("read fixture");
            let to = dir.path().join("f").join(f);
            std::fs::create_dir_all(to.parent().unwrap()).expect("mkdir");
            std::fs::write(&to, &b).expect("copy fixture");
            bytes.insert(f.clone(), b);
        }
        Staged { dir, bytes }
    }

    fn path(&self, rel: &Path) -> PathBuf {
        self.dir.path().join("f").join(rel)
    }

    fn restore(&self, rel: &Path) {
        std::fs::write(self.path(rel), &self.bytes[rel]).expect("restore");
    }
}

/// Opens the staged fixture; a NIfTI gets a fresh decode cache for each
/// open, so that no decompressed copy of an earlier state is reused.
fn open(fx: &Fixture, staged: &Staged, trial: usize) -> impart::Result<AnyVolume> {
    let mut options = fx.options.clone();
    if fx.format == Format::Nifti {
        options = options.cache_dir(staged.dir.path().join(format!("cache-{trial}")));
    }
    options.open(staged.path(&fx.open))
}

fn drop_cache(fx: &Fixture, staged: &Staged, trial: usize) {
    if fx.format == Format::Nifti {
        let _ = std::fs::remove_dir_all(staged.dir.path().join(format!("cache-{trial}")));
    }
}

// ---------------------------------------------------------------------------
// Reading a volume block by block

fn variant(e: &Error) -> &'static str {
    match e {
        Error::Grid(_) => "Grid",
        Error::Selection(_) => "Selection",
        Error::Io { .. } => "Io",
        Error::Truncated { .. } => "Truncated",
        Error::InvalidLayout { .. } => "InvalidLayout",
        Error::InvalidHeader { .. } => "InvalidHeader",
        Error::Unsupported { .. } => "Unsupported",
        Error::UnsupportedDType { .. } => "UnsupportedDType",
        Error::Decode { .. } => "Decode",
        Error::InsufficientSpace { .. } => "InsufficientSpace",
        Error::UnknownDType { .. } => "UnknownDType",
        Error::InvalidArgument { .. } => "InvalidArgument",
        Error::NotZeroCopy { .. } => "NotZeroCopy",
        Error::DTypeMismatch { .. } => "DTypeMismatch",
        Error::ShapeMismatch { .. } => "ShapeMismatch",
        Error::TooLarge { .. } => "TooLarge",
        Error::Write { .. } => "Write",
        Error::UnknownFormat { .. } => "UnknownFormat",
        Error::FormatNotEnabled { .. } => "FormatNotEnabled",
        Error::ZarrGroup { .. } => "ZarrGroup",
        Error::TooManyCells { .. } => "TooManyCells",
        Error::InvalidPartition { .. } => "InvalidPartition",
        _ => "another variant",
    }
}

/// The read unit of a chunked volume, else the whole volume.
fn block_shape(vol: &AnyVolume) -> Vec<usize> {
    match vol {
        AnyVolume::Zarr(z) => z.chunk_shape().to_vec(),
        AnyVolume::Tiff(t) if !t.is_mapped() => t.chunk_shape().to_vec(),
        v => v.shape().to_vec(),
    }
}

fn is_chunked(vol: &AnyVolume) -> bool {
    matches!(vol, AnyVolume::Zarr(_)) || matches!(vol, AnyVolume::Tiff(t) if !t.is_mapped())
}

/// The blocks of `shape` in units of `unit`, in C order: (chunk index,
/// region).
fn blocks_of(shape: &[usize], unit: &[usize]) -> Vec<(Vec<u64>, Region)> {
    let counts: Vec<usize> = shape
        .iter()
        .zip(unit)
        .map(|(&n, &u)| n.div_ceil(u.max(1)))
        .collect();
    let total: usize = counts.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        let start: Vec<usize> = idx.iter().zip(unit).map(|(&i, &u)| i * u).collect();
        let ext: Vec<usize> = start
            .iter()
            .zip(unit)
            .zip(shape)
            .map(|((&s, &u), &n)| u.min(n - s))
            .collect();
        out.push((
            idx.iter().map(|&i| i as u64).collect(),
            Region::new(start, ext).expect("block region"),
        ));
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < counts[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

fn read(vol: &AnyVolume, region: &Region) -> impart::Result<Vec<u8>> {
    let n: usize = region.shape().iter().product::<usize>() * vol.dtype().size();
    let mut buf = vec![0u8; n];
    vol.read_region(region, &mut buf)?;
    Ok(buf)
}

/// What the intact fixture reads.
enum Reference {
    /// It does not open: the error's variant and message.
    Refused(&'static str, String),
    Opened(Reading),
}

struct Reading {
    shape: Vec<usize>,
    dtype: DType,
    unit: Vec<usize>,
    /// The whole volume, if it reads.
    whole: Option<Vec<u8>>,
    blocks: Vec<Block>,
}

/// One block of the intact fixture: its chunk index, its region, and its
/// bytes (or the variant of the error reading it gives).
struct Block {
    index: Vec<u64>,
    region: Region,
    data: Result<Vec<u8>, &'static str>,
}

fn reference(fx: &Fixture, staged: &Staged) -> Reference {
    let vol = match open(fx, staged, usize::MAX) {
        Ok(v) => v,
        Err(e) => return Reference::Refused(variant(&e), e.to_string()),
    };
    let shape = vol.shape().to_vec();
    let unit = block_shape(&vol);
    let whole = Region::new(vec![0; shape.len()], shape.clone())
        .ok()
        .and_then(|r| read(&vol, &r).ok());
    let blocks = blocks_of(&shape, &unit)
        .into_iter()
        .map(|(index, region)| Block {
            data: read(&vol, &region).map_err(|e| variant(&e)),
            index,
            region,
        })
        .collect();
    let reading = Reading {
        shape,
        dtype: vol.dtype(),
        unit,
        whole,
        blocks,
    };
    drop(vol);
    drop_cache(fx, staged, usize::MAX);
    Reference::Opened(reading)
}

/// Whether an error's message names the file opened or the damaged one.
fn names_file(e: &Error, fx: &Fixture, victim: &Path) -> bool {
    let msg = e.to_string();
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    msg.contains(&name(&fx.open)) || msg.contains(&name(victim))
}

/// Checks a read error of `vol`'s block `index` (or of the whole volume):
/// an allowed variant, naming the file, and — a `Decode` of a chunked
/// volume's block — naming that block's chunk and the opened path.
fn check_read_error(
    e: &Error,
    vol: &AnyVolume,
    index: Option<&[u64]>,
    fx: &Fixture,
    opened: &Path,
    victim: &Path,
) -> Option<String> {
    let v = variant(e);
    if !READ_ERRORS.contains(&v) {
        return Some(format!("a read gives {v}, not one of {READ_ERRORS:?}: {e}"));
    }
    if !names_file(e, fx, victim) {
        return Some(format!("a read error does not name the file: {e}"));
    }
    match (e, index) {
        (Error::Decode { path, chunk, .. }, Some(index)) if is_chunked(vol) => {
            (chunk.as_slice() != index || path != opened).then(|| {
                format!(
                    "reading block {index:?} gives an error naming chunk {chunk:?} of {}: {e}",
                    path.display()
                )
            })
        }
        (_, Some(index)) if is_chunked(vol) => Some(format!(
            "reading chunk {index:?} gives {v}, not a Decode error naming the chunk: {e}"
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Outcomes of one damaged copy

#[derive(Default)]
struct Tally {
    tried: usize,
    open_errors: BTreeMap<&'static str, usize>,
    /// The first message of each variant, opening and reading.
    examples: BTreeMap<&'static str, String>,
    read_examples: BTreeMap<&'static str, String>,
    opened_same: usize,
    opened_read_errors: usize,
    /// Corruption only: blocks that read other values without an error.
    silent: usize,
}

impl Tally {
    /// (copies that gave an error, copies that read the intact values,
    /// blocks that read other values).
    fn outcomes(&self) -> (usize, usize, usize) {
        (
            self.open_errors.values().sum::<usize>() + self.opened_read_errors,
            self.opened_same,
            self.silent,
        )
    }
}

/// What a damaged copy may read, besides the intact values or a typed error.
struct Scope<'a> {
    /// Other values without an error (a flip the codec cannot see).
    wrong_allowed: bool,
    /// The blocks the damage can reach (a Zarr chunk file's chunk, or the
    /// sub-chunks of its shard); all for any other damage. When the whole
    /// volume does not read as intact, these blocks are read one by one;
    /// the others are stored in files the damage did not touch.
    focus: &'a dyn Fn(&[u64]) -> bool,
    /// Whether `focus` leaves blocks out (then the whole volume is not
    /// read first).
    focused: bool,
    /// Whether the blocks that changed (other values, or an error where
    /// the intact file reads) may change together.
    affected_ok: &'a dyn Fn(&[Vec<u64>]) -> bool,
    /// A volume opened on this copy before the damage, for damage that
    /// opening does not read (a chunk file of a Zarr array whose metadata
    /// is intact: opening reads the metadata only).
    opened: Option<&'a AnyVolume>,
}

const EVERYWHERE: Scope<'static> = Scope {
    wrong_allowed: false,
    focus: &|_| true,
    focused: false,
    affected_ok: &|_| true,
    opened: None,
};

/// One damaged copy, already on disk: open it, read it, compare.
#[allow(clippy::too_many_arguments)]
fn probe(
    fx: &Fixture,
    staged: &Staged,
    trial: usize,
    reference: &Reference,
    victim: &Path,
    label: &str,
    scope: &Scope<'_>,
    tally: &mut Tally,
    failures: &mut Vec<String>,
) {
    tally.tried += 1;
    let opened = staged.path(&fx.open);
    let outcome = no_panic(label, || -> Option<String> {
        let owned;
        let vol = match scope.opened {
            Some(v) => v,
            None => match open(fx, staged, trial) {
                Ok(v) => {
                    owned = v;
                    &owned
                }
                Err(e) => {
                    let v = variant(&e);
                    *tally.open_errors.entry(v).or_default() += 1;
                    tally.examples.entry(v).or_insert_with(|| e.to_string());
                    if !OPEN_ERRORS.contains(&v) {
                        return Some(format!(
                            "opening gives {v}, not one of {OPEN_ERRORS:?}: {e}"
                        ));
                    }
                    if !names_file(&e, fx, victim) {
                        return Some(format!("the error does not name the file: {e}"));
                    }
                    return None;
                }
            },
        };
        let reading = match reference {
            Reference::Refused(v, msg) => {
                return Some(format!(
                    "opens, though the intact file is refused ({v}: {msg})"
                ))
            }
            Reference::Opened(r) => r,
        };
        if vol.shape() != reading.shape.as_slice() || vol.dtype() != reading.dtype {
            return Some(format!(
                "opens as {:?} {}, the intact file as {:?} {}",
                vol.shape(),
                vol.dtype(),
                reading.shape,
                reading.dtype
            ));
        }
        // the whole volume first; block by block if it does not read as
        // the intact file does
        if let (Some(want), Ok(r), false) = (
            &reading.whole,
            Region::new(vec![0; reading.shape.len()], reading.shape.clone()),
            scope.focused,
        ) {
            match read(vol, &r) {
                Ok(got) if &got == want => {
                    tally.opened_same += 1;
                    return None;
                }
                // other values: the blocks below say which
                Ok(_) => {}
                Err(e) => {
                    if let Some(f) = check_read_error(&e, vol, None, fx, &opened, victim) {
                        return Some(f);
                    }
                    tally
                        .read_examples
                        .entry(variant(&e))
                        .or_insert_with(|| e.to_string());
                    if let Error::Decode { chunk, .. } = &e {
                        if is_chunked(vol) && !(scope.focus)(chunk) {
                            return Some(format!(
                                "reading the volume fails on chunk {chunk:?}, which the damage does not reach: {e}"
                            ));
                        }
                    }
                }
            }
        }
        let unit = block_shape(vol);
        if unit != reading.unit {
            return Some(format!(
                "reads in blocks of {unit:?}, the intact file in {:?}",
                reading.unit
            ));
        }
        let mut affected = Vec::new();
        let mut errors = 0;
        for Block {
            index,
            region,
            data: want,
        } in &reading.blocks
        {
            if !(scope.focus)(index) {
                continue;
            }
            match (read(vol, region), want) {
                (Ok(got), Ok(want)) if &got == want => {}
                (Ok(_), Ok(_)) => {
                    if !scope.wrong_allowed {
                        return Some(format!(
                            "block {index:?} ({:?} + {:?}) reads other values than the intact file, without an error",
                            region.start(),
                            region.shape()
                        ));
                    }
                    tally.silent += 1;
                    affected.push(index.clone());
                }
                (Ok(_), Err(v)) => {
                    return Some(format!(
                        "block {index:?} reads, though the intact file gives {v}"
                    ))
                }
                (Err(e), _) => {
                    if let Some(f) = check_read_error(&e, vol, Some(index), fx, &opened, victim) {
                        return Some(f);
                    }
                    tally
                        .read_examples
                        .entry(variant(&e))
                        .or_insert_with(|| e.to_string());
                    if want.is_ok() {
                        errors += 1;
                        affected.push(index.clone());
                    }
                }
            }
        }
        if !(scope.affected_ok)(&affected) {
            return Some(format!("blocks {affected:?} change together"));
        }
        if errors > 0 {
            tally.opened_read_errors += 1;
        } else if affected.is_empty() {
            tally.opened_same += 1;
        }
        None
    });
    drop_cache(fx, staged, trial);
    match outcome {
        Ok(None) => {}
        Ok(Some(f)) => failures.push(format!("{}: {label}: {f}", fx.name)),
        Err(p) => failures.push(format!("{}: {p}", fx.name)),
    }
}

// ---------------------------------------------------------------------------
// Zarr chunk files

/// A codec chain: each codec's name (v3) or id (v2) and configuration.
type Chain = Vec<(String, Value)>;

/// A Zarr array as its metadata describes it: how chunk files are named,
/// the shard and sub-chunk shapes of a sharded array, the codecs of a
/// chunk (a sharded array's sub-chunk) and a shard's index.
struct ZarrGrid {
    v3: bool,
    shards: Option<(Vec<u64>, Vec<u64>)>,
    chain: Chain,
    /// A shard's index: its size, whether it is at the end, whether a
    /// checksum covers it.
    index: Option<(usize, bool, Check)>,
}

impl ZarrGrid {
    /// `None` for a group or metadata that does not parse.
    fn of(node: &Path) -> Option<ZarrGrid> {
        let meta = |f: &str| -> Option<Value> {
            serde_json::from_str(&std::fs::read_to_string(node.join(f)).ok()?).ok()
        };
        if let Some(v2) = meta(".zarray") {
            // v2 names its filters and compressor by "id"
            let chain = v2
                .get("filters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(v2.get("compressor").filter(|c| !c.is_null()))
                .filter_map(|x| Some((x.get("id")?.as_str()?.to_string(), x.clone())))
                .collect();
            return Some(ZarrGrid {
                v3: false,
                shards: None,
                chain,
                index: None,
            });
        }
        let v3 = meta("zarr.json")
            .filter(|m| m.get("node_type").and_then(Value::as_str) == Some("array"))?;
        let codecs = codec_list(v3.get("codecs"));
        let Some((_, cfg)) = codecs.iter().find(|(n, _)| n == "sharding_indexed") else {
            return Some(ZarrGrid {
                v3: true,
                shards: None,
                chain: codecs,
                index: None,
            });
        };
        let outer = u64s(v3.pointer("/chunk_grid/configuration/chunk_shape")?);
        let inner = u64s(cfg.get("chunk_shape")?);
        let n: u64 = outer
            .iter()
            .zip(&inner)
            .map(|(o, i)| o.div_ceil(*i))
            .product();
        // the index: an offset and a size (u64 each) per sub-chunk, then
        // the CRC-32C of its index codecs, if they have one
        let crc = codec_list(cfg.get("index_codecs"))
            .iter()
            .any(|(n, _)| n == "crc32c");
        let size = n as usize * 16 + if crc { 4 } else { 0 };
        let at_end = cfg.get("index_location").and_then(Value::as_str) != Some("start");
        let check = if crc { Check::Detects } else { Check::Blind };
        Some(ZarrGrid {
            v3: true,
            shards: Some((outer, inner)),
            chain: codec_list(cfg.get("codecs")),
            index: Some((size, at_end, check)),
        })
    }

    /// The chunk (or shard) index of a chunk file's key: `c/1/2` or
    /// `c.1.2` (v3), `1.2` or `1/2` (v2); `None` for a metadata file.
    fn chunk_of(&self, key: &Path) -> Option<Vec<u64>> {
        let key = key.to_string_lossy().replace(['/', '\\'], ".");
        let mut parts: Vec<&str> = key.split('.').collect();
        if self.v3 {
            if parts.first() != Some(&"c") {
                return None;
            }
            parts.remove(0);
        }
        parts.iter().map(|p| p.parse().ok()).collect()
    }

    /// Whether read block `block` lies in chunk file `chunk`.
    fn holds(&self, chunk: &[u64], block: &[u64]) -> bool {
        match &self.shards {
            None => chunk == block,
            Some((outer, inner)) => block
                .iter()
                .zip(inner.iter().zip(outer))
                .map(|(&i, (&a, &b))| i * a / b)
                .eq(chunk.iter().copied()),
        }
    }
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Where to cut

/// Reads a big- or little-endian integer of `n` bytes at `at`.
fn uint(b: &[u8], at: usize, n: usize, big: bool) -> Option<u64> {
    let s = b.get(at..at + n)?;
    Some(if big {
        s.iter().fold(0u64, |a, &x| (a << 8) | x as u64)
    } else {
        s.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64)
    })
}

/// PNG: each chunk as (start, data start, data end); empty for a file that
/// is not a PNG.
fn png_chunks(b: &[u8]) -> Vec<(usize, usize, usize, [u8; 4])> {
    let mut out = Vec::new();
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return out;
    }
    let mut at = 8;
    while let Some(len) = uint(b, at, 4, true) {
        let data = at + 8;
        let end = data.saturating_add(len as usize);
        let Some(kind) = b.get(at + 4..at + 8) else {
            break;
        };
        out.push((at, data, end.min(b.len()), kind.try_into().unwrap()));
        at = end.saturating_add(4);
    }
    out
}

/// JPEG: the offset of each marker (0xFF followed by a byte that is not a
/// stuffed zero, a restart marker or fill), and the entropy-coded data
/// after each start of scan, as ranges.
fn jpeg_structure(b: &[u8]) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut markers = Vec::new();
    let mut scans = Vec::new();
    if !b.starts_with(&[0xFF, 0xD8]) {
        return (markers, scans);
    }
    let mut i = 0;
    while i + 1 < b.len() {
        let m = b[i + 1];
        if b[i] == 0xFF && m != 0 && m != 0xFF && !(0xD0..=0xD7).contains(&m) {
            markers.push(i);
            if m == 0xDA {
                let len = uint(b, i + 2, 2, true).unwrap_or(0) as usize;
                let data = i + 2 + len;
                // the scan's data runs to the next marker
                let mut j = data;
                while j + 1 < b.len() {
                    let n = b[j + 1];
                    if b[j] == 0xFF && n != 0 && !(0xD0..=0xD7).contains(&n) && n != 0xFF {
                        break;
                    }
                    j += 1;
                }
                if data < j {
                    scans.push((data, j));
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    (markers, scans)
}

/// A TIFF fixture's layout as its `cases.json` records it (tifffile's
/// reading): (IFD and tag-value ranges, chunk ranges).
#[allow(clippy::type_complexity)]
fn tiff_structure(fx: &Fixture) -> Option<(Vec<(usize, usize)>, Vec<(usize, usize)>)> {
    let recs = records(&fx.root);
    let rec = record_of(&recs, &fx.open.to_string_lossy())?;
    let s = rec.get("structure").filter(|s| !s.is_null())?;
    let pairs = |k: &str| -> Vec<(usize, usize)> {
        s.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some((p.get(0)?.as_u64()? as usize, p.get(1)?.as_u64()? as usize))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let cb = s.get("count_bytes")?.as_u64()? as usize;
    let eb = s.get("entry_bytes")?.as_u64()? as usize;
    let ob = s.get("offset_bytes")?.as_u64()? as usize;
    let mut meta: Vec<(usize, usize)> = pairs("ifds")
        .into_iter()
        .map(|(at, n)| (at, at + cb + n * eb + ob))
        .collect();
    meta.extend(pairs("values").into_iter().map(|(at, n)| (at, at + n)));
    let chunks = pairs("chunks")
        .into_iter()
        .map(|(at, n)| (at, at + n))
        .collect();
    Some((meta, chunks))
}

/// NIfTI (uncompressed): where the data starts.
fn nifti_vox_offset(b: &[u8]) -> Option<usize> {
    for big in [false, true] {
        match uint(b, 0, 4, big)? {
            348 => {
                let bits = uint(b, 108, 4, big)? as u32;
                return Some(f32::from_bits(bits) as usize);
            }
            540 => {
                let bits = uint(b, 168, 8, big)?;
                return Some(f64::from_bits(bits) as usize);
            }
            _ => {}
        }
    }
    None
}

/// Where one file of a fixture is cut: every length of a file up to
/// `small` bytes; for a larger one every length in the `dense` ranges (its
/// headers), [`AROUND`] bytes either side of each of the `marks` (the
/// boundaries of its structures), [`SPREAD`] lengths spread evenly and the
/// last [`TAIL`].
struct Cuts {
    small: usize,
    dense: Vec<(usize, usize)>,
    marks: Vec<usize>,
}

fn cuts(fx: &Fixture, file: &Path, b: &[u8]) -> Cuts {
    let name = lower_name(file);
    let plain = |dense: Vec<(usize, usize)>, marks: Vec<usize>| Cuts {
        small: SMALL_FILE,
        dense,
        marks,
    };
    match fx.format {
        Format::Raw => plain(vec![(0, 64)], Vec::new()),
        // a gzip header is ten bytes (more with a name); past it, cuts
        // inside the deflate stream are all alike
        Format::Nifti if name.ends_with(".gz") => plain(vec![(0, 64)], Vec::new()),
        Format::Nifti => match nifti_vox_offset(b) {
            Some(v) => plain(vec![(0, v.saturating_add(16))], vec![v]),
            None => plain(vec![(0, 600)], Vec::new()),
        },
        Format::Image if name.ends_with(".png") => {
            let chunks = png_chunks(b);
            let first_idat = chunks
                .iter()
                .find(|c| &c.3 == b"IDAT")
                .map(|c| c.1)
                .unwrap_or(64);
            let marks = chunks.iter().flat_map(|c| [c.0, c.1, c.2]).collect();
            plain(vec![(0, first_idat + 16)], marks)
        }
        Format::Image => {
            let (markers, scans) = jpeg_structure(b);
            let head = scans.first().map(|s| s.0).unwrap_or(640);
            let mut marks = markers;
            marks.extend(scans.iter().flat_map(|s| [s.0, s.1]));
            plain(vec![(0, head + 16)], marks)
        }
        Format::Tiff => match tiff_structure(fx) {
            // the header and the first IFD densely; the bounds of the
            // other IFDs, of the tag values and of every strip and tile
            Some((meta, chunks)) => {
                let mut dense = vec![(0, 16)];
                dense.extend(meta.first().copied());
                let marks = meta
                    .iter()
                    .skip(1)
                    .chain(&chunks)
                    .flat_map(|&(s, e)| [s, e])
                    .collect();
                plain(dense, marks)
            }
            // no record (the hostile files, refused whole): the header and
            // a first IFD's worth densely
            None => plain(vec![(0, 256)], Vec::new()),
        },
        // chunk headers (zstd's frame header, blosc's 16 bytes, gzip's
        // ten) and metadata openings densely, the trailers (crc32c, gzip's
        // CRC and size, a shard's index) through TAIL; a JSON cut anywhere
        // else is as broken as at the spread lengths
        Format::Zarr => Cuts {
            small: 128,
            dense: vec![(0, 48)],
            marks: Vec::new(),
        },
    }
}

/// The lengths a file of `n` bytes is cut to: see [`Cuts`].
fn prefix_lengths(n: usize, c: &Cuts) -> BTreeSet<usize> {
    if n <= c.small {
        return (0..n).collect();
    }
    let mut v: BTreeSet<usize> = BTreeSet::new();
    for &(s, e) in &c.dense {
        v.extend(s.min(n)..=e.min(n - 1));
    }
    for &m in &c.marks {
        v.extend(m.saturating_sub(AROUND)..m.saturating_add(AROUND + 1).min(n));
    }
    v.extend((0..SPREAD).map(|k| k * n / SPREAD));
    v.extend(n.saturating_sub(TAIL)..n);
    v
}

// ---------------------------------------------------------------------------
// Truncation

fn truncate_all(format: Format) {
    let started = Instant::now();
    let fixtures = fixtures_of(format);
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    let mut files = 0;
    for fx in &fixtures {
        let t0 = Instant::now();
        let n0 = tally.tried;
        let staged = Staged::new(fx);
        let reference = reference(fx, &staged);
        let mut trial = 0;
        let grid = (fx.format == Format::Zarr)
            .then(|| ZarrGrid::of(&staged.path(&fx.open)))
            .flatten();
        for victim in &fx.files {
            files += 1;
            let bytes = staged.bytes[victim].clone();
            let lengths = prefix_lengths(bytes.len(), &cuts(fx, victim, &bytes));
            let path = staged.path(victim);
            let before = failures.len();
            // a Zarr chunk file: only its chunk (or shard) can change
            let chunk = grid.as_ref().and_then(|g| {
                let key = staged.path(victim);
                let key = key.strip_prefix(staged.path(&fx.open)).ok()?;
                Some((g, g.chunk_of(key)?))
            });
            let focus = |block: &[u64]| chunk.as_ref().is_none_or(|(g, c)| g.holds(c, block));
            // opened once for a chunk file of an unsharded array (a sharded
            // array's volume keeps the shard indexes it has read, so it is
            // opened for each cut); the empty cut is opened afresh below
            let reused = match (&chunk, &reference) {
                (Some((g, _)), Reference::Opened(_)) if g.shards.is_none() => {
                    open(fx, &staged, usize::MAX - 2).ok()
                }
                _ => None,
            };
            let scope = Scope {
                focus: &focus,
                focused: chunk.is_some(),
                opened: reused.as_ref(),
                ..EVERYWHERE
            };
            // longest first: each cut shortens the same file
            for &len in lengths.iter().rev() {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(len as u64))
                    .expect("truncate the copy");
                let label = format!("{} cut to {len} of {} bytes", victim.display(), bytes.len());
                trial += 1;
                probe(
                    fx,
                    &staged,
                    trial,
                    &reference,
                    victim,
                    &label,
                    &scope,
                    &mut tally,
                    &mut failures,
                );
                if failures.len() - before >= 3 {
                    failures.push(format!(
                        "{}: {}: more failures not listed",
                        fx.name,
                        victim.display()
                    ));
                    break;
                }
            }
            if reused.is_some() {
                // the empty file, opened afresh
                trial += 1;
                let label = format!("{} cut to 0 bytes, opened again", victim.display());
                let scope = Scope {
                    opened: None,
                    ..scope
                };
                probe(
                    fx,
                    &staged,
                    trial,
                    &reference,
                    victim,
                    &label,
                    &scope,
                    &mut tally,
                    &mut failures,
                );
            }
            drop(reused);
            staged.restore(victim);
        }
        if std::env::var_os("DAMAGED_TIMES").is_some() {
            eprintln!(
                "  {} {} prefixes {:.2}s",
                fx.name,
                tally.tried - n0,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "{format:?}: {} fixtures, {files} files, {} prefixes tried in {:.1} s: \
         open errors {:?}, {} opened and read the intact values, {} opened with read errors",
        fixtures.len(),
        tally.tried,
        started.elapsed().as_secs_f64(),
        tally.open_errors,
        tally.opened_same,
        tally.opened_read_errors
    );
    for (v, e) in &tally.examples {
        eprintln!("  e.g. opening: {v}: {e}");
    }
    for (v, e) in &tally.read_examples {
        eprintln!("  e.g. reading: {v}: {e}");
    }
    report(&format!("on truncated {format:?} fixtures"), failures);
}

#[test]
fn truncated_raw() {
    truncate_all(Format::Raw);
}

#[test]
fn truncated_nifti() {
    truncate_all(Format::Nifti);
}

#[test]
fn truncated_images() {
    truncate_all(Format::Image);
}

#[test]
fn truncated_tiff() {
    truncate_all(Format::Tiff);
}

#[test]
fn truncated_zarr() {
    truncate_all(Format::Zarr);
}

// ---------------------------------------------------------------------------
// Corruption

/// SplitMix64: the flips' positions and values.
struct Rng(u64);

impl Rng {
    fn seeded(name: &str) -> Rng {
        // FNV-1a of the name
        Rng(name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn flip(&mut self) -> u8 {
        1 + (self.next() % 255) as u8
    }
}

/// What a flipped byte inside one stored chunk or stream must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The codec checks its data: an error or the original values.
    Detects,
    /// It does not: other values are possible.
    Blind,
}

/// A place to flip: the file, the byte range of one chunk or stream in
/// it, the codec's name (for the counts) and what a flip there must give.
struct Target {
    file: PathBuf,
    range: (usize, usize),
    codec: String,
    check: Check,
    /// For a shard: the bytes of its index (flips there are checked by
    /// the index's codecs), and that check.
    index: Option<((usize, usize), Check)>,
}

/// Whether a zstd frame at `at` carries a content checksum (bit 2 of the
/// frame header descriptor).
fn zstd_has_checksum(b: &[u8], at: usize) -> bool {
    b.get(at..at + 4) == Some(&[0x28, 0xB5, 0x2F, 0xFD][..])
        && b.get(at + 4).is_some_and(|fhd| fhd & 0x04 != 0)
}

/// The check of a Zarr codec chain (v3 names, or the v2 compressor's id),
/// for a chunk whose first bytes are `b`.
fn zarr_chain_check(names: &[(String, Value)], b: &[u8]) -> (String, Check) {
    let label = names
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let detects = names.iter().any(|(n, cfg)| match n.as_str() {
        "crc32c" | "gzip" | "zlib" => true,
        "zstd" => {
            cfg.get("checksum").and_then(Value::as_bool) == Some(true) || zstd_has_checksum(b, 0)
        }
        _ => false,
    });
    let label = if label.is_empty() {
        "none".into()
    } else {
        label
    };
    (
        label,
        if detects {
            Check::Detects
        } else {
            Check::Blind
        },
    )
}

fn codec_list(v: Option<&Value>) -> Chain {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("name")?.as_str()?.to_string(),
                        c.get("configuration").cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The chunk files of a Zarr array, each a target.
fn zarr_targets(fx: &Fixture, staged: &Staged) -> Vec<Target> {
    let node = staged.path(&fx.open);
    let Some(grid) = ZarrGrid::of(&node) else {
        return Vec::new();
    };
    let mut targets = Vec::new();
    for f in &fx.files {
        let b = &staged.bytes[f];
        let key = staged.path(f);
        let is_chunk = key
            .strip_prefix(&node)
            .ok()
            .and_then(|k| grid.chunk_of(k))
            .is_some();
        if !is_chunk || b.is_empty() {
            continue;
        }
        let (codec, check) = zarr_chain_check(&grid.chain, b);
        let (codec, index) = match grid.index {
            Some((size, at_end, check)) => {
                let size = size.min(b.len());
                let range = if at_end {
                    (b.len() - size, b.len())
                } else {
                    (0, size)
                };
                (format!("shard({codec})"), Some((range, check)))
            }
            None => (codec, None),
        };
        targets.push(Target {
            file: f.clone(),
            range: (0, b.len()),
            codec,
            check,
            index,
        });
    }
    targets
}

fn tiff_targets(fx: &Fixture, vol: &AnyVolume, staged: &Staged) -> Vec<Target> {
    let AnyVolume::Tiff(t) = vol else {
        return Vec::new();
    };
    let Some((_, chunks)) = tiff_structure(fx) else {
        return Vec::new();
    };
    let (code, name) = t.compression();
    let b = &staged.bytes[&fx.open];
    chunks
        .into_iter()
        .filter(|&(s, e)| s < e)
        .map(|range| {
            let check = match code {
                8 | 32946 => Check::Detects,
                50000 if zstd_has_checksum(b, range.0) => Check::Detects,
                _ => Check::Blind,
            };
            Target {
                file: fx.open.clone(),
                range,
                codec: format!("tiff {name}"),
                check,
                index: None,
            }
        })
        .collect()
}

fn image_targets(fx: &Fixture, staged: &Staged) -> Vec<Target> {
    let b = &staged.bytes[&fx.open];
    if lower_name(&fx.open).ends_with(".png") {
        png_chunks(b)
            .into_iter()
            .filter(|c| &c.3 == b"IDAT" && c.1 < c.2)
            .map(|c| Target {
                file: fx.open.clone(),
                range: (c.1, c.2),
                codec: "png IDAT".into(),
                check: Check::Detects,
                index: None,
            })
            .collect()
    } else {
        jpeg_structure(b)
            .1
            .into_iter()
            .map(|range| Target {
                file: fx.open.clone(),
                range,
                codec: "jpeg scan".into(),
                check: Check::Blind,
                index: None,
            })
            .collect()
    }
}

fn nifti_targets(fx: &Fixture, staged: &Staged) -> Vec<Target> {
    fx.files
        .iter()
        .filter(|f| staged.bytes[*f].starts_with(&[0x1f, 0x8b]))
        .filter_map(|f| {
            let n = staged.bytes[f].len();
            // past gzip's fixed ten-byte header: the deflate data and the
            // CRC-32 and ISIZE trailer
            (n > 18).then(|| Target {
                file: f.clone(),
                range: (10, n),
                codec: "gzip".into(),
                check: Check::Detects,
                index: None,
            })
        })
        .collect()
}

/// `k` of `n` items spread evenly.
fn spread<T>(items: Vec<T>, k: usize) -> Vec<T> {
    let n = items.len();
    if n <= k {
        return items;
    }
    let keep: BTreeSet<usize> = (0..k).map(|i| i * n / k).collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, t)| t)
        .collect()
}

#[derive(Default)]
struct CodecCount {
    flips: usize,
    errors: usize,
    same: usize,
    silent: usize,
    example: Option<String>,
}

fn corrupt_all(format: Format) {
    let started = Instant::now();
    let fixtures = fixtures_of(format);
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    let mut codecs: BTreeMap<String, CodecCount> = BTreeMap::new();
    let mut refused = Vec::new();
    let mut no_target = Vec::new();
    let mut files = BTreeSet::new();
    for fx in &fixtures {
        let t0 = Instant::now();
        let n0 = tally.tried;
        let staged = Staged::new(fx);
        let reference = reference(fx, &staged);
        if let Reference::Refused(..) = reference {
            refused.push(fx.name.clone());
            continue;
        }
        let targets = match format {
            Format::Zarr => zarr_targets(fx, &staged),
            Format::Tiff => {
                let vol = open(fx, &staged, usize::MAX - 1).expect("the intact file opens");
                let t = tiff_targets(fx, &vol, &staged);
                drop(vol);
                t
            }
            Format::Image => image_targets(fx, &staged),
            Format::Nifti => nifti_targets(fx, &staged),
            Format::Raw => Vec::new(),
        };
        if targets.is_empty() {
            no_target.push(fx.name.clone());
            continue;
        }
        let grid = (format == Format::Zarr)
            .then(|| ZarrGrid::of(&staged.path(&fx.open)))
            .flatten();
        let mut rng = Rng::seeded(&fx.name);
        let mut trial = 0;
        for target in spread(targets, CHUNKS_PER_FILE) {
            files.insert((fx.name.clone(), target.file.clone(), target.range));
            let original = staged.bytes[&target.file].clone();
            let (start, end) = target.range;
            // a Zarr chunk file: only its chunk, or its shard's sub-chunks,
            // can change; a TIFF's strip or tile: one block, whichever
            let chunk = grid.as_ref().and_then(|g| {
                let key = staged.path(&target.file);
                let key = key.strip_prefix(staged.path(&fx.open)).ok()?;
                Some((g, g.chunk_of(key)?))
            });
            let focus = |block: &[u64]| chunk.as_ref().is_none_or(|(g, c)| g.holds(c, block));
            let one_chunk = |changed: &[Vec<u64>]| chunk.is_some() || changed.len() <= 1;
            for _ in 0..FLIPS {
                let at = start + rng.below(end - start);
                let x = rng.flip();
                let mut damaged = original.clone();
                damaged[at] ^= x;
                std::fs::write(staged.path(&target.file), &damaged).expect("write the copy");
                let check = match target.index {
                    Some(((s, e), check)) if (s..e).contains(&at) => check,
                    _ => target.check,
                };
                let label = format!(
                    "{} byte {at} of {} ({} data at {start}..{end}) ^ {x:#04x}",
                    target.file.display(),
                    original.len(),
                    target.codec
                );
                trial += 1;
                let before = tally.outcomes();
                let scope = Scope {
                    wrong_allowed: check == Check::Blind,
                    focus: &focus,
                    focused: chunk.is_some(),
                    affected_ok: &one_chunk,
                    opened: None,
                };
                probe(
                    fx,
                    &staged,
                    trial,
                    &reference,
                    &target.file,
                    &label,
                    &scope,
                    &mut tally,
                    &mut failures,
                );
                let after = tally.outcomes();
                let c = codecs.entry(target.codec.clone()).or_default();
                c.flips += 1;
                if after.0 > before.0 {
                    c.errors += 1;
                    if c.example.is_none() {
                        c.example = Some(first_error(fx, &staged, trial));
                    }
                } else if after.2 > before.2 {
                    c.silent += 1;
                } else if after.1 > before.1 {
                    c.same += 1;
                }
            }
            staged.restore(&target.file);
        }
        if std::env::var_os("DAMAGED_TIMES").is_some() {
            eprintln!(
                "  {} {} flips {:.2}s",
                fx.name,
                tally.tried - n0,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "{format:?}: {} chunks or streams in {} fixtures flipped {} times in {:.1} s; \
         not flipped: {} refused whole, {} with nothing compressed or recorded to flip{}",
        files.len(),
        files.iter().map(|f| &f.0).collect::<BTreeSet<_>>().len(),
        tally.tried,
        started.elapsed().as_secs_f64(),
        refused.len(),
        no_target.len(),
        if no_target.len() <= 24 {
            format!(": {no_target:?}")
        } else {
            String::new()
        },
    );
    for (codec, c) in &codecs {
        eprintln!(
            "  {codec}: {} flips: {} errors, {} original values, {} other values{}",
            c.flips,
            c.errors,
            c.same,
            c.silent,
            c.example
                .as_ref()
                .map(|e| format!("; e.g. {e}"))
                .unwrap_or_default()
        );
    }
    report(&format!("on corrupted {format:?} fixtures"), failures);
}

/// The first error the damaged copy on disk gives (opening, or reading
/// block by block), for the printed examples.
fn first_error(fx: &Fixture, staged: &Staged, trial: usize) -> String {
    let r = match open(fx, staged, trial) {
        Err(e) => format!("opening: {e}"),
        Ok(vol) => {
            let unit = block_shape(&vol);
            blocks_of(vol.shape(), &unit)
                .into_iter()
                .find_map(|(_, r)| read(&vol, &r).err())
                .map(|e| format!("reading: {e}"))
                .unwrap_or_default()
        }
    };
    drop_cache(fx, staged, trial);
    r
}

#[test]
fn corrupted_zarr_chunks() {
    corrupt_all(Format::Zarr);
}

#[test]
fn corrupted_tiff_chunks() {
    corrupt_all(Format::Tiff);
}

#[test]
fn corrupted_png_and_jpeg_streams() {
    corrupt_all(Format::Image);
}

#[test]
fn corrupted_gzip_nifti() {
    corrupt_all(Format::Nifti);
}

// ---------------------------------------------------------------------------
// The two bugs the sweeps above found, each on its own

/// A `.nii.gz` was decompressed only as far as the header and voxels go,
/// so its gzip trailer (CRC-32, length) was never read: a flipped byte in
/// the deflate data read other values without an error, and a flipped
/// CRC-32 went unseen. Both are errors now.
#[test]
fn a_corrupt_gzip_nifti_is_an_error() {
    let src = data_dir().join("nifti/gz_u16.nii.gz");
    let bytes = std::fs::read(&src).expect("fixture");
    let n = bytes.len();
    let dir = tempfile::tempdir().expect("temp dir");
    let intact = OpenOptions::new()
        .cache_dir(dir.path().join("cache"))
        .open(&src)
        .expect("the intact file opens");
    // a byte of the deflate data (one the sweep found), the CRC-32, ISIZE
    for (at, x) in [(567, 0xfa), (n - 8, 0x01), (n - 1, 0x01)] {
        let mut damaged = bytes.clone();
        damaged[at] ^= x;
        let path = dir.path().join(format!("flip{at}.nii.gz"));
        std::fs::write(&path, &damaged).expect("write");
        let cache = dir.path().join(format!("cache{at}"));
        match OpenOptions::new().cache_dir(&cache).open(&path) {
            Err(e) => assert!(
                e.to_string().contains(&format!("flip{at}.nii.gz")),
                "byte {at}: {e}"
            ),
            Ok(v) => {
                let r = Region::new(vec![0; 3], v.shape().to_vec()).unwrap();
                panic!(
                    "byte {at} flipped: opens, and reads {} the intact values",
                    if read(&v, &r).ok() == read(&intact, &r).ok() {
                        "exactly"
                    } else {
                        "other than"
                    }
                );
            }
        }
    }
}

/// An OME-TIFF whose ImageDescription (its OME-XML, stored at the end of
/// the file) is cut short opened as a plain stack of its 4 pages in place
/// of the 2 x 2 series the XML describes; it is an error now.
#[test]
fn a_tiff_cut_inside_its_description_is_an_error() {
    let src = data_dir().join("tiff/ome_u16_tcyx_tiled32_deflate.ome.tif");
    let bytes = std::fs::read(&src).expect("fixture");
    assert_eq!(
        impart::open(&src).expect("the intact file opens").shape(),
        &[2, 2, 70, 45, 1]
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.ome.tif");
    std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
    match impart::open(&path) {
        Err(e) => assert!(e.to_string().contains("cut.ome.tif"), "{e}"),
        Ok(v) => panic!("the cut file opens as {:?}", v.shape()),
    }
}
