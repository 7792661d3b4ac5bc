//! `impart region`: the voxel region (and world origin) of a selection of
//! cells.

use impart::Result;
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
        }
    }
    Ok(())
}
