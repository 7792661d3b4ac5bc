//! Raw volumes written by NumPy, read back through impart.
//!
//! `data-scripts/make_raw_fixtures.py` writes raw files with NumPy (every
//! dtype, both byte orders, C and F order, header offsets including the
//! misaligning 7) and a manifest `cases.json` with, per case, the grid NumPy
//! and the original impart formulas expect and, per listed cell or selection,
//! its region plus a digest of its voxels computed by NumPy: sum, absolute
//! sum, min, max, first and last value, and an order-sensitive 64-bit
//! checksum of the values as `f64` in C order (defined in the script's
//! docstring and in [`checksum`] below).
//!
//! The committed set lives in `tests/data/raw`. If `IMPART_FIXTURES_DIR` is
//! set, the set found there is checked as well (CI generates the larger set
//! with `make_raw_fixtures.py --large` at test time).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use impart::{
    ByteOrder, DType, Element, Error, MemoryOrder, Partition, RawOptions, RawVolume, Selected,
};
use ndarray::ArrayD;
use serde_json::Value;

const FORMAT: u64 = 1;

/// The checksum of `make_raw_fixtures.py`: SplitMix64's finalizer over
/// `bits(v[k]) + (k + 1) * 0x9E3779B97F4A7C15`, summed mod 2^64, `k` running
/// over the values in C order.
fn checksum<'a>(values: impl Iterator<Item = &'a f64>) -> u64 {
    values.enumerate().fold(0u64, |acc, (k, v)| {
        let mut x = v
            .to_bits()
            .wrapping_add((k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x ^= x >> 30;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        acc.wrapping_add(x)
    })
}

#[test]
fn checksum_matches_the_script() {
    // np.array([0.0, 1.0, -2.5]) through make_raw_fixtures.checksum
    assert_eq!(
        format!("{:016x}", checksum([0.0, 1.0, -2.5].iter())),
        "257f9e0692573d53"
    );
}

// ---------------------------------------------------------------------------
// JSON helpers: every failure names the case and the field.

struct Ctx<'a> {
    case: &'a str,
    item: String,
}

impl Ctx<'_> {
    fn fail(&self, msg: impl std::fmt::Display) -> String {
        if self.item.is_empty() {
            format!("{}: {msg}", self.case)
        } else {
            format!("{} {}: {msg}", self.case, self.item)
        }
    }
}

fn field<'v>(v: &'v Value, key: &str) -> &'v Value {
    v.get(key)
        .unwrap_or_else(|| panic!("manifest entry lacks {key:?}: {v}"))
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, found {v}"))
        .iter()
        .map(|x| {
            x.as_u64()
                .unwrap_or_else(|| panic!("expected an unsigned integer, found {x}"))
                as usize
        })
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().map(f64_of).collect(),
        _ => vec![f64_of(v)],
    }
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

