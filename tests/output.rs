//! Output volumes: what each writes, read back by other code (the file's
//! bytes decoded here, the `nifti` crate's header reader, `zarrs` reading
//! the array), never by this crate's own readers.

use impart::output::{ArrayOutput, OutputVolume, RawOutputOptions};
use impart::{ByteOrder, DType, MemoryOrder, Region};
use ndarray::{ArrayD, Dimension, IxDyn};

fn reference(shape: &[usize]) -> ArrayD<u16> {
    ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        (0..ix.ndim()).fold(7u16, |acc, k| {
            acc.wrapping_mul(31).wrapping_add(ix[k] as u16 * 3 + 1)
        })
    })
}

/// Writes `data` into `out` in pieces: a grid of boxes of `piece` extents,
/// in reverse C order of the boxes (not the order a file is laid out in).
fn write_in_pieces(out: &dyn OutputVolume, data: &ArrayD<u16>, piece: &[usize]) {
    let shape = data.shape().to_vec();
    let counts: Vec<usize> = shape
        .iter()
        .zip(piece)
        .map(|(&n, &p)| n.div_ceil(p))
        .collect();
    let total: usize = counts.iter().product();
    for flat in (0..total).rev() {
        let mut rest = flat;
        let mut start = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            start[k] = (rest % counts[k]) * piece[k];
            rest /= counts[k];
        }
        let ext: Vec<usize> = (0..shape.len())
            .map(|k| piece[k].min(shape[k] - start[k]))
            .collect();
        let region = Region::new(start.clone(), ext.clone()).unwrap();
        let view = data.slice_each_axis(|ax| {
            let k = ax.axis.index();
            ndarray::Slice::from(start[k]..start[k] + ext[k])
        });
        let bytes: Vec<u8> = view.iter().flat_map(|v| v.to_ne_bytes()).collect();
        out.write_region(&region, &bytes).unwrap();
    }
}

/// The elements of `data` in `order` as `bo` bytes: what a file must hold.
fn encoded(data: &ArrayD<u16>, order: MemoryOrder, bo: ByteOrder) -> Vec<u8> {
    let values: Vec<u16> = match order {
        MemoryOrder::C => data.iter().copied().collect(),
        MemoryOrder::F => data.t().iter().copied().collect(),
    };
    values
        .iter()
        .flat_map(|v| match bo {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        })
        .collect()
}

#[test]
fn raw_outputs_hold_every_region_in_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = reference(&[5, 7, 6]);
    for order in [MemoryOrder::C, MemoryOrder::F] {
        for bo in [ByteOrder::Little, ByteOrder::Big] {
            let path = dir.path().join(format!("out_{order}_{bo}.raw"));
            let out = RawOutputOptions::new(&[5, 7, 6], DType::U16)
                .order(order)
                .byte_order(bo)
                .header(b"HDR!".to_vec())
                .create(&path)
                .unwrap();
            assert!(!path.exists(), "nothing under the final name before finish");
            write_in_pieces(&out, &data, &[2, 3, 4]);
            out.finish().unwrap();
            out.finish().unwrap(); // a second finish does nothing
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[..4], b"HDR!");
            assert_eq!(
                &bytes[4..],
                encoded(&data, order, bo).as_slice(),
                "{order} {bo}"
            );
            let again = out.write_region(&Region::new(vec![0; 3], vec![1; 3]).unwrap(), &[0, 0]);
            assert!(again.is_err(), "a write after finish is an error");
        }
    }
    // only the finished files are left
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn bad_writes_are_errors_and_an_unfinished_output_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.raw");
    let out = RawOutputOptions::new(&[4, 4], DType::U8)
        .create(&path)
        .unwrap();
    let r = |s: [usize; 2], n: [usize; 2]| Region::new(s.to_vec(), n.to_vec()).unwrap();
    assert!(out.write_region(&r([3, 3], [2, 2]), &[0; 4]).is_err());
    assert!(out.write_region(&r([0, 0], [2, 2]), &[0; 3]).is_err());
    assert!(out.write_region(&r([0, 0], [2, 2]), &[0; 4]).is_ok());
    drop(out);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(RawOutputOptions::new(&[0, 4], DType::U8)
        .create(&path)
        .is_err());
}

#[test]
fn memory_output_round_trips() {
    let data = reference(&[3, 4, 5]);
    let out = ArrayOutput::new(&[3, 4, 5], DType::U16).unwrap();
    write_in_pieces(&out, &data, &[2, 2, 2]);
    assert_eq!(out.into_array::<u16>().unwrap(), data);
}

