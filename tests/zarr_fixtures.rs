//! Zarr v2 and v3 arrays written by zarr-python, read back through impart.
//!
//! `data-scripts/make_zarr_fixtures.py` writes small arrays with zarr-python
//! 3.1 into `tests/data/zarr` (every dtype impart reads in both formats; zstd,
//! blosc, gzip, no compressor, transpose, big-endian bytes, crc32c, sharding;
//! v2 in C and F order with both dimension separators and big-endian dtypes;
//! partial edge chunks; missing chunks with a non-zero fill value; arrays in
//! groups), arrays of types impart must refuse, and broken arrays, plus a
//! manifest `expected.json` with, for every cell of a stride-0.5 grid and for
//! the whole array, the region and a digest of its voxels as zarr-python's
//! slicing gives them: sum, absolute sum, min, max, first and last value,
//! and the order-sensitive checksum of `make_raw_fixtures.py` (see
//! `common::checksum`, `tests/common/mod.rs`).
//!
//! Beyond the values, the tests hold the backend to its promises: no
//! zero-copy view, a region decodes only the chunks it touches, and a
//! parallel walk over all cells decodes each chunk once
//! ([`ZarrVolume::decoded_chunks`]).
#![cfg(feature = "zarr")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{
    check_content, check_grid, check_listing, check_selected, checksum, chunks_of, chunks_touched,
    f64_of, field, load_manifest, no_panic, region_of, report, same_bits, str_of, usizes, Ctx,
};
use impart::{DType, Error, Partition, Region, Volume, ZarrVolume};
use ndarray::ArrayD;
use serde_json::Value;

const FORMAT: u64 = 1;

// ---------------------------------------------------------------------------
// One array

struct Case {
    name: String,
    zarr_format: u64,
    path: PathBuf,
    /// `(store, array path)` for arrays inside a group.
    in_store: Option<(PathBuf, String)>,
    shape: Vec<usize>,
    dtype: DType,
    chunks: Vec<usize>,
    sharded: bool,
    cell: Vec<usize>,
    stride: f64,
}

impl Case {
    fn parse(dir: &Path, v: &Value) -> Case {
        let name = str_of(v, "name").to_string();
        let in_store = v
            .get("store")
            .and_then(Value::as_str)
            .map(|s| (dir.join(s), str_of(v, "array_path").to_string()));
        Case {
            zarr_format: field(v, "zarr_format").as_u64().expect("zarr_format"),
            path: dir.join(str_of(v, "path")),
            in_store,
            shape: usizes(field(v, "shape")),
            dtype: str_of(v, "dtype")
                .parse()
                .unwrap_or_else(|e| panic!("{name}: dtype: {e}")),
            chunks: usizes(field(v, "chunks")),
            sharded: !field(v, "shards").is_null(),
            cell: usizes(field(v, "cell")),
            stride: f64_of(field(v, "stride")),
            name,
        }
    }

    fn open(&self) -> impart::Result<ZarrVolume> {
        match &self.in_store {
            Some((store, array)) => ZarrVolume::open_in(store, array),
            None => ZarrVolume::open(&self.path),
        }
    }

    fn partition(&self) -> impart::Result<Partition<ZarrVolume>> {
        Partition::builder(self.open()?)
            .cell(&self.cell)
            .stride(self.stride)
            .build()
    }
}

fn cases(manifest: &Value, dir: &Path) -> Vec<(Case, Value)> {
    field(manifest, "cases")
        .as_array()
        .expect("cases")
        .iter()
        .map(|v| (Case::parse(dir, v), v.clone()))
        .collect()
}

