//! The engine against a simple in-memory model of S3 semantics: random sequences of puts,
//! overwrites, deletes, versioned deletes, versioning changes, multipart uploads, bucket
//! operations and reopens; after every step every read and listing must agree with the model.
//! `crash.rs` reuses the model to say what a crash may leave.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_engine::{
    CompletedPart, Engine, Error, ListQuery, ObjectAttributes, Sse, UploadId, UploadQuery, VersionId, VersionQuery,
    VersioningState,
};
use proptest::prelude::*;

use crate::{body, md5_hex};

pub const BUCKETS: [&str; 2] = ["bucket-0", "bucket-1"];
pub const KEYS: [&str; 5] = ["a", "a/b", "a/c/d", "b", "é/x"];
/// A version or upload id the model does not know (the op's reply was lost in a crash).
pub const UNKNOWN: u64 = u64::MAX;

#[derive(Clone, Debug)]
pub enum Op {
    CreateBucket(usize),
    DeleteBucket(usize),
    Put {
        bucket: usize,
        key: usize,
        len: usize,
        seed: u64,
    },
    Delete {
        bucket: usize,
        key: usize,
    },
    DeleteVersion {
        bucket: usize,
        key: usize,
        pick: usize,
    },
    Versioning {
        bucket: usize,
        enabled: bool,
    },
    CreateUpload {
        bucket: usize,
        key: usize,
    },
    UploadPart {
        bucket: usize,
        pick: usize,
        number: u32,
        len: usize,
        seed: u64,
    },
    Complete {
        bucket: usize,
        pick: usize,
    },
    Abort {
        bucket: usize,
        pick: usize,
    },
    Reopen,
    /// Writes a checkpoint of the index (later reopens load it and replay only what follows).
    Checkpoint,
    /// A compaction pass over every sealed segment with dead bytes.
    Compact,
}

/// A body for `seed`: pseudo-random bytes, or (one seed in two) bytes that compress.
pub fn model_body(seed: u64, len: usize) -> Vec<u8> {
    let data = body(seed, len);
    if seed.is_multiple_of(2) { data.iter().map(|b| b'a' + b % 4).collect() } else { data }
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0usize..200, 1 => Just(0usize), 1 => (1024 * 1024 - 10usize)..(1024 * 1024 + 300)]
}

