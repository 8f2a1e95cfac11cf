//! Server access logs: a record of every request to a bucket that has logging on, delivered as
//! log objects into its target bucket (S3's PutBucketLogging).
//!
//! A request's record is written when its response ends (`capture.rs`) into a buffer in memory;
//! every `SPOOL_INTERVAL` the buffer goes into the engine, one outbox entry per source bucket,
//! durable from then on. Every delivery interval the worker (`delivery.rs`) turns each outbox's
//! entries into log objects and acks them. A crash loses at most the records of the last spool
//! interval (AWS promises log delivery only on a "best effort" basis; Cairn bounds the loss to
//! about a second); what was spooled is delivered, and delivered once: a delivery that is
//! repeated after a crash writes the same key with the same records and more.
//!
//! Deliveries are Cairn's own writes, made as the logging service: they are never logged
//! themselves, so a bucket that logs into itself does not loop.

pub mod capture;
pub mod delivery;
pub mod record;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cairn_engine::Engine;
use serde::{Deserialize, Serialize};

/// The bucket configuration holding a bucket's logging target.
pub const BUCKET_LOGGING: &str = "logging";
/// Where each source bucket's spooled records wait: `access-log/<bucket>`.
pub const OUTBOX_PREFIX: &str = "access-log/";
/// How often records in memory are spooled into the engine: the most a crash can lose.
pub const SPOOL_INTERVAL: Duration = Duration::from_secs(1);
/// Records in memory waiting for the spool, over all buckets: past it, records are dropped
/// (and counted) rather than holding more memory.
pub const BUFFER_BYTES_MAX: usize = 16 * 1024 * 1024;
/// The default delivery interval: records reach the target within about a minute.
pub const DELIVERY_SECONDS_DEFAULT: u64 = 60;
/// `--log-delivery-seconds` may be 1 (tests) to an hour.
pub const DELIVERY_SECONDS_MAX: u64 = 3600;
/// The service principal a target bucket's policy grants log delivery to.
pub const LOGGING_SERVICE: &str = "logging.s3.amazonaws.com";
/// A target prefix: the log object keys it starts (with up to about 150 bytes of partition and
/// name after it) stay inside S3's 1,024-byte keys.
pub const TARGET_PREFIX_BYTES_MAX: usize = 512;
/// S3: at most 100 target grants (the ACL limit).
pub const TARGET_GRANTS_MAX: usize = crate::acl::GRANTS_MAX;

/// A log object's key format (`TargetObjectKeyFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyFormat {
    /// No format given: AWS's simple one, `[prefix][YYYY]-[MM]-[DD]-[hh]-[mm]-[ss]-[Unique]`.
    #[default]
    Unset,
    /// `SimplePrefix`, as given.
    Simple,
    /// `PartitionedPrefix`: `[prefix][account]/[region]/[bucket]/[YYYY]/[MM]/[DD]/` and then
    /// the simple key, dated by the records' time (`EventTime`) or the delivery's.
    Partitioned { event_time: bool },
}

/// One target grant: a grantee (canonical id, or a group's URI) and a permission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGrant {
    pub grantee: crate::acl::Grantee,
    pub permission: crate::acl::Permission,
}

/// A bucket's logging configuration (`LoggingEnabled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub bucket: String,
    pub prefix: String,
    pub grants: Vec<TargetGrant>,
    pub key_format: KeyFormat,
}

impl Target {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a target serializes")
    }

    pub fn decode(stored: &[u8]) -> Option<Target> {
        serde_json::from_slice(stored).ok()
    }
}

/// What an outbox entry says of where its records go, on its first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub source_bucket: String,
    /// The source bucket owner's 12-digit account id and region (partitioned keys name them).
    pub source_account: String,
    pub source_region: String,
    pub target: Target,
    /// When the entry was spooled, and when its first record's request came.
    pub spooled_ms: u64,
    pub first_event_ms: u64,
}

/// A source bucket with logging on, as the request path sees it.
#[derive(Debug)]
pub struct Source {
    pub owner_canonical: String,
    pub owner_account: String,
    pub region: String,
    pub target: Target,
}

/// Records waiting for the spool, by source bucket: (first record's time, lines).
#[derive(Debug, Default)]
struct Buffer {
    lines: HashMap<String, (u64, String)>,
    bytes: usize,
}

/// The access log of a server: which buckets log, and the records not yet spooled.
#[derive(Debug)]
pub struct AccessLog {
    engine: Engine,
    sources: std::sync::RwLock<HashMap<String, Arc<Source>>>,
    /// Some bucket logs: the request path looks no further when none does.
    any: AtomicBool,
    buffer: std::sync::Mutex<Buffer>,
    /// Records dropped: the buffer or the outboxes were full.
    dropped: AtomicU64,
}

