#!/usr/bin/env bash
# The scenario with s3fs-fuse (Debian's), where a mounted file system can (see README.md): the
# bucket is made and removed, and the versioned steps done, by the AWS CLI; a file system has no
# presigned URLs. Skipped where the machine has no FUSE device.
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${CAIRN_TEST_ENDPOINT:?} ${CAIRN_TEST_BUCKET:?} ${CAIRN_TEST_BIG:?} ${CAIRN_TEST_SCRATCH:?}"
bucket=$CAIRN_TEST_BUCKET scratch=$CAIRN_TEST_SCRATCH
if [ ! -c /dev/fuse ]; then
    echo "s3fs: skipped, no /dev/fuse here"
    exit 0
fi
api() { aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3api "$@"; }
api create-bucket --bucket "$bucket" > /dev/null
echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" > "$scratch/passwd"
chmod 600 "$scratch/passwd"
mkdir "$scratch/mnt"
s3fs "$bucket" "$scratch/mnt" -o "url=$CAIRN_TEST_ENDPOINT" -o use_path_request_style \
    -o "passwd_file=$scratch/passwd" -o endpoint=us-east-1 -o sigv4 -o multipart_size=8 \
    -o "logfile=$scratch/s3fs.log" -o dbglevel=warn
trap 'fusermount3 -u "$scratch/mnt" 2> /dev/null || fusermount -u "$scratch/mnt" 2> /dev/null || umount "$scratch/mnt" 2> /dev/null || true' EXIT
for _ in $(seq 50); do mountpoint -q "$scratch/mnt" && break; sleep 0.1; done
mountpoint -q "$scratch/mnt"

mkdir -p "$scratch/mnt/big" "$scratch/mnt/small"
cp "$CAIRN_TEST_BIG" "$scratch/mnt/big/file.bin"
sync "$scratch/mnt/big/file.bin"
# Uploaded in parts (s3fs sizes its last parts itself).
api head-object --bucket "$bucket" --key big/file.bin --query ETag --output text | grep -E -- '-[0-9]+"$' > /dev/null
cmp "$CAIRN_TEST_BIG" "$scratch/mnt/big/file.bin"
echo one > "$scratch/mnt/small/one.txt"
test "$(ls "$scratch/mnt/small")" = one.txt
test "$(api list-objects-v2 --bucket "$bucket" --prefix small/ --query 'Contents[].Key' --output text)" = "small/ small/one.txt" \
    || test "$(api list-objects-v2 --bucket "$bucket" --prefix small/one --query 'Contents[].Key' --output text)" = small/one.txt

api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
rm "$scratch/mnt/small/one.txt"
test ! -e "$scratch/mnt/small/one.txt"
marker=$(api list-object-versions --bucket "$bucket" --prefix small/one.txt \
    --query 'DeleteMarkers[?IsLatest].VersionId' --output text)
api delete-object --bucket "$bucket" --key small/one.txt --version-id "$marker" > /dev/null
for _ in $(seq 50); do [ -e "$scratch/mnt/small/one.txt" ] && break; sleep 0.2; done
test "$(cat "$scratch/mnt/small/one.txt")" = one

fusermount3 -u "$scratch/mnt" 2> /dev/null || fusermount -u "$scratch/mnt"
trap - EXIT
delete_every_version "$bucket"
api delete-bucket --bucket "$bucket"
echo "s3fs: scenario passed"
