//! `impart preview`: one 2-D slice of a partitioned volume as an RGB PNG,
//! windowed and scaled up, with the grid's cell borders, the selected
//! cells and a label map drawn over it.
//!
//! The slice is read as one cell of a second partition over the same
//! volume (extent 1 across the slice axis, whole along the others), so only
//! its voxels are read, whatever the volume's size or backend.

use std::ops::Range;
use std::path::Path;

use impart::{AnyVolume, CellBox, DType, Error, Grid, OpenOptions, Partition, Result, Volume};
use ndarray::{ArrayD, IxDyn};

use super::args::{GridArgs, InputArgs, PreviewArgs};
use super::input::{open, partition};
use super::text::join;

/// The cell borders: translucent yellow.
const GRID_COLOUR: [u8; 3] = [255, 255, 0];
/// How much of [`GRID_COLOUR`] a border pixel takes.
const GRID_ALPHA: f64 = 0.5;
/// The outline of the `--select` cells: opaque cyan.
const SELECT_COLOUR: [u8; 3] = [0, 255, 255];
/// Width of the selection outline in output pixels, inside each cell.
const SELECT_WIDTH: usize = 2;
/// How much of its palette colour a labelled pixel takes.
const LABEL_ALPHA: f64 = 0.45;
/// Label colours, by label mod 12 (Trubetskoy's distinct colours without
/// the yellow and cyan of the lines).
const PALETTE: [[u8; 3]; 12] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
    [0, 128, 128],
    [170, 110, 40],
    [0, 0, 128],
    [128, 128, 0],
];
/// The automatic scale makes the longer side at least this many pixels.
const MIN_SIDE: usize = 512;

/// Draws the preview of `args` and prints one line saying what was
/// written.
pub fn run(input: &InputArgs, g: &GridArgs, args: &PreviewArgs) -> Result<()> {
    let part = partition(open(input)?, g)?;
    let plane = Plane::of(&part, args.axis, args.slice)?;
    let selected = match &args.select {
        Some(text) => Some(part.select(text.as_str())?),
        None => None,
    };
    if args.scale == Some(0) {
        return Err(Error::InvalidArgument {
            what: "--scale",
            detail: "must be at least 1".into(),
        });
    }
    let picture = read_picture(&part, &plane)?;
    let labels = match &args.overlay {
        Some(path) => Some(read_labels(input, path, &part, &plane)?),
        None => None,
    };
    let window = Window::of(&picture.values);
    let scale = args
        .scale
        .unwrap_or_else(|| MIN_SIDE.div_ceil(picture.height.max(picture.width)));
    let mut canvas = Canvas::paint(&picture, &window, labels.as_deref(), scale)?;
    draw_cells(
        &mut canvas,
        part.grid(),
        &plane,
        selected.as_ref().map(|s| s.cells()),
    )?;
    canvas.write(&args.out)?;

    let slice = match plane.slice {
        Some((a, k)) => format!("slice axis {a} index {k} of {}", part.volume().shape()[a]),
        None => "whole image".into(),
    };
    println!(
        "wrote {}: {} x {} px (width x height, scale {scale}; rows: axis {}, columns: axis {}), {slice}, window {}",
        args.out.display(),
        canvas.width,
        canvas.height,
        plane.rows,
        plane.cols,
        window.describe(),
    );
    Ok(())
}

/// The 2-D plane drawn: volume axes of the picture's rows and columns,
/// and the slice across the third partitioned axis, if there is one.
struct Plane {
    /// `(volume axis, index)`; `None` for a 2-D partition.
    slice: Option<(usize, usize)>,
    rows: usize,
    cols: usize,
    /// The grid axes of `rows`, `cols` and the slice axis.
    grid_rows: usize,
    grid_cols: usize,
    grid_slice: Option<usize>,
}

