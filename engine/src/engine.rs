//! The engine's public API: buckets, objects, versions, multipart uploads, listings.
//!
//! Every change is a metadata record sent to the log writer, which makes it durable and applies
//! it to the index before the call returns: when a call returns `Ok`, its effect is durable and
//! visible to every later read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::body::{BodySink, ObjectReader};
use crate::compaction::{CompactionReport, Maintenance, SpaceReport, Upkeep};
use crate::error::{Error, Result};
use crate::format::records::{Mutation, ObjectPut, PutCondition, RecordLayout};
use crate::index::{Applied, BucketState, Index, refuse_unlocked};
use crate::io::{self, IoBackend, IoMode};
use crate::keyring::{Keyring, Sse};
use crate::limits;
use crate::list::{self, ListQuery, Page, PartPage, UploadEntry, UploadQuery, VersionEntry, VersionQuery};
use crate::queue::{Pending, oneshot};
use crate::recovery::{self, CheckpointInfo, RecoveryReport};
use crate::seal::{self, Sealer};
use crate::segment::Segments;
use crate::types::{
    Checksum, ChecksumSpec, LockChange, ObjectAttributes, ObjectInfo, PartLayout, ReplicationStatus, SegmentId, Seq,
    StorageClass, UploadId, Version, VersionId, VersionKind, VersioningState,
};
use crate::validate;
use crate::writer::{ChunkBuf, Committed, Request, WriterHandle, WriterStart};

/// File descriptors left for everything but segments (sockets, the lock file) when judging
/// whether the open-file limit is close.
const FDS_RESERVED: u64 = 256;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Which I/O backend to use.
    pub io: IoMode,
    /// Segments are sealed at this size (`SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX`).
    pub segment_bytes: u64,
    /// Smallest size of every part but the last at completion. S3's is 5 MiB; tests lower it.
    pub part_bytes_min: u64,
    /// The zstd level of chunks in the hot storage classes (STANDARD and its like); colder
    /// classes use higher ones (`StorageClass::compression_level`). 0 turns compression off.
    pub compression_level: i32,
    /// Run checkpoints and compaction in a background thread (off: only when called).
    pub background: bool,
    /// Bytes per second compaction's copies and checkpoint writes may take (0: no limit).
    pub compaction_bytes_per_sec: u64,
    /// Compaction runs while the sealed segments hold more than this many bytes per live byte.
    pub space_amplification_target: f64,
}

/// The default zstd level: zstd's fastest, which on text still saves most of what higher
/// levels do, and gives up quickly on data that does not compress (docs/benchmarks.md).
pub const COMPRESSION_LEVEL_DEFAULT: i32 = 1;

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            io: IoMode::Auto,
            segment_bytes: limits::SEGMENT_BYTES_DEFAULT,
            part_bytes_min: limits::PART_BYTES_MIN,
            compression_level: COMPRESSION_LEVEL_DEFAULT,
            background: true,
            compaction_bytes_per_sec: limits::COMPACTION_BYTES_PER_SEC_DEFAULT,
            space_amplification_target: limits::SPACE_AMPLIFICATION_TARGET_DEFAULT,
        }
    }
}

impl EngineConfig {
    fn validate(&self) -> Result<()> {
        if !(limits::SEGMENT_BYTES_MIN..=limits::SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return Err(Error::InvalidConfig(format!(
                "segment_bytes must be {} to {}",
                limits::SEGMENT_BYTES_MIN,
                limits::SEGMENT_BYTES_MAX
            )));
        }
        if self.part_bytes_min == 0 || self.part_bytes_min > limits::PART_BYTES_MAX {
            return Err(Error::InvalidConfig(format!("part_bytes_min must be 1 to {}", limits::PART_BYTES_MAX)));
        }
        if !(0..=seal::COMPRESSION_LEVEL_MAX).contains(&self.compression_level) {
            return Err(Error::InvalidConfig(format!(
                "compression_level must be 0 (off) to {}",
                seal::COMPRESSION_LEVEL_MAX
            )));
        }
        if !(1.0..=100.0).contains(&self.space_amplification_target) {
            return Err(Error::InvalidConfig("space_amplification_target must be 1 to 100".into()));
        }
        Ok(())
    }
}

/// A bucket as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub region: String,
    pub created_ms: u64,
    /// The owning account's canonical id; empty for buckets made by `create_bucket`.
    pub owner: String,
}

/// A bucket's owner and some of its configuration documents, read together
/// (`Engine::bucket_access`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketAccess<const N: usize> {
    /// As `BucketInfo::owner`.
    pub owner: String,
    /// The documents asked for, in the order asked.
    pub configs: [Option<Arc<[u8]>>; N],
}

/// What a completed PUT or multipart upload created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub version: VersionId,
    /// Quoted, as S3 prints it.
    pub etag: String,
    pub size: u64,
    /// The object's stored checksum.
    pub checksum: Option<Checksum>,
    /// The parts of a multipart object; `None` for a single PUT.
    pub parts: Option<u32>,
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version removed or the delete marker created; `None` if nothing existed.
    pub version: Option<VersionId>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
    /// The commit's sequence number, which orders the writes of a key (S3 events'
    /// `sequencer`); 0 if nothing was deleted.
    pub seq: Seq,
}

/// A replica's identity: the id and time of the source version it copies, which it keeps
/// (S3 replicas have their source's version id and last-modified time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica {
    /// The source's version id: a non-null id's number.
    pub version: Seq,
    pub last_modified_ms: u64,
}

/// What a write carries besides its object or delete marker: outbox entries committed with it
/// (see [`crate::Notice`]; at most `limits::NOTICES_MAX`), and, for a replica, its source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteExtras {
    pub notices: Vec<crate::outbox::Notice>,
    pub replica: Option<Replica>,
    /// The version's replication status, in place of its attributes' (a source's `PENDING`;
    /// a replica's is always `REPLICA`).
    pub status: Option<ReplicationStatus>,
}

impl WriteExtras {
    /// Adds a notice, checked (`InvalidArgument` past `limits::NOTICES_MAX` or a bad one).
    pub fn add_notice(&mut self, notice: crate::outbox::Notice) -> Result<()> {
        notice.check()?;
        if self.notices.len() >= limits::NOTICES_MAX {
            return Err(Error::InvalidArgument(format!("a write carries at most {} notices", limits::NOTICES_MAX)));
        }
        self.notices.push(notice);
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if self.notices.len() > limits::NOTICES_MAX {
            return Err(Error::InvalidArgument(format!("a write carries at most {} notices", limits::NOTICES_MAX)));
        }
        self.notices.iter().try_for_each(crate::outbox::Notice::check)?;
        if self.replica.is_some_and(|replica| replica.version == 0) {
            return Err(Error::InvalidArgument("a replica's version id is not null".into()));
        }
        Ok(())
    }

