//! Prometheus metrics, served by the admin listener at `GET /metrics` (text exposition format).
//!
//! Requests are counted as they are answered, by operation (as the access log names it:
//! `REST.GET.OBJECT`, ...) and status; their latency (to the response's head: a GET's body
//! streams after) and bytes (as the request's and response's lengths declare them) by operation.
//! Everything else is read from the engine and the workers when scraped: the log writer (group
//! sizes, sync latency), segments and live bytes, checkpoints and compaction, the replication
//! backlog and lag, the event and access-log queues, and the lifecycle scans.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_engine::{DistributionSnapshot, Engine};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::replication::Replication;

/// Buckets of the request latency histogram: 100 µs doubling to about 52 s.
pub const LATENCY_BUCKETS: u16 = 20;
/// The first latency bucket's bound, in seconds.
pub const LATENCY_BUCKET_FIRST_SECONDS: f64 = 0.0001;

/// A request's operation and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    operation: String,
    status: u16,
}

/// A request's operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    operation: String,
}

/// What each request adds (shared by every connection).
#[derive(Debug)]
pub struct RequestMetrics {
    requests: Family<Answered, Counter>,
    durations: Family<Operation, Histogram, fn() -> Histogram>,
    received: Family<Operation, Counter>,
    sent: Family<Operation, Counter>,
    in_flight: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(LATENCY_BUCKET_FIRST_SECONDS, 2.0, LATENCY_BUCKETS))
}

impl Default for RequestMetrics {
    fn default() -> RequestMetrics {
        RequestMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(latency_histogram),
            received: Family::default(),
            sent: Family::default(),
            in_flight: Gauge::default(),
        }
    }
}

impl RequestMetrics {
    /// A request has arrived.
    pub fn arrived(&self) {
        self.in_flight.inc();
    }

    /// A request has been answered, or its connection dropped it.
    pub fn left(&self) {
        self.in_flight.dec();
    }

    /// A request was answered with `status` after `seconds`, having declared `received` bytes
    /// of body and answered with `sent`.
    pub fn answered(&self, operation: String, status: u16, seconds: f64, received: u64, sent: u64) {
        let operation = Operation { operation };
        self.durations.get_or_create(&operation).observe(seconds);
        if received > 0 {
            self.received.get_or_create(&operation).inc_by(received);
        }
        if sent > 0 {
            self.sent.get_or_create(&operation).inc_by(sent);
        }
        self.requests.get_or_create(&Answered { operation: operation.operation, status }).inc();
    }
}

/// The server's registry: the request metrics and the collector of everything else.
pub struct Metrics {
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What the collector reads at each scrape.
#[derive(Debug)]
pub struct Sources {
    pub engine: Engine,
    pub replication: Arc<Replication>,
    pub notifications: Arc<crate::notify::Notifications>,
    pub lifecycle: Arc<crate::lifecycle::Stats>,
}

impl Metrics {
    pub fn new(requests: Arc<RequestMetrics>, sources: Sources) -> Metrics {
        let mut registry = Registry::with_prefix("cairn");
        registry.register("requests", "S3 requests answered, by operation and status", requests.requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response's head, by operation",
            requests.durations.clone(),
        );
        registry.register(
            "request_received_bytes",
            "Request body bytes, as their lengths declare them, by operation",
            requests.received.clone(),
        );
        registry.register(
            "response_sent_bytes",
            "Response body bytes, as their lengths declare them, by operation",
            requests.sent.clone(),
        );
        registry.register("requests_in_flight", "Requests arrived and not yet answered", requests.in_flight.clone());
        registry.register_collector(Box::new(Store(sources)));
        Metrics { registry }
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// Reads the engine and the workers at scrape time.
#[derive(Debug)]
struct Store(Sources);

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

fn gauge<N>(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: N) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// A distribution as a histogram, its values divided by `scale` (microseconds to seconds).
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    distribution: &DistributionSnapshot,
    scale: f64,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = (distribution.counts.iter().enumerate())
        .map(|(i, &count)| (DistributionSnapshot::upper_bound(i).map_or(f64::MAX, |b| b as f64 / scale), count))
        .collect();
    let sum = distribution.sum as f64 / scale;
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    metric.encode_histogram::<NoLabelSet>(sum, distribution.count(), &buckets, None)
}

impl Collector for Store {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        self.log(e)?;
        self.space(e)?;
        self.replication(e)?;
        self.queues(e)?;
        let lifecycle = &self.0.lifecycle;
        counter(
            e,
            "lifecycle_scans",
            "Lifecycle scans of every bucket finished",
            lifecycle.scans.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "lifecycle_changes",
            "Expirations, transitions and aborts lifecycle applied",
            lifecycle.applied.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "lifecycle_last_scan_seconds",
            "How long the last lifecycle scan took",
            lifecycle.last_scan_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }
}

impl Store {
    fn log(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let log = self.0.engine.log_stats();
        counter(e, "log_groups", "Groups the log writer wrote (one write each)", log.groups)?;
        counter(e, "log_syncs", "fdatasyncs of the log, each acknowledging a group", log.syncs)?;
        counter(e, "log_commits", "Metadata records committed", log.commits)?;
        counter(e, "log_chunks", "Chunk records written", log.chunks)?;
        counter(e, "log_written_bytes", "Bytes written to segments", log.bytes)?;
        histogram(
            e,
            "log_group_records",
            "Records (commits and chunks) per group: writers one sync served",
            &log.group_records,
            1.0,
        )?;
        histogram(e, "log_sync_seconds", "Time to write and make durable one synced group", &log.sync_micros, 1e6)
    }

