//! Byte layouts of segment files and records (docs/format.md is the spec this mirrors).
//! Pure encode and decode: no I/O here.
//!
//! A segment is a 64-byte header followed by records. A record is a 24-byte header and a
//! payload; its checksum covers both:
//!
//! ```text
//! 0        4     5        6        8             12         16                 24
//! +--------+-----+--------+--------+-------------+----------+------------------+---------
//! | magic  |kind |version | flags  | payload_len | reserved | checksum (xxh3)  | payload
//! +--------+-----+--------+--------+-------------+----------+------------------+---------
//! ```

pub mod codec;
pub(crate) mod records;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub use codec::DecodeError;

/// Record magic: "Crec" little-endian. Never zero, so zero-filled space is never a record.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"Crec");
/// Record layout version written by this build. Version 2 added the `TagsPut` kind and the
/// write condition at the end of `ObjectPut`; version 3 the bucket owner, the upload's checksum
/// algorithm and the part and object checksums; version 4 the durable length stamp in the header's
/// formerly reserved bytes; version 5 the configurations a bucket is created with, the
/// account configuration kinds, each object's owner and access control list, and the `AclPut` kind;
/// version 6 sealed chunks (the header's flags: compressed, encrypted), extents that hold both the
/// body and the stored length, and each object's storage class and encryption; version 7 the
/// `Compact` kind; version 8 Object Lock (`LockPut`), `ClassPut` and the conditions of deletes;
/// version 9 the outbox kinds (`OutboxPush`, `OutboxAck`); version 10 the notice at the end of
/// `ObjectPut` (an outbox entry committed with the write); version 11 several notices on an
/// `ObjectPut`, the notices of an `ObjectDelete`, the version id a replica keeps (both kinds) and
/// the `ReplicationPut` kind. Older records are still read.
pub const RECORD_VERSION: u8 = 11;
/// The oldest record layout version this build reads.
pub const RECORD_VERSION_MIN: u8 = 1;
/// Size of a record header.
pub const RECORD_HEADER_BYTES: usize = 24;
/// Chunk flag (record version 6 and later): the payload is a zstd frame.
pub const CHUNK_COMPRESSED: u16 = 1;
/// Chunk flag (record version 6 and later): the payload is sealed with AES-256-GCM.
pub const CHUNK_ENCRYPTED: u16 = 2;
/// Every chunk flag this build knows; a record with another bit set is refused.
pub const CHUNK_FLAGS_KNOWN: u16 = CHUNK_COMPRESSED | CHUNK_ENCRYPTED;

const MAGIC_OFFSET: usize = 0;
const KIND_OFFSET: usize = MAGIC_OFFSET + 4;
const VERSION_OFFSET: usize = KIND_OFFSET + 1;
const FLAGS_OFFSET: usize = VERSION_OFFSET + 1;
const PAYLOAD_LEN_OFFSET: usize = FLAGS_OFFSET + 2;
const RESERVED_OFFSET: usize = PAYLOAD_LEN_OFFSET + 4;
const CHECKSUM_OFFSET: usize = RESERVED_OFFSET + 4;
const _: () = assert!(CHECKSUM_OFFSET + 8 == RECORD_HEADER_BYTES);

/// Segment file magic.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CAIRNSEG";
/// Segment layout version: bumped on any change to segment or record layout.
pub const SEGMENT_VERSION: u32 = 1;
/// Size of the segment header; records start at this offset.
pub const SEGMENT_HEADER_BYTES: usize = 64;
const SEGMENT_ID_OFFSET: usize = 8 + 4 + 4;
const SEGMENT_CREATED_OFFSET: usize = SEGMENT_ID_OFFSET + 8;
const SEGMENT_CHECKSUM_OFFSET: usize = SEGMENT_HEADER_BYTES - 8;
const _: () = assert!(SEGMENT_CREATED_OFFSET + 8 <= SEGMENT_CHECKSUM_OFFSET);

