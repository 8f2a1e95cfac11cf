//! Stores written by each record format version, committed as fixtures: every later version
//! must still open them and read the same contents. `CAIRN_WRITE_GOLDEN=1 cargo test -p
//! cairn-engine --test it golden` writes the fixture of the current version (only with a
//! format version bump; older fixtures are never rewritten).

use std::path::{Path, PathBuf};

use cairn_engine::{
    Checksum, ChecksumAlgorithm, ChecksumKind, ChecksumSpec, CompletedPart, Engine, IoMode, LockChange,
    OBJECT_LOCK_CONFIG, ObjectAttributes, ObjectLock, Replica, ReplicationStatus, Retention, RetentionMode, Sse,
    StorageClass, SystemMetadata, VersionId, VersioningState, WriteExtras,
};

use crate::{body, config};

fn fixture_dir(version: u8) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/store-v{version}"))
}

fn attributes() -> ObjectAttributes {
    ObjectAttributes {
        system: SystemMetadata { content_type: Some("text/plain".into()), ..SystemMetadata::default() },
        user: vec![("origin".into(), "golden".into())],
        tags: vec![("format".into(), "1".into())],
        ..ObjectAttributes::default()
    }
}

fn write_fixture(dir: &Path) {
    let engine = Engine::open(dir, config(IoMode::Threads)).unwrap();
    engine.create_bucket("golden", "eu-west-1").unwrap();
    engine.put_bucket_config("golden", "cors", b"<CORSConfiguration/>").unwrap();
    engine.put_object_bytes("golden", "plain", attributes(), b"version one").unwrap();
    engine.put_object_bytes("golden", "binary", ObjectAttributes::default(), &body(1, 5000)).unwrap();
    engine.set_versioning("golden", VersioningState::Enabled).unwrap();
    engine.put_object_bytes("golden", "plain", ObjectAttributes::default(), b"version two").unwrap();
    engine.delete_object("golden", "gone", None).unwrap();
    let upload = engine.create_upload("golden", "multi", ObjectAttributes::default()).unwrap();
    let parts: Vec<CompletedPart> = (1..=3)
        .map(|number| {
            let mut writer = engine.upload_part("golden", "multi", upload, number).unwrap();
            writer.write(&body(u64::from(number), 100)).unwrap();
            CompletedPart { number, etag_md5: writer.finish().unwrap() }
        })
        .collect();
    engine.complete_upload("golden", "multi", upload, &parts).unwrap();
    engine.create_upload("golden", "pending", ObjectAttributes::default()).unwrap();
    // Version 2: tag updates and conditional writes.
    engine.set_object_tags("golden", "plain", Some(VersionId::Null), vec![("retagged".into(), "2".into())]).unwrap();
    let mut writer = engine.put_object("golden", "created-once", ObjectAttributes::default()).unwrap();
    writer.set_condition(cairn_engine::PutCondition::IfNoneMatch);
    writer.write(b"conditional").unwrap();
    writer.finish().unwrap();
    // Version 3: bucket owners, upload checksum specs, part and object checksums.
    engine.create_bucket_owned("owned", "eu-west-1", OWNER).unwrap();
    let mut writer = engine.put_object("owned", "summed", ObjectAttributes::default()).unwrap();
    writer.write(b"checksummed").unwrap();
    writer.set_checksum(object_checksum());
    writer.finish().unwrap();
    let upload = engine.create_upload_with_checksum("owned", "parts", ObjectAttributes::default(), Some(SPEC)).unwrap();
    let mut writer = engine.upload_part("owned", "parts", upload, 1).unwrap();
    writer.write(b"part one").unwrap();
    writer.set_checksum(part_checksum());
    let etag_md5 = writer.finish().unwrap();
    engine.create_upload_with_checksum("owned", "pending", ObjectAttributes::default(), Some(SPEC)).unwrap();
    engine
        .complete_upload_with(
            "owned",
            "parts",
            upload,
            &[CompletedPart { number: 1, etag_md5 }],
            Default::default(),
            Default::default(),
            |_, _| Ok(Some(composite_checksum())),
        )
        .unwrap();
    // Version 5: a bucket created with its configurations, and account configurations.
    engine.create_bucket_with("configured", "eu-west-1", OWNER, vec![("guard".into(), b"on".to_vec())]).unwrap();
    engine.put_account_config(OWNER, "guard", b"account").unwrap();
    engine.put_account_config(OWNER, "removed", b"gone").unwrap();
    engine.delete_account_config(OWNER, "removed").unwrap();
    // Version 5: object owners and access control lists.
    let owned = ObjectAttributes { owner: WRITER.into(), acl: b"first".to_vec(), ..ObjectAttributes::default() };
    engine.put_object_bytes("configured", "acl", owned, b"with an acl").unwrap();
    engine.set_object_acl("configured", "acl", None, b"second".to_vec()).unwrap();
    let owned = ObjectAttributes { owner: WRITER.into(), acl: b"upload".to_vec(), ..ObjectAttributes::default() };
    engine.create_upload("configured", "pending", owned).unwrap();
    // Version 6: sealed chunks (compressed, encrypted under each SSE mode), storage classes.
    engine.create_bucket("sealed", "eu-west-1").unwrap();
    engine.put_object_bytes("sealed", "compressed", ObjectAttributes::default(), &text(300_000)).unwrap();
    let cold = ObjectAttributes { storage_class: StorageClass::StandardIa, ..ObjectAttributes::default() };
    engine.put_object_bytes("sealed", "cold", cold, &text(5000)).unwrap();
    engine.keyring().create_kms_key(Some("golden")).unwrap();
    for (name, sse) in sse_modes() {
        let mut writer = engine.put_object("sealed", name, ObjectAttributes::default()).unwrap();
        writer.set_encryption(&sse).unwrap();
        writer.write(&text(1_500_000)).unwrap();
        writer.finish().unwrap();
        if name == "sse-s3" {
            engine.keyring().rotate().unwrap();
        }
    }
    let upload =
        engine.create_upload_with("sealed", "multi", ObjectAttributes::default(), None, Some(&Sse::S3)).unwrap();
    let parts: Vec<CompletedPart> = (1..=2)
        .map(|number| {
            let mut writer = engine.upload_part("sealed", "multi", upload, number).unwrap();
            writer.write(&text(1_100_000 + usize::from(number as u8))).unwrap();
            CompletedPart { number, etag_md5: writer.finish().unwrap() }
        })
        .collect();
    engine.complete_upload("sealed", "multi", upload, &parts).unwrap();
    let archived = ObjectAttributes { storage_class: StorageClass::DeepArchive, ..ObjectAttributes::default() };
    engine.put_object_bytes("sealed", "archived", archived.clone(), &text(700)).unwrap();
    engine.put_object_bytes("sealed", "restored", archived, &text(800)).unwrap();
    engine.restore_object("sealed", "restored", None, RESTORED_UNTIL_MS).unwrap();
    // Version 7: checkpoints, and compaction's Compact records (a dead body collected).
    engine.create_bucket("compacted", "eu-west-1").unwrap();
    engine.put_object_bytes("compacted", "overwritten", ObjectAttributes::default(), &body(7, 3000)).unwrap();
    engine.put_object_bytes("compacted", "overwritten", ObjectAttributes::default(), b"second").unwrap();
    engine.put_object_bytes("compacted", "kept", ObjectAttributes::default(), &text(2000)).unwrap();
    let report = engine.compact(true).unwrap();
    assert!(!report.victims.is_empty() && report.bytes_freed > 0, "{report:?}");
    engine.put_object_bytes("compacted", "after", ObjectAttributes::default(), b"after the checkpoint").unwrap();
    // Version 8: Object Lock (a bucket created with it, versions with a retention and a legal
    // hold, LockPut records, a delete past a retention), MFA delete, a storage class moved.
    let config = vec![(OBJECT_LOCK_CONFIG.into(), b"<ObjectLockConfiguration/>".to_vec())];
    engine.create_bucket_with("locked", "eu-west-1", OWNER, config).unwrap();
    engine.put_object_bytes("locked", "kept", locked(RetentionMode::Compliance, RESTORED_UNTIL_MS), b"kept").unwrap();
    engine.set_object_lock("locked", "kept", None, LockChange::LegalHold(true), false).unwrap();
    engine.put_object_bytes("locked", "governed", locked(RetentionMode::Governance, RESTORED_UNTIL_MS), b"g").unwrap();
    engine.set_object_lock("locked", "governed", None, LockChange::Retention(None), true).unwrap();
    let expired = engine.put_object_bytes("locked", "expired", locked(RetentionMode::Compliance, 1), b"e").unwrap();
    engine.delete_object("locked", "expired", Some(expired.version)).unwrap();
    engine.set_versioning_with("golden", VersioningState::Enabled, Some(true)).unwrap();
    engine.create_bucket("tiered", "eu-west-1").unwrap();
    engine.put_object_bytes("tiered", "moved", ObjectAttributes::default(), &text(900)).unwrap();
    engine.set_storage_class("tiered", "moved", VersionId::Null, StorageClass::StandardIa).unwrap();
    // A lifecycle batch: a conditional expiry applied, one refused (the key changed since).
    engine.put_object_bytes("tiered", "expired", ObjectAttributes::default(), b"old").unwrap();
    engine.put_object_bytes("tiered", "rewritten", ObjectAttributes::default(), b"first").unwrap();
    let seq = |key: &str| engine.head_object("tiered", key, None).unwrap().0.seq;
    let expiries = [
        cairn_engine::Expiry::Current { key: "expired".into(), seq: seq("expired") },
        cairn_engine::Expiry::Current { key: "rewritten".into(), seq: seq("rewritten") },
    ];
    engine.put_object_bytes("tiered", "rewritten", ObjectAttributes::default(), b"second").unwrap();
    let applied = engine.expire("tiered", &expiries, 1).unwrap();
    assert!(applied[0].is_ok() && applied[1].is_err());
    // Version 9: outboxes, entries in the checkpoint (its version 2) and after it, one acked.
    let delivered = engine.outbox_push("access-log/golden", b"delivered").unwrap();
    engine.outbox_push("access-log/golden", b"in the checkpoint").unwrap();
    engine.outbox_ack("access-log/golden", delivered).unwrap();
    engine.checkpoint().unwrap();
    engine.outbox_push("events/golden", b"after the checkpoint").unwrap();
    let held = ObjectAttributes { lock: ObjectLock { retention: None, legal_hold: Some(true) }, ..Default::default() };
    engine.put_object_bytes("locked", "late", held, b"after the second checkpoint").unwrap();
    // Version 10: a put with its notice, committed in one record.
    let mut writer = engine.put_object("golden", "noticed", ObjectAttributes::default()).unwrap();
    writer.write(b"with its event").unwrap();
    writer.add_notice(cairn_engine::Notice { outbox: "events/noticed".into(), payload: NOTICE.to_vec() }).unwrap();
    writer.finish().unwrap();
    // Version 11: a replica and a replica's delete marker; a put with two notices and its
    // replication status set; a delete marker with its notice.
    engine.create_bucket("replicas", "eu-west-1").unwrap();
    engine.set_versioning("replicas", VersioningState::Enabled).unwrap();
    let mut writer = engine.put_object("replicas", "copied", ObjectAttributes::default()).unwrap();
    writer.set_replica(Replica { version: REPLICA_VERSION, last_modified_ms: REPLICA_TIME_MS });
    writer.write(b"a replica").unwrap();
    writer.finish().unwrap();
    let replica = Some(Replica { version: REPLICA_VERSION + 1, last_modified_ms: REPLICA_TIME_MS });
    engine
        .delete_object_with("replicas", "copied", None, false, WriteExtras { replica, ..Default::default() })
        .unwrap();
    let pending = ObjectAttributes { replication: Some(ReplicationStatus::Pending), ..Default::default() };
    let mut writer = engine.put_object("replicas", "source", pending).unwrap();
    writer.write(b"replicated").unwrap();
    writer.add_notice(cairn_engine::Notice { outbox: "events/replicas".into(), payload: NOTICE.to_vec() }).unwrap();
    writer
        .add_notice(cairn_engine::Notice { outbox: "replication/replicas".into(), payload: NOTICE.to_vec() })
        .unwrap();
    let source = writer.finish().unwrap();
    engine.set_replication_status("replicas", "source", source.version, ReplicationStatus::Completed).unwrap();
    let notices = vec![cairn_engine::Notice { outbox: "replication/replicas".into(), payload: NOTICE.to_vec() }];
    engine
        .delete_object_with("replicas", "marked", None, false, WriteExtras { notices, ..Default::default() })
        .unwrap();
}

