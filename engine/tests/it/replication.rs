//! Replicas (versions that keep their source's id and time), replication statuses, and the
//! notices of deletes: what the server's replication builds on.

use cairn_engine::{
    CompletedPart, Engine, Error, IoMode, Notice, ObjectAttributes, PutCondition, Replica, ReplicationStatus,
    VersionId, VersioningState, WriteExtras, limits,
};

use crate::open;

/// A source version's id far from the seqs a small test store reaches.
const SOURCE_VERSION: u64 = 0x0100_0000_0000_0007;
const SOURCE_TIME_MS: u64 = 1_700_000_000_123;

fn versioned(engine: &Engine, bucket: &str) {
    engine.create_bucket(bucket, "eu-west-1").unwrap();
    engine.set_versioning(bucket, VersioningState::Enabled).unwrap();
}

fn put_replica(engine: &Engine, bucket: &str, key: &str, version: u64, body: &[u8]) -> cairn_engine::Result<VersionId> {
    let mut writer = engine.put_object(bucket, key, ObjectAttributes::default())?;
    writer.set_replica(Replica { version, last_modified_ms: SOURCE_TIME_MS });
    writer.write(body)?;
    writer.finish().map(|outcome| outcome.version)
}

/// Every version id of a bucket, newest first per key.
fn version_ids(engine: &Engine, bucket: &str) -> Vec<VersionId> {
    let query = cairn_engine::VersionQuery { max_keys: 1000, ..Default::default() };
    let page = engine.list_versions(bucket, &query).unwrap();
    page.items
        .iter()
        .filter_map(|item| match item {
            cairn_engine::ListItem::Entry(entry) => Some(entry.version.id),
            cairn_engine::ListItem::CommonPrefix(_) => None,
        })
        .collect()
}

fn replica_marker(engine: &Engine, bucket: &str, key: &str, version: u64) -> cairn_engine::Result<Option<VersionId>> {
    let extras =
        WriteExtras { replica: Some(Replica { version, last_modified_ms: SOURCE_TIME_MS }), ..Default::default() };
    engine.delete_object_with(bucket, key, None, false, extras).map(|outcome| outcome.version)
}

#[test]
fn a_replica_keeps_its_sources_version_id_time_and_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    versioned(&engine, "dst");
    let id = put_replica(&engine, "dst", "k", SOURCE_VERSION, b"first copy").unwrap();
    assert_eq!(id, VersionId::Id(SOURCE_VERSION));
    let (found, info) = engine.head_object("dst", "k", Some(id)).unwrap();
    assert_eq!(info.last_modified_ms, SOURCE_TIME_MS);
    assert_eq!(info.attributes.replication, Some(ReplicationStatus::Replica));
    assert_ne!(found.seq, SOURCE_VERSION, "the record's seq is the store's own");

    // Sent again (a delivery retried after a crash): the version is there, unchanged.
    assert_eq!(put_replica(&engine, "dst", "k", SOURCE_VERSION, b"second copy").unwrap(), id);
    assert_eq!(engine.get_object_bytes("dst", "k", Some(id)).unwrap(), b"first copy");
    assert_eq!(version_ids(&engine, "dst").len(), 1);

    // The store's own writes go on top, and the replica's delete marker keeps its id too.
    let own = crate::put(&engine, "dst", "k", b"local").version;
    assert_eq!(
        replica_marker(&engine, "dst", "k", SOURCE_VERSION + 1).unwrap(),
        Some(VersionId::Id(SOURCE_VERSION + 1))
    );
    assert_eq!(replica_marker(&engine, "dst", "k", SOURCE_VERSION + 1).unwrap(), None, "made once");
    assert_eq!(version_ids(&engine, "dst"), [VersionId::Id(SOURCE_VERSION + 1), own, id], "newest first, by arrival");
    assert!(matches!(
        engine.head_object("dst", "k", None),
        Err(Error::NoSuchKey { delete_marker: Some(VersionId::Id(v)) }) if v == SOURCE_VERSION + 1
    ));

    // Replayed the same.
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    let (_, info) = engine.head_object("dst", "k", Some(id)).unwrap();
    assert_eq!(
        (info.last_modified_ms, info.attributes.replication),
        (SOURCE_TIME_MS, Some(ReplicationStatus::Replica))
    );
    engine.checkpoint().unwrap();
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.get_object_bytes("dst", "k", Some(id)).unwrap(), b"first copy");
    assert_eq!(version_ids(&engine, "dst").len(), 3);
}

