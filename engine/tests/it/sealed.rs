//! Sealed chunks end to end: every server-side encryption mode and compression, ranges over
//! them, keys that are wrong, missing, disabled or rotated, and what an attacker with the disk
//! but no keys can and cannot do.

use cairn_engine::format::{self, CHUNK_COMPRESSED, CHUNK_ENCRYPTED, RECORD_HEADER_BYTES};
use cairn_engine::{ByteRange, CompletedPart, Engine, Error, ObjectAttributes, Sse, SseMode, StorageClass};

use crate::{BACKENDS, body, open};

const CUSTOMER_KEY: [u8; 32] = [0xc5; 32];

/// Bytes that compress, recognisable in a data dir.
fn text(len: usize) -> Vec<u8> {
    b"PLAINTEXT-MARKER the cairn keeps its secrets. ".iter().copied().cycle().take(len).collect()
}

fn modes() -> Vec<(&'static str, Option<Sse>)> {
    let kms = |bucket_key, dsse| Sse::Kms { key: None, context: "{}".into(), bucket_key, dsse };
    vec![
        ("plain", None),
        ("sse-s3", Some(Sse::S3)),
        ("sse-kms", Some(kms(false, false))),
        ("sse-kms-bucket-key", Some(kms(true, false))),
        ("dsse-kms", Some(kms(false, true))),
        ("sse-c", Some(Sse::Customer(CUSTOMER_KEY.into()))),
    ]
}

fn put_sealed(engine: &Engine, key: &str, sse: Option<&Sse>, data: &[u8]) {
    let mut writer = engine.put_object("bkt", key, ObjectAttributes::default()).unwrap();
    if let Some(sse) = sse {
        writer.set_encryption(sse).unwrap();
    }
    // In pieces that do not line up with chunks.
    for piece in data.chunks(300_001) {
        writer.write(piece).unwrap();
    }
    writer.finish().unwrap();
}

fn read(engine: &Engine, key: &str, range: Option<ByteRange>, customer: Option<&[u8; 32]>) -> Result<Vec<u8>, Error> {
    let (version, info) = engine.head_object("bkt", key, None)?;
    let reader = engine.read_version("bkt", key, version, info, range, customer)?;
    let mut out = Vec::new();
    for chunk in reader {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn customer(sse: &Option<Sse>) -> Option<&'static [u8; 32]> {
    matches!(sse, Some(Sse::Customer(_))).then_some(&CUSTOMER_KEY)
}

#[test]
fn every_mode_reads_back_whole_and_in_ranges() {
    for io in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), io);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        // Three chunks and a bit, compressible and not.
        let bodies = [text(3 * 1024 * 1024 + 5), body(9, 3 * 1024 * 1024 + 5)];
        for (name, sse) in modes() {
            for (i, data) in bodies.iter().enumerate() {
                let key = format!("{name}-{i}");
                put_sealed(&engine, &key, sse.as_ref(), data);
                let given = customer(&sse);
                assert_eq!(&read(&engine, &key, None, given).unwrap(), data, "{key}");
                for (first, last) in
                    [(0, 0), (1024 * 1024 - 3, 1024 * 1024 + 3), (2_000_000, 3_100_000), (10, 3 * 1024 * 1024 + 4)]
                {
                    let range = ByteRange::From { first, last: Some(last) };
                    let got = read(&engine, &key, Some(range), given).unwrap();
                    assert_eq!(got, data[first as usize..=last as usize], "{key} {first}-{last}");
                }
                let tail = read(&engine, &key, Some(ByteRange::Suffix(7)), given).unwrap();
                assert_eq!(tail, data[data.len() - 7..]);
                let (_, info) = engine.head_object("bkt", &key, None).unwrap();
                assert_eq!(info.size, data.len() as u64);
                assert_eq!(info.etag(), format!("\"{}\"", crate::md5_hex(data)), "the ETag is of the plain bytes");
            }
        }
        // Everything again after a reopen (the keyring and the records are read back).
        drop(engine);
        let engine = open(dir.path(), io);
        for (name, sse) in modes() {
            assert_eq!(read(&engine, &format!("{name}-0"), None, customer(&sse)).unwrap(), bodies[0]);
        }
    }
}

