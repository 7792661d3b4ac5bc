//! Reading a fragment directory back (`fragment::Fragments`,
//! `GridDescription`, `parse_manifest`): what `fragment` writes reads back
//! as the partition it came from (every edge policy, carried axes and
//! channels), and every way a `grid.json` or `manifest.jsonl` can be wrong
//! is refused with an error naming the file and the key or line.
#![cfg(feature = "fragment")]

use std::path::Path;

use impart::fragment::{parse_manifest, Format, FragmentOptions, Fragments, GridDescription};
use impart::{ArrayVolume, Edge, Error, PadMode, Partition, Volume};
use ndarray::Array3;

fn volume() -> Array3<u16> {
    Array3::from_shape_fn((20, 16, 3), |(z, y, c)| (z * 100 + y * 3 + c) as u16)
}

/// Fragments `part` (cells `sel`) into a fresh directory and reads it back.
fn round_trip<V: Volume>(part: &Partition<V>, sel: &str) -> (tempfile::TempDir, Fragments) {
    let dir = tempfile::tempdir().unwrap();
    FragmentOptions::new(dir.path())
        .format(Format::Raw)
        .fragment(part, sel)
        .unwrap();
    let fragments = Fragments::open(dir.path()).unwrap();
    (dir, fragments)
}

#[test]
fn what_fragment_writes_reads_back_as_its_partition() {
    let data = volume();
    for edge in [Edge::Clip, Edge::Shift, Edge::Pad(PadMode::Edge)] {
        let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
            .cell(&[8, 6])
            .axes(&[0, 1])
            .stride(0.5)
            .edge(edge)
            .build()
            .unwrap();
        let (_dir, f) = round_trip(&part, "...");
        let grid = f.grid.grid().unwrap();
        // the same cells (grid.json records `pad` without its fill)
        let g = part.grid();
        assert_eq!(
            (
                grid.shape(),
                grid.cell_shape(),
                grid.step(),
                grid.edge().name()
            ),
            (g.shape(), g.cell_shape(), g.step(), g.edge().name()),
            "{edge:?}"
        );
        assert_eq!(f.grid.volume_shape, vec![20, 16, 3]);
        assert_eq!(
            (f.grid.axes.clone(), f.grid.carried_axes.clone()),
            (vec![0, 1], vec![2])
        );
        assert_eq!(f.grid.dtype, impart::DType::U16);
        assert_eq!(f.entries.len(), part.grid().len());
        for (e, cell) in f.entries.iter().zip(part.grid().cells()) {
            assert_eq!(e.index, cell);
            let region = part.grid().cell_region(&cell).unwrap();
            assert_eq!(&e.start[..2], region.start());
            assert_eq!(&e.shape[..2], region.shape());
            assert_eq!((e.start[2], e.shape[2]), (0, 3));
            let bytes = std::fs::metadata(f.path_of(e)).unwrap().len();
            assert_eq!(bytes as usize, e.shape.iter().product::<usize>() * 2);
        }
    }
}

#[test]
fn a_selection_and_channels_read_back() {
    let data = volume();
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8])
        .axes(&[0, 1])
        .channels(&[2, 0])
        .build()
        .unwrap();
    let (_dir, f) = round_trip(&part, "1:, 0");
    let indices: Vec<Vec<usize>> = f.entries.iter().map(|e| e.index.clone()).collect();
    assert_eq!(indices, vec![vec![1, 0], vec![2, 0]]);
    // two channels of three, listed as selected
    assert!(f.entries.iter().all(|e| e.shape[2] == 2));
}

#[test]
fn an_incomplete_directory_is_not_read() {
    let data = volume();
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8, 3])
        .build()
        .unwrap();
    let (dir, _) = round_trip(&part, "...");
    std::fs::remove_file(dir.path().join("manifest.jsonl")).unwrap();
    let e = Fragments::open(dir.path()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("manifest.jsonl"), "{e}");
}

const GRID: &str = r#"{"volume_shape":[20,16,3],"cell_shape":[8,8],"step":[4.0,8.0],"grid_shape":[4,2],"cells":8,"axes":[0,1],"carried_axes":[2],"edge":"clip","dtype":"uint16"}"#;

/// `GRID` with `key` set to `value` (JSON), or removed for `None`.
fn grid_with(key: &str, value: Option<&str>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(GRID).unwrap();
    match value {
        Some(x) => v[key] = serde_json::from_str(x).unwrap(),
        None => {
            v.as_object_mut().unwrap().remove(key);
        }
    }
    v.to_string()
}

fn refused(text: &str, what: &str) {
    let e = GridDescription::parse(text, Path::new("dir/grid.json")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::InvalidHeader { .. }), "{msg}");
    assert!(
        msg.contains("dir/grid.json") && msg.contains(what),
        "{text}: {msg}"
    );
}

