//! Scrubbing: read every record of every segment, check every checksum (chunks included, which
//! opening a store does only for the newest segment), and name the object versions whose bodies
//! use a damaged chunk. It writes nothing: the metadata is replayed read-only, a torn tail is
//! left for the next open to cut. `cairn verify` runs it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::{self, RecordKind, SEGMENT_HEADER_BYTES};
use crate::index::BucketState;
use crate::io::{self, IoFile};
use crate::recovery::{self, CheckpointInfo, Parse};
use crate::segment::{list_segment_ids, segment_path};
use crate::types::{Layout, Location, SegmentId, VersionId, VersionKind};

/// One damaged record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub location: Location,
    pub what: String,
}

/// An object version whose body uses a damaged chunk: reads of it fail, never return the
/// damaged bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedObject {
    pub bucket: String,
    pub key: String,
    pub version: VersionId,
}

/// What a scrub found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    pub damaged: Vec<Damage>,
    pub damaged_objects: Vec<DamagedObject>,
    /// Why the metadata could not be replayed (damaged metadata stops an open): the damaged
    /// records are still listed, but not traced to objects.
    pub replay_error: Option<String>,
    /// The checkpoint the index was loaded from, and the log after it replayed.
    pub checkpoint: Option<CheckpointInfo>,
    /// Checkpoints passed over, and why.
    pub rejected_checkpoints: Vec<(String, String)>,
    /// Versions in the checkpoint, every one decoded (an open checks blocks, not chains).
    pub checkpoint_versions: u64,
    /// A checkpoint chain that does not decode.
    pub checkpoint_error: Option<String>,
    /// Chunk bytes the index references, and the segments' bytes.
    pub live_bytes: u64,
    pub retired_segments: usize,
    /// The index's live-byte counts differ from a recount of its references (a bug).
    pub usage_mismatch: bool,
}

impl ScrubReport {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.checkpoint_error.is_none() && !self.usage_mismatch
    }

    /// Segment bytes per live byte (1 for an empty store).
    pub fn space_amplification(&self) -> f64 {
        if self.live_bytes == 0 { 1.0 } else { self.bytes as f64 / self.live_bytes as f64 }
    }
}

/// Checks every record of one segment's bytes. In the newest segment, bytes after the last valid
/// record that no valid record follows are the end of the log, not damage.
fn scan(id: SegmentId, bytes: &[u8], newest: bool) -> (u64, Vec<Damage>) {
    let mut damaged = Vec::new();
    let at = |offset: usize, what: &str| Damage {
        location: Location { segment: id, offset: offset as u64 },
        what: what.to_owned(),
    };
    match bytes.get(..SEGMENT_HEADER_BYTES).map(|h| format::decode_segment_header(h.try_into().expect("sized"))) {
        Some(Ok(found)) if found == id.0 => {}
        Some(Ok(_)) => damaged.push(at(0, "the segment header names another segment")),
        _ if newest && bytes.len() <= SEGMENT_HEADER_BYTES => return (0, damaged),
        _ => damaged.push(at(0, "the segment header is damaged")),
    }
    let mut records = 0;
    let mut pos = SEGMENT_HEADER_BYTES;
    while pos < bytes.len() {
        let (what, next) = match recovery::parse_at(bytes, pos, true) {
            Parse::Valid { next, .. } => {
                records += 1;
                pos = next;
                continue;
            }
            Parse::BadChecksum { kind: RecordKind::Chunk, next } => ("a chunk fails its checksum", Some(next)),
            Parse::BadChecksum { next, .. } => ("a metadata record fails its checksum", Some(next)),
            Parse::Invalid => ("the record's header is damaged or runs past the end", None),
        };
        // The header holds: the record's extent is known, and the next one is checked on its own.
        if let Some(next) = next.filter(|&n| !newest || recovery::valid_records_after(bytes, n).next().is_some()) {
            records += 1;
            damaged.push(at(pos, what));
            pos = next;
            continue;
        }
        match recovery::valid_records_after(bytes, pos + 1).next() {
            Some((next, _)) => {
                damaged.push(at(pos, what));
                pos = next;
            }
            // Nothing valid follows: the end of the log (a torn tail opening cuts) in the newest
            // segment, damage to the last records anywhere else.
            None => {
                if !newest {
                    damaged.push(at(pos, what));
                }
                break;
            }
        }
    }
    (records, damaged)
}

