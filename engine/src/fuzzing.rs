//! Fuzz targets' bodies (`fuzz/` calls them; `tests/it/fuzz_corpus.rs` replays the corpus
//! through them in every test run). Each takes arbitrary bytes and must never panic; each
//! checks what must hold on the way. Not part of the engine's interface.

use std::sync::Arc;

use crate::format::records::Mutation;
use crate::format::{self, RECORD_HEADER_BYTES, RecordKind, SEGMENT_HEADER_BYTES};
use crate::io::fault::{FaultBackend, Tear};
use crate::io::{IoMode, backend_for};
use crate::{Engine, EngineConfig, ObjectAttributes, validate};

/// Runs every input of the corpus directory of `target` (`fuzz/corpus/<target>` of the
/// repository) through `body`; the test suites call this, so every input ever saved is replayed.
pub fn replay(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
        body(&std::fs::read(entry.expect("a corpus entry").path()).expect("a corpus input"));
        count += 1;
    }
    assert!(count > 0, "{} holds no inputs", dir.display());
}

/// A directory removed when dropped (the engine has no dependency on `tempfile`).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cairn-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sealed chunk's payload, its flags, its length and its position: opening never panics, and
/// what opens is exactly the length named. Then the input's bytes sealed and opened again are
/// themselves, and with one bit flipped do not open.
pub fn sealed_chunk(data: &[u8]) {
    use crate::seal::{self, ChunkKeys, ChunkPosition, DataKey, Opened, Sealer};
    let [f0, f1, l0, l1, l2, part, index, last, dsse, payload @ ..] = data else { return };
    let flags = u16::from_le_bytes([*f0, *f1]);
    let len = u32::from_le_bytes([*l0, *l1, *l2, 0]);
    let position = ChunkPosition { part: u32::from(*part), index: u32::from(*index), last: last & 1 == 1 };
    let keys = ChunkKeys { inner: DataKey::new(&[7; 32]), outer: (dsse & 1 == 1).then(|| DataKey::new(&[9; 32])) };
    let keys = (dsse & 2 == 2).then_some(keys);
    let mut buffer = payload.to_vec();
    if let Ok(opened) = seal::open(flags, &mut buffer, len, keys.as_ref(), position) {
        let opened_len = match opened {
            Opened::Prefix(n) => n,
            Opened::Buffer(body) => body.len(),
        };
        assert_eq!(opened_len, len as usize, "an opened chunk is its named length");
    }
    let body = payload.get(..payload.len().min(crate::limits::CHUNK_BYTES_MAX as usize)).unwrap_or_default();
    let sealer = Sealer { level: i32::from(*l0 % 4), keys: keys.map(Arc::new) };
    let (flags, mut sealed) = sealer.seal(body.to_vec(), position);
    let mut copy = sealed.clone();
    let opened = match seal::open(flags, &mut copy, body.len() as u32, sealer.keys.as_deref(), position) {
        Ok(Opened::Prefix(n)) => copy[..n].to_vec(),
        Ok(Opened::Buffer(opened)) => opened,
        Err(error) => panic!("a sealed chunk does not open: {error:?}"),
    };
    assert_eq!(opened, body);
    if sealer.keys.is_some() && !sealed.is_empty() {
        let at = usize::from(*index) % sealed.len();
        sealed[at] ^= 1 << (part % 8);
        let refused = seal::open(flags, &mut sealed, body.len() as u32, sealer.keys.as_deref(), position);
        assert!(refused.is_err(), "a flipped bit in a sealed chunk goes unnoticed");
    }
}

/// A checkpoint file next to three empty segments: checking it never panics; one that passes
/// decodes whole or is caught by the scrub's chain check, and a store opened from it (or, if
/// it is refused, from its log) reads without panicking.
pub fn checkpoint(data: &[u8]) {
    let dir = TempDir::new();
    for id in 1..=3 {
        std::fs::write(dir.path().join(format!("seg-{id:016x}.cairn")), format::encode_segment_header(id, 0))
            .expect("writing a segment");
    }
    let path = dir.path().join("ckpt-0000000000000001.cairn");
    std::fs::write(&path, data).expect("writing the checkpoint");
    if let Ok(checkpoint) = crate::checkpoint::Checkpoint::open(&path) {
        let _ = crate::checkpoint::check_chains(&checkpoint);
    }
    let config = EngineConfig { io: IoMode::Threads, background: false, ..EngineConfig::default() };
    let Ok(engine) = Engine::open(dir.path(), config) else { return };
    for bucket in engine.list_buckets() {
        let query = crate::VersionQuery { max_keys: 100, ..Default::default() };
        let Ok(page) = engine.list_versions(&bucket.name, &query) else { continue };
        for entry in page.entries() {
            let _ = engine.get_object_bytes(&bucket.name, &entry.key, Some(entry.version.id));
        }
        let _ = engine.list_uploads(&bucket.name, &crate::UploadQuery { max_uploads: 100, ..Default::default() });
    }
    let _ = engine.space();
}

