//! Every cell of random volumes equals NumPy-style slicing of the same data,
//! whatever the backend (in-memory C, F, permuted, strided arrays; raw files
//! in C or F order, either byte order, aligned or misaligned header offsets)
//! and whatever the way of reading it (zero-copy view, owned array, cast,
//! into a caller's buffer, parallel walks). Padding is checked against an
//! independent implementation of NumPy's `np.pad` modes.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use impart::{
    ArrayVolume, ByteOrder, DType, Edge, Element, Error, MemoryOrder, NotZeroCopyReason, PadMode,
    Partition, RawOptions, Selected, Volume,
};
use ndarray::{s, Array, Array3, ArrayD, ArrayViewD, Axis, IxDyn, ShapeBuilder, Slice};

// ---------------------------------------------------------------------------
// Random data
// ---------------------------------------------------------------------------

/// SplitMix64: small, seedable, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi_incl: usize) -> usize {
        lo + self.below(hi_incl - lo + 1)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

trait Sample: Element {
    fn sample(rng: &mut Rng) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(rng: &mut Rng) -> Self {
                rng.next() as $t
            }
        }
    )*};
}
sample_int!(u8, i8, u16, i16, u32, i32, u64, i64);

impl Sample for f32 {
    fn sample(rng: &mut Rng) -> Self {
        (rng.below(1 << 20) as f32 - 524_288.0) / 64.0
    }
}

impl Sample for f64 {
    fn sample(rng: &mut Rng) -> Self {
        (rng.next() >> 11) as f64 / (1u64 << 40) as f64 - 1000.0
    }
}

fn random_shape(rng: &mut Rng) -> Vec<usize> {
    let ndim = rng.range(1, 4);
    let max = [20, 20, 12, 8][ndim - 1];
    (0..ndim).map(|_| rng.range(1, max)).collect()
}

