//! Event notifications end to end with aws-sdk-s3: Put/GetBucketNotificationConfiguration and
//! the errors AWS gives, the test event, and every event Cairn publishes received by a webhook
//! (`cairn_bench::webhook`) field by field; a webhook that is down gets its events, in order,
//! once it is back, across a restart.

use std::time::Duration;

use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, Event, EventBridgeConfiguration,
    FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, ObjectIdentifier, QueueConfiguration, S3KeyFilter, Tag, Tagging,
    TopicConfiguration, VersioningConfiguration,
};
use cairn_bench::webhook::Receiver;
use serde_json::Value;

use crate::common::{TestServer, code};

const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:news";
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails";

/// How long a test waits for a message that should come.
const ARRIVAL: Duration = Duration::from_secs(20);

/// A server whose three destinations all POST to `receiver`.
async fn server_for(receiver: &Receiver, lifecycle_day_seconds: Option<u64>) -> TestServer {
    TestServer::start_reconfigured(|config| {
        config.notification_targets = [QUEUE, TOPIC, FUNCTION]
            .into_iter()
            .map(|arn| cairn_server::notify::Target { arn: arn.into(), url: receiver.url() })
            .collect();
        if let Some(seconds) = lifecycle_day_seconds {
            config.lifecycle_day_seconds = seconds;
        }
    })
    .await
}

fn filter(rules: &[(&str, &str)]) -> NotificationConfigurationFilter {
    let mut key = S3KeyFilter::builder();
    for (name, value) in rules {
        key = key.filter_rules(FilterRule::builder().name(FilterRuleName::from(*name)).value(*value).build());
    }
    NotificationConfigurationFilter::builder().key(key.build()).build()
}

fn queue(id: &str, events: &[&str], rules: &[(&str, &str)]) -> QueueConfiguration {
    let mut queue = QueueConfiguration::builder().id(id).queue_arn(QUEUE);
    for event in events {
        queue = queue.events(Event::from(*event));
    }
    if !rules.is_empty() {
        queue = queue.filter(filter(rules));
    }
    queue.build().unwrap()
}

fn queues(configurations: Vec<QueueConfiguration>) -> NotificationConfiguration {
    NotificationConfiguration::builder().set_queue_configurations(Some(configurations)).build()
}

async fn put_config(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    config: NotificationConfiguration,
) -> Result<String, String> {
    match s3.put_bucket_notification_configuration().bucket(bucket).notification_configuration(config).send().await {
        Ok(output) => Ok(output.request_id().unwrap_or_default().to_owned()),
        Err(error) => Err(format!("{}: {}", code(&error), error.into_service_error().meta().message().unwrap_or(""))),
    }
}

