#!/usr/bin/env python3
"""What nibabel reads in NIfTI files: the expected values impart must match.

Usage::

    python3 data-scripts/nifti_crosscheck.py DIR [--max-cells N] [--max-mb MB]

Finds every NIfTI file under ``DIR`` (``.nii``, ``.nii.gz``, ``.hdr``,
``.hdr.gz``; an ``.img`` is reached through its header), reads each with
nibabel, and writes ``DIR/expected.json`` (the format below) for
``tests/nifti_real.rs``. ``data-scripts/fetch_nifti_real.py`` fills ``DIR``
with real files. ``data-scripts/make_nifti_fixtures.py`` imports
:func:`describe` from here, so the committed fixtures and the real files are
described by one piece of code.

One entry per file::

    {"name", "file" (path relative to DIR, the path impart opens),
     "expect": "ok" | "error",
     "why" (for "error": what nibabel or the format says),
     # for "ok":
     "version" (1 | 2), "datatype" (NIfTI code), "vox_offset", "sform_code",
     "qform_code", "pixdim" (8 numbers), "byte_order" ("little" | "big"),
     "compressed" (bool: the voxels are in a gzip stream),
     "shape" (nibabel's img.shape: x, y, z, t, ...), "dtype" (impart's name),
     "affine" (img.affine, 4 x 4; nibabel's header.get_best_affine() after its
               load-time header fixes),
     "scaling" ([slope, inter] from get_slope_inter() of the header as stored,
                or null),
     "repaired" (only where nibabel repairs the header when it loads it: the
                 pixdim / sform_code / qform_code it uses instead of the
                 stored ones above),
     "cell" (extents of the partitioned leading axes; the others are carried
             whole), "stride" (0.5), "grid_shape",
     "cells": [{"index", "start", "shape",
                "stored" <digest of the stored values, as float64; only its
                          checksum, nonfinite, sum, abs_sum and negzero>,
                "scaled" <digest of img.get_fdata() (float64)>, or "same" when
                         that digest equals the stored one,
                "world_origin" (img.affine @ [i, j, k, 1] with (i, j, k) the
                                cell's start voxel, missing axes 0)}]}

A ``<digest>`` of the values of a cell, taken as float64 in C order of the
region (``np.ascontiguousarray(region).astype("<f8")``)::

    {"checksum"   (make_raw_fixtures.py's order-sensitive 64-bit checksum of
                   the IEEE-754 bits, 16 hex digits: equal values in equal
                   places, bit for bit),
     "nonfinite"  (number of NaN and infinite values),
     "sum", "abs_sum", "wsum" (sum of ((k mod 7) + 1) * v[k]), "min", "max"
                  (of the finite values; min/max null if there are none),
     "negzero"    (number of -0.0 values; only present when not 0)}

The sums let a test compare with a tolerance where the checksum is too strict
(scaled values of real files; see tests/nifti_real.rs).

Grids: the first min(3, ndim) axes are partitioned, with stride 0.5 and cell
extents chosen so that the grid has at most ``--max-cells`` cells (default
200) and cells do not tile the volume exactly where that can be avoided, so
border cells are clipped. Files larger than ``--max-mb`` MB uncompressed
(default 200) are listed with ``"expect": "skip"``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

import nibabel as nib
from nibabel.openers import ImageOpener

# nibabel logs the header problems it repairs at load; the entries say so
nib.imageglobals.logger.setLevel(40)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_raw_fixtures import axis_count, axis_span, checksum  # noqa: E402

FORMAT = 1
STRIDE = 0.5
SUPPORTED = {
    "u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32", "i4": "i32",
    "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64",
}
NIFTI_EXTS = (".nii", ".nii.gz", ".hdr", ".hdr.gz")


# --------------------------------------------------------------------------
# reading with nibabel


def load(path: str):
    """nibabel's image of `path` as plain NIfTI (not CIFTI or other subclasses)."""
    img = nib.load(path)
    if type(img) not in (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair, nib.Nifti2Pair):
        # e.g. Cifti2Image: read the same file as the NIfTI container it is
        version = raw_header_of(path)[1]
        single = not path.endswith((".hdr", ".hdr.gz", ".img", ".img.gz"))
        klass = {(1, True): nib.Nifti1Image, (2, True): nib.Nifti2Image,
                 (1, False): nib.Nifti1Pair, (2, False): nib.Nifti2Pair}[(version, single)]
        img = klass.from_filename(path)
    return img


def header_path(path: str) -> str:
    for img_ext, hdr_ext in ((".img.gz", ".hdr.gz"), (".img", ".hdr")):
        if path.endswith(img_ext):
            cand = path[: -len(img_ext)] + hdr_ext
            if os.path.exists(cand):
                return cand
            return path[: -len(img_ext)] + ".hdr"
    return path


