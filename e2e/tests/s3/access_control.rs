//! ACLs, Object Ownership and Block Public Access end to end: AWS's defaults for new buckets,
//! every ownership mode, canned and header grants (ids, emails, groups), objects other accounts
//! own, BPA on buckets and on the account (the S3 Control API), all across a restart.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
};

use crate::common::{self, TestServer, code, status};
use crate::conformance::sigv4;

fn alice() -> cairn_server::User {
    cairn_server::User {
        name: "alice".into(),
        access_key: "ALICEKEY".into(),
        secret_key: "alice-secret".into(),
        email: Some("alice@example.com".into()),
        ..cairn_server::User::default()
    }
}

async fn anonymous_get(addr: std::net::SocketAddr, path: &str) -> u16 {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || common::raw_http(addr, "GET", &path, &[], b"").0).await.unwrap()
}

fn block(acls: bool, ignore: bool, policy: bool, restrict: bool) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(acls)
        .ignore_public_acls(ignore)
        .block_public_policy(policy)
        .restrict_public_buckets(restrict)
        .build()
}

async fn set_ownership(s3: &aws_sdk_s3::Client, bucket: &str, ownership: ObjectOwnership) {
    let rule = OwnershipControlsRule::builder().object_ownership(ownership).build().unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    s3.put_bucket_ownership_controls().bucket(bucket).ownership_controls(controls).send().await.unwrap();
}

