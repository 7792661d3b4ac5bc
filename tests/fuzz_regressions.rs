//! Every crash the fuzz targets (`fuzz/`) found, as a test: the minimized
//! input is committed under `tests/data/fuzz/<target>/`, and each test runs
//! the check that failed on it, so the fix stays fixed without the fuzzer.
//! `fuzz/README.md` has the campaign's table.

use std::path::{Path, PathBuf};

use impart::{AxisIndex, Selection};

fn input(target: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "data",
        "fuzz",
        target,
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()))
}

/// `selection`: `":\n:"` (a `::` with whitespace inside) parsed to
/// `Range { start: None, stop: None }` while `":"` parses to `Full`, so a
/// selection printed and parsed again was another value. The parser now
/// gives every spelling of the whole axis as `Full`.
#[test]
fn selection_whole_axis_has_one_spelling() {
    let data = input("selection", "whole-axis-spellings");
    // the target's layout: rank byte, one extent byte per axis, the text
    let rank = 1 + data[0] as usize % 4;
    let text = std::str::from_utf8(&data[1 + rank..]).unwrap();
    assert_eq!(text, ":\n:");
    let parsed: Selection = text.parse().unwrap();
    assert_eq!(parsed.items(), &[AxisIndex::Full]);
    for spelling in [":", "::", "..", " : ", ": :", ":\t:", "..=-1"] {
        let s: Selection = spelling.parse().unwrap();
        assert_eq!(s.items(), &[AxisIndex::Full], "{spelling:?}");
    }
    // a half-open range keeps its form
    let s: Selection = "2:".parse().unwrap();
    assert_eq!(
        s.items(),
        &[AxisIndex::Range {
            start: Some(2),
            stop: None
        }]
    );
}
