//! The grid arithmetic and selection resolution checked against a naive
//! reference model written straight from DESIGN.md (and the Python
//! `impart` 0.0.5 formulas), over random shapes, cells, strides, steps, edge
//! policies and selections.

use std::ops::Range;

use impart::{
    AxisIndex, CellBox, DType, Edge, Error, Grid, PadMode, Partition, PerAxis, Region, Selection,
    SelectionError, Spacing, Volume,
};
use ndarray::SliceInfoElem;
use proptest::prelude::*;

#[path = "model/grid.rs"]
mod model;
use model::{model_resolve, to_text, Model, ModelAxis};

/// The same selection as ndarray `s![]` elements (`None` if it holds `...`).
fn to_slice_elems(items: &[AxisIndex]) -> Option<Vec<SliceInfoElem>> {
    items
        .iter()
        .map(|it| match *it {
            AxisIndex::Index(i) => Some(SliceInfoElem::Index(i)),
            AxisIndex::Range { start, stop } => Some(SliceInfoElem::Slice {
                start: start.unwrap_or(0),
                end: stop,
                step: 1,
            }),
            AxisIndex::Full => Some(SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 1,
            }),
            AxisIndex::Ellipsis => None,
        })
        .collect()
}

/// A volume that has only a shape: enough for regions, nothing to read.
#[derive(Debug)]
struct ShapeOnly(Vec<usize>);

impl Volume for ShapeOnly {
    fn name(&self) -> &str {
        "<shape only>"
    }
    fn shape(&self) -> &[usize] {
        &self.0
    }
    fn dtype(&self) -> DType {
        DType::U8
    }
    fn kind(&self) -> &'static str {
        "shape-only"
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn edge_strategy() -> impl Strategy<Value = Edge> {
    prop_oneof![
        3 => Just(Edge::Clip),
        2 => Just(Edge::Shift),
        1 => Just(Edge::Pad(PadMode::Constant(0.0))),
        1 => Just(Edge::Pad(PadMode::Edge)),
        1 => Just(Edge::Pad(PadMode::Reflect)),
    ]
}

/// A relative stride in (0.05, 2.0]: "nice" values that hit the float
/// rounding cases, and arbitrary ones.
fn stride_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.1,
            0.2,
            0.25,
            1.0 / 3.0,
            0.3,
            0.5,
            0.6,
            0.7,
            0.75,
            0.8,
            0.9,
            1.0,
            1.1,
            1.25,
            1.5,
            1.7,
            2.0
        ]),
        (0.0500001f64..=2.0),
    ]
}

fn step_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![0.5, 1.0, 1.5, 2.0, 3.0, 7.0, 10.0, 0.3, 6.4, 33.3]),
        (0.2f64..=80.0),
    ]
}

#[derive(Debug, Clone)]
struct GridCase {
    dims: Vec<usize>,
    cells: Vec<usize>,
    spacing: Spacing,
    edge: Edge,
}

impl GridCase {
    fn steps(&self) -> Vec<f64> {
        let n = self.dims.len();
        match &self.spacing {
            Spacing::Stride(PerAxis::All(s)) => self.cells.iter().map(|&c| c as f64 * s).collect(),
            Spacing::Stride(PerAxis::Each(v)) => self
                .cells
                .iter()
                .zip(v)
                .map(|(&c, s)| c as f64 * s)
                .collect(),
            Spacing::Step(PerAxis::All(s)) => vec![*s; n],
            Spacing::Step(PerAxis::Each(v)) => v.clone(),
        }
    }

    fn model(&self) -> Model {
        Model {
            axes: self
                .dims
                .iter()
                .zip(&self.cells)
                .zip(self.steps())
                .map(|((&dim, &cell), step)| ModelAxis { dim, cell, step })
                .collect(),
            edge: self.edge,
        }
    }

    fn grid(&self) -> Grid {
        Grid::builder(&self.dims)
            .cell(&self.cells)
            .spacing(self.spacing.clone())
            .edge(self.edge)
            .build()
            .expect("valid grid")
    }
}

