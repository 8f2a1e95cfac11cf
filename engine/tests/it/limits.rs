//! Each S3 limit the engine enforces, at and just past the limit.

use cairn_engine::limits::*;
use cairn_engine::{Error, ListQuery, ObjectAttributes};

use crate::{open, put};

#[test]
fn key_length() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", &"k".repeat(KEY_BYTES_MAX), b"ok");
    assert!(matches!(
        engine.put_object("bkt", &"k".repeat(KEY_BYTES_MAX + 1), ObjectAttributes::default()),
        Err(Error::InvalidKey(_))
    ));
    // Multi-byte characters count in bytes.
    assert!(engine.put_object("bkt", &"é".repeat(KEY_BYTES_MAX / 2 + 1), ObjectAttributes::default()).is_err());
}

#[test]
fn user_metadata_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let with_user =
        |bytes: usize| ObjectAttributes { user: vec![("m".into(), "v".repeat(bytes - 1))], ..Default::default() };
    engine.put_object_bytes("bkt", "k", with_user(USER_METADATA_BYTES_MAX), b"").unwrap();
    assert!(matches!(
        engine.put_object("bkt", "k", with_user(USER_METADATA_BYTES_MAX + 1)),
        Err(Error::MetadataTooLarge { .. })
    ));
    let reserved =
        ObjectAttributes { user: vec![("\0website-redirect-location".into(), "/x".into())], ..Default::default() };
    assert!(matches!(engine.put_object("bkt", "k", reserved), Err(Error::InvalidArgument(_))), "a system field's name");
    let with_tags = |n: usize| ObjectAttributes {
        tags: (0..n).map(|i| (format!("t{i}"), "v".into())).collect(),
        ..Default::default()
    };
    engine.put_object_bytes("bkt", "k", with_tags(TAGS_MAX), b"").unwrap();
    assert!(matches!(engine.put_object("bkt", "k", with_tags(TAGS_MAX + 1)), Err(Error::InvalidTag(_))));
    assert!(matches!(engine.create_upload("bkt", "k", with_tags(TAGS_MAX + 1)), Err(Error::InvalidTag(_))));
}

#[test]
fn access_control_lists() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let with_acl = |bytes: usize| ObjectAttributes { acl: vec![b'a'; bytes], ..Default::default() };
    engine.put_object_bytes("bkt", "k", with_acl(ACL_BYTES_MAX), b"").unwrap();
    assert!(matches!(engine.put_object("bkt", "k", with_acl(ACL_BYTES_MAX + 1)), Err(Error::EntityTooLarge { .. })));
    assert!(matches!(engine.create_upload("bkt", "k", with_acl(ACL_BYTES_MAX + 1)), Err(Error::EntityTooLarge { .. })));
    engine.set_object_acl("bkt", "k", None, vec![b'b'; ACL_BYTES_MAX]).unwrap();
    assert!(matches!(
        engine.set_object_acl("bkt", "k", None, vec![b'b'; ACL_BYTES_MAX + 1]),
        Err(Error::EntityTooLarge { .. })
    ));
    let owner = |bytes: usize| ObjectAttributes { owner: "o".repeat(bytes), ..Default::default() };
    engine.put_object_bytes("bkt", "k", owner(OWNER_BYTES_MAX), b"").unwrap();
    assert!(matches!(engine.put_object("bkt", "k", owner(OWNER_BYTES_MAX + 1)), Err(Error::InvalidArgument(_))));
    let (_, info) = engine.head_object("bkt", "k", None).unwrap();
    assert_eq!(info.attributes.owner.len(), OWNER_BYTES_MAX);
}

#[test]
fn listing_pages_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let engine = engine.clone();
            scope.spawn(move || {
                for i in 0..(LIST_PAGE_ENTRIES_MAX / 8 + 1) {
                    put(&engine, "bkt", &format!("{t}-{i:04}"), b"");
                }
            });
        }
    });
    let page = engine.list_objects("bkt", &ListQuery { max_keys: usize::MAX, ..ListQuery::default() }).unwrap();
    assert_eq!(page.items.len(), LIST_PAGE_ENTRIES_MAX);
    assert!(page.is_truncated);
}

#[test]
fn bucket_config_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.put_bucket_config("bkt", "policy", &vec![b'x'; BUCKET_CONFIG_BYTES_MAX]).unwrap();
    assert!(matches!(
        engine.put_bucket_config("bkt", "policy", &vec![b'x'; BUCKET_CONFIG_BYTES_MAX + 1]),
        Err(Error::EntityTooLarge { .. })
    ));
    assert!(engine.put_bucket_config("bkt", &"n".repeat(BUCKET_CONFIG_NAME_BYTES_MAX + 1), b"").is_err());
    for i in 1..BUCKET_CONFIGS_MAX {
        engine.put_bucket_config("bkt", &format!("c{i}"), b"").unwrap();
    }
    assert!(engine.put_bucket_config("bkt", "one-too-many", b"").is_err());
    engine.put_bucket_config("bkt", "c1", b"replacing is fine").unwrap();
}

