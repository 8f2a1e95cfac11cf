//! The in-memory index: buckets, each key's version chain, multipart uploads in progress.
//!
//! Only the log writer (and recovery, before the writer starts) mutates it, applying records in
//! log order through `apply`; readers and listings use lock-free skip lists and never block it.
//! `apply` is a deterministic function of the index and the record, so replaying the log
//! rebuilds exactly the state the running engine had: a record that `apply` rejects (say, a put
//! into a bucket deleted while the body streamed) is rejected the same way on replay.
//! docs/design.md, "Index" and "Versioning rules".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crossbeam_skiplist::SkipMap;
use parking_lot::{Mutex, RwLock};

use crate::checkpoint::BaseObjects;
use crate::error::{Error, Result};
use crate::format::RECORD_HEADER_BYTES;
use crate::format::records::{ChunkMove, ChunkOwner, Mutation, ObjectPut, PutCondition, RecordLayout};
use crate::limits;
use crate::outbox::Notice;
use crate::types::{
    Checksum, ChecksumSpec, Extent, Layout, LockChange, OBJECT_LOCK_CONFIG, ObjectAttributes, ObjectInfo, ObjectLock,
    PartLayout, ReplicationStatus, SegmentId, Seq, UploadId, Version, VersionId, VersionKind, VersioningState,
};

/// A key's versions, newest first. An empty chain is a tombstone: in a layer of changes, the
/// key was removed since the layers below were written.
pub(crate) type Chain = Arc<Vec<Version>>;

/// Keys to chains: one layer of a bucket's objects.
pub(crate) type KeyMap = SkipMap<Vec<u8>, Chain>;

#[derive(Default)]
struct Layers {
    /// Changes since the last freeze; the log writer's.
    active: Arc<KeyMap>,
    /// Changes a checkpoint being written holds: frozen when it began, dropped once it is in place.
    frozen: Option<Arc<KeyMap>>,
    /// The keys of the checkpoint the store was opened from or last wrote, in its map.
    base: Option<Arc<BaseObjects>>,
}

/// A bucket's objects: changes in memory over the newest checkpoint's keys (mapped, decoded on
/// each read). Only the log writer changes it; readers never block it.
#[derive(Default)]
pub(crate) struct ObjectMap {
    layers: RwLock<Layers>,
    /// Keys with at least one version.
    keys: AtomicU64,
}

impl std::fmt::Debug for ObjectMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectMap").field("keys", &self.len()).finish()
    }
}

fn live(chain: &Chain) -> Option<Chain> {
    (!chain.is_empty()).then(|| chain.clone())
}

impl ObjectMap {
    pub fn with_base(base: Arc<BaseObjects>) -> ObjectMap {
        let keys = AtomicU64::new(base.keys());
        ObjectMap { layers: RwLock::new(Layers { base: Some(base), ..Layers::default() }), keys }
    }

    pub fn get(&self, key: &[u8]) -> Option<Chain> {
        let layers = self.layers.read();
        if let Some(entry) = layers.active.get(key) {
            return live(entry.value());
        }
        if let Some(entry) = layers.frozen.as_ref().and_then(|frozen| frozen.get(key)) {
            return live(entry.value());
        }
        layers.base.as_ref()?.get(key)
    }

