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
    # every run of a target counts: $t.log and the $t.run*.log of runs that
    # stopped on a find (fixed, then restarted from the same corpus); a run
    # still going counts its last status line
    python3 - "$WORK" "${TARGETS[@]}" <<'PY'
import re, sys
from pathlib import Path
work = Path(sys.argv[1])
print("| target | executions | runs | time (s) | coverage (edges) | features | corpus (minimized) | finds |")
print("|---|---|---|---|---|---|---|---|")
for t in sys.argv[2:]:
    logs = sorted((work / "logs").glob(f"{t}.run*.log")) + [work / "logs" / f"{t}.log"]
    execs, secs, cov, ft, runs = 0, 0, "?", "?", 0
    for log in logs:
        if not log.exists():
            continue
        text = log.read_text(errors="replace")
        runs += 1
        m = re.findall(r"stat::number_of_executed_units: (\d+)", text)
        if m:
            execs += int(m[-1])
        else:
            m = re.findall(r"^#(\d+)\s", text, re.M)
            execs += int(m[-1]) if m else 0
        m = re.findall(r"Done \d+ runs in (\d+) second", text)
        if m:
            secs += int(m[-1])
        else:
            r = re.findall(r"exec/s: (\d+)", text)
            n = re.findall(r"^#(\d+)\s", text, re.M)
            if r and n and int(r[-1]):
                secs += int(n[-1]) // int(r[-1])
        c = re.findall(r"cov: (\d+) ft: (\d+)", text)
        if c:
            cov, ft = c[-1]
    corpus = Path("fuzz/corpus") / t
    size = len(list(corpus.iterdir())) if corpus.is_dir() else 0
    finds = work / "artifacts" / t
    nfinds = len(list(finds.iterdir())) if finds.is_dir() else 0
    if runs:
        print(f"| {t} | {execs:,} | {runs} | {secs:,} | {cov} | {ft} | {size} | {nfinds} |")
PY
    ;;
esac
