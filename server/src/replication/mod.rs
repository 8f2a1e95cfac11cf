//! Replication (S3's PutBucketReplication): each new version of a bucket with a replication
//! configuration is copied to the destination bucket of the rule that covers it, keeping its
//! version id, time, metadata, tags, owner, ACL, Object Lock state and encryption kind.
//!
//! The queue is engine outboxes, `replication/<bucket>`. A write a rule covers commits its
//! entry as a [`cairn_engine::Notice`] in its own record, and its version is `PENDING` from the
//! start: the version and its entry are durable together or not at all, so a crash never loses
//! a replication and never leaves a version waiting with no entry. The worker (`worker.rs`)
//! copies each entry's version (`copy.rs`), sets the source's status (`COMPLETED`, or `FAILED`
//! when a destination refuses it for good) and then acks the entry; one crash between the two
//! makes the copy again, which the destination takes as nothing (a replica it holds already).
//! The worker retries with backoff while a destination cannot take the copy yet.

pub mod copy;
pub mod remote;
pub mod rules;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cairn_engine::{Engine, Notice, VersionId};
use serde::{Deserialize, Serialize};

pub use remote::{Endpoint, Remote};
pub use rules::{Destination, Rule, Rules};

/// The bucket configuration holding a bucket's replication configuration (the request's
/// document, as JSON).
pub const BUCKET_REPLICATION: &str = "replication";
/// Where entries wait: `replication/<bucket>`.
pub const OUTBOX_PREFIX: &str = "replication/";

/// One destination of an entry: everything the copy needs, fixed when the write commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub bucket: String,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub owner_is_destination: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// The endpoint's region, for a bucket of another server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Target {
    fn of(rule: &Rule) -> Target {
        let destination = &rule.destination;
        Target {
            bucket: destination.bucket.clone(),
            rule: rule.id.clone(),
            storage_class: destination.storage_class.map(|class| class.as_str().to_owned()),
            owner_is_destination: destination.owner_is_destination,
            kms_key: destination.replica_kms_key.clone(),
            endpoint: destination.endpoint.clone(),
        }
    }
}

/// An entry's payload: the key and where its version goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Payload {
    key: String,
    to: Vec<Target>,
}

/// An entry as the worker reads it: the payload and what the engine wrote in front of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub key: String,
    pub version: VersionId,
    /// Whether the version is a delete marker.
    pub delete_marker: bool,
    pub size: u64,
    pub to: Vec<Target>,
}

impl Entry {
    /// Parses an outbox entry: `<version> <size> <etag>\n` then the JSON payload. A delete
    /// marker's ETag is `-`.
    pub fn parse(seq: u64, entry: &[u8]) -> Option<Entry> {
        let newline = entry.iter().position(|b| *b == b'\n')?;
        let line = std::str::from_utf8(&entry[..newline]).ok()?;
        let mut fields = line.split(' ');
        let (version, size, etag) = (fields.next()?, fields.next()?, fields.next()?);
        let payload: Payload = serde_json::from_slice(&entry[newline + 1..]).ok()?;
        Some(Entry {
            seq,
            key: payload.key,
            version: VersionId::parse(version)?,
            delete_marker: etag == "-",
            size: size.parse().ok()?,
            to: payload.to,
        })
    }
}

/// What the replication of a server has done since it started (the admin endpoint's figures).
#[derive(Debug, Default)]
pub struct Counters {
    pub replicated: AtomicU64,
    pub replicated_bytes: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
}

/// The server's replication: which buckets replicate, by which rules.
#[derive(Debug)]
pub struct Replication {
    engine: Engine,
    /// The other servers replicas may go to, by region.
    remotes: BTreeMap<String, Remote>,
    configs: RwLock<HashMap<String, Arc<Rules>>>,
    /// Some bucket replicates: the request path looks no further when none does.
    any: AtomicBool,
    /// Wakes the worker when entries are committed.
    pub(crate) pushed: tokio::sync::Notify,
    pub counters: Counters,
}

