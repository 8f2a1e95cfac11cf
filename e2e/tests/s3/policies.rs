//! Bucket policies end to end: PutBucketPolicy's validation, the documents kept across restarts,
//! and their decisions for the owner, another account and anonymous requests, with each
//! condition operator family on keys the server fills from real requests.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, Tag, Tagging};
use cairn_server::account::account_id;

use crate::common::{self, TestServer, code, status};

fn alice() -> cairn_server::User {
    cairn_server::User {
        name: "alice".into(),
        access_key: "ALICEKEY".into(),
        secret_key: "alice-secret".into(),
        ..cairn_server::User::default()
    }
}

/// A policy document over bucket `shared`, its statements given as JSON objects.
fn document(statements: &[String]) -> String {
    format!(r#"{{"Version":"2012-10-17","Id":"test","Statement":[{}]}}"#, statements.join(","))
}

fn allow(principal: &str, action: &str, resource: &str, condition: &str) -> String {
    rule("Allow", principal, action, resource, condition)
}

fn rule(effect: &str, principal: &str, action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
    format!(
        r#"{{"Effect":"{effect}","Principal":{principal},"Action":"{action}","Resource":"arn:aws:s3:::shared{resource}"{condition}}}"#
    )
}

async fn anonymous(addr: std::net::SocketAddr, method: &'static str, path: &str) -> (u16, String) {
    let path = path.to_owned();
    let (status, _, body) =
        tokio::task::spawn_blocking(move || common::raw_http(addr, method, &path, &[], b"")).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_validated_kept_byte_for_byte_and_survive_restarts() {
    let mut server = TestServer::start_with(vec![alice()], None).await;
    let s3 = server.client.clone();
    s3.create_bucket().bucket("shared").send().await.unwrap();
    // New buckets block public policies (AWS's default); this test puts some.
    s3.delete_public_access_block().bucket("shared").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_policy().bucket("shared").send().await.unwrap_err()), "NoSuchBucketPolicy");
    assert_eq!(code(&s3.get_bucket_policy_status().bucket("shared").send().await.unwrap_err()), "NoSuchBucketPolicy");

    // Malformed documents: 400 MalformedPolicy with AWS's messages, nothing stored.
    let malformed: &[(&str, &str)] = &[
        ("not json", "Policies must be valid JSON and the first byte must be '{'"),
        (r#"{"Version":"2012-10-17"}"#, "Missing required field Statement"),
        (&document(&[allow("\"*\"", "s3:GetObject", "", "")]), "Action does not apply to any resource(s) in statement"),
        (&document(&[allow("\"*\"", "s3:GetObject", "-other/*", "")]), "Policy has invalid resource"),
        (&document(&[allow(r#"{"AWS":"999999999999"}"#, "s3:GetObject", "/*", "")]), "Invalid principal in policy"),
        (&document(&[allow("\"*\"", "s3:Fly", "/*", "")]), "Policy has invalid action"),
        (
            &document(&[allow("\"*\"", "s3:GetObject", "/*", r#"{"StringEquals":{"s3:nonsense":"x"}}"#)]),
            "Policy has an invalid condition key",
        ),
    ];
    for (policy, message) in malformed {
        let error = s3.put_bucket_policy().bucket("shared").policy(*policy).send().await.unwrap_err();
        assert_eq!(code(&error), "MalformedPolicy", "{policy}");
        assert_eq!(status(&error), 400);
        assert_eq!(error.as_service_error().and_then(|e| e.meta().message()), Some(*message), "{policy}");
    }
    let large = document(&[allow("\"*\"", "s3:GetObject", &format!("/{}", "x".repeat(20 * 1024)), "")]);
    let error = s3.put_bucket_policy().bucket("shared").policy(large).send().await.unwrap_err();
    assert_eq!(code(&error), "MalformedPolicy");
    assert_eq!(code(&s3.get_bucket_policy().bucket("shared").send().await.unwrap_err()), "NoSuchBucketPolicy");

    // A private policy (one named account) and a public one (everyone), as GetBucketPolicyStatus says.
    let alice_principal = format!(r#"{{"AWS":"arn:aws:iam::{}:user/alice"}}"#, account_id("alice"));
    let private = document(&[allow(&alice_principal, "s3:GetObject", "/*", "")]);
    s3.put_bucket_policy().bucket("shared").policy(&private).send().await.unwrap();
    assert_eq!(s3.get_bucket_policy().bucket("shared").send().await.unwrap().policy(), Some(private.as_str()));
    let status_of = |s3: aws_sdk_s3::Client| async move {
        let got = s3.get_bucket_policy_status().bucket("shared").send().await.unwrap();
        got.policy_status().and_then(|p| p.is_public()).unwrap()
    };
    assert!(!status_of(s3.clone()).await);
    // Pretty-printed, spaces and all, it comes back as sent.
    let public = document(&[allow("\"*\"", "s3:GetObject", "/*", "")]).replace(",", ",\n  ");
    s3.put_bucket_policy().bucket("shared").policy(&public).send().await.unwrap();
    assert!(status_of(s3.clone()).await);

    // The policy is a durable bucket record: it and its effect survive a restart.
    s3.put_object().bucket("shared").key("k").body(ByteStream::from_static(b"v")).send().await.unwrap();
    server.restart().await;
    let s3 = server.client.clone();
    assert_eq!(s3.get_bucket_policy().bucket("shared").send().await.unwrap().policy(), Some(public.as_str()));
    assert_eq!(anonymous(server.addr, "GET", "/shared/k").await, (200, "v".to_owned()));

    // Delete: 204, idempotent, and the grant is gone.
    s3.delete_bucket_policy().bucket("shared").send().await.unwrap();
    s3.delete_bucket_policy().bucket("shared").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_policy().bucket("shared").send().await.unwrap_err()), "NoSuchBucketPolicy");
    assert_eq!(anonymous(server.addr, "GET", "/shared/k").await.0, 403);
    // Another account cannot set a policy on a bucket it does not own.
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    let error = alice.put_bucket_policy().bucket("shared").policy(&public).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_decide_for_other_accounts_anonymous_requests_and_the_owner() {
    let server = TestServer::start_with(vec![alice()], None).await;
    let root = &server.client;
    let alice = common::client(server.addr, "ALICEKEY", "alice-secret");
    root.create_bucket().bucket("shared").send().await.unwrap();
    root.delete_public_access_block().bucket("shared").send().await.unwrap();
    alice.create_bucket().bucket("alices").send().await.unwrap();
    for key in ["public/a", "private/b", "www/index.html", "tagged/open", "tagged/closed", "blocked/x", "insecure/x"] {
        let put = root.put_object().bucket("shared").key(key).body(ByteStream::from_static(b"data"));
        let put = match key {
            "tagged/open" => put.tagging("class=open"),
            "tagged/closed" => put.tagging("class=closed"),
            _ => put,
        };
        put.send().await.unwrap();
    }
    // Without a policy, only the owner reaches the bucket.
    assert_eq!(code(&alice.get_object().bucket("shared").key("public/a").send().await.unwrap_err()), "AccessDenied");
    assert_eq!(anonymous(server.addr, "GET", "/shared/www/index.html").await.0, 403);

    let id = account_id("alice");
    let account = format!(r#"{{"AWS":"{id}"}}"#);
    let user_arn = format!("arn:aws:iam::{id}:user/alice");
    let policy = document(&[
        // String operators and a wildcard resource.
        allow(&account, "s3:GetObject", "/public/*", r#"{"StringLike":{"aws:UserAgent":"*aws-sdk-rust*"}}"#),
        // Listing only under public/, at most 100 keys a page: s3:prefix and s3:max-keys.
        allow(
            &account,
            "s3:ListBucket",
            "",
            r#"{"StringEquals":{"s3:prefix":"public/"},"NumericLessThanEqualsIfExists":{"s3:max-keys":"100"}}"#,
        ),
        // Anonymous reads of the website prefix.
        allow("\"*\"", "s3:GetObject", "/www/*", ""),
        // Existing tags decide reads of tagged/.
        allow(&account, "s3:GetObject", "/tagged/*", r#"{"StringEquals":{"s3:ExistingObjectTag/class":"open"}}"#),
        // Uploads by ARN and date, only with a team tag and nothing else.
        allow(
            &account,
            "s3:PutObject",
            "/uploads/*",
            &format!(
                r#"{{"ArnLike":{{"aws:PrincipalArn":"{user_arn}"}},"DateGreaterThan":{{"aws:CurrentTime":"2020-01-01T00:00:00Z"}},
                    "ForAllValues:StringEquals":{{"s3:RequestObjectTagKeys":["team"]}},"Null":{{"s3:RequestObjectTagKeys":"false"}}}}"#
            ),
        ),
        allow(
            &account,
            "s3:PutObjectTagging",
            "/uploads/*",
            r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":["team"]}}"#,
        ),
        // Source addresses: this loopback client is inside 127.0.0.0/8.
        rule(
            "Deny",
            "\"*\"",
            "s3:GetObject",
            "/blocked/*",
            r#"{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1/128"]}}"#,
        ),
        // Plain HTTP is not secure transport; the owner is denied too.
        rule("Deny", "\"*\"", "s3:GetObject", "/insecure/*", r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
        // The owner denies itself deletes; it still manages the policy.
        rule("Deny", "\"*\"", "s3:DeleteObject", "/public/*", ""),
        rule("Deny", &format!(r#"{{"AWS":"{}"}}"#, account_id("root")), "s3:*Policy", "", ""),
        allow(&account, "s3:GetBucketPolicy", "", ""),
    ]);
    root.put_bucket_policy().bucket("shared").policy(&policy).send().await.unwrap();

    // Another account: exactly what the statements allow.
    let got = alice.get_object().bucket("shared").key("public/a").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"data");
    assert_eq!(code(&alice.get_object().bucket("shared").key("private/b").send().await.unwrap_err()), "AccessDenied");
    let listed = alice.list_objects_v2().bucket("shared").prefix("public/").send().await.unwrap();
    assert_eq!(listed.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["public/a"]);
    alice.list_objects_v2().bucket("shared").prefix("public/").max_keys(100).send().await.unwrap();
    let error = alice.list_objects_v2().bucket("shared").prefix("public/").max_keys(101).send().await.unwrap_err();
    assert_eq!(code(&error), "AccessDenied");
    assert_eq!(code(&alice.list_objects_v2().bucket("shared").send().await.unwrap_err()), "AccessDenied");
    alice.get_object().bucket("shared").key("tagged/open").send().await.unwrap();
    assert_eq!(
        code(&alice.get_object().bucket("shared").key("tagged/closed").send().await.unwrap_err()),
        "AccessDenied"
    );
    assert_eq!(code(&alice.delete_object().bucket("shared").key("public/a").send().await.unwrap_err()), "AccessDenied");

    // Uploads with the team tag alone pass; another tag or none is refused.
    let upload = |tagging: Option<&str>| {
        let put = alice.put_object().bucket("shared").key("uploads/u").body(ByteStream::from_static(b"up"));
        put.set_tagging(tagging.map(str::to_owned)).send()
    };
    upload(Some("team=storage")).await.unwrap();
    assert_eq!(code(&upload(Some("team=storage&extra=1")).await.unwrap_err()), "AccessDenied");
    assert_eq!(code(&upload(None).await.unwrap_err()), "AccessDenied");
    // PutObjectTagging's tags come from its body.
    let tags =
        |key: &str| Tagging::builder().tag_set(Tag::builder().key(key).value("v").build().unwrap()).build().unwrap();
    alice.put_object_tagging().bucket("shared").key("uploads/u").tagging(tags("team")).send().await.unwrap();
    let error = alice.put_object_tagging().bucket("shared").key("uploads/u").tagging(tags("other")).send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");

    // A copy reads its source under the source bucket's policy.
    alice.copy_object().bucket("alices").key("copied").copy_source("shared/public/a").send().await.unwrap();
    let error = alice.copy_object().bucket("alices").key("stolen").copy_source("shared/private/b").send().await;
    assert_eq!(code(&error.unwrap_err()), "AccessDenied");

    // Anonymous: the public prefix only, and never the bucket's listing or a write.
    assert_eq!(anonymous(server.addr, "GET", "/shared/www/index.html").await, (200, "data".to_owned()));
    assert_eq!(anonymous(server.addr, "HEAD", "/shared/www/index.html").await.0, 200);
    let (denied, body) = anonymous(server.addr, "GET", "/shared/public/a").await;
    assert_eq!(denied, 403);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert_eq!(anonymous(server.addr, "GET", "/shared?list-type=2").await.0, 403);
    assert_eq!(anonymous(server.addr, "PUT", "/shared/www/new").await.0, 403);
    assert_eq!(anonymous(server.addr, "GET", "/").await.0, 403);
    assert_eq!(anonymous(server.addr, "GET", "/nowhere/k").await.0, 404);

    // Deny statements bind everyone, the owner included...
    for key in ["blocked/x", "insecure/x"] {
        assert_eq!(
            code(&root.get_object().bucket("shared").key(key).send().await.unwrap_err()),
            "AccessDenied",
            "{key}"
        );
    }
    assert_eq!(code(&root.delete_object().bucket("shared").key("public/a").send().await.unwrap_err()), "AccessDenied");
    root.get_object().bucket("shared").key("private/b").send().await.unwrap();
    // DeleteObjects decides each key as its own request: the denied one is an AccessDenied entry.
    let keys = ["public/a", "private/b"].map(|key| ObjectIdentifier::builder().key(key).build().unwrap());
    let delete = Delete::builder().set_objects(Some(keys.to_vec())).build().unwrap();
    let outcome = root.delete_objects().bucket("shared").delete(delete).send().await.unwrap();
    assert_eq!(outcome.deleted().iter().filter_map(|d| d.key()).collect::<Vec<_>>(), ["private/b"]);
    let refused: Vec<_> = outcome.errors().iter().map(|e| (e.key().unwrap(), e.code().unwrap())).collect();
    assert_eq!(refused, [("public/a", "AccessDenied")]);
    root.head_object().bucket("shared").key("public/a").send().await.unwrap();
    // ...except that the owner keeps the policy itself. Another account allowed to read the
    // policy gets 405, as AWS answers anyone outside the owner's account.
    root.get_bucket_policy().bucket("shared").send().await.unwrap();
    let error = alice.get_bucket_policy().bucket("shared").send().await.unwrap_err();
    assert_eq!((status(&error), code(&error).as_str()), (405, "MethodNotAllowed"));
    root.delete_bucket_policy().bucket("shared").send().await.unwrap();
    root.delete_object().bucket("shared").key("public/a").send().await.unwrap();
    assert_eq!(
        code(&alice.get_object().bucket("shared").key("www/index.html").send().await.unwrap_err()),
        "AccessDenied"
    );
    server.stop().await;
}