/// Checks one array against the manifest; returns the failures.
fn check_case(case: &Case, v: &Value) -> Vec<String> {
    let mut ctx = Ctx::new("zarr-python", &case.name);
    let mut failures = Vec::new();
    let vol = match case.open() {
        Ok(vol) => vol,
        Err(e) => return vec![ctx.fail(format!("open failed: {e}"))],
    };
    if vol.shape() != case.shape.as_slice() {
        failures.push(ctx.fail(format!(
            "shape {:?}, zarr-python's is {:?}",
            vol.shape(),
            case.shape
        )));
        return failures;
    }
    if vol.dtype() != case.dtype {
        failures.push(ctx.fail(format!(
            "dtype {}, the manifest says {} (zarr {})",
            vol.dtype(),
            case.dtype,
            field(v, "zarr_dtype")
        )));
        return failures;
    }
    if vol.chunk_shape() != case.chunks.as_slice() {
        failures.push(ctx.fail(format!(
            "chunk_shape() is {:?}, the {} is {:?}",
            vol.chunk_shape(),
            if case.sharded {
                "inner chunk shape"
            } else {
                "chunk shape"
            },
            case.chunks
        )));
    }
    if vol.layout().is_some() {
        failures.push(ctx.fail("layout() is Some: a Zarr array has no addressable voxels"));
    }

    // The whole array, as one cell.
    ctx.item = "full array".into();
    match Partition::builder(&vol).cell(&case.shape).build() {
        Ok(whole) => match whole.select("...") {
            Ok(sel) => check_selected(
                &ctx,
                &sel,
                case.dtype,
                false,
                field(v, "full"),
                &mut failures,
            ),
            Err(e) => failures.push(ctx.fail(format!("select(\"...\") failed: {e}"))),
        },
        Err(e) => failures.push(ctx.fail(format!("partition failed: {e}"))),
    }

    // Every cell of the stride grid.
    ctx.item = String::new();
    let part = match Partition::builder(&vol)
        .cell(&case.cell)
        .stride(case.stride)
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            failures.push(ctx.fail(format!("partition failed: {e}")));
            return failures;
        }
    };
    if !check_grid(&ctx, &part, v, &mut failures) {
        return failures;
    }
    let cells = field(v, "cells").as_array().expect("cells");
    for entry in cells {
        let index = usizes(field(entry, "index"));
        ctx.item = format!("cell {index:?}");
        match part.cell(&index) {
            Ok(sel) => check_selected(&ctx, &sel, case.dtype, false, entry, &mut failures),
            Err(e) => failures.push(ctx.fail(format!("cell() failed: {e}"))),
        }
    }
    // The listing is complete: `cells("...")` walks it in the same order.
    ctx.item = String::new();
    check_listing(&ctx, &part, cells, &mut failures);
    failures
}

// ---------------------------------------------------------------------------
// Loading

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zarr")
}

fn load(dir: &Path) -> Value {
    load_manifest(
        &dir.join("expected.json"),
        FORMAT,
        "generate it with data-scripts/make_zarr_fixtures.py",
    )
}

// ---------------------------------------------------------------------------
// Tests

/// Shape, dtype, chunk shape, every cell and the whole array of every
/// readable fixture, as zarr-python reads them.
#[test]
fn fixtures_read_as_zarr_python_reads_them() {
    let dir = dir();
    let manifest = load(&dir);
    let cases = cases(&manifest, &dir);
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|(case, v)| {
            no_panic(&case.name, || check_case(case, v)).unwrap_or_else(|p| vec![p])
        })
        .collect();
    report("reading the zarr-python fixtures", failures);
    eprintln!("checked {} zarr-python fixtures", cases.len());
}