    /// The time the version is recorded with: the source's for a replica, now otherwise.
    fn last_modified_ms(&self) -> u64 {
        self.replica.map_or_else(now_ms, |replica| replica.last_modified_ms)
    }

    /// The replication status of a version whose attributes say `attributes`.
    fn status(&self, attributes: Option<ReplicationStatus>) -> Option<ReplicationStatus> {
        if self.replica.is_some() { Some(ReplicationStatus::Replica) } else { self.status.or(attributes) }
    }
}

/// A part named in CompleteMultipartUpload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub number: u32,
    pub etag_md5: [u8; 16],
}

/// A byte range of an object, as an HTTP `Range` header names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (`last` inclusive) or `bytes=first-`.
    From { first: u64, last: Option<u64> },
    /// `bytes=-len`: the last `len` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The range as `[start, end)` within an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64)> {
        match self {
            ByteRange::From { first, last } => {
                if first >= size || last.is_some_and(|last| last < first) {
                    return Err(Error::InvalidRange { size });
                }
                Ok((first, last.map_or(size, |last| last.saturating_add(1).min(size))))
            }
            ByteRange::Suffix(len) => {
                if len == 0 || size == 0 {
                    return Err(Error::InvalidRange { size });
                }
                Ok((size.saturating_sub(len), size))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub config: EngineConfig,
    pub backend: Arc<dyn IoBackend>,
    pub index: Arc<Index>,
    pub segments: Arc<Segments>,
    pub writer: WriterHandle,
    pub report: RecoveryReport,
    pub keyring: Keyring,
    pub upkeep: Upkeep,
    _lock: std::fs::File,
}

impl Inner {
    /// Sends a metadata record and waits until it is durable and applied.
    pub fn commit(&self, mutation: Mutation, tail: Option<ChunkBuf>, epoch: Option<u64>) -> Result<Committed> {
        wait(self.send_commit(mutation, tail, epoch)?)
    }

    /// `commit` for async callers: awaits the commit instead of blocking a thread on it.
    pub async fn commit_async(
        &self,
        mutation: Mutation,
        tail: Option<ChunkBuf>,
        epoch: Option<u64>,
    ) -> Result<Committed> {
        self.send_commit(mutation, tail, epoch)?.await.ok_or(Error::Closed)?
    }

    /// Hands a commit to the log writer (waiting only while its queue is full).
    pub(crate) fn send_commit(
        &self,
        mutation: Mutation,
        tail: Option<ChunkBuf>,
        epoch: Option<u64>,
    ) -> Result<Pending<Result<Committed>>> {
        let (reply, receiver) = oneshot();
        let tail = tail.into_iter().collect();
        self.writer.send(Request::Commit { mutation: Box::new(mutation), tail, epoch, reply })?;
        Ok(receiver)
    }
}

pub(crate) fn wait<T>(receiver: Pending<Result<T>>) -> Result<T> {
    receiver.wait().ok_or(Error::Closed)?
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A Cairn store. Cheap to clone; every clone is the same store. Safe to use from many threads.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    /// The background upkeep thread, stopped when the last clone goes.
    _maintenance: Option<Arc<Maintenance>>,
}

impl Engine {
    /// Opens (or creates) the store in `dir` with the backend `config.io` names.
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let backend = io::backend_for(config.io)?;
        Engine::open_with_backend(dir, config, backend)
    }

    /// Opens the store with a given backend (the fault-injecting one, in tests).
    pub fn open_with_backend(
        dir: impl AsRef<Path>,
        config: EngineConfig,
        backend: Arc<dyn IoBackend>,
    ) -> Result<Engine> {
        config.validate()?;
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir)?;
        let lock = io::lock_dir(&dir)?.ok_or_else(|| Error::Locked { path: dir.display().to_string() })?;
        let keyring = Keyring::open(&dir)?;
        let fd_limit = io::raise_fd_limit()?;
        let recovered = recovery::recover(&dir, &backend, false)?;
        if recovered.files.len() as u64 + FDS_RESERVED > fd_limit {
            log::warn!("{} segments are open and the open-file limit is {fd_limit}", recovered.files.len());
        }
        let segments = Arc::new(Segments::new(backend.clone()));
        for (id, file) in &recovered.files {
            segments.insert(*id, file.clone());
        }
        let (active_id, active) = recovered.files.last().cloned().expect("recovery leaves at least one segment");
        let index = Arc::new(recovered.index);
        let writer = WriterHandle::start(WriterStart {
            dir: dir.clone(),
            backend: backend.clone(),
            segments: segments.clone(),
            index: index.clone(),
            active_id,
            active,
            len: recovered.active_len,
            next_seq: recovered.next_seq,
            segment_bytes_max: config.segment_bytes,
        })?;
        log::info!(
            "opened {} with the {} backend: {} segments, {} records in {} ms",
            dir.display(),
            backend.name(),
            recovered.report.segments,
            recovered.report.metadata_records + recovered.report.chunk_records,
            recovered.report.duration_ms
        );
        let upkeep = Upkeep::new(
            config.compaction_bytes_per_sec,
            recovered.checkpoint.as_ref(),
            recovered.report.metadata_records,
            recovered.report.bytes,
        );
        let background = config.background;
        let target = config.space_amplification_target;
        let inner = Arc::new(Inner {
            dir,
            config,
            backend,
            index,
            segments,
            writer,
            report: recovered.report,
            keyring,
            upkeep,
            _lock: lock,
        });
        let maintenance = if background { Some(Arc::new(Maintenance::start(inner.clone(), target)?)) } else { None };
        Ok(Engine { inner, _maintenance: maintenance })
    }

    /// The I/O backend in use ("uring", "threads", ...).
    pub fn io_backend_name(&self) -> String {
        self.inner.backend.name()
    }

    /// The store's master keys and KMS keys.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// What opening the store found.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The log writer's counters since open.
    pub fn log_stats(&self) -> crate::writer::LogStats {
        self.inner.writer.stats.snapshot()
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.inner.segments.count()
    }

    /// Writes a checkpoint of the index now (the background thread writes them as the log
    /// grows), and deletes the segments compaction retired before it.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        self.inner.upkeep.checkpoint(&self.inner)
    }

    /// Runs one compaction pass now: with `force`, over every sealed segment with dead bytes
    /// (up to the pass limit); else only while the space amplification is above the target.
    pub fn compact(&self, force: bool) -> Result<CompactionReport> {
        self.inner.upkeep.compact(&self.inner, force, self.inner.config.space_amplification_target)
    }

    /// Where the store's disk space goes, and what checkpoints and compaction have done.
    pub fn space(&self) -> SpaceReport {
        self.inner.upkeep.space(&self.inner)
    }

    /// Keys held in memory (changed since the last checkpoint) and in the mapped checkpoint.
    pub fn index_layers(&self) -> (usize, u64) {
        self.inner.index.buckets.iter().fold((0, 0), |(memory, mapped), entry| {
            let (m, b) = entry.value().objects.layer_sizes();
            (memory + m, mapped + b)
        })
    }

    #[doc(hidden)]
    /// The index's live bytes per segment next to a recount from its references (tests).
    pub fn usage_check(&self) -> (BTreeMap<SegmentId, u64>, BTreeMap<SegmentId, u64>) {
        (self.inner.index.usage.lock().clone(), crate::compaction::recount_usage(&self.inner))
    }

    fn commit(&self, mutation: Mutation) -> Result<Applied> {
        Ok(self.inner.commit(mutation, None, None)?.applied)
    }

    pub(crate) fn bucket(&self, name: &str) -> Result<Arc<BucketState>> {
        self.inner.index.bucket(name)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    // ---- buckets ----

    /// Creates a bucket. S3's naming rules apply.
    pub fn create_bucket(&self, name: &str, region: &str) -> Result<()> {
        self.create_bucket_owned(name, region, "")
    }

    /// Creates a bucket owned by the account `owner` (a canonical id, opaque to the engine).
    pub fn create_bucket_owned(&self, name: &str, region: &str, owner: &str) -> Result<()> {
        self.create_bucket_with(name, region, owner, Vec::new())
    }

    /// Creates a bucket with configuration documents, in one record: the bucket never exists
    /// without them, whenever a crash comes.
    pub fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        owner: &str,
        configs: Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        validate::bucket_name(name)?;
        if configs.len() > limits::BUCKET_CONFIGS_MAX {
            return Err(Error::InvalidArgument(format!(
                "a bucket holds at most {} configuration records",
                limits::BUCKET_CONFIGS_MAX
            )));
        }
        for (config, value) in &configs {
            check_config(config, value)?;
        }
        if region.len() > limits::REGION_BYTES_MAX {
            return Err(Error::InvalidArgument("region name too long".into()));
        }
        if owner.len() > limits::OWNER_BYTES_MAX {
            return Err(Error::InvalidArgument("owner id too long".into()));
        }
        if self.inner.index.buckets.contains_key(name) {
            return Err(Error::BucketAlreadyExists(name.to_owned()));
        }
        self.commit(Mutation::BucketCreate {
            name: name.to_owned(),
            region: region.to_owned(),
            created_ms: now_ms(),
            owner: owner.to_owned(),
            configs,
        })?;
        Ok(())
    }

    /// Deletes a bucket that holds no versions and no uploads.
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        if !self.bucket(name)?.is_empty() {
            return Err(Error::BucketNotEmpty(name.to_owned()));
        }
        self.commit(Mutation::BucketDelete { name: name.to_owned() })?;
        Ok(())
    }

    /// Every bucket, by name.
    pub fn list_buckets(&self) -> Vec<BucketInfo> {
        self.inner.index.buckets.iter().map(|entry| bucket_info(entry.value())).collect()
    }

    pub fn head_bucket(&self, name: &str) -> Result<BucketInfo> {
        let bucket = self.bucket(name)?;
        Ok(bucket_info(&bucket))
    }

    /// A bucket's owner and the configuration documents named, in one lookup: what deciding
    /// a request on the bucket reads, on every request.
    pub fn bucket_access<const N: usize>(&self, bucket: &str, names: [&str; N]) -> Result<BucketAccess<N>> {
        let bucket = self.bucket(bucket)?;
        let configs = bucket.configs.read();
        let configs = names.map(|name| configs.get(name).cloned());
        Ok(BucketAccess { owner: bucket.owner.clone(), configs })
    }

    /// The configuration documents named, in one lookup of the bucket.
    pub fn bucket_configs<const N: usize>(&self, bucket: &str, names: [&str; N]) -> Result<[Option<Arc<[u8]>>; N]> {
        let bucket = self.bucket(bucket)?;
        let configs = bucket.configs.read();
        Ok(names.map(|name| configs.get(name).cloned()))
    }

    /// Stores a named configuration document for a bucket (opaque to the engine).
    pub fn put_bucket_config(&self, bucket: &str, name: &str, value: &[u8]) -> Result<()> {
        check_config(name, value)?;
        self.bucket(bucket)?;
        self.commit(Mutation::BucketConfigPut {
            bucket: bucket.to_owned(),
            name: name.to_owned(),
            value: value.to_vec(),
        })?;
        Ok(())
    }

    pub fn get_bucket_config(&self, bucket: &str, name: &str) -> Result<Option<Arc<[u8]>>> {
        Ok(self.bucket(bucket)?.configs.read().get(name).cloned())
    }

    pub fn delete_bucket_config(&self, bucket: &str, name: &str) -> Result<()> {
        self.bucket(bucket)?;
        self.commit(Mutation::BucketConfigDelete { bucket: bucket.to_owned(), name: name.to_owned() })?;
        Ok(())
    }

    /// Stores a named configuration document for an account (an id opaque to the engine, at most
    /// `OWNER_BYTES_MAX` bytes), as bucket configurations are stored.
    pub fn put_account_config(&self, account: &str, name: &str, value: &[u8]) -> Result<()> {
        check_config(name, value)?;
        if account.len() > limits::OWNER_BYTES_MAX {
            return Err(Error::InvalidArgument("account id too long".into()));
        }
        self.commit(Mutation::AccountConfigPut {
            account: account.to_owned(),
            name: name.to_owned(),
            value: value.to_vec(),
        })?;
        Ok(())
    }

    pub fn get_account_config(&self, account: &str, name: &str) -> Option<Arc<[u8]>> {
        self.inner.index.account_configs.read().get(&(account.to_owned(), name.to_owned())).cloned()
    }

    /// An account's configuration documents whose names start with `prefix`, by name.
    pub fn account_configs(&self, account: &str, prefix: &str) -> Vec<(String, Arc<[u8]>)> {
        let configs = self.inner.index.account_configs.read();
        let mut found: Vec<(String, Arc<[u8]>)> = configs
            .iter()
            .filter(|((owner, name), _)| owner == account && name.starts_with(prefix))
            .map(|((_, name), value)| (name.clone(), value.clone()))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    pub fn delete_account_config(&self, account: &str, name: &str) -> Result<()> {
        self.commit(Mutation::AccountConfigDelete { account: account.to_owned(), name: name.to_owned() })?;
        Ok(())
    }

    /// Enables or suspends versioning (a bucket cannot return to unversioned).
    pub fn set_versioning(&self, bucket: &str, state: VersioningState) -> Result<()> {
        self.set_versioning_with(bucket, state, None)
    }

    /// Sets versioning and, with `Some`, MFA delete, in one record. Versioning cannot be
    /// suspended while Object Lock is enabled (`InvalidBucketState`).
    pub fn set_versioning_with(&self, bucket: &str, state: VersioningState, mfa_delete: Option<bool>) -> Result<()> {
        if state == VersioningState::Unversioned {
            return Err(Error::InvalidArgument("versioning can only be enabled or suspended".into()));
        }
        self.bucket(bucket)?;
        self.commit(Mutation::BucketVersioning { bucket: bucket.to_owned(), state, mfa_delete })?;
        Ok(())
    }

    pub fn versioning(&self, bucket: &str) -> Result<VersioningState> {
        Ok(self.bucket(bucket)?.versioning())
    }

    /// Whether the bucket has S3's MFA delete on.
    pub fn mfa_delete(&self, bucket: &str) -> Result<bool> {
        Ok(self.bucket(bucket)?.mfa_delete())
    }

    /// Whether the bucket has S3 Object Lock enabled (its `OBJECT_LOCK_CONFIG` document).
    pub fn object_lock(&self, bucket: &str) -> Result<bool> {
        Ok(self.bucket(bucket)?.object_lock())
    }

    // ---- objects ----

    /// Starts a PUT: write the body to the returned writer, then `finish` it. Nothing is
    /// visible until `finish` returns; a writer dropped before that leaves nothing behind.
    pub fn put_object(&self, bucket: &str, key: &str, mut attributes: ObjectAttributes) -> Result<ObjectWriter> {
        validate::key(key)?;
        validate::attributes(&attributes)?;
        refuse_unlocked(&*self.bucket(bucket)?, &attributes)?;
        attributes.encryption = None;
        let sealer = self.sealer(&attributes);
        Ok(ObjectWriter {
            inner: self.inner.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            attributes,
            condition: PutCondition::None,
            checksum: None,
            extras: WriteExtras::default(),
            sink: BodySink::new(self.inner.clone(), limits::PUT_BYTES_MAX, 0, sealer),
        })
    }

    /// How the chunks of an object with `attributes` are compressed (encryption is added by
    /// the writer's `Sse` request).
    fn sealer(&self, attributes: &ObjectAttributes) -> Sealer {
        Sealer { level: attributes.storage_class.compression_level(self.inner.config.compression_level), keys: None }
    }

    /// A whole PUT from one buffer.
    pub fn put_object_bytes(
        &self,
        bucket: &str,
        key: &str,
        attributes: ObjectAttributes,
        body: &[u8],
    ) -> Result<PutOutcome> {
        let mut writer = self.put_object(bucket, key, attributes)?;
        writer.write(body)?;
        writer.finish()
    }

    /// One version of a key, a delete marker too (`NoSuchVersion` if the key has none of `id`).
    pub fn version(&self, bucket: &str, key: &str, id: VersionId) -> Result<Version> {
        let chain = self.bucket(bucket)?.chain(key);
        chain.and_then(|chain| chain.iter().find(|v| v.id == id).cloned()).ok_or(Error::NoSuchVersion)
    }

    /// The version a GET or HEAD reads: the current one, or the one named.
    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
    ) -> Result<(Version, Arc<ObjectInfo>)> {
        let bucket = self.bucket(bucket)?;
        let chain = bucket.chain(key);
        let found = match (version, &chain) {
            (None, None) => return Err(Error::NoSuchKey { delete_marker: None }),
            (None, Some(chain)) => &chain[0],
            (Some(id), chain) => {
                chain.as_ref().and_then(|c| c.iter().find(|v| v.id == id)).ok_or(Error::NoSuchVersion)?
            }
        };
        match &found.kind {
            VersionKind::Object(info) => Ok((found.clone(), info.clone())),
            VersionKind::DeleteMarker { .. } if version.is_none() => {
                Err(Error::NoSuchKey { delete_marker: Some(found.id) })
            }
            VersionKind::DeleteMarker { .. } => Err(Error::VersionIsDeleteMarker { version: found.id }),
        }
    }

    /// Reads an object (or a byte range of it) as a stream of verified chunks.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader> {
        let (version, info) = self.head_object(bucket, key, version)?;
        self.read_version(bucket, key, version, info, range, None)
    }

    /// Reads a version of `bucket`/`key` that `head_object` returned (saving a second lookup of
    /// the key). The version's chunks stay readable while the reader lives, whatever later
    /// writes do to the key. `customer` is the SSE-C key, for an object encrypted with one.
    pub fn read_version(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
        info: Arc<ObjectInfo>,
        range: Option<ByteRange>,
        customer: Option<&[u8; seal::KEY_BYTES]>,
    ) -> Result<ObjectReader> {
        // (The clock is read only for an archived version.)
        if info.attributes.storage_class.is_archive() && !info.readable_at(now_ms()) {
            return Err(Error::InvalidObjectState(info.attributes.storage_class.as_str()));
        }
        let keys = match &info.attributes.encryption {
            Some(encryption) => Some(Arc::new(self.inner.keyring.open_keys(encryption, bucket, key, customer)?)),
            None => None,
        };
        let (start, end) = match range {
            Some(range) => range.resolve(info.size)?,
            None => (0, info.size),
        };
        Ok(ObjectReader::new(self.inner.segments.clone(), version, info, keys, start, end))
    }

    /// Reads a whole object into memory (tests and small objects).
    pub fn get_object_bytes(&self, bucket: &str, key: &str, version: Option<VersionId>) -> Result<Vec<u8>> {
        let reader = self.get_object(bucket, key, version, None)?;
        let mut body = Vec::with_capacity(reader.len() as usize);
        for chunk in reader {
            body.extend_from_slice(&chunk?);
        }
        Ok(body)
    }

    /// Deletes the current object (S3 semantics per versioning state) or, with `version`, that
    /// version permanently.
    pub fn delete_object(&self, bucket: &str, key: &str, version: Option<VersionId>) -> Result<DeleteOutcome> {
        self.delete_object_with(bucket, key, version, false, WriteExtras::default())
    }

    /// `delete_object`, where a version's governance-mode retention is bypassed if
    /// `bypass_governance` (the requester may and asked to). A version Object Lock protects as
    /// the delete commits is `ObjectLocked`. A delete without a version id commits `extras`
    /// with it (a replica makes the delete marker of its source); one with a version id takes
    /// none (`InvalidArgument`).
    pub fn delete_object_with(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        bypass_governance: bool,
        extras: WriteExtras,
    ) -> Result<DeleteOutcome> {
        validate::key(key)?;
        extras.check()?;
        let state = self.bucket(bucket)?;
        let mutation = match version {
            None => {
                let unversioned = state.versioning() == VersioningState::Unversioned;
                if unversioned && extras.replica.is_none() && state.chain(key).is_none() {
                    return Ok(DeleteOutcome { version: None, delete_marker: false, seq: 0 });
                }
                Mutation::ObjectDelete {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    last_modified_ms: extras.last_modified_ms(),
                    if_current: None,
                    replica: extras.replica.map(|replica| replica.version),
                    notices: extras.notices,
                }
            }
            Some(_) if extras != WriteExtras::default() => {
                return Err(Error::InvalidArgument("a delete of a version carries no notices".into()));
            }
            Some(id) => {
                let Some(found) = state.chain(key).and_then(|chain| chain.iter().find(|v| v.id == id).cloned()) else {
                    return Ok(DeleteOutcome { version: None, delete_marker: false, seq: 0 });
                };
                // Refused here in the common case, and again as the record applies for a race.
                if let VersionKind::Object(info) = &found.kind
                    && info.attributes.lock.protects(now_ms(), bypass_governance)
                {
                    return Err(Error::ObjectLocked);
                }
                Mutation::VersionDelete {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: id,
                    at_ms: now_ms(),
                    bypass_governance,
                }
            }
        };
        match self.inner.commit(mutation, None, None) {
            Ok(Committed { applied: Applied::Deleted { version, delete_marker }, seq }) => {
                Ok(DeleteOutcome { version, delete_marker, seq })
            }
            // Deleted concurrently by someone else: the outcome is the same.
            Err(Error::NoSuchVersion) => Ok(DeleteOutcome { version: None, delete_marker: false, seq: 0 }),
            Ok(other) => unreachable!("a delete applied as {:?}", other.applied),
            Err(error) => Err(error),
        }
    }

    /// Replaces the tags of the current version (or the one named); returns the version.
    pub fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        tags: Vec<(String, String)>,
    ) -> Result<VersionId> {
        validate::tags(&tags)?;
        let (found, _) = self.head_object(bucket, key, version)?;
        let mutation = Mutation::TagsPut { bucket: bucket.to_owned(), key: key.to_owned(), version: found.id, tags };
        self.commit(mutation)?;
        Ok(found.id)
    }

    /// Replaces the access control list of the current version (or the one named); returns the
    /// version.
    pub fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        acl: Vec<u8>,
    ) -> Result<VersionId> {
        validate::acl(&acl)?;
        let (found, _) = self.head_object(bucket, key, version)?;
        let mutation = Mutation::AclPut { bucket: bucket.to_owned(), key: key.to_owned(), version: found.id, acl };
        self.commit(mutation)?;
        Ok(found.id)
    }

    /// Changes the Object Lock retention or legal hold of the current version (or the one
    /// named); returns the version. A retention may be shortened or removed only as
    /// `ObjectLock::allows_retention` says (`ObjectLocked` otherwise); a bucket without Object
    /// Lock is `InvalidBucketState`.
    pub fn set_object_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        change: LockChange,
        bypass_governance: bool,
    ) -> Result<VersionId> {
        if !self.bucket(bucket)?.object_lock() {
            return Err(Error::InvalidBucketState("Bucket is missing Object Lock Configuration"));
        }
        let (found, info) = self.head_object(bucket, key, version)?;
        if let LockChange::Retention(new) = change
            && !info.attributes.lock.allows_retention(new, now_ms(), bypass_governance)
        {
            return Err(Error::ObjectLocked);
        }
        let mutation = Mutation::LockPut {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: found.id,
            change,
            at_ms: now_ms(),
            bypass_governance,
        };
        self.commit(mutation)?;
        Ok(found.id)
    }

    /// Sets the replication status of one version (`NoSuchVersion` if it is gone).
    pub fn set_replication_status(
        &self,
        bucket: &str,
        key: &str,
        version: VersionId,
        status: ReplicationStatus,
    ) -> Result<()> {
        self.commit(replication_put(bucket, key, version, status))?;
        Ok(())
    }

    /// `set_replication_status` for async callers.
    pub async fn set_replication_status_async(
        &self,
        bucket: &str,
        key: &str,
        version: VersionId,
        status: ReplicationStatus,
    ) -> Result<()> {
        self.inner.commit_async(replication_put(bucket, key, version, status), None, None).await?;
        Ok(())
    }

    /// Moves a version to another storage class in place (a lifecycle transition); the data
    /// stays where it is.
    pub fn set_storage_class(&self, bucket: &str, key: &str, version: VersionId, class: StorageClass) -> Result<()> {
        self.head_object(bucket, key, Some(version))?;
        let mutation = Mutation::ClassPut { bucket: bucket.to_owned(), key: key.to_owned(), version, class };
        self.commit(mutation)?;
        Ok(())
    }

    /// Restores an archived version (the current one or the one named) until `until_ms`: reads
    /// of it succeed until then (S3's RestoreObject; the restore is immediate). Returns the
    /// version and whether a restored copy was already readable. `InvalidObjectState` for a
    /// version whose storage class is not an archive one.
    pub fn restore_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<VersionId>,
        until_ms: u64,
    ) -> Result<(VersionId, bool)> {
        let (found, info) = self.head_object(bucket, key, version)?;
        let class = info.attributes.storage_class;
        if !class.is_archive() {
            return Err(Error::InvalidObjectState(class.as_str()));
        }
        let was_restored = info.readable_at(now_ms());
        let mutation =
            Mutation::RestorePut { bucket: bucket.to_owned(), key: key.to_owned(), version: found.id, until_ms };
        self.commit(mutation)?;
        Ok((found.id, was_restored))
    }

    /// ListObjects (v1 and v2).
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<Page<list::ObjectEntry>> {
        let bucket = self.bucket(bucket)?;
        Ok(list::list_objects(&bucket, query))
    }

    /// ListObjectVersions.
    pub fn list_versions(&self, bucket: &str, query: &VersionQuery) -> Result<Page<VersionEntry>> {
        let bucket = self.bucket(bucket)?;
        Ok(list::list_versions(&bucket, query))
    }

    // ---- multipart ----

    pub fn create_upload(&self, bucket: &str, key: &str, attributes: ObjectAttributes) -> Result<UploadId> {
        self.create_upload_with_checksum(bucket, key, attributes, None)
    }

    /// Starts an upload whose parts carry checksums by `checksum` (S3's `x-amz-checksum-algorithm`
    /// and `x-amz-checksum-type` on CreateMultipartUpload).
    pub fn create_upload_with_checksum(
        &self,
        bucket: &str,
        key: &str,
        attributes: ObjectAttributes,
        checksum: Option<ChecksumSpec>,
    ) -> Result<UploadId> {
        self.create_upload_with(bucket, key, attributes, checksum, None)
    }

    /// Starts an upload whose parts are encrypted under `sse` (with one data key for the
    /// upload: the completed object is its parts, never re-encrypted).
    pub fn create_upload_with(
        &self,
        bucket: &str,
        key: &str,
        mut attributes: ObjectAttributes,
        checksum: Option<ChecksumSpec>,
        sse: Option<&Sse>,
    ) -> Result<UploadId> {
        validate::key(key)?;
        validate::attributes(&attributes)?;
        refuse_unlocked(&*self.bucket(bucket)?, &attributes)?;
        attributes.encryption = match sse {
            Some(sse) => Some(self.inner.keyring.seal_new(sse, bucket, key)?.0),
            None => None,
        };
        let mutation = Mutation::UploadCreate {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            attributes: Box::new(attributes),
            checksum,
        };
        match self.commit(mutation)? {
            Applied::Upload(id) => Ok(id),
            other => unreachable!("an upload create applied as {other:?}"),
        }
    }

    fn upload(&self, bucket: &str, key: &str, upload: UploadId) -> Result<Arc<crate::index::UploadState>> {
        let state = self.bucket(bucket)?.upload(upload).ok_or(Error::NoSuchUpload)?;
        if state.key != key {
            return Err(Error::NoSuchUpload);
        }
        Ok(state)
    }

    /// How an upload in progress is encrypted.
    /// The attributes an upload in progress was created with (its object's, at completion).
    pub fn upload_attributes(&self, bucket: &str, key: &str, upload: UploadId) -> Result<ObjectAttributes> {
        Ok(self.upload(bucket, key, upload)?.attributes.clone())
    }

    pub fn upload_encryption(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
    ) -> Result<Option<crate::types::Encryption>> {
        Ok(self.upload(bucket, key, upload)?.attributes.encryption.clone())
    }

    /// Starts an UploadPart: write the body, then `finish`. Re-uploading a number replaces it.
    pub fn upload_part(&self, bucket: &str, key: &str, upload: UploadId, number: u32) -> Result<PartWriter> {
        self.upload_part_with_key(bucket, key, upload, number, None)
    }

    /// `upload_part` of an upload encrypted with a customer's key (SSE-C): `customer` must be it.
    pub fn upload_part_with_key(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
        number: u32,
        customer: Option<&[u8; seal::KEY_BYTES]>,
    ) -> Result<PartWriter> {
        validate::part_number(number)?;
        let state = self.upload(bucket, key, upload)?;
        let mut sealer = self.sealer(&state.attributes);
        if let Some(encryption) = &state.attributes.encryption {
            sealer.keys = Some(Arc::new(self.inner.keyring.open_keys(encryption, bucket, key, customer)?));
        }
        Ok(PartWriter {
            inner: self.inner.clone(),
            bucket: bucket.to_owned(),
            upload,
            number,
            spec: state.checksum,
            encryption: state.attributes.encryption.clone(),
            checksum: None,
            sink: BodySink::new(self.inner.clone(), limits::PART_BYTES_MAX, number, sealer),
        })
    }

    /// Completes an upload: the new object references the parts' chunks; no data is copied.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome> {
        self.complete_upload_if(bucket, key, upload, parts, PutCondition::None)
    }

    /// `complete_upload_with` without a checksum.
    pub fn complete_upload_if(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
        parts: &[CompletedPart],
        condition: PutCondition,
    ) -> Result<PutOutcome> {
        self.complete_upload_with(bucket, key, upload, parts, condition, WriteExtras::default(), |_, _| Ok(None))
    }

    /// `complete_upload` that takes effect only if `condition` holds when it is committed
    /// (`Error::PreconditionFailed` otherwise; the upload stays). `checksum` gets the parts
    /// chosen (exactly those the object will reference) and the upload's checksum spec, and
    /// returns the object's checksum, or an error that stops the completion. `extras` are
    /// committed with the object (as `ObjectWriter::add_notice` and `set_replica`); a completion
    /// answered again commits nothing, and so pushes nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn complete_upload_with(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
        parts: &[CompletedPart],
        condition: PutCondition,
        extras: WriteExtras,
        checksum: impl FnOnce(&[Arc<PartLayout>], Option<ChecksumSpec>) -> Result<Option<Checksum>>,
    ) -> Result<PutOutcome> {
        let state = match self.upload(bucket, key, upload) {
            Ok(state) => state,
            // S3 answers a completion sent again with the first one's result.
            Err(Error::NoSuchUpload) => return self.completed_upload(bucket, key, upload),
            Err(error) => return Err(error),
        };
        if parts.is_empty() {
            return Err(Error::InvalidArgument("a completion lists at least one part".into()));
        }
        extras.check()?;
        if parts.windows(2).any(|pair| pair[0].number > pair[1].number) {
            return Err(Error::InvalidPartOrder);
        }
        // A part number listed more than once (a part re-sent while its first upload was still
        // in flight) is decided by its last entry: the part that finished last.
        let parts: Vec<&CompletedPart> = parts
            .iter()
            .enumerate()
            .filter(|(i, p)| parts.get(i + 1).is_none_or(|next| next.number != p.number))
            .map(|(_, p)| p)
            .collect();
        let uploaded = state.parts.read().clone();
        let mut chosen: Vec<Arc<PartLayout>> = Vec::with_capacity(parts.len());
        for part in parts {
            match uploaded.get(&part.number) {
                Some(found) if found.md5 == part.etag_md5 => chosen.push(found.clone()),
                _ => return Err(Error::InvalidPart { part_number: part.number }),
            }
        }
        let min = self.inner.config.part_bytes_min;
        if let Some(small) = chosen[..chosen.len() - 1].iter().find(|p| p.size < min) {
            return Err(Error::EntityTooSmall { part_number: small.number, size: small.size, limit: min });
        }
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        if size > limits::OBJECT_BYTES_MAX {
            return Err(Error::EntityTooLarge { size, limit: limits::OBJECT_BYTES_MAX });
        }
        let etag_md5 = multipart_etag(chosen.iter().map(|p| &p.md5));
        let checksum = checksum(&chosen, state.checksum)?;
        let stored = checksum.clone();
        let put = ObjectPut {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            etag_md5,
            last_modified_ms: extras.last_modified_ms(),
            attributes: ObjectAttributes {
                replication: extras.status(state.attributes.replication),
                ..state.attributes.clone()
            },
            layout: RecordLayout::Parts(chosen.iter().map(|p| (p.number, p.seq)).collect()),
            upload: Some(upload),
            condition,
            checksum,
            replica: extras.replica.map(|replica| replica.version),
            notices: extras.notices,
        };
        let committed = self.inner.commit(Mutation::ObjectPut(Box::new(put)), None, None)?;
        let Applied::Version(version) = committed.applied else {
            unreachable!("a completion applied as {:?}", committed.applied)
        };
        Ok(multipart_outcome(version, &etag_md5, chosen.len() as u32, size, stored))
    }

    /// The result of an upload already completed, while the bucket remembers it
    /// (`limits::COMPLETED_UPLOADS_REMEMBERED_MAX`); `NoSuchUpload` otherwise.
    fn completed_upload(&self, bucket: &str, key: &str, upload: UploadId) -> Result<PutOutcome> {
        let done = self.bucket(bucket)?.completed(upload).filter(|done| done.key == key).ok_or(Error::NoSuchUpload)?;
        Ok(multipart_outcome(done.version, &done.etag_md5, done.parts, done.size, done.checksum.clone()))
    }

    pub fn abort_upload(&self, bucket: &str, key: &str, upload: UploadId) -> Result<()> {
        self.upload(bucket, key, upload)?;
        self.commit(Mutation::UploadAbort { bucket: bucket.to_owned(), upload })?;
        Ok(())
    }

    /// ListParts: parts after `part_marker`, ascending.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: UploadId,
        part_marker: u32,
        max_parts: usize,
    ) -> Result<PartPage> {
        let upload = self.upload(bucket, key, upload)?;
        Ok(list::list_parts(&upload, part_marker, max_parts))
    }

    /// ListMultipartUploads.
    pub fn list_uploads(&self, bucket: &str, query: &UploadQuery) -> Result<Page<UploadEntry>> {
        let bucket = self.bucket(bucket)?;
        Ok(list::list_uploads(&bucket, query))
    }
}

