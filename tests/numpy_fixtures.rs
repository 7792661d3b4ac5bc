//! Raw volumes written by NumPy, read back through impart.
//!
//! `data-scripts/make_raw_fixtures.py` writes raw files with NumPy (every
//! dtype, both byte orders, C and F order, header offsets including the
//! misaligning 7) and a manifest `cases.json` with, per case, the grid NumPy
//! and the original impart formulas expect and, per listed cell or selection,
//! its region plus a digest of its voxels computed by NumPy: sum, absolute
//! sum, min, max, first and last value, and an order-sensitive 64-bit
//! checksum of the values as `f64` in C order (defined in the script's
//! docstring and in `common::checksum`, `tests/common/mod.rs`).
//!
//! The committed set lives in `tests/data/raw`. If `IMPART_FIXTURES_DIR` is
//! set, the set found there is checked as well (CI generates the larger set
//! with `make_raw_fixtures.py --large` at test time).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{
    check_grid, check_listing, check_selected, env_dir, f64s_or_one, field, load_manifest, report,
    str_of, usizes, Ctx,
};
use impart::{ByteOrder, DType, MemoryOrder, Partition, RawOptions, RawVolume};
use serde_json::Value;

const FORMAT: u64 = 1;

// ---------------------------------------------------------------------------
// One case

struct Case {
    name: String,
    file: PathBuf,
    shape: Vec<usize>,
    dtype: DType,
    order: MemoryOrder,
    byte_order: ByteOrder,
    offset: u64,
    cell: Vec<usize>,
    stride: Vec<f64>,
    stride_is_scalar: bool,
}

impl Case {
    fn parse(dir: &Path, v: &Value) -> Case {
        let name = str_of(v, "name").to_string();
        let stride = field(v, "stride");
        Case {
            file: dir.join(str_of(v, "file")),
            shape: usizes(field(v, "shape")),
            dtype: str_of(v, "dtype")
                .parse()
                .unwrap_or_else(|e| panic!("{name}: dtype: {e}")),
            order: str_of(v, "order")
                .parse()
                .unwrap_or_else(|e| panic!("{name}: order: {e}")),
            byte_order: str_of(v, "byte_order")
                .parse()
                .unwrap_or_else(|e| panic!("{name}: byte order: {e}")),
            offset: field(v, "offset").as_u64().expect("offset"),
            cell: usizes(field(v, "cell")),
            stride: f64s_or_one(stride),
            stride_is_scalar: stride.is_number(),
            name,
        }
    }

    fn open(&self) -> impart::Result<RawVolume> {
        RawOptions::new(&self.shape, self.dtype)
            .byte_order(self.byte_order)
            .order(self.order)
            .offset(self.offset)
            .open(&self.file)
    }

    fn partition(&self) -> impart::Result<Partition<RawVolume>> {
        let b = Partition::builder(self.open()?).cell(&self.cell);
        let b = if self.stride_is_scalar {
            b.stride(self.stride[0])
        } else {
            b.stride(self.stride.clone())
        };
        b.build()
    }

    /// Whether a zero-copy view of the stored type must succeed.
    fn zero_copy(&self) -> bool {
        let size = self.dtype.size() as u64;
        (size == 1 || self.byte_order.is_native()) && self.offset % size == 0
    }
}

