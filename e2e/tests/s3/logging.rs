//! Server access logs end to end with aws-sdk-s3: PutBucketLogging / GetBucketLogging and the
//! errors AWS gives, and records delivered into the target bucket field by field, on a
//! one-second delivery interval; a bucket that logs into itself does not loop.

use std::time::Duration;

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLoggingStatus, BucketLogsPermission, Grantee, LoggingEnabled, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PartitionDateSource, PartitionedPrefix, SimplePrefix, TargetGrant,
    TargetObjectKeyFormat, Type,
};

use crate::common::{TestServer, code, status};

/// A target bucket policy that lets the logging service deliver for `source`, as AWS documents.
fn delivery_policy(target: &str, source: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S3ServerAccessLogsPolicy","Effect":"Allow",
        "Principal":{{"Service":"logging.s3.amazonaws.com"}},"Action":"s3:PutObject",
        "Resource":"arn:aws:s3:::{target}/*","Condition":{{"ArnLike":{{"aws:SourceArn":"arn:aws:s3:::{source}"}},
        "StringEquals":{{"aws:SourceAccount":"{}"}}}}}}]}}"#,
        cairn_server::account::account_id(cairn_server::account::ROOT_ACCOUNT)
    )
}

fn enabled(target: &str, prefix: &str) -> aws_sdk_s3::types::builders::LoggingEnabledBuilder {
    LoggingEnabled::builder().target_bucket(target).target_prefix(prefix)
}

fn status_of(enabled: Option<LoggingEnabled>) -> BucketLoggingStatus {
    BucketLoggingStatus::builder().set_logging_enabled(enabled).build()
}

async fn put_logging(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    enabled: Option<LoggingEnabled>,
) -> Result<(), aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_bucket_logging::PutBucketLoggingError>> {
    s3.put_bucket_logging().bucket(bucket).bucket_logging_status(status_of(enabled)).send().await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_logging_is_configured_and_checked_as_aws_does() {
    let alice = cairn_server::User {
        name: "alice".into(),
        access_key: "ALICEKEY".into(),
        secret_key: "alice-secret".into(),
        ..cairn_server::User::default()
    };
    let server = TestServer::start_with(vec![alice], None).await;
    let s3 = &server.client;
    for bucket in ["source", "logs", "acl-logs"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let got = s3.get_bucket_logging().bucket("source").send().await.unwrap();
    assert!(got.logging_enabled().is_none(), "off until configured");
    let error = s3.get_bucket_logging().bucket("missing").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");

    // AWS's refusals of a target.
    let refused = |error: &aws_sdk_s3::error::SdkError<_, _>| (status(error), code(error));
    let invalid = (400, "InvalidTargetBucketForLogging".to_owned());
    let error = put_logging(s3, "source", Some(enabled("missing", "p/").build().unwrap())).await.unwrap_err();
    assert_eq!(refused(&error), invalid, "a target that does not exist");
    let theirs = crate::common::client(server.addr, "ALICEKEY", "alice-secret");
    theirs.create_bucket().bucket("alices").send().await.unwrap();
    let error = put_logging(s3, "source", Some(enabled("alices", "p/").build().unwrap())).await.unwrap_err();
    assert_eq!(refused(&error), invalid, "another owner's target");
    // This endpoint makes buckets in its own region only; another region's comes from the store.
    server.handle.as_ref().unwrap().engine().create_bucket("far", "eu-west-1").unwrap();
    let error = put_logging(s3, "source", Some(enabled("far", "p/").build().unwrap())).await.unwrap_err();
    assert_eq!(refused(&error), invalid, "another region's target");
    let grant = TargetGrant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::Group)
                .uri("http://acs.amazonaws.com/groups/global/AllUsers")
                .build()
                .unwrap(),
        )
        .permission(BucketLogsPermission::Read)
        .build();
    let error = put_logging(s3, "source", Some(enabled("logs", "p/").target_grants(grant.clone()).build().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "AccessControlListNotSupported", "grants on a bucket that enforces ownership");
    let both = TargetObjectKeyFormat::builder()
        .simple_prefix(SimplePrefix::builder().build())
        .partitioned_prefix(PartitionedPrefix::builder().build())
        .build();
    let error = put_logging(s3, "source", Some(enabled("logs", "p/").target_object_key_format(both).build().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");

    // A target whose ACLs count must let the log-delivery group in (its ACL or its policy).
    let rule =
        OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerPreferred).build().unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    s3.put_bucket_ownership_controls().bucket("acl-logs").ownership_controls(controls).send().await.unwrap();
    let with_grant = enabled("acl-logs", "acl/").target_grants(grant).build().unwrap();
    let error = put_logging(s3, "source", Some(with_grant.clone())).await.unwrap_err();
    assert_eq!(refused(&error), invalid, "no log-delivery grant");
    s3.put_bucket_acl().bucket("acl-logs").acl(BucketCannedAcl::from("log-delivery-write")).send().await.unwrap();
    put_logging(s3, "source", Some(with_grant.clone())).await.unwrap();
    let got = s3.get_bucket_logging().bucket("source").send().await.unwrap();
    assert_eq!(got.logging_enabled(), Some(&with_grant), "given back as sent");

    // A partitioned key format is kept as given; an empty status turns logging off.
    let partitioned = TargetObjectKeyFormat::builder()
        .partitioned_prefix(
            PartitionedPrefix::builder().partition_date_source(PartitionDateSource::DeliveryTime).build(),
        )
        .build();
    let by_delivery = enabled("logs", "").target_object_key_format(partitioned).build().unwrap();
    put_logging(s3, "source", Some(by_delivery.clone())).await.unwrap();
    let got = s3.get_bucket_logging().bucket("source").send().await.unwrap();
    assert_eq!(got.logging_enabled(), Some(&by_delivery));
    put_logging(s3, "source", None).await.unwrap();
    assert!(s3.get_bucket_logging().bucket("source").send().await.unwrap().logging_enabled().is_none());
}

macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let mut held = false;
        for _ in 0..100 {
            if $check {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(held, "{} did not happen within 20 s", $what);
    }};
}

/// A record's fields: space-separated, quoted ones whole (with `\"` inside).
fn fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = 0;
            let bytes = quoted.as_bytes();
            while bytes[end] != b'"' || bytes[end - 1] == b'\\' {
                end += 1;
            }
            fields.push(quoted[..end].to_owned());
            rest = quoted[end + 1..].trim_start_matches(' ');
        } else if let Some(at) = rest.find(' ') {
            if rest.starts_with('[') {
                let close = rest.find(']').unwrap();
                fields.push(rest[..=close].to_owned());
                rest = rest[close + 1..].trim_start_matches(' ');
                continue;
            }
            fields.push(rest[..at].to_owned());
            rest = &rest[at + 1..];
        } else {
            fields.push(rest.to_owned());
            rest = "";
        }
    }
    fields
}

