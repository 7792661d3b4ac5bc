//! The conformance suite (`tests/common/conformance.rs`) on every backend:
//! one test per backend, each a line or two. A new backend adds one.
//!
//! The reference values never come from the code under test:
//!
//! - raw files: the committed NumPy fixtures (`tests/data/raw`, written by
//!   `data-scripts/make_raw_fixtures.py`), decoded here from their bytes
//!   with the shape, type, order, byte order and offset of `cases.json`,
//!   and checked against NumPy's digest of the whole volume there;
//! - NIfTI: the committed nibabel fixtures (`tests/data/nifti`), decoded here
//!   from their bytes (gunzipped with `flate2` for `.nii.gz`) at the
//!   `vox_offset` of `cases.json`, in F order, and checked against nibabel's
//!   checksum of every cell of the manifest's grid (the cells cover the
//!   volume);
//! - Zarr: the committed zarr-python fixtures (`tests/data/zarr`). Decoding
//!   chunks here would mean re-implementing the codecs, so the whole array
//!   is read once through the backend (`read_region` of the full region),
//!   compared with zarr-python's digest of the whole array in
//!   `expected.json` (an order-sensitive checksum of every value, plus sum,
//!   min, max, first and last) and with its digest of every cell there, and
//!   only then used as the reference for the suite's grids;
//! - images: arrays built here, saved with the `image` crate's encoder (a
//!   third-party writer), as `tests/images.rs` does.
//!
//! A new backend adds a test that opens it over voxels referenced that way
//! and calls `check_backend(name, volume, &reference, expect)`, where
//! `expect` says whether it gives zero-copy views (`Expect::views()`) or
//! refuses them and why (`Expect::no_views(reason)`), whether its last axis
//! is a channel axis (`.channels()`), and the intensity scaling its format
//! records (`.scaling(..)`).

mod common;

use std::path::{Path, PathBuf};

use common::conformance::{check_backend, decode, Expect, Voxel};
use common::{check_content, field, load_manifest, report, str_of, usizes, Ctx};
use impart::{
    ArrayVolume, ByteOrder, DType, MapAdvice, MemoryOrder, NotZeroCopyReason, RawOptions,
};
use ndarray::{ArrayD, IxDyn, ShapeBuilder, Slice};
use serde_json::Value;

fn data_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(sub)
}

/// The manifest entry named `name` in `cases`.
fn case<'m>(manifest: &'m Value, name: &str) -> &'m Value {
    field(manifest, "cases")
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no case {name:?} in the manifest"))
}

/// `data[start:start+shape]` as `f64`, in C order.
fn block_f64<T: Voxel>(data: &ArrayD<T>, start: &[usize], shape: &[usize]) -> ArrayD<f64> {
    data.slice_each_axis(|ad| {
        let a = ad.axis.index();
        Slice::from(start[a]..start[a] + shape[a])
    })
    .mapv(Voxel::as_f64)
}

// ---------------------------------------------------------------------------
// Raw files (NumPy)

struct RawFixture<T> {
    path: PathBuf,
    options: RawOptions,
    reference: ArrayD<T>,
    order: MemoryOrder,
}

impl<T: Voxel> RawFixture<T> {
    fn open(&self, mmap: bool) -> impart::RawVolume {
        self.options.clone().mmap(mmap).open(&self.path).unwrap()
    }
}

/// NumPy's type string (`"<u2"`) as a `DType`.
fn numpy_dtype(s: &str) -> DType {
    match &s[1..] {
        "u1" => DType::U8,
        "i1" => DType::I8,
        "u2" => DType::U16,
        "i2" => DType::I16,
        "u4" => DType::U32,
        "i4" => DType::I32,
        "u8" => DType::U64,
        "i8" => DType::I64,
        "f4" => DType::F32,
        "f8" => DType::F64,
        other => panic!("unknown NumPy type {other:?}"),
    }
}

