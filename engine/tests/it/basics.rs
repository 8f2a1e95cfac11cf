//! Buckets, objects, metadata, ranges, reopen: the plain paths, on both I/O backends.

use cairn_engine::{ByteRange, Error, ObjectAttributes, SystemMetadata, VersionId};

use crate::{BACKENDS, body, md5_hex, open, put};

#[test]
fn buckets_create_list_head_delete() {
    for io in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), io);
        engine.create_bucket("beta", "eu-west-1").unwrap();
        engine.create_bucket("alpha", "us-east-1").unwrap();
        assert!(matches!(engine.create_bucket("alpha", "us-east-1"), Err(Error::BucketAlreadyExists(_))));
        assert!(matches!(engine.create_bucket("Bad_Name", "us-east-1"), Err(Error::InvalidBucketName { .. })));
        let names: Vec<_> = engine.list_buckets().into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["alpha", "beta"]);
        assert_eq!(engine.head_bucket("beta").unwrap().region, "eu-west-1");
        put(&engine, "alpha", "k", b"v");
        assert!(matches!(engine.delete_bucket("alpha"), Err(Error::BucketNotEmpty(_))));
        engine.delete_object("alpha", "k", None).unwrap();
        engine.delete_bucket("alpha").unwrap();
        assert!(matches!(engine.head_bucket("alpha"), Err(Error::NoSuchBucket(_))));
        assert!(matches!(engine.delete_bucket("alpha"), Err(Error::NoSuchBucket(_))));
        engine.put_bucket_config("beta", "cors", b"<CORSConfiguration/>").unwrap();
        drop(engine);
        let engine = open(dir.path(), io);
        assert_eq!(engine.list_buckets().len(), 1);
        assert_eq!(&*engine.get_bucket_config("beta", "cors").unwrap().unwrap(), b"<CORSConfiguration/>");
        engine.delete_bucket_config("beta", "cors").unwrap();
        assert_eq!(engine.get_bucket_config("beta", "cors").unwrap(), None);
    }
}

#[test]
fn objects_round_trip_with_metadata_across_reopen() {
    for io in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), io);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        let attributes = ObjectAttributes {
            system: SystemMetadata {
                content_type: Some("text/plain".into()),
                cache_control: Some("max-age=60".into()),
                website_redirect_location: Some("/elsewhere.html".into()),
                ..SystemMetadata::default()
            },
            user: vec![("color".into(), "blue".into())],
            tags: vec![("team".into(), "storage".into())],
            ..ObjectAttributes::default()
        };
        let sizes = [0usize, 1, 4096, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 17];
        for (i, size) in sizes.iter().enumerate() {
            let data = body(i as u64, *size);
            let outcome = engine.put_object_bytes("bkt", &format!("obj{i}"), attributes.clone(), &data).unwrap();
            assert_eq!(outcome.etag, format!("\"{}\"", md5_hex(&data)));
            assert_eq!(outcome.version, VersionId::Null);
        }
        drop(engine);
        let engine = open(dir.path(), io);
        for (i, size) in sizes.iter().enumerate() {
            let key = format!("obj{i}");
            assert_eq!(engine.get_object_bytes("bkt", &key, None).unwrap(), body(i as u64, *size));
            let (_, info) = engine.head_object("bkt", &key, None).unwrap();
            assert_eq!(info.size, *size as u64);
            assert_eq!(info.attributes, attributes);
        }
        // And from a checkpoint, which carries the attributes in the same encoding.
        engine.checkpoint().unwrap();
        drop(engine);
        let engine = open(dir.path(), io);
        let (_, info) = engine.head_object("bkt", "obj0", None).unwrap();
        assert_eq!(info.attributes, attributes);
        assert!(info.attributes.user.iter().all(|(name, _)| !name.contains('\0')), "no system field as user metadata");
    }
}

