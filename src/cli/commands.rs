//! The subcommands.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use impart::{
    dispatch_dtype, AnyVolume, ByteOrder, DType, Edge, Error, ImageVolume, MemoryOrder,
    NiftiVolume, OpenOptions, PadMode, Partition, PerAxis, RawOptions, RawVolume, Result, Spacing,
    Volume, ZarrVolume,
};
use serde_json::{json, Value};

use super::args::{ByteOrderArg, Cli, Command, EdgeArg, GridArgs, InputArgs, OrderArg, PadModeArg};
use super::phantom::shepp_logan;
use super::stats::{stats_of, CellStats};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { input, json } => info(&input, json),
        Command::Grid { input, grid, json } => grid_cmd(&input, &grid, json),
        Command::Region {
            input,
            grid,
            select,
            json,
        } => region(&input, &grid, &select, json),
        Command::Stats {
            input,
            grid,
            select,
            threads,
            scaled,
            json,
        } => {
            let part = partition(open(&input)?, &grid)?;
            with_threads(threads, || stats(&part, &select, scaled, json))?
        }
        Command::Fragment {
            input,
            grid,
            select,
            out,
            format,
            threads,
            resume,
            quiet,
        } => {
            let part = partition(open(&input)?, &grid)?;
            with_threads(threads, || {
                super::fragment::fragment_command(&part, &select, &out, &format, resume, quiet)
            })?
        }
        Command::Demo {
            size,
            dir,
            cell,
            stride,
        } => demo(size, dir.as_deref(), cell, stride),
    }
}

/// Runs `f` on a pool of `threads` workers (`--threads`), or on rayon's
/// global pool (one per core) when not given.
fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(Error::InvalidArgument {
            what: "--threads",
            detail: "must be at least 1".into(),
        }),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::InvalidArgument {
                    what: "--threads",
                    detail: e.to_string(),
                })?;
            Ok(pool.install(f))
        }
    }
}

/// Opens the input: raw when `--shape`/`--dtype` are given, otherwise by
/// its name or directory (NIfTI, image, Zarr; see [`impart::VolumeFormat`]).
fn open(input: &InputArgs) -> Result<AnyVolume> {
    let mut options = OpenOptions::new()
        .mmap(!input.no_mmap)
        .advice(input.advice());
    if let Some(dir) = &input.cache_dir {
        options = options.cache_dir(dir);
    }
    if let Some(array) = &input.array {
        options = options.zarr_array(array);
    }
    match (&input.shape, &input.dtype) {
        (Some(shape), Some(dtype_text)) => options = raw(options, input, shape, dtype_text)?,
        (None, None) => {}
        _ => {
            return Err(Error::InvalidArgument {
                what: "input",
                detail: format!(
                    "{}: raw files need both --shape and --dtype",
                    input.path.display()
                ),
            })
        }
    }
    options.open(&input.path).map_err(|e| match e {
        Error::UnknownFormat { path } => Error::InvalidArgument {
            what: "input",
            detail: format!(
                "{}: not a recognised format (.nii, .nii.gz, .hdr/.img, .png, .tif, .jpg, a Zarr array directory); raw files need --shape and --dtype (e.g. --shape 512,512,512 --dtype u16)",
                path.display()
            ),
        },
        Error::ZarrGroup { ref arrays, .. } => Error::InvalidArgument {
            what: "input",
            detail: match arrays.first() {
                Some(first) => format!("{e}; pass one with --array (e.g. --array {first})"),
                None => e.to_string(),
            },
        },
        e => e,
    })
}

