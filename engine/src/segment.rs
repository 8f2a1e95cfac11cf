//! Segment files: naming, the set of open segments, and verified reads of single records.
//! docs/format.md, "Segment files".

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

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

/// Every open segment, for reads. The log writer adds a segment when it rotates.
#[derive(Debug)]
pub(crate) struct Segments {
    backend: Arc<dyn IoBackend>,
    files: RwLock<HashMap<SegmentId, Arc<IoFile>>>,
}

impl Segments {
    pub fn new(backend: Arc<dyn IoBackend>) -> Segments {
        Segments { backend, files: RwLock::default() }
    }

    pub fn insert(&self, id: SegmentId, file: Arc<IoFile>) {
        self.files.write().insert(id, file);
    }

    pub fn count(&self) -> usize {
        self.files.read().len()
    }

    fn file(&self, id: SegmentId) -> Result<Arc<IoFile>> {
        self.files.read().get(&id).cloned().ok_or_else(|| Error::corruption(id, 0, "reference to a missing segment"))
    }

    /// Reads the chunk at `extent` with one read and verifies its header and checksum. Returns
    /// its header flags and the whole record (its payload starts at `RECORD_HEADER_BYTES`).
    /// Damaged bytes are an error, never returned.
    pub fn read_chunk(&self, extent: &Extent) -> Result<(u16, Vec<u8>)> {
        let segment = extent.location.segment;
        let offset = extent.location.offset;
        let file = self.file(segment)?;
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
