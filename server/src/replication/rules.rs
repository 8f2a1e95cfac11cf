//! A bucket's replication configuration: which new versions go to which destination bucket,
//! read from PutBucketReplication's document and checked as AWS checks it.
//!
//! A configuration is of AWS's current schema (every rule has a `Filter`, a `Priority` and a
//! `DeleteMarkerReplication`) or of its first one (a rule-level `Prefix`, no priority; delete
//! markers replicated, as AWS's backward compatibility does). The stored document is the
//! request's, so GetBucketReplication answers with what was put.

use s3s::dto;

use cairn_engine::StorageClass;

/// Rules one configuration holds at most (AWS's limit).
pub const RULES_MAX: usize = 1000;
/// A rule's `ID`, and a prefix (AWS's limits).
pub const ID_BYTES_MAX: usize = 255;
pub const PREFIX_BYTES_MAX: usize = 1024;
/// Tags one rule's filter names at most (an object has at most 10).
pub const FILTER_TAGS_MAX: usize = 10;
/// The only time S3 Replication Time Control takes, in minutes.
pub const REPLICATION_TIME_MINUTES: i32 = 15;

/// Why a configuration is refused: the S3 error code and message AWS answers with.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn request(message: impl Into<String>) -> Invalid {
    Invalid { code: "InvalidRequest", message: message.into() }
}

fn argument(message: impl Into<String>) -> Invalid {
    Invalid { code: "InvalidArgument", message: message.into() }
}

fn malformed() -> Invalid {
    Invalid {
        code: "MalformedXML",
        message: "The XML you provided was not well-formed or did not validate against our published schema".into(),
    }
}

/// Where a rule's versions go, and how the replica differs from its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub bucket: String,
    /// The replica's storage class; the source's when `None`.
    pub storage_class: Option<StorageClass>,
    /// `AccessControlTranslation`: the replica is owned by the destination bucket's owner.
    pub owner_is_destination: bool,
    /// `Account`: the 12-digit id of the destination bucket's owner, as the rule says it.
    pub account: Option<String>,
    /// The KMS key SSE-KMS sources are encrypted under in the destination.
    pub replica_kms_key: Option<String>,
    /// The region of the endpoint holding the bucket (`[[replication_endpoint]]`), or `None`
    /// for a bucket of this server.
    pub endpoint: Option<String>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// Higher wins where rules of one destination overlap; 0 in the first schema.
    pub priority: i32,
    pub enabled: bool,
    pub prefix: String,
    /// Every tag a version must have.
    pub tags: Vec<(String, String)>,
    pub delete_markers: bool,
    /// Whether SSE-KMS sources are replicated (`SseKmsEncryptedObjects`).
    pub sse_kms: bool,
    pub destination: Destination,
}

impl Rule {
    /// Whether the rule covers a new version of `key` with `tags`, SSE-KMS-encrypted if `kms`.
    fn covers(&self, key: &str, tags: &[(String, String)], kms: bool) -> bool {
        key.starts_with(&self.prefix) && self.tags.iter().all(|tag| tags.contains(tag)) && (!kms || self.sse_kms)
    }
}

/// A bucket's rules, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

impl Rules {
    /// The rules of `config`, checked as AWS checks a PutBucketReplication; `destination`
    /// checks a destination bucket (it exists, has versioning enabled, takes the KMS key).
    pub fn from_dto(
        config: &dto::ReplicationConfiguration,
        source: &str,
        destination: &dyn Fn(&Destination) -> Result<(), Invalid>,
    ) -> Result<Rules, Invalid> {
        if config.rules.is_empty() || config.rules.len() > RULES_MAX {
            return Err(malformed());
        }
        if !config.role.starts_with("arn:aws:iam::") || !config.role.contains(":role/") {
            return Err(argument(format!("Invalid Role ARN: {}", config.role)));
        }
        let current = config.rules.iter().any(|rule| rule.filter.is_some());
        if current && config.rules.iter().any(|rule| rule.filter.is_none()) {
            return Err(malformed());
        }
        let mut rules = Vec::with_capacity(config.rules.len());
        for (at, dto) in config.rules.iter().enumerate() {
            let rule = rule_of(dto, at, current)?;
            if rule.destination.bucket == source {
                return Err(request("Destination bucket cannot be the same as the source bucket."));
            }
            if rules.iter().any(|other: &Rule| other.id == rule.id) {
                return Err(argument(format!(
                    "Rule Id must be unique. Found same ID for more than one rule: {}",
                    rule.id
                )));
            }
            if current && rules.iter().any(|other: &Rule| other.priority == rule.priority) {
                return Err(argument(format!("Found duplicate priority {} for rules", rule.priority)));
            }
            let same = |other: &Rule| other.destination.bucket == rule.destination.bucket;
            if !current && rules.iter().any(|other: &Rule| same(other) && overlap(&other.prefix, &rule.prefix)) {
                return Err(argument("Found overlapping prefixes for rules of the same destination bucket"));
            }
            destination(&rule.destination)?;
            rules.push(rule);
        }
        Ok(Rules { rules })
    }

