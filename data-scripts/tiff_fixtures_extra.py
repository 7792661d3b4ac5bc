"""More TIFF fixtures and records for ``make_tiff_fixtures.py``, which calls
:func:`write_cases`, :func:`structure`, :func:`page_data` and
:func:`rasterio_record`.

- tifffile cases for zero-copy decisions: uncompressed contiguous stacks
  (little- and big-endian, strips back to back), an uncompressed planar
  page, an ImageJ ``TZCYX`` hyperstack; each with the offsets and byte
  counts of every page's strips as tifffile reads them;
- two more GeoTIFFs: raster type PixelIsPoint (tifffile, GeoKeys as extra
  tags), and a real CRS (EPSG 32633, WGS 84 / UTM zone 33N) written by GDAL
  through rasterio;
- for every GeoTIFF, what rasterio (GDAL) reports: the affine and the
  transforms of the windows of a 16 x 16, stride 0.5 grid (each window's
  data checked against tifffile's array);
- for every file, where its header, IFDs, out-of-line tag values and data
  chunks lie (as tifffile finds them), for tests that cut or damage files.
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np
import rasterio
import rasterio.transform
import tifffile
from rasterio.windows import Window

import make_tiff_fixtures as base

A = (37, 53)
WINDOW = 16
WINDOW_STEP = 8   # stride 0.5


# --------------------------------------------------------------------------
# records of any file


def all_pages(tif: tifffile.TiffFile) -> list:
    """Every IFD tifffile finds: the main chain, then SubIFDs (pyramid levels)."""
    tif.pages.useframes = False
    pages = [tif.pages[i] for i in range(len(tif.pages))]
    seen = {p.offset for p in pages}
    for series in tif.series:
        for lv in series.levels:
            for p in lv.pages:
                if p is not None and p.offset not in seen:
                    pages.append(p)
                    seen.add(p.offset)
    return pages


def structure(path: str) -> dict:
    """Where the parts of the file lie, from tifffile: the header, each IFD
    (offset and number of entries), each tag value stored outside its
    entry, each strip or tile."""
    with tifffile.TiffFile(path) as tif:
        fmt = tif.tiff
        ifds, values, chunks = set(), set(), set()
        for page in all_pages(tif):
            tif.filehandle.seek(page.offset)
            raw = tif.filehandle.read(fmt.tagnosize)
            n = struct.unpack(tif.byteorder + ("H" if fmt.tagnosize == 2 else "Q"), raw)[0]
            ifds.add((int(page.offset), int(n)))
            for tag in page.tags:
                if tag.valuebytecount > fmt.offsetsize:
                    values.add((int(tag.valueoffset), int(tag.valuebytecount)))
            for o, c in zip(page.dataoffsets, page.databytecounts):
                if c:
                    chunks.add((int(o), int(c)))
        return {"size": os.path.getsize(path), "header_bytes": 8 if fmt.offsetsize == 4 else 16,
                "count_bytes": int(fmt.tagnosize), "entry_bytes": int(fmt.tagsize),
                "offset_bytes": int(fmt.offsetsize),
                "ifds": [list(x) for x in sorted(ifds)],
                "values": [list(x) for x in sorted(values)],
                "chunks": [list(x) for x in sorted(chunks)]}


def page_data(tif: tifffile.TiffFile, pages: list[int]) -> tuple[list, dict]:
    """Per page: the strip or tile offsets and byte counts and tifffile's
    ``is_contiguous``; and a summary: whether the pages' data are evenly
    spaced and whether all chunks follow each other with no gap."""
    tif.pages.useframes = False
    per = []
    for i in pages:
        p = tif.pages[i]
        per.append({"page": i, "dataoffsets": [int(o) for o in p.dataoffsets],
                    "databytecounts": [int(c) for c in p.databytecounts],
                    "is_contiguous": bool(p.is_contiguous)})
    firsts = [d["dataoffsets"][0] for d in per]
    gaps = {b - a for a, b in zip(firsts, firsts[1:])}
    flat = [(o, c) for d in per for o, c in zip(d["dataoffsets"], d["databytecounts"])]
    back_to_back = all(o1 + c1 == o2 for (o1, c1), (o2, _) in zip(flat, flat[1:]))
    series = tif.series[0]
    summary = {"series_dataoffset": None if series.dataoffset is None else int(series.dataoffset),
               "page_stride": gaps.pop() if len(gaps) == 1 else None,
               "evenly_spaced": len(gaps) <= 1 if len(per) > 1 else True,
               "back_to_back": back_to_back,
               "all_contiguous": all(d["is_contiguous"] for d in per)}
    sizes = {sum(d["databytecounts"]) for d in per}
    summary["page_bytes"] = sizes.pop() if len(sizes) == 1 else None
    return per, summary


def starts(dim: int) -> list[int]:
    """Cell starts of a WINDOW cell, stride 0.5 grid on an axis of `dim`, the
    last cell shifted back inside (edge policy "shift")."""
    n = 1 + math.ceil(max(0, dim - WINDOW) / WINDOW_STEP)
    return [min(i * WINDOW_STEP, max(0, dim - WINDOW)) for i in range(n)]


def matrix(t) -> list[list[float]]:
    return [[float(t.a), float(t.b), float(t.c)], [float(t.d), float(t.e), float(t.f)],
            [0.0, 0.0, 1.0]]


def rasterio_record(path: str, expected: np.ndarray) -> dict:
    """What rasterio (GDAL) reports for a GeoTIFF: its affine (GDAL order: x =
    a*col + b*row + c, y = d*col + e*row + f, as a 3 x 3), and for the
    windows of a WINDOW x WINDOW grid with stride 0.5 (shifted at the end)
    each window's origin (the window transform's c and f). Each window's
    data must be `expected`'s (h, w, s) slice."""
    with rasterio.open(path) as src:
        h, w = src.height, src.width
        assert expected.shape[:2] == (h, w)
        crs = src.crs
        rec = {"transform": matrix(src.transform),
               "crs_epsg": crs.to_epsg() if crs is not None and crs.is_epsg_code else None,
               "area_or_point": src.tags().get("AREA_OR_POINT"),
               "cell": [WINDOW, WINDOW], "stride": 0.5, "edge": "shift", "windows": []}
        for r in starts(h):
            for c in starts(w):
                win = Window(c, r, WINDOW, WINDOW)
                wt = src.window_transform(win)
                data = np.moveaxis(src.read(window=win), 0, -1)
                assert base.same_bits(data, expected[r:r + WINDOW, c:c + WINDOW]), (path, r, c)
                # the window's transform is the source's, moved to the window
                assert (wt.a, wt.b, wt.d, wt.e) == (src.transform.a, src.transform.b,
                                                    src.transform.d, src.transform.e)
                rec["windows"].append({"start": [r, c], "shape": [WINDOW, WINDOW],
                                       "origin": [float(wt.c), float(wt.f)]})
    return rec


