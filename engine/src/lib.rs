//! Cairn's storage engine: an append-only log of checksummed records, group commit, an
//! in-memory index of version chains, multipart assembly without copies, and crash recovery.
//! It knows nothing of HTTP; `cairn-server` puts S3 in front of it.
//!
//! ```
//! use cairn_engine::{Engine, EngineConfig, ObjectAttributes};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
//! engine.create_bucket("photos", "us-east-1").unwrap();
//! let put = engine.put_object_bytes("photos", "cat.jpg", ObjectAttributes::default(), b"meow").unwrap();
//! assert_eq!(put.etag, "\"4a4be40c96ac6314e91d93f38043a634\"");
//! assert_eq!(engine.get_object_bytes("photos", "cat.jpg", None).unwrap(), b"meow");
//! ```
//!
//! docs/design.md explains the write path, commit protocol and recovery; docs/format.md is the
//! byte layout of every record.

mod body;
mod checkpoint;
mod compaction;
mod distribution;
mod engine;
mod error;
mod expiry;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod index;
pub mod io;
pub mod keyring;
pub mod limits;
mod list;
mod outbox;
mod queue;
mod recovery;
mod scrub;
pub mod seal;
mod segment;
#[doc(hidden)]
pub mod testing;
mod types;
pub mod validate;
mod writer;

pub use body::ObjectReader;
pub use checkpoint::CheckpointPosition;
pub use compaction::{CompactionReport, SegmentSpace, SpaceReport, UpkeepStats};
pub use distribution::{DISTRIBUTION_BUCKETS, Distribution, DistributionSnapshot};
pub use engine::{
    BucketAccess, BucketInfo, ByteRange, COMPRESSION_LEVEL_DEFAULT, CompletedPart, DeleteOutcome, Engine, EngineConfig,
    ObjectWriter, PartWriter, PutOutcome, Replica, WriteExtras,
};
pub use error::{Error, Result};
pub use expiry::Expiry;
pub use format::records::PutCondition;
pub use io::IoMode;
pub use keyring::{KmsKeyInfo, Sse};
pub use list::{
    ListItem, ListQuery, ObjectEntry, Page, PartPage, UploadEntry, UploadQuery, VersionEntry, VersionQuery,
};
pub use outbox::Notice;
pub use recovery::{CheckpointInfo, RecoveryReport};
pub use scrub::{Damage, DamagedObject, ScrubReport, scrub};
pub use types::{
    Checksum, ChecksumAlgorithm, ChecksumKind, ChecksumSpec, Encryption, Extent, Layout, Location, LockChange,
    OBJECT_LOCK_CONFIG, ObjectAttributes, ObjectInfo, ObjectLock, PartLayout, ReplicationStatus, Retention,
    RetentionMode, SegmentId, Seq, SseMode, StorageClass, SystemMetadata, UploadId, Version, VersionId, VersionKind,
    VersioningState, hex,
};
pub use writer::LogStats;

pub(crate) use engine::now_ms;
