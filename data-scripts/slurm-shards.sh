#!/usr/bin/env bash
# A real Slurm cluster on this machine runs a sharded impart job, and the
# result is checked against one process, byte for byte.
#
#   data-scripts/slurm-shards.sh [IMPART_BIN] [WORK_DIR]
#
# What it does:
#   1. installs Debian's slurm-wlm and munge if missing (root, apt);
#   2. starts munged, slurmctld and slurmd on localhost, with a config of
#      its own in WORK_DIR (no cgroups: proctrack/linuxproc, task/none);
#   3. writes a phantom volume (impart demo), and with one process
#      fragments it and stitches a synthetic prediction of it into Zarr
#      (the references);
#   4. submits two `sbatch --array=0-3 --wait` job arrays, one running
#      `impart fragment --shard auto` and one `impart stitch --shard auto`,
#      each into one output, then `impart merge`s both;
#   5. the same job as a Kubernetes Indexed Job runs it: JOB_COMPLETION_INDEX
#      0..3 set as the kubelet sets it, the count from IMPART_SHARDS;
#   6. compares every output with the references (diff -r) and stops the
#      daemons (also on failure).
#
# Environment: SHARDS (default 4), SIZE (the phantom's edge, default 64),
# CELL (default 24,20,16), CHUNKS (the stitched Zarr's, default 16,16,16),
# FORMAT (of the cells, default zarr). Prints a line per check and a JSON
# line of timings (one process against the job arrays, submit to --wait's
# return) and of the stitch's recompute; exits non-zero on the first
# difference.
set -euo pipefail
cd "$(dirname "$0")/.."
IMPART_BIN=$(realpath "${1:-target/release/impart}")
WORK=$(realpath -m "${2:-target/slurm-shards}")
SHARDS=${SHARDS:-4}
SIZE=${SIZE:-64}
CELL=${CELL:-24,20,16}
CHUNKS=${CHUNKS:-16,16,16}
FORMAT=${FORMAT:-zarr}
[ -x "$IMPART_BIN" ] || { echo "no impart binary at $IMPART_BIN" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurm-wlm and munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

rm -rf "$WORK"
mkdir -p "$WORK"/{state,spool,log,run,data}
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
export SLURM_CONF="$WORK/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=impart-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmdSpoolDir=$WORK/spool
StateSaveLocation=$WORK/state
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=impart Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF

MUNGED_STARTED=no
stop() {
    set +e
    [ -f "$WORK/run/slurmd.pid" ] && kill "$(cat "$WORK/run/slurmd.pid")" 2>/dev/null
    [ -f "$WORK/run/slurmctld.pid" ] && kill "$(cat "$WORK/run/slurmctld.pid")" 2>/dev/null
    if [ $MUNGED_STARTED = yes ]; then
        kill "$(cat /run/munge/munged.pid 2>/dev/null)" 2>/dev/null
    fi
    sleep 1
}
trap stop EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in "$WORK"/log/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
    exit 1
}

# munge: the key the package made (or a new one), the daemon as its user
if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
    chmod 0700 /etc/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    MUNGED_STARTED=yes
fi
munge -n | unmunge >/dev/null || fail "munge does not work"

slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case $state in idle*|mix*) break ;; esac
    sleep 1
done
case ${state:-} in idle*|mix*) echo "slurm: node $HOST is $state ($CPUS CPUs)" ;;
    *) fail "the node did not come up (state: ${state:-none})" ;; esac

# the input (impart's own phantom) and the single-process references
DATA=$WORK/data
"$IMPART_BIN" demo --size "$SIZE" --cell 16 --dir "$DATA" >/dev/null
GRID=(--shape "$SIZE,$SIZE,$SIZE" --dtype u16 --cell "$CELL" --stride 0.5)
INPUT=$DATA/shepp_logan_$SIZE.u16.raw
FRAGMENT=(fragment "$INPUT" "${GRID[@]}" --format "$FORMAT" --quiet)
STITCH=(stitch "$INPUT" "${GRID[@]}" --synthetic 3 --chunks "$CHUNKS" --quiet)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
t=$(now)
"$IMPART_BIN" "${FRAGMENT[@]}" --out "$DATA/ref-cells" >/dev/null
ONE_FRAGMENT=$(since "$t")
t=$(now)
"$IMPART_BIN" "${STITCH[@]}" --out "$DATA/ref.zarr" --json > "$WORK/log/ref-stitch.json"
ONE_STITCH=$(since "$t")

