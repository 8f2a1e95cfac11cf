//! A browser form's POST policy: its expiration and conditions (`eq`, `starts-with`,
//! `content-length-range`, and `{"field": "value"}` for `eq`), checked against the form's
//! fields as AWS checks them: every condition must hold, and every field but the exempt ones
//! must be named by a condition.

use s3s::{S3Error, S3ErrorCode};
use serde_json::Value;

use super::post::Fields;

/// The fields no condition need name.
const EXEMPT: [&str; 3] = ["policy", "x-amz-signature", "file"];

/// The file sizes a policy allows, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub min: u64,
    pub max: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { min: 0, max: u64::MAX }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    Length(u64, u64),
}

/// A decoded policy.
#[derive(Debug)]
pub(crate) struct FormPolicy {
    expiration: time::OffsetDateTime,
    conditions: Vec<Condition>,
}

fn invalid(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidPolicyDocument, format!("Invalid Policy: {message}"))
}

fn denied(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, format!("Invalid according to Policy: {message}"))
}

impl FormPolicy {
    /// The policy a form's `policy` field holds (base64 of a JSON document).
    pub fn parse(encoded: &str) -> Result<FormPolicy, S3Error> {
        let json =
            base64_simd::STANDARD.decode_to_vec(encoded.trim()).map_err(|_| invalid("Invalid Base64 Encoding."))?;
        let document: Value = serde_json::from_slice(&json).map_err(|_| invalid("Invalid JSON."))?;
        let expiration = document.get("expiration").ok_or_else(|| invalid("Policy missing expiration."))?;
        let text = expiration.as_str().unwrap_or_default();
        let expiration = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid(&format!("Invalid 'expiration' value: '{text}'")))?;
        let listed = document.get("conditions").ok_or_else(|| invalid("Policy missing conditions."))?;
        let listed = listed.as_array().ok_or_else(|| invalid("Invalid conditions section."))?;
        let mut conditions = Vec::with_capacity(listed.len());
        for condition in listed {
            conditions.extend(Self::condition(condition)?);
        }
        Ok(FormPolicy { expiration, conditions })
    }

    fn condition(value: &Value) -> Result<Vec<Condition>, S3Error> {
        let field = |name: &str| name.trim_start_matches('$').to_ascii_lowercase();
        match value {
            Value::Object(map) => map
                .iter()
                .map(|(name, value)| match value.as_str() {
                    Some(text) => Ok(Condition::Eq(field(name), text.to_owned())),
                    None => Err(invalid(&format!("Invalid Simple-Condition: value must be a string: {value}"))),
                })
                .collect(),
            Value::Array(items) => {
                let op = items.first().and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
                match (op.as_str(), &items[1..]) {
                    ("content-length-range", [min, max]) => {
                        let bound = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                        match (bound(min), bound(max)) {
                            (Some(min), Some(max)) if min <= max => Ok(vec![Condition::Length(min, max)]),
                            _ => Err(invalid("Invalid content-length-range.")),
                        }
                    }
                    (op @ ("eq" | "starts-with"), [Value::String(name), Value::String(text)])
                        if name.starts_with('$') =>
                    {
                        let name = field(name);
                        Ok(vec![if op == "eq" {
                            Condition::Eq(name, text.clone())
                        } else {
                            Condition::StartsWith(name, text.clone())
                        }])
                    }
                    _ => Err(invalid(&format!("Invalid Condition: {value}"))),
                }
            }
            _ => Err(invalid(&format!("Invalid Condition: {value}"))),
        }
    }

    /// Checks the form against the policy (at `now`); returns the file sizes it allows.
    pub fn check(&self, fields: &Fields, bucket: &str) -> Result<Limits, S3Error> {
        self.check_at(fields, bucket, time::OffsetDateTime::now_utc())
    }

    fn check_at(&self, fields: &Fields, bucket: &str, now: time::OffsetDateTime) -> Result<Limits, S3Error> {
        if now >= self.expiration {
            return Err(denied("Policy expired."));
        }
        let value = |name: &str| match name {
            "bucket" => Some(fields.get("bucket").unwrap_or(bucket)),
            name => fields.get(name),
        };
        let mut limits = Limits::default();
        for condition in &self.conditions {
            let holds = match condition {
                Condition::Eq(name, expected) => value(name) == Some(expected.as_str()),
                Condition::StartsWith(name, prefix) if name == "content-type" => {
                    value(name).is_some_and(|types| types.split(',').all(|t| t.trim().starts_with(prefix.as_str())))
                }
                Condition::StartsWith(name, prefix) => value(name).is_some_and(|v| v.starts_with(prefix.as_str())),
                Condition::Length(min, max) => {
                    limits = Limits { min: *min, max: *max };
                    true
                }
            };
            if !holds {
                return Err(denied(&format!("Policy Condition failed: {}", show(condition))));
            }
        }
        let named = |name: &str| {
            self.conditions.iter().any(|c| matches!(c, Condition::Eq(n, _) | Condition::StartsWith(n, _) if n == name))
        };
        let extra: Vec<&str> = fields
            .0
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !EXEMPT.contains(name) && !name.starts_with("x-ignore-") && !named(name))
            .collect();
        if !extra.is_empty() {
            return Err(denied(&format!("Extra input fields: {}", extra.join(", "))));
        }
        Ok(limits)
    }
}

