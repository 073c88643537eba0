//! Workloads as lazy, time-ordered streams of [`Arrival`]s: the synthetic generator
//! ([`SyntheticStream`]), trace workloads (through [`crate::traces`]), and [`ArrivalStream`],
//! which merges several by time.
//!
//! Times are relative to the start of the run (`Time(0)`); the runner adds its epoch. Each
//! synthetic stream keeps O(1) state, so a million arrivals cost no memory. A run's seed and
//! the workload's index fix every draw: the same seed gives the same stream, and every variant
//! of a seed sees the same arrivals.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use orrery_kernel::rng::Rng;
use orrery_kernel::scheduler::GroupPolicy;
use orrery_kernel::time::{Dur, Time};

use crate::dist::{derive_seed, dur_from_micros, RngExt, MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::experiment::{ArrivalProcess, CpuUtilModel, Experiment, Flavor, Lifetime, Source, Synthetic, DEFAULT_CPU_UTIL};
use crate::traces::{self, TraceError, TraceVm};

/// One VM request: when, what size, for how long, in which group, how busy.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrival {
    /// When it arrives, from the start of the run.
    pub at: Time,
    /// Its sequence number in the merged stream, from 0.
    pub id: u64,
    /// Index of the workload that produced it.
    pub source: u32,
    /// vCPUs requested.
    pub vcpus: u32,
    /// RAM requested, in MiB.
    pub ram_mb: u64,
    /// Root disk requested, in GiB.
    pub disk_gb: u64,
    /// How long it lives once placed; `None` means until the end of the run.
    pub lifetime: Option<Dur>,
    /// The server group it joins, if any.
    pub group: Option<GroupRef>,
    /// Its CPU utilisation over time.
    pub cpu: CpuUtil,
}

impl Arrival {
    /// A flavor name for its size, like `v2-r4096-d40`: arrivals of one size share a flavor.
    pub fn flavor_name(&self) -> String {
        format!("v{}-r{}-d{}", self.vcpus, self.ram_mb, self.disk_gb)
    }
}

/// The server group an arrival joins. Ids are unique across the merged stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GroupRef {
    /// The group's id: `(workload index << 40) | group number within the workload`.
    pub id: u64,
    /// Its policy.
    pub policy: GroupPolicy,
    /// How many members it will have.
    pub size: u32,
}

/// One VM's CPU utilisation, as a fraction of its vCPUs.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum CpuUtil {
    /// Always this fraction.
    Constant(f64),
    /// `mean + amplitude * cos(2π (hour − 14) / 24)`.
    Diurnal {
        /// Daily mean.
        mean: f64,
        /// Swing above and below the mean.
        amplitude: f64,
    },
}

/// Hour of the simulated day when diurnal CPU load peaks.
pub const CPU_PEAK_HOUR: f64 = 14.0;

impl CpuUtil {
    /// The utilisation at `t` (from the start of the run), clamped to [0, 1].
    pub fn at(&self, t: Time) -> f64 {
        match *self {
            CpuUtil::Constant(v) => v.clamp(0.0, 1.0),
            CpuUtil::Diurnal { mean, amplitude } => (mean + amplitude * daily_cos(t, CPU_PEAK_HOUR)).clamp(0.0, 1.0),
        }
    }

    /// One VM's utilisation drawn from a workload's model.
    pub fn draw(model: &CpuUtilModel, rng: &mut Rng) -> CpuUtil {
        match *model {
            CpuUtilModel::Constant(v) => CpuUtil::Constant(v),
            CpuUtilModel::Uniform { low, high } => CpuUtil::Constant(rng.uniform(low, high)),
            CpuUtilModel::Diurnal { mean, amplitude } => CpuUtil::Diurnal { mean, amplitude },
        }
    }
}

/// `cos(2π (hour_of_day(t) − peak_hour) / 24)`: 1 at the peak hour, −1 twelve hours later.
fn daily_cos(t: Time, peak_hour: f64) -> f64 {
    let hour = (t.0 % MICROS_PER_DAY) as f64 / MICROS_PER_HOUR as f64;
    (std::f64::consts::TAU * (hour - peak_hour) / 24.0).cos()
}

