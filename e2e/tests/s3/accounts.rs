//! Accounts and bucket ownership, URL-encoded listings, virtual-hosted-style addressing, and a
//! large upload through the SDK's transfer manager.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;

use crate::common::{self, TestServer, body, code};

fn alice() -> cairn_server::User {
    cairn_server::User {
        name: "alice".into(),
        access_key: "ALICEKEY".into(),
        secret_key: "alice-secret".into(),
        ..cairn_server::User::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_owns_its_buckets() {
    let server = TestServer::start_with(vec![alice()], None).await;
    let root = &server.client;
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    root.create_bucket().bucket("roots").send().await.unwrap();
    root.put_object().bucket("roots").key("secret").body(ByteStream::from_static(b"root's")).send().await.unwrap();
    alice.create_bucket().bucket("alices").send().await.unwrap();

    // Bucket names are global: taken by another account is BucketAlreadyExists.
    let error = alice.create_bucket().bucket("roots").send().await.unwrap_err();
    assert_eq!(code(&error), "BucketAlreadyExists");
    // Your own, in us-east-1: 200, as AWS's legacy behavior there.
    root.create_bucket().bucket("roots").send().await.unwrap();

    // Each account lists only its own buckets, under its own canonical id.
    let listed = alice.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alices"]);
    let alice_id = listed.owner().and_then(|o| o.id()).unwrap().to_owned();
    let root_listed = root.list_buckets().send().await.unwrap();
    assert_eq!(root_listed.buckets().iter().filter_map(|b| b.name()).collect::<Vec<_>>(), ["roots"]);
    assert_ne!(root_listed.owner().and_then(|o| o.id()), Some(alice_id.as_str()));
    assert_eq!(listed.owner().and_then(|o| o.display_name()), Some("alice"));

    // Another account's bucket is out of reach: reads, writes, listings, copies.
    let error = alice.get_object().bucket("roots").key("secret").send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    let error =
        alice.put_object().bucket("roots").key("mine").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    let error = alice.list_objects_v2().bucket("roots").send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    let error = alice.delete_bucket().bucket("roots").send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    let error =
        alice.copy_object().bucket("alices").key("stolen").copy_source("roots/secret").send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    assert!(alice.head_object().bucket("alices").key("stolen").send().await.is_err());
    // A bucket that does not exist is still NoSuchBucket.
    let error = alice.list_objects_v2().bucket("nowhere").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");

    // Owners in listings are the bucket's owner.
    alice.put_object().bucket("alices").key("k").body(ByteStream::from_static(b"a")).send().await.unwrap();
    let listed = alice.list_objects_v2().bucket("alices").fetch_owner(true).send().await.unwrap();
    assert_eq!(listed.contents()[0].owner().and_then(|o| o.id()), Some(alice_id.as_str()));

    // The owner is in the bucket's record, so it survives restarts.
    let owner = server.handle.as_ref().unwrap().engine().head_bucket("alices").unwrap().owner;
    assert_eq!(owner, alice_id);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_url_encode_on_request() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("enc").send().await.unwrap();
    for key in ["dir one/a+b.txt", "dir one/é", "plain"] {
        s3.put_object().bucket("enc").key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let listed =
        s3.list_objects_v2().bucket("enc").encoding_type(EncodingType::Url).prefix("dir one/").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir%20one/a%2Bb.txt", "dir%20one/%C3%A9"]);
    assert_eq!(listed.prefix(), Some("dir%20one/"));
    let listed =
        s3.list_objects_v2().bucket("enc").encoding_type(EncodingType::Url).delimiter("/").send().await.unwrap();
    let prefixes: Vec<_> = listed.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["dir%20one/"]);
    let listed = s3.list_objects().bucket("enc").encoding_type(EncodingType::Url).send().await.unwrap();
    assert_eq!(listed.contents()[1].key(), Some("dir%20one/%C3%A9"));
    let listed = s3.list_object_versions().bucket("enc").encoding_type(EncodingType::Url).send().await.unwrap();
    assert_eq!(listed.versions()[0].key(), Some("dir%20one/a%2Bb.txt"));
    let upload = s3.create_multipart_upload().bucket("enc").key("dir one/up+load").send().await.unwrap();
    let listed = s3.list_multipart_uploads().bucket("enc").encoding_type(EncodingType::Url).send().await.unwrap();
    assert_eq!(listed.uploads()[0].key(), Some("dir%20one/up%2Bload"));
    let id = upload.upload_id().unwrap();
    s3.abort_multipart_upload().bucket("enc").key("dir one/up+load").upload_id(id).send().await.unwrap();
    // Without it, keys come back as they are.
    let listed = s3.list_objects_v2().bucket("enc").send().await.unwrap();
    assert_eq!(listed.contents()[0].key(), Some("dir one/a+b.txt"));
    let error = s3.list_objects_v2().bucket("enc").encoding_type(EncodingType::from("base64")).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidArgument");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style_requests() {
    const DOMAIN: &str = "s3.cairn.test";
    let server = TestServer::start_with(Vec::new(), Some(DOMAIN)).await;
    let s3 = common::virtual_hosted_client(server.addr, DOMAIN);
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    s3.put_object().bucket("vhost").key("a/b").body(ByteStream::from_static(b"hosted")).send().await.unwrap();
    let got = s3.get_object().bucket("vhost").key("a/b").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hosted");
    let listed = s3.list_objects_v2().bucket("vhost").send().await.unwrap();
    assert_eq!(listed.contents()[0].key(), Some("a/b"));
    // Path-style requests keep working beside it.
    let got = server.client.get_object().bucket("vhost").key("a/b").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hosted");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_upload_through_the_transfer_manager() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("big").send().await.unwrap();
    let data = body(42, 100 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    std::fs::write(&path, &data).unwrap();
    let config = aws_sdk_s3_transfer_manager::Config::builder()
        .client(s3.clone())
        .part_size(aws_sdk_s3_transfer_manager::types::PartSize::Target(8 << 20))
        .build();
    let manager = aws_sdk_s3_transfer_manager::Client::new(config);
    let body = aws_sdk_s3_transfer_manager::io::InputStream::from_path(&path).unwrap();
    let uploaded = manager.upload().bucket("big").key("object").body(body).initiate().unwrap().join().await.unwrap();
    assert!(uploaded.e_tag().unwrap().ends_with("-13\""), "{:?}", uploaded.e_tag());
    let head = s3.head_object().bucket("big").key("object").send().await.unwrap();
    assert_eq!(head.content_length(), Some(100 << 20));
    // Compare in ranges rather than holding a second copy of the object.
    for (first, last) in
        [(0u64, (8 << 20) - 1), ((50 << 20) + 3, (58 << 20) + 3), ((100 << 20) - 1000, (100 << 20) - 1)]
    {
        let got = s3.get_object().bucket("big").key("object").range(format!("bytes={first}-{last}")).send().await;
        let bytes = got.unwrap().body.collect().await.unwrap().into_bytes();
        assert_eq!(bytes.as_ref(), &data[first as usize..=last as usize], "bytes {first}-{last}");
    }
    let whole = s3.get_object().bucket("big").key("object").send().await.unwrap();
    assert_eq!(whole.body.collect().await.unwrap().into_bytes().as_ref(), &data[..]);
    server.stop().await;
}
