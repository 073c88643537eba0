//! Health: the state of every failure domain of the cloud, and nothing else.
//!
//! Each component (region, availability zone, rack, host) has a state of its own: up, down or
//! in maintenance, set only by [`Cmd::Set`]. A host's *effective* state is derived: it is down
//! if it, its rack, its zone or its region is down; else in maintenance if any of them is; else
//! up. So the kernel can tell a host that failed by itself from one that is down with its rack,
//! and recovering the rack leaves a host that failed on its own down.
//!
//! Health does not know what runs on hosts. [`Health::set`] returns the hosts whose effective
//! state changed ([`Change`]), and the kernel hands them to the services that react (compute
//! loses, evacuates and restarts servers). Chaos in the live cloud, Nova's `forced_down` and the
//! simulator's fault processes all come through here, so there is one failure model.
//!
//! Hosts are laid out rack by rack, zone by zone, region by region, so every component covers
//! a contiguous range of host indexes; finding a rack's hosts never scans the fleet.

use std::collections::VecDeque;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::time::Time;
use crate::topology::{HostIdx, Topology};
use crate::{Error, Result};

/// How many health events the kernel remembers for `orrery status`.
pub const EVENT_LOG_LEN: usize = 64;

/// A kind of failure domain.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A region: every zone in it.
    Region,
    /// An availability zone: every rack in it.
    #[serde(rename = "az")]
    Zone,
    /// A rack: every host in it.
    Rack,
    /// One host.
    Host,
}

impl Kind {
    /// Every kind, outermost first.
    pub const ALL: [Kind; 4] = [Kind::Region, Kind::Zone, Kind::Rack, Kind::Host];

    /// The name users type: `region`, `az`, `rack`, `host`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Region => "region",
            Kind::Zone => "az",
            Kind::Rack => "rack",
            Kind::Host => "host",
        }
    }

    /// Parses a user's name for a kind (`az` and `zone` both name a zone).
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "region" => Some(Kind::Region),
            "az" | "zone" => Some(Kind::Zone),
            "rack" => Some(Kind::Rack),
            "host" => Some(Kind::Host),
            _ => None,
        }
    }

    /// The noun in messages: `Region`, `Availability zone`, `Rack`, `Host`.
    fn noun(self) -> &'static str {
        match self {
            Kind::Region => "Region",
            Kind::Zone => "Availability zone",
            Kind::Rack => "Rack",
            Kind::Host => "Host",
        }
    }
}

/// The state of a component, its own or derived.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Serving.
    #[default]
    Up,
    /// Taken out of service on purpose: what runs there keeps running, nothing new is placed.
    Maintenance,
    /// Failed: whatever ran there is lost until it recovers or is rebuilt elsewhere.
    Down,
}

impl State {
    /// `up`, `maintenance` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Maintenance => "maintenance",
            State::Down => "down",
        }
    }
}

/// Health commands. Legal only for admins and the kernel's own shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Sets a component's own state. Refused if it is already in that state.
    Set {
        /// The component's kind.
        kind: Kind,
        /// Its name in the topology (`az1-r01-h03`, `az1-r01`, `az1`, `RegionOne`).
        name: String,
        /// The new state.
        state: State,
    },
    /// Sets a component's own state if it is not already in it (Nova's `forced_down`, which
    /// may be repeated); a no-op otherwise, with no event.
    Ensure {
        /// The component's kind.
        kind: Kind,
        /// Its name in the topology.
        name: String,
        /// The state it should be in.
        state: State,
    },
}

/// Health replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The component changed state; these hosts' effective states changed with it.
    Changed {
        /// The hosts whose effective state changed, by name, in index order.
        hosts: Vec<String>,
    },
}

/// A host whose effective state changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The host.
    pub host: HostIdx,
    /// Its effective state before.
    pub from: State,
    /// Its effective state now.
    pub to: State,
}

/// One remembered health event: a component's own state changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record {
    /// When.
    pub at: Time,
    /// The component's kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its state before.
    pub from: State,
    /// Its state after.
    pub to: State,
    /// How many hosts' effective state changed with it.
    pub hosts_changed: u32,
}

