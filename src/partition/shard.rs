//! The split of a job's cells into N shards, one per worker of a Slurm
//! job array, a Kubernetes Indexed Job or any scheduler: disjoint,
//! complete, deterministic (from the grid, the selection and the volume's
//! chunk shape alone, so every node computes the same split without
//! talking to the others), balanced by the bytes each cell reads (within
//! one cell), and aware of chunks (cells are grouped by the chunks they
//! touch, so the chunks decoded by all workers together stay close to
//! what one process decodes).
//!
//! ```
//! use impart::{ArrayVolume, Partition, Shard};
//! use ndarray::Array3;
//!
//! let data = Array3::<u16>::zeros((64, 64, 64));
//! let part = Partition::builder(ArrayVolume::new(data.view())?)
//!     .cell(&[16, 16, 16])
//!     .stride(0.5)
//!     .build()?;
//! let cells = part.resolve("...")?;
//! let split = part.shard_split(&cells, 4)?;
//! // every cell in exactly one part
//! let mine: Vec<usize> = split.cells(Shard::new(1, 4)?);
//! assert!(mine.iter().all(|&c| split.owner(c) == 1));
//! assert_eq!((0..4).map(|k| split.part_len(k)).sum::<usize>(), cells.len());
//! # Ok::<(), impart::Error>(())
//! ```
//!
//! # How cells are split
//!
//! Each cell is keyed by the chunk holding the first voxel it reads (for a
//! volume without chunks, a mapped file, by that voxel itself), with the
//! volume's axes ordered outermost first: for chunks, the axis with the
//! most chunks first; without chunks, the axes in their order (not by a
//! mapping's strides: a worker that reads without one splits the same
//! way). The cells are then ordered as the leaves of a k-d tree built for
//! N parts: a node for `m` parts is cut across the axis its keys spread
//! widest on, at the byte fraction `floor(m/2) / m`, each side ordered the
//! same way for its share, a leaf by key and C-order position. That order
//! is cut into N runs of equal bytes: the cell whose bytes span
//! `[a, a + w)` of the total `T` goes to part `floor((a + w/2) N / T)`, so
//! every part holds `T / N` bytes give or take one cell, and each part is
//! (up to a few cells on its faces) one compact block of chunks. Only the
//! chunks on the faces between blocks are decoded by two workers; a
//! round-robin split (cell `c` to part `c mod N`) decodes nearly every
//! chunk in every part
//! ([`ShardSplit::round_robin`], the baseline).

use std::fmt;
use std::str::FromStr;

use super::Partition;
use crate::error::{Error, Result};
use crate::grid::CellBox;
use crate::volume::Volume;

/// Part `index` of `count` of a job (0-based): `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// The environment variable that gives the number of shards when the
/// scheduler's own variables do not (a Kubernetes Indexed Job sets only
/// `JOB_COMPLETION_INDEX`).
pub const SHARDS_VAR: &str = "IMPART_SHARDS";