# two job arrays: every task fragments its shard, then every task
# stitches its shard (all tasks of an array into one output)
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    echo 'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT on $(hostname -s)"'
    echo 'echo "started $(date +%s.%N)"'
    echo "${IMPART_BIN@Q} ${FRAGMENT[*]@Q} --out ${DATA@Q}/slurm-cells --shard auto"
    echo 'echo "ended $(date +%s.%N)"'
} > "$WORK/fragment.sh"
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    echo 'echo "started $(date +%s.%N)"'
    echo "${IMPART_BIN@Q} ${STITCH[*]@Q} --out ${DATA@Q}/slurm.zarr --shard auto --json"
    echo 'echo "ended $(date +%s.%N)"'
} > "$WORK/stitch.sh"
chmod +x "$WORK/fragment.sh" "$WORK/stitch.sh"
submit() {
    local what=$1
    echo "sbatch --array=0-$((SHARDS - 1)) --wait $what.sh"
    sbatch --array=0-$((SHARDS - 1)) --wait --chdir="$WORK" --cpus-per-task=1 \
        --output="$WORK/log/$what-%a.out" --error="$WORK/log/$what-%a.out" \
        "$WORK/$what.sh" >/dev/null || { cat "$WORK"/log/"$what"-*.out >&2; fail "the $what array failed"; }
}
t=$(now)
submit fragment
ARRAY_FRAGMENT=$(since "$t")
t=$(now)
submit stitch
ARRAY_STITCH=$(since "$t")
for f in "$WORK"/log/fragment-*.out; do head -1 "$f"; done
"$IMPART_BIN" merge "$DATA/slurm-cells"
"$IMPART_BIN" merge "$DATA/slurm.zarr"
diff -r "$DATA/ref-cells" "$DATA/slurm-cells" || fail "slurm fragment differs from one process"
echo "slurm: fragment of $SHARDS shards identical to one process"
diff -r "$DATA/ref.zarr" "$DATA/slurm.zarr" || fail "slurm stitch differs from one process"
echo "slurm: stitch of $SHARDS shards identical to one process"
CELLS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cells"])' "$WORK/log/ref-stitch.json")
ADDED=$(grep -h '^{' "$WORK"/log/stitch-*.out | python3 -c 'import json,sys; print(sum(json.loads(l)["cells_added"] for l in sys.stdin if l.startswith("{")))')
# the tasks' own span (first start to last end): sbatch --wait polls the
# job's state every few seconds, so its return says little about the work
span() { cat "$WORK"/log/"$1"-*.out | awk '/^started/ {if (!a || $2 < a) a = $2} /^ended/ {if ($2 > b) b = $2} END {printf "%.2f", b - a}'; }
printf '{"size": %s, "cell": "%s", "chunks": "%s", "shards": %s, "one_process_fragment_s": %s, "array_fragment_tasks_s": %s, "array_fragment_sbatch_s": %s, "one_process_stitch_s": %s, "array_stitch_tasks_s": %s, "array_stitch_sbatch_s": %s, "stitch_cells": %s, "stitch_cells_computed": %s}\n' \
    "$SIZE" "$CELL" "$CHUNKS" "$SHARDS" "$ONE_FRAGMENT" "$(span fragment)" "$ARRAY_FRAGMENT" "$ONE_STITCH" "$(span stitch)" "$ARRAY_STITCH" "$CELLS" "$ADDED"

# a Kubernetes Indexed Job: the kubelet sets JOB_COMPLETION_INDEX per pod
for k in $(seq 0 $((SHARDS - 1))); do
    (
        unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX
        export JOB_COMPLETION_INDEX=$k IMPART_SHARDS=$SHARDS
        "$IMPART_BIN" "${FRAGMENT[@]}" --out "$DATA/k8s-cells" --shard auto >/dev/null
        "$IMPART_BIN" "${STITCH[@]}" --out "$DATA/k8s.zarr" --shard auto >/dev/null
    ) &
done
wait
"$IMPART_BIN" merge "$DATA/k8s-cells" >/dev/null
"$IMPART_BIN" merge "$DATA/k8s.zarr" >/dev/null
diff -r "$DATA/ref-cells" "$DATA/k8s-cells" || fail "indexed-job fragment differs"
diff -r "$DATA/ref.zarr" "$DATA/k8s.zarr" || fail "indexed-job stitch differs"
echo "kubernetes (JOB_COMPLETION_INDEX): fragment and stitch of $SHARDS shards identical to one process"
