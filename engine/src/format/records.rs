//! Metadata records: the `Mutation` enum and its payload encoding. Every metadata payload starts
//! with the record's commit sequence number (u64), which the log writer fills in at append time.

use super::codec::{Dec, DecodeError, DecodeResult, Enc};
use super::{RECORD_HEADER_BYTES, RecordKind, encode_record_header_durable};
use crate::outbox::Notice;
use crate::types::{
    Checksum, ChecksumAlgorithm, ChecksumKind, ChecksumSpec, Encryption, Extent, Location, LockChange,
    ObjectAttributes, ObjectLock, ReplicationStatus, Retention, RetentionMode, SegmentId, Seq, SseMode, StorageClass,
    SystemMetadata, UploadId, VersionId, VersioningState,
};

/// Encoded size of an extent: segment, offset, body length, and (record version 6 and later)
/// stored length.
const EXTENT_BYTES: usize = 8 + 8 + 4 + 4;
const EXTENT_BYTES_V5: usize = 8 + 8 + 4;

/// How a committed object's body is laid out, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RecordLayout {
    Extents(Vec<Extent>),
    /// (part number, sequence number of the part record) for each part, in order.
    Parts(Vec<(u32, Seq)>),
}

/// What must hold for an object commit to take effect, checked when it is applied, so that a
/// conditional write is atomic with respect to every other write of the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PutCondition {
    #[default]
    None,
    /// `If-None-Match: *`: no current object (a delete marker counts as none).
    IfNoneMatch,
    /// `If-Match`: the current version is an object with this ETag (MD5 and parts count, 0
    /// for a single PUT).
    IfMatch { etag_md5: [u8; 16], parts: u32 },
}

/// An object version commit as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectPut {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag_md5: [u8; 16],
    pub last_modified_ms: u64,
    pub attributes: ObjectAttributes,
    pub layout: RecordLayout,
    /// Set when this commit completes a multipart upload (the upload ends with it).
    pub upload: Option<UploadId>,
    /// Record version 2 and later; version 1 records have none.
    pub condition: PutCondition,
    /// Record version 3 and later.
    pub checksum: Option<Checksum>,
    /// Outbox entries made with the version, if it is made (record version 10 and later; at
    /// most one before version 11, at most `limits::NOTICES_MAX`).
    pub notices: Vec<Notice>,
    /// A replica's version id: the source's, kept (record version 11 and later). The bucket
    /// must have versioning enabled; a replica of a version it holds already changes nothing.
    pub replica: Option<Seq>,
}

/// What references a chunk: an object version or a part of an upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ChunkOwner {
    Version { key: String, version: VersionId },
    Part { upload: UploadId, number: u32 },
}

/// One chunk compaction copied: the references of `owner` in `bucket` to the chunk at `from`
/// now name the copy, `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChunkMove {
    pub bucket: String,
    pub owner: ChunkOwner,
    pub from: Location,
    pub to: Extent,
}

/// One change to the store's metadata: a record's meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mutation {
    BucketCreate {
        name: String,
        region: String,
        created_ms: u64,
        /// The owning account's canonical id; record version 3 and later (empty before: the
        /// root account).
        owner: String,
        /// Configuration documents the bucket is created with, in the same record (so a bucket
        /// never exists without them); record version 5 and later.
        configs: Vec<(String, Vec<u8>)>,
    },
    BucketDelete {
        name: String,
    },
    BucketConfigPut {
        bucket: String,
        name: String,
        value: Vec<u8>,
    },
    BucketConfigDelete {
        bucket: String,
        name: String,
    },
    BucketVersioning {
        bucket: String,
        state: VersioningState,
        /// S3's MFA delete: `Some` sets it, `None` leaves it (record version 8 and later).
        mfa_delete: Option<bool>,
    },
    ObjectPut(Box<ObjectPut>),
    /// Delete without a version id: what it does depends on the bucket's versioning state when
    /// applied (remove the null version, add a delete marker, or replace the null version by one).
    ObjectDelete {
        bucket: String,
        key: String,
        last_modified_ms: u64,
        /// Applied only while the current version is the one of this seq (lifecycle expiration:
        /// never the newer version a write made meanwhile); record version 8 and later.
        if_current: Option<Seq>,
        /// Outbox entries made with the delete marker or removal (record version 11 and later).
        notices: Vec<Notice>,
        /// A replicated delete marker's version id: the source's, kept (record version 11 and
        /// later). The bucket must have versioning enabled.
        replica: Option<Seq>,
    },
    VersionDelete {
        bucket: String,
        key: String,
        version: VersionId,
        /// When the delete was asked for: Object Lock decides as of then, so replay decides the
        /// same (record version 8 and later; 0 before, when no version had a lock).
        at_ms: u64,
        /// `x-amz-bypass-governance-retention`, from a requester allowed it.
        bypass_governance: bool,
    },
    UploadCreate {
        bucket: String,
        key: String,
        initiated_ms: u64,
        attributes: Box<ObjectAttributes>,
        /// Record version 3 and later.
        checksum: Option<ChecksumSpec>,
    },
    PartPut {
        bucket: String,
        upload: UploadId,
        number: u32,
        size: u64,
        md5: [u8; 16],
        last_modified_ms: u64,
        extents: Vec<Extent>,
        /// Record version 3 and later.
        checksum: Option<Checksum>,
    },
    UploadAbort {
        bucket: String,
        upload: UploadId,
    },
    /// Sets a named configuration document of an account (record version 5 and later).
    AccountConfigPut {
        account: String,
        name: String,
        value: Vec<u8>,
    },
    AccountConfigDelete {
        account: String,
        name: String,
    },
    /// Replaces the access control list of one version of a key (record version 5 and later).
    AclPut {
        bucket: String,
        key: String,
        version: VersionId,
        acl: Vec<u8>,
    },
    /// Makes an archived version readable until `until_ms` (S3's RestoreObject; record version
    /// 6 and later).
    RestorePut {
        bucket: String,
        key: String,
        version: VersionId,
        until_ms: u64,
    },
    /// Compaction copied chunks forward: each move points one reference at the copy. Then the
    /// segments in `retire` that nothing references any more are retired: never referenced
    /// again, deleted once a checkpoint covers this record (record version 7 and later).
    Compact {
        moves: Vec<ChunkMove>,
        retire: Vec<SegmentId>,
    },
    /// Changes the Object Lock state of one version: applied only where `LockChange` may
    /// change what is in force at `at_ms` (record version 8 and later).
    LockPut {
        bucket: String,
        key: String,
        version: VersionId,
        change: LockChange,
        at_ms: u64,
        bypass_governance: bool,
    },
    /// Moves one version to another storage class (lifecycle transitions; record version 8 and
    /// later).
    ClassPut {
        bucket: String,
        key: String,
        version: VersionId,
        class: StorageClass,
    },
    /// Appends `payload` to the outbox `outbox`; the entry's id is this record's seq (record
    /// version 9 and later).
    OutboxPush {
        outbox: String,
        payload: Vec<u8>,
    },
    /// Removes the entries of `outbox` whose ids are at most `through`: they were delivered
    /// (record version 9 and later).
    OutboxAck {
        outbox: String,
        through: Seq,
    },
    /// Sets the replication status of one version (record version 11 and later).
    ReplicationPut {
        bucket: String,
        key: String,
        version: VersionId,
        status: ReplicationStatus,
    },
    /// Replaces the tags of one version of a key.
    TagsPut {
        bucket: String,
        key: String,
        version: VersionId,
        tags: Vec<(String, String)>,
    },
}

