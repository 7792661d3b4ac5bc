//! Parity with the original Python `impart` 0.0.5 on large images: a 20000²
//! tiled pyramidal BigTIFF, a 16000² PNG and a 16000² JPEG, all written by
//! libvips.
//!
//! Runs only when `IMPART_LARGE_IMAGES_DIR` names a directory made by
//! `data-scripts/large_image_parity.sh` (otherwise `cargo test` lists these
//! tests as ignored, with that reason; `.ci/run` runs them with
//! `--include-ignored`):
//!
//! ```text
//! data-scripts/large_image_parity.sh target/large-images   # ~700 MB, a few minutes
//! IMPART_LARGE_IMAGES_DIR=target/large-images \
//!     cargo test --release --test large_image_parity -- --include-ignored --nocapture
//! ```
//!
//! The script asks the original itself, on the same files, for its grid
//! `shape`, `step_size`, `compute_image_subregion(y, x)` of sampled cells
//! (corners, middle, last row and column, seeded random ones) and of a few
//! multi-cell selections, and writes each sampled cell's `.numpy()` as raw
//! bytes (see its docstring). For four grids per image (512² at stride 1.0
//! and 0.5, 1000×700 at (0.7, 0.45), 333×257 at 0.37, whose steps are not
//! whole numbers) each test checks, through both [`impart::open`] with a
//! [`Partition`] and the original-compatible
//! [`ImagePartition`](impart::original::ImagePartition):
//!
//! - the grid shape equals the original's (less a last cell the original
//!   counts although it starts past the image end, which the records flag:
//!   none of these grids has one) and the step equals `step_size` exactly;
//! - every sampled cell's and selection's region equals the original's;
//! - the pixels of every sampled cell: bit for bit for the TIFF and the PNG;
//!   for the JPEG within [`JPEG_MAX_ABS`] per sample and [`JPEG_MAX_SHARE`]
//!   of samples differing (the two decoders round differently: see there).
#![cfg(all(feature = "image", feature = "tiff"))]

mod common;

use std::path::{Path, PathBuf};

use common::{env_dir, f64s_or_one, field, load_manifest, report, str_of, usizes};
use impart::original::ImagePartition;
use impart::{Partition, Volume};
use ndarray::ArrayD;
use serde_json::Value;

const FORMAT: u64 = 1;

/// The largest difference of one JPEG sample between impart (zune-jpeg,
/// through `image`) and the original (libvips 8.14 with libjpeg-turbo,
/// `JDCT_ISLOW`) on the 16000² Q90 JPEG.
///
/// libvips writes Q90 as 4:4:4, so there is no chroma upsampling: the two
/// decoders differ only in the rounding of their fixed-point IDCTs (each
/// output of a component off by at most 1) and of the YCbCr→RGB
/// conversion. With |ΔY|, |ΔCb|, |ΔCr| ≤ 1 and each conversion rounded to
/// the nearest integer (a difference of at most 1 more): R = Y + 1.402 Cr
/// differs by at most 1 + 1.402 + 1 < 4, G = Y − 0.344 Cb − 0.714 Cr by at
/// most 1 + 1.058 + 1 < 4, B = Y + 1.772 Cb by at most 1 + 1.772 + 1 < 4:
/// 3 per sample. Measured on the recorded cells (35.1 M samples, both APIs):
/// max 3 (34 samples, all blue), 2 in 52 366, 1 in 312 786; R and G at most
/// 2. More than 3 is a real error (a wrong block, colour transform or
/// region), not rounding.
const JPEG_MAX_ABS: u8 = 3;

/// The largest share of JPEG samples that may differ at all: measured
/// 1.04 % (0.8 % red, 1.2 % green and blue in the middle cell); bounded at
/// about twice that. A shifted region or another colour transform makes
/// most samples differ.
const JPEG_MAX_SHARE: f64 = 0.02;

/// The largest mean signed difference (ours − original) per sample: rounding
/// has no direction, measured +0.007 (red) to +0.014 (blue) in the middle
/// cell and +0.008 over all; a colour transform off by one level would be
/// near ±1.
const JPEG_MAX_MEAN: f64 = 0.05;

fn how() -> String {
    "run data-scripts/large_image_parity.sh DIR (writes ~700 MB; about 4 minutes on 2 cores)"
        .to_string()
}

