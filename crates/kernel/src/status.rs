//! The cloud at a glance, as `orrery status` shows it (in the spirit of `ceph -s`): overall
//! health with its reasons, hosts by zone and rack, servers by status, capacity used, and the
//! latest health events. A pure view over health, compute and placement, for admins only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::health::{Kind, Record, State};
use crate::placement::{DISK_GB, MEMORY_MB, VCPU};
use crate::topology::Role;
use crate::{Caller, Error, Kernel, Result, Time};

/// How many health events the status shows, newest first.
pub const RECENT_EVENTS: usize = 10;

/// Overall health, worst first in importance.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Overall {
    /// Everything is up.
    #[serde(rename = "HEALTH_OK")]
    Ok,
    /// Something is down or in maintenance, but every zone serves.
    #[serde(rename = "HEALTH_WARN")]
    Warn,
    /// A zone or region is down, or no compute host is up.
    #[serde(rename = "HEALTH_ERR")]
    Err,
}

impl Overall {
    /// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Ok => "HEALTH_OK",
            Overall::Warn => "HEALTH_WARN",
            Overall::Err => "HEALTH_ERR",
        }
    }
}

/// Host counts of one zone or rack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCounts {
    /// Its name.
    pub name: String,
    /// Its effective state.
    pub state: State,
    /// Hosts in it.
    pub hosts: u32,
    /// Hosts effectively up.
    pub up: u32,
    /// Hosts effectively down.
    pub down: u32,
    /// Hosts in maintenance.
    pub maintenance: u32,
}

/// One zone: its counts and its racks'.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStatus {
    /// The zone's counts.
    pub zone: HostCounts,
    /// Its racks' counts.
    pub racks: Vec<HostCounts>,
}

/// Used and total amounts of one resource class over every compute host.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Allocated.
    pub used: u64,
    /// Capacity (after reservations and allocation ratios).
    pub total: u64,
}

/// The whole status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// Kernel time of the view.
    pub now: Time,
    /// Overall health.
    pub health: Overall,
    /// Why it is not OK, most severe first.
    pub reasons: Vec<String>,
    /// Hosts by zone and rack.
    pub zones: Vec<ZoneStatus>,
    /// Servers by status name (`ACTIVE`, `ERROR`, ...).
    pub servers: BTreeMap<String, u64>,
    /// Servers whose host went down and that have not run again yet.
    pub servers_down: u64,
    /// vCPUs used and available.
    pub vcpus: Usage,
    /// RAM in MiB.
    pub ram_mb: Usage,
    /// Disk in GiB.
    pub disk_gb: Usage,
    /// The latest health events, newest first.
    pub events: Vec<Record>,
}

/// The status of the cloud, for admins only.
pub fn status(k: &Kernel, caller: &Caller) -> Result<StatusView> {
    if !(caller.admin || caller.system) {
        return Err(Error::forbidden("orrery.forbidden", "Policy doesn't allow orrery:status to be performed.".into()));
    }
    let zones = zones(k);
    let (health, reasons) = judge(k, &zones);
    let mut servers: BTreeMap<String, u64> = BTreeMap::new();
    for s in k.compute.servers.by_id.values() {
        *servers.entry(s.status().name().to_string()).or_default() += 1;
    }
    let mut usage = [Usage::default(); 3];
    for p in k.placement.providers.iter().flatten().filter(|p| p.host.is_some()) {
        for (slot, class) in [VCPU, MEMORY_MB, DISK_GB].into_iter().enumerate() {
            if let Some(inv) = &p.inventories[class] {
                usage[slot].used += p.usage[class];
                usage[slot].total += inv.capacity();
            }
        }
    }
    let events = k.health.log().rev().take(RECENT_EVENTS).cloned().collect();
    let servers_down = k.compute.servers.down.len() as u64;
    Ok(StatusView { now: k.now(), health, reasons, zones, servers, servers_down, vcpus: usage[0], ram_mb: usage[1], disk_gb: usage[2], events })
}

/// Host counts per zone and rack, compute hosts only.
fn zones(k: &Kernel) -> Vec<ZoneStatus> {
    let (t, h) = (&k.topology, &k.health);
    let mut racks: Vec<HostCounts> = t.racks.iter().map(|r| HostCounts { name: r.name.clone(), ..HostCounts::default() }).collect();
    let mut zones: Vec<HostCounts> = t.zones.iter().map(|z| HostCounts { name: z.name.clone(), ..HostCounts::default() }).collect();
    for (i, host) in t.hosts.iter().enumerate() {
        if host.spec.role != Role::Compute {
            continue;
        }
        let state = h.host(t, i as u32);
        for c in [&mut racks[host.rack as usize], &mut zones[host.zone as usize]] {
            c.hosts += 1;
            match state {
                State::Up => c.up += 1,
                State::Down => c.down += 1,
                State::Maintenance => c.maintenance += 1,
            }
        }
    }
    for (i, r) in racks.iter_mut().enumerate() {
        let zone = t.racks[i].zone;
        let region = t.zones[zone as usize].region;
        r.state = h.own(Kind::Rack, i as u32).max(h.own(Kind::Zone, zone)).max(h.own(Kind::Region, region));
    }
    for (i, z) in zones.iter_mut().enumerate() {
        z.state = h.own(Kind::Zone, i as u32).max(h.own(Kind::Region, t.zones[i].region));
    }
    let mut out: Vec<ZoneStatus> = zones.into_iter().map(|zone| ZoneStatus { zone, racks: Vec::new() }).collect();
    for (i, r) in racks.into_iter().enumerate() {
        out[t.racks[i].zone as usize].racks.push(r);
    }
    out
}

/// Overall health and its reasons: components whose own state is not up (a rack down names
/// the rack, not each of its hosts), then servers waiting for their hosts.
fn judge(k: &Kernel, zones: &[ZoneStatus]) -> (Overall, Vec<String>) {
    let (t, h) = (&k.topology, &k.health);
    let mut worst = Overall::Ok;
    let mut reasons = Vec::new();
    let mut note = |level: Overall, text: String| {
        worst = worst.max(level);
        reasons.push((level, text));
    };
    for kind in Kind::ALL {
        for idx in 0..h.count(kind) as u32 {
            let state = h.own(kind, idx);
            if state == State::Up {
                continue;
            }
            let level = match (kind, state) {
                (Kind::Region | Kind::Zone, State::Down) => Overall::Err,
                _ => Overall::Warn,
            };
            let name = match kind {
                Kind::Region => &t.regions[idx as usize].name,
                Kind::Zone => &t.zones[idx as usize].name,
                Kind::Rack => &t.racks[idx as usize].name,
                Kind::Host => &t.host(idx).name,
            };
            let n = h.hosts_of(kind, idx).len();
            let hosts = if kind == Kind::Host { String::new() } else { format!(" ({n} hosts)") };
            note(level, format!("{} {name} is {}{hosts}", kind.as_str(), state.as_str()));
        }
    }
    let (total, up): (u32, u32) = zones.iter().fold((0, 0), |(a, b), z| (a + z.zone.hosts, b + z.zone.up));
    if total > 0 && up == 0 {
        note(Overall::Err, "no compute host is up: nothing new can be scheduled".into());
    }
    let down = k.compute.servers.down.len();
    if down > 0 {
        note(Overall::Warn, format!("{down} servers are down with their hosts"));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    (worst, reasons.into_iter().map(|(_, r)| r).collect())
}
