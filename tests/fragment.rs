//! Fragmentation: every format written and read back with an independent
//! reader (ndarray-npy, the NIfTI and Zarr backends, the `image` crate, plain
//! bytes) and compared with `Selected::to_array`; the manifest; resuming
//! after damage; and a real run killed with SIGKILL and resumed, byte for
//! byte against an uninterrupted one.
//!
//! The kill test runs this test binary again as the child (`kill_child`,
//! which does nothing unless `IMPART_FRAGMENT_KILL_CHILD` is set), so it
//! needs no other program.
//!
//! Expected bytes are built from native-endian arrays, so the file runs on
//! little-endian hosts (the formats written are little-endian).
#![cfg(all(
    feature = "fragment",
    feature = "nifti",
    feature = "zarr",
    feature = "image",
    target_endian = "little"
))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use impart::fragment::{
    Format, FragmentEvent, FragmentOptions, FragmentReport, ProgressHook, MANIFEST,
};
use impart::{
    ArrayVolume, Edge, Element, Error, NiftiVolume, PadMode, Partition, Selected, Volume,
    ZarrVolume,
};
use ndarray::{Array2, Array3, ArrayD};
use ndarray_npy::ReadableElement;
use serde_json::Value;

const NIFTI_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nifti");

// ---------------------------------------------------------------------------
// Helpers

/// A C-order u16 volume with distinct values; 48 x 17 x 11 with 8³ cells at
/// stride 0.5 gives a grid of 11 x 4 x 2 (two digits on the first axis).
fn volume_u16() -> Array3<u16> {
    Array3::from_shape_fn((48, 17, 11), |(z, y, x)| {
        (z * 1000 + y * 37 + x * 3 + 1) as u16
    })
}

fn partition_u16(data: &Array3<u16>) -> Partition<ArrayVolume<'_, u16>> {
    Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8, 8])
        .stride(0.5)
        .build()
        .unwrap()
}

fn nifti(name: &str) -> NiftiVolume {
    NiftiVolume::open(Path::new(NIFTI_DIR).join(name)).unwrap()
}

fn run<V: Volume>(
    part: &Partition<V>,
    sel: &str,
    dir: &Path,
    format: Format,
    resume: bool,
) -> FragmentReport {
    FragmentOptions::new(dir)
        .format(format)
        .resume(resume)
        .fragment(part, sel)
        .unwrap_or_else(|e| panic!("{format} into {}: {e}", dir.display()))
}

/// The name the module docs promise: `cell_` + the index zero-padded per
/// axis to the digits of that axis's largest index + the extension.
fn expected_name<V: Volume>(part: &Partition<V>, index: &[usize], format: Format) -> String {
    let parts: Vec<String> = index
        .iter()
        .zip(part.grid().shape())
        .map(|(&i, &n)| {
            let width = (n - 1).max(1).to_string().len();
            format!("{i:0width$}")
        })
        .collect();
    format!("cell_{}{}", parts.join("_"), format.extension())
}

