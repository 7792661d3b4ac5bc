//! The structure-aware target: a random grid (1-4 axes, extents, cells,
//! stride or absolute step, edge policy) and a random selection, checked
//! against the reference model in `tests/model/grid.rs` (written from
//! DESIGN.md, not from the crate's code): the grid's shape, the region of
//! the first, last and a chosen cell and of the selected box, and the
//! selection's resolution (or its refusal).
#![no_main]

use std::ops::Range;

use arbitrary::Arbitrary;
use impart::{AxisIndex, Edge, Grid, PadMode, Spacing};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/grid.rs"]
#[allow(dead_code)]
mod model;
use model::{model_resolve, to_text, Model, ModelAxis};

#[derive(Arbitrary, Debug)]
struct AxisSpec {
    dim: u16,
    cell: u16,
    /// Stride or step in 1/64 units, at least 1/64.
    spacing: u16,
}

#[derive(Arbitrary, Debug)]
enum Item {
    Index(i16),
    Range(Option<i16>, Option<i16>),
    Full,
    Ellipsis,
}

#[derive(Arbitrary, Debug)]
struct Input {
    axes: Vec<AxisSpec>,
    absolute: bool,
    edge: u8,
    selection: Vec<Item>,
    pick: Vec<u32>,
}

fuzz_target!(|input: Input| {
    if input.axes.is_empty() || input.axes.len() > 4 || input.selection.len() > 6 {
        return;
    }
    let dims: Vec<usize> = input
        .axes
        .iter()
        .map(|a| 1 + a.dim as usize % 4096)
        .collect();
    let cells: Vec<usize> = input
        .axes
        .iter()
        .map(|a| 1 + a.cell as usize % 600)
        .collect();
    let spacing: Vec<f64> = input
        .axes
        .iter()
        .map(|a| (1 + a.spacing as usize % 512) as f64 / 64.0)
        .collect();
    let steps: Vec<f64> = if input.absolute {
        spacing.clone()
    } else {
        cells
            .iter()
            .zip(&spacing)
            .map(|(&c, &s)| c as f64 * s)
            .collect()
    };
    let edge = match input.edge % 5 {
        0 | 1 => Edge::Clip,
        2 | 3 => Edge::Shift,
        _ => Edge::Pad(PadMode::Constant(0.0)),
    };
    let spec = if input.absolute {
        Spacing::Step(spacing.clone().into())
    } else {
        Spacing::Stride(spacing.clone().into())
    };
    let model = Model {
        axes: dims
            .iter()
            .zip(&cells)
            .zip(&steps)
            .map(|((&dim, &cell), &step)| ModelAxis { dim, cell, step })
            .collect(),
        edge,
    };
    let built = Grid::builder(&dims).cell(&cells).spacing(spec).edge(edge).build();
    let shape = model.shape();
    // the model's axes (at most 4096 voxels, steps of at least 1/64) always
    // build, unless their cell count overflows usize
    let Some(len) = shape.iter().try_fold(1usize, |n, &k| n.checked_mul(k)) else {
        assert!(
            matches!(built, Err(impart::GridError::TooManyCells { .. })),
            "grid {dims:?} / {cells:?} / {steps:?}: {shape:?} cells overflow, but {built:?}"
        );
        return;
    };
    let grid = built.unwrap_or_else(|e| {
        panic!("grid {dims:?} / {cells:?} / {steps:?} / {edge:?} does not build: {e}")
    });
    assert_eq!(grid.len(), len);
    assert_eq!(grid.shape(), shape.as_slice());

    let ndim = shape.len();
    let pick = |k: usize| input.pick.get(k).copied().unwrap_or(0) as usize;
    let boxes: [Vec<Range<usize>>; 3] = [
        (0..ndim).map(|_| 0..1).collect(),
        shape.iter().map(|&n| n - 1..n).collect(),
        shape
            .iter()
            .enumerate()
            .map(|(a, &n)| pick(a) % n..pick(a) % n + 1)
            .collect(),
    ];
    for cells in &boxes {
        let index: Vec<usize> = cells.iter().map(|r| r.start).collect();
        let got = grid
            .cell_region(&index)
            .expect("a cell of the grid has a region");
        let got: Vec<Range<usize>> = (0..ndim).map(|a| got.range(a)).collect();
        assert_eq!(got, model.region(cells), "cell {index:?}");
    }

    // the selection: by the model, or refused when the model refuses it
    let items: Vec<AxisIndex> = input
        .selection
        .iter()
        .map(|it| match *it {
            Item::Index(i) => AxisIndex::Index(i as isize),
            Item::Range(a, b) => AxisIndex::Range {
                start: a.map(|v| v as isize),
                stop: b.map(|v| v as isize),
            },
            Item::Full => AxisIndex::Full,
            Item::Ellipsis => AxisIndex::Ellipsis,
        })
        .collect();
    let want = model_resolve(&items, &shape);
    let text = to_text(&items);
    let parsed: impart::Selection = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
    for selection in [impart::Selection::new(items.clone()), parsed] {
        match (selection.resolve(&shape), &want) {
            (Ok(cells), Some(want)) => {
                assert_eq!(cells.ranges(), want.as_slice(), "{text:?} on {shape:?}");
                let region = grid.region(&cells).expect("a resolved box has a region");
                let got: Vec<Range<usize>> = (0..ndim).map(|a| region.range(a)).collect();
                assert_eq!(got, model.region(want), "{text:?} on {shape:?}");
            }
            (Err(_), None) => {}
            (got, want) => panic!("{text:?} on {shape:?}: got {got:?}, the model {want:?}"),
        }
    }
});
