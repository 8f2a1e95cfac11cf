//! S3 versioning semantics: unversioned, enabled, suspended, null versions, delete markers.

use cairn_engine::{Error, VersionId, VersionQuery, VersioningState};

use crate::{open, put};

fn versions(engine: &cairn_engine::Engine, key: &str) -> Vec<(VersionId, bool, bool)> {
    let query = VersionQuery { prefix: key.to_owned(), max_keys: 1000, ..VersionQuery::default() };
    engine
        .list_versions("bkt", &query)
        .unwrap()
        .entries()
        .filter(|e| e.key == key)
        .map(|e| (e.version.id, e.version.is_delete_marker(), e.is_latest))
        .collect()
}

#[test]
fn enabled_bucket_keeps_every_version_and_delete_adds_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "k", b"null-one");
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    let v1 = put(&engine, "bkt", "k", b"one").version;
    let v2 = put(&engine, "bkt", "k", b"two").version;
    assert!(matches!(v1, VersionId::Id(_)) && matches!(v2, VersionId::Id(_)) && v1 != v2);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"two");
    assert_eq!(engine.get_object_bytes("bkt", "k", Some(v1)).unwrap(), b"one");
    assert_eq!(engine.get_object_bytes("bkt", "k", Some(VersionId::Null)).unwrap(), b"null-one");

    let deleted = engine.delete_object("bkt", "k", None).unwrap();
    assert!(deleted.delete_marker);
    let marker = deleted.version.unwrap();
    assert!(
        matches!(engine.get_object("bkt", "k", None, None), Err(Error::NoSuchKey { delete_marker: Some(m) }) if m == marker)
    );
    assert!(matches!(engine.head_object("bkt", "k", Some(marker)), Err(Error::VersionIsDeleteMarker { .. })));
    assert_eq!(
        versions(&engine, "k"),
        [(marker, true, true), (v2, false, false), (v1, false, false), (VersionId::Null, false, false)]
    );
    // Deleting the marker by id brings the previous version back.
    let removed = engine.delete_object("bkt", "k", Some(marker)).unwrap();
    assert!(removed.delete_marker);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"two");
    // Deleting the newest version makes the previous one current.
    engine.delete_object("bkt", "k", Some(v2)).unwrap();
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"one");
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    assert_eq!(versions(&engine, "k"), [(v1, false, true), (VersionId::Null, false, false)]);
}

#[test]
fn suspended_bucket_replaces_the_null_version() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    let v1 = put(&engine, "bkt", "k", b"one").version;
    engine.set_versioning("bkt", VersioningState::Suspended).unwrap();
    assert_eq!(put(&engine, "bkt", "k", b"null-a").version, VersionId::Null);
    assert_eq!(put(&engine, "bkt", "k", b"null-b").version, VersionId::Null);
    assert_eq!(versions(&engine, "k"), [(VersionId::Null, false, true), (v1, false, false)]);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"null-b");
    // A delete in a suspended bucket makes a null delete marker, replacing the null version.
    let deleted = engine.delete_object("bkt", "k", None).unwrap();
    assert_eq!(deleted.version, Some(VersionId::Null));
    assert!(deleted.delete_marker);
    assert_eq!(versions(&engine, "k"), [(VersionId::Null, true, true), (v1, false, false)]);
    assert!(matches!(engine.set_versioning("bkt", VersioningState::Unversioned), Err(Error::InvalidArgument(_))));
    assert_eq!(engine.versioning("bkt").unwrap(), VersioningState::Suspended);
}

#[test]
fn unversioned_delete_removes_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "k", b"x");
    put(&engine, "bkt", "k", b"y");
    assert_eq!(versions(&engine, "k"), [(VersionId::Null, false, true)]);
    let outcome = engine.delete_object("bkt", "k", None).unwrap();
    assert_eq!(outcome.version, Some(VersionId::Null));
    assert!(versions(&engine, "k").is_empty());
    // Deleting what is not there succeeds and does nothing, as in S3.
    assert_eq!(engine.delete_object("bkt", "k", None).unwrap().version, None);
    engine.delete_bucket("bkt").unwrap();
}
