#!/usr/bin/env bash
# A CPU profile of `cairn serve` under one workload: a fresh store, a prefill, then `perf record`
# on the server while `cairn-bench run` drives it. Prints the top entries by self time (the
# kernel's included) and leaves perf.data in OUT_DIR for `perf report -i OUT_DIR/perf.data`.
#
#   bench/scripts/profile.sh WORKLOAD SIZE [DURATION] [CONCURRENCY] [OUT_DIR]
#
# Uses the release binaries as they are (build them first: cargo build --release -p cairn-server
# -p cairn-bench); CAIRN_BIN names another `cairn` binary. Needs perf (Debian's linux-perf).
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=$1 size=$2 duration=${3:-8s} concurrency=${4:-8} out=${5:-target/profile}
mkdir -p "$out"
. bench/scripts/serve.sh 21000
# Prefill (reads need their keys) and warm up, unmeasured.
bench --duration 2s --warmup 0s > /dev/null
seconds=${duration%s}
perf record -F 1999 -g -p "$server" -o "$out/perf.data" -- sleep "$seconds" 2> /dev/null &
recorder=$!
bench --duration "$duration" --warmup 0s --no-prefill | grep -E "ops/s|throughput" || true
wait "$recorder" || true
perf report -i "$out/perf.data" --no-children --sort symbol --stdio 2> /dev/null \
    | grep -E '^ +[0-9]+\.[0-9]+%' | head -"${TOP:-40}"
