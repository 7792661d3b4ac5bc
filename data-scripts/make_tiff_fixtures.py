#!/usr/bin/env python3
"""Write small TIFF fixtures with tifffile, and what impart must read in them.

Usage::

    python3 data-scripts/make_tiff_fixtures.py [OUT_DIR]

``OUT_DIR`` defaults to ``tests/data/tiff`` (relative to the crate root); the
set is small (about 1 MiB) and committed. It needs the pinned packages of
``data-scripts/requirements-tiff.txt`` (NumPy, tifffile, imagecodecs). The
output is deterministic: running the script twice gives identical files, on
any x86-64 machine, so ``.ci/run`` regenerates the set (as an AVX-512 and as
an AVX2 machine) and diffs it against the committed copy. The script also
writes ``OUT_DIR/README.md`` (this text), so the directory is exactly what
the script writes.

Most files are written by tifffile, some by libvips (pyvips ``tiffsave``,
``tiff_fixtures_libvips.py``, needs Debian's ``libvips42``) and one by GDAL
(rasterio), never by the code under test; each from a
NumPy array built from integer formulas (``(y*31 + x*7 + c*101) % 256``;
floats are integers divided by a power of two, plus a few special values set
by their bits), so no value depends on the CPU's SIMD or BLAS code. Every file
is read back with tifffile and must equal the array it was written from,
except the lossy ones (JPEG, lossy WebP), whose expectation is what tifffile
(libjpeg-turbo, libwebp) decodes; libtiff (``imagecodecs.tiff_decode``) must
decode every case's page (or stack) to the expectation too.

What is covered:

- every dtype impart reads (u8 i8 u16 i16 u32 i32 u64 i64 f32 f64), with 1
  sample per pixel, and 3 samples (RGB) for u8, u16 and f32; 4 samples (RGBA,
  unassociated alpha) and 2 samples (gray + an unspecified extra sample);
- strips: one strip, several strips, rows per strip not dividing the height;
  tiles of 16 x 16 and 32 x 32 on images (37 x 53, 70 x 45) that the tiles
  do not divide;
- planar configuration 2 (separate planes) for 3-sample u8 and u16, striped
  and tiled;
- compressions none (1), LZW (5), JPEG (7), Adobe deflate (8), the old
  deflate code (32946), PackBits (32773), zstd (50000), WebP (50001,
  lossless and lossy); predictor 2 (horizontal) on u8, u16 and i16 with LZW
  and deflate, predictor 3 (floating point) on f32 and f64 with deflate;
- big-endian files (u16, f32, f32 with predictor 3, a tiled LZW RGB u16, a
  tiled zstd i32);
- BigTIFF, striped and tiled;
- a 5-page u16 stack (and one of its pages alone), an ImageJ hyperstack, two
  OME-TIFFs (``TCYX`` tiled and deflated; ``ZYXS`` RGB);
- a pyramid: full level 64 x 80 with two reduced levels (32 x 40, 16 x 20)
  in SubIFDs of the first page;
- GeoTIFF: ModelPixelScaleTag + ModelTiepointTag (tie point not at pixel
  0, 0), and ModelTransformationTag, each with a GeoKeyDirectoryTag;
- files impart must refuse or survive (``"kind": "hostile"``): float16,
  complex64, LERC (a real one), compression codes patched to JPEG 2000 and to
  an unknown number, truncated files, strip/tile offsets and byte counts past
  the end, a zero width, a bad magic number, an IFD offset past the end, a
  loop in the IFD chain, too few tile offsets.

More cases (``"kind": "valid_extra"``, ``tiff_fixtures_extra.py`` and
``tiff_fixtures_libvips.py``), valid files that ``tests/tiff_extra.rs``
checks:

- libvips: RGB u8 and u16 gray, 70 x 90, tiled (32 x 32) and in strips of
  16 rows, LZW without and with a horizontal predictor, deflate (libvips'
  default predictor, horizontal) and JPEG (RGB u8; quality 90, stored RGB;
  quality 75, stored YCbCr 2 x 2 without a YCbCrSubSampling tag); pyramids
  of 300 x 400 RGB u8, deflate, 64 x 64 tiles, levels 150 x 200, 75 x 100
  and 37 x 50: as pages 1.. of the main IFD chain (libvips' default,
  NewSubfileType 1) and as SubIFDs of page 0 (``subifd=True``), classic
  TIFF and BigTIFF;
- tifffile: uncompressed contiguous stacks (4 pages, strips of 8 rows; and
  big-endian, one strip a page), an uncompressed planar page (the three
  planes back to back), an ImageJ ``TZCYX`` hyperstack (T 2, Z 3, C 2: 12
  pages), a GeoTIFF of raster type PixelIsPoint;
- GDAL (rasterio): a GeoTIFF in EPSG 32633 (WGS 84 / UTM zone 33N), 10 m
  pixels, uncompressed 16 x 16 tiles.

Manifest ``cases.json``: one case per line, keys sorted::

    {"format": 1, "generator", "numpy", "tifffile", "imagecodecs", "pyvips",
     "libvips", "rasterio", "gdal", "cases": [...]}

A ``"kind": "valid"`` case has:

``name``, ``file``
    The case and its TIFF file (relative to OUT_DIR); several cases may share
    a file (a stack and one of its pages).
``page``
    The page (IFD index in the top-level chain) that the case is about, or
    null for a multi-page stack, which is all pages together (``pages`` of
    them, every page of the same shape and layout).
``shape``
    What impart presents: ``[height, width, samples]`` for one page (a
    channel axis even for one sample, whatever the planar configuration),
    ``[pages, height, width, samples]`` for a stack.
``dtype``
    impart's name: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64.
``expected``
    A sibling raw file of the expected values: little-endian, C order, of
    ``shape`` and ``dtype``, no header. Compare bits (f32/f64 hold -0.0,
    +-inf, a NaN (0x7FC00000 / 0x7FF8000000000000), subnormals, the largest
    finite value).
``lossy``
    true for JPEG and lossy WebP: ``expected`` is tifffile's decoding, and
    another decoder may differ by a little (``max_abs_error`` is the largest
    difference between the expectation and the array that was encoded,
    largest at the right edge of the padded edge tiles). Decoders differ a
    little (IDCT, chroma upsampling, YCbCr or YUV to RGB): expect a few
    units, more where the chroma is subsampled. false elsewhere:
    the values must be equal bit for bit.
Layout, as tifffile reads it back from the file (of the page, or of every
page of a stack):
    ``byte_order`` ("little" | "big"), ``bigtiff`` (bool), ``tiled`` (bool),
    ``tile`` ([tile height, tile width] or null), ``rows_per_strip`` (int or
    null when tiled), ``chunks`` (number of strips or tiles in the page, all
    planes), ``planar`` (1 contiguous | 2 separate), ``compression`` (lower
    case tifffile name: "none", "lzw", "adobe_deflate", "deflate", "packbits",
    "zstd", "jpeg", "webp") and ``compression_code`` (the tag value),
    ``predictor`` (1 | 2 | 3), ``photometric`` (name) and
    ``photometric_code``, ``bits_per_sample``, ``sample_format`` (1 uint, 2
    int, 3 float), ``extra_samples`` (the ExtraSamples values).
Optional:
    ``pages`` (stacks), ``axes`` and ``series_shape`` (tifffile's series:
    "ZCYX", [2, 3, 37, 53]), ``imagej`` (the ImageJ description's images,
    channels, slices, frames, hyperstack), ``ome`` (``dimension_order`` and
    ``size`` {X, Y, Z, C, T}, ``samples_per_pixel``: the OME-XML's Pixels
    element), ``levels`` (pyramid: per level ``level``, ``subifd`` (null for
    the page itself, else the index in the page's SubIFDs tag), ``shape``,
    ``expected``, ``tile``), ``subsampling`` (JPEG YCbCr), ``geo`` (below),
    ``note``.
``geo``
    ``pixel_scale`` [Sx, Sy, Sz] and ``tiepoint`` [I, J, K, X, Y, Z], or
    ``transformation`` (16 numbers, row major), as stored; ``raster_type``
    ("PixelIsArea"); ``affine``: the 4 x 4 matrix, row major, that maps the
    raster coordinates (column i, row j, k, 1) to the model coordinates
    (x, y, z, 1), pixel (0, 0)'s upper left corner at i = j = 0 (for
    scale + tie point: [[Sx, 0, 0, X - I*Sx], [0, -Sy, 0, Y + J*Sy], [0, 0,
    Sz, Z - K*Sz], [0, 0, 0, 1]]); ``affine_2d``: its 3 x 3 restriction to
    (i, j, 1) -> (x, y, 1). All numbers are dyadic, so exact in f64.

Every valid and valid_extra case also has:

``writer``
    "tifffile", "libvips" or "gdal".
``structure``
    Where the parts of its file lie, as tifffile finds them: ``size`` (of
    the file), ``header_bytes`` (8, BigTIFF 16), ``count_bytes``,
    ``entry_bytes`` and ``offset_bytes`` (2, 12, 4; BigTIFF 8, 20, 8),
    ``ifds`` ([offset, number of entries] of every IFD: the main chain and
    SubIFDs), ``values`` ([offset, bytes] of every tag value stored outside
    its entry), ``chunks`` ([offset, bytes] of every strip and tile), each
    list sorted by offset.
``rasterio`` (GeoTIFFs)
    What rasterio (GDAL) reports: ``transform`` (its affine as a 3 x 3 in
    GDAL's order, x = a*col + b*row + c, y = d*col + e*row + f; for
    PixelIsPoint GDAL moves the tie point half a pixel, as ``geo.affine``
    does), ``crs_epsg`` (or null), ``area_or_point`` ("Area" | "Point"), and
    for the cells of a ``cell`` [16, 16], ``stride`` 0.5 grid with ``edge``
    "shift" (starts 0, 8, ..., and H - 16; W - 16), ``windows``: per cell
    ``start`` [row, col], ``shape`` and ``origin`` [x, y] (the ``c`` and
    ``f`` of ``window_transform(Window(col, row, 16, 16))``). Each window's
    data, read by rasterio, equals the expectation's slice.

A valid_extra case may have as well: ``tiffsave`` (libvips' options),
``page_data`` (per page of the case: ``page``, ``dataoffsets``,
``databytecounts``, tifffile's ``is_contiguous``) and ``data_layout``
(``series_dataoffset``: tifffile's offset of the series' data when it is
one contiguous block, else null; ``back_to_back``: every chunk of every
page starts where the one before ends; ``evenly_spaced`` and
``page_stride``: the pages' first offsets differ by one constant;
``page_bytes``: data bytes of a page; ``all_contiguous``), in ``levels``
each level's ``page`` (its page in the main chain: pyramids of pages),
``compression_code`` and ``predictor``; ``geo`` may add ``model_type``,
``projected_cs_type``, ``citation`` and, for PixelIsPoint,
``affine_pixel_centres`` (the stored tie point taken as pixel (I, J)'s
centre: ``affine`` moved half a pixel). ``subsampling_tag``: whether the
YCbCrSubSampling tag is written (libvips leaves it out: 2 x 2). Several
cases may share an ``expected`` file (the four pyramids' levels).

A ``"kind": "hostile"`` case has ``name``, ``file``, ``must`` and ``why``:
``"must": "error"``: opening the file, or else reading its first page whole,
must return an error (never panic, never return made-up pixels);
``"must": "no_panic"``: it may open and read or fail, but must not panic or
hang. ``derived_from`` names the case whose file was damaged, when there is
one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np

import imagecodecs
import tifffile

FORMAT = 1
RUST_NAME = {"u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32", "i4": "i32",
             "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64"}
OME_META = {"UUID": "urn:uuid:00000000-0000-4000-8000-000000000000",
            "Creator": "impart make_tiff_fixtures.py"}

# --------------------------------------------------------------------------
# values: integer formulas only


def grid(shape):
    """Index arrays (p, y, x, c) as uint64 for shape (p, h, w, s)."""
    return [a.astype(np.uint64) for a in np.indices(shape)]


def make_values(shape, code: str, seed: int = 0, smooth: bool = False) -> np.ndarray:
    """Values of NumPy type `code` for shape (h, w, s) or (p, h, w, s)."""
    shape = tuple(shape)
    full = shape if len(shape) == 4 else (1,) + shape
    p, y, x, c = grid(full)
    s = np.uint64(seed)
    kind, size = code[0], int(code[1:])
    with np.errstate(over="ignore"):
        if smooth:
            # triangle waves: gentle slopes, for the lossy codecs
            # (channels offset by a little: gentle chroma, which 2 x 2
            # subsampling keeps)
            k = (y * np.uint64(3) + x * np.uint64(2) + p * np.uint64(40)
                 + s * np.uint64(11)) % np.uint64(400)
            v = np.where(k > 199, np.uint64(399) - k, k) + c * np.uint64(24)
            out = v.astype("u1")
        elif kind in "ui" and size == 1:
            v = (y * np.uint64(31) + x * np.uint64(7) + c * np.uint64(101) + p * np.uint64(53)
                 + s * np.uint64(13)) % np.uint64(256)
            out = v.astype("u1")
        elif kind in "ui" and size == 2:
            v = (y * np.uint64(4099) + x * np.uint64(263) + c * np.uint64(10007)
                 + p * np.uint64(1543) + s * np.uint64(17)) % np.uint64(65536)
            out = v.astype("u2")
        elif kind in "ui" and size == 4:
            v = (y * np.uint64(2654435761) + x * np.uint64(40503) + c * np.uint64(0x9E3779B9)
                 + p * np.uint64(97) + s * np.uint64(0x85EBCA6B)) % np.uint64(1 << 32)
            out = v.astype("u4")
        elif kind in "ui" and size == 8:
            # wrapping uint64 arithmetic: every bit, exactly
            v = (y * np.uint64(0x9E3779B97F4A7C15) + x * np.uint64(0xBF58476D1CE4E5B9)
                 + c * np.uint64(0x94D049BB133111EB) + p * np.uint64(0xD6E8FEB86659FD93)
                 + s * np.uint64(0x2545F4914F6CDD1D))
            out = v
        elif kind == "f":
            # integers in [-lim, lim] divided by a power of two: exact
            lim = 4000 if size == 4 else 100000
            k = (y * np.uint64(131) + x * np.uint64(17) + c * np.uint64(1009) + p * np.uint64(71)
                 + s * np.uint64(7)) % np.uint64(2 * lim + 1)
            ki = k.astype(np.int64) - lim
            if size == 4:
                out = ki.astype(np.float32) / np.float32(8)
            else:
                out = ki.astype(np.float64) / np.float64(1024)
        else:
            raise ValueError(code)
    if kind == "i":
        out = out.view(out.dtype.str.replace("u", "i"))
    elif kind == "f" and not smooth:
        # special values set by their bits (same bytes on every machine)
        if size == 4:
            bits = [0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x007FFFFF,
                    0x7F7FFFFF, 0x00800000]
            special = np.array(bits, dtype="<u4").view("<f4")
        else:
            bits = [0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
                    0x7FF8000000000000, 0x0000000000000001, 0x000FFFFFFFFFFFFF,
                    0x7FEFFFFFFFFFFFFF, 0x0010000000000000]
            special = np.array(bits, dtype="<u8").view("<f8")
        flat = out.reshape(-1)
        flat[3: 3 + special.size] = special
    return out.reshape(shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    return (a.shape == b.shape and a.dtype.newbyteorder("<") == b.dtype.newbyteorder("<")
            and a.astype(a.dtype.newbyteorder("<")).tobytes()
            == b.astype(b.dtype.newbyteorder("<")).tobytes())


def write_expected(path: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    with open(path, "wb") as f:
        f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())


# --------------------------------------------------------------------------
# the valid cases


class Case:
    def __init__(self, name, dtype, shape, *, planar=1, tile=None, rps=None, compression=None,
                 cargs=None, predictor=None, byteorder="<", bigtiff=False, photometric=None,
                 extrasamples=None, smooth=False, lossy=False, seed=0, kind="plain",
                 axes=None, subsampling=None, note=None):
        self.name = name
        self.code = np.dtype(dtype).str[1:]
        self.shape = tuple(shape)        # (h, w, s) or (p, h, w, s)
        self.planar = planar
        self.tile = tile
        self.rps = rps
        self.compression = compression
        self.cargs = cargs
        self.predictor = predictor
        self.byteorder = byteorder
        self.bigtiff = bigtiff
        self.photometric = photometric
        self.extrasamples = extrasamples
        self.smooth = smooth
        self.lossy = lossy
        self.seed = seed
        self.kind = kind                 # plain | stack | imagej | ome | pyramid | geo*
        self.axes = axes
        self.subsampling = subsampling
        self.note = note

    @property
    def file(self):
        return self.name + (".ome.tif" if self.kind == "ome" else ".tif")

    def stored(self, data):
        """The array handed to tifffile: sample axis dropped for 1 sample,
        moved before the rows for planar configuration 2."""
        if data.shape[-1] == 1:
            return data[..., 0]
        if self.planar == 2:
            return np.moveaxis(data, -1, -3)
        return data

    def kwargs(self):
        s = self.shape[-1]
        kw = dict(maxworkers=1, byteorder=self.byteorder, bigtiff=self.bigtiff)
        kw["photometric"] = self.photometric or ("rgb" if s in (3, 4) else "minisblack")
        if s > 1:
            kw["planarconfig"] = "separate" if self.planar == 2 else "contig"
        if self.extrasamples is not None:
            kw["extrasamples"] = self.extrasamples
        if self.tile:
            kw["tile"] = self.tile
        if self.rps:
            kw["rowsperstrip"] = self.rps
        if self.compression:
            kw["compression"] = self.compression
        if self.cargs:
            kw["compressionargs"] = dict(self.cargs)
        if self.predictor:
            kw["predictor"] = self.predictor
        if self.subsampling:
            kw["subsampling"] = self.subsampling
        return kw


def valid_cases():
    A, B = (37, 53), (70, 45)
    c = [
        # --- every dtype, strips and tiles, uncompressed and compressed
        Case("u8_gray_1strip", "u1", A + (1,), rps=37, seed=1),
        Case("u8_rgb_rps7", "u1", A + (3,), rps=7, seed=2,
             note="rows per strip 7 does not divide 37: the last strip has 2 rows"),
        Case("i8_gray_rps8", "i1", A + (1,), rps=8, seed=3),
        Case("u16_gray_rps10", "u2", B + (1,), rps=10, seed=4, note="7 strips of 10 rows"),
        Case("u16_rgb_tiled16", "u2", A + (3,), tile=(16, 16), seed=5),
        Case("i16_gray_packbits", "i2", A + (1,), rps=8, compression="packbits", seed=6),
        Case("u32_gray_tiled32_zstd", "u4", B + (1,), tile=(32, 32), compression="zstd",
             seed=7),
        Case("i32_gray_lzw_rps5", "i4", A + (1,), rps=5, compression="lzw", seed=8),
        Case("u64_gray_tiled16_deflate", "u8", A + (1,), tile=(16, 16), compression="zlib",
             seed=9),
        Case("i64_gray_rps16", "i8", A + (1,), rps=16, seed=10),
        Case("f32_gray_1strip", "f4", A + (1,), rps=37, seed=11),
        Case("f32_rgb_tiled16_zstd", "f4", A + (3,), tile=(16, 16), compression="zstd",
             seed=12),
        Case("f64_gray_lzw_rps9", "f8", A + (1,), rps=9, compression="lzw", seed=13),
        Case("u8_gray_packbits", "u1", B + (1,), rps=16, compression="packbits", seed=14),
        Case("u8_rgb_zstd_rps12", "u1", A + (3,), rps=12, compression="zstd", seed=15),
        Case("u16_gray_deflate32946", "u2", A + (1,), rps=8, compression="deflate", seed=16,
             note="the old deflate code 32946, same stream as 8"),
        # --- more samples
        Case("u8_rgba_tiled16_lzw", "u1", A + (4,), tile=(16, 16), compression="lzw",
             extrasamples=["unassalpha"], seed=17),
        Case("u16_gray_extra_rps10", "u2", A + (2,), rps=10, photometric="minisblack",
             extrasamples=["unspecified"], seed=18),
        # --- planar configuration 2
        Case("u8_rgb_planar2_rps8", "u1", A + (3,), planar=2, rps=8, seed=19),
        Case("u8_rgb_planar2_tiled16_lzw", "u1", A + (3,), planar=2, tile=(16, 16),
             compression="lzw", seed=20),
        Case("u16_rgb_planar2_rps10_deflate", "u2", B + (3,), planar=2, rps=10,
             compression="zlib", seed=21),
        Case("u16_rgb_planar2_tiled32_deflate_pred2", "u2", B + (3,), planar=2,
             tile=(32, 32), compression="zlib", predictor=2, seed=22),
        # --- predictors
        Case("u8_gray_lzw_pred2", "u1", A + (1,), rps=8, compression="lzw", predictor=2,
             seed=23),
        Case("u8_rgb_tiled16_deflate_pred2", "u1", A + (3,), tile=(16, 16),
             compression="zlib", predictor=2, seed=24),
        Case("u16_gray_lzw_pred2", "u2", B + (1,), rps=16, compression="lzw", predictor=2,
             seed=25),
        Case("u16_rgb_deflate_pred2", "u2", A + (3,), rps=8, compression="zlib",
             predictor=2, seed=26),
        Case("i16_gray_lzw_pred2", "i2", A + (1,), rps=8, compression="lzw", predictor=2,
             seed=27),
        Case("f32_gray_deflate_pred3", "f4", A + (1,), rps=8, compression="zlib",
             predictor=3, seed=28),
        Case("f32_rgb_tiled32_deflate_pred3", "f4", B + (3,), tile=(32, 32),
             compression="zlib", predictor=3, seed=29),
        Case("f64_gray_deflate_pred3", "f8", A + (1,), rps=8, compression="zlib",
             predictor=3, seed=30),
        # --- big endian
        Case("u16_gray_be", "u2", A + (1,), rps=8, byteorder=">", seed=31),
        Case("f32_gray_be", "f4", A + (1,), rps=37, byteorder=">", seed=32),
        Case("u16_rgb_be_tiled16_lzw", "u2", A + (3,), tile=(16, 16), compression="lzw",
             byteorder=">", seed=33),
        Case("f32_gray_be_deflate_pred3", "f4", A + (1,), rps=8, compression="zlib",
             predictor=3, byteorder=">", seed=34),
        Case("i32_gray_be_tiled16_zstd", "i4", A + (1,), tile=(16, 16), compression="zstd",
             byteorder=">", seed=35),
        # --- BigTIFF
        Case("u16_gray_bigtiff_rps8", "u2", A + (1,), rps=8, bigtiff=True, seed=36),
        Case("u8_rgb_bigtiff_tiled16_zstd", "u1", A + (3,), tile=(16, 16),
             compression="zstd", bigtiff=True, seed=37),
        # --- lossy and WebP
        Case("jpeg_u8_gray", "u1", A + (1,), rps=16, compression="jpeg",
             cargs={"level": 90}, smooth=True, lossy=True, seed=38),
        Case("jpeg_u8_rgb_ycbcr_tiled32", "u1", B + (3,), tile=(32, 32), compression="jpeg",
             cargs={"level": 90}, smooth=True, lossy=True, seed=39,
             note="stored as YCbCr, 2x2 subsampled; expected values are RGB"),
        Case("jpeg_u8_rgb_rps16", "u1", A + (3,), rps=16, compression="jpeg",
             cargs={"level": 90, "outcolorspace": "rgb"}, subsampling=(1, 1), smooth=True,
             lossy=True, seed=40,
             note="JPEG in RGB (photometric 2), no color conversion, no subsampling"),
        Case("webp_u8_rgb_lossless", "u1", A + (3,), rps=37, compression="webp",
             cargs={"lossless": True}, seed=41),
        Case("webp_u8_rgb_lossy_tiled32", "u1", B + (3,), tile=(32, 32), compression="webp",
             cargs={"level": 90, "lossless": False}, smooth=True, lossy=True, seed=42),
        # --- stacks
        Case("u16_stack5", "u2", (5,) + A + (1,), rps=16, compression="zlib", kind="stack",
             seed=43),
        Case("imagej_u16_zcyx", "u2", (2, 3) + A, kind="imagej", axes="ZCYX", seed=44,
             note="one page per plane, channels fastest: page = z * 3 + c"),
        Case("ome_u16_tcyx_tiled32_deflate", "u2", (2, 2) + B, tile=(32, 32),
             compression="zlib", kind="ome", axes="TCYX", seed=45,
             note="one page per plane, DimensionOrder XYZCT: page = t * 2 + c"),
        Case("ome_u8_zyxs", "u1", (3,) + A + (3,), rps=16, kind="ome", axes="ZYXS",
             seed=46, note="RGB planes: one page per z, 3 samples per pixel"),
        # --- pyramid, GeoTIFF
        Case("pyramid_u8_rgb_subifds", "u1", (64, 80, 3), tile=(16, 16), compression="zlib",
             kind="pyramid", seed=47),
        Case("geotiff_u16_scale_tiepoint", "u2", A + (1,), rps=8, kind="geo_tiepoint",
             seed=48),
        Case("geotiff_f32_transformation", "f4", B + (1,), tile=(16, 16), compression="zlib",
             kind="geo_transform", seed=49),
    ]
    return c


GEO_SCALE = (0.5, 0.25, 0.0)
GEO_TIEPOINT = (2.0, 4.0, 0.0, 100.25, 200.5, 0.0)
GEO_TRANSFORM = (0.5, 0.125, 0.0, 10.25,
                 0.25, -0.5, 0.0, 20.5,
                 0.0, 0.0, 1.0, 0.0,
                 0.0, 0.0, 0.0, 1.0)
# GeoKeyDirectory: version 1.1.0, 2 keys: GTModelType 2 (geographic),
# GTRasterType 1 (PixelIsArea)
GEO_KEYS = (1, 1, 0, 2, 1024, 0, 1, 2, 1025, 0, 1, 1)


def geo_tags(kind):
    tags = []
    if kind == "geo_tiepoint":
        tags += [(33550, "d", 3, GEO_SCALE, True), (33922, "d", 6, GEO_TIEPOINT, True)]
    else:
        tags += [(34264, "d", 16, GEO_TRANSFORM, True)]
    tags.append((34735, "H", len(GEO_KEYS), GEO_KEYS, True))
    return tags


def geo_entry(kind):
    if kind == "geo_tiepoint":
        sx, sy, sz = GEO_SCALE
        i, j, k, x, y, z = GEO_TIEPOINT
        affine = [[sx, 0.0, 0.0, x - i * sx], [0.0, -sy, 0.0, y + j * sy],
                  [0.0, 0.0, sz, z - k * sz], [0.0, 0.0, 0.0, 1.0]]
        geo = {"pixel_scale": list(GEO_SCALE), "tiepoint": list(GEO_TIEPOINT),
               "transformation": None}
    else:
        affine = [list(GEO_TRANSFORM[r * 4: r * 4 + 4]) for r in range(4)]
        geo = {"pixel_scale": None, "tiepoint": None, "transformation": list(GEO_TRANSFORM)}
    geo["affine"] = affine
    geo["affine_2d"] = [[affine[0][0], affine[0][1], affine[0][3]],
                        [affine[1][0], affine[1][1], affine[1][3]], [0.0, 0.0, 1.0]]
    geo["raster_type"] = "PixelIsArea"
    # exactness: every number survives a round trip through a 53-bit mantissa
    # with at most 16 fraction bits
    for row in affine:
        for v in row:
            assert float(v) * 65536 == int(float(v) * 65536)
    return geo


def layout(tif: tifffile.TiffFile, page) -> dict:
    tiled = bool(page.is_tiled)
    comp = tifffile.COMPRESSION(page.compression)
    phot = tifffile.PHOTOMETRIC(page.photometric)
    out = {
        "byte_order": "little" if tif.byteorder == "<" else "big",
        "bigtiff": bool(tif.is_bigtiff),
        "tiled": tiled,
        "tile": [int(page.tilelength), int(page.tilewidth)] if tiled else None,
        "rows_per_strip": None if tiled else int(page.rowsperstrip),
        "chunks": len(page.dataoffsets),
        "planar": int(page.planarconfig),
        "compression": comp.name.lower(),
        "compression_code": int(comp),
        "predictor": int(page.predictor),
        "photometric": phot.name.lower(),
        "photometric_code": int(phot),
        "bits_per_sample": int(page.bitspersample),
        "sample_format": int(page.sampleformat),
        "extra_samples": [int(e) for e in page.extrasamples],
    }
    assert 306 not in page.tags, "DateTime written"
    return out


def hwc(page_arr: np.ndarray, samples: int, planar: int) -> np.ndarray:
    """tifffile's array of one page as (h, w, s)."""
    if samples == 1:
        return page_arr[..., np.newaxis]
    if planar == 2:
        return np.moveaxis(page_arr, -3, -1)
    return page_arr