fn index() -> (PathBuf, Value) {
    let dir = env_dir("IMPART_LARGE_IMAGES_DIR", &how());
    let index = load_manifest(&dir.join("index.json"), FORMAT, &how());
    (dir, index)
}

fn image<'v>(index: &'v Value, name: &str) -> &'v Value {
    field(index, "images")
        .as_array()
        .expect("images is an array")
        .iter()
        .find(|i| str_of(i, "name") == name)
        .unwrap_or_else(|| panic!("index.json has no image {name:?}"))
}

/// An index as passed to the original (`[y, x]`, possibly negative), as
/// selection text.
fn index_text(v: &Value) -> String {
    let ix: Vec<i64> = v
        .as_array()
        .expect("an index")
        .iter()
        .map(|x| x.as_i64().expect("an integer"))
        .collect();
    format!("{},{}", ix[0], ix[1])
}

/// `[left, top, width, height]`.
fn ltwh(v: &Value) -> (usize, usize, usize, usize) {
    let r = usizes(v);
    (r[0], r[1], r[2], r[3])
}

/// How the pixels of all sampled cells of one image compare.
#[derive(Default, Debug)]
struct Diff {
    samples: u64,
    differing: u64,
    /// sum of (ours - original)
    signed: i64,
    max_abs: u8,
    /// samples differing by 1, 2, 3 and more
    by: [u64; 4],
    /// the first few differences: (where, ours, original)
    examples: Vec<String>,
}

impl Diff {
    fn add(&mut self, what: &str, ours: &ArrayD<u8>, theirs: &[u8]) {
        let ours = ours.as_standard_layout();
        let ours = ours.as_slice().expect("standard layout");
        assert_eq!(ours.len(), theirs.len(), "{what}: sample counts differ");
        self.samples += ours.len() as u64;
        for (k, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
            let d = a.abs_diff(b);
            self.signed += i64::from(a) - i64::from(b);
            if d > 0 {
                self.differing += 1;
                self.max_abs = self.max_abs.max(d);
                self.by[(d as usize - 1).min(3)] += 1;
                if self.examples.len() < 5 {
                    self.examples
                        .push(format!("{what}: sample {k}: ours {a}, original {b}"));
                }
            }
        }
    }

    fn share(&self) -> f64 {
        self.differing as f64 / self.samples.max(1) as f64
    }

    fn mean(&self) -> f64 {
        self.signed as f64 / self.samples.max(1) as f64
    }

    fn summary(&self) -> String {
        format!(
            "{} samples, {} differ ({:.4} %), max |diff| {}, mean diff {:+.4}; \
             by 1: {}, by 2: {}, by 3: {}, by more: {}",
            self.samples,
            self.differing,
            100.0 * self.share(),
            self.max_abs,
            self.mean(),
            self.by[0],
            self.by[1],
            self.by[2],
            self.by[3]
        )
    }
}

/// One recorded grid.
struct Grid<'v> {
    rec: &'v Value,
    cell: (usize, usize),
    stride: Vec<f64>,
    label: String,
}

impl<'v> Grid<'v> {
    fn parse(image: &str, rec: &'v Value) -> Grid<'v> {
        let c = usizes(field(rec, "cell"));
        let stride = f64s_or_one(field(rec, "stride"));
        Grid {
            rec,
            cell: (c[0], c[1]),
            label: format!("{image}: cell {}x{} stride {:?}", c[0], c[1], stride),
            stride,
        }
    }

    fn stride(&self) -> impart::PerAxis<f64> {
        self.stride.clone().into()
    }

    /// The grid shape impart must have: the original's, less a last cell it
    /// counts past the image end.
    fn expected_shape(&self) -> (usize, usize) {
        let s = usizes(field(self.rec, "shape"));
        let empty: Vec<bool> = field(self.rec, "empty_last")
            .as_array()
            .expect("empty_last")
            .iter()
            .map(|b| b.as_bool().expect("a bool"))
            .collect();
        (s[0] - empty[0] as usize, s[1] - empty[1] as usize)
    }

    fn step(&self) -> (f64, f64) {
        let s = common::f64s(field(self.rec, "step"));
        (s[0], s[1])
    }

    fn cells(&self) -> &'v [Value] {
        field(self.rec, "cells").as_array().expect("cells")
    }

