#!/usr/bin/env bash
# Shows that `impart stats` and `impart fragment` walk every cell of a volume
# at least 4x larger than the memory they may use: a 4 GiB raw u16 volume
# (2048 x 1024 x 1024, C order, little-endian), walked unconstrained and in a
# memory cgroup limited to 1 GiB, with peak RSS, the cgroup's peak usage, wall
# time, throughput and checksums. Prints a Markdown table and writes it to
# DATA_DIR/results.md (raw records in DATA_DIR/results.jsonl).
#
#   data-scripts/larger-than-ram.sh [DATA_DIR]
#
# Environment:
#   DATA_DIR     where the volume and results go (default target/larger-than-ram;
#                the first argument wins). Needs ~8.5 GiB free (volume + fragment
#                output, which is removed after each run).
#   IMPART_BIN   the impart binary to test (default: `cargo build --release`
#                and target/release/impart, or $CARGO_TARGET_DIR/release/impart)
#   LIMIT        memory limit in bytes (default 1073741824 = 1 GiB)
#   SHAPE        volume shape Z,Y,X of u16 (default 2048,1024,1024 = 4 GiB)
#   FORMAT       raw (default) or tiff: the same voxels as an uncompressed
#                BigTIFF stack (one page per Z slab, pages back to back, as
#                tifffile and ImageJ write them), which impart maps through
#                the raw path; fragment runs are off by default for tiff
#   STRIDES      stats strides (default "1.0 0.5")
#   THREADS      --threads (default 2)
#   CGROUP       force a way to apply the limit: v1, v2, systemd or none
#                (default: the first that works, in that order)
#   REPEAT       runs of each configuration (default 1; timings are noisy)
#   FRAGMENT=0   skip the fragment runs; NO_MMAP=1 adds stats runs with --no-mmap
#   DROP_CACHES=0  do not try /proc/sys/vm/drop_caches (it empties the whole
#                machine's page cache); the volume is still evicted by fadvise
#
# The limit: a fresh cgroup v1 memory cgroup per run (a child of this shell's
# own memory cgroup when that is writable, else of the hierarchy's root) with
# memory.limit_in_bytes = LIMIT; only the measured command is moved into it
# (between fork and exec), and the cgroup is removed after the run, so its
# max_usage and failcnt start from zero every time. Falls back to cgroup v2
# (memory.max), then `systemd-run --scope -p MemoryMax=`, else runs without a
# limit and says so.
#
# The page cache: before every run the volume's pages are dropped from the page
# cache with posix_fadvise(DONTNEED) (no privilege needed), and
# /proc/sys/vm/drop_caches is tried too. Every run therefore starts cold and
# reads the file from disk; this matters for the limit, because a page already
# cached stays charged to the cgroup that first read it, so a warm run would
# barely be charged at all.
#
# madvise A/B: when `impart stats --help` mentions --no-madvise, every stats
# configuration also runs with it, so the table shows what the hints do.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
HELPER="$REPO/data-scripts/larger_than_ram.py"

DATA_DIR=${1:-${DATA_DIR:-target/larger-than-ram}}
LIMIT=${LIMIT:-1073741824}
SHAPE=${SHAPE:-2048,1024,1024}
STRIDES=${STRIDES:-1.0 0.5}
THREADS=${THREADS:-2}
FORMAT=${FORMAT:-raw}
if [ "$FORMAT" = tiff ]; then FRAGMENT=${FRAGMENT:-0}; else FRAGMENT=${FRAGMENT:-1}; fi
NO_MMAP=${NO_MMAP:-0}
REPEAT=${REPEAT:-1}
CELL_STATS=64,64,64
CELL_FRAG=128,128,128

mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
case $FORMAT in
    raw)
        VOL="$DATA_DIR/volume_u16_${SHAPE//,/x}.raw"
        VOL_ARGS=(--shape "$SHAPE" --dtype u16)
        GEN_ARGS=()
        ;;
    tiff)
        VOL="$DATA_DIR/volume_u16_${SHAPE//,/x}.tif"
        VOL_ARGS=()
        GEN_ARGS=(--tiff)
        ;;
    *) echo "FORMAT must be raw or tiff" >&2; exit 1 ;;
esac
JSONL="$DATA_DIR/results.jsonl"
MD="$DATA_DIR/results.md"
FRAG_OUT="$DATA_DIR/fragment-out"

log() { printf '%s\n' "== $*" >&2; }

# ------------------------------------------------------------------ binary
if [ -n "${IMPART_BIN:-}" ]; then
    BIN=$IMPART_BIN
