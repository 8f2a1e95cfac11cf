//! The replication worker: a task that copies each bucket's entries, in order per key, a
//! batch of each bucket in turn, and acks them once their source has its final status. A batch whose copy cannot be made yet
//! (no room, an I/O error) is tried again after a delay that doubles, from `RETRY_DELAY_MIN`
//! to `RETRY_DELAY_MAX`; its entries wait in the engine meanwhile, across restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_engine::{Error, ReplicationStatus};
use futures::StreamExt;

use super::copy::{Local, Outcome};
use super::{Entry, OUTBOX_PREFIX, Replication, Target};
use crate::account::Accounts;
use crate::authorization::Authorizer;

/// Keys copied at once (over all buckets' batches: one batch at a time).
pub const COPIES_CONCURRENT_MAX: usize = 32;
/// Entries read from one outbox per batch (one ack removes them all).
pub const REPLICATION_BATCH_MAX: usize = 256;
/// The first retry of a batch that could not be copied, and the longest wait between retries.
pub const RETRY_DELAY_MIN: Duration = Duration::from_millis(500);
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(10);
/// How often the worker looks for entries when none is committed (a commit wakes it at once).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What the worker copies with.
#[derive(Clone)]
struct Copier {
    replication: Arc<Replication>,
    accounts: Arc<Accounts>,
    authorizer: Arc<Authorizer>,
}

/// The running worker; stopped by `stop` or when the runtime ends.
#[derive(Debug)]
pub struct Worker(crate::task::Task);

impl Worker {
    /// Starts the worker on the current runtime.
    pub fn start(replication: Arc<Replication>, accounts: Arc<Accounts>, authorizer: Arc<Authorizer>) -> Worker {
        let copier = Copier { replication, accounts, authorizer };
        Worker(crate::task::Task::spawn(|stopped| run(copier, stopped)))
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

async fn run(copier: Copier, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut backoff = crate::task::Backoffs::new(RETRY_DELAY_MIN, RETRY_DELAY_MAX);
    loop {
        // One batch of each bucket per pass, so a busy bucket never starves the others.
        let mut more = false;
        for outbox in backoff.due(copier.replication.engine(), OUTBOX_PREFIX) {
            // A stop does not wait for a batch: what was copied and not acked is copied again.
            let pass = tokio::select! {
                pass = batch(&copier, &outbox) => pass,
                _ = stopped.changed() => return,
            };
            match pass {
                Pass::Done { more: left } => {
                    backoff.succeeded(&outbox);
                    more |= left;
                }
                Pass::Wait => {
                    copier.replication.counters.retries.fetch_add(1, Ordering::Relaxed);
                    backoff.failed(outbox);
                }
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            _ = copier.replication.pushed.notified() => {}
            _ = tokio::time::sleep(backoff.next_pass(POLL_INTERVAL)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// What one batch of a bucket came to.
enum Pass {
    /// Every entry was copied and acked; `more` if the batch was full (entries may be left).
    Done { more: bool },
    /// A copy must wait: the entries before it are acked, the bucket is tried again later.
    Wait,
}

/// Copies up to `REPLICATION_BATCH_MAX` of an outbox's oldest entries: keys at once, the
/// entries of one key in order.
async fn batch(copier: &Copier, outbox: &str) -> Pass {
    let engine = copier.replication.engine().clone();
    let bucket = outbox.strip_prefix(OUTBOX_PREFIX).unwrap_or_default().to_owned();
    let entries = engine.outbox_entries(outbox, REPLICATION_BATCH_MAX);
    let Some(last) = entries.last().map(|(seq, _)| *seq) else { return Pass::Done { more: false } };
    let mut keys: Vec<Vec<Entry>> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (seq, payload) in &entries {
        let Some(entry) = Entry::parse(*seq, payload) else {
            tracing::warn!("a replication entry of {bucket} does not parse; skipped");
            continue;
        };
        let slot = *at.entry(entry.key.clone()).or_insert_with(|| {
            keys.push(Vec::new());
            keys.len() - 1
        });
        keys[slot].push(entry);
    }
    let waiting: Vec<u64> = futures::stream::iter(keys)
        .map(|entries| {
            let bucket = &bucket;
            async move { copy_in_order(copier, bucket, &entries).await }
        })
        .buffer_unordered(COPIES_CONCURRENT_MAX)
        .filter_map(|first_waiting| async move { first_waiting })
        .collect()
        .await;
    // Acked: the entries before the first one still waiting.
    let through = match waiting.iter().min() {
        None => Some(last),
        Some(first) => entries.iter().map(|(seq, _)| *seq).take_while(|seq| seq < first).last(),
    };
    if let Some(through) = through
        && let Err(error) = engine.outbox_ack_async(outbox, through).await
    {
        tracing::warn!("replication entries of {bucket} not acknowledged, copied again later: {error}");
        return Pass::Wait;
    }
    if waiting.is_empty() { Pass::Done { more: entries.len() == REPLICATION_BATCH_MAX } } else { Pass::Wait }
}

/// Copies one key's entries in order; the seq of the first that must wait, if one must.
async fn copy_in_order(copier: &Copier, bucket: &str, entries: &[Entry]) -> Option<u64> {
    let engine = copier.replication.engine();
    let counters = &copier.replication.counters;
    for entry in entries {
        let mut refused = false;
        for target in &entry.to {
            match copier.copy(bucket, entry, target).await {
                Outcome::Replicated { bytes } => {
                    counters.replicated.fetch_add(1, Ordering::Relaxed);
                    counters.replicated_bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                Outcome::Refused(why) => {
                    tracing::warn!("{bucket}/{} could not be replicated to {}: {why}", entry.key, target.bucket);
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    refused = true;
                }
                Outcome::Retry(why) => {
                    tracing::info!("{bucket}/{} is replicated to {} later: {why}", entry.key, target.bucket);
                    return Some(entry.seq);
                }
                Outcome::Gone => break,
            }
        }
        if entry.delete_marker {
            continue;
        }
        let status = if refused { ReplicationStatus::Failed } else { ReplicationStatus::Completed };
        match engine.set_replication_status_async(bucket, &entry.key, entry.version, status).await {
            Ok(()) | Err(Error::NoSuchVersion | Error::NoSuchKey { .. } | Error::NoSuchBucket(_)) => {}
            Err(error) => {
                tracing::info!("the replication status of {bucket}/{} is set later: {error}", entry.key);
                return Some(entry.seq);
            }
        }
    }
    None
}

impl Copier {
    /// Copies one entry's version to one destination: on this server (on the blocking pool)
    /// or on the endpoint the destination names.
    async fn copy(&self, bucket: &str, entry: &Entry, target: &Target) -> Outcome {
        let Some(region) = &target.endpoint else {
            let (copier, bucket, entry, target) = (self.clone(), bucket.to_owned(), entry.clone(), target.clone());
            let local = tokio::task::spawn_blocking(move || {
                let engine = copier.replication.engine();
                let local = Local { engine, accounts: &copier.accounts, authorizer: &copier.authorizer };
                local.replicate(&bucket, &entry, &target)
            });
            return local.await.unwrap_or_else(|error| Outcome::Retry(error.to_string()));
        };
        match self.replication.remote(region) {
            Some(remote) => remote.replicate(self.replication.engine(), bucket, entry, target).await,
            None => Outcome::Refused(format!("no replication endpoint of region {region} is configured")),
        }
    }
}
