//! The conformance suite every backend passes (issue 10): one call,
//! [`check_backend`], holds a [`Volume`] to the same promises whatever
//! stores its voxels, against an independent reference array of the same
//! voxels (read from NumPy-, nibabel- or zarr-python-written fixtures
//! without the backend under test, or built in the test; never from
//! impart's own writers).
//!
//! What is checked:
//!
//! - the shape and element type, the layout (present exactly when views are
//!   expected, absent for backends that are not addressable) and
//!   `read_region` of the whole volume and of an inner box;
//! - for some fifteen grids (cells that do not divide the volume, cells
//!   larger than the volume, stride 0.5 and 1.0, per-axis strides and steps,
//!   carried axes, grid axes in another order than the volume's, and every
//!   edge policy the builder offers: clip, shift, and pad with a constant,
//!   the edge value or reflection): the grid shape and every cell's region
//!   against the grid model of `src/grid.rs`'s module docs, recomputed
//!   here; every cell's values through `to_array` (stored type and a cast),
//!   `to_array_as`, `read_into` (a batch slot, an F-order cast, a strided and
//!   a reversed destination), `read_into_vec` and `to_array_scaled`; the
//!   zero-copy view, where the backend offers one, or its refusal with a
//!   typed `NotZeroCopy` reason; wrong-type requests refused with typed
//!   errors;
//! - selections of several cells (bounding boxes) by cell box and by text;
//! - channel lists (strided views and gathers) when the last axis is a
//!   channel axis;
//! - parallel walks (`par_cells`, `par_map_cells`, `par_for_each_cell`;
//!   feature `rayon`) giving the same cells with the same values in the same
//!   order as the sequential walk.
//!
//! Padding is checked against the index tables of NumPy's `np.pad` modes,
//! built here; conversions use Rust's `as` ([`Voxel`]), written here.
//!
//! Every failure is collected; the test fails once, listing them all.
//!
//! Every test crate that declares `mod common;` compiles this module, and
//! only `tests/conformance.rs` uses it, hence the `allow(dead_code)`.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::ops::Range;

#[allow(unused_imports)]
use impart::{
    CellBox, DType, Edge, Element, Error, NotZeroCopyReason, PadMode, Partition, PerAxis, Region,
    Selected, Spacing, Volume,
};
#[allow(unused_imports)]
use ndarray::{ArrayD, ArrayViewD, Axis, Dimension, IxDyn, ShapeBuilder, Slice};

mod model;
mod selections;

use model::*;
use selections::*;

// ---------------------------------------------------------------------------
// Element types, with the conversions written here

/// A volume element type, with the conversions the reference needs written
/// here (Rust's `as`) rather than taken from impart.
pub trait Voxel: Element {
    /// `self as f64`.
    fn as_f64(self) -> f64;
    /// `v as Self`.
    fn from_f64_as(v: f64) -> Self;
    /// The bits, for exact comparisons (NaN and -0.0 included).
    fn bits(self) -> u64;
    /// One element from exactly `size_of::<Self>()` bytes.
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self;
}

macro_rules! voxel {
    ($($t:ty => |$x:ident| $bits:expr),* $(,)?) => {$(
        impl Voxel for $t {
            fn as_f64(self) -> f64 {
                self as f64
            }
            fn from_f64_as(v: f64) -> Self {
                v as $t
            }
            fn bits(self) -> u64 {
                let $x = self;
                $bits
            }
            fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
                let a = bytes.try_into().expect("one element's bytes");
                if big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            }
        }
    )*};
}

voxel!(
    u8 => |x| x as u64,
    i8 => |x| x as u64,
    u16 => |x| x as u64,
    i16 => |x| x as u64,
    u32 => |x| x as u64,
    i32 => |x| x as u64,
    u64 => |x| x,
    i64 => |x| x as u64,
    f32 => |x| x.to_bits() as u64,
    f64 => |x| x.to_bits(),
);