/// A configuration document's name and size, within the limits.
fn check_config(name: &str, value: &[u8]) -> Result<()> {
    if name.is_empty() || name.len() > limits::BUCKET_CONFIG_NAME_BYTES_MAX {
        return Err(Error::InvalidArgument("configuration name must be 1 to 64 bytes".into()));
    }
    if value.len() > limits::BUCKET_CONFIG_BYTES_MAX {
        return Err(Error::EntityTooLarge { size: value.len() as u64, limit: limits::BUCKET_CONFIG_BYTES_MAX as u64 });
    }
    Ok(())
}

fn bucket_info(bucket: &BucketState) -> BucketInfo {
    BucketInfo {
        name: bucket.name.clone(),
        region: bucket.region.clone(),
        created_ms: bucket.created_ms,
        owner: bucket.owner.clone(),
    }
}

fn replication_put(bucket: &str, key: &str, version: VersionId, status: ReplicationStatus) -> Mutation {
    Mutation::ReplicationPut { bucket: bucket.to_owned(), key: key.to_owned(), version, status }
}

/// S3's multipart ETag: the MD5 of the concatenated part MD5s.
fn multipart_etag<'a>(md5s: impl Iterator<Item = &'a [u8; 16]>) -> [u8; 16] {
    use md5::Digest;
    let mut hasher = md5::Md5::new();
    for md5 in md5s {
        hasher.update(md5);
    }
    hasher.finalize().into()
}

