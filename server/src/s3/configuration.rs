//! Bucket configurations Cairn does not hold yet (analytics, inventory ...):
//! answered as AWS answers a bucket without them.

use super::*;

impl Cairn {
    // ---- bucket configurations Cairn does not hold yet ----
    // Analytics, Intelligent-Tiering, inventory and metrics configurations are named by id; a
    // bucket has none, so getting or deleting one is AWS's NoSuchConfiguration.
    pub(super) async fn get_bucket_analytics_configuration(
        &self,
        req: S3Request<GetBucketAnalyticsConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAnalyticsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn get_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<GetBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketIntelligentTieringConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn get_bucket_inventory_configuration(
        &self,
        req: S3Request<GetBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketInventoryConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn get_bucket_metrics_configuration(
        &self,
        req: S3Request<GetBucketMetricsConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketMetricsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn delete_bucket_analytics_configuration(
        &self,
        req: S3Request<DeleteBucketAnalyticsConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketAnalyticsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn delete_bucket_intelligent_tiering_configuration(
        &self,
        req: S3Request<DeleteBucketIntelligentTieringConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketIntelligentTieringConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn delete_bucket_inventory_configuration(
        &self,
        req: S3Request<DeleteBucketInventoryConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketInventoryConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }

    pub(super) async fn delete_bucket_metrics_configuration(
        &self,
        req: S3Request<DeleteBucketMetricsConfigurationInput>,
    ) -> S3Result<S3Response<DeleteBucketMetricsConfigurationOutput>> {
        Err(self.absent(&req.input.bucket, no_such_configuration()))
    }
}

/// S3's 404 for a bucket configuration named by id that does not exist (not among s3s's codes).
pub(super) fn no_such_configuration() -> s3s::S3Error {
    let mut error = s3s::S3Error::new(s3s::S3ErrorCode::Custom("NoSuchConfiguration".into()));
    error.set_message("The specified configuration does not exist.");
    error.set_status_code(http::StatusCode::NOT_FOUND);
    error
}