#[cfg(feature = "nifti")]
mod nifti_outputs {
    use super::*;
    use impart::output::NiftiOutputOptions;
    use impart::{NiftiVolume, Volume};
    use std::io::Read;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/nifti")
            .join(name)
    }

    /// A result written like a nibabel-written source overlays it: the
    /// `nifti` crate reads back the source's shape and affine, and the
    /// voxels are where they belong (decoded here from the file's bytes).
    #[test]
    fn nifti_outputs_overlay_their_source() {
        let dir = tempfile::tempdir().unwrap();
        // scaled, big-endian source with sform and qform
        let source = NiftiVolume::open(fixture("gz_i16_4d_scaled_be.nii.gz")).unwrap();
        let shape = source.shape().to_vec();
        let data = reference(&shape);
        for name in ["result.nii", "result.nii.gz"] {
            let path = dir.path().join(name);
            let out = NiftiOutputOptions::like(&source)
                .dtype(DType::U16)
                .create(&path)
                .unwrap();
            write_in_pieces(&out, &data, &[2, 3, 2, 3]);
            out.finish().unwrap();
            let header = nifti::NiftiHeader::from_file(&path).unwrap();
            let dims: Vec<usize> = header.dim[1..=header.dim[0] as usize]
                .iter()
                .map(|&d| d as usize)
                .collect();
            assert_eq!(dims, shape);
            assert_eq!(header.datatype, 512, "u16");
            assert_eq!(header.vox_offset, 352.0);
            // the type changed: the source's scaling is not carried
            assert!(header.scl_slope == 0.0 || header.scl_slope == 1.0);
            let want = source.affine().unwrap();
            let srow = [header.srow_x, header.srow_y, header.srow_z];
            for (r, row) in srow.iter().enumerate() {
                for c in 0..4 {
                    let (got, w) = (row[c] as f64, want[r][c]);
                    assert!(
                        (got - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "srow {r} {c}: {got} vs {w}"
                    );
                }
            }
            assert_eq!((header.sform_code, header.qform_code), (1, 1));
            let mut bytes = Vec::new();
            let f = std::fs::File::open(&path).unwrap();
            if name.ends_with(".gz") {
                flate2::read::GzDecoder::new(f)
                    .read_to_end(&mut bytes)
                    .unwrap();
            } else {
                std::io::BufReader::new(f).read_to_end(&mut bytes).unwrap();
            }
            assert_eq!(
                &bytes[352..],
                encoded(&data, MemoryOrder::F, ByteOrder::Little).as_slice(),
                "{name}"
            );
        }
        // the same type keeps the scaling
        let path = dir.path().join("same.nii");
        let out = NiftiOutputOptions::like(&source).create(&path).unwrap();
        out.finish().unwrap();
        let header = nifti::NiftiHeader::from_file(&path).unwrap();
        let (slope, inter) = source.scaling().unwrap();
        assert_eq!(
            (header.scl_slope as f64, header.scl_inter as f64),
            (slope, inter)
        );
        // a shape NIfTI-1 cannot hold is refused before anything is written
        let bad =
            NiftiOutputOptions::new(&[40000, 2], DType::U8).create(dir.path().join("big.nii"));
        assert!(
            matches!(bad, Err(impart::Error::InvalidArgument { .. })),
            "{bad:?}"
        );
    }
}

#[cfg(feature = "zarr")]
mod zarr_outputs {
    use super::*;
    use impart::output::ZarrOutput;
    use std::sync::Arc;
    use zarrs::array::{Array, ArraySubset};
    use zarrs::filesystem::FilesystemStore;

    /// Regions aligned and not aligned to chunks, written from several
    /// threads, read back by zarrs.
    #[test]
    fn zarr_outputs_hold_every_region() {
        let dir = tempfile::tempdir().unwrap();
        let data = reference(&[9, 10, 7]);
        let path = dir.path().join("out.zarr");
        let out = ZarrOutput::create(&path, &[9, 10, 7], &[4, 4, 4], DType::U16).unwrap();
        std::thread::scope(|s| {
            for half in [0usize, 1] {
                let (out, data) = (&out, &data);
                s.spawn(move || {
                    // each thread writes its half of the x axis, in 3^3 boxes
                    let sub = data.slice_each_axis(|ax| {
                        if ax.axis.index() == 0 {
                            ndarray::Slice::from(half * 5..(half * 5 + 5).min(9))
                        } else {
                            ndarray::Slice::from(..)
                        }
                    });
                    let shifted = ArrayOutputShift {
                        inner: out,
                        dx: half * 5,
                    };
                    write_in_pieces(&shifted, &sub.to_owned(), &[3, 3, 3]);
                });
            }
        });
        assert!(!path.exists());
        out.finish().unwrap();
        let store = Arc::new(FilesystemStore::new(&path).unwrap());
        let array = Array::open(store, "/").unwrap();
        let got: ndarray::ArrayD<u16> = array
            .retrieve_array_subset(&ArraySubset::new_with_ranges(&[0..9, 0..10, 0..7]))
            .unwrap();
        assert_eq!(got, data);
    }

    /// An output seen through an offset on axis 0 (so a thread can write a
    /// sub-array at its place).
    struct ArrayOutputShift<'a> {
        inner: &'a ZarrOutput,
        dx: usize,
    }

    impl OutputVolume for ArrayOutputShift<'_> {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn shape(&self) -> &[usize] {
            self.inner.shape()
        }
        fn dtype(&self) -> DType {
            self.inner.dtype()
        }
        fn write_region(&self, region: &Region, data: &[u8]) -> impart::Result<()> {
            let mut start = region.start().to_vec();
            start[0] += self.dx;
            self.inner
                .write_region(&Region::new(start, region.shape().to_vec())?, data)
        }
        fn finish(&self) -> impart::Result<()> {
            Ok(())
        }
    }
}
