//! The scheduler: Nova-style filter → weigh → pick among the best `host_subset_size`.
//!
//! It never scans every host. It walks placement's capacity index best-first (only hosts that
//! are up, enabled and have room are in it), applies the filters to each host it meets, and
//! stops once it holds enough good candidates. Weighing then ranks that short list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::placement::{Placement, Resources};
use crate::rng::Rng;
use crate::topology::{HostIdx, SchedulerSpec, Topology};

/// Every filter this scheduler knows, by Nova's names.
pub const ALL_FILTERS: &[&str] = &[
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "ImagePropertiesFilter",
    "AggregateInstanceExtraSpecsFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
];

/// The extra-spec prefix the aggregate filter matches against aggregate metadata.
pub const AGGREGATE_SPEC_PREFIX: &str = "aggregate_instance_extra_specs:";

/// How many feasible hosts the walk looks at, at most, while hunting for unpenalised ones.
const SCAN_LIMIT: usize = 512;

/// A server group policy, as the scheduler sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupPolicy {
    /// All members on one host; fail otherwise.
    Affinity,
    /// No two members on one host; fail otherwise.
    AntiAffinity,
    /// Members together where possible.
    SoftAffinity,
    /// Members apart where possible.
    SoftAntiAffinity,
}

/// The group a server is joining: its policy and where its members already run.
#[derive(Clone, Debug, Default)]
pub struct GroupPlacement {
    /// The policy, if the server is in a group.
    pub policy: Option<GroupPolicy>,
    /// Members per host.
    pub hosts: BTreeMap<HostIdx, u32>,
    /// Members per rack.
    pub racks: BTreeMap<u32, u32>,
    /// For anti-affinity: how many members a host may hold (Nova's `max_server_per_host`).
    pub max_per_host: u32,
}

/// What the scheduler needs to know about one server to place.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    /// Resources per class.
    pub resources: Resources,
    /// Zone index the server must land in, if any.
    pub zone: Option<u32>,
    /// The image's properties (for `hw_architecture`).
    pub image_props: Option<&'a BTreeMap<String, String>>,
    /// The flavor's extra specs.
    pub extra_specs: Option<&'a BTreeMap<String, String>>,
    /// Server-group constraints.
    pub group: GroupPlacement,
    /// Hosts to avoid (for example the source of a resize when same-host resize is off).
    pub ignore_hosts: &'a [HostIdx],
}

/// Why no host was chosen. The message is Nova's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("No valid host was found. {0}")]
pub struct NoValidHost(pub String);

/// Chooses a host for `req`, or says why none fits.
pub fn select(topo: &Topology, placement: &Placement, policy: &SchedulerSpec, req: &Request<'_>, rng: &mut Rng) -> Result<HostIdx, NoValidHost> {
    let filters = Filters::new(policy);
    let want = policy.host_subset_size.max(1) as usize;
    let mut picked: Vec<(u64, usize, HostIdx)> = Vec::new();
    if matches!(req.group.policy, Some(GroupPolicy::Affinity)) && !req.group.hosts.is_empty() {
        for &h in req.group.hosts.keys() {
            let fits = placement.by_host.get(&h).and_then(|&p| placement.provider(p)).is_some_and(|p| p.fits(&req.resources));
            if fits && topo.schedulable(h) && filters.pass(topo, h, req) {
                picked.push((0, picked.len(), h));
            }
        }
    } else {
        walk(topo, placement, &filters, policy, req, want, &mut picked);
    }
    if picked.is_empty() {
        return Err(NoValidHost("There are not enough hosts available.".into()));
    }
    picked.sort_unstable();
    let top = picked.len().min(want);
    let choice = rng.below(top as u64) as usize;
    Ok(picked[choice].2)
}

