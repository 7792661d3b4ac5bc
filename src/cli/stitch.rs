//! `impart stitch`: per-cell predictions (`.npy` files from a model, or
//! the built-in synthetic predictor) blended back into one output, region
//! by region, resumable.

use std::path::{Path, PathBuf};
use std::time::Instant;

use impart::fragment::{cell_file_name, grid_json, Format};
use impart::output::{
    resumable_temp_path, NiftiOutput, NiftiOutputOptions, OmeLabels, OutputVolume, RawOutput,
    RawOutputOptions, ZarrOutput,
};
use impart::stitch::{
    synthetic_into, Accumulator, Blend, Blocks, ChannelAxis, OutputSink, Reduce, StitchOptions,
    Stitcher, SyntheticBuffers,
};
use impart::{AnyVolume, DType, Error, Partition, Region, Result, Volume};
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

use super::args::{AccumulateArg, BlendArg, ReduceArg, StitchArgs};
use super::text::{human_bytes, print_json, progress_bar};

thread_local! {
    /// A worker's cell and prediction buffers, reused from cell to cell.
    static BUFFERS: std::cell::RefCell<(Vec<f32>, SyntheticBuffers)> =
        std::cell::RefCell::new((Vec::new(), SyntheticBuffers::default()));
}

/// Where predictions come from.
enum Source {
    Synthetic,
    /// The directory, and what its files were when checked (count, bytes,
    /// latest modification), for the job's description.
    Files(PathBuf, String),
}

/// The output, by extension.
// One value per run: boxing the Zarr variant would save nothing.
#[allow(clippy::large_enum_variant)]
enum Out {
    Nifti(NiftiOutput),
    Zarr(Box<ZarrOutput>),
    Raw(RawOutput),
}

impl Out {
    fn resumed(&self) -> bool {
        match self {
            Out::Nifti(o) => o.resumed(),
            Out::Zarr(o) => o.resumed(),
            Out::Raw(o) => o.resumed(),
        }
    }

    fn inner(&self) -> &dyn OutputVolume {
        match self {
            Out::Nifti(o) => o,
            Out::Zarr(o) => o.as_ref(),
            Out::Raw(o) => o,
        }
    }
}

impl OutputVolume for Out {
    fn name(&self) -> &str {
        self.inner().name()
    }
    fn shape(&self) -> &[usize] {
        self.inner().shape()
    }
    fn dtype(&self) -> DType {
        self.inner().dtype()
    }
    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()> {
        self.inner().write_region(region, data)
    }
    fn finish(&self) -> Result<()> {
        self.inner().finish()
    }
}

/// Output kinds by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nifti,
    Zarr,
    Raw,
}

fn kind_of(out: &Path) -> Result<Kind> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Ok(Kind::Nifti)
    } else if name.ends_with(".zarr") {
        Ok(Kind::Zarr)
    } else if name.ends_with(".raw") {
        Ok(Kind::Raw)
    } else {
        Err(Error::InvalidArgument {
            what: "--out",
            detail: format!(
                "{}: the extension says the format: .nii, .nii.gz, .zarr or .raw",
                out.display()
            ),
        })
    }
}

/// `.<name of out><suffix>` beside `out`.
fn beside(out: &Path, suffix: &str) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}{suffix}"))
}

/// The journal of a stitch into `out`.
fn journal_path(out: &Path) -> PathBuf {
    beside(out, ".impart-journal")
}

/// The journal of one worker of a sharded stitch into `out`.
fn shard_journal_path(out: &Path, shard: impart::Shard) -> PathBuf {
    beside(
        out,
        &format!(
            ".shard-{}-of-{}.impart-journal",
            shard.index(),
            shard.count()
        ),
    )
}

