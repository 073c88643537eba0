//! Results: one [`RunResult`] per variant and seed, their mean and spread per variant
//! ([`VariantResults`]), and the whole experiment's [`Results`], written as `results.json`
//! (byte-identical for the same inputs) and CSV.
//!
//! Determinism: maps are `BTreeMap`s, runs are sorted by seed and variants kept in file
//! order whatever order runs finish in, and every float is rounded to 6 significant digits
//! before it is written. No wall-clock figure appears here (see [`super::timings`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use orrery_kernel::time::Dur;
use serde::Serialize;
use serde_json::Value;

use super::stats::{pct, percentile, round6, weighted_mean, weighted_percentile, Stat};
use super::{Counts, Sample};
use crate::dist::secs;
use crate::experiment::Run;

/// Version of the `results.json` layout; bump it when a field changes meaning.
pub const RESULTS_VERSION: u32 = 1;

/// The outcome of one run: one variant, one seed. Percentages are 0 to 100.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunResult {
    /// The variant's name.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// Requests that arrived after the warmup.
    pub arrivals: u64,
    /// Requests placed.
    pub accepted: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Refusals per reason.
    pub rejections: BTreeMap<String, u64>,
    /// Accepted share of decided requests (100 when none was decided).
    pub acceptance_pct: f64,
    /// Instances deleted at the end of their lifetime.
    pub departures: u64,
    /// Time-weighted mean vCPU allocation.
    pub vcpu_util_mean_pct: f64,
    /// 95th percentile (time-weighted) of vCPU allocation.
    pub vcpu_util_p95_pct: f64,
    /// Time-weighted mean RAM allocation.
    pub ram_util_mean_pct: f64,
    /// 95th percentile (time-weighted) of RAM allocation.
    pub ram_util_p95_pct: f64,
    /// Time-weighted mean CPU load of up hosts.
    pub cpu_load_mean_pct: f64,
    /// Time-weighted mean of hosts running instances.
    pub active_hosts_mean: f64,
    /// Most hosts running instances at any sample.
    pub active_hosts_max: f64,
    /// Time-weighted mean of hosts up.
    pub hosts_up_mean: f64,
    /// Time-weighted mean stranded share of vCPUs.
    pub stranded_vcpu_pct: f64,
    /// Time-weighted mean stranded share of RAM.
    pub stranded_ram_pct: f64,
    /// Energy drawn over the measured time, kWh.
    pub energy_kwh: f64,
    /// Migrations.
    pub migrations: u64,
    /// Evacuations (rebuilds elsewhere after a host failure).
    pub evacuations: u64,
    /// Instance downtime caused by failures, server-hours.
    pub downtime_server_h: f64,
    /// Outages that ended with the instance serving again.
    pub recoveries: u64,
    /// Mean time to recover, seconds.
    pub recovery_mean_s: f64,
    /// 95th percentile time to recover, seconds.
    pub recovery_p95_s: f64,
    /// Longest time to recover, seconds.
    pub recovery_max_s: f64,
    /// Outages still open at the end, or ended by deleting the instance.
    pub unrecovered: u64,
    /// The time series (written to CSV, not to `results.json`).
    #[serde(skip)]
    pub series: Vec<Sample>,
}

/// What the recorder knows about outages at the end of a run.
pub(crate) struct Outages {
    pub downtime: Dur,
    pub recoveries: Vec<f64>,
    pub unrecovered: u64,
}

