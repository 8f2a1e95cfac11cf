//! The S3 operations, each mapped onto the engine's public API. Operations not implemented here
//! keep `s3s`'s default: `NotImplemented`.
//!
//! The engine is synchronous and an acknowledged write waits for an fdatasync, so engine calls
//! run on tokio's blocking pool; body bytes move between the two a chunk at a time.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use cairn_engine::{
    ByteRange, Engine, ListItem, ListQuery, ObjectAttributes, ObjectInfo, SystemMetadata, VersionId, VersioningState,
};
use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::account::Accounts;
use crate::authorization::{Authorization, Authorizer, Facts, Resource};
use crate::checksum::{self, BodyChecksums, Fields};
use crate::error::to_s3;
use crate::guard::LengthUnknown;
use crate::notify::EventName;
use crate::writes;

/// The object attributes of a request that carries S3's standard object headers.
macro_rules! request_attributes {
    ($input:ident, $tagging:expr) => {
        Attributes {
            content_type: $input.content_type,
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            metadata: $input.metadata,
            tagging: $tagging,
            website_redirect_location: $input.website_redirect_location,
        }
    };
}

/// An s3s struct literal with S3's five `checksum_*` fields filled from a `checksum::Fields`.
macro_rules! with_checksums {
    ($sums:ident => $($ty:ident)::+ { $($field:ident $(: $value:expr)?,)* $(..$rest:expr)? }) => {
        $($ty)::+ {
            $($field $(: $value)?,)*
            checksum_crc32: $sums.crc32,
            checksum_crc32c: $sums.crc32c,
            checksum_sha1: $sums.sha1,
            checksum_sha256: $sums.sha256,
            checksum_crc64nvme: $sums.crc64nvme,
            $(..$rest)?
        }
    };
}

/// `impl S3 for Cairn` for the operations listed, each method handing its request to the
/// inherent method of the same name in its concern's module; and `OPERATIONS`, their names.
macro_rules! operations {
    ($($name:ident => $method:ident($input:ident) -> $output:ident,)*) => {
        #[async_trait::async_trait]
        impl S3 for Cairn {
            $(
                async fn $method(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    Cairn::$method(self, req).await
                }
            )*
        }

        /// Every operation Cairn implements, by its S3 name; s3s answers the rest NotImplemented.
        pub const OPERATIONS: &[&str] = &[$(stringify!($name)),*];
    };
}

mod acl;
mod bucket;
mod configuration;
pub(crate) mod control;
mod cors;
mod encryption;
mod lifecycle;
mod listing;
mod lock;
mod logging;
mod multipart;
mod notification;
mod object;
mod policy;
mod replication;
mod tagging;
mod website;

use listing::{decode_token, listed_name, url_encoding};
pub(crate) use logging::Undelivered;
pub(crate) use multipart::copy_source_range;
pub(crate) use tagging::parse_tagging;

/// The region where S3 answers an owner's CreateBucket of an existing bucket with 200.
const LEGACY_REGION: &str = "us-east-1";

/// The most buckets a ListBuckets page holds (S3's `max-buckets` range is 1 to 10,000; without
/// it, every bucket up to this many).
pub const BUCKETS_PAGE_MAX: usize = 10_000;

/// Bodies up to this size (one engine chunk) are read on the request's own thread; larger ones
/// chunk by chunk on the blocking pool, so a long read never holds an async worker.
pub const INLINE_READ_BYTES_MAX: u64 = cairn_engine::limits::CHUNK_BYTES_MAX as u64;

/// Cairn's S3 implementation.
#[derive(Clone, Debug)]
pub struct Cairn {
    engine: Engine,
    region: String,
    accounts: Arc<Accounts>,
    authorizer: Arc<Authorizer>,
    /// SSE-C is taken over plain HTTP (`--allow-insecure-sse-c`).
    insecure_sse_c: bool,
    /// Buckets without an encryption configuration do not encrypt (`--default-encryption none`).
    unencrypted_default: bool,
    /// Checks the MFA codes MFA delete asks for.
    mfa: Arc<crate::mfa::Verifier>,
    /// The length of a lifecycle day.
    days: crate::lifecycle::Days,
    /// The last bucket's lifecycle rules parsed, for `x-amz-expiration`.
    lifecycles: Arc<lifecycle::Parsed>,
    /// Which buckets log their requests, and where.
    access_log: Arc<crate::logging::AccessLog>,
    /// Which buckets publish events, and the destinations they may name.
    notifications: Arc<crate::notify::Notifications>,
    /// Which buckets replicate, by which rules.
    replication: Arc<crate::replication::Replication>,
}