/// Every record delivered under `prefix` of `bucket`, with the log objects' keys.
async fn delivered(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    let mut keys = Vec::new();
    let mut records = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_owned();
        let got = s3.get_object().bucket(bucket).key(&key).send().await.unwrap();
        assert_eq!(got.content_type(), Some("text/plain"));
        let body = got.body.collect().await.unwrap().into_bytes();
        records.extend(std::str::from_utf8(&body).unwrap().lines().map(fields));
        keys.push(key);
    }
    (keys, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_delivered_as_aws_log_records() {
    let server = TestServer::start_with_log_delivery(1).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.create_bucket().bucket("logs").send().await.unwrap();
    s3.put_bucket_policy().bucket("logs").policy(delivery_policy("logs", "photos")).send().await.unwrap();
    let simple = TargetObjectKeyFormat::builder().simple_prefix(SimplePrefix::builder().build()).build();
    put_logging(s3, "photos", Some(enabled("logs", "access/").target_object_key_format(simple).build().unwrap()))
        .await
        .unwrap();

    let put = s3
        .put_object()
        .bucket("photos")
        .key("cats/tom 1.jpg")
        .body(ByteStream::from_static(b"meow!"))
        .send()
        .await
        .unwrap();
    let get = s3.get_object().bucket("photos").key("cats/tom 1.jpg").range("bytes=1-2").send().await.unwrap();
    let get_id = get.request_id().unwrap().to_owned();
    assert_eq!(get.body.collect().await.unwrap().into_bytes().as_ref(), b"eo");
    let missing = s3.head_object().bucket("photos").key("nope").send().await.unwrap_err();
    let listed = s3.list_objects_v2().bucket("photos").prefix("cats/").send().await.unwrap();
    let week = PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let presigned = s3.get_object().bucket("photos").key("cats/tom 1.jpg").presigned(week).await.unwrap();
    let anonymous = format!("http://{}/photos/cats/tom%201.jpg", server.addr);
    let (presigned_status, _, _) =
        crate::common::raw_http(server.addr, "GET", &crate::common::path_and_query(presigned.uri()), &[], b"");
    let (anonymous_status, _, _) =
        crate::common::raw_http(server.addr, "GET", &crate::common::path_and_query(&anonymous), &[], b"");
    assert_eq!((presigned_status, anonymous_status), (200, 403));

    let mut records = Vec::new();
    let mut keys = Vec::new();
    eventually!("six records delivered", {
        (keys, records) = delivered(s3, "logs", "access/").await;
        records.len() >= 6
    });
    let owner = cairn_server::account::canonical_id(cairn_server::account::ROOT_ACCOUNT);
    for key in &keys {
        let name = key.strip_prefix("access/").unwrap();
        // [YYYY]-[MM]-[DD]-[hh]-[mm]-[ss]-[UniqueString]
        assert_eq!(name.len(), 19 + 1 + 16, "{key}");
        assert!(
            name.bytes().enumerate().all(|(i, b)| if [4, 7, 10, 13, 16, 19].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }),
            "{key}"
        );
    }
    for record in &records {
        assert_eq!(record.len(), 27, "{record:?}");
        assert_eq!((record[0].as_str(), record[1].as_str()), (owner.as_str(), "photos"));
        assert!(record[2].starts_with('[') && record[2].ends_with(" +0000]"), "{record:?}");
        assert_eq!(record[3], "127.0.0.1");
    }
    let by_id =
        |id: &str| records.iter().find(|r| r[5] == id).unwrap_or_else(|| panic!("no record of {id}: {records:?}"));
    let put_record = by_id(put.request_id().unwrap());
    assert_eq!(&put_record[4], &owner, "the requester");
    assert_eq!(
        &put_record[6..12],
        [
            "REST.PUT.OBJECT",
            "cats/tom%201.jpg",
            "PUT /photos/cats/tom%201.jpg?x-id=PutObject HTTP/1.1",
            "200",
            "-",
            "-"
        ]
    );
    assert_eq!(put_record[12], "5", "the object's size");
    assert_eq!((put_record[19].as_str(), put_record[21].as_str()), ("SigV4", "AuthHeader"));
    assert!(put_record[16].starts_with("aws-sdk-rust"), "{put_record:?}");
    let get_record = by_id(&get_id);
    assert_eq!(&get_record[6..13], ["REST.GET.OBJECT", "cats/tom%201.jpg", &get_record[8], "206", "-", "2", "5"]);
    let head_record = by_id(missing.raw_response().unwrap().headers().get("x-amz-request-id").unwrap());
    assert_eq!(
        (head_record[6].as_str(), head_record[9].as_str(), head_record[10].as_str()),
        ("REST.HEAD.OBJECT", "404", "NoSuchKey")
    );
    let list_record = by_id(listed.request_id().unwrap());
    assert_eq!((list_record[6].as_str(), list_record[7].as_str()), ("REST.GET.BUCKET", "-"));
    let presigned_record = records.iter().find(|r| r[21] == "QueryString").expect("the presigned GET");
    assert_eq!((presigned_record[9].as_str(), presigned_record[4].as_str()), ("200", owner.as_str()));
    let anonymous_record = records.iter().find(|r| r[4] == "-").expect("the anonymous GET");
    assert_eq!(&anonymous_record[9..11], ["403", "AccessDenied"]);
    assert_eq!((anonymous_record[19].as_str(), anonymous_record[21].as_str()), ("-", "-"));
    assert!(records.iter().all(|r| r[18].len() > 8 && r[26] == "-"), "host ids; no source region");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_logs_into_itself_does_not_loop() {
    let server = TestServer::start_with_log_delivery(1).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("selfie").send().await.unwrap();
    s3.put_bucket_policy().bucket("selfie").policy(delivery_policy("selfie", "selfie")).send().await.unwrap();
    put_logging(s3, "selfie", Some(enabled("selfie", "logs/").build().unwrap())).await.unwrap();
    for n in 0..3 {
        s3.put_object().bucket("selfie").key(format!("k{n}")).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    // Looked at through the engine, which no log records: the deliveries make no records.
    let engine = server.handle.as_ref().unwrap().engine().clone();
    let logs = || {
        let query = cairn_engine::ListQuery { prefix: "logs/".into(), max_keys: 1000, ..Default::default() };
        let page = engine.list_objects("selfie", &query).unwrap();
        page.entries()
            .map(|object| object.key.clone())
            .map(|key| {
                String::from_utf8(engine.get_object_bytes("selfie", &key, None).unwrap()).unwrap().lines().count()
            })
            .sum::<usize>()
    };
    eventually!("three records delivered", logs() == 3);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(logs(), 3, "three deliveries later, still only the three requests");
}
