//! Truncated and damaged copies of every valid TIFF fixture
//! (`tests/data/tiff/`, kinds `valid` and `valid_extra`): the reader must
//! give an error or the right values, never panic, and never ask for much
//! more memory than the file could justify.
//!
//! - **Truncated prefixes**: every length for a file of at most
//!   [`SMALL_FILE`] bytes; for a larger one every length inside the header,
//!   each IFD and each out-of-line tag value (and one byte either side), the
//!   first and last bytes of every strip and tile, and a stride over the
//!   rest. Where the parts lie comes from the case's `structure` record
//!   (tifffile's reading of the file).
//! - **Mutated headers**: each byte of the header, of the first IFD's entry
//!   count, of each of its entries (tag, type, count, value) and of its
//!   next-IFD offset set to 0, 0xFF and its value + 1; and each entry's
//!   count set to a huge number.
//!
//! Each copy is opened with `impart::open` (page 0) and with
//! `TiffOptions::page` / `OpenOptions::page` (the other pages the cases
//! name: a stack's last page, a pyramid's levels). The rule:
//!
//! - opening fails with an `impart::Error`, or
//! - it opens and each region read is an error or equals the expectation
//!   (tifffile's values) — for every truncated prefix, and for a mutation
//!   of a tag that does not change the pixels (resolution, description,
//!   GeoTIFF tags, … into another such tag). Other mutations may change
//!   what the file means (its width, its offsets): those must only not
//!   panic, and a small corner of what they open is read.
//!
//! A panic (caught, with where it happened) is a failure naming the file and
//! the damage. So is an allocation request during an open or read larger
//! than [`ALLOC_FACTOR`] times the damaged file's size (or twice the page's
//! decoded bytes, or [`ALLOC_FLOOR`], if that is more): this test binary
//! counts the largest request of each thread (a global allocator that wraps
//! `System`) and refuses any over [`ALLOC_REFUSED`] while a file is probed.
//! One class of such requests is known and accepted ([`known_allocation`]):
//! a chunk buffer sized by a damaged geometry that the codec could still
//! fill; it is printed, not failed.
//! Hangs are not timed: the files are tiny, and a hang shows as a test that
//! does not end.
#![cfg(feature = "tiff")]

mod tiff_check;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use impart::{OpenOptions, TiffOptions, Volume};
use serde_json::Value;
use tiff_check::{compare, dir, manifest, pages_of, usizes, PageCase};

/// Files up to this size are cut at every length.
const SMALL_FILE: usize = 1024;
/// Roughly how many lengths a stride over a larger file's data adds.
const DATA_SAMPLES: usize = 64;
/// The largest allocation an open or read may ask for, in file sizes.
const ALLOC_FACTOR: usize = 64;
/// ... and at least this (buffered reads: 8 KiB).
const ALLOC_FLOOR: usize = 64 << 10;
/// Requests above this are refused (the allocator returns null) while a
/// probe runs, so a damaged header that asks for gigabytes costs nothing:
/// a fallible allocation (`try_reserve`) then fails, an infallible one
/// aborts the test binary (which is a bug to report).
const ALLOC_REFUSED: usize = 16 << 20;

/// Damage our reader does not survive today: (file, damage) as the
/// failure names them. Kept out of the test so it stays green; each is
/// reported in the issue.
const KNOWN: &[(&str, &str)] = &[];

// ---------------------------------------------------------------------------
// Allocation and panic bookkeeping