#[test]
fn a_wrong_grid_json_is_refused_naming_what() {
    let ok = GridDescription::parse(GRID, Path::new("grid.json")).unwrap();
    assert_eq!(ok.grid().unwrap().shape(), &[4, 2]);
    refused("", "not JSON");
    refused("[1, 2]", "not a JSON object");
    refused(&grid_with("volume_shape", None), "volume_shape is missing");
    refused(
        &grid_with("cell_shape", Some("[8, -8]")),
        "cell_shape holds -8",
    );
    refused(&grid_with("step", Some("[4.0, \"8\"]")), "step holds \"8\"");
    refused(&grid_with("edge", Some("\"wrap\"")), "edge is \"wrap\"");
    refused(&grid_with("dtype", Some("\"uint17\"")), "dtype \"uint17\"");
    refused(
        &grid_with("cell_shape", Some("[8]")),
        "cell_shape has 1 entries but axes has 2",
    );
    refused(&grid_with("axes", Some("[0, 0]")), "axis 0 is listed twice");
    refused(&grid_with("axes", Some("[0, 5]")), "axis 5 is not an axis");
    refused(
        &grid_with("carried_axes", Some("[]")),
        "axis 2 is in neither",
    );
    refused(&grid_with("step", Some("[0.0, 8.0]")), "does not build");
    refused(&grid_with("cell_shape", Some("[0, 8]")), "does not build");
    refused(
        &grid_with("grid_shape", Some("[5, 2]")),
        "grid_shape is [5, 2]",
    );
    refused(&grid_with("cells", Some("11")), "cells is 11");
    refused(
        &grid_with("grid_shape", Some("[4, 2, 1]")),
        "grid_shape has 3 entries",
    );
    refused(&grid_with("cells", Some("1e3")), "cells is 1000.0");
}

fn line(index: &str, start: &str, shape: &str, file: &str) -> String {
    format!(
        r#"{{"index":{index},"start":{start},"shape":{shape},"file":"{file}","dtype":"uint16"}}"#
    )
}

fn manifest_refused(text: &str, what: &str) {
    let e = parse_manifest(text, Path::new("dir/manifest.jsonl")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("dir/manifest.jsonl") && msg.contains(what),
        "{text}: {msg}"
    );
}

fn check_refused(text: &str, what: &str) {
    let entries = parse_manifest(text, Path::new("m")).unwrap();
    let f = Fragments {
        dir: "dir".into(),
        grid: GridDescription::parse(GRID, Path::new("grid.json")).unwrap(),
        entries,
    };
    let msg = f.check().unwrap_err().to_string();
    assert!(
        msg.contains("dir/manifest.jsonl") && msg.contains(what),
        "{text}: {msg}"
    );
}

#[test]
fn a_wrong_manifest_is_refused_naming_the_line() {
    let good = line("[1,0]", "[4,0,0]", "[8,8,3]", "cell_1_0.raw");
    let parsed = parse_manifest(&format!("{good}\n\n"), Path::new("m")).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].file, "cell_1_0.raw");
    manifest_refused(&format!("{good}\n{{"), "line 2: not JSON");
    manifest_refused("3", "line 1: not a JSON object");
    for bad in ["../x.raw", "a/b.raw", "..", ".", "", "a\\\\b"] {
        manifest_refused(
            &line("[0,0]", "[0,0,0]", "[8,8,3]", bad),
            "is not a plain file name",
        );
    }
    manifest_refused(
        &line("[0,0]", "[0,0]", "[8,8,3]", "c.raw"),
        "start has 2 entries but shape has 3",
    );
    manifest_refused(
        &line("[0,0]", "[0,0,0]", "[8,0,3]", "c.raw"),
        "shape is 0 on axis 1",
    );
    manifest_refused(
        &line("[0,0]", "[18446744073709551615,0,0]", "[8,8,3]", "c.raw"),
        "overflows",
    );
    manifest_refused(&good.replace("uint16", "int3"), "dtype \"int3\"");
    manifest_refused(&good.replace("\"file\"", "\"name\""), "file is missing");

    check_refused(
        &line("[9,0]", "[36,0,0]", "[8,8,3]", "c.raw"),
        "index [9, 0]",
    );
    check_refused(
        &line("[1,0]", "[5,0,0]", "[8,8,3]", "c.raw"),
        "spans 4..12 on axis 0",
    );
    check_refused(
        &line("[1,0]", "[4,0,3]", "[8,8,3]", "c.raw"),
        "past its extent 3",
    );
    check_refused(
        &line("[1,0]", "[4,0]", "[8,8]", "c.raw"),
        "volume has 3 axes",
    );
    check_refused(
        &good.replace("uint16", "float32"),
        "dtype f32 differs from the grid's u16",
    );
    check_refused(
        &format!("{good}\n{good}"),
        "entry 2: cell [1, 0] is listed twice",
    );
}