/// Runs the stitch.
pub fn run(part: &Partition<AnyVolume>, args: &StitchArgs) -> Result<()> {
    let t0 = Instant::now();
    let shard = super::input::shard(&args.shard)?;
    if shard.count() > 1 {
        let refuse = |detail: String| Error::InvalidArgument {
            what: "--shard",
            detail,
        };
        if args.ome_labels.is_some() {
            return Err(refuse(
                "an OME-Zarr label image has levels computed from the whole of level 0: stitch it in one run".into(),
            ));
        }
        if kind_of(&args.out)? != Kind::Zarr
            || impart::volume::is_remote(&args.out.to_string_lossy())
        {
            return Err(refuse(format!(
                "{}: a stitch splits over workers into a local (or shared) .zarr output, whose chunks each worker writes alone",
                args.out.display()
            )));
        }
        if args.resume && ZarrOutput::shard_done_path(&args.out, shard).exists() {
            println!(
                "shard {shard} of {} is complete: nothing to resume",
                args.out.display()
            );
            return Ok(());
        }
    }
    // an OME-Zarr label image: the array inside the image group
    let labels = match (&args.ome_labels, part.volume()) {
        (None, _) => None,
        (Some(name), AnyVolume::Zarr(v)) => Some(OmeLabels::new(&args.out, name, v)?),
        (Some(_), v) => {
            return Err(Error::InvalidArgument {
                what: "--ome-labels",
                detail: format!(
                    "{}: a label image takes the axes and transforms of an OME-Zarr input, and this is {}",
                    v.name(),
                    v.kind()
                ),
            })
        }
    };
    let target = match &labels {
        Some(l) => l.array_path(),
        None => args.out.clone(),
    };
    let kind = match labels {
        Some(_) => Kind::Zarr,
        None => kind_of(&args.out)?,
    };
    let (source, channels) = match (&args.predictions, args.synthetic) {
        (_, Some(0)) => {
            return Err(Error::InvalidArgument {
                what: "--synthetic",
                detail: "at least one channel".into(),
            })
        }
        (_, Some(c)) => (Source::Synthetic, c),
        (Some(dir), None) => {
            let (c, files) = check_predictions(part, dir)?;
            (Source::Files(dir.clone(), files), c)
        }
        (None, None) => {
            return Err(Error::InvalidArgument {
                what: "stitch",
                detail: "give --predictions DIR or --synthetic C".into(),
            })
        }
    };
    if shard.count() == 1 && args.resume && target.exists() {
        // an output the shards of a split stitch write: each resumes its own
        let name = target
            .file_name()
            .map(|n| format!(".{}.shard-", n.to_string_lossy()))
            .unwrap_or_default();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let sharded = std::fs::read_dir(&parent)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&name))
            })
            .unwrap_or(false);
        if sharded {
            return Err(Error::InvalidArgument {
                what: "--resume",
                detail: format!(
                    "{} is written by the shards of a split stitch (their journals or markers are beside it): resume each with --shard K/N --resume, then impart merge",
                    target.display()
                ),
            });
        }
    }
    if shard.count() == 1
        && args.resume
        && target.exists()
        && !resumable_temp_path(&target).exists()
    {
        // complete: the rename is the last step of a stitch (for a label
        // image, then its metadata, written again)
        let _ = std::fs::remove_file(journal_path(&target));
        if let Some(l) = &labels {
            l.finish()?;
        }
        println!("{} is complete: nothing to resume", target.display());
        return Ok(());
    }
    let to = Target {
        path: &target,
        labels: labels.as_ref(),
    };
    match args.accumulate {
        AccumulateArg::F32 => stitch_with::<f32>(part, args, kind, &to, &source, channels, t0),
        AccumulateArg::F64 => stitch_with::<f64>(part, args, kind, &to, &source, channels, t0),
    }
}

/// Where a stitch writes: `--out`, or the array of an OME-Zarr label image.
struct Target<'a> {
    path: &'a Path,
    labels: Option<&'a OmeLabels>,
}