/// The system allocator, noting the largest single request of the current
/// thread while that thread is probing a file.
struct Tracking;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static PROBING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes a request; whether to refuse it.
fn note(size: usize) -> bool {
    // `try_with`: the thread-locals may be gone while a thread ends
    ARMED
        .try_with(|armed| {
            if armed.get() {
                let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
            }
            armed.get() && size > ALLOC_REFUSED
        })
        .unwrap_or(false)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, or returns null (allowed: an allocation failure); the
// bookkeeping touches only `Cell`s of const-initialized thread-locals, which
// never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as the caller's contract for `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as the caller's contract for `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by `System` (every allocation of this
        // allocator is), with `layout`; the caller's contract does the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` counting its largest allocation request.
fn armed<T>(f: impl FnOnce() -> T) -> T {
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    out
}

/// A panic hook that, while this thread probes a file, keeps the panic's
/// place and message for the report instead of printing it; other panics
/// (the tests' own assertions) go to the default hook.
fn quiet_probe_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if PROBING.with(|p| p.get()) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{place}: {msg}")));
            } else {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// The files and what they must read as

/// A fixture file: its bytes, the layout record tifffile made of it, and
/// the pages the cases give expectations for.
struct Fixture {
    file: String,
    bytes: Vec<u8>,
    structure: Value,
    pages: BTreeMap<usize, PageCase>,
}

fn fixtures() -> Vec<Fixture> {
    let mut by_file: BTreeMap<String, Fixture> = BTreeMap::new();
    for case in manifest()
        .iter()
        .filter(|c| c["kind"] == "valid" || c["kind"] == "valid_extra")
    {
        let file = case["file"].as_str().expect("file").to_string();
        let fx = by_file.entry(file.clone()).or_insert_with(|| Fixture {
            bytes: std::fs::read(dir().join(&file)).expect("fixture"),
            file: file.clone(),
            structure: case["structure"].clone(),
            pages: BTreeMap::new(),
        });
        let pages = pages_of(case);
        // a stack: its first and last pages
        let last = pages.len() - 1;
        for (i, p) in pages.into_iter().enumerate() {
            if i == 0 || i == last {
                fx.pages.entry(p.page).or_insert(p);
            }
        }
        // pyramid levels that are pages of the chain
        for level in case["levels"].as_array().into_iter().flatten() {
            if level["level"] != 0 && level["subifd"].is_null() {
                let page = level["page"].as_u64().expect("page") as usize;
                fx.pages.entry(page).or_insert_with(|| PageCase {
                    label: format!(
                        "{} level {}",
                        case["name"].as_str().unwrap_or("?"),
                        level["level"]
                    ),
                    file: file.clone(),
                    page,
                    shape: usizes(&level["shape"]),
                    dtype: case["dtype"].as_str().expect("dtype").to_string(),
                    expected: std::fs::read(
                        dir().join(level["expected"].as_str().expect("expected")),
                    )
                    .expect("level bytes"),
                    tolerance: None,
                });
            }
        }
    }
    by_file.into_values().collect()
}

/// How a damaged copy is opened.
#[derive(Debug, Clone, Copy)]
enum How {
    /// `impart::open`: page 0.
    Open,
    /// `TiffOptions::new().page(p)`.
    Tiff(usize),
    /// `OpenOptions::new().page(p)`.
    Options(usize),
}

/// Whether values read from a damaged copy must be right.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Error, or the expectation's shape, type and values.
    Right,
    /// Anything but a panic (the damage may give the file another meaning).
    NoPanic,
}

/// Regions to read from a volume of `shape`: all of it (then, if that
/// fails, its four quadrants) for [`Rule::Right`]; for [`Rule::NoPanic`]
/// its first and last 32 x 32 corner, if that is not too many bytes.
fn regions(shape: &[usize], size: usize, rule: Rule) -> Vec<(Vec<usize>, Vec<usize>)> {
    if shape.len() != 3 || shape.contains(&0) {
        return Vec::new();
    }
    match rule {
        Rule::Right => {
            let (h, w) = (shape[0], shape[1]);
            let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
            let mut out = vec![(vec![0, 0, 0], shape.to_vec())];
            for (r0, rh) in [(0, h2), (h2, h - h2)] {
                for (c0, cw) in [(0, w2), (w2, w - w2)] {
                    if rh > 0 && cw > 0 {
                        out.push((vec![r0, c0, 0], vec![rh, cw, shape[2]]));
                    }
                }
            }
            out
        }
        Rule::NoPanic => {
            let (rh, cw) = (shape[0].min(32), shape[1].min(32));
            let bytes = rh
                .saturating_mul(cw)
                .saturating_mul(shape[2])
                .saturating_mul(size);
            if bytes > 8 << 20 {
                return Vec::new();
            }
            vec![
                (vec![0, 0, 0], vec![rh, cw, shape[2]]),
                (
                    vec![shape[0] - rh, shape[1] - cw, 0],
                    vec![rh, cw, shape[2]],
                ),
            ]
        }
    }
}

