//! Value types of the engine's API and records: ids, locations, metadata, versioning state.

use std::fmt;
use std::sync::Arc;

/// A segment file's number; segments are named and replayed in this order. Zero is never used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Where a record starts: its segment and the byte offset of its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub segment: SegmentId,
    pub offset: u64,
}

/// A data chunk of an object body: the chunk record's location, the body bytes it holds, and
/// its payload's length on disk (smaller when compressed, larger by the seal when encrypted;
/// equal to `len` in records before version 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub location: Location,
    /// Body bytes: what the chunk contributes to the object once opened.
    pub len: u32,
    /// Payload bytes of the chunk record.
    pub stored: u32,
}

/// The commit sequence number of a metadata record: strictly increasing in log order, assigned
/// by the log writer. Version ids and upload ids are sequence numbers. Zero is never used.
pub type Seq = u64;

/// A non-null object version id. S3 version ids are opaque strings; Cairn's are the commit
/// sequence number in 16 hex digits, so they sort by age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionId {
    /// The `null` version: written while the bucket is unversioned or suspended.
    Null,
    /// A version written while versioning was enabled.
    Id(Seq),
}

impl VersionId {
    /// Parses S3's textual form: `null` or 16 lowercase hex digits.
    pub fn parse(text: &str) -> Option<VersionId> {
        if text == "null" {
            return Some(VersionId::Null);
        }
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let seq = u64::from_str_radix(text, 16).ok()?;
        (seq != 0).then_some(VersionId::Id(seq))
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Null => f.write_str("null"),
            VersionId::Id(seq) => write!(f, "{seq:016x}"),
        }
    }
}

/// A multipart upload id: the sequence number of its create record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadId(pub Seq);

impl UploadId {
    /// Parses the textual form produced by `Display`.
    pub fn parse(text: &str) -> Option<UploadId> {
        let hex = text.strip_prefix("u")?;
        if hex.len() != 16 {
            return None;
        }
        let seq = u64::from_str_radix(hex, 16).ok()?;
        (seq != 0).then_some(UploadId(seq))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{:016x}", self.0)
    }
}

/// A bucket's versioning state (S3: unversioned until first enabled, then enabled or suspended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersioningState {
    Unversioned,
    Enabled,
    Suspended,
}

impl VersioningState {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            VersioningState::Unversioned => 1,
            VersioningState::Enabled => 2,
            VersioningState::Suspended => 3,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<VersioningState> {
        match byte {
            1 => Some(VersioningState::Unversioned),
            2 => Some(VersioningState::Enabled),
            3 => Some(VersioningState::Suspended),
            _ => None,
        }
    }

    /// Whether a write in this state creates the `null` version.
    pub fn writes_null(self) -> bool {
        self != VersioningState::Enabled
    }
}

/// An S3 additional-checksum algorithm. The engine stores checksums; the server computes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Crc64Nvme,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc64Nvme,
    ];

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
            ChecksumAlgorithm::Crc64Nvme => 8,
        }
    }

    /// Whether S3 allows a full-object checksum of a multipart upload (the CRCs combine; hashes
    /// do not).
    pub fn combines(self) -> bool {
        !matches!(self, ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            ChecksumAlgorithm::Crc32 => 1,
            ChecksumAlgorithm::Crc32c => 2,
            ChecksumAlgorithm::Sha1 => 3,
            ChecksumAlgorithm::Sha256 => 4,
            ChecksumAlgorithm::Crc64Nvme => 5,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL.into_iter().find(|a| a.to_byte() == byte)
    }
}

/// Whether a checksum covers the object's bytes (`FullObject`) or is S3's checksum of the parts'
/// checksums (`Composite`, printed with a `-<parts>` suffix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    FullObject,
    Composite,
}

/// What a multipart upload was created to checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChecksumSpec {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumKind,
}

