//! PutBucketWebsite, GetBucketWebsite and DeleteBucketWebsite. The configuration is validated as
//! AWS validates it and stored in the bucket's `website` configuration; `web/endpoint.rs` serves
//! the bucket's website from it.

use super::*;
use crate::web::website::{
    BUCKET_WEBSITE, Condition as Matches, Redirect as Target, RedirectAll, RoutingRule as Rule, Website,
};

impl Cairn {
    pub(super) async fn put_bucket_website(
        &self,
        req: S3Request<PutBucketWebsiteInput>,
    ) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
        let input = req.input;
        let website = website_of(input.website_configuration)?
            .validated()
            .map_err(|(code, message)| crate::web::s3_error(code, &message))?;
        let bucket = input.bucket;
        let value = website.encode();
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_WEBSITE, &value)).await?;
        Ok(S3Response::new(PutBucketWebsiteOutput {}))
    }

    pub(super) async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_WEBSITE).map_err(to_s3)?;
        let website = stored.and_then(|stored| Website::decode(&stored)).ok_or_else(|| {
            s3_error!(NoSuchWebsiteConfiguration, "The specified bucket does not have a website configuration")
        })?;
        Ok(S3Response::new(dto_of(website)))
    }

    pub(super) async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
        self.delete_config(req.input.bucket, BUCKET_WEBSITE).await?;
        Ok(S3Response::new(DeleteBucketWebsiteOutput {}))
    }
}

/// An HTTP status code as a website configuration writes it: three digits.
fn status_code(text: &str, what: &str) -> S3Result<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|code| (100..1000).contains(code))
        .ok_or_else(|| s3_error!(InvalidArgument, "The provided HTTP {what} code ({}) is not valid.", text.trim()))
}

fn website_of(config: WebsiteConfiguration) -> S3Result<Website> {
    let mut rules = Vec::new();
    for rule in config.routing_rules.unwrap_or_default() {
        let condition = match rule.condition {
            None => None,
            Some(condition) => Some(Matches {
                key_prefix: condition.key_prefix_equals,
                error_code: condition
                    .http_error_code_returned_equals
                    .as_deref()
                    .map(|c| status_code(c, "error"))
                    .transpose()?,
            }),
        };
        let redirect = rule.redirect;
        rules.push(Rule {
            condition,
            redirect: Target {
                host: redirect.host_name,
                protocol: redirect.protocol.map(|p| p.as_str().to_owned()),
                replace_key_prefix: redirect.replace_key_prefix_with,
                replace_key: redirect.replace_key_with,
                code: redirect.http_redirect_code.as_deref().map(|c| status_code(c, "redirect")).transpose()?,
            },
        });
    }
    Ok(Website {
        index: config.index_document.map(|index| index.suffix),
        error: config.error_document.map(|error| error.key),
        redirect_all: config
            .redirect_all_requests_to
            .map(|all| RedirectAll { host: all.host_name, protocol: all.protocol.map(|p| p.as_str().to_owned()) }),
        rules,
    })
}

fn dto_of(website: Website) -> GetBucketWebsiteOutput {
    let rules: Vec<RoutingRule> = website
        .rules
        .into_iter()
        .map(|rule| RoutingRule {
            condition: rule.condition.map(|condition| Condition {
                key_prefix_equals: condition.key_prefix,
                http_error_code_returned_equals: condition.error_code.map(|code| code.to_string()),
            }),
            redirect: Redirect {
                host_name: rule.redirect.host,
                protocol: rule.redirect.protocol.map(Protocol::from),
                replace_key_prefix_with: rule.redirect.replace_key_prefix,
                replace_key_with: rule.redirect.replace_key,
                http_redirect_code: rule.redirect.code.map(|code| code.to_string()),
            },
        })
        .collect();
    GetBucketWebsiteOutput {
        index_document: website.index.map(|suffix| IndexDocument { suffix }),
        error_document: website.error.map(|key| ErrorDocument { key }),
        redirect_all_requests_to: website
            .redirect_all
            .map(|all| RedirectAllRequestsTo { host_name: all.host, protocol: all.protocol.map(Protocol::from) }),
        routing_rules: (!rules.is_empty()).then_some(rules),
    }
}
