//! Opening a store: scan every segment (in parallel, a window at a time), replay metadata
//! records through `Index::apply` in log order, and cut a torn tail off the last segment.
//!
//! A record that fails its checks within `UNSYNCED_BYTES_MAX` of the end of the newest segment
//! is a write torn by a crash: the writer never leaves more unsynced than that, and nothing after
//! an unsynced byte was acknowledged, so the log is cut there, unless a later record's durable
//! stamp (record version 4) shows the bytes were synced: then it is damage, not a tear. Damage further back was synced
//! once: a damaged chunk (intact header, bad checksum, valid record after it) is reported and
//! left for reads to refuse; anything else stops the open with `Corruption`.
//!
//! The newest segment may end in zeros: space the writer prepared and had not used yet. The log
//! ends where they begin, and the torn-write window is measured back from the last byte that is
//! not zero, not from the end of the file.
//! docs/design.md, "Recovery".

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::checkpoint::{self, Checkpoint, CheckpointPosition};
use crate::error::{Error, Result};
use crate::format::records::Mutation;
use crate::format::{self, RECORD_HEADER_BYTES, RecordKind, SEGMENT_HEADER_BYTES};
use crate::index::Index;
use crate::io::{self, IoBackend, IoFile};
use crate::limits;
use crate::segment::{list_segment_ids, segment_path};
use crate::types::{Location, SegmentId, Seq};

/// What opening the store found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub bytes: u64,
    pub chunk_records: u64,
    pub metadata_records: u64,
    /// Metadata records whose effect was refused when first applied (and so again on replay).
    pub rejected_records: u64,
    /// A torn tail cut off the last segment: (segment, valid length, length found).
    pub truncated_tail: Option<(SegmentId, u64, u64)>,
    /// Chunks whose checksum fails; reads of objects using them fail.
    pub damaged_chunks: Vec<Location>,
    pub duration_ms: u64,
    /// The checkpoint the index was loaded from (the log before its position was not read).
    pub checkpoint: Option<CheckpointInfo>,
    /// Checkpoints that failed their checks and were passed over: (file, why).
    pub rejected_checkpoints: Vec<(String, String)>,
}

/// A checkpoint, as reports and `cairn verify` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub file: String,
    pub position: CheckpointPosition,
    pub bytes: u64,
    pub keys: u64,
    pub duration_ms: u64,
}

/// The state a store opens into.
pub(crate) struct Recovered {
    pub index: Index,
    pub checkpoint: Option<Checkpoint>,
    /// The log's segments, in order (the last is the active one).
    pub files: Vec<(SegmentId, Arc<IoFile>)>,
    pub active_len: u64,
    pub next_seq: Seq,
    pub report: RecoveryReport,
}

struct SegmentScan {
    records: Vec<(Location, Seq, Mutation)>,
    chunk_records: u64,
    damaged_chunks: Vec<Location>,
    valid_len: u64,
    file_len: u64,
    /// The log ends in prepared space: only zeros follow `valid_len`.
    zero_tail: bool,
}

/// What is at a position of a segment (recovery and the scrub read records this one way).
pub(crate) enum Parse<'a> {
    Valid {
        kind: RecordKind,
        version: u8,
        payload: &'a [u8],
        next: usize,
        /// The record-version-4 durable stamp (0 before).
        durable_before: u32,
    },
    /// The header is well formed and in bounds but the checksum fails.
    BadChecksum {
        kind: RecordKind,
        next: usize,
    },
    Invalid,
}

pub(crate) fn parse_at(bytes: &[u8], pos: usize, verify_chunks: bool) -> Parse<'_> {
    let Some(header) = bytes.get(pos..pos + RECORD_HEADER_BYTES) else { return Parse::Invalid };
    let header: &[u8; RECORD_HEADER_BYTES] = header.try_into().expect("sliced to size");
    let Ok(decoded) = format::decode_record_header(header) else { return Parse::Invalid };
    let start = pos + RECORD_HEADER_BYTES;
    let next = start + decoded.payload_len as usize;
    let Some(payload) = bytes.get(start..next) else { return Parse::Invalid };
    let skip = decoded.kind == RecordKind::Chunk && !verify_chunks;
    if !skip && format::compute_checksum(header, payload) != decoded.checksum {
        return Parse::BadChecksum { kind: decoded.kind, next };
    }
    Parse::Valid { kind: decoded.kind, version: decoded.version, payload, next, durable_before: decoded.durable_before }
}

