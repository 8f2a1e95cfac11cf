#!/usr/bin/env bash
# Compaction under overwrite churn: the disk's ceilings (fio), then `cairn-bench churn` twice on
# fresh stores, release builds: first with compaction held off (`--space-amplification-target
# 100`: it never triggers), then with the defaults, drawn and compared against the first. The
# churn prefills LIVE bytes of objects (SIZE each, uniform) and overwrites random keys until
# WRITTEN more went in, sampling the store's disk usage every second.
#
#   bench/scripts/churn.sh [OUT_DIR] [LIVE] [WRITTEN] [SIZE]
#
# Defaults: target/bench-churn, 4GiB, 20GiB, 4KiB..1MiB (the run without compaction needs
# LIVE + WRITTEN of free disk; OFF_WRITTEN sets its own, smaller, amount). NO_DISK=1 skips fio;
# RUNS="on" runs only that one (against an earlier off/result.json); CAIRN_ARGS adds `cairn
# serve` arguments to both runs. Results land in OUT_DIR/{off,on}/ (result.json, amplification.svg) and OUT_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/bench-churn}
live=${2:-4GiB}
written=${3:-20GiB}
size=${4:-4KiB..1MiB}
cargo build --release --locked -p cairn-server -p cairn-bench
mkdir -p "$out"
if [ -z "${NO_DISK:-}" ]; then
    disk=$(mktemp -d -p "${TMPDIR:-/tmp}")
    target/release/cairn-bench disk --dir "$disk" --size 1GiB --runtime 5s --json "$out/disk.json" | tee "$out/disk.txt"
    rm -rf "$disk"
fi

# churn NAME [cairn serve arguments...]
churn() {
    local name=$1; shift
    if [ -n "${RUNS:-}" ] && [[ " $RUNS " != *" $name "* ]]; then return; fi
    local written=$written
    if [ "$name" = off ]; then written=${OFF_WRITTEN:-$written}; fi
    local data port server
    data=$(mktemp -d -p "${TMPDIR:-/tmp}")
    port=$((19000 + RANDOM % 1000))
    # shellcheck disable=SC2086
    CAIRN_LOG=${CAIRN_LOG:-warn} target/release/cairn serve --data-dir "$data" --address "127.0.0.1:$port" "$@" ${CAIRN_ARGS:-} \
        > "$out/$name.server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        [ -f "$data/credentials" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    mkdir -p "$out/$name"
    local baseline=()
    if [ "$name" = on ]; then baseline=(--baseline "$out/off/result.json"); fi
    target/release/cairn-bench churn --endpoint "http://127.0.0.1:$port" --credentials "$data/credentials" \
        --data-dir "$data" --live "$live" --written "$written" --size "$size" --concurrency 8 --quiet \
        --label "compaction $name" --out "$out/$name" "${baseline[@]}" | tee -a "$out/summary.txt"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

[ -n "${RUNS:-}" ] || : > "$out/summary.txt"
churn off --space-amplification-target 100
churn on
