#!/usr/bin/env bash
# Server instructions per request for one workload, counted by valgrind's callgrind: repeatable
# for the same binary and workload whatever else the machine runs, so a small change to the
# request path can be A/B'd where CPU time per request is lost in noise. A fresh `cairn serve`
# (threads backend: valgrind does not model io_uring) runs under callgrind; the counters are
# zeroed after the prefill and a warm-up, then a fixed number of requests (open loop, RATE per
# second for SECONDS) is counted.
#
#   bench/scripts/instructions-per-request.sh WORKLOAD SIZE [REQUESTS] [OUT_DIR]
#
# Prints instructions per request and leaves callgrind.out in OUT_DIR for callgrind_annotate.
# Uses the release binaries (CAIRN_BIN names another `cairn`); needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=$1 size=$2 requests=${3:-2000} out=${4:-target/instructions}
rate=200 concurrency=8
mkdir -p "$out"
rm -f "$out"/callgrind.out*
keys=200
wrap=(valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out")
# valgrind does not model io_uring: the threads backend.
export CAIRN_IO=threads
. bench/scripts/serve.sh 26000
bench --rate "$rate" --duration 2s --warmup 0s > /dev/null
callgrind_control -z "$server" > /dev/null 2>&1
seconds=$(( (requests + rate - 1) / rate ))
bench --rate "$rate" --duration "${seconds}s" --warmup 0s --no-prefill > "$data/run.txt"
callgrind_control -d "$server" > /dev/null 2>&1
sleep 1
ops=$(python3 -c "import json; r=json.load(open('$data/out/result.json')); print(r['operations'] if 'operations' in r else r['total']['count'])")
dump=$(ls -t "$out"/callgrind.out* | head -1)
total=$(callgrind_annotate "$dump" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
python3 -c "print(f'$workload $size: $ops requests, {int($total) / max($ops, 1):,.0f} server instructions/request')"