/// `options` reading a raw file of `shape` and the type `dtype_text`
/// (`u16`, or a NumPy string like `>u2` whose byte-order mark must agree
/// with `--byte-order`).
fn raw(
    options: OpenOptions,
    input: &InputArgs,
    shape: &[usize],
    dtype_text: &str,
) -> Result<OpenOptions> {
    let dtype: DType = dtype_text.parse()?;
    let mark = match dtype_text.trim().chars().next() {
        Some('<') => Some(ByteOrder::Little),
        Some('>') => Some(ByteOrder::Big),
        _ => None,
    };
    let flag = input.byte_order.map(|b| match b {
        ByteOrderArg::Little => ByteOrder::Little,
        ByteOrderArg::Big => ByteOrder::Big,
    });
    let byte_order = match (mark, flag) {
        (Some(m), Some(f)) if m != f && dtype.size() > 1 => {
            return Err(Error::InvalidArgument {
                what: "--dtype",
                detail: format!("{dtype_text:?} is {m}-endian but --byte-order says {f}"),
            })
        }
        (Some(m), _) => m,
        (None, Some(f)) => f,
        (None, None) => ByteOrder::Little,
    };
    let order = match input.order {
        OrderArg::C => MemoryOrder::C,
        OrderArg::F => MemoryOrder::F,
    };
    Ok(options
        .raw(shape, dtype)
        .order(order)
        .byte_order(byte_order)
        .offset(input.offset))
}

/// The grid of `g` over `volume`.
fn partition(volume: AnyVolume, g: &GridArgs) -> Result<Partition<AnyVolume>> {
    let spacing = match (&g.stride, &g.step) {
        (_, Some(step)) => Spacing::Step(PerAxis::Each(step.clone())),
        (Some(stride), None) => Spacing::Stride(PerAxis::Each(stride.clone())),
        (None, None) => Spacing::default(),
    };
    if g.edge != EdgeArg::Pad && (g.pad_mode.is_some() || g.pad_value.is_some()) {
        return Err(Error::InvalidArgument {
            what: "--pad-mode/--pad-value",
            detail: "they only apply with --edge pad".into(),
        });
    }
    if g.pad_value.is_some() && !matches!(g.pad_mode, None | Some(PadModeArg::Constant)) {
        return Err(Error::InvalidArgument {
            what: "--pad-value",
            detail: "it only applies with --pad-mode constant".into(),
        });
    }
    let edge = match g.edge {
        EdgeArg::Clip => Edge::Clip,
        EdgeArg::Shift => Edge::Shift,
        EdgeArg::Pad => Edge::Pad(match g.pad_mode.unwrap_or(PadModeArg::Constant) {
            PadModeArg::Constant => PadMode::Constant(g.pad_value.unwrap_or(0.0)),
            PadModeArg::Edge => PadMode::Edge,
            PadModeArg::Reflect => PadMode::Reflect,
        }),
    };
    let mut b = Partition::builder(volume)
        .cell(&g.cell)
        .spacing(spacing)
        .edge(edge);
    if let Some(axes) = &g.axes {
        b = b.axes(axes);
    }
    if let Some(ch) = &g.channels {
        b = b.channels(ch);
    }
    b.build()
}

/// One fact of a format: JSON key, JSON value, human label (empty: JSON
/// only), human text.
type Fact = (&'static str, Value, &'static str, String);

fn info(input: &InputArgs, json_out: bool) -> Result<()> {
    let volume = open(input)?;
    let mapped = volume.is_mapped();
    let facts = facts(&volume);
    let dtype = volume.dtype();
    let nbytes = volume.shape().iter().product::<usize>() * dtype.size();
    let layout = volume.layout();
    let align = dispatch_dtype!(dtype, T => { std::mem::align_of::<T>() });
    let obstacle = layout
        .as_ref()
        .and_then(|l| l.zero_copy_obstacle(dtype, align));
    let zero_copy = layout.is_some() && obstacle.is_none();
    let reason = match (&layout, &obstacle) {
        (None, _) => Some("the backend holds no addressable memory".to_string()),
        (_, Some(r)) => Some(r.to_string()),
        _ => None,
    };
    if json_out {
        let mut obj = serde_json::Map::new();
        obj.insert("path".into(), json!(input.path.display().to_string()));
        obj.insert("format".into(), json!(volume.kind()));
        obj.insert("shape".into(), json!(volume.shape()));
        obj.insert("dtype".into(), json!(dtype.name()));
        obj.insert("nbytes".into(), json!(nbytes));
        obj.insert("mapped".into(), json!(mapped));
        obj.insert("zero_copy".into(), json!(zero_copy));
        obj.insert("zero_copy_obstacle".into(), json!(reason));
        for (k, v, _, _) in &facts {
            obj.insert((*k).into(), v.clone());
        }
        print_json(&Value::Object(obj));
    } else {
        println!("path:       {}", input.path.display());
        println!(
            "format:     {} ({})",
            volume.kind(),
            match (mapped, layout.is_some(), volume.kind()) {
                (true, _, _) => "memory-mapped",
                (false, true, "image") => "decoded image",
                (false, true, _) => "in memory",
                (false, false, _) => "read on demand",
            }
        );
        println!("shape:      {}", join(volume.shape(), " x "));
        println!("dtype:      {dtype}");
        println!(
            "size:       {} ({nbytes} bytes)",
            human_bytes(nbytes as u64)
        );
        for (_, _, label, text) in &facts {
            if !label.is_empty() {
                println!("{:<11} {text}", format!("{label}:"));
            }
        }
        match reason {
            None => println!("zero copy:  yes"),
            Some(r) => println!("zero copy:  no, {r} (materialization converts)"),
        }
    }
    Ok(())
}