impl Mutation {
    pub fn kind(&self) -> RecordKind {
        match self {
            Mutation::BucketCreate { .. } => RecordKind::BucketCreate,
            Mutation::BucketDelete { .. } => RecordKind::BucketDelete,
            Mutation::BucketConfigPut { .. } => RecordKind::BucketConfigPut,
            Mutation::AccountConfigPut { .. } => RecordKind::AccountConfigPut,
            Mutation::AccountConfigDelete { .. } => RecordKind::AccountConfigDelete,
            Mutation::BucketConfigDelete { .. } => RecordKind::BucketConfigDelete,
            Mutation::BucketVersioning { .. } => RecordKind::BucketVersioning,
            Mutation::ObjectPut(_) => RecordKind::ObjectPut,
            Mutation::ObjectDelete { .. } => RecordKind::ObjectDelete,
            Mutation::VersionDelete { .. } => RecordKind::VersionDelete,
            Mutation::UploadCreate { .. } => RecordKind::UploadCreate,
            Mutation::PartPut { .. } => RecordKind::PartPut,
            Mutation::UploadAbort { .. } => RecordKind::UploadAbort,
            Mutation::TagsPut { .. } => RecordKind::TagsPut,
            Mutation::AclPut { .. } => RecordKind::AclPut,
            Mutation::RestorePut { .. } => RecordKind::RestorePut,
            Mutation::Compact { .. } => RecordKind::Compact,
            Mutation::LockPut { .. } => RecordKind::LockPut,
            Mutation::ClassPut { .. } => RecordKind::ClassPut,
            Mutation::OutboxPush { .. } => RecordKind::OutboxPush,
            Mutation::OutboxAck { .. } => RecordKind::OutboxAck,
            Mutation::ReplicationPut { .. } => RecordKind::ReplicationPut,
        }
    }

    /// The extent list a body's chunks are recorded in, for records that have one.
    pub fn extents_mut(&mut self) -> Option<&mut Vec<Extent>> {
        match self {
            Mutation::ObjectPut(put) => match &mut put.layout {
                RecordLayout::Extents(extents) => Some(extents),
                RecordLayout::Parts(_) => None,
            },
            Mutation::PartPut { extents, .. } => Some(extents),
            _ => None,
        }
    }

