#!/usr/bin/env python3
"""An independent NumPy reference for stitching, and the fixtures it writes.

Usage::

    python3 data-scripts/stitch_reference.py make-fixtures [OUT_DIR]
    python3 data-scripts/stitch_reference.py check [OUT_DIR]
    python3 data-scripts/stitch_reference.py selftest [OUT_DIR]

``make-fixtures`` writes ``OUT_DIR`` (default ``tests/data/stitch`` relative to
the crate root): the input volumes, ``cases.json`` and, per case, the blended
prediction and its argmax labels (and for some a threshold mask). It keeps
entries other scripts added to ``cases.json`` (``source`` other than
``"numpy"``, e.g. ``stitch_monai.py``'s), and the files they name. ``check``
recomputes every ``"numpy"`` case from its input and compares it with the
committed files, byte for byte, and checks that the inputs are the ones this
script writes. ``selftest`` recomputes every ``"numpy"`` case voxel by voxel
(:func:`brute_force`, a second, slow implementation of the same formulas) and
compares. Versions: ``data-scripts/requirements-nifti.txt`` (numpy,
nibabel).

Everything here is written from the formulas of issue 13, not from impart's
code. The axes of a volume are those of the array nibabel returns (NIfTI
``i, j, k``; a RAW input is C order with the shape given). Outputs are C-order
``.npy`` of shape ``(C, *spatial)`` (float32) or ``spatial`` (uint8).

The grid along one axis (volume extent ``dim``, cell extent ``cell``, step
``step``, a float: ``cell * stride`` in float64, or an absolute step):

- ``n = 1 + ceil(max(dim - cell, 0) / step)``; if ``n > 1`` and
  ``ceil((n - 1) * step) >= dim``, ``n -= 1``;
- ``start_i = ceil(i * step)``;
- ``clip``: cell ``i`` covers ``[start_i, min(ceil(cell + i * step), dim))``;
- ``shift``: if ``cell > dim``, ``[0, dim)`` (one cell, clipped); else
  ``s = min(start_i, dim - cell)``, ``[s, s + cell)``;
- ``pad``: ``[start_i, start_i + cell)``; voxels ``>= dim`` are zeros when the
  cell is materialized and are dropped when it is stitched back.

Each cell's "full-cell start" is ``start_i`` (``clip``, ``pad``), ``s``
(``shift``) or 0 (``shift`` with ``cell > dim``): its weights are those of a
full cell (``cell`` voxels) placed there and cropped to what it covers
(weight at voxel ``p`` = ``W[p - start]``), and its exact centre is
``start + (cell - 1) / 2``. N-d cells are products; cells are visited in C
order of their index (last axis fastest).

The synthetic predictor, ``C`` channels, on the cell as materialized (float32,
with the zero padding for ``pad``): ``x = v / (1 + |v|)`` (float32), ``m`` =
the mean of ``x`` (the exact sum rounded to float64, ``math.fsum``, divided by
the voxel count in float64, cast to float32; for the integer-valued inputs the
float64 sum is exact in any order), channel ``c`` = ``s_c * x + k_c * m`` in
float32 with ``s_c = float32(sin(c + 1))``, ``k_c = float32(cos(c + 1))``.

Transcendentals are taken in float64 (Python's ``math``, the C library's
``sin``/``cos``/``exp``) and rounded once to float32, i.e. the correctly
rounded float32 value in practice. NumPy's own float32 ``sin``/``cos``/``exp``
are not used: their SIMD loops are faithful (within 1-2 ulp), not correctly
rounded, and depend on the CPU (``np.sin(np.float32(1)) = 0.841471`` where
``float32(sin(1)) = 0.84147096``, one ulp apart).

Weights of a full cell ``(n_0, .., n_k)``:

- ``mean``: 1.
- ``gaussian``: per axis ``x_i = i - (n - 1) / 2`` (float32), ``sigma =
  sigma_scale * n`` (float64), ``g = float32(exp(float32(x * x) /
  float32(-2 sigma^2)))``, the float32 division done as float32; ``W`` = the
  outer product in float32 (``((g_0 g_1) g_2)``), divided by its maximum
  (float32), then values below ``float32(1e-3)`` set to it. (MONAI 1.6.1's
  ``compute_importance_map`` does not divide by the maximum: see
  ``stitch_monai.py``.)
- ``hann``: per axis ``float32(0.5 * (1 - cos(2 pi (i + 1) / (n + 1))))`` in
  float64, the product in float32 in axis order.

Blending: per voxel ``sum(w * p) / sum(w)`` over the covering cells, the
products ``w * p`` rounded to float32 and added in float32 in C order of the
cells, the division in float32. ``crop``: each voxel takes the value of the
cell that owns it; per axis the owner is the covering cell whose exact centre
is nearest, ties to the lower index; the N-d owner combines the per-axis ones.

Labels: ``argmax`` over channels (the first maximum), uint8. Threshold: one
channel ``> T``, uint8.

The bytes written do not depend on the CPU: only IEEE float32 ``+ - * /``,
``abs``, comparisons and ``math`` functions of float64 arguments are used.
"""

