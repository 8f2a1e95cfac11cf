//! Object and bucket tags.

use super::*;

impl Cairn {
    pub(super) async fn put_bucket_tagging(
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

    pub(super) async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_TAGGING).map_err(to_s3)?;
        let stored = stored.ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        let text =
            std::str::from_utf8(&stored).map_err(|_| s3_error!(InternalError, "stored bucket tags are not UTF-8"))?;
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set: tag_set(&parse_tagging(Some(text))?) }))
    }

    pub(super) async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket_config(&bucket, BUCKET_TAGGING)).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    pub(super) async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let input = req.input;
        let tags = tag_pairs(input.tagging.tag_set);
        // The decision the authorization step left to this handler (its body's tags are keys).
        let action = if input.version_id.is_some() { "s3:PutObjectVersionTagging" } else { "s3:PutObjectTagging" };
        let resource = Resource::Object { bucket: &input.bucket, key: &input.key };
        self.authorize(origin!(req), action, resource, Some(&tags), input.expected_bucket_owner.as_deref())?;
        let version = version_param(input.version_id.as_deref())?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let tagged = self.blocking(move |engine| engine.set_object_tags(&bucket, &key, version, tags)).await?;
        let events = || vec![(EventName::TaggingPut, notification::about(&input.key, Some(tagged)))];
        self.publish(publishing, &input.bucket, events).await;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: version_header(tagged, versioned) }))
    }

    pub(super) async fn get_object_tagging(
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

    pub(super) async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let tagged = self.blocking(move |engine| engine.set_object_tags(&bucket, &key, version, Vec::new())).await?;
        let events = || vec![(EventName::TaggingDelete, notification::about(&input.key, Some(tagged)))];
        self.publish(publishing, &input.bucket, events).await;
        let versioned = self.versioned(&input.bucket)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: version_header(tagged, versioned) }))
    }
}

pub(super) fn tag_pairs(tag_set: Vec<Tag>) -> Vec<(String, String)> {
    tag_set.into_iter().map(|tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default())).collect()
}

pub(super) fn tag_set(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs.iter().map(|(key, value)| Tag { key: Some(key.clone()), value: Some(value.clone()) }).collect()
}

pub(super) fn encode_tagging(tags: &[(String, String)]) -> String {
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
