#!/usr/bin/env python3
"""Large-image benchmark, side by side in one run: impart against the
original Python impart 0.0.5 (pyvips) and tifffile + NumPy.

Usage (normally through ``data-scripts/bench-large-images.sh``, which makes
the venv and builds impart)::

    python3 data-scripts/bench_large_images.py [--repeats N] [--data DIR]
        [--out DIR] [--impart-bin PATH] [--cpu K] [--only tiff,first]

What it does:

1. Makes (or reuses) the images of ``data-scripts/large_image_parity.py``
   in ``DATA`` (default ``target/large-images/images``): a 20000² RGB u8
   tiled 256² deflate pyramidal BigTIFF, a 16000² RGB PNG (zlib level 1) and
   a 16000² RGB JPEG (Q90), all written by libvips.
2. Runs every contender as its own process, ``taskset -c K /usr/bin/time -v
   CMD`` (one core, K = 1 by default) with one thread (impart ``--threads 1``;
   ``VIPS_CONCURRENCY=1`` for libvips; ``OMP_NUM_THREADS``,
   ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``RAYON_NUM_THREADS`` = 1;
   tifffile ``maxworkers=1``; zarr one worker), each ``--repeats`` times
   (default 3), and keeps the best (shortest) wall time and the peak RSS
   ("Maximum resident set size") of that run. The wall time is the parent's
   clock around the whole process (start-up, imports, opening the file
   included). Every input is in the page cache (read once before the runs).
3. Workloads:

   - ``tiff``: the 20000² TIFF, 512² cells at stride 1.0 (1600 cells) and 0.5
     (6084 cells), every cell materialized and summed (uint64): ``impart stats
     --threads 1 --json`` (it reports ``chunks_decoded``: the tiles decoded
     in the pass); the original (``ImagePartition(path, (512, 512), s)[y,
     x].numpy()`` for every cell); ``tifffile.imread(path, key=0)`` then a
     NumPy copy of every cell; tifffile's Zarr store (``aszarr``) read through
     zarr-python cell by cell (no cache: tiles shared by cells decode again).
   - ``first``: time to the first cell, opening included, 512² cells at
     stride 1.0: cell ``[0, 0]`` of the TIFF, ``[3, 4]`` of the PNG and of
     the JPEG: ``impart stats --select Y,X --threads 1 --json`` and the
     original's ``ImagePartition(...)[y, x].numpy()``; for the PNG also impart
     with an emptied ``--cache-dir`` (the decode cache, cold).

   All contenders of a job must give the same sum (lossless inputs); for the
   JPEG the sums differ by the decoders' rounding and are reported only.
4. Writes ``large_images.json``, ``large_images.md`` (also printed) and
   ``large_images.png`` to ``--out`` (default ``benches/results``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
CELL = (512, 512)
ONE_THREAD_ENV = {
    "VIPS_CONCURRENCY": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
}


# --------------------------------------------------------------------------
# Workers: run in their own process (``--worker NAME``), print one JSON line.
# --------------------------------------------------------------------------


def grid_regions(shape: tuple[int, int], cell, stride: float):
    """(top, left, height, width) of every cell, row by row: the original's
    formulas (n = 1 + ceil(max(0, dim - cell) / step), start ceil(i * step),
    clipped at the image end)."""
    steps = [c * stride for c in cell]
    n = [1 + math.ceil(max(0, d - c) / s) for d, c, s in zip(shape, cell, steps)]
    for i in range(n[0]):
        t = math.ceil(i * steps[0])
        h = min(cell[0], shape[0] - t)
        for j in range(n[1]):
            left = math.ceil(j * steps[1])
            yield t, left, h, min(cell[1], shape[1] - left)


def worker_original_all(path: str, stride: float) -> dict:
    import numpy as np
    from impart import ImagePartition

    t0 = time.perf_counter()
    part = ImagePartition(path, cell_shape=CELL, stride=stride)
    total, first, cells = 0, None, 0
    for y in range(part.shape[0]):
        for x in range(part.shape[1]):
            total += int(part[y, x].numpy().sum(dtype=np.uint64))
            cells += 1
            if first is None:
                first = time.perf_counter() - t0
    return {"sum": total, "cells": cells, "first_cell_s": first, "job_s": time.perf_counter() - t0}


def worker_original_first(path: str, y: int, x: int) -> dict:
    import numpy as np
    from impart import ImagePartition

    t0 = time.perf_counter()
    part = ImagePartition(path, cell_shape=CELL, stride=1.0)
    a = part[y, x].numpy()
    return {
        "sum": int(a.sum(dtype=np.uint64)),
        "cells": 1,
        "shape": list(a.shape),
        "job_s": time.perf_counter() - t0,
    }


def worker_tifffile_all(path: str, stride: float) -> dict:
    import numpy as np
    import tifffile

    t0 = time.perf_counter()
    a = tifffile.imread(path, key=0, maxworkers=1)
    t_read = time.perf_counter() - t0
    total, cells = 0, 0
    for t, left, h, w in grid_regions(a.shape[:2], CELL, stride):
        total += int(np.array(a[t : t + h, left : left + w]).sum(dtype=np.uint64))
        cells += 1
    return {"sum": total, "cells": cells, "read_s": t_read, "job_s": time.perf_counter() - t0}


def worker_tifffile_zarr_all(path: str, stride: float) -> dict:
    import numpy as np
    import tifffile
    import zarr

    zarr.config.set({"async.concurrency": 1, "threading.max_workers": 1})
    t0 = time.perf_counter()
    store = tifffile.imread(path, key=0, aszarr=True, maxworkers=1)
    z = zarr.open_array(store, mode="r")
    total, cells = 0, 0
    for t, left, h, w in grid_regions(z.shape[:2], CELL, stride):
        total += int(np.asarray(z[t : t + h, left : left + w]).sum(dtype=np.uint64))
        cells += 1
    store.close()
    return {"sum": total, "cells": cells, "job_s": time.perf_counter() - t0}


WORKERS = {
    "original-all": lambda a: worker_original_all(a.path, a.stride),
    "original-first": lambda a: worker_original_first(a.path, a.y, a.x),
    "tifffile-all": lambda a: worker_tifffile_all(a.path, a.stride),
    "tifffile-zarr-all": lambda a: worker_tifffile_zarr_all(a.path, a.stride),
}


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def parse_time_v(text: str) -> dict:
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    secs = None
    if wall:
        parts = [float(p) for p in wall.group(1).split(":")]
        secs = sum(p * 60**k for k, p in enumerate(reversed(parts)))
    return {"max_rss_kib": int(rss.group(1)) if rss else None, "time_wall_s": secs}


def run_once(cmd: list[str], cpu: int) -> dict:
    """One run of CMD on core CPU under /usr/bin/time -v: wall (parent's
    clock), peak RSS, and the JSON the program printed last."""
    env = dict(os.environ, **ONE_THREAD_ENV)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["taskset", "-c", str(cpu), "/usr/bin/time", "-v", "-o", tf.name, *cmd]
        t0 = time.perf_counter()
        p = subprocess.run(full, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        tv = parse_time_v(Path(tf.name).read_text())
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    last = [line for line in p.stdout.splitlines() if line.strip()][-1]
    return {"wall_s": wall, **tv, "out": json.loads(last)}


def best_of(cmd: list[str], cpu: int, repeats: int) -> dict:
    runs = [run_once(cmd, cpu) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["wall_s"])
    return {
        "cmd": cmd,
        "walls_s": [r["wall_s"] for r in runs],
        "best_s": best["wall_s"],
        "max_rss_mib": best["max_rss_kib"] / 1024 if best["max_rss_kib"] else None,
        "max_rss_mib_all": [r["max_rss_kib"] / 1024 for r in runs if r["max_rss_kib"]],
        "out": best["out"],
    }


def impart_stats(bin_: Path, path: Path, stride: float, *extra: str) -> list[str]:
    return [
        str(bin_),
        "stats",
        str(path),
        "--cell",
        ",".join(map(str, CELL)),
        "--stride",
        repr(stride),
        "--threads",
        "1",
        *extra,
        "--json",
    ]


def py_worker(name: str, path: Path, **kw) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--path", str(path)]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    return cmd


def warm_page_cache(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_mib(m: float | None) -> str:
    return "-" if m is None else f"{m:.0f} MiB"


def version_of(pkg: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def contender_runs(args, bin_: Path, data: Path) -> list[dict]:
    """Every (job, contender) of the benchmark, measured."""
    tif, png, jpg = data / "tiled20k.tif", data / "big16k.png", data / "big16k.jpg"
    jobs: list[dict] = []

    def add(job, contender, cmd, **extra):
        rec = {"job": job, "contender": contender, **extra}
        print(f"  {job:24s} {contender:38s}", end=" ", flush=True)
        try:
            rec.update(best_of(cmd, args.cpu, args.repeats))
            rss = rec["max_rss_mib"]
            print(f"best {fmt_s(rec['best_s'])}, peak RSS {fmt_mib(rss)}  {rec['out']}", flush=True)
        except Exception as e:  # a contender that fails is reported, not fatal
            rec["error"] = f"{type(e).__name__}: {e}"
            print(f"FAILED: {rec['error']}", flush=True)
        jobs.append(rec)

    only = set(args.only.split(",")) if args.only else {"tiff", "first"}
    if "tiff" in only:
        for stride in (1.0, 0.5):
            job = f"tiff all cells, stride {stride}"
            add(job, "impart stats (1 thread)", impart_stats(bin_, tif, stride), stride=stride)
            add(
                job,
                "original impart 0.0.5",
                py_worker("original-all", tif, stride=stride),
                stride=stride,
            )
            add(
                job,
                "tifffile imread + NumPy slicing",
                py_worker("tifffile-all", tif, stride=stride),
                stride=stride,
            )
            add(
                job,
                "tifffile aszarr + zarr-python",
                py_worker("tifffile-zarr-all", tif, stride=stride),
                stride=stride,
            )
    if "first" in only:
        for name, path, (y, x) in (
            ("tiff", tif, (0, 0)),
            ("png", png, (3, 4)),
            ("jpeg", jpg, (3, 4)),
        ):
            job = f"first cell, {name} [{y}, {x}]"
            add(
                job,
                "impart stats (1 thread)",
                impart_stats(bin_, path, 1.0, "--select", f"{y},{x}"),
                image=name,
            )
            add(
                job,
                "original impart 0.0.5",
                py_worker("original-first", path, y=y, x=x),
                image=name,
            )
            if name == "png":
                cache = Path(tempfile.mkdtemp(prefix="impart-bench-cache-"))
                try:
                    # sh -c 'rm -rf CACHE/*; exec CMD': the decode cache is
                    # emptied before every run (cold)
                    cmd = impart_stats(
                        bin_, path, 1.0, "--select", f"{y},{x}", "--cache-dir", str(cache)
                    )
                    wrapper = [
                        "sh",
                        "-c",
                        'rm -rf "$1"/*; shift; exec "$@"',
                        "sh",
                        str(cache),
                        *cmd,
                    ]
                    add(job, "impart stats --cache-dir (cold cache)", wrapper, image=name)
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
    return jobs


def summarize(jobs: list[dict]) -> tuple[list[dict], list[str]]:
    """Ratios against impart per job, checksum agreement, targets."""
    problems = []
    by_job: dict[str, list[dict]] = {}
    for r in jobs:
        by_job.setdefault(r["job"], []).append(r)
    for job, rows in by_job.items():
        ours = next(
            (r for r in rows if r["contender"].startswith("impart") and "error" not in r), None
        )
        lossy = "jpeg" in job
        for r in rows:
            if "error" in r:
                problems.append(f"{job}: {r['contender']} failed: {r['error']}")
                continue
            r["sum"] = int(r["out"]["sum"])
            if ours:
                r["ratio"] = r["best_s"] / ours["best_s"]
                r["sum_matches"] = r["sum"] == int(ours["out"]["sum"])
                if not r["sum_matches"] and not lossy:
                    problems.append(
                        f"{job}: {r['contender']} sum {r['sum']} != impart's {ours['out']['sum']}"
                    )
    targets = []
    for stride in (1.0, 0.5):
        rows = by_job.get(f"tiff all cells, stride {stride}", [])
        ours = next(
            (r for r in rows if r["contender"].startswith("impart") and "error" not in r), None
        )
        orig = next(
            (r for r in rows if r["contender"].startswith("original") and "error" not in r), None
        )
        if ours and orig:
            t = {
                "what": f"TIFF stride {stride}: original / impart, 1 thread",
                "value": orig["best_s"] / ours["best_s"],
                "goal": "≥ 5x" if stride == 0.5 else "(no goal)",
                "met": (orig["best_s"] / ours["best_s"] >= 5) if stride == 0.5 else None,
                "chunks_decoded": ours["out"].get("chunks_decoded"),
            }
            targets.append(t)
    for name in ("tiff", "png", "jpeg"):
        rows = [r for j, rs in by_job.items() if j.startswith(f"first cell, {name}") for r in rs]
        ours = next(
            (r for r in rows if r["contender"] == "impart stats (1 thread)" and "error" not in r),
            None,
        )
        orig = next(
            (r for r in rows if r["contender"].startswith("original") and "error" not in r), None
        )
        if ours and orig:
            targets.append(
                {
                    "what": f"first cell, {name}: impart / original time",
                    "value": ours["best_s"] / orig["best_s"],
                    "goal": "≤ 1 (no slower)",
                    "met": ours["best_s"] <= orig["best_s"],
                }
            )
        if name == "png" and ours:
            targets.append(
                {
                    "what": "first cell, png: impart peak RSS",
                    "value": ours["max_rss_mib"],
                    "goal": "< 200 MiB (plus what the cache maps)",
                    "met": ours["max_rss_mib"] is not None and ours["max_rss_mib"] < 200,
                }
            )
    return targets, problems


CONTENDER_NOTES = {
    "impart stats": "`impart stats PATH --cell 512,512 --stride S --threads 1 --json`: opens the "
    "file, materializes every selected cell into an owned buffer and computes its min, max, mean "
    "and sum, prints one JSON line per cell and a summary (`chunks_decoded`: TIFF tiles decoded "
    "in the pass). A TIFF is read tile by tile (each tile decoded once per pass by the walk's "
    "plan); a PNG or JPEG is decoded whole into memory at open (into the decode cache and mapped "
    "with `--cache-dir`).",
    "original impart 0.0.5": "`ImagePartition(path, (512, 512), stride)` then `part[y, x].numpy()` "
    "per cell, summed in uint64. libvips reads the tiled TIFF tile by tile; a PNG or JPEG opened "
    "with its default (random) access is decoded whole at the first crop, into a temporary file "
    "on disc when larger than 100 MB (`VIPS_DISC_THRESHOLD`), which keeps its RSS small.",
    "tifffile imread + NumPy slicing": "`tifffile.imread(path, key=0, maxworkers=1)` (the whole "
    "page, 1.2 GB, decoded with imagecodecs), then `np.array(a[cell])` per cell, summed.",
    "tifffile aszarr + zarr-python": "`zarr.open_array(tifffile.imread(path, key=0, aszarr=True))` "
    "and `z[cell]` per cell (zarr-python keeps no decoded tiles: a tile shared by k cells is "
    "decoded k times).",
}


def write_markdown(meta: dict, jobs: list[dict], targets: list[dict]) -> str:
    m = meta["machine"]
    lines = [
        "# Large images: impart against the original impart 0.0.5 and tifffile",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}; load average (1 min) {meta['loadavg_start'][0]:.1f} at the start, "
        f"{meta['loadavg_end'][0]:.1f} at the end.  ",
        f"{meta['date']}; impart built from {meta['git']}.  ",
        f"Every contender is its own process, `taskset -c {meta['cpu']} /usr/bin/time -v`, one thread "
        "(impart `--threads 1`, `VIPS_CONCURRENCY=1`, `OMP_NUM_THREADS=1` and the like, tifffile "
        f"`maxworkers=1`); best wall time of {meta['repeats']} runs (the whole process: start-up, imports, "
        "opening included), the peak RSS of that run; inputs in the page cache. "
        "Ratio = contender's time / impart's in the same job.",
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        "Images (written by libvips, `data-scripts/large_image_parity.py`): 20000² RGB u8 tiled 256² "
        "deflate pyramidal BigTIFF (21 MB, 6241 tiles at full resolution), 16000² RGB PNG "
        "(zlib level 1, 508 MB), 16000² RGB JPEG (Q90, 4:4:4, 60 MB). Cells 512².",
        "",
        "| job | contender | best | runs | peak RSS | ratio | sum | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in jobs:
        if "error" in r:
            lines.append(
                f"| {r['job']} | {r['contender']} | - | - | - | - | - | **FAILED**: {r['error'][:200]} |"
            )
            continue
        o = r["out"]
        notes = []
        if o.get("chunks_decoded") is not None:
            notes.append(f"tiles decoded: {o['chunks_decoded']}")
        if o.get("cells") is not None:
            notes.append(f"cells: {o['cells']}")
        if o.get("first_cell_s") is not None:
            notes.append(f"first cell after {fmt_s(o['first_cell_s'])}")
        if o.get("read_s") is not None:
            notes.append(f"imread {fmt_s(o['read_s'])}")
        if o.get("job_s") is not None:
            notes.append(f"in-process {fmt_s(o['job_s'])}")
        elif o.get("seconds") is not None:
            notes.append(f"walk {fmt_s(float(o['seconds']))}")
        if r.get("sum_matches") is False:
            notes.append("sum differs (lossy decode)" if "jpeg" in r["job"] else "**SUM DIFFERS**")
        runs = ", ".join(fmt_s(w) for w in r["walls_s"])
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
        lines.append(
            f"| {r['job']} | {r['contender']} | {fmt_s(r['best_s'])} | {runs} | {fmt_mib(r['max_rss_mib'])} "
            f"| {ratio} | {r['sum']} | {'; '.join(notes)} |"
        )
    lines += ["", "## Targets", "", "| target | measured | goal | |", "|---|---|---|---|"]
    for t in targets:
        v = t["value"]
        val = f"{v:.0f} MiB" if "RSS" in t["what"] else f"{v:.2f}x"
        if t.get("chunks_decoded") is not None:
            val += f" ({t['chunks_decoded']} tiles decoded)"
        verdict = "-" if t["met"] is None else ("met" if t["met"] else "**NOT met**")
        lines.append(f"| {t['what']} | {val} | {t['goal']} | {verdict} |")
    lines += ["", "## What each contender does", ""]
    lines += [f"- **{k}**: {v}" for k, v in CONTENDER_NOTES.items()]
    lines += [
        "",
        "## Commands",
        "",
    ]
    lines.append(
        f"`impart` is {meta['impart_bin']}, `python` the venv's {meta['python']}, `DATA` "
        f"{meta['data']}, `CACHE` an emptied temporary directory; each command runs as "
        f"`taskset -c {meta['cpu']} /usr/bin/time -v CMD`.",
    )
    lines.append("")
    subst = [
        (meta["impart_bin"], "impart"),
        (meta["python"], "python"),
        (meta["data"], "DATA"),
        (str(REPO) + "/", ""),
    ]
    for r in jobs:
        if "cmd" not in r:
            continue
        cmd = []
        for c in r["cmd"]:
            for a, b in subst:
                c = c.replace(a, b)
            cmd.append(re.sub(r"/\S*impart-bench-cache-\w+", "CACHE", c))
        shown = " ".join(f"'{c}'" if " " in c or "$" in c else c for c in cmd)
        lines.append(f"- {r['job']}, {r['contender']}: `{shown}`")
    lines.append("")
    return "\n".join(lines)


def plot(jobs: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in jobs if "error" not in r]
    groups = []
    for r in ok:
        if r["job"] not in groups:
            groups.append(r["job"])
    contenders = []
    for r in ok:
        if r["contender"] not in contenders:
            contenders.append(r["contender"])
    colors = plt.get_cmap("tab10").colors
    color = {c: colors[i % 10] for i, c in enumerate(contenders)}
    fig, (ax_t, ax_m) = plt.subplots(2, 1, figsize=(13, 9), dpi=100)
    for ax, key, label in (
        (ax_t, "best_s", "wall time, s (log; lower is better)"),
        (ax_m, "max_rss_mib", "peak RSS, MiB (log; lower is better)"),
    ):
        seen = set()
        for gi, g in enumerate(groups):
            rows = [r for r in ok if r["job"] == g and r.get(key)]
            width = 0.8 / max(1, len(rows))
            for i, r in enumerate(rows):
                xi = gi + (i - (len(rows) - 1) / 2) * width
                ax.bar(
                    xi,
                    r[key],
                    width * 0.95,
                    color=color[r["contender"]],
                    label=None if r["contender"] in seen else r["contender"],
                )
                seen.add(r["contender"])
                txt = fmt_s(r[key]) if key == "best_s" else f"{r[key]:.0f}"
                ax.text(xi, r[key], txt, ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)), [g.replace(", ", "\n", 1) for g in groups], fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_ylim(top=ax.get_ylim()[1] * 6)
    ax_t.legend(fontsize=8, ncol=3, loc="upper right")
    ax_t.set_title(
        "Large images, one core, one thread: every 512² cell of a 20000² TIFF; time to the first cell"
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--stride", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--y", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--x", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs per contender, best kept (default 3)"
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=REPO / "target/large-images/images",
        help="image directory, made if missing (default target/large-images/images)",
    )
    ap.add_argument(
        "--out", type=Path, default=REPO / "benches/results", help="default benches/results"
    )
    ap.add_argument(
        "--impart-bin",
        type=Path,
        default=Path(os.environ.get("IMPART_BIN", REPO / "target/release/impart")),
        help="the impart program (default $IMPART_BIN, else target/release/impart)",
    )
    ap.add_argument(
        "--cpu", type=int, default=1, help="the core every contender is pinned to (default 1)"
    )
    ap.add_argument("--only", help="comma-separated jobs: tiff, first (default both)")
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    sys.path.insert(0, str(HERE))
    import bench_peers
    import large_image_parity

    bin_ = args.impart_bin
    if not bin_.exists():
        raise SystemExit(
            f"impart binary not found: {bin_} (cargo build --release, or set IMPART_BIN)"
        )
    # made (or reused) as large_image_parity makes them: PARENT/images
    if args.data.name != "images":
        raise SystemExit("--data must be a directory named images (large_image_parity's layout)")
    large_image_parity.make_images(args.data.parent, reuse=True)
    files = [args.data / f for f in ("tiled20k.tif", "big16k.png", "big16k.jpg")]
    warm_page_cache(files)

    import pyvips

    versions = {
        "impart (Rust)": subprocess.run(
            [str(bin_), "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "impart (Python)": version_of("impart"),
        "pyvips": version_of("pyvips"),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "tifffile": version_of("tifffile"),
        "imagecodecs": version_of("imagecodecs"),
        "zarr": version_of("zarr"),
        "numpy": version_of("numpy"),
    }
    meta = {
        "machine": bench_peers.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "git": bench_peers.git_describe(),
        "impart_bin": str(bin_),
        "python": sys.executable,
        "data": str(args.data),
        "repeats": args.repeats,
        "cpu": args.cpu,
        "versions": versions,
        "loadavg_start": list(os.getloadavg()),
    }
    print(f"machine: {meta['machine']}")
    print("versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    jobs = contender_runs(args, bin_, args.data)
    meta["loadavg_end"] = list(os.getloadavg())
    targets, problems = summarize(jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "large_images.json").write_text(
        json.dumps({"meta": meta, "jobs": jobs, "targets": targets, "problems": problems}, indent=1)
        + "\n"
    )
    md = write_markdown(meta, jobs, targets)
    (args.out / "large_images.md").write_text(md)
    plot(jobs, args.out / "large_images.png")
    print("\n" + md)
    print(f"wrote {args.out / 'large_images.json'}, .md, .png")
    if problems:
        print("\n" + "\n".join(f"!! {p}" for p in problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
