//! `churn`: the overwrite-heavy load compaction exists for. Prefill `live` bytes of objects,
//! then overwrite random keys with bodies of random sizes until `written` bytes more went in.
//! Every second it samples the store's disk usage (the files in its data directory), the bytes
//! the objects hold, and the PUT throughput and latency of that second; it reports the space
//! amplification over time (JSON and an SVG plot), its steady state (the largest value in the
//! second half of the overwrites), and the overwrite phase's throughput and latency.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use http::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Call, Client, Payload, Target, TransportError};
use crate::spec::{CONCURRENCY_MAX, KEYS_MAX, Sizes};

/// The most bytes a churn run may write in all (prefill and overwrites).
pub const CHURN_BYTES_MAX: u64 = 1 << 40;
/// The longest a churn run may take.
pub const CHURN_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// How often the store's disk usage is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Latency histograms' upper bound (µs).
const LATENCY_MAX_US: u64 = 600_000_000;

#[derive(Clone, Debug)]
pub struct ChurnSpec {
    pub live: u64,
    pub written: u64,
    pub sizes: Sizes,
    pub concurrency: usize,
    pub key_prefix: String,
    pub seed: u64,
    /// The store's data directory, whose files are the disk usage measured.
    pub data_dir: PathBuf,
}

impl ChurnSpec {
    pub fn check(&self) -> Result<(), String> {
        if self.live == 0 || self.live.saturating_add(self.written) > CHURN_BYTES_MAX {
            return Err(format!("live plus written bytes must be 1 to {CHURN_BYTES_MAX}"));
        }
        if !(1..=CONCURRENCY_MAX).contains(&self.concurrency) {
            return Err(format!("concurrency must be 1 to {CONCURRENCY_MAX}"));
        }
        if !self.data_dir.is_dir() {
            return Err(format!("{} is not the store's data directory", self.data_dir.display()));
        }
        let keys = (self.live as f64 / self.sizes.mean()).ceil() as u64;
        if keys > KEYS_MAX {
            return Err(format!("{keys} keys are more than {KEYS_MAX}"));
        }
        Ok(())
    }
}

/// One second of a churn run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChurnSample {
    pub second: f64,
    /// Bytes written by the overwrite phase so far.
    pub written: u64,
    /// Bytes the objects hold.
    pub live: u64,
    /// Bytes of the files in the data directory.
    pub disk: u64,
    pub amplification: f64,
    pub put_mib_per_s: f64,
    pub put_p99_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChurnResult {
    pub label: String,
    pub keys: u64,
    pub live: u64,
    pub written: u64,
    pub prefill_seconds: f64,
    pub overwrite_seconds: f64,
    pub put_mib_per_s: f64,
    pub put_ops_per_s: f64,
    pub put_p50_ms: f64,
    pub put_p99_ms: f64,
    pub put_p999_ms: f64,
    /// The largest amplification in the second half of the overwrite phase.
    pub steady_amplification: f64,
    pub final_amplification: f64,
    pub errors: u64,
    pub samples: Vec<ChurnSample>,
}

impl ChurnResult {
    pub fn summary(&self) -> String {
        format!(
            "{}: {} keys, {:.2} GiB live, {:.2} GiB overwritten in {:.0} s: PUT {:.1} MiB/s ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms; space amplification steady {:.2}, final {:.2}; {} errors",
            self.label,
            self.keys,
            self.live as f64 / f64::from(1 << 30),
            self.written as f64 / f64::from(1 << 30),
            self.overwrite_seconds,
            self.put_mib_per_s,
            self.put_ops_per_s,
            self.put_p50_ms,
            self.put_p99_ms,
            self.put_p999_ms,
            self.steady_amplification,
            self.final_amplification,
            self.errors
        )
    }
}

/// Bytes of the regular files directly in `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

