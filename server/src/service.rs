//! The S3 operations, each mapped onto the engine's public API. Operations not implemented here
//! keep `s3s`'s default: `NotImplemented`.
//!
//! The engine is synchronous and an acknowledged write waits for an fdatasync, so engine calls
//! run on tokio's blocking pool; body bytes move between the two a chunk at a time.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use cairn_engine::{
    ByteRange, Engine, ListItem, ListQuery, ObjectAttributes, ObjectInfo, PutCondition, SystemMetadata, VersionId,
    VersioningState,
};
use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::error::to_s3;

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

/// Cairn's S3 implementation.
#[derive(Clone, Debug)]
pub struct Cairn {
    engine: Engine,
    region: String,
    owner: Owner,
}

impl Cairn {
    pub fn new(engine: Engine, region: String, root_access_key: &str) -> Cairn {
        let owner = Owner { display_name: Some("root".into()), id: Some(canonical_id(root_access_key)) };
        Cairn { engine, region, owner }
    }

    /// Whether the bucket has ever had versioning configured (S3 then reports version ids).
    fn versioned(&self, bucket: &str) -> S3Result<bool> {
        Ok(self.engine.versioning(bucket).map_err(to_s3)? != VersioningState::Unversioned)
    }

    /// Resolves a copy source to its version and checks the copy-source conditions (GET's
    /// conditions, except that every failure is 412).
    fn copy_source(
        &self,
        source: &CopySource,
        conditions: &Conditions<'_>,
    ) -> S3Result<(String, String, cairn_engine::Version, std::sync::Arc<ObjectInfo>)> {
        let CopySource::Bucket { bucket, key, version_id } = source else {
            return Err(s3_error!(NotImplemented, "access point copy sources are not supported"));
        };
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

    /// Runs an engine call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(Engine) -> cairn_engine::Result<T> + Send + 'static,
    ) -> S3Result<T> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || call(engine))
            .await
            .map_err(|join| s3_error!(InternalError, "engine task failed: {join}"))?
            .map_err(to_s3)
    }
}