/// The replica's source version in the fixture, and its time.
const REPLICA_VERSION: u64 = 0x00ab_0000_0000_0001;
const REPLICA_TIME_MS: u64 = 1_700_000_000_000;

fn check_version_11_contents(engine: &Engine) {
    check_version_10_contents(engine);
    let (_, copied) = engine.head_object("replicas", "copied", Some(VersionId::Id(REPLICA_VERSION))).unwrap();
    assert_eq!(copied.attributes.replication, Some(ReplicationStatus::Replica));
    assert_eq!(copied.last_modified_ms, REPLICA_TIME_MS);
    assert!(matches!(
        engine.head_object("replicas", "copied", None),
        Err(cairn_engine::Error::NoSuchKey { delete_marker: Some(VersionId::Id(v)) }) if v == REPLICA_VERSION + 1
    ));
    let (source, info) = engine.head_object("replicas", "source", None).unwrap();
    assert_eq!(info.attributes.replication, Some(ReplicationStatus::Completed));
    let line = format!("{} 10 {}\n", source.id, cairn_engine::hex(&info.etag_md5));
    let entries = engine.outbox_entries("replication/replicas", 10);
    assert_eq!(entries.len(), 2);
    assert_eq!(&entries[0].1[..line.len()], line.as_bytes());
    assert_eq!(engine.outbox_entries("events/replicas", 10)[0].1, entries[0].1);
    let Err(cairn_engine::Error::NoSuchKey { delete_marker: Some(marker) }) =
        engine.head_object("replicas", "marked", None)
    else {
        panic!("the marker is current")
    };
    assert!(entries[1].1.starts_with(format!("{marker} 0 -\n").as_bytes()));
}