/// What a record holds. Zero is never a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Raw object body bytes.
    Chunk = 1,
    BucketCreate = 2,
    BucketDelete = 3,
    BucketConfigPut = 4,
    BucketConfigDelete = 5,
    BucketVersioning = 6,
    ObjectPut = 7,
    ObjectDelete = 8,
    VersionDelete = 9,
    UploadCreate = 10,
    PartPut = 11,
    UploadAbort = 12,
    /// Replaces the tags of one object version (record version 2 and later).
    TagsPut = 13,
    /// An account's configuration documents (record version 5 and later).
    AccountConfigPut = 14,
    AccountConfigDelete = 15,
    /// Replaces the access control list of one object version (record version 5 and later).
    AclPut = 16,
    /// Restores an archived object version for a time (record version 6 and later).
    RestorePut = 17,
    /// Compaction moved chunks and retired segments (record version 7 and later).
    Compact = 18,
    /// Changes a version's Object Lock retention or legal hold (record version 8 and later).
    LockPut = 19,
    /// Moves a version to another storage class (record version 8 and later).
    ClassPut = 20,
    /// Appends an entry to an outbox, a durable queue of deliveries (record version 9 and later).
    OutboxPush = 21,
    /// Removes an outbox's entries up to a seq, once delivered (record version 9 and later).
    OutboxAck = 22,
    /// Sets a version's replication status (record version 11 and later).
    ReplicationPut = 23,
}

impl RecordKind {
    pub fn from_byte(byte: u8) -> Option<RecordKind> {
        use RecordKind::*;
        Some(match byte {
            1 => Chunk,
            2 => BucketCreate,
            3 => BucketDelete,
            4 => BucketConfigPut,
            5 => BucketConfigDelete,
            6 => BucketVersioning,
            7 => ObjectPut,
            8 => ObjectDelete,
            9 => VersionDelete,
            10 => UploadCreate,
            11 => PartPut,
            12 => UploadAbort,
            13 => TagsPut,
            14 => AccountConfigPut,
            15 => AccountConfigDelete,
            16 => AclPut,
            17 => RestorePut,
            18 => Compact,
            19 => LockPut,
            20 => ClassPut,
            21 => OutboxPush,
            22 => OutboxAck,
            23 => ReplicationPut,
            _ => return None,
        })
    }
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: RecordKind,
    pub version: u8,
    /// Chunks of record version 6 and later: `CHUNK_COMPRESSED`, `CHUNK_ENCRYPTED`. Zero
    /// otherwise.
    pub flags: u16,
    pub payload_len: u32,
    pub checksum: u64,
    /// Record version 4 and later: how much of the segment was durable (synced) when the log
    /// writer wrote this record (capped at `u32::MAX`; 0 where not stamped). A damaged record
    /// before a later record's stamp was synced once, so it is damage, not a torn write.
    pub durable_before: u32,
}

/// The checksum of a record: xxh3-64 of the payload, seeded with xxh3-64 of header bytes 0..16
/// (everything before the checksum field). One pass over the payload, and header and payload are
/// both covered.
pub fn record_checksum(header_prefix: &[u8; CHECKSUM_OFFSET], payload: &[u8]) -> u64 {
    xxh3_64_with_seed(payload, xxh3_64(header_prefix))
}

/// Builds a record header for `payload` (no durable stamp: chunks, and metadata not yet placed).
pub fn encode_record_header(kind: RecordKind, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES] {
    encode_header(kind, 0, payload, 0)
}

/// Builds a chunk record's header with its flags (`CHUNK_COMPRESSED`, `CHUNK_ENCRYPTED`).
pub fn encode_chunk_header(flags: u16, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES] {
    debug_assert_eq!(flags & !CHUNK_FLAGS_KNOWN, 0);
    encode_header(RecordKind::Chunk, flags, payload, 0)
}