# --------------------------------------------------------------------------
# the cases


def entry_of(tif, case_name, file, dtype, shape, page, *, note=None, **more) -> dict:
    e = {"kind": "valid_extra", "writer": "tifffile", "name": case_name, "file": file,
         "dtype": dtype, "lossy": False, "expected": case_name + ".expected",
         "page": page, "shape": list(shape), **base.layout(tif, tif.pages[0]), **more}
    if note:
        e["note"] = note
    return e


def stack_case(out, name, code, shape, seed, byteorder, rps, note) -> dict:
    """An uncompressed stack: tifffile writes the pages' strips back to back."""
    data = base.make_values(shape, code, seed)
    path = os.path.join(out, name + ".tif")
    tifffile.imwrite(path, data[..., 0], photometric="minisblack", rowsperstrip=rps,
                     byteorder=byteorder, maxworkers=1)
    with tifffile.TiffFile(path) as tif:
        pages = len(tif.pages)
        lay = base.layout(tif, tif.pages[0])
        for i in range(pages):
            assert base.layout(tif, tif.pages[i]) == lay
        got = tif.asarray().reshape(shape)
        assert base.same_bits(got, data), name
        per, summary = page_data(tif, list(range(pages)))
        e = entry_of(tif, name, name + ".tif", base.RUST_NAME[code], shape, None, note=note,
                     pages=pages, axes=tif.series[0].axes,
                     series_shape=list(tif.series[0].shape), page_data=per,
                     data_layout=summary)
    base.write_expected(os.path.join(out, e["expected"]), got)
    return e


