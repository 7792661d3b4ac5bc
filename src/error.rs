//! The crate's error type: one [`Error`] enum wrapping the layers' errors.
//!
//! Every variant carries the values that were wrong and, for anything that
//! touches a volume, the volume's name (its path, or `<memory>`), so a message
//! tells the user which file and which field to look at.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::dtype::{ByteOrder, DType};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use crate::grid::GridError;
pub use crate::selection::SelectionError;

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
    /// The channel selection is not an evenly spaced list (ascending or descending).
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
            Self::ChannelGather => f.write_str("the channel selection is not evenly spaced"),
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
    /// A file shorter than its header and shape require: when it is
    /// opened, or, for a file read with positioned reads
    /// ([`RawOptions::mmap(false)`](crate::RawOptions::mmap)), when a read
    /// finds it cut short after it was opened.
    #[error("{path}: file is truncated: the data needs bytes up to offset {needed} but the file has {actual} bytes")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset one past the last byte the data needs (a lower bound
        /// where the format does not say more: a PNG that ends between
        /// chunks, a JPEG that ends inside its compressed data).
        needed: u64,
        /// The file's length (when the short read happened, for a read).
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
    /// An input file that changed while a volume had it open: found by
    /// [`Volume::check_unchanged`](crate::Volume::check_unchanged), which
    /// every parallel walk calls when it ends. The volume's reads may mix
    /// the file's old and new contents (or, for a file replaced by a
    /// rename, come from a file no longer at the path), so nothing computed
    /// from them should be trusted.
    #[error("{path}: the file changed while it was open ({detail}); what was read from it may mix old and new contents")]
    Changed {
        /// The file.
        path: PathBuf,
        /// What changed: `size 4096 -> 2048 bytes`, `modification time
        /// 1700000000.000000000 -> 1700000042.500000000` (seconds since
        /// 1970), `replaced by another file (inode 12 -> 34)`, or `removed:
        /// no file is at this path now`; several joined by `, `.
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
    /// A valid file that uses something this crate does not read (a
    /// compression, a sample layout), named with its code.
    #[error("{path}: unsupported {what}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported, with the format's own code and where
        /// (e.g. `TIFF compression 34887 (LERC) in page 3`).
        what: String,
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
    /// Stored data that cannot be decoded (a corrupt or truncated chunk,
    /// or a PNG or JPEG image whose compressed data is corrupt).
    #[error("{path}: cannot decode {}: {detail}", chunk_name(.chunk))]
    Decode {
        /// The file or array.
        path: PathBuf,
        /// The chunk's grid index; empty for an image decoded whole (PNG,
        /// JPEG), which the message calls "the image".
        chunk: Vec<u64>,
        /// What went wrong.
        detail: String,
        /// The decoder's own error, where there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A decoded copy that does not fit on the file system that would hold
    /// it (a large PNG or JPEG decoded to the decode cache or to a
    /// temporary cache file), refused before anything is written.
    #[error("{path}: decoding needs {needed} bytes in {} but its file system has {available} bytes free; free some space, or choose another directory (--cache-dir, OpenOptions::cache_dir, TMPDIR)", .dir.display())]
    InsufficientSpace {
        /// The file being decoded.
        path: PathBuf,
        /// The directory the decoded copy would go to.
        dir: PathBuf,
        /// The bytes of the decoded copy.
        needed: u64,
        /// The bytes free for this process on the directory's file system.
        available: u64,
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
    /// A file or store that could not be written; the writer's own error
    /// is the source.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file, directory or array.
        path: PathBuf,
        /// The encoder's or store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A path whose format [`open`](crate::open) does not recognise: not a
    /// NIfTI, image or Zarr name or directory, and no raw shape and element
    /// type given.
    #[error("{path}: not a recognised format (.nii, .nii.gz, .hdr/.img, .png, .tif, .jpg, a Zarr array directory); raw files need a shape and an element type")]
    UnknownFormat {
        /// The path.
        path: PathBuf,
    },
    /// A path of a format whose backend this build of the crate leaves out.
    #[error("{path}: reading {format} needs the `{feature}` feature of impart")]
    FormatNotEnabled {
        /// The path.
        path: PathBuf,
        /// The format, as [`VolumeFormat::name`](crate::VolumeFormat::name)
        /// gives it.
        format: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// A Zarr group opened as if it were an array, without naming the
    /// array inside it.
    #[error("{path}: a Zarr group, not an array: name the array to open inside it ({})", list_arrays(.arrays))]
    ZarrGroup {
        /// The group's directory.
        path: PathBuf,
        /// The arrays in the group and its subgroups, as paths relative to
        /// it (like `"raw/0"`), sorted.
        arrays: Vec<String>,
    },
    /// A walk over more cells than its per-cell bookkeeping (a result or a
    /// flag per cell) can be allocated for.
    #[error("{volume}: a walk over {cells} cells cannot be held in memory; select fewer cells or use a larger step")]
    TooManyCells {
        /// The volume's name.
        volume: String,
        /// The number of cells selected.
        cells: usize,
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

/// What an [`Error::Decode`] could not decode: `chunk [i, j]`, or `the
/// image` for a whole-image decode (no chunk index).
fn chunk_name(chunk: &[u64]) -> String {
    if chunk.is_empty() {
        "the image".into()
    } else {
        format!("chunk {chunk:?}")
    }
}

/// The arrays of an [`Error::ZarrGroup`], at most eight of them.
fn list_arrays(arrays: &[String]) -> String {
    const SHOWN: usize = 8;
    match arrays.len() {
        0 => "it holds no arrays".into(),
        n if n <= SHOWN => format!("its arrays: {}", arrays.join(", ")),
        n => format!(
            "its arrays: {}, and {} more",
            arrays[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

impl Error {
    /// An [`Error::Write`] naming `path`, keeping the writer's error.
    pub fn write(
        path: impl Into<PathBuf>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Write {
            path: path.into(),
            source: source.into(),
        }
    }

    /// An [`Error::Io`] naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

// Text parsing of the element types lives here, not in `dtype`, so that
// `dtype` (below this module) never imports the crate's error type.

impl FromStr for DType {
    type Err = Error;

    /// Parses the names [`DType::from_name`] knows.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDType`] for any other name.
    fn from_str(s: &str) -> Result<Self> {
        DType::from_name(s).ok_or_else(|| Error::UnknownDType {
            name: s.to_string(),
        })
    }
}

impl FromStr for ByteOrder {
    type Err = Error;

    /// Parses the names [`ByteOrder::from_name`] knows.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for any other name.
    fn from_str(s: &str) -> Result<Self> {
        ByteOrder::from_name(s).ok_or_else(|| Error::InvalidArgument {
            what: "byte order",
            detail: format!("{s:?} is not one of little, big, native"),
        })
    }
}
