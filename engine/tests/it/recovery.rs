//! Recovery over damaged files: torn tails are cut, damage further back is reported, damaged
//! chunks are never served.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use cairn_engine::{Engine, Error, IoMode, limits};

use crate::{body, open, put};

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cairn"))
        .collect();
    paths.sort();
    paths
}

/// The segment file holding `needle`.
fn segment_holding(dir: &std::path::Path, needle: &[u8]) -> std::path::PathBuf {
    segments(dir)
        .into_iter()
        .find(|path| std::fs::read(path).unwrap().windows(needle.len()).any(|w| w == needle))
        .expect("some segment holds it")
}

#[test]
fn a_torn_tail_is_cut_and_the_store_goes_on() {
    for garbage in [&b"\x43"[..], &[0u8; 100][..], &b"Crec\x07\x01\x00\x00\xff\xff\x00\x00"[..]] {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), IoMode::Threads);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        put(&engine, "bkt", "k", b"acknowledged");
        drop(engine);
        let path = segments(dir.path()).pop().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new().append(true).open(&path).unwrap().write_all(garbage).unwrap();
        let engine = open(dir.path(), IoMode::Threads);
        // Zeros after the log are space the writer prepared: the log ends there, nothing is torn.
        let torn = garbage.iter().any(|&b| b != 0).then_some(len);
        assert_eq!(engine.recovery_report().truncated_tail.map(|(_, valid, _)| valid), torn);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "cut back to the log's end");
        assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"acknowledged");
        put(&engine, "bkt", "k2", b"more");
        drop(engine);
        let engine = open(dir.path(), IoMode::Threads);
        assert_eq!(engine.recovery_report().truncated_tail, None);
        assert_eq!(engine.get_object_bytes("bkt", "k2", None).unwrap(), b"more");
    }
}

/// A closed store holding a bucket and one object `key`: its newest segment and that file's length.
fn closed_store(key: &str, data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, u64) {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", key, data);
    drop(engine);
    let path = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    (dir, path, len)
}

#[test]
fn a_half_written_last_record_is_cut() {
    let (dir, path, acknowledged_len) = closed_store("first", b"1");
    let engine = open(dir.path(), IoMode::Threads);
    let second = body(3, 5000);
    put(&engine, "bkt", "second", &second);
    drop(engine);
    // The second put lands in the same segment, or in a prepared one if that was ready first.
    let (path, acknowledged_len) = match segment_holding(dir.path(), &second[..16]) {
        holding if holding == path => (path, acknowledged_len),
        holding => (holding, 64),
    };
    // Tear the second put at every tenth byte: it must vanish whole, the first must stay.
    let full = std::fs::read(&path).unwrap();
    for cut in (acknowledged_len as usize..full.len()).step_by(10) {
        std::fs::write(&path, &full[..cut]).unwrap();
        let engine = open(dir.path(), IoMode::Threads);
        assert_eq!(engine.get_object_bytes("bkt", "first", None).unwrap(), b"1");
        assert!(matches!(engine.get_object("bkt", "second", None, None), Err(Error::NoSuchKey { .. })), "cut at {cut}");
    }
}

/// A closed store: a bucket (the first record of the first segment), an object "early" holding
/// `data`, then 1 MiB objects "fill<i>" until the segment holding "early" is sealed.
fn sealed_store(data: &[u8]) -> (tempfile::TempDir, cairn_engine::EngineConfig) {
    let dir = tempfile::tempdir().unwrap();
    let config =
        cairn_engine::EngineConfig { segment_bytes: limits::SEGMENT_BYTES_MIN, ..crate::config(IoMode::Threads) };
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "early", data);
    let holding = engine.segment_count();
    let mut i = 0;
    while engine.segment_count() == holding {
        put(&engine, "bkt", &format!("fill{i}"), &body(i, 1024 * 1024));
        i += 1;
    }
    (dir, config)
}

#[test]
fn a_damaged_chunk_in_a_sealed_segment_is_never_served() {
    let data = body(5, 3000);
    let (dir, config) = sealed_store(&data);
    let sealed = segment_holding(dir.path(), &data[..16]);
    assert_ne!(Some(&sealed), segments(dir.path()).last());
    let bytes = std::fs::read(&sealed).unwrap();
    let at = bytes.windows(16).position(|w| w == &data[..16]).unwrap();
    let file = OpenOptions::new().write(true).open(&sealed).unwrap();
    file.write_at(&[bytes[at + 100] ^ 0x20], (at + 100) as u64).unwrap();
    let engine = Engine::open(dir.path(), config).unwrap();
    let error = engine.get_object_bytes("bkt", "early", None).unwrap_err();
    assert!(matches!(error, Error::ChecksumMismatch { .. }), "{error:?}");
    assert_eq!(engine.get_object_bytes("bkt", "fill0", None).unwrap(), body(0, 1024 * 1024));
}

