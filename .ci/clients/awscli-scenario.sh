#!/usr/bin/env bash
# The scenario with the AWS CLI, `aws s3` and `aws s3api` (see README.md).
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${CAIRN_TEST_ENDPOINT:?} ${CAIRN_TEST_BUCKET:?} ${CAIRN_TEST_BIG:?} ${CAIRN_TEST_SCRATCH:?}"
bucket=$CAIRN_TEST_BUCKET scratch=$CAIRN_TEST_SCRATCH
# `aws s3 presign` signs with Signature Version 2 unless told otherwise; Cairn takes only 4.
printf '[default]\ns3 =\n    signature_version = s3v4\n' > "$scratch/config"
export AWS_CONFIG_FILE="$scratch/config"
s3() { aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3 "$@"; }
api() { aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3api "$@"; }

s3 mb "s3://$bucket"
# 100 MiB: multipart in 8 MiB parts, with CRC checksums.
s3 cp --no-progress "$CAIRN_TEST_BIG" "s3://$bucket/big/file.bin"
s3 cp --no-progress "s3://$bucket/big/file.bin" "$scratch/back.bin"
cmp "$CAIRN_TEST_BIG" "$scratch/back.bin"
test "$(api head-object --bucket "$bucket" --key big/file.bin --query ContentLength)" = "$(stat -c %s "$CAIRN_TEST_BIG")"
api head-object --bucket "$bucket" --key big/file.bin --query ETag --output text | grep -- '-13"$' > /dev/null

echo one > "$scratch/one.txt"
s3 cp --no-progress "$scratch/one.txt" "s3://$bucket/small/one.txt"
test "$(s3 ls "s3://$bucket/small/" | awk '{print $4}')" = one.txt
test "$(api list-objects-v2 --bucket "$bucket" --prefix big/ --query 'length(Contents)')" = 1

url=$(s3 presign "s3://$bucket/small/one.txt" --expires-in 300)
curl -sf "$url" -o "$scratch/presigned.txt"
cmp "$scratch/one.txt" "$scratch/presigned.txt"

api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
echo two > "$scratch/two.txt"
s3 cp --no-progress "$scratch/two.txt" "s3://$bucket/small/one.txt"
s3 rm "s3://$bucket/small/one.txt"
if api head-object --bucket "$bucket" --key small/one.txt 2> /dev/null; then echo "unexpectedly succeeded: api head-object --bucket $bucket --key small/one.txt" >&2; exit 1; fi
marker=$(api list-object-versions --bucket "$bucket" --prefix small/one.txt \
    --query 'DeleteMarkers[?IsLatest].VersionId' --output text)
api delete-object --bucket "$bucket" --key small/one.txt --version-id "$marker" > /dev/null
s3 cp --no-progress "s3://$bucket/small/one.txt" "$scratch/restored.txt"
cmp "$scratch/two.txt" "$scratch/restored.txt"
test "$(api list-object-versions --bucket "$bucket" --prefix small/one.txt --query 'length(Versions)')" = 2

delete_every_version "$bucket"
s3 rb "s3://$bucket"
if s3 ls | grep "$bucket" > /dev/null; then echo "unexpectedly listed: s3 ls | grep $bucket" >&2; exit 1; fi
echo "awscli: scenario passed"
