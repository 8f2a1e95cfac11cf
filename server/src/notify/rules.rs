//! A bucket's notification configuration: which events go to which destination, for which
//! keys; read from PutBucketNotificationConfiguration's document and checked as AWS checks it.

use s3s::dto;
use serde::{Deserialize, Serialize};

use super::event::EventName;

/// The configurations a bucket may hold (a limit of Cairn's; AWS documents none).
pub const CONFIGURATIONS_MAX: usize = 100;
/// An `Id`, and a filter rule's value (AWS's key length).
pub const ID_BYTES_MAX: usize = 255;
pub const FILTER_VALUE_BYTES_MAX: usize = 1024;

/// Every event type AWS's API takes in a configuration (some never happen in Cairn: it loses no
/// reduced-redundancy objects and has no Intelligent-Tiering archive).
pub const EVENT_TYPES: [&str; 27] = [
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
];

/// The kind of destination a configuration names (its ARN's service must match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Topic,
    Queue,
    Lambda,
}

impl Kind {
    /// The ARN service of this kind's destinations.
    pub fn service(self) -> &'static str {
        match self {
            Kind::Topic => "sns",
            Kind::Queue => "sqs",
            Kind::Lambda => "lambda",
        }
    }
}

/// One configuration: events of these types on keys that match go to `arn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub kind: Kind,
    pub arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl Rule {
    /// Whether `event` on `key` is one this configuration publishes.
    pub fn matches(&self, event: EventName, key: &str) -> bool {
        self.events.iter().any(|pattern| covers(pattern, event.name()))
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// Whether an object could match both: the same event type, and keys both filters take.
    fn overlaps(&self, other: &Rule) -> bool {
        let shared = self.events.iter().any(|a| other.events.iter().any(|b| share(a, b)));
        let prefixes = either_starts(self.prefix.as_deref().unwrap_or(""), other.prefix.as_deref().unwrap_or(""));
        let suffixes = either_ends(self.suffix.as_deref().unwrap_or(""), other.suffix.as_deref().unwrap_or(""));
        shared && prefixes && suffixes
    }

    fn filtered(&self) -> bool {
        self.prefix.is_some() || self.suffix.is_some()
    }
}

/// Whether configuration event type `pattern` (`s3:ObjectCreated:*`, `s3:ObjectAcl:Put`)
/// covers the event named `name` (`ObjectCreated:Put`).
fn covers(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
    match pattern.strip_suffix('*') {
        Some(family) => name.starts_with(family),
        None => pattern == name,
    }
}

/// Whether two configuration event types name a common event.
fn share(a: &str, b: &str) -> bool {
    let family = |t: &str| t.strip_suffix('*').map(str::to_owned);
    match (family(a), family(b)) {
        (Some(fa), Some(fb)) => fa == fb,
        (Some(fa), None) => b.starts_with(&fa),
        (None, Some(fb)) => a.starts_with(&fb),
        (None, None) => a == b,
    }
}

fn either_starts(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn either_ends(a: &str, b: &str) -> bool {
    a.ends_with(b) || b.ends_with(a)
}

/// A bucket's configurations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// Why a configuration was refused: AWS's error code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn argument(message: impl Into<String>) -> Invalid {
    Invalid { code: "InvalidArgument", message: message.into() }
}

impl Rules {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("rules serialize")
    }

    pub fn decode(stored: &[u8]) -> Option<Rules> {
        serde_json::from_slice(stored).ok()
    }

    /// The configurations of a document, checked: `destination` says whether an ARN names a
    /// destination Cairn can deliver to (`None`: skip that check, as
    /// `x-amz-skip-destination-validation` asks).
    pub fn from_dto(
        document: dto::NotificationConfiguration,
        destination: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Rules, Invalid> {
        if document.event_bridge_configuration.is_some() {
            return Err(argument("Cairn has no EventBridge: name a topic, queue or function destination."));
        }
        let mut rules = Vec::new();
        for topic in document.topic_configurations.unwrap_or_default() {
            rules.push(rule_of(Kind::Topic, topic.id, topic.topic_arn, topic.events, topic.filter)?);
        }
        for queue in document.queue_configurations.unwrap_or_default() {
            rules.push(rule_of(Kind::Queue, queue.id, queue.queue_arn, queue.events, queue.filter)?);
        }
        for lambda in document.lambda_function_configurations.unwrap_or_default() {
            rules.push(rule_of(Kind::Lambda, lambda.id, lambda.lambda_function_arn, lambda.events, lambda.filter)?);
        }
        if rules.len() > CONFIGURATIONS_MAX {
            return Err(argument(format!("A bucket holds at most {CONFIGURATIONS_MAX} notification configurations.")));
        }
        check_overlaps(&rules)?;
        if let Some(known) = destination {
            check_destinations(&rules, known)?;
        }
        Ok(Rules { rules })
    }

    pub fn to_dto(&self) -> dto::GetBucketNotificationConfigurationOutput {
        let of = |kind: Kind| self.rules.iter().filter(move |r| r.kind == kind);
        dto::GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: None,
            topic_configurations: nonempty(
                of(Kind::Topic)
                    .map(|r| dto::TopicConfiguration {
                        id: Some(r.id.clone()),
                        topic_arn: r.arn.clone(),
                        events: events_dto(r),
                        filter: filter_dto(r),
                    })
                    .collect(),
            ),
            queue_configurations: nonempty(
                of(Kind::Queue)
                    .map(|r| dto::QueueConfiguration {
                        id: Some(r.id.clone()),
                        queue_arn: r.arn.clone(),
                        events: events_dto(r),
                        filter: filter_dto(r),
                    })
                    .collect(),
            ),
            lambda_function_configurations: nonempty(
                of(Kind::Lambda)
                    .map(|r| dto::LambdaFunctionConfiguration {
                        id: Some(r.id.clone()),
                        lambda_function_arn: r.arn.clone(),
                        events: events_dto(r),
                        filter: filter_dto(r),
                    })
                    .collect(),
            ),
        }
    }
}