/// An array in a group reads the same through `open_in(store, path)` and
/// `open(store/path)`.
#[test]
fn open_in_a_group_equals_open_of_the_array_directory() {
    let dir = dir();
    let manifest = load(&dir);
    let mut n = 0;
    let mut failures = Vec::new();
    for (case, v) in cases(&manifest, &dir) {
        let Some((store, array)) = &case.in_store else {
            continue;
        };
        n += 1;
        let r = no_panic(
            &case.name,
            || -> impart::Result<(ArrayD<f64>, ArrayD<f64>)> {
                let a = Partition::builder(ZarrVolume::open_in(store, array)?)
                    .cell(&case.shape)
                    .build()?
                    .select("...")?
                    .to_array_as::<f64>()?;
                let b = Partition::builder(ZarrVolume::open(store.join(array))?)
                    .cell(&case.shape)
                    .build()?
                    .select("...")?
                    .to_array_as::<f64>()?;
                Ok((a, b))
            },
        );
        match r {
            Ok(Ok((a, b))) => {
                if !same_bits(&a, &b) {
                    failures.push(format!("{}: open_in and open read differently", case.name));
                }
                let ctx = Ctx {
                    source: "zarr-python",
                    case: &case.name,
                    item: "open(store/path)".into(),
                };
                check_content(
                    &ctx,
                    !case.dtype.is_float(),
                    &b,
                    field(&v, "full"),
                    &mut failures,
                );
            }
            Ok(Err(e)) => failures.push(format!("{}: {e}", case.name)),
            Err(p) => failures.push(p),
        }
        // the group itself is not an array
        match no_panic(&case.name, || ZarrVolume::open(store)) {
            Ok(Ok(_)) => failures.push(format!(
                "{}: open({}) of a group succeeded",
                case.name,
                store.display()
            )),
            Ok(Err(_)) => {}
            Err(p) => failures.push(p),
        }
        match no_panic(&case.name, || ZarrVolume::open_in(store, "no/such/array")) {
            Ok(Ok(_)) => failures.push(format!(
                "{}: open_in(.., \"no/such/array\") succeeded",
                case.name
            )),
            Ok(Err(_)) => {}
            Err(p) => failures.push(p),
        }
    }
    assert!(n >= 3, "too few group fixtures");
    report("opening arrays in groups", failures);
}

/// A parallel walk over all cells reads what zarr-python reads, and decodes
/// each chunk (each inner chunk of a sharded array) exactly once: the
/// number of decodes equals the number of distinct chunks the cells touch.
#[test]
fn par_map_cells_decodes_each_chunk_once() {
    let dir = dir();
    let manifest = load(&dir);
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for (case, v) in cases(&manifest, &dir) {
        let r = no_panic(&case.name, || walk_and_count(&case, &v));
        match r {
            Ok(Ok(line)) => lines.push(line),
            Ok(Err(mut f)) => failures.append(&mut f),
            Err(p) => failures.push(p),
        }
    }
    for l in &lines {
        eprintln!("{l}");
    }
    report("walking all cells in parallel", failures);
}

fn walk_and_count(case: &Case, v: &Value) -> Result<String, Vec<String>> {
    let ctx = Ctx {
        source: "zarr-python",
        case: &case.name,
        item: "par_map_cells".into(),
    };
    let fail = |m: String| vec![ctx.fail(m)];
    let part = case
        .partition()
        .map_err(|e| fail(format!("open/partition failed: {e}")))?;
    let unit = part.volume().chunk_shape().to_vec();
    let cells = field(v, "cells").as_array().expect("cells");
    let touched = chunks_touched(cells, &unit);
    let want: BTreeMap<Vec<usize>, String> = cells
        .iter()
        .map(|c| (usizes(field(c, "index")), str_of(c, "checksum").to_string()))
        .collect();

    part.volume().reset_decoded_chunks();
    let got = part
        .par_map_cells::<f64, _, _>("...", |cell, view| {
            (cell.index(), format!("{:016x}", checksum(view.iter())))
        })
        .map_err(|e| fail(format!("failed: {e}")))?;
    let walk_decodes = part.volume().decoded_chunks();

    let mut failures = Vec::new();
    if got.len() != want.len() {
        failures.push(ctx.fail(format!("{} results for {} cells", got.len(), want.len())));
    }
    for (index, sum) in &got {
        match want.get(index) {
            Some(w) if w == sum => {}
            Some(w) => failures.push(ctx.fail(format!(
                "cell {index:?}: checksum {sum}, zarr-python says {w}"
            ))),
            None => failures.push(ctx.fail(format!("cell {index:?} is not in the grid"))),
        }
    }
    if walk_decodes != touched.len() as u64 {
        failures.push(ctx.fail(format!(
            "{walk_decodes} chunk decodes in one walk; the cells touch {} chunks of shape \
             {unit:?} (each should be decoded exactly once)",
            touched.len()
        )));
    }

    // The same cells one by one: no walk, so no reuse across cells.
    part.volume().reset_decoded_chunks();
    for sel in part
        .cells("...")
        .map_err(|e| fail(format!("cells failed: {e}")))?
    {
        sel.to_array_as::<f64>()
            .map_err(|e| fail(format!("cell {:?}: to_array_as failed: {e}", sel.index())))?;
    }
    let loop_decodes = part.volume().decoded_chunks();
    let per_cell: u64 = cells
        .iter()
        .map(|c| chunks_of(&region_of(c), &unit).len() as u64)
        .sum();
    if loop_decodes < touched.len() as u64 || loop_decodes > per_cell {
        failures.push(ctx.fail(format!(
            "{loop_decodes} decodes reading cell by cell; expected between {} (each chunk \
             once) and {per_cell} (each cell's chunks)",
            touched.len()
        )));
    }
    if failures.is_empty() {
        Ok(format!(
            "{:<34} {:>3} cells, {:>3} chunks {:?}: walk {:>3} decodes, cell by cell {:>3}",
            case.name,
            cells.len(),
            touched.len(),
            unit,
            walk_decodes,
            loop_decodes
        ))
    } else {
        Err(failures)
    }
}