/// The facts of the volume's format, in the order `info` prints them.
fn facts(volume: &AnyVolume) -> Vec<Fact> {
    match volume {
        AnyVolume::Raw(v) => raw_facts(v),
        AnyVolume::Nifti(v) => nifti_facts(v),
        AnyVolume::Image(v) => image_facts(v),
        AnyVolume::Zarr(v) => zarr_facts(v),
        _ => Vec::new(),
    }
}

fn raw_facts(volume: &RawVolume) -> Vec<Fact> {
    let (byte_order, order, offset) = (volume.byte_order(), volume.order(), volume.offset());
    vec![
        (
            "byte_order",
            json!(byte_order.name()),
            "byte order",
            byte_order.name().to_string(),
        ),
        (
            "order",
            json!(order.name()),
            "order",
            order.name().to_string(),
        ),
        ("offset", json!(offset), "offset", offset.to_string()),
    ]
}

fn image_facts(volume: &ImageVolume) -> Vec<Fact> {
    let cached = volume.is_cached();
    let (h, w, c) = (volume.height(), volume.width(), volume.channels());
    let layout = match c {
        1 => "gray",
        2 => "gray+alpha",
        3 => "RGB",
        _ => "RGBA",
    };
    vec![
        ("width", json!(w), "width", w.to_string()),
        ("height", json!(h), "height", h.to_string()),
        ("channels", json!(c), "channels", format!("{c} ({layout})")),
        (
            "cached",
            json!(cached),
            "storage",
            if cached {
                "memory-mapped from the decode cache".into()
            } else {
                "decoded in memory".into()
            },
        ),
    ]
}

fn zarr_facts(volume: &ZarrVolume) -> Vec<Fact> {
    let meta = serde_json::to_value(volume.array().metadata()).unwrap_or(Value::Null);
    let version = meta.get("zarr_format").cloned().unwrap_or(Value::Null);
    let codecs = match meta.get("codecs") {
        Some(c) => c.clone(),
        None => json!({
            "compressor": meta.get("compressor").cloned().unwrap_or(Value::Null),
            "filters": meta.get("filters").cloned().unwrap_or(Value::Null),
            "order": meta.get("order").cloned().unwrap_or(Value::Null),
            "dimension_separator": meta.get("dimension_separator").cloned().unwrap_or(Value::Null),
        }),
    };
    let grid_chunk: Vec<u64> = volume
        .array()
        .chunk_shape(&vec![0; volume.shape().len()])
        .map(|s| s.iter().map(|n| n.get()).collect())
        .unwrap_or_default();
    let codec_text = codecs.to_string();
    let mut facts = vec![
        (
            "zarr_format",
            version.clone(),
            "zarr format",
            version.to_string(),
        ),
        (
            "chunk_shape",
            json!(if volume.is_sharded() {
                volume.chunk_shape().to_vec()
            } else {
                grid_chunk.iter().map(|&n| n as usize).collect()
            }),
            "chunks",
            join(volume.chunk_shape(), " x "),
        ),
    ];
    if volume.is_sharded() {
        facts.push((
            "shard_shape",
            json!(grid_chunk),
            "shards",
            join(&grid_chunk, " x "),
        ));
    }
    facts.push(("codecs", codecs, "codecs", codec_text));
    facts.push((
        "fill_value",
        meta.get("fill_value").cloned().unwrap_or(Value::Null),
        "fill value",
        meta.get("fill_value")
            .map(|v| v.to_string())
            .unwrap_or_default(),
    ));
    facts
}

