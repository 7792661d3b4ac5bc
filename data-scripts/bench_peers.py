#!/usr/bin/env python3
"""Side-by-side peer benchmark: impart against the Python tools people use.

Usage (normally through ``data-scripts/bench-peers.sh``, which makes the venv
with the pinned ``data-scripts/requirements-peers.txt`` and builds impart)::

    python3 data-scripts/bench_peers.py [--quick] [--repeats R] [--size N]
        [--image-size M] [--data DIR] [--out DIR] [--impart-bin PATH]
        [--torchio] [--workloads raw,nifti,zarr,png] [--strides 1.0,0.5]
        [--peers NAME,...] [--budget SECONDS]

What it does:

1. Makes the data once in ``DATA/n{N}_m{M}/`` (reused when ``params.json``
   there matches): an N^3 u16 volume with a smooth, CT-like, compressible
   pattern (ellipsoids, low-frequency waves and a little deterministic noise),
   written as a raw C-order little-endian file, a NIfTI-1 ``.nii`` (nibabel,
   identity affine), a Zarr v3 array (zarr-python, 64^3 chunks, its default
   zstd codec), and an M x M RGB u8 PNG.
2. For every workload (raw, NIfTI and Zarr with 64^3 cells; PNG with 256x256
   cells and all 3 channels) at strides 1.0 and 0.5, asks ``impart grid
   --json`` for the grid, derives every cell's region (start ``ceil(i *
   step)`` on each axis, clipped at the volume's end), checks it against the
   per-cell lines of ``impart stats --json``, and times each peer on the whole
   job: open the file, extract every cell into an owned array, sum it in a
   wide integer type, and add the sums into one checksum.
3. Every input is evicted from the page cache and read once (see
   ``settle_page_cache``), then one untimed warm-up per peer and workload
   (page cache warm), then up to
   ``--repeats`` timed runs (fewer when the warm-up says they would exceed
   ``--budget`` seconds; the count is recorded); the median is reported.
4. Every peer's checksum must equal impart's (the ``sum`` of its summary
   line); a mismatch is printed loudly and the exit status is 1, after the
   table.
5. Writes ``results.json``, ``results.md`` (also printed) and ``peers.png``
   to ``--out``.

``--quick`` (N=128, M=1024, one repeat) is a fast correctness check.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# Bump when the generated data change, so stale data directories are remade.
DATA_FORMAT = 1
CELL_3D = (64, 64, 64)
CELL_2D = (256, 256)
ZARR_CHUNKS = (64, 64, 64)
GB = 1e9  # GB/s are 10^9 bytes per second


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def volume_slab(n: int, z0: int, z1: int) -> np.ndarray:
    """Planes z0..z1 of the N^3 u16 test volume (C order, axes z, y, x).

    A CT-like scene: air, an ellipsoidal body, two denser inner ellipsoids, a
    low-frequency wave across everything, and 5 bits of deterministic
    (hash-based) noise, so it compresses under zstd about as real scans do
    and is the same whatever the slab size.
    """
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0  # [-1, 1]
    z = c[z0:z1, None, None]
    y = c[None, :, None]
    x = c[None, None, :]
    body = (x / 0.85) ** 2 + (y / 0.7) ** 2 + (z / 0.9) ** 2 <= 1.0
    organ = ((x - 0.3) / 0.25) ** 2 + ((y + 0.1) / 0.35) ** 2 + (z / 0.5) ** 2 <= 1.0
    bone = ((x + 0.35) / 0.15) ** 2 + ((y - 0.2) / 0.15) ** 2 + (z / 0.8) ** 2 <= 1.0
    wave = (
        120.0 * np.sin(3.1 * x + 0.7) * np.cos(2.3 * y - 0.4)
        + 80.0 * np.sin(1.7 * z + 2.1 * x)
        + 60.0 * np.cos(4.3 * y + 1.3 * z)
    )
    v = 24.0 + 1000.0 * body + 250.0 * organ + 1400.0 * bone + wave * body
    # Deterministic noise from a hash of the coordinates (uint32 wraps).
    zi = np.arange(z0, z1, dtype=np.uint32)[:, None, None]
    yi = np.arange(n, dtype=np.uint32)[None, :, None]
    xi = np.arange(n, dtype=np.uint32)[None, None, :]
    h = (xi * np.uint32(73856093)) ^ (yi * np.uint32(19349663)) ^ (zi * np.uint32(83492791))
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    noise = (h & np.uint32(31)).astype(np.float32)
    return np.clip(v + noise, 0, 65535).astype("<u2")


def image_rows(m: int, r0: int, r1: int) -> np.ndarray:
    """Rows r0..r1 of the M x M RGB u8 test image: smooth colour waves, a disc,
    and 2 bits of deterministic noise."""
    c = (np.arange(m, dtype=np.float32) + 0.5) / m * 2.0 - 1.0
    y = c[r0:r1, None]
    x = c[None, :]
    disc = (x - 0.2) ** 2 + (y + 0.1) ** 2 <= 0.3
    chans = [
        128 + 90 * np.sin(5.0 * x + 1.1) * np.cos(3.0 * y) + 30 * disc,
        128 + 80 * np.cos(4.0 * y - 0.5) + 20 * np.sin(7.0 * x * y) - 40 * disc,
        128 + 70 * np.sin(3.0 * (x + y)) + 50 * disc,
    ]
    yi = np.arange(r0, r1, dtype=np.uint32)[:, None]
    xi = np.arange(m, dtype=np.uint32)[None, :]
    h = (xi * np.uint32(2654435761)) ^ (yi * np.uint32(40503))
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    out = np.empty((r1 - r0, m, 3), dtype=np.uint8)
    for k, ch in enumerate(chans):
        noise = ((h >> np.uint32(2 * k)) & np.uint32(3)).astype(np.float32)
        out[..., k] = np.clip(ch + noise, 0, 255).astype(np.uint8)
    return out


@dataclass
class Data:
    """Paths of the generated inputs."""

    dir: Path
    n: int
    m: int

    @property
    def raw(self) -> Path:
        return self.dir / f"volume_{self.n}.raw"

    @property
    def nii(self) -> Path:
        return self.dir / f"volume_{self.n}.nii"

    @property
    def zarr(self) -> Path:
        return self.dir / f"volume_{self.n}.zarr"

    @property
    def png(self) -> Path:
        return self.dir / f"image_{self.m}.png"


def settle_page_cache(data: Data) -> None:
    """Put every input in the page cache as a file read from disk is: drop
    its pages (posix_fadvise DONTNEED), then read it through once.

    How a file entered the page cache changes how fast it maps: pages of a
    file just written sit in small folios, while read-ahead fills large ones,
    which a memory-mapped walk faults in several times faster (measured here:
    impart's walk over the 512³ raw file took 54 ms right after the file was
    written and 22 ms after evicting and reading it again; NumPy's memmap is
    affected alike). Every peer then starts from the same, realistic state.
    """
    files = [data.raw, data.nii, data.png]
    files += sorted(p for p in data.zarr.rglob("*") if p.is_file())
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 1 << 22):
                pass
        finally:
            os.close(fd)


def make_data(root: Path, n: int, m: int) -> Data:
    """Write (or reuse) the four inputs for sizes N and M."""
    import nibabel as nib
    import zarr
    from PIL import Image

    data = Data(root / f"n{n}_m{m}", n, m)
    params = {
        "format": DATA_FORMAT,
        "n": n,
        "m": m,
        "zarr_chunks": list(ZARR_CHUNKS),
        "numpy": np.__version__,
        "nibabel": nib.__version__,
        "zarr": zarr.__version__,
    }
    stamp = data.dir / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        print(f"data: reusing {data.dir}")
        return data
    if data.dir.exists():
        shutil.rmtree(data.dir)
    data.dir.mkdir(parents=True)
    t0 = time.perf_counter()
    slab = ZARR_CHUNKS[0]  # slabs of whole chunk planes: each chunk written once

    # Raw, C order, little endian, written slab by slab.
    with open(data.raw, "wb") as f:
        for z0 in range(0, n, slab):
            f.write(volume_slab(n, z0, min(n, z0 + slab)).tobytes())

    # Zarr v3, zarr-python's default codecs (bytes + zstd), 64^3 chunks.
    vol = np.memmap(data.raw, dtype="<u2", mode="r", shape=(n, n, n))
    z = zarr.create_array(
        store=str(data.zarr), shape=(n, n, n), chunks=ZARR_CHUNKS, dtype="uint16", zarr_format=3
    )
    for z0 in range(0, n, slab):
        z[z0 : z0 + slab] = vol[z0 : z0 + slab]

    # NIfTI-1 from the same array, identity affine (nibabel stores it F order).
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_data_dtype(np.uint16)
    img.to_filename(data.nii)
    del img, vol

    # PNG, RGB u8 (Pillow's default zlib level, as most writers use).
    rows = np.concatenate([image_rows(m, r0, min(m, r0 + 512)) for r0 in range(0, m, 512)])
    Image.fromarray(rows, "RGB").save(data.png)
    del rows

    stamp.write_text(json.dumps(params, indent=1) + "\n")
    zbytes = sum(p.stat().st_size for p in data.zarr.rglob("*") if p.is_file())
    print(
        f"data: wrote {data.dir} in {time.perf_counter() - t0:.1f} s "
        f"(raw {data.raw.stat().st_size / 2**20:.0f} MiB, zarr {zbytes / 2**20:.0f} MiB "
        f"= {data.raw.stat().st_size / zbytes:.2f}x smaller, png {data.png.stat().st_size / 2**20:.0f} MiB)"
    )
    return data


# --------------------------------------------------------------------------
# Cells: the authoritative grid comes from impart
# --------------------------------------------------------------------------


@dataclass
class Cells:
    """Every cell of one workload, in C order of the grid index."""

    volume_shape: tuple[int, ...]  # whole volume, carried axes (channels) included
    cell: tuple[int, ...]  # nominal cell shape over the partitioned axes
    stride: float
    step: tuple[float, ...]  # cell * stride, per partitioned axis
    grid: tuple[int, ...]
    indices: list[tuple[int, ...]] = field(default_factory=list)
    starts: list[tuple[int, ...]] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # clipped at the end

    def slices(self, k: int) -> tuple[slice, ...]:
        """Slices of cell k over the partitioned axes (carried axes: all)."""
        return tuple(slice(s, s + e) for s, e in zip(self.starts[k], self.shapes[k]))

    def __len__(self) -> int:
        return len(self.starts)


@dataclass
class Workload:
    name: str  # raw | nifti | zarr | png
    title: str
    path: Path
    impart_args: list[str]  # flags describing the input (raw flags)
    cell: tuple[int, ...]
    itemsize: int


def impart_cmd(bin_: Path, sub: str, w: Workload, stride: float, *extra: str) -> list[str]:
    return [
        str(bin_),
        sub,
        str(w.path),
        *w.impart_args,
        "--cell",
        ",".join(map(str, w.cell)),
        "--stride",
        repr(stride),
        *extra,
        "--json",
    ]


def load_cells(bin_: Path, w: Workload, stride: float) -> tuple[Cells, list[dict], dict]:
    """Grid from ``impart grid --json``; regions as ceil(i*step) clipped;
    cross-checked against the per-cell lines of ``impart stats --json``."""
    g = json.loads(
        subprocess.run(
            impart_cmd(bin_, "grid", w, stride), check=True, capture_output=True, text=True
        ).stdout
    )
    k = len(w.cell)
    vol = tuple(g["volume_shape"])
    step = tuple(float(s) for s in g["step"])[:k]
    grid = tuple(g["grid_shape"])[:k]
    cells = Cells(vol, w.cell, stride, step, grid)
    for idx in product(*(range(n) for n in grid)):
        start = tuple(math.ceil(i * s) for i, s in zip(idx, step))
        shape = tuple(min(c, d - s0) for c, d, s0 in zip(w.cell, vol, start))
        cells.indices.append(idx)
        cells.starts.append(start)
        cells.shapes.append(shape)
    if len(cells) != g["cells"]:
        raise SystemExit(f"{w.name}: grid says {g['cells']} cells, computed {len(cells)}")
    out = subprocess.run(
        impart_cmd(bin_, "stats", w, stride, "--threads", "1"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    summary = lines[-1]
    per_cell = {tuple(d["index"]): d for d in lines[:-1]}
    for idx, start, shape in zip(cells.indices, cells.starts, cells.shapes):
        d = per_cell.get(idx)
        if d is None or tuple(d["start"][:k]) != start or tuple(d["shape"][:k]) != shape:
            raise SystemExit(
                f"{w.name} stride {stride}: cell {idx} is {d}, expected start {start} shape {shape}"
            )
    return cells, lines[:-1], summary


# --------------------------------------------------------------------------
# Peers: one function each, (path, cells) -> checksum. Each opens the file
# itself, makes every cell an owned array and sums it in a wide integer type.
# --------------------------------------------------------------------------


def touch(a) -> int:
    """The 'use' of a cell: its sum in uint64 (exact for u8/u16 cells)."""
    return int(np.asarray(a).sum(dtype=np.uint64))


def peer_numpy_memmap(path: Path, cells: Cells) -> int:
    """np.memmap of the raw file; np.array(mm[slices]) copies each cell."""
    mm = np.memmap(path, dtype="<u2", mode="r", shape=cells.volume_shape)
    return sum(touch(np.array(mm[cells.slices(k)])) for k in range(len(cells)))


def peer_nibabel_proxy(path: Path, cells: Cells) -> int:
    """nibabel ArrayProxy slicing: img.dataobj[slices] reads each cell from
    the file (keep_file_open=True, so the file is opened once: its fastest
    setting)."""
    import nibabel as nib

    img = nib.load(path, keep_file_open=True)  # the proxy closes the file when dropped
    return sum(touch(img.dataobj[cells.slices(k)]) for k in range(len(cells)))


def peer_nibabel_mmap(path: Path, cells: Cells) -> int:
    """nibabel's memmap: np.asanyarray(nib.load(path, mmap=True).dataobj) is
    a np.memmap of the .nii (F order); np.array(arr[slices]) copies each
    cell. The NumPy-memmap baseline for NIfTI."""
    import nibabel as nib

    arr = np.asanyarray(nib.load(path, mmap=True).dataobj)
    assert isinstance(arr, np.memmap), "nibabel did not memory-map the .nii"
    return sum(touch(np.array(arr[cells.slices(k)])) for k in range(len(cells)))


def peer_zarr_python(path: Path, cells: Cells) -> int:
    """zarr.open_array(path)[slices] per cell. zarr-python keeps no decoded
    chunks, so overlapping cells decode the chunks they share again."""
    import zarr

    z = zarr.open_array(str(path), mode="r")
    return sum(touch(z[cells.slices(k)]) for k in range(len(cells)))


def _tensorstore(path: Path, cells: Cells, cache_bytes: int) -> int:
    import tensorstore as ts

    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path.resolve())}}
    if cache_bytes:
        # Decoded chunks stay in the pool; recheck_cached_data=False trusts
        # them without asking the file system again, so a chunk shared by
        # overlapping cells is read and decoded once.
        ctx = ts.Context({"cache_pool": {"total_bytes_limit": cache_bytes}})
        store = ts.open(spec, read=True, context=ctx, recheck_cached_data=False).result()
    else:
        store = ts.open(spec, read=True, context=ts.Context()).result()  # default pool: 0 bytes
    return sum(touch(store[cells.slices(k)].read().result()) for k in range(len(cells)))


def peer_tensorstore_nocache(path: Path, cells: Cells) -> int:
    """TensorStore zarr3 driver on the file kvstore, store[slices].read()
    .result() per cell; default context: no chunk cache, its own thread
    pools (data_copy_concurrency: one per core)."""
    return _tensorstore(path, cells, 0)


def peer_tensorstore_cache(path: Path, cells: Cells) -> int:
    """As without cache, plus a cache_pool of twice the decoded volume and
    recheck_cached_data=False, so each chunk is decoded once per run."""
    nbytes = int(np.prod(cells.volume_shape)) * 2
    return _tensorstore(path, cells, max(2 * nbytes, 64 << 20))


def _windows(arr: np.ndarray, cells: Cells) -> np.ndarray:
    """skimage.util.view_as_windows over the partitioned axes (carried axes
    whole); checks its window grid is the same as impart's."""
    from skimage.util import view_as_windows

    k = len(cells.cell)
    steps = [s for s in cells.step]
    if any(s != int(s) for s in steps):
        raise ValueError(f"view_as_windows needs an integer step, got {steps}")
    carried = arr.shape[k:]
    win = view_as_windows(
        arr, tuple(cells.cell) + carried, step=tuple(int(s) for s in steps) + carried
    )
    if win.shape[:k] != cells.grid or any(sh != cells.cell for sh in cells.shapes):
        raise ValueError(
            f"view_as_windows grid {win.shape[:k]} (full windows only) != impart grid {cells.grid}"
        )
    return win.reshape(win.shape[:k] + win.shape[-arr.ndim :])