    /// Encodes the payload with `seq` in its first eight bytes.
    pub fn encode_payload(&self, seq: Seq) -> Vec<u8> {
        let mut enc = Enc::with_capacity(128);
        enc.u64(seq);
        match self {
            Mutation::BucketCreate { name, region, created_ms, owner, configs } => {
                enc.str(name);
                enc.str(region);
                enc.u64(*created_ms);
                enc.str(owner);
                enc.u32(configs.len() as u32);
                for (name, value) in configs {
                    enc.str(name);
                    enc.bytes(value);
                }
            }
            Mutation::AccountConfigPut { account, name, value } => {
                enc.str(account);
                enc.str(name);
                enc.bytes(value);
            }
            Mutation::AccountConfigDelete { account, name } => {
                enc.str(account);
                enc.str(name);
            }
            Mutation::BucketDelete { name } => enc.str(name),
            Mutation::BucketConfigPut { bucket, name, value } => {
                enc.str(bucket);
                enc.str(name);
                enc.bytes(value);
            }
            Mutation::BucketConfigDelete { bucket, name } => {
                enc.str(bucket);
                enc.str(name);
            }
            Mutation::BucketVersioning { bucket, state, mfa_delete } => {
                enc.str(bucket);
                enc.u8(state.to_byte());
                enc.u8(match mfa_delete {
                    None => 0,
                    Some(false) => 1,
                    Some(true) => 2,
                });
            }
            Mutation::ObjectPut(put) => encode_object_put(&mut enc, put),
            Mutation::ObjectDelete { bucket, key, last_modified_ms, if_current, notices, replica } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(*last_modified_ms);
                enc.u64(if_current.unwrap_or(0));
                encode_notices(&mut enc, notices);
                enc.u64(replica.unwrap_or(0));
            }
            Mutation::ReplicationPut { bucket, key, version, status } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.u8(replication_byte(*status));
            }
            Mutation::VersionDelete { bucket, key, version, at_ms, bypass_governance } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.u64(*at_ms);
                enc.u8(u8::from(*bypass_governance));
            }
            Mutation::LockPut { bucket, key, version, change, at_ms, bypass_governance } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                match change {
                    LockChange::Retention(retention) => {
                        enc.u8(1);
                        encode_retention(&mut enc, retention.as_ref());
                    }
                    LockChange::LegalHold(on) => {
                        enc.u8(2);
                        enc.u8(u8::from(*on));
                    }
                }
                enc.u64(*at_ms);
                enc.u8(u8::from(*bypass_governance));
            }
            Mutation::ClassPut { bucket, key, version, class } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.u8(class.to_byte());
            }
            Mutation::OutboxPush { outbox, payload } => {
                enc.str(outbox);
                enc.bytes(payload);
            }
            Mutation::OutboxAck { outbox, through } => {
                enc.str(outbox);
                enc.u64(*through);
            }
            Mutation::UploadCreate { bucket, key, initiated_ms, attributes, checksum } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(*initiated_ms);
                encode_attributes(&mut enc, attributes);
                match checksum {
                    None => enc.u8(0),
                    Some(spec) => {
                        enc.u8(spec.algorithm.to_byte());
                        enc.u8(kind_byte(spec.kind));
                    }
                }
            }
            Mutation::PartPut { bucket, upload, number, size, md5, last_modified_ms, extents, checksum } => {
                enc.str(bucket);
                enc.u64(upload.0);
                enc.u32(*number);
                enc.u64(*size);
                enc.fixed(md5);
                enc.u64(*last_modified_ms);
                encode_extents(&mut enc, extents);
                encode_checksum(&mut enc, checksum.as_ref());
            }
            Mutation::UploadAbort { bucket, upload } => {
                enc.str(bucket);
                enc.u64(upload.0);
            }
            Mutation::TagsPut { bucket, key, version, tags } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.pairs(tags);
            }
            Mutation::AclPut { bucket, key, version, acl } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.bytes(acl);
            }
            Mutation::RestorePut { bucket, key, version, until_ms } => {
                enc.str(bucket);
                enc.str(key);
                enc.u64(version_seq(*version));
                enc.u64(*until_ms);
            }
            Mutation::Compact { moves, retire } => {
                enc.u32(moves.len() as u32);
                for chunk in moves {
                    enc.str(&chunk.bucket);
                    match &chunk.owner {
                        ChunkOwner::Version { key, version } => {
                            enc.u8(1);
                            enc.str(key);
                            enc.u64(version_seq(*version));
                        }
                        ChunkOwner::Part { upload, number } => {
                            enc.u8(2);
                            enc.u64(upload.0);
                            enc.u32(*number);
                        }
                    }
                    enc.u64(chunk.from.segment.0);
                    enc.u64(chunk.from.offset);
                    encode_extent(&mut enc, &chunk.to);
                }
                enc.u32(retire.len() as u32);
                for id in retire {
                    enc.u64(id.0);
                }
            }
        }
        enc.buf
    }

    /// Encodes the whole record (header and payload), stamped with the segment's durable length.
    pub fn encode_record(&self, seq: Seq, durable: u64) -> Vec<u8> {
        let payload = self.encode_payload(seq);
        let header = encode_record_header_durable(self.kind(), &payload, durable);
        let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
        record.extend_from_slice(&header);
        record.extend_from_slice(&payload);
        record
    }

    /// Decodes a metadata payload of `kind` written by record layout `version`, returning its
    /// sequence number and meaning.
    pub fn decode(kind: RecordKind, version: u8, payload: &[u8]) -> DecodeResult<(Seq, Mutation)> {
        let mut dec = Dec::new(payload);
        let seq = dec.u64()?;
        if seq == 0 {
            return Err(DecodeError("sequence number is zero"));
        }
        let mutation = match kind {
            RecordKind::Chunk => return Err(DecodeError("a chunk is not a metadata record")),
            RecordKind::BucketCreate => Mutation::BucketCreate {
                name: dec.str()?,
                region: dec.str()?,
                created_ms: dec.u64()?,
                owner: if version >= 3 { dec.str()? } else { String::new() },
                configs: if version >= 5 {
                    // Each entry is at least two length prefixes.
                    let count = dec.count(8)?;
                    let mut configs = Vec::with_capacity(count);
                    for _ in 0..count {
                        configs.push((dec.str()?, dec.bytes()?.to_vec()));
                    }
                    configs
                } else {
                    Vec::new()
                },
            },
            RecordKind::AccountConfigPut => {
                Mutation::AccountConfigPut { account: dec.str()?, name: dec.str()?, value: dec.bytes()?.to_vec() }
            }
            RecordKind::AccountConfigDelete => Mutation::AccountConfigDelete { account: dec.str()?, name: dec.str()? },
            RecordKind::BucketDelete => Mutation::BucketDelete { name: dec.str()? },
            RecordKind::BucketConfigPut => {
                Mutation::BucketConfigPut { bucket: dec.str()?, name: dec.str()?, value: dec.bytes()?.to_vec() }
            }
            RecordKind::BucketConfigDelete => Mutation::BucketConfigDelete { bucket: dec.str()?, name: dec.str()? },
            RecordKind::BucketVersioning => Mutation::BucketVersioning {
                bucket: dec.str()?,
                state: VersioningState::from_byte(dec.u8()?).ok_or(DecodeError("unknown versioning state"))?,
                mfa_delete: if version >= 8 {
                    match dec.u8()? {
                        0 => None,
                        1 => Some(false),
                        2 => Some(true),
                        _ => return Err(DecodeError("unknown MFA delete state")),
                    }
                } else {
                    None
                },
            },
            RecordKind::ObjectPut => Mutation::ObjectPut(Box::new(decode_object_put(&mut dec, version)?)),
            RecordKind::ObjectDelete => {
                let (bucket, key, last_modified_ms) = (dec.str()?, dec.str()?, dec.u64()?);
                let if_current = if version >= 8 { Some(dec.u64()?).filter(|seq| *seq != 0) } else { None };
                let notices = if version >= 11 { decode_notices(&mut dec, version)? } else { Vec::new() };
                let replica = decode_replica(&mut dec, version)?;
                Mutation::ObjectDelete { bucket, key, last_modified_ms, if_current, notices, replica }
            }
            RecordKind::ReplicationPut if version >= 11 => Mutation::ReplicationPut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                status: decode_replication(dec.u8()?)?,
            },
            RecordKind::ReplicationPut => return Err(DecodeError("ReplicationPut in a record before version 11")),
            RecordKind::VersionDelete => {
                let (bucket, key, version_id) = (dec.str()?, dec.str()?, seq_version(dec.u64()?));
                let (at_ms, bypass_governance) = if version >= 8 { (dec.u64()?, dec.bool()?) } else { (0, false) };
                Mutation::VersionDelete { bucket, key, version: version_id, at_ms, bypass_governance }
            }
            RecordKind::LockPut if version >= 8 => Mutation::LockPut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                change: match dec.u8()? {
                    1 => LockChange::Retention(decode_retention(&mut dec)?),
                    2 => LockChange::LegalHold(dec.bool()?),
                    _ => return Err(DecodeError("unknown lock change")),
                },
                at_ms: dec.u64()?,
                bypass_governance: dec.bool()?,
            },
            RecordKind::LockPut => return Err(DecodeError("LockPut in a record before version 8")),
            RecordKind::ClassPut if version >= 8 => Mutation::ClassPut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                class: StorageClass::from_byte(dec.u8()?).ok_or(DecodeError("unknown storage class"))?,
            },
            RecordKind::ClassPut => return Err(DecodeError("ClassPut in a record before version 8")),
            RecordKind::OutboxPush if version >= 9 => {
                Mutation::OutboxPush { outbox: dec.str()?, payload: dec.bytes()?.to_vec() }
            }
            RecordKind::OutboxAck if version >= 9 => Mutation::OutboxAck { outbox: dec.str()?, through: dec.u64()? },
            RecordKind::OutboxPush | RecordKind::OutboxAck => {
                return Err(DecodeError("an outbox record before version 9"));
            }
            RecordKind::UploadCreate => Mutation::UploadCreate {
                bucket: dec.str()?,
                key: dec.str()?,
                initiated_ms: dec.u64()?,
                attributes: Box::new(decode_attributes(&mut dec, version)?),
                checksum: if version >= 3 { decode_checksum_spec(&mut dec)? } else { None },
            },
            RecordKind::PartPut => Mutation::PartPut {
                bucket: dec.str()?,
                upload: UploadId(dec.u64()?),
                number: dec.u32()?,
                size: dec.u64()?,
                md5: dec.array()?,
                last_modified_ms: dec.u64()?,
                extents: decode_extents(&mut dec, version)?,
                checksum: if version >= 3 { decode_checksum(&mut dec)? } else { None },
            },
            RecordKind::UploadAbort => Mutation::UploadAbort { bucket: dec.str()?, upload: UploadId(dec.u64()?) },
            RecordKind::TagsPut if version >= 2 => Mutation::TagsPut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                tags: dec.pairs()?,
            },
            RecordKind::TagsPut => return Err(DecodeError("TagsPut in a version 1 record")),
            RecordKind::AclPut if version >= 5 => Mutation::AclPut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                acl: dec.bytes()?.to_vec(),
            },
            RecordKind::AclPut => return Err(DecodeError("AclPut in a record before version 5")),
            RecordKind::RestorePut if version >= 6 => Mutation::RestorePut {
                bucket: dec.str()?,
                key: dec.str()?,
                version: seq_version(dec.u64()?),
                until_ms: dec.u64()?,
            },
            RecordKind::RestorePut => return Err(DecodeError("RestorePut in a record before version 6")),
            RecordKind::Compact if version >= 7 => {
                // A move is at least a bucket, a tag, an owner and two locations.
                let count = dec.count(4 + 1 + 12 + 16 + EXTENT_BYTES)?;
                let mut moves = Vec::with_capacity(count);
                for _ in 0..count {
                    let bucket = dec.str()?;
                    let owner = match dec.u8()? {
                        1 => ChunkOwner::Version { key: dec.str()?, version: seq_version(dec.u64()?) },
                        2 => ChunkOwner::Part { upload: UploadId(dec.u64()?), number: dec.u32()? },
                        _ => return Err(DecodeError("unknown chunk owner")),
                    };
                    let from = Location { segment: SegmentId(dec.u64()?), offset: dec.u64()? };
                    let to = decode_extents_one(&mut dec)?;
                    moves.push(ChunkMove { bucket, owner, from, to });
                }
                let count = dec.count(8)?;
                let retire = (0..count).map(|_| Ok(SegmentId(dec.u64()?))).collect::<DecodeResult<_>>()?;
                Mutation::Compact { moves, retire }
            }
            RecordKind::Compact => return Err(DecodeError("Compact in a record before version 7")),
        };
        dec.finish()?;
        Ok((seq, mutation))
    }
}