/// A PUT in progress. See `Engine::put_object`.
#[derive(Debug)]
pub struct ObjectWriter {
    inner: Arc<Inner>,
    bucket: String,
    key: String,
    attributes: ObjectAttributes,
    condition: PutCondition,
    checksum: Option<Checksum>,
    extras: WriteExtras,
    sink: BodySink,
}

impl ObjectWriter {
    /// Commits `notice` with the object: its outbox entry is pushed as the version is made, in
    /// the same record (see [`crate::Notice`]). At most `limits::NOTICES_MAX`.
    pub fn add_notice(&mut self, notice: crate::outbox::Notice) -> Result<()> {
        self.extras.add_notice(notice)
    }

    /// Makes the object a replica of `replica`: it keeps its source's version id and time and
    /// has the status `REPLICA`. The bucket must have versioning enabled; a replica of a
    /// version the key holds already changes nothing, and one whose id another version has is
    /// `VersionIdTaken`.
    pub fn set_replica(&mut self, replica: Replica) {
        self.extras.replica = Some(replica);
    }

    /// Sets the version's replication status (a source's `PENDING`).
    pub fn set_replication_status(&mut self, status: ReplicationStatus) {
        self.extras.status = Some(status);
    }

    /// Makes the PUT conditional: `finish` commits only if `condition` holds at that moment,
    /// atomically with respect to every other write of the key.
    pub fn set_condition(&mut self, condition: PutCondition) {
        self.condition = condition;
    }

