//! A bucket's lifecycle rules: read from PutBucketLifecycleConfiguration's document and checked
//! as AWS checks it, kept as JSON in the bucket's `lifecycle` configuration, and given back to
//! GetBucketLifecycleConfiguration in the form they came in.

use cairn_engine::StorageClass;
use s3s::dto;
use serde::{Deserialize, Serialize};

use crate::web::Invalid;

/// Rules a configuration holds at most (AWS's limit).
pub const RULES_MAX: usize = 1000;
/// The longest rule ID.
pub const RULE_ID_CHARS_MAX: usize = 255;
/// NewerNoncurrentVersions is 1 to this (AWS's limit).
pub const NEWER_NONCURRENT_VERSIONS_MAX: u32 = 100;
/// Days before an infrequent-access transition (AWS: at least 30).
pub const INFREQUENT_ACCESS_DAYS_MIN: u32 = 30;

/// The bucket's rules, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
    /// Objects smaller than this are not transitioned (S3's
    /// `x-amz-transition-default-minimum-object-size`), except where `varies` says otherwise.
    pub varies_by_storage_class: bool,
}

/// When an action is due: days after a version's start (rounded up to a day boundary), or a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum When {
    Days(u32),
    /// Unix ms, at a day boundary (midnight UTC).
    Date(u64),
}

/// The objects a rule applies to: a prefix, tags (all of them), sizes (exclusive bounds), and
/// the form the filter was written in, to give it back as it came.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
    pub form: FilterForm,
    /// The filter named a prefix (perhaps empty), which GET gives back.
    #[serde(default)]
    pub prefix_given: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// `<Prefix>` beside the rule's actions (the legacy form).
    RulePrefix,
    /// `<Filter/>` with one condition or none.
    #[default]
    Single,
    /// `<Filter><And>...</And></Filter>`.
    And,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<When>,
    pub expired_object_delete_marker: bool,
    pub transitions: Vec<(When, Class)>,
    /// NoncurrentDays and NewerNoncurrentVersions.
    pub noncurrent_expiration: Option<(u32, Option<u32>)>,
    pub noncurrent_transitions: Vec<(u32, Option<u32>, Class)>,
    pub abort_incomplete_upload_days: Option<u32>,
}

/// A storage class, kept by its S3 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class(pub StorageClass);

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Class, D::Error> {
        let name = String::deserialize(deserializer)?;
        StorageClass::parse(&name).map(Class).ok_or_else(|| serde::de::Error::custom("unknown storage class"))
    }
}

impl Filter {
    pub fn prefix_matches(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    /// Whether the filter takes an object with this key, size and tags.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|wanted| tags.contains(wanted))
            && self.size_greater_than.is_none_or(|min| size > min)
            && self.size_less_than.is_none_or(|max| size < max)
    }
}

impl Lifecycle {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("lifecycle rules serialize")
    }

    pub fn decode(stored: &[u8]) -> Option<Lifecycle> {
        serde_json::from_slice(stored).ok()
    }

    /// Checks a PutBucketLifecycleConfiguration document as AWS does. `day_ms` is the length
    /// of a day, whose boundaries a Date must fall on.
    pub fn from_dto(
        config: dto::BucketLifecycleConfiguration,
        varies: bool,
        day_ms: u64,
    ) -> Result<Lifecycle, Invalid> {
        if config.rules.is_empty() {
            return Err(malformed());
        }
        if config.rules.len() > RULES_MAX {
            return Err(request("The number of lifecycle rules must not exceed the allowed limit of 1000 rules"));
        }
        let mut rules = Vec::with_capacity(config.rules.len());
        for (n, rule) in config.rules.into_iter().enumerate() {
            let rule = rule_of(rule, n, day_ms)?;
            if rules.iter().any(|r: &Rule| r.id == rule.id) {
                return Err(argument("Rule ID must be unique. Found same ID for more than one rule"));
            }
            rules.push(rule);
        }
        Ok(Lifecycle { rules, varies_by_storage_class: varies })
    }

    pub fn to_dto(&self) -> Vec<dto::LifecycleRule> {
        self.rules.iter().map(dto_of).collect()
    }
}

