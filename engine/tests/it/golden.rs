//! A store written by format version 1, committed as a fixture: every later version must still
//! open it and read the same contents. Regenerate (only with a format version bump) with
//! `CAIRN_WRITE_GOLDEN=1 cargo test -p cairn-engine --test it golden`.

use std::path::{Path, PathBuf};

use cairn_engine::{CompletedPart, Engine, IoMode, ObjectAttributes, SystemMetadata, VersionId, VersioningState};

use crate::{body, config};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1")
}

fn attributes() -> ObjectAttributes {
    ObjectAttributes {
        system: SystemMetadata { content_type: Some("text/plain".into()), ..SystemMetadata::default() },
        user: vec![("origin".into(), "golden".into())],
        tags: vec![("format".into(), "1".into())],
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
}

#[test]
fn a_version_1_store_still_opens_and_reads_the_same() {
    if std::env::var_os("CAIRN_WRITE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(fixture_dir());
        std::fs::create_dir_all(fixture_dir()).unwrap();
        write_fixture(&fixture_dir());
        std::fs::remove_file(fixture_dir().join("LOCK")).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let engine = Engine::open(dir.path(), config(IoMode::Threads)).unwrap();
    assert_eq!(engine.recovery_report().truncated_tail, None);
    assert_eq!(engine.head_bucket("golden").unwrap().region, "eu-west-1");
    assert_eq!(&*engine.get_bucket_config("golden", "cors").unwrap().unwrap(), b"<CORSConfiguration/>");
    assert_eq!(engine.versioning("golden").unwrap(), VersioningState::Enabled);
    assert_eq!(engine.get_object_bytes("golden", "plain", None).unwrap(), b"version two");
    assert_eq!(engine.get_object_bytes("golden", "plain", Some(VersionId::Null)).unwrap(), b"version one");
    assert_eq!(engine.head_object("golden", "plain", Some(VersionId::Null)).unwrap().1.attributes, attributes());
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