    fn selections(&self) -> &'v [Value] {
        field(self.rec, "selections")
            .as_array()
            .expect("selections")
    }
}

/// What each API answers for one grid; the two implementations below.
trait Api {
    fn shape(&self) -> (usize, usize);
    fn step(&self) -> (f64, f64);
    fn region(&self, sel: &str) -> impart::Result<(usize, usize, usize, usize)>;
    fn pixels(&self, sel: &str) -> impart::Result<ArrayD<u8>>;
}

impl<V: Volume> Api for Partition<V> {
    fn shape(&self) -> (usize, usize) {
        let s = self.grid().shape();
        (s[0], s[1])
    }
    fn step(&self) -> (f64, f64) {
        let s = self.grid().step();
        (s[0], s[1])
    }
    fn region(&self, sel: &str) -> impart::Result<(usize, usize, usize, usize)> {
        let s = self.select(sel)?;
        let r = s.region();
        Ok((r.start()[1], r.start()[0], r.shape()[1], r.shape()[0]))
    }
    fn pixels(&self, sel: &str) -> impart::Result<ArrayD<u8>> {
        self.select(sel)?.to_array::<u8>()
    }
}

impl<V: Volume> Api for ImagePartition<V> {
    fn shape(&self) -> (usize, usize) {
        ImagePartition::shape(self)
    }
    fn step(&self) -> (f64, f64) {
        self.step_size()
    }
    fn region(&self, sel: &str) -> impart::Result<(usize, usize, usize, usize)> {
        self.subregion(sel)
    }
    fn pixels(&self, sel: &str) -> impart::Result<ArrayD<u8>> {
        self.select(sel)?.to_array::<u8>()
    }
}

/// Checks one grid through one API; pixel differences go to `diff`,
/// everything else that is wrong to `failures`.
fn check_grid(
    dir: &Path,
    api_name: &str,
    api: &dyn Api,
    grid: &Grid<'_>,
    diff: &mut Diff,
    failures: &mut Vec<String>,
) {
    let label = format!("{} ({api_name})", grid.label);
    if api.shape() != grid.expected_shape() {
        failures.push(format!(
            "{label}: grid shape {:?}, the original's {:?}",
            api.shape(),
            grid.expected_shape()
        ));
    }
    if api.step() != grid.step() {
        failures.push(format!(
            "{label}: step {:?}, the original's step_size {:?}",
            api.step(),
            grid.step()
        ));
    }
    for sel in grid.selections() {
        let s = str_of(sel, "s");
        let want = ltwh(field(sel, "region"));
        match api.region(s) {
            Ok(r) if r == want => {}
            Ok(r) => failures.push(format!(
                "{label}: [{s}] is (left, top, width, height) {r:?}, the original's {want:?}"
            )),
            Err(e) => failures.push(format!("{label}: [{s}]: {e}")),
        }
    }
    for cell in grid.cells() {
        let s = index_text(field(cell, "index"));
        let want = ltwh(field(cell, "region"));
        match api.region(&s) {
            Ok(r) if r == want => {}
            Ok(r) => {
                failures.push(format!(
                    "{label}: cell [{s}] is (left, top, width, height) {r:?}, the original's {want:?}"
                ));
                continue;
            }
            Err(e) => {
                failures.push(format!("{label}: cell [{s}]: {e}"));
                continue;
            }
        }
        let file = dir.join(str_of(cell, "pixels"));
        let theirs =
            std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e} ({})", file.display(), how()));
        let ours = match api.pixels(&s) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{label}: cell [{s}]: materialize: {e}"));
                continue;
            }
        };
        let pshape = usizes(field(cell, "pixel_shape"));
        if ours.shape() != pshape.as_slice() {
            failures.push(format!(
                "{label}: cell [{s}] has shape {:?}, the original's .numpy() {pshape:?}",
                ours.shape()
            ));
            continue;
        }
        diff.add(&format!("{label}: cell [{s}]"), &ours, &theirs);
    }
}