/// Waits for at least `count` messages in all; returns every message received, parsed.
async fn messages(receiver: &Receiver, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        let bodies = receiver.bodies();
        if bodies.len() >= count || tokio::time::Instant::now() >= deadline {
            return bodies.iter().map(|b| serde_json::from_slice(b).expect("a JSON message")).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The records (not test events) among `messages`.
fn records(messages: &[Value]) -> Vec<Value> {
    messages.iter().filter_map(|m| m.get("Records")).map(|r| r[0].clone()).collect()
}

fn named<'a>(records: &'a [Value], event: &str, key: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["eventName"] == event && r["s3"]["object"]["key"] == key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_configurations_are_checked_as_aws_does() {
    let receiver = Receiver::start().unwrap();
    let server = server_for(&receiver, None).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("photos").send().await.unwrap();
    let got = s3.get_bucket_notification_configuration().bucket("photos").send().await.unwrap();
    assert!(got.queue_configurations().is_empty() && got.topic_configurations().is_empty(), "none until set");
    let missing = s3.get_bucket_notification_configuration().bucket("missing").send().await.unwrap_err();
    assert_eq!(code(&missing), "NoSuchBucket");

    let refused = |config| put_config(s3, "photos", config);
    let unknown = QueueConfiguration::builder()
        .queue_arn("arn:aws:sqs:us-east-1:123456789012:nowhere")
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    let error = refused(queues(vec![unknown])).await.unwrap_err();
    assert_eq!(error, "InvalidArgument: Unable to validate the following destination configurations");
    // A topic's ARN in a queue configuration names no queue.
    let misplaced = QueueConfiguration::builder().queue_arn(TOPIC).events(Event::S3ObjectCreated).build().unwrap();
    assert!(refused(queues(vec![misplaced])).await.unwrap_err().starts_with("InvalidArgument: Unable to validate"));
    let error = refused(queues(vec![queue("a", &["s3:ObjectCreated:Bogus"], &[])])).await.unwrap_err();
    assert_eq!(error, "InvalidArgument: The event is not supported for notifications");
    let error = refused(queues(vec![queue("a", &["s3:ObjectCreated:*"], &[("middle", "x")])])).await.unwrap_err();
    assert_eq!(error, "InvalidArgument: filter rule name must be either prefix or suffix");
    let twice = [("prefix", "a/"), ("prefix", "b/")];
    let error = refused(queues(vec![queue("a", &["s3:ObjectCreated:*"], &twice)])).await.unwrap_err();
    assert_eq!(error, "InvalidArgument: Cannot specify more than one prefix rule in a filter.");
    // Overlaps: a shared event type (a wildcard shares its family), keys both filters take.
    let same = vec![queue("a", &["s3:ObjectCreated:*"], &[]), queue("b", &["s3:ObjectCreated:Put"], &[])];
    assert!(refused(queues(same)).await.unwrap_err().contains("Configurations overlap."));
    let nested = vec![
        queue("a", &["s3:ObjectCreated:*"], &[("prefix", "images/")]),
        queue("b", &["s3:ObjectCreated:*"], &[("prefix", "images/big/")]),
    ];
    assert!(refused(queues(nested)).await.unwrap_err().contains("ambiguously defined"));
    let bridge = NotificationConfiguration::builder()
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    assert!(refused(bridge).await.unwrap_err().starts_with("InvalidArgument"));

    // x-amz-skip-destination-validation takes an ARN no destination is configured for.
    let unknown = QueueConfiguration::builder()
        .queue_arn("arn:aws:sqs:us-east-1:123456789012:nowhere")
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("photos")
        .notification_configuration(queues(vec![unknown]))
        .skip_destination_validation(true)
        .send()
        .await
        .unwrap();

    // Overlapping prefixes with suffixes that do not overlap are allowed; so are different
    // event types on the same keys. A configuration without an Id is given one.
    let config = NotificationConfiguration::builder()
        .queue_configurations(queue("jpg", &["s3:ObjectCreated:*"], &[("Prefix", "images/"), ("suffix", ".jpg")]))
        .queue_configurations(queue("png", &["s3:ObjectCreated:*"], &[("prefix", "images/"), ("suffix", ".png")]))
        .topic_configurations(
            TopicConfiguration::builder().topic_arn(TOPIC).events(Event::S3ObjectRemoved).build().unwrap(),
        )
        .lambda_function_configurations(
            LambdaFunctionConfiguration::builder()
                .id("tags")
                .lambda_function_arn(FUNCTION)
                .events(Event::S3ObjectTagging)
                .events(Event::S3ObjectAclPut)
                .build()
                .unwrap(),
        )
        .build();
    let request_id = put_config(s3, "photos", config).await.unwrap();
    let got = s3.get_bucket_notification_configuration().bucket("photos").send().await.unwrap();
    let queues_got = got.queue_configurations();
    assert_eq!(queues_got.len(), 2);
    assert_eq!(queues_got[0].id(), Some("jpg"));
    assert_eq!(queues_got[0].queue_arn(), QUEUE);
    assert_eq!(queues_got[0].events(), [Event::S3ObjectCreated]);
    let rules = queues_got[0].filter().unwrap().key().unwrap().filter_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!((rules[0].name(), rules[0].value()), (Some(&FilterRuleName::Prefix), Some("images/")));
    assert_eq!((rules[1].name(), rules[1].value()), (Some(&FilterRuleName::Suffix), Some(".jpg")));
    let topic = &got.topic_configurations()[0];
    assert!(topic.id().is_some_and(|id| !id.is_empty()), "an Id is generated");
    assert_eq!(topic.events(), [Event::S3ObjectRemoved]);
    assert_eq!(got.lambda_function_configurations()[0].events(), [Event::S3ObjectTagging, Event::S3ObjectAclPut]);

    // Each destination gets S3's test event, naming the request that set it.
    let received = messages(&receiver, 3).await;
    let tests: Vec<_> = received.iter().filter(|m| m["Event"] == "s3:TestEvent").collect();
    assert_eq!(tests.len(), 3, "{received:?}");
    for test in tests {
        assert_eq!(test["Service"], "Amazon S3");
        assert_eq!(test["Bucket"], "photos");
        assert_eq!(test["RequestId"], request_id.as_str());
        assert!(test["Time"].as_str().unwrap().ends_with('Z'));
    }

    // An empty configuration turns notifications off.
    put_config(s3, "photos", NotificationConfiguration::builder().build()).await.unwrap();
    let got = s3.get_bucket_notification_configuration().bucket("photos").send().await.unwrap();
    assert!(got.queue_configurations().is_empty() && got.topic_configurations().is_empty());
    s3.put_object().bucket("photos").key("images/a.jpg").body(ByteStream::from_static(b"x")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(records(&messages(&receiver, 0).await).is_empty(), "no events once off");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_webhook_with_the_fields_aws_sends() {
    let receiver = Receiver::start().unwrap();
    let server = server_for(&receiver, None).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    let everything = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*", "s3:ObjectAcl:Put"];
    put_config(s3, "inbox", queues(vec![queue("all-in", &everything, &[("prefix", "in/")])])).await.unwrap();
    messages(&receiver, 1).await;

    let put = s3.put_object().bucket("inbox").key("in/a b.txt").body(ByteStream::from_static(b"hello")).send();
    let put = put.await.unwrap();
    s3.put_object().bucket("inbox").key("out/skipped").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let source = "inbox/in/a%20b.txt";
    s3.copy_object().bucket("inbox").key("in/copy").copy_source(source).send().await.unwrap();
    let upload = s3.create_multipart_upload().bucket("inbox").key("in/parts").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s3.upload_part().bucket("inbox").key("in/parts").upload_id(upload_id).part_number(1);
    let part = part.body(ByteStream::from_static(b"part one")).send().await.unwrap();
    let completed = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    s3.complete_multipart_upload()
        .bucket("inbox")
        .key("in/parts")
        .upload_id(upload_id)
        .multipart_upload(completed)
        .send()
        .await
        .unwrap();
    let tagging = Tagging::builder().tag_set(Tag::builder().key("k").value("v").build().unwrap()).build().unwrap();
    s3.put_object_tagging().bucket("inbox").key("in/copy").tagging(tagging).send().await.unwrap();
    s3.delete_object_tagging().bucket("inbox").key("in/copy").send().await.unwrap();
    // ACLs count once the bucket's ownership lets them (an ACL a bucket ignores changes nothing).
    let writer = aws_sdk_s3::types::OwnershipControlsRule::builder()
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
        .build()
        .unwrap();
    let controls = aws_sdk_s3::types::OwnershipControls::builder().rules(writer).build().unwrap();
    s3.put_bucket_ownership_controls().bucket("inbox").ownership_controls(controls).send().await.unwrap();
    s3.put_object_acl().bucket("inbox").key("in/copy").acl("bucket-owner-full-control".into()).send().await.unwrap();
    s3.delete_object().bucket("inbox").key("in/a b.txt").send().await.unwrap();
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("in/copy").build().unwrap())
        .objects(ObjectIdentifier::builder().key("in/parts").build().unwrap())
        .objects(ObjectIdentifier::builder().key("in/never-was").build().unwrap())
        .build()
        .unwrap();
    s3.delete_objects().bucket("inbox").delete(delete).send().await.unwrap();

    let all = records(&messages(&receiver, 1 + 9).await);
    assert_eq!(all.len(), 9, "{all:#?}");
    let created = named(&all, "ObjectCreated:Put", "in/a+b.txt");
    let record = created[0];
    assert_eq!(record["eventVersion"], "2.1");
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["awsRegion"], "us-east-1");
    assert!(record["eventTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        record["userIdentity"]["principalId"],
        cairn_server::account::canonical_id(cairn_server::account::ROOT_ACCOUNT)
    );
    assert_eq!(record["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert_eq!(record["responseElements"]["x-amz-request-id"], put.request_id().unwrap());
    assert!(record["responseElements"]["x-amz-id-2"].as_str().is_some_and(|id| !id.is_empty()));
    let s3_part = &record["s3"];
    assert_eq!(s3_part["s3SchemaVersion"], "1.0");
    assert_eq!(s3_part["configurationId"], "all-in");
    assert_eq!(s3_part["bucket"]["name"], "inbox");
    assert_eq!(s3_part["bucket"]["arn"], "arn:aws:s3:::inbox");
    assert_eq!(
        s3_part["bucket"]["ownerIdentity"]["principalId"],
        cairn_server::account::canonical_id(cairn_server::account::ROOT_ACCOUNT)
    );
    assert_eq!(s3_part["object"]["size"], 5);
    assert_eq!(s3_part["object"]["eTag"], put.e_tag().unwrap().trim_matches('"'));
    assert!(s3_part["object"].get("versionId").is_none(), "unversioned");
    assert_eq!(s3_part["object"]["sequencer"].as_str().unwrap().len(), 16);
    assert_eq!(named(&all, "ObjectCreated:Copy", "in/copy").len(), 1);
    let completion = named(&all, "ObjectCreated:CompleteMultipartUpload", "in/parts");
    assert_eq!(completion[0]["s3"]["object"]["size"], 8);
    assert!(completion[0]["s3"]["object"]["eTag"].as_str().unwrap().ends_with("-1"));
    assert_eq!(named(&all, "ObjectTagging:Put", "in/copy")[0]["eventVersion"], "2.3");
    assert_eq!(named(&all, "ObjectTagging:Delete", "in/copy").len(), 1);
    assert_eq!(named(&all, "ObjectAcl:Put", "in/copy").len(), 1);
    for key in ["in/a+b.txt", "in/copy", "in/parts"] {
        let removed = named(&all, "ObjectRemoved:Delete", key);
        assert_eq!(removed.len(), 1, "{key}");
        assert!(removed[0]["s3"]["object"].get("size").is_none());
    }
    // A key's events are in the order of its writes, by their sequencers.
    let copy_created = named(&all, "ObjectCreated:Copy", "in/copy")[0]["s3"]["object"]["sequencer"].clone();
    let copy_removed = named(&all, "ObjectRemoved:Delete", "in/copy")[0]["s3"]["object"]["sequencer"].clone();
    assert!(copy_created.as_str() < copy_removed.as_str());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_events_name_versions_and_wait_for_a_webhook_that_is_down() {
    let receiver = Receiver::start().unwrap();
    let mut server = server_for(&receiver, None).await;
    let s3 = server.client.clone();
    s3.create_bucket().bucket("kept").send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("kept").versioning_configuration(enabled).send().await.unwrap();
    let events = ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"];
    put_config(&s3, "kept", queues(vec![queue("versions", &events, &[("suffix", ".log")])])).await.unwrap();
    messages(&receiver, 1).await;

    let put = s3.put_object().bucket("kept").key("a.log").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let marker = s3.delete_object().bucket("kept").key("a.log").send().await.unwrap();
    let version = put.version_id().unwrap();
    s3.delete_object().bucket("kept").key("a.log").version_id(version).send().await.unwrap();
    let all = records(&messages(&receiver, 4).await);
    assert_eq!(named(&all, "ObjectCreated:Put", "a.log")[0]["s3"]["object"]["versionId"], version);
    let marked = named(&all, "ObjectRemoved:DeleteMarkerCreated", "a.log");
    assert_eq!(marked[0]["s3"]["object"]["versionId"], marker.version_id().unwrap());
    assert_eq!(named(&all, "ObjectRemoved:Delete", "a.log")[0]["s3"]["object"]["versionId"], version);

    // The webhook is down: the events wait in the engine, across a restart, and come in order
    // once it answers again.
    receiver.answer(503);
    for n in 0..5 {
        let key = format!("later-{n}.log");
        s3.put_object().bucket("kept").key(&key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(records(&messages(&receiver, 0).await).len(), 3, "nothing lands while it is down");
    server.restart().await;
    receiver.answer(200);
    let all = records(&messages(&receiver, 1 + 3 + 5).await);
    let later: Vec<&str> = all[3..].iter().map(|r| r["s3"]["object"]["key"].as_str().unwrap()).collect();
    assert_eq!(later, ["later-0.log", "later-1.log", "later-2.log", "later-3.log", "later-4.log"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_expirations_and_form_uploads_publish_their_events() {
    let receiver = Receiver::start().unwrap();
    let server = server_for(&receiver, Some(2)).await;
    let s3 = &server.client;
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    let events = ["s3:LifecycleExpiration:*", "s3:ObjectCreated:Post"];
    put_config(s3, "inbox", queues(vec![queue("expiry", &events, &[])])).await.unwrap();
    let rule = aws_sdk_s3::types::LifecycleRule::builder()
        .id("one-day")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(aws_sdk_s3::types::LifecycleRuleFilter::builder().prefix("").build())
        .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    let lifecycle = aws_sdk_s3::types::BucketLifecycleConfiguration::builder().rules(rule).build().unwrap();
    s3.put_bucket_lifecycle_configuration().bucket("inbox").lifecycle_configuration(lifecycle).send().await.unwrap();

    // A form upload is ObjectCreated:Post.
    let request = cairn_server::PostFormRequest {
        endpoint: format!("http://{}", server.addr),
        bucket: "inbox".into(),
        key: "posted".into(),
        access_key: crate::common::ACCESS_KEY.into(),
        secret_key: crate::common::SECRET_KEY.into(),
        region: "us-east-1".into(),
        expires_seconds: 600,
        fields: Vec::new(),
        content_length_range: None,
    };
    let form = cairn_server::presigned_post(&request, time::OffsetDateTime::now_utc()).unwrap();
    let (boundary, body) = crate::post::form(&form.fields, Some(("posted.txt", "text/plain", b"form bytes")));
    let (status, _, answer) = crate::post::post(server.addr, "inbox", &boundary, &body);
    assert_eq!(status, 204, "{answer}");

    let all = records(&messages(&receiver, 1 + 2).await);
    let posted = named(&all, "ObjectCreated:Post", "posted");
    assert_eq!(posted[0]["s3"]["object"]["size"], 10);
    let expired = named(&all, "LifecycleExpiration:Delete", "posted");
    assert_eq!(expired.len(), 1, "{all:#?}");
    assert_eq!(expired[0]["eventVersion"], "2.3");
    assert_eq!(expired[0]["userIdentity"]["principalId"], "s3.amazonaws.com");
    assert!(
        expired[0]["s3"]["object"]["sequencer"].as_str().unwrap()
            > posted[0]["s3"]["object"]["sequencer"].as_str().unwrap()
    );
    server.stop().await;
}
