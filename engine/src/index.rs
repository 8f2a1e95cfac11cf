//! The in-memory index: buckets, each key's version chain, multipart uploads in progress.
//!
//! Only the log writer (and recovery, before the writer starts) mutates it, applying records in
//! log order through `apply`; readers and listings use lock-free skip lists and never block it.
//! `apply` is a deterministic function of the index and the record, so replaying the log
//! rebuilds exactly the state the running engine had: a record that `apply` rejects (say, a put
//! into a bucket deleted while the body streamed) is rejected the same way on replay.
//! docs/design.md, "Index" and "Versioning rules".

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::format::records::{Mutation, ObjectPut, PutCondition, RecordLayout};
use crate::limits;
use crate::types::{
    Checksum, ChecksumSpec, Layout, ObjectAttributes, ObjectInfo, PartLayout, Seq, UploadId, Version, VersionId,
    VersionKind, VersioningState,
};

/// A key's versions, newest first.
pub(crate) type Chain = Arc<Vec<Version>>;

/// A multipart upload in progress.
#[derive(Debug)]
pub(crate) struct UploadState {
    pub key: String,
    pub id: UploadId,
    pub initiated_ms: u64,
    pub attributes: ObjectAttributes,
    pub checksum: Option<ChecksumSpec>,
    pub parts: RwLock<BTreeMap<u32, Arc<PartLayout>>>,
}

/// A completed upload, as a repeated completion answers it.
#[derive(Debug)]
pub(crate) struct CompletedUpload {
    pub key: String,
    pub version: VersionId,
    pub size: u64,
    pub etag_md5: [u8; 16],
    pub parts: u32,
    pub checksum: Option<Checksum>,
}

/// The completed uploads a bucket remembers, oldest first, at most
/// `limits::COMPLETED_UPLOADS_REMEMBERED_MAX`.
#[derive(Debug, Default)]
pub(crate) struct CompletedUploads {
    by_id: std::collections::HashMap<u64, Arc<CompletedUpload>>,
    order: std::collections::VecDeque<u64>,
}

impl CompletedUploads {
    fn remember(&mut self, id: UploadId, done: CompletedUpload) {
        if self.order.len() >= limits::COMPLETED_UPLOADS_REMEMBERED_MAX
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(id.0);
        self.by_id.insert(id.0, Arc::new(done));
        debug_assert_eq!(self.order.len(), self.by_id.len());
    }
}

/// One bucket.
#[derive(Debug)]
pub(crate) struct BucketState {
    pub name: String,
    pub region: String,
    pub created_ms: u64,
    /// The owning account's canonical id (empty: the root account).
    pub owner: String,
    versioning: AtomicU8,
    pub configs: RwLock<BTreeMap<String, Arc<[u8]>>>,
    pub objects: SkipMap<Vec<u8>, Chain>,
    /// Uploads by (key, upload id): S3 lists them by key, then by initiation order.
    pub uploads: SkipMap<(Vec<u8>, u64), Arc<UploadState>>,
    /// Upload id to key, for lookups by id.
    pub upload_keys: SkipMap<u64, Vec<u8>>,
    /// Uploads completed lately (rebuilt by replay like the rest of the index).
    completed: RwLock<CompletedUploads>,
}

impl BucketState {
    pub fn versioning(&self) -> VersioningState {
        VersioningState::from_byte(self.versioning.load(Ordering::Acquire)).expect("only valid states are stored")
    }

    pub fn upload(&self, id: UploadId) -> Option<Arc<UploadState>> {
        let key = self.upload_keys.get(&id.0)?.value().clone();
        Some(self.uploads.get(&(key, id.0))?.value().clone())
    }

    pub fn completed(&self, id: UploadId) -> Option<Arc<CompletedUpload>> {
        self.completed.read().by_id.get(&id.0).cloned()
    }

    pub fn chain(&self, key: &str) -> Option<Chain> {
        self.objects.get(key.as_bytes()).map(|entry| entry.value().clone())
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.uploads.is_empty()
    }
}

/// What applying a record did, for the writer that asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    Version(VersionId),
    /// A delete: the version it removed or created, and whether that is a delete marker.
    Deleted {
        version: Option<VersionId>,
        delete_marker: bool,
    },
    Upload(UploadId),
}

