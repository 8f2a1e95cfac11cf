//! S3's additional checksums, end to end: the SDK computes them (headers or aws-chunked
//! trailers), Cairn verifies and stores them, and the SDK validates what GET returns.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};

use crate::common::{TestServer, body, code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_is_verified_stored_and_returned() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let data = body(7, 300_000);
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("k-{}", algorithm.as_str());
        let put = s3
            .put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        let sent = [put.checksum_crc32(), put.checksum_crc32_c(), put.checksum_sha1(), put.checksum_sha256()]
            .into_iter()
            .chain([put.checksum_crc64_nvme()])
            .flatten()
            .collect::<Vec<_>>();
        assert_eq!(sent.len(), 1, "{algorithm:?}: one checksum returned");
        assert_eq!(put.checksum_type(), Some(&ChecksumType::FullObject));
        // With checksum mode on, the SDK validates the body against the returned checksum.
        let got = s3.get_object().bucket("sums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        let returned = [got.checksum_crc32(), got.checksum_crc32_c(), got.checksum_sha1(), got.checksum_sha256()]
            .into_iter()
            .chain([got.checksum_crc64_nvme()])
            .flatten()
            .collect::<Vec<_>>();
        assert_eq!(returned, sent, "{algorithm:?}");
        assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
        let head = s3.head_object().bucket("sums").key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
        // Without checksum mode, none is returned.
        let head = s3.head_object().bucket("sums").key(&key).send().await.unwrap();
        assert_eq!(head.checksum_type(), None);
    }
    // A streamed body (from a file) carries its checksum in an aws-chunked trailer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streamed");
    std::fs::write(&path, &data).unwrap();
    let put = s3
        .put_object()
        .bucket("sums")
        .key("streamed")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    let head =
        s3.head_object().bucket("sums").key("k-SHA256").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(put.checksum_sha256(), head.checksum_sha256());
    // Known values: CRC32 of "123456789" is cbf43926.
    let put = s3
        .put_object()
        .bucket("sums")
        .key("check")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_crc32(), Some("y/Q5Jg=="));
    // A wrong value is refused and nothing is stored.
    let error = s3
        .put_object()
        .bucket("sums")
        .key("wrong")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"123456789"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "BadDigest");
    assert_eq!(code(&s3.head_object().bucket("sums").key("wrong").send().await.unwrap_err()), "NotFound");
    let error = s3
        .put_object()
        .bucket("sums")
        .key("wrong")
        .checksum_sha256("not base64")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    let attributes = s3
        .get_object_attributes()
        .bucket("sums")
        .key("check")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::Checksum)
        .send()
        .await
        .unwrap();
    assert_eq!(attributes.checksum().and_then(|c| c.checksum_crc32()), Some("y/Q5Jg=="));
    let listed = s3.list_objects_v2().bucket("sums").prefix("check").send().await.unwrap();
    assert_eq!(listed.contents()[0].checksum_algorithm(), [ChecksumAlgorithm::Crc32]);
    // A copy keeps the source's algorithm, recomputed over the copied bytes.
    let copied =
        s3.copy_object().bucket("sums").key("copy").copy_source("sums/check").send().await.unwrap().copy_object_result;
    assert_eq!(copied.unwrap().checksum_crc32(), Some("y/Q5Jg=="));
    server.stop().await;
}

async fn upload(
    s3: &aws_sdk_s3::Client,
    key: &str,
    algorithm: Option<ChecksumAlgorithm>,
    kind: Option<ChecksumType>,
    parts: &[Vec<u8>],
) -> (String, Vec<CompletedPart>) {
    let created = s3
        .create_multipart_upload()
        .bucket("sums")
        .key(key)
        .set_checksum_algorithm(algorithm.clone())
        .set_checksum_type(kind)
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_owned();
    let mut completed = Vec::new();
    for (index, data) in parts.iter().enumerate() {
        let number = index as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("sums")
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .set_checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .set_checksum_crc32(part.checksum_crc32().map(str::to_owned))
                .set_checksum_crc32_c(part.checksum_crc32_c().map(str::to_owned))
                .set_checksum_sha1(part.checksum_sha1().map(str::to_owned))
                .set_checksum_sha256(part.checksum_sha256().map(str::to_owned))
                .set_checksum_crc64_nvme(part.checksum_crc64_nvme().map(str::to_owned))
                .build(),
        );
    }
    (id, completed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_checksums_are_composite_or_full_object() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let parts = vec![body(1, 5 << 20), body(2, 1000)];
    let whole: Vec<u8> = parts.concat();

    // Composite SHA256: a checksum of the parts' checksums, "-2".
    let (id, completed) = upload(s3, "composite", Some(ChecksumAlgorithm::Sha256), None, &parts).await;
    assert!(completed.iter().all(|p| p.checksum_sha256().is_some()));
    let listed = s3.list_parts().bucket("sums").key("composite").upload_id(&id).send().await.unwrap();
    assert_eq!(listed.checksum_algorithm(), Some(&ChecksumAlgorithm::Sha256));
    assert_eq!(listed.parts()[1].checksum_sha256(), completed[1].checksum_sha256());
    // A part checksum that does not match what was uploaded is refused.
    let mut wrong = completed.clone();
    wrong[0] = CompletedPart::builder()
        .part_number(1)
        .set_e_tag(completed[0].e_tag().map(str::to_owned))
        .set_checksum_sha256(completed[1].checksum_sha256().map(str::to_owned))
        .build();
    let error = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("composite")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(wrong)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidPart");
    let done = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("composite")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    assert!(done.checksum_sha256().unwrap().ends_with("-2"), "{:?}", done.checksum_sha256());
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let head =
        s3.head_object().bucket("sums").key("composite").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_sha256(), done.checksum_sha256());
    // A part read returns that part's checksum.
    let part = s3
        .get_object()
        .bucket("sums")
        .key("composite")
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(part.checksum_sha256().is_some_and(|c| !c.contains('-')));
    assert_eq!(part.body.collect().await.unwrap().into_bytes(), parts[1]);

    // Full-object CRC32: combined from the parts' CRCs, so it equals a single PUT's.
    let (id, completed) =
        upload(s3, "full", Some(ChecksumAlgorithm::Crc32), Some(ChecksumType::FullObject), &parts).await;
    let done = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("full")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    let single = s3
        .put_object()
        .bucket("sums")
        .key("single")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(whole.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(done.checksum_crc32(), single.checksum_crc32());
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    // The SDK validates a full-object checksum of a multipart object over the whole body.
    let got = s3.get_object().bucket("sums").key("full").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), whole);

    // No algorithm: S3's default full-object CRC64NVME.
    let (id, completed) = upload(s3, "default", None, None, &parts).await;
    s3.complete_multipart_upload()
        .bucket("sums")
        .key("default")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket("sums").key("default").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
    assert!(got.checksum_crc64_nvme().is_some());
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), whole);

    // Checksum types S3 refuses.
    let error = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("bad")
        .checksum_algorithm(ChecksumAlgorithm::Sha1)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    // A part with another algorithm than its upload's is refused.
    let (id, _) = upload(s3, "mismatch", Some(ChecksumAlgorithm::Sha1), None, &[]).await;
    let error = s3
        .upload_part()
        .bucket("sums")
        .key("mismatch")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    server.stop().await;
}