fn stitch_with<A: Accumulator>(
    part: &Partition<AnyVolume>,
    args: &StitchArgs,
    kind: Kind,
    to: &Target<'_>,
    source: &Source,
    channels: usize,
    t0: Instant,
) -> Result<()> {
    let grid = part.grid();
    let shard = super::input::shard(&args.shard)?;
    let blend = match args.blend {
        BlendArg::Mean => Blend::Mean,
        BlendArg::Gaussian => Blend::Gaussian {
            sigma_scale: args.sigma_scale.clone(),
        },
        BlendArg::Hann => Blend::Hann,
        BlendArg::Crop => Blend::Crop,
    };
    if let Blend::Gaussian { sigma_scale } = &blend {
        if (sigma_scale.len() != 1 && sigma_scale.len() != grid.ndim())
            || sigma_scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(Error::InvalidArgument {
                what: "--sigma-scale",
                detail: format!(
                    "{sigma_scale:?}: one positive number, or one per partitioned axis ({})",
                    grid.ndim()
                ),
            });
        }
    }
    let reduce = match (args.threshold, args.reduce) {
        (Some(value), _) => Reduce::Threshold {
            channel: args.channel,
            value,
        },
        (None, ReduceArg::Argmax) => Reduce::Argmax,
        (None, ReduceArg::None) => Reduce::None,
    };
    let out_dtype = match &args.out_dtype {
        None => None,
        Some(t) => {
            if reduce != Reduce::None {
                return Err(Error::InvalidArgument {
                    what: "--out-dtype",
                    detail: "only for the blended channels (--reduce none)".into(),
                });
            }
            Some(DType::from_name(t).ok_or_else(|| Error::InvalidArgument {
                what: "--out-dtype",
                detail: format!("{t:?} is not one of u8 i8 u16 i16 u32 i32 u64 i64 f32 f64"),
            })?)
        }
    };
    if kind == Kind::Nifti && part.axes().windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::InvalidArgument {
            what: "--axes",
            detail: format!(
                "{:?}: a NIfTI output keeps the source's affine, so its partitioned axes must be in the source's order",
                part.axes()
            ),
        });
    }
    let axis = if kind == Kind::Nifti {
        ChannelAxis::Last
    } else {
        ChannelAxis::First
    };
    let spatial = grid.volume_shape().to_vec();
    let (shape, dtype) = reduce.output(&spatial, channels, axis, out_dtype)?;
    if let Some(labels) = to.labels {
        labels.check(&shape, !dtype.is_float())?;
    }
    let blocks = match kind {
        Kind::Zarr => {
            let b = match &args.chunks {
                Some(c) if c.len() == grid.ndim() && !c.contains(&0) => c.clone(),
                Some(c) => {
                    return Err(Error::InvalidArgument {
                        what: "--chunks",
                        detail: format!(
                            "{c:?}: one extent above 0 per partitioned axis ({})",
                            grid.ndim()
                        ),
                    })
                }
                None => grid
                    .step()
                    .iter()
                    .zip(&spatial)
                    .map(|(&s, &n)| (s.ceil() as usize).max(16).min(n))
                    .collect(),
            };
            Blocks::Regular(b)
        }
        _ => Blocks::Natural,
    };
    let out = match kind {
        Kind::Nifti => Out::Nifti(
            NiftiOutputOptions::like(part.volume())
                .shape(&shape)
                .dtype(dtype)
                .descrip("stitched by impart")
                .resumable(args.resume)
                .create(&args.out)?,
        ),
        Kind::Raw => Out::Raw(
            RawOutputOptions::new(&shape, dtype)
                .byte_order(impart::ByteOrder::Little)
                .resumable(args.resume)
                .create(&args.out)?,
        ),
        Kind::Zarr => {
            let Blocks::Regular(b) = &blocks else {
                unreachable!("Zarr outputs have regular blocks")
            };
            let chunks: Vec<usize> = if shape.len() > b.len() {
                std::iter::once(channels).chain(b.iter().copied()).collect()
            } else {
                b.clone()
            };
            if let Some(labels) = to.labels {
                labels.prepare()?;
            }
            let format = to.labels.map_or(3, |l| l.zarr_format());
            let names = to.labels.and_then(|l| l.dimension_names());
            Out::Zarr(Box::new(if shard.count() > 1 {
                ZarrOutput::create_shard(
                    to.path,
                    &shape,
                    &chunks,
                    dtype,
                    format,
                    names.as_deref(),
                    shard,
                    args.resume,
                )?
            } else {
                ZarrOutput::create_resumable_as(
                    to.path,
                    &shape,
                    &chunks,
                    dtype,
                    args.resume,
                    format,
                    names.as_deref(),
                )?
            }))
        }
    };
    let resumed = out.resumed();
    let job = serde_json::json!({
        "impart": env!("CARGO_PKG_VERSION"),
        "input": part.volume().name(),
        "input_file": file_stamp(Path::new(part.volume().name())),
        "edge": format!("{:?}", grid.edge()),
        "grid": grid_json(part),
        "channels": channels,
        "blend": blend.name(),
        "sigma_scale": args.sigma_scale,
        "reduce": format!("{reduce:?}"),
        "dtype": dtype.name(),
        "accumulate": A::DTYPE.name(),
        "blocks": format!("{blocks:?}"),
        "source": match source {
            Source::Synthetic => format!("synthetic {channels}"),
            Source::Files(dir, files) => format!(
                "predictions {} ({files})",
                std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()).display()
            ),
        },
    })
    .to_string();
    let sink = OutputSink::new(out, reduce, channels, axis)?;
    let mut options = StitchOptions::new(blend.clone())
        .blocks(blocks)
        .scratch(args.scratch.clone())
        .shard(shard);
    // an output in an object store is not resumable (no journal for it)
    if !impart::volume::is_remote(&to.path.to_string_lossy()) {
        let journal = if shard.count() > 1 {
            shard_journal_path(to.path, shard)
        } else {
            journal_path(to.path)
        };
        options = options.journal(journal, job, resumed);
    }
    let stitcher = Stitcher::<A>::new(grid, channels, &options, &sink)?;
    let bar = progress_bar(
        args.quiet,
        "{elapsed_precise} [{wide_bar}] {pos}/{len} cells (eta {eta})",
    );
    let predict = |cell: &[usize]| -> Result<()> {
        match source {
            Source::Synthetic => BUFFERS.with(|b| {
                let (input, prediction) = &mut *b.borrow_mut();
                let values = part.cell(cell)?.read_into_vec::<f32>(input)?;
                let p = synthetic_into(values, part.axes(), channels, prediction);
                stitcher.add(cell, p)
            }),
            Source::Files(dir, _) => {
                let path = dir.join(cell_file_name(grid.shape(), cell, Format::Npy));
                let dtype = npy_dtype(&path)?;
                impart::dispatch_dtype!(dtype, T => {
                    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                    let p = ArrayD::<T>::read_npy(file).map_err(|e| Error::InvalidArgument {
                        what: "prediction",
                        detail: format!("{}: {e}", path.display()),
                    })?;
                    stitcher.add(cell, p.view())
                })
            }
        }
    };
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    stitcher.run(predict, &progress)?;
    bar.finish_and_clear();
    // before the output is completed (renamed into place): an input that
    // changed while its cells were read leaves it unfinished
    part.volume().check_unchanged()?;
    let report = stitcher.finish()?;
    if let Some(labels) = to.labels {
        labels.finish()?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let chunk_writes = match sink.output() {
        Out::Zarr(z) => Some(z.chunk_writes()),
        _ => None,
    };
    if args.json {
        let mut summary = serde_json::json!({
            "out": to.path.display().to_string(),
            "shape": shape,
            "dtype": dtype.name(),
            "channels": channels,
            "blend": blend.name(),
            "reduce": match reduce {
                Reduce::None => "none",
                Reduce::Argmax => "argmax",
                Reduce::Threshold { .. } => "threshold",
            },
            "cells": grid.len(),
            "cells_added": report.cells_added,
            "regions": report.regions,
            "resumed_regions": report.resumed,
            "buffered": report.buffered,
            "peak_accumulator_bytes": report.peak_accumulator_bytes,
            "planned_peak_bytes": report.planned_peak_bytes,
            "chunk_writes": chunk_writes,
            "puts": match sink.output() {
                Out::Zarr(z) => z.remote_stats().map(|r| r.puts),
                _ => None,
            },
            "order": stitcher.order(),
            "seconds": seconds,
            "threads": rayon::current_num_threads(),
        });
        if shard.count() > 1 {
            summary["shard"] = serde_json::json!(shard.index());
            summary["shards"] = serde_json::json!(shard.count());
            summary["foreign_regions"] = serde_json::json!(report.foreign);
        }
        print_json(&summary);
    } else {
        let mut resumed_text = if report.resumed > 0 {
            format!(", {} regions resumed", report.resumed)
        } else {
            String::new()
        };
        if shard.count() > 1 {
            resumed_text.push_str(&format!(
                " ({} of shard {shard}, {} left to the other shards)",
                report.regions - report.foreign,
                report.foreign
            ));
        }
        println!(
            "stitched {} of {} cells ({channels} channels, {}) into {}: {:?} {}, {} regions{resumed_text}; accumulators peaked at {} (plan: {}) in {:.2} s on {} threads",
            report.cells_added,
            grid.len(),
            blend.name(),
            to.path.display(),
            shape,
            dtype,
            report.regions,
            human_bytes(report.peak_accumulator_bytes),
            human_bytes(report.planned_peak_bytes),
            seconds,
            rayon::current_num_threads(),
        );
    }
    Ok(())
}

