#!/usr/bin/env python3
"""Fetch real NIfTI files that no one here wrote, for tests/nifti_real.rs.

Usage::

    python3 data-scripts/fetch_nifti_real.py [OUT_DIR]      # default target/nifti-real

Sources (versions pinned below, so the set is the same on every run):

- the test data shipped inside the nibabel and dipy wheels on PyPI
  (``pip download --no-deps --only-binary=:all:``, then the ``.nii``,
  ``.nii.gz``, ``.hdr``/``.img`` files are unzipped from the wheel);
- the templates of Debian's ``mricron-data`` package, among them the Colin27
  template ``ch2better.nii.gz`` (``apt-get download`` + ``dpkg-deb -x``; if
  the package is not found and the script runs as root, it runs ``apt-get
  update`` once and tries again, unless ``--no-apt-update``).

A source that cannot be had (no network, no apt, a version gone) is reported
and skipped; the script still exits 0 if any source worked, so CI then checks
what it has. It exits 1 only when nothing at all could be fetched. Files land
in ``OUT_DIR/<source>/<path inside the package>``; running it again reuses
what is there. Then ``data-scripts/nifti_crosscheck.py OUT_DIR`` writes
``OUT_DIR/expected.json``.

Uses only the Python standard library, ``pip`` (of the interpreter running
this script) and, for Debian, ``apt-get`` and ``dpkg-deb``.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

WHEELS = [
    # (source name, pip requirement, path prefix inside the wheel)
    ("nibabel", "nibabel==5.4.2", "nibabel/"),
    ("dipy", "dipy==1.12.1", "dipy/data/files/"),
]
DEBIAN = [
    # (source name, package, version or None for the candidate, path inside)
    ("mricron-data", "mricron-data", "1.2.20211006+dfsg-4", "usr/share/mricron/templates/"),
]
SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def fetch_wheel(out: str, name: str, req: str, prefix: str) -> int:
    dest = os.path.join(out, name)
    stamp = os.path.join(dest, ".fetched-" + req.replace("==", "-"))
    if os.path.exists(stamp):
        n = sum(1 for _ in iter_files(dest))
        log(f"{name}: {req} already fetched ({n} files)")
        return n
    with tempfile.TemporaryDirectory() as tmp:
        r = run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--only-binary=:all:", "-d", tmp, req])
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if r.returncode != 0 or not wheels:
            log(f"{name}: UNAVAILABLE: pip download {req} failed:\n{r.stdout.strip()}")
            return 0
        shutil.rmtree(dest, ignore_errors=True)
        n = 0
        with zipfile.ZipFile(wheels[0]) as z:
            for info in z.infolist():
                p = info.filename
                if p.startswith(prefix) and p.endswith(SUFFIXES) and not info.is_dir():
                    target = os.path.join(dest, p)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    n += 1
        log(f"{name}: {n} files from {os.path.basename(wheels[0])}")
    open(stamp, "w").close()
    return n


def fetch_deb(out: str, name: str, package: str, version, prefix: str,
              apt_update: bool = True) -> int:
    dest = os.path.join(out, name)
    stamp = os.path.join(dest, f".fetched-{package}-{version}")
    if os.path.exists(stamp):
        n = sum(1 for _ in iter_files(dest))
        log(f"{name}: {package} already fetched ({n} files)")
        return n
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        log(f"{name}: UNAVAILABLE: apt-get / dpkg-deb not found")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write here
        spec = f"{package}={version}" if version else package
        r = run(["apt-get", "download", spec], cwd=tmp)
        if r.returncode != 0 and apt_update and hasattr(os, "geteuid") and os.geteuid() == 0:
            # a fresh machine has no package lists yet
            log(f"{name}: apt-get download failed; running apt-get update once")
            u = run(["apt-get", "update", "-qq"])
            if u.returncode != 0:
                log(f"{name}: apt-get update failed:\n{u.stdout.strip()}")
            r = run(["apt-get", "download", spec], cwd=tmp)
        if r.returncode != 0 and version:
            log(f"{name}: {spec} not found ({r.stdout.strip()}); trying the candidate version")
            r = run(["apt-get", "download", package], cwd=tmp)
        debs = glob.glob(os.path.join(tmp, "*.deb"))
        if r.returncode != 0 or not debs:
            log(f"{name}: UNAVAILABLE: apt-get download {package} failed (has "
                f"'apt-get update' run?):\n{r.stdout.strip()}")
            return 0
        root = os.path.join(tmp, "root")
        r = run(["dpkg-deb", "-x", debs[0], root])
        if r.returncode != 0:
            log(f"{name}: UNAVAILABLE: dpkg-deb -x failed:\n{r.stdout.strip()}")
            return 0
        shutil.rmtree(dest, ignore_errors=True)
        n = 0
        src_root = os.path.join(root, prefix)
        for dirpath, _, filenames in os.walk(src_root):
            for f in sorted(filenames):
                if f.endswith(SUFFIXES):
                    src = os.path.join(dirpath, f)
                    target = os.path.join(dest, os.path.relpath(src, root))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copyfile(src, target)
                    n += 1
        log(f"{name}: {n} files from {os.path.basename(debs[0])}")
    open(stamp, "w").close()
    return n


def iter_files(root: str):
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            if f.endswith(SUFFIXES):
                yield os.path.join(dirpath, f)


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "target", "nifti-real")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=default, help="output directory")
    ap.add_argument("--no-apt-update", action="store_true",
                    help="do not run 'apt-get update' when a Debian package is not found")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, req, prefix in WHEELS:
        total += fetch_wheel(args.out, name, req, prefix)
    for name, package, version, prefix in DEBIAN:
        total += fetch_deb(args.out, name, package, version, prefix,
                           apt_update=not args.no_apt_update)
    log(f"{total} files under {args.out}")
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