/// Checks every grid of one image through both APIs and returns how their
/// pixels compare with the original's (one `Diff` per API).
fn check_image(name: &str) -> Vec<(String, Diff)> {
    let (dir, index) = index();
    let rec = image(&index, name);
    let path = dir.join(str_of(rec, "file"));
    let grids: Vec<Grid<'_>> = field(rec, "grids")
        .as_array()
        .expect("grids")
        .iter()
        .map(|g| Grid::parse(name, g))
        .collect();
    let image_shape = usizes(field(rec, "image_shape"));
    let mut failures = Vec::new();
    let mut out = Vec::new();

    // The N-dimensional API: impart::open and a Partition per grid.
    {
        let t = std::time::Instant::now();
        let vol = impart::open(&path).unwrap_or_else(|e| panic!("impart::open: {e}"));
        eprintln!("{name}: impart::open {:.2?}", t.elapsed());
        assert_eq!(vol.shape(), image_shape.as_slice(), "{name}: image shape");
        let mut diff = Diff::default();
        for g in &grids {
            let part = Partition::builder(&vol)
                .cell(&[g.cell.0, g.cell.1])
                .stride(g.stride())
                .build()
                .unwrap_or_else(|e| panic!("{}: {e}", g.label));
            check_grid(&dir, "impart::open", &part, g, &mut diff, &mut failures);
        }
        eprintln!("{name} (impart::open): {:.2?} in all", t.elapsed());
        out.push(("impart::open".to_string(), diff));
    }

    // The original's API: ImagePartition::new(path, ...) for the first
    // grid, the same decoded image for the others.
    {
        let t = std::time::Instant::now();
        let g0 = &grids[0];
        let first = ImagePartition::new(&path, g0.cell, g0.stride(), &[0, 1, 2])
            .unwrap_or_else(|e| panic!("ImagePartition::new: {e}"));
        eprintln!("{name}: ImagePartition::new {:.2?}", t.elapsed());
        let mut diff = Diff::default();
        for (k, g) in grids.iter().enumerate() {
            let api = "ImagePartition";
            if k == 0 {
                check_grid(&dir, api, &first, g, &mut diff, &mut failures);
            } else {
                let part = ImagePartition::from_volume(
                    first.partition().volume(),
                    g.cell,
                    g.stride(),
                    Some(&[0, 1, 2]),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", g.label));
                check_grid(&dir, api, &part, g, &mut diff, &mut failures);
            }
        }
        eprintln!("{name} (ImagePartition): {:.2?} in all", t.elapsed());
        out.push(("ImagePartition".to_string(), diff));
    }
    report(&format!("on {}", path.display()), failures);
    for (api, d) in &out {
        eprintln!(
            "{name} ({api}) against the original's .numpy(): {}",
            d.summary()
        );
    }
    out
}

fn assert_exact(name: &str) {
    for (api, d) in check_image(name) {
        assert!(
            d.differing == 0,
            "{name} ({api}): pixels differ from the original's: {}\n  {}",
            d.summary(),
            d.examples.join("\n  ")
        );
        assert!(d.samples > 0, "{name} ({api}): no pixels compared");
    }
}

#[test]
#[ignore = "needs IMPART_LARGE_IMAGES_DIR: run data-scripts/large_image_parity.sh DIR"]
fn tiled_pyramidal_bigtiff_equals_the_original() {
    assert_exact("tiff");
}

#[test]
#[ignore = "needs IMPART_LARGE_IMAGES_DIR: run data-scripts/large_image_parity.sh DIR"]
fn png_16000_equals_the_original() {
    assert_exact("png");
}

#[test]
#[ignore = "needs IMPART_LARGE_IMAGES_DIR: run data-scripts/large_image_parity.sh DIR"]
fn jpeg_16000_within_the_decoders_rounding() {
    for (api, d) in check_image("jpeg") {
        assert!(d.samples > 0, "jpeg ({api}): no pixels compared");
        assert!(
            d.max_abs <= JPEG_MAX_ABS
                && d.share() <= JPEG_MAX_SHARE
                && d.mean().abs() <= JPEG_MAX_MEAN,
            "jpeg ({api}): {} (bounds: max |diff| {JPEG_MAX_ABS}, at most {:.1} % of samples, \
             |mean diff| {JPEG_MAX_MEAN})\n  {}",
            d.summary(),
            100.0 * JPEG_MAX_SHARE,
            d.examples.join("\n  ")
        );
    }
}
