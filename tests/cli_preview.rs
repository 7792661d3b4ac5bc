//! `impart preview`: the picture's size, window, cell borders, selection
//! outline and label overlay, pixel by pixel, and its errors.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::RgbImage;
use impart::output::{NiftiOutputOptions, OutputVolume};
use impart::{DType, Region};

const GRID: [u8; 3] = [255, 255, 0];
const SELECT: [u8; 3] = [0, 255, 255];
/// Label 1's colour (and 13's: labels are coloured mod 12).
const LABEL_1: [u8; 3] = [60, 180, 75];

fn impart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .output()
        .expect("run impart")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The test volume's shape: z, y, x.
const SHAPE: [usize; 3] = [6, 20, 30];

/// Voxel `(z, y, x)` of the test volume.
fn value(z: usize, y: usize, x: usize) -> u16 {
    (100 * y + 3 * x + z) as u16
}

/// A `SHAPE` u16 raw volume, C order, of [`value`].
fn volume(dir: &Path) -> PathBuf {
    let path = dir.join("vol.raw");
    let mut bytes = Vec::new();
    for z in 0..SHAPE[0] {
        for y in 0..SHAPE[1] {
            for x in 0..SHAPE[2] {
                bytes.extend_from_slice(&value(z, y, x).to_le_bytes());
            }
        }
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `preview PATH --shape 6,20,30 --dtype u16 --cell 3,10,10 --out OUT`
/// and `rest`.
fn preview<'a>(path: &'a str, out: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "preview", path, "--shape", "6,20,30", "--dtype", "u16", "--cell", "3,10,10", "--out", out,
    ];
    v.extend_from_slice(rest);
    v
}

/// NumPy's default percentile (linear between the nearest ranks).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < sorted.len() {
        sorted[i] + (sorted[i + 1] - sorted[i]) * frac
    } else {
        sorted[i]
    }
}

/// The grey of voxel `(z, y, x)` windowed over the slice `z`.
fn grey(z: usize, y: usize, x: usize) -> u8 {
    let mut slice: Vec<f64> = (0..SHAPE[1])
        .flat_map(|y| (0..SHAPE[2]).map(move |x| value(z, y, x) as f64))
        .collect();
    slice.sort_by(f64::total_cmp);
    let (lo, hi) = (percentile(&slice, 1.0), percentile(&slice, 99.0));
    ((value(z, y, x) as f64 - lo) / (hi - lo) * 255.0)
        .round()
        .clamp(0.0, 255.0) as u8
}

fn blend(base: [u8; 3], colour: [u8; 3], alpha: f64) -> [u8; 3] {
    std::array::from_fn(|k| {
        (base[k] as f64 * (1.0 - alpha) + colour[k] as f64 * alpha).round() as u8
    })
}

fn px(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

#[test]
fn slice_window_borders_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path());
    let out = dir.path().join("p.png");
    let (vol, out_s) = (vol.to_str().unwrap(), out.to_str().unwrap());
    // the slice z = 4 is 20 rows (y) x 30 columns (x); 512 / 30 rounds up
    // to 18 pixels per voxel; cell 1,0,2 is z 3..6, y 0..10, x 20..30
    let line = ok(&impart(&preview(
        vol,
        out_s,
        &["--axis", "0", "--slice", "4", "--select", "1,0,2"],
    )));
    assert!(
        line.starts_with(&format!("wrote {out_s}: 540 x 360 px")),
        "{line}"
    );
    assert!(line.contains("slice axis 0 index 4 of 6"), "{line}");
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (540, 360));
    let g = |y, x| {
        let v = grey(4, y, x);
        [v, v, v]
    };
    // inside a cell, away from every line: voxel (13, 13)
    assert_eq!(px(&img, 13 * 18 + 5, 13 * 18 + 5), g(13, 13));
    // the border at y = 10 (pixel row 180), under voxel (10, 5)
    assert_eq!(px(&img, 5 * 18 + 3, 180), blend(g(10, 5), GRID, 0.5));
    // the border at x = 10 (pixel column 180), under voxel (15, 10)
    assert_eq!(px(&img, 180, 15 * 18 + 3), blend(g(15, 10), GRID, 0.5));
    // the volume's end: the last row and column
    assert_eq!(px(&img, 5 * 18 + 3, 359), blend(g(19, 5), GRID, 0.5));
    // the selected cell's outline, 2 px inside it, over the border lines
    // too; the pixels just inside the outline are not part of it
    for (x, y) in [
        (361, 90),
        (360, 90),
        (450, 0),
        (450, 1),
        (538, 90),
        (450, 178),
        (450, 179),
    ] {
        assert_eq!(px(&img, x, y), SELECT, "({x}, {y})");
    }
    assert_eq!(px(&img, 362, 90), g(5, 20));
    assert_eq!(px(&img, 450, 177), g(9, 25));
}

#[test]
fn defaults_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path());
    let out = dir.path().join("p.png");
    let (vol, out_s) = (vol.to_str().unwrap(), out.to_str().unwrap());
    // default: across the last partitioned axis (x) at its middle, 15;
    // rows z (6), columns y (20)
    let line = ok(&impart(&preview(vol, out_s, &["--scale", "2"])));
    assert!(line.contains("40 x 12 px"), "{line}");
    assert!(line.contains("slice axis 2 index 15 of 30"), "{line}");
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (40, 12));
    // a selection that does not hold the slice outlines nothing
    let o = impart(&preview(vol, out_s, &["--select", "0,0,0"]));
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("none outlined"));
    let img = image::open(&out).unwrap().to_rgb8();
    assert!(img.pixels().all(|p| p.0 != SELECT));
}