/// The positions of fully valid records (chunks verified) after `from`, with their durable
/// stamps: where a scan may resume past damage.
pub(crate) fn valid_records_after(bytes: &[u8], from: usize) -> impl Iterator<Item = (usize, u32)> + '_ {
    let magic = format::RECORD_MAGIC.to_le_bytes();
    // A record starts with its (non-zero) magic, so none starts in a run of zeros at the end.
    (from..bytes.len().saturating_sub(RECORD_HEADER_BYTES - 1).min(nonzero_end(bytes)))
        .filter(move |&pos| bytes[pos..pos + 4] == magic)
        .filter_map(move |pos| match parse_at(bytes, pos, true) {
            Parse::Valid { durable_before, .. } => Some((pos, durable_before)),
            _ => None,
        })
}

/// The length of `bytes` without its trailing zeros.
pub(crate) fn nonzero_end(bytes: &[u8]) -> usize {
    const BLOCK: usize = 4096;
    let mut end = bytes.len();
    // Whole blocks first (an OR over a block vectorizes), then the bytes of the last one.
    while end >= BLOCK && bytes[end - BLOCK..end].iter().fold(0u8, |acc, &b| acc | b) == 0 {
        end -= BLOCK;
    }
    while end > 0 && bytes[end - 1] == 0 {
        end -= 1;
    }
    end
}

/// Whether any fully valid record starts after `from`: if so, a bad record before it is damage
/// in the middle of the log, not a torn tail.
fn valid_record_after(bytes: &[u8], from: usize) -> bool {
    valid_records_after(bytes, from).next().is_some()
}

/// Whether a valid record after `pos` was written when the segment was already durable past
/// `pos` (its record-version-4 stamp): then the bytes at `pos` were synced, and damage there is
/// media damage, never a torn write, so cutting the log there would lose acknowledged writes.
fn synced_past(bytes: &[u8], pos: usize) -> bool {
    valid_records_after(bytes, pos + 1).any(|(_, durable_before)| durable_before as usize > pos)
}

fn scan_segment(id: SegmentId, file: &IoFile, is_last: bool, from: usize) -> Result<SegmentScan> {
    let map = io::map_readonly(file)?;
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    let file_len = bytes.len() as u64;
    let mut scan = SegmentScan {
        records: Vec::new(),
        chunk_records: 0,
        damaged_chunks: Vec::new(),
        valid_len: 0,
        file_len,
        zero_tail: false,
    };
    // Damage this close to the end of the newest segment's data (prepared zeros after it do not
    // count) may be a torn, unacknowledged write.
    let data_end = if is_last { nonzero_end(bytes) } else { bytes.len() };
    let in_torn_window = |pos: usize| is_last && data_end.saturating_sub(pos) as u64 <= limits::UNSYNCED_BYTES_MAX;
    let header_ok =
        bytes.get(..SEGMENT_HEADER_BYTES).map(|h| format::decode_segment_header(h.try_into().expect("sized")));
    match header_ok {
        Some(Ok(found)) if found == id.0 => {}
        Some(Ok(_)) => return Err(Error::corruption(id, 0, "segment header names another segment")),
        // A crash while the next segment was being created: nothing in it was acknowledged.
        _ if in_torn_window(0) => return Ok(scan),
        _ => return Err(Error::corruption(id, 0, "bad segment header")),
    }
    if from > bytes.len() {
        return Err(Error::corruption(id, from as u64, "the checkpoint resumes past the end of its segment"));
    }
    let mut pos = from.max(SEGMENT_HEADER_BYTES);
    while pos < bytes.len() {
        let location = Location { segment: id, offset: pos as u64 };
        match parse_at(bytes, pos, is_last) {
            Parse::Valid { kind: RecordKind::Chunk, next, .. } => {
                scan.chunk_records += 1;
                pos = next;
            }
            Parse::Valid { kind, version, payload, next, .. } => {
                let (seq, mutation) =
                    Mutation::decode(kind, version, payload).map_err(|e| Error::corruption(id, pos as u64, e.0))?;
                scan.records.push((location, seq, mutation));
                pos = next;
            }
            // Only zeros from here on: prepared space the writer had not reached.
            _ if is_last && pos >= data_end => {
                scan.zero_tail = true;
                break;
            }
            // Damage the writer had already synced (a later record's stamp says so) is not a
            // torn write: it is handled as damage anywhere else is, below.
            _ if in_torn_window(pos) && !synced_past(bytes, pos) => {
                if valid_record_after(bytes, pos + 1) {
                    log::warn!("segment {id}: records after a torn write at {pos} were never synced; dropping them");
                }
                break;
            }
            Parse::BadChecksum { kind: RecordKind::Chunk, next }
                if matches!(parse_at(bytes, next, true), Parse::Valid { .. }) =>
            {
                scan.chunk_records += 1;
                scan.damaged_chunks.push(location);
                pos = next;
            }
            Parse::BadChecksum { .. } => {
                return Err(Error::corruption(id, pos as u64, "record fails its checksum"));
            }
            Parse::Invalid => {
                return Err(Error::corruption(id, pos as u64, "invalid record before the end of the log"));
            }
        }
    }
    scan.valid_len = pos as u64;
    Ok(scan)
}