fn raw_fixture<T: Voxel>(name: &str) -> RawFixture<T> {
    let dir = data_dir("raw");
    let manifest = load_manifest(
        &dir.join("cases.json"),
        1,
        "generate it with data-scripts/make_raw_fixtures.py",
    );
    let v = case(&manifest, name);
    assert_eq!(numpy_dtype(str_of(v, "dtype")), T::DTYPE, "{name}: dtype");
    let shape = usizes(field(v, "shape"));
    let fortran = str_of(v, "order") == "F";
    let big = str_of(v, "byte_order") == "big";
    let offset = field(v, "offset").as_u64().expect("offset");
    let path = dir.join(str_of(v, "file"));
    let bytes = std::fs::read(&path).unwrap();
    let reference = decode::<T>(&bytes[offset as usize..], &shape, fortran, big);
    // NumPy's digest of the whole volume (the selection "...")
    let full = field(v, "selections")
        .as_array()
        .expect("selections")
        .iter()
        .find(|s| str_of(s, "text") == "...")
        .expect("a selection of the whole volume");
    let mut failures = Vec::new();
    let ctx = Ctx::new("NumPy", name);
    let all = block_f64(&reference, &vec![0; shape.len()], &shape);
    check_content(&ctx, !T::DTYPE.is_float(), &all, full, &mut failures);
    report("decoding the raw fixture in the test", failures);
    let order = if fortran {
        MemoryOrder::F
    } else {
        MemoryOrder::C
    };
    let byte_order = if big {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    RawFixture {
        options: RawOptions::new(&shape, T::DTYPE)
            .order(order)
            .byte_order(byte_order)
            .offset(offset),
        path,
        reference,
        order,
    }
}

#[test]
fn raw_mapped() {
    let f = raw_fixture::<u16>("u16_le_c_4d");
    check_backend(
        "raw mapped",
        f.open(true),
        &f.reference,
        Expect::views().channels(),
    );
}

#[test]
fn raw_mapped_read_ahead_and_release() {
    // walks advise the kernel to read ahead and to drop the pages behind them
    let f = raw_fixture::<u16>("u16_le_c_4d");
    let vol = f
        .options
        .clone()
        .advice(MapAdvice::AheadRelease)
        .open(&f.path)
        .unwrap();
    check_backend(
        "raw mapped, AheadRelease",
        vol,
        &f.reference,
        Expect::views().channels(),
    );
}

#[test]
fn raw_pread() {
    let f = raw_fixture::<u16>("u16_le_c_4d");
    let expect = Expect::no_views(NotZeroCopyReason::NotAddressable).channels();
    check_backend("raw pread", f.open(false), &f.reference, expect);
}

#[test]
fn raw_mapped_big_endian_f_order() {
    let f = raw_fixture::<f32>("f32_be_f_4d");
    assert_eq!(f.order, MemoryOrder::F);
    let expect = Expect::no_views(NotZeroCopyReason::ForeignByteOrder).channels();
    check_backend("raw mapped big-endian", f.open(true), &f.reference, expect);
}

#[test]
fn raw_mapped_misaligned() {
    let f = raw_fixture::<f64>("f64_le_f_off7");
    let expect = Expect::no_views(NotZeroCopyReason::Misaligned { align: 8 });
    check_backend("raw mapped at offset 7", f.open(true), &f.reference, expect);
}

#[test]
fn raw_mapped_bytes_at_odd_offset() {
    // one-byte elements have no byte order or alignment: views
    let f = raw_fixture::<u8>("u8_be_f_4d");
    check_backend(
        "raw mapped u8",
        f.open(true),
        &f.reference,
        Expect::views().channels(),
    );
}

// ---------------------------------------------------------------------------
// In-memory arrays

#[test]
fn array_volume() {
    let f = raw_fixture::<u16>("u16_le_c_4d");
    let vol = ArrayVolume::new(f.reference.view()).unwrap();
    check_backend("ArrayVolume", vol, &f.reference, Expect::views().channels());
}

#[test]
fn array_volume_f_order() {
    let f = raw_fixture::<i32>("i32_le_f_3d");
    let values: Vec<i32> = f.reference.t().iter().copied().collect();
    let fortran = ArrayD::from_shape_vec(IxDyn(f.reference.shape()).f(), values).unwrap();
    let vol = ArrayVolume::new(fortran).unwrap();
    check_backend("ArrayVolume F order", vol, &f.reference, Expect::views());
}

// ---------------------------------------------------------------------------
// NIfTI (nibabel)

#[cfg(feature = "nifti")]
mod nifti {
    use super::*;
    use common::checksum;
    use impart::{NiftiOptions, NiftiVolume};

    pub struct NiftiFixture<T> {
        pub path: PathBuf,
        pub reference: ArrayD<T>,
        pub scaling: Option<(f64, f64)>,
    }

    /// A single-file fixture's voxels, decoded here.
    pub fn fixture<T: Voxel>(name: &str) -> NiftiFixture<T> {
        let dir = data_dir("nifti");
        let manifest = load_manifest(
            &dir.join("cases.json"),
            1,
            "generate it with data-scripts/make_nifti_fixtures.py",
        );
        let v = case(&manifest, name);
        assert_eq!(str_of(v, "kind"), "valid", "{name}");
        let dtype: DType = str_of(v, "dtype").parse().unwrap();
        assert_eq!(dtype, T::DTYPE, "{name}: dtype");
        let shape = usizes(field(v, "shape"));
        let path = dir.join(str_of(v, "file"));
        let mut bytes = std::fs::read(&path).unwrap();
        if field(v, "compressed").as_bool() == Some(true) {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes.as_slice())
                .read_to_end(&mut out)
                .unwrap();
            bytes = out;
        }
        let offset = field(v, "vox_offset").as_u64().expect("vox_offset") as usize;
        let big = str_of(v, "byte_order") == "big";
        let reference = decode::<T>(&bytes[offset..], &shape, true, big);
        // nibabel's checksum of every cell of its grid, which covers the volume
        let mut covered = ArrayD::from_elem(IxDyn(&shape), false);
        let mut failures = Vec::new();
        for cell in field(v, "cells").as_array().expect("cells") {
            let (start, ext) = (usizes(field(cell, "start")), usizes(field(cell, "shape")));
            let want = str_of(field(cell, "stored"), "checksum");
            let got = format!(
                "{:016x}",
                checksum(block_f64(&reference, &start, &ext).iter())
            );
            if got != want {
                failures.push(format!(
                    "cell at {start:?}: checksum {got}, nibabel's {want}"
                ));
            }
            covered
                .slice_each_axis_mut(|ad| {
                    let a = ad.axis.index();
                    Slice::from(start[a]..start[a] + ext[a])
                })
                .fill(true);
        }
        assert!(covered.iter().all(|&c| c), "{name}: the cells miss voxels");
        report("decoding the NIfTI fixture in the test", failures);
        let scaling = field(v, "scaling").as_array().map(|s| {
            (
                s[0].as_f64().expect("slope"),
                s[1].as_f64().expect("intercept"),
            )
        });
        NiftiFixture {
            path,
            reference,
            scaling,
        }
    }

    #[test]
    fn nifti_nii() {
        let f = fixture::<f32>("f32_4d");
        let expect = Expect::views().channels().scaling(f.scaling);
        check_backend(
            "NIfTI .nii",
            NiftiVolume::open(&f.path).unwrap(),
            &f.reference,
            expect,
        );
    }

    #[test]
    fn nifti_nii_pread() {
        let f = fixture::<f32>("f32_4d");
        let vol = NiftiOptions::new().mmap(false).open(&f.path).unwrap();
        let expect = Expect::no_views(NotZeroCopyReason::NotAddressable).channels();
        check_backend(
            "NIfTI .nii pread",
            vol,
            &f.reference,
            expect.scaling(f.scaling),
        );
    }

    #[test]
    fn nifti_nii_gz_cached() {
        let f = fixture::<u16>("gz_u16");
        let cache = tempfile::tempdir().unwrap();
        let vol = NiftiOptions::new()
            .cache_dir(cache.path())
            .open(&f.path)
            .unwrap();
        assert!(vol.is_cached());
        check_backend(
            "NIfTI .nii.gz",
            vol,
            &f.reference,
            Expect::views().scaling(f.scaling),
        );
    }

    #[test]
    fn nifti_nii_gz_big_endian_scaled() {
        let f = fixture::<i16>("gz_i16_4d_scaled_be");
        let cache = tempfile::tempdir().unwrap();
        let vol = NiftiOptions::new()
            .cache_dir(cache.path())
            .open(&f.path)
            .unwrap();
        let expect = Expect::no_views(NotZeroCopyReason::ForeignByteOrder).channels();
        check_backend(
            "NIfTI .nii.gz big-endian",
            vol,
            &f.reference,
            expect.scaling(f.scaling),
        );
    }
}

