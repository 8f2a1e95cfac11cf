//! The lifecycle worker: a thread that, every scan interval, walks each bucket that has rules,
//! key by key and upload by upload, and applies what the rules ask now through
//! `Engine::expire`, a batch at a time. It keeps no state of its own: what it did is in the log,
//! and a restart (or a kill) leaves it to find what is still due on its next scan. Bytes it
//! frees go with compaction, like any delete's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cairn_engine::{Engine, Expiry, UploadQuery, Version, VersionQuery, limits};

use super::{BUCKET_LIFECYCLE, Days, Lifecycle};
use crate::notify::{Cause, Event, EventName, Notifications, Publisher, Subject};

/// Scans at least this often and at most this often, whatever the day length.
pub const SCAN_INTERVAL_MIN: Duration = Duration::from_secs(1);
pub const SCAN_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Scans per day: a day's rules are applied within a 24th of a day of coming due.
const SCANS_PER_DAY: u32 = 24;
/// Versions (and uploads) a scan lists per page.
const PAGE_ENTRIES: usize = limits::LIST_PAGE_ENTRIES_MAX;
/// The most changes the worker makes per second: a million expirations take 40 s and leave
/// the log writer and the CPUs to the foreground most of the time (docs/benchmarks.md,
/// "Lifecycle beside the foreground").
pub const CHANGES_PER_SEC_MAX: u64 = 25_000;

/// What the worker has done since the server started (for metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Scans of every bucket finished.
    pub scans: AtomicU64,
    /// Changes the scans applied.
    pub applied: AtomicU64,
    /// How long the last scan took, in ms.
    pub last_scan_ms: AtomicU64,
}

