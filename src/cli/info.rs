//! `impart info`: shape, type, storage and zero-copy status of a volume,
//! and the facts of its format (a NIfTI header, Zarr codecs, …).

use impart::{
    dispatch_dtype, AnyVolume, ImageStorage, ImageVolume, NiftiVolume, OmeImage, RawVolume, Result,
    TiffVolume, Volume, ZarrVolume,
};
use serde_json::{json, Value};

use super::args::InputArgs;
use super::input::open;
use super::text::{human_bytes, join, print_json};

/// One fact of a format: JSON key (empty: text only), JSON value, human
/// label (empty: JSON only), human text.
type Fact = (&'static str, Value, &'static str, String);

/// Prints what `info` knows of the input, as text or one JSON object.
pub fn run(input: &InputArgs, json_out: bool) -> Result<()> {
    let volume = open(input)?;
    let mapped = volume.is_mapped();
    let facts = facts(&volume);
    let dtype = volume.dtype();
    let nbytes = volume.shape().iter().product::<usize>() * dtype.size();
    let layout = volume.layout();
    let align = dispatch_dtype!(dtype, T => { std::mem::align_of::<T>() });
    let obstacle = layout
        .as_ref()
        .and_then(|l| l.zero_copy_obstacle(dtype, align));
    let zero_copy = layout.is_some() && obstacle.is_none();
    let reason = match (&layout, &obstacle) {
        (None, _) => Some("the backend holds no addressable memory".to_string()),
        (_, Some(r)) => Some(r.to_string()),
        _ => None,
    };
    if json_out {
        let mut obj = serde_json::Map::new();
        obj.insert("path".into(), json!(input.path.display().to_string()));
        obj.insert("format".into(), json!(volume.kind()));
        obj.insert("shape".into(), json!(volume.shape()));
        obj.insert("dtype".into(), json!(dtype.name()));
        obj.insert("nbytes".into(), json!(nbytes));
        obj.insert("mapped".into(), json!(mapped));
        obj.insert("zero_copy".into(), json!(zero_copy));
        obj.insert("zero_copy_obstacle".into(), json!(reason));
        for (k, v, _, _) in facts.iter().filter(|f| !f.0.is_empty()) {
            obj.insert((*k).into(), v.clone());
        }
        print_json(&Value::Object(obj));
    } else {
        println!("path:       {}", input.path.display());
        println!(
            "format:     {} ({})",
            volume.kind(),
            match (mapped, layout.is_some(), volume.kind()) {
                (true, _, _) => "memory-mapped",
                (false, true, "image") => "decoded image",
                (false, true, _) => "in memory",
                (false, false, _) => "read on demand",
            }
        );
        println!("shape:      {}", join(volume.shape(), " x "));
        println!("dtype:      {dtype}");
        println!(
            "size:       {} ({nbytes} bytes)",
            human_bytes(nbytes as u64)
        );
        for (_, _, label, text) in &facts {
            if !label.is_empty() {
                println!("{:<11} {text}", format!("{label}:"));
            }
        }
        match reason {
            None => println!("zero copy:  yes"),
            Some(r) => println!("zero copy:  no, {r} (materialization converts)"),
        }
    }
    Ok(())
}

/// The facts of the volume's format, in the order `info` prints them.
fn facts(volume: &AnyVolume) -> Vec<Fact> {
    match volume {
        AnyVolume::Raw(v) => raw_facts(v),
        AnyVolume::Nifti(v) => nifti_facts(v),
        AnyVolume::Image(v) => image_facts(v),
        AnyVolume::Zarr(v) => zarr_facts(v),
        AnyVolume::Tiff(v) => tiff_facts(v),
        _ => Vec::new(),
    }
}

fn raw_facts(volume: &RawVolume) -> Vec<Fact> {
    let (byte_order, order, offset) = (volume.byte_order(), volume.order(), volume.offset());
    vec![
        (
            "byte_order",
            json!(byte_order.name()),
            "byte order",
            byte_order.name().to_string(),
        ),
        (
            "order",
            json!(order.name()),
            "order",
            order.name().to_string(),
        ),
        ("offset", json!(offset), "offset", offset.to_string()),
    ]
}

