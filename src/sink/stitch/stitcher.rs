//! The stitcher: per-cell predictions accumulated region by region, each
//! region normalized and handed on as soon as its last cell is in.

use std::ops::{Add, Div, Mul, Range};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use ndarray::{ArrayViewD, IxDyn};

use super::journal::Journal;
use super::lattice::{Blocks, Lattice};
use super::scratch::Scratch;
use super::weights::{Blend, CellWeights};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::grid::{Grid, Region};

/// The element type sums are accumulated in: `f32` (the default) or `f64`.
pub trait Accumulator:
    Element + Add<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// Zero.
    const ZERO: Self;
}

impl Accumulator for f32 {
    const ZERO: f32 = 0.0;
}

impl Accumulator for f64 {
    const ZERO: f64 = 0.0;
}

/// What receives each finished region: its normalized values, shape
/// `(C, *region)` in C order, once per region, from any thread.
///
/// Closures `Fn(&Region, ArrayViewD<A>) -> Result<()>` are sinks;
/// [`OutputSink`](super::OutputSink) reduces and writes into an output
/// volume.
pub trait RegionSink<A>: Sync {
    /// One finished region (voxels of the output, grid axes).
    ///
    /// # Errors
    ///
    /// Whatever stops the stitch.
    fn region(&self, region: &Region, values: ArrayViewD<'_, A>) -> Result<()>;

    /// After the last region.
    ///
    /// # Errors
    ///
    /// The sink's own (completing an output).
    fn finish(&self) -> Result<()> {
        Ok(())
    }
}

impl<A, F> RegionSink<A> for F
where
    F: Fn(&Region, ArrayViewD<'_, A>) -> Result<()> + Sync,
{
    fn region(&self, region: &Region, values: ArrayViewD<'_, A>) -> Result<()> {
        self(region, values)
    }
}

/// Options of a stitch: blending, how the output is cut into regions, the
/// plan order, a scratch directory and a journal to resume from.
#[derive(Debug, Clone, Default)]
pub struct StitchOptions {
    blend: Option<Blend>,
    blocks: Blocks,
    order: Option<Vec<usize>>,
    scratch: Option<PathBuf>,
    journal: Option<(PathBuf, String, bool)>,
    shard: Option<crate::Shard>,
}

impl StitchOptions {
    /// `blend` (default: [`Blend::gaussian`]).
    pub fn new(blend: Blend) -> Self {
        StitchOptions {
            blend: Some(blend),
            ..StitchOptions::default()
        }
    }

    /// How the output is cut into regions (default [`Blocks::Natural`]; a
    /// chunked output passes its chunk shape).
    pub fn blocks(mut self, blocks: Blocks) -> Self {
        self.blocks = blocks;
        self
    }

    /// The plan order: the grid axes from outermost to innermost (default:
    /// the order with the smallest accumulator, see the
    /// [module docs](super)).
    pub fn order(mut self, order: Option<Vec<usize>>) -> Self {
        self.order = order;
        self
    }

    /// Keep the accumulators in a sparse scratch file in `dir`, mapped,
    /// instead of memory. Each region's blocks are reserved when its
    /// accumulator starts, so a full file system is an [`Error::Io`]
    /// naming the scratch file (from [`add`](Stitcher::add)), not a crash.
    pub fn scratch(mut self, dir: Option<PathBuf>) -> Self {
        self.scratch = dir;
        self
    }

    /// Record finished regions in a journal at `path` for the job described
    /// by `job`; with `resume`, skip the regions a journal of the same job
    /// lists.
    pub fn journal(mut self, path: PathBuf, job: String, resume: bool) -> Self {
        self.journal = Some((path, job, resume));
        self
    }

    /// Stitch only the regions of `shard` (default: all): the output's
    /// regions (a Zarr output's chunks) are split into `shard.count()`
    /// compact blocks of about equal voxels, the same way on every worker
    /// (from the grid and the blocks alone), and this stitcher finishes
    /// the regions of block `shard.index()`, adding every cell that covers
    /// one of them ([`needed`](Stitcher::needed)). Each region has one
    /// writer among the workers, and is the same as in a single stitch: a
    /// region depends on its own cells only. Cells on the faces between
    /// blocks are computed by both sides ([`StitchReport::cells_added`]
    /// summed over the shards, against the grid's cells, is the recompute).
    pub fn shard(mut self, shard: crate::Shard) -> Self {
        self.shard = (shard.count() > 1).then_some(shard);
        self
    }
}

/// An accumulator: in memory, or a region of the scratch file.
enum Acc<A> {
    Heap(Vec<A>),
    Scratch,
}

struct RegionState<A> {
    acc: Option<Acc<A>>,
    /// Cells added so far (in plan order).
    next: usize,
    /// Contributions that arrived before their turn: plan rank and
    /// `w · p` over the cell's overlap with the region.
    pending: Vec<(usize, Vec<A>)>,
    done: bool,
}

/// What a stitch did (see [`Stitcher::report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StitchReport {
    /// Regions the output was cut into.
    pub regions: usize,
    /// Regions finished (by this run or, resumed, an earlier one).
    pub finished: usize,
    /// Regions an earlier run had finished (resume).
    pub resumed: usize,
    /// Regions of other shards ([`StitchOptions::shard`]): left to their
    /// workers, counted in `finished`.
    pub foreign: usize,
    /// Cell predictions added.
    pub cells_added: u64,
    /// Contributions that arrived before their turn and waited.
    pub buffered: u64,
    /// Most accumulator bytes held at once (waiting contributions
    /// included).
    pub peak_accumulator_bytes: u64,
    /// The accumulator bytes adding every cell in plan order one at a time
    /// holds at most (see [`Stitcher::planned_peak_bytes`]).
    pub planned_peak_bytes: u64,
}

/// Puts per-cell predictions back into one output; see the
/// [module docs](super).
pub struct Stitcher<'s, A: Accumulator = f32> {
    grid: Grid,
    lattice: Lattice,
    channels: usize,
    /// The full cell's weights, C order, grid axes.
    weights: Vec<A>,
    crop: bool,
    regions: Vec<Mutex<RegionState<A>>>,
    scratch: Option<Scratch<A>>,
    sink: &'s dyn RegionSink<A>,
    journal: Option<Journal>,
    resumed: usize,
    foreign: usize,
    finished: AtomicUsize,
    added: AtomicU64,
    buffered: AtomicU64,
    live: AtomicU64,
    peak: AtomicU64,
    failed: AtomicBool,
    /// Freed accumulators kept for reuse (no page faults for the next).
    pool: Mutex<Vec<Vec<A>>>,
}

