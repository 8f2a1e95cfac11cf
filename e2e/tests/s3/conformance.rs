//! Behaviors of AWS's S3 that conformance suites check and Cairn once got wrong (issue 9): each
//! test drives one behavior with aws-sdk-s3, or raw HTTP where the SDK cannot send the request.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectAttributes, ObjectIdentifier,
    VersioningConfiguration,
};

use crate::common::{self, TestServer, body, code, error_header, header, path_and_query, status};

fn hour() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(3600)).unwrap()
}

/// Sends a raw request on the blocking pool.
async fn raw(
    addr: std::net::SocketAddr,
    method: &'static str,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        common::raw_http(addr, method, &uri, &headers, &body)
    })
    .await
    .unwrap()
}

/// The body of a signed GET on `bucket` with `query` (cairn-bench's client signs it).
async fn signed_body(addr: std::net::SocketAddr, bucket: &str, query: &str) -> String {
    use cairn_bench::client::Call;
    let mut client = common::bench_client(addr, bucket);
    let call = Call::new(http::Method::GET, "").query(query).capture("body");
    client.request(call).await.unwrap().captured.unwrap_or_default()
}

async fn versioned_bucket(s3: &Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
}

async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    s3.put_object().bucket(bucket).key(key).body(ByteStream::from(data.to_vec())).send().await.unwrap()
}

