//! The input flags as a volume ([`open`], through [`impart::OpenOptions`])
//! and the grid flags as a partition over it ([`partition`]).

use impart::{
    AnyVolume, ByteOrder, DType, Edge, Error, MemoryOrder, OpenOptions, PadMode, Partition,
    PerAxis, Result, Spacing, Volume, VolumeFormat,
};

use super::args::{ByteOrderArg, EdgeArg, GridArgs, InputArgs, OrderArg, PadModeArg};

/// Opens the input: raw when `--shape`/`--dtype` are given, otherwise by
/// its name or directory (NIfTI, image, Zarr; see [`impart::VolumeFormat`]).
pub fn open(input: &InputArgs) -> Result<AnyVolume> {
    let name = input.path.to_string_lossy().to_ascii_lowercase();
    let decoded = [".gz", ".png", ".jpg", ".jpeg"]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    if decoded || input.cache_dir.is_some() {
        super::cache::warn_bad_env();
    }
    let mut options = OpenOptions::new()
        .mmap(!input.no_mmap)
        .advice(input.advice());
    if let Some(dir) = &input.cache_dir {
        options = options.cache_dir(dir);
    }
    if let Some(array) = &input.array {
        options = options.zarr_array(array);
    }
    if let Some(page) = input.page {
        options = options.page(page);
    }
    options = options.level(input.level).remote(
        impart::RemoteOptions::new()
            .prefetch(input.prefetch)
            .retries(input.retries)
            .timeout(std::time::Duration::from_secs_f64(input.timeout)),
    );
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
    warn_raw_longer(input, shape, dtype);
    Ok(options
        .raw(shape, dtype)
        .order(order)
        .byte_order(byte_order)
        .offset(input.offset))
}

/// The grid of `g` over `volume`.
pub fn partition(volume: AnyVolume, g: &GridArgs) -> Result<Partition<AnyVolume>> {
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
    let part = b.build()?;
    note_carried(&part, g);
    Ok(part)
}

/// The volume axes the partition carries whole (not partitioned), in
/// volume order: the `carried_axes` key of the JSON outputs.
pub fn carried_axes<V: Volume>(part: &Partition<V>) -> Vec<usize> {
    (0..part.volume().shape().len())
        .filter(|a| !part.axes().contains(a))
        .collect()
}

/// A note on stderr when fewer cell extents than axes were given and the
/// rest are carried whole without `--axes` saying so; silent for the image
/// convention (an image, height x width x channels, with 2 cell extents; a
/// TIFF stack, pages x height x width x samples, with 3).
fn note_carried(part: &Partition<AnyVolume>, g: &GridArgs) {
    let shape = part.volume().shape();
    let carried = carried_axes(part);
    if g.axes.is_some() || carried.is_empty() {
        return;
    }
    // images and TIFF pages or stacks keep their sample axis last: cells
    // over every axis before it are the convention
    if matches!(
        part.volume().format(),
        VolumeFormat::Image | VolumeFormat::Tiff
    ) && g.cell.len() + 1 == shape.len()
    {
        return;
    }
    let list = |axes: &[usize], extents: bool| {
        axes.iter()
            .map(|&a| {
                if extents {
                    format!("{a} (extent {})", shape[a])
                } else {
                    a.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plural = |n: usize| if n == 1 { "axis" } else { "axes" };
    eprintln!(
        "impart: note: --cell gives {} extent{} for a {}-axis volume: partitioning {} {} and carrying {} {} whole; pass --axes to choose the partitioned axes",
        g.cell.len(),
        if g.cell.len() == 1 { "" } else { "s" },
        shape.len(),
        plural(part.axes().len()),
        list(part.axes(), false),
        plural(carried.len()),
        list(&carried, true),
    );
}

/// A warning on stderr when the raw file is longer than `--shape` x
/// `--dtype` (+ `--offset`) covers: the rest is ignored. (A shorter file
/// is an error from the reader.)
fn warn_raw_longer(input: &InputArgs, shape: &[usize], dtype: DType) {
    let Ok(meta) = std::fs::metadata(&input.path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let covered = shape
        .iter()
        .try_fold(dtype.size() as u64, |n, &e| n.checked_mul(e as u64))
        .and_then(|n| n.checked_add(input.offset));
    if let Some(covered) = covered {
        if meta.len() > covered {
            eprintln!(
                "impart: warning: {} is {} bytes but --shape and --dtype (+ --offset) cover {} bytes; the last {} bytes are ignored",
                input.path.display(),
                meta.len(),
                covered,
                meta.len() - covered
            );
        }
    }
}

/// The part of the job `--shard` (and `--shards`) name: the whole job
/// without them.
pub fn shard(args: &super::args::ShardArgs) -> Result<impart::Shard> {
    match (args.shard.as_deref(), args.shards) {
        (None, None) => Ok(impart::Shard::whole()),
        (None, Some(_)) => Err(Error::InvalidArgument {
            what: "shard",
            detail: "--shards N goes with --shard auto".into(),
        }),
        (Some("auto"), n) => impart::Shard::from_env(n),
        (Some(k_of_n), None) => k_of_n.parse(),
        (Some(k_of_n), Some(_)) => Err(Error::InvalidArgument {
            what: "shard",
            detail: format!("--shard {k_of_n} names its count; --shards N goes with --shard auto"),
        }),
    }
}
