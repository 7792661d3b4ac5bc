#!/usr/bin/env bash
# Time to the first cell and peak resident memory of a large PNG and JPEG:
# impart against the Python impart 0.0.5 (pyvips), same files, same run.
#
#   data-scripts/bench-large-image.sh [EDGE] [ROUNDS]
#
# EDGE (default 16000) is the side of an RGB u8 image written by pyvips
# (a gradient and a checkerboard under Gaussian noise, PNG compression 6,
# JPEG Q 90) into $IMPART_BENCH_DIR (default /tmp/impart-bench-large, about
# 1 GB for 16000²; kept between runs). Each configuration runs ROUNDS times
# (default 3), interleaved, from a warm page cache; the table gives the
# fastest, median and slowest wall time and the largest "Maximum resident
# set size" (/usr/bin/time's %M). The cell is [3, 4] of a 512² grid (stride 1),
# what `impart stats --select 3,4` and the original's `img[3, 4].numpy()`
# both materialize. Needs a release build (cargo build --release) and the
# venv of record_impart_parity.sh (PYTHON, default
# target/impart-venv/bin/python).
set -euo pipefail
EDGE=${1:-16000}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
IMPART=${IMPART:-$TARGET/release/impart}
PYTHON=${PYTHON:-$ROOT/target/impart-venv/bin/python}
DIR=${IMPART_BENCH_DIR:-/tmp/impart-bench-large}
mkdir -p "$DIR"
cd "$DIR"

if [ ! -f "big$EDGE.png" ] || [ ! -f "big$EDGE.jpg" ]; then
    "$PYTHON" - "$EDGE" <<'EOF'
import sys, pyvips
n = int(sys.argv[1])
xyz = pyvips.Image.xyz(n, n)
x, y = xyz[0], xyz[1]
noise = pyvips.Image.gaussnoise(n, n, sigma=24, mean=0, seed=12)
r = ((x * 3 + y) % 256) * 0.6 + 50 + noise
g = ((x - y * 2).abs() % 256) * 0.5 + 60 + noise * 0.8
b = (((x // 64 + y // 64) % 2) * 120 + 70) + noise * 1.2
img = r.bandjoin([g, b]).cast("uchar")
img.pngsave(f"big{n}.png", compression=6)
pyvips.Image.new_from_file(f"big{n}.png", access="sequential").jpegsave(f"big{n}.jpg", Q=90)
EOF
fi

cat > first_cell.py <<'EOF'
import sys
from impart import ImagePartition
img = ImagePartition(sys.argv[1], (512, 512), 1.0, channels=(0, 1, 2))
cell = img[3, 4].numpy()
print(cell.shape, int(cell.sum()))
EOF

# one run: prints "seconds kbytes"
run() {
    /usr/bin/time -f "%e %M" -o "$DIR/time.txt" env "$@" >/dev/null
    cat "$DIR/time.txt"
}

declare -A WALL RSS
configs=()
add() { configs+=("$1"); }
for ext in png jpg; do
    f="$DIR/big$EDGE.$ext"
    add "$ext|impart (default)|IMPART_DECODE_IN_MEMORY_MAX= $IMPART stats $f --cell 512,512 --select 3,4"
    add "$ext|impart (in memory)|IMPART_DECODE_IN_MEMORY_MAX=none $IMPART stats $f --cell 512,512 --select 3,4"
    add "$ext|impart --cache-dir, first run|CLEAN=1 $IMPART stats $f --cell 512,512 --select 3,4 --cache-dir $DIR/cache"
    add "$ext|impart --cache-dir, later runs|$IMPART stats $f --cell 512,512 --select 3,4 --cache-dir $DIR/cache"
    add "$ext|Python impart 0.0.5|$PYTHON $DIR/first_cell.py $f"
done
for round in $(seq "$ROUNDS"); do
    for c in "${configs[@]}"; do
        IFS='|' read -r ext name cmd <<<"$c"
        if [[ $cmd == CLEAN=1* ]]; then
            rm -rf "$DIR/cache"
            cmd=${cmd#CLEAN=1 }
        fi
        # shellcheck disable=SC2086
        read -r wall rss < <(run $cmd)
        echo "round $round: $ext $name: $wall s, $rss kB" >&2
        key="$ext|$name"
        WALL[$key]="${WALL[$key]:-} $wall"
        RSS[$key]="${RSS[$key]:-} $rss"
    done
done
printf '| image | run | wall, fastest | median | slowest | peak RSS |\n|---|---|---|---|---|---|\n'
for c in "${configs[@]}"; do
    IFS='|' read -r ext name _ <<<"$c"
    key="$ext|$name"
    # shellcheck disable=SC2086
    lo=$(printf '%s\n' ${WALL[$key]} | sort -n | head -1)
    # shellcheck disable=SC2086
    hi=$(printf '%s\n' ${WALL[$key]} | sort -n | tail -1)
    # shellcheck disable=SC2086
    mid=$(printf '%s\n' ${WALL[$key]} | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
    # shellcheck disable=SC2086
    rss=$(printf '%s\n' ${RSS[$key]} | sort -n | tail -1)
    printf '| %s %s² | %s | %s s | %s s | %s s | %s MB |\n' "$ext" "$EDGE" "$name" "$lo" "$mid" "$hi" "$((rss / 1000))"
done
