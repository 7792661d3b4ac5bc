//! Reading a fragment directory back: `grid.json` as a [`GridDescription`]
//! (and the [`Grid`] it describes), `manifest.jsonl` as
//! [`ManifestEntry`] lines, and both checked against each other by
//! [`Fragments::open`].
//!
//! These files may come from anywhere (an archive, another version, a
//! hand edit), so every value is checked before it is used: types, ranks,
//! that the axes are a partition of the volume's, that the grid they
//! describe rebuilds to the recorded shape, and that every manifest line
//! names a cell of that grid with that cell's region and a plain file name
//! inside the directory. Any problem is [`Error::InvalidHeader`] naming the
//! file, the line and the key.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{GRID, MANIFEST};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::grid::{Edge, Grid, PadMode, Spacing};

/// The contents of a `grid.json` (the object [`grid_json`](super::grid_json)
/// writes), read back and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct GridDescription {
    /// The shape of the whole volume, carried axes included.
    pub volume_shape: Vec<usize>,
    /// The cell extent on each partitioned axis.
    pub cell_shape: Vec<usize>,
    /// The step between cell starts on each partitioned axis, in voxels.
    pub step: Vec<f64>,
    /// Cells along each partitioned axis.
    pub grid_shape: Vec<usize>,
    /// The partitioned volume axes, in grid order.
    pub axes: Vec<usize>,
    /// The volume axes that are not partitioned (each cell holds all of
    /// them), ascending.
    pub carried_axes: Vec<usize>,
    /// The edge policy. `grid.json` records `pad` without its fill, which
    /// does not change any cell's region; the grid is rebuilt with the
    /// default fill.
    pub edge: Edge,
    /// The element type of the volume.
    pub dtype: DType,
}

impl GridDescription {
    /// Reads and checks a `grid.json` file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be read; otherwise as
    /// [`GridDescription::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of a `grid.json`; `path` names it in
    /// errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] naming `path` if the text is not one JSON
    /// object, a key is missing or of the wrong type, `edge` is not `clip`,
    /// `shift` or `pad`, `dtype` is not a type name, the ranks of the
    /// per-axis lists differ, `axes` and `carried_axes` are not together
    /// each volume axis once, the grid does not build (an extent of 0, a
    /// step that is not a positive finite number) or builds to another
    /// `grid_shape` or cell count than recorded.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| invalid(path, format!("not JSON ({e})")))?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid(path, "not a JSON object".into()))?;
        let at = |detail: String| invalid(path, detail);
        let keys = Keys { object, at: &at };
        let edge = match keys.string("edge")? {
            "clip" => Edge::Clip,
            "shift" => Edge::Shift,
            "pad" => Edge::Pad(PadMode::default()),
            other => {
                return Err(at(format!(
                    "edge is {other:?}, not \"clip\", \"shift\" or \"pad\""
                )))
            }
        };
        let dtype_name = keys.string("dtype")?;
        let dtype = DType::from_name(dtype_name)
            .ok_or_else(|| at(format!("dtype {dtype_name:?} is not an element type")))?;
        let description = GridDescription {
            volume_shape: keys.usizes("volume_shape")?,
            cell_shape: keys.usizes("cell_shape")?,
            step: keys.floats("step")?,
            grid_shape: keys.usizes("grid_shape")?,
            axes: keys.usizes("axes")?,
            carried_axes: keys.usizes("carried_axes")?,
            edge,
            dtype,
        };
        let cells = keys.usize("cells")?;
        description.check(cells, &at)?;
        Ok(description)
    }

    /// Checks ranks, the axis partition and the rebuilt grid's shape.
    fn check(&self, cells: usize, at: &dyn Fn(String) -> Error) -> Result<()> {
        let ndim = self.volume_shape.len();
        let rank = self.axes.len();
        for (key, len) in [
            ("cell_shape", self.cell_shape.len()),
            ("step", self.step.len()),
            ("grid_shape", self.grid_shape.len()),
        ] {
            if len != rank {
                return Err(at(format!("{key} has {len} entries but axes has {rank}")));
            }
        }
        let mut seen = vec![false; ndim];
        for &a in self.axes.iter().chain(&self.carried_axes) {
            match seen.get_mut(a) {
                None => {
                    return Err(at(format!(
                        "axis {a} is not an axis of a {ndim}-D volume_shape"
                    )))
                }
                Some(true) => return Err(at(format!("axis {a} is listed twice"))),
                Some(s) => *s = true,
            }
        }
        if let Some(a) = seen.iter().position(|s| !s) {
            return Err(at(format!("axis {a} is in neither axes nor carried_axes")));
        }
        if self.carried_axes.windows(2).any(|w| w[0] > w[1]) {
            return Err(at("carried_axes are not ascending".into()));
        }
        let grid = self
            .build()
            .map_err(|e| at(format!("the grid does not build: {e}")))?;
        if grid.shape() != self.grid_shape.as_slice() {
            return Err(at(format!(
                "grid_shape is {:?}, but the grid it describes has {:?}",
                self.grid_shape,
                grid.shape()
            )));
        }
        if grid.len() != cells {
            return Err(at(format!(
                "cells is {cells}, but the grid it describes has {}",
                grid.len()
            )));
        }
        Ok(())
    }

    fn build(&self) -> std::result::Result<Grid, crate::GridError> {
        let dims: Vec<usize> = self.axes.iter().map(|&a| self.volume_shape[a]).collect();
        Grid::builder(&dims)
            .cell(&self.cell_shape)
            .spacing(Spacing::Step(self.step.clone().into()))
            .edge(self.edge)
            .build()
    }

    /// The grid this file describes, over the partitioned axes (in
    /// [`GridDescription::axes`] order). A description from
    /// [`GridDescription::parse`] always builds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if an axis is not one of
    /// `volume_shape`'s (possible only for a description built by hand);
    /// [`Error::Grid`] if the grid does not build.
    pub fn grid(&self) -> Result<Grid> {
        for &a in &self.axes {
            if a >= self.volume_shape.len() {
                return Err(Error::InvalidArgument {
                    what: "grid description",
                    detail: format!(
                        "axis {a} is not an axis of volume_shape {:?}",
                        self.volume_shape
                    ),
                });
            }
        }
        Ok(self.build()?)
    }
}