/// A keyring file: decoding never panics.
pub fn keyring(data: &[u8]) {
    crate::keyring::check_file(data);
}

/// A record header and payload: decoding never panics, and what decodes re-encodes to the same
/// meaning.
pub fn record(data: &[u8]) {
    if let Some(header) = data.get(..RECORD_HEADER_BYTES) {
        let _ = format::decode_record_header(header.try_into().expect("sliced to size"));
    }
    let [kind, version, payload @ ..] = data else { return };
    let Some(kind) = RecordKind::from_byte(*kind) else { return };
    if kind == RecordKind::Chunk {
        return;
    }
    if let Ok((seq, mutation)) = Mutation::decode(kind, *version, payload) {
        let encoded = mutation.encode_payload(seq);
        let (seq_again, again) =
            Mutation::decode(kind, format::RECORD_VERSION, &encoded).expect("an encoded mutation decodes");
        assert_eq!((seq_again, &again), (seq, &mutation), "a record changed meaning through a round trip");
    }
}

/// A store whose only segment holds a valid header and then arbitrary bytes: opening it never
/// panics, and whatever it opens into reads without panicking.
pub fn recovery(data: &[u8]) {
    let dir = TempDir::new();
    let mut segment = format::encode_segment_header(1, 0).to_vec();
    segment.extend_from_slice(data);
    std::fs::write(dir.path().join("seg-0000000000000001.cairn"), &segment).expect("writing the segment");
    let config = EngineConfig { io: IoMode::Threads, ..EngineConfig::default() };
    let Ok(engine) = Engine::open(dir.path(), config) else { return };
    for bucket in engine.list_buckets() {
        let query = crate::ListQuery { max_keys: 100, ..Default::default() };
        let Ok(page) = engine.list_objects(&bucket.name, &query) else { continue };
        for entry in page.entries() {
            let _ = engine.get_object_bytes(&bucket.name, &entry.key, None);
        }
    }
    assert!(
        std::fs::metadata(dir.path().join("seg-0000000000000001.cairn")).expect("still there").len()
            >= SEGMENT_HEADER_BYTES as u64
    );
}

/// Bucket-name and key validation over arbitrary text: never panics; what passes obeys S3's rules.
pub fn names(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if validate::bucket_name(text).is_ok() {
        assert!((3..=63).contains(&text.len()), "{text:?}");
        assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
    }
    if validate::key(text).is_ok() {
        assert!(!text.is_empty() && text.len() <= crate::limits::KEY_BYTES_MAX);
    }
}

/// Operations on the engine against a model, with clean reopens, crashes, checkpoints and
/// compaction passes: every
/// acknowledged write survives, and reads agree with the model.
pub fn model(data: &[u8]) {
    const KEYS: u8 = 4;
    let dir = TempDir::new();
    let real = backend_for(IoMode::Threads).expect("the threads backend");
    let config = EngineConfig { io: IoMode::Threads, background: false, ..EngineConfig::default() };
    let fault = Arc::new(FaultBackend::new(real));
    let open = || Engine::open_with_backend(dir.path(), config.clone(), fault.clone()).expect("the store opens");
    let mut engine = open();
    engine.create_bucket("fuzz", "us-east-1").expect("a bucket");
    let mut model: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    // Bounded: at most 64 operations however long the input.
    for op in data.chunks(2).take(64) {
        let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
        let key = format!("k{}", arg % KEYS);
        match code % 7 {
            0 | 1 => {
                let body = crate::testing::body(u64::from(arg), usize::from(arg) * 97);
                engine.put_object_bytes("fuzz", &key, ObjectAttributes::default(), &body).expect("a put");
                model.insert(key, body);
            }
            2 => {
                engine.delete_object("fuzz", &key, None).expect("a delete");
                model.remove(&key);
            }
            3 => {
                drop(engine);
                engine = open();
            }
            5 => drop(engine.checkpoint().expect("a checkpoint")),
            6 => drop(engine.compact(true).expect("a compaction pass")),
            _ => {
                fault.crash();
                drop(engine);
                let tear = if arg % 2 == 0 { Tear::DropUnsynced } else { Tear::KeepPrefix { seed: u64::from(arg) } };
                fault.crash_image(tear).expect("a crash image");
                engine = open();
            }
        }
        for k in 0..KEYS {
            let key = format!("k{k}");
            match (engine.get_object_bytes("fuzz", &key, None), model.get(&key)) {
                (Ok(read), Some(expected)) => assert_eq!(&read, expected, "{key}"),
                (Err(crate::Error::NoSuchKey { .. }), None) => {}
                (read, expected) => panic!("{key}: engine {read:?}, model {expected:?}"),
            }
        }
    }
}
