//! One server access log record, written field by field as AWS writes them: space-separated,
//! `-` for a field that is unknown or does not apply, the request line, referer and user agent
//! in quotes. AWS's "Amazon S3 server access log format" lists the fields in this order.

use std::fmt::Write;
use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// What a key field escapes: everything but unreserved characters and `/` (AWS writes keys
/// URL-encoded, slashes as they are).
const KEY_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// A header value quoted into a record is cut to this many bytes (a log line stays a line, and
/// bounded, whatever a client sends).
pub const QUOTED_BYTES_MAX: usize = 2048;

/// One request as the log records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The canonical id of the source bucket's owner.
    pub bucket_owner: String,
    pub bucket: String,
    /// When the request was received, in milliseconds since the epoch.
    pub time_ms: u64,
    pub remote_ip: Option<IpAddr>,
    /// The requester's canonical id (an account's root) or IAM ARN (a user); `None` when
    /// anonymous.
    pub requester: Option<String>,
    pub request_id: String,
    /// `REST.GET.OBJECT` and the like (see [`operation`]).
    pub operation: String,
    pub key: Option<String>,
    /// The request line: method, request target, protocol.
    pub request_uri: String,
    pub status: u16,
    pub error_code: Option<String>,
    /// Response body bytes sent.
    pub bytes_sent: u64,
    pub object_size: Option<u64>,
    /// From the request received to the last response byte sent.
    pub total_ms: u64,
    /// From the last request byte received to the first response byte sent.
    pub turnaround_ms: Option<u64>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub version_id: Option<String>,
    pub host_id: String,
    /// `SigV4`, or `None` for an anonymous request.
    pub signature_version: Option<&'static str>,
    /// `AuthHeader` or `QueryString` (a presigned URL), `None` when anonymous.
    pub auth_type: Option<&'static str>,
    pub host: Option<String>,
    /// An ACL, not the bucket policy or ownership, granted the request.
    pub acl_required: bool,
}

impl Record {
    /// The record as one line of a log object, with its newline.
    pub fn line(&self) -> String {
        let mut line = String::with_capacity(512);
        let dash = |value: Option<&str>| value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned();
        let fields = [
            dash(Some(&self.bucket_owner)),
            dash(Some(&self.bucket)),
            format!("[{}]", time_field(self.time_ms)),
            self.remote_ip.map_or("-".into(), |ip| ip.to_string()),
            dash(self.requester.as_deref()),
            dash(Some(&self.request_id)),
            dash(Some(&self.operation)),
            self.key
                .as_deref()
                .map_or("-".into(), |k| percent_encoding::utf8_percent_encode(k, KEY_ESCAPED).to_string()),
            quoted(Some(&self.request_uri)),
            self.status.to_string(),
            dash(self.error_code.as_deref()),
            if self.bytes_sent == 0 { "-".into() } else { self.bytes_sent.to_string() },
            self.object_size.map_or("-".into(), |size| size.to_string()),
            self.total_ms.to_string(),
            self.turnaround_ms.map_or("-".into(), |ms| ms.to_string()),
            quoted(self.referer.as_deref()),
            quoted(self.user_agent.as_deref()),
            dash(self.version_id.as_deref()),
            dash(Some(&self.host_id)),
            dash(self.signature_version),
            // The cipher suite (and the TLS version below): Cairn serves plain HTTP.
            "-".into(),
            dash(self.auth_type),
            dash(self.host.as_deref().map(unquoted).as_deref()),
            "-".into(),
            // The access point ARN: Cairn has no access points.
            "-".into(),
            if self.acl_required { "Yes".into() } else { "-".into() },
            // Source region: only cross-region requests carry one.
            "-".into(),
        ];
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(field);
        }
        line.push('\n');
        line
    }
}

/// `[%d/%b/%Y:%H:%M:%S %z]`'s inside, in UTC.
pub fn time_field(ms: u64) -> String {
    let time =
        time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    time.format(&format).unwrap_or_default()
}

