//! The lifecycle worker killed with SIGKILL while it expires thousands of objects: after each
//! kill the store opens, every object the rules do not take reads back intact, every object
//! they take is either intact or gone, and the live-byte count matches the references; after a
//! last restart the worker finishes the job.

mod common;

use std::path::Path;
use std::time::Duration;

use cairn_engine::{Engine, EngineConfig, ObjectAttributes};
use cairn_server::lifecycle::{BUCKET_LIFECYCLE, Lifecycle, When, rules::Filter, rules::Rule};

const BUCKET: &str = "expiring";
/// Objects the rule expires, and objects beside them it must leave.
const EXPIRED: usize = 30_000;
const KEPT: usize = 200;
/// Writers filling the store (their commits share syncs).
const WRITERS: usize = 8;
/// When each cycle's kill comes after the server answers.
const KILL_AFTER_MS: [u64; 3] = [0, 15, 60];

fn data(key: &str) -> Vec<u8> {
    key.as_bytes().iter().cycle().take(300).copied().collect()
}

fn fill(dir: &Path) {
    let engine = Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    engine.create_bucket(BUCKET, "us-east-1").unwrap();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let engine = &engine;
            scope.spawn(move || {
                for n in (writer..EXPIRED + KEPT).step_by(WRITERS) {
                    let key = if n < EXPIRED { format!("e/{n}") } else { format!("k/{n}") };
                    engine.put_object_bytes(BUCKET, &key, ObjectAttributes::default(), &data(&key)).unwrap();
                }
            });
        }
    });
    let rule = Rule {
        id: "e".into(),
        enabled: true,
        filter: Filter { prefix: "e/".into(), prefix_given: true, ..Filter::default() },
        expiration: Some(When::Days(1)),
        expired_object_delete_marker: false,
        transitions: Vec::new(),
        noncurrent_expiration: None,
        noncurrent_transitions: Vec::new(),
        abort_incomplete_upload_days: None,
    };
    let rules = Lifecycle { rules: vec![rule], varies_by_storage_class: false };
    engine.put_bucket_config(BUCKET, BUCKET_LIFECYCLE, &rules.encode()).unwrap();
}

/// Checks the store after a kill; returns how many of the expiring objects are gone.
fn check(dir: &Path) -> usize {
    let engine = Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    let mut gone = 0;
    for n in 0..EXPIRED + KEPT {
        let key = if n < EXPIRED { format!("e/{n}") } else { format!("k/{n}") };
        match engine.get_object_bytes(BUCKET, &key, None) {
            Ok(body) => assert_eq!(body, data(&key), "{key} reads back intact"),
            Err(cairn_engine::Error::NoSuchKey { .. }) if n < EXPIRED => gone += 1,
            Err(error) => panic!("{key}: {error}"),
        }
    }
    let (space, recount) = engine.usage_check();
    assert_eq!(space, recount, "live bytes match the references");
    gone
}

fn serve(dir: &Path) -> std::process::Child {
    common::serve(dir, &["--lifecycle-day-seconds", "1"], "LIFECYCLE", "lifecycle-secret").0
}

#[test]
fn the_lifecycle_worker_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // The objects' day has passed by the time the server runs.
    std::thread::sleep(Duration::from_millis(2100));
    let mut seen = Vec::new();
    for delay in KILL_AFTER_MS {
        let mut child = serve(dir.path());
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        seen.push(check(dir.path()));
    }
    // The last run is stopped only once the worker is done.
    let mut done = false;
    for _ in 0..10 {
        let mut child = serve(dir.path());
        std::thread::sleep(Duration::from_secs(2));
        child.kill().unwrap();
        child.wait().unwrap();
        if check(dir.path()) == EXPIRED {
            done = true;
            break;
        }
    }
    eprintln!("expired after each kill: {seen:?}");
    assert!(done, "the worker expired every object in the end (after the kills: {seen:?})");
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "nothing expired came back: {seen:?}");
}