/// The payload of the fixture's notice.
const NOTICE: &[u8] = b"arn:aws:sqs:eu-west-1:1:q\n{}";

fn check_version_10_contents(engine: &Engine) {
    check_version_9_contents(engine);
    let (found, info) = engine.head_object("golden", "noticed", None).unwrap();
    let entries = engine.outbox_entries("events/noticed", 10);
    let mut expected = format!("{} 14 {}\n", found.id, cairn_engine::hex(&info.etag_md5)).into_bytes();
    expected.extend_from_slice(NOTICE);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, found.seq, "the entry's id is the write's seq");
    assert_eq!(&*entries[0].1, &expected[..]);
}

/// Attributes of a version locked in `mode` until `until_ms`.
fn locked(mode: RetentionMode, until_ms: u64) -> ObjectAttributes {
    let lock = ObjectLock { retention: Some(Retention { mode, until_ms }), legal_hold: None };
    ObjectAttributes { lock, ..ObjectAttributes::default() }
}

fn check_version_8_contents(engine: &Engine) {
    check_version_7_contents(engine);
    assert!(engine.object_lock("locked").unwrap());
    assert_eq!(engine.versioning("locked").unwrap(), VersioningState::Enabled, "created versioned");
    let (kept, info) = engine.head_object("locked", "kept", None).unwrap();
    let compliance = Retention { mode: RetentionMode::Compliance, until_ms: RESTORED_UNTIL_MS };
    assert_eq!(info.attributes.lock, ObjectLock { retention: Some(compliance), legal_hold: Some(true) });
    assert!(info.attributes.user.is_empty(), "the lock is not user metadata");
    assert!(matches!(
        engine.delete_object_with("locked", "kept", Some(kept.id), true, Default::default()),
        Err(cairn_engine::Error::ObjectLocked)
    ));
    let (_, governed) = engine.head_object("locked", "governed", None).unwrap();
    assert_eq!(governed.attributes.lock, ObjectLock::default());
    assert!(matches!(
        engine.head_object("locked", "expired", None),
        Err(cairn_engine::Error::NoSuchKey { delete_marker: None })
    ));
    assert!(engine.head_object("locked", "late", None).unwrap().1.attributes.lock.legal_hold == Some(true));
    assert!(engine.mfa_delete("golden").unwrap());
    assert!(!engine.mfa_delete("locked").unwrap());
    let (_, moved) = engine.head_object("tiered", "moved", None).unwrap();
    assert_eq!(moved.attributes.storage_class, StorageClass::StandardIa);
    assert_eq!(engine.get_object_bytes("tiered", "moved", None).unwrap(), text(900));
    assert!(engine.head_object("tiered", "expired", None).is_err());
    assert_eq!(engine.get_object_bytes("tiered", "rewritten", None).unwrap(), b"second");
}