impl Plane {
    /// The plane of `--axis` and `--slice` over `part`.
    fn of<V: Volume>(
        part: &Partition<V>,
        axis: Option<usize>,
        slice: Option<usize>,
    ) -> Result<Self> {
        let axes = part.axes();
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        let slice = match sorted.len() {
            2 if axis.is_none() && slice.is_none() => None,
            2 => {
                return Err(Error::InvalidArgument {
                    what: if axis.is_some() { "--axis" } else { "--slice" },
                    detail: format!(
                        "the partition has 2 axes ({}): the picture is the whole image, there is no slice to choose",
                        join(&sorted, ", ")
                    ),
                })
            }
            3 => {
                let a = axis.unwrap_or(axes[axes.len() - 1]);
                if !axes.contains(&a) {
                    return Err(Error::InvalidArgument {
                        what: "--axis",
                        detail: format!(
                            "axis {a} is not partitioned; the partitioned axes are {}",
                            join(&sorted, ", ")
                        ),
                    });
                }
                let extent = part.volume().shape()[a];
                let k = slice.unwrap_or(extent / 2);
                if k >= extent {
                    return Err(Error::InvalidArgument {
                        what: "--slice",
                        detail: format!("index {k} is past the end of axis {a} (extent {extent})"),
                    });
                }
                Some((a, k))
            }
            n => {
                return Err(Error::InvalidArgument {
                    what: "--cell",
                    detail: format!(
                        "preview draws a partition of 2 or 3 axes; this one partitions {n} ({})",
                        join(&sorted, ", ")
                    ),
                })
            }
        };
        let rest: Vec<usize> = sorted
            .into_iter()
            .filter(|&x| Some(x) != slice.map(|(a, _)| a))
            .collect();
        let grid_axis = |a: usize| axes.iter().position(|&x| x == a).unwrap_or(0);
        Ok(Plane {
            slice,
            rows: rest[0],
            cols: rest[1],
            grid_rows: grid_axis(rest[0]),
            grid_cols: grid_axis(rest[1]),
            grid_slice: slice.map(|(a, _)| grid_axis(a)),
        })
    }
}

/// Draws the borders of every cell of `grid` that holds the plane, then
/// outlines the `selected` cells that hold it; a note on stderr when none
/// does.
fn draw_cells(
    canvas: &mut Canvas,
    grid: &Grid,
    plane: &Plane,
    selected: Option<&CellBox>,
) -> Result<()> {
    let rows = axis_ranges(grid, plane.grid_rows)?;
    let cols = axis_ranges(grid, plane.grid_cols)?;
    // whether cell j across the slice axis holds the slice
    let holds: Vec<bool> = match (plane.grid_slice, plane.slice) {
        (Some(ga), Some((_, k))) => axis_ranges(grid, ga)?
            .iter()
            .map(|r| r.contains(&k))
            .collect(),
        _ => vec![true],
    };
    if !holds.contains(&true) {
        eprintln!("impart: note: no cell of the grid holds this slice; no borders drawn");
        return Ok(());
    }
    canvas.grid_lines(&rows, &cols);
    let Some(cells) = selected else {
        return Ok(());
    };
    let across = plane
        .grid_slice
        .map_or(0..1, |ga| cells.ranges()[ga].clone());
    if !across.into_iter().any(|j| holds[j]) {
        eprintln!("impart: note: no cell of --select holds this slice; none outlined");
        return Ok(());
    }
    for r in cells.ranges()[plane.grid_rows].clone() {
        for c in cells.ranges()[plane.grid_cols].clone() {
            canvas.outline(&rows[r], &cols[c]);
        }
    }
    Ok(())
}

/// The plane's values, row by row: one per pixel, or three (RGB).
struct Picture {
    height: usize,
    width: usize,
    channels: usize,
    values: Vec<f64>,
}

/// The plane of the partition's volume: its scaled values (NIfTI
/// `scl_slope`/`scl_inter`) as RGB when the one carried axis has 3 or 4
/// entries and the type is `u8` or `u16`, otherwise the mean over the
/// carried axes.
fn read_picture(part: &Partition<AnyVolume>, plane: &Plane) -> Result<Picture> {
    let volume = part.volume();
    let slice = read_slice(volume, part.axes(), part.channels(), plane.slice, true)?;
    let carried: Vec<usize> = (0..slice.ndim())
        .filter(|a| !part.axes().contains(a))
        .collect();
    let rgb = matches!(volume.dtype(), DType::U8 | DType::U16)
        && matches!(carried[..], [c] if matches!(slice.shape()[c], 3 | 4));
    let (height, width, m, values) = pixels(slice, plane.rows, plane.cols);
    let values = if rgb {
        values.chunks(m).flat_map(|p| p[..3].to_vec()).collect()
    } else {
        values
            .chunks(m)
            .map(|p| p.iter().sum::<f64>() / m as f64)
            .collect()
    };
    Ok(Picture {
        height,
        width,
        channels: if rgb { 3 } else { 1 },
        values,
    })
}

