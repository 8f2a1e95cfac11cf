//! The authorization step. Every request, whether Cairn implements its operation or not, passes
//! through `Access::check` (s3s calls it once the signature is verified and before any handler
//! runs). It builds the request's [`Authorization`] once: who asks (the principal), for what (the
//! IAM action, as AWS's "Required permissions for Amazon S3 API operations" names it) and on what
//! (the resource: bucket or object ARN), and decides on it once. A second resource in one request
//! (a copy's source) gets its own `Authorization` through the same decision.
//!
//! The decision today is S3's default without policies or ACLs: a bucket and everything in it
//! belong to the account that owns the bucket. Policies, ACLs and Block Public Access decide here
//! too as they arrive.

use std::fmt;

use s3s::path::S3Path;

use crate::account::Account;

/// What one request asks of one resource, built once by the authorization step.
#[derive(Clone, Copy, Debug)]
pub struct Authorization<'a> {
    /// The requesting account (anonymous requests are refused before this is built).
    pub principal: &'a Account,
    /// The IAM action, such as `s3:GetObject`; `None` for an operation Cairn does not implement
    /// and cannot name (only the bucket's owner passes; s3s then answers NotImplemented).
    pub action: Option<&'static str>,
    pub resource: Resource<'a>,
}

/// The resource a request acts on; its ARN is `arn:aws:s3:::bucket` or
/// `arn:aws:s3:::bucket/key`, formatted only when something reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    /// ListBuckets and the other account-level operations (AWS's resource is `*`).
    Account,
    Bucket(&'a str),
    Object {
        bucket: &'a str,
        key: &'a str,
    },
}

impl<'a> Resource<'a> {
    pub fn of(path: &'a S3Path) -> Resource<'a> {
        match path {
            S3Path::Root => Resource::Account,
            S3Path::Bucket { bucket } => Resource::Bucket(bucket),
            S3Path::Object { bucket, key } => Resource::Object { bucket, key },
        }
    }

    pub fn bucket(&self) -> Option<&'a str> {
        match *self {
            Resource::Account => None,
            Resource::Bucket(bucket) | Resource::Object { bucket, .. } => Some(bucket),
        }
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("*"),
            Resource::Bucket(bucket) => write!(f, "arn:aws:s3:::{bucket}"),
            Resource::Object { bucket, key } => write!(f, "arn:aws:s3:::{bucket}/{key}"),
        }
    }
}

