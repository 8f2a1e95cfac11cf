//! Criterion benches of the bucket policy evaluator (`cairn_server::policy`).
//! Run: `cargo bench -p cairn-server --bench policy`.
//!
//! `evaluate/20_statements` is the issue's bar (under 5 µs): twenty statements of the shapes
//! AWS's examples use (wildcard actions and resources, account and user principals, and a
//! condition on each: IP blocks, string patterns, numbers, dates, set qualifiers, variables),
//! none of which allows the request, so every statement is tried: the slowest path.

use std::borrow::Cow;

use cairn_server::policy::{Anyone, Context, Policy, Principal, Request};
use criterion::{Criterion, criterion_group, criterion_main};

/// What a real request carries for the keys the policy reads.
struct Keys;

impl Context for Keys {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        let value = match key.to_ascii_lowercase().as_str() {
            "aws:sourceip" => "10.1.2.3",
            "aws:referer" => "https://www.example.com/page",
            "aws:currenttime" => "2026-12-03T12:00:00Z",
            "aws:username" => "alice",
            "s3:max-keys" => "1000",
            "s3:prefix" => "home/alice/",
            "aws:securetransport" => "false",
            "aws:principalarn" => "arn:aws:iam::111122223333:user/alice",
            "s3:requestobjecttagkeys" => return Some(vec![Cow::Borrowed("team"), Cow::Borrowed("project")]),
            _ => return None,
        };
        Some(vec![Cow::Borrowed(value)])
    }
}

const CONDITIONS: [&str; 10] = [
    r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}"#,
    r#"{"StringLike":{"aws:Referer":["https://other.example/*","https://*.example.org/*"]}}"#,
    r#"{"NumericLessThanEquals":{"s3:max-keys":"100"}}"#,
    r#"{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
    r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["team","owner"]}}"#,
    r#"{"StringEquals":{"s3:prefix":"home/${aws:username}/private/"}}"#,
    r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
    r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::444455556666:*"}}"#,
    r#"{"StringEqualsIgnoreCase":{"aws:Referer":"HTTPS://NOWHERE.EXAMPLE/"}}"#,
    r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#,
];

fn twenty_statements() -> String {
    let statements: Vec<String> = (0..20)
        .map(|i| {
            let principal = if i % 2 == 0 { r#"{"AWS":"111122223333"}"#.to_owned() } else { "\"*\"".to_owned() };
            format!(
                r#"{{"Sid":"s{i}","Effect":"Allow","Principal":{principal},"Action":["s3:Get*","s3:PutObject"],
                    "Resource":"arn:aws:s3:::bench/*","Condition":{}}}"#,
                CONDITIONS[i % CONDITIONS.len()]
            )
        })
        .collect();
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

fn evaluate(c: &mut Criterion) {
    let document = twenty_statements();
    let policy = Policy::parse(document.as_bytes(), "bench", &Anyone).unwrap();
    assert_eq!(policy.len(), 20);
    let principal = Principal { account: "111122223333", user: Some("alice"), canonical_id: "" };
    let request = Request {
        principal: Some(principal),
        service: None,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::bench/photos/2026/cat.jpg",
        context: &Keys,
    };
    assert_eq!(policy.evaluate(&request), cairn_server::policy::Decision::Implicit, "every statement is tried");
    let mut group = c.benchmark_group("evaluate");
    group.bench_function("20_statements", |b| b.iter(|| policy.evaluate(std::hint::black_box(&request))));
    let public = Policy::parse(
        br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bench/*"}]}"#,
        "bench",
        &Anyone,
    )
    .unwrap();
    group.bench_function("public_read", |b| b.iter(|| public.evaluate(std::hint::black_box(&request))));
    group.finish();
    c.bench_function("parse/20_statements", |b| {
        b.iter(|| Policy::parse(std::hint::black_box(document.as_bytes()), "bench", &Anyone).unwrap())
    });
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
