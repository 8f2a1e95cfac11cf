//! Server access log delivery through kill -9: `cairn serve` (delivering every second) is
//! killed with SIGKILL while clients make requests to a bucket that logs and while it delivers.
//! Every request answered at least a spool interval before a kill is in the delivered logs in
//! the end, exactly once; every log object reads back whole, every record in it a full line.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_engine::{Engine, EngineConfig, ListQuery, ObjectAttributes};
use cairn_server::logging::{BUCKET_LOGGING, KeyFormat, OUTBOX_PREFIX, SPOOL_INTERVAL, Target};

const ACCESS_KEY: &str = "ACCESSLOGS";
const SECRET_KEY: &str = "access-log-secret";
/// Kill cycles, and how long each one's counted and uncounted load run.
const CYCLES: usize = 3;
const COUNTED: Duration = Duration::from_millis(1200);
const UNCOUNTED_MS: [u64; CYCLES] = [0, 450, 1300];
/// Requests a client makes at most per phase (the load is bounded in count and time).
const REQUESTS_MAX: usize = 20_000;
const CLIENTS: usize = 2;

fn prepare(dir: &Path) {
    let engine = Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    engine.create_bucket("source", "us-east-1").unwrap();
    engine.create_bucket("logs", "us-east-1").unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::logs/*"}]}"#;
    engine.put_bucket_config("logs", "policy", policy.as_bytes()).unwrap();
    let target =
        Target { bucket: "logs".into(), prefix: "l/".into(), grants: Vec::new(), key_format: KeyFormat::Simple };
    engine.put_bucket_config("source", BUCKET_LOGGING, &target.encode()).unwrap();
    engine.put_object_bytes("source", "k", ObjectAttributes::default(), b"kept").unwrap();
}

fn serve(dir: &Path) -> (std::process::Child, std::net::SocketAddr) {
    common::serve(dir, &["--log-delivery-seconds", "1"], ACCESS_KEY, SECRET_KEY)
}

/// GETs of `source/k` for `run` (at most `REQUESTS_MAX` each): the request ids answered.
async fn load(address: std::net::SocketAddr, run: Duration) -> Vec<String> {
    use cairn_bench::client::{Call, Client, Target as Endpoint};
    let answered = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + run;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut endpoint = Endpoint::resolve(&format!("http://{address}"), None, false).unwrap();
        (endpoint.access_key, endpoint.secret_key, endpoint.bucket) =
            (ACCESS_KEY.into(), SECRET_KEY.into(), "source".into());
        let mut client = Client::new(Arc::new(endpoint));
        let answered = answered.clone();
        clients.push(tokio::spawn(async move {
            for _ in 0..REQUESTS_MAX {
                if Instant::now() >= until {
                    break;
                }
                let call = Call::new(http::Method::GET, "k").capture("x-amz-request-id");
                match client.request(call).await {
                    Ok(reply) if reply.status == 200 => answered.lock().unwrap().push(reply.captured.unwrap()),
                    _ => break,
                }
            }
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    Arc::try_unwrap(answered).unwrap().into_inner().unwrap()
}

/// Every delivered record's request id with how many times it appears (each object checked),
/// and the entries still spooled.
fn delivered(dir: &Path) -> (HashMap<String, usize>, usize) {
    let engine = Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap();
    let mut seen = HashMap::new();
    let query = ListQuery { prefix: "l/".into(), max_keys: 1000, ..ListQuery::default() };
    let page = engine.list_objects("logs", &query).unwrap();
    assert!(!page.is_truncated);
    for object in page.entries() {
        let body = String::from_utf8(engine.get_object_bytes("logs", &object.key, None).unwrap()).unwrap();
        assert!(body.ends_with('\n'), "{} ends with a whole record", object.key);
        for line in body.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(&fields[..2], [cairn_server::account::canonical_id("root").as_str(), "source"], "{line}");
            assert!(line.contains(" REST.GET.OBJECT k \"GET /source/k HTTP/1.1\" 200 - 4 4 "), "{line}");
            // Split at every space, the time is two fields: the request id is the seventh.
            *seen.entry(fields[6].to_owned()).or_insert(0) += 1;
        }
    }
    let pending = engine.outboxes(OUTBOX_PREFIX).iter().map(|(_, entries, _)| entries).sum::<usize>();
    (seen, pending)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_delivery_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());
    let mut counted = Vec::new();
    for uncounted_ms in UNCOUNTED_MS {
        let (mut child, address) = serve(dir.path());
        counted.extend(load(address, COUNTED).await);
        // Spooled by now: durable, whatever comes next.
        tokio::time::sleep(SPOOL_INTERVAL + Duration::from_millis(300)).await;
        load(address, Duration::from_millis(uncounted_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let (seen, _) = delivered(dir.path());
        assert!(seen.values().all(|&n| n == 1), "no record is delivered twice");
    }
    // A last run delivers what is left; SIGTERM stops it cleanly.
    let (mut child, _) = serve(dir.path());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    let (seen, pending) = delivered(dir.path());
    eprintln!("{} requests counted, {} records delivered", counted.len(), seen.len());
    assert_eq!(pending, 0, "every spooled entry is delivered and acked");
    let missing: Vec<&String> = counted.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} of {} answered requests have no record: {missing:?}", missing.len(), counted.len());
    assert!(seen.values().all(|&n| n == 1), "no record is delivered twice");
    assert!(counted.len() > 100, "the load ran: {}", counted.len());
}
