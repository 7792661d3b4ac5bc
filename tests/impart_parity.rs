//! Parity with the original Python `impart` 0.0.5.
//!
//! `tests/data/impart_parity.json` holds what the original itself computed
//! (`data-scripts/record_impart_parity.py`, which builds `ImagePartition` over
//! a real PNG of each size): for hundreds of image sizes, cell shapes and
//! strides, its grid `shape`, `step_size` and, for each selection, the region
//! `(left, top, width, height)` from `compute_image_subregion` or the
//! exception it raised, together with NumPy's reading of the selection.
//!
//! Every record is checked:
//!
//! - our step equals the original's `step_size` exactly, and our grid shape
//!   equals the original's `shape`, except that a last cell the original
//!   counts although it starts at or after the image end is not counted here
//!   (documented in `src/grid.rs`; the rule is checked against the record);
//! - where the original agrees with NumPy, our cells are NumPy's and our region
//!   is the original's, exactly;
//! - where the original deviates from NumPy (the record says how), our cells
//!   are NumPy's (an error where NumPy selects nothing) and our region is the
//!   one the original gives for those cells as plain in-range slices;
//! - an exception of the original is an error here, unless the record marks a
//!   deviation of a documented kind.
//!
//! `cargo test --test impart_parity -- --nocapture` prints the deviations by
//! kind, with an example each.

use std::collections::BTreeMap;
use std::path::Path;

use impart::{Grid, PerAxis, Selection};
use serde_json::Value;

/// Ways the original differs from NumPy that this crate documents and
/// follows NumPy (or its own grid rule) in; see the generator's docstring.
const KINDS: &[(&str, &str)] = &[
    (
        "empty_last_cell",
        "the original counts a last cell starting at or after the image end; \
         our grid has one cell less on that axis",
    ),
    (
        "int_below_minus_n",
        "an int below -n: the original adds n once without a bound check \
         (another cell or a negative extent); we raise like NumPy",
    ),
    (
        "slice_start_below_minus_n",
        "a slice start below -n: the original gives a negative start (a box \
         outside the image); we clip it to 0 like NumPy",
    ),
    (
        "slice_nonneg_start_neg_stop",
        "[:-1], [2:-1]: the original raises 'Empty or inverted slice' before \
         resolving the stop; we select the cells like NumPy",
    ),
    (
        "slice_inverted_after_wrap",
        "[-1:2]: the original returns a box of zero or negative extent; NumPy \
         selects nothing, we raise",
    ),
    (
        "slice_step_ignored",
        "a slice step other than 1: the original ignores it; the cells are not \
         a box, we raise",
    ),
];

fn records() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/impart_parity.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run data-scripts/record_impart_parity.sh)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("impart_parity.json is JSON")
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("a non-negative integer") as usize)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_i64().expect("an integer"))
        .collect()
}

/// `[[y0, y1], [x0, x1]]` or null.
fn ranges(v: &Value) -> Option<Vec<(usize, usize)>> {
    if v.is_null() {
        return None;
    }
    Some(
        v.as_array()
            .expect("ranges")
            .iter()
            .map(|r| {
                let r = usizes(r);
                (r[0], r[1])
            })
            .collect(),
    )
}

/// The original's answer: a region `[left, top, width, height]` or an
/// exception's name.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Region(Vec<i64>),
    Raised(String),
}

fn answer(v: &Value) -> Answer {
    match v {
        Value::String(s) => Answer::Raised(s.clone()),
        v => Answer::Region(ints(v)),
    }
}

/// Cell ranges per axis and `[left, top, width, height]`.
type Cells = Vec<(usize, usize)>;
type Ltwh = Vec<i64>;

/// Our answer for a selection: the cells and the region, or the error.
fn ours(grid: &Grid, text: &str) -> Result<(Cells, Ltwh), String> {
    let sel: Selection = text.parse().map_err(|e| format!("{e}"))?;
    let cells = sel.resolve(grid.shape()).map_err(|e| format!("{e}"))?;
    let region = grid.region(&cells).map_err(|e| format!("{e}"))?;
    let (start, shape) = (region.start(), region.shape());
    let ltwh = [start[1], start[0], shape[1], shape[0]].map(|v| v as i64);
    let cells = cells.ranges().iter().map(|r| (r.start, r.end)).collect();
    Ok((cells, ltwh.to_vec()))
}

