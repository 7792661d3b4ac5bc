"""TIFF fixtures written by libvips (pyvips ``tiffsave``), for
``make_tiff_fixtures.py``, which calls :func:`write_cases`.

libvips is another TIFF writer than tifffile: it writes through libtiff
(Debian's ``libvips42``, which pyvips loads at run time), with its own
choices: Orientation and resolution tags, a horizontal predictor by default
with LZW and deflate, LZW streams as libtiff ends them, JPEG tables in a
``JPEGTables`` tag, rows per strip or tiles of its ``tile_height``, and
pyramids as libvips lays them out. It writes no Software, DateTime or
ImageDescription tag (checked below); its output depends only on its
version (recorded in ``cases.json``), on zlib and libjpeg-turbo (Debian's),
not on the CPU or the thread count (checked by CI: two passes, one as an
AVX2 machine with libjpeg-turbo's SSE2 kernels).

Every expectation is read back with tifffile (``pages[i].asarray()``,
``series[0].levels``) and checked against a second reader, libvips itself
(``tiffload``, its ``page`` and ``subifd`` options), and for the pages of the
main IFD chain a third one, libtiff through ``imagecodecs.tiff_decode``.

libvips runs in a child process of its own (this file run as a script):
loading it brings Debian's libtiff, libwebp and libjpeg into the process's
global symbol scope, where they would take the place of imagecodecs' own
(the lossless WebP fixture came out different in one process). The child
writes the files and libvips' own reading of each level (``.npy`` in a
temporary directory); the parent reads them back with tifffile.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile

import make_tiff_fixtures as base

# what libvips must never write: a clock or a version
FORBIDDEN_TAGS = {305: "Software", 306: "DateTime", 270: "ImageDescription",
                  700: "XMP", 33723: "IPTC", 34377: "Photoshop"}

SMALL = (70, 90)       # 32 x 32 tiles and 16-row strips do not divide it
PYRAMID = (300, 400)   # levels 300 x 400, 150 x 200, 75 x 100, 37 x 50


def to_vips(data: np.ndarray):
    """(h, w, s) values as a libvips image of s bands."""
    import pyvips

    arr = data[..., 0] if data.shape[-1] == 1 else data
    im = pyvips.Image.new_from_array(np.ascontiguousarray(arr))
    if data.shape[-1] == 3:
        im = im.copy(interpretation="srgb")
    elif data.dtype == np.uint16:
        im = im.copy(interpretation="grey16")
    else:
        im = im.copy(interpretation="b-w")
    return im


def from_vips(im) -> np.ndarray:
    """A libvips image as (h, w, s)."""
    arr = im.numpy()
    return arr[..., np.newaxis] if arr.ndim == 2 else arr


class VipsCase:
    def __init__(self, name, dtype, shape, seed, save, *, smooth=False, lossy=False,
                 pyramid=None, note=None):
        self.name = name
        self.code = np.dtype(dtype).str[1:]
        self.shape = tuple(shape)
        self.seed = seed
        self.save = dict(save)           # the tiffsave options, as given
        self.smooth = smooth
        self.lossy = lossy
        self.pyramid = pyramid           # None | "pages" | "subifds"
        self.note = note

    @property
    def file(self):
        return self.name + ".tif"


def cases() -> list[VipsCase]:
    c = []
    rgb, gray = SMALL + (3,), SMALL + (1,)
    tiled = {"tile": True, "tile_width": 32, "tile_height": 32}
    striped = {"tile": False, "tile_height": 16}
    for lay_name, lay in (("tiled32", tiled), ("strips16", striped)):
        for comp_name, comp in (("lzw", {"compression": "lzw", "predictor": "none"}),
                                ("lzw_pred2", {"compression": "lzw",
                                               "predictor": "horizontal"}),
                                ("deflate", {"compression": "deflate"})):
            c.append(VipsCase(f"vips_u8_rgb_{lay_name}_{comp_name}", "u1", rgb,
                              60 + len(c), {**lay, **comp}))
            c.append(VipsCase(f"vips_u16_gray_{lay_name}_{comp_name}", "u2", gray,
                              60 + len(c), {**lay, **comp}))
        c.append(VipsCase(f"vips_u8_rgb_{lay_name}_jpeg_q90", "u1", rgb, 60 + len(c),
                          {**lay, "compression": "jpeg", "Q": 90}, smooth=True, lossy=True,
                          note="JPEG at quality 90: libvips keeps RGB (photometric 2), "
                               "no chroma subsampling; tables in JPEGTables"))
    c.append(VipsCase("vips_u8_rgb_tiled32_jpeg_q75", "u1", rgb, 60 + len(c),
                      {**tiled, "compression": "jpeg", "Q": 75}, smooth=True, lossy=True,
                      note="JPEG at libvips' default quality 75: stored as YCbCr, "
                           "2 x 2 subsampled; expected values are RGB"))
    pyr = {"tile": True, "tile_width": 64, "tile_height": 64, "compression": "deflate",
           "pyramid": True}
    c.append(VipsCase("vips_pyramid_pages_deflate", "u1", PYRAMID + (3,), 90, pyr,
                      pyramid="pages",
                      note="libvips' default pyramid: the reduced levels are pages 1.. of "
                           "the main IFD chain, NewSubfileType 1"))
    c.append(VipsCase("vips_pyramid_pages_deflate_bigtiff", "u1", PYRAMID + (3,), 90,
                      {**pyr, "bigtiff": True}, pyramid="pages",
                      note="as vips_pyramid_pages_deflate, in BigTIFF"))
    c.append(VipsCase("vips_pyramid_subifds_deflate", "u1", PYRAMID + (3,), 90,
                      {**pyr, "subifd": True}, pyramid="subifds",
                      note="the reduced levels in SubIFDs of page 0 (tiffsave subifd=True); "
                           "the file has one page"))
    c.append(VipsCase("vips_pyramid_subifds_deflate_bigtiff", "u1", PYRAMID + (3,), 90,
                      {**pyr, "subifd": True, "bigtiff": True}, pyramid="subifds",
                      note="as vips_pyramid_subifds_deflate, in BigTIFF"))
    return c


class Expected:
    """Writes expectation files, one file per distinct content (the four
    pyramids hold the same levels)."""

    def __init__(self, out):
        self.out = out
        self.by_hash = {}

    def write(self, name: str, arr: np.ndarray) -> str:
        arr = np.ascontiguousarray(arr)
        blob = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        key = (hashlib.sha256(blob).hexdigest(), arr.dtype.str[1:], arr.shape)
        if key in self.by_hash:
            return self.by_hash[key]
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(blob)
        self.by_hash[key] = name
        return name


def check_tags(path: str) -> None:
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages) + [lv.keyframe for lv in tif.series[0].levels]
        for page in pages:
            for code, name in FORBIDDEN_TAGS.items():
                assert code not in page.tags, f"{path}: libvips wrote {name}"


def child(out: str, tmp: str) -> None:
    """In the child process: write every case with libvips, and libvips' own
    reading of each page or level as ``tmp/NAME.levelI.npy``; print what
    the parent needs as JSON."""
    import pyvips

    done = []
    for case in cases():
        path = os.path.join(out, case.file)
        data = base.make_values(case.shape, case.code, case.seed, case.smooth)
        to_vips(data).tiffsave(path, **case.save)
        n = pyvips.Image.new_from_file(path).get("n-pages") if case.pyramid == "pages" else 1
        if case.pyramid == "subifds":
            n = 1 + pyvips.Image.new_from_file(path).get("n-subifds")
        for i in range(n):
            opt = {} if i == 0 else ({"page": i} if case.pyramid == "pages"
                                     else {"subifd": i - 1})
            np.save(os.path.join(tmp, f"{case.name}.level{i}.npy"),
                    from_vips(pyvips.Image.tiffload(path, **opt)))
        done.append({"name": case.name, "levels": n})
    json.dump({"pyvips": pyvips.__version__,
               "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
               "cases": done}, sys.stdout)


def write_cases(out: str) -> tuple[list[dict], dict]:
    """The libvips cases (files written by a child process) and the versions
    of pyvips and libvips."""
    entries = []
    expected = Expected(out)
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([sys.executable, os.path.abspath(__file__), out, tmp],
                             check=True, stdout=subprocess.PIPE)
        report = json.loads(run.stdout)
        levels_read = {c["name"]: c["levels"] for c in report["cases"]}
        for case in cases():
            own = [np.load(os.path.join(tmp, f"{case.name}.level{i}.npy"))
                   for i in range(levels_read[case.name])]
            entries.append(entry(out, case, own, expected))
    return entries, {"pyvips": report["pyvips"], "libvips": report["libvips"]}


def entry(out, case, own, expected) -> dict:
    path = os.path.join(out, case.file)
    check_tags(path)
    data = base.make_values(case.shape, case.code, case.seed, case.smooth)
    e = {"kind": "valid_extra", "writer": "libvips", "name": case.name,
         "file": case.file, "dtype": base.RUST_NAME[case.code], "lossy": case.lossy,
         "page": 0, "shape": list(case.shape),
         "tiffsave": {k: case.save[k] for k in sorted(case.save)}}
    if case.note:
        e["note"] = case.note
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        e.update(base.layout(tif, page))
        if page.photometric == tifffile.PHOTOMETRIC.YCBCR:
            # libvips leaves YCbCrSubSampling out: the TIFF default, 2 x 2
            tag = page.tags.get(530)
            e["subsampling"] = [2, 2] if tag is None else list(tag.value)
            e["subsampling_tag"] = tag is not None
        got = base.hwc(page.asarray(), case.shape[-1], page.planarconfig)
        assert got.shape == data.shape and got.dtype == data.dtype, case.name
        if case.lossy:
            e["max_abs_error"] = int(np.max(np.abs(got.astype(np.int64)
                                                   - data.astype(np.int64))))
            # libvips (Debian's libjpeg-turbo) decodes within a unit of
            # tifffile (imagecodecs' libjpeg-turbo)
            assert int(np.max(np.abs(own[0].astype(np.int64) - got.astype(np.int64)))) <= 1
        else:
            assert base.same_bits(got, data), case.name
            assert base.same_bits(own[0], data), case.name
        e["expected"] = expected.write(case.name + ".expected", got)
        if case.pyramid:
            e["levels"] = pyramid_levels(tif, path, case, own, expected)
    return e


def pyramid_levels(tif, path, case, own, expected) -> list[dict]:
    import imagecodecs

    series = tif.series[0]
    levels = series.levels
    assert len(levels) >= 3 and len(levels) == len(own), (case.name, len(levels), len(own))
    if case.pyramid == "pages":
        assert len(tif.pages) == len(levels)
        assert not tif.pages[0].subifds
    else:
        assert len(tif.pages) == 1
        assert len(tif.pages[0].subifds) == len(levels) - 1
    out = []
    prev = None
    for i, lv in enumerate(levels):
        got = lv.asarray()
        got = got[..., np.newaxis] if got.ndim == 2 else got
        key = lv.keyframe
        if i > 0:
            # a reduced image, half the size (rounded down) of the one above
            assert int(key.subfiletype) == 1, (case.name, i, key.subfiletype)
            assert got.shape[:2] == (prev[0] // 2, prev[1] // 2), (case.name, got.shape)
        prev = got.shape
        # libvips' own reading of the level
        assert base.same_bits(own[i], got), (case.name, i)
        if case.pyramid == "pages":
            # libtiff: page i of the chain
            with open(path, "rb") as f:
                lt = np.asarray(imagecodecs.tiff_decode(f.read(), index=i))
            assert base.same_bits(lt.reshape(got.shape), got), (case.name, i)
        name = case.name + (".expected" if i == 0 else f".level{i}.expected")
        out.append({"level": i, "page": i if case.pyramid == "pages" else 0,
                    "subifd": None if i == 0 or case.pyramid == "pages" else i - 1,
                    "shape": list(got.shape), "tile": [int(key.tilelength), int(key.tilewidth)],
                    "compression_code": int(key.compression), "predictor": int(key.predictor),
                    "expected": expected.write(name, got)})
    assert out[-1]["shape"][0] < 64 and out[-1]["shape"][1] < 64
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    child(sys.argv[1], sys.argv[2])