/// The state of every failure domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Health {
    /// Own state of each region, zone, rack and host, indexed as in the topology
    /// (`[Kind::Region as usize]` and so on).
    own: [Vec<State>; 4],
    /// The hosts each region, zone and rack covers (hosts are contiguous per component).
    ranges: [Vec<Range<HostIdx>>; 3],
    /// The latest events, oldest first, at most [`EVENT_LOG_LEN`].
    log: VecDeque<Record>,
}

impl Health {
    /// Every component of `t` up.
    pub fn new(t: &Topology) -> Health {
        let mut bounds: [Vec<Option<(HostIdx, HostIdx)>>; 3] = [vec![None; t.regions.len()], vec![None; t.zones.len()], vec![None; t.racks.len()]];
        for (i, h) in t.hosts.iter().enumerate() {
            let i = i as HostIdx;
            let region = t.zones[h.zone as usize].region as usize;
            for (slot, c) in [(0, region), (1, h.zone as usize), (2, h.rack as usize)] {
                let b = &mut bounds[slot][c];
                *b = Some(b.map_or((i, i + 1), |(lo, hi)| (lo.min(i), hi.max(i + 1))));
            }
        }
        let ranges = bounds.map(|v| v.into_iter().map(|b| b.map_or(0..0, |(lo, hi)| lo..hi)).collect());
        let h = Health {
            own: [vec![State::Up; t.regions.len()], vec![State::Up; t.zones.len()], vec![State::Up; t.racks.len()], vec![State::Up; t.hosts.len()]],
            ranges,
            log: VecDeque::new(),
        };
        debug_assert_eq!(h.check_invariants(t), Ok(()));
        h
    }

    /// A component's own state, by index. Panics on an index out of range (a kernel bug).
    pub fn own(&self, kind: Kind, idx: u32) -> State {
        self.own[kind as usize][idx as usize]
    }

    /// How many components of `kind` there are.
    pub fn count(&self, kind: Kind) -> usize {
        self.own[kind as usize].len()
    }

    /// The hosts a component covers.
    pub fn hosts_of(&self, kind: Kind, idx: u32) -> Range<HostIdx> {
        match kind {
            Kind::Host => idx..idx + 1,
            _ => self.ranges[kind as usize][idx as usize].clone(),
        }
    }

    /// A host's effective state: the worst of its own, its rack's, its zone's and its region's.
    pub fn host(&self, t: &Topology, h: HostIdx) -> State {
        let host = t.host(h);
        let zone = host.zone;
        let region = t.zones[zone as usize].region;
        self.own(Kind::Host, h).max(self.own(Kind::Rack, host.rack)).max(self.own(Kind::Zone, zone)).max(self.own(Kind::Region, region))
    }

    /// Whether a host is effectively up (neither down nor in maintenance).
    pub fn host_up(&self, t: &Topology, h: HostIdx) -> bool {
        self.host(t, h) == State::Up
    }

    /// Whether a host still runs what it runs (up or in maintenance).
    pub fn host_alive(&self, t: &Topology, h: HostIdx) -> bool {
        self.host(t, h) != State::Down
    }

    /// The latest health events, oldest first.
    pub fn log(&self) -> impl DoubleEndedIterator<Item = &Record> + ExactSizeIterator {
        self.log.iter()
    }

    /// The index of the component of `kind` named `name`.
    pub fn find(&self, t: &Topology, kind: Kind, name: &str) -> Result<u32> {
        let found = match kind {
            Kind::Host => t.host_by_name.get(name).copied(),
            Kind::Rack => t.racks.iter().position(|r| r.name == name).map(|i| i as u32),
            Kind::Zone => t.zones.iter().position(|z| z.name == name).map(|i| i as u32),
            Kind::Region => t.regions.iter().position(|r| r.name == name).map(|i| i as u32),
        };
        found.ok_or_else(|| Error::not_found("health.not_found", format!("{} {name} could not be found.", kind.noun())))
    }