    /// Sets where each destination bucket is: `remote` names the endpoint of each bucket
    /// that is not this server's.
    pub fn locate(&mut self, remote: &std::collections::BTreeMap<String, String>) {
        for rule in &mut self.rules {
            rule.destination.endpoint = remote.get(&rule.destination.bucket).cloned();
        }
    }

    /// The rules a new version of `key` is replicated by: the enabled rule of highest priority
    /// among those covering it, for each destination.
    pub fn for_version(&self, key: &str, tags: &[(String, String)], kms: bool) -> Vec<&Rule> {
        self.winners(|rule| rule.covers(key, tags, kms))
    }

    /// The rules a delete marker on `key` is replicated by: those that win for the key (tags
    /// aside: a rule with a tag filter replicates no markers) and replicate markers.
    pub fn for_delete_marker(&self, key: &str) -> Vec<&Rule> {
        let winners = self.winners(|rule| rule.tags.is_empty() && key.starts_with(&rule.prefix));
        winners.into_iter().filter(|rule| rule.delete_markers).collect()
    }

    fn winners(&self, covers: impl Fn(&Rule) -> bool) -> Vec<&Rule> {
        let mut won: Vec<&Rule> = Vec::new();
        for rule in self.rules.iter().filter(|rule| covers(rule)) {
            match won.iter_mut().find(|w| w.destination.bucket == rule.destination.bucket) {
                Some(winner) if winner.priority < rule.priority => *winner = rule,
                Some(_) => {}
                None => won.push(rule),
            }
        }
        won.retain(|rule| rule.enabled);
        won
    }
}

/// Whether one prefix is the other's start (the first schema's rules may not overlap).
fn overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn rule_of(dto: &dto::ReplicationRule, at: usize, current: bool) -> Result<Rule, Invalid> {
    let id = match &dto.id {
        Some(id) if id.len() > ID_BYTES_MAX => return Err(argument("The ID must be at most 255 characters")),
        Some(id) if !id.is_empty() => id.clone(),
        _ => generated_id(at),
    };
    let enabled = match dto.status.as_str() {
        "Enabled" => true,
        "Disabled" => false,
        _ => return Err(malformed()),
    };
    let (prefix, tags) = match (&dto.filter, &dto.prefix) {
        (Some(filter), None) => filter_of(filter)?,
        (None, Some(prefix)) if !current => (prefix.clone(), Vec::new()),
        (None, None) if !current => (String::new(), Vec::new()),
        _ => return Err(malformed()),
    };
    if prefix.len() > PREFIX_BYTES_MAX {
        return Err(argument("The prefix must be at most 1024 characters"));
    }
    let delete_markers = match (&dto.delete_marker_replication, current) {
        (Some(marker), true) => marker.status.as_ref().is_some_and(|s| s.as_str() == "Enabled"),
        (None, true) => {
            return Err(request(
                "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.",
            ));
        }
        // The first schema replicates delete markers (AWS's backward compatibility).
        (_, false) => true,
    };
    if delete_markers && !tags.is_empty() {
        return Err(request("Delete marker replication is not supported if any Tag filter is specified."));
    }
    let priority = match (dto.priority, current) {
        (Some(priority), true) => priority,
        (None, true) => {
            return Err(request(
                "Priority must be specified for this version of Cross Region Replication configuration schema.",
            ));
        }
        (_, false) => 0,
    };
    if let Some(existing) = &dto.existing_object_replication
        && existing.status.as_str() == "Enabled"
    {
        return Err(request(
            "Existing object replication is not enabled for this bucket; replicate existing objects with S3 Batch Replication",
        ));
    }
    let sse_kms = selection_of(dto.source_selection_criteria.as_ref())?;
    let destination = destination_of(&dto.destination, sse_kms)?;
    Ok(Rule { id, priority, enabled, prefix, tags, delete_markers, sse_kms, destination })
}

