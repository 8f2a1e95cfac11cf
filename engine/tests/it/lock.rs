//! S3 Object Lock and MFA delete as the engine keeps them: what a lock refuses, what may change
//! it, the bucket rules around it, and that all of it survives a restart.

use cairn_engine::{
    Engine, Error, IoMode, LockChange, OBJECT_LOCK_CONFIG, ObjectAttributes, ObjectLock, Retention, RetentionMode,
    VersionId, VersioningState,
};

use crate::{open, put};

/// An hour from now, in Unix ms.
fn later() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 3_600_000
}

fn retention(mode: RetentionMode, until_ms: u64) -> Option<Retention> {
    Some(Retention { mode, until_ms })
}

fn locked_bucket(engine: &Engine) {
    let config = vec![(OBJECT_LOCK_CONFIG.to_owned(), b"default".to_vec())];
    engine.create_bucket_with("lkb", "us-east-1", "", config).unwrap();
}

fn put_locked(engine: &Engine, key: &str, lock: ObjectLock) -> VersionId {
    let attributes = ObjectAttributes { lock, ..ObjectAttributes::default() };
    engine.put_object_bytes("lkb", key, attributes, b"data").unwrap().version
}

#[test]
fn a_locked_version_cannot_be_deleted_until_its_retention_ends() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    locked_bucket(&engine);
    assert_eq!(engine.versioning("lkb").unwrap(), VersioningState::Enabled, "Object Lock versions the bucket");
    let compliance = put_locked(
        &engine,
        "c",
        ObjectLock { retention: retention(RetentionMode::Compliance, later()), legal_hold: None },
    );
    let governance = put_locked(
        &engine,
        "g",
        ObjectLock { retention: retention(RetentionMode::Governance, later()), legal_hold: None },
    );
    let held = put_locked(&engine, "h", ObjectLock { retention: None, legal_hold: Some(true) });
    let past =
        put_locked(&engine, "p", ObjectLock { retention: retention(RetentionMode::Compliance, 1), legal_hold: None });
    for bypass in [false, true] {
        assert!(matches!(
            engine.delete_object_with("lkb", "c", Some(compliance), bypass, Default::default()),
            Err(Error::ObjectLocked)
        ));
        assert!(matches!(
            engine.delete_object_with("lkb", "h", Some(held), bypass, Default::default()),
            Err(Error::ObjectLocked)
        ));
    }
    assert!(matches!(engine.delete_object("lkb", "g", Some(governance)), Err(Error::ObjectLocked)));
    // A delete without a version id only adds a marker: the locked version stays.
    assert!(engine.delete_object("lkb", "c", None).unwrap().delete_marker);
    assert_eq!(engine.get_object_bytes("lkb", "c", Some(compliance)).unwrap(), b"data");
    // Governance gives way to the bypass; a past retention protects nothing.
    engine.delete_object_with("lkb", "g", Some(governance), true, Default::default()).unwrap();
    engine.delete_object("lkb", "p", Some(past)).unwrap();
    // Lifting the legal hold frees the version.
    engine.set_object_lock("lkb", "h", Some(held), LockChange::LegalHold(false), false).unwrap();
    engine.delete_object("lkb", "h", Some(held)).unwrap();
    assert!(matches!(engine.head_object("lkb", "h", Some(held)), Err(Error::NoSuchVersion)));
}

#[test]
fn retention_may_be_extended_but_shortened_only_under_governance_with_the_bypass() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Threads);
    locked_bucket(&engine);
    let until = later();
    let set = |key: &str, new: Option<Retention>, bypass| {
        engine.set_object_lock("lkb", key, None, LockChange::Retention(new), bypass)
    };
    put_locked(&engine, "c", ObjectLock { retention: retention(RetentionMode::Compliance, until), legal_hold: None });
    for (new, bypass) in [
        (retention(RetentionMode::Compliance, until - 1), true),
        (retention(RetentionMode::Governance, until + 1), true),
        (None, true),
    ] {
        assert!(matches!(set("c", new, bypass), Err(Error::ObjectLocked)), "{new:?}");
    }
    set("c", retention(RetentionMode::Compliance, until + 1000), false).unwrap();

    put_locked(&engine, "g", ObjectLock { retention: retention(RetentionMode::Governance, until), legal_hold: None });
    assert!(matches!(set("g", retention(RetentionMode::Governance, until - 1), false), Err(Error::ObjectLocked)));
    assert!(matches!(set("g", None, false), Err(Error::ObjectLocked)));
    set("g", retention(RetentionMode::Governance, until + 1), false).unwrap();
    set("g", retention(RetentionMode::Governance, until - 1), true).unwrap();
    assert!(matches!(set("g", retention(RetentionMode::Compliance, until), false), Err(Error::ObjectLocked)));
    set("g", retention(RetentionMode::Compliance, until), true).unwrap();
    assert!(matches!(set("g", None, true), Err(Error::ObjectLocked)), "now compliance");
    let (_, info) = engine.head_object("lkb", "g", None).unwrap();
    assert_eq!(info.attributes.lock.retention, retention(RetentionMode::Compliance, until));
}

