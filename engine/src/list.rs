//! Listings over a bucket's skip lists: objects (S3 ListObjects v1/v2), versions
//! (ListObjectVersions), multipart uploads and parts. Keys sort in UTF-8 byte order; a delimiter
//! rolls keys up into common prefixes, and the walk jumps past each prefix rather than visiting
//! every key under it.

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use crate::index::{BucketState, Chain, ObjectMap, UploadState};
use crate::limits;
use crate::types::{ObjectAttributes, ObjectInfo, PartLayout, UploadId, Version, VersionId, VersionKind};

/// A ListObjects (v1 or v2) request.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Start after this key (v1 `marker`, v2 `start-after` or continuation token).
    pub start_after: Option<String>,
    /// At most `LIST_PAGE_ENTRIES_MAX`; larger values are clamped as S3 does.
    pub max_keys: usize,
}

/// A current, non-deleted object in a listing.
#[derive(Clone, Debug)]
pub struct ObjectEntry {
    pub key: String,
    pub version: VersionId,
    pub info: Arc<ObjectInfo>,
}

/// One entry of a listing page, in order.
#[derive(Clone, Debug)]
pub enum ListItem<T> {
    Entry(T),
    CommonPrefix(String),
}

/// A page of a listing.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<ListItem<T>>,
    pub is_truncated: bool,
}

impl<T> Page<T> {
    pub fn entries(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(|item| match item {
            ListItem::Entry(entry) => Some(entry),
            ListItem::CommonPrefix(_) => None,
        })
    }

    pub fn common_prefixes(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|item| match item {
            ListItem::CommonPrefix(prefix) => Some(prefix.as_str()),
            ListItem::Entry(_) => None,
        })
    }
}

/// A ListObjectVersions request.
#[derive(Clone, Debug, Default)]
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    /// With `key_marker`: start after this version of that key.
    pub version_marker: Option<VersionId>,
    pub max_keys: usize,
}

/// One version in a version listing.
#[derive(Clone, Debug)]
pub struct VersionEntry {
    pub key: String,
    pub version: Version,
    pub is_latest: bool,
}

/// A ListMultipartUploads request.
#[derive(Clone, Debug, Default)]
pub struct UploadQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_marker: Option<UploadId>,
    pub max_uploads: usize,
}

/// An upload in progress.
#[derive(Clone, Debug)]
pub struct UploadEntry {
    pub key: String,
    pub upload: UploadId,
    pub initiated_ms: u64,
    pub attributes: ObjectAttributes,
    pub checksum: Option<crate::types::ChecksumSpec>,
}

/// A page of ListParts.
#[derive(Clone, Debug)]
pub struct PartPage {
    pub parts: Vec<Arc<PartLayout>>,
    pub is_truncated: bool,
    /// The upload's checksum spec.
    pub checksum: Option<crate::types::ChecksumSpec>,
    /// The upload's storage class.
    pub storage_class: crate::types::StorageClass,
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// If `key` (which starts with `prefix`) rolls up under `delimiter`, its common prefix.
fn common_prefix<'k>(key: &'k [u8], prefix: &[u8], delimiter: Option<&str>) -> Option<&'k [u8]> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?.as_bytes();
    let rest = &key[prefix.len()..];
    let at = rest.windows(delimiter.len()).position(|window| window == delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("keys are stored from &str")
}

