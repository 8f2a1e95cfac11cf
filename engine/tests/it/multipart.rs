//! Multipart uploads: parts, re-uploads, completion without copies, errors, listings.

use cairn_engine::{CompletedPart, Error, ObjectAttributes, UploadQuery, VersionId};

use crate::{body, md5_hex, open};

fn upload_part(
    engine: &cairn_engine::Engine,
    key: &str,
    upload: cairn_engine::UploadId,
    number: u32,
    data: &[u8],
) -> [u8; 16] {
    let mut writer = engine.upload_part("bkt", key, upload, number).unwrap();
    writer.write(data).unwrap();
    writer.finish().unwrap()
}

#[test]
fn complete_assembles_parts_and_computes_the_s3_etag() {
    for io in crate::BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), io);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        let upload = engine.create_upload("bkt", "big", ObjectAttributes::default()).unwrap();
        let parts: Vec<Vec<u8>> = vec![body(1, 1024 * 1024 + 7), body(2, 300), body(3, 2 * 1024 * 1024), body(4, 5)];
        let mut completed = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let etag = upload_part(&engine, "big", upload, i as u32 + 1, data);
            assert_eq!(cairn_engine::hex(&etag), md5_hex(data));
            completed.push(CompletedPart { number: i as u32 + 1, etag_md5: etag });
        }
        // Re-uploading part 2 replaces it.
        let replacement = body(22, 400);
        completed[1].etag_md5 = upload_part(&engine, "big", upload, 2, &replacement);
        let listed = engine.list_parts("bkt", "big", upload, 0, 1000).unwrap();
        assert_eq!(listed.parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(listed.parts[1].size, 400);

        let outcome = engine.complete_upload("bkt", "big", upload, &completed).unwrap();
        let mut md5s = Vec::new();
        for part in &completed {
            md5s.extend_from_slice(&part.etag_md5);
        }
        assert_eq!(outcome.etag, format!("\"{}-4\"", md5_hex(&md5s)));
        let expected: Vec<u8> = [&parts[0][..], &replacement, &parts[2], &parts[3]].concat();
        assert_eq!(engine.get_object_bytes("bkt", "big", None).unwrap(), expected);
        let (_, info) = engine.head_object("bkt", "big", None).unwrap();
        assert_eq!(info.etag(), outcome.etag);
        assert_eq!(info.parts_count(), Some(4));
        assert_eq!(info.part_range(2), Some((parts[0].len() as u64, parts[0].len() as u64 + 400)));
        // Ranges inside and across parts.
        let start = parts[0].len() as u64 - 3;
        let reader = engine
            .get_object(
                "bkt",
                "big",
                None,
                Some(cairn_engine::ByteRange::From { first: start, last: Some(start + 10) }),
            )
            .unwrap();
        let got: Vec<u8> = reader.flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(got, &expected[start as usize..start as usize + 11]);
        // The upload is gone.
        assert!(matches!(engine.list_parts("bkt", "big", upload, 0, 10), Err(Error::NoSuchUpload)));
        drop(engine);
        let engine = open(dir.path(), io);
        assert_eq!(engine.get_object_bytes("bkt", "big", None).unwrap(), expected);
        assert_eq!(engine.head_object("bkt", "big", None).unwrap().1.etag(), outcome.etag);
    }
}

#[test]
fn completion_errors_match_s3() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let upload = engine.create_upload("bkt", "k", ObjectAttributes::default()).unwrap();
    let e1 = upload_part(&engine, "k", upload, 1, &body(1, 100));
    let e2 = upload_part(&engine, "k", upload, 2, &body(2, 8)); // below the test minimum of 16
    let e3 = upload_part(&engine, "k", upload, 3, &body(3, 100));
    let part = |number, etag_md5| CompletedPart { number, etag_md5 };
    assert!(matches!(
        engine.complete_upload("bkt", "k", upload, &[part(2, e2), part(1, e1)]),
        Err(Error::InvalidPartOrder)
    ));
    // A number listed twice in a row is not out of order: see
    // `a_part_number_listed_twice_is_decided_by_its_last_entry`.
    assert!(matches!(
        engine.complete_upload("bkt", "k", upload, &[part(1, e2)]),
        Err(Error::InvalidPart { part_number: 1 })
    ));
    assert!(matches!(
        engine.complete_upload("bkt", "k", upload, &[part(4, e1)]),
        Err(Error::InvalidPart { part_number: 4 })
    ));
    assert!(matches!(
        engine.complete_upload("bkt", "k", upload, &[part(1, e1), part(2, e2), part(3, e3)]),
        Err(Error::EntityTooSmall { part_number: 2, .. })
    ));
    assert!(matches!(engine.complete_upload("bkt", "other", upload, &[part(1, e1)]), Err(Error::NoSuchUpload)));
    assert!(matches!(engine.upload_part("bkt", "k", upload, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.upload_part("bkt", "k", upload, 10_001), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.delete_bucket("bkt"), Err(Error::BucketNotEmpty(_))));
    // A small last part is fine; skipping part 2 is fine.
    let outcome = engine.complete_upload("bkt", "k", upload, &[part(1, e1), part(3, e3)]).unwrap();
    assert_eq!(outcome.version, VersionId::Null);
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), [body(1, 100), body(3, 100)].concat());
}

