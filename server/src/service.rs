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

use crate::account::{Access, Accounts};
use crate::checksum::{self, BodyChecksums, Fields};
use crate::error::to_s3;
use crate::guard::LengthUnknown;
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
}

impl Cairn {
    pub fn new(engine: Engine, region: String, accounts: Arc<Accounts>) -> Cairn {
        Cairn { engine, region, accounts }
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
        credentials: Option<&s3s::auth::Credentials>,
        source: &CopySource,
        expected_owner: Option<&str>,
        conditions: &Conditions<'_>,
    ) -> S3Result<(String, String, cairn_engine::Version, std::sync::Arc<ObjectInfo>)> {
        let CopySource::Bucket { bucket, key, version_id } = source else {
            return Err(s3_error!(NotImplemented, "access point copy sources are not supported"));
        };
        // The destination bucket was checked with the request; the source is read here.
        let account = self.accounts.requester(credentials)?;
        Access::check_bucket(&self.engine, &self.accounts, account, bucket, expected_owner)?;
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

    /// The 204 of deleting a configuration the bucket does not have, once the bucket is known to
    /// exist.
    fn nothing_to_delete<T: Default>(&self, bucket: &str) -> S3Result<S3Response<T>> {
        self.engine.head_bucket(bucket).map_err(to_s3)?;
        Ok(S3Response::new(T::default()))
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

#[async_trait::async_trait]
impl S3 for Cairn {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let account = self.accounts.requester(req.credentials.as_ref())?;
        let input = req.input;
        let max_buckets = match input.max_buckets {
            None => BUCKETS_PAGE_MAX,
            Some(n) if (1..=BUCKETS_PAGE_MAX as i32).contains(&n) => n as usize,
            Some(_) => return Err(s3_error!(InvalidArgument, "max-buckets must be an integer from 1 to 10000")),
        };
        // The continuation token is the hex of the last name returned.
        let after = input.continuation_token.as_deref().map(decode_token).transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut listed = self.engine.list_buckets().into_iter().filter(|b| {
            self.accounts.owns(account, &b.owner)
                && b.name.starts_with(&prefix)
                && after.as_ref().is_none_or(|after| b.name.as_str() > after.as_str())
                && input.bucket_region.as_ref().is_none_or(|region| &b.region == region)
        });
        let buckets: Vec<Bucket> = listed
            .by_ref()
            .take(max_buckets)
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created_ms)),
                bucket_region: Some(b.region),
            })
            .collect();
        let more = listed.next().is_some();
        let continuation_token = more
            .then(|| buckets.last().and_then(|b| b.name.as_deref()).map(|n| cairn_engine::hex(n.as_bytes())))
            .flatten();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(account.owner()),
            continuation_token,
            prefix: input.prefix,
        }))
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket.clone();
        let region = req
            .input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|l| l.as_str().to_owned())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned());
        if region != self.region {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "this endpoint is in {}; the bucket asked for {region}",
                self.region
            ));
        }
        let account = self.accounts.requester(req.credentials.as_ref())?;
        let owner = self.accounts.stored_id(account);
        let create = name.clone();
        let created = self.blocking(move |engine| engine.create_bucket_owned(&create, &region, &owner)).await;
        if let Err(error) = created {
            if *error.code() == s3s::S3ErrorCode::BucketAlreadyOwnedByYou {
                // Bucket names are global: someone else's bucket is BucketAlreadyExists.
                let existing = self.engine.head_bucket(&name).map_err(to_s3)?;
                if !self.accounts.owns(account, &existing.owner) {
                    return Err(s3_error!(BucketAlreadyExists));
                }
                // us-east-1 answers its owner's re-creation with 200 and changes nothing (AWS's
                // legacy behavior there); every other region says BucketAlreadyOwnedByYou.
                if existing.region == LEGACY_REGION {
                    return Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) }));
                }
            }
            return Err(error);
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let info = self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(info.region),
            // Not an access point: S3 says so on every HeadBucket.
            access_point_alias: Some(false),
            ..Default::default()
        }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket(&bucket)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let info = self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        // S3 answers an empty constraint for us-east-1.
        let location_constraint = (info.region != "us-east-1").then(|| BucketLocationConstraint::from(info.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let status = match self.engine.versioning(&req.input.bucket).map_err(to_s3)? {
            VersioningState::Unversioned => None,
            VersioningState::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            VersioningState::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        // MFA delete is a later issue: turning it on is refused rather than stored unenforced;
        // Disabled is what every bucket has.
        if req.input.versioning_configuration.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
            return Err(s3_error!(NotImplemented, "MFA delete is not implemented yet"));
        }
        let state = match req.input.versioning_configuration.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => VersioningState::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => VersioningState::Suspended,
            _ => return Err(s3_error!(MalformedXML, "Status must be Enabled or Suspended")),
        };
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.set_versioning(&bucket, state)).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request { mut input, headers, trailing_headers, extensions, .. } = req;
        writes::refuse_unbuilt_write_options(&headers)?;
        input.content_encoding = writes::stored_content_encoding(input.content_encoding);
        let attributes = request_attributes!(input, input.tagging).into_engine()?;
        let condition = writes::write_condition(
            &self.engine,
            &input.bucket,
            &input.key,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let claim = checksum::claim(&headers)?;
        let store = claim.as_ref().map_or(checksum::DEFAULT_ALGORITHM, |c| c.algorithm);
        let mut sums = BodyChecksums::new(claim, store);
        let mut writer = self.engine.put_object(&input.bucket, &input.key, attributes).map_err(to_s3)?;
        writer.set_condition(condition.condition);
        let content_length = input.content_length.filter(|_| extensions.get::<LengthUnknown>().is_none());
        receive_body(input.body, content_length, &mut writer, &mut sums).await?;
        if let Some(content_md5) = writes::content_md5(input.content_md5.as_deref(), &headers) {
            writes::check_content_md5(content_md5, &writer.md5())?;
        }
        let (stored, _) = sums.finish(trailing_headers.and_then(|t| t.take()).as_ref())?;
        let fields = Fields::of(Some(&stored), None);
        writer.set_checksum(stored);
        let bucket = input.bucket.clone();
        let outcome = writer.finish_async().await.map_err(|error| condition.refusal(error))?;
        let versioned = self.versioned(&bucket)?;
        Ok(S3Response::new(with_checksums!(fields => PutObjectOutput {
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            version_id: version_header(outcome.version, versioned),
            checksum_type: fields.kind,
            ..Default::default()
        })))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        // Resolve the version once: the conditions, a part number and the body all refer to it.
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (found, info) = self.read_version(&input.bucket, &input.key, input.version_id.as_deref(), &conditions)?;
        let range = match (input.range, input.part_number) {
            (Some(_), Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter"
                ));
            }
            (None, Some(number)) => part_range(&info, number)?,
            (None, None) => None,
            (Some(Range::Int { first, last }), None) => Some(ByteRange::From { first, last }),
            (Some(Range::Suffix { length }), None) => Some(ByteRange::Suffix(length)),
        };
        let sums = read_checksum(&info, input.checksum_mode.as_ref(), input.range.is_some(), input.part_number);
        let reader = self.engine.read_version(found, info, range).map_err(to_s3)?;
        let info = reader.info().clone();
        let version_id = reader.version().id;
        let (start, end) = reader.range();
        let content_range = range.map(|_| format!("bytes {}-{}/{}", start, end.saturating_sub(1), info.size));
        let versioned = self.versioned(&input.bucket)?;
        let inline = reader.len() <= INLINE_READ_BYTES_MAX;
        // The first chunk is read before the answer starts, so a read that fails at once is an
        // S3 error, not a cut connection; a later failure can only cut the body short (as S3's
        // would): wrong bytes are never sent.
        let (mut reader, first) = next_chunk(reader, inline).await;
        let first = match first {
            Some(Err(error)) => return Err(to_s3(error)),
            other => other,
        };
        let stream = futures::stream::unfold((reader.take(), first), move |(reader, ready)| async move {
            if let Some(item) = ready {
                return Some((item, (reader, None)));
            }
            let (reader, item) = next_chunk(reader?, inline).await;
            item.map(|item| (item, (reader, None)))
        });
        let system = &info.attributes.system;
        let output = with_checksums!(sums => GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some((end - start) as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            content_type: input.response_content_type.or_else(|| system.content_type.clone()),
            content_encoding: input.response_content_encoding.or_else(|| system.content_encoding.clone()),
            content_disposition: input.response_content_disposition.or_else(|| system.content_disposition.clone()),
            content_language: input.response_content_language.or_else(|| system.content_language.clone()),
            cache_control: input.response_cache_control.or_else(|| system.cache_control.clone()),
            expires: input.response_expires.or_else(|| system.expires.as_deref().and_then(parse_http_date)),
            metadata: user_metadata(&info),
            // S3 gives the parts count only to a partNumber read of a multipart object.
            parts_count: info.parts_count().filter(|_| input.part_number.is_some()).map(|n| n as i32),
            tag_count: (!info.attributes.tags.is_empty()).then_some(info.attributes.tags.len() as i32),
            version_id: version_header(version_id, versioned),
            checksum_type: sums.kind,
            ..Default::default()
        });
        Ok(S3Response::new(output))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (found, info) = self.read_version(&input.bucket, &input.key, input.version_id.as_deref(), &conditions)?;
        let part = input.part_number.map(|number| part_range(&info, number)).transpose()?.flatten();
        let sums = read_checksum(&info, input.checksum_mode.as_ref(), false, input.part_number);
        let versioned = self.versioned(&input.bucket)?;
        let system = &info.attributes.system;
        let (content_length, content_range) = match part {
            Some(ByteRange::From { first, last: Some(last) }) => {
                (last + 1 - first, Some(format!("bytes {first}-{last}/{}", info.size)))
            }
            _ => (info.size, None),
        };
        let mut response = S3Response::new(with_checksums!(sums => HeadObjectOutput {
            content_length: Some(content_length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            content_type: system.content_type.clone(),
            content_encoding: system.content_encoding.clone(),
            content_disposition: system.content_disposition.clone(),
            content_language: system.content_language.clone(),
            cache_control: system.cache_control.clone(),
            expires: system.expires.as_deref().and_then(parse_http_date),
            metadata: user_metadata(&info),
            parts_count: info.parts_count().filter(|_| input.part_number.is_some()).map(|n| n as i32),
            version_id: version_header(found.id, versioned),
            checksum_type: sums.kind,
            ..Default::default()
        }));
        // GET's x-amz-tagging-count is in s3s's output; HEAD's is not, though S3 sends it.
        if !info.attributes.tags.is_empty() {
            response.headers.insert("x-amz-tagging-count", http::HeaderValue::from(info.attributes.tags.len()));
        }
        Ok(response)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (bucket, key) = (input.bucket, input.key);
        let outcome = self.blocking(move |engine| engine.delete_object(&bucket, &key, version)).await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: outcome.delete_marker.then_some(true),
            version_id: outcome.version.filter(|_| outcome.delete_marker || version.is_some()).map(|v| v.to_string()),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let mut input = req.input;
        // An empty delimiter is none, and is not echoed.
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let start_after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after,
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_objects(&input.bucket, &query).map_err(to_s3)?;
        let owner = if input.fetch_owner.unwrap_or(false) { Some(self.bucket_owner(&input.bucket)?) } else { None };
        let url = url_encoding(input.encoding_type.as_ref())?;
        let (contents, common_prefixes, last) = self.listing(&page, owner.as_ref(), url);
        let key_count = (contents.len() + common_prefixes.len()) as i32;
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.is_truncated.then(|| last.map(|l| cairn_engine::hex(l.as_bytes()))).flatten(),
            start_after: encode(input.start_after),
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        writes::refuse_unbuilt_write_options(&req.headers)?;
        let input = req.input;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (source_bucket, source_key, found, info) = self.copy_source(
            req.credentials.as_ref(),
            &input.copy_source,
            input.expected_source_bucket_owner.as_deref(),
            &conditions,
        )?;
        if info.size > cairn_engine::limits::PUT_BYTES_MAX {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {}",
                cairn_engine::limits::PUT_BYTES_MAX
            ));
        }
        let replace_metadata =
            input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let replace_tags = input.tagging_directive.as_ref().is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let onto_itself = source_bucket == input.bucket && source_key == input.key;
        if onto_itself && !replace_metadata && !replace_tags {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut attributes = if replace_metadata {
            request_attributes!(input, None).into_engine()?
        } else {
            ObjectAttributes { tags: Vec::new(), ..info.attributes.clone() }
        };
        attributes.tags =
            if replace_tags { parse_tagging(input.tagging.as_deref())? } else { info.attributes.tags.clone() };
        // The copy gets a full-object checksum: of the algorithm asked for, else the source's.
        let algorithm = match &input.checksum_algorithm {
            Some(algorithm) => checksum::from_dto(algorithm)?,
            None => info.checksum.as_ref().map_or(checksum::DEFAULT_ALGORITHM, |c| c.algorithm),
        };
        let (bucket, key, source_id) = (input.bucket.clone(), input.key.clone(), found.id);
        let source_versioned = self.versioned(&source_bucket)?;
        let (outcome, copied) = self
            .blocking(move |engine| {
                // Streamed chunk by chunk, each verified as it is read: a copy never holds the
                // object in memory and never copies damaged bytes.
                let reader = engine.get_object(&source_bucket, &source_key, Some(source_id), None)?;
                let mut writer = engine.put_object(&bucket, &key, attributes)?;
                let mut hasher = checksum::Hasher::new(algorithm);
                for chunk in reader {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    writer.write(&chunk)?;
                }
                writer.set_checksum(checksum::full_object(algorithm, hasher));
                let outcome = writer.finish()?;
                let (_, copied) = engine.head_object(&bucket, &key, Some(outcome.version))?;
                Ok((outcome, copied))
            })
            .await?;
        let versioned = self.versioned(&input.bucket)?;
        let sums = Fields::of(copied.checksum.as_ref(), None);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(with_checksums!(sums => CopyObjectResult {
                e_tag: Some(etag(&copied)),
                last_modified: Some(timestamp(copied.last_modified_ms)),
                checksum_type: sums.kind,
            })),
            copy_source_version_id: source_versioned.then(|| found.id.to_string()),
            version_id: version_header(outcome.version, versioned),
            ..Default::default()
        }))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tag_pairs(input.tagging.tag_set);
        cairn_engine::validate::tag_set(&tags, cairn_engine::limits::BUCKET_TAGS_MAX).map_err(to_s3)?;
        let encoded = encode_tagging(&tags);
        let bucket = input.bucket;
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_TAGGING, encoded.as_bytes())).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_TAGGING).map_err(to_s3)?;
        let stored = stored.ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        let text =
            std::str::from_utf8(&stored).map_err(|_| s3_error!(InternalError, "stored bucket tags are not UTF-8"))?;
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set: tag_set(&parse_tagging(Some(text))?) }))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket_config(&bucket, BUCKET_TAGGING)).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (found, info) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        // The SDKs send the attributes as one comma-separated header; others repeat the header.
        let wants =
            |name: &str| input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).any(|a| a.trim() == name);
        let object_parts = match (&info.layout, wants(s3s::dto::ObjectAttributes::OBJECT_PARTS)) {
            (cairn_engine::Layout::Parts(parts), true) => {
                let marker = input.part_number_marker.unwrap_or(0).max(0);
                let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000);
                let after: Vec<_> = parts.iter().filter(|p| p.number as i32 > marker).collect();
                let page: Vec<ObjectPart> = after
                    .iter()
                    .take(max_parts as usize)
                    .map(|p| {
                        let sums = Fields::of(p.checksum.as_ref().filter(|_| info.checksum.is_some()), None);
                        with_checksums!(sums => ObjectPart {
                            part_number: Some(p.number as i32),
                            size: Some(p.size as i64),
                        })
                    })
                    .collect();
                Some(GetObjectAttributesParts {
                    is_truncated: Some(after.len() > page.len()),
                    max_parts: Some(max_parts),
                    next_part_number_marker: page.last().and_then(|p| p.part_number),
                    part_number_marker: Some(marker),
                    total_parts_count: Some(parts.len() as i32),
                    parts: Some(page),
                })
            }
            _ => None,
        };
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(GetObjectAttributesOutput {
            e_tag: wants(s3s::dto::ObjectAttributes::ETAG).then(|| etag(&info)),
            object_size: wants(s3s::dto::ObjectAttributes::OBJECT_SIZE).then_some(info.size as i64),
            storage_class: wants(s3s::dto::ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_parts,
            checksum: wants(s3s::dto::ObjectAttributes::CHECKSUM).then(|| {
                let sums = Fields::of(info.checksum.as_ref(), info.parts_count());
                with_checksums!(sums => s3s::dto::Checksum {
                    checksum_type: sums.kind,
                })
            }),
            last_modified: Some(timestamp(info.last_modified_ms)),
            version_id: version_header(found.id, versioned),
            ..Default::default()
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let tags = tag_pairs(input.tagging.tag_set);
        let (bucket, key) = (input.bucket.clone(), input.key);
        let tagged = self.blocking(move |engine| engine.set_object_tags(&bucket, &key, version, tags)).await?;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: version_header(tagged, versioned) }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (found, info) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tag_set(&info.attributes.tags),
            version_id: version_header(found.id, versioned),
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (bucket, key) = (input.bucket.clone(), input.key);
        let tagged = self.blocking(move |engine| engine.set_object_tags(&bucket, &key, version, Vec::new())).await?;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: version_header(tagged, versioned) }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        writes::refuse_unbuilt_write_options(&req.headers)?;
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (source_bucket, source_key, found, info) = self.copy_source(
            req.credentials.as_ref(),
            &input.copy_source,
            input.expected_source_bucket_owner.as_deref(),
            &conditions,
        )?;
        let range = match &input.copy_source_range {
            None => None,
            Some(text) => Some(copy_source_range(text, info.size)?),
        };
        let copied = range.map_or(info.size, |(first, last)| last - first + 1);
        if copied > cairn_engine::limits::PART_BYTES_MAX {
            return Err(s3_error!(EntityTooLarge, "a part is at most {} bytes", cairn_engine::limits::PART_BYTES_MAX));
        }
        let source_versioned = self.versioned(&source_bucket)?;
        let (bucket, key, source_id) = (input.bucket, input.key, found.id);
        let (md5, stored) = self
            .blocking(move |engine| {
                let range = range.map(|(first, last)| ByteRange::From { first, last: Some(last) });
                let reader = engine.get_object(&source_bucket, &source_key, Some(source_id), range)?;
                let mut writer = engine.upload_part(&bucket, &key, upload, number)?;
                let spec = writer.checksum_spec();
                let algorithm = spec.map_or(checksum::DEFAULT_ALGORITHM, |s| s.algorithm);
                let mut hasher = checksum::Hasher::new(algorithm);
                for chunk in reader {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    writer.write(&chunk)?;
                }
                let stored = checksum::full_object(algorithm, hasher);
                writer.set_checksum(stored.clone());
                Ok((writer.finish()?, spec.map(|_| stored)))
            })
            .await?;
        let sums = Fields::of(stored.as_ref(), None);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(with_checksums!(sums => CopyPartResult {
                e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            })),
            copy_source_version_id: source_versioned.then(|| found.id.to_string()),
            ..Default::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let mut input = req.input;
        // An empty delimiter is none, and is not echoed.
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after: input.marker.clone(),
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_objects(&input.bucket, &query).map_err(to_s3)?;
        let owner = self.bucket_owner(&input.bucket)?;
        let url = url_encoding(input.encoding_type.as_ref())?;
        let (contents, common_prefixes, last) = self.listing(&page, Some(&owner), url);
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        // S3 returns NextMarker only when a delimiter was given; clients use the last key otherwise.
        let next_marker = (page.is_truncated && input.delimiter.is_some()).then_some(last).flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            // S3 echoes Marker, empty when none was given.
            marker: Some(encode(input.marker).unwrap_or_default()),
            delimiter: encode(input.delimiter),
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_marker: encode(next_marker),
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let mut input = req.input;
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let owner = self.bucket_owner(&input.bucket)?;
        let url = url_encoding(input.encoding_type.as_ref())?;
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let version_marker = match input.version_id_marker.as_deref().filter(|m| !m.is_empty()) {
            Some(_) if input.key_marker.as_deref().unwrap_or("").is_empty() => {
                return Err(s3_error!(
                    InvalidArgument,
                    "A version-id marker cannot be specified without a key marker."
                ));
            }
            other => version_param(other)?,
        };
        let query = cairn_engine::VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            version_marker,
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_versions(&input.bucket, &query).map_err(to_s3)?;
        let (mut versions, mut delete_markers, mut common_prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = (None, None);
        for item in &page.items {
            match item {
                ListItem::Entry(entry) => {
                    let version_id = Some(entry.version.id.to_string());
                    match &entry.version.kind {
                        cairn_engine::VersionKind::Object(info) => versions.push(ObjectVersion {
                            key: Some(listed_name(&entry.key, url)),
                            version_id: version_id.clone(),
                            is_latest: Some(entry.is_latest),
                            e_tag: Some(etag(info)),
                            size: Some(info.size as i64),
                            last_modified: Some(timestamp(info.last_modified_ms)),
                            storage_class: Some(ObjectVersionStorageClass::from_static(
                                ObjectVersionStorageClass::STANDARD,
                            )),
                            owner: Some(owner.clone()),
                            checksum_algorithm: info.checksum.as_ref().map(|c| vec![checksum::to_dto(c.algorithm)]),
                            checksum_type: info.checksum.as_ref().map(|c| checksum::kind_to_dto(c.kind)),
                            ..Default::default()
                        }),
                        cairn_engine::VersionKind::DeleteMarker { last_modified_ms } => {
                            delete_markers.push(DeleteMarkerEntry {
                                key: Some(listed_name(&entry.key, url)),
                                version_id: version_id.clone(),
                                is_latest: Some(entry.is_latest),
                                last_modified: Some(timestamp(*last_modified_ms)),
                                owner: Some(owner.clone()),
                            })
                        }
                    }
                    next = (Some(entry.key.clone()), version_id);
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        let (next_key_marker, next_version_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            key_marker: encode(input.key_marker),
            version_id_marker: input.version_id_marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_key_marker: encode(next_key_marker),
            next_version_id_marker,
            encoding_type: input.encoding_type,
            versions: Some(versions),
            delete_markers: Some(delete_markers),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > cairn_engine::limits::LIST_PAGE_ENTRIES_MAX {
            return Err(s3_error!(MalformedXML, "a DeleteObjects request names at most 1,000 keys"));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket;
        let objects = input.delete.objects;
        let (deleted, errors) = self
            .blocking(move |engine| {
                let (mut deleted, mut errors) = (Vec::new(), Vec::new());
                for object in objects {
                    let version = match object.version_id.as_deref().map(VersionId::parse) {
                        None => None,
                        Some(Some(version)) => Some(version),
                        Some(None) => {
                            errors.push(Error {
                                code: Some("NoSuchVersion".into()),
                                key: Some(object.key),
                                message: Some("The specified version does not exist.".into()),
                                version_id: object.version_id,
                            });
                            continue;
                        }
                    };
                    match engine.delete_object(&bucket, &object.key, version) {
                        Ok(outcome) => deleted.push(DeletedObject {
                            key: Some(object.key),
                            version_id: object.version_id,
                            delete_marker: outcome.delete_marker.then_some(true),
                            // The marker made, or the one a version id removed.
                            delete_marker_version_id: outcome
                                .version
                                .filter(|_| outcome.delete_marker)
                                .map(|v| v.to_string()),
                        }),
                        Err(error @ cairn_engine::Error::NoSuchBucket(_)) => return Err(error),
                        Err(error) => {
                            let s3 = to_s3(error);
                            errors.push(Error {
                                code: Some(s3.code().as_str().to_owned()),
                                key: Some(object.key),
                                message: s3.message().map(str::to_owned),
                                version_id: object.version_id,
                            });
                        }
                    }
                }
                Ok((deleted, errors))
            })
            .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        writes::refuse_unbuilt_write_options(&req.headers)?;
        let input = req.input;
        let attributes = request_attributes!(input, input.tagging).into_engine()?;
        let spec = checksum::upload_spec(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref())?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let upload =
            self.blocking(move |engine| engine.create_upload_with_checksum(&bucket, &key, attributes, spec)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.to_string()),
            checksum_algorithm: spec.map(|s| checksum::to_dto(s.algorithm)),
            checksum_type: spec.map(|s| checksum::kind_to_dto(s.kind)),
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request { input, headers, trailing_headers, extensions, .. } = req;
        writes::refuse_unbuilt_write_options(&headers)?;
        let upload = upload_param(&input.upload_id)?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let claim = checksum::claim(&headers)?;
        let mut writer = self.engine.upload_part(&input.bucket, &input.key, upload, number).map_err(to_s3)?;
        let algorithm = checksum::part_algorithm(writer.checksum_spec(), claim.as_ref())?;
        let mut sums = BodyChecksums::new(claim, algorithm);
        let content_length = input.content_length.filter(|_| extensions.get::<LengthUnknown>().is_none());
        receive_body(input.body, content_length, &mut writer, &mut sums).await?;
        if let Some(content_md5) = writes::content_md5(input.content_md5.as_deref(), &headers) {
            writes::check_content_md5(content_md5, &writer.md5())?;
        }
        let (stored, claimed) = sums.finish(trailing_headers.and_then(|t| t.take()).as_ref())?;
        // The part's checksum as the client sees it: the upload's algorithm, or what the part
        // claimed. Without either, the stored default CRC64NVME is not shown.
        let shown = if writer.checksum_spec().is_some() { Some(stored.clone()) } else { claimed };
        let fields = Fields::of(shown.as_ref(), None);
        writer.set_checksum(stored);
        let md5 = writer.finish_async().await.map_err(to_s3)?;
        Ok(S3Response::new(with_checksums!(fields => UploadPartOutput {
            e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
            ..Default::default()
        })))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let location = writes::object_url(&req.headers, &req.input.bucket, &req.input.key);
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let mut parts = Vec::with_capacity(listed.len());
        let mut part_checksums = std::collections::HashMap::new();
        for part in listed {
            let number = part.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart))?;
            let etag_md5 = part.e_tag.as_ref().and_then(etag_md5).ok_or(s3_error!(InvalidPart))?;
            parts.push(cairn_engine::CompletedPart { number, etag_md5 });
            let sums: Vec<_> = checksum::listed(&part).into_iter().map(|(a, v)| (a, v.to_owned())).collect();
            part_checksums.insert(number, sums);
        }
        let condition = writes::write_condition(
            &self.engine,
            &input.bucket,
            &input.key,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let outcome = self
            .blocking_s3(move |engine| {
                // The object's checksum is computed from exactly the parts the engine chose.
                let mut refused = None;
                let outcome =
                    engine.complete_upload_with(&bucket, &key, upload, &parts, condition.condition, |chosen, spec| {
                        checksum::combine(chosen, spec, &part_checksums).map_err(|error| {
                            refused = Some(error);
                            cairn_engine::Error::InvalidArgument("checksum refused".into())
                        })
                    });
                match (outcome, refused) {
                    (_, Some(error)) => Err(error),
                    (outcome, None) => outcome.map_err(|error| condition.refusal(error)),
                }
            })
            .await?;
        let fields = Fields::of(outcome.checksum.as_ref(), outcome.parts);
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(with_checksums!(fields => CompleteMultipartUploadOutput {
            location: Some(location),
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            version_id: version_header(outcome.version, versioned),
            checksum_type: fields.kind,
            ..Default::default()
        })))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let (bucket, key) = (input.bucket, input.key);
        self.blocking(move |engine| engine.abort_upload(&bucket, &key, upload)).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let owner = self.bucket_owner(&input.bucket)?;
        let upload = upload_param(&input.upload_id)?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max_parts = input.max_parts.unwrap_or(1000).max(0);
        let page =
            self.engine.list_parts(&input.bucket, &input.key, upload, marker, max_parts as usize).map_err(to_s3)?;
        let spec = page.checksum;
        let next_part_number_marker = page.parts.last().map(|p| p.number as i32);
        let parts = page
            .parts
            .iter()
            .map(|p| {
                // Parts of uploads without a checksum algorithm show none (their CRC64NVME is
                // only for the object's default checksum).
                let sums = Fields::of(p.checksum.as_ref().filter(|_| spec.is_some()), None);
                with_checksums!(sums => Part {
                    part_number: Some(p.number as i32),
                    size: Some(p.size as i64),
                    e_tag: Some(ETag::Strong(cairn_engine::hex(&p.md5))),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                })
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker,
            max_parts: Some(max_parts),
            is_truncated: Some(page.is_truncated),
            parts: Some(parts),
            owner: Some(owner.clone()),
            initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: spec.map(|s| checksum::to_dto(s.algorithm)),
            checksum_type: spec.map(|s| checksum::kind_to_dto(s.kind)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let mut input = req.input;
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let url = url_encoding(input.encoding_type.as_ref())?;
        let owner = self.bucket_owner(&input.bucket)?;
        let max_uploads = input.max_uploads.unwrap_or(1000).max(0);
        let upload_marker = match input.upload_id_marker.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(marker) => Some(upload_param(marker)?),
        };
        let query = cairn_engine::UploadQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            upload_marker,
            max_uploads: max_uploads as usize,
        };
        let page = self.engine.list_uploads(&input.bucket, &query).map_err(to_s3)?;
        let (mut uploads, mut common_prefixes) = (Vec::new(), Vec::new());
        let mut next = (None, None);
        for item in &page.items {
            match item {
                ListItem::Entry(upload) => {
                    uploads.push(MultipartUpload {
                        key: Some(listed_name(&upload.key, url)),
                        upload_id: Some(upload.upload.to_string()),
                        initiated: Some(timestamp(upload.initiated_ms)),
                        owner: Some(owner.clone()),
                        initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: upload.checksum.map(|s| checksum::to_dto(s.algorithm)),
                        checksum_type: upload.checksum.map(|s| checksum::kind_to_dto(s.kind)),
                    });
                    next = (Some(upload.key.clone()), Some(upload.upload.to_string()));
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        let (next_key_marker, next_upload_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            key_marker: encode(input.key_marker),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max_uploads),
            is_truncated: Some(page.is_truncated),
            next_key_marker: encode(next_key_marker),
            next_upload_id_marker,
            encoding_type: input.encoding_type,
            uploads: Some(uploads),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    // ---- bucket configurations Cairn does not hold yet ----
    // A bucket has no policy, CORS, website, lifecycle, replication or object-lock configuration
    // until the issues that build them land: reading one is AWS's "not found" answer for a bucket
    // without it, deleting one is the no-op AWS answers with 204. Setting one stays NotImplemented.

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        Err(self.absent(&req.input.bucket, s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")))
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        Err(self.absent(&req.input.bucket, s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")))
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        Err(self.absent(&req.input.bucket, s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist")))
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        Err(self.absent(
            &req.input.bucket,
            s3_error!(NoSuchWebsiteConfiguration, "The specified bucket does not have a website configuration"),
        ))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        Err(self.absent(
            &req.input.bucket,
            s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist"),
        ))
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        Err(self.absent(
            &req.input.bucket,
            s3_error!(ReplicationConfigurationNotFoundError, "The replication configuration was not found"),
        ))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        Err(self.absent(
            &req.input.bucket,
            s3_error!(ObjectLockConfigurationNotFoundError, "Object Lock configuration does not exist for this bucket"),
        ))
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.nothing_to_delete(&req.input.bucket)
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.nothing_to_delete(&req.input.bucket)
    }

    async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
        self.nothing_to_delete(&req.input.bucket)
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.nothing_to_delete(&req.input.bucket)
    }

    async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        self.nothing_to_delete(&req.input.bucket)
    }

    // Analytics, Intelligent-Tiering, inventory and metrics configurations are named by id; a
    // bucket has none, so getting or deleting one is AWS's NoSuchConfiguration.

    async fn get_bucket_analytics_configuration(
        &self,
        req: S3Request<GetBucketAnalyticsConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAnalyticsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn get_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<GetBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketIntelligentTieringConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn get_bucket_inventory_configuration(
        &self,
        req: S3Request<GetBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketInventoryConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn get_bucket_metrics_configuration(
        &self,
        req: S3Request<GetBucketMetricsConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketMetricsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn delete_bucket_analytics_configuration(
        &self,
        req: S3Request<DeleteBucketAnalyticsConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketAnalyticsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn delete_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<DeleteBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketIntelligentTieringConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn delete_bucket_inventory_configuration(
        &self,
        req: S3Request<DeleteBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketInventoryConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn delete_bucket_metrics_configuration(
        &self,
        req: S3Request<DeleteBucketMetricsConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketMetricsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"))
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"))
    }
}

impl Cairn {
    /// Contents, common prefixes and the last item (key or prefix) of an object listing page.
    fn listing(
        &self,
        page: &cairn_engine::Page<cairn_engine::ObjectEntry>,
        owner: Option<&Owner>,
        url: bool,
    ) -> (Vec<Object>, Vec<CommonPrefix>, Option<String>) {
        let (mut contents, mut common_prefixes, mut last) = (Vec::new(), Vec::new(), None);
        for item in &page.items {
            match item {
                ListItem::Entry(entry) => {
                    contents.push(Object {
                        key: Some(listed_name(&entry.key, url)),
                        size: Some(entry.info.size as i64),
                        e_tag: Some(etag(&entry.info)),
                        last_modified: Some(timestamp(entry.info.last_modified_ms)),
                        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                        owner: owner.cloned(),
                        checksum_algorithm: entry.info.checksum.as_ref().map(|c| vec![checksum::to_dto(c.algorithm)]),
                        checksum_type: entry.info.checksum.as_ref().map(|c| checksum::kind_to_dto(c.kind)),
                        ..Default::default()
                    });
                    last = Some(entry.key.clone());
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    last = Some(prefix.clone());
                }
            }
        }
        (contents, common_prefixes, last)
    }
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

/// S3's 404 for a bucket configuration named by id that does not exist (not among s3s's codes).
fn no_such_configuration() -> s3s::S3Error {
    let mut error = s3s::S3Error::new(s3s::S3ErrorCode::Custom("NoSuchConfiguration".into()));
    error.set_message("The specified configuration does not exist.");
    error.set_status_code(http::StatusCode::NOT_FOUND);
    error
}

/// The byte range of part `number` (a single PUT is part 1), as an inclusive range; `None` for
/// an empty part 1, which is the whole (empty) object. A number outside 1 to 10,000 is
/// InvalidArgument; a part the object does not have, S3's 400 InvalidPart.
fn part_range(info: &ObjectInfo, number: i32) -> S3Result<Option<ByteRange>> {
    let number = u32::try_from(number)
        .ok()
        .filter(|n| (1..=cairn_engine::limits::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
    let (start, end) = info.part_range(number).ok_or_else(|| {
        s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        )
    })?;
    Ok((end > start).then_some(ByteRange::From { first: start, last: Some(end - 1) }))
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, inclusive, within the source).
/// A malformed range is InvalidArgument; one that reaches past the source, InvalidRange (416).
pub(crate) fn copy_source_range(text: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = text.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(invalid)?;
    let (first, last) = (first.parse::<u64>().map_err(|_| invalid())?, last.parse::<u64>().map_err(|_| invalid())?);
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok((first, last))
}

fn upload_param(text: &str) -> S3Result<cairn_engine::UploadId> {
    cairn_engine::UploadId::parse(text).ok_or_else(|| s3_error!(NoSuchUpload))
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
            },
            user,
            tags: parse_tagging(self.tagging.as_deref())?,
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

/// The checksum fields a GET or HEAD returns: only when asked (`x-amz-checksum-mode: ENABLED`),
/// the object's for a whole-object read, a part's for a `partNumber` read, none for a range.
fn read_checksum(info: &ObjectInfo, mode: Option<&ChecksumMode>, ranged: bool, part: Option<i32>) -> Fields {
    let enabled = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let checksum = match (&info.layout, part) {
        _ if !enabled || ranged => None,
        (_, None) | (cairn_engine::Layout::Extents(_), Some(_)) => {
            return Fields::of(info.checksum.as_ref(), info.parts_count());
        }
        (cairn_engine::Layout::Parts(parts), Some(number)) => {
            parts.iter().find(|p| i64::from(p.number) == i64::from(number)).and_then(|p| p.checksum.as_ref())
        }
    };
    Fields::of(checksum, None)
}

fn user_metadata(info: &ObjectInfo) -> Option<Metadata> {
    (!info.attributes.user.is_empty()).then(|| info.attributes.user.iter().cloned().collect())
}

/// Continuation tokens are the hex of the last key or prefix returned.
fn decode_token(token: &str) -> S3Result<String> {
    let invalid = || s3_error!(InvalidArgument, "The continuation token provided is incorrect");
    if !token.len().is_multiple_of(2) || token.len() > 2 * cairn_engine::limits::KEY_BYTES_MAX {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(&token[i..i + 2], 16)).collect();
    String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())
}

fn tag_pairs(tag_set: Vec<Tag>) -> Vec<(String, String)> {
    tag_set.into_iter().map(|tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default())).collect()
}

fn tag_set(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs.iter().map(|(key, value)| Tag { key: Some(key.clone()), value: Some(value.clone()) }).collect()
}

/// The bucket configuration record that holds a bucket's tags, encoded as `x-amz-tagging` is.
const BUCKET_TAGGING: &str = "tagging";

/// Encodes tags as `x-amz-tagging` does: `key=value&...`, percent-encoded.
/// Bytes S3 leaves unescaped in URL encoding: letters, digits and `-_.~`.
const URL_ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `encoding-type=url` in listings escapes keys and prefixes like a URL path: `/` stays.
pub(crate) const URL_PATH_ESCAPED: &percent_encoding::AsciiSet = &URL_ESCAPED.remove(b'/');

fn encode_tagging(tags: &[(String, String)]) -> String {
    let encode = |text: &str| percent_encoding::utf8_percent_encode(text, URL_ESCAPED).to_string();
    tags.iter().map(|(key, value)| format!("{}={}", encode(key), encode(value))).collect::<Vec<_>>().join("&")
}

/// `x-amz-tagging`: URL-encoded `key=value&key=value`.
pub(crate) fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(header) = header.filter(|h| !h.is_empty()) else { return Ok(Vec::new()) };
    header
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> S3Result<String> {
    let plus_as_space = text.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&plus_as_space).decode_utf8();
    let decoded = decoded.map_err(|_| s3_error!(InvalidTag, "the tag set is not valid URL encoding"))?;
    Ok(decoded.into_owned())
}

/// Whether a listing asked for `encoding-type=url` (the only encoding S3 knows).
fn url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

/// A key or prefix as a listing shows it: URL-escaped when the request asked for
/// `encoding-type=url` (keys may hold bytes XML 1.0 cannot carry).
fn listed_name(name: &str, url: bool) -> String {
    if url { percent_encoding::utf8_percent_encode(name, URL_PATH_ESCAPED).to_string() } else { name.to_owned() }
}

#[cfg(test)]
mod tests {
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
