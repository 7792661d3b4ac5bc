#!/usr/bin/env bash
# Remote Zarr benchmark: impart stats against TensorStore (zarr3 over s3) and
# zarr-python 3 over obstore, on a loopback S3 server (s3s-fs), 512^3 u16 in
# 64^3 zstd chunks, stride 1.0 and 0.5; then 20 ms added to every answer,
# impart with prefetch on and off (data-scripts/bench_remote.py says how).
#
#   data-scripts/bench-remote.sh [WORK_DIR] [--quick]
#
# Environment:
#   IMPART_BIN   the impart binary (default target/release/impart, built here
#                when missing)
#   S3S_FS       the s3s-fs binary (default: on PATH, installed with cargo
#                when missing)
#   VENV         the Python environment (default target/bench-remote-venv,
#                made from data-scripts/requirements-bench-remote.txt)
# Writes OUT_DIR/remote.json (JSON lines; OUT_DIR default benches/results).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-target/bench-remote}
shift || true
IMPART_BIN=${IMPART_BIN:-target/release/impart}
VENV=${VENV:-target/bench-remote-venv}
OUT_DIR=${OUT_DIR:-benches/results}
[ -x "$IMPART_BIN" ] || cargo build --release --all-features --bin impart
S3S_FS=${S3S_FS:-$(command -v s3s-fs || true)}
if [ -z "$S3S_FS" ]; then
    cargo install s3s-fs --version 0.14.1 --features binary --locked
    S3S_FS=$HOME/.cargo/bin/s3s-fs
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r data-scripts/requirements-bench-remote.txt
# s3s-fs leaves Nagle's algorithm on: without this every request of every
# tool waits ~40 ms for a delayed ACK (data-scripts/loopback-quickack.sh);
# restored when the benchmark ends
data-scripts/loopback-quickack.sh on
trap 'data-scripts/loopback-quickack.sh off' EXIT
mkdir -p "$OUT_DIR"
"$VENV/bin/python" data-scripts/bench_remote.py "$IMPART_BIN" "$S3S_FS" "$WORK" "$@" | tee "$OUT_DIR/remote.txt"
grep '^{' "$OUT_DIR/remote.txt" > "$OUT_DIR/remote.json"
