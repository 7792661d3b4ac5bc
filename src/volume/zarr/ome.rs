//! OME-Zarr (NGFF) images: a group whose `multiscales` metadata lists the
//! resolution levels of one image (arrays of the group), its axes with
//! their names, types and units, and each level's
//! `coordinateTransformations` (a scale, then a translation), which give
//! every voxel a position in the axes' units.
//!
//! Read: NGFF 0.4 (Zarr v2, the metadata in `.zattrs`) and 0.5 (Zarr v3,
//! under `"ome"` in the group's `zarr.json` attributes), and the earlier
//! 0.1 to 0.3 leniently (axes as names or implied `t, c, z, y, x`, no
//! transforms: scale 1). The first image of a `multiscales` list is the
//! one opened (NGFF: the others are other images). A label image
//! (`labels/<name>` under an image, with `image-label` metadata) is itself
//! a multiscale image and opens the same way; an image's labels group
//! (`labels/`, its `labels` list) is read for [`OmeImage::labels`].
//!
//! Not read: transforms other than `scale` and `translation` (NGFF 0.4 and
//! 0.5 define no others on datasets), paths given as transform files
//! (`"path"` instead of values), HCS plates and wells (a plate is a group
//! of images: open one of them).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::volume::AxisTransform;

/// One axis of an OME-Zarr image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmeAxis {
    /// Its name (`"x"`, `"c"`, `"t"`, ...).
    pub name: String,
    /// Its type (`"space"`, `"time"`, `"channel"`, or another), if given.
    pub kind: Option<String>,
    /// Its unit (`"micrometer"`, `"second"`, ...), if given.
    pub unit: Option<String>,
}

/// One resolution level of an OME-Zarr image.
#[derive(Debug, Clone, PartialEq)]
pub struct OmeLevel {
    /// The array's path inside the image group (`"0"`, `"s1"`, ...).
    pub path: String,
    /// Index to world: the level's transforms followed by the image's.
    pub transform: AxisTransform,
    /// The array's shape, from its metadata (`None` if that could not be
    /// read: the level is missing or broken, which only opening that level
    /// reports).
    pub shape: Option<Vec<u64>>,
}

/// The multiscale metadata of an OME-Zarr image group; see the [module
/// docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct OmeImage {
    /// The NGFF version the metadata gives (`"0.4"`, `"0.5"`), or
    /// `"unknown"`.
    pub version: String,
    /// The image's name, if given.
    pub name: Option<String>,
    /// The axes, in the arrays' order.
    pub axes: Vec<OmeAxis>,
    /// The levels, full resolution first.
    pub levels: Vec<OmeLevel>,
    /// The names of the image's label images (`labels/<name>`), from its
    /// labels group; empty if it has none.
    pub labels: Vec<String>,
    /// Whether this image is itself a label image (`image-label`).
    pub is_label: bool,
    /// For a label image: the image it labels, as its metadata gives it
    /// (`image-label.source.image`, like `"../../"`).
    pub label_source: Option<String>,
}