/// Whether two floats parsed from / computed for JSON are equal up to the
/// last bit or two (serde_json's default float parser may be one ulp off).
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

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
            stride: f64s(stride),
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
    let mut ctx = Ctx {
        case: &case.name,
        item: String::new(),
    };
    let mut failures = Vec::new();
    let part = match case.partition() {
        Ok(p) => p,
        Err(e) => return vec![ctx.fail(format!("open/partition failed: {e}"))],
    };

    let grid_shape = usizes(field(v, "grid_shape"));
    if part.grid().shape() != grid_shape {
        failures.push(ctx.fail(format!(
            "grid shape {:?}, NumPy expects {grid_shape:?}",
            part.grid().shape()
        )));
        return failures; // every region below would differ too
    }
    let step = f64s(field(v, "step"));
    let got_step = part.grid().step();
    if got_step.len() != step.len() || got_step.iter().zip(&step).any(|(a, b)| !close(*a, *b)) {
        failures.push(ctx.fail(format!("step {got_step:?}, NumPy expects {step:?}")));
    }

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
        check_selected(&case, &ctx, &sel, entry, &mut failures);
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
        check_selected(&case, &ctx, &sel, entry, &mut failures);
    }

    // A complete listing must be the whole grid, in the order `cells` walks it.
    ctx.item = String::new();
    if field(v, "complete").as_bool() == Some(true) {
        if part.len() != cells.len() {
            failures.push(ctx.fail(format!(
                "{} cells in the grid, NumPy lists {}",
                part.len(),
                cells.len()
            )));
        }
        match part.cells("...") {
            Ok(iter) => {
                for (k, (sel, entry)) in iter.zip(cells).enumerate() {
                    let index = usizes(field(entry, "index"));
                    let start = usizes(field(entry, "start"));
                    if sel.index() != index || sel.region().start() != start.as_slice() {
                        failures.push(ctx.fail(format!(
                            "cells() item {k} is {:?} at {:?}, NumPy lists {index:?} at {start:?}",
                            sel.index(),
                            sel.region().start()
                        )));
                        break;
                    }
                }
            }
            Err(e) => failures.push(ctx.fail(format!("cells(\"...\") failed: {e}"))),
        }
    }
    failures
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// Region, materialized content and zero-copy view of one selection.
fn check_selected(
    case: &Case,
    ctx: &Ctx<'_>,
    sel: &Selected<'_, RawVolume>,
    entry: &Value,
    failures: &mut Vec<String>,
) {
    let start = usizes(field(entry, "start"));
    let shape = usizes(field(entry, "shape"));
    if sel.region().start() != start.as_slice() || sel.region().shape() != shape.as_slice() {
        failures.push(ctx.fail(format!(
            "region start {:?} shape {:?}, NumPy expects start {start:?} shape {shape:?}",
            sel.region().start(),
            sel.region().shape()
        )));
        return;
    }
    let arr = match sel.to_array_as::<f64>() {
        Ok(a) => a,
        Err(e) => {
            failures.push(ctx.fail(format!("to_array_as::<f64>() failed: {e}")));
            return;
        }
    };
    if arr.shape() != shape.as_slice() {
        failures.push(ctx.fail(format!(
            "materialized shape {:?}, expected {shape:?}",
            arr.shape()
        )));
        return;
    }
    check_content(case, ctx, &arr, entry, failures);
    check_view(case, ctx, sel, &arr, failures);
}

fn check_content(
    case: &Case,
    ctx: &Ctx<'_>,
    arr: &ArrayD<f64>,
    entry: &Value,
    failures: &mut Vec<String>,
) {
    // `iter()` walks the logical (C) order whatever the memory order.
    let mut sum = 0.0f64;
    let mut abs_sum = 0.0f64;
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for &x in arr.iter() {
        sum += x;
        abs_sum += x.abs();
        min = min.min(x);
        max = max.max(x);
    }
    let first = arr.iter().next().copied().unwrap_or(f64::NAN);
    let last = arr.iter().last().copied().unwrap_or(f64::NAN);

    let want = |key: &str| f64_of(field(entry, key));
    let exact = !case.dtype.is_float();
    let want_abs = want("abs_sum");
    // Integer data is exact in f64 in any summation order (the script keeps
    // every partial sum below 2^53); float sums differ only by rounding.
    let sum_ok = |got: f64, w: f64| {
        if exact {
            got == w
        } else {
            (got - w).abs() <= 1e-9 * want_abs.max(f64::MIN_POSITIVE)
        }
    };
    let value_ok = |got: f64, w: f64| if exact { got == w } else { close(got, w) };
    for (key, got, ok) in [
        ("sum", sum, sum_ok(sum, want("sum"))),
        ("abs_sum", abs_sum, sum_ok(abs_sum, want_abs)),
        ("min", min, value_ok(min, want("min"))),
        ("max", max, value_ok(max, want("max"))),
        ("first", first, value_ok(first, want("first"))),
        ("last", last, value_ok(last, want("last"))),
    ] {
        if !ok {
            failures.push(ctx.fail(format!("{key} is {got:?}, NumPy says {}", want(key))));
        }
    }
    let got = format!("{:016x}", checksum(arr.iter()));
    let want = str_of(entry, "checksum");
    if got != want {
        failures.push(ctx.fail(format!(
            "checksum {got}, NumPy says {want} (the values differ or are out of place)"
        )));
    }
}

