#!/usr/bin/env python3
"""Write raw-volume fixtures with NumPy, and a manifest of what impart must read.

Usage::

    python3 data-scripts/make_raw_fixtures.py [OUT_DIR] [--large]

``OUT_DIR`` defaults to ``tests/data/raw`` (relative to the crate root). The
default set is small and committed; ``--large`` writes a bigger set (96 x 80 x
70 u16 and f32 volumes, a few MiB) that CI generates at test time into a
scratch directory and passes to the tests with ``IMPART_FIXTURES_DIR``. The
output is deterministic: running the script twice gives identical files, on
any x86-64 machine. Float values are built from integers (sign, mantissa
bits, binary exponent, ``np.ldexp``), never through ``power``/``exp``/``log``,
whose SIMD loops NumPy picks by CPU and which round differently under
AVX-512 and AVX2; sums are NumPy's pairwise sums of exact products, whose
order does not depend on the CPU. ``.ci/run`` runs every fixture script as
an AVX-512 and as an AVX2 machine (OpenBLAS kernel, NumPy dispatch, threads)
and diffs both outputs with the committed files.

Every volume is written by NumPy alone, never by the code under test:

- byte order through the dtype (``arr.astype(">u2")``);
- C order with ``arr.tobytes(order="C")``, Fortran order with
  ``arr.tobytes(order="F")`` (``np.asfortranarray(a).tofile`` would be wrong:
  ``tofile`` always writes C order);
- a header of ``offset`` filler bytes (0xA5) before the
  voxels, and in some files filler bytes after them.

The cases cover every dtype (u8 i8 u16 i16 u32 i32 u64 i64 f32 f64) in little
and big endian and in C and F order, offsets 0, 7 (misaligned for every type
wider than a byte), 16 and 352, 2-D, 3-D and 4-D shapes whose extents the
cells do not divide, cells larger than the volume, a carried trailing axis
(fewer cell extents than axes), and strides 0.5, 1.0, per-axis (0.3, 0.7, ...)
and (0.2, 0.1), whose steps are not what they seem in binary (3 * 0.2 =
0.6000000000000001, so cell 5 starts at ceil(3.0000000000000004) = 4, not 3).

Manifest ``cases.json``::

    {"format": 1, "numpy": "...", "checksum": "...",
     "cases": [{
        "name", "file", "shape", "dtype" (NumPy typestr, "<u2", "|u1"),
        "order" ("C" | "F"), "offset", "byte_order" ("little" | "big"),
        "cell" (extents of the partitioned leading axes), "stride" (a number or
        one per partitioned axis), "grid_shape", "step",
        "complete" (true if "cells" lists every cell of the grid, in C order),
        "cells": [{"index", <content>}],
        "selections": [{"text" (NumPy syntax, e.g. ":3,1:2", "...,-1"),
                        "cells" ([[start, stop], ...] per grid axis), <content>}]
     }]}

where ``<content>`` is the expected region and a digest of the voxels in it:

- ``start``, ``shape``: the region in volume axes (carried axes whole),
  computed with the original (Python) impart formulas, per partitioned axis::

      step  = cell * stride
      n     = 1 + ceil(max(0, dim - cell) / step)
      start = ceil(a * step)                       # cells a..b, half-open
      stop  = min(dim, ceil(cell + (b - 1) * step))

  with one rule taken from the Rust crate (src/grid.rs): a trailing cell that
  would start at or past ``dim`` (it would hold no voxel; possible when
  ``cell * (1 - stride) < 1``) is not counted. Cases where this drops a cell
  say so in ``"note"``.
- ``sum`` (float64 sum of the values), ``abs_sum`` (float64 sum of their
  absolute values, the scale for a relative tolerance), ``min``, ``max``,
  ``first`` and ``last`` (C order), all of the region sliced from the NumPy
  array and converted to float64. Integer data is chosen so that every value
  and every partial sum is exact in float64 (|v| < 2**40 for 64-bit types),
  so integer sums compare exactly in any summation order.
- ``checksum``: the equality check, chosen so the Rust test needs no hashing
  crate. Let ``bits[k]`` be the IEEE-754 bits (as uint64) of the k-th value of
  ``np.ascontiguousarray(region).astype("<f8")`` in C order; then, all
  arithmetic mod 2**64::

      x[k]     = bits[k] + (k + 1) * 0x9E3779B97F4A7C15
      h[k]     = mix(x[k])          # SplitMix64's finalizer:
                                    #   x ^= x >> 30; x *= 0xBF58476D1CE4E5B9
                                    #   x ^= x >> 27; x *= 0x94D049BB133111EB
                                    #   x ^= x >> 31
      checksum = sum(h[k])          # as 16 lowercase hex digits

  ``mix`` is a bijection, so a change of any single value always changes the
  checksum, and values in the wrong places (C/F order mix-ups, wrong offsets,
  byte swaps) change it with overwhelming probability. It is a few lines with
  ``wrapping_mul``/``wrapping_add`` in Rust and vectorized in NumPy.
- ``sha256``: SHA-256 of the same ``<f8`` C-order bytes, for tools that can
  hash (the Rust test checks ``checksum`` instead).

Grids with more than ``MAX_LISTED`` cells list a sample of cells (the corners,
the last cell on each axis, and a few chosen at random with a fixed seed)
instead of every cell.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import sys

import numpy as np

FORMAT = 1
MAX_LISTED = 24
SAMPLED = 12
FILLER = 0xA5
MASK64 = (1 << 64) - 1
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)

DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"]
RUST_NAME = dict(zip(DTYPES, ["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"]))


# --------------------------------------------------------------------------
# grid arithmetic (the original impart's formulas)


def axis_count(dim: int, cell: int, step: float) -> int:
    n = 1 + math.ceil(max(0, dim - cell) / step)
    # A trailing cell starting at or past the end holds no voxel; the Rust
    # crate does not count it (see the module docs of src/grid.rs).
    if n > 1 and math.ceil((n - 1) * step) >= dim:
        n -= 1
    return n


def axis_count_original(dim: int, cell: int, step: float) -> int:
    return 1 + math.ceil(max(0, dim - cell) / step)


def axis_span(dim: int, cell: int, step: float, a: int, b: int) -> tuple[int, int]:
    """Start and extent of cells a..b (half-open) on one axis."""
    start = math.ceil(a * step)
    stop = min(dim, math.ceil(cell + (b - 1) * step))
    return start, stop - start


class Case:
    def __init__(self, name, shape, dtype, order, offset, byte_order, cell, stride,
                 seed=0, extra_cells=(), extra_selections=()):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(("<" if byte_order == "little" else ">") + dtype)
        self.order = order
        self.offset = offset
        self.byte_order = byte_order
        self.cell = tuple(cell)
        self.stride = stride
        self.extra_cells = [tuple(c) for c in extra_cells]
        self.extra_selections = list(extra_selections)
        self.seed = seed
        k = len(self.cell)
        strides = [float(stride)] * k if not isinstance(stride, (list, tuple)) else [
            float(s) for s in stride]
        assert len(strides) == k and k <= len(self.shape)
        self.steps = [c * s for c, s in zip(self.cell, strides)]
        self.dims = self.shape[:k]
        self.grid_shape = tuple(
            axis_count(d, c, st) for d, c, st in zip(self.dims, self.cell, self.steps))
        self.original_grid_shape = tuple(
            axis_count_original(d, c, st) for d, c, st in zip(self.dims, self.cell, self.steps))

    @property
    def file(self):
        return self.name + ".raw"

    def region(self, ranges):
        """Region (start, shape) in volume axes of the cells ranges[i] = (a, b)."""
        start, shape = [], []
        for (a, b), d, c, st in zip(ranges, self.dims, self.cell, self.steps):
            s, n = axis_span(d, c, st, a, b)
            assert n > 0, (self.name, ranges)
            start.append(s)
            shape.append(n)
        for d in self.shape[len(self.cell):]:
            start.append(0)
            shape.append(d)
        return start, shape


# --------------------------------------------------------------------------
# data


def make_values(shape, code: str, seed: int) -> np.ndarray:
    """Deterministic values of NumPy type `code` (native order) for `shape`."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    kind, size = code[0], int(code[1:])
    if kind in "ui":
        bits = min(8 * size, 40)
        if kind == "u":
            lo, hi = 0, (1 << bits) - 1
        else:
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        v = rng.integers(lo, hi, size=n, dtype=np.int64, endpoint=True)
        # the extremes of the range, so that sign and top bits are exercised
        v[: min(n, 2)] = [lo, hi][: min(n, 2)]
        out = v.astype(code)
    else:
        # Built exactly from integers: sign, mantissa bits and a binary
        # exponent, scaled with ldexp. No transcendental function is used:
        # NumPy dispatches power/exp/log to SIMD code chosen by the CPU
        # (AVX-512 and AVX2 round differently), and the values must be the
        # same bytes on every machine.
        mbits = 23 if size == 4 else 52
        frac = rng.integers(0, 1 << mbits, size=n, dtype=np.int64)
        lo, hi = (-14, 17) if size == 4 else (-40, 40)
        expo = rng.integers(lo, hi, size=n, endpoint=True, dtype=np.int64)
        sign = np.where(rng.integers(0, 2, size=n, dtype=np.int64) == 1, -1.0, 1.0)
        v = sign * np.ldexp(1.0 + frac / float(1 << mbits), expo)
        specials = [-0.0, 1e-40, 3.0e38, -1.5] if size == 4 else [-0.0, 5e-324, 1e300, -1.5]
        m = min(n, len(specials))
        v[:m] = specials[:m]
        out = v.astype(code)
    rng.shuffle(out)
    return out.reshape(shape)