def check_read(case: Case, path: str, data: np.ndarray, got: np.ndarray) -> dict:
    """Assert the round trip; for lossy cases return the error bound."""
    assert got.shape == data.shape and got.dtype == data.dtype, (case.name, got.shape, got.dtype)
    if case.lossy:
        err = int(np.max(np.abs(got.astype(np.int64) - data.astype(np.int64))))
        return {"max_abs_error": err}
    assert same_bits(got, data), case.name
    return {}


def write_valid(case: Case, out: str) -> list[dict]:
    path = os.path.join(out, case.file)
    data = make_values(case.shape, case.code, case.seed, case.smooth)
    entries = []
    base = {"kind": "valid", "name": case.name, "file": case.file,
            "dtype": RUST_NAME[case.code], "lossy": case.lossy, "expected": case.name + ".expected"}
    if case.note:
        base["note"] = case.note

    if case.kind in ("plain", "geo_tiepoint", "geo_transform"):
        kw = case.kwargs()
        if case.kind != "plain":
            kw["extratags"] = geo_tags(case.kind)
        tifffile.imwrite(path, case.stored(data), **kw)
        with tifffile.TiffFile(path) as tif:
            assert len(tif.pages) == 1
            page = tif.pages[0]
            got = hwc(page.asarray(), case.shape[-1], page.planarconfig)
            extra = check_read(case, path, data, got)
            entry = {**base, "page": 0, "shape": list(case.shape), **layout(tif, page), **extra}
            if page.photometric == tifffile.PHOTOMETRIC.YCBCR:
                entry["subsampling"] = list(page.tags[530].value)
            if case.kind != "plain":
                gt = page.geotiff_tags
                assert gt is not None
                entry["geo"] = geo_entry(case.kind)
                if case.kind == "geo_tiepoint":
                    assert tuple(gt["ModelPixelScale"]) == GEO_SCALE
                    assert tuple(gt["ModelTiepoint"]) == GEO_TIEPOINT
                else:
                    assert np.array_equal(np.asarray(gt["ModelTransformation"]).ravel(),
                                          np.asarray(GEO_TRANSFORM))
        # whole-file read as well
        back = tifffile.imread(path)
        assert back.shape == case.stored(data).shape
        write_expected(os.path.join(out, entry["expected"]), got)
        entries.append(entry)

    elif case.kind == "stack":
        tifffile.imwrite(path, case.stored(data), **case.kwargs())
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            assert pages == case.shape[0]
            lay = layout(tif, tif.pages[0])
            for pg in tif.pages:
                assert layout(tif, pg) == lay
            got = tif.asarray().reshape(case.shape)
            check_read(case, path, data, got)
            entry = {**base, "page": None, "pages": pages, "shape": list(case.shape), **lay,
                     "axes": tif.series[0].axes,
                     "series_shape": list(tif.series[0].shape)}
            write_expected(os.path.join(out, entry["expected"]), got)
            entries.append(entry)
            # one page of the stack alone
            k = 3
            one = hwc(tif.pages[k].asarray(), case.shape[-1], 1)
            assert same_bits(one, data[k])
            name = f"{case.name}_page{k}"
            entries.append({**base, "name": name, "expected": name + ".expected", "page": k,
                            "shape": list(one.shape), **lay,
                            "note": f"page {k} of {case.file} alone"})
            write_expected(os.path.join(out, name + ".expected"), one)

    elif case.kind == "imagej":
        # data given as (Z, C, Y, X); ImageJ stores one page per plane, C fastest
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": case.axes},
                         photometric="minisblack", maxworkers=1)
        with tifffile.TiffFile(path) as tif:
            assert tif.is_imagej
            pages = len(tif.pages)
            h, w = data.shape[-2:]
            shape = [pages, h, w, 1]
            lay = layout(tif, tif.pages[0])
            for pg in tif.pages:
                assert layout(tif, pg) == lay
            got = np.stack([p.asarray() for p in tif.pages])[..., np.newaxis]
            assert same_bits(got, data.reshape(shape)), case.name
            ij = tif.imagej_metadata
            entry = {**base, "page": None, "pages": pages, "shape": shape, **lay,
                     "axes": tif.series[0].axes, "series_shape": list(tif.series[0].shape),
                     "imagej": {k: ij.get(k) for k in
                                ("images", "channels", "slices", "frames", "hyperstack")}}
            assert entry["axes"] == case.axes
            write_expected(os.path.join(out, entry["expected"]), got)
            entries.append(entry)

    elif case.kind == "ome":
        kw = case.kwargs()
        samples = case.shape[-1] if case.axes.endswith("S") else 1
        if samples == 1:
            kw["photometric"] = "minisblack"
            kw.pop("planarconfig", None)
        tifffile.imwrite(path, data, ome=True, metadata={"axes": case.axes, **OME_META}, **kw)
        with tifffile.TiffFile(path) as tif:
            assert tif.is_ome
            pages = len(tif.pages)
            lay = layout(tif, tif.pages[0])
            for pg in tif.pages:
                assert layout(tif, pg) == lay
            h, w = (data.shape[-3:-1] if samples > 1 else data.shape[-2:])
            shape = [pages, h, w, samples]
            got = np.stack([hwc(p.asarray(), samples, 1) for p in tif.pages])
            assert same_bits(got, data.reshape(shape)), case.name
            root = ET.fromstring(tif.ome_metadata)
            px = root.find(".//{*}Pixels")
            ome = {"dimension_order": px.get("DimensionOrder"),
                   "size": {k: int(px.get("Size" + k)) for k in "XYZCT"},
                   "samples_per_pixel": int(root.find(".//{*}Channel").get("SamplesPerPixel"))}
            entry = {**base, "page": None, "pages": pages, "shape": shape, **lay,
                     "axes": tif.series[0].axes, "series_shape": list(tif.series[0].shape),
                     "ome": ome}
            write_expected(os.path.join(out, entry["expected"]), got)
            entries.append(entry)

    elif case.kind == "pyramid":
        levels = [data]
        for _ in range(2):
            a = levels[-1].astype(np.uint16)
            # 2 x 2 means, integer arithmetic
            m = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) // 4
            levels.append(m.astype(np.uint8))
        kw = case.kwargs()
        opts = dict(byteorder=kw.pop("byteorder"), bigtiff=kw.pop("bigtiff"))
        with tifffile.TiffWriter(path, **opts) as tw:
            tw.write(levels[0], subifds=len(levels) - 1, **kw)
            for lv in levels[1:]:
                tw.write(lv, subfiletype=1, **kw)
        with tifffile.TiffFile(path) as tif:
            assert len(tif.pages) == 1
            page = tif.pages[0]
            lay = layout(tif, page)
            series = tif.series[0]
            assert len(series.levels) == len(levels)
            lv_entries = []
            for i, lv in enumerate(levels):
                got = series.levels[i].asarray()
                assert same_bits(got, lv), (case.name, i)
                sub = series.levels[i].keyframe
                exp = case.name + (".expected" if i == 0 else f".level{i}.expected")
                lv_entries.append({"level": i, "subifd": None if i == 0 else i - 1,
                                   "shape": list(lv.shape), "expected": exp,
                                   "tile": [int(sub.tilelength), int(sub.tilewidth)]})
                write_expected(os.path.join(out, exp), got)
            assert len(page.subifds) == len(levels) - 1
            entry = {**base, "page": 0, "shape": list(case.shape), **lay, "levels": lv_entries}
            entries.append(entry)
    else:
        raise ValueError(case.kind)
    return entries


