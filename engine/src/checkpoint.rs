//! Index checkpoints: the whole index at one log position, written as an immutable file of
//! sorted blocks that the engine maps (memmap2) and reads in place. Opening a store maps the
//! newest valid checkpoint and replays only the log after its position; keys not touched since
//! then cost no memory but their share of the block index (a few bytes each).
//!
//! A checkpoint is checked whole before it is trusted: magic, version, header, footer and meta
//! checksums, every block's checksum, bounds and key order. One that fails any check is skipped
//! for an older one, or for a full replay of the log. docs/format.md, "Checkpoints".

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use crate::format::DecodeError;
use crate::format::codec::{Dec, DecodeResult, Enc};
use crate::format::records::{
    decode_attributes, decode_checksum, decode_checksum_spec, decode_extents, encode_attributes, encode_checksum,
    encode_extents, kind_byte, seq_version, version_seq,
};
use crate::index::Chain;
use crate::io::{IoBackend, IoFile};
use crate::limits;
use crate::types::{
    ChecksumSpec, Layout, Location, ObjectAttributes, ObjectInfo, PartLayout, SegmentId, Seq, UploadId, Version,
    VersionKind, VersioningState,
};

pub(crate) const CHECKPOINT_MAGIC: &[u8; 8] = b"CAIRNCKP";
/// Version 2 adds the outboxes' entries after the retired segments; version 1 (none) is still
/// read.
pub(crate) const CHECKPOINT_VERSION: u32 = 2;
const CHECKPOINT_VERSION_MIN: u32 = 1;
pub(crate) const HEADER_BYTES: usize = 64;
pub(crate) const FOOTER_BYTES: usize = 32;
/// The record layout version object attributes are encoded in.
const ATTRIBUTES_VERSION: u8 = crate::format::RECORD_VERSION;

/// The bit of a bucket's versioning byte that says MFA delete is on (checkpoints written before
/// MFA delete never set it, so they read as off).
const MFA_DELETE_FLAG: u8 = 0x80;

const PREFIX: &str = "ckpt-";
const SUFFIX: &str = ".cairn";
const TMP_SUFFIX: &str = ".tmp";

pub(crate) fn checkpoint_path(dir: &Path, seq: Seq) -> PathBuf {
    dir.join(format!("{PREFIX}{seq:016x}{SUFFIX}"))
}

/// Checkpoints in `dir` by the seq they cover, newest first. Files that are not checkpoints
/// (among them ones being written) are ignored.
pub(crate) fn list_checkpoints(dir: &Path) -> io::Result<Vec<(Seq, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_prefix(PREFIX).and_then(|rest| rest.strip_suffix(SUFFIX)) else { continue };
        if hex.len() == 16
            && let Ok(seq) = u64::from_str_radix(hex, 16)
        {
            found.push((seq, entry.path()));
        }
    }
    found.sort_by_key(|found| std::cmp::Reverse(found.0));
    Ok(found)
}

/// Deletes checkpoints that were being written when the store last closed or crashed.
pub(crate) fn remove_partial(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TMP_SUFFIX)) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A block of a bucket's keys: where it is, its first key, how many entries, its checksum.
#[derive(Clone, Debug)]
pub(crate) struct BlockRef {
    pub first_key: Box<[u8]>,
    pub offset: u64,
    pub len: u32,
    pub entries: u32,
    pub checksum: u64,
}

/// A bucket's keys in a checkpoint: the map holding them and its block index.
#[derive(Debug)]
pub(crate) struct BaseObjects {
    map: Arc<memmap2::Mmap>,
    blocks: Box<[BlockRef]>,
    keys: u64,
}

/// One entry of a block: a key and its encoded chain.
type RawEntry<'a> = (&'a [u8], &'a [u8]);

impl BaseObjects {
    pub fn keys(&self) -> u64 {
        self.keys
    }

    fn block(&self, index: usize) -> &[u8] {
        let block = &self.blocks[index];
        // In bounds: checked when the checkpoint was opened (or just written).
        &self.map[block.offset as usize..block.offset as usize + block.len as usize]
    }

    /// The chain of `key`, if the checkpoint has it.
    pub fn get(&self, key: &[u8]) -> Option<Chain> {
        let at = self.blocks.partition_point(|block| &*block.first_key <= key).checked_sub(1)?;
        for entry in BlockEntries::new(self.block(at)) {
            let (found, chain) = entry.ok()?;
            if found == key {
                return decode_chain_logged(chain);
            }
            if found > key {
                return None;
            }
        }
        None
    }

