//! The `grid.json` reader (`fragment::GridDescription::parse`): any text is
//! parsed or refused with a typed error; a description that parses
//! rebuilds its grid with the recorded shape, and its axes and carried
//! axes are each volume axis once. Input: the text.
#![no_main]

use std::path::Path;

use impart::fragment::GridDescription;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(description) = GridDescription::parse(text, Path::new("grid.json")) else {
        return;
    };
    let grid = description
        .grid()
        .expect("a parsed description builds its grid");
    assert_eq!(grid.shape(), description.grid_shape.as_slice());
    assert_eq!(grid.cell_shape(), description.cell_shape.as_slice());
    let mut axes: Vec<usize> = description
        .axes
        .iter()
        .chain(&description.carried_axes)
        .copied()
        .collect();
    axes.sort_unstable();
    assert_eq!(
        axes,
        (0..description.volume_shape.len()).collect::<Vec<_>>()
    );
    // the last cell has a region inside (or, padded, starting inside) the volume
    let last: Vec<usize> = grid.shape().iter().map(|&n| n - 1).collect();
    let region = grid.cell_region(&last).expect("the last cell has a region");
    for (g, &a) in description.axes.iter().enumerate() {
        assert!(region.start()[g] < description.volume_shape[a]);
    }
});
