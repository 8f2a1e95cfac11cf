//! Put/Get/DeleteBucketLifecycleConfiguration, and the `x-amz-expiration` that a write or read of
//! a current version answers with. The rules are checked and kept by `crate::lifecycle`; its
//! worker applies them.

use super::*;
use crate::lifecycle::{self, BUCKET_LIFECYCLE, Lifecycle};
use crate::s3::cors::require_digest;

impl Cairn {
    pub(super) async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        require_digest(&req.headers)?;
        let input = req.input;
        let varies = match input.transition_default_minimum_object_size.as_ref().map(|m| m.as_str()) {
            None | Some(TransitionDefaultMinimumObjectSize::ALL_STORAGE_CLASSES_128K) => false,
            Some(TransitionDefaultMinimumObjectSize::VARIES_BY_STORAGE_CLASS) => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Invalid x-amz-transition-default-minimum-object-size")),
        };
        let config = input.lifecycle_configuration.ok_or_else(|| s3_error!(MalformedXML))?;
        let rules = Lifecycle::from_dto(config, varies, self.days.day_ms)
            .map_err(|(code, message)| crate::web::s3_error(code, &message))?;
        let bucket = input.bucket;
        let value = rules.encode();
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_LIFECYCLE, &value)).await?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput {
            transition_default_minimum_object_size: Some(minimum_size(&rules)),
        }))
    }

    pub(super) async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_LIFECYCLE).map_err(to_s3)?;
        let rules = stored.and_then(|stored| Lifecycle::decode(&stored));
        let rules = rules
            .ok_or_else(|| s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist"))?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(rules.to_dto()),
            transition_default_minimum_object_size: Some(minimum_size(&rules)),
        }))
    }

    pub(super) async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.delete_config(req.input.bucket, BUCKET_LIFECYCLE).await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }

    /// S3's `x-amz-expiration` for the current version `info` of `key`: when the bucket's rules
    /// expire it and by which rule. A bucket without rules costs one configuration lookup.
    pub(super) fn expiration(&self, bucket: &str, key: &str, info: &ObjectInfo) -> Option<String> {
        let stored = self.engine.get_bucket_config(bucket, BUCKET_LIFECYCLE).ok()??;
        let rules = self.lifecycles.get(bucket, &stored)?;
        let (due, rule) =
            lifecycle::expiration(&rules, self.days, key, info.size, &info.attributes.tags, info.last_modified_ms)?;
        Some(lifecycle::expiration_header(due, rule))
    }

    /// `x-amz-expiration` for a version just written (the bucket's rules are read first, so a
    /// bucket without them costs no lookup of the version).
    pub(super) fn written_expiration(&self, bucket: &str, key: &str, version: VersionId) -> Option<String> {
        self.engine.get_bucket_config(bucket, BUCKET_LIFECYCLE).ok()??;
        let (_, info) = self.engine.head_object(bucket, key, Some(version)).ok()?;
        self.expiration(bucket, key, &info)
    }
}

fn minimum_size(rules: &Lifecycle) -> TransitionDefaultMinimumObjectSize {
    TransitionDefaultMinimumObjectSize::from_static(if rules.varies_by_storage_class {
        TransitionDefaultMinimumObjectSize::VARIES_BY_STORAGE_CLASS
    } else {
        TransitionDefaultMinimumObjectSize::ALL_STORAGE_CLASSES_128K
    })
}

/// Parsed rules by bucket, each with the stored document it came from: reads of objects in a
/// bucket with rules parse them once, not per request (the document's `Arc` changes when the
/// rules do). At most `limits::BUCKETS_MAX` entries (it starts over past that).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    by_bucket: std::sync::RwLock<std::collections::HashMap<String, Cached>>,
}

/// A bucket's stored rules and their parse.
type Cached = (Arc<[u8]>, Arc<Lifecycle>);

impl Parsed {
    fn get(&self, bucket: &str, stored: &Arc<[u8]>) -> Option<Arc<Lifecycle>> {
        let cached = self.by_bucket.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned();
        if let Some((document, rules)) = cached
            && Arc::ptr_eq(&document, stored)
        {
            return Some(rules);
        }
        let rules = Arc::new(Lifecycle::decode(stored)?);
        let mut by_bucket = self.by_bucket.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if by_bucket.len() >= cairn_engine::limits::BUCKETS_MAX {
            by_bucket.clear();
        }
        by_bucket.insert(bucket.to_owned(), (stored.clone(), rules.clone()));
        Some(rules)
    }
}
