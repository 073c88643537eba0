//! Metrics of a simulation: what the runner reports while a run goes ([`Recorder`]), the
//! aggregates of one sampling instant ([`Aggregates`], computed from per-host
//! [`HostSample`]s or kept by the runner), and the results over seeds and variants
//! ([`results`]), plus wall-clock timings kept apart ([`timings`]).
//!
//! Definitions (docs/sim.md has the same, for users):
//! - **vCPU / RAM utilisation**: allocated / allocatable on hosts that are up, where
//!   allocatable is `(total − reserved) × allocation ratio` (placement's capacity).
//! - **CPU load**: the VMs' CPU demand (utilisation × vCPUs) over the hardware threads of up
//!   hosts, each host capped at its thread count. It drives the power model.
//! - **Active hosts**: up hosts running at least one instance.
//! - **Stranded capacity**: free vCPUs on up hosts whose free RAM is below the smallest
//!   request's RAM, and free RAM on up hosts whose free vCPUs are below the smallest
//!   request's vCPUs; as a share of allocatable vCPUs and RAM.
//! - **Power**: per up host, `idle + (max − idle) × load` with load its demand over its
//!   threads (at most 1). An up host with no instance draws `idle`, or nothing when the
//!   variant sets `power_off_idle`. Down hosts draw nothing.
//! - **Energy**: power held constant from one sample to the next (a step function),
//!   integrated over the measured part of the run.
//! - Everything before the warmup ends is left out, except the time series, which keeps
//!   every sample for the charts.

pub mod results;
pub mod stats;
pub mod timings;

use std::collections::BTreeMap;

use orrery_kernel::time::{Dur, Time};
use orrery_kernel::topology::PowerSpec;
use serde::Serialize;

pub use results::{Results, RunResult, VariantResults};
pub use stats::Stat;
pub use timings::{LatencyHistogram, RunTimings, Timings};

/// One host at a sampling instant, as the runner reads it from the kernel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostSample {
    /// Whether the host is up.
    pub up: bool,
    /// Hardware threads.
    pub threads: u32,
    /// Allocatable vCPUs: `(total − reserved) × cpu allocation ratio`.
    pub vcpu_capacity: u64,
    /// vCPUs allocated to instances.
    pub vcpu_used: u64,
    /// Allocatable RAM in MiB.
    pub ram_capacity_mb: u64,
    /// RAM allocated to instances, in MiB.
    pub ram_used_mb: u64,
    /// Instances on the host.
    pub instances: u32,
    /// CPU demand of its instances: the sum of utilisation × vCPUs, in hardware threads.
    pub cpu_demand: f64,
    /// Its power model.
    pub power: PowerSpec,
}

impl HostSample {
    /// The host's draw in watts (see the module docs).
    pub fn power_w(&self, power_off_idle: bool) -> f64 {
        if !self.up || (self.instances == 0 && power_off_idle) {
            return 0.0;
        }
        let load = if self.threads == 0 { 0.0 } else { (self.cpu_demand / f64::from(self.threads)).clamp(0.0, 1.0) };
        let (idle, max) = (f64::from(self.power.idle_watts), f64::from(self.power.max_watts));
        idle + (max - idle).max(0.0) * load
    }
}

/// The cloud at one sampling instant, summed over hosts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregates {
    /// Allocatable vCPUs on up hosts.
    pub vcpu_capacity: u64,
    /// Allocated vCPUs on up hosts.
    pub vcpu_used: u64,
    /// Allocatable RAM on up hosts, MiB.
    pub ram_capacity_mb: u64,
    /// Allocated RAM on up hosts, MiB.
    pub ram_used_mb: u64,
    /// Hardware threads of up hosts.
    pub threads: u64,
    /// CPU demand on up hosts, in threads, each host capped at its threads.
    pub cpu_demand: f64,
    /// Hosts that are up.
    pub hosts_up: u32,
    /// Up hosts with at least one instance.
    pub active_hosts: u32,
    /// Instances running on up hosts.
    pub servers_alive: u64,
    /// Total draw, watts.
    pub power_w: f64,
    /// Free vCPUs no request can use (see the module docs).
    pub stranded_vcpus: u64,
    /// Free RAM no request can use, MiB.
    pub stranded_ram_mb: u64,
}

