//! Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and
//! GetBucketPolicyStatus. The document is stored as sent (GetBucketPolicy returns it byte for
//! byte) in the bucket's `policy` configuration record; `authorization.rs` parses and evaluates it.

use super::*;
use crate::acl::PUBLIC_ACCESS_BLOCK;
use crate::authorization::BUCKET_POLICY;
use crate::policy::Policy;

impl Cairn {
    pub(super) async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        // ConfirmRemoveSelfBucketAccess is accepted: the owner's account never loses the right to
        // change the policy, so there is nothing for it to confirm.
        let parsed =
            Policy::parse(input.policy.as_bytes(), &input.bucket, self.accounts.as_ref()).map_err(|malformed| {
                let mut error = s3_error!(MalformedPolicy);
                error.set_message(malformed.0);
                error
            })?;
        // BlockPublicPolicy: a public policy is refused, as AWS refuses it.
        if parsed.is_public() {
            let info = self.engine.bucket_access(&input.bucket, [PUBLIC_ACCESS_BLOCK]).map_err(to_s3)?;
            let [block] = &info.configs;
            if self.authorizer.public_access_block(&info.owner, block.as_deref()).block_public_policy {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        }
        let bucket = input.bucket;
        let document = input.policy;
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_POLICY, document.as_bytes())).await?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(super) async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_POLICY).map_err(to_s3)?;
        let stored = stored.ok_or_else(no_such_bucket_policy)?;
        let policy = String::from_utf8_lossy(&stored).into_owned();
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub(super) async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.delete_config(req.input.bucket, BUCKET_POLICY).await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(super) async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.engine.head_bucket(&req.input.bucket).map_err(to_s3)?;
        let policy = self.authorizer.policy(&req.input.bucket).ok_or_else(no_such_bucket_policy)?;
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus { is_public: Some(policy.is_public()) }),
        }))
    }
}

fn no_such_bucket_policy() -> s3s::S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}