fn axis_strategy() -> impl Strategy<Value = (usize, usize)> {
    (1usize..=160).prop_flat_map(|dim| {
        let cell = prop_oneof![
            6 => 1usize..=dim,
            1 => Just(dim),
            1 => dim..=dim + 40,
        ];
        (Just(dim), cell)
    })
}

fn grid_case(max_ndim: usize) -> impl Strategy<Value = GridCase> {
    (1..=max_ndim)
        .prop_flat_map(|ndim| {
            let spacing = prop_oneof![
                stride_value().prop_map(|s| Spacing::Stride(PerAxis::All(s))),
                prop::collection::vec(stride_value(), ndim)
                    .prop_map(|v| Spacing::Stride(PerAxis::Each(v))),
                step_value().prop_map(|s| Spacing::Step(PerAxis::All(s))),
                prop::collection::vec(step_value(), ndim)
                    .prop_map(|v| Spacing::Step(PerAxis::Each(v))),
            ];
            (
                prop::collection::vec(axis_strategy(), ndim),
                spacing,
                edge_strategy(),
            )
        })
        .prop_map(|(axes, spacing, edge)| GridCase {
            dims: axes.iter().map(|a| a.0).collect(),
            cells: axes.iter().map(|a| a.1).collect(),
            spacing,
            edge,
        })
}

/// Raw random material for one selection item, turned into a concrete
/// index once the grid shape is known.
#[derive(Debug, Clone)]
struct ItemSpec {
    kind: u8,
    a: u32,
    b: u32,
    open_start: bool,
    open_stop: bool,
}

#[derive(Debug, Clone)]
struct SelSpec {
    items: Vec<ItemSpec>,
    /// Where to insert `...` (if any); a second position gives two.
    ellipsis: Vec<usize>,
}

fn sel_spec(max_items: usize) -> impl Strategy<Value = SelSpec> {
    let item = (
        0u8..8,
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, a, b, open_start, open_stop)| ItemSpec {
            kind,
            a,
            b,
            open_start,
            open_stop,
        });
    let ellipsis = prop_oneof![
        6 => Just(vec![]),
        3 => (0usize..=max_items).prop_map(|p| vec![p]),
        1 => ((0usize..=max_items), (0usize..=max_items)).prop_map(|(p, q)| vec![p, q]),
    ];
    (prop::collection::vec(item, 0..=max_items), ellipsis)
        .prop_map(|(items, ellipsis)| SelSpec { items, ellipsis })
}

/// Maps a raw number onto `-n-3 .. n+3`, mostly inside `-n..n`.
fn pick(v: u32, n: usize) -> isize {
    let n = n as i64;
    if v % 4 == 0 {
        // anywhere in a wide band, including far out of range
        (v as i64 % (2 * n + 7)) as isize - (n + 3) as isize
    } else {
        (v as i64 % (2 * n)) as isize - n as isize
    }
}

fn concretize(spec: &SelSpec, shape: &[usize]) -> Vec<AxisIndex> {
    let mut items: Vec<AxisIndex> = spec
        .items
        .iter()
        .enumerate()
        .map(|(k, it)| {
            // the axis this item most likely lands on (ignoring `...`)
            let n = shape.get(k).copied().unwrap_or(3);
            match it.kind {
                0..=2 => AxisIndex::Index(pick(it.a, n)),
                3..=6 => AxisIndex::Range {
                    start: (!it.open_start).then(|| pick(it.a, n)),
                    stop: (!it.open_stop)
                        .then(|| pick(it.b, n) + if it.b % 3 == 0 { n as isize + 5 } else { 0 }),
                },
                _ => AxisIndex::Full,
            }
        })
        .collect();
    for &p in &spec.ellipsis {
        let p = p.min(items.len());
        items.insert(p, AxisIndex::Ellipsis);
    }
    items
}