def planar_case(out) -> dict:
    name = "u8_rgb_planar2_contig"
    shape = A + (3,)
    data = base.make_values(shape, "u1", 70)
    path = os.path.join(out, name + ".tif")
    tifffile.imwrite(path, np.moveaxis(data, -1, 0), photometric="rgb",
                     planarconfig="separate", rowsperstrip=A[0], maxworkers=1)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        got = base.hwc(page.asarray(), 3, page.planarconfig)
        assert base.same_bits(got, data)
        per, summary = page_data(tif, [0])
        e = entry_of(tif, name, name + ".tif", "u8", shape, 0, page_data=per,
                     data_layout=summary,
                     note="uncompressed, PlanarConfiguration 2, one strip per plane: the "
                          "three planes back to back")
    base.write_expected(os.path.join(out, e["expected"]), got)
    return e


def imagej_case(out) -> dict:
    name = "imagej_u16_tzcyx"
    axes, dims = "TZCYX", (2, 3, 2) + A
    planes = dims[0] * dims[1] * dims[2]
    data = base.make_values((planes,) + A + (1,), "u2", 71)
    path = os.path.join(out, name + ".tif")
    tifffile.imwrite(path, data.reshape(dims), imagej=True, metadata={"axes": axes},
                     photometric="minisblack", maxworkers=1)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        pages = len(tif.pages)
        assert pages == planes
        got = np.stack([tif.pages[i].asarray() for i in range(pages)])[..., np.newaxis]
        assert base.same_bits(got, data)
        assert base.same_bits(tif.asarray().reshape(got.shape), data)
        ij = tif.imagej_metadata
        per, summary = page_data(tif, list(range(pages)))
        e = entry_of(tif, name, name + ".tif", "u16", got.shape, None, pages=pages,
                     axes=tif.series[0].axes, series_shape=list(tif.series[0].shape),
                     imagej={k: ij.get(k) for k in
                             ("images", "channels", "slices", "frames", "hyperstack")},
                     page_data=per, data_layout=summary,
                     note="ImageJ hyperstack T=2, Z=3, C=2: 12 pages of one plane, C "
                          "fastest then Z: page = (t * 3 + z) * 2 + c")
        assert e["axes"] == axes and e["series_shape"] == list(dims)
    base.write_expected(os.path.join(out, e["expected"]), got)
    return e


# GeoKeyDirectory: version 1.1.0, 2 keys: GTModelType 2 (geographic),
# GTRasterType 2 (PixelIsPoint)
POINT_KEYS = (1, 1, 0, 2, 1024, 0, 1, 2, 1025, 0, 1, 2)


def pixel_is_point_case(out) -> dict:
    name = "geotiff_u16_pixelispoint"
    shape = A + (1,)
    data = base.make_values(shape, "u2", 72)
    path = os.path.join(out, name + ".tif")
    scale, tie = base.GEO_SCALE, base.GEO_TIEPOINT
    tifffile.imwrite(path, data[..., 0], photometric="minisblack", rowsperstrip=8,
                     maxworkers=1,
                     extratags=[(33550, "d", 3, scale, True), (33922, "d", 6, tie, True),
                                (34735, "H", len(POINT_KEYS), POINT_KEYS, True)])
    sx, sy, sz = scale
    i, j, k, x, y, z = tie
    # the tie point names the centre of pixel (I, J); the corner of pixel
    # (0, 0) is half a pixel up and left of its centre
    at_centres = [[sx, 0.0, 0.0, x - i * sx], [0.0, -sy, 0.0, y + j * sy],
                  [0.0, 0.0, sz, z - k * sz], [0.0, 0.0, 0.0, 1.0]]
    affine = [row[:] for row in at_centres]
    affine[0][3] -= 0.5 * sx
    affine[1][3] += 0.5 * sy
    geo = {"pixel_scale": list(scale), "tiepoint": list(tie), "transformation": None,
           "raster_type": "PixelIsPoint", "affine": affine,
           "affine_2d": [[affine[0][0], affine[0][1], affine[0][3]],
                         [affine[1][0], affine[1][1], affine[1][3]], [0.0, 0.0, 1.0]],
           "affine_pixel_centres": at_centres}
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        gt = page.geotiff_tags
        assert int(gt["GTRasterTypeGeoKey"]) == 2
        got = base.hwc(page.asarray(), 1, 1)
        assert base.same_bits(got, data)
        e = entry_of(tif, name, name + ".tif", "u16", shape, 0, geo=geo,
                     note="GTRasterType 2 (PixelIsPoint): the tie point is at the centre of "
                          "pixel (2, 4); GDAL, like geo.affine, puts pixel (0, 0)'s upper "
                          "left corner at (0, 0), half a pixel from the stored tie point")
    base.write_expected(os.path.join(out, e["expected"]), got)
    return e