/// The parts of a request a second authorization decision reads (a copy's source, a body's tags).
#[derive(Clone, Copy)]
struct Origin<'a> {
    credentials: Option<&'a s3s::auth::Credentials>,
    headers: &'a http::HeaderMap,
    uri: &'a http::Uri,
}

/// The `x-amz-object-lock-*` headers of a write's input, as `lock::LockHeaders`.
macro_rules! lock_headers {
    ($input:expr) => {
        lock::LockHeaders {
            mode: $input.object_lock_mode.as_ref(),
            retain_until: $input.object_lock_retain_until_date.as_ref(),
            legal_hold: $input.object_lock_legal_hold_status.as_ref(),
        }
    };
}
use lock_headers;

/// The [`Origin`] of a request whose input may already have been moved out.
macro_rules! origin {
    ($req:ident) => {
        Origin { credentials: $req.credentials.as_ref(), headers: &$req.headers, uri: &$req.uri }
    };
}
use origin;

impl Cairn {
    pub fn new(engine: Engine, region: String, accounts: Arc<Accounts>, authorizer: Arc<Authorizer>) -> Cairn {
        let (engine_for_log, accounts_for_log) = (engine.clone(), accounts.clone());
        Cairn {
            engine,
            region,
            accounts,
            authorizer,
            insecure_sse_c: false,
            unencrypted_default: false,
            mfa: Arc::default(),
            days: crate::lifecycle::Days::new(crate::lifecycle::DAY_SECONDS_DEFAULT),
            lifecycles: Arc::default(),
            access_log: Arc::new(crate::logging::AccessLog::load(engine_for_log.clone(), &accounts_for_log)),
            notifications: Arc::new(crate::notify::Notifications::load(engine_for_log.clone(), &[], &accounts_for_log)),
            replication: Arc::new(crate::replication::Replication::load(engine_for_log, &[])),
        }
    }

    /// The replication of this server's buckets.
    pub fn replication(&self) -> &Arc<crate::replication::Replication> {
        &self.replication
    }

    /// Delivers event notifications to `targets` (checked already).
    pub fn with_notification_targets(mut self, targets: &[crate::notify::Target]) -> Cairn {
        self.notifications = Arc::new(crate::notify::Notifications::load(self.engine.clone(), targets, &self.accounts));
        self
    }

    /// Replicates to `endpoints` (checked already) as well as to this server's buckets.
    pub fn with_replication_endpoints(mut self, endpoints: &[crate::replication::Endpoint]) -> Cairn {
        self.replication = Arc::new(crate::replication::Replication::load(self.engine.clone(), endpoints));
        self
    }

    /// The event notifications of this server's buckets.
    pub fn notifications(&self) -> &Arc<crate::notify::Notifications> {
        &self.notifications
    }

    /// The access log this server's requests are recorded in.
    pub fn access_log(&self) -> &Arc<crate::logging::AccessLog> {
        &self.access_log
    }

    /// Leaves objects of buckets without an encryption configuration unencrypted, as AWS did
    /// before 2023 (`--default-encryption none`).
    pub fn with_unencrypted_default(mut self, unencrypted: bool) -> Cairn {
        self.unencrypted_default = unencrypted;
        self
    }

    /// Counts lifecycle days of `day_seconds` (shorter ones for tests).
    pub fn with_lifecycle_day(mut self, day_seconds: u64) -> Cairn {
        self.days = crate::lifecycle::Days::new(day_seconds);
        self
    }

    /// Takes SSE-C over plain HTTP, which AWS refuses (local testing).
    pub fn with_insecure_sse_c(mut self, allow: bool) -> Cairn {
        self.insecure_sse_c = allow;
        self
    }

