//! `impart::open` picks the backend of every fixture kind in `tests/data`
//! and reads what that backend reads on its own; paths it cannot place are
//! typed errors that name them.
#![cfg(all(feature = "nifti", feature = "zarr", feature = "image"))]

mod common;

use std::path::{Path, PathBuf};

use common::conformance::{check_backend, Expect, Voxel};
use common::{field, load_manifest, str_of, usizes};
use impart::{
    AnyVolume, ByteOrder, DType, Error, MemoryOrder, NiftiOptions, NotZeroCopyReason, OpenOptions,
    Partition, RawOptions, Volume, VolumeFormat, ZarrVolume,
};
use ndarray::ArrayD;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Every voxel as `f64`.
fn voxels<V: Volume>(volume: V) -> ArrayD<f64> {
    let cell = volume.shape().to_vec();
    Partition::builder(volume)
        .cell(&cell)
        .build()
        .and_then(|p| p.select("...")?.to_array_as::<f64>())
        .expect("read every voxel")
}

/// Every voxel in the stored type.
fn stored<T: Voxel, V: Volume>(volume: V) -> ArrayD<T> {
    let cell = volume.shape().to_vec();
    Partition::builder(volume)
        .cell(&cell)
        .build()
        .and_then(|p| p.select("...")?.to_array::<T>())
        .expect("read every voxel")
}

/// `volume` came from the backend of `format`, has `shape` and `dtype`,
/// and reads the same voxels as `direct`, the backend opened on its own.
fn check<V: Volume>(
    volume: AnyVolume,
    format: VolumeFormat,
    shape: &[usize],
    dtype: DType,
    direct: V,
) {
    let name = volume.name().to_string();
    assert_eq!(volume.format(), format, "{name}");
    assert_eq!(volume.kind(), format.name(), "{name}");
    assert_eq!(volume.kind(), direct.kind(), "{name}");
    assert_eq!((volume.shape(), volume.dtype()), (shape, dtype), "{name}");
    assert_eq!(volume.affine(), direct.affine(), "{name}");
    assert_eq!(volume.scaling(), direct.scaling(), "{name}");
    assert_eq!(
        volume.layout().is_some(),
        direct.layout().is_some(),
        "{name}"
    );
    let (a, b) = (voxels(&volume), voxels(direct));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "{name}: open reads other voxels than the backend"
    );
}

#[test]
fn raw_needs_its_shape_and_type() {
    // u16_le_c_off7: shape (5, 9), little-endian, C order, offset 7
    let path = data("raw/u16_le_c_off7.raw");
    match impart::open(&path) {
        Err(Error::UnknownFormat { path: p }) => assert_eq!(p, path),
        other => panic!("raw file without options: {other:?}"),
    }
    let options = OpenOptions::new().raw(&[5, 9], DType::U16).offset(7);
    assert_eq!(options.format(&path).ok(), Some(VolumeFormat::Raw));
    let volume = options.open(&path).unwrap();
    assert!(volume.is_mapped());
    let direct = RawOptions::new(&[5, 9], DType::U16)
        .offset(7)
        .open(&path)
        .unwrap();
    check(volume, VolumeFormat::Raw, &[5, 9], DType::U16, direct);

    // byte order and memory order reach the raw backend: u16_be_f_2d is
    // (13, 11), big-endian, F order, offset 352
    let path = data("raw/u16_be_f_2d.raw");
    let volume = OpenOptions::new()
        .raw(&[13, 11], DType::U16)
        .byte_order(ByteOrder::Big)
        .order(MemoryOrder::F)
        .offset(352)
        .mmap(false)
        .open(&path)
        .unwrap();
    assert!(!volume.is_mapped());
    match &volume {
        AnyVolume::Raw(raw) => {
            assert_eq!(raw.byte_order(), ByteOrder::Big);
            assert_eq!(raw.order(), MemoryOrder::F);
            assert_eq!(raw.offset(), 352);
        }
        other => panic!("not raw: {other:?}"),
    }
    let direct = RawOptions::new(&[13, 11], DType::U16)
        .byte_order(ByteOrder::Big)
        .order(MemoryOrder::F)
        .offset(352)
        .mmap(false)
        .open(&path)
        .unwrap();
    check(volume, VolumeFormat::Raw, &[13, 11], DType::U16, direct);
}

