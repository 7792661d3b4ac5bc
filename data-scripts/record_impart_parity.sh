#!/usr/bin/env bash
# Record what the original Python impart 0.0.5 computes (tests/data/impart_parity.json
# by default, or OUT_FILE): installs libvips (Debian/Ubuntu libvips42, with sudo
# when not root), makes a venv with the pinned data-scripts/requirements-impart.txt
# and runs data-scripts/record_impart_parity.py.
#
#   data-scripts/record_impart_parity.sh [OUT_FILE]
#
# VENV (default target/impart-venv) chooses the venv directory.
set -euo pipefail
cd "$(dirname "$0")/.."

bash data-scripts/install-libvips.sh

VENV=${VENV:-target/impart-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r data-scripts/requirements-impart.txt
"$VENV/bin/python" data-scripts/record_impart_parity.py "$@"