impl Aggregates {
    /// Sums `hosts`. `smallest` is the smallest request's (vCPUs, RAM MiB), as
    /// [`crate::experiment::Experiment::smallest_request`] gives it.
    pub fn from_hosts(hosts: &[HostSample], smallest: (u32, u64), power_off_idle: bool) -> Aggregates {
        let mut a = Aggregates::default();
        for h in hosts {
            a.power_w += h.power_w(power_off_idle);
            if !h.up {
                continue;
            }
            a.hosts_up += 1;
            a.active_hosts += u32::from(h.instances > 0);
            a.servers_alive += u64::from(h.instances);
            a.vcpu_capacity += h.vcpu_capacity;
            a.vcpu_used += h.vcpu_used;
            a.ram_capacity_mb += h.ram_capacity_mb;
            a.ram_used_mb += h.ram_used_mb;
            a.threads += u64::from(h.threads);
            a.cpu_demand += h.cpu_demand.clamp(0.0, f64::from(h.threads));
            let free_v = h.vcpu_capacity.saturating_sub(h.vcpu_used);
            let free_r = h.ram_capacity_mb.saturating_sub(h.ram_used_mb);
            if free_r < smallest.1 {
                a.stranded_vcpus += free_v;
            }
            if free_v < u64::from(smallest.0) {
                a.stranded_ram_mb += free_r;
            }
        }
        a
    }
}

/// One row of a run's time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Time from the start of the run.
    pub t: Dur,
    /// Allocated / allocatable vCPUs (0 to 1).
    pub vcpu_util: f64,
    /// Allocated / allocatable RAM (0 to 1).
    pub ram_util: f64,
    /// CPU demand / hardware threads (0 to 1).
    pub cpu_load: f64,
    /// Hosts up.
    pub hosts_up: u32,
    /// Hosts running instances.
    pub active_hosts: u32,
    /// Instances running.
    pub servers_alive: u64,
    /// Total draw, watts.
    pub power_w: f64,
    /// Stranded share of allocatable vCPUs (0 to 1).
    pub stranded_vcpu: f64,
    /// Stranded share of allocatable RAM (0 to 1).
    pub stranded_ram: f64,
    /// Requests accepted so far (after warmup).
    pub accepted: u64,
    /// Requests rejected so far (after warmup).
    pub rejected: u64,
    /// Instance downtime so far (after warmup), in server-hours.
    pub downtime_h: f64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Records one run (one variant, one seed) as the runner drives it.
///
/// The runner calls `record_*` as things happen and [`Recorder::sample`] every sampling
/// period, all with kernel time, then [`Recorder::finish`] at the end. Calls must come in
/// time order. Events before the warmup ends are not counted.
#[derive(Clone, Debug)]
pub struct Recorder {
    variant: String,
    seed: u64,
    start: Time,
    measure_from: Time,
    counts: Counts,
    reasons: BTreeMap<String, u64>,
    outages: BTreeMap<u64, Time>,
    downtime: Dur,
    recoveries: Vec<f64>,
    unrecovered: u64,
    samples: Vec<Sample>,
}

/// Event counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub arrivals: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub departures: u64,
    pub migrations: u64,
    pub evacuations: u64,
}

impl Recorder {
    /// A recorder for `variant` under `seed`, for a run starting at `start` whose first
    /// `warmup` is not measured.
    pub fn new(variant: &str, seed: u64, start: Time, warmup: Dur) -> Recorder {
        Recorder {
            variant: variant.to_string(),
            seed,
            start,
            measure_from: start.plus(warmup),
            counts: Counts::default(),
            reasons: BTreeMap::new(),
            outages: BTreeMap::new(),
            downtime: Dur(0),
            recoveries: Vec::new(),
            unrecovered: 0,
            samples: Vec::new(),
        }
    }

