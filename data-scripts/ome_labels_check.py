#!/usr/bin/env python3
"""Stitched OME-Zarr label images as the NGFF tools see them: ``impart
stitch --ome-labels`` into copies of the committed OME-Zarr fixtures (NGFF
0.4 on Zarr v2, 0.5 on Zarr v3), then ``ome-zarr-models`` (the NGFF schema
as pydantic models), the ``ome-zarr`` package's reader and zarr-python open
the results.

Usage::

    python3 data-scripts/ome_labels_check.py IMPART_BIN [WORK_DIR]

Checks, for each image:

- ``ome_zarr_models.open_ome_zarr`` validates the image group (its labels
  group now listing the new label image beside the old ones) and the label
  image as an NGFF image-label;
- ``ome_zarr.reader.Reader`` finds the label image among the image's nodes;
- zarr-python reads every level of ``labels/pred``: the stitched one is
  integer and equal, voxel for voxel, to the same stitch written as a
  plain Zarr array (``--out plain.zarr``); every level has the image
  level's path, shape, scale and translation, and is its neighbour towards
  the stitched level resampled by nearest neighbour in world coordinates
  (computed here with NumPy: source index ``rint((translation_k + scale_k *
  j - translation_f) / scale_f)``, clipped, ties to even).

Exits non-zero on any difference. Versions: ``requirements-ome-zarr.txt``.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import zarr
import ome_zarr_models
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data" / "ome_zarr"

CASES = [
    # image, level, cell, channels of the synthetic predictor
    ("v04_czyx.ome.zarr", 0, "2,5,18,22", 3),
    ("v04_czyx.ome.zarr", 1, "2,5,9,11", 2),
    ("v05_tczyx.ome.zarr", 1, "1,1,3,5,6", 2),
    # values of both signs: the synthetic argmax takes more than one class
    ("v05_handmade.ome.zarr", 0, "10,10", 3),
]


def run(impart, *args):
    subprocess.run([impart, *args], check=True, stdout=subprocess.DEVNULL)


def multiscale(attrs):
    return (attrs.get("ome") or attrs)["multiscales"][0]


def main():
    impart = str(Path(sys.argv[1]).resolve())
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for image, level, cell, channels in CASES:
        name = f"{image}-level{level}"
        path = work / name
        shutil.copytree(FIXTURES / image, path)
        common = [str(path), "--level", str(level), "--cell", cell, "--stride", "0.5",
                  "--synthetic", str(channels), "--reduce", "argmax", "--quiet"]
        run(impart, "stitch", *common, "--out", str(path), "--ome-labels", "pred")
        plain = work / f"{name}-plain.zarr"
        run(impart, "stitch", *common, "--out", str(plain))

        # the NGFF schema, as ome-zarr-models has it
        img = ome_zarr_models.open_ome_zarr(zarr.open_group(str(path), mode="r"))
        lab = ome_zarr_models.open_ome_zarr(zarr.open_group(str(path / "labels" / "pred"), mode="r"))
        kinds = (type(img).__name__, type(lab).__name__)
        assert kinds == ("Image", "ImageLabel"), kinds
        listed = zarr.open_group(str(path / "labels"), mode="r").attrs
        listed = (listed.get("ome") or listed)["labels"]
        before = json.loads((FIXTURES / "expected.json").read_text())
        before = next(i["labels"] for i in before["images"] if i["path"] == image)
        assert listed == before + ["pred"], listed

        # the ome-zarr package's reader walks into the labels
        nodes = list(Reader(parse_url(str(path)))())
        label_nodes = [n for n in nodes if str(n.zarr).split(" [")[0].rstrip("/").endswith("labels/pred")]
        assert label_nodes, [str(n.zarr) for n in nodes]

        # the values and the world map, level by level
        root = zarr.open_group(str(path), mode="r")
        lab_group = zarr.open_group(str(path / "labels" / "pred"), mode="r")
        img_ds = multiscale(root.attrs)["datasets"]
        lab_ds = multiscale(lab_group.attrs)["datasets"]
        assert [d["path"] for d in lab_ds] == [d["path"] for d in img_ds], lab_ds

        def transform(d, ndim):
            t = {x["type"]: x for x in d["coordinateTransformations"]}
            return (np.array(t["scale"]["scale"], dtype=np.float64),
                    np.array(t.get("translation", {"translation": [0.0] * ndim})["translation"]))

        def image_transform(d, ndim):
            # the dataset's, then the multiscale-wide ones (NGFF's order)
            scale, translation = transform(d, ndim)
            wide = multiscale(root.attrs).get("coordinateTransformations")
            if wide:
                g_s, g_t = transform({"coordinateTransformations": wide}, ndim)
                scale, translation = scale * g_s, translation * g_s + g_t
            return scale, translation

        stitched = lab_group[lab_ds[level]["path"]][...]
        want = zarr.open_array(str(plain), mode="r")[...]
        assert stitched.dtype.kind == "u", stitched.dtype
        assert np.array_equal(stitched, want), "the stitched level differs from the plain stitch"
        assert int(stitched.max()) < channels
        if image.startswith("v05_handmade"):
            assert len(np.unique(stitched)) > 1, "one class only: a weak check"
        # each level from its neighbour towards the stitched one, by nearest
        # neighbour in world coordinates, axis by axis (ties to even: rint)
        tr = [image_transform(d, stitched.ndim) for d in img_ds]
        shapes = [root[d["path"]].shape for d in img_ds]
        expected = {level: stitched}

        def resample(src, f, t):
            (s_f, t_f), (s_t, t_t) = tr[f], tr[t]
            idx = []
            for a in range(src.ndim):
                j = np.arange(shapes[t][a], dtype=np.float64)
                i = np.rint((t_t[a] + s_t[a] * j - t_f[a]) / s_f[a])
                idx.append(np.clip(i, 0, src.shape[a] - 1).astype(np.int64))
            return src[np.ix_(*idx)]

        for k in range(level + 1, len(img_ds)):
            expected[k] = resample(expected[k - 1], k - 1, k)
        for k in range(level - 1, -1, -1):
            expected[k] = resample(expected[k + 1], k + 1, k)
        for k, dl in enumerate(lab_ds):
            arr = lab_group[dl["path"]]
            assert arr.shape == shapes[k], (k, arr.shape)
            assert np.allclose(transform(dl, arr.ndim)[0], tr[k][0], rtol=1e-12, atol=0), (k, dl)
            assert np.allclose(transform(dl, arr.ndim)[1], tr[k][1], rtol=1e-12, atol=1e-12), (k, dl)
            assert np.array_equal(arr[...], expected[k]), f"level {k} is not the nearest-neighbour resampling"
        listed_levels = len(lab_ds)
        print(json.dumps({"image": name, "ngff": kinds, "labels": listed, "levels": listed_levels,
                          "shape": list(stitched.shape), "zarr_format": lab_group.metadata.zarr_format,
                          "classes": int(len(np.unique(stitched)))}))
    print("stitched OME-Zarr label images: valid NGFF, read by ome-zarr, equal to the plain stitch")


if __name__ == "__main__":
    main()