fn encode_object_put(enc: &mut Enc, put: &ObjectPut) {
    enc.str(&put.bucket);
    enc.str(&put.key);
    enc.u64(put.size);
    enc.fixed(&put.etag_md5);
    enc.u64(put.last_modified_ms);
    encode_attributes(enc, &put.attributes);
    match &put.layout {
        RecordLayout::Extents(extents) => {
            enc.u8(1);
            encode_extents(enc, extents);
        }
        RecordLayout::Parts(parts) => {
            enc.u8(2);
            enc.u32(parts.len() as u32);
            for (number, seq) in parts {
                enc.u32(*number);
                enc.u64(*seq);
            }
        }
    }
    enc.u64(put.upload.map_or(0, |upload| upload.0));
    match put.condition {
        PutCondition::None => enc.u8(0),
        PutCondition::IfNoneMatch => enc.u8(1),
        PutCondition::IfMatch { etag_md5, parts } => {
            enc.u8(2);
            enc.fixed(&etag_md5);
            enc.u32(parts);
        }
    }
    encode_checksum(enc, put.checksum.as_ref());
    encode_notices(enc, &put.notices);
    enc.u64(put.replica.unwrap_or(0));
}

/// Notices: a count byte (record version 10 wrote 0 or 1), then each one's outbox and payload.
fn encode_notices(enc: &mut Enc, notices: &[Notice]) {
    enc.u8(notices.len() as u8);
    for notice in notices {
        enc.str(&notice.outbox);
        enc.bytes(&notice.payload);
    }
}

