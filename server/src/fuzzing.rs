//! Fuzz targets' bodies for what the server parses (`fuzz/` calls them; `tests/fuzz_corpus.rs`
//! replays the corpus through them in every test run). Each takes arbitrary bytes and must never
//! panic. Not part of the server's interface.

use s3s::dto::{
    CompletedMultipartUpload, CopySource, CreateBucketConfiguration, Delete, ETag, ETagCondition, Range, Tagging,
    VersioningConfiguration,
};
use s3s::xml::{Deserialize, Deserializer};

/// Every XML request body the server reads.
pub fn xml(data: &[u8]) {
    fn parse<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Option<T> {
        T::deserialize(&mut Deserializer::new(data)).ok()
    }
    if let Some(upload) = parse::<CompletedMultipartUpload>(data) {
        for part in upload.parts.unwrap_or_default() {
            let _ = part.e_tag.as_ref().map(crate::s3::etag_md5);
            let _ = crate::checksum::listed(&part);
        }
    }
    let _ = parse::<Delete>(data);
    if let Some(tagging) = parse::<Tagging>(data) {
        let pairs: Vec<(String, String)> =
            tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect();
        let _ = cairn_engine::validate::tag_set(&pairs, 50);
    }
    let _ = parse::<VersioningConfiguration>(data);
    let _ = parse::<CreateBucketConfiguration>(data);
    let _ = parse::<s3s::dto::AccessControlPolicy>(data);
    let _ = parse::<s3s::dto::OwnershipControls>(data);
    let _ = parse::<s3s::dto::PublicAccessBlockConfiguration>(data);
    let _ = parse::<s3s::dto::ObjectLockConfiguration>(data);
    let _ = parse::<s3s::dto::ObjectLockRetention>(data);
    let _ = parse::<s3s::dto::ObjectLockLegalHold>(data);
}

/// Lifecycle configurations as PutBucketLifecycleConfiguration reads them and stored rules as
/// the worker reads them: an accepted document keeps its meaning through its stored form and
/// back through GET's, and the rules decide on every kind of version chain without a panic.
pub fn lifecycle(data: &[u8]) {
    use crate::lifecycle::{Days, Lifecycle};
    let days = Days::new(crate::lifecycle::DAY_SECONDS_DEFAULT);
    let parsed = s3s::dto::BucketLifecycleConfiguration::deserialize(&mut Deserializer::new(data)).ok();
    if let Some(Ok(rules)) = parsed.map(|config| Lifecycle::from_dto(config, false, days.day_ms)) {
        assert_eq!(Lifecycle::decode(&rules.encode()).as_ref(), Some(&rules), "stored rules round-trip");
        let again = s3s::dto::BucketLifecycleConfiguration { rules: rules.to_dto() };
        assert_eq!(Lifecycle::from_dto(again, false, days.day_ms).ok().as_ref(), Some(&rules), "GET gives them back");
        decide_all(&rules, days);
    }
    if let Some(rules) = Lifecycle::decode(data) {
        decide_all(&rules, days);
    }
}

fn decide_all(rules: &crate::lifecycle::Lifecycle, days: crate::lifecycle::Days) {
    use cairn_engine::{Layout, ObjectAttributes, ObjectInfo, Version, VersionId, VersionKind};
    let object = |seq: u64, size: u64| Version {
        seq,
        id: VersionId::Id(seq),
        kind: VersionKind::Object(std::sync::Arc::new(ObjectInfo {
            size,
            etag_md5: [0; 16],
            last_modified_ms: seq * 1000,
            attributes: ObjectAttributes { tags: vec![("k".into(), "v".into())], ..ObjectAttributes::default() },
            layout: Layout::Extents(std::sync::Arc::from(Vec::new())),
            checksum: None,
            restored_until_ms: 0,
        })),
    };
    let marker =
        |seq: u64| Version { seq, id: VersionId::Id(seq), kind: VersionKind::DeleteMarker { last_modified_ms: seq } };
    let chains =
        [vec![object(3, 1 << 20), object(2, 10), object(1, 0)], vec![marker(2), object(1, 5)], vec![marker(1)]];
    let mut out = Vec::new();
    for chain in &chains {
        for now in [0, u64::MAX / 2, u64::MAX] {
            for key in ["", "logs/a", "docs/x"] {
                crate::lifecycle::decide(rules, days, key, chain, now, &mut out);
                let _ = crate::lifecycle::aborts(rules, days, key, 1, now);
                let _ = crate::lifecycle::expiration(rules, days, key, 10, &[], now);
            }
        }
    }
}

/// Notification configurations as PutBucketNotificationConfiguration reads them, stored ones
/// as the server loads them, and outbox entries as the worker reads them: an accepted document
/// keeps its meaning through its stored form and back through GET's, and its rules match keys
/// without a panic.
pub fn notifications(data: &[u8]) {
    use crate::notify::{EventName, Rules};
    let parsed = s3s::dto::NotificationConfiguration::deserialize(&mut Deserializer::new(data)).ok();
    if let Some(Ok(rules)) = parsed.map(|config| Rules::from_dto(config, None)) {
        assert_eq!(Rules::decode(&rules.encode()).as_ref(), Some(&rules), "stored rules round-trip");
        let got = rules.to_dto();
        let again = s3s::dto::NotificationConfiguration {
            event_bridge_configuration: None,
            lambda_function_configurations: got.lambda_function_configurations,
            queue_configurations: got.queue_configurations,
            topic_configurations: got.topic_configurations,
        };
        let back = Rules::from_dto(again, None).expect("GET's configurations are accepted again");
        assert_eq!(back, rules, "GET gives them back");
        for rule in &rules.rules {
            for key in ["", "images/a.jpg", "logs/x"] {
                let _ = rule.matches(EventName::Put, key);
                let _ = rule.matches(EventName::LifecycleDelete, key);
            }
        }
    }
    let _ = Rules::decode(data);
    let _ = crate::notify::parse_entry(1, data);
}