import hashlib
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

F32 = np.float32
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "stitch"
FLOOR = F32(1e-3)
FORMAT = 1


# ---------------------------------------------------------------------------
# The grid


def axis_step(cell, stride=None, step=None):
    """The step along one axis: ``cell * stride`` (float64) or ``step``."""
    if step is not None:
        return float(step)
    return float(cell) * float(stride)


def axis_count(dim, cell, step):
    n = 1 + math.ceil(max(dim - cell, 0) / step)
    if n > 1 and math.ceil((n - 1) * step) >= dim:
        n -= 1
    return n


def axis_cells(dim, cell, step, edge):
    """The cells along one axis, as dicts:

    ``start`` full-cell start (weights, centre), ``lo``..``hi`` the range the
    cell materializes (``hi`` may pass ``dim`` under ``pad``), ``end`` =
    ``min(hi, dim)`` the end of what it writes back."""
    n = axis_count(dim, cell, step)
    out = []
    for i in range(n):
        start = math.ceil(i * step)
        if edge == "clip":
            lo, hi = start, min(math.ceil(cell + i * step), dim)
        elif edge == "shift":
            if cell > dim:
                start, lo, hi = 0, 0, dim
            else:
                start = min(start, dim - cell)
                lo, hi = start, start + cell
        elif edge == "pad":
            lo, hi = start, start + cell
        else:
            raise ValueError(edge)
        assert lo < min(hi, dim), (dim, cell, step, edge, i)
        out.append({"start": start, "lo": lo, "hi": hi, "end": min(hi, dim)})
    return out


def grid(shape, cell, steps, edge):
    """Per axis, the list of :func:`axis_cells`."""
    return [axis_cells(d, c, s, edge) for d, c, s in zip(shape, cell, steps)]


def cells_c_order(axes):
    """Index tuples in C order (last axis fastest)."""
    return itertools.product(*[range(len(a)) for a in axes])


def crop_owners(dim, cell, cells):
    """``owner[v]``: per voxel of ``0..dim`` the covering cell whose exact
    centre ``start + (cell - 1) / 2`` is nearest, ties to the lower index
    (compared as the integers ``|2 v - (2 start + cell - 1)|``)."""
    owner = np.full(dim, -1, dtype=np.int64)
    for v in range(dim):
        best = None
        for i, c in enumerate(cells):
            if c["lo"] <= v < c["end"]:
                dist = abs(2 * v - (2 * c["start"] + cell - 1))
                if best is None or dist < best[0]:
                    best = (dist, i)
        assert best is not None, (dim, cell, v)
        owner[v] = best[1]
    return owner


# ---------------------------------------------------------------------------
# The synthetic predictor


def channel_coefficients(channels):
    s = [F32(math.sin(c + 1)) for c in range(channels)]
    k = [F32(math.cos(c + 1)) for c in range(channels)]
    return s, k


def predict(v, channels):
    """``(C, *v.shape)`` float32: channel c = sin(c+1) x + cos(c+1) m."""
    v = np.asarray(v, dtype=F32)
    x = v / (F32(1) + np.abs(v))
    assert x.dtype == F32
    m = F32(math.fsum(x.astype(np.float64).ravel().tolist()) / x.size)
    s, k = channel_coefficients(channels)
    out = np.empty((channels,) + v.shape, dtype=F32)
    for c in range(channels):
        out[c] = s[c] * x + (k[c] * m)
    return out


# ---------------------------------------------------------------------------
# Weights


