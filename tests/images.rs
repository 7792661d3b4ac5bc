//! 2D images: every color type and bit depth the issue names, decoded to
//! (height, width, channels) and partitioned with the N-D code; the
//! original README's quickstart on a 1920x1080 RGB image.
#![cfg(feature = "image")]

use impart::original::ImagePartition;
use impart::{DType, Error, ImageVolume, Volume};
use ndarray::{s, Array3};

fn pattern(h: usize, w: usize, c: usize, max: u32) -> Vec<u32> {
    (0..h * w * c)
        .map(|i| ((i as u32).wrapping_mul(2654435761) >> 7) % (max + 1))
        .collect()
}

#[test]
fn every_color_type_and_depth_round_trips() {
    use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (37, 53);
    macro_rules! case8 {
        ($px:ty, $c:expr, $ext:expr) => {{
            let raw: Vec<u8> = pattern(h, w, $c, 255)
                .into_iter()
                .map(|v| v as u8)
                .collect();
            let img: ImageBuffer<$px, Vec<u8>> =
                ImageBuffer::from_raw(w as u32, h as u32, raw.clone()).unwrap();
            let path = dir.path().join(format!("c{}.{}", $c, $ext));
            // the image crate cannot encode every combination (gray+alpha TIFF)
            img.save(&path).ok().map(|_| (path, raw, $c))
        }};
    }
    macro_rules! case16 {
        ($px:ty, $c:expr, $ext:expr) => {{
            let raw: Vec<u16> = pattern(h, w, $c, 65535)
                .into_iter()
                .map(|v| v as u16)
                .collect();
            let img: ImageBuffer<$px, Vec<u16>> =
                ImageBuffer::from_raw(w as u32, h as u32, raw.clone()).unwrap();
            let path = dir.path().join(format!("c{}_16.{}", $c, $ext));
            img.save(&path).ok().map(|_| (path, raw, $c))
        }};
    }
    for ext in ["png", "tiff"] {
        let cases8 = [
            case8!(Luma<u8>, 1, ext),
            case8!(LumaA<u8>, 2, ext),
            case8!(Rgb<u8>, 3, ext),
            case8!(Rgba<u8>, 4, ext),
        ];
        assert!(cases8.iter().filter(|c| c.is_some()).count() >= 3);
        for (path, raw, c) in cases8.into_iter().flatten() {
            let vol = ImageVolume::open(&path).unwrap();
            assert_eq!(vol.shape(), &[h, w, c], "{path:?}");
            assert_eq!(vol.dtype(), DType::U8);
            let want = Array3::from_shape_vec((h, w, c), raw).unwrap();
            let part = impart::Partition::builder(&vol)
                .cell(&[16, 16])
                .stride(0.5)
                .build()
                .unwrap();
            for cell in part.cells("...").unwrap() {
                let r = cell.region();
                assert_eq!(
                    cell.view::<u8>().unwrap(),
                    want.slice(s![r.range(0), r.range(1), ..]).into_dyn()
                );
            }
        }
        let cases16 = [
            case16!(Luma<u16>, 1, ext),
            case16!(LumaA<u16>, 2, "png"),
            case16!(Rgb<u16>, 3, ext),
            case16!(Rgba<u16>, 4, ext),
        ];
        assert!(cases16.iter().filter(|c| c.is_some()).count() >= 3);
        for (path, raw, c) in cases16.into_iter().flatten() {
            let vol = ImageVolume::open(&path).unwrap();
            assert_eq!(vol.shape(), &[h, w, c], "{path:?}");
            assert_eq!(vol.dtype(), DType::U16);
            let want = Array3::from_shape_vec((h, w, c), raw).unwrap();
            let img = ImagePartition::from_volume(&vol, (10, 20), (0.5, 1.0), None).unwrap();
            let cell = img.select(s![1, -1]).unwrap();
            let r = cell.region();
            assert_eq!(
                cell.to_array::<u16>().unwrap(),
                want.slice(s![r.range(0), r.range(1), ..]).into_dyn()
            );
        }
    }
    // JPEG is lossy: check the decode's shape, type and that values are close
    let (path, _, _) = case8!(Rgb<u8>, 3, "jpg").unwrap();
    let vol = ImageVolume::open(&path).unwrap();
    assert_eq!((vol.shape(), vol.dtype()), (&[h, w, 3][..], DType::U8));
    let (path, _, _) = case8!(Luma<u8>, 1, "jpeg").unwrap();
    assert_eq!(ImageVolume::open(&path).unwrap().channels(), 1);
}

#[test]
fn the_original_quickstart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.png");
    let pixels = Array3::<u8>::from_shape_fn((1080, 1920, 3), |(y, x, c)| {
        ((y * 7 + x * 3 + c * 50) % 256) as u8
    });
    image::RgbImage::from_raw(
        1920,
        1080,
        pixels.as_standard_layout().as_slice().unwrap().to_vec(),
    )
    .unwrap()
    .save(&path)
    .unwrap();

    let img = ImagePartition::new(&path, (128, 128), 0.5, &[0, 1, 2]).unwrap();
    assert_eq!(img.shape(), (16, 29));
    assert_eq!(img.step_size(), (64.0, 64.0));
    assert_eq!(img.image_shape(), (1080, 1920));
    // img[:, 0] is 128 wide and 1080 high
    assert_eq!(img.subregion(s![.., 0]).unwrap(), (0, 0, 128, 1080));
    // img[:3, 15:21] is 448 wide and 256 high
    let (_, _, w, h) = img.subregion(s![..3, 15..21]).unwrap();
    assert_eq!((w, h), (448, 256));
    // cell (10, -1): left 1792, top 640, 128 x 128
    assert_eq!(img.subregion(s![10, -1]).unwrap(), (1792, 640, 128, 128));
    assert_eq!(img.subregion("10,-1").unwrap(), (1792, 640, 128, 128));
    // img[:10, -1].numpy()
    let a = img.select(s![..10, -1]).unwrap().to_array::<u8>().unwrap();
    assert_eq!(a, pixels.slice(s![0..704, 1792..1920, ..]).into_dyn());
    // channels=(2, 1, 0) is BGR, still a zero-copy view
    let bgr = ImagePartition::new(&path, (128, 128), 0.5, &[2, 1, 0]).unwrap();
    let v = bgr.select(s![0, 0]).unwrap().view::<u8>().unwrap();
    assert_eq!(v[[5, 6, 0]], pixels[[5, 6, 2]]);
    // a channel the image does not have
    assert!(matches!(
        ImagePartition::new(&path, (128, 128), 0.5, &[0, 1, 3]),
        Err(Error::InvalidPartition { .. })
    ));
}

