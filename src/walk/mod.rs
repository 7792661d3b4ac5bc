//! Parallel walks over the cells of a partition, with rayon (feature
//! `rayon`).
//!
//! A walk visits the cells of a box in the volume's memory order, batch
//! after batch, each batch spread over rayon's threads. One file per
//! strategy:
//!
//! - `plan`: the order (grid axes by the volume's strides), the batches
//!   (whole slabs, enough cells per thread) and, for a volume without
//!   addressable memory, the [`WalkPlan`](crate::WalkPlan) handed to
//!   [`Volume::begin_walk`](crate::Volume::begin_walk);
//! - `hints`: for a volume with a layout (a mapped file), the bytes each
//!   batch touches, announced before it
//!   ([`AccessHint::WillNeed`](crate::AccessHint::WillNeed)) and released
//!   once no later batch reads them
//!   ([`AccessHint::DontNeed`](crate::AccessHint::DontNeed));
//! - `parallel`: the rayon adapter, [`Partition`](crate::Partition)'s
//!   `par_cells`, `par_map_cells`, `par_for_each_cell`, and the crate's
//!   own `walk` under them and under fragmentation.
//!
//! This layer sits above `partition`: it uses the partition's public API
//! and three crate-internal helpers (`nth_cell`, `Selected::read_bounds`,
//! `Selected::in_session`); the partition never imports it.

mod hints;
mod parallel;
mod plan;
