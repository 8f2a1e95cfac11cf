//! Lifecycle end to end with aws-sdk-s3: configurations and AWS's errors, `x-amz-expiration`,
//! and the worker on a one-second day: expiration, noncurrent expiration, expired delete
//! markers, transitions, aborted uploads, Object Lock holding a version, across a restart.

use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockLegalHoldStatus, StorageClass, Tag, Transition, TransitionStorageClass, VersioningConfiguration,
};

use crate::common::{TestServer, code, status};

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

fn expire_after(days: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(days).build()
}

fn config(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: Vec<u8>) -> Option<String> {
    let put = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(data)).send().await.unwrap();
    put.version_id().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_configurations_are_validated_and_kept_as_aws_does() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let error = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (404, "NoSuchLifecycleConfiguration"));
    let tagged = LifecycleRuleFilter::builder()
        .and(
            LifecycleRuleAndOperator::builder()
                .prefix("docs/")
                .tags(Tag::builder().key("class").value("temp").build().unwrap())
                .object_size_greater_than(10)
                .build(),
        )
        .build();
    let rules = vec![
        rule("logs", "logs/").expiration(expire_after(7)).build().unwrap(),
        LifecycleRule::builder()
            .id("docs")
            .status(ExpirationStatus::Disabled)
            .filter(tagged)
            .transitions(Transition::builder().days(30).storage_class(TransitionStorageClass::StandardIa).build())
            .transitions(Transition::builder().days(90).storage_class(TransitionStorageClass::Glacier).build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder().noncurrent_days(5).newer_noncurrent_versions(2).build(),
            )
            .build()
            .unwrap(),
        rule("uploads", "")
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(3).build(),
            )
            .build()
            .unwrap(),
    ];
    s3.put_bucket_lifecycle_configuration()
        .bucket("rules")
        .lifecycle_configuration(config(rules.clone()))
        .send()
        .await
        .unwrap();
    let got = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap();
    assert_eq!(got.rules(), &rules[..], "given back as sent");

    // x-amz-expiration on writes and reads: the next midnight UTC after a week, and the rule.
    let put = s3.put_object().bucket("rules").key("logs/today").body(ByteStream::from_static(b"x")).send().await;
    let expiration = put.unwrap().expiration().unwrap().to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let due = (now + 7 * 86_400).div_ceil(86_400) * 86_400;
    let date = DateTime::from_secs(due as i64).fmt(aws_sdk_s3::primitives::DateTimeFormat::HttpDate).unwrap();
    assert_eq!(expiration, format!("expiry-date=\"{date}\", rule-id=\"logs\""));
    let head = s3.head_object().bucket("rules").key("logs/today").send().await.unwrap();
    assert_eq!(head.expiration(), Some(expiration.as_str()));
    let get = s3.get_object().bucket("rules").key("logs/today").send().await.unwrap();
    assert_eq!(get.expiration(), Some(expiration.as_str()));
    let other = s3.put_object().bucket("rules").key("other").body(ByteStream::from_static(b"x")).send().await;
    assert_eq!(other.unwrap().expiration(), None, "no rule takes it");

    s3.delete_bucket_lifecycle().bucket("rules").send().await.unwrap();
    let error = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchLifecycleConfiguration");
    s3.delete_bucket_lifecycle().bucket("rules").send().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_configurations_with_errors_are_refused() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("rules").send().await.unwrap();
    let midday = DateTime::from_secs(1_900_000_000 / 86_400 * 86_400 + 43_200);
    let tag = || Tag::builder().key("k").value("v").build().unwrap();
    let tag_filter = || LifecycleRuleFilter::builder().tag(tag()).build();
    let cases: Vec<(Vec<LifecycleRule>, &str)> = vec![
        (
            vec![
                rule("a", "").expiration(expire_after(1)).build().unwrap(),
                rule("a", "x").expiration(expire_after(2)).build().unwrap(),
            ],
            "InvalidArgument",
        ),
        (vec![rule("zero", "").expiration(expire_after(0)).build().unwrap()], "InvalidArgument"),
        (
            vec![rule("noon", "").expiration(LifecycleExpiration::builder().date(midday).build()).build().unwrap()],
            "InvalidArgument",
        ),
        (
            vec![
                rule("both", "")
                    .expiration(LifecycleExpiration::builder().days(1).expired_object_delete_marker(true).build())
                    .build()
                    .unwrap(),
            ],
            "MalformedXML",
        ),
        (vec![rule("idle", "").build().unwrap()], "InvalidRequest"),
        (
            vec![
                rule("ia", "")
                    .transitions(
                        Transition::builder().days(10).storage_class(TransitionStorageClass::StandardIa).build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                rule("late", "")
                    .expiration(expire_after(10))
                    .transitions(Transition::builder().days(20).storage_class(TransitionStorageClass::Glacier).build())
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                LifecycleRule::builder()
                    .id("marker")
                    .status(ExpirationStatus::Enabled)
                    .filter(tag_filter())
                    .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                LifecycleRule::builder()
                    .id("abort")
                    .status(ExpirationStatus::Enabled)
                    .filter(tag_filter())
                    .abort_incomplete_multipart_upload(
                        AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
        ),
        (
            vec![
                rule("newer", "")
                    .noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(1)
                            .newer_noncurrent_versions(101)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            "InvalidArgument",
        ),
        (
            vec![rule("status", "").status(ExpirationStatus::from("On")).expiration(expire_after(1)).build().unwrap()],
            "MalformedXML",
        ),
        (
            vec![
                LifecycleRule::builder()
                    .id("nofilter")
                    .status(ExpirationStatus::Enabled)
                    .expiration(expire_after(1))
                    .build()
                    .unwrap(),
            ],
            "MalformedXML",
        ),
        (vec![rule("id".repeat(128).as_str(), "").expiration(expire_after(1)).build().unwrap()], "InvalidArgument"),
        (
            (0..1001).map(|n| rule(&format!("r{n}"), "").expiration(expire_after(1)).build().unwrap()).collect(),
            "InvalidRequest",
        ),
    ];
    for (rules, expected) in cases {
        let first = rules[0].id().unwrap_or("").chars().take(12).collect::<String>();
        let error = s3
            .put_bucket_lifecycle_configuration()
            .bucket("rules")
            .lifecycle_configuration(config(rules))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), expected, "{first}");
    }
    let error = s3.get_bucket_lifecycle_configuration().bucket("rules").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchLifecycleConfiguration", "nothing was stored");
    server.stop().await;
}

/// Waits until `$check` (an expression that may await) holds: every 200 ms for at most 30 s
/// (the worker scans every second of a one-second day).
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let mut held = false;
        for _ in 0..150 {
            if $check {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(held, "{} did not happen within 30 s", $what);
    }};
}