    /// The checksum to store with the object (computed and verified by the caller).
    pub fn set_checksum(&mut self, checksum: Checksum) {
        self.checksum = Some(checksum);
    }

    /// Encrypts the object under `sse`: a fresh data key seals every chunk. Called before the
    /// first `write` (an `InvalidArgument` after).
    pub fn set_encryption(&mut self, sse: &Sse) -> Result<()> {
        if !self.sink.is_empty() {
            return Err(Error::InvalidArgument("encryption is chosen before the body is written".into()));
        }
        let (encryption, keys) = self.inner.keyring.seal_new(sse, &self.bucket, &self.key)?;
        self.attributes.encryption = Some(encryption);
        self.sink.set_keys(Arc::new(keys));
        Ok(())
    }

    /// How the object is encrypted (after `set_encryption`).
    pub fn encryption(&self) -> Option<&crate::types::Encryption> {
        self.attributes.encryption.as_ref()
    }

    /// Appends body bytes; may block while earlier chunks are written (back-pressure).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.sink.write(data)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.sink.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The MD5 of the body so far (for Content-MD5 checks before `finish`).
    pub fn md5(&self) -> [u8; 16] {
        self.sink.md5()
    }

    /// Whether writing `len` more bytes may wait for the log writer. Writes that cannot wait
    /// only hash and buffer, so an async caller can make them on its own thread.
    pub fn write_may_wait(&self, len: usize) -> bool {
        self.sink.write_may_wait(len)
    }

