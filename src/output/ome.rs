//! OME-Zarr label images: a label map (a stitched argmax, a thresholded
//! mask) written into an OME-Zarr image as `labels/<name>`, so that napari
//! and other NGFF viewers draw it over the image.
//!

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::grid::Region;
use crate::volume::zarr::{OmeAxis, OmeLevel, ZarrOptions, ZarrVolume};
use crate::volume::Volume;

use super::{OutputVolume, ZarrOutput};

/// Where and how a label image is written into an OME-Zarr image.
///
/// The label image has the image's levels (NGFF 0.5 wants as many; the
/// same paths, shapes and coordinate transformations, and the image's
/// axes): the level the labels were computed on is the stitched map, and
/// every other level is made from its neighbour towards it by nearest
/// neighbour in world coordinates (each voxel takes the label of the voxel
/// whose centre is nearest its own; a tie goes to the even index), chunk
/// by chunk, so memory stays bounded by a few chunks whatever the image's
/// size. `image-label`
/// metadata names its source image (`../../`); the image's `labels` group
/// lists it (the names already listed are kept). An NGFF 0.5 image gets
/// Zarr v3 metadata and arrays (with `dimension_names`), an earlier one
/// NGFF 0.4 on Zarr v2 (`.zgroup`, `.zattrs`, `.zarray`), as the
/// `ome-zarr` package writes them.
///
/// The stitched level is written first (a [`ZarrOutput`], under a
/// temporary name until it is complete), then the other levels
/// (each renamed into place when complete), then the label image's
/// metadata, then the labels list, each file atomically: a run killed
/// before the end leaves at most a label image the list does not name
/// yet, and [`finish`](Self::finish) run again makes the levels that
/// are missing.
#[derive(Debug, Clone)]
pub struct OmeLabels {
    image: PathBuf,
    name: String,
    /// `"0.4"` (Zarr v2) or `"0.5"` (Zarr v3).
    version: &'static str,
    axes: Vec<OmeAxis>,
    /// The image's levels (with their shapes).
    levels: Vec<OmeLevel>,
    /// The level the label map is of.
    level: usize,
}

impl OmeLabels {
    /// The label image `name` of the OME-Zarr image group at `image`, its
    /// voxels those of `like` (a level of an OME-Zarr image, usually of
    /// `image` itself: the label map is of that level of `image`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a name that is empty, holds `/` or
    /// is `.`, `..` or a temporary name, or for a `like` that was not
    /// opened as an OME-Zarr image; [`Error::InvalidHeader`] (or what
    /// opening it gives) if `image` is not an OME-Zarr image group on a
    /// filesystem, or has no such level, or a level whose shape cannot be
    /// read.
    pub fn new(image: impl AsRef<Path>, name: &str, like: &ZarrVolume) -> Result<Self> {
        let image = image.as_ref();
        if name.is_empty()
            || name.contains(['/', '\\'])
            || name == "."
            || name == ".."
            || crate::io::is_temp_name(name)
        {
            return Err(Error::InvalidArgument {
                what: "label name",
                detail: format!("{name:?}: one path component, like \"cells\""),
            });
        }
        let Some(level) = like.ome_level() else {
            return Err(Error::InvalidArgument {
                what: "labels",
                detail: format!(
                    "{}: an OME-Zarr label image takes its axes and transforms from an OME-Zarr image level, and this is a plain array",
                    like.name()
                ),
            });
        };
        if crate::volume::zarr::is_remote(&image.to_string_lossy()) {
            return Err(Error::InvalidArgument {
                what: "labels",
                detail: format!(
                    "{}: label images are written to a filesystem (writing to object stores is not done yet)",
                    image.display()
                ),
            });
        }
        let target = crate::volume::zarr::ZarrOptions::new().open(image)?;
        let Some(target_ome) = target.ome() else {
            return Err(Error::InvalidHeader {
                path: image.to_path_buf(),
                detail: "not an OME-Zarr image group: label images go into one".into(),
            });
        };
        let version = if target_ome.version.starts_with("0.5") || image.join("zarr.json").is_file()
        {
            "0.5"
        } else {
            "0.4"
        };
        let invalid = |detail: String| Error::InvalidHeader {
            path: image.to_path_buf(),
            detail,
        };
        if level >= target_ome.levels.len() {
            return Err(invalid(format!(
                "labels of level {level} for an image of {} levels",
                target_ome.levels.len()
            )));
        }
        if let Some(l) = target_ome.levels.iter().find(|l| l.shape.is_none()) {
            return Err(invalid(format!(
                "the shape of level {} cannot be read",
                l.path
            )));
        }
        Ok(OmeLabels {
            image: image.to_path_buf(),
            name: name.to_string(),
            version,
            axes: target_ome.axes.clone(),
            levels: target_ome.levels.clone(),
            level,
        })
    }

