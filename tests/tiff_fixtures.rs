//! The TIFF backend against files written by tifffile (and checked there
//! against libtiff): `tests/data/tiff/`, from
//! `data-scripts/make_tiff_fixtures.py` (see its README).
//!
//! Every valid single-page case (and every page of a stack, opened one at a
//! time) is read whole and cell by cell over a stride-0.5 grid, and each
//! cell must equal the expected array bit for bit (floats compared as bits:
//! the fixtures hold -0.0, infinities, a NaN and subnormals), or within the
//! recorded error of the original for the lossy JPEG and WebP cases (our
//! decoders are not libjpeg's). Every hostile case must give a typed error
//! when it is opened or read, never a panic.
#![cfg(feature = "tiff")]

use std::path::{Path, PathBuf};

mod tiff_check;

use impart::{Partition, TiffOptions, Volume};
use serde_json::Value;
use tiff_check::read;

fn dir() -> PathBuf {
    tiff_check::dir()
}

fn cases() -> Vec<Value> {
    tiff_check::manifest()
}

fn shape_of(v: &Value) -> Vec<usize> {
    tiff_check::usizes(v)
}

/// Element `i` of little-endian bytes of `dtype` as `(bits, value)`: the
/// bits for an exact comparison, the value for a tolerance.
#[allow(clippy::too_many_arguments)]
fn compare(
    what: &str,
    got: &[u8],
    expected: &[u8],
    full: &[usize],
    start: &[usize],
    ext: &[usize],
    dtype: &str,
    tolerance: Option<f64>,
    failures: &mut Vec<String>,
) {
    if let Err(e) = tiff_check::compare(got, expected, full, start, ext, dtype, tolerance) {
        failures.push(format!("{what}: {e}"));
    }
}

#[allow(clippy::too_many_arguments)]
fn check_page(
    label: &str,
    path: &Path,
    page: usize,
    want_shape: &[usize],
    dtype: &str,
    expected: &[u8],
    tolerance: Option<f64>,
    failures: &mut Vec<String>,
) {
    let volume = match TiffOptions::new().page(page).open(path) {
        Ok(v) => v,
        Err(e) => {
            failures.push(format!("{label}: open failed: {e}"));
            return;
        }
    };
    check_volume(
        label, &volume, want_shape, dtype, expected, tolerance, failures,
    );
}

/// Checks `volume` against tifffile's array: shape, type, the whole read
/// and every cell of a stride-0.5 grid.
fn check_volume(
    label: &str,
    volume: &impl Volume,
    want_shape: &[usize],
    dtype: &str,
    expected: &[u8],
    tolerance: Option<f64>,
    failures: &mut Vec<String>,
) {
    if volume.shape() != want_shape || volume.dtype().name() != dtype {
        failures.push(format!(
            "{label}: shape {:?} {}, expected {want_shape:?} {dtype}",
            volume.shape(),
            volume.dtype()
        ));
        return;
    }
    let zero = vec![0usize; want_shape.len()];
    match read(volume, &zero, want_shape) {
        Ok(bytes) => compare(
            &format!("{label} whole"),
            &bytes,
            expected,
            want_shape,
            &zero,
            want_shape,
            dtype,
            tolerance,
            failures,
        ),
        Err(e) => {
            failures.push(format!("{label}: whole read failed: {e}"));
            return;
        }
    }
    // cells of a third of a page, over half the stack's axes
    let lead = want_shape.len() - 3;
    let cell: Vec<usize> = want_shape[..lead + 2]
        .iter()
        .enumerate()
        .map(|(a, &d)| (d / if a < lead { 2 } else { 3 }).max(1))
        .collect();
    let part = Partition::builder(volume)
        .cell(&cell)
        .stride(0.5)
        .build()
        .expect("partition");
    for sel in part.cells("...").expect("cells") {
        let r = sel.region();
        match read(volume, r.start(), r.shape()) {
            Ok(bytes) => compare(
                &format!("{label} cell {:?}", sel.index()),
                &bytes,
                expected,
                want_shape,
                r.start(),
                r.shape(),
                dtype,
                tolerance,
                failures,
            ),
            Err(e) => failures.push(format!("{label} cell {:?}: {e}", sel.index())),
        }
        // and through the selection's own materialization, as f64
        if let Err(e) = sel.to_array_as::<f64>() {
            failures.push(format!("{label} cell {:?}: to_array_as: {e}", sel.index()));
        }
    }
}