    /// Entries from `lower` on, in key order, their chains still encoded.
    pub fn iter_from<'a>(&'a self, lower: Bound<&'a [u8]>) -> impl Iterator<Item = RawEntry<'a>> + 'a {
        let start = match lower {
            Bound::Unbounded => 0,
            Bound::Included(key) | Bound::Excluded(key) => {
                self.blocks.partition_point(|block| &*block.first_key <= key).saturating_sub(1)
            }
        };
        (start..self.blocks.len())
            .flat_map(move |index| BlockEntries::new(self.block(index)).map_while(|entry| entry.ok()))
            .filter(move |(key, _)| match lower {
                Bound::Unbounded => true,
                Bound::Included(lower) => *key >= lower,
                Bound::Excluded(lower) => *key > lower,
            })
    }

    /// Every entry, raw (the checkpoint writer copies untouched chains without decoding them).
    pub fn iter_raw(&self) -> impl Iterator<Item = RawEntry<'_>> + '_ {
        self.iter_from(Bound::Unbounded)
    }
}

/// A chain the checkpoint's checks passed but that does not decode is a bug, not damage: it is
/// logged and the key reads as absent rather than the process stopping.
pub(crate) fn decode_chain_logged(bytes: &[u8]) -> Option<Chain> {
    match decode_chain(bytes) {
        Ok(chain) => Some(Arc::new(chain)),
        Err(error) => {
            log::error!("a checkpoint chain does not decode: {}", error.0);
            None
        }
    }
}

struct BlockEntries<'a> {
    dec: Dec<'a>,
}

impl<'a> BlockEntries<'a> {
    fn new(block: &'a [u8]) -> BlockEntries<'a> {
        BlockEntries { dec: Dec::new(block) }
    }
}

impl<'a> Iterator for BlockEntries<'a> {
    type Item = DecodeResult<RawEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.dec.remaining() == 0 {
            return None;
        }
        Some((|| Ok((self.dec.bytes()?, self.dec.bytes()?)))())
    }
}

// ---- chains ----

pub(crate) fn encode_chain(enc: &mut Enc, chain: &[Version]) {
    enc.u32(chain.len() as u32);
    for version in chain {
        enc.u64(version.seq);
        enc.u64(version_seq(version.id));
        match &version.kind {
            VersionKind::Object(info) => {
                enc.u8(1);
                encode_info(enc, info);
            }
            VersionKind::DeleteMarker { last_modified_ms } => {
                enc.u8(2);
                enc.u64(*last_modified_ms);
            }
        }
    }
}

pub(crate) fn decode_chain(bytes: &[u8]) -> DecodeResult<Vec<Version>> {
    let mut dec = Dec::new(bytes);
    // A version is at least its seq, id and kind.
    let count = dec.count(17)?;
    let mut chain = Vec::with_capacity(count);
    for _ in 0..count {
        let seq = dec.u64()?;
        let id = seq_version(dec.u64()?);
        let kind = match dec.u8()? {
            1 => VersionKind::Object(Arc::new(decode_info(&mut dec)?)),
            2 => VersionKind::DeleteMarker { last_modified_ms: dec.u64()? },
            _ => return Err(DecodeError("unknown version kind")),
        };
        chain.push(Version { seq, id, kind });
    }
    dec.finish()?;
    if chain.is_empty() {
        return Err(DecodeError("empty version chain"));
    }
    if !chain.windows(2).all(|pair| pair[0].seq > pair[1].seq) {
        return Err(DecodeError("version chain is not newest first"));
    }
    Ok(chain)
}

fn encode_info(enc: &mut Enc, info: &ObjectInfo) {
    enc.u64(info.size);
    enc.fixed(&info.etag_md5);
    enc.u64(info.last_modified_ms);
    encode_attributes(enc, &info.attributes);
    enc.u64(info.restored_until_ms);
    encode_checksum(enc, info.checksum.as_ref());
    match &info.layout {
        Layout::Extents(extents) => {
            enc.u8(1);
            encode_extents(enc, extents);
        }
        Layout::Parts(parts) => {
            enc.u8(2);
            enc.u32(parts.len() as u32);
            for part in parts.iter() {
                encode_part(enc, part);
            }
        }
    }
}