/// Opens the copy at `path` as `how` and reads from it; the failure, if the
/// rule is broken.
fn probe(path: &Path, how: How, page: &PageCase, rule: Rule) -> Option<String> {
    quiet_probe_panics();
    let file_len = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let budget = (ALLOC_FACTOR * file_len)
        .max(2 * page.expected.len())
        .max(ALLOC_FLOOR);
    LARGEST.with(|m| m.set(0));
    PROBING.with(|p| p.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Option<String> {
        let volume: Box<dyn Volume> = match how {
            How::Open => match armed(|| impart::open(path)) {
                Ok(v) => Box::new(v),
                Err(_) => return None,
            },
            How::Tiff(p) => match armed(|| TiffOptions::new().page(p).open(path)) {
                Ok(v) => Box::new(v),
                Err(_) => return None,
            },
            How::Options(p) => match armed(|| OpenOptions::new().page(p).open(path)) {
                Ok(v) => Box::new(v),
                Err(_) => return None,
            },
        };
        let same = volume.shape() == page.shape.as_slice() && volume.dtype().name() == page.dtype;
        if rule == Rule::Right && !same {
            return Some(format!(
                "opened as {:?} {}, expected {:?} {}",
                volume.shape(),
                volume.dtype(),
                page.shape,
                page.dtype
            ));
        }
        let size = volume.dtype().size();
        let mut whole_ok = false;
        for (k, (start, ext)) in regions(volume.shape(), size, rule).into_iter().enumerate() {
            if k > 0 && whole_ok {
                break;
            }
            let Ok(region) = impart::Region::new(start.clone(), ext.clone()) else {
                continue;
            };
            let mut out = vec![0u8; ext.iter().product::<usize>() * size];
            let read = armed(|| volume.read_region(&region, &mut out));
            if read.is_ok() && rule == Rule::Right {
                if let Err(e) = compare(
                    &out,
                    &page.expected,
                    &page.shape,
                    &start,
                    &ext,
                    &page.dtype,
                    page.tolerance,
                ) {
                    return Some(format!("region {start:?} + {ext:?} read wrong: {e}"));
                }
            }
            whole_ok = k == 0 && read.is_ok();
        }
        None
    }));
    PROBING.with(|p| p.set(false));
    let largest = LARGEST.with(|m| m.get());
    let failure = match outcome {
        Ok(f) => f,
        Err(_) => Some(format!(
            "PANICKED at {}",
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "?".into())
        )),
    };
    failure.or_else(|| {
        (largest > budget).then(|| {
            format!("asked for {largest} bytes at once (file {file_len} bytes, budget {budget})")
        })
    })
}

/// Every way a fixture's copy is opened: page 0 with `impart::open`, the
/// other pages alternately with `TiffOptions` and `OpenOptions`.
fn hows(fx: &Fixture, turn: usize) -> Vec<(How, &PageCase)> {
    fx.pages
        .iter()
        .map(|(&p, case)| {
            let how = match (p, turn % 2) {
                (0, _) => How::Open,
                (p, 0) => How::Tiff(p),
                (p, _) => How::Options(p),
            };
            (how, case)
        })
        .collect()
}

/// Whether the original file reads right in every way (else its copies
/// cannot be judged; `tests/tiff_fixtures.rs` and `tests/tiff_extra.rs`
/// report it).
fn reads_right(fx: &Fixture, scratch: &Path) -> bool {
    write_copy(scratch, &fx.bytes);
    (0..2).all(|turn| {
        hows(fx, turn)
            .into_iter()
            .all(|(how, page)| probe(scratch, how, page, Rule::Right).is_none())
    })
}

/// Writes a damaged copy over the last one, then cuts it to its length
/// (not `fs::write`: ext4 flushes a file truncated to 0 and written again
/// when it is closed, and a new file per copy costs an inode each time;
/// either made this test wait on the disk).
fn write_copy(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .expect("open the damaged copy");
    f.write_all(bytes).expect("write the damaged copy");
    f.set_len(bytes.len() as u64).expect("cut the damaged copy");
}