#[test]
fn config_bounds_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let small = cairn_engine::EngineConfig { segment_bytes: SEGMENT_BYTES_MIN - 1, ..Default::default() };
    assert!(matches!(cairn_engine::Engine::open(dir.path(), small), Err(Error::InvalidConfig(_))));
    let large = cairn_engine::EngineConfig { segment_bytes: SEGMENT_BYTES_MAX + 1, ..Default::default() };
    assert!(matches!(cairn_engine::Engine::open(dir.path(), large), Err(Error::InvalidConfig(_))));
}

/// Runs `count` operations on 16 threads; `op(i)` must succeed.
fn in_parallel(count: usize, op: impl Fn(usize) + Sync) {
    std::thread::scope(|scope| {
        for thread in 0..16 {
            let op = &op;
            scope.spawn(move || (thread..count).step_by(16).for_each(op));
        }
    });
}

#[test]
fn buckets_per_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    in_parallel(BUCKETS_MAX, |i| engine.create_bucket(&format!("bucket-{i:05}"), "us-east-1").unwrap());
    assert!(matches!(engine.create_bucket("one-too-many", "us-east-1"), Err(Error::TooManyBuckets { .. })));
    engine.delete_bucket("bucket-00000").unwrap();
    engine.create_bucket("one-too-many", "us-east-1").unwrap();
}

#[test]
fn versions_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.set_versioning("bkt", cairn_engine::VersioningState::Enabled).unwrap();
    in_parallel(VERSIONS_PER_KEY_MAX, |_| drop(put(&engine, "bkt", "k", b"")));
    let error = engine.put_object_bytes("bkt", "k", ObjectAttributes::default(), b"").unwrap_err();
    assert!(matches!(error, Error::TooManyVersions { .. }), "{error:?}");
    assert!(matches!(engine.delete_object("bkt", "k", None), Err(Error::TooManyVersions { .. })));
    // Deleting a version makes room again.
    let (newest, _) = engine.head_object("bkt", "k", None).unwrap();
    engine.delete_object("bkt", "k", Some(newest.id)).unwrap();
    put(&engine, "bkt", "k", b"fits");
}

#[test]
fn uploads_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    in_parallel(UPLOADS_PER_BUCKET_MAX, |i| {
        engine.create_upload("bkt", &format!("k{i}"), ObjectAttributes::default()).unwrap();
    });
    assert!(matches!(engine.create_upload("bkt", "k", ObjectAttributes::default()), Err(Error::TooManyUploads { .. })));
}

#[test]
fn unsynced_bytes_stay_within_the_torn_write_window() {
    // A long body with no commit yet: the writer must still sync before the unsynced tail
    // outgrows what recovery treats as a possibly torn write.
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let syncs_before = engine.log_stats().syncs;
    let mut writer = engine.put_object("bkt", "big", ObjectAttributes::default()).unwrap();
    // Bytes that do not compress, so what is unsynced is what was written.
    let chunk = crate::body(7, 1024 * 1024);
    let total = UNSYNCED_BYTES_MAX as usize * 2;
    for _ in 0..total / chunk.len() {
        writer.write(&chunk).unwrap();
    }
    let syncs = engine.log_stats().syncs - syncs_before;
    assert!(syncs as usize >= total / (UNSYNCED_BYTES_MAX as usize / 2) - 1, "{syncs} syncs for {total} bytes");
    writer.finish().unwrap();
}

#[test]
fn completed_uploads_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let total = COMPLETED_UPLOADS_REMEMBERED_MAX + 1;
    let uploads: Vec<_> = (0..total)
        .map(|i| engine.create_upload("bkt", &format!("k{i}"), ObjectAttributes::default()).unwrap())
        .collect();
    let part = |i: usize| {
        let mut writer = engine.upload_part("bkt", &format!("k{i}"), uploads[i], 1).unwrap();
        writer.write(b"p").unwrap();
        cairn_engine::CompletedPart { number: 1, etag_md5: writer.finish().unwrap() }
    };
    let parts: Vec<_> = (0..total).map(part).collect();
    // Completed in order, so the first is the one forgotten.
    for i in 0..total {
        engine.complete_upload("bkt", &format!("k{i}"), uploads[i], &[parts[i]]).unwrap();
    }
    let again = |i: usize| engine.complete_upload("bkt", &format!("k{i}"), uploads[i], &[parts[i]]);
    assert!(matches!(again(0), Err(Error::NoSuchUpload)));
    again(1).unwrap();
    again(total - 1).unwrap();
}
