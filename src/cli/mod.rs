//! Command-line front end. Human output by default, `--json` for machines.
//!
//! One file per command, each with a `run` taking its parsed arguments;
//! [`input`] turns the input flags into a volume (through
//! [`impart::OpenOptions`]) and the grid flags into a partition. Only the
//! library's public API is used here.

mod args;
mod cache;
mod demo;
mod fragment;
mod grid;
mod info;
mod input;
mod phantom;
mod preview;
mod region;
mod stats;
mod stitch;
mod text;

use std::process::ExitCode;

use clap::Parser;
use impart::{Error, Result};

use args::{CacheAction, Cli, Command};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("impart: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { input, json } => info::run(&input, json),
        Command::Grid { input, grid, json } => grid::run(&input, &grid, json),
        Command::Region {
            input,
            grid,
            select,
            json,
        } => region::run(&input, &grid, &select, json),
        Command::Stats {
            input,
            grid,
            select,
            threads,
            scaled,
            json,
            shard,
        } => {
            let shard = input::shard(&shard)?;
            let part = input::partition(input::open(&input)?, &grid)?;
            with_threads(threads, || stats::run(&part, &select, shard, scaled, json))?
        }
        Command::Fragment {
            input,
            grid,
            select,
            out,
            format,
            threads,
            resume,
            quiet,
            shard,
        } => {
            let shard = input::shard(&shard)?;
            let part = input::partition(input::open(&input)?, &grid)?;
            with_threads(threads, || {
                fragment::run(&part, &select, &out, &format, resume, quiet, shard)
            })?
        }
        Command::Merge { dir, json } => {
            let zarr = dir.join("zarr.json").is_file() || dir.join(".zarray").is_file();
            if zarr && !dir.join(impart::fragment::MANIFEST).exists() {
                stitch::merge(&dir, json)
            } else {
                fragment::merge(&dir, json)
            }
        }
        Command::Stitch {
            input,
            grid,
            stitch,
        } => {
            let part = input::partition(input::open(&input)?, &grid)?;
            with_threads(stitch.threads, || stitch::run(&part, &stitch))?
        }
        Command::Preview {
            input,
            grid,
            preview,
        } => preview::run(&input, &grid, &preview),
        Command::Cache { cache_dir, action } => {
            let cache = match cache_dir {
                Some(dir) => impart::DecodeCache::new(dir),
                None => impart::DecodeCache::in_temp_dir(),
            };
            match action {
                CacheAction::List { json } => cache::list(&cache, json),
                CacheAction::Clean { older_than, json } => cache::clean(&cache, older_than, json),
            }
        }
        Command::Demo {
            size,
            dir,
            cell,
            stride,
        } => demo::run(size, dir.as_deref(), cell, stride),
    }
}

/// Runs `f` on a pool of `threads` workers (`--threads`), or on rayon's
/// global pool (one per core) when not given.
fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(Error::InvalidArgument {
            what: "--threads",
            detail: "must be at least 1".into(),
        }),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::InvalidArgument {
                    what: "--threads",
                    detail: e.to_string(),
                })?;
            Ok(pool.install(f))
        }
    }
}