fn check_version_9_contents(engine: &Engine) {
    check_version_8_contents(engine);
    let payloads = |outbox: &str| -> Vec<Vec<u8>> {
        engine.outbox_entries(outbox, 10).into_iter().map(|(_, payload)| payload.to_vec()).collect()
    };
    assert_eq!(payloads("access-log/golden"), [b"in the checkpoint".to_vec()]);
    assert_eq!(payloads("events/golden"), [b"after the checkpoint".to_vec()]);
}

/// A restore in the fixture that lasts (year 2100).
const RESTORED_UNTIL_MS: u64 = 4_102_444_800_000;

/// Compressible bytes.
fn text(len: usize) -> Vec<u8> {
    b"golden text, compressed. ".iter().copied().cycle().take(len).collect()
}

const CUSTOMER_KEY: [u8; 32] = [0x5c; 32];

fn sse_modes() -> [(&'static str, Sse); 5] {
    let kms = |key: Option<&str>, bucket_key, dsse| Sse::Kms {
        key: key.map(str::to_owned),
        context: r#"{"purpose":"golden"}"#.into(),
        bucket_key,
        dsse,
    };
    [
        ("sse-s3", Sse::S3),
        ("sse-kms", kms(Some("alias/golden"), false, false)),
        ("sse-kms-bucket-key", kms(None, true, false)),
        ("dsse-kms", kms(Some("alias/golden"), false, true)),
        ("sse-c", Sse::Customer(CUSTOMER_KEY.into())),
    ]
}

fn check_version_7_contents(engine: &Engine) {
    check_version_6_contents(engine);
    assert!(engine.recovery_report().checkpoint.is_some(), "opened from its checkpoint");
    assert_eq!(engine.get_object_bytes("compacted", "overwritten", None).unwrap(), b"second");
    assert_eq!(engine.get_object_bytes("compacted", "kept", None).unwrap(), text(2000));
    assert_eq!(engine.get_object_bytes("compacted", "after", None).unwrap(), b"after the checkpoint");
    let (space, recount) = engine.usage_check();
    assert_eq!(space, recount);
}

fn check_version_6_contents(engine: &Engine) {
    check_version_5_contents(engine);
    assert_eq!(engine.get_object_bytes("sealed", "compressed", None).unwrap(), text(300_000));
    let (_, cold) = engine.head_object("sealed", "cold", None).unwrap();
    assert_eq!(cold.attributes.storage_class, StorageClass::StandardIa);
    assert_eq!(engine.get_object_bytes("sealed", "cold", None).unwrap(), text(5000));
    for (name, sse) in sse_modes() {
        let (version, info) = engine.head_object("sealed", name, None).unwrap();
        let customer = matches!(sse, Sse::Customer(_)).then_some(&CUSTOMER_KEY);
        let reader = engine.read_version("sealed", name, version, info.clone(), None, customer).unwrap();
        let read: Vec<u8> = reader.flat_map(|chunk| chunk.unwrap().to_vec()).collect();
        assert_eq!(read, text(1_500_000), "{name}");
        assert!(info.attributes.encryption.is_some());
    }
    let (_, s3) = engine.head_object("sealed", "sse-s3", None).unwrap();
    assert_eq!(s3.attributes.encryption.as_ref().unwrap().key_id, "1");
    assert_eq!(engine.keyring().master_key_ids(), [1, 2]);
    let mut multi = text(1_100_001);
    multi.extend(text(1_100_002));
    assert_eq!(engine.get_object_bytes("sealed", "multi", None).unwrap(), multi);
    assert!(matches!(
        engine.get_object_bytes("sealed", "archived", None),
        Err(cairn_engine::Error::InvalidObjectState(_))
    ));
    let (_, restored) = engine.head_object("sealed", "restored", None).unwrap();
    assert_eq!(restored.restored_until_ms, RESTORED_UNTIL_MS);
    assert_eq!(engine.get_object_bytes("sealed", "restored", None).unwrap(), text(800));
}

fn check_version_5_contents(engine: &Engine) {
    check_version_3_contents(engine);
    assert_eq!(engine.head_bucket("configured").unwrap().owner, OWNER);
    assert_eq!(engine.get_bucket_config("configured", "guard").unwrap().as_deref(), Some(&b"on"[..]));
    assert_eq!(engine.get_account_config(OWNER, "guard").as_deref(), Some(&b"account"[..]));
    assert_eq!(engine.get_account_config(OWNER, "removed"), None);
    let (version, info) = engine.head_object("configured", "acl", None).unwrap();
    assert_eq!((info.attributes.owner.as_str(), &info.attributes.acl[..]), (WRITER, &b"second"[..]));
    assert!(matches!(version.id, VersionId::Null));
    let query = cairn_engine::UploadQuery { max_uploads: 10, ..Default::default() };
    let uploads = engine.list_uploads("configured", &query).unwrap();
    let upload = uploads.entries().next().unwrap();
    assert_eq!((upload.attributes.owner.as_str(), &upload.attributes.acl[..]), (WRITER, &b"upload"[..]));
}

const WRITER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

const OWNER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SPEC: ChecksumSpec = ChecksumSpec { algorithm: ChecksumAlgorithm::Sha256, kind: ChecksumKind::Composite };

fn object_checksum() -> Checksum {
    Checksum::new(ChecksumAlgorithm::Crc64Nvme, ChecksumKind::FullObject, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()
}

fn part_checksum() -> Checksum {
    Checksum::new(ChecksumAlgorithm::Sha256, ChecksumKind::FullObject, &[7; 32]).unwrap()
}

fn composite_checksum() -> Checksum {
    Checksum::new(ChecksumAlgorithm::Sha256, ChecksumKind::Composite, &[9; 32]).unwrap()
}

fn open_copy(version: u8) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir(version)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let engine = Engine::open(dir.path(), config(IoMode::Threads)).unwrap();
    (dir, engine)
}

#[test]
fn the_current_version_store_reads_back() {
    let current = cairn_engine::format::RECORD_VERSION;
    if std::env::var_os("CAIRN_WRITE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(fixture_dir(current));
        std::fs::create_dir_all(fixture_dir(current)).unwrap();
        write_fixture(&fixture_dir(current));
        std::fs::remove_file(fixture_dir(current).join("LOCK")).unwrap();
    }
    let (dir, engine) = open_copy(current);
    check_version_11_contents(&engine);
    // Version 4: commit records carry the segment's durable length when they were written.
    drop(engine);
    let stamped = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cairn"))
        .any(|segment| {
            let bytes = std::fs::read(segment).unwrap();
            (0..bytes.len() - 24).filter(|&i| &bytes[i..i + 4] == b"Crec" && bytes[i + 4] != 1).any(|i| {
                let header: &[u8; 24] = bytes[i..i + 24].try_into().unwrap();
                cairn_engine::format::decode_record_header(header)
                    .is_ok_and(|h| h.version >= 4 && h.durable_before > 64)
            })
        });
    assert!(stamped, "commit records are stamped with the durable length");
}

#[test]
fn a_version_10_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(10);
    check_version_10_contents(&engine);
    assert!(engine.head_bucket("replicas").is_err());
}