#[test]
fn broken_images_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    std::fs::write(&p, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = ImageVolume::open(&p).unwrap_err();
    assert!(e.to_string().contains("x.png"), "{e}");
    assert!(ImageVolume::open(dir.path().join("missing.png")).is_err());
    // every truncated prefix of a valid PNG is an error or decodes, never a panic
    let good = dir.path().join("g.png");
    image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8, y as u8, 3]))
        .save(&good)
        .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    for n in 0..bytes.len() {
        std::fs::write(&p, &bytes[..n]).unwrap();
        let _ = ImageVolume::open(&p);
    }
}

/// The decode cache: the first open decodes and writes it, the second maps
/// it; both read exactly what decoding reads, for 8- and 16-bit images; a
/// damaged cache file is rewritten, and a changed source gets a new one.
#[test]
fn decode_cache_maps_what_decoding_reads() {
    use image::{ImageBuffer, Luma, Rgb};
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (h, w) = (45, 61);
    let rgb: Vec<u8> = pattern(h, w, 3, 255).into_iter().map(|v| v as u8).collect();
    let gray16: Vec<u16> = pattern(h, w, 1, 65535)
        .into_iter()
        .map(|v| v as u16)
        .collect();
    let p8 = dir.path().join("rgb.png");
    ImageBuffer::<Rgb<u8>, _>::from_raw(w as u32, h as u32, rgb.clone())
        .unwrap()
        .save(&p8)
        .unwrap();
    let p16 = dir.path().join("gray16.png");
    ImageBuffer::<Luma<u16>, _>::from_raw(w as u32, h as u32, gray16.clone())
        .unwrap()
        .save(&p16)
        .unwrap();

    let cells = |vol: &ImageVolume| -> Vec<Vec<f64>> {
        let part = impart::Partition::builder(vol)
            .cell(&[16, 16])
            .stride(0.5)
            .build()
            .unwrap();
        part.cells("...")
            .unwrap()
            .map(|c| c.to_array_as::<f64>().unwrap().iter().copied().collect())
            .collect()
    };
    for (path, c) in [(&p8, 3), (&p16, 1)] {
        let decoded = ImageVolume::open(path).unwrap();
        assert!(!decoded.is_cached());
        let first = ImageVolume::open_cached(path, &cache).unwrap();
        let second = ImageVolume::open_cached(path, &cache).unwrap();
        assert!(first.is_cached() && second.is_cached());
        assert_eq!(second.shape(), &[h, w, c]);
        assert_eq!(second.dtype(), decoded.dtype());
        assert_eq!(second.name(), decoded.name());
        assert_eq!(cells(&second), cells(&decoded), "{path:?}");
        // zero-copy views work on the mapped cache
        let part = impart::Partition::builder(&second)
            .cell(&[16, 16])
            .build()
            .unwrap();
        if c == 3 {
            let view = part.cell(&[1, 2]).unwrap().view::<u8>().unwrap();
            assert_eq!(view[[0, 0, 1]], rgb[(16 * w + 32) * 3 + 1]);
        } else {
            let view = part.cell(&[1, 2]).unwrap().view::<u16>().unwrap();
            assert_eq!(view[[0, 0, 0]], gray16[16 * w + 32]);
        }
    }
    let files = || -> Vec<std::path::PathBuf> {
        let mut f: Vec<_> = std::fs::read_dir(cache.join("impart-cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    };
    assert_eq!(files().len(), 2, "{:?}", files());
    // a truncated cache file is not trusted: it is rewritten
    let victim = files()
        .into_iter()
        .find(|f| f.to_string_lossy().contains("rgb.png"))
        .unwrap();
    let len = std::fs::metadata(&victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let again = ImageVolume::open_cached(&p8, &cache).unwrap();
    assert_eq!(cells(&again), cells(&ImageVolume::open(&p8).unwrap()));
    assert_eq!(std::fs::metadata(&victim).unwrap().len(), len);
    // a changed source gets its own cache file
    let flipped: Vec<u8> = rgb.iter().map(|v| 255 - v).collect();
    ImageBuffer::<Rgb<u8>, _>::from_raw(w as u32, h as u32, flipped)
        .unwrap()
        .save(&p8)
        .unwrap();
    // the cache key holds size and mtime; a timestamp of its own, so the test
    // does not depend on the file system's clock granularity
    std::fs::File::options()
        .write(true)
        .open(&p8)
        .and_then(|f| {
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30))
        })
        .expect("set the mtime");
    let changed = ImageVolume::open_cached(&p8, &cache).unwrap();
    assert_eq!(cells(&changed), cells(&ImageVolume::open(&p8).unwrap()));
    assert_eq!(files().len(), 3);
}
