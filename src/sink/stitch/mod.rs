//! Stitching per-cell results back into one output (issue 13, in
//! progress): the blending weights ([`Blend`], [`CellWeights`]) and the
//! grid along one axis ([`AxisCells`]: covering cells, `crop` ownership).
//! The stitcher itself (online reduction along the plan order,
//! chunk-aligned outputs, resume) builds on them.

mod axes;
mod weights;

pub use axes::AxisCells;
pub use weights::{Blend, CellWeights, GAUSSIAN_FLOOR};
