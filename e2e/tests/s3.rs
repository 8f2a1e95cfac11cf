//! cairn-server driven end to end by aws-sdk-s3 over 127.0.0.1.

#[path = "s3/access_control.rs"]
mod access_control;
#[path = "s3/accounts.rs"]
mod accounts;
#[path = "s3/bad_input.rs"]
mod bad_input;
#[path = "s3/browser.rs"]
mod browser;
#[path = "s3/checksums.rs"]
mod checksums;
mod common;
#[path = "s3/conformance.rs"]
mod conformance;
#[path = "s3/encryption.rs"]
mod encryption;
#[path = "s3/lifecycle.rs"]
mod lifecycle;
#[path = "s3/lock.rs"]
mod lock;
#[path = "s3/logging.rs"]
mod logging;
#[path = "s3/notifications.rs"]
mod notifications;
#[path = "s3/operations.rs"]
mod operations;
#[path = "s3/policies.rs"]
mod policies;
#[path = "s3/post.rs"]
mod post;
#[path = "s3/replication.rs"]
mod replication;
#[path = "s3/scenario.rs"]
mod scenario;
#[path = "s3/web.rs"]
mod web;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, VersioningConfiguration,
};
use common::{TestServer, body, code, path_and_query, status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    s3.create_bucket().bucket("beta").send().await.unwrap();
    // Re-creating your own bucket in us-east-1 is 200 (see conformance.rs for other regions).
    s3.create_bucket().bucket("alpha").send().await.unwrap();
    let error = s3.create_bucket().bucket("Not_Valid").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidBucketName");
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(listed.owner().and_then(|o| o.id()).is_some_and(|id| id.len() == 64));
    s3.head_bucket().bucket("alpha").send().await.unwrap();
    assert!(s3.head_bucket().bucket("missing").send().await.is_err());
    let location = s3.get_bucket_location().bucket("alpha").send().await.unwrap();
    // us-east-1 is the empty constraint.
    assert_eq!(location.location_constraint().map(|l| l.as_str()).unwrap_or(""), "");
    s3.put_object().bucket("alpha").key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let error = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&error), "BucketNotEmpty");
    s3.delete_object().bucket("alpha").key("k").send().await.unwrap();
    s3.delete_bucket().bucket("alpha").send().await.unwrap();
    let error = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_with_metadata_and_ranges() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("objects").send().await.unwrap();
    let data = body(1, 3 * 1024 * 1024 + 5);
    let put = s3
        .put_object()
        .bucket("objects")
        .key("dir/file.bin")
        .content_type("application/x-test")
        .cache_control("max-age=5")
        .metadata("colour", "blue")
        .tagging("team=storage&tier=hot")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let got = s3.get_object().bucket("objects").key("dir/file.bin").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("max-age=5"));
    assert_eq!(got.metadata().unwrap()["colour"], "blue");
    assert_eq!(got.tag_count(), Some(2));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
    let head = s3.head_object().bucket("objects").key("dir/file.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    let ranged =
        s3.get_object().bucket("objects").key("dir/file.bin").range("bytes=1048570-1048580").send().await.unwrap();
    assert_eq!(ranged.content_range(), Some(format!("bytes 1048570-1048580/{}", data.len()).as_str()));
    assert_eq!(ranged.body.collect().await.unwrap().into_bytes(), &data[1048570..=1048580]);
    let suffix = s3.get_object().bucket("objects").key("dir/file.bin").range("bytes=-10").send().await.unwrap();
    assert_eq!(suffix.body.collect().await.unwrap().into_bytes(), &data[data.len() - 10..]);
    let error =
        s3.get_object().bucket("objects").key("dir/file.bin").range("bytes=99999999-").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidRange");
    let error = s3.get_object().bucket("objects").key("missing").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey");
    let error = s3
        .put_object()
        .bucket("objects")
        .key("k")
        .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "BadDigest");
    let error = s3.get_object().bucket("objects").key("k").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey", "a PUT with a bad digest stores nothing");
    let error = s3
        .put_object()
        .bucket("objects")
        .key("k".repeat(1025))
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "KeyTooLongError");
    s3.delete_object().bucket("objects").key("dir/file.bin").send().await.unwrap();
    assert!(s3.head_object().bucket("objects").key("dir/file.bin").send().await.is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_paginate() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("listing").send().await.unwrap();
    for key in ["a", "b/1", "b/2", "c", "d/e/f"] {
        s3.put_object().bucket("listing").key(key).body(ByteStream::from_static(b"")).send().await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("listing")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        seen.extend(page.common_prefixes().iter().filter_map(|p| p.prefix()).map(|p| format!("[{p}]")));
        assert!(page.key_count().unwrap() <= 2);
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, ["[b/]", "[d/]", "a", "c"]);
    let v1 = s3.list_objects().bucket("listing").prefix("b/").send().await.unwrap();
    assert_eq!(v1.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["b/1", "b/2"]);
    let deleted = s3
        .delete_objects()
        .bucket("listing")
        .delete(
            Delete::builder()
                .set_objects(Some(
                    ["a", "b/1", "nope"].iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.deleted().len(), 3);
    let left = s3.list_objects_v2().bucket("listing").send().await.unwrap();
    assert_eq!(left.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["b/2", "c", "d/e/f"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("versions").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("versions")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    let status = s3.get_bucket_versioning().bucket("versions").send().await.unwrap();
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = s3.put_object().bucket("versions").key("k").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let v2 = s3.put_object().bucket("versions").key("k").body(ByteStream::from_static(b"two")).send().await.unwrap();
    let (v1, v2) = (v1.version_id().unwrap().to_owned(), v2.version_id().unwrap().to_owned());
    assert_ne!(v1, v2);
    let old = s3.get_object().bucket("versions").key("k").version_id(&v1).send().await.unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"one");
    let marker = s3.delete_object().bucket("versions").key("k").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert_eq!(code(&s3.get_object().bucket("versions").key("k").send().await.unwrap_err()), "NoSuchKey");
    let listed = s3.list_object_versions().bucket("versions").send().await.unwrap();
    assert_eq!(listed.versions().len(), 2);
    assert_eq!(listed.delete_markers().len(), 1);
    assert_eq!(listed.delete_markers()[0].is_latest(), Some(true));
    s3.delete_object().bucket("versions").key("k").version_id(marker.version_id().unwrap()).send().await.unwrap();
    let current = s3.get_object().bucket("versions").key("k").send().await.unwrap();
    assert_eq!(current.version_id(), Some(v2.as_str()));
    let error = s3.get_object().bucket("versions").key("k").version_id("not-a-version").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("multipart").send().await.unwrap();
    let upload =
        s3.create_multipart_upload().bucket("multipart").key("big").content_type("video/x-test").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    let parts = [body(1, 5 * 1024 * 1024), body(2, 5 * 1024 * 1024 + 3), body(3, 1000)];
    let completed = common::upload_parts(s3, "multipart", "big", &upload_id, &parts).await;
    let listed = s3.list_parts().bucket("multipart").key("big").upload_id(&upload_id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 3);
    let uploads = s3.list_multipart_uploads().bucket("multipart").send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    let error = s3
        .complete_multipart_upload()
        .bucket("multipart")
        .key("big")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(vec![completed[1].clone(), completed[0].clone()]))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidPartOrder");
    let done = s3
        .complete_multipart_upload()
        .bucket("multipart")
        .key("big")
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with("-3\""));
    let got = s3.get_object().bucket("multipart").key("big").send().await.unwrap();
    assert_eq!(got.content_type(), Some("video/x-test"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), parts.concat());
    let aborted = s3.create_multipart_upload().bucket("multipart").key("gone").send().await.unwrap();
    s3.abort_multipart_upload()
        .bucket("multipart")
        .key("gone")
        .upload_id(aborted.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    let error = s3
        .upload_part()
        .bucket("multipart")
        .key("gone")
        .upload_id(aborted.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "NoSuchUpload");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused() {
    let server = TestServer::start().await;
    let wrong_secret = common::client(server.addr, common::ACCESS_KEY, "not-the-secret");
    let error = wrong_secret.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&error), "SignatureDoesNotMatch");
    let unknown = common::client(server.addr, "UNKNOWNKEY", "whatever-secret");
    assert!(unknown.list_buckets().send().await.is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = cairn_server::Config {
        address: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        region: "us-east-1".into(),
        io: cairn_engine::IoMode::Auto,
        domain: None,
        root: cairn_server::Credentials {
            access_key: common::ACCESS_KEY.into(),
            secret_key: common::SECRET_KEY.into(),
        },
        users: Vec::new(),
        public_access_block: Default::default(),
        allow_insecure_sse_c: false,
        compression_level: cairn_engine::COMPRESSION_LEVEL_DEFAULT,
        default_encryption: Default::default(),
        compaction_bytes_per_sec: 0,
        space_amplification_target: 1.2,
        website_address: None,
        lifecycle_day_seconds: cairn_server::lifecycle::DAY_SECONDS_DEFAULT,
        log_delivery_seconds: cairn_server::logging::DELIVERY_SECONDS_DEFAULT,
        notification_targets: Vec::new(),
        replication_endpoints: Vec::new(),
        admin_address: None,
        tls: None,
    };
    let first = cairn_server::start(config.clone()).await.unwrap();
    let s3 = common::client(first.local_addr(), common::ACCESS_KEY, common::SECRET_KEY);
    s3.create_bucket().bucket("durable").send().await.unwrap();
    s3.put_object().bucket("durable").key("k").body(ByteStream::from_static(b"kept")).send().await.unwrap();
    first.shutdown().await;
    let second = cairn_server::start(config).await.unwrap();
    let s3 = common::client(second.local_addr(), common::ACCESS_KEY, common::SECRET_KEY);
    let got = s3.get_object().bucket("durable").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_reads_and_part_numbers() {
    use aws_sdk_s3::primitives::DateTime;
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("conditions").send().await.unwrap();
    let put =
        s3.put_object().bucket("conditions").key("k").body(ByteStream::from_static(b"data")).send().await.unwrap();
    let etag = put.e_tag().unwrap();
    let get = || s3.get_object().bucket("conditions").key("k");
    get().if_match(etag).send().await.unwrap();
    get().if_match("*").send().await.unwrap();
    let error = get().if_match("\"00000000000000000000000000000000\"").send().await.unwrap_err();
    assert_eq!(status(&error), 412);
    let error = get().if_none_match(etag).send().await.unwrap_err();
    assert_eq!(status(&error), 304);
    get().if_none_match("\"00000000000000000000000000000000\"").send().await.unwrap();
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    assert_eq!(status(&get().if_modified_since(future).send().await.unwrap_err()), 304);
    get().if_modified_since(past).send().await.unwrap();
    assert_eq!(status(&get().if_unmodified_since(past).send().await.unwrap_err()), 412);
    get().if_unmodified_since(future).send().await.unwrap();
    // An ETag condition decides over its date twin, as in S3.
    get().if_match(etag).if_unmodified_since(past).send().await.unwrap();
    let head = s3.head_object().bucket("conditions").key("k").if_none_match(etag).send().await.unwrap_err();
    assert_eq!(status(&head), 304);

    let upload = s3.create_multipart_upload().bucket("conditions").key("parts").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let parts = [body(7, 5 * 1024 * 1024), body(8, 10)];
    let completed = common::upload_parts(s3, "conditions", "parts", upload_id, &parts).await;
    s3.complete_multipart_upload()
        .bucket("conditions")
        .key("parts")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    let second = s3.get_object().bucket("conditions").key("parts").part_number(2).send().await.unwrap();
    assert_eq!(second.parts_count(), Some(2));
    assert_eq!(
        second.content_range(),
        Some(format!("bytes {}-{}/{}", 5 * 1024 * 1024, 5 * 1024 * 1024 + 9, 5 * 1024 * 1024 + 10).as_str())
    );
    assert_eq!(second.body.collect().await.unwrap().into_bytes(), parts[1]);
    let first = s3.head_object().bucket("conditions").key("parts").part_number(1).send().await.unwrap();
    assert_eq!(first.content_length(), Some(5 * 1024 * 1024));
    let error = s3.get_object().bucket("conditions").key("parts").part_number(3).send().await.unwrap_err();
    assert_eq!(status(&error), 400, "past the last part is InvalidPart");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_and_refused_authentication() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::time::Duration;
    let server = TestServer::start().await;
    let s3 = &server.client;
    let addr = server.addr;
    s3.create_bucket().bucket("presigned").send().await.unwrap();
    let week = PresigningConfig::expires_in(Duration::from_secs(3600)).unwrap();
    let put = s3.put_object().bucket("presigned").key("up").presigned(week.clone()).await.unwrap();
    let put_uri = path_and_query(put.uri());
    let (status, headers, _) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "PUT", &put_uri, &[], b"via presigned put"))
            .await
            .unwrap();
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(name, value)| name == "x-amz-request-id" && value.len() == 16));
    let get = s3.get_object().bucket("presigned").key("up").presigned(week).await.unwrap();
    let get_uri = path_and_query(get.uri());
    let uri = get_uri.clone();
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", &uri, &[], b"")).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"via presigned put"[..]));

    // Tampered (another key under the same signature): refused.
    let tampered = get_uri.replacen("/presigned/up", "/presigned/other", 1);
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", &tampered, &[], b"")).await.unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    // Longer than S3's 7-day limit: refused before the signature is even checked.
    let too_long = get_uri
        .split('&')
        .map(
            |pair| if pair.starts_with("X-Amz-Expires=") { "X-Amz-Expires=604801".to_owned() } else { pair.to_owned() },
        )
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", &too_long, &[], b"")).await.unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("AuthorizationQueryParametersError"));
    // Expired.
    let short = PresigningConfig::expires_in(Duration::from_secs(1)).unwrap();
    let expired = s3.get_object().bucket("presigned").key("up").presigned(short).await.unwrap();
    let expired_uri = path_and_query(expired.uri());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", &expired_uri, &[], b"")).await.unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    // Signature Version 2 and anonymous requests.
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        common::raw_http(addr, "GET", "/presigned/up", &[("Authorization", "AWS CAIRNTESTROOT:c2lnbmF0dXJl")], b"")
    })
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("InvalidRequest"));
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        common::raw_http(
            addr,
            "GET",
            "/presigned/up?AWSAccessKeyId=CAIRNTESTROOT&Expires=9999999999&Signature=abc",
            &[],
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", "/presigned/up", &[], b"")).await.unwrap();
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_object() {
    use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("source").send().await.unwrap();
    s3.create_bucket().bucket("target").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("source")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    let data = body(3, 3 * 1024 * 1024 + 11);
    let first = s3
        .put_object()
        .bucket("source")
        .key("obj")
        .content_type("text/x-original")
        .metadata("origin", "first")
        .tagging("kind=original")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    s3.put_object().bucket("source").key("obj").body(ByteStream::from_static(b"second version")).send().await.unwrap();

    // A specific source version, metadata and tags copied.
    let copied = s3
        .copy_object()
        .bucket("target")
        .key("copy")
        .copy_source(format!("source/obj?versionId={}", first.version_id().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), first.version_id());
    let got = s3.get_object().bucket("target").key("copy").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/x-original"));
    assert_eq!(got.metadata().unwrap()["origin"], "first");
    assert_eq!(got.tag_count(), Some(1));
    assert_eq!(got.e_tag(), copied.copy_object_result().unwrap().e_tag());
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);

    // REPLACE takes the request's metadata and tags.
    s3.copy_object()
        .bucket("target")
        .key("replaced")
        .copy_source("source/obj")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("origin", "replaced")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("a=1&b=2")
        .send()
        .await
        .unwrap();
    let head = s3.get_object().bucket("target").key("replaced").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/x-new"));
    assert_eq!(head.metadata().unwrap()["origin"], "replaced");
    assert_eq!(head.tag_count(), Some(2));
    assert_eq!(head.body.collect().await.unwrap().into_bytes().as_ref(), b"second version");

    // Onto itself: only with REPLACE.
    let error = s3.copy_object().bucket("target").key("copy").copy_source("target/copy").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    s3.copy_object()
        .bucket("target")
        .key("copy")
        .copy_source("target/copy")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-updated")
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("target").key("copy").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/x-updated"));
    assert_eq!(head.content_length(), Some(data.len() as i64));

    // Copy-source conditions fail with 412.
    let error = s3
        .copy_object()
        .bucket("target")
        .key("conditional")
        .copy_source("source/obj")
        .copy_source_if_match("\"00000000000000000000000000000000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&error), 412);
    let error = s3.copy_object().bucket("target").key("x").copy_source("source/missing").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tagging_and_object_attributes() {
    use aws_sdk_s3::types::{ObjectAttributes, Tag, Tagging};
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("tagged").send().await.unwrap();
    let error = s3.get_bucket_tagging().bucket("tagged").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchTagSet");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    s3.put_bucket_tagging()
        .bucket("tagged")
        .tagging(Tagging::builder().tag_set(tag("team", "storage")).tag_set(tag("cost centre", "a&b")).build().unwrap())
        .send()
        .await
        .unwrap();
    let tags = s3.get_bucket_tagging().bucket("tagged").send().await.unwrap();
    let mut pairs: Vec<_> = tags.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    pairs.sort();
    assert_eq!(pairs, [("cost centre".to_owned(), "a&b".to_owned()), ("team".to_owned(), "storage".to_owned())]);
    let too_many =
        Tagging::builder().set_tag_set(Some((0..51).map(|i| tag(&format!("k{i}"), "v")).collect())).build().unwrap();
    let error = s3.put_bucket_tagging().bucket("tagged").tagging(too_many).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidTag");
    s3.delete_bucket_tagging().bucket("tagged").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_tagging().bucket("tagged").send().await.unwrap_err()), "NoSuchTagSet");

    s3.put_object().bucket("tagged").key("small").body(ByteStream::from_static(b"12345")).send().await.unwrap();
    let attributes = s3
        .get_object_attributes()
        .bucket("tagged")
        .key("small")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(attributes.object_size(), Some(5));
    assert_eq!(attributes.e_tag().map(|e| e.trim_matches('"')), Some("827ccb0eea8a706c4c34a16891f84e7b"));
    assert!(attributes.object_parts().is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_and_object_tagging() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("cond-writes").send().await.unwrap();
    let put = || s3.put_object().bucket("cond-writes").key("k");
    let first = put().if_none_match("*").body(ByteStream::from_static(b"first")).send().await.unwrap();
    let error = put().if_none_match("*").body(ByteStream::from_static(b"second")).send().await.unwrap_err();
    assert_eq!(code(&error), "PreconditionFailed");
    let error = put()
        .if_match("\"00000000000000000000000000000000\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "PreconditionFailed");
    put().if_match(first.e_tag().unwrap()).body(ByteStream::from_static(b"replaced")).send().await.unwrap();
    let got = s3.get_object().bucket("cond-writes").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"replaced");

    // Completion with If-None-Match on an existing key is refused and the upload stays.
    let upload = s3.create_multipart_upload().bucket("cond-writes").key("k").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("cond-writes")
        .key("k")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    let error = s3
        .complete_multipart_upload()
        .bucket("cond-writes")
        .key("k")
        .upload_id(upload_id)
        .if_none_match("*")
        .multipart_upload(parts.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "PreconditionFailed");
    s3.complete_multipart_upload()
        .bucket("cond-writes")
        .key("k")
        .upload_id(upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();

    // Object tags: put, get, delete; 11 tags are refused.
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    s3.put_object_tagging()
        .bucket("cond-writes")
        .key("k")
        .tagging(Tagging::builder().tag_set(tag("a", "1")).tag_set(tag("b", "2")).build().unwrap())
        .send()
        .await
        .unwrap();
    let tags = s3.get_object_tagging().bucket("cond-writes").key("k").send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 2);
    let eleven =
        Tagging::builder().set_tag_set(Some((0..11).map(|i| tag(&format!("k{i}"), "v")).collect())).build().unwrap();
    let error = s3.put_object_tagging().bucket("cond-writes").key("k").tagging(eleven).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidTag");
    s3.delete_object_tagging().bucket("cond-writes").key("k").send().await.unwrap();
    assert!(s3.get_object_tagging().bucket("cond-writes").key("k").send().await.unwrap().tag_set().is_empty());
    let error = s3.get_object_tagging().bucket("cond-writes").key("missing").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("part-copy").send().await.unwrap();
    let source = body(21, 6 * 1024 * 1024 + 100);
    s3.put_object().bucket("part-copy").key("source").body(ByteStream::from(source.clone())).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("part-copy").key("assembled").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let split = 5 * 1024 * 1024;
    let mut completed = Vec::new();
    let copied = s3
        .upload_part_copy()
        .bucket("part-copy")
        .key("assembled")
        .upload_id(upload_id)
        .part_number(1)
        .copy_source("part-copy/source")
        .copy_source_range(format!("bytes=100-{}", split + 99))
        .send()
        .await
        .unwrap();
    let etag = copied.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    completed.push(CompletedPart::builder().part_number(1).e_tag(etag).build());
    // The last part copies a whole (small) object, without a range.
    s3.put_object().bucket("part-copy").key("tail").body(ByteStream::from_static(b"tail")).send().await.unwrap();
    let tail = s3
        .upload_part_copy()
        .bucket("part-copy")
        .key("assembled")
        .upload_id(upload_id)
        .part_number(3)
        .copy_source("part-copy/tail")
        .send()
        .await
        .unwrap();
    completed
        .push(CompletedPart::builder().part_number(3).e_tag(tail.copy_part_result().unwrap().e_tag().unwrap()).build());
    let error = s3
        .upload_part_copy()
        .bucket("part-copy")
        .key("assembled")
        .upload_id(upload_id)
        .part_number(4)
        .copy_source("part-copy/tail")
        .copy_source_range("bytes=2-10")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidRange");
    s3.complete_multipart_upload()
        .bucket("part-copy")
        .key("assembled")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket("part-copy").key("assembled").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), [&source[100..split + 100], b"tail"].concat());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused_and_the_server_stays_up() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let huge = "x".repeat(cairn_server::REQUEST_HEAD_BYTES_MAX + 1);
    let (status, _, _) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", "/", &[("x-amz-meta-big", &huge)], b""))
            .await
            .unwrap();
    assert_eq!(status, 431);
    server.client.list_buckets().send().await.unwrap();
    server.stop().await;
}
