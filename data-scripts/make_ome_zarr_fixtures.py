#!/usr/bin/env python3
"""Write OME-Zarr (NGFF 0.4 and 0.5) fixtures, and what impart must read.

Usage::

    python3 data-scripts/make_ome_zarr_fixtures.py [OUT_DIR]

``OUT_DIR`` defaults to ``tests/data/ome_zarr``; the set is small (about
200 KiB) and committed. It needs the pinned packages of
``data-scripts/requirements-ome-zarr.txt`` (the ``ome-zarr`` package 0.18,
zarr-python 3.1, NumPy). Every value is an integer and every level is made
by slicing (``a[..., ::2, ::2]``), so nothing depends on the machine's
floating point: running the script twice, anywhere, gives identical data.

The images:

- ``v04_czyx.ome.zarr``: NGFF 0.4 (Zarr v2), written by ``ome-zarr``'s
  ``write_multiscale`` with ``FormatV04``: u16 ``(c, z, y, x)`` of
  ``(2, 10, 36, 44)``, three levels (y and x halved each time), scale
  ``z 2.0, y 0.5, x 0.5`` micrometres at level 0 and a translation, and a
  labels group (``labels/cells``, u16, two levels) by ``write_labels``;
- ``v05_tczyx.ome.zarr``: NGFF 0.5 (Zarr v3), the same writer with
  ``FormatV05``: f32 ``(t, c, z, y, x)`` of ``(2, 1, 6, 20, 24)``, two
  levels, a time axis in seconds, and labels ``labels/nuclei`` (u8);
- ``v05_handmade.ome.zarr``: NGFF 0.5 written with zarr-python 3 alone
  (metadata by hand): i16 ``(y, x)`` of ``(30, 50)``, levels at paths
  ``s0`` and ``s1`` (not ``0``, ``1``), each with scale and translation,
  and a multiscale-wide ``coordinateTransformations`` scale applied after
  them (NGFF's order), axes in millimetres.

``expected.json``::

    {"format": 1, "generator", "ome_zarr", "zarr", "numpy",
     "images": [{
        "path", "version" ("0.4" | "0.5"), "zarr_format" (2 | 3), "name",
        "axes": [{"name", "type", "unit"}],   (type and unit may be null)
        "levels": [{"path", "shape", "dtype", "scale", "translation"}],
            scale and translation: the level's transforms composed with
            the multiscale-wide ones, one per axis (world = index * scale
            + translation, computed here by hand)
        "labels": [names] (the image's labels group, or []),
        "cells": [{"level", "cell", "step", "index", "start",
                   "world_origin", "sum", "first"}]
            a cell of that grid (cell shape, step; cells cut at the
            edges) over that level: its start, its world
            origin (translation + scale * start, by hand), the sum of its
            voxels and its first 8 voxels in C order, read by zarr-python
     }]}
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import zarr
import ome_zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_multiscale, write_multiscale_labels

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "ome_zarr"


def pattern(shape, dtype, seed):
    """Deterministic integer data (no RNG whose stream could change)."""
    idx = np.indices(shape, dtype=np.int64)
    weights = [7, 13, 3, 5, 11][: len(shape)]
    v = sum(w * i for w, i in zip(weights, idx)) + seed
    v = (v * 2654435761) % 4093
    return v.astype(dtype)


def pyramid(a, levels, axes_halved):
    out = [a]
    for _ in range(1, levels):
        sl = tuple(slice(None, None, 2) if i in axes_halved else slice(None) for i in range(a.ndim))
        out.append(out[-1][sl])
    return out


def transforms(scales, translation):
    return [
        [{"type": "scale", "scale": list(s)}, {"type": "translation", "translation": list(translation)}]
        for s in scales
    ]


def cells_of(arrays, levels, global_scale, cases):
    """The expected cells: ``cases`` is [(level, cell, step, index)]."""
    out = []
    for level, cell, step, index in cases:
        a = arrays[level]
        lv = levels[level]
        start = [i * s for i, s in zip(index, step)]
        sl = tuple(slice(b, min(b + c, n)) for b, c, n in zip(start, cell, a.shape))
        block = np.asarray(a[sl])
        world = [t + s * b for t, s, b in zip(lv["translation"], lv["scale"], start)]
        out.append(
            {
                "level": level,
                "cell": cell,
                "step": step,
                "index": index,
                "start": start,
                "world_origin": world,
                "sum": float(block.astype(np.float64).sum()),
                "first": [float(x) for x in block.ravel()[:8]],
            }
        )
    return out


def level_entries(arrays, paths, scales, translation, global_scale):
    g = global_scale or [1.0] * arrays[0].ndim
    out = []
    for a, p, s in zip(arrays, paths, scales):
        # dataset transforms first, then the multiscale-wide scale
        out.append(
            {
                "path": p,
                "shape": list(a.shape),
                "dtype": str(np.dtype(a.dtype)),
                "scale": [si * gi for si, gi in zip(s, g)],
                "translation": [ti * gi for ti, gi in zip(translation, g)],
            }
        )
    return out


def v04():
    path = OUT / "v04_czyx.ome.zarr"
    data = pattern((2, 10, 36, 44), np.uint16, 1)
    arrays = pyramid(data, 3, {2, 3})
    scales = [[1.0, 2.0, 0.5 * 2**k, 0.5 * 2**k] for k in range(3)]
    translation = [0.0, -4.0, 10.0, 20.5]
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    write_multiscale(
        arrays,
        root,
        fmt=FormatV04(),
        axes=axes,
        coordinate_transformations=transforms(scales, translation),
        storage_options={"chunks": (1, 4, 16, 16)},
        name="v04 image",
    )
    labels = (pattern((10, 36, 44), np.uint16, 5) % 7).astype(np.uint16)
    # the label image's own pyramid, by slicing; the image's transforms
    # (without the channel axis), as a viewer overlays them
    write_multiscale_labels(
        pyramid(labels, 2, {1, 2}),
        root,
        name="cells",
        fmt=FormatV04(),
        axes=axes[1:],
        coordinate_transformations=transforms([s[1:] for s in scales[:2]], translation[1:]),
        storage_options={"chunks": (4, 16, 16)},
        label_metadata={"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]},
    )
    paths = [d["path"] for d in root.attrs["multiscales"][0]["datasets"]]
    levels = level_entries(arrays, paths, scales, translation, None)
    image = {
        "path": path.name,
        "version": "0.4",
        "zarr_format": 2,
        "name": "v04 image",
        "axes": [dict(a, type=a.get("type"), unit=a.get("unit")) for a in axes],
        "levels": levels,
        "labels": ["cells"],
        "cells": cells_of(
            arrays,
            levels,
            None,
            [(0, [1, 4, 16, 16], [1, 4, 16, 16], [1, 1, 1, 2]), (0, [2, 5, 12, 12], [2, 2, 6, 6], [0, 1, 3, 5]), (2, [1, 10, 9, 11], [1, 10, 9, 11], [1, 0, 0, 0])],
        ),
    }
    # the label image: its own multiscale, as its metadata gives it
    lab = zarr.open_group(str(path / "labels" / "cells"), mode="r")
    lab_arrays = [lab[d["path"]] for d in lab.attrs["multiscales"][0]["datasets"]]
    lab_levels = []
    for d, a in zip(lab.attrs["multiscales"][0]["datasets"], lab_arrays):
        t = {x["type"]: x for x in d["coordinateTransformations"]}
        lab_levels.append(
            {
                "path": d["path"],
                "shape": list(a.shape),
                "dtype": str(a.dtype),
                "scale": t["scale"]["scale"],
                "translation": t.get("translation", {"translation": [0.0] * a.ndim})["translation"],
            }
        )
    label = {
        "path": f"{path.name}/labels/cells",
        "version": "0.4",
        "zarr_format": 2,
        "name": lab.attrs["multiscales"][0].get("name"),
        "axes": [dict(a, type=a.get("type"), unit=a.get("unit")) for a in lab.attrs["multiscales"][0]["axes"]],
        "levels": lab_levels,
        "labels": [],
        "cells": cells_of(lab_arrays, lab_levels, None, [(0, [5, 18, 22], [5, 18, 22], [1, 1, 1])]),
    }
    return [image, label]


def v05():
    path = OUT / "v05_tczyx.ome.zarr"
    data = pattern((2, 1, 6, 20, 24), np.int32, 3).astype(np.float32) / 4
    arrays = pyramid(data, 2, {3, 4})
    scales = [[1.5, 1.0, 1.0, 0.25 * 2**k, 0.25 * 2**k] for k in range(2)]
    translation = [0.0, 0.0, 0.0, 0.0, 0.0]
    axes = [
        {"name": "t", "type": "time", "unit": "second"},
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    write_multiscale(
        arrays,
        root,
        fmt=FormatV05(),
        axes=axes,
        coordinate_transformations=[[{"type": "scale", "scale": s}] for s in scales],
        storage_options={"chunks": (1, 1, 3, 8, 8)},
        name="v05 image",
    )
    labels = (pattern((2, 1, 6, 20, 24), np.uint8, 9) % 5).astype(np.uint8)
    write_multiscale_labels(
        pyramid(labels, 2, {3, 4}),
        root,
        name="nuclei",
        fmt=FormatV05(),
        axes=axes,
        coordinate_transformations=[[{"type": "scale", "scale": s}] for s in scales],
        storage_options={"chunks": (1, 1, 3, 8, 8)},
    )
    paths = [d["path"] for d in root.attrs["ome"]["multiscales"][0]["datasets"]]
    levels = level_entries(arrays, paths, scales, translation, None)
    image = {
        "path": path.name,
        "version": "0.5",
        "zarr_format": 3,
        "name": "v05 image",
        "axes": [dict(a, type=a.get("type"), unit=a.get("unit")) for a in axes],
        "levels": levels,
        "labels": ["nuclei"],
        "cells": cells_of(arrays, levels, None, [(0, [1, 1, 3, 8, 8], [1, 1, 3, 8, 8], [1, 0, 1, 2, 1]), (1, [2, 1, 6, 5, 6], [1, 1, 3, 2, 3], [0, 0, 0, 3, 2])]),
    }
    return [image]


def handmade():
    path = OUT / "v05_handmade.ome.zarr"
    data = pattern((30, 50), np.int16, 11) - 2000
    arrays = pyramid(data, 2, {0, 1})
    scales = [[0.2, 0.1], [0.4, 0.2]]
    translations = [[5.0, -3.0], [5.1, -2.95]]
    global_scale = [2.0, 3.0]
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    for p, a in zip(["s0", "s1"], arrays):
        z = root.create_array(p, shape=a.shape, dtype=a.dtype, chunks=(8, 16), fill_value=0, dimension_names=("y", "x"))
        z[...] = a
    axes = [
        {"name": "y", "type": "space", "unit": "millimeter"},
        {"name": "x", "type": "space", "unit": "millimeter"},
    ]
    root.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "handmade",
                "axes": axes,
                "datasets": [
                    {
                        "path": p,
                        "coordinateTransformations": [
                            {"type": "scale", "scale": s},
                            {"type": "translation", "translation": t},
                        ],
                    }
                    for p, s, t in zip(["s0", "s1"], scales, translations)
                ],
                "coordinateTransformations": [{"type": "scale", "scale": global_scale}],
            }
        ],
    }
    levels = []
    for p, a, s, t in zip(["s0", "s1"], arrays, scales, translations):
        levels.append(
            {
                "path": p,
                "shape": list(a.shape),
                "dtype": str(a.dtype),
                "scale": [si * g for si, g in zip(s, global_scale)],
                "translation": [ti * g for ti, g in zip(t, global_scale)],
            }
        )
    image = {
        "path": path.name,
        "version": "0.5",
        "zarr_format": 3,
        "name": "handmade",
        "axes": axes,
        "levels": levels,
        "labels": [],
        "cells": cells_of(arrays, levels, global_scale, [(0, [10, 10], [10, 10], [2, 3]), (1, [6, 8], [3, 4], [2, 4])]),
    }
    return [image]


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    images = v04() + v05() + handmade()
    manifest = {
        "format": 1,
        "generator": "data-scripts/make_ome_zarr_fixtures.py",
        "ome_zarr": ome_zarr.__version__,
        "zarr": zarr.__version__,
        "numpy": np.__version__,
        "images": images,
    }
    (OUT / "expected.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"{len(images)} images, {size / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
