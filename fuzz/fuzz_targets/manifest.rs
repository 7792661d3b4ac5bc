//! The `manifest.jsonl` reader (`fragment::parse_manifest`) and its check
//! against `grid.json` (`Fragments::check`). Input: the text of a
//! `grid.json`, a NUL byte, then the text of a manifest (without a NUL the
//! whole input is the manifest, checked against a fixed 3-D grid). Entries
//! that pass name a cell of the grid once each, with its region, and a
//! plain file name inside the directory.
#![no_main]

use std::path::{Path, PathBuf};

use impart::fragment::{parse_manifest, Fragments, GridDescription};
use libfuzzer_sys::fuzz_target;

const GRID: &str = r#"{"volume_shape":[20,16,3],"cell_shape":[8,8],"step":[4.0,8.0],"grid_shape":[4,2],"cells":8,"axes":[0,1],"carried_axes":[2],"edge":"clip","dtype":"uint16"}"#;

fuzz_target!(|data: &[u8]| {
    let (grid, manifest) = match data.iter().position(|&b| b == 0) {
        Some(k) => (&data[..k], &data[k + 1..]),
        None => (GRID.as_bytes(), data),
    };
    let (Ok(grid), Ok(manifest)) = (std::str::from_utf8(grid), std::str::from_utf8(manifest))
    else {
        return;
    };
    let Ok(entries) = parse_manifest(manifest, Path::new("manifest.jsonl")) else {
        return;
    };
    for e in &entries {
        assert!(!e.file.is_empty() && !e.file.contains('/') && e.file != "..");
        assert_eq!(e.start.len(), e.shape.len());
    }
    let Ok(grid) = GridDescription::parse(grid, Path::new("grid.json")) else {
        return;
    };
    let fragments = Fragments {
        dir: PathBuf::from("cells"),
        grid,
        entries,
    };
    if fragments.check().is_ok() {
        let g = fragments.grid.grid().expect("a parsed description builds");
        let mut seen = std::collections::HashSet::new();
        for e in &fragments.entries {
            assert!(seen.insert(e.index.clone()), "cell {:?} twice", e.index);
            let region = g.cell_region(&e.index).expect("a checked entry is a cell");
            for (k, &a) in fragments.grid.axes.iter().enumerate() {
                assert_eq!(
                    (e.start[a], e.shape[a]),
                    (region.start()[k], region.shape()[k])
                );
            }
            assert_eq!(fragments.path_of(e).parent(), Some(Path::new("cells")));
        }
    }
});
