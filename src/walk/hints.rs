//! Access hints for a walk over a volume with a layout (a mapped file):
//! the byte span of each batch, announced before the batch and released
//! once no later batch reads it.

use std::ops::Range;

use crate::grid::Region;
use crate::layout::Layout;
use crate::volume::{AccessHint, Volume};

use super::plan::Batches;

/// The bytes of `layout` that `region` touches, first to last.
fn byte_span(layout: &Layout<'_>, region: &Region) -> Option<Range<usize>> {
    let size = layout.dtype().size();
    let mut lo = 0usize;
    let mut hi = 0usize;
    for ((&s, &n), &st) in region
        .start()
        .iter()
        .zip(region.shape())
        .zip(layout.strides())
    {
        lo = lo.checked_add(s.checked_mul(st)?)?;
        hi = hi.checked_add((s + n.checked_sub(1)?).checked_mul(st)?)?;
    }
    Some(lo * size..(hi + 1) * size)
}

/// The batches of a walk, in order; for a volume with a layout the
/// iterator tells it, through [`Volume::hint`], which bytes the next
/// batch reads before this one starts, and which bytes no later batch
/// reads once this one is done.
pub(super) fn hinted<'a, V: Volume>(
    plan: &'a Batches<'a, V>,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let volume = plan.partition().volume();
    let layout = volume.layout();
    let span = move |range: &Range<usize>| -> Option<Range<usize>> {
        let layout = layout.as_ref()?;
        let first = plan.cell(range.start).1.read_bounds()?;
        let last = plan.cell(range.end.checked_sub(1)?).1.read_bounds()?;
        let (a, b) = (byte_span(layout, &first)?, byte_span(layout, &last)?);
        Some(a.start.min(b.start)..a.end.max(b.end))
    };
    let ranges = plan.ranges();
    let spans: Vec<_> = ranges.iter().map(span).collect();
    if let Some(Some(s)) = spans.first() {
        volume.hint(AccessHint::WillNeed(s.clone()));
    }
    let mut released = 0usize;
    let mut b = 0usize;
    std::iter::from_fn(move || {
        // after batch b-1: release what no later batch reads
        if b > 0 {
            let next = spans.get(b).cloned().flatten();
            let upto = match (&next, &spans[b - 1]) {
                (Some(next), _) => next.start,
                (None, Some(prev)) if b == spans.len() => prev.end,
                _ => released,
            };
            if upto > released {
                volume.hint(AccessHint::DontNeed(released..upto));
                released = upto;
            }
        }
        let range = ranges.get(b)?.clone();
        if let Some(Some(ahead)) = spans.get(b + 1) {
            volume.hint(AccessHint::WillNeed(ahead.clone()));
        }
        b += 1;
        Some(range)
    })
}
