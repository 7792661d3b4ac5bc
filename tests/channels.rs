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
