//! `cairn bucket ls|stat`: the store's buckets, and what one holds.

use std::path::Path;

use cairn_engine::{VersionKind, VersionQuery};

use super::{Failure, Outcome, progress};

/// Versions read per page while a bucket is counted.
const STAT_PAGE_KEYS: usize = 1000;

fn time(ms: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// One line per bucket: name, region, creation time, owner's canonical id (tab-separated).
pub fn ls(data_dir: &Path) -> Outcome {
    let engine = super::open(data_dir)?;
    for bucket in engine.list_buckets() {
        let owner = if bucket.owner.is_empty() { "-" } else { &bucket.owner };
        println!("{}\t{}\t{}\t{owner}", bucket.name, bucket.region, time(bucket.created_ms));
    }
    Ok(())
}

/// What `stat` counts.
#[derive(Debug, Default)]
struct Counts {
    objects: u64,
    bytes: u64,
    versions: u64,
    version_bytes: u64,
    delete_markers: u64,
}

/// A bucket's settings and what it holds (every version read once).
pub fn stat(data_dir: &Path, name: &str) -> Outcome {
    let engine = super::open(data_dir)?;
    let bucket = match engine.head_bucket(name) {
        Ok(bucket) => bucket,
        Err(cairn_engine::Error::NoSuchBucket(_)) => return Err(Failure::No(format!("there is no bucket {name:?}"))),
        Err(error) => return Err(error.into()),
    };
    let bar = progress::counter("versions read");
    let mut counts = Counts::default();
    let mut query = VersionQuery { max_keys: STAT_PAGE_KEYS, ..Default::default() };
    loop {
        let page = engine.list_versions(name, &query)?;
        for entry in page.entries() {
            match &entry.version.kind {
                VersionKind::Object(info) => {
                    counts.versions += 1;
                    counts.version_bytes += info.size;
                    if entry.is_latest {
                        counts.objects += 1;
                        counts.bytes += info.size;
                    }
                }
                VersionKind::DeleteMarker { .. } => counts.delete_markers += 1,
            }
            bar.inc(1);
        }
        let last = page.entries().last().map(|entry| (entry.key.clone(), entry.version.id));
        match last {
            Some((key, id)) if page.is_truncated => {
                query.key_marker = Some(key);
                query.version_marker = Some(id);
            }
            _ => break,
        }
    }
    bar.finish_and_clear();
    println!("name:            {}", bucket.name);
    println!("region:          {}", bucket.region);
    println!("created:         {}", time(bucket.created_ms));
    println!("owner:           {}", if bucket.owner.is_empty() { "-" } else { &bucket.owner });
    println!("versioning:      {:?}", engine.versioning(name)?);
    println!("object lock:     {}", engine.object_lock(name)?);
    println!("objects:         {}", counts.objects);
    println!("bytes:           {}", counts.bytes);
    println!("versions:        {}", counts.versions);
    println!("version bytes:   {}", counts.version_bytes);
    println!("delete markers:  {}", counts.delete_markers);
    Ok(())
}