fn decode_notices(dec: &mut Dec<'_>, version: u8) -> DecodeResult<Vec<Notice>> {
    let count = if version >= 10 { usize::from(dec.u8()?) } else { 0 };
    let most = if version >= 11 { crate::limits::NOTICES_MAX } else { 1 };
    if count > most {
        return Err(DecodeError("too many notices"));
    }
    (0..count).map(|_| Ok(Notice { outbox: dec.str()?, payload: dec.bytes()?.to_vec() })).collect()
}

/// A replica's version id: 0 for none (and before record version 11).
fn decode_replica(dec: &mut Dec<'_>, version: u8) -> DecodeResult<Option<Seq>> {
    Ok(if version >= 11 { Some(dec.u64()?).filter(|seq| *seq != 0) } else { None })
}

fn replication_byte(status: ReplicationStatus) -> u8 {
    match status {
        ReplicationStatus::Pending => 1,
        ReplicationStatus::Completed => 2,
        ReplicationStatus::Failed => 3,
        ReplicationStatus::Replica => 4,
    }
}

fn decode_replication(byte: u8) -> DecodeResult<ReplicationStatus> {
    ReplicationStatus::ALL
        .into_iter()
        .find(|status| replication_byte(*status) == byte)
        .ok_or(DecodeError("unknown replication status"))
}

pub(crate) fn kind_byte(kind: ChecksumKind) -> u8 {
    match kind {
        ChecksumKind::FullObject => 1,
        ChecksumKind::Composite => 2,
    }
}

fn decode_kind(dec: &mut Dec<'_>) -> DecodeResult<ChecksumKind> {
    match dec.u8()? {
        1 => Ok(ChecksumKind::FullObject),
        2 => Ok(ChecksumKind::Composite),
        _ => Err(DecodeError("unknown checksum kind")),
    }
}

/// An optional checksum: algorithm byte (0: none), kind byte, length-prefixed digest.
pub(crate) fn encode_checksum(enc: &mut Enc, checksum: Option<&Checksum>) {
    match checksum {
        None => enc.u8(0),
        Some(checksum) => {
            enc.u8(checksum.algorithm.to_byte());
            enc.u8(kind_byte(checksum.kind));
            enc.bytes(&checksum.digest);
        }
    }
}

fn decode_algorithm(byte: u8) -> DecodeResult<Option<ChecksumAlgorithm>> {
    match byte {
        0 => Ok(None),
        byte => ChecksumAlgorithm::from_byte(byte).map(Some).ok_or(DecodeError("unknown checksum algorithm")),
    }
}

pub(crate) fn decode_checksum(dec: &mut Dec<'_>) -> DecodeResult<Option<Checksum>> {
    let Some(algorithm) = decode_algorithm(dec.u8()?)? else { return Ok(None) };
    let kind = decode_kind(dec)?;
    Checksum::new(algorithm, kind, dec.bytes()?).map(Some).ok_or(DecodeError("checksum digest has the wrong length"))
}

pub(crate) fn decode_checksum_spec(dec: &mut Dec<'_>) -> DecodeResult<Option<ChecksumSpec>> {
    let Some(algorithm) = decode_algorithm(dec.u8()?)? else { return Ok(None) };
    Ok(Some(ChecksumSpec { algorithm, kind: decode_kind(dec)? }))
}

/// The null version is 0 on disk.
pub(crate) fn version_seq(version: VersionId) -> u64 {
    match version {
        VersionId::Null => 0,
        VersionId::Id(seq) => seq,
    }
}

pub(crate) fn seq_version(seq: u64) -> VersionId {
    if seq == 0 { VersionId::Null } else { VersionId::Id(seq) }
}

fn decode_object_put(dec: &mut Dec<'_>, version: u8) -> DecodeResult<ObjectPut> {
    let bucket = dec.str()?;
    let key = dec.str()?;
    let size = dec.u64()?;
    let etag_md5 = dec.array()?;
    let last_modified_ms = dec.u64()?;
    let attributes = decode_attributes(dec, version)?;
    let layout = match dec.u8()? {
        1 => RecordLayout::Extents(decode_extents(dec, version)?),
        2 => {
            let count = dec.count(12)?;
            let parts = (0..count).map(|_| Ok((dec.u32()?, dec.u64()?))).collect::<DecodeResult<_>>()?;
            RecordLayout::Parts(parts)
        }
        _ => return Err(DecodeError("unknown layout tag")),
    };
    let upload = match dec.u64()? {
        0 => None,
        seq => Some(UploadId(seq)),
    };
    let condition = if version < 2 {
        PutCondition::None
    } else {
        match dec.u8()? {
            0 => PutCondition::None,
            1 => PutCondition::IfNoneMatch,
            2 => PutCondition::IfMatch { etag_md5: dec.array()?, parts: dec.u32()? },
            _ => return Err(DecodeError("unknown write condition")),
        }
    };
    let checksum = if version >= 3 { decode_checksum(dec)? } else { None };
    let notices = decode_notices(dec, version)?;
    let replica = decode_replica(dec, version)?;
    Ok(ObjectPut {
        bucket,
        key,
        size,
        etag_md5,
        last_modified_ms,
        attributes,
        layout,
        upload,
        condition,
        checksum,
        notices,
        replica,
    })
}

pub(crate) fn encode_attributes(enc: &mut Enc, attributes: &ObjectAttributes) {
    for field in attributes.system.fields() {
        enc.opt_str(field);
    }
    enc.pairs(&encoded_pairs(attributes));
    enc.pairs(&attributes.tags);
    enc.str(&attributes.owner);
    enc.bytes(&attributes.acl);
    enc.u8(attributes.storage_class.to_byte());
    match &attributes.encryption {
        None => enc.u8(0),
        Some(encryption) => {
            enc.u8(encryption.mode.to_byte());
            enc.str(&encryption.key_id);
            enc.str(&encryption.context);
            enc.u8(u8::from(encryption.bucket_key));
            enc.bytes(&encryption.wrapped);
            enc.bytes(&encryption.key_check);
        }
    }
}