else
    log "cargo build --release"
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/impart"
fi
[ -x "$BIN" ] || { echo "no impart binary at $BIN" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
log "impart: $BIN ($("$BIN" --version))"

# ------------------------------------------------------------------ volume
IFS=, read -r NZ NY NX <<<"$SHAPE"
VOL_BYTES=$((2 * NZ * NY * NX))
AVAIL=$(df -B1 --output=avail "$DATA_DIR" | tail -1)
if [ ! -e "$VOL" ] && [ "$AVAIL" -lt $((VOL_BYTES * 2 + (1 << 30))) ]; then
    echo "need $((VOL_BYTES * 2 / 2**30 + 1)) GiB free in $DATA_DIR, have $((AVAIL / 2**30)) GiB" >&2
    exit 1
fi
log "volume $VOL ($SHAPE u16, $VOL_BYTES bytes)"
STAMP=$(python3 "$HELPER" gen "$VOL" --shape "$SHAPE" ${GEN_ARGS[@]+"${GEN_ARGS[@]}"})
EXPECTED_SUM=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["expected_sum"])' "$STAMP")
RAM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024))

# ------------------------------------------------------------------ limit
read -r CG_MODE CG_PARENT < <(python3 "$HELPER" probe --name impart-ltr ${CGROUP:+--force "$CGROUP"})
case $CG_MODE in
    v1) LIMIT_NOTE="cgroup v1 memory.limit_in_bytes=$LIMIT under $CG_PARENT" ;;
    v2) LIMIT_NOTE="cgroup v2 memory.max=$LIMIT under $CG_PARENT" ;;
    systemd) LIMIT_NOTE="systemd-run --scope -p MemoryMax=$LIMIT" ;;
    *)
        LIMIT_NOTE="NONE: ${CGROUP:+CGROUP=$CGROUP was asked for, or }no writable memory cgroup (v1 or v2) and no systemd-run scope; constrained runs skipped"
        echo "WARNING: the memory limit cannot be applied here; running unconstrained only" >&2
        ;;
esac
log "limit: $LIMIT_NOTE"
if [ "$VOL_BYTES" -lt $((4 * LIMIT)) ]; then
    echo "WARNING: volume ($VOL_BYTES) is less than 4x the limit ($LIMIT)" >&2
fi

