//! Fragmentation: every selected cell written to its own file, in parallel
//! (feature `fragment`).
//!
//! ```no_run
//! use impart::fragment::{Format, FragmentOptions};
//! use impart::Partition;
//!
//! let volume = impart::open("sub-01_T1w.nii.gz")?; // any format (NIfTI: feature `nifti`)
//! let part = Partition::builder(volume).cell(&[96, 96, 96]).stride(0.5).build()?;
//! let report = FragmentOptions::new("cells")
//!     .format(Format::Nii)
//!     .resume(true) // skip what an interrupted run already finished
//!     .fragment(&part, "...")?;
//! println!("{} cells, {} bytes in {:.1} s", report.cells, report.bytes_written, report.seconds);
//! # Ok::<(), impart::Error>(())
//! ```
//!
//! # Files
//!
//! Each cell goes to its own file in the output directory, named by its grid
//! index, zero-padded per axis to the width of that axis's largest index
//! (`cell_03_12_1.npy` in a grid of 16 x 29 x 2 cells), so names sort in
//! C order of the cells. The file holds the materialized cell (padding under
//! [`Edge::Pad`](crate::Edge::Pad), the channel list of
//! [`PartitionBuilder::channels`](crate::PartitionBuilder::channels)) in the
//! stored element type:
//!
//! | [`Format`] | file | layout |
//! |---|---|---|
//! | `npy` (default) | `.npy` through `ndarray-npy` | the cell's shape in volume axis order; `fortran_order` follows the volume (F for NIfTI, C for raw C-order files and arrays), so `numpy.load` gives the cell's shape either way |
//! | `nii` | `.nii`, NIfTI-1 single file | 348-byte header + 4 zero extension bytes, data at offset 352, little-endian, Fortran order (first axis fastest); the volume's axes are written as x, y, z, … in their order (a NIfTI source's own axes); the cell's affine ([`Selected::affine`](crate::Selected::affine)) as sform and qform, both with code 1 (scanner); `scl_slope`/`scl_inter` of the source carried over. A source without an affine gets the identity moved to the cell's start (voxel units), so the cells still overlay each other |
//! | `raw` | `.raw` | the bare elements, little-endian, C order of the cell's shape; the manifest adds `dtype`, `order` and `byte_order` |
//! | `png` | `.png` through `image` (feature `image`) | 2-D cells `(height, width)` or `(height, width, channels)` with 1-4 channels on a carried (not partitioned) last axis, of `u8` or `u16`; gray, gray+alpha, RGB, RGBA |
//! | `tiff` | `.tiff` through the `tiff` crate (feature `tiff`; else `image`, as PNG) | the same 2-D cells, uncompressed, of any sample type (gray of every type; RGB and RGBA of unsigned and float samples); no gray+alpha. With [`FragmentOptions::georeference`] each file carries the GeoTIFF tags of its window |
//! | `zarr` | a `.zarr` directory (feature `zarr`) | one Zarr v3 array per cell, one chunk (the cell's shape), zstd level 3 |
//!
//! Zarr output is one array per cell rather than one array of all cells: it
//! keeps the one-file-per-cell contract every other format has (a cell is
//! finished, skipped on resume and handed to a worker as a unit), cells of a
//! clipped border keep their own shape, and overlapping cells (stride < 1)
//! need no extra axis that would duplicate voxels in a layout unlike the
//! source's. One chunk per cell reads back with one decode.
//!
//! A cell that a format cannot hold (a 3-D cell as PNG, an `f32` cell as
//! PNG, a NIfTI extent above 32767) is an [`Error::InvalidArgument`]
//! before anything is written.
//!
//! # The manifest
//!
//! `manifest.jsonl` has one JSON object per selected cell, in C order of the
//! cells: `index` (grid index), `start` (first voxel, volume axes), `shape`
//! (the file's shape), `file` (name relative to the directory), `dtype`,
//! for raw files `order` (`"C"`) and `byte_order` (`"little"`), and
//! `world_origin` when the volume has a world map: x, y, z in millimetres
//! for an affine (NIfTI), one per volume axis in the axes' units for an
//! OME-Zarr level.
//!
//! # Nothing half-written, and resuming
//!
//! Every file (every Zarr directory) is written under a temporary name in the
//! output directory (`.<name>.impart-tmp`) and renamed into place when it is
//! complete. The manifest is written last, the same way, from the partition
//! itself (not from the files), so its presence means every cell is there,
//! and it is removed when a run starts. A run killed at any moment leaves
//! finished cells under their final names, at most one temporary file per
//! worker, and no manifest.
//!
//! With [`resume(true)`](FragmentOptions::resume) a cell whose final file
//! exists and is complete (for `npy`, `raw` and `nii` the size is checked
//! against the header and shape; `png`/`tiff` files and Zarr directories
//! exist only once complete) is skipped; the rest are written, stale
//! temporary files are removed, and the manifest is written. The directory
//! then holds exactly the bytes an uninterrupted run writes: every writer
//! here is deterministic. Without resume, every selected cell is rewritten.
//!
//! An input file that changes while the cells are read (rewritten in
//! place, replaced by a rename) fails the run after its last cell with
//! [`Error::Changed`], before the manifest is written; see
//! [`Volume::check_unchanged`].
//!
//! One run per directory at a time: two runs writing the same directory
//! share temporary names.
//!
//! Renaming protects against a killed process. Against a power loss, ask
//! for [`sync(true)`](FragmentOptions::sync): each file is flushed to disk
//! before its rename and the directory after the manifest (slower).
//!
//! # Memory and threads
//!
//! Cells are written in parallel on the current rayon pool (use
//! `ThreadPool::install` to choose the number of threads). Each worker
//! materializes one cell at a time into its own reused buffer, writes it and
//! moves on, so resident memory is a few cells per worker, whatever the
//! volume's size.