#[test]
fn object_lock_holds_the_bucket_to_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Threads);
    locked_bucket(&engine);
    assert!(matches!(engine.set_versioning("lkb", VersioningState::Suspended), Err(Error::InvalidBucketState(_))));
    assert!(matches!(engine.delete_bucket_config("lkb", OBJECT_LOCK_CONFIG), Err(Error::InvalidBucketState(_))));
    engine.put_bucket_config("lkb", OBJECT_LOCK_CONFIG, b"new default").unwrap();

    engine.create_bucket("plain", "us-east-1").unwrap();
    let lock = ObjectLock { retention: None, legal_hold: Some(true) };
    let attributes = ObjectAttributes { lock, ..ObjectAttributes::default() };
    assert!(matches!(
        engine.put_object_bytes("plain", "k", attributes.clone(), b"x"),
        Err(Error::InvalidBucketState(_))
    ));
    assert!(matches!(engine.create_upload("plain", "k", attributes), Err(Error::InvalidBucketState(_))));
    put(&engine, "plain", "k", b"x");
    assert!(matches!(
        engine.set_object_lock("plain", "k", None, LockChange::LegalHold(true), false),
        Err(Error::InvalidBucketState(_))
    ));
    // Enabling Object Lock on an existing bucket needs versioning on.
    assert!(matches!(engine.put_bucket_config("plain", OBJECT_LOCK_CONFIG, b"d"), Err(Error::InvalidBucketState(_))));
    engine.set_versioning("plain", VersioningState::Enabled).unwrap();
    engine.put_bucket_config("plain", OBJECT_LOCK_CONFIG, b"d").unwrap();
    assert!(engine.object_lock("plain").unwrap());
}

#[test]
fn locks_and_mfa_delete_survive_a_restart_and_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let until = later();
    let version = {
        let engine = open(dir.path(), IoMode::Uring);
        locked_bucket(&engine);
        engine.set_versioning_with("lkb", VersioningState::Enabled, Some(true)).unwrap();
        let version = put_locked(
            &engine,
            "k",
            ObjectLock { retention: retention(RetentionMode::Governance, until), legal_hold: None },
        );
        engine.set_object_lock("lkb", "k", None, LockChange::LegalHold(true), false).unwrap();
        version
    };
    for round in 0..2 {
        let engine = open(dir.path(), IoMode::Uring);
        let (_, info) = engine.head_object("lkb", "k", Some(version)).unwrap();
        let expected = ObjectLock { retention: retention(RetentionMode::Governance, until), legal_hold: Some(true) };
        assert_eq!(info.attributes.lock, expected, "round {round}");
        assert!(engine.mfa_delete("lkb").unwrap(), "round {round}");
        assert!(matches!(
            engine.delete_object_with("lkb", "k", Some(version), true, Default::default()),
            Err(Error::ObjectLocked)
        ));
        // The second round opens from this checkpoint.
        engine.checkpoint().unwrap();
    }
    let engine = open(dir.path(), IoMode::Uring);
    assert!(engine.recovery_report().checkpoint.is_some());
    // MFA delete stays as set when a versioning change does not name it.
    engine.set_versioning("lkb", VersioningState::Enabled).unwrap();
    assert!(engine.mfa_delete("lkb").unwrap());
    engine.set_versioning_with("lkb", VersioningState::Enabled, Some(false)).unwrap();
    assert!(!engine.mfa_delete("lkb").unwrap());
}