/// The label of each pixel of the plane in `--overlay PATH`, a volume of
/// the shape of the partitioned axes (in volume order; trailing axes of
/// extent 1 allowed).
fn read_labels(
    input: &InputArgs,
    path: &Path,
    part: &Partition<AnyVolume>,
    plane: &Plane,
) -> Result<Vec<i64>> {
    let mut options = OpenOptions::new().mmap(!input.no_mmap);
    if let Some(dir) = &input.cache_dir {
        options = options.cache_dir(dir);
    }
    let labels = options.open(path).map_err(|e| match e {
        Error::UnknownFormat { path } => Error::InvalidArgument {
            what: "--overlay",
            detail: format!(
                "{}: not a self-describing format (NIfTI, Zarr, TIFF, PNG or JPEG); raw label maps are not supported",
                path.display()
            ),
        },
        e => e,
    })?;
    let mut spatial_axes = part.axes().to_vec();
    spatial_axes.sort_unstable();
    let spatial: Vec<usize> = spatial_axes
        .iter()
        .map(|&a| part.volume().shape()[a])
        .collect();
    let n = spatial.len();
    let shape = labels.shape();
    if shape.len() < n || shape[..n] != spatial[..] || shape[n..].iter().any(|&e| e != 1) {
        return Err(Error::InvalidArgument {
            what: "--overlay",
            detail: format!(
                "{}: the label map has shape {shape:?} but the partitioned axes ({}) of {} have shape {spatial:?}",
                path.display(),
                join(&spatial_axes, ", "),
                part.volume().name()
            ),
        });
    }
    let pos = |a: usize| {
        spatial_axes
            .iter()
            .position(|&x| x == a)
            .expect("partitioned")
    };
    let axes: Vec<usize> = (0..n).collect();
    let slice = plane.slice.map(|(a, k)| (pos(a), k));
    let values = read_slice(&labels, &axes, None, slice, false)?;
    let (_, _, _, values) = pixels(values, pos(plane.rows), pos(plane.cols));
    Ok(values
        .into_iter()
        .map(|v| if v.is_finite() { v.round() as i64 } else { 0 })
        .collect())
}

/// The voxels of `volume` in the slice `(axis, index)` across one of the
/// partitioned `axes` (all of them without a slice), carried axes whole
/// (only `channels` of the channel axis), as `f64`, `scaled` or stored.
fn read_slice<V: Volume>(
    volume: V,
    axes: &[usize],
    channels: Option<(usize, &[usize])>,
    slice: Option<(usize, usize)>,
    scaled: bool,
) -> Result<ArrayD<f64>> {
    let shape = volume.shape().to_vec();
    let across = |a: usize| slice.filter(|&(s, _)| s == a).map(|(_, k)| k);
    let cell: Vec<usize> = axes
        .iter()
        .map(|&a| if across(a).is_some() { 1 } else { shape[a] })
        .collect();
    let index: Vec<usize> = axes.iter().map(|&a| across(a).unwrap_or(0)).collect();
    let mut builder = Partition::builder(volume).axes(axes).cell(&cell);
    if let Some((axis, list)) = channels {
        builder = builder.channels_on(axis, list);
    }
    let plane = builder.build()?;
    let cell = plane.cell(&index)?;
    let values = if scaled {
        cell.to_array_scaled::<f64>()
    } else {
        cell.to_array_as::<f64>()
    }?;
    // a slice of a file that changed since it was opened may mix its two
    // versions: no picture then
    plane.volume().check_unchanged()?;
    Ok(values)
}

/// `slice` row by row: `(height, width, m, values)` with `m` values (the
/// other axes, in order) per pixel.
fn pixels(slice: ArrayD<f64>, rows: usize, cols: usize) -> (usize, usize, usize, Vec<f64>) {
    let mut order = vec![rows, cols];
    order.extend((0..slice.ndim()).filter(|&a| a != rows && a != cols));
    let slice = slice.permuted_axes(IxDyn(&order));
    let (height, width) = (slice.shape()[0], slice.shape()[1]);
    let m = slice.len() / (height * width);
    (height, width, m, slice.iter().copied().collect())
}

/// The values mapped to black and white, and how they were chosen.
struct Window {
    lo: f64,
    hi: f64,
    how: &'static str,
}

