//! The TIFF backend against the `"kind": "valid_extra"` fixtures of
//! `tests/data/tiff/` (`data-scripts/make_tiff_fixtures.py`, see its
//! README): files written by libvips (LZW with and without predictor,
//! deflate, JPEG, pyramids as pages and as SubIFDs, BigTIFF), by GDAL (a
//! GeoTIFF in EPSG 32633) and more tifffile files (contiguous stacks, a
//! contiguous planar page, an ImageJ TZCYX hyperstack, a PixelIsPoint
//! GeoTIFF). Every expectation is tifffile's reading, checked there against
//! libvips and libtiff; the GeoTIFF windows are rasterio's (GDAL's).
//!
//! Pages our reader does not read yet are listed in [`KNOWN`] with what
//! goes wrong; every other page must equal its expectation, and a listed
//! page that reads right is reported (so the list can shrink).
#![cfg(feature = "tiff")]

mod tiff_check;

use impart::{Edge, OpenOptions, Partition, TiffOptions, Volume};
use serde_json::Value;
use tiff_check::{compare, dir, manifest, pages_of, read, usizes, PageCase};

/// Cases (by name) whose pages our reader gets wrong today, and how.
const KNOWN: &[(&str, &str)] = &[];

fn extra_cases() -> Vec<Value> {
    manifest()
        .into_iter()
        .filter(|c| c["kind"] == "valid_extra")
        .collect()
}