fn nonempty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

fn events_dto(rule: &Rule) -> Vec<dto::Event> {
    rule.events.iter().cloned().map(dto::Event::from).collect()
}

fn filter_dto(rule: &Rule) -> Option<dto::NotificationConfigurationFilter> {
    let named = |name: &'static str, value: &Option<String>| {
        value
            .clone()
            .map(|value| dto::FilterRule { name: Some(dto::FilterRuleName::from_static(name)), value: Some(value) })
    };
    let rules: Vec<_> =
        [named(dto::FilterRuleName::PREFIX, &rule.prefix), named(dto::FilterRuleName::SUFFIX, &rule.suffix)]
            .into_iter()
            .flatten()
            .collect();
    let empty = rules.is_empty();
    let filter = dto::NotificationConfigurationFilter { key: Some(dto::S3KeyFilter { filter_rules: Some(rules) }) };
    (!empty).then_some(filter)
}

fn rule_of(
    kind: Kind,
    id: Option<String>,
    arn: String,
    events: Vec<dto::Event>,
    filter: Option<dto::NotificationConfigurationFilter>,
) -> Result<Rule, Invalid> {
    let id = match id {
        Some(id) if id.len() > ID_BYTES_MAX => return Err(argument(format!("An Id is at most {ID_BYTES_MAX} bytes."))),
        Some(id) if !id.is_empty() => id,
        // AWS names an unnamed configuration itself.
        _ => generated_id(),
    };
    if events.is_empty() {
        return Err(Invalid { code: "MalformedXML", message: "A configuration names at least one Event.".into() });
    }
    let mut names: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        let event: String = event.into();
        if !EVENT_TYPES.contains(&event.as_str()) {
            return Err(argument("The event is not supported for notifications"));
        }
        if !names.contains(&event) {
            names.push(event);
        }
    }
    let (prefix, suffix) = filter_of(filter)?;
    Ok(Rule { id, kind, arn, events: names, prefix, suffix })
}