def write_volume(path: str, arr: np.ndarray, case: Case, tail: int) -> None:
    data = arr.astype(case.dtype).tobytes(order=case.order)
    with open(path, "wb") as f:
        f.write(bytes([FILLER]) * case.offset)
        f.write(data)
        f.write(bytes([FILLER]) * tail)


# --------------------------------------------------------------------------
# digests


def checksum(values_f8: np.ndarray) -> str:
    bits = values_f8.view("<u8").ravel()
    k = np.arange(1, bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = bits + k * GOLDEN
        x ^= x >> np.uint64(30)
        x *= MIX1
        x ^= x >> np.uint64(27)
        x *= MIX2
        x ^= x >> np.uint64(31)
        total = int(np.sum(x, dtype=np.uint64)) & MASK64
    return f"{total:016x}"


def content(arr: np.ndarray, start, shape) -> dict:
    sl = tuple(slice(s, s + n) for s, n in zip(start, shape))
    region = arr[sl]
    v = np.ascontiguousarray(region).astype("<f8")
    assert v.shape == tuple(shape)
    flat = v.ravel()

    def num(x):
        x = float(x)
        return int(x) if x.is_integer() and abs(x) < 2**53 and not (
            x == 0 and math.copysign(1, x) < 0) else x

    return {
        "start": list(start),
        "shape": list(shape),
        "sum": num(np.sum(flat)),
        "abs_sum": num(np.sum(np.abs(flat))),
        "min": num(np.min(flat)),
        "max": num(np.max(flat)),
        "first": num(flat[0]),
        "last": num(flat[-1]),
        "checksum": checksum(v),
        "sha256": hashlib.sha256(v.tobytes()).hexdigest(),
    }


def parse_selection(text: str):
    """NumPy index tuple from text such as ":3,1:2" or "...,-1"."""
    items = []
    for part in text.split(","):
        p = part.strip()
        if p == "...":
            items.append(Ellipsis)
        elif ":" in p:
            bits = [int(b) if b.strip() else None for b in p.split(":")]
            items.append(slice(*bits))
        else:
            items.append(int(p))
    return tuple(items)


def resolve_selection(text: str, grid_shape) -> list[tuple[int, int]]:
    """Cell ranges of a selection, resolved by NumPy itself on an index grid."""
    ids = np.arange(int(np.prod(grid_shape))).reshape(grid_shape)[parse_selection(text)]
    ids = np.atleast_1d(ids).ravel()
    assert ids.size > 0, text
    idx = np.array(np.unravel_index(ids, grid_shape))
    return [(int(lo), int(hi) + 1) for lo, hi in zip(idx.min(axis=1), idx.max(axis=1))]


def listed_cells(case: Case, rng) -> tuple[list[tuple[int, ...]], bool]:
    gs = case.grid_shape
    total = int(np.prod(gs))
    if total <= MAX_LISTED:
        return list(itertools.product(*[range(n) for n in gs])), True
    chosen = set()
    for corner in itertools.product(*[(0, n - 1) for n in gs]):
        chosen.add(corner)
    for ax, n in enumerate(gs):
        mid = [m // 2 for m in gs]
        mid[ax] = n - 1
        chosen.add(tuple(mid))
    chosen.update(case.extra_cells)
    target = min(total, len(chosen) + SAMPLED)
    while len(chosen) < target:
        chosen.add(tuple(int(rng.integers(0, n)) for n in gs))
    return sorted(chosen), False


def case_entry(case: Case, arr: np.ndarray, selections) -> dict:
    rng = np.random.default_rng(case.seed + 1_000_003)
    cells, complete = listed_cells(case, rng)
    entry = {
        "name": case.name,
        "file": case.file,
        "shape": list(case.shape),
        "dtype": case.dtype.str,
        "order": case.order,
        "offset": case.offset,
        "byte_order": case.byte_order,
        "cell": list(case.cell),
        "stride": list(case.stride) if isinstance(case.stride, (list, tuple)) else case.stride,
        "grid_shape": list(case.grid_shape),
        "step": case.steps,
        "complete": complete,
    }
    if case.original_grid_shape != case.grid_shape:
        entry["note"] = (
            f"the original impart counts {list(case.original_grid_shape)} cells; "
            "its last cell on some axis starts at the volume's end and is empty, "
            "and is not counted here (as in src/grid.rs)")
    entry["cells"] = []
    for index in cells:
        start, shape = case.region([(i, i + 1) for i in index])
        entry["cells"].append({"index": list(index), **content(arr, start, shape)})
    entry["selections"] = []
    for text in selections:
        ranges = resolve_selection(text, case.grid_shape)
        start, shape = case.region(ranges)
        entry["selections"].append(
            {"text": text, "cells": [list(r) for r in ranges], **content(arr, start, shape)})
    return entry


# --------------------------------------------------------------------------
# the fixture sets

SHAPES = [
    # (shape, cell, stride)
    ((13, 11), (4, 3), 0.5),
    ((9, 7, 6), (4, 3, 4), 1.0),
    ((7, 6, 5, 3), (3, 4, 2), 0.5),          # 4-D, trailing axis carried
    ((20, 17, 5), (10, 10, 3), (0.3, 0.7, 1.0)),
]
OFFSETS = [0, 7, 16, 352]
SELECTIONS = {
    2: [":3,1:2", "...,-1", "-2:", "1:-1,::", "..."],
    3: [":3,1:2", "...,-1", "-1,0,:", "1:,:2,-2:", "..."],
}


def small_cases():
    cases = []
    seed = 1
    for i, code in enumerate(DTYPES):
        # every dtype gets both byte orders and both memory orders
        combos = [("little", "C"), ("big", "F")] if i % 2 == 0 else [("little", "F"), ("big", "C")]
        for j, (bo, order) in enumerate(combos):
            shape, cell, stride = SHAPES[(i + 2 * j) % len(SHAPES)]
            offset = OFFSETS[(i + j) % len(OFFSETS)]
            name = f"{RUST_NAME[code]}_{'le' if bo == 'little' else 'be'}_{order.lower()}_{len(shape)}d"
            cases.append(Case(name, shape, code, order, offset, bo, cell, stride, seed=seed))
            seed += 1
    # special cases
    cases += [
        # the odd offset, for every width
        Case("u16_le_c_off7", (5, 9), "u2", "C", 7, "little", (2, 4), (0.3, 0.7), seed=100),
        Case("f64_le_f_off7", (6, 5, 4), "f8", "F", 7, "little", (4, 2, 3), 0.5, seed=101),
        Case("i32_be_f_off7", (3, 8, 5), "i4", "F", 7, "big", (2, 3, 5), (1.0, 0.7, 0.3),
             seed=102),
        # cells larger than the volume on some axes: one clipped cell there
        Case("u8_le_c_bigcell", (5, 12, 3), "u1", "C", 0, "little", (8, 5, 4), 0.5, seed=103),
        Case("f32_be_c_bigcell", (4, 3), "f4", "C", 16, "big", (6, 2), 1.0, seed=104),
        # cell 1 with stride 0.7: the original would count an empty last cell
        Case("i16_le_f_cell1", (10, 6), "i2", "F", 0, "little", (1, 4), 0.7, seed=105),
        # steps that are not what they seem: 3 * 0.2 = 0.6000000000000001, so
        # cell 5 starts at ceil(3.0000000000000004) = 4 and the cells :16
        # end at ceil(3 + 15 * step) = 13 (exact arithmetic would say 3 and 12)
        Case("u16_le_f_round", (16, 14), "u2", "F", 16, "little", (3, 6), (0.2, 0.1), seed=107,
             extra_cells=[(5, 5), (10, 10), (15, 4), (20, 14)],
             extra_selections=[":16,5", "5:10,-5:"]),
        # a 1-thick axis and a 4-D grid over every axis
        Case("u64_be_c_4d_full", (1, 5, 4, 6), "u8", "C", 352, "big", (1, 3, 3, 4), 0.5,
             seed=106),
    ]
    return cases


def large_cases():
    s = (96, 80, 70)
    return [
        Case("large_u16_le_c", s, "u2", "C", 0, "little", (32, 32, 32), 0.5, seed=500),
        Case("large_u16_be_f", s, "u2", "F", 352, "big", (30, 24, 28), (0.3, 0.7, 1.0),
             seed=501),
        Case("large_f32_le_f", s, "f4", "F", 7, "little", (32, 32, 32), 0.5, seed=502),
        Case("large_f32_be_c", s, "f4", "C", 16, "big", (40, 33, 17), 1.0, seed=503),
    ]


def selections_for(case: Case):
    k = len(case.grid_shape)
    sels = list(SELECTIONS[2] if k == 2 else SELECTIONS[3])
    if k == 4:
        sels = [":3,1:2", "...,-1", "0,-1,1:,...", "..."]
    # drop selections that pick no cell on this grid (NumPy would give nothing,
    # impart gives an error; tested elsewhere)
    out = []
    for t in sels + case.extra_selections:
        try:
            resolve_selection(t, case.grid_shape)
        except (AssertionError, IndexError):
            continue
        out.append(t)
    return out


def dump(manifest: dict) -> str:
    """JSON with one case header and one cell per line (diff-friendly)."""
    compact = dict(separators=(",", ":"))
    lines = ["{"]
    for key in ("format", "generator", "numpy", "checksum"):
        lines.append(f" {json.dumps(key)}:{json.dumps(manifest[key])},")
    lines.append(' "cases":[')
    for ci, case in enumerate(manifest["cases"]):
        head = {k: v for k, v in case.items() if k not in ("cells", "selections")}
        lines.append("  {" + json.dumps(head, **compact)[1:-1] + ",")
        for key in ("cells", "selections"):
            lines.append(f'   "{key}":[')
            items = case[key]
            for ii, item in enumerate(items):
                sep = "," if ii + 1 < len(items) else ""
                lines.append("    " + json.dumps(item, **compact) + sep)
            lines.append("   ]" + ("," if key == "cells" else ""))
        lines.append("  }" + ("," if ci + 1 < len(manifest["cases"]) else ""))
    lines.append(" ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == manifest
    return text


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "tests", "data", "raw")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    ap.add_argument("--large", action="store_true",
                    help="write the large set (for CI, not committed)")
    args = ap.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    cases = large_cases() if args.large else small_cases()
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/make_raw_fixtures.py" + (" --large" if args.large else ""),
        "numpy": np.__version__,
        "checksum": "sum over k of splitmix64_finalizer(bits(f64[k]) + (k + 1) * "
                    "0x9E3779B97F4A7C15) mod 2^64, values as <f8 in C order (see the script)",
        "cases": [],
    }
    for n, case in enumerate(cases):
        arr = make_values(case.shape, case.dtype.str[1:], case.seed)
        # every third file has filler bytes after the data too
        write_volume(os.path.join(args.out, case.file), arr, case, tail=5 * (n % 3 == 1))
        manifest["cases"].append(case_entry(case, arr, selections_for(case)))
    with open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8") as f:
        f.write(dump(manifest))
    total = sum(os.path.getsize(os.path.join(args.out, c.file)) for c in cases)
    total += os.path.getsize(os.path.join(args.out, "cases.json"))
    print(f"wrote {len(cases)} volumes and cases.json to {args.out} ({total / 1024:.1f} KiB)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