#[test]
fn raw_options_win_over_the_name() {
    // a NIfTI file read as raw bytes: its 352-byte header, then the voxels
    let path = data("nifti/u16_3d.nii");
    let volume = OpenOptions::new()
        .raw(&[352], DType::U8)
        .open(&path)
        .unwrap();
    assert_eq!(volume.format(), VolumeFormat::Raw);
    assert_eq!(voxels(&volume)[[0]], 92.0); // sizeof_hdr 348 = 0x15c, little-endian
    assert_eq!(voxels(&volume)[[1]], 1.0);
}

#[test]
fn nifti_single_files() {
    let path = data("nifti/u16_3d.nii");
    let volume = impart::open(&path).unwrap();
    assert!(volume.is_mapped());
    let direct = impart::NiftiVolume::open(&path).unwrap();
    check(volume, VolumeFormat::Nifti, &[9, 4, 3], DType::U16, direct);

    let cache = tempfile::tempdir().unwrap();
    let path = data("nifti/gz_u16.nii.gz");
    let volume = OpenOptions::new()
        .cache_dir(cache.path())
        .open(&path)
        .unwrap();
    match &volume {
        AnyVolume::Nifti(n) => {
            let copy = n
                .cache_path()
                .expect("a gzipped file is read from a cache copy");
            assert!(copy.starts_with(cache.path()), "{}", copy.display());
        }
        other => panic!("not NIfTI: {other:?}"),
    }
    assert!(volume.is_mapped());
    let direct = NiftiOptions::new()
        .cache_dir(cache.path())
        .open(&path)
        .unwrap();
    check(volume, VolumeFormat::Nifti, &[7, 6, 5], DType::U16, direct);

    // read with positioned reads
    let volume = OpenOptions::new()
        .mmap(false)
        .open(data("nifti/u16_3d.nii"))
        .unwrap();
    assert_eq!(volume.format(), VolumeFormat::Nifti);
    assert!(!volume.is_mapped());
}

#[test]
fn nifti_pairs_by_either_name() {
    for name in ["nifti/pair_i16.hdr", "nifti/pair_i16.img"] {
        let path = data(name);
        assert_eq!(VolumeFormat::detect(&path).ok(), Some(VolumeFormat::Nifti));
        let volume = impart::open(&path).unwrap();
        assert_eq!(volume.scaling(), Some((0.5, 1.0)), "{name}");
        let direct = impart::NiftiVolume::open(&path).unwrap();
        check(volume, VolumeFormat::Nifti, &[6, 5, 3], DType::I16, direct);
    }
    let cache = tempfile::tempdir().unwrap();
    for name in ["nifti/pair_gz.hdr.gz", "nifti/pair_gz.img.gz"] {
        let path = data(name);
        let volume = OpenOptions::new()
            .cache_dir(cache.path())
            .open(&path)
            .unwrap();
        let direct = NiftiOptions::new()
            .cache_dir(cache.path())
            .open(&path)
            .unwrap();
        check(volume, VolumeFormat::Nifti, &[5, 4, 3], DType::U16, direct);
    }
}

#[test]
fn zarr_arrays_v2_and_v3() {
    for (name, shape, dtype) in [
        ("zarr/v2_u8_blosc_c_dot", &[13, 11][..], DType::U8),
        ("zarr/v3_f64_gzip_3d", &[9, 10, 7][..], DType::F64),
    ] {
        let path = data(name);
        assert_eq!(VolumeFormat::detect(&path).ok(), Some(VolumeFormat::Zarr));
        let volume = OpenOptions::new()
            .chunk_cache_bytes(1 << 20)
            .open(&path)
            .unwrap();
        assert!(!volume.is_mapped());
        let direct = ZarrVolume::open(&path).unwrap();
        check(volume, VolumeFormat::Zarr, shape, dtype, direct);
    }
}

