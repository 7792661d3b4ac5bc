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

use impart::{
    CellBox, DType, Edge, Element, Error, NotZeroCopyReason, PadMode, Partition, PerAxis, Region,
    Selected, Spacing, Volume,
};
use ndarray::{ArrayD, ArrayViewD, Axis, Dimension, IxDyn, ShapeBuilder, Slice};

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
// The grid model of src/grid.rs's module docs, recomputed here

struct AxisModel {
    dim: usize,
    cell: usize,
    step: f64,
    n: usize,
}

impl AxisModel {
    fn new(dim: usize, cell: usize, step: f64) -> AxisModel {
        // n = 1 + ceil(max(0, dim - cell) / step), without a last cell that
        // starts at or past the end
        let mut n = 1 + (dim.saturating_sub(cell) as f64 / step).ceil() as usize;
        if n > 1 && ((n - 1) as f64 * step).ceil() >= dim as f64 {
            n -= 1;
        }
        AxisModel { dim, cell, step, n }
    }

    fn start(&self, i: usize) -> usize {
        (i as f64 * self.step).ceil() as usize
    }

    /// The span of cells `a..b`.
    fn span(&self, cells: &Range<usize>, edge: Edge) -> Range<usize> {
        let (a, last) = (cells.start, cells.end - 1);
        match edge {
            Edge::Clip => {
                let end = (self.cell as f64 + last as f64 * self.step).ceil() as usize;
                self.start(a)..end.min(self.dim)
            }
            Edge::Shift if self.cell > self.dim => 0..self.dim,
            Edge::Shift => {
                let limit = self.dim - self.cell;
                self.start(a).min(limit)..self.start(last).min(limit) + self.cell
            }
            Edge::Pad(_) => self.start(a)..self.start(last) + self.cell,
        }
    }
}

/// One grid of the suite.
#[derive(Debug, Clone)]
struct GridSpec {
    label: String,
    /// Partitioned volume axes, in grid-axis order.
    axes: Vec<usize>,
    cell: Vec<usize>,
    spacing: Spacing,
    edge: Edge,
}

impl GridSpec {
    fn steps(&self) -> Vec<f64> {
        let k = self.cell.len();
        let per = |p: &PerAxis<f64>| -> Vec<f64> {
            match p {
                PerAxis::All(v) => vec![*v; k],
                PerAxis::Each(v) => v.clone(),
            }
        };
        match &self.spacing {
            Spacing::Stride(s) => per(s)
                .iter()
                .zip(&self.cell)
                .map(|(s, &c)| c as f64 * s)
                .collect(),
            Spacing::Step(s) => per(s),
        }
    }

    fn model(&self, shape: &[usize]) -> Vec<AxisModel> {
        self.axes
            .iter()
            .zip(&self.cell)
            .zip(self.steps())
            .map(|((&a, &c), s)| AxisModel::new(shape[a], c, s))
            .collect()
    }

    fn build<'v, V: Volume>(
        &self,
        volume: &'v V,
        channels: Option<&[usize]>,
    ) -> impart::Result<Partition<&'v V>> {
        let mut b = Partition::builder(volume)
            .cell(&self.cell)
            .spacing(self.spacing.clone())
            .edge(self.edge)
            .axes(&self.axes);
        if let Some(list) = channels {
            b = b.channels(list);
        }
        b.build()
    }
}

/// A cell extent that does not divide `d` (where one exists), about half
/// of it.
fn non_dividing(d: usize) -> usize {
    if d < 3 {
        return d.max(1);
    }
    (2..=d / 2 + 1)
        .rev()
        .find(|c| d % c != 0)
        .unwrap_or(d / 2 + 1)
}

fn cycle(values: &[f64], k: usize) -> PerAxis<f64> {
    PerAxis::Each((0..k).map(|i| values[i % values.len()]).collect())
}

