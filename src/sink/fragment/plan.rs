//! What a fragmentation run knows: names, format checks, resume, the
//! manifest.

use std::fs;
use std::io::Write;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ndarray_npy::WritableElement;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::encode::{image_layout, npy_complete};
use super::{Format, FragmentEvent, FragmentOptions, GRID, MANIFEST};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::format::nifti::{nifti_dims, NII_VOX_OFFSET};
use crate::grid::CellBox;
use crate::io::{is_temp_name, remove_if_exists, sync_dir, write_atomic};
use crate::partition::{Partition, Selected, Shard, ShardSplit};
use crate::sink::CellSink;
use crate::volume::{MemoryOrder, Volume};

/// Everything a run needs to name, check and write cells.
pub(super) struct Plan<'a, V> {
    pub(super) options: &'a FragmentOptions,
    pub(super) part: &'a Partition<V>,
    pub(super) cells: &'a CellBox,
    /// Digits per grid axis in file names.
    pub(super) widths: Vec<usize>,
    /// Memory order of `.npy` files (the volume's).
    pub(super) npy_order: MemoryOrder,
    /// The split of the selection when this run writes one shard of it.
    split: Option<ShardSplit>,
    /// The object store an `s3://` or `http(s)://` output directory is in:
    /// every file a `PUT` (no temporary names, none needed: an object
    /// appears whole or not at all), a Zarr cell's metadata put after its
    /// chunk.
    #[cfg(feature = "remote")]
    pub(super) remote: Option<std::sync::Arc<crate::volume::RemoteStore>>,
}

pub(super) fn invalid_format(format: Format, detail: String) -> Error {
    Error::InvalidArgument {
        what: "format",
        detail: format!("{format}: {detail}"),
    }
}

impl<'a, V: Volume> Plan<'a, V> {
    pub(super) fn new(
        options: &'a FragmentOptions,
        part: &'a Partition<V>,
        cells: &'a CellBox,
    ) -> Result<Self> {
        let widths = super::widths(part.grid().shape());
        let volume = part.volume();
        // F only when the volume's strides are F and not also C (a shape
        // with one non-trivial axis is both)
        let npy_order = match volume.layout() {
            Some(l)
                if l.strides() == MemoryOrder::F.strides(volume.shape()).as_slice()
                    && l.strides() != MemoryOrder::C.strides(volume.shape()).as_slice() =>
            {
                MemoryOrder::F
            }
            _ => MemoryOrder::C,
        };
        #[cfg(feature = "remote")]
        let remote = match options.out_dir.to_str() {
            Some(url) if crate::volume::is_remote(url) => {
                if options.format != Format::Zarr {
                    return Err(invalid_format(
                        options.format,
                        format!("{url}: an object store takes Zarr cells only (--format zarr)"),
                    ));
                }
                Some(std::sync::Arc::new(crate::volume::RemoteStore::open(
                    url,
                    &crate::volume::RemoteOptions::default(),
                )?))
            }
            _ => None,
        };
        let shard = options.shard;
        let split = if shard.count() > 1 {
            #[cfg(feature = "remote")]
            if remote.is_some() {
                return Err(Error::InvalidArgument {
                    what: "shard",
                    detail: format!(
                        "{}: sharded fragmentation writes to a local or shared file system (impart merge reads the directory); an object store takes a single run",
                        options.out_dir.display()
                    ),
                });
            }
            Some(part.shard_split(cells, shard.count())?)
        } else {
            None
        };
        let plan = Plan {
            options,
            part,
            cells,
            widths,
            npy_order,
            split,
            #[cfg(feature = "remote")]
            remote,
        };
        plan.check_format()?;
        Ok(plan)
    }

    pub(super) fn format(&self) -> Format {
        self.options.format
    }

    /// The shard this run writes.
    pub(super) fn shard(&self) -> Shard {
        self.options.shard
    }