fn image_facts(volume: &ImageVolume) -> Vec<Fact> {
    let cached = volume.is_cached();
    let storage = volume.storage().describe();
    let temporary = matches!(volume.storage(), ImageStorage::Temporary { .. });
    let cache_file = volume.cache_path().map(|p| p.display().to_string());
    let (h, w, c) = (volume.height(), volume.width(), volume.channels());
    let layout = match c {
        1 => "gray",
        2 => "gray+alpha",
        3 => "RGB",
        _ => "RGBA",
    };
    vec![
        ("width", json!(w), "width", w.to_string()),
        ("height", json!(h), "height", h.to_string()),
        ("channels", json!(c), "channels", format!("{c} ({layout})")),
        ("cached", json!(cached), "storage", storage.clone()),
        ("storage", json!(storage), "", String::new()),
        ("cache_file", json!(cache_file), "", String::new()),
        ("temporary", json!(temporary), "", String::new()),
    ]
}

fn zarr_facts(volume: &ZarrVolume) -> Vec<Fact> {
    let meta = serde_json::to_value(volume.array().metadata()).unwrap_or(Value::Null);
    let version = meta.get("zarr_format").cloned().unwrap_or(Value::Null);
    let codecs = match meta.get("codecs") {
        Some(c) => c.clone(),
        None => json!({
            "compressor": meta.get("compressor").cloned().unwrap_or(Value::Null),
            "filters": meta.get("filters").cloned().unwrap_or(Value::Null),
            "order": meta.get("order").cloned().unwrap_or(Value::Null),
            "dimension_separator": meta.get("dimension_separator").cloned().unwrap_or(Value::Null),
        }),
    };
    let grid_chunk: Vec<u64> = volume
        .array()
        .chunk_shape(&vec![0; volume.shape().len()])
        .map(|s| s.iter().map(|n| n.get()).collect())
        .unwrap_or_default();
    let codec_text = codecs.to_string();
    let mut facts = vec![
        (
            "zarr_format",
            version.clone(),
            "zarr format",
            version.to_string(),
        ),
        (
            "chunk_shape",
            json!(if volume.is_sharded() {
                volume.chunk_shape().to_vec()
            } else {
                grid_chunk.iter().map(|&n| n as usize).collect()
            }),
            "chunks",
            join(volume.chunk_shape(), " x "),
        ),
    ];
    if volume.is_sharded() {
        facts.push((
            "shard_shape",
            json!(grid_chunk),
            "shards",
            join(&grid_chunk, " x "),
        ));
    }
    facts.push(("codecs", codecs, "codecs", codec_text));
    facts.push((
        "fill_value",
        meta.get("fill_value").cloned().unwrap_or(Value::Null),
        "fill value",
        meta.get("fill_value")
            .map(|v| v.to_string())
            .unwrap_or_default(),
    ));
    if let (Some(image), Some(level)) = (volume.ome(), volume.ome_level()) {
        facts.extend(ome_facts(image, level));
    }
    #[cfg(feature = "remote")]
    if let Some(remote) = volume.remote() {
        let stats = remote.stats();
        facts.push(("url", json!(remote.url()), "url", remote.url().to_string()));
        facts.push((
            "fetched",
            json!({"gets": stats.gets, "heads": stats.heads, "bytes": stats.bytes,
                   "missing": stats.missing, "requests": stats.requests,
                   "retried": stats.retried}),
            "fetched",
            format!(
                "{} GET{} ({} bytes), {} HEAD, {} not found; {} HTTP requests, {} retried",
                stats.gets,
                if stats.gets == 1 { "" } else { "s" },
                stats.bytes,
                stats.heads,
                stats.missing,
                stats.requests,
                stats.retried
            ),
        ));
    }
    facts
}