#[test]
fn zarr_arrays_in_groups() {
    for (group, array, shape, dtype) in [
        ("zarr/v2_group", "inner/arr", &[13, 11][..], DType::I16),
        ("zarr/v3_group", "a/b/arr", &[13, 11][..], DType::U16),
        ("zarr/v3_group", "top", &[9, 10, 7][..], DType::F32),
    ] {
        let store = data(group);
        let options = OpenOptions::new().zarr_array(array);
        assert_eq!(options.format(&store).ok(), Some(VolumeFormat::Zarr));
        let volume = options.open(&store).unwrap();
        let direct = ZarrVolume::open_in(&store, array).unwrap();
        check(volume, VolumeFormat::Zarr, shape, dtype, direct);
    }
}

#[test]
fn a_group_without_an_array_path_says_to_name_one() {
    for (group, arrays) in [
        ("zarr/v2_group", &["inner/arr"][..]),
        ("zarr/v3_group", &["a/b/arr", "top"][..]),
    ] {
        let store = data(group);
        assert_eq!(VolumeFormat::detect(&store).ok(), Some(VolumeFormat::Zarr));
        let err = impart::open(&store).unwrap_err();
        let text = err.to_string();
        match err {
            Error::ZarrGroup {
                path,
                arrays: found,
            } => {
                assert_eq!(path, store);
                assert_eq!(found, arrays);
            }
            other => panic!("{group}: {other:?}"),
        }
        assert!(
            text.contains(group) && text.contains("group") && text.contains("name the array"),
            "{text}"
        );
        for a in arrays {
            assert!(text.contains(a), "{text}");
        }
    }
    // a wrong array path is the backend's error, not the group's
    let err = OpenOptions::new()
        .zarr_array("no/such/array")
        .open(data("zarr/v3_group"))
        .unwrap_err();
    assert!(!matches!(err, Error::ZarrGroup { .. }), "{err:?}");
}

#[test]
fn images_png() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("pic.PNG");
    image::RgbImage::from_fn(13, 7, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]))
        .save_with_format(&png, image::ImageFormat::Png)
        .unwrap();
    let volume = impart::open(&png).unwrap();
    assert!(!volume.is_mapped());
    let direct = impart::ImageVolume::open(&png).unwrap();
    check(volume, VolumeFormat::Image, &[7, 13, 3], DType::U8, direct);

    // through the decode cache: decoded once, mapped from then on
    let cache = dir.path().join("cache");
    let options = OpenOptions::new().cache_dir(&cache);
    let first = options.open(&png).unwrap();
    let again = options.open(&png).unwrap();
    assert!(again.is_mapped());
    assert_eq!(voxels(&first), voxels(&again));
}

