#!/usr/bin/env bash
# Server CPU time per request (user + system, from /proc/<pid>/stat) for one workload: a fresh
# `cairn serve`, a prefill, then a measured `cairn-bench run`; CPU is read just before and just
# after the measured run, so prefill and warm-up are not counted. Less sensitive to a shared
# machine's noise than throughput ratios: a request costs the CPU it costs whoever else runs.
# Also prints context switches per request and the CPU split by thread name (async workers, log
# writer, segment preparer, io_uring's kernel workers).
#
#   bench/scripts/cpu-per-request.sh WORKLOAD SIZE [DURATION] [CONCURRENCY]
#
# Uses the release binaries as they are (build them first: cargo build --release -p cairn-server
# -p cairn-bench); CAIRN_BIN names another `cairn` binary to measure (an A/B of two builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=$1 size=$2 duration=${3:-10s} concurrency=${4:-8}
. bench/scripts/serve.sh 20000
# Prefill (reads need their keys) and warm up, unmeasured.
bench --duration 2s --warmup 0s > /dev/null
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# Context switches of the server's threads (voluntary and not), summed: every hand-off between
# threads shows up here. Threads that end during the run take theirs with them.
switches() { cat /proc/"$server"/task/*/status 2> /dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
# CPU ticks by thread name (io_uring's workers, iou-wrk-<tid>, as one name), to see where a
# request's CPU goes: the async workers, the log writer, the kernel's io_uring workers.
threads() {
    for task in /proc/"$server"/task/*; do
        name=$(cat "$task/comm" 2> /dev/null) || continue
        stat=$(cat "$task/stat" 2> /dev/null) || continue
        echo "${name%%-[0-9]*} $(echo "${stat##*) }" | awk '{print $12 + $13}')"
    done
}
before=$(ticks) switches_before=$(switches) threads_before=$(threads)
bench --duration "$duration" --warmup 0s --no-prefill > "$data/run.txt"
after=$(ticks) switches_after=$(switches) threads_after=$(threads)
ops=$(python3 -c "import json,sys; r=json.load(open('$data/out/result.json')); print(r['operations'] if 'operations' in r else r['total']['count'])" 2>/dev/null || echo 0)
hz=$(getconf CLK_TCK)
THREADS_BEFORE=$threads_before THREADS_AFTER=$threads_after \
python3 - "$before" "$after" "$hz" "$ops" "$workload" "$size" "$switches_before" "$switches_after" <<'PY'
import os, sys
before, after, hz, ops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
switches = int(sys.argv[8]) - int(sys.argv[7])
cpu = (after - before) / hz
print(f"{sys.argv[5]} {sys.argv[6]}: {ops} requests, server CPU {cpu:.2f} s, {1e6 * cpu / max(ops, 1):.1f} us/request,"
      f" {switches / max(ops, 1):.2f} context switches/request")
def by_name(text):
    totals = {}
    for line in text.splitlines():
        name, ticks = line.rsplit(" ", 1)
        totals[name] = totals.get(name, 0) + int(ticks)
    return totals
first, last = by_name(os.environ["THREADS_BEFORE"]), by_name(os.environ["THREADS_AFTER"])
# Threads that ended during the run are missing from `last`; their CPU is in the total above.
shares = sorted(((last[n] - first.get(n, 0), n) for n in last), reverse=True)
print("  by thread: " + ", ".join(f"{n} {1e6 * t / hz / max(ops, 1):.1f} us" for t, n in shares if t > 0))
PY
