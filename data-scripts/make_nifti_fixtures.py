#!/usr/bin/env python3
"""Write small NIfTI fixtures with nibabel, and what impart must read in them.

Usage::

    python3 data-scripts/make_nifti_fixtures.py [OUT_DIR]

``OUT_DIR`` defaults to ``tests/data/nifti`` (relative to the crate root); the
set is small (well under 400 KiB) and committed, and the output is
deterministic (nibabel writes gzip streams with mtime 0), so CI regenerates it
and diffs it against the committed copy. Versions are pinned in
``data-scripts/requirements-nifti.txt``.

The bytes do not depend on the CPU or its BLAS kernel: qform fields are
written exactly as chosen (:class:`Rigid`) instead of derived by nibabel
through LAPACK, affines are built elementwise, and world coordinates are
summed in Python (``nifti_crosscheck.world_origin``). ``.ci/run`` checks it
by writing the set under OpenBLAS's SkylakeX and Haswell kernels.

Three kinds of files, listed in ``OUT_DIR/cases.json``:

``valid``
    Written by nibabel (``Nifti1Image``, ``Nifti2Image``, ``Nifti1Pair``,
    ``Nifti2Pair``), some then edited by hand where nibabel has no switch
    (a ``vox_offset`` that misaligns the data type; a plain ``.hdr`` beside a
    gzipped ``.img``; header fields that nibabel fixes when it loads them).
    Every supported data type (u8 i8 i16 u16 i32 u32 i64 u64 f32 f64), big
    endian, 1-D to 5-D, scaled (slope/inter, including the float32 slope 0.3
    on int16, slope 1 / inter 0, and slopes 0, NaN and inf that mean "no
    scaling"), an extension (vox_offset > 352), NIfTI-2, ``.hdr``/``.img``
    pairs opened through either file, ``.nii.gz``, ``.hdr.gz``/``.img.gz``,
    sform only, qform only, neither (nibabel's affine is then the header's
    base affine, checked here), both (sform wins). Each entry is what
    ``nifti_crosscheck.describe`` says nibabel reads (shape, dtype, affine,
    scaling, and per cell of a stride-0.5 grid: region, digests of stored and
    of ``get_fdata()`` values, world origin) plus ``"open"``: every path
    that must open to the same volume, and ``"truncate"``: the files whose
    every prefix must open with an error or read correctly.
    Entries with ``"quirk"`` set are files where nibabel repairs the header
    when it loads it (qfac 0, negative or zero pixdim, an unknown sform code):
    the expected values are nibabel's, after its repair.

``refused``
    Data types that impart does not support (RGB24, RGBA32, complex64,
    complex128, float128, a 1-bit binary type): opening must fail.

``hostile``
    Headers edited by hand (nibabel's header layout, patched bytes): dim[0]
    0, 8 and -1; a negative or zero extent; vox_offset NaN, inf, 1e30, 352.5,
    100, 0, -16 and past the end of the file; sizes whose product overflows
    64 bits; a data section one byte short; a wrong magic, sizeof_hdr,
    datatype; NIfTI-2 variants; a ``.hdr`` without its ``.img``; broken gzip.
    ``"must": "error"`` entries must fail to open (or, for a zero extent, to
    be partitioned) with an error that names the file; ``"must":
    "no_panic"`` entries (fields readers disagree on) may open or fail, but
    must not panic.

The digests and the grid rules are those of ``nifti_crosscheck.py`` (its
docstring) and ``make_raw_fixtures.py`` (the checksum).
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import shutil
import struct
import sys

import numpy as np

import nibabel as nib
from nibabel.quaternions import quat2mat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_raw_fixtures import make_values  # noqa: E402
from nifti_crosscheck import describe, dump, load, raw_header_of  # noqa: E402

FORMAT = 1


# --------------------------------------------------------------------------
# affines


class Rigid:
    """A qform-representable affine given by the exact header fields it is
    stored as: quaternion (b, c, d), zooms, offset and qfac.

    nibabel's ``set_qform`` derives the quaternion from an affine with
    ``np.linalg.eigh`` (LAPACK), whose last bits depend on the BLAS kernel
    OpenBLAS picks for the CPU (NIfTI-2 stores them as float64, so they show).
    Here the quaternion is chosen: b, c and d are dyadic fractions of a few
    bits, so b² + c² + d² is exact and every reader computes the same
    a = sqrt(1 - b² - c² - d²). The affine is built from those fields with
    nibabel's own elementwise ``quat2mat`` and a column scaling (no matrix
    product, whose BLAS kernel could round differently)."""

    def __init__(self, bcd, zooms, offset, qfac=1.0):
        for q in bcd:
            assert float(q) * 2**12 == int(float(q) * 2**12), "b, c, d must be short dyadics"
        self.bcd = tuple(float(q) for q in bcd)
        self.zooms = tuple(float(z) for z in zooms)
        self.offset = tuple(float(o) for o in offset)
        self.qfac = float(qfac)
        b, c, d = self.bcd
        w2 = 1.0 - (b * b + c * c + d * d)  # exact for short dyadics
        rot = quat2mat([math.sqrt(w2), b, c, d])
        z = [self.zooms[0], self.zooms[1], self.zooms[2] * self.qfac]
        a = np.eye(4)
        for i in range(3):
            for j in range(3):
                a[i, j] = float(rot[i][j]) * z[j]
            a[i, 3] = self.offset[i]
        self.affine = a

    def write_qform(self, hdr, code):
        """Sets the qform fields of `hdr` to these exact values."""
        hdr["qform_code"] = code
        hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"] = self.bcd
        hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"] = self.offset
        pixdim = np.array(hdr["pixdim"])
        pixdim[0] = self.qfac
        pixdim[1:4] = self.zooms
        hdr["pixdim"] = pixdim

    def check_stored(self, hdr, name):
        """The file holds these fields (nibabel did not rederive them)."""
        got = [float(hdr[k]) for k in ("quatern_b", "quatern_c", "quatern_d",
                                       "qoffset_x", "qoffset_y", "qoffset_z")]
        want = [float(np.array(v, dtype=hdr["quatern_b"].dtype))
                for v in self.bcd + self.offset]
        assert got == want, (name, got, want)
        assert float(hdr["pixdim"][0]) == self.qfac, name


def image(klass, arr, rigid):
    """`klass(arr, rigid.affine)` with the exact qform fields of `rigid` (code 0,
    as nibabel's constructor sets it) instead of nibabel's derived ones."""
    img = klass(arr, rigid.affine)
    rigid.write_qform(img.header, 0)
    return img


def save_main(klass, arr, path):
    """Saves `arr` as `klass` with the affine A_MAIN, its qform fields exact."""
    nib.save(image(klass, arr, A_MAIN), path)
    A_MAIN.check_stored(raw_header_of(path)[0], path)


def affine_of(a):
    return a.affine if isinstance(a, Rigid) else a


A_MAIN = Rigid((0.046875, -0.109375, 0.15625), (1.5, 2.0, 2.5), (-30.25, 12.5, 7.0))
A_FLIP = Rigid((-0.1875, 0.078125, -0.34375), (0.8, 0.9, 1.2), (90.0, -126.0, -72.0),
               qfac=-1.0)
A_SHEAR = np.array([[2.0, 0.5, 0.0, -10.0],
                    [0.1, 3.0, 0.0, 5.0],
                    [0.0, 0.2, 4.0, 7.0],
                    [0.0, 0.0, 0.0, 1.0]])
A_DIAG = Rigid((0.0, 0.0, 0.0), (0.5, 0.75, 3.0), (-100.0, 80.0, -3.5))


# --------------------------------------------------------------------------
# writing with nibabel


KLASS = {"n1": nib.Nifti1Image, "n2": nib.Nifti2Image,
         "n1pair": nib.Nifti1Pair, "n2pair": nib.Nifti2Pair}


def write_nib(out, fname, kind, shape, code, seed, *, endian="<", sform=(A_MAIN, 2),
              qform=(A_MAIN, 1), scaling=None, extensions=(), zooms=None, values=None):
    """Writes one image with nibabel; returns the paths it wrote."""
    arr = values if values is not None else make_values(shape, code, seed)
    hdr = KLASS[kind].header_class(endianness=endian)
    hdr.set_data_dtype(arr.dtype)
    img = KLASS[kind](arr, None, header=hdr)
    if zooms is not None:
        img.header.set_zooms(zooms)
    img.set_sform(affine_of(sform[0]), code=sform[1])
    # nibabel's bookkeeping first, then the exact fields over the ones it
    # derived (see Rigid)
    img.set_qform(qform[0].affine, code=qform[1])
    qform[0].write_qform(img.header, qform[1])
    if scaling is not None:
        img.header.set_slope_inter(*scaling)
    for ecode, content in extensions:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(ecode, content))
    path = os.path.join(out, fname)
    nib.save(img, path)
    written = [path]
    for hdr_ext, img_ext in ((".hdr", ".img"), (".hdr.gz", ".img.gz")):
        for a, b in ((hdr_ext, img_ext), (img_ext, hdr_ext)):
            if fname.endswith(a):
                written.append(os.path.join(out, fname[: -len(a)] + b))
    for p in written:
        assert os.path.exists(p), p
    # nibabel wrote what was asked for
    raw = nib.load(path).header
    qform[0].check_stored(raw_header_of(path)[0], fname)
    assert raw.get_data_dtype().str[1:] == arr.dtype.str[1:], (fname, raw.get_data_dtype())
    assert raw.endianness == endian or arr.dtype.itemsize == 1, fname
    if scaling is None:
        assert nib.load(path).dataobj.slope == 1.0 and nib.load(path).dataobj.inter == 0.0
    return written


def patch(path, field, value, version=1, index=None):
    """Overwrites one header field in place (little-endian headers)."""
    dt = (nib.nifti1 if version == 1 else nib.nifti2).header_dtype
    sub, off = dt.fields[field][0], dt.fields[field][1]
    if sub.shape:  # an array field (dim, pixdim, srow_*): patch one item
        base = sub.base
        off += index * base.itemsize
        sub = base
    data = np.array(value).astype(sub).tobytes()
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def read_field(path, field, version=1):
    dt = (nib.nifti1 if version == 1 else nib.nifti2).header_dtype
    with open(path, "rb") as f:
        return np.frombuffer(f.read(dt.itemsize), dtype=dt)[0][field]


def shift_data(path, new_offset, version=1):
    """Moves the voxels of a single-file NIfTI to `new_offset` (filler 0)."""
    with open(path, "rb") as f:
        b = f.read()
    old = int(read_field(path, "vox_offset", version))
    assert new_offset >= old
    with open(path, "wb") as f:
        f.write(b[:old] + b"\0" * (new_offset - old) + b[old:])
    patch(path, "vox_offset", new_offset, version)


def gzip_file(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(gzip.compress(data, compresslevel=6, mtime=0))


# --------------------------------------------------------------------------
# the valid set


def valid_cases(out):
    """Yields (name, open paths, truncate paths, cell, extra fields)."""
    dtypes = [  # code, shape, cell
        ("u1", (7, 6, 5), (4, 4, 3)),
        ("i1", (6, 5, 4), (3, 4, 2)),
        ("i2", (5, 7, 3), (4, 4, 2)),
        ("u2", (9, 4, 3), (5, 3, 3)),
        ("i4", (4, 6, 5), (3, 3, 4)),
        ("u4", (5, 5, 5), (4, 2, 3)),
        ("i8", (6, 3, 4), (4, 2, 3)),
        ("u8", (3, 7, 4), (2, 5, 2)),
        ("f4", (8, 5, 3), (5, 3, 2)),
        ("f8", (5, 4, 6), (3, 3, 4)),
    ]
    names = {"u1": "u8", "i1": "i8", "i2": "i16", "u2": "u16", "i4": "i32", "u4": "u32",
             "i8": "i64", "u8": "u64", "f4": "f32", "f8": "f64"}
    seed = 10
    for code, shape, cell in dtypes:
        name = f"{names[code]}_3d"
        write_nib(out, name + ".nii", "n1", shape, code, seed)
        yield name, [name + ".nii"], [name + ".nii"], cell, {}
        seed += 1
    # big endian, every width
    for code, shape, cell in [("i2", (6, 5, 3), (4, 3, 2)), ("u2", (4, 5, 3), (3, 3, 2)),
                              ("u4", (5, 4, 3), (3, 3, 2)),
                              ("i8", (4, 4, 3), (3, 3, 2)), ("f4", (5, 3, 4), (3, 2, 3)),
                              ("f8", (3, 5, 4), (2, 3, 3))]:
        name = f"{names[code]}_be"
        write_nib(out, name + ".nii", "n1", shape, code, seed, endian=">")
        yield name, [name + ".nii"], [name + ".nii"], cell, {}
        seed += 1
    # 1-D, 2-D, 4-D (time carried, and partitioned), 5-D
    write_nib(out, "u8_1d.nii", "n1", (17,), "u1", 30, sform=(A_DIAG, 1), qform=(A_DIAG, 1))
    yield "u8_1d", ["u8_1d.nii"], ["u8_1d.nii"], (5,), {}
    write_nib(out, "i16_2d.nii", "n1", (9, 7), "i2", 31)
    yield "i16_2d", ["i16_2d.nii"], ["i16_2d.nii"], (4, 3), {}
    write_nib(out, "f32_4d.nii", "n1", (5, 4, 3, 6), "f4", 32)
    yield "f32_4d", ["f32_4d.nii"], ["f32_4d.nii"], (3, 3, 2), {}
    write_nib(out, "u16_4d_all.nii", "n1", (4, 5, 3, 7), "u2", 33, endian=">")
    yield "u16_4d_all", ["u16_4d_all.nii"], ["u16_4d_all.nii"], (3, 3, 2, 4), {}
    write_nib(out, "i16_5d.nii", "n1", (4, 3, 2, 3, 2), "i2", 34)
    yield "i16_5d", ["i16_5d.nii"], ["i16_5d.nii"], (3, 2, 2), {}

    # scaling
    scaled = [  # name, code, shape, cell, (slope, inter), endian
        ("scaled_i16_0.3", "i2", (6, 5, 4), (4, 3, 3), (0.3, -2.0), "<"),
        ("scaled_u8_2_10", "u1", (5, 6, 3), (3, 4, 2), (2.0, 10.0), "<"),
        ("scaled_f32", "f4", (4, 5, 3), (3, 3, 2), (1.5, 0.25), "<"),
        ("scaled_i32_neg_be", "i4", (5, 4, 3), (3, 3, 2), (-0.5, 100.0), ">"),
        ("scaled_u16_inter_only", "u2", (4, 4, 3), (3, 3, 2), (1.0, -1024.0), "<"),
        ("scaled_i16_1_0", "i2", (4, 3, 3), (3, 2, 2), (1.0, 0.0), "<"),
        ("scaled_i16_slope0", "i2", (4, 3, 3), (3, 2, 2), (0.0, 5.0), "<"),
        ("scaled_u16_slope_nan", "u2", (4, 3, 3), (3, 2, 2), (np.nan, 3.0), "<"),
        ("scaled_i16_slope_inf", "i2", (4, 3, 3), (3, 2, 2), (np.inf, 3.0), "<"),
        ("scaled_f64_tiny", "f8", (3, 4, 3), (2, 3, 2), (1e-3, 1e-7), "<"),
    ]
    for k, (name, code, shape, cell, si, endian) in enumerate(scaled):
        # nibabel refuses to store a slope of 0 / NaN / inf: write 1 and patch
        special = not np.isfinite(si[0]) or si[0] == 0
        write_nib(out, name + ".nii", "n1", shape, code, 40 + k, endian=endian,
                  scaling=(1.0, 1.0) if special else si)
        if special:
            assert endian == "<"
            patch(os.path.join(out, name + ".nii"), "scl_slope", si[0])
            patch(os.path.join(out, name + ".nii"), "scl_inter", si[1])
        yield name, [name + ".nii"], [name + ".nii"], cell, {}

    # an extension: vox_offset > 352
    write_nib(out, "i16_ext.nii", "n1", (5, 4, 3), "i2", 50,
              extensions=[("comment", b"written by make_nifti_fixtures.py; " * 3)])
    yield "i16_ext", ["i16_ext.nii"], ["i16_ext.nii"], (3, 3, 2), {}

    # vox_offsets that misalign the data type
    write_nib(out, "i16_off353.nii", "n1", (5, 4, 3), "i2", 51)
    shift_data(os.path.join(out, "i16_off353.nii"), 353)
    yield "i16_off353", ["i16_off353.nii"], ["i16_off353.nii"], (3, 3, 2), {}
    write_nib(out, "f64_off356.nii", "n1", (4, 3, 3), "f8", 52, scaling=(2.0, -1.0))
    shift_data(os.path.join(out, "f64_off356.nii"), 356)
    yield "f64_off356", ["f64_off356.nii"], ["f64_off356.nii"], (3, 2, 2), {}
    write_nib(out, "u32_off358_be.nii", "n1", (4, 3, 3), "u4", 53, endian=">")
    # (a big-endian header: patch through nibabel instead)
    p = os.path.join(out, "u32_off358_be.nii")
    with open(p, "rb") as f:
        b = f.read()
    hdr = nib.Nifti1Header.from_fileobj(open(p, "rb"), check=False)
    hdr["vox_offset"] = 358
    with open(p, "wb") as f:
        hdr.write_to(f)
        f.write(b[348:352] + b"\0" * 6 + b[352:])
    yield "u32_off358_be", ["u32_off358_be.nii"], ["u32_off358_be.nii"], (3, 2, 2), {}

    # NIfTI-2
    write_nib(out, "n2_f32.nii", "n2", (6, 5, 4), "f4", 60)
    yield "n2_f32", ["n2_f32.nii"], ["n2_f32.nii"], (4, 3, 3), {}
    write_nib(out, "n2_i16_be_scaled.nii", "n2", (5, 4, 3), "i2", 61, endian=">",
              scaling=(0.3, -2.0))
    yield "n2_i16_be_scaled", ["n2_i16_be_scaled.nii"], ["n2_i16_be_scaled.nii"], (3, 3, 2), {}
    write_nib(out, "n2_u8_4d.nii.gz", "n2", (4, 4, 3, 5), "u1", 62, sform=(A_SHEAR, 4),
              qform=(A_MAIN, 0))
    yield "n2_u8_4d_gz", ["n2_u8_4d.nii.gz"], ["n2_u8_4d.nii.gz"], (3, 3, 2), {}
    write_nib(out, "n2_pair.hdr", "n2pair", (5, 3, 4), "i4", 63, qform=(A_FLIP, 1),
              sform=(A_FLIP, 0))
    yield ("n2_pair", ["n2_pair.hdr", "n2_pair.img"], ["n2_pair.hdr", "n2_pair.img"],
           (3, 2, 3), {})
    write_nib(out, "n2_ext.nii", "n2", (4, 3, 3), "u2", 64,
              extensions=[("comment", b"a NIfTI-2 extension " * 2)])
    yield "n2_ext", ["n2_ext.nii"], ["n2_ext.nii"], (3, 2, 2), {}

    # .hdr/.img pairs
    write_nib(out, "pair_i16.hdr", "n1pair", (6, 5, 3), "i2", 70, scaling=(0.5, 1.0))
    yield ("pair_i16", ["pair_i16.hdr", "pair_i16.img"], ["pair_i16.hdr", "pair_i16.img"],
           (4, 3, 2), {})
    write_nib(out, "pair_f64_be.hdr", "n1pair", (4, 5, 3), "f8", 71, endian=">")
    yield ("pair_f64_be", ["pair_f64_be.hdr", "pair_f64_be.img"],
           ["pair_f64_be.hdr", "pair_f64_be.img"], (3, 3, 2), {})
    # nibabel writes a gzipped pair as .hdr.gz + .img.gz
    write_nib(out, "pair_gz.img.gz", "n1pair", (5, 4, 3), "u2", 72)
    yield ("pair_gz", ["pair_gz.img.gz", "pair_gz.hdr.gz"], ["pair_gz.img.gz", "pair_gz.hdr.gz"],
           (3, 3, 2), {})
    # a plain .hdr beside a gzipped .img (gzipped here, mtime 0); nibabel
    # does not look for this combination, so "describe_as" names the
    # uncompressed pair it is described from (removed afterwards)
    write_nib(out, "pair_imggz.hdr", "n1pair", (5, 4, 3), "i2", 73, scaling=(0.25, 0.0))
    gzip_file(os.path.join(out, "pair_imggz.img"), os.path.join(out, "pair_imggz.img.gz"))
    yield ("pair_imggz", ["pair_imggz.img.gz", "pair_imggz.hdr"],
           ["pair_imggz.img.gz", "pair_imggz.hdr"], (3, 3, 2),
           {"describe_as": "pair_imggz.hdr", "remove": ["pair_imggz.img"]})

    # .nii.gz
    write_nib(out, "gz_u16.nii.gz", "n1", (7, 6, 5), "u2", 80)
    yield "gz_u16", ["gz_u16.nii.gz"], ["gz_u16.nii.gz"], (4, 4, 3), {}
    write_nib(out, "gz_i16_4d_scaled_be.nii.gz", "n1", (5, 4, 3, 4), "i2", 81, endian=">",
              scaling=(0.3, 7.5))
    yield ("gz_i16_4d_scaled_be", ["gz_i16_4d_scaled_be.nii.gz"],
           ["gz_i16_4d_scaled_be.nii.gz"], (3, 3, 2), {})

    # affines: sform only (a shear no qform can hold), qform only (with a
    # flip), neither, both agreeing, both disagreeing (sform wins), and the
    # qform code / sform code values 1..4
    write_nib(out, "sform_only.nii", "n1", (5, 4, 3), "i2", 90, sform=(A_SHEAR, 2),
              qform=(A_MAIN, 0))
    yield "sform_only", ["sform_only.nii"], ["sform_only.nii"], (3, 3, 2), {}
    write_nib(out, "qform_only.nii", "n1", (5, 4, 3), "i2", 91, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 1))
    yield "qform_only", ["qform_only.nii"], ["qform_only.nii"], (3, 3, 2), {}
    write_nib(out, "qform_only_n2.nii", "n2", (5, 4, 3), "f4", 92, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 3))
    yield "qform_only_n2", ["qform_only_n2.nii"], ["qform_only_n2.nii"], (3, 3, 2), {}
    write_nib(out, "neither.nii", "n1", (5, 4, 3), "i2", 93, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 0), zooms=(1.5, 2.0, 3.0))
    yield "neither", ["neither.nii"], ["neither.nii"], (3, 3, 2), {"base_affine": True}
    write_nib(out, "neither_2d.nii", "n1", (9, 6), "u1", 94, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 0), zooms=(0.7, 1.3))
    yield "neither_2d", ["neither_2d.nii"], ["neither_2d.nii"], (4, 4), {"base_affine": True}
    write_nib(out, "neither_4d.nii", "n1", (4, 3, 3, 2), "u1", 95, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 0), zooms=(2.0, 2.0, 2.5, 3.0))
    yield "neither_4d", ["neither_4d.nii"], ["neither_4d.nii"], (3, 2, 2), {"base_affine": True}
    write_nib(out, "neither_n2.nii", "n2", (4, 5, 3), "i2", 96, sform=(A_SHEAR, 0),
              qform=(A_FLIP, 0), zooms=(0.9, 1.1, 1.7))
    yield "neither_n2", ["neither_n2.nii"], ["neither_n2.nii"], (3, 3, 2), {"base_affine": True}
    write_nib(out, "both_differ.nii", "n1", (5, 4, 3), "i2", 97, sform=(A_SHEAR, 1),
              qform=(A_FLIP, 2))
    yield "both_differ", ["both_differ.nii"], ["both_differ.nii"], (3, 3, 2), {}
    write_nib(out, "both_agree_code4.nii", "n1", (5, 4, 3), "i2", 98, sform=(A_MAIN, 4),
              qform=(A_MAIN, 3))
    yield "both_agree_code4", ["both_agree_code4.nii"], ["both_agree_code4.nii"], (3, 3, 2), {}

    # header fields nibabel repairs when it loads a file (see "quirk")
    write_nib(out, "quirk_qfac0.nii", "n1", (5, 4, 3), "i2", 100, sform=(A_SHEAR, 0),
              qform=(A_MAIN, 1))
    patch(os.path.join(out, "quirk_qfac0.nii"), "pixdim", 0.0, index=0)
    yield ("quirk_qfac0", ["quirk_qfac0.nii"], [], (3, 3, 2),
           {"quirk": "pixdim[0] (qfac) is 0: nibabel reads it as 1"})
    write_nib(out, "quirk_neg_pixdim.nii", "n1", (5, 4, 3), "i2", 101, sform=(A_SHEAR, 0),
              qform=(A_MAIN, 1))
    patch(os.path.join(out, "quirk_neg_pixdim.nii"), "pixdim", -2.0, index=2)
    yield ("quirk_neg_pixdim", ["quirk_neg_pixdim.nii"], [], (3, 3, 2),
           {"quirk": "pixdim[2] is -2 under a qform: nibabel takes its absolute value"})
    write_nib(out, "quirk_zero_pixdim.nii", "n1", (5, 4, 3), "i2", 102, sform=(A_SHEAR, 0),
              qform=(A_MAIN, 0), zooms=(1.5, 2.0, 3.0))
    patch(os.path.join(out, "quirk_zero_pixdim.nii"), "pixdim", 0.0, index=3)
    yield ("quirk_zero_pixdim", ["quirk_zero_pixdim.nii"], [], (3, 3, 2),
           {"quirk": "pixdim[3] is 0 with no sform/qform: nibabel's base affine uses 1"})
    write_nib(out, "quirk_sform_code7.nii", "n1", (5, 4, 3), "i2", 103, sform=(A_SHEAR, 2),
              qform=(A_FLIP, 1))
    patch(os.path.join(out, "quirk_sform_code7.nii"), "sform_code", 7)
    yield ("quirk_sform_code7", ["quirk_sform_code7.nii"], [], (3, 3, 2),
           {"quirk": "sform_code 7 is not a defined code: nibabel sets it to 0 (qform used)"})


def check_valid(entry, extra, path):
    """What nibabel read is what was meant."""
    assert entry["expect"] == "ok", (path, entry)
    if extra.get("base_affine"):
        img = load(path)
        hdr = img.header
        assert hdr["sform_code"] == 0 and hdr["qform_code"] == 0
        assert np.array_equal(img.affine, hdr.get_base_affine()), path


# --------------------------------------------------------------------------
# refused types and hostile headers


def refused_cases(out):
    """Yields (name, file, why)."""
    rgb = np.zeros((4, 3, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"] = np.arange(24).reshape(4, 3, 2)
    save_main(nib.Nifti1Image, rgb, os.path.join(out, "refused_rgb24.nii"))
    yield "refused_rgb24", "refused_rgb24.nii", "RGB24 (datatype 128)"
    rgba = np.zeros((4, 3, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])
    save_main(nib.Nifti1Image, rgba, os.path.join(out, "refused_rgba32.nii"))
    yield "refused_rgba32", "refused_rgba32.nii", "RGBA32 (datatype 2304)"
    c64 = (np.arange(24) + 1j * np.arange(24)).astype(np.complex64).reshape(4, 3, 2)
    save_main(nib.Nifti1Image, c64, os.path.join(out, "refused_complex64.nii"))
    yield "refused_complex64", "refused_complex64.nii", "complex64 (datatype 32)"
    c128 = c64.astype(np.complex128)
    save_main(nib.Nifti2Image, c128, os.path.join(out, "refused_complex128_n2.nii"))
    yield "refused_complex128_n2", "refused_complex128_n2.nii", "complex128 (datatype 1792)"
    # float128 (datatype 1536): nibabel has no IEEE binary128 here; write the
    # bytes of 4 x 3 x 2 x 2 float64 and patch the header to 4 x 3 x 2 float128
    p = os.path.join(out, "refused_float128.nii")
    save_main(nib.Nifti1Image, np.arange(48, dtype=np.float64).reshape(4, 3, 2, 2), p)
    patch(p, "dim", 3, index=0)
    patch(p, "dim", 1, index=4)
    patch(p, "datatype", 1536)
    patch(p, "bitpix", 128)
    yield "refused_float128", "refused_float128.nii", "float128 (datatype 1536)"
    # binary (datatype 1, bitpix 1): nibabel cannot write it; patch a u8 file
    p = os.path.join(out, "refused_binary.nii")
    save_main(nib.Nifti1Image, np.zeros((8, 2, 2), np.uint8), p)
    patch(p, "datatype", 1)
    patch(p, "bitpix", 1)
    yield "refused_binary", "refused_binary.nii", "binary (datatype 1, 1 bit per voxel)"


def hostile_cases(out):
    """Yields (name, file, must, why)."""
    def base(name, version=1, shape=(4, 3, 2), code="i2"):
        p = os.path.join(out, name)
        arr = make_values(shape, code, 200)
        klass = nib.Nifti1Image if version == 1 else nib.Nifti2Image
        save_main(klass, arr, p)
        return p

    def one(name, edits, must="error", why="", version=1, shape=(4, 3, 2), code="i2"):
        p = base(name, version, shape, code)
        for field, value, index in edits:
            patch(p, field, value, version, index)
        return name.split(".")[0], os.path.basename(p), must, why

    yield one("bad_dim0_0.nii", [("dim", 0, 0)], why="dim[0] = 0")
    yield one("bad_dim0_8.nii", [("dim", 8, 0)], why="dim[0] = 8")
    yield one("bad_dim0_neg.nii", [("dim", -1, 0)], why="dim[0] = -1")
    yield one("bad_dim_neg.nii", [("dim", -3, 2)], why="dim[2] = -3")
    yield one("bad_dim_zero.nii", [("dim", 0, 2)],
              why="dim[2] = 0: an empty volume (error at open or when partitioned)")
    yield one("bad_vox_nan.nii", [("vox_offset", np.nan, None)], why="vox_offset NaN")
    yield one("bad_vox_inf.nii", [("vox_offset", np.inf, None)], why="vox_offset inf")
    yield one("bad_vox_1e30.nii", [("vox_offset", 1e30, None)], why="vox_offset 1e30")
    yield one("bad_vox_frac.nii", [("vox_offset", 352.5, None)], why="vox_offset 352.5")
    yield one("bad_vox_100.nii", [("vox_offset", 100.0, None)], why="vox_offset 100 < 348")
    yield one("bad_vox_0.nii", [("vox_offset", 0.0, None)],
              why="vox_offset 0 in a single file (< 348)")
    yield one("bad_vox_neg.nii", [("vox_offset", -16.0, None)], why="vox_offset -16")
    yield one("bad_vox_past_end.nii", [("vox_offset", 400.0 + 32, None)],
              why="vox_offset 432: the data would run past the end of the file")
    yield one("bad_vox_348.nii", [("vox_offset", 348.0, None)], must="no_panic",
              why="vox_offset 348: >= the header size, but nibabel moves it to 352")
    yield one("bad_dims_overflow.nii",
              [("dim", 7, 0)] + [("dim", 32767, i) for i in range(1, 8)] + [
                  ("datatype", 64, None), ("bitpix", 64, None)],
              why="32767^7 voxels of f64: the byte count overflows 64 bits")
    yield one("bad_dims_huge.nii", [("dim", 32767, i) for i in range(1, 4)],
              why="32767^3 voxels in a 400-byte file")
    yield one("bad_datatype_999.nii", [("datatype", 999, None)], why="datatype 999 is undefined")
    yield one("bad_datatype_0.nii", [("datatype", 0, None)], why="datatype 0 (DT_UNKNOWN)")
    yield one("bad_magic.nii", [("magic", b"n+3", None)], why="magic 'n+3'")
    yield one("bad_sizeof_hdr.nii", [("sizeof_hdr", 349, None)], why="sizeof_hdr 349")
    yield one("bad_sizeof_hdr_zero.nii", [("sizeof_hdr", 0, None)], why="sizeof_hdr 0")
    yield one("bad_bitpix.nii", [("bitpix", 32, None)], must="no_panic",
              why="bitpix 32 for int16 (nibabel ignores bitpix)")
    yield one("bad_slope_inter_nan.nii", [("scl_slope", 2.0, None), ("scl_inter", np.nan, None)],
              must="no_panic", why="slope 2 with a NaN intercept (nibabel refuses the scaling)")
    # truncated data: one byte short
    p = base("bad_truncated.nii")
    with open(p, "rb") as f:
        b = f.read()
    with open(p, "wb") as f:
        f.write(b[:-1])
    yield "bad_truncated", "bad_truncated.nii", "error", "the data section is 1 byte short"
    # header only
    p = base("bad_header_only.nii")
    with open(p, "rb") as f:
        b = f.read()
    with open(p, "wb") as f:
        f.write(b[:352])
    yield "bad_header_only", "bad_header_only.nii", "error", "a header and no data"

    # NIfTI-2
    yield one("bad_n2_vox_352.nii", [("vox_offset", 352, None)], version=2,
              why="NIfTI-2 vox_offset 352 < 540")
    yield one("bad_n2_vox_neg.nii", [("vox_offset", -8, None)], version=2,
              why="NIfTI-2 vox_offset -8")
    yield one("bad_n2_dim_neg.nii", [("dim", -5, 1)], version=2, why="NIfTI-2 dim[1] = -5")
    yield one("bad_n2_dim0_9.nii", [("dim", 9, 0)], version=2, why="NIfTI-2 dim[0] = 9")
    yield one("bad_n2_overflow.nii", [("dim", 1 << 40, i) for i in range(1, 4)], version=2,
              why="NIfTI-2 dims 2^40 x 2^40 x 2^40: the voxel count overflows 64 bits")
    yield one("bad_n2_huge.nii", [("dim", 1 << 62, 1)], version=2,
              why="NIfTI-2 dim[1] = 2^62: the byte count overflows 64 bits")

    # pairs
    p = os.path.join(out, "bad_pair_noimg.hdr")
    save_main(nib.Nifti1Pair, make_values((4, 3, 2), "i2", 201), p)
    os.remove(os.path.join(out, "bad_pair_noimg.img"))
    yield "bad_pair_noimg", "bad_pair_noimg.hdr", "error", "a .hdr without its .img"
    p = os.path.join(out, "bad_pair_short.hdr")
    save_main(nib.Nifti1Pair, make_values((4, 3, 2), "i2", 202), p)
    pi = os.path.join(out, "bad_pair_short.img")
    with open(pi, "rb") as f:
        b = f.read()
    with open(pi, "wb") as f:
        f.write(b[:-2])
    yield "bad_pair_short", "bad_pair_short.hdr", "error", "the .img is 2 bytes short"

    # gzip
    p = base("bad_gz_garbage.nii")
    with open(p, "rb") as f:
        b = f.read()
    os.remove(p)
    z = gzip.compress(b, mtime=0)
    with open(p + ".gz", "wb") as f:
        f.write(z[:40] + bytes(range(256)) * 2)
    yield "bad_gz_garbage", "bad_gz_garbage.nii.gz", "error", "a gzip stream with garbage"
    with open(os.path.join(out, "bad_gz_empty.nii.gz"), "wb"):
        pass
    yield "bad_gz_empty", "bad_gz_empty.nii.gz", "error", "an empty .nii.gz"
    with open(os.path.join(out, "bad_gz_plain.nii.gz"), "wb") as f:
        f.write(b)
    yield ("bad_gz_plain", "bad_gz_plain.nii.gz", "no_panic",
           "an uncompressed .nii named .nii.gz (readers may sniff the magic)")
    zt = gzip.compress(b[:-1], mtime=0)
    with open(os.path.join(out, "bad_gz_truncated_data.nii.gz"), "wb") as f:
        f.write(zt)
    yield ("bad_gz_truncated_data", "bad_gz_truncated_data.nii.gz", "error",
           "a complete gzip stream whose data section is 1 byte short")
    # a byte-swapped sizeof_hdr with nonsense elsewhere
    p = os.path.join(out, "bad_swapped_garbage.nii")
    with open(p, "wb") as f:
        f.write(struct.pack(">i", 348) + bytes((i * 37 + 11) % 256 for i in range(396)))
    yield ("bad_swapped_garbage", "bad_swapped_garbage.nii", "no_panic",
           "a big-endian sizeof_hdr and arbitrary bytes after it")


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "tests", "data", "nifti")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    args = ap.parse_args(argv)
    out = args.out
    if os.path.isdir(out) and os.listdir(out):
        # the set is rewritten whole; refuse to wipe a directory that is not one
        if not os.path.exists(os.path.join(out, "cases.json")):
            ap.error(f"{out} is not empty and holds no cases.json; not overwriting it")
        shutil.rmtree(out)
    os.makedirs(out)

    manifest = {
        "format": FORMAT,
        "generator": "data-scripts/make_nifti_fixtures.py",
        "nibabel": nib.__version__,
        "numpy": np.__version__,
        "checksum": "make_raw_fixtures.py's checksum of the values as <f8 in C order; "
                    "digests as in nifti_crosscheck.py",
        "cases": [],
    }
    names = set()
    for name, opens, truncate, cell, extra in valid_cases(out):
        assert name not in names, name
        names.add(name)
        first = os.path.join(out, extra.get("describe_as", opens[0]))
        entry = describe(first, name, opens[0], cell=cell)
        check_valid(entry, extra, first)
        if "describe_as" in extra:
            entry["compressed"] = opens[0].endswith(".gz")
        else:
            # every other path opens to the same thing in nibabel too
            for other in opens[1:]:
                alt = describe(os.path.join(out, other), name, opens[0], cell=cell)
                assert alt == entry, (name, other)
        for f in extra.get("remove", []):
            os.remove(os.path.join(out, f))
        entry = {"kind": "valid", **entry, "open": opens, "truncate": truncate}
        if "quirk" in extra:
            entry["quirk"] = extra["quirk"]
        manifest["cases"].append(entry)
    for name, fname, why in refused_cases(out):
        entry = describe(os.path.join(out, fname), name, fname)
        assert entry["expect"] == "error", (name, entry)
        manifest["cases"].append({"kind": "refused", "name": name, "file": fname,
                                  "must": "error", "why": why})
    for name, fname, must, why in hostile_cases(out):
        manifest["cases"].append({"kind": "hostile", "name": name, "file": fname,
                                  "must": must, "why": why})

    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        f.write(dump(manifest, "cases"))
    files = sorted(os.listdir(out))
    total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    print(f"wrote {len(manifest['cases'])} cases, {len(files)} files to {out} "
          f"({total / 1024:.1f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
