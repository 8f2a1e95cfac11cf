//! Upkeep of a store: checkpoints of the index and compaction of dead space, run by a
//! background thread (and by hand: `Engine::checkpoint`, `Engine::compact`).
//!
//! **Checkpoints.** The log writer freezes the index between two records (`Request::Freeze`);
//! the frozen changes and the previous checkpoint's keys are merged into a new checkpoint file
//! while writes go on into a fresh layer; once it is synced and renamed into place, reads of the
//! frozen keys move to it. One is written when the log after the last holds
//! `CHECKPOINT_TAIL_RECORDS` records, or more bytes than both `CHECKPOINT_TAIL_BYTES_MIN` and the
//! last checkpoint's size (so rewriting the index costs at most about what was written since).
//!
//! **Compaction.** The index counts the live bytes of each segment (`Index::usage`). A pass
//! picks sealed segments that a checkpoint covers, by LFS's cost-benefit score (free space times
//! age over the cost of copying the rest), copies the chunks still referenced to the end of the
//! log through the log writer (same records, byte for byte: a sealed chunk is bound to its
//! object and place, not to its location), and commits `Compact` records that point the
//! references at the copies and retire the victims; the next checkpoint covers that, and then
//! the victims' files are deleted. A crash at any point loses nothing: before the commit the
//! copies are dead bytes the next pass collects; after it, replay applies the moves again; a
//! victim is deleted only once a checkpoint no longer needs its records. docs/design.md,
//! "Compaction".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use rayon::prelude::*;

use crate::checkpoint::{self, Checkpoint, CheckpointPosition, Throttle};
use crate::engine::{Inner, wait};
use crate::error::{Error, Result};
use crate::format::RECORD_HEADER_BYTES;
use crate::format::records::{ChunkMove, ChunkOwner, Mutation};
use crate::limits;
use crate::queue::oneshot;
use crate::recovery::CheckpointInfo;
use crate::types::{Extent, SegmentId};
use crate::writer::{ChunkBuf, ChunkWritten, Request};

/// A byte rate that compaction's copies and checkpoint writes keep under (0: no limit).
#[derive(Debug)]
pub(crate) struct Budget {
    bytes_per_sec: u64,
    next: Mutex<Instant>,
}

impl Budget {
    pub fn new(bytes_per_sec: u64) -> Budget {
        Budget { bytes_per_sec, next: Mutex::new(Instant::now()) }
    }
}

impl Throttle for Budget {
    fn spend(&self, bytes: u64) {
        if self.bytes_per_sec == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let wake = {
            let mut next = self.next.lock();
            let now = Instant::now();
            // Idle time is saved up for a tenth of a second of bursting at most.
            let earliest = now.checked_sub(Duration::from_millis(100)).unwrap_or(now);
            *next = (*next).max(earliest) + cost;
            *next
        };
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
    }
}

/// The last checkpoint and what the log held when it was written.
#[derive(Clone, Debug)]
struct Mark {
    position: Option<CheckpointPosition>,
    bytes: u64,
    /// Writer counters when it was written (the tail replayed at open counts as written after).
    commits: u64,
    log_bytes: u64,
}

/// What the upkeep has done since open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpkeepStats {
    pub checkpoints: u64,
    pub checkpoint_bytes: u64,
    pub compaction_passes: u64,
    pub segments_deleted: u64,
    pub bytes_copied: u64,
    pub bytes_freed: u64,
    pub last_error: Option<String>,
}

/// Checkpoint and compaction state, one run at a time.
#[derive(Debug)]
pub(crate) struct Upkeep {
    run: Mutex<()>,
    mark: Mutex<Mark>,
    stats: Mutex<UpkeepStats>,
    budget: Budget,
}

/// One segment's space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSpace {
    pub id: SegmentId,
    /// The file's length (the active segment's includes its prepared zeros).
    pub bytes: u64,
    /// Bytes of chunk records the index references.
    pub live: u64,
}

