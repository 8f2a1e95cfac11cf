//! Event notifications through kill -9: `cairn serve` is killed with SIGKILL while clients PUT
//! into a bucket that publishes, with its webhook up in some cycles and down (503) in others.
//! In the end every PUT that was answered 200 has had its event delivered (at least once: a
//! kill between a POST and its ack sends it again), and no message is left waiting.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_bench::webhook::Receiver;
use cairn_engine::{Engine, EngineConfig};
use cairn_server::notify::rules::{Kind, Rule};
use cairn_server::notify::{BUCKET_NOTIFICATION, OUTBOX_PREFIX, Rules};

const ACCESS_KEY: &str = "NOTIFYKEY";
const SECRET_KEY: &str = "notify-secret";
const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";
/// Kill cycles: how long each one's load runs before the kill, and whether the webhook is up.
const CYCLES: [(u64, bool); 3] = [(1200, true), (900, false), (700, true)];
/// How long the last run has to deliver everything.
const DRAIN: Duration = Duration::from_secs(60);

fn prepare(dir: &Path) {
    let engine = Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    engine.create_bucket("jobs", "us-east-1").unwrap();
    let rule = Rule {
        id: "every-put".into(),
        kind: Kind::Queue,
        arn: QUEUE.into(),
        events: vec!["s3:ObjectCreated:*".into()],
        prefix: None,
        suffix: None,
    };
    engine.put_bucket_config("jobs", BUCKET_NOTIFICATION, &Rules { rules: vec![rule] }.encode()).unwrap();
}

fn serve(dir: &Path, webhook: &str) -> (std::process::Child, std::net::SocketAddr) {
    common::serve(dir, &["--notification-target", &format!("{QUEUE}={webhook}")], ACCESS_KEY, SECRET_KEY)
}

/// PUTs of new keys for `run`: the keys answered 200.
async fn load(address: std::net::SocketAddr, cycle: usize, run: Duration) -> Vec<String> {
    common::put_load(address, (ACCESS_KEY, SECRET_KEY), "jobs", cycle, run, |_| bytes::Bytes::from_static(b"job")).await
}

/// How many times each key's ObjectCreated event was received.
fn received(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for body in receiver.bodies() {
        let message: serde_json::Value = serde_json::from_slice(&body).expect("a JSON message");
        let record = &message["Records"][0];
        assert_eq!(record["eventName"], "ObjectCreated:Put", "{message}");
        assert_eq!(record["s3"]["configurationId"], "every-put");
        *seen.entry(record["s3"]["object"]["key"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_has_its_event_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());
    let receiver = Receiver::start().unwrap();
    let mut acknowledged = Vec::new();
    for (cycle, (run_ms, up)) in CYCLES.into_iter().enumerate() {
        receiver.answer(if up { 200 } else { 503 });
        let (mut child, address) = serve(dir.path(), &receiver.url());
        // Killed while PUTs are in flight: no pause to let anything settle.
        let load = tokio::spawn(load(address, cycle, Duration::from_millis(run_ms + 500)));
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        acknowledged.extend(load.await.unwrap());
    }
    // A last run delivers what is left; SIGTERM stops it cleanly.
    receiver.answer(200);
    let (mut child, _) = serve(dir.path(), &receiver.url());
    let deadline = Instant::now() + DRAIN;
    let missing = loop {
        let seen = received(&receiver);
        let missing: Vec<&String> = acknowledged.iter().filter(|key| !seen.contains_key(*key)).collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    let seen = received(&receiver);
    let repeated = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "{} PUTs acknowledged, {} keys' events received, {repeated} received more than once",
        acknowledged.len(),
        seen.len()
    );
    assert_eq!(missing, 0, "{missing} of {} acknowledged PUTs have no event", acknowledged.len());
    let engine = Engine::open(dir.path(), EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    let waiting: usize = engine.outboxes(OUTBOX_PREFIX).iter().map(|(_, entries, _)| entries).sum();
    assert_eq!(waiting, 0, "every message is delivered and acked");
    assert!(acknowledged.len() > 100, "the load ran: {}", acknowledged.len());
}