// ---------------------------------------------------------------------------
// Zarr (zarr-python)

#[cfg(feature = "zarr")]
mod zarr {
    use super::*;
    use impart::{Region, Volume, ZarrOptions, ZarrVolume};

    /// The array, and its voxels read once through it and checked against
    /// zarr-python's digests (see the module docs).
    pub fn fixture<T: Voxel>(name: &str) -> (ZarrVolume, ArrayD<T>) {
        fixture_with(name, &ZarrOptions::new())
    }

    /// [`fixture`], opened with `options`.
    pub fn fixture_with<T: Voxel>(name: &str, options: &ZarrOptions) -> (ZarrVolume, ArrayD<T>) {
        let dir = data_dir("zarr");
        let manifest = load_manifest(
            &dir.join("expected.json"),
            1,
            "generate it with data-scripts/make_zarr_fixtures.py",
        );
        let v = case(&manifest, name);
        let dtype: DType = str_of(v, "dtype").parse().unwrap();
        assert_eq!(dtype, T::DTYPE, "{name}: dtype");
        let vol = match v.get("store").and_then(Value::as_str) {
            Some(store) => options.open_in(dir.join(store), str_of(v, "array_path")),
            None => options.open(dir.join(str_of(v, "path"))),
        }
        .unwrap();
        let shape = usizes(field(v, "shape"));
        assert_eq!(vol.shape(), shape.as_slice(), "{name}: shape");
        let mut values = vec![T::default(); shape.iter().product()];
        vol.read_region(&Region::full(&shape), bytemuck::cast_slice_mut(&mut values))
            .unwrap();
        let reference = ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap();
        let exact = !T::DTYPE.is_float();
        let mut failures = Vec::new();
        let mut ctx = Ctx::new("zarr-python", name);
        ctx.item = "whole array".into();
        let all = block_f64(&reference, &vec![0; shape.len()], &shape);
        check_content(&ctx, exact, &all, field(v, "full"), &mut failures);
        for cell in field(v, "cells").as_array().expect("cells") {
            let (start, ext) = (usizes(field(cell, "start")), usizes(field(cell, "shape")));
            ctx.item = format!("cell at {start:?}");
            let block = block_f64(&reference, &start, &ext);
            check_content(&ctx, exact, &block, cell, &mut failures);
        }
        report("reading the Zarr reference", failures);
        (vol, reference)
    }

