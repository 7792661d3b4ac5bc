#!/usr/bin/env python3
"""Record what the original Python ``impart`` 0.0.5 computes on large images.

Usage::

    python3 data-scripts/large_image_parity.py OUT_DIR [--reuse-images]

Normally run through ``data-scripts/large_image_parity.sh`` (which installs
libvips and a venv with the pinned ``data-scripts/requirements-impart.txt``);
``tests/large_image_parity.rs`` then checks impart against the records when
``IMPART_LARGE_IMAGES_DIR=OUT_DIR``.

What it does:

1. Writes three images with pyvips into ``OUT_DIR/images/`` (about 590 MB,
   50 s on 2 cores), the same RGB u8 content for each, a function of the
   pixel coordinates only::

       R = (x + y) % 256,  G = (3 x) % 251,  B = (y // 7) % 256

   - ``tiled20k.tif``: 20000 x 20000, tiled 256 x 256, deflate (libvips'
     default horizontal predictor), pyramidal, BigTIFF;
   - ``big16k.png``: 16000 x 16000, zlib level 1 (508 MB);
   - ``big16k.jpg``: 16000 x 16000, quality 90 (libvips then keeps chroma at
     full resolution, 4:4:4), baseline, libjpeg-turbo (60 MB).

   ``--reuse-images`` keeps images already there when ``images/params.json``
   says they were made by this script's ``IMAGE_FORMAT`` and the same libvips.

2. For each image and each grid of ``GRIDS`` builds the original's
   ``ImagePartition(path, cell_shape, stride)`` (default ``channels=(0, 1,
   2)``) and records its ``shape``, ``step_size`` and, for the sampled cells
   (the four corners, the middle, the middle of the last row and of the last
   column, and ``RANDOM_CELLS`` cells drawn with ``random.Random(SEED)``),
   ``compute_image_subregion(y, x)`` and the pixels of ``part[y, x].numpy()``;
   for a few multi-cell selections only the region.

3. Writes each sampled cell's pixels as raw bytes: ``OUT_DIR/cells/*.u8``,
   the ``.numpy()`` array's C-order bytes (height, width, channels; u8), so
   ``np.fromfile(f, np.uint8).reshape(pixel_shape)`` reads one back; the
   index records the shape and the bytes' SHA-256.

Index ``OUT_DIR/index.json``::

    {"format": 1, "impart": "0.0.5", "pyvips": ..., "libvips": ...,
     "images": [{
        "name": "tiff" | "png" | "jpeg", "file": "images/...",
        "exact": true for lossless formats (the test compares bit for bit),
        "image_shape": [height, width, bands] (libvips' view of the file),
        "grids": [{
           "cell": [height, width], "stride": s | [sy, sx] (as passed),
           "shape": the original's shape, "step": its step_size,
           "empty_last": [bool, bool] (the original counts a last cell that
                         starts at or after the image end; impart does not),
           "cells": [{"index": [y, x] as passed (may be negative),
                      "why": "corner" | "middle" | "last row" | ...,
                      "region": [left, top, width, height],
                      "pixels": "cells/...u8", "pixel_shape": [h, w, c],
                      "sha256": hex digest of the pixel bytes}],
           "selections": [{"s": NumPy text ("..,0", ":3,5:9"),
                           "region": [left, top, width, height]}]}]}]}

The records depend only on libvips, the pinned packages and the images; the
script writes the same index and cells for the same images (images are
rewritten each run unless reused; a JPEG encoder on another CPU may choose
other SIMD kernels, so the JPEG is recorded from the file just written).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pyvips
from impart import ImagePartition

FORMAT = 1
# Bump when the images' content or encoding changes.
IMAGE_FORMAT = 1
SEED = 12
RANDOM_CELLS = 4

# (cell (height, width), stride as passed to ImagePartition)
GRIDS = [
    ((512, 512), 1.0),
    ((512, 512), 0.5),
    ((1000, 700), (0.7, 0.45)),
    # steps that are not whole numbers (123.21, 95.09): starts rounded up
    ((333, 257), 0.37),
]

# Multi-cell selections recorded as regions only: (text, items).
S = slice
SELECTIONS = [
    ("...,0", (Ellipsis, 0)),
    (":3,5:9", (S(None, 3), S(5, 9))),
    ("-2:,-3:", (S(-2, None), S(-3, None))),
    ("1:4,-1", (S(1, 4), -1)),
]


def image(n: int) -> pyvips.Image:
    xy = pyvips.Image.xyz(n, n)
    x = xy[0]
    y = xy[1]
    return (
        ((x + y) % 256)
        .cast("uchar")
        .bandjoin([((x * 3) % 251).cast("uchar"), ((y // 7) % 256).cast("uchar")])
    )


IMAGES = [
    # name, file, exact, writer
    (
        "tiff",
        "tiled20k.tif",
        True,
        lambda p: image(20000).tiffsave(
            str(p),
            tile=True,
            tile_width=256,
            tile_height=256,
            compression="deflate",
            pyramid=True,
            bigtiff=True,
        ),
    ),
    ("png", "big16k.png", True, lambda p: image(16000).pngsave(str(p), compression=1)),
    ("jpeg", "big16k.jpg", False, lambda p: image(16000).jpegsave(str(p), Q=90)),
]


def libvips_version() -> str:
    return f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"


def make_images(out: Path, reuse: bool) -> None:
    d = out / "images"
    d.mkdir(parents=True, exist_ok=True)
    params = {"format": IMAGE_FORMAT, "libvips": libvips_version(), "pyvips": pyvips.__version__}
    stamp = d / "params.json"
    if (
        reuse
        and stamp.exists()
        and json.loads(stamp.read_text()) == params
        and all((d / f).exists() for _, f, _, _ in IMAGES)
    ):
        print(f"images: reusing {d}")
        return
    stamp.unlink(missing_ok=True)
    for _, f, _, write in IMAGES:
        t0 = time.perf_counter()
        write(d / f)
        mb = (d / f).stat().st_size / 1e6
        print(f"images: wrote {f} ({mb:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        sys.stdout.flush()
    stamp.write_text(json.dumps(params, indent=1) + "\n")


def resolve(i: int, n: int) -> int:
    return i + n if i < 0 else i


def sampled(shape: tuple[int, int]) -> list[tuple[tuple[int, int], str]]:
    """(index as passed, why) for the cells whose pixels are recorded; the
    same cell is listed once (under its first reason)."""
    n0, n1 = shape
    cand = [
        ((0, 0), "corner"),
        ((0, -1), "corner"),
        ((-1, 0), "corner"),
        ((-1, -1), "corner"),
        ((n0 // 2, n1 // 2), "middle"),
        ((-1, n1 // 2), "last row"),
        ((n0 // 2, -1), "last column"),
    ]
    rng = random.Random(SEED * 1_000_003 + n0 * 1009 + n1)
    cand += [((rng.randrange(n0), rng.randrange(n1)), "random") for _ in range(RANDOM_CELLS)]
    out, seen = [], set()
    for idx, why in cand:
        key = (resolve(idx[0], n0), resolve(idx[1], n1))
        if key not in seen:
            seen.add(key)
            out.append((idx, why))
    return out


def stride_name(stride) -> str:
    return "x".join(repr(s) for s in stride) if isinstance(stride, tuple) else repr(stride)


def record(out: Path) -> dict:
    cells_dir = out / "cells"
    cells_dir.mkdir(exist_ok=True)
    for old in cells_dir.glob("*.u8"):
        old.unlink()
    images = []
    for name, f, exact, _ in IMAGES:
        path = out / "images" / f
        t0 = time.perf_counter()
        grids = []
        bands = None
        for g, (cell, stride) in enumerate(GRIDS):
            part = ImagePartition(str(path), cell_shape=cell, stride=stride)
            height, width = part.image_shape
            bands = part.image.bands
            shape = tuple(part.shape)
            step = tuple(part.step_size)
            empty_last = [
                math.ceil((n - 1) * s) >= dim for n, s, dim in zip(shape, step, (height, width))
            ]
            cells = []
            for idx, why in sampled(shape):
                region = list(part.compute_image_subregion(*idx))
                pixels = part[idx].numpy()
                if pixels.ndim == 2:
                    pixels = pixels[:, :, None]
                if list(pixels.shape) != [region[3], region[2], bands]:
                    raise SystemExit(
                        f"{name} {cell} {stride} {idx}: pixels {pixels.shape}, region {region}"
                    )
                data = pixels.astype("u1", copy=False).tobytes(order="C")
                y, x = resolve(idx[0], shape[0]), resolve(idx[1], shape[1])
                rel = f"cells/{name}-g{g}-{y}_{x}.u8"
                (out / rel).write_bytes(data)
                cells.append(
                    {
                        "index": list(idx),
                        "why": why,
                        "region": region,
                        "pixels": rel,
                        "pixel_shape": list(pixels.shape),
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
                )
            sels = [
                {"s": text, "region": list(part.compute_image_subregion(*items))}
                for text, items in SELECTIONS
            ]
            grids.append(
                {
                    "cell": list(cell),
                    "stride": list(stride) if isinstance(stride, tuple) else stride,
                    "shape": list(shape),
                    "step": list(step),
                    "empty_last": empty_last,
                    "cells": cells,
                    "selections": sels,
                }
            )
            print(
                f"{name}: cell {cell} stride {stride_name(stride)}: grid {shape}, step {step}, "
                f"{len(cells)} cells recorded"
            )
            sys.stdout.flush()
        images.append(
            {
                "name": name,
                "file": f"images/{f}",
                "exact": exact,
                "image_shape": [height, width, bands],
                "grids": grids,
            }
        )
        print(f"{name}: recorded in {time.perf_counter() - t0:.1f} s")
    return {
        "format": FORMAT,
        "impart": version("impart"),
        "pyvips": pyvips.__version__,
        "libvips": libvips_version(),
        "generator": "data-scripts/large_image_parity.py",
        "about": "what the original impart 0.0.5 computes on large images; "
        "see the generator's docstring",
        "seed": SEED,
        "images": images,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="output directory (images/, cells/, index.json)")
    ap.add_argument(
        "--reuse-images",
        action="store_true",
        help="keep images already in OUT/images made by this script and this libvips",
    )
    args = ap.parse_args()
    # libvips' operation cache stays on (its default): the grids of one image
    # then share one decode of the file (a PNG or JPEG opened with random
    # access is decoded whole at the first crop: 3.5 s each for the PNG).
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_images(args.out, args.reuse_images)
    index = record(args.out)
    (args.out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {args.out / 'index.json'} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