/// An optional retention: mode byte (0: none), then the date.
fn encode_retention(enc: &mut Enc, retention: Option<&Retention>) {
    match retention {
        None => enc.u8(0),
        Some(retention) => {
            enc.u8(retention.mode.to_byte());
            enc.u64(retention.until_ms);
        }
    }
}

fn decode_retention(dec: &mut Dec<'_>) -> DecodeResult<Option<Retention>> {
    match dec.u8()? {
        0 => Ok(None),
        mode => Ok(Some(Retention {
            mode: RetentionMode::from_byte(mode).ok_or(DecodeError("unknown retention mode"))?,
            until_ms: dec.u64()?,
        })),
    }
}

/// The name under which the user metadata pairs of a record carry a system field that came
/// after the record layout was fixed: a name no user metadata can have (a header name never
/// holds a NUL), so every record version and checkpoint reads it the same (docs/format.md,
/// "System fields in the metadata pairs").
const WEBSITE_REDIRECT_PAIR: &str = "\0website-redirect-location";

/// The pair that carries a version's Object Lock state (`encode_lock`), when it has one.
const OBJECT_LOCK_PAIR: &str = "\0object-lock";

/// The pair that carries a version's replication status (S3's name for it), when it has one.
const REPLICATION_PAIR: &str = "\0replication";

/// The user metadata pairs as encoded: the user's, then the system fields they carry.
fn encoded_pairs(attributes: &ObjectAttributes) -> std::borrow::Cow<'_, [(String, String)]> {
    let redirect = &attributes.system.website_redirect_location;
    let locked = attributes.lock != ObjectLock::default();
    if redirect.is_none() && !locked && attributes.replication.is_none() {
        return std::borrow::Cow::Borrowed(&attributes.user);
    }
    let mut pairs = attributes.user.clone();
    if let Some(location) = redirect {
        pairs.push((WEBSITE_REDIRECT_PAIR.to_owned(), location.clone()));
    }
    if locked {
        pairs.push((OBJECT_LOCK_PAIR.to_owned(), encode_lock(&attributes.lock)));
    }
    if let Some(status) = attributes.replication {
        pairs.push((REPLICATION_PAIR.to_owned(), status.as_str().to_owned()));
    }
    std::borrow::Cow::Owned(pairs)
}

/// An Object Lock state as text: `<mode>:<retain until, Unix ms>:<legal hold>`, the mode empty
/// (and the date 0) without a retention, the legal hold `1` (ON), `0` (OFF) or empty (never set).
fn encode_lock(lock: &ObjectLock) -> String {
    let (mode, until_ms) = lock.retention.map_or(("", 0), |r| (r.mode.as_str(), r.until_ms));
    let hold = match lock.legal_hold {
        None => "",
        Some(false) => "0",
        Some(true) => "1",
    };
    format!("{mode}:{until_ms}:{hold}")
}

fn decode_lock(text: &str) -> DecodeResult<ObjectLock> {
    let bad = DecodeError("malformed object lock state");
    let mut fields = text.split(':');
    let (Some(mode), Some(until_ms), Some(hold), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad);
    };
    let until_ms: u64 = until_ms.parse().map_err(|_| bad)?;
    let retention = match mode {
        "" if until_ms == 0 => None,
        mode => Some(Retention { mode: RetentionMode::parse(mode).ok_or(bad)?, until_ms }),
    };
    let legal_hold = match hold {
        "" => None,
        "0" => Some(false),
        "1" => Some(true),
        _ => return Err(bad),
    };
    Ok(ObjectLock { retention, legal_hold })
}

pub(crate) fn decode_attributes(dec: &mut Dec<'_>, version: u8) -> DecodeResult<ObjectAttributes> {
    let system = SystemMetadata {
        content_type: dec.opt_str()?,
        content_encoding: dec.opt_str()?,
        content_disposition: dec.opt_str()?,
        content_language: dec.opt_str()?,
        cache_control: dec.opt_str()?,
        expires: dec.opt_str()?,
        website_redirect_location: None,
    };
    let (mut user, tags): (Vec<(String, String)>, _) = (dec.pairs()?, dec.pairs()?);
    let mut system = system;
    if let Some(at) = user.iter().position(|(name, _)| name == WEBSITE_REDIRECT_PAIR) {
        system.website_redirect_location = Some(user.remove(at).1);
    }
    let (owner, acl) = if version >= 5 { (dec.str()?, dec.bytes()?.to_vec()) } else { Default::default() };
    let (mut storage_class, mut encryption) = (StorageClass::Standard, None);
    if version >= 6 {
        storage_class = StorageClass::from_byte(dec.u8()?).ok_or(DecodeError("unknown storage class"))?;
        encryption = match dec.u8()? {
            0 => None,
            mode => Some(Encryption {
                mode: SseMode::from_byte(mode).ok_or(DecodeError("unknown encryption mode"))?,
                key_id: dec.str()?,
                context: dec.str()?,
                bucket_key: dec.bool()?,
                wrapped: dec.bytes()?.to_vec(),
                key_check: dec.bytes()?.to_vec(),
            }),
        };
    }
    let lock = match user.iter().position(|(name, _)| name == OBJECT_LOCK_PAIR) {
        Some(at) => decode_lock(&user.remove(at).1)?,
        None => ObjectLock::default(),
    };
    let replication = match user.iter().position(|(name, _)| name == REPLICATION_PAIR) {
        Some(at) => {
            Some(ReplicationStatus::parse(&user.remove(at).1).ok_or(DecodeError("unknown replication status"))?)
        }
        None => None,
    };
    Ok(ObjectAttributes { system, user, tags, owner, acl, storage_class, encryption, lock, replication })
}

pub(crate) fn encode_extents(enc: &mut Enc, extents: &[Extent]) {
    enc.u32(extents.len() as u32);
    for extent in extents {
        encode_extent(enc, extent);
    }
}