/// The metrics averaged over seeds, in report order: (key, label, unit).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("acceptance_pct", "Acceptance", "%"),
    ("accepted", "Accepted", ""),
    ("rejected", "Rejected", ""),
    ("vcpu_util_mean_pct", "vCPU util mean", "%"),
    ("vcpu_util_p95_pct", "vCPU util p95", "%"),
    ("ram_util_mean_pct", "RAM util mean", "%"),
    ("ram_util_p95_pct", "RAM util p95", "%"),
    ("cpu_load_mean_pct", "CPU load mean", "%"),
    ("active_hosts_mean", "Active hosts mean", ""),
    ("active_hosts_max", "Active hosts max", ""),
    ("stranded_vcpu_pct", "Stranded vCPU", "%"),
    ("stranded_ram_pct", "Stranded RAM", "%"),
    ("energy_kwh", "Energy", "kWh"),
    ("migrations", "Migrations", ""),
    ("evacuations", "Evacuations", ""),
    ("downtime_server_h", "Downtime", "server-h"),
    ("recovery_mean_s", "Time to recover mean", "s"),
    ("recovery_p95_s", "Time to recover p95", "s"),
    ("recovery_max_s", "Time to recover max", "s"),
    ("unrecovered", "Unrecovered", ""),
];

/// Step-function weights of samples: each sample holds until the next (the last until
/// `end`), clipped to the measured window `[from, end)`.
fn weights(samples: &[Sample], from: Dur, end: Dur) -> Vec<f64> {
    (0..samples.len())
        .map(|i| {
            let next = samples.get(i + 1).map_or(end, |s| s.t).min(end);
            let begin = samples[i].t.max(from);
            next.0.saturating_sub(begin.0) as f64
        })
        .collect()
}

impl RunResult {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        variant: String,
        seed: u64,
        c: Counts,
        rejections: BTreeMap<String, u64>,
        series: Vec<Sample>,
        warmup: Dur,
        end: Dur,
        o: Outages,
    ) -> RunResult {
        let w = weights(&series, warmup, end);
        let col = |f: fn(&Sample) -> f64| series.iter().map(f).collect::<Vec<f64>>();
        let (vcpu, ram) = (col(|s| s.vcpu_util), col(|s| s.ram_util));
        let active = col(|s| f64::from(s.active_hosts));
        let measured: Vec<f64> = active.iter().zip(&w).filter(|(_, w)| **w > 0.0).map(|(a, _)| *a).collect();
        let watt_micros: f64 = col(|s| s.power_w).iter().zip(&w).map(|(p, w)| p * w).sum();
        RunResult {
            variant,
            seed,
            arrivals: c.arrivals,
            accepted: c.accepted,
            rejected: c.rejected,
            rejections,
            acceptance_pct: pct(c.accepted as f64, (c.accepted + c.rejected) as f64, 100.0),
            departures: c.departures,
            vcpu_util_mean_pct: 100.0 * weighted_mean(&vcpu, &w),
            vcpu_util_p95_pct: 100.0 * weighted_percentile(&vcpu, &w, 0.95),
            ram_util_mean_pct: 100.0 * weighted_mean(&ram, &w),
            ram_util_p95_pct: 100.0 * weighted_percentile(&ram, &w, 0.95),
            cpu_load_mean_pct: 100.0 * weighted_mean(&col(|s| s.cpu_load), &w),
            active_hosts_mean: weighted_mean(&active, &w),
            active_hosts_max: measured.iter().copied().fold(0.0, f64::max),
            hosts_up_mean: weighted_mean(&col(|s| f64::from(s.hosts_up)), &w),
            stranded_vcpu_pct: 100.0 * weighted_mean(&col(|s| s.stranded_vcpu), &w),
            stranded_ram_pct: 100.0 * weighted_mean(&col(|s| s.stranded_ram), &w),
            energy_kwh: watt_micros / 3.6e12,
            migrations: c.migrations,
            evacuations: c.evacuations,
            downtime_server_h: secs(o.downtime) / 3600.0,
            recoveries: o.recoveries.len() as u64,
            recovery_mean_s: weighted_mean(&o.recoveries, &vec![1.0; o.recoveries.len()]),
            recovery_p95_s: percentile(&o.recoveries, 0.95),
            recovery_max_s: o.recoveries.iter().copied().fold(0.0, f64::max),
            unrecovered: o.unrecovered,
            series,
        }
    }

    /// The value of metric `key` (one of [`METRICS`]), or `None` for an unknown key.
    pub fn metric(&self, key: &str) -> Option<f64> {
        Some(match key {
            "acceptance_pct" => self.acceptance_pct,
            "accepted" => self.accepted as f64,
            "rejected" => self.rejected as f64,
            "vcpu_util_mean_pct" => self.vcpu_util_mean_pct,
            "vcpu_util_p95_pct" => self.vcpu_util_p95_pct,
            "ram_util_mean_pct" => self.ram_util_mean_pct,
            "ram_util_p95_pct" => self.ram_util_p95_pct,
            "cpu_load_mean_pct" => self.cpu_load_mean_pct,
            "active_hosts_mean" => self.active_hosts_mean,
            "active_hosts_max" => self.active_hosts_max,
            "stranded_vcpu_pct" => self.stranded_vcpu_pct,
            "stranded_ram_pct" => self.stranded_ram_pct,
            "energy_kwh" => self.energy_kwh,
            "migrations" => self.migrations as f64,
            "evacuations" => self.evacuations as f64,
            "downtime_server_h" => self.downtime_server_h,
            "recovery_mean_s" => self.recovery_mean_s,
            "recovery_p95_s" => self.recovery_p95_s,
            "recovery_max_s" => self.recovery_max_s,
            "unrecovered" => self.unrecovered as f64,
            _ => return None,
        })
    }
}

