//! cairn-bench end to end: against Cairn started in-process and against the built-in ceiling,
//! short bounded runs of every operation, verification, comparison and reports.

use std::sync::Arc;
use std::time::Duration;

use cairn_bench::client::Target;
use cairn_bench::compare::{Side, compare};
use cairn_bench::data::Ledger;
use cairn_bench::spec::{Load, Mix, Sizes, Workload};
use cairn_bench::{ceiling, report, run};

const ACCESS_KEY: &str = "BENCHROOT";
const SECRET_KEY: &str = "bench-secret-key";

async fn cairn() -> (cairn_server::ServerHandle, tempfile::TempDir) {
    cairn_with_domain(None).await
}

async fn cairn_with_domain(domain: Option<&str>) -> (cairn_server::ServerHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = cairn_server::Config {
        address: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        region: "us-east-1".into(),
        io: cairn_engine_io(),
        domain: domain.map(str::to_owned),
        root: cairn_server::Credentials { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() },
        users: Vec::new(),
        public_access_block: Default::default(),
        allow_insecure_sse_c: false,
        compression_level: cairn_engine::COMPRESSION_LEVEL_DEFAULT,
        default_encryption: Default::default(),
        compaction_bytes_per_sec: 0,
        space_amplification_target: 1.2,
        website_address: None,
        lifecycle_day_seconds: cairn_server::lifecycle::DAY_SECONDS_DEFAULT,
        log_delivery_seconds: cairn_server::logging::DELIVERY_SECONDS_DEFAULT,
        notification_targets: Vec::new(),
        replication_endpoints: Vec::new(),
        admin_address: None,
        tls: None,
    };
    (cairn_server::start(config).await.unwrap(), dir)
}

fn cairn_engine_io() -> cairn_engine::IoMode {
    std::env::var("CAIRN_IO").ok().and_then(|io| io.parse().ok()).unwrap_or_default()
}

fn target(addr: std::net::SocketAddr, signed_payload: bool) -> Arc<Target> {
    let mut target = Target::resolve(&format!("http://{addr}"), None, false).unwrap();
    target.access_key = ACCESS_KEY.into();
    target.secret_key = SECRET_KEY.into();
    target.signed_payload = signed_payload;
    Arc::new(target)
}

fn workload(mix: &str, sizes: &str) -> Workload {
    Workload {
        mix: Mix::parse(mix).unwrap(),
        sizes: Sizes::parse(sizes).unwrap(),
        keys: 40,
        key_prefix: "bench/".into(),
        concurrency: 4,
        load: Load::Closed,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        part_size: 5 << 20,
        prefill: true,
        verify: true,
        seed: 7,
    }
}

