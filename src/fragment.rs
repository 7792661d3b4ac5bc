//! Fragmentation: every selected cell written to its own file, in parallel
//! (feature `fragment`).
//!
//! ```no_run
//! use impart::fragment::{Format, FragmentOptions};
//! use impart::{NiftiVolume, Partition};
//!
//! let volume = NiftiVolume::open("sub-01_T1w.nii.gz")?;
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
//! | `nii` | `.nii`, NIfTI-1 single file | 348-byte header + 4 zero extension bytes, data at offset 352, little-endian, Fortran order (first axis fastest); the volume's axes are written as x, y, z, … in their order (a NIfTI source's own axes); the cell's affine ([`Selected::affine`]) as sform and qform, both with code 1 (scanner); `scl_slope`/`scl_inter` of the source carried over. A source without an affine gets the identity moved to the cell's start (voxel units), so the cells still overlay each other |
//! | `raw` | `.raw` | the bare elements, little-endian, C order of the cell's shape; the manifest adds `dtype`, `order` and `byte_order` |
//! | `png`, `tiff` | `.png`, `.tiff` through `image` (feature `image`) | 2-D cells `(height, width)` or `(height, width, channels)` with 1-4 channels on a carried (not partitioned) last axis, of `u8` or `u16`; gray, gray+alpha, RGB, RGBA (TIFF: no gray+alpha, which the `image` crate cannot write) |
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
//! TIFF, a NIfTI extent above 32767) is an [`Error::InvalidArgument`]
//! before anything is written.
//!
//! # The manifest
//!
//! `manifest.jsonl` has one JSON object per selected cell, in C order of the
//! cells: `index` (grid index), `start` (first voxel, volume axes), `shape`
//! (the file's shape), `file` (name relative to the directory), `dtype`,
//! for raw files `order` (`"C"`) and `byte_order` (`"little"`), and
//! `world_origin` (millimetres) when the volume has an affine (NIfTI).
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

use std::fmt;
use std::fs::{self, File};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ndarray::{ArrayView, ArrayViewD, ArrayViewMut, IxDyn, ShapeBuilder};
use ndarray_npy::npy::header::Header as NpyHeader;
use ndarray_npy::{WritableElement, WriteNpyError, WriteNpyExt};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::format::nifti::{nifti1_header, nifti_dims, translation, NII_VOX_OFFSET};
use crate::grid::CellBox;
use crate::io::{is_temp_name, remove_if_exists, sync_dir, write_atomic, write_dir_atomic};
use crate::partition::{Partition, Selected};
use crate::selection::IntoSelection;
use crate::volume::{MemoryOrder, Volume};

/// Name of the manifest in the output directory.
pub const MANIFEST: &str = "manifest.jsonl";

/// zstd level of Zarr output (zstd's own default).
#[cfg(feature = "zarr")]
const ZSTD_LEVEL: i32 = 3;

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

/// What a progress hook is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FragmentEvent {
    /// Before any cell is written: the number of selected cells, and how
    /// many of them a resumed run found finished.
    Started {
        /// Cells selected.
        total: usize,
        /// Cells already finished (skipped).
        skipped: usize,
    },
    /// A cell's file is in place. Sent from worker threads, in completion
    /// order; `done` counts finished cells, skipped ones included.
    CellWritten {
        /// Cells finished so far (skipped included), this one counted.
        done: usize,
        /// Cells selected.
        total: usize,
        /// Bytes of the file just written.
        bytes: u64,
    },
}

/// A callback for progress reports; it runs on worker threads, so it should
/// be quick (an atomic add, a progress bar's `inc`).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use impart::fragment::{FragmentEvent, ProgressHook};
///
/// let written = Arc::new(AtomicUsize::new(0));
/// let count = written.clone();
/// let hook = ProgressHook::new(move |e| {
///     if let FragmentEvent::CellWritten { .. } = e {
///         count.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// # let _ = hook;
/// ```
#[derive(Clone)]
pub struct ProgressHook(Arc<dyn Fn(&FragmentEvent) + Send + Sync>);

impl ProgressHook {
    /// Wraps a callback.
    pub fn new(f: impl Fn(&FragmentEvent) + Send + Sync + 'static) -> Self {
        ProgressHook(Arc::new(f))
    }