/// Outside a walk, reading one region decodes exactly the chunks it touches.
#[test]
fn a_region_decodes_only_the_chunks_it_touches() {
    let dir = dir();
    let manifest = load(&dir);
    let mut failures = Vec::new();
    for (case, v) in cases(&manifest, &dir) {
        let r = no_panic(&case.name, || -> Result<(), String> {
            let part = case.partition().map_err(|e| e.to_string())?;
            let unit = part.volume().chunk_shape().to_vec();
            let cells = field(&v, "cells").as_array().expect("cells");
            // first, middle and last cell, and one a quarter in
            for k in [0, cells.len() / 4, cells.len() / 2, cells.len() - 1] {
                let entry = &cells[k];
                let index = usizes(field(entry, "index"));
                let sel = part.cell(&index).map_err(|e| e.to_string())?;
                let want = chunks_of(sel.region(), &unit).len() as u64;
                part.volume().reset_decoded_chunks();
                sel.to_array_as::<f64>().map_err(|e| e.to_string())?;
                let got = part.volume().decoded_chunks();
                if got != want {
                    return Err(format!(
                        "cell {index:?} at {} decoded {got} chunks; it touches {want} of shape \
                         {unit:?}",
                        sel.region()
                    ));
                }
            }
            Ok(())
        });
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", case.name)),
            Err(p) => failures.push(p),
        }
    }
    report("counting the chunks a region decodes", failures);
}

/// The claim, on one array: with overlapping cells that do not line
/// up with chunks, reading cell by cell decodes chunks several times; the
/// parallel walk decodes each once.
#[test]
fn overlapping_cells_share_chunks_in_a_walk() {
    let dir = dir();
    let manifest = load(&dir);
    let (case, _) = cases(&manifest, &dir)
        .into_iter()
        .find(|(c, _)| c.name == "v3_u16_zstd_3d")
        .expect("fixture v3_u16_zstd_3d");
    let part = case.partition().expect("open");
    let unit = part.volume().chunk_shape().to_vec();
    let touched: BTreeSet<Vec<usize>> = part
        .cells("...")
        .expect("cells")
        .flat_map(|s| chunks_of(s.region(), &unit))
        .collect();
    // every chunk of the array: the cells cover it
    let all = chunks_of(&Region::full(&case.shape), &unit).len();
    assert_eq!(touched.len(), all);

    part.volume().reset_decoded_chunks();
    let sums = part
        .par_map_cells::<u16, _, _>("...", |_, view| view.iter().map(|&x| x as u64).sum::<u64>())
        .expect("walk");
    let walk = part.volume().decoded_chunks();
    part.volume().reset_decoded_chunks();
    let mut loop_sums = Vec::new();
    for sel in part.cells("...").expect("cells") {
        let a = sel.to_array::<u16>().expect("to_array");
        loop_sums.push(a.iter().map(|&x| x as u64).sum::<u64>());
    }
    let looped = part.volume().decoded_chunks();
    assert_eq!(
        sums, loop_sums,
        "the walk and the loop read different values"
    );
    eprintln!(
        "{}: {} cells over {all} chunks: walk {walk} decodes, cell by cell {looped}",
        case.name,
        part.len()
    );
    assert_eq!(walk, all as u64, "the walk must decode each chunk once");
    assert!(
        looped > walk,
        "reading cell by cell decoded {looped} chunks, the walk {walk}: the fixture no longer \
         shows chunk reuse"
    );
}