#[test]
fn unknown_names_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["volume.dat", "scan.nii.bz2", "notes.txt", "no_suffix"] {
        let path = dir.path().join(name);
        std::fs::write(&path, [0u8; 64]).unwrap();
        for err in [
            VolumeFormat::detect(&path).unwrap_err(),
            impart::open(&path).unwrap_err(),
        ] {
            let text = err.to_string();
            match err {
                Error::UnknownFormat { path: p } => assert_eq!(p, path),
                other => panic!("{name}: {other:?}"),
            }
            assert!(text.contains(name) && text.contains("not a recognised format"));
        }
    }
    // a directory without Zarr metadata is no Zarr array
    assert!(matches!(
        impart::open(dir.path()),
        Err(Error::UnknownFormat { .. })
    ));
    // a missing file with a known name is the backend's I/O error, naming it
    let missing = dir.path().join("missing.nii");
    match impart::open(&missing) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("missing.nii"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_volume_partitions_like_its_backend() {
    // the Volume impl forwards walks too: a parallel walk over a Zarr
    // array decodes each chunk once, as it does on the backend itself
    let path = data("zarr/v2_u8_blosc_c_dot");
    let volume = impart::open(&path).unwrap();
    let part = Partition::builder(volume).cell(&[4, 5]).build().unwrap();
    let sums = part
        .par_map_cells::<u8, _, _>("...", |_, view| view.iter().map(|&v| v as u64).sum::<u64>())
        .unwrap();
    let AnyVolume::Zarr(zarr) = part.volume() else {
        panic!("not zarr");
    };
    // 13 x 11 in 4 x 5 chunks: 4 x 3 chunks, each read by one cell
    assert_eq!(zarr.decoded_chunks(), 12);
    let total: u64 = sums.iter().sum();
    assert_eq!(total as f64, voxels(ZarrVolume::open(&path).unwrap()).sum());
}

/// The conformance suite (views or their refusal, every grid and edge
/// policy, casts, channel lists, walks) passes on an `AnyVolume` of each
/// backend. The reference is the backend's own read: the backends are held
/// to independent references in `tests/conformance.rs`; here the point is
/// that `AnyVolume` forwards every `Volume` method.
#[test]
fn conformance_through_any_volume() {
    // u16_le_c_4d: little-endian, C order, its shape and offset from the
    // manifest
    let manifest = load_manifest(
        &data("raw/cases.json"),
        1,
        "generate it with data-scripts/make_raw_fixtures.py",
    );
    let case = field(&manifest, "cases")
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == "u16_le_c_4d"))
        .expect("u16_le_c_4d in raw/cases.json");
    let raw = data("raw").join(str_of(case, "file"));
    let options = OpenOptions::new()
        .raw(&usizes(field(case, "shape")), DType::U16)
        .offset(field(case, "offset").as_u64().expect("an offset"));
    let reference = stored::<u16, _>(options.open(&raw).unwrap());
    let expect = Expect::views().channels();
    check_backend("open raw", options.open(&raw).unwrap(), &reference, expect);
    let expect = Expect::no_views(NotZeroCopyReason::NotAddressable).channels();
    let pread = options.clone().mmap(false).open(&raw).unwrap();
    check_backend("open raw, pread", pread, &reference, expect);

    let nii = data("nifti/u16_3d.nii");
    let reference = stored::<u16, _>(impart::NiftiVolume::open(&nii).unwrap());
    let volume = impart::open(&nii).unwrap();
    let expect = Expect::views().scaling(volume.scaling());
    check_backend("open NIfTI", volume, &reference, expect);

    let cache = tempfile::tempdir().unwrap();
    let gz = data("nifti/gz_i16_4d_scaled_be.nii.gz");
    let options = OpenOptions::new().cache_dir(cache.path());
    let reference = stored::<i16, _>(options.open(&gz).unwrap());
    let volume = options.open(&gz).unwrap();
    let expect = Expect::no_views(NotZeroCopyReason::ForeignByteOrder)
        .channels()
        .scaling(volume.scaling());
    assert!(volume.scaling().is_some());
    check_backend("open NIfTI gz, big-endian", volume, &reference, expect);

    let zarr = data("zarr/v3_f64_gzip_3d");
    let reference = stored::<f64, _>(ZarrVolume::open(&zarr).unwrap());
    let expect = Expect::no_views(NotZeroCopyReason::NotAddressable);
    check_backend(
        "open Zarr",
        impart::open(&zarr).unwrap(),
        &reference,
        expect,
    );

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("rgba.png");
    image::RgbaImage::from_fn(23, 17, |x, y| {
        image::Rgba([x as u8, y as u8, 7, (x + y) as u8])
    })
    .save(&png)
    .unwrap();
    let reference = stored::<u8, _>(impart::ImageVolume::open(&png).unwrap());
    let expect = Expect::views().channels();
    check_backend("open PNG", impart::open(&png).unwrap(), &reference, expect);
}
