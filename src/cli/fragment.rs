//! `impart fragment`: every selected cell to its own file, with a progress
//! bar on a terminal and a summary line.

use std::path::Path;

use impart::fragment::{Format, FragmentEvent, FragmentOptions, ProgressHook};
use impart::{AnyVolume, Partition, Result, Shard};

use super::text::{human_bytes, progress_bar};

/// Writes every cell of `select` into `out` as `format`, resuming an
/// interrupted run when `resume`. The progress bar goes to stderr when it is
/// a terminal and `quiet` is not set; the summary line (cells, bytes,
/// seconds, GB/s) goes to stdout.
pub fn run(
    part: &Partition<AnyVolume>,
    select: &str,
    out: &Path,
    format: &str,
    resume: bool,
    quiet: bool,
    shard: Shard,
) -> Result<()> {
    let format: Format = format.parse()?;
    let bar = progress_bar(
        quiet,
        "{elapsed_precise} [{wide_bar}] {pos}/{len} cells, {msg} (eta {eta})",
    );
    let hook = {
        let bar = bar.clone();
        let bytes = std::sync::atomic::AtomicU64::new(0);
        ProgressHook::new(move |event| match *event {
            FragmentEvent::Started { total, skipped } => {
                bar.set_length(total as u64);
                bar.set_position(skipped as u64);
                bar.set_message(human_bytes(0));
            }
            FragmentEvent::CellWritten { bytes: n, .. } => {
                let sum = bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                bar.set_message(human_bytes(sum));
                bar.inc(1);
            }
            _ => {}
        })
    };
    // a GeoTIFF's cells carry their own georeference (rows and columns
    // are the first two axes of a page)
    let geo = match part.volume() {
        AnyVolume::Tiff(v) if v.axes().starts_with("YX") => v.geo().cloned(),
        _ => None,
    };
    let report = FragmentOptions::new(out)
        .georeference(geo)
        .format(format)
        .resume(resume)
        .shard(shard)
        .progress(Some(hook))
        .fragment(part, select);
    bar.finish_and_clear();
    let report = report?;
    let gbps = report.bytes_written as f64 / report.seconds.max(1e-12) / 1e9;
    let skipped = if report.skipped > 0 {
        format!(", {} already done", report.skipped)
    } else {
        String::new()
    };
    let of = if shard.count() > 1 {
        format!(" of shard {shard}")
    } else {
        String::new()
    };
    println!(
        "{} cells{of} ({} written{skipped}) as {format} to {}: {} in {:.3} s, {:.2} GB/s on {} threads",
        report.cells,
        report.written,
        out.display(),
        human_bytes(report.bytes_written),
        report.seconds,
        gbps,
        rayon::current_num_threads(),
    );
    Ok(())
}

/// `impart merge DIR`: the shards' partial manifests into `manifest.jsonl`.
pub fn merge(dir: &Path, json: bool) -> Result<()> {
    let report = impart::fragment::merge(dir)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "cells": report.cells,
                "shards": report.shards,
                "manifest": report.manifest,
            })
        );
    } else {
        println!(
            "{} cells of {} shards merged into {}",
            report.cells,
            report.shards,
            report.manifest.display()
        );
    }
    Ok(())
}