/// A caller's buffer (one slot of a batch) is filled like an owned array.
#[test]
fn read_into_a_batch_slot() {
    let dir = dir();
    let manifest = load(&dir);
    for name in ["v2_u16_be_zstd_f_slash", "v3_f32_sharded_3d"] {
        let (case, v) = cases(&manifest, &dir)
            .into_iter()
            .find(|(c, _)| c.name == name)
            .unwrap_or_else(|| panic!("fixture {name}"));
        let part = case.partition().expect("open");
        let cells = field(&v, "cells").as_array().expect("cells");
        let mut batch = ndarray::Array::<f64, _>::zeros(
            std::iter::once(cells.len())
                .chain(case.cell.iter().copied())
                .collect::<Vec<_>>(),
        );
        let mut filled = Vec::new();
        for (k, entry) in cells.iter().enumerate() {
            let sel = part.cell(&usizes(field(entry, "index"))).expect("cell");
            if sel.shape() != case.cell {
                continue; // a clipped border cell does not fit a batch slot
            }
            sel.read_into(batch.index_axis_mut(ndarray::Axis(0), k))
                .expect("read_into");
            filled.push(k);
        }
        assert!(!filled.is_empty());
        let mut failures = Vec::new();
        for k in filled {
            let ctx = Ctx {
                source: "zarr-python",
                case: name,
                item: format!("batch slot {k}"),
            };
            let slot = batch.index_axis(ndarray::Axis(0), k).to_owned();
            check_content(
                &ctx,
                !case.dtype.is_float(),
                &slot,
                &cells[k],
                &mut failures,
            );
        }
        report("reading into a batch", failures);
    }
}

/// Arrays of element types impart does not read are refused when opened,
/// with an error that names the array (never a panic).
#[test]
fn unsupported_types_are_refused() {
    let dir = dir();
    let manifest = load(&dir);
    let refused = field(&manifest, "refused").as_array().expect("refused");
    assert!(refused.len() >= 8);
    let mut failures = Vec::new();
    for v in refused {
        let name = str_of(v, "name");
        let path = dir.join(str_of(v, "path"));
        let why = format!("{} ({})", str_of(v, "why"), field(v, "zarr_dtype"));
        match no_panic(name, || ZarrVolume::open(&path)) {
            Err(p) => failures.push(p),
            Ok(Ok(vol)) => failures.push(format!(
                "{name}: a {why} array opened as {} {:?}; it must be refused",
                vol.dtype(),
                vol.shape()
            )),
            Ok(Err(e)) => {
                let msg = e.to_string();
                let typed = matches!(e, Error::UnsupportedDType { .. });
                if !typed && !msg.contains(name) {
                    failures.push(format!(
                        "{name}: refused with an error that is neither UnsupportedDType nor \
                         names the array: {msg}"
                    ));
                }
                eprintln!(
                    "{name}: {why}: {} {msg}",
                    if typed {
                        "UnsupportedDType:"
                    } else {
                        "other error:"
                    }
                );
            }
        }
    }
    report("refusing unsupported types", failures);
}

