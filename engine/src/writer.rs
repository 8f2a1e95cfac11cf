//! The log writer: one thread that owns the active segment, gathers concurrent requests into a
//! group, writes the group with one submission, makes it durable with one fdatasync, applies
//! the group's metadata records to the index in log order, and only then replies.
//!
//! Chunks (object body bytes) are written without waiting for a sync; the commit record that
//! references them is synced after them, which makes them durable too (same file, or a sealed
//! segment that was synced when it was sealed). If a write or sync fails, the writer cuts the
//! active segment back to its last synced length and bumps `epoch`: a commit whose chunks were
//! written in an earlier epoch is refused, since those chunks may be gone.
//!
//! Segments are prepared ahead: while the writer fills one, a helper thread writes the next one
//! full of zeros under a temporary name and syncs it; the writer renames it into place when it
//! rotates. Appends into prepared space change neither the file's size nor its block map, so a
//! group's fdatasync flushes data alone. The first segment after an open is
//! `PREPARED_SEGMENT_BYTES_MIN`, each next twice the last up to the configured segment size.
//! docs/design.md, "Write path" and "Commit protocol".

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::records::Mutation;
use crate::format::{self, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::index::{Applied, Index};
use crate::io::{DIRECT_ALIGN, IoBackend, IoFile};
use crate::limits;
use crate::queue::{Pending, oneshot};
use crate::queue::{Queue, Reply};
use crate::segment::{Segments, prepared_path, segment_path};
use crate::types::{Extent, Location, SegmentId, Seq};

/// A chunk's place in the log and the writer epoch it was written in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkWritten {
    pub extent: Extent,
    pub epoch: u64,
}

/// A durable, applied metadata record.
#[derive(Debug)]
pub(crate) struct Committed {
    pub applied: Applied,
    /// The record's sequence number.
    pub seq: Seq,
}

/// A chunk record ready to write: its header (checksum computed by the sender), payload, and
/// the body bytes it holds (the payload's length unless it is compressed or sealed).
#[derive(Debug)]
pub(crate) struct ChunkBuf {
    pub header: [u8; RECORD_HEADER_BYTES],
    pub payload: Bytes,
    pub len: u32,
}

impl ChunkBuf {
    /// A chunk of `len` body bytes as `payload`, with header flags `flags`.
    pub fn new(flags: u16, payload: Bytes, len: u32) -> ChunkBuf {
        ChunkBuf { header: format::encode_chunk_header(flags, &payload), payload, len }
    }

    /// A copy of a chunk record read (and verified) whole: its header is kept when it is of the
    /// current record version, so the payload is not hashed again; an older one is re-encoded
    /// (its checksum covers its version byte).
    pub fn copy_of(flags: u16, record: Bytes, len: u32) -> ChunkBuf {
        let payload = record.slice(RECORD_HEADER_BYTES..);
        let header: [u8; RECORD_HEADER_BYTES] = record[..RECORD_HEADER_BYTES].try_into().expect("a whole record");
        match format::decode_record_header(&header) {
            Ok(decoded) if decoded.version == format::RECORD_VERSION && decoded.durable_before == 0 => {
                debug_assert_eq!(header, format::encode_chunk_header(flags, &payload));
                ChunkBuf { header, payload, len }
            }
            _ => ChunkBuf::new(flags, payload, len),
        }
    }

    fn record_len(&self) -> u64 {
        (RECORD_HEADER_BYTES + self.payload.len()) as u64
    }
}

#[derive(Debug)]
pub(crate) enum Request {
    Chunk {
        chunk: ChunkBuf,
        reply: Reply<Result<ChunkWritten>>,
    },
    /// A metadata record, with the body's last chunks riding along: they are written just
    /// before the record and their extents appended to its list, so a small object is one
    /// request, one write and one sync.
    Commit {
        mutation: Box<Mutation>,
        tail: Vec<ChunkBuf>,
        epoch: Option<u64>,
        reply: Reply<Result<Committed>>,
    },
    /// Starts a checkpoint: everything before is written, synced and applied, then the index is
    /// frozen at this position of the log.
    Freeze {
        reply: Reply<Result<Frozen>>,
    },
}

