//! The access hints a parallel walk gives a volume with a layout: every read
//! is announced (`WillNeed`) before it happens, no read touches bytes after
//! they were released (`DontNeed`), everything is released by the end, and
//! hints never change what is read (checked on real memory-mapped files with
//! `MADV_DONTNEED`, twice over the same mapping).

use std::ops::Range;
use std::sync::Mutex;

use impart::{
    AccessHint, ArrayVolume, DType, Layout, MapAdvice, MemoryOrder, Partition, RawOptions, Region,
    Volume,
};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Hint(AccessHint),
    Read(Range<usize>),
}

/// An in-memory C-order volume that records the hints it is given.
struct Recorder {
    inner: ArrayVolume<'static, u16>,
    events: Mutex<Vec<Event>>,
}

impl Volume for Recorder {
    fn name(&self) -> &str {
        "<recorder>"
    }
    fn shape(&self) -> &[usize] {
        self.inner.shape()
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn layout(&self) -> Option<Layout<'_>> {
        self.inner.layout()
    }
    fn hint(&self, hint: AccessHint) {
        self.events.lock().unwrap().push(Event::Hint(hint));
    }
    fn kind(&self) -> &'static str {
        "recorder"
    }
}

/// Bytes of a C-order u16 volume of `shape` that `region` spans, computed
/// here from scratch.
fn span(shape: &[usize], region: &Region) -> Range<usize> {
    let mut stride = 1;
    let (mut lo, mut hi) = (0, 0);
    for k in (0..shape.len()).rev() {
        lo += region.start()[k] * stride;
        hi += (region.start()[k] + region.shape()[k] - 1) * stride;
        stride *= shape[k];
    }
    lo * 2..(hi + 1) * 2
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn check_walk(shape: Vec<usize>, cell: Vec<usize>, stride: f64, threads: usize) {
    let n: usize = shape.iter().product();
    let data = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|v| v as u16).collect()).unwrap();
    let volume = Recorder {
        inner: ArrayVolume::new(data.clone()).unwrap(),
        events: Mutex::new(Vec::new()),
    };
    let part = Partition::builder(&volume)
        .cell(&cell)
        .stride(stride)
        .build()
        .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let sums = pool
        .install(|| {
            part.par_map_cells::<u16, _, _>("...", |c, v| {
                volume
                    .events
                    .lock()
                    .unwrap()
                    .push(Event::Read(span(&shape, c.region())));
                v.iter().map(|&x| x as u64).sum::<u64>()
            })
        })
        .unwrap();
    // the values are those of the plain cells, in C order of the grid
    let expected: Vec<u64> = part
        .cells("...")
        .unwrap()
        .map(|c| c.to_array::<u16>().unwrap().iter().map(|&x| x as u64).sum())
        .collect();
    assert_eq!(sums, expected);

    let events = volume.events.into_inner().unwrap();
    let mut announced: Vec<Range<usize>> = Vec::new();
    let mut released: Vec<Range<usize>> = Vec::new();
    let (mut first, mut last) = (usize::MAX, 0);
    for e in &events {
        match e {
            Event::Hint(AccessHint::WillNeed(r)) => announced.push(r.clone()),
            Event::Hint(AccessHint::DontNeed(r)) => {
                assert!(r.start < r.end, "empty release {r:?}");
                released.push(r.clone());
            }
            Event::Read(r) => {
                assert!(
                    announced
                        .iter()
                        .any(|a| a.start <= r.start && r.end <= a.end),
                    "read {r:?} was not announced: {events:?}"
                );
                for d in &released {
                    assert!(
                        !overlaps(d, r),
                        "read {r:?} after {d:?} was released: {events:?}"
                    );
                }
                first = first.min(r.start);
                last = last.max(r.end);
            }
        }
    }
    // releases are disjoint, ascending, and cover the walk by its end
    for w in released.windows(2) {
        assert!(w[0].end <= w[1].start, "{released:?}");
    }
    if first < last {
        let covered: usize = released.iter().map(|r| r.len()).sum();
        assert_eq!(released.first().map(|r| r.start), Some(first));
        assert_eq!(released.last().map(|r| r.end), Some(last));
        assert_eq!(covered, last - first, "{released:?}");
    }
}

#[test]
fn walk_announces_and_releases_in_order() {
    check_walk(vec![64, 48, 40], vec![16, 16, 16], 0.5, 2);
    check_walk(vec![64, 48, 40], vec![16, 16, 16], 1.0, 1);
    // one cell per slab: batches group slabs
    check_walk(vec![200, 8, 8], vec![4, 8, 8], 1.0, 2);
    // partitioned leading axes, carried trailing axis
    check_walk(vec![30, 20, 3], vec![7, 5], 0.6, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn walk_hints_hold_for_random_grids(
        shape in prop::collection::vec(1usize..24, 1..4),
        cell_frac in prop::collection::vec(0.1f64..1.5, 3),
        stride in 0.3f64..1.2,
        threads in 1usize..4,
    ) {
        let cell: Vec<usize> = shape
            .iter()
            .zip(&cell_frac)
            .map(|(&n, &f)| ((n as f64 * f).ceil() as usize).max(1))
            .collect();
        check_walk(shape, cell, stride, threads);
    }
}

#[test]
fn released_pages_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [96usize, 80, 72];
    let n: usize = shape.iter().product();
    let values: Vec<u16> = (0..n).map(|v| (v * 7 % 65521) as u16).collect();
    let path = dir.path().join("v.raw");
    std::fs::write(&path, bytemuck::cast_slice::<u16, u8>(&values)).unwrap();
    for order in [MemoryOrder::C, MemoryOrder::F] {
        let walk = |advice| {
            let volume = RawOptions::new(&shape, DType::U16)
                .order(order)
                .advice(advice)
                .open(&path)
                .unwrap();
            let part = Partition::builder(volume)
                .cell(&[16, 16, 16])
                .stride(0.5)
                .build()
                .unwrap();
            // two passes over the same mapping: the second reads pages the
            // first released
            (0..2)
                .map(|_| {
                    part.par_map_cells::<u16, _, _>("...", |_, v| {
                        v.iter().map(|&x| x as u64).sum::<u64>()
                    })
                    .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let plain = walk(MapAdvice::Off);
        assert_eq!(plain[0], plain[1]);
        assert_eq!(walk(MapAdvice::Ahead), plain);
        assert_eq!(walk(MapAdvice::AheadRelease), plain);
        assert_eq!(walk(MapAdvice::Auto), plain);
    }
}