mod encode;
mod merge;
mod plan;
mod progress;
mod read;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::partition::{Partition, Shard};
use crate::selection::IntoSelection;
use crate::volume::Volume;
pub use merge::{merge, shard_manifest_name, MergeReport};
use plan::Plan;
pub use progress::{FragmentEvent, ProgressHook};
pub use read::{parse_manifest, read_manifest, Fragments, GridDescription, ManifestEntry};

/// Name of the manifest in the output directory.
pub const MANIFEST: &str = "manifest.jsonl";

/// The file name of the grid description beside the manifest (see
/// [`grid_json`]).
pub const GRID: &str = "grid.json";

/// The grid of `part` as the JSON object that `grid.json` holds and
/// `impart grid --json` prints: `volume_shape`, `cell_shape`, `step`,
/// `grid_shape`, `cells`, `axes` (the partitioned volume axes),
/// `carried_axes`, `edge` (`clip`, `shift` or `pad`) and `dtype`. It is all
/// a later step (a stitch of per-cell predictions) needs to rebuild the
/// same grid.
pub fn grid_json<V: Volume>(part: &Partition<V>) -> serde_json::Value {
    let g = part.grid();
    let ndim = part.volume().shape().len();
    let carried: Vec<usize> = (0..ndim).filter(|a| !part.axes().contains(a)).collect();
    serde_json::json!({
        "volume_shape": part.volume().shape(),
        "cell_shape": g.cell_shape(),
        "step": g.step(),
        "grid_shape": g.shape(),
        "cells": g.len(),
        "axes": part.axes(),
        "carried_axes": carried,
        "edge": g.edge().name(),
        "dtype": part.volume().dtype().name(),
    })
}

/// The file name `fragment` gives the cell at `index` of a grid of
/// `grid_shape` cells in `format` (`cell_03_12_1.npy`: each index
/// zero-padded to the width of its axis's largest index), which is also the
/// name `impart stitch --predictions` looks for.
pub fn cell_file_name(grid_shape: &[usize], index: &[usize], format: Format) -> String {
    named(&widths(grid_shape), index, format.extension())
}

/// Digits of each axis's largest cell index.
fn widths(grid_shape: &[usize]) -> Vec<usize> {
    grid_shape
        .iter()
        .map(|&n| n.saturating_sub(1).max(1).to_string().len())
        .collect()
}

