//! PutBucketReplication, GetBucketReplication and DeleteBucketReplication, and what the write
//! handlers call to commit a replication entry with a write (see `crate::replication`).

use super::*;
use crate::replication::rules::Invalid;
use std::collections::BTreeMap;

use crate::replication::{BUCKET_REPLICATION, Destination, Rules, Stored};

impl Cairn {
    pub(super) async fn put_bucket_replication(
        &self,
        req: S3Request<PutBucketReplicationInput>,
    ) -> S3Result<S3Response<PutBucketReplicationOutput>> {
        super::cors::require_digest(&req.headers)?;
        let input = req.input;
        let bucket = input.bucket;
        if self.engine.versioning(&bucket).map_err(to_s3)? != VersioningState::Enabled {
            return Err(s3_error!(
                InvalidRequest,
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
            ));
        }
        let config = input.replication_configuration;
        let remote = self.remote_destinations(&config).await;
        let (engine, accounts) = (&self.engine, &self.accounts);
        let check = |destination: &Destination| match remote.get(&destination.bucket) {
            None => check_destination(engine, accounts, destination),
            Some((_, true)) => Ok(()),
            Some((_, false)) => Err(invalid("Destination bucket must have versioning enabled.")),
        };
        let mut rules = Rules::from_dto(&config, &bucket, &check)
            .map_err(|invalid| crate::web::s3_error(invalid.code, &invalid.message))?;
        let remote: BTreeMap<String, String> = remote.into_iter().map(|(name, (region, _))| (name, region)).collect();
        rules.locate(&remote);
        let (name, value) = (bucket.clone(), Stored { config, remote }.encode());
        self.blocking(move |engine| engine.put_bucket_config(&name, BUCKET_REPLICATION, &value)).await?;
        self.replication.set(&bucket, Some(rules));
        Ok(S3Response::new(PutBucketReplicationOutput {}))
    }

    /// The destination buckets of `config` that are not this server's but an endpoint's: the
    /// endpoint's region and whether the bucket has versioning enabled.
    async fn remote_destinations(
        &self,
        config: &s3s::dto::ReplicationConfiguration,
    ) -> BTreeMap<String, (String, bool)> {
        let mut found = BTreeMap::new();
        for rule in &config.rules {
            let Some(name) = rule.destination.bucket.strip_prefix("arn:aws:s3:::") else { continue };
            if found.contains_key(name) || self.engine.head_bucket(name).is_ok() {
                continue;
            }
            for remote in self.replication.remotes() {
                match remote.versioning(name).await {
                    Ok(Some(enabled)) => {
                        found.insert(name.to_owned(), (remote.region().to_owned(), enabled));
                        break;
                    }
                    Ok(None) => {}
                    Err(why) => tracing::warn!("replication endpoint {} cannot be asked: {why}", remote.region()),
                }
            }
        }
        found
    }