/// Tags whose values size a chunk: width, length, bits and samples per
/// pixel, rows per strip, tile width and length.
const GEOMETRY_TAGS: &[u16] = &[256, 257, 258, 277, 278, 322, 323];

/// Why an allocation over the budget is known today (reported, to be
/// fixed in `src/volume/tiff.rs`), or `None` if it is news.
fn known_allocation(m: &Mutation) -> Option<&'static str> {
    match (m.field, m.tag) {
        (Field::Value | Field::Type | Field::Code, Some(t)) if GEOMETRY_TAGS.contains(&t) => Some(
            "a damaged width, length, samples, bits, rows per strip or tile size within what the \
             codec can expand to (LZW 4096:1, deflate 1032:1, PackBits 64:1; zstd, JPEG and WebP \
             have no bound): the chunk's buffer is allocated zeroed, its untouched pages cost no \
             memory, and the decode then fails",
        ),
        _ => None,
    }
}

fn is_known(file: &str, damage: &str) -> bool {
    KNOWN
        .iter()
        .any(|(f, d)| *f == file && damage.starts_with(d))
}

fn report(failures: Vec<String>, checked: usize, what: &str) {
    eprintln!("{what}: {checked} damaged copies opened");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Truncated prefixes

/// The lengths a fixture is cut at.
fn cut_lengths(fx: &Fixture) -> BTreeSet<usize> {
    let size = fx.bytes.len();
    if size <= SMALL_FILE {
        return (0..size).collect();
    }
    let s = &fx.structure;
    let num = |v: &Value| v.as_u64().expect("a structure number") as usize;
    let mut lengths: BTreeSet<usize> = (0..=num(&s["header_bytes"])).collect();
    let (cb, eb, ob) = (
        num(&s["count_bytes"]),
        num(&s["entry_bytes"]),
        num(&s["offset_bytes"]),
    );
    for ifd in s["ifds"].as_array().expect("ifds") {
        // every byte of an IFD, and one either side
        let (off, n) = (num(&ifd[0]), num(&ifd[1]));
        lengths.extend(off.saturating_sub(1)..=off + cb + n * eb + ob + 1);
    }
    for v in s["values"].as_array().expect("values") {
        let (off, len) = (num(&v[0]), num(&v[1]));
        if len <= 64 {
            lengths.extend(off.saturating_sub(1)..=off + len + 1);
        } else {
            // a long value (an offset table, JPEG tables): its ends and
            // every 7th byte
            lengths.extend([off.saturating_sub(1), off + len - 1, off + len]);
            lengths.extend((off..off + len).step_by(7));
        }
    }
    for c in s["chunks"].as_array().expect("chunks") {
        let (off, len) = (num(&c[0]), num(&c[1]));
        lengths.extend([off, off + len / 2, off + len]);
    }
    lengths.extend((0..size).step_by(size.div_ceil(DATA_SAMPLES)));
    lengths.retain(|&n| n < size);
    lengths
}

#[test]
fn truncated_prefixes_are_errors_or_right() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut checked = 0;
    for fx in fixtures() {
        let scratch = tmp.path().join(&fx.file);
        if !reads_right(&fx, &scratch) {
            eprintln!(
                "{}: the whole file does not read right; its prefixes are not judged",
                fx.file
            );
            continue;
        }
        for (turn, n) in cut_lengths(&fx).into_iter().enumerate() {
            write_copy(&scratch, &fx.bytes[..n]);
            for (how, page) in hows(&fx, turn) {
                checked += 1;
                if let Some(f) = probe(&scratch, how, page, Rule::Right) {
                    let damage = format!("cut to {n} bytes");
                    if !is_known(&fx.file, &damage) {
                        failures.push(format!(
                            "{} {damage} (of {}), {how:?}: {f}",
                            fx.file,
                            fx.bytes.len()
                        ));
                    }
                }
            }
        }
    }
    report(failures, checked, "truncated prefixes");
}

