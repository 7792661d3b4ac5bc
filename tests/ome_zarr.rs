//! OME-Zarr images written by the `ome-zarr` Python package (NGFF 0.4 on
//! Zarr v2, NGFF 0.5 on Zarr v3, with labels) and one NGFF 0.5 image whose
//! metadata zarr-python 3 wrote by hand (levels at `s0`/`s1`, scale and
//! translation per level, a multiscale-wide scale after them), read back
//! through impart: levels, axes, labels, and each cell's world origin,
//! which `data-scripts/make_ome_zarr_fixtures.py` computed by hand
//! (translation + scale x start) and whose voxels it read with zarr-python.
#![cfg(feature = "zarr")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, impart_json};
use impart::{Error, Partition, Volume, ZarrOptions};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ome_zarr")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    floats(v).into_iter().map(|x| x as usize).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-9 * (1.0 + y.abs()))
}

#[test]
fn every_level_has_the_metadata_the_writer_gave() {
    let m = manifest();
    let images = m["images"].as_array().expect("images");
    assert_eq!(images.len(), 4);
    for image in images {
        let path = dir().join(image["path"].as_str().expect("path"));
        let levels = image["levels"].as_array().expect("levels");
        for (k, level) in levels.iter().enumerate() {
            let v = ZarrOptions::new()
                .level(k)
                .open(&path)
                .unwrap_or_else(|e| panic!("{}: level {k}: {e}", path.display()));
            let ome = v.ome().expect("opened as an OME-Zarr image");
            assert_eq!(v.ome_level(), Some(k));
            assert_eq!(ome.version, image["version"].as_str().expect("version"));
            assert_eq!(ome.name.as_deref(), image["name"].as_str());
            assert_eq!(v.shape(), &usizes(&level["shape"])[..], "{k}");
            let numpy = match v.dtype() {
                impart::DType::U8 => "uint8",
                impart::DType::U16 => "uint16",
                impart::DType::I16 => "int16",
                impart::DType::F32 => "float32",
                d => panic!("no fixture of {d}"),
            };
            assert_eq!(numpy, level["dtype"]);
            let t = v.axis_transform().expect("a world map");
            assert!(
                close(&t.scale, &floats(&level["scale"])),
                "{path:?} {k}: {t:?}"
            );
            assert!(
                close(&t.translation, &floats(&level["translation"])),
                "{t:?}"
            );
            // the metadata lists every level, whichever is open
            assert_eq!(ome.levels.len(), levels.len());
            for (l, want) in ome.levels.iter().zip(levels) {
                assert_eq!(l.path, want["path"].as_str().expect("path"));
                let shape: Vec<u64> = usizes(&want["shape"]).iter().map(|&n| n as u64).collect();
                assert_eq!(l.shape.as_ref(), Some(&shape));
            }
            let axes = image["axes"].as_array().expect("axes");
            assert_eq!(ome.axes.len(), axes.len());
            for (a, want) in ome.axes.iter().zip(axes) {
                assert_eq!(a.name, want["name"].as_str().expect("name"));
                assert_eq!(a.kind.as_deref(), want["type"].as_str());
                assert_eq!(a.unit.as_deref(), want["unit"].as_str());
            }
            let labels: Vec<&str> = image["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|l| l.as_str().expect("a name"))
                .collect();
            assert_eq!(ome.labels, labels);
            assert_eq!(
                ome.is_label,
                image["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/labels/"))
            );
        }
        let beyond = ZarrOptions::new().level(levels.len()).open(&path);
        assert!(
            matches!(&beyond, Err(Error::InvalidArgument { what: "level", detail })
                if detail.contains(&format!("{} level", levels.len()))),
            "{:?}",
            beyond.err()
        );
    }
}

