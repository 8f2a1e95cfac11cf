#!/usr/bin/env bash
# The scenario with s3cmd (Debian's), where s3cmd can (see README.md): it signs presigned URLs
# only with Signature Version 2, which Cairn refuses, and has no versioning commands; the
# versioned steps are the AWS CLI's.
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${CAIRN_TEST_ENDPOINT:?} ${CAIRN_TEST_BUCKET:?} ${CAIRN_TEST_BIG:?} ${CAIRN_TEST_SCRATCH:?}"
bucket=$CAIRN_TEST_BUCKET scratch=$CAIRN_TEST_SCRATCH
host=${CAIRN_TEST_ENDPOINT#http://}
cat > "$scratch/s3cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $host
host_bucket = $host
bucket_location = us-east-1
use_https = False
signature_v2 = False
multipart_chunk_size_mb = 8
CFG
s3c() { s3cmd --config "$scratch/s3cfg" --no-progress "$@"; }
api() { aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3api "$@"; }

s3c mb "s3://$bucket"
s3c put "$CAIRN_TEST_BIG" "s3://$bucket/big/file.bin"
s3c get "s3://$bucket/big/file.bin" "$scratch/back.bin"
cmp "$CAIRN_TEST_BIG" "$scratch/back.bin"
api head-object --bucket "$bucket" --key big/file.bin --query ETag --output text | grep -- '-13"$' > /dev/null
echo one > "$scratch/one.txt"
s3c put "$scratch/one.txt" "s3://$bucket/small/one.txt"
s3c ls "s3://$bucket/small/" | grep "s3://$bucket/small/one.txt" > /dev/null
test "$(s3c ls "s3://$bucket/small/" | wc -l)" = 1
s3c info "s3://$bucket/small/one.txt" | grep "File size: *4" > /dev/null

# Versioned delete and restore: s3cmd deletes, the AWS CLI does what s3cmd cannot.
api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
s3c del "s3://$bucket/small/one.txt"
if s3c get "s3://$bucket/small/one.txt" "$scratch/gone.txt" 2> /dev/null; then echo "unexpectedly succeeded: s3c get s3://$bucket/small/one.txt $scratch/gone.txt" >&2; exit 1; fi
marker=$(api list-object-versions --bucket "$bucket" --prefix small/one.txt \
    --query 'DeleteMarkers[?IsLatest].VersionId' --output text)
api delete-object --bucket "$bucket" --key small/one.txt --version-id "$marker" > /dev/null
s3c get "s3://$bucket/small/one.txt" "$scratch/restored.txt"
cmp "$scratch/one.txt" "$scratch/restored.txt"

s3c del --recursive --force "s3://$bucket"
delete_every_version "$bucket"
s3c rb "s3://$bucket"
if s3c ls | grep "s3://$bucket" > /dev/null; then echo "unexpectedly listed: s3c ls | grep s3://$bucket" >&2; exit 1; fi
echo "s3cmd: scenario passed"