fn named(widths: &[usize], index: &[usize], extension: &str) -> String {
    let mut s = String::from("cell");
    for (&i, &w) in index.iter().zip(widths) {
        s.push_str(&format!("_{i:0w$}"));
    }
    s.push_str(extension);
    s
}

/// The file format cells are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// NumPy `.npy` (the default).
    #[default]
    Npy,
    /// NIfTI-1 single file `.nii`, with the cell's affine.
    Nii,
    /// Bare little-endian elements in C order, `.raw`.
    Raw,
    /// PNG image (2-D `u8`/`u16` cells with 1-4 channels; feature `image`).
    Png,
    /// TIFF image (2-D `u8`/`u16` cells with 1, 3 or 4 channels; feature
    /// `image`).
    Tiff,
    /// One Zarr v3 array (zstd) per cell, a `.zarr` directory (feature
    /// `zarr`).
    Zarr,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Npy,
        Format::Nii,
        Format::Raw,
        Format::Png,
        Format::Tiff,
        Format::Zarr,
    ];

    /// The name used on the command line (`"npy"`, `"nii"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Nii => "nii",
            Format::Raw => "raw",
            Format::Png => "png",
            Format::Tiff => "tiff",
            Format::Zarr => "zarr",
        }
    }

    /// The extension of a cell's file, with its dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Npy => ".npy",
            Format::Nii => ".nii",
            Format::Raw => ".raw",
            Format::Png => ".png",
            Format::Tiff => ".tiff",
            Format::Zarr => ".zarr",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "npy" => Ok(Format::Npy),
            "nii" | "nifti" => Ok(Format::Nii),
            "raw" => Ok(Format::Raw),
            "png" => Ok(Format::Png),
            "tif" | "tiff" => Ok(Format::Tiff),
            "zarr" => Ok(Format::Zarr),
            _ => Err(Error::InvalidArgument {
                what: "format",
                detail: format!("{s:?} is not one of npy, nii, raw, png, tiff, zarr"),
            }),
        }
    }
}

/// Options of a fragmentation, and the run itself
/// ([`fragment`](Self::fragment)); see the [module docs](self).
#[derive(Debug, Clone)]
pub struct FragmentOptions {
    out_dir: PathBuf,
    format: Format,
    resume: bool,
    sync: bool,
    progress: Option<ProgressHook>,
    shard: Shard,
    #[cfg(feature = "tiff")]
    pub(super) georeference: Option<crate::volume::tiff::GeoTiff>,
}

