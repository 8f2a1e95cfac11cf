//! Event notifications (S3's PutBucketNotificationConfiguration): a message for each event on a
//! bucket's objects that one of its configurations matches, POSTed to the webhook the
//! configuration's destination ARN names in the server's configuration (`[[notification_target]]`,
//! in place of SNS, SQS and Lambda).
//!
//! Messages wait in engine outboxes, `events/<bucket>/<destination>`. A put's (and a post's,
//! copy's or completion's) message is a [`cairn_engine::Notice`] in the write's own record, so
//! the object and its event are durable together; other events are pushed once their write is
//! durable and before it is answered (a crash in between leaves an unanswered write with no
//! event: the client's retry makes one). The worker (`delivery.rs`) POSTs each outbox's
//! messages in order and acks them once the webhook answered 2xx, retrying with backoff while it
//! does not: delivery is at least once, across crashes.

pub mod delivery;
pub mod event;
pub mod rules;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cairn_engine::Engine;
use serde::Deserialize;
use sha2::Digest;

pub use event::{Cause, Event, EventName, Subject};
pub use rules::Rules;

/// The bucket configuration holding a bucket's notification configurations.
pub const BUCKET_NOTIFICATION: &str = "notification";
/// Where messages wait for delivery: `events/<bucket>/<destination>`.
pub const OUTBOX_PREFIX: &str = "events/";
/// Destinations a server's configuration may define.
pub const TARGETS_MAX: usize = 100;
/// A destination ARN (`arn:aws:sqs:us-east-1:123456789012:name`) is at most this long.
pub const TARGET_ARN_BYTES_MAX: usize = 256;
/// Writes to a bucket that publishes are refused (503 SlowDown) while the outboxes have less
/// room than this: their events would have nowhere to go.
pub const OUTBOX_ROOM_MIN: u64 = 4 * 1024 * 1024;

/// A destination: the ARN configurations name, and the webhook its messages are POSTed to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub arn: String,
    pub url: String,
}

impl Target {
    /// A target from `ARN=URL` (the `--notification-target` flag).
    pub fn parse(text: &str) -> Result<Target, String> {
        let (arn, url) = text.split_once('=').ok_or_else(|| format!("{text:?} is not ARN=URL"))?;
        Ok(Target { arn: arn.to_owned(), url: url.to_owned() })
    }

    /// Checks the ARN names an SNS topic, SQS queue or Lambda function and the URL is http.
    pub fn check(&self) -> Result<Webhook, String> {
        let parts: Vec<&str> = self.arn.split(':').collect();
        let services = ["sns", "sqs", "lambda"];
        if self.arn.len() > TARGET_ARN_BYTES_MAX
            || parts.len() < 6
            || parts[0] != "arn"
            || !services.contains(&parts[2])
            || parts[5].is_empty()
        {
            return Err(format!("{:?} is not an SNS, SQS or Lambda ARN", self.arn));
        }
        Webhook::parse(&self.url)
    }
}

/// Where a destination's messages are POSTed: `http://authority/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub authority: String,
    pub path: String,
}

impl Webhook {
    fn parse(url: &str) -> Result<Webhook, String> {
        let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url:?}: webhooks are http:// URLs"));
        }
        let authority = uri.authority().ok_or_else(|| format!("{url:?} names no host"))?.to_string();
        let path = uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned());
        Ok(Webhook { authority, path })
    }
}

/// A bucket that publishes events, as the request path sees it.
#[derive(Debug)]
pub struct Publisher {
    pub rules: Rules,
    pub region: String,
    /// The owner's canonical id (`ownerIdentity.principalId`).
    pub owner: String,
}

/// The request ids of a request, which its events repeat (`responseElements`).
#[derive(Clone, Debug)]
pub struct RequestIds {
    pub request: String,
    pub host: String,
}

/// A form upload (POST Object): its PUT is `ObjectCreated:Post`.
#[derive(Clone, Copy, Debug)]
pub struct Posted;

/// The server's notifications: destinations, which buckets publish, and counters.
#[derive(Debug)]
pub struct Notifications {
    engine: Engine,
    targets: HashMap<String, Webhook>,
    publishers: RwLock<HashMap<String, Arc<Publisher>>>,
    /// Some bucket publishes: the request path looks no further when none does.
    any: AtomicBool,
    /// Wakes the worker when messages are pushed.
    pub(crate) pushed: tokio::sync::Notify,
    /// Messages dropped: their destination is not configured (any more), or the outboxes
    /// were full.
    pub(crate) dropped: AtomicU64,
}