/// The index frozen at a log position (`None` if a frozen layer still waits for its checkpoint).
pub(crate) struct Frozen {
    pub snapshot: Option<crate::index::Snapshot>,
    pub position: crate::checkpoint::CheckpointPosition,
}

impl std::fmt::Debug for Frozen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frozen").field("position", &self.position).finish()
    }
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Request::Chunk { chunk, .. } => chunk.record_len() as usize,
            Request::Commit { tail, .. } => {
                RECORD_HEADER_BYTES + 256 + tail.iter().map(|c| c.record_len() as usize).sum::<usize>()
            }
            Request::Freeze { .. } => 0,
        }
    }

    fn fail(self, error: Error) {
        match self {
            Request::Chunk { reply, .. } => reply.send(Err(error)),
            Request::Commit { reply, .. } => reply.send(Err(error)),
            Request::Freeze { reply } => reply.send(Err(error)),
        }
    }
}

/// Counters of the log writer, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Groups written (one write submission each).
    pub groups: AtomicU64,
    /// Syncs (fdatasync) issued, including segment seals.
    pub syncs: AtomicU64,
    /// Metadata records committed.
    pub commits: AtomicU64,
    /// Chunk records written.
    pub chunks: AtomicU64,
    /// Bytes written to segments.
    pub bytes: AtomicU64,
    /// Records (commits and chunks) per group: how many writers each write and sync served.
    pub group_records: crate::Distribution,
    /// Microseconds each synced group took to write and make durable.
    pub sync_micros: crate::Distribution,
}

/// A copy of `WriterStats` at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub groups: u64,
    pub syncs: u64,
    pub commits: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub group_records: crate::DistributionSnapshot,
    pub sync_micros: crate::DistributionSnapshot,
}

impl WriterStats {
    pub fn snapshot(&self) -> LogStats {
        LogStats {
            groups: self.groups.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            chunks: self.chunks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            group_records: self.group_records.snapshot(),
            sync_micros: self.sync_micros.snapshot(),
        }
    }
}

/// Where the writer starts: the active segment and the next sequence number.
pub(crate) struct WriterStart {
    pub dir: PathBuf,
    pub backend: Arc<dyn IoBackend>,
    pub segments: Arc<Segments>,
    pub index: Arc<Index>,
    pub active_id: SegmentId,
    pub active: Arc<IoFile>,
    pub len: u64,
    pub next_seq: Seq,
    pub segment_bytes_max: u64,
}

/// The sending side; dropping it stops the writer after it drains its queue.
#[derive(Debug)]
pub(crate) struct WriterHandle {
    queue: Arc<Queue<Request>>,
    pub stats: Arc<WriterStats>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    pub fn start(start: WriterStart) -> io::Result<WriterHandle> {
        let queue = Arc::new(Queue::new(limits::WRITE_QUEUE_DEPTH));
        let receiver = queue.clone();
        let stats = Arc::new(WriterStats::default());
        let mut writer = Writer {
            limit: start.len,
            file_len: start.len,
            prepared_bytes_next: limits::PREPARED_SEGMENT_BYTES_MIN.min(start.segment_bytes_max),
            preparing: None,
            prepared_after: None,
            stats: stats.clone(),
            dir: start.dir,
            backend: start.backend,
            segments: start.segments,
            index: start.index,
            active_id: start.active_id,
            active: start.active,
            len: start.len,
            synced_len: start.len,
            next_seq: start.next_seq,
            segment_bytes_max: start.segment_bytes_max,
            epoch: 1,
            cut_pending: false,
            direct: None,
        };
        writer.direct = Direct::open(&*writer.backend, &writer.active, writer.len);
        let thread = std::thread::Builder::new().name("cairn-log-writer".into()).spawn(move || writer.run(receiver))?;
        Ok(WriterHandle { queue, stats, thread: Some(thread) })
    }

