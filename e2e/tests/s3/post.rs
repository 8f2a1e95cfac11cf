//! POST Object: browser form uploads, signed with `cairn_server::presigned_post` (what
//! `cairn presign-post` prints), sent as multipart/form-data over raw HTTP, read back with
//! aws-sdk-s3; every policy violation answered with AWS's error and nothing stored.

use crate::common::{ACCESS_KEY, SECRET_KEY, TestServer, body, header, raw_exchange};

/// A multipart/form-data body: `fields` in order, then the file (name, content type, bytes).
pub(crate) fn form(fields: &[(String, String)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----cairnFormBoundary7MA4YWxkTrZu0gW".to_owned();
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((filename, content_type, data)) = file {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, out)
}

/// A form's fields, in order.
type Fields = Vec<(String, String)>;

/// A form's file: name, content type, bytes.
type File<'a> = Option<(&'a str, &'a str, &'a [u8])>;

pub(crate) fn post(
    addr: std::net::SocketAddr,
    bucket: &str,
    boundary: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let head = format!(
        "POST /{bucket} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let (status, headers, body) = raw_exchange(addr, &request);
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn presign(
    addr: std::net::SocketAddr,
    key: &str,
    fields: &[(&str, &str)],
    range: Option<(u64, u64)>,
) -> cairn_server::PostForm {
    presign_at(addr, key, fields, range, time::OffsetDateTime::now_utc(), 600)
}

fn presign_at(
    addr: std::net::SocketAddr,
    key: &str,
    fields: &[(&str, &str)],
    range: Option<(u64, u64)>,
    now: time::OffsetDateTime,
    expires_seconds: u64,
) -> cairn_server::PostForm {
    let request = cairn_server::PostFormRequest {
        endpoint: format!("http://{addr}"),
        bucket: "inbox".into(),
        key: key.into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: "us-east-1".into(),
        expires_seconds,
        fields: fields.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        content_length_range: range,
    };
    cairn_server::presigned_post(&request, now).unwrap()
}

fn error_of(text: &str) -> (String, String) {
    let element = |name: &str| {
        text.split_once(&format!("<{name}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
            .map(|(v, _)| v.to_owned())
            .unwrap_or_default()
    };
    let unescape = |text: String| {
        text.replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    (unescape(element("Code")), unescape(element("Message")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_forms_upload_and_answer_as_asked() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let addr = server.addr;
    s3.create_bucket().bucket("inbox").send().await.unwrap();

    // 201 with a PostResponse, ${filename}, metadata and content type from the form.
    let signed = presign(
        addr,
        "uploads/${filename}",
        &[("Content-Type", "text/plain"), ("success_action_status", "201"), ("x-amz-meta-origin", "browser")],
        Some((1, 1024)),
    );
    let (boundary, data) = form(&signed.fields, Some(("hello.txt", "text/plain", b"hello, form")));
    let (status, headers, text) = post(addr, "inbox", &boundary, &data);
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("<Key>uploads/hello.txt</Key>") && text.contains("<Bucket>inbox</Bucket>"), "{text}");
    assert!(header(&headers, "etag").is_some());
    let got = s3.get_object().bucket("inbox").key("uploads/hello.txt").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.metadata().unwrap()["origin"], "browser");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello, form");

    // 303 to success_action_redirect with bucket, key and ETag; the default 204 with Location.
    let signed = presign(addr, "r.txt", &[("success_action_redirect", "http://app.example/done")], None);
    let (boundary, data) = form(&signed.fields, Some(("r.txt", "text/plain", b"r")));
    let (status, headers, _) = post(addr, "inbox", &boundary, &data);
    assert_eq!(status, 303);
    let location = header(&headers, "location").unwrap();
    assert!(location.starts_with("http://app.example/done?bucket=inbox&key=r%2Etxt&etag=%22"), "{location}");
    let signed = presign(addr, "plain.bin", &[], None);
    let (boundary, data) = form(&signed.fields, Some(("x", "application/octet-stream", b"plain")));
    let (status, headers, _) = post(addr, "inbox", &boundary, &data);
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "location"), Some(format!("http://{addr}/inbox/plain.bin").as_str()));

    // A file larger than one engine chunk is streamed, never held whole.
    let large = body(7, 12 * 1024 * 1024 + 3);
    let signed = presign(addr, "large.bin", &[], Some((1, 64 * 1024 * 1024)));
    let (boundary, data) = form(&signed.fields, Some(("large.bin", "application/octet-stream", &large)));
    let (status, _, text) = tokio::task::spawn_blocking(move || post(addr, "inbox", &boundary, &data)).await.unwrap();
    assert_eq!(status, 204, "{text}");
    let got = s3.get_object().bucket("inbox").key("large.bin").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), large);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_violation_is_refused_as_aws_refuses_it() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    let addr = server.addr;
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    let fields = |signed: &cairn_server::PostForm| signed.fields.clone();
    let with = |mut fields: Vec<(String, String)>, name: &str, value: &str| {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.to_owned(),
            None => fields.insert(0, (name.to_owned(), value.to_owned())),
        }
        fields
    };
    // A form whose policy is replaced, signed again so that the policy itself is what fails.
    let resigned = |fields: Vec<(String, String)>, policy: &str| {
        let credential = fields.iter().find(|(n, _)| n == "x-amz-credential").unwrap().1.clone();
        let day = credential.split('/').nth(1).unwrap().to_owned();
        let fields = with(fields, "policy", policy);
        with(fields, "x-amz-signature", &crate::conformance::sigv4::sign_policy(&day, policy))
    };
    let without = |mut fields: Vec<(String, String)>, name: &str| {
        fields.retain(|(n, _)| n != name);
        fields
    };
    let good = presign(addr, "uploads/${filename}", &[("acl", "private")], Some((2, 10)));
    let file = Some(("f.txt", "text/plain", &b"12345"[..]));
    let cases: Vec<(Fields, File, u16, &str, &str)> = vec![
        (
            with(fields(&good), "key", "elsewhere/f.txt"),
            file,
            403,
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"uploads/\"]",
        ),
        (
            with(fields(&good), "acl", "public-read"),
            file,
            403,
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$acl\", \"private\"]",
        ),
        (
            with(fields(&good), "x-amz-meta-extra", "1"),
            file,
            403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
        ),
        (
            fields(&good),
            Some(("f.txt", "text/plain", b"12345678901")),
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        ),
        (
            fields(&good),
            Some(("f.txt", "text/plain", b"1")),
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
        ),
        (
            with(fields(&good), "x-amz-signature", &"0".repeat(64)),
            file,
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        (
            with(
                fields(&good),
                "x-amz-credential",
                &good.fields.iter().find(|(n, _)| n == "x-amz-credential").unwrap().1.replace(ACCESS_KEY, "NOBODY"),
            ),
            file,
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        (
            without(fields(&good), "key"),
            file,
            400,
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        ),
        (
            without(fields(&good), "x-amz-signature"),
            file,
            400,
            "InvalidArgument",
            "Bucket POST must contain a field named 'x-amz-signature'.  If it is specified, please check the order of the fields.",
        ),
        (fields(&good), None, 400, "InvalidArgument", "POST requires exactly one file upload per request."),
        (resigned(fields(&good), "bm90IGpzb24="), file, 400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."),
        (
            with(without(fields(&good), "x-amz-signature"), "AWSAccessKeyId", ACCESS_KEY),
            file,
            400,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ),
        (
            with(fields(&good), "x-ignore-padding", &"p".repeat(cairn_server::web::post::FORM_FIELDS_BYTES_MAX)),
            file,
            400,
            "MaxPostPreDataLengthExceededError",
            "Your POST request fields preceding the upload file were too large.",
        ),
    ];
    for (fields, file, expected_status, expected_code, expected_message) in cases {
        let (boundary, data) = form(&fields, file);
        let (status, _, text) = post(addr, "inbox", &boundary, &data);
        assert_eq!(
            (status, error_of(&text)),
            (expected_status, (expected_code.to_owned(), expected_message.to_owned())),
            "{expected_code}: {text}"
        );
    }
    let expired = presign_at(
        addr,
        "uploads/${filename}",
        &[],
        None,
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        60,
    );
    let (boundary, data) = form(&expired.fields, file);
    let (status, _, text) = post(addr, "inbox", &boundary, &data);
    assert_eq!((status, error_of(&text).1.as_str()), (403, "Invalid according to Policy: Policy expired."));
    let (status, _, text) = post(addr, "inbox", "nope", b"this is not a form");
    assert_eq!((status, error_of(&text).0.as_str()), (400, "MalformedPOSTRequest"));
    let listed = s3.list_objects_v2().bucket("inbox").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing refused was stored");

    // An unsigned form is anonymous: refused by a private bucket, taken by one that lets
    // everyone write (through the same authorization step as an anonymous PUT).
    let anonymous = vec![("key".to_owned(), "drop/a.txt".to_owned())];
    let (boundary, data) = form(&anonymous, file);
    let (status, _, text) = post(addr, "inbox", &boundary, &data);
    assert_eq!((status, error_of(&text).0.as_str()), (403, "AccessDenied"));
    s3.delete_public_access_block().bucket("inbox").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/drop/*"}]}"#;
    s3.put_bucket_policy().bucket("inbox").policy(policy).send().await.unwrap();
    let (status, _, text) = post(addr, "inbox", &boundary, &data);
    assert_eq!(status, 204, "{text}");
    s3.head_object().bucket("inbox").key("drop/a.txt").send().await.unwrap();
    let (status, _, _) = post(addr, "missing-bucket", &boundary, &data);
    assert_eq!(status, 404);
    assert!(s3.head_object().bucket("inbox").key("uploads/f.txt").send().await.is_err());
    server.stop().await;
}