/// Why a workload cannot produce its arrivals.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A trace file could not be read.
    #[error("workload '{workload}': {error}")]
    Trace {
        /// The workload's name.
        workload: String,
        /// What went wrong in the trace.
        #[source]
        error: TraceError,
    },
}

/// A synthetic workload as a lazy stream. Arrivals carry `id` 0 and `source` 0 until merged.
pub struct SyntheticStream {
    spec: Synthetic,
    cpu: CpuUtilModel,
    rng: Rng,
    now: Time,
    until: Time,
    left: u64,
    total_weight: u64,
    /// The group being filled: (group number, members still to come).
    open_group: Option<(u64, u32)>,
    groups_made: u64,
}

impl SyntheticStream {
    /// A stream drawing from `seed`, ending before `until` or after `limit` arrivals.
    pub fn new(spec: &Synthetic, cpu: Option<&CpuUtilModel>, seed: u64, until: Time, limit: Option<u64>) -> Self {
        SyntheticStream {
            total_weight: spec.flavors.iter().map(|f| u64::from(f.weight)).sum(),
            spec: spec.clone(),
            cpu: cpu.cloned().unwrap_or(DEFAULT_CPU_UTIL),
            rng: Rng::new(seed),
            now: Time(0),
            until,
            left: limit.unwrap_or(u64::MAX),
            open_group: None,
            groups_made: 0,
        }
    }

    /// The next arrival time after `self.now`, or `None` past `until`.
    fn next_time(&mut self) -> Option<Time> {
        let t = match self.spec.arrival.clone() {
            ArrivalProcess::Poisson { rate } => self.now.0 as f64 + self.rng.exponential(MICROS_PER_HOUR as f64 / rate),
            ArrivalProcess::Diurnal { mean_rate, peak_to_trough, peak_hour } => self.thinned(mean_rate, peak_to_trough, peak_hour)?,
            ArrivalProcess::Bursts { base_rate, burst_rate, every, length } => self.bursty(base_rate, burst_rate, every, length)?,
        };
        let t = Time(self.now.0.saturating_add(dur_from_micros(t - self.now.0 as f64).0));
        (t < self.until).then_some(t)
    }

    /// Diurnal arrivals by thinning: candidates at the peak rate, kept with probability
    /// rate(t) / peak rate.
    fn thinned(&mut self, mean: f64, peak_to_trough: f64, peak_hour: f64) -> Option<f64> {
        let a = (peak_to_trough - 1.0) / (peak_to_trough + 1.0);
        let peak = mean * (1.0 + a);
        let mut t = self.now.0 as f64;
        loop {
            t += self.rng.exponential(MICROS_PER_HOUR as f64 / peak);
            if t >= self.until.0 as f64 {
                return None;
            }
            let rate = mean * (1.0 + a * daily_cos(Time(t as u64), peak_hour));
            if self.rng.unit_open() * peak < rate {
                return Some(t);
            }
        }
    }

    /// Two-state arrivals: a Poisson process whose rate switches at the burst edges. The
    /// exponential draw restarts at each edge, which is exact because it is memoryless.
    fn bursty(&mut self, base: f64, burst: f64, every: Dur, length: Dur) -> Option<f64> {
        let mut t = self.now.0;
        while t < self.until.0 {
            let phase = t % every.0;
            let (rate, edge) = if phase < length.0 { (burst, (t - phase).saturating_add(length.0)) } else { (base, (t - phase).saturating_add(every.0)) };
            if rate > 0.0 {
                let next = t as f64 + self.rng.exponential(MICROS_PER_HOUR as f64 / rate);
                if next < edge as f64 {
                    return Some(next);
                }
            }
            t = edge;
        }
        None
    }

    fn pick_flavor(&mut self) -> Flavor {
        let mut ticket = self.rng.below(self.total_weight.max(1));
        for f in &self.spec.flavors {
            if ticket < u64::from(f.weight) {
                return f.clone();
            }
            ticket -= u64::from(f.weight);
        }
        self.spec.flavors[0].clone()
    }