#[test]
fn a_replica_needs_versioning_and_a_free_version_id() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("plain", "eu-west-1").unwrap();
    assert!(matches!(put_replica(&engine, "plain", "k", SOURCE_VERSION, b"x"), Err(Error::InvalidBucketState(_))));
    assert!(matches!(replica_marker(&engine, "plain", "k", SOURCE_VERSION), Err(Error::InvalidBucketState(_))));
    engine.set_versioning("plain", VersioningState::Suspended).unwrap();
    assert!(matches!(put_replica(&engine, "plain", "k", SOURCE_VERSION, b"x"), Err(Error::InvalidBucketState(_))));

    // A replica whose id a version of this store has, or a marker whose id an object has.
    versioned(&engine, "dst");
    let own = crate::put(&engine, "dst", "k", b"local").version;
    let VersionId::Id(own_id) = own else { unreachable!() };
    assert!(
        matches!(put_replica(&engine, "dst", "k", own_id, b"x"), Err(Error::VersionIdTaken { version }) if version == own)
    );
    assert!(matches!(replica_marker(&engine, "dst", "k", own_id), Err(Error::VersionIdTaken { .. })));
    assert_eq!(engine.get_object_bytes("dst", "k", None).unwrap(), b"local");

    // Replicas that took ids this store's later writes get: those writes are refused (a
    // retry gets another seq), and no two versions ever share an id.
    let base = engine.head_object("dst", "k", None).unwrap().0.seq;
    let (first, last) = (base + 300, base + 340);
    for id in first..=last {
        put_replica(&engine, "dst", "taken", id, b"replica").unwrap();
    }
    let (mut refused, mut written) = (0, Vec::new());
    for _ in 0..2 * last {
        match engine.put_object_bytes("dst", "taken", ObjectAttributes::default(), b"local") {
            Ok(outcome) => written.push(outcome.version),
            Err(Error::VersionIdTaken { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
        if written.last().is_some_and(|v| *v > VersionId::Id(last)) {
            break;
        }
    }
    assert!(refused > 0, "a write met a replica's id");
    assert!(written.last().is_some_and(|v| *v > VersionId::Id(last)));
    let ids = version_ids(&engine, "dst");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no two versions share an id");
    assert!(written.iter().all(|v| ids.contains(v)));
}

#[test]
fn a_replication_status_is_set_durably() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    versioned(&engine, "src");
    let pending = ObjectAttributes { replication: Some(ReplicationStatus::Pending), ..Default::default() };
    let version = engine.put_object_bytes("src", "k", pending, b"body").unwrap().version;
    assert_eq!(
        engine.head_object("src", "k", None).unwrap().1.attributes.replication,
        Some(ReplicationStatus::Pending)
    );
    engine.set_replication_status("src", "k", version, ReplicationStatus::Completed).unwrap();
    assert!(matches!(
        engine.set_replication_status("src", "gone", version, ReplicationStatus::Failed),
        Err(Error::NoSuchKey { .. } | Error::NoSuchVersion)
    ));
    let (_, info) = engine.head_object("src", "k", Some(version)).unwrap();
    assert_eq!(info.attributes.replication, Some(ReplicationStatus::Completed));
    assert!(info.attributes.user.is_empty(), "the status is not user metadata");
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(
        engine.head_object("src", "k", None).unwrap().1.attributes.replication,
        Some(ReplicationStatus::Completed)
    );
    engine.set_replication_status("src", "k", version, ReplicationStatus::Failed).unwrap();
    engine.checkpoint().unwrap();
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.head_object("src", "k", None).unwrap().1.attributes.replication, Some(ReplicationStatus::Failed));
}