/// The running worker; stopped (and joined) by `stop` or when dropped.
#[derive(Debug)]
pub struct Worker {
    pub stats: Arc<Stats>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// Read between batches, so a stop does not wait for a long scan.
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker; the changes it makes publish events through `notifications`.
    pub fn start(engine: Engine, days: Days, notifications: Arc<Notifications>) -> std::io::Result<Worker> {
        let interval = (Duration::from_millis(days.day_ms) / SCANS_PER_DAY).clamp(SCAN_INTERVAL_MIN, SCAN_INTERVAL_MAX);
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (waker, flag) = (stop.clone(), stopping.clone());
        let stats = Arc::new(Stats::default());
        let counted = stats.clone();
        let thread = std::thread::Builder::new().name("cairn-lifecycle".into()).spawn(move || {
            let (stopped, wake) = &*waker;
            loop {
                let started = Instant::now();
                let applied = scan(&engine, days, now_ms(), &flag, Some(&notifications));
                counted.applied.fetch_add(applied as u64, Ordering::Relaxed);
                counted.last_scan_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                counted.scans.fetch_add(1, Ordering::Relaxed);
                let guard = stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let (guard, _) = wake
                    .wait_timeout_while(guard, interval, |s| !*s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if *guard {
                    return;
                }
            }
        })?;
        Ok(Worker { stats, stop, stopping, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.halt();
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One scan of every bucket that has lifecycle rules, as of `now_ms`, until done or `stopping`.
/// Returns the changes that applied.
pub fn scan(
    engine: &Engine,
    days: Days,
    now_ms: u64,
    stopping: &AtomicBool,
    notifications: Option<&Notifications>,
) -> usize {
    let mut applied = 0;
    let mut pace = Pace { started: Instant::now(), sent: 0 };
    for bucket in engine.list_buckets() {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let Ok(Some(stored)) = engine.get_bucket_config(&bucket.name, BUCKET_LIFECYCLE) else { continue };
        let Some(lifecycle) = Lifecycle::decode(&stored) else {
            tracing::error!("bucket {}: its lifecycle rules do not decode", bucket.name);
            continue;
        };
        let publisher = notifications.and_then(|n| Some((n, n.publisher(&bucket.name)?)));
        let mut batch = Batch {
            engine,
            bucket: &bucket.name,
            changes: Vec::new(),
            now_ms,
            applied: 0,
            stopping,
            pace: &mut pace,
            publisher,
        };
        scan_versions(engine, &lifecycle, days, &mut batch);
        scan_uploads(engine, &lifecycle, days, &mut batch);
        batch.flush();
        applied += batch.applied;
    }
    applied
}

/// Holds a scan's changes to `CHANGES_PER_SEC_MAX`.
struct Pace {
    started: Instant,
    sent: u64,
}

impl Pace {
    /// Counts `changes` sent, then waits until the rate allows them.
    fn spend(&mut self, changes: usize) {
        self.sent += changes as u64;
        let due = Duration::from_secs_f64(self.sent as f64 / CHANGES_PER_SEC_MAX as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// Changes waiting to go to the engine, at most a batch of them.
struct Batch<'a> {
    engine: &'a Engine,
    bucket: &'a str,
    changes: Vec<Expiry>,
    now_ms: u64,
    applied: usize,
    stopping: &'a AtomicBool,
    pace: &'a mut Pace,
    /// Where the bucket's events go, if it publishes.
    publisher: Option<(&'a Notifications, Arc<Publisher>)>,
}

impl Batch<'_> {
    fn flush_if_full(&mut self) {
        if self.changes.len() >= limits::EXPIRY_BATCH_MAX {
            self.flush();
        }
    }

    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sends what is waiting, at the worker's pace. A change that does not apply (the key
    /// changed since, a lock holds it, the bucket went) is left for the next scan to decide
    /// again; so is everything once the worker is stopping.
    fn flush(&mut self) {
        for chunk in self.changes.chunks(limits::EXPIRY_BATCH_MAX) {
            if self.stopped() {
                break;
            }
            match self.engine.expire(self.bucket, chunk, self.now_ms) {
                Ok(results) => {
                    self.applied += results.iter().filter(|r| r.is_ok()).count();
                    self.publish(chunk, &results);
                }
                Err(error) => tracing::warn!("lifecycle of bucket {}: {error}", self.bucket),
            }
            self.pace.spend(chunk.len());
        }
        self.changes.clear();
    }

    /// Publishes the events of the changes that applied, if the bucket publishes: durable
    /// before the next batch is sent.
    fn publish(&self, chunk: &[Expiry], results: &[cairn_engine::Result<cairn_engine::DeleteOutcome>]) {
        let Some((notifications, publisher)) = &self.publisher else { return };
        let cause = Cause {
            principal: LIFECYCLE_PRINCIPAL.to_owned(),
            source_ip: LIFECYCLE_PRINCIPAL.to_owned(),
            ..Cause::default()
        };
        let events = chunk
            .iter()
            .zip(results)
            .filter_map(|(change, result)| Some((change, result.as_ref().ok()?)))
            .filter_map(|(change, outcome)| lifecycle_event(change, outcome))
            .map(|(name, subject)| Event {
                name,
                region: publisher.region.clone(),
                time_ms: self.now_ms,
                bucket: self.bucket.to_owned(),
                owner: publisher.owner.clone(),
                subject,
                cause: cause.clone(),
            })
            .collect();
        futures::executor::block_on(notifications.publish(publisher, events));
    }
}

/// Who lifecycle events say caused them (AWS's service principal).
const LIFECYCLE_PRINCIPAL: &str = "s3.amazonaws.com";

/// The event of a lifecycle change that applied: an expiration (a delete, or a delete marker
/// placed) or a transition; aborted uploads have none.
fn lifecycle_event(change: &Expiry, outcome: &cairn_engine::DeleteOutcome) -> Option<(EventName, Subject)> {
    let named = |version: Option<cairn_engine::VersionId>| {
        version.filter(|v| *v != cairn_engine::VersionId::Null).map(|v| v.to_string())
    };
    let (name, key, transition) = match change {
        Expiry::Current { key, .. } if outcome.delete_marker => (EventName::LifecycleDeleteMarkerCreated, key, None),
        Expiry::Current { key, .. } | Expiry::Version { key, .. } => (EventName::LifecycleDelete, key, None),
        Expiry::Transition { key, class, .. } => (EventName::LifecycleTransition, key, Some(class.as_str().to_owned())),
        Expiry::AbortUpload { .. } => return None,
    };
    let version = match change {
        Expiry::Transition { version, .. } => named(Some(*version)),
        _ => named(outcome.version),
    };
    Some((name, Subject { key: key.clone(), version, seq: outcome.seq, transition, ..Subject::default() }))
}

/// Every key's versions, a page at a time; a key whose versions run past a page is decided once
/// all of them are read.
fn scan_versions(engine: &Engine, lifecycle: &Lifecycle, days: Days, batch: &mut Batch<'_>) {
    let mut query = VersionQuery { max_keys: PAGE_ENTRIES, ..VersionQuery::default() };
    let mut chain: Vec<Version> = Vec::new();
    let mut key = String::new();
    loop {
        if batch.stopped() {
            return;
        }
        let Ok(page) = engine.list_versions(batch.bucket, &query) else { return };
        let mut last = None;
        for entry in page.entries() {
            if entry.key != key {
                super::decide(lifecycle, days, &key, &chain, batch.now_ms, &mut batch.changes);
                batch.flush_if_full();
                chain.clear();
                key.clone_from(&entry.key);
            }
            chain.push(entry.version.clone());
            last = Some((entry.key.clone(), entry.version.id));
        }
        match last {
            Some((marker, version)) if page.is_truncated => {
                query.key_marker = Some(marker);
                query.version_marker = Some(version);
            }
            _ => break,
        }
    }
    super::decide(lifecycle, days, &key, &chain, batch.now_ms, &mut batch.changes);
}

fn scan_uploads(engine: &Engine, lifecycle: &Lifecycle, days: Days, batch: &mut Batch<'_>) {
    if lifecycle.rules.iter().all(|rule| rule.abort_incomplete_upload_days.is_none()) {
        return;
    }
    let mut query = UploadQuery { max_uploads: PAGE_ENTRIES, ..UploadQuery::default() };
    loop {
        if batch.stopped() {
            return;
        }
        let Ok(page) = engine.list_uploads(batch.bucket, &query) else { return };
        let mut last = None;
        for upload in page.entries() {
            if super::aborts(lifecycle, days, &upload.key, upload.initiated_ms, batch.now_ms) {
                batch.changes.push(Expiry::AbortUpload { upload: upload.upload });
                batch.flush_if_full();
            }
            last = Some((upload.key.clone(), upload.upload));
        }
        match last {
            Some((marker, upload)) if page.is_truncated => {
                query.key_marker = Some(marker);
                query.upload_marker = Some(upload);
            }
            _ => break,
        }
    }
}