    pub fn send(&self, request: Request) -> Result<()> {
        self.queue.push(request).map_err(|_| Error::Closed)
    }

    /// Requests waiting for the writer (compaction holds back while foreground writes queue).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request placed in the current group, waiting for the group's write (and sync).
enum Placed {
    Chunk { extent: Extent, reply: Reply<Result<ChunkWritten>> },
    Commit { seq: Seq, mutation: Box<Mutation>, reply: Reply<Result<Committed>> },
}

/// Records placed contiguously in the active segment, written with one submission.
#[derive(Default)]
struct Group {
    start: u64,
    bufs: Vec<Bytes>,
    placed: Vec<Placed>,
    has_commit: bool,
}

/// The next segment, being prepared on a helper thread.
struct Preparing {
    /// The id it was prepared for (it may serve a later one: its header is rewritten then).
    id: SegmentId,
    bytes: u64,
    done: Pending<io::Result<IoFile>>,
}

struct Writer {
    /// Where the active segment's prepared space ends: its prepared size, or the configured
    /// segment size for one that was not prepared. A segment recovered at open has none, so the
    /// writer moves to a prepared one as soon as that is ready.
    limit: u64,
    /// The active segment's file length (past `len` while its prepared zeros are unused).
    file_len: u64,
    /// Size of the next segment to prepare.
    prepared_bytes_next: u64,
    preparing: Option<Preparing>,
    /// The active segment whose successor was last started: preparing starts once per segment,
    /// at its first write (a store opened and closed without writing writes no zeros).
    prepared_after: Option<SegmentId>,
    stats: Arc<WriterStats>,
    dir: PathBuf,
    backend: Arc<dyn IoBackend>,
    segments: Arc<Segments>,
    index: Arc<Index>,
    active_id: SegmentId,
    active: Arc<IoFile>,
    /// End of what was written to the active segment.
    len: u64,
    /// End of what is durable in the active segment.
    synced_len: u64,
    next_seq: Seq,
    segment_bytes_max: u64,
    epoch: u64,
    /// The active segment holds unsynced bytes past `synced_len` that a failed cut left behind;
    /// nothing is appended until the cut succeeds.
    cut_pending: bool,
    /// Direct writes to the active segment, where the file system takes them (else groups go
    /// through the page cache).
    direct: Option<Direct>,
}

/// The active segment opened for direct writes (`IoBackend::open_direct`). A direct write covers
/// whole blocks, so each group is copied into an aligned staging buffer after the bytes of the
/// block it starts in (written before, kept here) and before zeros to the end of its last block;
/// the next group rewrites that block with the same bytes followed by its own. Bodies then reach
/// the device without becoming page-cache pages, which on a VM whose freed memory returns to the
/// host cost more CPU than the rest of a large PUT (docs/benchmarks.md), and io_uring completes
/// the write without its worker threads.
struct Direct {
    file: IoFile,
    /// The log's bytes from the start of the block holding its end up to its end.
    tail: Vec<u8>,
    /// Holds one aligned block more than the largest group staged so far.
    stage: Vec<u8>,
}

impl Direct {
    /// The active segment `file` for direct writes from `len` on, if the backend offers them.
    fn open(backend: &dyn IoBackend, file: &IoFile, len: u64) -> Option<Direct> {
        let opened = backend.open_direct(&file.path).and_then(|direct| {
            let Some(direct) = direct else { return Ok(None) };
            let mut tail = vec![0u8; (len % DIRECT_ALIGN as u64) as usize];
            backend.read_at(file, len - tail.len() as u64, &mut tail)?;
            Ok(Some(Direct { file: direct, tail, stage: Vec::new() }))
        });
        opened.unwrap_or_else(|error| {
            log::warn!("{}: no direct writes, writing through the page cache: {error}", file.path.display());
            None
        })
    }

