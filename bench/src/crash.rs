//! Crash consistency at process level: `cairn serve` runs as a child process while clients write
//! (small and multipart PUTs, overwrites, deletes in a versioned bucket, bucket creates and
//! deletes), recording every acknowledgement; the server is killed with SIGKILL at a random
//! moment and restarted, and then every acknowledged write must read back byte-identical, no
//! acknowledged delete may be undone, and listings must agree with reads. A request in flight at
//! the kill may have taken effect or not; the check accepts either and learns which.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::client::{Call, Client, Payload, Target};
use crate::data;

/// The longest a restarted server may take to answer (recovery included).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Most cycles a run may ask for.
pub const CYCLES_MAX: u32 = 100_000;
/// Most clients.
pub const CLIENTS_MAX: usize = 64;
/// Failures a report keeps.
pub const FAILURES_KEPT: usize = 20;

const ACCESS_KEY: &str = "CRASHROOT";
const SECRET_KEY: &str = "crash-harness-secret";
const BUCKETS: [&str; 2] = ["crash", "crashv"];

/// What a crash run does.
#[derive(Clone, Debug)]
pub struct CrashConfig {
    /// The `cairn` binary.
    pub cairn: PathBuf,
    /// The store's directory (kept across cycles).
    pub data_dir: PathBuf,
    pub cycles: u32,
    pub clients: usize,
    pub keys_per_client: u64,
    /// How long the clients run before the kill: a random time below this.
    pub run_max: Duration,
    pub seed: u64,
}

/// What a crash run found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CrashReport {
    pub cycles: u32,
    pub acknowledged: u64,
    /// Acknowledged operations in each cycle (each must have written something to test anything).
    pub acknowledged_per_cycle: Vec<u64>,
    pub in_flight_at_kill: u64,
    pub checked: u64,
    pub failures: Vec<String>,
}

/// What a key or bucket holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Absent,
    Body { hash: u64, size: u64 },
}

/// A key's (or bucket's) acknowledged state, and the state a request in flight would leave.
#[derive(Clone, Copy, Debug)]
struct Slot {
    acked: State,
    pending: Option<State>,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot { acked: State::Absent, pending: None }
    }
}

#[derive(Debug, Default)]
struct Ledger {
    /// (bucket, key) → state.
    objects: BTreeMap<(String, String), Slot>,
    /// bucket → exists.
    buckets: BTreeMap<String, (bool, Option<bool>)>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
    acknowledged: AtomicU64,
}