    fn no_views() -> Expect {
        Expect::no_views(NotZeroCopyReason::NotAddressable)
    }

    #[test]
    fn zarr_v2() {
        // F order, gzip, a trailing channel axis
        let (vol, reference) = fixture::<u8>("v2_u8_4d_channels_f");
        check_backend("Zarr v2", vol, &reference, no_views().channels());
    }

    #[test]
    fn zarr_v3() {
        // transpose, big-endian bytes, gzip, crc32c; partial edge chunks
        let (vol, reference) = fixture::<i32>("v3_i32_transpose_be_crc32c_3d");
        check_backend("Zarr v3", vol, &reference, no_views());
    }

    #[test]
    fn zarr_v3_channels() {
        let (vol, reference) = fixture::<u8>("v3_u8_4d_channels");
        check_backend("Zarr v3 channels", vol, &reference, no_views().channels());
    }

    #[test]
    fn zarr_v3_sharded() {
        let (vol, reference) = fixture::<f32>("v3_f32_sharded_3d");
        assert!(vol.is_sharded());
        check_backend("Zarr v3 sharded", vol, &reference, no_views());
    }

    #[test]
    fn zarr_v3_sharded_no_chunk_cache() {
        // walks hold no decoded chunk beyond the budget of 1 byte
        let options = ZarrOptions::new().cache_bytes(1);
        let (vol, reference) = fixture_with::<f32>("v3_f32_sharded_3d", &options);
        check_backend("Zarr v3 sharded, 1-byte cache", vol, &reference, no_views());
    }