pub fn op() -> impl Strategy<Value = Op> {
    let b = 0..BUCKETS.len();
    let k = 0..KEYS.len();
    prop_oneof![
        1 => b.clone().prop_map(Op::CreateBucket),
        1 => b.clone().prop_map(Op::DeleteBucket),
        8 => (b.clone(), k.clone(), length(), any::<u64>()).prop_map(|(bucket, key, len, seed)| Op::Put { bucket, key, len, seed }),
        3 => (b.clone(), k.clone()).prop_map(|(bucket, key)| Op::Delete { bucket, key }),
        2 => (b.clone(), k.clone(), 0..4usize).prop_map(|(bucket, key, pick)| Op::DeleteVersion { bucket, key, pick }),
        2 => (b.clone(), any::<bool>()).prop_map(|(bucket, enabled)| Op::Versioning { bucket, enabled }),
        1 => (b.clone(), k.clone()).prop_map(|(bucket, key)| Op::CreateUpload { bucket, key }),
        3 => (b.clone(), 0..3usize, 1..4u32, prop_oneof![3 => 16usize..100, 1 => 1usize..16], any::<u64>())
            .prop_map(|(bucket, pick, number, len, seed)| Op::UploadPart { bucket, pick, number, len, seed }),
        1 => (b.clone(), 0..3usize).prop_map(|(bucket, pick)| Op::Complete { bucket, pick }),
        1 => (b, 0..3usize).prop_map(|(bucket, pick)| Op::Abort { bucket, pick }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
    ]
}

#[derive(Clone, Debug, PartialEq)]
pub struct MVersion {
    pub id: VersionId,
    /// `None` for a delete marker.
    pub body: Option<Arc<Vec<u8>>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MUpload {
    pub key: String,
    pub parts: BTreeMap<u32, Arc<Vec<u8>>>,
}

#[derive(Clone, Debug)]
pub struct MBucket {
    pub versioning: VersioningState,
    /// Versions newest first.
    pub keys: BTreeMap<String, Vec<MVersion>>,
    pub uploads: BTreeMap<UploadId, MUpload>,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub buckets: BTreeMap<String, MBucket>,
}

/// Errors that mean "the write did not happen because of I/O", not a semantic refusal.
pub fn is_io_error(error: &Error) -> bool {
    matches!(error, Error::Io(_) | Error::WriteInterrupted | Error::Closed)
}

impl Model {
    fn bucket(&mut self, name: &str) -> Option<&mut MBucket> {
        self.buckets.get_mut(name)
    }

    fn push(bucket: &mut MBucket, key: &str, version: MVersion) {
        let chain = bucket.keys.entry(key.to_owned()).or_default();
        if version.id == VersionId::Null {
            chain.retain(|v| v.id != VersionId::Null);
        }
        chain.insert(0, version);
    }

    fn remove(bucket: &mut MBucket, key: &str, id: VersionId) -> Option<MVersion> {
        let chain = bucket.keys.get_mut(key)?;
        let at = chain.iter().position(|v| v.id == id)?;
        let removed = chain.remove(at);
        if chain.is_empty() {
            bucket.keys.remove(key);
        }
        Some(removed)
    }

    fn new_id(bucket: &MBucket, id: VersionId) -> VersionId {
        if bucket.versioning.writes_null() { VersionId::Null } else { id }
    }

    fn pick_upload(&self, bucket: &str, pick: usize) -> Option<UploadId> {
        let uploads = &self.buckets.get(bucket)?.uploads;
        if uploads.is_empty() { None } else { uploads.keys().nth(pick % uploads.len()).copied() }
    }

    /// The model's effect of `op` when its reply was lost: ids it would have returned are UNKNOWN.
    pub fn apply_unacknowledged(&mut self, op: &Op) {
        let unknown = VersionId::Id(UNKNOWN);
        match op {
            Op::CreateBucket(b) => {
                self.buckets.entry(BUCKETS[*b].into()).or_insert(MBucket {
                    versioning: VersioningState::Unversioned,
                    keys: BTreeMap::new(),
                    uploads: BTreeMap::new(),
                });
            }
            Op::DeleteBucket(b) => {
                if self.buckets.get(BUCKETS[*b]).is_some_and(|bk| bk.keys.is_empty() && bk.uploads.is_empty()) {
                    self.buckets.remove(BUCKETS[*b]);
                }
            }
            Op::Put { bucket, key, len, seed } => {
                if let Some(bk) = self.bucket(BUCKETS[*bucket]) {
                    let id = Model::new_id(bk, unknown);
                    Model::push(bk, KEYS[*key], MVersion { id, body: Some(Arc::new(model_body(*seed, *len))) });
                }
            }
            Op::Delete { bucket, key } => {
                if let Some(bk) = self.bucket(BUCKETS[*bucket]) {
                    match bk.versioning {
                        VersioningState::Unversioned => drop(Model::remove(bk, KEYS[*key], VersionId::Null)),
                        VersioningState::Enabled => Model::push(bk, KEYS[*key], MVersion { id: unknown, body: None }),
                        VersioningState::Suspended => {
                            Model::push(bk, KEYS[*key], MVersion { id: VersionId::Null, body: None })
                        }
                    }
                }
            }
            Op::DeleteVersion { bucket, key, pick } => {
                if let Some(bk) = self.bucket(BUCKETS[*bucket])
                    && let Some(id) = bk.keys.get(KEYS[*key]).and_then(|c| c.get(*pick % c.len()).map(|v| v.id))
                {
                    Model::remove(bk, KEYS[*key], id);
                }
            }
            Op::Versioning { bucket, enabled } => {
                if let Some(bk) = self.bucket(BUCKETS[*bucket]) {
                    bk.versioning = if *enabled { VersioningState::Enabled } else { VersioningState::Suspended };
                }
            }
            Op::CreateUpload { bucket, key } => {
                if let Some(bk) = self.bucket(BUCKETS[*bucket]) {
                    bk.uploads.insert(UploadId(UNKNOWN), MUpload { key: KEYS[*key].into(), parts: BTreeMap::new() });
                }
            }
            Op::UploadPart { bucket, pick, number, len, seed } => {
                if let Some(upload) = self.pick_upload(BUCKETS[*bucket], *pick) {
                    let bk = self.bucket(BUCKETS[*bucket]).unwrap();
                    bk.uploads.get_mut(&upload).unwrap().parts.insert(*number, Arc::new(model_body(*seed, *len)));
                }
            }
            Op::Complete { bucket, pick } => {
                if let Some(upload) = self.pick_upload(BUCKETS[*bucket], *pick)
                    && let Some(data) = self.completion(BUCKETS[*bucket], upload)
                {
                    let bk = self.bucket(BUCKETS[*bucket]).unwrap();
                    let key = bk.uploads.remove(&upload).unwrap().key;
                    let id = Model::new_id(bk, unknown);
                    Model::push(bk, &key, MVersion { id, body: Some(Arc::new(data)) });
                }
            }
            Op::Abort { bucket, pick } => {
                if let Some(upload) = self.pick_upload(BUCKETS[*bucket], *pick) {
                    self.bucket(BUCKETS[*bucket]).unwrap().uploads.remove(&upload);
                }
            }
            Op::Reopen | Op::Checkpoint | Op::Compact => {}
        }
    }

    /// The body a completion of all current parts would have, if it is valid (minimum 16 bytes).
    fn completion(&self, bucket: &str, upload: UploadId) -> Option<Vec<u8>> {
        let parts = &self.buckets[bucket].uploads[&upload].parts;
        let sizes: Vec<usize> = parts.values().map(|p| p.len()).collect();
        if sizes.is_empty() || sizes[..sizes.len() - 1].iter().any(|s| *s < 16) {
            return None;
        }
        Some(parts.values().flat_map(|p| p.iter().copied()).collect())
    }
}

/// Runs `op` on the engine, checks its outcome against the model and updates the model. An
/// I/O failure is returned without touching the model.
pub fn run_op(engine: &Engine, model: &mut Model, op: &Op) -> Result<(), Error> {
    let io = |e: Error| if is_io_error(&e) { Err(e) } else { panic!("{op:?}: unexpected {e:?}") };
    match op {
        Op::CreateBucket(b) => match engine.create_bucket(BUCKETS[*b], "us-east-1") {
            Ok(()) => assert!(!model.buckets.contains_key(BUCKETS[*b])),
            Err(Error::BucketAlreadyExists(_)) => {
                assert!(model.buckets.contains_key(BUCKETS[*b]));
                return Ok(());
            }
            Err(e) => return io(e),
        },
        Op::DeleteBucket(b) => match engine.delete_bucket(BUCKETS[*b]) {
            Ok(()) => {
                assert!(model.buckets[BUCKETS[*b]].keys.is_empty() && model.buckets[BUCKETS[*b]].uploads.is_empty())
            }
            Err(Error::NoSuchBucket(_)) => {
                assert!(!model.buckets.contains_key(BUCKETS[*b]));
                return Ok(());
            }
            Err(Error::BucketNotEmpty(_)) => {
                let bk = &model.buckets[BUCKETS[*b]];
                {
                    assert!(!bk.keys.is_empty() || !bk.uploads.is_empty());
                    return Ok(());
                }
            }
            Err(e) => return io(e),
        },
        Op::Put { bucket, key, len, seed } => {
            let data = model_body(*seed, *len);
            // A quarter of the puts are encrypted (SSE-S3), so crashes and reopens meet sealed
            // chunks as well as plain and compressed ones.
            let sealed = (*seed >> 2).is_multiple_of(4);
            let put = engine.put_object(BUCKETS[*bucket], KEYS[*key], ObjectAttributes::default()).and_then(|mut w| {
                if sealed {
                    w.set_encryption(&Sse::S3)?;
                }
                w.write(&data)?;
                w.finish()
            });
            match put {
                Ok(outcome) => {
                    assert_eq!(outcome.etag, format!("\"{}\"", md5_hex(&data)));
                    let bk = model.bucket(BUCKETS[*bucket]).expect("put succeeded, so the bucket exists");
                    assert_eq!(outcome.version == VersionId::Null, bk.versioning.writes_null());
                    Model::push(bk, KEYS[*key], MVersion { id: outcome.version, body: Some(Arc::new(data)) });
                    return Ok(());
                }
                Err(Error::NoSuchBucket(_)) => {
                    assert!(!model.buckets.contains_key(BUCKETS[*bucket]));
                    return Ok(());
                }
                Err(e) => return io(e),
            }
        }
        Op::Delete { bucket, key } => match engine.delete_object(BUCKETS[*bucket], KEYS[*key], None) {
            Ok(outcome) => {
                let bk = model.bucket(BUCKETS[*bucket]).expect("bucket");
                match bk.versioning {
                    VersioningState::Unversioned => {
                        let removed = Model::remove(bk, KEYS[*key], VersionId::Null);
                        assert_eq!(outcome.version, removed.map(|v| v.id));
                        assert!(!outcome.delete_marker);
                    }
                    state => {
                        let id = outcome.version.expect("a marker was made");
                        assert!(outcome.delete_marker);
                        assert_eq!(id == VersionId::Null, state == VersioningState::Suspended);
                        Model::push(bk, KEYS[*key], MVersion { id, body: None });
                    }
                }
            }
            Err(Error::NoSuchBucket(_)) => assert!(!model.buckets.contains_key(BUCKETS[*bucket])),
            Err(e) => return io(e),
        },
        Op::DeleteVersion { bucket, key, pick } => {
            let Some(bk) = model.bucket(BUCKETS[*bucket]) else { return Ok(()) };
            let target = bk.keys.get(KEYS[*key]).map(|c| c[*pick % c.len()].clone());
            let id = target.as_ref().map_or(VersionId::Id(UNKNOWN - 1), |v| v.id);
            match engine.delete_object(BUCKETS[*bucket], KEYS[*key], Some(id)) {
                Ok(outcome) => {
                    assert_eq!(outcome.version, target.as_ref().map(|v| v.id));
                    assert_eq!(outcome.delete_marker, target.as_ref().is_some_and(|v| v.body.is_none()));
                    Model::remove(bk, KEYS[*key], id);
                }
                Err(e) => return io(e),
            }
        }
        Op::Versioning { bucket, enabled } => {
            let state = if *enabled { VersioningState::Enabled } else { VersioningState::Suspended };
            match engine.set_versioning(BUCKETS[*bucket], state) {
                Ok(()) => model.bucket(BUCKETS[*bucket]).expect("bucket").versioning = state,
                Err(Error::NoSuchBucket(_)) => assert!(!model.buckets.contains_key(BUCKETS[*bucket])),
                Err(e) => return io(e),
            }
        }
        Op::CreateUpload { bucket, key } => {
            let sse = key.is_multiple_of(2).then_some(&Sse::S3);
            match engine.create_upload_with(BUCKETS[*bucket], KEYS[*key], ObjectAttributes::default(), None, sse) {
                Ok(id) => {
                    let bk = model.bucket(BUCKETS[*bucket]).expect("bucket");
                    bk.uploads.insert(id, MUpload { key: KEYS[*key].into(), parts: BTreeMap::new() });
                }
                Err(Error::NoSuchBucket(_)) => assert!(!model.buckets.contains_key(BUCKETS[*bucket])),
                Err(e) => return io(e),
            }
        }
        Op::UploadPart { bucket, pick, number, len, seed } => {
            let Some(upload) = model.pick_upload(BUCKETS[*bucket], *pick) else { return Ok(()) };
            let key = model.buckets[BUCKETS[*bucket]].uploads[&upload].key.clone();
            let data = model_body(*seed, *len);
            let result = engine.upload_part(BUCKETS[*bucket], &key, upload, *number).and_then(|mut writer| {
                writer.write(&data)?;
                writer.finish()
            });
            match result {
                Ok(md5) => {
                    assert_eq!(cairn_engine::hex(&md5), md5_hex(&data));
                    model
                        .bucket(BUCKETS[*bucket])
                        .unwrap()
                        .uploads
                        .get_mut(&upload)
                        .unwrap()
                        .parts
                        .insert(*number, Arc::new(data));
                }
                Err(e) => return io(e),
            }
        }
        Op::Complete { bucket, pick } => {
            let Some(upload) = model.pick_upload(BUCKETS[*bucket], *pick) else { return Ok(()) };
            let mupload = model.buckets[BUCKETS[*bucket]].uploads[&upload].clone();
            let parts: Vec<CompletedPart> = mupload
                .parts
                .iter()
                .map(|(number, data)| {
                    use md5::Digest;
                    CompletedPart { number: *number, etag_md5: md5::Md5::digest(&data[..]).into() }
                })
                .collect();
            let expected = model.completion(BUCKETS[*bucket], upload);
            match engine.complete_upload(BUCKETS[*bucket], &mupload.key, upload, &parts) {
                Ok(outcome) => {
                    let data = expected.expect("completion was valid");
                    let bk = model.bucket(BUCKETS[*bucket]).unwrap();
                    bk.uploads.remove(&upload);
                    assert_eq!(outcome.version == VersionId::Null, bk.versioning.writes_null());
                    assert!(outcome.etag.ends_with(&format!("-{}\"", parts.len())));
                    Model::push(bk, &mupload.key, MVersion { id: outcome.version, body: Some(Arc::new(data)) });
                }
                Err(Error::EntityTooSmall { .. } | Error::InvalidArgument(_)) => assert!(expected.is_none()),
                Err(e) => return io(e),
            }
        }
        Op::Abort { bucket, pick } => {
            let Some(upload) = model.pick_upload(BUCKETS[*bucket], *pick) else { return Ok(()) };
            let key = model.buckets[BUCKETS[*bucket]].uploads[&upload].key.clone();
            match engine.abort_upload(BUCKETS[*bucket], &key, upload) {
                Ok(()) => drop(model.bucket(BUCKETS[*bucket]).unwrap().uploads.remove(&upload)),
                Err(e) => return io(e),
            }
        }
        Op::Reopen => {}
        Op::Checkpoint => {
            if let Err(e) = engine.checkpoint() {
                return io(e);
            }
        }
        Op::Compact => {
            if let Err(e) = engine.compact(true) {
                return io(e);
            }
        }
    }
    if let Op::CreateBucket(b) = op {
        model.apply_unacknowledged(&Op::CreateBucket(*b));
    }
    if let Op::DeleteBucket(b) = op {
        model.buckets.remove(BUCKETS[*b]);
    }
    Ok(())
}

/// What the engine holds, in the model's terms.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub buckets: BTreeMap<String, BucketSnapshot>,
}

/// Versioning state, versions by key, and uploads with their parts (number, size, MD5).
pub type BucketSnapshot =
    (VersioningState, BTreeMap<String, Vec<MVersion>>, BTreeMap<UploadId, (String, Vec<(u32, u64, String)>)>);

pub fn snapshot_engine(engine: &Engine) -> Result<Snapshot, Error> {
    let mut buckets = BTreeMap::new();
    for info in engine.list_buckets() {
        let name = info.name;
        let mut keys: BTreeMap<String, Vec<MVersion>> = BTreeMap::new();
        let mut query = VersionQuery { max_keys: 1000, ..VersionQuery::default() };
        loop {
            let page = engine.list_versions(&name, &query)?;
            for entry in page.entries() {
                let body = if entry.version.is_delete_marker() {
                    None
                } else {
                    Some(Arc::new(engine.get_object_bytes(&name, &entry.key, Some(entry.version.id))?))
                };
                keys.entry(entry.key.clone()).or_default().push(MVersion { id: entry.version.id, body });
            }
            let Some(last) = page.entries().last() else { break };
            if !page.is_truncated {
                break;
            }
            query.key_marker = Some(last.key.clone());
            query.version_marker = Some(last.version.id);
        }
        let mut uploads = BTreeMap::new();
        let listed = engine.list_uploads(&name, &UploadQuery { max_uploads: 1000, ..UploadQuery::default() })?;
        for upload in listed.entries() {
            let parts = engine.list_parts(&name, &upload.key, upload.upload, 0, 1000)?;
            let parts = parts.parts.iter().map(|p| (p.number, p.size, cairn_engine::hex(&p.md5))).collect();
            uploads.insert(upload.upload, (upload.key.clone(), parts));
        }
        buckets.insert(name.clone(), (engine.versioning(&name)?, keys, uploads));
    }
    Ok(Snapshot { buckets })
}

pub fn snapshot_model(model: &Model) -> Snapshot {
    let buckets = model
        .buckets
        .iter()
        .map(|(name, bucket)| {
            let uploads = bucket
                .uploads
                .iter()
                .map(|(id, upload)| {
                    let parts = upload.parts.iter().map(|(n, data)| (*n, data.len() as u64, md5_hex(data))).collect();
                    (*id, (upload.key.clone(), parts))
                })
                .collect();
            (name.clone(), (bucket.versioning, bucket.keys.clone(), uploads))
        })
        .collect();
    Snapshot { buckets }
}

/// Whether the engine's snapshot is the model's, where UNKNOWN ids in the model match any id.
pub fn matches(model: &Snapshot, engine: &Snapshot) -> bool {
    let id_matches =
        |m: VersionId, e: VersionId| m == e || (m == VersionId::Id(UNKNOWN) && matches!(e, VersionId::Id(_)));
    model.buckets.len() == engine.buckets.len()
        && model.buckets.iter().zip(&engine.buckets).all(|((mn, (mv, mk, mu)), (en, (ev, ek, eu)))| {
            mn == en
                && mv == ev
                && mk.len() == ek.len()
                && mk.iter().zip(ek).all(|((mkey, mchain), (ekey, echain))| {
                    mkey == ekey
                        && mchain.len() == echain.len()
                        && mchain.iter().zip(echain).all(|(m, e)| id_matches(m.id, e.id) && m.body == e.body)
                })
                && mu.len() == eu.len()
                && mu.iter().zip(eu).all(|((mid, m), (eid, e))| (mid == eid || mid.0 == UNKNOWN) && m == e)
        })
}

/// Every read and listing agrees with the model.
pub fn check(engine: &Engine, model: &Model) {
    let engine_snapshot = snapshot_engine(engine).unwrap();
    assert_eq!(engine_snapshot, snapshot_model(model));
    // The live bytes the index counts per segment are what its references add up to.
    let (counted, recounted) = engine.usage_check();
    assert_eq!(counted, recounted);
    for (name, bucket) in &model.buckets {
        // Current objects: gets and a flat listing.
        let live: Vec<(&String, &Arc<Vec<u8>>)> =
            bucket.keys.iter().filter_map(|(k, chain)| chain[0].body.as_ref().map(|b| (k, b))).collect();
        for (key, data) in &live {
            assert_eq!(&engine.get_object_bytes(name, key, None).unwrap(), &***data);
        }
        let listed = engine.list_objects(name, &ListQuery { max_keys: 1000, ..ListQuery::default() }).unwrap();
        let listed: Vec<&str> = listed.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(listed, live.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
        // With a delimiter: live keys without "/" and the distinct first segments of the rest.
        let rolled = engine
            .list_objects(name, &ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..ListQuery::default() })
            .unwrap();
        let mut expected_prefixes: Vec<String> =
            live.iter().filter_map(|(k, _)| k.find('/').map(|at| k[..=at].to_owned())).collect();
        expected_prefixes.dedup();
        assert_eq!(rolled.common_prefixes().map(str::to_owned).collect::<Vec<_>>(), expected_prefixes);
        assert_eq!(rolled.entries().count(), live.iter().filter(|(k, _)| !k.contains('/')).count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(48), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(ops in proptest::collection::vec(op(), 1..40), uring in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let io = if uring { cairn_engine::IoMode::Uring } else { cairn_engine::IoMode::Threads };
        let reopen = || crate::open(dir.path(), io);
        let mut engine = reopen();
        let mut model = Model::default();
        for op in &ops {
            if let Op::Reopen = op {
                drop(engine);
                engine = reopen();
            } else {
                run_op(&engine, &mut model, op).unwrap();
            }
            check(&engine, &model);
        }
    }
}
