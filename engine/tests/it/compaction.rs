//! Checkpoints and compaction: dead bytes are freed and live ones survive, moved; readers keep
//! reading through a compaction; a write whose chunks were in a retired segment is refused; a
//! damaged checkpoint is passed over; a crash at any write of a pass loses nothing.

use std::sync::Arc;

use cairn_engine::io::fault::{Fault, FaultBackend, Tear};
use cairn_engine::io::{IoBackend, ThreadsBackend};
use cairn_engine::{CompletedPart, Engine, EngineConfig, Error, IoMode, ObjectAttributes, VersioningState};

use crate::body;

fn small_segments() -> EngineConfig {
    EngineConfig { segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN, ..crate::config(IoMode::Threads) }
}

fn open(dir: &std::path::Path) -> Engine {
    Engine::open(dir, small_segments()).unwrap()
}

const MIB: usize = 1024 * 1024;

/// Overwrites `keys` keys `rounds` times with incompressible bodies of `len` bytes.
fn churn(engine: &Engine, keys: usize, rounds: u64, len: usize) {
    for round in 0..rounds {
        for key in 0..keys {
            let data = body(round * 1000 + key as u64, len);
            engine.put_object_bytes("bkt", &format!("k{key}"), ObjectAttributes::default(), &data).unwrap();
        }
    }
}

fn check_churned(engine: &Engine, keys: usize, rounds: u64, len: usize) {
    for key in 0..keys {
        let expected = body((rounds - 1) * 1000 + key as u64, len);
        assert_eq!(engine.get_object_bytes("bkt", &format!("k{key}"), None).unwrap(), expected, "k{key}");
    }
    let (counted, recounted) = engine.usage_check();
    assert_eq!(counted, recounted);
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with("seg-") && name.ends_with(".cairn")
        })
        .count()
}

#[test]
fn compaction_frees_overwritten_bytes_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    churn(&engine, 4, 6, MIB + 1000);
    let before = engine.space();
    assert!(before.amplification > 3.0, "{before:?}");
    let report = engine.compact(true).unwrap();
    assert!(!report.victims.is_empty() && report.bytes_freed > 10 * MIB as u64, "{report:?}");
    let after = engine.space();
    assert!(after.segment_bytes < before.segment_bytes, "{before:?} {after:?}");
    assert_eq!(segment_files(dir.path()), after.segments.len());
    check_churned(&engine, 4, 6, MIB + 1000);
    drop(engine);
    let engine = open(dir.path());
    assert!(engine.recovery_report().checkpoint.is_some());
    check_churned(&engine, 4, 6, MIB + 1000);
    // Again, after more churn: copies are compacted like anything else.
    churn(&engine, 4, 3, MIB + 1000);
    engine.compact(true).unwrap();
    check_churned(&engine, 4, 3, MIB + 1000);
    assert!(engine.space().amplification < 3.0, "{:?}", engine.space());
}

#[test]
fn deleted_versions_and_aborted_uploads_free_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    let mut versions = Vec::new();
    for n in 0..6 {
        versions.push(engine.put_object_bytes("bkt", "v", ObjectAttributes::default(), &body(n, MIB)).unwrap().version);
    }
    let upload = engine.create_upload("bkt", "aborted", ObjectAttributes::default()).unwrap();
    for number in 1..=3 {
        let mut part = engine.upload_part("bkt", "aborted", upload, number).unwrap();
        part.write(&body(100 + u64::from(number), MIB)).unwrap();
        part.finish().unwrap();
    }
    let live_before = engine.space().live_bytes;
    for version in &versions[..5] {
        engine.delete_object("bkt", "v", Some(*version)).unwrap();
    }
    engine.abort_upload("bkt", "aborted", upload).unwrap();
    let live_after = engine.space().live_bytes;
    assert!(live_before - live_after >= 8 * MIB as u64, "{live_before} -> {live_after}");
    // Something to seal the segments they were in.
    engine.put_object_bytes("bkt", "filler", ObjectAttributes::default(), &body(9, 3 * MIB)).unwrap();
    let report = engine.compact(true).unwrap();
    assert!(report.bytes_freed >= 4 * MIB as u64, "{report:?}");
    assert_eq!(engine.get_object_bytes("bkt", "v", None).unwrap(), body(5, MIB));
    assert_eq!(engine.get_object_bytes("bkt", "filler", None).unwrap(), body(9, 3 * MIB));
}

