//! The events Cairn publishes and their message: AWS's event JSON (`{"Records":[...]}`), one
//! record per message, as S3 sends them.

use serde_json::{Value, json};

/// An event that happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName {
    Put,
    Post,
    Copy,
    CompleteMultipartUpload,
    Delete,
    DeleteMarkerCreated,
    TaggingPut,
    TaggingDelete,
    AclPut,
    RestorePost,
    RestoreCompleted,
    LifecycleDelete,
    LifecycleDeleteMarkerCreated,
    LifecycleTransition,
}

impl EventName {
    /// The name in a record's `eventName` (a configuration's event type without `s3:`).
    pub fn name(self) -> &'static str {
        match self {
            EventName::Put => "ObjectCreated:Put",
            EventName::Post => "ObjectCreated:Post",
            EventName::Copy => "ObjectCreated:Copy",
            EventName::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            EventName::Delete => "ObjectRemoved:Delete",
            EventName::DeleteMarkerCreated => "ObjectRemoved:DeleteMarkerCreated",
            EventName::TaggingPut => "ObjectTagging:Put",
            EventName::TaggingDelete => "ObjectTagging:Delete",
            EventName::AclPut => "ObjectAcl:Put",
            EventName::RestorePost => "ObjectRestore:Post",
            EventName::RestoreCompleted => "ObjectRestore:Completed",
            EventName::LifecycleDelete => "LifecycleExpiration:Delete",
            EventName::LifecycleDeleteMarkerCreated => "LifecycleExpiration:DeleteMarkerCreated",
            EventName::LifecycleTransition => "LifecycleTransition",
        }
    }

    /// AWS's `eventVersion`: 2.1 for most events, 2.3 for lifecycle, tagging and ACL ones.
    fn version(self) -> &'static str {
        match self {
            EventName::TaggingPut
            | EventName::TaggingDelete
            | EventName::AclPut
            | EventName::LifecycleDelete
            | EventName::LifecycleDeleteMarkerCreated
            | EventName::LifecycleTransition => "2.3",
            _ => "2.1",
        }
    }

    /// Whether the event's object has a `sequencer` (puts and deletes: AWS's rule).
    fn sequenced(self) -> bool {
        matches!(
            self,
            EventName::Put
                | EventName::Post
                | EventName::Copy
                | EventName::CompleteMultipartUpload
                | EventName::Delete
                | EventName::DeleteMarkerCreated
                | EventName::LifecycleDelete
                | EventName::LifecycleDeleteMarkerCreated
        )
    }
}

/// The object an event is about.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// The key. A created object's size and ETag are filled in at delivery, from what its
    /// write made ([`complete`]).
    pub key: String,
    /// The version made or removed; `None` in an unversioned bucket (or a null version).
    pub version: Option<String>,
    /// The commit's sequence number.
    pub seq: u64,
    /// A restore's expiry time (ISO 8601) and the storage class restored from.
    pub restore: Option<(String, String)>,
    /// A lifecycle transition's new storage class.
    pub transition: Option<String>,
}

/// Who and what caused an event.
#[derive(Clone, Debug, Default)]
pub struct Cause {
    /// `userIdentity.principalId`.
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
    pub host_id: String,
}

/// Everything one record says, but the configuration it matched.
#[derive(Clone, Debug)]
pub struct Event {
    pub name: EventName,
    pub region: String,
    pub time_ms: u64,
    pub bucket: String,
    pub owner: String,
    pub subject: Subject,
    pub cause: Cause,
}

impl Event {
    /// The message for the configuration `configuration_id`.
    pub fn message(&self, configuration_id: &str) -> Value {
        json!({ "Records": [self.record(configuration_id)] })
    }

    fn record(&self, configuration_id: &str) -> Value {
        let mut record = json!({
            "eventVersion": self.name.version(),
            "eventSource": "aws:s3",
            "awsRegion": self.region,
            "eventTime": iso_time(self.time_ms),
            "eventName": self.name.name(),
            "userIdentity": { "principalId": self.cause.principal },
            "requestParameters": { "sourceIPAddress": self.cause.source_ip },
            "responseElements": {
                "x-amz-request-id": self.cause.request_id,
                "x-amz-id-2": self.cause.host_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": configuration_id,
                "bucket": {
                    "name": self.bucket,
                    "ownerIdentity": { "principalId": self.owner },
                    "arn": format!("arn:aws:s3:::{}", self.bucket),
                },
                "object": self.object(),
            },
        });
        if let Some((expiry, class)) = &self.subject.restore {
            record["glacierEventData"] = json!({
                "restoreEventData": { "lifecycleRestorationExpiryTime": expiry, "lifecycleRestoreStorageClass": class }
            });
        }
        if let Some(class) = &self.subject.transition {
            record["lifecycleEventData"] = json!({ "transitionEventData": { "destinationStorageClass": class } });
        }
        record
    }

