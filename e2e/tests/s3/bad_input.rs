//! The bad-input matrix: malformed and hostile requests, each answered with the status and error
//! code AWS gives, nothing partial stored, the server up throughout. Requests are signed by
//! cairn-bench's client (so a header or body can be anything) or sent raw.

use std::sync::Arc;

use cairn_bench::client::{Call, Payload, xml_element};
use http::Method;

use crate::common::{self, ACCESS_KEY, SECRET_KEY, TestServer};

/// How a case's request is sent.
enum Send {
    /// Signed, on `bucket`.
    Signed {
        bucket: &'static str,
        method: Method,
        key: String,
        query: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Raw bytes of a request head (and body) on a fresh connection; `length`: with a
    /// Content-Length header.
    Raw { method: &'static str, path: String, headers: Vec<(String, String)>, body: Vec<u8>, length: bool },
}

struct Case {
    name: String,
    send: Send,
    status: u16,
    /// The S3 error code, or "" for responses without one (304, HEAD).
    code: &'static str,
}

fn signed(
    name: impl Into<String>,
    bucket: &'static str,
    method: Method,
    key: &str,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name: name.into(),
        send: Send::Signed {
            bucket,
            method,
            key: key.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        },
        status,
        code,
    }
}

impl Case {
    fn query(mut self, text: &str) -> Case {
        if let Send::Signed { query, .. } = &mut self.send {
            *query = text.into();
        }
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        if let Send::Signed { headers, .. } = &mut self.send {
            headers.push((name, value.into()));
        }
        self
    }

    /// Sends a raw request without Content-Length (and without a chunked body).
    fn without_length(mut self) -> Case {
        if let Send::Raw { length, .. } = &mut self.send {
            *length = false;
        }
        self
    }

    fn body(mut self, bytes: impl Into<Vec<u8>>) -> Case {
        if let Send::Signed { body, .. } = &mut self.send {
            *body = bytes.into();
        }
        self
    }
}

fn raw(
    name: &str,
    method: &'static str,
    path: &str,
    headers: &[(&str, &str)],
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name: name.into(),
        send: Send::Raw {
            method,
            path: path.into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: Vec::new(),
            length: true,
        },
        status,
        code,
    }
}

