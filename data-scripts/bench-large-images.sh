#!/usr/bin/env bash
# Large-image benchmark, one run side by side: impart against the original
# Python impart 0.0.5 (pyvips) and tifffile + NumPy on a 20000² tiled TIFF
# (every 512² cell, stride 1.0 and 0.5) and the time to the first cell of
# the TIFF, a 16000² PNG and a 16000² JPEG, each contender its own process
# on one core (taskset) under /usr/bin/time -v.
#
#   data-scripts/bench-large-images.sh [--repeats N] [--out DIR] [...]
#
# Arguments go to data-scripts/bench_large_images.py (see its --help). This
# script installs Debian's libvips42 when there is no libvips, makes or
# reuses a venv (VENV, default target/peers-venv) with the pinned
# data-scripts/requirements-bench-large.txt, and builds impart in release
# unless IMPART_BIN names a binary. Outputs benches/results/large_images.{json,md,png}
# by default; the images (about 590 MB) go to target/large-images/images.
set -euo pipefail
cd "$(dirname "$0")/.."

bash data-scripts/install-libvips.sh

VENV=${VENV:-target/peers-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r data-scripts/requirements-bench-large.txt

if [ -n "${IMPART_BIN:-}" ]; then
    echo "bench-large-images: using IMPART_BIN=$IMPART_BIN"
else
    cargo build --release --quiet
    IMPART_BIN="${CARGO_TARGET_DIR:-target}/release/impart"
fi
export IMPART_BIN

exec "$VENV/bin/python" data-scripts/bench_large_images.py --impart-bin "$IMPART_BIN" "$@"
