#!/usr/bin/env bash
# Installs Debian's libvips42 (which pyvips loads at run time, for the Python
# impart 0.0.5) unless the system already has a libvips. Used by
# record_impart_parity.sh and bench-peers.sh.
set -euo pipefail
# (No `grep -q` on a pipe: it quits at the first match, ldconfig gets SIGPIPE,
# and pipefail calls that a failure.)
if ldconfig -p 2>/dev/null | grep 'libvips\.so' >/dev/null; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show libvips42 >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q libvips42
