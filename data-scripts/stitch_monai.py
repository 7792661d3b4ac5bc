#!/usr/bin/env python3
"""Stitching by MONAI and TorchIO on the stitch fixtures, recorded and compared
with the NumPy reference (``stitch_reference.py``).

Usage (in the venv of ``requirements-stitch-monai.txt``)::

    python3 data-scripts/stitch_reference.py make-fixtures   # first: the inputs
    python3 data-scripts/stitch_monai.py [OUT_DIR] [--no-write]

For each case below it runs

- MONAI: ``monai.inferers.sliding_window_inference(inputs (1, 1, *spatial)
  float32, roi_size=cell, sw_batch_size=4, predictor, overlap=1 - stride,
  mode="gaussian", sigma_scale, padding_mode="constant", cval=0)``;
- TorchIO: ``GridSampler(subject, patch_size=cell, patch_overlap=cell - step)``,
  batches of 4 through a ``DataLoader``, ``GridAggregator(sampler,
  overlap_mode="hann")``;

with the synthetic predictor in torch (float32; the cell mean of
``x = v / (1 + |v|)`` as a float64 ``mean``, cast to float32; the channel
coefficients are the reference's float32 ``sin(c + 1)``, ``cos(c + 1)``).

Both place their windows as the reference's ``shift`` edge does (the last
window moved inward to end at the volume's end); the script checks that
their window starts are the reference grid's before it runs them. Only cases
where that holds are listed: cell <= volume on every axis, ``cell * stride``
an integer that MONAI's ``int(roi * (1 - overlap))`` reproduces, and for
TorchIO even overlaps ``cell - step``.

Unless ``--no-write``, the outputs are written to ``OUT_DIR`` (default
``tests/data/stitch``) as ``monai_*.npy`` / ``torchio_*.npy`` (float32
``(C, *spatial)``) with their argmax labels, and listed in ``cases.json``
with ``source`` ``"monai"`` / ``"torchio"`` and the comparison with the
reference (max abs diff of the blended channels, argmax disagreements and
whether they are near-ties). CI can then test against them without torch.

MONAI 1.6.1's ``compute_importance_map`` does not divide the gaussian by its
maximum (issue 13's formula does): the weights differ by a constant factor
per window shape, which cancels in ``sum(w p) / sum(w)`` except where the
1e-3 floor applies (relative to the peak it is ``1e-3 / max`` in MONAI) and in
float32 rounding. The comparison is therefore reported against the reference
both ways (``gaussian_normalized`` true and false).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stitch_reference as ref  # noqa: E402

import torch  # noqa: E402

F32 = np.float32

# name, input, cell, stride, sigma_scale, channels
MONAI_CASES = [
    ("monai_a_gauss_shift_s05", "a", [8, 6, 4], 0.5, 0.125, 3),
    ("monai_a_gauss_sigma_shift_s05", "a", [8, 6, 4], 0.5, [0.25, 0.125, 0.5], 1),
    ("monai_b_gauss_shift_s05", "b", [10, 8, 1], 0.5, 0.125, 5),
    ("monai_c_raw_gauss_shift_s05", "c", [6, 4, 4], 0.5, 0.125, 3),
    ("monai_d_gauss_shift_s075", "d", [4, 8, 4], 0.75, 0.125, 3),
    # odd cell extents: the maximum is exp(0) = 1, normalized or not
    ("monai_a_gauss_shift_s06_odd", "a", [5, 5, 5], 0.6, 0.125, 3),
]
TORCHIO_CASES = [
    ("torchio_a_hann_shift_s05", "a", [8, 8, 4], 0.5, None, 3),
    ("torchio_b_hann_shift_s05", "b", [12, 8, 1], 0.5, None, 5),
    ("torchio_d_hann_shift_s05", "d", [4, 8, 4], 0.5, None, 3),
]


def torch_predictor(channels):
    s, k = ref.channel_coefficients(channels)
    s_t = torch.tensor(np.array(s, dtype=F32)).view(1, channels, *([1] * 3))
    k_t = torch.tensor(np.array(k, dtype=F32)).view(1, channels, *([1] * 3))

    def predict(batch):
        assert batch.dtype == torch.float32 and batch.shape[1] == 1, batch.shape
        nd = batch.dim() - 2
        x = batch / (1 + batch.abs())
        m = x.double().mean(dim=tuple(range(2, 2 + nd)), keepdim=True).float()
        return s_t.view(1, channels, *([1] * nd)) * x + k_t.view(1, channels, *([1] * nd)) * m

    return predict


def compare(got, want):
    """Max abs diff, argmax disagreements, and how many of those are
    near-ties (top two channels of the reference within 1e-5)."""
    diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
    la, lb = ref.argmax_labels(got), ref.argmax_labels(want)
    dis = la != lb
    if want.shape[0] > 1:
        top = np.sort(want, axis=0)
        gap = top[-1] - top[-2]
        ties = int((dis & (gap <= 1e-5)).sum())
    else:
        ties = 0
    return {"max_abs_diff": diff, "argmax_disagreements": int(dis.sum()), "of_which_ties_1e-5": ties}


def ulps(a, b):
    ia = a.astype(F32).view(np.int32).astype(np.int64)
    ib = b.astype(F32).view(np.int32).astype(np.int64)
    return int(np.abs(ia - ib).max())


def run_monai(vol, cell, stride, sigma, channels):
    from monai.data.utils import compute_importance_map, dense_patch_slices
    from monai.inferers import sliding_window_inference
    from monai.inferers.utils import _get_scan_interval

    nd = vol.ndim
    overlap = 1.0 - stride
    interval = _get_scan_interval(vol.shape, cell, nd, [overlap] * nd)
    slices = dense_patch_slices(vol.shape, cell, interval)
    monai_starts = sorted({tuple(s.start for s in sl) for sl in slices})
    steps = [ref.axis_step(c, stride=stride) for c in cell]
    axes = ref.grid(vol.shape, cell, steps, "shift")
    ours = sorted(tuple(a[i]["start"] for a, i in zip(axes, idx)) for idx in ref.cells_c_order(axes))
    # MONAI's interval is int(roi * (1 - overlap)), or roi where roi == dim
    for d, c, i, st in zip(vol.shape, cell, interval, steps):
        assert c <= d and (c == d or float(i) == st), (vol.shape, cell, interval, steps)
    assert monai_starts == ours, (monai_starts, ours)
    # and in the same order as the reference visits its cells
    assert [tuple(s.start for s in sl) for sl in slices] == [
        tuple(a[i]["start"] for a, i in zip(axes, idx)) for idx in ref.cells_c_order(axes)
    ]
    t0 = time.perf_counter()
    with torch.no_grad():
        out = sliding_window_inference(
            inputs=torch.from_numpy(np.ascontiguousarray(vol))[None, None],
            roi_size=cell,
            sw_batch_size=4,
            predictor=torch_predictor(channels),
            overlap=overlap,
            mode="gaussian",
            sigma_scale=sigma,
            padding_mode="constant",
            cval=0,
        )
    dt = time.perf_counter() - t0
    out = out[0].numpy().astype(F32)
    imap = compute_importance_map(tuple(cell), mode="gaussian", sigma_scale=sigma).numpy()
    sig = sigma if isinstance(sigma, list) else [sigma] * nd
    w_raw = ref.full_weights(cell, "gaussian", sig, normalize=False)
    w_norm = ref.full_weights(cell, "gaussian", sig, normalize=True)
    weights = {
        "importance_map_max": float(imap.max()),
        "max_ulps_vs_unnormalized": ulps(imap, w_raw),
        "max_abs_diff_vs_normalized": float(np.abs(imap - w_norm).max()),
        "voxels_floored_monai": int((imap == F32(1e-3)).sum()),
        "voxels_floored_normalized": int((w_norm == F32(1e-3)).sum()),
    }
    return out, sig, steps, dt, weights


def run_torchio(vol, cell, stride, channels, affine):
    import torchio as tio

    steps = [ref.axis_step(c, stride=stride) for c in cell]
    # one patch where the cell fills the axis (any overlap gives one)
    assert all(s == int(s) or c == d for d, c, s in zip(vol.shape, cell, steps)), steps
    overlap = [0 if c == d else c - int(s) for d, c, s in zip(vol.shape, cell, steps)]
    assert all(o % 2 == 0 for o in overlap), overlap
    subject = tio.Subject(img=tio.ScalarImage(tensor=torch.from_numpy(np.ascontiguousarray(vol))[None], affine=affine))
    sampler = tio.inference.GridSampler(subject, patch_size=cell, patch_overlap=overlap)
    axes = ref.grid(vol.shape, cell, steps, "shift")
    ours = [tuple(a[i]["start"] for a, i in zip(axes, idx)) for idx in ref.cells_c_order(axes)]
    theirs = [tuple(int(v) for v in loc[:3]) for loc in sampler.locations]
    assert theirs == ours, (theirs, ours)
    loader = torch.utils.data.DataLoader(sampler, batch_size=4)
    agg = tio.inference.GridAggregator(sampler, overlap_mode="hann")
    pred = torch_predictor(channels)
    t0 = time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            x = batch["img"][tio.DATA]
            assert x.dtype == torch.float32
            agg.add_batch(pred(x), batch[tio.LOCATION])
    out = agg.get_output_tensor().numpy().astype(F32)
    dt = time.perf_counter() - t0
    hann = tio.inference.GridAggregator._get_hann_window(tuple(cell)).numpy()
    ours_w = ref.full_weights(cell, "hann")
    weights = {
        "max_ulps_vs_reference": ulps(hann.astype(F32), ours_w),
        "max_abs_diff_vs_reference": float(np.abs(hann - ours_w).max()),
    }
    return out, overlap, steps, dt, weights


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    write = "--no-write" not in argv
    out_dir = Path(args[0]) if args else ref.DEFAULT_OUT
    manifest = ref.load_manifest(out_dir)
    assert manifest is not None, f"run stitch_reference.py make-fixtures {out_dir} first"
    inputs = {s["file"]: s for s in manifest["inputs"]}
    by_key = {}
    for key, (spec, arr) in ref.make_inputs().items():
        got = ref.read_input(out_dir, inputs[spec["file"]])
        assert np.array_equal(got, arr), spec["file"]
        by_key[key] = (inputs[spec["file"]], got)

    import monai
    import torchio

    versions = {
        "torch": torch.__version__,
        "monai": monai.__version__,
        "torchio": torchio.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(versions))
    entries = []
    for source, cases in (("monai", MONAI_CASES), ("torchio", TORCHIO_CASES)):
        for name, key, cell, stride, sigma, channels in cases:
            spec, vol = by_key[key]
            if source == "monai":
                out, sig, steps, dt, weights = run_monai(vol, cell, stride, sigma, channels)
                blend, extra = "gaussian", {"sigma_scale": sig, "overlap": 1.0 - stride}
                want_norm = ref.stitch(vol, cell, steps, "shift", "gaussian", channels, sig)
                want_raw = stitch_unnormalized(vol, cell, steps, channels, sig)
                cmp = {
                    "vs_reference_gaussian_normalized": compare(out, want_norm),
                    "vs_reference_gaussian_unnormalized": compare(out, want_raw),
                    "weights": weights,
                }
            else:
                aff = np.array(spec["affine"]) if "affine" in spec else np.eye(4)
                out, overlap, steps, dt, weights = run_torchio(vol, cell, stride, channels, aff)
                blend, extra = "hann", {"sigma_scale": None, "patch_overlap": overlap}
                want = ref.stitch(vol, cell, steps, "shift", "hann", channels)
                cmp = {"vs_reference": compare(out, want), "weights": weights}
            print(name, json.dumps(cmp), f"{dt:.3f}s")
            exp_file, lab_file = f"{name}.npy", f"{name}_labels.npy"
            entry = {
                "name": name,
                "source": source,
                "input": spec["file"],
                "shape": list(vol.shape),
                "cell": cell,
                "stride": stride,
                "step": None,
                "steps": steps,
                "edge": "shift",
                "blend": blend,
                "gaussian_normalized": False if blend == "gaussian" else None,
                "channels": channels,
                "expected": exp_file,
                "labels": lab_file,
                "threshold": None,
                "grid": ref.grid_summary(vol.shape, cell, steps, "shift"),
                "argmax_near_ties_1e-5": ref.near_ties(out),
                "comparison": cmp,
            }
            entry.update(extra)
            if write:
                ref.save_npy(out_dir / exp_file, out)
                ref.save_npy(out_dir / lab_file, ref.argmax_labels(out))
                entry["sha256"] = {exp_file: ref.sha256(out_dir / exp_file), lab_file: ref.sha256(out_dir / lab_file)}
            entries.append(entry)
    if write:
        manifest = ref.load_manifest(out_dir)
        manifest["cases"] = [c for c in manifest["cases"] if c["source"] not in ("monai", "torchio")] + entries
        manifest["versions"] = dict(manifest.get("versions", {}), torch_peers=versions)
        ref.write_manifest(out_dir, manifest)
        print(f"wrote {len(entries)} entries to {out_dir}")
    return 0


def stitch_unnormalized(vol, cell, steps, channels, sigma):
    """The reference with MONAI's gaussian (not divided by its maximum)."""
    saved = ref.full_weights

    def weights(c, blend, sigma_scale=None, normalize=True):
        return saved(c, blend, sigma_scale, normalize=False)

    ref.full_weights = weights
    try:
        return ref.stitch(vol, cell, steps, "shift", "gaussian", channels, sigma)
    finally:
        ref.full_weights = saved


if __name__ == "__main__":
    sys.exit(main(sys.argv))
