#!/usr/bin/env python3
"""Benchmark: MONAI's sliding-window inference (or Patchly's aggregator) on CPU
with the synthetic predictor of ``stitch_reference.py``. Not run in CI.

Usage (in the venv of ``requirements-stitch-monai.txt``)::

    python3 data-scripts/bench_stitch_monai.py DIR --channels 16 [--threads 2]
        [--shape 384 384 256] [--roi 128] [--overlap 0.5] [--sw-batch-size 1]
        [--impl monai|patchly] [--labels PATH.npy]

``DIR/input.nii`` is the input: a float32 NIfTI (the fixtures' affine) of
``--shape`` (default 384 x 384 x 256), integer-valued and deterministic
(blocks of 16 voxels with levels -30..30 plus PCG64 integer noise -8..8, seed
``--seed``), so impart can read the same file. If it is missing, or has
another shape, it is written first by a child process (so the peak RSS
measured here is the inference's, not the writer's).

``--impl monai`` (default): ``sliding_window_inference(x (1, 1, *shape),
roi_size=roi, sw_batch_size, predictor, overlap, mode="gaussian",
sigma_scale=0.125, padding_mode="constant", cval=0)``, then argmax over the
channels. ``--impl patchly``: Patchly's ``GridSampler`` (step ``roi * (1 -
overlap)``, its default squeeze mode) and ``Aggregator(weights="gaussian")``
(Patchly's own gaussian: per-axis kernels normalised to sum 1, no floor),
one window at a time, then argmax.

Prints one JSON line: times (``load_s``, ``infer_s``, ``argmax_s``,
``wall_s`` their sum), peak RSS (``ru_maxrss`` of this process, MiB), RSS
before inference, the window count, the versions. ``--labels`` saves the
argmax labels (uint8, the input's shape) as ``.npy``. ``--ties-against
OTHER.nii`` (after the timing and the peak RSS are taken) compares the labels
with another tool's u8 labels and, at the voxels where they disagree only,
reads MONAI's blended channels: the gap between the channel MONAI picked and
the one the other tool picked (a near-tie when it is at most
``--tie-tol``, default 1e-5), under ``"ties"`` in the JSON line.

Memory: MONAI keeps the whole ``(C, *shape)`` float32 output plus the count
map on the output device, so 384 x 384 x 256 needs about ``151 MB * (C + 2)``
plus a window batch: C = 16 takes ~3 GiB, C = 100 ~17 GiB (not run here).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

F32 = np.float32


def rss_mib():
    """Current RSS (MiB) from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_volume(shape, seed):
    rng = np.random.default_rng(seed)
    vol = np.empty(shape, dtype=F32)
    i = (np.arange(shape[0]) // 16)[:, None]
    j = (np.arange(shape[1]) // 16)[None, :]
    for k in range(shape[2]):
        level = ((i * 7 + j * 3 + (k // 16) * 5) % 7 - 3) * 10
        vol[:, :, k] = level + rng.integers(-8, 9, size=shape[:2])
    return vol


def write_input(path, shape, seed):
    import stitch_reference as ref

    ref.write_nifti(path, make_volume(shape, seed))


def ensure_input(dir_, shape, seed):
    import nibabel as nib

    path = Path(dir_) / "input.nii"
    if path.exists() and list(nib.load(str(path)).shape) == list(shape):
        return path
    Path(dir_).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, str(dir_), "--write-input", "--seed", str(seed), "--shape", *map(str, shape)]
    subprocess.run(cmd, check=True)
    return path


def torch_predictor(channels):
    import torch
    import stitch_reference as ref

    s, k = ref.channel_coefficients(channels)
    s_t = torch.tensor(np.array(s, dtype=F32))
    k_t = torch.tensor(np.array(k, dtype=F32))

    def predict(batch):
        nd = batch.dim() - 2
        view = (1, channels) + (1,) * nd
        x = batch / (1 + batch.abs())
        m = x.double().mean(dim=tuple(range(2, 2 + nd)), keepdim=True).float()
        return s_t.view(view) * x + k_t.view(view) * m

    return predict


def run_monai(vol, args):
    import torch
    from monai.inferers import sliding_window_inference
    from monai.inferers.utils import _get_scan_interval
    from monai.data.utils import dense_patch_slices

    roi = [args.roi] * vol.ndim
    interval = _get_scan_interval(vol.shape, roi, vol.ndim, [args.overlap] * vol.ndim)
    windows = len(dense_patch_slices(vol.shape, roi, interval))
    x = torch.from_numpy(vol)[None, None]
    t0 = time.perf_counter()
    with torch.no_grad():
        out = sliding_window_inference(
            inputs=x,
            roi_size=roi,
            sw_batch_size=args.sw_batch_size,
            predictor=torch_predictor(args.channels),
            overlap=args.overlap,
            mode="gaussian",
            sigma_scale=0.125,
            padding_mode="constant",
            cval=0,
        )
    t1 = time.perf_counter()
    labels = torch.argmax(out[0], dim=0).to(torch.uint8).numpy()
    t2 = time.perf_counter()
    if args.ties_against:
        run_monai.out = out[0]
    return labels, windows, t1 - t0, t2 - t1


def ties(out, labels, other_path, tol):
    """Disagreements of labels with OTHER's u8 labels, and MONAI's gaps there."""
    import nibabel as nib
    import torch

    other = np.asarray(nib.load(str(other_path)).dataobj)
    other = other.reshape(labels.shape).astype(np.uint8)
    idx = np.nonzero(labels != other)
    n = int(idx[0].size)
    res = {"against": str(other_path), "voxels": int(labels.size), "disagree": n,
           "fraction": n / labels.size, "tol": tol}
    if n:
        t = tuple(torch.from_numpy(i.astype(np.int64)) for i in idx)
        vals = out[(slice(None),) + t].numpy()  # (C, n): only the disagreeing voxels
        cols = np.arange(n)
        gap = np.abs(vals[labels[idx], cols] - vals[other[idx], cols]).astype(np.float64)
        res.update(near_ties=int((gap <= tol).sum()), max_gap=float(gap.max()),
                   median_gap=float(np.median(gap)),
                   examples=[{"voxel": [int(i[k]) for i in idx], "monai": int(labels[idx][k]),
                              "other": int(other[idx][k]), "gap": float(gap[k])} for k in range(min(n, 5))])
    else:
        res.update(near_ties=0, max_gap=0.0)
    return res


def run_patchly(vol, args):
    import torch
    from patchly import Aggregator, GridSampler

    roi = (args.roi,) * vol.ndim
    step = tuple(int(args.roi * (1 - args.overlap)) for _ in roi)
    predict = torch_predictor(args.channels)
    t0 = time.perf_counter()
    sampler = GridSampler(image=vol, spatial_size=vol.shape, patch_size=roi, step_size=step)
    agg = Aggregator(sampler=sampler, output_size=(args.channels,) + vol.shape, weights="gaussian",
                     spatial_first=False)
    windows = 0
    with torch.no_grad():
        for patch, bbox in sampler:
            p = predict(torch.from_numpy(np.ascontiguousarray(patch))[None, None])[0].numpy()
            agg.append(p, bbox)
            windows += 1
    out = agg.get_output(inplace=True)
    t1 = time.perf_counter()
    labels = np.argmax(out, axis=0).astype(np.uint8)
    t2 = time.perf_counter()
    return labels, windows, t1 - t0, t2 - t1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="directory of input.nii (written if missing)")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--shape", type=int, nargs="+", default=[384, 384, 256])
    p.add_argument("--roi", type=int, default=128)
    p.add_argument("--overlap", type=float, default=0.5)
    p.add_argument("--sw-batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--impl", choices=["monai", "patchly"], default="monai")
    p.add_argument("--labels", default=None, help="save the argmax labels here (.npy, uint8)")
    p.add_argument("--ties-against", default=None,
                   help="MONAI only: compare with these u8 labels (.nii) and measure the gaps where they differ")
    p.add_argument("--tie-tol", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write-input", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.write_input:
        write_input(Path(args.dir) / "input.nii", tuple(args.shape), args.seed)
        return 0
    path = ensure_input(args.dir, args.shape, args.seed)

    import nibabel as nib
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    vol = np.ascontiguousarray(np.asarray(nib.load(str(path)).dataobj, dtype=F32))
    load_s = time.perf_counter() - t0
    before = rss_mib()
    run = run_monai if args.impl == "monai" else run_patchly
    labels, windows, infer_s, argmax_s = run(vol, args)
    peak = peak_rss_mib()
    if args.labels:
        np.save(args.labels, labels)
    tie_res = None
    if args.ties_against and args.impl == "monai":
        tie_res = ties(run_monai.out, labels, args.ties_against, args.tie_tol)
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    if args.impl == "monai":
        import monai

        versions["monai"] = monai.__version__
    else:
        from importlib.metadata import version

        versions["patchly"] = version("patchly")
    print(json.dumps({
        "impl": args.impl,
        "input": str(path),
        "shape": list(vol.shape),
        "roi": args.roi,
        "overlap": args.overlap,
        "channels": args.channels,
        "sw_batch_size": args.sw_batch_size,
        "threads": torch.get_num_threads(),
        "windows": windows,
        "load_s": round(load_s, 3),
        "infer_s": round(infer_s, 3),
        "argmax_s": round(argmax_s, 3),
        "wall_s": round(load_s + infer_s + argmax_s, 3),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_rss_after_checks_mib": round(peak_rss_mib(), 1),
        "labels": args.labels,
        "ties": tie_res,
        "versions": versions,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