#[test]
fn no_plaintext_of_an_encrypted_object_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    for (name, sse) in modes().into_iter().filter(|(_, sse)| sse.is_some()) {
        put_sealed(&engine, name, sse.as_ref(), &text(2 * 1024 * 1024 + 100));
        put_sealed(&engine, &format!("{name}-small"), sse.as_ref(), b"PLAINTEXT-MARKER small");
        let upload = engine
            .create_upload_with("bkt", &format!("{name}-multi"), ObjectAttributes::default(), None, sse.as_ref())
            .unwrap();
        let mut part = engine.upload_part_with_key("bkt", &format!("{name}-multi"), upload, 1, customer(&sse)).unwrap();
        part.write(&text(100_000)).unwrap();
        let etag_md5 = part.finish().unwrap();
        engine
            .complete_upload("bkt", &format!("{name}-multi"), upload, &[CompletedPart { number: 1, etag_md5 }])
            .unwrap();
    }
    drop(engine);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(16).any(|w| w == b"PLAINTEXT-MARKER"), "plaintext in {}", path.display());
        assert!(!bytes.windows(32).any(|w| w == CUSTOMER_KEY), "the customer's key in {}", path.display());
    }
    // The same bodies unencrypted are there (compressed, the marker survives in zstd's literals).
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    put_sealed(&engine, "plain", None, b"PLAINTEXT-MARKER small");
    drop(engine);
    let found = std::fs::read_dir(dir.path())
        .unwrap()
        .any(|entry| std::fs::read(entry.unwrap().path()).unwrap().windows(16).any(|w| w == b"PLAINTEXT-MARKER"));
    assert!(found, "the search would find plaintext if it were there");
}

#[test]
fn keys_must_be_right_present_and_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put_sealed(&engine, "c", Some(&Sse::Customer(CUSTOMER_KEY.into())), &text(5000));
    assert!(matches!(read(&engine, "c", None, None), Err(Error::CustomerKeyRequired)));
    assert!(matches!(read(&engine, "c", None, Some(&[1; 32])), Err(Error::CustomerKeyMismatch)));
    let info = engine.keyring().create_kms_key(Some("app")).unwrap();
    let sse = Sse::Kms {
        key: Some(format!("arn:aws:kms:us-east-1:000000000000:key/{}", info.id)),
        context: String::new(),
        bucket_key: false,
        dsse: false,
    };
    put_sealed(&engine, "k", Some(&sse), &text(5000));
    let (_, head) = engine.head_object("bkt", "k", None).unwrap();
    let encryption = head.attributes.encryption.clone().unwrap();
    assert_eq!((encryption.mode, encryption.key_id.as_str()), (SseMode::Kms, info.id.as_str()));
    engine.keyring().set_kms_key_enabled("alias/app", false).unwrap();
    assert!(matches!(read(&engine, "k", None, None), Err(Error::KmsKeyDisabled(_))));
    let mut writer = engine.put_object("bkt", "k2", ObjectAttributes::default()).unwrap();
    assert!(matches!(writer.set_encryption(&sse), Err(Error::KmsKeyDisabled(_))));
    engine.keyring().set_kms_key_enabled(&info.id, true).unwrap();
    assert_eq!(read(&engine, "k", None, None).unwrap(), text(5000));
    let unknown = Sse::Kms { key: Some("alias/nope".into()), context: String::new(), bucket_key: false, dsse: false };
    let mut writer = engine.put_object("bkt", "k3", ObjectAttributes::default()).unwrap();
    assert!(matches!(writer.set_encryption(&unknown), Err(Error::KmsKeyNotFound(_))));
    // Encryption is chosen before the body.
    let mut writer = engine.put_object("bkt", "late", ObjectAttributes::default()).unwrap();
    writer.write(b"x").unwrap();
    assert!(matches!(writer.set_encryption(&Sse::S3), Err(Error::InvalidArgument(_))));
    // An SSE-C upload's parts need its key.
    let sse_c = Sse::Customer(CUSTOMER_KEY.into());
    let upload = engine.create_upload_with("bkt", "m", ObjectAttributes::default(), None, Some(&sse_c)).unwrap();
    assert!(matches!(engine.upload_part("bkt", "m", upload, 1), Err(Error::CustomerKeyRequired)));
    assert!(matches!(
        engine.upload_part_with_key("bkt", "m", upload, 1, Some(&[2; 32])),
        Err(Error::CustomerKeyMismatch)
    ));
}

