//! A distribution of observed values in power-of-two buckets, counted with atomics: cheap enough
//! for the log writer to record every group, read by metrics exporters as a histogram.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a distribution: bucket `i` counts values up to `2^i` (the last takes the rest).
pub const DISTRIBUTION_BUCKETS: usize = 28;

/// Counts of observed values by power of two, and their sum.
#[derive(Debug)]
pub struct Distribution {
    counts: [AtomicU64; DISTRIBUTION_BUCKETS],
    sum: AtomicU64,
}

impl Default for Distribution {
    fn default() -> Distribution {
        Distribution { counts: std::array::from_fn(|_| AtomicU64::new(0)), sum: AtomicU64::new(0) }
    }
}

impl Distribution {
    /// Counts one value.
    pub fn record(&self, value: u64) {
        let bucket = (u64::BITS - value.saturating_sub(1).leading_zeros()) as usize;
        self.counts[bucket.min(DISTRIBUTION_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> DistributionSnapshot {
        DistributionSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a [`Distribution`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DistributionSnapshot {
    /// Values counted per bucket (not cumulative): bucket `i` holds values in `(2^(i-1), 2^i]`
    /// (bucket 0 holds 0 and 1), the last bucket everything larger too.
    pub counts: [u64; DISTRIBUTION_BUCKETS],
    /// The sum of every value counted.
    pub sum: u64,
}

impl DistributionSnapshot {
    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The largest value bucket `i` counts; `None` for the last, which counts every value
    /// above the one before it.
    pub fn upper_bound(bucket: usize) -> Option<u64> {
        (bucket < DISTRIBUTION_BUCKETS - 1).then(|| 1u64 << bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_bucket_of_their_power_of_two() {
        let distribution = Distribution::default();
        for value in [0, 1, 2, 3, 4, 5, 1024, 1025, u64::MAX] {
            distribution.record(value);
        }
        let snapshot = distribution.snapshot();
        assert_eq!(&snapshot.counts[..4], &[2, 1, 2, 1]);
        assert_eq!((snapshot.counts[10], snapshot.counts[11]), (1, 1));
        assert_eq!(snapshot.counts[DISTRIBUTION_BUCKETS - 1], 1);
        assert_eq!(snapshot.count(), 9);
        assert_eq!(DistributionSnapshot::upper_bound(0), Some(1));
        assert_eq!(DistributionSnapshot::upper_bound(10), Some(1024));
        assert_eq!(DistributionSnapshot::upper_bound(DISTRIBUTION_BUCKETS - 1), None);
    }
}
