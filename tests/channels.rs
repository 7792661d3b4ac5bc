//! Channel selections: evenly spaced lists (ascending or descending) are
//! zero-copy views; others are gathered; constant padding converts through
//! the stored type.

use impart::{ArrayVolume, Edge, Error, NotZeroCopyReason, PadMode, Partition};
use ndarray::{s, Array3};

#[test]
fn descending_channels_are_a_view() {
    let data = Array3::<u8>::from_shape_fn((8, 10, 4), |(y, x, c)| (y * 40 + x * 4 + c) as u8);
    for (list, want) in [
        (
            vec![2usize, 1, 0],
            data.slice(s![0..4, 5..10, 0..3;-1]).to_owned(),
        ),
        (vec![3, 1], data.slice(s![0..4, 5..10, 1..4;-2]).to_owned()),
        (vec![0, 2], data.slice(s![0..4, 5..10, 0..3;2]).to_owned()),
    ] {
        let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
            .cell(&[4, 5])
            .channels(&list)
            .build()
            .unwrap();
        let cell = part.select(s![0, 1]).unwrap();
        let view = cell.view::<u8>().unwrap();
        assert_eq!(view, want.view().into_dyn(), "{list:?}");
        assert_eq!(cell.to_array::<u8>().unwrap(), want.into_dyn(), "{list:?}");
    }
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[4, 5])
        .channels(&[0, 1, 3])
        .build()
        .unwrap();
    let cell = part.cell(&[1, 0]).unwrap();
    assert!(matches!(
        cell.view::<u8>(),
        Err(Error::NotZeroCopy {
            reason: NotZeroCopyReason::ChannelGather,
            ..
        })
    ));
    let got = cell.to_array::<u8>().unwrap();
    for (k, &c) in [0usize, 1, 3].iter().enumerate() {
        assert_eq!(
            got.slice(s![.., .., k]).into_dyn(),
            data.slice(s![4..8, 0..5, c]).into_dyn()
        );
    }
}

#[test]
fn constant_pad_goes_through_the_stored_type() {
    let data = Array3::<u8>::ones((3, 3, 1));
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[2, 2])
        .edge(Edge::Pad(PadMode::Constant(-1.0)))
        .build()
        .unwrap();
    let cell = part.cell(&[1, 1]).unwrap();
    let as_u8 = cell.to_array::<u8>().unwrap();
    let as_f32 = cell.to_array_as::<f32>().unwrap();
    // -1.0 as u8 saturates to 0, so the f32 output holds 0.0 as well
    assert_eq!(as_u8[[1, 1, 0]], 0);
    assert_eq!(as_f32, as_u8.mapv(|v| v as f32));
}

/// `read_into` slots with unit axes added or left out, and channel-first
/// slots for a channels-last selection: the same voxels as `to_array`, at
/// their place (checked index by index), contiguous or strided.
#[test]
fn read_into_unit_axes_and_channel_first_slots() {
    use impart::{ArrayVolume, Error, Partition};
    use ndarray::{s, Array3, Array4, Array5, Axis};

    // a 3D volume, cells of 4^3: into (1, 4, 4, 4) slots of a batch
    let vol = Array3::<u16>::from_shape_fn((9, 8, 7), |(z, y, x)| (z * 100 + y * 10 + x) as u16);
    let part = Partition::builder(ArrayVolume::new(vol.view()).unwrap())
        .cell(&[4, 4, 4])
        .build()
        .unwrap();
    let mut batch = Array5::<f32>::zeros((part.len(), 1, 4, 4, 4));
    for (i, cell) in part.cells("...").unwrap().enumerate() {
        let want = cell.to_array_as::<f32>().unwrap();
        if want.shape() != [4, 4, 4] {
            continue; // clipped border cells have their own shape
        }
        cell.read_into(batch.index_axis_mut(Axis(0), i)).unwrap();
        assert_eq!(batch.slice(s![i, 0, .., .., ..]).into_dyn(), want.view());
    }
    // a slot with a unit axis too many of the wrong size is refused
    let cell = part.cell(&[0, 0, 0]).unwrap();
    let mut bad = Array4::<u16>::zeros((2, 4, 4, 4));
    assert!(matches!(
        cell.read_into(bad.view_mut()),
        Err(Error::ShapeMismatch { .. })
    ));
    // and a selection axis of extent 1 may be left out of the slot
    let thin = Partition::builder(ArrayVolume::new(vol.view()).unwrap())
        .cell(&[1, 4, 4])
        .build()
        .unwrap();
    let c = thin.cell(&[3, 1, 0]).unwrap();
    let mut plane = ndarray::Array2::<u16>::zeros((4, 4));
    c.read_into(plane.view_mut()).unwrap();
    assert_eq!(
        plane.into_dyn(),
        c.to_array::<u16>()
            .unwrap()
            .index_axis(Axis(0), 0)
            .to_owned()
    );

    // an RGB image, cells of 4x4 with the channels carried: channel-first slots
    let img = Array3::<u8>::from_shape_fn((8, 12, 3), |(y, x, c)| (y * 30 + x * 2 + c) as u8);
    let part = Partition::builder(ArrayVolume::new(img.view()).unwrap())
        .cell(&[4, 4])
        .build()
        .unwrap();
    let cell = part.cell(&[1, 2]).unwrap();
    let want = cell.to_array::<u8>().unwrap(); // (4, 4, 3)
    let mut slot = Array3::<u8>::zeros((3, 4, 4));
    cell.read_into(slot.view_mut()).unwrap();
    let mut big = Array4::<u8>::zeros((3, 1, 8, 4));
    // a strided destination (every other row) of another shape
    cell.read_into(big.slice_mut(s![.., .., ..;2, ..])).unwrap();
    for c in 0..3 {
        for y in 0..4 {
            for x in 0..4 {
                assert_eq!(slot[[c, y, x]], want[[y, x, c]], "{c} {y} {x}");
                assert_eq!(big[[c, 0, 2 * y, x]], want[[y, x, c]], "{c} {y} {x}");
            }
        }
    }
    // the exact shape still wins: (4, 4, 3) is channels-last
    let mut exact = Array3::<u8>::zeros((4, 4, 3));
    cell.read_into(exact.view_mut()).unwrap();
    assert_eq!(exact.into_dyn(), want);
}
