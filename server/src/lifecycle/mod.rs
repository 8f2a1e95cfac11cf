//! S3 lifecycle: a bucket's rules (`rules.rs`), the dates they give each version as AWS counts
//! them (days after a version's start, rounded up to the next midnight UTC), the
//! `x-amz-expiration` header, what a rule asks of one key's versions now (`decide`), and the
//! background worker that applies it (`worker.rs`). A day is 86,400 seconds unless
//! `--lifecycle-day-seconds` makes it shorter, as Ceph's debug interval does, for tests.

pub mod rules;
mod worker;

use cairn_engine::{Expiry, StorageClass, Version, VersionKind};
pub use rules::{Lifecycle, When};
pub use worker::{Stats, Worker};

/// The bucket configuration the rules are kept in.
pub const BUCKET_LIFECYCLE: &str = "lifecycle";
/// A lifecycle day, as AWS counts it.
pub const DAY_SECONDS_DEFAULT: u64 = 86_400;
/// Objects smaller than this are not transitioned (AWS's default since 2024,
/// `all_storage_classes_128K`; `varies_by_storage_class` keeps it for the infrequent-access
/// classes only).
pub const TRANSITION_OBJECT_BYTES_MIN: u64 = 128 * 1024;

/// Day arithmetic with the configured day length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Days {
    pub day_ms: u64,
}

impl Days {
    pub fn new(day_seconds: u64) -> Days {
        Days { day_ms: day_seconds.max(1) * 1000 }
    }

    /// `days` after `from_ms`, rounded up to the next day boundary (midnight UTC for real days).
    pub fn after(self, from_ms: u64, days: u32) -> u64 {
        let at = from_ms.saturating_add(u64::from(days).saturating_mul(self.day_ms));
        at.div_ceil(self.day_ms).saturating_mul(self.day_ms)
    }

    pub fn due(self, when: When, from_ms: u64) -> u64 {
        match when {
            When::Days(days) => self.after(from_ms, days),
            When::Date(ms) => ms,
        }
    }
}

/// When the current version of an object with this key, size, tags and creation time expires,
/// and by which rule: the earliest of the enabled rules that take it.
pub fn expiration<'a>(
    lifecycle: &'a Lifecycle,
    days: Days,
    key: &str,
    size: u64,
    tags: &[(String, String)],
    created_ms: u64,
) -> Option<(u64, &'a str)> {
    lifecycle
        .rules
        .iter()
        .filter(|rule| rule.enabled && rule.filter.matches(key, size, tags))
        .filter_map(|rule| Some((days.due(rule.expiration?, created_ms), rule.id.as_str())))
        .min_by_key(|(due, _)| *due)
}

/// S3's `x-amz-expiration` value: `expiry-date="<HTTP date>", rule-id="<id>"`.
pub fn expiration_header(due_ms: u64, rule_id: &str) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp((due_ms / 1000) as i64)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc2822).ok())
        .map(|d| d.replace("+0000", "GMT"))
        .unwrap_or_default();
    format!("expiry-date=\"{date}\", rule-id=\"{}\"", rule_id.replace('"', "%22"))
}

/// What the rules ask of one key's versions (newest first) at `now_ms`, appended to `out`.
/// Expiration comes before any transition, as AWS orders conflicting rules.
pub fn decide(lifecycle: &Lifecycle, days: Days, key: &str, chain: &[Version], now_ms: u64, out: &mut Vec<Expiry>) {
    let Some(current) = chain.first() else { return };
    let rules: Vec<&rules::Rule> =
        lifecycle.rules.iter().filter(|r| r.enabled && r.filter.prefix_matches(key)).collect();
    if rules.is_empty() {
        return;
    }
    match &current.kind {
        VersionKind::Object(info) => {
            let tags = &info.attributes.tags;
            let taking: Vec<_> = rules.iter().filter(|r| r.filter.matches(key, info.size, tags)).collect();
            let expired =
                taking.iter().any(|r| r.expiration.is_some_and(|w| days.due(w, info.last_modified_ms) <= now_ms));
            if expired {
                out.push(Expiry::Current { key: key.to_owned(), seq: current.seq });
            } else {
                let due = taking
                    .iter()
                    .flat_map(|r| r.transitions.iter())
                    .map(|(w, class)| (days.due(*w, info.last_modified_ms), class.0));
                if let Some(class) = coldest(due, now_ms).filter(|c| moves(lifecycle, info, *c)) {
                    out.push(Expiry::Transition { key: key.to_owned(), version: current.id, class });
                }
            }
        }
        VersionKind::DeleteMarker { .. } => {
            // A delete marker with nothing behind it: an expired object delete marker.
            if chain.len() == 1 && rules.iter().any(|r| r.expired_object_delete_marker && r.filter.matches(key, 0, &[]))
            {
                out.push(Expiry::Version { key: key.to_owned(), version: current.id });
            }
        }
    }
    for (rank, pair) in chain.windows(2).enumerate() {
        decide_noncurrent(lifecycle, &rules, days, key, &pair[1], pair[0].last_modified_ms(), rank as u32, now_ms, out);
    }
}

