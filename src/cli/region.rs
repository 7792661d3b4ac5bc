//! `impart region`: the voxel region (and world origin) of a selection of
//! cells.

use impart::{AnyVolume, Result, Volume};
use serde_json::json;

use super::args::{GridArgs, InputArgs};
use super::input::{carried_axes, open, partition};
use super::text::{join, print_json};

/// Prints the region of the cells `select` picks, as text or one JSON
/// object (with the world origin and affine for volumes that have one).
pub fn run(input: &InputArgs, g: &GridArgs, select: &str, json_out: bool) -> Result<()> {
    let part = partition(open(input)?, g)?;
    let sel = part.select(select)?;
    let r = sel.region();
    let cells: Vec<[usize; 2]> = sel
        .cells()
        .ranges()
        .iter()
        .map(|c| [c.start, c.end])
        .collect();
    if json_out {
        let mut out = json!({
            "start": r.start(),
            "shape": r.shape(),
            "cells": cells,
            "selection": select,
            "carried_axes": carried_axes(&part),
        });
        if let (Some(w), Some(a)) = (sel.world_origin(), sel.affine()) {
            out["world_origin"] = json!(w);
            out["affine"] = json!(a);
        } else if let (Some(w), Some(t)) = (sel.world_start(), part.volume().axis_transform()) {
            out["world_origin"] = json!(w);
            out["world_scale"] = json!(t.scale);
        }
        print_json(&out);
    } else {
        println!("selection: {select}");
        println!(
            "cells:     {}",
            join(
                &sel.cells()
                    .ranges()
                    .iter()
                    .map(|c| format!("{}..{}", c.start, c.end))
                    .collect::<Vec<_>>(),
                ", "
            )
        );
        println!("start:     {}", join(r.start(), ", "));
        println!("shape:     {}", join(r.shape(), " x "));
        println!("end:       {}", join(&r.end(), ", "));
        if let Some(w) = sel.world_origin() {
            println!("world:     {} mm (first voxel)", join(&w, ", "));
        } else if let Some(w) = sel.world_start() {
            println!(
                "world:     {} (first voxel; {})",
                join(&w, ", "),
                world_units(part.volume())
            );
        }
    }
    Ok(())
}

/// The axes a per-axis world position is given in: `z micrometer, y
/// micrometer, c` (names and units of an OME-Zarr image).
fn world_units(volume: &AnyVolume) -> String {
    let axes = match volume {
        AnyVolume::Zarr(v) => v.ome().map(|o| o.axes.clone()),
        _ => None,
    };
    match axes {
        Some(axes) => join(
            &axes
                .iter()
                .map(|a| match &a.unit {
                    Some(u) => format!("{} {u}", a.name),
                    None => a.name.clone(),
                })
                .collect::<Vec<_>>(),
            ", ",
        ),
        None => "per volume axis".into(),
    }
}