/// A stored checksum: its algorithm, kind and digest (`algorithm.digest_len()` bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumKind,
    pub digest: Box<[u8]>,
}

impl Checksum {
    /// A checksum, if `digest` has the algorithm's length.
    pub fn new(algorithm: ChecksumAlgorithm, kind: ChecksumKind, digest: &[u8]) -> Option<Checksum> {
        (digest.len() == algorithm.digest_len()).then(|| Checksum { algorithm, kind, digest: digest.into() })
    }
}

/// System metadata S3 stores with an object and returns as headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemMetadata {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// Where the bucket's website redirects a request for the object
    /// (`x-amz-website-redirect-location`); carried in the encoded metadata pairs (any record version).
    pub website_redirect_location: Option<String>,
}

impl SystemMetadata {
    /// The fields every record version holds, in their encoded order.
    pub(crate) fn fields(&self) -> [&Option<String>; 6] {
        [
            &self.content_type,
            &self.content_encoding,
            &self.content_disposition,
            &self.content_language,
            &self.cache_control,
            &self.expires,
        ]
    }

    /// Every field, for the checks on their sizes.
    pub(crate) fn all_fields(&self) -> [&Option<String>; 7] {
        let [a, b, c, d, e, f] = self.fields();
        [a, b, c, d, e, f, &self.website_redirect_location]
    }
}

/// An S3 storage class. Each maps to how the engine keeps the data (docs/design.md, "Storage
/// classes"): the infrequent-access and archive classes are compressed harder, and the archive
/// classes must be restored before they are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageClass {
    #[default]
    Standard,
    ReducedRedundancy,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    GlacierIr,
    Glacier,
    DeepArchive,
    ExpressOnezone,
}

impl StorageClass {
    pub const ALL: [StorageClass; 9] = [
        StorageClass::Standard,
        StorageClass::ReducedRedundancy,
        StorageClass::StandardIa,
        StorageClass::OnezoneIa,
        StorageClass::IntelligentTiering,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
        StorageClass::ExpressOnezone,
    ];

    /// S3's name for the class.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::ReducedRedundancy => "REDUCED_REDUNDANCY",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
            StorageClass::ExpressOnezone => "EXPRESS_ONEZONE",
        }
    }

    pub fn parse(name: &str) -> Option<StorageClass> {
        StorageClass::ALL.into_iter().find(|class| class.as_str() == name)
    }

    /// Whether objects of this class are archived: unreadable until restored (S3's GLACIER
    /// and DEEP_ARCHIVE; GLACIER_IR is read at once).
    pub fn is_archive(self) -> bool {
        matches!(self, StorageClass::Glacier | StorageClass::DeepArchive)
    }

    /// The zstd level its chunks are compressed at, given the store's level for hot data
    /// (0: compression off, for every class).
    pub fn compression_level(self, hot: i32) -> i32 {
        if hot == 0 {
            return 0;
        }
        match self {
            StorageClass::Standard
            | StorageClass::ReducedRedundancy
            | StorageClass::IntelligentTiering
            | StorageClass::ExpressOnezone => hot,
            // Colder data is written less often and kept longer: more CPU per byte buys space.
            // (Levels past 9 cost several times the CPU for a few percent, measured in
            // docs/benchmarks.md, so the archive classes stop there.)
            StorageClass::StandardIa | StorageClass::OnezoneIa | StorageClass::GlacierIr => hot.max(3),
            StorageClass::Glacier | StorageClass::DeepArchive => hot.max(9),
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        StorageClass::ALL.iter().position(|class| *class == self).expect("every class is listed") as u8 + 1
    }

    pub(crate) fn from_byte(byte: u8) -> Option<StorageClass> {
        StorageClass::ALL.get(usize::from(byte).checked_sub(1)?).copied()
    }
}