fn random_data<T: Sample>(rng: &mut Rng, shape: &[usize]) -> ArrayD<T> {
    let n = shape.iter().product();
    let v: Vec<T> = (0..n).map(|_| T::sample(rng)).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

// ---------------------------------------------------------------------------
// Reference slicing
// ---------------------------------------------------------------------------

fn ranges_of(sel: &Selected<'_, impl Volume>) -> Vec<Range<usize>> {
    let r = sel.region();
    (0..r.ndim()).map(|a| r.range(a)).collect()
}

/// `data[r0.start:r0.end, r1.start:r1.end, ...]`, owned.
fn slice_ranges<T: Clone>(data: &ArrayD<T>, ranges: &[Range<usize>]) -> ArrayD<T> {
    data.slice_each_axis(|ad| {
        let r = &ranges[ad.axis.index()];
        Slice::from(r.start..r.end)
    })
    .to_owned()
}

fn cast_f64<T: Element>(a: &ArrayD<T>) -> ArrayD<f64> {
    a.mapv(|v| v.to_f64())
}

/// Another element type than `T`, for the wrong-type checks.
fn other_dtype<T: Element>() -> DType {
    if T::DTYPE == DType::F64 {
        DType::F32
    } else {
        DType::F64
    }
}

// ---------------------------------------------------------------------------
// Checking one partition
// ---------------------------------------------------------------------------

/// What `view::<T>()` should give on this backend.
type ZeroCopy = Result<(), NotZeroCopyReason>;

fn expect_zero_copy<T: Element>(byte_order: ByteOrder, offset: u64) -> ZeroCopy {
    let align = std::mem::align_of::<T>();
    if T::DTYPE.size() > 1 && !byte_order.is_native() {
        Err(NotZeroCopyReason::ForeignByteOrder)
    } else if offset % align as u64 != 0 {
        Err(NotZeroCopyReason::Misaligned { align })
    } else {
        Ok(())
    }
}

/// The byte range of a view's elements lies inside the volume's memory.
fn assert_view_inside<T>(view: &ArrayViewD<'_, T>, bytes: &[u8]) {
    let size = std::mem::size_of::<T>();
    let lo = bytes.as_ptr() as usize;
    let hi = lo + bytes.len();
    let first = view.as_ptr() as usize;
    let reach: isize = view
        .shape()
        .iter()
        .zip(view.strides())
        .map(|(&n, &s)| (n as isize - 1) * s)
        .sum();
    assert!(view.strides().iter().all(|&s| s >= 0));
    let last = first + reach as usize * size;
    assert!(
        first >= lo && last + size <= hi,
        "view {first:#x}..{:#x} outside the volume memory {lo:#x}..{hi:#x}",
        last + size
    );
}

/// Checks every way of reading one selection against `expected`.
fn check_selected<V: Volume, T: Sample>(
    sel: &Selected<'_, V>,
    expected: &ArrayD<T>,
    zc: &ZeroCopy,
    what: &str,
) {
    assert_eq!(sel.shape(), expected.shape(), "{what}: shape");
    assert_eq!(sel.len(), expected.len(), "{what}: len");
    assert_eq!(sel.nbytes(), expected.len() * T::DTYPE.size());
    match (sel.view::<T>(), zc) {
        (Ok(v), Ok(())) => {
            assert_eq!(v, expected.view(), "{what}: view");
        }
        (Err(Error::NotZeroCopy { reason, .. }), Err(want)) => {
            assert_eq!(&reason, want, "{what}: reason")
        }
        (got, want) => panic!("{what}: view gave {:?}, expected {want:?}", got.map(|_| ())),
    }
    // wrong type: never a view, never a typed array, always a cast
    impart::dispatch_dtype!(other_dtype::<T>(), U => {
        match sel.view::<U>() {
            Err(Error::NotZeroCopy { reason: NotZeroCopyReason::DType { stored, requested }, .. }) => {
                assert_eq!((stored, requested), (T::DTYPE, U::DTYPE));
            }
            other => panic!("{what}: view of the wrong type gave {:?}", other.map(|_| ())),
        }
        assert!(matches!(sel.to_array::<U>(), Err(Error::DTypeMismatch { .. })));
    });

    let owned = sel.to_array::<T>().unwrap();
    assert_eq!(owned, *expected, "{what}: to_array");
    let as_f64 = sel.to_array_as::<f64>().unwrap();
    assert_eq!(as_f64, cast_f64(expected), "{what}: to_array_as::<f64>");

    // into the middle slot of a C-order batch; the other slots stay as they were
    let sentinel = T::from_f64(77.0);
    let mut batch_shape = vec![3];
    batch_shape.extend_from_slice(expected.shape());
    let mut batch = ArrayD::<T>::from_elem(IxDyn(&batch_shape), sentinel);
    sel.read_into(batch.index_axis_mut(Axis(0), 1)).unwrap();
    assert_eq!(
        batch.index_axis(Axis(0), 1),
        expected.view(),
        "{what}: read_into"
    );
    for k in [0, 2] {
        assert!(
            batch.index_axis(Axis(0), k).iter().all(|&v| v == sentinel),
            "{what}: read_into wrote outside its slot"
        );
    }
    // an F-order destination of another type
    let mut f = ArrayD::<f64>::zeros(IxDyn(expected.shape()).f());
    sel.read_into(f.view_mut()).unwrap();
    assert_eq!(f, cast_f64(expected), "{what}: read_into F order");
    // a destination that is not contiguous
    let mut wide_shape = expected.shape().to_vec();
    wide_shape[0] *= 2;
    let mut wide = ArrayD::<T>::from_elem(IxDyn(&wide_shape), sentinel);
    let dst = wide.slice_each_axis_mut(|ad| {
        if ad.axis.index() == 0 {
            Slice::new(0, None, 2)
        } else {
            Slice::from(..)
        }
    });
    sel.read_into(dst).unwrap();
    assert_eq!(
        wide.slice_each_axis(|ad| if ad.axis.index() == 0 {
            Slice::new(0, None, 2)
        } else {
            Slice::from(..)
        }),
        expected.view(),
        "{what}: read_into strided"
    );
    assert!(wide
        .slice_each_axis(|ad| if ad.axis.index() == 0 {
            Slice::new(1, None, 2)
        } else {
            Slice::from(..)
        })
        .iter()
        .all(|&v| v == sentinel));
    // a destination with a negative stride (reversed first axis)
    let mut rev = ArrayD::<T>::from_elem(IxDyn(expected.shape()), sentinel);
    let mut dst = rev.view_mut();
    dst.invert_axis(Axis(0));
    sel.read_into(dst).unwrap();
    rev.invert_axis(Axis(0));
    assert_eq!(rev, *expected, "{what}: read_into reversed");
    // a destination of the wrong shape
    let mut bad = ArrayD::<T>::from_elem(IxDyn(&batch_shape), sentinel);
    assert!(matches!(
        sel.read_into(bad.view_mut()),
        Err(Error::ShapeMismatch { .. })
    ));
    // reusing a vector
    let mut buf = vec![T::default(); 3];
    let v = sel.read_into_vec(&mut buf).unwrap();
    assert_eq!(v, expected.view(), "{what}: read_into_vec");
}

/// A random grid configuration over `shape`: cell extents for the first K
/// axes (the others are carried whole), a stride, and Clip or Shift, with at
/// most `max_cells` cells.
fn random_partition<V: Volume>(rng: &mut Rng, volume: V, max_cells: usize) -> Partition<V> {
    let shape = volume.shape().to_vec();
    let ndim = shape.len();
    let k = rng.range(1, ndim);
    let (cell, stride) = loop {
        let cell: Vec<usize> = shape[..k].iter().map(|&d| rng.range(1, d + 2)).collect();
        let stride = rng.pick(&[0.3, 0.5, 0.75, 1.0, 1.0, 1.3, 0.9]);
        let n: f64 = cell
            .iter()
            .zip(&shape)
            .map(|(&c, &d)| 1.0 + (d.saturating_sub(c) as f64 / (c as f64 * stride)).ceil())
            .product();
        if n <= max_cells as f64 {
            break (cell, stride);
        }
    };
    let edge = rng.pick(&[Edge::Clip, Edge::Clip, Edge::Shift]);
    Partition::builder(volume)
        .cell(&cell)
        .stride(stride)
        .edge(edge)
        .build()
        .unwrap()
}

/// Every cell and some random multi-cell selections equal slicing; the
/// parallel walks visit every cell exactly once.
fn check_partition<V: Volume, T: Sample>(
    part: &Partition<V>,
    data: &ArrayD<T>,
    zc: &ZeroCopy,
    rng: &mut Rng,
    what: &str,
) {
    let grid = part.grid();
    let layout_bytes = part.volume().layout().map(|l| l.bytes());
    let check = |sel: &Selected<'_, V>, label: &str| {
        let ranges = ranges_of(sel);
        assert!(sel.region().is_within(data.shape()), "{label}");
        let expected = slice_ranges(data, &ranges);
        check_selected(sel, &expected, zc, label);
        if let (Ok(v), Some(bytes)) = (sel.view::<T>(), layout_bytes) {
            assert_view_inside(&v, bytes);
        }
    };
    let all: Vec<Vec<usize>> = grid.cells().collect();
    for (k, sel) in part.cells("...").unwrap().enumerate() {
        assert_eq!(sel.index(), all[k]);
        check(&sel, &format!("{what} cell {:?}", all[k]));
    }
    // random boxes of cells, via text
    let shape = grid.shape();
    for _ in 0..6 {
        let text: Vec<String> = shape
            .iter()
            .map(|&n| {
                let a = rng.below(n);
                let b = rng.range(a + 1, n);
                match rng.below(4) {
                    0 => format!("{a}:{b}"),
                    1 => format!("{}:", a as isize - n as isize),
                    2 => format!(":{}", b + rng.below(3)),
                    _ => a.to_string(),
                }
            })
            .collect();
        let text = text.join(",");
        let sel = part.select(text.as_str()).unwrap();
        check(&sel, &format!("{what} selection {text:?}"));
    }

    // parallel walks: every cell exactly once, values right
    let seen: Vec<Vec<usize>> = {
        use rayon::prelude::*;
        let mut v: Vec<Vec<usize>> = part.par_cells("...").unwrap().map(|c| c.index()).collect();
        v.sort();
        v
    };
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "{what}: par_cells");
    let results = part
        .par_map_cells::<T, _, _>("...", |cell, view| {
            let expected = slice_ranges(data, &ranges_of(cell));
            (cell.index(), view == expected.view())
        })
        .unwrap();
    assert_eq!(results.len(), all.len());
    for (k, (idx, ok)) in results.iter().enumerate() {
        assert_eq!(idx, &all[k], "{what}: par_map_cells order");
        assert!(ok, "{what}: par_map_cells values of cell {idx:?}");
    }
    let count = AtomicUsize::new(0);
    let visited = Mutex::new(Vec::new());
    part.par_for_each_cell::<f64, _>("...", |cell, view| {
        let expected = cast_f64(&slice_ranges(data, &ranges_of(cell)));
        assert_eq!(view, expected.view());
        count.fetch_add(1, Ordering::Relaxed);
        visited.lock().unwrap().push(cell.index());
    })
    .unwrap();
    assert_eq!(count.load(Ordering::Relaxed), all.len());
    let mut visited = visited.into_inner().unwrap();
    visited.sort();
    assert_eq!(visited, sorted, "{what}: par_for_each_cell");
}