// ---------------------------------------------------------------------------
// Mutated headers

/// Tags that change what the pixels are (or which pixels a page has): a
/// mutation of one of them, or into one of them, may change the values.
const PIXEL_TAGS: &[u16] = &[
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 274, 277, 278, 279, 280, 281, 284, 290, 291,
    292, 293, 301, 317, 318, 319, 320, 322, 323, 324, 325, 332, 334, 338, 339, 340, 341, 347, 512,
    513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532, 32995, 32996, 32997, 32998, 34887,
    50674,
];

/// Which part of the header or IFD a mutation damages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Header,
    EntryCount,
    /// An entry's tag code (the entry's tag is then the new code).
    Code,
    Type,
    Count,
    Value,
    NextIfd,
}

struct Mutation {
    offset: usize,
    bytes: Vec<u8>,
    what: String,
    field: Field,
    /// The damaged entry's tag (after the damage).
    tag: Option<u16>,
    /// The rule for page 0 (whose IFD is damaged).
    rule: Rule,
    /// The rule for the file's other pages: their IFDs are whole, so they
    /// must read right unless the damage is to the header or the chain.
    others: Rule,
}

/// Reads an unsigned number of `width` bytes at `at` in the file's order.
fn uint(bytes: &[u8], at: usize, width: usize, big: bool) -> u64 {
    let mut v = 0u64;
    for i in 0..width {
        let b = u64::from(bytes[at + if big { i } else { width - 1 - i }]);
        v = (v << 8) | b;
    }
    v
}

fn encode(v: u64, width: usize, big: bool) -> Vec<u8> {
    let le = v.to_le_bytes();
    let mut out = le[..width].to_vec();
    if big {
        out.reverse();
    }
    out
}

/// Each byte of `range` set to 0, 0xFF and its value + 1.
fn bytewise(
    out: &mut Vec<Mutation>,
    b: &[u8],
    range: std::ops::Range<usize>,
    (what, field, tag): (&str, Field, Option<u16>),
    rule: &dyn Fn(usize, u8) -> Rule,
    others: Rule,
) {
    for at in range {
        let old = b[at];
        for new in [0x00, 0xFF, old.wrapping_add(1)] {
            if new != old {
                out.push(Mutation {
                    offset: at,
                    bytes: vec![new],
                    what: format!("{what}: byte {at} {old:#04x} -> {new:#04x}"),
                    field,
                    tag,
                    rule: rule(at, new),
                    others,
                });
            }
        }
    }
}

