//! The client matrix's scenario (see `.ci/clients/README.md`) with aws-sdk-rust: make a bucket,
//! 100 MiB up in parts and down with the checksum compared, list by prefix, a presigned GET,
//! a versioned delete and its restore, and remove the bucket.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ChecksumAlgorithm, Delete, ObjectIdentifier, VersioningConfiguration};
use sha2::Digest;

use crate::common::TestServer;

/// The large file's size, and its parts'.
const BIG_BYTES: usize = 100 << 20;
const PART_BYTES: usize = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_scenario_runs_with_aws_sdk_rust() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let bucket = "matrix-aws-sdk-rust";
    s3.create_bucket().bucket(bucket).send().await.unwrap();

    let big = crate::common::body(17, BIG_BYTES);
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key("big/file.bin")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, chunk) in big.chunks(PART_BYTES).enumerate() {
        let number = n as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key("big/file.bin")
            .upload_id(id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        let completed = aws_sdk_s3::types::CompletedPart::builder()
            .part_number(number)
            .e_tag(part.e_tag().unwrap())
            .checksum_crc32_c(part.checksum_crc32_c().unwrap())
            .build();
        parts.push(completed);
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    let completed =
        s3.complete_multipart_upload().bucket(bucket).key("big/file.bin").upload_id(id).multipart_upload(done);
    let completed = completed.send().await.unwrap();
    assert!(completed.e_tag().unwrap().ends_with("-13\""), "{:?}", completed.e_tag());
    let got = s3.get_object().bucket(bucket).key("big/file.bin").send().await.unwrap();
    assert_eq!(got.content_length(), Some(BIG_BYTES as i64));
    let back = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(sha2::Sha256::digest(&back), sha2::Sha256::digest(&big), "the download is the upload");

    s3.put_object().bucket(bucket).key("small/one.txt").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let listed = s3.list_objects_v2().bucket(bucket).prefix("small/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["small/one.txt"]);
    let delimited = s3.list_objects_v2().bucket(bucket).delimiter("/").send().await.unwrap();
    let prefixes: Vec<&str> = delimited.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["big/", "small/"]);

    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap();
    let presigned = s3.get_object().bucket(bucket).key("small/one.txt").presigned(presigning).await.unwrap();
    let path = crate::common::path_and_query(presigned.uri());
    let addr = server.addr;
    let (status, _, body) =
        tokio::task::spawn_blocking(move || crate::common::raw_http(addr, "GET", &path, &[], b"")).await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"one"[..]));

    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
    s3.put_object().bucket(bucket).key("small/one.txt").body(ByteStream::from_static(b"two")).send().await.unwrap();
    let deleted = s3.delete_object().bucket(bucket).key("small/one.txt").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let gone = s3.get_object().bucket(bucket).key("small/one.txt").send().await.unwrap_err();
    assert_eq!(crate::common::status(&gone), 404);
    let marker = deleted.version_id().unwrap();
    s3.delete_object().bucket(bucket).key("small/one.txt").version_id(marker).send().await.unwrap();
    let restored = s3.get_object().bucket(bucket).key("small/one.txt").send().await.unwrap();
    assert_eq!(&restored.body.collect().await.unwrap().into_bytes()[..], b"two");

    let versions = s3.list_object_versions().bucket(bucket).send().await.unwrap();
    let doomed: Vec<ObjectIdentifier> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap()))
        .chain(versions.delete_markers().iter().map(|m| (m.key().unwrap(), m.version_id().unwrap())))
        .map(|(key, version)| ObjectIdentifier::builder().key(key).version_id(version).build().unwrap())
        .collect();
    assert_eq!(doomed.len(), 3, "two versions of one.txt and the big file");
    let delete = Delete::builder().set_objects(Some(doomed)).build().unwrap();
    s3.delete_objects().bucket(bucket).delete(delete).send().await.unwrap();
    s3.delete_bucket().bucket(bucket).send().await.unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().iter().all(|b| b.name() != Some(bucket)));
    server.stop().await;
}
