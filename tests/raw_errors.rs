//! Bad input gives typed errors that name the file and the problem, never a
//! panic: truncated and missing files, impossible shapes and offsets, bad
//! strides and steps, partition descriptions that do not fit the volume.

use std::path::Path;

use impart::{
    ArrayVolume, ByteOrder, DType, Error, Grid, GridError, MemoryOrder, Partition, RawOptions,
    SelectionError, Volume,
};
use ndarray::{s, Array3};

fn write(path: &Path, len: usize) {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    std::fs::write(path, bytes).unwrap();
}

fn assert_names(err: &Error, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} should name {}",
        path.display()
    );
}

#[test]
fn errors_are_std_errors() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();
    is_error::<GridError>();
    is_error::<SelectionError>();
}

#[test]
fn every_truncated_length_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [3, 4, 5];
    for (dtype, offset) in [(DType::U16, 0u64), (DType::F32, 7), (DType::U8, 1)] {
        let full = offset as usize + 60 * dtype.size();
        let path = dir.path().join(format!("t-{dtype}-{offset}.raw"));
        for len in 0..full {
            write(&path, len);
            let err = RawOptions::new(&shape, dtype)
                .offset(offset)
                .open(&path)
                .unwrap_err();
            match &err {
                Error::Truncated {
                    path: p,
                    needed,
                    actual,
                } => {
                    assert_eq!(p, &path);
                    assert_eq!(*needed, full as u64);
                    assert_eq!(*actual, len as u64);
                }
                other => panic!("length {len}: {other:?}"),
            }
            assert_names(&err, &path);
        }
        // exactly long enough, and longer
        for len in [full, full + 1, full + 4096] {
            write(&path, len);
            let vol = RawOptions::new(&shape, dtype)
                .offset(offset)
                .open(&path)
                .unwrap();
            assert_eq!(vol.layout().unwrap().bytes().len(), 60 * dtype.size());
        }
    }
    // an offset past the end of the file
    let path = dir.path().join("short.raw");
    write(&path, 100);
    assert!(matches!(
        RawOptions::new(&[10], DType::U8).offset(1000).open(&path),
        Err(Error::Truncated {
            needed: 1010,
            actual: 100,
            ..
        })
    ));
    assert!(matches!(
        RawOptions::new(&[1], DType::U8).offset(100).open(&path),
        Err(Error::Truncated { .. })
    ));
    RawOptions::new(&[1], DType::U8)
        .offset(99)
        .open(&path)
        .unwrap();
}