    /// Whether the cell at C-order position `k` is this run's to write.
    pub(super) fn mine(&self, k: usize) -> bool {
        self.split
            .as_ref()
            .is_none_or(|s| s.owner(k) == self.shard().index())
    }

    /// The manifest this run writes: `manifest.jsonl`, or a shard's own.
    pub(super) fn manifest_name(&self) -> String {
        match self.split {
            Some(_) => super::shard_manifest_name(self.shard()),
            None => MANIFEST.to_string(),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.options.out_dir
    }

    pub(super) fn cell(&self, k: usize) -> Selected<'a, V> {
        self.part.nth_cell(self.cells, k)
    }

    /// Refuses, before anything is written, cells the format cannot hold.
    /// The first cell has the largest extents on every axis (later cells
    /// are only ever clipped), so checking it checks them all.
    pub(super) fn check_format(&self) -> Result<()> {
        let format = self.format();
        let dtype = self.part.volume().dtype();
        let shape = self.cell(0).shape();
        match format {
            Format::Npy | Format::Raw => Ok(()),
            Format::Nii => nifti_dims(&shape)
                .map(|_| ())
                .map_err(|d| invalid_format(Format::Nii, format!("{d} (write npy, raw or zarr)"))),
            Format::Png | Format::Tiff => {
                let built = match format {
                    Format::Tiff => cfg!(any(feature = "image", feature = "tiff")),
                    _ => cfg!(feature = "image"),
                };
                if !built {
                    return Err(invalid_format(
                        format,
                        "this build has no image support (feature `image`, or `tiff` for TIFF)"
                            .into(),
                    ));
                }
                image_layout(format, dtype, &shape, self.part.axes()).map(|_| ())
            }
            Format::Zarr => {
                if cfg!(feature = "zarr") {
                    Ok(())
                } else {
                    Err(invalid_format(
                        format,
                        "this build has no Zarr support (feature `zarr`)".into(),
                    ))
                }
            }
        }
    }

    /// The file name of the cell at `index`.
    pub(super) fn name(&self, index: &[usize]) -> String {
        super::named(&self.widths, index, self.format().extension())
    }