    fn counting(&self, now: Time) -> bool {
        now >= self.measure_from
    }

    /// A request arrived (before it is placed or rejected).
    pub fn record_arrival(&mut self, now: Time) {
        self.counts.arrivals += u64::from(self.counting(now));
    }

    /// A request was placed and its instance created.
    pub fn record_placement(&mut self, now: Time) {
        self.counts.accepted += u64::from(self.counting(now));
    }

    /// A request was refused; `code` is the kernel error's stable code, such as
    /// `compute.no_valid_host` or `compute.over_quota`, counted per code.
    pub fn record_rejection(&mut self, now: Time, code: &str) {
        if self.counting(now) {
            self.counts.rejected += 1;
            *self.reasons.entry(code.to_string()).or_insert(0) += 1;
        }
    }

    /// An instance reached the end of its lifetime and was deleted.
    pub fn record_departure(&mut self, now: Time) {
        self.counts.departures += u64::from(self.counting(now));
    }

    /// An instance moved between hosts while running (live or cold migration).
    pub fn record_migration(&mut self, now: Time) {
        self.counts.migrations += u64::from(self.counting(now));
    }

    /// An instance on a failed host was rebuilt elsewhere.
    pub fn record_evacuation(&mut self, now: Time) {
        self.counts.evacuations += u64::from(self.counting(now));
    }

    /// Instance `server` stopped serving because of a failure. Repeated calls for an
    /// instance already down are ignored.
    pub fn record_outage_start(&mut self, now: Time, server: u64) {
        self.outages.entry(server).or_insert(now);
    }

    /// Instance `server` serves again (`recovered`), or was deleted while down. Its downtime
    /// after the warmup counts; a recovery also counts its time to recover.
    pub fn record_outage_end(&mut self, now: Time, server: u64, recovered: bool) {
        let Some(began) = self.outages.remove(&server) else { return };
        self.downtime = Dur(self.downtime.0 + now.since(began.max(self.measure_from)).0);
        if !self.counting(now) {
            return;
        }
        if recovered {
            self.recoveries.push(crate::dist::secs(now.since(began)));
        } else {
            self.unrecovered += 1;
        }
    }

    /// Downtime so far, counting open outages up to `now`.
    fn downtime_at(&self, now: Time) -> Dur {
        let open: u64 = self.outages.values().map(|&b| now.since(b.max(self.measure_from)).0).sum();
        Dur(self.downtime.0 + open)
    }

    /// Records the cloud's state at `now` as one time-series row.
    pub fn sample(&mut self, now: Time, a: &Aggregates) {
        self.samples.push(Sample {
            t: now.since(self.start),
            vcpu_util: ratio(a.vcpu_used, a.vcpu_capacity),
            ram_util: ratio(a.ram_used_mb, a.ram_capacity_mb),
            cpu_load: if a.threads == 0 { 0.0 } else { a.cpu_demand / a.threads as f64 },
            hosts_up: a.hosts_up,
            active_hosts: a.active_hosts,
            servers_alive: a.servers_alive,
            power_w: a.power_w,
            stranded_vcpu: ratio(a.stranded_vcpus, a.vcpu_capacity),
            stranded_ram: ratio(a.stranded_ram_mb, a.ram_capacity_mb),
            accepted: self.counts.accepted,
            rejected: self.counts.rejected,
            downtime_h: crate::dist::secs(self.downtime_at(now)) / 3600.0,
        });
    }

    /// Ends the run at `end`: open outages count as unrecovered, with downtime up to `end`.
    pub fn finish(mut self, end: Time) -> RunResult {
        let open: Vec<u64> = self.outages.keys().copied().collect();
        for server in open {
            self.record_outage_end(end, server, false);
        }
        let measured = self.measure_from.since(self.start);
        RunResult::build(
            self.variant,
            self.seed,
            self.counts,
            self.reasons,
            self.samples,
            measured,
            end.since(self.start),
            results::Outages { downtime: self.downtime, recoveries: self.recoveries, unrecovered: self.unrecovered },
        )
    }
}

#[cfg(test)]
mod tests;