#[test]
fn a_version_9_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(9);
    check_version_9_contents(&engine);
    assert!(engine.outbox_entries("events/noticed", 10).is_empty());
}

#[test]
fn a_version_8_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(8);
    check_version_8_contents(&engine);
    assert!(engine.outboxes("").is_empty(), "a version 1 checkpoint has no outboxes");
}

#[test]
fn a_version_7_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(7);
    check_version_7_contents(&engine);
    assert!(engine.head_bucket("locked").is_err());
    assert!(!engine.mfa_delete("golden").unwrap(), "a version 7 checkpoint has no MFA delete");
}

#[test]
fn a_version_6_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(6);
    check_version_6_contents(&engine);
    assert!(engine.head_bucket("compacted").is_err());
    assert!(engine.recovery_report().checkpoint.is_none(), "a version 6 store has no checkpoint");
    let (space, recount) = engine.usage_check();
    assert_eq!(space, recount, "live bytes are counted on replay");
}

#[test]
fn a_version_5_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(5);
    check_version_5_contents(&engine);
    assert!(engine.head_bucket("sealed").is_err());
}

#[test]
fn a_version_4_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(4);
    check_version_3_contents(&engine);
    assert!(engine.head_bucket("configured").is_err());
}

#[test]
fn a_version_3_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(3);
    check_version_3_contents(&engine);
}

