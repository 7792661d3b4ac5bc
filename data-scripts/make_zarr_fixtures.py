#!/usr/bin/env python3
"""Write Zarr v2 and v3 fixtures with zarr-python, and what impart must read.

Usage::

    python3 data-scripts/make_zarr_fixtures.py [OUT_DIR]

``OUT_DIR`` defaults to ``tests/data/zarr`` (relative to the crate root); the
set is small (well under 400 KiB) and committed. It needs the pinned packages
of ``data-scripts/requirements-zarr.txt`` (zarr 3.1, numcodecs, NumPy). The
output is deterministic: running the script twice gives identical files.

Every array is written by zarr-python, never by the code under test, and every
expected value is read back through zarr-python's own slicing
(``z[a:b, c:d]``), so missing chunks, fill values, byte order, memory order
and codecs are all as zarr-python understands them.

What is covered (``tests/zarr_fixtures.rs`` checks that the set keeps
covering it):

- Zarr v3 and v2, every dtype impart reads (u8 i8 u16 i16 u32 i32 u64 i64
  f32 f64), each in both formats;
- codecs: zstd, blosc (lz4 and zstd inside, all three shuffles), gzip, none;
  in v3 also ``transpose``, ``bytes`` big endian and ``crc32c``; sharded v3
  arrays (``sharding_indexed``, inner chunks smaller than the shard, partial
  shards at the edges);
- v2 in C and F order, both dimension separators (``.`` and ``/``), and
  big-endian dtypes (``>u2``, ``>u4``, ``>i8``, ``>f8``);
- shapes that the chunks do not divide (partial edge chunks), 2-D, 3-D and
  4-D (with a carried trailing axis);
- missing chunks with a non-zero fill value: regions written as the fill
  value (zarr-python then stores no chunk, ``write_empty_chunks`` being off)
  and chunk files deleted after writing; in a sharded array, missing inner
  chunks and a missing shard;
- arrays inside groups (``ZarrVolume::open_in(store, "a/b/arr")``);
- arrays impart must refuse with an error (never a panic): bool, complex64,
  float16, strings (fixed and variable length), bytes, datetime64,
  structured;
- broken arrays: metadata that is not JSON, an unknown codec, a negative
  extent, an unknown v2 dtype, a corrupt compressed chunk and a truncated
  uncompressed chunk (the last two open, and only cells touching the broken
  chunk fail to read).

Manifest ``expected.json``::

    {"format": 1, "generator", "zarr", "numcodecs", "numpy", "checksum",
     "cases": [{
        "name", "zarr_format" (2 | 3), "path" (the array directory, relative
        to OUT_DIR), "store" and "array_path" (for arrays in a group: open
        with ``open_in(store, array_path)``; ``store/array_path`` is
        ``path``), "shape", "dtype" (impart's name: "u16"), "zarr_dtype" (as
        in the metadata), "chunks" (the chunk shape; for sharded arrays the
        inner chunk shape), "shards" (the shard shape or null), "codecs"
        (names, outermost last), "order" (v2 "C" | "F"; v3 "C"),
        "separator", "fill_value", "stored_chunks" / "missing_chunks" (how
        many chunk files, or for sharded arrays inner chunks, are present /
        absent), "cell", "stride", "grid_shape", "step", "complete" (true:
        "cells" lists every cell of the grid, in C order),
        "full": <content of the whole array>,
        "cells": [{"index", <content>}]
     }],
     "refused": [{"name", "zarr_format", "path", "zarr_dtype", "why"}],
     "broken": [{"name", "zarr_format", "path", "why", "opens" (bool),
                 "shape", "dtype", "cell", "stride",  (when it opens)
                 "cells": [{"index", "start", "shape", "error": true} or
                           {"index", <content>}]}]}

``<content>`` is ``make_raw_fixtures.py``'s (region ``start``, ``shape``,
``sum``, ``abs_sum``, ``min``, ``max``, ``first``, ``last`` and the
``checksum`` of the values as ``<f8`` in C order; see that script's
docstring), without the SHA-256 to keep the committed manifest small. Cell
regions follow the grid formulas of that script too.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import itertools
import json
import os
import shutil
import sys
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_raw_fixtures import axis_count, axis_span, content as raw_content  # noqa: E402
from make_raw_fixtures import make_values  # noqa: E402

import numcodecs  # noqa: E402
import zarr  # noqa: E402
from zarr.codecs import (  # noqa: E402
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    GzipCodec,
    TransposeCodec,
    ZstdCodec,
)

FORMAT = 1
RUST_NAME = {"u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32", "i4": "i32",
             "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64"}

warnings.filterwarnings("ignore", module="zarr")
# deterministic output: one thread in blosc, and gzip headers without the
# time of writing (numcodecs' GZip leaves GzipFile's mtime at "now")
numcodecs.blosc.use_threads = False
numcodecs.gzip._gzip = types.SimpleNamespace(
    GzipFile=functools.partial(gzip.GzipFile, mtime=0))


def content(arr: np.ndarray, start, shape, *, sliced=False) -> dict:
    """make_raw_fixtures' content of arr[start:start+shape] (or of arr itself,
    already sliced, if `sliced`), without the SHA-256."""
    if sliced:
        assert arr.shape == tuple(shape)
        c = raw_content(arr, [0] * len(shape), shape)
        c["start"] = list(start)
    else:
        c = raw_content(arr, start, shape)
    del c["sha256"]
    return c


# --------------------------------------------------------------------------
# cases


class Case:
    """One array that impart must read, with a stride grid over it."""

    def __init__(self, name, fmt, shape, dtype, chunks, cell, stride=0.5, *, codec="zstd",
                 shards=None, order="C", separator=None, fill=0, holes=(), delete=(),
                 group=None, v3_filters=None, v3_endian="little", crc=False, seed=0):
        self.name = name
        self.fmt = fmt
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)       # may be big-endian (v2)
        self.code = self.dtype.str[1:]     # "u2"
        self.chunks = tuple(chunks)
        self.shards = tuple(shards) if shards else None
        self.cell = tuple(cell)
        self.stride = stride
        self.codec = codec
        self.order = order
        self.separator = separator or ("." if fmt == 2 else "/")
        self.fill = fill
        self.holes = [tuple(slice(*h) for h in hole) for hole in holes]
        self.delete = [tuple(d) for d in delete]
        self.group = group                 # (store dir, array path inside) or None
        self.v3_filters = v3_filters
        self.v3_endian = v3_endian
        self.crc = crc
        self.seed = seed
        k = len(self.cell)
        strides = [float(stride)] * k if not isinstance(stride, (list, tuple)) else [
            float(s) for s in stride]
        self.steps = [c * s for c, s in zip(self.cell, strides)]
        self.dims = self.shape[:k]
        self.grid_shape = tuple(
            axis_count(d, c, st) for d, c, st in zip(self.dims, self.cell, self.steps))

    @property
    def path(self) -> str:
        if self.group:
            return self.group[0] + "/" + self.group[1]
        return self.name

    def region(self, index):
        start, shape = [], []
        for i, d, c, st in zip(index, self.dims, self.cell, self.steps):
            s, n = axis_span(d, c, st, i, i + 1)
            start.append(s)
            shape.append(n)
        for d in self.shape[len(self.cell):]:
            start.append(0)
            shape.append(d)
        return start, shape

    # ----------------------------------------------------------------------

    def compressors(self):
        c = self.codec
        if self.fmt == 3:
            out = {
                "none": [],
                "zstd": [ZstdCodec(level=3)],
                "gzip": [GzipCodec(level=5)],
                "blosc-lz4": [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")],
                "blosc-zstd": [BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")],
                "blosc-lz4-noshuffle": [BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle")],
            }[c]
            if self.crc:
                out = out + [Crc32cCodec()]
            return out or None
        return {
            "none": None,
            "zstd": numcodecs.Zstd(level=3),
            "gzip": numcodecs.GZip(level=5),
            "blosc-lz4": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
            "blosc-zstd": numcodecs.Blosc(cname="zstd", clevel=3,
                                          shuffle=numcodecs.Blosc.BITSHUFFLE),
            "blosc-lz4-noshuffle": numcodecs.Blosc(cname="lz4", clevel=5,
                                                   shuffle=numcodecs.Blosc.NOSHUFFLE),
        }[c]

    def create(self, out: str):
        kwargs = dict(shape=self.shape, chunks=self.chunks, fill_value=self.fill,
                      compressors=self.compressors(), zarr_format=self.fmt,
                      config={"write_empty_chunks": False})
        if self.fmt == 3:
            kwargs["dtype"] = self.dtype.newbyteorder("=")
            kwargs["serializer"] = BytesCodec(endian=self.v3_endian)
            if self.shards:
                kwargs["shards"] = self.shards
            if self.v3_filters:
                kwargs["filters"] = self.v3_filters
        else:
            kwargs["dtype"] = self.dtype
            kwargs["order"] = self.order
            kwargs["filters"] = None
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": self.separator}
        if self.group:
            store, inner = self.group
            root = zarr.open_group(os.path.join(out, store), mode="a", zarr_format=self.fmt)
            *parents, leaf = inner.split("/")
            g = root
            for p in parents:
                g = g.require_group(p)
            del kwargs["zarr_format"]       # the group's
            return g.create_array(leaf, **kwargs)
        return zarr.create_array(os.path.join(out, self.name), **kwargs)

    def values(self) -> np.ndarray:
        v = make_values(self.shape, self.code, self.seed)
        # keep the fill value out of the data, so that a missing chunk read
        # as anything but the fill value shows
        if self.dtype.kind in "ui":
            v = np.where(v == self.fill, v ^ 1, v).astype(v.dtype)
        for hole in self.holes:
            v[hole] = self.fill
        return v

    def chunk_file(self, index) -> str:
        if self.fmt == 3:
            return "/".join(["c"] + [str(i) for i in index])
        return self.separator.join(str(i) for i in index)


def small_cases():
    c = []
    s2, k2, cell2 = (13, 11), (4, 5), (6, 4)           # grid 4 x 5 at stride 0.5
    s3, k3, cell3 = (9, 10, 7), (4, 3, 5), (4, 5, 4)   # grid 4 x 3 x 3
    # --- v3, every dtype, every codec
    c += [
        Case("v3_u8_zstd_2d", 3, s2, "u1", k2, cell2, codec="zstd", seed=1),
        Case("v3_i8_blosc_3d", 3, s3, "i1", k3, cell3, codec="blosc-lz4", seed=2),
        Case("v3_u16_zstd_3d", 3, s3, "u2", k3, cell3, codec="zstd", seed=3),
        Case("v3_i16_gzip_2d", 3, s2, "i2", k2, cell2, codec="gzip", seed=4),
        Case("v3_u32_none_3d", 3, s3, "u4", k3, cell3, codec="none", seed=5),
        Case("v3_i32_transpose_be_crc32c_3d", 3, s3, "i4", k3, cell3, codec="gzip",
             v3_filters=[TransposeCodec(order=(2, 0, 1))], v3_endian="big", crc=True, seed=6),
        Case("v3_u64_blosc_zstd_2d", 3, s2, "u8", k2, cell2, codec="blosc-zstd", seed=7),
        Case("v3_i64_blosc_noshuffle_3d", 3, s3, "i8", k3, cell3,
             codec="blosc-lz4-noshuffle", seed=8),
        Case("v3_f32_zstd_crc32c_2d", 3, s2, "f4", k2, cell2, codec="zstd", crc=True, seed=9),
        Case("v3_f64_gzip_3d", 3, s3, "f8", k3, cell3, codec="gzip", seed=10),
        # sharded: shards of 2 x 2 (x 1) inner chunks, partial shards at the edges
        Case("v3_u16_sharded_2d", 3, s2, "u2", k2, cell2, shards=(8, 10), codec="zstd", seed=11),
        Case("v3_f32_sharded_3d", 3, s3, "f4", (2, 3, 5), cell3, shards=(4, 6, 5),
             codec="blosc-lz4", seed=12),
        # 4-D with a carried trailing axis (channels)
        Case("v3_u8_4d_channels", 3, (7, 6, 5, 3), "u1", (3, 4, 2, 3), (3, 4, 2), codec="zstd",
             seed=13),
        # missing chunks, non-zero fill value
        Case("v3_u16_missing_fill", 3, s3, "u2", k3, cell3, codec="zstd", fill=7,
             holes=[((0, 4), (0, 3), (0, 5)), ((4, 9), (6, 10), (0, 7))],
             delete=[(1, 1, 1)], seed=14),
        Case("v3_i32_missing_fill_2d", 3, s2, "i4", k2, cell2, codec="none", fill=-3,
             holes=[((0, 4), (5, 10))], delete=[(3, 2), (2, 0)], seed=15),
        Case("v3_f32_sharded_missing_fill", 3, s2, "f4", k2, cell2, shards=(8, 10),
             codec="zstd", fill=-2.5, holes=[((0, 4), (0, 5)), ((8, 13), (0, 11))], seed=16),
        Case("v3_f64_missing_fill_neg_zero", 3, s2, "f8", k2, cell2, codec="gzip", fill=-0.0,
             delete=[(1, 1)], seed=17),
        # in a group
        Case("v3_group_u16", 3, s2, "u2", k2, cell2, codec="zstd", group=("v3_group", "a/b/arr"),
             seed=18),
        Case("v3_group_f32", 3, s3, "f4", k3, cell3, codec="gzip", group=("v3_group", "top"),
             seed=19),
    ]
    # --- v2: every dtype, C and F order, both separators, big endian
    c += [
        Case("v2_u8_blosc_c_dot", 2, s2, "|u1", k2, cell2, codec="blosc-lz4", seed=31),
        Case("v2_i8_none_f_slash", 2, s3, "|i1", k3, cell3, codec="none", order="F",
             separator="/", seed=32),
        Case("v2_u16_be_zstd_f_slash", 2, s3, ">u2", k3, cell3, codec="zstd", order="F",
             separator="/", seed=33),
        Case("v2_u16_le_zstd_c_dot", 2, s2, "<u2", k2, cell2, codec="zstd", seed=34),
        Case("v2_i16_gzip_c_slash", 2, s2, "<i2", k2, cell2, codec="gzip", separator="/",
             seed=35),
        Case("v2_u32_be_blosc_c_dot", 2, s3, ">u4", k3, cell3, codec="blosc-zstd", seed=36),
        Case("v2_i32_zstd_f_dot", 2, s3, "<i4", k3, cell3, codec="zstd", order="F", seed=37),
        Case("v2_u64_gzip_f_dot", 2, s2, "<u8", k2, cell2, codec="gzip", order="F", seed=38),
        Case("v2_i64_be_none_c_slash", 2, s2, ">i8", k2, cell2, codec="none", separator="/",
             seed=39),
        Case("v2_f32_blosc_f_slash", 2, s3, "<f4", k3, cell3, codec="blosc-lz4-noshuffle",
             order="F", separator="/", seed=40),
        Case("v2_f64_be_zstd_c_dot", 2, s3, ">f8", k3, cell3, codec="zstd", seed=41),
        Case("v2_u8_4d_channels_f", 2, (7, 6, 5, 3), "|u1", (3, 4, 2, 3), (3, 4, 2),
             codec="gzip", order="F", seed=42),
        Case("v2_u16_missing_fill_f_slash", 2, s3, "<u2", k3, cell3, codec="blosc-lz4",
             order="F", separator="/", fill=9,
             holes=[((4, 8), (3, 6), (0, 7))], delete=[(0, 0, 0), (2, 3, 1)], seed=43),
        Case("v2_f64_missing_fill_dot", 2, s2, "<f8", k2, cell2, codec="none", fill=-2.5,
             holes=[((4, 13), (0, 5))], delete=[(0, 2)], seed=44),
        Case("v2_group_i16", 2, s2, "<i2", k2, cell2, codec="zstd",
             group=("v2_group", "inner/arr"), seed=45),
    ]
    return c


# unsupported element types: (name, format, dtype, values)
def refused_cases():
    rng = np.random.default_rng(77)
    shape = (5, 4)
    bools = rng.integers(0, 2, size=shape).astype(bool)
    # exact values (multiples of 1/8): no transcendental function, whose
    # SIMD code NumPy picks by CPU, decides a byte of a fixture
    def eighths():
        return rng.integers(-64, 65, size=shape).astype(np.float64) / 8.0
    cplx = (eighths() + 1j * eighths()).astype("c8")
    half = eighths().astype("f2")
    words = np.array(["ab", "cde", "", "fghi", "j"] * 4).reshape(shape)
    raw = np.array([b"ab", b"c", b"", b"xyz"] * 5).reshape(shape)
    when = (np.arange(20).reshape(shape) * 86400).astype("datetime64[s]")
    rec = np.zeros(shape, dtype=[("a", "<i4"), ("b", "<f4")])
    rec["a"] = np.arange(20).reshape(shape)
    return [
        ("v3_bool", 3, "bool", bools, "bool"),
        ("v3_complex64", 3, "complex64", cplx, "complex"),
        ("v3_float16", 3, "float16", half, "float16"),
        ("v3_string_vlen", 3, str, words.astype(object), "variable-length string"),
        ("v3_string_fixed", 3, "U4", words.astype("U4"), "fixed-length string"),
        ("v3_bytes_fixed", 3, "S3", raw.astype("S3"), "fixed-length bytes"),
        ("v3_datetime64", 3, "datetime64[s]", when, "datetime"),
        ("v3_structured", 3, rec.dtype, rec, "structured"),
        ("v2_bool", 2, "|b1", bools, "bool"),
        ("v2_complex64", 2, "<c8", cplx, "complex"),
        ("v2_float16", 2, "<f2", half, "float16"),
        ("v2_unicode_U4", 2, "<U4", words.astype("U4"), "fixed-length string"),
        ("v2_bytes_S3", 2, "|S3", raw.astype("S3"), "fixed-length bytes"),
        ("v2_datetime64", 2, "<M8[s]", when, "datetime"),
        ("v2_structured", 2, rec.dtype, rec, "structured"),
    ]


# --------------------------------------------------------------------------
# writing and reading back


def meta_file(fmt: int) -> str:
    return "zarr.json" if fmt == 3 else ".zarray"


def rewrite_json(path: str, edit) -> None:
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, "w") as f:
        json.dump(meta, f, indent=2)


def count_chunks(case: Case, z) -> tuple[int, int]:
    """Stored and missing chunks (inner chunks for sharded arrays)."""
    grid = [-(-d // c) for d, c in zip(case.shape, case.chunks)]
    total = int(np.prod(grid))
    if case.shards:
        # inner chunks holding only the fill value are not stored
        data = z[...]
        stored = 0
        for idx in itertools.product(*[range(n) for n in grid]):
            sl = tuple(slice(i * c, min(d, (i + 1) * c))
                       for i, c, d in zip(idx, case.chunks, case.shape))
            blk = data[sl]
            if blk.tobytes() != np.full_like(blk, case.fill).tobytes():
                stored += 1
        return stored, total - stored
    stored = sum(
        os.path.exists(os.path.join(case._dir, case.chunk_file(idx)))
        for idx in itertools.product(*[range(n) for n in grid]))
    return stored, total - stored


def zarr_dtype(case_dir: str, fmt: int):
    with open(os.path.join(case_dir, meta_file(fmt))) as f:
        meta = json.load(f)
    return meta["data_type"] if fmt == 3 else meta["dtype"]


def codec_names(case_dir: str, fmt: int) -> list[str]:
    with open(os.path.join(case_dir, meta_file(fmt))) as f:
        meta = json.load(f)
    if fmt == 2:
        out = ["F-order" if meta["order"] == "F" else "C-order"]
        for flt in meta.get("filters") or []:
            out.append(flt["id"])
        if meta.get("compressor"):
            comp = meta["compressor"]
            out.append(comp["id"] + (f"({comp['cname']})" if comp["id"] == "blosc" else ""))
        return out

    def names(codecs):
        out = []
        for cd in codecs:
            n = cd["name"]
            cfg = cd.get("configuration", {})
            if n == "bytes" and cfg.get("endian") == "big":
                n = "bytes(big)"
            if n == "blosc":
                n = f"blosc({cfg['cname']})"
            if n == "sharding_indexed":
                out.append("sharding_indexed[" + ",".join(names(cfg["codecs"])) + "]")
                continue
            out.append(n)
        return out

    return names(meta["codecs"])


def case_entry(case: Case, out: str) -> dict:
    case_dir = os.path.join(out, case.path)
    case._dir = case_dir
    z = case.create(out)
    data = case.values()
    z[...] = data
    for idx in case.delete:
        f = os.path.join(case_dir, case.chunk_file(idx))
        assert os.path.exists(f), f
        os.remove(f)
    # read back through zarr-python only
    z = zarr.open_array(os.path.join(out, case.path), mode="r")
    assert z.shape == case.shape, (case.name, z.shape)
    assert z.dtype.newbyteorder("=") == case.dtype.newbyteorder("="), (case.name, z.dtype)
    full = z[...]
    stored, missing = count_chunks(case, z)
    if case.holes or case.delete:
        assert missing > 0, case.name
    else:
        assert missing == 0, (case.name, missing)
    entry = {
        "name": case.name,
        "zarr_format": case.fmt,
        "path": case.path,
    }
    if case.group:
        entry["store"], entry["array_path"] = case.group
    entry.update({
        "shape": list(case.shape),
        "dtype": RUST_NAME[case.code],
        "zarr_dtype": zarr_dtype(case_dir, case.fmt),
        "chunks": list(case.chunks),
        "shards": list(case.shards) if case.shards else None,
        "codecs": codec_names(case_dir, case.fmt),
        "order": case.order,
        "separator": case.separator,
        "fill_value": case.fill,
        "stored_chunks": stored,
        "missing_chunks": missing,
        "cell": list(case.cell),
        "stride": case.stride,
        "grid_shape": list(case.grid_shape),
        "step": case.steps,
        "complete": True,
        "full": content(full, [0] * len(case.shape), list(case.shape)),
        "cells": [],
    })
    for index in itertools.product(*[range(n) for n in case.grid_shape]):
        start, shape = case.region(index)
        sl = tuple(slice(s, s + n) for s, n in zip(start, shape))
        got = z[sl]                      # zarr-python's slicing, chunk by chunk
        assert np.array_equal(got, full[sl], equal_nan=True)
        entry["cells"].append({"index": list(index), **content(got, start, shape, sliced=True)})
    return entry


def refused_entry(out, name, fmt, dtype, values, why) -> dict:
    kwargs = dict(shape=values.shape, chunks=(3, 3), dtype=dtype, zarr_format=fmt)
    z = zarr.create_array(os.path.join(out, name), **kwargs)
    z[...] = values
    back = zarr.open_array(os.path.join(out, name), mode="r")[...]
    assert back.shape == values.shape
    return {"name": name, "zarr_format": fmt, "path": name,
            "zarr_dtype": zarr_dtype(os.path.join(out, name), fmt), "why": why}


def broken_entries(out) -> list[dict]:
    entries = []

    def simple(name, fmt, dtype="<u2", codec="zstd", shape=(6, 6), chunks=(3, 3), seed=90):
        c = Case(name, fmt, shape, dtype, chunks, (3, 3), 0.5, codec=codec, seed=seed)
        z = c.create(out)
        z[...] = c.values()
        c._dir = os.path.join(out, name)
        return c

    # metadata that is not JSON
    simple("bad_v3_not_json", 3)
    with open(os.path.join(out, "bad_v3_not_json", "zarr.json"), "w") as f:
        f.write('{"zarr_format": 3, "node_type": "array", "shape": [6, 6\n')
    entries.append({"name": "bad_v3_not_json", "zarr_format": 3, "path": "bad_v3_not_json",
                    "why": "zarr.json is not valid JSON", "opens": False})
    # an unknown codec
    simple("bad_v3_unknown_codec", 3)

    def unknown(meta):
        meta["codecs"][-1] = {"name": "no_such_codec", "configuration": {"level": 1}}
    rewrite_json(os.path.join(out, "bad_v3_unknown_codec", "zarr.json"), unknown)
    entries.append({"name": "bad_v3_unknown_codec", "zarr_format": 3,
                    "path": "bad_v3_unknown_codec", "why": "codec no_such_codec",
                    "opens": False})
    # a negative extent
    simple("bad_v3_negative_shape", 3)
    rewrite_json(os.path.join(out, "bad_v3_negative_shape", "zarr.json"),
                 lambda m: m.__setitem__("shape", [-6, 6]))
    entries.append({"name": "bad_v3_negative_shape", "zarr_format": 3,
                    "path": "bad_v3_negative_shape", "why": "shape [-6, 6]", "opens": False})
    # an unknown v2 dtype
    simple("bad_v2_unknown_dtype", 2)
    rewrite_json(os.path.join(out, "bad_v2_unknown_dtype", ".zarray"),
                 lambda m: m.__setitem__("dtype", "<q9"))
    entries.append({"name": "bad_v2_unknown_dtype", "zarr_format": 2,
                    "path": "bad_v2_unknown_dtype", "why": "dtype <q9", "opens": False})
    # a v2 chunk extent of 0
    simple("bad_v2_zero_chunk", 2)
    rewrite_json(os.path.join(out, "bad_v2_zero_chunk", ".zarray"),
                 lambda m: m.__setitem__("chunks", [0, 3]))
    entries.append({"name": "bad_v2_zero_chunk", "zarr_format": 2,
                    "path": "bad_v2_zero_chunk", "why": "chunk shape [0, 3]", "opens": False})

    # chunks that do not decode: the array opens; cells touching the broken
    # chunk fail, the others read as zarr-python reads them before the damage
    for name, fmt, codec, damage in [
        ("bad_v3_corrupt_chunk", 3, "zstd", "garbage"),
        ("bad_v2_truncated_chunk", 2, "none", "truncate"),
    ]:
        c = simple(name, fmt, codec=codec, seed=91)
        z = zarr.open_array(os.path.join(out, name), mode="r")
        full = z[...]
        broken = (1, 0)
        f = os.path.join(c._dir, c.chunk_file(broken))
        with open(f, "rb") as fh:
            blob = fh.read()
        with open(f, "wb") as fh:
            if damage == "garbage":
                fh.write(bytes((b ^ 0x5A) for b in blob))
            else:
                fh.write(blob[: len(blob) // 2])
        bad_lo = [b * k for b, k in zip(broken, c.chunks)]
        bad_hi = [min(d, lo + k) for lo, k, d in zip(bad_lo, c.chunks, c.shape)]
        # zarr-python fails on that chunk too
        try:
            zarr.open_array(os.path.join(out, name), mode="r")[
                tuple(slice(lo, hi) for lo, hi in zip(bad_lo, bad_hi))]
            raise AssertionError(f"zarr-python reads the damaged chunk of {name}")
        except AssertionError:
            raise
        except Exception:
            pass
        cells = []
        for index in itertools.product(*[range(n) for n in c.grid_shape]):
            start, shape = c.region(index)
            hits = all(s < hi and s + n > lo
                       for s, n, lo, hi in zip(start, shape, bad_lo, bad_hi))
            if hits:
                cells.append({"index": list(index), "start": start, "shape": shape,
                              "error": True})
            else:
                cells.append({"index": list(index), **content(full, start, shape)})
        entries.append({
            "name": name, "zarr_format": fmt, "path": name,
            "why": f"chunk {list(broken)} " + ("corrupt" if damage == "garbage" else "truncated"),
            "opens": True, "shape": list(c.shape), "dtype": RUST_NAME[c.code],
            "cell": list(c.cell), "stride": c.stride, "grid_shape": list(c.grid_shape),
            "cells": cells,
        })
    return entries


# --------------------------------------------------------------------------


def dump(manifest: dict) -> str:
    """JSON with one case header and one cell per line (diff-friendly)."""
    compact = dict(separators=(",", ":"))
    lines = ["{"]
    for key in ("format", "generator", "zarr", "numcodecs", "numpy", "checksum"):
        lines.append(f" {json.dumps(key)}:{json.dumps(manifest[key])},")
    for li, key in enumerate(("cases", "refused", "broken")):
        lines.append(f' "{key}":[')
        items = manifest[key]
        for ci, case in enumerate(items):
            sep = "," if ci + 1 < len(items) else ""
            if "cells" not in case:
                lines.append("  " + json.dumps(case, **compact) + sep)
                continue
            head = {k: v for k, v in case.items() if k not in ("full", "cells")}
            lines.append("  {" + json.dumps(head, **compact)[1:-1] + ",")
            if "full" in case:
                lines.append('   "full":' + json.dumps(case["full"], **compact) + ",")
            lines.append('   "cells":[')
            for ii, item in enumerate(case["cells"]):
                s = "," if ii + 1 < len(case["cells"]) else ""
                lines.append("    " + json.dumps(item, **compact) + s)
            lines.append("   ]")
            lines.append("  }" + sep)
        lines.append(" ]" + ("," if li < 2 else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == manifest
    return text


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "tests", "data", "zarr")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    args = ap.parse_args(argv)

    # start from scratch: zarr-python would otherwise merge with old arrays
    # (but never delete a directory this script did not write)
    if os.path.isdir(args.out) and os.listdir(args.out):
        if not os.path.exists(os.path.join(args.out, "expected.json")):
            ap.error(f"{args.out} is not empty and holds no expected.json; not overwriting it")
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    cases = small_cases()
    names = [c.name for c in cases]
    assert len(set(names)) == len(names)
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/make_zarr_fixtures.py",
        "zarr": zarr.__version__,
        "numcodecs": numcodecs.__version__,
        "numpy": np.__version__,
        "checksum": "sum over k of splitmix64_finalizer(bits(f64[k]) + (k + 1) * "
                    "0x9E3779B97F4A7C15) mod 2^64, values as <f8 in C order "
                    "(see make_raw_fixtures.py)",
        "cases": [case_entry(c, args.out) for c in cases],
        "refused": [refused_entry(args.out, *r) for r in refused_cases()],
        "broken": broken_entries(args.out),
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        f.write(dump(manifest))
    total = sum(os.path.getsize(os.path.join(d, f))
                for d, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {len(manifest['cases'])} arrays, {len(manifest['refused'])} refused and "
          f"{len(manifest['broken'])} broken ones to {args.out} ({total / 1024:.0f} KiB)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
