//! Copying one entry's version to a destination bucket of this server: a replica that keeps
//! the source's version id and time, its metadata, tags, Object Lock state, owner and ACL (or
//! the destination owner's, under `AccessControlTranslation`), its checksum, and its encryption
//! kind. A multipart source is copied as a multipart upload with the same part numbers and
//! sizes, so the replica's ETag and part checksums are the source's. Bodies are streamed chunk
//! by chunk; nothing holds a whole object. Called on the blocking pool.

use cairn_engine::{
    ByteRange, CompletedPart, Engine, Error, Layout, ObjectAttributes, ObjectInfo, Replica, Sse, SseMode, StorageClass,
    Version, VersionId, VersionKind, WriteExtras,
};

use super::{Entry, Target};
use crate::account::Accounts;
use crate::authorization::Authorizer;
use crate::policy::{Decision, NoContext, Request};

/// What one copy came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The destination holds the replica (made now, or before a crash).
    Replicated { bytes: u64 },
    /// The destination refuses it for good: the source is `FAILED`.
    Refused(String),
    /// It may take it later (no room, an I/O error): try again.
    Retry(String),
    /// The source version is gone: nothing to copy.
    Gone,
}

/// Where copies are made, and who may make them.
#[derive(Debug)]
pub struct Local<'a> {
    pub engine: &'a Engine,
    pub accounts: &'a Accounts,
    pub authorizer: &'a Authorizer,
}

