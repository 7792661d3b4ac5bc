//! `Partition::whole` reads every voxel; `ImagePartition::with_edge` gives
//! the grid that a partition built with that edge policy gives, cell by
//! cell, channels kept.

use impart::{ArrayVolume, Error, Partition};
use ndarray::{Array3, ArrayD, IxDyn, ShapeBuilder};

#[test]
fn whole_reads_every_voxel_in_either_memory_order() -> Result<(), Error> {
    let value = |(z, y, x): (usize, usize, usize)| (z * 10_000 + y * 100 + x) as u32;
    for f in [false, true] {
        let data = Array3::<u32>::from_shape_fn((7, 9, 11).set_f(f), value);
        let volume = ArrayVolume::new(data.view())?;
        let whole = Partition::whole(&volume)?;
        assert_eq!(whole.len(), 1);
        let all = whole.all()?;
        assert_eq!(all.shape(), vec![7, 9, 11]);
        let read = all.to_array_as::<f64>()?;
        for ((z, y, x), v) in data.indexed_iter() {
            assert_eq!(read[[z, y, x]], *v as f64);
        }
        // a zero-copy view of it all
        let view = all.view::<u32>()?;
        assert_eq!(view, data.view().into_dyn());
    }
    Ok(())
}

#[test]
fn whole_of_a_volume_without_axes_is_an_error() {
    let data = ArrayD::<u8>::zeros(IxDyn(&[]));
    // a volume may refuse zero axes itself; if it opens, the grid refuses
    if let Ok(volume) = ArrayVolume::new(data.view()) {
        match Partition::whole(&volume) {
            Err(Error::Grid(_)) => {}
            other => panic!("expected a grid error, got {other:?}"),
        }
    }
}

/// `ImagePartition` needs the image backend (its default volume type).
#[cfg(feature = "image")]
mod edges {
    use impart::original::ImagePartition;
    use impart::{ArrayVolume, Edge, Error, PadMode, Partition};
    use ndarray::{s, Array2, Array3};
    use proptest::prelude::*;

    #[test]
    fn edge_is_clip_until_changed() -> Result<(), Error> {
        let pixels = Array2::<u8>::zeros((10, 10));
        let image =
            ImagePartition::from_volume(ArrayVolume::new(pixels.view())?, (4, 4), 1.0, None)?;
        assert_eq!(image.edge(), Edge::Clip);
        let shifted = image.with_edge(Edge::Shift)?;
        assert_eq!(shifted.edge(), Edge::Shift);
        assert_eq!(shifted.select(s![2, 2])?.shape(), vec![4, 4]);
        Ok(())
    }

    proptest! {
        #[test]
        fn with_edge_is_the_partition_of_that_edge(
            h in 1usize..40,
            w in 1usize..40,
            ch in 1usize..4,
            ch_h in 1usize..12,
            cw in 1usize..12,
            stride in prop_oneof![Just(0.25), Just(0.5), Just(1.0), Just(1.5)],
            edge_kind in 0usize..4,
            keep_last in proptest::bool::ANY,
        ) {
            let edge = match edge_kind {
                0 => Edge::Clip,
                1 => Edge::Shift,
                2 => Edge::Pad(PadMode::Constant(9.0)),
                _ => Edge::Pad(PadMode::Reflect),
            };
            let value = |(y, x, c): (usize, usize, usize)| ((y * 41 + x * 3 + c) % 251) as u8;
            let pixels = Array3::<u8>::from_shape_fn((h, w, ch), value);
            let channels: Vec<usize> = if keep_last { vec![ch - 1] } else { (0..ch).collect() };
            let image = ImagePartition::from_volume(
                ArrayVolume::new(pixels.view()).unwrap(),
                (ch_h, cw),
                stride,
                Some(&channels),
            )
            .unwrap()
            .with_edge(edge);
            let direct = Partition::builder(ArrayVolume::new(pixels.view()).unwrap())
                .cell(&[ch_h, cw])
                .stride(stride)
                .edge(edge)
                .channels(&channels)
                .build();
            // whatever one refuses, the other refuses with the same words
            let (image, direct) = match (image, direct) {
                (Ok(i), Ok(d)) => (i, d),
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a.to_string(), b.to_string());
                    return Ok(());
                }
                (a, b) => {
                    return Err(TestCaseError::fail(format!(
                        "with_edge {:?} but the partition {:?}",
                        a.map(|_| ()),
                        b.map(|_| ())
                    )))
                }
            };
            prop_assert_eq!(image.partition().grid().shape(), direct.grid().shape());
            for (a, b) in image.partition().cells("...").unwrap().zip(direct.cells("...").unwrap()) {
                prop_assert_eq!(a.region(), b.region());
                prop_assert_eq!(a.to_array::<u8>().unwrap(), b.to_array::<u8>().unwrap());
                // full size, except where a shifted cell cannot fit the image
                let full = matches!(edge, Edge::Pad(_)) || (edge == Edge::Shift && ch_h <= h && cw <= w);
                if full {
                    prop_assert_eq!(a.shape(), vec![ch_h, cw, channels.len()]);
                }
            }
        }
    }
}
