//! Buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation and versioning.

use super::*;

impl Cairn {
    pub(super) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
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

    pub(super) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
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
        let configs = self.created_bucket_configs(&req.headers, account)?;
        let create = name.clone();
        let created = self.blocking(move |engine| engine.create_bucket_with(&create, &region, &owner, configs)).await;
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

    pub(super) async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let info = self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(info.region),
            // Not an access point: S3 says so on every HeadBucket.
            access_point_alias: Some(false),
            ..Default::default()
        }))
    }

    pub(super) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket(&bucket)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let info = self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        // S3 answers an empty constraint for us-east-1.
        let location_constraint = (info.region != "us-east-1").then(|| BucketLocationConstraint::from(info.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    pub(super) async fn get_bucket_versioning(
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

    pub(super) async fn put_bucket_versioning(
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
}