async fn prepare(target: &Arc<Target>, workload: &Workload) -> Arc<Ledger> {
    run::ensure_bucket(target).await.unwrap();
    let ledger = Arc::new(Ledger::new(workload.keys));
    run::prefill(target, workload, &ledger, false).await.unwrap();
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_workload_against_cairn_verifies_every_read() {
    let (server, _dir) = cairn().await;
    let target = target(server.local_addr(), false);
    let workload = workload("get:5,put:3,head:1,delete:1,list:1,multipart:1", "1KiB..64KiB");
    let ledger = prepare(&target, &workload).await;
    let result = run::measure(&target, &workload, &ledger, "cairn", false).await;
    assert_eq!(result.total.errors, 0, "{:?}", result.errors);
    assert!(result.verify.checked > 0 && result.verify.mismatches == 0, "{:?}", result.verify);
    for op in ["get", "put", "head", "delete", "list", "multipart"] {
        assert!(result.ops.get(op).is_some_and(|o| o.count > 0), "{op} ran: {:?}", result.ops.keys());
    }
    assert!(!result.timeline.is_empty());
    assert!(result.total.latency_us.p50 > 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_payloads_and_an_open_loop() {
    let (server, _dir) = cairn().await;
    let target = target(server.local_addr(), true);
    let workload = Workload { load: Load::Open { rate: 200.0 }, ..workload("put:1,get:1", "4KiB") };
    let ledger = prepare(&target, &workload).await;
    let result = run::measure(&target, &workload, &ledger, "open", false).await;
    assert_eq!(result.total.errors, 0, "{:?}", result.errors);
    // 200 requests per second for 1.5 s: the schedule, not the server, sets the count.
    assert!((250..=350).contains(&result.total.count), "{}", result.total.count);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_hosted_style() {
    let (server, _dir) = cairn_with_domain(Some("s3.bench.test")).await;
    let port = server.local_addr().port();
    let mut target =
        Target::resolve(&format!("http://s3.bench.test:{port}"), Some(server.local_addr()), false).unwrap();
    target.access_key = ACCESS_KEY.into();
    target.secret_key = SECRET_KEY.into();
    target.virtual_hosted = true;
    let target = Arc::new(target);
    let workload = Workload { duration: Duration::from_millis(500), ..workload("put:1,get:1,list:1", "4KiB") };
    let ledger = prepare(&target, &workload).await;
    let result = run::measure(&target, &workload, &ledger, "vhost", false).await;
    assert_eq!(result.total.errors, 0, "{:?}", result.errors);
    assert!(result.verify.checked > 0 && result.verify.mismatches == 0);
    // The objects are where path-style requests find them too.
    assert!(server.engine().head_object("cairn-bench", "bench/0000000000", None).is_ok());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_wrong_bodies() {
    // The ceiling answers zeros, so every verified read of a written key must be a mismatch.
    let address = ceiling::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let target = target(address, false);
    let workload = workload("get", "4KiB");
    let ledger = prepare(&target, &workload).await;
    let result = run::measure(&target, &workload, &ledger, "ceiling", false).await;
    assert!(result.verify.mismatches > 0);
    assert_eq!(result.verify.checked, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparing_cairn_with_the_ceiling_writes_a_report() {
    let (server, _dir) = cairn().await;
    let address = ceiling::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let a = Side { label: "cairn".into(), target: target(server.local_addr(), false) };
    let b = Side { label: "ceiling".into(), target: target(address, false) };
    let workload = Workload { verify: false, duration: Duration::from_millis(500), ..workload("put:1,get:1", "4KiB") };
    let comparison = compare(&a, &b, &workload, 2, false).await.unwrap();
    assert_eq!(comparison.rounds.len(), 2);
    assert!(comparison.median_ratio > 0.0);
    assert!(comparison.runs.iter().all(|r| r.total.errors == 0), "{:?}", comparison.runs[0].errors);
    let out = tempfile::tempdir().unwrap();
    let runs: Vec<&_> = comparison.runs.iter().collect();
    report::write_run_report(out.path(), &runs, Some(("compare.svg", &comparison, comparison.summary()))).unwrap();
    for file in ["result.json", "throughput.svg", "latency.svg", "report.html"] {
        let text = std::fs::read_to_string(out.path().join(file)).unwrap();
        assert!(text.len() > 100, "{file}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(json["rounds"].as_array().unwrap().len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_compares_with_a_spawned_ceiling() {
    let (server, _dir) = cairn().await;
    let out = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    let args = [
        "compare",
        "--endpoint",
        &endpoint,
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
        "--workload",
        "put:1,get:1",
        "--keys",
        "20",
        "--duration",
        "300ms",
        "--warmup",
        "0s",
        "--rounds",
        "1",
        "--quiet",
        "--out",
    ];
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(args)
        .arg(out.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("median ratio"), "{stdout}");
    for file in ["result.json", "compare.svg", "report.html"] {
        assert!(out.path().join(file).exists(), "{file}");
    }
    // Remote endpoints need --allow-remote.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(["run", "--endpoint", "http://192.0.2.1:9000", "--access-key", "a", "--secret-key", "b"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-remote"));
    server.shutdown().await;
}
