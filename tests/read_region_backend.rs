//! The path for backends without addressable memory (compressed formats):
//! a volume that only implements `read_region` must give the same cells as
//! direct slicing, for clip, shift and every pad mode and channel lists.

use impart::{ArrayVolume, DType, Edge, Error, Layout, PadMode, Partition, Region, Result, Volume};
use ndarray::{Array, ArrayD, Dimension, IxDyn, SliceInfoElem};

/// Hides an in-memory volume's layout and counts region reads.
struct Opaque<'a> {
    inner: ArrayVolume<'a, i32>,
    reads: std::sync::atomic::AtomicUsize,
}

impl Volume for Opaque<'_> {
    fn name(&self) -> &str {
        "<opaque>"
    }
    fn shape(&self) -> &[usize] {
        self.inner.shape()
    }
    fn dtype(&self) -> DType {
        DType::I32
    }
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_region(region, out)
    }
    fn kind(&self) -> &'static str {
        "opaque"
    }
}

fn reference(
    data: &ArrayD<i32>,
    start: &[usize],
    shape: &[usize],
    edge: Edge,
    channels: Option<&[usize]>,
) -> ArrayD<i32> {
    let dims = data.shape().to_vec();
    let last = dims.len() - 1;
    let mut out_shape = shape.to_vec();
    if let Some(c) = channels {
        out_shape[last] = c.len();
    }
    ArrayD::from_shape_fn(IxDyn(&out_shape), |idx| {
        let mut src = Vec::with_capacity(dims.len());
        for (a, &i) in idx.as_array_view().iter().enumerate() {
            if a == last {
                if let Some(c) = channels {
                    src.push(c[i]);
                    continue;
                }
            }
            let p = start[a] + i;
            let d = dims[a];
            let q = if p < d {
                p
            } else {
                match edge {
                    Edge::Pad(PadMode::Constant(v)) => return v as i32,
                    Edge::Pad(PadMode::Edge) => d - 1,
                    Edge::Pad(PadMode::Reflect) => {
                        if d == 1 {
                            0
                        } else {
                            let period = 2 * (d - 1);
                            let r = p % period;
                            if r < d {
                                r
                            } else {
                                period - r
                            }
                        }
                    }
                    _ => unreachable!("clip and shift regions stay inside"),
                }
            };
            src.push(q);
        }
        data[IxDyn(&src)]
    })
}

#[test]
fn opaque_backend_matches_slicing() {
    let data =
        Array::from_shape_fn((13, 11, 4), |(z, y, c)| (z * 1000 + y * 10 + c) as i32).into_dyn();
    let edges = [
        Edge::Clip,
        Edge::Shift,
        Edge::Pad(PadMode::Constant(-7.0)),
        Edge::Pad(PadMode::Edge),
        Edge::Pad(PadMode::Reflect),
    ];
    for edge in edges {
        for channels in [None, Some(vec![3usize, 0, 2])] {
            let vol = Opaque {
                inner: ArrayVolume::new(data.view()).unwrap(),
                reads: Default::default(),
            };
            let mut b = Partition::builder(vol).cell(&[5, 4]).stride(0.7).edge(edge);
            if let Some(c) = &channels {
                b = b.channels(c);
            }
            let part = b.build().unwrap();
            for cell in part.cells("...").unwrap() {
                let want = reference(
                    &data,
                    cell.region().start(),
                    cell.region().shape(),
                    edge,
                    channels.as_deref(),
                );
                assert_eq!(
                    cell.to_array::<i32>().unwrap(),
                    want,
                    "{edge:?} {:?}",
                    cell.index()
                );
                assert_eq!(cell.to_array_as::<f64>().unwrap(), want.mapv(|v| v as f64));
                assert!(matches!(cell.view::<i32>(), Err(Error::NotZeroCopy { .. })));
            }
            assert!(
                part.volume()
                    .reads
                    .load(std::sync::atomic::Ordering::Relaxed)
                    > 0
            );
        }
    }
}

/// A backend whose layout lies about its size is refused, never read
/// out of bounds.
#[test]
fn layout_is_checked() {
    let bytes = [0u8; 4];
    assert!(Layout::new(&bytes, &[8], &[1], DType::U8, impart::ByteOrder::Little).is_err());
    assert!(Layout::new(&bytes, &[2], &[1, 1], DType::U8, impart::ByteOrder::Little).is_err());
    assert!(Layout::new(
        &bytes,
        &[2, 2],
        &[2, 1],
        DType::U8,
        impart::ByteOrder::Little
    )
    .is_ok());
    assert!(Layout::new(
        &bytes,
        &[2, 2],
        &[2, 1],
        DType::U16,
        impart::ByteOrder::Little
    )
    .is_err());
    assert!(Layout::new(
        &bytes,
        &[2, 2],
        &[usize::MAX, 1],
        DType::U8,
        impart::ByteOrder::Little
    )
    .is_err());
}