// ---------------------------------------------------------------------------
// In-memory volumes
// ---------------------------------------------------------------------------

fn memory_layouts<T: Sample>(rng: &mut Rng) {
    let shape = random_shape(rng);
    let data = random_data::<T>(rng, &shape);
    let ndim = shape.len();
    let ok: ZeroCopy = Ok(());
    let tag = format!("{} {shape:?}", T::DTYPE);

    // C order, borrowed
    let part = random_partition(rng, ArrayVolume::new(data.view()).unwrap(), 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} C"));

    // owned
    let part = random_partition(rng, ArrayVolume::new(data.clone()).unwrap(), 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} owned"));

    // F order from a vector in F order
    let fvec: Vec<T> = data.t().iter().copied().collect();
    let f = Array::from_shape_vec(IxDyn(&shape).f(), fvec).unwrap();
    assert_eq!(f, data);
    let vol = ArrayVolume::new(f.view()).unwrap();
    assert_eq!(
        vol.layout().unwrap().strides(),
        MemoryOrder::F.strides(&shape)
    );
    let part = random_partition(rng, vol, 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} F"));

    // F order through `.reversed_axes()` of a C array of the reversed shape
    let rev = data.t().as_standard_layout().into_owned();
    let fview = rev.view().reversed_axes();
    assert_eq!(fview, data.view());
    let part = random_partition(rng, ArrayVolume::new(fview).unwrap(), 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} reversed_axes"));

    // permuted axes
    let mut perm: Vec<usize> = (0..ndim).collect();
    rng.shuffle(&mut perm);
    let mut inv = vec![0; ndim];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let base = data
        .view()
        .permuted_axes(perm.clone())
        .as_standard_layout()
        .into_owned();
    let pview = base.view().permuted_axes(inv);
    assert_eq!(pview, data.view());
    let vol = ArrayVolume::new(pview).unwrap();
    // used in place: the layout is the permuted array's memory
    assert_eq!(
        vol.layout().unwrap().bytes().as_ptr(),
        base.as_ptr() as *const u8
    );
    let part = random_partition(rng, vol, 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} permuted {perm:?}"));

    // negative strides (copied once into C order)
    let mut flipped = data.clone();
    flipped.invert_axis(Axis(0));
    let flipped = flipped.as_standard_layout().into_owned();
    let mut nview = flipped.view();
    nview.invert_axis(Axis(0));
    assert_eq!(nview, data.view());
    let part = random_partition(rng, ArrayVolume::new(nview).unwrap(), 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} negative strides"));

    // a strided (non-contiguous) view
    let big_shape: Vec<usize> = shape.iter().map(|&n| 2 * n).collect();
    let mut big = ArrayD::<T>::default(IxDyn(&big_shape));
    big.slice_each_axis_mut(|_| Slice::new(0, None, 2))
        .assign(&data);
    let sview = big.slice_each_axis(|_| Slice::new(0, None, 2));
    assert_eq!(sview, data.view());
    let part = random_partition(rng, ArrayVolume::new(sview).unwrap(), 150);
    check_partition(&part, &data, &ok, rng, &format!("{tag} strided"));
}