#[test]
fn byte_ranges_cross_chunk_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let data = body(9, 2 * 1024 * 1024 + 100);
    put(&engine, "bkt", "k", &data);
    let size = data.len() as u64;
    let mib = 1024 * 1024u64;
    let cases = [
        (ByteRange::From { first: 0, last: Some(0) }, 0..1),
        (ByteRange::From { first: mib - 5, last: Some(mib + 5) }, (mib - 5) as usize..(mib + 6) as usize),
        (ByteRange::From { first: 2 * mib, last: None }, (2 * mib) as usize..data.len()),
        (ByteRange::From { first: 10, last: Some(size * 2) }, 10..data.len()),
        (ByteRange::Suffix(150), data.len() - 150..data.len()),
        (ByteRange::Suffix(size * 3), 0..data.len()),
    ];
    for (range, expected) in cases {
        let reader = engine.get_object("bkt", "k", None, Some(range)).unwrap();
        assert_eq!(reader.len(), expected.len() as u64, "{range:?}");
        let got: Vec<u8> = reader.flat_map(|chunk| chunk.unwrap().to_vec()).collect();
        assert_eq!(got, &data[expected], "{range:?}");
    }
    for bad in
        [ByteRange::From { first: size, last: None }, ByteRange::From { first: 5, last: Some(4) }, ByteRange::Suffix(0)]
    {
        assert!(matches!(engine.get_object("bkt", "k", None, Some(bad)), Err(Error::InvalidRange { .. })), "{bad:?}");
    }
}

#[test]
fn missing_things_have_their_own_errors() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    assert!(matches!(engine.put_object("nope", "k", ObjectAttributes::default()), Err(Error::NoSuchBucket(_))));
    engine.create_bucket("bkt", "us-east-1").unwrap();
    assert!(matches!(engine.get_object("bkt", "k", None, None), Err(Error::NoSuchKey { delete_marker: None })));
    assert!(matches!(engine.head_object("bkt", "k", Some(VersionId::Id(5))), Err(Error::NoSuchVersion)));
    assert!(matches!(engine.put_object("bkt", "", ObjectAttributes::default()), Err(Error::InvalidKey(_))));
}

#[test]
fn an_unfinished_put_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    put(&engine, "bkt", "k", b"old");
    let mut writer = engine.put_object("bkt", "k", ObjectAttributes::default()).unwrap();
    writer.write(&body(1, 3 * 1024 * 1024)).unwrap();
    drop(writer); // the client went away mid-body
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"old");
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), b"old");
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    std::thread::scope(|scope| {
        for thread in 0..16u64 {
            let engine = engine.clone();
            scope.spawn(move || {
                for i in 0..50u64 {
                    let data = body(thread * 1000 + i, 100 + i as usize);
                    put(&engine, "bkt", &format!("t{thread}/k{i}"), &data);
                }
            });
        }
    });
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    for thread in 0..16u64 {
        for i in 0..50u64 {
            let got = engine.get_object_bytes("bkt", &format!("t{thread}/k{i}"), None).unwrap();
            assert_eq!(got, body(thread * 1000 + i, 100 + i as usize));
        }
    }
}

#[test]
fn segments_rotate_and_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let config = cairn_engine::EngineConfig {
        segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
        ..crate::config(cairn_engine::IoMode::Uring)
    };
    let engine = cairn_engine::Engine::open(dir.path(), config.clone()).unwrap();
    engine.create_bucket("bkt", "us-east-1").unwrap();
    for i in 0..40u64 {
        put(&engine, "bkt", &format!("k{i}"), &body(i, 1024 * 1024 + 3));
    }
    assert!(engine.segment_count() >= 4, "{} segments", engine.segment_count());
    drop(engine);
    let engine = cairn_engine::Engine::open(dir.path(), config).unwrap();
    for i in 0..40u64 {
        assert_eq!(engine.get_object_bytes("bkt", &format!("k{i}"), None).unwrap(), body(i, 1024 * 1024 + 3));
    }
}

#[test]
fn a_second_process_cannot_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let _engine = open(dir.path(), cairn_engine::IoMode::Threads);
    assert!(matches!(
        cairn_engine::Engine::open(dir.path(), crate::config(cairn_engine::IoMode::Threads)),
        Err(Error::Locked { .. })
    ));
}
