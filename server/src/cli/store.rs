//! Commands over the whole store: `verify`, `compact`, `stats`.

use std::path::Path;

use super::{Failure, Outcome, progress};

/// Passes a compaction makes by hand at most (each takes up to `COMPACTION_PASS_BYTES_MAX`).
const COMPACT_PASSES_MAX: usize = 1000;

/// Runs compaction passes until no sealed segment has dead bytes to free.
pub fn compact(data_dir: &Path) -> Outcome {
    let engine = super::open(data_dir)?;
    let before = engine.space();
    let dead = before.segments.iter().map(|s| s.bytes.saturating_sub(s.live)).sum();
    let bar = progress::bytes("compacting", dead);
    for _ in 0..COMPACT_PASSES_MAX {
        let pass = engine.compact(true)?;
        if pass.victims.is_empty() {
            break;
        }
        bar.inc(pass.bytes_freed);
        bar.suspend(|| {
            println!(
                "compacted {} segments: {} chunks ({} bytes) copied, {} bytes freed in {} ms",
                pass.victims.len(),
                pass.chunks_copied,
                pass.bytes_copied,
                pass.bytes_freed,
                pass.duration_ms
            )
        });
    }
    bar.finish_and_clear();
    let after = engine.space();
    println!(
        "segments: {} -> {} files, {} -> {} bytes; {} live; space amplification {:.2} -> {:.2}",
        before.segments.len(),
        after.segments.len(),
        before.segment_bytes,
        after.segment_bytes,
        after.live_bytes,
        before.amplification,
        after.amplification
    );
    Ok(())
}

/// Scrubs the store in `data_dir` and prints what is damaged; `Failure::No` when anything is.
pub fn verify(data_dir: &Path) -> Outcome {
    if !data_dir.is_dir() {
        return Err(Failure::Error(format!("{} is not a directory", data_dir.display()).into()));
    }
    let bar = progress::spinner("checking every record");
    let report = cairn_engine::scrub(data_dir);
    bar.finish_and_clear();
    let report = report?;
    if let Some(error) = &report.replay_error {
        println!("the store's metadata does not replay ({error}): damaged records are not traced to objects");
    }
    println!(
        "{} segments, {} records, {} bytes checked: {} damaged records",
        report.segments,
        report.records,
        report.bytes,
        report.damaged.len()
    );
    for damage in &report.damaged {
        println!("  segment {} offset {}: {}", damage.location.segment, damage.location.offset, damage.what);
    }
    for object in &report.damaged_objects {
        println!("  damaged object: {}/{} version {}", object.bucket, object.key, object.version);
    }
    match &report.checkpoint {
        Some(checkpoint) => println!(
            "checkpoint {} (seq {}, {} keys, {} bytes, {} versions decoded): the log replays from segment {} offset {}",
            checkpoint.file,
            checkpoint.position.seq,
            checkpoint.keys,
            checkpoint.bytes,
            report.checkpoint_versions,
            checkpoint.position.resume.segment,
            checkpoint.position.resume.offset
        ),
        None => println!("no checkpoint: the index is the whole log replayed"),
    }
    for (file, why) in &report.rejected_checkpoints {
        println!("  checkpoint passed over: {file}: {why}");
    }
    if let Some(error) = &report.checkpoint_error {
        println!("  the checkpoint's version chains do not decode: {error}");
    }
    println!(
        "space: {} live bytes in {} segment bytes (amplification {:.2}), {} segments retired by compaction",
        report.live_bytes,
        report.bytes,
        report.space_amplification(),
        report.retired_segments
    );
    if report.usage_mismatch {
        println!("  the index's live-byte counts differ from a recount of its references");
    }
    match report.is_clean() {
        true => Ok(()),
        false => Err(Failure::No("the store is damaged".into())),
    }
}

/// Prints what the store holds and how its space is used, as text or JSON.
pub fn stats(data_dir: &Path, json: bool) -> Outcome {
    let engine = super::open(data_dir)?;
    let space = engine.space();
    let dead: u64 = space.segments.iter().map(|s| s.bytes.saturating_sub(s.live)).sum();
    let (memory_keys, mapped_keys) = engine.index_layers();
    let buckets = engine.list_buckets().len();
    let replay = &engine.recovery_report();
    let report = serde_json::json!({
        "buckets": buckets,
        "segments": space.segments.len(),
        "segment_bytes": space.segment_bytes,
        "live_bytes": space.live_bytes,
        "dead_bytes": dead,
        "checkpoint_bytes": space.checkpoint_bytes,
        "space_amplification": space.amplification,
        "checkpoint_seq": space.checkpoint.map(|c| c.seq),
        "index_keys_in_memory": memory_keys,
        "index_keys_mapped": mapped_keys,
        "records_replayed_at_open": replay.metadata_records,
        "damaged_chunks_found_at_open": replay.damaged_chunks.len(),
        "io_backend": engine.io_backend_name(),
    });
    if json {
        println!("{report}");
        return Ok(());
    }
    let object = report.as_object().expect("an object");
    let width = object.keys().map(String::len).max().unwrap_or(0);
    for (name, value) in object {
        println!("{name:width$}  {value}");
    }
    Ok(())
}