/// An ID for a rule that has none, as AWS makes one: stable for the rule's place.
fn generated_id(at: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("cairn-replication-rule:{at}"));
    base64_simd::STANDARD.encode_to_string(&digest[..36.min(digest.len())])
}

fn filter_of(filter: &dto::ReplicationRuleFilter) -> Result<(String, Vec<(String, String)>), Invalid> {
    let tag = |tag: &dto::Tag| match (&tag.key, &tag.value) {
        (Some(key), Some(value)) if !key.is_empty() => Ok((key.clone(), value.clone())),
        _ => Err(malformed()),
    };
    match (&filter.prefix, &filter.tag, &filter.and) {
        (prefix, None, None) => Ok((prefix.clone().unwrap_or_default(), Vec::new())),
        (None, Some(one), None) => Ok((String::new(), vec![tag(one)?])),
        (None, None, Some(and)) => {
            let tags = and.tags.iter().flatten().map(tag).collect::<Result<Vec<_>, _>>()?;
            if tags.len() > FILTER_TAGS_MAX {
                return Err(argument("A filter names at most 10 tags"));
            }
            if tags.iter().enumerate().any(|(i, (key, _))| tags[..i].iter().any(|(other, _)| other == key)) {
                return Err(argument("Duplicate Tag Keys are not allowed."));
            }
            Ok((and.prefix.clone().unwrap_or_default(), tags))
        }
        _ => Err(malformed()),
    }
}

/// Whether SSE-KMS sources are replicated. Replica modification sync (replicating changes
/// made to replicas back) is refused: Cairn replicates no metadata changes.
fn selection_of(criteria: Option<&dto::SourceSelectionCriteria>) -> Result<bool, Invalid> {
    let Some(criteria) = criteria else { return Ok(false) };
    if criteria.replica_modifications.as_ref().is_some_and(|m| m.status.as_str() == "Enabled") {
        return Err(Invalid {
            code: "NotImplemented",
            message: "Replica modification sync is not supported: Cairn replicates no metadata changes".into(),
        });
    }
    Ok(criteria.sse_kms_encrypted_objects.as_ref().is_some_and(|kms| kms.status.as_str() == "Enabled"))
}

fn destination_of(dto: &dto::Destination, sse_kms: bool) -> Result<Destination, Invalid> {
    let bucket = match dto.bucket.strip_prefix("arn:aws:s3:::") {
        Some(name) if !name.is_empty() && !name.contains('/') => name.to_owned(),
        _ => return Err(argument(format!("Invalid bucket ARN: {}", dto.bucket))),
    };
    let storage_class = match &dto.storage_class {
        None => None,
        Some(class) => Some(
            StorageClass::parse(class.as_str())
                .ok_or_else(|| argument(format!("Invalid storage class {} for the destination", class.as_str())))?,
        ),
    };
    let owner_is_destination = match &dto.access_control_translation {
        None => false,
        Some(_) if dto.account.is_none() => {
            return Err(request("Destination Account must be specified if AccessControlTranslation is present"));
        }
        Some(translation) if translation.owner.as_str() == "Destination" => true,
        Some(_) => return Err(malformed()),
    };
    let replica_kms_key = dto.encryption_configuration.as_ref().and_then(|e| e.replica_kms_key_id.clone());
    if sse_kms && replica_kms_key.is_none() {
        return Err(request("ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present."));
    }
    if !sse_kms && replica_kms_key.is_some() {
        return Err(request("SseKmsEncryptedObjects must be specified if EncryptionConfiguration is present."));
    }
    check_time_control(dto)?;
    let account = dto.account.clone();
    Ok(Destination { bucket, storage_class, owner_is_destination, account, replica_kms_key, endpoint: None })
}