fn ranges(r: &Region) -> Vec<Range<usize>> {
    (0..r.ndim()).map(|a| r.range(a)).collect()
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(3000))]

    /// Grid shape, step, every single-cell region at the borders and a few
    /// random boxes equal the model.
    #[test]
    fn grid_matches_model(case in grid_case(4), picks in prop::collection::vec(any::<u32>(), 16)) {
        let grid = case.grid();
        let model = case.model();
        let shape = model.shape();
        prop_assert_eq!(grid.shape(), shape.clone());
        prop_assert_eq!(grid.step(), case.steps());
        prop_assert_eq!(grid.ndim(), case.dims.len());
        prop_assert_eq!(grid.volume_shape(), case.dims.clone());
        prop_assert_eq!(grid.cell_shape(), case.cells.clone());
        prop_assert_eq!(grid.len(), shape.iter().product::<usize>());
        prop_assert_eq!(grid.edge(), case.edge);

        // every cell holds at least one voxel
        for (a, &n) in shape.iter().enumerate() {
            let last = ((n - 1) as f64 * model.axes[a].step).ceil() as usize;
            prop_assert!(last < case.dims[a]);
        }

        // first, last and a random cell on every axis; random boxes
        let ndim = shape.len();
        for k in 0..4 {
            let cells: Vec<Range<usize>> = (0..ndim)
                .map(|a| {
                    let n = shape[a];
                    let p = picks[(k * ndim + a) % picks.len()] as usize;
                    match k {
                        0 => 0..1,
                        1 => n - 1..n,
                        2 => (p % n)..(p % n + 1),
                        _ => {
                            let s = p % n;
                            let e = s + 1 + (p / 7) % (n - s);
                            s..e
                        }
                    }
                })
                .collect();
            let want = model.region(&cells);
            let got = grid.region(&CellBox::new(cells.clone())).unwrap();
            prop_assert_eq!(ranges(&got), want.clone(), "cells {:?}", cells);
            if k < 3 {
                let idx: Vec<usize> = cells.iter().map(|r| r.start).collect();
                prop_assert_eq!(ranges(&grid.cell_region(&idx).unwrap()), want);
            }
        }

        // whole grid
        let all = grid.region(&grid.all()).unwrap();
        prop_assert_eq!(ranges(&all), model.region(grid.all().ranges()));

        // edge-policy invariants
        for a in 0..ndim {
            let n = shape[a];
            let (dim, cell) = (case.dims[a], case.cells[a]);
            for i in [0, n - 1] {
                let mut idx = vec![0; ndim];
                idx[a] = i;
                let r = grid.cell_region(&idx).unwrap().range(a);
                // Shift and Pad cells are exactly full size (see
                // `shift_and_pad_cells_are_full_size` below).
                let full = |len: usize, want: usize| len == want;
                match case.edge {
                    Edge::Clip => prop_assert!(r.end <= dim && r.len() <= cell && !r.is_empty()),
                    Edge::Shift => {
                        prop_assert!(r.end <= dim);
                        prop_assert!(full(r.len(), cell.min(dim)), "{:?}", r);
                        if i == n - 1 && cell <= dim && model.axes[a].step <= cell as f64 {
                            // cells cover the axis (no gaps): the last one is
                            // moved inward to end at the volume's end
                            prop_assert_eq!(r.end, dim);
                        }
                    }
                    Edge::Pad(_) => prop_assert!(full(r.len(), cell), "{:?}", r),
                }
            }
        }
    }

    /// Selections (ints, negative ints, ranges with open, negative or
    /// past-the-end ends, fewer indices than axes, `...`) resolve like the
    /// model; invalid ones are errors, never panics; text and `s![]`
    /// elements agree.
    #[test]
    fn selections_match_model(case in grid_case(4), spec in sel_spec(5)) {
        let grid = case.grid();
        let model = case.model();
        let shape = model.shape();
        let items = concretize(&spec, &shape);
        let want = model_resolve(&items, &shape);

        let sel = Selection::new(items.clone());
        let got = sel.resolve(&shape);
        match (&want, &got) {
            (Some(w), Ok(g)) => {
                prop_assert_eq!(g.ranges(), w.as_slice());
                let region = grid.region(g).unwrap();
                prop_assert_eq!(ranges(&region), model.region(w));
            }
            (None, Err(_)) => {}
            _ => prop_assert!(false, "items {:?} on {:?}: model {:?}, got {:?}", items, shape, want, got),
        }

        // text form
        let text = to_text(&items);
        let parsed: Selection = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let got_text = parsed.resolve(&shape);
        prop_assert_eq!(got_text.as_ref().ok(), got.as_ref().ok(), "text {:?}", text);

        // `s![]`-style elements
        if let Some(elems) = to_slice_elems(&items) {
            let via_elems = Selection::try_from(elems.as_slice())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .resolve(&shape);
            prop_assert_eq!(via_elems.as_ref().ok(), got.as_ref().ok());
        }
    }
}