#[test]
fn uploads_in_progress_survive_compaction_and_complete_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    // The writer moves to its first prepared segment once that is ready; then the parts share
    // it with a body deleted, so it is mostly dead and a victim.
    std::thread::sleep(std::time::Duration::from_millis(300));
    crate::put(&engine, "bkt", "junk", &body(3, 500_000));
    let upload = engine.create_upload("bkt", "multi", ObjectAttributes::default()).unwrap();
    let mut parts = Vec::new();
    for number in 1..=2 {
        let mut part = engine.upload_part("bkt", "multi", upload, number).unwrap();
        part.write(&body(u64::from(number), 150_007)).unwrap();
        parts.push(CompletedPart { number, etag_md5: part.finish().unwrap() });
    }
    engine.delete_object("bkt", "junk", None).unwrap();
    churn(&engine, 2, 4, MIB);
    let report = engine.compact(true).unwrap();
    assert!(report.chunks_copied > 0, "{report:?}");
    engine.complete_upload("bkt", "multi", upload, &parts).unwrap();
    let expected: Vec<u8> = (1..=2).flat_map(|n| body(n, 150_007)).collect();
    assert_eq!(engine.get_object_bytes("bkt", "multi", None).unwrap(), expected);
    // And the completed object moves too.
    churn(&engine, 2, 4, MIB);
    engine.compact(true).unwrap();
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.get_object_bytes("bkt", "multi", None).unwrap(), expected);
    let (counted, recounted) = engine.usage_check();
    assert_eq!(counted, recounted);
}

#[test]
fn a_reader_keeps_reading_while_compaction_deletes_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let data = body(42, 3 * MIB);
    engine.put_object_bytes("bkt", "read", ObjectAttributes::default(), &data).unwrap();
    churn(&engine, 3, 4, MIB);
    let mut reader = engine.get_object("bkt", "read", None, None).unwrap();
    let first = reader.next().unwrap().unwrap();
    let report = engine.compact(true).unwrap();
    assert!(!report.victims.is_empty());
    let mut read = first.to_vec();
    for chunk in reader {
        read.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(read, data);
    assert_eq!(engine.get_object_bytes("bkt", "read", None).unwrap(), data);
}

#[test]
fn a_write_whose_chunks_were_in_a_retired_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    // A slow PUT: its first chunks land, then other writes seal their segment.
    let mut slow = engine.put_object("bkt", "slow", ObjectAttributes::default()).unwrap();
    slow.write(&body(1, 2 * MIB)).unwrap();
    churn(&engine, 2, 6, MIB);
    let report = engine.compact(true).unwrap();
    assert!(!report.victims.is_empty(), "{report:?}");
    slow.write(b"the end").unwrap();
    assert!(matches!(slow.finish(), Err(Error::WriteInterrupted)));
    assert!(matches!(engine.get_object_bytes("bkt", "slow", None), Err(Error::NoSuchKey { .. })));
    // Writes after it are fine, and the refusal replays as a refusal.
    engine.put_object_bytes("bkt", "slow", ObjectAttributes::default(), b"again").unwrap();
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.get_object_bytes("bkt", "slow", None).unwrap(), b"again");
    check_churned(&engine, 2, 6, MIB);
}

#[test]
fn a_damaged_checkpoint_is_passed_over_for_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    churn(&engine, 3, 3, MIB);
    engine.compact(true).unwrap();
    churn(&engine, 3, 1, 1000);
    let newest = engine.checkpoint().unwrap();
    churn(&engine, 3, 1, 2000);
    drop(engine);
    let mut bytes = std::fs::read(&newest.file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&newest.file, &bytes).unwrap();
    let engine = open(dir.path());
    let report = engine.recovery_report();
    assert_eq!(report.rejected_checkpoints.len(), 1, "{report:?}");
    assert!(report.checkpoint.as_ref().unwrap().position.seq < newest.position.seq);
    check_churned(&engine, 3, 1, 2000);
    drop(engine);
    // With every checkpoint damaged, a compacted store refuses to open rather than lose writes.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("ckpt-") {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[70] ^= 1;
            std::fs::write(&path, &bytes).unwrap();
        }
    }
    assert!(matches!(Engine::open(dir.path(), small_segments()), Err(Error::Corruption { .. })));
}

#[test]
fn a_reopen_replays_only_the_log_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    for n in 0..300 {
        crate::put(&engine, "bkt", &format!("key-{n:04}"), &body(n, 100));
    }
    engine.checkpoint().unwrap();
    for n in 0..5 {
        crate::put(&engine, "bkt", &format!("key-{n:04}"), b"changed");
    }
    engine.delete_object("bkt", "key-0010", None).unwrap();
    drop(engine);
    let engine = open(dir.path());
    let report = engine.recovery_report();
    assert_eq!(report.metadata_records, 6, "{report:?}");
    assert_eq!(engine.index_layers(), (6, 300));
    let listed = engine.list_objects("bkt", &cairn_engine::ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
    assert_eq!(listed.entries().count(), 299);
    assert_eq!(engine.get_object_bytes("bkt", "key-0003", None).unwrap(), b"changed");
    assert_eq!(engine.get_object_bytes("bkt", "key-0200", None).unwrap(), body(200, 100));
    assert!(engine.get_object_bytes("bkt", "key-0010", None).is_err());
    let page = engine
        .list_objects(
            "bkt",
            &cairn_engine::ListQuery { max_keys: 3, start_after: Some("key-0008".into()), ..Default::default() },
        )
        .unwrap();
    assert_eq!(page.entries().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["key-0009", "key-0011", "key-0012"]);
}