/// Scans and replays the store in `dir`; creates the first segment of an empty store. With
/// `read_only`, nothing is written: a torn tail is left in place (and out of the index) and an
/// empty store stays empty (a scrub replays this way).
pub(crate) fn recover(dir: &Path, backend: &Arc<dyn IoBackend>, read_only: bool) -> Result<Recovered> {
    let started = Instant::now();
    if !read_only {
        crate::segment::remove_prepared(dir)?;
        checkpoint::remove_partial(dir)?;
    }
    let mut ids = list_segment_ids(dir)?;
    if ids.len() as u64 > limits::SEGMENTS_MAX {
        return Err(Error::InvalidConfig(format!("{} segments exceed the limit {}", ids.len(), limits::SEGMENTS_MAX)));
    }
    let mut report = RecoveryReport::default();
    let loaded = newest_checkpoint(dir, &ids, &mut report)?;
    let (index, resume, mut last_seq) = load_index(dir, loaded.as_ref(), &mut ids, read_only, &mut report, started)?;
    if !read_only && loaded.is_some() {
        // Keep the resumed-from checkpoint and the one before it; drop anything older.
        for (_, path) in checkpoint::list_checkpoints(dir)?.into_iter().skip(limits::CHECKPOINTS_KEPT) {
            remove_file_if_present(&path)?;
        }
    }
    let mut files = Vec::with_capacity(ids.len() + 1);
    for id in &ids {
        files.push((*id, Arc::new(backend.open(&segment_path(dir, *id), false)?)));
    }
    report.segments = ids.len();
    let mut active_len = SEGMENT_HEADER_BYTES as u64;
    let tail: Vec<&(SegmentId, Arc<IoFile>)> = files.iter().filter(|(id, _)| *id >= resume.segment).collect();
    let last_index = tail.len().checked_sub(1);
    for (window_start, window) in tail.chunks(limits::RECOVERY_SEGMENTS_IN_FLIGHT_MAX).enumerate() {
        let base = window_start * limits::RECOVERY_SEGMENTS_IN_FLIGHT_MAX;
        let scans: Vec<Result<SegmentScan>> = window
            .par_iter()
            .enumerate()
            .map(|(i, (id, file))| {
                let from = if *id == resume.segment { resume.offset as usize } else { SEGMENT_HEADER_BYTES };
                scan_segment(*id, file, Some(base + i) == last_index, from)
            })
            .collect();
        for (i, scan) in scans.into_iter().enumerate() {
            let mut scan = scan?;
            let (id, file) = window[i];
            report.bytes += scan.valid_len;
            report.chunk_records += scan.chunk_records;
            report.damaged_chunks.append(&mut scan.damaged_chunks);
            for (location, seq, mutation) in std::mem::take(&mut scan.records) {
                if seq <= last_seq {
                    return Err(Error::corruption(location.segment, location.offset, "sequence number out of order"));
                }
                last_seq = seq;
                report.metadata_records += 1;
                if index.apply(seq, &mutation).is_err() {
                    report.rejected_records += 1;
                }
            }
            if Some(base + i) == last_index && !read_only {
                active_len = finish_tail(dir, backend, *id, file, &scan, &mut report)?;
            }
        }
    }
    if files.is_empty() && !read_only {
        let id = SegmentId(1);
        let file = Arc::new(backend.open(&segment_path(dir, id), true)?);
        write_segment_header(backend, id, &file)?;
        backend.sync_dir(dir)?;
        files.push((id, file));
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(Recovered { index, checkpoint: loaded, files, active_len, next_seq: last_seq + 1, report })
}

/// The index to replay the tail onto (a checkpoint's, or empty), where replay resumes and the
/// last sequence number before it. Deletes retired segments a crash left behind (and takes them
/// out of `ids`).
fn load_index(
    dir: &Path,
    loaded: Option<&Checkpoint>,
    ids: &mut Vec<SegmentId>,
    read_only: bool,
    report: &mut RecoveryReport,
    started: Instant,
) -> Result<(Index, Location, Seq)> {
    let Some(checkpoint) = loaded else {
        return Ok((Index::default(), Location { segment: SegmentId(1), offset: SEGMENT_HEADER_BYTES as u64 }, 0));
    };
    let index = Index::from_checkpoint(checkpoint)?;
    // Retired segments whose deletion a crash interrupted go now.
    let retired = index.retired.lock().clone();
    for id in ids.iter().filter(|id| retired.contains(id)) {
        if !read_only {
            remove_file_if_present(&segment_path(dir, *id))?;
        }
    }
    ids.retain(|id| !retired.contains(id));
    report.checkpoint = Some(CheckpointInfo {
        file: checkpoint.path.display().to_string(),
        position: checkpoint.position,
        bytes: checkpoint.bytes,
        keys: checkpoint.meta.buckets.iter().map(|b| b.keys).sum(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    Ok((index, checkpoint.position.resume, checkpoint.position.seq))
}

/// Deletes a file; one already gone is no error.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

/// The newest checkpoint that passes its checks and whose log tail is whole: every segment from
/// the one it resumes in on, without gaps. Without one, the log must be whole from segment 1
/// (compaction deletes segments only once a checkpoint covers them, so a compacted store whose
/// checkpoints all fail cannot be rebuilt from its log, and is refused, not half-opened).
fn newest_checkpoint(dir: &Path, ids: &[SegmentId], report: &mut RecoveryReport) -> Result<Option<Checkpoint>> {
    let whole_from = |first: SegmentId| {
        let tail: Vec<u64> = ids.iter().filter(|id| **id >= first).map(|id| id.0).collect();
        tail.first() == Some(&first.0) && tail.windows(2).all(|pair| pair[1] == pair[0] + 1)
    };
    for (_, path) in checkpoint::list_checkpoints(dir)? {
        match Checkpoint::open(&path) {
            Ok(checkpoint) if whole_from(checkpoint.position.resume.segment) => return Ok(Some(checkpoint)),
            Ok(_) => {
                report.rejected_checkpoints.push((path.display().to_string(), "segments after it are missing".into()))
            }
            Err(error) => report.rejected_checkpoints.push((path.display().to_string(), error.to_string())),
        }
        log::warn!("{}: passed over: {}", path.display(), report.rejected_checkpoints.last().expect("pushed").1);
    }
    if ids.is_empty() || whole_from(SegmentId(1)) {
        return Ok(None);
    }
    Err(Error::corruption(
        ids[0],
        0,
        "segments are missing (compacted) and no checkpoint covering them opens: the index cannot be rebuilt",
    ))
}

/// Cuts a torn tail off the last segment (rewriting its header if that was torn too) and
/// returns the length appends continue from.
fn finish_tail(
    dir: &Path,
    backend: &Arc<dyn IoBackend>,
    id: SegmentId,
    file: &IoFile,
    scan: &SegmentScan,
    report: &mut RecoveryReport,
) -> Result<u64> {
    let (valid_len, file_len) = (&scan.valid_len, scan.file_len);
    if *valid_len == file_len {
        return Ok(file_len);
    }
    if scan.zero_tail {
        log::debug!("segment {id}: cutting unused prepared space at {valid_len} (file is {file_len} bytes)");
    } else {
        log::warn!("segment {id}: cutting a torn tail at {valid_len} (file is {file_len} bytes)");
        report.truncated_tail = Some((id, *valid_len, file_len));
    }
    backend.set_len(file, *valid_len)?;
    if *valid_len == 0 {
        write_segment_header(backend, id, file)?;
        backend.sync_dir(dir)?;
        return Ok(SEGMENT_HEADER_BYTES as u64);
    }
    backend.sync(file)?;
    Ok(*valid_len)
}

fn write_segment_header(backend: &Arc<dyn IoBackend>, id: SegmentId, file: &IoFile) -> Result<()> {
    let header = format::encode_segment_header(id.0, crate::now_ms());
    backend.write_at(file, 0, &[&header], true)?;
    Ok(())
}