    /// A second decision on one request (see `authorization.rs`): `action` on `resource`, with
    /// the request's condition keys and, where the body sets them, its tags.
    fn authorize(
        &self,
        origin: Origin<'_>,
        action: &'static str,
        resource: Resource<'_>,
        request_tags: Option<&[(String, String)]>,
        expected_owner: Option<&str>,
    ) -> S3Result<()> {
        let principal = self.accounts.principal(origin.credentials)?.map(|account| &**account);
        let request = Authorization { principal, action: Some(action), resource };
        let mut facts = Facts::new(&self.authorizer, principal, resource, origin.headers, origin.uri);
        facts.request_tags = request_tags;
        self.authorizer.decide(&request, &facts, expected_owner)
    }

    /// The owner of a bucket, as listings show it.
    fn bucket_owner(&self, bucket: &str) -> S3Result<Owner> {
        Ok(self.accounts.owner(&self.engine.head_bucket(bucket).map_err(to_s3)?.owner))
    }

    /// Whether the bucket has ever had versioning configured (S3 then reports version ids).
    fn versioned(&self, bucket: &str) -> S3Result<bool> {
        Ok(self.engine.versioning(bucket).map_err(to_s3)? != VersioningState::Unversioned)
    }

    /// Resolves a copy source to its version and checks the copy-source conditions (GET's
    /// conditions, except that every failure is 412).
    fn copy_source(
        &self,
        origin: Origin<'_>,
        source: &CopySource,
        expected_owner: Option<&str>,
        conditions: &Conditions<'_>,
    ) -> S3Result<(String, String, cairn_engine::Version, std::sync::Arc<ObjectInfo>)> {
        let CopySource::Bucket { bucket, key, version_id } = source else {
            return Err(s3_error!(NotImplemented, "access point copy sources are not supported"));
        };
        // The destination bucket was checked with the request; the source is read here.
        let action = if version_id.is_some() { "s3:GetObjectVersion" } else { "s3:GetObject" };
        self.authorize(origin, action, Resource::Object { bucket, key }, None, expected_owner)?;
        let (found, info) = self.read_version(bucket, key, version_id.as_deref(), conditions).map_err(|error| {
            if *error.code() == s3s::S3ErrorCode::NotModified { s3_error!(PreconditionFailed) } else { error }
        })?;
        Ok((bucket.to_string(), key.to_string(), found, info))
    }

    /// The version a read names (or the current one), once its conditions hold.
    fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        conditions: &Conditions<'_>,
    ) -> S3Result<(cairn_engine::Version, std::sync::Arc<ObjectInfo>)> {
        let version = version_param(version_id)?;
        let (found, info) = self.engine.head_object(bucket, key, version).map_err(to_s3)?;
        check_conditions(&info, conditions)?;
        Ok((found, info))
    }

    /// `error` for a configuration the bucket does not have, once the bucket is known to exist.
    fn absent(&self, bucket: &str, error: s3s::S3Error) -> s3s::S3Error {
        match self.engine.head_bucket(bucket) {
            Ok(_) => error,
            Err(missing) => to_s3(missing),
        }
    }

    /// Runs a call that returns S3 errors on the blocking pool.
    async fn blocking_s3<T: Send + 'static>(
        &self,
        call: impl FnOnce(Engine) -> S3Result<T> + Send + 'static,
    ) -> S3Result<T> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || call(engine))
            .await
            .map_err(|join| s3_error!(InternalError, "engine task failed: {join}"))?
    }

    /// Runs an engine call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(Engine) -> cairn_engine::Result<T> + Send + 'static,
    ) -> S3Result<T> {
        self.blocking_s3(move |engine| call(engine).map_err(to_s3)).await
    }

    /// Deletes a bucket's configuration `name` (policy, CORS, website): S3's 204 whether or not
    /// there was one, and no record written when there was none.
    async fn delete_config(&self, bucket: String, name: &'static str) -> S3Result<()> {
        if self.engine.get_bucket_config(&bucket, name).map_err(to_s3)?.is_some() {
            self.blocking(move |engine| engine.delete_bucket_config(&bucket, name)).await?;
        }
        Ok(())
    }
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// The ETag value without its quotes, as s3s wants it.
fn etag(info: &ObjectInfo) -> ETag {
    ETag::Strong(info.etag_value())
}