/// Which server-side encryption protects an object (S3's `x-amz-server-side-encryption` and
/// the customer-key headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SseMode {
    /// SSE-S3: the data key is wrapped by the store's master key.
    S3,
    /// SSE-KMS: wrapped by a key of the store's key management service.
    Kms,
    /// DSSE-KMS: two layers, each with its own data key, both wrapped by the KMS key.
    KmsDsse,
    /// SSE-C: wrapped by the customer's key, which is never stored.
    Customer,
}

impl SseMode {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            SseMode::S3 => 1,
            SseMode::Kms => 2,
            SseMode::KmsDsse => 3,
            SseMode::Customer => 4,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<SseMode> {
        [SseMode::S3, SseMode::Kms, SseMode::KmsDsse, SseMode::Customer].into_iter().find(|m| m.to_byte() == byte)
    }
}

/// How an object's data keys are kept: set by the engine when the object or upload is created
/// with an `Sse` request, stored with it, and read back to open its chunks.
#[derive(Clone, PartialEq, Eq)]
pub struct Encryption {
    pub mode: SseMode,
    /// SSE-S3: the master key's id; SSE-KMS: the KMS key's id; SSE-C: empty.
    pub key_id: String,
    /// SSE-KMS: the encryption context the data keys are bound to (S3's JSON text).
    pub context: String,
    /// SSE-KMS: the data keys are wrapped by the bucket's key derived from the KMS key.
    pub bucket_key: bool,
    /// The data keys (one; two for DSSE-KMS), each sealed by the key-encryption key.
    pub wrapped: Vec<u8>,
    /// SSE-C: a random salt and HMAC-SHA256 of the customer's key under it, to refuse a wrong
    /// key before any chunk is opened. Empty otherwise.
    pub key_check: Vec<u8>,
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryption")
            .field("mode", &self.mode)
            .field("key_id", &self.key_id)
            .field("bucket_key", &self.bucket_key)
            .finish_non_exhaustive()
    }
}

/// What a writer supplies with a new object or multipart upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectAttributes {
    pub system: SystemMetadata,
    /// User metadata (`x-amz-meta-*`), names without the prefix, in the order given.
    pub user: Vec<(String, String)>,
    /// Object tags, at most `TAGS_MAX`.
    pub tags: Vec<(String, String)>,
    /// The canonical id of the account that owns the object (its writer, or the bucket's owner
    /// under the bucket's ownership rules); opaque to the engine. Empty in records before version
    /// 5: the bucket's owner.
    pub owner: String,
    /// The object's access control list, a document opaque to the engine (at most
    /// `ACL_BYTES_MAX`); empty for none (record version 5 and later).
    pub acl: Vec<u8>,
    /// Record version 6 and later; STANDARD before.
    pub storage_class: StorageClass,
    /// Set by the engine from the write's `Sse` request (what a writer puts here is replaced);
    /// record version 6 and later.
    pub encryption: Option<Encryption>,
    /// S3 Object Lock: the version's retention and legal hold (record version 8 and later; none
    /// before). Only a bucket with Object Lock enabled takes a version with one.
    pub lock: ObjectLock,
    /// S3 replication: whether this version waits to be, was or could not be replicated, or is
    /// itself a replica; `None` for a version no replication rule covers.
    pub replication: Option<ReplicationStatus>,
}

/// A version's S3 replication status (`x-amz-replication-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicationStatus {
    /// A source version not yet replicated to every destination.
    Pending,
    /// A source version replicated to every destination.
    Completed,
    /// A source version a destination refused.
    Failed,
    /// A version written by replication.
    Replica,
}

impl ReplicationStatus {
    pub const ALL: [ReplicationStatus; 4] = [
        ReplicationStatus::Pending,
        ReplicationStatus::Completed,
        ReplicationStatus::Failed,
        ReplicationStatus::Replica,
    ];