def gdal_crs_case(out) -> dict:
    name = "geotiff_u16_epsg32633_gdal"
    shape = A + (1,)
    data = base.make_values(shape, "u2", 73)
    path = os.path.join(out, name + ".tif")
    transform = rasterio.transform.Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)
    with rasterio.Env():
        with rasterio.open(path, "w", driver="GTiff", height=A[0], width=A[1], count=1,
                           dtype="uint16", crs="EPSG:32633", transform=transform,
                           tiled=True, blockxsize=16, blockysize=16,
                           compress="none") as dst:
            dst.write(data[..., 0], 1)
    extra = [f for f in os.listdir(out) if f.startswith(name) and f != name + ".tif"]
    assert not extra, f"GDAL wrote side files: {extra}"
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        for code in (305, 306):
            assert code not in page.tags, f"GDAL wrote tag {code}"
        gt = page.geotiff_tags
        assert int(gt["ProjectedCSTypeGeoKey"]) == 32633
        assert int(gt["GTModelTypeGeoKey"]) == 1 and int(gt["GTRasterTypeGeoKey"]) == 1
        scale = [float(v) for v in gt["ModelPixelScale"]]
        tie = [float(v) for v in gt["ModelTiepoint"]]
        sx, sy, sz = scale
        i, j, k, x, y, z = tie
        affine = [[sx, 0.0, 0.0, x - i * sx], [0.0, -sy, 0.0, y + j * sy],
                  [0.0, 0.0, sz, z - k * sz], [0.0, 0.0, 0.0, 1.0]]
        geo = {"pixel_scale": scale, "tiepoint": tie, "transformation": None,
               "raster_type": "PixelIsArea", "affine": affine,
               "affine_2d": [[affine[0][0], affine[0][1], affine[0][3]],
                             [affine[1][0], affine[1][1], affine[1][3]], [0.0, 0.0, 1.0]],
               "model_type": "Projected", "projected_cs_type": 32633,
               "citation": gt.get("GTCitationGeoKey")}
        got = base.hwc(page.asarray(), 1, 1)
        assert base.same_bits(got, data)
        per, summary = page_data(tif, [0])
        e = entry_of(tif, name, name + ".tif", "u16", shape, 0, geo=geo, writer="gdal",
                     page_data=per, data_layout=summary,
                     note="written by GDAL (rasterio): EPSG 32633, 10 m pixels, uncompressed "
                          "16 x 16 tiles")
    base.write_expected(os.path.join(out, e["expected"]), got)
    return e


def write_cases(out: str) -> list[dict]:
    return [
        stack_case(out, "u16_stack4_contig_rps8", "u2", (4,) + A + (1,), 74, "<", 8,
                   "uncompressed, 5 strips of 8 rows a page: every strip of every page back "
                   "to back, pages evenly spaced (page_stride)"),
        stack_case(out, "u16_stack4_contig_be", "u2", (4,) + A + (1,), 75, ">", 37,
                   "big-endian, uncompressed, one strip a page, the pages back to back"),
        planar_case(out),
        imagej_case(out),
        pixel_is_point_case(out),
        gdal_crs_case(out),
    ]
