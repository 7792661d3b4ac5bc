#!/usr/bin/env python3
"""Fetch Zarr data that no one here wrote, for tests/zarr_real.rs.

Usage::

    python3 data-scripts/fetch_zarr_real.py [OUT_DIR]     # default target/zarr-real
    IMPART_ZARR_REAL_DIR=OUT_DIR cargo test --features zarr --test zarr_real

Needs the pinned packages of ``data-scripts/requirements-zarr.txt`` (zarr
3.1, numcodecs, NumPy, nibabel) in the interpreter running it, plus ``pip``
and, for the Colin27 template, ``apt-get`` and ``dpkg-deb``. Two sources:

1. **A real volume converted to Zarr by zarr-python.** The Colin27 template
   ``ch2better.nii.gz`` (301 x 370 x 316, uint8) of Debian's
   ``mricron-data`` package (``apt-get download`` + ``dpkg-deb -x``; needs
   ``apt-get update`` to have run once). If that cannot be had, the
   ``anatomical.nii`` test file shipped in the installed nibabel package is
   used instead (in ``nibabel_anatomical/``, chunks and cells scaled down to
   its 33 x 41 x 25 voxels). nibabel reads it; zarr-python writes it three
   ways:

   - ``colin27/v3_zstd``: Zarr v3, zarr-python's default codec (zstd), chunks
     64 x 64 x 64;
   - ``colin27/v3_sharded``: Zarr v3, shards of 128^3 made of 32 x 48 x 40
     inner chunks (partial shards and inner chunks at the edges), blosc;
   - ``colin27/v2_blosc_f``: Zarr v2, Fortran order, blosc/zstd, chunks
     50 x 60 x 70, ``/`` dimension separator.

   For every cell of a stride-0.5 grid of 64^3 cells the region and the
   checksum of its voxels are recorded, as zarr-python's slicing of the v3
   array gives them (the other two must read equal in full, which is
   checked here).

2. **The Zarr v2 fixture collection of zarr-python 2.18** (``fixture/`` in the
   sdist of ``zarr==2.18.7`` on PyPI, ``pip download --no-binary``): 173
   arrays in every v2 dtype zarr 2 wrote (``|i1`` … ``<f8``, ``<f2``,
   ``|b1``, ``|S1``, ``<U4``), compressors none, zlib, bz2 and blosc (lz4 and
   zstd inside, three shuffles), C and F order, both dimension separators.
   For each: what impart must do (``"read"``: a numeric dtype with a codec
   that zarrs enables by default; ``"refuse"``: a dtype impart does not
   read; ``"either"``: a numeric dtype under a codec zarrs has only behind
   an optional feature, zlib or bz2, so a clear error is as good as a read)
   and, when zarr-python reads it, the checksums of the whole array and of
   every cell of a stride-0.5 grid over its first two axes (cells of half
   the extent).

A source that cannot be had (no network, no apt, a version gone) is reported
and skipped; the script still exits 0 if any source worked. It exits 1 when
nothing could be had. Running it again reuses what is there (delete
``OUT_DIR`` to start over). ``OUT_DIR/expected.json``::

    {"format": 1, "generator", "zarr", "numpy", "checksum",
     "volumes": [{"name", "source", "path" (relative to OUT_DIR), "shape",
                  "dtype", "zarr_format", "chunks", "shards", "cell", "stride",
                  "grid_shape", "step", "complete": true,
                  "full": <content>, "cells": [{"index", <content>}]}],
     "zarr218": {"root" (the fixture directory, relative to OUT_DIR),
                 "arrays": [{"path" (relative to root), "zarr_dtype",
                             "compressor", "order", "separator", "shape",
                             "chunks", "expect", "why", "dtype" (impart's
                             name, when numeric), "zarr_python_error"
                             (when zarr-python itself cannot read it),
                             "full", "cell", "stride", "grid_shape", "step",
                             "cells"}]}}

with ``<content>`` as in ``make_raw_fixtures.py`` (region, sum, abs_sum,
min, max, first, last, checksum), without the SHA-256, and with NaN and
infinities written as the strings "NaN", "inf", "-inf".
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_raw_fixtures import axis_count, axis_span, content as raw_content  # noqa: E402

import numcodecs  # noqa: E402
import zarr  # noqa: E402
from zarr.codecs import BloscCodec, ZstdCodec  # noqa: E402

FORMAT = 1
DEBIAN = ("mricron-data", "1.2.20211006+dfsg-4", "usr/share/mricron/templates/ch2better.nii.gz")
ZARR2 = "zarr==2.18.7"
RUST_NAME = {"u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32", "i4": "i32",
             "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64"}
# v2 compressors that zarrs 0.23 decodes with its default features
DEFAULT_CODECS = {None, "blosc", "gzip", "zstd", "crc32c"}
REAL_CELL = 64

warnings.filterwarnings("ignore", module="zarr")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def content(region: np.ndarray, start) -> dict:
    """make_raw_fixtures' content of an already sliced region, no SHA-256.

    JSON has no NaN or infinities (some zarr 2.18 fixtures hold NaN): those
    numbers are written as the strings "NaN", "inf" and "-inf"."""
    c = raw_content(region, [0] * region.ndim, list(region.shape))
    c["start"] = [int(s) for s in start]
    del c["sha256"]
    for k, v in c.items():
        if isinstance(v, float) and not math.isfinite(v):
            c[k] = "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return c


def grid(shape, cell, stride):
    steps = [c * stride for c in cell]
    gs = [axis_count(d, c, st) for d, c, st in zip(shape, cell, steps)]
    return steps, gs


def cell_regions(shape, cell, stride):
    """(index, start, extent) of every cell, C order; axes past len(cell) whole."""
    steps, gs = grid(shape[:len(cell)], cell, stride)
    for index in itertools.product(*[range(n) for n in gs]):
        start, ext = [], []
        for i, d, c, st in zip(index, shape, cell, steps):
            s, n = axis_span(d, c, st, i, i + 1)
            start.append(s)
            ext.append(n)
        for d in shape[len(cell):]:
            start.append(0)
            ext.append(d)
        yield list(index), start, ext


# --------------------------------------------------------------------------
# 1. a real volume


def fetch_colin27(work: str):
    """(path, source, directory tag) of a real NIfTI volume, or None."""
    pkg, version, inner = DEBIAN
    dest = os.path.join(work, "debian")
    target = os.path.join(dest, inner)
    if os.path.exists(target):
        return target, f"{pkg} {version} (Debian): {os.path.basename(inner)}", "colin27"
    os.makedirs(dest, exist_ok=True)
    if shutil.which("apt-get") and shutil.which("dpkg-deb"):
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)   # apt's sandbox user must be able to write there
            r = run(["apt-get", "download", f"{pkg}={version}"], cwd=tmp)
            debs = glob.glob(os.path.join(tmp, "*.deb"))
            if r.returncode == 0 and debs:
                x = run(["dpkg-deb", "-x", debs[0], dest])
                if x.returncode == 0 and os.path.exists(target):
                    return target, f"{pkg} {version} (Debian): {os.path.basename(inner)}", "colin27"
                log(f"colin27: dpkg-deb -x failed:\n{x.stdout.strip()}")
            else:
                log(f"colin27: UNAVAILABLE: apt-get download {pkg}={version} failed "
                    f"(run apt-get update once?):\n{r.stdout.strip()}")
    else:
        log("colin27: UNAVAILABLE: no apt-get/dpkg-deb on this machine")
    try:
        import nibabel
        f = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
        if os.path.exists(f):
            log(f"colin27: using nibabel {nibabel.__version__}'s tests/data/anatomical.nii instead")
            return (f, f"nibabel {nibabel.__version__}: tests/data/anatomical.nii",
                    "nibabel_anatomical")
    except ImportError:
        pass
    return None


def real_volumes(out: str) -> list[dict]:
    import nibabel

    got = fetch_colin27(os.path.join(out, "download"))
    if got is None:
        return []
    src, source, tag = got
    img = nibabel.load(src)
    data = np.asarray(img.dataobj)           # stored values, no scaling
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.dtype.str[1:] not in RUST_NAME:
        data = data.astype("f4")
    log(f"real volume: {source}, shape {data.shape}, {data.dtype}")
    # Chunks and cells scale down for a small fallback volume (so that it
    # still has several chunks and cells); for Colin27 they are as documented.
    def fit(sizes, parts):
        return tuple(min(c, max(1, math.ceil(d / parts))) for c, d in zip(sizes, data.shape))

    inner = fit((32, 48, 40), 6)
    layouts = [
        # (name, zarr_format, create_array kwargs)
        ("v3_zstd", 3, dict(chunks=fit((64, 64, 64), 4), compressors=ZstdCodec(level=3))),
        ("v3_sharded", 3, dict(chunks=inner, shards=tuple(i * k for i, k in zip(inner, (4, 3, 3))),
                               compressors=BloscCodec(cname="lz4", clevel=5,
                                                      shuffle="bitshuffle"))),
        ("v2_blosc_f", 2, dict(chunks=fit((50, 60, 70), 3), order="F",
                               compressors=numcodecs.Blosc(cname="zstd", clevel=3,
                                                           shuffle=numcodecs.Blosc.SHUFFLE),
                               chunk_key_encoding={"name": "v2", "separator": "/"})),
    ]
    stamp = os.path.join(out, tag, ".complete")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() != source:
                shutil.rmtree(os.path.join(out, tag))
    arrays = {}
    for name, fmt, kwargs in layouts:
        path = os.path.join(out, tag, name)
        if not os.path.exists(stamp):
            t = time.time()
            z = zarr.create_array(path, shape=data.shape, dtype=data.dtype, zarr_format=fmt,
                                  overwrite=True, **kwargs)
            z[...] = data
            log(f"  wrote {tag}/{name} in {time.time() - t:.1f} s")
        arrays[name] = zarr.open_array(path, mode="r")
    with open(stamp, "w") as f:
        f.write(source)

    # Every layout reads back equal to the volume (zarr-python's reading).
    for name, z in arrays.items():
        assert np.array_equal(z[...], data), f"zarr-python reads {tag}/{name} differently"

    # Expected values: zarr-python's slicing of the v3 array, cell by cell.
    z = arrays["v3_zstd"]
    cell = list(fit((REAL_CELL,) * 3, 3))
    stride = 0.5
    steps, gs = grid(data.shape, cell, stride)
    t = time.time()
    cells = []
    for index, start, ext in cell_regions(data.shape, cell, stride):
        region = z[tuple(slice(s, s + n) for s, n in zip(start, ext))]
        cells.append({"index": index, **content(region, start)})
    log(f"  {len(cells)} cells sliced by zarr-python in {time.time() - t:.1f} s")
    full = content(data, [0] * data.ndim)
    vols = []
    for name, z in arrays.items():
        meta = z.metadata
        shards = None
        chunks = list(z.chunks)
        if getattr(z, "shards", None):
            shards = list(z.shards)
        vols.append({
            "name": f"{tag}/{name}", "source": source, "path": f"{tag}/{name}",
            "shape": list(data.shape), "dtype": RUST_NAME[data.dtype.str[1:]],
            "zarr_format": meta.zarr_format, "chunks": chunks, "shards": shards,
            "cell": cell, "stride": stride, "grid_shape": gs, "step": steps, "complete": True,
            "full": full, "cells": cells,
        })
    return vols


# --------------------------------------------------------------------------
# 2. the zarr-python 2.18 fixture collection


def fetch_zarr218(out: str):
    dest = os.path.join(out, ZARR2.replace("==", "-"))
    root = os.path.join(dest, "fixture")
    stamp = os.path.join(dest, ".fetched")
    if os.path.exists(stamp):
        return root
    with tempfile.TemporaryDirectory() as tmp:
        r = run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--no-binary=:all:", "-d", tmp, ZARR2])
        sdists = glob.glob(os.path.join(tmp, "*.tar.gz"))
        if r.returncode != 0 or not sdists:
            log(f"zarr 2.18: UNAVAILABLE: pip download {ZARR2} failed:\n{r.stdout.strip()}")
            return None
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        n = 0
        with tarfile.open(sdists[0]) as tar:
            for m in tar.getmembers():
                parts = m.name.split("/")
                if len(parts) < 3 or parts[1] != "fixture" or not m.isfile():
                    continue
                rel = os.path.join(*parts[2:])
                if rel.startswith("..") or os.path.isabs(rel):
                    continue
                target = os.path.join(root, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                n += 1
    if n == 0:
        log(f"zarr 2.18: no fixture/ directory in the sdist of {ZARR2}")
        return None
    with open(stamp, "w") as f:
        f.write(ZARR2)
    log(f"zarr 2.18: extracted {n} files of fixture/ from the sdist of {ZARR2}")
    return root


def zarr218_arrays(out: str):
    root = fetch_zarr218(out)
    if root is None:
        return None
    entries = []
    for d, _, files in sorted(os.walk(root)):
        if ".zarray" not in files:
            continue
        rel = os.path.relpath(d, root).replace(os.sep, "/")
        with open(os.path.join(d, ".zarray")) as f:
            meta = json.load(f)
        comp = meta.get("compressor")
        comp_id = comp["id"] if comp else None
        zdt = meta["dtype"]
        try:
            np_dt = np.dtype(zdt) if isinstance(zdt, str) else None
        except TypeError:
            np_dt = None
        numeric = np_dt is not None and np_dt.str[1:] in RUST_NAME
        if not numeric:
            expect, why = "refuse", f"dtype {zdt} is not one impart reads"
        elif comp_id in DEFAULT_CODECS and not meta.get("filters"):
            expect, why = "read", "numeric dtype, default codec"
        else:
            expect, why = "either", (f"codec {comp_id} is behind an optional zarrs feature; "
                                     "reading or a clear error are both right")
        entry = {
            "path": rel, "zarr_dtype": zdt,
            "compressor": (comp_id + (f"({comp['cname']},shuffle={comp['shuffle']})"
                                      if comp_id == "blosc" else "")) if comp else None,
            "order": meta["order"], "separator": meta.get("dimension_separator"),
            "shape": meta["shape"], "chunks": meta["chunks"], "expect": expect, "why": why,
        }
        if numeric:
            entry["dtype"] = RUST_NAME[np_dt.str[1:]]
        try:
            z = zarr.open_array(d, mode="r", zarr_format=2)
            full = z[...]
        except Exception as e:  # zarr-python itself cannot read it
            entry["zarr_python_error"] = f"{type(e).__name__}: {e}"
            entries.append(entry)
            continue
        if not numeric:
            entries.append(entry)
            continue
        shape = list(full.shape)
        cell = [max(1, math.ceil(n / 2)) for n in shape[:2]]
        stride = 0.5
        steps, gs = grid(shape[:2], cell, stride)
        cells = []
        for index, start, ext in cell_regions(shape, cell, stride):
            region = z[tuple(slice(s, s + n) for s, n in zip(start, ext))]
            cells.append({"index": index, **content(region, start)})
        entry.update({"full": content(full, [0] * full.ndim), "cell": cell, "stride": stride,
                      "grid_shape": gs, "step": steps, "complete": True, "cells": cells})
        entries.append(entry)
    counts = {k: sum(e["expect"] == k for e in entries) for k in ("read", "either", "refuse")}
    log(f"zarr 2.18: {len(entries)} arrays: {counts}")
    return {"root": os.path.relpath(root, out).replace(os.sep, "/"), "arrays": entries}


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "target", "zarr-real")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    volumes = real_volumes(args.out)
    z218 = zarr218_arrays(args.out)
    if not volumes and z218 is None:
        log("nothing could be fetched")
        return 1
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/fetch_zarr_real.py",
        "zarr": zarr.__version__,
        "numpy": np.__version__,
        "checksum": "sum over k of splitmix64_finalizer(bits(f64[k]) + (k + 1) * "
                    "0x9E3779B97F4A7C15) mod 2^64, values as <f8 in C order "
                    "(see make_raw_fixtures.py)",
        "volumes": volumes,
        "zarr218": z218,
    }
    path = os.path.join(args.out, "expected.json")
    with open(path + ".tmp", "w") as f:
        json.dump(manifest, f, separators=(",", ":"), allow_nan=False)
    os.replace(path + ".tmp", path)
    log(f"wrote {path}: {len(volumes)} converted volumes, "
        f"{len(z218['arrays']) if z218 else 0} zarr 2.18 arrays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