/// Walks the capacity index, keeping feasible hosts with their penalty and rank.
fn walk(topo: &Topology, placement: &Placement, filters: &Filters, policy: &SchedulerSpec, req: &Request<'_>, want: usize, picked: &mut Vec<(u64, usize, HostIdx)>) {
    let mut perfect = 0;
    for (rank, prov) in placement.candidates(req.zone, &req.resources).enumerate() {
        let Some(host) = placement.provider(prov).and_then(|p| p.host) else { continue };
        if req.ignore_hosts.contains(&host) || !filters.pass(topo, host, req) {
            continue;
        }
        let penalty = penalty(topo, policy, req, host);
        picked.push((penalty, rank, host));
        if penalty == 0 {
            perfect += 1;
        }
        if perfect >= want || picked.len() >= SCAN_LIMIT.max(want) {
            break;
        }
    }
}

/// The soft weighers, as a penalty: lower is better, zero is ideal.
fn penalty(topo: &Topology, policy: &SchedulerSpec, req: &Request<'_>, host: HostIdx) -> u64 {
    let g = &req.group;
    let on_host = u64::from(g.hosts.get(&host).copied().unwrap_or(0));
    let rack = topo.host(host).rack;
    let in_rack = u64::from(g.racks.get(&rack).copied().unwrap_or(0));
    let rack_term = if policy.rack_spread { in_rack } else { 0 };
    match g.policy {
        None | Some(GroupPolicy::Affinity) => 0,
        Some(GroupPolicy::AntiAffinity) => rack_term,
        Some(GroupPolicy::SoftAntiAffinity) => on_host * 1_000_000 + rack_term,
        Some(GroupPolicy::SoftAffinity) => {
            let most = u64::from(g.hosts.values().copied().max().unwrap_or(0));
            most - on_host.min(most)
        }
    }
}

/// The hard filters in force.
struct Filters {
    image: bool,
    aggregate: bool,
    affinity: bool,
    anti_affinity: bool,
}

impl Filters {
    fn new(policy: &SchedulerSpec) -> Filters {
        let on = |name: &str| policy.filters.iter().any(|f| f == name);
        Filters {
            image: on("ImagePropertiesFilter"),
            aggregate: on("AggregateInstanceExtraSpecsFilter"),
            affinity: on("ServerGroupAffinityFilter"),
            anti_affinity: on("ServerGroupAntiAffinityFilter"),
        }
    }

    fn pass(&self, topo: &Topology, host: HostIdx, req: &Request<'_>) -> bool {
        (!self.image || image_ok(topo, host, req))
            && (!self.aggregate || aggregate_ok(topo, host, req))
            && (!self.affinity || affinity_ok(host, req))
            && (!self.anti_affinity || anti_affinity_ok(host, req))
    }
}

fn image_ok(topo: &Topology, host: HostIdx, req: &Request<'_>) -> bool {
    match req.image_props.and_then(|p| p.get("hw_architecture")) {
        Some(arch) => &topo.host(host).spec.arch == arch,
        None => true,
    }
}

fn aggregate_ok(topo: &Topology, host: HostIdx, req: &Request<'_>) -> bool {
    let Some(specs) = req.extra_specs else { return true };
    specs.iter().filter_map(|(k, v)| k.strip_prefix(AGGREGATE_SPEC_PREFIX).map(|k| (k, v))).all(|(key, want)| {
        topo.host_aggregates[host as usize]
            .iter()
            .any(|&a| topo.aggregates[a as usize].metadata.get(key).is_some_and(|have| have.split(',').any(|v| v.trim() == want)))
    })
}

fn affinity_ok(host: HostIdx, req: &Request<'_>) -> bool {
    match req.group.policy {
        Some(GroupPolicy::Affinity) => req.group.hosts.is_empty() || req.group.hosts.contains_key(&host),
        _ => true,
    }
}

fn anti_affinity_ok(host: HostIdx, req: &Request<'_>) -> bool {
    match req.group.policy {
        Some(GroupPolicy::AntiAffinity) => req.group.hosts.get(&host).copied().unwrap_or(0) < req.group.max_per_host.max(1),
        _ => true,
    }
}

impl crate::Kernel {
    /// Runs the scheduler over the current placement state with the policy in force.
    pub fn schedule(&mut self, req: &Request<'_>) -> Result<HostIdx, NoValidHost> {
        let policy = &self.spec.as_ref().expect("schedule before Init").scheduler;
        select(&self.topology, &self.placement, policy, req, &mut self.rng)
    }
}
