#!/usr/bin/env bash
# Side-by-side peer benchmark: impart against NumPy, nibabel, zarr-python,
# TensorStore, scikit-image and the Python impart 0.0.5 (TorchIO opt-in).
#
#   data-scripts/bench-peers.sh [--quick] [--repeats R] [--torchio] [--out DIR] [...]
#
# Arguments go to data-scripts/bench_peers.py (see its --help). This script:
# - installs Debian's libvips42 when the system has no libvips (pyvips, which
#   the Python impart needs, loads it at run time), as record_impart_parity.sh;
# - makes or reuses a venv (VENV, default target/peers-venv) with the pinned
#   data-scripts/requirements-peers.txt; with --torchio also
#   requirements-peers-torchio.txt (large: torch); if that install fails it
#   says why and the TorchIO peer is skipped;
# - builds impart in release (target/release/impart, or
#   $CARGO_TARGET_DIR/release/impart) unless IMPART_BIN names a binary.
#
# Outputs: target/bench-peers/out/ (out-quick/ with --quick): results.json,
# results.md, peers.png. Data: target/bench-peers/data/, made once.
set -euo pipefail
cd "$(dirname "$0")/.."

want_torchio=0
for arg in "$@"; do
    [ "$arg" = "--torchio" ] && want_torchio=1
done

# libvips for pyvips (Python impart 0.0.5)
bash data-scripts/install-libvips.sh

VENV=${VENV:-target/peers-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" -r data-scripts/requirements-peers.txt

if [ "$want_torchio" = 1 ]; then
    log=$(mktemp)
    if ! "${PIP[@]}" -r data-scripts/requirements-peers-torchio.txt >"$log" 2>&1; then
        echo "bench-peers: could not install TorchIO (data-scripts/requirements-peers-torchio.txt);" \
            "its peer is skipped. pip said:" >&2
        tail -n 20 "$log" >&2
    fi
    rm -f "$log"
fi

if [ -n "${IMPART_BIN:-}" ]; then
    echo "bench-peers: using IMPART_BIN=$IMPART_BIN"
else
    cargo build --release --quiet
    IMPART_BIN="${CARGO_TARGET_DIR:-target}/release/impart"
fi
export IMPART_BIN

exec "$VENV/bin/python" data-scripts/bench_peers.py --impart-bin "$IMPART_BIN" "$@"
