//! Segment files: naming, the set of open segments, and verified reads of single records.
//! docs/format.md, "Segment files".

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::format::{self, RECORD_HEADER_BYTES, RecordKind};
use crate::io::{IoBackend, IoFile};
use crate::types::{Extent, SegmentId};

const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".cairn";

pub(crate) fn segment_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{id}{SEGMENT_SUFFIX}"))
}

/// Where the log writer prepares segment `id` (zeros; the header comes when it moves in).
/// Not a segment name: recovery never reads one, and deletes any it finds.
pub(crate) fn prepared_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{id}{SEGMENT_SUFFIX}{PREPARED_SUFFIX}"))
}

const PREPARED_SUFFIX: &str = ".prep";

/// Deletes segments that were being prepared when the store last closed or crashed.
pub(crate) fn remove_prepared(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.starts_with(SEGMENT_PREFIX) && n.ends_with(PREPARED_SUFFIX)) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Segment ids present in `dir`, ascending. Files that are not segments are ignored.
pub(crate) fn list_segment_ids(dir: &Path) -> io::Result<Vec<SegmentId>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_prefix(SEGMENT_PREFIX).and_then(|rest| rest.strip_suffix(SEGMENT_SUFFIX)) else {
            continue;
        };
        if hex.len() == 16
            && let Ok(id) = u64::from_str_radix(hex, 16)
            && id != 0
        {
            ids.push(SegmentId(id));
        }
    }
    ids.sort();
    Ok(ids)
}

/// Every open segment, for reads. The log writer adds a segment when it rotates; compaction
/// removes the ones it retired.
///
/// A removed segment's file stays open while a read may still need it: for
/// `SEGMENT_REMOVED_GRACE` (a GET looks its version up, then starts reading), and for as long as
/// any reader that started before the removal lives (each holds a `Pin` on the generation it
/// started in; a generation holds the files removed while it was current, and the next one).
#[derive(Debug)]
pub(crate) struct Segments {
    backend: Arc<dyn IoBackend>,
    files: RwLock<HashMap<SegmentId, Arc<IoFile>>>,
    generation: Mutex<Arc<Generation>>,
    recent: Mutex<VecDeque<(Instant, SegmentId, Arc<IoFile>)>>,
}

/// Removed files, for the readers that started before their removal.
#[derive(Debug, Default)]
pub(crate) struct Generation {
    removed: Mutex<Vec<(SegmentId, Arc<IoFile>)>>,
    next: OnceLock<Arc<Generation>>,
}

/// What a reader holds so that the segments it reads stay open.
#[derive(Clone, Debug)]
pub(crate) struct Pin(Arc<Generation>);

impl Pin {
    fn find(&self, id: SegmentId) -> Option<Arc<IoFile>> {
        let mut generation = &self.0;
        loop {
            if let Some((_, file)) = generation.removed.lock().iter().find(|(removed, _)| *removed == id) {
                return Some(file.clone());
            }
            generation = generation.next.get()?;
        }
    }
}

/// How long a removed segment stays open for reads that looked their version up before it went.
pub(crate) const SEGMENT_REMOVED_GRACE: Duration = Duration::from_secs(60);

impl Segments {
    pub fn new(backend: Arc<dyn IoBackend>) -> Segments {
        Segments { backend, files: RwLock::default(), generation: Mutex::default(), recent: Mutex::default() }
    }

    pub fn insert(&self, id: SegmentId, file: Arc<IoFile>) {
        self.files.write().insert(id, file);
    }

    pub fn count(&self) -> usize {
        self.files.read().len()
    }

    /// The ids of the open segments, ascending.
    pub fn ids(&self) -> Vec<SegmentId> {
        let mut ids: Vec<SegmentId> = self.files.read().keys().copied().collect();
        ids.sort();
        ids
    }

    pub fn pin(&self) -> Pin {
        Pin(self.generation.lock().clone())
    }

    /// Removes segments from the set (their files were deleted); reads already under way go on.
    pub fn remove(&self, ids: &[SegmentId]) {
        let mut files = self.files.write();
        let removed: Vec<(SegmentId, Arc<IoFile>)> =
            ids.iter().filter_map(|id| files.remove(id).map(|file| (*id, file))).collect();
        drop(files);
        if removed.is_empty() {
            return;
        }
        let now = Instant::now();
        self.recent.lock().extend(removed.iter().map(|(id, file)| (now, *id, file.clone())));
        let mut current = self.generation.lock();
        current.removed.lock().extend(removed);
        let next = Arc::new(Generation::default());
        let _ = current.next.set(next.clone());
        *current = next;
    }

    /// Closes removed files past their grace that no reader pins.
    pub fn expire_removed(&self) {
        let mut recent = self.recent.lock();
        while recent.front().is_some_and(|(at, _, _)| at.elapsed() > SEGMENT_REMOVED_GRACE) {
            recent.pop_front();
        }
    }

    fn file(&self, id: SegmentId, pin: Option<&Pin>) -> Result<Arc<IoFile>> {
        if let Some(file) = self.files.read().get(&id) {
            return Ok(file.clone());
        }
        if let Some((_, _, file)) = self.recent.lock().iter().find(|(_, removed, _)| *removed == id) {
            return Ok(file.clone());
        }
        pin.and_then(|pin| pin.find(id)).ok_or_else(|| Error::corruption(id, 0, "reference to a missing segment"))
    }

    /// Reads the chunk at `extent` with one read and verifies its header and checksum. Returns
    /// its header flags and the whole record (its payload starts at `RECORD_HEADER_BYTES`).
    /// Damaged bytes are an error, never returned.
    pub fn read_chunk(&self, extent: &Extent, pin: Option<&Pin>) -> Result<(u16, Vec<u8>)> {
        let segment = extent.location.segment;
        let offset = extent.location.offset;
        let file = self.file(segment, pin)?;
        let mut buf = vec![0u8; RECORD_HEADER_BYTES + extent.stored as usize];
        self.backend.read_at(&file, offset, &mut buf).map_err(|error| match error.kind() {
            io::ErrorKind::UnexpectedEof => {
                Error::corruption(segment, offset, "chunk runs past the end of its segment")
            }
            _ => Error::Io(error),
        })?;
        let header: &[u8; RECORD_HEADER_BYTES] = buf[..RECORD_HEADER_BYTES].try_into().expect("sized above");
        let decoded = format::decode_record_header(header).map_err(|e| Error::corruption(segment, offset, e.0))?;
        if decoded.kind != RecordKind::Chunk || decoded.payload_len != extent.stored {
            return Err(Error::corruption(segment, offset, "record is not the chunk its reference names"));
        }
        let actual = format::compute_checksum(header, &buf[RECORD_HEADER_BYTES..]);
        if actual != decoded.checksum {
            return Err(Error::ChecksumMismatch { segment, offset, expected: decoded.checksum, actual });
        }
        Ok((decoded.flags, buf))
    }
}
