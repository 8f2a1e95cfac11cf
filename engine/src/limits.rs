//! Every bound the engine enforces, in one place, each with its reason.
//!
//! S3's own limits come from Amazon's documentation; the engine's internal bounds keep memory,
//! queues and on-disk loops finite. Each is tested in `tests/it/limits.rs`.

/// S3: an object key is at most 1,024 bytes of UTF-8.
pub const KEY_BYTES_MAX: usize = 1024;
/// S3: bucket names are 3 to 63 characters.
pub const BUCKET_NAME_BYTES_MIN: usize = 3;
/// S3: bucket names are 3 to 63 characters.
pub const BUCKET_NAME_BYTES_MAX: usize = 63;
/// S3: user-defined metadata (`x-amz-meta-*` names and values, UTF-8) is at most 2 KB.
pub const USER_METADATA_BYTES_MAX: usize = 2 * 1024;
/// Each system metadata value (content type, cache control, ...). S3 bounds the whole request
/// header at 8 KB; no single value may exceed that.
pub const SYSTEM_METADATA_VALUE_BYTES_MAX: usize = 8 * 1024;
/// S3: an object carries at most 10 tags.
pub const TAGS_MAX: usize = 10;
/// S3: a bucket carries at most 50 tags.
pub const BUCKET_TAGS_MAX: usize = 50;
/// S3: a tag key is at most 128 Unicode characters.
pub const TAG_KEY_CHARS_MAX: usize = 128;
/// S3: a tag value is at most 256 Unicode characters.
pub const TAG_VALUE_CHARS_MAX: usize = 256;
/// S3: a single PUT is at most 5 GiB.
pub const PUT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// S3: an object (multipart) is at most 5 TiB.
pub const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// S3: part numbers are 1 to 10,000.
pub const PART_NUMBER_MAX: u32 = 10_000;
/// S3: every part but the last is at least 5 MiB (the default of `EngineConfig::part_bytes_min`).
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;
/// S3: a part is at most 5 GiB.
pub const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// S3: listings return at most 1,000 entries a page.
pub const LIST_PAGE_ENTRIES_MAX: usize = 1000;
/// Per-bucket configuration records ("versioning", "policy", "cors", ...): S3's largest such
/// document is a bucket policy at 20 KB; lifecycle and replication documents are larger, so 1 MiB.
pub const BUCKET_CONFIG_BYTES_MAX: usize = 1024 * 1024;
/// Names of configuration records are short identifiers chosen by the server layer.
pub const BUCKET_CONFIG_NAME_BYTES_MAX: usize = 64;
/// Configuration records a bucket may hold.
pub const BUCKET_CONFIGS_MAX: usize = 64;
/// Account configuration records the store may hold, over all accounts (each is at most
/// `BUCKET_CONFIG_BYTES_MAX`, named as bucket configurations are).
pub const ACCOUNT_CONFIGS_MAX: usize = 4096;
/// Largest access control list document stored with an object (S3 allows 100 grants; this
/// holds them at their longest with room to spare).
pub const ACL_BYTES_MAX: usize = 64 * 1024;
/// Master keys a keyring may hold (each rotation adds one; every one stays, for the objects it
/// wraps).
pub const MASTER_KEYS_MAX: usize = 10_000;
/// Keys of the local KMS a keyring may hold (AWS's default quota per region is 100,000; a local
/// store needs far fewer, and the whole keyring is rewritten on each change).
pub const KMS_KEYS_MAX: usize = 10_000;
/// An alias name (AWS: `alias/` and up to 256 characters in all).
pub const KMS_ALIAS_BYTES_MAX: usize = 250;
/// Region names ("us-east-1") are short.
pub const REGION_BYTES_MAX: usize = 64;
/// Longest bucket owner id (a canonical user id is 64 hex digits).
pub const OWNER_BYTES_MAX: usize = 128;
/// Buckets in one store (S3's quota can be raised to 10,000; AWS's default is 10,000 since 2024).
pub const BUCKETS_MAX: usize = 10_000;

