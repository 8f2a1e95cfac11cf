//! Measurements: an HDR histogram of latencies per operation (per worker, merged at the end),
//! a per-second timeline, and the result a run writes as JSON.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::spec::{Op, Workload};

/// Latencies are recorded in microseconds, from 1 µs to this, at 3 significant digits.
pub const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Error messages a result keeps (the first ones).
pub const ERRORS_KEPT: usize = 10;

/// One worker's counts for one operation.
#[derive(Clone, Debug)]
pub struct OpStats {
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub not_found: u64,
    pub bytes: u64,
}

impl Default for OpStats {
    fn default() -> OpStats {
        OpStats {
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid bounds"),
            ok: 0,
            errors: 0,
            not_found: 0,
            bytes: 0,
        }
    }
}

/// A worker's measurements.
#[derive(Debug, Default)]
pub struct Recorder {
    pub ops: BTreeMap<Op, OpStats>,
    pub errors: Vec<String>,
    pub verified: u64,
    pub mismatches: u64,
    pub unverifiable: u64,
}

/// How a request ended, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// 404 on a read of a key a mixed workload may have deleted: counted apart, not an error.
    NotFound,
    Error,
}

impl Recorder {
    pub fn record(&mut self, op: Op, latency: Duration, outcome: Outcome, bytes: u64) {
        let stats = self.ops.entry(op).or_default();
        let micros = (latency.as_micros() as u64).clamp(1, LATENCY_MAX_US);
        stats.latency.record(micros).expect("clamped into the histogram's range");
        match outcome {
            Outcome::Ok => stats.ok += 1,
            Outcome::NotFound => stats.not_found += 1,
            Outcome::Error => stats.errors += 1,
        }
        stats.bytes += bytes;
    }

    pub fn error(&mut self, message: String) {
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(message);
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        for (op, stats) in other.ops {
            let mine = self.ops.entry(op).or_default();
            mine.latency.add(&stats.latency).expect("same bounds");
            mine.ok += stats.ok;
            mine.errors += stats.errors;
            mine.not_found += stats.not_found;
            mine.bytes += stats.bytes;
        }
        for error in other.errors {
            self.error(error);
        }
        self.verified += other.verified;
        self.mismatches += other.mismatches;
        self.unverifiable += other.unverifiable;
    }
}

/// Per-second totals after the warm-up, shared by all workers, and live totals for the
/// progress bar.
#[derive(Debug)]
pub struct Timeline {
    ops: Vec<AtomicU64>,
    bytes: Vec<AtomicU64>,
    pub live_ops: AtomicU64,
    pub live_bytes: AtomicU64,
    pub live_errors: AtomicU64,
}

impl Timeline {
    pub fn new(seconds: u64) -> Timeline {
        let slots = seconds as usize + 2;
        Timeline {
            ops: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            bytes: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            live_ops: AtomicU64::new(0),
            live_bytes: AtomicU64::new(0),
            live_errors: AtomicU64::new(0),
        }
    }

