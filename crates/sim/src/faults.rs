//! Fault timelines: the experiment's failure processes (per-component MTBF/MTTR for hosts,
//! racks and zones) and scripted faults, as one lazy, time-ordered stream of [`FaultEvent`]s.
//!
//! Each component alternates between up and down: it fails after an up time drawn around
//! `mtbf`, recovers after a down time drawn around `mttr`, and so on. Host processes cover
//! compute hosts; rack and zone processes cover every rack and zone. Scripted faults are
//! merged in as written. The stream does not reconcile overlapping faults: the runner hands
//! each one to the kernel's health service, which refuses failing a down component or
//! recovering an up one (a no-op for the run) and derives which hosts serve. Memory is one
//! pending event per component.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use orrery_kernel::rng::Rng;
use orrery_kernel::time::Time;
use orrery_kernel::topology::{Role, Topology};

use crate::dist::{derive_seed, dur_from_micros, RngExt};
use crate::experiment::{FailureProcess, FaultAction, FaultDist, FaultKind, Faults};

/// One fault: a component fails or recovers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// When, from the start of the run.
    pub at: Time,
    /// Host, rack or zone.
    pub kind: FaultKind,
    /// Index into the topology's `hosts`, `racks` or `zones`.
    pub index: u32,
    /// The component's name.
    pub name: String,
    /// Fail or recover.
    pub action: FaultAction,
    /// Whether it came from `[[faults.event]]` rather than a failure process.
    pub scripted: bool,
}

/// Stream number of the fault draws, apart from the workloads' streams (0, 1, ...).
const FAULT_STREAM: u64 = 1 << 32;

/// A pending event in the heap: ordered by time, then by insertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Time,
    seq: u64,
    kind: FaultKind,
    index: u32,
    action: FaultAction,
    scripted: bool,
}

/// Every fault of one run, in time order (ties in insertion order).
pub struct FaultStream {
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    rng: Rng,
    until: Time,
    processes: [Option<FailureProcess>; 4],
    names: [Vec<String>; 4],
}

fn slot(kind: FaultKind) -> usize {
    match kind {
        FaultKind::Host => 0,
        FaultKind::Rack => 1,
        FaultKind::Zone => 2,
        FaultKind::Region => 3,
    }
}

impl FaultStream {
    /// The faults of `faults` on `topology` for one seed, ending before `until`. Scripted
    /// faults naming no component of the topology are skipped (the experiment checks names).
    pub fn new(faults: &Faults, topology: &Topology, seed: u64, until: Time) -> FaultStream {
        let names = [
            topology.hosts.iter().map(|h| h.name.clone()).collect(),
            topology.racks.iter().map(|r| r.name.clone()).collect(),
            topology.zones.iter().map(|z| z.name.clone()).collect(),
            topology.regions.iter().map(|r| r.name.clone()).collect(),
        ];
        let mut s = FaultStream {
            heap: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(derive_seed(seed, FAULT_STREAM)),
            until,
            processes: [faults.host.clone(), faults.rack.clone(), faults.zone.clone(), faults.region.clone()],
            names,
        };
        for e in &faults.events {
            if let Some(index) = s.names[slot(e.kind)].iter().position(|n| *n == e.name) {
                s.push(Time(e.at.0), e.kind, index as u32, e.action, true);
            }
        }
        let compute: Vec<u32> = (0..topology.hosts.len() as u32).filter(|&i| topology.hosts[i as usize].spec.role == Role::Compute).collect();
        s.start(FaultKind::Host, &compute);
        s.start(FaultKind::Rack, &(0..topology.racks.len() as u32).collect::<Vec<_>>());
        s.start(FaultKind::Zone, &(0..topology.zones.len() as u32).collect::<Vec<_>>());
        s.start(FaultKind::Region, &(0..topology.regions.len() as u32).collect::<Vec<_>>());
        s
    }

    /// Schedules the first failure of each component of `kind` that has a process.
    fn start(&mut self, kind: FaultKind, components: &[u32]) {
        if self.processes[slot(kind)].is_none() {
            return;
        }
        for &index in components {
            let at = self.draw(kind, FaultAction::Fail, Time(0));
            self.push(at, kind, index, FaultAction::Fail, false);
        }
    }

    /// When a component of `kind`, now at `from`, next does `action` (a failure ends an
    /// up time; a recovery ends a down time).
    fn draw(&mut self, kind: FaultKind, action: FaultAction, from: Time) -> Time {
        let Some(p) = self.processes[slot(kind)].clone() else { return Time(u64::MAX) };
        let mean = if action == FaultAction::Fail { p.mtbf } else { p.mttr };
        let span = match p.dist {
            FaultDist::Fixed => mean,
            FaultDist::Exponential => dur_from_micros(self.rng.exponential(mean.0 as f64)),
        };
        from.plus(span)
    }