fn decode_info(dec: &mut Dec<'_>) -> DecodeResult<ObjectInfo> {
    let size = dec.u64()?;
    let etag_md5 = dec.array()?;
    let last_modified_ms = dec.u64()?;
    let attributes = decode_attributes(dec, ATTRIBUTES_VERSION)?;
    let restored_until_ms = dec.u64()?;
    let checksum = decode_checksum(dec)?;
    let layout = match dec.u8()? {
        1 => Layout::Extents(Arc::from(decode_extents(dec, ATTRIBUTES_VERSION)?)),
        2 => {
            let count = dec.count(PART_BYTES_MIN)?;
            let parts = (0..count).map(|_| decode_part(dec)).collect::<DecodeResult<Vec<_>>>()?;
            Layout::Parts(Arc::from(parts))
        }
        _ => return Err(DecodeError("unknown layout tag")),
    };
    Ok(ObjectInfo { size, etag_md5, last_modified_ms, attributes, layout, checksum, restored_until_ms })
}

/// A part is at least its number, times, seq, size, MD5, extent count and checksum tag.
const PART_BYTES_MIN: usize = 4 + 8 + 8 + 8 + 16 + 4 + 1;

fn encode_part(enc: &mut Enc, part: &PartLayout) {
    enc.u32(part.number);
    enc.u64(part.last_modified_ms);
    enc.u64(part.seq);
    enc.u64(part.size);
    enc.fixed(&part.md5);
    encode_extents(enc, &part.extents);
    encode_checksum(enc, part.checksum.as_ref());
}

fn decode_part(dec: &mut Dec<'_>) -> DecodeResult<PartLayout> {
    Ok(PartLayout {
        number: dec.u32()?,
        last_modified_ms: dec.u64()?,
        seq: dec.u64()?,
        size: dec.u64()?,
        md5: dec.array()?,
        extents: Arc::from(decode_extents(dec, ATTRIBUTES_VERSION)?),
        checksum: decode_checksum(dec)?,
    })
}

// ---- the meta section ----

/// An upload in progress, as a checkpoint holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UploadMeta {
    pub key: String,
    pub id: UploadId,
    pub initiated_ms: u64,
    pub attributes: ObjectAttributes,
    pub checksum: Option<ChecksumSpec>,
    pub parts: Vec<Arc<PartLayout>>,
}

/// A completed upload a bucket remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompletedMeta {
    pub id: UploadId,
    pub done: crate::index::CompletedUpload,
}

/// Everything of a bucket but its keys, and the block index of those.
#[derive(Clone, Debug)]
pub(crate) struct BucketMeta {
    pub name: String,
    pub region: String,
    pub created_ms: u64,
    pub owner: String,
    pub versioning: VersioningState,
    /// S3's MFA delete: the versioning byte's `MFA_DELETE_FLAG`.
    pub mfa_delete: bool,
    pub configs: Vec<(String, Arc<[u8]>)>,
    pub completed: Vec<CompletedMeta>,
    pub uploads: Vec<UploadMeta>,
    pub keys: u64,
    pub blocks: Vec<BlockRef>,
}

/// An account's configuration document: (account, name) and its value.
pub(crate) type AccountConfig = ((String, String), Arc<[u8]>);

/// The meta section of a checkpoint.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    pub buckets: Vec<BucketMeta>,
    pub account_configs: Vec<AccountConfig>,
    /// Live (referenced) chunk bytes per segment, headers included.
    pub usage: BTreeMap<SegmentId, u64>,
    /// Segments compaction retired whose files may still exist.
    pub retired: Vec<SegmentId>,
    /// Every outbox entry: (outbox, id, payload), by outbox then id (version 2 and later).
    pub outboxes: Vec<(String, Seq, Arc<[u8]>)>,
}

