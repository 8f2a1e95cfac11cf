//! The engine's one error type. Client input, corrupt bytes and I/O failures are `Err`; only a
//! broken invariant panics. The server maps each variant to an S3 code in one place.

use crate::types::{SegmentId, VersionId};

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("bucket name {name:?} is invalid: {reason}")]
    InvalidBucketName { name: String, reason: &'static str },
    #[error("bucket {0:?} does not exist")]
    NoSuchBucket(String),
    #[error("bucket {0:?} already exists")]
    BucketAlreadyExists(String),
    #[error("bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    #[error("too many buckets (limit {limit})")]
    TooManyBuckets { limit: usize },
    #[error("key does not exist")]
    NoSuchKey {
        /// Set when the current version is a delete marker (S3 answers with its version id).
        delete_marker: Option<VersionId>,
    },
    #[error("version does not exist")]
    NoSuchVersion,
    #[error("the requested version is a delete marker")]
    VersionIsDeleteMarker { version: VersionId },
    #[error("upload does not exist")]
    NoSuchUpload,
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("metadata too large: {bytes} bytes (limit {limit})")]
    MetadataTooLarge { bytes: usize, limit: usize },
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    #[error("entity too large: {size} bytes (limit {limit})")]
    EntityTooLarge { size: u64, limit: u64 },
    #[error("part {part_number} is {size} bytes, smaller than the minimum {limit}")]
    EntityTooSmall { part_number: u32, size: u64, limit: u64 },
    #[error("part {part_number} was not uploaded or its ETag does not match")]
    InvalidPart { part_number: u32 },
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    #[error("the write's precondition does not hold")]
    PreconditionFailed,
    #[error("the requested range is not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("another version of the key has the version id {version}")]
    VersionIdTaken { version: VersionId },
    #[error("too many versions of one key (limit {limit})")]
    TooManyVersions { limit: usize },
    #[error("too many uploads in progress (limit {limit})")]
    TooManyUploads { limit: usize },
    #[error("the store at {path} is in use by another process")]
    Locked { path: String },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("checksum mismatch at segment {segment} offset {offset}: expected {expected:#018x}, found {actual:#018x}")]
    ChecksumMismatch { segment: SegmentId, offset: u64, expected: u64, actual: u64 },
    #[error("corruption in segment {segment} at offset {offset}: {reason}")]
    Corruption { segment: SegmentId, offset: u64, reason: String },
    #[error("the object is archived (its storage class is {0}) and not restored")]
    InvalidObjectState(&'static str),
    #[error("the version is protected by Object Lock")]
    ObjectLocked,
    #[error("{0}")]
    InvalidBucketState(&'static str),
    #[error("the outboxes hold their most ({limit} bytes, or {outboxes} outboxes); deliveries must catch up first")]
    OutboxFull { limit: u64, outboxes: usize },
    #[error("KMS key {0:?} does not exist")]
    KmsKeyNotFound(String),
    #[error("KMS key {0:?} is disabled")]
    KmsKeyDisabled(String),
    #[error("the object is encrypted with a customer-provided key, and the request gives none")]
    CustomerKeyRequired,
    #[error("the customer-provided key is not the one the object was encrypted with")]
    CustomerKeyMismatch,
    #[error("a write failed midway; the operation was not committed, retry it")]
    WriteInterrupted,
    #[error("the engine is shut down")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn corruption(segment: SegmentId, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption { segment, offset, reason: reason.into() }
    }
}