impl Local<'_> {
    /// Copies the version of `entry` in `source` to `target`.
    pub fn replicate(&self, source: &str, entry: &Entry, target: &Target) -> Outcome {
        let version = match self.engine.version(source, &entry.key, entry.version) {
            Ok(version) => version,
            Err(Error::NoSuchVersion | Error::NoSuchBucket(_)) => return Outcome::Gone,
            Err(error) => return classify(error),
        };
        let action = if entry.delete_marker { "s3:ReplicateDelete" } else { "s3:ReplicateObject" };
        match self.permitted(source, &target.bucket, &entry.key, action) {
            Ok(true) => {}
            Ok(false) => return Outcome::Refused(format!("{action} on {} is not allowed", target.bucket)),
            Err(error) => return classify(error),
        }
        let result = match &version.kind {
            VersionKind::DeleteMarker { last_modified_ms } => self.marker(entry, target, *last_modified_ms),
            VersionKind::Object(info) => self.object(source, entry, target, version.clone(), info.clone()),
        };
        result.unwrap_or_else(classify)
    }

    /// Whether the source bucket's owner may make `action` on `destination`: its own bucket,
    /// unless the bucket's policy denies it; another account's, if the policy allows it.
    fn permitted(&self, source: &str, destination: &str, key: &str, action: &str) -> cairn_engine::Result<bool> {
        let source_owner = self.engine.head_bucket(source)?.owner;
        let destination_owner = self.engine.head_bucket(destination)?.owner;
        let account = self.accounts.owner_account(&source_owner);
        let decision = self.authorizer.policy(destination).map(|policy| {
            let resource = format!("arn:aws:s3:::{destination}/{key}");
            let request = Request {
                principal: account.map(|account| account.principal()),
                service: None,
                action,
                resource: &resource,
                context: &NoContext,
            };
            policy.evaluate(&request)
        });
        Ok(match decision {
            Some(Decision::Deny) => false,
            Some(Decision::Allow) => true,
            _ => self.accounts.canonical(&source_owner) == self.accounts.canonical(&destination_owner),
        })
    }

    fn marker(&self, entry: &Entry, target: &Target, last_modified_ms: u64) -> cairn_engine::Result<Outcome> {
        let extras = WriteExtras { replica: replica(entry.version, last_modified_ms), ..Default::default() };
        self.engine.delete_object_with(&target.bucket, &entry.key, None, false, extras)?;
        Ok(Outcome::Replicated { bytes: 0 })
    }

    fn object(
        &self,
        source: &str,
        entry: &Entry,
        target: &Target,
        version: Version,
        info: std::sync::Arc<ObjectInfo>,
    ) -> cairn_engine::Result<Outcome> {
        if info.attributes.encryption.as_ref().is_some_and(|e| e.mode == SseMode::Customer) {
            return Ok(Outcome::Refused("an SSE-C source cannot be read without its customer's key".into()));
        }
        let attributes = self.replica_attributes(source, &info, target)?;
        let sse = replica_sse(&info, target);
        let replica = replica(entry.version, info.last_modified_ms);
        match &info.layout {
            Layout::Extents(_) => {
                let mut writer = self.engine.put_object(&target.bucket, &entry.key, attributes)?;
                if let Some(replica) = replica {
                    writer.set_replica(replica);
                }
                if let Some(sse) = &sse {
                    writer.set_encryption(sse)?;
                }
                if let Some(checksum) = &info.checksum {
                    writer.set_checksum(checksum.clone());
                }
                for chunk in self.engine.read_version(source, &entry.key, version, info.clone(), None, None)? {
                    writer.write(&chunk?)?;
                }
                writer.finish()?;
            }
            Layout::Parts(parts) => {
                let spec =
                    info.checksum.as_ref().map(|c| cairn_engine::ChecksumSpec { algorithm: c.algorithm, kind: c.kind });
                let upload =
                    self.engine.create_upload_with(&target.bucket, &entry.key, attributes, spec, sse.as_ref())?;
                let done = self.parts(source, entry, target, (version, &info), parts, upload, replica);
                if done.is_err() {
                    let _ = self.engine.abort_upload(&target.bucket, &entry.key, upload);
                }
                done?;
            }
        }
        Ok(Outcome::Replicated { bytes: info.size })
    }

    /// Copies a multipart source's parts into `upload` and completes it as the replica.
    #[allow(clippy::too_many_arguments)]
    fn parts(
        &self,
        source: &str,
        entry: &Entry,
        target: &Target,
        (version, info): (Version, &std::sync::Arc<ObjectInfo>),
        parts: &[cairn_engine::PartLayout],
        upload: cairn_engine::UploadId,
        replica: Option<Replica>,
    ) -> cairn_engine::Result<()> {
        let (bucket, key) = (target.bucket.as_str(), entry.key.as_str());
        let mut completed = Vec::with_capacity(parts.len());
        let mut first = 0u64;
        for part in parts {
            let mut writer = self.engine.upload_part(bucket, key, upload, part.number)?;
            if part.size > 0 {
                let range = ByteRange::From { first, last: Some(first + part.size - 1) };
                for chunk in self.engine.read_version(source, key, version.clone(), info.clone(), Some(range), None)? {
                    writer.write(&chunk?)?;
                }
            }
            if let Some(checksum) = &part.checksum {
                writer.set_checksum(checksum.clone());
            }
            completed.push(CompletedPart { number: part.number, etag_md5: writer.finish()? });
            first += part.size;
        }
        let (extras, checksum) = (WriteExtras { replica, ..Default::default() }, info.checksum.clone());
        let condition = cairn_engine::PutCondition::None;
        self.engine.complete_upload_with(bucket, key, upload, &completed, condition, extras, |_, _| Ok(checksum))?;
        Ok(())
    }

    /// The replica's attributes: the source's, in the destination's storage class if the rule
    /// names one. It is owned by the destination bucket's owner, with no grants of its own,
    /// under `AccessControlTranslation` or where the destination enforces its ownership (ACLs
    /// disabled, S3's default); otherwise by the source's owner, with the source's ACL.
    fn replica_attributes(
        &self,
        source: &str,
        info: &ObjectInfo,
        target: &Target,
    ) -> cairn_engine::Result<ObjectAttributes> {
        let mut attributes = info.attributes.clone();
        attributes.replication = None;
        if let Some(class) = target.storage_class.as_deref().and_then(StorageClass::parse) {
            attributes.storage_class = class;
        }
        let destination = self.engine.bucket_access(&target.bucket, [crate::acl::OWNERSHIP])?;
        let [ownership] = &destination.configs;
        let enforced = !crate::acl::Ownership::stored(ownership.as_deref()).acls_enabled();
        // An empty owner is the bucket's own: the source bucket's owner, by name, here.
        let owner = match attributes.owner.as_str() {
            "" => self.accounts.canonical(&self.engine.head_bucket(source)?.owner),
            owner => owner.to_owned(),
        };
        if target.owner_is_destination || enforced || owner == self.accounts.canonical(&destination.owner) {
            (attributes.owner, attributes.acl) = (String::new(), Vec::new());
        } else {
            attributes.owner = owner;
        }
        Ok(attributes)
    }
}

/// The replica of a non-null source version (a null one has no id to keep, and replicates
/// as a new version of the destination's own).
fn replica(version: VersionId, last_modified_ms: u64) -> Option<Replica> {
    match version {
        VersionId::Id(version) => Some(Replica { version, last_modified_ms }),
        VersionId::Null => None,
    }
}

/// How the replica is encrypted: as its source (SSE-S3), under the rule's replica KMS key
/// (SSE-KMS and DSSE-KMS), or not at all.
fn replica_sse(info: &ObjectInfo, target: &Target) -> Option<Sse> {
    let encryption = info.attributes.encryption.as_ref()?;
    match encryption.mode {
        SseMode::S3 => Some(Sse::S3),
        SseMode::Kms | SseMode::KmsDsse => Some(Sse::Kms {
            key: target.kms_key.clone(),
            context: encryption.context.clone(),
            bucket_key: encryption.bucket_key,
            dsse: encryption.mode == SseMode::KmsDsse,
        }),
        SseMode::Customer => None,
    }
}

/// Whether an engine error refuses the copy for good or may pass.
fn classify(error: Error) -> Outcome {
    match error {
        Error::Io(_) | Error::OutboxFull { .. } | Error::WriteInterrupted | Error::Closed => {
            Outcome::Retry(error.to_string())
        }
        other => Outcome::Refused(other.to_string()),
    }
}