    /// Lays out a group that starts at `start` (the log's end) for one direct write: returns the
    /// write's offset and where its bytes are in `stage`, or `None` if the group is larger than
    /// `limits::DIRECT_STAGE_BYTES_MAX`.
    fn stage(&mut self, start: u64, bufs: &[&[u8]]) -> Option<(u64, std::ops::Range<usize>)> {
        let head = self.tail.len();
        debug_assert_eq!(start % DIRECT_ALIGN as u64, head as u64);
        let used = head + bufs.iter().map(|buf| buf.len()).sum::<usize>();
        let total = used.next_multiple_of(DIRECT_ALIGN);
        if total > limits::DIRECT_STAGE_BYTES_MAX {
            return None;
        }
        if self.stage.len() < total + DIRECT_ALIGN {
            self.stage = vec![0; total + DIRECT_ALIGN];
        }
        let at = self.stage.as_ptr().align_offset(DIRECT_ALIGN);
        let staged = &mut self.stage[at..at + total];
        staged[..head].copy_from_slice(&self.tail);
        let mut filled = head;
        for buf in bufs {
            staged[filled..filled + buf.len()].copy_from_slice(buf);
            filled += buf.len();
        }
        staged[used..].fill(0);
        self.tail.clear();
        self.tail.extend_from_slice(&staged[used / DIRECT_ALIGN * DIRECT_ALIGN..used]);
        Some((start - head as u64, at..at + total))
    }
}

impl Writer {
    fn run(mut self, queue: Arc<Queue<Request>>) {
        loop {
            let (mut records, mut bytes) = (0, 0);
            let batch = queue.pop_batch(|request| {
                records += 1;
                bytes += request.bytes();
                records < limits::GROUP_COMMIT_RECORDS_MAX && bytes < limits::GROUP_COMMIT_BYTES_MAX
            });
            match batch {
                Some(batch) => self.process(batch),
                None => break,
            }
        }
        self.close();
    }

    /// On a clean stop: the segment being prepared is discarded and the active one loses its
    /// unused zeros, so a closed store's segments end where their logs do.
    fn close(&mut self) {
        if let Some(preparing) = self.preparing.take()
            && let Some(Ok(file)) = preparing.done.wait()
        {
            let _ = std::fs::remove_file(&file.path);
        }
        if self.file_len > self.len && !self.cut_pending {
            let cut = self.backend.set_len(&self.active, self.len).and_then(|()| self.backend.sync(&self.active));
            if let Err(error) = cut {
                log::warn!("segment {}: could not cut its unused prepared space: {error}", self.active_id);
            }
        }
    }