def read_expected(out: str, entry: dict) -> np.ndarray:
    """A case's expectation, as (h, w, s) (or (pages, h, w, s))."""
    code = {v: k for k, v in RUST_NAME.items()}[entry["dtype"]]
    with open(os.path.join(out, entry["expected"]), "rb") as f:
        return np.frombuffer(f.read(), dtype="<" + code).reshape(entry["shape"])


def check_libtiff(out: str, entry: dict) -> None:
    """A second reader: libtiff (imagecodecs.tiff_decode) must decode the case's
    page (or every page of a stack) to the expectation, bit for bit, lossy
    cases included (same libjpeg-turbo and libwebp)."""
    with open(os.path.join(out, entry["file"]), "rb") as f:
        blob = f.read()
    got = np.asarray(imagecodecs.tiff_decode(blob, index=entry["page"]))
    shape = entry["shape"]
    if entry["planar"] == 2 and shape[-1] > 1:
        got = np.moveaxis(got, -3, -1)
    got = got.reshape(shape)
    code = {v: k for k, v in RUST_NAME.items()}[entry["dtype"]]
    with open(os.path.join(out, entry["expected"]), "rb") as f:
        want = np.frombuffer(f.read(), dtype="<" + code).reshape(shape)
    assert same_bits(got, want), entry["name"]


