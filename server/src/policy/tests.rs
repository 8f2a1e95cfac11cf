//! The evaluator against AWS's documented examples (the "Examples of Amazon S3 bucket policies"
//! and the condition operator pages), the grammar against AWS's MalformedPolicy messages, and
//! properties every policy keeps.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

/// A request's condition keys for tests: key (case-insensitive) to values.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts(Vec<(String, Vec<String>)>);

impl Facts {
    pub(crate) fn with(mut self, key: &str, values: &[&str]) -> Facts {
        self.0.push((key.to_owned(), values.iter().map(|v| (*v).to_owned()).collect()));
        self
    }
}

impl Context for Facts {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, values)| values.iter().map(|v| Cow::Borrowed(v.as_str())).collect())
    }
}

const ALICE_ACCOUNT: &str = "111122223333";
const BOB_ACCOUNT: &str = "444455556666";
const CANONICAL: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";

fn alice() -> Principal<'static> {
    Principal { account: ALICE_ACCOUNT, user: Some("alice"), canonical_id: CANONICAL }
}

fn bob() -> Principal<'static> {
    Principal {
        account: BOB_ACCOUNT,
        user: None,
        canonical_id: "0000000000000000000000000000000000000000000000000000000000000000",
    }
}

fn policy(json: &str) -> Policy {
    Policy::parse(json.as_bytes(), "amzn-s3-demo-bucket", &Anyone).unwrap_or_else(|e| panic!("{e:?}: {json}"))
}

fn decide(policy: &Policy, principal: Option<Principal<'_>>, action: &str, resource: &str, facts: &Facts) -> Decision {
    policy.evaluate(&Request { principal, service: None, action, resource, context: facts })
}

const OBJECT: &str = "arn:aws:s3:::amzn-s3-demo-bucket/photos/cat.jpg";
const BUCKET: &str = "arn:aws:s3:::amzn-s3-demo-bucket";

fn statement(effect: &str, principal: &str, action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(",\"Condition\":{condition}") };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{principal},"Action":{action},"Resource":{resource}{condition}}}]}}"#
    )
}

/// One condition on an Allow of s3:GetObject to everyone, decided for a request with `facts`.
fn allowed_with(condition: &str, facts: &Facts) -> bool {
    let policy =
        policy(&statement("Allow", "\"*\"", "\"s3:GetObject\"", "\"arn:aws:s3:::amzn-s3-demo-bucket/*\"", condition));
    decide(&policy, None, "s3:GetObject", OBJECT, facts) == Decision::Allow
}

#[test]
fn public_read_grants_anonymous_gets_and_nothing_else() {
    // "Granting read-only permission to a public anonymous user".
    let policy = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*",
            "Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":["arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#,
    );
    let none = Facts::default();
    assert_eq!(decide(&policy, None, "s3:GetObject", OBJECT, &none), Decision::Allow);
    assert_eq!(decide(&policy, Some(bob()), "s3:GetObjectVersion", OBJECT, &none), Decision::Allow);
    assert_eq!(decide(&policy, None, "s3:PutObject", OBJECT, &none), Decision::Implicit);
    assert_eq!(decide(&policy, None, "s3:ListBucket", BUCKET, &none), Decision::Implicit);
    assert_eq!(decide(&policy, None, "s3:GetObject", "arn:aws:s3:::other/photos/cat.jpg", &none), Decision::Implicit);
    assert!(policy.is_public());
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    let policy = policy(&statement("Allow", "\"*\"", "[\"S3:get*\"]", "\"arn:aws:s3:::amzn-s3-demo-bucket/*\"", ""));
    assert_eq!(decide(&policy, None, "s3:GetObject", OBJECT, &Facts::default()), Decision::Allow);
    assert_eq!(decide(&policy, None, "s3:PutObject", OBJECT, &Facts::default()), Decision::Implicit);
}

#[test]
fn an_explicit_deny_overrides_any_allow() {
    let policy = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["{BUCKET}","{BUCKET}/*"]}},
            {{"Effect":"Deny","Principal":{{"AWS":"{BOB_ACCOUNT}"}},"Action":"s3:DeleteObject","Resource":"{BUCKET}/*"}}]}}"#
    ));
    let none = Facts::default();
    assert_eq!(decide(&policy, Some(bob()), "s3:DeleteObject", OBJECT, &none), Decision::Deny);
    assert_eq!(decide(&policy, Some(alice()), "s3:DeleteObject", OBJECT, &none), Decision::Allow);
    assert_eq!(decide(&policy, Some(bob()), "s3:GetObject", OBJECT, &none), Decision::Allow);
}