    fn space(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let space = self.0.engine.space();
        let dead = space.segments.iter().map(|s| s.bytes.saturating_sub(s.live)).sum::<u64>();
        gauge(e, "segments", "Segment files", space.segments.len() as i64)?;
        gauge(e, "segment_bytes", "Bytes of segment files", space.segment_bytes as i64)?;
        gauge(e, "live_bytes", "Bytes of chunk records the index references", space.live_bytes as i64)?;
        gauge(e, "dead_bytes", "Bytes of segment files no object references (compaction frees them)", dead as i64)?;
        gauge(e, "checkpoint_bytes", "Bytes of checkpoint files", space.checkpoint_bytes as i64)?;
        gauge(e, "space_amplification", "(segments + checkpoints) / live bytes", space.amplification)?;
        let seq = space.checkpoint.map_or(0, |c| c.seq);
        gauge(e, "checkpoint_seq", "The last record the newest checkpoint holds (0: none)", seq as i64)?;
        let upkeep = &space.upkeep;
        counter(e, "checkpoints", "Checkpoints written", upkeep.checkpoints)?;
        counter(e, "compaction_passes", "Compaction passes run", upkeep.compaction_passes)?;
        counter(e, "compaction_segments_deleted", "Segment files compaction deleted", upkeep.segments_deleted)?;
        counter(e, "compaction_copied_bytes", "Live bytes compaction copied forward", upkeep.bytes_copied)?;
        counter(e, "compaction_freed_bytes", "Bytes of segment files compaction freed", upkeep.bytes_freed)
    }

    fn replication(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let replication = &self.0.replication;
        let (entries, bytes) = replication.backlog();
        let counters = &replication.counters;
        gauge(e, "replication_backlog_entries", "Versions waiting to be replicated", entries as i64)?;
        gauge(e, "replication_backlog_bytes", "Queue bytes of the versions waiting", bytes as i64)?;
        let lag = crate::admin::lag_ms(replication) as f64 / 1000.0;
        gauge(e, "replication_lag_seconds", "Age of the oldest version waiting (0: none)", lag)?;
        counter(e, "replication_copies", "Copies made", counters.replicated.load(Ordering::Relaxed))?;
        counter(
            e,
            "replication_copied_bytes",
            "Bytes of the copies made",
            counters.replicated_bytes.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "replication_failures",
            "Copies a destination refused (FAILED)",
            counters.failed.load(Ordering::Relaxed),
        )?;
        counter(e, "replication_retries", "Batches tried again", counters.retries.load(Ordering::Relaxed))
    }

    fn queues(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let waiting = |prefix: &str| {
            self.0.engine.outboxes(prefix).into_iter().fold((0, 0), |(n, b), (_, count, bytes)| (n + count, b + bytes))
        };
        let (events, event_bytes) = waiting(crate::notify::OUTBOX_PREFIX);
        let (logs, log_bytes) = waiting(crate::logging::OUTBOX_PREFIX);
        gauge(e, "event_queue_entries", "Event notifications waiting for delivery", events as i64)?;
        gauge(e, "event_queue_bytes", "Bytes of the event notifications waiting", event_bytes as i64)?;
        counter(e, "events_dropped", "Event notifications dropped", self.0.notifications.dropped())?;
        gauge(e, "access_log_queue_entries", "Access log records waiting for delivery", logs as i64)?;
        gauge(e, "access_log_queue_bytes", "Bytes of the access log records waiting", log_bytes as i64)
    }
}