/// A condition as AWS quotes it in an error.
fn show(condition: &Condition) -> String {
    match condition {
        Condition::Eq(name, value) => format!("[\"eq\", \"${name}\", \"{value}\"]"),
        Condition::StartsWith(name, value) => format!("[\"starts-with\", \"${name}\", \"{value}\"]"),
        Condition::Length(min, max) => format!("[\"content-length-range\", {min}, {max}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(json: &str) -> String {
        base64_simd::STANDARD.encode_to_string(json)
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    const POLICY: &str = r#"{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
        {"bucket": "photos"}, ["starts-with", "$key", "user/"], {"acl": "public-read"},
        ["starts-with", "$Content-Type", "image/"], ["content-length-range", 1, 1048576],
        {"x-amz-meta-uuid": "14365123651274"}, ["eq", "$success_action_status", "201"]]}"#;

    #[test]
    fn a_form_within_its_policy_passes_with_its_length_range() {
        let policy = FormPolicy::parse(&encoded(POLICY)).unwrap();
        let form = fields(&[
            ("key", "user/a.png"),
            ("acl", "public-read"),
            ("content-type", "image/png"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("success_action_status", "201"),
            ("policy", "..."),
            ("x-ignore-me", "anything"),
        ]);
        assert_eq!(policy.check(&form, "photos").unwrap(), Limits { min: 1, max: 1_048_576 });
    }

    #[test]
    fn each_violation_is_aws_s_error() {
        let policy = FormPolicy::parse(&encoded(POLICY)).unwrap();
        let good = [
            ("key", "user/a.png"),
            ("acl", "public-read"),
            ("content-type", "image/png"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("success_action_status", "201"),
        ];
        let fails = |changed: &[(&str, &str)], bucket: &str| {
            let mut pairs: Vec<(&str, &str)> =
                good.iter().filter(|(n, _)| !changed.iter().any(|(c, _)| c == n)).copied().collect();
            pairs.extend(changed.iter().filter(|(_, v)| !v.is_empty()));
            let refused = policy.check(&fields(&pairs), bucket).unwrap_err();
            (refused.code().as_str().to_owned(), refused.message().unwrap_or("").to_owned())
        };
        let (code, message) = fails(&[("key", "other/a.png")], "photos");
        assert_eq!(code, "AccessDenied");
        assert_eq!(
            message,
            "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"user/\"]"
        );
        assert!(fails(&[], "videos").1.contains("[\"eq\", \"$bucket\", \"photos\"]"));
        assert!(fails(&[("acl", "")], "photos").1.contains("$acl"), "a field the policy names is missing");
        assert!(fails(&[("content-type", "text/html")], "photos").1.contains("$content-type"));
        assert_eq!(
            fails(&[("x-amz-meta-extra", "1")], "photos").1,
            "Invalid according to Policy: Extra input fields: x-amz-meta-extra"
        );
        let expired = FormPolicy::parse(&encoded(&POLICY.replace("2030", "2020"))).unwrap();
        let refused = expired.check(&fields(&good), "photos").unwrap_err();
        assert_eq!(refused.message(), Some("Invalid according to Policy: Policy expired."));
    }

    #[test]
    fn malformed_policies_are_invalid_policy_documents() {
        let message = |text: &str| FormPolicy::parse(text).unwrap_err().message().unwrap_or("").to_owned();
        assert_eq!(message("%%%"), "Invalid Policy: Invalid Base64 Encoding.");
        assert_eq!(message(&encoded("{")), "Invalid Policy: Invalid JSON.");
        assert_eq!(message(&encoded(r#"{"conditions": []}"#)), "Invalid Policy: Policy missing expiration.");
        assert!(message(&encoded(r#"{"expiration": "soon", "conditions": []}"#)).contains("Invalid 'expiration'"));
        assert_eq!(
            message(&encoded(r#"{"expiration": "2030-01-01T00:00:00Z"}"#)),
            "Invalid Policy: Policy missing conditions."
        );
        assert!(
            message(&encoded(
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 9, 1]]}"#
            ))
            .contains("content-length-range")
        );
        assert!(
            message(&encoded(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["matches", "$key", "x"]]}"#))
                .contains("Invalid Condition")
        );
        let code = FormPolicy::parse("%%%").unwrap_err();
        assert_eq!(code.code(), &S3ErrorCode::InvalidPolicyDocument);
    }
}