    /// Commits the object; returns once it is durable and visible.
    pub fn finish(self) -> Result<PutOutcome> {
        let (inner, sink, put) = self.into_parts();
        let body = sink.finish()?;
        let (md5, size, checksum) = (body.md5, body.size, put.checksum.clone());
        let committed = inner.commit(put.with_body(body.extents, md5, size), body.tail, body.epoch)?;
        Ok(put_outcome(committed, &md5, size, checksum))
    }

    /// `finish` for async callers: nothing blocks a thread while chunks and the commit are
    /// written (only a full log-writer queue makes the hand-off wait).
    pub async fn finish_async(self) -> Result<PutOutcome> {
        let (inner, sink, put) = self.into_parts();
        let body = sink.finish_async().await?;
        let (md5, size, checksum) = (body.md5, body.size, put.checksum.clone());
        let committed = inner.commit_async(put.with_body(body.extents, md5, size), body.tail, body.epoch).await?;
        Ok(put_outcome(committed, &md5, size, checksum))
    }

    fn into_parts(self) -> (Arc<Inner>, BodySink, PutHead) {
        let head = PutHead {
            bucket: self.bucket,
            key: self.key,
            attributes: self.attributes,
            condition: self.condition,
            checksum: self.checksum,
            extras: self.extras,
        };
        (self.inner, self.sink, head)
    }
}