struct Shared {
    spec: ChurnSpec,
    sizes: Vec<AtomicU64>,
    live: AtomicU64,
    written: AtomicU64,
    errors: AtomicU64,
    second: Mutex<Histogram<u64>>,
    whole: Mutex<Histogram<u64>>,
    second_bytes: AtomicU64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid bounds")
}

async fn put(client: &mut Client, shared: &Shared, key: u64, size: u64, seed: u64) -> Result<(), String> {
    let name = format!("{}{key:012}", shared.spec.key_prefix);
    let started = Instant::now();
    let reply = client.request(Call::new(Method::PUT, &name).payload(Payload::Generated { seed, size })).await;
    let micros = started.elapsed().as_micros().max(1) as u64;
    match reply {
        Ok(reply) if reply.status == 200 => {
            let old = shared.sizes[key as usize].swap(size, Ordering::AcqRel);
            shared.live.fetch_add(size, Ordering::AcqRel);
            shared.live.fetch_sub(old, Ordering::AcqRel);
            let _ = shared.second.lock().expect("not poisoned").record(micros.min(LATENCY_MAX_US));
            let _ = shared.whole.lock().expect("not poisoned").record(micros.min(LATENCY_MAX_US));
            shared.second_bytes.fetch_add(size, Ordering::Relaxed);
            Ok(())
        }
        Ok(reply) => Err(format!("PUT {name}: HTTP {}: {}", reply.status, reply.error.unwrap_or_default())),
        Err(TransportError(error)) => Err(format!("PUT {name}: {error}")),
    }
}