fn nifti_facts(volume: &NiftiVolume) -> Vec<Fact> {
    let h = volume.header();
    let affine = h.affine();
    let source = if h.sform_code != 0 {
        "sform"
    } else if h.qform_code != 0 {
        "qform"
    } else {
        "pixdim (no sform or qform)"
    };
    let storage = match volume.cache_path() {
        Some(c) => format!("decompressed once to the cache {}", c.display()),
        None if volume.raw().is_mapped() => {
            format!("memory-mapped {}", volume.data_path().display())
        }
        None => format!("read on demand from {}", volume.data_path().display()),
    };
    let affine_text = affine
        .iter()
        .take(3)
        .map(|r| format!("[{:>9.4} {:>9.4} {:>9.4} {:>10.4}]", r[0], r[1], r[2], r[3]))
        .collect::<Vec<_>>()
        .join("\n            ");
    vec![
        (
            "nifti_version",
            json!(h.version),
            "version",
            format!("NIfTI-{}", h.version),
        ),
        (
            "datatype",
            json!(h.datatype),
            "datatype",
            h.datatype.to_string(),
        ),
        (
            "byte_order",
            json!(h.byte_order.name()),
            "byte order",
            h.byte_order.name().to_string(),
        ),
        (
            "vox_offset",
            json!(h.vox_offset),
            "vox_offset",
            h.vox_offset.to_string(),
        ),
        (
            "voxel_size",
            json!(h.voxel_size()),
            "voxel size",
            join(&h.voxel_size(), " x "),
        ),
        (
            "scaling",
            json!(h.scaling().map(|(s, i)| json!({"slope": s, "inter": i}))),
            "scaling",
            match h.scaling() {
                Some((s, i)) => {
                    format!("value * {s} + {i} (applied on request, e.g. stats --scaled)")
                }
                None => "none".into(),
            },
        ),
        ("affine", json!(affine), "affine", affine_text),
        ("affine_source", json!(source), "from", source.to_string()),
        (
            "cached",
            json!(volume.is_cached()),
            "storage",
            storage.clone(),
        ),
        ("storage", json!(storage), "", String::new()),
    ]
}

/// Prints one JSON value on a line.
fn print_json(v: &Value) {
    println!("{v}");
}

/// `v`'s items, displayed and joined by `sep`.
fn join<T: std::fmt::Display>(v: &[T], sep: &str) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A byte count in binary units, one decimal (`1.5 MiB`; bytes as is).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn grid_cmd(input: &InputArgs, g: &GridArgs, json_out: bool) -> Result<()> {
    let part = partition(open(input)?, g)?;
    if json_out {
        print_json(&grid_json(&part));
    } else {
        print_grid(&part);
    }
    Ok(())
}

fn grid_json<V: Volume>(part: &Partition<V>) -> Value {
    let g = part.grid();
    json!({
        "volume_shape": part.volume().shape(),
        "cell_shape": g.cell_shape(),
        "step": g.step(),
        "grid_shape": g.shape(),
        "cells": g.len(),
        "axes": part.axes(),
        "edge": g.edge().name(),
        "dtype": part.volume().dtype().name(),
    })
}

fn print_grid<V: Volume>(part: &Partition<V>) {
    let g = part.grid();
    println!("volume shape: {}", join(part.volume().shape(), " x "));
    println!("partitioned axes: {}", join(part.axes(), ", "));
    println!("cell shape:   {}", join(g.cell_shape(), " x "));
    println!("step:         {}", join(g.step(), " x "));
    println!("edge:         {}", g.edge().name());
    println!("grid shape:   {}", join(g.shape(), " x "));
    println!("cells:        {}", g.len());
}

