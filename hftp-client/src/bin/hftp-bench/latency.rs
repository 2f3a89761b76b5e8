//! Response latencies: an HDR histogram (`hdrhistogram`) per client
//! thread, in nanoseconds with three significant digits, merged at the
//! end and summarised as percentiles in microseconds.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies of one thread (or of all, once merged).
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// An empty histogram covering 1 ns to 1 hour.
    pub fn new() -> Self {
        Latencies(
            Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds"),
        )
    }

    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(ns.max(1));
    }

    /// Adds another thread's latencies.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so this cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Percentiles, in microseconds.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        let h = &self.0;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// Latency percentiles, microseconds (three significant digits).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest response.
    pub max_us: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for i in 1..=1000u64 {
            a.record(Duration::from_micros(i));
        }
        for _ in 0..10 {
            b.record(Duration::from_millis(5));
        }
        a.merge(&b);
        let s = a.summary();
        assert!(s.p50_us <= s.p90_us && s.p90_us <= s.p99_us && s.p99_us <= s.p999_us);
        assert!(s.p999_us <= s.max_us);
        assert!((s.p50_us - 505.0).abs() < 5.0, "{s:?}");
        assert!((s.max_us - 5000.0).abs() < 5.0, "{s:?}");
    }
}