    fn draw_lifetime(&mut self) -> Dur {
        let micros = match self.spec.lifetime {
            Lifetime::Exponential { mean } => self.rng.exponential(mean.0 as f64),
            Lifetime::Lognormal { median, sigma } => self.rng.lognormal(median.0 as f64, sigma),
            Lifetime::Fixed(d) => return d,
        };
        Dur(dur_from_micros(micros).0.max(MIN_LIFETIME.0))
    }

    /// Consecutive group members fill one group of `size`, then the next group opens.
    fn draw_group(&mut self) -> Option<GroupRef> {
        let g = self.spec.groups.clone()?;
        if !self.rng.chance(g.fraction) {
            return None;
        }
        let (id, left) = match self.open_group {
            Some(open) => open,
            None => {
                self.groups_made += 1;
                (self.groups_made, g.size)
            }
        };
        self.open_group = (left > 1).then_some((id, left - 1));
        Some(GroupRef { id, policy: g.policy, size: g.size })
    }
}

/// Drawn lifetimes shorter than this are raised to it.
pub const MIN_LIFETIME: Dur = Dur::secs(1);

impl Iterator for SyntheticStream {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        if self.left == 0 {
            return None;
        }
        let at = self.next_time()?;
        self.now = at;
        self.left -= 1;
        let flavor = self.pick_flavor();
        let lifetime = Some(self.draw_lifetime());
        let group = self.draw_group();
        let cpu = CpuUtil::draw(&self.cpu, &mut self.rng);
        Some(Arrival { at, id: 0, source: 0, vcpus: flavor.vcpus, ram_mb: flavor.ram_mb, disk_gb: flavor.disk_gb, lifetime, group, cpu })
    }
}

/// A trace's VMs as arrivals, with their CPU model resolved.
struct TraceArrivals {
    inner: traces::TraceStream,
    model: Option<CpuUtilModel>,
    rng: Rng,
}

impl Iterator for TraceArrivals {
    type Item = Result<Arrival, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let vm: TraceVm = match self.inner.next()? {
            Ok(vm) => vm,
            Err(e) => return Some(Err(e)),
        };
        let cpu = match (&self.model, vm.avg_cpu) {
            (Some(m), _) => CpuUtil::draw(m, &mut self.rng),
            (None, Some(avg)) => CpuUtil::Constant(avg),
            (None, None) => CpuUtil::draw(&DEFAULT_CPU_UTIL, &mut self.rng),
        };
        let TraceVm { at, vcpus, ram_mb, disk_gb, lifetime, .. } = vm;
        Some(Ok(Arrival { at, id: 0, source: 0, vcpus, ram_mb, disk_gb, lifetime, group: None, cpu }))
    }
}

/// Several workloads merged by time (ties go to the lower workload index), numbered in order.
///
/// After a source fails, the stream yields that error once and then ends.
pub struct ArrivalStream {
    sources: Vec<(String, BoxedSource)>,
    heads: BinaryHeap<Reverse<(Time, u32)>>,
    pending: Vec<Option<Arrival>>,
    next_id: u64,
    error: Option<WorkloadError>,
    done: bool,
}

/// A boxed source of arrivals, as [`ArrivalStream::merge`] takes them.
pub type BoxedSource = Box<dyn Iterator<Item = Result<Arrival, TraceError>> + Send>;

impl ArrivalStream {
    /// Opens every workload of `exp` for one seed, ending before `until`. Trace files are
    /// opened (and, for CSV traces, read and checked) here.
    pub fn open(exp: &Experiment, seed: u64, until: Time) -> Result<ArrivalStream, WorkloadError> {
        let mut sources: Vec<(String, BoxedSource)> = Vec::new();
        for (i, w) in exp.workloads.iter().enumerate() {
            let stream_seed = derive_seed(seed, i as u64);
            let source: BoxedSource = match &w.source {
                Source::Synthetic(s) => Box::new(SyntheticStream::new(s, w.cpu_util.as_ref(), stream_seed, until, w.limit).map(Ok)),
                Source::Trace(t) => {
                    let inner = traces::open(t, w.limit, until).map_err(|error| WorkloadError::Trace { workload: w.name.clone(), error })?;
                    Box::new(TraceArrivals { inner, model: w.cpu_util.clone(), rng: Rng::new(stream_seed) })
                }
            };
            sources.push((w.name.clone(), source));
        }
        Ok(ArrivalStream::merge(sources))
    }