fn version_param(version: Option<&str>) -> S3Result<Option<VersionId>> {
    match version {
        None => Ok(None),
        Some(text) => {
            VersionId::parse(text).map(Some).ok_or_else(|| s3_error!(InvalidArgument, "Invalid version id specified"))
        }
    }
}

fn version_header(id: VersionId, versioning_seen: bool) -> Option<String> {
    // S3 returns x-amz-version-id only for buckets that have had versioning configured.
    versioning_seen.then(|| id.to_string())
}

fn http_date(timestamp: &Timestamp) -> S3Result<String> {
    let mut out = Vec::new();
    timestamp.format(TimestampFormat::HttpDate, &mut out).map_err(|_| s3_error!(InvalidArgument, "bad date"))?;
    String::from_utf8(out).map_err(|_| s3_error!(InvalidArgument, "bad date"))
}

fn parse_http_date(text: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, text).ok()
}

// The S3 trait's methods for every implemented operation, each handed to its concern's module,
// and the names of those operations (`OPERATIONS`), so a test can hold every one to its IAM action.
operations! {
    ListBuckets => list_buckets(ListBucketsInput) -> ListBucketsOutput,
    CreateBucket => create_bucket(CreateBucketInput) -> CreateBucketOutput,
    HeadBucket => head_bucket(HeadBucketInput) -> HeadBucketOutput,
    DeleteBucket => delete_bucket(DeleteBucketInput) -> DeleteBucketOutput,
    GetBucketLocation => get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput,
    GetBucketVersioning => get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput,
    PutBucketVersioning => put_bucket_versioning(PutBucketVersioningInput) -> PutBucketVersioningOutput,
    PutObject => put_object(PutObjectInput) -> PutObjectOutput,
    GetObject => get_object(GetObjectInput) -> GetObjectOutput,
    HeadObject => head_object(HeadObjectInput) -> HeadObjectOutput,
    DeleteObject => delete_object(DeleteObjectInput) -> DeleteObjectOutput,
    ListObjectsV2 => list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output,
    CopyObject => copy_object(CopyObjectInput) -> CopyObjectOutput,
    PutBucketTagging => put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput,
    GetBucketTagging => get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput,
    DeleteBucketTagging => delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput,
    GetObjectAttributes => get_object_attributes(GetObjectAttributesInput) -> GetObjectAttributesOutput,
    PutObjectTagging => put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput,
    GetObjectTagging => get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput,
    DeleteObjectTagging => delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput,
    UploadPartCopy => upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput,
    ListObjects => list_objects(ListObjectsInput) -> ListObjectsOutput,
    ListObjectVersions => list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput,
    DeleteObjects => delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput,
    CreateMultipartUpload => create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput,
    UploadPart => upload_part(UploadPartInput) -> UploadPartOutput,
    CompleteMultipartUpload => complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput,
    AbortMultipartUpload => abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput,
    ListParts => list_parts(ListPartsInput) -> ListPartsOutput,
    ListMultipartUploads => list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput,
    PutBucketPolicy => put_bucket_policy(PutBucketPolicyInput) -> PutBucketPolicyOutput,
    GetBucketPolicy => get_bucket_policy(GetBucketPolicyInput) -> GetBucketPolicyOutput,
    GetBucketPolicyStatus => get_bucket_policy_status(GetBucketPolicyStatusInput) -> GetBucketPolicyStatusOutput,
    PutBucketCors => put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput,
    GetBucketCors => get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput,
    PutBucketWebsite => put_bucket_website(PutBucketWebsiteInput) -> PutBucketWebsiteOutput,
    GetBucketWebsite => get_bucket_website(GetBucketWebsiteInput) -> GetBucketWebsiteOutput,
    GetBucketLifecycleConfiguration => get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) -> GetBucketLifecycleConfigurationOutput,
    GetBucketReplication => get_bucket_replication(GetBucketReplicationInput) -> GetBucketReplicationOutput,
    PutBucketReplication => put_bucket_replication(PutBucketReplicationInput) -> PutBucketReplicationOutput,
    GetObjectLockConfiguration => get_object_lock_configuration(GetObjectLockConfigurationInput) -> GetObjectLockConfigurationOutput,
    DeleteBucketPolicy => delete_bucket_policy(DeleteBucketPolicyInput) -> DeleteBucketPolicyOutput,
    DeleteBucketCors => delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput,
    DeleteBucketWebsite => delete_bucket_website(DeleteBucketWebsiteInput) -> DeleteBucketWebsiteOutput,
    DeleteBucketLifecycle => delete_bucket_lifecycle(DeleteBucketLifecycleInput) -> DeleteBucketLifecycleOutput,
    DeleteBucketReplication => delete_bucket_replication(DeleteBucketReplicationInput) -> DeleteBucketReplicationOutput,
    GetBucketAnalyticsConfiguration => get_bucket_analytics_configuration(GetBucketAnalyticsConfigurationInput) -> GetBucketAnalyticsConfigurationOutput,
    GetBucketIntelligentTieringConfiguration => get_bucket_intelligent_tiering_configuration(GetBucketIntelligentTieringConfigurationInput) -> GetBucketIntelligentTieringConfigurationOutput,
    GetBucketInventoryConfiguration => get_bucket_inventory_configuration(GetBucketInventoryConfigurationInput) -> GetBucketInventoryConfigurationOutput,
    GetBucketMetricsConfiguration => get_bucket_metrics_configuration(GetBucketMetricsConfigurationInput) -> GetBucketMetricsConfigurationOutput,
    DeleteBucketAnalyticsConfiguration => delete_bucket_analytics_configuration(DeleteBucketAnalyticsConfigurationInput) -> DeleteBucketAnalyticsConfigurationOutput,
    DeleteBucketIntelligentTieringConfiguration => delete_bucket_intelligent_tiering_configuration(DeleteBucketIntelligentTieringConfigurationInput) -> DeleteBucketIntelligentTieringConfigurationOutput,
    DeleteBucketInventoryConfiguration => delete_bucket_inventory_configuration(DeleteBucketInventoryConfigurationInput) -> DeleteBucketInventoryConfigurationOutput,
    DeleteBucketMetricsConfiguration => delete_bucket_metrics_configuration(DeleteBucketMetricsConfigurationInput) -> DeleteBucketMetricsConfigurationOutput,
    GetObjectRetention => get_object_retention(GetObjectRetentionInput) -> GetObjectRetentionOutput,
    GetObjectLegalHold => get_object_legal_hold(GetObjectLegalHoldInput) -> GetObjectLegalHoldOutput,
    PutObjectLockConfiguration => put_object_lock_configuration(PutObjectLockConfigurationInput) -> PutObjectLockConfigurationOutput,
    PutObjectRetention => put_object_retention(PutObjectRetentionInput) -> PutObjectRetentionOutput,
    PutObjectLegalHold => put_object_legal_hold(PutObjectLegalHoldInput) -> PutObjectLegalHoldOutput,
    PutBucketLifecycleConfiguration => put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) -> PutBucketLifecycleConfigurationOutput,
    GetBucketAcl => get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput,
    PutBucketAcl => put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput,
    GetObjectAcl => get_object_acl(GetObjectAclInput) -> GetObjectAclOutput,
    PutObjectAcl => put_object_acl(PutObjectAclInput) -> PutObjectAclOutput,
    PutBucketOwnershipControls => put_bucket_ownership_controls(PutBucketOwnershipControlsInput) -> PutBucketOwnershipControlsOutput,
    GetBucketOwnershipControls => get_bucket_ownership_controls(GetBucketOwnershipControlsInput) -> GetBucketOwnershipControlsOutput,
    DeleteBucketOwnershipControls => delete_bucket_ownership_controls(DeleteBucketOwnershipControlsInput) -> DeleteBucketOwnershipControlsOutput,
    PutPublicAccessBlock => put_public_access_block(PutPublicAccessBlockInput) -> PutPublicAccessBlockOutput,
    GetPublicAccessBlock => get_public_access_block(GetPublicAccessBlockInput) -> GetPublicAccessBlockOutput,
    DeletePublicAccessBlock => delete_public_access_block(DeletePublicAccessBlockInput) -> DeletePublicAccessBlockOutput,
    PutBucketEncryption => put_bucket_encryption(PutBucketEncryptionInput) -> PutBucketEncryptionOutput,
    GetBucketEncryption => get_bucket_encryption(GetBucketEncryptionInput) -> GetBucketEncryptionOutput,
    DeleteBucketEncryption => delete_bucket_encryption(DeleteBucketEncryptionInput) -> DeleteBucketEncryptionOutput,
    RestoreObject => restore_object(RestoreObjectInput) -> RestoreObjectOutput,
    PutBucketLogging => put_bucket_logging(PutBucketLoggingInput) -> PutBucketLoggingOutput,
    GetBucketLogging => get_bucket_logging(GetBucketLoggingInput) -> GetBucketLoggingOutput,
    PutBucketNotificationConfiguration => put_bucket_notification_configuration(PutBucketNotificationConfigurationInput) -> PutBucketNotificationConfigurationOutput,
    GetBucketNotificationConfiguration => get_bucket_notification_configuration(GetBucketNotificationConfigurationInput) -> GetBucketNotificationConfigurationOutput,
}

