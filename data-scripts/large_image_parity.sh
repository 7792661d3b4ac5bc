#!/usr/bin/env bash
# Parity data for tests/large_image_parity.rs: makes a 20000² tiled pyramidal
# BigTIFF, a 16000² PNG and a 16000² JPEG with libvips in OUT_DIR/images/
# and records what the original Python impart 0.0.5 computes on them
# (OUT_DIR/index.json, OUT_DIR/cells/). Installs libvips (Debian/Ubuntu
# libvips42, with sudo when not root), makes a venv with the pinned
# data-scripts/requirements-impart.txt and runs
# data-scripts/large_image_parity.py (see its docstring).
#
#   data-scripts/large_image_parity.sh OUT_DIR [--reuse-images]
#   IMPART_LARGE_IMAGES_DIR=OUT_DIR cargo test --release --test large_image_parity -- --include-ignored
#
# VENV (default target/impart-venv) chooses the venv directory. Needs about
# 700 MB in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    echo "usage: $0 OUT_DIR [--reuse-images]" >&2
    exit 2
fi

bash data-scripts/install-libvips.sh

VENV=${VENV:-target/impart-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r data-scripts/requirements-impart.txt
"$VENV/bin/python" data-scripts/large_image_parity.py "$@"
