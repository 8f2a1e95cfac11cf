//! PutBucketLogging and GetBucketLogging, checked as AWS checks them, and the write of a log
//! object into a target bucket as the logging service (`crate::logging::delivery` calls it).

use super::*;
use crate::acl::{Acl, Grant as AclGrant, Grantee as AclGrantee, Ownership, Permission as AclPermission};
use crate::logging::{self, BUCKET_LOGGING, Destination, KeyFormat, LOGGING_SERVICE, Target, TargetGrant};
use crate::s3::cors::require_digest;

/// Why a log object was not written.
#[derive(Debug)]
pub enum Undelivered {
    /// The target refuses it (gone, another owner, the logging service not allowed): the
    /// records are dropped, as AWS drops them.
    Refused(String),
    /// The store failed: delivered on a later try.
    Failed(String),
}

impl Cairn {
    pub(super) async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        require_digest(&req.headers)?;
        let input = req.input;
        let bucket = input.bucket;
        let source = self.engine.head_bucket(&bucket).map_err(to_s3)?;
        let Some(enabled) = input.bucket_logging_status.logging_enabled else {
            self.delete_config(bucket.clone(), BUCKET_LOGGING).await?;
            self.access_log.set(&bucket, None, &self.accounts);
            return Ok(S3Response::new(PutBucketLoggingOutput {}));
        };
        let target = self.target_of(enabled)?;
        self.check_target(&bucket, &source, &target)?;
        let value = target.encode();
        let name = bucket.clone();
        self.blocking(move |engine| engine.put_bucket_config(&name, BUCKET_LOGGING, &value)).await?;
        self.access_log.set(&bucket, Some(target), &self.accounts);
        Ok(S3Response::new(PutBucketLoggingOutput {}))
    }

    pub(super) async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_LOGGING).map_err(to_s3)?;
        let enabled = stored.and_then(|stored| Target::decode(&stored)).map(|target| self.enabled_dto(target));
        Ok(S3Response::new(GetBucketLoggingOutput { logging_enabled: enabled }))
    }

    /// A `LoggingEnabled` as a target: its grants resolved as ACL grants are, its key format
    /// one of the two.
    fn target_of(&self, enabled: LoggingEnabled) -> S3Result<Target> {
        if enabled.target_prefix.len() > logging::TARGET_PREFIX_BYTES_MAX {
            return Err(s3_error!(
                InvalidArgument,
                "The target prefix is at most {} bytes.",
                logging::TARGET_PREFIX_BYTES_MAX
            ));
        }
        let key_format = match enabled.target_object_key_format {
            None => KeyFormat::Unset,
            Some(TargetObjectKeyFormat { partitioned_prefix: None, simple_prefix: Some(_) }) => KeyFormat::Simple,
            Some(TargetObjectKeyFormat { partitioned_prefix: Some(partitioned), simple_prefix: None }) => {
                let source = partitioned.partition_date_source.as_ref().map(|s| s.as_str());
                match source {
                    None | Some(PartitionDateSource::EVENT_TIME) => KeyFormat::Partitioned { event_time: true },
                    Some(PartitionDateSource::DELIVERY_TIME) => KeyFormat::Partitioned { event_time: false },
                    Some(_) => return Err(s3_error!(MalformedXML)),
                }
            }
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "TargetObjectKeyFormat must hold exactly one of SimplePrefix and PartitionedPrefix."
                ));
            }
        };
        let grants = enabled.target_grants.unwrap_or_default();
        if grants.len() > logging::TARGET_GRANTS_MAX {
            return Err(s3_error!(
                MalformedACLError,
                "At most {} target grants are allowed.",
                logging::TARGET_GRANTS_MAX
            ));
        }
        let grants = grants
            .into_iter()
            .map(|grant| {
                let (Some(grantee), Some(permission)) = (grant.grantee, grant.permission) else {
                    return Err(s3_error!(MalformedXML));
                };
                let permission = AclPermission::parse(permission.as_str())
                    .filter(|p| matches!(p, AclPermission::FullControl | AclPermission::Read | AclPermission::Write))
                    .ok_or_else(|| s3_error!(MalformedXML))?;
                Ok(TargetGrant { grantee: self.grantee_of(grantee)?, permission })
            })
            .collect::<S3Result<Vec<_>>>()?;
        Ok(Target { bucket: enabled.target_bucket, prefix: enabled.target_prefix, grants, key_format })
    }

    /// What AWS refuses of a target: one that does not exist, another owner's or region's, one
    /// with a default retention, target grants where the target enforces its ownership, and
    /// (where its ACLs count) one that gives the logging service no way in.
    fn check_target(&self, bucket: &str, source: &cairn_engine::BucketInfo, target: &Target) -> S3Result<()> {
        let invalid = |message: &str| {
            let mut error = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("InvalidTargetBucketForLogging".into()),
                message.to_owned(),
            );
            error.set_status_code(http::StatusCode::BAD_REQUEST);
            error
        };
        let Ok(info) = self.engine.head_bucket(&target.bucket) else {
            return Err(invalid("The target bucket for logging does not exist"));
        };
        if self.accounts.canonical(&info.owner) != self.accounts.canonical(&source.owner) {
            return Err(invalid("The owner for the bucket to be logged and the target bucket must be the same."));
        }
        if info.region != source.region {
            return Err(invalid(
                "Cross S3 location logging not allowed. Buckets in one S3 location can't log information to a bucket in another location.",
            ));
        }
        let lock = self.engine.get_bucket_config(&target.bucket, cairn_engine::OBJECT_LOCK_CONFIG).map_err(to_s3)?;
        if lock.is_some_and(|rule| !rule.is_empty()) {
            return Err(invalid("The target bucket for logging must not have a default Object Lock retention period."));
        }
        let ownership = Ownership::stored(
            self.engine.get_bucket_config(&target.bucket, crate::acl::OWNERSHIP).map_err(to_s3)?.as_deref(),
        );
        if !target.grants.is_empty() && !ownership.acls_enabled() {
            return Err(s3_error!(
                AccessControlListNotSupported,
                "Target grants not allowed for bucket owner enforced buckets"
            ));
        }
        let probe = format!("{}{}", target.prefix, "probe");
        if ownership.acls_enabled() && self.delivery_allowed(bucket, source, &target.bucket, &probe).is_err() {
            return Err(invalid(
                "You must give the log-delivery group WRITE and READ_ACP permissions to the target bucket",
            ));
        }
        Ok(())
    }

    /// Whether the logging service may write `key` into `target` for `source_bucket`: the
    /// target's policy allows it (and none of it denies it), or its ACL grants the
    /// log-delivery group WRITE where ACLs count.
    fn delivery_allowed(
        &self,
        source_bucket: &str,
        source: &cairn_engine::BucketInfo,
        target: &str,
        key: &str,
    ) -> Result<(), String> {
        let source_account = self
            .accounts
            .owner_account(&source.owner)
            .map_or_else(|| self.accounts.root_account_id().to_owned(), |a| a.account_id.clone());
        let context = ServiceContext { source_arn: format!("arn:aws:s3:::{source_bucket}"), source_account };
        let resource = format!("arn:aws:s3:::{target}/{key}");
        let decision = self.authorizer.policy(target).map(|policy| {
            policy.evaluate(&crate::policy::Request {
                principal: None,
                service: Some(LOGGING_SERVICE),
                action: "s3:PutObject",
                resource: &resource,
                context: &context,
            })
        });
        match decision {
            Some(crate::policy::Decision::Deny) => return Err("the target bucket's policy denies log delivery".into()),
            Some(crate::policy::Decision::Allow) => return Ok(()),
            _ => {}
        }
        let ownership =
            Ownership::stored(self.engine.get_bucket_config(target, crate::acl::OWNERSHIP).ok().flatten().as_deref());
        let stored = self.engine.get_bucket_config(target, crate::acl::BUCKET_ACL).ok().flatten();
        let owner = self.engine.head_bucket(target).map(|info| info.owner).unwrap_or_default();
        let acl = Acl::decode(stored.as_deref().unwrap_or_default(), &self.accounts.canonical(&owner));
        let granted = acl
            .grants
            .iter()
            .any(|grant| grant.grantee == AclGrantee::LogDelivery && grant.permission.covers(AclPermission::Write));
        if ownership.acls_enabled() && granted {
            Ok(())
        } else {
            Err(format!("the target bucket {target} does not allow the logging service ({LOGGING_SERVICE}) to write"))
        }
    }

    /// Writes one log object as the logging service: `records` under `key` in the target of
    /// `destination`, owned by the target's owner with the target grants, encrypted with SSE-S3
    /// unless the server leaves default writes unencrypted.
    pub(crate) fn deliver_log(&self, destination: &Destination, key: &str, records: &[u8]) -> Result<(), Undelivered> {
        let target = &destination.target;
        let source = self
            .engine
            .head_bucket(&destination.source_bucket)
            .map_err(|_| Undelivered::Refused(format!("the source bucket {} is gone", destination.source_bucket)))?;
        let info = self
            .engine
            .head_bucket(&target.bucket)
            .map_err(|_| Undelivered::Refused(format!("the target bucket {} does not exist", target.bucket)))?;
        if self.accounts.canonical(&info.owner) != self.accounts.canonical(&source.owner) {
            return Err(Undelivered::Refused(format!("the target bucket {} has another owner", target.bucket)));
        }
        self.delivery_allowed(&destination.source_bucket, &source, &target.bucket, key)
            .map_err(Undelivered::Refused)?;
        let owner = self.accounts.canonical(&info.owner);
        let mut acl = Acl::private(&owner);
        acl.grants
            .extend(target.grants.iter().map(|g| AclGrant { grantee: g.grantee.clone(), permission: g.permission }));
        let attributes = cairn_engine::ObjectAttributes {
            system: cairn_engine::SystemMetadata { content_type: Some("text/plain".into()), ..Default::default() },
            owner: owner.clone(),
            acl: acl.encode(&owner),
            ..Default::default()
        };
        let (sse, _) = self
            .write_encryption(&http::HeaderMap::new(), &target.bucket, key)
            .map_err(|e| Undelivered::Failed(e.to_string()))?;
        let failed = |e: cairn_engine::Error| Undelivered::Failed(e.to_string());
        let mut writer = self.engine.put_object(&target.bucket, key, attributes).map_err(failed)?;
        // Log objects are SSE-S3 where the target's default is KMS (AWS delivers them so too).
        if let Some(sse) = sse {
            let sse = if matches!(sse, cairn_engine::Sse::Kms { .. }) { cairn_engine::Sse::S3 } else { sse };
            writer.set_encryption(&sse).map_err(failed)?;
        }
        writer.write(records).map_err(failed)?;
        writer.finish().map_err(failed)?;
        Ok(())
    }

    fn enabled_dto(&self, target: Target) -> LoggingEnabled {
        let acl = Acl {
            grants: target
                .grants
                .iter()
                .map(|g| AclGrant { grantee: g.grantee.clone(), permission: g.permission })
                .collect(),
        };
        let grants = self.grants_dto(&acl);
        LoggingEnabled {
            target_bucket: target.bucket,
            target_prefix: target.prefix,
            target_grants: (!grants.is_empty()).then(|| {
                grants
                    .into_iter()
                    .map(|grant| s3s::dto::TargetGrant {
                        grantee: grant.grantee,
                        permission: grant.permission.map(|p| BucketLogsPermission::from(p.as_str().to_owned())),
                    })
                    .collect()
            }),
            target_object_key_format: match target.key_format {
                KeyFormat::Unset => None,
                KeyFormat::Simple => {
                    Some(TargetObjectKeyFormat { simple_prefix: Some(SimplePrefix {}), partitioned_prefix: None })
                }
                KeyFormat::Partitioned { event_time } => Some(TargetObjectKeyFormat {
                    simple_prefix: None,
                    partitioned_prefix: Some(PartitionedPrefix {
                        partition_date_source: Some(PartitionDateSource::from_static(if event_time {
                            PartitionDateSource::EVENT_TIME
                        } else {
                            PartitionDateSource::DELIVERY_TIME
                        })),
                    }),
                }),
            },
        }
    }
}

/// The condition keys of a delivery: the source bucket's ARN and account (AWS's policy for log
/// delivery pins them).
struct ServiceContext {
    source_arn: String,
    source_account: String,
}

impl crate::policy::Context for ServiceContext {
    fn values(&self, key: &str) -> Option<Vec<std::borrow::Cow<'_, str>>> {
        match key.to_ascii_lowercase().as_str() {
            "aws:sourcearn" => Some(vec![self.source_arn.as_str().into()]),
            "aws:sourceaccount" => Some(vec![self.source_account.as_str().into()]),
            _ => None,
        }
    }
}