    /// Sets the own state of component `name` at `now`: validates, then mutates. Returns the
    /// hosts whose effective state changed, in index order.
    pub fn set(&mut self, t: &Topology, now: Time, kind: Kind, name: &str, state: State) -> Result<Vec<Change>> {
        let idx = self.find(t, kind, name)?;
        let from = self.own(kind, idx);
        if from == state {
            let what = match state {
                State::Up => "is not down or in maintenance",
                State::Down => "is already down",
                State::Maintenance => "is already in maintenance",
            };
            return Err(Error::conflict("health.conflict", format!("{} {name} {what}.", kind.noun())));
        }
        let hosts = self.hosts_of(kind, idx);
        let before: Vec<State> = hosts.clone().map(|h| self.host(t, h)).collect();
        self.own[kind as usize][idx as usize] = state;
        let changes: Vec<Change> = hosts
            .zip(before)
            .filter_map(|(h, from)| {
                let to = self.host(t, h);
                (to != from).then_some(Change { host: h, from, to })
            })
            .collect();
        if self.log.len() == EVENT_LOG_LEN {
            self.log.pop_front();
        }
        self.log.push_back(Record { at: now, kind, name: name.to_string(), from, to: state, hosts_changed: changes.len() as u32 });
        Ok(changes)
    }

    /// Checks that the state covers `t` and every component's hosts belong to it.
    pub fn check_invariants(&self, t: &Topology) -> Result<(), String> {
        let counts = [t.regions.len(), t.zones.len(), t.racks.len(), t.hosts.len()];
        for kind in Kind::ALL {
            if self.own[kind as usize].len() != counts[kind as usize] {
                return Err(format!("health tracks {} {}s, the topology has {}", self.own[kind as usize].len(), kind.as_str(), counts[kind as usize]));
            }
        }
        for (i, h) in t.hosts.iter().enumerate() {
            let i = i as HostIdx;
            let region = t.zones[h.zone as usize].region;
            for (kind, c) in [(Kind::Region, region), (Kind::Zone, h.zone), (Kind::Rack, h.rack)] {
                if !self.hosts_of(kind, c).contains(&i) {
                    return Err(format!("host {} lies outside its {}'s range", h.name, kind.as_str()));
                }
            }
        }
        let covered: usize = self.ranges[Kind::Rack as usize].iter().map(|r| r.len()).sum();
        if covered != t.hosts.len() {
            return Err(format!("racks cover {covered} hosts of {}: hosts are not contiguous per rack", t.hosts.len()));
        }
        if self.log.len() > EVENT_LOG_LEN {
            return Err(format!("the health log holds {} events", self.log.len()));
        }
        Ok(())
    }
}

/// One failure domain as `orrery chaos list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// The component it belongs to (a host's rack, a rack's zone, a zone's region).
    pub parent: Option<String>,
    /// Its own state.
    pub state: State,
    /// Its effective state: the worst of its own and its ancestors'.
    pub effective: State,
    /// What it contains, like `2 racks, 16 hosts`, or a host's vCPUs and RAM.
    pub contains: String,
    /// Hosts it covers.
    pub hosts: u32,
    /// Of those, the hosts that are effectively down.
    pub hosts_down: u32,
}

/// The failure domains of `kind` (every kind, outermost first, if `None`), for admins only.
pub fn components(h: &Health, t: &Topology, caller: &crate::Caller, kind: Option<Kind>) -> Result<Vec<ComponentView>> {
    if !(caller.admin || caller.system) {
        return Err(Error::forbidden("health.forbidden", "Policy doesn't allow orrery:health:list to be performed.".into()));
    }
    let kinds: Vec<Kind> = kind.map_or(Kind::ALL.to_vec(), |k| vec![k]);
    let mut out = Vec::new();
    for kind in kinds {
        for idx in 0..h.count(kind) as u32 {
            out.push(component(h, t, kind, idx));
        }
    }
    Ok(out)
}