/// The owned array of the stored type must hold the same values as the `f64`
/// one; the zero-copy view must exist exactly when the bytes allow it, and
/// hold the same values too.
fn check_view(
    case: &Case,
    ctx: &Ctx<'_>,
    sel: &Selected<'_, RawVolume>,
    arr: &ArrayD<f64>,
    failures: &mut Vec<String>,
) {
    #[allow(unreachable_patterns)] // DType may be #[non_exhaustive]
    let (result, typed) = match case.dtype {
        DType::U8 => typed_as_f64::<u8>(sel),
        DType::I8 => typed_as_f64::<i8>(sel),
        DType::U16 => typed_as_f64::<u16>(sel),
        DType::I16 => typed_as_f64::<i16>(sel),
        DType::U32 => typed_as_f64::<u32>(sel),
        DType::I32 => typed_as_f64::<i32>(sel),
        DType::U64 => typed_as_f64::<u64>(sel),
        DType::I64 => typed_as_f64::<i64>(sel),
        DType::F32 => typed_as_f64::<f32>(sel),
        DType::F64 => typed_as_f64::<f64>(sel),
        other => {
            failures.push(ctx.fail(format!("dtype {other} not covered by this test")));
            return;
        }
    };
    match typed {
        Ok(t) if same_bits(&t, arr) => {}
        Ok(_) => {
            failures.push(ctx.fail("to_array::<stored type>() differs from to_array_as::<f64>()"))
        }
        Err(e) => failures.push(ctx.fail(format!("to_array::<stored type>() failed: {e}"))),
    }
    match (case.zero_copy(), result) {
        (true, Ok(view)) => {
            if !same_bits(&view, arr) {
                failures.push(ctx.fail("the zero-copy view differs from to_array_as::<f64>()"));
            }
        }
        (true, Err(e)) => failures.push(ctx.fail(format!("view() failed: {e}"))),
        (false, Ok(_)) => failures.push(ctx.fail(
            "view() succeeded over foreign-endian or misaligned bytes (expected NotZeroCopy)",
        )),
        (false, Err(Error::NotZeroCopy { .. })) => {}
        (false, Err(e)) => {
            failures.push(ctx.fail(format!("view() failed with {e}, expected NotZeroCopy")))
        }
    }
}

/// The zero-copy view and the owned array of the stored type, as `f64`.
fn typed_as_f64<T: Element>(
    sel: &Selected<'_, RawVolume>,
) -> (impart::Result<ArrayD<f64>>, impart::Result<ArrayD<f64>>) {
    (
        sel.view::<T>().map(|v| v.mapv(|x| x.to_f64())),
        sel.to_array::<T>().map(|a| a.mapv(|x| x.to_f64())),
    )
}

fn same_bits(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

// ---------------------------------------------------------------------------
// Fixture sets

fn load(dir: &Path) -> Value {
    let path = dir.join("cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (generate it with data-scripts/make_raw_fixtures.py)",
            path.display()
        )
    });
    let manifest: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    assert_eq!(
        manifest.get("format").and_then(Value::as_u64),
        Some(FORMAT),
        "{}: unknown manifest format",
        path.display()
    );
    manifest
}

fn check_dir(dir: &Path) -> usize {
    let manifest = load(dir);
    let cases = field(&manifest, "cases").as_array().expect("cases");
    assert!(!cases.is_empty(), "{}: no cases", dir.display());
    let failures: Vec<String> = cases.iter().flat_map(|c| check_case(dir, c)).collect();
    assert!(
        failures.is_empty(),
        "{} of the NumPy fixtures in {} disagree with impart:\n  {}",
        failures.len(),
        dir.display(),
        failures.join("\n  ")
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
fn fixtures_from_env() {
    match std::env::var_os("IMPART_FIXTURES_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let n = check_dir(&dir);
            eprintln!("checked {n} NumPy raw fixtures in {}", dir.display());
        }
        _ => eprintln!("IMPART_FIXTURES_DIR not set: no extra fixtures checked"),
    }
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