impl Shard {
    /// Part `index` of `count`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] unless `count >= 1` and `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(invalid(format!(
                "{index}/{count}: the part must be below the count (0-based: 0/{c} .. {}/{c})",
                count.max(1) - 1,
                c = count.max(1)
            )));
        }
        Ok(Shard { index, count })
    }

    /// The whole job as one part (`0/1`).
    pub const fn whole() -> Self {
        Shard { index: 0, count: 1 }
    }

    /// Which part (0-based).
    pub const fn index(&self) -> usize {
        self.index
    }

    /// How many parts.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// This worker's part, from the scheduler's environment (`--shard
    /// auto`):
    ///
    /// - a Slurm job array: with `count` given, part
    ///   `SLURM_ARRAY_TASK_ID` of `count` (the array's indices are the
    ///   shard numbers, as in `--array=0-7` or a resubmission of failed
    ///   tasks, `--array=2,5`); else `SLURM_ARRAY_TASK_ID`, less
    ///   `SLURM_ARRAY_TASK_MIN` (0 if unset), divided by
    ///   `SLURM_ARRAY_TASK_STEP` (1 if unset), of `SLURM_ARRAY_TASK_COUNT`
    ///   parts (or `(MAX - MIN) / STEP + 1`), which must agree: an array of
    ///   irregular indices needs `count`;
    /// - a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`, of `count`
    ///   parts, else of [`SHARDS_VAR`] (`IMPART_SHARDS`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the variable that is missing or
    /// not a number, or an index that is not below the count.
    pub fn from_env(count: Option<usize>) -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok(), count)
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    fn from_vars(var: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<Self> {
        let number = |k: &str| -> Result<Option<usize>> {
            match var(k) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| invalid(format!("{k}={v:?} is not a whole number"))),
            }
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            // with the count given, the array's indices are the shard
            // numbers (--array=0-7, or a resubmission --array=2,5)
            if let Some(n) = count {
                return Self::new(id, n);
            }
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let offset = id.checked_sub(min).ok_or_else(|| {
                invalid(format!(
                    "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
                ))
            })?;
            let irregular = |why: String| {
                invalid(format!(
                    "{why}: an array of irregular indices; give --shards N (the indices are then the shard numbers) or --shard K/N"
                ))
            };
            if offset % step != 0 {
                return Err(irregular(format!(
                    "SLURM_ARRAY_TASK_ID={id} is not MIN={min} plus a multiple of STEP={step}"
                )));
            }
            let span = match number("SLURM_ARRAY_TASK_MAX")? {
                Some(max) if max >= min => Some((max - min) / step + 1),
                Some(max) => {
                    return Err(irregular(format!(
                        "SLURM_ARRAY_TASK_MAX={max} is below SLURM_ARRAY_TASK_MIN={min}"
                    )))
                }
                None => None,
            };
            let n = match (number("SLURM_ARRAY_TASK_COUNT")?, span) {
                (Some(c), Some(s)) if c != s => {
                    return Err(irregular(format!(
                        "SLURM_ARRAY_TASK_COUNT={c} tasks between MIN={min} and MAX by STEP={step}, which spans {s}"
                    )))
                }
                (Some(c), _) => c,
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(invalid(
                        "a Slurm array task without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX: give --shards N".into(),
                    ))
                }
            };
            return Self::new(offset / step, n);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let n = match count {
                Some(n) => n,
                None => number(SHARDS_VAR)?.ok_or_else(|| {
                    invalid(format!(
                        "JOB_COMPLETION_INDEX={index} but no count: give --shards N or set {SHARDS_VAR}"
                    ))
                })?,
            };
            return Self::new(index, n);
        }
        Err(invalid(
            "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set".into(),
        ))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, 0-based (`0/4` .. `3/4`).
    fn from_str(s: &str) -> Result<Self> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| invalid(format!("{s:?} is not K/N (say 0/4)")))?;
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| invalid(format!("{s:?} is not K/N (say 0/4)")))
        };
        Shard::new(num(k)?, num(n)?)
    }
}

fn invalid(detail: String) -> Error {
    Error::InvalidArgument {
        what: "shard",
        detail,
    }
}

/// Which part each cell of a selection belongs to; see the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSplit {
    /// The part of each cell, by its C-order position in the selection.
    owner: Vec<u32>,
    count: usize,
    /// Bytes each part reads.
    /// Bytes each part reads (parts that hold no cell left out: with more
    /// parts than cells, most are empty).
    bytes: std::collections::BTreeMap<usize, u64>,
}

impl ShardSplit {
    /// The baseline: cell `c` (C-order position) to part `c mod count`,
    /// each cell weighing `bytes(c)`.
    ///
    /// # Errors
    ///
    /// As [`Partition::shard_split`].
    pub fn round_robin(cells: usize, count: usize, bytes: impl Fn(usize) -> u64) -> Result<Self> {
        let count = checked_count(count)?;
        let owner: Vec<u32> = (0..cells).map(|c| (c % count) as u32).collect();
        let mut weights = std::collections::BTreeMap::new();
        for (c, &k) in owner.iter().enumerate() {
            *weights.entry(k as usize).or_insert(0u64) += bytes(c);
        }
        Ok(ShardSplit {
            owner,
            count,
            bytes: weights,
        })
    }

    /// How many parts.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The part of the cell at C-order position `c` of the selection.
    ///
    /// # Panics
    ///
    /// If `c` is not a position of the selection.
    pub fn owner(&self, c: usize) -> usize {
        self.owner[c] as usize
    }

    /// The cells of `shard` (C-order positions in the selection,
    /// ascending); none if `shard` has another count.
    pub fn cells(&self, shard: Shard) -> Vec<usize> {
        if shard.count() != self.count {
            return Vec::new();
        }
        let k = shard.index() as u32;
        (0..self.owner.len())
            .filter(|&c| self.owner[c] == k)
            .collect()
    }

    /// Cells in part `k`.
    pub fn part_len(&self, k: usize) -> usize {
        self.owner.iter().filter(|&&o| o as usize == k).count()
    }

    /// Bytes the cells of part `k` read.
    pub fn part_bytes(&self, k: usize) -> u64 {
        self.bytes.get(&k).copied().unwrap_or(0)
    }
}

