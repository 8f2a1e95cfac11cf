//! Object Lock and MFA delete end to end with aws-sdk-s3: configurations and their errors,
//! retention and legal holds set at write time and later, what they refuse (root included),
//! the governance bypass and its permission, and one-time codes, all across a restart.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, Delete, MfaDelete, MfaDeleteStatus, ObjectIdentifier,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};

use crate::common::{TestServer, code, status};

fn hours_from_now(hours: i64) -> DateTime {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    DateTime::from_secs(now + hours * 3600)
}

fn lock_config(mode: ObjectLockRetentionMode, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    let retention = DefaultRetention::builder().mode(mode).set_days(days).set_years(years).build();
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention).build())
        .build()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let put = s3.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"kept")).send().await.unwrap();
    put.version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_configurations_are_validated_and_kept_as_aws_does() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("vault").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let versioning = s3.get_bucket_versioning().bucket("vault").send().await.unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled), "Object Lock turns versioning on");
    let got = s3.get_object_lock_configuration().bucket("vault").send().await.unwrap();
    let config = got.object_lock_configuration().unwrap();
    assert_eq!(config.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(config.rule().is_none());

    let set = |config: ObjectLockConfiguration| {
        s3.put_object_lock_configuration().bucket("vault").object_lock_configuration(config).send()
    };
    set(lock_config(ObjectLockRetentionMode::Governance, Some(3), None)).await.unwrap();
    let got = s3.get_object_lock_configuration().bucket("vault").send().await.unwrap();
    let rule = got.object_lock_configuration().unwrap().rule().unwrap().default_retention().unwrap();
    assert_eq!((rule.mode(), rule.days(), rule.years()), (Some(&ObjectLockRetentionMode::Governance), Some(3), None));
    for (config, expected) in [
        (lock_config(ObjectLockRetentionMode::Compliance, Some(1), Some(1)), "MalformedXML"),
        (lock_config(ObjectLockRetentionMode::Compliance, None, None), "MalformedXML"),
        (lock_config(ObjectLockRetentionMode::Compliance, Some(0), None), "InvalidArgument"),
        (lock_config(ObjectLockRetentionMode::Compliance, None, Some(-1)), "InvalidArgument"),
        (lock_config(ObjectLockRetentionMode::Compliance, None, Some(101)), "InvalidArgument"),
        (lock_config(ObjectLockRetentionMode::from("governance"), Some(1), None), "MalformedXML"),
        (ObjectLockConfiguration::builder().build(), "MalformedXML"),
    ] {
        let error = set(config.clone()).await.unwrap_err();
        assert_eq!(code(&error), expected, "{config:?}");
    }
    // Versioning stays on while Object Lock is enabled.
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    let error =
        s3.put_bucket_versioning().bucket("vault").versioning_configuration(suspended).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (409, "InvalidBucketState"));

    // An existing bucket takes Object Lock once versioning is on.
    s3.create_bucket().bucket("later").send().await.unwrap();
    let error = s3.get_object_lock_configuration().bucket("later").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (404, "ObjectLockConfigurationNotFoundError"));
    let enable = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).build();
    let put_config = || s3.put_object_lock_configuration().bucket("later").object_lock_configuration(enable.clone());
    let error = put_config().send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (409, "InvalidBucketState"));
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("later").versioning_configuration(enabled).send().await.unwrap();
    put_config().send().await.unwrap();
    s3.get_object_lock_configuration().bucket("later").send().await.unwrap();
    server.stop().await;
}