    /// Merges already-open streams, each named for messages; `sources[i]` becomes workload `i`.
    pub fn merge(sources: Vec<(String, BoxedSource)>) -> ArrivalStream {
        let n = sources.len();
        let mut s = ArrivalStream { sources, heads: BinaryHeap::new(), pending: vec![None; n], next_id: 0, error: None, done: false };
        for i in 0..n as u32 {
            s.refill(i);
        }
        s
    }

    /// Pulls the next arrival of source `i` into its slot, or keeps its error.
    fn refill(&mut self, i: u32) {
        let (name, src) = &mut self.sources[i as usize];
        match src.next() {
            Some(Ok(a)) => {
                self.heads.push(Reverse((a.at, i)));
                self.pending[i as usize] = Some(a);
            }
            Some(Err(error)) if self.error.is_none() => self.error = Some(WorkloadError::Trace { workload: name.clone(), error }),
            Some(Err(_)) | None => {}
        }
    }
}

impl Iterator for ArrivalStream {
    type Item = Result<Arrival, WorkloadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Some(Err(e));
        }
        let Reverse((_, i)) = self.heads.pop()?;
        let mut a = self.pending[i as usize].take()?;
        self.refill(i);
        a.id = self.next_id;
        a.source = i;
        a.group = a.group.map(|g| GroupRef { id: (u64::from(i) << 40) | g.id, ..g });
        self.next_id += 1;
        Some(Ok(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{Groups, Trace, TraceFormat, Workload};
    use crate::traces::scratch;

    fn synthetic(arrival: ArrivalProcess) -> Synthetic {
        Synthetic {
            arrival,
            flavors: vec![
                Flavor { name: "a".into(), vcpus: 1, ram_mb: 2048, disk_gb: 20, weight: 3 },
                Flavor { name: "b".into(), vcpus: 4, ram_mb: 8192, disk_gb: 80, weight: 1 },
            ],
            lifetime: Lifetime::Lognormal { median: Dur::secs(4 * 3600), sigma: 1.0 },
            groups: None,
        }
    }

    fn stream(spec: &Synthetic, seed: u64, days: u64) -> Vec<Arrival> {
        SyntheticStream::new(spec, None, seed, Time::from_secs(days * 86_400), None).collect()
    }

    fn per_hour(arrivals: usize, days: u64) -> f64 {
        arrivals as f64 / (days * 24) as f64
    }

    #[test]
    fn poisson_rate_and_lognormal_median_are_right() {
        let a = stream(&synthetic(ArrivalProcess::Poisson { rate: 500.0 }), 1, 20);
        assert!((per_hour(a.len(), 20) - 500.0).abs() < 5.0, "rate {}", per_hour(a.len(), 20));
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at), "time-ordered");
        let mut life: Vec<u64> = a.iter().map(|x| x.lifetime.unwrap().0).collect();
        life.sort_unstable();
        let median = life[life.len() / 2] as f64 / 3.6e9;
        assert!((median - 4.0).abs() < 0.1, "median lifetime {median} h");
        let small = a.iter().filter(|x| x.vcpus == 1).count() as f64 / a.len() as f64;
        assert!((small - 0.75).abs() < 0.01, "flavor weight 3 of 4 gives {small}");
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let spec = synthetic(ArrivalProcess::Poisson { rate: 100.0 });
        assert_eq!(stream(&spec, 7, 2), stream(&spec, 7, 2));
        assert_ne!(stream(&spec, 7, 2), stream(&spec, 8, 2));
    }

    #[test]
    fn diurnal_peaks_at_its_hour_and_keeps_its_mean() {
        let spec = synthetic(ArrivalProcess::Diurnal { mean_rate: 400.0, peak_to_trough: 3.0, peak_hour: 9.0 });
        let a = stream(&spec, 2, 30);
        assert!((per_hour(a.len(), 30) - 400.0).abs() < 8.0, "mean {}", per_hour(a.len(), 30));
        let in_hour = |h: u64| a.iter().filter(|x| (x.at.0 % MICROS_PER_DAY) / MICROS_PER_HOUR == h).count() as f64;
        let ratio = in_hour(9) / in_hour(21);
        assert!((ratio - 3.0).abs() < 0.3, "peak/trough {ratio}");
    }

    #[test]
    fn bursts_switch_rates_at_their_edges() {
        let every = Dur::secs(86_400);
        let length = Dur::secs(2 * 3600);
        let spec = synthetic(ArrivalProcess::Bursts { base_rate: 100.0, burst_rate: 1000.0, every, length });
        let a = stream(&spec, 3, 30);
        let burst = a.iter().filter(|x| x.at.0 % every.0 < length.0).count() as f64;
        assert!((burst / (30.0 * 2.0) - 1000.0).abs() < 30.0, "burst rate {}", burst / 60.0);
        let base = (a.len() as f64 - burst) / (30.0 * 22.0);
        assert!((base - 100.0).abs() < 5.0, "base rate {base}");
        let none = synthetic(ArrivalProcess::Bursts { base_rate: 0.0, burst_rate: 50.0, every, length });
        assert!(stream(&none, 3, 3).iter().all(|x| x.at.0 % every.0 < length.0), "no arrivals outside bursts");
    }

    #[test]
    fn groups_fill_to_their_size_and_take_their_share() {
        let mut spec = synthetic(ArrivalProcess::Poisson { rate: 1000.0 });
        spec.groups = Some(Groups { fraction: 0.25, size: 3, policy: GroupPolicy::AntiAffinity });
        let a = stream(&spec, 4, 5);
        let members: Vec<u64> = a.iter().filter_map(|x| x.group.map(|g| g.id)).collect();
        let share = members.len() as f64 / a.len() as f64;
        assert!((share - 0.25).abs() < 0.02, "group share {share}");
        let mut counts = std::collections::BTreeMap::new();
        for id in &members {
            *counts.entry(*id).or_insert(0) += 1;
        }
        let last = *counts.keys().next_back().unwrap();
        assert!(counts.iter().all(|(id, n)| *n == 3 || *id == last), "every group but the last has 3 members");
    }

    #[test]
    fn limit_and_until_end_the_stream() {
        let spec = synthetic(ArrivalProcess::Poisson { rate: 100.0 });
        assert_eq!(SyntheticStream::new(&spec, None, 1, Time(u64::MAX), Some(10)).count(), 10);
        assert!(stream(&spec, 1, 1).iter().all(|a| a.at < Time::from_secs(86_400)));
    }

    #[test]
    fn a_million_arrivals_stream_without_holding_them() {
        let spec = synthetic(ArrivalProcess::Poisson { rate: 1_000_000.0 });
        let mut s = SyntheticStream::new(&spec, None, 5, Time(u64::MAX), Some(1_000_000));
        let mut n = 0u64;
        let mut last = Time(0);
        for a in s.by_ref() {
            assert!(a.at >= last);
            last = a.at;
            n += 1;
        }
        assert_eq!(n, 1_000_000);
        assert!(std::mem::size_of::<SyntheticStream>() < 512, "constant-size state");
    }

    #[test]
    fn streams_can_move_to_worker_threads() {
        fn send<T: Send>() {}
        send::<ArrivalStream>();
        send::<crate::faults::FaultStream>();
        send::<crate::metrics::Recorder>();
        send::<Experiment>();
    }

    #[test]
    fn cpu_models_resolve_per_vm() {
        let mut rng = Rng::new(1);
        let u = CpuUtil::draw(&CpuUtilModel::Uniform { low: 0.2, high: 0.4 }, &mut rng);
        assert!(matches!(u, CpuUtil::Constant(v) if (0.2..0.4).contains(&v)));
        let d = CpuUtil::Diurnal { mean: 0.5, amplitude: 0.25 };
        assert!((d.at(Time(14 * MICROS_PER_HOUR)) - 0.75).abs() < 1e-9);
        assert!((d.at(Time(2 * MICROS_PER_HOUR + MICROS_PER_DAY)) - 0.25).abs() < 1e-9);
        assert_eq!(CpuUtil::Constant(1.7).at(Time(0)), 1.0);
    }

    fn workload(name: &str, rate: f64) -> Workload {
        Workload { name: name.into(), limit: None, cpu_util: None, source: Source::Synthetic(synthetic(ArrivalProcess::Poisson { rate })) }
    }

    fn experiment(workloads: Vec<Workload>) -> Experiment {
        let mut e = crate::experiment::parse_experiment(crate::experiment::tests::SMALL, "t", std::path::Path::new(".")).unwrap();
        e.workloads = workloads;
        e
    }

    #[test]
    fn merged_streams_are_time_ordered_numbered_and_tie_by_index() {
        let exp = experiment(vec![workload("a", 50.0), workload("b", 150.0)]);
        let until = Time::from_secs(5 * 86_400);
        let merged: Vec<Arrival> = ArrivalStream::open(&exp, 9, until).unwrap().map(Result::unwrap).collect();
        assert!(merged.windows(2).all(|w| (w[0].at, w[0].source) <= (w[1].at, w[1].source)));
        assert!(merged.iter().enumerate().all(|(i, a)| a.id == i as u64));
        let a_only: Vec<Time> = merged.iter().filter(|a| a.source == 0).map(|a| a.at).collect();
        let alone: Vec<Time> = ArrivalStream::open(&experiment(vec![workload("a", 50.0)]), 9, until).unwrap().map(|a| a.unwrap().at).collect();
        assert_eq!(a_only, alone, "adding a workload does not change another's draws");
        let same = |t| -> Box<dyn Iterator<Item = Result<Arrival, TraceError>> + Send> {
            let a = Arrival { at: Time(t), id: 0, source: 0, vcpus: 1, ram_mb: 1, disk_gb: 0, lifetime: None, group: None, cpu: CpuUtil::Constant(0.0) };
            Box::new(std::iter::once(Ok(a)))
        };
        let tied: Vec<u32> =
            ArrivalStream::merge(vec![("x".into(), same(5)), ("y".into(), same(5)), ("z".into(), same(1))]).map(|a| a.unwrap().source).collect();
        assert_eq!(tied, [2, 0, 1]);
    }

    #[test]
    fn group_ids_are_unique_across_workloads() {
        let mut w = workload("g", 500.0);
        if let Source::Synthetic(s) = &mut w.source {
            s.groups = Some(Groups { fraction: 1.0, size: 2, policy: GroupPolicy::Affinity });
        }
        let exp = experiment(vec![w.clone(), w]);
        let ids: Vec<(u32, u64)> =
            ArrivalStream::open(&exp, 1, Time::from_secs(3600)).unwrap().filter_map(|a| a.ok()).filter_map(|a| a.group.map(|g| (a.source, g.id))).collect();
        assert!(ids.iter().all(|(src, id)| id >> 40 == u64::from(*src)));
        assert!(ids.iter().any(|(s, _)| *s == 1));
    }

    #[test]
    fn trace_workloads_merge_with_synthetic_ones() {
        let dir = scratch("merge");
        let path = dir.join("hw.csv");
        std::fs::write(&path, "1,2,4,0,0\n2,4,8,1800,0\n1,2,4,3600,1\n").unwrap();
        let trace = Workload {
            name: "hw".into(),
            limit: None,
            cpu_util: None,
            source: Source::Trace(Trace { format: TraceFormat::Huawei, path: path.clone(), time_scale: 1.0, machine: Default::default() }),
        };
        let exp = experiment(vec![workload("a", 10.0), trace.clone()]);
        let all: Vec<Arrival> = ArrivalStream::open(&exp, 1, Time::from_secs(7200)).unwrap().map(Result::unwrap).collect();
        let from_trace: Vec<&Arrival> = all.iter().filter(|a| a.source == 1).collect();
        assert_eq!(from_trace.len(), 2);
        assert_eq!(from_trace[0].lifetime, Some(Dur::secs(3600)));
        assert_eq!(from_trace[0].cpu, CpuUtil::Constant(0.3), "no model and no trace data: the default");
        std::fs::write(&path, "").unwrap();
        let err = ArrivalStream::open(&exp, 1, Time::from_secs(7200)).err().expect("an empty trace is an error");
        assert!(err.to_string().starts_with("workload 'hw': "), "{err}");
    }
}