/// Object bodies are stored in data chunks of at most this size: one read serves a small object,
/// a large one streams chunk by chunk, and a range read verifies at most one chunk more than it
/// returns.
pub const CHUNK_BYTES_MAX: u32 = 1024 * 1024;
/// A record's payload: a 5 GiB single PUT lists 5,120 extents of 20 bytes (100 KiB); a completed
/// 10,000-part upload lists 12 bytes a part (120 KiB). 4 MiB leaves room for chunks and metadata.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 4 * 1024 * 1024;
/// Segments are sealed at this size by default; a larger segment means fewer files, a smaller
/// one means compaction (later) rewrites less at a time.
pub const SEGMENT_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// The smallest segment size a configuration may ask for: it must hold a maximal record.
pub const SEGMENT_BYTES_MIN: u64 = 2 * RECORD_PAYLOAD_BYTES_MAX as u64;
/// The largest segment size a configuration may ask for.
pub const SEGMENT_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;
/// The first segment the log writer prepares after an open; each next one is twice the last, up
/// to the configured segment size. A prepared segment is written full of zeros and synced before
/// the writer moves into it, so a group's fdatasync there flushes data alone, not the block
/// allocation and file size an append changes (measured on ext4: 1.7x the syncs per second at
/// 4 KiB, 2x the bandwidth at 1 MiB). Small first, so a store that writes little writes few
/// zeros.
pub const PREPARED_SEGMENT_BYTES_MIN: u64 = 1024 * 1024;
/// Zeros written to a segment being prepared per write call.
pub const PREPARE_WRITE_BYTES: usize = 1024 * 1024;
/// Segment files in one store: recovery holds one open file per segment.
pub const SEGMENTS_MAX: u64 = 1 << 20;

/// Requests waiting for the log writer. Writers block (back-pressure) when it is full.
pub const WRITE_QUEUE_DEPTH: usize = 1024;
/// Records one group commit may gather before it writes and syncs.
pub const GROUP_COMMIT_RECORDS_MAX: usize = 512;
/// Bytes one group commit may gather before it writes and syncs.
pub const GROUP_COMMIT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// The largest group the log writer copies into its aligned buffer for one direct write (a
/// group may pass `GROUP_COMMIT_BYTES_MAX` by the request that reached it: up to a maximal
/// record). A larger one, and the rest of its segment, is written through the page cache. The
/// buffer, once grown, stays: this is also the memory it may hold.
pub const DIRECT_STAGE_BYTES_MAX: usize = GROUP_COMMIT_BYTES_MAX + 2 * RECORD_PAYLOAD_BYTES_MAX as usize;
/// Bytes the log writer may leave written but unsynced in the active segment. Recovery relies on
/// it: damage within this distance of the end of the newest segment can be a write torn by a
/// crash (the disk may persist unsynced pages in any order), so it is cut off; damage further
/// back was synced once and is reported as corruption.
pub const UNSYNCED_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Chunks of one PUT written but not yet confirmed: overlaps hashing with writing while bounding
/// the memory one PUT holds to this many chunks.
pub const PUT_CHUNKS_IN_FLIGHT_MAX: usize = 4;
/// Lifecycle changes one `Engine::expire` call sends the log writer at once: within one group
/// commit (`GROUP_COMMIT_RECORDS_MAX`), so a batch costs about one sync and a foreground
/// write queues behind no more than it.
pub const EXPIRY_BATCH_MAX: usize = 256;
/// Segments decoded at once during recovery (each decoded segment is held in memory until it is
/// applied).
pub const RECOVERY_SEGMENTS_IN_FLIGHT_MAX: usize = 8;
/// Versions kept in one key's chain. S3 has no limit; a chain is copied on every change of its
/// key (readers never block), so a change costs O(versions) and the engine refuses new versions
/// past this rather than slow down without bound. Deleting old versions makes room.
pub const VERSIONS_PER_KEY_MAX: usize = 10_000;
/// Multipart uploads in progress in one bucket (S3 has no limit; each costs index memory until
/// completed or aborted).
pub const UPLOADS_PER_BUCKET_MAX: usize = 10_000;
/// Completed uploads a bucket remembers, newest kept, so that a CompleteMultipartUpload sent
/// again (a client retrying after a lost response) gets the first one's result, as S3 gives it.
/// Each costs about 200 bytes of index memory; older ones are answered NoSuchUpload.
pub const COMPLETED_UPLOADS_REMEMBERED_MAX: usize = 1_000;

