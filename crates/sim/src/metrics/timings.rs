//! Wall-clock figures, kept out of `results.json` so that file stays byte-identical: placement
//! decision latency ([`LatencyHistogram`]), run wall time and events per second, written to
//! `timings.json`. The runner measures (with `std::time::Instant`); this module only keeps
//! and summarises.

use std::time::Duration;

use serde::Serialize;

/// Sub-buckets per power of two: values land within 1/8 (12.5%) of their bucket's start.
const SUB: u64 = 8;
/// Buckets: 8 exact ones below 8 ns, then 8 per power of two up to 2^64 ns.
const BUCKETS: usize = (SUB as usize) * 62;

/// A log-linear histogram of nanosecond latencies: constant memory, 12.5% resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { counts: vec![0; BUCKETS], count: 0, sum_ns: 0, max_ns: 0 }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let msb = 63 - u64::from(ns.leading_zeros());
    let sub = (ns >> (msb - 3)) & (SUB - 1);
    ((msb - 2) * SUB + sub) as usize
}

/// The smallest value that lands in bucket `i`.
fn bucket_start(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let msb = i / SUB + 2;
    let start = u128::from(SUB + i % SUB) << (msb - 3);
    u64::try_from(start).unwrap_or(u64::MAX)
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns).min(BUCKETS - 1)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds another histogram's counts (for totals over runs).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The latency at or below which a share `p` (0 to 1) of records lie, in nanoseconds
    /// (the middle of its bucket); 0 when empty.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let target = ((p.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target && *c > 0 {
                let (lo, hi) = (bucket_start(i), bucket_start(i + 1));
                return (lo + (hi.saturating_sub(lo)) / 2).min(self.max_ns);
            }
        }
        0
    }

    /// Count, mean and percentiles in microseconds.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1_000.0;
        LatencySummary {
            count: self.count,
            mean_us: if self.count == 0 { 0.0 } else { self.sum_ns as f64 / self.count as f64 / 1_000.0 },
            p50_us: us(self.percentile_ns(0.50)),
            p95_us: us(self.percentile_ns(0.95)),
            p99_us: us(self.percentile_ns(0.99)),
            max_us: us(self.max_ns),
        }
    }
}

/// Latency figures in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// How many decisions were timed.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
}

/// Wall-clock figures of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunTimings {
    /// The variant's name.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Events processed (arrivals, departures, faults, timers, samples).
    pub events: u64,
    /// Events per wall-clock second.
    pub events_per_s: f64,
    /// Placement decision latency (scheduling one request, in wall time).
    pub placement: LatencySummary,
}

impl RunTimings {
    /// The figures of a run that took `wall` and processed `events`.
    pub fn new(variant: &str, seed: u64, wall: Duration, events: u64, placement: &LatencyHistogram) -> RunTimings {
        let wall_s = wall.as_secs_f64();
        RunTimings {
            variant: variant.to_string(),
            seed,
            wall_s,
            events,
            events_per_s: if wall_s > 0.0 { events as f64 / wall_s } else { 0.0 },
            placement: placement.summary(),
        }
    }
}

/// `timings.json`: every run's wall-clock figures and the experiment's total.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Wall time of the whole experiment, seconds.
    pub total_wall_s: f64,
    /// Runs executed in parallel.
    pub jobs: u32,
    /// Each run, sorted by variant then seed.
    pub runs: Vec<RunTimings>,
}

impl Timings {
    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut t = self.clone();
        t.runs.sort_by(|a, b| (&a.variant, a.seed).cmp(&(&b.variant, b.seed)));
        let mut s = serde_json::to_string_pretty(&t).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        for ns in [0u64, 1, 7, 8, 9, 15, 16, 17, 1000, 123_456_789, u64::MAX / 2] {
            let b = bucket_of(ns);
            assert!(bucket_start(b) <= ns && ns < bucket_start(b + 1).max(ns + 1), "{ns} in bucket {b}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_are_within_the_bucket_resolution() {
        let mut h = LatencyHistogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.mean_us - 500.5).abs() < 1e-6);
        assert!((s.p50_us - 500.0).abs() < 500.0 * 0.13, "p50 {}", s.p50_us);
        assert!((s.p99_us - 990.0).abs() < 990.0 * 0.13, "p99 {}", s.p99_us);
        assert_eq!(s.max_us, 1000.0);
        let mut total = LatencyHistogram::default();
        total.merge(&h);
        total.merge(&h);
        assert_eq!(total.summary().count, 2000);
        assert_eq!(LatencyHistogram::default().summary(), LatencySummary::default());
    }

    #[test]
    fn run_timings_compute_rates() {
        let t = RunTimings::new("pack", 1, Duration::from_millis(500), 1000, &LatencyHistogram::default());
        assert_eq!(t.events_per_s, 2000.0);
        let json = Timings { total_wall_s: 0.5, jobs: 1, runs: vec![t] }.to_json();
        assert!(json.contains("\"events_per_s\": 2000.0"), "{json}");
    }
}