/// Freed accumulators kept for reuse, at most.
const POOL: usize = 2;

impl<A: Accumulator> std::fmt::Debug for Stitcher<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stitcher")
            .field("grid", &self.grid)
            .field("channels", &self.channels)
            .field("regions", &self.regions.len())
            .finish_non_exhaustive()
    }
}

impl<'s, A: Accumulator> Stitcher<'s, A> {
    /// A stitcher of `channels`-channel predictions over the cells of
    /// `grid`, handing each finished region to `sink`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no channels, a Gaussian sigma that is
    /// not positive (or not one per axis), a block shape or order that does
    /// not fit the grid; [`Error::Io`] if the scratch file or journal cannot
    /// be made or read.
    pub fn new(
        grid: &Grid,
        channels: usize,
        options: &StitchOptions,
        sink: &'s dyn RegionSink<A>,
    ) -> Result<Self> {
        if channels == 0 {
            return Err(Error::InvalidArgument {
                what: "channels",
                detail: "a prediction has at least one channel".into(),
            });
        }
        let blend = options.blend.clone().unwrap_or_else(Blend::gaussian);
        if let Blend::Gaussian { sigma_scale } = &blend {
            if (sigma_scale.len() != 1 && sigma_scale.len() != grid.ndim())
                || sigma_scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
            {
                return Err(Error::InvalidArgument {
                    what: "sigma_scale",
                    detail: format!(
                        "{sigma_scale:?}: one positive number, or one per grid axis ({})",
                        grid.ndim()
                    ),
                });
            }
        }
        let crop = blend == Blend::Crop;
        let lattice = Lattice::new(grid, crop, &options.blocks, options.order.as_deref())?;
        let cw = CellWeights::new(&blend, grid.cell_shape());
        let weights = full_weights(&cw, grid.cell_shape());
        let scratch = match &options.scratch {
            Some(dir) => Some(Scratch::new(
                dir,
                (0..lattice.len()).map(|id| {
                    channels * lattice.region(&lattice.unravel(id)).voxels().unwrap_or(0)
                }),
            )?),
            None => None,
        };
        let (journal, done) = match &options.journal {
            Some((path, job, resume)) => {
                let (j, done) = Journal::open(path, job, *resume)?;
                (Some(j), done)
            }
            None => (None, Vec::new()),
        };
        let mut regions: Vec<Mutex<RegionState<A>>> = (0..lattice.len())
            .map(|_| {
                Mutex::new(RegionState {
                    acc: None,
                    next: 0,
                    pending: Vec::new(),
                    done: false,
                })
            })
            .collect();
        let mut resumed = 0;
        for id in done {
            if let Some(r) = regions.get_mut(id) {
                let st = r.get_mut().unwrap_or_else(|e| e.into_inner());
                if !st.done {
                    st.done = true;
                    resumed += 1;
                }
            }
        }
        // the regions of the other shards count as done here
        let mut foreign = 0;
        if let Some(shard) = options.shard {
            crate::partition::shard::checked_count(shard.count())?;
            let keyed: Vec<crate::partition::shard::Keyed> = (0..lattice.len())
                .map(|id| {
                    let index = lattice.unravel(id);
                    let voxels = lattice.region(&index).voxels().unwrap_or(0) as u64;
                    (index, id, voxels)
                })
                .collect();
            let (owner, _) = crate::partition::shard::split_keyed(keyed, shard.count());
            for (id, r) in regions.iter_mut().enumerate() {
                let st = r.get_mut().unwrap_or_else(|e| e.into_inner());
                if owner[id] as usize != shard.index() && !st.done {
                    st.done = true;
                    foreign += 1;
                }
            }
        }
        Ok(Stitcher {
            grid: grid.clone(),
            lattice,
            channels,
            weights,
            crop,
            regions,
            scratch,
            sink,
            journal,
            resumed,
            foreign,
            finished: AtomicUsize::new(resumed + foreign),
            added: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Channels per prediction.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The plan order: grid axes, outermost first.
    pub fn order(&self) -> &[usize] {
        &self.lattice.order
    }

    /// Every cell of the grid in plan order.
    pub fn plan(&self) -> Vec<Vec<usize>> {
        let all: Vec<Range<usize>> = self.grid.shape().iter().map(|&n| 0..n).collect();
        self.lattice.plan_of(&all)
    }

    /// Whether `cell` contributes to a region not yet finished (false for
    /// the cells a resumed stitch need not redo).
    pub fn needed(&self, cell: &[usize]) -> bool {
        let regions = self.lattice.regions_of(cell);
        self.lattice
            .plan_of_regions(&regions)
            .iter()
            .any(|r| !self.state(self.lattice.ravel(r)).done)
    }

    /// The accumulator bytes of adding every cell in plan order one at a
    /// time, at most (`C · size_of::<A>()` per voxel of the regions open at
    /// once): the memory bound of the plan, without the predictions
    /// themselves.
    pub fn planned_peak_bytes(&self) -> u64 {
        let voxels = self.lattice.planned_peak_voxels();
        let bytes = voxels * (self.channels * std::mem::size_of::<A>()) as u128;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    fn state(&self, id: usize) -> std::sync::MutexGuard<'_, RegionState<A>> {
        self.regions[id].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the prediction of one cell: shape `(C, *cell)` (or `(*cell)`
    /// for one channel), `cell` being the cell's shape in the grid (clipped
    /// at the border under `Edge::Clip`, and under `Shift` where the cell is
    /// larger than the volume; full otherwise and under `Pad`), in
    /// any memory layout and element type. The view is read, not kept.
    /// Regions whose last cell this is are normalized and handed to the
    /// sink before this returns. From any thread, in any order; the plan
    /// order keeps memory smallest.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a cell outside the grid, a prediction
    /// of the wrong shape, or a cell added twice; [`Error::Io`] naming the
    /// scratch file if its file system has no room for a region's
    /// accumulator; the sink's error.
    pub fn add<T: Element>(&self, cell: &[usize], prediction: ArrayViewD<'_, T>) -> Result<()> {
        let region = self.grid.cell_region(cell)?;
        let cell_shape = region.shape();
        let c = self.channels;
        let p = if prediction.ndim() == cell_shape.len() && c == 1 {
            prediction.insert_axis(ndarray::Axis(0))
        } else {
            prediction
        };
        if p.ndim() != cell_shape.len() + 1 || p.shape()[1..] != *cell_shape || p.shape()[0] != c {
            return Err(Error::InvalidArgument {
                what: "prediction",
                detail: format!(
                    "cell {cell:?}: shape {:?}, expected ({c}, {})",
                    p.shape(),
                    cell_shape
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let p = p.as_standard_layout();
        let ps = p.as_slice().ok_or_else(|| Error::InvalidArgument {
            what: "prediction",
            detail: "not contiguous after copying to C order".into(),
        })?;
        let geom = CellGeom {
            start: region.start(),
            strides: c_strides(cell_shape),
            voxels: cell_shape.iter().product(),
        };
        self.added.fetch_add(1, Ordering::Relaxed);
        let boxes = self.lattice.regions_of(cell);
        for r in self.lattice.plan_of_regions(&boxes) {
            let id = self.lattice.ravel(&r);
            let rregion = self.lattice.region(&r);
            let cells = self.lattice.cells_of(&r);
            let count: usize = cells.iter().map(|x| x.len()).product();
            let rank = self.lattice.rank(cell, &cells);
            let overlap = self.lattice.overlap(cell, &rregion);
            let mut st = self.state(id);
            if st.done {
                continue;
            }
            if rank < st.next || st.pending.iter().any(|(k, _)| *k == rank) {
                return Err(Error::InvalidArgument {
                    what: "prediction",
                    detail: format!("cell {cell:?} was added twice"),
                });
            }
            if rank != st.next {
                let buf = self.contribution(ps, &geom, &overlap)?;
                self.grow((buf.len() * std::mem::size_of::<A>()) as u64);
                st.pending.push((rank, buf));
                self.buffered.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let rshape = rregion.shape().to_vec();
            let rvox: usize = rshape.iter().product();
            if st.acc.is_none() {
                st.acc = Some(self.allocate(id, c * rvox)?);
            }
            let mut acc_state = st.acc.take();
            {
                let acc = self.acc_slice(id, &mut acc_state);
                self.accumulate(acc, &rregion, ps, &geom, &overlap);
                st.next += 1;
                while let Some(k) = st.pending.iter().position(|(rk, _)| *rk == st.next) {
                    let (_, stored) = st.pending.swap_remove(k);
                    self.add_stored(
                        acc,
                        &rregion,
                        &stored,
                        &overlap_of_rank(self, &cells, st.next, &rregion),
                    );
                    self.shrink((stored.len() * std::mem::size_of::<A>()) as u64);
                    st.next += 1;
                }
            }
            if st.next < count {
                st.acc = acc_state;
                continue;
            }
            st.done = true;
            drop(st);
            self.finalize(id, &rregion, &cells, acc_state)?;
        }
        Ok(())
    }

    /// Adds a batch of predictions, shape `(B, C, *cell)` (or `(B, *cell)`
    /// for one channel), one per cell of `cells`, all of the same shape.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add), and [`Error::InvalidArgument`] if the batch
    /// does not have one prediction per cell.
    pub fn add_batch<T: Element>(
        &self,
        cells: &[Vec<usize>],
        batch: ArrayViewD<'_, T>,
    ) -> Result<()> {
        if batch.ndim() == 0 || batch.shape()[0] != cells.len() {
            return Err(Error::InvalidArgument {
                what: "prediction batch",
                detail: format!(
                    "{} cells for a batch of shape {:?}",
                    cells.len(),
                    batch.shape()
                ),
            });
        }
        for (b, cell) in cells.iter().enumerate() {
            self.add(cell, batch.index_axis(ndarray::Axis(0), b))?;
        }
        Ok(())
    }

    /// Runs `f` on every cell still [`needed`](Self::needed), in plan order,
    /// on the current rayon pool: each worker takes the next cell of the
    /// plan when it is free, so the cells in flight are always the next few
    /// of the plan. `f` is expected to compute the cell's prediction and
    /// [`add`](Self::add) it; `progress` is called after each cell with the
    /// number done and the number to do.
    ///
    /// # Errors
    ///
    /// The first error of `f` (the workers stop taking cells).
    pub fn run<F>(&self, f: F, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<()>
    where
        F: Fn(&[usize]) -> Result<()> + Sync,
    {
        self.check_not_failed()?;
        let cells: Vec<Vec<usize>> = self.plan().into_iter().filter(|c| self.needed(c)).collect();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = rayon::current_num_threads().max(1);
        rayon::scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| loop {
                    if self.failed.load(Ordering::Acquire) {
                        return;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = cells.get(k) else {
                        return;
                    };
                    if let Err(e) = f(cell) {
                        self.failed.store(true, Ordering::Release);
                        let mut slot = error.lock().unwrap_or_else(|e| e.into_inner());
                        slot.get_or_insert(e);
                        return;
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(n, cells.len());
                });
            }
        });
        match error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes the regions no cell contributes to (zeros), checks that every
    /// region is finished, and finishes the sink (completing its output)
    /// and the journal.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming a region and a cell it still waits
    /// for; [`Error::Io`] naming the scratch file, as in
    /// [`add`](Self::add); the sink's error.
    pub fn finish(&self) -> Result<StitchReport> {
        self.check_not_failed()?;
        for id in 0..self.regions.len() {
            let r = self.lattice.unravel(id);
            let cells = self.lattice.cells_of(&r);
            let mut st = self.state(id);
            if st.done {
                continue;
            }
            if cells.iter().any(|c| c.is_empty()) {
                st.done = true;
                drop(st);
                let region = self.lattice.region(&r);
                let acc = self.allocate(id, self.channels * region.voxels().unwrap_or(0))?;
                self.finalize(id, &region, &cells, Some(acc))?;
                continue;
            }
            let missing = self
                .lattice
                .plan_of(&cells)
                .into_iter()
                .nth(st.next)
                .unwrap_or_default();
            return Err(Error::InvalidArgument {
                what: "stitch",
                detail: format!(
                    "{} of {} regions are unfinished; region {} still waits for cell {missing:?}",
                    self.regions.len() - self.finished.load(Ordering::Acquire),
                    self.regions.len(),
                    self.lattice.region(&r)
                ),
            });
        }
        self.sink.finish()?;
        if let Some(j) = &self.journal {
            j.remove()?;
        }
        Ok(self.report())
    }

    /// An error if a region failed to be written: the output is
    /// incomplete and must not be finished (a journal lets a new stitcher
    /// resume it).
    fn check_not_failed(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::InvalidArgument {
                what: "stitch",
                detail: "a region failed to be written earlier; the output is incomplete (resume it with a new stitcher over the journal)".into(),
            });
        }
        Ok(())
    }

    /// What the stitch has done so far.
    pub fn report(&self) -> StitchReport {
        StitchReport {
            regions: self.regions.len(),
            finished: self.finished.load(Ordering::Acquire),
            resumed: self.resumed,
            foreign: self.foreign,
            cells_added: self.added.load(Ordering::Relaxed),
            buffered: self.buffered.load(Ordering::Relaxed),
            peak_accumulator_bytes: self.peak.load(Ordering::Relaxed),
            planned_peak_bytes: self.planned_peak_bytes(),
        }
    }

    fn grow(&self, bytes: u64) {
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn shrink(&self, bytes: u64) {
        self.live.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The accumulator of region `id`, of `len` elements.
    fn allocate(&self, id: usize, len: usize) -> Result<Acc<A>> {
        if let Some(s) = &self.scratch {
            s.reserve(id)?;
            self.grow((len * std::mem::size_of::<A>()) as u64);
            return Ok(Acc::Scratch);
        }
        self.grow((len * std::mem::size_of::<A>()) as u64);
        let reused = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter()
                .position(|v| v.capacity() >= len)
                .map(|k| pool.swap_remove(k))
        };
        if let Some(mut v) = reused {
            v.clear();
            v.resize(len, A::ZERO);
            return Ok(Acc::Heap(v));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| Error::TooLarge {
            volume: "stitch accumulator".into(),
            shape: vec![len],
        })?;
        v.resize(len, A::ZERO);
        Ok(Acc::Heap(v))
    }

    /// The accumulator of region `id`, held (taken out of its state) by the
    /// caller.
    fn acc_slice<'a>(&'a self, id: usize, acc: &'a mut Option<Acc<A>>) -> &'a mut [A] {
        match acc {
            Some(Acc::Heap(v)) => v,
            Some(Acc::Scratch) => match &self.scratch {
                // SAFETY: the caller holds region `id`'s accumulator, taken
                // out of its locked state (or owned after the region is
                // done), so no other slice of this region exists.
                Some(s) => unsafe { &mut s.slice(id)[..] },
                None => &mut [],
            },
            None => &mut [],
        }
    }

    fn release(&self, id: usize, acc: Option<Acc<A>>, len: usize) {
        match acc {
            Some(Acc::Scratch) => {
                if let Some(s) = &self.scratch {
                    s.release(id);
                }
            }
            Some(Acc::Heap(v)) => {
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                if pool.len() < POOL {
                    pool.push(v);
                }
            }
            None => {}
        }
        self.shrink((len * std::mem::size_of::<A>()) as u64);
    }

    /// `acc += w · p` over the overlap of a cell with a region.
    fn accumulate<T: Element>(
        &self,
        acc: &mut [A],
        region: &Region,
        p: &[T],
        cell: &CellGeom<'_>,
        overlap: &[Range<usize>],
    ) {
        let ext: Vec<usize> = overlap.iter().map(|r| r.len()).collect();
        let row = ext[ext.len() - 1];
        if row == 0 {
            return;
        }
        let rstrides = c_strides(region.shape());
        let wstrides = c_strides(&self.lattice.cell);
        let rvox: usize = region.shape().iter().product();
        let wbase = offset(overlap, cell.start, &wstrides);
        let pbase = offset(overlap, cell.start, &cell.strides);
        let abase = offset(overlap, region.start(), &rstrides);
        let mut tmp = vec![A::ZERO; row];
        for ch in 0..self.channels {
            rows(
                &ext,
                [&wstrides, &cell.strides, &rstrides],
                [wbase, ch * cell.voxels + pbase, ch * rvox + abase],
                |[w, q, a]| {
                    let pv = as_acc(&p[q..q + row], &mut tmp);
                    let wv = &self.weights[w..w + row];
                    for ((x, &wi), &pi) in acc[a..a + row].iter_mut().zip(wv).zip(pv) {
                        *x = *x + wi * pi;
                    }
                },
            );
        }
    }

    /// `w · p` over the overlap, `(C, *overlap)` in C order, for later.
    fn contribution<T: Element>(
        &self,
        p: &[T],
        cell: &CellGeom<'_>,
        overlap: &[Range<usize>],
    ) -> Result<Vec<A>> {
        let ext: Vec<usize> = overlap.iter().map(|r| r.len()).collect();
        let ovox: usize = ext.iter().product();
        let row = ext[ext.len() - 1];
        let mut out = Vec::new();
        out.try_reserve_exact(self.channels * ovox)
            .map_err(|_| Error::TooLarge {
                volume: "stitch contribution".into(),
                shape: ext.clone(),
            })?;
        out.resize(self.channels * ovox, A::ZERO);
        if row == 0 {
            return Ok(out);
        }
        let ostrides = c_strides(&ext);
        let wstrides = c_strides(&self.lattice.cell);
        let wbase = offset(overlap, cell.start, &wstrides);
        let pbase = offset(overlap, cell.start, &cell.strides);
        let mut tmp = vec![A::ZERO; row];
        for ch in 0..self.channels {
            rows(
                &ext,
                [&wstrides, &cell.strides, &ostrides],
                [wbase, ch * cell.voxels + pbase, ch * ovox],
                |[w, q, o]| {
                    let pv = as_acc(&p[q..q + row], &mut tmp);
                    let wv = &self.weights[w..w + row];
                    for ((x, &wi), &pi) in out[o..o + row].iter_mut().zip(wv).zip(pv) {
                        *x = wi * pi;
                    }
                },
            );
        }
        Ok(out)
    }

    /// `acc += stored` (a [`contribution`](Self::contribution)).
    fn add_stored(&self, acc: &mut [A], region: &Region, stored: &[A], overlap: &[Range<usize>]) {
        let ext: Vec<usize> = overlap.iter().map(|r| r.len()).collect();
        let ovox: usize = ext.iter().product();
        let row = ext[ext.len() - 1];
        if row == 0 {
            return;
        }
        let ostrides = c_strides(&ext);
        let rstrides = c_strides(region.shape());
        let rvox: usize = region.shape().iter().product();
        let abase = offset(overlap, region.start(), &rstrides);
        for ch in 0..self.channels {
            rows(
                &ext,
                [&ostrides, &rstrides],
                [ch * ovox, ch * rvox + abase],
                |[o, a]| {
                    for (x, &s) in acc[a..a + row].iter_mut().zip(&stored[o..o + row]) {
                        *x = *x + s;
                    }
                },
            );
        }
    }

    /// Normalizes a finished region by its weight sum, hands it to the
    /// sink, records it and frees its accumulator.
    fn finalize(
        &self,
        id: usize,
        region: &Region,
        cells: &[Range<usize>],
        mut acc: Option<Acc<A>>,
    ) -> Result<()> {
        let rshape = region.shape().to_vec();
        let rvox: usize = rshape.iter().product();
        let len = self.channels * rvox;
        let result = (|| {
            let values = self.acc_slice(id, &mut acc);
            if !self.crop {
                let wsum = self.weight_sum(region, cells);
                for ch in values.chunks_exact_mut(rvox) {
                    for (x, &s) in ch.iter_mut().zip(&wsum) {
                        *x = if s > A::ZERO { *x / s } else { A::ZERO };
                    }
                }
            }
            let mut shape = vec![self.channels];
            shape.extend_from_slice(&rshape);
            let view = ArrayViewD::from_shape(IxDyn(&shape), &values[..len]).map_err(|e| {
                Error::InvalidLayout {
                    volume: "stitch accumulator".into(),
                    detail: e.to_string(),
                }
            })?;
            self.sink.region(region, view)?;
            if let Some(j) = &self.journal {
                j.record(id)?;
            }
            Ok(())
        })();
        self.release(id, acc, len);
        if result.is_err() {
            self.failed.store(true, Ordering::Release);
        } else {
            self.finished.fetch_add(1, Ordering::AcqRel);
        }
        result
    }

    /// The sum of the weights of every cell contributing to a region, per
    /// voxel, added in plan order (the order the predictions were).
    fn weight_sum(&self, region: &Region, cells: &[Range<usize>]) -> Vec<A> {
        let rvox: usize = region.shape().iter().product();
        let mut wsum = vec![A::ZERO; rvox];
        let rstrides = c_strides(region.shape());
        let wstrides = c_strides(&self.lattice.cell);
        for cell in self.lattice.plan_of(cells) {
            let overlap = self.lattice.overlap(&cell, region);
            let ext: Vec<usize> = overlap.iter().map(|r| r.len()).collect();
            let row = ext[ext.len() - 1];
            if ext.contains(&0) {
                continue;
            }
            let start: Vec<usize> = cell
                .iter()
                .enumerate()
                .map(|(a, &i)| self.lattice.axes[a].starts[i])
                .collect();
            let wbase = offset(&overlap, &start, &wstrides);
            let abase = offset(&overlap, region.start(), &rstrides);
            rows(&ext, [&wstrides, &rstrides], [wbase, abase], |[w, a]| {
                for (x, &wi) in wsum[a..a + row].iter_mut().zip(&self.weights[w..w + row]) {
                    *x = *x + wi;
                }
            });
        }
        wsum
    }
}

/// The overlap with `region` of the cell of plan rank `rank` in `cells`.
fn overlap_of_rank<A: Accumulator>(
    s: &Stitcher<'_, A>,
    cells: &[Range<usize>],
    rank: usize,
    region: &Region,
) -> Vec<Range<usize>> {
    // unravel the rank in plan order
    let mut index = vec![0usize; cells.len()];
    let mut rest = rank;
    for &a in s.lattice.order.iter().rev() {
        let n = cells[a].len().max(1);
        index[a] = cells[a].start + rest % n;
        rest /= n;
    }
    s.lattice.overlap(&index, region)
}

/// Where a cell lies: its first voxel, shape, C-order strides.
struct CellGeom<'a> {
    start: &'a [usize],
    strides: Vec<usize>,
    voxels: usize,
}

/// C-order strides of `shape`, in elements.
fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

/// The offset of the overlap's first voxel in an array starting at
/// `origin` with `strides`.
fn offset(overlap: &[Range<usize>], origin: &[usize], strides: &[usize]) -> usize {
    overlap
        .iter()
        .zip(origin)
        .zip(strides)
        .map(|((r, &o), &s)| (r.start - o) * s)
        .sum()
}

/// Calls `f` with the offsets of every row (all axes but the last) of a box
/// of extent `ext` in `N` arrays of the given strides, starting at `base`.
fn rows<const N: usize>(
    ext: &[usize],
    strides: [&[usize]; N],
    base: [usize; N],
    mut f: impl FnMut([usize; N]),
) {
    let outer = ext.len() - 1;
    if ext[..outer].contains(&0) {
        return;
    }
    let mut index = vec![0usize; outer];
    let mut off = base;
    loop {
        f(off);
        let mut a = outer;
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            index[a] += 1;
            for k in 0..N {
                off[k] += strides[k][a];
            }
            if index[a] < ext[a] {
                break;
            }
            for k in 0..N {
                off[k] -= strides[k][a] * ext[a];
            }
            index[a] = 0;
        }
    }
}

/// `row` as accumulator elements: itself if it already is, else converted
/// into `tmp`.
fn as_acc<'a, T: Element, A: Accumulator>(row: &'a [T], tmp: &'a mut [A]) -> &'a [A] {
    if T::DTYPE == A::DTYPE {
        if let Ok(same) = bytemuck::try_cast_slice::<T, A>(row) {
            return same;
        }
    }
    let tmp = &mut tmp[..row.len()];
    A::convert_from(T::run(row), tmp);
    tmp
}

/// The weights of a full cell, C order.
fn full_weights<A: Accumulator>(w: &CellWeights, shape: &[usize]) -> Vec<A> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push(A::from_f64(f64::from(w.at(&index))));
        for a in (0..shape.len()).rev() {
            index[a] += 1;
            if index[a] < shape[a] {
                break;
            }
            index[a] = 0;
        }
    }
    out
}
