#!/usr/bin/env bash
# The issue's benchmark rows: Cairn (`cairn serve`, durable, default settings) against the
# built-in HTTP ceiling, 8 clients, compare mode (A B A B), release builds.
#
#   bench/scripts/targets.sh [OUT_DIR] [DURATION] [ROUNDS]
#
# ROWS="put-4k get-4k" runs only those rows.
# Each row starts a fresh store in a temporary directory and removes it afterwards. Results,
# plots and reports land in OUT_DIR/<row>/ (default target/bench-targets).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/bench-targets}
duration=${2:-5s}
rounds=${3:-3}
cargo build --release --locked -p cairn-server -p cairn-bench
mkdir -p "$out"

row() {
    local name=$1; shift
    if [ -n "${ROWS:-}" ] && [[ " $ROWS " != *" $name "* ]]; then return; fi
    local data port server
    data=$(mktemp -d)
    port=$((19000 + RANDOM % 1000))
    CAIRN_LOG=warn target/release/cairn serve --data-dir "$data" --address "127.0.0.1:$port" > "$data/server.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do
        [ -f "$data/credentials" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    echo "== $name"
    target/release/cairn-bench compare --endpoint "http://127.0.0.1:$port" --credentials "$data/credentials" \
        --a-label cairn --concurrency 8 --duration "$duration" --warmup 1s --rounds "$rounds" --quiet \
        --out "$out/$name" "$@" | tee "$out/$name/summary.txt" || true
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

mkdir -p "$out"/{put-4k,get-4k,put-1m,get-1m,put-64m}
row put-4k --workload put --size 4KiB --keys 10000
row get-4k --workload get --size 4KiB --keys 10000
row put-1m --workload put --size 1MiB --keys 1000
row get-1m --workload get --size 1MiB --keys 1000
row put-64m --workload put --size 64MiB --keys 16