#[test]
fn a_write_carries_several_notices_and_a_delete_marker_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    versioned(&engine, "src");
    let notice = |outbox: &str| Notice { outbox: outbox.into(), payload: b"entry".to_vec() };
    let mut writer = engine.put_object("src", "k", ObjectAttributes::default()).unwrap();
    writer.add_notice(notice("events/a")).unwrap();
    writer.add_notice(notice("replication/a")).unwrap();
    writer.write(b"body").unwrap();
    let put = writer.finish().unwrap();
    let line = format!("{} 4 {}\nentry", put.version, put.etag.trim_matches('"'));
    for outbox in ["events/a", "replication/a"] {
        assert_eq!(&*engine.outbox_entries(outbox, 10)[0].1, line.as_bytes(), "{outbox}");
    }
    let mut writer = engine.put_object("src", "k", ObjectAttributes::default()).unwrap();
    for n in 0..limits::NOTICES_MAX {
        writer.add_notice(notice(&format!("events/{n}"))).unwrap();
    }
    assert!(matches!(writer.add_notice(notice("events/more")), Err(Error::InvalidArgument(_))));
    drop(writer);

    // A delete marker's entry: its id, size 0 and no ETag.
    let extras = WriteExtras { notices: vec![notice("replication/a")], ..Default::default() };
    let deleted = engine.delete_object_with("src", "k", None, false, extras.clone()).unwrap();
    let marker = deleted.version.unwrap();
    let entries = engine.outbox_entries("replication/a", 10);
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[1].0, &*entries[1].1), (deleted.seq, format!("{marker} 0 -\nentry").as_bytes()));
    // A delete of a version carries none; a delete that deletes nothing makes none.
    assert!(matches!(
        engine.delete_object_with("src", "k", Some(put.version), false, extras.clone()),
        Err(Error::InvalidArgument(_))
    ));
    engine.create_bucket("plain", "eu-west-1").unwrap();
    let nothing = engine.delete_object_with("plain", "absent", None, false, extras).unwrap();
    assert_eq!(nothing.version, None);
    assert_eq!(engine.outbox_entries("replication/a", 10).len(), 2);
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.outbox_entries("replication/a", 10).len(), 2, "replayed");
    assert_eq!(engine.outbox_entries("events/0", 10).len(), 0, "the dropped writer made none");
}

#[test]
fn a_completion_makes_a_replica_of_a_multipart_source() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    versioned(&engine, "dst");
    let upload = engine.create_upload("dst", "big", ObjectAttributes::default()).unwrap();
    let parts: Vec<CompletedPart> = (1..=2)
        .map(|number| {
            let mut part = engine.upload_part("dst", "big", upload, number).unwrap();
            part.write(&crate::body(u64::from(number), 6 << 20)).unwrap();
            CompletedPart { number, etag_md5: part.finish().unwrap() }
        })
        .collect();
    let replica = Replica { version: SOURCE_VERSION, last_modified_ms: SOURCE_TIME_MS };
    let extras = WriteExtras { replica: Some(replica), ..Default::default() };
    let done =
        engine.complete_upload_with("dst", "big", upload, &parts, PutCondition::None, extras, |_, _| Ok(None)).unwrap();
    assert_eq!(done.version, VersionId::Id(SOURCE_VERSION));
    assert!(done.etag.ends_with("-2\""));
    let (_, info) = engine.head_object("dst", "big", None).unwrap();
    assert_eq!(info.last_modified_ms, SOURCE_TIME_MS);
    assert_eq!(info.size, 12 << 20);
    assert_eq!(info.attributes.replication, Some(ReplicationStatus::Replica));

    // A source's completion and put are PENDING when their writers say so.
    let upload = engine.create_upload("dst", "source", ObjectAttributes::default()).unwrap();
    let mut part = engine.upload_part("dst", "source", upload, 1).unwrap();
    part.write(b"one part").unwrap();
    let parts = [CompletedPart { number: 1, etag_md5: part.finish().unwrap() }];
    let extras = WriteExtras { status: Some(ReplicationStatus::Pending), ..Default::default() };
    engine.complete_upload_with("dst", "source", upload, &parts, PutCondition::None, extras, |_, _| Ok(None)).unwrap();
    let mut writer = engine.put_object("dst", "put", ObjectAttributes::default()).unwrap();
    writer.set_replication_status(ReplicationStatus::Pending);
    writer.finish().unwrap();
    for key in ["source", "put"] {
        let status = engine.head_object("dst", key, None).unwrap().1.attributes.replication;
        assert_eq!(status, Some(ReplicationStatus::Pending), "{key}");
    }
}
