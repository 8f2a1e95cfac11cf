//! Server-side encryption, compression and storage classes end to end with aws-sdk-s3: SSE-S3
//! by default, SSE-KMS (named, default and disabled keys, bucket keys, contexts, DSSE), SSE-C
//! (missing and wrong keys, ranges, multipart with the key on every part, copies between
//! modes), bucket default encryption, key rotation, and no plaintext on disk.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, StorageClass,
};
use md5::Digest;

use crate::common::{TestServer, code, status};

const MARKER: &[u8] = b"PLAINTEXT-MARKER-e2e";

/// A body that compresses and that a search of the data dir would find.
fn text(len: usize) -> Vec<u8> {
    let line = [MARKER, b" the cairn keeps its secrets\n"].concat();
    line.iter().copied().cycle().take(len).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// An SSE-C key: (base64 key, base64 MD5).
fn customer_key(byte: u8) -> (String, String) {
    let key = [byte; 32];
    (b64(&key), b64(&md5::Md5::digest(key)))
}

/// SSE-C's three headers on any request that takes them.
trait SseC {
    fn sse_c(self, key: &(String, String)) -> Self;
}

macro_rules! sse_c {
    ($($builder:ty),*) => {$(
        impl SseC for $builder {
            fn sse_c(self, (key, md5): &(String, String)) -> Self {
                self.sse_customer_algorithm("AES256").sse_customer_key(key).sse_customer_key_md5(md5)
            }
        }
    )*};
}

sse_c!(
    aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder,
    aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder,
    aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder,
    aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder
);

async fn body_of(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_encrypted_with_sse_s3_by_default_and_say_so() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("enc").send().await.unwrap();
    let default = s3.get_bucket_encryption().bucket("enc").send().await.unwrap();
    let rule = &default.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::Aes256);
    assert_eq!(rule.bucket_key_enabled(), Some(false));
    let put = s3.put_object().bucket("enc").key("plain").body(ByteStream::from(text(3000))).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let asked = s3
        .put_object()
        .bucket("enc")
        .key("asked")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(text(10)))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let head = s3.head_object().bucket("enc").key("plain").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(head.storage_class(), None, "AWS leaves STANDARD out of HEAD");
    let get = s3.get_object().bucket("enc").key("plain").send().await.unwrap();
    assert_eq!(get.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(body_of(get).await, text(3000));
    // GET does not take the header that asks for encryption (AWS: 400).
    let error = s3
        .get_object()
        .bucket("enc")
        .key("plain")
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amz-server-side-encryption", "AES256");
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidArgument"));
    // An algorithm S3 does not have.
    let error = s3
        .put_object()
        .bucket("enc")
        .key("bad")
        .server_side_encryption(ServerSideEncryption::from("AES128"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidArgument"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_uses_the_named_key_or_the_default_and_a_disabled_key_reads_nothing() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let keyring = server.handle.as_ref().unwrap().engine().keyring();
    let key = keyring.create_kms_key(Some("app")).unwrap();
    s3.create_bucket().bucket("kms").send().await.unwrap();
    let context = b64(br#"{"team":"storage"}"#);
    let put = s3
        .put_object()
        .bucket("kms")
        .key("named")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/app")
        .ssekms_encryption_context(&context)
        .body(ByteStream::from(text(2 * 1024 * 1024 + 7)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    let arn = put.ssekms_key_id().unwrap().to_owned();
    assert!(arn.starts_with("arn:aws:kms:us-east-1:") && arn.ends_with(&format!(":key/{}", key.id)), "{arn}");
    assert_eq!(put.ssekms_encryption_context(), Some(context.as_str()));
    assert_eq!(put.bucket_key_enabled(), None);
    // By ARN, with a bucket key; and with no key id, AWS's default aws/s3 key.
    let by_arn = s3
        .put_object()
        .bucket("kms")
        .key("arn")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&arn)
        .bucket_key_enabled(true)
        .body(ByteStream::from(text(100)))
        .send()
        .await
        .unwrap();
    assert_eq!((by_arn.ssekms_key_id(), by_arn.bucket_key_enabled()), (Some(arn.as_str()), Some(true)));
    let managed = s3
        .put_object()
        .bucket("kms")
        .key("managed")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(text(100)))
        .send()
        .await
        .unwrap();
    let managed_key = keyring.describe_kms_key("alias/aws/s3").unwrap();
    assert!(managed.ssekms_key_id().unwrap().ends_with(&managed_key.id));
    let dsse = s3
        .put_object()
        .bucket("kms")
        .key("dsse")
        .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
        .ssekms_key_id("alias/app")
        .body(ByteStream::from(text(5000)))
        .send()
        .await
        .unwrap();
    assert_eq!(dsse.server_side_encryption(), Some(&ServerSideEncryption::AwsKmsDsse));
    // Ranges over the chunk boundary of a compressed, encrypted object.
    let range = s3.get_object().bucket("kms").key("named").range("bytes=1048570-1048590").send().await.unwrap();
    assert_eq!(range.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(body_of(range).await, text(2 * 1024 * 1024 + 7)[1_048_570..=1_048_590]);
    let head = s3.head_object().bucket("kms").key("dsse").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKmsDsse));
    assert_eq!(body_of(s3.get_object().bucket("kms").key("dsse").send().await.unwrap()).await, text(5000));
    // A key that does not exist, a key id without aws:kms, a context that is not a JSON map.
    let unknown = s3
        .put_object()
        .bucket("kms")
        .key("x")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/nope")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&unknown), code(&unknown).as_str()), (400, "KMS.NotFoundException"));
    let stray = s3
        .put_object()
        .bucket("kms")
        .key("x")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .ssekms_key_id("alias/app")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&stray), code(&stray).as_str()), (400, "InvalidArgument"));
    let bad_context = s3
        .put_object()
        .bucket("kms")
        .key("x")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_encryption_context(b64(b"[1,2]"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&bad_context), code(&bad_context).as_str()), (400, "InvalidArgument"));
    // Disabled: reads and new writes fail as AWS's KMS says; HEAD still answers.
    keyring.set_kms_key_enabled("alias/app", false).unwrap();
    let disabled = s3.get_object().bucket("kms").key("named").send().await.unwrap_err();
    assert_eq!((status(&disabled), code(&disabled).as_str()), (400, "KMS.DisabledException"));
    s3.head_object().bucket("kms").key("named").send().await.unwrap();
    let write = s3
        .put_object()
        .bucket("kms")
        .key("y")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/app")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&write), "KMS.DisabledException");
    keyring.set_kms_key_enabled(&key.id, true).unwrap();
    let back = s3.get_object().bucket("kms").key("named").send().await.unwrap();
    assert_eq!(body_of(back).await, text(2 * 1024 * 1024 + 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_needs_the_right_key_on_every_read_part_and_copy() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("ssec").send().await.unwrap();
    let secret = customer_key(0x42);
    let other = customer_key(0x43);
    let data = text(1024 * 1024 + 300);
    let put = s3
        .put_object()
        .bucket("ssec")
        .key("secret")
        .sse_c(&secret)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!((put.sse_customer_algorithm(), put.sse_customer_key_md5()), (Some("AES256"), Some(secret.1.as_str())));
    assert_eq!(put.server_side_encryption(), None);
    // Without the key: 400; with another: 403 (GET and HEAD alike); with it, the bytes.
    let missing = s3.get_object().bucket("ssec").key("secret").send().await.unwrap_err();
    assert_eq!((status(&missing), code(&missing).as_str()), (400, "InvalidRequest"));
    let wrong = s3.get_object().bucket("ssec").key("secret").sse_c(&other).send().await.unwrap_err();
    assert_eq!((status(&wrong), code(&wrong).as_str()), (403, "AccessDenied"));
    let head_missing = s3.head_object().bucket("ssec").key("secret").send().await.unwrap_err();
    assert_eq!(status(&head_missing), 400);
    let head = s3.head_object().bucket("ssec").key("secret").sse_c(&secret).send().await.unwrap();
    assert_eq!(head.sse_customer_key_md5(), Some(secret.1.as_str()));
    let ranged = s3
        .get_object()
        .bucket("ssec")
        .key("secret")
        .range("bytes=1048000-1048799")
        .sse_c(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(ranged).await, data[1_048_000..=1_048_799]);
    // A key's MD5 that is not its own; the key for an object that has none.
    let mismatch = s3
        .put_object()
        .bucket("ssec")
        .key("x")
        .sse_c(&(secret.0.clone(), other.1.clone()))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&mismatch), code(&mismatch).as_str()), (400, "InvalidArgument"));
    s3.put_object().bucket("ssec").key("open").body(ByteStream::from_static(b"open")).send().await.unwrap();
    let needless = s3.get_object().bucket("ssec").key("open").sse_c(&secret).send().await.unwrap_err();
    assert_eq!((status(&needless), code(&needless).as_str()), (400, "InvalidRequest"));
    // Copy SSE-C to SSE-S3 (the source's key given), and back to SSE-C under another key.
    let copied = s3
        .copy_object()
        .bucket("ssec")
        .key("copied")
        .copy_source("ssec/secret")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&secret.0)
        .copy_source_sse_customer_key_md5(&secret.1)
        .send()
        .await
        .unwrap();
    assert_eq!(copied.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(body_of(s3.get_object().bucket("ssec").key("copied").send().await.unwrap()).await, data);
    let no_source_key = s3.copy_object().bucket("ssec").key("c2").copy_source("ssec/secret").send().await.unwrap_err();
    assert_eq!(status(&no_source_key), 400);
    let recopied =
        s3.copy_object().bucket("ssec").key("recopied").copy_source("ssec/copied").sse_c(&other).send().await.unwrap();
    assert_eq!(recopied.sse_customer_key_md5(), Some(other.1.as_str()));
    // Multipart: the key on CreateMultipartUpload and on every part; a part without it or
    // with another is refused; the completed object reads with it.
    let upload = s3.create_multipart_upload().bucket("ssec").key("parts").sse_c(&secret).send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let bare = s3
        .upload_part()
        .bucket("ssec")
        .key("parts")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&bare), 400);
    let wrong_part = s3
        .upload_part()
        .bucket("ssec")
        .key("parts")
        .upload_id(id)
        .part_number(1)
        .sse_c(&other)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&wrong_part), 403);
    let mut parts = Vec::new();
    let chunks = [text(5 * 1024 * 1024), text(1000)];
    for (i, chunk) in chunks.iter().enumerate() {
        let number = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket("ssec")
            .key("parts")
            .upload_id(id)
            .part_number(number)
            .sse_c(&secret)
            .body(ByteStream::from(chunk.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(part.sse_customer_key_md5(), Some(secret.1.as_str()));
        parts.push(CompletedPart::builder().part_number(number).e_tag(part.e_tag().unwrap()).build());
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload()
        .bucket("ssec")
        .key("parts")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();
    let whole = s3.get_object().bucket("ssec").key("parts").sse_c(&secret).send().await.unwrap();
    assert_eq!(body_of(whole).await, chunks.concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_over_plain_http_is_refused_as_aws_refuses_it() {
    let server = TestServer::start_refusing_insecure_sse_c().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("tls").send().await.unwrap();
    let secret = customer_key(1);
    let error = s3
        .put_object()
        .bucket("tls")
        .key("k")
        .sse_c(&secret)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (400, "InvalidRequest"));
    assert!(s3.head_object().bucket("tls").key("k").send().await.is_err(), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_default_applies_to_puts_copies_and_uploads_until_deleted() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let keyring = server.handle.as_ref().unwrap().engine().keyring();
    let key = keyring.create_kms_key(Some("bucket-default")).unwrap();
    s3.create_bucket().bucket("dflt").send().await.unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id("alias/bucket-default")
                .build()
                .unwrap(),
        )
        .bucket_key_enabled(true)
        .build();
    let config = ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap();
    s3.put_bucket_encryption().bucket("dflt").server_side_encryption_configuration(config).send().await.unwrap();
    let got = s3.get_bucket_encryption().bucket("dflt").send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default().unwrap().kms_master_key_id(),
        Some("alias/bucket-default")
    );
    assert_eq!(rule.bucket_key_enabled(), Some(true));
    let put = s3.put_object().bucket("dflt").key("a").body(ByteStream::from(text(100))).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert!(put.ssekms_key_id().unwrap().ends_with(&key.id));
    assert_eq!(put.bucket_key_enabled(), Some(true));
    let copy = s3.copy_object().bucket("dflt").key("b").copy_source("dflt/a").send().await.unwrap();
    assert_eq!(copy.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    let upload = s3.create_multipart_upload().bucket("dflt").key("m").send().await.unwrap();
    assert_eq!(upload.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    // A request that names its own encryption overrides the default.
    let own = s3
        .put_object()
        .bucket("dflt")
        .key("own")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    s3.delete_bucket_encryption().bucket("dflt").send().await.unwrap();
    let after = s3.put_object().bucket("dflt").key("c").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(after.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // Copying an object onto itself to change its encryption is a change AWS allows.
    let onto = s3
        .copy_object()
        .bucket("dflt")
        .key("a")
        .copy_source("dflt/a")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(onto.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let malformed = s3
        .put_bucket_encryption()
        .bucket("dflt")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .kms_master_key_id("alias/bucket-default")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&malformed), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_classes_are_kept_and_shown_everywhere() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("classes").send().await.unwrap();
    for class in [
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "EXPRESS_ONEZONE",
    ] {
        s3.put_object()
            .bucket("classes")
            .key(class)
            .storage_class(StorageClass::from(class))
            .body(ByteStream::from(text(2000)))
            .send()
            .await
            .unwrap();
        let head = s3.head_object().bucket("classes").key(class).send().await.unwrap();
        let shown = head.storage_class().map(|c| c.as_str().to_owned());
        assert_eq!(shown, (class != "STANDARD").then(|| class.to_owned()));
        let get = s3.get_object().bucket("classes").key(class).send().await.unwrap();
        assert_eq!(get.storage_class().map(|c| c.as_str().to_owned()), shown);
        assert_eq!(body_of(get).await, text(2000));
    }
    let listed = s3.list_objects_v2().bucket("classes").send().await.unwrap();
    let classes: Vec<_> = listed.contents().iter().map(|o| o.storage_class().unwrap().as_str().to_owned()).collect();
    assert!(classes.contains(&"ONEZONE_IA".to_owned()) && classes.contains(&"STANDARD".to_owned()), "{classes:?}");
    let versions = s3.list_object_versions().bucket("classes").prefix("GLACIER_IR").send().await.unwrap();
    assert_eq!(versions.versions()[0].storage_class().unwrap().as_str(), "GLACIER_IR");
    let attributes = s3
        .get_object_attributes()
        .bucket("classes")
        .key("STANDARD_IA")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(attributes.storage_class().unwrap().as_str(), "STANDARD_IA");
    // Changing the class of an object by copying it onto itself.
    s3.copy_object()
        .bucket("classes")
        .key("STANDARD")
        .copy_source("classes/STANDARD")
        .storage_class(StorageClass::OnezoneIa)
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("classes").key("STANDARD").send().await.unwrap();
    assert_eq!(head.storage_class(), Some(&StorageClass::OnezoneIa));
    // Uploads carry theirs into listings.
    let upload = s3
        .create_multipart_upload()
        .bucket("classes")
        .key("mp")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    let uploads = s3.list_multipart_uploads().bucket("classes").send().await.unwrap();
    assert_eq!(uploads.uploads()[0].storage_class(), Some(&StorageClass::StandardIa));
    let parts =
        s3.list_parts().bucket("classes").key("mp").upload_id(upload.upload_id().unwrap()).send().await.unwrap();
    assert_eq!(parts.storage_class(), Some(&StorageClass::StandardIa));
    let invalid = s3
        .put_object()
        .bucket("classes")
        .key("x")
        .storage_class(StorageClass::from("COLD"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&invalid), code(&invalid).as_str()), (400, "InvalidStorageClass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_reaches_the_disk_under_any_mode_and_rotation_keeps_old_objects_readable() {
    let mut server = TestServer::start().await;
    let s3 = server.client.clone();
    let keyring = server.handle.as_ref().unwrap().engine().keyring();
    keyring.create_kms_key(Some("grep")).unwrap();
    s3.create_bucket().bucket("grep").send().await.unwrap();
    let secret = customer_key(9);
    let body = || ByteStream::from(text(1024 * 1024 + 50));
    s3.put_object().bucket("grep").key("s3").body(body()).send().await.unwrap();
    let kms = |dsse| if dsse { ServerSideEncryption::AwsKmsDsse } else { ServerSideEncryption::AwsKms };
    for (name, dsse) in [("kms", false), ("dsse", true)] {
        s3.put_object()
            .bucket("grep")
            .key(name)
            .server_side_encryption(kms(dsse))
            .ssekms_key_id("alias/grep")
            .body(body())
            .send()
            .await
            .unwrap();
    }
    s3.put_object().bucket("grep").key("c").sse_c(&secret).body(body()).send().await.unwrap();
    // Rotation: new objects take the new master key, old ones keep reading.
    assert_eq!(keyring.rotate().unwrap(), 2);
    s3.put_object().bucket("grep").key("after").body(body()).send().await.unwrap();
    server.restart().await;
    let s3 = server.client.clone();
    for name in ["s3", "kms", "dsse", "after"] {
        let got = s3.get_object().bucket("grep").key(name).send().await.unwrap();
        assert_eq!(body_of(got).await, text(1024 * 1024 + 50), "{name}");
    }
    // Every file of the store (synced: each write above was acknowledged).
    let dir = server.data_dir().to_owned();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER), "plaintext in {}", path.display());
            assert!(!bytes.windows(32).any(|w| w == [9u8; 32]), "the customer's key in {}", path.display());
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_without_default_encryption_encrypts_only_what_is_asked() {
    let server = TestServer::start_unencrypted_by_default().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let missing = s3.get_bucket_encryption().bucket("plain").send().await.unwrap_err();
    assert_eq!((status(&missing), code(&missing).as_str()), (404, "ServerSideEncryptionConfigurationNotFoundError"));
    let put = s3.put_object().bucket("plain").key("open").body(ByteStream::from(text(100))).send().await.unwrap();
    assert_eq!(put.server_side_encryption(), None);
    let head = s3.head_object().bucket("plain").key("open").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), None);
    let asked = s3
        .put_object()
        .bucket("plain")
        .key("asked")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(text(100)))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // The unencrypted object's bytes are on disk as written (stored raw: too short to compress).
    let found = std::fs::read_dir(server.data_dir()).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file() && std::fs::read(&path).unwrap().windows(MARKER.len()).any(|w| w == MARKER)
    });
    assert!(found, "the search for plaintext finds it where it is");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_can_require_encryption_headers() {
    // AWS's documented "deny unencrypted object uploads" policy, and a KMS-only variant.
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("strict").send().await.unwrap();
    s3.delete_public_access_block().bucket("strict").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::strict/*",
         "Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}},
        {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::strict/kms/*",
         "Condition":{"StringNotEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}}]}"#;
    s3.put_bucket_policy().bucket("strict").policy(policy).send().await.unwrap();
    let put = |key: &'static str, sse: Option<ServerSideEncryption>| {
        s3.put_object()
            .bucket("strict")
            .key(key)
            .set_server_side_encryption(sse)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    let bare = put("a", None).await.unwrap_err();
    assert_eq!((status(&bare), code(&bare).as_str()), (403, "AccessDenied"));
    put("a", Some(ServerSideEncryption::Aes256)).await.unwrap();
    let wrong = put("kms/a", Some(ServerSideEncryption::Aes256)).await.unwrap_err();
    assert_eq!(status(&wrong), 403);
    let done = put("kms/a", Some(ServerSideEncryption::AwsKms)).await.unwrap();
    assert_eq!(done.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_objects_read_only_once_restored() {
    use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("cold").send().await.unwrap();
    for class in [StorageClass::Glacier, StorageClass::DeepArchive] {
        let key = class.as_str();
        s3.put_object()
            .bucket("cold")
            .key(key)
            .storage_class(class.clone())
            .body(ByteStream::from(text(3000)))
            .send()
            .await
            .unwrap();
        let head = s3.head_object().bucket("cold").key(key).send().await.unwrap();
        assert_eq!((head.storage_class(), head.restore()), (Some(&class), None));
        let archived = s3.get_object().bucket("cold").key(key).send().await.unwrap_err();
        assert_eq!((status(&archived), code(&archived).as_str()), (403, "InvalidObjectState"));
        let copy =
            s3.copy_object().bucket("cold").key("copy").copy_source(format!("cold/{key}")).send().await.unwrap_err();
        assert_eq!(code(&copy), "InvalidObjectState");
        // No Days, or Expedited where the class has none: refused.
        let no_days = s3
            .restore_object()
            .bucket("cold")
            .key(key)
            .restore_request(RestoreRequest::builder().build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&no_days), 400);
        let request = |tier: Tier| {
            RestoreRequest::builder()
                .days(2)
                .glacier_job_parameters(GlacierJobParameters::builder().tier(tier).build().unwrap())
                .build()
        };
        if class == StorageClass::DeepArchive {
            let expedited = s3
                .restore_object()
                .bucket("cold")
                .key(key)
                .restore_request(request(Tier::Expedited))
                .send()
                .await
                .unwrap_err();
            assert_eq!(code(&expedited), "InvalidArgument");
        }
        // The first restore is accepted (202); one while a copy is readable moves its expiry (200).
        s3.restore_object().bucket("cold").key(key).restore_request(request(Tier::Standard)).send().await.unwrap();
        let mut raw = crate::common::bench_client(server.addr, "cold");
        let body = bytes::Bytes::from_static(b"<RestoreRequest><Days>3</Days><Tier>Bulk</Tier></RestoreRequest>");
        let call = cairn_bench::client::Call::new(http::Method::POST, key)
            .query("restore")
            .payload(cairn_bench::client::Payload::Small(body));
        assert_eq!(raw.request(call).await.unwrap().status, 200);
        let head = s3.head_object().bucket("cold").key(key).send().await.unwrap();
        let restore = head.restore().unwrap();
        assert!(
            restore.starts_with("ongoing-request=\"false\", expiry-date=\"") && restore.ends_with(" 00:00:00 GMT\""),
            "{restore}"
        );
        let got = s3.get_object().bucket("cold").key(key).send().await.unwrap();
        assert_eq!(got.restore(), Some(restore));
        assert_eq!(body_of(got).await, text(3000));
    }
    // A first restore answers 202 Accepted.
    s3.put_object()
        .bucket("cold")
        .key("fresh")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let mut raw = crate::common::bench_client(server.addr, "cold");
    let body = bytes::Bytes::from_static(b"<RestoreRequest><Days>1</Days></RestoreRequest>");
    let call = cairn_bench::client::Call::new(http::Method::POST, "fresh")
        .query("restore")
        .payload(cairn_bench::client::Payload::Small(body));
    assert_eq!(raw.request(call).await.unwrap().status, 202);
    // A class that is not archived has nothing to restore.
    s3.put_object().bucket("cold").key("warm").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let request = RestoreRequest::builder().days(1).build();
    let warm = s3.restore_object().bucket("cold").key("warm").restore_request(request).send().await.unwrap_err();
    assert_eq!((status(&warm), code(&warm).as_str()), (403, "InvalidObjectState"));
}