#[test]
fn abort_and_list_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Uring);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let a1 = engine.create_upload("bkt", "a", ObjectAttributes::default()).unwrap();
    let a2 = engine.create_upload("bkt", "a", ObjectAttributes::default()).unwrap();
    let c = engine.create_upload("bkt", "dir/c", ObjectAttributes::default()).unwrap();
    let all = engine.list_uploads("bkt", &UploadQuery { max_uploads: 1000, ..UploadQuery::default() }).unwrap();
    let ids: Vec<_> = all.entries().map(|u| (u.key.clone(), u.upload)).collect();
    assert_eq!(ids, [("a".to_owned(), a1), ("a".to_owned(), a2), ("dir/c".to_owned(), c)]);
    let page = engine
        .list_uploads(
            "bkt",
            &UploadQuery {
                key_marker: Some("a".into()),
                upload_marker: Some(a1),
                max_uploads: 1,
                ..UploadQuery::default()
            },
        )
        .unwrap();
    assert_eq!(page.entries().map(|u| u.upload).collect::<Vec<_>>(), [a2]);
    assert!(page.is_truncated);
    let rolled = engine
        .list_uploads("bkt", &UploadQuery { delimiter: Some("/".into()), max_uploads: 1000, ..UploadQuery::default() })
        .unwrap();
    assert_eq!(rolled.common_prefixes().collect::<Vec<_>>(), ["dir/"]);
    upload_part(&engine, "a", a1, 1, b"data");
    engine.abort_upload("bkt", "a", a1).unwrap();
    assert!(matches!(engine.abort_upload("bkt", "a", a1), Err(Error::NoSuchUpload)));
    drop(engine);
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    let left = engine.list_uploads("bkt", &UploadQuery { max_uploads: 1000, ..UploadQuery::default() }).unwrap();
    assert_eq!(left.entries().map(|u| u.upload).collect::<Vec<_>>(), [a2, c]);
}

#[test]
fn a_completion_sent_again_answers_as_the_first_did_even_after_a_reopen() {
    for io in crate::BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), io);
        engine.create_bucket("bkt", "us-east-1").unwrap();
        let upload = engine.create_upload("bkt", "k", ObjectAttributes::default()).unwrap();
        let parts = [body(1, 64), body(2, 10)];
        let completed: Vec<CompletedPart> = parts
            .iter()
            .enumerate()
            .map(|(i, data)| CompletedPart {
                number: i as u32 + 1,
                etag_md5: upload_part(&engine, "k", upload, i as u32 + 1, data),
            })
            .collect();
        let first = engine.complete_upload("bkt", "k", upload, &completed).unwrap();
        assert_eq!(engine.complete_upload("bkt", "k", upload, &completed).unwrap(), first);
        assert!(matches!(engine.complete_upload("bkt", "other", upload, &completed), Err(Error::NoSuchUpload)));
        assert!(matches!(engine.list_parts("bkt", "k", upload, 0, 10), Err(Error::NoSuchUpload)));
        drop(engine);
        // Replay rebuilds the memory of completed uploads.
        let engine = open(dir.path(), io);
        assert_eq!(engine.complete_upload("bkt", "k", upload, &completed).unwrap(), first);
        let versions = engine.list_versions("bkt", &cairn_engine::VersionQuery { max_keys: 10, ..Default::default() });
        assert_eq!(versions.unwrap().items.len(), 1, "answering again wrote nothing");
    }
}

#[test]
fn a_part_number_listed_twice_is_decided_by_its_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    let upload = engine.create_upload("bkt", "k", ObjectAttributes::default()).unwrap();
    let early = upload_part(&engine, "k", upload, 1, &body(1, 32));
    let late = upload_part(&engine, "k", upload, 1, &body(2, 32));
    let listed =
        |etags: &[[u8; 16]]| etags.iter().map(|&etag_md5| CompletedPart { number: 1, etag_md5 }).collect::<Vec<_>>();
    // The last entry names a part that was replaced: InvalidPart.
    let error = engine.complete_upload("bkt", "k", upload, &listed(&[late, early])).unwrap_err();
    assert!(matches!(error, Error::InvalidPart { part_number: 1 }), "{error:?}");
    engine.complete_upload("bkt", "k", upload, &listed(&[early, late])).unwrap();
    assert_eq!(engine.get_object_bytes("bkt", "k", None).unwrap(), body(2, 32));
}