/// Decodes the elements of a file's data bytes stored in `order` (`C` or
/// `F`) into an array of `shape`, without impart.
pub fn decode<T: Voxel>(
    bytes: &[u8],
    shape: &[usize],
    fortran: bool,
    big_endian: bool,
) -> ArrayD<T> {
    let size = std::mem::size_of::<T>();
    let n: usize = shape.iter().product();
    assert!(
        bytes.len() >= n * size,
        "{} data bytes for {n} elements of {size} bytes",
        bytes.len()
    );
    let values: Vec<T> = bytes[..n * size]
        .chunks_exact(size)
        .map(|b| T::from_bytes(b, big_endian))
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape).set_f(fortran), values).expect("the values fill the shape")
}

// ---------------------------------------------------------------------------
// What a backend promises

/// What a backend is expected to do beyond holding the reference's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// `None`: zero-copy views of the stored type (a layout). `Some(r)`:
    /// every view is refused with `NotZeroCopy` for reason `r` (or for another
    /// reason that also applies to the selection).
    pub refuse_views: Option<NotZeroCopyReason>,
    /// The last axis is a channel axis: the grids cover the other axes and
    /// channel lists are checked.
    pub channels: bool,
    /// The intensity scaling `(slope, intercept)` the format records, as its
    /// writer says (`None`: none, the same as `(1, 0)`).
    pub scaling: Option<(f64, f64)>,
}

impl Expect {
    /// Zero-copy views.
    pub fn views() -> Expect {
        Expect {
            refuse_views: None,
            channels: false,
            scaling: None,
        }
    }

    /// No views, for this reason.
    pub fn no_views(reason: NotZeroCopyReason) -> Expect {
        Expect {
            refuse_views: Some(reason),
            ..Expect::views()
        }
    }

    /// The last axis is a channel axis.
    pub fn channels(mut self) -> Expect {
        self.channels = true;
        self
    }

    /// The format records this intensity scaling.
    pub fn scaling(mut self, scaling: Option<(f64, f64)>) -> Expect {
        self.scaling = scaling;
        self
    }
}

// ---------------------------------------------------------------------------
// Failures

struct Failures {
    backend: String,
    list: Vec<String>,
}

impl Failures {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.list.push(msg());
        }
    }

    fn fail(&mut self, msg: String) {
        self.list.push(msg);
    }

    fn finish(self) {
        const SHOWN: usize = 60;
        if self.list.is_empty() {
            return;
        }
        let mut text = format!("{}: {} conformance failures", self.backend, self.list.len());
        for m in self.list.iter().take(SHOWN) {
            let _ = write!(text, "\n  {m}");
        }
        if self.list.len() > SHOWN {
            let _ = write!(text, "\n  … and {} more", self.list.len() - SHOWN);
        }
        panic!("{text}");
    }
}

/// Where two arrays differ: `None` if they hold the same bits in the same
/// shape, else a description (shape, or the first differing element and
/// how many differ).
fn differ<T: Voxel>(got: &ArrayViewD<'_, T>, want: &ArrayViewD<'_, T>) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let mut first = None;
    let mut count = 0usize;
    for ((idx, g), w) in got.indexed_iter().zip(want.iter()) {
        if g.bits() != w.bits() {
            count += 1;
            if first.is_none() {
                first = Some(format!("at {:?} got {g:?}, expected {w:?}", idx.slice()));
            }
        }
    }
    first.map(|f| format!("{count} of {} elements differ, first {f}", want.len()))
}

// ---------------------------------------------------------------------------
// The suite

