//! Crashes and I/O faults through the fault-injecting backend. After a crash at any write-side
//! operation (dropping unsynced bytes, or keeping a torn prefix of them) the store reopens with
//! every acknowledged operation intact; the one operation in flight is either wholly there or
//! wholly absent. After a transient fault, the failed operation left nothing and the engine
//! carries on.

use std::sync::Arc;

use cairn_engine::io::fault::{Fault, FaultBackend, Tear};
use cairn_engine::io::{IoBackend, ThreadsBackend, UringBackend};
use cairn_engine::{Engine, Error, ObjectAttributes};
use parking_lot::Mutex;
use proptest::prelude::*;

use crate::body;
use crate::model::{Model, Op, matches, op, run_op, snapshot_engine, snapshot_model};

/// `direct`: whether the log writer gets direct files (its aligned rewrites of each group's
/// first block) or writes through the page cache, as where the file system refuses O_DIRECT.
fn fault_backend_with(uring: bool, direct: bool) -> Arc<FaultBackend> {
    let inner: Arc<dyn IoBackend> =
        if uring { Arc::new(UringBackend::new().unwrap()) } else { Arc::new(ThreadsBackend) };
    let fault = FaultBackend::new(inner);
    fault.set_direct(direct);
    Arc::new(fault)
}

fn fault_backend(uring: bool) -> Arc<FaultBackend> {
    fault_backend_with(uring, true)
}

/// Small segments, so crashes also land around segment rotations.
fn open_with(dir: &std::path::Path, fault: &Arc<FaultBackend>) -> Result<Engine, Error> {
    let config = cairn_engine::EngineConfig {
        segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
        ..crate::config(cairn_engine::IoMode::Threads)
    };
    Engine::open_with_backend(dir, config, fault.clone())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_crash_anywhere_keeps_every_acknowledged_write(
        ops in proptest::collection::vec(op(), 1..30),
        crash_at in 1u64..120,
        keep_torn_prefix in any::<bool>(),
        seed in any::<u64>(),
        uring in any::<bool>(),
        direct in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fault = fault_backend_with(uring, direct);
        let engine = open_with(dir.path(), &fault).unwrap();
        fault.fail_after(crash_at, Fault::Crash);
        let mut model = Model::default();
        let mut in_flight = None;
        for op in ops.iter().filter(|op| !matches!(op, Op::Reopen)) {
            if run_op(&engine, &mut model, op).is_err() {
                in_flight = Some(op.clone());
                break;
            }
        }
        drop(engine);
        let tear = if keep_torn_prefix { Tear::KeepPrefix { seed } } else { Tear::DropUnsynced };
        fault.crash_image(tear).unwrap();
        let engine = open_with(dir.path(), &fault).unwrap();
        let found = snapshot_engine(&engine).unwrap();
        let acknowledged = matches(&snapshot_model(&model), &found);
        let with_in_flight = in_flight.as_ref().is_some_and(|op| {
            let mut after = model.clone();
            after.apply_unacknowledged(op);
            matches(&snapshot_model(&after), &found)
        });
        prop_assert!(acknowledged || with_in_flight, "in flight: {:?}\nmodel: {:?}\nfound: {:?}", in_flight, snapshot_model(&model), found);
        // The reopened store takes writes again.
        let bucket = format!("after-{}", crash_at);
        engine.create_bucket(&bucket, "us-east-1").unwrap();
        crate::put(&engine, &bucket, "k", b"v");
    }

    #[test]
    fn a_transient_fault_fails_one_operation_and_nothing_else(
        ops in proptest::collection::vec(op(), 1..30),
        fail_at in 1u64..80,
        enospc in any::<bool>(),
        uring in any::<bool>(),
        direct in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fault = fault_backend_with(uring, direct);
        let engine = open_with(dir.path(), &fault).unwrap();
        fault.fail_after(fail_at, if enospc { Fault::Enospc } else { Fault::Eio });
        let mut model = Model::default();
        for op in ops.iter().filter(|op| !matches!(op, Op::Reopen)) {
            if let Err(error) = run_op(&engine, &mut model, op) {
                // The failed operation left nothing behind: the state is the model's.
                prop_assert!(matches!(error, Error::Io(_) | Error::WriteInterrupted), "{error:?}");
                prop_assert!(matches(&snapshot_model(&model), &snapshot_engine(&engine).unwrap()));
            }
        }
        crate::model::check(&engine, &model);
        drop(engine);
        let engine = open_with(dir.path(), &fault).unwrap();
        crate::model::check(&engine, &model);
    }
}