#[test]
fn every_valid_case_matches_tifffile() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["kind"] == "valid") {
        // one page, or each page of a stack as a volume of its own (the
        // stack as one volume is checked below)
        for page in tiff_check::pages_of(case) {
            check_page(
                &page.label,
                &dir().join(&page.file),
                page.page,
                &page.shape,
                &page.dtype,
                &page.expected,
                page.tolerance,
                &mut failures,
            );
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} valid cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_hostile_case_is_a_typed_error() {
    let mut failures = Vec::new();
    for case in cases().iter().filter(|c| c["kind"] == "hostile") {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let must = case["must"].as_str().unwrap_or("error");
        let outcome = std::panic::catch_unwind(|| -> impart::Result<()> {
            let volume = TiffOptions::new().open(&path)?;
            let shape = volume.shape().to_vec();
            read(&volume, &vec![0; shape.len()], &shape).map(|_| ())
        });
        match (must, outcome) {
            (_, Err(_)) => failures.push(format!("{name}: PANICKED")),
            ("error", Ok(Ok(()))) => failures.push(format!(
                "{name}: read without an error ({})",
                case["why"].as_str().unwrap_or("")
            )),
            ("error", Ok(Err(e))) => {
                let text = e.to_string();
                if !text.contains(case["file"].as_str().unwrap_or("?")) {
                    failures.push(format!("{name}: the error does not name the file: {text}"));
                }
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unsupported_compressions_are_named() {
    for (file, code, name) in [
        ("bad_lerc.tif", "34887", "LERC"),
        ("bad_compression_jpeg2000.tif", "34712", "JPEG 2000"),
        ("bad_compression_unknown.tif", "40123", "unknown"),
    ] {
        let err = TiffOptions::new()
            .open(dir().join(file))
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            matches!(err, impart::Error::Unsupported { .. })
                && text.contains(code)
                && text.contains(name)
                && text.contains("page 0"),
            "{file}: {text}"
        );
    }
}

/// The shape a stack opens with: the series' axes (tifffile's
/// `series_shape`) with the sample axis always last.
fn stack_shape(case: &Value) -> Vec<usize> {
    let flat = shape_of(&case["shape"]);
    let series = shape_of(&case["series_shape"]);
    // tifffile leaves the sample axis out of a series of one sample
    let image = if series.ends_with(&flat[flat.len() - 3..]) {
        3
    } else {
        2
    };
    let mut shape = series[..series.len() - image].to_vec();
    shape.extend_from_slice(&flat[flat.len() - 3..]);
    shape
}

#[test]
fn stacks_open_as_one_volume_with_the_axes_of_their_metadata() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases()
        .iter()
        .filter(|c| c["kind"] == "valid" && c["page"].is_null())
    {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let dtype = case["dtype"].as_str().expect("dtype");
        let expected = std::fs::read(dir().join(case["expected"].as_str().expect("expected")))
            .expect("expected bytes");
        let shape = stack_shape(case);
        let volume = match TiffOptions::new().open(&path) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: open failed: {e}"));
                continue;
            }
        };
        // tifffile's axes, with the sample axis always there and its
        // name for a plain sequence of pages (Q) as ours (I)
        let mut axes = case["axes"].as_str().expect("axes").replace('Q', "I");
        if !axes.ends_with('S') {
            axes.push('S');
        }
        if volume.axes() != axes {
            failures.push(format!("{name}: axes {}, expected {axes}", volume.axes()));
        }
        check_volume(name, &volume, &shape, dtype, &expected, None, &mut failures);
        // and the generic opener gives the same stack
        match impart::open(&path) {
            Ok(v) if v.shape() == shape.as_slice() => {}
            Ok(v) => failures.push(format!("{name}: impart::open gives {:?}", v.shape())),
            Err(e) => failures.push(format!("{name}: impart::open: {e}")),
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} stacks");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pyramid_levels_are_listed_and_open() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["levels"].is_array()) {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let dtype = case["dtype"].as_str().expect("dtype");
        let levels = case["levels"].as_array().expect("levels");
        let listed = TiffOptions::new()
            .open(&path)
            .expect("open")
            .levels()
            .to_vec();
        let shapes: Vec<Vec<usize>> = listed.iter().map(|l| l.shape.clone()).collect();
        let want: Vec<Vec<usize>> = levels.iter().map(|l| shape_of(&l["shape"])).collect();
        if shapes != want {
            failures.push(format!("{name}: levels {shapes:?}, expected {want:?}"));
        }
        for level in levels {
            let k = level["level"].as_u64().expect("level") as usize;
            let shape = shape_of(&level["shape"]);
            let expected = std::fs::read(dir().join(level["expected"].as_str().expect("expected")))
                .expect("expected bytes");
            let label = format!("{name} level {k}");
            match TiffOptions::new().level(k).open(&path) {
                Ok(v) => {
                    if v.level() != k {
                        failures.push(format!("{label}: level() is {}", v.level()));
                    }
                    check_volume(&label, &v, &shape, dtype, &expected, None, &mut failures)
                }
                Err(e) => failures.push(format!("{label}: open failed: {e}")),
            }
            checked += 1;
        }
        let err = TiffOptions::new()
            .level(levels.len())
            .open(&path)
            .expect_err("no such level");
        assert!(
            matches!(err, impart::Error::InvalidArgument { .. }),
            "{name}: {err}"
        );
    }
    assert!(checked >= 3, "only {checked} levels");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fixture's GDAL-order affine (`x = a·col + b·row + c`), as the
/// fixture script computed it from the tags.
fn affine_2d(case: &Value) -> Vec<Vec<f64>> {
    case["geo"]["affine_2d"]
        .as_array()
        .expect("affine_2d")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("f64"))
                .collect()
        })
        .collect()
}