/// The grids of the suite over the first `k` axes of `shape`.
fn grid_specs(shape: &[usize], k: usize) -> Vec<GridSpec> {
    let axes: Vec<usize> = (0..k).collect();
    let cell: Vec<usize> = shape[..k].iter().map(|&d| non_dividing(d)).collect();
    let spec = |label: &str, cell: &[usize], spacing: Spacing, edge: Edge| GridSpec {
        label: label.to_string(),
        axes: axes.clone(),
        cell: cell.to_vec(),
        spacing,
        edge,
    };
    let stride = |s: f64| Spacing::Stride(PerAxis::All(s));
    let mut big = cell.clone();
    big[0] = shape[0] + 2;
    let mut huge = cell.clone();
    huge[0] = 2 * shape[0] + 1;
    let mut specs = vec![
        spec("clip, stride 1", &cell, stride(1.0), Edge::Clip),
        spec("clip, stride 0.5", &cell, stride(0.5), Edge::Clip),
        spec(
            "clip, per-axis strides",
            &cell,
            Spacing::Stride(cycle(&[0.5, 1.0, 0.75, 0.3], k)),
            Edge::Clip,
        ),
        spec(
            "clip, per-axis steps",
            &cell,
            Spacing::Step(cycle(&[2.0, 1.5, 3.0, 1.0], k)),
            Edge::Clip,
        ),
        spec(
            "clip, axis-0 cell past the volume",
            &big,
            stride(0.5),
            Edge::Clip,
        ),
        spec("shift, stride 0.5", &cell, stride(0.5), Edge::Shift),
        spec(
            "shift, per-axis strides",
            &cell,
            Spacing::Stride(cycle(&[1.0, 0.75, 0.5], k)),
            Edge::Shift,
        ),
        spec(
            "shift, axis-0 cell past the volume",
            &big,
            stride(1.0),
            Edge::Shift,
        ),
        spec(
            "pad constant 7, stride 1",
            &cell,
            stride(1.0),
            Edge::Pad(PadMode::Constant(7.0)),
        ),
        spec(
            "pad constant -3.5, stride 0.75",
            &cell,
            stride(0.75),
            Edge::Pad(PadMode::Constant(-3.5)),
        ),
        spec(
            "pad edge, stride 0.5",
            &cell,
            stride(0.5),
            Edge::Pad(PadMode::Edge),
        ),
        spec(
            "pad reflect, stride 0.5",
            &cell,
            stride(0.5),
            Edge::Pad(PadMode::Reflect),
        ),
        spec(
            "pad reflect, axis-0 cell over twice the volume",
            &huge,
            stride(1.0),
            Edge::Pad(PadMode::Reflect),
        ),
    ];
    if k >= 2 {
        specs.push(GridSpec {
            label: "clip, stride 0.5, last grid axis carried".into(),
            axes: (0..k - 1).collect(),
            cell: cell[..k - 1].to_vec(),
            spacing: stride(0.5),
            edge: Edge::Clip,
        });
        let rev: Vec<usize> = (0..k).rev().collect();
        specs.push(GridSpec {
            label: "pad edge, grid axes in reverse order".into(),
            cell: rev.iter().map(|&a| non_dividing(shape[a])).collect(),
            axes: rev,
            spacing: Spacing::Stride(cycle(&[0.5, 1.0], k)),
            edge: Edge::Pad(PadMode::Edge),
        });
    }
    specs
}

// ---------------------------------------------------------------------------
// Expected values

/// NumPy's `np.pad(.., mode="reflect")` indices past the end of an axis of
/// `dim` values, up to `len`: mirror the last `dim - 1` values about the last
/// one, again and again; a single value is repeated.
fn numpy_reflect_indices(dim: usize, len: usize) -> Vec<usize> {
    let mut ext: Vec<usize> = (0..dim).collect();
    if dim == 1 {
        ext.resize(len.max(1), 0);
        return ext;
    }
    while ext.len() < len {
        let last = ext.len() - 1;
        let chunk = (dim - 1).min(len - ext.len());
        for k in 1..=chunk {
            ext.push(ext[last - k]);
        }
    }
    ext
}