/// S3's conditional GET and HEAD: If-Match and If-Unmodified-Since fail with 412, If-None-Match
/// and If-Modified-Since with 304; an ETag condition, when present, decides over its date twin.
/// The four conditional-read headers (or their copy-source twins).
struct Conditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

fn check_conditions(info: &ObjectInfo, conditions: &Conditions<'_>) -> S3Result<()> {
    let Conditions { if_match, if_none_match, if_modified_since, if_unmodified_since } = *conditions;
    let etag_text = info.etag_value();
    let current = etag_text.as_str();
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(ETag::Strong(value) | ETag::Weak(value)) => value.trim_matches('"') == current,
    };
    // HTTP dates have whole seconds.
    let modified = (info.last_modified_ms / 1000) as i64;
    let seconds = |timestamp: &Timestamp| time::OffsetDateTime::from(timestamp.clone()).unix_timestamp();
    match (if_match, if_unmodified_since) {
        (Some(condition), _) if !matches(condition) => return Err(s3_error!(PreconditionFailed)),
        (None, Some(since)) if modified > seconds(since) => return Err(s3_error!(PreconditionFailed)),
        _ => {}
    }
    match (if_none_match, if_modified_since) {
        (Some(condition), _) if matches(condition) => Err(not_modified(info)),
        (None, Some(since)) if modified <= seconds(since) => Err(not_modified(info)),
        _ => Ok(()),
    }
}