    fn call(&self, event: &FragmentEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHook(..)")
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
    pub fn fragment<V: Volume>(
        &self,
        part: &Partition<V>,
        selection: impl IntoSelection,
    ) -> Result<FragmentReport> {
        let t0 = Instant::now();
        let cells = selection.into_selection()?.resolve(part.grid().shape())?;
        let plan = Plan::new(self, part, &cells)?;
        fs::create_dir_all(&self.out_dir).map_err(|e| Error::io(&self.out_dir, e))?;
        plan.clean()?;
        let (written, skipped, bytes_written) = crate::dispatch_dtype!(part.volume().dtype(), T => {
            plan.run::<T>()?
        });
        plan.write_manifest()?;
        if self.sync {
            sync_dir(&self.out_dir)?;
        }
        Ok(FragmentReport {
            cells: cells.len(),
            written,
            skipped,
            bytes_written,
            seconds: t0.elapsed().as_secs_f64(),
            manifest: self.out_dir.join(MANIFEST),
        })
    }
}

/// What a fragmentation did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FragmentReport {
    /// Cells selected (lines in the manifest).
    pub cells: usize,
    /// Cells written by this run.
    pub written: usize,
    /// Cells a resumed run found finished and left alone.
    pub skipped: usize,
    /// Bytes of the files this run wrote (manifest not counted).
    pub bytes_written: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Path of the manifest.
    pub manifest: PathBuf,
}

/// Everything a run needs to name, check and write cells.
struct Plan<'a, V> {
    options: &'a FragmentOptions,
    part: &'a Partition<V>,
    cells: &'a CellBox,
    /// Digits per grid axis in file names.
    widths: Vec<usize>,
    /// Memory order of `.npy` files (the volume's).
    npy_order: MemoryOrder,
}

fn invalid_format(format: Format, detail: String) -> Error {
    Error::InvalidArgument {
        what: "format",
        detail: format!("{format}: {detail}"),
    }
}

impl<'a, V: Volume> Plan<'a, V> {
    fn new(
        options: &'a FragmentOptions,
        part: &'a Partition<V>,
        cells: &'a CellBox,
    ) -> Result<Self> {
        let widths = part
            .grid()
            .shape()
            .iter()
            .map(|&n| n.saturating_sub(1).max(1).to_string().len())
            .collect();
        let volume = part.volume();
        // F only when the volume's strides are F and not also C (a shape
        // with one non-trivial axis is both)
        let npy_order = match volume.layout() {
            Some(l)
                if l.strides() == MemoryOrder::F.strides(volume.shape()).as_slice()
                    && l.strides() != MemoryOrder::C.strides(volume.shape()).as_slice() =>
            {
                MemoryOrder::F
            }
            _ => MemoryOrder::C,
        };
        let plan = Plan {
            options,
            part,
            cells,
            widths,
            npy_order,
        };
        plan.check_format()?;
        Ok(plan)
    }

    fn format(&self) -> Format {
        self.options.format
    }

    fn dir(&self) -> &Path {
        &self.options.out_dir
    }