/// One variant over all its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantResults {
    /// The variant's name.
    pub name: String,
    /// Mean and spread over seeds of every metric in [`METRICS`].
    pub summary: BTreeMap<String, Stat>,
    /// Mean and spread over seeds of refusals per reason (0 for seeds without that reason).
    pub rejections: BTreeMap<String, Stat>,
    /// Each run, by seed.
    pub runs: Vec<RunResult>,
}

impl VariantResults {
    /// Summarises `runs` (any order; they are sorted by seed).
    pub fn new(name: &str, mut runs: Vec<RunResult>) -> VariantResults {
        runs.sort_by_key(|r| r.seed);
        let summary = METRICS.iter().map(|(key, _, _)| (key.to_string(), Stat::of(&runs.iter().filter_map(|r| r.metric(key)).collect::<Vec<_>>()))).collect();
        let reasons: std::collections::BTreeSet<&String> = runs.iter().flat_map(|r| r.rejections.keys()).collect();
        let rejections = reasons
            .into_iter()
            .map(|reason| {
                let per_seed: Vec<f64> = runs.iter().map(|r| r.rejections.get(reason).copied().unwrap_or(0) as f64).collect();
                (reason.clone(), Stat::of(&per_seed))
            })
            .collect();
        VariantResults { name: name.to_string(), summary, rejections, runs }
    }

    /// The mean over seeds of metric `key`, 0 if unknown.
    pub fn mean(&self, key: &str) -> f64 {
        self.summary.get(key).map_or(0.0, |s| s.mean)
    }

    /// The time series averaged over seeds, sample by sample (up to the shortest run).
    pub fn mean_series(&self) -> Vec<Sample> {
        let n = self.runs.iter().map(|r| r.series.len()).min().unwrap_or(0);
        (0..n).map(|i| mean_sample(self.runs.iter().map(|r| &r.series[i]))).collect()
    }
}

/// The average of samples taken at the same instant in different runs.
fn mean_sample<'a>(samples: impl Iterator<Item = &'a Sample>) -> Sample {
    let all: Vec<&Sample> = samples.collect();
    let k = all.len().max(1) as f64;
    let avg = |f: fn(&Sample) -> f64| all.iter().map(|s| f(s)).sum::<f64>() / k;
    let avg_int = |f: fn(&Sample) -> f64| avg(f).round();
    Sample {
        t: all.first().map_or(Dur(0), |s| s.t),
        vcpu_util: avg(|s| s.vcpu_util),
        ram_util: avg(|s| s.ram_util),
        cpu_load: avg(|s| s.cpu_load),
        hosts_up: avg_int(|s| f64::from(s.hosts_up)) as u32,
        active_hosts: avg_int(|s| f64::from(s.active_hosts)) as u32,
        servers_alive: avg_int(|s| s.servers_alive as f64) as u64,
        power_w: avg(|s| s.power_w),
        stranded_vcpu: avg(|s| s.stranded_vcpu),
        stranded_ram: avg(|s| s.stranded_ram),
        accepted: avg_int(|s| s.accepted as f64) as u64,
        rejected: avg_int(|s| s.rejected as f64) as u64,
        downtime_h: avg(|s| s.downtime_h),
    }
}

