//! Object bodies in and out: `BodySink` cuts an incoming stream into chunk records, hashing as it
//! goes and keeping a bounded number of chunk writes in flight; `ObjectReader` streams a byte
//! range back chunk by chunk, each verified against its checksum before it is returned.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::engine::{Inner, wait};
use crate::error::{Error, Result};
use crate::format::RECORD_HEADER_BYTES;
use crate::limits;
use crate::queue::{Pending, oneshot};
use crate::seal::{self, ChunkKeys, ChunkPosition, Opened, Sealer};
use crate::segment::{Pin, Segments};
use crate::types::{Extent, Layout, ObjectInfo, Version};
use crate::writer::{ChunkBuf, ChunkWritten, Request};

/// The smallest first buffer a body gets; it grows to a full chunk only for bodies that need it.
const FIRST_BUFFER_BYTES_MIN: usize = 4 * 1024;

/// A finished body: where its chunks are and what it hashed to.
#[derive(Debug)]
pub(crate) struct Body {
    pub extents: Vec<Extent>,
    pub size: u64,
    pub md5: [u8; 16],
    /// The log writer epoch the chunks were written in (`None` if none were sent yet).
    pub epoch: Option<u64>,
    /// The last chunk, not yet written: it goes with the commit record.
    pub tail: Option<ChunkBuf>,
}

pub(crate) struct BodySink {
    inner: Arc<Inner>,
    size_max: u64,
    buffer: Vec<u8>,
    md5: Md5,
    size: u64,
    extents: Vec<Extent>,
    in_flight: VecDeque<Pending<Result<ChunkWritten>>>,
    epoch: Option<u64>,
    /// How chunks are compressed and encrypted, and the part they belong to (0: a single PUT).
    sealer: Sealer,
    part: u32,
    /// Chunks sent so far: the next one's index.
    sent: u32,
}

impl std::fmt::Debug for BodySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySink").field("size", &self.size).field("chunks", &self.extents.len()).finish()
    }
}

impl BodySink {
    /// A sink for the body of part `part` (0: a single PUT), its chunks sealed by `sealer`.
    pub fn new(inner: Arc<Inner>, size_max: u64, part: u32, sealer: Sealer) -> BodySink {
        BodySink {
            inner,
            size_max,
            buffer: Vec::new(),
            md5: Md5::new(),
            size: 0,
            extents: Vec::new(),
            in_flight: VecDeque::new(),
            epoch: None,
            sealer,
            part,
            sent: 0,
        }
    }

    /// The chunk record for the buffered bytes (`last`: the body's final chunk).
    fn take_chunk(&mut self, last: bool) -> ChunkBuf {
        let plain = std::mem::take(&mut self.buffer);
        let len = plain.len() as u32;
        let position = ChunkPosition { part: self.part, index: self.sent, last };
        self.sent += 1;
        if self.sealer.is_plain() {
            return ChunkBuf::new(0, Bytes::from(plain), len);
        }
        let (flags, payload) = self.sealer.seal(plain, position);
        ChunkBuf::new(flags, Bytes::from(payload), len)
    }

    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Encrypts the chunks to come with `keys`.
    pub fn set_keys(&mut self, keys: Arc<ChunkKeys>) {
        self.sealer.keys = Some(keys);
    }