    pub fn len(&self) -> u64 {
        self.keys.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the chain of `key` (non-empty); `new_key` if it had none.
    fn insert(&self, key: &[u8], chain: Chain, new_key: bool) {
        debug_assert!(!chain.is_empty());
        self.layers.read().active.insert(key.to_vec(), chain);
        if new_key {
            self.keys.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Removes `key` (which has a chain).
    fn remove(&self, key: &[u8]) {
        let layers = self.layers.read();
        if layers.frozen.is_some() || layers.base.is_some() {
            layers.active.insert(key.to_vec(), Arc::new(Vec::new()));
        } else {
            layers.active.remove(key);
        }
        self.keys.fetch_sub(1, Ordering::AcqRel);
    }

    /// Calls `visit` with each key from `lower` on that has versions, in key order, until it
    /// breaks.
    pub fn scan(&self, lower: Bound<&[u8]>, mut visit: impl FnMut(&[u8], &Chain) -> ControlFlow<()>) {
        let (active, frozen, base) = {
            let layers = self.layers.read();
            (layers.active.clone(), layers.frozen.clone(), layers.base.clone())
        };
        let range = (lower, Bound::Unbounded);
        let mut active = active.range::<[u8], _>(range).peekable();
        let mut frozen = frozen.as_deref().map(|map| map.range::<[u8], _>(range)).into_iter().flatten().peekable();
        let mut base = base.as_deref().map(|base| base.iter_from(lower)).into_iter().flatten().peekable();
        loop {
            let heads = [
                active.peek().map(|e| e.key().as_slice()),
                frozen.peek().map(|e| e.key().as_slice()),
                base.peek().map(|(key, _)| *key),
            ];
            let Some(key) = heads.into_iter().flatten().min().map(<[u8]>::to_vec) else { break };
            let mut chain = None;
            if let Some(entry) = active.next_if(|e| e.key().as_slice() == key.as_slice()) {
                chain = Some(entry.value().clone());
            }
            if let Some(entry) = frozen.next_if(|e| e.key().as_slice() == key.as_slice()) {
                chain = chain.or_else(|| Some(entry.value().clone()));
            }
            if let Some((_, raw)) = base.next_if(|(k, _)| *k == key.as_slice())
                && chain.is_none()
            {
                chain = crate::checkpoint::decode_chain_logged(raw);
            }
            if let Some(chain) = chain.filter(|chain| !chain.is_empty())
                && visit(&key, &chain).is_break()
            {
                break;
            }
        }
    }

    /// Starts a checkpoint: the changes so far become the frozen layer, a new one takes writes.
    /// `None` if a frozen layer is still waiting for its checkpoint.
    fn freeze(&self) -> Option<crate::checkpoint::BucketKeys> {
        let mut layers = self.layers.write();
        if layers.frozen.is_some() {
            return None;
        }
        let changes = std::mem::take(&mut layers.active);
        layers.frozen = Some(changes.clone());
        Some(crate::checkpoint::BucketKeys { changes, base: layers.base.clone() })
    }

    /// The checkpoint holding the frozen layer (and the base under it) is in place.
    fn install(&self, base: Arc<BaseObjects>) {
        let mut layers = self.layers.write();
        layers.frozen = None;
        layers.base = Some(base);
    }

    /// A failed checkpoint: the frozen layer goes back under the active one.
    fn thaw(&self) {
        let mut layers = self.layers.write();
        if let Some(frozen) = layers.frozen.take() {
            for entry in frozen.iter() {
                if !layers.active.contains_key(entry.key()) {
                    layers.active.insert(entry.key().clone(), entry.value().clone());
                }
            }
        }
    }

    /// Keys in memory (changes since the base was written) and in the base.
    pub fn layer_sizes(&self) -> (usize, u64) {
        let layers = self.layers.read();
        let changed = layers.active.len() + layers.frozen.as_ref().map_or(0, |frozen| frozen.len());
        (changed, layers.base.as_ref().map_or(0, |base| base.keys()))
    }
}

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// S3's MFA delete (kept by `BucketVersioning` records).
    mfa_delete: AtomicBool,
    pub configs: RwLock<BTreeMap<String, Arc<[u8]>>>,
    pub objects: ObjectMap,
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

    pub fn mfa_delete(&self) -> bool {
        self.mfa_delete.load(Ordering::Acquire)
    }

    /// Whether S3 Object Lock is enabled: the bucket has its `OBJECT_LOCK_CONFIG` document.
    pub fn object_lock(&self) -> bool {
        self.configs.read().contains_key(OBJECT_LOCK_CONFIG)
    }

    pub fn upload(&self, id: UploadId) -> Option<Arc<UploadState>> {
        let key = self.upload_keys.get(&id.0)?.value().clone();
        Some(self.uploads.get(&(key, id.0))?.value().clone())
    }

    pub fn completed(&self, id: UploadId) -> Option<Arc<CompletedUpload>> {
        self.completed.read().by_id.get(&id.0).cloned()
    }

    pub fn chain(&self, key: &str) -> Option<Chain> {
        self.objects.get(key.as_bytes())
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
    /// An outbox entry, by its id.
    Pushed(Seq),
}

/// Account configuration documents by (account, name).
pub(crate) type AccountConfigs = HashMap<(String, String), Arc<[u8]>>;

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub buckets: SkipMap<String, Arc<BucketState>>,
    /// Accounts' configuration documents, by (account, name).
    pub account_configs: RwLock<AccountConfigs>,
    /// Live chunk bytes (headers included) per segment: what the versions and upload parts in
    /// the index reference. Kept by `apply`, so replay rebuilds it exactly.
    pub usage: Mutex<BTreeMap<SegmentId, u64>>,
    /// Segments compaction retired: nothing references them, and a record that would is
    /// refused. Their files go once a checkpoint covers the retirement.
    pub retired: Mutex<BTreeSet<SegmentId>>,
    /// The outboxes' entries (`outbox.rs`).
    pub outboxes: Mutex<crate::outbox::Outboxes>,
}

/// The bytes a chunk reference keeps alive: its record, header included.
fn extent_bytes(extent: &Extent) -> u64 {
    RECORD_HEADER_BYTES as u64 + u64::from(extent.stored)
}

fn layout_extents(layout: &Layout) -> Box<dyn Iterator<Item = &Extent> + '_> {
    match layout {
        Layout::Extents(extents) => Box::new(extents.iter()),
        Layout::Parts(parts) => Box::new(parts.iter().flat_map(|part| part.extents.iter())),
    }
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
                    // A bucket created with Object Lock is versioned from the start.
                    versioning: AtomicU8::new(
                        if configs.iter().any(|(name, _)| name == OBJECT_LOCK_CONFIG) {
                            VersioningState::Enabled
                        } else {
                            VersioningState::Unversioned
                        }
                        .to_byte(),
                    ),
                    mfa_delete: AtomicBool::new(false),
                    configs: RwLock::new(
                        configs.iter().map(|(name, value)| (name.clone(), Arc::from(value.as_slice()))).collect(),
                    ),
                    objects: ObjectMap::default(),
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
                if name == OBJECT_LOCK_CONFIG && bucket.versioning() != VersioningState::Enabled {
                    return Err(Error::InvalidBucketState("Object Lock needs versioning enabled"));
                }
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
            Mutation::OutboxPush { outbox, payload } => self.outboxes.lock().push(seq, outbox, payload),
            Mutation::OutboxAck { outbox, through } => {
                self.outboxes.lock().ack(outbox, *through);
                Ok(Applied::Done)
            }
            Mutation::BucketConfigDelete { bucket, name } => {
                if name == OBJECT_LOCK_CONFIG {
                    return Err(Error::InvalidBucketState("Object Lock cannot be disabled"));
                }
                self.bucket(bucket)?.configs.write().remove(name);
                Ok(Applied::Done)
            }
            Mutation::BucketVersioning { bucket, state, mfa_delete } => {
                if *state == VersioningState::Unversioned {
                    return Err(Error::InvalidArgument("versioning can only be enabled or suspended".into()));
                }
                let bucket = self.bucket(bucket)?;
                if *state != VersioningState::Enabled && bucket.object_lock() {
                    return Err(Error::InvalidBucketState(
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    ));
                }
                bucket.versioning.store(state.to_byte(), Ordering::Release);
                if let Some(mfa_delete) = mfa_delete {
                    bucket.mfa_delete.store(*mfa_delete, Ordering::Release);
                }
                Ok(Applied::Done)
            }
            Mutation::ObjectPut(put) => self.apply_object_put(seq, put),
            Mutation::ObjectDelete { bucket, key, last_modified_ms, if_current, notices, replica } => {
                let bucket = self.bucket(bucket)?;
                if let Some(seq) = if_current
                    && bucket.chain(key).is_none_or(|chain| chain[0].seq != *seq)
                {
                    return Err(Error::PreconditionFailed);
                }
                let applied = self.apply_object_delete(seq, &bucket, key, *last_modified_ms, *replica)?;
                if let Applied::Deleted { version: Some(version), .. } = applied {
                    self.push_notices(seq, notices, version, 0, "-");
                }
                Ok(applied)
            }
            Mutation::ReplicationPut { bucket, key, version, status } => {
                self.update_version(bucket, key, *version, |info| info.attributes.replication = Some(*status))
            }
            Mutation::VersionDelete { bucket, key, version, at_ms, bypass_governance } => {
                let bucket = self.bucket(bucket)?;
                let chain = bucket.chain(key).ok_or(Error::NoSuchVersion)?;
                let found = chain.iter().find(|v| v.id == *version).ok_or(Error::NoSuchVersion)?;
                if let VersionKind::Object(info) = &found.kind
                    && info.attributes.lock.protects(*at_ms, *bypass_governance)
                {
                    return Err(Error::ObjectLocked);
                }
                let removed = remove_version(&bucket, key, *version).ok_or(Error::NoSuchVersion)?;
                self.sub_version(&removed);
                Ok(Applied::Deleted { version: Some(*version), delete_marker: removed.is_delete_marker() })
            }
            Mutation::UploadCreate { bucket, key, initiated_ms, attributes, checksum } => {
                let bucket = self.bucket(bucket)?;
                refuse_unlocked(&bucket, attributes)?;
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
                self.refuse_retired(extents)?;
                let part = PartLayout {
                    number: *number,
                    last_modified_ms: *last_modified_ms,
                    seq,
                    size: *size,
                    md5: *md5,
                    extents: Arc::from(extents.as_slice()),
                    checksum: checksum.clone(),
                };
                self.add_usage(part.extents.iter());
                if let Some(replaced) = upload.parts.write().insert(*number, Arc::new(part)) {
                    self.sub_usage(replaced.extents.iter());
                }
                Ok(Applied::Done)
            }
            Mutation::UploadAbort { bucket, upload } => {
                let bucket = self.bucket(bucket)?;
                let state = bucket.upload(*upload).ok_or(Error::NoSuchUpload)?;
                remove_upload(&bucket, &state);
                for part in state.parts.read().values() {
                    self.sub_usage(part.extents.iter());
                }
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
            Mutation::ClassPut { bucket, key, version, class } => {
                self.update_version(bucket, key, *version, |info| info.attributes.storage_class = *class)
            }
            Mutation::LockPut { bucket, key, version, change, at_ms, bypass_governance } => {
                if !self.bucket(bucket)?.object_lock() {
                    return Err(Error::InvalidBucketState("Bucket is missing Object Lock Configuration"));
                }
                self.try_update_version(bucket, key, *version, |info| {
                    let lock = &mut info.attributes.lock;
                    match *change {
                        LockChange::LegalHold(on) => lock.legal_hold = Some(on),
                        LockChange::Retention(new) => {
                            if !lock.allows_retention(new, *at_ms, *bypass_governance) {
                                return Err(Error::ObjectLocked);
                            }
                            lock.retention = new;
                        }
                    }
                    Ok(())
                })
            }
            Mutation::Compact { moves, retire } => {
                let mut rest = &moves[..];
                while let Some(first) = rest.first() {
                    let same = rest.iter().take_while(|m| m.bucket == first.bucket && m.owner == first.owner).count();
                    self.apply_moves(&rest[..same]);
                    rest = &rest[same..];
                }
                let usage = self.usage.lock();
                let mut retired = self.retired.lock();
                for id in retire {
                    if !usage.contains_key(id) {
                        retired.insert(*id);
                    }
                }
                Ok(Applied::Done)
            }
        }
    }