/// A stable 64-hex-digit canonical user id derived from an access key, as S3 shows owners.
pub fn canonical_id(access_key: &str) -> String {
    use md5::Digest;
    let first = md5::Md5::digest(format!("cairn-owner:{access_key}"));
    let second = md5::Md5::digest(first);
    format!("{}{}", cairn_engine::hex(&first), cairn_engine::hex(&second))
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// The ETag value without its quotes, as s3s wants it.
fn etag(info: &ObjectInfo) -> ETag {
    ETag::Strong(info.etag().trim_matches('"').to_owned())
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
    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .engine
            .list_buckets()
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created_ms)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(self.owner.clone()),
            ..Default::default()
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
        let create = name.clone();
        self.blocking(move |engine| engine.create_bucket(&create, &region)).await?;
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let info = self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(info.region), ..Default::default() }))
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
        let input = req.input;
        let attributes = request_attributes!(input, input.tagging).into_engine()?;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let mut writer = self.engine.put_object(&input.bucket, &input.key, attributes).map_err(to_s3)?;
        writer.set_condition(condition);
        receive_body(input.body, input.content_length, &mut writer, cairn_engine::ObjectWriter::write).await?;
        if let Some(content_md5) = &input.content_md5 {
            check_content_md5(content_md5, &writer.md5())?;
        }
        let bucket = input.bucket.clone();
        let outcome = tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|join| s3_error!(InternalError, "engine task failed: {join}"))?
            .map_err(to_s3)?;
        let versioned = self.versioned(&bucket)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            version_id: version_header(outcome.version, versioned),
            ..Default::default()
        }))
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
            (None, Some(number)) => Some(part_range(&info, number)?),
            (None, None) => None,
            (Some(Range::Int { first, last }), None) => Some(ByteRange::From { first, last }),
            (Some(Range::Suffix { length }), None) => Some(ByteRange::Suffix(length)),
        };
        let reader = self.engine.get_object(&input.bucket, &input.key, Some(found.id), range).map_err(to_s3)?;
        let info = reader.info().clone();
        let version_id = reader.version().id;
        let (start, end) = reader.range();
        let content_range = range.map(|_| format!("bytes {}-{}/{}", start, end.saturating_sub(1), info.size));
        let versioned = self.versioned(&input.bucket)?;
        let stream = futures::stream::unfold(Some(reader), |state| async move {
            let mut reader = state?;
            match tokio::task::spawn_blocking(move || {
                let next = reader.next();
                (reader, next)
            })
            .await
            {
                Ok((reader, Some(item))) => Some((item, Some(reader))),
                Ok((_, None)) => None,
                Err(join) => Some((Err(cairn_engine::Error::Io(std::io::Error::other(join.to_string()))), None)),
            }
        });
        let system = &info.attributes.system;
        let output = GetObjectOutput {
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
            parts_count: info.parts_count().map(|n| n as i32),
            tag_count: (!info.attributes.tags.is_empty()).then_some(info.attributes.tags.len() as i32),
            version_id: version_header(version_id, versioned),
            ..Default::default()
        };
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
        let part = input.part_number.map(|number| part_range(&info, number)).transpose()?;
        let versioned = self.versioned(&input.bucket)?;
        let system = &info.attributes.system;
        let (content_length, content_range) = match part {
            Some(ByteRange::From { first, last: Some(last) }) => {
                (last + 1 - first, Some(format!("bytes {first}-{last}/{}", info.size)))
            }
            _ => (info.size, None),
        };
        Ok(S3Response::new(HeadObjectOutput {
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
            parts_count: info.parts_count().map(|n| n as i32),
            version_id: version_header(found.id, versioned),
            ..Default::default()
        }))
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
        let input = req.input;
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
        let (contents, common_prefixes, last) = self.listing(&page, input.fetch_owner.unwrap_or(false));
        let key_count = (contents.len() + common_prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.is_truncated.then(|| last.map(|l| cairn_engine::hex(l.as_bytes()))).flatten(),
            start_after: input.start_after,
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (source_bucket, source_key, found, info) = self.copy_source(&input.copy_source, &conditions)?;
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
        let (bucket, key, source_id) = (input.bucket.clone(), input.key.clone(), found.id);
        let source_versioned = self.versioned(&source_bucket)?;
        let (outcome, copied) = self
            .blocking(move |engine| {
                // Streamed chunk by chunk, each verified as it is read: a copy never holds the
                // object in memory and never copies damaged bytes.
                let reader = engine.get_object(&source_bucket, &source_key, Some(source_id), None)?;
                let mut writer = engine.put_object(&bucket, &key, attributes)?;
                for chunk in reader {
                    writer.write(&chunk?)?;
                }
                let outcome = writer.finish()?;
                let (_, copied) = engine.head_object(&bucket, &key, Some(outcome.version))?;
                Ok((outcome, copied))
            })
            .await?;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&copied)),
                last_modified: Some(timestamp(copied.last_modified_ms)),
                ..Default::default()
            }),
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
        let wants = |name: &str| input.object_attributes.iter().any(|a| a.as_str() == name);
        let object_parts = match (&info.layout, wants(s3s::dto::ObjectAttributes::OBJECT_PARTS)) {
            (cairn_engine::Layout::Parts(parts), true) => {
                let marker = input.part_number_marker.unwrap_or(0).max(0);
                let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000);
                let after: Vec<_> = parts.iter().filter(|p| p.number as i32 > marker).collect();
                let page: Vec<ObjectPart> = after
                    .iter()
                    .take(max_parts as usize)
                    .map(|p| ObjectPart {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        ..Default::default()
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
            e_tag: wants(s3s::dto::ObjectAttributes::ETAG)
                .then(|| ETag::Strong(info.etag().trim_matches('"').to_owned())),
            object_size: wants(s3s::dto::ObjectAttributes::OBJECT_SIZE).then_some(info.size as i64),
            storage_class: wants(s3s::dto::ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_parts,
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
        let (source_bucket, source_key, found, info) = self.copy_source(&input.copy_source, &conditions)?;
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
        let md5 = self
            .blocking(move |engine| {
                let range = range.map(|(first, last)| ByteRange::From { first, last: Some(last) });
                let reader = engine.get_object(&source_bucket, &source_key, Some(source_id), range)?;
                let mut writer = engine.upload_part(&bucket, &key, upload, number)?;
                for chunk in reader {
                    writer.write(&chunk?)?;
                }
                writer.finish()
            })
            .await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            copy_source_version_id: source_versioned.then(|| found.id.to_string()),
            ..Default::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
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
        let (contents, common_prefixes, last) = self.listing(&page, false);
        // S3 returns NextMarker only when a delimiter was given; clients use the last key otherwise.
        let next_marker = (page.is_truncated && input.delimiter.is_some()).then_some(last).flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            marker: input.marker,
            delimiter: input.delimiter,
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_marker,
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
        let input = req.input;
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
                            key: Some(entry.key.clone()),
                            version_id: version_id.clone(),
                            is_latest: Some(entry.is_latest),
                            e_tag: Some(etag(info)),
                            size: Some(info.size as i64),
                            last_modified: Some(timestamp(info.last_modified_ms)),
                            storage_class: Some(ObjectVersionStorageClass::from_static(
                                ObjectVersionStorageClass::STANDARD,
                            )),
                            owner: Some(self.owner.clone()),
                            ..Default::default()
                        }),
                        cairn_engine::VersionKind::DeleteMarker { last_modified_ms } => {
                            delete_markers.push(DeleteMarkerEntry {
                                key: Some(entry.key.clone()),
                                version_id: version_id.clone(),
                                is_latest: Some(entry.is_latest),
                                last_modified: Some(timestamp(*last_modified_ms)),
                                owner: Some(self.owner.clone()),
                            })
                        }
                    }
                    next = (Some(entry.key.clone()), version_id);
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(prefix.clone()) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let (next_key_marker, next_version_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            version_id_marker: input.version_id_marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_key_marker,
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
                            delete_marker_version_id: outcome
                                .version
                                .filter(|_| outcome.delete_marker && version.is_none())
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
        let input = req.input;
        let attributes = request_attributes!(input, input.tagging).into_engine()?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let upload = self.blocking(move |engine| engine.create_upload(&bucket, &key, attributes)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.to_string()),
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let upload = upload_param(&input.upload_id)?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let mut writer = self.engine.upload_part(&input.bucket, &input.key, upload, number).map_err(to_s3)?;
        receive_body(input.body, input.content_length, &mut writer, cairn_engine::PartWriter::write).await?;
        if let Some(content_md5) = &input.content_md5 {
            check_content_md5(content_md5, &writer.md5())?;
        }
        let md5 = tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|join| s3_error!(InternalError, "engine task failed: {join}"))?
            .map_err(to_s3)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(cairn_engine::hex(&md5))),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
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
        for part in listed {
            let number = part.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart))?;
            let etag_md5 = part.e_tag.as_ref().and_then(etag_md5).ok_or(s3_error!(InvalidPart))?;
            parts.push(cairn_engine::CompletedPart { number, etag_md5 });
        }
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let outcome =
            self.blocking(move |engine| engine.complete_upload_if(&bucket, &key, upload, &parts, condition)).await?;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(outcome.etag.trim_matches('"').to_owned())),
            version_id: version_header(outcome.version, versioned),
            ..Default::default()
        }))
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
        let upload = upload_param(&input.upload_id)?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max_parts = input.max_parts.unwrap_or(1000).max(0);
        let page =
            self.engine.list_parts(&input.bucket, &input.key, upload, marker, max_parts as usize).map_err(to_s3)?;
        let next_part_number_marker = page.parts.last().map(|p| p.number as i32);
        let parts = page
            .parts
            .iter()
            .map(|p| Part {
                part_number: Some(p.number as i32),
                size: Some(p.size as i64),
                e_tag: Some(ETag::Strong(cairn_engine::hex(&p.md5))),
                last_modified: Some(timestamp(p.last_modified_ms)),
                ..Default::default()
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
            owner: Some(self.owner.clone()),
            initiator: Some(Initiator { display_name: self.owner.display_name.clone(), id: self.owner.id.clone() }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
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
                        key: Some(upload.key.clone()),
                        upload_id: Some(upload.upload.to_string()),
                        initiated: Some(timestamp(upload.initiated_ms)),
                        owner: Some(self.owner.clone()),
                        initiator: Some(Initiator {
                            display_name: self.owner.display_name.clone(),
                            id: self.owner.id.clone(),
                        }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    });
                    next = (Some(upload.key.clone()), Some(upload.upload.to_string()));
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(prefix.clone()) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let (next_key_marker, next_upload_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max_uploads),
            is_truncated: Some(page.is_truncated),
            next_key_marker,
            next_upload_id_marker,
            encoding_type: input.encoding_type,
            uploads: Some(uploads),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }
}

