//! Selection text (`"..., 3:7, -1"`): parsing never panics; a parsed
//! selection prints back (through the model's printer) to text that parses
//! to the same selection, and resolves against a shape from the input as
//! the reference model says (`tests/model/grid.rs`), or is refused where
//! the model refuses it. Input: a shape byte per axis (up to 4, the first
//! byte giving the rank), then the text.
#![no_main]

use impart::Selection;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/grid.rs"]
#[allow(dead_code)]
mod model;
use model::{model_resolve, to_text};

fuzz_target!(|data: &[u8]| {
    let Some((&rank, rest)) = data.split_first() else {
        return;
    };
    let rank = 1 + rank as usize % 4;
    if rest.len() < rank {
        return;
    }
    let shape: Vec<usize> = rest[..rank].iter().map(|&n| 1 + n as usize % 40).collect();
    let Ok(text) = std::str::from_utf8(&rest[rank..]) else {
        return;
    };
    let Ok(selection) = text.parse::<Selection>() else {
        return;
    };
    let items = selection.items().to_vec();
    let printed = to_text(&items);
    let again: Selection = printed.parse().unwrap_or_else(|e| {
        panic!("{text:?} parses, but its printed form {printed:?} does not: {e}")
    });
    assert_eq!(again.items(), items.as_slice(), "{text:?} -> {printed:?}");
    let want = model_resolve(&items, &shape);
    match (selection.resolve(&shape), want) {
        (Ok(cells), Some(want)) => {
            assert_eq!(cells.ranges(), want.as_slice(), "{text:?} on {shape:?}")
        }
        (Err(_), None) => {}
        (got, want) => panic!("{text:?} on {shape:?}: got {got:?}, the model {want:?}"),
    }
});
