//! NumPy-style indexing of a grid's cells.
//!
//! A [`Selection`] is a list of per-axis indices — integers (negative count
//! from the end), ranges with open ends, full axes and at most one `...` —
//! that resolves against a grid shape to a [`CellBox`]. Fewer indices than
//! axes leave the remaining axes full, as in NumPy.
//!
//! In Rust, write selections with ndarray's [`s!`](ndarray::s) macro:
//! `s![..3, 15..21]`, `s![10, -1]`, `s![.., 0]`. On the command line (and
//! anywhere text is handy) the same is parsed from NumPy syntax: `":3,15:21"`,
//! `"10,-1"`, `"...,0"` (Rust's `..3` works too).
//!
//! Rules (NumPy's, except where NumPy would silently give nothing):
//! an integer outside `-n..n` is an error; a range stop past the end is
//! clipped; a range start before `-n` is clipped to 0; a range that selects no
//! cell (empty or inverted) is an error; a step other than 1 is an error;
//! more indices than axes is an error.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use ndarray::{SliceInfo, SliceInfoElem};

use crate::grid::CellBox;

/// Errors of grid indexing ([`crate::selection`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// More indices than the grid has axes.
    #[error("too many indices: {given} given for a grid with {ndim} axes")]
    TooManyIndices {
        /// Number of indices given (not counting `...`).
        given: usize,
        /// Number of grid axes.
        ndim: usize,
    },
    /// An integer index outside `-len..len`.
    #[error("index {index} is out of bounds for axis {axis} with {len} cells")]
    IndexOutOfRange {
        /// The axis.
        axis: usize,
        /// The index given.
        index: isize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A range that selects nothing (after negative indices are resolved and
    /// the stop is clipped).
    #[error("empty or inverted range {start}..{stop} on axis {axis} with {len} cells")]
    EmptyRange {
        /// The axis.
        axis: usize,
        /// Resolved start.
        start: isize,
        /// Resolved stop.
        stop: isize,
        /// Number of cells on the axis.
        len: usize,
    },
    /// A range step other than 1.
    #[error(
        "range step {step} on axis {axis} is not supported; a selection is a box of cells (step 1)"
    )]
    StepNotOne {
        /// The axis.
        axis: usize,
        /// The step given.
        step: isize,
    },
    /// `NewAxis` in an `s![]` selection.
    #[error("a new axis (index {position}) cannot select grid cells")]
    NewAxis {
        /// Position in the index list.
        position: usize,
    },
    /// More than one `...`.
    #[error("a selection can hold at most one `...`")]
    MultipleEllipsis,
    /// Selection text that does not parse.
    #[error("cannot parse selection {text:?}: {reason}")]
    Parse {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One axis of a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisIndex {
    /// A single cell; negative counts from the end.
    Index(isize),
    /// A half-open range of cells; `None` is an open end.
    Range {
        /// First cell (default 0).
        start: Option<isize>,
        /// One past the last cell (default: the end).
        stop: Option<isize>,
    },
    /// Every cell on the axis.
    Full,
    /// As many full axes as needed to give every axis an index.
    Ellipsis,
}

impl fmt::Display for AxisIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AxisIndex::Index(i) => write!(f, "{i}"),
            AxisIndex::Range { start, stop } => {
                if let Some(s) = start {
                    write!(f, "{s}")?;
                }
                f.write_str(":")?;
                if let Some(s) = stop {
                    write!(f, "{s}")?;
                }
                Ok(())
            }
            AxisIndex::Full => f.write_str(":"),
            AxisIndex::Ellipsis => f.write_str("..."),
        }
    }
}

/// A list of per-axis indices into a grid; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    items: Vec<AxisIndex>,
}

impl Selection {
    /// Selects every cell.
    pub fn all() -> Self {
        Selection::default()
    }

    /// A selection from its per-axis indices.
    pub fn new(items: Vec<AxisIndex>) -> Self {
        Selection { items }
    }