/// Account configuration documents by (account, name).
pub(crate) type AccountConfigs = HashMap<(String, String), Arc<[u8]>>;

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub buckets: SkipMap<String, Arc<BucketState>>,
    /// Accounts' configuration documents, by (account, name).
    pub account_configs: RwLock<AccountConfigs>,
}

fn too_many_configs() -> Error {
    Error::InvalidArgument(format!("a bucket holds at most {} configuration records", limits::BUCKET_CONFIGS_MAX))
}

impl Index {
    pub fn bucket(&self, name: &str) -> Result<Arc<BucketState>> {
        self.buckets.get(name).map(|entry| entry.value().clone()).ok_or_else(|| Error::NoSuchBucket(name.to_owned()))
    }

    /// Applies one record. Errors are deterministic rejections: the record changes nothing.
    pub fn apply(&self, seq: Seq, mutation: &Mutation) -> Result<Applied> {
        match mutation {
            Mutation::BucketCreate { name, region, created_ms, owner, configs } => {
                if self.buckets.contains_key(name) {
                    return Err(Error::BucketAlreadyExists(name.clone()));
                }
                if self.buckets.len() >= limits::BUCKETS_MAX {
                    return Err(Error::TooManyBuckets { limit: limits::BUCKETS_MAX });
                }
                if configs.len() > limits::BUCKET_CONFIGS_MAX {
                    return Err(too_many_configs());
                }
                let bucket = BucketState {
                    name: name.clone(),
                    region: region.clone(),
                    created_ms: *created_ms,
                    owner: owner.clone(),
                    versioning: AtomicU8::new(VersioningState::Unversioned.to_byte()),
                    configs: RwLock::new(
                        configs.iter().map(|(name, value)| (name.clone(), Arc::from(value.as_slice()))).collect(),
                    ),
                    objects: SkipMap::new(),
                    uploads: SkipMap::new(),
                    upload_keys: SkipMap::new(),
                    completed: RwLock::default(),
                };
                self.buckets.insert(name.clone(), Arc::new(bucket));
                Ok(Applied::Done)
            }
            Mutation::BucketDelete { name } => {
                if !self.bucket(name)?.is_empty() {
                    return Err(Error::BucketNotEmpty(name.clone()));
                }
                self.buckets.remove(name);
                Ok(Applied::Done)
            }
            Mutation::BucketConfigPut { bucket, name, value } => {
                let bucket = self.bucket(bucket)?;
                let mut configs = bucket.configs.write();
                if !configs.contains_key(name) && configs.len() >= limits::BUCKET_CONFIGS_MAX {
                    return Err(too_many_configs());
                }
                configs.insert(name.clone(), Arc::from(value.as_slice()));
                Ok(Applied::Done)
            }
            Mutation::AccountConfigPut { account, name, value } => {
                let mut configs = self.account_configs.write();
                let key = (account.clone(), name.clone());
                if !configs.contains_key(&key) && configs.len() >= limits::ACCOUNT_CONFIGS_MAX {
                    return Err(Error::InvalidArgument(format!(
                        "the store holds at most {} account configuration records",
                        limits::ACCOUNT_CONFIGS_MAX
                    )));
                }
                configs.insert(key, Arc::from(value.as_slice()));
                Ok(Applied::Done)
            }
            Mutation::AccountConfigDelete { account, name } => {
                self.account_configs.write().remove(&(account.clone(), name.clone()));
                Ok(Applied::Done)
            }
            Mutation::BucketConfigDelete { bucket, name } => {
                self.bucket(bucket)?.configs.write().remove(name);
                Ok(Applied::Done)
            }
            Mutation::BucketVersioning { bucket, state } => {
                if *state == VersioningState::Unversioned {
                    return Err(Error::InvalidArgument("versioning can only be enabled or suspended".into()));
                }
                self.bucket(bucket)?.versioning.store(state.to_byte(), Ordering::Release);
                Ok(Applied::Done)
            }
            Mutation::ObjectPut(put) => self.apply_object_put(seq, put),
            Mutation::ObjectDelete { bucket, key, last_modified_ms } => {
                let bucket = self.bucket(bucket)?;
                let marker =
                    |id| Version { seq, id, kind: VersionKind::DeleteMarker { last_modified_ms: *last_modified_ms } };
                match bucket.versioning() {
                    VersioningState::Unversioned => {
                        let removed = remove_version(&bucket, key, VersionId::Null);
                        Ok(Applied::Deleted { version: removed.map(|_| VersionId::Null), delete_marker: false })
                    }
                    VersioningState::Enabled => {
                        push_version(&bucket, key, marker(VersionId::Id(seq)))?;
                        Ok(Applied::Deleted { version: Some(VersionId::Id(seq)), delete_marker: true })
                    }
                    VersioningState::Suspended => {
                        push_version(&bucket, key, marker(VersionId::Null))?;
                        Ok(Applied::Deleted { version: Some(VersionId::Null), delete_marker: true })
                    }
                }
            }
            Mutation::VersionDelete { bucket, key, version } => {
                let bucket = self.bucket(bucket)?;
                let removed = remove_version(&bucket, key, *version).ok_or(Error::NoSuchVersion)?;
                Ok(Applied::Deleted { version: Some(*version), delete_marker: removed.is_delete_marker() })
            }
            Mutation::UploadCreate { bucket, key, initiated_ms, attributes, checksum } => {
                let bucket = self.bucket(bucket)?;
                if bucket.uploads.len() >= limits::UPLOADS_PER_BUCKET_MAX {
                    return Err(Error::TooManyUploads { limit: limits::UPLOADS_PER_BUCKET_MAX });
                }
                let upload = UploadState {
                    key: key.clone(),
                    id: UploadId(seq),
                    initiated_ms: *initiated_ms,
                    attributes: (**attributes).clone(),
                    checksum: *checksum,
                    parts: RwLock::default(),
                };
                bucket.upload_keys.insert(seq, key.as_bytes().to_vec());
                bucket.uploads.insert((key.as_bytes().to_vec(), seq), Arc::new(upload));
                Ok(Applied::Upload(UploadId(seq)))
            }
            Mutation::PartPut { bucket, upload, number, size, md5, last_modified_ms, extents, checksum } => {
                let upload = self.bucket(bucket)?.upload(*upload).ok_or(Error::NoSuchUpload)?;
                let part = PartLayout {
                    number: *number,
                    last_modified_ms: *last_modified_ms,
                    seq,
                    size: *size,
                    md5: *md5,
                    extents: Arc::from(extents.as_slice()),
                    checksum: checksum.clone(),
                };
                upload.parts.write().insert(*number, Arc::new(part));
                Ok(Applied::Done)
            }
            Mutation::UploadAbort { bucket, upload } => {
                let bucket = self.bucket(bucket)?;
                let state = bucket.upload(*upload).ok_or(Error::NoSuchUpload)?;
                remove_upload(&bucket, &state);
                Ok(Applied::Done)
            }
            Mutation::TagsPut { bucket, key, version, tags } => {
                self.update_version(bucket, key, *version, |info| info.attributes.tags = tags.clone())
            }
            Mutation::AclPut { bucket, key, version, acl } => {
                self.update_version(bucket, key, *version, |info| info.attributes.acl = acl.clone())
            }
            Mutation::RestorePut { bucket, key, version, until_ms } => {
                self.update_version(bucket, key, *version, |info| info.restored_until_ms = *until_ms)
            }
        }
    }

