#!/usr/bin/env python3
"""Seed corpora for impart's fuzz targets, from the committed fixtures.

    python3 data-scripts/fuzz_seeds.py OUT_DIR [IMPART_BINARY]

writes OUT_DIR/<target>/<sha1> files in each target's input layout (see
the doc comment of fuzz/fuzz_targets/<target>.rs). With IMPART_BINARY (a
built `impart`), it also fragments two small volumes to seed the
`grid_json` and `manifest` targets with files `fragment` really writes.
Only the standard library is needed. The committed corpora in
fuzz/corpus/ are these seeds grown by the campaign and minimized
(`cargo fuzz cmin`); this script is how they started.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# files larger than this are left out of the seeds (libFuzzer's -max_len)
MAX_LEN = 1 << 16


def put(out, target, data):
    if len(data) > MAX_LEN:
        return False
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return True


def files(sub, *suffixes):
    return sorted(p for p in (DATA / sub).rglob("*") if p.is_file() and p.name.endswith(suffixes))


def main():
    out = Path(sys.argv[1])
    impart = sys.argv[2] if len(sys.argv) > 2 else None
    n = {}

    def seed(target, data):
        if put(out, target, data):
            n[target] = n.get(target, 0) + 1

    # NIfTI: headers, whole files in each of nifti_open's four modes
    for p in files("nifti", ".nii") + files("stitch", ".nii"):
        b = p.read_bytes()
        seed("nifti_header", b[:540])
        seed("nifti_open", b"\x00" + b)
        seed("nifti_open", b"\x03" + b)
    for p in files("nifti", ".nii.gz") + files("stitch", ".nii.gz"):
        seed("nifti_open", b"\x01" + p.read_bytes())
    for p in files("nifti", ".hdr"):
        img = p.with_suffix(".img")
        b = p.read_bytes()
        seed("nifti_header", b)
        seed("nifti_open", b"\x02" + b + (img.read_bytes() if img.exists() else b""))

    # TIFF, PNG, JPEG: the files
    for p in files("tiff", ".tif", ".tiff"):
        seed("tiff", p.read_bytes())
    for p in files("images", ".png"):
        seed("png", p.read_bytes())
    for p in files("images", ".jpg", ".jpeg"):
        seed("jpeg", p.read_bytes())

    # Zarr: every metadata file (selector: 0 = zarr.json, 1 = .zarray), and
    # the first chunk of each array zarr_chunk embeds (its ARRAYS order)
    for p in files("zarr", "zarr.json"):
        seed("zarr_metadata", b"\x00" + p.read_bytes())
    for p in files("zarr", ".zarray"):
        seed("zarr_metadata", b"\x01" + p.read_bytes())
    chunk_arrays = [
        ("v2_u16_le_zstd_c_dot", "0.0"),
        ("v2_f32_blosc_f_slash", "0/0/0"),
        ("v2_u32_be_blosc_c_dot", "0.0.0"),
        ("v2_i16_gzip_c_slash", "0/0"),
        ("v2_i64_be_none_c_slash", "0/0"),
        ("v2_u8_4d_channels_f", "0.0.0.0"),
        ("v3_f32_zstd_crc32c_2d", "c/0/0"),
        ("v3_f64_gzip_3d", "c/0/0/0"),
        ("v3_f32_sharded_3d", "c/0/0/0"),
        ("v3_i32_missing_fill_2d", "c/0/0"),
        ("v3_f32_sharded_missing_fill", "c/0/0"),
        ("v3_i16_gzip_2d", "c/0/0"),
    ]
    for k, (name, key) in enumerate(chunk_arrays):
        p = DATA / "zarr" / name / key
        if not p.exists():
            # the key encoding differs: take the first chunk file there is
            cands = sorted(q for q in (DATA / "zarr" / name).rglob("*") if q.is_file() and not q.name.startswith(".") and q.name != "zarr.json")
            if not cands:
                continue
            p = cands[0]
        seed("zarr_chunk", bytes([k]) + p.read_bytes())

    # selections (the first byte: rank-1, then one extent byte per axis)
    for text in [":", "...", "0", "-1", "1:3", ":-1", "..., 2", "2..=4", "[1, :, -2]", "0..2, 1", "::, 3:", "-5:100"]:
        seed("selection", bytes([2, 10, 7, 5]) + text.encode())

    # grid_model and raw_options take structured input: they start empty
    for t in ("grid_model", "raw_options"):
        (out / t).mkdir(parents=True, exist_ok=True)

    # grid.json and manifest.jsonl, as fragment writes them
    if impart:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            runs = [
                ([str(DATA / "nifti" / "i16_3d.nii"), "--cell", "4,4,4", "--stride", "0.5"], "nii"),
                ([str(DATA / "zarr" / "v2_u8_4d_channels_f"), "--cell", "3,3,3", "--axes", "0,1,2", "--edge", "pad"], "npy"),
                ([str(DATA / "zarr" / "v3_f64_gzip_3d"), "--cell", "4,4,4", "--edge", "shift", "--select", "0,..."], "raw"),
            ]
            for k, (args, fmt) in enumerate(runs):
                if not Path(args[0]).exists():
                    continue
                d = tmp / f"run{k}"
                subprocess.run([impart, "fragment", *args, "--out", str(d), "--format", fmt, "--quiet"], check=True)
                grid = (d / "grid.json").read_bytes()
                manifest = (d / "manifest.jsonl").read_bytes()
                seed("grid_json", grid)
                seed("manifest", grid + b"\x00" + manifest)
    for t, c in sorted(n.items()):
        print(f"{t}: {c} seeds")


if __name__ == "__main__":
    main()
