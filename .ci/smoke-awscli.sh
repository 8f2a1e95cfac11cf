#!/usr/bin/env bash
# Smoke test: the AWS CLI against `cairn serve` on 127.0.0.1. Bounded: every call has a timeout
# and the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v aws >/dev/null || python3 -m pip install --quiet awscli
cargo build --locked -p cairn-server --bin cairn

work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
web=$((port + 1))
export AWS_ACCESS_KEY_ID=SMOKEROOT AWS_SECRET_ACCESS_KEY=smoke-secret-key AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
target/debug/cairn serve --address "127.0.0.1:$port" --data-dir "$work/data" \
  --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
  --website-address "127.0.0.1:$web" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

s3() { timeout 60 aws --endpoint-url "http://127.0.0.1:$port" s3 "$@"; }
api() { timeout 60 aws --endpoint-url "http://127.0.0.1:$port" s3api "$@"; }

head -c 12000000 /dev/urandom > "$work/big.bin"
echo "hello cairn" > "$work/small.txt"
s3 mb s3://smoke-bucket
s3 cp --no-progress "$work/small.txt" s3://smoke-bucket/dir/small.txt
s3 cp --no-progress "$work/big.bin" s3://smoke-bucket/big.bin            # multipart (8 MiB parts)
s3 ls s3://smoke-bucket --recursive | grep -q "dir/small.txt"
s3 cp --no-progress s3://smoke-bucket/big.bin "$work/big.back"
cmp "$work/big.bin" "$work/big.back"
api put-bucket-versioning --bucket smoke-bucket --versioning-configuration Status=Enabled
api get-bucket-versioning --bucket smoke-bucket | grep -q Enabled
echo one | s3 cp --no-progress - s3://smoke-bucket/v.txt
echo two | s3 cp --no-progress - s3://smoke-bucket/v.txt
test "$(api list-object-versions --bucket smoke-bucket --prefix v.txt --query 'length(Versions)')" = 2
s3 rm s3://smoke-bucket --recursive
api list-object-versions --bucket smoke-bucket --output json \
  | python3 -c 'import json, sys; d = json.load(sys.stdin); [print(v["Key"], v["VersionId"]) for v in d.get("Versions", []) + d.get("DeleteMarkers", [])]' \
  | while read -r key version; do api delete-object --bucket smoke-bucket --key "$key" --version-id "$version" > /dev/null; done
s3 rb s3://smoke-bucket
s3 ls | { ! grep -q smoke-bucket; }

# The README's "Host a site from a bucket", then a browser form from `cairn presign-post`.
mkdir -p "$work/public/docs"
echo "<h1>Home</h1>" > "$work/public/index.html"
echo "<h1>Docs</h1>" > "$work/public/docs/index.html"
echo "<h1>Not here</h1>" > "$work/public/404.html"
s3 mb s3://site
s3 cp --no-progress "$work/public" s3://site/ --recursive
api delete-public-access-block --bucket site
api put-bucket-policy --bucket site --policy \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}'
s3 website s3://site --index-document index.html --error-document 404.html
page() { timeout 10 curl -s -o "$work/page" -w '%{http_code}' -H "Host: site.s3-website.localhost:$web" "http://127.0.0.1:$web$1"; }
test "$(page /)" = 200 && grep -q Home "$work/page"
test "$(page /docs/)" = 200 && grep -q Docs "$work/page"
test "$(page /docs)" = 302
test "$(page /missing.html)" = 404 && grep -q "Not here" "$work/page"
timeout 10 target/debug/cairn presign-post --endpoint "http://127.0.0.1:$port" --bucket site \
  --key 'uploads/${filename}' --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
  --content-length-range 1,1024 > "$work/form.json"
fields=$(python3 -c 'import json, sys; [print(f"-F\n{k}={v}") for k, v in json.load(open(sys.argv[1]))["fields"].items()]' "$work/form.json")
mapfile -t args <<< "$fields"
test "$(timeout 10 curl -s -o /dev/null -w '%{http_code}' "${args[@]}" -F "file=@$work/public/404.html" "http://127.0.0.1:$port/site")" = 204
s3 cp --no-progress s3://site/uploads/404.html "$work/uploaded.html"
cmp "$work/public/404.html" "$work/uploaded.html"
s3 rb s3://site --force
echo "awscli smoke: 2 passed, 0 failed"