/// 304 Not Modified carries the object's ETag and Last-Modified, as S3's does.
fn not_modified(info: &ObjectInfo) -> s3s::S3Error {
    let mut error = s3_error!(NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(etag) = http::HeaderValue::from_str(&info.etag()) {
        headers.insert(http::header::ETAG, etag);
    }
    let modified = http_date(&timestamp(info.last_modified_ms)).ok().and_then(|d| http::HeaderValue::from_str(&d).ok());
    if let Some(modified) = modified {
        headers.insert(http::header::LAST_MODIFIED, modified);
    }
    error.set_headers(headers);
    error
}

/// The MD5 an ETag names (a part's ETag is its MD5 in hex).
pub(crate) fn etag_md5(etag: &ETag) -> Option<[u8; 16]> {
    let text = match etag {
        ETag::Strong(value) | ETag::Weak(value) => value.trim_matches('"'),
    };
    if text.len() != 32 {
        return None;
    }
    let mut md5 = [0u8; 16];
    for (i, byte) in md5.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(md5)
}

/// The object attributes a PUT, CreateMultipartUpload or CopyObject carries.
struct Attributes {
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    metadata: Option<Metadata>,
    tagging: Option<String>,
    website_redirect_location: Option<String>,
}

/// S3: a website redirect location is at most 2 KB.
pub const WEBSITE_REDIRECT_BYTES_MAX: usize = 2 * 1024;

/// `x-amz-website-redirect-location` as S3 takes it: a path from the root (`/...`) or an
/// absolute http(s) URL, at most `WEBSITE_REDIRECT_BYTES_MAX` bytes.
fn website_redirect(location: Option<String>) -> S3Result<Option<String>> {
    let Some(location) = location else { return Ok(None) };
    if location.len() > WEBSITE_REDIRECT_BYTES_MAX {
        return Err(s3_error!(InvalidArgument, "The website redirect location must be at most 2 KB."));
    }
    if !["/", "http://", "https://"].iter().any(|prefix| location.starts_with(prefix)) {
        let mut error = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("InvalidRedirectLocation".into()),
            "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.",
        );
        error.set_status_code(http::StatusCode::BAD_REQUEST);
        return Err(error);
    }
    Ok(Some(location))
}

