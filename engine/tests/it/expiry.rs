//! Lifecycle changes in batches (`Engine::expire`): each applies only to what it was decided
//! from, Object Lock still refuses, and the batch size is limited.

use cairn_engine::{
    Error, Expiry, IoMode, OBJECT_LOCK_CONFIG, ObjectAttributes, ObjectLock, StorageClass, VersionId, VersioningState,
    limits,
};

use crate::{open, put};

#[test]
fn expiry_changes_apply_only_to_what_they_were_decided_from() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("plain", "us-east-1").unwrap();
    put(&engine, "plain", "old", b"old");
    put(&engine, "plain", "rewritten", b"first");
    let seq = |key: &str| engine.head_object("plain", key, None).unwrap().0.seq;
    let (old, first) = (seq("old"), seq("rewritten"));
    // A write after the decision: the expiry of the version it replaced must not delete it.
    put(&engine, "plain", "rewritten", b"second");
    let upload = engine.create_upload("plain", "pending", ObjectAttributes::default()).unwrap();
    let changes = [
        Expiry::Current { key: "old".into(), seq: old },
        Expiry::Current { key: "rewritten".into(), seq: first },
        Expiry::AbortUpload { upload },
        Expiry::Version { key: "missing".into(), version: VersionId::Null },
    ];
    let results = engine.expire("plain", &changes, 1).unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::PreconditionFailed)));
    assert!(results[2].is_ok());
    assert!(matches!(results[3], Err(Error::NoSuchVersion)));
    assert!(engine.head_object("plain", "old", None).is_err());
    assert_eq!(engine.get_object_bytes("plain", "rewritten", None).unwrap(), b"second");
    assert!(engine.list_parts("plain", "pending", upload, 0, 10).is_err(), "aborted");

    // Versioned: expiring the current version adds a marker; a noncurrent version goes for good,
    // unless Object Lock holds it; a transition moves the class in place.
    let config = vec![(OBJECT_LOCK_CONFIG.to_owned(), Vec::new())];
    engine.create_bucket_with("kept", "us-east-1", "", config).unwrap();
    let held = ObjectAttributes { lock: ObjectLock { retention: None, legal_hold: Some(true) }, ..Default::default() };
    let v1 = engine.put_object_bytes("kept", "k", held, b"one").unwrap().version;
    let v2 = put(&engine, "kept", "k", b"two").version;
    let current = engine.head_object("kept", "k", None).unwrap().0.seq;
    let changes = [
        Expiry::Transition { key: "k".into(), version: v2, class: StorageClass::Glacier },
        Expiry::Current { key: "k".into(), seq: current },
        Expiry::Version { key: "k".into(), version: v1 },
    ];
    let results = engine.expire("kept", &changes, 1).unwrap();
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(Error::ObjectLocked)));
    assert!(matches!(engine.head_object("kept", "k", None), Err(Error::NoSuchKey { delete_marker: Some(_) })));
    assert_eq!(engine.head_object("kept", "k", Some(v2)).unwrap().1.attributes.storage_class, StorageClass::Glacier);
    assert_eq!(engine.versioning("kept").unwrap(), VersioningState::Enabled);

    let too_many = vec![Expiry::AbortUpload { upload }; limits::EXPIRY_BATCH_MAX + 1];
    assert!(matches!(engine.expire("plain", &too_many, 1), Err(Error::InvalidArgument(_))));
    // And all of it is in the log.
    drop(engine);
    let engine = open(dir.path(), IoMode::Uring);
    assert_eq!(engine.get_object_bytes("plain", "rewritten", None).unwrap(), b"second");
    assert_eq!(engine.head_object("kept", "k", Some(v2)).unwrap().1.attributes.storage_class, StorageClass::Glacier);
    assert!(engine.head_object("kept", "k", Some(v1)).is_ok());
}
