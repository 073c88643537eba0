//! orrery-sim: the what-if lab behind `orrery sim`. It reads an experiment file, produces the
//! workload and fault streams a run is driven by, records metrics, and writes results,
//! CSV time series and a self-contained HTML report. It is a shell around the kernel: it
//! never reads the wall clock except through what the runner hands it for `timings.json`.
//!
//! The pieces, in the order a run uses them:
//!
//! - [`experiment`]: the file format ([`experiment::load_experiment`] → [`experiment::Experiment`]).
//! - [`workload`]: [`workload::ArrivalStream`], every workload merged by time, lazily.
//!   [`traces`] reads the public traces it may replay; [`dist`] holds the random draws.
//! - [`faults`]: [`faults::FaultStream`], failures and recoveries in time order.
//! - [`metrics`]: [`metrics::Recorder`] (one per run), [`metrics::Results`] over runs,
//!   [`metrics::Timings`] for wall-clock figures.
//! - [`report`] and [`svg`]: `report.html` and the stdout summary table;
//!   [`output`] writes every file.
//!
//! # The runner's contract
//!
//! [`runner`] is the event loop that drives the kernel; the CLI wraps it. For each variant `v` of
//! `exp.variants` and each seed `s` of `exp.run.seeds` (runs are independent and may go in
//! parallel), it:
//!
//! 1. builds a kernel from `v.topology(&exp.topology)` with seed `s`, starting at an epoch
//!    `t0`; all stream times below are relative to `t0`;
//! 2. opens `ArrivalStream::open(&exp, s, Time(exp.run.duration.0))` and
//!    `FaultStream::new(&exp.faults, &topology, s, Time(exp.run.duration.0))`; every variant
//!    of a seed gets the same arrivals and faults (common random numbers);
//! 3. creates `Recorder::new(&v.name, s, t0, exp.run.warmup)` and runs one heap ordered by
//!    (time, sequence) over: the next arrival, the next fault, departures (`t0 + at +
//!    lifetime` of each placed arrival), the kernel's timers, and a sampling tick every
//!    `exp.run.sample_period` from `t0`. Then, as things happen:
//!    - arrival: [`metrics::Recorder::record_arrival`]; drop `arrival.group` when
//!      `!v.anti_affinity`; create the server (flavor [`workload::Arrival::flavor_name`]);
//!      [`metrics::Recorder::record_placement`] or
//!      [`metrics::Recorder::record_rejection`] with the kernel's message as the reason;
//!    - departure: delete the server, [`metrics::Recorder::record_departure`] (and
//!      `record_outage_end(now, id, false)` if it was down);
//!    - fault: fail or recover the host, rack or zone (a no-op if already in that state);
//!      every instance that stops serving gets `record_outage_start(now, id)`; with
//!      `v.evacuation == RebuildElsewhere` rebuild it elsewhere,
//!      [`metrics::Recorder::record_evacuation`], and `record_outage_end(now, id, true)`
//!      once it is ACTIVE again; with `None` it ends when its host recovers;
//!    - migration: [`metrics::Recorder::record_migration`];
//!    - sampling tick: fill one [`metrics::HostSample`] per host (CPU demand from each
//!      instance's [`workload::CpuUtil::at`]), then `rec.sample(now,
//!      &Aggregates::from_hosts(&hosts, exp.smallest_request(), v.power_off_idle))`;
//! 4. ends with `rec.finish(t0 + duration)` → [`metrics::RunResult`], and times itself into a
//!    [`metrics::RunTimings`] (wall time, events, a [`metrics::LatencyHistogram`] of each
//!    placement decision).
//!
//! Finally `Results::new(&exp.name, &exp.run, &variant_names, runs)`,
//! [`output::write_outputs`], and [`report::summary_table`] for stdout.

pub mod dist;
pub mod experiment;
pub mod faults;
pub mod metrics;
pub mod output;
pub mod report;
pub mod runner;
pub mod svg;
pub mod traces;
pub mod workload;