def raw_header_of(path: str):
    """The header as stored (nibabel's load-time fixes not applied)."""
    hpath = header_path(path)
    with ImageOpener(hpath) as f:
        head = f.read(4)
    size_le = int.from_bytes(head, "little")
    size_be = int.from_bytes(head, "big")
    version = 2 if 540 in (size_le, size_be) else 1
    klass = nib.Nifti2Header if version == 2 else nib.Nifti1Header
    with ImageOpener(hpath) as f:
        hdr = klass.from_fileobj(f, check=False)
    return hdr, version


# --------------------------------------------------------------------------
# grids and digests


def choose_cell(shape, max_cells: int):
    """Cell extents for the first min(3, ndim) axes: <= max_cells cells."""
    k = min(3, len(shape))
    dims = list(shape[:k])
    per_axis = max(1, int(math.floor(max_cells ** (1.0 / k))))
    cell = []
    for d in dims:
        if d <= 2:
            cell.append(d)
            continue
        # the smallest cell with at most per_axis cells, preferring one that
        # does not tile the axis exactly (so the last cell is clipped)
        best = d
        for c in range(1, d + 1):
            if axis_count(d, c, c * STRIDE) <= per_axis:
                best = c
                break
        for c in range(best, min(d, best + 4) + 1):
            n = axis_count(d, c, c * STRIDE)
            if n <= per_axis and axis_span(d, c, c * STRIDE, n - 1, n)[1] < c:
                best = c
                break
        cell.append(best)
    assert math.prod(axis_count(d, c, c * STRIDE) for d, c in zip(dims, cell)) <= max_cells
    return cell