fn encode_meta(meta: &Meta) -> Vec<u8> {
    let mut enc = Enc::with_capacity(4096);
    enc.u32(meta.buckets.len() as u32);
    for bucket in &meta.buckets {
        enc.str(&bucket.name);
        enc.str(&bucket.region);
        enc.u64(bucket.created_ms);
        enc.str(&bucket.owner);
        enc.u8(bucket.versioning.to_byte() | if bucket.mfa_delete { MFA_DELETE_FLAG } else { 0 });
        enc.u32(bucket.configs.len() as u32);
        for (name, value) in &bucket.configs {
            enc.str(name);
            enc.bytes(value);
        }
        enc.u32(bucket.completed.len() as u32);
        for completed in &bucket.completed {
            let done = &completed.done;
            enc.u64(completed.id.0);
            enc.str(&done.key);
            enc.u64(version_seq(done.version));
            enc.u64(done.size);
            enc.fixed(&done.etag_md5);
            enc.u32(done.parts);
            encode_checksum(&mut enc, done.checksum.as_ref());
        }
        enc.u32(bucket.uploads.len() as u32);
        for upload in &bucket.uploads {
            enc.str(&upload.key);
            enc.u64(upload.id.0);
            enc.u64(upload.initiated_ms);
            encode_attributes(&mut enc, &upload.attributes);
            match upload.checksum {
                None => enc.u8(0),
                Some(spec) => {
                    enc.u8(spec.algorithm.to_byte());
                    enc.u8(kind_byte(spec.kind));
                }
            }
            enc.u32(upload.parts.len() as u32);
            for part in &upload.parts {
                encode_part(&mut enc, part);
            }
        }
        enc.u64(bucket.keys);
        enc.u32(bucket.blocks.len() as u32);
        for block in &bucket.blocks {
            enc.bytes(&block.first_key);
            enc.u64(block.offset);
            enc.u32(block.len);
            enc.u32(block.entries);
            enc.u64(block.checksum);
        }
    }
    enc.u32(meta.account_configs.len() as u32);
    for ((account, name), value) in &meta.account_configs {
        enc.str(account);
        enc.str(name);
        enc.bytes(value);
    }
    enc.u32(meta.usage.len() as u32);
    for (id, live) in &meta.usage {
        enc.u64(id.0);
        enc.u64(*live);
    }
    enc.u32(meta.retired.len() as u32);
    for id in &meta.retired {
        enc.u64(id.0);
    }
    enc.u32(meta.outboxes.len() as u32);
    for (outbox, seq, payload) in &meta.outboxes {
        enc.str(outbox);
        enc.u64(*seq);
        enc.bytes(payload);
    }
    enc.buf
}

fn decode_meta(bytes: &[u8], version: u32) -> DecodeResult<Meta> {
    let mut dec = Dec::new(bytes);
    let mut meta = Meta::default();
    let count = dec.count(32)?;
    for _ in 0..count {
        let name = dec.str()?;
        let region = dec.str()?;
        let created_ms = dec.u64()?;
        let owner = dec.str()?;
        let byte = dec.u8()?;
        let versioning =
            VersioningState::from_byte(byte & !MFA_DELETE_FLAG).ok_or(DecodeError("unknown versioning state"))?;
        let mfa_delete = byte & MFA_DELETE_FLAG != 0;
        let configs =
            (0..dec.count(8)?).map(|_| Ok((dec.str()?, Arc::from(dec.bytes()?)))).collect::<DecodeResult<Vec<_>>>()?;
        let completed = (0..dec.count(8 + 4 + 8 + 8 + 16 + 4 + 1)?)
            .map(|_| {
                let id = UploadId(dec.u64()?);
                let done = crate::index::CompletedUpload {
                    key: dec.str()?,
                    version: seq_version(dec.u64()?),
                    size: dec.u64()?,
                    etag_md5: dec.array()?,
                    parts: dec.u32()?,
                    checksum: decode_checksum(&mut dec)?,
                };
                Ok(CompletedMeta { id, done })
            })
            .collect::<DecodeResult<Vec<_>>>()?;
        let uploads = (0..dec.count(4 + 8 + 8 + 1)?)
            .map(|_| {
                Ok(UploadMeta {
                    key: dec.str()?,
                    id: UploadId(dec.u64()?),
                    initiated_ms: dec.u64()?,
                    attributes: decode_attributes(&mut dec, ATTRIBUTES_VERSION)?,
                    checksum: decode_checksum_spec(&mut dec)?,
                    parts: (0..dec.count(PART_BYTES_MIN)?)
                        .map(|_| decode_part(&mut dec).map(Arc::new))
                        .collect::<DecodeResult<Vec<_>>>()?,
                })
            })
            .collect::<DecodeResult<Vec<_>>>()?;
        let keys = dec.u64()?;
        let blocks = (0..dec.count(4 + 8 + 4 + 4 + 8)?)
            .map(|_| {
                Ok(BlockRef {
                    first_key: Box::from(dec.bytes()?),
                    offset: dec.u64()?,
                    len: dec.u32()?,
                    entries: dec.u32()?,
                    checksum: dec.u64()?,
                })
            })
            .collect::<DecodeResult<Vec<_>>>()?;
        meta.buckets.push(BucketMeta {
            name,
            region,
            created_ms,
            owner,
            versioning,
            mfa_delete,
            configs,
            completed,
            uploads,
            keys,
            blocks,
        });
    }
    for _ in 0..dec.count(12)? {
        meta.account_configs.push(((dec.str()?, dec.str()?), Arc::from(dec.bytes()?)));
    }
    for _ in 0..dec.count(16)? {
        let id = SegmentId(dec.u64()?);
        if meta.usage.insert(id, dec.u64()?).is_some() {
            return Err(DecodeError("a segment's usage is listed twice"));
        }
    }
    for _ in 0..dec.count(8)? {
        meta.retired.push(SegmentId(dec.u64()?));
    }
    if version >= 2 {
        for _ in 0..dec.count(4 + 8 + 4)? {
            meta.outboxes.push((dec.str()?, dec.u64()?, Arc::from(dec.bytes()?)));
        }
    }
    dec.finish()?;
    Ok(meta)
}

