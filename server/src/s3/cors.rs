//! PutBucketCors, GetBucketCors and DeleteBucketCors. The rules are validated as AWS validates
//! them and stored in the bucket's `cors` configuration; `web/` answers preflights from them and
//! grants actual cross-origin requests.

use super::*;
use crate::web::cors::{BUCKET_CORS, Cors, Rule};

impl Cairn {
    pub(super) async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        require_digest(&req.headers)?;
        let input = req.input;
        let rules = input.cors_configuration.cors_rules.into_iter().map(rule_of).collect();
        let cors = Cors::validated(rules).map_err(|(code, message)| crate::web::s3_error(code, &message))?;
        let bucket = input.bucket;
        let value = cors.encode();
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_CORS, &value)).await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(super) async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_CORS).map_err(to_s3)?;
        let cors = stored.and_then(|stored| Cors::decode(&stored));
        let cors = cors.ok_or_else(|| s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"))?;
        let cors_rules = cors.rules.into_iter().map(dto_of).collect();
        Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(cors_rules) }))
    }

    pub(super) async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.delete_config(req.input.bucket, BUCKET_CORS).await?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}

/// S3 requires a digest of a configuration document it cannot afford to get wrong (CORS,
/// lifecycle, object lock): Content-MD5 or an additional checksum, which the guard verifies.
pub(super) fn require_digest(headers: &http::HeaderMap) -> S3Result<()> {
    if crate::writes::digested(headers) {
        Ok(())
    } else {
        Err(s3_error!(InvalidRequest, "Missing required header for this request: Content-MD5"))
    }
}

fn rule_of(rule: CORSRule) -> Rule {
    Rule {
        id: rule.id,
        origins: rule.allowed_origins,
        methods: rule.allowed_methods,
        headers: rule.allowed_headers.unwrap_or_default(),
        expose: rule.expose_headers.unwrap_or_default(),
        max_age: rule.max_age_seconds,
    }
}

fn dto_of(rule: Rule) -> CORSRule {
    let listed = |list: Vec<String>| (!list.is_empty()).then_some(list);
    CORSRule {
        id: rule.id,
        allowed_origins: rule.origins,
        allowed_methods: rule.methods,
        allowed_headers: listed(rule.headers),
        expose_headers: listed(rule.expose),
        max_age_seconds: rule.max_age,
    }
}
