//! Replication between buckets of one server (SRR) end to end with aws-sdk-s3:
//! Put/Get/DeleteBucketReplication and the errors AWS gives; new versions copied with their
//! version id, time, metadata, tags and checksum, PENDING then COMPLETED on the source and
//! REPLICA on the destination; multipart sources copied as multipart; delete markers only
//! where a rule replicates them; no chaining; the highest priority rule deciding; a
//! destination that refuses (FAILED); and another account's bucket, refused until its policy
//! grants s3:ReplicateObject.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus, ReplicationStatus,
    StorageClass, Tag, VersioningConfiguration,
};

use crate::common::{TestServer, client, code, upload_parts};

/// How long a test waits for a replication that should happen.
const REPLICATED_WITHIN: Duration = Duration::from_secs(20);
const ROLE: &str = "arn:aws:iam::123456789012:role/replication";

async fn versioned(s3: &Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    enable_versioning(s3, bucket).await;
}

/// A bucket of the eu-west-1 server.
async fn far_bucket(s3: &Client, bucket: &str, versioning: bool) {
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    s3.create_bucket().bucket(bucket).create_bucket_configuration(location).send().await.unwrap();
    if versioning {
        enable_versioning(s3, bucket).await;
    }
}

async fn enable_versioning(s3: &Client, bucket: &str) {
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
}

fn rule(id: &str, priority: i32, prefix: &str, destination: &str, markers: bool) -> ReplicationRule {
    let markers =
        if markers { DeleteMarkerReplicationStatus::Enabled } else { DeleteMarkerReplicationStatus::Disabled };
    ReplicationRule::builder()
        .id(id)
        .priority(priority)
        .status(ReplicationRuleStatus::Enabled)
        .filter(ReplicationRuleFilter::builder().prefix(prefix).build())
        .delete_marker_replication(DeleteMarkerReplication::builder().status(markers).build())
        .destination(Destination::builder().bucket(format!("arn:aws:s3:::{destination}")).build().unwrap())
        .build()
        .unwrap()
}

fn config(rules: Vec<ReplicationRule>) -> ReplicationConfiguration {
    ReplicationConfiguration::builder().role(ROLE).set_rules(Some(rules)).build().unwrap()
}

async fn replicate(s3: &Client, bucket: &str, rules: Vec<ReplicationRule>) {
    s3.put_bucket_replication().bucket(bucket).replication_configuration(config(rules)).send().await.unwrap();
}

async fn refused(s3: &Client, bucket: &str, rules: Vec<ReplicationRule>) -> String {
    let error = s3.put_bucket_replication().bucket(bucket).replication_configuration(config(rules)).send().await;
    code(&error.unwrap_err())
}

/// The source version's status once it is no longer PENDING.
async fn settled(s3: &Client, bucket: &str, key: &str, version: &str) -> Option<ReplicationStatus> {
    let deadline = tokio::time::Instant::now() + REPLICATED_WITHIN;
    loop {
        let head = s3.head_object().bucket(bucket).key(key).version_id(version).send().await.unwrap();
        let status = head.replication_status().cloned();
        if status != Some(ReplicationStatus::Pending) || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let put = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await.unwrap();
    put.version_id().unwrap().to_owned()
}

/// A completed multipart upload of `parts`.
async fn multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    parts: &[Vec<u8>],
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    let upload = s3.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap();
    let completed = upload_parts(s3, bucket, key, upload.upload_id().unwrap(), parts).await;
    let listed = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    let complete = s3.complete_multipart_upload().bucket(bucket).key(key).upload_id(upload.upload_id().unwrap());
    complete.multipart_upload(listed).send().await.unwrap()
}

