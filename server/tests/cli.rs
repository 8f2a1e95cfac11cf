//! The `cairn` binary: `cairn verify` over clean and damaged stores.

use std::os::unix::fs::FileExt;
use std::process::Command;

use cairn_engine::{Engine, EngineConfig, IoMode, ObjectAttributes};

fn verify(dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn")).args(["verify", "--data-dir"]).arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn verify_names_damaged_objects_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = cairn_engine::testing::body(9, 10_000);
    {
        let config = EngineConfig {
            io: IoMode::Threads,
            segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
            ..EngineConfig::default()
        };
        let engine = Engine::open(dir.path(), config).unwrap();
        engine.create_bucket("photos", "us-east-1").unwrap();
        engine.put_object_bytes("photos", "cat.jpg", ObjectAttributes::default(), &data).unwrap();
        engine.put_object_bytes("photos", "dog.jpg", ObjectAttributes::default(), b"woof").unwrap();
        // Seal the segment holding the objects, so the damage below is not in the newest one's tail.
        let filler = cairn_engine::testing::body(1, 1 << 20);
        let holding = engine.segment_count();
        for i in 0.. {
            if engine.segment_count() > holding {
                break;
            }
            engine.put_object_bytes("photos", &format!("fill{i}"), ObjectAttributes::default(), &filler).unwrap();
        }
    }
    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("0 damaged records"), "{text}");

    let mut segments: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cairn"))
        .collect();
    segments.sort();
    let (segment, bytes) = segments
        .iter()
        .map(|path| (path, std::fs::read(path).unwrap()))
        .find(|(_, bytes)| bytes.windows(32).any(|w| w == &data[..32]))
        .unwrap();
    let at = bytes.windows(32).position(|w| w == &data[..32]).unwrap() + 5000;
    let file = std::fs::OpenOptions::new().write(true).open(segment).unwrap();
    file.write_at(&[bytes[at] ^ 0x80], at as u64).unwrap();
    drop(file);
    let (ok, text) = verify(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("1 damaged records") && text.contains("damaged object: photos/cat.jpg"), "{text}");
    assert!(!text.contains("dog.jpg"), "{text}");

    let (ok, text) = verify(&dir.path().join("missing"));
    assert!(!ok && text.contains("is not a directory"), "{text}");
}

fn cairn(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn")).args(args).arg("--data-dir").arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn compact_frees_overwritten_bytes_and_verify_shows_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        io: IoMode::Threads,
        segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
        background: false,
        ..EngineConfig::default()
    };
    let last = |key: u64| cairn_engine::testing::body(100 + key, 1 << 20);
    {
        let engine = Engine::open(dir.path(), config.clone()).unwrap();
        engine.create_bucket("photos", "us-east-1").unwrap();
        for round in 0..6 {
            for key in 0..3u64 {
                let data = if round == 5 { last(key) } else { cairn_engine::testing::body(round * 10 + key, 1 << 20) };
                engine.put_object_bytes("photos", &format!("k{key}"), ObjectAttributes::default(), &data).unwrap();
            }
        }
    }
    let (ok, text) = cairn(&["verify"], dir.path());
    assert!(ok && text.contains("no checkpoint") && text.contains("amplification"), "{text}");
    let (ok, text) = cairn(&["compact"], dir.path());
    assert!(ok && text.contains("compacted") && text.contains("space amplification"), "{text}");
    let (ok, text) = cairn(&["verify"], dir.path());
    assert!(ok && text.contains("checkpoint ") && text.contains("the log replays from segment"), "{text}");
    let engine = Engine::open(dir.path(), config).unwrap();
    assert!(engine.space().amplification < 2.5, "{:?}", engine.space());
    for key in 0..3 {
        assert_eq!(engine.get_object_bytes("photos", &format!("k{key}"), None).unwrap(), last(key));
    }
    drop(engine);
    let (ok, text) = cairn(&["compact"], &dir.path().join("missing"));
    assert!(!ok && text.contains("is not a directory"), "{text}");
}
