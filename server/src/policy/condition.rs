//! A statement's `Condition` block: every operator of IAM's condition grammar, their
//! `...IfExists` forms and the `ForAnyValue:` / `ForAllValues:` set qualifiers, evaluated as
//! AWS's "IAM JSON policy elements: Condition operators" defines them:
//!
//! - Operators in one block, and keys under one operator, must all hold (AND); the values listed
//!   for one key are alternatives (OR). A negated operator (`StringNotEquals` ...) holds when the
//!   request's value matches none of them.
//! - A key the request does not have: a positive operator is false, a negated one true, any
//!   `...IfExists` form true; `Null` tests exactly that absence.
//! - `ForAnyValue:` holds when some request value satisfies the operator (false for no values);
//!   `ForAllValues:` when every one does (true for no values).

use std::net::IpAddr;

use serde_json::Value;

use super::pattern::Pattern;
use super::{Context, Malformed};

/// The condition keys S3 defines (besides the global `aws:` keys, all of which AWS accepts in a
/// policy: an unknown `aws:` key is simply absent from every request). Case-insensitive.
pub const S3_CONDITION_KEYS: &[&str] = &[
    "s3:authType",
    "s3:delimiter",
    "s3:locationconstraint",
    "s3:max-keys",
    "s3:object-lock-legal-hold",
    "s3:object-lock-mode",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-retain-until-date",
    "s3:prefix",
    "s3:RequestObjectTagKeys",
    "s3:ResourceAccount",
    "s3:signatureAge",
    "s3:signatureversion",
    "s3:TlsVersion",
    "s3:VersionId",
    "s3:x-amz-acl",
    "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-object-ownership",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:x-amz-website-redirect-location",
];

/// Condition keys naming a tag: the tag's key follows the slash (case-sensitive).
pub const S3_TAG_CONDITION_KEYS: &[&str] = &["s3:ExistingObjectTag/", "s3:RequestObjectTag/", "s3:BucketTag/"];

/// The most values one condition key may list.
pub const CONDITION_VALUES_MAX: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    BinaryEquals,
    IpAddress,
    Arn,
    Null,
}

/// A numeric or date comparison: the request's value against the policy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ordering {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Debug)]
enum Expected {
    Text(Pattern),
    Number(f64),
    /// Unix time in nanoseconds.
    Date(i128),
    Bool(bool),
    Binary(Vec<u8>),
    Network(ipnet::IpNet),
    /// An ARN's six colon-separated components, each a pattern.
    Arn(Box<[Pattern; 6]>),
    /// `Null`: true = the key must be absent.
    Absent(bool),
}

/// One key under one operator, with the values it accepts.
#[derive(Clone, Debug)]
pub struct Condition {
    operator: Operator,
    negated: bool,
    if_exists: bool,
    qualifier: Qualifier,
    key: String,
    expected: Vec<Expected>,
}

/// Parses a `Condition` block. `variables`: whether policy variables apply (version 2012-10-17).
pub fn parse_block(block: &Value, variables: bool) -> Result<Vec<Condition>, Malformed> {
    let Value::Object(operators) = block else {
        return Err(Malformed::new("Condition must be an object"));
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let (operator, negated, if_exists, qualifier) =
            parse_operator(name).ok_or_else(|| Malformed(format!("Invalid Condition type : {name}")))?;
        let Value::Object(keys) = keys else {
            return Err(Malformed(format!("Invalid Condition type : {name}")));
        };
        for (key, values) in keys {
            check_key(key)?;
            let values: Vec<&Value> = match values {
                Value::Array(values) => values.iter().collect(),
                value => vec![value],
            };
            if values.is_empty() || values.len() > CONDITION_VALUES_MAX {
                return Err(Malformed(format!("Invalid value in Conditions for operator {name}")));
            }
            let mut expected = Vec::with_capacity(values.len());
            for value in values {
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    _ => return Err(Malformed(format!("Invalid value in Conditions for operator {name}"))),
                };
                expected.push(parse_value(operator, &text, variables).ok_or_else(|| {
                    if operator == Operator::IpAddress {
                        Malformed::new("Invalid IP address in Conditions")
                    } else {
                        Malformed(format!("Invalid value in Conditions for operator {name}"))
                    }
                })?);
            }
            conditions.push(Condition { operator, negated, if_exists, qualifier, key: key.clone(), expected });
        }
    }
    Ok(conditions)
}