/// The view of one component.
fn component(h: &Health, t: &Topology, kind: Kind, idx: u32) -> ComponentView {
    let hosts = h.hosts_of(kind, idx);
    let hosts_down = hosts.clone().filter(|&i| h.host(t, i) == State::Down).count() as u32;
    let n = hosts.len();
    let (name, parent, ancestors, contains) = match kind {
        Kind::Region => (t.regions[idx as usize].name.clone(), None, State::Up, {
            let zones = t.zones.iter().filter(|z| z.region == idx).count();
            format!("{zones} zones, {n} hosts")
        }),
        Kind::Zone => {
            let z = &t.zones[idx as usize];
            let racks = t.racks.iter().filter(|r| r.zone == idx).count();
            (z.name.clone(), Some(t.regions[z.region as usize].name.clone()), h.own(Kind::Region, z.region), format!("{racks} racks, {n} hosts"))
        }
        Kind::Rack => {
            let r = &t.racks[idx as usize];
            let z = &t.zones[r.zone as usize];
            (r.name.clone(), Some(z.name.clone()), h.own(Kind::Zone, r.zone).max(h.own(Kind::Region, z.region)), format!("{n} hosts"))
        }
        Kind::Host => {
            let host = t.host(idx);
            let spec = &host.spec;
            let role = format!("{:?}", spec.role).to_lowercase();
            let contains = format!("{role}: {} vCPUs, {} GiB RAM", spec.vcpus, spec.ram / 1024);
            (host.name.clone(), Some(t.racks[host.rack as usize].name.clone()), h.host(t, idx), contains)
        }
    };
    let state = h.own(kind, idx);
    ComponentView { kind, name, parent, state, effective: state.max(ancestors), contains, hosts: n as u32, hosts_down }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::topology::{HostSpec, TopologySpec};

    fn topology() -> Topology {
        let spec = TopologySpec::uniform("RegionOne", HostSpec::compute(4, 8192, 100), &[("az1", 2, 3), ("az2", 1, 2)]);
        Topology::build(&spec, &mut Rng::new(1)).expect("topology")
    }

    #[test]
    fn a_host_is_down_with_its_rack_and_stays_down_on_its_own() {
        let t = topology();
        let mut h = Health::new(&t);
        let host = t.host_by_name["az1-r01-h02"];
        let ch = h.set(&t, Time(1), Kind::Host, "az1-r01-h02", State::Down).unwrap();
        assert_eq!(ch, vec![Change { host, from: State::Up, to: State::Down }]);
        let ch = h.set(&t, Time(2), Kind::Rack, "az1-r01", State::Down).unwrap();
        assert_eq!(ch.len(), 2, "the already-down host does not change: {ch:?}");
        let ch = h.set(&t, Time(3), Kind::Rack, "az1-r01", State::Up).unwrap();
        assert_eq!(ch.len(), 2);
        assert_eq!(h.host(&t, host), State::Down);
        assert_eq!(h.own(Kind::Rack, 0), State::Up);
        assert_eq!(h.log().count(), 3);
    }

    #[test]
    fn down_beats_maintenance_and_zones_cover_their_racks() {
        let t = topology();
        let mut h = Health::new(&t);
        h.set(&t, Time(1), Kind::Rack, "az1-r02", State::Maintenance).unwrap();
        let ch = h.set(&t, Time(2), Kind::Zone, "az1", State::Down).unwrap();
        assert_eq!(ch.len(), 6);
        assert!(ch.iter().all(|c| c.to == State::Down));
        assert_eq!(h.hosts_of(Kind::Zone, 1), 6..8);
        let ch = h.set(&t, Time(3), Kind::Zone, "az1", State::Up).unwrap();
        assert_eq!(ch.iter().filter(|c| c.to == State::Maintenance).count(), 3);
        h.check_invariants(&t).unwrap();
    }

    #[test]
    fn refusals_name_the_component_and_change_nothing() {
        let t = topology();
        let mut h = Health::new(&t);
        let before = h.clone();
        assert_eq!(
            h.set(&t, Time(1), Kind::Rack, "az1-r01", State::Up),
            Err(Error::conflict("health.conflict", "Rack az1-r01 is not down or in maintenance.".into()))
        );
        assert_eq!(
            h.set(&t, Time(1), Kind::Zone, "az9", State::Down),
            Err(Error::not_found("health.not_found", "Availability zone az9 could not be found.".into()))
        );
        assert_eq!(h, before);
    }

    #[test]
    fn the_log_keeps_the_latest_events() {
        let t = topology();
        let mut h = Health::new(&t);
        for i in 0..100u64 {
            let state = if i % 2 == 0 { State::Down } else { State::Up };
            h.set(&t, Time(i), Kind::Host, "az2-r01-h01", state).unwrap();
        }
        assert_eq!(h.log().count(), EVENT_LOG_LEN);
        assert_eq!(h.log().last().unwrap().at, Time(99));
    }
}
