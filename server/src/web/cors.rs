//! A bucket's CORS configuration: the rules PutBucketCors validates as AWS does, stored as JSON
//! in the bucket's `cors` configuration, and how a request (a preflight `OPTIONS` or an actual
//! request with an `Origin`) is matched against them: the first rule whose origin, method and
//! (for a preflight) every requested header match decides, as AWS evaluates them.

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

/// The bucket configuration the rules are stored under.
pub const BUCKET_CORS: &str = "cors";

/// S3: a CORS configuration holds at most 100 rules.
pub const CORS_RULES_MAX: usize = 100;

/// S3: a rule's ID is at most 255 characters.
pub const CORS_RULE_ID_CHARS_MAX: usize = 255;

/// The methods a rule may allow (S3 refuses any other).
pub const CORS_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// What a response to a cross-origin request varies by, on every answer from a bucket with CORS.
pub const CORS_VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// One CORS rule, as PutBucketCors sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Option<String>,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<i32>,
}

/// A bucket's CORS rules, in the order they are evaluated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cors {
    pub rules: Vec<Rule>,
}

pub use super::Invalid;

impl Cors {
    /// The configuration PutBucketCors stores, checked as AWS checks it.
    pub fn validated(rules: Vec<Rule>) -> Result<Cors, Invalid> {
        if rules.is_empty() {
            let message = "The XML you provided was not well-formed or did not validate against our published schema";
            return Err(("MalformedXML", message.to_owned()));
        }
        if rules.len() > CORS_RULES_MAX {
            let message =
                format!("The number of CORS rules should not exceed allowed limit of {CORS_RULES_MAX} rules.");
            return Err(("InvalidRequest", message));
        }
        for rule in &rules {
            if rule.id.as_ref().is_some_and(|id| id.chars().count() > CORS_RULE_ID_CHARS_MAX) {
                let message = format!("ID length should not exceed allowed limit of {CORS_RULE_ID_CHARS_MAX}");
                return Err(("InvalidArgument", message));
            }
            if rule.origins.is_empty() || rule.methods.is_empty() {
                let message =
                    "The XML you provided was not well-formed or did not validate against our published schema";
                return Err(("MalformedXML", message.to_owned()));
            }
            if let Some(method) = rule.methods.iter().find(|m| !CORS_METHODS.contains(&m.as_str())) {
                let message = format!("Found unsupported HTTP method in CORS config. Unsupported method is {method}");
                return Err(("InvalidRequest", message));
            }
            if let Some(origin) = rule.origins.iter().find(|o| o.matches('*').count() > 1) {
                return Err((
                    "InvalidRequest",
                    format!("AllowedOrigin \"{origin}\" can not have more than one wildcard."),
                ));
            }
            if let Some(header) = rule.headers.iter().find(|h| h.matches('*').count() > 1) {
                return Err((
                    "InvalidRequest",
                    format!("AllowedHeader \"{header}\" can not have more than one wildcard."),
                ));
            }
            if let Some(header) = rule.expose.iter().find(|h| h.contains('*')) {
                let message = format!(
                    "ExposeHeader \"{header}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                );
                return Err(("InvalidRequest", message));
            }
        }
        Ok(Cors { rules })
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("CORS rules serialize")
    }

    /// The stored configuration; `None` for bytes this version did not write (never expected).
    pub fn decode(stored: &[u8]) -> Option<Cors> {
        serde_json::from_slice(stored).ok()
    }

    /// The first rule allowing `origin` to send `method` with `headers` (lower-cased names).
    pub fn matching(&self, origin: &str, method: &str, headers: &[String]) -> Option<&Rule> {
        self.rules.iter().find(|rule| {
            rule.origins.iter().any(|allowed| wildcard(allowed, origin, false))
                && rule.methods.iter().any(|allowed| allowed == method)
                && headers.iter().all(|header| rule.headers.iter().any(|allowed| wildcard(allowed, header, true)))
        })
    }
}

impl Rule {
    /// The Access-Control-* headers this rule gives a request from `origin`; for a preflight,
    /// `requested` are the headers it asked for, echoed as allowed.
    pub fn grant(&self, origin: &str, preflight: Option<&str>, headers: &mut HeaderMap) {
        let any_origin = self.origins.iter().any(|o| o == "*");
        let mut put = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        if any_origin {
            put("access-control-allow-origin", "*");
        } else {
            put("access-control-allow-origin", origin);
            put("access-control-allow-credentials", "true");
        }
        put("access-control-allow-methods", &self.methods.join(", "));
        if let Some(requested) = preflight.filter(|r| !r.trim().is_empty()) {
            put("access-control-allow-headers", requested);
        }
        if !self.expose.is_empty() {
            put("access-control-expose-headers", &self.expose.join(", "));
        }
        if let Some(max_age) = self.max_age {
            put("access-control-max-age", &max_age.to_string());
        }
        put("vary", CORS_VARY);
    }
}

/// The header names an `Access-Control-Request-Headers` value lists, lower-cased.
pub fn requested_headers(value: &str) -> Vec<String> {
    value.split(',').map(|name| name.trim().to_ascii_lowercase()).filter(|name| !name.is_empty()).collect()
}

/// Whether `text` matches `pattern`, which holds at most one `*` standing for any characters
/// (S3 compares origins case-sensitively and header names without case).
fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (pattern, text) = if ignore_case {
        (pattern.to_ascii_lowercase(), text.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), text.to_owned())
    };
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => text.len() >= head.len() + tail.len() && text.starts_with(head) && text.ends_with(tail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> Rule {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Rule { origins: owned(origins), methods: owned(methods), headers: owned(headers), ..Rule::default() }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let cors = Cors::validated(vec![
            rule(&["http://app.example"], &["PUT"], &["content-*"]),
            rule(&["https://*.example"], &["GET", "HEAD"], &[]),
            rule(&["*"], &["GET"], &["*"]),
        ])
        .unwrap();
        let id = |origin: &str, method: &str, headers: &[&str]| {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            cors.matching(origin, method, &headers).map(|rule| rule.origins[0].clone())
        };
        assert_eq!(id("http://app.example", "PUT", &["content-type"]).as_deref(), Some("http://app.example"));
        assert_eq!(id("http://app.example", "PUT", &["x-amz-date"]), None, "a header no rule allows");
        assert_eq!(id("https://a.b.example", "HEAD", &[]).as_deref(), Some("https://*.example"));
        assert_eq!(id("https://.example", "HEAD", &[]).as_deref(), Some("https://*.example"), "* may be empty");
        assert_eq!(id("http://other", "GET", &["x-anything"]).as_deref(), Some("*"));
        assert_eq!(id("http://other", "DELETE", &[]), None);
        assert_eq!(id("HTTP://APP.EXAMPLE", "PUT", &[]), None, "origins compare with case");
        assert!(id("http://app.example", "PUT", &["Content-Length".to_ascii_lowercase().as_str()]).is_some());
    }

    #[test]
    fn configurations_are_checked_as_aws_checks_them() {
        let code = |rules: Vec<Rule>| Cors::validated(rules).err();
        assert_eq!(code(vec![]).unwrap().0, "MalformedXML");
        assert_eq!(code(vec![rule(&["*"], &[], &[])]).unwrap().0, "MalformedXML");
        let (code_, message) = code(vec![rule(&["*"], &["PATCH"], &[])]).unwrap();
        assert_eq!(
            (code_, message.as_str()),
            ("InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
        );
        assert!(code(vec![rule(&["http://*.*.example"], &["GET"], &[])]).unwrap().1.contains("more than one wildcard"));
        assert!(code(vec![rule(&["*"], &["GET"], &["x-*-*"])]).unwrap().1.starts_with("AllowedHeader"));
        let mut exposed = rule(&["*"], &["GET"], &[]);
        exposed.expose = vec!["x-*".into()];
        assert!(code(vec![exposed]).unwrap().1.contains("wildcard for ExposeHeader"));
        let mut named = rule(&["*"], &["GET"], &[]);
        named.id = Some("i".repeat(CORS_RULE_ID_CHARS_MAX + 1));
        assert_eq!(code(vec![named.clone()]).unwrap().0, "InvalidArgument");
        named.id = Some("i".repeat(CORS_RULE_ID_CHARS_MAX));
        assert!(code(vec![named]).is_none());
        assert!(code(vec![rule(&["*"], &["GET"], &[]); CORS_RULES_MAX]).is_none());
        assert!(code(vec![rule(&["*"], &["GET"], &[]); CORS_RULES_MAX + 1]).unwrap().1.contains("100 rules"));
    }

    #[test]
    fn a_rule_grants_what_aws_sends() {
        let mut specific = rule(&["http://app.example"], &["GET", "PUT"], &["*"]);
        specific.expose = vec!["ETag".into(), "x-amz-version-id".into()];
        specific.max_age = Some(600);
        let mut headers = HeaderMap::new();
        specific.grant("http://app.example", Some("content-type, x-amz-date"), &mut headers);
        assert_eq!(headers["access-control-allow-origin"], "http://app.example");
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert_eq!(headers["access-control-allow-methods"], "GET, PUT");
        assert_eq!(headers["access-control-allow-headers"], "content-type, x-amz-date");
        assert_eq!(headers["access-control-expose-headers"], "ETag, x-amz-version-id");
        assert_eq!(headers["access-control-max-age"], "600");
        assert_eq!(headers["vary"], CORS_VARY);
        let mut headers = HeaderMap::new();
        rule(&["*"], &["GET"], &[]).grant("http://any", None, &mut headers);
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(!headers.contains_key("access-control-allow-credentials"));
        assert!(!headers.contains_key("access-control-allow-headers"));
        let stored = Cors::validated(vec![specific.clone()]).unwrap();
        assert_eq!(Cors::decode(&stored.encode()), Some(stored));
        assert_eq!(requested_headers(" Content-Type ,X-Amz-Date,"), ["content-type", "x-amz-date"]);
    }
}