fn check_version_3_contents(engine: &Engine) {
    check_version_2_contents(engine);
    assert_eq!(engine.head_bucket("owned").unwrap().owner, OWNER);
    assert_eq!(engine.head_bucket("golden").unwrap().owner, "");
    assert_eq!(engine.head_object("owned", "summed", None).unwrap().1.checksum, Some(object_checksum()));
    let (_, parts) = engine.head_object("owned", "parts", None).unwrap();
    assert_eq!(parts.checksum, Some(composite_checksum()));
    let cairn_engine::Layout::Parts(layout) = &parts.layout else { panic!("parts expected") };
    assert_eq!(layout[0].checksum, Some(part_checksum()));
    let uploads =
        engine.list_uploads("owned", &cairn_engine::UploadQuery { max_uploads: 10, ..Default::default() }).unwrap();
    assert_eq!(uploads.entries().map(|u| u.checksum).collect::<Vec<_>>(), [Some(SPEC)]);
}

#[test]
fn a_version_2_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(2);
    check_version_2_contents(&engine);
    assert_eq!(engine.head_object("golden", "plain", None).unwrap().1.checksum, None);
}

fn check_version_2_contents(engine: &Engine) {
    check_version_1_contents(engine, &[("retagged".into(), "2".into())]);
    assert_eq!(engine.get_object_bytes("golden", "created-once", None).unwrap(), b"conditional");
}