async fn complete(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError>,
> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_sent_twice_gets_the_same_answer() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    versioned_bucket(s3, "twice").await;
    let upload = s3.create_multipart_upload().bucket("twice").key("k").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let parts = common::upload_parts(s3, "twice", "k", id, &[body(1, 5 << 20), body(2, 10)]).await;
    let first = complete(s3, "twice", "k", id, parts.clone()).await.unwrap();
    let second = complete(s3, "twice", "k", id, parts.clone()).await.unwrap();
    assert_eq!(second.e_tag(), first.e_tag());
    assert_eq!(second.version_id(), first.version_id());
    assert!(first.version_id().is_some());
    assert_eq!(second.location(), first.location());
    assert_eq!(first.location(), Some(format!("http://{}/twice/k", server.addr).as_str()));
    assert_eq!(second.checksum_crc64_nvme(), first.checksum_crc64_nvme());
    // Only for its own key.
    let error = complete(s3, "twice", "other", id, parts.clone()).await.unwrap_err();
    assert_eq!(code(&error), "NoSuchUpload");
    // The upload itself is gone: its parts cannot be listed or added to.
    let error = s3.list_parts().bucket("twice").key("k").upload_id(id).send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchUpload");
    let versions = s3.list_object_versions().bucket("twice").send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "the second completion made no new version");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_resent_while_the_first_is_in_flight_the_last_to_finish_wins() {
    use std::io::Write;
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("resend").send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("resend").key("k").send().await.unwrap();
    let id = upload.upload_id().unwrap().to_owned();
    let (a, b) = (vec![b'A'; 64 << 10], vec![b'B'; 64 << 10]);
    // Upload A starts first and stalls halfway; B is sent whole meanwhile; then A finishes.
    let presigned = s3.upload_part().bucket("resend").key("k").upload_id(&id).part_number(1).presigned(hour());
    let uri = path_and_query(presigned.await.unwrap().uri());
    let addr = server.addr;
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    let head =
        format!("PUT {uri} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", a.len());
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&a[..a.len() / 2]).unwrap();
    let b_part = s3.upload_part().bucket("resend").key("k").upload_id(&id).part_number(1);
    let b_etag = b_part.body(ByteStream::from(b.clone())).send().await.unwrap().e_tag().unwrap().to_owned();
    let rest = a[a.len() / 2..].to_vec();
    let (a_status, a_etag) = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        slow.write_all(&rest).unwrap();
        let mut response = Vec::new();
        slow.read_to_end(&mut response).unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let etag = text.lines().find_map(|l| l.strip_prefix("etag: ").or(l.strip_prefix("ETag: "))).map(str::to_owned);
        (text.split(' ').nth(1).unwrap().to_owned(), etag.unwrap())
    })
    .await
    .unwrap();
    assert_eq!(a_status, "200");
    // The client lists both uploads of part 1, in the order it sent them, as boto3 tests do.
    let parts = [&b_etag, &a_etag].map(|etag| CompletedPart::builder().part_number(1).e_tag(etag.trim()).build());
    complete(s3, "resend", "k", &id, parts.to_vec()).await.unwrap();
    let got = s3.get_object().bucket("resend").key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), a, "A finished last, so A is the part");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_numbers_past_the_parts_are_invalid_part() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("parts").send().await.unwrap();
    put(s3, "parts", "single", b"whole object").await;
    // partNumber=1 of a single PUT is the whole object; 2 is past its only part.
    let first = s3.get_object().bucket("parts").key("single").part_number(1).send().await.unwrap();
    assert_eq!(first.body.collect().await.unwrap().into_bytes().as_ref(), b"whole object");
    let error = s3.get_object().bucket("parts").key("single").part_number(2).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidPart"));
    let error = s3.head_object().bucket("parts").key("single").part_number(2).send().await.unwrap_err();
    assert_eq!(status(&error), 400);
    let upload = s3.create_multipart_upload().bucket("parts").key("mp").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let parts = common::upload_parts(s3, "parts", "mp", id, &[body(3, 5 << 20), body(4, 7)]).await;
    complete(s3, "parts", "mp", id, parts).await.unwrap();
    let error = s3.get_object().bucket("parts").key("mp").part_number(3).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidPart"));
    let error = s3.get_object().bucket("parts").key("mp").part_number(10001).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidArgument"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy_outside_the_source_is_invalid_range() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("copyrange").send().await.unwrap();
    put(s3, "copyrange", "src", b"0123456789").await;
    let upload = s3.create_multipart_upload().bucket("copyrange").key("dst").send().await.unwrap();
    let copy = |range: &str| {
        s3.upload_part_copy()
            .bucket("copyrange")
            .key("dst")
            .upload_id(upload.upload_id().unwrap())
            .part_number(1)
            .copy_source("copyrange/src")
            .copy_source_range(range)
            .send()
    };
    let error = copy("bytes=5-10").await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (416, "InvalidRange"));
    let error = copy("bytes=9-3").await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument", "a range that is not first-last is malformed");
    copy("bytes=0-9").await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_markers_are_named_in_deletes_and_reads() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    versioned_bucket(s3, "markers").await;
    let kept = put(s3, "markers", "k", b"v1").await;
    let deleted = s3.delete_object().bucket("markers").key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    // GET and HEAD of a key hidden by a delete marker: 404 naming the marker.
    let error = s3.get_object().bucket("markers").key("k").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (404, "NoSuchKey"));
    assert_eq!(error_header(&error, "x-amz-delete-marker"), Some("true"));
    assert_eq!(error_header(&error, "x-amz-version-id"), Some(marker.as_str()));
    let error = s3.head_object().bucket("markers").key("k").send().await.unwrap_err();
    assert_eq!(status(&error), 404);
    assert_eq!(error_header(&error, "x-amz-delete-marker"), Some("true"));
    // The marker itself, by version id: 405, and it is a delete marker.
    let error = s3.get_object().bucket("markers").key("k").version_id(&marker).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (405, "MethodNotAllowed"));
    assert_eq!(error_header(&error, "x-amz-delete-marker"), Some("true"));
    // Removing the marker by version id says it was one; removing an object version says not.
    let removed = s3.delete_object().bucket("markers").key("k").version_id(&marker).send().await.unwrap();
    assert_eq!((removed.delete_marker(), removed.version_id()), (Some(true), Some(marker.as_str())));
    let got = s3.get_object().bucket("markers").key("k").send().await.unwrap();
    assert_eq!(got.version_id(), kept.version_id());
    // DeleteObjects: a marker created, then a marker removed by version id.
    let one = |version: Option<&str>| {
        let id = ObjectIdentifier::builder().key("k").set_version_id(version.map(str::to_owned)).build().unwrap();
        Delete::builder().objects(id).build().unwrap()
    };
    let made = s3.delete_objects().bucket("markers").delete(one(None)).send().await.unwrap();
    let entry = &made.deleted()[0];
    assert_eq!(entry.delete_marker(), Some(true));
    let made_id = entry.delete_marker_version_id().unwrap().to_owned();
    let gone = s3.delete_objects().bucket("markers").delete(one(Some(&made_id))).send().await.unwrap();
    let entry = &gone.deleted()[0];
    assert_eq!(
        (entry.delete_marker(), entry.version_id(), entry.delete_marker_version_id()),
        (Some(true), Some(made_id.as_str()), Some(made_id.as_str()))
    );
    let version = kept.version_id().unwrap();
    let object = s3.delete_objects().bucket("markers").delete(one(Some(version))).send().await.unwrap();
    assert_eq!(object.deleted()[0].delete_marker(), None, "an object version is no delete marker");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_carry_the_tag_count_and_304_carries_the_etag() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("reads").send().await.unwrap();
    let tagged = s3.put_object().bucket("reads").key("k").tagging("a=1&b=2&c=3");
    let etag = tagged.body(ByteStream::from_static(b"data")).send().await.unwrap().e_tag().unwrap().to_owned();
    let got = s3.get_object().bucket("reads").key("k").send().await.unwrap();
    assert_eq!(got.tag_count(), Some(3));
    let head = s3.head_object().bucket("reads").key("k").presigned(hour()).await.unwrap();
    let (code, headers, _) = raw(server.addr, "HEAD", path_and_query(head.uri()), Vec::new(), Vec::new()).await;
    assert_eq!(code, 200);
    assert_eq!(header(&headers, "x-amz-tagging-count"), Some("3"));
    put(s3, "reads", "untagged", b"x").await;
    let head = s3.head_object().bucket("reads").key("untagged").presigned(hour()).await.unwrap();
    let (_, headers, _) = raw(server.addr, "HEAD", path_and_query(head.uri()), Vec::new(), Vec::new()).await;
    assert_eq!(header(&headers, "x-amz-tagging-count"), None);
    let error = s3.get_object().bucket("reads").key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&error), 304);
    assert_eq!(error_header(&error, "etag"), Some(etag.as_str()));
    assert!(error_header(&error, "last-modified").is_some_and(|d| d.ends_with("GMT")));
    let error = s3.head_object().bucket("reads").key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&error), 304);
    assert_eq!(error_header(&error, "etag"), Some(etag.as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_attributes_are_the_ones_asked_for() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    versioned_bucket(s3, "attrs").await;
    let plain = put(s3, "attrs", "plain", b"0123456789").await;
    let attributes = |key: &str, wanted: &[ObjectAttributes]| {
        s3.get_object_attributes().bucket("attrs").key(key).set_object_attributes(Some(wanted.to_vec()))
    };
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::ObjectSize,
        ObjectAttributes::StorageClass,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
    ];
    let got = attributes("plain", &all).send().await.unwrap();
    assert_eq!(got.object_size(), Some(10));
    assert_eq!(got.e_tag(), Some(plain.e_tag().unwrap().trim_matches('"')), "GetObjectAttributes' ETag is unquoted");
    assert_eq!(got.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    assert!(got.checksum().and_then(|c| c.checksum_crc32()).is_some(), "the SDK sent CRC32");
    assert!(got.object_parts().is_none(), "a single PUT has no parts");
    assert_eq!(got.version_id(), plain.version_id());
    // Only what was asked for.
    let size_only = attributes("plain", &[ObjectAttributes::ObjectSize]).send().await.unwrap();
    assert_eq!(size_only.object_size(), Some(10));
    assert!(size_only.e_tag().is_none() && size_only.storage_class().is_none() && size_only.checksum().is_none());
    // An older version, by id.
    let newer = put(s3, "attrs", "plain", b"0123").await;
    let old = attributes("plain", &[ObjectAttributes::ObjectSize]).version_id(plain.version_id().unwrap());
    assert_eq!(old.send().await.unwrap().object_size(), Some(10));
    let current = attributes("plain", &[ObjectAttributes::ObjectSize]).send().await.unwrap();
    assert_eq!((current.object_size(), current.version_id()), (Some(4), newer.version_id()));
    // Multipart, with part pagination.
    let upload = s3.create_multipart_upload().bucket("attrs").key("mp").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let sizes = [5 << 20, 5 << 20, 3];
    let bodies: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| body(i as u64, n)).collect();
    let parts = common::upload_parts(s3, "attrs", "mp", id, &bodies).await;
    complete(s3, "attrs", "mp", id, parts).await.unwrap();
    let page = attributes("mp", &all).max_parts(2).send().await.unwrap();
    assert_eq!(page.object_size(), Some((10 << 20) + 3));
    assert!(page.e_tag().unwrap().ends_with("-3"));
    let object_parts = page.object_parts().unwrap();
    assert_eq!(object_parts.total_parts_count(), Some(3));
    assert_eq!(object_parts.is_truncated(), Some(true));
    assert_eq!(object_parts.next_part_number_marker(), Some("2"));
    let rest = attributes("mp", &[ObjectAttributes::ObjectParts]).part_number_marker("2").send().await.unwrap();
    let rest_parts = rest.object_parts().unwrap();
    assert_eq!(rest_parts.parts().len(), 1);
    assert_eq!(rest_parts.parts()[0].size(), Some(3));
    assert_eq!(rest_parts.is_truncated(), Some(false));
    // A single-part multipart upload.
    let upload = s3.create_multipart_upload().bucket("attrs").key("one").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let parts = common::upload_parts(s3, "attrs", "one", id, &[b"tiny".to_vec()]).await;
    complete(s3, "attrs", "one", id, parts).await.unwrap();
    let one = attributes("one", &all).send().await.unwrap();
    assert!(one.e_tag().unwrap().ends_with("-1"));
    assert_eq!(one.object_size(), Some(4));
    assert_eq!(one.object_parts().and_then(|p| p.total_parts_count()), Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unversioned_writes_report_no_version_id() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let put = put(s3, "plain", "k", b"x").await;
    assert_eq!(put.version_id(), None);
    let upload = s3.create_multipart_upload().bucket("plain").key("mp").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let parts = common::upload_parts(s3, "plain", "mp", id, &[b"p".to_vec()]).await;
    let done = complete(s3, "plain", "mp", id, parts).await.unwrap();
    assert_eq!(done.version_id(), None);
    let copied = s3.copy_object().bucket("plain").key("copy").copy_source("plain/k").send().await.unwrap();
    assert_eq!(copied.version_id(), None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_carry_the_request_id_of_their_header() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("ids").send().await.unwrap();
    // An error from a handler.
    let get = s3.get_object().bucket("ids").key("missing").presigned(hour()).await.unwrap();
    let (code, headers, body) = raw(server.addr, "GET", path_and_query(get.uri()), Vec::new(), Vec::new()).await;
    assert_eq!(code, 404);
    let text = String::from_utf8_lossy(&body);
    let id = header(&headers, "x-amz-request-id").unwrap();
    assert!(text.contains(&format!("<RequestId>{id}</RequestId>")), "{text}");
    assert!(header(&headers, "x-amz-id-2").is_some_and(|h| text.contains(&format!("<HostId>{h}</HostId>"))));
    // And the resource the error is about, as AWS's error bodies name it.
    assert!(text.contains("<Key>missing</Key>"), "{text}");
    let get = s3.get_object().bucket("nosuchbucket").key("k").presigned(hour()).await.unwrap();
    let (_, _, body) = raw(server.addr, "GET", path_and_query(get.uri()), Vec::new(), Vec::new()).await;
    assert!(String::from_utf8_lossy(&body).contains("<BucketName>nosuchbucket</BucketName>"));
    let part = s3.upload_part().bucket("ids").key("k").upload_id("u00000000deadbeef").part_number(1);
    let part = part.presigned(hour()).await.unwrap();
    let (_, _, body) = raw(server.addr, "PUT", path_and_query(part.uri()), Vec::new(), b"x".to_vec()).await;
    assert!(String::from_utf8_lossy(&body).contains("<UploadId>u00000000deadbeef</UploadId>"));
    // Errors raised before any handler: by s3s's authentication, and by Cairn's guard.
    for (uri, headers) in [
        ("/ids/k".to_owned(), vec![]),
        ("/ids/k".to_owned(), vec![("Authorization", "AWS CAIRNTESTROOT:c2ln".to_owned())]),
        (path_and_query(get.uri()).replace("X-Amz-Signature=", "X-Amz-Signature=0"), vec![]),
    ] {
        let (_, headers, body) = raw(server.addr, "GET", uri, headers, Vec::new()).await;
        let text = String::from_utf8_lossy(&body);
        let id = header(&headers, "x-amz-request-id").unwrap();
        assert!(text.contains(&format!("<RequestId>{id}</RequestId>")), "{text}");
    }
    // HEAD has no body, but the id is there.
    let error = s3.head_object().bucket("ids").key("missing").send().await.unwrap_err();
    assert!(error_header(&error, "x-amz-request-id").is_some_and(|id| id.len() == 16));
    let error = s3.get_object().bucket("ids").key("missing").send().await.unwrap_err();
    let service = error.into_service_error();
    assert!(aws_sdk_s3::operation::RequestId::request_id(&service).is_some_and(|id| id.len() == 16));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_in_every_form() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("cond").send().await.unwrap();
    let put_if = |key: &str| s3.put_object().bucket("cond").key(key).body(ByteStream::from_static(b"x"));
    // If-Match on a missing key is 404; If-Match: * too.
    assert_eq!(code(&put_if("k").if_match("\"0123\"").send().await.unwrap_err()), "NoSuchKey");
    assert_eq!(code(&put_if("k").if_match("*").send().await.unwrap_err()), "NoSuchKey");
    let etag = put_if("k").if_none_match("*").send().await.unwrap().e_tag().unwrap().to_owned();
    assert_eq!(status(&put_if("k").if_none_match("*").send().await.unwrap_err()), 412);
    // Quoted, unquoted and weak ETags, and *, all match the current object.
    let unquoted = etag.trim_matches('"').to_owned();
    for form in [etag.clone(), unquoted.clone(), format!("W/{etag}"), "*".to_owned()] {
        let written = put_if("k").if_match(&form).send().await;
        assert!(written.is_ok(), "If-Match: {form}: {written:?}");
    }
    let error = put_if("k").if_match("\"00000000000000000000000000000000\"").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (412, "PreconditionFailed"));
    // Both at once: an existing object fails If-None-Match: *; a missing key fails If-Match.
    let both = put_if("k").if_match(&etag).if_none_match("*").send().await.unwrap_err();
    assert_eq!(status(&both), 412);
    let both = put_if("new").if_match(&etag).if_none_match("*").send().await.unwrap_err();
    assert_eq!(code(&both), "NoSuchKey");
    // If-None-Match with an ETag is a read condition: writes do not take it.
    let error = put_if("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (501, "NotImplemented"));
    // CompleteMultipartUpload takes the same conditions.
    let upload = s3.create_multipart_upload().bucket("cond").key("k").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let parts = common::upload_parts(s3, "cond", "k", id, &[b"p".to_vec()]).await;
    let completion = |if_match: Option<&str>, if_none_match: Option<&str>| {
        s3.complete_multipart_upload()
            .bucket("cond")
            .key("k")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts.clone())).build())
            .set_if_match(if_match.map(str::to_owned))
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
    };
    assert_eq!(status(&completion(None, Some("*")).await.unwrap_err()), 412);
    let current = s3.head_object().bucket("cond").key("k").send().await.unwrap().e_tag().unwrap().to_owned();
    assert_eq!(status(&completion(Some("\"ffff\""), None).await.unwrap_err()), 412);
    completion(Some(current.trim_matches('"')), None).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreating_your_bucket_depends_on_its_region() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("legacy").send().await.unwrap();
    put(s3, "legacy", "kept", b"x").await;
    s3.put_bucket_tagging()
        .bucket("legacy")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(aws_sdk_s3::types::Tag::builder().key("t").value("v").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // us-east-1: 200, and nothing is reset.
    s3.create_bucket().bucket("legacy").send().await.unwrap();
    let listed = s3.list_objects_v2().bucket("legacy").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
    assert_eq!(s3.get_bucket_tagging().bucket("legacy").send().await.unwrap().tag_set().len(), 1);
    server.stop().await;

    let server = TestServer::start_in("eu-west-1", Vec::new(), None).await;
    let s3 = &server.client;
    let eu = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    s3.create_bucket().bucket("regional").create_bucket_configuration(eu.clone()).send().await.unwrap();
    let error = s3.create_bucket().bucket("regional").create_bucket_configuration(eu).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (409, "BucketAlreadyOwnedByYou"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_paginates() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    for name in ["apple", "apricot", "banana", "blueberry", "cherry"] {
        s3.create_bucket().bucket(name).send().await.unwrap();
    }
    let mut names = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = s3.list_buckets().max_buckets(2).set_continuation_token(token).send().await.unwrap();
        names.extend(page.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
        pages += 1;
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(names, ["apple", "apricot", "banana", "blueberry", "cherry"]);
    assert_eq!(pages, 3);
    let prefixed = s3.list_buckets().prefix("b").send().await.unwrap();
    let names: Vec<_> = prefixed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["banana", "blueberry"]);
    assert_eq!(prefixed.prefix(), Some("b"));
    assert!(prefixed.continuation_token().is_none());
    let here = s3.list_buckets().bucket_region("us-east-1").send().await.unwrap();
    assert_eq!(here.buckets().len(), 5);
    let elsewhere = s3.list_buckets().bucket_region("eu-west-1").send().await.unwrap();
    assert!(elsewhere.buckets().is_empty());
    let error = s3.list_buckets().max_buckets(0).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");
    let error = s3.list_buckets().max_buckets(10_001).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_follow_aws_on_edge_parameters() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("edges").send().await.unwrap();
    for key in ["a/1", "a/2", "b"] {
        put(s3, "edges", key, b"x").await;
    }
    // max-keys=0: nothing, and not truncated.
    let none = s3.list_objects_v2().bucket("edges").max_keys(0).send().await.unwrap();
    assert!(none.contents().is_empty());
    assert_eq!((none.is_truncated(), none.key_count()), (Some(false), Some(0)));
    let none = s3.list_objects().bucket("edges").max_keys(0).send().await.unwrap();
    assert!(none.contents().is_empty());
    assert_eq!(none.is_truncated(), Some(false));
    let none = s3.list_object_versions().bucket("edges").max_keys(0).send().await.unwrap();
    assert!(none.versions().is_empty());
    assert_eq!(none.is_truncated(), Some(false));
    let upload = s3.create_multipart_upload().bucket("edges").key("up").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    common::upload_parts(s3, "edges", "up", id, &[b"p".to_vec()]).await;
    let none = s3.list_multipart_uploads().bucket("edges").max_uploads(0).send().await.unwrap();
    assert!(none.uploads().is_empty());
    assert_eq!(none.is_truncated(), Some(false));
    let none = s3.list_parts().bucket("edges").key("up").upload_id(id).max_parts(0).send().await.unwrap();
    assert!(none.parts().is_empty());
    assert_eq!(none.is_truncated(), Some(false));
    s3.abort_multipart_upload().bucket("edges").key("up").upload_id(id).send().await.unwrap();
    // An empty delimiter is no delimiter, and is not echoed.
    let all = s3.list_objects_v2().bucket("edges").delimiter("").send().await.unwrap();
    assert_eq!(all.contents().len(), 3);
    assert!(all.common_prefixes().is_empty());
    assert_eq!(all.delimiter(), None);
    let all = s3.list_objects().bucket("edges").delimiter("").send().await.unwrap();
    assert_eq!((all.contents().len(), all.delimiter()), (3, None));
    // v1 echoes Marker, empty when none was given.
    let body = signed_body(server.addr, "edges", "").await;
    assert!(body.contains("<Marker></Marker>"), "{body}");
    let after = s3.list_objects().bucket("edges").marker("a/1").send().await.unwrap();
    assert_eq!(after.marker(), Some("a/1"));
    // Keys with control characters round-trip without encoding-type.
    let odd = "ctl\u{1}\u{7}\u{1f}key\ttab";
    put(s3, "edges", odd, b"x").await;
    let listed = s3.list_objects_v2().bucket("edges").prefix("ctl").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [odd]);
    let listed = s3.list_objects().bucket("edges").prefix("ctl").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), [odd]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_no_such_bucket_before_anything_else() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let error = s3.delete_object().bucket("nowhere").key("k").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (404, "NoSuchBucket"));
    let error = s3.get_bucket_acl().bucket("nowhere").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");
    let error = s3.get_bucket_notification_configuration().bucket("nowhere").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket", "an operation Cairn does not implement");
    let error = s3.get_object_acl().bucket("nowhere").key("k").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");
    s3.create_bucket().bucket("here").send().await.unwrap();
    let error = s3.get_object_acl().bucket("here").key("k").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey");
    put(s3, "here", "k", b"x").await;
    s3.get_object_acl().bucket("here").key("k").send().await.unwrap();
    // Configurations a bucket cannot have yet read as AWS's "none", and delete as no-ops.
    assert_eq!(code(&s3.get_bucket_policy().bucket("here").send().await.unwrap_err()), "NoSuchBucketPolicy");
    assert_eq!(code(&s3.get_bucket_cors().bucket("here").send().await.unwrap_err()), "NoSuchCORSConfiguration");
    let error = s3.get_bucket_lifecycle_configuration().bucket("here").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchLifecycleConfiguration");
    s3.delete_bucket_cors().bucket("here").send().await.unwrap();
    s3.delete_bucket_policy().bucket("here").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_policy().bucket("nowhere").send().await.unwrap_err()), "NoSuchBucket");
    let error = s3.get_object_retention().bucket("here").key("k").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    let error = s3.get_object_retention().bucket("here").key("gone").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchKey");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_without_length_is_stored_whole() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("chunked").send().await.unwrap();
    let data = body(9, 300_000);
    let presigned = s3.put_object().bucket("chunked").key("streamed").presigned(hour()).await.unwrap();
    let uri = path_and_query(presigned.uri());
    let addr = server.addr;
    let mut request =
        format!("PUT {uri} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for piece in data.chunks(70_000) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (code, _, body) = tokio::task::spawn_blocking(move || common::raw_exchange(addr, &request)).await.unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let got = s3.get_object().bucket("chunked").key("streamed").send().await.unwrap();
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
    // A PUT that frames no body at all (neither length nor chunks) is MissingContentLength.
    let presigned = s3.put_object().bucket("chunked").key("nothing").presigned(hour()).await.unwrap();
    let uri = path_and_query(presigned.uri());
    let request = format!("PUT {uri} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
    let (code, _, body) = tokio::task::spawn_blocking(move || common::raw_exchange(addr, &request)).await.unwrap();
    assert_eq!(code, 411);
    assert!(String::from_utf8_lossy(&body).contains("MissingContentLength"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_content_encoding_are_kept_as_aws_keeps_them() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("meta").send().await.unwrap();
    // A value in RFC 2047 encoded words comes back as sent; so does plain ASCII.
    let encoded = "=?UTF-8?B?w6lsw6hwaGFudA==?=";
    let sent = s3.put_object().bucket("meta").key("k").metadata("word", encoded).metadata("plain", "a b");
    sent.body(ByteStream::from_static(b"x")).send().await.unwrap();
    let got = s3.head_object().bucket("meta").key("k").send().await.unwrap();
    let metadata = got.metadata().unwrap();
    assert_eq!(metadata["word"], encoded);
    assert_eq!(metadata["plain"], "a b");
    // Non-ASCII UTF-8 sent raw is stored and returned as RFC 2047 encoded words (AWS's
    // documented mail-safe form), which decode to what was sent.
    let presigned = s3.put_object().bucket("meta").key("utf8").presigned(hour()).await.unwrap();
    let mut request = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 1\r\nx-amz-meta-name: ",
        path_and_query(presigned.uri()),
        server.addr
    )
    .into_bytes();
    request.extend_from_slice("Zoë".as_bytes());
    request.extend_from_slice(b"\r\n\r\nx");
    let addr = server.addr;
    let (code, _, _) = tokio::task::spawn_blocking(move || common::raw_exchange(addr, &request)).await.unwrap();
    assert_eq!(code, 200);
    let got = s3.head_object().bucket("meta").key("utf8").send().await.unwrap();
    assert_eq!(got.metadata().unwrap()["name"], "=?UTF-8?B?Wm/Dqw==?=");
    // aws-chunked is the request's framing, not the object's encoding.
    let gz = s3.put_object().bucket("meta").key("gz").content_encoding("gzip, aws-chunked");
    gz.body(ByteStream::from_static(b"x")).send().await.unwrap();
    let got = s3.head_object().bucket("meta").key("gz").send().await.unwrap();
    assert_eq!(got.content_encoding(), Some("gzip"));
    let only = s3.put_object().bucket("meta").key("plain").content_encoding("aws-chunked");
    only.body(ByteStream::from_static(b"x")).send().await.unwrap();
    let got = s3.head_object().bucket("meta").key("plain").send().await.unwrap();
    assert_eq!(got.content_encoding(), None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_signs_a_request_without_x_amz_date() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("dated").send().await.unwrap();
    put(s3, "dated", "k", b"signed by date").await;
    let now = time::OffsetDateTime::now_utc();
    let date = now.format(&time::format_description::well_known::Rfc2822).unwrap().replace("+0000", "GMT");
    let amz = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let host = server.addr.to_string();
    // Signed over `date`, with the time of the Date header: accepted.
    let headers = sigv4::sign("GET", "/dated/k", &host, &[("date", &date)], &amz, "UNSIGNED-PAYLOAD");
    let (code, _, body) = raw(server.addr, "GET", "/dated/k".into(), headers.clone(), Vec::new()).await;
    assert_eq!((code, body.as_slice()), (200, &b"signed by date"[..]));
    // x-amz-date wins over Date: a bad x-amz-date beside a good Date is refused.
    let mut both = headers.clone();
    both.push(("x-amz-date", "yesterday".to_owned()));
    let (code, _, body) = raw(server.addr, "GET", "/dated/k".into(), both, Vec::new()).await;
    assert_eq!(code, 403);
    assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));
    // Neither: refused as AWS does.
    let undated: Vec<_> = headers.iter().filter(|(n, _)| *n != "date").cloned().collect();
    let (code, _, body) = raw(server.addr, "GET", "/dated/k".into(), undated, Vec::new()).await;
    assert_eq!(code, 403);
    assert!(String::from_utf8_lossy(&body).contains("valid Date or x-amz-date"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_what_its_headers_say_is_refused() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("short").send().await.unwrap();
    let addr = server.addr;
    // Content-Length below the body, with the whole body's Content-MD5: the stored bytes would be
    // cut short, so the digest is BadDigest and nothing is stored.
    let md5 = "jXd/OF09/siBXSD3SWAm3A=="; // base64 of the MD5 of "data"
    let presigned = s3.put_object().bucket("short").key("cut").presigned(hour()).await.unwrap();
    let request = format!(
        "PUT {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 3\r\nContent-MD5: {md5}\r\n\r\ndata",
        path_and_query(presigned.uri())
    );
    let (code, _, body) =
        tokio::task::spawn_blocking(move || common::raw_exchange(addr, request.as_bytes())).await.unwrap();
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("<Code>BadDigest</Code>"), "{}", String::from_utf8_lossy(&body));
    // A signed payload hash that the (cut) body does not have: XAmzContentSHA256Mismatch.
    let now = time::OffsetDateTime::now_utc();
    let amz = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let mut headers = sigv4::sign(
        "PUT",
        "/short/hashed",
        &addr.to_string(),
        &[("x-amz-date", &amz)],
        &amz,
        &sigv4::hex_sha256(b"data"),
    );
    headers.push(("Content-Length", "3".to_owned()));
    let head: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let request = format!("PUT /short/hashed HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head}\r\ndata");
    let (code, _, body) =
        tokio::task::spawn_blocking(move || common::raw_exchange(addr, request.as_bytes())).await.unwrap();
    assert_eq!(code, 400);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("<Code>XAmzContentSHA256Mismatch</Code>"), "{text}");
    let listed = s3.list_objects_v2().bucket("short").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing was stored");
    server.stop().await;
}

/// A minimal SigV4 header signer (what the SDK will not do: sign with `Date` and no
/// `x-amz-date`), for UNSIGNED-PAYLOAD requests with no query.
pub(crate) mod sigv4 {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The headers to send: `extra` (lower-case names), host, x-amz-content-sha256 (`payload`:
    /// the body's SHA-256 in hex, or UNSIGNED-PAYLOAD) and Authorization, signed at `amz_date`
    /// (`yyyymmddThhmmssZ`).
    pub fn hex_sha256(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    /// The signature of a browser form's base64 `policy` for the scope of day `day` (`yyyymmdd`).
    pub fn sign_policy(day: &str, policy: &str) -> String {
        hex(&hmac(&signing_key(day), policy))
    }

    fn signing_key(day: &str) -> Vec<u8> {
        let mut key = hmac(format!("AWS4{}", crate::common::SECRET_KEY).as_bytes(), day);
        for part in ["us-east-1", "s3", "aws4_request"] {
            key = hmac(&key, part);
        }
        key
    }

    pub fn sign(
        method: &str,
        path: &str,
        host: &str,
        extra: &[(&'static str, &str)],
        amz_date: &str,
        payload: &str,
    ) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = extra.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        headers.push(("host", host.to_owned()));
        headers.push(("x-amz-content-sha256", payload.to_owned()));
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let signed = signed.join(";");
        let canonical = format!("{method}\n{path}\n\n{canonical_headers}\n{signed}\n{payload}");
        let day = &amz_date[..8];
        let scope = format!("{day}/us-east-1/s3/aws4_request");
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
        let signature = hex(&hmac(&signing_key(day), &to_sign));
        headers.retain(|(n, _)| *n != "host");
        headers.push((
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                crate::common::ACCESS_KEY
            ),
        ));
        headers
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_bucket_owners_are_checked() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("owned").send().await.unwrap();
    put(s3, "owned", "k", b"x").await;
    let owner = s3.list_buckets().send().await.unwrap().owner().and_then(|o| o.id()).unwrap().to_owned();
    // The owner by canonical id or account name: allowed; anyone else: 403.
    for expected in [owner.as_str(), "root"] {
        s3.get_object().bucket("owned").key("k").expected_bucket_owner(expected).send().await.unwrap();
    }
    let error = s3.get_object().bucket("owned").key("k").expected_bucket_owner("111122223333").send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");
    let error = s3.list_objects_v2().bucket("owned").expected_bucket_owner("someone").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (403, "AccessDenied"));
    // A copy's source is held to x-amz-source-expected-bucket-owner.
    let copy = || s3.copy_object().bucket("owned").key("copy").copy_source("owned/k");
    copy().expected_source_bucket_owner(&owner).send().await.unwrap();
    let error = copy().expected_source_bucket_owner("111122223333").send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    server.stop().await;
}