/// Checks every cell's prediction file before anything is written: there,
/// a readable `.npy` of a supported type, shape `(C, *cell)` or `(*cell)`,
/// the same C in all; a `grid.json` beside them must describe this grid.
/// Returns C.
fn check_predictions(part: &Partition<AnyVolume>, dir: &Path) -> Result<(usize, String)> {
    let grid = part.grid();
    let grid_file = dir.join(impart::fragment::GRID);
    if let Ok(text) = std::fs::read_to_string(&grid_file) {
        // a malformed grid.json is refused with what is wrong in it
        impart::fragment::GridDescription::parse(&text, &grid_file)?;
        let theirs: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::InvalidArgument {
                what: "--predictions",
                detail: format!("{}: {e}", grid_file.display()),
            })?;
        let ours = grid_json(part);
        for key in [
            "volume_shape",
            "cell_shape",
            "step",
            "grid_shape",
            "axes",
            "edge",
        ] {
            if theirs.get(key) != ours.get(key) {
                return Err(Error::InvalidArgument {
                    what: "--predictions",
                    detail: format!(
                        "{} describes another grid: {key} is {} there, {} here (give the grid flags fragment was given)",
                        grid_file.display(),
                        theirs.get(key).unwrap_or(&serde_json::Value::Null),
                        ours.get(key).unwrap_or(&serde_json::Value::Null)
                    ),
                });
            }
        }
    }
    let mut channels: Option<(usize, PathBuf)> = None;
    let (mut files, mut bytes, mut latest) = (0u64, 0u64, 0u64);
    for cell in grid.cells() {
        let path = dir.join(cell_file_name(grid.shape(), &cell, Format::Npy));
        if let Ok(m) = std::fs::metadata(&path) {
            files += 1;
            bytes += m.len();
            latest = latest.max(mtime(&m));
        }
        let (header, data_bytes) = npy_header(&path)?;
        let dtype = npy_dtype_of(&path, &header)?;
        // a truncated file (or one with bytes past its data) would fail only
        // when its cell's turn comes, mid-stitch
        let expected = header
            .shape
            .iter()
            .try_fold(dtype.size() as u64, |n, &e| n.checked_mul(e as u64));
        if expected != Some(data_bytes) {
            return Err(Error::InvalidArgument {
                what: "prediction",
                detail: format!(
                    "{}: {data_bytes} bytes of data, but shape {:?} of {} takes {}",
                    path.display(),
                    header.shape,
                    dtype.name(),
                    expected.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                ),
            });
        }
        let region = grid.cell_region(&cell)?;
        let c = if header.shape == region.shape() {
            1
        } else if header.shape.len() == region.ndim() + 1 && header.shape[1..] == *region.shape() {
            header.shape[0]
        } else {
            return Err(Error::InvalidArgument {
                what: "prediction",
                detail: format!(
                    "{}: shape {:?}; cell {cell:?} is {:?}, so (C, {}) or ({}) was expected",
                    path.display(),
                    header.shape,
                    region.shape(),
                    super::text::join(region.shape(), ", "),
                    super::text::join(region.shape(), ", "),
                ),
            });
        };
        match &channels {
            None => channels = Some((c, path)),
            Some((c0, first)) if *c0 != c => {
                return Err(Error::InvalidArgument {
                    what: "prediction",
                    detail: format!(
                        "{} has {c} channels, {} has {c0}",
                        path.display(),
                        first.display()
                    ),
                })
            }
            _ => {}
        }
    }
    let summary = format!("{files} files, {bytes} bytes, latest {latest}");
    Ok((channels.map_or(1, |(c, _)| c), summary))
}