#[test]
fn geotiff_cells_have_the_world_origin_of_their_first_pixel() {
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["geo"].is_object()) {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let m = affine_2d(case);
        let volume = TiffOptions::new().open(&path).expect("open");
        let a = volume.affine().expect("a GeoTIFF has an affine");
        // rows are the first axis, columns the second
        for k in 0..2 {
            assert_eq!(
                [a[k][0], a[k][1], a[k][2], a[k][3]],
                [m[k][1], m[k][0], 0.0, m[k][2]],
                "{name}: row {k} of the affine"
            );
        }
        let part = Partition::builder(&volume)
            .cell(&[16, 16])
            .stride(0.5)
            .build()
            .expect("partition");
        for sel in part.cells("...").expect("cells") {
            let (row, col) = (
                sel.region().start()[0] as f64,
                sel.region().start()[1] as f64,
            );
            let w = sel.world_origin().expect("world origin");
            assert_eq!(w[0], m[0][0] * col + m[0][1] * row + m[0][2], "{name} x");
            assert_eq!(w[1], m[1][0] * col + m[1][1] * row + m[1][2], "{name} y");
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} GeoTIFFs");
}

#[test]
fn uncompressed_contiguous_pages_are_mapped_in_place() {
    let mut mapped = 0;
    for case in cases().iter().filter(|c| c["kind"] == "valid") {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let mut options = TiffOptions::new();
        if let Some(p) = case["page"].as_u64() {
            options = options.page(p as usize);
        }
        let volume = options.open(&path).expect("open");
        // what tifffile writes uncompressed is strips back to back
        let plain = case["compression"] == "none" && !case["tiled"].as_bool().unwrap_or(true);
        assert_eq!(volume.is_mapped(), plain, "{name}: mapped");
        assert_eq!(volume.layout().is_some(), plain, "{name}: layout");
        if plain {
            // and positioned reads through the same raw path without mmap
            let read = options.clone().mmap(false).open(&path).expect("open");
            assert!(read.is_raw() && !read.is_mapped(), "{name}");
            let shape = read.shape().to_vec();
            let zero = vec![0; shape.len()];
            assert_eq!(
                tiff_check::read(&read, &zero, &shape).expect("read"),
                tiff_check::read(&volume, &zero, &shape).expect("read"),
                "{name}: pread equals the mapping"
            );
            mapped += 1;
        }
    }
    assert!(mapped >= 8, "only {mapped} mapped");
}

#[test]
fn geotiff_fragments_carry_the_georeference_of_their_window() {
    for case in cases().iter().filter(|c| c["geo"].is_object()) {
        let name = case["name"].as_str().expect("name");
        let path = dir().join(case["file"].as_str().expect("file"));
        let m = affine_2d(case);
        let volume = TiffOptions::new().open(&path).expect("open");
        let out = tempfile::tempdir().expect("tempdir");
        let part = Partition::builder(&volume)
            .cell(&[16, 16])
            .stride(0.5)
            .build()
            .expect("partition");
        impart::fragment::FragmentOptions::new(out.path())
            .format(impart::fragment::Format::Tiff)
            .georeference(volume.geo().cloned())
            .fragment(&part, "...")
            .expect("fragment");
        for sel in part.cells("...").expect("cells") {
            let (row, col) = (sel.region().start()[0], sel.region().start()[1]);
            let file = out
                .path()
                .join(format!("cell_{}_{}.tiff", sel.index()[0], sel.index()[1]));
            let tile = TiffOptions::new().open(&file).expect("tile opens");
            let a = tile.affine().expect("the tile is a GeoTIFF");
            let (r, c) = (row as f64, col as f64);
            let x = m[0][0] * c + m[0][1] * r + m[0][2];
            let y = m[1][0] * c + m[1][1] * r + m[1][2];
            assert_eq!([a[0][3], a[1][3]], [x, y], "{name} {:?}", sel.index());
            assert_eq!(
                [a[0][1], a[0][0], a[1][1], a[1][0]],
                [m[0][0], m[0][1], m[1][0], m[1][1]],
                "{name}: pixel size and rotation kept"
            );
            assert_eq!(
                tile.geo().expect("geo").geo_keys,
                volume.geo().expect("geo").geo_keys
            );
            // and the pixels are the window's
            let n = sel.shape().iter().product::<usize>() * volume.dtype().size();
            let mut want = vec![0u8; n];
            volume.read_region(sel.region(), &mut want).expect("read");
            let shape = tile.shape().to_vec();
            assert_eq!(shape, sel.shape());
            assert_eq!(read(&tile, &[0, 0, 0], &shape).expect("read tile"), want);
        }
    }
}
