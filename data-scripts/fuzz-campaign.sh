#!/usr/bin/env bash
# The fuzz campaign: every target (or those named) for RUNS executions each,
# JOBS at a time, from the working corpora in WORK/corpus (seeded from
# fuzz/corpus, or from data-scripts/fuzz_seeds.py on a first run). Logs,
# crashes and the final stats go to WORK/logs and WORK/artifacts; afterwards
# `data-scripts/fuzz-campaign.sh --minimize` shrinks the working corpora
# into fuzz/corpus (cargo fuzz cmin) for committing.
#
#   data-scripts/fuzz-campaign.sh [--runs N] [--jobs J] [TARGET...]
#   data-scripts/fuzz-campaign.sh --minimize [TARGET...]
#   data-scripts/fuzz-campaign.sh --table        # the closing-note table
#
# Built without a sanitizer (safe Rust: the panics, overflow checks in
# debug assertions, hangs and memory limits are what the campaign looks for;
# .ci/run replays the corpora under AddressSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-/work/fuzz-work}
RUNS=10000000
JOBS=2
MODE=run
TARGETS=()
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --minimize) MODE=minimize; shift ;;
        --table) MODE=table; shift ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
export RUSTC_BOOTSTRAP=1
ALL=$(cd fuzz && cargo fuzz list)
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=($ALL)
BIN=fuzz/target/x86_64-unknown-linux-gnu/release

# max_len per target: file formats get room for small real files
max_len() {
    case $1 in
        tiff) echo 16384 ;;
        nifti_open | png | jpeg | zarr_chunk | zarr_metadata) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

case $MODE in
run)
    (cd fuzz && cargo fuzz build -O -a --sanitizer none)
    mkdir -p "$WORK/logs" "$WORK/artifacts" "$WORK/corpus"
    for t in "${TARGETS[@]}"; do
        if [ ! -d "$WORK/corpus/$t" ]; then
            mkdir -p "$WORK/corpus/$t"
            if [ -d "fuzz/corpus/$t" ]; then cp fuzz/corpus/$t/* "$WORK/corpus/$t/" 2>/dev/null || true; fi
        fi
    done
    printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c '
        t={}; mkdir -p "'"$WORK"'/artifacts/$t"
        "'"$BIN"'/$t" -runs='"$RUNS"' -max_len=$('"$(declare -f max_len)"'; max_len $t) \
            -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 -close_fd_mask=3 \
            -artifact_prefix="'"$WORK"'/artifacts/$t/" "'"$WORK"'/corpus/$t" \
            > "'"$WORK"'/logs/$t.log" 2>&1 && echo "$t: done" || echo "$t: stopped (exit $?): see '"$WORK"'/logs/$t.log"'
    ;;
minimize)
    for t in "${TARGETS[@]}"; do
        rm -rf "fuzz/corpus/$t.new" "$WORK/snapshot/$t"
        mkdir -p "fuzz/corpus/$t.new" "$WORK/snapshot"
        # a snapshot: a running fuzzer replaces files of its corpus as it goes
        mkdir -p "$WORK/snapshot/$t"
        cp "$WORK/corpus/$t"/* "$WORK/snapshot/$t/" 2>/dev/null || true
        "$BIN/$t" -merge=1 -max_len=$(max_len "$t") "fuzz/corpus/$t.new" "$WORK/snapshot/$t" > "$WORK/logs/$t.cmin.log" 2>&1
        rm -rf "$WORK/snapshot/$t"
        rm -rf "fuzz/corpus/$t"
        mv "fuzz/corpus/$t.new" "fuzz/corpus/$t"
        echo "$t: $(ls fuzz/corpus/$t | wc -l) inputs, $(du -sk fuzz/corpus/$t | cut -f1) KiB"
    done
    ;;
table)
    echo "| target | executions | time (s) | exec/s | coverage (edges) | features | corpus (minimized) | crashes |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in "${TARGETS[@]}"; do
        log=$WORK/logs/$t.log
        [ -f "$log" ] || continue
        runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
        rate=$(grep -o 'stat::average_exec_per_sec: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
        secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "?")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
        ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
        corp=$(ls "fuzz/corpus/$t" 2>/dev/null | wc -l)
        crashes=$(ls "$WORK/artifacts/$t" 2>/dev/null | wc -l)
        echo "| $t | $runs | $secs | $rate | $cov | $ft | $corp | $crashes |"
    done
    ;;
esac