fn body(data: &'static [u8]) -> ByteStream {
    ByteStream::from_static(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_buckets_enforce_ownership_and_block_public_access_as_aws_does() {
    let mut server = TestServer::start_with(vec![alice()], None).await;
    let s3 = server.client.clone();
    s3.create_bucket().bucket("fresh").send().await.unwrap();
    // AWS's defaults: BucketOwnerEnforced, all four Block Public Access settings on.
    let got = s3.get_public_access_block().bucket("fresh").send().await.unwrap();
    let config = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            config.block_public_acls(),
            config.ignore_public_acls(),
            config.block_public_policy(),
            config.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let controls = s3.get_bucket_ownership_controls().bucket("fresh").send().await.unwrap();
    assert_eq!(
        controls.ownership_controls().unwrap().rules()[0].object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    // ACLs are off: setting one is AccessControlListNotSupported, except the owner's full control.
    let error = s3.put_object().bucket("fresh").key("k").acl(ObjectCannedAcl::PublicRead).body(body(b"x")).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessControlListNotSupported");
    s3.put_object()
        .bucket("fresh")
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(body(b"x"))
        .send()
        .await
        .unwrap();
    let error = s3.put_bucket_acl().bucket("fresh").acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessControlListNotSupported");
    let acl = s3.get_object_acl().bucket("fresh").key("k").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    assert_eq!(acl.owner().and_then(|o| o.display_name()), Some("root"));
    // A public policy is refused while BlockPublicPolicy is on.
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fresh/*"}]}"#;
    let error = s3.put_bucket_policy().bucket("fresh").policy(public).send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("AccessDenied", 403));
    // CreateBucket with a grant under the default ownership, or a public ACL at all, fails.
    let error = s3.create_bucket().bucket("aclled").acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidBucketAclWithObjectOwnership");
    let error = s3
        .create_bucket()
        .bucket("aclled")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(&error.unwrap_err()), "InvalidBucketAclWithBlockPublicAccessError");
    assert!(s3.head_bucket().bucket("aclled").send().await.is_err(), "nothing half-created");

    // RestrictPublicBuckets: a public policy then grants nothing to anyone outside the owner.
    s3.put_public_access_block()
        .bucket("fresh")
        .public_access_block_configuration(block(true, true, false, true))
        .send()
        .await
        .unwrap();
    s3.put_bucket_policy().bucket("fresh").policy(public).send().await.unwrap();
    assert_eq!(anonymous_get(server.addr, "/fresh/k").await, 403);
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    assert_eq!(code(&alice.get_object().bucket("fresh").key("k").send().await.unwrap_err()), "AccessDenied");
    s3.put_public_access_block()
        .bucket("fresh")
        .public_access_block_configuration(block(true, true, true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get(server.addr, "/fresh/k").await, 200);
    alice.get_object().bucket("fresh").key("k").send().await.unwrap();

    // Deleted, the settings are gone: NoSuchPublicAccessBlockConfiguration, 404.
    s3.delete_public_access_block().bucket("fresh").send().await.unwrap();
    let error = s3.get_public_access_block().bucket("fresh").send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("NoSuchPublicAccessBlockConfiguration", 404));
    s3.delete_bucket_ownership_controls().bucket("fresh").send().await.unwrap();
    let error = s3.get_bucket_ownership_controls().bucket("fresh").send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("OwnershipControlsNotFoundError", 404));
    // Other accounts cannot manage them.
    let error = alice
        .put_public_access_block()
        .bucket("fresh")
        .public_access_block_configuration(block(false, false, false, false))
        .send()
        .await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");

    // Kept across a restart.
    s3.put_public_access_block()
        .bucket("fresh")
        .public_access_block_configuration(block(false, true, false, false))
        .send()
        .await
        .unwrap();
    server.restart().await;
    let s3 = server.client.clone();
    let got = s3.get_public_access_block().bucket("fresh").send().await.unwrap();
    assert_eq!(got.public_access_block_configuration().unwrap().ignore_public_acls(), Some(true));
    assert_eq!(got.public_access_block_configuration().unwrap().block_public_acls(), Some(false));
    assert_eq!(
        code(&s3.get_bucket_ownership_controls().bucket("fresh").send().await.unwrap_err()),
        "OwnershipControlsNotFoundError"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_grant_to_accounts_groups_and_emails_and_objects_belong_to_their_writers() {
    let mut server = TestServer::start_with(vec![alice()], None).await;
    let root = server.client.clone();
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    let alice_id = alice.list_buckets().send().await.unwrap().owner().and_then(|o| o.id()).unwrap().to_owned();
    let root_id = root.list_buckets().send().await.unwrap().owner().and_then(|o| o.id()).unwrap().to_owned();
    root.create_bucket().bucket("acls").object_ownership(ObjectOwnership::ObjectWriter).send().await.unwrap();
    root.delete_public_access_block().bucket("acls").send().await.unwrap();

    // Canned public-read on an object: anonymous reads it; GetObjectAcl lists the group.
    root.put_object()
        .bucket("acls")
        .key("open")
        .acl(ObjectCannedAcl::PublicRead)
        .body(body(b"open"))
        .send()
        .await
        .unwrap();
    root.put_object().bucket("acls").key("closed").body(body(b"closed")).send().await.unwrap();
    assert_eq!(anonymous_get(server.addr, "/acls/open").await, 200);
    assert_eq!(anonymous_get(server.addr, "/acls/closed").await, 403);
    let acl = root.get_object_acl().bucket("acls").key("open").send().await.unwrap();
    let uris: Vec<_> = acl.grants().iter().filter_map(|g| g.grantee().and_then(|g| g.uri())).collect();
    assert_eq!(uris, ["http://acs.amazonaws.com/groups/global/AllUsers"]);
    // authenticated-read: any signed account, never anonymous.
    root.put_object_acl().bucket("acls").key("closed").acl(ObjectCannedAcl::AuthenticatedRead).send().await.unwrap();
    assert_eq!(anonymous_get(server.addr, "/acls/closed").await, 403);
    alice.get_object().bucket("acls").key("closed").send().await.unwrap();

    // Header grants: by id and by email; errors as AWS's.
    let error = root.put_bucket_acl().bucket("acls").grant_write(format!("id=\"{}\"", "0".repeat(64))).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidArgument");
    let error = root.put_bucket_acl().bucket("acls").grant_write("emailAddress=\"nobody@example.com\"").send().await;
    assert_eq!(code(&error.unwrap_err()), "UnresolvableGrantByEmailAddress");
    let many = vec![format!("id=\"{alice_id}\""); 101].join(", ");
    let error = root.put_bucket_acl().bucket("acls").grant_read(many).send().await;
    assert_eq!(code(&error.unwrap_err()), "MalformedACLError");
    let error = root
        .put_bucket_acl()
        .bucket("acls")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .grant_read(format!("id=\"{alice_id}\""))
        .send()
        .await;
    assert_eq!(code(&error.unwrap_err()), "InvalidRequest");
    assert_eq!(
        code(&alice.put_object().bucket("acls").key("by-alice").body(body(b"a")).send().await.unwrap_err()),
        "AccessDenied"
    );
    root.put_bucket_acl()
        .bucket("acls")
        .grant_write("emailAddress=\"alice@example.com\"")
        .grant_full_control(format!("id=\"{root_id}\""))
        .send()
        .await
        .unwrap();
    let acl = root.get_bucket_acl().bucket("acls").send().await.unwrap();
    let write = acl.grants().iter().find(|g| g.permission().map(|p| p.as_str()) == Some("WRITE")).unwrap();
    assert_eq!(write.grantee().and_then(|g| g.id()), Some(alice_id.as_str()));
    assert_eq!(write.grantee().and_then(|g| g.display_name()), Some("alice"));

    // Alice writes: under ObjectWriter she owns it, and the bucket's owner cannot read it...
    alice.put_object().bucket("acls").key("by-alice").body(body(b"a")).send().await.unwrap();
    assert_eq!(code(&root.get_object().bucket("acls").key("by-alice").send().await.unwrap_err()), "AccessDenied");
    let acl = alice.get_object_acl().bucket("acls").key("by-alice").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(alice_id.as_str()));
    // ...until she grants it (PutObjectAcl by her), or writes with bucket-owner-full-control.
    alice.put_object_acl().bucket("acls").key("by-alice").grant_read(format!("id=\"{root_id}\"")).send().await.unwrap();
    root.get_object().bucket("acls").key("by-alice").send().await.unwrap();
    alice
        .put_object()
        .bucket("acls")
        .key("shared-with-owner")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(body(b"b"))
        .send()
        .await
        .unwrap();
    root.get_object().bucket("acls").key("shared-with-owner").send().await.unwrap();
    // The bucket's owner may still delete what others own (WRITE is a bucket permission).
    root.delete_object().bucket("acls").key("shared-with-owner").send().await.unwrap();

    // BucketOwnerPreferred: bucket-owner-full-control hands the object to the bucket's owner.
    set_ownership(&root, "acls", ObjectOwnership::BucketOwnerPreferred).await;
    alice
        .put_object()
        .bucket("acls")
        .key("preferred")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(body(b"c"))
        .send()
        .await
        .unwrap();
    let acl = root.get_object_acl().bucket("acls").key("preferred").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(root_id.as_str()));
    // BucketOwnerEnforced cannot be set while the bucket ACL grants others.
    let rule = OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced).build().unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    let error = root.put_bucket_ownership_controls().bucket("acls").ownership_controls(controls).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidBucketAclWithObjectOwnership");

    // Versions keep their own ACLs.
    root.put_bucket_versioning()
        .bucket("acls")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let first = root
        .put_object()
        .bucket("acls")
        .key("v")
        .acl(ObjectCannedAcl::PublicRead)
        .body(body(b"1"))
        .send()
        .await
        .unwrap();
    root.put_object().bucket("acls").key("v").body(body(b"2")).send().await.unwrap();
    let first = first.version_id().unwrap().to_owned();
    assert_eq!(anonymous_get(server.addr, "/acls/v").await, 403);
    assert_eq!(anonymous_get(server.addr, &format!("/acls/v?versionId={first}")).await, 200);
    let acl = root.get_object_acl().bucket("acls").key("v").version_id(&first).send().await.unwrap();
    assert_eq!(acl.grants().len(), 2);

    // Block Public Access on the ACLs: BlockPublicAcls refuses new public ones, IgnorePublicAcls
    // makes existing ones grant nothing.
    root.put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(true, false, false, false))
        .send()
        .await
        .unwrap();
    let error =
        root.put_object().bucket("acls").key("x").acl(ObjectCannedAcl::PublicRead).body(body(b"x")).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");
    let error = root.put_object_acl().bucket("acls").key("closed").acl(ObjectCannedAcl::PublicRead).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");
    assert_eq!(anonymous_get(server.addr, "/acls/open").await, 200);
    root.put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(false, true, false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get(server.addr, "/acls/open").await, 403);
    root.delete_public_access_block().bucket("acls").send().await.unwrap();

    // Everything survives a restart: grants, owners.
    server.restart().await;
    let root = server.client.clone();
    assert_eq!(anonymous_get(server.addr, "/acls/open").await, 200);
    root.get_object().bucket("acls").key("by-alice").send().await.unwrap();
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    let acl = alice.get_object_acl().bucket("acls").key("by-alice").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(alice_id.as_str()));
    server.stop().await;
}

/// A request to the S3 Control API signed by root.
async fn control(
    addr: std::net::SocketAddr,
    method: &'static str,
    account: &str,
    body: &'static [u8],
) -> (u16, String) {
    let now = time::OffsetDateTime::now_utc();
    let amz = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let path = "/v20180820/configuration/publicAccessBlock";
    let account = account.to_owned();
    let headers = sigv4::sign(
        method,
        path,
        &addr.to_string(),
        &[("x-amz-date", &amz), ("x-amz-account-id", &account)],
        &amz,
        &sigv4::hex_sha256(body),
    );
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, _, body) = common::raw_http(addr, method, path, &headers, body);
        (status, String::from_utf8_lossy(&body).into_owned())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_level_setting_applies_to_every_bucket_of_the_account() {
    let mut server = TestServer::start_with(vec![alice()], None).await;
    let s3 = server.client.clone();
    let id = cairn_server::account::account_id("root");
    s3.create_bucket().bucket("open").send().await.unwrap();
    s3.delete_public_access_block().bucket("open").send().await.unwrap();
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::open/*"}]}"#;
    s3.put_bucket_policy().bucket("open").policy(public).send().await.unwrap();
    s3.put_object().bucket("open").key("k").body(body(b"x")).send().await.unwrap();
    assert_eq!(anonymous_get(server.addr, "/open/k").await, 200);

    let (code_, text) = control(server.addr, "GET", &id, b"").await;
    assert_eq!(code_, 404, "{text}");
    assert!(text.contains("NoSuchPublicAccessBlockConfiguration"), "{text}");
    // Another account's id: AccessDenied.
    let (code_, _) = control(server.addr, "GET", &cairn_server::account::account_id("alice"), b"").await;
    assert_eq!(code_, 403);
    let config = b"<PublicAccessBlockConfiguration xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\"><RestrictPublicBuckets>true</RestrictPublicBuckets><BlockPublicPolicy>true</BlockPublicPolicy></PublicAccessBlockConfiguration>";
    let (code_, text) = control(server.addr, "PUT", &id, config).await;
    assert_eq!(code_, 200, "{text}");
    let (code_, text) = control(server.addr, "GET", &id, b"").await;
    assert_eq!(code_, 200);
    assert!(text.contains("<RestrictPublicBuckets>true</RestrictPublicBuckets>"), "{text}");
    assert!(text.contains("<BlockPublicAcls>false</BlockPublicAcls>"), "{text}");
    // The bucket has none of its own, but its account's applies.
    assert_eq!(anonymous_get(server.addr, "/open/k").await, 403);
    let error = s3.put_bucket_policy().bucket("open").policy(public).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    server.restart().await;
    assert_eq!(anonymous_get(server.addr, "/open/k").await, 403, "kept across a restart");
    let (code_, _) = control(server.addr, "DELETE", &id, b"").await;
    assert_eq!(code_, 204);
    assert_eq!(anonymous_get(server.addr, "/open/k").await, 200);
    server.stop().await;
}