    /// One cell by its (non-negative) N-d index.
    pub fn cell(index: &[usize]) -> Self {
        Selection {
            items: index
                .iter()
                .map(|&i| AxisIndex::Index(isize::try_from(i).unwrap_or(isize::MAX)))
                .collect(),
        }
    }

    /// The per-axis indices.
    pub fn items(&self) -> &[AxisIndex] {
        &self.items
    }

    /// Resolves the selection against a grid of `shape` cells.
    ///
    /// # Errors
    ///
    /// [`SelectionError::MultipleEllipsis`] for more than one `...`,
    /// [`SelectionError::TooManyIndices`] for more indices than `shape` has
    /// axes, [`SelectionError::IndexOutOfRange`] for an integer outside
    /// `-n..n`, [`SelectionError::EmptyRange`] for a range that selects no
    /// cell once negative ends are resolved and the ends clipped.
    pub fn resolve(&self, shape: &[usize]) -> Result<CellBox, SelectionError> {
        let ellipses = self
            .items
            .iter()
            .filter(|i| matches!(i, AxisIndex::Ellipsis))
            .count();
        if ellipses > 1 {
            return Err(SelectionError::MultipleEllipsis);
        }
        let given = self.items.len() - ellipses;
        if given > shape.len() {
            return Err(SelectionError::TooManyIndices {
                given,
                ndim: shape.len(),
            });
        }
        let mut expanded = Vec::with_capacity(shape.len());
        for item in &self.items {
            if let AxisIndex::Ellipsis = item {
                expanded.extend(std::iter::repeat_n(AxisIndex::Full, shape.len() - given));
            } else {
                expanded.push(*item);
            }
        }
        expanded.resize(shape.len(), AxisIndex::Full);
        let ranges = expanded
            .iter()
            .zip(shape)
            .enumerate()
            .map(|(axis, (item, &n))| resolve_axis(axis, *item, n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CellBox::new(ranges))
    }
}

fn resolve_axis(axis: usize, item: AxisIndex, n: usize) -> Result<Range<usize>, SelectionError> {
    // Grid sizes are far below isize::MAX (at most 2^52 cells per axis).
    let len = isize::try_from(n).unwrap_or(isize::MAX);
    match item {
        AxisIndex::Full | AxisIndex::Ellipsis => Ok(0..n),
        AxisIndex::Index(i) => {
            let j = if i < 0 { i.checked_add(len) } else { Some(i) };
            match j {
                Some(j) if (0..len).contains(&j) => Ok(j as usize..j as usize + 1),
                _ => Err(SelectionError::IndexOutOfRange {
                    axis,
                    index: i,
                    len: n,
                }),
            }
        }
        AxisIndex::Range { start, stop } => {
            let clip = |v: isize| -> isize {
                let v = if v < 0 {
                    v.saturating_add(len).max(0)
                } else {
                    v
                };
                v.min(len)
            };
            let s = clip(start.unwrap_or(0));
            let e = clip(stop.unwrap_or(len));
            if s >= e {
                return Err(SelectionError::EmptyRange {
                    axis,
                    start: s,
                    stop: e,
                    len: n,
                });
            }
            Ok(s as usize..e as usize)
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return f.write_str("...");
        }
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

impl FromStr for Selection {
    type Err = SelectionError;

    /// Parses `":3,15:21"`, `"10,-1"`, `"...,0"`, `"..3, 15..21"`; an empty
    /// string selects everything.
    fn from_str(text: &str) -> Result<Self, SelectionError> {
        let err = |reason: String| SelectionError::Parse {
            text: text.to_string(),
            reason,
        };
        let t = text.trim();
        let t = t
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(t);
        if t.trim().is_empty() {
            return Ok(Selection::all());
        }
        let num = |s: &str| -> Result<Option<isize>, SelectionError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<isize>()
                .map(Some)
                .map_err(|_| err(format!("{s:?} is not an integer")))
        };
        let mut items = Vec::new();
        for (position, part) in t.split(',').enumerate() {
            let p = part.trim();
            let item = if p == "..." || p == "…" {
                AxisIndex::Ellipsis
            } else if p == ":" || p == ".." || p == "::" {
                AxisIndex::Full
            } else if let Some((a, b)) = p.split_once("..=") {
                let stop = num(b)?
                    .ok_or_else(|| err(format!("{p:?}: an inclusive range needs an end")))?;
                // `a..=-1` runs to the end; otherwise the exclusive stop is stop + 1
                let stop = if stop == -1 {
                    None
                } else {
                    Some(
                        stop.checked_add(1)
                            .ok_or_else(|| err(format!("{p:?}: the end is too large")))?,
                    )
                };
                AxisIndex::Range {
                    start: num(a)?,
                    stop,
                }
            } else if let Some((a, b)) = p.split_once("..") {
                AxisIndex::Range {
                    start: num(a)?,
                    stop: num(b)?,
                }
            } else if p.contains(':') {
                let parts: Vec<&str> = p.split(':').collect();
                if parts.len() > 3 {
                    return Err(err(format!("{p:?} has too many ':'")));
                }
                if parts.len() == 3 {
                    if let Some(step) = num(parts[2])? {
                        if step != 1 {
                            return Err(SelectionError::StepNotOne {
                                axis: position,
                                step,
                            });
                        }
                    }
                }
                AxisIndex::Range {
                    start: num(parts[0])?,
                    stop: num(parts[1])?,
                }
            } else if p.is_empty() {
                return Err(err(format!("index {position} is empty")));
            } else {
                AxisIndex::Index(num(p)?.unwrap_or(0))
            };
            // one spelling of the whole axis, however it was written
            // (`: :`, `..`, ` : `): selections that select the same compare equal
            let item = match item {
                AxisIndex::Range {
                    start: None,
                    stop: None,
                } => AxisIndex::Full,
                other => other,
            };
            items.push(item);
        }
        Ok(Selection { items })
    }
}

impl TryFrom<&[SliceInfoElem]> for Selection {
    type Error = SelectionError;

    fn try_from(elems: &[SliceInfoElem]) -> Result<Self, SelectionError> {
        let mut items = Vec::with_capacity(elems.len());
        for (position, e) in elems.iter().enumerate() {
            items.push(match *e {
                SliceInfoElem::Index(i) => AxisIndex::Index(i),
                SliceInfoElem::Slice { step, .. } if step != 1 => {
                    return Err(SelectionError::StepNotOne {
                        axis: position,
                        step,
                    })
                }
                SliceInfoElem::Slice {
                    start: 0,
                    end: None,
                    ..
                } => AxisIndex::Full,
                SliceInfoElem::Slice { start, end, .. } => AxisIndex::Range {
                    start: Some(start),
                    stop: end,
                },
                SliceInfoElem::NewAxis => return Err(SelectionError::NewAxis { position }),
            });
        }
        Ok(Selection { items })
    }
}

/// Anything that can select cells: a [`Selection`], an `s![]` expression, a
/// slice of [`SliceInfoElem`], text (`":3,15:21"`), or a [`CellBox`].
pub trait IntoSelection {
    /// Converts into a [`Selection`].
    ///
    /// # Errors
    ///
    /// A [`Selection`] converts without error. Text gives
    /// [`SelectionError::Parse`] if it does not parse; text and `s![]` give
    /// [`SelectionError::StepNotOne`] for a range step other than 1, `s![]`
    /// [`SelectionError::NewAxis`] for a new axis; a [`CellBox`] gives
    /// [`SelectionError::IndexOutOfRange`] for a bound above `isize::MAX`.
    fn into_selection(self) -> Result<Selection, SelectionError>;
}

impl IntoSelection for Selection {
    fn into_selection(self) -> Result<Selection, SelectionError> {
        Ok(self)
    }
}

impl IntoSelection for &Selection {
    fn into_selection(self) -> Result<Selection, SelectionError> {
        Ok(self.clone())
    }
}

impl IntoSelection for &str {
    fn into_selection(self) -> Result<Selection, SelectionError> {
        self.parse()
    }
}

impl IntoSelection for &[SliceInfoElem] {
    fn into_selection(self) -> Result<Selection, SelectionError> {
        Selection::try_from(self)
    }
}

impl<T, Din, Dout> IntoSelection for SliceInfo<T, Din, Dout>
where
    T: AsRef<[SliceInfoElem]>,
    Din: ndarray::Dimension,
    Dout: ndarray::Dimension,
{
    fn into_selection(self) -> Result<Selection, SelectionError> {
        Selection::try_from(self.as_ref())
    }
}

impl IntoSelection for &CellBox {
    fn into_selection(self) -> Result<Selection, SelectionError> {
        let items = self
            .ranges()
            .iter()
            .enumerate()
            .map(|(axis, r)| {
                let conv = |v: usize| {
                    isize::try_from(v).map_err(|_| SelectionError::IndexOutOfRange {
                        axis,
                        index: isize::MAX,
                        len: 0,
                    })
                };
                Ok(AxisIndex::Range {
                    start: Some(conv(r.start)?),
                    stop: Some(conv(r.end)?),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Selection { items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    fn sel(s: impl IntoSelection) -> Selection {
        s.into_selection().unwrap()
    }

    #[test]
    fn text_and_macro_agree() {
        let shape = [16, 29];
        for (text, mac) in [
            (":3,15:21", sel(s![..3, 15..21])),
            ("10,-1", sel(s![10, -1])),
            ("...,0", sel(s![.., 0])),
            (":,0", sel(s![.., 0])),
            ("-3:", sel(s![-3.., ..])),
            ("..3, 15..21", sel(s![..3, 15..21])),
            ("2..=4", sel(s![2..=4])),
            ("[1:2]", sel(s![1..2])),
        ] {
            let t: Selection = text.parse().unwrap();
            assert_eq!(t.resolve(&shape), mac.resolve(&shape), "{text}");
        }
    }

    #[test]
    fn numpy_rules() {
        let shape = [16, 29];
        let r = |s: &str| s.parse::<Selection>().unwrap().resolve(&shape);
        assert_eq!(r("").unwrap().ranges(), &[0..16, 0..29]);
        assert_eq!(r("10,-1").unwrap().ranges(), &[10..11, 28..29]);
        assert_eq!(r("0:100").unwrap().ranges(), &[0..16, 0..29]);
        assert_eq!(r("-100:2").unwrap().ranges(), &[0..2, 0..29]);
        assert_eq!(r("...,3").unwrap().ranges(), &[0..16, 3..4]);
        assert_eq!(r("1,...").unwrap().ranges(), &[1..2, 0..29]);
        assert!(matches!(
            r("16"),
            Err(SelectionError::IndexOutOfRange { index: 16, .. })
        ));
        assert!(matches!(
            r("-17"),
            Err(SelectionError::IndexOutOfRange { .. })
        ));
        assert!(matches!(r("3:3"), Err(SelectionError::EmptyRange { .. })));
        assert!(matches!(r("5:2"), Err(SelectionError::EmptyRange { .. })));
        assert!(matches!(r("16:"), Err(SelectionError::EmptyRange { .. })));
        assert!(matches!(
            r("1,2,3"),
            Err(SelectionError::TooManyIndices { .. })
        ));
        assert!(matches!(
            r("...,..."),
            Err(SelectionError::MultipleEllipsis)
        ));
        assert!(matches!(
            "a".parse::<Selection>(),
            Err(SelectionError::Parse { .. })
        ));
        assert!(matches!(
            "1,,2".parse::<Selection>(),
            Err(SelectionError::Parse { .. })
        ));
        assert!(matches!(
            "0:4:2".parse::<Selection>(),
            Err(SelectionError::StepNotOne { .. })
        ));
        assert!(s![..;2].into_selection().is_err());
        assert!(s![ndarray::NewAxis].into_selection().is_err());
        assert!(matches!(
            Selection::cell(&[0, usize::MAX]).resolve(&shape),
            Err(SelectionError::IndexOutOfRange { .. })
        ));
    }
}