/// Broken arrays: metadata errors fail at open; a chunk that does not decode
/// fails the reads that touch it, and only those (never a panic).
#[test]
fn broken_arrays_fail_cleanly() {
    let dir = dir();
    let manifest = load(&dir);
    let broken = field(&manifest, "broken").as_array().expect("broken");
    let mut failures = Vec::new();
    for v in broken {
        let name = str_of(v, "name");
        let path = dir.join(str_of(v, "path"));
        let opened = match no_panic(name, || ZarrVolume::open(&path)) {
            Err(p) => {
                failures.push(p);
                continue;
            }
            Ok(r) => r,
        };
        let opens = field(v, "opens").as_bool().expect("opens");
        let vol = match (opened, opens) {
            (Err(e), false) => {
                if !e.to_string().contains(name) {
                    failures.push(format!("{name}: the error does not name the array: {e}"));
                }
                eprintln!("{name}: {}: {e}", str_of(v, "why"));
                continue;
            }
            (Ok(_), false) => {
                failures.push(format!(
                    "{name}: opened, but {}: it must be an error",
                    str_of(v, "why")
                ));
                continue;
            }
            (Err(e), true) => {
                failures.push(format!(
                    "{name}: open failed ({e}); only reads touching the broken chunk should fail"
                ));
                continue;
            }
            (Ok(vol), true) => vol,
        };
        let part = match Partition::builder(vol)
            .cell(&usizes(field(v, "cell")))
            .stride(f64_of(field(v, "stride")))
            .build()
        {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: partition failed: {e}"));
                continue;
            }
        };
        let dtype: DType = str_of(v, "dtype").parse().expect("dtype");
        for entry in field(v, "cells").as_array().expect("cells") {
            let index = usizes(field(entry, "index"));
            let ctx = Ctx {
                source: "zarr-python",
                case: name,
                item: format!("cell {index:?}"),
            };
            let r = no_panic(name, || {
                part.cell(&index).and_then(|s| s.to_array_as::<f64>())
            });
            let bad = entry.get("error").and_then(Value::as_bool) == Some(true);
            match (r, bad) {
                (Err(p), _) => failures.push(ctx.fail(p)),
                (Ok(Err(e)), true) => {
                    eprintln!("{name} cell {index:?}: {e}");
                    if !e.to_string().contains(name) {
                        failures.push(ctx.fail(format!("the error does not name the array: {e}")));
                    }
                }
                (Ok(Ok(_)), true) => failures.push(ctx.fail(format!(
                    "read succeeded over the {} chunk",
                    str_of(v, "why")
                ))),
                (Ok(Err(e)), false) => failures.push(ctx.fail(format!(
                    "read failed ({e}) though the cell does not touch the broken chunk"
                ))),
                (Ok(Ok(arr)), false) => {
                    check_content(&ctx, !dtype.is_float(), &arr, entry, &mut failures)
                }
            }
        }
        // a walk over all cells reports the error
        match no_panic(name, || {
            part.par_map_cells::<f64, _, _>("...", |_, v| v.len())
        }) {
            Err(p) => failures.push(p),
            Ok(Ok(_)) => failures.push(format!("{name}: a walk over the broken chunk succeeded")),
            Ok(Err(_)) => {}
        }
    }
    report("reading broken arrays", failures);
}

/// Paths that are not Zarr arrays.
#[test]
fn paths_that_are_not_arrays_are_errors() {
    let dir = dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let file = dir.join("expected.json");
    let missing = dir.join("no_such_array");
    for (what, r) in [
        (
            "a missing path",
            no_panic("missing", || ZarrVolume::open(&missing)),
        ),
        (
            "an empty directory",
            no_panic("empty", || ZarrVolume::open(&empty)),
        ),
        ("a file", no_panic("file", || ZarrVolume::open(&file))),
        (
            "a missing array in a store",
            no_panic("open_in", || ZarrVolume::open_in(&dir, "no_such_array")),
        ),
        (
            "an empty array path",
            no_panic("open_in", || ZarrVolume::open_in(dir.join("v2_group"), "")),
        ),
    ] {
        match r {
            Err(p) => panic!("{what}: {p}"),
            Ok(Ok(v)) => panic!("{what}: opened as {:?} {}", v.shape(), v.dtype()),
            Ok(Err(e)) => eprintln!("{what}: {e}"),
        }
    }
}