#[test]
fn s_macro_elems_and_text_agree_on_the_opaque_path() {
    let data =
        Array::from_shape_fn((9, 9, 2), |(a, b, c)| (a * 100 + b * 10 + c) as i32).into_dyn();
    let vol = Opaque {
        inner: ArrayVolume::new(data.view()).unwrap(),
        reads: Default::default(),
    };
    let part = Partition::builder(vol).cell(&[3, 3]).build().unwrap();
    let elems: &[SliceInfoElem] = &[
        SliceInfoElem::Index(-1),
        SliceInfoElem::Slice {
            start: 0,
            end: Some(2),
            step: 1,
        },
    ];
    let a = part.select(elems).unwrap().to_array::<i32>().unwrap();
    let b = part.select("-1, :2").unwrap().to_array::<i32>().unwrap();
    assert_eq!(a, b);
    assert_eq!(a, data.slice(ndarray::s![6..9, 0..6, ..]).into_dyn());
}

/// `RawOptions::mmap(false)` reads with pread and gives the same cells as
/// the mapping, in every layout; a file truncated after opening is an
/// [`Error::Truncated`] naming the file and both sizes, not a crash.
#[test]
fn pread_raw_equals_mmap_raw() {
    use impart::{ByteOrder, MemoryOrder, RawOptions};
    let dir = tempfile::tempdir().unwrap();
    let shape = [7usize, 9, 5];
    let data = Array::from_shape_fn(shape, |(a, b, c)| (a * 100 + b * 10 + c) as u16 * 3);
    for (order, bo, offset) in [
        (MemoryOrder::C, ByteOrder::Little, 0u64),
        (MemoryOrder::F, ByteOrder::Big, 3),
        (MemoryOrder::C, ByteOrder::Big, 16),
    ] {
        let path = dir.path().join(format!("v-{order}-{bo}-{offset}.raw"));
        let mut bytes = vec![0xEEu8; offset as usize];
        let ordered: Vec<u16> = match order {
            MemoryOrder::C => data.iter().copied().collect(),
            MemoryOrder::F => data.t().iter().copied().collect(),
        };
        for v in ordered {
            bytes.extend(match bo {
                ByteOrder::Little => v.to_le_bytes(),
                ByteOrder::Big => v.to_be_bytes(),
            });
        }
        std::fs::write(&path, &bytes).unwrap();
        let opts = RawOptions::new(&shape, DType::U16)
            .order(order)
            .byte_order(bo)
            .offset(offset);
        let mapped = opts.open(&path).unwrap();
        let read = opts.clone().mmap(false).open(&path).unwrap();
        assert!(mapped.is_mapped() && !read.is_mapped());
        assert!(read.layout().is_none());
        for (cell, edge) in [
            (vec![3, 4, 5], Edge::Clip),
            (vec![4, 9, 2], Edge::Pad(PadMode::Reflect)),
            (vec![7, 2, 5], Edge::Shift),
        ] {
            let a = Partition::builder(&mapped)
                .cell(&cell)
                .stride(0.6)
                .edge(edge)
                .build()
                .unwrap();
            let b = Partition::builder(&read)
                .cell(&cell)
                .stride(0.6)
                .edge(edge)
                .build()
                .unwrap();
            for (x, y) in a.cells("...").unwrap().zip(b.cells("...").unwrap()) {
                let want = x.to_array::<u16>().unwrap();
                assert_eq!(y.to_array::<u16>().unwrap(), want);
                assert_eq!(y.to_array_as::<f32>().unwrap(), want.mapv(|v| v as f32));
                let r = x.region().clip_to(&shape).unwrap();
                let direct = data.slice(ndarray::s![r.range(0), r.range(1), r.range(2)]);
                if matches!(edge, Edge::Clip | Edge::Shift) {
                    assert_eq!(want, direct.into_dyn());
                }
            }
        }
        // truncate after opening: the pread volume says the file is short
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let part = Partition::builder(&read).cell(&[7, 9, 5]).build().unwrap();
        let err = part
            .cell(&[0, 0, 0])
            .unwrap()
            .to_array::<u16>()
            .unwrap_err();
        // the one cell is the whole volume, read in one run to the file's
        // old end
        match &err {
            Error::Truncated {
                path: p,
                needed,
                actual,
            } => assert_eq!(
                (p, *needed, *actual),
                (&path, bytes.len() as u64, (bytes.len() / 2) as u64)
            ),
            other => panic!("expected Error::Truncated, got {other}"),
        }
        assert!(err.to_string().contains(path.to_str().unwrap()));
    }
}
