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
        let mut configs = self.created_bucket_configs(&req.headers, account)?;
        // Object Lock at creation: the bucket is created versioned, with no default retention.
        if req.input.object_lock_enabled_for_bucket == Some(true) {
            configs.push((cairn_engine::OBJECT_LOCK_CONFIG.to_owned(), Vec::new()));
        }
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
        let name = bucket.clone();
        self.blocking(move |engine| engine.delete_bucket(&name)).await?;
        self.access_log.set(&bucket, None, &self.accounts);
        self.notifications.set(&bucket, crate::notify::Rules::default(), &self.accounts);
        self.replication.set(&bucket, None);
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
        let bucket = &req.input.bucket;
        let status = match self.engine.versioning(bucket).map_err(to_s3)? {
            VersioningState::Unversioned => None,
            VersioningState::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            VersioningState::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        // S3 shows MfaDelete once it has been configured; Cairn shows it while it is on.
        let mfa_delete = self
            .engine
            .mfa_delete(bucket)
            .map_err(to_s3)?
            .then(|| MFADeleteStatus::from_static(MFADeleteStatus::ENABLED));
        Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete }))
    }

    pub(super) async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let config = &input.versioning_configuration;
        let state = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => VersioningState::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => VersioningState::Suspended,
            _ => return Err(s3_error!(MalformedXML, "Status must be Enabled or Suspended")),
        };
        let mfa_delete = match config.mfa_delete.as_ref().map(|m| m.as_str()) {
            None => None,
            Some(MFADelete::ENABLED) => Some(true),
            Some(MFADelete::DISABLED) => Some(false),
            Some(_) => return Err(s3_error!(MalformedXML, "MfaDelete must be Enabled or Disabled")),
        };
        // Naming MfaDelete, or changing the versioning of a bucket that has it, takes the owner's
        // account and a code of one of its devices (AWS: the root account's).
        let bucket = input.bucket;
        if mfa_delete.is_some() || self.engine.mfa_delete(&bucket).map_err(to_s3)? {
            let owner = self.engine.head_bucket(&bucket).map_err(to_s3)?.owner;
            let requester = self.accounts.requester(req.credentials.as_ref())?;
            if !self.accounts.owns(requester, &owner) {
                return Err(s3_error!(AccessDenied, "Only the bucket owner may configure MFA delete"));
            }
            self.verify_mfa(&bucket, input.mfa).await?;
        }
        if state != VersioningState::Enabled && self.replication.rules(&bucket).is_some() {
            return Err(s3_error!(
                InvalidBucketState,
                "A replication configuration is present on this bucket, so the versioning state cannot be changed."
            ));
        }
        self.blocking(move |engine| engine.set_versioning_with(&bucket, state, mfa_delete)).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    /// Checks `x-amz-mfa` when the bucket has MFA delete on (a permanent delete asks it).
    pub(super) async fn check_mfa_delete(&self, bucket: &str, header: Option<&str>) -> S3Result<()> {
        if self.engine.mfa_delete(bucket).map_err(to_s3)? {
            self.verify_mfa(bucket, header.map(str::to_owned)).await?;
        }
        Ok(())
    }

    /// Takes a code of an MFA device of the bucket owner's account (AccessDenied otherwise, as
    /// AWS). The step it belongs to is committed before this returns, so it is never taken twice.
    async fn verify_mfa(&self, bucket: &str, header: Option<String>) -> S3Result<()> {
        let owner = self.engine.head_bucket(bucket).map_err(to_s3)?.owner;
        let account_id = self
            .accounts
            .owner_account(&owner)
            .map(|account| account.account_id.clone())
            .ok_or_else(|| s3_error!(AccessDenied, "Mfa Authentication must be used for this request"))?;
        let verifier = self.mfa.clone();
        self.blocking_s3(move |engine| {
            let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            verifier
                .verify(&engine, &account_id, header.as_deref(), now)
                .map_err(|refusal| s3_error!(AccessDenied, "{refusal}"))
        })
        .await
    }
}