#[test]
fn principals_by_account_root_user_and_canonical_id() {
    let by =
        |principal: &str| policy(&statement("Allow", principal, "\"s3:GetObject\"", &format!("\"{BUCKET}/*\""), ""));
    let none = Facts::default();
    for principal in [
        format!(r#"{{"AWS":"{ALICE_ACCOUNT}"}}"#),
        format!(r#"{{"AWS":"arn:aws:iam::{ALICE_ACCOUNT}:root"}}"#),
        format!(r#"{{"AWS":["arn:aws:iam::{ALICE_ACCOUNT}:user/team/alice"]}}"#),
        format!(r#"{{"CanonicalUser":"{CANONICAL}"}}"#),
    ] {
        let policy = by(&principal);
        assert_eq!(decide(&policy, Some(alice()), "s3:GetObject", OBJECT, &none), Decision::Allow, "{principal}");
        assert_eq!(decide(&policy, Some(bob()), "s3:GetObject", OBJECT, &none), Decision::Implicit, "{principal}");
        assert_eq!(decide(&policy, None, "s3:GetObject", OBJECT, &none), Decision::Implicit, "{principal}");
        assert!(!policy.is_public(), "{principal}");
    }
    // A user ARN names that user only, not the account's root.
    let policy = by(&format!(r#"{{"AWS":"arn:aws:iam::{ALICE_ACCOUNT}:user/alice"}}"#));
    let root = Principal { user: None, ..alice() };
    assert_eq!(decide(&policy, Some(root), "s3:GetObject", OBJECT, &none), Decision::Implicit);
}

#[test]
fn not_principal_not_action_and_not_resource_invert_their_lists() {
    let policy = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"{BUCKET}/*"}},
            {{"Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::{ALICE_ACCOUNT}:root"}},"Action":"s3:GetObject",
              "NotResource":"{BUCKET}/public/*"}}]}}"#
    ));
    let none = Facts::default();
    assert_eq!(decide(&policy, Some(alice()), "s3:GetObject", OBJECT, &none), Decision::Allow);
    assert_eq!(decide(&policy, Some(bob()), "s3:GetObject", OBJECT, &none), Decision::Deny);
    assert_eq!(decide(&policy, Some(bob()), "s3:GetObject", &format!("{BUCKET}/public/x"), &none), Decision::Allow);
    assert_eq!(decide(&policy, None, "s3:DeleteObject", OBJECT, &none), Decision::Implicit);
    assert!(policy.is_public());
}

#[test]
fn source_ip_in_v4_and_v6_blocks() {
    // "Managing access based on specific IP addresses".
    let condition = r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:DB8:1234:5678::/64"]}}"#;
    let from = |ip: &str| allowed_with(condition, &Facts::default().with("aws:SourceIp", &[ip]));
    assert!(from("192.0.2.44"));
    assert!(from("2001:db8:1234:5678::1"));
    assert!(!from("203.0.113.1"));
    assert!(!from("2001:db8:1234:5679::1"));
    assert!(!allowed_with(condition, &Facts::default()));
    let not = r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#;
    assert!(allowed_with(not, &Facts::default().with("aws:SourceIp", &["203.0.113.1"])));
    assert!(!allowed_with(not, &Facts::default().with("aws:SourceIp", &["192.0.2.1"])));
    assert!(allowed_with(
        r#"{"IpAddress":{"aws:SourceIp":"192.0.2.7"}}"#,
        &Facts::default().with("aws:SourceIp", &["192.0.2.7"])
    ));
}