/// A u8 label map of `shape` written as NIfTI: label 1 where y < 5, 13
/// where y >= 15 and x < 10, 0 elsewhere.
fn labels(path: &Path, shape: &[usize]) {
    let out = NiftiOutputOptions::new(shape, DType::U8)
        .create(path)
        .unwrap();
    let mut bytes = Vec::new();
    for _z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                bytes.push(match (y, x) {
                    (0..5, _) => 1u8,
                    (15.., 0..10) => 13,
                    _ => 0,
                });
            }
        }
    }
    out.write_region(&Region::full(shape), &bytes).unwrap();
    out.finish().unwrap();
}

#[test]
fn overlay_blends_labels_in_their_colour() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path());
    let lab = dir.path().join("labels.nii");
    labels(&lab, &SHAPE);
    let out = dir.path().join("p.png");
    let (vol, out_s, lab_s) = (
        vol.to_str().unwrap(),
        out.to_str().unwrap(),
        lab.to_str().unwrap(),
    );
    ok(&impart(&preview(
        vol,
        out_s,
        &["--axis", "0", "--slice", "1", "--overlay", lab_s],
    )));
    let img = image::open(&out).unwrap().to_rgb8();
    let g = |y, x| {
        let v = grey(1, y, x);
        [v, v, v]
    };
    let at = |y: u32, x: u32| px(&img, x * 18 + 5, y * 18 + 5);
    assert_eq!(at(2, 22), blend(g(2, 22), LABEL_1, 0.45));
    assert_eq!(at(17, 3), blend(g(17, 3), LABEL_1, 0.45));
    assert_eq!(at(12, 3), g(12, 3));
    assert_eq!(at(17, 13), g(17, 13));

    // a label map of another shape names both
    labels(&lab, &[6, 20, 31]);
    let e = err(&impart(&preview(vol, out_s, &["--overlay", lab_s])));
    assert!(
        e.contains("[6, 20, 31]") && e.contains("[6, 20, 30]"),
        "{e}"
    );
}

#[test]
fn image_is_drawn_whole_as_rgb_with_a_png_overlay() {
    let dir = tempfile::tempdir().unwrap();
    // a 16 x 24 RGB u8 image, channel c of pixel (y, x) = 4 y + x + 80 c
    let rgb = dir.path().join("rgb.raw");
    let value = |y: usize, x: usize, c: usize| (4 * y + x + 80 * c) as f64;
    let mut bytes = Vec::new();
    for y in 0..16 {
        for x in 0..24 {
            bytes.extend((0..3).map(|c| value(y, x, c) as u8));
        }
    }
    std::fs::write(&rgb, bytes).unwrap();
    // labels as a grey PNG, (16, 24, 1): 2 on the left half
    let lab = dir.path().join("labels.png");
    image::GrayImage::from_fn(24, 16, |x, _| image::Luma([if x < 12 { 2 } else { 0 }]))
        .save(&lab)
        .unwrap();
    let out = dir.path().join("p.png");
    let (rgb_s, lab_s, out_s) = (
        rgb.to_str().unwrap(),
        lab.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let args = [
        "preview",
        rgb_s,
        "--shape",
        "16,24,3",
        "--dtype",
        "u8",
        "--cell",
        "8,8",
        "--out",
        out_s,
        "--overlay",
        lab_s,
    ];
    ok(&impart(&args));
    let img = image::open(&out).unwrap().to_rgb8();
    // 512 / 24 rounds up to 22
    assert_eq!(img.dimensions(), (24 * 22, 16 * 22));
    let mut all: Vec<f64> = (0..16)
        .flat_map(|y| (0..24).flat_map(move |x| (0..3).map(move |c| value(y, x, c))))
        .collect();
    all.sort_by(f64::total_cmp);
    let (lo, hi) = (percentile(&all, 1.0), percentile(&all, 99.0));
    let w = |v: f64| ((v - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8;
    let rgb_at = |y, x| std::array::from_fn(|c| w(value(y, x, c)));
    let at = |y: u32, x: u32| px(&img, x * 22 + 5, y * 22 + 5);
    assert_eq!(at(3, 17), rgb_at(3, 17));
    assert_eq!(at(3, 5), blend(rgb_at(3, 5), [0, 130, 200], 0.45));

    // an image has no slice to choose
    let mut with_slice = args.to_vec();
    with_slice.extend(["--slice", "2"]);
    assert!(err(&impart(&with_slice)).contains("invalid --slice"));
}

#[test]
fn bad_arguments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path());
    let out = dir.path().join("p.png");
    let (vol, out_s) = (vol.to_str().unwrap(), out.to_str().unwrap());
    let e = err(&impart(&preview(
        vol,
        out_s,
        &["--axis", "0", "--slice", "6"],
    )));
    assert!(
        e.contains("invalid --slice: index 6 is past the end of axis 0 (extent 6)"),
        "{e}"
    );
    let e = err(&impart(&preview(vol, out_s, &["--axis", "3"])));
    assert!(
        e.contains("invalid --axis: axis 3 is not partitioned"),
        "{e}"
    );
    let e = err(&impart(&preview(vol, out_s, &["--scale", "0"])));
    assert!(e.contains("invalid --scale"), "{e}");
    // a raw label map is not self-describing
    let e = err(&impart(&preview(vol, out_s, &["--overlay", vol])));
    assert!(e.contains("invalid --overlay"), "{e}");
    assert!(!out.exists(), "nothing written on an error");
}