impl Attributes {
    fn into_engine(self) -> S3Result<ObjectAttributes> {
        let mut user: Vec<(String, String)> = self.metadata.map(|m| m.into_iter().collect()).unwrap_or_default();
        user.sort();
        Ok(ObjectAttributes {
            system: SystemMetadata {
                content_type: self.content_type,
                content_encoding: self.content_encoding,
                content_disposition: self.content_disposition,
                content_language: self.content_language,
                cache_control: self.cache_control,
                expires: self.expires.as_ref().map(http_date).transpose()?,
                website_redirect_location: website_redirect(self.website_redirect_location)?,
            },
            user,
            tags: parse_tagging(self.tagging.as_deref())?,
            ..ObjectAttributes::default()
        })
    }
}

/// An engine writer a request body streams into.
trait BodyWriter {
    fn write(&mut self, data: &[u8]) -> cairn_engine::Result<()>;
    fn write_may_wait(&self, len: usize) -> bool;
}

impl BodyWriter for cairn_engine::ObjectWriter {
    fn write(&mut self, data: &[u8]) -> cairn_engine::Result<()> {
        cairn_engine::ObjectWriter::write(self, data)
    }

    fn write_may_wait(&self, len: usize) -> bool {
        cairn_engine::ObjectWriter::write_may_wait(self, len)
    }
}

impl BodyWriter for cairn_engine::PartWriter {
    fn write(&mut self, data: &[u8]) -> cairn_engine::Result<()> {
        cairn_engine::PartWriter::write(self, data)
    }

    fn write_may_wait(&self, len: usize) -> bool {
        cairn_engine::PartWriter::write_may_wait(self, len)
    }
}

/// Streams a request body into an engine writer and its checksums, a piece at a time, and checks
/// it against Content-Length. Most pieces are only hashed and buffered, on this thread; a piece
/// that completes a chunk may wait for the log writer, and is written with `block_in_place`.
async fn receive_body(
    body: Option<StreamingBlob>,
    content_length: Option<i64>,
    writer: &mut impl BodyWriter,
    sums: &mut BodyChecksums,
) -> S3Result<u64> {
    let mut received = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = chunk.map_err(body_error)?;
            received += chunk.len() as u64;
            let may_wait = writer.write_may_wait(chunk.len());
            let mut write = || {
                sums.update(&chunk);
                writer.write(&chunk)
            };
            let written = if may_wait { tokio::task::block_in_place(write) } else { write() };
            written.map_err(to_s3)?;
        }
    }
    if content_length.is_some_and(|expected| expected >= 0 && expected as u64 != received) {
        return Err(s3_error!(IncompleteBody, "the body does not match Content-Length"));
    }
    Ok(received)
}

