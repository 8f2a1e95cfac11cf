//! Changes a lifecycle makes to a bucket's versions, many at a time: each is its own record, all
//! sent to the log writer before any is waited for, so a batch shares a few syncs instead of
//! paying one each, and a foreground write waits behind at most one batch. Each change is
//! conditioned on what it was decided from (the version still current, still there), and
//! checked as it applies like any other record: Object Lock refuses what it protects.

use crate::engine::{DeleteOutcome, Engine, wait};
use crate::error::{Error, Result};
use crate::format::records::Mutation;
use crate::index::Applied;
use crate::limits;
use crate::types::{Seq, StorageClass, UploadId, VersionId};

/// One change a lifecycle rule asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Expires the current version of `key`, if it is still the one of `seq`: a delete
    /// without a version id (a delete marker where versioning is on, as S3's expiration).
    Current { key: String, seq: Seq },
    /// Deletes one version for good (noncurrent expiration, an expired delete marker).
    Version { key: String, version: VersionId },
    /// Moves one version to another storage class (a transition).
    Transition { key: String, version: VersionId, class: StorageClass },
    /// Aborts an incomplete multipart upload.
    AbortUpload { upload: UploadId },
}

impl Engine {
    /// Applies up to `limits::EXPIRY_BATCH_MAX` changes to `bucket`, decided at `at_ms`; each
    /// answers on its own: what it did (the version removed or the marker made, as a delete's
    /// outcome; a transition or abort names no version), or why it did not apply
    /// (`PreconditionFailed` when the key changed since, `ObjectLocked`, `NoSuchVersion` ...).
    pub fn expire(&self, bucket: &str, changes: &[Expiry], at_ms: u64) -> Result<Vec<Result<DeleteOutcome>>> {
        if changes.len() > limits::EXPIRY_BATCH_MAX {
            return Err(Error::InvalidArgument(format!("at most {} changes at once", limits::EXPIRY_BATCH_MAX)));
        }
        self.bucket(bucket)?;
        let pending: Vec<_> = changes
            .iter()
            .map(|change| self.inner().send_commit(mutation(bucket, change, at_ms), None, None))
            .collect();
        Ok(pending
            .into_iter()
            .map(|sent| match sent.and_then(wait) {
                Ok(committed) => match committed.applied {
                    Applied::Done => Ok(DeleteOutcome { version: None, delete_marker: false, seq: committed.seq }),
                    Applied::Deleted { version, delete_marker } => {
                        Ok(DeleteOutcome { version, delete_marker, seq: committed.seq })
                    }
                    other => unreachable!("an expiry applied as {other:?}"),
                },
                Err(error) => Err(error),
            })
            .collect())
    }
}

fn mutation(bucket: &str, change: &Expiry, at_ms: u64) -> Mutation {
    let bucket = bucket.to_owned();
    match change {
        Expiry::Current { key, seq } => Mutation::ObjectDelete {
            bucket,
            key: key.clone(),
            last_modified_ms: at_ms,
            if_current: Some(*seq),
            notices: Vec::new(),
            replica: None,
        },
        Expiry::Version { key, version } => {
            Mutation::VersionDelete { bucket, key: key.clone(), version: *version, at_ms, bypass_governance: false }
        }
        Expiry::Transition { key, version, class } => {
            Mutation::ClassPut { bucket, key: key.clone(), version: *version, class: *class }
        }
        Expiry::AbortUpload { upload } => Mutation::UploadAbort { bucket, upload: *upload },
    }
}