/// What a group's attributes hold for OME-Zarr.
pub(super) enum GroupKind {
    /// A multiscale image.
    Image(Box<OmeImage>),
    /// A labels group: the names it lists.
    Labels(Vec<String>),
    /// Anything else (a plain group, a plate, a well).
    Other(Option<&'static str>),
}

/// The OME metadata of a group's attributes: NGFF 0.5 keeps it under
/// `"ome"`, earlier versions at the top.
fn ome_of(attrs: &Value) -> &Value {
    attrs.get("ome").filter(|o| o.is_object()).unwrap_or(attrs)
}

/// Reads a group's attributes as OME-Zarr metadata; `path` names the
/// group in errors.
///
/// # Errors
///
/// [`Error::InvalidHeader`] naming `path` for `multiscales` metadata that
/// is malformed: no datasets, axes that do not match the transforms'
/// lengths, a scale that is not a finite non-zero number, a translation
/// that is not finite.
pub(super) fn read_group(path: &std::path::Path, attrs: &Value) -> Result<GroupKind> {
    let invalid = |detail: String| Error::InvalidHeader {
        path: path.to_path_buf(),
        detail: format!("OME-Zarr metadata: {detail}"),
    };
    let ome = ome_of(attrs);
    if let Some(labels) = ome
        .get("labels")
        .filter(|_| ome.get("multiscales").is_none())
    {
        return Ok(GroupKind::Labels(label_names(labels)));
    }
    let Some(multiscales) = ome.get("multiscales") else {
        let other = if ome.get("plate").is_some() {
            Some("an HCS plate (open one of its images, like A/1/0)")
        } else if ome.get("well").is_some() {
            Some("an HCS well (open one of its images, like 0)")
        } else {
            None
        };
        return Ok(GroupKind::Other(other));
    };
    let first = multiscales
        .as_array()
        .and_then(|m| m.first())
        .ok_or_else(|| invalid("\"multiscales\" is not a list of images".into()))?;
    let version = ome
        .get("version")
        .or_else(|| first.get("version"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let datasets = first
        .get("datasets")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| invalid("the image has no \"datasets\" (levels)".into()))?;
    let axes = match first.get("axes") {
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, a)| axis_of(a).ok_or_else(|| invalid(format!("axis {i} has no name"))))
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(invalid("\"axes\" is not a list".into())),
        // NGFF 0.1 and 0.2: always 5-D, t c z y x
        None => ["t", "c", "z", "y", "x"]
            .iter()
            .map(|n| OmeAxis {
                name: n.to_string(),
                kind: None,
                unit: None,
            })
            .collect(),
    };
    let rank = axes.len();
    let image_wide = transform_of(first.get("coordinateTransformations"), rank)
        .map_err(|e| invalid(format!("the image's coordinateTransformations: {e}")))?;
    let levels = datasets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let path = d
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| invalid(format!("dataset {i} has no \"path\"")))?;
            let own = transform_of(d.get("coordinateTransformations"), rank)
                .map_err(|e| invalid(format!("dataset {path}'s coordinateTransformations: {e}")))?;
            Ok(OmeLevel {
                path: path.trim_matches('/').to_string(),
                transform: own.then(&image_wide),
                shape: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let label = ome.get("image-label");
    Ok(GroupKind::Image(Box::new(OmeImage {
        version,
        name: first.get("name").and_then(Value::as_str).map(String::from),
        axes,
        levels,
        labels: Vec::new(),
        is_label: label.is_some(),
        label_source: label
            .and_then(|l| l.get("source"))
            .and_then(|s| s.get("image"))
            .and_then(Value::as_str)
            .map(String::from),
    })))
}

/// The label names of a labels group's `labels` list (names that are not
/// strings are skipped).
pub(crate) fn label_names(labels: &Value) -> Vec<String> {
    labels
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The label names in a labels group's attributes.
pub(super) fn labels_of(attrs: &Value) -> Vec<String> {
    ome_of(attrs)
        .get("labels")
        .map(label_names)
        .unwrap_or_default()
}

fn axis_of(a: &Value) -> Option<OmeAxis> {
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(String::from);
    match a {
        // NGFF 0.3: names only
        Value::String(name) => Some(OmeAxis {
            name: name.clone(),
            kind: None,
            unit: None,
        }),
        _ => Some(OmeAxis {
            name: text("name")?,
            kind: text("type"),
            unit: text("unit"),
        }),
    }
}

/// A list of `scale` and `translation` transforms as one map (identity
/// when absent), in the list's order.
fn transform_of(list: Option<&Value>, rank: usize) -> std::result::Result<AxisTransform, String> {
    let mut t = AxisTransform::identity(rank);
    let Some(list) = list else {
        return Ok(t);
    };
    let list = list.as_array().ok_or("not a list")?;
    for item in list {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let values = |key: &str| -> std::result::Result<Vec<f64>, String> {
            let v = item.get(key).ok_or_else(|| {
                if item.get("path").is_some() {
                    format!("a {kind} given by a file (\"path\") is not read")
                } else {
                    format!("a {kind} without \"{key}\"")
                }
            })?;
            let v: Vec<f64> = v
                .as_array()
                .ok_or_else(|| format!("\"{key}\" is not a list"))?
                .iter()
                .map(|x| x.as_f64().filter(|x| x.is_finite()))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("\"{key}\" holds a value that is not a finite number"))?;
            if v.len() != rank {
                return Err(format!("\"{key}\" has {} values for {rank} axes", v.len()));
            }
            Ok(v)
        };
        let step = match kind {
            "scale" => {
                let scale = values("scale")?;
                if scale.contains(&0.0) {
                    return Err("a scale of 0".into());
                }
                AxisTransform {
                    scale,
                    translation: vec![0.0; rank],
                }
            }
            "translation" => AxisTransform {
                scale: vec![1.0; rank],
                translation: values("translation")?,
            },
            "identity" => AxisTransform::identity(rank),
            other => return Err(format!("a transform of type {other:?} is not read")),
        };
        t = t.then(&step);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn image(attrs: Value) -> OmeImage {
        match read_group(Path::new("g"), &attrs) {
            Ok(GroupKind::Image(i)) => *i,
            _ => panic!("not an image"),
        }
    }

    #[test]
    fn level_transforms_come_before_the_image_s() {
        let i = image(json!({"ome": {"version": "0.5", "multiscales": [{
            "axes": [{"name": "y", "type": "space", "unit": "millimeter"}, {"name": "x"}],
            "datasets": [{"path": "s0", "coordinateTransformations": [
                {"type": "scale", "scale": [0.5, 0.25]},
                {"type": "translation", "translation": [1.0, -2.0]}]}],
            "coordinateTransformations": [{"type": "scale", "scale": [2.0, 4.0]}]}]}}));
        assert_eq!(i.version, "0.5");
        assert_eq!(i.axes[0].unit.as_deref(), Some("millimeter"));
        assert_eq!(i.axes[1].kind, None);
        let t = &i.levels[0].transform;
        // (index * 0.5 + 1) * 2 and (index * 0.25 - 2) * 4
        assert_eq!(t.world(&[3, 8]), vec![5.0, 0.0]);
    }

    #[test]
    fn malformed_transforms_are_refused_with_what_is_wrong() {
        for (bad, says) in [
            (
                json!([{"type": "scale", "scale": [1.0]}]),
                "1 values for 2 axes",
            ),
            (
                json!([{"type": "scale", "scale": [0.0, 1.0]}]),
                "scale of 0",
            ),
            (json!([{"type": "scale", "path": "s.bin"}]), "by a file"),
            (
                json!([{"type": "affine", "affine": []}]),
                "\"affine\" is not read",
            ),
            (
                json!([{"type": "translation", "translation": ["a", 1]}]),
                "finite",
            ),
        ] {
            let attrs = json!({"multiscales": [{"version": "0.4",
                "axes": ["y", "x"], "datasets": [{"path": "0", "coordinateTransformations": bad}]}]});
            let e = read_group(Path::new("g"), &attrs)
                .err()
                .map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains(says)), "{e:?}");
        }
    }

    #[test]
    fn labels_plates_and_plain_groups_are_told_apart() {
        let g = |v| read_group(Path::new("g"), &v).ok();
        assert!(
            matches!(g(json!({"labels": ["a", "b"]})), Some(GroupKind::Labels(l)) if l == ["a", "b"])
        );
        assert!(matches!(
            g(json!({"ome": {"plate": {}}})),
            Some(GroupKind::Other(Some(_)))
        ));
        assert!(matches!(g(json!({})), Some(GroupKind::Other(None))));
        // NGFF 0.1: no axes, five of them implied, no transforms
        let i = image(json!({"multiscales": [{"datasets": [{"path": "0"}]}]}));
        assert_eq!(i.axes.len(), 5);
        assert_eq!(i.levels[0].transform, AxisTransform::identity(5));
    }
}