/// Builds a record header for `payload` stamped with the segment's durable length when it is
/// written (capped at `u32::MAX`).
pub fn encode_record_header_durable(kind: RecordKind, payload: &[u8], durable: u64) -> [u8; RECORD_HEADER_BYTES] {
    encode_header(kind, 0, payload, durable)
}

fn encode_header(kind: RecordKind, flags: u16, payload: &[u8], durable: u64) -> [u8; RECORD_HEADER_BYTES] {
    let payload_len = u32::try_from(payload.len()).expect("payloads are bounded by RECORD_PAYLOAD_BYTES_MAX");
    let mut header = [0u8; RECORD_HEADER_BYTES];
    header[MAGIC_OFFSET..KIND_OFFSET].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    header[KIND_OFFSET] = kind as u8;
    header[VERSION_OFFSET] = RECORD_VERSION;
    header[FLAGS_OFFSET..PAYLOAD_LEN_OFFSET].copy_from_slice(&flags.to_le_bytes());
    header[PAYLOAD_LEN_OFFSET..RESERVED_OFFSET].copy_from_slice(&payload_len.to_le_bytes());
    let stamp = u32::try_from(durable).unwrap_or(u32::MAX);
    header[RESERVED_OFFSET..CHECKSUM_OFFSET].copy_from_slice(&stamp.to_le_bytes());
    let prefix: &[u8; CHECKSUM_OFFSET] = header[..CHECKSUM_OFFSET].try_into().expect("prefix");
    let checksum = record_checksum(prefix, payload);
    header[CHECKSUM_OFFSET..].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Decodes a record header, checking everything that can be checked without the payload.
pub fn decode_record_header(bytes: &[u8; RECORD_HEADER_BYTES]) -> Result<RecordHeader, DecodeError> {
    let magic = u32::from_le_bytes(bytes[MAGIC_OFFSET..KIND_OFFSET].try_into().expect("4"));
    if magic != RECORD_MAGIC {
        return Err(DecodeError("bad record magic"));
    }
    let kind = RecordKind::from_byte(bytes[KIND_OFFSET]).ok_or(DecodeError("unknown record kind"))?;
    let version = bytes[VERSION_OFFSET];
    if !(RECORD_VERSION_MIN..=RECORD_VERSION).contains(&version) {
        return Err(DecodeError("unknown record version"));
    }
    let durable_before = u32::from_le_bytes(bytes[RESERVED_OFFSET..CHECKSUM_OFFSET].try_into().expect("4"));
    let flags = u16::from_le_bytes(bytes[FLAGS_OFFSET..PAYLOAD_LEN_OFFSET].try_into().expect("2"));
    let flags_allowed = if kind == RecordKind::Chunk && version >= 6 { CHUNK_FLAGS_KNOWN } else { 0 };
    if flags & !flags_allowed != 0 || (version < 4 && durable_before != 0) {
        return Err(DecodeError("reserved header bytes are not zero"));
    }
    let payload_len = u32::from_le_bytes(bytes[PAYLOAD_LEN_OFFSET..RESERVED_OFFSET].try_into().expect("4"));
    if payload_len > crate::limits::RECORD_PAYLOAD_BYTES_MAX {
        return Err(DecodeError("payload length exceeds the limit"));
    }
    let checksum = u64::from_le_bytes(bytes[CHECKSUM_OFFSET..].try_into().expect("8"));
    Ok(RecordHeader { kind, version, flags, payload_len, checksum, durable_before })
}

/// Recomputes a record's checksum from its header bytes and payload.
pub fn compute_checksum(header: &[u8; RECORD_HEADER_BYTES], payload: &[u8]) -> u64 {
    let prefix: &[u8; CHECKSUM_OFFSET] = header[..CHECKSUM_OFFSET].try_into().expect("prefix");
    record_checksum(prefix, payload)
}

/// Builds a segment header.
pub fn encode_segment_header(id: u64, created_ms: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header[SEGMENT_ID_OFFSET..SEGMENT_CREATED_OFFSET].copy_from_slice(&id.to_le_bytes());
    header[SEGMENT_CREATED_OFFSET..SEGMENT_CREATED_OFFSET + 8].copy_from_slice(&created_ms.to_le_bytes());
    let checksum = xxh3_64(&header[..SEGMENT_CHECKSUM_OFFSET]);
    header[SEGMENT_CHECKSUM_OFFSET..].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Decodes a segment header and returns the segment id it names.
pub fn decode_segment_header(bytes: &[u8; SEGMENT_HEADER_BYTES]) -> Result<u64, DecodeError> {
    if bytes[..8] != SEGMENT_MAGIC {
        return Err(DecodeError("bad segment magic"));
    }
    let stored = u64::from_le_bytes(bytes[SEGMENT_CHECKSUM_OFFSET..].try_into().expect("8"));
    if stored != xxh3_64(&bytes[..SEGMENT_CHECKSUM_OFFSET]) {
        return Err(DecodeError("segment header checksum mismatch"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4"));
    if version != SEGMENT_VERSION {
        return Err(DecodeError("unknown segment version"));
    }
    Ok(u64::from_le_bytes(bytes[SEGMENT_ID_OFFSET..SEGMENT_CREATED_OFFSET].try_into().expect("8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_round_trips_and_detects_flips() {
        let payload = b"hello cairn";
        let header = encode_record_header(RecordKind::Chunk, payload);
        let decoded = decode_record_header(&header).unwrap();
        assert_eq!(decoded.kind, RecordKind::Chunk);
        assert_eq!(decoded.payload_len, payload.len() as u32);
        assert_eq!(decoded.checksum, compute_checksum(&header, payload));
        // Any flipped bit in header or payload is caught by decode or by the checksum.
        for bit in 0..(RECORD_HEADER_BYTES + payload.len()) * 8 {
            let mut h = header;
            let mut p = payload.to_vec();
            let byte = bit / 8;
            if byte < RECORD_HEADER_BYTES {
                h[byte] ^= 1 << (bit % 8)
            } else {
                p[byte - RECORD_HEADER_BYTES] ^= 1 << (bit % 8)
            }
            let caught = match decode_record_header(&h) {
                Err(_) => true,
                Ok(d) => d.payload_len as usize != p.len() || d.checksum != compute_checksum(&h, &p),
            };
            assert!(caught, "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn chunk_flags_are_read_and_unknown_ones_refused() {
        let header = encode_chunk_header(CHUNK_COMPRESSED | CHUNK_ENCRYPTED, b"sealed");
        assert_eq!(decode_record_header(&header).unwrap().flags, CHUNK_FLAGS_KNOWN);
        let mut unknown = header;
        unknown[FLAGS_OFFSET] |= 4;
        assert!(decode_record_header(&unknown).is_err());
        // Metadata records carry no flags, and neither did chunks before version 6.
        let mut metadata = encode_record_header(RecordKind::BucketDelete, b"x");
        metadata[FLAGS_OFFSET] = CHUNK_COMPRESSED as u8;
        assert!(decode_record_header(&metadata).is_err());
        let mut old = header;
        old[VERSION_OFFSET] = 5;
        assert!(decode_record_header(&old).is_err());
    }

    #[test]
    fn oversized_payload_lengths_are_refused() {
        let mut header = encode_record_header(RecordKind::Chunk, b"");
        let too_long = crate::limits::RECORD_PAYLOAD_BYTES_MAX + 1;
        header[PAYLOAD_LEN_OFFSET..RESERVED_OFFSET].copy_from_slice(&too_long.to_le_bytes());
        assert_eq!(decode_record_header(&header), Err(DecodeError("payload length exceeds the limit")));
    }

    #[test]
    fn segment_header_round_trips() {
        let header = encode_segment_header(7, 1234);
        assert_eq!(decode_segment_header(&header), Ok(7));
        let mut bad = header;
        bad[20] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
        assert!(decode_segment_header(&[0; SEGMENT_HEADER_BYTES]).is_err());
    }
}
