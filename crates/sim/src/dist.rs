//! Random draws for the simulator over the kernel's seeded [`Rng`]: uniform, exponential,
//! normal and lognormal variates, seed derivation for independent streams, and the one place
//! where a drawn float becomes integer time.
//!
//! Every function is deterministic: the same generator state gives the same value.

use orrery_kernel::rng::Rng;
use orrery_kernel::time::Dur;

/// Microseconds in one second, as a float for conversions.
pub const MICROS_PER_SEC: f64 = 1_000_000.0;
/// Microseconds in one hour.
pub const MICROS_PER_HOUR: u64 = 3_600_000_000;
/// Microseconds in one day.
pub const MICROS_PER_DAY: u64 = 86_400_000_000;

/// Continuous draws on top of the kernel's integer generator.
pub trait RngExt {
    /// A uniform float in the open interval (0, 1): never exactly 0 or 1.
    fn unit_open(&mut self) -> f64;
    /// A uniform float in `[low, high)`.
    fn uniform(&mut self, low: f64, high: f64) -> f64;
    /// True with probability `p` (clamped to [0, 1]).
    fn chance(&mut self, p: f64) -> bool;
    /// An exponential variate with the given mean (inverse transform).
    fn exponential(&mut self, mean: f64) -> f64;
    /// A standard normal variate (Box-Muller; the second value of the pair is discarded).
    fn normal(&mut self) -> f64;
    /// A lognormal variate: `median * exp(sigma * Z)`, so its median is `median`.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64;
}

impl RngExt for Rng {
    fn unit_open(&mut self) -> f64 {
        // 53 random bits centred in their cell: (k + 0.5) / 2^53 lies strictly inside (0, 1).
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit_open()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit_open() < p.clamp(0.0, 1.0)
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit_open().ln()
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit_open(), self.unit_open());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// A seed for an independent stream `stream` of a run seeded with `seed`.
///
/// Workload `i` of a run uses `derive_seed(seed, i)`, so adding a workload or a variant never
/// shifts the draws of another: every variant of a seed sees the same arrivals.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut r = Rng::new(seed ^ stream.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// A non-negative float number of microseconds as a [`Dur`], rounded to the nearest
/// microsecond. Negative, NaN and infinite inputs saturate (NaN and below zero to 0).
pub fn dur_from_micros(micros: f64) -> Dur {
    if micros.is_nan() || micros <= 0.0 {
        return Dur(0);
    }
    if micros >= u64::MAX as f64 {
        return Dur(u64::MAX);
    }
    Dur(micros.round() as u64)
}

/// A float number of seconds as a [`Dur`] (see [`dur_from_micros`]).
pub fn dur_from_secs(secs: f64) -> Dur {
    dur_from_micros(secs * MICROS_PER_SEC)
}

/// A [`Dur`] as float seconds, for statistics and display only.
pub fn secs(d: Dur) -> f64 {
    d.0 as f64 / MICROS_PER_SEC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn unit_open_never_hits_the_ends() {
        let mut r = Rng::new(3);
        for _ in 0..100_000 {
            let u = r.unit_open();
            assert!(u > 0.0 && u < 1.0, "{u}");
        }
    }

    #[test]
    fn exponential_mean_is_right() {
        let mut r = Rng::new(11);
        let xs: Vec<f64> = (0..200_000).map(|_| r.exponential(5.0)).collect();
        assert!((mean(&xs) - 5.0).abs() < 0.05, "mean {}", mean(&xs));
    }

    #[test]
    fn normal_has_zero_mean_and_unit_variance() {
        let mut r = Rng::new(12);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        let m = mean(&xs);
        let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn lognormal_median_is_right() {
        let mut r = Rng::new(13);
        let mut xs: Vec<f64> = (0..100_001).map(|_| r.lognormal(4.0, 1.0)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[xs.len() / 2];
        assert!((median - 4.0).abs() < 0.08, "median {median}");
    }

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let (mut a, mut b) = (Rng::new(derive_seed(9, 0)), Rng::new(derive_seed(9, 0)));
        let mut c = Rng::new(derive_seed(9, 1));
        let xa: Vec<f64> = (0..10).map(|_| a.normal()).collect();
        let xb: Vec<f64> = (0..10).map(|_| b.normal()).collect();
        let xc: Vec<f64> = (0..10).map(|_| c.normal()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn durations_round_and_saturate() {
        assert_eq!(dur_from_secs(1.5), Dur(1_500_000));
        assert_eq!(dur_from_micros(0.4), Dur(0));
        assert_eq!(dur_from_micros(-3.0), Dur(0));
        assert_eq!(dur_from_micros(f64::NAN), Dur(0));
        assert_eq!(dur_from_micros(f64::INFINITY), Dur(u64::MAX));
        assert_eq!(secs(Dur::secs(90)), 90.0);
    }
}