impl Notifications {
    /// The notifications of `engine`'s buckets, delivered to `targets` (checked already).
    pub fn load(engine: Engine, targets: &[Target], accounts: &crate::account::Accounts) -> Notifications {
        let notifications = Notifications {
            engine: engine.clone(),
            targets: targets.iter().filter_map(|t| Some((t.arn.clone(), t.check().ok()?))).collect(),
            publishers: Default::default(),
            any: AtomicBool::new(false),
            pushed: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
        };
        for bucket in engine.list_buckets() {
            if let Ok(Some(stored)) = engine.get_bucket_config(&bucket.name, BUCKET_NOTIFICATION)
                && let Some(rules) = Rules::decode(&stored)
            {
                notifications.set(&bucket.name, rules, accounts);
            }
        }
        notifications
    }

    /// Whether `arn` names a configured destination.
    pub fn knows(&self, arn: &str) -> bool {
        self.targets.contains_key(arn)
    }

    pub(crate) fn webhook(&self, arn: &str) -> Option<&Webhook> {
        self.targets.get(arn)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Sets which events `bucket` publishes (none: it stops publishing).
    pub fn set(&self, bucket: &str, rules: Rules, accounts: &crate::account::Accounts) {
        let mut publishers = self.publishers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.engine.head_bucket(bucket).ok().filter(|_| !rules.rules.is_empty()) {
            Some(info) => {
                let publisher =
                    Publisher { rules, region: info.region.clone(), owner: accounts.canonical(&info.owner) };
                publishers.insert(bucket.to_owned(), Arc::new(publisher));
            }
            None => {
                publishers.remove(bucket);
            }
        }
        self.any.store(!publishers.is_empty(), Ordering::Release);
    }

    /// Whether any bucket publishes (one atomic load: the cost to a server where none does).
    pub fn enabled(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    pub fn publisher(&self, bucket: &str) -> Option<Arc<Publisher>> {
        if !self.enabled() {
            return None;
        }
        self.publishers.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket).cloned()
    }

    /// Whether the outboxes have room for a write's events.
    pub fn has_room(&self) -> bool {
        self.engine.outbox_bytes_free() >= OUTBOX_ROOM_MIN
    }

    /// Pushes a message of each event for every configuration of its bucket that matches it.
    pub async fn publish(&self, publisher: &Publisher, events: Vec<Event>) {
        let entries = events.iter().flat_map(|event| {
            let matching = publisher.rules.rules.iter().filter(|rule| rule.matches(event.name, &event.subject.key));
            matching.map(|rule| (outbox_name(&event.bucket, &rule.arn), entry(&rule.arn, &event.message(&rule.id))))
        });
        self.push_all(entries.collect()).await;
    }

    /// The notice of `event` for the write that makes it, to commit with the write: a
    /// template the delivery completes (see [`event::complete`]). AWS's overlap rule leaves at
    /// most one configuration matching an event.
    pub fn notice(&self, publisher: &Publisher, event: &Event) -> Option<cairn_engine::Notice> {
        let rule = publisher.rules.rules.iter().find(|rule| rule.matches(event.name, &event.subject.key))?;
        Some(cairn_engine::Notice {
            outbox: outbox_name(&event.bucket, &rule.arn),
            payload: entry(&rule.arn, &event.message(&rule.id)),
        })
    }

    /// Wakes the worker: a write committed a notice.
    pub fn wake(&self) {
        self.pushed.notify_one();
    }

    /// Pushes the test message S3 sends each destination of a new configuration.
    pub async fn test(&self, bucket: &str, rules: &Rules, ids: &RequestIds) {
        let message = event::test_message(bucket, crate::logging::now_ms(), &ids.request, &ids.host);
        let mut arns: Vec<&str> = rules.rules.iter().map(|r| r.arn.as_str()).collect();
        arns.sort_unstable();
        arns.dedup();
        self.push_all(arns.into_iter().map(|arn| (outbox_name(bucket, arn), entry(arn, &message))).collect()).await;
    }

    /// Pushes `(outbox, entry)`s at once, so one group commit takes them all: each is durable
    /// when this returns, or dropped, counted and logged if the outboxes are full.
    async fn push_all(&self, entries: Vec<(String, Vec<u8>)>) {
        let pushes = entries.iter().map(|(outbox, entry)| self.engine.outbox_push_async(outbox, entry));
        let pushed = futures::future::join_all(pushes).await;
        for result in &pushed {
            if let Err(error) = result {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("an event notification was dropped: {error}");
            }
        }
        if !pushed.is_empty() {
            self.pushed.notify_one();
        }
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The outbox of `bucket`'s messages to `arn`: one per destination, so a webhook that is down
/// holds back only its own messages.
fn outbox_name(bucket: &str, arn: &str) -> String {
    let digest = sha2::Sha256::digest(arn.as_bytes());
    format!("{OUTBOX_PREFIX}{bucket}/{}", cairn_engine::hex(&digest[..8]))
}

/// An outbox entry: the destination's ARN on the first line, then the message.
fn entry(arn: &str, message: &serde_json::Value) -> Vec<u8> {
    let mut entry = Vec::with_capacity(512);
    entry.extend_from_slice(arn.as_bytes());
    entry.push(b'\n');
    serde_json::to_writer(&mut entry, message).expect("a message serializes");
    entry
}

/// An entry's ARN and message: `arn\nmessage` as pushed, or, for a notice a write committed,
/// the engine's `version size etag\n` line first and the message completed from it.
pub fn parse_entry(seq: u64, entry: &[u8]) -> Option<(&str, std::borrow::Cow<'_, [u8]>)> {
    let (first, rest) = split_line(entry)?;
    if first.starts_with("arn:") {
        return Some((first, std::borrow::Cow::Borrowed(rest)));
    }
    let mut words = first.split(' ');
    let (version, size, etag) = (words.next()?, words.next()?.parse().ok()?, words.next()?);
    let (arn, template) = split_line(rest)?;
    Some((arn, std::borrow::Cow::Owned(event::complete(template, seq, version, size, etag)?)))
}

fn split_line(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let at = bytes.iter().position(|b| *b == b'\n')?;
    Some((std::str::from_utf8(&bytes[..at]).ok()?, &bytes[at + 1..]))
}

/// The source address an event names: the peer, else `127.0.0.1` (a request made in-process).
pub fn source_ip() -> String {
    crate::authorization::PEER.try_with(|peer: &IpAddr| peer.to_string()).unwrap_or_else(|_| "127.0.0.1".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        let good = Target::parse("arn:aws:sqs:us-east-1:123456789012:jobs=http://127.0.0.1:8080/hook").unwrap();
        assert_eq!(good.check().unwrap(), Webhook { authority: "127.0.0.1:8080".into(), path: "/hook".into() });
        assert!(Target::parse("no-equals").is_err());
        for bad in [
            "arn:aws:s3:::bucket=http://127.0.0.1:1/",
            "arn:aws:sqs:us-east-1:1:=http://127.0.0.1:1/",
            "arn:aws:sqs:us-east-1:1:q=https://example.com/",
            "arn:aws:sqs:us-east-1:1:q=not a url",
        ] {
            assert!(Target::parse(bad).unwrap().check().is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_read_back() {
        let entry = entry("arn:aws:sns:us-east-1:1:t", &serde_json::json!({"a": 1}));
        let (arn, message) = parse_entry(7, &entry).unwrap();
        assert_eq!((arn, &*message), ("arn:aws:sns:us-east-1:1:t", &b"{\"a\":1}"[..]));
        // A notice's entry: the engine's line, then the template, completed.
        let template = serde_json::json!({"Records": [{"s3": {"object": {"key": "k"}}}]});
        let mut noticed = b"0000000000000009 5 abc\n".to_vec();
        noticed.extend_from_slice(&super::entry("arn:aws:sqs:us-east-1:1:q", &template));
        let (arn, message) = parse_entry(9, &noticed).unwrap();
        assert_eq!(arn, "arn:aws:sqs:us-east-1:1:q");
        let message: serde_json::Value = serde_json::from_slice(&message).unwrap();
        let object = &message["Records"][0]["s3"]["object"];
        assert_eq!((object["size"].as_u64(), object["eTag"].as_str()), (Some(5), Some("abc")));
        assert_eq!(object["versionId"], "0000000000000009");
        assert_eq!(object["sequencer"], "0000000000000009");
        let null = [&b"null 5 abc\n"[..], &super::entry("arn:aws:sqs:us-east-1:1:q", &template)].concat();
        let (_, message) = parse_entry(9, &null).unwrap();
        assert!(!String::from_utf8_lossy(&message).contains("versionId"), "a null version names none");
        assert!(parse_entry(1, b"garbage").is_none());
        assert!(outbox_name("b", "arn").len() <= cairn_engine::limits::OUTBOX_NAME_BYTES_MAX);
        assert_ne!(outbox_name("b", "arn:1"), outbox_name("b", "arn:2"));
    }
}
