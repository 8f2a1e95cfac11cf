//! Crash consistency at process level: `cairn serve` (this package's binary) killed with SIGKILL
//! at random moments under concurrent writes and restarted; every acknowledged write must read
//! back. A few short cycles here; `cairn-bench crash --cycles N` is the soak (docs/reliability.md).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cycles = std::env::var("CAIRN_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(4);
    let config = cairn_bench::crash::CrashConfig {
        cairn: env!("CARGO_BIN_EXE_cairn").into(),
        data_dir: dir.path().join("store"),
        cycles,
        clients: 4,
        keys_per_client: 20,
        run_max: std::time::Duration::from_millis(700),
        seed: std::env::var("CAIRN_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7),
    };
    let report = cairn_bench::crash::run(&config).await.unwrap();
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.cycles, cycles);
    assert!(report.acknowledged > 0 && report.checked > 0, "{report:?}");
    // Every cycle wrote against the restarted server (a harness writing to a dead port would
    // check nothing new).
    assert!(report.acknowledged_per_cycle.iter().all(|&n| n > 0), "{:?}", report.acknowledged_per_cycle);
}