/// The reference's values for a region (which may reach past the end under
/// padding), with the channel list applied on `channels`' axis.
fn expected_block<T: Voxel>(
    reference: &ArrayD<T>,
    region: &[Range<usize>],
    pad: Option<PadMode>,
    channels: Option<(usize, &[usize])>,
) -> ArrayD<T> {
    let maps: Vec<Vec<Option<usize>>> = region
        .iter()
        .zip(reference.shape())
        .enumerate()
        .map(|(a, (r, &dim))| {
            if let Some((ca, list)) = channels {
                if ca == a {
                    return list.iter().map(|&c| Some(c)).collect();
                }
            }
            let table = numpy_reflect_indices(dim, r.end);
            r.clone()
                .map(|i| match (i < dim, pad) {
                    (true, _) => Some(i),
                    (false, Some(PadMode::Edge)) => Some(dim - 1),
                    (false, Some(PadMode::Reflect)) => Some(table[i]),
                    (false, _) => None,
                })
                .collect()
        })
        .collect();
    // the constant is converted to the stored type (np.pad on the stored
    // array, then astype)
    let fill = match pad {
        Some(PadMode::Constant(v)) => T::from_f64_as(v),
        _ => T::default(),
    };
    let shape: Vec<usize> = maps.iter().map(|m| m.len()).collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let src: Option<Vec<usize>> = (0..shape.len()).map(|a| maps[a][idx[a]]).collect();
        match src {
            Some(s) => reference[IxDyn(&s)],
            None => fill,
        }
    })
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

/// Parallel walks against the sequential one: the same cells, in the same
/// order (C order where the method promises it), with the same values.
#[cfg(feature = "rayon")]
fn check_parallel<V: Volume, T: Voxel>(
    f: &mut Failures,
    part: &Partition<&V>,
    label: &str,
    all: &[Vec<usize>],
    sequential: &[(Vec<usize>, ArrayD<T>)],
    grid_shape: &[usize],
) {
    use rayon::prelude::*;
    use std::sync::Mutex;

    if sequential.len() != all.len() {
        return; // the sequential walk failed already
    }
    match part.par_cells("...") {
        Ok(it) => {
            let order: Vec<Vec<usize>> = it.map(|c| c.index()).collect();
            f.check(order == all, || {
                format!("{label}: par_cells(\"...\").collect() gives {order:?}, C order is {all:?}")
            });
        }
        Err(e) => f.fail(format!("{label}: par_cells failed: {e}")),
    }
    match part.par_map_cells::<T, _, _>("...", |cell, view| (cell.index(), view.to_owned())) {
        Ok(results) => {
            f.check(results.len() == sequential.len(), || {
                format!(
                    "{label}: par_map_cells gives {} results for {} cells",
                    results.len(),
                    sequential.len()
                )
            });
            for ((idx, got), (want_idx, want)) in results.iter().zip(sequential) {
                if idx != want_idx {
                    f.fail(format!(
                        "{label}: par_map_cells result for {idx:?} where the sequential walk has {want_idx:?}"
                    ));
                } else if let Some(d) = differ(&got.view(), &want.view()) {
                    f.fail(format!("{label}: par_map_cells::<T> cell {idx:?}: {d}"));
                }
            }
        }
        Err(e) => f.fail(format!("{label}: par_map_cells failed: {e}")),
    }
    // a cast, over a sub-box (the last cells on every axis but the first)
    let sub: Vec<Range<usize>> = grid_shape
        .iter()
        .enumerate()
        .map(|(g, &n)| if g == 0 { 0..n } else { n / 2..n })
        .collect();
    let sub_box = CellBox::new(sub);
    let want: Vec<(Vec<usize>, ArrayD<f64>)> = sequential
        .iter()
        .filter(|(i, _)| i.iter().zip(sub_box.ranges()).all(|(i, r)| r.contains(i)))
        .map(|(i, a)| (i.clone(), a.mapv(Voxel::as_f64)))
        .collect();
    match part.par_map_cells::<f64, _, _>(&sub_box, |cell, view| (cell.index(), view.to_owned())) {
        Ok(results) => {
            f.check(results.len() == want.len(), || {
                format!(
                    "{label}: par_map_cells over {sub_box:?} gives {} results for {} cells",
                    results.len(),
                    want.len()
                )
            });
            for ((idx, got), (want_idx, want)) in results.iter().zip(&want) {
                if idx != want_idx {
                    f.fail(format!(
                        "{label}: par_map_cells::<f64> over {sub_box:?} gives {idx:?} where the sequential walk has {want_idx:?}"
                    ));
                } else if let Some(d) = differ(&got.view(), &want.view()) {
                    f.fail(format!("{label}: par_map_cells::<f64> cell {idx:?}: {d}"));
                }
            }
        }
        Err(e) => f.fail(format!("{label}: par_map_cells over a box failed: {e}")),
    }
    let seen = Mutex::new(Vec::new());
    match part.par_for_each_cell::<T, _>("...", |cell, view| {
        seen.lock().unwrap().push((cell.index(), view.to_owned()));
    }) {
        Ok(()) => {
            let mut seen = seen.into_inner().unwrap();
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            let mut want: Vec<&(Vec<usize>, ArrayD<T>)> = sequential.iter().collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            f.check(seen.len() == want.len(), || {
                format!(
                    "{label}: par_for_each_cell visits {} cells, the grid has {}",
                    seen.len(),
                    want.len()
                )
            });
            for ((idx, got), (want_idx, want)) in seen.iter().zip(want) {
                if idx != want_idx {
                    f.fail(format!(
                        "{label}: par_for_each_cell visits {idx:?} where {want_idx:?} was expected (a cell missed or visited twice)"
                    ));
                    break;
                } else if let Some(d) = differ(&got.view(), &want.view()) {
                    f.fail(format!("{label}: par_for_each_cell cell {idx:?}: {d}"));
                }
            }
        }
        Err(e) => f.fail(format!("{label}: par_for_each_cell failed: {e}")),
    }
}