    fn cell(&self, k: usize) -> Selected<'a, V> {
        self.part.nth_cell(self.cells, k)
    }

    /// Refuses, before anything is written, cells the format cannot hold.
    /// The first cell has the largest extents on every axis (later cells
    /// are only ever clipped), so checking it checks them all.
    fn check_format(&self) -> Result<()> {
        let format = self.format();
        let dtype = self.part.volume().dtype();
        let shape = self.cell(0).shape();
        match format {
            Format::Npy | Format::Raw => Ok(()),
            Format::Nii => nifti_dims(&shape)
                .map(|_| ())
                .map_err(|d| invalid_format(Format::Nii, format!("{d} (write npy, raw or zarr)"))),
            Format::Png | Format::Tiff => {
                if !cfg!(feature = "image") {
                    return Err(invalid_format(
                        format,
                        "this build has no image support (feature `image`)".into(),
                    ));
                }
                image_layout(format, dtype, &shape, self.part.axes()).map(|_| ())
            }
            Format::Zarr => {
                if cfg!(feature = "zarr") {
                    Ok(())
                } else {
                    Err(invalid_format(
                        format,
                        "this build has no Zarr support (feature `zarr`)".into(),
                    ))
                }
            }
        }
    }

    /// The file name of the cell at `index`.
    fn name(&self, index: &[usize]) -> String {
        let mut s = String::from("cell");
        for (&i, &w) in index.iter().zip(&self.widths) {
            s.push_str(&format!("_{i:0w$}"));
        }
        s.push_str(self.format().extension());
        s
    }

    /// Removes the manifest (it is rewritten last) and temporary files a
    /// killed run left behind.
    fn clean(&self) -> Result<()> {
        let dir = self.dir();
        remove_if_exists(&dir.join(MANIFEST))?;
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if is_temp_name(&name) {
                remove_if_exists(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Writes every cell not already finished; returns (written, skipped,
    /// bytes written).
    fn run<T: Element + WritableElement>(&self) -> Result<(usize, usize, u64)> {
        let total = self.cells.len();
        let finished: Vec<bool> = if self.options.resume {
            (0..total)
                .into_par_iter()
                .map(|k| self.is_complete::<T>(&self.cell(k)))
                .collect()
        } else {
            vec![false; total]
        };
        let skipped = finished.iter().filter(|&&f| f).count();
        let hook = self.options.progress.as_ref();
        if let Some(h) = hook {
            h.call(&FragmentEvent::Started { total, skipped });
        }
        let done = AtomicUsize::new(skipped);
        let bytes = AtomicU64::new(0);
        self.part
            .walk::<T, _, _>(self.cells, &|k| !finished[k], |cell, buf| {
                let n = self.write_cell(cell, buf)?;
                bytes.fetch_add(n, Ordering::Relaxed);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(h) = hook {
                    h.call(&FragmentEvent::CellWritten {
                        done: d,
                        total,
                        bytes: n,
                    });
                }
                Ok(())
            })?;
        Ok((total - skipped, skipped, bytes.load(Ordering::Relaxed)))
    }

    /// Bytes of the cell's elements in the stored type.
    fn data_bytes(&self, cell: &Selected<'_, V>) -> Option<u64> {
        cell.shape()
            .iter()
            .try_fold(self.part.volume().dtype().size() as u64, |a, &n| {
                a.checked_mul(n as u64)
            })
    }

    /// Whether the cell's final file is there and complete.
    fn is_complete<T: Element + WritableElement>(&self, cell: &Selected<'_, V>) -> bool {
        let path = self.dir().join(self.name(&cell.index()));
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let Some(data) = self.data_bytes(cell) else {
            return false;
        };
        match self.format() {
            Format::Raw => meta.is_file() && meta.len() == data,
            Format::Nii => meta.is_file() && meta.len() == NII_VOX_OFFSET as u64 + data,
            Format::Npy => {
                meta.is_file() && npy_complete::<T>(&path, &cell.shape(), data, meta.len())
            }
            Format::Png | Format::Tiff => meta.is_file() && meta.len() > 0,
            Format::Zarr => meta.is_dir() && path.join("zarr.json").is_file(),
        }
    }

    /// Materializes and writes one cell; returns the bytes written.
    fn write_cell<T: Element + WritableElement>(
        &self,
        cell: &Selected<'_, V>,
        buf: &mut Vec<T>,
    ) -> Result<u64> {
        let name = self.name(&cell.index());
        let sync = self.options.sync;
        let dir = self.dir();
        match self.format() {
            Format::Npy => {
                let view = materialize(self.part.volume().name(), cell, buf, self.npy_order)?;
                write_atomic(&dir.join(&name), sync, |w, path| {
                    view.write_npy(w).map_err(|e| match e {
                        WriteNpyError::Io(e) => Error::io(path, e),
                        e => Error::write(path, e),
                    })
                })
            }
            Format::Raw => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                let data = contiguous(&view)?;
                write_atomic(&dir.join(&name), sync, |w, path| write_le(w, data, path))
            }
            Format::Nii => {
                let shape = cell.shape();
                let affine = cell
                    .affine()
                    .unwrap_or_else(|| translation(cell.region().start()));
                let header = nifti1_header(
                    &shape,
                    T::DTYPE,
                    &affine,
                    self.part.volume().scaling(),
                    &format!("impart cell {}", join(&cell.index(), ",")),
                )
                .map_err(|d| invalid_format(Format::Nii, d))?;
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::F)?;
                let data = contiguous(&view)?;
                write_atomic(&dir.join(&name), sync, |w, path| {
                    w.write_all(&header).map_err(|e| Error::io(path, e))?;
                    write_le(w, data, path)
                })
            }
            Format::Png | Format::Tiff => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                self.write_image(&name, &view)
            }
            Format::Zarr => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                self.write_zarr(&name, &view)
            }
        }
    }

    #[cfg(feature = "image")]
    fn write_image<T: Element>(&self, name: &str, view: &ArrayViewD<'_, T>) -> Result<u64> {
        use image::{ExtendedColorType as C, ImageFormat};
        let format = self.format();
        let (height, width, color) =
            image_layout(format, T::DTYPE, view.shape(), self.part.axes())?;
        let data = contiguous(view)?;
        let color = match color {
            (DType::U8, 1) => C::L8,
            (DType::U8, 2) => C::La8,
            (DType::U8, 3) => C::Rgb8,
            (DType::U8, 4) => C::Rgba8,
            (DType::U16, 1) => C::L16,
            (DType::U16, 2) => C::La16,
            (DType::U16, 3) => C::Rgb16,
            _ => C::Rgba16,
        };
        let image_format = if format == Format::Png {
            ImageFormat::Png
        } else {
            ImageFormat::Tiff
        };
        write_atomic(&self.dir().join(name), self.options.sync, |w, path| {
            // 16-bit samples go in native byte order; the encoders convert
            image::write_buffer_with_format(
                w,
                bytemuck::cast_slice(data),
                width,
                height,
                color,
                image_format,
            )
            .map_err(|e| match e {
                image::ImageError::IoError(e) => Error::io(path, e),
                e => Error::write(path, e),
            })
        })
    }

    #[cfg(not(feature = "image"))]
    fn write_image<T: Element>(&self, _name: &str, _view: &ArrayViewD<'_, T>) -> Result<u64> {
        Err(invalid_format(
            self.format(),
            "this build has no image support (feature `image`)".into(),
        ))
    }

    #[cfg(feature = "zarr")]
    fn write_zarr<T: Element>(&self, name: &str, view: &ArrayViewD<'_, T>) -> Result<u64> {
        use zarrs::array::codec::bytes_to_bytes::zstd::ZstdCodec;
        use zarrs::array::{ArrayBuilder, ArrayBytes, ArrayMetadataOptions, FillValue};
        use zarrs::filesystem::FilesystemStore;

        let data = contiguous(view)?;
        let shape: Vec<u64> = view.shape().iter().map(|&n| n as u64).collect();
        let dtype = T::DTYPE;
        let zarr_type = crate::format::zarr::data_type(dtype);
        write_dir_atomic(&self.dir().join(name), self.options.sync, |path| {
            let store = FilesystemStore::new(path).map_err(|e| Error::write(path, e))?;
            // fill value 0 (all-zero bytes are 0 in every supported type)
            let array = ArrayBuilder::new(
                shape.clone(),
                shape.clone(),
                zarr_type,
                FillValue::from(vec![0u8; dtype.size()]),
            )
            .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(ZSTD_LEVEL, false))])
            .build(Arc::new(store), "/")
            .map_err(|e| Error::write(path, e))?;
            // no zarrs version stamp: the output depends on the data only
            array
                .store_metadata_opt(
                    &ArrayMetadataOptions::default().with_include_zarrs_metadata(false),
                )
                .map_err(|e| Error::write(path, e))?;
            array
                .store_chunk(
                    &vec![0u64; shape.len()],
                    ArrayBytes::from(bytemuck::cast_slice::<T, u8>(data)),
                )
                .map_err(|e| Error::write(path, e))
        })
    }

    #[cfg(not(feature = "zarr"))]
    fn write_zarr<T: Element>(&self, _name: &str, _view: &ArrayViewD<'_, T>) -> Result<u64> {
        Err(invalid_format(
            self.format(),
            "this build has no Zarr support (feature `zarr`)".into(),
        ))
    }

    /// One manifest line.
    fn manifest_line(&self, cell: &Selected<'_, V>) -> Value {
        let index = cell.index();
        let mut line = json!({
            "index": index,
            "start": cell.region().start(),
            "shape": cell.shape(),
            "file": self.name(&index),
            "dtype": self.part.volume().dtype().name(),
        });
        if self.format() == Format::Raw {
            line["order"] = json!("C");
            line["byte_order"] = json!("little");
        }
        if let Some(w) = cell.world_origin() {
            line["world_origin"] = json!(w);
        }
        line
    }

    /// Writes the manifest atomically, one line per selected cell in C order.
    fn write_manifest(&self) -> Result<()> {
        write_atomic(&self.dir().join(MANIFEST), self.options.sync, |w, path| {
            for k in 0..self.cells.len() {
                let line = self.manifest_line(&self.cell(k));
                writeln!(w, "{line}").map_err(|e| Error::io(path, e))?;
            }
            Ok(())
        })
        .map(|_| ())
    }
}