    /// Changes one object version in place (its tags, its ACL, its restored copy).
    fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionId,
        change: impl FnOnce(&mut ObjectInfo),
    ) -> Result<Applied> {
        let bucket = self.bucket(bucket)?;
        let old = bucket.chain(key).ok_or(Error::NoSuchVersion)?;
        let mut chain = Vec::clone(&old);
        let entry = chain.iter_mut().find(|v| v.id == version).ok_or(Error::NoSuchVersion)?;
        let VersionKind::Object(info) = &entry.kind else {
            return Err(Error::VersionIsDeleteMarker { version });
        };
        let mut updated = ObjectInfo::clone(info);
        change(&mut updated);
        entry.kind = VersionKind::Object(Arc::new(updated));
        bucket.objects.insert(key.as_bytes().to_vec(), Arc::new(chain));
        Ok(Applied::Done)
    }

    fn apply_object_put(&self, seq: Seq, put: &ObjectPut) -> Result<Applied> {
        let bucket = self.bucket(&put.bucket)?;
        check_condition(&bucket, &put.key, put.condition)?;
        let (layout, upload) = match &put.layout {
            RecordLayout::Extents(extents) => (Layout::Extents(Arc::from(extents.as_slice())), None),
            RecordLayout::Parts(wanted) => {
                let upload_id = put.upload.ok_or(Error::NoSuchUpload)?;
                let upload = bucket.upload(upload_id).ok_or(Error::NoSuchUpload)?;
                if upload.key != put.key {
                    return Err(Error::NoSuchUpload);
                }
                let parts = upload.parts.read();
                let mut layout = Vec::with_capacity(wanted.len());
                for (number, part_seq) in wanted {
                    match parts.get(number) {
                        Some(part) if part.seq == *part_seq => layout.push(PartLayout::clone(part)),
                        _ => return Err(Error::InvalidPart { part_number: *number }),
                    }
                }
                drop(parts);
                (Layout::Parts(Arc::from(layout)), Some(upload))
            }
        };
        let id = if bucket.versioning().writes_null() { VersionId::Null } else { VersionId::Id(seq) };
        let info = ObjectInfo {
            size: put.size,
            etag_md5: put.etag_md5,
            last_modified_ms: put.last_modified_ms,
            attributes: put.attributes.clone(),
            layout,
            checksum: put.checksum.clone(),
            restored_until_ms: 0,
        };
        let parts = info.parts_count().unwrap_or(0);
        push_version(&bucket, &put.key, Version { seq, id, kind: VersionKind::Object(Arc::new(info)) })?;
        if let Some(upload) = upload {
            remove_upload(&bucket, &upload);
            let done = CompletedUpload {
                key: put.key.clone(),
                version: id,
                size: put.size,
                etag_md5: put.etag_md5,
                parts,
                checksum: put.checksum.clone(),
            };
            bucket.completed.write().remember(upload.id, done);
        }
        Ok(Applied::Version(id))
    }
}

