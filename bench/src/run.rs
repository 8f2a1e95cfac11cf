//! Driving a workload: create the bucket, prefill the keys reads need, then run the clients in a
//! closed or open loop for the warm-up and the measured period, and build the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::Method;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::client::{Call, Client, Payload, SIZE_HEADER, Target, TransportError, xml_element};
use crate::data::{self, Expect, Ledger};
use crate::spec::{LIST_MAX_KEYS, Load, Op, Workload};
use crate::stats::{Outcome, Recorder, RunResult, Timeline};

/// The longest a prefill may take.
pub const PREFILL_TIMEOUT: Duration = Duration::from_secs(3600);
/// Bytes escaped in a query value: all but letters, digits and `-_.~`.
const QUERY_ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// How often the progress bar is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

/// Creates the bucket if it is missing (an existing bucket of ours is fine).
pub async fn ensure_bucket(target: &Arc<Target>) -> Result<(), String> {
    let mut client = Client::new(target.clone());
    let reply = client
        .request(Call::new(Method::PUT, ""))
        .await
        .map_err(|TransportError(e)| format!("creating bucket {}: {e}", target.bucket))?;
    match reply.status {
        200..=299 => Ok(()),
        409 if reply.error.as_deref().is_some_and(|e| e.contains("BucketAlreadyOwnedByYou")) => Ok(()),
        status => Err(format!("creating bucket {}: HTTP {status}: {}", target.bucket, reply.error.unwrap_or_default())),
    }
}

/// Writes every key once, so reads find objects. Not measured.
pub async fn prefill(
    target: &Arc<Target>,
    workload: &Workload,
    ledger: &Arc<Ledger>,
    progress: bool,
) -> Result<(), String> {
    let next = Arc::new(AtomicU64::new(0));
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(workload.keys);
        bar.set_style(
            indicatif::ProgressStyle::with_template("prefill {bar:40} {pos}/{len} keys ({per_sec}, eta {eta})")
                .expect("valid template"),
        );
        bar
    });
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workload.concurrency {
        let (target, workload, ledger, next, bar) =
            (target.clone(), workload.clone(), ledger.clone(), next.clone(), bar.clone());
        tasks.spawn(async move {
            let mut client = Client::new(target);
            let mut rng = SmallRng::seed_from_u64(workload.seed ^ (worker as u64) << 32 ^ 0x9e37);
            loop {
                let key = next.fetch_add(1, Ordering::Relaxed);
                if key >= workload.keys {
                    return Ok::<(), String>(());
                }
                let (size, seed) = (workload.sizes.choose(&mut rng).min(crate::spec::PUT_BYTES_MAX), rng.random());
                let hash = workload.verify.then(|| data::body_hash(seed, size));
                let change = ledger.begin(key);
                let reply = client
                    .request(Call::new(Method::PUT, &workload.key(key)).payload(Payload::Generated { seed, size }))
                    .await;
                let ok = matches!(&reply, Ok(r) if r.status == 200);
                ledger.end(key, change, hash, !ok);
                if !ok {
                    let why = match reply {
                        Ok(r) => format!("HTTP {}: {}", r.status, r.error.unwrap_or_default()),
                        Err(TransportError(e)) => e,
                    };
                    return Err(format!("prefill of {}: {why}", workload.key(key)));
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
        });
    }
    let all = async {
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| format!("prefill task: {e}"))??;
        }
        Ok::<(), String>(())
    };
    let outcome = tokio::time::timeout(PREFILL_TIMEOUT, all)
        .await
        .map_err(|_| format!("the prefill did not finish within {PREFILL_TIMEOUT:?}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcome
}

/// Runs the workload's warm-up and measured period and returns the result.
pub async fn measure(
    target: &Arc<Target>,
    workload: &Workload,
    ledger: &Arc<Ledger>,
    label: &str,
    progress: bool,
) -> RunResult {
    let start = Instant::now();
    let measure_start = start + workload.warmup;
    let end = measure_start + workload.duration;
    let timeline = Arc::new(Timeline::new(workload.duration.as_secs()));
    let issued = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workload.concurrency {
        let worker = Worker {
            client: Client::new(target.clone()),
            workload: workload.clone(),
            ledger: ledger.clone(),
            timeline: timeline.clone(),
            issued: issued.clone(),
            rng: SmallRng::seed_from_u64(workload.seed.wrapping_add(worker as u64 + 1)),
            recorder: Recorder::default(),
        };
        tasks.spawn(worker.run(start, measure_start, end));
    }
    let bar = progress.then(|| progress_bar(label, timeline.clone(), workload, start, measure_start));
    let mut recorder = Recorder::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(worker) => recorder.merge(worker),
            Err(error) => recorder.error(format!("worker task: {error}")),
        }
    }
    if let Some(bar) = bar {
        bar.abort();
    }
    let seconds = timeline.seconds(workload.duration);
    RunResult::build(target.endpoint.clone(), label.to_owned(), workload.clone(), workload.duration, recorder, seconds)
}

