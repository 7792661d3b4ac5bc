#!/usr/bin/env python3
"""A stitched NIfTI as nibabel sees it: ``impart stitch`` on a committed
fixture scan (``tests/data/stitch/a_15x12x9.nii``, written by nibabel with a
rotated, scaled and shifted affine), then nibabel opens the outputs.

Usage::

    python3 data-scripts/stitch_nibabel_check.py IMPART_BIN [WORK_DIR]

Checks, for ``--reduce argmax`` into ``.nii.gz`` and the blended channels
into ``.nii``:

- nibabel loads both; the sform and qform (codes and matrices) are the
  scan's, so the label map overlays it in any viewer;
- the label map is ``uint8`` of the scan's shape and equals the labels that
  ``stitch_reference.py`` recorded for that case (``a_gauss_shift_s05``);
- the channels are ``float32``, ``(x, y, z, C)``, within 5e-7 of the
  recorded blend (channels first there).

Exits non-zero on any difference. Versions: ``requirements-nifti.txt``.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "stitch"
CASE = "a_gauss_shift_s05"


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    impart = argv[1]
    work = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkdtemp(prefix="impart-stitch-nib-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = json.loads((DATA / "cases.json").read_text())
    case = next(c for c in cases["cases"] if c["name"] == CASE)
    scan = DATA / case["input"]
    grid = ["--cell", ",".join(map(str, case["cell"])), "--stride", str(case["stride"]), "--edge", case["edge"]]
    common = [impart, "stitch", str(scan), *grid, "--synthetic", str(case["channels"]), "--blend", "gaussian", "--quiet"]
    labels_path = work / "labels.nii.gz"
    blend_path = work / "blend.nii"
    subprocess.run([*common, "--reduce", "argmax", "--out", str(labels_path)], check=True)
    subprocess.run([*common, "--out", str(blend_path)], check=True)

    src = nib.load(str(scan))
    problems = []
    for path in (labels_path, blend_path):
        img = nib.load(str(path))
        for what in ("sform", "qform"):
            ours, code = getattr(img, f"get_{what}")(coded=True)
            theirs, tcode = getattr(src, f"get_{what}")(coded=True)
            if int(code) != int(tcode) or not np.array_equal(ours, theirs):
                problems.append(f"{path.name}: {what} {ours.tolist()} (code {code}) is not the scan's {theirs.tolist()} (code {tcode})")
    labels = nib.load(str(labels_path))
    want = np.load(DATA / case["labels"])
    got = np.asanyarray(labels.dataobj)
    if got.dtype != np.uint8 or got.shape != tuple(src.shape):
        problems.append(f"labels: {got.dtype} {got.shape}, expected uint8 {tuple(src.shape)}")
    elif not np.array_equal(got, want):
        problems.append(f"labels: {(got != want).sum()} voxels differ from {case['labels']}")
    blend = np.asanyarray(nib.load(str(blend_path)).dataobj)
    want = np.moveaxis(np.load(DATA / case["expected"]), 0, -1)
    if blend.dtype != np.float32 or blend.shape != want.shape:
        problems.append(f"channels: {blend.dtype} {blend.shape}, expected float32 {want.shape}")
    else:
        worst = float(np.max(np.abs(blend - want) / (1 + np.abs(want))))
        if worst > 5e-7:
            problems.append(f"channels: {worst:.3g} from the recorded blend")
    for p in problems:
        print("stitch_nibabel_check:", p, file=sys.stderr)
    if not problems:
        print(f"nibabel reads impart's stitched {labels_path.name} and {blend_path.name}: the scan's sform and qform, "
              f"labels equal to {case['labels']}, channels (x, y, z, C) within 5e-7 of the reference")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