impl Replication {
    /// The replication configurations of `engine`'s buckets, with `endpoints` (checked
    /// already) for destinations on other servers.
    pub fn load(engine: Engine, endpoints: &[Endpoint]) -> Replication {
        let replication = Replication {
            engine: engine.clone(),
            remotes: endpoints.iter().filter_map(|e| Some((e.region.clone(), e.check().ok()?))).collect(),
            configs: RwLock::default(),
            any: AtomicBool::new(false),
            pushed: tokio::sync::Notify::new(),
            counters: Counters::default(),
        };
        for bucket in engine.list_buckets() {
            if let Ok(Some(stored)) = engine.get_bucket_config(&bucket.name, BUCKET_REPLICATION)
                && let Some(stored) = Stored::decode(&stored)
                && let Ok(mut rules) = Rules::from_dto(&stored.config, &bucket.name, &|_| Ok(()))
            {
                rules.locate(&stored.remote);
                replication.set(&bucket.name, Some(rules));
            }
        }
        replication
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The endpoint of `region`, if one is configured.
    pub fn remote(&self, region: &str) -> Option<&Remote> {
        self.remotes.get(region)
    }

    /// Every configured endpoint.
    pub fn remotes(&self) -> impl Iterator<Item = &Remote> {
        self.remotes.values()
    }

    /// Sets the rules `bucket` replicates by (none: it stops).
    pub fn set(&self, bucket: &str, rules: Option<Rules>) {
        let mut configs = self.configs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match rules {
            Some(rules) => configs.insert(bucket.to_owned(), Arc::new(rules)),
            None => configs.remove(bucket),
        };
        self.any.store(!configs.is_empty(), Ordering::Release);
    }

    /// The rules of `bucket`, if it replicates (one atomic load when no bucket does).
    pub fn rules(&self, bucket: &str) -> Option<Arc<Rules>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.configs.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    /// The entry to commit with a new version of `key` with `tags`, SSE-KMS-encrypted if `kms`:
    /// `None` when no enabled rule covers it.
    pub fn version_notice(&self, bucket: &str, key: &str, tags: &[(String, String)], kms: bool) -> Option<Notice> {
        let rules = self.rules(bucket)?;
        notice(bucket, key, &rules.for_version(key, tags, kms))
    }

    /// The entry to commit with a delete marker on `key`: `None` when no rule replicates it.
    pub fn marker_notice(&self, bucket: &str, key: &str) -> Option<Notice> {
        let rules = self.rules(bucket)?;
        notice(bucket, key, &rules.for_delete_marker(key))
    }

    /// Wakes the worker: a write committed an entry.
    pub fn wake(&self) {
        self.pushed.notify_one();
    }

    /// Entries and payload bytes waiting, over every bucket.
    pub fn backlog(&self) -> (usize, u64) {
        self.engine
            .outboxes(OUTBOX_PREFIX)
            .into_iter()
            .fold((0, 0), |(entries, bytes), (_, count, payload)| (entries + count, bytes + payload))
    }
}

fn notice(bucket: &str, key: &str, rules: &[&Rule]) -> Option<Notice> {
    if rules.is_empty() {
        return None;
    }
    let payload = Payload { key: key.to_owned(), to: rules.iter().map(|rule| Target::of(rule)).collect() };
    let payload = serde_json::to_vec(&payload).expect("an entry serializes");
    Some(Notice { outbox: outbox_name(bucket), payload })
}

/// The outbox a bucket's entries wait in.
pub fn outbox_name(bucket: &str) -> String {
    format!("{OUTBOX_PREFIX}{bucket}")
}

/// The stored configuration: the request's document, and the endpoint (by region) of each
/// destination bucket on another server, found when it was put.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    pub config: s3s::dto::ReplicationConfiguration,
    #[serde(default)]
    pub remote: BTreeMap<String, String>,
}

impl Stored {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a configuration serializes")
    }

    pub fn decode(stored: &[u8]) -> Option<Stored> {
        serde_json::from_slice(stored).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_the_engine_s_line_then_the_payload() {
        let payload = Payload {
            key: "docs/a b".into(),
            to: vec![Target {
                bucket: "dst".into(),
                rule: "r".into(),
                storage_class: Some("STANDARD_IA".into()),
                owner_is_destination: false,
                kms_key: None,
                endpoint: Some("eu-west-1".into()),
            }],
        };
        let mut entry = b"00000000000000a1 12 0123abcd\n".to_vec();
        entry.extend_from_slice(&serde_json::to_vec(&payload).unwrap());
        let parsed = Entry::parse(7, &entry).unwrap();
        assert_eq!((parsed.seq, parsed.version, parsed.size), (7, VersionId::Id(0xa1), 12));
        assert!(!parsed.delete_marker);
        assert_eq!((parsed.key.as_str(), parsed.to), ("docs/a b", payload.to));
        let mut marker = b"00000000000000a2 0 -\n".to_vec();
        marker.extend_from_slice(&serde_json::to_vec(&Payload { key: "k".into(), to: Vec::new() }).unwrap());
        assert!(Entry::parse(8, &marker).unwrap().delete_marker);
        assert_eq!(Entry::parse(9, b"garbage"), None);
    }
}