fn parse_operator(name: &str) -> Option<(Operator, bool, bool, Qualifier)> {
    let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Qualifier::ForAnyValue, rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Qualifier::ForAllValues, rest)
    } else {
        (Qualifier::Single, name)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    use Operator::*;
    use Ordering::*;
    let (operator, negated) = match rest {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (Numeric(Equals), false),
        "NumericNotEquals" => (Numeric(Equals), true),
        "NumericLessThan" => (Numeric(LessThan), false),
        "NumericLessThanEquals" => (Numeric(LessThanEquals), false),
        "NumericGreaterThan" => (Numeric(GreaterThan), false),
        "NumericGreaterThanEquals" => (Numeric(GreaterThanEquals), false),
        "DateEquals" => (Date(Equals), false),
        "DateNotEquals" => (Date(Equals), true),
        "DateLessThan" => (Date(LessThan), false),
        "DateLessThanEquals" => (Date(LessThanEquals), false),
        "DateGreaterThan" => (Date(GreaterThan), false),
        "DateGreaterThanEquals" => (Date(GreaterThanEquals), false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Arn, true),
        // `Null` takes neither a set qualifier nor IfExists.
        "Null" if !if_exists && qualifier == Qualifier::Single => (Null, false),
        _ => return None,
    };
    Some((operator, negated, if_exists, qualifier))
}

fn check_key(key: &str) -> Result<(), Malformed> {
    let known = starts_with_ignore_case(key, "aws:")
        || S3_CONDITION_KEYS.iter().any(|known| known.eq_ignore_ascii_case(key))
        || S3_TAG_CONDITION_KEYS.iter().any(|prefix| key.len() > prefix.len() && starts_with_ignore_case(key, prefix));
    if known { Ok(()) } else { Err(Malformed::new("Policy has an invalid condition key")) }
}

pub(super) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn parse_value(operator: Operator, text: &str, variables: bool) -> Option<Expected> {
    Some(match operator {
        Operator::StringEquals | Operator::StringEqualsIgnoreCase => {
            Expected::Text(Pattern::compile(text, false, variables))
        }
        Operator::StringLike => Expected::Text(Pattern::compile(text, true, variables)),
        Operator::Numeric(_) => Expected::Number(parse_number(text)?),
        Operator::Date(_) => Expected::Date(parse_date(text)?),
        Operator::Bool => Expected::Bool(parse_bool(text)?),
        Operator::BinaryEquals => Expected::Binary(crate::checksum::base64_decode(text)?),
        Operator::IpAddress => Expected::Network(parse_network(text)?),
        Operator::Arn => {
            if text == "*" {
                let any = Pattern::compile("*", true, false);
                return Some(Expected::Arn(Box::new(std::array::from_fn(|_| any.clone()))));
            }
            let parts: Vec<&str> = text.splitn(6, ':').collect();
            if parts.len() != 6 {
                return None;
            }
            Expected::Arn(Box::new(std::array::from_fn(|i| Pattern::compile(parts[i], true, variables))))
        }
        Operator::Null => Expected::Absent(parse_bool(text)?),
    })
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A CIDR block, or one address (a /32 or /128).
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A date as IAM reads one: ISO 8601 (a full date-time with a zone, or a calendar date) or
/// seconds since the epoch. Unix time in nanoseconds.
pub fn parse_date(text: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.unix_timestamp_nanos());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp_nanos())
}

impl Condition {
    /// Whether the request satisfies this condition.
    pub fn holds(&self, context: &dyn Context) -> bool {
        let values = context.values(&self.key);
        if self.operator == Operator::Null {
            let present = values.as_ref().is_some_and(|v| !v.is_empty());
            return self.expected.iter().any(|e| matches!(e, Expected::Absent(absent) if *absent != present));
        }
        let values = match values {
            Some(values) if !values.is_empty() => values,
            _ => {
                return self.if_exists
                    || match self.qualifier {
                        Qualifier::Single => self.negated,
                        Qualifier::ForAnyValue => false,
                        Qualifier::ForAllValues => true,
                    };
            }
        };
        match self.qualifier {
            Qualifier::Single => {
                let any = values.iter().any(|value| self.matches_any(value, context));
                any != self.negated
            }
            Qualifier::ForAnyValue => values.iter().any(|value| self.matches_any(value, context) != self.negated),
            Qualifier::ForAllValues => values.iter().all(|value| self.matches_any(value, context) != self.negated),
        }
    }