/// Splits `keyed` (a key, a position `0..n` and a weight per item) into
/// `count` parts: ordered by [`bisect`], cut into runs of equal weight by
/// the middle-byte rule. Returns each position's part and each part's
/// weight. Also the split of a stitch's output regions.
pub(crate) fn split_keyed(
    mut keyed: Vec<Keyed>,
    count: usize,
) -> (Vec<u32>, std::collections::BTreeMap<usize, u64>) {
    let n = keyed.len();
    bisect(&mut keyed, count);
    let total: u128 = keyed.iter().map(|k| u128::from(k.2)).sum();
    let mut owner = vec![0u32; n];
    let mut bytes = std::collections::BTreeMap::new();
    let mut before: u128 = 0;
    for (rank, (_, c, w)) in keyed.iter().enumerate() {
        let part = if total == 0 {
            (rank as u128 * count as u128 / n.max(1) as u128) as usize
        } else {
            // the part the item's middle byte falls in
            let middle = 2 * before + u128::from(*w);
            ((middle * count as u128) / (2 * total)) as usize
        }
        .min(count - 1);
        if let Some(o) = owner.get_mut(*c) {
            *o = part as u32;
        }
        let b = bytes.entry(part).or_insert(0u64);
        *b = b.saturating_add(*w);
        before += u128::from(*w);
    }
    (owner, bytes)
}

/// A cell's key (its chunk, axes outermost first), its C-order position
/// and the bytes it reads.
pub(crate) type Keyed = (Vec<usize>, usize, u64);

/// Orders `items` for `parts` parts: cut at the byte fraction
/// `floor(parts / 2) / parts` across the axis on which their keys spread
/// the widest (the first such axis), each side ordered the same way for
/// its share of the parts; a side for one part is ordered by key, then
/// C-order position. Runs of the result are compact blocks of chunks (a
/// k-d tree's leaves, in order).
fn bisect(items: &mut [Keyed], parts: usize) {
    let by_key = |a: &Keyed, b: &Keyed| (&a.0, a.1).cmp(&(&b.0, b.1));
    let Some(first) = items.first() else {
        return;
    };
    let ndim = first.0.len();
    let spread = |d: usize| {
        let (lo, hi) = items.iter().fold((usize::MAX, 0), |(lo, hi), k| {
            (lo.min(k.0[d]), hi.max(k.0[d]))
        });
        hi - lo
    };
    let axis = (0..ndim).max_by_key(|&d| (spread(d), std::cmp::Reverse(d)));
    let axis = match axis {
        Some(d) if parts > 1 && items.len() > 1 && spread(d) > 0 => d,
        _ => {
            items.sort_unstable_by(by_key);
            return;
        }
    };
    items.sort_unstable_by(|a, b| a.0[axis].cmp(&b.0[axis]).then_with(|| by_key(a, b)));
    let left_parts = parts / 2;
    let total: u128 = items.iter().map(|k| u128::from(k.2)).sum();
    // the first item whose middle byte is past the left side's share
    let mut before: u128 = 0;
    let mut cut = items.len();
    for (i, k) in items.iter().enumerate() {
        let middle = 2 * before + u128::from(k.2);
        if middle * parts as u128 >= 2 * total * left_parts as u128 {
            cut = i;
            break;
        }
        before += u128::from(k.2);
    }
    let (left, right) = items.split_at_mut(cut);
    bisect(left, left_parts);
    bisect(right, parts - left_parts);
}

pub(crate) fn checked_count(count: usize) -> Result<usize> {
    if count == 0 || count > u32::MAX as usize {
        return Err(invalid(format!(
            "{count} shards: at least 1 and at most {}",
            u32::MAX
        )));
    }
    Ok(count)
}