#[test]
fn damaged_metadata_before_the_tail_stops_the_open() {
    let (dir, config) = sealed_store(b"early");
    // The bucket-create record sits right after the first segment's 64-byte header.
    let first = &segments(dir.path())[0];
    let mut file = OpenOptions::new().write(true).open(first).unwrap();
    file.seek(SeekFrom::Start(64 + 30)).unwrap();
    file.write_all(b"X").unwrap();
    drop(file);
    let error = Engine::open(dir.path(), config).unwrap_err();
    assert!(matches!(error, Error::Corruption { offset: 64, .. }), "{error:?}");
}

#[test]
fn damage_beyond_the_torn_write_window_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "early", b"early");
    // Push the early records further back than any torn write can reach.
    let chunk = body(1, 1024 * 1024);
    for i in 0..(limits::UNSYNCED_BYTES_MAX / (1024 * 1024) + 2) {
        put(&engine, "bkt", &format!("fill{i}"), &chunk);
    }
    drop(engine);
    let last = segments(dir.path()).pop().unwrap();
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.write_at(b"\0\0\0\0", 64).unwrap();
    let error = Engine::open(dir.path(), crate::config(IoMode::Uring)).unwrap_err();
    assert!(matches!(error, Error::Corruption { offset: 64, .. }), "{error:?}");
}

#[test]
fn a_scrub_names_every_damaged_record_and_the_objects_using_it() {
    let data = body(5, 3000);
    let (dir, config) = sealed_store(&data);
    let clean = cairn_engine::scrub(dir.path()).unwrap();
    assert!(clean.is_clean(), "{:?}", clean.damaged);
    assert!(clean.records >= 5 && clean.segments >= 2, "{clean:?}");
    let first = &segments(dir.path())[0];
    let sealed = segment_holding(dir.path(), &data[..16]);
    let bytes = std::fs::read(&sealed).unwrap();
    let at = bytes.windows(16).position(|w| w == &data[..16]).unwrap();
    let file = OpenOptions::new().write(true).open(&sealed).unwrap();
    file.write_at(&[bytes[at + 7] ^ 0x01], (at + 7) as u64).unwrap();
    let report = cairn_engine::scrub(dir.path()).unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    assert_eq!(report.damaged[0].location.offset, (at - 24) as u64, "the chunk record's header");
    let names: Vec<_> = report.damaged_objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(names, ["early"]);
    // A scrub never takes a store another process has open.
    let engine = Engine::open(dir.path(), config).unwrap();
    assert!(matches!(cairn_engine::scrub(dir.path()), Err(Error::Locked { .. })));
    drop(engine);
    // Damaged metadata stops the replay; the records are still all checked.
    let file = OpenOptions::new().write(true).open(first).unwrap();
    file.write_at(b"X", 64 + 30).unwrap();
    let report = cairn_engine::scrub(dir.path()).unwrap();
    assert!(report.replay_error.is_some());
    assert_eq!(report.damaged.len(), 2, "{:?}", report.damaged);
    assert_eq!(report.damaged[0].location.offset, 64);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: crate::cases(12), ..Default::default() })]

    /// A flipped bit anywhere in a sealed segment is caught: the store refuses to open (damaged
    /// metadata), or the scrub names the damaged record and every read either returns exactly
    /// what was written or fails.
    #[test]
    fn a_flipped_bit_anywhere_is_detected_and_never_served(pick in proptest::prelude::any::<proptest::sample::Index>(), bit in 0u8..8) {
        let (dir, config, expected) = sealed_store_once();
        // Any byte of any sealed segment.
        let mut sealed = segments(dir.path());
        sealed.pop();
        let lens: Vec<usize> = sealed.iter().map(|p| std::fs::metadata(p).unwrap().len() as usize).collect();
        let mut offset = pick.index(lens.iter().sum());
        let mut which = 0;
        while offset >= lens[which] {
            offset -= lens[which];
            which += 1;
        }
        let file = OpenOptions::new().read(true).write(true).open(&sealed[which]).unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, offset as u64).unwrap();
        file.write_at(&[byte[0] ^ (1 << bit)], offset as u64).unwrap();
        drop(file);
        let report = cairn_engine::scrub(dir.path()).unwrap();
        proptest::prop_assert!(!report.is_clean(), "byte {} flipped unnoticed by the scrub", offset);
        match Engine::open(dir.path(), config) {
            Err(error) => {
                proptest::prop_assert!(matches!(error, Error::Corruption { .. }), "{:?}", error);
                proptest::prop_assert!(report.replay_error.is_some());
            }
            Ok(engine) => {
                for (key, data) in &expected {
                    if let Ok(read) = engine.get_object_bytes("bkt", key, None) {
                        proptest::prop_assert_eq!(&read, data, "{} served damaged", key);
                    }
                }
            }
        }
    }
}

