//! The crate's error type: one [`Error`] enum wrapping the layers' errors.
//!
//! Every variant carries the values that were wrong and, for anything that
//! touches a volume, the volume's name (its path, or `<memory>`), so a message
//! tells the user which file and which field to look at.

use std::fmt;
use std::path::PathBuf;

use crate::dtype::DType;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the pure grid arithmetic ([`crate::grid`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GridError {
    /// Two lists that must have one entry per axis differ in length.
    #[error("{what} has {found} entries but the grid has {expected} axes")]
    RankMismatch {
        /// Which list (`"cell shape"`, `"stride"`, …).
        what: &'static str,
        /// Number of axes the grid has.
        expected: usize,
        /// Number of entries given.
        found: usize,
    },
    /// A grid needs at least one axis.
    #[error("a grid needs at least one axis")]
    NoAxes,
    /// A volume or cell extent of zero.
    #[error("{what} extent on axis {axis} is 0; every extent must be at least 1")]
    ZeroExtent {
        /// `"volume"` or `"cell"`.
        what: &'static str,
        /// The axis.
        axis: usize,
    },
    /// A stride that is not a finite number greater than 0.
    #[error("stride on axis {axis} is {value}; it must be a finite number greater than 0")]
    InvalidStride {
        /// The axis.
        axis: usize,
        /// The value given.
        value: f64,
    },
    /// A step that is not a finite number greater than 0.
    #[error("step on axis {axis} is {value}; it must be a finite number of voxels greater than 0")]
    InvalidStep {
        /// The axis.
        axis: usize,
        /// The value given.
        value: f64,
    },
    /// The grid would have more cells than can be counted.
    #[error("axis {axis} would have {count} cells; the step is too small for the volume")]
    TooManyCells {
        /// The axis.
        axis: usize,
        /// The number of cells the formula gives.
        count: f64,
    },
    /// A cell index outside the grid.
    #[error("cell index {index} is out of range for axis {axis} with {len} cells")]
    CellOutOfRange {
        /// The axis.
        axis: usize,
        /// The index given.
        index: usize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A volume or cell extent beyond 2^53 (where `f64` arithmetic is no
    /// longer exact).
    #[error("{what} extent {value} on axis {axis} is larger than 2^53")]
    ExtentTooLarge {
        /// `"volume"` or `"cell"`.
        what: &'static str,
        /// The axis.
        axis: usize,
        /// The extent given.
        value: usize,
    },
    /// A region whose end does not fit in `usize`.
    #[error("region start {start} plus extent {extent} on axis {axis} overflows")]
    RegionOverflow {
        /// The axis.
        axis: usize,
        /// The start.
        start: usize,
        /// The extent.
        extent: usize,
    },
    /// An empty or inverted range of cells.
    #[error("empty or inverted cell range {start}..{end} on axis {axis}")]
    EmptyCellRange {
        /// The axis.
        axis: usize,
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
    },
    /// A linear (flat) cell index outside the grid.
    #[error("linear cell index {index} is out of range for a grid of {len} cells")]
    LinearOutOfRange {
        /// The index given.
        index: usize,
        /// Number of cells in the grid.
        len: usize,
    },
}

/// Errors of grid indexing ([`crate::selection`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// More indices than the grid has axes.
    #[error("too many indices: {given} given for a grid with {ndim} axes")]
    TooManyIndices {
        /// Number of indices given (not counting `...`).
        given: usize,
        /// Number of grid axes.
        ndim: usize,
    },
    /// An integer index outside `-len..len`.
    #[error("index {index} is out of bounds for axis {axis} with {len} cells")]
    IndexOutOfRange {
        /// The axis.
        axis: usize,
        /// The index given.
        index: isize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A range that selects nothing (after negative indices are resolved and
    /// the stop is clipped).
    #[error("empty or inverted range {start}..{stop} on axis {axis} with {len} cells")]
    EmptyRange {
        /// The axis.
        axis: usize,
        /// Resolved start.
        start: isize,
        /// Resolved stop.
        stop: isize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A range step other than 1.
    #[error(
        "range step {step} on axis {axis} is not supported; a selection is a box of cells (step 1)"
    )]
    StepNotOne {
        /// The axis.
        axis: usize,
        /// The step given.
        step: isize,
    },
    /// `NewAxis` in an `s![]` selection.
    #[error("a new axis (index {position}) cannot select grid cells")]
    NewAxis {
        /// Position in the index list.
        position: usize,
    },
    /// More than one `...`.
    #[error("a selection can hold at most one `...`")]
    MultipleEllipsis,
    /// Selection text that does not parse.
    #[error("cannot parse selection {text:?}: {reason}")]
    Parse {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a zero-copy view cannot be given; materialization still works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotZeroCopyReason {
    /// The requested element type is not the stored one.
    DType {
        /// Stored type.
        stored: DType,
        /// Requested type.
        requested: DType,
    },
    /// The data is stored in the other byte order.
    ForeignByteOrder,
    /// The data does not start on an address aligned for its type.
    Misaligned {
        /// Alignment the type needs.
        align: usize,
    },
    /// The backend holds no addressable memory (compressed or remote data).
    NotAddressable,
    /// The selection reaches outside the volume and needs padding.
    Padded,
    /// The channel selection is not an evenly spaced ascending list.
    ChannelGather,
}

impl fmt::Display for NotZeroCopyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DType { stored, requested } => {
                write!(f, "the data is {stored}, not {requested}")
            }
            Self::ForeignByteOrder => f.write_str("the data is stored in the other byte order"),
            Self::Misaligned { align } => {
                write!(f, "the data is not aligned to {align} bytes")
            }
            Self::NotAddressable => f.write_str("the backend does not hold addressable memory"),
            Self::Padded => f.write_str("the selection extends past the volume and needs padding"),
            Self::ChannelGather => {
                f.write_str("the channel selection is not an evenly spaced ascending list")
            }
        }
    }
}

/// The crate-wide error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Grid arithmetic.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Grid indexing.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file shorter than its header and shape require.
    #[error("{path}: file is truncated: the data needs bytes up to offset {needed} but the file has {actual} bytes")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset one past the last byte the data needs.
        needed: u64,
        /// The file's length.
        actual: u64,
    },
    /// A shape, offset or layout that cannot describe data.
    #[error("{volume}: invalid layout: {detail}")]
    InvalidLayout {
        /// The volume's name.
        volume: String,
        /// What is wrong.
        detail: String,
    },
    /// A file header that is malformed or hostile.
    #[error("{path}: invalid header: {detail}")]
    InvalidHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offending values.
        detail: String,
    },
    /// A file whose element type this crate does not read.
    #[error("{path}: unsupported data type {name}")]
    UnsupportedDType {
        /// The file.
        path: PathBuf,
        /// The type as the format names it (with its code where the
        /// format has codes, e.g. `RGB24 (NIfTI datatype 128)`).
        name: String,
    },
    /// Stored data that cannot be decoded (a corrupt or truncated chunk).
    #[error("{path}: cannot decode chunk {chunk:?}: {detail}")]
    Decode {
        /// The file or array.
        path: PathBuf,
        /// The chunk's grid index.
        chunk: Vec<u64>,
        /// What the decoder said.
        detail: String,
    },
    /// An element type name this crate does not know.
    #[error(
        "unknown element type {name:?} (expected one of u8 i8 u16 i16 u32 i32 u64 i64 f32 f64)"
    )]
    UnknownDType {
        /// The name given.
        name: String,
    },
    /// An argument outside its domain.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A zero-copy view is not possible; materialize instead.
    #[error("{volume}: no zero-copy view: {reason}; materialize the selection instead")]
    NotZeroCopy {
        /// The volume's name.
        volume: String,
        /// Why.
        reason: NotZeroCopyReason,
    },
    /// A typed request for a type that is not the stored one.
    #[error("{volume}: the data is {stored}, not {requested} (use a casting materialization)")]
    DTypeMismatch {
        /// The volume's name.
        volume: String,
        /// Stored type.
        stored: DType,
        /// Requested type.
        requested: DType,
    },
    /// A caller's buffer of the wrong shape.
    #[error("destination has shape {found:?} but the selection has shape {expected:?}")]
    ShapeMismatch {
        /// The selection's shape.
        expected: Vec<usize>,
        /// The buffer's shape.
        found: Vec<usize>,
    },
    /// A selection too large to materialize in memory.
    #[error("{volume}: a selection of shape {shape:?} is too large to hold in memory")]
    TooLarge {
        /// The volume's name.
        volume: String,
        /// The selection's shape.
        shape: Vec<usize>,
    },
    /// A partition description that does not fit the volume.
    #[error("{volume}: invalid partition: {detail}")]
    InvalidPartition {
        /// The volume's name.
        volume: String,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    /// An [`Error::Io`] naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