impl<V: Volume> Partition<V> {
    /// The split of the cells `cells` (a resolved selection, see
    /// [`resolve`](Self::resolve)) into `count` parts; see the
    /// [module docs](self::super::shard) for how.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `count` is 0 or above `u32::MAX`;
    /// [`Error::TooManyCells`] if the selection's bookkeeping (16 bytes a
    /// cell) cannot be allocated.
    pub fn shard_split(&self, cells: &CellBox, count: usize) -> Result<ShardSplit> {
        let count = checked_count(count)?;
        let n = cells.len();
        let too_many = || Error::TooManyCells {
            volume: self.volume().name().to_string(),
            cells: n,
        };
        let volume = self.volume();
        let ndim = volume.shape().len();
        let size = volume.dtype().size() as u64;
        // the unit a key counts in, and the axes from outermost
        let (unit, order): (Vec<usize>, Vec<usize>) = match volume.chunk_shape() {
            Some(chunk) if chunk.len() == ndim => {
                let unit: Vec<usize> = chunk.iter().map(|&c| c.max(1)).collect();
                let mut order: Vec<usize> = (0..ndim).collect();
                let chunks = |a: usize| volume.shape()[a].div_ceil(unit[a]);
                order.sort_by_key(|&a| (std::cmp::Reverse(chunks(a)), a));
                (unit, order)
            }
            // no chunks (a mapped file): by voxel, axes in their order; not
            // by the mapping's strides, so that a worker reading with
            // --no-mmap splits the same way as one that maps
            _ => (vec![1; ndim], (0..ndim).collect()),
        };
        let mut keyed: Vec<(Vec<usize>, usize, u64)> = Vec::new();
        keyed.try_reserve_exact(n).map_err(|_| too_many())?;
        for c in 0..n {
            let cell = self.nth_cell(cells, c);
            let (key, bytes) = match cell.read_bounds() {
                Some(r) => (
                    order.iter().map(|&a| r.start()[a] / unit[a]).collect(),
                    r.shape()
                        .iter()
                        .fold(size, |b, &e| b.saturating_mul(e as u64)),
                ),
                None => (vec![0; ndim], 0),
            };
            keyed.push((key, c, bytes));
        }
        let (owner, bytes) = split_keyed(keyed, count);
        Ok(ShardSplit {
            owner,
            count,
            bytes,
        })
    }

    /// The C-order positions, in `cells`, of the cells of `shard`:
    /// [`shard_split`](Self::shard_split)`(cells, shard.count())`'s part
    /// `shard.index()`.
    ///
    /// # Errors
    ///
    /// As [`shard_split`](Self::shard_split).
    pub fn shard_cells(&self, cells: &CellBox, shard: Shard) -> Result<Vec<usize>> {
        Ok(self.shard_split(cells, shard.count())?.cells(shard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_as_k_of_n() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard::new(2, 4).unwrap());
        assert_eq!(Shard::new(2, 4).unwrap().to_string(), "2/4");
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_slurm_array_task_is_its_shard() {
        let s = Shard::from_vars(
            vars(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_MAX", "3"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s, Shard::new(2, 4).unwrap());
        // --array=10-16:2 (tasks 10, 12, 14, 16), no COUNT
        let s = Shard::from_vars(
            vars(&[
                ("SLURM_ARRAY_TASK_ID", "14"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_MAX", "16"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s, Shard::new(2, 4).unwrap());
        assert!(Shard::from_vars(vars(&[("SLURM_ARRAY_TASK_ID", "1")]), None).is_err());
        // failed tasks 2 and 5 of 8 resubmitted: --array=2,5
        let again = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
        ];
        let err = Shard::from_vars(vars(&again), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("irregular"), "{err}");
        assert_eq!(
            Shard::from_vars(vars(&again), Some(8)).unwrap(),
            Shard::new(5, 8).unwrap()
        );
        // an id off the step
        let off = [
            ("SLURM_ARRAY_TASK_ID", "13"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_MAX", "16"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        assert!(Shard::from_vars(vars(&off), None).is_err());
        assert_eq!(
            Shard::from_vars(vars(&[("SLURM_ARRAY_TASK_ID", "1")]), Some(3)).unwrap(),
            Shard::new(1, 3).unwrap()
        );
    }

    #[test]
    fn a_kubernetes_completion_index_needs_a_count() {
        let k8s = [("JOB_COMPLETION_INDEX", "3")];
        let err = Shard::from_vars(vars(&k8s), None).unwrap_err().to_string();
        assert!(err.contains("IMPART_SHARDS"), "{err}");
        assert_eq!(
            Shard::from_vars(vars(&k8s), Some(5)).unwrap(),
            Shard::new(3, 5).unwrap()
        );
        let with = [("JOB_COMPLETION_INDEX", "3"), (SHARDS_VAR, "4")];
        assert_eq!(
            Shard::from_vars(vars(&with), None).unwrap(),
            Shard::new(3, 4).unwrap()
        );
        let over = [("JOB_COMPLETION_INDEX", "4"), (SHARDS_VAR, "4")];
        assert!(Shard::from_vars(vars(&over), None).is_err());
        let err = Shard::from_vars(vars(&[]), None).unwrap_err().to_string();
        assert!(err.contains("SLURM_ARRAY_TASK_ID"), "{err}");
        let bad = [("JOB_COMPLETION_INDEX", "two")];
        assert!(Shard::from_vars(vars(&bad), Some(4)).is_err());
    }
}