/// What an `ObjectPut` record holds besides its body.
struct PutHead {
    bucket: String,
    key: String,
    attributes: ObjectAttributes,
    condition: PutCondition,
    checksum: Option<Checksum>,
    extras: WriteExtras,
}

impl PutHead {
    fn with_body(self, extents: Vec<crate::types::Extent>, md5: [u8; 16], size: u64) -> Mutation {
        Mutation::ObjectPut(Box::new(ObjectPut {
            bucket: self.bucket,
            key: self.key,
            size,
            etag_md5: md5,
            last_modified_ms: self.extras.last_modified_ms(),
            attributes: ObjectAttributes {
                replication: self.extras.status(self.attributes.replication),
                ..self.attributes
            },
            layout: RecordLayout::Extents(extents),
            upload: None,
            condition: self.condition,
            checksum: self.checksum,
            replica: self.extras.replica.map(|replica| replica.version),
            notices: self.extras.notices,
        }))
    }
}

/// A completed upload's outcome: its ETag is the parts' MD5 digest, then `-<parts>`.
fn multipart_outcome(
    version: VersionId,
    etag_md5: &[u8; 16],
    parts: u32,
    size: u64,
    checksum: Option<Checksum>,
) -> PutOutcome {
    let etag = format!("\"{}-{parts}\"", crate::types::hex(etag_md5));
    PutOutcome { version, etag, size, checksum, parts: Some(parts) }
}