/// Materializes a cell into `buf` (reused from cell to cell) in `order`.
fn materialize<'b, T: Element, V: Volume>(
    volume: &str,
    cell: &Selected<'_, V>,
    buf: &'b mut Vec<T>,
    order: MemoryOrder,
) -> Result<ArrayViewD<'b, T>> {
    let shape = cell.shape();
    let too_large = || Error::TooLarge {
        volume: volume.to_string(),
        shape: shape.clone(),
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|n| {
            n.checked_mul(std::mem::size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(too_large)?;
    // every element is overwritten: only grow, never clear
    buf.truncate(n);
    buf.try_reserve(n - buf.len()).map_err(|_| too_large())?;
    buf.resize(n, T::default());
    let f = order == MemoryOrder::F;
    let layout_error = |e: ndarray::ShapeError| Error::InvalidLayout {
        volume: volume.to_string(),
        detail: format!("cell buffer layout: {e}"),
    };
    let dst = ArrayViewMut::from_shape(IxDyn(&shape).set_f(f), buf.as_mut_slice())
        .map_err(layout_error)?;
    cell.read_into(dst)?;
    ArrayView::from_shape(IxDyn(&shape).set_f(f), buf.as_slice()).map_err(layout_error)
}

/// The elements of a contiguous view in memory order.
fn contiguous<'b, T>(view: &ArrayViewD<'b, T>) -> Result<&'b [T]> {
    view.to_slice_memory_order()
        .ok_or_else(|| Error::InvalidLayout {
            volume: "<cell buffer>".into(),
            detail: "a materialized cell is not contiguous".into(),
        })
}