/// Holds `volume` to the suite against `reference`, the same voxels read
/// without the backend under test (see the module docs). `name` labels the
/// failures.
pub fn check_backend<V: Volume, T: Voxel>(
    name: &str,
    volume: V,
    reference: &ArrayD<T>,
    expect: Expect,
) {
    let mut f = Failures {
        backend: format!("{name} ({})", volume.name()),
        list: Vec::new(),
    };
    if check_volume(&mut f, &volume, reference, &expect) {
        let ndim = reference.ndim();
        let k = if expect.channels { ndim - 1 } else { ndim };
        assert!(
            k >= 1,
            "{name}: a channel axis needs a spatial axis before it"
        );
        let shape = reference.shape().to_vec();
        for spec in grid_specs(&shape, k) {
            check_grid(&mut f, &volume, reference, &expect, &spec, None);
        }
        if expect.channels {
            let c = shape[ndim - 1];
            let grids = grid_specs(&shape, k);
            let picked: Vec<&GridSpec> = grids
                .iter()
                .filter(|s| s.label == "clip, stride 0.5" || s.label == "pad reflect, stride 0.5")
                .collect();
            for list in channel_lists(c) {
                for spec in &picked {
                    check_grid(&mut f, &volume, reference, &expect, spec, Some(&list));
                }
            }
            // a channel that does not exist, an empty list
            for bad in [vec![c], vec![]] {
                match grids[0].build(&volume, Some(&bad)) {
                    Err(Error::InvalidPartition { .. }) => {}
                    other => f.fail(format!(
                        "channels {bad:?} of {c}: expected InvalidPartition, got {:?}",
                        other.map(|_| ())
                    )),
                }
            }
        }
    }
    f.finish();
}

/// Channel lists over `c` channels: evenly spaced ones (strided views,
/// descending too) and gathers (repeated or unevenly spaced).
fn channel_lists(c: usize) -> Vec<Vec<usize>> {
    let mut lists = vec![(0..c).rev().collect::<Vec<_>>(), vec![0], vec![0, 0]];
    if c >= 2 {
        lists.push(vec![c - 1, 0]);
    }
    if c >= 3 {
        lists.push(vec![0, 2, 1]);
    }
    lists.dedup(); // [0] twice for one channel
    lists
}

/// Whether a channel list is a strided slice (evenly spaced, step not 0).
fn evenly_spaced(list: &[usize]) -> bool {
    if list.len() < 2 {
        return true;
    }
    let step = list[1] as isize - list[0] as isize;
    step != 0
        && list
            .windows(2)
            .all(|w| w[1] as isize - w[0] as isize == step)
}

/// Shape, dtype, layout and `read_region`; whether the grids can be
/// checked (the shape and dtype are right).
fn check_volume<V: Volume, T: Voxel>(
    f: &mut Failures,
    volume: &V,
    reference: &ArrayD<T>,
    expect: &Expect,
) -> bool {
    if volume.shape() != reference.shape() {
        f.fail(format!(
            "shape {:?}, the reference is {:?}",
            volume.shape(),
            reference.shape()
        ));
        return false;
    }
    if volume.dtype() != T::DTYPE {
        f.fail(format!(
            "dtype {}, the reference is {}",
            volume.dtype(),
            T::DTYPE
        ));
        return false;
    }
    let (slope, inter) = expect.scaling.unwrap_or((1.0, 0.0));
    let got = volume.scaling().unwrap_or((1.0, 0.0));
    f.check(got == (slope, inter), || {
        format!("scaling {got:?}, the writer recorded {:?}", (slope, inter))
    });
    match (volume.layout(), &expect.refuse_views) {
        (Some(_), Some(NotZeroCopyReason::NotAddressable)) => {
            f.fail("layout() is Some, but the backend is expected not to be addressable".into())
        }
        (None, Some(NotZeroCopyReason::NotAddressable)) => {}
        (None, _) => {
            f.fail("layout() is None, but the backend is expected to be addressable".into())
        }
        (Some(l), _) => {
            f.check(l.shape() == volume.shape() && l.dtype() == T::DTYPE, || {
                format!(
                    "layout describes {:?} of {}, the volume is {:?} of {}",
                    l.shape(),
                    l.dtype(),
                    volume.shape(),
                    T::DTYPE
                )
            });
        }
    }
    // read_region: the whole volume, and an inner box
    let shape = reference.shape();
    let inner = Region::new(
        shape.iter().map(|&d| d / 3).collect(),
        shape
            .iter()
            .map(|&d| (d - d / 3).div_ceil(2).max(1))
            .collect(),
    )
    .expect("a region");
    for region in [Region::full(shape), inner] {
        let n = region.voxels().expect("a small region");
        let mut buf = vec![T::default(); n];
        match volume.read_region(&region, bytemuck::cast_slice_mut(&mut buf)) {
            Ok(()) => {
                let want = reference.slice_each_axis(|ad| {
                    let r = region.range(ad.axis.index());
                    Slice::from(r.start..r.end)
                });
                let got = ArrayD::from_shape_vec(IxDyn(region.shape()), buf).expect("shape");
                if let Some(d) = differ(&got.view(), &want) {
                    f.fail(format!("read_region({region}): {d}"));
                }
            }
            Err(e) => f.fail(format!("read_region({region}) failed: {e}")),
        }
    }
    true
}