/// Checks a case; returns the failures (empty when all is well).
fn check_case(dir: &Path, v: &Value) -> Vec<String> {
    let case = Case::parse(dir, v);
    let mut ctx = Ctx::new("NumPy", &case.name);
    let mut failures = Vec::new();
    let part = match case.partition() {
        Ok(p) => p,
        Err(e) => return vec![ctx.fail(format!("open/partition failed: {e}"))],
    };
    if !check_grid(&ctx, &part, v, &mut failures) {
        return failures; // every region below would differ too
    }
    let grid_shape = usizes(field(v, "grid_shape"));
    let zero_copy = case.zero_copy();

    let cells = field(v, "cells").as_array().expect("cells");
    for entry in cells {
        let index = usizes(field(entry, "index"));
        ctx.item = format!("cell {index:?}");
        let sel = match part.cell(&index) {
            Ok(s) => s,
            Err(e) => {
                failures.push(ctx.fail(format!("cell() failed: {e}")));
                continue;
            }
        };
        check_selected(&ctx, &sel, case.dtype, zero_copy, entry, &mut failures);
        // The same cell through text selections, with non-negative and with
        // negative indices.
        let pos = join(index.iter().map(|i| i.to_string()));
        let neg = join(
            index
                .iter()
                .zip(&grid_shape)
                .map(|(&i, &n)| (i as isize - n as isize).to_string()),
        );
        for text in [pos, neg] {
            match part.select(text.as_str()) {
                Ok(s) if s.region() == sel.region() => {}
                Ok(s) => failures.push(ctx.fail(format!(
                    "select({text:?}) gives region {} but cell() gives {}",
                    s.region(),
                    sel.region()
                ))),
                Err(e) => failures.push(ctx.fail(format!("select({text:?}) failed: {e}"))),
            }
        }
    }

    for entry in field(v, "selections").as_array().expect("selections") {
        let text = str_of(entry, "text");
        ctx.item = format!("selection {text:?}");
        let sel = match part.select(text) {
            Ok(s) => s,
            Err(e) => {
                failures.push(ctx.fail(format!("select failed: {e}")));
                continue;
            }
        };
        let want: Vec<Vec<usize>> = field(entry, "cells")
            .as_array()
            .expect("selection cells")
            .iter()
            .map(usizes)
            .collect();
        let got: Vec<Vec<usize>> = sel
            .cells()
            .ranges()
            .iter()
            .map(|r| vec![r.start, r.end])
            .collect();
        if got != want {
            failures.push(ctx.fail(format!("resolves to cells {got:?}, NumPy to {want:?}")));
        }
        check_selected(&ctx, &sel, case.dtype, zero_copy, entry, &mut failures);
    }

    // A complete listing must be the whole grid, in the order `cells` walks it.
    ctx.item = String::new();
    if field(v, "complete").as_bool() == Some(true) {
        check_listing(&ctx, &part, cells, &mut failures);
    }
    failures
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

// ---------------------------------------------------------------------------
// Fixture sets

fn load(dir: &Path) -> Value {
    load_manifest(
        &dir.join("cases.json"),
        FORMAT,
        "generate it with data-scripts/make_raw_fixtures.py",
    )
}

fn check_dir(dir: &Path) -> usize {
    let manifest = load(dir);
    let cases = field(&manifest, "cases").as_array().expect("cases");
    assert!(!cases.is_empty(), "{}: no cases", dir.display());
    let failures: Vec<String> = cases.iter().flat_map(|c| check_case(dir, c)).collect();
    report(
        &format!("in the NumPy fixtures in {}", dir.display()),
        failures,
    );
    cases.len()
}

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/raw")
}

#[test]
fn committed_fixtures() {
    let n = check_dir(&committed_dir());
    eprintln!("checked {n} NumPy raw fixtures");
}

/// The set in `IMPART_FIXTURES_DIR` (CI: `make_raw_fixtures.py --large`).
#[test]
#[ignore = "needs IMPART_FIXTURES_DIR: run data-scripts/make_raw_fixtures.py DIR --large first, then run with --include-ignored"]
fn fixtures_from_env() {
    let dir = env_dir(
        "IMPART_FIXTURES_DIR",
        "run data-scripts/make_raw_fixtures.py DIR --large",
    );
    let n = check_dir(&dir);
    eprintln!("checked {n} NumPy raw fixtures in {}", dir.display());
}

/// The committed set keeps covering what the script promises.
#[test]
fn committed_fixtures_cover_the_matrix() {
    let dir = committed_dir();
    let manifest = load(&dir);
    let cases: Vec<Case> = field(&manifest, "cases")
        .as_array()
        .expect("cases")
        .iter()
        .map(|v| Case::parse(&dir, v))
        .collect();
    let mut seen = BTreeSet::new();
    for c in &cases {
        seen.insert((c.dtype.name(), c.byte_order.name(), "any"));
        seen.insert((c.dtype.name(), "any", c.order.name()));
    }
    for d in DType::ALL {
        for bo in ["little", "big"] {
            assert!(
                seen.contains(&(d.name(), bo, "any")),
                "no {d} {bo}-endian case"
            );
        }
        for o in ["C", "F"] {
            assert!(
                seen.contains(&(d.name(), "any", o)),
                "no {d} {o}-order case"
            );
        }
    }
    for (bo, o) in [
        (ByteOrder::Little, MemoryOrder::C),
        (ByteOrder::Little, MemoryOrder::F),
        (ByteOrder::Big, MemoryOrder::C),
        (ByteOrder::Big, MemoryOrder::F),
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c.byte_order == bo && c.order == o && c.dtype.size() > 1),
            "no multi-byte {bo} {o} case"
        );
    }
    let misaligned = cases
        .iter()
        .filter(|c| c.offset % 2 == 1 && c.dtype.size() > 1)
        .count();
    assert!(misaligned >= 3, "too few cases with an odd offset");
    for ndim in [2, 3, 4] {
        assert!(
            cases.iter().any(|c| c.shape.len() == ndim),
            "no {ndim}-D case"
        );
    }
    assert!(cases.iter().any(|c| c.cell.len() < c.shape.len()));
    assert!(cases.iter().any(|c| !c.stride_is_scalar));
    for s in [0.5, 1.0] {
        assert!(cases.iter().any(|c| c.stride_is_scalar && c.stride[0] == s));
    }
}