    /// S3's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationStatus::Pending => "PENDING",
            ReplicationStatus::Completed => "COMPLETED",
            ReplicationStatus::Failed => "FAILED",
            ReplicationStatus::Replica => "REPLICA",
        }
    }

    pub fn parse(name: &str) -> Option<ReplicationStatus> {
        ReplicationStatus::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// The bucket configuration whose presence enables S3 Object Lock (its document, the default
/// retention, is the server's): a bucket created with it is versioned, one put on an existing
/// bucket needs versioning enabled, it cannot be deleted, and versioning cannot be suspended
/// while it exists.
pub const OBJECT_LOCK_CONFIG: &str = "object-lock";

/// An Object Lock retention mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetentionMode {
    /// Users with `s3:BypassGovernanceRetention` may delete the version or shorten the retention
    /// by saying so (`x-amz-bypass-governance-retention`).
    Governance,
    /// Nobody, the bucket's owner included, can delete the version or shorten the retention
    /// until it ends.
    Compliance,
}

impl RetentionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(text: &str) -> Option<RetentionMode> {
        [RetentionMode::Governance, RetentionMode::Compliance].into_iter().find(|m| m.as_str() == text)
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            RetentionMode::Governance => 1,
            RetentionMode::Compliance => 2,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<RetentionMode> {
        [RetentionMode::Governance, RetentionMode::Compliance].into_iter().find(|m| m.to_byte() == byte)
    }
}

/// A version's retention: its mode, and until when (Unix ms) it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: u64,
}

/// What S3 Object Lock keeps on one version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    /// ON or OFF once set (S3 tells a version whose legal hold was never set from one set OFF).
    pub legal_hold: Option<bool>,
}

impl ObjectLock {
    /// The retention in force at `at_ms` (one whose date has passed protects nothing).
    pub fn retention_at(&self, at_ms: u64) -> Option<Retention> {
        self.retention.filter(|r| r.until_ms > at_ms)
    }

    /// Whether the version may not be deleted at `at_ms`: a legal hold, a retention in force
    /// (governance mode only unless `bypass_governance`).
    pub fn protects(&self, at_ms: u64, bypass_governance: bool) -> bool {
        self.legal_hold == Some(true)
            || self.retention_at(at_ms).is_some_and(|r| r.mode == RetentionMode::Compliance || !bypass_governance)
    }

    /// Whether replacing the retention in force at `at_ms` by `new` is allowed: extending it (the
    /// same mode, a date no earlier) always is; anything else (shortening, removing, changing the
    /// mode) never under compliance, and under governance only with the bypass (as AWS).
    pub fn allows_retention(&self, new: Option<Retention>, at_ms: u64, bypass_governance: bool) -> bool {
        let Some(current) = self.retention_at(at_ms) else { return true };
        let extends = new.is_some_and(|new| new.mode == current.mode && new.until_ms >= current.until_ms);
        extends || (current.mode == RetentionMode::Governance && bypass_governance)
    }
}

/// A change to a version's Object Lock state (S3's PutObjectRetention, PutObjectLegalHold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockChange {
    Retention(Option<Retention>),
    LegalHold(bool),
}

/// One part of a completed multipart object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartLayout {
    pub number: u32,
    pub last_modified_ms: u64,
    /// Sequence number of the part record this part came from.
    pub seq: Seq,
    pub size: u64,
    pub md5: [u8; 16],
    pub extents: Arc<[Extent]>,
    /// The part's checksum under its upload's algorithm (record version 3 and later).
    pub checksum: Option<Checksum>,
}

/// Where an object's body lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A single PUT: its chunks in order.
    Extents(Arc<[Extent]>),
    /// A completed multipart upload: its parts in order, each referencing the part's own chunks.
    Parts(Arc<[PartLayout]>),
}

/// A stored object version's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// MD5 of the body (single PUT) or of the concatenated part MD5s (multipart).
    pub etag_md5: [u8; 16],
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    pub attributes: ObjectAttributes,
    pub layout: Layout,
    /// The additional checksum stored with the object (record version 3 and later).
    pub checksum: Option<Checksum>,
    /// For an archive storage class: until when (Unix ms) its restored copy may be read; 0 if it
    /// was never restored (`RestorePut` records, version 6 and later).
    pub restored_until_ms: u64,
}