fn scan_files(files: &[(SegmentId, Arc<IoFile>)]) -> Result<ScrubReport> {
    let newest = files.last().map(|(id, _)| *id);
    let scans: Vec<Result<(u64, u64, Vec<Damage>)>> = files
        .par_iter()
        .map(|(id, file)| {
            let map = io::map_readonly(file)?;
            let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
            let (records, damaged) = scan(*id, bytes, Some(*id) == newest);
            Ok((records, bytes.len() as u64, damaged))
        })
        .collect();
    let mut report = ScrubReport { segments: files.len(), ..ScrubReport::default() };
    for scan in scans {
        let (records, bytes, damaged) = scan?;
        report.records += records;
        report.bytes += bytes;
        report.damaged.extend(damaged);
    }
    Ok(report)
}

/// Scrubs the store in `dir`, which no process may have open (this takes its lock).
pub fn scrub(dir: &Path) -> Result<ScrubReport> {
    let _lock = io::lock_dir(dir)?.ok_or_else(|| Error::Locked { path: dir.display().to_string() })?;
    let backend = io::backend_for(io::IoMode::Threads)?;
    match recovery::recover(dir, &backend, true) {
        Ok(recovered) => {
            let mut report = scan_files(&recovered.files)?;
            report.checkpoint = recovered.report.checkpoint.clone();
            report.rejected_checkpoints = recovered.report.rejected_checkpoints.clone();
            if let Some(checkpoint) = &recovered.checkpoint {
                match crate::checkpoint::check_chains(checkpoint) {
                    Ok(versions) => report.checkpoint_versions = versions,
                    Err(error) => report.checkpoint_error = Some(error.0.to_owned()),
                }
            }
            let usage = recovered.index.usage.lock().clone();
            report.live_bytes = usage.values().sum();
            report.retired_segments = recovered.index.retired.lock().len();
            let mut recount = std::collections::BTreeMap::new();
            let present: HashSet<SegmentId> = recovered.files.iter().map(|(id, _)| *id).collect();
            let mut missing = Vec::new();
            recovered.index.for_each_reference(|_, _, extents| {
                for extent in extents {
                    *recount.entry(extent.location.segment).or_insert(0u64) +=
                        format::RECORD_HEADER_BYTES as u64 + u64::from(extent.stored);
                    if !present.contains(&extent.location.segment) {
                        missing.push(extent.location);
                    }
                }
            });
            report.usage_mismatch = recount != usage;
            report.damaged.extend(
                missing.into_iter().map(|location| Damage { location, what: "reference to a missing segment".into() }),
            );
            let damaged: HashSet<Location> = report.damaged.iter().map(|d| d.location).collect();
            if !damaged.is_empty() {
                for entry in recovered.index.buckets.iter() {
                    report.damaged_objects.extend(damaged_objects(entry.value(), &damaged));
                }
            }
            Ok(report)
        }
        Err(error @ (Error::Corruption { .. } | Error::ChecksumMismatch { .. })) => {
            let mut files = Vec::new();
            for id in list_segment_ids(dir)? {
                let path = segment_path(dir, id);
                files.push((id, Arc::new(IoFile { file: std::fs::File::open(&path)?, path })));
            }
            let mut report = scan_files(&files)?;
            report.replay_error = Some(error.to_string());
            Ok(report)
        }
        Err(error) => Err(error),
    }
}

fn damaged_objects(bucket: &BucketState, damaged: &HashSet<Location>) -> Vec<DamagedObject> {
    let mut found = Vec::new();
    bucket.objects.scan(std::ops::Bound::Unbounded, |key, chain| {
        for version in chain.iter() {
            let VersionKind::Object(info) = &version.kind else { continue };
            let hit = match &info.layout {
                Layout::Extents(extents) => extents.iter().any(|e| damaged.contains(&e.location)),
                Layout::Parts(parts) => {
                    parts.iter().flat_map(|p| p.extents.iter()).any(|e| damaged.contains(&e.location))
                }
            };
            if hit {
                found.push(DamagedObject {
                    bucket: bucket.name.clone(),
                    key: String::from_utf8_lossy(key).into_owned(),
                    version: version.id,
                });
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}