# --------------------------------------------------------------------------
# hostile files


def tag_entry(path: str, code: int):
    """(entry offset, value offset, count, type size) of a tag of the first page."""
    with tifffile.TiffFile(path) as tif:
        t = tif.pages[0].tags[code]
        return t.offset, t.valueoffset, t.count, t.dtype


def fmt_of(tiff_type: int) -> tuple:
    """struct format and size of a TIFF value type (SHORT, LONG, LONG8)."""
    return {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}[int(tiff_type)]


def patch(path: str, offset: int, fmt: str, *values) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack("<" + fmt, *values))


def copy(out, src, dst):
    shutil.copyfile(os.path.join(out, src), os.path.join(out, dst))
    return os.path.join(out, dst)


def hostile_cases(out) -> list[dict]:
    e = []

    def add(name, file, must, why, derived=None):
        d = {"kind": "hostile", "name": name, "file": file, "must": must, "why": why}
        if derived:
            d["derived_from"] = derived
        e.append(d)

    A = (37, 53)
    # types impart has not
    tifffile.imwrite(os.path.join(out, "bad_f16.tif"),
                     (np.arange(A[0] * A[1]) % 64).reshape(A).astype(np.float16) / 4,
                     photometric="minisblack", maxworkers=1)
    add("bad_f16", "bad_f16.tif", "error",
        "16-bit float samples (SampleFormat 3, BitsPerSample 16): no such impart dtype")
    c64 = (np.arange(A[0] * A[1]) % 64).reshape(A).astype(np.complex64)
    tifffile.imwrite(os.path.join(out, "bad_complex64.tif"), c64 * (1 + 2j) / 8,
                     photometric="minisblack", maxworkers=1)
    add("bad_complex64", "bad_complex64.tif", "error",
        "complex samples (SampleFormat 6): no such impart dtype")
    lerc = make_values(A + (1,), "f4", 60)[..., 0]
    lerc[~np.isfinite(lerc)] = 0
    p = os.path.join(out, "bad_lerc.tif")
    tifffile.imwrite(p, lerc, photometric="minisblack", compression="lerc", rowsperstrip=16,
                     maxworkers=1)
    assert same_bits(tifffile.imread(p), lerc)
    add("bad_lerc", "bad_lerc.tif", "error",
        "LERC compression (34887), a real LERC stream: not supported")

    # patched copies of valid files (all little-endian classic TIFF)
    src = "u16_gray_rps10.tif"
    p = copy(out, src, "bad_compression_jpeg2000.tif")
    off, voff, _, _ = tag_entry(p, 259)
    patch(p, voff, "H", 34712)
    add("bad_compression_jpeg2000", "bad_compression_jpeg2000.tif", "error",
        "compression tag patched to 34712 (JPEG 2000), data left uncompressed: not supported",
        src)
    p = copy(out, src, "bad_compression_unknown.tif")
    patch(p, voff, "H", 40123)
    add("bad_compression_unknown", "bad_compression_unknown.tif", "error",
        "compression tag patched to 40123, a code no one defines", src)

    with open(os.path.join(out, src), "rb") as f:
        blob = f.read()
    for name, n, why in [
        ("bad_truncated_header", 6, "the first 6 bytes of a TIFF: the header is cut"),
        ("bad_truncated_ifd", 8 + 2 + 12 * 4,
         "cut inside the first IFD (after 4 of its tag entries)"),
        ("bad_truncated_data", len(blob) - 1000,
         "the last 1000 bytes cut: the IFD is whole, the last strips are past the end"),
    ]:
        with open(os.path.join(out, name + ".tif"), "wb") as f:
            f.write(blob[:n])
        add(name, name + ".tif", "error", why, src)

    src_t = "u16_rgb_tiled16.tif"
    p = copy(out, src_t, "bad_tile_bytecount_past_eof.tif")
    size = os.path.getsize(p)
    # patched in the tag's own value type (tifffile writes byte counts
    # that fit as SHORT): the largest SHORT ends far past this small file
    _, voff, count, ttype = tag_entry(p, 325)
    fmt, width = fmt_of(ttype)
    big = min(size * 4, (1 << (8 * width)) - 1)
    patch(p, voff + width * (count - 1), fmt, big)
    add("bad_tile_bytecount_past_eof", "bad_tile_bytecount_past_eof.tif", "error",
        f"the last TileByteCounts entry patched to {big} (the file has {size} bytes): the "
        "tile ends past the end of the file", src_t)
    p = copy(out, src_t, "bad_tile_offset_past_eof.tif")
    _, voff, count, ttype = tag_entry(p, 324)
    fmt, width = fmt_of(ttype)
    patch(p, voff + width * 2, fmt, size + 4096)
    add("bad_tile_offset_past_eof", "bad_tile_offset_past_eof.tif", "error",
        "the third TileOffsets entry patched past the end of the file", src_t)
    p = copy(out, src_t, "bad_tile_offsets_too_few.tif")
    off, _, count, _ = tag_entry(p, 324)
    patch(p, off + 4, "I", count - 1)
    off, _, count, _ = tag_entry(p, 325)
    patch(p, off + 4, "I", count - 1)
    add("bad_tile_offsets_too_few", "bad_tile_offsets_too_few.tif", "error",
        f"TileOffsets and TileByteCounts counts patched to {count - 1}, one fewer than the "
        f"{count} tiles of the image", src_t)

    p = copy(out, src, "bad_strip_offset_past_eof.tif")
    size = os.path.getsize(p)
    _, voff, count, ttype = tag_entry(p, 273)
    patch(p, voff, fmt_of(ttype)[0], size + 1)
    add("bad_strip_offset_past_eof", "bad_strip_offset_past_eof.tif", "error",
        "the first StripOffsets entry patched past the end of the file", src)
    p = copy(out, src, "bad_zero_width.tif")
    _, voff, _, _ = tag_entry(p, 256)
    patch(p, voff, "I", 0)
    add("bad_zero_width", "bad_zero_width.tif", "error", "ImageWidth patched to 0", src)

    p = copy(out, src, "bad_magic.tif")
    patch(p, 2, "H", 43 + 1000)
    add("bad_magic", "bad_magic.tif", "error",
        "version number 1043 instead of 42 (TIFF) or 43 (BigTIFF)", src)
    p = copy(out, src, "bad_ifd_offset_past_eof.tif")
    patch(p, 4, "I", os.path.getsize(p) + 64)
    add("bad_ifd_offset_past_eof", "bad_ifd_offset_past_eof.tif", "error",
        "the header's first IFD offset points past the end of the file", src)

    # a loop in the IFD chain: page 0's next-IFD offset points at page 0
    p = copy(out, src, "bad_ifd_loop.tif")
    with open(p, "rb") as f:
        f.seek(4)
        first = struct.unpack("<I", f.read(4))[0]
        f.seek(first)
        n = struct.unpack("<H", f.read(2))[0]
    patch(p, first + 2 + 12 * n, "I", first)
    add("bad_ifd_loop", "bad_ifd_loop.tif", "no_panic",
        "the first IFD's next-IFD offset points at itself: an endless page chain; a reader "
        "may see one page or refuse, but must stop", src)
    return e


