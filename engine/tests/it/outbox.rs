//! Outboxes: durable queues of deliveries. Entries survive a restart (replayed from the log)
//! and a checkpoint (held in it), acks remove exactly what they name, and the limits refuse a
//! push as it applies.

use std::sync::Arc;

use cairn_engine::{Engine, Error, IoMode, limits};

use crate::open;

fn payloads(engine: &Engine, outbox: &str) -> Vec<Vec<u8>> {
    engine.outbox_entries(outbox, usize::MAX).into_iter().map(|(_, payload)| payload.to_vec()).collect()
}

#[test]
fn entries_survive_restarts_and_checkpoints_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    let first = engine.outbox_push("access-log/a", b"one").unwrap();
    let second = engine.outbox_push("access-log/a", b"two").unwrap();
    let third = engine.outbox_push("access-log/a", b"three").unwrap();
    engine.outbox_push("events/b", b"event").unwrap();
    assert!(first < second && second < third, "ids follow the log");
    let ids: Vec<u64> = engine.outbox_entries("access-log/a", 2).into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(ids, [first, second], "oldest first, at most the limit");
    engine.outbox_ack("access-log/a", first).unwrap();
    assert_eq!(payloads(&engine, "access-log/a"), [b"two".to_vec(), b"three".to_vec()]);
    drop(engine);

    // Replayed from the log.
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(payloads(&engine, "access-log/a"), [b"two".to_vec(), b"three".to_vec()]);
    assert_eq!(engine.outboxes("access-log/"), [("access-log/a".to_owned(), 2, 8)]);
    engine.checkpoint().unwrap();
    engine.outbox_ack("access-log/a", second).unwrap();
    drop(engine);

    // From the checkpoint, with the ack after it replayed.
    let engine = open(dir.path(), IoMode::Uring);
    assert_eq!(payloads(&engine, "access-log/a"), [b"three".to_vec()]);
    assert_eq!(payloads(&engine, "events/b"), [b"event".to_vec()]);
    engine.outbox_ack("access-log/a", u64::MAX).unwrap();
    engine.outbox_ack("never-pushed", 7).unwrap();
    assert!(engine.outboxes("access-log/").is_empty(), "an emptied outbox is gone");
    engine.checkpoint().unwrap();
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert!(engine.outboxes("").iter().map(|o| o.0.as_str()).eq(["events/b"]));
}

#[test]
fn outbox_limits_refuse_a_push_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    let name = "n".repeat(limits::OUTBOX_NAME_BYTES_MAX + 1);
    assert!(matches!(engine.outbox_push(&name, b"x"), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.outbox_push("", b"x"), Err(Error::InvalidArgument(_))));
    let too_big = vec![0u8; limits::OUTBOX_ENTRY_BYTES_MAX + 1];
    assert!(matches!(engine.outbox_push("big", &too_big), Err(Error::InvalidArgument(_))));

    // Bytes: full entries up to the total, then refused, the same way after a restart.
    let entry = vec![7u8; limits::OUTBOX_ENTRY_BYTES_MAX];
    let fit = (limits::OUTBOXES_BYTES_MAX / entry.len() as u64) as usize;
    for _ in 0..fit {
        engine.outbox_push("big", &entry).unwrap();
    }
    assert!(matches!(engine.outbox_push("big", &entry), Err(Error::OutboxFull { .. })));
    drop(engine);
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.outboxes("big")[0].1, fit);
    assert!(matches!(engine.outbox_push("other", &entry), Err(Error::OutboxFull { .. })));
    engine.create_bucket("still-writable", "us-east-1").unwrap();
    let (last, _) = engine.outbox_entries("big", limits::OUTBOX_READ_ENTRIES_MAX).pop().unwrap();
    engine.outbox_ack("big", last).unwrap();
    assert!(engine.outboxes("").is_empty());

    // Count: OUTBOXES_MAX outboxes, then a new name is refused (an existing one is not).
    let engine = Arc::new(engine);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in (t..limits::OUTBOXES_MAX).step_by(16) {
                    engine.outbox_push(&format!("o/{i}"), b"e").unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(matches!(engine.outbox_push("o/new", b"e"), Err(Error::OutboxFull { .. })));
    engine.outbox_push("o/0", b"again").unwrap();
}

#[test]
fn a_notice_is_committed_with_its_write_and_only_then() {
    use cairn_engine::{CompletedPart, Notice, ObjectAttributes, PutCondition, VersioningState};
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), IoMode::Uring);
    engine.create_bucket("noticed", "us-east-1").unwrap();
    let notice = |outbox: &str| Notice { outbox: outbox.into(), payload: b"message".to_vec() };
    let mut writer = engine.put_object("noticed", "k", ObjectAttributes::default()).unwrap();
    writer.write(b"body").unwrap();
    writer.add_notice(notice("events/b")).unwrap();
    let put = writer.finish().unwrap();
    let entries = engine.outbox_entries("events/b", 10);
    assert_eq!(entries.len(), 1);
    let written = engine.head_object("noticed", "k", None).unwrap().0.seq;
    assert_eq!(entries[0].0, written, "the entry's id is the write's seq");
    let expected = format!("null 4 {}\nmessage", put.etag.trim_matches('"'));
    assert_eq!(&*entries[0].1, expected.as_bytes(), "the version, size and ETag before the payload");

    // A write that does not apply (its condition fails) makes no entry.
    let mut writer = engine.put_object("noticed", "k", ObjectAttributes::default()).unwrap();
    writer.set_condition(PutCondition::IfNoneMatch);
    writer.add_notice(notice("events/refused")).unwrap();
    assert!(writer.finish().is_err());
    assert!(engine.outbox_entries("events/refused", 10).is_empty());

    // Versioned, and a completion: the version made is the entry's first word.
    engine.set_versioning("noticed", VersioningState::Enabled).unwrap();
    let upload = engine.create_upload("noticed", "parts", ObjectAttributes::default()).unwrap();
    let mut part = engine.upload_part("noticed", "parts", upload, 1).unwrap();
    part.write(b"part").unwrap();
    let etag_md5 = part.finish().unwrap();
    let parts = [CompletedPart { number: 1, etag_md5 }];
    let done = engine
        .complete_upload_with(
            "noticed",
            "parts",
            upload,
            &parts,
            PutCondition::None,
            cairn_engine::WriteExtras { notices: vec![notice("events/c")], ..Default::default() },
            |_, _| Ok(None),
        )
        .unwrap();
    let entry = engine.outbox_entries("events/c", 10)[0].1.to_vec();
    let expected = format!("{} 4 {}\nmessage", done.version, done.etag.trim_matches('"'));
    assert_eq!(entry, expected.as_bytes());
    assert!(expected.contains("-1\n"), "a multipart ETag");

    // Too large a notice, or a bad outbox name, is refused before anything is written.
    let mut writer = engine.put_object("noticed", "big", ObjectAttributes::default()).unwrap();
    let big = Notice { outbox: "events/b".into(), payload: vec![0; limits::NOTICE_BYTES_MAX + 1] };
    assert!(matches!(writer.add_notice(big), Err(Error::InvalidArgument(_))));
    assert!(matches!(writer.add_notice(notice("")), Err(Error::InvalidArgument(_))));
    drop((writer, engine));

    // Replayed with the writes.
    let engine = open(dir.path(), IoMode::Threads);
    assert_eq!(engine.outbox_entries("events/b", 10).len(), 1);
    assert_eq!(engine.outbox_entries("events/c", 10)[0].1.to_vec(), expected.as_bytes());
}