fn put_outcome(committed: Committed, md5: &[u8; 16], size: u64, checksum: Option<Checksum>) -> PutOutcome {
    match committed.applied {
        Applied::Version(version) => {
            PutOutcome { version, etag: format!("\"{}\"", crate::types::hex(md5)), size, checksum, parts: None }
        }
        other => unreachable!("a put applied as {other:?}"),
    }
}

/// An UploadPart in progress. See `Engine::upload_part`.
#[derive(Debug)]
pub struct PartWriter {
    inner: Arc<Inner>,
    bucket: String,
    upload: UploadId,
    number: u32,
    spec: Option<ChecksumSpec>,
    encryption: Option<crate::types::Encryption>,
    checksum: Option<Checksum>,
    sink: BodySink,
}

impl PartWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.sink.write(data)
    }

    pub fn md5(&self) -> [u8; 16] {
        self.sink.md5()
    }

    /// The checksum spec the upload was created with.
    pub fn checksum_spec(&self) -> Option<ChecksumSpec> {
        self.spec
    }

    /// How the upload's parts are encrypted.
    pub fn encryption(&self) -> Option<&crate::types::Encryption> {
        self.encryption.as_ref()
    }

    /// The part's checksum (computed and verified by the caller).
    pub fn set_checksum(&mut self, checksum: Checksum) {
        self.checksum = Some(checksum);
    }

    /// Whether writing `len` more bytes may wait for the log writer (see `ObjectWriter`).
    pub fn write_may_wait(&self, len: usize) -> bool {
        self.sink.write_may_wait(len)
    }

    /// Commits the part; returns its MD5 (the part's ETag).
    pub fn finish(self) -> Result<[u8; 16]> {
        let (inner, sink, head) = self.into_parts();
        let body = sink.finish()?;
        let (mutation, tail, epoch, md5) = head.with_body(body);
        inner.commit(mutation, tail, epoch)?;
        Ok(md5)
    }

    /// `finish` for async callers (see `ObjectWriter::finish_async`).
    pub async fn finish_async(self) -> Result<[u8; 16]> {
        let (inner, sink, head) = self.into_parts();
        let body = sink.finish_async().await?;
        let (mutation, tail, epoch, md5) = head.with_body(body);
        inner.commit_async(mutation, tail, epoch).await?;
        Ok(md5)
    }

    fn into_parts(self) -> (Arc<Inner>, BodySink, PartHead) {
        let head = PartHead { bucket: self.bucket, upload: self.upload, number: self.number, checksum: self.checksum };
        (self.inner, self.sink, head)
    }
}

/// What a `PartPut` record holds besides its body.
struct PartHead {
    bucket: String,
    upload: UploadId,
    number: u32,
    checksum: Option<Checksum>,
}

impl PartHead {
    fn with_body(self, body: crate::body::Body) -> (Mutation, Option<ChunkBuf>, Option<u64>, [u8; 16]) {
        let mutation = Mutation::PartPut {
            bucket: self.bucket,
            upload: self.upload,
            number: self.number,
            size: body.size,
            md5: body.md5,
            last_modified_ms: now_ms(),
            extents: body.extents,
            checksum: self.checksum,
        };
        (mutation, body.tail, body.epoch, body.md5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_past_its_limit_is_refused_before_it_is_stored() {
        // PUT_BYTES_MAX (5 GiB) and PART_BYTES_MAX are wired into the same check; a small
        // limit exercises it without writing gigabytes.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), EngineConfig { io: IoMode::Threads, ..EngineConfig::default() }).unwrap();
        let mut sink = BodySink::new(engine.inner.clone(), 10, 0, Sealer::default());
        sink.write(b"0123456789").unwrap();
        assert!(matches!(sink.write(b"x"), Err(Error::EntityTooLarge { size: 11, limit: 10 })));
        assert_eq!(sink.len(), 10);
    }

    #[test]
    fn ranges_resolve_like_http() {
        let range = |first, last| ByteRange::From { first, last };
        assert_eq!(range(0, Some(0)).resolve(10).unwrap(), (0, 1));
        assert_eq!(range(5, None).resolve(10).unwrap(), (5, 10));
        assert_eq!(range(5, Some(100)).resolve(10).unwrap(), (5, 10));
        assert_eq!(ByteRange::Suffix(3).resolve(10).unwrap(), (7, 10));
        assert_eq!(ByteRange::Suffix(30).resolve(10).unwrap(), (0, 10));
        assert!(range(10, None).resolve(10).is_err());
        assert!(range(0, None).resolve(0).is_err());
        assert!(ByteRange::Suffix(1).resolve(0).is_err());
    }
}