proptest! {
    #![proptest_config(cfg(2000))]

    /// Through a partition over a volume with extra carried axes and
    /// partitioned axes in any order: `select(..).region()` is the model's
    /// region on the partitioned axes and the whole extent elsewhere.
    #[test]
    fn partition_regions_match_model(
        case in grid_case(3),
        extra in prop::collection::vec(1usize..50, 0..=2),
        perm_seed in any::<u64>(),
        spec in sel_spec(4),
    ) {
        let gdim = case.dims.len();
        let vdim = gdim + extra.len();
        // choose which volume axes are partitioned, in which order
        let mut order: Vec<usize> = (0..vdim).collect();
        let mut s = perm_seed;
        for i in (1..vdim).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let axes: Vec<usize> = order[..gdim].to_vec();
        let mut vshape = vec![0; vdim];
        for (g, &a) in axes.iter().enumerate() {
            vshape[a] = case.dims[g];
        }
        let mut e = extra.iter();
        for v in vshape.iter_mut() {
            if *v == 0 {
                *v = *e.next().unwrap();
            }
        }
        let part = Partition::builder(ShapeOnly(vshape.clone()))
            .cell(&case.cells)
            .spacing(case.spacing.clone())
            .edge(case.edge)
            .axes(&axes)
            .build()
            .unwrap();
        let model = case.model();
        let shape = model.shape();
        prop_assert_eq!(part.grid().shape(), shape.clone());
        prop_assert_eq!(part.axes(), axes.as_slice());
        prop_assert_eq!(part.len(), shape.iter().product::<usize>());

        let items = concretize(&spec, &shape);
        let want = model_resolve(&items, &shape);
        let expand = |cells: &[Range<usize>]| -> Vec<Range<usize>> {
            let g = model.region(cells);
            let mut out: Vec<Range<usize>> = vshape.iter().map(|&n| 0..n).collect();
            for (k, &a) in axes.iter().enumerate() {
                out[a] = g[k].clone();
            }
            out
        };
        let text = to_text(&items);
        for got in [part.select(Selection::new(items.clone())), part.select(text.as_str())] {
            match (&want, got) {
                (Some(w), Ok(sel)) => {
                    prop_assert_eq!(ranges(sel.region()), expand(w));
                    prop_assert_eq!(sel.cells().ranges(), w.as_slice());
                    prop_assert_eq!(sel.shape(), sel.region().shape().to_vec());
                    prop_assert_eq!(sel.index(), w.iter().map(|r| r.start).collect::<Vec<_>>());
                }
                (None, Err(Error::Selection(_))) => {}
                (w, got) => prop_assert!(false, "{:?}: model {:?}, got {:?}", text, w, got.map(|s| s.region().clone())),
            }
        }

        // single cells by index, including one past the end
        let idx: Vec<usize> = shape.iter().map(|&n| (perm_seed as usize) % n).collect();
        let cell = part.cell(&idx).unwrap();
        let cells: Vec<Range<usize>> = idx.iter().map(|&i| i..i + 1).collect();
        prop_assert_eq!(ranges(cell.region()), expand(&cells));
        let mut bad = idx.clone();
        bad[0] = shape[0];
        prop_assert!(part.cell(&bad).is_err());
        prop_assert!(part.cell(&idx[..gdim - 1]).is_err());
    }

    /// Invalid cell boxes give errors from `Grid::region`, never panics.
    #[test]
    fn invalid_boxes_are_errors(case in grid_case(3), a in any::<u32>(), b in any::<u32>()) {
        let grid = case.grid();
        let shape = grid.shape();
        let n0 = shape[0];
        let mut r: Vec<Range<usize>> = shape.iter().map(|&n| 0..n).collect();
        // inverted or empty (not ending at 0: see `empty_box_at_zero_is_an_error`)
        let s = 1 + a as usize % (n0 + 2);
        r[0] = s..s;
        prop_assert!(grid.region(&CellBox::new(r.clone())).is_err());
        r[0] = s + 1..s;
        prop_assert!(grid.region(&CellBox::new(r.clone())).is_err());
        // past the end
        r[0] = (b as usize % n0)..n0 + 1 + (a as usize % 3);
        prop_assert!(grid.region(&CellBox::new(r.clone())).is_err());
        r[0] = usize::MAX - 1..usize::MAX;
        prop_assert!(grid.region(&CellBox::new(r.clone())).is_err());
        // wrong rank
        prop_assert!(grid.region(&CellBox::new(vec![0..1; shape.len() + 1])).is_err());
        prop_assert!(grid.cell_region(&vec![0; shape.len() + 1]).is_err());
        if shape.len() > 1 {
            prop_assert!(grid.cell_region(&vec![0; shape.len() - 1]).is_err());
        }
    }
}