/// Everything an experiment produced, as `results.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    /// Layout version ([`RESULTS_VERSION`]).
    pub version: u32,
    /// The experiment's name.
    pub experiment: String,
    /// Simulated time per run, seconds.
    pub duration_s: u64,
    /// Metrics sampling period, seconds.
    pub sample_period_s: u64,
    /// Unmeasured start of each run, seconds.
    pub warmup_s: u64,
    /// The seeds run.
    pub seeds: Vec<u64>,
    /// Each variant, in file order.
    pub variants: Vec<VariantResults>,
}

impl Results {
    /// Groups `runs` by variant, in the order of `variants` (names from the experiment).
    pub fn new(experiment: &str, run: &Run, variants: &[String], runs: Vec<RunResult>) -> Results {
        let mut by_name: BTreeMap<&str, Vec<RunResult>> = variants.iter().map(|v| (v.as_str(), Vec::new())).collect();
        for r in runs {
            if let Some(list) = by_name.get_mut(r.variant.as_str()) {
                list.push(r);
            }
        }
        Results {
            version: RESULTS_VERSION,
            experiment: experiment.to_string(),
            duration_s: run.duration.0 / 1_000_000,
            sample_period_s: run.sample_period.0 / 1_000_000,
            warmup_s: run.warmup.0 / 1_000_000,
            seeds: run.seeds.clone(),
            variants: variants.iter().map(|v| VariantResults::new(v, by_name.remove(v.as_str()).unwrap_or_default())).collect(),
        }
    }

    /// `results.json`: pretty JSON with every float rounded to 6 significant digits and a
    /// final newline. The same results always give the same bytes.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        round_floats(&mut v);
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }

    /// `summary.csv`: one row per variant and metric with the mean and spread over seeds.
    pub fn summary_csv(&self) -> String {
        let mut s = String::from("variant,metric,mean,stddev,min,max\n");
        for v in &self.variants {
            for (key, _, _) in METRICS {
                let st = v.summary.get(*key).copied().unwrap_or_default();
                let _ = writeln!(s, "{},{key},{},{},{},{}", csv_field(&v.name), num(st.mean), num(st.stddev), num(st.min), num(st.max));
            }
        }
        s
    }
}

/// Rounds every float in a JSON tree to 6 significant digits.
fn round_floats(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = round6(n.as_f64().unwrap_or(0.0));
            *v = serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// A float for CSV: rounded to 6 significant digits, shortest form.
fn num(x: f64) -> String {
    format!("{}", round6(x))
}

/// A CSV field, quoted when it holds a comma, quote or newline.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Column names of a time-series CSV, in order.
pub const SERIES_COLUMNS: &str = "t_s,vcpu_util_pct,ram_util_pct,cpu_load_pct,hosts_up,active_hosts,servers_alive,power_w,stranded_vcpu_pct,stranded_ram_pct,accepted,rejected,downtime_server_h";

/// A run's time series as CSV (see [`SERIES_COLUMNS`]); the runner names the file, for
/// example `series-<variant>-seed<seed>.csv`.
pub fn series_csv(samples: &[Sample]) -> String {
    let mut s = String::with_capacity(64 * (samples.len() + 1));
    s.push_str(SERIES_COLUMNS);
    s.push('\n');
    for x in samples {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            x.t.0 / 1_000_000,
            num(100.0 * x.vcpu_util),
            num(100.0 * x.ram_util),
            num(100.0 * x.cpu_load),
            x.hosts_up,
            x.active_hosts,
            x.servers_alive,
            num(x.power_w),
            num(100.0 * x.stranded_vcpu),
            num(100.0 * x.stranded_ram),
            x.accepted,
            x.rejected,
            num(x.downtime_h),
        );
    }
    s
}