/// Whether a conditional write may take effect on `key` now.
fn check_condition(bucket: &BucketState, key: &str, condition: PutCondition) -> Result<()> {
    let current = bucket.chain(key).and_then(|chain| match &chain[0].kind {
        VersionKind::Object(info) => Some(info.clone()),
        VersionKind::DeleteMarker { .. } => None,
    });
    let holds = match condition {
        PutCondition::None => true,
        PutCondition::IfNoneMatch => current.is_none(),
        // S3: If-Match on a key with no current object (or a delete marker) is 404, not 412.
        PutCondition::IfMatch { .. } if current.is_none() => return Err(Error::NoSuchKey { delete_marker: None }),
        PutCondition::IfMatch { etag_md5, parts } => {
            current.is_some_and(|info| info.etag_md5 == etag_md5 && info.parts_count().unwrap_or(0) == parts)
        }
    };
    if holds { Ok(()) } else { Err(Error::PreconditionFailed) }
}

/// Makes `version` the newest of `key`, replacing the null version if `version` is null.
fn push_version(bucket: &BucketState, key: &str, version: Version) -> Result<()> {
    let old = bucket.chain(key);
    let mut chain = Vec::with_capacity(old.as_ref().map_or(1, |chain| chain.len() + 1));
    chain.push(version);
    let replaces_null = chain[0].id == VersionId::Null;
    if let Some(old) = old {
        chain.extend(old.iter().filter(|v| !(replaces_null && v.id == VersionId::Null)).cloned());
    }
    if chain.len() > limits::VERSIONS_PER_KEY_MAX {
        return Err(Error::TooManyVersions { limit: limits::VERSIONS_PER_KEY_MAX });
    }
    debug_assert!(chain.windows(2).all(|pair| pair[0].seq > pair[1].seq), "chain is newest first");
    bucket.objects.insert(key.as_bytes().to_vec(), Arc::new(chain));
    Ok(())
}

/// Removes one version of `key`; the next newest becomes current.
fn remove_version(bucket: &BucketState, key: &str, id: VersionId) -> Option<Version> {
    let old = bucket.chain(key)?;
    let position = old.iter().position(|v| v.id == id)?;
    let mut chain = Vec::clone(&old);
    let removed = chain.remove(position);
    if chain.is_empty() {
        bucket.objects.remove(key.as_bytes());
    } else {
        bucket.objects.insert(key.as_bytes().to_vec(), Arc::new(chain));
    }
    Some(removed)
}

fn remove_upload(bucket: &BucketState, upload: &UploadState) {
    bucket.uploads.remove(&(upload.key.as_bytes().to_vec(), upload.id.0));
    bucket.upload_keys.remove(&upload.id.0);
}