/// The reader's next chunk: read here when `inline`, else on the blocking pool. The reader comes
/// back unless it failed to.
async fn next_chunk(
    mut reader: cairn_engine::ObjectReader,
    inline: bool,
) -> (Option<cairn_engine::ObjectReader>, Option<cairn_engine::Result<Bytes>>) {
    if inline {
        // One chunk at most, most likely in the page cache: read here rather than pay a hand-off
        // to the blocking pool and back.
        let item = reader.next();
        return (Some(reader), item);
    }
    match tokio::task::spawn_blocking(move || {
        let item = reader.next();
        (reader, item)
    })
    .await
    {
        Ok((reader, item)) => (Some(reader), item),
        Err(join) => (None, Some(Err(cairn_engine::Error::Io(std::io::Error::other(join.to_string()))))),
    }
}

/// The S3 error for a body that failed while streaming. s3s's aws-chunked decoder reports a chunk
/// signature that does not verify, a malformed chunk, or an early end; its error type is private,
/// so it is told apart by its message.
fn body_error(error: s3s::StdError) -> s3s::S3Error {
    let text = error.to_string();
    if text.contains("Sha256Mismatch") {
        let mut error = s3s::S3Error::new(s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()));
        error.set_message("The provided 'x-amz-content-sha256' header does not match what was computed.");
        error.set_status_code(http::StatusCode::BAD_REQUEST);
        error
    } else if text.contains("SignatureMismatch") {
        s3_error!(SignatureDoesNotMatch, "a chunk signature of the body does not match")
    } else if text.contains("AwsChunkedStreamError") && !text.contains("Incomplete") && !text.contains("Underlying") {
        s3_error!(InvalidRequest, "the aws-chunked body is malformed: {text}")
    } else {
        s3_error!(IncompleteBody, "the body ended early: {text}")
    }
}

/// The bucket configuration record that holds a bucket's tags, encoded as `x-amz-tagging` is.
const BUCKET_TAGGING: &str = "tagging";

/// Encodes tags as `x-amz-tagging` does: `key=value&...`, percent-encoded.
/// Bytes S3 leaves unescaped in URL encoding: letters, digits and `-_.~`.
const URL_ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `encoding-type=url` in listings escapes keys and prefixes like a URL path: `/` stays.
pub(crate) const URL_PATH_ESCAPED: &percent_encoding::AsciiSet = &URL_ESCAPED.remove(b'/');

fn percent_decode(text: &str) -> S3Result<String> {
    let plus_as_space = text.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&plus_as_space).decode_utf8();
    let decoded = decoded.map_err(|_| s3_error!(InvalidTag, "the tag set is not valid URL encoding"))?;
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::listing::decode_token;
    use super::tagging::encode_tagging;
    use super::*;

    #[test]
    fn tagging_headers_decode() {
        assert_eq!(
            parse_tagging(Some("a=1&b%20c=d%2Fe&empty=")).unwrap(),
            [("a".into(), "1".into()), ("b c".into(), "d/e".into()), ("empty".into(), String::new())]
        );
        assert!(parse_tagging(Some("a=%FF")).is_err(), "not UTF-8");
    }

    #[test]
    fn tags_survive_encoding() {
        let tags = vec![("a b".to_owned(), "c&d=e".to_owned()), ("é".to_owned(), String::new())];
        assert_eq!(parse_tagging(Some(&encode_tagging(&tags))).unwrap(), tags);
    }

    #[test]
    fn streaming_body_failures_map_to_s3_errors() {
        // s3s 0.14's messages for its (private) aws-chunked error type.
        let code = |text: &str| body_error(text.into()).code().as_str().to_owned();
        assert_eq!(code("AwsChunkedStreamError: SignatureMismatch"), "SignatureDoesNotMatch");
        assert_eq!(code("AwsChunkedStreamError: FormatError"), "InvalidRequest");
        assert_eq!(code("AwsChunkedStreamError: Incomplete"), "IncompleteBody");
        assert_eq!(code("AwsChunkedStreamError: Underlying: connection reset"), "IncompleteBody");
        assert_eq!(code("connection reset"), "IncompleteBody");
        assert_eq!(code("UploadStreamError: Sha256Mismatch"), "XAmzContentSHA256Mismatch");
    }

    #[test]
    fn continuation_tokens_round_trip() {
        let key = "dir/é";
        assert_eq!(decode_token(&cairn_engine::hex(key.as_bytes())).unwrap(), key);
        assert!(decode_token("zz").is_err());
    }
}