fn known(name: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

/// The page whole, and every cell of a stride-0.5 grid of cells a third of
/// the page.
fn check_page(page: &PageCase) -> Result<(), String> {
    let path = dir().join(&page.file);
    let volume = TiffOptions::new()
        .page(page.page)
        .open(&path)
        .map_err(|e| format!("open failed: {e}"))?;
    tiff_check::check_whole(&volume, page)?;
    let cell: Vec<usize> = page.shape[..2].iter().map(|&d| (d / 3).max(1)).collect();
    let part = Partition::builder(&volume)
        .cell(&cell)
        .stride(0.5)
        .build()
        .map_err(|e| e.to_string())?;
    for sel in part.cells("...").map_err(|e| e.to_string())? {
        let r = sel.region();
        let bytes = read(&volume, r.start(), r.shape())
            .map_err(|e| format!("cell {:?}: {e}", sel.index()))?;
        compare(
            &bytes,
            &page.expected,
            &page.shape,
            r.start(),
            r.shape(),
            &page.dtype,
            page.tolerance,
        )
        .map_err(|e| format!("cell {:?}: {e}", sel.index()))?;
    }
    Ok(())
}

#[test]
fn every_extra_case_matches_its_writer() {
    let mut failures = Vec::new();
    let mut now_right = Vec::new();
    let cases = extra_cases();
    assert!(cases.len() >= 25, "only {} valid_extra cases", cases.len());
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let results: Vec<_> = pages_of(case)
            .iter()
            .map(|p| check_page(p).map_err(|e| format!("{}: {e}", p.label)))
            .collect();
        let wrong: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
        match (known(name), wrong.is_empty()) {
            (None, false) => failures.extend(wrong),
            (Some(_), true) => now_right.push(name.to_string()),
            (Some(why), false) => eprintln!("known: {name}: {why}\n    now: {}", wrong[0]),
            (None, true) => {}
        }
    }
    if !now_right.is_empty() {
        eprintln!(
            "listed in KNOWN but read right now (remove them): {}",
            now_right.join(", ")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Pyramids: the reduced levels that are pages of the main chain open as
/// those pages; levels in SubIFDs are not pages (page 1 of such a file does
/// not exist).
#[test]
fn pyramid_levels() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in extra_cases().iter().filter(|c| c["levels"].is_array()) {
        let name = case["name"].as_str().expect("name");
        let file = case["file"].as_str().expect("file");
        let levels = case["levels"].as_array().expect("levels");
        let as_pages = levels.iter().all(|l| l["subifd"].is_null());
        for level in &levels[1..] {
            let shape = usizes(&level["shape"]);
            if as_pages {
                let page = PageCase {
                    label: format!("{name} level {}", level["level"]),
                    file: file.to_string(),
                    page: level["page"].as_u64().expect("page") as usize,
                    shape,
                    dtype: case["dtype"].as_str().expect("dtype").to_string(),
                    expected: std::fs::read(
                        dir().join(level["expected"].as_str().expect("expected")),
                    )
                    .expect("level bytes"),
                    tolerance: None,
                };
                if let Err(e) = check_page(&page) {
                    if known(name).is_none() {
                        failures.push(format!("{}: {e}", page.label));
                    }
                }
                checked += 1;
            }
        }
        if !as_pages {
            match TiffOptions::new().page(1).open(dir().join(file)) {
                Ok(v) => failures.push(format!(
                    "{name}: page 1 opens ({:?}), but the file has one page (its levels are SubIFDs)",
                    v.shape()
                )),
                Err(e) if !e.to_string().contains("page 1") => {
                    failures.push(format!("{name}: the error does not name page 1: {e}"))
                }
                Err(_) => {}
            }
        }
    }
    assert!(checked >= 6, "only {checked} pyramid levels checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The pages of stacks read through `impart::OpenOptions::page` as through
/// `TiffOptions::page`.
#[test]
fn stack_pages_through_open_options() {
    let mut failures = Vec::new();
    for case in extra_cases().iter().filter(|c| c["page"].is_null()) {
        for page in pages_of(case) {
            let volume = match OpenOptions::new()
                .page(page.page)
                .open(dir().join(&page.file))
            {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{}: {e}", page.label));
                    continue;
                }
            };
            if let Err(e) = tiff_check::check_whole(&volume, &page) {
                failures.push(format!("{}: {e}", page.label));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every GeoTIFF (valid and valid_extra): the cells of a 16 x 16, stride 0.5
/// grid with the last cell shifted inside are rasterio's windows, each
/// cell's data is the expectation's slice (rasterio read the same), and
/// where the volume has an affine, each cell's world origin is the origin
/// of rasterio's window transform (x, y) exactly (the numbers are dyadic).
#[test]
fn geotiff_windows_match_rasterio() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut with_affine = 0;
    for case in manifest().iter().filter(|c| c["rasterio"].is_object()) {
        cases += 1;
        let rio = &case["rasterio"];
        let page = pages_of(case).remove(0);
        let volume = match TiffOptions::new()
            .page(page.page)
            .open(dir().join(&page.file))
        {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: {e}", page.label));
                continue;
            }
        };
        let part = Partition::builder(&volume)
            .cell(&usizes(&rio["cell"]))
            .stride(rio["stride"].as_f64().expect("stride"))
            .edge(Edge::Shift)
            .build()
            .expect("partition");
        let windows = rio["windows"].as_array().expect("windows");
        let cells: Vec<_> = part.cells("...").expect("cells").collect();
        if cells.len() != windows.len() {
            failures.push(format!(
                "{}: {} cells, rasterio has {} windows",
                page.label,
                cells.len(),
                windows.len()
            ));
            continue;
        }
        if volume.affine().is_some() {
            with_affine += 1;
        }
        for (sel, win) in cells.iter().zip(windows) {
            let (start, shape) = (usizes(&win["start"]), usizes(&win["shape"]));
            let r = sel.region();
            if r.start()[..2] != start[..] || r.shape()[..2] != shape[..] {
                failures.push(format!(
                    "{} cell {:?}: region {:?} + {:?}, window {start:?} + {shape:?}",
                    page.label,
                    sel.index(),
                    r.start(),
                    r.shape()
                ));
                continue;
            }
            match read(&volume, r.start(), r.shape()) {
                Ok(bytes) => {
                    if let Err(e) = compare(
                        &bytes,
                        &page.expected,
                        &page.shape,
                        r.start(),
                        r.shape(),
                        &page.dtype,
                        None,
                    ) {
                        failures.push(format!("{} window {start:?}: {e}", page.label));
                    }
                }
                Err(e) => failures.push(format!("{} window {start:?}: {e}", page.label)),
            }
            let origin = [
                win["origin"][0].as_f64().expect("x"),
                win["origin"][1].as_f64().expect("y"),
            ];
            if let Some(w) = sel.world_origin() {
                if w[..2] != origin[..] {
                    failures.push(format!(
                        "{} window {start:?}: world origin {w:?}, rasterio's {origin:?}",
                        page.label
                    ));
                }
            }
        }
    }
    assert!(cases >= 4, "only {cases} GeoTIFF cases");
    if with_affine < cases {
        eprintln!(
            "{} of {cases} GeoTIFF volumes have no affine: their world origins are not checked",
            cases - with_affine
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A TIFF page offered as addressable memory (zero copy) must be one whose
/// data tifffile found contiguous and uncompressed, and its bytes are the
/// expectation (in the file's byte order).
#[test]
fn zero_copy_only_for_contiguous_pages() {
    let mut failures = Vec::new();
    for case in manifest()
        .iter()
        .filter(|c| c["kind"] == "valid" || c["kind"] == "valid_extra")
    {
        for page in pages_of(case) {
            let Ok(volume) = TiffOptions::new()
                .page(page.page)
                .open(dir().join(&page.file))
            else {
                continue;
            };
            let Some(layout) = volume.layout() else {
                continue;
            };
            // tifffile's verdict where the case records it, else the
            // chunks of a one-page file lying back to back
            let contiguous = match case["page_data"].as_array() {
                Some(pd) => pd.iter().any(|d| {
                    d["page"].as_u64() == Some(page.page as u64) && d["is_contiguous"] == true
                }),
                None => case["structure"]["chunks"].as_array().is_some_and(|c| {
                    let runs: Vec<(u64, u64)> = c
                        .iter()
                        .filter_map(|r| Some((r[0].as_u64()?, r[1].as_u64()?)))
                        .collect();
                    !runs.is_empty()
                        && case["tiled"] == false
                        && runs.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0)
                }),
            };
            if !contiguous || case["compression"] != "none" {
                failures.push(format!(
                    "{}: mapped, but tifffile finds its data {} and compression {}",
                    page.label,
                    if contiguous {
                        "contiguous"
                    } else {
                        "not contiguous"
                    },
                    case["compression"]
                ));
                continue;
            }
            let big = case["byte_order"] == "big";
            if (layout.byte_order() == impart::ByteOrder::Big) != big {
                failures.push(format!(
                    "{}: mapped as {:?}, the file is {}-endian",
                    page.label,
                    layout.byte_order(),
                    case["byte_order"]
                ));
            }
            if let Err(e) = tiff_check::check_whole(&volume, &page) {
                failures.push(format!("{} (mapped): {e}", page.label));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
