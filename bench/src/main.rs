//! `cairn-bench`: `run` a workload against an S3 endpoint, `compare` two endpoints A B A B, or
//! serve the `ceiling` (an HTTP server that does no work).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_bench::client::Target;
use cairn_bench::compare::{self, Side};
use cairn_bench::data::Ledger;
use cairn_bench::spec::{self, Load, Mix, Sizes, Workload};
use cairn_bench::{ceiling, report, run};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cairn-bench",
    version,
    about = "Load generator for S3 endpoints: throughput, latency percentiles, plots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workload against one endpoint.
    Run {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        workload: WorkloadArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// The endpoint's name in reports.
        #[arg(long, default_value = "target")]
        label: String,
    },
    /// Drive two endpoints in turn (A B A B ...) and report the ratio A/B per round and its median.
    Compare {
        #[command(flatten)]
        target: TargetArgs,
        /// Endpoint B: a URL, or `ceiling` to start the built-in ceiling server for the comparison.
        #[arg(long, default_value = "ceiling")]
        b: String,
        /// Credentials for B when they differ from A's.
        #[arg(long)]
        b_access_key: Option<String>,
        #[arg(long)]
        b_secret_key: Option<String>,
        #[arg(long, default_value = "A")]
        a_label: String,
        #[arg(long)]
        b_label: Option<String>,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[command(flatten)]
        workload: WorkloadArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Crash consistency: run `cairn serve` as a child, write from several clients, kill it
    /// with SIGKILL at random moments, restart, and check every acknowledged write.
    Crash {
        /// The `cairn` binary.
        #[arg(long, default_value = "target/release/cairn")]
        cairn: PathBuf,
        /// The store's directory (created; kept across cycles). A log of the server is written
        /// beside it.
        #[arg(long, default_value = "cairn-crash-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10)]
        cycles: u32,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Keys each client writes.
        #[arg(long, default_value_t = 50)]
        keys: u64,
        /// Clients run a random time below this before each kill.
        #[arg(long, default_value = "1s", value_parser = spec::parse_duration)]
        run_max: Duration,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure the disk's own ceilings with fio (synced and direct 1 MiB writes, synced 4 KiB
    /// writes) in a directory on the disk a store would use.
    Disk {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Bytes each recipe writes at most.
        #[arg(long, default_value = "1GiB")]
        size: String,
        /// Time each recipe runs at most.
        #[arg(long, default_value = "10s", value_parser = spec::parse_duration)]
        runtime: Duration,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Overwrite churn: prefill --live bytes, overwrite random keys until --written more, and
    /// report the store's space amplification over time (its data directory's bytes over the
    /// objects' bytes) with PUT throughput and latency.
    Churn {
        #[command(flatten)]
        target: TargetArgs,
        /// The store's data directory (its disk usage is what is measured).
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value = "4GiB")]
        live: String,
        #[arg(long, default_value = "20GiB")]
        written: String,
        /// Object sizes, as for `run`.
        #[arg(long, default_value = "4KiB..1MiB")]
        size: String,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value = "churn/")]
        key_prefix: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The run's name in reports.
        #[arg(long, default_value = "target")]
        label: String,
        /// Another churn's result.json, drawn beside this one and compared with it.
        #[arg(long)]
        baseline: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Serve the HTTP ceiling: accepts PUTs, answers GETs, stores nothing.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:9100")]
        address: SocketAddr,
    },
}

#[derive(Args, Debug, Clone)]
struct TargetArgs {
    /// The S3 endpoint (A, in a comparison).
    #[arg(long, env = "CAIRN_BENCH_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// Connect to this address instead of resolving the endpoint's host (for virtual-hosted
    /// names that do not resolve).
    #[arg(long)]
    connect: Option<SocketAddr>,
    #[arg(long, env = "CAIRN_BENCH_ACCESS_KEY")]
    access_key: Option<String>,
    #[arg(long, env = "CAIRN_BENCH_SECRET_KEY")]
    secret_key: Option<String>,
    /// A TOML file with `access_key` and `secret_key` (Cairn's `<data dir>/credentials`), read
    /// when no keys are given.
    #[arg(long, default_value = "cairn-data/credentials")]
    credentials: PathBuf,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "cairn-bench")]
    bucket: String,
    /// Address buckets as `<bucket>.<host>` instead of `/<bucket>`.
    #[arg(long)]
    virtual_hosted: bool,
    /// Sign each body's SHA-256 instead of sending `UNSIGNED-PAYLOAD`.
    #[arg(long)]
    signed_payload: bool,
    /// Allow endpoints that are not on this machine's loopback.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Args, Debug, Clone)]