fn progress_bar(
    label: &str,
    timeline: Arc<Timeline>,
    workload: &Workload,
    start: Instant,
    measure_start: Instant,
) -> tokio::task::JoinHandle<()> {
    let total = (workload.warmup + workload.duration).as_millis() as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} {bar:30} {elapsed}/{duration} {msg}")
            .expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    tokio::spawn(async move {
        let (mut last_ops, mut last_bytes, mut last) = (0, 0, Instant::now());
        loop {
            tokio::time::sleep(PROGRESS_TICK).await;
            let now = Instant::now();
            let ops = timeline.live_ops.load(Ordering::Relaxed);
            let bytes = timeline.live_bytes.load(Ordering::Relaxed);
            let errors = timeline.live_errors.load(Ordering::Relaxed);
            let seconds = (now - last).as_secs_f64().max(1e-3);
            let phase = if now < measure_start { "warm-up" } else { "measuring" };
            bar.set_position((now - start).as_millis() as u64);
            bar.set_message(format!(
                "{phase}: {:.0} ops/s, {:.1} MiB/s, {errors} errors",
                (ops - last_ops) as f64 / seconds,
                (bytes - last_bytes) as f64 / seconds / f64::from(1 << 20)
            ));
            (last_ops, last_bytes, last) = (ops, bytes, now);
            if bar.position() >= total {
                bar.finish_and_clear();
                return;
            }
        }
    })
}

/// One client: its connection, random source and measurements.
struct Worker {
    client: Client,
    workload: Workload,
    ledger: Arc<Ledger>,
    timeline: Arc<Timeline>,
    issued: Arc<AtomicU64>,
    rng: SmallRng,
    recorder: Recorder,
}

impl Worker {
    async fn run(mut self, start: Instant, measure_start: Instant, end: Instant) -> Recorder {
        loop {
            // When the request is due: now (closed loop) or on the fixed schedule (open loop,
            // where a late request's latency still counts from when it was due).
            let due = match self.workload.load {
                Load::Closed => Instant::now(),
                Load::Open { rate } => {
                    let index = self.issued.fetch_add(1, Ordering::Relaxed);
                    let due = start + Duration::from_secs_f64(index as f64 / rate);
                    tokio::time::sleep_until(due).await;
                    due
                }
            };
            if due >= end {
                return self.recorder;
            }
            let op = self.workload.mix.choose(&mut self.rng);
            let key = self.rng.random_range(0..self.workload.keys);
            let (outcome, bytes) = self.perform(op, key).await;
            let done = Instant::now();
            if due >= measure_start {
                self.recorder.record(op, done - due, outcome, bytes);
                self.timeline.add(done.saturating_duration_since(measure_start), bytes, outcome == Outcome::Error);
            }
        }
    }

    async fn perform(&mut self, op: Op, key: u64) -> (Outcome, u64) {
        let name = self.workload.key(key);
        let result = match op {
            Op::Put | Op::Multipart => self.write(op, key, &name).await,
            Op::Get | Op::Head => self.read(op, key, &name).await,
            Op::Delete => {
                let change = self.ledger.begin(key);
                let reply = self.client.request(Call::new(Method::DELETE, &name)).await;
                let ok = matches!(&reply, Ok(r) if r.status == 204 || r.status == 200);
                self.ledger.end(key, change, None, !ok);
                reply.map(|r| (r.status, r.bytes, r.error))
            }
            Op::List => {
                let prefix = percent_encoding::utf8_percent_encode(&self.workload.key_prefix, QUERY_ESCAPED);
                let query = format!("list-type=2&max-keys={LIST_MAX_KEYS}&prefix={prefix}");
                let reply = self.client.request(Call::new(Method::GET, "").query(&query)).await;
                reply.map(|r| (r.status, r.bytes, r.error))
            }
        };
        match result {
            Ok((status, bytes, _)) if (200..300).contains(&status) => (Outcome::Ok, bytes),
            // A read may find a key a delete removed, or one a prefill never wrote.
            Ok((404, bytes, _)) if op.reads() && (self.workload.mix.contains(Op::Delete) || !self.workload.prefill) => {
                (Outcome::NotFound, bytes)
            }
            Ok((status, bytes, error)) => {
                self.recorder.error(format!("{} {name}: HTTP {status}: {}", op.name(), error.unwrap_or_default()));
                (Outcome::Error, bytes)
            }
            Err(TransportError(error)) => {
                self.recorder.error(format!("{} {name}: {error}", op.name()));
                (Outcome::Error, 0)
            }
        }
    }