#[test]
fn cells_have_the_world_origins_and_voxels_the_script_computed() {
    let m = manifest();
    let mut checked = 0;
    for image in m["images"].as_array().expect("images") {
        let path = dir().join(image["path"].as_str().expect("path"));
        for cell in image["cells"].as_array().expect("cells") {
            let level = cell["level"].as_u64().expect("level") as usize;
            let v = ZarrOptions::new().level(level).open(&path).expect("opens");
            let part = Partition::builder(v)
                .cell(&usizes(&cell["cell"]))
                .step(floats(&cell["step"]))
                .build()
                .expect("a grid");
            let index = usizes(&cell["index"]);
            let text: Vec<String> = index.iter().map(|i| i.to_string()).collect();
            let sel = part.select(text.join(",").as_str()).expect("the cell");
            assert_eq!(sel.region().start(), &usizes(&cell["start"])[..]);
            let world = sel.world_start().expect("a world origin");
            assert!(
                close(&world, &floats(&cell["world_origin"])),
                "{path:?} {index:?}: {world:?} vs {}",
                cell["world_origin"]
            );
            // no affine: the map is per axis
            assert_eq!(sel.world_origin(), None);
            let values: Vec<f64> = sel
                .to_array_as::<f64>()
                .expect("read")
                .into_iter()
                .collect();
            assert_eq!(
                values.iter().sum::<f64>(),
                cell["sum"].as_f64().expect("sum")
            );
            assert_eq!(values[..8], floats(&cell["first"])[..]);
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn groups_that_are_not_images_say_what_to_open() {
    let labels = dir().join("v04_czyx.ome.zarr/labels");
    match ZarrOptions::new().open(&labels) {
        Err(Error::ZarrGroup { arrays, .. }) => assert_eq!(arrays, ["cells"]),
        other => panic!("{:?}", other.err()),
    }
    // a label image by its store and path, as `--array labels/cells` does
    let v = ZarrOptions::new()
        .open_in(dir().join("v05_tczyx.ome.zarr"), "labels/nuclei")
        .expect("a label image opens");
    assert!(v.ome().is_some_and(|o| o.is_label));
    assert_eq!(v.shape(), &[2, 1, 6, 20, 24]);
    // a plain array has one level
    let plain = dir().join("v05_handmade.ome.zarr/s0");
    assert!(ZarrOptions::new()
        .open(&plain)
        .is_ok_and(|v| v.ome().is_none()));
    let e = ZarrOptions::new().level(1).open(&plain).err();
    assert!(
        matches!(e, Some(Error::InvalidArgument { what: "level", .. })),
        "{e:?}"
    );
}

#[test]
fn broken_multiscale_metadata_is_an_error_naming_the_group() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = dir().join("v05_handmade.ome.zarr");
    let copy = tmp.path().join("img.zarr");
    copy_dir(&src, &copy);
    let meta = copy.join("zarr.json");
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).expect("zarr.json")).expect("JSON");
    type Edit = fn(&mut Value);
    let edits: [(Edit, usize, &str); 4] = [
        (
            |m| m["coordinateTransformations"][0]["scale"] = serde_json::json!([2.0]),
            0,
            "1 values for 2 axes",
        ),
        (
            |m| m["datasets"][1]["path"] = "nothing".into(),
            1,
            "nothing",
        ),
        (
            |m| m["axes"] = serde_json::json!([{"name": "x"}]),
            0,
            "2 values for 1 axes",
        ),
        // a unit that is not a string is read as no unit
        (|m| m["axes"][1]["unit"] = 5.into(), 0, ""),
    ];
    for (edit, level, says) in edits {
        let mut broken = original.clone();
        edit(&mut broken["attributes"]["ome"]["multiscales"][0]);
        std::fs::write(&meta, broken.to_string()).expect("write");
        let e = ZarrOptions::new()
            .level(level)
            .open(&copy)
            .err()
            .map(|e| e.to_string());
        if says.is_empty() {
            assert_eq!(e, None);
        } else {
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains(says) && e.contains("img.zarr")),
                "{e:?}"
            );
        }
    }
}