fn region(input: &InputArgs, g: &GridArgs, select: &str, json_out: bool) -> Result<()> {
    let part = partition(open(input)?, g)?;
    let sel = part.select(select)?;
    let r = sel.region();
    let cells: Vec<[usize; 2]> = sel
        .cells()
        .ranges()
        .iter()
        .map(|c| [c.start, c.end])
        .collect();
    if json_out {
        let mut out = json!({
            "start": r.start(),
            "shape": r.shape(),
            "cells": cells,
            "selection": select,
        });
        if let (Some(w), Some(a)) = (sel.world_origin(), sel.affine()) {
            out["world_origin"] = json!(w);
            out["affine"] = json!(a);
        }
        print_json(&out);
    } else {
        println!("selection: {select}");
        println!(
            "cells:     {}",
            join(
                &sel.cells()
                    .ranges()
                    .iter()
                    .map(|c| format!("{}..{}", c.start, c.end))
                    .collect::<Vec<_>>(),
                ", "
            )
        );
        println!("start:     {}", join(r.start(), ", "));
        println!("shape:     {}", join(r.shape(), " x "));
        println!("end:       {}", join(&r.end(), ", "));
        if let Some(w) = sel.world_origin() {
            println!("world:     {} mm (first voxel)", join(&w, ", "));
        }
    }
    Ok(())
}

struct Row {
    index: Vec<usize>,
    start: Vec<usize>,
    shape: Vec<usize>,
    world: Option<[f64; 3]>,
    stats: CellStats,
}

/// Per-cell statistics of the stored values, or of the scaled values
/// (`stored * slope + intercept`) when `scaled` and the volume has scaling.
fn compute_stats<V: Volume>(part: &Partition<V>, select: &str, scaled: bool) -> Result<Vec<Row>> {
    let scaling = if scaled {
        part.volume().scaling()
    } else {
        None
    };
    dispatch_dtype!(part.volume().dtype(), T => {
        part.par_map_cells::<T, _, _>(select, |cell, view| {
            let mut stats = match view.as_slice_memory_order() {
                Some(s) => stats_of(s),
                None => stats_of(&view.iter().copied().collect::<Vec<T>>()),
            };
            if let Some((slope, inter)) = scaling {
                let (a, b) = (stats.min * slope + inter, stats.max * slope + inter);
                stats.min = a.min(b);
                stats.max = a.max(b);
                stats.sum = stats.sum * slope + inter * stats.count as f64;
            }
            Row {
                index: cell.index(),
                start: cell.region().start().to_vec(),
                shape: cell.region().shape().to_vec(),
                world: cell.world_origin(),
                stats,
            }
        })
    })
}

/// Prints the statistics of every cell of `select` (a line each, JSON
/// lines with `json_out`), then the throughput on the current rayon pool.
fn stats<V: Volume>(part: &Partition<V>, select: &str, scaled: bool, json_out: bool) -> Result<()> {
    let t0 = Instant::now();
    let rows = compute_stats(part, select, scaled)?;
    let secs = t0.elapsed().as_secs_f64();
    let elem = part.volume().dtype().size();
    let bytes: usize = rows.iter().map(|r| r.stats.count * elem).sum();
    let gbps = bytes as f64 / secs.max(1e-12) / 1e9;
    let threads = rayon::current_num_threads();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let w = |e: std::io::Error| Error::io("<stdout>", e);
    if json_out {
        for r in &rows {
            let mut line = json!({
                "index": r.index,
                "start": r.start,
                "shape": r.shape,
                "min": r.stats.min,
                "max": r.stats.max,
                "mean": r.stats.mean(),
                "sum": r.stats.sum,
            });
            if let Some(w) = r.world {
                line["world_origin"] = json!(w);
            }
            writeln!(out, "{line}").map_err(w)?;
        }
        let summary = json!({
            "summary": true,
            "cells": rows.len(),
            "bytes": bytes,
            "seconds": secs,
            "gb_per_s": gbps,
            "threads": threads,
            "sum": rows.iter().map(|r| r.stats.sum).sum::<f64>(),
        });
        writeln!(out, "{summary}").map_err(w)?;
    } else {
        writeln!(
            out,
            "{:<16} {:<20} {:<16} {:>12} {:>12} {:>12} {:>16}",
            "index", "start", "shape", "min", "max", "mean", "sum"
        )
        .map_err(w)?;
        for r in &rows {
            writeln!(
                out,
                "{:<16} {:<20} {:<16} {:>12} {:>12} {:>12.4} {:>16}",
                join(&r.index, ","),
                join(&r.start, ","),
                join(&r.shape, "x"),
                r.stats.min,
                r.stats.max,
                r.stats.mean(),
                r.stats.sum
            )
            .map_err(w)?;
        }
        writeln!(
            out,
            "{} cells, {} in {:.3} s: {:.2} GB/s on {} threads",
            rows.len(),
            human_bytes(bytes as u64),
            secs,
            gbps,
            threads
        )
        .map_err(w)?;
    }
    out.flush().map_err(w)
}