fn encode_extent(enc: &mut Enc, extent: &Extent) {
    enc.u64(extent.location.segment.0);
    enc.u64(extent.location.offset);
    enc.u32(extent.len);
    enc.u32(extent.stored);
}

/// One extent of the current layout (24 bytes).
fn decode_extents_one(dec: &mut Dec<'_>) -> DecodeResult<Extent> {
    let location = Location { segment: SegmentId(dec.u64()?), offset: dec.u64()? };
    Ok(Extent { location, len: dec.u32()?, stored: dec.u32()? })
}

pub(crate) fn decode_extents(dec: &mut Dec<'_>, version: u8) -> DecodeResult<Vec<Extent>> {
    let count = dec.count(if version >= 6 { EXTENT_BYTES } else { EXTENT_BYTES_V5 })?;
    (0..count)
        .map(|_| {
            let segment = SegmentId(dec.u64()?);
            let offset = dec.u64()?;
            let len = dec.u32()?;
            // Before version 6 a chunk's payload was its body bytes.
            let stored = if version >= 6 { dec.u32()? } else { len };
            Ok(Extent { location: Location { segment, offset }, len, stored })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9/é]{0,12}"
    }

    fn attributes() -> impl Strategy<Value = ObjectAttributes> {
        (
            (proptest::option::of(text()), proptest::option::of(text())),
            proptest::option::of(text()),
            proptest::collection::vec((text(), text()), 0..3),
            proptest::collection::vec((text(), text()), 0..3),
            text(),
            proptest::collection::vec(any::<u8>(), 0..16),
            (0..StorageClass::ALL.len(), proptest::option::of((1u8..=4, text(), any::<bool>(), any::<[u8; 8]>()))),
            (lock(), proptest::option::of(0..ReplicationStatus::ALL.len())),
        )
            .prop_map(
                |(
                    (content_type, website_redirect_location),
                    cache_control,
                    user,
                    tags,
                    owner,
                    acl,
                    (class, encryption),
                    (lock, replication),
                )| {
                    ObjectAttributes {
                        system: SystemMetadata {
                            content_type,
                            cache_control,
                            website_redirect_location,
                            ..Default::default()
                        },
                        user,
                        tags,
                        owner,
                        acl,
                        storage_class: StorageClass::ALL[class],
                        encryption: encryption.map(|(mode, key_id, bucket_key, bytes)| Encryption {
                            mode: SseMode::from_byte(mode).unwrap(),
                            context: key_id.clone(),
                            key_id,
                            bucket_key,
                            wrapped: bytes.to_vec(),
                            key_check: bytes[..mode as usize].to_vec(),
                        }),
                        lock,
                        replication: replication.map(|at| ReplicationStatus::ALL[at]),
                    }
                },
            )
    }

    fn notices(n: u64) -> Vec<Notice> {
        (0..n % (crate::limits::NOTICES_MAX as u64 + 1))
            .map(|i| Notice { outbox: format!("events/{i}"), payload: n.to_le_bytes()[..i as usize].to_vec() })
            .collect()
    }

    fn retention() -> impl Strategy<Value = Option<Retention>> {
        proptest::option::of((any::<bool>(), any::<u64>()).prop_map(|(compliance, until_ms)| Retention {
            mode: if compliance { RetentionMode::Compliance } else { RetentionMode::Governance },
            until_ms,
        }))
    }

    fn lock() -> impl Strategy<Value = ObjectLock> {
        (retention(), proptest::option::of(any::<bool>()))
            .prop_map(|(retention, legal_hold)| ObjectLock { retention, legal_hold })
    }

    fn extents() -> impl Strategy<Value = Vec<Extent>> {
        proptest::collection::vec(
            (1u64.., any::<u64>(), any::<u32>(), any::<u32>()).prop_map(|(segment, offset, len, stored)| Extent {
                location: Location { segment: SegmentId(segment), offset },
                len,
                stored,
            }),
            0..4,
        )
    }

    /// Every algorithm and kind, and none, chosen by `n`.
    fn checksum_of(n: u64) -> Option<Checksum> {
        let algorithm = *ChecksumAlgorithm::ALL.get((n % 6) as usize)?;
        let kind = if n % 4 < 2 { ChecksumKind::FullObject } else { ChecksumKind::Composite };
        let digest: Vec<u8> = (0..algorithm.digest_len()).map(|i| (n as usize + i) as u8).collect();
        Checksum::new(algorithm, kind, &digest)
    }

    pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (
                text(),
                text(),
                any::<u64>(),
                text(),
                proptest::collection::vec((text(), proptest::collection::vec(any::<u8>(), 0..16)), 0..3)
            )
                .prop_map(|(name, region, created_ms, owner, configs)| {
                    Mutation::BucketCreate { name, region, created_ms, owner, configs }
                }),
            (text(), text(), proptest::collection::vec(any::<u8>(), 0..16))
                .prop_map(|(account, name, value)| Mutation::AccountConfigPut { account, name, value }),
            (text(), text()).prop_map(|(account, name)| Mutation::AccountConfigDelete { account, name }),
            text().prop_map(|name| Mutation::BucketDelete { name }),
            (text(), text(), proptest::collection::vec(any::<u8>(), 0..16))
                .prop_map(|(bucket, name, value)| Mutation::BucketConfigPut { bucket, name, value }),
            (text(), text()).prop_map(|(bucket, name)| Mutation::BucketConfigDelete { bucket, name }),
            (text(), 1u8..=3, proptest::option::of(any::<bool>())).prop_map(|(bucket, s, mfa_delete)| {
                Mutation::BucketVersioning { bucket, state: VersioningState::from_byte(s).unwrap(), mfa_delete }
            }),
            (text(), text(), any::<u64>(), attributes(), extents(), any::<bool>(), any::<[u8; 16]>()).prop_map(
                |(bucket, key, size, attributes, extents, parts, etag_md5)| {
                    let layout =
                        if parts { RecordLayout::Parts(vec![(1, 5), (2, 9)]) } else { RecordLayout::Extents(extents) };
                    Mutation::ObjectPut(Box::new(ObjectPut {
                        bucket,
                        key,
                        size,
                        etag_md5,
                        last_modified_ms: size / 3,
                        attributes,
                        layout,
                        upload: parts.then_some(UploadId(3)),
                        condition: match size % 3 {
                            0 => PutCondition::None,
                            1 => PutCondition::IfNoneMatch,
                            _ => PutCondition::IfMatch { etag_md5, parts: (size % 7) as u32 },
                        },
                        checksum: checksum_of(size),
                        notices: notices(size),
                        replica: (size % 3 == 1).then_some(size / 5 + 1),
                    }))
                }
            ),
            (text(), text(), any::<u64>()).prop_map(|(bucket, key, last_modified_ms)| {
                let if_current = (last_modified_ms % 2 == 0).then_some(last_modified_ms / 2 + 1);
                let notices = notices(last_modified_ms / 7);
                let replica = (last_modified_ms % 3 == 0).then_some(last_modified_ms / 3 + 1);
                Mutation::ObjectDelete { bucket, key, last_modified_ms, if_current, notices, replica }
            }),
            (text(), text(), any::<u64>(), 0..ReplicationStatus::ALL.len()).prop_map(|(bucket, key, v, at)| {
                Mutation::ReplicationPut { bucket, key, version: seq_version(v), status: ReplicationStatus::ALL[at] }
            }),
            (text(), text(), any::<u64>(), any::<bool>()).prop_map(|(bucket, key, v, bypass_governance)| {
                Mutation::VersionDelete {
                    bucket,
                    key,
                    version: if v == 0 { VersionId::Null } else { VersionId::Id(v) },
                    at_ms: v / 2,
                    bypass_governance,
                }
            }),
            (text(), text(), any::<u64>(), retention(), proptest::option::of(any::<bool>()), any::<bool>()).prop_map(
                |(bucket, key, v, retention, hold, bypass_governance)| Mutation::LockPut {
                    bucket,
                    key,
                    version: seq_version(v),
                    change: hold.map_or(LockChange::Retention(retention), LockChange::LegalHold),
                    at_ms: v / 3,
                    bypass_governance,
                }
            ),
            (text(), text(), any::<u64>(), 0..StorageClass::ALL.len()).prop_map(|(bucket, key, v, class)| {
                Mutation::ClassPut { bucket, key, version: seq_version(v), class: StorageClass::ALL[class] }
            }),
            (text(), proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(outbox, payload)| Mutation::OutboxPush { outbox, payload }),
            (text(), any::<u64>()).prop_map(|(outbox, through)| Mutation::OutboxAck { outbox, through }),
            (text(), text(), any::<u64>(), attributes()).prop_map(|(bucket, key, initiated_ms, attributes)| {
                let checksum = checksum_of(initiated_ms).map(|c| ChecksumSpec { algorithm: c.algorithm, kind: c.kind });
                Mutation::UploadCreate { bucket, key, initiated_ms, attributes: Box::new(attributes), checksum }
            }),
            (text(), 1u64.., 1u32..=10_000, any::<u64>(), any::<[u8; 16]>(), extents()).prop_map(
                |(bucket, upload, number, size, md5, extents)| Mutation::PartPut {
                    bucket,
                    upload: UploadId(upload),
                    number,
                    size,
                    md5,
                    last_modified_ms: 17,
                    extents,
                    checksum: checksum_of(size),
                }
            ),
            (text(), 1u64..).prop_map(|(bucket, upload)| Mutation::UploadAbort { bucket, upload: UploadId(upload) }),
            (text(), text(), any::<u64>(), proptest::collection::vec((text(), text()), 0..3))
                .prop_map(|(bucket, key, v, tags)| Mutation::TagsPut { bucket, key, version: seq_version(v), tags }),
            (text(), text(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..16))
                .prop_map(|(bucket, key, v, acl)| Mutation::AclPut { bucket, key, version: seq_version(v), acl }),
            (text(), text(), any::<u64>(), any::<u64>()).prop_map(|(bucket, key, v, until_ms)| Mutation::RestorePut {
                bucket,
                key,
                version: seq_version(v),
                until_ms
            }),
            (
                proptest::collection::vec((text(), text(), any::<u64>(), 1u64.., any::<u32>(), extents()), 0..4),
                proptest::collection::vec(1u64.., 0..4)
            )
                .prop_map(|(moves, retire)| Mutation::Compact {
                    moves: moves
                        .into_iter()
                        .map(|(bucket, key, v, offset, number, extents)| ChunkMove {
                            bucket,
                            owner: if number % 2 == 0 {
                                ChunkOwner::Version { key, version: seq_version(v) }
                            } else {
                                ChunkOwner::Part { upload: UploadId(v.max(1)), number }
                            },
                            from: Location { segment: SegmentId(offset), offset },
                            to: extents.first().copied().unwrap_or(Extent {
                                location: Location { segment: SegmentId(1), offset: 64 },
                                len: 1,
                                stored: 1,
                            }),
                        })
                        .collect(),
                    retire: retire.into_iter().map(SegmentId).collect(),
                }),
        ]
    }

    proptest! {
        #[test]
        fn every_mutation_round_trips(mutation in mutation(), seq in 1u64..) {
            let payload = mutation.encode_payload(seq);
            let (decoded_seq, decoded) = Mutation::decode(mutation.kind(), super::super::RECORD_VERSION, &payload).unwrap();
            prop_assert_eq!(decoded_seq, seq);
            prop_assert_eq!(decoded, mutation);
        }

        #[test]
        fn truncated_payloads_never_panic(mutation in mutation(), cut in any::<prop::sample::Index>()) {
            let payload = mutation.encode_payload(1);
            let cut = cut.index(payload.len());
            prop_assert!(Mutation::decode(mutation.kind(), super::super::RECORD_VERSION, &payload[..cut]).is_err());
        }

        #[test]
        fn arbitrary_payloads_never_panic(kind in 2u8..=18, version in 1u8..=7, payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Mutation::decode(RecordKind::from_byte(kind).unwrap(), version, &payload);
        }
    }
}