/// Many writers, group commit, a crash at a random point: every acknowledged object is there,
/// byte for byte, and every object there was acknowledged or in flight.
#[test]
fn concurrent_writers_survive_a_crash() {
    for (round, crash_at) in [7u64, 40, 90, 150, 333].into_iter().enumerate() {
        for tear in [Tear::DropUnsynced, Tear::KeepPrefix { seed: crash_at }] {
            let dir = tempfile::tempdir().unwrap();
            let fault = fault_backend_with(round % 2 == 0, round % 3 != 2);
            let engine = open_with(dir.path(), &fault).unwrap();
            engine.create_bucket("bkt", "us-east-1").unwrap();
            fault.fail_after(crash_at, Fault::Crash);
            let acknowledged = Mutex::new(Vec::new());
            let attempted = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for thread in 0..8u64 {
                    let (engine, acknowledged, attempted) = (&engine, &acknowledged, &attempted);
                    scope.spawn(move || {
                        for i in 0..1000u64 {
                            let key = format!("t{thread}/{i}");
                            let len = if i % 5 == 0 { 1024 * 1024 + 5 } else { 200 + i as usize };
                            attempted.lock().push((key.clone(), thread * 10_000 + i, len));
                            match engine.put_object_bytes(
                                "bkt",
                                &key,
                                ObjectAttributes::default(),
                                &body(thread * 10_000 + i, len),
                            ) {
                                Ok(_) => acknowledged.lock().push(key),
                                Err(_) => break,
                            }
                        }
                    });
                }
            });
            drop(engine);
            fault.crash_image(tear).unwrap();
            let engine = open_with(dir.path(), &fault).unwrap();
            let attempted = attempted.into_inner();
            for key in acknowledged.into_inner() {
                let (_, seed, len) = attempted.iter().find(|(k, _, _)| *k == key).unwrap();
                assert_eq!(
                    engine.get_object_bytes("bkt", &key, None).unwrap(),
                    body(*seed, *len),
                    "{key} after crash at {crash_at}"
                );
            }
            let listed =
                engine.list_objects("bkt", &cairn_engine::ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
            for entry in listed.entries() {
                let (_, seed, len) =
                    attempted.iter().find(|(k, _, _)| *k == entry.key).expect("only attempted keys exist");
                assert_eq!(engine.get_object_bytes("bkt", &entry.key, None).unwrap(), body(*seed, *len));
            }
        }
    }
}

#[test]
fn a_full_disk_is_an_error_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fault = fault_backend(true);
    let engine = open_with(dir.path(), &fault).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    crate::put(&engine, "bkt", "before", b"kept");
    fault.set_write_error(Some(libc::ENOSPC));
    let error =
        engine.put_object_bytes("bkt", "during", ObjectAttributes::default(), &body(1, 3 * 1024 * 1024)).unwrap_err();
    assert!(matches!(&error, Error::Io(e) if e.raw_os_error() == Some(libc::ENOSPC)), "{error:?}");
    assert!(engine.create_bucket("c", "us-east-1").is_err());
    assert_eq!(engine.get_object_bytes("bkt", "before", None).unwrap(), b"kept");
    fault.set_write_error(None);
    crate::put(&engine, "bkt", "after", b"written");
    assert!(matches!(engine.get_object("bkt", "during", None, None), Err(Error::NoSuchKey { .. })));
    drop(engine);
    let engine = open_with(dir.path(), &fault).unwrap();
    assert_eq!(engine.get_object_bytes("bkt", "before", None).unwrap(), b"kept");
    assert_eq!(engine.get_object_bytes("bkt", "after", None).unwrap(), b"written");
    assert!(matches!(engine.get_object("bkt", "during", None, None), Err(Error::NoSuchKey { .. })));
}

#[test]
fn a_failing_read_is_an_error_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let fault = fault_backend(false);
    let engine = open_with(dir.path(), &fault).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    crate::put(&engine, "bkt", "k", b"data");
    fault.set_read_error(true);
    let mut reader = engine.get_object("bkt", "k", None, None).unwrap();
    assert!(matches!(reader.next(), Some(Err(Error::Io(_)))));
    assert!(reader.next().is_none());
    fault.set_read_error(false);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"data");
}

/// A crash in the middle of prepared space: the zeros after the log, and the unsynced writes over
/// them undone, leave a store that opens with every acknowledged write and no torn tail to cut
/// unless a write was torn.
#[test]
fn a_crash_in_prepared_space_keeps_acknowledged_writes() {
    for (tear, direct) in
        [(Tear::DropUnsynced, true), (Tear::KeepPrefix { seed: 7 }, true), (Tear::DropUnsynced, false)]
    {
        let dir = tempfile::tempdir().unwrap();
        let fault = fault_backend_with(false, direct);
        let engine = open_with(dir.path(), &fault).unwrap();
        engine.create_bucket("bkt", "us-east-1").unwrap();
        for i in 0..20 {
            engine.put_object_bytes("bkt", &format!("k{i}"), ObjectAttributes::default(), &body(i, 10_000)).unwrap();
        }
        // The active segment is a prepared one, with zeros past its log.
        let active = engine.segment_count();
        assert!(active >= 2);
        fault.crash();
        assert!(engine.put_object_bytes("bkt", "lost", ObjectAttributes::default(), b"x").is_err());
        drop(engine);
        fault.crash_image(tear).unwrap();
        let engine = open_with(dir.path(), &fault).unwrap();
        for i in 0..20 {
            assert_eq!(engine.get_object_bytes("bkt", &format!("k{i}"), None).unwrap(), body(i, 10_000));
        }
        if tear == Tear::DropUnsynced {
            assert_eq!(engine.recovery_report().truncated_tail, None, "only zeros followed the log");
        }
    }
}