    fn push(&mut self, at: Time, kind: FaultKind, index: u32, action: FaultAction, scripted: bool) {
        if at < self.until {
            self.heap.push(Reverse(Pending { at, seq: self.seq, kind, index, action, scripted }));
            self.seq += 1;
        }
    }
}

impl Iterator for FaultStream {
    type Item = FaultEvent;

    fn next(&mut self) -> Option<FaultEvent> {
        let Reverse(p) = self.heap.pop()?;
        if !p.scripted {
            let next = match p.action {
                FaultAction::Fail => FaultAction::Recover,
                FaultAction::Recover => FaultAction::Fail,
            };
            let at = self.draw(p.kind, next, p.at);
            self.push(at, p.kind, p.index, next, false);
        }
        let name = self.names[slot(p.kind)][p.index as usize].clone();
        Some(FaultEvent { at: p.at, kind: p.kind, index: p.index, name, action: p.action, scripted: p.scripted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{parse_experiment, ScriptedFault};
    use orrery_kernel::time::Dur;

    fn topology() -> (crate::experiment::Experiment, Topology) {
        let e = parse_experiment(crate::experiment::tests::SMALL, "t", std::path::Path::new(".")).unwrap();
        let t = Topology::build(&e.topology, &mut Rng::new(0)).unwrap();
        (e, t)
    }

    fn process(mtbf_h: u64, mttr_h: u64, dist: FaultDist) -> Option<FailureProcess> {
        Some(FailureProcess { mtbf: Dur::secs(mtbf_h * 3600), mttr: Dur::secs(mttr_h * 3600), dist })
    }

    #[test]
    fn fixed_processes_alternate_on_schedule() {
        let (_, t) = topology();
        let faults = Faults { host: process(10, 2, FaultDist::Fixed), ..Faults::default() };
        let events: Vec<FaultEvent> = FaultStream::new(&faults, &t, 1, Time::from_secs(25 * 3600)).collect();
        assert_eq!(events.len(), 6 * 4, "6 hosts fail at 10h and 22h, recover at 12h and 24h");
        assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
        let h0: Vec<(u64, FaultAction)> = events.iter().filter(|e| e.index == 0).map(|e| (e.at.as_secs() / 3600, e.action)).collect();
        assert_eq!(h0, [(10, FaultAction::Fail), (12, FaultAction::Recover), (22, FaultAction::Fail), (24, FaultAction::Recover)]);
        assert_eq!(events[0].name, "az1-r01-h01");
    }

    #[test]
    fn exponential_up_and_down_times_have_their_means() {
        let (_, t) = topology();
        let faults = Faults { host: process(100, 10, FaultDist::Exponential), ..Faults::default() };
        let years = Time::from_secs(20 * 365 * 86_400);
        let events: Vec<FaultEvent> = FaultStream::new(&faults, &t, 3, years).collect();
        let fails = events.iter().filter(|e| e.action == FaultAction::Fail).count() as f64;
        let expected = 6.0 * (20.0 * 365.0 * 24.0) / 110.0;
        assert!((fails / expected - 1.0).abs() < 0.03, "{fails} failures, expected about {expected}");
        let again: Vec<FaultEvent> = FaultStream::new(&faults, &t, 3, years).take(50).collect();
        assert_eq!(again[..], events[..50], "same seed, same faults");
    }

    #[test]
    fn scripted_faults_merge_in_order_and_racks_and_zones_fail() {
        let (e, t) = topology();
        let mut faults = e.faults.clone();
        faults.zone = process(30, 1, FaultDist::Fixed);
        faults.events = vec![
            ScriptedFault { at: Dur::secs(7200), kind: FaultKind::Rack, name: "az1-r02".into(), action: FaultAction::Fail },
            ScriptedFault { at: Dur::secs(3600), kind: FaultKind::Host, name: "az1-r01-h02".into(), action: FaultAction::Recover },
        ];
        let events: Vec<FaultEvent> = FaultStream::new(&faults, &t, 1, Time::from_secs(40 * 3600)).collect();
        let brief: Vec<(u64, &str, bool)> = events.iter().map(|e| (e.at.as_secs() / 3600, e.name.as_str(), e.scripted)).collect();
        assert_eq!(brief, [(1, "az1-r01-h02", true), (2, "az1-r02", true), (30, "az1", false), (31, "az1", false)]);
        assert_eq!(events[1].index, 1);
    }
}