/// Replication configurations as PutBucketReplication reads them, stored ones as the server
/// loads them, and queue entries as the worker reads them: an accepted document keeps its rules
/// through its stored form, and they decide on keys without a panic.
pub fn replication(data: &[u8]) {
    use crate::replication::{Entry, Rules, Stored};
    let accept = |_: &crate::replication::Destination| Ok(());
    let parsed = s3s::dto::ReplicationConfiguration::deserialize(&mut Deserializer::new(data)).ok();
    if let Some(config) = parsed
        && let Ok(rules) = Rules::from_dto(&config, "source", &accept)
    {
        let stored = Stored { config, remote: Default::default() }.encode();
        let loaded = Stored::decode(&stored).expect("a stored configuration loads");
        assert_eq!(Rules::from_dto(&loaded.config, "source", &accept).as_ref(), Ok(&rules), "stored rules round-trip");
        for key in ["", "docs/a", "logs/x"] {
            let _ = rules.for_version(key, &[("k".into(), "v".into())], true);
            let _ = rules.for_delete_marker(key);
        }
    }
    if let Some(stored) = Stored::decode(data) {
        let _ = Rules::from_dto(&stored.config, "source", &accept);
    }
    let _ = Entry::parse(1, data);
}

/// Header values: ranges, copy sources and their ranges, conditions, tagging, checksums.
pub fn headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let first = text.lines().next().unwrap_or("");
    if let Ok(range) = Range::parse(first) {
        let _ = range;
    }
    let _ = CopySource::parse(first);
    let _ = crate::s3::copy_source_range(first, 1000);
    let _ = crate::s3::parse_tagging(Some(first));
    let _ = crate::checksum::base64_decode(first);
    // The guard's readings of dates, presigned queries and content encodings.
    let _ = crate::guard::presigned_v4_malformed(first);
    let _ = crate::guard::http_date_as_amz(first);
    let _ = crate::guard::amz_date(first);
    let _ = crate::writes::stored_content_encoding(Some(first.to_owned()));
    if let Ok(ETagCondition::ETag(etag)) = ETagCondition::parse_http_header(first.as_bytes()) {
        let _ = crate::writes::if_match_etag(&etag);
    }
    if let Ok(etag) = ETag::parse_http_header(first.as_bytes()) {
        let _ = crate::s3::etag_md5(&etag);
    }
    let mut headers = http::HeaderMap::new();
    for line in text.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(name.trim().as_bytes()), http::HeaderValue::from_str(value.trim()))
        {
            headers.append(name, value);
        }
    }
    if let Ok(Some(claim)) = crate::checksum::claim(&headers) {
        let mut sums = crate::checksum::BodyChecksums::new(Some(claim), crate::checksum::DEFAULT_ALGORITHM);
        sums.update(data);
        let _ = sums.finish(Some(&headers));
    }
}

/// Bucket policy documents: parsed as PutBucketPolicy parses them, and every accepted one
/// evaluated against requests that exercise its conditions.
pub fn policy(data: &[u8]) {
    use std::borrow::Cow;

    use crate::policy::{Anyone, Context, Policy, Principal, Request};
    struct Keys;
    impl Context for Keys {
        fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
            // Every key has values, of every shape a condition may compare.
            let values = match key.len() % 4 {
                0 => vec!["127.0.0.1", "2001:db8::1"],
                1 => vec!["2026-12-03T12:00:00Z", "1796299200"],
                2 => vec!["true", "42", "arn:aws:iam::111122223333:user/alice"],
                _ => return None,
            };
            Some(values.into_iter().map(Cow::Borrowed).collect())
        }
    }
    let Ok(policy) = Policy::parse(data, "b", &Anyone) else { return };
    let principal = Principal { account: "111122223333", user: Some("alice"), canonical_id: "" };
    for (action, resource) in [("s3:GetObject", "arn:aws:s3:::b/k"), ("s3:ListBucket", "arn:aws:s3:::b")] {
        for principal in [None, Some(principal)] {
            let _ = policy.evaluate(&Request { principal, service: None, action, resource, context: &Keys });
        }
    }
    let _ = policy.is_public();
}

/// Access control lists as stored and as grant headers, and the stored Object Ownership and
/// Block Public Access settings: never a panic, and what decodes encodes back to itself.
pub fn acl(data: &[u8]) {
    use crate::acl::{Acl, Caller, Ownership, Permission, PublicAccessBlock};
    let owner = "o";
    let stored = Acl::decode(data, owner);
    assert_eq!(Acl::decode(&stored.encode(owner), owner), stored, "a stored ACL round-trips");
    for permission in Permission::ALL {
        let _ = stored.allows(Caller { canonical_id: Some(owner) }, permission, false);
    }
    let block = PublicAccessBlock::decode(data);
    assert_eq!(PublicAccessBlock::decode(&block.encode()), block);
    let _ = Ownership::stored(Some(data));
    let Ok(text) = std::str::from_utf8(data) else { return };
    let headers = text.lines().zip(Permission::ALL.into_iter().cycle()).map(|(line, p)| (p, line));
    if let Ok(acl) =
        Acl::from_headers(headers, &|id| id.len() == 64, &|email| email.contains('@').then(|| "e".repeat(64)))
    {
        assert!(acl.grants.len() <= crate::acl::GRANTS_MAX);
        assert_eq!(Acl::decode(&acl.encode(owner), owner), acl);
    }
}