    /// Counts a request that completed `since_start` after the measured period began.
    pub fn add(&self, since_start: Duration, bytes: u64, error: bool) {
        let slot = (since_start.as_secs() as usize).min(self.ops.len() - 1);
        self.ops[slot].fetch_add(1, Ordering::Relaxed);
        self.bytes[slot].fetch_add(bytes, Ordering::Relaxed);
        self.live_ops.fetch_add(1, Ordering::Relaxed);
        self.live_bytes.fetch_add(bytes, Ordering::Relaxed);
        if error {
            self.live_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whole seconds of the measured period, as (ops, bytes) per second.
    pub fn seconds(&self, measured: Duration) -> Vec<Second> {
        let whole = measured.as_secs() as usize;
        (0..whole.min(self.ops.len()))
            .map(|i| Second {
                second: i as u64 + 1,
                ops: self.ops[i].load(Ordering::Relaxed),
                bytes: self.bytes[i].load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Second {
    pub second: u64,
    pub ops: u64,
    pub bytes: u64,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// (percentile, microseconds) points for plots.
    pub curve: Vec<(f64, u64)>,
}

/// Percentiles a latency curve is drawn through.
pub const CURVE_PERCENTILES: [f64; 9] = [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0];

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        Latency {
            mean: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
            curve: CURVE_PERCENTILES.iter().map(|&p| (p, histogram.value_at_percentile(p))).collect(),
        }
    }
}

/// One operation's totals in a result.
#[derive(Clone, Debug, Serialize)]
pub struct OpResult {
    pub count: u64,
    pub errors: u64,
    pub not_found: u64,
    pub bytes: u64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub latency_us: Latency,
}

/// A run's result, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub tool: &'static str,
    pub version: &'static str,
    pub endpoint: String,
    pub label: String,
    pub workload: Workload,
    pub measured_s: f64,
    pub total: OpResult,
    pub ops: BTreeMap<String, OpResult>,
    pub timeline: Vec<Second>,
    pub verify: Verify,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verify {
    pub enabled: bool,
    pub checked: u64,
    pub mismatches: u64,
    pub unverifiable: u64,
}

impl RunResult {
    pub fn build(
        endpoint: String,
        label: String,
        workload: Workload,
        measured: Duration,
        recorder: Recorder,
        timeline: Vec<Second>,
    ) -> RunResult {
        let seconds = measured.as_secs_f64().max(1e-9);
        let summarize = |stats: &OpStats| {
            let count = stats.ok + stats.errors + stats.not_found;
            OpResult {
                count,
                errors: stats.errors,
                not_found: stats.not_found,
                bytes: stats.bytes,
                ops_per_s: count as f64 / seconds,
                mib_per_s: stats.bytes as f64 / seconds / f64::from(1 << 20),
                latency_us: Latency::of(&stats.latency),
            }
        };
        let mut all = OpStats::default();
        let mut ops = BTreeMap::new();
        for (op, stats) in &recorder.ops {
            all.latency.add(&stats.latency).expect("same bounds");
            all.ok += stats.ok;
            all.errors += stats.errors;
            all.not_found += stats.not_found;
            all.bytes += stats.bytes;
            ops.insert(op.name().to_owned(), summarize(stats));
        }
        let verify = Verify {
            enabled: workload.verify,
            checked: recorder.verified,
            mismatches: recorder.mismatches,
            unverifiable: recorder.unverifiable,
        };
        RunResult {
            tool: "cairn-bench",
            version: env!("CARGO_PKG_VERSION"),
            endpoint,
            label,
            workload,
            measured_s: measured.as_secs_f64(),
            total: summarize(&all),
            ops,
            timeline,
            verify,
            errors: recorder.errors,
        }
    }

    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} ({}): {:.0} ops/s, {:.1} MiB/s over {:.1} s; {} errors\n",
            self.label, self.endpoint, self.total.ops_per_s, self.total.mib_per_s, self.measured_s, self.total.errors
        );
        out.push_str("  op          ops/s      MiB/s   p50 ms   p90 ms   p99 ms p99.9 ms   max ms  errors\n");
        for (name, op) in &self.ops {
            let ms = |us: u64| us as f64 / 1000.0;
            out.push_str(&format!(
                "  {name:<9} {:>8.0} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}\n",
                op.ops_per_s,
                op.mib_per_s,
                ms(op.latency_us.p50),
                ms(op.latency_us.p90),
                ms(op.latency_us.p99),
                ms(op.latency_us.p999),
                ms(op.latency_us.max),
                op.errors
            ));
        }
        if self.verify.enabled {
            out.push_str(&format!(
                "  verified {} reads: {} mismatches, {} not verifiable (changed while read)\n",
                self.verify.checked, self.verify.mismatches, self.verify.unverifiable
            ));
        }
        for error in &self.errors {
            out.push_str(&format!("  error: {error}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorders_merge_and_summarize() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for i in 1..=100 {
            a.record(Op::Get, Duration::from_micros(i), Outcome::Ok, 10);
        }
        b.record(Op::Get, Duration::from_millis(50), Outcome::Error, 0);
        b.record(Op::Put, Duration::ZERO, Outcome::Ok, 5);
        b.error("boom".into());
        a.merge(b);
        let get = &a.ops[&Op::Get];
        assert_eq!((get.ok, get.errors, get.bytes), (100, 1, 1000));
        assert_eq!(get.latency.max(), 50_015, "within 3 significant digits");
        let latency = Latency::of(&get.latency);
        assert_eq!(latency.p50, 51);
        assert_eq!(latency.curve.len(), CURVE_PERCENTILES.len());
        assert_eq!(a.errors, ["boom"]);
        assert_eq!(a.ops[&Op::Put].latency.min(), 1, "zero latencies clamp to 1 µs");
    }

    #[test]
    fn the_timeline_counts_per_second() {
        let timeline = Timeline::new(3);
        timeline.add(Duration::from_millis(500), 10, false);
        timeline.add(Duration::from_millis(1500), 20, true);
        timeline.add(Duration::from_secs(99), 1, false);
        let seconds = timeline.seconds(Duration::from_secs(2));
        assert_eq!(seconds.iter().map(|s| (s.ops, s.bytes)).collect::<Vec<_>>(), [(1, 10), (1, 20)]);
        assert_eq!(timeline.live_errors.load(Ordering::Relaxed), 1);
    }
}
