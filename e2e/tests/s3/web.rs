//! The web side of S3 through aws-sdk-s3 and raw HTTP: CORS configurations, preflights and
//! granted responses; website configurations and the website endpoint; POST Object forms.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, ErrorDocument, IndexDocument, Protocol, Redirect, RedirectAllRequestsTo, RoutingRule,
    WebsiteConfiguration,
};

use crate::common::{self, TestServer, code, header, raw_exchange, status};

/// A raw request to `addr` with `host` as its Host header.
pub fn request(
    addr: std::net::SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    raw_exchange(addr, text.as_bytes())
}

fn cors_rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    let mut rule = CorsRule::builder();
    for origin in origins {
        rule = rule.allowed_origins(*origin);
    }
    for method in methods {
        rule = rule.allowed_methods(*method);
    }
    for header in headers {
        rule = rule.allowed_headers(*header);
    }
    rule
}

fn cors(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder().set_cors_rules(Some(rules)).build().unwrap()
}

pub const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_configurations_are_validated_stored_and_answered() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("app").send().await.unwrap();
    let error = s3.get_bucket_cors().bucket("app").send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("NoSuchCORSConfiguration", 404));
    let error = s3.get_bucket_cors().bucket("missing").send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");

    let refused = [
        (
            cors_rule(&["*"], &["PATCH"], &[]).build().unwrap(),
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
        ),
        (
            cors_rule(&["http://*.*.example"], &["GET"], &[]).build().unwrap(),
            "AllowedOrigin \"http://*.*.example\" can not have more than one wildcard.",
        ),
        (
            cors_rule(&["*"], &["GET"], &["x-*-*"]).build().unwrap(),
            "AllowedHeader \"x-*-*\" can not have more than one wildcard.",
        ),
        (
            cors_rule(&["*"], &["GET"], &[]).expose_headers("x-*").build().unwrap(),
            "ExposeHeader \"x-*\" contains wildcard. We currently do not support wildcard for ExposeHeader.",
        ),
    ];
    for (rule, message) in refused {
        let error = s3.put_bucket_cors().bucket("app").cors_configuration(cors(vec![rule])).send().await.unwrap_err();
        assert_eq!((code(&error).as_str(), status(&error)), ("InvalidRequest", 400), "{message}");
        assert_eq!(error.as_service_error().and_then(|e| e.meta().message()), Some(message));
    }
    let many = vec![cors_rule(&["*"], &["GET"], &[]).build().unwrap(); 101];
    let error = s3.put_bucket_cors().bucket("app").cors_configuration(cors(many)).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidRequest");
    let long_id = cors_rule(&["*"], &["GET"], &[]).id("i".repeat(256)).build().unwrap();
    let error = s3.put_bucket_cors().bucket("app").cors_configuration(cors(vec![long_id])).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");
    let error = s3
        .put_bucket_cors()
        .bucket("missing")
        .cors_configuration(cors(vec![cors_rule(&["*"], &["GET"], &[]).build().unwrap()]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");

    let rules = vec![
        cors_rule(&["http://app.example"], &["GET", "PUT"], &["content-*", "x-amz-*"])
            .id("writer")
            .expose_headers("ETag")
            .expose_headers("x-amz-version-id")
            .max_age_seconds(600)
            .build()
            .unwrap(),
        cors_rule(&["*"], &["GET", "HEAD"], &[]).build().unwrap(),
    ];
    s3.put_bucket_cors().bucket("app").cors_configuration(cors(rules.clone())).send().await.unwrap();
    let got = s3.get_bucket_cors().bucket("app").send().await.unwrap();
    assert_eq!(got.cors_rules(), rules.as_slice());
    s3.put_object().bucket("app").key("data.json").body(ByteStream::from_static(b"{}")).send().await.unwrap();

    // Preflights: the first matching rule answers, on bucket and object URLs alike.
    let addr = server.addr;
    let host = addr.to_string();
    let asked = [
        ("Origin", "http://app.example"),
        ("Access-Control-Request-Method", "PUT"),
        ("Access-Control-Request-Headers", "Content-Type, X-Amz-Date"),
    ];
    let (code_, headers, _) = request(addr, "OPTIONS", &host, "/app/data.json", &asked);
    assert_eq!(code_, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("http://app.example"));
    assert_eq!(header(&headers, "access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(header(&headers, "access-control-allow-headers"), Some("Content-Type, X-Amz-Date"));
    assert_eq!(header(&headers, "access-control-expose-headers"), Some("ETag, x-amz-version-id"));
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"));
    assert!(header(&headers, "vary").is_some_and(|v| v.contains("Origin")));
    let (code_, headers, _) = request(
        addr,
        "OPTIONS",
        &host,
        "/app",
        &[("Origin", "http://elsewhere"), ("Access-Control-Request-Method", "GET")],
    );
    assert_eq!((code_, header(&headers, "access-control-allow-origin")), (200, Some("*")));
    for (asked, expected) in [
        (vec![("Origin", "http://elsewhere"), ("Access-Control-Request-Method", "PUT")], (403, "AccessForbidden")),
        (
            vec![
                ("Origin", "http://app.example"),
                ("Access-Control-Request-Method", "PUT"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
            (403, "AccessForbidden"),
        ),
        (vec![("Access-Control-Request-Method", "GET")], (400, "BadRequest")),
        (vec![("Origin", "http://app.example")], (400, "BadRequest")),
    ] {
        let (code_, headers, body) = request(addr, "OPTIONS", &host, "/app/data.json", &asked);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(code_, expected.0, "{asked:?}: {body}");
        assert!(body.contains(&format!("<Code>{}</Code>", expected.1)), "{body}");
        assert!(header(&headers, "access-control-allow-origin").is_none());
    }
    let (_, _, body) = request(
        addr,
        "OPTIONS",
        &host,
        "/app/x",
        &[("Origin", "http://elsewhere"), ("Access-Control-Request-Method", "PUT")],
    );
    assert!(String::from_utf8_lossy(&body).contains("CORSResponse: This CORS request is not allowed."));

    // Actual requests: granted on success and on errors; nothing for an origin no rule allows.
    let presigned = s3
        .get_object()
        .bucket("app")
        .key("data.json")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let path = common::path_and_query(presigned.uri());
    let (code_, headers, _) = request(addr, "GET", &host, &path, &[("Origin", "http://app.example")]);
    assert_eq!((code_, header(&headers, "access-control-allow-origin")), (200, Some("http://app.example")));
    assert_eq!(header(&headers, "access-control-expose-headers"), Some("ETag, x-amz-version-id"));
    let (code_, headers, _) = request(addr, "GET", &host, "/app/missing", &[("Origin", "http://other.example")]);
    assert_eq!((code_, header(&headers, "access-control-allow-origin")), (403, Some("*")), "an error is granted too");
    let (_, headers, _) = request(addr, "DELETE", &host, "/app/data.json", &[("Origin", "http://other.example")]);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    assert!(header(&headers, "vary").is_some_and(|v| v.contains("Access-Control-Request-Method")));
    let (_, headers, _) = request(addr, "GET", &host, "/app/data.json", &[]);
    assert_eq!(header(&headers, "access-control-allow-origin"), None, "no Origin, no CORS");

    s3.delete_bucket_cors().bucket("app").send().await.unwrap();
    s3.delete_bucket_cors().bucket("app").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_cors().bucket("app").send().await.unwrap_err()), "NoSuchCORSConfiguration");
    let (code_, _, body) = request(addr, "OPTIONS", &host, "/app/data.json", &asked);
    assert_eq!(code_, 403);
    assert!(String::from_utf8_lossy(&body).contains("CORSResponse: CORS is not enabled for this bucket."));
    let (code_, _, _) = request(addr, "OPTIONS", &host, "/nowhere/x", &asked);
    assert_eq!(code_, 404);
    server.stop().await;
}

fn site_config() -> WebsiteConfiguration {
    let docs_moved = RoutingRule::builder()
        .condition(aws_sdk_s3::types::Condition::builder().key_prefix_equals("docs/").build())
        .redirect(Redirect::builder().replace_key_prefix_with("documents/").build())
        .build();
    let old_missing = RoutingRule::builder()
        .condition(
            aws_sdk_s3::types::Condition::builder()
                .key_prefix_equals("old/")
                .http_error_code_returned_equals("404")
                .build(),
        )
        .redirect(
            Redirect::builder()
                .host_name("archive.example")
                .protocol(Protocol::Https)
                .replace_key_with("gone.html")
                .http_redirect_code("302")
                .build(),
        )
        .build();
    WebsiteConfiguration::builder()
        .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
        .error_document(ErrorDocument::builder().key("404.html").build().unwrap())
        .routing_rules(docs_moved)
        .routing_rules(old_missing)
        .build()
}

/// Puts a small site in `bucket`: an index, a sub-folder index, a page, the error document.
pub async fn put_site(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let pages = [
        ("index.html", "<html><body><h1>Home</h1><a href=\"/blog/\">blog</a></body></html>"),
        ("blog/index.html", "<html><body><h1>Blog index</h1></body></html>"),
        ("documents/guide.html", "<html><body><h1>Guide</h1></body></html>"),
        ("404.html", "<html><body><h1>Custom not found</h1></body></html>"),
    ];
    for (key, html) in pages {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/html")
            .body(ByteStream::from(html.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    s3.delete_public_access_block().bucket(bucket).send().await.unwrap();
    s3.put_bucket_policy().bucket(bucket).policy(PUBLIC_READ.replace("BUCKET", bucket)).send().await.unwrap();
    s3.put_bucket_website().bucket(bucket).website_configuration(site_config()).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn website_configurations_are_validated_and_stored() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    s3.create_bucket().bucket("site").send().await.unwrap();
    let error = s3.get_bucket_website().bucket("site").send().await.unwrap_err();
    assert_eq!((code(&error).as_str(), status(&error)), ("NoSuchWebsiteConfiguration", 404));
    s3.put_bucket_website().bucket("site").website_configuration(site_config()).send().await.unwrap();
    let got = s3.get_bucket_website().bucket("site").send().await.unwrap();
    assert_eq!(got.index_document().map(|i| i.suffix()), Some("index.html"));
    assert_eq!(got.error_document().map(|e| e.key()), Some("404.html"));
    assert_eq!(got.routing_rules(), site_config().routing_rules());

    let invalid = [
        WebsiteConfiguration::builder().build(),
        WebsiteConfiguration::builder()
            .index_document(IndexDocument::builder().suffix("a/index.html").build().unwrap())
            .build(),
        WebsiteConfiguration::builder()
            .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
            .redirect_all_requests_to(RedirectAllRequestsTo::builder().host_name("example.com").build().unwrap())
            .build(),
        WebsiteConfiguration::builder()
            .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
            .routing_rules(
                RoutingRule::builder()
                    .redirect(Redirect::builder().replace_key_with("a").replace_key_prefix_with("b").build())
                    .build(),
            )
            .build(),
        WebsiteConfiguration::builder()
            .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
            .routing_rules(
                RoutingRule::builder().redirect(Redirect::builder().http_redirect_code("200").build()).build(),
            )
            .build(),
    ];
    for config in invalid {
        let error =
            s3.put_bucket_website().bucket("site").website_configuration(config.clone()).send().await.unwrap_err();
        assert_eq!((code(&error).as_str(), status(&error)), ("InvalidArgument", 400), "{config:?}");
    }
    let rules = vec![RoutingRule::builder().redirect(Redirect::builder().host_name("x.example").build()).build(); 51];
    let many = WebsiteConfiguration::builder()
        .index_document(IndexDocument::builder().suffix("index.html").build().unwrap())
        .set_routing_rules(Some(rules))
        .build();
    let error = s3.put_bucket_website().bucket("site").website_configuration(many).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgument");
    assert_eq!(s3.get_bucket_website().bucket("site").send().await.unwrap().routing_rules().len(), 2, "unchanged");
    let error =
        s3.put_bucket_website().bucket("missing").website_configuration(site_config()).send().await.unwrap_err();
    assert_eq!(code(&error), "NoSuchBucket");
    s3.delete_bucket_website().bucket("site").send().await.unwrap();
    s3.delete_bucket_website().bucket("site").send().await.unwrap();
    assert_eq!(code(&s3.get_bucket_website().bucket("site").send().await.unwrap_err()), "NoSuchWebsiteConfiguration");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_website_endpoint_serves_a_site_as_aws_does() {
    let server = TestServer::start().await;
    let s3 = &server.client;
    put_site(s3, "site").await;
    let web = server.handle.as_ref().unwrap().website_addr().unwrap();
    let host = "site.s3-website.localhost";
    let get = |path: &str| request(web, "GET", host, path, &[]);
    let text = |body: &[u8]| String::from_utf8_lossy(body).into_owned();

    let (code_, headers, body) = get("/");
    assert_eq!((code_, header(&headers, "content-type")), (200, Some("text/html")));
    assert!(text(&body).contains("<h1>Home</h1>"));
    let (code_, _, body) = get("/blog/");
    assert_eq!(code_, 200);
    assert!(text(&body).contains("Blog index"));
    let (code_, headers, _) = get("/blog");
    assert_eq!((code_, header(&headers, "location")), (302, Some("/blog/")), "a folder without its slash");
    let (code_, headers, _) = get("/docs/guide.html");
    assert_eq!(
        (code_, header(&headers, "location")),
        (301, Some("http://site.s3-website.localhost/documents/guide.html"))
    );
    let (code_, headers, _) = get("/old/page.html");
    assert_eq!(
        (code_, header(&headers, "location")),
        (302, Some("https://archive.example/gone.html")),
        "a rule on the 404"
    );
    let (code_, headers, body) = get("/nothing-here.html");
    assert_eq!((code_, header(&headers, "content-type")), (404, Some("text/html")));
    assert!(text(&body).contains("Custom not found"), "the error document, with the error's status");
    let (code_, headers, body) = request(web, "HEAD", host, "/", &[]);
    assert_eq!((code_, body.len()), (200, 0));
    assert!(header(&headers, "etag").is_some());
    let (code_, headers, body) = request(web, "PUT", host, "/index.html", &[]);
    assert_eq!((code_, header(&headers, "content-type")), (405, Some("text/html; charset=utf-8")));
    assert!(text(&body).contains("<li>Code: MethodNotAllowed</li>"));

    // Credentials are not a website's business: a signed request is anonymous there too.
    let (code_, _, _) = request(web, "GET", host, "/index.html", &[("Authorization", "AWS4-HMAC-SHA256 Credential=x")]);
    assert_eq!(code_, 200);
    // The API listener serves the website under <bucket>.s3-website.<domain> only with a domain.
    let (code_, _, _) = request(server.addr, "GET", host, "/", &[]);
    assert_eq!(code_, 403, "path-style API request, anonymous, for the bucket list");

    // An object redirect.
    s3.put_object()
        .bucket("site")
        .key("moved.html")
        .website_redirect_location("/documents/guide.html")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let (code_, headers, _) = get("/moved.html");
    assert_eq!((code_, header(&headers, "location")), (301, Some("/documents/guide.html")));

    // CORS on the website endpoint: preflights and granted pages, errors included.
    let fonts = cors_rule(&["http://app.example"], &["GET"], &[]).build().unwrap();
    s3.put_bucket_cors().bucket("site").cors_configuration(cors(vec![fonts])).send().await.unwrap();
    let asking = [("Origin", "http://app.example"), ("Access-Control-Request-Method", "GET")];
    let (code_, headers, _) = request(web, "OPTIONS", host, "/blog/", &asking);
    assert_eq!((code_, header(&headers, "access-control-allow-origin")), (200, Some("http://app.example")));
    let (code_, _, _) = request(web, "OPTIONS", host, "/blog/", &[("Origin", "http://x"), asking[1]]);
    assert_eq!(code_, 403);
    for (path, status) in [("/", 200), ("/nothing-here.html", 404)] {
        let (code_, headers, _) = request(web, "GET", host, path, &asking[..1]);
        assert_eq!((code_, header(&headers, "access-control-allow-origin")), (status, Some("http://app.example")));
    }
    s3.delete_bucket_cors().bucket("site").send().await.unwrap();

    // Not public: the policy decides, with the error document for the 403.
    s3.put_object().bucket("site").key("private/x.html").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"},{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/private/*"}]}"#;
    s3.put_bucket_policy().bucket("site").policy(deny).send().await.unwrap();
    let (code_, _, body) = get("/private/x.html");
    assert_eq!(code_, 403);
    assert!(text(&body).contains("Custom not found"));
    s3.delete_object().bucket("site").key("404.html").send().await.unwrap();
    let (code_, _, body) = get("/private/x.html");
    assert_eq!(code_, 403);
    let page = text(&body);
    assert!(page.contains("<li>Code: AccessDenied</li>"), "{page}");
    assert!(page.contains("An Error Occurred While Attempting to Retrieve a Custom Error Document"), "{page}");
    assert!(page.contains("<li>RequestId: "), "{page}");

    // A bucket without a website, one that does not exist, one that redirects everything.
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let (code_, _, body) = request(web, "GET", "plain.s3-website.localhost", "/", &[]);
    assert_eq!(code_, 404);
    assert!(text(&body).contains("NoSuchWebsiteConfiguration"));
    let (code_, _, body) = request(web, "GET", "ghost.s3-website.localhost", "/", &[]);
    assert_eq!(code_, 404);
    assert!(text(&body).contains("<li>Code: NoSuchBucket</li>") && text(&body).contains("<li>BucketName: ghost</li>"));
    let all = WebsiteConfiguration::builder()
        .redirect_all_requests_to(
            RedirectAllRequestsTo::builder().host_name("www.example.com").protocol(Protocol::Https).build().unwrap(),
        )
        .build();
    s3.put_bucket_website().bucket("plain").website_configuration(all).send().await.unwrap();
    let (code_, headers, _) = request(web, "GET", "plain.s3-website.localhost", "/a/b.html", &[]);
    assert_eq!((code_, header(&headers, "location")), (301, Some("https://www.example.com/a/b.html")));

    // Block Public Access governs the website: the account's RestrictPublicBuckets.
    s3.put_public_access_block()
        .bucket("site")
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder().restrict_public_buckets(true).build(),
        )
        .send()
        .await
        .unwrap();
    let (code_, _, _) = get("/index.html");
    assert_eq!(code_, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websites_are_served_on_the_api_listener_under_the_domain() {
    let server = TestServer::start_with(Vec::new(), Some("cairn.test")).await;
    put_site(&server.client, "site").await;
    let (code_, _, body) = request(server.addr, "GET", "site.s3-website.cairn.test", "/blog/", &[]);
    assert_eq!(code_, 200);
    assert!(String::from_utf8_lossy(&body).contains("Blog index"));
    let (code_, headers, _) = request(server.addr, "GET", "site.s3-website.cairn.test", "/missing", &[]);
    assert_eq!((code_, header(&headers, "content-type")), (404, Some("text/html")));
    server.stop().await;
}
