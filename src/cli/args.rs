//! Argument definitions. Flag names are a contract with users' scripts:
//! add, never rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Partition images and volumes into a virtual grid of fixed-size,
/// possibly overlapping cells.
#[derive(Debug, Parser)]
#[command(name = "impart", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a volume: shape, type, layout, whether it maps zero copy.
    Info {
        #[command(flatten)]
        input: InputArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the grid a cell shape and stride lay over a volume.
    Grid {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        /// Print JSON (keys: volume_shape, cell_shape, step, grid_shape, cells,
        /// axes, carried_axes, edge, dtype).
        #[arg(long)]
        json: bool,
    },
    /// Show the voxel region of a selection of cells.
    Region {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        /// Cells to select, NumPy style: ":3,15:21", "10,-1", "...,0".
        #[arg(long, allow_hyphen_values = true)]
        select: String,
        /// Print JSON (keys: start, shape, in volume axis order; cells,
        /// selection, carried_axes).
        #[arg(long)]
        json: bool,
    },
    /// Materialize every selected cell in parallel and print per-cell
    /// statistics (min, max, mean, sum), then the throughput.
    Stats {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        /// Cells to select (default: all).
        #[arg(long, allow_hyphen_values = true, default_value = "...")]
        select: String,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Statistics of scaled values (NIfTI scl_slope/scl_inter), as
        /// nibabel's get_fdata gives them.
        #[arg(long)]
        scaled: bool,
        /// Print one JSON line per cell, then a summary line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Write every selected cell to its own file, in parallel, named by its
    /// grid index, with a manifest.jsonl (index, start, shape, file).
    Fragment {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        /// Cells to write (default: all).
        #[arg(long, allow_hyphen_values = true, default_value = "...")]
        select: String,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// File format of the cells.
        #[arg(long, default_value = "npy", value_parser = ["npy", "nii", "raw", "png", "tiff", "zarr"])]
        format: String,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Finish an interrupted run without rewriting finished cells.
        #[arg(long)]
        resume: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// After a sharded `fragment` (--shard K/N on every worker): check
    /// that every shard finished and every cell is there, and write the
    /// manifest.jsonl a single run writes (the partial manifests are
    /// removed).
    Merge {
        /// The output directory the shards wrote.
        dir: PathBuf,
        /// Print JSON (keys: cells, shards, manifest).
        #[arg(long)]
        json: bool,
    },
    /// Put per-cell predictions back into one output (blended where cells
    /// overlap, reduced as regions finish, in bounded memory): the other
    /// half of a patch-based pipeline, after `fragment` and a model.
    ///
    /// The grid flags must be those `fragment` was given. `--synthetic C`
    /// predicts each cell itself, exactly: v = the cell's voxels as f32 (the
    /// mean over carried axes), x = v / (1 + |v|), m = the mean of x over the
    /// cell (summed in f64, then f32), and channel c (0-based) is
    /// sin(c+1)·x + cos(c+1)·m in f32, with sin and cos of c+1 evaluated in
    /// f64 and rounded to f32.
    Stitch {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        #[command(flatten)]
        stitch: StitchArgs,
    },
    /// Draw one 2-D slice of the volume as an RGB PNG with the grid's cell
    /// borders, to look at before a long run or after a stitch.
    ///
    /// A 3-D partition is cut across --axis at --slice; a 2-D one (an
    /// image) is drawn whole. The picture's rows run along the lower of the
    /// two remaining partitioned volume axes, its columns along the higher
    /// (row 0 at the top, column 0 at the left). The slice's 1st to 99th
    /// percentile of finite values (min to max if those are equal) maps
    /// linearly to black..white, clamped (one window for the three channels
    /// of RGB); a constant slice is mid-grey.
    /// A carried axis of 3 or 4 entries of a u8 or u16 volume is shown as
    /// RGB (alpha dropped); other carried axes are averaged. Every cell
    /// that holds the slice has its border drawn in translucent yellow (1
    /// px), the --select cells are outlined in cyan (2 px, inside the
    /// cell), and the non-zero labels of --overlay are blended in at 45%,
    /// one of 12 colours per label (label mod 12).
    Preview {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        grid: GridArgs,
        #[command(flatten)]
        preview: PreviewArgs,
    },
    /// The decode cache (decompressed .nii.gz files, decoded images): list
    /// its files or remove them. It is kept under a 20 GiB cap by default
    /// (IMPART_CACHE_MAX_BYTES, e.g. 50G or none; IMPART_CACHE_MAX_AGE,
    /// e.g. 30d), least recently used files first.
    Cache {
        /// The directory holding impart-cache, as --cache-dir of the other
        /// commands (default: the system temp dir).
        #[arg(long, global = true)]
        cache_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Make a 3D Shepp-Logan phantom, write it as a raw file, partition it
    /// and print the grid and a few cell statistics.
    Demo {
        /// Edge length of the phantom volume in voxels.
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// Where to write the phantom (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Cell edge length.
        #[arg(long, default_value_t = 32)]
        cell: usize,
        /// Relative stride.
        #[arg(long, default_value_t = 0.5)]
        stride: f64,
    },
}

/// Which part of the job this process runs (`--shard`, `--shards`).
#[derive(Debug, Clone, Args)]
pub struct ShardArgs {
    /// Run part K of N of the job (0-based, e.g. 2/4): the cells are split
    /// the same way on every worker, from the grid alone; or `auto`: from a
    /// Slurm job array (SLURM_ARRAY_TASK_ID and its count) or a Kubernetes
    /// Indexed Job (JOB_COMPLETION_INDEX, with --shards N or IMPART_SHARDS).
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
    /// The number of parts for --shard auto; with it, a Slurm array's
    /// task ids are the part numbers (--array=0-7, or a resubmission of
    /// failed tasks, --array=2,5).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

/// What `impart preview` draws, and where.
#[derive(Debug, Clone, Args)]
pub struct PreviewArgs {
    /// The partitioned volume axis to cut across (default: the last
    /// partitioned axis); not for a 2-D partition.
    #[arg(long)]
    pub axis: Option<usize>,
    /// The index of the slice along --axis (default: the middle,
    /// extent / 2).
    #[arg(long)]
    pub slice: Option<usize>,
    /// A label map to blend over the slice: NIfTI, Zarr, TIFF or PNG (not
    /// raw) of the shape of the partitioned axes, in volume order
    /// (trailing axes of extent 1 allowed), e.g. a stitched argmax.
    #[arg(long, value_name = "LABELS")]
    pub overlay: Option<PathBuf>,
    /// Cells to outline, NumPy style as for `impart region`: ":3,15:21",
    /// "10,-1", "...,0".
    #[arg(long, allow_hyphen_values = true)]
    pub select: Option<String>,
    /// Output pixels per voxel (default: the smallest that makes the longer
    /// side at least 512 px; 1 for larger slices).
    #[arg(long)]
    pub scale: Option<usize>,
    /// The PNG file to write.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
}

/// The flags of `impart stitch` past the input and the grid.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["predictions", "synthetic"])))]
pub struct StitchArgs {
    /// A directory of one .npy per cell, named as `fragment` names them
    /// (cell_03_12_1.npy), shape (C, *cell) or (*cell), any numeric type,
    /// C or Fortran order. Every file is checked before anything is
    /// written.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Predict each cell with the built-in deterministic C-channel
    /// predictor (see above), for benchmarks and demos.
    #[arg(long, value_name = "C")]
    pub synthetic: Option<usize>,
    /// The output, by extension: .nii or .nii.gz (the source's affine,
    /// channels last), .zarr (Zarr v3, zstd, channels first, each chunk
    /// written once), .raw (C order, little-endian, channels first).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the label map as the OME-Zarr label image NAME of the image
    /// group --out names (usually the input image): OUT/labels/NAME, one
    /// level with the axes and transforms of the input's level, listed in
    /// OUT/labels, so napari and other NGFF viewers draw it over the
    /// image. Needs an OME-Zarr input partitioned on every axis and
    /// --reduce argmax or --threshold.
    #[arg(long, value_name = "NAME")]
    pub ome_labels: Option<String>,
    /// How overlapping cells are blended: mean, gaussian (MONAI's
    /// importance map), hann (TorchIO's), crop (the nearest cell's
    /// centre wins; no blending).
    #[arg(long, value_enum, default_value = "gaussian")]
    pub blend: BlendArg,
    /// Gaussian sigma as a share of the cell: one value, or one per
    /// partitioned axis.
    #[arg(long, value_delimiter = ',', default_value = "0.125")]
    pub sigma_scale: Vec<f64>,
    /// What is written: the blended channels (none), or their argmax
    /// (u8 labels up to 256 classes, u16 up to 65536).
    #[arg(long, value_enum, default_value = "none", conflicts_with = "threshold")]
    pub reduce: ReduceArg,
    /// Write a u8 mask: 1 where channel --channel is above T.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub threshold: Option<f64>,
    /// The channel --threshold compares.
    #[arg(long, default_value_t = 0)]
    pub channel: usize,
    /// Element type of kept channels (--reduce none): f32 (default) or
    /// any of u8 i8 u16 i16 u32 i32 u64 i64 f64 (cast as Rust's `as`:
    /// floats to integers saturate).
    #[arg(long)]
    pub out_dtype: Option<String>,
    /// Accumulate sums in f32 (default, as MONAI) or f64.
    #[arg(long, value_enum, default_value = "f32")]
    pub accumulate: AccumulateArg,
    /// Zarr output: chunk extent per partitioned axis (default: the
    /// step, at least 16).
    #[arg(long, value_delimiter = ',')]
    pub chunks: Option<Vec<usize>>,
    /// Keep the accumulators in a sparse mapped scratch file in DIR, so
    /// the stitch fits any memory limit.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Finish an interrupted stitch of the same job (the same input,
    /// predictions, grid and flags): only the cells of unfinished regions
    /// are redone; the output is byte-identical to an uninterrupted run. An
    /// OUT that is already complete is left as it is (its flags are not
    /// checked). A guard against a killed process, not a power loss.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the summary as JSON (keys: out, shape, dtype, channels,
    /// blend, reduce, cells, cells_added, regions, resumed_regions,
    /// buffered, peak_accumulator_bytes, planned_peak_bytes,
    /// chunk_writes (Zarr; else null), order, seconds, threads; with
    /// --shard also shard, shards, foreign_regions).
    #[arg(long)]
    pub json: bool,
    /// A Zarr output split over workers: each writes the chunks of its own
    /// block of the output (and computes every cell that covers them);
    /// `impart merge OUT` after the last one checks that all finished.
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// What `impart cache` does.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// List the cache files, least recently used (next to be evicted)
    /// first: size, last use (UTC), name; then the total and the cap.
    List {
        /// Print JSON (keys: dir, files [name, path, bytes, last_used,
        /// last_used_unix, temporary], count, total_bytes, max_bytes,
        /// max_age_seconds).
        #[arg(long)]
        json: bool,
    },
    /// Remove every cache file, or with --older-than only those unused for
    /// longer; print what was removed and the bytes freed. Temporary files
    /// younger than a day (being written by a running impart) are kept.
    Clean {
        /// Remove only files unused for longer than this: 30m, 12h, 7d,
        /// 2w, or plain seconds.
        #[arg(
            long,
            value_name = "DURATION",
            allow_hyphen_values = true,
            value_parser = super::cache::parse_older_than
        )]
        older_than: Option<std::time::Duration>,
        /// Print JSON (keys: dir, older_than_seconds, removed,
        /// removed_count, bytes_freed, kept_count, kept_bytes, failed).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlendArg {
    Mean,
    Gaussian,
    Hann,
    Crop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReduceArg {
    None,
    Argmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccumulateArg {
    F32,
    F64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    C,
    F,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByteOrderArg {
    Little,
    Big,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EdgeArg {
    Clip,
    Shift,
    Pad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PadModeArg {
    Constant,
    Edge,
    Reflect,
}

/// The input volume: NIfTI (.nii, .nii.gz, .hdr/.img), TIFF (.tif/.tiff,
/// read tile by tile) and images (.png, .jpg/.jpeg) are recognised by their
/// name, Zarr v2/v3 by its
/// directory (zarr.json or .zarray; a group with --array); raw files need
/// `--shape` and `--dtype`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The volume: a raw file (with --shape and --dtype), NIfTI (.nii,
    /// .nii.gz, .hdr/.img), a Zarr v2 or v3 array directory (or a group,
    /// with --array; an OME-Zarr image group opens as its --level), a
    /// TIFF or BigTIFF (read tile by tile; a page with
    /// --page), or a PNG or JPEG image.
    pub path: PathBuf,
    /// Raw files: extent per axis, comma-separated (e.g. 512,512,512).
    #[arg(long, value_delimiter = ',')]
    pub shape: Option<Vec<usize>>,
    /// Raw files: element type: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64, or a
    /// NumPy type string whose byte-order mark sets the byte order ('<u2',
    /// '>f4'; note that NumPy's 'u8' is u64 but a plain u8 here is one byte).
    #[arg(long, allow_hyphen_values = true)]
    pub dtype: Option<String>,
    /// Raw files: memory order, C (last axis contiguous) or F (first).
    #[arg(long, value_enum, default_value = "C", ignore_case = true)]
    pub order: OrderArg,
    /// Raw files: byte offset of the first voxel.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Zarr: the array's path inside the store or group given as PATH
    /// (e.g. "raw/0").
    #[arg(long)]
    pub array: Option<String>,
    /// TIFF: open one page (image file directory, counted from 0) as a 2D
    /// image. Default: the first page, with the pages after it of the same
    /// shape and type as a stack (axes from OME-XML or ImageJ metadata).
    #[arg(long)]
    pub page: Option<usize>,
    /// TIFF and OME-Zarr: the resolution level of a pyramid or multiscale
    /// image (0 = full resolution; `impart info` lists them).
    #[arg(long, default_value_t = 0)]
    pub level: usize,
    /// Where gzipped NIfTI files are decompressed to (default: the system
    /// temp dir); one uncompressed copy per file, reused while the source
    /// is unchanged, least recently used copies removed beyond a 20 GiB cap
    /// (see `impart cache`). PNG and JPEG images are decoded once into it
    /// and mapped on later runs, only when this is given; without it they
    /// are decoded on every run, into memory up to 256 MiB of pixels
    /// (IMPART_DECODE_IN_MEMORY_MAX: 512M, 0, none), larger ones into a
    /// temporary file in the system temp dir (TMPDIR), removed on exit.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Read with positioned reads instead of memory-mapping (no SIGBUS if
    /// the file is truncated while open; for network file systems).
    #[arg(long)]
    pub no_mmap: bool,
    /// Mapped files: give the kernel no access hints. By default a walk
    /// asks it to read the next slab ahead (MADV_WILLNEED) and, when the
    /// file is larger than a quarter of the memory available (RAM or the
    /// memory cgroup's limit), unmaps the slabs behind it (MADV_DONTNEED),
    /// which keeps the resident set small on volumes larger than memory.
    #[arg(long)]
    pub no_madvise: bool,
    /// Mapped files: always unmap the slabs behind a walk, whatever the
    /// file's size (see --no-madvise).
    #[arg(long, conflicts_with = "no_madvise")]
    pub release_behind: bool,
    /// Remote Zarr (s3://, http(s)://): most chunk requests in flight
    /// ahead of the decoder during a walk (0: fetch each chunk when a read
    /// needs it).
    #[arg(long, default_value_t = 32)]
    pub prefetch: usize,
    /// Remote Zarr: most retries of a request after a timeout, a reset
    /// connection or a 5xx answer, with exponential backoff (0: none;
    /// 403 and 404 are never retried).
    #[arg(long, default_value_t = 10)]
    pub retries: usize,
    /// Remote Zarr: longest time one request may take, in seconds.
    #[arg(long, default_value_t = 30.0, value_parser = positive_seconds)]
    pub timeout: f64,
    /// Raw files: byte order of the elements [default: little].
    #[arg(long, value_enum)]
    pub byte_order: Option<ByteOrderArg>,
}

impl InputArgs {
    /// The `madvise` policy of `--no-madvise` and `--release-behind`.
    pub fn advice(&self) -> impart::MapAdvice {
        if self.no_madvise {
            impart::MapAdvice::Off
        } else if self.release_behind {
            impart::MapAdvice::AheadRelease
        } else {
            impart::MapAdvice::Auto
        }
    }
}

/// The grid laid over the volume.
#[derive(Debug, Clone, Args)]
pub struct GridArgs {
    /// Cell extent per partitioned axis, comma-separated (e.g. 64,64,64).
    #[arg(long, value_delimiter = ',', required = true)]
    pub cell: Vec<usize>,
    /// Relative stride: one float for all axes, or one per axis
    /// (overlap = 1 - stride).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        conflicts_with = "step"
    )]
    pub stride: Option<Vec<f64>>,
    /// Absolute step in voxels instead of a stride: one or one per axis.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub step: Option<Vec<f64>>,
    /// What happens to cells crossing the volume's end.
    #[arg(long, value_enum, default_value = "clip")]
    pub edge: EdgeArg,
    /// How `--edge pad` fills voxels outside the volume [default: constant].
    #[arg(long, value_enum)]
    pub pad_mode: Option<PadModeArg>,
    /// The constant of `--pad-mode constant` [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    pub pad_value: Option<f64>,
    /// Partitioned volume axes, comma-separated (default: the first K for K
    /// cell extents; the rest are carried whole, with a note on stderr).
    #[arg(long, value_delimiter = ',')]
    pub axes: Option<Vec<usize>>,
    /// Keep only these indices of the last carried axis (e.g. 0,1,2).
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
}

/// A timeout in seconds: positive and finite.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        Ok(_) => Err("a timeout must be a positive number of seconds".into()),
        Err(e) => Err(e.to_string()),
    }
}