fn manifest(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join(MANIFEST))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names of the entries directly in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// Checks the directory against the selection: exactly one entry per cell
/// plus the manifest and grid.json (no temporary leftovers), and one manifest line per
/// cell in C order with the right keys and values. Returns each cell with
/// its file.
fn check_layout<'p, V: Volume>(
    part: &'p Partition<V>,
    sel: &str,
    dir: &Path,
    format: Format,
) -> Vec<(Selected<'p, V>, PathBuf)> {
    let cells: Vec<_> = part.cells(sel).unwrap().collect();
    let lines = manifest(dir);
    assert_eq!(lines.len(), cells.len(), "{format}: manifest lines");
    let mut want: Vec<String> = cells
        .iter()
        .map(|c| expected_name(part, &c.index(), format))
        .collect();
    want.push(MANIFEST.to_string());
    want.push("grid.json".to_string());
    want.sort();
    assert_eq!(entries(dir), want, "{format}: directory entries");
    let mut out = Vec::new();
    for (cell, line) in cells.into_iter().zip(&lines) {
        let obj = line.as_object().unwrap();
        let name = expected_name(part, &cell.index(), format);
        assert_eq!(usizes(&line["index"]), cell.index(), "{line}");
        assert_eq!(usizes(&line["start"]), cell.region().start(), "{line}");
        assert_eq!(usizes(&line["shape"]), cell.shape(), "{line}");
        assert_eq!(line["file"], Value::from(name.clone()), "{line}");
        assert_eq!(line["dtype"], part.volume().dtype().name(), "{line}");
        let mut keys: Vec<&str> = vec!["index", "start", "shape", "file", "dtype"];
        if format == Format::Raw {
            assert_eq!(line["order"], "C");
            assert_eq!(line["byte_order"], "little");
            keys.extend(["order", "byte_order"]);
        }
        match cell.world_origin() {
            Some(w) => {
                let got: Vec<f64> = line["world_origin"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                assert_eq!(got.len(), 3);
                for k in 0..3 {
                    assert!(close(got[k], w[k], 1e-12), "{line} vs {w:?}");
                }
                keys.push("world_origin");
            }
            None => assert!(!obj.contains_key("world_origin"), "{line}"),
        }
        let mut found: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        found.sort();
        keys.sort();
        assert_eq!(found, keys, "{format}: keys of {line}");
        out.push((cell, dir.join(name)));
    }
    out
}

fn check_npy<T: Element + ReadableElement, V: Volume>(cells: &[(Selected<'_, V>, PathBuf)]) {
    for (cell, path) in cells {
        let got: ArrayD<T> = ndarray_npy::read_npy(path).unwrap();
        assert_eq!(got, cell.to_array::<T>().unwrap(), "{}", path.display());
    }
}

/// Raw files: exactly the little-endian elements in C order.
fn check_raw<T: Element, V: Volume>(cells: &[(Selected<'_, V>, PathBuf)]) {
    for (cell, path) in cells {
        let want = cell.to_array::<T>().unwrap();
        let want = want.as_standard_layout();
        let bytes: &[u8] = bytemuck::cast_slice(want.as_slice().unwrap());
        assert_eq!(std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }
}

/// NIfTI files: parsed by the NIfTI backend, values and affine as the cell's,
/// the source's scaling; the voxels are Fortran order at offset 352.
fn check_nii<T: Element, V: Volume>(
    cells: &[(Selected<'_, V>, PathBuf)],
    scaling: Option<(f64, f64)>,
) {
    for (cell, path) in cells {
        let nii = NiftiVolume::open(path).unwrap();
        let h = nii.header();
        assert_eq!(nii.shape(), cell.shape().as_slice());
        assert_eq!(nii.dtype(), T::DTYPE);
        assert_eq!((h.version, h.vox_offset, h.single_file), (1, 352, true));
        assert_eq!((h.sform_code, h.qform_code), (1, 1));
        let whole = Partition::builder(&nii).cell(nii.shape()).build().unwrap();
        let got = whole.cell(&vec![0; nii.shape().len()]).unwrap();
        let want = cell.to_array::<T>().unwrap();
        assert_eq!(got.to_array::<T>().unwrap(), want, "{}", path.display());
        // Fortran order on disk, by bytes
        let f_order = want.view().reversed_axes();
        let f_order = f_order.as_standard_layout();
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[352..],
            bytemuck::cast_slice::<T, u8>(f_order.as_slice().unwrap())
        );
        // the cell's own affine (f32 in the header)
        let want_affine = cell.affine().unwrap_or_else(|| {
            let mut a = [[0.0; 4]; 4];
            for (k, row) in a.iter_mut().enumerate() {
                row[k] = 1.0;
            }
            for (k, &s) in cell.region().start().iter().take(3).enumerate() {
                a[k][3] = s as f64;
            }
            a
        });
        let got_affine = nii.affine().unwrap();
        for i in 0..4 {
            for j in 0..4 {
                assert!(
                    close(got_affine[i][j], want_affine[i][j], 1e-6),
                    "{}: affine {got_affine:?} vs {want_affine:?}",
                    path.display()
                );
            }
        }
        match scaling {
            Some((s, i)) => {
                let (gs, gi) = nii.scaling().unwrap();
                assert!(close(gs, s, 1e-6) && close(gi, i, 1e-6));
            }
            None => assert_eq!(nii.scaling(), None),
        }
    }
}

fn check_zarr<T: Element, V: Volume>(cells: &[(Selected<'_, V>, PathBuf)]) {
    for (cell, path) in cells {
        let meta = std::fs::read_to_string(path.join("zarr.json")).unwrap();
        assert!(meta.contains("\"zstd\""), "{meta}");
        assert!(!meta.contains("_zarrs"), "{meta}");
        let z = ZarrVolume::open(path).unwrap();
        assert_eq!(z.shape(), cell.shape().as_slice());
        assert_eq!(z.dtype(), T::DTYPE);
        let whole = Partition::builder(&z).cell(z.shape()).build().unwrap();
        let got = whole.cell(&vec![0; z.shape().len()]).unwrap();
        assert_eq!(
            got.to_array::<T>().unwrap(),
            cell.to_array::<T>().unwrap(),
            "{}",
            path.display()
        );
    }
}

/// PNG and TIFF: decoded by the `image` crate; samples as the C-order cell.
fn check_image<T: Element, V: Volume>(cells: &[(Selected<'_, V>, PathBuf)]) {
    use image::ColorType as C;
    for (cell, path) in cells {
        let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let shape = cell.shape();
        assert_eq!(
            (img.height() as usize, img.width() as usize),
            (shape[0], shape[1])
        );
        let channels = shape.get(2).copied().unwrap_or(1);
        let want_color = match (T::DTYPE.size(), channels) {
            (1, 1) => C::L8,
            (1, 2) => C::La8,
            (1, 3) => C::Rgb8,
            (1, 4) => C::Rgba8,
            (2, 1) => C::L16,
            (2, 2) => C::La16,
            (2, 3) => C::Rgb16,
            _ => C::Rgba16,
        };
        assert_eq!(img.color(), want_color, "{}", path.display());
        let want = cell.to_array::<T>().unwrap();
        let want = want.as_standard_layout();
        assert_eq!(
            img.as_bytes(),
            bytemuck::cast_slice::<T, u8>(want.as_slice().unwrap()),
            "{}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------
// Every format

#[test]
fn every_format_of_a_c_order_volume() {
    let data = volume_u16();
    let part = partition_u16(&data);
    assert_eq!(part.grid().shape(), &[11, 4, 2]);
    for format in [Format::Npy, Format::Raw, Format::Nii, Format::Zarr] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out"); // created by the run
        let report = run(&part, "...", &dir, format, false);
        assert_eq!((report.cells, report.written, report.skipped), (88, 88, 0));
        assert_eq!(report.manifest, dir.join(MANIFEST));
        assert!(report.bytes_written > 0);
        let ext = format.extension();
        for name in [format!("cell_00_0_0{ext}"), format!("cell_10_3_1{ext}")] {
            assert!(dir.join(&name).exists(), "{name}");
        }
        let cells = check_layout(&part, "...", &dir, format);
        match format {
            Format::Npy => {
                check_npy::<u16, _>(&cells);
                let head = std::fs::read(&cells[0].1).unwrap();
                let text = String::from_utf8_lossy(&head[..128]);
                assert!(text.contains("'fortran_order': False"), "{text}");
                assert!(text.contains("'shape': (8, 8, 8)"), "{text}");
            }
            Format::Raw => check_raw::<u16, _>(&cells),
            Format::Nii => check_nii::<u16, _>(&cells, None),
            _ => check_zarr::<u16, _>(&cells),
        }
    }
}

#[test]
fn a_selection_writes_only_its_cells_with_grid_wide_names() {
    let data = volume_u16();
    let part = partition_u16(&data);
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&part, "8:, -1, :", tmp.path(), Format::Npy, false);
    assert_eq!(report.cells, 3 * 2);
    let cells = check_layout(&part, "8:, -1, :", tmp.path(), Format::Npy);
    assert_eq!(cells[0].1.file_name().unwrap(), "cell_08_3_0.npy");
    check_npy::<u16, _>(&cells);
}

#[test]
fn nifti_source_keeps_fortran_order_affine_and_scaling() {
    for (file, cell) in [("i16_3d.nii", [4, 4, 2]), ("scaled_i16_0.3.nii", [4, 3, 3])] {
        let volume = nifti(file);
        let part = Partition::builder(&volume)
            .cell(&cell)
            .stride(0.5)
            .build()
            .unwrap();
        for format in [Format::Npy, Format::Nii, Format::Raw, Format::Zarr] {
            let tmp = tempfile::tempdir().unwrap();
            run(&part, "...", tmp.path(), format, false);
            let cells = check_layout(&part, "...", tmp.path(), format);
            assert!(cells.iter().all(|(c, _)| c.world_origin().is_some()));
            match format {
                Format::Npy => {
                    check_npy::<i16, _>(&cells);
                    let head = std::fs::read(&cells[0].1).unwrap();
                    let text = String::from_utf8_lossy(&head[..128]);
                    assert!(text.contains("'fortran_order': True"), "{text}");
                }
                Format::Nii => {
                    check_nii::<i16, _>(&cells, volume.scaling());
                    if file.starts_with("scaled") {
                        assert_ne!(volume.scaling().unwrap().0, 1.0);
                    }
                    // the fixtures' affines are rotations times voxel sizes,
                    // so the qform written from them is the same transform
                    for (_, path) in &cells {
                        let h = NiftiVolume::open(path).unwrap().header().clone();
                        let (q, s) = (h.qform(), h.sform());
                        for i in 0..3 {
                            for j in 0..4 {
                                assert!(close(q[i][j], s[i][j], 1e-5), "{q:?} vs {s:?}");
                            }
                        }
                    }
                }
                Format::Raw => check_raw::<i16, _>(&cells),
                _ => check_zarr::<i16, _>(&cells),
            }
        }
    }
}

#[test]
fn a_four_d_nifti_cell_carries_its_time_axis() {
    let volume = nifti("f32_4d.nii");
    let part = Partition::builder(&volume)
        .cell(&[3, 3, 2])
        .stride(0.5)
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    run(&part, "...", tmp.path(), Format::Nii, false);
    let cells = check_layout(&part, "...", tmp.path(), Format::Nii);
    assert_eq!(cells[0].0.shape().len(), 4);
    check_nii::<f32, _>(&cells, volume.scaling());
}

#[test]
fn padded_cells_are_written_full_size() {
    let data = volume_u16();
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[10, 10, 10])
        .edge(Edge::Pad(PadMode::Constant(7.0)))
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    run(&part, "...", tmp.path(), Format::Npy, false);
    let cells = check_layout(&part, "...", tmp.path(), Format::Npy);
    assert!(cells.iter().all(|(c, _)| c.shape() == [10, 10, 10]));
    check_npy::<u16, _>(&cells);
    let last: ArrayD<u16> = ndarray_npy::read_npy(&cells.last().unwrap().1).unwrap();
    assert_eq!(last[[9, 9, 9]], 7);
}

#[test]
fn images_png_and_tiff() {
    let rgb = Array3::<u8>::from_shape_fn((40, 50, 3), |(y, x, c)| (y * 5 + x * 3 + c * 80) as u8);
    let gray16 = Array2::<u16>::from_shape_fn((40, 50), |(y, x)| (y * 1500 + x * 7) as u16);
    let rgba16 = Array3::<u16>::from_shape_fn((40, 50, 4), |(y, x, c)| {
        (y * 1500 + x * 7 + c * 9000) as u16
    });
    let gray_alpha = Array3::<u8>::from_shape_fn((40, 50, 2), |(y, x, c)| (y + x + c * 100) as u8);
    for format in [Format::Png, Format::Tiff] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str| tmp.path().join(format!("{name}-{format}"));

        let part = Partition::builder(ArrayVolume::new(rgb.view()).unwrap())
            .cell(&[16, 16])
            .stride(0.75)
            .build()
            .unwrap();
        run(&part, "...", &dir("rgb"), format, false);
        check_image::<u8, _>(&check_layout(&part, "...", &dir("rgb"), format));

        // a channel list (BGR) is what the file holds
        let part = Partition::builder(ArrayVolume::new(rgb.view()).unwrap())
            .cell(&[16, 16])
            .channels(&[2, 1, 0])
            .build()
            .unwrap();
        run(&part, "...", &dir("bgr"), format, false);
        check_image::<u8, _>(&check_layout(&part, "...", &dir("bgr"), format));

        let part = Partition::builder(ArrayVolume::new(gray16.view()).unwrap())
            .cell(&[16, 16])
            .build()
            .unwrap();
        run(&part, "...", &dir("gray16"), format, false);
        check_image::<u16, _>(&check_layout(&part, "...", &dir("gray16"), format));

        let part = Partition::builder(ArrayVolume::new(rgba16.view()).unwrap())
            .cell(&[16, 16])
            .build()
            .unwrap();
        run(&part, "...", &dir("rgba16"), format, false);
        check_image::<u16, _>(&check_layout(&part, "...", &dir("rgba16"), format));

        let part = Partition::builder(ArrayVolume::new(gray_alpha.view()).unwrap())
            .cell(&[16, 16])
            .build()
            .unwrap();
        let result = FragmentOptions::new(dir("gray_alpha"))
            .format(format)
            .fragment(&part, "...");
        if format == Format::Png {
            result.unwrap();
            check_image::<u8, _>(&check_layout(&part, "...", &dir("gray_alpha"), format));
        } else {
            assert!(
                matches!(result, Err(Error::InvalidArgument { what: "format", .. })),
                "{result:?}"
            );
            assert!(!dir("gray_alpha").exists(), "nothing is written");
        }
    }
}

#[test]
fn cells_a_format_cannot_hold_are_typed_errors_before_any_write() {
    let data = volume_u16();
    let cube = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8, 8])
        .build()
        .unwrap();
    let floats = Array2::<f32>::zeros((20, 20));
    let flat = Partition::builder(ArrayVolume::new(floats.view()).unwrap())
        .cell(&[8, 8])
        .build()
        .unwrap();
    let channels5 = Array3::<u8>::zeros((20, 20, 5));
    let five = Partition::builder(ArrayVolume::new(channels5.view()).unwrap())
        .cell(&[8, 8])
        .build()
        .unwrap();
    let big = Array2::<u8>::zeros((40000, 1));
    let tall = Partition::builder(ArrayVolume::new(big.view()).unwrap())
        .cell(&[40000, 1])
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let errors = [
        FragmentOptions::new(&out)
            .format(Format::Png)
            .fragment(&cube, "..."),
        FragmentOptions::new(&out)
            .format(Format::Png)
            .fragment(&flat, "..."),
        FragmentOptions::new(&out)
            .format(Format::Png)
            .fragment(&five, "..."),
        FragmentOptions::new(&out)
            .format(Format::Nii)
            .fragment(&tall, "..."),
    ];
    for e in errors {
        match e {
            Err(Error::InvalidArgument {
                what: "format",
                detail,
            }) => {
                assert!(!detail.is_empty())
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(!out.exists());
    // f32 cells are TIFF's (through the `tiff` crate), read back as written
    let ramp = Array2::from_shape_fn((20, 20), |(y, x)| y as f32 * 0.5 - x as f32);
    let ramp_part = Partition::builder(ArrayVolume::new(ramp.view()).unwrap())
        .cell(&[8, 8])
        .build()
        .unwrap();
    let tiffs = tmp.path().join("f32_tiff");
    FragmentOptions::new(&tiffs)
        .format(Format::Tiff)
        .fragment(&ramp_part, "...")
        .unwrap();
    let back = impart::TiffOptions::new()
        .open(tiffs.join("cell_1_2.tiff"))
        .unwrap();
    let got = Partition::builder(&back)
        .cell(&[8, 8])
        .build()
        .unwrap()
        .cell(&[0, 0])
        .unwrap()
        .to_array::<f32>()
        .unwrap();
    // the last column of cells is clipped to the image: columns 16..20
    let want = ramp.slice(ndarray::s![8..16, 16..20]);
    assert_eq!(got.index_axis(ndarray::Axis(2), 0), want.into_dyn());
    // a bad selection and a bad format name are typed too
    assert!(matches!(
        FragmentOptions::new(&out).fragment(&cube, "99, 0, 0"),
        Err(Error::Selection(_))
    ));
    assert!(matches!(
        "jpg".parse::<Format>(),
        Err(Error::InvalidArgument { what: "format", .. })
    ));
    // an output path that is a file
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        FragmentOptions::new(&file).fragment(&cube, "..."),
        Err(Error::Io { .. })
    ));
}

#[test]
fn progress_reports_every_cell_once() {
    let data = volume_u16();
    let part = partition_u16(&data);
    let tmp = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let hook = ProgressHook::new(move |e| sink.lock().unwrap().push(*e));
    // a first run of part of the grid, then a resumed run of all of it
    FragmentOptions::new(tmp.path())
        .fragment(&part, "..5")
        .unwrap();
    let report = FragmentOptions::new(tmp.path())
        .resume(true)
        .progress(Some(hook))
        .fragment(&part, "...")
        .unwrap();
    assert_eq!((report.skipped, report.written), (40, 48));
    let events = events.lock().unwrap();
    assert_eq!(
        events[0],
        FragmentEvent::Started {
            total: 88,
            skipped: 40
        }
    );
    let mut done: Vec<usize> = events[1..]
        .iter()
        .map(|e| match *e {
            FragmentEvent::CellWritten { done, total, bytes } => {
                assert_eq!(total, 88);
                assert!(bytes > 0);
                done
            }
            other => panic!("{other:?}"),
        })
        .collect();
    done.sort_unstable();
    assert_eq!(done, (41..=88).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Resuming

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn resume_after_damage_is_byte_identical_and_keeps_finished_cells() {
    let data = volume_u16();
    let part = partition_u16(&data);
    let rgb = Array3::<u8>::from_shape_fn((40, 50, 3), |(y, x, c)| (y * 5 + x * 3 + c * 80) as u8);
    let image = Partition::builder(ArrayVolume::new(rgb.view()).unwrap())
        .cell(&[8, 8])
        .stride(0.5)
        .build()
        .unwrap();
    for format in Format::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let (clean, damaged) = (tmp.path().join("clean"), tmp.path().join("damaged"));
        let (total, first, last) = if matches!(format, Format::Png | Format::Tiff) {
            run(&image, "...", &clean, format, false);
            run(&image, "...", &damaged, format, false);
            let cells: Vec<_> = image.cells("...").unwrap().collect();
            (
                cells.len(),
                expected_name(&image, &cells[0].index(), format),
                expected_name(&image, &cells.last().unwrap().index(), format),
            )
        } else {
            run(&part, "...", &clean, format, false);
            run(&part, "...", &damaged, format, false);
            (
                88,
                expected_name(&part, &[0, 0, 0], format),
                expected_name(&part, &[10, 3, 1], format),
            )
        };
        let names: Vec<String> = entries(&damaged)
            .into_iter()
            .filter(|n| n.starts_with("cell_"))
            .collect();
        assert_eq!(names.len(), total);
        // damage: the manifest gone, three cells gone, one cut short (where
        // the size is checked), and stale temporary files of a killed run
        std::fs::remove_file(damaged.join(MANIFEST)).unwrap();
        let mut redo = vec![names[3].clone(), names[17].clone(), last.clone()];
        for name in &redo {
            let p = damaged.join(name);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        if matches!(format, Format::Npy | Format::Raw | Format::Nii) {
            let p = damaged.join(&names[5]);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
            redo.push(names[5].clone());
        }
        std::fs::write(damaged.join(format!(".{first}.impart-tmp")), b"half a cell").unwrap();
        std::fs::create_dir(damaged.join(".cell_stale.zarr.impart-tmp")).unwrap();
        std::fs::write(damaged.join(".cell_stale.zarr.impart-tmp/c"), b"x").unwrap();
        let kept = damaged.join(&names[0]);
        #[cfg(unix)]
        let kept_inode = inode(&kept);

        let report = if matches!(format, Format::Png | Format::Tiff) {
            run(&image, "...", &damaged, format, true)
        } else {
            run(&part, "...", &damaged, format, true)
        };
        assert_eq!(
            (report.written, report.skipped),
            (redo.len(), total - redo.len()),
            "{format}"
        );
        #[cfg(unix)]
        assert_eq!(
            inode(&kept),
            kept_inode,
            "{format}: a finished cell was rewritten"
        );
        assert!(
            tree(&clean) == tree(&damaged),
            "{format}: resumed output differs"
        );

        // without resume every cell is written again, to the same bytes
        let report = if matches!(format, Format::Png | Format::Tiff) {
            run(&image, "...", &damaged, format, false)
        } else {
            run(&part, "...", &damaged, format, false)
        };
        assert_eq!(report.written, total);
        assert!(
            tree(&clean) == tree(&damaged),
            "{format}: rewritten output differs"
        );
    }
}

// ---------------------------------------------------------------------------
// Killing a real run

const CHILD_ENV: &str = "IMPART_FRAGMENT_KILL_CHILD";

/// 192 x 192 x 128 u16 with 32³ cells (64 KiB) at stride 0.5: 11 x 11 x 7 =
/// 847 cells.
fn kill_volume() -> Array3<u16> {
    Array3::from_shape_fn((192, 192, 128), |(z, y, x)| {
        ((z * 7919 + y * 104_729 + x * 13) % 65_521) as u16
    })
}

fn kill_partition(data: &Array3<u16>) -> Partition<ArrayVolume<'_, u16>> {
    Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[32, 32, 32])
        .stride(0.5)
        .build()
        .unwrap()
}

/// The child of `a_killed_run_resumes_to_the_same_bytes`: a fragmentation
/// on two threads, slowed a little. Does nothing unless
/// `IMPART_FRAGMENT_KILL_CHILD` is `DIR|FORMAT`.
#[test]
fn kill_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, format) = spec.split_once('|').unwrap();
    let format: Format = format.parse().unwrap();
    let data = kill_volume();
    let part = kill_partition(&data);
    // a short pause per cell keeps the run long enough to be killed midway
    // on a fast machine, while writing still takes enough of the time that
    // kills often land mid-file (leaving temporary files to clean up)
    let hook = ProgressHook::new(|_| std::thread::sleep(Duration::from_millis(1)));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        FragmentOptions::new(dir)
            .format(format)
            .progress(Some(hook))
            .fragment(&part, "...")
            .unwrap()
    });
}

#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let data = kill_volume();
    let part = kill_partition(&data);
    let total = part.len();
    assert_eq!(total, 847);
    for format in [Format::Npy, Format::Nii, Format::Zarr] {
        let tmp = tempfile::tempdir().unwrap();
        let killed = tmp.path().join("killed");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, format!("{}|{format}", killed.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let count = || {
            std::fs::read_dir(&killed)
                .map(|d| {
                    d.filter(|e| {
                        e.as_ref()
                            .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("cell_"))
                    })
                    .count()
                })
                .unwrap_or(0)
        };
        let t0 = Instant::now();
        while count() < 60 {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the child wrote no cells"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child ended before it was killed"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // off the rhythm of renames, so the kill can land mid-file
        std::thread::sleep(Duration::from_micros(500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let finished = count();
        assert!(
            finished < total,
            "{format}: the child finished before the kill"
        );
        assert!(
            !killed.join(MANIFEST).exists(),
            "{format}: manifest of an unfinished run"
        );

        let resumed = run(&part, "...", &killed, format, true);
        assert_eq!(resumed.cells, total);
        assert_eq!(
            resumed.skipped, finished,
            "{format}: every finished cell is kept"
        );
        assert_eq!(resumed.written + resumed.skipped, total);

        let clean = tmp.path().join("clean");
        run(&part, "...", &clean, format, false);
        assert!(
            tree(&clean) == tree(&killed),
            "{format}: killed and resumed output differs from an uninterrupted run"
        );
    }
}

#[test]
fn many_threads_write_the_same_bytes_as_one() {
    let data = volume_u16();
    let part = partition_u16(&data);
    let tmp = tempfile::tempdir().unwrap();
    for (threads, name) in [(1, "one"), (4, "four")] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run(&part, "...", &tmp.path().join(name), Format::Zarr, false));
    }
    assert!(tree(&tmp.path().join("one")) == tree(&tmp.path().join("four")));
}

#[test]
fn fragment_writes_grid_json_and_resume_refuses_another_grid() {
    let data = volume_u16();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cells");
    let part = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8, 8])
        .stride(0.5)
        .edge(impart::Edge::Shift)
        .build()
        .unwrap();
    FragmentOptions::new(&out).fragment(&part, "...").unwrap();
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("grid.json")).unwrap()).unwrap();
    let g = part.grid();
    assert_eq!(grid["volume_shape"], serde_json::json!(data.shape()));
    assert_eq!(grid["cell_shape"], serde_json::json!([8, 8, 8]));
    assert_eq!(grid["step"], serde_json::json!([4.0, 4.0, 4.0]));
    assert_eq!(grid["grid_shape"], serde_json::json!(g.shape()));
    assert_eq!(grid["edge"], "shift");
    assert_eq!(grid["axes"], serde_json::json!([0, 1, 2]));
    assert_eq!(grid["dtype"], "u16");
    // resuming with the same grid is fine, with another one refused
    FragmentOptions::new(&out)
        .resume(true)
        .fragment(&part, "...")
        .unwrap();
    let other = Partition::builder(ArrayVolume::new(data.view()).unwrap())
        .cell(&[8, 8, 8])
        .build()
        .unwrap();
    let err = FragmentOptions::new(&out)
        .resume(true)
        .fragment(&other, "...")
        .expect_err("another grid");
    assert!(
        matches!(err, Error::InvalidArgument { what: "resume", .. }),
        "{err}"
    );
    assert!(
        out.join("manifest.jsonl").exists(),
        "the finished run is left alone"
    );
}