def num(x):
    x = float(x)
    if not math.isfinite(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 and not (
        x == 0 and math.copysign(1, x) < 0) else x


def digest(region: np.ndarray) -> dict:
    v = np.ascontiguousarray(region).astype("<f8").ravel()
    fin = np.isfinite(v)
    f = v[fin]
    w = (np.arange(v.size) % 7 + 1).astype(np.float64)[fin]
    out = {
        "checksum": checksum(v),
        "nonfinite": int(v.size - f.size),
        "sum": num(np.sum(f)),
        "abs_sum": num(np.sum(np.abs(f))),
        "wsum": num(np.sum(w * f)),
        "min": num(np.min(f)) if f.size else None,
        "max": num(np.max(f)) if f.size else None,
    }
    negzero = int(np.count_nonzero(np.signbit(v) & (v == 0)))
    if negzero:
        out["negzero"] = negzero
    return out


def world_origin(affine: np.ndarray, start) -> list:
    """affine @ [i, j, k, 1], summed left to right in Python floats: a BLAS
    matrix-vector product may fuse or reorder the sums by CPU."""
    ijk = [float(start[a]) if a < len(start) else 0.0 for a in range(3)] + [1.0]
    out = []
    for r in range(3):
        acc = 0.0
        for c in range(4):
            acc += float(affine[r, c]) * ijk[c]
        out.append(acc)
    return out


# --------------------------------------------------------------------------
# one file


def describe(path: str, name: str, rel: str, cell=None, max_cells: int = 200,
             max_mb: float = 200.0) -> dict:
    """The expected-values entry of one file (see the module docstring)."""
    entry = {"name": name, "file": rel}
    try:
        hdr, version = raw_header_of(path)
        img = load(path)
        dt = img.get_data_dtype()
    except Exception as e:  # nibabel cannot read it: impart must refuse it too
        return {**entry, "expect": "error", "why": f"nibabel: {type(e).__name__}: {e}"}
    magic = bytes(hdr["magic"])[:3]
    if magic not in (b"n+1", b"ni1", b"n+2", b"ni2"):
        return {**entry, "expect": "error",
                "why": f"magic {magic!r}: not a NIfTI header (Analyze 7.5?)"}
    code = dt.str[1:]
    if dt.fields is not None or code not in SUPPORTED:
        return {**entry, "expect": "error",
                "why": f"data type {dt} (NIfTI code {int(hdr['datatype'])}) is not supported"}
    nbytes = math.prod(img.shape) * dt.itemsize
    if nbytes > max_mb * 1e6:
        return {**entry, "expect": "skip",
                "why": f"{nbytes / 1e6:.0f} MB uncompressed (limit {max_mb:g} MB)"}
    try:
        stored = np.asanyarray(img.dataobj.get_unscaled())
        scaled = img.get_fdata(dtype=np.float64)
    except Exception as e:
        return {**entry, "expect": "error", "why": f"nibabel: {type(e).__name__}: {e}"}
    try:
        slope, inter = hdr.get_slope_inter()
        scaling = None if slope is None else [float(slope), float(inter)]
    except Exception as e:  # e.g. a valid slope with a NaN intercept
        return {**entry, "expect": "error", "why": f"nibabel: {type(e).__name__}: {e}"}
    shape = tuple(int(n) for n in img.shape)
    assert stored.shape == shape and scaled.shape == shape, path
    if cell is None:
        cell = choose_cell(shape, max_cells)
    cell = [int(c) for c in cell]
    k = len(cell)
    steps = [c * STRIDE for c in cell]
    grid_shape = [axis_count(d, c, st) for d, c, st in zip(shape, cell, steps)]
    affine = np.asarray(img.affine, dtype=np.float64)
    entry.update({
        "expect": "ok",
        "version": version,
        "datatype": int(hdr["datatype"]),
        "vox_offset": num(hdr["vox_offset"]),
        "sform_code": int(hdr["sform_code"]),
        "qform_code": int(hdr["qform_code"]),
        "pixdim": [float(x) for x in hdr["pixdim"]],
        "byte_order": "big" if hdr.endianness == ">" else "little",
        "compressed": img.file_map["image"].filename.endswith(".gz"),
        "shape": list(shape),
        "dtype": SUPPORTED[code],
        "affine": [[float(x) for x in row] for row in affine],
        "scaling": scaling,
        "cell": cell,
        "stride": STRIDE,
        "grid_shape": grid_shape,
        "cells": [],
    })
    # header fields nibabel repaired when it loaded the file (qfac 0 -> 1,
    # pixdim 0 -> 1 and negative -> absolute, undefined xform codes -> 0)
    loaded = img.header
    repaired = {}
    if [float(x) for x in loaded["pixdim"]] != entry["pixdim"]:
        repaired["pixdim"] = [float(x) for x in loaded["pixdim"]]
    for key in ("sform_code", "qform_code"):
        if int(loaded[key]) != entry[key]:
            repaired[key] = int(loaded[key])
    if repaired:
        entry["repaired"] = repaired
        entry["cells"] = entry.pop("cells")
    for index in np.ndindex(*grid_shape):
        start, ext = [], []
        for i, d, c, st in zip(index, shape, cell, steps):
            s, n = axis_span(d, c, st, i, i + 1)
            start.append(s)
            ext.append(n)
        start += [0] * (len(shape) - k)
        ext += list(shape[k:])
        sl = tuple(slice(s, s + n) for s, n in zip(start, ext))
        dscaled = digest(scaled[sl])
        full = digest(stored[sl])
        dstored = {k: full[k] for k in ("checksum", "nonfinite", "sum", "abs_sum", "negzero")
                   if k in full}
        entry["cells"].append({
            "index": [int(i) for i in index],
            "start": start,
            "shape": ext,
            "stored": dstored,
            "scaled": "same" if dscaled == full else dscaled,
            "world_origin": world_origin(affine, start),
        })
    return entry


# --------------------------------------------------------------------------
# output


def dump(manifest: dict, list_key: str) -> str:
    """JSON with one entry header and one cell per line (diff-friendly)."""
    compact = dict(separators=(",", ":"))
    lines = ["{"]
    for key, value in manifest.items():
        if key != list_key:
            lines.append(f" {json.dumps(key)}:{json.dumps(value)},")
    lines.append(f' {json.dumps(list_key)}:[')
    items = manifest[list_key]
    for ei, entry in enumerate(items):
        end = "," if ei + 1 < len(items) else ""
        cells = entry.get("cells")
        if cells is None:
            lines.append("  " + json.dumps(entry, **compact) + end)
            continue
        head = {k: v for k, v in entry.items() if k != "cells"}
        lines.append("  {" + json.dumps(head, **compact)[1:-1] + ",")
        lines.append('   "cells":[')
        for ci, c in enumerate(cells):
            lines.append("    " + json.dumps(c, **compact) + ("," if ci + 1 < len(cells) else ""))
        lines.append("   ]")
        lines.append("  }" + end)
    lines.append(" ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == manifest
    return text


def find_files(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(NIFTI_EXTS):
                out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory of NIfTI files (fetch_nifti_real.py's output)")
    ap.add_argument("--max-cells", type=int, default=200)
    ap.add_argument("--max-mb", type=float, default=200.0)
    args = ap.parse_args(argv)
    files = find_files(args.dir)
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/nifti_crosscheck.py",
        "nibabel": nib.__version__,
        "numpy": np.__version__,
        "files": [],
    }
    for rel in files:
        entry = describe(os.path.join(args.dir, rel), rel, rel, max_cells=args.max_cells,
                         max_mb=args.max_mb)
        manifest["files"].append(entry)
        extra = ""
        if entry["expect"] == "ok":
            extra = f" {entry['dtype']} {entry['shape']}, {len(entry['cells'])} cells"
        else:
            extra = f" ({entry['why']})"
        print(f"{entry['expect']:>5}  {rel}{extra}", file=sys.stderr)
    out = os.path.join(args.dir, "expected.json")
    with open(out, "w", encoding="utf-8") as f:
        f.write(dump(manifest, "files"))
    print(f"wrote {out}: {len(files)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