/// Walks keys with `prefix` from `lower`, skipping keys that are not `live`, rolling the rest up
/// into common prefixes, and calling `visit` for each key not rolled up, until the page holds
/// `limit` items. The shared core of the key-ordered listings.
#[allow(clippy::too_many_arguments)]
fn walk<T>(
    map: &ObjectMap,
    prefix: &str,
    delimiter: Option<&str>,
    mut lower: Bound<Vec<u8>>,
    marker: Option<&[u8]>,
    limit: usize,
    live: impl Fn(&Chain) -> bool,
    mut visit: impl FnMut(&[u8], &Chain, &mut Vec<ListItem<T>>),
) -> Page<T> {
    // S3: a page of at most zero entries is empty and not truncated, and an empty delimiter is
    // no delimiter.
    if limit == 0 {
        return Page { items: Vec::new(), is_truncated: false };
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let prefix_bytes = prefix.as_bytes();
    let mut items = Vec::new();
    if let Bound::Unbounded = lower {
        lower = Bound::Included(prefix_bytes.to_vec());
    }
    let mut truncated = false;
    loop {
        let mut jump = None;
        map.scan(lower.as_ref().map(|b| b.as_slice()), |key, chain| {
            if !key.starts_with(prefix_bytes) {
                return if key > prefix_bytes { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
            }
            if !live(chain) {
                return ControlFlow::Continue(());
            }
            if let Some(common) = common_prefix(key, prefix_bytes, delimiter) {
                // A marker inside a common prefix means that prefix was the last item returned.
                if !marker.is_some_and(|marker| marker.starts_with(common)) {
                    if items.len() >= limit {
                        truncated = true;
                        return ControlFlow::Break(());
                    }
                    items.push(ListItem::CommonPrefix(utf8(common)));
                }
                jump = prefix_successor(common);
                return ControlFlow::Break(());
            }
            let before = items.len();
            visit(key, chain, &mut items);
            if items.len() > limit || (items.len() > before && before >= limit) {
                items.truncate(limit);
                truncated = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if truncated {
            return Page { items, is_truncated: true };
        }
        match jump {
            Some(next) => lower = Bound::Included(next),
            None => break,
        }
    }
    Page { items, is_truncated: false }
}

pub(crate) fn list_objects(bucket: &BucketState, query: &ListQuery) -> Page<ObjectEntry> {
    let limit = query.max_keys.min(limits::LIST_PAGE_ENTRIES_MAX);
    let start_after = query.start_after.as_deref().filter(|s| !s.is_empty());
    let lower = match start_after {
        Some(marker) if marker >= query.prefix.as_str() => Bound::Excluded(marker.as_bytes().to_vec()),
        _ => Bound::Unbounded,
    };
    // A key whose current version is a delete marker is absent, and so is a common prefix
    // under which every key is absent.
    let live = |chain: &Arc<Vec<Version>>| matches!(chain[0].kind, VersionKind::Object(_));
    walk(
        &bucket.objects,
        &query.prefix,
        query.delimiter.as_deref(),
        lower,
        start_after.map(str::as_bytes),
        limit,
        live,
        |key, chain, out| {
            if let VersionKind::Object(info) = &chain[0].kind {
                out.push(ListItem::Entry(ObjectEntry { key: utf8(key), version: chain[0].id, info: info.clone() }));
            }
        },
    )
}

pub(crate) fn list_versions(bucket: &BucketState, query: &VersionQuery) -> Page<VersionEntry> {
    let limit = query.max_keys.min(limits::LIST_PAGE_ENTRIES_MAX);
    let key_marker = query.key_marker.as_deref().filter(|s| !s.is_empty());
    let lower = match (key_marker, query.version_marker) {
        (Some(marker), Some(_)) => Bound::Included(marker.as_bytes().to_vec()),
        (Some(marker), None) => Bound::Excluded(marker.as_bytes().to_vec()),
        (None, _) => Bound::Unbounded,
    };
    let visit = |key: &[u8], chain: &Arc<Vec<Version>>, out: &mut Vec<ListItem<VersionEntry>>| {
        // On the marker key, start after the marker version.
        let skip = match query.version_marker {
            Some(marker) if Some(key) == key_marker.map(str::as_bytes) => {
                match chain.iter().position(|v| v.id == marker) {
                    Some(at) => at + 1,
                    None => return,
                }
            }
            _ => 0,
        };
        for (i, version) in chain.iter().enumerate().skip(skip) {
            out.push(ListItem::Entry(VersionEntry { key: utf8(key), version: version.clone(), is_latest: i == 0 }));
        }
    };
    walk(
        &bucket.objects,
        &query.prefix,
        query.delimiter.as_deref(),
        lower,
        key_marker.map(str::as_bytes),
        limit,
        |_| true,
        visit,
    )
}

pub(crate) fn list_uploads(bucket: &BucketState, query: &UploadQuery) -> Page<UploadEntry> {
    let limit = query.max_uploads.min(limits::LIST_PAGE_ENTRIES_MAX);
    if limit == 0 {
        return Page { items: Vec::new(), is_truncated: false };
    }
    let prefix = query.prefix.as_bytes();
    let key_marker = query.key_marker.as_deref().filter(|s| !s.is_empty()).map(str::as_bytes);
    let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut items = Vec::new();
    let mut last_prefix: Option<Vec<u8>> = None;
    let lower = (key_marker.unwrap_or(prefix).to_vec(), 0u64);
    for entry in bucket.uploads.range(lower..) {
        let (key, id) = entry.key();
        if !key.starts_with(prefix) {
            if key.as_slice() > prefix {
                break;
            }
            continue;
        }
        if let Some(marker) = key_marker {
            let after = match query.upload_marker {
                Some(upload) => (key.as_slice(), *id) > (marker, upload.0),
                None => key.as_slice() > marker,
            };
            if !after {
                continue;
            }
        }
        let item = match common_prefix(key, prefix, delimiter) {
            Some(common) if last_prefix.as_deref() == Some(common) => continue,
            Some(common) if key_marker.is_some_and(|m| m.starts_with(common)) => continue,
            Some(common) => {
                last_prefix = Some(common.to_vec());
                ListItem::CommonPrefix(utf8(common))
            }
            None => {
                let upload: &Arc<UploadState> = entry.value();
                ListItem::Entry(UploadEntry {
                    key: upload.key.clone(),
                    upload: upload.id,
                    initiated_ms: upload.initiated_ms,
                    attributes: upload.attributes.clone(),
                    checksum: upload.checksum,
                })
            }
        };
        if items.len() >= limit {
            return Page { items, is_truncated: true };
        }
        items.push(item);
    }
    Page { items, is_truncated: false }
}

pub(crate) fn list_parts(upload: &UploadState, part_marker: u32, max_parts: usize) -> PartPage {
    let limit = max_parts.min(limits::LIST_PAGE_ENTRIES_MAX);
    let parts = upload.parts.read();
    let mut range = parts.range(part_marker.saturating_add(1)..);
    let taken: Vec<_> = range.by_ref().take(limit).map(|(_, part)| part.clone()).collect();
    // As for the other listings, a page of at most zero entries is not truncated.
    let is_truncated = limit > 0 && range.next().is_some();
    PartPage { parts: taken, is_truncated, checksum: upload.checksum, storage_class: upload.attributes.storage_class }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_bounds_every_extension() {
        assert_eq!(prefix_successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff"), None);
    }

    #[test]
    fn common_prefix_needs_the_delimiter_after_the_prefix() {
        assert_eq!(common_prefix(b"a/b/c", b"a/", Some("/")), Some(&b"a/b/"[..]));
        assert_eq!(common_prefix(b"a/b", b"a/", Some("/")), None);
        assert_eq!(common_prefix(b"a/b", b"", Some("")), None);
        assert_eq!(common_prefix(b"x--y--z", b"", Some("--")), Some(&b"x--"[..]));
    }
}