/// The byte range of a view's elements lies inside the volume's memory.
fn view_inside<T>(view: &ArrayViewD<'_, T>, bytes: &[u8]) -> bool {
    let size = std::mem::size_of::<T>();
    let lo = bytes.as_ptr() as usize;
    let hi = lo + bytes.len();
    let first = view.as_ptr() as usize;
    let (mut min, mut max) = (0isize, 0isize);
    for (&n, &s) in view.shape().iter().zip(view.strides()) {
        let reach = (n as isize - 1) * s;
        if reach < 0 {
            min += reach;
        } else {
            max += reach;
        }
    }
    let start = first as isize + min * size as isize;
    let end = first as isize + (max + 1) * size as isize;
    start >= lo as isize && end <= hi as isize
}

/// Every way of reading one selection, against `expected`; `obstacles` are
/// the reasons a view may be refused for (none: it must exist).
fn check_selected<V: Volume, T: Voxel>(
    f: &mut Failures,
    volume: &V,
    sel: &Selected<'_, &V>,
    expected: &ArrayD<T>,
    obstacles: &[NotZeroCopyReason],
    expect: &Expect,
    what: &str,
) {
    let want = expected.view();
    f.check(sel.shape() == expected.shape(), || {
        format!(
            "{what}: shape() {:?}, expected {:?}",
            sel.shape(),
            expected.shape()
        )
    });
    f.check(sel.len() == expected.len(), || {
        format!("{what}: len() {}, expected {}", sel.len(), expected.len())
    });
    f.check(sel.nbytes() == expected.len() * T::DTYPE.size(), || {
        format!("{what}: nbytes() {}", sel.nbytes())
    });

    // the zero-copy view, or its typed refusal
    match sel.view::<T>() {
        Ok(v) => {
            if !obstacles.is_empty() {
                f.fail(format!(
                    "{what}: view() succeeded, expected NotZeroCopy for one of {obstacles:?}"
                ));
            }
            if let Some(d) = differ(&v, &want) {
                f.fail(format!("{what}: view: {d}"));
            }
            if let Some(l) = volume.layout() {
                f.check(view_inside(&v, l.bytes()), || {
                    format!("{what}: the view reaches outside the volume's memory")
                });
            }
        }
        Err(Error::NotZeroCopy { reason, volume: n }) => {
            if obstacles.is_empty() {
                f.fail(format!(
                    "{what}: view() refused ({reason}), expected a view"
                ));
            } else if !obstacles.contains(&reason) {
                f.fail(format!(
                    "{what}: view() refused for {reason:?}, expected one of {obstacles:?}"
                ));
            }
            f.check(n == volume.name(), || {
                format!("{what}: NotZeroCopy names {n:?}, not {:?}", volume.name())
            });
        }
        Err(e) => f.fail(format!(
            "{what}: view() failed with {e}, expected a view or NotZeroCopy"
        )),
    }
    if T::DTYPE == DType::F64 {
        check_wrong_type::<V, T, f32>(f, sel, obstacles, what);
    } else {
        check_wrong_type::<V, T, f64>(f, sel, obstacles, what);
    }

    // owned copies, in the stored type and cast
    let want_f64 = expected.mapv(Voxel::as_f64);
    match sel.to_array::<T>() {
        Ok(a) => {
            if let Some(d) = differ(&a.view(), &want) {
                f.fail(format!("{what}: to_array: {d}"));
            }
        }
        Err(e) => f.fail(format!("{what}: to_array failed: {e}")),
    }
    match sel.to_array_as::<f64>() {
        Ok(a) => {
            if let Some(d) = differ(&a.view(), &want_f64.view()) {
                f.fail(format!("{what}: to_array_as::<f64>: {d}"));
            }
        }
        Err(e) => f.fail(format!("{what}: to_array_as::<f64> failed: {e}")),
    }
    // scaled (nibabel's get_fdata: multiply by a slope other than 1, add an
    // intercept other than 0, in f64)
    let (slope, inter) = expect.scaling.unwrap_or((1.0, 0.0));
    let want_scaled = want_f64.mapv(|mut v| {
        if slope != 1.0 {
            v *= slope;
        }
        if inter != 0.0 {
            v += inter;
        }
        v
    });
    match sel.to_array_scaled::<f64>() {
        Ok(a) => {
            if let Some(d) = differ(&a.view(), &want_scaled.view()) {
                f.fail(format!("{what}: to_array_scaled::<f64>: {d}"));
            }
        }
        Err(e) => f.fail(format!("{what}: to_array_scaled failed: {e}")),
    }

    // into the middle slot of a C-order batch; the other slots untouched
    let sentinel = T::from_f64_as(77.0);
    let mut batch_shape = vec![3];
    batch_shape.extend_from_slice(expected.shape());
    let mut batch = ArrayD::<T>::from_elem(IxDyn(&batch_shape), sentinel);
    match sel.read_into(batch.index_axis_mut(Axis(0), 1)) {
        Ok(()) => {
            if let Some(d) = differ(&batch.index_axis(Axis(0), 1), &want) {
                f.fail(format!("{what}: read_into a batch slot: {d}"));
            }
            for k in [0, 2] {
                f.check(
                    batch
                        .index_axis(Axis(0), k)
                        .iter()
                        .all(|v| v.bits() == sentinel.bits()),
                    || format!("{what}: read_into wrote outside its batch slot"),
                );
            }
        }
        Err(e) => f.fail(format!("{what}: read_into a batch slot failed: {e}")),
    }
    // an F-order destination of another type
    let mut fdst = ArrayD::<f64>::zeros(IxDyn(expected.shape()).f());
    match sel.read_into(fdst.view_mut()) {
        Ok(()) => {
            if let Some(d) = differ(&fdst.view(), &want_f64.view()) {
                f.fail(format!("{what}: read_into an F-order f64 array: {d}"));
            }
        }
        Err(e) => f.fail(format!(
            "{what}: read_into an F-order f64 array failed: {e}"
        )),
    }
    // a destination that is not contiguous (every other row of axis 0)
    let mut wide_shape = expected.shape().to_vec();
    wide_shape[0] *= 2;
    let mut wide = ArrayD::<T>::from_elem(IxDyn(&wide_shape), sentinel);
    let every_other = |start: isize| {
        move |ad: ndarray::AxisDescription| {
            if ad.axis.index() == 0 {
                Slice::new(start, None, 2)
            } else {
                Slice::from(..)
            }
        }
    };
    match sel.read_into(wide.slice_each_axis_mut(every_other(0))) {
        Ok(()) => {
            if let Some(d) = differ(&wide.slice_each_axis(every_other(0)), &want) {
                f.fail(format!("{what}: read_into a strided destination: {d}"));
            }
            f.check(
                wide.slice_each_axis(every_other(1))
                    .iter()
                    .all(|v| v.bits() == sentinel.bits()),
                || format!("{what}: read_into a strided destination wrote between its rows"),
            );
        }
        Err(e) => f.fail(format!(
            "{what}: read_into a strided destination failed: {e}"
        )),
    }
    // a destination with a negative stride (axis 0 reversed)
    let mut rev = ArrayD::<T>::from_elem(IxDyn(expected.shape()), sentinel);
    let mut dst = rev.view_mut();
    dst.invert_axis(Axis(0));
    match sel.read_into(dst) {
        Ok(()) => {
            rev.invert_axis(Axis(0));
            if let Some(d) = differ(&rev.view(), &want) {
                f.fail(format!("{what}: read_into a reversed destination: {d}"));
            }
        }
        Err(e) => f.fail(format!(
            "{what}: read_into a reversed destination failed: {e}"
        )),
    }
    // a destination of the wrong shape
    let mut bad = ArrayD::<T>::from_elem(IxDyn(&batch_shape), sentinel);
    match sel.read_into(bad.view_mut()) {
        Err(Error::ShapeMismatch { .. }) => {}
        other => f.fail(format!(
            "{what}: read_into a {batch_shape:?} array: expected ShapeMismatch, got {:?}",
            other
        )),
    }
    // reusing a vector that holds other values
    let mut buf = vec![sentinel; 3];
    match sel.read_into_vec(&mut buf) {
        Ok(v) => {
            if let Some(d) = differ(&v, &want) {
                f.fail(format!("{what}: read_into_vec: {d}"));
            }
        }
        Err(e) => f.fail(format!("{what}: read_into_vec failed: {e}")),
    }
}

/// Another element type than the stored one: never a view, never a typed
/// array.
fn check_wrong_type<V: Volume, T: Voxel, U: Voxel>(
    f: &mut Failures,
    sel: &Selected<'_, &V>,
    obstacles: &[NotZeroCopyReason],
    what: &str,
) {
    let dtype = NotZeroCopyReason::DType {
        stored: T::DTYPE,
        requested: U::DTYPE,
    };
    match sel.view::<U>() {
        Err(Error::NotZeroCopy { reason, .. })
            if reason == dtype || obstacles.contains(&reason) => {}
        other => f.fail(format!(
            "{what}: view::<{}>() gave {:?}, expected NotZeroCopy {dtype:?}",
            U::DTYPE,
            other.map(|_| ())
        )),
    }
    match sel.to_array::<U>() {
        Err(Error::DTypeMismatch {
            stored, requested, ..
        }) if stored == T::DTYPE && requested == U::DTYPE => {}
        other => f.fail(format!(
            "{what}: to_array::<{}>() gave {:?}, expected DTypeMismatch",
            U::DTYPE,
            other.map(|_| ())
        )),
    }
}
