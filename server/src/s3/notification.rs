//! PutBucketNotificationConfiguration and GetBucketNotificationConfiguration, and what the
//! object handlers call to publish an event (see `crate::notify`).

use super::*;
use crate::notify::{BUCKET_NOTIFICATION, Cause, Event, EventName, Publisher, RequestIds, Rules, Subject};

/// A write's event, while it is being made: who caused it, for which publishing bucket.
pub(crate) struct Publishing {
    publisher: Arc<Publisher>,
    cause: Cause,
}

impl Cairn {
    pub(super) async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let ids = req.extensions.get::<RequestIds>().cloned();
        let input = req.input;
        let bucket = input.bucket;
        self.engine.head_bucket(&bucket).map_err(to_s3)?;
        let notifications = self.notifications.clone();
        let known = |arn: &str| notifications.knows(arn);
        let check: Option<&dyn Fn(&str) -> bool> =
            if input.skip_destination_validation == Some(true) { None } else { Some(&known) };
        let rules = Rules::from_dto(input.notification_configuration, check)
            .map_err(|invalid| crate::web::s3_error(invalid.code, &invalid.message))?;
        if rules.rules.is_empty() {
            self.delete_config(bucket.clone(), BUCKET_NOTIFICATION).await?;
        } else {
            let (name, value) = (bucket.clone(), rules.encode());
            self.blocking(move |engine| engine.put_bucket_config(&name, BUCKET_NOTIFICATION, &value)).await?;
            let ids = ids.unwrap_or(RequestIds { request: String::new(), host: String::new() });
            self.notifications.test(&bucket, &rules, &ids).await;
        }
        self.notifications.set(&bucket, rules, &self.accounts);
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
    }

    pub(super) async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, BUCKET_NOTIFICATION).map_err(to_s3)?;
        let rules = stored.and_then(|stored| Rules::decode(&stored)).unwrap_or_default();
        Ok(S3Response::new(rules.to_dto()))
    }

    /// The start of a write's event, if `bucket` publishes: who asks. A write to a bucket that
    /// publishes is refused while the outboxes have no room for its events (503 SlowDown), so
    /// an acknowledged write never loses its event to a full queue.
    pub(super) fn publishing<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<Option<Publishing>> {
        let Some(publisher) = self.notifications.publisher(bucket) else { return Ok(None) };
        if !self.notifications.has_room() {
            return Err(s3_error!(SlowDown, "Please reduce your request rate: event notifications are backed up."));
        }
        let principal = match self.accounts.principal(req.credentials.as_ref())? {
            Some(account) if account.is_root() => account.canonical_id.clone(),
            Some(account) => account.arn(),
            None => "anonymous".to_owned(),
        };
        let ids = req.extensions.get::<RequestIds>();
        let cause = Cause {
            principal,
            source_ip: crate::notify::source_ip(),
            request_id: ids.map(|ids| ids.request.clone()).unwrap_or_default(),
            host_id: ids.map(|ids| ids.host.clone()).unwrap_or_default(),
        };
        Ok(Some(Publishing { publisher, cause }))
    }

    /// The notice of a write's `name` event on `key`, if the write is `publishing` and a
    /// configuration matches: committed with the write, whose size, ETag, version and
    /// sequencer the delivery fills in from what the write made.
    pub(super) fn notice(
        &self,
        publishing: &Option<Publishing>,
        bucket: &str,
        key: &str,
        name: EventName,
    ) -> Option<cairn_engine::Notice> {
        let Publishing { publisher, cause } = publishing.as_ref()?;
        let event = Event {
            name,
            region: publisher.region.clone(),
            time_ms: crate::logging::now_ms(),
            bucket: bucket.to_owned(),
            owner: publisher.owner.clone(),
            subject: Subject { key: key.to_owned(), ..Subject::default() },
            cause: cause.clone(),
        };
        self.notifications.notice(publisher, &event)
    }

    /// Publishes the events `events` makes, if the write was `publishing`: durable on return.
    pub(super) async fn publish(
        &self,
        publishing: Option<Publishing>,
        bucket: &str,
        events: impl FnOnce() -> Vec<(EventName, Subject)>,
    ) {
        let Some(Publishing { publisher, cause }) = publishing else { return };
        let time_ms = crate::logging::now_ms();
        let events = events()
            .into_iter()
            .map(|(name, subject)| Event {
                name,
                region: publisher.region.clone(),
                time_ms,
                bucket: bucket.to_owned(),
                owner: publisher.owner.clone(),
                subject,
                cause: cause.clone(),
            })
            .collect();
        self.notifications.publish(&publisher, events).await;
    }
}

/// The subject of an event about a delete.
pub(super) fn removed(key: &str, outcome: &cairn_engine::DeleteOutcome) -> (EventName, Subject) {
    let name = if outcome.delete_marker { EventName::DeleteMarkerCreated } else { EventName::Delete };
    let subject = Subject {
        key: key.to_owned(),
        version: outcome.version.and_then(version_named),
        seq: outcome.seq,
        ..Subject::default()
    };
    (name, subject)
}

/// The subject of an event about a version's tags, ACL or restore.
pub(super) fn about(key: &str, version: Option<VersionId>) -> Subject {
    Subject { key: key.to_owned(), version: version.and_then(version_named), ..Subject::default() }
}

/// A version as events name it: null versions (and unversioned objects) have no `versionId`.
fn version_named(version: VersionId) -> Option<String> {
    match version {
        VersionId::Null => None,
        id => Some(id.to_string()),
    }
}