/// One noncurrent version, noncurrent since `since_ms` (its successor's creation), with `rank`
/// noncurrent versions newer than it.
#[allow(clippy::too_many_arguments)]
fn decide_noncurrent(
    lifecycle: &Lifecycle,
    rules: &[&rules::Rule],
    days: Days,
    key: &str,
    version: &Version,
    since_ms: u64,
    rank: u32,
    now_ms: u64,
    out: &mut Vec<Expiry>,
) {
    let (size, tags) = match &version.kind {
        VersionKind::Object(info) => (info.size, &info.attributes.tags[..]),
        VersionKind::DeleteMarker { .. } => (0, &[][..]),
    };
    let taking: Vec<_> = rules.iter().filter(|r| r.filter.matches(key, size, tags)).collect();
    let expired = taking
        .iter()
        .filter_map(|r| r.noncurrent_expiration)
        .any(|(noncurrent_days, newer)| rank >= newer.unwrap_or(0) && days.after(since_ms, noncurrent_days) <= now_ms);
    if expired {
        out.push(Expiry::Version { key: key.to_owned(), version: version.id });
        return;
    }
    let VersionKind::Object(info) = &version.kind else { return };
    let due = taking
        .iter()
        .flat_map(|r| r.noncurrent_transitions.iter())
        .filter(|(_, newer, _)| rank >= newer.unwrap_or(0))
        .map(|(noncurrent_days, _, class)| (days.after(since_ms, *noncurrent_days), class.0));
    if let Some(class) = coldest(due, now_ms).filter(|c| moves(lifecycle, info, *c)) {
        out.push(Expiry::Transition { key: key.to_owned(), version: version.id, class });
    }
}

/// Of the transitions due by `now_ms`, the one due last (the furthest along the waterfall).
fn coldest(due: impl Iterator<Item = (u64, StorageClass)>, now_ms: u64) -> Option<StorageClass> {
    due.filter(|(at, _)| *at <= now_ms).max_by_key(|(at, _)| *at).map(|(_, class)| class)
}

/// Whether a transition to `class` changes the version, and the version is large enough for it.
fn moves(lifecycle: &Lifecycle, info: &cairn_engine::ObjectInfo, class: StorageClass) -> bool {
    let minimum = !lifecycle.varies_by_storage_class
        || matches!(class, StorageClass::StandardIa | StorageClass::OnezoneIa | StorageClass::IntelligentTiering);
    info.attributes.storage_class != class && (!minimum || info.size >= TRANSITION_OBJECT_BYTES_MIN)
}

/// Whether the rules abort an upload of `key` started at `initiated_ms`, by `now_ms`.
pub fn aborts(lifecycle: &Lifecycle, days: Days, key: &str, initiated_ms: u64, now_ms: u64) -> bool {
    lifecycle.rules.iter().any(|rule| {
        rule.enabled
            && rule.filter.prefix_matches(key)
            && rule.abort_incomplete_upload_days.is_some_and(|d| days.after(initiated_ms, d) <= now_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_up_to_the_next_midnight() {
        let days = Days::new(DAY_SECONDS_DEFAULT);
        let day = 86_400_000;
        // 2012-12-20 10:30 UTC plus three days is 2012-12-24 00:00 UTC.
        let created = 1_356_000_000_000 - 1_356_000_000_000 % day + 37_800_000;
        assert_eq!(days.after(created, 3), created - created % day + 4 * day);
        assert_eq!(days.after(created - created % day, 3), created - created % day + 3 * day, "at midnight");
        let short = Days::new(10);
        assert_eq!(short.after(12_345, 1), 30_000);
        assert_eq!(
            expiration_header(1_356_220_800_000, "r"),
            "expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"r\""
        );
    }
}