def gaussian_1d(n, sigma_scale):
    sigma = float(n) * float(sigma_scale)
    x = np.array([i - (n - 1) / 2.0 for i in range(n)], dtype=F32)
    q = (x * x) / F32(-2.0 * sigma**2)
    return np.array([math.exp(float(t)) for t in q], dtype=F32)


def hann_1d(n):
    return np.array(
        [0.5 * (1.0 - math.cos(2.0 * math.pi * (i + 1) / (n + 1))) for i in range(n)],
        dtype=F32,
    )


def outer(vectors):
    w = vectors[0]
    for g in vectors[1:]:
        w = w[..., None] * g
    assert w.dtype == F32
    return w


def full_weights(cell, blend, sigma_scale=None, normalize=False):
    """The weights of a full cell of shape ``cell`` (float32): for the
    gaussian, MONAI 1.6's importance map (the separable product floored at
    1e-3, not divided by its maximum; ``normalize`` divides, as older MONAI
    and the first draft of the issue did)."""
    cell = tuple(int(c) for c in cell)
    if blend in ("mean", "crop"):
        return np.ones(cell, dtype=F32)
    if blend == "gaussian":
        scales = sigma_scale if sigma_scale is not None else [0.125] * len(cell)
        if not isinstance(scales, (list, tuple)):
            scales = [scales] * len(cell)
        w = outer([gaussian_1d(n, s) for n, s in zip(cell, scales)])
        if normalize:
            w = w / w.max()
        return np.maximum(w, FLOOR)
    if blend == "hann":
        return outer([hann_1d(n) for n in cell])
    raise ValueError(blend)


# ---------------------------------------------------------------------------
# Stitching


def materialize(vol, cells):
    """The cell as the predictor sees it: ``lo..hi`` per axis, zeros past the
    volume."""
    shape = tuple(c["hi"] - c["lo"] for c in cells)
    out = np.zeros(shape, dtype=F32)
    src = tuple(slice(c["lo"], c["end"]) for c in cells)
    dst = tuple(slice(0, c["end"] - c["lo"]) for c in cells)
    out[dst] = vol[src]
    return out


def stitch(vol, cell, steps, edge, blend, channels, sigma_scale=None, predictor=None):
    """The stitched prediction ``(C, *vol.shape)`` float32."""
    vol = np.asarray(vol, dtype=F32)
    predictor = predictor or predict
    axes = grid(vol.shape, cell, steps, edge)
    spatial = vol.shape
    if blend == "crop":
        owners = [crop_owners(d, c, a) for d, c, a in zip(spatial, cell, axes)]
        out = np.full((channels,) + spatial, np.nan, dtype=F32)
        for idx in cells_c_order(axes):
            cs = [a[i] for a, i in zip(axes, idx)]
            p = predictor(materialize(vol, cs), channels)
            # the voxels this cell owns: per axis a contiguous range
            dst, src = [slice(None)], [slice(None)]
            empty = False
            for ax, (c, i) in enumerate(zip(cs, idx)):
                own = np.nonzero(owners[ax] == i)[0]
                if own.size == 0:
                    empty = True
                    break
                a, b = int(own[0]), int(own[-1]) + 1
                assert b - a == own.size and c["lo"] <= a and b <= c["end"]
                dst.append(slice(a, b))
                src.append(slice(a - c["lo"], b - c["lo"]))
            if not empty:
                out[tuple(dst)] = p[tuple(src)]
        assert not np.isnan(out).any()
        return out
    w_full = full_weights(cell, blend, sigma_scale)
    num = np.zeros((channels,) + spatial, dtype=F32)
    den = np.zeros(spatial, dtype=F32)
    for idx in cells_c_order(axes):
        cs = [a[i] for a, i in zip(axes, idx)]
        p = predictor(materialize(vol, cs), channels)
        w = w_full[tuple(slice(c["lo"] - c["start"], c["hi"] - c["start"]) for c in cs)]
        assert w.shape == p.shape[1:], (w.shape, p.shape)
        keep = tuple(slice(0, c["end"] - c["lo"]) for c in cs)
        w = w[keep]
        p = p[(slice(None),) + keep]
        region = tuple(slice(c["lo"], c["end"]) for c in cs)
        num[(slice(None),) + region] += w * p
        den[region] += w
    assert (den > 0).all()
    out = num / den
    assert out.dtype == F32
    return out


def argmax_labels(pred):
    assert pred.shape[0] <= 256
    return np.argmax(pred, axis=0).astype(np.uint8)