/// The volume region of a box of cells, by the model.
fn model_region(
    model: &[AxisModel],
    spec: &GridSpec,
    shape: &[usize],
    cells: &[Range<usize>],
    channels: Option<&[usize]>,
) -> Vec<Range<usize>> {
    let mut region: Vec<Range<usize>> = shape.iter().map(|&d| 0..d).collect();
    for (g, &a) in spec.axes.iter().enumerate() {
        region[a] = model[g].span(&cells[g], spec.edge);
    }
    if let Some(list) = channels {
        let lo = *list.iter().min().expect("a channel");
        let hi = *list.iter().max().expect("a channel");
        region[shape.len() - 1] = lo..hi + 1;
    }
    region
}

/// One grid (with a channel list, or not): grid shape, every cell, boxes of
/// cells, parallel walks.
fn check_grid<V: Volume, T: Voxel>(
    f: &mut Failures,
    volume: &V,
    reference: &ArrayD<T>,
    expect: &Expect,
    spec: &GridSpec,
    channels: Option<&[usize]>,
) {
    let label = match channels {
        Some(list) => format!("{} (cell {:?}, channels {list:?})", spec.label, spec.cell),
        None => format!("{} (cell {:?})", spec.label, spec.cell),
    };
    let part = match spec.build(volume, channels) {
        Ok(p) => p,
        Err(e) => return f.fail(format!("{label}: build failed: {e}")),
    };
    let shape = reference.shape();
    let model = spec.model(shape);
    let grid_shape: Vec<usize> = model.iter().map(|m| m.n).collect();
    if part.grid().shape() != grid_shape.as_slice() {
        return f.fail(format!(
            "{label}: grid shape {:?}, the model gives {grid_shape:?}",
            part.grid().shape()
        ));
    }
    let pad = match spec.edge {
        Edge::Pad(m) => Some(m),
        _ => None,
    };
    let ch = channels.map(|l| (shape.len() - 1, l));
    let even = channels.is_none_or(evenly_spaced);
    let check = |f: &mut Failures, sel: &Selected<'_, &V>, cells: &[Range<usize>], what: &str| {
        let region = model_region(&model, spec, shape, cells, channels);
        let got: Vec<Range<usize>> = (0..shape.len()).map(|a| sel.region().range(a)).collect();
        if got != region {
            f.fail(format!(
                "{label} {what}: region {}, the model gives {region:?}",
                sel.region()
            ));
            return None;
        }
        let expected = expected_block(reference, &region, pad, ch);
        let within = region.iter().zip(shape).all(|(r, &d)| r.end <= d);
        let mut obstacles: Vec<NotZeroCopyReason> = expect.refuse_views.iter().cloned().collect();
        if !within {
            obstacles.push(NotZeroCopyReason::Padded);
        }
        if !even {
            obstacles.push(NotZeroCopyReason::ChannelGather);
        }
        check_selected(
            f,
            volume,
            sel,
            &expected,
            &obstacles,
            expect,
            &format!("{label} {what}"),
        );
        Some(expected)
    };

    // every cell, in C order of the grid
    let all: Vec<Vec<usize>> = CellBox::new(grid_shape.iter().map(|&n| 0..n).collect())
        .iter()
        .collect();
    let mut sequential: Vec<(Vec<usize>, ArrayD<T>)> = Vec::with_capacity(all.len());
    match part.cells("...") {
        Ok(iter) => {
            let listed: Vec<_> = iter.collect();
            f.check(listed.len() == all.len(), || {
                format!(
                    "{label}: cells(\"...\") gives {} cells, the grid has {}",
                    listed.len(),
                    all.len()
                )
            });
            for (sel, index) in listed.iter().zip(&all) {
                if &sel.index() != index {
                    f.fail(format!(
                        "{label}: cells(\"...\") gives {:?} where C order has {index:?}",
                        sel.index()
                    ));
                    continue;
                }
                let cells: Vec<Range<usize>> = index.iter().map(|&i| i..i + 1).collect();
                let what = format!("cell {index:?}");
                if let Some(expected) = check(f, sel, &cells, &what) {
                    sequential.push((index.clone(), expected));
                }
                match part.cell(index) {
                    Ok(c) => f.check(c.region() == sel.region(), || {
                        format!(
                            "{label} {what}: cell() at {}, cells() at {}",
                            c.region(),
                            sel.region()
                        )
                    }),
                    Err(e) => f.fail(format!("{label} {what}: cell() failed: {e}")),
                }
            }
        }
        Err(e) => f.fail(format!("{label}: cells(\"...\") failed: {e}")),
    }

    // boxes of cells, as cell boxes and as text
    let two = |n: usize| n.min(2);
    let candidates: Vec<Vec<Range<usize>>> = vec![
        grid_shape.iter().map(|&n| 0..n).collect(),
        grid_shape.iter().map(|&n| 0..two(n)).collect(),
        grid_shape.iter().map(|&n| n - two(n)..n).collect(),
        grid_shape
            .iter()
            .enumerate()
            .map(|(g, &n)| {
                if g % 2 == 0 {
                    n / 2..n
                } else {
                    0..n.div_ceil(2)
                }
            })
            .collect(),
    ];
    let mut boxes: Vec<Vec<Range<usize>>> = Vec::new();
    for b in candidates {
        if !boxes.contains(&b) {
            boxes.push(b);
        }
    }
    for cells in &boxes {
        let text: Vec<String> = cells
            .iter()
            .map(|r| format!("{}:{}", r.start, r.end))
            .collect();
        let text = text.join(",");
        let what = format!("box {text:?}");
        match part.selected(CellBox::new(cells.clone())) {
            Ok(sel) => {
                check(f, &sel, cells, &what);
                match part.select(text.as_str()) {
                    Ok(by_text) => f.check(by_text.region() == sel.region(), || {
                        format!(
                            "{label} {what}: select(text) at {}, selected(box) at {}",
                            by_text.region(),
                            sel.region()
                        )
                    }),
                    Err(e) => f.fail(format!("{label} {what}: select(text) failed: {e}")),
                }
            }
            Err(e) => f.fail(format!("{label} {what}: selected() failed: {e}")),
        }
    }
    // negative indices: the last cell on the first grid axis, everything else
    let mut last: Vec<Range<usize>> = grid_shape.iter().map(|&n| 0..n).collect();
    last[0] = grid_shape[0] - 1..grid_shape[0];
    match part.select("-1,...") {
        Ok(sel) => {
            check(f, &sel, &last, "selection \"-1,...\"");
        }
        Err(e) => f.fail(format!("{label}: select(\"-1,...\") failed: {e}")),
    }

    #[cfg(feature = "rayon")]
    check_parallel(f, &part, &label, &all, &sequential, &grid_shape);
}