#[test]
fn the_background_thread_compacts_a_churning_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig { background: true, compaction_bytes_per_sec: 0, ..small_segments() };
    let engine = Engine::open(dir.path(), config).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    churn(&engine, 4, 25, MIB);
    // Bounded: at most 30 s for the thread (which looks every second) to bring it down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while engine.space().upkeep.compaction_passes == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let space = engine.space();
    assert!(space.upkeep.compaction_passes > 0 && space.upkeep.segments_deleted > 0, "{space:?}");
    check_churned(&engine, 4, 25, MIB);
}

/// A crash at each write-side operation of a compaction pass (and the checkpoints around it):
/// the reopened store holds every object, intact.
#[test]
fn a_crash_anywhere_in_a_compaction_pass_loses_nothing() {
    let template = tempfile::tempdir().unwrap();
    {
        let engine = open(template.path());
        engine.create_bucket("bkt", "us-east-1").unwrap();
        churn(&engine, 3, 4, MIB);
    }
    let mut crash_at = 1;
    loop {
        assert!(crash_at < 10_000, "bounded");
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
        let fault = Arc::new(FaultBackend::new(Arc::new(ThreadsBackend) as Arc<dyn IoBackend>));
        let engine = Engine::open_with_backend(dir.path(), small_segments(), fault.clone()).unwrap();
        fault.fail_after(crash_at, Fault::Crash);
        let finished = engine.compact(true).is_ok();
        drop(engine);
        fault.crash_image(Tear::KeepPrefix { seed: crash_at }).unwrap();
        let engine = Engine::open_with_backend(dir.path(), small_segments(), fault.clone()).unwrap();
        check_churned(&engine, 3, 4, MIB);
        drop(engine);
        if finished {
            break;
        }
        crash_at += 1;
    }
    assert!(crash_at > 5, "the pass wrote something");
}

/// Moves of long keys fill `COMPACTION_RECORD_ENCODED_BYTES_MAX` before the other bounds: a pass
/// then commits several `Compact` records, each within the record payload limit.
#[test]
fn long_keys_split_a_pass_into_records_within_the_payload_limit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_bucket("bkt", "us-east-1").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    crate::put(&engine, "bkt", "dead", &body(1, 700_000));
    let long = |n: u64| format!("{n:04}{}", "k".repeat(cairn_engine::limits::KEY_BYTES_MAX - 4));
    for n in 0..1300 {
        crate::put(&engine, "bkt", &long(n), &body(n, 16));
    }
    engine.delete_object("bkt", "dead", None).unwrap();
    churn(&engine, 1, 4, MIB);
    let commits = engine.log_stats().commits;
    let report = engine.compact(true).unwrap();
    assert!(report.chunks_copied >= 1300, "{report:?}");
    let records = engine.log_stats().commits - commits;
    let per_record =
        cairn_engine::limits::COMPACTION_RECORD_ENCODED_BYTES_MAX / (cairn_engine::limits::KEY_BYTES_MAX + 70);
    assert!(records as usize > 1300 / per_record, "{records} Compact records for {report:?}");
    drop(engine);
    let engine = open(dir.path());
    for n in (0..1300).step_by(97) {
        assert_eq!(engine.get_object_bytes("bkt", &long(n), None).unwrap(), body(n, 16));
    }
}

/// A checkpoint that fails to write (EIO at each of its writes in turn) puts its frozen changes
/// back: every key still reads, later writes land, and the next checkpoint is written and opens.
#[test]
fn a_failed_checkpoint_gives_its_changes_back() {
    for fail_at in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let fault = Arc::new(FaultBackend::new(Arc::new(ThreadsBackend) as Arc<dyn IoBackend>));
        let engine = Engine::open_with_backend(dir.path(), small_segments(), fault.clone()).unwrap();
        engine.create_bucket("bkt", "us-east-1").unwrap();
        for n in 0..50 {
            crate::put(&engine, "bkt", &format!("key-{n:02}"), &body(n, 100));
        }
        engine.checkpoint().unwrap();
        crate::put(&engine, "bkt", "key-00", b"changed after the first");
        engine.delete_object("bkt", "key-01", None).unwrap();
        fault.fail_after(fail_at, Fault::Eio);
        assert!(engine.checkpoint().is_err(), "write {fail_at} of the checkpoint fails");
        assert_eq!(engine.get_object_bytes("bkt", "key-00", None).unwrap(), b"changed after the first");
        assert!(engine.get_object_bytes("bkt", "key-01", None).is_err());
        crate::put(&engine, "bkt", "key-02", b"after the failure");
        let listed =
            engine.list_objects("bkt", &cairn_engine::ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
        assert_eq!(listed.entries().count(), 49);
        engine.checkpoint().unwrap();
        drop(engine);
        let engine = Engine::open_with_backend(dir.path(), small_segments(), fault.clone()).unwrap();
        assert_eq!(engine.recovery_report().metadata_records, 0, "the second checkpoint covers everything");
        assert_eq!(engine.get_object_bytes("bkt", "key-00", None).unwrap(), b"changed after the first");
        assert_eq!(engine.get_object_bytes("bkt", "key-02", None).unwrap(), b"after the failure");
        assert!(engine.get_object_bytes("bkt", "key-01", None).is_err());
        assert_eq!(engine.get_object_bytes("bkt", "key-30", None).unwrap(), body(30, 100));
    }
}
