//! What a walk will read, handed to the volume before it starts.

use std::collections::HashMap;

use crate::error::Result;
use crate::grid::Region;

/// The regions a walk reads, in walk order, split into the batches the walk
/// runs one after another (the regions of one batch are read concurrently).
///
/// A volume gets the plan in [`Volume::begin_walk`](crate::Volume::begin_walk)
/// and may return a [`WalkSession`] that serves the walk's reads: a chunked
/// source counts from the plan how many reads need each chunk (so each
/// chunk is decoded once and dropped after its last read) and, at each
/// batch boundary, can fetch the next batch's chunks ahead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkPlan {
    regions: Vec<Region>,
    /// End (exclusive) of each batch in `regions`.
    ends: Vec<usize>,
}

impl WalkPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a batch of regions (an empty batch is kept as a boundary).
    pub fn push_batch(&mut self, batch: impl IntoIterator<Item = Region>) {
        self.regions.extend(batch);
        self.ends.push(self.regions.len());
    }

    /// Every region, in walk order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Number of batches.
    pub fn batch_count(&self) -> usize {
        self.ends.len()
    }

    /// The regions of batch `b` (empty past the last batch).
    pub fn batch(&self, b: usize) -> &[Region] {
        match self.ends.get(b) {
            Some(&end) => {
                let start = if b == 0 { 0 } else { self.ends[b - 1] };
                &self.regions[start..end]
            }
            None => &[],
        }
    }

    /// How many of the plan's regions touch each chunk of a regular chunk
    /// grid of `chunk` extents over a volume of `shape` (regions outside
    /// the volume are left out).
    pub fn chunk_readers(&self, shape: &[usize], chunk: &[usize]) -> HashMap<Vec<u64>, usize> {
        let mut counts = HashMap::new();
        for r in &self.regions {
            if r.ndim() == shape.len() && r.is_within(shape) {
                for c in chunks_of(r, chunk) {
                    *counts.entry(c).or_default() += 1;
                }
            }
        }
        counts
    }
}

/// A walk's reads, served by the volume for the walk's lifetime; dropping
/// it ends the walk and frees whatever it kept. See [`WalkPlan`].
pub trait WalkSession: Send + Sync {
    /// Reads `region` as [`Volume::read_region`](crate::Volume::read_region)
    /// does.
    ///
    /// # Errors
    ///
    /// As [`Volume::read_region`](crate::Volume::read_region).
    fn read_region(&self, region: &Region, out: &mut [u8]) -> Result<()>;

    /// The walk starts batch `b` of its plan (a source may fetch batch
    /// `b + 1` ahead). Default: nothing.
    fn batch_started(&self, b: usize) {
        let _ = b;
    }
}

/// Indices of the chunks of a regular grid of `chunk` extents that `region`
/// touches, in C order.
pub fn chunks_of(region: &Region, chunk: &[usize]) -> Vec<Vec<u64>> {
    let ranges: Vec<std::ops::Range<u64>> = (0..region.ndim())
        .map(|k| {
            let r = region.range(k);
            let u = chunk[k].max(1);
            (r.start / u) as u64..r.end.div_ceil(u) as u64
        })
        .collect();
    let mut out = Vec::new();
    if ranges.iter().any(|r| r.is_empty()) {
        return out;
    }
    let mut idx: Vec<u64> = ranges.iter().map(|r| r.start).collect();
    loop {
        out.push(idx.clone());
        let mut k = idx.len();
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < ranges[k].end {
                break;
            }
            idx[k] = ranges[k].start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_reader_counts() {
        let mut plan = WalkPlan::new();
        let r = |s: [usize; 2], n: [usize; 2]| Region::new(s.to_vec(), n.to_vec()).unwrap();
        plan.push_batch([r([0, 0], [4, 4]), r([0, 2], [4, 4])]);
        plan.push_batch([]);
        plan.push_batch([r([4, 4], [4, 4])]);
        assert_eq!(plan.batch_count(), 3);
        assert_eq!(plan.batch(0).len(), 2);
        assert!(plan.batch(1).is_empty());
        assert_eq!(plan.batch(2), &[r([4, 4], [4, 4])]);
        assert!(plan.batch(3).is_empty());
        let counts = plan.chunk_readers(&[8, 8], &[4, 4]);
        assert_eq!(counts[&vec![0, 0]], 2);
        assert_eq!(counts[&vec![0, 1]], 1);
        assert_eq!(counts[&vec![1, 1]], 1);
        assert_eq!(counts.len(), 3);
        assert_eq!(chunks_of(&r([3, 3], [2, 2]), &[4, 4]).len(), 4);
    }
}