/// Seconds since the epoch of a file's last modification (0 if unknown).
fn mtime(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// A file's size and modification time, for the job's description (a
/// changed input is another job).
fn file_stamp(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    Some(format!("{} bytes, modified {}", m.len(), mtime(&m)))
}

/// The header of a `.npy` file and the bytes after it.
fn npy_header(path: &Path) -> Result<(ndarray_npy::npy::header::Header, u64)> {
    use std::io::Seek;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let header = ndarray_npy::npy::header::Header::from_reader(&mut file).map_err(|e| {
        Error::InvalidArgument {
            what: "prediction",
            detail: format!("{}: not a .npy file: {e}", path.display()),
        }
    })?;
    let start = file.stream_position().map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    Ok((header, len.saturating_sub(start)))
}

fn npy_dtype(path: &Path) -> Result<DType> {
    let (header, _) = npy_header(path)?;
    npy_dtype_of(path, &header)
}

/// The element type of a `.npy` descriptor (`'<f4'`, `'|u1'`, `'>i2'`).
fn npy_dtype_of(path: &Path, header: &ndarray_npy::npy::header::Header) -> Result<DType> {
    let text = header.type_descriptor.to_string();
    let d = text.trim_matches(|c| c == '\'' || c == '"');
    let body = d.trim_start_matches(['<', '>', '|', '=']);
    let dtype = match body {
        "u1" => Some(DType::U8),
        "i1" => Some(DType::I8),
        "u2" => Some(DType::U16),
        "i2" => Some(DType::I16),
        "u4" => Some(DType::U32),
        "i4" => Some(DType::I32),
        "u8" => Some(DType::U64),
        "i8" => Some(DType::I64),
        "f4" => Some(DType::F32),
        "f8" => Some(DType::F64),
        _ => None,
    };
    dtype.ok_or_else(|| Error::InvalidArgument {
        what: "prediction",
        detail: format!(
            "{}: element type {d} is not supported (numeric u1..i8, f4, f8; save float16 as float32)",
            path.display()
        ),
    })
}

/// `impart merge OUT.zarr` after a sharded stitch: every worker finished.
pub fn merge(out: &Path, json: bool) -> Result<()> {
    let shards = ZarrOutput::merge_shards(out)?;
    if json {
        print_json(&serde_json::json!({"out": out.display().to_string(), "shards": shards}));
    } else {
        println!("{}: all {shards} shards finished", out.display());
    }
    Ok(())
}