#[test]
fn string_operators() {
    let referer = Facts::default().with("aws:Referer", &["https://www.example.com/page"]);
    assert!(allowed_with(
        r#"{"StringLike":{"aws:Referer":["https://www.example.com/*","https://example.com/*"]}}"#,
        &referer
    ));
    assert!(!allowed_with(r#"{"StringLike":{"aws:Referer":"https://evil.example/*"}}"#, &referer));
    assert!(allowed_with(r#"{"StringNotLike":{"aws:Referer":"https://evil.example/*"}}"#, &referer));
    assert!(
        allowed_with(r#"{"StringEquals":{"aws:referer":"https://www.example.com/page"}}"#, &referer),
        "keys ignore case"
    );
    assert!(!allowed_with(r#"{"StringEquals":{"aws:Referer":"https://www.example.com/*"}}"#, &referer), "no wildcards");
    assert!(!allowed_with(r#"{"StringEquals":{"aws:Referer":"HTTPS://WWW.EXAMPLE.COM/PAGE"}}"#, &referer));
    assert!(allowed_with(r#"{"StringEqualsIgnoreCase":{"aws:Referer":"HTTPS://WWW.EXAMPLE.COM/PAGE"}}"#, &referer));
    assert!(!allowed_with(r#"{"StringNotEqualsIgnoreCase":{"aws:Referer":"HTTPS://WWW.EXAMPLE.COM/PAGE"}}"#, &referer));
    assert!(allowed_with(r#"{"StringNotEquals":{"aws:Referer":["a","b"]}}"#, &referer));
    assert!(!allowed_with(r#"{"StringNotEquals":{"aws:Referer":["a","https://www.example.com/page"]}}"#, &referer));
}

#[test]
fn absent_keys_fail_positive_operators_and_pass_negated_and_if_exists() {
    // "Requiring server-side encryption": StringNotEquals on the header also catches its absence.
    let none = Facts::default();
    assert!(!allowed_with(r#"{"StringEquals":{"s3:x-amz-server-side-encryption":"AES256"}}"#, &none));
    assert!(allowed_with(r#"{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}"#, &none));
    assert!(allowed_with(r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"AES256"}}"#, &none));
    assert!(allowed_with(r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#, &none));
    let sse = Facts::default().with("s3:x-amz-server-side-encryption", &["aws:kms"]);
    assert!(!allowed_with(r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"AES256"}}"#, &sse));
    // Null tests presence.
    assert!(allowed_with(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#, &none));
    assert!(!allowed_with(r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#, &sse));
    assert!(allowed_with(r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#, &sse));
    // Unknown aws: keys are simply absent.
    assert!(!allowed_with(r#"{"StringEquals":{"aws:NoSuchKey":"x"}}"#, &none));
}

#[test]
fn numeric_date_and_bool_operators() {
    let keys = Facts::default().with("s3:max-keys", &["10"]);
    assert!(allowed_with(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#, &keys));
    assert!(!allowed_with(r#"{"NumericLessThan":{"s3:max-keys":10}}"#, &keys));
    assert!(allowed_with(r#"{"NumericGreaterThan":{"s3:max-keys":"9.5"}}"#, &keys));
    assert!(allowed_with(r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#, &keys));
    assert!(allowed_with(r#"{"NumericEquals":{"s3:max-keys":["5","10"]}}"#, &keys));
    assert!(!allowed_with(r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#, &keys));
    assert!(!allowed_with(
        r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
        &Facts::default().with("s3:max-keys", &["ten"])
    ));

    let now =
        Facts::default().with("aws:CurrentTime", &["2026-12-03T12:00:00Z"]).with("aws:EpochTime", &["1796299200"]);
    assert!(allowed_with(r#"{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#, &now));
    assert!(allowed_with(r#"{"DateLessThan":{"aws:CurrentTime":"2027-01-01"}}"#, &now));
    assert!(!allowed_with(r#"{"DateLessThan":{"aws:CurrentTime":"2026-12-03T11:59:59Z"}}"#, &now));
    assert!(allowed_with(r#"{"DateEquals":{"aws:CurrentTime":"2026-12-03T13:00:00+01:00"}}"#, &now));
    assert!(allowed_with(r#"{"DateLessThanEquals":{"aws:EpochTime":"1796299200"}}"#, &now));
    assert!(allowed_with(r#"{"DateGreaterThanEquals":{"aws:EpochTime":"2026-12-03T12:00:00Z"}}"#, &now));
    assert!(!allowed_with(r#"{"DateNotEquals":{"aws:EpochTime":1796299200}}"#, &now));

    let insecure = Facts::default().with("aws:SecureTransport", &["false"]);
    assert!(allowed_with(r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &insecure));
    assert!(allowed_with(r#"{"Bool":{"aws:SecureTransport":false}}"#, &insecure));
    assert!(!allowed_with(r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &insecure));
}

#[test]
fn binary_and_arn_operators() {
    let facts = Facts::default()
        .with("aws:UserAgent", &["hello"])
        .with("aws:PrincipalArn", &["arn:aws:iam::111122223333:user/alice"]);
    assert!(allowed_with(r#"{"BinaryEquals":{"aws:UserAgent":"aGVsbG8="}}"#, &facts));
    assert!(!allowed_with(r#"{"BinaryEquals":{"aws:UserAgent":"aGVsbG9v"}}"#, &facts));
    assert!(allowed_with(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#, &facts));
    assert!(allowed_with(r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#, &facts));
    assert!(!allowed_with(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::444455556666:*"}}"#, &facts));
    assert!(allowed_with(r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::444455556666:*"}}"#, &facts));
    assert!(!allowed_with(r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}"#, &facts));
    // A value that is not an ARN matches no ARN pattern.
    assert!(!allowed_with(r#"{"ArnLike":{"aws:UserAgent":"*"}}"#, &facts));
}

#[test]
fn set_qualifiers_over_multivalued_keys() {
    // "Allowing only specific tag keys" (s3:RequestObjectTagKeys).
    let allowed_keys = r#"{"ForAllValues:StringLike":{"s3:RequestObjectTagKeys":["Owner","CreationDate"]}}"#;
    let tags = |keys: &[&str]| Facts::default().with("s3:RequestObjectTagKeys", keys);
    assert!(allowed_with(allowed_keys, &tags(&["Owner"])));
    assert!(allowed_with(allowed_keys, &tags(&["Owner", "CreationDate"])));
    assert!(!allowed_with(allowed_keys, &tags(&["Owner", "Project"])));
    assert!(allowed_with(allowed_keys, &Facts::default()), "ForAllValues holds for no values");
    let any = r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":["Project"]}}"#;
    assert!(allowed_with(any, &tags(&["Owner", "Project"])));
    assert!(!allowed_with(any, &tags(&["Owner"])));
    assert!(!allowed_with(any, &Facts::default()), "ForAnyValue fails for no values");
    let any_not = r#"{"ForAnyValue:StringNotEquals":{"s3:RequestObjectTagKeys":["Owner"]}}"#;
    assert!(allowed_with(any_not, &tags(&["Owner", "Project"])));
    assert!(!allowed_with(any_not, &tags(&["Owner"])));
    let all_not = r#"{"ForAllValues:StringNotEquals":{"s3:RequestObjectTagKeys":["Secret"]}}"#;
    assert!(allowed_with(all_not, &tags(&["Owner", "Project"])));
    assert!(!allowed_with(all_not, &tags(&["Owner", "Secret"])));
}

#[test]
fn several_keys_and_operators_must_all_hold() {
    let condition =
        r#"{"StringEquals":{"s3:prefix":"home/","s3:delimiter":"/"},"NumericLessThan":{"s3:max-keys":"100"}}"#;
    let all = Facts::default().with("s3:prefix", &["home/"]).with("s3:delimiter", &["/"]).with("s3:max-keys", &["50"]);
    assert!(allowed_with(condition, &all));
    let wrong = all.clone().with("s3:max-keys", &["500"]);
    // The first matching key wins in Facts; build afresh.
    let wrong = Facts(wrong.0.into_iter().filter(|(k, v)| k != "s3:max-keys" || v[0] == "500").collect());
    assert!(!allowed_with(condition, &wrong));
    assert!(!allowed_with(condition, &Facts::default().with("s3:prefix", &["home/"]).with("s3:max-keys", &["50"])));
}

#[test]
fn policy_variables_in_resources_and_conditions() {
    // "Allowing users to access their own home directory" (`${aws:username}`).
    let policy = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ACCOUNT}"}},"Action":"s3:GetObject","Resource":"{BUCKET}/home/${{aws:username}}/*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ACCOUNT}"}},"Action":"s3:ListBucket","Resource":"{BUCKET}",
              "Condition":{{"StringLike":{{"s3:prefix":["home/${{aws:username}}/*"]}}}}}}]}}"#
    ));
    let facts = Facts::default().with("aws:username", &["alice"]).with("s3:prefix", &["home/alice/docs"]);
    assert_eq!(
        decide(&policy, Some(alice()), "s3:GetObject", &format!("{BUCKET}/home/alice/a"), &facts),
        Decision::Allow
    );
    assert_eq!(
        decide(&policy, Some(alice()), "s3:GetObject", &format!("{BUCKET}/home/bob/a"), &facts),
        Decision::Implicit
    );
    assert_eq!(decide(&policy, Some(alice()), "s3:ListBucket", BUCKET, &facts), Decision::Allow);
    let other = Facts::default().with("aws:username", &["alice"]).with("s3:prefix", &["home/bob/"]);
    assert_eq!(decide(&policy, Some(alice()), "s3:ListBucket", BUCKET, &other), Decision::Implicit);
    // The 2008 grammar has no variables: `${aws:username}` is literal text.
    let old = Policy::parse(
        format!(r#"{{"Version":"2008-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"{BUCKET}/${{aws:username}}"}}}}"#).as_bytes(),
        "amzn-s3-demo-bucket",
        &Anyone,
    )
    .unwrap();
    assert_eq!(decide(&old, None, "s3:GetObject", &format!("{BUCKET}/${{aws:username}}"), &facts), Decision::Allow);
    assert_eq!(decide(&old, None, "s3:GetObject", &format!("{BUCKET}/alice"), &facts), Decision::Implicit);
}

#[test]
fn public_means_unrestricted_allow_to_everyone() {
    let public = |condition: &str| {
        policy(&statement("Allow", "\"*\"", "\"s3:GetObject\"", &format!("\"{BUCKET}/*\""), condition)).is_public()
    };
    assert!(public(""));
    assert!(!public(r#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#));
    assert!(public(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}"#), "a block this wide is not fixed");
    assert!(!public(&format!(r#"{{"StringEquals":{{"aws:PrincipalAccount":"{ALICE_ACCOUNT}"}}}}"#)));
    assert!(public(r#"{"StringLike":{"aws:PrincipalAccount":"*"}}"#));
    assert!(public(r#"{"StringEquals":{"aws:Referer":"https://example.com/"}}"#), "Referer does not restrict");
    assert!(!policy(&statement("Deny", "\"*\"", "\"s3:GetObject\"", &format!("\"{BUCKET}/*\""), "")).is_public());
}

/// Each malformed policy with the MalformedPolicy message AWS gives it.
#[test]
fn malformed_policies_get_aws_messages() {
    let cases: &[(&str, &str)] = &[
        (" {}", "Policies must be valid JSON and the first byte must be '{'"),
        ("{", "This policy contains invalid Json"),
        (r#"{"Version":"2012-10-17"}"#, "Missing required field Statement"),
        (r#"{"Version":"2012-10-17","Statement":[]}"#, "Could not parse the policy: Statement is empty!"),
        (r#"{"Version":"2013-01-01","Statement":[]}"#, "The policy must contain a valid version string"),
        (
            r#"{"Statement":[{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Missing required field Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Permit","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Invalid effect: Permit",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Missing required field Principal",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"me","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Invalid principal in policy",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"12345"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Invalid principal in policy",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Invalid principal in policy",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Missing required field Action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Policy has invalid action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Policy has invalid action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#,
            "Missing required field Resource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
            "Policy has invalid resource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"b/*"}]}"#,
            "Policy has invalid resource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b"}]}"#,
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::b"}]}"#,
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualz":{"aws:Referer":"x"}}}]}"#,
            "Invalid Condition type : StringEqualz",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:x-acl":"x"}}}]}"#,
            "Policy has an invalid condition key",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"123"}}}]}"#,
            "Invalid IP address in Conditions",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"NumericEquals":{"s3:max-keys":"ten"}}}]}"#,
            "Invalid value in Conditions for operator NumericEquals",
        ),
        (
            r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Statement IDs (SID) in a single policy must be unique.",
        ),
    ];
    for (document, message) in cases {
        let error = Policy::parse(document.as_bytes(), "b", &Anyone).expect_err(document);
        assert_eq!(error.0, *message, "{document}");
    }
    let large = format!(r#"{{"Id":"{}","Statement":[]}}"#, "x".repeat(POLICY_BYTES_MAX));
    assert_eq!(
        Policy::parse(large.as_bytes(), "b", &Anyone).unwrap_err().0,
        "Policy exceeds the maximum allowed document size."
    );
}

#[test]
fn principals_must_exist() {
    struct Only;
    impl Directory for Only {
        fn account_exists(&self, account: &str) -> bool {
            account == ALICE_ACCOUNT
        }
        fn user_exists(&self, account: &str, user: &str) -> bool {
            account == ALICE_ACCOUNT && user == "alice"
        }
        fn canonical_user_exists(&self, id: &str) -> bool {
            id == CANONICAL
        }
    }
    let parse = |principal: &str| {
        Policy::parse(
            statement("Allow", principal, "\"s3:GetObject\"", "\"arn:aws:s3:::b/*\"", "").as_bytes(),
            "b",
            &Only,
        )
    };
    assert!(parse(&format!(r#"{{"AWS":"{ALICE_ACCOUNT}"}}"#)).is_ok());
    assert!(parse(&format!(r#"{{"AWS":"arn:aws:iam::{ALICE_ACCOUNT}:user/alice"}}"#)).is_ok());
    assert!(parse(&format!(r#"{{"CanonicalUser":"{CANONICAL}"}}"#)).is_ok());
    assert!(parse(r#"{"Service":"logging.s3.amazonaws.com"}"#).is_ok());
    assert!(parse(&format!(r#"{{"AWS":"{BOB_ACCOUNT}"}}"#)).is_err());
    assert!(parse(&format!(r#"{{"AWS":"arn:aws:iam::{ALICE_ACCOUNT}:user/mallory"}}"#)).is_err());
    assert!(parse(r#"{"Federated":"cognito-identity.amazonaws.com"}"#).is_err());
}

fn arbitrary_statement() -> impl Strategy<Value = String> {
    let effect = prop_oneof![Just("Allow"), Just("Deny")];
    let principal = prop_oneof![
        Just("\"*\"".to_owned()),
        Just(format!(r#"{{"AWS":"{ALICE_ACCOUNT}"}}"#)),
        Just(format!(r#"{{"AWS":"arn:aws:iam::{BOB_ACCOUNT}:root"}}"#)),
    ];
    let action = prop_oneof![
        Just("\"s3:GetObject\""),
        Just("\"s3:*\""),
        Just("\"s3:Get*\""),
        Just("[\"s3:PutObject\",\"s3:GetObject\"]")
    ];
    let resource = prop_oneof![
        Just("\"*\""),
        Just("\"arn:aws:s3:::amzn-s3-demo-bucket/*\""),
        Just("\"arn:aws:s3:::amzn-s3-demo-bucket/photos/*\"")
    ];
    let condition = prop_oneof![
        Just(""),
        Just(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
        Just(r#"{"StringNotEquals":{"aws:Referer":"x"}}"#),
        Just(r#"{"Bool":{"aws:SecureTransport":"true"}}"#),
    ];
    (effect, principal, action, resource, condition).prop_map(|(effect, principal, action, resource, condition)| {
        let condition = if condition.is_empty() { String::new() } else { format!(",\"Condition\":{condition}") };
        format!(r#"{{"Effect":"{effect}","Principal":{principal},"Action":{action},"Resource":{resource}{condition}}}"#)
    })
}

fn document(statements: &[String]) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

proptest! {
    /// Adding a Deny that applies to the request makes any policy deny it; statement order never
    /// matters.
    #[test]
    fn a_matching_deny_always_wins_and_order_does_not_matter(
        statements in proptest::collection::vec(arbitrary_statement(), 1..8),
        ip in prop_oneof![Just("10.1.2.3"), Just("192.0.2.1")],
        anonymous in any::<bool>(),
    ) {
        let facts = Facts::default().with("aws:SourceIp", &[ip]).with("aws:SecureTransport", &["false"]);
        let principal = if anonymous { None } else { Some(alice()) };
        let original = policy(&document(&statements));
        let before = decide(&original, principal, "s3:GetObject", OBJECT, &facts);
        let mut reversed = statements.clone();
        reversed.reverse();
        prop_assert_eq!(decide(&policy(&document(&reversed)), principal, "s3:GetObject", OBJECT, &facts), before);
        let mut denied = statements.clone();
        denied.push(format!(r#"{{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"{OBJECT}"}}"#));
        prop_assert_eq!(decide(&policy(&document(&denied)), principal, "s3:GetObject", OBJECT, &facts), Decision::Deny);
    }

    /// A negated operator is the complement of its positive form whenever the key is present.
    #[test]
    fn negated_operators_complement_their_positive_forms(
        value in "[a-c*?]{0,4}",
        actual in "[a-c]{0,4}",
        operator in prop_oneof![Just("StringEquals"), Just("StringLike"), Just("StringEqualsIgnoreCase")],
    ) {
        let facts = Facts::default().with("aws:Referer", &[&actual]);
        let positive = format!(r#"{{"{operator}":{{"aws:Referer":"{value}"}}}}"#);
        let negated = format!(r#"{{"{}":{{"aws:Referer":"{value}"}}}}"#, operator.replacen("String", "StringNot", 1));
        prop_assert_ne!(allowed_with(&positive, &facts), allowed_with(&negated, &facts));
    }

    /// No input makes the parser panic, and what it accepts it can evaluate.
    #[test]
    fn arbitrary_documents_never_panic(document in ".{0,300}") {
        if let Ok(policy) = Policy::parse(document.as_bytes(), "b", &Anyone) {
            let _ = decide(&policy, None, "s3:GetObject", "arn:aws:s3:::b/k", &Facts::default());
        }
    }
}