impl FragmentOptions {
    /// Writes into `out_dir` (created if missing), as `.npy`, not resuming.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        FragmentOptions {
            out_dir: out_dir.into(),
            format: Format::default(),
            resume: false,
            sync: false,
            progress: None,
            shard: Shard::whole(),
            #[cfg(feature = "tiff")]
            georeference: None,
        }
    }

    /// The file format (default [`Format::Npy`]).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Skip cells whose complete file is already there (default false:
    /// rewrite every selected cell).
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Flush every file to disk before its rename, and the directory at the
    /// end, so a power loss cannot leave a renamed but empty file (default
    /// false; a killed process never leaves one either way).
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// A progress callback, or none.
    pub fn progress(mut self, hook: Option<ProgressHook>) -> Self {
        self.progress = hook;
        self
    }

    /// Write only the cells of `shard` ([`Partition::shard_split`]; default
    /// the whole selection): the other shards' workers write theirs into
    /// the same directory at the same time, each with its own partial
    /// manifest ([`shard_manifest_name`]) instead of `manifest.jsonl`, and
    /// [`merge`] checks that every cell is there and writes the manifest
    /// one run would have written. With [`resume`](Self::resume), a shard
    /// skips its own finished cells.
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// TIFF output: the GeoTIFF georeference of the source (a GeoTIFF's
    /// [`TiffVolume::geo`](crate::TiffVolume::geo)); each cell's file then
    /// carries the tags of its own window ([`GeoTiff::window`]: the
    /// source's coordinate reference system, the affine moved to the
    /// cell's first pixel), so the tiles land in place in QGIS or GDAL.
    /// The cells' first two axes must be the source's rows and columns.
    ///
    /// [`GeoTiff::window`]: crate::volume::tiff::GeoTiff::window
    #[cfg(feature = "tiff")]
    pub fn georeference(mut self, geo: Option<crate::volume::tiff::GeoTiff>) -> Self {
        self.georeference = geo;
        self
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Writes every cell of `selection` to its own file and the manifest.
    ///
    /// Cells are written in parallel on the current rayon pool. The first
    /// error stops the run (cells in flight finish or are removed; nothing
    /// half-written stays under a final name) and is returned; a later
    /// `resume(true)` run picks up from there.
    ///
    /// # Errors
    ///
    /// [`Error::Selection`] if the selection does not parse or resolve;
    /// [`Error::InvalidArgument`], before anything is written, if the format
    /// cannot hold the cells (see the [module docs](self)) or this build
    /// lacks its feature; [`Error::Io`] naming the output directory if it
    /// cannot be made, listed or synced, naming a file that cannot be
    /// removed (the old manifest, a stale temporary file), or naming the
    /// temporary file (or, for a rename, the final name) of a cell or the
    /// manifest that cannot be written; [`Error::Write`] naming a cell's
    /// temporary file or directory if an encoder (`npy`, image, Zarr)
    /// fails; a cell's materialization error ([`Error::TooLarge`], or the
    /// volume's read error; see
    /// [`Selected::to_array_as`](crate::Selected::to_array_as));
    /// [`Error::Changed`] after the last cell if the input file changed
    /// while the cells were read ([`Volume::check_unchanged`]): the cells'
    /// files stay, the manifest is not written, and a `resume(true)` run
    /// would skip the cells already written, so fragment again without
    /// resume (or into a fresh directory) once the input is settled.
    pub fn fragment<V: Volume>(
        &self,
        part: &Partition<V>,
        selection: impl IntoSelection,
    ) -> Result<FragmentReport> {
        let t0 = Instant::now();
        let cells = selection.into_selection()?.resolve(part.grid().shape())?;
        let plan = Plan::new(self, part, &cells)?;
        #[cfg(feature = "remote")]
        let remote = plan.remote.clone();
        #[cfg(not(feature = "remote"))]
        let remote: Option<()> = None;
        if remote.is_none() {
            fs::create_dir_all(&self.out_dir).map_err(|e| Error::io(&self.out_dir, e))?;
        }
        plan.clean()?;
        #[cfg(feature = "remote")]
        let sent = remote.as_ref().map(|r| r.stats().bytes_sent);
        let (written, skipped, mut bytes_written) = crate::dispatch_dtype!(part.volume().dtype(), T => {
            let files = plan::CellFiles::<V, T>::new(&plan);
            crate::sink::feed(part, &cells, &files)?;
            files.totals()
        });
        // into an object store: every byte put this run, metadata included
        #[cfg(feature = "remote")]
        if let (Some(r), Some(before)) = (&remote, sent) {
            bytes_written = r.stats().bytes_sent - before;
        }
        Ok(FragmentReport {
            cells: written + skipped,
            written,
            skipped,
            bytes_written,
            seconds: t0.elapsed().as_secs_f64(),
            manifest: self.out_dir.join(plan.manifest_name()),
        })
    }
}

/// What a fragmentation did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FragmentReport {
    /// Cells selected (lines in the manifest), or for a shard the cells of
    /// the shard.
    pub cells: usize,
    /// Cells written by this run.
    pub written: usize,
    /// Cells a resumed run found finished and left alone.
    pub skipped: usize,
    /// Bytes of the files this run wrote (manifest not counted).
    pub bytes_written: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Path of the manifest (of a shard: its partial manifest).
    pub manifest: PathBuf,
}
// ---------------------------------------------------------------------------
// NIfTI-1

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert_eq!("TIF".parse::<Format>().unwrap(), Format::Tiff);
        assert!("jpeg".parse::<Format>().is_err());
    }
}
