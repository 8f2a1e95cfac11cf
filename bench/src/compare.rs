//! Compare mode: two endpoints driven in turn, A B A B, with the same workload, so that drift
//! on a noisy shared machine falls on both; the ratio A/B per round and its median.

use std::sync::Arc;

use serde::Serialize;

use crate::client::Target;
use crate::data::Ledger;
use crate::run;
use crate::spec::Workload;
use crate::stats::RunResult;

/// Most rounds a comparison runs.
pub const ROUNDS_MAX: usize = 100;

/// One endpoint of a comparison.
#[derive(Clone, Debug)]
pub struct Side {
    pub label: String,
    pub target: Arc<Target>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Round {
    pub round: usize,
    pub a_ops_per_s: f64,
    pub b_ops_per_s: f64,
    pub ops_ratio: f64,
    pub a_mib_per_s: f64,
    pub b_mib_per_s: f64,
    pub a_p99_us: u64,
    pub b_p99_us: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub rounds: Vec<Round>,
    /// Median of A/B throughput over the rounds.
    pub median_ratio: f64,
    pub runs: Vec<RunResult>,
}

impl Comparison {
    pub fn summary(&self) -> String {
        let mut out = format!("{} / {} throughput, per round:\n", self.a, self.b);
        for round in &self.rounds {
            out.push_str(&format!(
                "  round {}: {:.0} / {:.0} ops/s = {:.3}  ({:.1} / {:.1} MiB/s; p99 {:.2} / {:.2} ms)\n",
                round.round,
                round.a_ops_per_s,
                round.b_ops_per_s,
                round.ops_ratio,
                round.a_mib_per_s,
                round.b_mib_per_s,
                round.a_p99_us as f64 / 1000.0,
                round.b_p99_us as f64 / 1000.0,
            ));
        }
        out.push_str(&format!("  median ratio: {:.3}\n", self.median_ratio));
        out
    }
}

/// Prepares both sides (bucket, prefill), then runs `rounds` rounds of A then B.
pub async fn compare(
    a: &Side,
    b: &Side,
    workload: &Workload,
    rounds: usize,
    progress: bool,
) -> Result<Comparison, String> {
    if rounds == 0 || rounds > ROUNDS_MAX {
        return Err(format!("rounds must be 1 to {ROUNDS_MAX}"));
    }
    let mut ledgers = Vec::new();
    for side in [a, b] {
        run::ensure_bucket(&side.target).await?;
        let ledger = Arc::new(Ledger::new(workload.keys));
        if workload.prefill {
            run::prefill(&side.target, workload, &ledger, progress).await?;
        }
        ledgers.push(ledger);
    }
    let mut result =
        Comparison { a: a.label.clone(), b: b.label.clone(), rounds: Vec::new(), median_ratio: 0.0, runs: Vec::new() };
    for round in 1..=rounds {
        let ra = run::measure(&a.target, workload, &ledgers[0], &format!("{} #{round}", a.label), progress).await;
        let rb = run::measure(&b.target, workload, &ledgers[1], &format!("{} #{round}", b.label), progress).await;
        result.rounds.push(Round {
            round,
            a_ops_per_s: ra.total.ops_per_s,
            b_ops_per_s: rb.total.ops_per_s,
            ops_ratio: ra.total.ops_per_s / rb.total.ops_per_s.max(1e-9),
            a_mib_per_s: ra.total.mib_per_s,
            b_mib_per_s: rb.total.mib_per_s,
            a_p99_us: ra.total.latency_us.p99,
            b_p99_us: rb.total.latency_us.p99,
        });
        result.runs.push(ra);
        result.runs.push(rb);
    }
    result.median_ratio = median(result.rounds.iter().map(|r| r.ops_ratio).collect());
    Ok(result)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
