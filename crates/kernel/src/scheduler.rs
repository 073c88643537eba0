//! The scheduler: Nova-style filter → weigh → pick among the best `host_subset_size`.
//!
//! It never scans every host. It walks placement's capacity index best-first (only hosts that
//! are up, enabled and have room are in it), applies the filters to each host it meets, and
//! stops once it holds enough good candidates. Weighing then ranks that short list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compute::aggregates::Aggregates;
use crate::placement::{Placement, Resources};
use crate::rng::Rng;
pub use crate::topology::ALL_FILTERS;
use crate::topology::{HostIdx, SchedulerSpec, Topology};

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

impl From<NoValidHost> for crate::Error {
    fn from(e: NoValidHost) -> crate::Error {
        crate::Error::conflict("compute.no_valid_host", e.to_string())
    }
}

/// Chooses a host for `req`, or says why none fits.
pub fn select(
    topo: &Topology,
    aggs: &Aggregates,
    placement: &Placement,
    policy: &SchedulerSpec,
    req: &Request<'_>,
    rng: &mut Rng,
) -> Result<HostIdx, NoValidHost> {
    let filters = Filters::new(policy, aggs);
    let want = policy.host_subset_size.max(1) as usize;
    let mut picked: Vec<(u64, usize, HostIdx)> = Vec::new();
    if matches!(req.group.policy, Some(GroupPolicy::Affinity)) && !req.group.hosts.is_empty() {
        for &h in req.group.hosts.keys() {
            let fits = placement.by_host.get(&h).and_then(|&p| placement.provider(p)).is_some_and(|p| p.fits(&req.resources));
            if fits && placement.is_schedulable(h) && filters.pass(topo, h, req) {
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
fn walk(
    topo: &Topology,
    placement: &Placement,
    filters: &Filters<'_>,
    policy: &SchedulerSpec,
    req: &Request<'_>,
    want: usize,
    picked: &mut Vec<(u64, usize, HostIdx)>,
) {
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

/// The hard filters in force, with the live aggregates the aggregate filter reads.
struct Filters<'a> {
    aggs: &'a Aggregates,
    image: bool,
    aggregate: bool,
    affinity: bool,
    anti_affinity: bool,
}

impl<'a> Filters<'a> {
    fn new(policy: &SchedulerSpec, aggs: &'a Aggregates) -> Filters<'a> {
        let on = |name: &str| policy.filters.iter().any(|f| f == name);
        Filters {
            aggs,
            image: on("ImagePropertiesFilter"),
            aggregate: on("AggregateInstanceExtraSpecsFilter"),
            affinity: on("ServerGroupAffinityFilter"),
            anti_affinity: on("ServerGroupAntiAffinityFilter"),
        }
    }

    fn pass(&self, topo: &Topology, host: HostIdx, req: &Request<'_>) -> bool {
        (!self.image || image_ok(topo, host, req))
            && (!self.aggregate || aggregate_ok(topo, self.aggs, host, req))
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

/// Every `aggregate_instance_extra_specs:` key of the flavor is in the metadata of one of the
/// host's live aggregates (read through compute's per-host index), with the value wanted.
fn aggregate_ok(topo: &Topology, aggs: &Aggregates, host: HostIdx, req: &Request<'_>) -> bool {
    let Some(specs) = req.extra_specs else { return true };
    specs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(AGGREGATE_SPEC_PREFIX).map(|k| (k, v)))
        .all(|(key, want)| aggs.host_has(topo, host, key, |have| have.split(',').any(|v| v.trim() == want)))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ids::Uuid;
    use crate::placement::{Placement, MEMORY_MB};
    use crate::topology::{AggregateSpec, Strategy, Topology};

    fn cloud(strategy: Strategy) -> (Topology, Placement, SchedulerSpec) {
        let mut s = crate::placement::tests::spec(2, 2, 4, strategy);
        s.aggregate.push(AggregateSpec {
            name: "ssd".into(),
            metadata: BTreeMap::from([("disk".into(), "ssd".into())]),
            racks: vec!["az2-r01".into()],
            hosts: vec![],
        });
        let t = Topology::build(&s, &mut Rng::new(3)).unwrap();
        let p = Placement::from_topology(&t, &s.allocation, &s.scheduler);
        (t, p, s.scheduler)
    }

    fn req(ram: u64) -> Request<'static> {
        Request { resources: [1, ram, 1, 0], ..Default::default() }
    }

    /// Places `n` servers of `ram` MiB, allocating each; returns the hosts chosen.
    fn place(t: &Topology, p: &mut Placement, pol: &SchedulerSpec, n: u128, ram: u64, group: Option<GroupPolicy>) -> Result<Vec<HostIdx>, NoValidHost> {
        let mut rng = Rng::new(5);
        let mut hosts = Vec::new();
        for i in 0..n {
            let mut r = req(ram);
            r.group.policy = group;
            r.group.max_per_host = 1;
            for &h in &hosts {
                *r.group.hosts.entry(h).or_insert(0) += 1;
                *r.group.racks.entry(t.host(h).rack).or_insert(0) += 1;
            }
            let h = select(t, &Aggregates::default(), p, pol, &r, &mut rng)?;
            let prov = p.by_host[&h];
            p.set_allocations(Uuid(i + 1), Uuid(0), Uuid(0), BTreeMap::from([(prov, r.resources)])).unwrap();
            hosts.push(h);
        }
        Ok(hosts)
    }

    #[test]
    fn anti_affinity_lands_on_distinct_hosts_then_fails() {
        let (t, mut p, pol) = cloud(Strategy::Spread);
        let hosts = place(&t, &mut p, &pol, 16, 512, Some(GroupPolicy::AntiAffinity)).unwrap();
        assert_eq!(hosts.iter().collect::<BTreeSet<_>>().len(), 16);
        let mut r = req(512);
        r.group = GroupPlacement { policy: Some(GroupPolicy::AntiAffinity), max_per_host: 1, ..Default::default() };
        for h in hosts {
            r.group.hosts.insert(h, 1);
        }
        let err = select(&t, &Aggregates::default(), &p, &pol, &r, &mut Rng::new(1)).unwrap_err();
        assert_eq!(err.to_string(), "No valid host was found. There are not enough hosts available.");
    }

    #[test]
    fn anti_affinity_spreads_across_racks_first() {
        let (t, mut p, pol) = cloud(Strategy::Spread);
        let hosts = place(&t, &mut p, &pol, 4, 512, Some(GroupPolicy::AntiAffinity)).unwrap();
        let racks: BTreeSet<_> = hosts.iter().map(|&h| t.host(h).rack).collect();
        assert_eq!(racks.len(), 4, "4 members should use all 4 racks");
    }

    #[test]
    fn affinity_keeps_members_together() {
        let (t, mut p, pol) = cloud(Strategy::Spread);
        let hosts = place(&t, &mut p, &pol, 5, 512, Some(GroupPolicy::Affinity)).unwrap();
        assert!(hosts.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn pack_uses_fewer_hosts_than_spread() {
        let count = |s| {
            let (t, mut p, pol) = cloud(s);
            place(&t, &mut p, &pol, 40, 4096, None).unwrap().into_iter().collect::<BTreeSet<_>>().len()
        };
        let (spread, pack) = (count(Strategy::Spread), count(Strategy::Pack));
        assert_eq!(spread, 16);
        assert!(pack <= 3, "pack used {pack} hosts");
    }

    #[test]
    fn aggregate_extra_specs_restrict_hosts() {
        let (t, p, pol) = cloud(Strategy::Spread);
        let specs = BTreeMap::from([(format!("{AGGREGATE_SPEC_PREFIX}disk"), "ssd".to_string())]);
        let mut r = req(512);
        r.extra_specs = Some(&specs);
        let h = select(&t, &Aggregates::default(), &p, &pol, &r, &mut Rng::new(1)).unwrap();
        assert_eq!(t.racks[t.host(h).rack as usize].name, "az2-r01");
        let wrong = BTreeMap::from([(format!("{AGGREGATE_SPEC_PREFIX}disk"), "nvme".to_string())]);
        r.extra_specs = Some(&wrong);
        assert!(select(&t, &Aggregates::default(), &p, &pol, &r, &mut Rng::new(1)).is_err());
    }

    #[test]
    fn the_filter_reads_the_live_aggregates_once_they_are_written() {
        let (t, p, pol) = cloud(Strategy::Spread);
        let mut set = crate::compute::aggregates::Set::seed(&t, crate::Time(0));
        for a in set.by_id.values_mut() {
            a.metadata.insert("disk".into(), "nvme".into());
        }
        let live = Aggregates(Some(Box::new(set)));
        let specs = |v: &str| BTreeMap::from([(format!("{AGGREGATE_SPEC_PREFIX}disk"), v.to_string())]);
        let (nvme, ssd) = (specs("nvme"), specs("ssd"));
        let mut r = req(512);
        r.extra_specs = Some(&nvme);
        let h = select(&t, &live, &p, &pol, &r, &mut Rng::new(1)).unwrap();
        assert_eq!(t.racks[t.host(h).rack as usize].name, "az2-r01");
        r.extra_specs = Some(&ssd);
        assert!(select(&t, &live, &p, &pol, &r, &mut Rng::new(1)).is_err(), "the topology's metadata no longer counts");
    }

    #[test]
    fn image_architecture_must_match() {
        let (t, p, pol) = cloud(Strategy::Spread);
        let props = BTreeMap::from([("hw_architecture".to_string(), "aarch64".to_string())]);
        let mut r = req(512);
        r.image_props = Some(&props);
        assert!(select(&t, &Aggregates::default(), &p, &pol, &r, &mut Rng::new(1)).is_err());
    }

    #[test]
    fn zone_is_honoured_and_capacity_exhausts() {
        let (t, mut p, pol) = cloud(Strategy::Spread);
        let mut r = req(60_000);
        r.zone = Some(0);
        let mut rng = Rng::new(2);
        for i in 0..8 {
            let h = select(&t, &Aggregates::default(), &p, &pol, &r, &mut rng).unwrap();
            assert_eq!(t.host(h).zone, 0);
            let prov = p.by_host[&h];
            p.set_allocations(Uuid(100 + i), Uuid(0), Uuid(0), BTreeMap::from([(prov, r.resources)])).unwrap();
        }
        assert!(select(&t, &Aggregates::default(), &p, &pol, &r, &mut rng).is_err(), "zone az1 has 8 hosts of 60 GiB free each");
        assert!(p.provider(0).unwrap().usage[MEMORY_MB] > 0);
    }
}