struct WorkloadArgs {
    /// Operations and weights: `put`, `get`, `head`, `delete`, `list`, `multipart`, or a mix
    /// such as `get:70,put:20,delete:5,list:5`.
    #[arg(long, default_value = "put")]
    workload: String,
    /// Object sizes: `4KiB`, a uniform range `1KiB..1MiB`, or weighted `4KiB:80,1MiB:20`.
    #[arg(long, default_value = "4KiB")]
    size: String,
    /// Keys in the key space (reads pick among them; a prefill writes them all first).
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    #[arg(long, default_value = "cairn-bench/")]
    key_prefix: String,
    /// Concurrent clients, one connection each (closed loop), or the most requests in flight
    /// (open loop).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Open loop: requests per second, latency counted from when each was due.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured time.
    #[arg(long, default_value = "10s", value_parser = spec::parse_duration)]
    duration: Duration,
    /// Time run before measuring, not counted.
    #[arg(long, default_value = "2s", value_parser = spec::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "8MiB")]
    part_size: String,
    /// Skip writing the key space before a workload that reads.
    #[arg(long)]
    no_prefill: bool,
    /// Check every GET body against the xxh3 of what was written.
    #[arg(long)]
    verify: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug, Clone)]
struct OutputArgs {
    /// Directory for result.json, the SVG plots and report.html.
    #[arg(long, default_value = "cairn-bench-out")]
    out: PathBuf,
    /// No live progress bar.
    #[arg(long)]
    quiet: bool,
}

impl TargetArgs {
    fn target(&self, endpoint: &str, keys: Option<(String, String)>) -> Result<Arc<Target>, String> {
        let mut target = Target::resolve(endpoint, self.connect, self.allow_remote)?;
        let (access_key, secret_key) = match (keys, &self.access_key, &self.secret_key) {
            (Some(keys), _, _) => keys,
            (None, Some(access), Some(secret)) => (access.clone(), secret.clone()),
            (None, None, None) => read_credentials(&self.credentials)?,
            _ => return Err("give both --access-key and --secret-key, or neither".into()),
        };
        target.access_key = access_key;
        target.secret_key = secret_key;
        target.region = self.region.clone();
        target.bucket = self.bucket.clone();
        target.virtual_hosted = self.virtual_hosted;
        target.signed_payload = self.signed_payload;
        Ok(Arc::new(target))
    }
}

fn read_credentials(path: &PathBuf) -> Result<(String, String), String> {
    #[derive(serde::Deserialize)]
    struct File {
        access_key: String,
        secret_key: String,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("no --access-key/--secret-key given and {} cannot be read: {e}", path.display()))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file.access_key, file.secret_key))
}

impl WorkloadArgs {
    fn workload(&self) -> Result<Workload, String> {
        let workload = Workload {
            mix: Mix::parse(&self.workload)?,
            sizes: Sizes::parse(&self.size)?,
            keys: self.keys,
            key_prefix: self.key_prefix.clone(),
            concurrency: self.concurrency,
            load: self.rate.map_or(Load::Closed, |rate| Load::Open { rate }),
            duration: self.duration,
            warmup: self.warmup,
            part_size: spec::parse_bytes(&self.part_size)?,
            prefill: !self.no_prefill && self.mix_reads()?,
            verify: self.verify,
            seed: self.seed,
        };
        workload.check()?;
        Ok(workload)
    }