#[test]
fn a_version_1_store_still_opens_and_reads_the_same() {
    let (_dir, engine) = open_copy(1);
    check_version_1_contents(&engine, &attributes().tags);
}

fn check_version_1_contents(engine: &Engine, plain_null_tags: &[(String, String)]) {
    assert_eq!(engine.recovery_report().truncated_tail, None);
    assert_eq!(engine.head_bucket("golden").unwrap().region, "eu-west-1");
    assert_eq!(&*engine.get_bucket_config("golden", "cors").unwrap().unwrap(), b"<CORSConfiguration/>");
    assert_eq!(engine.versioning("golden").unwrap(), VersioningState::Enabled);
    assert_eq!(engine.get_object_bytes("golden", "plain", None).unwrap(), b"version two");
    assert_eq!(engine.get_object_bytes("golden", "plain", Some(VersionId::Null)).unwrap(), b"version one");
    let null_attributes = &engine.head_object("golden", "plain", Some(VersionId::Null)).unwrap().1.attributes;
    assert_eq!(null_attributes.system, attributes().system);
    assert_eq!(null_attributes.user, attributes().user);
    assert_eq!(null_attributes.tags, plain_null_tags);
    assert_eq!(engine.get_object_bytes("golden", "binary", None).unwrap(), body(1, 5000));
    assert!(matches!(
        engine.get_object("golden", "gone", None, None),
        Err(cairn_engine::Error::NoSuchKey { delete_marker: Some(_) })
    ));
    let multi: Vec<u8> = (1..=3).flat_map(|n| body(n, 100)).collect();
    assert_eq!(engine.get_object_bytes("golden", "multi", None).unwrap(), multi);
    assert!(engine.head_object("golden", "multi", None).unwrap().1.etag().ends_with("-3\""));
    let uploads =
        engine.list_uploads("golden", &cairn_engine::UploadQuery { max_uploads: 10, ..Default::default() }).unwrap();
    assert_eq!(uploads.entries().map(|u| u.key.as_str()).collect::<Vec<_>>(), ["pending"]);
}