def peer_skimage_raw(path: Path, cells: Cells) -> int:
    """skimage.util.view_as_windows(memmap, cell, step); np.array(window)
    copies each cell (integer steps and full-size windows only)."""
    mm = np.memmap(path, dtype="<u2", mode="r", shape=cells.volume_shape)
    win = _windows(mm, cells)
    return sum(touch(np.array(win[idx])) for idx in cells.indices)


def peer_skimage_png(path: Path, cells: Cells) -> int:
    """skimage.io.imread (imageio, Pillow; decode timed), then
    view_as_windows(img, (256, 256, 3), step) and np.array(window)."""
    import skimage.io

    img = skimage.io.imread(path)
    win = _windows(img, cells)
    return sum(touch(np.array(win[idx])) for idx in cells.indices)


def peer_impart_python(path: Path, cells: Cells) -> int:
    """The original Python impart 0.0.5: ImagePartition(path, (256, 256),
    stride, channels=(0, 1, 2))[i, j].numpy() per cell (a pyvips crop made a
    NumPy array); opening and libvips' PNG decode timed. libvips' default
    (random) access decodes the whole PNG first: to memory below 100 MB, to a
    temporary file on disc above (VIPS_DISC_THRESHOLD). Its operation cache
    is off, so no run reuses an earlier run's decode."""
    import pyvips
    from impart import ImagePartition

    # libvips' operation cache would hand a later run the image the previous
    # run decoded (a small one fits its 100 MB); every run must decode.
    pyvips.cache_set_max(0)
    part = ImagePartition(
        str(path), cell_shape=tuple(cells.cell), stride=cells.stride, channels=(0, 1, 2)
    )
    if tuple(part.shape) != cells.grid:
        raise ValueError(f"Python impart grid {part.shape} != impart grid {cells.grid}")
    return sum(touch(part[idx].numpy()) for idx in cells.indices)