# --------------------------------------------------------------------------


def dump(manifest: dict) -> str:
    lines = ["{"]
    for key in ("format", "generator", "numpy", "tifffile", "imagecodecs", "pyvips", "libvips",
                "rasterio", "gdal"):
        lines.append(f" {json.dumps(key)}: {json.dumps(manifest[key])},")
    lines.append(' "cases": [')
    cases = manifest["cases"]
    for i, case in enumerate(cases):
        sep = "," if i + 1 < len(cases) else ""
        lines.append("  " + json.dumps(case, sort_keys=True, separators=(", ", ": ")) + sep)
    lines.append(" ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == manifest
    return text


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "tests", "data", "tiff")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    args = ap.parse_args(argv)
    out = args.out
    if os.path.isdir(out) and os.listdir(out):
        # the set is rewritten whole; refuse to wipe a directory that is not one
        if not os.path.exists(os.path.join(out, "cases.json")):
            ap.error(f"{out} is not empty and holds no cases.json; not overwriting it")
        shutil.rmtree(out)
    os.makedirs(out)

    # siblings (they import this module's helpers)
    import rasterio
    import tiff_fixtures_extra as extra
    import tiff_fixtures_libvips as libvips

    cases = []
    for case in valid_cases():
        for entry in write_valid(case, out):
            check_libtiff(out, entry)
            entry["writer"] = "tifffile"
            cases.append(entry)
    vips_entries, vips_versions = libvips.write_cases(out)
    for entry in extra.write_cases(out) + vips_entries:
        check_libtiff(out, entry)
        cases.append(entry)
    for entry in cases:
        path = os.path.join(out, entry["file"])
        entry["structure"] = extra.structure(path)
        if "geo" in entry:
            entry["rasterio"] = extra.rasterio_record(path, read_expected(out, entry))
    cases += hostile_cases(out)
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/make_tiff_fixtures.py",
        "numpy": np.__version__,
        "tifffile": tifffile.__version__,
        "imagecodecs": imagecodecs.__version__,
        "pyvips": vips_versions["pyvips"],
        "libvips": vips_versions["libvips"],
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "cases": cases,
    }
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        f.write(dump(manifest))
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write("# TIFF fixtures\n\nWritten by `data-scripts/make_tiff_fixtures.py`; do not "
                "edit by hand. That script's docstring:\n\n")
        f.write(__doc__.strip() + "\n")
    files = sorted(os.listdir(out))
    total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    print(f"wrote {len(cases)} cases, {len(files)} files to {out} ({total / 1024:.1f} KiB)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