/// An OME-Zarr image's levels, axes and labels.
fn ome_facts(image: &OmeImage, level: usize) -> Vec<Fact> {
    let axes: Vec<Value> = image
        .axes
        .iter()
        .map(|a| json!({"name": a.name, "type": a.kind, "unit": a.unit}))
        .collect();
    let axes_text = join(
        &image
            .axes
            .iter()
            .map(|a| match (&a.kind, &a.unit) {
                (Some(k), Some(u)) => format!("{} ({k}, {u})", a.name),
                (Some(k), None) => format!("{} ({k})", a.name),
                (None, Some(u)) => format!("{} ({u})", a.name),
                (None, None) => a.name.clone(),
            })
            .collect::<Vec<_>>(),
        ", ",
    );
    let levels: Vec<Value> = image
        .levels
        .iter()
        .enumerate()
        .map(|(k, l)| {
            json!({"level": k, "path": l.path, "shape": l.shape,
                   "scale": l.transform.scale, "translation": l.transform.translation})
        })
        .collect();
    let levels_text = image
        .levels
        .iter()
        .enumerate()
        .map(|(k, l)| {
            format!(
                "{k}{} {:<6} {:<20} scale {}, origin {}",
                if k == level { "*" } else { " " },
                l.path,
                l.shape.as_ref().map_or("?".to_string(), |s| join(s, " x ")),
                join(&l.transform.scale, ", "),
                join(&l.transform.translation, ", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n            ");
    let mut kind = format!("OME-Zarr {}", image.version);
    if image.is_label {
        kind.push_str(", a label image");
        if let Some(source) = &image.label_source {
            kind.push_str(&format!(" of {source}"));
        }
    }
    if let Some(name) = &image.name {
        kind.push_str(&format!(" ({name:?})"));
    }
    let mut facts = vec![
        (
            "ome",
            json!({"version": image.version, "name": image.name, "axes": axes,
                   "labels": image.labels, "image_label": image.is_label,
                   "label_source": image.label_source}),
            "image",
            kind,
        ),
        ("", Value::Null, "axes", axes_text),
        ("level", json!(level), "", String::new()),
        ("levels", json!(levels), "levels", levels_text),
    ];
    if !image.labels.is_empty() {
        facts.push((
            "",
            Value::Null,
            "labels",
            join(
                &image
                    .labels
                    .iter()
                    .map(|l| format!("labels/{l}"))
                    .collect::<Vec<_>>(),
                ", ",
            ),
        ));
    }
    facts
}

/// The first three rows of an affine, one per line, aligned under a label.
fn affine_rows(affine: &[[f64; 4]; 4]) -> String {
    affine
        .iter()
        .take(3)
        .map(|r| format!("[{:>9.4} {:>9.4} {:>9.4} {:>10.4}]", r[0], r[1], r[2], r[3]))
        .collect::<Vec<_>>()
        .join("\n            ")
}

fn tiff_facts(volume: &TiffVolume) -> Vec<Fact> {
    let (code, name) = volume.compression();
    let chunk = volume.chunk_shape();
    let layout = format!(
        "{} of {}{}",
        if volume.is_tiled() { "tiles" } else { "strips" },
        join(&chunk[chunk.len() - 3..chunk.len() - 1], " x "),
        if volume.is_planar() { ", planar" } else { "" }
    );
    let levels: Vec<Value> = volume
        .levels()
        .iter()
        .enumerate()
        .map(|(k, l)| {
            json!({"level": k, "shape": l.shape, "chunk_shape": l.chunk_shape,
                   "tiled": l.tiled, "compression": l.compression, "stored": l.stored})
        })
        .collect();
    let levels_text = volume
        .levels()
        .iter()
        .enumerate()
        .map(|(k, l)| {
            format!(
                "{k}{} {} ({})",
                if k == volume.level() { "*" } else { " " },
                join(&l.shape, " x "),
                l.stored
            )
        })
        .collect::<Vec<_>>()
        .join("\n            ");
    let storage = match (volume.is_mapped(), volume.is_raw()) {
        (true, _) => "uncompressed, memory-mapped in place".to_string(),
        (false, true) => "uncompressed, read with positioned reads".to_string(),
        _ => format!(
            "{name}: {} decoded as reads cross them",
            layout.split(' ').next().unwrap_or("chunks")
        ),
    };
    let mut facts = vec![
        (
            "pages",
            json!(volume.pages()),
            "pages",
            match volume.page() {
                Some(p) => format!("{} (page {p} opened alone)", volume.pages()),
                None => volume.pages().to_string(),
            },
        ),
        ("page", json!(volume.page()), "", String::new()),
        (
            "axes",
            json!(volume.axes()),
            "axes",
            match volume.axes_from() {
                Some(from) => format!("{} (from {from})", volume.axes()),
                None => volume.axes().to_string(),
            },
        ),
        (
            "compression",
            json!(code),
            "compressed",
            format!("{name} ({code})"),
        ),
        ("chunk_shape", json!(chunk), "layout", layout),
        ("tiled", json!(volume.is_tiled()), "", String::new()),
        ("planar", json!(volume.is_planar()), "", String::new()),
        ("storage", json!(storage), "storage", storage.clone()),
        ("level", json!(volume.level()), "", String::new()),
        ("levels", json!(levels), "levels", levels_text),
    ];
    if let Some(affine) = volume.affine() {
        facts.push(("affine", json!(affine), "affine", affine_rows(&affine)));
    }
    if let Some(geo) = volume.geo() {
        let keys = geo.geo_keys.as_ref().map_or(0, |k| k.len() / 4);
        facts.push((
            "georeference",
            json!({
                "raster_type": format!("{:?}", geo.raster_type),
                "model_transformation": geo.transformation,
                "model_tiepoint": geo.tiepoints,
                "model_pixel_scale": geo.pixel_scale,
                "geo_keys": geo.geo_keys,
                "geo_ascii_params": geo.geo_ascii,
            }),
            "georef",
            format!(
                "GeoTIFF, {:?}, {} GeoKeys{}",
                geo.raster_type,
                keys.saturating_sub(1),
                if volume.affine().is_none() {
                    " (no single affine: ground control points)"
                } else {
                    ""
                }
            ),
        ));
    }
    facts
}

fn nifti_facts(volume: &NiftiVolume) -> Vec<Fact> {
    let h = volume.header();
    let affine = h.affine();
    let source = if h.sform_code != 0 {
        "sform"
    } else if h.qform_code != 0 {
        "qform"
    } else {
        "pixdim (no sform or qform)"
    };
    let storage = match volume.cache_path() {
        Some(c) => format!("decompressed once to the cache {}", c.display()),
        None if volume.raw().is_mapped() => {
            format!("memory-mapped {}", volume.data_path().display())
        }
        None => format!("read on demand from {}", volume.data_path().display()),
    };
    let affine_text = affine_rows(&affine);
    vec![
        (
            "nifti_version",
            json!(h.version),
            "version",
            format!("NIfTI-{}", h.version),
        ),
        (
            "datatype",
            json!(h.datatype),
            "datatype",
            h.datatype.to_string(),
        ),
        (
            "byte_order",
            json!(h.byte_order.name()),
            "byte order",
            h.byte_order.name().to_string(),
        ),
        (
            "vox_offset",
            json!(h.vox_offset),
            "vox_offset",
            h.vox_offset.to_string(),
        ),
        (
            "voxel_size",
            json!(h.voxel_size()),
            "voxel size",
            join(&h.voxel_size(), " x "),
        ),
        (
            "scaling",
            json!(h.scaling().map(|(s, i)| json!({"slope": s, "inter": i}))),
            "scaling",
            match h.scaling() {
                Some((s, i)) => {
                    format!("value * {s} + {i} (applied on request, e.g. stats --scaled)")
                }
                None => "none".into(),
            },
        ),
        ("affine", json!(affine), "affine", affine_text),
        ("affine_source", json!(source), "from", source.to_string()),
        (
            "cached",
            json!(volume.is_cached()),
            "storage",
            storage.clone(),
        ),
        ("storage", json!(storage), "", String::new()),
    ]
}