fn rule_of(rule: dto::LifecycleRule, n: usize, day_ms: u64) -> Result<Rule, Invalid> {
    let id = rule.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("rule-{}", n + 1));
    if id.chars().count() > RULE_ID_CHARS_MAX {
        return Err(argument("ID length should not exceed allowed limit of 255"));
    }
    let enabled = match rule.status.as_str() {
        dto::ExpirationStatus::ENABLED => true,
        dto::ExpirationStatus::DISABLED => false,
        _ => return Err(malformed()),
    };
    let filter = match (rule.filter, rule.prefix) {
        (Some(_), Some(_)) | (None, None) => return Err(malformed()),
        (None, Some(prefix)) => {
            Filter { prefix, form: FilterForm::RulePrefix, prefix_given: true, ..Filter::default() }
        }
        (Some(filter), None) => filter_of(filter)?,
    };
    let (expiration, expired_object_delete_marker) = match rule.expiration {
        None => (None, false),
        Some(expiration) => expiration_of(expiration, day_ms)?,
    };
    if expired_object_delete_marker && !filter.tags.is_empty() {
        return Err(argument("ExpiredObjectDeleteMarker cannot be specified with a Tag filter"));
    }
    let transitions = rule
        .transitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| transition_of(t.days, t.date, t.storage_class, day_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let noncurrent_expiration = rule.noncurrent_version_expiration.map(noncurrent_of).transpose()?;
    let noncurrent_transitions = rule
        .noncurrent_version_transitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| noncurrent_transition_of(t.noncurrent_days, t.newer_noncurrent_versions, t.storage_class))
        .collect::<Result<Vec<_>, _>>()?;
    let abort_incomplete_upload_days = match rule.abort_incomplete_multipart_upload {
        None => None,
        Some(abort) => {
            Some(positive(abort.days_after_initiation, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")?)
        }
    };
    if abort_incomplete_upload_days.is_some()
        && (!filter.tags.is_empty() || filter.size_greater_than.is_some() || filter.size_less_than.is_some())
    {
        return Err(argument("AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters"));
    }
    let rule = Rule {
        id,
        enabled,
        filter,
        expiration,
        expired_object_delete_marker,
        transitions,
        noncurrent_expiration,
        noncurrent_transitions,
        abort_incomplete_upload_days,
    };
    check_actions(&rule)?;
    Ok(rule)
}

/// A rule has an action, and its expiration comes after its transitions.
fn check_actions(rule: &Rule) -> Result<(), Invalid> {
    let any = rule.expiration.is_some()
        || rule.expired_object_delete_marker
        || !rule.transitions.is_empty()
        || rule.noncurrent_expiration.is_some()
        || !rule.noncurrent_transitions.is_empty()
        || rule.abort_incomplete_upload_days.is_some();
    if !any {
        return Err(request("At least one action needs to be specified in a rule"));
    }
    if let Some(When::Days(expire)) = rule.expiration
        && rule.transitions.iter().any(|(when, _)| matches!(when, When::Days(days) if *days >= expire))
    {
        return Err(argument("'Days' in the Expiration action must be greater than 'Days' in the Transition action"));
    }
    if let Some((expire, _)) = rule.noncurrent_expiration
        && rule.noncurrent_transitions.iter().any(|(days, _, _)| *days >= expire)
    {
        return Err(argument(
            "'NoncurrentDays' in the NoncurrentVersionExpiration action must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action",
        ));
    }
    let classes: Vec<Class> = rule.transitions.iter().map(|(_, class)| *class).collect();
    if (1..classes.len()).any(|i| classes[..i].contains(&classes[i])) {
        return Err(argument("A storage class can be specified in only one Transition action"));
    }
    Ok(())
}

fn filter_of(filter: dto::LifecycleRuleFilter) -> Result<Filter, Invalid> {
    let given = [
        filter.prefix.is_some(),
        filter.tag.is_some(),
        filter.and.is_some(),
        filter.object_size_greater_than.is_some(),
        filter.object_size_less_than.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(malformed());
    }
    let size = |bytes: Option<i64>| {
        bytes.map(|b| u64::try_from(b).map_err(|_| argument("Object size must be a non-negative number"))).transpose()
    };
    if let Some(and) = filter.and {
        let tags = and.tags.unwrap_or_default().into_iter().map(tag_of).collect::<Result<Vec<_>, _>>()?;
        let filter = Filter {
            prefix_given: and.prefix.is_some(),
            prefix: and.prefix.unwrap_or_default(),
            tags,
            size_greater_than: size(and.object_size_greater_than)?,
            size_less_than: size(and.object_size_less_than)?,
            form: FilterForm::And,
        };
        if let (Some(min), Some(max)) = (filter.size_greater_than, filter.size_less_than)
            && max <= min
        {
            return Err(argument("ObjectSizeLessThan must be greater than ObjectSizeGreaterThan"));
        }
        return Ok(filter);
    }
    Ok(Filter {
        prefix_given: filter.prefix.is_some(),
        prefix: filter.prefix.unwrap_or_default(),
        tags: filter.tag.map(tag_of).transpose()?.into_iter().collect(),
        size_greater_than: size(filter.object_size_greater_than)?,
        size_less_than: size(filter.object_size_less_than)?,
        form: FilterForm::Single,
    })
}

fn tag_of(tag: dto::Tag) -> Result<(String, String), Invalid> {
    match (tag.key, tag.value) {
        (Some(key), value) if !key.is_empty() => Ok((key, value.unwrap_or_default())),
        _ => Err(malformed()),
    }
}

fn positive(value: Option<i32>, field: &str, action: &str) -> Result<u32, Invalid> {
    match value {
        Some(n) if n > 0 => Ok(n as u32),
        Some(_) => Err(argument(&format!("'{field}' for {action} action must be a positive integer"))),
        None => Err(malformed()),
    }
}

fn date_of(date: &dto::Timestamp, day_ms: u64) -> Result<u64, Invalid> {
    let nanos = time::OffsetDateTime::from(date.clone()).unix_timestamp_nanos();
    let ms = u64::try_from(nanos / 1_000_000).map_err(|_| argument("'Date' must be at midnight GMT"))?;
    if ms % day_ms != 0 {
        return Err(argument("'Date' must be at midnight GMT"));
    }
    Ok(ms)
}

fn expiration_of(expiration: dto::LifecycleExpiration, day_ms: u64) -> Result<(Option<When>, bool), Invalid> {
    let marker = expiration.expired_object_delete_marker.unwrap_or(false);
    match (expiration.days, &expiration.date, expiration.expired_object_delete_marker) {
        (Some(_), None, None) => Ok((Some(When::Days(positive(expiration.days, "Days", "Expiration")?)), false)),
        (None, Some(date), None) => Ok((Some(When::Date(date_of(date, day_ms)?)), false)),
        (None, None, Some(_)) => Ok((None, marker)),
        _ => Err(malformed()),
    }
}

/// A storage class a transition may go to (any but STANDARD).
fn transition_class(class: Option<String>) -> Result<Class, Invalid> {
    match class.as_deref().and_then(StorageClass::parse) {
        Some(StorageClass::Standard) | None => Err(malformed()),
        Some(class) => Ok(Class(class)),
    }
}

fn infrequent(class: Class) -> bool {
    matches!(class.0, StorageClass::StandardIa | StorageClass::OnezoneIa)
}

fn transition_of(
    days: Option<i32>,
    date: Option<dto::Timestamp>,
    class: Option<dto::TransitionStorageClass>,
    day_ms: u64,
) -> Result<(When, Class), Invalid> {
    let class = transition_class(class.map(|c| c.as_str().to_owned()))?;
    let when = match (days, date) {
        (Some(days), None) => {
            let days = u32::try_from(days).map_err(|_| argument("'Days' in Transition action must be nonnegative"))?;
            if infrequent(class) && days < INFREQUENT_ACCESS_DAYS_MIN {
                return Err(argument(&format!(
                    "'Days' in Transition action must be greater than or equal to 30 for storageClass '{}'",
                    class.0.as_str()
                )));
            }
            When::Days(days)
        }
        (None, Some(date)) => When::Date(date_of(&date, day_ms)?),
        _ => return Err(malformed()),
    };
    Ok((when, class))
}

fn newer_versions(newer: Option<i32>) -> Result<Option<u32>, Invalid> {
    match newer {
        None => Ok(None),
        Some(n) if (1..=NEWER_NONCURRENT_VERSIONS_MAX as i32).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(argument("'NewerNoncurrentVersions' must be a positive integer up to 100")),
    }
}

fn noncurrent_of(expiration: dto::NoncurrentVersionExpiration) -> Result<(u32, Option<u32>), Invalid> {
    let days = positive(expiration.noncurrent_days, "NoncurrentDays", "NoncurrentVersionExpiration")?;
    Ok((days, newer_versions(expiration.newer_noncurrent_versions)?))
}

fn noncurrent_transition_of(
    days: Option<i32>,
    newer: Option<i32>,
    class: Option<dto::TransitionStorageClass>,
) -> Result<(u32, Option<u32>, Class), Invalid> {
    let class = transition_class(class.map(|c| c.as_str().to_owned()))?;
    let days = u32::try_from(days.ok_or_else(malformed)?)
        .map_err(|_| argument("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative"))?;
    if infrequent(class) && days < INFREQUENT_ACCESS_DAYS_MIN {
        return Err(argument(&format!(
            "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 for storageClass '{}'",
            class.0.as_str()
        )));
    }
    Ok((days, newer_versions(newer)?, class))
}

fn dto_filter(filter: &Filter) -> (Option<dto::LifecycleRuleFilter>, Option<String>) {
    let tag = |(key, value): &(String, String)| dto::Tag { key: Some(key.clone()), value: Some(value.clone()) };
    let sized = |bytes: Option<u64>| bytes.map(|b| b as i64);
    match filter.form {
        FilterForm::RulePrefix => (None, Some(filter.prefix.clone())),
        FilterForm::And => (
            Some(dto::LifecycleRuleFilter {
                and: Some(dto::LifecycleRuleAndOperator {
                    prefix: filter.prefix_given.then(|| filter.prefix.clone()),
                    tags: (!filter.tags.is_empty()).then(|| filter.tags.iter().map(tag).collect()),
                    object_size_greater_than: sized(filter.size_greater_than),
                    object_size_less_than: sized(filter.size_less_than),
                }),
                ..Default::default()
            }),
            None,
        ),
        FilterForm::Single => (
            Some(dto::LifecycleRuleFilter {
                prefix: filter.prefix_given.then(|| filter.prefix.clone()),
                tag: filter.tags.first().map(tag),
                object_size_greater_than: sized(filter.size_greater_than),
                object_size_less_than: sized(filter.size_less_than),
                ..Default::default()
            }),
            None,
        ),
    }
}

fn dto_of(rule: &Rule) -> dto::LifecycleRule {
    let timestamp = |ms: u64| dto::Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
    let split = |when: When| match when {
        When::Days(days) => (Some(days as i32), None),
        When::Date(ms) => (None, Some(timestamp(ms))),
    };
    let (filter, prefix) = dto_filter(&rule.filter);
    let expiration = match (rule.expiration, rule.expired_object_delete_marker) {
        (None, false) => None,
        (when, marker) => {
            let (days, date) = when.map_or((None, None), split);
            Some(dto::LifecycleExpiration { days, date, expired_object_delete_marker: marker.then_some(true) })
        }
    };
    let class = |class: Class| dto::TransitionStorageClass::from(class.0.as_str().to_owned());
    dto::LifecycleRule {
        id: Some(rule.id.clone()),
        status: dto::ExpirationStatus::from_static(if rule.enabled {
            dto::ExpirationStatus::ENABLED
        } else {
            dto::ExpirationStatus::DISABLED
        }),
        filter,
        prefix,
        expiration,
        transitions: (!rule.transitions.is_empty()).then(|| {
            rule.transitions
                .iter()
                .map(|(when, c)| {
                    let (days, date) = split(*when);
                    dto::Transition { days, date, storage_class: Some(class(*c)) }
                })
                .collect()
        }),
        noncurrent_version_expiration: rule.noncurrent_expiration.map(|(days, newer)| {
            dto::NoncurrentVersionExpiration {
                noncurrent_days: Some(days as i32),
                newer_noncurrent_versions: newer.map(|n| n as i32),
            }
        }),
        noncurrent_version_transitions: (!rule.noncurrent_transitions.is_empty()).then(|| {
            rule.noncurrent_transitions
                .iter()
                .map(|(days, newer, c)| dto::NoncurrentVersionTransition {
                    noncurrent_days: Some(*days as i32),
                    newer_noncurrent_versions: newer.map(|n| n as i32),
                    storage_class: Some(class(*c)),
                })
                .collect()
        }),
        abort_incomplete_multipart_upload: rule
            .abort_incomplete_upload_days
            .map(|days| dto::AbortIncompleteMultipartUpload { days_after_initiation: Some(days as i32) }),
    }
}

fn malformed() -> Invalid {
    ("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema".into())
}

fn argument(message: &str) -> Invalid {
    ("InvalidArgument", message.to_owned())
}

fn request(message: &str) -> Invalid {
    ("InvalidRequest", message.to_owned())
}
