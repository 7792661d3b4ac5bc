//! Stitching per-cell results back into one output (issue 13, in
//! progress): the blending weights so far ([`Blend`], [`CellWeights`]).
//! The stitcher itself (online reduction along the plan order,
//! chunk-aligned outputs, resume) builds on them.

mod weights;

pub use weights::{Blend, CellWeights, GAUSSIAN_FLOOR};