    /// The directory of level `k` of the label image.
    fn level_path(&self, k: usize) -> PathBuf {
        self.image
            .join("labels")
            .join(&self.name)
            .join(&self.levels[k].path)
    }

    /// The shape of level `k` (known from [`new`](Self::new)).
    fn level_shape(&self, k: usize) -> Vec<usize> {
        self.levels[k]
            .shape
            .as_ref()
            .map(|s| s.iter().map(|&n| n as usize).collect())
            .unwrap_or_default()
    }

    /// Where the stitched label map goes: `<image>/labels/<name>/<path>`,
    /// the path of its level in the image (`0`, `s0`, ...).
    pub fn array_path(&self) -> PathBuf {
        self.level_path(self.level)
    }

    /// Makes the label image's directory (`<image>/labels/<name>`), in
    /// which the array is created; returns [`array_path`](Self::array_path).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the directory.
    pub fn prepare(&self) -> Result<PathBuf> {
        let dir = self.image.join("labels").join(&self.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(self.array_path())
    }

    /// The Zarr format of the label image: 3 for NGFF 0.5, else 2.
    pub fn zarr_format(&self) -> u8 {
        if self.version == "0.5" {
            3
        } else {
            2
        }
    }

    /// The axes' names: the array's `dimension_names` (NGFF 0.5 wants
    /// them; `None` for 0.4, whose Zarr v2 has none).
    pub fn dimension_names(&self) -> Option<Vec<String>> {
        (self.version == "0.5").then(|| self.axes.iter().map(|a| a.name.clone()).collect())
    }

    /// The NGFF version written (`"0.4"` or `"0.5"`).
    pub fn version(&self) -> &str {
        self.version
    }

    /// Checks that a label map of `shape` and integer type `integer` fits
    /// the label image (the image level's axes and shape).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] saying which does not fit.
    pub fn check(&self, shape: &[usize], integer: bool) -> Result<()> {
        let rank = shape.len();
        if rank != self.axes.len() {
            return Err(Error::InvalidArgument {
                what: "labels",
                detail: format!(
                    "a label map of {rank} axes for an image of {} ({}): partition every axis of the image and reduce the channels (argmax, threshold)",
                    self.axes.len(),
                    self.axes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let want = self.level_shape(self.level);
        if shape != want {
            return Err(Error::InvalidArgument {
                what: "labels",
                detail: format!(
                    "a label map of shape {shape:?} for level {} of {}, of shape {want:?}",
                    self.level,
                    self.image.display()
                ),
            });
        }
        if !integer {
            return Err(Error::InvalidArgument {
                what: "labels",
                detail: "OME-Zarr label images hold integers: reduce to labels (argmax, threshold)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Completes the label image once the stitched level is: makes the
    /// levels that are missing, then writes the label image's metadata and
    /// adds it to the image's labels list.
    ///
    /// # Errors
    ///
    /// What reading the stitched level or writing a level gives
    /// ([`Error::Decode`], [`Error::Io`], [`Error::Write`]); [`Error::Io`]
    /// naming a metadata file that cannot be written, or an existing labels
    /// list that cannot be read.
    pub fn finish(&self) -> Result<()> {
        let chunks = ZarrOptions::new()
            .open(self.array_path())?
            .array()
            .chunk_shape(&vec![0; self.axes.len()])
            .map(|c| c.iter().map(|n| n.get() as usize).collect::<Vec<_>>())
            .map_err(|e| Error::InvalidHeader {
                path: self.array_path(),
                detail: format!("chunk grid: {e}"),
            })?;
        // coarser levels from the next finer one, finer from the next coarser
        let order = (self.level + 1..self.levels.len())
            .map(|k| (k - 1, k))
            .chain((0..self.level).rev().map(|k| (k + 1, k)));
        for (from, to) in order {
            if !self.level_path(to).exists() {
                self.resample(from, to, &chunks)?;
            }
        }
        self.write_metadata()
    }

    /// Level `to` made from level `from` by nearest neighbour in world
    /// coordinates, chunk by chunk.
    fn resample(&self, from: usize, to: usize, chunks: &[usize]) -> Result<()> {
        let src = ZarrOptions::new().open(self.level_path(from))?;
        let (src_shape, dst_shape) = (src.shape().to_vec(), self.level_shape(to));
        let (tf, tt) = (&self.levels[from].transform, &self.levels[to].transform);
        // per axis, the source index of each destination index
        let maps: Vec<Vec<usize>> = (0..dst_shape.len())
            .map(|a| {
                (0..dst_shape[a])
                    .map(|j| {
                        let world = tt.translation[a] + tt.scale[a] * j as f64;
                        let i = ((world - tf.translation[a]) / tf.scale[a]).round_ties_even();
                        (i.max(0.0) as usize).min(src_shape[a] - 1)
                    })
                    .collect()
            })
            .collect();
        let chunks: Vec<usize> = chunks
            .iter()
            .zip(&dst_shape)
            .map(|(&c, &n)| c.min(n).max(1))
            .collect();
        let dtype = src.dtype();
        let out = ZarrOutput::create_resumable_as(
            self.level_path(to),
            &dst_shape,
            &chunks,
            dtype,
            false,
            self.zarr_format(),
            self.dimension_names().as_deref(),
        )?;
        let size = dtype.size();
        let grid: Vec<usize> = dst_shape
            .iter()
            .zip(&chunks)
            .map(|(n, c)| n.div_ceil(*c))
            .collect();
        let count: usize = grid.iter().product();
        let (mut src_buf, mut dst_buf) = (Vec::new(), Vec::new());
        for flat in 0..count {
            // the chunk's box, and the source box its voxels map into
            let mut rest = flat;
            let mut start = vec![0; grid.len()];
            for a in (0..grid.len()).rev() {
                start[a] = (rest % grid[a]) * chunks[a];
                rest /= grid[a];
            }
            let ext: Vec<usize> = (0..grid.len())
                .map(|a| chunks[a].min(dst_shape[a] - start[a]))
                .collect();
            let lo: Vec<usize> = (0..grid.len()).map(|a| maps[a][start[a]]).collect();
            let hi: Vec<usize> = (0..grid.len())
                .map(|a| maps[a][start[a] + ext[a] - 1] + 1)
                .collect();
            let src_ext: Vec<usize> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
            let region = Region::new(lo.clone(), src_ext.clone())?;
            src_buf.resize(src_ext.iter().product::<usize>() * size, 0);
            src.read_region(&region, &mut src_buf)?;
            // C-order strides of the source box, in bytes
            let mut strides = vec![size; grid.len()];
            for a in (0..grid.len().saturating_sub(1)).rev() {
                strides[a] = strides[a + 1] * src_ext[a + 1];
            }
            dst_buf.clear();
            let mut idx = vec![0usize; grid.len()];
            let total: usize = ext.iter().product();
            for _ in 0..total {
                let off: usize = (0..grid.len())
                    .map(|a| (maps[a][start[a] + idx[a]] - lo[a]) * strides[a])
                    .sum();
                dst_buf.extend_from_slice(&src_buf[off..off + size]);
                for a in (0..grid.len()).rev() {
                    idx[a] += 1;
                    if idx[a] < ext[a] {
                        break;
                    }
                    idx[a] = 0;
                }
            }
            out.write_region(&Region::new(start, ext)?, &dst_buf)?;
        }
        out.finish()
    }

    /// Writes the label image's metadata and adds it to the image's
    /// labels list.
    fn write_metadata(&self) -> Result<()> {
        let labels = self.image.join("labels");
        let group = labels.join(&self.name);
        let axes: Vec<Value> = self
            .axes
            .iter()
            .map(|a| {
                let mut v = json!({"name": a.name});
                if let Some(k) = &a.kind {
                    v["type"] = json!(k);
                }
                if let Some(u) = &a.unit {
                    v["unit"] = json!(u);
                }
                v
            })
            .collect();
        let datasets: Vec<Value> = self
            .levels
            .iter()
            .map(|l| {
                json!({"path": l.path, "coordinateTransformations": [
                    {"type": "scale", "scale": l.transform.scale},
                    {"type": "translation", "translation": l.transform.translation},
                ]})
            })
            .collect();
        let mut multiscale = json!({"name": self.name, "axes": axes, "datasets": datasets});
        let image_label = json!({"version": self.version, "source": {"image": "../../"}});
        type ListOf = fn(&Value) -> Option<Value>;
        let (label_attrs, list_of): (Value, ListOf) = if self.version == "0.5" {
            let attrs = json!({"ome": {"version": "0.5", "multiscales": [multiscale],
                                       "image-label": image_label}});
            (attrs, |a: &Value| {
                a.get("ome").and_then(|o| o.get("labels")).cloned()
            })
        } else {
            multiscale["version"] = json!("0.4");
            let attrs = json!({"multiscales": [multiscale], "image-label": image_label});
            (attrs, |a: &Value| a.get("labels").cloned())
        };
        self.write_group(&group, &label_attrs)?;
        // the labels list, with the names it had
        let mut names: Vec<String> = self
            .read_attrs(&labels)?
            .as_ref()
            .and_then(list_of)
            .map(|l| crate::volume::zarr::ome::label_names(&l))
            .unwrap_or_default();
        if !names.contains(&self.name) {
            names.push(self.name.clone());
        }
        let list = if self.version == "0.5" {
            json!({"ome": {"version": "0.5", "labels": names}})
        } else {
            json!({"labels": names})
        };
        self.write_group(&labels, &list)
    }

    /// A group's attributes, if it has metadata.
    fn read_attrs(&self, dir: &Path) -> Result<Option<Value>> {
        let (file, v3) = if self.version == "0.5" {
            (dir.join("zarr.json"), true)
        } else {
            (dir.join(".zattrs"), false)
        };
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&file, e)),
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidHeader {
            path: file.clone(),
            detail: format!("not JSON: {e}"),
        })?;
        Ok(Some(if v3 {
            value.get("attributes").cloned().unwrap_or_default()
        } else {
            value
        }))
    }

    /// Writes a group's metadata (v3 `zarr.json`, or v2 `.zgroup` and
    /// `.zattrs`), each file atomically.
    fn write_group(&self, dir: &Path, attrs: &Value) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let write = |name: &str, value: &Value| -> Result<()> {
            let text = serde_json::to_string_pretty(value).map_err(|e| Error::InvalidArgument {
                what: "labels",
                detail: e.to_string(),
            })?;
            crate::io::write_atomic(&dir.join(name), true, |w, tmp| {
                w.write_all(text.as_bytes()).map_err(|e| Error::io(tmp, e))
            })
            .map(|_| ())
        };
        if self.version == "0.5" {
            write(
                "zarr.json",
                &json!({"zarr_format": 3, "node_type": "group", "attributes": attrs}),
            )
        } else {
            write(".zgroup", &json!({"zarr_format": 2}))?;
            write(".zattrs", attrs)
        }
    }
}