const B: &str = "matrix";

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let put = |name: &str, key: &str, status, code| signed(name, B, Method::PUT, key, status, code).body("data");
    // Authentication.
    cases.push(raw("anonymous GET", "GET", "/matrix/exists", &[], 403, "AccessDenied"));
    cases.push(raw("anonymous PUT", "PUT", "/matrix/anon", &[], 403, "AccessDenied"));
    cases.push(raw("anonymous ListBuckets", "GET", "/", &[], 403, "AccessDenied"));
    cases.push(raw(
        "SigV2 header",
        "GET",
        "/matrix/exists",
        &[("Authorization", "AWS CAIRNTESTROOT:c2ln")],
        400,
        "InvalidRequest",
    ));
    cases.push(raw(
        "SigV2 query",
        "GET",
        "/matrix/exists?AWSAccessKeyId=CAIRNTESTROOT&Expires=9999999999&Signature=abc",
        &[],
        400,
        "InvalidRequest",
    ));
    let (day, now) = amz_now();
    let credential = format!(
        "AWS4-HMAC-SHA256 Credential=NOBODY/{day}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
        "0".repeat(64)
    );
    let headers = [
        ("Authorization", leak(&credential)),
        ("x-amz-date", leak(&now)),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    cases.push(raw("unknown access key", "GET", "/matrix/exists", &headers, 403, "InvalidAccessKeyId"));
    cases.push(raw(
        "malformed Authorization",
        "GET",
        "/matrix/exists",
        &[("Authorization", "AWS4-HMAC-SHA256 garbage")],
        400,
        "AuthorizationHeaderMalformed",
    ));
    cases.push(raw(
        "empty Authorization beside auth headers",
        "GET",
        "/matrix/exists",
        &[("Authorization", ""), ("x-amz-date", leak(&now)), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        403,
        "AccessDenied",
    ));
    let undated = [("Authorization", leak(&credential)), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
    cases.push(raw("SigV4 with neither x-amz-date nor Date", "GET", "/matrix/exists", &undated, 403, "AccessDenied"));
    let bad_dates = [
        ("Authorization", leak(&credential)),
        ("x-amz-date", "20261301T000000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    cases.push(raw("SigV4 with a malformed x-amz-date", "GET", "/matrix/exists", &bad_dates, 403, "AccessDenied"));
    let presigned = |query: &str| format!("/matrix/exists?{query}");
    let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=CAIRNTESTROOT%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";
    for (name, from, to) in [
        ("presigned, no X-Amz-Credential", "X-Amz-Credential=", "X-Other="),
        ("presigned, no X-Amz-Signature", "X-Amz-Signature=", "X-Other="),
        ("presigned, no X-Amz-Expires", "X-Amz-Expires=", "X-Other="),
        ("presigned, another algorithm", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        ("presigned, credential without its scope", "%2F20261128%2Fus-east-1%2Fs3%2Faws4_request", ""),
        ("presigned, malformed X-Amz-Date", "X-Amz-Date=20261128T000000Z", "X-Amz-Date=yesterday"),
        ("presigned, negative expiry", "X-Amz-Expires=60", "X-Amz-Expires=-1"),
        ("presigned, expiry not a number", "X-Amz-Expires=60", "X-Amz-Expires=soon"),
    ] {
        let url = presigned(&full.replacen(from, to, 1));
        cases.push(raw(name, "GET", &url, &[], 400, "AuthorizationQueryParametersError"));
    }
    cases.push(
        raw(
            "PUT with neither Content-Length nor a chunked body",
            "PUT",
            "/matrix/nolength",
            &[],
            411,
            "MissingContentLength",
        )
        .without_length(),
    );
    cases.push(raw("presigned, expired far past", "GET", "/matrix/exists?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=CAIRNTESTROOT%2F20200101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000", &[], 403, "AccessDenied"));
    cases.push(raw("presigned, expiry over 7 days", "GET", "/matrix/exists?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=CAIRNTESTROOT%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00", &[], 400, "AuthorizationQueryParametersError"));
    // Bucket names.
    for name in [
        "ab",
        "UPPER",
        "under_score",
        "-start",
        "end-",
        "192.168.1.1",
        "xn--punycode",
        "alias-s3alias",
        "a..b",
        "sthree-reserved",
        "reserved--x-s3",
    ] {
        cases.push(signed(format!("bucket name {name:?}"), leak(name), Method::PUT, "", 400, "InvalidBucketName"));
    }
    cases.push(signed(
        "bucket name of 64 characters",
        leak(&"a".repeat(64)),
        Method::PUT,
        "",
        400,
        "InvalidBucketName",
    ));
    // us-east-1 answers its owner's re-creation with 200 (other regions: see conformance.rs).
    cases.push(signed("bucket that exists, in us-east-1", B, Method::PUT, "", 200, ""));
    cases.push(signed("bucket in another region", "elsewhere", Method::PUT, "", 400, "IllegalLocationConstraintException").body(
        "<CreateBucketConfiguration><LocationConstraint>eu-west-3</LocationConstraint></CreateBucketConfiguration>",
    ));
    cases.push(
        signed("malformed CreateBucketConfiguration", "malformedcfg", Method::PUT, "", 400, "MalformedXML")
            .body("<CreateBucketConfiguration>"),
    );
    cases.push(signed("missing bucket", "nosuchbucket", Method::GET, "key", 404, "NoSuchBucket"));
    cases.push(signed("delete a missing bucket", "nosuchbucket", Method::DELETE, "", 404, "NoSuchBucket"));
    cases.push(signed("delete a bucket with objects", B, Method::DELETE, "", 409, "BucketNotEmpty"));
    // Keys and metadata.
    cases.push(put("key of 1,025 bytes", &"k".repeat(1025), 400, "KeyTooLongError"));
    cases.push(put("metadata over 2 KB", "meta", 400, "MetadataTooLarge").header("x-amz-meta-big", "v".repeat(2100)));
    cases.push(signed("missing key", B, Method::GET, "nothing-here", 404, "NoSuchKey"));
    // Tags.
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    cases.push(put("11 tags in x-amz-tagging", "tags", 400, "InvalidTag").header("x-amz-tagging", eleven.join("&")));
    cases.push(
        put("tag key of 129 characters", "tags", 400, "InvalidTag")
            .header("x-amz-tagging", format!("{}=v", "k".repeat(129))),
    );
    cases.push(
        put("tag value of 257 characters", "tags", 400, "InvalidTag")
            .header("x-amz-tagging", format!("k={}", "v".repeat(257))),
    );
    cases.push(put("duplicate tag keys", "tags", 400, "InvalidTag").header("x-amz-tagging", "k=1&k=2"));
    let tagging = |n: usize| {
        let tags: String = (0..n).map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>")).collect();
        format!("<Tagging><TagSet>{tags}</TagSet></Tagging>")
    };
    cases.push(
        signed("PutObjectTagging with 11 tags", B, Method::PUT, "exists", 400, "InvalidTag")
            .query("tagging")
            .body(tagging(11)),
    );
    cases.push(
        signed("PutObjectTagging malformed", B, Method::PUT, "exists", 400, "MalformedXML")
            .query("tagging")
            .body("<Tagging><TagSet>"),
    );
    cases.push(
        signed("PutBucketTagging with 51 tags", B, Method::PUT, "", 400, "InvalidTag")
            .query("tagging")
            .body(tagging(51)),
    );
    cases.push(
        signed("PutBucketTagging malformed", B, Method::PUT, "", 400, "MalformedXML").query("tagging").body("not xml"),
    );
    // XML bodies.
    cases.push(
        signed("versioning status Bogus", B, Method::PUT, "", 400, "MalformedXML")
            .query("versioning")
            .body("<VersioningConfiguration><Status>Bogus</Status></VersioningConfiguration>"),
    );
    cases.push(
        signed("versioning malformed", B, Method::PUT, "", 400, "MalformedXML").query("versioning").body("<Versioning"),
    );
    cases.push(
        signed("versioning with MFA delete, no x-amz-mfa", B, Method::PUT, "", 403, "AccessDenied")
            .query("versioning")
            .body("<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>"),
    );
    cases.push(
        signed("versioning with MFA delete, a made-up device", B, Method::PUT, "", 403, "AccessDenied")
            .query("versioning")
            .header("x-amz-mfa", "arn:aws:iam::123456789012:mfa/none 123456")
            .body("<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>"),
    );
    cases.push(
        signed("versioning with MfaDelete Bogus", B, Method::PUT, "", 400, "MalformedXML").query("versioning").body(
            "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Bogus</MfaDelete></VersioningConfiguration>",
        ),
    );
    cases.push(
        signed("PutObjectLockConfiguration without Content-MD5", B, Method::PUT, "", 400, "InvalidRequest")
            .query("object-lock")
            .body("<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"),
    );
    cases.push(
        signed("PutObjectRetention without Content-MD5", B, Method::PUT, "exists", 400, "InvalidRequest")
            .query("retention")
            .body(
                "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>",
            ),
    );
    cases.push(
        signed("PutBucketLifecycleConfiguration without Content-MD5", B, Method::PUT, "", 400, "InvalidRequest")
            .query("lifecycle")
            .body("<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>"),
    );
    cases.push(
        signed("PutBucketLogging without Content-MD5", B, Method::PUT, "", 400, "InvalidRequest")
            .query("logging")
            .body("<BucketLoggingStatus><LoggingEnabled><TargetBucket>matrix</TargetBucket><TargetPrefix>l/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>"),
    );
    cases.push(
        signed("PutBucketNotificationConfiguration not XML", B, Method::PUT, "", 400, "MalformedXML")
            .query("notification")
            .body("<NotificationConfiguration><QueueConfiguration>"),
    );
    cases.push(
        signed("notification configuration with no Event", B, Method::PUT, "", 400, "MalformedXML")
            .query("notification")
            .body("<NotificationConfiguration><QueueConfiguration><Queue>arn:aws:sqs:us-east-1:1:q</Queue></QueueConfiguration></NotificationConfiguration>"),
    );
    cases.push(
        signed("notification configuration with an unknown event", B, Method::PUT, "", 400, "InvalidArgument")
            .query("notification")
            .body("<NotificationConfiguration><QueueConfiguration><Queue>arn:aws:sqs:us-east-1:1:q</Queue><Event>s3:Everything</Event></QueueConfiguration></NotificationConfiguration>"),
    );
    cases.push(
        signed("PutBucketReplication not XML", B, Method::PUT, "", 400, "MalformedXML")
            .query("replication")
            .body("<ReplicationConfiguration><Rule>"),
    );
    cases.push(
        signed("PutBucketReplication without Content-MD5", B, Method::PUT, "", 400, "InvalidRequest")
            .query("replication")
            .body("<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role><Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::other</Bucket></Destination></Rule></ReplicationConfiguration>"),
    );
    cases.push(
        signed("PUT with a malformed x-cairn-replica", B, Method::PUT, "replica", 400, "InvalidArgument")
            .header("x-cairn-replica", "not-a-version")
            .header("x-cairn-replica-last-modified", "1")
            .body("x"),
    );
    cases.push(
        signed("DELETE of a version with x-cairn-replica", B, Method::DELETE, "replica", 400, "InvalidRequest")
            .query("versionId=0000000000000001")
            .header("x-cairn-replica", "0000000000000001")
            .header("x-cairn-replica-last-modified", "1"),
    );
    cases.push(
        signed("PutObjectLegalHold without Content-MD5", B, Method::PUT, "exists", 400, "InvalidRequest")
            .query("legal-hold")
            .body("<LegalHold><Status>ON</Status></LegalHold>"),
    );
    cases.push(
        signed("PUT with a lock mode, no lock on the bucket", B, Method::PUT, "locked", 400, "InvalidRequest")
            .header("x-amz-object-lock-mode", "GOVERNANCE")
            .header("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z")
            .body("x"),
    );
    cases.push(
        signed("DeleteObjects malformed", B, Method::POST, "", 400, "MalformedXML")
            .query("delete")
            .body("<Delete><Object>"),
    );
    let thousand_one: String = (0..1001).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
    cases.push(
        signed("DeleteObjects with 1,001 keys", B, Method::POST, "", 400, "MalformedXML")
            .query("delete")
            .body(format!("<Delete>{thousand_one}</Delete>")),
    );
    // Over s3s's 20 MB limit for XML bodies.
    let oversized = format!("<Delete>{}</Delete>", "<Object><Key>k</Key></Object>".repeat((21 << 20) / 29 + 1));
    cases.push(
        signed("XML body over 20 MB", B, Method::POST, "", 400, "MaxMessageLengthExceeded")
            .query("delete")
            .body(oversized),
    );
    cases.push(
        signed("CompleteMultipartUpload malformed", B, Method::POST, "mp", 400, "MalformedXML")
            .query("uploadId=UPLOAD")
            .body("<CompleteMultipartUpload><Part>"),
    );
    cases.push(
        signed("CompleteMultipartUpload with no parts", B, Method::POST, "mp", 400, "MalformedXML")
            .query("uploadId=UPLOAD")
            .body("<CompleteMultipartUpload></CompleteMultipartUpload>"),
    );
    // Digests and checksums.
    cases.push(put("wrong Content-MD5", "digest", 400, "BadDigest").header("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="));
    cases.push(put("malformed Content-MD5", "digest", 400, "InvalidDigest").header("content-md5", "not base64"));
    cases.push(put("Content-MD5 of the wrong length", "digest", 400, "InvalidDigest").header("content-md5", "AAAA"));
    cases.push(put("empty Content-MD5", "digest", 400, "InvalidDigest").header("content-md5", ""));
    // Server-side encryption asked for wrongly: AWS's errors, nothing stored.
    cases.push(
        put("SSE method S3 does not have", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption", "AES128"),
    );
    cases.push(
        put("KMS key id without aws:kms", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption-aws-kms-key-id", "alias/app"),
    );
    cases.push(
        put("KMS key that does not exist", "sse", 400, "KMS.NotFoundException")
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-server-side-encryption-aws-kms-key-id", "alias/none"),
    );
    cases.push(
        put("encryption context that is not base64 JSON", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-server-side-encryption-context", "not json"),
    );
    cases.push(
        put("bucket key flag that is not a bool", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-server-side-encryption-bucket-key-enabled", "yes"),
    );
    cases.push(
        put("SSE-C algorithm only", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption-customer-algorithm", "AES256"),
    );
    cases.push(
        put("SSE-C algorithm S3 does not have", "sse", 400, "InvalidEncryptionAlgorithmError")
            .header("x-amz-server-side-encryption-customer-algorithm", "AES128")
            .header("x-amz-server-side-encryption-customer-key", "AAAA")
            .header("x-amz-server-side-encryption-customer-key-MD5", "AAAA"),
    );
    cases.push(
        put("SSE-C key of the wrong length", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
            .header("x-amz-server-side-encryption-customer-key", "AAAA")
            .header("x-amz-server-side-encryption-customer-key-MD5", "AAAA"),
    );
    cases.push(
        put("SSE-C with SSE-S3", "sse", 400, "InvalidArgument")
            .header("x-amz-server-side-encryption", "AES256")
            .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
            .header("x-amz-server-side-encryption-customer-key", "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=")
            .header("x-amz-server-side-encryption-customer-key-MD5", "8NB6psqPvuXCjIqE3J2m5Q=="),
    );
    cases.push(
        put("storage class OUTPOSTS (not on general purpose buckets)", "class", 400, "InvalidStorageClass")
            .header("x-amz-storage-class", "OUTPOSTS"),
    );
    cases.push(put("storage class BOGUS", "class", 400, "InvalidStorageClass").header("x-amz-storage-class", "BOGUS"));
    cases.push(
        signed(
            "CreateMultipartUpload with an SSE method S3 does not have",
            B,
            Method::POST,
            "sse",
            400,
            "InvalidArgument",
        )
        .query("uploads")
        .header("x-amz-server-side-encryption", "AES128"),
    );
    // XML documents are held to the digests they claim too (nothing is deleted or tagged).
    let delete_exists = "<Delete><Object><Key>exists</Key></Object></Delete>";
    cases.push(
        signed("DeleteObjects with a wrong Content-MD5", B, Method::POST, "", 400, "BadDigest")
            .query("delete")
            .header("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")
            .body(delete_exists),
    );
    cases.push(
        signed("DeleteObjects with a malformed Content-MD5", B, Method::POST, "", 400, "InvalidDigest")
            .query("delete")
            .header("content-md5", "nope")
            .body(delete_exists),
    );
    cases.push(
        signed("DeleteObjects with a wrong x-amz-checksum-crc32", B, Method::POST, "", 400, "BadDigest")
            .query("delete")
            .header("x-amz-checksum-crc32", "AAAAAA==")
            .body(delete_exists),
    );
    cases.push(
        signed("PutObjectTagging with a wrong x-amz-checksum-sha256", B, Method::PUT, "exists", 400, "BadDigest")
            .query("tagging")
            .header("x-amz-checksum-sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .body(tagging(1)),
    );
    for (header, value) in [
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-checksum-crc32c", "AAAAAA=="),
        ("x-amz-checksum-sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("x-amz-checksum-sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("x-amz-checksum-crc64nvme", "AAAAAAAAAAA="),
    ] {
        cases.push(put(&format!("wrong {header}"), "digest", 400, "BadDigest").header(header, value));
        cases.push(put(&format!("malformed {header}"), "digest", 400, "InvalidRequest").header(header, "!!"));
    }
    cases.push(
        put("two checksum headers", "digest", 400, "InvalidRequest")
            .header("x-amz-checksum-crc32", "AAAAAA==")
            .header("x-amz-checksum-crc32c", "AAAAAA=="),
    );
    cases.push(
        put("checksum algorithm without a value", "digest", 400, "InvalidRequest")
            .header("x-amz-sdk-checksum-algorithm", "CRC32"),
    );
    // Multipart.
    cases.push(
        signed("part number 0", B, Method::PUT, "mp", 400, "InvalidArgument")
            .query("partNumber=0&uploadId=UPLOAD")
            .body("x"),
    );
    cases.push(
        signed("part number 10,001", B, Method::PUT, "mp", 400, "InvalidArgument")
            .query("partNumber=10001&uploadId=UPLOAD")
            .body("x"),
    );
    cases.push(
        signed("part to an unknown upload", B, Method::PUT, "mp", 404, "NoSuchUpload")
            .query("partNumber=1&uploadId=u00000000deadbeef")
            .body("x"),
    );
    cases.push(
        signed("part to a malformed upload id", B, Method::PUT, "mp", 404, "NoSuchUpload")
            .query("partNumber=1&uploadId=garbage")
            .body("x"),
    );
    cases.push(
        signed("ListParts of an unknown upload", B, Method::GET, "mp", 404, "NoSuchUpload")
            .query("uploadId=u00000000deadbeef"),
    );
    cases.push(
        signed("abort an unknown upload", B, Method::DELETE, "mp", 404, "NoSuchUpload")
            .query("uploadId=u00000000deadbeef"),
    );
    cases.push(signed("complete with a part never uploaded", B, Method::POST, "mp", 400, "InvalidPart").query("uploadId=UPLOAD").body(
        "<CompleteMultipartUpload><Part><PartNumber>7</PartNumber><ETag>\"00000000000000000000000000000000\"</ETag></Part></CompleteMultipartUpload>",
    ));
    cases.push(signed("complete with parts out of order", B, Method::POST, "mp", 400, "InvalidPartOrder").query("uploadId=UPLOAD").body(
        "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\"0cc175b9c0f1b6a831c399e269772661\"</ETag></Part><Part><PartNumber>1</PartNumber><ETag>\"0cc175b9c0f1b6a831c399e269772661\"</ETag></Part></CompleteMultipartUpload>",
    ));
    cases.push(
        signed("complete with a small first part", B, Method::POST, "mp", 400, "EntityTooSmall")
            .query("uploadId=UPLOAD")
            .body("PARTS"),
    );
    // Ranges, part numbers and conditions on reads.
    let get = |name: &str| signed(name, B, Method::GET, "exists", 416, "InvalidRange");
    cases.push(get("range past the end").header("range", "bytes=100-200"));
    cases.push(get("suffix range of zero").header("range", "bytes=-0"));
    cases.push(
        signed("part number 2 of a single PUT", B, Method::GET, "exists", 400, "InvalidPart").query("partNumber=2"),
    );
    cases.push(signed("GET part number 0", B, Method::GET, "exists", 400, "InvalidArgument").query("partNumber=0"));
    cases.push(
        signed("GET part number 10,001", B, Method::GET, "exists", 400, "InvalidArgument").query("partNumber=10001"),
    );
    cases.push(signed("HEAD part number 2 of a single PUT", B, Method::HEAD, "exists", 400, "").query("partNumber=2"));
    cases.push(
        signed("range and part number together", B, Method::GET, "exists", 400, "InvalidRequest")
            .query("partNumber=1")
            .header("range", "bytes=0-1"),
    );
    cases.push(
        signed("If-Match that does not match", B, Method::GET, "exists", 412, "PreconditionFailed")
            .header("if-match", "\"0000\""),
    );
    cases.push(signed("If-None-Match that matches", B, Method::GET, "exists", 304, "").header("if-none-match", "*"));
    cases.push(
        signed("If-Unmodified-Since long ago", B, Method::GET, "exists", 412, "PreconditionFailed")
            .header("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"),
    );
    cases.push(
        signed("HEAD with If-Match that does not match", B, Method::HEAD, "exists", 412, "")
            .header("if-match", "\"0000\""),
    );
    cases.push(
        signed("PUT If-None-Match * over an object", B, Method::PUT, "exists", 412, "PreconditionFailed")
            .header("if-none-match", "*")
            .body("no"),
    );
    cases.push(
        signed("PUT If-Match on a missing key", B, Method::PUT, "missing-cond", 404, "NoSuchKey")
            .header("if-match", "\"0000\"")
            .body("no"),
    );
    cases.push(
        signed("PUT If-Match that does not match", B, Method::PUT, "exists", 412, "PreconditionFailed")
            .header("if-match", "\"0000\"")
            .body("no"),
    );
    cases.push(
        signed("PUT If-Match * on a missing key", B, Method::PUT, "missing-cond", 404, "NoSuchKey")
            .header("if-match", "*")
            .body("no"),
    );
    cases.push(
        signed("PUT If-None-Match with an ETag", B, Method::PUT, "exists", 501, "NotImplemented")
            .header("if-none-match", "\"0000\"")
            .body("no"),
    );
    cases.push(
        signed("PUT If-Match and If-None-Match * over an object", B, Method::PUT, "exists", 412, "PreconditionFailed")
            .header("if-match", "\"0000\"")
            .header("if-none-match", "*")
            .body("no"),
    );
    // Version ids and listings.
    cases.push(
        signed("malformed version id", B, Method::GET, "exists", 400, "InvalidArgument").query("versionId=garbage"),
    );
    cases.push(
        signed("unknown version id", B, Method::GET, "exists", 404, "NoSuchVersion")
            .query("versionId=00000000deadbeef"),
    );
    cases.push(
        signed("delete of a malformed version id", B, Method::DELETE, "exists", 400, "InvalidArgument")
            .query("versionId=zz"),
    );
    cases.push(
        signed("max-keys below zero", B, Method::GET, "", 400, "InvalidArgument").query("list-type=2&max-keys=-1"),
    );
    cases.push(signed("max-buckets of 0", "", Method::GET, "", 400, "InvalidArgument").query("max-buckets=0"));
    cases.push(signed("max-buckets of 10,001", "", Method::GET, "", 400, "InvalidArgument").query("max-buckets=10001"));
    cases.push(
        signed("garbage ListBuckets continuation token", "", Method::GET, "", 400, "InvalidArgument")
            .query("continuation-token=zz"),
    );
    cases.push(
        signed("max-keys not a number", B, Method::GET, "", 400, "InvalidArgument").query("list-type=2&max-keys=many"),
    );
    cases.push(
        signed("garbage continuation token", B, Method::GET, "", 400, "InvalidArgument")
            .query("list-type=2&continuation-token=zz"),
    );
    cases.push(
        signed("unknown encoding type", B, Method::GET, "", 400, "InvalidArgument")
            .query("list-type=2&encoding-type=base64"),
    );
    cases.push(
        signed("v1 listing, unknown encoding", B, Method::GET, "", 400, "InvalidArgument").query("encoding-type=gzip"),
    );
    cases.push(
        signed("version-id-marker without key-marker", B, Method::GET, "", 400, "InvalidArgument")
            .query("versions&version-id-marker=00000000deadbeef"),
    );
    cases.push(
        signed("uploads listing, unknown encoding", B, Method::GET, "", 400, "InvalidArgument")
            .query("uploads&encoding-type=x"),
    );
    // Copies.
    cases.push(
        signed("copy from a missing key", B, Method::PUT, "copy", 404, "NoSuchKey")
            .header("x-amz-copy-source", "/matrix/none"),
    );
    cases.push(
        signed("copy from a missing bucket", B, Method::PUT, "copy", 404, "NoSuchBucket")
            .header("x-amz-copy-source", "/nosuchbucket/none"),
    );
    cases.push(
        signed("copy onto itself unchanged", B, Method::PUT, "exists", 400, "InvalidRequest")
            .header("x-amz-copy-source", "/matrix/exists"),
    );
    cases.push(
        signed("copy with a malformed source", B, Method::PUT, "copy", 400, "InvalidArgument")
            .header("x-amz-copy-source", "no-slash"),
    );
    cases.push(
        signed("copy-source If-Match that fails", B, Method::PUT, "copy", 412, "PreconditionFailed")
            .header("x-amz-copy-source", "/matrix/exists")
            .header("x-amz-copy-source-if-match", "\"0000\""),
    );
    cases.push(
        signed("UploadPartCopy range past the source", B, Method::PUT, "mp", 416, "InvalidRange")
            .query("partNumber=1&uploadId=UPLOAD")
            .header("x-amz-copy-source", "/matrix/exists")
            .header("x-amz-copy-source-range", "bytes=0-999999"),
    );
    // Configurations a bucket cannot have yet: AWS's answer for a bucket without one.
    cases.push(signed("GetBucketPolicy, none", B, Method::GET, "", 404, "NoSuchBucketPolicy").query("policy"));
    cases.push(
        signed("GetBucketPolicyStatus, none", B, Method::GET, "", 404, "NoSuchBucketPolicy").query("policyStatus"),
    );
    cases.push(
        signed("GetBucketLifecycleConfiguration, none", B, Method::GET, "", 404, "NoSuchLifecycleConfiguration")
            .query("lifecycle"),
    );
    cases.push(signed("GetBucketCors, none", B, Method::GET, "", 404, "NoSuchCORSConfiguration").query("cors"));
    cases
        .push(signed("GetBucketWebsite, none", B, Method::GET, "", 404, "NoSuchWebsiteConfiguration").query("website"));
    cases.push(
        signed("GetBucketReplication, none", B, Method::GET, "", 404, "ReplicationConfigurationNotFoundError")
            .query("replication"),
    );
    cases.push(
        signed("GetObjectLockConfiguration, none", B, Method::GET, "", 404, "ObjectLockConfigurationNotFoundError")
            .query("object-lock"),
    );
    cases.push(
        signed("GetObjectRetention, no lock", B, Method::GET, "exists", 400, "InvalidRequest").query("retention"),
    );
    cases.push(
        signed("GetObjectLegalHold, no lock", B, Method::GET, "exists", 400, "InvalidRequest").query("legal-hold"),
    );
    cases.push(signed("DeleteBucketCors, none", B, Method::DELETE, "", 204, "").query("cors"));
    for kind in ["analytics", "intelligent-tiering", "inventory", "metrics"] {
        let query = leak(&format!("{kind}&id=report"));
        cases.push(
            signed(format!("Get {kind} configuration, none"), B, Method::GET, "", 404, "NoSuchConfiguration")
                .query(query),
        );
        cases.push(
            signed(format!("Delete {kind} configuration, none"), B, Method::DELETE, "", 404, "NoSuchConfiguration")
                .query(query),
        );
    }
    // Operations Cairn does not implement yet, where AWS would succeed: 501 ...
    cases.push(signed("GetBucketAcl", B, Method::GET, "", 200, "").query("acl"));
    cases.push(signed("GetBucketEncryption", B, Method::GET, "", 200, "").query("encryption"));
    cases.push(signed("GetObjectAcl", B, Method::GET, "exists", 200, "").query("acl"));
    cases.push(
        signed("RestoreObject of a STANDARD object", B, Method::POST, "exists", 403, "InvalidObjectState")
            .query("restore")
            .body("<RestoreRequest><Days>1</Days></RestoreRequest>"),
    );
    // ... and where AWS would not, AWS's error first.
    cases.push(
        signed("GetBucketAcl of a missing bucket", "nosuchbucket", Method::GET, "", 404, "NoSuchBucket").query("acl"),
    );
    cases.push(signed("GetObjectAcl of a missing key", B, Method::GET, "nothing-here", 404, "NoSuchKey").query("acl"));
    cases.push(signed("PutObjectAcl of a missing key", B, Method::PUT, "nothing-here", 404, "NoSuchKey").query("acl"));
    cases.push(
        signed("GetObjectRetention of a missing key", B, Method::GET, "nothing-here", 404, "NoSuchKey")
            .query("retention"),
    );
    cases.push(
        signed("GetBucketPolicy of a missing bucket", "nosuchbucket", Method::GET, "", 404, "NoSuchBucket")
            .query("policy"),
    );
    cases.push(signed("DeleteObject in a missing bucket", "nosuchbucket", Method::DELETE, "key", 404, "NoSuchBucket"));
    // Oversized heads.
    cases.push(raw("a 100 KB header", "GET", "/matrix/exists", &[("x-huge", leak(&"h".repeat(100 * 1024)))], 431, ""));
    cases
}

/// A signed PUT that announces 1 MiB, sends 10 bytes and closes the connection.
fn dropped_upload(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "PUT /matrix/dropped HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1048576\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n0123456789"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Both).unwrap();
}

/// Now as SigV4 writes it: (`yyyymmdd`, `yyyymmddThhmmssZ`).
fn amz_now() -> (String, String) {
    let now = aws_sdk_s3::primitives::DateTime::from(std::time::SystemTime::now());
    let text = now.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap();
    let digits: String = text.chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect();
    (digits[..8].to_owned(), format!("{digits}Z"))
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

async fn send(addr: std::net::SocketAddr, case: &Case, upload: &str, parts_body: &str) -> (u16, String) {
    match &case.send {
        Send::Signed { bucket, method, key, query, headers, body } => {
            let mut client = common::bench_client(addr, bucket);
            let query = query.replace("UPLOAD", upload);
            let body = if body == b"PARTS" { parts_body.as_bytes().to_vec() } else { body.clone() };
            let payload = if body.is_empty() { Payload::Empty } else { Payload::Small(body.into()) };
            let call = Call::new(method.clone(), key).query(&query).headers(headers).payload(payload);
            let reply = client.request(call).await.unwrap();
            let code = reply.error.as_deref().and_then(|e| xml_element(e, "Code")).unwrap_or("").to_owned();
            (reply.status, code)
        }
        Send::Raw { method, path, headers, body, length } => {
            let (method, path, headers, body, length) = (*method, path.clone(), headers.clone(), body.clone(), *length);
            tokio::task::spawn_blocking(move || {
                let (status, _, body) = if length {
                    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                    common::raw_http(addr, method, &path, &headers, &body)
                } else {
                    let head: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
                    let request =
                        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head}\r\n");
                    common::raw_exchange(addr, request.as_bytes())
                };
                let text = String::from_utf8_lossy(&body).into_owned();
                (status, xml_element(&text, "Code").unwrap_or("").to_owned())
            })
            .await
            .unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_the_aws_error_and_changes_nothing() {
    use aws_sdk_s3::primitives::ByteStream;
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket(B).send().await.unwrap();
    s3.put_object().bucket(B).key("exists").body(ByteStream::from_static(b"0123456789")).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket(B).key("mp").send().await.unwrap().upload_id().unwrap().to_owned();
    // Two small parts, so completing them is EntityTooSmall.
    let parts = common::upload_parts(s3, B, "mp", &upload, &[b"a".to_vec(), b"b".to_vec()]).await;
    let parts_body: String = parts
        .iter()
        .map(|p| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.part_number().unwrap(),
                p.e_tag().unwrap()
            )
        })
        .collect();
    let parts_body = format!("<CompleteMultipartUpload>{parts_body}</CompleteMultipartUpload>");

    let cases = cases();
    assert!(cases.len() >= 179, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let (status, code) = send(server.addr, case, &upload, &parts_body).await;
        if status != case.status || code != case.code {
            wrong.push(format!("{}: got {status} {code:?}, AWS gives {} {:?}", case.name, case.status, case.code));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));

    // Object data is not XML: a 21 MiB PUT and part are not held to the XML limit.
    let big = common::body(3, 21 << 20);
    s3.put_object().bucket(B).key("big").body(ByteStream::from(big.clone())).send().await.unwrap();
    let big_part = s3.upload_part().bucket(B).key("mp").upload_id(&upload).part_number(3);
    big_part.body(ByteStream::from(big)).send().await.unwrap();
    s3.delete_object().bucket(B).key("big").send().await.unwrap();

    // A body cut short by a dropped connection: nothing is stored.
    let addr = server.addr;
    tokio::task::spawn_blocking(move || dropped_upload(addr)).await.unwrap();

    // Nothing partial is stored, and what was there is intact.
    let listed = s3.list_objects_v2().bucket(B).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["exists"]);
    let body = s3.get_object().bucket(B).key("exists").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"0123456789");
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1, "no bucket was created by a refused request");
    server.stop().await;
}

/// A server over a fault-injecting backend.
async fn faulty_server() -> (cairn_server::ServerHandle, Arc<cairn_engine::io::fault::FaultBackend>, tempfile::TempDir)
{
    let dir = tempfile::tempdir().unwrap();
    let real = cairn_engine::io::backend_for(cairn_engine::IoMode::Threads).unwrap();
    let fault = Arc::new(cairn_engine::io::fault::FaultBackend::new(real));
    let config = cairn_engine::EngineConfig { io: cairn_engine::IoMode::Threads, ..Default::default() };
    let engine = cairn_engine::Engine::open_with_backend(dir.path(), config, fault.clone()).unwrap();
    let server_config = cairn_server::Config {
        address: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        region: "us-east-1".into(),
        io: cairn_engine::IoMode::Threads,
        domain: None,
        root: cairn_server::Credentials { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() },
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
    let server = cairn_server::start_with_engine(server_config, engine).await.unwrap();
    (server, fault, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_an_error_and_writes_resume_when_space_returns() {
    use aws_sdk_s3::primitives::ByteStream;
    let (server, fault, _dir) = faulty_server().await;
    let s3 = common::client(server.local_addr(), ACCESS_KEY, SECRET_KEY);
    s3.create_bucket().bucket("full").send().await.unwrap();
    s3.put_object().bucket("full").key("before").body(ByteStream::from_static(b"kept")).send().await.unwrap();
    fault.set_write_error(Some(ENOSPC));
    for (key, size) in [("small", 100), ("large", 3 << 20)] {
        let body = common::body(1, size);
        let error = s3.put_object().bucket("full").key(key).body(ByteStream::from(body)).send().await.unwrap_err();
        assert_eq!(common::code(&error), "ServiceUnavailable", "{key}: a full disk is a retryable 503");
    }
    let error = s3.create_bucket().bucket("another").send().await.unwrap_err();
    assert_eq!(common::code(&error), "ServiceUnavailable");
    // Reads go on while the disk is full.
    let kept = s3.get_object().bucket("full").key("before").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(kept.into_bytes().as_ref(), b"kept");
    fault.set_write_error(None);
    s3.put_object().bucket("full").key("after").body(ByteStream::from_static(b"again")).send().await.unwrap();
    let listed = s3.list_objects_v2().bucket("full").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["after", "before"], "nothing of the refused writes is visible");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_read_is_an_error_never_wrong_bytes() {
    use aws_sdk_s3::primitives::ByteStream;
    let (server, fault, _dir) = faulty_server().await;
    let s3 = common::client(server.local_addr(), ACCESS_KEY, SECRET_KEY);
    s3.create_bucket().bucket("eio").send().await.unwrap();
    s3.put_object().bucket("eio").key("k").body(ByteStream::from_static(b"data")).send().await.unwrap();
    fault.set_read_error(true);
    let error = s3.get_object().bucket("eio").key("k").send().await.unwrap_err();
    assert_eq!(common::code(&error), "InternalError");
    fault.set_read_error(false);
    let got = s3.get_object().bucket("eio").key("k").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(got.into_bytes().as_ref(), b"data");
    server.shutdown().await;
}

/// Linux's errno for a full disk.
const ENOSPC: i32 = 28;

/// A clock `offset` seconds away from this machine's.
#[derive(Debug)]
struct SkewedClock(i64);

impl aws_smithy_async::time::TimeSource for SkewedClock {
    fn now(&self) -> std::time::SystemTime {
        let now = std::time::SystemTime::now();
        let offset = std::time::Duration::from_secs(self.0.unsigned_abs());
        if self.0 < 0 { now - offset } else { now + offset }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_skewed_past_15_minutes_is_refused() {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let server = TestServer::start().await;
    server.client.create_bucket().bucket("skew").send().await.unwrap();
    for (offset, refused) in [(-20 * 60, true), (20 * 60, true), (-10 * 60, false), (10 * 60, false)] {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{}", server.addr))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "skew"))
            .force_path_style(true)
            .time_source(SkewedClock(offset))
            // The SDK corrects its clock and retries on RequestTimeTooSkewed: one attempt only.
            .retry_config(RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let result = client.list_objects_v2().bucket("skew").send().await;
        match (refused, result) {
            (true, Err(error)) => assert_eq!(common::code(&error), "RequestTimeTooSkewed", "offset {offset} s"),
            (false, Ok(_)) => {}
            (refused, result) => panic!("offset {offset} s: refused {refused}, got {result:?}"),
        }
    }
    server.stop().await;
}