// ---- header and footer ----

/// Where a checkpoint stands in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPosition {
    /// The last sequence number it covers.
    pub seq: Seq,
    /// Where replay resumes: every record before it is in the checkpoint.
    pub resume: Location,
    pub created_ms: u64,
}

fn encode_header(position: &CheckpointPosition) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(CHECKPOINT_MAGIC);
    header[8..12].copy_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&position.seq.to_le_bytes());
    header[24..32].copy_from_slice(&position.resume.segment.0.to_le_bytes());
    header[32..40].copy_from_slice(&position.resume.offset.to_le_bytes());
    header[40..48].copy_from_slice(&position.created_ms.to_le_bytes());
    let checksum = xxh3_64(&header[..56]);
    header[56..64].copy_from_slice(&checksum.to_le_bytes());
    header
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("sized"))
}

/// A checkpoint's position and format version.
fn decode_header(header: &[u8; HEADER_BYTES]) -> DecodeResult<(CheckpointPosition, u32)> {
    if &header[0..8] != CHECKPOINT_MAGIC {
        return Err(DecodeError("not a checkpoint (bad magic)"));
    }
    if u64_at(header, 56) != xxh3_64(&header[..56]) {
        return Err(DecodeError("checkpoint header fails its checksum"));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("sized"));
    if !(CHECKPOINT_VERSION_MIN..=CHECKPOINT_VERSION).contains(&version) {
        return Err(DecodeError("unknown checkpoint version"));
    }
    if header[12..16] != [0; 4] || header[48..56] != [0; 8] {
        return Err(DecodeError("reserved checkpoint header bytes are not zero"));
    }
    let position = CheckpointPosition {
        seq: u64_at(header, 16),
        resume: Location { segment: SegmentId(u64_at(header, 24)), offset: u64_at(header, 32) },
        created_ms: u64_at(header, 40),
    };
    if position.resume.segment.0 == 0 || position.resume.offset < crate::format::SEGMENT_HEADER_BYTES as u64 {
        return Err(DecodeError("checkpoint resumes outside the log"));
    }
    Ok((position, version))
}

fn encode_footer(meta_offset: u64, meta: &[u8]) -> [u8; FOOTER_BYTES] {
    let mut footer = [0u8; FOOTER_BYTES];
    footer[0..8].copy_from_slice(&meta_offset.to_le_bytes());
    footer[8..16].copy_from_slice(&(meta.len() as u64).to_le_bytes());
    footer[16..24].copy_from_slice(&xxh3_64(meta).to_le_bytes());
    let checksum = xxh3_64(&footer[..24]);
    footer[24..32].copy_from_slice(&checksum.to_le_bytes());
    footer
}

// ---- reading ----

/// An opened, checked checkpoint.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    pub path: PathBuf,
    pub position: CheckpointPosition,
    pub meta: Meta,
    pub bytes: u64,
    map: Arc<memmap2::Mmap>,
}