impl Window {
    /// The 1st and 99th percentiles of the finite `values` (NumPy's
    /// linear interpolation); their minimum and maximum if those are
    /// equal; `lo == hi` if every finite value is the same.
    fn of(values: &[f64]) -> Self {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Window {
                lo: f64::NAN,
                hi: f64::NAN,
                how: "no finite values",
            };
        }
        finite.sort_unstable_by(f64::total_cmp);
        let (lo, hi) = (percentile(&finite, 1.0), percentile(&finite, 99.0));
        if lo < hi {
            return Window {
                lo,
                hi,
                how: "1st to 99th percentile",
            };
        }
        let (lo, hi) = (finite[0], finite[finite.len() - 1]);
        let how = if lo < hi {
            "min to max"
        } else {
            "constant: mid-grey"
        };
        Window { lo, hi, how }
    }

    /// `v` in `0..=255`: linear between `lo` and `hi`, clamped; 128 for a
    /// constant plane; NaN black.
    fn map(&self, v: f64) -> u8 {
        if v.is_nan() {
            0
        } else if self.lo < self.hi {
            ((v - self.lo) / (self.hi - self.lo) * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8
        } else if v.is_infinite() {
            if v > 0.0 {
                255
            } else {
                0
            }
        } else {
            128
        }
    }

    /// `lo to hi (how)`, to 4 decimals.
    fn describe(&self) -> String {
        let short = |v: f64| {
            let s = format!("{v:.4}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        };
        format!("{} to {} ({})", short(self.lo), short(self.hi), self.how)
    }
}

/// The `q`th percentile of `sorted` (not empty), interpolated linearly
/// between the two nearest ranks.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    match sorted.get(i + 1) {
        Some(&next) if frac > 0.0 => sorted[i] + (next - sorted[i]) * frac,
        _ => sorted[i],
    }
}

/// The output picture, RGB row by row, `scale` pixels per voxel.
struct Canvas {
    width: usize,
    height: usize,
    scale: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    /// `picture` windowed, `labels` blended over it, each voxel a
    /// `scale` x `scale` block.
    fn paint(
        picture: &Picture,
        window: &Window,
        labels: Option<&[i64]>,
        scale: usize,
    ) -> Result<Self> {
        let too_large = || Error::InvalidArgument {
            what: "--scale",
            detail: format!(
                "a {} x {} plane at {scale} pixels per voxel is too large a picture",
                picture.width, picture.height
            ),
        };
        let width = picture.width.checked_mul(scale).ok_or_else(too_large)?;
        let height = picture.height.checked_mul(scale).ok_or_else(too_large)?;
        if u32::try_from(width).is_err() || u32::try_from(height).is_err() {
            return Err(too_large());
        }
        let bytes = width
            .checked_mul(height)
            .and_then(|n| n.checked_mul(3))
            .ok_or_else(too_large)?;
        let mut rgb = Vec::new();
        rgb.try_reserve_exact(bytes).map_err(|_| too_large())?;
        let c = picture.channels;
        for y in 0..height {
            for x in 0..picture.width {
                let i = (y / scale) * picture.width + x;
                let v = &picture.values[i * c..(i + 1) * c];
                let mut px = [0u8; 3];
                for (k, p) in px.iter_mut().enumerate() {
                    *p = window.map(v[k % c]);
                }
                if let Some(&label) = labels.and_then(|l| l.get(i)).filter(|&&l| l != 0) {
                    px = blend(px, PALETTE[label.rem_euclid(12) as usize], LABEL_ALPHA);
                }
                for _ in 0..scale {
                    rgb.extend_from_slice(&px);
                }
            }
        }
        Ok(Canvas {
            width,
            height,
            scale,
            rgb,
        })
    }

    /// The pixel of voxel boundary `b` on an axis of `pixels` pixels: the
    /// first pixel of voxel `b`, the last pixel for the end; `None` past
    /// the end (a padded cell).
    fn at(&self, b: usize, pixels: usize) -> Option<usize> {
        match b.checked_mul(self.scale)? {
            p if p < pixels => Some(p),
            p if p == pixels => Some(p - 1),
            _ => None,
        }
    }

    /// Blends the border of every cell (`rows` x `cols` ranges of voxels)
    /// with the grid colour, each pixel once: 1-px lines at each cell start
    /// and end.
    fn grid_lines(&mut self, rows: &[Range<usize>], cols: &[Range<usize>]) {
        let (w, h) = (self.width, self.height);
        let mut mask = vec![false; w * h];
        for y in boundaries(rows).into_iter().filter_map(|r| self.at(r, h)) {
            for span in merged(cols) {
                let x1 = self.at(span.end, w).unwrap_or(w - 1);
                for x in span.start * self.scale..=x1 {
                    mask[y * w + x] = true;
                }
            }
        }
        for x in boundaries(cols).into_iter().filter_map(|c| self.at(c, w)) {
            for span in merged(rows) {
                let y1 = self.at(span.end, h).unwrap_or(h - 1);
                for y in span.start * self.scale..=y1 {
                    mask[y * w + x] = true;
                }
            }
        }
        for (i, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
            let px = &mut self.rgb[i * 3..i * 3 + 3];
            let out = blend([px[0], px[1], px[2]], GRID_COLOUR, GRID_ALPHA);
            px.copy_from_slice(&out);
        }
    }