#[test]
fn rotation_keeps_old_objects_readable_and_wraps_new_ones_with_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put_sealed(&engine, "old", Some(&Sse::S3), &text(5000));
    assert_eq!(engine.keyring().rotate().unwrap(), 2);
    put_sealed(&engine, "new", Some(&Sse::S3), &text(6000));
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    let key_id = |key| engine.head_object("bkt", key, None).unwrap().1.attributes.encryption.clone().unwrap().key_id;
    assert_eq!((key_id("old"), key_id("new")), ("1".to_owned(), "2".to_owned()));
    assert_eq!(read(&engine, "old", None, None).unwrap(), text(5000));
    assert_eq!(read(&engine, "new", None, None).unwrap(), text(6000));
}

/// The chunk records of a store: (segment file, offset, flags, payload length), in log order.
fn chunk_records(dir: &std::path::Path) -> Vec<(std::path::PathBuf, usize, u16, usize)> {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cairn"))
        .collect();
    segments.sort();
    let mut found = Vec::new();
    for path in segments {
        let bytes = std::fs::read(&path).unwrap();
        let mut at = format::SEGMENT_HEADER_BYTES;
        while at + RECORD_HEADER_BYTES <= bytes.len() {
            let header: &[u8; RECORD_HEADER_BYTES] = bytes[at..at + RECORD_HEADER_BYTES].try_into().unwrap();
            let Ok(decoded) = format::decode_record_header(header) else { break };
            if decoded.kind == format::RecordKind::Chunk {
                found.push((path.clone(), at, decoded.flags, decoded.payload_len as usize));
            }
            at += RECORD_HEADER_BYTES + decoded.payload_len as usize;
        }
    }
    found
}

type ChunkAt = (std::path::PathBuf, usize, u16, usize);

fn chunk_payload((path, at, _, len): &ChunkAt) -> Vec<u8> {
    std::fs::read(path).unwrap()[at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + len].to_vec()
}

/// Rewrites a chunk record with a new payload of the same length, checksum and all.
fn rewrite_chunk((path, at, flags, len): &ChunkAt, payload: &[u8]) {
    assert_eq!(payload.len(), *len);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[*at..at + RECORD_HEADER_BYTES].copy_from_slice(&format::encode_chunk_header(*flags, payload));
    bytes[at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + len].copy_from_slice(payload);
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn a_chunk_moved_between_objects_or_positions_is_refused_not_served() {
    // An attacker with the disk rewrites chunk records, checksums and all: the seals still
    // tell, since each binds its object's data key and its place in the object.
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put_sealed(&engine, "a", Some(&Sse::S3), &body(1, 2 * 1024 * 1024));
    put_sealed(&engine, "b", Some(&Sse::S3), &body(2, 2 * 1024 * 1024));
    put_sealed(&engine, "after", None, b"keeps the objects above out of the torn-write window");
    drop(engine);
    let chunks = chunk_records(dir.path());
    assert_eq!(chunks.len(), 5);
    assert!(chunks[..4].iter().all(|chunk| chunk.2 == CHUNK_ENCRYPTED));
    // Object a's first chunk swapped with b's first; then a's two chunks with each other.
    for (target, source) in [(&chunks[0], &chunks[2]), (&chunks[0], &chunks[1])] {
        let (one, two) = (chunk_payload(target), chunk_payload(source));
        rewrite_chunk(target, &two);
        rewrite_chunk(source, &one);
        let engine = open(dir.path(), cairn_engine::IoMode::Threads);
        assert!(matches!(read(&engine, "a", None, None), Err(Error::Corruption { .. })));
        drop(engine);
        rewrite_chunk(target, &one);
        rewrite_chunk(source, &two);
    }
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    assert_eq!(read(&engine, "a", None, None).unwrap(), body(1, 2 * 1024 * 1024));
}

#[test]
fn scrub_checks_sealed_and_compressed_chunks_and_finds_their_damage() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put_sealed(&engine, "compressed", None, &text(100_000));
    put_sealed(&engine, "sealed", Some(&Sse::S3), &text(100_000));
    // A write after them, so their records are synced ones, not a possibly torn tail.
    put_sealed(&engine, "after", None, b"x");
    drop(engine);
    assert!(cairn_engine::scrub(dir.path()).unwrap().is_clean());
    let chunks = chunk_records(dir.path());
    let flags: Vec<u16> = chunks.iter().map(|c| c.2).collect();
    assert_eq!(flags, [CHUNK_COMPRESSED, CHUNK_COMPRESSED | CHUNK_ENCRYPTED, 0]);
    let (path, at, _, _) = &chunks[1];
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at + RECORD_HEADER_BYTES + 3] ^= 1;
    std::fs::write(path, &bytes).unwrap();
    let report = cairn_engine::scrub(dir.path()).unwrap();
    assert_eq!(report.damaged_objects.len(), 1);
    assert_eq!(report.damaged_objects[0].key, "sealed");
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    assert!(read(&engine, "sealed", None, None).is_err());
    assert_eq!(read(&engine, "compressed", None, None).unwrap(), text(100_000));
}

