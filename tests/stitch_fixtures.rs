//! The stitcher against outputs that other implementations wrote
//! (`tests/data/stitch`, made by `data-scripts/stitch_reference.py` and
//! `stitch_monai.py`): an independent NumPy implementation of the formulas,
//! MONAI 1.6.1's `sliding_window_inference` (gaussian) and TorchIO 1.2.1's
//! `GridAggregator` (hann), all on the synthetic predictor. The blended
//! channels must agree within float rounding (our sums run in plan order,
//! theirs in C order of the cells), the argmax labels and threshold masks
//! exactly (the script checked that no voxel is within 1e-5 of a tie).

use std::path::{Path, PathBuf};

use impart::grid::Edge;
use impart::output::ArrayOutput;
use impart::stitch::{synthetic, Blend, ChannelAxis, OutputSink, Reduce, StitchOptions, Stitcher};
use impart::{AnyVolume, DType, PadMode, Partition, RawOptions, Volume};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::ReadNpyExt;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stitch")
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as usize)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn npy<T: ndarray_npy::ReadableElement>(name: &str) -> ArrayD<T> {
    let f = std::fs::File::open(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    ArrayD::<T>::read_npy(f).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn open(input: &Value) -> AnyVolume {
    let file = dir().join(input["file"].as_str().expect("file"));
    match input["format"].as_str() {
        Some("raw") => {
            assert_eq!(input["dtype"], "<f4");
            assert_eq!(input["order"], "C");
            AnyVolume::Raw(
                RawOptions::new(&usizes(&input["shape"]), DType::F32)
                    .open(&file)
                    .expect("raw input"),
            )
        }
        _ => impart::open(&file).expect("NIfTI input"),
    }
}

/// Stitches `part` with the synthetic predictor into memory, `reduce`d.
fn stitch(
    part: &Partition<AnyVolume>,
    blend: &Blend,
    channels: usize,
    reduce: Reduce,
) -> ArrayD<f32> {
    let spatial = part.grid().volume_shape().to_vec();
    let (shape, dtype) = reduce
        .output(&spatial, channels, ChannelAxis::First, None)
        .unwrap();
    let sink = OutputSink::new(
        ArrayOutput::new(&shape, dtype).unwrap(),
        reduce,
        channels,
        ChannelAxis::First,
    )
    .unwrap();
    {
        let s = Stitcher::<f32>::new(
            part.grid(),
            channels,
            &StitchOptions::new(blend.clone()),
            &sink,
        )
        .unwrap();
        s.run(
            |cell| {
                let v = part.cell(cell)?.to_array_as::<f32>()?;
                s.add(cell, synthetic(v.view(), part.axes(), channels).view())
            },
            &|_, _| {},
        )
        .unwrap();
        s.finish().unwrap();
    }
    let out = sink.into_output();
    match dtype {
        DType::F32 => out.into_array::<f32>().unwrap(),
        _ => out.into_array::<u8>().unwrap().mapv(f32::from),
    }
}

#[test]
fn every_case_matches_the_implementation_that_recorded_it() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap();
    let inputs = cases["inputs"].as_array().unwrap();
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = inputs
            .iter()
            .find(|i| i["file"] == case["input"])
            .unwrap_or_else(|| panic!("{name}: input"));
        let edge = match case["edge"].as_str().unwrap() {
            "clip" => Edge::Clip,
            "shift" => Edge::Shift,
            _ => Edge::Pad(PadMode::Constant(0.0)),
        };
        let part = Partition::builder(open(input))
            .cell(&usizes(&case["cell"]))
            .step(f64s(&case["steps"]))
            .edge(edge)
            .build()
            .unwrap();
        assert_eq!(part.volume().shape(), usizes(&case["shape"]).as_slice());
        let blend = match case["blend"].as_str().unwrap() {
            "mean" => Blend::Mean,
            "hann" => Blend::Hann,
            "crop" => Blend::Crop,
            _ => match &case["sigma_scale"] {
                Value::Null => Blend::gaussian(),
                s => Blend::Gaussian {
                    sigma_scale: f64s(s),
                },
            },
        };
        let channels = case["channels"].as_u64().unwrap() as usize;
        let want = npy::<f32>(case["expected"].as_str().unwrap());
        let got = stitch(&part, &blend, channels, Reduce::None);
        let got = got
            .into_shape_with_order(IxDyn(want.shape()))
            .unwrap_or_else(|e| panic!("{name}: shape {e}"));
        // a few ulps: sums in another order (and TorchIO's own f32 window)
        let tol = 5e-7;
        let mut worst = 0.0f32;
        for (g, w) in got.iter().zip(want.iter()) {
            worst = worst.max((g - w).abs() / (1.0 + w.abs()));
        }
        eprintln!("{name}: blended channels within {worst:e}");
        assert!(worst <= tol, "{name}: blended channels differ by {worst:e}");
        if let Some(labels) = case["labels"].as_str() {
            let want = npy::<u8>(labels);
            let got = stitch(&part, &blend, channels, Reduce::Argmax);
            let differ = got
                .iter()
                .zip(want.iter())
                .filter(|(g, w)| **g != f32::from(**w))
                .count();
            assert_eq!(differ, 0, "{name}: {differ} labels differ");
        }
        if let Some(t) = case["threshold"].as_object() {
            let want = npy::<u8>(t["file"].as_str().unwrap());
            let reduce = Reduce::Threshold {
                channel: t["channel"].as_u64().unwrap() as usize,
                value: t["value"].as_f64().unwrap(),
            };
            let got = stitch(&part, &blend, channels, reduce);
            assert!(
                got.iter()
                    .zip(want.iter())
                    .all(|(g, w)| *g == f32::from(*w)),
                "{name}: threshold mask differs"
            );
        }
        checked += 1;
    }
    assert!(checked >= 27, "{checked} cases");
}