/// S3 Replication Time Control is taken as AWS takes it: `ReplicationTime` and `Metrics` both
/// or neither, at 15 minutes. Cairn replicates as fast as it can either way.
fn check_time_control(dto: &dto::Destination) -> Result<(), Invalid> {
    let time = dto.replication_time.as_ref().filter(|t| t.status.as_str() == "Enabled");
    let metrics = dto.metrics.as_ref().filter(|m| m.status.as_str() == "Enabled");
    if time.is_some() && metrics.is_none() {
        return Err(request("Replication destination must contain both ReplicationTime and Metrics or neither."));
    }
    let minutes = [time.and_then(|t| t.time.minutes), metrics.and_then(|m| m.event_threshold.as_ref()?.minutes)];
    if minutes.iter().flatten().any(|m| *m != REPLICATION_TIME_MINUTES) {
        return Err(argument("Minutes must be 15"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, priority: i32, prefix: &str, bucket: &str) -> dto::ReplicationRule {
        dto::ReplicationRule {
            id: Some(id.into()),
            priority: Some(priority),
            status: dto::ReplicationRuleStatus::from_static("Enabled"),
            filter: Some(dto::ReplicationRuleFilter { prefix: Some(prefix.into()), ..Default::default() }),
            delete_marker_replication: Some(dto::DeleteMarkerReplication {
                status: Some(dto::DeleteMarkerReplicationStatus::from_static("Enabled")),
            }),
            destination: dto::Destination { bucket: format!("arn:aws:s3:::{bucket}"), ..Default::default() },
            existing_object_replication: None,
            prefix: None,
            source_selection_criteria: None,
        }
    }

    fn config(rules: Vec<dto::ReplicationRule>) -> dto::ReplicationConfiguration {
        dto::ReplicationConfiguration { role: "arn:aws:iam::123456789012:role/replication".into(), rules }
    }

    fn parse(rules: Vec<dto::ReplicationRule>) -> Result<Rules, Invalid> {
        Rules::from_dto(&config(rules), "source", &|_| Ok(()))
    }

    #[test]
    fn the_highest_priority_rule_of_each_destination_wins() {
        let mut low = rule("low", 1, "", "a");
        low.delete_marker_replication = Some(dto::DeleteMarkerReplication {
            status: Some(dto::DeleteMarkerReplicationStatus::from_static("Disabled")),
        });
        let mut off = rule("off", 3, "logs/", "a");
        off.status = dto::ReplicationRuleStatus::from_static("Disabled");
        let rules = parse(vec![low, rule("high", 2, "docs/", "a"), off, rule("other", 4, "", "b")]).unwrap();
        let ids = |rules: Vec<&Rule>| rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(rules.for_version("docs/x", &[], false)), ["high", "other"]);
        assert_eq!(ids(rules.for_version("y", &[], false)), ["low", "other"]);
        // A disabled rule that wins stops its destination's replication.
        assert_eq!(ids(rules.for_version("logs/z", &[], false)), ["other"]);
        assert_eq!(ids(rules.for_delete_marker("y")), ["other"], "the winner for `a` keeps no markers");
        assert_eq!(ids(rules.for_delete_marker("docs/x")), ["high", "other"]);
    }

    #[test]
    fn aws_s_checks_refuse_what_aws_refuses() {
        let code = |rules: Vec<dto::ReplicationRule>| parse(rules).unwrap_err().code;
        assert_eq!(code(vec![rule("a", 1, "", "a"), rule("a", 2, "", "b")]), "InvalidArgument");
        assert_eq!(code(vec![rule("a", 1, "", "a"), rule("b", 1, "", "b")]), "InvalidArgument");
        assert_eq!(code(vec![rule("a", 1, "", "source")]), "InvalidRequest");
        let mut tagged = rule("t", 1, "", "a");
        tagged.filter = Some(dto::ReplicationRuleFilter {
            tag: Some(dto::Tag { key: Some("k".into()), value: Some("v".into()) }),
            ..Default::default()
        });
        assert_eq!(code(vec![tagged]), "InvalidRequest", "markers of a tag rule");
        let mut no_marker = rule("m", 1, "", "a");
        no_marker.delete_marker_replication = None;
        assert_eq!(code(vec![no_marker]), "InvalidRequest");
        let mut no_priority = rule("p", 1, "", "a");
        no_priority.priority = None;
        assert_eq!(code(vec![no_priority]), "InvalidRequest");
        let mut kms = rule("k", 1, "", "a");
        kms.source_selection_criteria = Some(dto::SourceSelectionCriteria {
            sse_kms_encrypted_objects: Some(dto::SseKmsEncryptedObjects {
                status: dto::SseKmsEncryptedObjectsStatus::from_static("Enabled"),
            }),
            replica_modifications: None,
        });
        assert_eq!(code(vec![kms]), "InvalidRequest", "no ReplicaKmsKeyID");
        let mut bad_arn = rule("b", 1, "", "a");
        bad_arn.destination.bucket = "a".into();
        assert_eq!(code(vec![bad_arn]), "InvalidArgument");
        let mut existing = rule("e", 1, "", "a");
        existing.existing_object_replication = Some(dto::ExistingObjectReplication {
            status: dto::ExistingObjectReplicationStatus::from_static("Enabled"),
        });
        assert_eq!(code(vec![existing]), "InvalidRequest");
        let mut mixed = rule("v1", 0, "", "b");
        (mixed.filter, mixed.prefix) = (None, Some("x".into()));
        assert_eq!(code(vec![rule("a", 1, "", "a"), mixed]), "MalformedXML");
        let mut first = rule("one", 0, "", "a");
        (first.filter, first.prefix, first.priority, first.delete_marker_replication) =
            (None, Some("logs/".into()), None, None);
        let mut second = first.clone();
        (second.id, second.prefix) = (Some("two".into()), Some("logs/old/".into()));
        assert_eq!(code(vec![first.clone(), second]), "InvalidArgument", "overlapping prefixes");
        let rules = parse(vec![first]).unwrap();
        assert!(rules.rules[0].delete_markers, "the first schema replicates markers");
    }

    #[test]
    fn each_limit_holds() {
        let code = |rules: Vec<dto::ReplicationRule>| parse(rules).unwrap_err().code;
        let many = |n: usize| (0..n).map(|i| rule(&format!("r{i}"), i as i32, "", "a")).collect::<Vec<_>>();
        assert!(parse(many(RULES_MAX)).is_ok());
        assert_eq!(code(many(RULES_MAX + 1)), "MalformedXML");
        assert_eq!(code(Vec::new()), "MalformedXML");
        let long_id = "i".repeat(ID_BYTES_MAX);
        assert!(parse(vec![rule(&long_id, 1, "", "a")]).is_ok());
        assert_eq!(code(vec![rule(&format!("{long_id}i"), 1, "", "a")]), "InvalidArgument");
        let long_prefix = "p".repeat(PREFIX_BYTES_MAX);
        assert!(parse(vec![rule("p", 1, &long_prefix, "a")]).is_ok());
        assert_eq!(code(vec![rule("p", 1, &format!("{long_prefix}p"), "a")]), "InvalidArgument");
        let tagged = |n: usize| {
            let mut tagged = rule("t", 1, "", "a");
            tagged.delete_marker_replication = Some(dto::DeleteMarkerReplication {
                status: Some(dto::DeleteMarkerReplicationStatus::from_static("Disabled")),
            });
            let tags = (0..n).map(|i| dto::Tag { key: Some(format!("k{i}")), value: Some("v".into()) }).collect();
            tagged.filter = Some(dto::ReplicationRuleFilter {
                and: Some(dto::ReplicationRuleAndOperator { prefix: None, tags: Some(tags) }),
                ..Default::default()
            });
            tagged
        };
        assert!(parse(vec![tagged(FILTER_TAGS_MAX)]).is_ok());
        assert_eq!(code(vec![tagged(FILTER_TAGS_MAX + 1)]), "InvalidArgument");
        let mut timed = rule("rtc", 1, "", "a");
        timed.destination.replication_time = Some(dto::ReplicationTime {
            status: dto::ReplicationTimeStatus::from_static("Enabled"),
            time: dto::ReplicationTimeValue { minutes: Some(REPLICATION_TIME_MINUTES) },
        });
        assert_eq!(code(vec![timed.clone()]), "InvalidRequest", "ReplicationTime without Metrics");
        timed.destination.metrics = Some(dto::Metrics {
            status: dto::MetricsStatus::from_static("Enabled"),
            event_threshold: Some(dto::ReplicationTimeValue { minutes: Some(REPLICATION_TIME_MINUTES) }),
        });
        assert!(parse(vec![timed.clone()]).is_ok());
        timed.destination.metrics.as_mut().unwrap().event_threshold =
            Some(dto::ReplicationTimeValue { minutes: Some(30) });
        assert_eq!(code(vec![timed]), "InvalidArgument");
    }
}