/// Writes a `size`³ phantom to `dir` (default: the system temp dir) and
/// shows its grid of `cell`³ cells at `stride` and a few cells' statistics.
fn demo(size: usize, dir: Option<&Path>, cell: usize, stride: f64) -> Result<()> {
    if !(1..=1024).contains(&size) || cell == 0 {
        return Err(Error::InvalidArgument {
            what: "demo",
            detail: "--size must be in 1..=1024 and --cell at least 1".into(),
        });
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("shepp_logan_{size}.u16.raw"));
    println!("Making a {size}^3 Shepp-Logan phantom (u16, C order, axes z, y, x) ...");
    let voxels = shepp_logan(size);
    let tmp = path.with_extension("raw.tmp");
    std::fs::write(&tmp, bytemuck::cast_slice::<u16, u8>(&voxels))
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    println!(
        "Wrote {} ({})",
        path.display(),
        human_bytes((voxels.len() * 2) as u64)
    );
    println!();
    let volume = RawOptions::new(&[size, size, size], DType::U16).open(&path)?;
    let part = Partition::builder(volume)
        .cell(&[cell, cell, cell])
        .stride(stride)
        .build()?;
    print_grid(&part);
    println!();
    let rows = compute_stats(&part, "...", false)?;
    let mid = part
        .grid()
        .shape()
        .iter()
        .map(|n| n / 2)
        .collect::<Vec<_>>();
    println!("A few cells (the first, the centre, the last):");
    println!(
        "{:<12} {:<16} {:<12} {:>8} {:>8} {:>10}",
        "index", "start", "shape", "min", "max", "mean"
    );
    for r in rows.iter().filter(|r| {
        r.index.iter().all(|&i| i == 0)
            || r.index == mid
            || Some(&r.index) == rows.last().map(|l| &l.index)
    }) {
        println!(
            "{:<12} {:<16} {:<12} {:>8} {:>8} {:>10.2}",
            join(&r.index, ","),
            join(&r.start, ","),
            join(&r.shape, "x"),
            r.stats.min,
            r.stats.max,
            r.stats.mean()
        );
    }
    let brightest = rows
        .iter()
        .max_by(|a, b| a.stats.mean().total_cmp(&b.stats.mean()));
    if let Some(b) = brightest {
        println!(
            "Brightest cell on average: {} (mean {:.2})",
            join(&b.index, ","),
            b.stats.mean()
        );
    }
    let shape = format!("{size},{size},{size}");
    let p = path.display();
    println!();
    println!("Try next:");
    println!("  impart info {p} --shape {shape} --dtype u16");
    println!("  impart region {p} --shape {shape} --dtype u16 --cell {cell},{cell},{cell} --stride {stride} --select ':2,1,-1'");
    println!("  impart stats {p} --shape {shape} --dtype u16 --cell {cell},{cell},{cell} --stride {stride} --json");
    Ok(())
}