impl Checkpoint {
    /// Opens and checks the checkpoint at `path`: every byte is read once (not through the map,
    /// so none of it stays resident) and every check must pass.
    pub fn open(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < (HEADER_BYTES + FOOTER_BYTES) as u64 {
            return Err(DecodeError("checkpoint is too short").into());
        }
        let mut header = [0u8; HEADER_BYTES];
        file.read_exact_at(&mut header, 0)?;
        let (position, version) = decode_header(&header)?;
        let mut footer = [0u8; FOOTER_BYTES];
        file.read_exact_at(&mut footer, len - FOOTER_BYTES as u64)?;
        if u64_at(&footer, 24) != xxh3_64(&footer[..24]) {
            return Err(DecodeError("checkpoint footer fails its checksum").into());
        }
        let (meta_offset, meta_len) = (u64_at(&footer, 0), u64_at(&footer, 8));
        if meta_len > limits::CHECKPOINT_META_BYTES_MAX
            || meta_offset < HEADER_BYTES as u64
            || meta_offset.checked_add(meta_len) != Some(len - FOOTER_BYTES as u64)
        {
            return Err(DecodeError("checkpoint meta section is out of bounds").into());
        }
        let mut meta_bytes = vec![0u8; meta_len as usize];
        file.read_exact_at(&mut meta_bytes, meta_offset)?;
        if xxh3_64(&meta_bytes) != u64_at(&footer, 16) {
            return Err(DecodeError("checkpoint meta section fails its checksum").into());
        }
        let meta = decode_meta(&meta_bytes, version)?;
        check_blocks(&file, &meta, meta_offset)?;
        // SAFETY: checkpoints are immutable once renamed into place: nothing writes to one, and
        // the engine deletes one only after every map of it is dropped (the store is locked).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        if map.len() as u64 != len {
            return Err(DecodeError("checkpoint changed while it was read").into());
        }
        Ok(Checkpoint { path: path.to_owned(), position, meta, bytes: len, map: Arc::new(map) })
    }

    /// The keys of bucket number `index` of the meta section.
    pub fn objects(&self, index: usize) -> Arc<BaseObjects> {
        let bucket = &self.meta.buckets[index];
        Arc::new(BaseObjects { map: self.map.clone(), blocks: bucket.blocks.clone().into(), keys: bucket.keys })
    }
}

/// Why a checkpoint was not trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    #[error("{}", .0.0)]
    Decode(DecodeError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<DecodeError> for CheckpointError {
    fn from(error: DecodeError) -> CheckpointError {
        CheckpointError::Decode(error)
    }
}

/// Checks that the blocks tile the body exactly, and reads each once: its checksum, its entries'
/// bounds and count, and key order (strictly ascending within a bucket, the first key as named).
fn check_blocks(file: &std::fs::File, meta: &Meta, meta_offset: u64) -> Result<(), CheckpointError> {
    let mut blocks: Vec<(usize, &BlockRef)> =
        meta.buckets.iter().enumerate().flat_map(|(i, bucket)| bucket.blocks.iter().map(move |b| (i, b))).collect();
    blocks.sort_by_key(|(_, block)| block.offset);
    let mut expected = HEADER_BYTES as u64;
    let mut reader = BufReader::with_capacity(limits::CHECKPOINT_READ_BUFFER_BYTES, file);
    io::Seek::seek(&mut reader, io::SeekFrom::Start(HEADER_BYTES as u64))?;
    let mut buf = Vec::new();
    let mut last_key: Vec<Option<Vec<u8>>> = vec![None; meta.buckets.len()];
    let mut keys = vec![0u64; meta.buckets.len()];
    for (bucket, block) in blocks {
        if block.offset != expected || block.len == 0 {
            return Err(DecodeError("checkpoint blocks do not tile its body").into());
        }
        expected += u64::from(block.len);
        if expected > meta_offset {
            return Err(DecodeError("a checkpoint block runs into its meta section").into());
        }
        buf.resize(block.len as usize, 0);
        reader.read_exact(&mut buf)?;
        if xxh3_64(&buf) != block.checksum {
            return Err(DecodeError("a checkpoint block fails its checksum").into());
        }
        let mut entries = 0u32;
        for entry in BlockEntries::new(&buf) {
            let (key, _) = entry?;
            if std::str::from_utf8(key).is_err() {
                return Err(DecodeError("a checkpoint key is not UTF-8").into());
            }
            if entries == 0 && key != &*block.first_key {
                return Err(DecodeError("a checkpoint block's first key is not the one named").into());
            }
            if last_key[bucket].as_deref().is_some_and(|last| last >= key) {
                return Err(DecodeError("checkpoint keys are out of order").into());
            }
            last_key[bucket] = Some(key.to_vec());
            entries += 1;
        }
        if entries != block.entries {
            return Err(DecodeError("a checkpoint block holds another number of entries than named").into());
        }
        keys[bucket] += u64::from(entries);
    }
    if expected != meta_offset {
        return Err(DecodeError("checkpoint blocks do not tile its body").into());
    }
    if meta.buckets.iter().zip(&keys).any(|(bucket, &found)| bucket.keys != found) {
        return Err(DecodeError("a bucket's key count is not its entries'").into());
    }
    Ok(())
}

/// Decodes every chain of a checkpoint (the scrub does; an open checks bounds and order only).
pub(crate) fn check_chains(checkpoint: &Checkpoint) -> Result<u64, DecodeError> {
    let mut versions = 0;
    for index in 0..checkpoint.meta.buckets.len() {
        for (_, chain) in checkpoint.objects(index).iter_raw() {
            versions += decode_chain(chain)?.len() as u64;
        }
    }
    Ok(versions)
}

// ---- writing ----

/// One bucket's keys to write: a frozen layer of changes over an older checkpoint's keys.
pub(crate) struct BucketKeys {
    pub changes: Arc<crate::index::KeyMap>,
    pub base: Option<Arc<BaseObjects>>,
}

/// Writes bytes at a rate compaction and checkpointing may not exceed.
pub(crate) trait Throttle {
    fn spend(&self, bytes: u64);
}

struct Blocks<'a, W: Write> {
    out: &'a mut W,
    offset: u64,
    block: Vec<u8>,
    first_key: Vec<u8>,
    entries: u32,
    refs: Vec<BlockRef>,
    keys: u64,
    throttle: &'a dyn Throttle,
}

