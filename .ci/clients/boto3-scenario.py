"""The scenario with boto3 (see README.md): its managed transfers for the 100 MiB file."""
import hashlib
import os
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket = os.environ["CAIRN_TEST_ENDPOINT"], os.environ["CAIRN_TEST_BUCKET"]
big, scratch = os.environ["CAIRN_TEST_BIG"], os.environ["CAIRN_TEST_SCRATCH"]
# Presigned URLs take Signature Version 4 only (boto3 may presign with version 2 by default).
s3 = boto3.client(
    "s3", endpoint_url=endpoint, config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


s3.create_bucket(Bucket=bucket)
parts = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
s3.upload_file(big, bucket, "big/file.bin", Config=parts, ExtraArgs={"ChecksumAlgorithm": "SHA256"})
head = s3.head_object(Bucket=bucket, Key="big/file.bin")
assert head["ContentLength"] == os.path.getsize(big) and head["ETag"].endswith('-13"'), head
s3.download_file(bucket, "big/file.bin", f"{scratch}/back.bin", Config=parts)
assert sha256(big) == sha256(f"{scratch}/back.bin")

s3.put_object(Bucket=bucket, Key="small/one.txt", Body=b"one")
listed = s3.list_objects_v2(Bucket=bucket, Prefix="small/")
assert [o["Key"] for o in listed["Contents"]] == ["small/one.txt"], listed
delimited = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["big/", "small/"], delimited

url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "small/one.txt"}, ExpiresIn=300)
assert urllib.request.urlopen(url, timeout=30).read() == b"one"

s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
s3.put_object(Bucket=bucket, Key="small/one.txt", Body=b"two")
deleted = s3.delete_object(Bucket=bucket, Key="small/one.txt")
assert deleted["DeleteMarker"], deleted
s3.delete_object(Bucket=bucket, Key="small/one.txt", VersionId=deleted["VersionId"])
assert s3.get_object(Bucket=bucket, Key="small/one.txt")["Body"].read() == b"two"

versions = s3.list_object_versions(Bucket=bucket)
doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
assert len(doomed) == 3, doomed
s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
s3.delete_bucket(Bucket=bucket)
assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
print("boto3: scenario passed")