#[test]
fn impossible_shapes_are_invalid_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.raw");
    write(&path, 4096);
    let half = (usize::MAX >> 1) + 1;
    let shapes: Vec<(Vec<usize>, DType)> = vec![
        (vec![], DType::U8),
        (vec![0], DType::U8),
        (vec![3, 0, 5], DType::U16),
        (vec![1, 1, 0], DType::F64),
        (vec![usize::MAX], DType::U8),
        (vec![usize::MAX, usize::MAX], DType::U8),
        (vec![half, 2], DType::U8),
        (vec![isize::MAX as usize + 1], DType::U8),
        (vec![isize::MAX as usize], DType::U16),
        (vec![1 << 62], DType::F64),
        (vec![1 << 21, 1 << 21, 1 << 21], DType::U8),
    ];
    for (shape, dtype) in shapes {
        let err = RawOptions::new(&shape, dtype).open(&path).unwrap_err();
        assert!(
            matches!(err, Error::InvalidLayout { .. }),
            "{shape:?} {dtype}: {err:?}"
        );
        assert_names(&err, &path);
    }
    // a large but countable shape: the file is simply too short
    assert!(matches!(
        RawOptions::new(&[1 << 20, 1 << 20], DType::U16).open(&path),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn offset_overflow_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.raw");
    write(&path, 64);
    for offset in [u64::MAX, u64::MAX - 5, u64::MAX - 63] {
        let err = RawOptions::new(&[8, 8], DType::U8)
            .offset(offset)
            .open(&path)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidLayout { .. } | Error::Truncated { .. }),
            "{offset}: {err:?}"
        );
        assert_names(&err, &path);
    }
    assert!(matches!(
        RawOptions::new(&[8, 8], DType::U8)
            .offset(u64::MAX)
            .open(&path),
        Err(Error::InvalidLayout { .. })
    ));
    // u64::MAX - 64 + 64 does not overflow: the file is too short
    assert!(matches!(
        RawOptions::new(&[8, 8], DType::U8)
            .offset(u64::MAX - 64)
            .open(&path),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.raw");
    let err = RawOptions::new(&[4, 4], DType::U16)
        .byte_order(ByteOrder::Big)
        .order(MemoryOrder::F)
        .open(&path)
        .unwrap_err();
    match &err {
        Error::Io { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert_names(&err, &path);
    // a directory is not a raw file either
    let err = RawOptions::new(&[1], DType::U8)
        .open(dir.path())
        .unwrap_err();
    assert_names(&err, dir.path());
}

fn small_volume() -> Array3<u8> {
    Array3::from_shape_fn((10, 12, 3), |(y, x, c)| (y * 12 + x + c) as u8)
}

#[test]
fn bad_strides_and_steps_are_grid_errors() {
    let data = small_volume();
    let vol = ArrayVolume::new(data.view()).unwrap();
    let bad = [
        0.0,
        -0.0,
        -1.0,
        -1e-300,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for v in bad {
        let err = Partition::builder(&vol)
            .cell(&[4, 4])
            .stride(v)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Grid(GridError::InvalidStride { axis: 0, .. })),
            "stride {v}: {err:?}"
        );
        assert!(err.to_string().contains("stride"));
        let err = Partition::builder(&vol)
            .cell(&[4, 4])
            .stride(vec![0.5, v])
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Grid(GridError::InvalidStride { axis: 1, .. })),
            "stride {v} on axis 1: {err:?}"
        );
        let err = Partition::builder(&vol)
            .cell(&[4, 4])
            .step(v)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Grid(GridError::InvalidStep { axis: 0, .. })),
            "step {v}: {err:?}"
        );
        let err = Partition::builder(&vol)
            .cell(&[4, 4])
            .step([2.0, v])
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Grid(GridError::InvalidStep { axis: 1, .. })),
            "step {v} on axis 1: {err:?}"
        );
        assert!(matches!(
            Grid::builder(&[10]).cell(&[2]).stride(v).build(),
            Err(GridError::InvalidStride { .. })
        ));
        assert!(matches!(
            Grid::builder(&[10]).cell(&[2]).step(v).build(),
            Err(GridError::InvalidStep { .. })
        ));
    }
    // wrong number of per-axis values
    assert!(matches!(
        Partition::builder(&vol)
            .cell(&[4, 4])
            .stride(vec![0.5, 0.5, 0.5])
            .build(),
        Err(Error::Grid(GridError::RankMismatch { .. }))
    ));
    assert!(matches!(
        Partition::builder(&vol)
            .cell(&[4, 4])
            .step(Vec::<f64>::new())
            .build(),
        Err(Error::Grid(GridError::RankMismatch { .. }))
    ));
    // steps so small the grid cannot be counted
    assert!(matches!(
        Grid::builder(&[1 << 53]).cell(&[1]).step(1e-300).build(),
        Err(GridError::TooManyCells { .. })
    ));
    // extents where f64 is no longer exact
    assert!(matches!(
        Grid::builder(&[usize::MAX]).cell(&[1]).step(1e-300).build(),
        Err(GridError::ExtentTooLarge { .. })
    ));
    assert!(matches!(
        Grid::builder(&[1 << 40]).cell(&[1]).stride(1e-20).build(),
        Err(GridError::TooManyCells { .. })
    ));
    assert!(Grid::new(&[usize::MAX, usize::MAX], &[1, 1], 1.0).is_err());
}