/// Bytes of keys and chains a checkpoint block holds (a block ends after the entry that reaches
/// this; one large chain is a block of its own). A lookup reads one block.
pub const CHECKPOINT_BLOCK_BYTES: usize = 16 * 1024;
/// The largest meta section (buckets, uploads in progress, usage) a checkpoint may hold; it is
/// read into memory whole when the checkpoint is opened.
pub const CHECKPOINT_META_BYTES_MAX: u64 = 1 << 30;
/// Buffers of checkpoint reads (the check at open) and writes.
pub const CHECKPOINT_READ_BUFFER_BYTES: usize = 4 * 1024 * 1024;
pub const CHECKPOINT_WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Checkpoints kept: the newest, and the one before in case the newest does not open.
pub const CHECKPOINTS_KEPT: usize = 2;
/// A checkpoint is written once this many metadata records follow the last one (replaying them
/// is most of an open's time: about 3 µs a record)...
pub const CHECKPOINT_TAIL_RECORDS: u64 = 250_000;
/// ...or once the log after it passes this many bytes and the last checkpoint's size (so that
/// rewriting the index costs at most about what was written since).
pub const CHECKPOINT_TAIL_BYTES_MIN: u64 = 256 * 1024 * 1024;
/// Live bytes compaction copies in one pass at most; victims past it wait for the next pass.
pub const COMPACTION_PASS_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Live bytes one `Compact` record moves at most: its copies are synced with it, so a pass is
/// several records, each a bounded sync.
pub const COMPACTION_RECORD_BYTES_MAX: u64 = 32 * 1024 * 1024;
/// Moves one `Compact` record lists at most...
pub const COMPACTION_RECORD_MOVES_MAX: usize = 16 * 1024;
/// ...and bytes of encoded moves (each is 61 bytes and its bucket and key, which may be 1 KiB),
/// so the record stays within `RECORD_PAYLOAD_BYTES_MAX` (4 MiB) whatever the keys.
pub const COMPACTION_RECORD_ENCODED_BYTES_MAX: usize = 1024 * 1024;
/// A segment whose live share is above this is never a victim: copying it frees too little.
pub const COMPACTION_LIVE_FRACTION_MAX: f64 = 0.9;
/// How often the maintenance thread looks at whether to checkpoint or compact.
pub const MAINTENANCE_INTERVAL_MS: u64 = 1000;
/// Dead bytes the sealed segments must hold before a pass runs (less is not worth a pass).
pub const COMPACTION_DEAD_BYTES_MIN: u64 = 64 * 1024 * 1024;
/// Compaction sends its next copy only while at most this many requests wait for the log
/// writer: foreground writes go first...
pub const COMPACTION_YIELD_QUEUED: usize = 32;
/// ...for at most this many waits of 200 µs per copy (so a busy store still compacts).
pub const COMPACTION_YIELD_WAITS_MAX: usize = 5;
/// The default I/O budget of compaction's copies and checkpoint writes.
pub const COMPACTION_BYTES_PER_SEC_DEFAULT: u64 = 256 * 1024 * 1024;
/// The default space amplification above which compaction runs.
pub const SPACE_AMPLIFICATION_TARGET_DEFAULT: f64 = 1.2;
/// Chunk reads compaction has in flight (in parallel: its victims are read from the disk).
pub const COMPACTION_READS_IN_FLIGHT: usize = 16;
/// Copies compaction has queued to the log writer and not yet confirmed (each up to a chunk, so
/// at most this many MiB in memory).
pub const COMPACTION_COPIES_IN_FLIGHT: usize = 16;
/// Outboxes (named durable queues of deliveries: access logs, event notifications) a store
/// holds at once.
pub const OUTBOXES_MAX: usize = 4096;
/// An outbox's name (the server names one per source bucket and kind).
pub const OUTBOX_NAME_BYTES_MAX: usize = 128;
/// One outbox entry: a batch of access log records or one event, well inside a record.
pub const OUTBOX_ENTRY_BYTES_MAX: usize = 1024 * 1024;
/// Bytes all outboxes hold together, in memory and in each checkpoint: past it a push is
/// refused (`Error::OutboxFull`) until deliveries catch up, so a target that stays down costs
/// bounded memory.
pub const OUTBOXES_BYTES_MAX: u64 = 128 * 1024 * 1024;
/// Entries one `Engine::outbox_entries` call returns at most.
pub const OUTBOX_READ_ENTRIES_MAX: usize = 4096;
/// A notice's payload (an entry committed with a write; S3's event messages are at most 64 KB).
pub const NOTICE_BYTES_MAX: usize = 64 * 1024;
/// Notices one write carries (an event per notification destination's outbox and a
/// replication entry).
pub const NOTICES_MAX: usize = 4;
const _: () = assert!(NOTICES_MAX * NOTICE_BYTES_MAX + 64 * 1024 < RECORD_PAYLOAD_BYTES_MAX as usize);
const _: () = assert!(NOTICE_BYTES_MAX <= OUTBOX_ENTRY_BYTES_MAX);
const _: () = assert!(EXPIRY_BATCH_MAX <= GROUP_COMMIT_RECORDS_MAX);
const _: () = assert!(OUTBOX_ENTRY_BYTES_MAX + OUTBOX_NAME_BYTES_MAX + 64 < RECORD_PAYLOAD_BYTES_MAX as usize);