impl Cairn {
    /// Contents, common prefixes and the last item (key or prefix) of an object listing page.
    fn listing(
        &self,
        page: &cairn_engine::Page<cairn_engine::ObjectEntry>,
        fetch_owner: bool,
    ) -> (Vec<Object>, Vec<CommonPrefix>, Option<String>) {
        let (mut contents, mut common_prefixes, mut last) = (Vec::new(), Vec::new(), None);
        for item in &page.items {
            match item {
                ListItem::Entry(entry) => {
                    contents.push(Object {
                        key: Some(entry.key.clone()),
                        size: Some(entry.info.size as i64),
                        e_tag: Some(etag(&entry.info)),
                        last_modified: Some(timestamp(entry.info.last_modified_ms)),
                        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                        owner: fetch_owner.then(|| self.owner.clone()),
                        ..Default::default()
                    });
                    last = Some(entry.key.clone());
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(prefix.clone()) });
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
    let etag_text = info.etag();
    let current = etag_text.trim_matches('"');
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
        (Some(condition), _) if matches(condition) => Err(s3_error!(NotModified)),
        (None, Some(since)) if modified <= seconds(since) => Err(s3_error!(NotModified)),
        _ => Ok(()),
    }
}

/// The byte range of part `number` (a single PUT is part 1), as an inclusive range.
fn part_range(info: &ObjectInfo, number: i32) -> S3Result<ByteRange> {
    let invalid = || {
        // S3's InvalidPartNumber (416) is not among s3s's known codes.
        let mut error = s3s::S3Error::new(s3s::S3ErrorCode::Custom("InvalidPartNumber".into()));
        error.set_message("The requested partnumber is not satisfiable");
        error.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        error
    };
    let number = u32::try_from(number).ok().filter(|n| *n >= 1).ok_or_else(invalid)?;
    let (start, end) = info.part_range(number).ok_or_else(invalid)?;
    if end == start {
        return Err(invalid());
    }
    Ok(ByteRange::From { first: start, last: Some(end - 1) })
}

/// S3's conditional writes: `If-None-Match: *` (create only) or `If-Match: <etag>`.
fn write_condition(if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> S3Result<PutCondition> {
    let not_implemented =
        || s3_error!(NotImplemented, "A header you provided implies functionality that is not implemented");
    match (if_match, if_none_match) {
        (None, None) => Ok(PutCondition::None),
        (None, Some(ETagCondition::Any)) => Ok(PutCondition::IfNoneMatch),
        (Some(ETagCondition::ETag(ETag::Strong(value) | ETag::Weak(value))), None) => {
            let value = value.trim_matches('"');
            let (hex, parts) = match value.split_once('-') {
                Some((hex, parts)) => (hex, parts.parse::<u32>().ok()),
                None => (value, Some(0)),
            };
            // An ETag this store could not have made matches nothing.
            match (etag_md5(&ETag::Strong(hex.to_owned())), parts) {
                (Some(etag_md5), Some(parts)) => Ok(PutCondition::IfMatch { etag_md5, parts }),
                _ => {
                    Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"))
                }
            }
        }
        _ => Err(not_implemented()),
    }
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, inclusive, within the source).
fn copy_source_range(text: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || s3_error!(InvalidArgument, "Range specified is not valid for source object of size: {size}");
    let (first, last) = text.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(invalid)?;
    let (first, last) = (first.parse::<u64>().map_err(|_| invalid())?, last.parse::<u64>().map_err(|_| invalid())?);
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok((first, last))
}

fn upload_param(text: &str) -> S3Result<cairn_engine::UploadId> {
    cairn_engine::UploadId::parse(text).ok_or_else(|| s3_error!(NoSuchUpload))
}

/// The MD5 an ETag names (a part's ETag is its MD5 in hex).
fn etag_md5(etag: &ETag) -> Option<[u8; 16]> {
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

/// Streams a request body into an engine writer, a chunk at a time, and checks it against
/// Content-Length. Writing hashes the bytes and may wait for the log writer, so it runs with
/// `block_in_place`, off the async threads' duty.
async fn receive_body<W>(
    body: Option<StreamingBlob>,
    content_length: Option<i64>,
    writer: &mut W,
    write: fn(&mut W, &[u8]) -> cairn_engine::Result<()>,
) -> S3Result<u64> {
    let mut received = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = chunk.map_err(|e| s3_error!(IncompleteBody, "the body ended early: {e}"))?;
            received += chunk.len() as u64;
            tokio::task::block_in_place(|| write(writer, &chunk)).map_err(to_s3)?;
        }
    }
    if content_length.is_some_and(|expected| expected >= 0 && expected as u64 != received) {
        return Err(s3_error!(IncompleteBody, "the body does not match Content-Length"));
    }
    Ok(received)
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
fn encode_tagging(tags: &[(String, String)]) -> String {
    let encode = |text: &str| {
        let mut out = String::with_capacity(text.len());
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    };
    tags.iter().map(|(key, value)| format!("{}={}", encode(key), encode(value))).collect::<Vec<_>>().join("&")
}

/// `x-amz-tagging`: URL-encoded `key=value&key=value`.
fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
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
    let invalid = || s3_error!(InvalidTag, "the tag set is not valid URL encoding");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or_else(invalid)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

/// `Content-MD5` is the base64 of the body's MD5; a mismatch is `BadDigest`, a malformed value
/// `InvalidDigest`.
fn check_content_md5(header: &str, actual: &[u8; 16]) -> S3Result<()> {
    let decoded = base64_decode(header).filter(|d| d.len() == 16).ok_or_else(|| s3_error!(InvalidDigest))?;
    if decoded != actual {
        return Err(s3_error!(BadDigest, "the Content-MD5 you specified did not match what was received"));
    }
    Ok(())
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte)? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Canonical encodings only: the bits left over after the last byte are zero.
    (buffer == 0).then_some(out)
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
        assert!(parse_tagging(Some("a=%zz")).is_err());
    }

    #[test]
    fn tags_survive_encoding() {
        let tags = vec![("a b".to_owned(), "c&d=e".to_owned()), ("é".to_owned(), String::new())];
        assert_eq!(parse_tagging(Some(&encode_tagging(&tags))).unwrap(), tags);
    }

    #[test]
    fn content_md5_is_checked() {
        use md5::Digest;
        let digest: [u8; 16] = md5::Md5::digest(b"hello").into();
        assert!(check_content_md5("XUFAKrxLKna5cZ2REBfFkg==", &digest).is_ok());
        assert!(check_content_md5("XUFAKrxLKna5cZ2REBfFkh==", &digest).is_err(), "non-canonical base64");
        assert!(check_content_md5("AAAAAAAAAAAAAAAAAAAAAA==", &digest).is_err());
        assert!(check_content_md5("not base64!", &digest).is_err());
    }

    #[test]
    fn continuation_tokens_round_trip() {
        let key = "dir/é";
        assert_eq!(decode_token(&cairn_engine::hex(key.as_bytes())).unwrap(), key);
        assert!(decode_token("zz").is_err());
    }
}