/// The IAM action an operation (by its S3 name) needs, where the request's query is `query`
/// (an operation on one version, `versionId=`, needs the version's action). `None` for an operation Cairn has no mapping for: every operation
/// in `s3::OPERATIONS` has one (tested), so only unimplemented operations, which s3s answers
/// NotImplemented after the owner check, lack one.
///
/// CopyObject and UploadPartCopy also need `s3:GetObject` (or `s3:GetObjectVersion`) on their
/// source, which the copy checks with its own `Authorization`. DeleteObjects names versions in its
/// body, one per key: each is `s3:DeleteObjectVersion` where it has one (AWS), decided per key.
pub fn action(operation: &str, query: Option<&str>) -> Option<&'static str> {
    let versioned =
        |plain: &'static str, with_version: &'static str| if names_version(query) { with_version } else { plain };
    Some(match operation {
        "ListBuckets" => "s3:ListAllMyBuckets",
        "CreateBucket" => "s3:CreateBucket",
        "DeleteBucket" => "s3:DeleteBucket",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        "GetBucketAnalyticsConfiguration" => "s3:GetAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration" | "DeleteBucketAnalyticsConfiguration" => "s3:PutAnalyticsConfiguration",
        "GetBucketIntelligentTieringConfiguration" => "s3:GetIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration" | "DeleteBucketIntelligentTieringConfiguration" => {
            "s3:PutIntelligentTieringConfiguration"
        }
        "GetBucketInventoryConfiguration" => "s3:GetInventoryConfiguration",
        "PutBucketInventoryConfiguration" | "DeleteBucketInventoryConfiguration" => "s3:PutInventoryConfiguration",
        "GetBucketMetricsConfiguration" => "s3:GetMetricsConfiguration",
        "PutBucketMetricsConfiguration" | "DeleteBucketMetricsConfiguration" => "s3:PutMetricsConfiguration",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "s3:PutObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "GetObject" | "HeadObject" => versioned("s3:GetObject", "s3:GetObjectVersion"),
        "DeleteObject" => versioned("s3:DeleteObject", "s3:DeleteObjectVersion"),
        "DeleteObjects" => "s3:DeleteObject",
        "GetObjectAttributes" => versioned("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        "GetObjectTagging" => versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        "PutObjectTagging" => versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        "DeleteObjectTagging" => versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        "GetObjectAcl" => versioned("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        "PutObjectAcl" => versioned("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        "GetObjectRetention" => "s3:GetObjectRetention",
        "PutObjectRetention" => "s3:PutObjectRetention",
        "GetObjectLegalHold" => "s3:GetObjectLegalHold",
        "PutObjectLegalHold" => "s3:PutObjectLegalHold",
        "RestoreObject" => "s3:RestoreObject",
        _ => return None,
    })
}

/// Whether a request's query names a version (`versionId=`, even empty: S3 then answers
/// InvalidArgument from the handler, after this step).
fn names_version(query: Option<&str>) -> bool {
    query.unwrap_or("").split('&').any(|pair| pair == "versionId" || pair.starts_with("versionId="))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation Cairn implements, with the IAM action AWS's "Required permissions for
    /// Amazon S3 API operations" lists for it (and for its versioned form where that differs).
    const EXPECTED: &[(&str, &str, &str)] = &[
        ("ListBuckets", "s3:ListAllMyBuckets", "s3:ListAllMyBuckets"),
        ("CreateBucket", "s3:CreateBucket", "s3:CreateBucket"),
        ("HeadBucket", "s3:ListBucket", "s3:ListBucket"),
        ("DeleteBucket", "s3:DeleteBucket", "s3:DeleteBucket"),
        ("GetBucketLocation", "s3:GetBucketLocation", "s3:GetBucketLocation"),
        ("GetBucketVersioning", "s3:GetBucketVersioning", "s3:GetBucketVersioning"),
        ("PutBucketVersioning", "s3:PutBucketVersioning", "s3:PutBucketVersioning"),
        ("PutObject", "s3:PutObject", "s3:PutObject"),
        ("GetObject", "s3:GetObject", "s3:GetObjectVersion"),
        ("HeadObject", "s3:GetObject", "s3:GetObjectVersion"),
        ("DeleteObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
        ("ListObjectsV2", "s3:ListBucket", "s3:ListBucket"),
        ("CopyObject", "s3:PutObject", "s3:PutObject"),
        ("PutBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
        ("GetBucketTagging", "s3:GetBucketTagging", "s3:GetBucketTagging"),
        ("DeleteBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
        ("GetObjectAttributes", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        ("PutObjectTagging", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        ("GetObjectTagging", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        ("DeleteObjectTagging", "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        ("UploadPartCopy", "s3:PutObject", "s3:PutObject"),
        ("ListObjects", "s3:ListBucket", "s3:ListBucket"),
        ("ListObjectVersions", "s3:ListBucketVersions", "s3:ListBucketVersions"),
        ("DeleteObjects", "s3:DeleteObject", "s3:DeleteObject"),
        ("CreateMultipartUpload", "s3:PutObject", "s3:PutObject"),
        ("UploadPart", "s3:PutObject", "s3:PutObject"),
        ("CompleteMultipartUpload", "s3:PutObject", "s3:PutObject"),
        ("AbortMultipartUpload", "s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
        ("ListParts", "s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts"),
        ("ListMultipartUploads", "s3:ListBucketMultipartUploads", "s3:ListBucketMultipartUploads"),
        ("GetBucketPolicy", "s3:GetBucketPolicy", "s3:GetBucketPolicy"),
        ("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
        ("GetBucketCors", "s3:GetBucketCORS", "s3:GetBucketCORS"),
        ("GetBucketWebsite", "s3:GetBucketWebsite", "s3:GetBucketWebsite"),
        ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
        ("GetBucketReplication", "s3:GetReplicationConfiguration", "s3:GetReplicationConfiguration"),
        ("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
        ("DeleteBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
        ("DeleteBucketCors", "s3:PutBucketCORS", "s3:PutBucketCORS"),
        ("DeleteBucketWebsite", "s3:DeleteBucketWebsite", "s3:DeleteBucketWebsite"),
        ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("DeleteBucketReplication", "s3:PutReplicationConfiguration", "s3:PutReplicationConfiguration"),
        ("GetBucketAnalyticsConfiguration", "s3:GetAnalyticsConfiguration", "s3:GetAnalyticsConfiguration"),
        (
            "GetBucketIntelligentTieringConfiguration",
            "s3:GetIntelligentTieringConfiguration",
            "s3:GetIntelligentTieringConfiguration",
        ),
        ("GetBucketInventoryConfiguration", "s3:GetInventoryConfiguration", "s3:GetInventoryConfiguration"),
        ("GetBucketMetricsConfiguration", "s3:GetMetricsConfiguration", "s3:GetMetricsConfiguration"),
        ("DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
        (
            "DeleteBucketIntelligentTieringConfiguration",
            "s3:PutIntelligentTieringConfiguration",
            "s3:PutIntelligentTieringConfiguration",
        ),
        ("DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration", "s3:PutInventoryConfiguration"),
        ("DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration", "s3:PutMetricsConfiguration"),
        ("GetObjectRetention", "s3:GetObjectRetention", "s3:GetObjectRetention"),
        ("GetObjectLegalHold", "s3:GetObjectLegalHold", "s3:GetObjectLegalHold"),
    ];

    #[test]
    fn every_implemented_operation_maps_to_its_iam_action() {
        for operation in crate::s3::OPERATIONS {
            let Some(&(_, plain, versioned)) = EXPECTED.iter().find(|(name, ..)| name == operation) else {
                panic!("{operation} is implemented but has no expected IAM action in this test");
            };
            assert_eq!(action(operation, None), Some(plain), "{operation}");
            assert_eq!(action(operation, Some("versionId=1")), Some(versioned), "{operation} with a version id");
        }
        // And the table holds nothing Cairn does not implement, so it cannot drift from the list.
        for (name, ..) in EXPECTED {
            assert!(crate::s3::OPERATIONS.contains(name), "{name} is expected but not implemented");
        }
    }

    #[test]
    fn operations_without_a_mapping_are_none() {
        assert_eq!(action("SelectObjectContent", None), None);
        assert_eq!(action("NoSuchOperation", Some("versionId=1")), None);
    }

    #[test]
    fn resources_format_as_arns() {
        assert_eq!(Resource::Account.to_string(), "*");
        assert_eq!(Resource::Bucket("b").to_string(), "arn:aws:s3:::b");
        assert_eq!(Resource::Object { bucket: "b", key: "a/c d" }.to_string(), "arn:aws:s3:::b/a/c d");
        assert_eq!(Resource::Object { bucket: "b", key: "k" }.bucket(), Some("b"));
        assert_eq!(Resource::Account.bucket(), None);
    }

    #[test]
    fn version_ids_are_seen_in_the_query() {
        assert!(names_version(Some("versionId=abc")));
        assert!(names_version(Some("tagging&versionId=abc")));
        assert!(names_version(Some("versionId=")));
        assert!(names_version(Some("versionId")));
        assert!(!names_version(Some("versionIdx=1")));
        assert!(!names_version(Some("version-id-marker=1&versions")));
        assert!(!names_version(None));
    }
}