#[test]
fn the_command_line_lists_levels_and_gives_world_origins() {
    let m = manifest();
    let image = &m["images"][0];
    let path = dir().join(image["path"].as_str().expect("path"));
    let p = path.to_str().expect("UTF-8 path");
    let info = impart_json(&["info", p, "--json", "--level", "2"]);
    assert_eq!(info["level"], 2);
    assert_eq!(info["ome"]["version"], "0.4");
    assert_eq!(info["ome"]["labels"], serde_json::json!(["cells"]));
    assert_eq!(info["ome"]["axes"][1]["unit"], "micrometer");
    assert_eq!(info["levels"][1]["shape"], image["levels"][1]["shape"]);
    assert_eq!(info["shape"], image["levels"][2]["shape"]);
    // the third cell of the fixture: level 2, whole-level cells
    let cell = &image["cells"][2];
    let shape: Vec<String> = usizes(&cell["cell"])
        .iter()
        .map(|n| n.to_string())
        .collect();
    let index: Vec<String> = usizes(&cell["index"])
        .iter()
        .map(|n| n.to_string())
        .collect();
    let (shape, index) = (shape.join(","), index.join(","));
    let region = impart_json(&[
        "region", p, "--level", "2", "--cell", &shape, "--select", &index, "--json",
    ]);
    assert!(
        close(
            &floats(&region["world_origin"]),
            &floats(&cell["world_origin"])
        ),
        "{region}"
    );
    assert_eq!(region["world_scale"], image["levels"][2]["scale"]);
    let out = Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(["stats", p, "--level", "2", "--cell", &shape, "--json"])
        .output()
        .expect("impart runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let row = lines
        .iter()
        .find(|l| l["index"] == serde_json::json!(usizes(&cell["index"])))
        .expect("the cell's line");
    assert!(
        close(
            &floats(&row["world_origin"]),
            &floats(&cell["world_origin"])
        ),
        "{row}"
    );
    assert_eq!(row["sum"].as_f64(), cell["sum"].as_f64());
}

fn impart_status(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_impart"))
        .args(args)
        .output()
        .expect("impart runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_all<T: impart::Element>(v: impart::ZarrVolume) -> Vec<T> {
    let shape = v.shape().to_vec();
    let part = Partition::builder(v)
        .cell(&shape)
        .build()
        .expect("one cell");
    part.select("...")
        .expect("all")
        .to_array::<T>()
        .expect("read")
        .iter()
        .copied()
        .collect()
}

#[test]
fn stitched_labels_become_an_ome_zarr_label_image_with_every_level() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = tmp.path().join("img.ome.zarr");
    copy_dir(&dir().join("v05_handmade.ome.zarr"), &image);
    let img = image.to_str().expect("UTF-8");
    let plain = tmp.path().join("plain.zarr");
    let common = [
        "--cell",
        "10,10",
        "--stride",
        "0.5",
        "--synthetic",
        "3",
        "--reduce",
        "argmax",
        "--quiet",
    ];
    for out in [
        &["--out", img, "--ome-labels", "pred"][..],
        &["--out", plain.to_str().expect("UTF-8")],
    ] {
        let args: Vec<&str> = ["stitch", img]
            .iter()
            .chain(&common)
            .chain(out)
            .copied()
            .collect();
        let (ok, err) = impart_status(&args);
        assert!(ok, "{err}");
    }
    // the image now lists its label image, which has the image's levels
    let v = ZarrOptions::new().open(&image).expect("the image");
    assert_eq!(
        v.ome().map(|o| o.labels.clone()),
        Some(vec!["pred".to_string()])
    );
    let label = |k| {
        ZarrOptions::new()
            .level(k)
            .open(image.join("labels/pred"))
            .expect("a level")
    };
    let l0 = label(0);
    let ome = l0.ome().expect("OME metadata").clone();
    assert!(ome.is_label);
    assert_eq!(ome.label_source.as_deref(), Some("../../"));
    let image_ome = v.ome().expect("OME").clone();
    for (a, b) in ome.levels.iter().zip(&image_ome.levels) {
        assert_eq!((&a.path, &a.shape), (&b.path, &b.shape));
        assert!(close(&a.transform.scale, &b.transform.scale));
        assert!(close(&a.transform.translation, &b.transform.translation));
    }
    let level0: Vec<u8> = read_all(l0);
    let want: Vec<u8> = read_all(ZarrOptions::new().open(&plain).expect("plain"));
    assert_eq!(level0, want);
    assert!(
        level0.iter().any(|&x| x != level0[0]),
        "more than one class"
    );
    // level 1 (15 x 25, scale twice level 0's, translation shifted half a
    // level-0 voxel... as the fixture has it): nearest level-0 voxel
    let (t0, t1) = (
        &image_ome.levels[0].transform,
        &image_ome.levels[1].transform,
    );
    let level1: Vec<u8> = read_all(label(1));
    assert_eq!(level1.len(), 15 * 25);
    for (j, &got) in level1.iter().enumerate() {
        let (y, x) = (j / 25, j % 25);
        let src = |a: usize, i: usize, n: usize| {
            let w = t1.translation[a] + t1.scale[a] * i as f64;
            (((w - t0.translation[a]) / t0.scale[a])
                .round_ties_even()
                .max(0.0) as usize)
                .min(n - 1)
        };
        assert_eq!(
            got,
            level0[src(0, y, 30) * 50 + src(1, x, 50)],
            "level 1 at {y},{x}"
        );
    }
    // a second run resumes nothing and keeps the list as it is
    let args: Vec<&str> = ["stitch", img]
        .iter()
        .chain(&common)
        .chain(&["--out", img, "--ome-labels", "pred", "--resume"])
        .copied()
        .collect();
    assert!(impart_status(&args).0);
    let v = ZarrOptions::new().open(&image).expect("the image");
    assert_eq!(v.ome().map(|o| o.labels.len()), Some(1));
}

#[test]
fn label_images_refuse_what_they_cannot_hold() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = tmp.path().join("img.ome.zarr");
    copy_dir(&dir().join("v05_handmade.ome.zarr"), &image);
    let img = image.to_str().expect("UTF-8");
    let s0 = image.join("s0");
    let plain_input = s0.to_str().expect("UTF-8");
    for (args, says) in [
        // channels are not labels
        (
            vec![
                "stitch",
                img,
                "--cell",
                "10,10",
                "--synthetic",
                "2",
                "--out",
                img,
                "--ome-labels",
                "p",
            ],
            "reduce the channels",
        ),
        (
            vec![
                "stitch",
                img,
                "--cell",
                "10,10",
                "--synthetic",
                "2",
                "--reduce",
                "argmax",
                "--out",
                img,
                "--ome-labels",
                "a/b",
            ],
            "one path component",
        ),
        (
            vec![
                "stitch",
                plain_input,
                "--cell",
                "10,10",
                "--synthetic",
                "2",
                "--reduce",
                "argmax",
                "--out",
                img,
                "--ome-labels",
                "p",
            ],
            "plain array",
        ),
        (
            vec![
                "stitch",
                img,
                "--cell",
                "10,10",
                "--synthetic",
                "2",
                "--reduce",
                "argmax",
                "--out",
                plain_input,
                "--ome-labels",
                "p",
            ],
            "not an OME-Zarr image",
        ),
    ] {
        let (ok, err) = impart_status(&args);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    // nothing was left behind
    assert!(!image.join("labels").exists());
}