fn filter_of(
    filter: Option<dto::NotificationConfigurationFilter>,
) -> Result<(Option<String>, Option<String>), Invalid> {
    let rules = filter.and_then(|f| f.key).and_then(|k| k.filter_rules).unwrap_or_default();
    let (mut prefix, mut suffix) = (None, None);
    for rule in rules {
        let name = rule.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default();
        let value = rule.value.unwrap_or_default();
        if value.len() > FILTER_VALUE_BYTES_MAX {
            return Err(argument(format!("A filter rule's value is at most {FILTER_VALUE_BYTES_MAX} bytes.")));
        }
        let slot = match name.as_str() {
            "prefix" => &mut prefix,
            "suffix" => &mut suffix,
            _ => return Err(argument("filter rule name must be either prefix or suffix")),
        };
        if slot.is_some() {
            return Err(argument(format!("Cannot specify more than one {name} rule in a filter.")));
        }
        *slot = Some(value);
    }
    Ok((prefix, suffix))
}

fn check_overlaps(rules: &[Rule]) -> Result<(), Invalid> {
    for (n, a) in rules.iter().enumerate() {
        for b in &rules[n + 1..] {
            if !a.overlaps(b) {
                continue;
            }
            return Err(argument(if a.filtered() || b.filtered() {
                "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type."
            } else {
                "Configurations overlap. Configurations on the same bucket cannot share a common event type."
            }));
        }
    }
    Ok(())
}

fn check_destinations(rules: &[Rule], known: &dyn Fn(&str) -> bool) -> Result<(), Invalid> {
    for rule in rules {
        let service = rule.arn.split(':').nth(2);
        if service != Some(rule.kind.service()) || !known(&rule.arn) {
            return Err(argument("Unable to validate the following destination configurations"));
        }
    }
    Ok(())
}

/// An id for a configuration that has none: AWS's are 48 base64-ish characters; Cairn's are
/// random, as theirs are.
fn generated_id() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    cairn_engine::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> Rule {
        Rule {
            id: "r".into(),
            kind: Kind::Queue,
            arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            prefix: prefix.map(str::to_owned),
            suffix: suffix.map(str::to_owned),
        }
    }

    #[test]
    fn event_types_cover_their_events() {
        assert!(covers("s3:ObjectCreated:*", "ObjectCreated:Put"));
        assert!(covers("s3:ObjectCreated:Copy", "ObjectCreated:Copy"));
        assert!(!covers("s3:ObjectCreated:Copy", "ObjectCreated:Put"));
        assert!(!covers("s3:ObjectRemoved:*", "ObjectCreated:Put"));
        assert!(covers("s3:LifecycleTransition", "LifecycleTransition"));
    }

    #[test]
    fn overlaps_are_as_aws_defines_them() {
        let created = ["s3:ObjectCreated:*"];
        let put = ["s3:ObjectCreated:Put"];
        let removed = ["s3:ObjectRemoved:*"];
        assert!(rule(&created, None, None).overlaps(&rule(&put, None, None)));
        assert!(!rule(&created, None, None).overlaps(&rule(&removed, None, None)));
        // Prefixes that one key can start with both overlap; distinct ones do not.
        assert!(rule(&put, Some("images/"), None).overlaps(&rule(&put, Some("images/big/"), None)));
        assert!(!rule(&put, Some("images/"), None).overlaps(&rule(&put, Some("logs/"), None)));
        // Overlapping prefixes are allowed with suffixes that do not overlap.
        assert!(!rule(&put, Some("images/"), Some(".jpg")).overlaps(&rule(&put, Some("images/"), Some(".png"))));
        assert!(rule(&put, None, Some("jpg")).overlaps(&rule(&put, None, Some(".jpg"))));
        assert!(rule(&put, None, None).overlaps(&rule(&put, Some("a"), Some("b"))));
    }

    #[test]
    fn a_rule_matches_its_events_and_keys() {
        let r = rule(&["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"], Some("images/"), Some(".jpg"));
        assert!(r.matches(EventName::Put, "images/cat.jpg"));
        assert!(r.matches(EventName::Delete, "images/cat.jpg"));
        assert!(!r.matches(EventName::DeleteMarkerCreated, "images/cat.jpg"));
        assert!(!r.matches(EventName::Put, "images/cat.png"));
        assert!(!r.matches(EventName::Put, "docs/cat.jpg"));
    }
}