#[test]
fn memory_volumes_equal_slicing() {
    let mut rng = Rng(0x1234_5678);
    for round in 0..20 {
        let dtype = DType::ALL[round % DType::ALL.len()];
        impart::dispatch_dtype!(dtype, T => { memory_layouts::<T>(&mut rng) });
    }
}

// ---------------------------------------------------------------------------
// Raw files
// ---------------------------------------------------------------------------

fn write_raw<T: Element>(
    path: &Path,
    data: &ArrayD<T>,
    order: MemoryOrder,
    byte_order: ByteOrder,
    offset: usize,
    trailing: usize,
) {
    let mut bytes: Vec<u8> = (0..offset).map(|i| (i * 31 + 7) as u8).collect();
    let elems: Vec<T> = match order {
        MemoryOrder::C => data.iter().copied().collect(),
        MemoryOrder::F => data.t().iter().copied().collect(),
    };
    for e in &elems {
        let b = bytemuck::bytes_of(e);
        if byte_order.is_native() {
            bytes.extend_from_slice(b);
        } else {
            bytes.extend(b.iter().rev());
        }
    }
    bytes.extend(std::iter::repeat_n(0xEEu8, trailing));
    std::fs::write(path, bytes).unwrap();
}

fn raw_layouts<T: Sample>(rng: &mut Rng, dir: &Path, round: usize) {
    let shape = random_shape(rng);
    let data = random_data::<T>(rng, &shape);
    for order in [MemoryOrder::C, MemoryOrder::F] {
        for byte_order in [ByteOrder::Little, ByteOrder::Big] {
            let offset = rng.pick(&[
                0usize, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 352, 4095, 4096, 4097,
            ]);
            let trailing = rng.pick(&[0usize, 0, 1, 100]);
            let path = dir.join(format!("r{round}-{order}-{byte_order}-{offset}.raw"));
            write_raw(&path, &data, order, byte_order, offset, trailing);
            let vol = RawOptions::new(&shape, T::DTYPE)
                .order(order)
                .byte_order(byte_order)
                .offset(offset as u64)
                .open(&path)
                .unwrap();
            assert_eq!(vol.shape(), shape.as_slice());
            assert_eq!(vol.dtype(), T::DTYPE);
            assert_eq!(vol.name(), path.display().to_string());
            let layout = vol.layout().unwrap();
            assert_eq!(layout.bytes().len(), data.len() * T::DTYPE.size());
            assert_eq!(layout.strides(), order.strides(&shape));
            let zc = expect_zero_copy::<T>(byte_order, offset as u64);
            let what = format!(
                "{} {shape:?} {order} {byte_order} offset {offset}",
                T::DTYPE
            );
            let part = random_partition(rng, vol, 120);
            check_partition(&part, &data, &zc, rng, &what);
        }
    }
}

#[test]
fn raw_files_equal_slicing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0xDEAD_BEEF);
    for round in 0..20 {
        let dtype = DType::ALL[round % DType::ALL.len()];
        impart::dispatch_dtype!(dtype, T => { raw_layouts::<T>(&mut rng, dir.path(), round) });
    }
}