proptest! {
    #![proptest_config(cfg(300))]

    /// `cells()` is C order (last axis fastest); ravel/unravel round-trip;
    /// sub-boxes too.
    #[test]
    fn cells_c_order_and_ravel(
        dims in prop::collection::vec(1usize..40, 1..=4),
        cells in prop::collection::vec(1usize..12, 4),
        stride in stride_value(),
        sub in prop::collection::vec((any::<u32>(), any::<u32>()), 4),
    ) {
        let ndim = dims.len();
        let cells = &cells[..ndim];
        let grid = Grid::new(&dims, cells, stride).unwrap();
        let shape = grid.shape();
        prop_assume!(grid.len() <= 20_000);

        // independent odometer
        let mut expected = Vec::with_capacity(grid.len());
        let mut idx = vec![0usize; ndim];
        'outer: loop {
            expected.push(idx.clone());
            let mut k = ndim;
            loop {
                if k == 0 {
                    break 'outer;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        let it = grid.cells();
        prop_assert_eq!(it.len(), grid.len());
        let got: Vec<Vec<usize>> = it.collect();
        prop_assert_eq!(&got, &expected);
        let mut rev: Vec<Vec<usize>> = grid.cells().rev().collect();
        rev.reverse();
        prop_assert_eq!(&rev, &expected);
        for (k, idx) in expected.iter().enumerate() {
            prop_assert_eq!(grid.ravel(idx).unwrap(), k);
            prop_assert_eq!(&grid.unravel(k).unwrap(), idx);
        }
        prop_assert!(grid.unravel(grid.len()).is_err());
        prop_assert!(grid.unravel(usize::MAX).is_err());
        let mut bad = vec![0; ndim];
        bad[ndim - 1] = shape[ndim - 1];
        prop_assert!(grid.ravel(&bad).is_err());
        prop_assert!(grid.ravel(&vec![0; ndim + 1]).is_err());

        // a sub-box: its own C order, positions relative to the box
        let boxr: Vec<Range<usize>> = (0..ndim)
            .map(|a| {
                let n = shape[a];
                let s = sub[a].0 as usize % n;
                s..s + 1 + sub[a].1 as usize % (n - s)
            })
            .collect();
        let cb = CellBox::new(boxr.clone());
        let inside: Vec<Vec<usize>> = expected
            .iter()
            .filter(|i| i.iter().zip(&boxr).all(|(v, r)| r.contains(v)))
            .cloned()
            .collect();
        prop_assert_eq!(cb.len(), inside.len());
        prop_assert_eq!(cb.iter().collect::<Vec<_>>(), inside.clone());
        for (k, idx) in inside.iter().enumerate() {
            prop_assert_eq!(cb.ravel(idx).unwrap(), k);
            prop_assert_eq!(&cb.unravel(k).unwrap(), idx);
        }
        prop_assert!(cb.unravel(inside.len()).is_err());
    }
}

// ---------------------------------------------------------------------------
// Fixed cases
// ---------------------------------------------------------------------------

#[test]
fn python_rounding_cases() {
    // Python: math.ceil(10 * (37 * 0.9)) == 334
    let g = Grid::new(&[1000], &[37], 0.9).unwrap();
    let m = ModelAxis {
        dim: 1000,
        cell: 37,
        step: 37.0 * 0.9,
    };
    assert_eq!(g.shape(), vec![m.n()]);
    assert_eq!(g.cell_region(&[10]).unwrap().start(), &[334]);
    for i in 0..m.n() {
        assert_eq!(
            g.cell_region(&[i]).unwrap().range(0),
            m.span(i, i + 1, Edge::Clip)
        );
    }
    // step 1/3 * 3 cells
    let g = Grid::new(&[100], &[3], 1.0 / 3.0).unwrap();
    let m = ModelAxis {
        dim: 100,
        cell: 3,
        step: 3.0 * (1.0 / 3.0),
    };
    assert_eq!(g.shape(), vec![m.n()]);
}

#[test]
fn stride_above_one_drops_empty_last_cell() {
    // the original would count 2 cells, the second starting at 10 == dim
    assert_eq!(Grid::new(&[10], &[2], 5.0).unwrap().shape(), vec![1]);
    let g = Grid::new(&[11], &[2], 5.0).unwrap();
    assert_eq!(g.shape(), vec![2]);
    assert_eq!(g.cell_region(&[1]).unwrap().range(0), 10..11);
}

#[test]
fn selection_errors_are_typed() {
    let shape = [16, 29];
    let r = |items: Vec<AxisIndex>| Selection::new(items).resolve(&shape);
    assert!(matches!(
        r(vec![AxisIndex::Index(16)]),
        Err(SelectionError::IndexOutOfRange { index: 16, .. })
    ));
    assert!(matches!(
        r(vec![AxisIndex::Index(isize::MIN)]),
        Err(SelectionError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        r(vec![AxisIndex::Index(isize::MAX)]),
        Err(SelectionError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        r(vec![AxisIndex::Range {
            start: Some(isize::MIN),
            stop: Some(isize::MIN)
        }]),
        Err(SelectionError::EmptyRange { .. })
    ));
    assert_eq!(
        r(vec![AxisIndex::Range {
            start: Some(isize::MIN),
            stop: Some(isize::MAX)
        }])
        .unwrap()
        .ranges(),
        &[0..16, 0..29]
    );
    assert!(matches!(
        r(vec![
            AxisIndex::Index(0),
            AxisIndex::Index(0),
            AxisIndex::Index(0)
        ]),
        Err(SelectionError::TooManyIndices { given: 3, ndim: 2 })
    ));
    assert!(matches!(
        r(vec![AxisIndex::Ellipsis, AxisIndex::Ellipsis]),
        Err(SelectionError::MultipleEllipsis)
    ));
    // `...` alone, and with as many indices as axes
    assert_eq!(
        r(vec![AxisIndex::Ellipsis]).unwrap().ranges(),
        &[0..16, 0..29]
    );
    assert_eq!(
        r(vec![
            AxisIndex::Index(1),
            AxisIndex::Ellipsis,
            AxisIndex::Index(-1)
        ])
        .unwrap()
        .ranges(),
        &[1..2, 28..29]
    );
    for bad in [
        "16", "-17", "3:3", "5:2", "16:", ":0", "-1:-2", "1,2,3", "...,...", "x", "1,,2", "0:4:2",
        "1:2:3:4",
    ] {
        assert!(
            bad.parse::<Selection>()
                .and_then(|s| s.resolve(&shape))
                .is_err(),
            "{bad:?}"
        );
    }
}

/// Edge::Shift and Edge::Pad promise every cell the full cell shape (grid.rs
/// module docs), but the cell end `ceil(cell + i * step)` is computed apart
/// from its start `ceil(i * step)`, so when `i * step` rounds just above an
/// integer the cell is one voxel short.
#[test]

fn shift_and_pad_cells_are_full_size() {
    // step = 25 * 1.1 = 27.500000000000004; 2 * step = 55.00000000000001
    for edge in [Edge::Shift, Edge::Pad(PadMode::Edge)] {
        let g = Grid::builder(&[100])
            .cell(&[25])
            .stride(1.1)
            .edge(edge)
            .build()
            .unwrap();
        for i in 0..g.shape()[0] {
            let r = g.cell_region(&[i]).unwrap();
            assert_eq!(r.shape(), &[25], "{edge:?} cell {i}: {r}");
        }
    }
}

/// A box whose range on some axis ends at 0 (`0..0`, `1..0`) must be an
/// error; `Grid::region` computes `r.end - 1` for the error's index and
/// overflows (a panic in debug builds, a bogus index in release).
#[test]

fn empty_box_at_zero_is_an_error() {
    let g = Grid::new(&[10], &[2], 1.0).unwrap();
    #[allow(clippy::reversed_empty_ranges)]
    for r in [0..0, 1..0] {
        let got = std::panic::catch_unwind(|| g.region(&CellBox::new(vec![r.clone()])));
        assert!(
            matches!(got, Ok(Err(_))),
            "{r:?}: expected an error, got a panic or a region"
        );
    }
    // the same through the public `Partition::selected`
    let part = Partition::builder(ShapeOnly(vec![10, 10]))
        .cell(&[2, 2])
        .build()
        .unwrap();
    let got =
        std::panic::catch_unwind(|| part.selected(CellBox::new(vec![0..0, 0..1])).map(|_| ()));
    assert!(matches!(got, Ok(Err(_))), "Partition::selected(0..0)");
}

/// An inclusive range up to `isize::MAX` in text (`"0..=9223372036854775807"`)
/// computes `stop + 1` and overflows.
#[test]

fn inclusive_range_to_isize_max_does_not_panic() {
    let text = format!("0..={}", isize::MAX);
    let got = std::panic::catch_unwind(|| text.parse::<Selection>().map(|s| s.resolve(&[5])));
    match got {
        Ok(Ok(Ok(b))) => assert_eq!(b.ranges().to_vec(), vec![0..5]),
        Ok(_) => {} // an error is acceptable too
        Err(_) => panic!("parsing {text:?} panicked"),
    }
}

/// Text selections never panic: random strings built from selection
/// characters parse to a selection or a typed error.
#[test]
fn text_selections_never_panic() {
    let mut seed = 0x5EED_u64;
    let alphabet: Vec<&str> = vec![
        "0", "1", "2", "-", ":", "..", "..=", ",", "...", " ", "[", "]", "9", "x", "-1", "3",
    ];
    for _ in 0..20_000 {
        let mut text = String::new();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (seed >> 60) as usize;
        for k in 0..len {
            let v = seed.rotate_left(7 * k as u32 + 3);
            text.push_str(alphabet[(v % alphabet.len() as u64) as usize]);
        }
        if let Ok(sel) = text.parse::<Selection>() {
            let _ = sel.resolve(&[4, 7, 1]);
        }
    }
}
