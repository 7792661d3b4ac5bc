//! `impart merge`: the partial manifests of a sharded fragmentation into
//! the one manifest a single run writes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{GRID, MANIFEST};
use crate::error::{Error, Result};
use crate::io::{is_temp_name, remove_if_exists, write_atomic};
use crate::partition::Shard;

/// The partial manifest a shard writes instead of `manifest.jsonl`:
/// `manifest.shard-K-of-N.jsonl`. Its first line describes the shard
/// (`shard`, `shards`, `selection`: the selected box of cells as
/// `[start, end)` per grid axis, `cells`: how many it wrote, `grid`: the
/// grid it split, as `grid.json` holds it); each later
/// line is the manifest line of one of its cells, in C order.
pub fn shard_manifest_name(shard: Shard) -> String {
    format!(
        "manifest.shard-{}-of-{}.jsonl",
        shard.index(),
        shard.count()
    )
}

/// The shard a file name is the partial manifest of.
pub(super) fn shard_of_name(name: &str) -> Option<Shard> {
    let rest = name
        .strip_prefix("manifest.shard-")?
        .strip_suffix(".jsonl")?;
    let (k, n) = rest.split_once("-of-")?;
    Shard::new(k.parse().ok()?, n.parse().ok()?).ok()
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergeReport {
    /// Lines of the manifest written (every selected cell).
    pub cells: usize,
    /// Shards merged.
    pub shards: usize,
    /// The manifest written.
    pub manifest: PathBuf,
}

/// Merges the partial manifests of the shards of a fragmentation in `dir`
/// (see [`FragmentOptions::shard`](super::FragmentOptions::shard)):
/// checks that every shard has finished (its partial manifest is there),
/// that they split the same selection, and that every selected cell is
/// listed exactly once and its file is there; then writes `manifest.jsonl`
/// with the cells in C order (the bytes a single run writes), and removes
/// the partial manifests and any temporary file a killed worker left.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming `dir` if there is no partial
/// manifest, the shards disagree (their count or selection), a shard has
/// not finished, a cell is listed twice or missing, or a cell's file is
/// not there; [`Error::InvalidHeader`] naming a partial manifest that does
/// not parse; [`Error::Io`] naming the directory or a file that cannot be
/// read, written or removed.
pub fn merge(dir: impl AsRef<Path>) -> Result<MergeReport> {
    let dir = dir.as_ref();
    let refuse = |detail: String| Error::InvalidArgument {
        what: "merge",
        detail: format!("{}: {detail}", dir.display()),
    };
    let mut parts: BTreeMap<usize, (Shard, PathBuf)> = BTreeMap::new();
    let mut temps = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) {
            temps.push(entry.path());
        } else if let Some(shard) = shard_of_name(&name) {
            if let Some((other, _)) = parts.insert(shard.index(), (shard, entry.path())) {
                return Err(refuse(format!(
                    "partial manifests of shard {} of both {} and {} shards",
                    shard.index(),
                    other.count(),
                    shard.count()
                )));
            }
        }
    }
    let Some((first, _)) = parts.values().next().cloned() else {
        let merged = if dir.join(MANIFEST).is_file() {
            format!(" ({MANIFEST} is there: merged already, or a single run's)")
        } else {
            String::new()
        };
        return Err(refuse(format!(
            "no partial manifest (manifest.shard-K-of-N.jsonl): nothing to merge{merged}"
        )));
    };
    let n = first.count();
    if let Some((s, _)) = parts.values().find(|(s, _)| s.count() != n) {
        return Err(refuse(format!(
            "partial manifests of {n} and of {} shards",
            s.count()
        )));
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !parts.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!(
            "shard {} of {n} has not finished (no {})",
            missing.join(", "),
            shard_manifest_name(Shard::new(missing[0].parse().unwrap_or(0), n)?)
        )));
    }
    let grid_path = dir.join(GRID);
    let grid: Value = match fs::read_to_string(&grid_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::InvalidHeader {
            path: grid_path.clone(),
            detail: e.to_string(),
        })?,
        Err(_) => return Err(refuse(format!("no {GRID}"))),
    };
    let mut selection: Option<Vec<(usize, usize)>> = None;
    // every cell's line, by its grid index (C order)
    let mut lines: BTreeMap<Vec<usize>, String> = BTreeMap::new();
    for (shard, path) in parts.values() {
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |detail: String| Error::InvalidHeader {
            path: path.clone(),
            detail,
        };
        let mut rows = text.lines();
        let header: Value = rows
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| bad("no header line".into()))?;
        let ranges: Vec<(usize, usize)> = header["selection"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|r| Some((r[0].as_u64()? as usize, r[1].as_u64()? as usize)))
                    .collect()
            })
            .ok_or_else(|| bad("no selection in the header".into()))?;
        match &selection {
            None => selection = Some(ranges.clone()),
            Some(s) if *s != ranges => {
                return Err(refuse(format!(
                    "shards split different selections ({s:?} and {ranges:?} in {})",
                    path.display()
                )))
            }
            Some(_) => {}
        }
        if header["shard"].as_u64() != Some(shard.index() as u64)
            || header["shards"].as_u64() != Some(shard.count() as u64)
        {
            return Err(bad(format!(
                "its header names shard {}/{}, its name {shard}",
                header["shard"], header["shards"]
            )));
        }
        // every shard split the grid that grid.json describes
        if header["grid"] != grid {
            return Err(refuse(format!(
                "shard {shard} split another grid ({}) than {GRID} describes ({grid})",
                header["grid"]
            )));
        }
        let expected = header["cells"].as_u64();
        let mut count = 0u64;
        for (i, row) in rows.enumerate() {
            let line: Value =
                serde_json::from_str(row).map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
            let index: Vec<usize> = line["index"]
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_u64().map(|v| v as usize)).collect())
                .ok_or_else(|| bad(format!("line {}: no index", i + 2)))?;
            let inside = index.len() == ranges.len()
                && index
                    .iter()
                    .zip(&ranges)
                    .all(|(&i, &(a, b))| a <= i && i < b);
            if !inside {
                return Err(bad(format!(
                    "line {}: cell {index:?} is not in the selection",
                    i + 2
                )));
            }
            let file = line["file"]
                .as_str()
                .ok_or_else(|| bad(format!("line {}: no file", i + 2)))?;
            if fs::symlink_metadata(dir.join(file)).is_err() {
                return Err(refuse(format!(
                    "cell {index:?}'s file {file} is not there (shard {shard}: resume it)"
                )));
            }
            if lines.insert(index.clone(), row.to_string()).is_some() {
                return Err(refuse(format!("cell {index:?} is listed by two shards")));
            }
            count += 1;
        }
        if expected != Some(count) {
            return Err(bad(format!(
                "{count} cells listed, the header says {}",
                header["cells"]
            )));
        }
    }
    let selection = selection.unwrap_or_default();
    let selected = selection
        .iter()
        .try_fold(1usize, |n, &(a, b)| n.checked_mul(b.saturating_sub(a)))
        .ok_or_else(|| refuse(format!("a selection of {selection:?} cells is too large")))?;
    if lines.len() != selected {
        return Err(refuse(format!(
            "{} of {selected} selected cells listed",
            lines.len()
        )));
    }
    let manifest = dir.join(MANIFEST);
    write_atomic(&manifest, false, |w, path| {
        for line in lines.values() {
            writeln!(w, "{line}").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })?;
    for (_, path) in parts.values() {
        remove_if_exists(path)?;
    }
    for t in temps {
        remove_if_exists(&t)?;
    }
    Ok(MergeReport {
        cells: lines.len(),
        shards: n,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_manifest_names_round_trip() {
        let s = Shard::new(3, 8).unwrap();
        assert_eq!(shard_manifest_name(s), "manifest.shard-3-of-8.jsonl");
        assert_eq!(shard_of_name(&shard_manifest_name(s)), Some(s));
        assert_eq!(shard_of_name("manifest.jsonl"), None);
        assert_eq!(shard_of_name("manifest.shard-8-of-8.jsonl"), None);
    }
}
