#!/usr/bin/env bash
# What publishing events costs a PUT: a fresh `cairn serve` (release build) with one webhook
# destination (a threaded Python receiver on 127.0.0.1 that answers 200) takes the same closed-loop
# PUT load twice, into a bucket without a notification configuration and into one whose every
# PUT publishes ObjectCreated:Put. Prints both runs' throughput and latency, then how long the
# receiver took to get every event (the delivery backlog draining).
#
#   bench/scripts/notifications.sh [SIZE] [CONCURRENCY] [SECONDS] [OUT_DIR]
#
# Needs python3 with boto3 (to set the configuration).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-4KiB} concurrency=${2:-16} seconds=${3:-10} out=${4:-target/notifications}
mkdir -p "$out"
hook_port=$((29000 + RANDOM % 1000))
python3 - "$hook_port" "$out/received.txt" <<'EOF' &
import sys, threading, http.server
count, lock = [0], threading.Lock()
class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            count[0] += 1
            open(sys.argv[2], "w").write(f"{count[0]}\n")
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF
hook=$!
export CAIRN_NOTIFICATION_TARGETS="arn:aws:sqs:us-east-1:123456789012:bench=http://127.0.0.1:$hook_port/events"
workload=put
. bench/scripts/serve.sh 30000
trap 'kill $server $hook 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
endpoint="http://127.0.0.1:$port"
run() {
    bench --bucket "$1" --duration "${seconds}s" --warmup 2s > "$out/$1.txt"
    rm -rf "${out:?}/$1" && cp -r "$data/out" "$out/$1"
}
run quiet
python3 - "$endpoint" "$data/credentials" <<'EOF'
import sys, boto3, tomllib
creds = tomllib.load(open(sys.argv[2], "rb"))
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
s3.create_bucket(Bucket="publishing")
s3.put_bucket_notification_configuration(Bucket="publishing", NotificationConfiguration={"QueueConfigurations": [
    {"Id": "puts", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:bench", "Events": ["s3:ObjectCreated:*"]}]})
EOF
started=$(date +%s.%N)
run publishing
ended=$(date +%s.%N)
expected=$(python3 -c "import json; print(json.load(open('$out/publishing/result.json'))['total']['count'])")
for _ in $(seq 1200); do
    got=$(cat "$out/received.txt" 2>/dev/null || true)
    got=${got:-0}
    [ "$got" -ge "$expected" ] && break
    sleep 0.1
done
python3 - "$out" "$started" "$ended" "$(date +%s.%N)" "$got" <<'EOF'
import json, sys
out, started, ended, drained, got = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5])
for name in ["quiet", "publishing"]:
    t = json.load(open(f"{out}/{name}/result.json"))["total"]
    l = t["latency_us"]
    print(f"{name:>10}: {t['ops_per_s']:,.0f} PUT/s, {t['errors']} errors, latency us p50 {l['p50']} p99 {l['p99']} max {l['max']}")
print(f"events received: {got} (the test event included); the last {drained - ended:.1f} s after the load ended")
EOF
