# What the scenarios share (sourced).

# Deletes every version and delete marker in bucket $1, through the AWS CLI.
delete_every_version() {
    aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3api list-object-versions --bucket "$1" --output json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for v in d.get("Versions", []) + d.get("DeleteMarkers", []):
    print(v["Key"], v["VersionId"])' | while read -r key version; do
        aws --endpoint-url "$CAIRN_TEST_ENDPOINT" s3api delete-object --bucket "$1" --key "$key" \
            --version-id "$version" > /dev/null
    done
}