#[test]
fn bad_partitions_are_typed_errors() {
    let data = small_volume();
    let vol = ArrayVolume::new(data.view()).unwrap();
    let invalid = |r: impart::Result<Partition<&ArrayVolume<'_, u8>>>, what: &str| match r {
        Err(Error::InvalidPartition { volume, detail }) => {
            assert_eq!(volume, "<memory>");
            assert!(!detail.is_empty());
        }
        Err(other) => panic!("{what}: {other:?}"),
        Ok(_) => panic!("{what}: no error"),
    };
    invalid(Partition::builder(&vol).build(), "no cell");
    invalid(
        Partition::builder(&vol).cell(&[2, 2, 2, 2]).build(),
        "more cell extents than axes",
    );
    invalid(
        Partition::builder(&vol).cell(&[2, 2]).axes(&[0]).build(),
        "axes and cell of different lengths",
    );
    invalid(
        Partition::builder(&vol).cell(&[2, 2]).axes(&[0, 3]).build(),
        "nonexistent axis",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2])
            .axes(&[usize::MAX])
            .build(),
        "axis usize::MAX",
    );
    invalid(
        Partition::builder(&vol).cell(&[2, 2]).axes(&[1, 1]).build(),
        "duplicated axis",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2, 2])
            .channels(&[3])
            .build(),
        "channel out of range",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2, 2])
            .channels(&[0, usize::MAX])
            .build(),
        "channel usize::MAX",
    );
    invalid(
        Partition::builder(&vol).cell(&[2, 2]).channels(&[]).build(),
        "empty channel list",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2, 2, 2])
            .channels(&[0])
            .build(),
        "channels with every axis partitioned",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2, 2])
            .channels_on(0, &[0])
            .build(),
        "channels on a partitioned axis",
    );
    invalid(
        Partition::builder(&vol)
            .cell(&[2, 2])
            .channels_on(7, &[0])
            .build(),
        "channels on a nonexistent axis",
    );
    // zero cell extent
    assert!(matches!(
        Partition::builder(&vol).cell(&[0, 2]).build(),
        Err(Error::Grid(GridError::ZeroExtent { what: "cell", .. }))
    ));
    // the grid alone: cell shape rank mismatch
    assert!(matches!(
        Grid::builder(&[10, 12]).cell(&[2]).build(),
        Err(GridError::RankMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(Grid::builder(&[]).build(), Err(GridError::NoAxes)));
    assert!(matches!(
        Grid::builder(&[10, 0]).cell(&[2, 2]).build(),
        Err(GridError::ZeroExtent {
            what: "volume",
            axis: 1
        })
    ));
    // an ArrayVolume with an empty axis
    let empty = ndarray::Array2::<f32>::zeros((0, 4));
    assert!(matches!(
        ArrayVolume::new(empty.view()),
        Err(Error::InvalidLayout { .. })
    ));
}

#[test]
fn bad_selections_and_reads_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vol.raw");
    let data = small_volume();
    std::fs::write(&path, data.as_slice().unwrap()).unwrap();
    let vol = RawOptions::new(&[10, 12, 3], DType::U8)
        .open(&path)
        .unwrap();
    let part = Partition::builder(&vol).cell(&[4, 4]).build().unwrap();
    assert_eq!(part.grid().shape(), vec![3, 3]);
    for text in [
        "3", "-4", "0,3", "2:2", "3:", "1,1,1", "...,...", "a", "0:3:2",
    ] {
        assert!(
            matches!(part.select(text), Err(Error::Selection(_))),
            "{text:?}"
        );
    }
    assert!(matches!(
        part.select(s![.., 5]),
        Err(Error::Selection(SelectionError::IndexOutOfRange { .. }))
    ));
    assert!(matches!(
        part.select(s![0..3;2, ..]),
        Err(Error::Selection(SelectionError::StepNotOne { .. }))
    ));
    assert!(part.cell(&[3, 0]).is_err());
    assert!(part.cell(&[usize::MAX, 0]).is_err());
    assert!(part.cell(&[0]).is_err());
    assert!(part.cell(&[0, 0, 0]).is_err());

    let sel = part.select("1,1").unwrap();
    // wrong type, named by file
    let err = sel.to_array::<u16>().unwrap_err();
    assert!(matches!(
        err,
        Error::DTypeMismatch {
            stored: DType::U8,
            requested: DType::U16,
            ..
        }
    ));
    assert_names(&err, &path);
    let err = sel.view::<f32>().unwrap_err();
    assert!(matches!(err, Error::NotZeroCopy { .. }));
    assert_names(&err, &path);
    // wrong destination shape
    let mut dst = ndarray::Array3::<u8>::zeros((4, 4, 2));
    assert!(matches!(
        sel.read_into(dst.view_mut()),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut dst = ndarray::Array2::<u8>::zeros((4, 4));
    assert!(matches!(
        sel.read_into(dst.view_mut()),
        Err(Error::ShapeMismatch { .. })
    ));
    // and the right one works
    let mut dst = ndarray::Array3::<u8>::zeros((4, 4, 3));
    sel.read_into(dst.view_mut()).unwrap();
    assert_eq!(dst, data.slice(s![4..8, 4..8, ..]));

    // partition errors name the file too
    let err = Partition::builder(&vol)
        .cell(&[4, 4])
        .axes(&[0, 9])
        .build()
        .unwrap_err();
    assert_names(&err, &path);
    let err = Partition::builder(&vol)
        .cell(&[4, 4])
        .channels(&[5])
        .build()
        .unwrap_err();
    assert_names(&err, &path);
}

#[test]
fn bad_names_are_typed_errors() {
    assert!(matches!(
        "complex64".parse::<DType>(),
        Err(Error::UnknownDType { .. })
    ));
    assert!(matches!(
        "middle".parse::<ByteOrder>(),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        "Z".parse::<MemoryOrder>(),
        Err(Error::InvalidArgument { .. })
    ));
}

/// "No panics in library code on any input": a Pad grid whose cells are far
/// larger than any memory gives selections whose element count overflows
/// `usize`. `Selected::len()` (an unchecked product) and `to_array`
/// (`strides_like`, src/partition/copy.rs:72) overflow and panic instead of
/// returning an error. (With one axis of 2^62 voxels, `to_array::<u8>()`
/// aborts the process on a failed 4 EiB allocation; not tested here since an
/// abort would take the whole test binary down.)
#[test]

fn huge_pad_cells_do_not_panic() {
    let data = ndarray::Array2::<u8>::zeros((10, 10));
    let vol = ArrayVolume::new(data.view()).unwrap();
    let part = Partition::builder(&vol)
        .cell(&[1 << 33, 1 << 33])
        .edge(impart::Edge::Pad(impart::PadMode::Edge))
        .build()
        .unwrap();
    let sel = part.cell(&[0, 0]).unwrap();
    assert_eq!(sel.region().shape(), &[1 << 33, 1 << 33]);
    assert!(
        std::panic::catch_unwind(|| sel.len()).is_ok(),
        "len() panicked"
    );
    let got = std::panic::catch_unwind(|| sel.to_array::<u8>().map(|_| ()));
    assert!(matches!(got, Ok(Err(_))), "to_array should be an error");
}

/// A grid too fine to walk (10^18 cells of a small volume) is a typed error
/// from the walk and from fragmentation, not an allocation abort.
#[test]
fn walks_over_too_many_cells_are_errors() {
    let data = ndarray::Array2::<u8>::zeros((1000, 1000));
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[1, 1])
        .step(1e-6)
        .build()
        .unwrap();
    assert!(part.len() > 1 << 59, "{}", part.len());
    let r = part.par_map_cells::<u8, _, _>("...", |_, v| v.len());
    assert!(matches!(r, Err(Error::TooManyCells { .. })), "{r:?}");
    let dir = tempfile::tempdir().unwrap();
    let r = impart::fragment::FragmentOptions::new(dir.path()).fragment(&part, "...");
    assert!(matches!(r, Err(Error::TooManyCells { .. })), "{r:?}");
}
