//! `impart grid`: the grid a cell shape and spacing lay over a volume.

use impart::{Partition, Result, Volume};

use super::args::{GridArgs, InputArgs};
use super::input::{open, partition};
use super::text::{join, print_json};

/// Prints the grid of `g` over the input, as text or one JSON object.
pub fn run(input: &InputArgs, g: &GridArgs, json_out: bool) -> Result<()> {
    let part = partition(open(input)?, g)?;
    if json_out {
        print_json(&impart::fragment::grid_json(&part));
    } else {
        print_grid(&part);
    }
    Ok(())
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