/// One line of `manifest.jsonl`: a cell and its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// The cell's index in the grid.
    pub index: Vec<usize>,
    /// The first voxel of the cell's region in the volume (every axis).
    pub start: Vec<usize>,
    /// The shape of the cell's region in the volume (every axis).
    pub shape: Vec<usize>,
    /// The cell's file name, relative to the directory.
    pub file: String,
    /// The element type of the file.
    pub dtype: DType,
    /// The world coordinates of the cell's first voxel, when the source
    /// has an affine.
    pub world_origin: Option<Vec<f64>>,
}

/// Parses the text of a `manifest.jsonl`, one [`ManifestEntry`] per
/// non-empty line; `path` names it in errors.
///
/// # Errors
///
/// [`Error::InvalidHeader`] naming `path` and the line if a line is not a
/// JSON object, a key is missing or of the wrong type, `start` and
/// `shape` differ in rank, a `shape` extent is 0, `start + shape`
/// overflows, `dtype` is not a type name, or `file` is not a plain file
/// name (empty, `.`, `..`, or holding a path separator or NUL: a manifest
/// cannot point outside its directory).
pub fn parse_manifest(text: &str, path: &Path) -> Result<Vec<ManifestEntry>> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |detail: String| invalid(path, format!("line {}: {detail}", n + 1));
        let value: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON ({e})")))?;
        let object = value
            .as_object()
            .ok_or_else(|| at("not a JSON object".into()))?;
        let keys = Keys { object, at: &at };
        let (start, shape) = (keys.usizes("start")?, keys.usizes("shape")?);
        if start.len() != shape.len() {
            return Err(at(format!(
                "start has {} entries but shape has {}",
                start.len(),
                shape.len()
            )));
        }
        if let Some(a) = shape.iter().position(|&s| s == 0) {
            return Err(at(format!("shape is 0 on axis {a}")));
        }
        if start
            .iter()
            .zip(&shape)
            .any(|(&s, &e)| s.checked_add(e).is_none())
        {
            return Err(at("start + shape overflows".into()));
        }
        let file = keys.string("file")?;
        if file.is_empty() || file == "." || file == ".." || file.contains(['/', '\\', '\0']) {
            return Err(at(format!(
                "file {file:?} is not a plain file name in the directory"
            )));
        }
        let dtype_name = keys.string("dtype")?;
        let dtype = DType::from_name(dtype_name)
            .ok_or_else(|| at(format!("dtype {dtype_name:?} is not an element type")))?;
        let world_origin = match object.get("world_origin") {
            None | Some(Value::Null) => None,
            Some(_) => Some(keys.floats("world_origin")?),
        };
        entries.push(ManifestEntry {
            index: keys.usizes("index")?,
            start,
            shape,
            file: file.to_string(),
            dtype,
            world_origin,
        });
    }
    Ok(entries)
}

/// Reads and parses a `manifest.jsonl` file.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read; otherwise as
/// [`parse_manifest`].
pub fn read_manifest(path: impl AsRef<Path>) -> Result<Vec<ManifestEntry>> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_manifest(&text, path)
}