/// The mutations of a fixture's header and first IFD.
fn mutations(fx: &Fixture) -> Vec<Mutation> {
    let b = &fx.bytes;
    let s = &fx.structure;
    let big = &b[..2] == b"MM";
    let bigtiff = s["header_bytes"] == 16;
    let width = |key: &str| s[key].as_u64().expect("structure") as usize;
    let (cb, eb, ob) = (
        width("count_bytes"),
        width("entry_bytes"),
        width("offset_bytes"),
    );
    let first = uint(b, if bigtiff { 8 } else { 4 }, ob, big) as usize;
    let n = uint(b, first, cb, big) as usize;
    // tifffile's record names this IFD
    assert!(
        s["ifds"]
            .as_array()
            .expect("ifds")
            .iter()
            .any(|i| i[0].as_u64() == Some(first as u64) && i[1].as_u64() == Some(n as u64)),
        "{}: first IFD at {first} with {n} entries is not in the structure record",
        fx.file
    );
    let mut out = Vec::new();
    let any = |_: usize, _: u8| Rule::NoPanic;
    bytewise(
        &mut out,
        b,
        0..width("header_bytes"),
        ("header", Field::Header, None),
        &any,
        Rule::NoPanic,
    );
    bytewise(
        &mut out,
        b,
        first..first + cb,
        ("IFD entry count", Field::EntryCount, None),
        &any,
        Rule::NoPanic,
    );
    let entries = first + cb;
    for k in 0..n {
        let e = entries + k * eb;
        let tag = uint(b, e, 2, big) as u16;
        let neutral = !PIXEL_TAGS.contains(&tag);
        // a new tag code: neutral if the code it makes is neutral too
        let new_code = |at: usize, new: u8| {
            let mut c = [b[e], b[e + 1]];
            c[at - e] = new;
            if big {
                u16::from_be_bytes(c)
            } else {
                u16::from_le_bytes(c)
            }
        };
        let code = |at: usize, new: u8| {
            if neutral && !PIXEL_TAGS.contains(&new_code(at, new)) {
                Rule::Right
            } else {
                Rule::NoPanic
            }
        };
        let what = format!("entry {k} (tag {tag})");
        bytewise(
            &mut out,
            b,
            e..e + 2,
            (&format!("{what} code"), Field::Code, Some(tag)),
            &code,
            Rule::Right,
        );
        let from = out.len()
            - out
                .iter()
                .rev()
                .take_while(|m| m.field == Field::Code)
                .count();
        for m in &mut out[from..] {
            m.tag = Some(new_code(m.offset, m.bytes[0]));
        }
        let rule = if neutral { Rule::Right } else { Rule::NoPanic };
        let fixed = |_: usize, _: u8| rule;
        bytewise(
            &mut out,
            b,
            e + 2..e + 4,
            (&format!("{what} type"), Field::Type, Some(tag)),
            &fixed,
            Rule::Right,
        );
        bytewise(
            &mut out,
            b,
            e + 4..e + 4 + ob,
            (&format!("{what} count"), Field::Count, Some(tag)),
            &fixed,
            Rule::Right,
        );
        bytewise(
            &mut out,
            b,
            e + 4 + ob..e + eb,
            (&format!("{what} value"), Field::Value, Some(tag)),
            &fixed,
            Rule::Right,
        );
        for huge in [u64::MAX >> (64 - 8 * ob), 1 << (8 * ob - 2), b.len() as u64] {
            out.push(Mutation {
                offset: e + 4,
                bytes: encode(huge, ob, big),
                what: format!("{what} count -> {huge}"),
                field: Field::Count,
                tag: Some(tag),
                rule,
                others: Rule::Right,
            });
        }
    }
    let next = entries + n * eb;
    bytewise(
        &mut out,
        b,
        next..next + ob,
        ("next-IFD offset", Field::NextIfd, None),
        &any,
        Rule::NoPanic,
    );
    out
}

#[test]
fn mutated_headers_are_errors_or_right() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut known: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for fx in fixtures() {
        let scratch = tmp.path().join(&fx.file);
        if !reads_right(&fx, &scratch) {
            eprintln!(
                "{}: the whole file does not read right; its mutations are not judged",
                fx.file
            );
            continue;
        }
        // the first IFD is page 0's; the last page the cases name, if
        // another, is read too (alternately through TiffOptions and
        // OpenOptions)
        let page0 = &fx.pages[&0];
        let last = fx.pages.values().next_back().filter(|p| p.page != 0);
        for (turn, m) in mutations(&fx).into_iter().enumerate() {
            let mut bytes = fx.bytes.clone();
            bytes[m.offset..m.offset + m.bytes.len()].copy_from_slice(&m.bytes);
            write_copy(&scratch, &bytes);
            let mut ways = vec![(How::Open, page0, m.rule)];
            if let Some(p) = last {
                let how = if turn % 2 == 0 {
                    How::Tiff(p.page)
                } else {
                    How::Options(p.page)
                };
                ways.push((how, p, m.others));
            }
            for (how, page, rule) in ways {
                checked += 1;
                let Some(f) = probe(&scratch, how, page, rule) else {
                    continue;
                };
                let line = format!("{} {}, {how:?} ({rule:?}): {f}", fx.file, m.what);
                match known_allocation(&m) {
                    Some(why) if f.starts_with("asked for") => {
                        known.entry(why).or_default().push(line)
                    }
                    _ if is_known(&fx.file, &m.what) => {}
                    _ => failures.push(line),
                }
            }
        }
    }
    for (why, lines) in &known {
        eprintln!(
            "known, {} damaged copies: {why}\n    for example: {}",
            lines.len(),
            lines[0]
        );
    }
    report(failures, checked, "mutated headers");
}
