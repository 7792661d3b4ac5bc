//! The input flags as a volume ([`open`], through [`impart::OpenOptions`])
//! and the grid flags as a partition over it ([`partition`]).

use impart::{
    AnyVolume, ByteOrder, DType, Edge, Error, MemoryOrder, OpenOptions, PadMode, Partition,
    PerAxis, Result, Spacing,
};

use super::args::{ByteOrderArg, EdgeArg, GridArgs, InputArgs, OrderArg, PadModeArg};

/// Opens the input: raw when `--shape`/`--dtype` are given, otherwise by
/// its name or directory (NIfTI, image, Zarr; see [`impart::VolumeFormat`]).
pub fn open(input: &InputArgs) -> Result<AnyVolume> {
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
    b.build()
}