    /// Removes the manifest (it is rewritten last) and temporary files a
    /// killed run left behind, and writes `grid.json`; a resumed run into a
    /// directory whose `grid.json` describes another grid is refused
    /// before anything is touched.
    pub(super) fn clean(&self) -> Result<()> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return self.clean_remote(remote);
        }
        let dir = self.dir();
        let grid_path = dir.join(GRID);
        let grid = super::grid_json(self.part);
        if self.options.resume {
            if let Ok(text) = fs::read_to_string(&grid_path) {
                let old: Option<Value> = serde_json::from_str(&text).ok();
                if old.as_ref() != Some(&grid) {
                    return Err(Error::InvalidArgument {
                        what: "resume",
                        detail: format!(
                            "{} holds the cells of another grid ({}: {}); this run's is {grid}",
                            dir.display(),
                            GRID,
                            text.trim()
                        ),
                    });
                }
            }
        }
        remove_if_exists(&dir.join(MANIFEST))?;
        // a shard removes only what it writes: the other shards' workers
        // may be writing beside it
        let own: Option<std::collections::HashSet<String>> = self.split.as_ref().map(|_| {
            (0..self.cells.len())
                .filter(|&k| self.mine(k))
                .map(|k| self.name(&self.cell(k).index()))
                .collect()
        });
        if own.is_some() {
            remove_if_exists(&dir.join(self.manifest_name()))?;
        }
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale = match &own {
                // a single run: also the partial manifests of an earlier
                // sharded run, which a later merge must not take for this
                // run's cells
                None => is_temp_name(&name) || super::merge::shard_of_name(&name).is_some(),
                Some(own) => crate::io::temp_target(&name).is_some_and(|t| own.contains(t)),
            };
            if stale {
                remove_if_exists(&entry.path())?;
            }
        }
        write_atomic(&grid_path, self.options.sync, |w, path| {
            let text = format!("{grid}\n");
            w.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
        })?;
        Ok(())
    }

    /// [`clean`](Self::clean) in an object store: `grid.json` compared
    /// (resume) and put, the manifest deleted.
    #[cfg(feature = "remote")]
    fn clean_remote(&self, remote: &crate::volume::RemoteStore) -> Result<()> {
        use zarrs::storage::{StoreKey, WritableStorageTraits};
        let grid = super::grid_json(self.part);
        let key =
            |name: &str| StoreKey::new(name).map_err(|e| Error::write(remote.key_url(name), e));
        if self.options.resume {
            if let Some((bytes, _)) = remote.get_object(GRID)? {
                let old: Option<Value> = serde_json::from_slice(&bytes).ok();
                if old.as_ref() != Some(&grid) {
                    return Err(Error::InvalidArgument {
                        what: "resume",
                        detail: format!(
                            "{} holds the cells of another grid ({}: {}); this run's is {grid}",
                            remote.url(),
                            GRID,
                            String::from_utf8_lossy(&bytes).trim()
                        ),
                    });
                }
            }
        }
        remote
            .erase(&key(MANIFEST)?)
            .map_err(|e| Error::write(remote.key_url(MANIFEST), e))?;
        remote
            .set(&key(GRID)?, format!("{grid}\n").into_bytes().into())
            .map_err(|e| Error::write(remote.key_url(GRID), e))
    }

    /// Bytes of the cell's elements in the stored type.
    pub(super) fn data_bytes(&self, cell: &Selected<'_, V>) -> Option<u64> {
        cell.shape()
            .iter()
            .try_fold(self.part.volume().dtype().size() as u64, |a, &n| {
                a.checked_mul(n as u64)
            })
    }

    /// Whether the cell's final file is there and complete.
    pub(super) fn is_complete<T: Element + WritableElement>(&self, cell: &Selected<'_, V>) -> bool {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            // a Zarr cell's metadata is put after its chunk
            let key = format!("{}/zarr.json", self.name(&cell.index()));
            return matches!(remote.version_of(&key), Ok(Some(_)));
        }
        let path = self.dir().join(self.name(&cell.index()));
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let Some(data) = self.data_bytes(cell) else {
            return false;
        };
        match self.format() {
            Format::Raw => meta.is_file() && meta.len() == data,
            Format::Nii => meta.is_file() && meta.len() == NII_VOX_OFFSET as u64 + data,
            Format::Npy => {
                meta.is_file() && npy_complete::<T>(&path, &cell.shape(), data, meta.len())
            }
            Format::Png | Format::Tiff => meta.is_file() && meta.len() > 0,
            Format::Zarr => meta.is_dir() && path.join("zarr.json").is_file(),
        }
    }

    /// Materializes and writes one cell; returns the bytes written.
    fn manifest_line(&self, cell: &Selected<'_, V>) -> Value {
        let index = cell.index();
        let mut line = json!({
            "index": index,
            "start": cell.region().start(),
            "shape": cell.shape(),
            "file": self.name(&index),
            "dtype": self.part.volume().dtype().name(),
        });
        if self.format() == Format::Raw {
            line["order"] = json!("C");
            line["byte_order"] = json!("little");
        }
        if let Some(w) = cell.world_start() {
            line["world_origin"] = json!(w);
        }
        line
    }

    /// Writes the manifest atomically, one line per selected cell in C order.
    pub(super) fn write_manifest(&self) -> Result<()> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            use zarrs::storage::{StoreKey, WritableStorageTraits};
            let mut text = String::new();
            for k in 0..self.cells.len() {
                text.push_str(&self.manifest_line(&self.cell(k)).to_string());
                text.push('\n');
            }
            let url = remote.key_url(MANIFEST);
            let key = StoreKey::new(MANIFEST).map_err(|e| Error::write(&url, e))?;
            return remote
                .set(&key, text.into_bytes().into())
                .map_err(|e| Error::write(&url, e));
        }
        let header = self.split.as_ref().map(|split| {
            let shard = self.shard();
            json!({
                "shard": shard.index(),
                "shards": shard.count(),
                "selection": self.cells.ranges().iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
                "cells": split.part_len(shard.index()),
                "grid": super::grid_json(self.part),
            })
        });
        write_atomic(
            &self.dir().join(self.manifest_name()),
            self.options.sync,
            |w, path| {
                if let Some(header) = &header {
                    writeln!(w, "{header}").map_err(|e| Error::io(path, e))?;
                }
                for k in (0..self.cells.len()).filter(|&k| self.mine(k)) {
                    let line = self.manifest_line(&self.cell(k));
                    writeln!(w, "{line}").map_err(|e| Error::io(path, e))?;
                }
                Ok(())
            },
        )
        .map(|_| ())
    }
}