    pub(super) async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_REPLICATION).map_err(to_s3)?;
        match stored.as_deref().and_then(Stored::decode) {
            Some(stored) => {
                Ok(S3Response::new(GetBucketReplicationOutput { replication_configuration: Some(stored.config) }))
            }
            None => {
                Err(s3_error!(ReplicationConfigurationNotFoundError, "The replication configuration was not found"))
            }
        }
    }

    pub(super) async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        let bucket = req.input.bucket;
        self.delete_config(bucket.clone(), BUCKET_REPLICATION).await?;
        // Entries already committed are still copied: their versions are PENDING.
        self.replication.set(&bucket, None);
        Ok(S3Response::new(DeleteBucketReplicationOutput {}))
    }

    /// Commits the replication entry of a new version of `key` with `writer`, if a rule
    /// covers it (its tags are the writer's, its encryption `sse`): the version is then
    /// `PENDING`. Whether one does.
    pub(super) fn replicate_version(
        &self,
        writer: &mut cairn_engine::ObjectWriter,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
        sse: Option<&cairn_engine::Sse>,
    ) -> S3Result<bool> {
        let Some(notice) = self.replication.version_notice(bucket, key, tags, is_kms(sse)) else { return Ok(false) };
        self.replication_room()?;
        writer.add_notice(notice).map_err(to_s3)?;
        writer.set_replication_status(cairn_engine::ReplicationStatus::Pending);
        Ok(true)
    }

    /// The extras a completion of `key` commits for its replication (see `replicate_version`).
    pub(super) fn replication_extras(
        &self,
        bucket: &str,
        key: &str,
        attributes: &cairn_engine::ObjectAttributes,
    ) -> S3Result<cairn_engine::WriteExtras> {
        let kms = attributes
            .encryption
            .as_ref()
            .is_some_and(|e| matches!(e.mode, cairn_engine::SseMode::Kms | cairn_engine::SseMode::KmsDsse));
        let Some(notice) = self.replication.version_notice(bucket, key, &attributes.tags, kms) else {
            return Ok(cairn_engine::WriteExtras::default());
        };
        self.replication_room()?;
        Ok(cairn_engine::WriteExtras {
            notices: vec![notice],
            status: Some(cairn_engine::ReplicationStatus::Pending),
            ..Default::default()
        })
    }

    /// The extras a delete without a version id of `key` commits, for a delete marker a rule
    /// replicates.
    pub(super) fn marker_extras(&self, bucket: &str, key: &str) -> S3Result<cairn_engine::WriteExtras> {
        let Some(notice) = self.replication.marker_notice(bucket, key) else {
            return Ok(cairn_engine::WriteExtras::default());
        };
        self.replication_room()?;
        Ok(cairn_engine::WriteExtras { notices: vec![notice], ..Default::default() })
    }

    /// A write whose entry the queue has no room for is refused (503 SlowDown) rather than
    /// acknowledged with its replication lost: an entry past the outboxes' limits is not made.
    pub(super) fn replication_room(&self) -> S3Result<()> {
        if self.engine.outbox_bytes_free() < crate::notify::OUTBOX_ROOM_MIN {
            return Err(s3_error!(SlowDown, "Please reduce your request rate: replication is backed up."));
        }
        Ok(())
    }

    /// The replication status a version shows (`x-amz-replication-status`).
    pub(super) fn replication_status(info: &ObjectInfo) -> Option<ReplicationStatus> {
        info.attributes.replication.map(|status| ReplicationStatus::from(status.as_str().to_owned()))
    }
}

fn invalid(message: &str) -> Invalid {
    Invalid { code: "InvalidRequest", message: message.to_owned() }
}

fn is_kms(sse: Option<&cairn_engine::Sse>) -> bool {
    matches!(sse, Some(cairn_engine::Sse::Kms { .. }))
}

/// A destination must exist on this server with versioning enabled, and hold the replica
/// KMS key a rule names.
fn check_destination(engine: &Engine, accounts: &Accounts, destination: &Destination) -> Result<(), Invalid> {
    match engine.versioning(&destination.bucket) {
        Ok(VersioningState::Enabled) => {}
        Ok(_) => return Err(invalid("Destination bucket must have versioning enabled.")),
        Err(_) => return Err(invalid("Destination bucket must exist.")),
    }
    // The account a rule names must own the destination (its replicas go to that owner).
    if let Some(account) = &destination.account {
        let owner = engine.head_bucket(&destination.bucket).map(|info| info.owner).unwrap_or_default();
        if accounts.owner_account(&owner).is_none_or(|owner| &owner.account_id != account) {
            return Err(invalid("The destination bucket is not owned by the account the rule names."));
        }
    }
    if let Some(key) = &destination.replica_kms_key
        && engine.keyring().describe_kms_key(key).is_err()
    {
        return Err(Invalid { code: "InvalidArgument", message: format!("Invalid ReplicaKmsKeyID: {key}") });
    }
    Ok(())
}

/// The replica a write makes, if another server's replication sent it (`x-cairn-replica`
/// and `x-cairn-replica-last-modified`; the authorization step decided it as
/// `s3:ReplicateObject` or `s3:ReplicateDelete`).
pub(super) fn replica_of(headers: &http::HeaderMap) -> S3Result<Option<cairn_engine::Replica>> {
    use crate::replication::remote::{REPLICA_HEADER, REPLICA_TIME_HEADER};
    let Some(version) = headers.get(REPLICA_HEADER) else { return Ok(None) };
    let version = version.to_str().ok().and_then(VersionId::parse);
    let time = headers.get(REPLICA_TIME_HEADER).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match (version, time) {
        (Some(VersionId::Id(version)), Some(last_modified_ms)) => {
            Ok(Some(cairn_engine::Replica { version, last_modified_ms }))
        }
        _ => Err(s3_error!(InvalidArgument, "x-cairn-replica names a version id and its time")),
    }
}

/// A replica's refusal: an id another version holds is for good, not a retry.
pub(super) fn replica_refusal(error: cairn_engine::Error) -> s3s::S3Error {
    match error {
        cairn_engine::Error::VersionIdTaken { version } => {
            s3_error!(InvalidRequest, "another version of the key has the version id {version}")
        }
        other => to_s3(other),
    }
}