/// Waits until `bucket` holds the delete marker `marker` of `key`.
async fn replicated_marker(s3: &Client, bucket: &str, key: &str, marker: &str) {
    let deadline = tokio::time::Instant::now() + REPLICATED_WITHIN;
    loop {
        let versions = s3.list_object_versions().bucket(bucket).prefix(key).send().await.unwrap();
        if versions.delete_markers().iter().any(|m| m.version_id() == Some(marker)) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delete marker was not replicated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_is_checked_as_aws_checks_it() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("plain-src").send().await.unwrap();
    versioned(s3, "dst").await;
    assert_eq!(refused(s3, "plain-src", vec![rule("r", 1, "", "dst", true)]).await, "InvalidRequest");
    versioned(s3, "src").await;
    s3.create_bucket().bucket("plain-dst").send().await.unwrap();
    assert_eq!(refused(s3, "src", vec![rule("r", 1, "", "plain-dst", true)]).await, "InvalidRequest");
    assert_eq!(refused(s3, "src", vec![rule("r", 1, "", "absent", true)]).await, "InvalidRequest");
    assert_eq!(refused(s3, "src", vec![rule("r", 1, "", "src", true)]).await, "InvalidRequest");
    assert_eq!(
        refused(s3, "src", vec![rule("r", 1, "", "dst", true), rule("r", 2, "a", "dst", true)]).await,
        "InvalidArgument",
        "rule ids are unique"
    );
    let tagged = ReplicationRule::builder()
        .priority(1)
        .status(ReplicationRuleStatus::Enabled)
        .filter(ReplicationRuleFilter::builder().tag(Tag::builder().key("k").value("v").build().unwrap()).build())
        .delete_marker_replication(
            DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::Enabled).build(),
        )
        .destination(Destination::builder().bucket("arn:aws:s3:::dst").build().unwrap())
        .build()
        .unwrap();
    assert_eq!(refused(s3, "src", vec![tagged]).await, "InvalidRequest", "markers of a tag rule");
    // AccessControlTranslation names the destination's owner, who must own it.
    let translated = |account: &str| {
        let mut translated = rule("owner", 1, "", "dst", true);
        let owner = aws_sdk_s3::types::AccessControlTranslation::builder()
            .owner(aws_sdk_s3::types::OwnerOverride::Destination)
            .build()
            .unwrap();
        translated.destination = Some(
            Destination::builder()
                .bucket("arn:aws:s3:::dst")
                .account(account)
                .access_control_translation(owner)
                .build()
                .unwrap(),
        );
        translated
    };
    assert_eq!(refused(s3, "src", vec![translated("111122223333")]).await, "InvalidRequest", "not the owner");
    let root = cairn_server::account::account_id(cairn_server::account::ROOT_ACCOUNT);
    replicate(s3, "src", vec![translated(&root)]).await;
    s3.delete_bucket_replication().bucket("src").send().await.unwrap();
    let error = s3.get_bucket_replication().bucket("src").send().await.unwrap_err();
    assert_eq!(code(&error), "ReplicationConfigurationNotFoundError");

    let mut ia = rule("to-ia", 7, "docs/", "dst", false);
    ia.destination = Some(
        Destination::builder().bucket("arn:aws:s3:::dst").storage_class(StorageClass::StandardIa).build().unwrap(),
    );
    replicate(s3, "src", vec![ia]).await;
    let got = s3.get_bucket_replication().bucket("src").send().await.unwrap();
    let got = got.replication_configuration().unwrap();
    assert_eq!(got.role(), ROLE);
    let rule = &got.rules()[0];
    assert_eq!((rule.id(), rule.priority()), (Some("to-ia"), Some(7)));
    assert_eq!(rule.filter().unwrap().prefix(), Some("docs/"));
    let destination = rule.destination().unwrap();
    assert_eq!(
        (destination.bucket(), destination.storage_class()),
        ("arn:aws:s3:::dst", Some(&StorageClass::StandardIa))
    );

    // Versioning cannot be suspended under a replication configuration.
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    let error = s3.put_bucket_versioning().bucket("src").versioning_configuration(suspended.clone()).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidBucketState");
    s3.delete_bucket_replication().bucket("src").send().await.unwrap();
    let error = s3.get_bucket_replication().bucket("src").send().await.unwrap_err();
    assert_eq!(code(&error), "ReplicationConfigurationNotFoundError");
    s3.put_bucket_versioning().bucket("src").versioning_configuration(suspended).send().await.unwrap();

    // A bucket deleted takes its configuration with it: one made again under its name does not
    // replicate.
    versioned(s3, "gone-src").await;
    replicate(s3, "gone-src", vec![self::rule("r", 1, "", "dst", true)]).await;
    s3.delete_bucket().bucket("gone-src").send().await.unwrap();
    versioned(s3, "gone-src").await;
    let version = put(s3, "gone-src", "k", b"new bucket").await;
    let head = s3.head_object().bucket("gone-src").key("k").version_id(&version).send().await.unwrap();
    assert_eq!(head.replication_status(), None);
    let error = s3.get_bucket_replication().bucket("gone-src").send().await.unwrap_err();
    assert_eq!(code(&error), "ReplicationConfigurationNotFoundError");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_are_copied_with_their_ids_metadata_and_statuses() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    versioned(s3, "src").await;
    versioned(s3, "dst").await;
    let before = put(s3, "src", "docs/before", b"written before the rule").await;
    let mut ia = rule("docs", 1, "docs/", "dst", true);
    ia.destination = Some(
        Destination::builder().bucket("arn:aws:s3:::dst").storage_class(StorageClass::StandardIa).build().unwrap(),
    );
    replicate(s3, "src", vec![ia]).await;

    // A put: PENDING, then COMPLETED; the replica has the source's id, time, metadata, tags.
    let written = s3
        .put_object()
        .bucket("src")
        .key("docs/a")
        .content_type("text/plain")
        .metadata("origin", "source")
        .tagging("team=storage")
        .body(ByteStream::from_static(b"replicate me"))
        .send()
        .await
        .unwrap();
    let version = written.version_id().unwrap();
    assert_eq!(settled(s3, "src", "docs/a", version).await, Some(ReplicationStatus::Completed));
    let source = s3.head_object().bucket("src").key("docs/a").version_id(version).send().await.unwrap();
    let replica = s3.head_object().bucket("dst").key("docs/a").version_id(version).send().await.unwrap();
    assert_eq!(replica.replication_status(), Some(&ReplicationStatus::Replica));
    assert_eq!(replica.e_tag(), source.e_tag());
    assert_eq!(replica.last_modified(), source.last_modified());
    assert_eq!(replica.content_type(), Some("text/plain"));
    assert_eq!(replica.metadata().unwrap().get("origin").map(String::as_str), Some("source"));
    assert_eq!(replica.storage_class(), Some(&StorageClass::StandardIa), "the rule's class");
    let tags = s3.get_object_tagging().bucket("dst").key("docs/a").version_id(version).send().await.unwrap();
    assert_eq!((tags.tag_set()[0].key(), tags.tag_set()[0].value()), ("team", "storage"));
    let body = s3.get_object().bucket("dst").key("docs/a").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(&body.into_bytes()[..], b"replicate me");

    // Not retroactive; not outside the rule's prefix.
    let old = s3.head_object().bucket("src").key("docs/before").version_id(&before).send().await.unwrap();
    assert_eq!(old.replication_status(), None);
    let outside = put(s3, "src", "other", b"not covered").await;
    let head = s3.head_object().bucket("src").key("other").version_id(&outside).send().await.unwrap();
    assert_eq!(head.replication_status(), None);

    // A multipart source is copied as multipart: the same ETag and part count.
    let done = multipart(s3, "src", "docs/big", &[vec![1u8; 5 << 20], vec![2u8; 1000]]).await;
    let big = done.version_id().unwrap();
    assert_eq!(settled(s3, "src", "docs/big", big).await, Some(ReplicationStatus::Completed));
    let replica = s3.head_object().bucket("dst").key("docs/big").version_id(big).part_number(2).send().await.unwrap();
    assert_eq!(replica.e_tag(), done.e_tag());
    assert_eq!((replica.parts_count(), replica.content_length()), (Some(2), Some(1000)));

    // A delete marker is copied with its id; a delete of a version is not.
    let marker = s3.delete_object().bucket("src").key("docs/a").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    s3.delete_object().bucket("src").key("docs/big").version_id(big).send().await.unwrap();
    replicated_marker(s3, "dst", "docs/a", &marker).await;
    s3.head_object().bucket("dst").key("docs/big").version_id(big).send().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_not_replicated_again_and_priority_decides() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    for bucket in ["one", "two", "three"] {
        versioned(s3, bucket).await;
    }
    // one -> two -> three: a replica in two does not go on to three (no chaining).
    let mut skipped = rule("skip", 2, "skip/", "two", false);
    skipped.status = ReplicationRuleStatus::Disabled;
    replicate(s3, "one", vec![rule("all", 1, "", "two", false), skipped]).await;
    replicate(s3, "two", vec![rule("on", 1, "", "three", false)]).await;
    let version = put(s3, "one", "k", b"from one").await;
    assert_eq!(settled(s3, "one", "k", &version).await, Some(ReplicationStatus::Completed));
    let replica = s3.head_object().bucket("two").key("k").version_id(&version).send().await.unwrap();
    assert_eq!(replica.replication_status(), Some(&ReplicationStatus::Replica));
    let direct = put(s3, "two", "direct", b"written to two").await;
    assert_eq!(settled(s3, "two", "direct", &direct).await, Some(ReplicationStatus::Completed));
    assert!(s3.head_object().bucket("three").key("direct").send().await.is_ok());
    assert!(s3.head_object().bucket("three").key("k").send().await.is_err(), "a replica is not replicated");

    // The disabled rule of higher priority wins for its prefix: no replication there.
    let skipped = put(s3, "one", "skip/x", b"skipped").await;
    let head = s3.head_object().bucket("one").key("skip/x").version_id(&skipped).send().await.unwrap();
    assert_eq!(head.replication_status(), None);
    // No delete marker replication: the marker stays on the source.
    s3.delete_object().bucket("one").key("k").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s3.head_object().bucket("two").key("k").send().await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_copy_is_failed_and_another_account_needs_its_policy() {
    let bob = cairn_server::User {
        name: "bob".into(),
        access_key: "BOBKEY".into(),
        secret_key: "bob-secret".into(),
        ..cairn_server::User::default()
    };
    let server = TestServer::start_with(vec![bob], None).await;
    let s3 = &server.client;
    let bob = client(server.addr, "BOBKEY", "bob-secret");
    versioned(s3, "src").await;
    versioned(s3, "gone").await;
    versioned(&bob, "bobs").await;
    replicate(s3, "src", vec![rule("gone", 1, "gone/", "gone", false), rule("bob", 2, "bob/", "bobs", false)]).await;
    // The destination is deleted after the configuration: the copy is refused for good.
    s3.delete_bucket().bucket("gone").send().await.unwrap();
    let version = put(s3, "src", "gone/k", b"nowhere to go").await;
    assert_eq!(settled(s3, "src", "gone/k", &version).await, Some(ReplicationStatus::Failed));

    // Bob's bucket takes root's replicas once its policy grants them.
    let version = put(s3, "src", "bob/1", b"refused").await;
    assert_eq!(settled(s3, "src", "bob/1", &version).await, Some(ReplicationStatus::Failed));
    let root = cairn_server::account::account_id(cairn_server::account::ROOT_ACCOUNT);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{root}:root"}},"Action":["s3:ReplicateObject","s3:ReplicateDelete"],"Resource":"arn:aws:s3:::bobs/*"}}]}}"#
    );
    bob.put_bucket_policy().bucket("bobs").policy(policy).send().await.unwrap();
    let version = put(s3, "src", "bob/2", b"granted").await;
    assert_eq!(settled(s3, "src", "bob/2", &version).await, Some(ReplicationStatus::Completed));
    let replica = bob.head_object().bucket("bobs").key("bob/2").version_id(&version).send().await.unwrap();
    assert_eq!(replica.replication_status(), Some(&ReplicationStatus::Replica));
    server.stop().await;
}

/// `GET /replication` of an admin listener.
async fn replication_report(admin: std::net::SocketAddr) -> serde_json::Value {
    let request = b"GET /replication HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n";
    let (status, _, body) =
        tokio::task::spawn_blocking(move || crate::common::raw_exchange(admin, request)).await.unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// A server in eu-west-1, and one in us-east-1 that replicates to it.
async fn two_regions() -> (TestServer, TestServer) {
    let far = TestServer::start_in("eu-west-1", Vec::new(), None).await;
    let url = format!("http://{}", far.addr);
    let near = TestServer::start_reconfigured(|config| {
        config.admin_address = Some("127.0.0.1:0".parse().unwrap());
        config.replication_endpoints = vec![cairn_server::replication::Endpoint {
            region: "eu-west-1".into(),
            url,
            access_key: crate::common::ACCESS_KEY.into(),
            secret_key: crate::common::SECRET_KEY.into(),
        }];
    })
    .await;
    (near, far)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_cross_to_another_server_with_their_ids() {
    let (near, far) = two_regions().await;
    let (s3, remote) = (&near.client, &far.client);
    versioned(s3, "near").await;
    far_bucket(remote, "far-plain", false).await;
    assert_eq!(refused(s3, "near", vec![rule("r", 1, "", "far", true)]).await, "InvalidRequest", "no such bucket");
    assert_eq!(refused(s3, "near", vec![rule("r", 1, "", "far-plain", true)]).await, "InvalidRequest");
    far_bucket(remote, "far", true).await;
    replicate(s3, "near", vec![rule("r", 1, "", "far", true)]).await;

    let written = s3
        .put_object()
        .bucket("near")
        .key("a key/with spaces+signs")
        .metadata("origin", "near")
        .tagging("site=near")
        .body(ByteStream::from_static(b"across regions"))
        .send()
        .await
        .unwrap();
    let (key, version) = ("a key/with spaces+signs", written.version_id().unwrap());
    assert_eq!(settled(s3, "near", key, version).await, Some(ReplicationStatus::Completed));
    let source = s3.head_object().bucket("near").key(key).version_id(version).send().await.unwrap();
    let replica = remote.head_object().bucket("far").key(key).version_id(version).send().await.unwrap();
    assert_eq!(replica.replication_status(), Some(&ReplicationStatus::Replica));
    assert_eq!((replica.e_tag(), replica.last_modified()), (source.e_tag(), source.last_modified()));
    assert_eq!(replica.metadata().unwrap().get("origin").map(String::as_str), Some("near"));
    let tags = remote.get_object_tagging().bucket("far").key(key).version_id(version).send().await.unwrap();
    assert_eq!(tags.tag_set()[0].value(), "near");

    // Multipart, part for part.
    let done = multipart(s3, "near", "big", &[vec![7u8; 5 << 20], vec![8u8; 3000]]).await;
    let big = done.version_id().unwrap();
    assert_eq!(settled(s3, "near", "big", big).await, Some(ReplicationStatus::Completed));
    let replica = remote.head_object().bucket("far").key("big").version_id(big).part_number(2).send().await.unwrap();
    assert_eq!((replica.e_tag(), replica.parts_count(), replica.content_length()), (done.e_tag(), Some(2), Some(3000)));

    // A delete marker keeps its id there too.
    let marker = s3.delete_object().bucket("near").key("big").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    replicated_marker(remote, "far", "big", &marker).await;
    near.stop().await;
    far.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_is_down_gets_its_copies_once_it_is_back() {
    let (near, mut far) = two_regions().await;
    let s3 = &near.client;
    versioned(s3, "near").await;
    far_bucket(&far.client, "far", true).await;
    replicate(s3, "near", vec![rule("r", 1, "", "far", false)]).await;
    far.pause().await;
    let mut versions = Vec::new();
    for n in 0..5 {
        versions.push(put(s3, "near", &format!("k{n}"), format!("written while down {n}").as_bytes()).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let head = s3.head_object().bucket("near").key("k0").version_id(&versions[0]).send().await.unwrap();
    assert_eq!(head.replication_status(), Some(&ReplicationStatus::Pending), "waits while the destination is down");
    // The admin endpoint shows the backlog and how far behind it is.
    let admin = near.handle.as_ref().unwrap().admin_addr().unwrap();
    let report = replication_report(admin).await;
    assert_eq!(report["backlog_entries"], 5, "{report}");
    assert!(report["backlog_bytes"].as_u64().unwrap() > 0, "{report}");
    assert!(report["lag_seconds"].as_f64().unwrap() >= 1.0, "{report}");
    assert!(report["retries"].as_u64().unwrap() >= 1, "{report}");
    far.resume().await;
    for (n, version) in versions.iter().enumerate() {
        let key = format!("k{n}");
        assert_eq!(settled(s3, "near", &key, version).await, Some(ReplicationStatus::Completed), "{key}");
        let body = far.client.get_object().bucket("far").key(&key).version_id(version).send().await.unwrap();
        let body = body.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], format!("written while down {n}").as_bytes());
    }
    let report = replication_report(admin).await;
    assert_eq!((report["backlog_entries"].as_u64(), report["lag_seconds"].as_f64()), (Some(0), Some(0.0)), "{report}");
    assert!(report["replicated"].as_u64().unwrap() >= 5, "{report}");
    let (status, _, _) =
        crate::common::raw_exchange(admin, b"GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 404);
    near.stop().await;
    far.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_and_encryption_are_carried_to_both_kinds_of_destination() {
    let (near, far) = two_regions().await;
    let s3 = &near.client;
    near.handle.as_ref().unwrap().engine().keyring().create_kms_key(Some("near-key")).unwrap();
    let replica_key = near.handle.as_ref().unwrap().engine().keyring().create_kms_key(Some("replica-key")).unwrap();
    far.handle.as_ref().unwrap().engine().keyring().create_kms_key(Some("far-key")).unwrap();
    for bucket in ["locked-src", "locked-dst"] {
        s3.create_bucket().bucket(bucket).object_lock_enabled_for_bucket(true).send().await.unwrap();
    }
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    let far_create = far.client.create_bucket().bucket("locked-far").create_bucket_configuration(location);
    far_create.object_lock_enabled_for_bucket(true).send().await.unwrap();
    let kms_rule = |id: &str, priority: i32, prefix: &str, bucket: &str, key: &str| {
        let mut rule = rule(id, priority, prefix, bucket, false);
        rule.source_selection_criteria = Some(
            aws_sdk_s3::types::SourceSelectionCriteria::builder()
                .sse_kms_encrypted_objects(
                    aws_sdk_s3::types::SseKmsEncryptedObjects::builder()
                        .status(aws_sdk_s3::types::SseKmsEncryptedObjectsStatus::Enabled)
                        .build()
                        .unwrap(),
                )
                .build(),
        );
        let encryption = aws_sdk_s3::types::EncryptionConfiguration::builder().replica_kms_key_id(key).build();
        rule.destination = Some(
            Destination::builder()
                .bucket(format!("arn:aws:s3:::{bucket}"))
                .encryption_configuration(encryption)
                .build()
                .unwrap(),
        );
        rule
    };
    let rules = vec![
        kms_rule("here", 1, "here/", "locked-dst", "alias/replica-key"),
        kms_rule("there", 2, "there/", "locked-far", "alias/far-key"),
    ];
    replicate(s3, "locked-src", rules).await;

    let until = aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800); // 2100
    for key in ["here/doc", "there/doc"] {
        let put = s3
            .put_object()
            .bucket("locked-src")
            .key(key)
            .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id("alias/near-key")
            .body(ByteStream::from_static(b"locked and sealed"))
            .send()
            .await
            .unwrap();
        let version = put.version_id().unwrap();
        assert_eq!(settled(s3, "locked-src", key, version).await, Some(ReplicationStatus::Completed), "{key}");
        let (client, bucket) = if key.starts_with("here") { (s3, "locked-dst") } else { (&far.client, "locked-far") };
        let replica = client.head_object().bucket(bucket).key(key).version_id(version).send().await.unwrap();
        assert_eq!(replica.object_lock_mode(), Some(&aws_sdk_s3::types::ObjectLockMode::Governance), "{key}");
        assert_eq!(replica.object_lock_retain_until_date().map(|d| d.secs()), Some(until.secs()), "{key}");
        assert_eq!(replica.object_lock_legal_hold_status(), Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On));
        assert_eq!(replica.server_side_encryption(), Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms));
        if key.starts_with("here") {
            assert!(replica.ssekms_key_id().unwrap().ends_with(&replica_key.id), "the rule's replica key");
        }
        let body = client.get_object().bucket(bucket).key(key).version_id(version).send().await.unwrap();
        assert_eq!(&body.body.collect().await.unwrap().into_bytes()[..], b"locked and sealed");
    }

    // An SSE-KMS version no rule opts in for is not replicated.
    versioned(s3, "plain-src").await;
    versioned(s3, "plain-dst").await;
    replicate(s3, "plain-src", vec![rule("r", 1, "", "plain-dst", false)]).await;
    let put = s3
        .put_object()
        .bucket("plain-src")
        .key("sealed")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/near-key")
        .body(ByteStream::from_static(b"not opted in"))
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("plain-src").key("sealed").version_id(put.version_id().unwrap()).send().await;
    assert_eq!(head.unwrap().replication_status(), None);
    near.stop().await;
    far.stop().await;
}
