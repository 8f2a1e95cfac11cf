//! Listings: prefix, delimiter, markers, pagination, byte order, versions pagination.

use cairn_engine::{Engine, ListItem, ListQuery, VersionQuery, VersioningState};

use crate::{open, put};

fn names(page: &cairn_engine::Page<cairn_engine::ObjectEntry>) -> Vec<String> {
    page.items
        .iter()
        .map(|item| match item {
            ListItem::Entry(entry) => entry.key.clone(),
            ListItem::CommonPrefix(prefix) => format!("[{prefix}]"),
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    for key in ["a", "a/1", "a/2", "a/b/3", "b", "c/x", "c/y", "é", "z"] {
        put(&engine, "bkt", key, key.as_bytes());
    }
    (dir, engine)
}

fn list(
    engine: &Engine,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    max_keys: usize,
) -> cairn_engine::Page<cairn_engine::ObjectEntry> {
    let query = ListQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        start_after: start_after.map(Into::into),
        max_keys,
    };
    engine.list_objects("bkt", &query).unwrap()
}

#[test]
fn prefix_and_delimiter_roll_up_common_prefixes() {
    let (_dir, engine) = setup();
    assert_eq!(names(&list(&engine, "", None, None, 1000)), ["a", "a/1", "a/2", "a/b/3", "b", "c/x", "c/y", "z", "é"]);
    assert_eq!(names(&list(&engine, "", Some("/"), None, 1000)), ["a", "[a/]", "b", "[c/]", "z", "é"]);
    assert_eq!(names(&list(&engine, "a/", Some("/"), None, 1000)), ["a/1", "a/2", "[a/b/]"]);
    assert_eq!(names(&list(&engine, "c", None, None, 1000)), ["c/x", "c/y"]);
    assert_eq!(names(&list(&engine, "nothing", Some("/"), None, 1000)), Vec::<String>::new());
}

#[test]
fn pages_resume_from_the_last_item() {
    let (_dir, engine) = setup();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = list(&engine, "", Some("/"), marker.as_deref(), 2);
        let page_names = names(&page);
        assert!(page_names.len() <= 2);
        seen.extend(page_names);
        marker = page.items.last().map(|item| match item {
            ListItem::Entry(entry) => entry.key.clone(),
            ListItem::CommonPrefix(prefix) => prefix.clone(),
        });
        if !page.is_truncated {
            break;
        }
    }
    assert_eq!(seen, ["a", "[a/]", "b", "[c/]", "z", "é"]);
    let page = list(&engine, "", None, None, 0);
    assert!(page.items.is_empty());
}

#[test]
fn delete_markers_hide_keys_and_empty_prefixes() {
    let (_dir, engine) = setup();
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    engine.delete_object("bkt", "c/x", None).unwrap();
    engine.delete_object("bkt", "c/y", None).unwrap();
    engine.delete_object("bkt", "a", None).unwrap();
    assert_eq!(names(&list(&engine, "", Some("/"), None, 1000)), ["[a/]", "b", "z", "é"]);
    assert_eq!(names(&list(&engine, "", None, Some("bkt"), 1000)), ["z", "é"]);
}

#[test]
fn version_listing_paginates_within_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), cairn_engine::IoMode::Threads);
    engine.create_bucket("bkt", "us-east-1").unwrap();
    engine.set_versioning("bkt", VersioningState::Enabled).unwrap();
    let mut expected = Vec::new();
    for key in ["k1", "k2"] {
        let mut ids: Vec<_> = (0..3).map(|i| put(&engine, "bkt", key, &[i]).version).collect();
        ids.reverse();
        expected.extend(ids.into_iter().map(|id| (key.to_owned(), id)));
    }
    let mut seen = Vec::new();
    let mut query = VersionQuery { max_keys: 2, ..VersionQuery::default() };
    loop {
        let page = engine.list_versions("bkt", &query).unwrap();
        let entries: Vec<_> = page.entries().map(|e| (e.key.clone(), e.version.id)).collect();
        let last = entries.last().cloned();
        seen.extend(entries);
        if !page.is_truncated {
            break;
        }
        let (key, id) = last.unwrap();
        query.key_marker = Some(key);
        query.version_marker = Some(id);
    }
    assert_eq!(seen, expected);
}
