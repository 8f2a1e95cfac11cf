//! Replication through kill -9 of either side: a source `cairn serve` replicating to a
//! destination `cairn serve` (another region, data dir and port) is loaded with PUTs while one,
//! then the other, then both are killed with SIGKILL. Once both run again, every PUT that was
//! answered 200 is COMPLETED on the source and its replica is on the destination with the same
//! version id, ETag and bytes; no entry is left waiting.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_engine::{Engine, EngineConfig, ReplicationStatus, VersioningState};
use cairn_server::replication::{BUCKET_REPLICATION, OUTBOX_PREFIX, Stored};
use s3s::dto;

const ACCESS_KEY: &str = "REPLICATEKEY";
const SECRET_KEY: &str = "replicate-secret";
/// Kill cycles: how long each one's load runs, and which side is killed at its end.
const CYCLES: [(u64, Kill); 3] = [(1200, Kill::Source), (900, Kill::Destination), (700, Kill::Both)];
/// How long the last run has to replicate everything.
const DRAIN: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    Source,
    Destination,
    Both,
}

fn offline(dir: &Path) -> Engine {
    Engine::open(dir, EngineConfig { background: false, ..EngineConfig::default() }).unwrap()
}

fn prepare(source: &Path, destination: &Path) {
    let engine = offline(destination);
    engine.create_bucket("far", "eu-west-1").unwrap();
    engine.set_versioning("far", VersioningState::Enabled).unwrap();
    let engine = offline(source);
    engine.create_bucket("near", "us-east-1").unwrap();
    engine.set_versioning("near", VersioningState::Enabled).unwrap();
    let rule = dto::ReplicationRule {
        id: Some("everything".into()),
        priority: Some(1),
        status: dto::ReplicationRuleStatus::from_static("Enabled"),
        filter: Some(dto::ReplicationRuleFilter { prefix: Some(String::new()), ..Default::default() }),
        delete_marker_replication: Some(dto::DeleteMarkerReplication {
            status: Some(dto::DeleteMarkerReplicationStatus::from_static("Enabled")),
        }),
        destination: dto::Destination { bucket: "arn:aws:s3:::far".into(), ..Default::default() },
        existing_object_replication: None,
        prefix: None,
        source_selection_criteria: None,
    };
    let config = dto::ReplicationConfiguration { role: "arn:aws:iam::123456789012:role/r".into(), rules: vec![rule] };
    let stored = Stored { config, remote: [("far".to_owned(), "eu-west-1".to_owned())].into() };
    engine.put_bucket_config("near", BUCKET_REPLICATION, &stored.encode()).unwrap();
}

fn source(dir: &Path, destination: SocketAddr, admin: SocketAddr) -> (std::process::Child, SocketAddr) {
    let endpoint = format!("eu-west-1=http://{ACCESS_KEY}:{SECRET_KEY}@{destination}");
    let args = ["--replication-endpoint", &endpoint, "--admin-address", &admin.to_string()];
    common::serve(dir, &args, ACCESS_KEY, SECRET_KEY)
}

fn destination(dir: &Path, address: SocketAddr) -> std::process::Child {
    common::serve_at(dir, address, &["--region", "eu-west-1"], ACCESS_KEY, SECRET_KEY)
}

fn kill(child: &mut std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// PUTs of new keys for `run`: the keys answered 200.
async fn load(address: std::net::SocketAddr, cycle: usize, run: Duration) -> Vec<String> {
    common::put_load(address, (ACCESS_KEY, SECRET_KEY), "near", cycle, run, |key| {
        bytes::Bytes::from(format!("replicated {key}"))
    })
    .await
}

/// The entries waiting on the source, from its admin endpoint (`None` while it does not answer).
fn backlog(admin: SocketAddr) -> Option<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET /replication HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|at| &answer[at + 4..])?;
    let report: serde_json::Value = serde_json::from_slice(body).ok()?;
    report["backlog_entries"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_replicated_through_kill_9_of_either_side() {
    let (source_dir, destination_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    prepare(source_dir.path(), destination_dir.path());
    let (far, admin) = (common::free_address(), common::free_address());
    let mut acknowledged = Vec::new();
    let mut far_child = destination(destination_dir.path(), far);
    for (cycle, (run_ms, victim)) in CYCLES.into_iter().enumerate() {
        let (mut near_child, near) = source(source_dir.path(), far, admin);
        // Killed while PUTs and copies are in flight: no pause to let anything settle.
        let load = tokio::spawn(load(near, cycle, Duration::from_millis(run_ms + 500)));
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        if victim != Kill::Source {
            kill(&mut far_child);
        }
        if victim != Kill::Destination {
            kill(&mut near_child);
        }
        acknowledged.extend(load.await.unwrap());
        if victim == Kill::Destination {
            // The source goes on while the destination is down; it is stopped cleanly here.
            tokio::time::sleep(Duration::from_millis(300)).await;
            kill(&mut near_child);
        }
        if victim != Kill::Source {
            far_child = destination(destination_dir.path(), far);
        }
    }
    // A last run replicates what is left; SIGTERM stops both cleanly.
    let (mut near_child, _) = source(source_dir.path(), far, admin);
    let deadline = Instant::now() + DRAIN;
    while backlog(admin) != Some(0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for child in [&mut near_child, &mut far_child] {
        let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
        child.wait().unwrap();
    }
    let (near, far) = (offline(source_dir.path()), offline(destination_dir.path()));
    let waiting: usize = near.outboxes(OUTBOX_PREFIX).iter().map(|(_, entries, _)| entries).sum();
    assert_eq!(waiting, 0, "every entry is copied and acked");
    let mut unreplicated = Vec::new();
    for key in &acknowledged {
        let (version, info) = near.head_object("near", key, None).unwrap();
        let copied = far.head_object("far", key, Some(version.id)).ok();
        let intact = copied.as_ref().is_some_and(|(_, replica)| {
            replica.etag_md5 == info.etag_md5
                && replica.attributes.replication == Some(ReplicationStatus::Replica)
                && far.get_object_bytes("far", key, Some(version.id)).unwrap() == format!("replicated {key}").as_bytes()
        });
        if !intact || info.attributes.replication != Some(ReplicationStatus::Completed) {
            unreplicated.push((key.clone(), info.attributes.replication));
        }
    }
    eprintln!("{} PUTs acknowledged, {} not replicated", acknowledged.len(), unreplicated.len());
    assert!(unreplicated.is_empty(), "{} not replicated, such as {:?}", unreplicated.len(), unreplicated.first());
    assert!(acknowledged.len() > 100, "the load ran: {}", acknowledged.len());
}