    #[test]
    fn zarr_v3_sharded_missing_chunks() {
        let (vol, reference) = fixture::<f32>("v3_f32_sharded_missing_fill");
        check_backend(
            "Zarr v3 sharded, missing chunks",
            vol,
            &reference,
            no_views(),
        );
    }
}

// ---------------------------------------------------------------------------
// Images (arrays built here, encoded by the `image` crate)

#[cfg(feature = "image")]
mod images {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};
    use impart::ImageVolume;

    /// `(height, width, channels)` values from a multiplicative hash.
    fn pixels<T: Voxel>(h: usize, w: usize, c: usize, max: u64) -> ArrayD<T> {
        ArrayD::from_shape_fn(IxDyn(&[h, w, c]), |i| {
            let k = ((i[0] * w + i[1]) * c + i[2]) as u64;
            T::from_f64_as(((k.wrapping_mul(2_654_435_761) >> 7) % (max + 1)) as f64)
        })
    }

    /// Saves `pixels` with the `image` crate, in the format `name`'s
    /// extension names.
    fn save<P, T>(dir: &Path, name: &str, pixels: &ArrayD<T>) -> PathBuf
    where
        T: Voxel + image::Primitive,
        P: image::Pixel<Subpixel = T> + image::PixelWithColorType,
        [T]: image::EncodableLayout,
    {
        let (h, w) = (pixels.shape()[0] as u32, pixels.shape()[1] as u32);
        let raw: Vec<T> = pixels.iter().copied().collect();
        let img: ImageBuffer<P, Vec<T>> = ImageBuffer::from_raw(w, h, raw).unwrap();
        let path = dir.join(name);
        img.save(&path).unwrap();
        path
    }

    #[test]
    fn image_png() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u8>(17, 21, 3, 255);
        let path = save::<Rgb<u8>, u8>(dir.path(), "rgb.png", &reference);
        let vol = ImageVolume::open(&path).unwrap();
        check_backend("PNG decoded", vol, &reference, Expect::views().channels());
    }

    #[test]
    fn image_png_cached() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u8>(17, 21, 3, 255);
        let path = save::<Rgb<u8>, u8>(dir.path(), "rgb.png", &reference);
        let vol = ImageVolume::open_cached(&path, dir.path()).unwrap();
        assert!(vol.is_cached());
        check_backend(
            "PNG decode cache",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    #[test]
    fn image_png_16bit_rgba() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u16>(13, 15, 4, 65535);
        let path = save::<Rgba<u16>, u16>(dir.path(), "rgba16.png", &reference);
        let vol = ImageVolume::open(&path).unwrap();
        check_backend(
            "PNG 16-bit RGBA",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    #[test]
    fn image_tiff_16bit() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u16>(14, 11, 3, 65535);
        let path = save::<Rgb<u16>, u16>(dir.path(), "rgb16.tiff", &reference);
        let vol = ImageVolume::open(&path).unwrap();
        check_backend(
            "TIFF 16-bit RGB",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    /// The same file through the TIFF backend: strips decoded on demand.
    #[cfg(feature = "tiff")]
    #[test]
    fn tiff_16bit_chunked() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u16>(14, 11, 3, 65535);
        // deflate in strips of 4 rows: decoded strip by strip
        let path = dir.path().join("rgb16_deflate.tiff");
        let raw: Vec<u16> = reference.iter().copied().collect();
        let file = std::fs::File::create(&path).unwrap();
        let mut encoder = tiff::encoder::TiffEncoder::new(file)
            .unwrap()
            .with_compression(tiff::encoder::Compression::Deflate(
                tiff::encoder::DeflateLevel::Balanced,
            ));
        let mut image = encoder
            .new_image::<tiff::encoder::colortype::RGB16>(11, 14)
            .unwrap();
        image.rows_per_strip(4).unwrap();
        image.write_data(&raw).unwrap();
        let vol = impart::TiffVolume::open(&path).unwrap();
        assert!(!vol.is_raw());
        check_backend(
            "TIFF 16-bit RGB deflate, tiff backend",
            vol,
            &reference,
            Expect::no_views(NotZeroCopyReason::NotAddressable).channels(),
        );
    }

    /// Larger than the in-memory limit: decoded row by row into a
    /// temporary cache file and mapped (16-bit samples turned native).
    #[test]
    fn image_png_16bit_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u16>(13, 15, 4, 65535);
        let path = save::<Rgba<u16>, u16>(dir.path(), "rgba16.png", &reference);
        let vol = impart::ImageOptions::new()
            .in_memory_max(0)
            .temp_dir(dir.path())
            .open(&path)
            .unwrap();
        assert!(matches!(
            vol.storage(),
            impart::ImageStorage::Temporary { .. }
        ));
        check_backend(
            "PNG 16-bit RGBA, temporary cache file",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    /// A JPEG decoded straight into a mapped temporary cache file; the
    /// reference is what the `image` crate decodes (JPEG is lossy).
    #[test]
    fn image_jpeg_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let source = pixels::<u8>(19, 23, 3, 255);
        let path = save::<Rgb<u8>, u8>(dir.path(), "rgb.jpg", &source);
        let decoded = image::open(&path).unwrap().into_rgb8();
        let reference = ArrayD::from_shape_vec(IxDyn(&[19, 23, 3]), decoded.into_raw()).unwrap();
        let vol = impart::ImageOptions::new()
            .in_memory_max(0)
            .temp_dir(dir.path())
            .open(&path)
            .unwrap();
        assert!(vol.is_cached());
        check_backend(
            "JPEG, temporary cache file",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    #[test]
    fn tiff_uncompressed_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u16>(14, 11, 3, 65535);
        let path = save::<Rgb<u16>, u16>(dir.path(), "rgb16.tiff", &reference);
        let vol = impart::TiffVolume::open(&path).unwrap();
        assert!(vol.is_mapped());
        check_backend(
            "TIFF 16-bit RGB uncompressed, mapped through the raw path",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }

    #[test]
    fn image_png_gray_cached() {
        let dir = tempfile::tempdir().unwrap();
        let reference = pixels::<u8>(11, 9, 1, 255);
        let path = save::<Luma<u8>, u8>(dir.path(), "gray.png", &reference);
        let vol = ImageVolume::open_cached(&path, dir.path()).unwrap();
        check_backend(
            "PNG gray decode cache",
            vol,
            &reference,
            Expect::views().channels(),
        );
    }
}