pub(super) fn join<T: std::fmt::Display>(v: &[T], sep: &str) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// The fragmentation of one run as a [`CellSink`]: which cells are still
/// to write (resume), each cell's file, progress, and the manifest last.
pub(super) struct CellFiles<'p, 'a, V, T> {
    plan: &'p Plan<'a, V>,
    skipped: AtomicUsize,
    done: AtomicUsize,
    /// Cells this run writes or skips (the selection, or a shard of it).
    mine: AtomicUsize,
    bytes: AtomicU64,
    _element: PhantomData<fn() -> T>,
}

impl<'p, 'a, V, T> CellFiles<'p, 'a, V, T> {
    pub(super) fn new(plan: &'p Plan<'a, V>) -> Self {
        CellFiles {
            plan,
            skipped: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            mine: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            _element: PhantomData,
        }
    }

    /// (written, skipped, bytes written).
    pub(super) fn totals(&self) -> (usize, usize, u64) {
        let skipped = self.skipped.load(Ordering::Relaxed);
        (
            self.mine.load(Ordering::Relaxed) - skipped,
            skipped,
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl<V: Volume, T: Element + WritableElement> CellSink<V> for CellFiles<'_, '_, V, T> {
    type Element = T;

    fn begin(&self, cells: &CellBox) -> Result<Vec<bool>> {
        let plan = self.plan;
        let total = cells.len();
        let mut visit: Vec<bool> = Vec::new();
        visit
            .try_reserve_exact(total)
            .map_err(|_| Error::TooManyCells {
                volume: plan.part.volume().name().to_string(),
                cells: total,
            })?;
        if plan.options.resume {
            visit.par_extend(
                (0..total)
                    .into_par_iter()
                    .map(|k| plan.mine(k) && !plan.is_complete::<T>(&plan.cell(k))),
            );
        } else {
            visit.par_extend((0..total).into_par_iter().map(|k| plan.mine(k)));
        }
        let mine = (0..total).filter(|&k| plan.mine(k)).count();
        self.mine.store(mine, Ordering::Relaxed);
        let total = mine;
        let skipped = mine - visit.iter().filter(|&&v| v).count();
        self.skipped.store(skipped, Ordering::Relaxed);
        self.done.store(skipped, Ordering::Relaxed);
        if let Some(h) = plan.options.progress.as_ref() {
            h.call(&FragmentEvent::Started { total, skipped });
        }
        Ok(visit)
    }

    fn cell(&self, cell: &Selected<'_, V>, buf: &mut Vec<T>) -> Result<()> {
        let n = self.plan.write_cell(cell, buf)?;
        self.bytes.fetch_add(n, Ordering::Relaxed);
        let d = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(h) = self.plan.options.progress.as_ref() {
            h.call(&FragmentEvent::CellWritten {
                done: d,
                total: self.mine.load(Ordering::Relaxed),
                bytes: n,
            });
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.plan.write_manifest()?;
        #[cfg(feature = "remote")]
        if self.plan.remote.is_some() {
            return Ok(());
        }
        if self.plan.options.sync {
            sync_dir(self.plan.dir())?;
        }
        Ok(())
    }
}