def peer_torchio(path: Path, cells: Cells) -> int:
    """TorchIO GridSampler(Subject(img=ScalarImage(.nii)), patch_size=64,
    patch_overlap=64 - step); it loads the whole volume as an int32 tensor
    (u16 is widened) and crops a sub-Subject per patch; sums in int64."""
    import torch
    import torchio as tio

    (patch,) = set(cells.cell)
    overlap = patch - int(cells.step[0])
    subject = tio.Subject(img=tio.ScalarImage(path))
    sampler = tio.GridSampler(subject, patch_size=patch, patch_overlap=overlap)
    if len(sampler) != len(cells):
        raise ValueError(f"GridSampler gives {len(sampler)} patches, impart {len(cells)}")
    total = 0
    for p in sampler:
        total += int(p["img"].data.sum(dtype=torch.int64))
    return total


@dataclass
class Peer:
    name: str
    package: str | None  # distribution name for the version (None: impart binary)
    fn: Callable[[Path, Cells], int] | None  # None: the impart binary
    threads: int = 1
    # extra arguments of the impart binary ("--cache-dir" for the decode cache)
    impart_extra: tuple[str, ...] = ()


def peers_for(workload: str, torchio: bool) -> list[Peer]:
    ours = [Peer("impart (1 thread)", None, None, 1), Peer("impart (2 threads)", None, None, 2)]
    table = {
        "raw": [
            Peer("NumPy memmap", "numpy", peer_numpy_memmap),
            Peer("scikit-image view_as_windows", "scikit-image", peer_skimage_raw),
        ],
        "nifti": [
            Peer("nibabel ArrayProxy", "nibabel", peer_nibabel_proxy),
            Peer("nibabel memmap", "nibabel", peer_nibabel_mmap),
        ]
        + ([Peer("TorchIO GridSampler", "torchio", peer_torchio)] if torchio else []),
        "zarr": [
            Peer("zarr-python", "zarr", peer_zarr_python),
            Peer("TensorStore (no cache)", "tensorstore", peer_tensorstore_nocache),
            Peer("TensorStore (cache_pool)", "tensorstore", peer_tensorstore_cache),
        ],
        "png": [
            # The decode cache: the warm-up run decodes the PNG into
            # <data>/decode-cache, the timed runs map it (as later runs over
            # the same image would).
            Peer("impart (1 thread, decode cache)", None, None, 1, ("--cache-dir", "decode-cache")),
            Peer("scikit-image imread + view_as_windows", "scikit-image", peer_skimage_png),
            Peer("Python impart 0.0.5 (pyvips)", "impart", peer_impart_python),
        ],
    }
    return ours + table[workload]