    /// Whether one request value matches one of the policy's values (before negation).
    fn matches_any(&self, value: &str, context: &dyn Context) -> bool {
        match self.operator {
            Operator::StringEquals => self.texts().any(|p| p.literal(context).is_some_and(|t| t == value)),
            Operator::StringEqualsIgnoreCase => {
                let lower = value.to_lowercase();
                self.texts().any(|p| p.literal(context).is_some_and(|t| t.to_lowercase() == lower))
            }
            Operator::StringLike => self.texts().any(|p| p.matches(value, false, context)),
            Operator::Numeric(ordering) => parse_number(value).is_some_and(|actual| {
                self.expected.iter().any(|e| matches!(e, Expected::Number(n) if compare(ordering, actual, *n)))
            }),
            Operator::Date(ordering) => parse_date(value).is_some_and(|actual| {
                self.expected.iter().any(|e| matches!(e, Expected::Date(d) if compare(ordering, actual, *d)))
            }),
            Operator::Bool => parse_bool(value)
                .is_some_and(|actual| self.expected.iter().any(|e| matches!(e, Expected::Bool(b) if *b == actual))),
            Operator::BinaryEquals => {
                self.expected.iter().any(|e| matches!(e, Expected::Binary(b) if b.as_slice() == value.as_bytes()))
            }
            Operator::IpAddress => value.trim().parse::<IpAddr>().is_ok_and(|address| {
                self.expected.iter().any(|e| matches!(e, Expected::Network(n) if n.contains(&address)))
            }),
            Operator::Arn => {
                let parts: Vec<&str> = value.splitn(6, ':').collect();
                parts.len() == 6
                    && self.expected.iter().any(|e| match e {
                        Expected::Arn(patterns) => {
                            patterns.iter().zip(&parts).all(|(pattern, part)| pattern.matches(part, false, context))
                        }
                        _ => false,
                    })
            }
            Operator::Null => false,
        }
    }

    fn texts(&self) -> impl Iterator<Item = &Pattern> {
        self.expected.iter().filter_map(|e| match e {
            Expected::Text(pattern) => Some(pattern),
            _ => None,
        })
    }

    /// The condition's key, as the policy writes it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this condition pins its key to fixed values (no wildcard `StringLike`, no
    /// negation, no IfExists, no set qualifier that a request without values passes): what AWS
    /// calls a restricting condition when it decides whether a policy is public.
    pub fn restricts(&self) -> bool {
        if self.negated || self.if_exists || self.qualifier == Qualifier::ForAllValues {
            return false;
        }
        match self.operator {
            Operator::StringEquals | Operator::StringEqualsIgnoreCase | Operator::Arn | Operator::StringLike => {
                self.expected.iter().all(|e| match e {
                    Expected::Text(p) => !p.has_wildcards() && !p.has_variables(),
                    Expected::Arn(parts) => parts.iter().all(|p| !p.has_wildcards() && !p.has_variables()),
                    _ => false,
                })
            }
            Operator::IpAddress => self.expected.iter().all(|e| match e {
                // A CIDR of /8 or wider (or any IPv6 /32 or wider) is not a fixed source.
                Expected::Network(n) => match n {
                    ipnet::IpNet::V4(v4) => v4.prefix_len() >= 8,
                    ipnet::IpNet::V6(v6) => v6.prefix_len() >= 32,
                },
                _ => false,
            }),
            _ => false,
        }
    }
}

fn compare<T: PartialOrd>(ordering: Ordering, actual: T, expected: T) -> bool {
    match ordering {
        Ordering::Equals => actual == expected,
        Ordering::LessThan => actual < expected,
        Ordering::LessThanEquals => actual <= expected,
        Ordering::GreaterThan => actual > expected,
        Ordering::GreaterThanEquals => actual >= expected,
    }
}
