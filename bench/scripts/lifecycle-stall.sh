#!/usr/bin/env bash
# Whether expiring many objects stalls the foreground: a fresh `cairn serve` (release build) with
# one-second lifecycle days gets OBJECTS small objects in one bucket; then the same open-loop
# GET/PUT mix runs twice on another bucket, first with no lifecycle work and then while a rule
# expires every one of the OBJECTS. Prints both runs' latency percentiles and how long the
# expiration took (polled once a second).
#
#   bench/scripts/lifecycle-stall.sh [OBJECTS] [RATE] [SECONDS] [OUT_DIR]
#
# Needs python3 with boto3 (to put the rule and count what is left). SETTLE (default 30) is the
# pause after the fill; CAIRN_COMPACTION_BYTES_PER_SEC and other CAIRN_* settings reach the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
objects=${1:-1000000} rate=${2:-2000} seconds=${3:-30} out=${4:-target/lifecycle-stall}
mkdir -p "$out"
export CAIRN_LIFECYCLE_DAY_SECONDS=1
workload=get size=1KiB concurrency=64
. bench/scripts/serve.sh 28000
endpoint="http://127.0.0.1:$port"
echo "filling $objects objects ..."
start=$(date +%s)
keys=$objects bench --bucket expiring --duration 1s --warmup 0s > /dev/null
echo "filled in $(( $(date +%s) - start )) s"
# Let the fill's own upkeep (its checkpoint) finish before the idle run.
sleep "${SETTLE:-30}"
# The foreground: 80% GET, 20% PUT of 4 KiB objects, open loop.
foreground() {
    workload=get:80,put:20 size=4KiB concurrency=256 keys=1000 \
        bench --bucket foreground --rate "$rate" --duration "${seconds}s" --warmup 2s > /dev/null
    rm -rf "${out:?}/$1" && cp -r "$data/out" "$out/$1"
}
foreground idle
python3 - "$endpoint" "$data/credentials" <<'EOF'
import sys, boto3, tomllib
creds = tomllib.load(open(sys.argv[2], "rb"))
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": [
    {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
EOF
rule_at=$(date +%s.%N)
# Count down in the background while the foreground runs again.
python3 - "$endpoint" "$data/credentials" "$rule_at" "$out/expired.txt" <<'EOF' &
import sys, time, boto3, tomllib
creds = tomllib.load(open(sys.argv[2], "rb"))
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
for _ in range(3600):
    if s3.list_objects_v2(Bucket="expiring", MaxKeys=1).get("KeyCount", 0) == 0:
        open(sys.argv[4], "w").write(f"{time.time() - float(sys.argv[3]):.1f}\n")
        break
    time.sleep(1)
EOF
counter=$!
foreground expiring
wait $counter || true
python3 - "$out" "$objects" <<'EOF'
import json, sys
out, objects = sys.argv[1], sys.argv[2]
print(f"{'run':10} {'op':4} {'ops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7}")
for run in ["idle", "expiring"]:
    result = json.load(open(f"{out}/{run}/result.json"))
    for op, r in sorted(result["ops"].items()):
        l = r["latency_us"]
        print(f"{run:10} {op:4} {r['ops_per_s']:8.0f} {l['p50']/1000:7.2f} {l['p99']/1000:7.2f} {l['p999']/1000:8.2f} {l['max']/1000:7.2f}")
try:
    print(f"{objects} objects expired {open(f'{out}/expired.txt').read().strip()} s after the rule was put")
except FileNotFoundError:
    print(f"{objects} objects were not all expired when the count stopped")
EOF
