"""The scenario with the MinIO Python client (`minio` on PyPI; see README.md)."""
import datetime
import hashlib
import os
import urllib.parse
import urllib.request

from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

endpoint, bucket = os.environ["CAIRN_TEST_ENDPOINT"], os.environ["CAIRN_TEST_BUCKET"]
big, scratch = os.environ["CAIRN_TEST_BIG"], os.environ["CAIRN_TEST_SCRATCH"]
host = urllib.parse.urlparse(endpoint).netloc
client = Minio(host, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], secure=False, region="us-east-1")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


client.make_bucket(bucket)
assert client.bucket_exists(bucket)
written = client.fput_object(bucket, "big/file.bin", big, part_size=8 << 20)
assert written.etag.endswith("-13"), written.etag
client.fget_object(bucket, "big/file.bin", f"{scratch}/back.bin")
assert sha256(big) == sha256(f"{scratch}/back.bin")
assert client.stat_object(bucket, "big/file.bin").size == os.path.getsize(big)

with open(f"{scratch}/one.txt", "wb") as f:
    f.write(b"one")
client.fput_object(bucket, "small/one.txt", f"{scratch}/one.txt")
assert [o.object_name for o in client.list_objects(bucket, prefix="small/")] == ["small/one.txt"]
assert [o.object_name for o in client.list_objects(bucket)] == ["big/", "small/"]

url = client.presigned_get_object(bucket, "small/one.txt", expires=datetime.timedelta(minutes=5))
assert urllib.request.urlopen(url, timeout=30).read() == b"one"

client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
assert client.get_bucket_versioning(bucket).status == ENABLED
client.remove_object(bucket, "small/one.txt")
versions = list(client.list_objects(bucket, prefix="small/one.txt", include_version=True))
marker = [v for v in versions if v.is_delete_marker and v.is_latest]
assert len(marker) == 1, versions
client.remove_object(bucket, "small/one.txt", version_id=marker[0].version_id)
assert client.get_object(bucket, "small/one.txt").read() == b"one"

for version in client.list_objects(bucket, recursive=True, include_version=True):
    client.remove_object(bucket, version.object_name, version_id=version.version_id)
client.remove_bucket(bucket)
assert not client.bucket_exists(bucket)
print("minio: scenario passed")
