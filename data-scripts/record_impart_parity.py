#!/usr/bin/env python3
"""Record what the original Python ``impart`` 0.0.5 computes, for the parity test.

Usage::

    python3 data-scripts/record_impart_parity.py [OUT_FILE]

``OUT_FILE`` defaults to ``tests/data/impart_parity.json`` (relative to the
crate root); the file is committed and ``tests/impart_parity.rs`` compares the
Rust grid to every record in it. It needs the pinned packages of
``data-scripts/requirements-impart.txt`` (impart 0.0.5, pyvips, NumPy) and
libvips (Debian's ``libvips42``); ``data-scripts/record_impart_parity.sh``
installs both into a venv and runs this script. The output is deterministic:
running the script twice gives identical files.

Every region is computed by the original itself: ``ImagePartition`` is built
over a real (black, RGB) PNG of each image size, written with pyvips, and asked
for its ``shape``, ``step_size`` and ``compute_image_subregion(y, x)``. The
script adds, for each selection, what the selection means under NumPy's
indexing rules (``range(n)[slice]``, negative ints counted from the end,
out-of-range ints rejected), so the test can tell where the original deviates
from NumPy.

File format::

    {"format": 1, "impart": "0.0.5", "generator": ..., "about": ...,
     "grids": [{
        "image": [height, width], "cell": [height, width],
        "stride": s | [sy, sx]  (as passed to ImagePartition),
        "shape": the original's ``shape`` (cells per axis),
        "step": the original's ``step_size``,
        "empty_last": [bool, bool]  (the original's last cell on that axis
                      starts at or after the image end: it holds no pixel),
        "sel": [{
           "s":    the selection in NumPy syntax ("10,-1", ":3,15:21",
                   "...,0"; one item means the other axis is full),
           "orig": the original's compute_image_subregion(...):
                   [left, top, width, height], or the exception's type name,
           "np":   the NumPy cell ranges [[y0, y1], [x0, x1]] (half-open)
                   on the original's grid shape, or null if NumPy selects
                   nothing or raises,
           "npf":  only on grids with an empty last cell: the same on the grid
                   without that cell (shape - empty_last), where it differs,
           "ref":  only where it differs from "orig": the original's region
                   for the NumPy cell ranges ("npf" if present, else "np"),
                   asked with plain slices y0:y1, x0:x1, which the original
                   handles right,
           "dev":  only where the original's answer is not the NumPy one
                   ("orig" != "ref", or "orig" is a region where NumPy selects
                   nothing, or an exception where NumPy selects cells): the
                   kinds of deviation, per deviating axis,
           "crop": only where "orig" is not a box inside the image: what
                   indexing the original's image (part[y, x]) then does
                   ("ok" or the exception's type name)
        }]
     }],
     "invalid": [{"image", "cell", "stride" (as passed: ints or a tuple),
                  "orig": {"shape", "step"} if the original accepts the
                  arguments, else the exception's type name}]}

``invalid`` lists cell shapes and strides that are not positive: the original
checks tuples but not scalars, so a scalar stride of 0 divides by zero and a
negative scalar stride gives a grid with a negative step (and for large
images a negative cell count). The Rust crate rejects all of them.

Deviation kinds (see ``classify_axis``):

- ``empty_last_cell``: the original counts a last cell that starts at or after
  the image end (stride > 1, or cell * (1 - stride) < 1); the Rust grid does
  not count it, so its shape is one less, and negative indices and open ends
  resolve against the smaller shape;
- ``int_below_minus_n``: an int index below ``-n`` (the original adds ``n``
  once and never checks the lower bound: ``-n-2`` selects cell ``n-2``, ``-n-1``
  gives a negative extent); NumPy raises;
- ``slice_start_below_minus_n``: a slice start below ``-n`` (the original adds
  ``n`` once, giving a negative start and a region left of / above the image);
  NumPy clips the start to 0;
- ``slice_nonneg_start_neg_stop``: a slice like ``[:-1]`` or ``[2:-1]`` (the
  original compares start and stop before resolving the negative stop and
  raises "Empty or inverted slice"); NumPy selects cells;
- ``slice_inverted_after_wrap``: a slice like ``[-1:2]`` whose resolved start is
  not below its stop (the original returns a region of zero or negative
  extent); NumPy selects nothing;
- ``slice_step_ignored``: a slice with a step other than 1 (the original ignores
  the step and returns the bounding box of start:stop); the cells are not a
  box, and the Rust crate rejects the step.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pyvips
from impart import ImagePartition

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "impart_parity.json"

# --- what is recorded ---------------------------------------------------------

# (height, width): the original README's 1920 x 1080, tiny images (smaller
# than most cells), primes, squares, thin strips.
SIZES = [
    (1080, 1920),
    (1, 1),
    (3, 5),
    (7, 2),
    (13, 251),
    (97, 101),
    (100, 37),
    (127, 131),
    (256, 256),
    (1000, 999),
]

# (height, width)
CELLS = [(128, 128), (1, 1), (2, 2), (8, 8), (5, 3), (37, 37), (300, 300)]

STRIDES = [1.0, 0.5, 0.25, 0.1, 1.5, (0.2, 0.6), (0.3, 0.7), 0.9, 1 / 3, 2.0]

# Grids recorded with the full list of selections (axis_items on each axis),
# after every combination of SIZES x CELLS x STRIDES (recorded with
# broad_selections; a combination listed here is recorded once, in detail).
DETAILED = [
    ((1080, 1920), (128, 128), 0.5),  # the original README's example
    ((1080, 1920), (128, 128), (0.2, 0.6)),
    ((1080, 1920), (128, 128), (0.3, 0.7)),
    ((1080, 1920), (128, 128), 1.5),
    ((1080, 1920), (37, 37), 0.9),
    ((1080, 1920), (64, 32), 0.25),
    ((1, 1), (1, 1), 1.0),
    ((1, 1), (128, 128), 0.5),
    ((3, 5), (8, 8), 0.5),
    ((3, 5), (1, 1), 0.5),
    ((3, 5), (2, 2), 1.5),
    ((2, 7), (1, 1), 0.7),
    ((7, 2), (2, 2), (0.3, 0.7)),
    ((13, 251), (5, 3), (0.2, 0.6)),
    ((97, 101), (16, 9), 1.5),
    ((100, 37), (5, 3), 0.1),
    ((127, 131), (37, 37), 0.7),
    ((256, 256), (1, 1), 2.0),
    ((384, 512), (128, 128), 0.25),
    ((1000, 999), (2, 2), (1.5, 0.25)),
]


def axis_items(n: int) -> list:
    """Per-axis indices for a grid axis of ``n`` cells (the original's n)."""
    s = slice
    items = [
        # ints: in range, at and past the end, negative, below -n
        0, 1, n // 2, n - 1, n, -1, -2, -n, -n - 1, -n - 2, -2 * n - 1,
        # full axis, open ends
        Ellipsis, s(None, None), s(None, 3), s(3, None), s(n - 1, None), s(-1, None), s(-3, None),
        # ranges inside, to the end, past the end
        s(1, n - 1), s(0, n), s(0, n + 5), s(n - 2, n + 3),
        # negative starts and stops
        s(None, -1), s(2, -1), s(-5, -2), s(-2, -1), s(-1, 2), s(-n, None),
        s(-n - 3, 2), s(-n - 1, None),
        # empty and inverted
        s(n, None), s(3, 3), s(5, 2), s(-2, -5), s(None, 0), s(None, -n),
        # a step (ignored by the original)
        s(0, 4, 2),
    ]
    out, seen = [], set()
    for it in items:
        t = item_text(it)
        if t not in seen:
            seen.add(t)
            out.append(it)
    return out


def broad_selections(shape) -> list[tuple]:
    n0, n1 = shape
    return [(-1, -1), (n0 // 2, n1 // 2)]


def readme_selections() -> list[tuple]:
    return [(Ellipsis, 0), (slice(None, 3), slice(15, 21)), (10, -1), (slice(None, 10), -1)]


def detailed_selections(shape) -> list[tuple]:
    """Every axis item on each axis, paired with a rotating item that NumPy
    accepts on the other, plus pairs of items that both deviate (to see which
    axis the original checks first)."""
    ys, xs = axis_items(shape[0]), axis_items(shape[1])
    ok_y = [y for y in ys if numpy_axis(y, shape[0]) is not None]
    ok_x = [x for x in xs if numpy_axis(x, shape[1]) is not None]
    sels = readme_selections()
    sels += [(y, ok_x[(7 * i + 3) % len(ok_x)]) for i, y in enumerate(ys)]
    sels += [(ok_y[(5 * j + 1) % len(ok_y)], x) for j, x in enumerate(xs)]
    n0, n1 = shape
    s = slice
    sels += [
        (-n0 - 2, s(None, -1)),
        (s(None, -1), -n1 - 2),
        (s(-1, 2), s(2, -1)),
        (s(2, -1), s(-1, 2)),
        (s(-n0 - 3, 2), -n1 - 1),
        (n0, s(None, -1)),
        (s(None, -1), n1),
    ]
    # one item: the other axis is full (NumPy and the original agree on that)
    sels += [(3,), (-1,), (s(None, 3),), (s(-3, None),), (s(None, -1),), (0, Ellipsis)]
    out, seen = [], set()
    for sel in sels:
        t = sel_text(sel)
        if t not in seen:
            seen.add(t)
            out.append(sel)
    return out


# --- text ---------------------------------------------------------------------


def item_text(it) -> str:
    if it is Ellipsis:
        return "..."
    if isinstance(it, int):
        return str(it)
    f = lambda v: "" if v is None else str(v)  # noqa: E731
    t = f"{f(it.start)}:{f(it.stop)}"
    return t if it.step is None else f"{t}:{it.step}"


def sel_text(sel) -> str:
    return ",".join(item_text(it) for it in sel)


# --- NumPy semantics ----------------------------------------------------------


def numpy_axis(item, n: int):
    """The half-open cell range NumPy selects on an axis of n, or None."""
    if item is Ellipsis:
        return (0, n)
    if isinstance(item, int):
        if -n <= item < n:
            i = item % n
            return (i, i + 1)
        return None  # IndexError
    if item.step not in (None, 1):
        return None  # not a box of cells
    r = range(n)[item]
    return (r.start, r.stop) if len(r) else None


def numpy_ranges(sel, shape):
    full = tuple(sel) + (Ellipsis,) * (2 - len(sel))
    ranges = [numpy_axis(it, n) for it, n in zip(full, shape)]
    return None if any(r is None for r in ranges) else [list(r) for r in ranges]


# --- the original -------------------------------------------------------------


def call(part, *index):
    """compute_image_subregion(*index) as a list, or the exception's name."""
    try:
        return list(part.compute_image_subregion(*index))
    except Exception as e:  # noqa: BLE001 -- recording any exception is the point
        return type(e).__name__


@contextlib.contextmanager
def quiet_stderr():
    """libvips prints GLib warnings for bad crop areas; keep the log clean."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def crop(part, sel) -> str:
    try:
        with quiet_stderr():
            part[tuple(sel)]
        return "ok"
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


def axis_of(region, axis: int):
    """(start, extent) on one axis of a [left, top, width, height] region."""
    if not isinstance(region, list):
        return region
    left, top, width, height = region
    return (top, height) if axis == 0 else (left, width)


def classify_axis(item, n: int) -> str:
    """Why the original's answer on an axis of n cells is not NumPy's reading
    of the same index on the same n cells."""
    if isinstance(item, slice) and item.step not in (None, 1):
        return "slice_step_ignored"
    if isinstance(item, int):
        if item < -n:
            return "int_below_minus_n"
    elif isinstance(item, slice):
        start = 0 if item.start is None else item.start
        stop = n if item.stop is None else item.stop
        if start < -n:
            return "slice_start_below_minus_n"
        if start >= 0 and stop < 0:
            return "slice_nonneg_start_neg_stop"
        if start < 0 <= stop and start + n >= min(stop, n):
            return "slice_inverted_after_wrap"
    return "other"


def axis_call(part, axis: int, item):
    """The original's (start, extent) on one axis (the other axis at cell 0),
    or the exception's name."""
    return axis_of(call(part, *((item, 0) if axis == 0 else (0, item))), axis)


def axis_numpy(part, axis: int, item, n: int):
    """The original's (start, extent) for NumPy's reading of item on n cells
    (asked as a plain slice), or None where NumPy selects nothing."""
    r = numpy_axis(item, n)
    return None if r is None else axis_call(part, axis, slice(*r))


def same(answer, reference) -> bool:
    if reference is None:
        return isinstance(answer, str)
    return not isinstance(answer, str) and tuple(answer) == tuple(reference)


def record_grid(path: str, image, cell, stride, detailed: bool) -> dict:
    part = ImagePartition(path, cell, stride)
    assert (part.image.height, part.image.width) == image
    shape = list(part.shape)
    # the original's last cell on an axis holds no pixel (its extent is <= 0)
    empty_last = [
        axis_of(call(part, shape[0] - 1, 0), 0)[1] <= 0,
        axis_of(call(part, 0, shape[1] - 1), 1)[1] <= 0,
    ]
    shape_fix = [n - e for n, e in zip(shape, empty_last)]
    sels = detailed_selections(shape) if detailed else broad_selections(shape)
    records = []
    for sel in sels:
        full = tuple(sel) + (Ellipsis,) * (2 - len(sel))
        orig = call(part, *sel)
        np_r = numpy_ranges(sel, shape)
        npf = numpy_ranges(sel, shape_fix)
        want = npf
        ref = None if want is None else call(part, *(slice(a, b) for a, b in want))
        if ref is not None:
            # plain in-range slices: the original must give a box in the image
            left, top, width, height = ref
            assert width > 0 and height > 0 and left >= 0 and top >= 0, (sel, ref)
            assert left + width <= image[1] and top + height <= image[0], (sel, ref)
        rec = {"s": sel_text(sel), "orig": orig, "np": np_r}
        if npf != np_r:
            rec["npf"] = npf
        if ref is not None and ref != orig:
            rec["ref"] = ref
        deviates = (ref is None) != (not isinstance(orig, list)) or (
            ref is not None and ref != orig
        )
        if deviates:
            kinds = []
            for axis, (it, n, nf) in enumerate(zip(full, shape, shape_fix)):
                a_orig = axis_call(part, axis, it)
                if same(a_orig, axis_numpy(part, axis, it, nf)):
                    continue
                if n != nf and same(a_orig, axis_numpy(part, axis, it, n)):
                    # right on the original's grid: only the grid differs
                    kinds.append("empty_last_cell")
                else:
                    kinds.append(classify_axis(it, n))
            assert kinds, sel
            rec["dev"] = kinds
        if isinstance(orig, list):
            left, top, width, height = orig
            inside = (
                width > 0 and height > 0 and left >= 0 and top >= 0
                and left + width <= image[1] and top + height <= image[0]
            )
            if not inside:
                rec["crop"] = crop(part, full)
        records.append(rec)
    grid = {
        "image": list(image),
        "cell": list(cell),
        "stride": list(stride) if isinstance(stride, tuple) else stride,
        "shape": shape,
        "step": list(part.step_size),
    }
    if any(empty_last):
        grid["empty_last"] = empty_last
    grid["sel"] = records
    return grid


INVALID = [
    ((3, 5), (8, 8), 0.0),
    ((3, 5), (8, 8), -0.5),
    ((97, 101), (8, 8), -0.5),
    ((97, 101), (8, 8), -1.0),
    ((97, 101), (8, 8), (0.5, 0.0)),
    ((97, 101), (8, 8), (0.5, -1.0)),
    ((97, 101), (0, 8), 1.0),
    ((97, 101), (8, 0), 0.5),
    ((97, 101), 0, 1.0),
]


def record_invalid(path: str, image, cell, stride) -> dict:
    try:
        part = ImagePartition(path, cell, stride)
        orig = {"shape": list(part.shape), "step": list(part.step_size)}
    except Exception as e:  # noqa: BLE001
        orig = type(e).__name__
    return {
        "image": list(image),
        "cell": list(cell) if isinstance(cell, tuple) else cell,
        "stride": list(stride) if isinstance(stride, tuple) else stride,
        "orig": orig,
    }


# --- output -------------------------------------------------------------------


def dump(doc: dict) -> str:
    """JSON with one grid header and one selection per line (small, diffable)."""
    c = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    lines = ["{"]
    for key in ("format", "impart", "pyvips", "generator", "about"):
        lines.append(f"{c(key)}:{c(doc[key])},")
    lines.append('"grids":[')
    for gi, g in enumerate(doc["grids"]):
        head = ",".join(f"{c(k)}:{c(v)}" for k, v in g.items() if k != "sel")
        lines.append("{" + head + ',"sel":[')
        for si, s in enumerate(g["sel"]):
            lines.append(" " + c(s) + ("," if si + 1 < len(g["sel"]) else ""))
        lines.append("]}" + ("," if gi + 1 < len(doc["grids"]) else ""))
    lines.append('],"invalid":[')
    for ii, inv in enumerate(doc["invalid"]):
        lines.append(c(inv) + ("," if ii + 1 < len(doc["invalid"]) else ""))
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    return text


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    if version("impart") != "0.0.5":
        sys.exit(f"need impart 0.0.5, found {version('impart')}")
    print(
        f"impart {version('impart')}, pyvips {pyvips.__version__}, "
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        file=sys.stderr,
    )
    broad = [(i, c, s) for i in SIZES for c in CELLS for s in STRIDES]
    plan = [key for key in broad if key not in DETAILED] + DETAILED
    grids = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for image, cell, stride in plan:
            if image not in paths:
                paths[image] = os.path.join(tmp, f"{image[0]}x{image[1]}.png")
                pyvips.Image.black(image[1], image[0], bands=3).write_to_file(paths[image])
            detailed = (image, cell, stride) in DETAILED
            grids.append(record_grid(paths[image], image, cell, stride, detailed))
        invalid = []
        for image, cell, stride in INVALID:
            if image not in paths:
                paths[image] = os.path.join(tmp, f"{image[0]}x{image[1]}.png")
                pyvips.Image.black(image[1], image[0], bands=3).write_to_file(paths[image])
            invalid.append(record_invalid(paths[image], image, cell, stride))
    doc = {
        "format": 1,
        "impart": version("impart"),
        "pyvips": version("pyvips"),
        "generator": "data-scripts/record_impart_parity.py",
        "about": "The original Python impart 0.0.5 (ImagePartition over a PNG of each "
        "size): shape, step_size and compute_image_subregion per selection, with "
        "NumPy's reading of each selection. Fields: see the generator's docstring.",
        "grids": grids,
        "invalid": invalid,
    }
    text = dump(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    n_sel = sum(len(g["sel"]) for g in grids)
    n_dev = sum(1 for g in grids for s in g["sel"] if "dev" in s)
    print(
        f"wrote {out}: {len(grids)} grids, {n_sel} selections, {n_dev} deviating "
        f"from NumPy, {len(text)} bytes",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