/// Where the store's disk space goes.
#[derive(Clone, Debug, PartialEq)]
pub struct SpaceReport {
    pub segments: Vec<SegmentSpace>,
    pub segment_bytes: u64,
    pub live_bytes: u64,
    pub checkpoint_bytes: u64,
    pub retired_segments: usize,
    /// (segments + checkpoints) / live bytes; 1 for an empty store.
    pub amplification: f64,
    pub checkpoint: Option<CheckpointPosition>,
    pub upkeep: UpkeepStats,
}

/// What one compaction pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    pub victims: Vec<SegmentId>,
    pub chunks_copied: u64,
    pub bytes_copied: u64,
    /// Bytes of segment files deleted.
    pub bytes_freed: u64,
    /// Chunks left in a victim because they fail their checksum (the victim stays).
    pub damaged_chunks: u64,
    pub duration_ms: u64,
}

impl Upkeep {
    pub fn new(bytes_per_sec: u64, opened: Option<&Checkpoint>, tail_records: u64, tail_bytes: u64) -> Upkeep {
        let mark = Mark {
            position: opened.map(|c| c.position),
            bytes: opened.map_or(0, |c| c.bytes),
            // The writer counts from zero at open; the tail replayed is owed already.
            commits: 0u64.wrapping_sub(tail_records),
            log_bytes: 0u64.wrapping_sub(tail_bytes),
        };
        Upkeep {
            run: Mutex::new(()),
            mark: Mutex::new(mark),
            stats: Mutex::default(),
            budget: Budget::new(bytes_per_sec),
        }
    }

    pub fn stats(&self) -> UpkeepStats {
        self.stats.lock().clone()
    }

    pub fn position(&self) -> Option<CheckpointPosition> {
        self.mark.lock().position
    }

    /// Whether the log after the last checkpoint is long enough to write the next.
    fn checkpoint_due(&self, inner: &Inner) -> bool {
        let log = inner.writer.stats.snapshot();
        let mark = self.mark.lock();
        let records = log.commits.wrapping_sub(mark.commits);
        let bytes = log.bytes.wrapping_sub(mark.log_bytes);
        records >= limits::CHECKPOINT_TAIL_RECORDS
            || (records > 0 && bytes >= limits::CHECKPOINT_TAIL_BYTES_MIN.max(mark.bytes))
    }

    /// Writes a checkpoint of the index as it is now, then deletes what it makes unneeded:
    /// checkpoints older than the last two, and the files of retired segments.
    pub fn checkpoint(&self, inner: &Inner) -> Result<CheckpointInfo> {
        let _run = self.run.lock();
        self.checkpoint_locked(inner)
    }