IMPART_NOTE = (
    "`impart stats PATH --cell .. --stride S --threads T --json`, stdout captured; the time is the "
    "process's wall clock (start-up, opening, PNG decode, every cell materialized with its "
    "min/max/mean/sum, JSON output); its own `seconds` (the cell walk alone) in parentheses."
)


def peer_note(peer: Peer) -> str:
    """A peer's one-paragraph description: its function's docstring."""
    if peer.fn is None:
        return IMPART_NOTE
    return " ".join((peer.fn.__doc__ or "").split())


def version_of(package: str) -> str:
    try:
        v = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    if package == "impart":
        try:
            import pyvips

            v += f" (pyvips {pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)})"
        except Exception as e:  # noqa: BLE001 - only for the label
            v += f" (pyvips unavailable: {e})"
    if package == "torchio":
        v += f" (torch {importlib.metadata.version('torch')})"
    return v


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def run_impart(
    bin_: Path, w: Workload, stride: float, threads: int, extra: tuple[str, ...] = ()
) -> tuple[int, float, dict]:
    """One whole impart stats run: (checksum, wall seconds, summary line).
    A relative ``--cache-dir`` in ``extra`` is taken inside the data dir."""
    extra = tuple(
        str(w.path.parent / a) if i > 0 and extra[i - 1] == "--cache-dir" else a
        for i, a in enumerate(extra)
    )
    cmd = impart_cmd(bin_, "stats", w, stride, "--threads", str(threads), *extra)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    wall = time.perf_counter() - t0
    summary = json.loads(out[out.rstrip().rfind("\n") + 1 :])
    assert summary.get("summary"), summary
    return int(summary["sum"]), wall, summary


