#!/usr/bin/env bash
# What replication costs a PUT, and how fast copies follow: a fresh `cairn serve` (release build)
# takes the same closed-loop PUT load twice, into a versioned bucket without a replication
# configuration (the ceiling in the same run) and into one whose every PUT is replicated to a
# second bucket of the same server (SRR). Prints both runs' throughput and latency, then how long
# the replication backlog took to drain after the load (read from the admin endpoint).
#
#   bench/scripts/replication.sh [SIZE] [CONCURRENCY] [SECONDS] [OUT_DIR]
#
# Needs python3 with boto3 (to set the configuration).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-4KiB} concurrency=${2:-16} seconds=${3:-10} out=${4:-target/replication}
mkdir -p "$out"
admin_port=$((31000 + RANDOM % 1000))
export CAIRN_ADMIN_ADDRESS="127.0.0.1:$admin_port"
workload=put
. bench/scripts/serve.sh 30000
endpoint="http://127.0.0.1:$port"
python3 - "$endpoint" "$data/credentials" <<'EOF'
import sys, boto3, tomllib
creds = tomllib.load(open(sys.argv[2], "rb"))
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
for bucket in ["quiet", "source", "replica"]:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
s3.put_bucket_replication(Bucket="source", ReplicationConfiguration={
    "Role": "arn:aws:iam::123456789012:role/bench",
    "Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
               "DeleteMarkerReplication": {"Status": "Disabled"},
               "Destination": {"Bucket": "arn:aws:s3:::replica"}}]})
EOF
run() {
    bench --bucket "$1" --duration "${seconds}s" --warmup 2s > "$out/$1.txt"
    rm -rf "${out:?}/$1" && cp -r "$data/out" "$out/$1"
}
report() {
    python3 -c "import json, urllib.request; print(json.dumps(json.load(urllib.request.urlopen('http://$CAIRN_ADMIN_ADDRESS/replication'))))"
}
run quiet
run source
ended=$(date +%s.%N)
report > "$out/at-end.json"
for _ in $(seq 3000); do
    report > "$out/report.json"
    python3 -c "import json, sys; sys.exit(0 if json.load(open('$out/report.json'))['backlog_entries'] == 0 else 1)" && break
    sleep 0.1
done
python3 - "$out" "$ended" "$(date +%s.%N)" <<'EOF'
import json, sys
out, ended, drained = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
runs = {}
for name in ["quiet", "source"]:
    t = json.load(open(f"{out}/{name}/result.json"))["total"]
    runs[name] = t
    l = t["latency_us"]
    print(f"{name:>7}: {t['ops_per_s']:,.0f} PUT/s, {t['errors']} errors, latency us p50 {l['p50']} p99 {l['p99']} max {l['max']}")
print(f"replicating / quiet PUT/s: {runs['source']['ops_per_s'] / runs['quiet']['ops_per_s']:.2f}")
at_end, final = json.load(open(f"{out}/at-end.json")), json.load(open(f"{out}/report.json"))
print(f"backlog when the load ended: {at_end['backlog_entries']} entries, lag {at_end['lag_seconds']:.1f} s; "
      f"drained {drained - ended:.1f} s later; {final['replicated']} copies, {final['failed']} failed")
EOF
