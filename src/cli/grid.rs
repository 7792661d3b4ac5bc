//! `impart grid`: the grid a cell shape and spacing lay over a volume.

use impart::{Partition, Result, Volume};
use serde_json::{json, Value};

use super::args::{GridArgs, InputArgs};
use super::input::{carried_axes, open, partition};
use super::text::{join, print_json};

/// Prints the grid of `g` over the input, as text or one JSON object.
pub fn run(input: &InputArgs, g: &GridArgs, json_out: bool) -> Result<()> {
    let part = partition(open(input)?, g)?;
    if json_out {
        print_json(&grid_json(&part));
    } else {
        print_grid(&part);
    }
    Ok(())
}

fn grid_json<V: Volume>(part: &Partition<V>) -> Value {
    let g = part.grid();
    json!({
        "volume_shape": part.volume().shape(),
        "cell_shape": g.cell_shape(),
        "step": g.step(),
        "grid_shape": g.shape(),
        "cells": g.len(),
        "axes": part.axes(),
        "carried_axes": carried_axes(part),
        "edge": g.edge().name(),
        "dtype": part.volume().dtype().name(),
    })
}

/// The grid in words, one fact a line (also the demo's).
pub fn print_grid<V: Volume>(part: &Partition<V>) {
    let g = part.grid();
    println!("volume shape: {}", join(part.volume().shape(), " x "));
    println!("partitioned axes: {}", join(part.axes(), ", "));
    println!("cell shape:   {}", join(g.cell_shape(), " x "));
    println!("step:         {}", join(g.step(), " x "));
    println!("edge:         {}", g.edge().name());
    println!("grid shape:   {}", join(g.shape(), " x "));
    println!("cells:        {}", g.len());
}
