//! Small statistics: time-weighted means and percentiles of step functions, the mean and
//! spread over seeds ([`Stat`]), and rounding to 6 significant digits for stable output.

use serde::{Deserialize, Serialize};

/// The mean of `values`, each held for `weights[i]`; 0 when the total weight is 0.
pub fn weighted_mean(values: &[f64], weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    values.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / total
}

/// The smallest value at or below which `p` (0 to 1) of the total weight lies; 0 if empty.
pub fn weighted_percentile(values: &[f64], weights: &[f64], p: f64) -> f64 {
    let mut pairs: Vec<(f64, f64)> = values.iter().copied().zip(weights.iter().copied()).filter(|(_, w)| *w > 0.0).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|(_, w)| w).sum();
    let mut seen = 0.0;
    for (v, w) in &pairs {
        seen += w;
        if seen >= p * total {
            return *v;
        }
    }
    pairs.last().map_or(0.0, |(v, _)| *v)
}

/// The nearest-rank percentile `p` (0 to 1) of unweighted values; 0 if empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let ones = vec![1.0; values.len()];
    weighted_percentile(values, &ones, p)
}

/// A metric over seeds: mean, sample standard deviation (0 for one seed), min and max.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (n − 1 in the denominator).
    pub stddev: f64,
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
}

impl Stat {
    /// The mean and spread of `xs`; all zero when empty.
    pub fn of(xs: &[f64]) -> Stat {
        if xs.is_empty() {
            return Stat::default();
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Stat { mean, stddev: var.sqrt(), min, max }
    }
}

/// `x` rounded to 6 significant digits; NaN and infinities become 0 so output stays valid.
pub fn round6(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return 0.0;
    }
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// `num / den` as a percentage, or `empty` when `den` is 0.
pub fn pct(num: f64, den: f64, empty: f64) -> f64 {
    if den > 0.0 {
        100.0 * num / den
    } else {
        empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_statistics_follow_the_weights() {
        assert_eq!(weighted_mean(&[1.0, 3.0], &[3.0, 1.0]), 1.5);
        assert_eq!(weighted_mean(&[1.0], &[0.0]), 0.0);
        assert_eq!(weighted_percentile(&[5.0, 1.0, 9.0], &[1.0, 8.0, 1.0], 0.95), 9.0);
        assert_eq!(weighted_percentile(&[5.0, 1.0, 9.0], &[1.0, 8.0, 1.0], 0.5), 1.0);
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.95), 95.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn stat_has_mean_and_sample_spread() {
        let s = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!((s.mean, s.min, s.max), (5.0, 2.0, 9.0));
        assert!((s.stddev - 2.138).abs() < 1e-3, "{}", s.stddev);
        assert_eq!(Stat::of(&[3.0]).stddev, 0.0);
        assert_eq!(Stat::of(&[]), Stat::default());
    }

    #[test]
    fn rounding_keeps_six_digits_and_cleans_non_finite() {
        assert_eq!(round6(123.456789), 123.457);
        assert_eq!(round6(0.000123456789), 0.000123457);
        assert_eq!(round6(f64::NAN), 0.0);
        assert_eq!(round6(-2.5), -2.5);
        assert_eq!(pct(1.0, 4.0, 0.0), 25.0);
        assert_eq!(pct(1.0, 0.0, 100.0), 100.0);
    }
}
