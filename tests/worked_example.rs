//! The DESIGN.md worked example (the Python `impart` README): a 1920 x 1080
//! RGB image, 128 x 128 cells, stride 0.5 — in memory and as a raw file,
//! through `s![]` and through text selections.

use impart::{
    ArrayVolume, ByteOrder, DType, Grid, MemoryOrder, Partition, RawOptions, Selection, Volume,
};
use ndarray::{s, Array3, ArrayD, IxDyn};

fn image() -> Array3<u8> {
    Array3::from_shape_fn((1080, 1920, 3), |(y, x, c)| {
        (y.wrapping_mul(7) ^ x.wrapping_mul(13) ^ (c * 101)) as u8
    })
}

/// `(left, top, width, height)` of a selection, as the original reports it.
fn ltwh<V: Volume>(sel: &impart::Selected<'_, V>) -> (usize, usize, usize, usize) {
    let r = sel.region();
    (r.start()[1], r.start()[0], r.shape()[1], r.shape()[0])
}

fn check<V: Volume>(vol: V, data: &Array3<u8>, zero_copy: bool) {
    let part = Partition::builder(vol)
        .cell(&[128, 128])
        .stride(0.5)
        .build()
        .unwrap();
    assert_eq!(part.grid().shape(), vec![16, 29]);
    assert_eq!(part.grid().step(), vec![64.0, 64.0]);
    assert_eq!(part.len(), 16 * 29);

    let cases = [
        (
            Selection::try_from(s![.., 0].as_ref()).unwrap(),
            "...,0",
            (0, 0, 128, 1080),
        ),
        (
            Selection::try_from(s![..3, 15..21].as_ref()).unwrap(),
            ":3,15:21",
            (960, 0, 448, 256),
        ),
        (
            Selection::try_from(s![10, -1].as_ref()).unwrap(),
            "10,-1",
            (1792, 640, 128, 128),
        ),
    ];
    for (sel, text, want) in cases {
        let a = part.select(&sel).unwrap();
        let b = part.select(text).unwrap();
        assert_eq!(ltwh(&a), want, "{text}");
        assert_eq!(a.region(), b.region(), "{text}");
        assert_eq!(a.cells(), b.cells(), "{text}");
        assert_eq!(a.shape(), vec![want.3, want.2, 3]);
        let (l, t, w, h) = want;
        let expected = data.slice(s![t..t + h, l..l + w, ..]).into_dyn();
        if zero_copy {
            assert_eq!(a.view::<u8>().unwrap(), expected, "{text}");
        }
        assert_eq!(b.to_array::<u8>().unwrap(), expected, "{text}");
        assert_eq!(
            b.to_array_as::<f32>().unwrap(),
            expected.mapv(|v| v as f32),
            "{text}"
        );
        let mut out = ArrayD::<u8>::zeros(IxDyn(&[h, w, 3]));
        a.read_into(out.view_mut()).unwrap();
        assert_eq!(out, expected);
    }
    // the macro directly, and the cell by its index
    assert_eq!(
        part.select(s![10, -1]).unwrap().region(),
        part.cell(&[10, 28]).unwrap().region()
    );
    assert_eq!(ltwh(&part.select(s![.., 0]).unwrap()), (0, 0, 128, 1080));
    // the last cells are clipped at the image's border
    assert_eq!(ltwh(&part.select("-1,-1").unwrap()), (1792, 960, 128, 120));
    // the original's channels=(0, 1, 2)
    let rgb = Partition::builder(part.volume())
        .cell(&[128, 128])
        .stride(0.5)
        .channels(&[0, 1, 2])
        .build()
        .unwrap();
    let sel = rgb.select("10,-1").unwrap();
    assert_eq!(
        sel.to_array::<u8>().unwrap(),
        data.slice(s![640..768, 1792..1920, ..]).into_dyn()
    );
}

#[test]
fn grid_alone() {
    let g = Grid::builder(&[1080, 1920])
        .cell(&[128, 128])
        .stride(0.5)
        .build()
        .unwrap();
    assert_eq!(g.shape(), vec![16, 29]);
    assert_eq!(g.step(), vec![64.0, 64.0]);
    let r = g.cell_region(&[10, 28]).unwrap();
    assert_eq!((r.start(), r.shape()), (&[640, 1792][..], &[128, 128][..]));
    let boxed = ":3,15:21"
        .parse::<Selection>()
        .unwrap()
        .resolve(g.shape())
        .unwrap();
    assert_eq!(g.region(&boxed).unwrap().shape(), &[256, 448]);
}

#[test]
fn in_memory() {
    let data = image();
    check(ArrayVolume::new(data.view()).unwrap(), &data, true);
}

#[test]
fn raw_file() {
    let data = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.rgb");
    std::fs::write(&path, data.as_slice().unwrap()).unwrap();
    let vol = RawOptions::new(&[1080, 1920, 3], DType::U8)
        .open(&path)
        .unwrap();
    check(vol, &data, true);

    // the same image stored column-major behind a 17-byte header
    let path = dir.path().join("image-f.raw");
    let mut bytes = vec![0u8; 17];
    bytes.extend(data.t().iter().copied());
    std::fs::write(&path, bytes).unwrap();
    let vol = RawOptions::new(&[1080, 1920, 3], DType::U8)
        .order(MemoryOrder::F)
        .byte_order(ByteOrder::Big)
        .offset(17)
        .open(&path)
        .unwrap();
    check(vol, &data, true);
}