/// A value in quotes, `"-"` when absent; quotes, backslashes and control bytes escaped, cut
/// to `QUOTED_BYTES_MAX`.
fn quoted(value: Option<&str>) -> String {
    match value.filter(|v| !v.is_empty()) {
        None => "\"-\"".into(),
        Some(value) => format!("\"{}\"", escaped(value)),
    }
}

/// A value written bare: no spaces, quotes or control bytes.
fn unquoted(value: &str) -> String {
    escaped(value).replace(' ', "%20")
}

fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(QUOTED_BYTES_MAX));
    for c in value.chars() {
        if out.len() >= QUOTED_BYTES_MAX {
            break;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The operation as the log names it: `REST.<method>.<resource type>`, the resource type from
/// the subresource the query names, else `OBJECT` or `BUCKET` (`WEBSITE.` for the website
/// endpoint). A copy is `REST.COPY.OBJECT` (or `PART`), DeleteObjects `REST.POST.MULTI_OBJECT_DELETE`.
pub fn operation(method: &str, query: &str, has_key: bool, copy: bool, website: bool) -> String {
    let has = |name: &str| {
        !query.is_empty() && query.split('&').any(|pair| pair.split_once('=').map_or(pair, |(n, _)| n) == name)
    };
    if website {
        return format!("WEBSITE.{method}.OBJECT");
    }
    let resource = SUBRESOURCES.iter().find(|(name, object, _)| has(name) && *object == has_key).map(|r| r.2);
    let resource = match resource {
        Some(resource) => resource,
        None if has_key && has("uploadId") && has("partNumber") => "PART",
        None if has_key && has("uploadId") => "UPLOAD",
        None if has_key && has("uploads") => "UPLOADS",
        None if has_key => "OBJECT",
        None if has("delete") && method == "POST" => return "REST.POST.MULTI_OBJECT_DELETE".into(),
        None if has("versions") => "BUCKETVERSIONS",
        None if has("uploads") => "UPLOADS",
        None => "BUCKET",
    };
    let method = if copy && method == "PUT" && matches!(resource, "OBJECT" | "PART") { "COPY" } else { method };
    format!("REST.{method}.{resource}")
}

/// (query name, on an object, resource type) for the subresources AWS names in its logs; a
/// query name at both levels (acl, tagging) appears once per level.
const SUBRESOURCES: [(&str, bool, &str); 26] = [
    ("acl", true, "ACL"),
    ("tagging", true, "OBJECT_TAGGING"),
    ("retention", true, "RETENTION"),
    ("legal-hold", true, "LEGAL_HOLD"),
    ("restore", true, "RESTORE"),
    ("attributes", true, "OBJECT_ATTRIBUTES"),
    ("acl", false, "ACL"),
    ("tagging", false, "TAGGING"),
    ("versioning", false, "VERSIONING"),
    ("logging", false, "LOGGING_STATUS"),
    ("policy", false, "BUCKETPOLICY"),
    ("policyStatus", false, "POLICY_STATUS"),
    ("location", false, "LOCATION"),
    ("cors", false, "CORS"),
    ("website", false, "WEBSITE"),
    ("lifecycle", false, "LIFECYCLE"),
    ("object-lock", false, "OBJECT_LOCK_CONFIGURATION"),
    ("encryption", false, "ENCRYPTION"),
    ("ownershipControls", false, "OWNERSHIP_CONTROLS"),
    ("publicAccessBlock", false, "PUBLIC_ACCESS_BLOCK"),
    ("replication", false, "REPLICATION"),
    ("notification", false, "NOTIFICATION"),
    ("analytics", false, "ANALYTICS"),
    ("inventory", false, "INVENTORY"),
    ("metrics", false, "METRICS"),
    ("intelligent-tiering", false, "INTELLIGENT_TIERING"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_written_as_aws_writes_its_example() {
        let record = Record {
            bucket_owner: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be".into(),
            bucket: "amzn-s3-demo-bucket1".into(),
            time_ms: 1_549_411_238_000,
            remote_ip: Some("192.0.2.3".parse().unwrap()),
            requester: Some("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be".into()),
            request_id: "3E57427F3EXAMPLE".into(),
            operation: operation("GET", "versioning", false, false, false),
            key: None,
            request_uri: "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1".into(),
            status: 200,
            error_code: None,
            bytes_sent: 113,
            object_size: None,
            total_ms: 7,
            turnaround_ms: None,
            referer: None,
            user_agent: Some("S3Console/0.4".into()),
            version_id: None,
            host_id: "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=".into(),
            signature_version: Some("SigV4"),
            auth_type: Some("AuthHeader"),
            host: Some("amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com".into()),
            acl_required: true,
        };
        assert_eq!(
            record.line(),
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 \
             [06/Feb/2019:00:00:38 +0000] 192.0.2.3 \
             79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE \
             REST.GET.VERSIONING - \"GET /amzn-s3-demo-bucket1?versioning HTTP/1.1\" 200 - 113 - 7 - \
             \"-\" \"S3Console/0.4\" - \
             s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 - \
             AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com - - Yes -\n"
        );
    }

    #[test]
    fn operations_are_named_as_aws_logs_them() {
        let cases = [
            (("GET", "", true, false), "REST.GET.OBJECT"),
            (("HEAD", "versionId=3", true, false), "REST.HEAD.OBJECT"),
            (("PUT", "", true, true), "REST.COPY.OBJECT"),
            (("PUT", "partNumber=1&uploadId=5", true, true), "REST.COPY.PART"),
            (("PUT", "partNumber=1&uploadId=5", true, false), "REST.PUT.PART"),
            (("POST", "uploads", true, false), "REST.POST.UPLOADS"),
            (("POST", "uploadId=5", true, false), "REST.POST.UPLOAD"),
            (("DELETE", "uploadId=5", true, false), "REST.DELETE.UPLOAD"),
            (("GET", "tagging", true, false), "REST.GET.OBJECT_TAGGING"),
            (("GET", "tagging", false, false), "REST.GET.TAGGING"),
            (("PUT", "acl", true, false), "REST.PUT.ACL"),
            (("GET", "list-type=2&prefix=a", false, false), "REST.GET.BUCKET"),
            (("GET", "versions", false, false), "REST.GET.BUCKETVERSIONS"),
            (("GET", "uploads", false, false), "REST.GET.UPLOADS"),
            (("POST", "delete", false, false), "REST.POST.MULTI_OBJECT_DELETE"),
            (("GET", "policy", false, false), "REST.GET.BUCKETPOLICY"),
            (("PUT", "logging", false, false), "REST.PUT.LOGGING_STATUS"),
            (("PUT", "", false, false), "REST.PUT.BUCKET"),
            (("POST", "restore&versionId=1", true, false), "REST.POST.RESTORE"),
        ];
        for ((method, query, key, copy), expected) in cases {
            assert_eq!(operation(method, query, key, copy, false), expected, "{method} {query}");
        }
        assert_eq!(operation("GET", "", true, false, true), "WEBSITE.GET.OBJECT");
    }

    #[test]
    fn values_stay_inside_their_fields() {
        let record = Record {
            key: Some("dir/a b+ü".into()),
            user_agent: Some("evil\" agent\n".into()),
            host: Some("two words".into()),
            ..Record::default()
        };
        let line = record.line();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains(" dir/a%20b%2B%C3%BC "), "{line}");
        assert!(line.contains("\"evil\\\" agent\\x0A\""), "{line}");
        assert!(line.contains(" two%20words "), "{line}");
        let long = Record { user_agent: Some("x".repeat(10 * QUOTED_BYTES_MAX)), ..Record::default() };
        assert!(long.line().len() < 2 * QUOTED_BYTES_MAX);
    }
}