/// A copy of one sealed store (built once per test binary) and what each of its objects holds.
fn sealed_store_once() -> (tempfile::TempDir, cairn_engine::EngineConfig, Vec<(String, Vec<u8>)>) {
    static ORIGINAL: std::sync::OnceLock<(tempfile::TempDir, cairn_engine::EngineConfig, usize)> =
        std::sync::OnceLock::new();
    let data = body(5, 3000);
    let (original, config, fills) = ORIGINAL.get_or_init(|| {
        let (dir, config) = sealed_store(&body(5, 3000));
        let fills = open_count(&dir, &config);
        (dir, config, fills)
    });
    let copy = tempfile::tempdir().unwrap();
    for path in segments(original.path()) {
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    let mut expected = vec![("early".to_owned(), data)];
    expected.extend((0..*fills as u64).map(|i| (format!("fill{i}"), body(i, 1024 * 1024))));
    (copy, config.clone(), expected)
}

fn open_count(dir: &tempfile::TempDir, config: &cairn_engine::EngineConfig) -> usize {
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    let query = cairn_engine::ListQuery { prefix: "fill".into(), max_keys: 1000, ..Default::default() };
    engine.list_objects("bkt", &query).unwrap().items.len()
}

/// Damage to synced data near the end of the newest segment is not a torn write: the log is not
/// cut there, so acknowledged writes after it survive (record version 4's durable stamp).
#[test]
fn damage_to_synced_data_in_the_newest_segment_is_not_cut_away() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(8, 5000);
    {
        let engine = open(dir.path(), IoMode::Threads);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        // Into the first prepared segment (the writer moves there once it is ready), which has
        // room for both objects: they are in the newest segment.
        let started = std::time::Instant::now();
        while engine.segment_count() < 2 && started.elapsed() < std::time::Duration::from_secs(30) {
            put(&engine, "bkt", "warm-up", b"w");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        put(&engine, "bkt", "damaged", &data);
        put(&engine, "bkt", "after", b"acknowledged later");
        assert_eq!(engine.segment_count(), 2);
    }
    let last = segments(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let at = bytes.windows(16).position(|w| w == &data[..16]).unwrap() + 100;
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.write_at(&[bytes[at] ^ 0x04], at as u64).unwrap();
    drop(file);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.recovery_report().truncated_tail, None, "nothing was cut");
    assert_eq!(engine.recovery_report().damaged_chunks.len(), 1);
    assert_eq!(engine.get_object_bytes("bkt", "after", None).unwrap(), b"acknowledged later");
    assert!(matches!(engine.get_object_bytes("bkt", "damaged", None), Err(Error::ChecksumMismatch { .. })));
    drop(engine);
    // Damaged metadata there stops the open instead of silently dropping what follows.
    let put_record = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"Crec")
        .map(|(i, _)| i)
        .find(|&i| bytes[i + 4] == 7)
        .unwrap();
    let file = OpenOptions::new().write(true).open(&last).unwrap();
    file.write_at(&[bytes[put_record + 40] ^ 0x01], (put_record + 40) as u64).unwrap();
    drop(file);
    let error = Engine::open(dir.path(), crate::config(IoMode::Threads)).unwrap_err();
    assert!(matches!(error, Error::Corruption { .. }), "{error:?}");
}

/// The writer moves into segments prepared full of zeros, each twice the last; a clean close
/// leaves no prepared file behind and cuts the active segment back to its log's end.
#[test]
fn writes_go_to_prepared_segments_that_a_close_cuts_to_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let chunk = body(2, 512 * 1024);
    // The writer moves on when the next prepared segment is ready, so how many objects each
    // holds depends on timing; three segments come within a bounded number of puts.
    let started = std::time::Instant::now();
    let mut written = 0;
    while written < 10 || (engine.segment_count() < 3 && started.elapsed() < std::time::Duration::from_secs(30)) {
        put(&engine, "bkt", &format!("k{written}"), &chunk);
        written += 1;
    }
    assert!(engine.segment_count() >= 3);
    // While open, the active segment is a prepared one (appended past its prepared size if the
    // next one is late): at least the smallest prepared size.
    let active = segments(dir.path()).pop().unwrap();
    let prepared = std::fs::metadata(&active).unwrap().len();
    assert!(prepared >= limits::PREPARED_SEGMENT_BYTES_MIN, "{prepared}");
    drop(engine);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".prep")), "{names:?}");
    let closed = std::fs::metadata(&active).unwrap().len();
    assert!(closed <= prepared && closed > 512 * 1024, "cut to its log: {closed} of {prepared}");
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.recovery_report().truncated_tail, None);
    for i in 0..written {
        assert_eq!(engine.get_object_bytes("bkt", &format!("k{i}"), None).unwrap(), chunk);
    }
}

/// A torn record in prepared space, further from the end of the file than the torn-write window
/// but with only zeros after it, is a torn tail: the window counts from the last byte written.
#[test]
fn a_torn_write_in_prepared_space_is_cut_however_far_the_zeros_run() {
    let (dir, path, len) = closed_store("k", b"acknowledged");
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_at(b"Crec\x07\x01\x00\x00\xff\xff\x00\x00 torn", len).unwrap();
    file.set_len(len + limits::UNSYNCED_BYTES_MAX + 4096).unwrap();
    drop(file);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.recovery_report().truncated_tail.map(|(_, valid, _)| valid), Some(len));
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"acknowledged");
    assert!(cairn_engine::scrub(dir.path()).is_err(), "the store is open");
    drop(engine);
    assert!(cairn_engine::scrub(dir.path()).unwrap().is_clean());
}
