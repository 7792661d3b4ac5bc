//! A grid bound to a volume: lazy selections, zero-copy views and
//! materialization.
//!
//! A [`Partition`] lays a [`Grid`](crate::Grid) over some axes of a
//! [`Volume`](crate::Volume) (by default the first K axes when K cell
//! extents are given); the other axes — channels, time — are carried whole,
//! optionally with an index list on one of them (the original's
//! `channels=(0, 1, 2)`).
//!
//! Indexing returns a [`Selected`]: nothing is read until it is asked for
//! a [`view`](Selected::view) (zero copy, borrowing the volume's memory), an
//! owned array ([`to_array`](Selected::to_array), or
//! [`to_array_as`](Selected::to_array_as) with a cast), or to fill a caller's
//! buffer ([`read_into`](Selected::read_into)).
//!
//! Overlapping cells alias the same voxels, so views are shared (read-only)
//! only.

// One file per seam: the builder, the `Partition` type and its indexing,
// `Selected` and its zero-copy views, materialization, world coordinates,
// and the split of a selection into shards (a function of the grid and the
// volume's chunks alone; the walk layer walks one part, the sinks write
// one).
// Parallel walks over a partition belong to the walk layer (`crate::walk`,
// feature `rayon`), which imports this module, never the other way round.
mod builder;
mod indexing;
mod materialize;
mod selected;
pub mod shard;
mod spatial;

pub use builder::PartitionBuilder;
pub use indexing::Partition;
pub use selected::Selected;
pub use shard::{Shard, ShardSplit};
