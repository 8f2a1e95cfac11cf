#!/usr/bin/env bash
# The client matrix: each common S3 client runs the same scenario against one `cairn serve` on
# 127.0.0.1 (see .ci/clients/README.md for what each covers). Installs what is missing (Debian's
# s3cmd, rclone and s3fs; the MinIO Python client from PyPI). Bounded: each client has a
# timeout, and the server is stopped on exit. Fails if any client fails.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=$( [ "$(id -u)" = 0 ] || echo sudo )
missing=()
for tool in s3cmd rclone s3fs; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" \
        || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi
command -v aws > /dev/null || python3 -m pip install --quiet awscli
python3 -c 'import boto3' 2> /dev/null || python3 -m pip install --quiet boto3
python3 -c 'import minio' 2> /dev/null || python3 -m pip install --quiet minio
cargo build --locked -p cairn-server --bin cairn

# Seconds one client's scenario may take.
CLIENT_SECONDS=${CLIENT_SECONDS:-600}
# The scenario's large file: 100 MiB, uploaded in parts.
BIG_MIB=100

work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export CAIRN_TEST_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=CLIENTSROOT AWS_SECRET_ACCESS_KEY=clients-secret-key AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
target/debug/cairn serve --address "127.0.0.1:$port" --data-dir "$work/data" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
    sleep 0.1
done
export CAIRN_TEST_BIG="$work/big.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom > "$CAIRN_TEST_BIG"

passed=() failed=()
# Every client, or those named on the command line.
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(awscli boto3 s3cmd rclone minio s3fs)
for client in "${clients[@]}"; do
    script=$(ls .ci/clients/"$client"-scenario.*)
    scratch="$work/$client"
    mkdir -p "$scratch"
    echo "== client: $client"
    runner=bash
    case $script in *.py) runner=python3 ;; esac
    if CAIRN_TEST_SCRATCH="$scratch" CAIRN_TEST_BUCKET="matrix-$client" \
        timeout "$CLIENT_SECONDS" "$runner" "$script"; then
        passed+=("$client")
    else
        failed+=("$client")
        echo "!! $client failed; the server's log:"
        grep -v " INFO " "$work/server.log" | tail -20
    fi
    rm -rf "$scratch"
done
echo "client matrix: ${#passed[@]} passed (${passed[*]}), ${#failed[@]} failed (${failed[*]:-none})"
[ ${#failed[@]} -eq 0 ]