    /// Starts preparing the segment after the active one, unless one is being prepared already.
    fn start_preparing(&mut self) {
        self.prepared_after = Some(self.active_id);
        let id = SegmentId(self.active_id.0 + 1);
        if self.preparing.is_some() || id.0 > limits::SEGMENTS_MAX {
            return;
        }
        let bytes = self.prepared_bytes_next;
        let (reply, done) = oneshot();
        let (backend, path) = (self.backend.clone(), prepared_path(&self.dir, id));
        let spawned = std::thread::Builder::new()
            .name("cairn-prepare".into())
            .spawn(move || reply.send(prepare_segment(&*backend, &path, bytes)));
        match spawned {
            Ok(_) => self.preparing = Some(Preparing { id, bytes, done }),
            Err(error) => log::warn!("could not start preparing segment {id}: {error}"),
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        if self.prepared_after != Some(self.active_id) {
            self.start_preparing();
        }
        if self.cut_pending
            && let Err(error) = self.cut_back()
        {
            for request in batch {
                request.fail(Error::Io(clone_io(&error)));
            }
            return;
        }
        let mut group = Group { start: self.len, ..Group::default() };
        let mut requests = batch.into_iter();
        while let Some(request) = requests.next() {
            let placed = match request {
                Request::Freeze { reply } => {
                    let placed = std::mem::take(&mut group);
                    if let Err(error) = self.flush(placed, true) {
                        reply.send(Err(error));
                        fail_rest(requests);
                        return;
                    }
                    group.start = self.len;
                    let position = crate::checkpoint::CheckpointPosition {
                        seq: self.next_seq - 1,
                        resume: Location { segment: self.active_id, offset: self.len },
                        created_ms: crate::now_ms(),
                    };
                    reply.send(Ok(Frozen { snapshot: self.index.freeze(), position }));
                    continue;
                }
                Request::Chunk { chunk, reply } => {
                    if let Err(error) = self.make_room(&mut group, chunk.record_len()) {
                        reply.send(Err(error));
                        fail_rest(requests);
                        return;
                    }
                    Placed::Chunk { extent: self.place_chunk(&mut group, chunk), reply }
                }
                Request::Commit { mut mutation, tail, epoch, reply } => {
                    if epoch.is_some_and(|epoch| epoch != self.epoch) {
                        reply.send(Err(Error::WriteInterrupted));
                        continue;
                    }
                    // Size the record with placeholder extents for the tail (encoded extents
                    // have a fixed size), find room for chunks and record together, then fill
                    // in where the chunks landed.
                    let placeholder =
                        Extent { location: Location { segment: self.active_id, offset: 0 }, len: 0, stored: 0 };
                    if let Some(extents) = mutation.extents_mut() {
                        extents.extend(tail.iter().map(|_| placeholder));
                    }
                    let record_len = RECORD_HEADER_BYTES + mutation.encode_payload(self.next_seq).len();
                    if record_len - RECORD_HEADER_BYTES > limits::RECORD_PAYLOAD_BYTES_MAX as usize {
                        reply.send(Err(Error::MetadataTooLarge {
                            bytes: record_len,
                            limit: limits::RECORD_PAYLOAD_BYTES_MAX as usize,
                        }));
                        continue;
                    }
                    let tail_len: u64 = tail.iter().map(ChunkBuf::record_len).sum();
                    if let Err(error) = self.make_room(&mut group, tail_len + record_len as u64) {
                        reply.send(Err(error));
                        fail_rest(requests);
                        return;
                    }
                    let placed: Vec<Extent> =
                        tail.into_iter().map(|chunk| self.place_chunk(&mut group, chunk)).collect();
                    if let Some(extents) = mutation.extents_mut() {
                        let start = extents.len() - placed.len();
                        extents[start..].copy_from_slice(&placed);
                    }
                    // Recovery tells a torn write from damage to synced data by the durable stamp.
                    let record = mutation.encode_record(self.next_seq, self.synced_len);
                    debug_assert_eq!(record.len(), record_len);
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.len += record.len() as u64;
                    group.bufs.push(Bytes::from(record));
                    group.has_commit = true;
                    Placed::Commit { seq, mutation, reply }
                }
            };
            group.placed.push(placed);
        }
        // Commits need a sync; so does a run of chunks that would leave more unsynced than
        // recovery's torn-write window.
        let sync = group.has_commit || self.len - self.synced_len > limits::UNSYNCED_BYTES_MAX / 2;
        // On error, flush has already failed the group's requests; nothing else is left.
        let _ = self.flush(group, sync);
    }

    /// Appends a chunk to the group at the current end of the active segment.
    fn place_chunk(&mut self, group: &mut Group, chunk: ChunkBuf) -> Extent {
        let extent = Extent {
            location: Location { segment: self.active_id, offset: self.len },
            len: chunk.len,
            stored: chunk.payload.len() as u32,
        };
        self.len += chunk.record_len();
        group.bufs.push(Bytes::copy_from_slice(&chunk.header));
        group.bufs.push(chunk.payload);
        extent
    }

    /// Seals the active segment and opens the next if `record_len` does not fit.
    fn make_room(&mut self, group: &mut Group, record_len: u64) -> Result<()> {
        if self.len + record_len <= self.limit || self.len == SEGMENT_HEADER_BYTES as u64 {
            return Ok(());
        }
        // Past the prepared space, the writer moves on only once the next segment is ready; until
        // then it appends, up to the configured size. Waiting would stall every writer for as
        // long as the zeros take (seen: p99 of 1 MiB PUTs from 60 to 250 ms).
        let next_ready = self.preparing.as_ref().is_none_or(|preparing| preparing.done.is_ready());
        if !next_ready && self.len + record_len <= self.segment_bytes_max {
            return Ok(());
        }
        self.flush(std::mem::take(group), true)?;
        self.rotate()?;
        group.start = self.len;
        Ok(())
    }

    /// Seals the active segment (synced, and cut to its log's end) and moves to the next: the
    /// prepared one, renamed into place, or a new empty file if preparing it failed.
    fn rotate(&mut self) -> Result<()> {
        let id = SegmentId(self.active_id.0 + 1);
        if id.0 > limits::SEGMENTS_MAX {
            return Err(Error::Io(io::Error::other("segment limit reached")));
        }
        if self.file_len > self.len {
            self.backend.set_len(&self.active, self.len)?;
            self.backend.sync(&self.active)?;
            self.file_len = self.len;
        }
        let path = segment_path(&self.dir, id);
        let prepared = match self.preparing.take() {
            Some(preparing) if preparing.done.is_ready() => match preparing.done.wait() {
                Some(Ok(file)) => Some((file, preparing.bytes)),
                Some(Err(error)) => {
                    log::warn!("preparing segment {} failed, creating {id} empty: {error}", preparing.id);
                    None
                }
                None => None,
            },
            // Not ready (the writer outran the zeros): this segment starts empty rather than
            // stall every writer, and the one being prepared serves a later rotation.
            other => {
                self.preparing = other;
                None
            }
        };
        // The header names this id, synced before the name makes the file a segment (a prepared
        // file has none yet: it may have been prepared for an earlier id).
        let (mut file, limit, file_len) = match prepared {
            Some((file, bytes)) => {
                self.prepared_bytes_next = (bytes * 2).min(self.segment_bytes_max);
                (file, bytes, bytes)
            }
            None => (self.backend.open(&path, true)?, self.segment_bytes_max, SEGMENT_HEADER_BYTES as u64),
        };
        let header = format::encode_segment_header(id.0, crate::now_ms());
        let placed = self
            .backend
            .write_at(&file, 0, &[&header], true)
            .and_then(|()| if file.path == path { Ok(()) } else { self.backend.rename(&mut file, &path) })
            .and_then(|()| self.backend.sync_dir(&self.dir));
        if let Err(error) = placed {
            let _ = std::fs::remove_file(&file.path);
            return Err(error.into());
        }
        let file = Arc::new(file);
        self.segments.insert(id, file.clone());
        self.direct = Direct::open(&*self.backend, &file, SEGMENT_HEADER_BYTES as u64);
        self.active_id = id;
        self.active = file;
        self.len = SEGMENT_HEADER_BYTES as u64;
        self.synced_len = self.len;
        self.limit = limit;
        self.file_len = file_len;
        self.start_preparing();
        Ok(())
    }

    /// Writes a group (and syncs it if `sync`), then applies and answers its requests. On error
    /// the active segment is cut back to its synced length and every request in the group fails.
    fn flush(&mut self, group: Group, sync: bool) -> Result<()> {
        if group.bufs.is_empty() && !(sync && self.synced_len < self.len) {
            return Ok(());
        }
        let slices: Vec<&[u8]> = group.bufs.iter().map(|buf| &buf[..]).collect();
        let started = std::time::Instant::now();
        let written = if slices.is_empty() {
            self.backend.sync(&self.active)
        } else {
            self.write_group(group.start, &slices, sync)
        };
        if let Err(error) = written {
            self.roll_back();
            for placed in group.placed {
                match placed {
                    Placed::Chunk { reply, .. } => reply.send(Err(Error::Io(clone_io(&error)))),
                    Placed::Commit { reply, .. } => reply.send(Err(Error::Io(clone_io(&error)))),
                }
            }
            return Err(Error::Io(error));
        }
        if sync {
            self.synced_len = self.len;
            self.stats.syncs.fetch_add(1, Ordering::Relaxed);
            self.stats.sync_micros.record(started.elapsed().as_micros() as u64);
        }
        self.stats.groups.fetch_add(1, Ordering::Relaxed);
        self.stats.group_records.record(group.placed.len() as u64);
        self.stats.bytes.fetch_add(slices.iter().map(|s| s.len() as u64).sum(), Ordering::Relaxed);
        for placed in group.placed {
            match placed {
                Placed::Chunk { extent, reply } => {
                    self.stats.chunks.fetch_add(1, Ordering::Relaxed);
                    reply.send(Ok(ChunkWritten { extent, epoch: self.epoch }));
                }
                Placed::Commit { seq, mutation, reply } => {
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    let applied = self.index.apply(seq, &mutation).map(|applied| Committed { applied, seq });
                    reply.send(applied);
                }
            }
        }
        Ok(())
    }

    /// Writes a group's bytes at `start` (the log's end): direct if the segment takes direct
    /// writes, else through the page cache.
    fn write_group(&mut self, start: u64, slices: &[&[u8]], sync: bool) -> io::Result<()> {
        if let Some(direct) = &mut self.direct {
            if let Some((offset, range)) = direct.stage(start, slices) {
                let end = offset + range.len() as u64;
                self.backend.write_at(&direct.file, offset, &[&direct.stage[range]], sync)?;
                // The zeros after the log's end may lengthen an unprepared segment; rotation and
                // close cut it back to the log.
                self.file_len = self.file_len.max(end);
                return Ok(());
            }
            // Too large a group to stage: it goes through the page cache, and so does the rest of
            // this segment (the kept tail would be stale).
            self.direct = None;
        }
        self.backend.write_at(&self.active, start, slices, sync)
    }

    /// Discards everything after the last sync. Chunks written since then may be gone, so the
    /// epoch moves on. If the cut itself fails, it is retried before the next write.
    fn roll_back(&mut self) {
        self.epoch += 1;
        // Its kept tail may not be what the cut leaves; this segment goes on through the cache.
        self.direct = None;
        self.cut_pending = true;
        if let Err(error) = self.cut_back() {
            log::error!("could not cut segment {} back after a failed write: {error}", self.active_id);
        }
    }

    fn cut_back(&mut self) -> io::Result<()> {
        self.backend.set_len(&self.active, self.synced_len)?;
        self.len = self.synced_len;
        self.file_len = self.synced_len;
        self.cut_pending = false;
        Ok(())
    }
}

/// Zeros for preparing segments, aligned for direct writes (in the zero-initialized data
/// section: no pages of their own until written, and they never are).
#[repr(C, align(4096))]
struct Zeros([u8; limits::PREPARE_WRITE_BYTES]);
static ZEROS: Zeros = Zeros([0; limits::PREPARE_WRITE_BYTES]);
const _: () = assert!(std::mem::align_of::<Zeros>() == DIRECT_ALIGN);

/// Writes `bytes` of zeros at `path`, synced: a segment but for its header, which the writer
/// writes when it moves in. A failure leaves no file behind.
fn prepare_segment(backend: &dyn IoBackend, path: &std::path::Path, bytes: u64) -> io::Result<IoFile> {
    let _ = std::fs::remove_file(path);
    let file = backend.open(path, true)?;
    let written = (|| {
        // Direct, the zeros take no page-cache pages (the log's direct writes would only drop
        // them); through the cache, each piece is written back as it goes (`write_back`).
        let direct = backend.open_direct(path)?;
        let mut offset = 0;
        while offset < bytes {
            let n = (bytes - offset).min(ZEROS.0.len() as u64) as usize;
            match &direct {
                Some(direct) if n.is_multiple_of(DIRECT_ALIGN) => {
                    backend.write_at(direct, offset, &[&ZEROS.0[..n]], false)?;
                }
                _ => {
                    backend.write_at(&file, offset, &[&ZEROS.0[..n]], false)?;
                    write_back(&file, offset, n)?;
                }
            }
            offset += n as u64;
        }
        backend.sync(&file)
    })();
    match written {
        Ok(()) => Ok(file),
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(path);
            Err(error)
        }
    }
}

/// Writes a just-written range of a segment being prepared back to the disk and waits for it, so
/// the zeros reach the device a piece at a time: the log's own syncs then queue behind one piece
/// at most, not behind a segment's worth of dirty pages (which raised PUT 1 MiB p99 from ~60 to
/// ~300 ms). The pages stay cached, so appends over them read nothing. Not a durability step: the
/// final sync is.
fn write_back(file: &IoFile, offset: u64, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    let offset = libc::off64_t::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
    // SAFETY: a plain syscall on a file descriptor this function borrows; no memory is passed.
    let result = unsafe { libc::sync_file_range(file.file.as_raw_fd(), offset, len as libc::off64_t, flags) };
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Fails what is left of a batch after a write error (the group was already failed).
fn fail_rest(rest: impl Iterator<Item = Request>) {
    for request in rest {
        request.fail(Error::WriteInterrupted);
    }
}

fn clone_io(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct_with_tail(tail: &[u8]) -> (tempfile::NamedTempFile, Direct) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let io = IoFile { file: file.reopen().unwrap(), path: file.path().to_owned() };
        (file, Direct { file: io, tail: tail.to_vec(), stage: Vec::new() })
    }

    /// A group is staged as the kept bytes of its first block, its own bytes, and zeros to the
    /// end of its last block, from an aligned address; the new tail is its last block's bytes.
    #[test]
    fn a_group_is_staged_as_whole_aligned_blocks() {
        let (_file, mut direct) = direct_with_tail(b"head");
        let start = 3 * DIRECT_ALIGN as u64 + 4;
        let body: Vec<u8> = (0..DIRECT_ALIGN + 100).map(|i| (i % 251) as u8 + 1).collect();
        let (offset, range) = direct.stage(start, &[&body[..10], &body[10..]]).unwrap();
        assert_eq!(offset, 3 * DIRECT_ALIGN as u64);
        assert_eq!(range.len(), 2 * DIRECT_ALIGN);
        let staged = &direct.stage[range.clone()];
        assert_eq!(staged.as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(&staged[..4], b"head");
        assert_eq!(&staged[4..4 + body.len()], &body[..]);
        assert!(staged[4 + body.len()..].iter().all(|&b| b == 0));
        assert_eq!(direct.tail, &body[DIRECT_ALIGN - 4..]);
        // The next group continues in that block.
        let (offset, range) = direct.stage(start + body.len() as u64, &[b"next"]).unwrap();
        assert_eq!((offset, range.len()), (4 * DIRECT_ALIGN as u64, DIRECT_ALIGN));
        assert_eq!(direct.tail.len(), 104 + 4);
    }

    /// A group ending on a block boundary leaves no tail; one past the staging limit is refused.
    #[test]
    fn staging_ends_on_blocks_and_has_a_limit() {
        let (_file, mut direct) = direct_with_tail(&[]);
        let block = vec![7u8; DIRECT_ALIGN];
        let (_, range) = direct.stage(0, &[&block]).unwrap();
        assert_eq!(range.len(), DIRECT_ALIGN);
        assert!(direct.tail.is_empty());
        let largest = vec![1u8; limits::DIRECT_STAGE_BYTES_MAX];
        assert!(direct.stage(DIRECT_ALIGN as u64, &[&largest]).is_some());
        assert!(direct.stage(0, &[&largest, b"x"]).is_none());
    }
}