    fn add_usage<'a>(&self, extents: impl Iterator<Item = &'a Extent>) {
        let mut usage = self.usage.lock();
        for extent in extents {
            *usage.entry(extent.location.segment).or_default() += extent_bytes(extent);
        }
    }

    fn sub_usage<'a>(&self, extents: impl Iterator<Item = &'a Extent>) {
        let mut usage = self.usage.lock();
        for extent in extents {
            let segment = extent.location.segment;
            if let Some(live) = usage.get_mut(&segment) {
                *live = live.saturating_sub(extent_bytes(extent));
                if *live == 0 {
                    usage.remove(&segment);
                }
            }
        }
    }

    fn sub_version(&self, version: &Version) {
        if let VersionKind::Object(info) = &version.kind {
            self.sub_usage(layout_extents(&info.layout));
        }
    }

    /// A commit referencing a retired segment's chunks is refused: they may be gone.
    fn refuse_retired(&self, extents: &[Extent]) -> Result<()> {
        let retired = self.retired.lock();
        if !retired.is_empty() && extents.iter().any(|extent| retired.contains(&extent.location.segment)) {
            return Err(Error::WriteInterrupted);
        }
        Ok(())
    }

    /// Points one owner's references at compaction's copies. A move whose owner or chunk is gone
    /// (overwritten, deleted, completed since compaction looked) changes nothing.
    fn apply_moves(&self, moves: &[ChunkMove]) {
        let Ok(bucket) = self.bucket(&moves[0].bucket) else { return };
        let to: HashMap<_, _> = moves.iter().map(|m| (m.from, m.to)).collect();
        let mut moved = Vec::new();
        let mut relocate = |extents: &Arc<[Extent]>| -> Option<Arc<[Extent]>> {
            if !extents.iter().any(|extent| to.contains_key(&extent.location)) {
                return None;
            }
            let next: Vec<Extent> = extents
                .iter()
                .map(|extent| match to.get(&extent.location) {
                    Some(copy) if copy.len == extent.len && copy.stored == extent.stored => {
                        moved.push((*extent, *copy));
                        *copy
                    }
                    _ => *extent,
                })
                .collect();
            Some(Arc::from(next))
        };
        match &moves[0].owner {
            ChunkOwner::Version { key, version } => {
                let Some(old) = bucket.chain(key) else { return };
                let mut chain = Vec::clone(&old);
                let Some(entry) = chain.iter_mut().find(|v| v.id == *version) else { return };
                let VersionKind::Object(info) = &entry.kind else { return };
                let layout = match &info.layout {
                    Layout::Extents(extents) => relocate(extents).map(Layout::Extents),
                    Layout::Parts(parts) => {
                        let mut changed = false;
                        let parts: Vec<PartLayout> = parts
                            .iter()
                            .map(|part| match relocate(&part.extents) {
                                Some(extents) => {
                                    changed = true;
                                    PartLayout { extents, ..part.clone() }
                                }
                                None => part.clone(),
                            })
                            .collect();
                        changed.then(|| Layout::Parts(Arc::from(parts)))
                    }
                };
                let Some(layout) = layout else { return };
                entry.kind = VersionKind::Object(Arc::new(ObjectInfo { layout, ..ObjectInfo::clone(info) }));
                bucket.objects.insert(key.as_bytes(), Arc::new(chain), false);
            }
            ChunkOwner::Part { upload, number } => {
                let Some(upload) = bucket.upload(*upload) else { return };
                let mut parts = upload.parts.write();
                let Some(part) = parts.get(number) else { return };
                let Some(extents) = relocate(&part.extents) else { return };
                let part = PartLayout { extents, ..PartLayout::clone(part) };
                parts.insert(*number, Arc::new(part));
            }
        }
        self.sub_usage(moved.iter().map(|(from, _)| from));
        self.add_usage(moved.iter().map(|(_, to)| to));
    }

    /// Changes one object version in place (its tags, its ACL, its restored copy, its class).
    fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionId,
        change: impl FnOnce(&mut ObjectInfo),
    ) -> Result<Applied> {
        self.try_update_version(bucket, key, version, |info| {
            change(info);
            Ok(())
        })
    }

    /// `update_version` with a change that may refuse (and then changes nothing).
    fn try_update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionId,
        change: impl FnOnce(&mut ObjectInfo) -> Result<()>,
    ) -> Result<Applied> {
        let bucket = self.bucket(bucket)?;
        let old = bucket.chain(key).ok_or(Error::NoSuchVersion)?;
        let mut chain = Vec::clone(&old);
        let entry = chain.iter_mut().find(|v| v.id == version).ok_or(Error::NoSuchVersion)?;
        let VersionKind::Object(info) = &entry.kind else {
            return Err(Error::VersionIsDeleteMarker { version });
        };
        let mut updated = ObjectInfo::clone(info);
        change(&mut updated)?;
        entry.kind = VersionKind::Object(Arc::new(updated));
        bucket.objects.insert(key.as_bytes(), Arc::new(chain), false);
        Ok(Applied::Done)
    }

    /// A delete without a version id, as the bucket's versioning state says. A replica's
    /// marker keeps its source's id; one the key holds already changes nothing and is
    /// `Deleted { version: None, .. }`, so it makes no entries.
    fn apply_object_delete(
        &self,
        seq: Seq,
        bucket: &BucketState,
        key: &str,
        last_modified_ms: u64,
        replica: Option<Seq>,
    ) -> Result<Applied> {
        let marker = |id| Version { seq, id, kind: VersionKind::DeleteMarker { last_modified_ms } };
        if let Some(id) = replica {
            let id = VersionId::Id(id);
            return match replica_slot(bucket, key, id)? {
                Slot::Held(VersionKind::DeleteMarker { .. }) => {
                    Ok(Applied::Deleted { version: None, delete_marker: true })
                }
                Slot::Held(VersionKind::Object(_)) => Err(Error::VersionIdTaken { version: id }),
                Slot::Free => {
                    push_version(bucket, key, marker(id))?;
                    Ok(Applied::Deleted { version: Some(id), delete_marker: true })
                }
            };
        }
        match bucket.versioning() {
            VersioningState::Unversioned => {
                let removed = remove_version(bucket, key, VersionId::Null);
                if let Some(removed) = &removed {
                    self.sub_version(removed);
                }
                Ok(Applied::Deleted { version: removed.map(|_| VersionId::Null), delete_marker: false })
            }
            VersioningState::Enabled => {
                push_version(bucket, key, marker(VersionId::Id(seq)))?;
                Ok(Applied::Deleted { version: Some(VersionId::Id(seq)), delete_marker: true })
            }
            VersioningState::Suspended => {
                if let Some(replaced) = push_version(bucket, key, marker(VersionId::Null))? {
                    self.sub_version(&replaced);
                }
                Ok(Applied::Deleted { version: Some(VersionId::Null), delete_marker: true })
            }
        }
    }

    /// Pushes the entries of a write's notices, each with its id `seq` and the line
    /// `<version> <size> <etag>` in front. Past the outboxes' limits an entry is not made, as a
    /// push would be refused, and the same way on replay; the write stands.
    fn push_notices(&self, seq: Seq, notices: &[Notice], version: VersionId, size: u64, etag: &str) {
        if notices.is_empty() {
            return;
        }
        let mut outboxes = self.outboxes.lock();
        for notice in notices {
            let _ = outboxes.push(seq, &notice.outbox, &notice.entry(version, size, etag));
        }
    }

    fn apply_object_put(&self, seq: Seq, put: &ObjectPut) -> Result<Applied> {
        let bucket = self.bucket(&put.bucket)?;
        check_condition(&bucket, &put.key, put.condition)?;
        let id = match put.replica {
            None if bucket.versioning().writes_null() => VersionId::Null,
            None => VersionId::Id(seq),
            Some(replica) => match replica_slot(&bucket, &put.key, VersionId::Id(replica))? {
                Slot::Free => VersionId::Id(replica),
                // Sent again: the version is there already.
                Slot::Held(VersionKind::Object(held))
                    if held.attributes.replication == Some(ReplicationStatus::Replica) =>
                {
                    return Ok(Applied::Version(VersionId::Id(replica)));
                }
                Slot::Held(_) => return Err(Error::VersionIdTaken { version: VersionId::Id(replica) }),
            },
        };
        refuse_unlocked(&bucket, &put.attributes)?;
        let (layout, upload) = match &put.layout {
            RecordLayout::Extents(extents) => {
                self.refuse_retired(extents)?;
                (Layout::Extents(Arc::from(extents.as_slice())), None)
            }
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
        let info = Arc::new(info);
        let replaced = push_version(&bucket, &put.key, Version { seq, id, kind: VersionKind::Object(info.clone()) })?;
        if let Some(replaced) = &replaced {
            self.sub_version(replaced);
        }
        if let Layout::Extents(extents) = &info.layout {
            self.add_usage(extents.iter());
        }
        if let Some(upload) = upload {
            remove_upload(&bucket, &upload);
            // The upload's parts the object does not use are dropped with it.
            if let Layout::Parts(used) = &info.layout {
                for part in upload.parts.read().values() {
                    if !used.iter().any(|u| u.number == part.number && u.seq == part.seq) {
                        self.sub_usage(part.extents.iter());
                    }
                }
            }
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
        if !put.notices.is_empty() {
            self.push_notices(seq, &put.notices, id, put.size, &etag_of(&put.etag_md5, parts));
        }
        Ok(Applied::Version(id))
    }
}

/// Whether a replica's version id is free in `key`, or which version holds it.
enum Slot {
    Free,
    Held(VersionKind),
}

/// Where a replica with version id `id` goes: only into a bucket with versioning enabled
/// (`InvalidBucketState` otherwise), as S3's destinations must have it.
fn replica_slot(bucket: &BucketState, key: &str, id: VersionId) -> Result<Slot> {
    if bucket.versioning() != VersioningState::Enabled {
        return Err(Error::InvalidBucketState("The destination bucket must have versioning enabled."));
    }
    let held = bucket.chain(key).and_then(|chain| chain.iter().find(|v| v.id == id).map(|v| v.kind.clone()));
    Ok(held.map_or(Slot::Free, Slot::Held))
}

/// A version with an Object Lock state only goes into a bucket with Object Lock enabled.
pub(crate) fn refuse_unlocked(bucket: &BucketState, attributes: &ObjectAttributes) -> Result<()> {
    if attributes.lock != ObjectLock::default() && !bucket.object_lock() {
        return Err(Error::InvalidBucketState("Bucket is missing Object Lock Configuration"));
    }
    Ok(())
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
/// Returns the version replaced.
fn push_version(bucket: &BucketState, key: &str, version: Version) -> Result<Option<Version>> {
    let old = bucket.chain(key);
    let mut chain = Vec::with_capacity(old.as_ref().map_or(1, |chain| chain.len() + 1));
    chain.push(version);
    let replaces_null = chain[0].id == VersionId::Null;
    let mut replaced = None;
    if let Some(old) = &old {
        // A replica may have taken the id a write of this store gets (its source's seq).
        if !replaces_null && old.iter().any(|v| v.id == chain[0].id) {
            return Err(Error::VersionIdTaken { version: chain[0].id });
        }
        for v in old.iter() {
            if replaces_null && v.id == VersionId::Null {
                replaced = Some(v.clone());
            } else {
                chain.push(v.clone());
            }
        }
    }
    if chain.len() > limits::VERSIONS_PER_KEY_MAX {
        return Err(Error::TooManyVersions { limit: limits::VERSIONS_PER_KEY_MAX });
    }
    debug_assert!(chain.windows(2).all(|pair| pair[0].seq > pair[1].seq), "chain is newest first");
    bucket.objects.insert(key.as_bytes(), Arc::new(chain), old.is_none());
    Ok(replaced)
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
        bucket.objects.insert(key.as_bytes(), Arc::new(chain), false);
    }
    Some(removed)
}

fn remove_upload(bucket: &BucketState, upload: &UploadState) {
    bucket.uploads.remove(&(upload.key.as_bytes().to_vec(), upload.id.0));
    bucket.upload_keys.remove(&upload.id.0);
}

/// The index at one log position, being written as a checkpoint.
pub(crate) struct Snapshot {
    pub meta: crate::checkpoint::Meta,
    pub keys: Vec<crate::checkpoint::BucketKeys>,
    /// The buckets frozen, in `meta`'s order: their frozen layers give way to the checkpoint.
    buckets: Vec<Arc<BucketState>>,
}

impl Index {
    /// Freezes every bucket's changes and copies everything else: the index as it is now, for a
    /// checkpoint. Only the log writer calls it, between records. `None` while a frozen layer
    /// still waits for its checkpoint.
    pub fn freeze(&self) -> Option<Snapshot> {
        use crate::checkpoint::{BucketMeta, CompletedMeta, Meta, UploadMeta};
        let buckets: Vec<Arc<BucketState>> = self.buckets.iter().map(|entry| entry.value().clone()).collect();
        if buckets.iter().any(|bucket| bucket.objects.layers.read().frozen.is_some()) {
            return None;
        }
        let mut meta = Meta {
            buckets: Vec::with_capacity(buckets.len()),
            account_configs: self.account_configs.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            usage: self.usage.lock().clone(),
            retired: self.retired.lock().iter().copied().collect(),
            outboxes: self.outboxes.lock().entries(),
        };
        meta.account_configs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut keys = Vec::with_capacity(buckets.len());
        for bucket in &buckets {
            let completed = bucket.completed.read();
            meta.buckets.push(BucketMeta {
                name: bucket.name.clone(),
                region: bucket.region.clone(),
                created_ms: bucket.created_ms,
                owner: bucket.owner.clone(),
                versioning: bucket.versioning(),
                mfa_delete: bucket.mfa_delete(),
                configs: bucket.configs.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                completed: completed
                    .order
                    .iter()
                    .filter_map(|id| {
                        let done = completed.by_id.get(id)?;
                        Some(CompletedMeta { id: UploadId(*id), done: CompletedUpload::clone(done) })
                    })
                    .collect(),
                uploads: bucket
                    .uploads
                    .iter()
                    .map(|entry| {
                        let upload = entry.value();
                        UploadMeta {
                            key: upload.key.clone(),
                            id: upload.id,
                            initiated_ms: upload.initiated_ms,
                            attributes: upload.attributes.clone(),
                            checksum: upload.checksum,
                            parts: upload.parts.read().values().cloned().collect(),
                        }
                    })
                    .collect(),
                keys: 0,
                blocks: Vec::new(),
            });
            keys.push(bucket.objects.freeze().expect("no bucket was frozen"));
        }
        Some(Snapshot { meta, keys, buckets })
    }

    /// The checkpoint of `snapshot` is in place: each bucket frozen reads its keys from it.
    pub fn install(&self, snapshot: Snapshot, checkpoint: &crate::checkpoint::Checkpoint) {
        for (index, bucket) in snapshot.buckets.iter().enumerate() {
            bucket.objects.install(checkpoint.objects(index));
        }
    }

    /// Writing the checkpoint of `snapshot` failed: its frozen changes go back to the buckets.
    pub fn thaw(&self, snapshot: Snapshot) {
        for bucket in &snapshot.buckets {
            bucket.objects.thaw();
        }
    }

    /// The index a checkpoint holds.
    pub fn from_checkpoint(checkpoint: &crate::checkpoint::Checkpoint) -> Result<Index> {
        let index = Index::default();
        for (i, meta) in checkpoint.meta.buckets.iter().enumerate() {
            let bucket = BucketState {
                name: meta.name.clone(),
                region: meta.region.clone(),
                created_ms: meta.created_ms,
                owner: meta.owner.clone(),
                versioning: AtomicU8::new(meta.versioning.to_byte()),
                mfa_delete: AtomicBool::new(meta.mfa_delete),
                configs: RwLock::new(meta.configs.iter().cloned().collect()),
                objects: ObjectMap::with_base(checkpoint.objects(i)),
                uploads: SkipMap::new(),
                upload_keys: SkipMap::new(),
                completed: RwLock::default(),
            };
            for upload in &meta.uploads {
                let state = UploadState {
                    key: upload.key.clone(),
                    id: upload.id,
                    initiated_ms: upload.initiated_ms,
                    attributes: upload.attributes.clone(),
                    checksum: upload.checksum,
                    parts: RwLock::new(upload.parts.iter().map(|part| (part.number, part.clone())).collect()),
                };
                bucket.upload_keys.insert(upload.id.0, upload.key.as_bytes().to_vec());
                bucket.uploads.insert((upload.key.as_bytes().to_vec(), upload.id.0), Arc::new(state));
            }
            {
                let mut completed = bucket.completed.write();
                for done in &meta.completed {
                    completed.remember(done.id, done.done.clone());
                }
            }
            if index.buckets.contains_key(&meta.name) {
                return Err(Error::corruption(
                    checkpoint.position.resume.segment,
                    0,
                    "a checkpoint names a bucket twice",
                ));
            }
            index.buckets.insert(meta.name.clone(), Arc::new(bucket));
        }
        *index.account_configs.write() = checkpoint.meta.account_configs.iter().cloned().collect();
        *index.usage.lock() = checkpoint.meta.usage.clone();
        *index.retired.lock() = checkpoint.meta.retired.iter().copied().collect();
        *index.outboxes.lock() = crate::outbox::Outboxes::from_entries(&checkpoint.meta.outboxes);
        Ok(index)
    }

    /// Every chunk reference in the index: each owner with its extents (compaction looks for the
    /// ones in its victims; the scrub checks them all).
    pub fn for_each_reference(&self, mut visit: impl FnMut(&str, ChunkOwner, &[Extent])) {
        for entry in self.buckets.iter() {
            let bucket = entry.value();
            bucket.objects.scan(Bound::Unbounded, |key, chain| {
                let key = std::str::from_utf8(key).unwrap_or_default();
                for version in chain.iter() {
                    let VersionKind::Object(info) = &version.kind else { continue };
                    let owner = || ChunkOwner::Version { key: key.to_owned(), version: version.id };
                    match &info.layout {
                        Layout::Extents(extents) => visit(&bucket.name, owner(), extents),
                        Layout::Parts(parts) => {
                            for part in parts.iter() {
                                visit(&bucket.name, owner(), &part.extents);
                            }
                        }
                    }
                }
                ControlFlow::Continue(())
            });
            for upload in bucket.uploads.iter() {
                let upload = upload.value();
                for part in upload.parts.read().values() {
                    visit(&bucket.name, ChunkOwner::Part { upload: upload.id, number: part.number }, &part.extents);
                }
            }
        }
    }
}

/// An object's ETag as S3 prints it, unquoted: the MD5 digest, then `-<parts>` for a multipart
/// object.
fn etag_of(etag_md5: &[u8; 16], parts: u32) -> String {
    match parts {
        0 => crate::types::hex(etag_md5),
        parts => format!("{}-{parts}", crate::types::hex(etag_md5)),
    }
}