    fn checkpoint_locked(&self, inner: &Inner) -> Result<CheckpointInfo> {
        let started = Instant::now();
        let (reply, pending) = oneshot();
        let log = inner.writer.stats.snapshot();
        inner.writer.send(Request::Freeze { reply })?;
        let frozen = wait(pending)?;
        let snapshot = frozen.snapshot.ok_or(Error::WriteInterrupted)?;
        let retired = snapshot.meta.retired.clone();
        let written = checkpoint::write(
            &inner.dir,
            &*inner.backend,
            frozen.position,
            snapshot.meta.clone(),
            &snapshot.keys,
            &self.budget,
        );
        let checkpoint = match written {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                inner.index.thaw(snapshot);
                return Err(error.into());
            }
        };
        inner.index.install(snapshot, &checkpoint);
        *self.mark.lock() = Mark {
            position: Some(checkpoint.position),
            bytes: checkpoint.bytes,
            commits: log.commits,
            log_bytes: log.bytes,
        };
        for (_, path) in checkpoint::list_checkpoints(&inner.dir)?.into_iter().skip(limits::CHECKPOINTS_KEPT) {
            crate::recovery::remove_file_if_present(&path)?;
        }
        let freed = self.delete_retired(inner, &retired)?;
        let mut stats = self.stats.lock();
        stats.checkpoints += 1;
        stats.checkpoint_bytes = checkpoint.bytes;
        stats.bytes_freed += freed.1;
        stats.segments_deleted += freed.0;
        Ok(CheckpointInfo {
            file: checkpoint.path.display().to_string(),
            position: checkpoint.position,
            bytes: checkpoint.bytes,
            keys: checkpoint.meta.buckets.iter().map(|b| b.keys).sum(),
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Deletes the files of retired segments a checkpoint now covers: (files, bytes).
    fn delete_retired(&self, inner: &Inner, retired: &[SegmentId]) -> Result<(u64, u64)> {
        let open: BTreeSet<SegmentId> = inner.segments.ids().into_iter().collect();
        let doomed: Vec<SegmentId> = retired.iter().copied().filter(|id| open.contains(id)).collect();
        if doomed.is_empty() {
            return Ok((0, 0));
        }
        let mut bytes = 0;
        for id in &doomed {
            let path = crate::segment::segment_path(&inner.dir, *id);
            bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
            crate::recovery::remove_file_if_present(&path)?;
        }
        crate::io::sync_dir_path(&inner.dir)?;
        inner.segments.remove(&doomed);
        Ok((doomed.len() as u64, bytes))
    }

    /// The store's space, segment by segment.
    pub fn space(&self, inner: &Inner) -> SpaceReport {
        let usage = inner.index.usage.lock().clone();
        let segments: Vec<SegmentSpace> = inner
            .segments
            .ids()
            .into_iter()
            .map(|id| {
                let bytes = segment_file_bytes(inner, id);
                SegmentSpace { id, bytes, live: usage.get(&id).copied().unwrap_or(0) }
            })
            .collect();
        let checkpoint_bytes = checkpoint::list_checkpoints(&inner.dir)
            .unwrap_or_default()
            .iter()
            .map(|(_, path)| std::fs::metadata(path).map_or(0, |m| m.len()))
            .sum();
        let segment_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
        let live_bytes: u64 = usage.values().sum();
        let amplification =
            if live_bytes == 0 { 1.0 } else { (segment_bytes + checkpoint_bytes) as f64 / live_bytes as f64 };
        SpaceReport {
            segments,
            segment_bytes,
            live_bytes,
            checkpoint_bytes,
            retired_segments: inner.index.retired.lock().len(),
            amplification,
            checkpoint: self.position(),
            upkeep: self.stats(),
        }
    }

    /// One compaction pass. `force` (by hand) takes every segment with dead bytes it can; else
    /// victims are taken by score while the sealed segments' amplification is above `target`.
    pub fn compact(&self, inner: &Inner, force: bool, target: f64) -> Result<CompactionReport> {
        let _run = self.run.lock();
        let started = Instant::now();
        let mut report = CompactionReport::default();
        // Victims must be behind a checkpoint. The last pass's closing checkpoint usually covers
        // enough; a new one is written first only when it does not.
        let mut victims = match self.position() {
            Some(position) => self.choose_victims(inner, position.resume.segment, force, target),
            None => Vec::new(),
        };
        let active = inner.segments.ids().last().copied().unwrap_or(SegmentId(1));
        let covered_all = self.position().is_some_and(|position| position.resume.segment >= active);
        if !covered_all && (force || self.dead_bytes(inner, &victims) < limits::COMPACTION_DEAD_BYTES_MIN) {
            self.checkpoint_locked(inner)?;
            let Some(position) = self.position() else { return Ok(report) };
            victims = self.choose_victims(inner, position.resume.segment, force, target);
        }
        if victims.is_empty() {
            return Ok(report);
        }
        let mut batch = self.copy_live(inner, &victims, &mut report)?;
        batch.commit(inner, victims.clone())?;
        let retired: BTreeSet<SegmentId> = inner.index.retired.lock().clone();
        report.victims = victims.into_iter().filter(|id| retired.contains(id)).collect();
        let before = self.stats().bytes_freed;
        // The checkpoint that covers the retirement deletes the victims' files.
        self.checkpoint_locked(inner)?;
        let mut stats = self.stats.lock();
        report.bytes_freed = stats.bytes_freed - before;
        stats.compaction_passes += 1;
        stats.bytes_copied += report.bytes_copied;
        report.duration_ms = started.elapsed().as_millis() as u64;
        log::info!(
            "compaction: {} segments, {} chunks ({} bytes) copied, {} bytes freed in {} ms",
            report.victims.len(),
            report.chunks_copied,
            report.bytes_copied,
            report.bytes_freed,
            report.duration_ms
        );
        Ok(report)
    }

    /// Copies every chunk the index references in `victims` to the end of the log, committing
    /// `Compact` records as the batch fills; returns the batch holding the last moves.
    fn copy_live(&self, inner: &Inner, victims: &[SegmentId], report: &mut CompactionReport) -> Result<Batch> {
        let wanted: BTreeSet<SegmentId> = victims.iter().copied().collect();
        let mut refs: Vec<(String, ChunkOwner, Extent)> = Vec::new();
        inner.index.for_each_reference(|bucket, owner, extents| {
            for extent in extents.iter().filter(|e| wanted.contains(&e.location.segment)) {
                refs.push((bucket.to_owned(), owner.clone(), *extent));
            }
        });
        refs.sort_by_key(|(_, _, extent)| extent.location);
        let mut batch = Batch::default();
        // Reads go out several at a time (the victims are not in the page cache: the log is
        // written direct), writes through the log writer with several copies in flight.
        for group in refs.chunks(limits::COMPACTION_READS_IN_FLIGHT) {
            let reads: Vec<Result<(u16, Vec<u8>)>> =
                group.par_iter().map(|(_, _, extent)| inner.segments.read_chunk(extent, None)).collect();
            for ((bucket, owner, extent), read) in group.iter().zip(reads) {
                match read {
                    Ok((flags, record)) => {
                        yield_to_writes(inner);
                        self.budget.spend(record.len() as u64);
                        let chunk = ChunkBuf::copy_of(flags, Bytes::from(record), extent.len);
                        batch.send(inner, bucket.clone(), owner.clone(), *extent, chunk)?;
                        report.chunks_copied += 1;
                        report.bytes_copied += RECORD_HEADER_BYTES as u64 + u64::from(extent.stored);
                    }
                    Err(error @ (Error::ChecksumMismatch { .. } | Error::Corruption { .. })) => {
                        log::error!("compaction leaves a damaged chunk where it is: {error}");
                        report.damaged_chunks += 1;
                    }
                    Err(error) => return Err(error),
                }
                if batch.full() {
                    batch.commit(inner, Vec::new())?;
                }
            }
        }
        Ok(batch)
    }

    /// Dead bytes in `segments`.
    fn dead_bytes(&self, inner: &Inner, segments: &[SegmentId]) -> u64 {
        let usage = inner.index.usage.lock();
        segments
            .iter()
            .map(|id| {
                let bytes = segment_file_bytes(inner, *id);
                bytes.saturating_sub(usage.get(id).copied().unwrap_or(0))
            })
            .sum()
    }

    /// Sealed segments before `resume` worth compacting, best first (LFS's cost-benefit:
    /// `(1 - u) * age / (1 + u)` for live fraction `u`), up to `COMPACTION_PASS_BYTES_MAX` of live
    /// bytes to copy. Empty segments are always taken: they cost nothing.
    fn choose_victims(&self, inner: &Inner, resume: SegmentId, force: bool, target: f64) -> Vec<SegmentId> {
        let usage = inner.index.usage.lock().clone();
        let retired = inner.index.retired.lock().clone();
        let now = SystemTime::now();
        let mut sealed_bytes = 0u64;
        let mut sealed_live = 0u64;
        let mut candidates = Vec::new();
        for id in inner.segments.ids() {
            if id >= resume || retired.contains(&id) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(crate::segment::segment_path(&inner.dir, id)) else { continue };
            let (bytes, live) = (meta.len().max(1), usage.get(&id).copied().unwrap_or(0));
            sealed_bytes += bytes;
            sealed_live += live;
            let u = live as f64 / bytes as f64;
            if u > limits::COMPACTION_LIVE_FRACTION_MAX {
                continue;
            }
            let age =
                meta.modified().ok().and_then(|m| now.duration_since(m).ok()).map_or(1.0, |d| d.as_secs_f64() + 1.0);
            candidates.push((id, bytes, live, (1.0 - u) * age / (1.0 + u)));
        }
        candidates.sort_by(|a, b| b.3.total_cmp(&a.3));
        let mut victims = Vec::new();
        let (mut copy, mut freed) = (0u64, 0u64);
        for (id, bytes, live, _) in candidates {
            let amplification = (sealed_bytes - freed) as f64 / (sealed_live.max(1)) as f64;
            let worth = live == 0 || force || amplification > target;
            if !worth || copy + live > limits::COMPACTION_PASS_BYTES_MAX {
                if live == 0 {
                    victims.push(id);
                }
                continue;
            }
            victims.push(id);
            copy += live;
            freed += bytes - live;
        }
        victims.sort();
        victims
    }

    /// Whether a compaction pass is worth running: the sealed segments hold at least
    /// `COMPACTION_DEAD_BYTES_MIN` dead bytes and their amplification is above `target`.
    fn compaction_due(&self, inner: &Inner, target: f64) -> bool {
        let usage = inner.index.usage.lock().clone();
        let ids = inner.segments.ids();
        let Some((_, sealed)) = ids.split_last() else { return false };
        let (mut bytes, mut live) = (0u64, 0u64);
        for id in sealed {
            bytes += segment_file_bytes(inner, *id);
            live += usage.get(id).copied().unwrap_or(0);
        }
        bytes.saturating_sub(live) >= limits::COMPACTION_DEAD_BYTES_MIN
            && (live == 0 || bytes as f64 / live as f64 > target)
    }

    /// What the background thread does each interval.
    fn tick(&self, inner: &Inner, target: f64) -> Result<()> {
        if self.compaction_due(inner, target) {
            self.compact(inner, false, target)?;
        } else if self.checkpoint_due(inner) {
            self.checkpoint(inner)?;
        }
        inner.segments.expire_removed();
        Ok(())
    }
}

/// A segment file's length (0 if it is gone).
fn segment_file_bytes(inner: &Inner, id: SegmentId) -> u64 {
    std::fs::metadata(crate::segment::segment_path(&inner.dir, id)).map_or(0, |meta| meta.len())
}

/// Waits (a bounded while) for the log writer's queue to drain below a few requests, so copies
/// go out between foreground groups rather than ahead of them.
fn yield_to_writes(inner: &Inner) {
    for _ in 0..limits::COMPACTION_YIELD_WAITS_MAX {
        if inner.writer.queued() <= limits::COMPACTION_YIELD_QUEUED {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Copies in flight and the moves of the next `Compact` record.
#[derive(Default)]
struct Batch {
    in_flight: std::collections::VecDeque<(String, ChunkOwner, Extent, crate::queue::Pending<Result<ChunkWritten>>)>,
    moves: Vec<ChunkMove>,
    epoch: Option<u64>,
    bytes: u64,
    /// About the encoded size of `moves`, to keep the record under its payload limit.
    encoded: usize,
}

/// Bytes of a move's encoding besides its bucket and key (length prefixes, tag, ids, locations).
const MOVE_ENCODED_BYTES_FIXED: usize = 4 + 1 + 4 + 12 + 16 + 24;

fn owner_key_len(owner: &ChunkOwner) -> usize {
    match owner {
        ChunkOwner::Version { key, .. } => key.len(),
        ChunkOwner::Part { .. } => 0,
    }
}

impl Batch {
    /// Whether the next record should be committed now: copies or moves at their bound.
    fn full(&self) -> bool {
        self.bytes >= limits::COMPACTION_RECORD_BYTES_MAX
            || self.moves.len() >= limits::COMPACTION_RECORD_MOVES_MAX
            || self.encoded >= limits::COMPACTION_RECORD_ENCODED_BYTES_MAX
    }

    fn send(&mut self, inner: &Inner, bucket: String, owner: ChunkOwner, from: Extent, chunk: ChunkBuf) -> Result<()> {
        let (reply, pending) = oneshot();
        inner.writer.send(Request::Chunk { chunk, reply })?;
        self.in_flight.push_back((bucket, owner, from, pending));
        self.bytes += u64::from(from.stored);
        while self.in_flight.len() > limits::COMPACTION_COPIES_IN_FLIGHT {
            self.settle_one()?;
        }
        Ok(())
    }

    fn settle_one(&mut self) -> Result<()> {
        let Some((bucket, owner, from, pending)) = self.in_flight.pop_front() else { return Ok(()) };
        let written = wait(pending)?;
        // Every copy a record names must be from one writer epoch (else some may be gone).
        if self.epoch.is_some_and(|epoch| epoch != written.epoch) {
            return Err(Error::WriteInterrupted);
        }
        self.epoch = Some(written.epoch);
        // A move's encoding: the bucket and key strings, tags, ids and two locations.
        self.encoded += bucket.len() + owner_key_len(&owner) + MOVE_ENCODED_BYTES_FIXED;
        self.moves.push(ChunkMove { bucket, owner, from: from.location, to: written.extent });
        Ok(())
    }

    /// Commits the moves so far (and retires `retire`), durably: the copies are synced with it.
    fn commit(&mut self, inner: &Inner, retire: Vec<SegmentId>) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_one()?;
        }
        if self.moves.is_empty() && retire.is_empty() {
            return Ok(());
        }
        let mut moves = std::mem::take(&mut self.moves);
        moves.sort_by(|a, b| (&a.bucket, &a.owner).cmp(&(&b.bucket, &b.owner)));
        inner.commit(Mutation::Compact { moves, retire }, None, self.epoch.take())?;
        self.bytes = 0;
        self.encoded = 0;
        Ok(())
    }
}

/// The background thread: checkpoints and compaction, every `MAINTENANCE_INTERVAL_MS`, until the
/// last handle to the engine goes.
#[derive(Debug)]
pub(crate) struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub fn start(inner: Arc<Inner>, target: f64) -> std::io::Result<Maintenance> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new().name("cairn-upkeep".into()).spawn(move || {
            let (stopped, wake) = &*signal;
            loop {
                {
                    let mut stopped = stopped.lock();
                    if !*stopped {
                        wake.wait_for(&mut stopped, Duration::from_millis(limits::MAINTENANCE_INTERVAL_MS));
                    }
                    if *stopped {
                        break;
                    }
                }
                if let Err(error) = inner.upkeep.tick(&inner, target) {
                    log::warn!("store upkeep: {error}");
                    inner.upkeep.stats.lock().last_error = Some(error.to_string());
                }
            }
        })?;
        Ok(Maintenance { stop, thread: Some(thread) })
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Live bytes per segment, for tests that check the index's counts against a recount.
pub(crate) fn recount_usage(inner: &Inner) -> BTreeMap<SegmentId, u64> {
    let mut usage = BTreeMap::new();
    inner.index.for_each_reference(|_, _, extents| {
        for extent in extents {
            *usage.entry(extent.location.segment).or_insert(0) += RECORD_HEADER_BYTES as u64 + u64::from(extent.stored);
        }
    });
    usage
}