    pub fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let size = self.size + data.len() as u64;
        if size > self.size_max {
            return Err(Error::EntityTooLarge { size, limit: self.size_max });
        }
        self.md5.update(data);
        self.size = size;
        let chunk_bytes = limits::CHUNK_BYTES_MAX as usize;
        while !data.is_empty() {
            // A full buffer is sent only once more data follows it: the last chunk of a body
            // travels with its commit record.
            if self.buffer.len() == chunk_bytes {
                self.send_chunk()?;
            }
            if self.buffer.capacity() == 0 {
                // Sized to the first write (often the whole of a small body); later writes
                // grow it as a Vec grows, up to one chunk.
                self.buffer.reserve_exact(data.len().clamp(FIRST_BUFFER_BYTES_MIN, chunk_bytes));
            }
            let take = (chunk_bytes - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    fn send_chunk(&mut self) -> Result<()> {
        while self.in_flight.len() >= limits::PUT_CHUNKS_IN_FLIGHT_MAX {
            self.wait_one()?;
        }
        let chunk = self.take_chunk(false);
        let (reply, receiver) = oneshot();
        self.inner.writer.send(Request::Chunk { chunk, reply })?;
        self.in_flight.push_back(receiver);
        Ok(())
    }

    fn wait_one(&mut self) -> Result<()> {
        let receiver = self.in_flight.pop_front().expect("called with chunks in flight");
        self.chunk_written(wait(receiver)?)
    }

    fn chunk_written(&mut self, written: ChunkWritten) -> Result<()> {
        if self.epoch.is_some_and(|epoch| epoch != written.epoch) {
            return Err(Error::WriteInterrupted);
        }
        self.epoch = Some(written.epoch);
        self.extents.push(written.extent);
        Ok(())
    }

    /// Whether writing `len` more bytes may wait: it sends a chunk, which waits while
    /// `PUT_CHUNKS_IN_FLIGHT_MAX` chunks are being written or the log writer's queue is full.
    /// Other writes only hash and buffer.
    pub fn write_may_wait(&self, len: usize) -> bool {
        self.buffer.len() + len > limits::CHUNK_BYTES_MAX as usize
    }

    pub fn finish(mut self) -> Result<Body> {
        while !self.in_flight.is_empty() {
            self.wait_one()?;
        }
        Ok(self.into_body())
    }

    /// `finish` for async callers: awaits the chunks in flight instead of blocking a thread.
    pub async fn finish_async(mut self) -> Result<Body> {
        while let Some(receiver) = self.in_flight.pop_front() {
            let written = receiver.await.ok_or(Error::Closed)??;
            self.chunk_written(written)?;
        }
        Ok(self.into_body())
    }

    fn into_body(mut self) -> Body {
        let tail = (!self.buffer.is_empty()).then(|| self.take_chunk(true));
        let tail_len = tail.as_ref().map_or(0, |chunk| u64::from(chunk.len));
        debug_assert_eq!(self.extents.iter().map(|e| u64::from(e.len)).sum::<u64>() + tail_len, self.size);
        Body { extents: self.extents, size: self.size, md5: self.md5.finalize().into(), epoch: self.epoch, tail }
    }
}

/// A GET in progress: yields the requested range as verified chunks, in order.
#[derive(Debug)]
pub struct ObjectReader {
    segments: Arc<Segments>,
    /// Keeps the segments read open should compaction remove them meanwhile.
    pin: Pin,
    /// The data keys of an encrypted object.
    keys: Option<Arc<ChunkKeys>>,
    version: Version,
    info: Arc<ObjectInfo>,
    start: u64,
    end: u64,
    /// Next byte to return.
    position: u64,
    /// Cursor: part index, extent index within it, and the object offset of that extent.
    part: usize,
    extent: usize,
    extent_start: u64,
}

impl ObjectReader {
    pub(crate) fn new(
        segments: Arc<Segments>,
        version: Version,
        info: Arc<ObjectInfo>,
        keys: Option<Arc<ChunkKeys>>,
        start: u64,
        end: u64,
    ) -> ObjectReader {
        let mut reader = ObjectReader {
            pin: segments.pin(),
            segments,
            keys,
            version,
            info,
            start,
            end,
            position: start,
            part: 0,
            extent: 0,
            extent_start: 0,
        };
        reader.seek(start);
        reader
    }

    /// The version being read.
    pub fn version(&self) -> &Version {
        &self.version
    }

    pub fn info(&self) -> &Arc<ObjectInfo> {
        &self.info
    }

    /// The byte range returned, `[start, end)`.
    pub fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Bytes this reader returns in all.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn part_count(&self) -> usize {
        match &self.info.layout {
            Layout::Extents(_) => 1,
            Layout::Parts(parts) => parts.len(),
        }
    }

    /// Size and extents of part `index` (a single PUT is one part).
    fn part(&self, index: usize) -> (u64, &[Extent]) {
        match &self.info.layout {
            Layout::Extents(extents) => (self.info.size, extents),
            Layout::Parts(parts) => (parts[index].size, &parts[index].extents),
        }
    }

    /// Positions the cursor on the extent holding byte `target`, skipping whole parts first.
    fn seek(&mut self, target: u64) {
        let count = self.part_count();
        let (mut index, mut offset) = (0, 0u64);
        while index < count {
            let (size, _) = self.part(index);
            if target < offset + size {
                break;
            }
            offset += size;
            index += 1;
        }
        let mut extent = 0;
        if index < count {
            let (_, extents) = self.part(index);
            while extent < extents.len() && target >= offset + u64::from(extents[extent].len) {
                offset += u64::from(extents[extent].len);
                extent += 1;
            }
        }
        self.part = index;
        self.extent = extent;
        self.extent_start = offset;
    }

    /// The extent at the cursor and where it sits in the object.
    fn current_extent(&self) -> Option<(Extent, ChunkPosition)> {
        let mut index = self.part;
        let mut extent = self.extent;
        while index < self.part_count() {
            let (_, extents) = self.part(index);
            if extent < extents.len() {
                let part = match &self.info.layout {
                    Layout::Extents(_) => 0,
                    Layout::Parts(parts) => parts[index].number,
                };
                let position = ChunkPosition { part, index: extent as u32, last: extent + 1 == extents.len() };
                return Some((extents[extent], position));
            }
            index += 1;
            extent = 0;
        }
        None
    }

    /// Reads, verifies and opens one chunk: its body bytes.
    fn read(&self, extent: &Extent, position: ChunkPosition) -> Result<Bytes> {
        let (flags, mut record) = self.segments.read_chunk(extent, Some(&self.pin))?;
        if flags == 0 && self.keys.is_none() && extent.len == extent.stored {
            return Ok(Bytes::from(record).slice(RECORD_HEADER_BYTES..));
        }
        let opened = seal::open(flags, &mut record[RECORD_HEADER_BYTES..], extent.len, self.keys.as_deref(), position)
            .map_err(|e| Error::corruption(extent.location.segment, extent.location.offset, e.0))?;
        Ok(match opened {
            Opened::Prefix(len) => Bytes::from(record).slice(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len),
            Opened::Buffer(body) => Bytes::from(body),
        })
    }

    fn advance(&mut self, len: u32) {
        self.extent_start += u64::from(len);
        self.extent += 1;
        let (mut index, mut extent) = (self.part, self.extent);
        while index < self.part_count() && extent >= self.part(index).1.len() {
            index += 1;
            extent = 0;
        }
        self.part = index;
        self.extent = extent;
    }
}

impl Iterator for ObjectReader {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        if self.position >= self.end {
            return None;
        }
        let Some((extent, position)) = self.current_extent() else {
            self.position = self.end;
            return Some(Err(Error::corruption(
                crate::types::SegmentId(0),
                0,
                "object layout is shorter than its size",
            )));
        };
        let chunk = match self.read(&extent, position) {
            Ok(chunk) => chunk,
            Err(error) => {
                self.position = self.end;
                return Some(Err(error));
            }
        };
        let from = (self.position - self.extent_start) as usize;
        let to = (self.end - self.extent_start).min(u64::from(extent.len)) as usize;
        self.position = self.extent_start + to as u64;
        self.advance(extent.len);
        Some(Ok(chunk.slice(from..to)))
    }
}