#[derive(Default)]
struct Kind {
    count: usize,
    example: Option<String>,
}

#[test]
fn parity_with_the_original() {
    let doc = records();
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["impart"], "0.0.5");
    let grids = doc["grids"].as_array().expect("grids");

    let mut kinds: BTreeMap<&str, Kind> =
        KINDS.iter().map(|(k, _)| (*k, Kind::default())).collect();
    let (mut n_sel, mut n_agree, mut n_regions, mut n_raised) = (0, 0, 0, 0);
    let mut n_grid_deviating = 0;
    let mut failures = Vec::new();

    for g in grids {
        let image = usizes(&g["image"]);
        let cell = usizes(&g["cell"]);
        let stride = match &g["stride"] {
            Value::Array(a) => PerAxis::Each(a.iter().map(|s| s.as_f64().unwrap()).collect()),
            s => PerAxis::All(s.as_f64().unwrap()),
        };
        let label = format!(
            "image {}x{} (h x w), cell {:?}, stride {}",
            image[0], image[1], cell, g["stride"]
        );
        let grid = Grid::new(&image, &cell, stride).unwrap_or_else(|e| panic!("{label}: {e}"));

        // step: the original's step_size, bit for bit
        let step: Vec<f64> = g["step"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        assert_eq!(grid.step(), &step[..], "{label}: step");

        // shape: the original's, less a last cell that holds no pixel
        let shape = usizes(&g["shape"]);
        let empty_last: Vec<bool> = match g.get("empty_last") {
            Some(v) => v
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect(),
            None => vec![false, false],
        };
        for axis in 0..2 {
            // the documented rule, against the original's own verdict
            let last_start = ((shape[axis] - 1) as f64 * step[axis]).ceil();
            assert_eq!(
                shape[axis] > 1 && last_start >= image[axis] as f64,
                empty_last[axis],
                "{label}: axis {axis}: the original's last cell starts at {last_start}"
            );
        }
        let want_shape: Vec<usize> = shape
            .iter()
            .zip(&empty_last)
            .map(|(&n, &e)| n - usize::from(e))
            .collect();
        assert_eq!(
            grid.shape(),
            &want_shape[..],
            "{label}: grid shape (original {shape:?})"
        );
        if want_shape != shape {
            n_grid_deviating += 1;
        }

        for s in g["sel"].as_array().unwrap() {
            n_sel += 1;
            let text = s["s"].as_str().unwrap();
            let orig = answer(&s["orig"]);
            // NumPy's reading on our grid ("npf" where it differs from "np")
            let want_cells = ranges(s.get("npf").unwrap_or(&s["np"]));
            let want_region = match (&want_cells, s.get("ref"), &orig) {
                (None, _, _) => None,
                (Some(_), Some(r), _) => Some(ints(r)),
                (Some(_), None, Answer::Region(r)) => Some(r.clone()),
                (Some(_), None, Answer::Raised(e)) => {
                    panic!("{label} [{text}]: record has cells but no region ({e})")
                }
            };
            let agrees = match (&orig, &want_region) {
                (Answer::Raised(_), None) => true,
                (Answer::Region(o), Some(w)) => o == w,
                _ => false,
            };
            match &orig {
                Answer::Region(_) => n_regions += 1,
                Answer::Raised(_) => n_raised += 1,
            }

            // ours: NumPy's cells, the original's region for them
            let got = ours(&grid, text);
            let ok = match (&got, &want_cells, &want_region) {
                (Ok((cells, region)), Some(wc), Some(wr)) => cells == wc && region == wr,
                (Err(_), None, None) => true,
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{label} [{text}]: ours {got:?}, want cells {want_cells:?} region \
                     {want_region:?} (original {orig:?})"
                ));
                continue;
            }

            // a deviation of the original must be recorded, of a known kind
            let dev: Vec<&str> = s
                .get("dev")
                .map(|d| {
                    d.as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            if agrees {
                n_agree += 1;
                if !dev.is_empty() {
                    failures.push(format!("{label} [{text}]: marked {dev:?} but agrees"));
                }
                continue;
            }
            if dev.is_empty() {
                failures.push(format!(
                    "{label} [{text}]: original {orig:?} differs from NumPy's \
                     {want_region:?} with no deviation recorded"
                ));
            }
            let mut seen = Vec::new();
            for k in dev {
                if seen.contains(&k) {
                    continue;
                }
                seen.push(k);
                let Some(kind) = kinds.get_mut(k) else {
                    failures.push(format!("{label} [{text}]: undocumented deviation {k:?}"));
                    continue;
                };
                kind.count += 1;
                if kind.example.is_none() {
                    let ours = match &got {
                        Ok((_, r)) => format!("{r:?}"),
                        Err(e) => format!("error: {e}"),
                    };
                    let orig = match &orig {
                        Answer::Region(r) => format!("{r:?}"),
                        Answer::Raised(e) => e.clone(),
                    };
                    kind.example = Some(format!(
                        "{label}, grid {shape:?}: [{text}] original {orig}, ours {ours}"
                    ));
                }
            }
        }
    }

    println!(
        "impart 0.0.5 parity: {} grids ({} with an empty last cell in the original), \
         {n_sel} selections: {n_regions} regions and {n_raised} exceptions in the original; \
         {n_agree} agree with NumPy, {} deviate",
        grids.len(),
        n_grid_deviating,
        n_sel - n_agree
    );
    for (name, about) in KINDS {
        let k = &kinds[name];
        println!("  {name}: {} selections — {about}", k.count);
        if let Some(e) = &k.example {
            println!("      e.g. {e}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n_sel} selections differ:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );

    // the records keep covering what they are for
    assert!(grids.len() >= 500 && n_sel >= 2500, "too few records");
    assert!(
        n_grid_deviating >= 20,
        "too few grids with an empty last cell"
    );
    assert!(n_agree >= 2000, "too few agreeing selections");
    for (name, _) in KINDS {
        assert!(kinds[name].count >= 5, "too few records of {name}");
    }
}

/// Cell shapes and strides that are not positive: the original checks tuples
/// but not scalars (a scalar stride 0 divides by zero, a negative one gives a
/// negative step and cell count); we reject them all.
#[test]
fn invalid_arguments_are_errors() {
    let doc = records();
    let invalid = doc["invalid"].as_array().expect("invalid");
    assert!(invalid.len() >= 5);
    let mut accepted_by_original = 0;
    for r in invalid {
        let image = usizes(&r["image"]);
        let cell = match &r["cell"] {
            Value::Array(_) => usizes(&r["cell"]),
            c => vec![c.as_u64().unwrap() as usize; 2],
        };
        let stride = match &r["stride"] {
            Value::Array(a) => PerAxis::Each(a.iter().map(|s| s.as_f64().unwrap()).collect()),
            s => PerAxis::All(s.as_f64().unwrap()),
        };
        if r["orig"].is_object() {
            accepted_by_original += 1;
        }
        let got = Grid::new(&image, &cell, stride);
        assert!(
            got.is_err(),
            "image {:?} cell {} stride {}: ours {got:?}, original {}",
            image,
            r["cell"],
            r["stride"],
            r["orig"]
        );
    }
    assert!(
        accepted_by_original >= 2,
        "records of grids the original accepts"
    );
}

/// The original README's example, as recorded (an anchor for the rest).
#[test]
fn readme_example_is_recorded() {
    let doc = records();
    let g = doc["grids"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["image"] == serde_json::json!([1080, 1920])
                && g["cell"] == serde_json::json!([128, 128])
                && g["stride"] == 0.5
        })
        .expect("the README grid");
    assert_eq!(g["shape"], serde_json::json!([16, 29]));
    assert_eq!(g["step"], serde_json::json!([64.0, 64.0]));
    let region = |text: &str| {
        let s = g["sel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["s"] == text)
            .unwrap_or_else(|| panic!("{text} recorded"));
        ints(&s["orig"])
    };
    assert_eq!(region("...,0"), [0, 0, 128, 1080]);
    assert_eq!(region(":3,15:21")[2..], [448, 256]);
    assert_eq!(region("10,-1"), [1792, 640, 128, 128]);
}