impl ObjectInfo {
    /// Whether the body may be read now: always, but for an archive storage class only while a
    /// restored copy lasts (S3's GLACIER and DEEP_ARCHIVE).
    pub fn readable_at(&self, now_ms: u64) -> bool {
        !self.attributes.storage_class.is_archive() || self.restored_until_ms > now_ms
    }
}

impl ObjectInfo {
    /// The ETag as S3 prints it, quotes included: `"<md5>"` or `"<md5>-<parts>"`.
    pub fn etag(&self) -> String {
        let mut quoted = String::with_capacity(ETAG_TEXT_BYTES_MAX + 2);
        quoted.push('"');
        self.write_etag_value(&mut quoted);
        quoted.push('"');
        quoted
    }

    /// The ETag without its quotes (as s3s's `ETag::Strong` holds it).
    pub fn etag_value(&self) -> String {
        let mut value = String::with_capacity(ETAG_TEXT_BYTES_MAX);
        self.write_etag_value(&mut value);
        value
    }

    /// Every GET and HEAD formats the ETag, so it is built by hand rather than by `format!`.
    fn write_etag_value(&self, out: &mut String) {
        push_hex(out, &self.etag_md5);
        if let Layout::Parts(parts) = &self.layout {
            out.push('-');
            out.push_str(&parts.len().to_string());
        }
    }

    /// Number of parts (S3's `x-amz-mp-parts-count`), `None` for a single PUT.
    pub fn parts_count(&self) -> Option<u32> {
        match &self.layout {
            Layout::Extents(_) => None,
            Layout::Parts(parts) => Some(parts.len() as u32),
        }
    }

    /// Byte range `[start, end)` of part `number` (1-based). A single PUT is one part.
    pub fn part_range(&self, number: u32) -> Option<(u64, u64)> {
        match &self.layout {
            Layout::Extents(_) => (number == 1).then_some((0, self.size)),
            Layout::Parts(parts) => {
                let index = usize::try_from(number).ok()?.checked_sub(1)?;
                let start: u64 = parts.iter().take(index).map(|p| p.size).sum();
                parts.get(index).map(|p| (start, start + p.size))
            }
        }
    }
}

/// What one entry of a key's version chain is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionKind {
    Object(Arc<ObjectInfo>),
    DeleteMarker { last_modified_ms: u64 },
}

/// One version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub seq: Seq,
    pub id: VersionId,
    pub kind: VersionKind,
}

impl Version {
    pub fn last_modified_ms(&self) -> u64 {
        match &self.kind {
            VersionKind::Object(info) => info.last_modified_ms,
            VersionKind::DeleteMarker { last_modified_ms } => *last_modified_ms,
        }
    }

    pub fn is_delete_marker(&self) -> bool {
        matches!(self.kind, VersionKind::DeleteMarker { .. })
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends the lowercase hex of bytes.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
}

/// The longest unquoted ETag: 32 hex digits, a dash and a part count of up to 5 digits.
const ETAG_TEXT_BYTES_MAX: usize = 38;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_id_round_trips_and_rejects_junk() {
        for id in [VersionId::Null, VersionId::Id(1), VersionId::Id(u64::MAX)] {
            assert_eq!(VersionId::parse(&id.to_string()), Some(id));
        }
        for bad in ["", "NULL", "0000000000000000", "000000000000000g", "00000000000000001"] {
            assert_eq!(VersionId::parse(bad), None, "{bad}");
        }
        let upload = UploadId(42);
        assert_eq!(UploadId::parse(&upload.to_string()), Some(upload));
        assert_eq!(UploadId::parse("u0000000000000000"), None);
    }
}
