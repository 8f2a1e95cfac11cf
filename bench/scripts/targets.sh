#!/usr/bin/env bash
# The request-path targets in one command: the disk's ceilings (fio, through `cairn-bench disk`),
# then each row as Cairn (`cairn serve`, durable, default settings) against the built-in HTTP
# ceiling in compare mode (A B A B), release builds, and a table of fractions at the end: of the
# HTTP ceiling, and for large PUTs of the disk's synced sequential write rate.
#
#   bench/scripts/targets.sh [OUT_DIR] [DURATION] [ROUNDS]
#
# ROWS="put-4k get-4k" runs only those rows; CAIRN_BIN names another `cairn` binary (an A/B of
# two builds); NO_DISK=1 skips fio. Each row starts a fresh store in a temporary directory and
# removes it afterwards. Results, plots and reports land in OUT_DIR/<row>/ (default
# target/bench-targets), the disk's in OUT_DIR/disk.json, the table in OUT_DIR/fractions.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/bench-targets}
duration=${2:-5s}
rounds=${3:-3}
cairn=${CAIRN_BIN:-target/release/cairn}
cargo build --release --locked -p cairn-server -p cairn-bench
mkdir -p "$out"

if [ -z "${NO_DISK:-}" ]; then
    disk=$(mktemp -d)
    target/release/cairn-bench disk --dir "$disk" --size 1GiB --runtime 5s --json "$out/disk.json" | tee "$out/disk.txt"
    rm -rf "$disk"
fi

# row NAME CONCURRENCY cairn-bench-arguments...
row() {
    local name=$1 concurrency=$2; shift 2
    if [ -n "${ROWS:-}" ] && [[ " $ROWS " != *" $name "* ]]; then return; fi
    local data port server
    data=$(mktemp -d)
    port=$((19000 + RANDOM % 1000))
    CAIRN_LOG=warn "$cairn" serve --data-dir "$data" --address "127.0.0.1:$port" > "$data/server.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do
        [ -f "$data/credentials" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    echo "== $name"
    mkdir -p "$out/$name"
    target/release/cairn-bench compare --endpoint "http://127.0.0.1:$port" --credentials "$data/credentials" \
        --a-label cairn --concurrency "$concurrency" --duration "$duration" --warmup 1s --rounds "$rounds" --quiet \
        --out "$out/$name" "$@" | tee "$out/$name/summary.txt" || true
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$data"
}

row put-4k 8 --workload put --size 4KiB --keys 10000
row put-4k-64 64 --workload put --size 4KiB --keys 10000
row get-4k 8 --workload get --size 4KiB --keys 10000
row put-1m 8 --workload put --size 1MiB --keys 1000
row get-1m 8 --workload get --size 1MiB --keys 1000
row put-64m-mp 8 --workload multipart --size 64MiB --part-size 8MiB --keys 16

python3 - "$out" <<'PY' | tee "$out/fractions.txt"
import json, os, re, statistics, sys
out = sys.argv[1]
disk = {}
if os.path.exists(f"{out}/disk.json"):
    disk = {d["name"]: d for d in json.load(open(f"{out}/disk.json"))}
sync = disk.get("sync-1m", {}).get("mib_per_s")
# row: (target fraction of the HTTP ceiling, fraction of fio's synced 1 MiB writes or None)
targets = {"put-4k": (0.5, None), "put-4k-64": (0.5, None), "get-4k": (0.85, None),
           "put-1m": (0.6, 0.8), "get-1m": (0.9, None), "put-64m-mp": (0.6, 0.8)}
rounds = re.compile(r"round \d+: (\S+) / (\S+) ops/s = (\S+)\s+\((\S+) / (\S+) MiB/s")
print(f"{'row':<11} {'cairn MiB/s':>11} {'ceiling':>9} {'of ceiling':>10} {'of fio sync':>11}  target  met")
for row, (of_ceiling, of_disk) in targets.items():
    path = f"{out}/{row}/summary.txt"
    if not os.path.exists(path):
        continue
    found = rounds.findall(open(path).read())
    if not found:
        print(f"{row:<11} (no result)")
        continue
    cairn = statistics.median(float(r[3]) for r in found)
    ceiling = statistics.median(float(r[4]) for r in found)
    ratio = statistics.median(float(r[2]) for r in found)
    disk_ratio = cairn / sync if sync and of_disk else None
    # Large PUTs: the lower of the two bars ("whichever is lower" in issue 10).
    bar = of_ceiling * ceiling
    if of_disk and sync:
        bar = min(bar, of_disk * sync)
    target = f"{of_ceiling:.2f}" + (f" / {of_disk:.1f} fio" if of_disk else "")
    shown = f"{disk_ratio:.2f}" if disk_ratio is not None else "-"
    print(f"{row:<11} {cairn:>11.1f} {ceiling:>9.1f} {ratio:>10.2f} {shown:>11}  {target}  {'yes' if cairn >= bar else 'no'}")
if sync:
    print(f"fio sync-1m {sync:.1f} MiB/s, direct-1m {disk['direct-1m']['mib_per_s']:.1f} MiB/s, "
          f"sync-4k {disk['sync-4k']['iops']:.0f} IOPS")
PY
