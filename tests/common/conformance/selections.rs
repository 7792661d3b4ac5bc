//! Checks of selections, parallel walks and wrong-type requests.

#![allow(unused_imports)]

use std::fmt::Write as _;
use std::ops::Range;

use impart::{
    CellBox, DType, Edge, Element, Error, NotZeroCopyReason, PadMode, Partition, PerAxis, Region,
    Selected, Spacing, Volume,
};
use ndarray::{ArrayD, ArrayViewD, Axis, Dimension, IxDyn, ShapeBuilder, Slice};

use super::*;

/// Parallel walks against the sequential one: the same cells, in the same
/// order (C order where the method promises it), with the same values.
#[cfg(feature = "rayon")]
pub(super) fn check_parallel<V: Volume, T: Voxel>(
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
pub(super) fn view_inside<T>(view: &ArrayViewD<'_, T>, bytes: &[u8]) -> bool {
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
pub(super) fn check_selected<V: Volume, T: Voxel>(
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
    // scaled into a caller's arrays: an F-order f64 array (scaled in place)
    // and a (1, …) f32 slot (in place from 8- and 16-bit and f32 stored
    // types, through f64 from the others): the same values
    let mut scaled64 = ArrayD::<f64>::zeros(IxDyn(expected.shape()).f());
    match sel.read_into_scaled(scaled64.view_mut()) {
        Ok(()) => {
            if let Some(d) = differ(&scaled64.view(), &want_scaled.view()) {
                f.fail(format!("{what}: read_into_scaled::<f64>: {d}"));
            }
        }
        Err(e) => f.fail(format!("{what}: read_into_scaled::<f64> failed: {e}")),
    }
    let mut unit_shape = vec![1];
    unit_shape.extend_from_slice(expected.shape());
    let mut scaled32 = ArrayD::<f32>::zeros(IxDyn(&unit_shape));
    match sel.read_into_scaled(scaled32.view_mut()) {
        Ok(()) => {
            let want32 = want_scaled.mapv(|v| v as f32);
            if let Some(d) = differ(&scaled32.index_axis(Axis(0), 0), &want32.view()) {
                f.fail(format!(
                    "{what}: read_into_scaled::<f32> a (1, …) slot: {d}"
                ));
            }
        }
        Err(e) => f.fail(format!("{what}: read_into_scaled::<f32> failed: {e}")),
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
pub(super) fn check_wrong_type<V: Volume, T: Voxel, U: Voxel>(
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