/// A bucket with Object Lock whose versions get a day of governance retention by default.
async fn vault(s3: &aws_sdk_s3::Client) {
    s3.create_bucket().bucket("vault").object_lock_enabled_for_bucket(true).send().await.unwrap();
    let default = lock_config(ObjectLockRetentionMode::Governance, Some(1), None);
    s3.put_object_lock_configuration().bucket("vault").object_lock_configuration(default).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_versions_refuse_deletes_until_their_retention_ends() {
    let server = TestServer::start().await;
    let s3 = server.client.clone();
    vault(&s3).await;

    // The bucket's default retention: governance, a day from the write.
    let governed = put(&s3, "vault", "governed").await;
    let head = s3.head_object().bucket("vault").key("governed").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert!((until - hours_from_now(24).secs()).abs() < 120, "{until}");
    assert!(head.object_lock_legal_hold_status().is_none(), "never set");
    let delete = |key: &'static str, version: String| s3.delete_object().bucket("vault").key(key).version_id(version);
    let error = delete("governed", governed.clone()).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (403, "AccessDenied"));

    // Compliance and a legal hold, named by the write: nobody deletes it, root with the bypass
    // included; a delete without a version id only hides it behind a marker.
    let locked = s3
        .put_object()
        .bucket("vault")
        .key("compliant")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(hours_from_now(1))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let compliant = locked.version_id().unwrap().to_owned();
    let error = delete("compliant", compliant.clone()).bypass_governance_retention(true).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    let marker = s3.delete_object().bucket("vault").key("compliant").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    s3.get_object().bucket("vault").key("compliant").version_id(&compliant).send().await.unwrap();
    let objects = [ObjectIdentifier::builder().key("compliant").version_id(&compliant).build().unwrap()];
    let delete_many = Delete::builder().set_objects(Some(objects.to_vec())).build().unwrap();
    let deleted =
        s3.delete_objects().bucket("vault").delete(delete_many).bypass_governance_retention(true).send().await.unwrap();
    assert_eq!(deleted.errors()[0].code(), Some("AccessDenied"));

    // Retention moves only later (compliance), a legal hold comes and goes.
    let retention = |mode: ObjectLockRetentionMode, hours| {
        ObjectLockRetention::builder().mode(mode).retain_until_date(hours_from_now(hours)).build()
    };
    let set_retention = |key: &'static str, version: &str, r: ObjectLockRetention| {
        s3.put_object_retention().bucket("vault").key(key).version_id(version).retention(r)
    };
    let error = set_retention("compliant", &compliant, retention(ObjectLockRetentionMode::Compliance, 0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidArgument", "a date in the past");
    let shorter = retention(ObjectLockRetentionMode::Governance, 1);
    let error = set_retention("compliant", &compliant, shorter.clone()).bypass_governance_retention(true).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");
    set_retention("compliant", &compliant, retention(ObjectLockRetentionMode::Compliance, 2)).send().await.unwrap();
    let got = s3.get_object_retention().bucket("vault").key("compliant").version_id(&compliant).send().await.unwrap();
    let got = got.retention().unwrap();
    assert_eq!(got.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert!((got.retain_until_date().unwrap().secs() - hours_from_now(2).secs()).abs() < 120);
    let hold = |status: ObjectLockLegalHoldStatus| ObjectLockLegalHold::builder().status(status).build();
    let got = s3.get_object_legal_hold().bucket("vault").key("compliant").version_id(&compliant).send().await;
    assert_eq!(got.unwrap().legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("compliant")
        .version_id(&compliant)
        .legal_hold(hold(ObjectLockLegalHoldStatus::Off))
        .send()
        .await
        .unwrap();
    let got = s3.get_object_legal_hold().bucket("vault").key("compliant").version_id(&compliant).send().await;
    assert_eq!(got.unwrap().legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::Off));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_take_the_lock_they_name_and_the_bypass_needs_its_permission() {
    let mut server = TestServer::start().await;
    let s3 = server.client.clone();
    vault(&s3).await;
    let governed = put(&s3, "vault", "governed").await;
    let compliant = s3
        .put_object()
        .bucket("vault")
        .key("compliant")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(hours_from_now(1))
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();

    // The lock headers are checked as AWS checks them.
    let put_with = |mode: Option<ObjectLockMode>, until: Option<DateTime>| {
        s3.put_object()
            .bucket("vault")
            .key("checked")
            .set_object_lock_mode(mode)
            .set_object_lock_retain_until_date(until)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    for (mode, until) in [
        (Some(ObjectLockMode::Governance), None),
        (None, Some(hours_from_now(1))),
        (Some(ObjectLockMode::Governance), Some(hours_from_now(-1))),
        (Some(ObjectLockMode::from("FOREVER")), Some(hours_from_now(1))),
    ] {
        let error = put_with(mode.clone(), until).await.unwrap_err();
        assert_eq!(code(&error), "InvalidArgument", "{mode:?} {until:?}");
    }
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let error = s3
        .put_object()
        .bucket("plain")
        .key("k")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    let error = s3.get_object_legal_hold().bucket("vault").key("governed").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (404, "NoSuchObjectLockConfiguration"));

    // Uploads and copies take the lock the request names.
    let upload = s3
        .create_multipart_upload()
        .bucket("vault")
        .key("multi")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(hours_from_now(1))
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let parts = crate::common::upload_parts(&s3, "vault", "multi", upload_id, &[b"only part".to_vec()]).await;
    let completed = s3
        .complete_multipart_upload()
        .bucket("vault")
        .key("multi")
        .upload_id(upload_id)
        .multipart_upload(aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let multi = completed.version_id().unwrap().to_owned();
    let copied = s3
        .copy_object()
        .bucket("vault")
        .key("copy")
        .copy_source("vault/governed")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let copy = copied.version_id().unwrap().to_owned();

    // Governance gives way to the bypass, unless a policy denies it to the requester.
    server.restart().await;
    let s3 = server.client.clone();
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:BypassGovernanceRetention","Resource":"arn:aws:s3:::vault/*"}]}"#;
    s3.put_bucket_policy().bucket("vault").policy(deny).send().await.unwrap();
    let delete = |key: &'static str, version: &str| {
        s3.delete_object().bucket("vault").key(key).version_id(version).bypass_governance_retention(true).send()
    };
    assert_eq!(code(&delete("governed", &governed).await.unwrap_err()), "AccessDenied");
    s3.delete_bucket_policy().bucket("vault").send().await.unwrap();
    delete("governed", &governed).await.unwrap();
    for (key, version) in [("multi", &multi), ("copy", &copy), ("compliant", &compliant)] {
        assert_eq!(code(&delete(key, version).await.unwrap_err()), "AccessDenied", "{key} after a restart");
    }
    let head = s3.head_object().bucket("vault").key("copy").send().await.unwrap();
    assert_eq!(head.object_lock_legal_hold_status(), Some(&ObjectLockLegalHoldStatus::On));
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance), "the bucket default");
    server.stop().await;
}

/// A code of `device` now, in `x-amz-mfa`'s form.
fn mfa(device: &cairn_server::mfa::Device) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!("{} {}", cairn_server::mfa::serial(&root_id(), &device.name), device.code_at(now))
}

fn root_id() -> String {
    cairn_server::account::account_id(cairn_server::account::ROOT_ACCOUNT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_delete_asks_a_one_time_code_of_the_owners_device() {
    let mut server = TestServer::start().await;
    // Three devices: each takes one code per 30-second step, and the test needs three.
    let engine = server.handle.as_ref().unwrap().engine();
    let devices: Vec<_> = ["phone", "token", "spare"]
        .iter()
        .map(|name| cairn_server::mfa::add(engine, &root_id(), name).unwrap())
        .collect();
    let s3 = server.client.clone();
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    let config = |status: BucketVersioningStatus, mfa: MfaDelete| {
        VersioningConfiguration::builder().status(status).mfa_delete(mfa).build()
    };
    let versioning =
        |c: VersioningConfiguration| s3.put_bucket_versioning().bucket("guarded").versioning_configuration(c);
    let on = config(BucketVersioningStatus::Enabled, MfaDelete::Enabled);
    let error = versioning(on.clone()).send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (403, "AccessDenied"), "no code");
    let wrong = format!("{} 000000", cairn_server::mfa::serial(&root_id(), "phone"));
    assert_eq!(code(&versioning(on.clone()).mfa(wrong).send().await.unwrap_err()), "AccessDenied");
    let first = mfa(&devices[0]);
    versioning(on.clone()).mfa(&first).send().await.unwrap();
    let got = s3.get_bucket_versioning().bucket("guarded").send().await.unwrap();
    assert_eq!(got.mfa_delete(), Some(&MfaDeleteStatus::Enabled));
    assert_eq!(code(&versioning(on.clone()).mfa(&first).send().await.unwrap_err()), "AccessDenied", "used once");

    let version = put(&s3, "guarded", "k").await;
    let delete = || s3.delete_object().bucket("guarded").key("k").version_id(&version);
    assert_eq!(code(&delete().send().await.unwrap_err()), "AccessDenied");
    let objects = [ObjectIdentifier::builder().key("k").version_id(&version).build().unwrap()];
    let many = Delete::builder().set_objects(Some(objects.to_vec())).build().unwrap();
    let error = s3.delete_objects().bucket("guarded").delete(many).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    // A delete marker needs no code: nothing is lost.
    assert_eq!(s3.delete_object().bucket("guarded").key("k").send().await.unwrap().delete_marker(), Some(true));
    let second = mfa(&devices[1]);
    delete().mfa(&second).send().await.unwrap();

    // After a restart MFA delete is still on, and a used code still used.
    server.restart().await;
    let s3 = server.client.clone();
    let version = put(&s3, "guarded", "k2").await;
    let error = s3.delete_object().bucket("guarded").key("k2").version_id(&version).mfa(&second).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied", "replayed after a restart");
    let off = config(BucketVersioningStatus::Suspended, MfaDelete::Disabled);
    let error = s3.put_bucket_versioning().bucket("guarded").versioning_configuration(off.clone()).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied", "suspending needs a code too");
    let third = mfa(&devices[2]);
    s3.put_bucket_versioning().bucket("guarded").versioning_configuration(off).mfa(third).send().await.unwrap();
    let got = s3.get_bucket_versioning().bucket("guarded").send().await.unwrap();
    assert_eq!((got.status(), got.mfa_delete()), (Some(&BucketVersioningStatus::Suspended), None));
    s3.delete_object().bucket("guarded").key("k2").version_id(&version).send().await.unwrap();
    server.stop().await;
}