    /// A PUT or a multipart upload of a fresh body, recorded in the ledger.
    async fn write(&mut self, op: Op, key: u64, name: &str) -> Result<(u16, u64, Option<String>), TransportError> {
        let size = self.workload.sizes.choose(&mut self.rng);
        let seed: u64 = self.rng.random();
        let hash = self.workload.verify.then(|| data::body_hash(seed, size));
        let change = self.ledger.begin(key);
        let result = match op {
            Op::Multipart => self.multipart(name, seed, size).await,
            _ => self
                .client
                .request(Call::new(Method::PUT, name).payload(Payload::Generated { seed, size }))
                .await
                .map(|r| (r.status, r.bytes, r.error)),
        };
        let ok = matches!(&result, Ok((200, _, _)));
        self.ledger.end(key, change, hash, !ok);
        result
    }

    async fn multipart(
        &mut self,
        name: &str,
        seed: u64,
        size: u64,
    ) -> Result<(u16, u64, Option<String>), TransportError> {
        let created = self.client.request(Call::new(Method::POST, name).query("uploads").capture("body")).await?;
        let Some(upload) = created.captured.as_deref().and_then(|xml| xml_element(xml, "UploadId")).map(str::to_owned)
        else {
            return Ok((created.status.max(500), created.bytes, created.error.or(Some("no UploadId".into()))));
        };
        let part_size = self.workload.part_size;
        let parts = size.div_ceil(part_size).max(1);
        let mut bytes = created.bytes;
        let mut complete = String::from("<CompleteMultipartUpload>");
        for number in 1..=parts {
            let offset = (number - 1) * part_size;
            let len = part_size.min(size - offset);
            let query = format!("partNumber={number}&uploadId={upload}");
            let payload = Payload::Generated { seed: seed.wrapping_add(offset), size: len };
            let part = self
                .client
                .request(Call::new(Method::PUT, name).query(&query).payload(payload).capture("etag"))
                .await?;
            bytes += part.bytes;
            if part.status != 200 {
                return Ok((part.status, bytes, part.error));
            }
            let etag = part.captured.unwrap_or_default();
            complete.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"));
        }
        complete.push_str("</CompleteMultipartUpload>");
        let query = format!("uploadId={upload}");
        let payload = Payload::Small(complete.into());
        let done =
            self.client.request(Call::new(Method::POST, name).query(&query).payload(payload).capture("body")).await?;
        // S3 may answer 200 with an error document when completion fails late.
        let failed = done.captured.as_deref().is_some_and(|xml| xml.contains("<Error>"));
        let status = if failed { 500 } else { done.status };
        Ok((status, bytes + done.bytes, done.error.or(failed.then(|| done.captured.unwrap_or_default()))))
    }

    /// A GET (verified against the ledger when asked) or a HEAD.
    async fn read(&mut self, op: Op, key: u64, name: &str) -> Result<(u16, u64, Option<String>), TransportError> {
        let size_hint = self.workload.sizes.choose(&mut self.rng).to_string();
        let extra = [(SIZE_HEADER, size_hint)];
        let snapshot = self.ledger.snapshot(key);
        let (method, verify) = if op == Op::Get { (Method::GET, self.workload.verify) } else { (Method::HEAD, false) };
        let reply = self.client.request(Call::new(method, name).headers(&extra).hash(verify)).await?;
        if verify {
            let verdict = match (self.ledger.expect(key, snapshot), reply.status, reply.hash) {
                (Expect::Unknown, _, _) => None,
                (Expect::Body(expected), 200, Some(actual)) => Some(expected == actual),
                (Expect::Absent, 404, _) => Some(true),
                _ => Some(false),
            };
            match verdict {
                None => self.recorder.unverifiable += 1,
                Some(true) => self.recorder.verified += 1,
                Some(false) => {
                    self.recorder.mismatches += 1;
                    self.recorder
                        .error(format!("get {name}: the body is not what was written (HTTP {})", reply.status));
                    return Ok((599, reply.bytes, Some("verification failed".into())));
                }
            }
        }
        Ok((reply.status, reply.bytes, reply.error))
    }
}
