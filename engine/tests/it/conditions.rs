//! Conditional writes and tag updates: checked when the record is applied, so they are atomic
//! with respect to every other write of the key, and survive reopening.

use cairn_engine::{CompletedPart, Error, IoMode, ObjectAttributes, PutCondition, VersionId, VersioningState};

use crate::{body, open, put};

fn put_if(engine: &cairn_engine::Engine, key: &str, data: &[u8], condition: PutCondition) -> Result<VersionId, Error> {
    let mut writer = engine.put_object("bkt", key, ObjectAttributes::default())?;
    writer.set_condition(condition);
    writer.write(data)?;
    writer.finish().map(|outcome| outcome.version)
}

#[test]
fn if_none_match_creates_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put_if(&engine, "k", b"first", PutCondition::IfNoneMatch).unwrap();
    assert!(matches!(put_if(&engine, "k", b"second", PutCondition::IfNoneMatch), Err(Error::PreconditionFailed)));
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"first");
    // Many writers race to create one key: exactly one wins.
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let engine = &engine;
                scope.spawn(move || put_if(engine, "race", &body(i, 100), PutCondition::IfNoneMatch).is_ok())
            })
            .collect();
        handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
    });
    assert_eq!(winners, 1);
    // A delete marker counts as no object.
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    engine.delete_object("bkt", "k", None).unwrap();
    put_if(&engine, "k", b"after the marker", PutCondition::IfNoneMatch).unwrap();
}

#[test]
fn if_match_needs_the_current_etag() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "k", b"one");
    let (_, info) = engine.head_object("bkt", "k", None).unwrap();
    let current = PutCondition::IfMatch { etag_md5: info.etag_md5, parts: 0 };
    put_if(&engine, "k", b"two", current).unwrap();
    assert!(matches!(put_if(&engine, "k", b"three", current), Err(Error::PreconditionFailed)), "the ETag moved on");
    // No object under the key: S3 answers 404, not 412.
    let missing = put_if(&engine, "missing", b"x", current);
    assert!(matches!(missing, Err(Error::NoSuchKey { delete_marker: None })), "{missing:?}");
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"two");
    // A completion can be conditional too; a refused one leaves the upload in place.
    let upload = engine.create_upload("bkt", "k", ObjectAttributes::default()).unwrap();
    let mut part = engine.upload_part("bkt", "k", upload, 1).unwrap();
    part.write(b"part").unwrap();
    let parts = [CompletedPart { number: 1, etag_md5: part.finish().unwrap() }];
    let refused = engine.complete_upload_if("bkt", "k", upload, &parts, PutCondition::IfNoneMatch);
    assert!(matches!(refused, Err(Error::PreconditionFailed)));
    engine.complete_upload("bkt", "k", upload, &parts).unwrap();
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"part");
}

#[test]
fn tags_change_in_place_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    let old = put(&engine, "bkt", "k", b"old").version;
    put(&engine, "bkt", "k", b"new");
    let tags = vec![("a".to_owned(), "1".to_owned())];
    engine.set_object_tags("bkt", "k", Some(old), tags.clone()).unwrap();
    let too_many: Vec<_> = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(matches!(engine.set_object_tags("bkt", "k", None, too_many), Err(Error::InvalidTag(_))));
    engine.delete_object("bkt", "k", None).unwrap();
    assert!(matches!(engine.set_object_tags("bkt", "k", None, Vec::new()), Err(Error::NoSuchKey { .. })));
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.head_object("bkt", "k", Some(old)).unwrap().1.attributes.tags, tags);
    assert_eq!(engine.get_object_bytes("bkt", "k", Some(old)).unwrap(), b"old");
}