/// Writes elements as little-endian bytes.
fn write_le<T: Element>(w: &mut impl Write, data: &[T], path: &Path) -> Result<()> {
    let io = |e| Error::io(path, e);
    if cfg!(target_endian = "little") || std::mem::size_of::<T>() == 1 {
        return w.write_all(bytemuck::cast_slice(data)).map_err(io);
    }
    let size = std::mem::size_of::<T>();
    let mut scratch = Vec::with_capacity(1 << 16);
    for chunk in data.chunks((1 << 16) / size) {
        scratch.clear();
        for x in chunk {
            let b = bytemuck::bytes_of(x);
            scratch.extend(b.iter().rev());
        }
        w.write_all(&scratch).map_err(io)?;
    }
    Ok(())
}

/// Whether `path` is a complete `.npy` of `shape` and `T`: its header
/// parses, names this type and shape, and the file holds exactly the header
/// plus `data` bytes.
fn npy_complete<T: WritableElement>(path: &Path, shape: &[usize], data: u64, len: u64) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let Ok(header) = NpyHeader::from_reader(&mut f) else {
        return false;
    };
    let Ok(header_len) = f.stream_position() else {
        return false;
    };
    header.shape == shape
        && header.type_descriptor == T::type_descriptor()
        && header_len.checked_add(data) == Some(len)
}

fn join<T: fmt::Display>(v: &[T], sep: &str) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

// ---------------------------------------------------------------------------
// Images

/// `(height, width, (dtype, channels))` of a cell written as an image, or
/// why it cannot be one.
fn image_layout(
    format: Format,
    dtype: DType,
    shape: &[usize],
    partitioned: &[usize],
) -> Result<(u32, u32, (DType, usize))> {
    if !matches!(dtype, DType::U8 | DType::U16) {
        return Err(invalid_format(
            format,
            format!("image cells must be u8 or u16, not {dtype} (write npy, nii, raw or zarr)"),
        ));
    }
    let channels = match shape.len() {
        2 => 1,
        3 if !partitioned.contains(&2) && (1..=4).contains(&shape[2]) => shape[2],
        _ => {
            return Err(invalid_format(
                format,
                format!(
                    "image cells are (height, width) or (height, width, channels) with 1-4 \
                     channels on a carried last axis; these cells have shape {shape:?} with \
                     partitioned axes {partitioned:?}"
                ),
            ))
        }
    };
    if format == Format::Tiff && channels == 2 {
        return Err(invalid_format(
            format,
            "the TIFF encoder cannot write gray+alpha (2 channels); write png, or select \
             1, 3 or 4 channels"
                .into(),
        ));
    }
    let side = |n: usize| {
        u32::try_from(n).map_err(|_| {
            invalid_format(
                format,
                format!("a cell side of {n} pixels is too large for an image"),
            )
        })
    };
    Ok((side(shape[0])?, side(shape[1])?, (dtype, channels)))
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