/// Runs the crash cycles and returns what was found (failures in the report, not an error; an
/// error means the harness itself could not run).
pub async fn run(config: &CrashConfig) -> Result<CrashReport, String> {
    if config.cycles == 0 || config.cycles > CYCLES_MAX {
        return Err(format!("cycles must be 1 to {CYCLES_MAX}"));
    }
    if config.clients == 0 || config.clients > CLIENTS_MAX {
        return Err(format!("clients must be 1 to {CLIENTS_MAX}"));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let shared =
        Arc::new(Shared { ledger: Mutex::default(), stop: AtomicBool::new(false), acknowledged: AtomicU64::new(0) });
    let mut report = CrashReport::default();
    let (mut server, mut target) = start(config).await?;
    setup(&target).await?;
    for cycle in 1..=config.cycles {
        shared.stop.store(false, Ordering::SeqCst);
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..config.clients {
            let (target, shared) = (target.clone(), shared.clone());
            let (keys, seed) = (config.keys_per_client, rng.random::<u64>());
            clients.spawn(client(c, target, shared, keys, seed));
        }
        let run_for = Duration::from_millis(rng.random_range(50..=config.run_max.as_millis().max(51) as u64));
        tokio::time::sleep(run_for).await;
        server.kill().await.map_err(|e| format!("killing the server: {e}"))?;
        shared.stop.store(true, Ordering::SeqCst);
        while clients.join_next().await.is_some() {}
        report.cycles = cycle;
        let total = shared.acknowledged.load(Ordering::SeqCst);
        report.acknowledged_per_cycle.push(total - report.acknowledged_per_cycle.iter().sum::<u64>());
        // The restarted server listens on a new port: the next cycle's clients go there.
        (server, target) = start(config).await?;
        let failures = check(&target, &shared, &mut report).await;
        for failure in failures {
            if report.failures.len() < FAILURES_KEPT {
                report.failures.push(format!("cycle {cycle}: {failure}"));
            }
        }
    }
    let _ = server.kill().await;
    report.acknowledged = shared.acknowledged.load(Ordering::SeqCst);
    Ok(report)
}

/// Starts `cairn serve` on a free loopback port and waits until it answers.
async fn start(config: &CrashConfig) -> Result<(tokio::process::Child, Arc<Target>), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?;
    let address: SocketAddr = port;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.data_dir.with_extension("log"))
        .map_err(|e| e.to_string())?;
    let child = tokio::process::Command::new(&config.cairn)
        .args(["serve", "--address", &address.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg("--data-dir")
        .arg(&config.data_dir)
        .env("CAIRN_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", config.cairn.display()))?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while tokio::net::TcpStream::connect(address).await.is_err() {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("cairn did not answer on {address} within {START_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut target = Target::resolve(&format!("http://{address}"), None, false)?;
    target.access_key = ACCESS_KEY.into();
    target.secret_key = SECRET_KEY.into();
    Ok((child, Arc::new(target)))
}

fn on_bucket(target: &Arc<Target>, bucket: &str) -> Arc<Target> {
    let mut target = Target::clone(target);
    target.bucket = bucket.to_owned();
    Arc::new(target)
}

async fn setup(target: &Arc<Target>) -> Result<(), String> {
    for bucket in BUCKETS {
        let mut client = Client::new(on_bucket(target, bucket));
        let reply = client.request(Call::new(Method::PUT, "")).await.map_err(|e| e.0)?;
        if reply.status != 200 && reply.status != 409 {
            return Err(format!("creating {bucket}: HTTP {}", reply.status));
        }
    }
    let mut client = Client::new(on_bucket(target, "crashv"));
    let body = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let call = Call::new(Method::PUT, "").query("versioning").payload(Payload::Small(body.into()));
    let reply = client.request(call).await.map_err(|e| e.0)?;
    if reply.status != 200 {
        return Err(format!("enabling versioning: HTTP {}: {:?}", reply.status, reply.error));
    }
    Ok(())
}

/// One client: operations on its own keys and buckets until a request fails (the kill) or the
/// run stops. Keys have one writer each, so every acknowledgement orders that key's history.
async fn client(id: usize, target: Arc<Target>, shared: Arc<Shared>, keys: u64, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut clients: BTreeMap<&str, Client> =
        BUCKETS.iter().map(|b| (*b, Client::new(on_bucket(&target, b)))).collect();
    let mut buckets_made = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let bucket = BUCKETS[rng.random_range(0..BUCKETS.len())];
        let key = format!("c{id}/k{}", rng.random_range(0..keys));
        let client = clients.get_mut(bucket).expect("one per bucket");
        let pick = rng.random_range(0..100);
        let ok = if pick < 50 {
            let (size, seed) = (rng.random_range(0..32 * 1024), rng.random());
            let state = State::Body { hash: data::body_hash(seed, size), size };
            change(&shared, bucket, &key, state, async {
                let call = Call::new(Method::PUT, &key).payload(Payload::Generated { seed, size });
                client.request(call).await.is_ok_and(|r| r.status == 200)
            })
            .await
        } else if pick < 60 {
            let big = rng.random_range(0..10) == 0;
            let sizes: Vec<u64> = if big { vec![5 << 20, 1000] } else { vec![rng.random_range(1..200_000)] };
            let seed: u64 = rng.random();
            let size: u64 = sizes.iter().sum();
            let state = State::Body { hash: data::body_hash(seed, size), size };
            change(&shared, bucket, &key, state, multipart(client, &key, seed, &sizes)).await
        } else if pick < 85 {
            change(&shared, bucket, &key, State::Absent, async {
                client.request(Call::new(Method::DELETE, &key)).await.is_ok_and(|r| r.status == 204)
            })
            .await
        } else {
            buckets_made += 1;
            let name = format!("crash-b{id}-{:08x}-{}", seed as u32, buckets_made.div_ceil(2));
            let create = buckets_made % 2 == 1;
            let mut bucket_client = Client::new(on_bucket(&target, &name));
            bucket_op(&shared, &name, create, async {
                let method = if create { Method::PUT } else { Method::DELETE };
                let expect = if create { 200 } else { 204 };
                bucket_client.request(Call::new(method, "")).await.is_ok_and(|r| r.status == expect)
            })
            .await
        };
        if !ok {
            return;
        }
    }
}

/// Records a change as in flight, runs it, and records its acknowledgement.
async fn change(shared: &Shared, bucket: &str, key: &str, state: State, request: impl Future<Output = bool>) -> bool {
    let id = (bucket.to_owned(), key.to_owned());
    shared.ledger.lock().await.objects.entry(id.clone()).or_default().pending = Some(state);
    let ok = request.await;
    if ok {
        let mut ledger = shared.ledger.lock().await;
        let slot = ledger.objects.get_mut(&id).expect("inserted above");
        *slot = Slot { acked: state, pending: None };
        shared.acknowledged.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

async fn bucket_op(shared: &Shared, name: &str, create: bool, request: impl Future<Output = bool>) -> bool {
    shared.ledger.lock().await.buckets.entry(name.to_owned()).or_insert((false, None)).1 = Some(create);
    let ok = request.await;
    if ok {
        shared.ledger.lock().await.buckets.insert(name.to_owned(), (create, None));
        shared.acknowledged.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

async fn multipart(client: &mut Client, key: &str, seed: u64, sizes: &[u64]) -> bool {
    let Ok(created) = client.request(Call::new(Method::POST, key).query("uploads").capture("body")).await else {
        return false;
    };
    let Some(upload) = created.captured.as_deref().and_then(|x| crate::client::xml_element(x, "UploadId")) else {
        return false;
    };
    let upload = upload.to_owned();
    let mut complete = String::from("<CompleteMultipartUpload>");
    let mut offset = 0;
    for (i, size) in sizes.iter().enumerate() {
        let query = format!("partNumber={}&uploadId={upload}", i + 1);
        let payload = Payload::Generated { seed: seed.wrapping_add(offset), size: *size };
        let call = Call::new(Method::PUT, key).query(&query).payload(payload).capture("etag");
        let Ok(part) = client.request(call).await else { return false };
        if part.status != 200 {
            return false;
        }
        let etag = part.captured.unwrap_or_default();
        complete.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1));
        offset += size;
    }
    complete.push_str("</CompleteMultipartUpload>");
    let query = format!("uploadId={upload}");
    let call = Call::new(Method::POST, key).query(&query).payload(Payload::Small(complete.into())).capture("body");
    client.request(call).await.is_ok_and(|r| r.status == 200 && !r.captured.unwrap_or_default().contains("<Error>"))
}

/// Checks every key and bucket against the ledger after a restart, and settles what was in flight.
async fn check(target: &Arc<Target>, shared: &Shared, report: &mut CrashReport) -> Vec<String> {
    let mut failures = Vec::new();
    let mut ledger = shared.ledger.lock().await;
    let mut present: BTreeMap<&str, BTreeSet<String>> = BUCKETS.iter().map(|b| (*b, BTreeSet::new())).collect();
    for ((bucket, key), slot) in ledger.objects.iter_mut() {
        let mut client = Client::new(on_bucket(target, bucket));
        let found = match client.request(Call::new(Method::GET, key).hash(true)).await {
            Ok(reply) if reply.status == 200 => State::Body { hash: reply.hash.unwrap_or(0), size: reply.bytes },
            Ok(reply) if reply.status == 404 => State::Absent,
            Ok(reply) => {
                failures.push(format!("{bucket}/{key}: HTTP {} {:?}", reply.status, reply.error));
                continue;
            }
            Err(error) => {
                failures.push(format!("{bucket}/{key}: {}", error.0));
                continue;
            }
        };
        report.checked += 1;
        if slot.pending.is_some() {
            report.in_flight_at_kill += 1;
        }
        if found == slot.acked || Some(found) == slot.pending {
            *slot = Slot { acked: found, pending: None };
        } else {
            failures.push(format!(
                "{bucket}/{key}: found {found:?}, acknowledged {:?} (in flight: {:?})",
                slot.acked, slot.pending
            ));
        }
        if matches!(found, State::Body { .. }) {
            present.get_mut(bucket.as_str()).expect("known bucket").insert(key.clone());
        }
    }
    // Listings agree with reads.
    for bucket in BUCKETS {
        let mut client = Client::new(on_bucket(target, bucket));
        let listed = list_keys(&mut client).await;
        match listed {
            Ok(listed) if listed == present[bucket] => {}
            Ok(listed) => failures.push(format!(
                "{bucket}: the listing ({} keys) disagrees with reads ({} keys)",
                listed.len(),
                present[bucket].len()
            )),
            Err(error) => failures.push(format!("{bucket}: listing: {error}")),
        }
    }
    // Buckets.
    let mut client = Client::new(on_bucket(target, ""));
    match client.request(Call::new(Method::GET, "").capture("body")).await {
        Ok(reply) if reply.status == 200 => {
            let names = names(reply.captured.as_deref().unwrap_or(""), "Name");
            for (name, (exists, pending)) in ledger.buckets.iter_mut() {
                let found = names.contains(name);
                if found == *exists || Some(found) == *pending {
                    *exists = found;
                    *pending = None;
                } else {
                    failures.push(format!("bucket {name}: exists {found}, acknowledged {exists}"));
                }
            }
        }
        Ok(reply) => failures.push(format!("listing buckets: HTTP {}", reply.status)),
        Err(error) => failures.push(format!("listing buckets: {}", error.0)),
    }
    failures
}

async fn list_keys(client: &mut Client) -> Result<BTreeSet<String>, String> {
    let mut keys = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let query = match &token {
            Some(token) => format!("list-type=2&max-keys={LIST_PAGE}&continuation-token={token}"),
            None => format!("list-type=2&max-keys={LIST_PAGE}"),
        };
        let reply = client.request(Call::new(Method::GET, "").query(&query).capture("body")).await.map_err(|e| e.0)?;
        if reply.status != 200 {
            return Err(format!("HTTP {}", reply.status));
        }
        let xml = reply.captured.unwrap_or_default();
        keys.extend(names(&xml, "Key"));
        match crate::client::xml_element(&xml, "NextContinuationToken") {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(keys),
        }
    }
}

/// Keys per listing page (a page's XML stays within what the client keeps of a body).
const LIST_PAGE: u32 = 100;

/// Every `<tag>` element's text in a small XML document.
fn names(xml: &str, tag: &str) -> BTreeSet<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = BTreeSet::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        found.insert(rest[..end].to_owned());
        rest = &rest[end..];
    }
    found
}