    fn object(&self) -> Value {
        let subject = &self.subject;
        let mut object = json!({ "key": form_encoded(&subject.key) });
        if let Some(version) = &subject.version {
            object["versionId"] = json!(version);
        }
        // A message committed with its write (a template) gets its sequencer at delivery.
        if self.name.sequenced() && subject.seq != 0 {
            object["sequencer"] = json!(sequencer(subject.seq));
        }
        object
    }
}

/// A sequencer: the write's record seq in 16 hex digits (so they sort as strings do).
pub fn sequencer(seq: u64) -> String {
    format!("{seq:016X}")
}

/// Completes a message whose write committed it (see `cairn_engine::Notice`): the object's
/// size, ETag, version (none for a null version) and sequencer, which the write could not know
/// before it was made.
pub fn complete(template: &[u8], seq: u64, version: &str, size: u64, etag: &str) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(template).ok()?;
    let object = message.get_mut("Records")?.get_mut(0)?.get_mut("s3")?.get_mut("object")?;
    object["size"] = json!(size);
    object["eTag"] = json!(etag);
    if version != "null" {
        object["versionId"] = json!(version);
    }
    object["sequencer"] = json!(sequencer(seq));
    serde_json::to_vec(&message).ok()
}

/// The message S3 sends a destination when a configuration is set.
pub fn test_message(bucket: &str, time_ms: u64, request_id: &str, host_id: &str) -> Value {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": iso_time(time_ms),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    })
}

/// `1970-01-01T00:00:00.000Z`.
pub fn iso_time(ms: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_default()
}

/// A key as an event names it: URL-encoded, a space as `+` ("red flower.jpg" is
/// "red+flower.jpg").
fn form_encoded(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'*' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_encoded_with_spaces_as_plus() {
        assert_eq!(form_encoded("red flower.jpg"), "red+flower.jpg");
        assert_eq!(form_encoded("a/b+c=d é"), "a/b%2Bc%3Dd+%C3%A9");
    }

    #[test]
    fn a_record_has_every_field_aws_lists() {
        let event = Event {
            name: EventName::Put,
            region: "us-west-2".into(),
            time_ms: 1_000,
            bucket: "photos".into(),
            owner: "owner-id".into(),
            // As a put's notice holds it: the write fills in the rest.
            subject: Subject { key: "HappyFace.jpg".into(), ..Subject::default() },
            cause: Cause {
                principal: "requester".into(),
                source_ip: "127.0.0.1".into(),
                request_id: "C3D13FE58DE4C810".into(),
                host_id: "host".into(),
            },
        };
        let template = serde_json::to_vec(&event.message("rule-1")).unwrap();
        assert!(!String::from_utf8_lossy(&template).contains("sequencer"), "a template has none");
        let etag = "d41d8cd98f00b204e9800998ecf8427e";
        let completed = complete(&template, 0x55AED6DCD90281E5, "0000000000000009", 1024, etag).unwrap();
        let message: Value = serde_json::from_slice(&completed).unwrap();
        let record = &message["Records"][0];
        assert_eq!(record["eventVersion"], "2.1");
        assert_eq!(record["eventSource"], "aws:s3");
        assert_eq!(record["eventTime"], "1970-01-01T00:00:01.000Z");
        assert_eq!(record["eventName"], "ObjectCreated:Put");
        assert_eq!(record["responseElements"]["x-amz-request-id"], "C3D13FE58DE4C810");
        assert_eq!(record["s3"]["configurationId"], "rule-1");
        assert_eq!(record["s3"]["bucket"]["arn"], "arn:aws:s3:::photos");
        assert_eq!(record["s3"]["object"]["size"], 1024);
        assert_eq!(record["s3"]["object"]["eTag"], etag);
        assert_eq!(record["s3"]["object"]["versionId"], "0000000000000009");
        assert_eq!(record["s3"]["object"]["sequencer"], "55AED6DCD90281E5");
        assert!(record.get("glacierEventData").is_none());
    }
}