async fn versions(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> usize {
    let listed = s3.list_object_versions().bucket(bucket).prefix(prefix).send().await.unwrap();
    listed.versions().len() + listed.delete_markers().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_applies_the_rules_on_a_short_day() {
    let mut server = TestServer::start_with_lifecycle_day(1).await;
    let s3 = server.client.clone();
    s3.create_bucket().bucket("plain").send().await.unwrap();
    for key in ["logs/a", "logs/b", "keep/c"] {
        put(&s3, "plain", key, crate::common::body(3, 1024 * 1024)).await;
    }
    put(&s3, "plain", "cold/big", crate::common::body(4, 200 * 1024)).await;
    put(&s3, "plain", "cold/small", vec![1; 1024]).await;
    let upload = s3.create_multipart_upload().bucket("plain").key("logs/upload").send().await.unwrap();
    let live_before = server.handle.as_ref().unwrap().engine().space().live_bytes;
    let to_glacier = Transition::builder().days(0).storage_class(TransitionStorageClass::Glacier).build();
    let rules = vec![
        rule("logs", "logs/")
            .expiration(expire_after(1))
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()
            .unwrap(),
        rule("cold", "cold/").transitions(to_glacier).build().unwrap(),
    ];
    let set = |bucket: &'static str, rules: Vec<LifecycleRule>| {
        s3.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(config(rules)).send()
    };
    set("plain", rules).await.unwrap();
    // A restart while the rules are due: the worker keeps no state, it finds them again.
    server.restart().await;
    let s3 = server.client.clone();
    eventually!("the expiration of logs/", versions(&s3, "plain", "logs/").await == 0);
    // The upload started after the objects: its day may end a scan later.
    eventually!(
        format!("the abort of {:?}", upload.upload_id()),
        s3.list_multipart_uploads().bucket("plain").send().await.unwrap().uploads().is_empty()
    );
    assert_eq!(versions(&s3, "plain", "keep/").await, 1);
    let live_after = server.handle.as_ref().unwrap().engine().space().live_bytes;
    assert!(
        live_after + 2 * 1024 * 1024 <= live_before,
        "the expired bytes are no longer live: {live_before} -> {live_after}"
    );
    eventually!(
        "the transition of cold/big",
        s3.head_object().bucket("plain").key("cold/big").send().await.unwrap().storage_class()
            == Some(&StorageClass::Glacier)
    );
    let error = s3.get_object().bucket("plain").key("cold/big").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidObjectState");
    let small = s3.head_object().bucket("plain").key("cold/small").send().await.unwrap();
    assert_eq!(small.storage_class(), None, "under 128 KiB: not transitioned");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noncurrent_versions_and_delete_markers_expire_unless_locked() {
    let server = TestServer::start_with_lifecycle_day(1).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("versioned").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("versioned").versioning_configuration(enabled).send().await.unwrap();
    // Four versions of one key: the newest noncurrent one is kept (NewerNoncurrentVersions 1).
    let mut ids = Vec::new();
    for n in 0..4u8 {
        ids.push(put(s3, "versioned", "many", vec![n; 100]).await.unwrap());
    }
    // A key deleted: its only object version goes, then the marker left alone.
    put(s3, "versioned", "gone/x", vec![1; 100]).await;
    s3.delete_object().bucket("versioned").key("gone/x").send().await.unwrap();
    // A version on legal hold stays noncurrent for as long as the hold.
    let held = s3
        .put_object()
        .bucket("versioned")
        .key("held")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"held"))
        .send()
        .await
        .unwrap();
    put(s3, "versioned", "held", b"newer".to_vec()).await;
    let noncurrent = NoncurrentVersionExpiration::builder().noncurrent_days(1).newer_noncurrent_versions(1).build();
    let marker = LifecycleExpiration::builder().expired_object_delete_marker(true).build();
    let rules = vec![
        rule("many", "many").noncurrent_version_expiration(noncurrent).build().unwrap(),
        rule("gone", "gone/")
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
            .expiration(marker)
            .build()
            .unwrap(),
        rule("held", "held")
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
            .build()
            .unwrap(),
    ];
    s3.put_bucket_lifecycle_configuration()
        .bucket("versioned")
        .lifecycle_configuration(config(rules))
        .send()
        .await
        .unwrap();
    eventually!("noncurrent expiration of many", versions(s3, "versioned", "many").await == 2);
    let listed = s3.list_object_versions().bucket("versioned").prefix("many").send().await.unwrap();
    let kept: Vec<_> = listed.versions().iter().filter_map(|v| v.version_id()).collect();
    assert_eq!(kept, [ids[3].as_str(), ids[2].as_str()], "the current one and the newest noncurrent one");
    eventually!("the object and then the marker of gone/x", versions(s3, "versioned", "gone/").await == 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let id = held.version_id().unwrap();
    s3.head_object().bucket("versioned").key("held").version_id(id).send().await.unwrap();
    assert_eq!(versions(s3, "versioned", "held").await, 2, "the legal hold keeps it");
    server.stop().await;
}