    fn mix_reads(&self) -> Result<bool, String> {
        Ok(Mix::parse(&self.workload)?.0.iter().any(|(op, _)| op.reads()))
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Churn {
            target,
            data_dir,
            live,
            written,
            size,
            concurrency,
            key_prefix,
            seed,
            label,
            baseline,
            output,
        } => {
            let spec = cairn_bench::churn::ChurnSpec {
                live: spec::parse_bytes(&live)?,
                written: spec::parse_bytes(&written)?,
                sizes: Sizes::parse(&size)?,
                concurrency,
                key_prefix,
                seed,
                data_dir,
            };
            spec.check()?;
            let target = target.target(&target.endpoint, None)?;
            run::ensure_bucket(&target).await?;
            let result = cairn_bench::churn::run(&target, &spec, &label, !output.quiet).await?;
            say(&format!("{}\n", result.summary()));
            std::fs::create_dir_all(&output.out).map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
            std::fs::write(output.out.join("result.json"), json).map_err(|e| e.to_string())?;
            let other: Option<cairn_bench::churn::ChurnResult> = match &baseline {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                    Some(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
                }
                None => None,
            };
            if let Some(other) = &other {
                say(&format!(
                    "{} / {}: PUT throughput {:.2}, p99 {:.2}, steady space amplification {:.2} vs {:.2}\n",
                    result.label,
                    other.label,
                    result.put_mib_per_s / other.put_mib_per_s,
                    result.put_p99_ms / other.put_p99_ms,
                    result.steady_amplification,
                    other.steady_amplification
                ));
            }
            let runs: Vec<&cairn_bench::churn::ChurnResult> = std::iter::once(&result).chain(other.as_ref()).collect();
            let svg = cairn_bench::churn::amplification_svg(&runs)?;
            std::fs::write(output.out.join("amplification.svg"), svg).map_err(|e| e.to_string())?;
            Ok(())
        }
        Command::Ceiling { address } => {
            let bound = ceiling::start(address).await.map_err(|e| format!("binding {address}: {e}"))?;
            say(&format!("cairn-bench ceiling listening on http://{bound}\n"));
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
            Ok(())
        }
        Command::Disk { dir, size, runtime, json } => {
            let size = spec::parse_bytes(&size)?;
            let results = tokio::task::spawn_blocking(move || cairn_bench::disk::measure(&dir, size, runtime))
                .await
                .map_err(|e| e.to_string())??;
            say(&cairn_bench::disk::summary(&results));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(())
        }
        Command::Crash { cairn, data_dir, cycles, clients, keys, run_max, seed } => {
            let config = cairn_bench::crash::CrashConfig {
                cairn,
                data_dir,
                cycles,
                clients,
                keys_per_client: keys,
                run_max,
                seed,
            };
            let report = cairn_bench::crash::run(&config).await?;
            say(&format!(
                "{} cycles: {} acknowledged operations, {} in flight at a kill, {} reads checked, {} failures\n",
                report.cycles,
                report.acknowledged,
                report.in_flight_at_kill,
                report.checked,
                report.failures.len()
            ));
            for failure in &report.failures {
                say(&format!("  {failure}\n"));
            }
            if report.failures.is_empty() { Ok(()) } else { Err("acknowledged writes did not survive".into()) }
        }
        Command::Run { target, workload, output, label } => {
            let workload = workload.workload()?;
            let target = target.target(&target.endpoint, None)?;
            run::ensure_bucket(&target).await?;
            let ledger = Arc::new(Ledger::new(workload.keys));
            if workload.prefill {
                run::prefill(&target, &workload, &ledger, !output.quiet).await?;
            }
            let result = run::measure(&target, &workload, &ledger, &label, !output.quiet).await;
            say(&result.summary());
            report::write_run_report(&output.out, &[&result], None::<(&str, &(), String)>)?;
            say(&format!("report: {}\n", output.out.join("report.html").display()));
            if result.verify.mismatches > 0 {
                return Err(format!("{} reads did not return what was written", result.verify.mismatches));
            }
            Ok(())
        }
        Command::Compare { target, b, b_access_key, b_secret_key, a_label, b_label, rounds, workload, output } => {
            let workload = workload.workload()?;
            let a = Side { label: a_label, target: target.target(&target.endpoint, None)? };
            // The ceiling runs as its own process, as the server it stands beside does.
            let mut child = None;
            let (b_endpoint, b_keys) = if b == "ceiling" {
                let (process, address) = spawn_ceiling().await?;
                child = Some(process);
                (format!("http://{address}"), Some(("ceiling".to_owned(), "ceiling-secret".to_owned())))
            } else {
                let keys = b_access_key.zip(b_secret_key);
                (b.clone(), keys)
            };
            let b_label = b_label.unwrap_or_else(|| if b == "ceiling" { "ceiling".into() } else { "B".into() });
            let b_side = Side { label: b_label, target: target.target(&b_endpoint, b_keys)? };
            let comparison = compare::compare(&a, &b_side, &workload, rounds, !output.quiet).await;
            if let Some(mut child) = child {
                let _ = child.kill().await;
            }
            let comparison = comparison?;
            say(&comparison.summary());
            let groups: Vec<String> = comparison.rounds.iter().map(|r| format!("round {}", r.round)).collect();
            let series = vec![
                (comparison.a.clone(), comparison.rounds.iter().map(|r| r.a_ops_per_s).collect()),
                (comparison.b.clone(), comparison.rounds.iter().map(|r| r.b_ops_per_s).collect()),
            ];
            let bars = report::bars_svg("Throughput per round", "ops/s", &groups, &series)?;
            std::fs::create_dir_all(&output.out).map_err(|e| e.to_string())?;
            std::fs::write(output.out.join("compare.svg"), bars).map_err(|e| e.to_string())?;
            let runs: Vec<&_> = comparison.runs.iter().collect();
            report::write_run_report(&output.out, &runs, Some(("compare.svg", &comparison, comparison.summary())))?;
            say(&format!("report: {}\n", output.out.join("report.html").display()));
            Ok(())
        }
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn say(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Starts `cairn-bench ceiling` on an ephemeral loopback port and returns it with its address.
async fn spawn_ceiling() -> Result<(tokio::process::Child, String), String> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["ceiling", "--address", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the ceiling server: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "the ceiling server did not start within 10 s".to_owned())?
        .map_err(|e| e.to_string())?
        .ok_or("the ceiling server exited")?;
    let address = line.rsplit("http://").next().ok_or("unexpected ceiling output")?.trim().to_owned();
    Ok((child, address))
}