# drop_caches needs CAP_SYS_ADMIN in the initial namespace; try it once.
if [ "${DROP_CACHES:-1}" != 0 ] && (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    DROP_CACHES=1
    CACHE_NOTE="before every run: sync; echo 3 > /proc/sys/vm/drop_caches, and posix_fadvise(DONTNEED) on the volume"
else
    DROP_CACHES=0
    CACHE_NOTE="/proc/sys/vm/drop_caches not used (not writable here, or DROP_CACHES=0); before every run the volume's pages are dropped with posix_fadvise(DONTNEED) instead (the 'cache before' column is the fraction of the volume still cached, from mincore)"
fi
log "page cache: $CACHE_NOTE"

evict() {
    # Prints the fraction of the volume still in the page cache.
    sync
    if [ "$DROP_CACHES" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches || true; fi
    python3 "$HELPER" evict "$VOL"
}

# ------------------------------------------------------------------ madvise A/B
STATS_HELP=$("$BIN" stats --help)
MADV_VARIANTS=("")
MADV_NOTE="this build's impart stats has no --no-madvise flag: default runs only"
if grep -q -- '--no-madvise' <<<"$STATS_HELP"; then
    MADV_VARIANTS=("" "--no-madvise")
    MADV_NOTE="every run also with --no-madvise (no access hints); rows without it use impart's default hints"
fi
log "madvise: $MADV_NOTE"
FRAG_MADV_VARIANTS=("")
if grep -q -- '--no-madvise' <<<"$("$BIN" fragment --help)"; then
    FRAG_MADV_VARIANTS=("" "--no-madvise")
fi
EXTRA_VARIANTS=()
if [ "$NO_MMAP" = 1 ] && grep -q -- '--no-mmap' <<<"$STATS_HELP"; then
    EXTRA_VARIANTS=("--no-mmap")
fi

LIMITS=(none)
if [ "$CG_MODE" != none ]; then LIMITS=(none "$LIMIT"); fi

rm -f "$JSONL"
FAILED=0

measure() {
    # measure LABEL LIMIT(none|bytes) META_JSON STDOUT_FILE -- CMD...
    local label=$1 limit=$2 meta=$3 stdout=$4
    shift 5
    local args=(--out "$JSONL" --label "$label" --meta "$meta")
    [ -n "$stdout" ] && args+=(--stdout "$stdout")
    if [ "$limit" != none ]; then
        args+=(--mode "$CG_MODE" --limit "$limit")
        [ "$CG_PARENT" != - ] && args+=(--parent "$CG_PARENT")
    fi
    log "run: $label: $*"
    if ! python3 "$HELPER" measure "${args[@]}" -- "$@"; then
        echo "   FAILED (see $JSONL)" >&2
        FAILED=1
    fi
}

cells_of() {
    # cells_of CELL STRIDE: number of cells of the grid (impart grid --json).
    "$BIN" grid "$VOL" ${VOL_ARGS[@]+"${VOL_ARGS[@]}"} --cell "$1" --stride "$2" --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["cells"])'
}

# ------------------------------------------------------------------ stats
for stride in $STRIDES; do
    config="stats cell $CELL_STATS stride $stride"
    ncells=$(cells_of "$CELL_STATS" "$stride")
    exp=null
    # With stride 1.0 and a cell that divides the shape every voxel is in
    # exactly one cell, so the sum is the generator's.
    if [ "$stride" = 1.0 ] || [ "$stride" = 1 ]; then
        exp=$EXPECTED_SUM
        for a in $(seq 1 3); do
            c=$(cut -d, -f$a <<<"$CELL_STATS"); s=$(cut -d, -f$a <<<"$SHAPE")
            [ $((s % c)) -eq 0 ] || exp=null
        done
    fi
    for rep in $(seq 1 "$REPEAT"); do
    for variant in "${MADV_VARIANTS[@]}" "${EXTRA_VARIANTS[@]}"; do
        for lim in "${LIMITS[@]}"; do
            label="stats stride $stride${variant:+ $variant}$([ "$REPEAT" -gt 1 ] && echo " #$rep" || true)"
            cached=$(evict)
            meta=$(printf '{"kind":"stats","config":"%s","variant":"%s","expected_sum":%s,"expected_cells":%s,"cached_before":"%s"}' \
                "$config" "$variant" "$exp" "$ncells" "$cached")
            cmd=("$BIN" stats "$VOL" ${VOL_ARGS[@]+"${VOL_ARGS[@]}"} --cell "$CELL_STATS" --stride "$stride"
                --threads "$THREADS" --json)
            [ -n "$variant" ] && cmd+=("$variant")
            measure "$label" "$lim" "$meta" "$DATA_DIR/stats.out" -- "${cmd[@]}"
        done
    done
    done
done

# ------------------------------------------------------------------ fragment
if [ "$FRAGMENT" = 1 ]; then
    ncells=$(cells_of "$CELL_FRAG" 1.0)
    for rep in $(seq 1 "$REPEAT"); do
    for variant in "${FRAG_MADV_VARIANTS[@]}"; do
        for lim in "${LIMITS[@]}"; do
            rm -rf "$FRAG_OUT"
            label="fragment raw cell $CELL_FRAG${variant:+ $variant}$([ "$REPEAT" -gt 1 ] && echo " #$rep" || true)"
            cached=$(evict)
            meta=$(printf '{"kind":"fragment","expected_cells":%s,"expected_bytes":%s,"file_bytes":%s,"cached_before":"%s"}' \
                "$ncells" "$VOL_BYTES" "$VOL_BYTES" "$cached")
            cmd=("$BIN" fragment "$VOL" ${VOL_ARGS[@]+"${VOL_ARGS[@]}"} --cell "$CELL_FRAG" --out "$FRAG_OUT"
                --format raw --threads "$THREADS" --quiet)
            [ -n "$variant" ] && cmd+=("$variant")
            measure "$label" "$lim" "$meta" "" -- "${cmd[@]}"
            python3 "$HELPER" check-fragment "$FRAG_OUT" --shape "$SHAPE" --gen-stamp "$VOL.json" --attach "$JSONL" >&2
            rm -rf "$FRAG_OUT"
        done
    done
    done
fi

# ------------------------------------------------------------------ table
VM_NOTE=""
if grep -q 'page_reporting' /proc/cmdline 2>/dev/null; then
    # A VM that hands freed guest pages back to its host: filling GiBs of page
    # cache with freshly freed memory costs host-side faults, which a 1 GiB
    # cgroup recycling its own pages does not pay.
    VM_NOTE="- note: this kernel reports free pages to its host ($(grep -o 'page_reporting[^ ]*' /proc/cmdline)); unconstrained runs that fill GiBs of page cache with just-freed memory can be slower and noisier than constrained ones for that reason alone
"
fi
HEADER="# impart larger than RAM

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(uname -srm), $(nproc) cores, RAM $((RAM / 2**30)) GiB
- impart: $BIN ($("$BIN" --version)), git $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo ?)
- volume: $VOL ($FORMAT), $SHAPE u16 C order, $VOL_BYTES bytes ($(awk -v v="$VOL_BYTES" -v l="$LIMIT" 'BEGIN {printf "%.1f", v / l}')x the limit)
- limit: $LIMIT_NOTE
- page cache: $CACHE_NOTE
- madvise A/B: $MADV_NOTE
- expected sum (stride 1.0): $EXPECTED_SUM
$VM_NOTE
"
if ! python3 "$HELPER" table "$JSONL" --md "$MD" --header "$HEADER"; then
    FAILED=1
fi
log "wrote $MD"
exit $FAILED
