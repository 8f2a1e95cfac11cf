//! The log writer: one thread that owns the active segment, gathers concurrent requests into a
//! group, writes the group with one submission, makes it durable with one fdatasync, applies
//! the group's metadata records to the index in log order, and only then replies.
//!
//! Chunks (object body bytes) are written without waiting for a sync; the commit record that
//! references them is synced after them, which makes them durable too (same file, or a sealed
//! segment that was synced when it was sealed). If a write or sync fails, the writer cuts the
//! active segment back to its last synced length and bumps `epoch`: a commit whose chunks were
//! written in an earlier epoch is refused, since those chunks may be gone.
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
use crate::io::{IoBackend, IoFile};
use crate::limits;
use crate::queue::{Queue, Reply};
use crate::segment::{Segments, segment_path};
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
}

/// A chunk record ready to write: its header (checksum computed by the sender) and payload.
#[derive(Debug)]
pub(crate) struct ChunkBuf {
    pub header: [u8; RECORD_HEADER_BYTES],
    pub payload: Bytes,
}

impl ChunkBuf {
    pub fn new(payload: Bytes) -> ChunkBuf {
        ChunkBuf { header: format::encode_record_header(format::RecordKind::Chunk, &payload), payload }
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
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Request::Chunk { chunk, .. } => chunk.record_len() as usize,
            Request::Commit { tail, .. } => {
                RECORD_HEADER_BYTES + 256 + tail.iter().map(|c| c.record_len() as usize).sum::<usize>()
            }
        }
    }

    fn fail(self, error: Error) {
        match self {
            Request::Chunk { reply, .. } => reply.send(Err(error)),
            Request::Commit { reply, .. } => reply.send(Err(error)),
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
}

/// A copy of `WriterStats` at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub groups: u64,
    pub syncs: u64,
    pub commits: u64,
    pub chunks: u64,
    pub bytes: u64,
}

impl WriterStats {
    pub fn snapshot(&self) -> LogStats {
        LogStats {
            groups: self.groups.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            chunks: self.chunks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
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
        let writer = Writer {
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
        };
        let thread = std::thread::Builder::new().name("cairn-log-writer".into()).spawn(move || writer.run(receiver))?;
        Ok(WriterHandle { queue, stats, thread: Some(thread) })
    }

    pub fn send(&self, request: Request) -> Result<()> {
        self.queue.push(request).map_err(|_| Error::Closed)
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

struct Writer {
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
                None => return,
            }
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
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
                    let placeholder = Extent { location: Location { segment: self.active_id, offset: 0 }, len: 0 };
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
            len: chunk.payload.len() as u32,
        };
        self.len += chunk.record_len();
        group.bufs.push(Bytes::copy_from_slice(&chunk.header));
        group.bufs.push(chunk.payload);
        extent
    }

    /// Seals the active segment and opens the next if `record_len` does not fit.
    fn make_room(&mut self, group: &mut Group, record_len: u64) -> Result<()> {
        if self.len + record_len <= self.segment_bytes_max || self.len == SEGMENT_HEADER_BYTES as u64 {
            return Ok(());
        }
        self.flush(std::mem::take(group), true)?;
        self.rotate()?;
        group.start = self.len;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let id = SegmentId(self.active_id.0 + 1);
        if id.0 > limits::SEGMENTS_MAX {
            return Err(Error::Io(io::Error::other("segment limit reached")));
        }
        let path = segment_path(&self.dir, id);
        let file = self.backend.open(&path, true)?;
        let header = format::encode_segment_header(id.0, crate::now_ms());
        let created = self.backend.write_at(&file, 0, &[&header], true).and_then(|()| self.backend.sync_dir(&self.dir));
        if let Err(error) = created {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(error.into());
        }
        let file = Arc::new(file);
        self.segments.insert(id, file.clone());
        self.active_id = id;
        self.active = file;
        self.len = SEGMENT_HEADER_BYTES as u64;
        self.synced_len = self.len;
        Ok(())
    }

    /// Writes a group (and syncs it if `sync`), then applies and answers its requests. On error
    /// the active segment is cut back to its synced length and every request in the group fails.
    fn flush(&mut self, group: Group, sync: bool) -> Result<()> {
        if group.bufs.is_empty() && !(sync && self.synced_len < self.len) {
            return Ok(());
        }
        let slices: Vec<&[u8]> = group.bufs.iter().map(|buf| &buf[..]).collect();
        let written = if slices.is_empty() {
            self.backend.sync(&self.active)
        } else {
            self.backend.write_at(&self.active, group.start, &slices, sync)
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
        }
        self.stats.groups.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(slices.iter().map(|s| s.len() as u64).sum(), Ordering::Relaxed);
        for placed in group.placed {
            match placed {
                Placed::Chunk { extent, reply } => {
                    self.stats.chunks.fetch_add(1, Ordering::Relaxed);
                    reply.send(Ok(ChunkWritten { extent, epoch: self.epoch }));
                }
                Placed::Commit { seq, mutation, reply } => {
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    let applied = self.index.apply(seq, &mutation).map(|applied| Committed { applied });
                    reply.send(applied);
                }
            }
        }
        Ok(())
    }

    /// Discards everything after the last sync. Chunks written since then may be gone, so the
    /// epoch moves on. If the cut itself fails, it is retried before the next write.
    fn roll_back(&mut self) {
        self.epoch += 1;
        self.cut_pending = true;
        if let Err(error) = self.cut_back() {
            log::error!("could not cut segment {} back after a failed write: {error}", self.active_id);
        }
    }

    fn cut_back(&mut self) -> io::Result<()> {
        self.backend.set_len(&self.active, self.synced_len)?;
        self.len = self.synced_len;
        self.cut_pending = false;
        Ok(())
    }
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