def measure(
    job: Callable[[], tuple[int, float]], repeats: int, budget: float
) -> tuple[list[int], list[float], float]:
    """Untimed warm-up, then up to `repeats` timed runs within `budget` s."""
    gc.collect()
    checksum, warm = job()
    n = repeats if warm * repeats <= budget else max(1, int(budget // max(warm, 1e-9)))
    sums, times = [checksum], []
    for _ in range(n):
        gc.collect()
        c, t = job()
        sums.append(c)
        times.append(t)
    return sums, times, warm


def timed(fn: Callable[[], int]) -> Callable[[], tuple[int, float]]:
    def job() -> tuple[int, float]:
        t0 = time.perf_counter()
        c = fn()
        return c, time.perf_counter() - t0

    return job


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def git_describe() -> str:
    """The source the impart binary is presumably built from: commit (+dirty)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def targets(results: list[dict]) -> list[dict]:
    """The project's targets: ratio = peer median / impart (1 thread) median."""

    def med(workload: str, stride: float, peer: str) -> float | None:
        for r in results:
            if (
                r["workload"] == workload
                and r["stride"] == stride
                and r["peer"] == peer
                and r["median_s"]
            ):
                return r["median_s"]
        return None

    one, two = "impart (1 thread)", "impart (2 threads)"
    cached = "impart (1 thread, decode cache)"
    spec = [
        ("raw", 1.0, "NumPy memmap", 2.5, one, two),
        ("raw", 0.5, "NumPy memmap", 2.5, one, two),
        ("nifti", 1.0, "nibabel memmap", 2.5, one, two),
        ("nifti", 0.5, "nibabel memmap", 2.5, one, two),
        ("zarr", 0.5, "TensorStore (no cache)", 5.0, one, two),
        ("zarr", 0.5, "TensorStore (cache_pool)", 5.0, one, two),
        ("png", 1.0, "Python impart 0.0.5 (pyvips)", 10.0, one, two),
        ("png", 0.5, "Python impart 0.0.5 (pyvips)", 10.0, one, two),
        ("png", 1.0, "Python impart 0.0.5 (pyvips)", 10.0, cached, None),
        ("png", 0.5, "Python impart 0.0.5 (pyvips)", 10.0, cached, None),
    ]
    out = []
    for workload, stride, peer, goal, ours_1, ours_2 in spec:
        ours1 = med(workload, stride, ours_1)
        ours2 = med(workload, stride, ours_2) if ours_2 else None
        theirs = med(workload, stride, peer)
        ratio = theirs / ours1 if theirs and ours1 else None
        ratio2 = theirs / ours2 if theirs and ours2 else None
        out.append(
            {
                "workload": workload,
                "stride": stride,
                "peer": peer,
                "ours": ours_1,
                "goal": goal,
                "ratio_1_thread": ratio,
                "ratio_2_threads": ratio2,
                "met": ratio is not None and ratio >= goal,
            }
        )
    return out


WORKLOAD_TITLES = {
    "raw": "raw u16, 64³ cells",
    "nifti": "NIfTI-1 .nii u16, 64³ cells",
    "zarr": "Zarr v3 zstd u16 (64³ chunks), 64³ cells",
    "png": "PNG RGB u8, 256² cells × 3 channels",
}


def write_markdown(meta: dict, results: list[dict], tg: list[dict]) -> str:
    m = meta["machine"]
    lines = [
        "# impart against its peers",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; Python {m['python']}; "
        f"load average (1 min) {meta['loadavg_start'][0]:.1f} at the start, {meta['loadavg_end'][0]:.1f} at the end.  ",
        f"{meta['date']}; impart built from {meta['git']} ({meta['impart_bin']}).  ",
        f"Volume {meta['n']}³ u16 ({meta['n'] ** 3 * 2 / 2**20:.0f} MiB), image {meta['m']}² RGB u8; "
        f"page cache warm (every input evicted and read once before the runs, as a file read from disk; "
        f"one untimed warm-up per peer), median of up to {meta['repeats']} runs.  ",
        "Every peer's time is the whole job: open the file, extract every cell into an owned array, "
        "sum it (uint64). impart's is the wall clock of the `impart stats --json` process "
        "(its own `seconds` in parentheses). GB/s = cell bytes delivered / median time (10⁹ B/s); "
        "ratio = peer time / impart 1-thread time.",
        "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
    ]
    for workload in meta["workloads"]:
        rows = [r for r in results if r["workload"] == workload]
        if not rows:
            continue
        lines += [f"## {WORKLOAD_TITLES[workload]}", ""]
        lines += [
            "| stride | cells | peer | version | runs | median | GB/s | ratio | checksum ok |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            med = fmt_s(r["median_s"])
            if r.get("impart_seconds_median") is not None:
                med += f" ({fmt_s(r['impart_seconds_median'])})"
            if r["ok"]:
                ok = "yes"
            elif r["checksum"] is not None:
                ok = f"**NO** ({r['checksum']})"
            elif r["note"].startswith("not installed"):
                ok = f"skipped: {r['note']}"
            else:
                ok = f"**FAILED**: {r['note']}"
            gbs = f"{r['gb_per_s']:.2f}" if r["gb_per_s"] else "-"
            ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
            lines.append(
                f"| {r['stride']} | {r['cells']} | {r['peer']} | {r['version']} | {len(r['times_s'])} | {med} | {gbs} | {ratio} | {ok} |"
            )
        lines.append("")
    lines += ["## What each peer does", ""]
    for name, doc in meta["peer_notes"].items():
        lines.append(f"- **{name}**: {doc}")
    lines += [""]
    lines += [
        "## Targets",
        "",
        "| workload | stride | ours | against | goal | ratio (1 thread) | ratio (2 threads) | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tg:
        r1 = f"{t['ratio_1_thread']:.2f}x" if t["ratio_1_thread"] else "not measured"
        r2 = f"{t['ratio_2_threads']:.2f}x" if t["ratio_2_threads"] else "-"
        verdict = (
            "not measured"
            if t["ratio_1_thread"] is None
            else ("met" if t["met"] else "**NOT met**")
        )
        lines.append(
            f"| {t['workload']} | {t['stride']} | {t['ours']} "
            f"| {t['peer']} | ≥ {t['goal']}x | {r1} | {r2} | {verdict} |"
        )
    lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []
    for r in results:
        g = (r["workload"], r["stride"])
        if g not in groups:
            groups.append(g)
    peers = []
    for r in results:
        if r["peer"] not in peers:
            peers.append(r["peer"])
    colors = plt.get_cmap("tab20").colors
    color = {p: colors[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20] for i, p in enumerate(peers)}
    fig, ax = plt.subplots(figsize=(12, 7), dpi=100)
    vals = [r["gb_per_s"] for r in results if r["gb_per_s"]]
    x = 0.0
    ticks, labels, seen = [], [], set()
    for workload, stride in groups:
        rows = [
            r
            for r in results
            if (r["workload"], r["stride"]) == (workload, stride) and r["gb_per_s"]
        ]
        width = 0.8 / max(1, len(rows))
        for i, r in enumerate(rows):
            xi = x + (i - (len(rows) - 1) / 2) * width
            ax.bar(
                xi,
                r["gb_per_s"],
                width * 0.95,
                color=color[r["peer"]],
                label=None if r["peer"] in seen else r["peer"],
                hatch=None if r["ok"] else "xx",
                edgecolor="black" if not r["ok"] else None,
            )
            seen.add(r["peer"])
            ax.text(
                xi,
                r["gb_per_s"],
                f"{r['gb_per_s']:.2g}",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
            )
        ticks.append(x)
        labels.append(f"{workload}\nstride {stride}")
        x += 1.0
    if vals and max(vals) / min(vals) > 20:
        ax.set_yscale("log")
    ax.set_xticks(ticks, labels)
    ax.set_ylabel("cell data delivered, GB/s (higher is better)")
    ax.set_title("Extract every cell into an owned array and sum it: impart vs peers")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.set_ylim(top=ax.get_ylim()[1] * (3 if ax.get_yscale() == "log" else 1.15))
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="N=128, M=1024, 1 repeat: a correctness check"
    )
    ap.add_argument("--size", type=int, help="volume edge N (default 512; 128 with --quick)")
    ap.add_argument("--image-size", type=int, help="image edge M (default 8192; 1024 with --quick)")
    ap.add_argument("--repeats", type=int, help="timed runs per peer (default 5; 1 with --quick)")
    ap.add_argument(
        "--budget",
        type=float,
        default=240.0,
        help="seconds of timed runs per peer and workload before repeats are cut (default 240)",
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=REPO / "target/bench-peers/data",
        help="data root; inputs go to DATA/n{N}_m{M}/ (default target/bench-peers/data)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="output dir (default target/bench-peers/out, out-quick with --quick)",
    )
    ap.add_argument(
        "--impart-bin",
        type=Path,
        default=Path(os.environ.get("IMPART_BIN", REPO / "target/release/impart")),
        help="the impart program (default $IMPART_BIN, else target/release/impart)",
    )
    ap.add_argument(
        "--torchio", action="store_true", help="also run TorchIO's GridSampler on the NIfTI"
    )
    ap.add_argument("--workloads", default="raw,nifti,zarr,png", help="default: all four")
    ap.add_argument("--strides", default="1.0,0.5", help="default: 1.0,0.5")
    ap.add_argument(
        "--peers", help="comma-separated substrings of peer names to run (impart always runs)"
    )
    args = ap.parse_args()

    n = args.size or (128 if args.quick else 512)
    m = args.image_size or (1024 if args.quick else 8192)
    repeats = args.repeats or (1 if args.quick else 5)
    out = args.out or REPO / (
        "target/bench-peers/out-quick" if args.quick else "target/bench-peers/out"
    )
    out.mkdir(parents=True, exist_ok=True)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    strides = [float(s) for s in args.strides.split(",")]
    bin_ = args.impart_bin
    if not bin_.exists():
        raise SystemExit(
            f"impart binary not found: {bin_} (build with cargo build --release, or set IMPART_BIN)"
        )

    data = make_data(args.data, n, m)
    settle_page_cache(data)
    impart_version = subprocess.run(
        [str(bin_), "--version"], capture_output=True, text=True
    ).stdout.strip()
    wl = {
        "raw": Workload(
            "raw",
            WORKLOAD_TITLES["raw"],
            data.raw,
            ["--shape", f"{n},{n},{n}", "--dtype", "u16"],
            CELL_3D,
            2,
        ),
        "nifti": Workload("nifti", WORKLOAD_TITLES["nifti"], data.nii, [], CELL_3D, 2),
        "zarr": Workload("zarr", WORKLOAD_TITLES["zarr"], data.zarr, [], CELL_3D, 2),
        "png": Workload("png", WORKLOAD_TITLES["png"], data.png, [], CELL_2D, 1),
    }
    versions = {"impart (Rust)": impart_version or str(bin_)}
    for pkg in ["numpy", "nibabel", "zarr", "tensorstore", "scikit-image", "impart"] + (
        ["torchio"] if args.torchio else []
    ):
        versions[pkg if pkg != "impart" else "impart (Python)"] = version_of(pkg)
    meta = {
        "machine": machine(),
        "n": n,
        "m": m,
        "repeats": repeats,
        "budget_s": args.budget,
        "workloads": workloads,
        "strides": strides,
        "impart_bin": str(bin_),
        "versions": versions,
        "data_dir": str(data.dir),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "git": git_describe(),
        "loadavg_start": list(os.getloadavg()),
    }
    print(f"machine: {meta['machine']}")
    print("versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()))

    meta["peer_notes"] = {}
    for name in workloads:
        for peer in peers_for(name, args.torchio):
            meta["peer_notes"].setdefault(
                peer.name.split(" (")[0] if peer.fn is None else peer.name, peer_note(peer)
            )
    results: list[dict] = []
    mismatches = []
    for name in workloads:
        w = wl[name]
        for stride in strides:
            cells, _, summary0 = load_cells(bin_, w, stride)
            expected = int(summary0["sum"])
            nbytes = sum(int(np.prod(s)) for s in cells.shapes) * w.itemsize
            carried = int(np.prod(cells.volume_shape[len(w.cell) :]))  # channels
            nbytes *= carried
            if nbytes != summary0["bytes"]:
                raise SystemExit(
                    f"{name}: impart delivers {summary0['bytes']} bytes, cells add up to {nbytes}"
                )
            print(
                f"\n== {w.title}, stride {stride}: grid {cells.grid}, {len(cells)} cells, {nbytes / 2**20:.0f} MiB, checksum {expected}"
            )
            ours_median = None
            for peer in peers_for(name, args.torchio):
                if (
                    peer.fn is not None
                    and args.peers
                    and not any(
                        p.strip().lower() in peer.name.lower() for p in args.peers.split(",")
                    )
                ):
                    continue
                rec = {
                    "workload": name,
                    "stride": stride,
                    "peer": peer.name,
                    "version": impart_version if peer.fn is None else version_of(peer.package),
                    "cells": len(cells),
                    "bytes": nbytes,
                    "expected": expected,
                    "checksum": None,
                    "ok": False,
                    "times_s": [],
                    "median_s": None,
                    "gb_per_s": None,
                    "ratio": None,
                    "note": "",
                }
                internal: list[float] = []
                try:
                    if peer.fn is None:

                        def job(t=peer.threads, extra=peer.impart_extra):
                            c, wall, s = run_impart(bin_, w, stride, t, extra)
                            internal.append(float(s["seconds"]))
                            return c, wall

                    else:
                        job = timed(lambda fn=peer.fn: fn(w.path, cells))
                    sums, times, warm = measure(job, repeats, args.budget)
                except ImportError as e:
                    rec["note"] = f"not installed ({e.name or e})"
                    print(f"  {peer.name:40s} skipped: {rec['note']}")
                    results.append(rec)
                    continue
                except Exception as e:  # a peer that cannot do the job is reported, not fatal
                    rec["note"] = f"{type(e).__name__}: {e}"
                    print(f"  {peer.name:40s} FAILED: {rec['note']}")
                    mismatches.append(f"{name} stride {stride} {peer.name}: {rec['note']}")
                    results.append(rec)
                    continue
                bad = [c for c in sums if c != expected]
                rec["checksum"] = bad[0] if bad else expected
                rec["ok"] = not bad
                rec["times_s"] = times
                rec["warmup_s"] = warm
                rec["median_s"] = statistics.median(times)
                rec["gb_per_s"] = nbytes / rec["median_s"] / GB
                if peer.fn is None:
                    rec["impart_seconds"] = internal[1:]  # drop the warm-up's
                    rec["impart_seconds_median"] = statistics.median(internal[1:])
                    rec["threads"] = peer.threads
                if peer.name == "impart (1 thread)":
                    ours_median = rec["median_s"]
                if ours_median:
                    rec["ratio"] = rec["median_s"] / ours_median
                extra = (
                    f" (impart's own {fmt_s(rec['impart_seconds_median'])})"
                    if peer.fn is None
                    else ""
                )
                print(
                    f"  {peer.name:40s} {len(times)} runs, median {fmt_s(rec['median_s'])}{extra}, "
                    f"{rec['gb_per_s']:.2f} GB/s, ratio {rec['ratio'] or 0:.2f}, checksum {'ok' if rec['ok'] else 'MISMATCH'}"
                )
                if bad:
                    msg = f"{name} stride {stride} {peer.name}: checksum {bad[0]} != impart's {expected}"
                    print("!" * 78 + f"\n!! CHECKSUM MISMATCH: {msg}\n" + "!" * 78)
                    mismatches.append(msg)
                results.append(rec)
                sys.stdout.flush()

    meta["loadavg_end"] = list(os.getloadavg())
    tg = targets(results)
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "results": results, "targets": tg}, indent=1) + "\n"
    )
    md = write_markdown(meta, results, tg)
    (out / "results.md").write_text(md)
    plot(results, out / "peers.png")
    print("\n" + md)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'peers.png'}")
    if mismatches:
        print("\n" + "!" * 78)
        for msg in mismatches:
            print(f"!! {msg}")
        print("!" * 78)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