def threshold_mask(pred, channel, value):
    return (pred[channel] > F32(value)).astype(np.uint8)


def near_ties(pred, tol=1e-5):
    """Voxels whose two largest channels are within ``tol`` (argmax there is
    fragile); 0 for one channel."""
    if pred.shape[0] < 2:
        return 0
    top = np.sort(pred, axis=0)
    return int(((top[-1] - top[-2]) <= tol).sum())


# ---------------------------------------------------------------------------
# Inputs


def quat2mat(b, c, d):
    """Rotation matrix of the unit quaternion (a, b, c, d), a = sqrt(1 - b² -
    c² - d²), elementwise (the NIfTI-1 formula)."""
    a = math.sqrt(1.0 - (b * b + c * c + d * d))
    return [
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ]


# Short dyadic b, c, d: b² + c² + d² is exact, every reader gets the same a.
QUATERN = (0.125, -0.25, 0.0625)
ZOOMS = (0.75, 1.25, 2.5)
OFFSET = (-41.5, 17.25, 3.0)


def affine():
    rot = quat2mat(*QUATERN)
    a = np.eye(4)
    for i in range(3):
        for j in range(3):
            a[i, j] = rot[i][j] * ZOOMS[j]
        a[i, 3] = OFFSET[i]
    return a


def write_nifti(path, arr):
    """``arr`` (float32, 3-D) as NIfTI-1 with sform = qform = :func:`affine`
    (codes 1), the qform fields written exactly (not derived by nibabel)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr.set_data_shape(arr.shape)
    img = nib.Nifti1Image(arr, None, header=hdr)
    h = img.header
    h["qform_code"] = 1
    h["quatern_b"], h["quatern_c"], h["quatern_d"] = QUATERN
    h["qoffset_x"], h["qoffset_y"], h["qoffset_z"] = OFFSET
    pixdim = np.array(h["pixdim"])
    pixdim[0] = 1.0
    pixdim[1:4] = ZOOMS
    h["pixdim"] = pixdim
    a = affine()
    h["sform_code"] = 1
    h["srow_x"], h["srow_y"], h["srow_z"] = a[0], a[1], a[2]
    h["xyzt_units"] = 2  # mm
    nib.save(img, str(path))
    back = nib.load(str(path))
    assert back.get_data_dtype() == np.float32 and back.shape == arr.shape
    assert np.array_equal(np.asarray(back.dataobj), arr)
    assert np.allclose(back.affine, a, atol=1e-5), (back.affine, a)
    assert int(back.header["qform_code"]) == 1 and int(back.header["sform_code"]) == 1


def read_input(out_dir, spec):
    path = Path(out_dir) / spec["file"]
    if spec["format"] == "nifti":
        import nibabel as nib

        img = nib.load(str(path))
        arr = np.asarray(img.dataobj)
        assert arr.dtype == F32
        return arr
    assert spec["format"] == "raw" and spec["dtype"] == "<f4" and spec["order"] == "C"
    return np.fromfile(path, dtype="<f4").reshape(spec["shape"]).astype(F32)


def make_inputs():
    """name -> (spec, array). Integer-valued except the RAW one."""
    vols = {}

    def ints(seed, shape, lo=-40, hi=40):
        rng = np.random.default_rng(seed)
        return rng.integers(lo, hi + 1, size=shape).astype(F32)

    # a smooth ramp plus integer noise, so the cell means differ
    def ramp(seed, shape):
        idx = np.indices(shape)
        base = (3 * idx[0] - 2 * idx[1] + idx[2]).astype(np.int64) if len(shape) == 3 else 0
        return (ints(seed, shape, -25, 25) + base.astype(F32)).astype(F32)

    vols["a"] = ({"file": "a_15x12x9.nii", "format": "nifti", "shape": [15, 12, 9]}, ramp(13, (15, 12, 9)))
    vols["b"] = ({"file": "b_31x27x1.nii", "format": "nifti", "shape": [31, 27, 1]}, ramp(17, (31, 27, 1)))
    vols["d"] = ({"file": "d_7x16x9.nii", "format": "nifti", "shape": [7, 16, 9]}, ints(19, (7, 16, 9)))
    rng = np.random.default_rng(23)
    raw = rng.normal(0.0, 2.0, size=(12, 10, 8)).astype(F32)
    vols["c"] = (
        {"file": "c_12x10x8_f32le_c.raw", "format": "raw", "shape": [12, 10, 8], "dtype": "<f4", "order": "C",
         "offset": 0},
        raw,
    )
    return vols


def write_inputs(out_dir):
    specs = {}
    for key, (spec, arr) in make_inputs().items():
        path = Path(out_dir) / spec["file"]
        if spec["format"] == "nifti":
            write_nifti(path, arr)
            import nibabel as nib

            # as nibabel reads it back: the sform, stored as float32
            spec = dict(spec, affine=[[float(v) for v in row] for row in nib.load(str(path)).affine])
        else:
            arr.astype("<f4").tofile(path)
        spec = dict(spec, sha256=sha256(path))
        specs[key] = spec
    return specs


# ---------------------------------------------------------------------------
# Cases

#   name, input, cell, stride | step, edge, blend, sigma_scale, channels, threshold
CASES = [
    ("a_mean_clip_s1", "a", [8, 6, 5], {"stride": 1.0}, "clip", "mean", None, 3, None),
    ("a_gauss_shift_s05", "a", [8, 6, 4], {"stride": 0.5}, "shift", "gaussian", None, 3, None),
    ("a_hann_shift_s05", "a", [8, 8, 4], {"stride": 0.5}, "shift", "hann", None, 3, None),
    ("a_gauss_pad_s07", "a", [8, 6, 5], {"stride": 0.7}, "pad", "gaussian", None, 5, None),
    ("a_crop_clip_s07", "a", [8, 6, 5], {"stride": 0.7}, "clip", "crop", None, 5, None),
    ("a_gauss_sigma_clip_step", "a", [8, 6, 5], {"step": [5.0, 4.5, 3.0]}, "clip", "gaussian",
     [0.25, 0.125, 0.5], 3, None),
    ("a_hann_pad_s05", "a", [7, 6, 5], {"stride": 0.5}, "pad", "hann", None, 1, {"channel": 0, "value": 0.1}),
    ("a_crop_shift_s05", "a", [7, 6, 4], {"stride": 0.5}, "shift", "crop", None, 3, None),
    ("a_hann_clip_s07", "a", [9, 7, 6], {"stride": 0.7}, "clip", "hann", None, 3, None),
    ("b_mean_shift_s07", "b", [9, 8, 1], {"stride": 0.7}, "shift", "mean", None, 3, None),
    ("b_gauss_clip_s05", "b", [10, 8, 1], {"stride": 0.5}, "clip", "gaussian", None, 5, None),
    ("b_crop_pad_step", "b", [9, 8, 1], {"step": [6.0, 5.5, 1.0]}, "pad", "crop", None, 3, None),
    ("d_big_gauss_clip_s05", "d", [10, 8, 4], {"stride": 0.5}, "clip", "gaussian", None, 3, None),
    ("d_big_hann_shift_s05", "d", [10, 8, 4], {"stride": 0.5}, "shift", "hann", None, 1,
     {"channel": 0, "value": -0.05}),
    ("d_big_mean_pad_s05", "d", [10, 8, 4], {"stride": 0.5}, "pad", "mean", None, 3, None),
    ("d_big_crop_pad_s07", "d", [10, 8, 4], {"stride": 0.7}, "pad", "crop", None, 3, None),
    ("c_raw_gauss_shift_s05", "c", [6, 4, 4], {"stride": 0.5}, "shift", "gaussian", None, 3,
     {"channel": 1, "value": 0.0}),
    ("c_raw_gauss_sigma_pad_step", "c", [5, 4, 3], {"step": [2.5, 3.0, 2.0]}, "pad", "gaussian",
     [0.3, 0.2, 0.125], 5, None),
]


def case_steps(cell, how):
    if "step" in how:
        return [axis_step(c, step=s) for c, s in zip(cell, how["step"])]
    return [axis_step(c, stride=how["stride"]) for c in cell]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


def compute_case(vol, case):
    name, key, cell, how, edge, blend, sigma, channels, thr = case
    steps = case_steps(cell, how)
    pred = stitch(vol, cell, steps, edge, blend, channels, sigma)
    return pred, argmax_labels(pred)


def grid_summary(shape, cell, steps, edge):
    axes = grid(shape, cell, steps, edge)
    return [
        {"n": len(a), "start": [c["start"] for c in a], "lo": [c["lo"] for c in a], "end": [c["end"] for c in a]}
        for a in axes
    ]


def rounding_notes(shape, cell, steps):
    """Axes where ``ceil(cell + i * step) != cell + ceil(i * step)`` (the clip
    end is then not ``start + cell``)."""
    notes = []
    for ax, (d, c, s) in enumerate(zip(shape, cell, steps)):
        for i in range(axis_count(d, c, s)):
            if math.ceil(c + i * s) != c + math.ceil(i * s):
                notes.append({"axis": ax, "cell": i})
    return notes


def load_manifest(out_dir):
    path = Path(out_dir) / "cases.json"
    if path.exists():
        return json.loads(path.read_text())
    return None


def write_manifest(out_dir, manifest):
    text = json.dumps(manifest, indent=1) + "\n"
    (Path(out_dir) / "cases.json").write_text(text)


def versions():
    import nibabel

    return {"numpy": np.__version__, "nibabel": nibabel.__version__, "python": sys.version.split()[0]}


def make_fixtures(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = write_inputs(out_dir)
    vols = {k: read_input(out_dir, s) for k, s in specs.items()}
    entries = []
    for case in CASES:
        name, key, cell, how, edge, blend, sigma, channels, thr = case
        steps = case_steps(cell, how)
        pred, labels = compute_case(vols[key], case)
        exp_file, lab_file = f"{name}.npy", f"{name}_labels.npy"
        save_npy(out_dir / exp_file, pred)
        save_npy(out_dir / lab_file, labels)
        entry = {
            "name": name,
            "source": "numpy",
            "input": specs[key]["file"],
            "shape": list(vols[key].shape),
            "cell": cell,
            "stride": how.get("stride"),
            "step": how.get("step"),
            "steps": steps,
            "edge": edge,
            "blend": blend,
            "sigma_scale": sigma,
            "gaussian_normalized": False if blend == "gaussian" else None,
            "channels": channels,
            "expected": exp_file,
            "labels": lab_file,
            "threshold": None,
            "grid": grid_summary(vols[key].shape, cell, steps, edge),
            "clip_end_rounding": rounding_notes(vols[key].shape, cell, steps),
            "argmax_near_ties_1e-5": near_ties(pred),
            "sha256": {exp_file: sha256(out_dir / exp_file), lab_file: sha256(out_dir / lab_file)},
        }
        if thr is not None:
            thr_file = f"{name}_thr.npy"
            save_npy(out_dir / thr_file, threshold_mask(pred, thr["channel"], thr["value"]))
            entry["threshold"] = dict(thr, file=thr_file)
            entry["sha256"][thr_file] = sha256(out_dir / thr_file)
        entries.append(entry)
    old = load_manifest(out_dir)
    kept = [c for c in (old or {}).get("cases", []) if c.get("source") != "numpy"]
    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/stitch_reference.py",
        "versions": dict((old or {}).get("versions", {}), **{"reference": versions()}),
        "axes": "the array axes nibabel returns (NIfTI i, j, k); RAW inputs are C order with the shape given",
        "arrays": "expected: float32 (C, *shape) C-order .npy; labels and threshold masks: uint8 shape .npy",
        "inputs": list(specs.values()),
        "cases": entries + kept,
    }
    write_manifest(out_dir, manifest)
    print(f"wrote {len(entries)} numpy cases to {out_dir} (kept {len(kept)} other entries)")


def check(out_dir):
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    specs = {s["file"]: s for s in manifest["inputs"]}
    bad = 0
    # the inputs are those this script writes
    for key, (spec, arr) in make_inputs().items():
        got = read_input(out_dir, specs[spec["file"]])
        if not np.array_equal(got, arr):
            print(f"input {spec['file']}: differs")
            bad += 1
        if sha256(out_dir / spec["file"]) != specs[spec["file"]]["sha256"]:
            print(f"input {spec['file']}: sha256 differs")
            bad += 1
    by_name = {c[0]: c for c in CASES}
    numpy_cases = [c for c in manifest["cases"] if c["source"] == "numpy"]
    if sorted(c["name"] for c in numpy_cases) != sorted(by_name):
        print("the numpy cases listed differ from this script's")
        bad += 1
    for entry in numpy_cases:
        case = by_name[entry["name"]]
        vol = read_input(out_dir, specs[entry["input"]])
        pred, labels = compute_case(vol, case)
        want = np.load(out_dir / entry["expected"])
        if want.dtype != F32 or not np.array_equal(want, pred):
            print(f"{entry['name']}: expected differs (max {np.abs(want - pred).max()})")
            bad += 1
        if not np.array_equal(np.load(out_dir / entry["labels"]), labels):
            print(f"{entry['name']}: labels differ")
            bad += 1
        if entry["threshold"]:
            t = entry["threshold"]
            if not np.array_equal(np.load(out_dir / t["file"]), threshold_mask(pred, t["channel"], t["value"])):
                print(f"{entry['name']}: threshold mask differs")
                bad += 1
        for f, h in entry["sha256"].items():
            if sha256(out_dir / f) != h:
                print(f"{entry['name']}: {f} sha256 differs")
                bad += 1
    print(f"{len(numpy_cases)} cases checked, {bad} problems")
    return bad == 0


def brute_force(vol, cell, steps, edge, blend, channels, sigma_scale=None):
    """:func:`stitch` again, voxel by voxel from the formulas (a cross-check of
    the slicing in :func:`stitch`): per voxel, the covering cells in C order,
    each weight from the 1-D profiles at ``p - start``."""
    vol = np.asarray(vol, dtype=F32)
    axes = grid(vol.shape, cell, steps, edge)
    nd = len(cell)
    if blend == "gaussian":
        scales = sigma_scale or [0.125] * nd
        prof = [gaussian_1d(n, s) for n, s in zip(cell, scales)]
    elif blend == "hann":
        prof = [hann_1d(n) for n in cell]
    else:
        prof = [np.ones(n, dtype=F32) for n in cell]
    s, k = channel_coefficients(channels)
    means = {}
    out = np.zeros((channels,) + vol.shape, dtype=F32)
    for p in itertools.product(*[range(d) for d in vol.shape]):
        covering = [[i for i, c in enumerate(a) if c["lo"] <= p[ax] < c["end"]] for ax, a in enumerate(axes)]
        x = F32(vol[p] / (F32(1) + abs(vol[p])))
        if blend == "crop":
            idx = tuple(
                min(cov, key=lambda i: (abs(2 * p[ax] - (2 * axes[ax][i]["start"] + cell[ax] - 1)), i))
                for ax, cov in enumerate(covering)
            )
            cells_here = [idx]
        else:
            cells_here = list(itertools.product(*covering))
        num = np.zeros(channels, dtype=F32)
        den = F32(0)
        for idx in cells_here:
            if idx not in means:
                cs = [axes[ax][i] for ax, i in enumerate(idx)]
                region = materialize(vol, cs)
                xs = region / (F32(1) + np.abs(region))
                means[idx] = F32(math.fsum(xs.astype(np.float64).ravel().tolist()) / xs.size)
            m = means[idx]
            val = np.array([s[c] * x + k[c] * m for c in range(channels)], dtype=F32)
            if blend == "crop":
                num, den = val, F32(1)
                break
            w = F32(1)
            for ax, i in enumerate(idx):
                w = F32(w * prof[ax][p[ax] - axes[ax][i]["start"]])
            if blend == "gaussian":
                w = max(w, FLOOR)  # MONAI 1.6: not divided by the maximum
            num = num + (w * val).astype(F32)
            den = F32(den + w)
        out[(slice(None),) + p] = num / den
    return out


def selftest(out_dir):
    """Every numpy case of ``cases.json`` against :func:`brute_force`."""
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    specs = {s["file"]: s for s in manifest["inputs"]}
    bad = 0
    for entry in [c for c in manifest["cases"] if c["source"] == "numpy"]:
        vol = read_input(out_dir, specs[entry["input"]])
        got = brute_force(vol, entry["cell"], entry["steps"], entry["edge"], entry["blend"], entry["channels"],
                          entry["sigma_scale"])
        want = np.load(out_dir / entry["expected"])
        same = np.array_equal(got, want)
        bad += not same
        print(f"{entry['name']}: {'same' if same else 'DIFFERS, max ' + str(np.abs(got - want).max())}")
    return bad == 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("make-fixtures", "check", "selftest"):
        print(__doc__.split("\n\n")[1])
        return 2
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    if argv[1] == "make-fixtures":
        make_fixtures(out)
        return 0
    if argv[1] == "selftest":
        return 0 if selftest(out) else 1
    return 0 if check(out) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
