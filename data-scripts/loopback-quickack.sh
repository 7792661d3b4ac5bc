#!/usr/bin/env bash
# Turns delayed ACKs off (on) for loopback traffic:
#
#   data-scripts/loopback-quickack.sh on|off
#
# Why: s3s-fs 0.14.1, the S3 server the tests and benchmarks run on
# loopback, leaves Nagle's algorithm on (it never sets TCP_NODELAY). On a
# kept-alive connection each answer's last, short segment then waits for
# the client's ACK, which Linux delays by up to 40 ms: every request of
# every client (impart, TensorStore, zarr-python) costs ~40 ms that a real
# S3 endpoint, which sets TCP_NODELAY, does not. The `quickack` route
# attribute makes the kernel acknowledge loopback segments at once, which
# removes the stall without touching the server. Measured here: 512 chunk
# GETs by `impart stats` took 7.3 s without it, 0.36 s with it.
#
# Needs root and iproute2 (installed with apt when missing); without them
# it says so and leaves the routes as they are (the tests pass either way,
# only slower).
set -u
want=${1:-on}
case $want in
    on) extra=(quickack 1) ;;
    off) extra=() ;;
    *) echo "usage: $0 on|off" >&2; exit 2 ;;
esac
if ! command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # a minimal Debian image has no iproute2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null 2>&1; } || true
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "loopback-quickack: no ip command (iproute2); loopback routes left as they are"
    exit 0
fi
ok=yes
for dst in 127.0.0.0/8 127.0.0.1; do
    ip route change local "$dst" dev lo table local proto kernel scope host \
        src 127.0.0.1 "${extra[@]}" 2>/dev/null || ok=no
done
if [ $ok = yes ]; then
    echo "loopback-quickack: delayed ACKs on loopback $( [ "$want" = on ] && echo off || echo on )"
else
    echo "loopback-quickack: could not change the loopback routes (not root?); left as they are"
fi
exit 0