impl AccessLog {
    /// The access log of `engine`'s buckets as their configurations say.
    pub fn load(engine: Engine, accounts: &crate::account::Accounts) -> AccessLog {
        let log = AccessLog {
            engine: engine.clone(),
            sources: Default::default(),
            any: AtomicBool::new(false),
            buffer: Default::default(),
            dropped: AtomicU64::new(0),
        };
        for bucket in engine.list_buckets() {
            if let Ok(Some(stored)) = engine.get_bucket_config(&bucket.name, BUCKET_LOGGING)
                && let Some(target) = Target::decode(&stored)
            {
                log.set(&bucket.name, Some(target), accounts);
            }
        }
        log
    }

    /// Turns logging of `bucket` on (to `target`) or off, as its configuration now says.
    pub fn set(&self, bucket: &str, target: Option<Target>, accounts: &crate::account::Accounts) {
        let mut sources = self.sources.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match target.zip(self.engine.head_bucket(bucket).ok()) {
            Some((target, info)) => {
                let owner = accounts.owner_account(&info.owner);
                let source = Source {
                    owner_canonical: accounts.canonical(&info.owner),
                    owner_account: owner
                        .map_or_else(|| accounts.root_account_id().to_owned(), |a| a.account_id.clone()),
                    region: info.region.clone(),
                    target,
                };
                sources.insert(bucket.to_owned(), Arc::new(source));
            }
            None => {
                sources.remove(bucket);
            }
        }
        self.any.store(!sources.is_empty(), Ordering::Release);
    }

    /// Whether any bucket logs (one atomic load: the cost of logging to a server without it).
    pub fn enabled(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    pub fn source(&self, bucket: &str) -> Option<Arc<Source>> {
        self.sources.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    /// Keeps one record for the next spool (or drops it, counted, when the buffer is full).
    pub fn keep(&self, record: &record::Record) {
        let line = record.line();
        let mut buffer = self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buffer.bytes + line.len() > BUFFER_BYTES_MAX {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buffer.bytes += line.len();
        let (_, lines) = buffer.lines.entry(record.bucket.clone()).or_insert_with(|| (record.time_ms, String::new()));
        lines.push_str(&line);
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Moves the records in memory into the engine: one outbox entry per source bucket (split
    /// where one would pass an entry's limit), each durable once this returns.
    pub fn spool(&self) {
        let taken = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let now = now_ms();
        for (bucket, (first_event_ms, lines)) in taken.lines {
            let Some(source) = self.source(&bucket) else {
                self.dropped.fetch_add(lines.lines().count() as u64, Ordering::Relaxed);
                continue;
            };
            let destination = Destination {
                source_bucket: bucket.clone(),
                source_account: source.owner_account.clone(),
                source_region: source.region.clone(),
                target: source.target.clone(),
                spooled_ms: now,
                first_event_ms,
            };
            for chunk in entry_chunks(&lines, cairn_engine::limits::OUTBOX_ENTRY_BYTES_MAX / 2) {
                let mut entry = serde_json::to_string(&destination).expect("a destination serializes");
                entry.push('\n');
                entry.push_str(chunk);
                if let Err(error) = self.engine.outbox_push(&format!("{OUTBOX_PREFIX}{bucket}"), entry.as_bytes()) {
                    self.dropped.fetch_add(chunk.lines().count() as u64, Ordering::Relaxed);
                    tracing::warn!("access log records of bucket {bucket} dropped: {error}");
                }
            }
        }
    }
}

/// `lines` cut at line ends into pieces of at most about `bytes_max`.
fn entry_chunks(lines: &str, bytes_max: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = lines;
    while !rest.is_empty() {
        let mut end = rest.len().min(bytes_max);
        if end < rest.len() {
            end = rest[..end].rfind('\n').map_or(end, |at| at + 1);
            while !rest.is_char_boundary(end) {
                end += 1;
            }
        }
        chunks.push(&rest[..end]);
        rest = &rest[end..];
    }
    chunks
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_are_cut_at_line_ends() {
        let lines = "aaaa\nbbbb\ncccc\n";
        assert_eq!(super::entry_chunks(lines, 11), ["aaaa\nbbbb\n", "cccc\n"]);
        assert_eq!(super::entry_chunks(lines, 100), [lines]);
        assert_eq!(super::entry_chunks("", 10), Vec::<&str>::new());
    }
}