/// The committed set keeps covering what the script promises.
#[test]
fn fixtures_cover_the_matrix() {
    let dir = dir();
    let manifest = load(&dir);
    let cases = cases(&manifest, &dir);
    let codecs = |v: &Value| -> Vec<String> {
        field(v, "codecs")
            .as_array()
            .expect("codecs")
            .iter()
            .map(|c| c.as_str().expect("codec name").to_string())
            .collect()
    };
    for fmt in [2, 3] {
        let of = |f: &dyn Fn(&Case, &Value) -> bool| {
            cases.iter().any(|(c, v)| c.zarr_format == fmt && f(c, v))
        };
        for d in DType::ALL {
            assert!(of(&|c, _| c.dtype == d), "no v{fmt} {d} fixture");
        }
        for codec in ["zstd", "blosc", "gzip"] {
            assert!(
                of(&|_, v| codecs(v).iter().any(|c| c.contains(codec))),
                "no v{fmt} {codec} fixture"
            );
        }
        assert!(
            of(&|_, v| !codecs(v)
                .iter()
                .any(|c| ["zstd", "blosc", "gzip"].iter().any(|k| c.contains(k)))),
            "no uncompressed v{fmt} fixture"
        );
        assert!(
            of(&|c, _| c.shape.iter().zip(&c.chunks).any(|(d, k)| d % k != 0)),
            "no v{fmt} fixture with partial edge chunks"
        );
        assert!(
            of(&|_, v| field(v, "missing_chunks").as_u64() > Some(0)
                && f64_of(field(v, "fill_value")) != 0.0),
            "no v{fmt} fixture with missing chunks and a non-zero fill value"
        );
        assert!(
            of(&|c, _| c.in_store.is_some()),
            "no v{fmt} array in a group"
        );
        assert!(
            of(&|c, _| c.cell.len() < c.shape.len()),
            "no v{fmt} carried axis"
        );
    }
    let v2 = |f: &dyn Fn(&Value) -> bool| cases.iter().any(|(c, v)| c.zarr_format == 2 && f(v));
    for order in ["C", "F"] {
        assert!(
            v2(&|v| str_of(v, "order") == order),
            "no v2 {order}-order fixture"
        );
    }
    for sep in [".", "/"] {
        assert!(
            v2(&|v| str_of(v, "separator") == sep),
            "no v2 {sep:?} separator fixture"
        );
    }
    assert!(
        v2(&|v| str_of(v, "zarr_dtype").starts_with('>')),
        "no big-endian v2 fixture"
    );
    for codec in ["sharding_indexed", "transpose", "crc32c", "bytes(big)"] {
        assert!(
            cases
                .iter()
                .any(|(_, v)| codecs(v).iter().any(|c| c.starts_with(codec))),
            "no v3 {codec} fixture"
        );
    }
    assert!(cases
        .iter()
        .any(|(c, v)| c.sharded && field(v, "missing_chunks").as_u64() > Some(0)));
    let refused: Vec<&str> = field(&manifest, "refused")
        .as_array()
        .expect("refused")
        .iter()
        .map(|v| str_of(v, "why"))
        .collect();
    for why in ["bool", "complex", "float16", "string"] {
        assert!(
            refused.iter().filter(|w| w.contains(why)).count() >= 2,
            "no v2 and v3 {why} fixtures to refuse"
        );
    }
}

/// `read_region` into a buffer that is not aligned for the element type
/// takes the run-by-run copy instead of the copy engine; both give the
/// same bytes.
#[test]
fn read_region_into_a_misaligned_buffer() {
    let dir = dir();
    for name in [
        "v3_f64_gzip_3d",
        "v2_u16_le_zstd_c_dot",
        "v3_i32_transpose_be_crc32c_3d",
    ] {
        let volume = ZarrVolume::open(dir.join(name)).expect("open");
        let shape = volume.shape().to_vec();
        let start: Vec<usize> = shape.iter().map(|&n| n / 5).collect();
        let extent: Vec<usize> = shape.iter().map(|&n| (n - n / 5).min(n / 2 + 3)).collect();
        let region = Region::new(start, extent).expect("region");
        let n = region.voxels().unwrap() * volume.dtype().size();
        let mut aligned = vec![0u64; n / 8 + 2];
        let aligned = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut aligned)[..n];
        volume.read_region(&region, aligned).expect("aligned read");
        let mut shifted = vec![0u64; n / 8 + 2];
        let shifted = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut shifted)[1..n + 1];
        volume
            .read_region(&region, shifted)
            .expect("misaligned read");
        assert_eq!(aligned, shifted, "{name}");
        assert!(aligned.iter().any(|&b| b != 0), "{name}: all zero");
    }
}
