#!/usr/bin/env bash
# The scenario with rclone (Debian's; see README.md).
set -euo pipefail
: "${CAIRN_TEST_ENDPOINT:?} ${CAIRN_TEST_BUCKET:?} ${CAIRN_TEST_BIG:?} ${CAIRN_TEST_SCRATCH:?}"
bucket=$CAIRN_TEST_BUCKET scratch=$CAIRN_TEST_SCRATCH
export RCLONE_CONFIG="$scratch/rclone.conf"
: > "$RCLONE_CONFIG"
export RCLONE_CONFIG_CAIRN_TYPE=s3 RCLONE_CONFIG_CAIRN_PROVIDER=Other
export RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_CAIRN_ENDPOINT=$CAIRN_TEST_ENDPOINT RCLONE_CONFIG_CAIRN_REGION=us-east-1
export RCLONE_CONFIG_CAIRN_FORCE_PATH_STYLE=true
# rclone reads a CA bundle from the environment, and cannot use one on its transport.
unset AWS_CA_BUNDLE
rc() { rclone --retries 1 --low-level-retries 1 "$@"; }

rc mkdir "cairn:$bucket"
rc lsd cairn: | grep " $bucket$" > /dev/null
rc copyto --s3-upload-cutoff 8M --s3-chunk-size 8M "$CAIRN_TEST_BIG" "cairn:$bucket/big/file.bin"
rc copyto "cairn:$bucket/big/file.bin" "$scratch/back.bin"
cmp "$CAIRN_TEST_BIG" "$scratch/back.bin"
rc check --download "$CAIRN_TEST_BIG" "cairn:$bucket/big/file.bin" 2> /dev/null \
    || rc cat "cairn:$bucket/big/file.bin" | cmp - "$CAIRN_TEST_BIG"
echo one > "$scratch/one.txt"
rc copyto "$scratch/one.txt" "cairn:$bucket/small/one.txt"
test "$(rc lsf "cairn:$bucket/small/")" = one.txt
test "$(rc lsf "cairn:$bucket")" = "$(printf 'big/\nsmall/')"

url=$(rc link --expire 5m "cairn:$bucket/small/one.txt")
curl -sf "$url" -o "$scratch/presigned.txt"
cmp "$scratch/one.txt" "$scratch/presigned.txt"

rc backend versioning "cairn:$bucket" Enabled | grep Enabled > /dev/null
echo two > "$scratch/two.txt"
rc copyto "$scratch/two.txt" "cairn:$bucket/small/one.txt"
sleep 1.1
before=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
sleep 1.1
rc deletefile "cairn:$bucket/small/one.txt"
test -z "$(rc lsf "cairn:$bucket/small/")"
test "$(rc lsf --s3-versions "cairn:$bucket/small/" | wc -l)" = 2
# The bucket as it was before the delete (rclone 1.60 reads old versions by listing).
rc copy --s3-version-at "$before" "cairn:$bucket/small/" "$scratch/restored/"
cmp "$scratch/two.txt" "$scratch/restored/one.txt"
rc copyto "$scratch/restored/one.txt" "cairn:$bucket/small/one.txt"
rc cat "cairn:$bucket/small/one.txt" | cmp - "$scratch/two.txt"

rc purge "cairn:$bucket/big"
rc purge "cairn:$bucket/small"
rc backend cleanup-hidden "cairn:$bucket"
rc rmdir "cairn:$bucket"
if rc lsd cairn: | grep " $bucket$" > /dev/null; then echo "unexpectedly listed: rc lsd cairn: | grep  $bucket$" >&2; exit 1; fi
echo "rclone: scenario passed"