/// Runs the churn against `target` (its bucket must exist).
pub async fn run(target: &Arc<Target>, spec: &ChurnSpec, label: &str, progress: bool) -> Result<ChurnResult, String> {
    spec.check()?;
    // The prefill's sizes, until they add up to `live`.
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut planned = Vec::new();
    let mut total = 0;
    while total < spec.live {
        let size = spec.sizes.choose(&mut rng);
        planned.push(size);
        total += size;
    }
    let keys = planned.len() as u64;
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        sizes: (0..keys).map(|_| AtomicU64::new(0)).collect(),
        live: AtomicU64::new(0),
        written: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        second: Mutex::new(histogram()),
        whole: Mutex::new(histogram()),
        second_bytes: AtomicU64::new(0),
    });
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(spec.live + spec.written);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_message("prefill");
        bar
    });
    let started = Instant::now();
    let planned = Arc::new(planned);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency {
        let (target, shared, planned, next, bar) =
            (target.clone(), shared.clone(), planned.clone(), next.clone(), bar.clone());
        tasks.spawn(async move {
            let mut client = Client::new(target);
            loop {
                let key = next.fetch_add(1, Ordering::Relaxed);
                let Some(&size) = planned.get(key as usize) else { return Ok::<(), String>(()) };
                put(&mut client, &shared, key, size, key.wrapping_mul(0x9e37_79b9)).await?;
                if let Some(bar) = &bar {
                    bar.inc(size);
                }
            }
        });
    }
    let within = |what: &'static str| move |_| format!("the churn's {what} did not finish within {CHURN_TIMEOUT:?}");
    tokio::time::timeout(CHURN_TIMEOUT, async {
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| format!("prefill task: {e}"))??;
        }
        Ok::<(), String>(())
    })
    .await
    .map_err(within("prefill"))??;
    let prefill_seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = &bar {
        bar.set_message("overwrites");
    }
    *shared.whole.lock().expect("not poisoned") = histogram();
    shared.second.lock().expect("not poisoned").reset();
    shared.second_bytes.store(0, Ordering::Relaxed);
    let phase = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..spec.concurrency {
        let (target, shared, bar) = (target.clone(), shared.clone(), bar.clone());
        workers.spawn(async move {
            let mut client = Client::new(target);
            let mut rng = SmallRng::seed_from_u64(shared.spec.seed ^ ((worker as u64 + 1) << 40));
            loop {
                let size = shared.spec.sizes.choose(&mut rng);
                if shared.written.fetch_add(size, Ordering::AcqRel) >= shared.spec.written {
                    return;
                }
                let key = rng.random_range(0..keys);
                if let Err(error) = put(&mut client, &shared, key, size, rng.random()).await {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("{error}");
                }
                if let Some(bar) = &bar {
                    bar.inc(size);
                }
            }
        });
    }
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.tick().await;
    let deadline = phase + CHURN_TIMEOUT;
    let mut last = Instant::now();
    while !workers.is_empty() {
        tokio::select! {
            _ = tick.tick() => {
                let elapsed = last.elapsed().as_secs_f64();
                last = Instant::now();
                let bytes = shared.second_bytes.swap(0, Ordering::Relaxed);
                let p99 = {
                    let mut second = shared.second.lock().expect("not poisoned");
                    let p99 = second.value_at_quantile(0.99) as f64 / 1000.0;
                    second.reset();
                    p99
                };
                let (live, disk) = (shared.live.load(Ordering::Acquire), disk_usage(&spec.data_dir));
                samples.push(ChurnSample {
                    second: phase.elapsed().as_secs_f64(),
                    written: shared.written.load(Ordering::Acquire).min(spec.written),
                    live,
                    disk,
                    amplification: disk as f64 / live.max(1) as f64,
                    put_mib_per_s: bytes as f64 / f64::from(1 << 20) / elapsed,
                    put_p99_ms: p99,
                });
                if Instant::now() > deadline {
                    workers.abort_all();
                    return Err(format!("the churn's overwrites did not finish within {CHURN_TIMEOUT:?}"));
                }
            }
            done = workers.join_next() => {
                if let Some(Err(error)) = done {
                    return Err(format!("churn worker: {error}"));
                }
            }
        }
    }
    let overwrite_seconds = phase.elapsed().as_secs_f64();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // A few more seconds of samples: what the store settles at once the writes stop.
    for _ in 0..5 {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let (live, disk) = (shared.live.load(Ordering::Acquire), disk_usage(&spec.data_dir));
        samples.push(ChurnSample {
            second: phase.elapsed().as_secs_f64(),
            written: spec.written,
            live,
            disk,
            amplification: disk as f64 / live.max(1) as f64,
            put_mib_per_s: 0.0,
            put_p99_ms: 0.0,
        });
    }
    let whole = shared.whole.lock().expect("not poisoned").clone();
    let half = overwrite_seconds / 2.0;
    let steady = samples
        .iter()
        .filter(|s| s.second >= half && s.second <= overwrite_seconds)
        .map(|s| s.amplification)
        .fold(0.0, f64::max);
    let written = spec.written;
    Ok(ChurnResult {
        label: label.to_owned(),
        keys,
        live: spec.live,
        written,
        prefill_seconds,
        overwrite_seconds,
        put_mib_per_s: written as f64 / f64::from(1 << 20) / overwrite_seconds,
        put_ops_per_s: whole.len() as f64 / overwrite_seconds,
        put_p50_ms: whole.value_at_quantile(0.5) as f64 / 1000.0,
        put_p99_ms: whole.value_at_quantile(0.99) as f64 / 1000.0,
        put_p999_ms: whole.value_at_quantile(0.999) as f64 / 1000.0,
        steady_amplification: steady,
        final_amplification: samples.last().map_or(0.0, |s| s.amplification),
        errors: shared.errors.load(Ordering::Relaxed),
        samples,
    })
}

/// Space amplification against GiB overwritten, one line per run.
pub fn amplification_svg(runs: &[&ChurnResult]) -> Result<String, String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|run| {
            let points = run.samples.iter().map(|s| (s.written as f64 / f64::from(1 << 30), s.amplification));
            (run.label.clone(), points.collect())
        })
        .collect();
    crate::report::lines_svg(
        "Space amplification under overwrite churn",
        ("GiB overwritten", "disk bytes / live bytes"),
        2.0,
        &series,
    )
}