/// A complete fragment directory, read back: its grid and its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragments {
    /// The directory.
    pub dir: PathBuf,
    /// Its `grid.json`.
    pub grid: GridDescription,
    /// Its `manifest.jsonl`, in file order.
    pub entries: Vec<ManifestEntry>,
}

impl Fragments {
    /// Reads `grid.json` and `manifest.jsonl` of a directory `fragment`
    /// wrote and checks them against each other. A directory without a
    /// manifest is not complete (the manifest is written last).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if either file cannot be read (a missing manifest
    /// means the run did not finish); as [`GridDescription::parse`] and
    /// [`parse_manifest`]; otherwise as [`Fragments::check`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let grid = GridDescription::read(dir.join(GRID))?;
        let entries = read_manifest(dir.join(MANIFEST))?;
        let fragments = Fragments {
            dir: dir.to_path_buf(),
            grid,
            entries,
        };
        fragments.check()?;
        Ok(fragments)
    }

    /// Checks every manifest line against the grid: an index of the grid,
    /// given once, with that cell's region on the partitioned axes, a start
    /// inside the volume on the carried ones (which hold the whole extent
    /// or the selected channels), and the grid's element type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] naming the manifest and the line.
    pub fn check(&self) -> Result<()> {
        let path = self.dir.join(MANIFEST);
        let grid = self
            .grid
            .grid()
            .map_err(|e| invalid(&path, e.to_string()))?;
        let ndim = self.grid.volume_shape.len();
        let mut seen = std::collections::HashSet::new();
        for (n, e) in self.entries.iter().enumerate() {
            let at = |detail: String| invalid(&path, format!("entry {}: {detail}", n + 1));
            if e.start.len() != ndim {
                return Err(at(format!(
                    "start has {} entries but the volume has {ndim} axes",
                    e.start.len()
                )));
            }
            let region = grid
                .cell_region(&e.index)
                .map_err(|err| at(format!("index {:?}: {err}", e.index)))?;
            for (g, &a) in self.grid.axes.iter().enumerate() {
                let (want, got) = (
                    (region.start()[g], region.shape()[g]),
                    (e.start[a], e.shape[a]),
                );
                if want != got {
                    return Err(at(format!(
                        "cell {:?} spans {}..{} on axis {a} in the grid, not {}..{}",
                        e.index,
                        want.0,
                        want.0 + want.1,
                        got.0,
                        got.0 + got.1
                    )));
                }
            }
            // a carried axis holds the whole extent, or the selected
            // channels (as many as listed, repeats included)
            for &a in &self.grid.carried_axes {
                if e.start[a] >= self.grid.volume_shape[a] {
                    return Err(at(format!(
                        "start {} on carried axis {a} is past its extent {}",
                        e.start[a], self.grid.volume_shape[a]
                    )));
                }
            }
            if e.dtype != self.grid.dtype {
                return Err(at(format!(
                    "dtype {} differs from the grid's {}",
                    e.dtype.name(),
                    self.grid.dtype.name()
                )));
            }
            if !seen.insert(e.index.as_slice()) {
                return Err(at(format!("cell {:?} is listed twice", e.index)));
            }
        }
        Ok(())
    }

    /// The path of an entry's file.
    pub fn path_of(&self, entry: &ManifestEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }
}

fn invalid(path: &Path, detail: String) -> Error {
    Error::InvalidHeader {
        path: path.to_path_buf(),
        detail,
    }
}

/// Typed access to the keys of one JSON object, with errors naming the key.
struct Keys<'a> {
    object: &'a Map<String, Value>,
    at: &'a dyn Fn(String) -> Error,
}

impl<'a> Keys<'a> {
    fn get(&self, key: &str) -> Result<&'a Value> {
        self.object
            .get(key)
            .ok_or_else(|| (self.at)(format!("{key} is missing")))
    }

    fn string(&self, key: &str) -> Result<&'a str> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| (self.at)(format!("{key} is not a string")))
    }

    fn usize(&self, key: &str) -> Result<usize> {
        let v = self.get(key)?;
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| (self.at)(format!("{key} is {v}, not a non-negative integer")))
    }

    fn list(&self, key: &str) -> Result<&'a Vec<Value>> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| (self.at)(format!("{key} is not a list")))
    }

    fn usizes(&self, key: &str) -> Result<Vec<usize>> {
        self.list(key)?
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        (self.at)(format!("{key} holds {v}, not a non-negative integer"))
                    })
            })
            .collect()
    }

    fn floats(&self, key: &str) -> Result<Vec<f64>> {
        self.list(key)?
            .iter()
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| (self.at)(format!("{key} holds {v}, not a number")))
            })
            .collect()
    }
}
