#!/usr/bin/env bash
# CI's fuzz smoke test: builds every fuzz target with AddressSanitizer,
# replays its committed corpus (fuzz/corpus/<target>) and the crash inputs
# the campaign found (tests/data/fuzz/<target>), then fuzzes it for SECONDS
# (default 20) from that corpus into a scratch directory. Exits non-zero on
# the first crash, hang or memory blow-up, with libFuzzer's report.
#
#   bash data-scripts/fuzz-smoke.sh [SECONDS]
#
# FUZZ_TARGET_DIR, if set, is cargo's target directory for the build (so a
# campaign's binaries in fuzz/target are left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-20}
export RUSTC_BOOTSTRAP=1
# libFuzzer's limits: a single allocation above -rss_limit_mb (its
# -malloc_limit_mb default), memory in use above it, or an input running
# over -timeout seconds is a failure.
LIMITS=(-rss_limit_mb=2048 -timeout=30)
cd fuzz
TD=()
[ -n "${FUZZ_TARGET_DIR:-}" ] && TD=(--target-dir "$FUZZ_TARGET_DIR")
cargo fuzz build -O "${TD[@]}"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
for t in $(cargo fuzz list); do
    dirs=("corpus/$t")
    [ -d "../tests/data/fuzz/$t" ] && dirs+=("../tests/data/fuzz/$t")
    mkdir -p "corpus/$t" "$SCRATCH/$t" "$SCRATCH/artifacts/$t"
    start=$(date +%s)
    # replay: every input once (-runs=0 runs only the given corpora)
    cargo fuzz run -O "${TD[@]}" "$t" "${dirs[@]}" -- -runs=0 "${LIMITS[@]}" \
        -artifact_prefix="$SCRATCH/artifacts/$t/" > "$SCRATCH/$t.replay.log" 2>&1 || {
        tail -n 60 "$SCRATCH/$t.replay.log"; echo "fuzz $t: an input of the committed corpus fails"; exit 1; }
    # fuzz: new inputs into the scratch corpus (listed first)
    cargo fuzz run -O "${TD[@]}" "$t" "$SCRATCH/$t" "${dirs[@]}" -- -max_total_time="$SECONDS_EACH" \
        "${LIMITS[@]}" -max_len=16384 -print_final_stats=1 \
        -artifact_prefix="$SCRATCH/artifacts/$t/" > "$SCRATCH/$t.fuzz.log" 2>&1 || {
        tail -n 60 "$SCRATCH/$t.fuzz.log"; echo "fuzz $t: crashed within ${SECONDS_EACH} s"; exit 1; }
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$SCRATCH/$t.fuzz.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$SCRATCH/$t.fuzz.log" | tail -1 | grep -o '[0-9]*' || echo '?')
    echo "fuzz $t: $(find "${dirs[@]}" -type f | wc -l) inputs replayed, then $runs runs in ${SECONDS_EACH} s (cov $cov), $(( $(date +%s) - start )) s in all"
done
echo "fuzz: every target clean"