impl<W: Write> Blocks<'_, W> {
    fn push(&mut self, key: &[u8], chain: &[u8]) -> io::Result<()> {
        if self.entries == 0 {
            self.first_key.clear();
            self.first_key.extend_from_slice(key);
        }
        let mut enc = Enc { buf: std::mem::take(&mut self.block) };
        enc.bytes(key);
        enc.bytes(chain);
        self.block = enc.buf;
        self.entries += 1;
        self.keys += 1;
        if self.block.len() >= limits::CHECKPOINT_BLOCK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.entries == 0 {
            return Ok(());
        }
        self.out.write_all(&self.block)?;
        self.throttle.spend(self.block.len() as u64);
        self.refs.push(BlockRef {
            first_key: Box::from(&self.first_key[..]),
            offset: self.offset,
            len: self.block.len() as u32,
            entries: self.entries,
            checksum: xxh3_64(&self.block),
        });
        self.offset += self.block.len() as u64;
        self.block.clear();
        self.entries = 0;
        Ok(())
    }
}

/// Writes a checkpoint of `meta` (whose block indexes it fills in) and `keys` (one per bucket of
/// `meta`, in order) into `dir`: to a temporary name, synced, renamed into place, the directory
/// synced. Returns it opened. A failure leaves no checkpoint behind.
pub(crate) fn write(
    dir: &Path,
    backend: &dyn IoBackend,
    position: CheckpointPosition,
    mut meta: Meta,
    keys: &[BucketKeys],
    throttle: &dyn Throttle,
) -> io::Result<Checkpoint> {
    let path = checkpoint_path(dir, position.seq);
    let tmp = path.with_extension(format!("cairn{TMP_SUFFIX}"));
    let written = (|| {
        let mut file = backend.open(&tmp, true)?;
        let mut out = BackendWriter { backend, file: &file, offset: 0, buf: Vec::new() };
        out.write_all(&encode_header(&position))?;
        let mut offset = HEADER_BYTES as u64;
        let mut encoded = Enc::default();
        for (bucket, keys) in meta.buckets.iter_mut().zip(keys) {
            let mut blocks = Blocks {
                out: &mut out,
                offset,
                block: Vec::with_capacity(limits::CHECKPOINT_BLOCK_BYTES * 2),
                first_key: Vec::new(),
                entries: 0,
                refs: Vec::new(),
                keys: 0,
                throttle,
            };
            let mut base = keys.base.as_ref().map(|base| base.iter_raw()).into_iter().flatten().peekable();
            for change in keys.changes.iter() {
                let key = change.key().as_slice();
                while let Some((old_key, old_chain)) = base.next_if(|(old_key, _)| *old_key < key) {
                    blocks.push(old_key, old_chain)?;
                }
                base.next_if(|(old_key, _)| *old_key == key);
                if !change.value().is_empty() {
                    encoded.buf.clear();
                    encode_chain(&mut encoded, change.value());
                    blocks.push(key, &encoded.buf)?;
                }
            }
            for (old_key, old_chain) in base {
                blocks.push(old_key, old_chain)?;
            }
            blocks.flush()?;
            offset = blocks.offset;
            bucket.keys = blocks.keys;
            bucket.blocks = blocks.refs;
        }
        let meta_bytes = encode_meta(&meta);
        out.write_all(&meta_bytes)?;
        out.write_all(&encode_footer(offset, &meta_bytes))?;
        out.flush()?;
        backend.sync(&file)?;
        backend.rename(&mut file, &path)?;
        backend.sync_dir(dir)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    Checkpoint::open(&path).map_err(|error| match error {
        CheckpointError::Io(error) => error,
        CheckpointError::Decode(error) => io::Error::other(format!("the checkpoint just written: {}", error.0)),
    })
}

/// Buffers a checkpoint's bytes into writes of `CHECKPOINT_WRITE_BUFFER_BYTES` through the
/// store's I/O backend (so the fault-injecting one sees, and crashes, them as it does the log's).
struct BackendWriter<'a> {
    backend: &'a dyn IoBackend,
    file: &'a IoFile,
    offset: u64,
    buf: Vec<u8>,
}

impl Write for BackendWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= limits::CHECKPOINT_WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.backend.write_at(self.file, self.offset, &[&self.buf], false)?;
            self.offset += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Extent, StorageClass};

    fn info(n: u64) -> ObjectInfo {
        ObjectInfo {
            size: n,
            etag_md5: [n as u8; 16],
            last_modified_ms: 1000 + n,
            attributes: ObjectAttributes { storage_class: StorageClass::StandardIa, ..ObjectAttributes::default() },
            layout: Layout::Extents(Arc::from(vec![Extent {
                location: Location { segment: SegmentId(1), offset: 64 + n },
                len: n as u32,
                stored: n as u32 + 28,
            }])),
            checksum: None,
            restored_until_ms: 0,
        }
    }

    /// A small store's checkpoint: every single flipped byte is refused, and so is a footer
    /// (with a valid checksum) that claims a meta section past `CHECKPOINT_META_BYTES_MAX`.
    #[test]
    fn every_damaged_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::EngineConfig { background: false, ..crate::EngineConfig::default() };
        let engine = crate::Engine::open(dir.path(), config).unwrap();
        engine.create_bucket("bucket", "us-east-1").unwrap();
        for n in 0..40u64 {
            let data = crate::testing::body(n, 100);
            engine.put_object_bytes("bucket", &format!("key-{n}"), ObjectAttributes::default(), &data).unwrap();
        }
        engine.create_upload("bucket", "pending", ObjectAttributes::default()).unwrap();
        let written = engine.checkpoint().unwrap();
        drop(engine);
        let path = PathBuf::from(&written.file);
        let good = std::fs::read(&path).unwrap();
        let opened = Checkpoint::open(&path).unwrap();
        assert_eq!(check_chains(&opened).unwrap(), 40);
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            assert!(Checkpoint::open(&path).is_err(), "a flip at {at} of {} went unnoticed", good.len());
        }
        let mut bad = good.clone();
        let footer_at = bad.len() - FOOTER_BYTES;
        let meta_offset = u64_at(&bad, footer_at);
        let footer = encode_footer(meta_offset, &[]);
        bad[footer_at..].copy_from_slice(&footer);
        bad[footer_at + 8..footer_at + 16].copy_from_slice(&(limits::CHECKPOINT_META_BYTES_MAX + 1).to_le_bytes());
        let checksum = xxh3_64(&bad[footer_at..footer_at + 24]);
        bad[footer_at + 24..].copy_from_slice(&checksum.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let error = Checkpoint::open(&path).unwrap_err().to_string();
        assert!(error.contains("out of bounds"), "{error}");
        std::fs::write(&path, &good).unwrap();
        assert!(Checkpoint::open(&path).is_ok());
    }

    #[test]
    fn chains_round_trip() {
        let chain = vec![
            Version {
                seq: 9,
                id: crate::types::VersionId::Id(9),
                kind: VersionKind::DeleteMarker { last_modified_ms: 5 },
            },
            Version { seq: 3, id: crate::types::VersionId::Null, kind: VersionKind::Object(Arc::new(info(3))) },
        ];
        let mut enc = Enc::default();
        encode_chain(&mut enc, &chain);
        assert_eq!(decode_chain(&enc.buf).unwrap(), chain);
        for cut in 0..enc.buf.len() {
            assert!(decode_chain(&enc.buf[..cut]).is_err());
        }
    }
}