/// The zero-copy obstacles of raw files, one by one, with materialization
/// still giving the right values.
#[test]
fn raw_not_zero_copy_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let data = Array3::<u16>::from_shape_fn((5, 6, 7), |(z, y, x)| {
        (z * 1000 + y * 100 + x) as u16 * 3 + 0x0102
    })
    .into_dyn();
    let cases: [(ByteOrder, usize, ZeroCopy); 5] = [
        (ByteOrder::Little, 0, Ok(())),
        (ByteOrder::Little, 6, Ok(())),
        (ByteOrder::Big, 0, Err(NotZeroCopyReason::ForeignByteOrder)),
        (
            ByteOrder::Little,
            3,
            Err(NotZeroCopyReason::Misaligned { align: 2 }),
        ),
        // foreign byte order is reported before misalignment
        (ByteOrder::Big, 1, Err(NotZeroCopyReason::ForeignByteOrder)),
    ];
    for (i, (bo, offset, zc)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.raw"));
        write_raw(&path, &data, MemoryOrder::C, bo, offset, 0);
        let vol = RawOptions::new(&[5, 6, 7], DType::U16)
            .byte_order(bo)
            .offset(offset as u64)
            .open(&path)
            .unwrap();
        let part = Partition::builder(&vol).cell(&[2, 4]).build().unwrap();
        for sel in part.cells("...").unwrap() {
            let expected = slice_ranges(&data, &ranges_of(&sel));
            match sel.view::<u16>() {
                Ok(v) => {
                    assert_eq!(zc, Ok(()));
                    assert_eq!(v, expected.view());
                    assert_view_inside(&v, vol.layout().unwrap().bytes());
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(&path.display().to_string()),
                        "{msg:?} names the file"
                    );
                    match e {
                        Error::NotZeroCopy { reason, volume } => {
                            assert_eq!(Err(reason), zc);
                            assert_eq!(volume, path.display().to_string());
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
            assert_eq!(sel.to_array::<u16>().unwrap(), expected);
            assert_eq!(
                sel.to_array_as::<f32>().unwrap(),
                expected.mapv(|v| v as f32)
            );
        }
        // wrong type
        let sel = part.select("0,0").unwrap();
        assert!(matches!(
            sel.view::<i16>(),
            Err(Error::NotZeroCopy {
                reason: NotZeroCopyReason::DType {
                    stored: DType::U16,
                    requested: DType::I16
                },
                ..
            })
        ));
    }
    // one-byte elements have no byte order: a big-endian, odd-offset u8
    // file is still viewed in place
    let bytes = data.mapv(|v| v as u8);
    let path = dir.path().join("u8.raw");
    write_raw(&path, &bytes, MemoryOrder::F, ByteOrder::Big, 5, 0);
    let vol = RawOptions::new(&[5, 6, 7], DType::U8)
        .byte_order(ByteOrder::Big)
        .order(MemoryOrder::F)
        .offset(5)
        .open(&path)
        .unwrap();
    let part = Partition::builder(&vol).cell(&[3, 3, 3]).build().unwrap();
    for sel in part.cells("...").unwrap() {
        let v = sel.view::<u8>().unwrap();
        assert_eq!(v, slice_ranges(&bytes, &ranges_of(&sel)).view());
        assert_view_inside(&v, vol.layout().unwrap().bytes());
    }
}

// ---------------------------------------------------------------------------
// Channels and partitioned axes
// ---------------------------------------------------------------------------

fn hwc(h: usize, w: usize, c: usize) -> ArrayD<u16> {
    Array3::<u16>::from_shape_fn((h, w, c), |(y, x, k)| (y * 1000 + x * 10 + k) as u16).into_dyn()
}

fn check_channels<V: Volume>(vol: V, data: &ArrayD<u16>, zc_base: &ZeroCopy) {
    // (list, evenly spaced: ascending or descending lists are strided views)
    let lists: [(&[usize], bool); 7] = [
        (&[2, 0], true),
        (&[0, 1, 3], false),
        (&[0, 1, 2], true),
        (&[1, 3], true),
        (&[3], true),
        (&[1, 1], false),
        (&[3, 2, 1, 0], true),
    ];
    let part0 = Partition::builder(&vol)
        .cell(&[8, 8])
        .stride(0.75)
        .build()
        .unwrap();
    let _ = part0;
    for (list, evenly) in lists {
        let part = Partition::builder(&vol)
            .cell(&[8, 8])
            .stride(0.75)
            .channels(list)
            .build()
            .unwrap();
        assert_eq!(part.channels(), Some((2, list)));
        let zc: ZeroCopy = match zc_base {
            Err(r) => Err(r.clone()),
            Ok(()) if evenly => Ok(()),
            Ok(()) => Err(NotZeroCopyReason::ChannelGather),
        };
        let mut sels: Vec<_> = part.cells("...").unwrap().collect();
        sels.push(part.select(s![1..3, -2..]).unwrap());
        sels.push(part.select("...").unwrap());
        for sel in &sels {
            let r = ranges_of(sel);
            let expected = data
                .slice(s![r[0].clone(), r[1].clone(), ..])
                .select(Axis(2), list)
                .into_dyn();
            assert_eq!(sel.shape(), expected.shape());
            check_selected(sel, &expected, &zc, &format!("channels {list:?}"));
        }
    }
    // errors
    assert!(matches!(
        Partition::builder(&vol)
            .cell(&[8, 8])
            .channels(&[4])
            .build(),
        Err(Error::InvalidPartition { .. })
    ));
    assert!(matches!(
        Partition::builder(&vol).cell(&[8, 8]).channels(&[]).build(),
        Err(Error::InvalidPartition { .. })
    ));
}

#[test]
fn channel_selections() {
    let data = hwc(37, 45, 4);
    check_channels(ArrayVolume::new(data.view()).unwrap(), &data, &Ok(()));
    let dir = tempfile::tempdir().unwrap();
    for (order, bo, offset) in [
        (MemoryOrder::C, ByteOrder::Little, 0),
        (MemoryOrder::F, ByteOrder::Little, 2),
        (MemoryOrder::F, ByteOrder::Big, 3),
        (MemoryOrder::C, ByteOrder::Little, 1),
    ] {
        let path = dir.path().join(format!("hwc-{order}-{bo}-{offset}.raw"));
        write_raw(&path, &data, order, bo, offset, 0);
        let vol = RawOptions::new(&[37, 45, 4], DType::U16)
            .order(order)
            .byte_order(bo)
            .offset(offset as u64)
            .open(&path)
            .unwrap();
        check_channels(vol, &data, &expect_zero_copy::<u16>(bo, offset as u64));
    }
}

#[test]
fn partitioned_axes() {
    // (C, H, W): partition H and W, carry the channels in front
    let data = Array3::<i32>::from_shape_fn((4, 30, 25), |(c, y, x)| {
        (c * 10_000 + y * 100 + x) as i32 - 5000
    })
    .into_dyn();
    let vol = ArrayVolume::new(data.view()).unwrap();
    let part = Partition::builder(&vol)
        .cell(&[8, 8])
        .axes(&[1, 2])
        .build()
        .unwrap();
    assert_eq!(part.axes(), &[1, 2]);
    assert_eq!(part.grid().shape(), vec![4, 4]);
    let mut rng = Rng(7);
    check_partition(&part, &data, &Ok(()), &mut rng, "CHW");
    let sel = part.select(s![1, -1]).unwrap();
    assert_eq!(sel.region().start(), &[0, 8, 24]);
    assert_eq!(sel.region().shape(), &[4, 8, 1]);

    // channels default to the last carried axis, here axis 0
    let part = Partition::builder(&vol)
        .cell(&[8, 8])
        .axes(&[1, 2])
        .channels(&[2, 0])
        .build()
        .unwrap();
    assert_eq!(part.channels(), Some((0, &[2usize, 0][..])));
    for sel in part.cells("...").unwrap() {
        let r = ranges_of(&sel);
        let expected = data
            .slice(s![.., r[1].clone(), r[2].clone()])
            .select(Axis(0), &[2, 0])
            .into_dyn();
        // [2, 0] is evenly spaced (step -2): a strided view
        check_selected(&sel, &expected, &Ok(()), "CHW channels");
    }

    // grid axes in another order than the volume's: grid axis 0 is volume
    // axis 2, grid axis 1 is volume axis 0; axis 1 carried
    let part = Partition::builder(&vol)
        .cell(&[10, 3])
        .axes(&[2, 0])
        .stride(0.5)
        .build()
        .unwrap();
    assert_eq!(part.grid().volume_shape(), vec![25, 4]);
    assert_eq!(part.grid().shape(), vec![4, 2]);
    let sel = part.select("2,-1").unwrap();
    assert_eq!(sel.region().start(), &[2, 0, 10]);
    assert_eq!(sel.region().shape(), &[2, 30, 10]);
    check_partition(&part, &data, &Ok(()), &mut rng, "axes [2, 0]");

    // explicit carried channel axis
    let part = Partition::builder(&vol)
        .cell(&[5])
        .axes(&[1])
        .channels_on(2, &[0, 5, 10])
        .build()
        .unwrap();
    for sel in part.cells("...").unwrap() {
        let r = ranges_of(&sel);
        let expected = data
            .slice(s![.., r[1].clone(), ..])
            .select(Axis(2), &[0, 5, 10])
            .into_dyn();
        check_selected(&sel, &expected, &Ok(()), "channels_on");
    }
    assert!(Partition::builder(&vol)
        .cell(&[5])
        .axes(&[1])
        .channels_on(1, &[0])
        .build()
        .is_err());
}

// ---------------------------------------------------------------------------
// Edge policies
// ---------------------------------------------------------------------------

/// NumPy's `np.pad(.., mode="reflect")` index for the right side, built the
/// way NumPy does it: mirror the last `dim - 1` values about the last one,
/// again and again. A single value is repeated (NumPy's legacy behaviour).
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

#[test]
fn numpy_reflect_reference() {
    // np.pad([0, 1, 2, 3], (0, 9), mode="reflect")
    assert_eq!(
        numpy_reflect_indices(4, 13),
        vec![0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    );
    // np.pad([0, 1], (0, 4), mode="reflect")
    assert_eq!(numpy_reflect_indices(2, 6), vec![0, 1, 0, 1, 0, 1]);
    assert_eq!(numpy_reflect_indices(1, 4), vec![0, 0, 0, 0]);
}

/// The padded block of `region` (which may reach past the end), computed
/// independently: NumPy-padded axis index tables, then elementwise lookup.
fn padded_expected<T: Element, U: Element>(
    data: &ArrayD<T>,
    ranges: &[Range<usize>],
    mode: PadMode,
) -> ArrayD<U> {
    let maps: Vec<Vec<Option<usize>>> = ranges
        .iter()
        .zip(data.shape())
        .map(|(r, &dim)| {
            let table = numpy_reflect_indices(dim, r.end);
            r.clone()
                .map(|i| {
                    if i < dim {
                        Some(i)
                    } else {
                        match mode {
                            PadMode::Constant(_) => None,
                            PadMode::Edge => Some(dim - 1),
                            PadMode::Reflect => Some(table[i]),
                        }
                    }
                })
                .collect()
        })
        .collect();
    let shape: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let src: Option<Vec<usize>> = (0..shape.len()).map(|a| maps[a][idx[a]]).collect();
        match (src, mode) {
            (Some(s), _) => U::from_f64(data[IxDyn(&s)].to_f64()),
            // the constant is converted to the stored type, then to U
            (None, PadMode::Constant(v)) => U::from_f64(T::from_f64(v).to_f64()),
            (None, _) => unreachable!(),
        }
    })
}

fn check_pad<V: Volume, T: Sample>(
    part: &Partition<V>,
    data: &ArrayD<T>,
    zc: &ZeroCopy,
    mode: PadMode,
) {
    let dims = data.shape();
    let cell = part.grid().cell_shape();
    for sel in part.cells("...").unwrap() {
        let ranges = ranges_of(&sel);
        let k = cell.len();
        for a in 0..k {
            // full size (1 short only through the float rounding documented
            // in grid_model.rs; these grids use integer steps)
            assert_eq!(ranges[a].len(), cell[a], "pad cells keep their size");
        }
        let inside = sel.region().is_within(dims);
        let want_t: ArrayD<T> = padded_expected(data, &ranges, mode);
        let want_f: ArrayD<f64> = padded_expected(data, &ranges, mode);
        // the constant is converted to the stored type, then to the output
        if let PadMode::Constant(v) = mode {
            if !inside {
                let stored = T::from_f64(v).to_f64();
                assert!(want_f.iter().any(|&x| x == stored));
            }
        }
        assert_eq!(
            sel.to_array::<T>().unwrap(),
            want_t,
            "pad {mode:?} {ranges:?}"
        );
        assert_eq!(
            sel.to_array_as::<f64>().unwrap(),
            want_f,
            "pad {mode:?} {ranges:?}"
        );
        let mut batch = ArrayD::<f64>::from_elem(
            IxDyn(
                &[2].iter()
                    .chain(want_f.shape())
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            -1.0,
        );
        sel.read_into(batch.index_axis_mut(Axis(0), 0)).unwrap();
        assert_eq!(batch.index_axis(Axis(0), 0), want_f.view());
        assert!(batch.index_axis(Axis(0), 1).iter().all(|&v| v == -1.0));
        match sel.view::<T>() {
            Ok(v) => {
                assert!(inside && zc.is_ok());
                assert_eq!(v, want_t.view());
            }
            Err(Error::NotZeroCopy { reason, .. }) => {
                if zc.is_ok() {
                    assert!(!inside);
                    assert_eq!(reason, NotZeroCopyReason::Padded);
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn pad_matches_numpy_pad() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    let modes = [
        PadMode::Constant(0.0),
        PadMode::Constant(7.5),
        PadMode::Constant(-3.0),
        PadMode::Edge,
        PadMode::Reflect,
    ];
    for round in 0..24 {
        let shape = random_shape(&mut rng);
        let mode = modes[round % modes.len()];
        // cells up to 3x the volume (repeated reflection), integer steps
        let k = rng.range(1, shape.len());
        let cell: Vec<usize> = shape[..k]
            .iter()
            .map(|&d| {
                if rng.below(3) == 0 {
                    rng.range(d + 1, 3 * d + 1)
                } else {
                    rng.range(1, d)
                }
            })
            .collect();
        let step: Vec<f64> = cell
            .iter()
            .map(|&c| rng.range(1, c.max(2)) as f64)
            .collect();
        let grid_cells: f64 = cell
            .iter()
            .zip(&shape)
            .zip(&step)
            .map(|((&c, &d), &s)| 1.0 + (d.saturating_sub(c) as f64 / s).ceil())
            .product();
        if grid_cells > 150.0 {
            continue;
        }
        macro_rules! run {
            ($t:ty) => {{
                let data = random_data::<$t>(&mut rng, &shape);
                let mem = ArrayVolume::new(data.view()).unwrap();
                let part = Partition::builder(&mem)
                    .cell(&cell)
                    .step(step.clone())
                    .edge(Edge::Pad(mode))
                    .build()
                    .unwrap();
                check_pad(&part, &data, &Ok(()), mode);
                let path = dir.path().join(format!("pad{round}.raw"));
                write_raw(&path, &data, MemoryOrder::F, ByteOrder::Big, 3, 0);
                let raw = RawOptions::new(&shape, <$t as Element>::DTYPE)
                    .order(MemoryOrder::F)
                    .byte_order(ByteOrder::Big)
                    .offset(3)
                    .open(&path)
                    .unwrap();
                let part = Partition::builder(&raw)
                    .cell(&cell)
                    .step(step.clone())
                    .edge(Edge::Pad(mode))
                    .build()
                    .unwrap();
                check_pad(
                    &part,
                    &data,
                    &expect_zero_copy::<$t>(ByteOrder::Big, 3),
                    mode,
                );
            }};
        }
        match round % 4 {
            0 => run!(u8),
            1 => run!(i16),
            2 => run!(f32),
            _ => run!(f64),
        }
    }
}

#[test]
fn pad_with_channels() {
    let data = hwc(10, 7, 3);
    let vol = ArrayVolume::new(data.view()).unwrap();
    for mode in [PadMode::Constant(9.0), PadMode::Edge, PadMode::Reflect] {
        let part = Partition::builder(&vol)
            .cell(&[4, 4])
            .edge(Edge::Pad(mode))
            .channels(&[2, 0])
            .build()
            .unwrap();
        assert_eq!(part.grid().shape(), vec![3, 2]);
        for sel in part.cells("...").unwrap() {
            let r = ranges_of(&sel);
            let padded: ArrayD<u16> =
                padded_expected(&data, &[r[0].clone(), r[1].clone(), 0..3], mode);
            let expected = padded.select(Axis(2), &[2, 0]);
            assert_eq!(sel.to_array::<u16>().unwrap(), expected, "{mode:?} {r:?}");
        }
    }
}

/// Shift: every cell has the full cell shape and the last cell on each axis
/// ends at the volume's end; values equal slicing; the cells fill a batch.
#[test]
fn shift_cells_are_full_size() {
    let mut rng = Rng(2024);
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let shape = random_shape(&mut rng);
        let k = rng.range(1, shape.len());
        let cell: Vec<usize> = shape[..k].iter().map(|&d| rng.range(1, d)).collect();
        // integer steps up to the cell size: the cells cover each axis
        let step: Vec<f64> = cell.iter().map(|&c| rng.range(1, c) as f64).collect();
        let data = random_data::<u16>(&mut rng, &shape);
        let path = dir.path().join(format!("shift{round}.raw"));
        write_raw(&path, &data, MemoryOrder::C, ByteOrder::Little, 0, 0);
        let raw = RawOptions::new(&shape, DType::U16).open(&path).unwrap();
        let part = Partition::builder(&raw)
            .cell(&cell)
            .step(step.clone())
            .edge(Edge::Shift)
            .build()
            .unwrap();
        if part.len() > 300 {
            continue;
        }
        let gshape = part.grid().shape();
        let mut cell_shape = shape.clone();
        cell_shape[..k].copy_from_slice(&cell);
        let mut batch_shape = vec![part.len()];
        batch_shape.extend_from_slice(&cell_shape);
        let mut batch = ArrayD::<f32>::zeros(IxDyn(&batch_shape));
        for (i, sel) in part.cells("...").unwrap().enumerate() {
            assert_eq!(sel.shape(), cell_shape, "shift cell {:?}", sel.index());
            for a in 0..k {
                if sel.index()[a] == gshape[a] - 1 {
                    assert_eq!(sel.region().range(a).end, shape[a]);
                }
            }
            sel.read_into(batch.index_axis_mut(Axis(0), i)).unwrap();
            let expected = slice_ranges(&data, &ranges_of(&sel));
            assert_eq!(sel.view::<u16>().unwrap(), expected.view());
            assert_eq!(
                batch.index_axis(Axis(0), i),
                expected.mapv(|v| v as f32).view()
            );
        }
        check_partition(&part, &data, &Ok(()), &mut rng, "shift");
    }
}