    /// Paints the outline of one cell of voxels `rows` x `cols`,
    /// [`SELECT_WIDTH`] pixels wide inside the cell, in the selection
    /// colour.
    fn outline(&mut self, rows: &Range<usize>, cols: &Range<usize>) {
        let (y0, y1) = (
            rows.start * self.scale,
            (rows.end * self.scale).min(self.height),
        );
        let (x0, x1) = (
            cols.start * self.scale,
            (cols.end * self.scale).min(self.width),
        );
        let w = SELECT_WIDTH;
        self.fill(y0..y1.min(y0 + w), x0..x1);
        self.fill(y1.saturating_sub(w).max(y0)..y1, x0..x1);
        self.fill(y0..y1, x0..x1.min(x0 + w));
        self.fill(y0..y1, x1.saturating_sub(w).max(x0)..x1);
    }

    /// Paints the pixels `ys` x `xs` in the selection colour.
    fn fill(&mut self, ys: Range<usize>, xs: Range<usize>) {
        for y in ys {
            let row = &mut self.rgb[(y * self.width + xs.start) * 3..(y * self.width + xs.end) * 3];
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&SELECT_COLOUR);
            }
        }
    }

    /// Writes the PNG through a temporary file beside `path`, renamed
    /// into place.
    fn write(&self, path: &Path) -> Result<()> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.impart-{}.tmp", std::process::id()));
        let saved = image::save_buffer_with_format(
            &tmp,
            &self.rgb,
            self.width as u32,
            self.height as u32,
            image::ExtendedColorType::Rgb8,
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::write(path, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::write(path, e)));
        if saved.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        saved
    }
}

/// `base` with `alpha` of `colour`, rounded.
fn blend(base: [u8; 3], colour: [u8; 3], alpha: f64) -> [u8; 3] {
    let mut out = [0u8; 3];
    for k in 0..3 {
        out[k] = (base[k] as f64 * (1.0 - alpha) + colour[k] as f64 * alpha).round() as u8;
    }
    out
}

/// The cells' starts and ends, sorted, each once.
fn boundaries(ranges: &[Range<usize>]) -> Vec<usize> {
    let mut b: Vec<usize> = ranges.iter().flat_map(|r| [r.start, r.end]).collect();
    b.sort_unstable();
    b.dedup();
    b
}

/// The union of `ranges` as disjoint ranges, sorted (touching ones joined).
fn merged(ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The voxel range of every cell along grid axis `axis`, by cell index.
fn axis_ranges(grid: &Grid, axis: usize) -> Result<Vec<Range<usize>>> {
    (0..grid.shape()[axis])
        .map(|j| {
            let mut index = vec![0; grid.ndim()];
            index[axis] = j;
            Ok(grid.cell_region(&index)?.range(axis))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        // np.percentile(np.arange(11.0), [1, 99]) == [0.1, 9.9]
        let v: Vec<f64> = (0..11).map(f64::from).collect();
        assert!((percentile(&v, 1.0) - 0.1).abs() < 1e-12);
        assert!((percentile(&v, 99.0) - 9.9).abs() < 1e-12);
        assert_eq!(percentile(&[4.0], 99.0), 4.0);
    }

    #[test]
    fn window_falls_back_to_min_max_then_grey() {
        // 1st and 99th percentiles equal (mostly zeros), min and max not
        let mut v = vec![0.0; 1000];
        v[0] = -5.0;
        v[999] = 5.0;
        v.push(f64::NAN);
        let w = Window::of(&v);
        assert_eq!((w.lo, w.hi, w.how), (-5.0, 5.0, "min to max"));
        assert_eq!(
            (w.map(-5.0), w.map(0.0), w.map(5.0), w.map(f64::NAN)),
            (0, 128, 255, 0)
        );
        let w = Window::of(&[3.0, 3.0, f64::INFINITY]);
        assert_eq!((w.map(3.0), w.map(f64::INFINITY)), (128, 255));
    }

    #[test]
    fn merged_joins_touching_and_overlapping_ranges() {
        assert_eq!(merged(&[4..8, 0..4, 10..12, 2..5]), vec![0..8, 10..12]);
        assert_eq!(boundaries(&[0..4, 2..6, 4..8]), vec![0, 2, 4, 6, 8]);
    }
}