#[test]
fn storage_classes_are_kept_and_colder_ones_compress_harder() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    // Words from a small vocabulary in a pseudo-random order: what a higher level finds more of.
    const WORDS: [&str; 8] = ["granite ", "basalt ", "cairn ", "summit ", "ridge ", "scree ", "tarn ", "col "];
    let data: Vec<u8> = body(3, 60_000).iter().flat_map(|b| WORDS[usize::from(b % 8)].bytes()).take(400_000).collect();
    let mut stored = Vec::new();
    for class in [StorageClass::Standard, StorageClass::StandardIa, StorageClass::DeepArchive] {
        let attributes = ObjectAttributes { storage_class: class, ..ObjectAttributes::default() };
        engine.put_object_bytes("bkt", class.as_str(), attributes, &data).unwrap();
        let (_, info) = engine.head_object("bkt", class.as_str(), None).unwrap();
        assert_eq!(info.attributes.storage_class, class);
        let cairn_engine::Layout::Extents(extents) = &info.layout else { panic!() };
        stored.push(extents.iter().map(|e| e.stored).sum::<u32>());
        if class.is_archive() {
            engine.restore_object("bkt", class.as_str(), None, u64::MAX).unwrap();
        }
        assert_eq!(engine.get_object_bytes("bkt", class.as_str(), None).unwrap(), data);
    }
    assert!(stored[0] < data.len() as u32 && stored[1] <= stored[0] && stored[2] <= stored[1], "{stored:?}");
}

#[test]
fn compression_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = cairn_engine::EngineConfig { compression_level: 0, ..crate::config(cairn_engine::IoMode::Threads) };
    let engine = Engine::open(dir.path(), config).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.put_object_bytes("bkt", "k", ObjectAttributes::default(), &text(100_000)).unwrap();
    let (_, info) = engine.head_object("bkt", "k", None).unwrap();
    let cairn_engine::Layout::Extents(extents) = &info.layout else { panic!() };
    assert_eq!(extents[0].stored, 100_000);
    drop(engine);
    for level in [-1, 23] {
        let config =
            cairn_engine::EngineConfig { compression_level: level, ..crate::config(cairn_engine::IoMode::Threads) };
        assert!(matches!(Engine::open(dir.path(), config), Err(Error::InvalidConfig(_))));
    }
}

#[test]
fn archived_versions_read_only_while_a_restored_copy_lasts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let archived = ObjectAttributes { storage_class: StorageClass::Glacier, ..ObjectAttributes::default() };
    engine.put_object_bytes("bkt", "cold", archived, &text(3000)).unwrap();
    assert!(matches!(read(&engine, "cold", None, None), Err(Error::InvalidObjectState("GLACIER"))));
    // A restore that has already expired reads nothing; one that lasts reads, across a reopen.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let (_, was) = engine.restore_object("bkt", "cold", None, now - 1).unwrap();
    assert!(!was);
    assert!(matches!(read(&engine, "cold", None, None), Err(Error::InvalidObjectState(_))));
    let (_, was) = engine.restore_object("bkt", "cold", None, now + 3_600_000).unwrap();
    assert!(!was);
    assert_eq!(read(&engine, "cold", None, None).unwrap(), text(3000));
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    let (_, info) = engine.head_object("bkt", "cold", None).unwrap();
    assert_eq!(info.restored_until_ms, now + 3_600_000);
    assert_eq!(read(&engine, "cold", None, None).unwrap(), text(3000));
    let (_, was) = engine.restore_object("bkt", "cold", None, now + 7_200_000).unwrap();
    assert!(was, "a readable copy had its expiry moved");
    // Only archived versions are restored.
    put_sealed(&engine, "warm", None, b"x");
    assert!(matches!(engine.restore_object("bkt", "warm", None, now), Err(Error::InvalidObjectState("STANDARD"))));
}
